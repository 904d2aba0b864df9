/* server — the aggregator's CURVE ROUTER (agents push, readers pull) and CURVE PUB (live updates).
 *
 * Session protocol (proto/doanket.proto), one Envelope per frame, the peer's identity being the
 * ZAP User-Id of the frame (zap.h):
 *   Hello            -> Welcome (high_water, max_seq, version, instance from the store)
 *   Batch            -> Ack after the commit (ingest.h); a reader sending a Batch gets a Refusal;
 *                       when the ingest queue is full: Refusal DK_EAGAIN (resend later). An event
 *                       missing from an Ack's results is not decided yet: resend it later.
 *   Heartbeat        -> HeartbeatAck; the commune's last contact and backlog are recorded
 *   SnapshotRequest  -> Snapshot page (reader keys only; a commune gets a Refusal)
 *   anything that does not decode, is too large or is unknown -> Refusal (code, Vietnamese reason);
 *   the server keeps serving.
 * The ROUTER has ROUTER_MANDATORY, MAXMSGSIZE = 2 x WIRE_MAX_FRAME (frames over WIRE_MAX_FRAME get a
 * Refusal DK_ETOOBIG; over twice that libzmq drops the connection), heartbeats, linger 0; every send
 * is DONTWAIT and a reply to a peer that is gone or full is dropped (the agent resends; dedupe makes
 * it safe). After each commit the Update is published on the PUB socket (if configured). */
#ifndef DK_SERVER_H
#define DK_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "aconf.h"
#include "ingest.h"
#include "store.h"

typedef struct server server_t;

/* Creates both sockets in ctx with the aggregator's secret key (secret_key: 32 bytes), binds them
 * at conf->bind and conf->publish and starts serving in loop. The ZAP handler must already be
 * bound in ctx. store and ingest are borrowed and must outlive the server. Returns 0 and *out, or
 * DK_ENET (bind failed; the message names the endpoint). */
int server_new(server_t **out, void *ctx, uv_loop_t *loop, const aconf_t *conf,
               const uint8_t secret_key[32], store_t *store, ingest_t *ingest);

/* Uses conf (copied what it needs) from now on (SIGHUP). */
void server_set_conf(server_t *self, const aconf_t *conf);

/* Stops reading requests (the first step of shutdown); replies to batches still in ingest are
 * still sent when their commit returns. */
void server_stop(server_t *self);

/* Closes the sockets (linger 0) and frees; NULL-safe, idempotent, nulls *self_p. Call after
 * ingest is idle and before zmq_ctx_term. */
void server_destroy(server_t **self_p);

/* The actual endpoints bound (after wildcard ports are resolved); borrowed. */
const char *server_endpoint(const server_t *self);
const char *server_pub_endpoint(const server_t *self);

#endif
