/* buf.h — a growable byte buffer for building text and records.
 *
 * The buffer owns `p`; it is always NUL-terminated after a successful
 * append. Appends return 0, or -1 when memory ran out (the buffer keeps
 * what it had and remembers the failure in `oom`). */
#ifndef RECSTREAM_BUF_H
#define RECSTREAM_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/event.h"

typedef struct rs_buf {
        char *p;
        size_t len, cap;
        int oom;
} rs_buf_t;

void rs_buf_init(rs_buf_t *b);
void rs_buf_fini(rs_buf_t *b);
void rs_buf_reset(rs_buf_t *b);
int rs_buf_reserve(rs_buf_t *b, size_t extra);
int rs_buf_add(rs_buf_t *b, const void *data, size_t len);
int rs_buf_adds(rs_buf_t *b, const char *s);
int rs_buf_printf(rs_buf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Grows *arr (of *cap elements of `size` bytes) by doubling, from 1024,
 * until index fits; new elements are zeroed. 0, or -1 when memory ran out
 * (*arr and *cap unchanged). For tables indexed by interned id. */
int rs_grow_zeroed(void **arr, size_t *cap, size_t index, size_t size);
/* Resizes *arr to n elements of `size` bytes: 0, or -1 when memory ran
 * out (*arr unchanged). */
int rs_resize(void **arr, size_t n, size_t size);

/* Appends the whole file at path; -1 with errno set on failure. */
int rs_buf_read_file(rs_buf_t *b, const char *path);
/* The same, reading at most max + 1 bytes of any kind of file (a FIFO,
 * /dev/zero): -1 with errno EFBIG when it holds more than max. */
int rs_buf_read_file_max(rs_buf_t *b, const char *path, size_t max);
/* A JSON string literal of s[0..len), quotes included. */
int rs_buf_json_str(rs_buf_t *b, const char *s, size_t len);
/* One JSON object of a recommendation list, ids resolved through `in`:
 * {"user_id":…,"generated_ts":…,"items":[{"item_id":…,"score":…,
 *  "reason":…,"because_of":…}]} (no newline). */
int rs_buf_recs_json(rs_buf_t *b, const rs_recs_t *recs, const rs_intern_t *in);

#endif
