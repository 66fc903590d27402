/* buf.c — growable buffer and the JSON forms built with it. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recstream/buf.h"

void rs_buf_init(rs_buf_t *b)
{
        memset(b, 0, sizeof(*b));
}

void rs_buf_fini(rs_buf_t *b)
{
        free(b->p);
        rs_buf_init(b);
}

void rs_buf_reset(rs_buf_t *b)
{
        b->len = 0;
        b->oom = 0;
        if (b->p)
                b->p[0] = '\0';
}

int rs_buf_reserve(rs_buf_t *b, size_t extra)
{
        if (b->len + extra + 1 <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
                cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
                b->oom = 1;
                return -1;
        }
        b->p = p;
        b->cap = cap;
        return 0;
}

int rs_buf_add(rs_buf_t *b, const void *data, size_t len)
{
        if (rs_buf_reserve(b, len))
                return -1;
        memcpy(b->p + b->len, data, len);
        b->len += len;
        b->p[b->len] = '\0';
        return 0;
}

int rs_buf_adds(rs_buf_t *b, const char *s)
{
        return rs_buf_add(b, s, strlen(s));
}

int rs_buf_printf(rs_buf_t *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || rs_buf_reserve(b, (size_t)n))
                return -1;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

int rs_grow_zeroed(void **arr, size_t *cap, size_t index, size_t size)
{
        size_t n = *cap ? *cap : 1024;
        char *p;

        if (index < *cap)
                return 0;
        while (n <= index)
                n *= 2;
        if (!(p = realloc(*arr, n * size)))
                return -1;
        memset(p + *cap * size, 0, (n - *cap) * size);
        *arr = p;
        *cap = n;
        return 0;
}

int rs_resize(void **arr, size_t n, size_t size)
{
        void *p = realloc(*arr, n * size);

        if (!p)
                return -1;
        *arr = p;
        return 0;
}

int rs_buf_read_file(rs_buf_t *b, const char *path)
{
        return rs_buf_read_file_max(b, path, SIZE_MAX - 1);
}

int rs_buf_read_file_max(rs_buf_t *b, const char *path, size_t max)
{
        char chunk[65536];
        size_t got = 0;
        int fd, err = 0;

        /* Whatever the file is (regular, /dev/zero, a pipe, a FIFO), at most
         * max + 1 bytes are read: one more than max says it is too large. */
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return -1;
        for (;;) {
                size_t want = max - got + 1 < sizeof(chunk) ? max - got + 1
                                                            : sizeof(chunk);
                ssize_t n = read(fd, chunk, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        err = errno;
                        break;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
                if (got > max) {
                        err = EFBIG;
                        break;
                }
                if (rs_buf_add(b, chunk, (size_t)n)) {
                        err = ENOMEM;
                        break;
                }
        }
        close(fd);
        if (err) {
                errno = err;
                return -1;
        }
        return rs_buf_reserve(b, 0); /* NUL-terminated even when empty */
}

int rs_buf_json_str(rs_buf_t *b, const char *s, size_t len)
{
        static const char hex[] = "0123456789abcdef";

        if (rs_buf_reserve(b, len + 2))
                return -1;
        b->p[b->len++] = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                char esc[7] = {'\\', 0};
                size_t n = 2;
                switch (c) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                default:
                        if (c >= 0x20) {
                                esc[0] = (char)c;
                                n = 1;
                        } else {
                                memcpy(esc, "\\u00", 4);
                                esc[4] = hex[c >> 4];
                                esc[5] = hex[c & 15];
                                n = 6;
                        }
                }
                if (rs_buf_add(b, esc, n))
                        return -1;
        }
        return rs_buf_add(b, "\"", 1);
}

static int id_json(rs_buf_t *b, const rs_intern_t *in, uint32_t id)
{
        size_t len;
        const char *s = id == RS_ID_NONE ? NULL : rs_intern_str(in, id, &len);

        return s ? rs_buf_json_str(b, s, len) : rs_buf_adds(b, "null");
}

int rs_buf_recs_json(rs_buf_t *b, const rs_recs_t *recs, const rs_intern_t *in)
{
        rs_buf_adds(b, "{\"user_id\":");
        id_json(b, in, recs->user);
        rs_buf_printf(b, ",\"generated_ts\":%lld,\"items\":[",
                      (long long)recs->generated_ts);
        for (uint32_t i = 0; i < recs->n; i++) {
                const rs_rec_t *r = &recs->items[i];
                rs_buf_adds(b, i ? ",{\"item_id\":" : "{\"item_id\":");
                id_json(b, in, r->item);
                rs_buf_printf(b,
                              ",\"score\":%.6g,\"reason\":\"%s\","
                              "\"channel\":\"%s\",\"because_of\":",
                              r->score,
                              rs_reason_name(rs_reason_wire(r->reason)),
                              rs_reason_name(r->reason));
                id_json(b, in, r->because_of);
                rs_buf_adds(b, "}");
        }
        rs_buf_adds(b, "]}");
        return b->oom ? -1 : 0;
}
