/* sender — see sender.h.
 *
 * Why the protocol is shaped this way:
 *  - ZeroMQ is best-effort here (PITFALLS §2.5): anything in a pipe is lost on a reconnect. So the
 *    outbox is the truth, every (re)connection starts with Hello, and after each Welcome the sender
 *    walks the outbox's waiting events again from the oldest. Duplicates that this causes are
 *    harmless: the aggregator dedupes on (commune, seq) and acks them as DUPLICATE.
 *  - A batch that gets no Ack within ack-timeout means the session is not working (a stalled link,
 *    a restarted aggregator): we drop the in-flight bookkeeping, wait a backoff (doubling, with
 *    jitter, capped at retry-max) and Hello again. There is no retry limit: events wait forever.
 *  - The DEALER has ZMQ_IMMEDIATE, so a send with no live connection fails with EAGAIN instead of
 *    queueing into a pipe that may never be delivered; the timer simply tries again later.
 *  - The socket monitor tells us when the CURVE handshake succeeds (start a session) or is refused
 *    (the district does not know our key: `status` must say so, not hang). */
#define LOG_TAG "sender"
#include "sender.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "wire.h"
#include "xmalloc.h"
#include "zloop.h"

#define MAX_WINDOW 64
#define MAX_BATCH 256
/* Packed bytes of events per batch: well under WIRE_MAX_FRAME (the envelope adds a few bytes). */
#define BATCH_BYTES (WIRE_MAX_FRAME / 2)
#define TICK_MS 200

enum { PHASE_IDLE, PHASE_HELLO, PHASE_READY };

typedef struct {
    uint64_t batch_id;
    uint64_t sent_at;   /* uv_now */
    size_t n;
    uint64_t seqs[MAX_BATCH];
} flight_t;

struct sender {
    uv_loop_t *loop;
    void *zctx;
    outbox_t *ob;
    sender_opts_t o;
    char *endpoint;
    zloop_sock_t *dealer;
    zloop_sock_t *mon;
    uv_timer_t tick;
    bool tick_closed;
    int phase;
    bool transport_up;        /* handshake succeeded, not disconnected since */
    uint64_t hello_at;        /* when the last Hello was sent (uv_now), 0: none */
    uint64_t next_attempt;    /* uv_now before which no Hello is sent (backoff) */
    unsigned attempt;         /* consecutive failed attempts, for the backoff */
    flight_t *flight;         /* window */
    size_t nflight;
    uint64_t sent_upto;       /* highest seq sent in this session */
    uint64_t next_batch_id;
    uint64_t ack_floor;       /* Acks of batches with a lower id predate a renumbering: ignored */
    uint64_t last_heartbeat;  /* uv_now */
    uint64_t last_prune;      /* uv_now */
    uint64_t last_session_write;
    bool session_dirty;
    outbox_session_t sess;
};

static int64_t wall(void)
{
    return (int64_t)time(NULL);
}

static void session_changed(sender_t *s)
{
    s->session_dirty = true;
}

static void session_flush(sender_t *s, bool force)
{
    uint64_t now = uv_now(s->loop);
    if (!force && (!s->session_dirty || now - s->last_session_write < 1000)) {
        return;
    }
    s->sess.updated_at = wall();
    s->sess.pid = (int32_t)getpid();
    if (outbox_session_put(s->ob, &s->sess) == 0) {
        s->session_dirty = false;
        s->last_session_write = now;
    }
}

static void set_error(sender_t *s, const char *msg)
{
    if (strcmp(s->sess.last_error, msg) != 0) {
        snprintf(s->sess.last_error, sizeof s->sess.last_error, "%s", msg);
        session_changed(s);
    }
}

static uint64_t backoff_ms(sender_t *s)
{
    uint64_t base = 500;
    for (unsigned i = 0; i < s->attempt && base < (uint64_t)s->o.retry_max_ms; i++) {
        base *= 2;
    }
    if (base > (uint64_t)s->o.retry_max_ms) {
        base = (uint64_t)s->o.retry_max_ms;
    }
    /* Full jitter in [base/2, base): a fleet of communes never retries in step. */
    uint32_t r;
    randombytes_buf(&r, sizeof r);
    return base / 2 + (base / 2 ? r % (base / 2) : 0);
}

/* ---- sending ------------------------------------------------------------------------------------ */

static int send_env(sender_t *s, Dk__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    int rc = wire_encode(env, &buf, &len);
    if (rc != 0) {
        log_error("encode: %s", err_str(rc));
        return rc;
    }
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    rc = zloop_sock_send(s->dealer, parts, lens, 1);
    free(buf);
    return rc;
}

static void send_hello(sender_t *s)
{
    outbox_stats_t st;
    if (outbox_stats(s->ob, &st) != 0) {
        return;
    }
    Dk__Hello h = DK__HELLO__INIT;
    h.has_commune = 1;
    h.commune = outbox_commune(s->ob);
    h.has_instance = 1;
    h.instance.data = (uint8_t *)outbox_instance(s->ob);
    h.instance.len = OUTBOX_INSTANCE_LEN;
    h.has_first_seq = 1;
    h.first_seq = st.first_seq;
    h.has_last_seq = 1;
    h.last_seq = st.last_seq;
    h.agent_version = "doanket-agent 0.1";
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    s->nflight = 0;
    s->sent_upto = 0;
    s->phase = PHASE_HELLO;
    s->hello_at = uv_now(s->loop);
    int rc = send_env(s, &env);
    if (rc != 0) {
        log_debug("hello not sent: %s", err_str(rc));
    } else {
        log_info("hello commune=%u first_seq=%llu last_seq=%llu", h.commune,
                 (unsigned long long)st.first_seq, (unsigned long long)st.last_seq);
    }
}

static void send_heartbeat(sender_t *s)
{
    outbox_stats_t st;
    if (outbox_stats(s->ob, &st) != 0) {
        return;
    }
    Dk__Heartbeat hb = DK__HEARTBEAT__INIT;
    hb.has_backlog = 1;
    hb.backlog = st.waiting;
    hb.has_oldest_waiting = 1;
    hb.oldest_waiting = st.oldest_waiting;
    hb.has_sent_at = 1;
    hb.sent_at = wall();
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    s->last_heartbeat = uv_now(s->loop);
    send_env(s, &env);
}

/* Fills the window with batches of waiting events after sent_upto. */
static void fill_window(sender_t *s)
{
    if (s->phase != PHASE_READY) {
        return;
    }
    outbox_entry_t *ents = xcalloc(s->o.batch, sizeof *ents);
    while (s->nflight < s->o.window) {
        int n = outbox_next_waiting(s->ob, s->sent_upto, ents, s->o.batch);
        if (n <= 0) {
            break;
        }
        Dk__Event **evs = xcalloc((size_t)n, sizeof *evs);
        size_t k = 0, bytes = 0;
        for (int i = 0; i < n; i++) {
            if (k > 0 && bytes + ents[i].packed_len > BATCH_BYTES) {
                break;
            }
            if (wire_event_decode(ents[i].packed, ents[i].packed_len, &evs[k]) != 0) {
                log_error("outbox seq=%llu does not decode; skipped in this batch",
                          (unsigned long long)ents[i].seq);
                continue;
            }
            bytes += ents[i].packed_len;
            k++;
        }
        flight_t *f = &s->flight[s->nflight];
        f->batch_id = ++s->next_batch_id;
        f->n = 0;
        for (size_t i = 0; i < k; i++) {
            f->seqs[f->n++] = evs[i]->seq;
        }
        uint64_t last = ents[n - 1].seq;
        /* Events not taken because of the byte cap go in the next batch. */
        if (k > 0 && (int)k < n) {
            last = evs[k - 1]->seq;
        }
        Dk__Batch b = DK__BATCH__INIT;
        b.has_batch_id = 1;
        b.batch_id = f->batch_id;
        b.n_events = k;
        b.events = evs;
        Dk__Envelope env = DK__ENVELOPE__INIT;
        env.msg_case = DK__ENVELOPE__MSG_BATCH;
        env.batch = &b;
        int rc = k > 0 ? send_env(s, &env) : 0;
        for (size_t i = 0; i < k; i++) {
            wire_event_free(&evs[i]);
        }
        free(evs);
        for (int i = 0; i < n; i++) {
            outbox_entry_clear(&ents[i]);
        }
        if (rc != 0) {
            /* EAGAIN: no live connection (IMMEDIATE) or the pipe is full; the tick retries. */
            log_debug("batch not sent: %s", err_str(rc));
            break;
        }
        if (k > 0) {
            f->sent_at = uv_now(s->loop);
            s->nflight++;
            log_debug("batch id=%llu events=%zu last_seq=%llu", (unsigned long long)f->batch_id,
                      k, (unsigned long long)last);
        }
        s->sent_upto = last;
    }
    free(ents);
}

/* ---- receiving ---------------------------------------------------------------------------------- */

static void on_welcome(sender_t *s, const Dk__Welcome *w)
{
    if (w->has_commune && w->commune != outbox_commune(s->ob)) {
        log_error("welcome for commune=%u, we are commune=%u", w->commune,
                  outbox_commune(s->ob));
        set_error(s, "welcome for another commune");
        return;
    }
    uint64_t resent = 0, renum = 0;
    int rc = outbox_reconcile(s->ob, w->has_high_water ? w->high_water : 0,
                              w->has_max_seq ? w->max_seq : 0,
                              w->has_instance ? w->instance.data : NULL,
                              w->has_instance ? w->instance.len : 0, &resent, &renum);
    if (rc != 0) {
        set_error(s, "outbox reconcile failed");
        return;
    }
    log_info("welcome commune=%u high_water=%llu max_seq=%llu resent=%llu renumbered=%llu",
             outbox_commune(s->ob), (unsigned long long)w->high_water,
             (unsigned long long)w->max_seq, (unsigned long long)resent,
             (unsigned long long)renum);
    if (renum > 0) {
        /* An Ack still on its way for a batch sent before this renumbering names old numbers,
         * some of which may now belong to other events: applying it could mark an event acked
         * that the aggregator never got. Ignoring it only costs a resend (DUPLICATE). */
        s->ack_floor = s->next_batch_id + 1;
    }
    s->phase = PHASE_READY;
    s->attempt = 0;
    s->nflight = 0;
    s->sent_upto = 0;
    s->sess.connected = true;
    s->sess.auth_refused = false;
    s->sess.high_water = w->high_water;
    s->sess.last_contact = wall();
    set_error(s, "");
    session_changed(s);
    session_flush(s, true);
    fill_window(s);
}

static void on_ack(sender_t *s, const Dk__Ack *a)
{
    if ((a->has_batch_id ? a->batch_id : 0) < s->ack_floor) {
        log_debug("ack of batch id=%llu predates a renumbering: ignored (resent instead)",
                  (unsigned long long)a->batch_id);
        return;
    }
    uint64_t *acked = xcalloc(a->n_results + 1, sizeof *acked);
    outbox_reject_t *rej = xcalloc(a->n_results + 1, sizeof *rej);
    size_t na = 0, nr = 0, conflicts = 0;
    for (size_t i = 0; i < a->n_results; i++) {
        const Dk__EventResult *r = a->results[i];
        if (!r->has_seq) {
            continue;
        }
        if (r->result == DK__RESULT_CODE__STORED || r->result == DK__RESULT_CODE__DUPLICATE) {
            acked[na++] = r->seq;
        } else if (r->result == DK__RESULT_CODE__REJECTED) {
            rej[nr].seq = r->seq;
            rej[nr].code = r->has_code ? r->code : 0;
            rej[nr].field = r->field;
            rej[nr].reason = r->reason;
            conflicts += rej[nr].code == DK_EV_CONFLICT;
            nr++;
        }
    }
    int64_t now = wall();
    /* Results are the aggregator's committed truth: apply them even for a batch of an older
     * session (unless a renumbering happened since it was sent: ack_floor above). */
    if (outbox_apply_results(s->ob, acked, na, rej, nr, now) == 0) {
        s->sess.last_ack = now;
        s->sess.last_contact = now;
        if (a->has_high_water) {
            s->sess.high_water = a->high_water;
        }
        session_changed(s);
    }
    free(acked);
    free(rej);
    for (size_t i = 0; i < s->nflight; i++) {
        if (s->flight[i].batch_id == a->batch_id) {
            memmove(&s->flight[i], &s->flight[i + 1], (s->nflight - i - 1) * sizeof *s->flight);
            s->nflight--;
            break;
        }
    }
    if (conflicts > 0) {
        /* The aggregator holds other events under some of our numbers (outbox restored from an
         * older image, or a second machine with the same key). The outbox marked them; a new
         * Hello gets the aggregator's current max_seq and the Welcome renumbers them above it.
         * Backoff (reset by the Welcome) in case two machines keep colliding. */
        log_warn("%zu events answered DK_EV_CONFLICT: resynchronising to renumber them",
                 conflicts);
        s->phase = PHASE_IDLE;
        s->nflight = 0;
        s->attempt++;
        s->next_attempt = uv_now(s->loop) + backoff_ms(s);
        return;
    }
    if (s->nflight == 0) {
        /* Nothing in flight: walk from the oldest waiting event again, so an event the Ack did
         * not mention is never left behind. */
        s->sent_upto = 0;
    }
    s->attempt = 0;
    fill_window(s);
    if (s->nflight == 0) {
        /* The backlog is drained: give back the pages the drain mapped (issue 4: <= 4 MB). */
        outbox_trim(s->ob);
    }
}

static void on_message(zloop_sock_t *zs, zmq_msg_t *frames, size_t nframes, void *arg)
{
    sender_t *s = arg;
    Dk__Envelope *env = NULL;
    int rc = wire_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]), &env);
    if (rc != 0) {
        log_warn("undecodable message from aggregator: %s", err_str(rc));
        return;
    }
    s->sess.last_contact = wall();
    switch (env->msg_case) {
    case DK__ENVELOPE__MSG_WELCOME:
        on_welcome(s, env->welcome);
        break;
    case DK__ENVELOPE__MSG_ACK:
        on_ack(s, env->ack);
        break;
    case DK__ENVELOPE__MSG_HEARTBEAT_ACK:
        session_changed(s);
        break;
    case DK__ENVELOPE__MSG_REFUSAL: {
        char msg[200];
        snprintf(msg, sizeof msg, "refused by aggregator: code=%d %s",
                 env->refusal->has_code ? env->refusal->code : 0,
                 env->refusal->reason ? env->refusal->reason : "");
        log_warn("%s", msg);
        set_error(s, msg);
        /* Start over after a backoff. */
        s->phase = PHASE_IDLE;
        s->attempt++;
        s->next_attempt = uv_now(s->loop) + backoff_ms(s);
        break;
    }
    default:
        log_debug("ignored message case=%d", env->msg_case);
        break;
    }
    wire_free(&env);
}

static void on_monitor(zloop_sock_t *zs, zmq_msg_t *frames, size_t nframes, void *arg)
{
    sender_t *s = arg;
    if (nframes < 1 || zmq_msg_size(&frames[0]) < 6) {
        return;
    }
    const uint8_t *d = zmq_msg_data(&frames[0]);
    uint16_t event;
    memcpy(&event, d, 2);
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        log_info("connected to %s", s->endpoint);
        s->transport_up = true;
        s->sess.auth_refused = false;
        session_changed(s);
        s->attempt = 0;
        s->next_attempt = 0;
        send_hello(s);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (s->transport_up) {
            log_info("disconnected from %s", s->endpoint);
        }
        s->transport_up = false;
        s->phase = PHASE_IDLE;
        s->nflight = 0;
        s->sess.connected = false;
        session_changed(s);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (!s->sess.auth_refused) {
            log_error("aggregator %s refused our key (handshake failed, event=%u)", s->endpoint,
                      event);
        }
        s->sess.auth_refused = true;
        s->sess.connected = false;
        set_error(s, "handshake refused: key not accepted by the aggregator");
        session_changed(s);
        session_flush(s, true);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        set_error(s, "handshake failed");
        break;
    default:
        break;
    }
}

/* ---- the tick ----------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    sender_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    uint64_t timeout = (uint64_t)s->o.ack_timeout_ms;
    if (s->transport_up) {
        if (s->phase == PHASE_IDLE && now >= s->next_attempt) {
            send_hello(s);
        } else if (s->phase == PHASE_HELLO && now - s->hello_at > timeout) {
            log_warn("no welcome within %llu ms; retrying", (unsigned long long)timeout);
            set_error(s, "no answer from the aggregator");
            s->sess.connected = false;
            session_changed(s);
            s->phase = PHASE_IDLE;
            s->attempt++;
            s->next_attempt = now + backoff_ms(s);
        } else if (s->phase == PHASE_READY) {
            if (s->nflight > 0 && now - s->flight[0].sent_at > timeout) {
                log_warn("batch id=%llu not acknowledged within %llu ms; resynchronising",
                         (unsigned long long)s->flight[0].batch_id, (unsigned long long)timeout);
                set_error(s, "acknowledgement timed out");
                s->sess.connected = false;
                session_changed(s);
                s->phase = PHASE_IDLE;
                s->nflight = 0;
                s->attempt++;
                s->next_attempt = now + backoff_ms(s);
            } else {
                fill_window(s);
                if (now - s->last_heartbeat >= (uint64_t)s->o.heartbeat_ms) {
                    send_heartbeat(s);
                }
            }
        }
    }
    if (now - s->last_prune >= (uint64_t)s->o.prune_ms) {
        s->last_prune = now;
        if (outbox_prune(s->ob, wall()) > 0) {
            outbox_trim(s->ob);
        }
    }
    if (now - s->last_session_write > 15000) {
        session_changed(s); /* a fresh updated_at tells `status` the daemon is alive */
    }
    session_flush(s, false);
}

/* ---- life cycle --------------------------------------------------------------------------------- */

sender_t *sender_new(uv_loop_t *loop, void *zctx, outbox_t *ob, const sender_opts_t *o)
{
    sender_t *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->zctx = zctx;
    s->ob = ob;
    s->o = *o;
    if (s->o.batch == 0 || s->o.batch > MAX_BATCH) {
        s->o.batch = MAX_BATCH;
    }
    if (s->o.window == 0 || s->o.window > MAX_WINDOW) {
        s->o.window = 4;
    }
    if (s->o.prune_ms <= 0) {
        s->o.prune_ms = 3600 * 1000;
    }
    s->endpoint = xstrdup(o->endpoint);
    s->flight = xcalloc(s->o.window, sizeof *s->flight);
    outbox_session_get(ob, &s->sess);
    s->sess.connected = false;
    s->sess.auth_refused = false;
    s->sess.last_error[0] = '\0';

    void *z = zmq_socket(zctx, ZMQ_DEALER);
    if (!z) {
        log_error("zmq_socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int one = 1, linger = 500, ivl = 100, ivl_max = (int)o->retry_max_ms;
    int hb = (int)(o->heartbeat_ms < 5000 ? o->heartbeat_ms : 5000);
    int hb_timeout = hb * 3;
    int64_t maxmsg = WIRE_MAX_FRAME;
    zmq_setsockopt(z, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (ivl_max > 0) {
        if (ivl_max > 30000) {
            ivl_max = 30000;
        }
        zmq_setsockopt(z, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    }
    zmq_setsockopt(z, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_TTL, &hb_timeout, sizeof hb_timeout);
    zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (keys_apply_client(z, o->keys, o->server_key) != 0) {
        log_error("cannot apply CURVE keys (check key-file and server-key)");
        zmq_close(z);
        goto fail;
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://dk-agent-monitor-%p", (void *)s);
    if (zmq_socket_monitor(z, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        log_error("zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
        zmq_close(z);
        goto fail;
    }
    void *m = zmq_socket(zctx, ZMQ_PAIR);
    zmq_setsockopt(m, ZMQ_LINGER, &linger, sizeof linger);
    if (!m || zmq_connect(m, mon_ep) != 0) {
        log_error("monitor connect: %s", zmq_strerror(zmq_errno()));
        if (m) {
            zmq_close(m);
        }
        zmq_close(z);
        goto fail;
    }
    s->mon = zloop_sock_new(loop, &m, on_monitor, s);
    s->dealer = zloop_sock_new(loop, &z, on_message, s);
    if (!s->mon || !s->dealer) {
        if (m) {
            zmq_close(m);
        }
        if (z) {
            zmq_close(z);
        }
        zloop_sock_destroy(&s->mon);
        zloop_sock_destroy(&s->dealer);
        goto fail;
    }
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    return s;
fail:
    free(s->flight);
    free(s->endpoint);
    free(s);
    return NULL;
}

int sender_start(sender_t *s)
{
    if (zloop_sock_start(s->mon) != 0 || zloop_sock_start(s->dealer) != 0) {
        return DK_ENET;
    }
    if (zmq_connect(zloop_sock_zsock(s->dealer), s->endpoint) != 0) {
        log_error("connect %s: %s", s->endpoint, zmq_strerror(zmq_errno()));
        return DK_ENET;
    }
    s->last_prune = uv_now(s->loop);
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    session_changed(s);
    session_flush(s, true);
    log_info("sending commune=%u to %s", outbox_commune(s->ob), s->endpoint);
    return 0;
}

void sender_kick(sender_t *s)
{
    if (s) {
        fill_window(s);
    }
}

static void on_tick_closed(uv_handle_t *h)
{
    free(h->data);
}

void sender_destroy(sender_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sender_t *s = *self_p;
    *self_p = NULL;
    s->sess.connected = false;
    session_changed(s);
    session_flush(s, true);
    if (s->dealer) {
        zmq_socket_monitor(zloop_sock_zsock(s->dealer), NULL, 0);
    }
    zloop_sock_destroy(&s->mon);
    zloop_sock_destroy(&s->dealer);
    free(s->flight);
    free(s->endpoint);
    uv_timer_stop(&s->tick);
    /* The struct lives until the timer handle's close callback. */
    s->tick.data = s;
    uv_close((uv_handle_t *)&s->tick, on_tick_closed);
}
