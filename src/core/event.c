/* event.c — symbol tables of the event and recommendation enums. */
#include <string.h>

#include "recstream/event.h"
#include "recstream/hash.h"
#include "recstream/utf8.h"

static const char *const type_names[RS_EV__COUNT] = {
        "impression", "play",        "click",    "watch", "like",    "share",
        "comment",    "add_to_cart", "purchase", "skip",  "dislike", "rate",
};

static const char *const reason_names[RS_REASON__COUNT] = {
        "covisit",
        "interest",
        "trending",
        "sequence",
};

static const char *const drop_names[RS_DROP__COUNT] = {
        "none",      "invalid",    "too_old",     "future",
        "duplicate", "rate_limit", "zero_weight", "replayed",
};

const char *rs_drop_name(int drop)
{
        return drop >= 0 && drop < RS_DROP__COUNT ? drop_names[drop] : "?";
}

const char *rs_drop_stage(int drop)
{
        return drop == RS_DROP_ZERO_WEIGHT ? "weight"
               : drop == RS_DROP_REPLAYED  ? "restore"
                                           : "clean";
}

int rs_drop_dead_letter(int drop)
{
        return drop == RS_DROP_INVALID || drop == RS_DROP_TOO_OLD ||
               drop == RS_DROP_FUTURE;
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

const char *rs_event_check_id(const char *s, size_t len, size_t max)
{
        if (len == 0)
                return "empty_id";
        if (len > max)
                return "id_too_long";
        return rs_utf8_valid(s, len) ? NULL : "invalid_utf8";
}

rs_err_t rs_event_from_fields(const rs_event_fields_t *f, rs_intern_t *in,
                              size_t max_id, rs_event_t *ev,
                              const char **reason)
{
        const char *ids[3] = {f->event_id, f->user_id, f->item_id};
        size_t cat_len = f->category ? strlen(f->category) : 0;

        memset(ev, 0, sizeof(*ev));
        for (int i = 0; i < 3; i++)
                if ((*reason =
                             rs_event_check_id(ids[i], strlen(ids[i]), max_id)))
                        return RS_ERR_DECODE;
        if (cat_len &&
            (*reason = rs_event_check_id(f->category, cat_len, max_id)))
                return RS_ERR_DECODE;
        *reason = NULL;
        ev->event_hash = rs_hash_bytes(f->event_id, strlen(f->event_id));
        ev->user = rs_intern_id(in, f->user_id, strlen(f->user_id));
        ev->item = rs_intern_id(in, f->item_id, strlen(f->item_id));
        ev->category =
                cat_len ? rs_intern_id(in, f->category, cat_len) : RS_ID_NONE;
        if (ev->user == RS_ID_NONE || ev->item == RS_ID_NONE ||
            (cat_len && ev->category == RS_ID_NONE)) {
                *reason = "nomem";
                return RS_ERR_NOMEM;
        }
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
