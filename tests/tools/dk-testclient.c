/* dk-testclient — speaks the agent/reader side of the aggregator protocol over CURVE, for the
 * system tests and the ingest benchmark (tests/system/dkharness.py drives it).
 *
 *   dk-testclient COMMAND --endpoint E --server-key K --key-file F [options]
 *     send --commune C --events N [--batch B] [--first-seq S] [--window W] [--dup-every K]
 *          [--shuffle] [--seed X] [--bad-every K] [--corrections K] [--voids K]
 *          [--retry-ms MS] [--deadline S] [--no-hello]
 *                         pushes events S..S+N-1 of commune C (content from make_event), then
 *                         a correction of every K-th / a void of every K-th (make_extra) with the
 *                         following seqs; resends
 *                         every batch not acknowledged within retry-ms until every event has a
 *                         result; prints a JSON summary (counts, latencies, first rejects).
 *     hello --commune C   prints the Welcome (or Refusal) as JSON
 *     heartbeat [--backlog N]
 *     snapshot [--since V] [--max-cells N] [--cells]
 *                         follows every page; prints version, events, units, per-measure sums
 *                         of the cells (and the cells with --cells) as JSON
 *     raw (--hex H | --file F)   sends one raw frame, prints the reply (type, code, reason)
 *     subscribe --pub E [--count N]   prints one JSON line per live update
 *
 * Exit codes: 0 ok, 1 failure or deadline, 2 usage, 3 no reply in time, 4 handshake refused
 * (ZAP said no: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH seen by the socket monitor).
 *
 * Event content is a pure function of (commune, seq) so tests can compute expected totals; it is
 * mirrored by expected_event() in tests/system/dkharness.py. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "err.h"
#include "keys.h"
#include "testevent.h"
#include "wire.h"
#include "xmalloc.h"

#define NMEASURES 18

typedef struct {
    const char *endpoint, *server_key, *key_file, *pub;
    uint32_t commune;
    uint64_t events, batch, first_seq, window, dup_every, bad_every, corrections, voids;
    bool shuffle, cells, no_hello, has_since;
    uint64_t seed, since, max_cells, count, backlog;
    int retry_ms, timeout_ms;
    double deadline_s;
    const char *hex, *file;
} opts_t;

static opts_t o = {
    .batch = 100, .first_seq = 1, .window = 4, .retry_ms = 2000, .timeout_ms = 5000,
    .deadline_s = 120, .seed = 1, .count = 1,
};

static void *ctx, *sock, *mon;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dk-testclient: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

/* ---- deterministic events (mirror: dkharness.expected_event) --------------------------------- */

typedef testevent_t event_t;

static void make_event(event_t *e, uint32_t commune, uint64_t seq)
{
    testevent_make(e, commune, seq);
}

/* An extra event after the base ones: target > 0 corrects event `target` (the same content with
 * 1,000 more participants, or 5,000 đ more), target < 0 voids event -target. Mirror:
 * dkharness.expected_totals(..., corrections=K, voids=K). */
static void make_extra(event_t *e, uint32_t commune, uint64_t seq, int64_t target)
{
    if (target > 0) {
        make_event(e, commune, (uint64_t)target);
        e->ev.seq = seq;
        e->ev.has_corrects_seq = true;
        e->ev.corrects_seq = (uint64_t)target;
        if (e->ev.body_case == DK__EVENT__BODY_FUND) {
            e->fund.amount += 5000;
        } else {
            e->act.participants += 1000;
        }
        return;
    }
    memset(e, 0, sizeof *e);
    dk__event__init(&e->ev);
    e->ev.has_schema_version = true;
    e->ev.schema_version = WIRE_SCHEMA_VERSION;
    e->ev.has_commune = true;
    e->ev.commune = commune;
    e->ev.has_seq = true;
    e->ev.seq = seq;
    dk__void__init(&e->vd);
    e->vd.has_target_seq = true;
    e->vd.target_seq = (uint64_t)(-target);
    e->ev.body_case = DK__EVENT__BODY_VOID;
    e->ev.void_ = &e->vd;
}

/* ---- socket ---------------------------------------------------------------------------------- */

static void open_socket(int type, const char *endpoint)
{
    keys_t mine;
    char err[300], server_pub[41];
    if (!o.key_file || !o.server_key || !endpoint) {
        die(2, "--endpoint, --server-key and --key-file are required");
    }
    if (keys_load(o.key_file, &mine, err, sizeof err) < 0) {
        die(2, "%s", err);
    }
    if (keys_load_public(o.server_key, server_pub, err, sizeof err) < 0) {
        die(2, "--server-key: %s", err);
    }
    ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, type);
    int zero = 0, hb = 1000, hbt = 5000, ivl = 100, ivl_max = 1000;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (type == ZMQ_DEALER) {
        int one = 1;
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    }
    if (keys_apply_client(sock, &mine, server_pub) < 0) {
        die(2, "cannot apply the CURVE keys");
    }
    keys_wipe(&mine);
    if (zmq_socket_monitor(sock, "inproc://monitor", ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
        die(1, "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    }
    mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(mon, "inproc://monitor");
    if (zmq_connect(sock, endpoint) != 0) {
        die(2, "connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    }
}

static int handshakes_ok;
static void read_monitor(void);

/* Waits until the CURVE handshake succeeded (or timeout_ms passed): with ZMQ_IMMEDIATE a message
 * sent before that would be refused (EAGAIN). Exits 4 when the server refuses the key. */
static void wait_handshake(int timeout_ms)
{
    double end = now_s() + timeout_ms / 1e3;
    while (!handshakes_ok && now_s() < end) {
        zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 50);
        read_monitor();
    }
}

/* Reads monitor events; exits 4 on an authentication failure. */
static void read_monitor(void)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t ev = 0;
        uint32_t val = 0;
        if (zmq_msg_size(&m) >= 6) {
            memcpy(&ev, zmq_msg_data(&m), 2);
            memcpy(&val, (char *)zmq_msg_data(&m) + 2, 4);
        }
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the address frame */
            zmq_msg_init(&m);
            zmq_msg_recv(&m, mon, 0);
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            handshakes_ok++;
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            printf("{\"error\": \"auth\", \"status\": %u}\n", val);
            fflush(stdout);
            fprintf(stderr, "dk-testclient: handshake refused by the server (ZAP %u)\n", val);
            exit(4);
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            printf("{\"error\": \"protocol\"}\n");
            exit(4);
        }
    }
}

static void send_env(const Dk__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    int rc = wire_encode(env, &buf, &len);
    if (rc < 0) {
        die(1, "encode: %s", err_str(rc));
    }
    if (zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0 && zmq_errno() != EAGAIN) {
        die(1, "send: %s", zmq_strerror(zmq_errno()));
    }
    free(buf);
}

/* Waits up to timeout_ms for one envelope. Returns NULL on timeout. */
static Dk__Envelope *recv_env(int timeout_ms)
{
    double end = now_s() + timeout_ms / 1000.0;
    for (;;) {
        zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        double left = end - now_s();
        if (left <= 0) {
            return NULL;
        }
        int n = zmq_poll(items, 2, (long)(left * 1000) + 1);
        if (n < 0) {
            if (zmq_errno() == EINTR) {
                continue;
            }
            die(1, "poll: %s", zmq_strerror(zmq_errno()));
        }
        if (items[1].revents & ZMQ_POLLIN) {
            read_monitor();
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                continue;
            }
            Dk__Envelope *env = NULL;
            int rc = wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &env);
            zmq_msg_close(&m);
            if (rc < 0) {
                fprintf(stderr, "dk-testclient: undecodable reply: %s\n", err_str(rc));
                continue;
            }
            return env;
        }
    }
}

static void print_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static int print_refusal(const Dk__Envelope *env)
{
    if (env->msg_case != DK__ENVELOPE__MSG_REFUSAL) {
        return 0;
    }
    printf("{\"type\": \"refusal\", \"code\": %d, \"reason\": ", env->refusal->code);
    print_json_str(stdout, env->refusal->reason);
    printf("}\n");
    return 1;
}

/* ---- send ------------------------------------------------------------------------------------ */

typedef struct {
    uint64_t first, n;      /* events: first index into the seq list, count */
    double sent_at;         /* last send */
    double first_sent;
    int acked;
    int sends;
} batch_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmd_send(void)
{
    if (!o.commune || !o.events) {
        die(2, "send needs --commune and --events");
    }
    rng_state = o.seed * 2654435761u + 1;
    /* Corrections and voids follow the base events, with the next seqs (see make_extra). */
    int64_t *extras = xcalloc(o.events + 1, sizeof *extras);
    uint64_t nextra = 0;
    for (uint64_t i = 0; i < o.events; i++) {
        if (o.corrections && i % o.corrections == o.corrections - 1) {
            extras[nextra++] = (int64_t)(o.first_seq + i);
        }
        if (o.voids && i % o.voids == 0) {
            extras[nextra++] = -(int64_t)(o.first_seq + i);
        }
    }
    uint64_t n = o.events + nextra;
    uint64_t nb = (n + o.batch - 1) / o.batch;
    batch_t *b = xcalloc(nb, sizeof *b);
    for (uint64_t i = 0; i < nb; i++) {
        b[i].first = i * o.batch;
        b[i].n = (i + 1) * o.batch <= n ? o.batch : n - i * o.batch;
    }
    /* Send order: in order, or shuffled (reordered batches). */
    uint64_t *order = xcalloc(nb, sizeof *order);
    for (uint64_t i = 0; i < nb; i++) {
        order[i] = i;
    }
    if (o.shuffle) {
        for (uint64_t i = nb; i > 1; i--) {
            uint64_t j = rng() % i, t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
    }
    open_socket(ZMQ_DEALER, o.endpoint);
    double t0 = now_s(), deadline = t0 + o.deadline_s;
    wait_handshake(o.timeout_ms);
    if (!o.no_hello) {
        /* Hello until welcomed (the aggregator may be restarting). */
        for (;;) {
            Dk__Hello h = DK__HELLO__INIT;
            h.has_commune = true;
            h.commune = o.commune;
            h.agent_version = "dk-testclient";
            Dk__Envelope env = DK__ENVELOPE__INIT;
            env.msg_case = DK__ENVELOPE__MSG_HELLO;
            env.hello = &h;
            send_env(&env);
            Dk__Envelope *r = recv_env(o.retry_ms);
            if (r) {
                int ok = r->msg_case == DK__ENVELOPE__MSG_WELCOME;
                if (!ok && print_refusal(r)) {
                    wire_free(&r);
                    free(b);
                    free(order);
                    free(extras);
                    return 1;
                }
                wire_free(&r);
                if (ok) {
                    break;
                }
            }
            if (now_s() > deadline) {
                die(3, "no Welcome before the deadline");
            }
        }
    }
    event_t *evs = xcalloc(o.batch, sizeof *evs);
    Dk__Event **evp = xcalloc(o.batch, sizeof *evp);
    double *lat = xcalloc(nb * 2 + 1, sizeof *lat);
    size_t nlat = 0;
    uint64_t stored = 0, dup = 0, rejected = 0, done_events = 0, resends = 0, sent_batches = 0;
    uint64_t acked_batches = 0, high_water = 0, version = 0, next = 0, nactive = 0;
    uint64_t *active = xcalloc(o.window, sizeof *active);
    int refused = 0;
    uint64_t busy = 0;
    char rejects[8192];
    size_t rlen = 0;
    int nrej_printed = 0;
    rejects[0] = '\0';
    while (acked_batches < nb) {
        double now = now_s();
        if (now > deadline) {
            fprintf(stderr, "dk-testclient: deadline: %" PRIu64 " of %" PRIu64 " batches acked\n",
                    acked_batches, nb);
            break;
        }
        /* Fill the window (in send order), then send new batches and resend timed-out ones. */
        while (nactive < o.window && next < nb) {
            active[nactive++] = order[next++];
        }
        for (uint64_t a = 0; a < nactive; a++) {
            uint64_t i = active[a];
            if (b[i].sends > 0 && now - b[i].sent_at <= o.retry_ms / 1e3) {
                continue;
            }
            for (uint64_t j = 0; j < b[i].n; j++) {
                uint64_t idx = b[i].first + j, seq = o.first_seq + idx;
                if (idx < o.events) {
                    make_event(&evs[j], o.commune, seq);
                    if (o.bad_every && seq % o.bad_every == 0) {
                        evs[j].ev.date = 20231345; /* impossible date: REJECTED DK_EV_DATE */
                    }
                } else {
                    make_extra(&evs[j], o.commune, seq, extras[idx - o.events]);
                }
                evp[j] = &evs[j].ev;
            }
            Dk__Batch batch = DK__BATCH__INIT;
            batch.has_batch_id = true;
            batch.batch_id = i + 1;
            batch.n_events = b[i].n;
            batch.events = evp;
            Dk__Envelope env = DK__ENVELOPE__INIT;
            env.msg_case = DK__ENVELOPE__MSG_BATCH;
            env.batch = &batch;
            send_env(&env);
            if (o.dup_every && (i + 1) % o.dup_every == 0 && b[i].sends == 0) {
                send_env(&env); /* a duplicate delivery */
            }
            if (b[i].sends > 0) {
                resends++;
            } else {
                b[i].first_sent = now;
            }
            b[i].sends++;
            b[i].sent_at = now;
            sent_batches++;
        }
        Dk__Envelope *r = recv_env(100);
        if (!r) {
            continue;
        }
        if (r->msg_case == DK__ENVELOPE__MSG_ACK && r->ack->has_batch_id && r->ack->batch_id >= 1 &&
            r->ack->batch_id <= nb) {
            uint64_t i = r->ack->batch_id - 1;
            if (!b[i].acked && r->ack->n_results == b[i].n) {
                b[i].acked = 1;
                acked_batches++;
                for (uint64_t a = 0; a < nactive; a++) {
                    if (active[a] == i) {
                        active[a] = active[--nactive];
                        break;
                    }
                }
                lat[nlat++] = (now_s() - b[i].sent_at) * 1e3;
                for (size_t j = 0; j < r->ack->n_results; j++) {
                    Dk__EventResult *er = r->ack->results[j];
                    done_events++;
                    if (er->result == DK__RESULT_CODE__STORED) {
                        stored++;
                    } else if (er->result == DK__RESULT_CODE__DUPLICATE) {
                        dup++;
                    } else {
                        rejected++;
                        if (nrej_printed < 20 && rlen < sizeof rejects - 1024) {
                            char reason[600];
                            snprintf(reason, sizeof reason, "%s", er->reason ? er->reason : "");
                            for (char *c = reason; *c; c++) {
                                if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
                                    *c = ' ';
                                }
                            }
                            rlen += (size_t)snprintf(rejects + rlen, sizeof rejects - rlen,
                                                     "%s{\"seq\": %" PRIu64 ", \"code\": %d, "
                                                     "\"field\": \"%s\", \"reason\": \"%s\"}",
                                                     nrej_printed ? ", " : "", er->seq, er->code,
                                                     er->field ? er->field : "", reason);
                            nrej_printed++;
                        }
                    }
                }
                if (r->ack->high_water > high_water) {
                    high_water = r->ack->high_water;
                }
                version = r->ack->version;
            }
        } else if (r->msg_case == DK__ENVELOPE__MSG_REFUSAL && r->refusal->code == DK_EAGAIN) {
            busy++; /* the aggregator's queue is full: the batch is resent after retry-ms */
        } else if (r->msg_case == DK__ENVELOPE__MSG_REFUSAL) {
            fprintf(stderr, "dk-testclient: refusal code=%d: %s\n", r->refusal->code,
                    r->refusal->reason ? r->refusal->reason : "");
            print_refusal(r);
            wire_free(&r);
            refused = 1;
            break;
        }
        wire_free(&r);
    }
    if (refused) {
        goto out;
    }
    qsort(lat, nlat, sizeof *lat, cmp_double);
    double el = now_s() - t0;
    printf("{\"commune\": %u, \"events\": %" PRIu64 ", \"results\": %" PRIu64
           ", \"stored\": %" PRIu64 ", \"duplicate\": %" PRIu64 ", \"rejected\": %" PRIu64
           ", \"batches\": %" PRIu64 ", \"acked_batches\": %" PRIu64 ", \"sends\": %" PRIu64
           ", \"resends\": %" PRIu64 ", \"busy\": %" PRIu64 ", \"high_water\": %" PRIu64 ", \"version\": %" PRIu64
           ", \"elapsed\": %.3f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"handshakes\": %d"
           ", \"latencies_ms\": [",
           o.commune, n, done_events, stored, dup, rejected, nb, acked_batches, sent_batches,
           resends, busy, high_water, version, el, nlat ? lat[nlat / 2] : 0.0,
           nlat ? lat[(size_t)((double)nlat * 0.99)] : 0.0, handshakes_ok);
    /* every ack latency (ms), for the benchmark's global percentiles */
    for (size_t i = 0; i < nlat; i++) {
        printf("%s%.2f", i ? "," : "", lat[i]);
    }
    printf("], \"rejects\": [%s]}\n", rejects);
out:
    free(b);
    free(order);
    free(extras);
    free(evs);
    free(evp);
    free(lat);
    free(active);
    return !refused && acked_batches == nb ? 0 : 1;
}

/* ---- hello, heartbeat, snapshot, raw, subscribe ---------------------------------------------- */

static int cmd_hello(void)
{
    open_socket(ZMQ_DEALER, o.endpoint);
    wait_handshake(o.timeout_ms);
    Dk__Hello h = DK__HELLO__INIT;
    if (o.commune) {
        h.has_commune = true;
        h.commune = o.commune;
    }
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    send_env(&env);
    Dk__Envelope *r = recv_env(o.timeout_ms);
    if (!r) {
        printf("{\"type\": \"none\"}\n");
        return 3;
    }
    int rc = 0;
    if (r->msg_case == DK__ENVELOPE__MSG_WELCOME) {
        printf("{\"type\": \"welcome\", \"commune\": %u, \"high_water\": %" PRIu64
               ", \"max_seq\": %" PRIu64 ", \"version\": %" PRIu64 "}\n",
               r->welcome->commune, r->welcome->high_water, r->welcome->max_seq,
               r->welcome->version);
    } else if (print_refusal(r)) {
        rc = 1;
    }
    wire_free(&r);
    return rc;
}

static int cmd_heartbeat(void)
{
    open_socket(ZMQ_DEALER, o.endpoint);
    wait_handshake(o.timeout_ms);
    Dk__Heartbeat h = DK__HEARTBEAT__INIT;
    h.has_backlog = true;
    h.backlog = o.backlog;
    h.has_sent_at = true;
    h.sent_at = (int64_t)time(NULL);
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &h;
    send_env(&env);
    Dk__Envelope *r = recv_env(o.timeout_ms);
    if (!r) {
        printf("{\"type\": \"none\"}\n");
        return 3;
    }
    int rc = 0;
    if (r->msg_case == DK__ENVELOPE__MSG_HEARTBEAT_ACK) {
        printf("{\"type\": \"heartbeat_ack\", \"high_water\": %" PRIu64 ", \"version\": %" PRIu64
               "}\n",
               r->heartbeat_ack->high_water, r->heartbeat_ack->version);
    } else if (print_refusal(r)) {
        rc = 1;
    }
    wire_free(&r);
    return rc;
}

static int cmd_snapshot(void)
{
    open_socket(ZMQ_DEALER, o.endpoint);
    wait_handshake(o.timeout_ms);
    int64_t sums[NMEASURES] = {0};
    uint8_t cursor[64];
    size_t cursor_len = 0;
    int pages = 0, first_printed = 0;
    uint64_t first_version = 0, last_version = 0, events = 0, ncells = 0;
    bool full = false, resync = false;
    char *units = xstrdup("");
    FILE *cells = NULL;
    char *cells_buf = NULL;
    size_t cells_len = 0;
    if (o.cells) {
        cells = open_memstream(&cells_buf, &cells_len);
    }
    for (;;) {
        Dk__SnapshotRequest sr = DK__SNAPSHOT_REQUEST__INIT;
        if (o.has_since) {
            sr.has_since_version = true;
            sr.since_version = o.since;
        }
        if (o.max_cells) {
            sr.has_max_cells = true;
            sr.max_cells = (uint32_t)o.max_cells;
        }
        if (cursor_len) {
            sr.has_after = true;
            sr.after.data = cursor;
            sr.after.len = cursor_len;
        }
        Dk__Envelope env = DK__ENVELOPE__INIT;
        env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT_REQUEST;
        env.snapshot_request = &sr;
        send_env(&env);
        Dk__Envelope *r = recv_env(o.timeout_ms);
        if (!r) {
            printf("{\"type\": \"none\"}\n");
            return 3;
        }
        if (print_refusal(r)) {
            wire_free(&r);
            free(units);
            if (cells) {
                fclose(cells);
            }
            free(cells_buf);
            return 1;
        }
        if (r->msg_case != DK__ENVELOPE__MSG_SNAPSHOT) {
            wire_free(&r);
            die(1, "unexpected reply type %d", (int)r->msg_case);
        }
        Dk__Snapshot *s = r->snapshot;
        if (pages == 0) {
            first_version = s->version;
            events = s->events;
        }
        last_version = s->version;
        full = s->full;
        resync = s->resync;
        pages++;
        for (size_t i = 0; i < s->n_cells; i++) {
            Dk__Cell *c = s->cells[i];
            for (size_t m = 0; m < c->n_m && m < NMEASURES; m++) {
                sums[m] += c->m[m];
            }
            if (cells) {
                fprintf(cells, "%s{\"unit\": %u, \"day\": %u, \"category\": %" PRIu64 ", \"m\": [",
                        first_printed++ ? ", " : "", c->unit, c->day, c->category);
                for (size_t m = 0; m < c->n_m; m++) {
                    fprintf(cells, "%s%" PRId64, m ? ", " : "", c->m[m]);
                }
                fprintf(cells, "]}");
            }
            ncells++;
        }
        for (size_t i = 0; i < s->n_units; i++) {
            Dk__UnitState *u = s->units[i];
            char *nu = NULL;
            size_t l = strlen(units);
            /* A child aggregator's freshness record (at a parent) carries the pull fields. */
            char *fresh = NULL;
            size_t fresh_len = 0;
            FILE *ff = open_memstream(&fresh, &fresh_len);
            if (u->has_last_pull) {
                fprintf(ff, ", \"last_pull\": %" PRId64, u->last_pull);
            }
            if (u->has_child_version) {
                fprintf(ff, ", \"child_version\": %" PRIu64, u->child_version);
            }
            if (u->has_failed_pulls) {
                fprintf(ff, ", \"failed_pulls\": %u", u->failed_pulls);
            }
            if (u->last_error && *u->last_error) {
                fprintf(ff, ", \"last_error\": ");
                print_json_str(ff, u->last_error);
            }
            fclose(ff);
            nu = xasprintf("%s%s{\"unit\": %u, \"high_water\": %" PRIu64 ", \"max_seq\": %" PRIu64
                           ", \"events\": %" PRIu64 ", \"rejected\": %" PRIu64
                           ", \"backlog\": %" PRIu64 ", \"last_contact\": %" PRId64 "%s}",
                           units, l ? ", " : "", u->unit, u->high_water, u->max_seq, u->events,
                           u->rejected, u->backlog, u->last_contact, fresh ? fresh : "");
            free(fresh);
            free(units);
            units = nu;
        }
        bool more = s->has_next && s->next.len > 0 && s->next.len <= sizeof cursor;
        if (more) {
            memcpy(cursor, s->next.data, s->next.len);
            cursor_len = s->next.len;
        }
        wire_free(&r);
        if (!more) {
            break;
        }
    }
    if (cells) {
        fclose(cells);
    }
    printf("{\"type\": \"snapshot\", \"version\": %" PRIu64 ", \"last_version\": %" PRIu64
           ", \"full\": %s, \"resync\": %s, \"events\": %" PRIu64 ", \"pages\": %d, \"cells\": %" PRIu64
           ", \"sums\": [",
           first_version, last_version, full ? "true" : "false", resync ? "true" : "false",
           events, pages, ncells);
    for (int m = 0; m < NMEASURES; m++) {
        printf("%s%" PRId64, m ? ", " : "", sums[m]);
    }
    printf("], \"units\": [%s]", units);
    if (o.cells) {
        printf(", \"cell_list\": [%s]", cells_buf ? cells_buf : "");
    }
    printf("}\n");
    free(units);
    free(cells_buf);
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int cmd_raw(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (o.hex) {
        size_t n = strlen(o.hex);
        if (n % 2) {
            die(2, "--hex needs an even number of digits");
        }
        buf = xmalloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) {
            int a = hexval(o.hex[2 * i]), b = hexval(o.hex[2 * i + 1]);
            if (a < 0 || b < 0) {
                die(2, "--hex: not a hex digit");
            }
            buf[len++] = (uint8_t)(a * 16 + b);
        }
    } else if (o.file) {
        FILE *f = fopen(o.file, "rb");
        if (!f) {
            die(2, "%s: %s", o.file, strerror(errno));
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = xmalloc((size_t)n + 1);
        len = fread(buf, 1, (size_t)n, f);
        fclose(f);
    } else {
        die(2, "raw needs --hex or --file");
    }
    open_socket(ZMQ_DEALER, o.endpoint);
    wait_handshake(o.timeout_ms);
    if (zmq_send(sock, buf, len, 0) < 0) {
        die(1, "send: %s", zmq_strerror(zmq_errno()));
    }
    free(buf);
    Dk__Envelope *r = recv_env(o.timeout_ms);
    if (!r) {
        printf("{\"type\": \"none\"}\n");
        return 3;
    }
    if (!print_refusal(r)) {
        printf("{\"type\": \"other\", \"case\": %d}\n", (int)r->msg_case);
    }
    wire_free(&r);
    return 0;
}

static int cmd_subscribe(void)
{
    open_socket(ZMQ_SUB, o.pub);
    zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    uint64_t got = 0;
    while (got < o.count) {
        Dk__Envelope *r = recv_env(o.timeout_ms);
        if (!r) {
            fprintf(stderr, "dk-testclient: no update within %d ms (%" PRIu64 " received)\n",
                    o.timeout_ms, got);
            return 3;
        }
        if (r->msg_case == DK__ENVELOPE__MSG_UPDATE) {
            printf("{\"version\": %" PRIu64 ", \"prev_version\": %" PRIu64 ", \"cells\": %zu"
                   ", \"units\": %zu}\n",
                   r->update->version, r->update->prev_version, r->update->n_cells,
                   r->update->n_units);
            fflush(stdout);
            got++;
        }
        wire_free(&r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: dk-testclient send|hello|heartbeat|snapshot|raw|subscribe --endpoint E "
                "--server-key K --key-file F [options] (see the comment at the top of "
                "tests/tools/dk-testclient.c)\n");
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'E'}, {"server-key", required_argument, NULL, 'K'},
        {"key-file", required_argument, NULL, 'F'}, {"commune", required_argument, NULL, 'C'},
        {"events", required_argument, NULL, 'N'},   {"batch", required_argument, NULL, 'B'},
        {"first-seq", required_argument, NULL, 'S'}, {"window", required_argument, NULL, 'W'},
        {"dup-every", required_argument, NULL, 'D'}, {"shuffle", no_argument, NULL, 'X'},
        {"seed", required_argument, NULL, 'R'},     {"bad-every", required_argument, NULL, 'b'},
        {"corrections", required_argument, NULL, 'c'}, {"voids", required_argument, NULL, 'v'},
        {"retry-ms", required_argument, NULL, 'r'}, {"timeout", required_argument, NULL, 't'},
        {"deadline", required_argument, NULL, 'd'}, {"no-hello", no_argument, NULL, 'H'},
        {"since", required_argument, NULL, 's'},    {"max-cells", required_argument, NULL, 'm'},
        {"cells", no_argument, NULL, 'L'},          {"hex", required_argument, NULL, 'x'},
        {"file", required_argument, NULL, 'f'},     {"pub", required_argument, NULL, 'P'},
        {"count", required_argument, NULL, 'n'},    {"backlog", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'E': o.endpoint = optarg; break;
        case 'K': o.server_key = optarg; break;
        case 'F': o.key_file = optarg; break;
        case 'C': o.commune = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'N': o.events = strtoull(optarg, NULL, 10); break;
        case 'B': o.batch = strtoull(optarg, NULL, 10); break;
        case 'S': o.first_seq = strtoull(optarg, NULL, 10); break;
        case 'W': o.window = strtoull(optarg, NULL, 10); break;
        case 'D': o.dup_every = strtoull(optarg, NULL, 10); break;
        case 'X': o.shuffle = true; break;
        case 'R': o.seed = strtoull(optarg, NULL, 10); break;
        case 'c': o.corrections = strtoull(optarg, NULL, 10); break;
        case 'v': o.voids = strtoull(optarg, NULL, 10); break;
        case 'b': o.bad_every = strtoull(optarg, NULL, 10); break;
        case 'r': o.retry_ms = atoi(optarg); break;
        case 't': o.timeout_ms = atoi(optarg); break;
        case 'd': o.deadline_s = atof(optarg); break;
        case 'H': o.no_hello = true; break;
        case 's': o.since = strtoull(optarg, NULL, 10); o.has_since = true; break;
        case 'm': o.max_cells = strtoull(optarg, NULL, 10); break;
        case 'L': o.cells = true; break;
        case 'x': o.hex = optarg; break;
        case 'f': o.file = optarg; break;
        case 'P': o.pub = optarg; break;
        case 'n': o.count = strtoull(optarg, NULL, 10); break;
        case 'k': o.backlog = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (o.batch == 0 || o.window == 0) {
        die(2, "--batch and --window must be > 0");
    }
    int rc = 2;
    if (strcmp(cmd, "send") == 0) {
        rc = cmd_send();
    } else if (strcmp(cmd, "hello") == 0) {
        rc = cmd_hello();
    } else if (strcmp(cmd, "heartbeat") == 0) {
        rc = cmd_heartbeat();
    } else if (strcmp(cmd, "snapshot") == 0) {
        rc = cmd_snapshot();
    } else if (strcmp(cmd, "raw") == 0) {
        rc = cmd_raw();
    } else if (strcmp(cmd, "subscribe") == 0) {
        rc = cmd_subscribe();
    } else {
        die(2, "unknown command '%s'", cmd);
    }
    fflush(stdout);
    if (sock) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(sock);
        zmq_close(mon);
        zmq_ctx_term(ctx);
    }
    return rc;
}
