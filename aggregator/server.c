/* server — ROUTER (sessions) and PUB (live updates). See server.h.
 *
 * Identity comes only from the ZAP User-Id of the received frame. Every reply is sent with
 * DONTWAIT through zloop (which re-arms the drain after the send, PITFALLS §1.2); a reply to a
 * peer that is gone or full is dropped: the agent resends and dedupe makes that safe. Nothing a
 * peer sends can stop the server: every failure becomes a Refusal or a log line. */
#define LOG_TAG "server"
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#include "err.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"
#include "zap.h"
#include "zloop.h"

#define SNAPSHOT_DEFAULT_CELLS 1000
#define SNAPSHOT_MAX_CELLS 4000
#define ROUTING_ID_MAX 256

/* At most one "cannot accept" line per this many seconds (the count of the others is in it). */
#define ACCEPT_FAIL_LOG_S 10
/* File descriptors the daemon needs beside one per connected peer (LMDB, libuv, ZeroMQ's own
 * sockets and pipes, HTTP clients, logs). */
#define NOFILE_RESERVE 64

struct server {
    zloop_sock_t *router;
    zloop_sock_t *monitor;   /* the ROUTER's socket monitor: connected peers for metrics */
    int *peers;              /* fds with a completed CURVE handshake */
    size_t npeers, cap_peers;
    uint64_t accept_failed;  /* ZMQ_EVENT_ACCEPT_FAILED since the last line logged */
    uint64_t accept_failed_total;
    int accept_errno;        /* errno of the last one */
    time_t accept_logged;    /* when the last "cannot accept" line was written (0: never) */
    zloop_sock_t *pub;
    store_t *store;
    ingest_t *ingest;
    uint32_t unit;
    char endpoint[256];
    char pub_endpoint[256];
    int stopped;
    uint64_t requests, refusals, dropped;
};

/* A batch waiting for its commit. */
typedef struct {
    server_t *server;
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    uint32_t commune;
    Dk__Envelope *env;
    zmq_msg_t frame;         /* the frame as received: the events' bytes point into it */
    const uint8_t **raw;     /* per event, or NULL (re-packed by ingest) */
    size_t *raw_len;
} batch_req_t;

/* Reads a protobuf varint from [*p, end). Returns 0 on success. */
static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* Calls back for every length-delimited field `want` in [buf, buf+len) (one message level).
 * Returns the number found, or -1 when the bytes are not a well-formed message. */
static long scan_field(const uint8_t *buf, size_t len, uint32_t want, const uint8_t **out,
                       size_t *out_len, size_t cap)
{
    const uint8_t *p = buf, *end = buf + len;
    long found = 0;
    while (p < end) {
        uint64_t key, v;
        if (rd_varint(&p, end, &key) < 0) {
            return -1;
        }
        switch (key & 7) {
        case 0:
            if (rd_varint(&p, end, &v) < 0) {
                return -1;
            }
            break;
        case 1:
            if (end - p < 8) {
                return -1;
            }
            p += 8;
            break;
        case 5:
            if (end - p < 4) {
                return -1;
            }
            p += 4;
            break;
        case 2:
            if (rd_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p)) {
                return -1;
            }
            if ((key >> 3) == want) {
                if ((size_t)found < cap) {
                    out[found] = p;
                    out_len[found] = (size_t)v;
                }
                found++;
            }
            p += v;
            break;
        default:
            return -1;
        }
    }
    return found;
}

/* Finds the packed bytes of each event of the batch in the received frame, so the store keeps
 * exactly what the agent sent (and ingest need not re-pack). Leaves req->raw NULL whenever the
 * frame is not the plain shape (one batch field, events in order): ingest then re-packs. */
static void slice_events(batch_req_t *req)
{
    const uint8_t *b[2];
    size_t bl[2];
    const uint8_t *frame = zmq_msg_data(&req->frame);
    size_t n = req->env->batch->n_events;
    if (n == 0 ||
        scan_field(frame, zmq_msg_size(&req->frame), 12, b, bl, 2) != 1) {
        return;
    }
    req->raw = xcalloc(n, sizeof *req->raw);
    req->raw_len = xcalloc(n, sizeof *req->raw_len);
    if (scan_field(b[0], bl[0], 2, req->raw, req->raw_len, n) != (long)n) {
        free(req->raw);
        free(req->raw_len);
        req->raw = NULL;
        req->raw_len = NULL;
    }
}

static void send_env(server_t *self, const void *rid, size_t rid_len, const Dk__Envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(env, &buf, &len);
    if (rc < 0) {
        log_error("cannot encode reply type=%d: %s", (int)env->msg_case, err_str(rc));
        return;
    }
    const void *parts[2] = {rid, buf};
    size_t lens[2] = {rid_len, len};
    rc = zloop_sock_send(self->router, parts, lens, 2);
    if (rc == DK_ENOTFOUND || rc == DK_EAGAIN) {
        self->dropped++;
        log_debug("reply dropped (peer gone or full): %s", err_str(rc));
    } else if (rc < 0) {
        self->dropped++;
        log_warn("reply not sent: %s", err_str(rc));
    }
    free(buf);
}

static void refuse(server_t *self, const void *rid, size_t rid_len, int code, const char *reason)
{
    Dk__Refusal r = DK__REFUSAL__INIT;
    r.has_code = true;
    r.code = code;
    r.reason = (char *)reason;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_REFUSAL;
    env.refusal = &r;
    self->refusals++;
    send_env(self, rid, rid_len, &env);
}

static const char *decode_reason_vi(int rc)
{
    switch (rc) {
    case DK_ETOOBIG:
        return "Gói tin quá lớn; hãy gửi lô nhỏ hơn.";
    case DK_EV_SCHEMA:
        return "Phiên bản dữ liệu mới hơn máy chủ hỗ trợ; hãy cập nhật máy chủ huyện.";
    default:
        return "Gói tin không đọc được (sai định dạng hoặc bị cắt cụt).";
    }
}

static void req_free(batch_req_t *req)
{
    wire_free(&req->env);
    zmq_msg_close(&req->frame);
    free(req->raw);
    free(req->raw_len);
    free(req);
}

/* ---- Batch ------------------------------------------------------------------------------------ */

static void on_batch_done(void *arg, const Dk__Ack *ack)
{
    batch_req_t *req = arg;
    if (ack) {
        Dk__Envelope env = DK__ENVELOPE__INIT;
        env.msg_case = DK__ENVELOPE__MSG_ACK;
        env.ack = (Dk__Ack *)ack;
        send_env(req->server, req->rid, req->rid_len, &env);
    }
    req_free(req);
}

static void handle_batch(server_t *self, const void *rid, size_t rid_len, uint32_t commune,
                         Dk__Envelope **env_p, zmq_msg_t *frame)
{
    batch_req_t *req = xcalloc(1, sizeof *req);
    req->server = self;
    memcpy(req->rid, rid, rid_len);
    req->rid_len = rid_len;
    req->commune = commune;
    req->env = *env_p;
    *env_p = NULL;
    zmq_msg_init(&req->frame);
    zmq_msg_move(&req->frame, frame);
    slice_events(req);
    int rc = ingest_submit_raw(self->ingest, commune, req->env->batch, req->raw, req->raw_len,
                               on_batch_done, req);
    if (rc == DK_EAGAIN) {
        refuse(self, rid, rid_len, DK_EAGAIN,
               "Máy chủ huyện đang bận; lô dữ liệu sẽ được gửi lại sau.");
    }
    if (rc < 0) {
        /* Busy or shutting down: no ack; the agent resends later. */
        req_free(req);
    }
}

/* ---- Hello, Heartbeat ------------------------------------------------------------------------ */

static void handle_hello(server_t *self, const void *rid, size_t rid_len, uint32_t commune,
                         const Dk__Hello *h)
{
    if (h->has_commune && h->commune != commune) {
        char reason[200];
        snprintf(reason, sizeof reason, "Khóa này thuộc xã %u, không phải xã %u.", commune,
                 h->commune);
        refuse(self, rid, rid_len, DK_EV_COMMUNE, reason);
        return;
    }
    store_unit_t u;
    memset(&u, 0, sizeof u);
    int rc = store_unit_get(self->store, commune, &u);
    if (rc < 0 && rc != DK_ENOTFOUND) {
        refuse(self, rid, rid_len, DK_ESTORE, "Máy chủ huyện tạm thời không đọc được dữ liệu.");
        return;
    }
    Dk__Welcome w = DK__WELCOME__INIT;
    w.has_commune = true;
    w.commune = commune;
    w.has_high_water = true;
    w.high_water = u.high_water;
    w.has_max_seq = true;
    w.max_seq = u.max_seq;
    w.has_version = true;
    w.version = ingest_version(self->ingest);
    w.has_server_time = true;
    w.server_time = (int64_t)time(NULL);
    if (u.instance_len > 0) {
        w.has_instance = true;
        w.instance.data = u.instance;
        w.instance.len = u.instance_len;
    }
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_WELCOME;
    env.welcome = &w;
    send_env(self, rid, rid_len, &env);
    ingest_touch(self->ingest, commune, (int64_t)time(NULL), 0, 0, 0,
                 h->has_instance ? h->instance.data : NULL, h->has_instance ? h->instance.len : 0);
    log_info("hello commune=%u high_water=%llu first_seq=%llu last_seq=%llu agent=%s", commune,
             (unsigned long long)u.high_water, (unsigned long long)h->first_seq,
             (unsigned long long)h->last_seq, h->agent_version ? h->agent_version : "?");
}

static void handle_heartbeat(server_t *self, const void *rid, size_t rid_len, uint32_t commune,
                             const Dk__Heartbeat *hb)
{
    ingest_touch(self->ingest, commune, (int64_t)time(NULL), hb->has_backlog, hb->backlog,
                 hb->oldest_waiting, NULL, 0);
    store_unit_t u;
    memset(&u, 0, sizeof u);
    (void)store_unit_get(self->store, commune, &u);
    Dk__HeartbeatAck a = DK__HEARTBEAT_ACK__INIT;
    a.has_high_water = true;
    a.high_water = u.high_water;
    a.has_version = true;
    a.version = ingest_version(self->ingest);
    a.has_server_time = true;
    a.server_time = (int64_t)time(NULL);
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT_ACK;
    env.heartbeat_ack = &a;
    send_env(self, rid, rid_len, &env);
}

/* ---- Snapshot -------------------------------------------------------------------------------- */

static void handle_snapshot(server_t *self, const void *rid, size_t rid_len,
                            const Dk__SnapshotRequest *sr)
{
    bool full = !sr->has_since_version;
    size_t max_cells = sr->has_max_cells && sr->max_cells > 0 ? sr->max_cells
                                                              : SNAPSHOT_DEFAULT_CELLS;
    if (max_cells > SNAPSHOT_MAX_CELLS) {
        max_cells = SNAPSHOT_MAX_CELLS;
    }
    if (sr->has_after && sr->after.len > STORE_CURSOR_MAX) {
        refuse(self, rid, rid_len, DK_EINVAL, "Con trỏ phân trang (after) không hợp lệ.");
        return;
    }
    /* A page must fit in one frame: halve the page until it does. */
    for (;;) {
        Dk__Snapshot *snap = NULL;
        int rc = store_snapshot_page(self->store, full, sr->since_version,
                                     sr->has_after ? sr->after.data : NULL,
                                     sr->has_after ? sr->after.len : 0, max_cells, &snap);
        if (rc == DK_EINVAL) {
            refuse(self, rid, rid_len, DK_EINVAL, "Con trỏ phân trang (after) không hợp lệ.");
            return;
        }
        if (rc < 0) {
            refuse(self, rid, rid_len, DK_ESTORE,
                   "Máy chủ tạm thời không đọc được dữ liệu; hãy thử lại.");
            return;
        }
        Dk__Envelope env = DK__ENVELOPE__INIT;
        env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT;
        env.snapshot = snap;
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = wire_encode(&env, &buf, &len);
        store_snapshot_free(&snap);
        if (rc == DK_ETOOBIG && max_cells > 1) {
            max_cells /= 2;
            continue;
        }
        if (rc < 0) {
            refuse(self, rid, rid_len, DK_ETOOBIG, "Trang dữ liệu quá lớn.");
            return;
        }
        const void *parts[2] = {rid, buf};
        size_t lens[2] = {rid_len, len};
        rc = zloop_sock_send(self->router, parts, lens, 2);
        if (rc < 0) {
            self->dropped++;
            log_debug("snapshot page dropped: %s", err_str(rc));
        }
        free(buf);
        return;
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static void on_router(zloop_sock_t *zs, zmq_msg_t *f, size_t n, void *arg)
{
    server_t *self = arg;
    (void)zs;
    if (n != 2) {
        log_warn("message with %zu frames ignored (one Envelope frame expected)", n);
        if (n > 2 && zmq_msg_size(&f[0]) <= ROUTING_ID_MAX) {
            refuse(self, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), DK_EDECODE,
                   "Mỗi tin nhắn phải là đúng một khung dữ liệu.");
        }
        return;
    }
    const void *rid = zmq_msg_data(&f[0]);
    size_t rid_len = zmq_msg_size(&f[0]);
    if (rid_len > ROUTING_ID_MAX) {
        return;
    }
    self->requests++;
    uint32_t commune = 0;
    const char *reader = NULL;
    const char *user = zloop_frame_user_id(&f[1]);
    zap_peer_t peer = zap_user_parse(user, &commune, &reader);
    if (peer == ZAP_PEER_NONE) {
        /* Only possible if ZAP were bypassed: refuse everything. */
        refuse(self, rid, rid_len, DK_EAUTH, "Khóa không được phép kết nối.");
        return;
    }
    Dk__Envelope *env = NULL;
    int rc = wire_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &env);
    if (rc < 0) {
        log_warn("undecodable frame from %s bytes=%zu: %s", user, zmq_msg_size(&f[1]),
                 err_str(rc));
        refuse(self, rid, rid_len, rc == DK_ETOOBIG || rc == DK_EV_SCHEMA ? rc : DK_EDECODE,
               decode_reason_vi(rc));
        return;
    }
    switch (env->msg_case) {
    case DK__ENVELOPE__MSG_BATCH:
        if (peer != ZAP_PEER_COMMUNE) {
            log_warn("reader=%s sent a batch; refused", reader);
            refuse(self, rid, rid_len, DK_EAUTH, "Khóa chỉ đọc không được gửi dữ liệu.");
            break;
        }
        handle_batch(self, rid, rid_len, commune, &env, &f[1]);
        break;
    case DK__ENVELOPE__MSG_HELLO:
        if (peer != ZAP_PEER_COMMUNE) {
            refuse(self, rid, rid_len, DK_EAUTH, "Khóa chỉ đọc không gửi lời chào của xã.");
            break;
        }
        handle_hello(self, rid, rid_len, commune, env->hello);
        break;
    case DK__ENVELOPE__MSG_HEARTBEAT:
        if (peer == ZAP_PEER_COMMUNE) {
            handle_heartbeat(self, rid, rid_len, commune, env->heartbeat);
        } else {
            Dk__HeartbeatAck a = DK__HEARTBEAT_ACK__INIT;
            a.has_version = true;
            a.version = ingest_version(self->ingest);
            a.has_server_time = true;
            a.server_time = (int64_t)time(NULL);
            Dk__Envelope e = DK__ENVELOPE__INIT;
            e.msg_case = DK__ENVELOPE__MSG_HEARTBEAT_ACK;
            e.heartbeat_ack = &a;
            send_env(self, rid, rid_len, &e);
        }
        break;
    case DK__ENVELOPE__MSG_SNAPSHOT_REQUEST:
        if (peer != ZAP_PEER_READER) {
            refuse(self, rid, rid_len, DK_EAUTH,
                   "Chỉ khóa đọc (tỉnh, bảng điều khiển) được lấy ảnh chụp số liệu.");
            break;
        }
        handle_snapshot(self, rid, rid_len, env->snapshot_request);
        break;
    default:
        refuse(self, rid, rid_len, DK_EDECODE, "Loại tin nhắn này không được gửi tới máy chủ.");
        break;
    }
    wire_free(&env);
}

/* ---- PUB ------------------------------------------------------------------------------------- */

static void publish_one(server_t *self, const Dk__Update *u)
{
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_UPDATE;
    env.update = (Dk__Update *)u;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(&env, &buf, &len);
    if (rc == DK_ETOOBIG && (u->n_cells > 1 || u->n_units > 1)) {
        /* Split: the same version and prev_version, cells (then units) in halves. A subscriber
         * applies absolute values, so it may apply every part of the version it now holds. */
        Dk__Update a = *u, b = *u;
        if (u->n_cells > 1) {
            a.n_cells = u->n_cells / 2;
            b.cells = u->cells + a.n_cells;
            b.n_cells = u->n_cells - a.n_cells;
            b.n_units = 0;
            b.units = NULL;
        } else {
            a.n_units = u->n_units / 2;
            b.units = u->units + a.n_units;
            b.n_units = u->n_units - a.n_units;
            b.n_cells = 0;
            b.cells = NULL;
        }
        publish_one(self, &a);
        publish_one(self, &b);
        return;
    }
    if (rc < 0) {
        log_warn("update version=%llu not published: %s", (unsigned long long)u->version,
                 err_str(rc));
        return;
    }
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    rc = zloop_sock_send(self->pub, parts, lens, 1);
    if (rc < 0 && rc != DK_EAGAIN) {
        log_debug("update not published: %s", err_str(rc));
    }
    free(buf);
}

static void on_commit(void *arg, const Dk__Update *u)
{
    server_t *self = arg;
    if (self->pub) {
        publish_one(self, u);
    }
}

/* ---- connected peers (socket monitor) -------------------------------------------------------- */

/* Logs the accept failures counted so far (at most once per ACCEPT_FAIL_LOG_S unless force). */
static void log_accept_failed(server_t *self, int force)
{
    time_t now = time(NULL);
    if (self->accept_failed == 0 ||
        (!force && self->accept_logged != 0 && now - self->accept_logged < ACCEPT_FAIL_LOG_S)) {
        return;
    }
    struct rlimit rl;
    long long soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                         ? (long long)rl.rlim_cur
                         : -1;
    log_warn("cannot accept connections at %s: %s (errno=%d) count=%llu in the last %llds "
             "total=%llu connected=%zu open-files-limit=%lld",
             self->endpoint, strerror(self->accept_errno), self->accept_errno,
             (unsigned long long)self->accept_failed,
             self->accept_logged ? (long long)(now - self->accept_logged) : 0LL,
             (unsigned long long)self->accept_failed_total, self->npeers, soft);
    self->accept_failed = 0;
    self->accept_logged = now;
}

/* Counts peers with a completed handshake (agents and readers); the event value is the fd, so a
 * disconnect is matched with its handshake. Accept failures (EMFILE when the open-files limit is
 * reached: the agent is refused and retries) were silent before; they are logged, rate-limited,
 * because libzmq retries the accept as long as the listening socket is readable. */
static void on_monitor(zloop_sock_t *zs, zmq_msg_t *f, size_t n, void *arg)
{
    server_t *self = arg;
    (void)zs;
    if (n < 1 || zmq_msg_size(&f[0]) < 6) {
        return;
    }
    uint16_t ev;
    uint32_t fd;
    memcpy(&ev, zmq_msg_data(&f[0]), 2);
    memcpy(&fd, (const char *)zmq_msg_data(&f[0]) + 2, 4);
    if (ev == ZMQ_EVENT_ACCEPT_FAILED) {
        /* the value is the errno */
        self->accept_failed++;
        self->accept_failed_total++;
        self->accept_errno = (int)fd;
        log_accept_failed(self, 0);
        return;
    }
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (self->npeers == self->cap_peers) {
            self->cap_peers = self->cap_peers ? 2 * self->cap_peers : 1024;
            self->peers = xrealloc(self->peers, self->cap_peers * sizeof *self->peers);
        }
        self->peers[self->npeers++] = (int)fd;
    } else if (ev == ZMQ_EVENT_DISCONNECTED) {
        for (size_t i = 0; i < self->npeers; i++) {
            if (self->peers[i] == (int)fd) {
                self->peers[i] = self->peers[--self->npeers];
                break;
            }
        }
    }
    metrics_set_agents((int64_t)self->npeers);
}

static void start_monitor(server_t *self, void *ctx, uv_loop_t *loop, void *router)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://dk-router-monitor-%p", (void *)self);
    if (zmq_socket_monitor(router, ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_ACCEPT_FAILED) != 0) {
        log_warn("no socket monitor (connected agents not counted): %s",
                 zmq_strerror(zmq_errno()));
        return;
    }
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    if (!mon || zmq_connect(mon, ep) != 0) {
        if (mon) {
            zmq_close(mon);
        }
        return;
    }
    self->monitor = zloop_sock_new(loop, &mon, on_monitor, self);
    if (!self->monitor) {
        zmq_close(mon);
        return;
    }
    zloop_sock_start(self->monitor);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* Every connected agent takes one file descriptor. A login shell's soft limit of 1,024 let about
 * 1,000 agents in and refused the others without a word, so the soft limit is raised to the hard
 * one (what `ulimit -n $(ulimit -Hn)` does; systemd's LimitNOFILE sets both) and the result is
 * logged, with a warning when it cannot hold every configured peer. */
static void raise_nofile(const aconf_t *conf)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("cannot raise the open-files limit from %llu to %llu: %s",
                     (unsigned long long)before, (unsigned long long)rl.rlim_max,
                     strerror(errno));
            rl.rlim_cur = before;
        }
    }
    unsigned long long need =
        (unsigned long long)conf->n_communes + conf->n_readers + NOFILE_RESERVE;
    if (rl.rlim_cur == RLIM_INFINITY) {
        log_info("open files limit=unlimited communes=%zu readers=%zu", conf->n_communes,
                 conf->n_readers);
        return;
    }
    char hard[32];
    if (rl.rlim_max == RLIM_INFINITY) {
        snprintf(hard, sizeof hard, "unlimited");
    } else {
        snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
    }
    log_info("open files limit=%llu (was %llu, hard %s) communes=%zu readers=%zu",
             (unsigned long long)rl.rlim_cur, (unsigned long long)before, hard,
             conf->n_communes, conf->n_readers);
    if ((unsigned long long)rl.rlim_cur < need) {
        log_warn("open files limit=%llu is below communes + readers + %d = %llu: not every agent "
                 "can connect; raise it (systemd LimitNOFILE=, or ulimit -n as root)",
                 (unsigned long long)rl.rlim_cur, NOFILE_RESERVE, need);
    }
}

static int setup_curve(void *s, const uint8_t secret[32], int heartbeat_ms)
{
    int one = 1, zero = 0;
    /* Twice the frame cap: a frame a little too large still reaches wire_decode and gets a
     * Refusal (DK_ETOOBIG) the agent can log; a far larger one is cut by libzmq (disconnect). */
    int64_t max = 2 * (int64_t)WIRE_MAX_FRAME;
    int ttl = heartbeat_ms * 3;
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 32) != 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &heartbeat_ms, sizeof heartbeat_ms) != 0 ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof ttl) != 0 ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "doanket", 7) != 0) {
        log_error("cannot set socket options: %s", zmq_strerror(zmq_errno()));
        return DK_ENET;
    }
    return 0;
}

int server_new(server_t **out, void *ctx, uv_loop_t *loop, const aconf_t *conf,
               const uint8_t secret_key[32], store_t *store, ingest_t *ingest)
{
    *out = NULL;
    server_t *self = xcalloc(1, sizeof *self);
    self->store = store;
    self->ingest = ingest;
    self->unit = (uint32_t)conf->agg.unit;
    raise_nofile(conf);
    int hb = (int)conf->agg.heartbeat;
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *pub = NULL;
    int one = 1;
    size_t len;
    if (!router || setup_curve(router, secret_key, hb) < 0 ||
        zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0) {
        goto fail;
    }
    if (zmq_bind(router, conf->agg.bind) != 0) {
        log_error("cannot bind the ROUTER at %s: %s", conf->agg.bind, zmq_strerror(zmq_errno()));
        goto fail;
    }
    len = sizeof self->endpoint;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, self->endpoint, &len);
    if (conf->agg.publish && conf->agg.publish[0]) {
        pub = zmq_socket(ctx, ZMQ_PUB);
        if (!pub || setup_curve(pub, secret_key, hb) < 0) {
            goto fail;
        }
        if (zmq_bind(pub, conf->agg.publish) != 0) {
            log_error("cannot bind the PUB at %s: %s", conf->agg.publish,
                      zmq_strerror(zmq_errno()));
            goto fail;
        }
        len = sizeof self->pub_endpoint;
        zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, self->pub_endpoint, &len);
        self->pub = zloop_sock_new(loop, &pub, NULL, self);
        if (!self->pub) {
            goto fail;
        }
    }
    start_monitor(self, ctx, loop, router);
    self->router = zloop_sock_new(loop, &router, on_router, self);
    if (!self->router || zloop_sock_start(self->router) < 0) {
        goto fail;
    }
    ingest_on_commit(ingest, on_commit, self);
    log_info("serving router=%s pub=%s heartbeat=%dms", self->endpoint,
             self->pub_endpoint[0] ? self->pub_endpoint : "(none)", hb);
    *out = self;
    return 0;
fail:
    if (router) {
        zmq_close(router);
    }
    if (pub) {
        zmq_close(pub);
    }
    zloop_sock_destroy(&self->router);
    zloop_sock_destroy(&self->pub);
    zloop_sock_destroy(&self->monitor);
    free(self->peers);
    free(self);
    return DK_ENET;
}

void server_set_conf(server_t *self, const aconf_t *conf)
{
    self->unit = (uint32_t)conf->agg.unit;
}

void server_stop(server_t *self)
{
    if (self && !self->stopped) {
        self->stopped = 1;
        zloop_sock_stop(self->router);
    }
}

void server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    server_t *self = *self_p;
    log_accept_failed(self, 1);
    zloop_sock_destroy(&self->monitor);
    zloop_sock_destroy(&self->router);
    zloop_sock_destroy(&self->pub);
    free(self->peers);
    log_info("closed requests=%llu refusals=%llu dropped=%llu",
             (unsigned long long)self->requests, (unsigned long long)self->refusals,
             (unsigned long long)self->dropped);
    free(self);
    *self_p = NULL;
}

const char *server_endpoint(const server_t *self)
{
    return self->endpoint;
}

const char *server_pub_endpoint(const server_t *self)
{
    return self->pub_endpoint;
}
