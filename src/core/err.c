/* err.c — error names. */
#include <stdarg.h>
#include <stdio.h>

#include "recstream/err.h"

static const char *const err_names[RS_ERR__COUNT] = {
        [RS_OK] = "success",
        [RS_ERR_NOMEM] = "out of memory",
        [RS_ERR_INVALID] = "invalid argument",
        [RS_ERR_DECODE] = "decode error",
        [RS_ERR_ENCODE] = "encode error",
        [RS_ERR_IO] = "I/O error",
        [RS_ERR_KAFKA] = "Kafka error",
        [RS_ERR_TIMEOUT] = "timed out",
        [RS_ERR_FULL] = "full",
        [RS_ERR_NOENT] = "not found",
};

const char *rs_err_str(rs_err_t err)
{
        if ((unsigned)err >= RS_ERR__COUNT)
                return "unknown error";
        return err_names[err];
}

rs_err_t rs_seterr(char *errstr, size_t errstr_size, rs_err_t err,
                   const char *fmt, ...)
{
        if (errstr && errstr_size) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(errstr, errstr_size, fmt, ap);
                va_end(ap);
        }
        return err;
}
