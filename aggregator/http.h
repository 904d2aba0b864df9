/* http — the dashboard's HTTP server: libmicrohttpd inside the aggregator's libuv loop.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread of its own: its epoll fd is watched by one
 * uv_poll, MHD_run() runs when it is readable and from a uv_timer armed with MHD_get_timeout().
 * Everything (requests, SSE fan-out, store reads) therefore happens on the loop thread.
 *
 * Serves: `/` and static files of the dashboard (aggregator/web/), the JSON API under
 * `/api/v1/` (aggregator/api.h, docs/api.md), Server-Sent Events at `/api/v1/stream`,
 * `/metrics` (Prometheus) and `/healthz`. Read-only: GET and HEAD only, anything else 405 —
 * except the one action route POST /api/v1/children/NAME/pull (asks the child puller for a pull
 * now; no body; refused with 403 when a browser's Origin is not this server).
 * Bounded: request line + headers per connection (max-request), connection limit, idle timeout per
 * connection, and each SSE client has a bounded queue (past sse-queue bytes its queue is replaced
 * by one "reload" event, so a stalled client never grows memory).
 *
 * Config, the [http] section of the aggregator's file (all optional):
 *   [http]
 *   enabled = yes
 *   bind = 127.0.0.1                 ; address to listen on (IPv4 or IPv6 literal)
 *   port = 8080                      ; 0: any free port (logged; http_port() tells)
 *   max-connections = 64
 *   timeout = 30s                    ; idle time before a connection is closed
 *   max-request = 16KiB              ; request line + headers
 *   sse-clients = 32                 ; SSE streams at once (more: 503)
 *   sse-queue = 256KiB               ; per SSE client before it is told to reload
 *   keepalive = 15s                  ; SSE ": keep-alive" comment interval
 *   plan = ../plan/dak-mil-2023.ini  ; plan targets file (config/plan/ format), empty: none
 *   web-dir =                        ; folder of the page; empty: the built-in aggregator/web
 *   month-start = 1                  ; reporting month starts on this day (15: 15th..14th)
 *   silent-after = 24h               ; a commune not heard from for this long shows as silent
 *
 * The caller (aggregator/main.c `run`) must ignore SIGPIPE before uv_run. */
#ifndef DK_HTTP_H
#define DK_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aconf.h"
#include "child.h"
#include "conf.h"
#include "doanket.pb-c.h"

struct store;
typedef struct http http_t;

typedef struct {
    bool enabled;
    char *bind;
    int64_t port;
    int64_t max_connections;
    int64_t timeout;       /* ms */
    int64_t max_request;   /* bytes */
    int64_t sse_clients;
    int64_t sse_queue;     /* bytes */
    int64_t keepalive;     /* ms */
    char *plan;            /* NULL: no plan file */
    char *web_dir;         /* NULL: DK_WEB_DIR */
    int64_t month_start;   /* 1..28 */
    int64_t silent_after;  /* ms: a commune not heard from for this long is "silent" */
} http_conf_t;

/* The [http] key table (for conf_print_doc / --help). Ends with { NULL }. */
extern const conf_key_t http_conf_keys[];

/* Fills *out from conf's [http] section (defaults when absent). Relative paths are resolved
 * against the config file's folder. Returns 0 or DK_ECONFIG with one line in err naming the file,
 * line and key. *out must be zeroed; free it with http_conf_release. */
int http_conf_load(const aconf_t *conf, http_conf_t *out, char *err, size_t errlen);
void http_conf_release(http_conf_t *c);

/* Creates the server for conf (borrowed: must outlive the server) reading from store (borrowed).
 * Loads the [http] section and the plan file. Returns 0, or DK_ECONFIG with a line in err. */
int http_new(http_t **out, const aconf_t *conf, struct store *store, char *err, size_t errlen);

/* Binds and registers in loop. Returns 0, DK_ENET (cannot bind: address in use, ...) or
 * DK_EINVAL (bad bind address). When [http] enabled = no, returns 0 and serves nothing. */
int http_start(http_t *self, uv_loop_t *loop);

/* Gives the API the running child puller (borrowed; NULL: none) for POST .../pull and the
 * `pulling` flag of /api/v1/children. Call after child_new, before the loop runs. */
void http_set_child(http_t *self, child_t *child);

/* The port actually bound (useful with port = 0), 0 before start. */
uint16_t http_port(const http_t *self);

/* Sends the live update to every SSE client (id: version). update is borrowed for the call.
 * Loop thread only. */
void http_publish(http_t *self, const Dk__Update *update);

/* The same with the signature of ingest_commit_fn: ingest_on_commit(ingest, http_on_commit, http). */
void http_on_commit(void *http, const Dk__Update *update);

/* Closes every connection and SSE stream, stops MHD, and closes its uv handles (their close
 * callbacks run in the next uv_run turn). Idempotent. */
void http_stop(http_t *self);

/* Frees; call after http_stop and after the loop ran the close callbacks. NULL-safe, idempotent,
 * nulls *self_p. */
void http_destroy(http_t **self_p);

#endif
