/* sender — `dk-agent run`'s session with the aggregator: pushes the outbox until acknowledged.
 *
 * One CURVE DEALER (ZMQ_IMMEDIATE=1, ZeroMQ heartbeats, RECONNECT_IVL_MAX, a short linger, sends
 * with ZMQ_DONTWAIT) driven by the libuv loop through zloop, plus a socket monitor to learn of
 * handshakes (succeeded, or refused: HANDSHAKE_FAILED_AUTH / _PROTOCOL) and disconnections.
 * Protocol: on each handshake, Hello (instance, first/last seq) -> Welcome (high_water, max_seq):
 * outbox_reconcile (continue numbering after max_seq; resend retained events above high_water);
 * then a window of unacknowledged Batches (<= 256 events each, well under WIRE_MAX_FRAME); each Ack
 * is applied to the outbox in one transaction (STORED/DUPLICATE -> acked, REJECTED -> rejected list;
 * REJECTED DK_EV_CONFLICT is never final: the event stays waiting and the sender says Hello again
 * at once, so the Welcome renumbers it above the aggregator's max_seq). Acks of batches sent before
 * a Welcome that renumbered are ignored (their seqs may name other events now; a resend costs a
 * DUPLICATE).
 * No answer within ack-timeout: the session is resynchronised (Hello again) after an exponential
 * backoff with jitter, without limit: an event is never dropped. Heartbeats carry the backlog and
 * the oldest waiting time. The session state is written into the outbox for `dk-agent status`. */
#ifndef DK_SENDER_H
#define DK_SENDER_H

#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "outbox.h"

typedef struct sender sender_t;

typedef struct {
    const char *endpoint;      /* tcp://host:port */
    const char *server_key;    /* Z85 public key of the aggregator */
    const keys_t *keys;        /* this commune's key pair */
    uint32_t batch;            /* events per batch (1..256) */
    uint32_t window;           /* batches in flight */
    int64_t heartbeat_ms;
    int64_t ack_timeout_ms;
    int64_t retry_max_ms;
    int64_t prune_ms;          /* how often to prune acknowledged events (0: hourly) */
} sender_opts_t;

/* A sender for ob in loop, with its own ZeroMQ context use (ctx). Returns NULL (logged) on a
 * socket or key error. */
sender_t *sender_new(uv_loop_t *loop, void *zctx, outbox_t *ob, const sender_opts_t *o);

/* Connects and starts. Returns 0 or DK_ENET. */
int sender_start(sender_t *s);

/* New events were recorded: push them now if the window allows. */
void sender_kick(sender_t *s);

/* Stops, closes the sockets (zloop: run the loop once more afterwards), writes the session state
 * as disconnected. NULL-safe, nulls the pointer. */
void sender_destroy(sender_t **self_p);

#endif
