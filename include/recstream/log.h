/* log.h — one logging call: syslog levels, one line per record of
 * `key=value` fields, to stderr. The level is checked before formatting.
 *
 *   rs_log(RS_LOG_INFO, "event=assigned partitions=%d", n);
 *
 * prints `ts=2026-11-22T10:00:00.123Z level=info event=assigned partitions=3`.
 * The threshold is process-wide configuration of the output channel, set
 * once by main() (like stderr itself), not state of any pipeline. */
#ifndef RECSTREAM_LOG_H
#define RECSTREAM_LOG_H

#include <stddef.h>

enum {
        RS_LOG_ERR = 3,
        RS_LOG_WARNING = 4,
        RS_LOG_NOTICE = 5,
        RS_LOG_INFO = 6,
        RS_LOG_DEBUG = 7,
};

extern int rs_log_level;
/* The levels' syslog names by number (0 "emerg" .. 7 "debug"), then NULL:
 * the enum of log.level; static. */
extern const char *const rs_log_level_names[];

void rs_log_set_level(int level);
/* Parses "err|warning|notice|info|debug" or a number 0..7; -1 if unknown. */
int rs_log_level_parse(const char *name);

#define rs_log(level, ...)                                                     \
        do {                                                                   \
                if ((level) <= rs_log_level)                                   \
                        rs_log_write((level), __VA_ARGS__);                    \
        } while (0)

/* Writes one line whatever the threshold (callers check it): control
 * characters in the formatted text become spaces, so a record is always
 * one line. */
void rs_log_write(int level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* s as it may stand inside a quoted value (key="..."): `"` and `\` get a
 * backslash. Writes into buf (truncating) and returns it. */
const char *rs_log_quote(const char *s, char *buf, size_t size);

#endif
