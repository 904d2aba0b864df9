/* zap — ZAP handler (RFC 27) for the aggregator's CURVE sockets. See zap.h.
 *
 * The handler runs in the loop thread like every other socket: libzmq's I/O thread sends it a
 * request per CURVE handshake over inproc and waits for the reply, so the lookup must be fast (a
 * binary search over the key table, no I/O). */
#define LOG_TAG "zap"
#include "zap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "err.h"
#include "log.h"
#include "xmalloc.h"
#include "zloop.h"

typedef struct {
    uint8_t key[32];   /* binary public key */
    char user_id[80];  /* "commune:24664" or "reader:province" */
} zap_entry_t;

struct zap {
    zloop_sock_t *zs;
    zap_entry_t *table; /* sorted by key */
    size_t n;
    uint64_t accepted, refused;
};

static int entry_cmp(const void *a, const void *b)
{
    return memcmp(((const zap_entry_t *)a)->key, ((const zap_entry_t *)b)->key, 32);
}

static void build_table(const aconf_t *conf, zap_entry_t **out, size_t *n_out)
{
    size_t n = conf->n_communes + conf->n_readers, k = 0;
    zap_entry_t *t = xcalloc(n ? n : 1, sizeof *t);
    for (size_t i = 0; i < conf->n_communes; i++) {
        const aconf_commune_t *c = &conf->communes[i];
        if (!c->public_key || !zmq_z85_decode(t[k].key, c->public_key)) {
            log_warn("commune=%lld public key does not decode; ignored", (long long)c->code);
            continue;
        }
        snprintf(t[k].user_id, sizeof t[k].user_id, "commune:%lld", (long long)c->code);
        k++;
    }
    for (size_t i = 0; i < conf->n_readers; i++) {
        const aconf_reader_t *r = &conf->readers[i];
        if (!r->public_key || !zmq_z85_decode(t[k].key, r->public_key)) {
            log_warn("reader=%s public key does not decode; ignored", r->name);
            continue;
        }
        snprintf(t[k].user_id, sizeof t[k].user_id, "reader:%s", r->name);
        k++;
    }
    if (k > 1) {
        qsort(t, k, sizeof *t, entry_cmp);
    }
    *out = t;
    *n_out = k;
}

static const char *lookup(const zap_t *self, const uint8_t key[32])
{
    zap_entry_t probe;
    memcpy(probe.key, key, 32);
    const zap_entry_t *e = bsearch(&probe, self->table, self->n, sizeof probe, entry_cmp);
    return e ? e->user_id : NULL;
}

static void reply(zap_t *self, zmq_msg_t *request_id, const char *status, const char *text,
                  const char *user_id)
{
    const void *parts[6] = {"1.0", zmq_msg_data(request_id), status, text, user_id, ""};
    size_t lens[6] = {3, zmq_msg_size(request_id), strlen(status), strlen(text), strlen(user_id),
                      0};
    int rc = zloop_sock_send(self->zs, parts, lens, 6);
    if (rc < 0) {
        log_warn("cannot send ZAP reply: %s", err_str(rc));
    }
}

static void on_request(zloop_sock_t *zs, zmq_msg_t *f, size_t n, void *arg)
{
    zap_t *self = arg;
    (void)zs;
    /* version, request-id, domain, address, identity, mechanism, credentials... */
    if (n < 6) {
        log_warn("malformed ZAP request (%zu frames)", n);
        return; /* cannot answer without a request id; libzmq times the handshake out */
    }
    const char *addr_s = zmq_msg_data(&f[3]);
    char addr[64];
    snprintf(addr, sizeof addr, "%.*s", (int)(zmq_msg_size(&f[3]) < 63 ? zmq_msg_size(&f[3]) : 63),
             addr_s);
    if (zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0) {
        reply(self, &f[1], "500", "version not supported", "");
        return;
    }
    if (n != 7 || zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0 ||
        zmq_msg_size(&f[6]) != 32) {
        self->refused++;
        log_warn("refused peer=%s: not a CURVE handshake", addr);
        reply(self, &f[1], "400", "CURVE required", "");
        return;
    }
    const char *user = lookup(self, zmq_msg_data(&f[6]));
    char z85[41];
    zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
    if (!user) {
        self->refused++;
        log_warn("refused peer=%s public-key=%s: not in the config", addr, z85);
        reply(self, &f[1], "400", "unknown key", "");
        return;
    }
    self->accepted++;
    log_debug("accepted peer=%s user=%s", addr, user);
    reply(self, &f[1], "200", "OK", user);
}

int zap_new(zap_t **out, void *ctx, uv_loop_t *loop, const aconf_t *conf)
{
    *out = NULL;
    void *sock = zmq_socket(ctx, ZMQ_REP);
    if (!sock) {
        log_error("cannot create the ZAP socket: %s", zmq_strerror(zmq_errno()));
        return DK_ENET;
    }
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(sock, ZAP_ENDPOINT) != 0) {
        log_error("cannot bind the ZAP handler at %s: %s", ZAP_ENDPOINT,
                  zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return DK_ENET;
    }
    zap_t *self = xcalloc(1, sizeof *self);
    build_table(conf, &self->table, &self->n);
    self->zs = zloop_sock_new(loop, &sock, on_request, self);
    if (!self->zs || zloop_sock_start(self->zs) < 0) {
        if (sock) {
            zmq_close(sock);
        }
        zap_destroy(&self);
        return DK_ENET;
    }
    log_info("ZAP handler ready keys=%zu", self->n);
    *out = self;
    return 0;
}

void zap_set_conf(zap_t *self, const aconf_t *conf)
{
    zap_entry_t *t;
    size_t n;
    build_table(conf, &t, &n);
    free(self->table);
    self->table = t;
    self->n = n;
    log_info("ZAP key table replaced keys=%zu", n);
}

void zap_destroy(zap_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    zap_t *self = *self_p;
    zloop_sock_destroy(&self->zs);
    free(self->table);
    free(self);
    *self_p = NULL;
}

uint64_t zap_accepted(const zap_t *self)
{
    return self->accepted;
}

uint64_t zap_refused(const zap_t *self)
{
    return self->refused;
}

zap_peer_t zap_user_parse(const char *user_id, uint32_t *commune, const char **reader)
{
    if (!user_id) {
        return ZAP_PEER_NONE;
    }
    if (strncmp(user_id, "commune:", 8) == 0) {
        char *end;
        unsigned long v = strtoul(user_id + 8, &end, 10);
        if (*end != '\0' || v == 0 || v > 99999) {
            return ZAP_PEER_NONE;
        }
        if (commune) {
            *commune = (uint32_t)v;
        }
        return ZAP_PEER_COMMUNE;
    }
    if (strncmp(user_id, "reader:", 7) == 0 && user_id[7] != '\0') {
        if (reader) {
            *reader = user_id + 7;
        }
        return ZAP_PEER_READER;
    }
    return ZAP_PEER_NONE;
}
