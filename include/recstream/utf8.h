/* utf8.h — UTF-8 validation of id strings (Avro strings must be UTF-8,
 * and a downstream reader of UserRecs decodes them strictly). */
#ifndef RECSTREAM_UTF8_H
#define RECSTREAM_UTF8_H

#include <stddef.h>

/* 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. NUL bytes are valid. */
int rs_utf8_valid(const void *s, size_t len);

#endif
