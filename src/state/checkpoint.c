/* checkpoint.c — local checkpoint files of changelog partitions (the
 * format is in checkpoint.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "recstream/checkpoint.h"

static const unsigned char magic[8] = {'R', 'S', 'C',  'K',
                                       'P', 'T', '\r', '\n'};
#define END_MARK 0xFFFFFFFFu
#define IO_CHUNK 65536

static void put_u32(unsigned char *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
        uint32_t v = 0;
        for (int i = 0; i < 4; i++)
                v |= (uint32_t)p[i] << (8 * i);
        return v;
}

static uint64_t get_u64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

int rs_ckpt_path(char *path, size_t size, const char *dir, const char *topic,
                 int32_t partition)
{
        return snprintf(path, size, "%s/%s-%d.ckpt", dir, topic,
                        (int)partition);
}

/*
 * Writing.
 */

struct rs_ckpt_writer {
        FILE *f;
        uint32_t crc; /* zlib's CRC-32 of every byte so far */
        uint64_t records, bytes;
        int failed; /* a write failed (errno kept in err) */
        int err;
        char dir[4096];
        char path[4096], tmp[4096 + 8];
};

static void put(rs_ckpt_writer_t *ck, const void *p, size_t n)
{
        if (ck->failed || !n)
                return;
        ck->crc = (uint32_t)crc32_z(ck->crc, p, n);
        ck->bytes += n;
        if (fwrite(p, 1, n, ck->f) != n) {
                ck->failed = 1;
                ck->err = errno;
        }
}

rs_ckpt_writer_t *rs_ckpt_begin(const char *dir, const char *topic,
                                int32_t partition, int64_t offset, char *errstr,
                                size_t errstr_size)
{
        rs_ckpt_writer_t *ck = calloc(1, sizeof(*ck));
        size_t tlen = strlen(topic);
        unsigned char h[4 + 2 + RS_CKPT_MAX_TOPIC + 4 + 8];
        int fd, n;

        if (!ck) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        n = rs_ckpt_path(ck->path, sizeof(ck->path), dir, topic, partition);
        if (tlen > RS_CKPT_MAX_TOPIC || n < 0 ||
            (size_t)n >= sizeof(ck->path) ||
            (size_t)snprintf(ck->dir, sizeof(ck->dir), "%s", dir) >=
                    sizeof(ck->dir)) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "the checkpoint path of %s[%d] is too long", topic,
                          (int)partition);
                free(ck);
                return NULL;
        }
        snprintf(ck->tmp, sizeof(ck->tmp), "%s.tmp", ck->path);
        fd = open(ck->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || !(ck->f = fdopen(fd, "wb"))) {
                rs_seterr(errstr, errstr_size, RS_ERR_IO,
                          "cannot create %s: %s", ck->tmp, strerror(errno));
                if (fd >= 0)
                        close(fd);
                free(ck);
                return NULL;
        }
        setvbuf(ck->f, NULL, _IOFBF, IO_CHUNK);
        ck->crc = 0;
        put(ck, magic, sizeof(magic));
        put_u32(h, RS_CKPT_VERSION);
        h[4] = (unsigned char)tlen;
        h[5] = (unsigned char)(tlen >> 8);
        memcpy(h + 6, topic, tlen);
        put_u32(h + 6 + tlen, (uint32_t)partition);
        put_u64(h + 10 + tlen, (uint64_t)offset);
        put(ck, h, 18 + tlen);
        return ck;
}

rs_err_t rs_ckpt_add(rs_ckpt_writer_t *ck, const void *key, size_t klen,
                     const void *value, size_t len)
{
        unsigned char n[4];

        if (!klen || klen > RS_CKPT_MAX_KEY || len > RS_CKPT_MAX_VALUE)
                return RS_ERR_INVALID;
        put_u32(n, (uint32_t)klen);
        put(ck, n, 4);
        put(ck, key, klen);
        put_u32(n, (uint32_t)len);
        put(ck, n, 4);
        put(ck, value, len);
        ck->records++;
        return ck->failed ? RS_ERR_IO : RS_OK;
}

uint64_t rs_ckpt_records(const rs_ckpt_writer_t *ck)
{
        return ck->records;
}

uint64_t rs_ckpt_bytes(const rs_ckpt_writer_t *ck)
{
        return ck->bytes;
}

void rs_ckpt_abort(rs_ckpt_writer_t *ck)
{
        if (!ck)
                return;
        fclose(ck->f);
        unlink(ck->tmp);
        free(ck);
}

/* fsync of the directory, so that the rename is durable too. */
static int sync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc;

        if (fd < 0)
                return -1;
        rc = fsync(fd);
        close(fd);
        return rc;
}

rs_err_t rs_ckpt_commit(rs_ckpt_writer_t *ck, char *errstr, size_t errstr_size)
{
        unsigned char t[4 + 8], c[4];
        const char *step = "write";
        rs_err_t err = RS_OK;

        put_u32(t, END_MARK);
        put_u64(t + 4, ck->records);
        put(ck, t, sizeof(t));
        put_u32(c, ck->crc);
        put(ck, c, sizeof(c));
        if (!ck->failed && fflush(ck->f)) {
                ck->failed = 1;
                ck->err = errno;
        }
        if (!ck->failed && fsync(fileno(ck->f))) {
                step = "fsync";
                ck->failed = 1;
                ck->err = errno;
        }
        if (!ck->failed && rename(ck->tmp, ck->path)) {
                step = "rename";
                ck->failed = 1;
                ck->err = errno;
        }
        if (ck->failed) {
                err = rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                "cannot %s %s: %s", step, ck->tmp,
                                strerror(ck->err));
                unlink(ck->tmp);
        } else if (sync_dir(ck->dir)) {
                err = rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                "cannot fsync %s: %s", ck->dir,
                                strerror(errno));
        }
        fclose(ck->f);
        free(ck);
        return err;
}

/*
 * Reading.
 */

typedef struct reader {
        FILE *f;
        uint64_t left; /* bytes of the file not read yet */
        uint32_t crc;
        unsigned char chunk[IO_CHUNK];
} reader_t;

/* n bytes into dst (NULL: skipped), into the checksum: 0, or -1 when the
 * file ends first. */
static int take(reader_t *r, void *dst, uint64_t n)
{
        unsigned char *d = dst;

        if (n > r->left)
                return -1;
        while (n) {
                size_t k = n < IO_CHUNK ? (size_t)n : IO_CHUNK;
                unsigned char *p = d ? d : r->chunk;
                if (fread(p, 1, k, r->f) != k)
                        return -1;
                r->crc = (uint32_t)crc32_z(r->crc, p, k);
                r->left -= k;
                n -= k;
                if (d)
                        d += k;
        }
        return 0;
}

static rs_err_t refuse(rs_ckpt_info_t *info, const char *reason, char *errstr,
                       size_t errstr_size, const char *detail)
{
        info->reason = reason;
        return rs_seterr(errstr, errstr_size, RS_ERR_DECODE, "%s", detail);
}

/* One pass over the file: with fn, each record to it (the file was
 * checked by a pass without). */
static rs_err_t scan(reader_t *r, const char *topic, int32_t partition,
                     rs_ckpt_record_fn *fn, void *opaque, rs_ckpt_info_t *info,
                     char *errstr, size_t errstr_size)
{
        unsigned char h[8 + 4 + 2], b[12], *key = NULL, *val = NULL;
        char name[RS_CKPT_MAX_TOPIC + 1];
        uint64_t records = 0;
        int other;
        size_t val_cap = 0, tlen;
        rs_err_t err = RS_OK;
        uint32_t want;

        r->crc = 0;
        if (take(r, h, sizeof(h)))
                return refuse(info, "truncated", errstr, errstr_size,
                              "shorter than a header");
        if (memcmp(h, magic, sizeof(magic)))
                return refuse(info, "bad_magic", errstr, errstr_size,
                              "not a recstream checkpoint (bad magic)");
        if (get_u32(h + 8) != RS_CKPT_VERSION)
                return refuse(info, "unknown_version", errstr, errstr_size,
                              "a checkpoint of another version");
        tlen = (size_t)h[12] | (size_t)h[13] << 8;
        if (tlen > RS_CKPT_MAX_TOPIC || take(r, name, tlen) || take(r, b, 12))
                return refuse(info, "truncated", errstr, errstr_size,
                              "the header is cut short");
        name[tlen] = '\0';
        info->offset = (int64_t)get_u64(b + 4);
        /* said only once the checksum holds: a damaged name is damage */
        other = strcmp(name, topic) || (int32_t)get_u32(b) != partition;
        if (fn && !(key = malloc(RS_CKPT_MAX_KEY)))
                return RS_ERR_NOMEM;
        for (;;) {
                uint32_t klen, len;
                if (take(r, b, 4)) {
                        err = refuse(info, "truncated", errstr, errstr_size,
                                     "cut short in its records");
                        goto out;
                }
                if ((klen = get_u32(b)) == END_MARK)
                        break;
                if (!klen || klen > RS_CKPT_MAX_KEY || take(r, key, klen) ||
                    take(r, b, 4) || (len = get_u32(b)) > RS_CKPT_MAX_VALUE ||
                    len > r->left) {
                        err = refuse(info,
                                     klen > RS_CKPT_MAX_KEY || !klen
                                             ? "bad_length"
                                             : "truncated",
                                     errstr, errstr_size,
                                     "a record runs past its bounds or the "
                                     "file's end");
                        goto out;
                }
                if (fn && len > val_cap) {
                        unsigned char *v = realloc(val, len);
                        if (!v) {
                                err = RS_ERR_NOMEM;
                                goto out;
                        }
                        val = v;
                        val_cap = len;
                }
                if (take(r, fn ? val : NULL, len)) {
                        err = refuse(info, "truncated", errstr, errstr_size,
                                     "cut short in a record");
                        goto out;
                }
                records++;
                /* an empty value is still somewhere */
                if (fn && (err = fn(opaque, key, klen, len ? val : magic, len)))
                        goto out;
        }
        if (take(r, b, 8) || get_u64(b) != records) {
                err = refuse(info, "bad_length", errstr, errstr_size,
                             "the record count does not match");
                goto out;
        }
        want = r->crc;
        if (take(r, b, 4) || r->left) {
                err = refuse(info, r->left ? "bad_length" : "truncated", errstr,
                             errstr_size,
                             "bytes missing or left after the checksum");
                goto out;
        }
        if (get_u32(b) != want) {
                err = refuse(info, "checksum", errstr, errstr_size,
                             "the checksum does not match");
                goto out;
        }
        if (other) {
                err = refuse(info, "other_partition", errstr, errstr_size,
                             "the checkpoint of another changelog partition");
                goto out;
        }
        info->records = records;
out:
        free(key);
        free(val);
        return err;
}

rs_err_t rs_ckpt_load(const char *dir, const char *topic, int32_t partition,
                      rs_ckpt_record_fn *fn, void *opaque, rs_ckpt_info_t *info,
                      char *errstr, size_t errstr_size)
{
        char path[4096];
        reader_t *r = NULL;
        struct stat sb;
        rs_err_t err;
        int n = rs_ckpt_path(path, sizeof(path), dir, topic, partition);

        *info = (rs_ckpt_info_t){.offset = -1};
        if (n < 0 || (size_t)n >= sizeof(path))
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "the checkpoint path is too long");
        if (!(r = calloc(1, sizeof(*r))))
                return RS_ERR_NOMEM;
        if (!(r->f = fopen(path, "rbe"))) {
                err = errno == ENOENT ? RS_ERR_NOENT : RS_ERR_IO;
                rs_seterr(errstr, errstr_size, err, "cannot open %s: %s", path,
                          strerror(errno));
                free(r);
                return err;
        }
        if (fstat(fileno(r->f), &sb) || !S_ISREG(sb.st_mode)) {
                err = rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                "%s is not a regular file", path);
                goto out;
        }
        info->bytes = (uint64_t)sb.st_size;
        /* first the whole file is checked, then it is handed out */
        r->left = info->bytes;
        if ((err = scan(r, topic, partition, NULL, NULL, info, errstr,
                        errstr_size)) ||
            !fn)
                goto out;
        rewind(r->f);
        r->left = info->bytes;
        err = scan(r, topic, partition, fn, opaque, info, errstr, errstr_size);
out:
        fclose(r->f);
        free(r);
        return err;
}
