/* metrics — see metrics.h. Values are C11 atomics so the ingest worker thread and the loop can
 * record without locks; /metrics reads them with relaxed loads (Prometheus tolerates a histogram
 * whose buckets were read a few increments apart). */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmalloc.h"

/* Rejection codes are small negative numbers: DK_EV_* is -100..-199, generic -1..-99. */
#define REJECT_SLOTS 256

static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define COMMIT_BUCKETS (sizeof commit_bounds / sizeof commit_bounds[0])
static const double size_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000};
#define SIZE_BUCKETS (sizeof size_bounds / sizeof size_bounds[0])

typedef struct {
    _Atomic uint64_t bucket[16]; /* non-cumulative counts per bound, last = +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro;  /* sum in millionths (seconds -> microseconds, sizes * 1e6) */
} histogram_t;

static _Atomic uint64_t events_by_result[4];
static _Atomic uint64_t rejects_by_code[REJECT_SLOTS];
static histogram_t commit_seconds, batch_events, commit_events;
static _Atomic int64_t agents, sse_clients;
static _Atomic uint64_t store_bytes, store_events, store_version;
static _Atomic uint64_t http_by_class[6]; /* 1xx..5xx by first digit */
static _Atomic int64_t started_at;

static void observe(histogram_t *h, const double *bounds, size_t nb, double v)
{
    size_t i = 0;
    while (i < nb && v > bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(v * 1e6 + 0.5), memory_order_relaxed);
}

static void touch_start(void)
{
    int64_t zero = 0;
    atomic_compare_exchange_strong(&started_at, &zero, (int64_t)time(NULL));
}

void metrics_count_event(int result, int code)
{
    touch_start();
    if (result < 1 || result > 3) {
        result = 0;
    }
    atomic_fetch_add_explicit(&events_by_result[result], 1, memory_order_relaxed);
    if (result == 3) {
        int slot = -code;
        if (slot < 0 || slot >= REJECT_SLOTS) {
            slot = 0;
        }
        atomic_fetch_add_explicit(&rejects_by_code[slot], 1, memory_order_relaxed);
    }
}

void metrics_observe_commit(double seconds, size_t events)
{
    touch_start();
    if (seconds < 0) {
        seconds = 0;
    }
    observe(&commit_seconds, commit_bounds, COMMIT_BUCKETS, seconds);
    observe(&commit_events, size_bounds, SIZE_BUCKETS, (double)events);
}

void metrics_observe_batch(size_t events)
{
    touch_start();
    observe(&batch_events, size_bounds, SIZE_BUCKETS, (double)events);
}

void metrics_set_agents(int64_t n)
{
    atomic_store(&agents, n);
}

void metrics_set_store(uint64_t bytes, uint64_t events, uint64_t version)
{
    atomic_store(&store_bytes, bytes);
    atomic_store(&store_events, events);
    atomic_store(&store_version, version);
}

void metrics_sse_clients_add(int delta)
{
    atomic_fetch_add(&sse_clients, delta);
}

void metrics_count_http(unsigned status)
{
    touch_start();
    unsigned cls = status / 100;
    if (cls > 5) {
        cls = 0;
    }
    atomic_fetch_add_explicit(&http_by_class[cls], 1, memory_order_relaxed);
}

/* A small appending buffer for the exposition text. */
typedef struct {
    char *p;
    size_t len, cap;
} out_t;

static void outf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)(n > 0 ? n : 0);
        o->p = xrealloc(o->p, o->cap);
    }
}

static void fmt_bound(char *b, size_t n, double v)
{
    snprintf(b, n, "%g", v);
}

static void render_hist(out_t *o, const char *name, const char *help, const histogram_t *h,
                        const double *bounds, size_t nb, bool seconds)
{
    outf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        char b[32];
        if (i < nb) {
            fmt_bound(b, sizeof b, bounds[i]);
        } else {
            strcpy(b, "+Inf");
        }
        outf(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, b, cum);
    }
    uint64_t sum = atomic_load_explicit(&h->sum_micro, memory_order_relaxed);
    if (seconds) {
        outf(o, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name, sum / 1000000, sum % 1000000);
    } else {
        outf(o, "%s_sum %" PRIu64 "\n", name, (sum + 500000) / 1000000);
    }
    outf(o, "%s_count %" PRIu64 "\n", name, atomic_load_explicit(&h->count, memory_order_relaxed));
}

char *metrics_render(size_t *len)
{
    touch_start();
    out_t o = {.cap = 4096};
    o.p = xmalloc(o.cap);
    o.p[0] = '\0';
    static const char *results[] = {"unknown", "stored", "duplicate", "rejected"};
    outf(&o, "# HELP dk_events_total Events received from agents, by outcome.\n"
             "# TYPE dk_events_total counter\n");
    for (int i = 1; i <= 3; i++) {
        outf(&o, "dk_events_total{result=\"%s\"} %" PRIu64 "\n", results[i],
             atomic_load(&events_by_result[i]));
    }
    outf(&o, "# HELP dk_rejects_total Events rejected, by error code (common/err.h).\n"
             "# TYPE dk_rejects_total counter\n");
    for (int i = 0; i < REJECT_SLOTS; i++) {
        uint64_t v = atomic_load(&rejects_by_code[i]);
        if (v > 0) {
            outf(&o, "dk_rejects_total{code=\"%d\"} %" PRIu64 "\n", -i, v);
        }
    }
    render_hist(&o, "dk_commit_seconds", "Group commit latency in seconds.", &commit_seconds,
                commit_bounds, COMMIT_BUCKETS, true);
    render_hist(&o, "dk_commit_events", "Events written per commit.", &commit_events, size_bounds,
                SIZE_BUCKETS, false);
    render_hist(&o, "dk_batch_events", "Events per batch received from an agent.", &batch_events,
                size_bounds, SIZE_BUCKETS, false);
    outf(&o, "# HELP dk_connected_agents Agents connected now.\n# TYPE dk_connected_agents gauge\n"
             "dk_connected_agents %" PRId64 "\n", atomic_load(&agents));
    outf(&o, "# HELP dk_sse_clients Dashboard live-update streams open now.\n"
             "# TYPE dk_sse_clients gauge\ndk_sse_clients %" PRId64 "\n",
         atomic_load(&sse_clients));
    outf(&o, "# HELP dk_http_requests_total HTTP responses, by status class.\n"
             "# TYPE dk_http_requests_total counter\n");
    for (int i = 1; i <= 5; i++) {
        outf(&o, "dk_http_requests_total{code=\"%dxx\"} %" PRIu64 "\n", i,
             atomic_load(&http_by_class[i]));
    }
    outf(&o, "# HELP dk_store_bytes Size of the LMDB data file in bytes.\n"
             "# TYPE dk_store_bytes gauge\ndk_store_bytes %" PRIu64 "\n",
         atomic_load(&store_bytes));
    outf(&o, "# HELP dk_store_events Events stored.\n# TYPE dk_store_events gauge\n"
             "dk_store_events %" PRIu64 "\n", atomic_load(&store_events));
    outf(&o, "# HELP dk_version The aggregator's version (grows with every commit).\n"
             "# TYPE dk_version gauge\ndk_version %" PRIu64 "\n", atomic_load(&store_version));
    outf(&o, "# HELP dk_uptime_seconds Seconds since the first metric was recorded.\n"
             "# TYPE dk_uptime_seconds gauge\ndk_uptime_seconds %" PRId64 "\n",
         (int64_t)time(NULL) - atomic_load(&started_at));
    if (len != NULL) {
        *len = o.len;
    }
    return o.p;
}

void metrics_reset(void)
{
    for (int i = 0; i < 4; i++) {
        atomic_store(&events_by_result[i], 0);
    }
    for (int i = 0; i < REJECT_SLOTS; i++) {
        atomic_store(&rejects_by_code[i], 0);
    }
    histogram_t *hs[] = {&commit_seconds, &batch_events, &commit_events};
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < 16; i++) {
            atomic_store(&hs[k]->bucket[i], 0);
        }
        atomic_store(&hs[k]->count, 0);
        atomic_store(&hs[k]->sum_micro, 0);
    }
    for (int i = 0; i < 6; i++) {
        atomic_store(&http_by_class[i], 0);
    }
    atomic_store(&agents, 0);
    atomic_store(&sse_clients, 0);
    metrics_set_store(0, 0, 0);
}
