/* bench.h — what the in-process benchmark drivers share: their clocks,
 * the order of doubles their medians sort by, and this process's memory
 * as /proc tells it. Header only: each driver is one file (the Makefile
 * builds bench/X from bench/X.c). */
#ifndef RECSTREAM_BENCH_H
#define RECSTREAM_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_clock_s(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall clock (monotonic), seconds. */
static inline double bench_now_s(void)
{
        return bench_clock_s(CLOCK_MONOTONIC);
}

/* This thread's CPU time, seconds. */
static inline double bench_cpu_s(void)
{
        return bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* qsort's order of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* The field `name` ("VmRSS:", "VmHWM:") of /proc/self/status, in kB; -1
 * unknown. */
static inline long bench_status_kb(const char *name)
{
        char line[256];
        size_t len = strlen(name);
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "r");

        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, name, len))
                        kb = atol(line + len);
        if (f)
                fclose(f);
        return kb;
}

#endif
