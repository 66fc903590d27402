/* err.h — the one error enum of recstream.
 *
 * Every library's convention (libyaml 1/0, avro-c errno + avro_strerror(),
 * librdkafka rd_kafka_resp_err_t) is translated into rs_err_t at its wrapper.
 * Set-up paths also fill a caller's `char *errstr, size_t errstr_size`. */
#ifndef RECSTREAM_ERR_H
#define RECSTREAM_ERR_H

#include <stddef.h>

typedef enum rs_err {
        RS_OK = 0,
        RS_ERR_NOMEM,   /* allocation failed */
        RS_ERR_INVALID, /* bad argument or bad configuration */
        RS_ERR_DECODE,  /* a record could not be decoded */
        RS_ERR_ENCODE,  /* a record could not be encoded */
        RS_ERR_IO,      /* file or socket failure */
        RS_ERR_KAFKA,   /* a Kafka client failure */
        RS_ERR_TIMEOUT, /* an operation did not finish in time */
        RS_ERR_FULL,    /* a bounded queue or table is full */
        RS_ERR_NOENT,   /* not found */
        RS_ERR__COUNT
} rs_err_t;

/* Static, never NULL. */
const char *rs_err_str(rs_err_t err);

/* snprintf into errstr when errstr is not NULL; returns err. */
rs_err_t rs_seterr(char *errstr, size_t errstr_size, rs_err_t err,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
