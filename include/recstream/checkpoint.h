/* checkpoint.h — local checkpoint files of changelog partitions
 * (state.state_dir, DESIGN §3 State that survives).
 *
 * One file per changelog partition, <dir>/<topic>-<partition>.ckpt, holds
 * the record of every key the partition's state has — the same bytes the
 * changelog carries for it, so the same decoders and checks apply — and
 * the changelog offset it covers: the next offset to read. A restore
 * loads the file and reads only the changelog's tail from that offset.
 *
 * Format (integers little-endian):
 *
 *   "RSCKPT\r\n"             8 bytes of magic
 *   version                  u32, RS_CKPT_VERSION
 *   topic length, topic      u16, bytes (at most RS_CKPT_MAX_TOPIC)
 *   partition                i32
 *   offset                   i64, the next changelog offset covered
 *   records                  each: key length u32 (1..RS_CKPT_MAX_KEY),
 *                            key, value length u32 (..RS_CKPT_MAX_VALUE),
 *                            value
 *   end                      u32 0xFFFFFFFF, then the record count u64
 *   checksum                 u32, CRC-32 (IEEE) of every byte before it
 *
 * Written atomically: a temporary file in the same directory, written,
 * flushed, fsync'd, renamed over the old file, and the directory fsync'd.
 * Read in two passes: the whole file is checked (structure, lengths
 * against the file's size, checksum, magic, version, topic, partition)
 * before the first record is handed out, so a damaged file changes
 * nothing. Nothing here allocates more than one record's bytes. */
#ifndef RECSTREAM_CHECKPOINT_H
#define RECSTREAM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"

#define RS_CKPT_VERSION   1
#define RS_CKPT_MAX_TOPIC 255
#define RS_CKPT_MAX_KEY   65536
#define RS_CKPT_MAX_VALUE (256u << 20)

/* The file of topic's partition in dir, into path (NUL-terminated): the
 * length it needs, as snprintf. */
int rs_ckpt_path(char *path, size_t size, const char *dir, const char *topic,
                 int32_t partition);

typedef struct rs_ckpt_writer rs_ckpt_writer_t;

/* Starts the checkpoint of topic/partition covering the changelog up to
 * `offset` (the next one to read), in a temporary file of dir. Caller
 * owns; ends it with rs_ckpt_commit or rs_ckpt_abort. NULL with errstr. */
rs_ckpt_writer_t *rs_ckpt_begin(const char *dir, const char *topic,
                                int32_t partition, int64_t offset, char *errstr,
                                size_t errstr_size);
/* One key's record (bytes copied into the file). RS_ERR_INVALID: a key or
 * value over its bound (nothing written); RS_ERR_IO: a write failed. */
rs_err_t rs_ckpt_add(rs_ckpt_writer_t *ck, const void *key, size_t klen,
                     const void *value, size_t len);
/* Ends the file, makes it durable and renames it over the previous one;
 * frees ck whatever happens (on failure the old file stays as it was). */
rs_err_t rs_ckpt_commit(rs_ckpt_writer_t *ck, char *errstr, size_t errstr_size);
/* Drops the temporary file and frees ck. NULL is fine. */
void rs_ckpt_abort(rs_ckpt_writer_t *ck);
/* Records and bytes written so far. */
uint64_t rs_ckpt_records(const rs_ckpt_writer_t *ck);
uint64_t rs_ckpt_bytes(const rs_ckpt_writer_t *ck);

/* What a checkpoint file says, and why one was refused. */
typedef struct rs_ckpt_info {
        int64_t offset;     /* the next changelog offset it covers */
        uint64_t records;   /* keys */
        uint64_t bytes;     /* of the file */
        const char *reason; /* refused: truncated, checksum, bad_magic,
                             * unknown_version, other_partition,
                             * bad_length (static) */
} rs_ckpt_info_t;

/* A record of the file: key and value valid for the call only. */
typedef rs_err_t(rs_ckpt_record_fn)(void *opaque, const void *key, size_t klen,
                                    const void *value, size_t len);

/* Reads the checkpoint of topic/partition in dir into *info. RS_OK;
 * RS_ERR_NOENT when there is none; RS_ERR_DECODE when it is refused
 * (info->reason, errstr); RS_ERR_IO when it cannot be read; RS_ERR_NOMEM.
 * With fn, once the whole file is checked, each record goes to fn in file
 * order; an error of fn stops and is returned. */
rs_err_t rs_ckpt_load(const char *dir, const char *topic, int32_t partition,
                      rs_ckpt_record_fn *fn, void *opaque, rs_ckpt_info_t *info,
                      char *errstr, size_t errstr_size);

#endif
