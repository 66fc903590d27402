/* metrics.c — Prometheus text helpers, histograms, the monitor. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recstream/clock.h"
#include "recstream/metrics.h"

/* \ and newline escaped, and " too in a label value (HELP text keeps
 * its quotes). */
static void escape(rs_buf_t *b, const char *s, int quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        rs_buf_add(b, "\\\\", 2);
                else if (*s == '"' && quote)
                        rs_buf_add(b, "\\\"", 2);
                else if (*s == '\n')
                        rs_buf_add(b, "\\n", 2);
                else
                        rs_buf_add(b, s, 1);
        }
}

void rs_prom_escape(rs_buf_t *b, const char *s)
{
        escape(b, s, 1);
}

void rs_prom_family(rs_buf_t *b, const char *name, const char *type,
                    const char *help)
{
        rs_buf_printf(b, "# HELP %s ", name);
        escape(b, help, 0);
        rs_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void value(rs_buf_t *b, double v)
{
        if (isnan(v))
                rs_buf_adds(b, "NaN");
        else if (isinf(v))
                rs_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
        else if (v == floor(v) && fabs(v) < 9e15)
                rs_buf_printf(b, "%.0f", v);
        else
                rs_buf_printf(b, "%.15g", v);
}

/* name{labels[,extra_k="extra_v"]} */
static void series(rs_buf_t *b, const char *name, const char *const *labels,
                   const char *extra_k, const char *extra_v)
{
        int first = 1;

        rs_buf_adds(b, name);
        if ((!labels || !labels[0]) && !extra_k)
                return;
        rs_buf_add(b, "{", 1);
        for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
                rs_buf_printf(b, "%s%s=\"", first ? "" : ",", labels[i]);
                rs_prom_escape(b, labels[i + 1]);
                rs_buf_add(b, "\"", 1);
                first = 0;
        }
        if (extra_k)
                rs_buf_printf(b, "%s%s=\"%s\"", first ? "" : ",", extra_k,
                              extra_v);
        rs_buf_add(b, "}", 1);
}

void rs_prom_sample(rs_buf_t *b, const char *name, const char *const *labels,
                    double v)
{
        series(b, name, labels, NULL, NULL);
        rs_buf_add(b, " ", 1);
        value(b, v);
        rs_buf_add(b, "\n", 1);
}

void rs_hist_init(rs_hist_t *h, const double *le, size_t n)
{
        memset(h, 0, sizeof(*h));
        h->le = le;
        h->n = n < RS_HIST_MAX_BUCKETS ? n : RS_HIST_MAX_BUCKETS;
}

void rs_hist_observe(rs_hist_t *h, double v)
{
        size_t i = 0;

        while (i < h->n && v > h->le[i])
                i++;
        h->counts[i]++;
        h->count++;
        h->sum += v;
}

void rs_prom_hist(rs_buf_t *b, const char *name, const char *const *labels,
                  const rs_hist_t *h)
{
        char full[128], le[32];
        uint64_t cum = 0;

        snprintf(full, sizeof(full), "%s_bucket", name);
        for (size_t i = 0; i <= h->n; i++) {
                cum += h->counts[i];
                if (i < h->n)
                        snprintf(le, sizeof(le), "%g", h->le[i]);
                else
                        snprintf(le, sizeof(le), "+Inf");
                series(b, full, labels, "le", le);
                rs_buf_printf(b, " %llu\n", (unsigned long long)cum);
        }
        snprintf(full, sizeof(full), "%s_sum", name);
        rs_prom_sample(b, full, labels, h->sum);
        snprintf(full, sizeof(full), "%s_count", name);
        rs_prom_sample(b, full, labels, (double)h->count);
}

/*
 * The monitor.
 */

struct rs_monitor {
        pthread_mutex_t mu;
        rs_buf_t text;     /* under mu */
        int ready;         /* under mu */
        char reason[256];  /* under mu */
        atomic_llong beat; /* monotonic ms */
        int64_t next_due;  /* main loop only */
        /* live reload: asked and answered requests (under mu; asked
         * also read lock-free), the last answer */
        pthread_cond_t reloaded;
        atomic_uint reload_asked;
        unsigned reload_answered;
        int reload_result;
        char reload_msg[512];
};

rs_monitor_t *rs_monitor_new(void)
{
        rs_monitor_t *m = calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        pthread_mutex_init(&m->mu, NULL);
        pthread_cond_init(&m->reloaded, NULL);
        rs_buf_init(&m->text);
        snprintf(m->reason, sizeof(m->reason), "starting");
        atomic_store(&m->beat, rs_mono_ms());
        return m;
}

void rs_monitor_destroy(rs_monitor_t *m)
{
        if (!m)
                return;
        rs_buf_fini(&m->text);
        pthread_cond_destroy(&m->reloaded);
        pthread_mutex_destroy(&m->mu);
        free(m);
}

/* The CLOCK_REALTIME time timeout_ms from now (pthread_cond_timedwait). */
static struct timespec deadline(int64_t timeout_ms)
{
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        return until;
}

int rs_monitor_reload(rs_monitor_t *m, int64_t timeout_ms, char *buf,
                      size_t size)
{
        struct timespec until = deadline(timeout_ms);
        int result = RS_RELOAD_TIMEOUT;

        pthread_mutex_lock(&m->mu);
        unsigned ticket = atomic_fetch_add(&m->reload_asked, 1) + 1;
        /* for rs_monitor_reload_wait (the other askers wait on) */
        pthread_cond_broadcast(&m->reloaded);
        while ((int)(m->reload_answered - ticket) < 0)
                if (pthread_cond_timedwait(&m->reloaded, &m->mu, &until))
                        break;
        if ((int)(m->reload_answered - ticket) >= 0) {
                result = m->reload_result;
                snprintf(buf, size, "%s", m->reload_msg);
        } else {
                snprintf(buf, size,
                         "no answer from the main loop within "
                         "%lld ms",
                         (long long)timeout_ms);
        }
        pthread_mutex_unlock(&m->mu);
        return result;
}

int rs_monitor_reload_asked(rs_monitor_t *m)
{
        return atomic_load_explicit(&m->reload_asked, memory_order_relaxed) !=
               m->reload_answered;
}

int rs_monitor_reload_wait(rs_monitor_t *m, int64_t timeout_ms)
{
        struct timespec until = deadline(timeout_ms);
        int asked;

        pthread_mutex_lock(&m->mu);
        while (!(asked = rs_monitor_reload_asked(m)))
                if (pthread_cond_timedwait(&m->reloaded, &m->mu, &until))
                        break;
        if (!asked)
                asked = rs_monitor_reload_asked(m);
        pthread_mutex_unlock(&m->mu);
        return asked;
}

/* One reload answers every request made before it. */
void rs_monitor_reload_done(rs_monitor_t *m, int result, const char *msg)
{
        pthread_mutex_lock(&m->mu);
        m->reload_answered = atomic_load(&m->reload_asked);
        m->reload_result = result;
        snprintf(m->reload_msg, sizeof(m->reload_msg), "%s", msg);
        pthread_cond_broadcast(&m->reloaded);
        pthread_mutex_unlock(&m->mu);
}

void rs_monitor_beat(rs_monitor_t *m)
{
        atomic_store_explicit(&m->beat, rs_mono_ms(), memory_order_relaxed);
}

int rs_monitor_due(rs_monitor_t *m)
{
        int64_t now = rs_mono_ms();

        atomic_store_explicit(&m->beat, now, memory_order_relaxed);
        if (now < m->next_due)
                return 0;
        m->next_due = now + RS_MONITOR_EVERY_MS;
        return 1;
}

void rs_monitor_publish(rs_monitor_t *m, rs_buf_t *text, int ready,
                        const char *reason)
{
        rs_buf_t old;

        pthread_mutex_lock(&m->mu);
        old = m->text;
        m->text = *text;
        m->ready = ready;
        snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
        pthread_mutex_unlock(&m->mu);
        *text = old;
        rs_buf_reset(text);
}

void rs_monitor_set_ready(rs_monitor_t *m, int ready, const char *reason)
{
        pthread_mutex_lock(&m->mu);
        m->ready = ready;
        snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
        pthread_mutex_unlock(&m->mu);
}

char *rs_monitor_metrics(rs_monitor_t *m, size_t *len)
{
        char *out;

        pthread_mutex_lock(&m->mu);
        *len = m->text.len;
        if ((out = malloc(m->text.len + 1))) {
                if (m->text.len)
                        memcpy(out, m->text.p, m->text.len);
                out[m->text.len] = '\0';
        }
        pthread_mutex_unlock(&m->mu);
        return out;
}

int64_t rs_monitor_idle_ms(rs_monitor_t *m)
{
        return rs_mono_ms() -
               atomic_load_explicit(&m->beat, memory_order_relaxed);
}

int rs_monitor_ready(rs_monitor_t *m, char *buf, size_t size)
{
        int ready;

        pthread_mutex_lock(&m->mu);
        ready = m->ready;
        snprintf(buf, size, "%s", m->reason);
        pthread_mutex_unlock(&m->mu);
        return ready;
}
