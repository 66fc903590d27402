/* nbtable.h — the neighbour table every replica of the user side keeps
 * (DESIGN §3): per item, the item side's neighbour list with its
 * similarities, its popularity and category; every cooc-deltas partition's
 * trending items, merged; the global pair total. Filled from the compacted
 * <pipeline>.item-neighbors topic (or, offline, by the item side in the
 * same process), newest record per item wins; read by score.
 *
 * The table holds references on the ids it keeps (intern.h) and lists
 * only items it has. Bounded by max_items: a record for a new item beyond
 * it is refused and counted (the item side bounds what it publishes with
 * the same kind of setting). */
#ifndef RECSTREAM_NBTABLE_H
#define RECSTREAM_NBTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/intern.h"
#include "recstream/records.h"

typedef struct rs_nbtable rs_nbtable_t;

/* `strings` is borrowed. trending_size: length of the merged trending
 * list. Caller owns; NULL when out of memory. */
rs_nbtable_t *rs_nbtable_new(rs_intern_t *strings, size_t max_items,
                             size_t trending_size);
void rs_nbtable_destroy(rs_nbtable_t *nt);

/* Applies one record (copied): an item's list, a tombstone, or a
 * partition's trending and total. RS_ERR_FULL when a new item would pass
 * max_items (nothing applied), RS_ERR_NOMEM. */
rs_err_t rs_nbtable_apply(rs_nbtable_t *nt, const rs_nb_rec_t *r);

/* The neighbours of item, best first; *nb owned by the table, valid until
 * the next apply. 0 when the item has none. */
size_t rs_nbtable_neighbors(const rs_nbtable_t *nt, uint32_t item,
                            const rs_neighbor_t **nb);
/* sim(a → b) when b is among a's neighbours, else 0 (MMR). */
double rs_nbtable_sim(const rs_nbtable_t *nt, uint32_t a, uint32_t b);

/* What score needs of a candidate: its category (RS_ID_NONE unknown) and
 * its popularity relative to the most popular trending item's (1 for
 * that item, 0 for one without popularity). */
typedef struct rs_nbtable_item {
        uint32_t category;
        double popularity;
} rs_nbtable_item_t;
rs_nbtable_item_t rs_nbtable_item(const rs_nbtable_t *nt, uint32_t item);

/* The most popular items over every partition, best first (ties by item
 * id string); *items owned by the table. */
size_t rs_nbtable_trending(const rs_nbtable_t *nt, const uint32_t **items);
/* log2 of Σ N (every partition learns every marginal; the freshest
 * partition's), RS_NO_POPULARITY when none. */
double rs_nbtable_total(const rs_nbtable_t *nt);

/* Records applied so far: changes when anything a reader sees may have. */
uint64_t rs_nbtable_version(const rs_nbtable_t *nt);

/* For metrics: items held, bytes, records refused, and the newest
 * updated_ts seen (INT64_MIN before the first). */
size_t rs_nbtable_items(const rs_nbtable_t *nt);
size_t rs_nbtable_bytes(const rs_nbtable_t *nt);
uint64_t rs_nbtable_refused(const rs_nbtable_t *nt);
int64_t rs_nbtable_updated(const rs_nbtable_t *nt);

#endif
