/* baselines.h — reference models for `recstream eval` (DESIGN §2
 * *Measuring quality*): what a platform team would deploy instead of a
 * pipeline, written independently of the stages they are compared with.
 *
 * - popularity: forward-decayed counts of the events that count for it
 *   (the caller says which), the RS_BASE_POP_TOP most popular kept in
 *   order; the user's list is the most popular items not touched.
 * - successor: directed counts i → j, j the item a user touched first
 *   right after first touching i; the list is the most frequent successors
 *   of the user's last touched item.
 * - covisit: symmetric counts of the pairs of items among each user's last
 *   `recent` touched items; the list scores candidates c over the user's
 *   last `recent` items j (newest first, rank r from 1) as
 *   Σ_j (1/r) · C(j,c) / (√(P(j)+1) · √(P(c)+1)), P the positive events of
 *   an item, taking each j's `covisit_neighbors` largest counts.
 *
 * A user's sequence is the order of their first touches: touching an item
 * again does not make it the last item. Lists never hold an item the user
 * touched (the caller's set of rs_base_pair() keys).
 *
 * Users and items are their 64-bit string hashes (intern.h's), so the
 * models live across string-table collects and hold no ids. Memory: per
 * item ≈ 70 B and, per count model, at most max_counts counterparts of
 * 8 B (Misra-Gries: a new counterpart of an item at max_counts makes all
 * its counts one less instead, dropping those at 0; counts are never
 * over, and under by at most the item's total / (max_counts + 1)) with
 * an index of 2 B slots, a power of two ≥ 2·max_counts: at most
 * 70 + 2·(8·max_counts + 2·slots) B an item (5.3 KB at the default 200,
 * 512 slots); per user 40 + 4·recent B and 4 B per item touched (the
 * touched items are stamped into a per-item array before a list, one pass
 * instead of a hash look-up per item considered); hash slots of 4 B, at
 * most half full, for both.
 * Ties rank the entry that reached its count first ahead (successor,
 * covisit's per-item counts), popularity at equal decayed counts keeps
 * its earlier rank, covisit at equal scores the item first seen in the
 * stream. */
#ifndef RECSTREAM_BASELINES_H
#define RECSTREAM_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/hash.h"
#include "recstream/hset.h"

typedef enum rs_base_model {
        RS_BASE_POP,
        RS_BASE_SUCC,
        RS_BASE_COVISIT,
        RS_BASE__COUNT
} rs_base_model_t;

#define RS_BASE_POP_TOP    1000  /* popularity ranks kept */
#define RS_BASE_MAX_COUNTS 32767 /* max_counts at most */

typedef struct rs_base_conf {
        unsigned models;          /* bit 1 << model per model run */
        int64_t pop_half_life;    /* ms, > 0 */
        size_t max_counts;        /* counterparts per item and model,
                                   * 1..RS_BASE_MAX_COUNTS */
        size_t recent;            /* covisit: the user's last items, ≥ 1 */
        size_t covisit_neighbors; /* covisit: counts taken per item, ≥ 1 */
} rs_base_conf_t;

/* The defaults: all models, 30 days, 200 counts, last 10, 50. */
rs_base_conf_t rs_base_conf_default(void);

/* Static: "pop", "successor", "covisit"; the short names of eval's last
 * line are "pop", "succ", "covisit" (rs_base_model_key). */
const char *rs_base_model_name(int model);
const char *rs_base_model_key(int model);
/* The model of name[0..len) (also "succ"), or -1. */
int rs_base_model_parse(const char *name, size_t len);

/* The key of (user, item) in the caller's set of touched pairs. */
static inline uint64_t rs_base_pair(uint64_t user, uint64_t item)
{
        return rs_hash_mix(user ^ rs_hash_mix(item));
}

typedef struct rs_base rs_base_t;

/* conf is copied. Caller owns; NULL when out of memory. */
rs_base_t *rs_base_new(const rs_base_conf_t *conf);
void rs_base_destroy(rs_base_t *b);

/* rs_base_learn's flags */
#define RS_BASE_FIRST    0x1 /* the user's first touch of the item */
#define RS_BASE_POSITIVE 0x2 /* a positive event (P of covisit) */
#define RS_BASE_POPULAR  0x4 /* counts for popularity */

/* One event of user on item at ts (not an impression: those are no
 * touch). 0, or -1 when out of memory (the models stay usable). */
int rs_base_learn(rs_base_t *b, uint64_t user, uint64_t item, int64_t ts,
                  unsigned flags);

/* Model m's list for user into out (item hashes, best first): at most k,
 * none whose rs_base_pair(user, item) is in `touched` (borrowed: the same
 * pairs as the FIRST touches learnt; looked up only for popularity alone
 * and users of more than 4096 items, the others' are stamped). Returns
 * how many; -1 when out of memory. A model not in conf.models lists
 * nothing. */
int rs_base_list(rs_base_t *b, rs_base_model_t m, uint64_t user,
                 const rs_hset_t *touched, uint64_t *out, size_t k);

/* Bytes held, for the record. */
size_t rs_base_bytes(const rs_base_t *b);

#endif
