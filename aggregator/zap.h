/* zap — the ZAP handler (RFC 27) that decides who may connect to the aggregator's CURVE sockets.
 *
 * A REP socket bound at inproc://zeromq.zap.01 in the aggregator's ZeroMQ context, driven by the
 * libuv loop through zloop. It must be started BEFORE any CURVE socket binds: without a handler
 * libzmq accepts every client key ("Stonehouse"). For each handshake it looks the client's public
 * key up in the table built from the config and answers:
 *   200 with User-Id "commune:<code>" for a commune agent's key,
 *   200 with User-Id "reader:<name>" for a reader key,
 *   400 for any other key or mechanism.
 * The server reads the User-Id from each message (zmq_msg_gets "User-Id") and never trusts a field
 * of the payload for identity. zap_set_conf swaps the table (SIGHUP): the next handshake uses it. */
#ifndef DK_ZAP_H
#define DK_ZAP_H

#include <stdint.h>
#include <uv.h>

#include "aconf.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct zap zap_t;

typedef enum {
    ZAP_PEER_NONE = 0,    /* not a User-Id this aggregator gives (e.g. NULL mechanism) */
    ZAP_PEER_COMMUNE = 1, /* a commune agent: may push events of that commune only */
    ZAP_PEER_READER = 2,  /* a reader: may only request snapshots and subscribe */
} zap_peer_t;

/* Binds the handler in ctx and starts serving it in loop. Returns 0 and *out, or DK_ENET when
 * the endpoint cannot be bound (another handler exists in ctx): the caller must not start. The
 * key table is copied from conf (conf may be freed afterwards). */
int zap_new(zap_t **out, void *ctx, uv_loop_t *loop, const aconf_t *conf);

/* Replaces the key table with one built from conf (copied). Handshakes after this call use it. */
void zap_set_conf(zap_t *self, const aconf_t *conf);

/* Stops polling and closes the socket; NULL-safe, idempotent, nulls *self_p. Call before the
 * loop is closed and before zmq_ctx_term. */
void zap_destroy(zap_t **self_p);

/* Handshakes answered so far: accepted and refused (for status and tests). */
uint64_t zap_accepted(const zap_t *self);
uint64_t zap_refused(const zap_t *self);

/* Parses a User-Id given by this handler. Returns the kind; *commune gets the code for a commune;
 * *reader (optional) points into user_id at the reader's name for a reader. */
zap_peer_t zap_user_parse(const char *user_id, uint32_t *commune, const char **reader);

#endif
