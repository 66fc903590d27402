/* event.c — symbol tables of the event and recommendation enums. */
#include <string.h>

#include "recstream/event.h"
#include "recstream/hash.h"

static const char *const type_names[RS_EV__COUNT] = {
        "impression", "play",        "click",    "watch", "like",    "share",
        "comment",    "add_to_cart", "purchase", "skip",  "dislike", "rate",
};

static const char *const reason_names[RS_REASON__COUNT] = {
        "covisit",
        "interest",
        "trending",
};

static const char *const drop_names[RS_DROP__COUNT] = {
        "none",      "invalid",    "too_old",     "future",
        "duplicate", "rate_limit", "zero_weight",
};

const char *rs_drop_name(int drop)
{
        return drop >= 0 && drop < RS_DROP__COUNT ? drop_names[drop] : "?";
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
        for (int i = 0; i < n; i++)
                if (strlen(names[i]) == len && !memcmp(names[i], s, len))
                        return i;
        return -1;
}

const char *rs_event_type_name(int type)
{
        return type >= 0 && type < RS_EV__COUNT ? type_names[type] : "?";
}

int rs_event_type_parse(const char *s, size_t len)
{
        return lookup(type_names, RS_EV__COUNT, s, len);
}

const char *rs_reason_name(int reason)
{
        return reason >= 0 && reason < RS_REASON__COUNT ? reason_names[reason]
                                                        : "?";
}

int rs_reason_parse(const char *s, size_t len)
{
        return lookup(reason_names, RS_REASON__COUNT, s, len);
}

rs_err_t rs_event_from_fields(const rs_event_fields_t *f, rs_intern_t *in,
                              rs_event_t *ev)
{
        memset(ev, 0, sizeof(*ev));
        ev->event_hash = rs_hash_bytes(f->event_id, strlen(f->event_id));
        ev->user = rs_intern_id(in, f->user_id, strlen(f->user_id));
        ev->item = rs_intern_id(in, f->item_id, strlen(f->item_id));
        ev->category =
                f->category ? rs_intern_id(in, f->category, strlen(f->category))
                            : RS_ID_NONE;
        if (ev->user == RS_ID_NONE || ev->item == RS_ID_NONE ||
            (f->category && ev->category == RS_ID_NONE))
                return RS_ERR_NOMEM;
        ev->type = (uint8_t)f->type;
        ev->ts = f->ts;
        ev->watch_ms = f->watch_ms;
        ev->duration_ms = f->duration_ms;
        ev->value = f->value;
        ev->ingest_ts = RS_NONE_I64;
        ev->partition = -1;
        ev->offset = -1;
        return RS_OK;
}
