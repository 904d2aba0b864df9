/* http — see http.h.
 *
 * Why external epoll: the aggregator is one libuv loop (ZeroMQ sockets, ingest, timers); running
 * libmicrohttpd in that same thread means every API reply reads the store and every SSE push
 * happens right after the commit callback, with no locks. MHD's epoll fd is level-readable while
 * any of its sockets is ready, so one uv_poll on it is enough; MHD_get_timeout() tells when MHD
 * needs a run for its own reasons (idle timeouts, connections with buffered work).
 *
 * SSE: each stream's response is a content-reader callback over a per-client byte queue. With
 * nothing queued the reader suspends the connection (MHD then neither polls nor times it out);
 * publishing appends to the queue and resumes it. The queue is bounded by sse-queue: past it the
 * queue is replaced by a single "reload" event, so a client that reads slowly or not at all costs
 * at most sse-queue bytes. Keep-alive comments resume every stream each 15 s, which is also how a
 * vanished client is noticed. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_TAG "http"
#include "api.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "xmalloc.h"

#ifndef DK_WEB_DIR
#define DK_WEB_DIR "aggregator/web"
#endif

#define STATIC_MAX_BYTES (8u << 20) /* no file of the page is larger */

/* ---- config --------------------------------------------------------------------------------- */
const conf_key_t http_conf_keys[] = {
    {"enabled", CONF_BOOL, offsetof(http_conf_t, enabled), "yes", 0, 0, NULL,
     "Serve the dashboard, the JSON API and /metrics"},
    {"bind", CONF_STRING, offsetof(http_conf_t, bind), "127.0.0.1", 1, 64, NULL,
     "Address to listen on (IPv4 or IPv6 literal); 127.0.0.1 keeps it on this machine"},
    {"port", CONF_INT, offsetof(http_conf_t, port), "8080", 0, 65535, NULL,
     "TCP port (0: any free port, logged)"},
    {"max-connections", CONF_INT, offsetof(http_conf_t, max_connections), "64", 1, 10000, NULL,
     "Connections at once (SSE streams included)"},
    {"timeout", CONF_DURATION, offsetof(http_conf_t, timeout), "30s", 1000, 3600000, NULL,
     "Idle time before a connection is closed"},
    {"max-request", CONF_SIZE, offsetof(http_conf_t, max_request), "16KiB", 4096, 1048576, NULL,
     "Memory per connection for the request line and headers"},
    {"sse-clients", CONF_INT, offsetof(http_conf_t, sse_clients), "32", 1, 10000, NULL,
     "Live-update streams at once"},
    {"sse-queue", CONF_SIZE, offsetof(http_conf_t, sse_queue), "256KiB", 4096, 67108864, NULL,
     "Bytes queued per live-update stream before it is told to reload"},
    {"keepalive", CONF_DURATION, offsetof(http_conf_t, keepalive), "15s", 100, 600000, NULL,
     "Interval of the SSE keep-alive comment"},
    {"plan", CONF_PATH, offsetof(http_conf_t, plan), "", 0, 0, NULL,
     "Plan targets file (config/plan/ format); empty: no targets"},
    {"web-dir", CONF_PATH, offsetof(http_conf_t, web_dir), "", 0, 0, NULL,
     "Folder of the dashboard page; empty: the one built in"},
    {"month-start", CONF_INT, offsetof(http_conf_t, month_start), "1", 1, 28, NULL,
     "Day a reporting month starts (15: from the 15th to the 14th)"},
    {"silent-after", CONF_DURATION, offsetof(http_conf_t, silent_after), "24h", 1000,
     31536000000LL, NULL, "A commune not heard from for this long shows as silent"},
    CONF_END,
};

/* Appends s to the growing text t as a double-quoted INI value. */
static void append_quoted(char **t, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *t = xrealloc(*t, *len + 2 * n + 4);
    char *p = *t + *len;
    *p++ = '"';
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *p++ = '\\';
        }
        *p++ = *c;
    }
    *p++ = '"';
    *p = '\0';
    *len = (size_t)(p - *t);
}

static void append(char **t, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *t = xrealloc(*t, *len + n + 1);
    memcpy(*t + *len, s, n + 1);
    *len += n;
}

int http_conf_load(const aconf_t *conf, http_conf_t *out, char *err, size_t errlen)
{
    /* aconf keeps [http] as raw lines; rebuild them at their original line numbers so conf's
     * messages name the real file and line. */
    const aconf_section_t *sec = conf ? aconf_section(conf, "http", NULL) : NULL;
    char *text = xstrdup("");
    size_t len = 0;
    int line = 1;
    if (sec != NULL) {
        for (; line < sec->line; line++) {
            append(&text, &len, "\n");
        }
        append(&text, &len, "[http]\n");
        line++;
        for (size_t i = 0; i < sec->n_items; i++) {
            for (; line < sec->items[i].line; line++) {
                append(&text, &len, "\n");
            }
            append(&text, &len, sec->items[i].key);
            append(&text, &len, " = ");
            append_quoted(&text, &len, sec->items[i].value);
            append(&text, &len, "\n");
            line++;
        }
    }
    conf_section_t s = {.name = "http", .optional = true, .size = sizeof *out,
                        .keys = http_conf_keys, .single = out, .doc = "Dashboard HTTP server"};
    conf_error_t ce;
    const char *name = conf && conf->path ? conf->path : "http";
    int rc = conf_load_string(text, name, &s, 1, &ce);
    free(text);
    if (rc < 0) {
        conf_error_format(&ce, err, errlen);
        return DK_ECONFIG;
    }
    return 0;
}

void http_conf_release(http_conf_t *c)
{
    conf_section_t s = {.name = "http", .optional = true, .size = sizeof *c,
                        .keys = http_conf_keys, .single = c};
    conf_release(&s, 1);
}

/* ---- state ---------------------------------------------------------------------------------- */
typedef struct sse sse_t;

struct http {
    const aconf_t *conf;
    struct store *store;
    http_conf_t hc;
    api_t *api;
    char *web_dir;
    uv_loop_t *loop;
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer, keepalive;
    bool started, stopped, polling;
    uint16_t port;
    uint64_t version;      /* last version announced to SSE clients */
    sse_t *clients;
    int64_t nclients;
};

struct sse {
    http_t *http;
    struct MHD_Connection *conn;
    char *q;               /* queued bytes q[off..len) */
    size_t off, len, cap;
    bool suspended;
    bool closing;
    bool in_list;
    bool mid_event;        /* MHD has taken part of an event but not its end */
    bool overflowed;       /* logged once per client */
    sse_t *prev, *next;
};

static void schedule(http_t *self, uint64_t ms);

static void run_mhd(http_t *self)
{
    if (self->d == NULL) {
        return;
    }
    MHD_run(self->d);
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(self->d, &t) == MHD_YES) {
        schedule(self, t);
    } else {
        /* Nothing pending inside MHD: the uv_poll wakes us. A slow safety tick costs nothing. */
        schedule(self, 1000);
    }
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void schedule(http_t *self, uint64_t ms)
{
    if (!self->stopped) {
        uv_timer_start(&self->timer, on_timer, ms, 0);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    http_t *self = p->data;
    if (status < 0) {
        log_warn("poll on the MHD epoll fd: %s", uv_strerror(status));
    }
    run_mhd(self);
}

/* ---- SSE -------------------------------------------------------------------------------------- */
static void sse_unlink(sse_t *c)
{
    http_t *h = c->http;
    if (!c->in_list) {
        return;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        h->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->in_list = false;
    h->nclients--;
    metrics_sse_clients_add(-1);
}

static void sse_wake(sse_t *c)
{
    if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->conn);
        schedule(c->http, 0);
    }
}

/* Appends text to the client's queue; past the cap the queue becomes one reload event. Every
 * queued event ends with a blank line ("\n\n", which never occurs inside one), so when MHD has
 * already taken the start of an event, its rest is kept before the reload: the client never sees
 * half an event. */
static void sse_push(sse_t *c, const char *text, size_t n)
{
    size_t pending = c->len - c->off;
    if (pending + n > (size_t)c->http->hc.sse_queue) {
        size_t keep = 0;
        if (c->mid_event) {
            const char *end = memmem(c->q + c->off, pending, "\n\n", 2);
            keep = end ? (size_t)(end - (c->q + c->off)) + 2 : 0;
        }
        char *reload = xasprintf("%.*sid: %" PRIu64 "\nevent: reload\ndata: {\"version\":%" PRIu64
                                 ",\"reason\":\"slow client\"}\n\n",
                                 (int)keep, keep ? c->q + c->off : "", c->http->version,
                                 c->http->version);
        free(c->q);
        c->q = reload;
        c->off = 0;
        c->len = strlen(reload);
        c->cap = c->len + 1;
        if (!c->overflowed) {
            c->overflowed = true;
            log_warn("sse client queue over %" PRId64 " bytes: coalesced to a reload event",
                     c->http->hc.sse_queue);
        }
        sse_wake(c);
        return;
    }
    if (c->off > 0 && c->off == c->len) {
        c->off = c->len = 0;
    }
    if (c->len + n > c->cap) {
        if (c->off > 0) { /* compact before growing */
            memmove(c->q, c->q + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->len + n > c->cap) {
            c->cap = (c->len + n) * 2;
            c->q = xrealloc(c->q, c->cap);
        }
    }
    memcpy(c->q + c->len, text, n);
    c->len += n;
    sse_wake(c);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_t *c = cls;
    if (c->off < c->len) {
        size_t n = c->len - c->off;
        if (n > max) {
            n = max;
        }
        memcpy(buf, c->q + c->off, n);
        c->off += n;
        c->mid_event = !(c->off >= 2 && c->q[c->off - 1] == '\n' && c->q[c->off - 2] == '\n');
        return (ssize_t)n;
    }
    if (c->closing) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    c->suspended = true;
    MHD_suspend_connection(c->conn);
    return 0;
}

static void sse_free(void *cls)
{
    sse_t *c = cls;
    sse_unlink(c);
    free(c->q);
    free(c);
}

static void on_keepalive(uv_timer_t *t)
{
    http_t *self = t->data;
    static const char ka[] = ": keep-alive\n\n";
    for (sse_t *c = self->clients; c; c = c->next) {
        sse_push(c, ka, sizeof ka - 1);
    }
}

static char *update_text(const Dk__Update *u)
{
    json_t *j = json_new();
    json_obj(j);
    json_kv_u64(j, "version", u->version);
    json_kv_u64(j, "prev_version", u->prev_version);
    json_key(j, "units");
    json_arr(j);
    /* Units whose figures or state changed, each once. */
    uint32_t seen[64];
    size_t nseen = 0;
    for (size_t i = 0; i < u->n_units + u->n_cells; i++) {
        uint32_t unit = i < u->n_units ? u->units[i]->unit : u->cells[i - u->n_units]->unit;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++) {
            dup = seen[k] == unit;
        }
        if (!dup && nseen < 64) {
            seen[nseen++] = unit;
            json_u64(j, unit);
        }
    }
    json_end(j);
    json_kv_u64(j, "cells", u->n_cells);
    json_end(j);
    size_t n;
    char *data = json_take(&j, &n);
    char *text = xasprintf("id: %" PRIu64 "\nevent: update\ndata: %s\n\n", u->version, data);
    free(data);
    return text;
}

void http_publish(http_t *self, const Dk__Update *update)
{
    if (self == NULL || update == NULL || !self->started || self->stopped) {
        return;
    }
    self->version = update->version;
    char *text = update_text(update);
    size_t n = strlen(text);
    for (sse_t *c = self->clients; c; c = c->next) {
        sse_push(c, text, n);
    }
    free(text);
}

void http_on_commit(void *http, const Dk__Update *update)
{
    http_publish(http, update);
}

/* What a client resuming from Last-Event-ID missed: nothing, the units that changed since (one
 * event), or a reload when the store cannot say (too old, ahead, or too much). */
static void sse_catch_up(http_t *self, sse_t *c, uint64_t last)
{
    uint64_t now = self->version;
    if (last == now) {
        return;
    }
    Dk__Snapshot *snap = NULL;
    int rc = last < now ? store_snapshot_page(self->store, false, last, NULL, 0, 1000, &snap) : -1;
    if (rc == 0 && snap && !snap->resync && snap->next.len == 0) {
        Dk__Update u = DK__UPDATE__INIT;
        u.version = snap->version;
        u.has_version = 1;
        u.prev_version = last;
        u.has_prev_version = 1;
        u.cells = snap->cells;
        u.n_cells = snap->n_cells;
        u.units = snap->units;
        u.n_units = snap->n_units;
        char *text = update_text(&u);
        sse_push(c, text, strlen(text));
        free(text);
    } else {
        char *text = xasprintf("id: %" PRIu64 "\nevent: reload\ndata: {\"version\":%" PRIu64
                               ",\"reason\":\"resync\"}\n\n",
                               now, now);
        sse_push(c, text, strlen(text));
        free(text);
    }
    store_snapshot_free(&snap);
}

/* ---- replies -------------------------------------------------------------------------------- */
static enum MHD_Result send_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                                  char *body, size_t len, const char *cache)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache ? cache : "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD"); /* + POST on .../pull */
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    metrics_count_http(status);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return send_reply(conn, status, "text/plain; charset=utf-8", xstrdup(text), strlen(text),
                      NULL);
}

static const char *arg_lookup(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"}, {".ico", "image/x-icon"}, {".woff2", "font/woff2"},
        {".woff", "font/woff"}, {".txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(dot, types[i].ext) == 0) {
            return types[i].mime;
        }
    }
    return NULL;
}

static enum MHD_Result serve_static(http_t *self, struct MHD_Connection *conn, const char *url)
{
    const char *rel = strcmp(url, "/") == 0 ? "index.html" : url + 1;
    /* Only plain names below web-dir: letters, digits, '-', '_', '.', '/' and no "..". */
    bool ok = *rel != '\0' && strstr(rel, "..") == NULL && strlen(rel) < 200;
    for (const char *p = rel; ok && *p; p++) {
        ok = isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' || *p == '/';
    }
    const char *mime = ok ? mime_of(rel) : NULL;
    if (mime == NULL) {
        return send_text(conn, MHD_HTTP_NOT_FOUND, "Không tìm thấy trang (404)\n");
    }
    char *path = xasprintf("%s/%s", self->web_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES) {
        if (fd >= 0) {
            close(fd);
        }
        free(path);
        return send_text(conn, MHD_HTTP_NOT_FOUND, "Không tìm thấy trang (404)\n");
    }
    size_t n = (size_t)st.st_size;
    char *body = xmalloc(n ? n : 1);
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, body + got, n - got);
        if (k <= 0) {
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        log_error("read %s: %s", path, strerror(errno));
        free(path);
        free(body);
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "read error\n");
    }
    free(path);
    return send_reply(conn, MHD_HTTP_OK, mime, body, n, "no-cache");
}

static enum MHD_Result serve_stream(http_t *self, struct MHD_Connection *conn, bool head)
{
    if (head) {
        return send_reply(conn, MHD_HTTP_OK, "text/event-stream", xstrdup(""), 0, "no-cache");
    }
    if (self->nclients >= self->hc.sse_clients) {
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "Quá nhiều kết nối cập nhật trực tiếp, hãy thử lại sau.\n");
    }
    sse_t *c = xcalloc(1, sizeof *c);
    c->http = self;
    c->conn = conn;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, c, sse_free);
    if (r == NULL) {
        free(c);
        return MHD_NO;
    }
    c->next = self->clients;
    if (self->clients) {
        self->clients->prev = c;
    }
    self->clients = c;
    c->in_list = true;
    self->nclients++;
    metrics_sse_clients_add(1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* A stream is never idle longer than a keep-alive; allow two before giving up on it. */
    unsigned to = (unsigned)((self->hc.keepalive * 2 + 999) / 1000);
    if (to < (unsigned)(self->hc.timeout / 1000)) {
        to = (unsigned)(self->hc.timeout / 1000);
    }
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, to);
    char *hello = xasprintf("retry: 3000\nid: %" PRIu64 "\nevent: hello\ndata: {\"version\":%" PRIu64
                            "}\n\n",
                            self->version, self->version);
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (last == NULL) {
        last = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "lastEventId");
    }
    char *end = NULL;
    unsigned long long lv = last ? strtoull(last, &end, 10) : 0;
    if (last && *last && end && *end == '\0') {
        /* A resuming client: no hello (its id would hide the gap), only what it missed. */
        free(hello);
        sse_catch_up(self, c, lv);
        if (c->len == 0) {
            static const char ok[] = ": up to date\n\n";
            sse_push(c, ok, sizeof ok - 1);
        }
    } else {
        sse_push(c, hello, strlen(hello));
        free(hello);
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    metrics_count_http(200);
    log_debug("sse client connected clients=%" PRId64, self->nclients);
    return ret;
}

static void store_metrics(http_t *self)
{
    store_stats_t st;
    if (store_stats(self->store, &st) == 0) {
        metrics_set_store(st.used_size, st.events, st.version);
    }
}

/* Queues an API reply (takes reply's buffers). allow: an Allow header for a 405, or NULL. */
static enum MHD_Result send_api_reply(struct MHD_Connection *conn, const char *method,
                                      const char *url, api_reply_t *reply, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
    reply->body = NULL;
    if (r == NULL) {
        api_reply_clear(reply);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (reply->filename) {
        char *cd = xasprintf("attachment; filename=\"%s\"", reply->filename);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
        free(cd);
    }
    enum MHD_Result ret = MHD_queue_response(conn, reply->status, r);
    MHD_destroy_response(r);
    metrics_count_http(reply->status);
    if (reply->status >= 500) {
        log_warn("%s %s -> %u", method, url, reply->status);
    }
    api_reply_clear(reply);
    return ret;
}

static void api_error(api_reply_t *reply, unsigned status, const char *msg)
{
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "error", msg);
    json_end(j);
    reply->status = status;
    reply->content_type = "application/json; charset=utf-8";
    reply->body = json_take(&j, &reply->len);
}

/* A POST from a page of another site (its browser sends Origin) must not trigger anything: the
 * Origin's host[:port] has to be the Host the request was sent to. No Origin (curl, scripts) is
 * allowed: the server binds to 127.0.0.1 unless configured otherwise. */
static bool same_origin(struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (origin == NULL) {
        return true;
    }
    const char *p = strstr(origin, "://");
    return p != NULL && host != NULL && strcmp(p + 3, host) == 0;
}

/* The one non-GET route: POST /api/v1/children/NAME/pull (an on-demand pull; nothing is written
 * but what a scheduled pull would write). Everything else stays read-only. */
static enum MHD_Result serve_post(http_t *self, struct MHD_Connection *conn, const char *url,
                                  size_t *upload_data_size)
{
    api_reply_t reply = {0};
    const char *path = strncmp(url, "/api/v1/", 8) == 0 ? url + 7 : NULL;
    if (path == NULL || !api_is_post_route(path)) {
        *upload_data_size = 0;
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                         "Chỉ đọc: phương thức không được phép (405)\n");
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        api_error(&reply, MHD_HTTP_CONTENT_TOO_LARGE, "this request takes no body");
    } else if (!same_origin(conn)) {
        api_error(&reply, MHD_HTTP_FORBIDDEN, "Origin differs from Host: refused");
    } else {
        api_handle_post(self->api, path, &reply);
    }
    return send_api_reply(conn, "POST", url, &reply, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_t *self = cls;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        return serve_post(self, conn, url, upload_data_size);
    }
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                         "Chỉ đọc: phương thức không được phép (405)\n");
    }
    if (*upload_data_size > 0) {
        /* A GET with a body: read-only server, refuse rather than buffer it. */
        *upload_data_size = 0;
        return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "Yêu cầu có nội dung (413)\n");
    }
    if (strcmp(url, "/healthz") == 0) {
        char *b = xasprintf("{\"status\":\"ok\",\"version\":%" PRIu64 "}\n", self->version);
        return send_reply(conn, MHD_HTTP_OK, "application/json; charset=utf-8", b, strlen(b),
                          NULL);
    }
    if (strcmp(url, "/metrics") == 0) {
        store_metrics(self);
        size_t n;
        char *b = metrics_render(&n);
        return send_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b, n,
                          NULL);
    }
    if (strcmp(url, "/api/v1/stream") == 0) {
        return serve_stream(self, conn, head);
    }
    if (strncmp(url, "/api/v1", 7) == 0 && (url[7] == '/' || url[7] == '\0')) {
        api_reply_t reply = {0};
        if (api_is_post_route(url + 7)) {
            api_error(&reply, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST to ask for a pull");
            return send_api_reply(conn, method, url, &reply, "POST");
        }
        api_handle(self->api, url + 7, arg_lookup, conn, &reply);
        return send_api_reply(conn, method, url, &reply, NULL);
    }
    return serve_static(self, conn, url);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    log_warn("libmicrohttpd: %s", line);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */
int http_new(http_t **out, const aconf_t *conf, struct store *store, char *err, size_t errlen)
{
    http_t *self = xcalloc(1, sizeof *self);
    self->conf = conf;
    self->store = store;
    int rc = http_conf_load(conf, &self->hc, err, errlen);
    if (rc < 0) {
        free(self);
        return rc;
    }
    rc = api_new(&self->api, store, conf, &self->hc, err, errlen);
    if (rc < 0) {
        http_conf_release(&self->hc);
        free(self);
        return rc;
    }
    self->web_dir = xstrdup(self->hc.web_dir ? self->hc.web_dir : DK_WEB_DIR);
    *out = self;
    return 0;
}

int http_start(http_t *self, uv_loop_t *loop)
{
    if (!self->hc.enabled) {
        log_info("http disabled ([http] enabled = no)");
        return 0;
    }
    self->loop = loop;
    self->version = store_version(self->store);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, self->hc.bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)self->hc.port);
    } else if (inet_pton(AF_INET6, self->hc.bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)self->hc.port);
        flags |= MHD_USE_IPv6;
    } else {
        log_error("[http] bind '%s': not an IPv4 or IPv6 address", self->hc.bind);
        return DK_EINVAL;
    }
    self->d = MHD_start_daemon(
        flags, (uint16_t)self->hc.port, NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)self->hc.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(self->hc.timeout / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)self->hc.max_request,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)self->hc.max_connections,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (self->d == NULL) {
        log_error("http cannot listen on %s:%" PRId64 " (in use or not allowed)", self->hc.bind,
                  self->hc.port);
        return DK_ENET;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(self->d, MHD_DAEMON_INFO_BIND_PORT);
    self->port = pi ? pi->port : (uint16_t)self->hc.port;
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(self->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (ei == NULL || ei->epoll_fd < 0) {
        log_error("http: libmicrohttpd gave no epoll fd");
        MHD_stop_daemon(self->d);
        self->d = NULL;
        return DK_ENET;
    }
    uv_poll_init(loop, &self->poll, ei->epoll_fd);
    self->poll.data = self;
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    uv_timer_init(loop, &self->keepalive);
    self->keepalive.data = self;
    uv_poll_start(&self->poll, UV_READABLE, on_poll);
    uv_timer_start(&self->keepalive, on_keepalive, (uint64_t)self->hc.keepalive,
                   (uint64_t)self->hc.keepalive);
    self->polling = true;
    self->started = true;
    run_mhd(self);
    log_info("http listening on http://%s:%u/ (dashboard, /api/v1/, /metrics)", self->hc.bind,
             self->port);
    return 0;
}

void http_set_child(http_t *self, child_t *child)
{
    if (self) {
        api_set_child(self->api, child);
    }
}

uint16_t http_port(const http_t *self)
{
    return self ? self->port : 0;
}

void http_stop(http_t *self)
{
    if (self == NULL || !self->started || self->stopped) {
        return;
    }
    /* Streams end cleanly: MHD may only be stopped with no connection suspended. */
    for (sse_t *c = self->clients; c; c = c->next) {
        c->closing = true;
        sse_wake(c);
    }
    MHD_run(self->d);
    self->stopped = true;
    uv_poll_stop(&self->poll);
    uv_timer_stop(&self->timer);
    uv_timer_stop(&self->keepalive);
    MHD_stop_daemon(self->d);
    self->d = NULL;
    /* Whatever the stop left (callbacks fire inside MHD_stop_daemon) is no longer ours. */
    while (self->clients) {
        sse_unlink(self->clients);
    }
    uv_close((uv_handle_t *)&self->poll, NULL);
    uv_close((uv_handle_t *)&self->timer, NULL);
    uv_close((uv_handle_t *)&self->keepalive, NULL);
    log_info("http stopped");
}

void http_destroy(http_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    http_t *self = *self_p;
    if (self->d) { /* started but never stopped: no loop handles may stay behind */
        http_stop(self);
    }
    api_destroy(&self->api);
    http_conf_release(&self->hc);
    free(self->web_dir);
    free(self);
    *self_p = NULL;
}
