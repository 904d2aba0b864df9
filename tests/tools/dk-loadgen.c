/* dk-loadgen — N simulated commune agents in one process against one real dk-aggregator, for the
 * scale benchmark (tests/bench/bench_scale.py drives it).
 *
 *   dk-loadgen keys --agents N --first-code C --out FILE
 *       writes N fresh CURVE key pairs, one "CODE PUBLIC SECRET" line each (codes C, C+1, ...),
 *       mode 0600; the driver puts the public keys into the aggregator config as [commune CODE].
 *   dk-loadgen run --endpoint E --server-key K --keys FILE [options]
 *       --agents N        use the first N lines of FILE (default: all)
 *       --rate R          events per second per agent (default 1; intervals jittered +-50 %)
 *       --duration S      measured seconds after the warm-up (default 60)
 *       --batch B         most events per Batch (default 256, as dk-agent)
 *       --window W        Batches in flight per agent (default 4, as dk-agent)
 *       --heartbeat-ms MS application Heartbeat interval (default 10000, as dk-agent)
 *       --retry-ms MS     resend a Batch not acknowledged this long (default 10000)
 *       --connect-rate C  new connections per second during the warm-up (default 500)
 *       --warmup S        most seconds to get every agent welcomed (default 120)
 *       --drain S         most seconds to get the last acks after the run (default 60)
 *       --zmq-heartbeat-ms MS  ZeroMQ heartbeat (ZMQ_HEARTBEAT_IVL; timeout 3x) on every socket
 *                         (default 5000; 0: none)
 *       --rescue-ms MS    zloop's rescue drain per socket (default 1000 instead of zloop's 250:
 *                         one agent has one socket, the generator thousands; 0: off). Rescues
 *                         that found messages are counted in the summary ("rescued").
 *       --seed X
 *
 * What one agent does (the real session protocol, as dk-agent's sender): a CURVE DEALER with
 * ZMQ_IMMEDIATE, ZeroMQ heartbeats and reconnect backoff; Hello until Welcome (numbering continues
 * after the Welcome's max_seq); then it "records" events at the rate with jitter and pushes them as
 * Batches (everything pending, up to --batch) within a window; resends a Batch not acked within
 * --retry-ms; sends a Heartbeat every --heartbeat-ms. Event content is testevent_make (commune, seq).
 *
 * Warm-up: sockets are opened at --connect-rate; the measured run starts once every agent has its
 * Welcome. After --duration the agents stop recording and wait for every outstanding ack (--drain).
 *
 * Output (stdout, one JSON object per line, flushed): {"phase": "welcomed", ...} when the run
 * starts, {"phase": "stopped", ...} when recording stops, {"phase": "progress", ...} every second
 * (also to stderr), and last the summary {"phase": "summary", ...} with counts, ack latency
 * percentiles (ms, send of the Batch to its Ack, per event), the generator's own CPU, and
 * "communes": [[code, first_seq, last_seq, stored], ...] so the driver can check the store.
 * Exit codes: 0 every event acked, 1 something not acked / refused / not welcomed, 2 usage.
 *
 * Resources: one ZeroMQ socket per agent (ZMQ_MAX_SOCKETS is raised before any socket exists) and
 * about two file descriptors per agent (the socket's mailbox and its TCP connection), so
 * RLIMIT_NOFILE is raised to its hard limit at start and checked. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "err.h"
#include "keys.h"
#include "testevent.h"
#include "wire.h"
#include "xmalloc.h"
#include "zloop.h"

#define MAX_WINDOW 64
#define MAX_BATCH 256

typedef struct {
    const char *endpoint, *server_key, *keys_file, *out;
    uint32_t agents, first_code;
    double rate, duration, warmup, drain;
    uint32_t batch, window;
    int heartbeat_ms, retry_ms, connect_rate, zmq_heartbeat_ms, rescue_ms;
    uint64_t seed;
} opts_t;

static opts_t o = {
    .rate = 1.0, .duration = 60, .warmup = 120, .drain = 60, .batch = 256, .window = 4,
    .heartbeat_ms = 10000, .retry_ms = 10000, .connect_rate = 500, .seed = 1,
    .zmq_heartbeat_ms = 5000, .rescue_ms = 1000, .first_code = 30000,
};

enum { PH_CONNECT, PH_RUN, PH_DRAIN, PH_DONE };

typedef struct {
    uint64_t id, first_seq;
    uint32_t n, ndone;
    uint64_t done[MAX_BATCH / 64];
    double first_sent, sent_at;
    int used;
} inflight_t;

typedef struct agent {
    uint32_t code;
    keys_t keys;
    zloop_sock_t *zs;
    uv_timer_t timer;
    int welcomed;
    uint64_t next_seq;     /* next seq to record */
    uint64_t first_seq;    /* first seq recorded in this run */
    uint64_t sent_seq;     /* every seq < sent_seq has been put in a batch */
    uint64_t next_batch_id;
    double next_event, next_hb;
    inflight_t inflight[MAX_WINDOW];
    uint32_t ninflight;
    uint64_t stored, dup, rejected;
} agent_t;

static struct {
    uv_loop_t loop;
    void *ctx;
    char server_pub[41];
    agent_t *agents;
    uint32_t n, opened, welcomed;
    int phase;
    double t0, t_run, t_stop, t_end;
    uv_timer_t tick, connect;
    uint64_t rng;
    /* counters */
    uint64_t recorded, sent_events, sent_batches, resends, eagain, hellos, hb_sent, hb_acked;
    uint64_t stored, dup, rejected, acked_in_window, refusals, unexpected;
    uint64_t last_progress_acked;
    float *lat;
    size_t nlat, caplat;
    struct rusage ru_run, ru_stop;
    int first_reject_printed;
} g;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dk-loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng(void)
{
    g.rng ^= g.rng << 13;
    g.rng ^= g.rng >> 7;
    g.rng ^= g.rng << 17;
    return g.rng;
}

/* Uniform in [0, 1). */
static double rnd01(void)
{
    return (double)(rng() >> 11) / 9007199254740992.0;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static int cmd_keys(void)
{
    if (!o.agents || !o.out) {
        die(2, "keys needs --agents and --out");
    }
    if (o.first_code < 10000 || (uint64_t)o.first_code + o.agents - 1 > 99999) {
        die(2, "--first-code %u and --agents %u: codes must stay 5-digit (10000..99999)",
            o.first_code, o.agents);
    }
    int fd = open(o.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        die(1, "%s: %s", o.out, strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    for (uint32_t i = 0; i < o.agents; i++) {
        keys_t k;
        if (keys_generate(&k) < 0) {
            die(1, "zmq_curve_keypair failed: libzmq without CURVE?");
        }
        fprintf(f, "%u %s %s\n", o.first_code + i, k.public_key, k.secret_key);
        keys_wipe(&k);
    }
    if (fclose(f) != 0) {
        die(1, "%s: %s", o.out, strerror(errno));
    }
    return 0;
}

static void load_keys(void)
{
    FILE *f = fopen(o.keys_file, "r");
    if (!f) {
        die(2, "--keys %s: %s", o.keys_file, strerror(errno));
    }
    size_t cap = 1024, n = 0;
    agent_t *a = xcalloc(cap, sizeof *a);
    char line[256];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, f) && (o.agents == 0 || n < o.agents)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        unsigned code;
        char pub[64], sec[64];
        if (sscanf(line, "%u %63s %63s", &code, pub, sec) != 3 || code < 1 || code > 99999 ||
            !keys_z85_valid(pub) || !keys_z85_valid(sec)) {
            die(2, "%s: line %u: expected \"CODE PUBLIC SECRET\"", o.keys_file, lineno);
        }
        if (n == cap) {
            cap *= 2;
            a = xrealloc(a, cap * sizeof *a);
        }
        memset(&a[n], 0, sizeof a[n]);
        a[n].code = code;
        memcpy(a[n].keys.public_key, pub, KEYS_Z85_LEN + 1); /* valid: exactly 40 + NUL */
        memcpy(a[n].keys.secret_key, sec, KEYS_Z85_LEN + 1);
        n++;
    }
    fclose(f);
    if (o.agents && n < o.agents) {
        die(2, "%s holds %zu key pairs, --agents %u asked", o.keys_file, n, o.agents);
    }
    if (n == 0) {
        die(2, "%s holds no key pair", o.keys_file);
    }
    g.agents = a;
    g.n = (uint32_t)n;
}

/* ---- resources ------------------------------------------------------------------------------- */

static void raise_limits(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fprintf(stderr, "dk-loadgen: cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
        }
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    uint64_t need = 2ull * g.n + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        die(1, "RLIMIT_NOFILE is %llu, %u agents need about %llu file descriptors (ulimit -n)",
            (unsigned long long)rl.rlim_cur, g.n, (unsigned long long)need);
    }
    /* Before any socket exists: the default is 1023 sockets per context. */
    if (zmq_ctx_set(g.ctx, ZMQ_MAX_SOCKETS, (int)g.n + 64) != 0) {
        die(1, "zmq_ctx_set(ZMQ_MAX_SOCKETS, %u): %s", g.n + 64, zmq_strerror(zmq_errno()));
    }
    int got = zmq_ctx_get(g.ctx, ZMQ_MAX_SOCKETS);
    if (got < (int)g.n + 1) {
        die(1, "ZeroMQ allows only %d sockets per context (ZMQ_SOCKET_LIMIT %d), %u needed", got,
            zmq_ctx_get(g.ctx, ZMQ_SOCKET_LIMIT), g.n);
    }
}

/* ---- sending --------------------------------------------------------------------------------- */

static int send_env(agent_t *a, const Dk__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    int rc = wire_encode(env, &buf, &len);
    if (rc < 0) {
        die(1, "commune=%u: encode: %s", a->code, err_str(rc));
    }
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    rc = zloop_sock_send(a->zs, parts, lens, 1);
    free(buf);
    if (rc == DK_EAGAIN) {
        g.eagain++;
    }
    return rc;
}

static void send_hello(agent_t *a)
{
    Dk__Hello h = DK__HELLO__INIT;
    h.has_commune = true;
    h.commune = a->code;
    h.agent_version = "dk-loadgen";
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    g.hellos++;
    send_env(a, &env);
}

static void send_heartbeat(agent_t *a)
{
    Dk__Heartbeat h = DK__HEARTBEAT__INIT;
    h.has_backlog = true;
    h.backlog = a->next_seq - a->sent_seq;
    h.has_sent_at = true;
    h.sent_at = (int64_t)time(NULL);
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &h;
    if (send_env(a, &env) == 0) {
        g.hb_sent++;
    }
}

/* Sends (or resends) one batch. Returns 0 or the zloop error (nothing sent). */
static int send_batch(agent_t *a, inflight_t *b)
{
    static testevent_t evs[MAX_BATCH];
    static Dk__Event *evp[MAX_BATCH];
    uint32_t k = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->done[i / 64] & (1ull << (i % 64))) {
            continue; /* already has its result (a partial ack) */
        }
        testevent_make(&evs[k], a->code, b->first_seq + i);
        evp[k] = &evs[k].ev;
        k++;
    }
    Dk__Batch batch = DK__BATCH__INIT;
    batch.has_batch_id = true;
    batch.batch_id = b->id;
    batch.n_events = k;
    batch.events = evp;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    return send_env(a, &env);
}

/* Fills the window with what is recorded and not yet sent. */
static void push(agent_t *a)
{
    while (a->sent_seq < a->next_seq && a->ninflight < o.window) {
        inflight_t *b = NULL;
        for (uint32_t i = 0; i < o.window; i++) {
            if (!a->inflight[i].used) {
                b = &a->inflight[i];
                break;
            }
        }
        uint64_t n = a->next_seq - a->sent_seq;
        memset(b, 0, sizeof *b);
        b->id = a->next_batch_id;
        b->first_seq = a->sent_seq;
        b->n = (uint32_t)(n > o.batch ? o.batch : n);
        if (send_batch(a, b) < 0) {
            return; /* peer busy or reconnecting: try again on the next tick */
        }
        double t = now_s();
        b->used = 1;
        b->first_sent = b->sent_at = t;
        a->next_batch_id++;
        a->sent_seq += b->n;
        a->ninflight++;
        g.sent_batches++;
        g.sent_events += b->n;
    }
}

static void resend_overdue(agent_t *a, double t)
{
    for (uint32_t i = 0; i < o.window; i++) {
        inflight_t *b = &a->inflight[i];
        if (b->used && t - b->sent_at > o.retry_ms / 1e3) {
            if (send_batch(a, b) == 0) {
                g.resends++;
            }
            b->sent_at = t;
        }
    }
}

/* ---- receiving ------------------------------------------------------------------------------- */

static void on_ack(agent_t *a, const Dk__Ack *ack)
{
    double t = now_s();
    inflight_t *b = NULL;
    for (uint32_t i = 0; i < o.window; i++) {
        if (a->inflight[i].used && ack->has_batch_id && a->inflight[i].id == ack->batch_id) {
            b = &a->inflight[i];
            break;
        }
    }
    if (!b) {
        return; /* an ack for a batch already complete (a resend raced its ack) */
    }
    for (size_t j = 0; j < ack->n_results; j++) {
        const Dk__EventResult *r = ack->results[j];
        if (!r->has_seq || r->seq < b->first_seq || r->seq >= b->first_seq + b->n) {
            g.unexpected++;
            continue;
        }
        uint32_t i = (uint32_t)(r->seq - b->first_seq);
        if (b->done[i / 64] & (1ull << (i % 64))) {
            continue;
        }
        b->done[i / 64] |= 1ull << (i % 64);
        b->ndone++;
        if (r->result == DK__RESULT_CODE__STORED) {
            a->stored++;
            g.stored++;
        } else if (r->result == DK__RESULT_CODE__DUPLICATE) {
            a->dup++;
            g.dup++;
        } else {
            a->rejected++;
            g.rejected++;
            if (!g.first_reject_printed) {
                g.first_reject_printed = 1;
                fprintf(stderr, "dk-loadgen: commune=%u seq=%" PRIu64 " rejected code=%d field=%s: %s\n",
                        a->code, r->seq, r->code, r->field ? r->field : "",
                        r->reason ? r->reason : "");
            }
        }
        if (g.phase == PH_RUN) {
            g.acked_in_window++;
        }
        if (g.nlat == g.caplat) {
            g.caplat = g.caplat ? 2 * g.caplat : 65536;
            g.lat = xrealloc(g.lat, g.caplat * sizeof *g.lat);
        }
        g.lat[g.nlat++] = (float)((t - b->first_sent) * 1e3);
    }
    if (b->ndone == b->n) {
        b->used = 0;
        a->ninflight--;
        push(a);
    }
}

static void on_msg(zloop_sock_t *zs, zmq_msg_t *frames, size_t nframes, void *arg)
{
    agent_t *a = arg;
    (void)zs;
    Dk__Envelope *env = NULL;
    int rc = wire_decode(zmq_msg_data(&frames[nframes - 1]), zmq_msg_size(&frames[nframes - 1]),
                         &env);
    if (rc < 0) {
        g.unexpected++;
        fprintf(stderr, "dk-loadgen: commune=%u: undecodable reply: %s\n", a->code, err_str(rc));
        return;
    }
    switch (env->msg_case) {
    case DK__ENVELOPE__MSG_WELCOME:
        if (!a->welcomed) {
            a->welcomed = 1;
            g.welcomed++;
            uint64_t base = env->welcome->max_seq > env->welcome->high_water
                                ? env->welcome->max_seq
                                : env->welcome->high_water;
            a->next_seq = a->sent_seq = a->first_seq = base + 1;
            a->next_batch_id = 1;
            uv_timer_stop(&a->timer); /* no more Hellos; the run phase arms it again */
        }
        break;
    case DK__ENVELOPE__MSG_ACK:
        on_ack(a, env->ack);
        break;
    case DK__ENVELOPE__MSG_HEARTBEAT_ACK:
        g.hb_acked++;
        break;
    case DK__ENVELOPE__MSG_REFUSAL:
        g.refusals++;
        fprintf(stderr, "dk-loadgen: commune=%u refused code=%d: %s\n", a->code,
                env->refusal->code, env->refusal->reason ? env->refusal->reason : "");
        break;
    default:
        g.unexpected++;
        break;
    }
    wire_free(&env);
}

/* ---- per-agent timer ------------------------------------------------------------------------- */

static double interval(void)
{
    return (0.5 + rnd01()) / o.rate; /* mean 1/rate, +-50 % */
}

static void on_agent_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    double now = now_s();
    if (!a->welcomed) {
        send_hello(a);
        uv_timer_start(&a->timer, on_agent_timer, 300 + rng() % 400, 0);
        return;
    }
    if (g.phase == PH_RUN) {
        while (a->next_event <= now) {
            a->next_seq++;
            g.recorded++;
            a->next_event += interval();
        }
        if (now >= a->next_hb) {
            send_heartbeat(a);
            a->next_hb = now + o.heartbeat_ms / 1e3 * (0.9 + 0.2 * rnd01());
        }
        resend_overdue(a, now);
        push(a);
        double due = a->next_event < a->next_hb ? a->next_event : a->next_hb;
        double ms = (due - now) * 1e3;
        uv_timer_start(&a->timer, on_agent_timer, ms < 1 ? 1 : (uint64_t)ms + 1, 0);
    } else if (g.phase == PH_DRAIN) {
        resend_overdue(a, now);
        push(a);
        uv_timer_start(&a->timer, on_agent_timer, 500, 0);
    }
}

/* ---- connecting ------------------------------------------------------------------------------ */

static void open_agent(agent_t *a)
{
    void *s = zmq_socket(g.ctx, ZMQ_DEALER);
    if (!s) {
        die(1, "zmq_socket #%u: %s", g.opened, zmq_strerror(zmq_errno()));
    }
    int zero = 0, one = 1, hb = o.zmq_heartbeat_ms, hbt = 3 * o.zmq_heartbeat_ms, ivl = 1000,
        ivl_max = 30000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (hb > 0) {
        zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
        zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    }
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    if (keys_apply_client(s, &a->keys, g.server_pub) < 0) {
        die(1, "commune=%u: cannot apply the CURVE keys", a->code);
    }
    keys_wipe(&a->keys);
    if (zmq_connect(s, o.endpoint) != 0) {
        die(2, "connect %s: %s", o.endpoint, zmq_strerror(zmq_errno()));
    }
    a->zs = zloop_sock_new(&g.loop, &s, on_msg, a);
    if (!a->zs || zloop_sock_start(a->zs) < 0) {
        die(1, "commune=%u: zloop refused the socket (file descriptors?)", a->code);
    }
    zloop_sock_set_rescue(a->zs, (uint64_t)o.rescue_ms);
    uv_timer_init(&g.loop, &a->timer);
    a->timer.data = a;
    /* The CURVE handshake takes a few ms; with ZMQ_IMMEDIATE an earlier Hello is refused. */
    uv_timer_start(&a->timer, on_agent_timer, 50 + rng() % 100, 0);
}

static void on_connect_tick(uv_timer_t *t)
{
    /* 10 ms ticks: connect_rate / 100 sockets each (at least one). */
    uint32_t k = (uint32_t)(o.connect_rate / 100);
    if (k == 0) {
        k = 1;
    }
    while (k-- && g.opened < g.n) {
        open_agent(&g.agents[g.opened++]);
    }
    if (g.opened == g.n) {
        uv_timer_stop(t);
    }
}

/* ---- phases ---------------------------------------------------------------------------------- */

static void print_phase(const char *phase)
{
    double t = now_s();
    printf("{\"phase\": \"%s\", \"t\": %.3f, \"agents\": %u, \"welcomed\": %u, \"recorded\": %" PRIu64
           ", \"stored\": %" PRIu64 ", \"acked_in_window\": %" PRIu64 "}\n",
           phase, t - g.t0, g.n, g.welcomed, g.recorded, g.stored, g.acked_in_window);
    fflush(stdout);
}

static void start_run(void)
{
    g.phase = PH_RUN;
    g.t_run = now_s();
    getrusage(RUSAGE_SELF, &g.ru_run);
    for (uint32_t i = 0; i < g.n; i++) {
        agent_t *a = &g.agents[i];
        /* Spread the agents over the first interval (no thundering herd). */
        a->next_event = g.t_run + rnd01() / o.rate;
        a->next_hb = g.t_run + rnd01() * o.heartbeat_ms / 1e3;
        double due = a->next_event < a->next_hb ? a->next_event : a->next_hb;
        uv_timer_start(&a->timer, on_agent_timer, (uint64_t)((due - g.t_run) * 1e3) + 1, 0);
    }
    print_phase("welcomed");
}

static uint64_t outstanding(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g.n; i++) {
        n += g.agents[i].ninflight + (g.agents[i].next_seq - g.agents[i].sent_seq);
    }
    return n;
}

static void finish(void)
{
    g.phase = PH_DONE;
    g.t_end = now_s();
    uv_timer_stop(&g.tick);
    uv_timer_stop(&g.connect);
    for (uint32_t i = 0; i < g.n; i++) {
        if (g.agents[i].zs) {
            uv_timer_stop(&g.agents[i].timer);
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    double now = now_s();
    if (g.phase == PH_CONNECT) {
        if (g.welcomed == g.n) {
            start_run();
        } else if (now - g.t0 > o.warmup) {
            fprintf(stderr, "dk-loadgen: warm-up: only %u of %u agents welcomed in %.0f s\n",
                    g.welcomed, g.n, o.warmup);
            finish();
            return;
        }
    } else if (g.phase == PH_RUN && now - g.t_run >= o.duration) {
        g.phase = PH_DRAIN;
        g.t_stop = now;
        getrusage(RUSAGE_SELF, &g.ru_stop);
        print_phase("stopped");
    } else if (g.phase == PH_DRAIN) {
        if (outstanding() == 0) {
            finish();
            return;
        }
        if (now - g.t_stop > o.drain) {
            fprintf(stderr, "dk-loadgen: drain: %" PRIu64 " events still unacknowledged after %.0f s\n",
                    outstanding(), o.drain);
            finish();
            return;
        }
    }
    uint64_t acked = g.stored + g.dup + g.rejected;
    fprintf(stderr, "dk-loadgen: t=%.0fs phase=%d opened=%u welcomed=%u recorded=%" PRIu64
            " acked=%" PRIu64 " (+%" PRIu64 "/s) resends=%" PRIu64 " eagain=%" PRIu64 "\n",
            now - g.t0, g.phase, g.opened, g.welcomed, g.recorded, acked,
            acked - g.last_progress_acked, g.resends, g.eagain);
    g.last_progress_acked = acked;
}

/* ---- summary --------------------------------------------------------------------------------- */

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return a < b ? -1 : a > b;
}

static double pct(double p)
{
    if (g.nlat == 0) {
        return 0;
    }
    size_t i = (size_t)ceil(p * (double)g.nlat) - 1;
    if (i >= g.nlat) {
        i = g.nlat - 1;
    }
    return g.lat[i];
}

static double ru_s(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + r->ru_utime.tv_usec / 1e6 + (double)r->ru_stime.tv_sec +
           r->ru_stime.tv_usec / 1e6;
}

static uint64_t rescued(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g.opened; i++) {
        n += g.agents[i].zs ? zloop_sock_rescued(g.agents[i].zs) : 0;
    }
    return n;
}

static void print_summary(void)
{
    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_float);
    double sum = 0;
    for (size_t i = 0; i < g.nlat; i++) {
        sum += g.lat[i];
    }
    double run_s = g.t_stop > 0 ? g.t_stop - g.t_run : 0;
    double cpu = g.t_stop > 0 ? ru_s(&g.ru_stop) - ru_s(&g.ru_run) : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"phase\": \"summary\", \"agents\": %u, \"welcomed\": %u, \"rate\": %g, "
           "\"duration\": %.3f, \"warmup_s\": %.3f, \"drain_s\": %.3f, \"recorded\": %" PRIu64
           ", \"sent_events\": %" PRIu64 ", \"sent_batches\": %" PRIu64 ", \"resends\": %" PRIu64
           ", \"eagain\": %" PRIu64 ", \"hellos\": %" PRIu64 ", \"heartbeats\": %" PRIu64
           ", \"heartbeat_acks\": %" PRIu64 ", \"stored\": %" PRIu64 ", \"duplicate\": %" PRIu64
           ", \"rejected\": %" PRIu64 ", \"refusals\": %" PRIu64 ", \"unexpected\": %" PRIu64
           ", \"unacked\": %" PRIu64 ", \"acked_in_window\": %" PRIu64
           ", \"acked_per_s\": %.1f, \"latency_ms\": {\"n\": %zu, \"mean\": %.2f, \"p50\": %.2f, "
           "\"p95\": %.2f, \"p99\": %.2f, \"p999\": %.2f, \"max\": %.2f}, "
           "\"loadgen_cpu_s\": %.2f, \"loadgen_cpu_pct\": %.1f, \"loadgen_maxrss_kb\": %ld, "
           "\"rescued\": %" PRIu64 ", \"communes\": [",
           g.n, g.welcomed, o.rate, run_s, (g.t_run > 0 ? g.t_run : g.t_end) - g.t0,
           g.t_stop > 0 ? g.t_end - g.t_stop : 0.0, g.recorded, g.sent_events, g.sent_batches,
           g.resends, g.eagain, g.hellos, g.hb_sent, g.hb_acked, g.stored, g.dup, g.rejected,
           g.refusals, g.unexpected, outstanding(), g.acked_in_window,
           run_s > 0 ? (double)g.acked_in_window / run_s : 0.0, g.nlat,
           g.nlat ? sum / (double)g.nlat : 0.0, pct(0.50), pct(0.95), pct(0.99), pct(0.999),
           g.nlat ? (double)g.lat[g.nlat - 1] : 0.0, cpu, run_s > 0 ? 100.0 * cpu / run_s : 0.0,
           ru.ru_maxrss, rescued());
    for (uint32_t i = 0; i < g.n; i++) {
        const agent_t *a = &g.agents[i];
        printf("%s[%u, %" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", i ? ", " : "", a->code,
               a->first_seq, a->next_seq ? a->next_seq - 1 : 0, a->stored);
    }
    printf("]}\n");
    fflush(stdout);
}

static int cmd_run(void)
{
    if (!o.endpoint || !o.server_key || !o.keys_file) {
        die(2, "run needs --endpoint, --server-key and --keys");
    }
    if (o.rate <= 0 || o.duration <= 0 || o.batch < 1 || o.batch > MAX_BATCH || o.window < 1 ||
        o.window > MAX_WINDOW || o.heartbeat_ms < 100 || o.retry_ms < 100 || o.connect_rate < 1) {
        die(2, "bad option value (rate > 0, duration > 0, batch 1..%d, window 1..%d, "
               "heartbeat-ms and retry-ms >= 100, connect-rate >= 1)", MAX_BATCH, MAX_WINDOW);
    }
    if (o.zmq_heartbeat_ms < 0 || o.rescue_ms < 0) {
        die(2, "--zmq-heartbeat-ms and --rescue-ms must be >= 0");
    }
    char err[300];
    if (keys_load_public(o.server_key, g.server_pub, err, sizeof err) < 0) {
        die(2, "--server-key: %s", err);
    }
    load_keys();
    g.rng = o.seed * 2654435761u + 88172645463325252ull;
    g.ctx = zmq_ctx_new();
    raise_limits();
    uv_loop_init(&g.loop);
    g.t0 = now_s();
    uv_timer_init(&g.loop, &g.tick);
    uv_timer_init(&g.loop, &g.connect);
    uv_timer_start(&g.tick, on_tick, 1000, 1000);
    uv_timer_start(&g.connect, on_connect_tick, 0, 10);
    while (g.phase != PH_DONE) {
        uv_run(&g.loop, UV_RUN_ONCE);
    }
    print_summary();
    /* Shut down: sockets (closed in uv close callbacks), timers, then the context. */
    for (uint32_t i = 0; i < g.opened; i++) {
        zloop_sock_destroy(&g.agents[i].zs);
        uv_close((uv_handle_t *)&g.agents[i].timer, NULL);
    }
    uv_close((uv_handle_t *)&g.tick, NULL);
    uv_close((uv_handle_t *)&g.connect, NULL);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    uv_loop_close(&g.loop);
    zmq_ctx_term(g.ctx);
    int ok = g.welcomed == g.n && outstanding() == 0 && g.rejected == 0 && g.refusals == 0;
    free(g.lat);
    free(g.agents);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: dk-loadgen keys --agents N --first-code C --out FILE\n"
                "       dk-loadgen run --endpoint E --server-key K --keys FILE [--agents N] "
                "[--rate R] [--duration S] [--batch B] [--window W] [--heartbeat-ms MS] "
                "[--retry-ms MS] [--connect-rate C] [--warmup S] [--drain S] [--zmq-heartbeat-ms MS] "
                "[--rescue-ms MS] [--seed X]\n"
                "(see the comment at the top of tests/tools/dk-loadgen.c)\n");
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'E'},   {"server-key", required_argument, NULL, 'K'},
        {"keys", required_argument, NULL, 'k'},       {"out", required_argument, NULL, 'o'},
        {"agents", required_argument, NULL, 'n'},     {"first-code", required_argument, NULL, 'c'},
        {"rate", required_argument, NULL, 'r'},       {"duration", required_argument, NULL, 'd'},
        {"batch", required_argument, NULL, 'b'},      {"window", required_argument, NULL, 'w'},
        {"heartbeat-ms", required_argument, NULL, 'h'}, {"retry-ms", required_argument, NULL, 'R'},
        {"connect-rate", required_argument, NULL, 'C'}, {"warmup", required_argument, NULL, 'W'},
        {"drain", required_argument, NULL, 'D'},      {"seed", required_argument, NULL, 's'},
        {"zmq-heartbeat-ms", required_argument, NULL, 'z'},
        {"rescue-ms", required_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'E': o.endpoint = optarg; break;
        case 'K': o.server_key = optarg; break;
        case 'k': o.keys_file = optarg; break;
        case 'o': o.out = optarg; break;
        case 'n': o.agents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': o.first_code = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': o.rate = atof(optarg); break;
        case 'd': o.duration = atof(optarg); break;
        case 'b': o.batch = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'w': o.window = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': o.heartbeat_ms = atoi(optarg); break;
        case 'R': o.retry_ms = atoi(optarg); break;
        case 'C': o.connect_rate = atoi(optarg); break;
        case 'W': o.warmup = atof(optarg); break;
        case 'D': o.drain = atof(optarg); break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'z': o.zmq_heartbeat_ms = atoi(optarg); break;
        case 'q': o.rescue_ms = atoi(optarg); break;
        default: return 2;
        }
    }
    if (optind != argc) {
        die(2, "unexpected argument '%s'", argv[optind]);
    }
    if (strcmp(cmd, "keys") == 0) {
        return cmd_keys();
    }
    if (strcmp(cmd, "run") == 0) {
        return cmd_run();
    }
    die(2, "unknown command '%s' (keys or run)", cmd);
}
