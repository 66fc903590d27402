/* user_window.h — per-user sliding windows, seen sets and decayed
 * affinities: the `user_window` stage's state, read by cooccur and score.
 *
 * A window holds a user's last max_events weighted events no older than
 * horizon (event time). Affinity a_u(i) = Σ w_e · 2^(−(now − t_e)/half_life)
 * over the window's events on item i. The seen set holds every item the
 * user touched (bounded by max_seen, oldest forgotten first). With
 * interest_dim > 0 a user also has a dense interest vector
 * v = Σ w·embedding(item)·2^(−age/half_life) (OpenBLAS, vec.h). Users
 * beyond max_users are evicted least recently active first.
 *
 * A user's record holds a reference to the user id and its window
 * entries to their items (intern.h); seen sets keep the items' string
 * hashes, so an id recycled after a collect is never seen by mistake. */
#ifndef RECSTREAM_USER_WINDOW_H
#define RECSTREAM_USER_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/records.h" /* rs_win_entry_t */

typedef struct rs_uwin rs_uwin_t;

/* A hint that u's state is about to be read: level 0 fetches where it
 * is, level 1 (some time later) the state itself. */
void rs_uwin_prefetch(const rs_uwin_t *win, uint32_t user, int level);

/* Copies u's entries no older than now − horizon, oldest first, into out;
 * returns how many (at most max). 0 for an unknown user. */
size_t rs_uwin_get(const rs_uwin_t *win, uint32_t user, int64_t now,
                   rs_win_entry_t *out, size_t max);

/* Affinities of u's window items at `now`, one per distinct item, into
 * items/aff (at most max); returns how many. win keeps the position
 * weights (position_exponent) it last used, built again when a reload
 * changed them. */
size_t rs_uwin_affinity(rs_uwin_t *win, uint32_t user, int64_t now,
                        uint32_t *items, float *aff, size_t max);

/* u's interest vector decayed to now into out (interest_dim floats);
 * returns the dimension, 0 when there is none. */
size_t rs_uwin_interest(const rs_uwin_t *win, uint32_t user, int64_t now,
                        float *out);
size_t rs_uwin_interest_dim(const rs_uwin_t *win);

/* Whether u ever touched item (within max_seen), by the item's string
 * hash: item must be live. */
int rs_uwin_seen(const rs_uwin_t *win, uint32_t user, uint32_t item);
/* The same by the item's string hash (rs_intern_hash), for callers that
 * looked it up once for many users. */
int rs_uwin_seen_hash(const rs_uwin_t *win, uint32_t user, uint64_t hash);
/* Whether the window holds a record of u now. */
int rs_uwin_holds(const rs_uwin_t *win, uint32_t user);
/* Distinct items u touched (for heavy-user damping); 0 if unknown. */
uint32_t rs_uwin_touched(const rs_uwin_t *win, uint32_t user);
/* The newest event time of u, INT64_MIN if unknown. */
int64_t rs_uwin_last_ts(const rs_uwin_t *win, uint32_t user);
size_t rs_uwin_max_events(const rs_uwin_t *win);
/* Users held now, bytes of their state, users evicted so far. */
size_t rs_uwin_users(const rs_uwin_t *win);
size_t rs_uwin_bytes(const rs_uwin_t *win);
uint64_t rs_uwin_evictions(const rs_uwin_t *win);

/* Called with each user evicted beyond max_users, after its record is
 * gone and before the batch ends (its id stays valid until the next
 * collect): whoever keeps per-user state drops it here. Not called when
 * the window is destroyed. */
typedef void (*rs_uwin_evict_fn)(void *opaque, uint32_t user);
/* Adds a listener (at most 4): 0, or -1 when there is no room. */
int rs_uwin_on_evict(rs_uwin_t *win, rs_uwin_evict_fn fn, void *opaque);

/* Called with each event as the window applies it: after its seen set
 * (RS_EVF_FIRST set, rs_uwin_touched counting it) and before its ring, so
 * rs_uwin_get gives the window as it was just before the event — what
 * the event teaches depends only on the user's earlier events, never on
 * batch boundaries. An error stops the batch. */
typedef rs_err_t (*rs_uwin_add_fn)(void *opaque, const rs_event_t *e);
/* Sets the one listener: 0, or -1 when there is one already. */
int rs_uwin_on_add(rs_uwin_t *win, rs_uwin_add_fn fn, void *opaque);

/* Ownership (issue 11): each user belongs to the input partition of its
 * newest event and remembers that event's offset. Whether the window
 * already holds the event at (partition, offset) of user: a replay of
 * what a restored state covers. */
int rs_uwin_applied(const rs_uwin_t *win, uint32_t user, int32_t partition,
                    int64_t offset);
/* In an evict listener: the partition of the user evicted beyond
 * max_users; -1 when the user is only forgotten (rs_uwin_forget: a
 * partition revoked, a state restored over it). */
int32_t rs_uwin_evicted_partition(const rs_uwin_t *win);
/* The owning partition of user, -1 when not held. */
int32_t rs_uwin_partition(const rs_uwin_t *win, uint32_t user);
/* Forgets user, telling the evict listeners (not counted as an
 * eviction). */
void rs_uwin_forget(rs_uwin_t *win, uint32_t user);
/* Forgets every user of `partition` (revoked), telling the evict
 * listeners as an eviction does (not counted as one); how many. */
size_t rs_uwin_drop_partition(rs_uwin_t *win, int32_t partition);
/* Calls fn with every user held and its partition, in id order (fn must
 * not change the window). */
void rs_uwin_each(const rs_uwin_t *win,
                  void (*fn)(void *opaque, uint32_t user, int32_t partition),
                  void *opaque);

#endif
