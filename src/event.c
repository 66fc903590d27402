/* event.c — symbol tables of the event and recommendation enums. */
#include <string.h>

#include "recstream/event.h"

static const char *const type_names[RS_EV__COUNT] = {
        "impression", "play",        "click",    "watch", "like",    "share",
        "comment",    "add_to_cart", "purchase", "skip",  "dislike", "rate",
};

static const char *const reason_names[RS_REASON__COUNT] = {
        "covisit",
        "interest",
        "trending",
};

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
