/* log.c — key=value log lines on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recstream/log.h"

int rs_log_level = RS_LOG_INFO;

const char *const rs_log_level_names[] = {
        "emerg",  "alert", "crit",  "err", "warning",
        "notice", "info",  "debug", NULL,
};

void rs_log_set_level(int level)
{
        rs_log_level = level < 0 ? 0 : level > 7 ? 7 : level;
}

int rs_log_level_parse(const char *name)
{
        for (int i = 0; i < 8; i++)
                if (!strcmp(name, rs_log_level_names[i]))
                        return i;
        if (name[0] >= '0' && name[0] <= '7' && !name[1])
                return name[0] - '0';
        return -1;
}

void rs_log_write(int level, const char *fmt, ...)
{
        char line[2048];
        struct timespec now;
        struct tm tm;
        va_list ap;
        int n;

        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
                     rs_log_level_names[level & 7]);
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        for (char *c = line + n; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = ' ';
        /* One write per line so lines from threads never interleave. */
        fprintf(stderr, "%s\n", line);
}

const char *rs_log_quote(const char *s, char *buf, size_t size)
{
        size_t o = 0;

        if (!size)
                return "";
        for (; s && *s && o + 1 < size; s++) {
                if (*s == '"' || *s == '\\') {
                        if (o + 2 >= size)
                                break;
                        buf[o++] = '\\';
                }
                buf[o++] = *s;
        }
        buf[o] = '\0';
        return buf;
}
