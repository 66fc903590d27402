/* records.c — building pair deltas; item ownership by partition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/hash.h"
#include "recstream/records.h"

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
        if (n < *cap)
                return 0;
        size_t c = *cap ? *cap * 2 : 64;
        void *q = realloc(*p, c * size);
        if (!q)
                return -1;
        *p = q;
        *cap = c;
        return 0;
}

rs_err_t rs_delta_add(rs_delta_t *d, uint32_t item, uint32_t other, int64_t ts,
                      float w)
{
        if (grow((void **)&d->upd, &d->cap, d->n, sizeof(*d->upd)))
                return RS_ERR_NOMEM;
        d->upd[d->n++] = (rs_delta_upd_t){item, other, ts, w, -1, -1, 0};
        return RS_OK;
}

rs_err_t rs_delta_add_category(rs_delta_t *d, uint32_t item, uint32_t category)
{
        if (grow((void **)&d->cats, &d->cats_cap, d->ncats, sizeof(*d->cats)))
                return RS_ERR_NOMEM;
        d->cats[d->ncats++] = (rs_delta_cat_t){item, category};
        return RS_OK;
}

rs_err_t rs_delta_add_source(rs_delta_t *d, const char *topic,
                             int32_t partition, int64_t offset, int32_t *index)
{
        for (size_t i = 0; i < d->nsrc; i++) {
                rs_delta_src_t *s = &d->src[i];
                if (s->partition != partition || strcmp(s->topic, topic))
                        continue;
                if (offset < s->first_offset)
                        s->first_offset = offset;
                if (offset > s->last_offset)
                        s->last_offset = offset;
                if (index)
                        *index = (int32_t)i;
                return RS_OK;
        }
        if (grow((void **)&d->src, &d->src_cap, d->nsrc, sizeof(*d->src)))
                return RS_ERR_NOMEM;
        if (index)
                *index = (int32_t)d->nsrc;
        d->src[d->nsrc++] = (rs_delta_src_t){topic, partition, offset, offset};
        return RS_OK;
}

void rs_delta_reset(rs_delta_t *d)
{
        d->n = d->ncats = d->nsrc = 0;
}

void rs_delta_fini(rs_delta_t *d)
{
        free(d->upd);
        free(d->cats);
        free(d->src);
        memset(d, 0, sizeof(*d));
}

int32_t rs_delta_partition(const char *id, size_t len, int32_t partitions)
{
        return partitions > 1 ? (int32_t)(rs_hash_bytes(id, len) %
                                          (uint64_t)partitions)
                              : 0;
}

size_t rs_nb_partition_key(int32_t partition, char key[16])
{
        int n = snprintf(key, 16,
                         "\xff"
                         "p%d",
                         (int)partition);
        return n > 0 && n < 16 ? (size_t)n : 0;
}

void rs_user_state_init(rs_user_state_t *s, uint32_t user, int32_t partition)
{
        memset(s, 0, sizeof(*s));
        s->user = user;
        s->partition = partition;
        s->offset = -1;
        s->last_ts = INT64_MIN;
        s->interest_ts = INT64_MIN;
        s->rate_ts = INT64_MIN;
        s->last_pub = INT64_MIN;
}
