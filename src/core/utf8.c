/* utf8.c — UTF-8 validation: eight ASCII bytes at a time, then the
 * well-formed byte sequences of RFC 3629, table 3-7 of Unicode. */
#include <stdint.h>
#include <string.h>

#include "recstream/utf8.h"

int rs_utf8_valid(const void *s, size_t len)
{
        const unsigned char *p = s, *end = p + len;

        while (p < end) {
                if (end - p >= 8) {
                        uint64_t w;
                        memcpy(&w, p, 8);
                        if (!(w & 0x8080808080808080ULL)) {
                                p += 8;
                                continue;
                        }
                }
                unsigned c = *p;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                size_t n;
                unsigned lo = 0x80, hi = 0xBF; /* range of the 2nd byte */
                if (c >= 0xC2 && c <= 0xDF) {
                        n = 2;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        n = 3;
                        if (c == 0xE0)
                                lo = 0xA0; /* overlong */
                        else if (c == 0xED)
                                hi = 0x9F; /* surrogates */
                } else if (c >= 0xF0 && c <= 0xF4) {
                        n = 4;
                        if (c == 0xF0)
                                lo = 0x90; /* overlong */
                        else if (c == 0xF4)
                                hi = 0x8F; /* above U+10FFFF */
                } else {
                        return 0;
                }
                if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
                        return 0;
                for (size_t k = 2; k < n; k++)
                        if ((p[k] & 0xC0) != 0x80)
                                return 0;
                p += n;
        }
        return 1;
}
