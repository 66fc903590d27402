/* avro_strict.h — a strict check of Avro binary data against its writer
 * schema, before avro-c reads it. Private to the codec (it sees avro-c).
 *
 * avro-c 1.11 reads an enum index and a union discriminant as a long and
 * casts it to int, so an index of 2^32 + 3 reads as 3; it accepts
 * overlong varints up to ten bytes, reads an int varint as a long and
 * truncates it; it allocates a string's or an array's claimed length
 * before it checks that the input holds it; it never checks UTF-8. This
 * walk rejects all of that, allocates nothing, and guarantees that a
 * record it accepts is one avro_value_read() reads exactly, byte for byte:
 * every length is within the buffer, nothing trails. */
#ifndef RECSTREAM_AVRO_STRICT_H
#define RECSTREAM_AVRO_STRICT_H

#include <avro.h>
#include <stddef.h>

typedef struct rs_avro_prog rs_avro_prog_t;

/* The walk of schema s, compiled once. s must outlive it (field names are
 * borrowed for messages). NULL when out of memory. */
rs_avro_prog_t *rs_avro_prog_new(avro_schema_t s);
void rs_avro_prog_destroy(rs_avro_prog_t *p);

/* 0 when buf[0..len) is exactly one well-formed datum of the program's
 * schema; else -1 with a static reason (truncated, bad_varint, bad_length,
 * bad_enum, bad_union, bad_boolean, invalid_utf8, too_deep,
 * trailing_bytes) and a description in detail (untouched on success). */
int rs_avro_check(const rs_avro_prog_t *p, const void *buf, size_t len,
                  const char **reason, char *detail, size_t detail_size);

#endif
