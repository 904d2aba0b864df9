/* dk-aggregator — receives, checks, deduplicates and stores the communes' events; keeps live
 * tallies; serves snapshots, live updates and the dashboard.
 *
 *   dk-aggregator [-c FILE] run | status [--json] | verify | export --period P --format F [-o FILE]
 *                 | backup DIR | keygen [FILE]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. Every subcommand but run opens the
 * store read-only, so it works beside a running daemon. */
#define LOG_TAG "main"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>
#include <zmq.h>

#include "aconf.h"
#include "api.h"
#include "child.h"
#include "err.h"
#include "http.h"
#include "ingest.h"
#include "keys.h"
#include "log.h"
#include "report.h"
#include "server.h"
#include "store.h"
#include "units.h"
#include "xmalloc.h"
#include "zap.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: dk-aggregator [-c FILE] COMMAND [ARGS]\n"
            "\n"
            "Receives the communes' events over ZeroMQ (CURVE), stores them in LMDB, keeps live\n"
            "tallies and serves snapshots, live updates and the dashboard.\n"
            "\n"
            "Commands:\n"
            "  run                      run the aggregator (SIGHUP reloads keys, SIGTERM stops)\n"
            "  status [--json]          communes: last contact, high-water mark, backlog; child\n"
            "                           aggregators: last pull, version, failures, stale; store\n"
            "  verify                   recount every tally from the stored events (exit 1 on a\n"
            "                           difference)\n"
            "  export --period P --format csv|xlsx|json [-o FILE]\n"
            "                           the period's report (P: 2023, 2023-Q4, 2023-11, 2023-H1,\n"
            "                           2023-01-01..2023-06-30)\n"
            "  backup DIR               compacted live copy of the store into DIR\n"
            "  keygen [FILE]            write a new CURVE key pair (FILE and FILE.pub; default the\n"
            "                           config's key-file) and print the public key\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE        the config file (INI; see below)\n"
            "  -v, --verbose            debug logging (also DK_LOG=debug)\n"
            "  -h, --help               this help and the config keys\n"
            "\n"
            "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n"
            "\n"
            "Config keys:\n");
}

static void print_config_doc(void)
{
    aconf_print_doc(stdout);
    conf_section_t hs = {.name = "http", .optional = true, .size = sizeof(http_conf_t),
                         .keys = http_conf_keys, .doc = "the dashboard (HTTP, read-only)"};
    conf_print_doc(stdout, &hs, 1);
    child_print_help(stdout);
}

static aconf_t *load_conf(const char *path)
{
    if (!path) {
        fprintf(stderr, "dk-aggregator: no config file: give -c FILE (see --help)\n");
        return NULL;
    }
    aconf_t *conf = NULL;
    char err[600];
    if (aconf_load(path, &conf, err, sizeof err) < 0) {
        fprintf(stderr, "dk-aggregator: %s\n", err);
        return NULL;
    }
    return conf;
}

static int open_store(const aconf_t *conf, bool read_only, store_t **out)
{
    store_opts_t o;
    memset(&o, 0, sizeof o);
    o.map_size = (uint64_t)conf->agg.map_size;
    o.read_only = read_only;
    o.unit = (uint32_t)conf->agg.unit;
    int rc = store_open(conf->agg.data_dir, &o, out);
    if (rc == DK_ENOTFOUND || (rc == DK_EIO && read_only)) {
        fprintf(stderr, "dk-aggregator: %s: [aggregator] data-dir %s: no store there yet "
                "(start `dk-aggregator run` first)\n", conf->path, conf->agg.data_dir);
    } else if (rc < 0) {
        fprintf(stderr, "dk-aggregator: %s: [aggregator] data-dir %s: cannot open the store: %s\n",
                conf->path, conf->agg.data_dir, err_str(rc));
    }
    return rc;
}

static int mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *s = '/';
        }
    }
    int rc = mkdir(p, 0750) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

/* ---- run ------------------------------------------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    void *ctx;
    aconf_t *conf;
    aconf_t **retired;       /* configs replaced by SIGHUP (modules may still borrow them) */
    size_t nretired;
    store_t *store;
    zap_t *zap;
    ingest_t *ingest;
    server_t *server;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t reader_timer;
    http_t *http;
    child_t *child;
    int stopping;
} daemon_t;

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Shutdown, step 3 onwards (PITFALLS §5.2): ingest committed what was queued and its acks went out
 * through the server; now close the sockets and every handle. */
static void on_ingest_idle(void *arg)
{
    daemon_t *d = arg;
    log_info("queue committed version=%llu; closing", (unsigned long long)ingest_version(d->ingest));
    server_destroy(&d->server);
    zap_destroy(&d->zap);
    ingest_destroy(&d->ingest);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->reader_timer, NULL);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    if (d->stopping) {
        return;
    }
    d->stopping = 1;
    log_info("signal %d: stopping", signum);
    /* 1. stop taking requests */
    server_stop(d->server);
    http_stop(d->http);
    child_stop(d->child);
    /* 2. commit what is queued; its acks go out; then on_ingest_idle */
    ingest_stop(d->ingest, on_ingest_idle, d);
}

static void on_hup(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    (void)signum;
    aconf_t *conf = NULL;
    char err[600];
    if (aconf_load(d->conf->path, &conf, err, sizeof err) < 0) {
        log_error("reload refused, keeping the running config: %s", err);
        return;
    }
    if (conf->agg.unit != d->conf->agg.unit || strcmp(conf->agg.bind, d->conf->agg.bind) != 0 ||
        strcmp(conf->agg.data_dir, d->conf->agg.data_dir) != 0) {
        log_warn("reload: unit, bind and data-dir changes need a restart; keys and rules apply");
    }
    zap_set_conf(d->zap, conf);
    ingest_set_conf(d->ingest, conf);
    server_set_conf(d->server, conf);
    d->retired = xrealloc(d->retired, (d->nretired + 1) * sizeof *d->retired);
    d->retired[d->nretired++] = d->conf;
    d->conf = conf;
    log_info("config reloaded from %s communes=%zu readers=%zu", conf->path, conf->n_communes,
             conf->n_readers);
}

static void on_reader_timer(uv_timer_t *t)
{
    daemon_t *d = t->data;
    int n = store_reader_check(d->store);
    if (n > 0) {
        log_info("cleared stale LMDB readers=%d", n);
    }
}

/* A child pull changed the store: hand its update (version, prev_version, cells, units) to the
 * same listeners as a local commit (PUB, SSE), through ingest so its version stays the latest. */
static void on_child_update(void *arg, const Dk__Update *update)
{
    daemon_t *d = arg;
    ingest_publish(d->ingest, update);
}

static int cmd_run(aconf_t *conf)
{
    int rc, exit_code = EXIT_RUNTIME;
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.conf = conf;
    signal(SIGPIPE, SIG_IGN);

    keys_t keys;
    char err[600];
    if (keys_load(conf->agg.key_file, &keys, err, sizeof err) < 0) {
        fprintf(stderr, "dk-aggregator: %s: [aggregator] key-file: %s\n", conf->path, err);
        return EXIT_USAGE;
    }
    uint8_t secret[32];
    if (!zmq_z85_decode(secret, keys.secret_key)) {
        keys_wipe(&keys);
        fprintf(stderr, "dk-aggregator: %s: secret key does not decode\n", conf->agg.key_file);
        return EXIT_USAGE;
    }
    keys_wipe(&keys);
    if (mkdir_p(conf->agg.data_dir) != 0) {
        fprintf(stderr, "dk-aggregator: %s: [aggregator] data-dir %s: %s\n", conf->path,
                conf->agg.data_dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (open_store(conf, false, &d.store) < 0) {
        return EXIT_RUNTIME;
    }
    store_reader_check(d.store);
    uv_loop_init(&d.loop);
    d.ctx = zmq_ctx_new();
    /* Two I/O threads: with thousands of agents one thread's CURVE and timer work is the limit. */
    zmq_ctx_set(d.ctx, ZMQ_IO_THREADS, 2);
    /* ZAP first: a CURVE socket bound without a handler would accept any key. */
    if ((rc = zap_new(&d.zap, d.ctx, &d.loop, conf)) < 0) {
        fprintf(stderr, "dk-aggregator: cannot start the ZAP handler; not starting\n");
        goto out;
    }
    ingest_new(&d.ingest, &d.loop, d.store, conf);
    if ((rc = server_new(&d.server, d.ctx, &d.loop, conf, secret, d.store, d.ingest)) < 0) {
        fprintf(stderr, "dk-aggregator: %s: [aggregator] bind %s / publish %s: cannot bind\n",
                conf->path, conf->agg.bind, conf->agg.publish);
        goto out;
    }
    /* ---- the dashboard (aggregator/http.h) ---- */
    if ((rc = http_new(&d.http, conf, d.store, err, sizeof err)) < 0) {
        fprintf(stderr, "dk-aggregator: %s\n", err);
        exit_code = EXIT_USAGE;
        goto out;
    }
    if ((rc = http_start(d.http, &d.loop)) < 0) {
        fprintf(stderr, "dk-aggregator: %s: [http]: cannot listen: %s\n", conf->path,
                err_str(rc));
        goto out;
    }
    ingest_on_commit(d.ingest, http_on_commit, d.http);
    /* ---- child aggregators (aggregator/child.h) ---- */
    if ((rc = child_new(conf, d.store, &d.loop, d.ctx, &d.child, err, sizeof err)) < 0) {
        fprintf(stderr, "dk-aggregator: %s\n", err);
        exit_code = rc == DK_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    /* A child's pulled figures (and recorded failures) reach the dashboard's live stream like a
     * commit does; the API asks it for on-demand pulls (POST /api/v1/children/NAME/pull). */
    child_on_update(d.child, http_on_commit, d.http);
    http_set_child(d.http, d.child);
    child_on_update(d.child, on_child_update, &d);
    if (child_count(d.child) > 0) {
        /* child.c writes the store from the loop thread; the store allows one writer thread, so
         * ingest commits there too (see ingest_set_inline). */
        ingest_set_inline(d.ingest, 1);
        log_info("children=%zu: commits run on the loop thread", child_count(d.child));
    }
    child_start(d.child);
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d.sighup, on_hup, SIGHUP);
    uv_timer_init(&d.loop, &d.reader_timer);
    d.reader_timer.data = &d;
    uv_timer_start(&d.reader_timer, on_reader_timer, (uint64_t)conf->agg.reader_check,
                   (uint64_t)conf->agg.reader_check);
    uv_unref((uv_handle_t *)&d.reader_timer);
    log_info("ready unit=%lld name=\"%s\" communes=%zu readers=%zu version=%llu",
             (long long)conf->agg.unit, conf->agg.name, conf->n_communes, conf->n_readers,
             (unsigned long long)ingest_version(d.ingest));
    uv_run(&d.loop, UV_RUN_DEFAULT);
    exit_code = EXIT_OK;
out:
    /* Start-up failures land here with handles open: close them all. */
    server_destroy(&d.server);
    zap_destroy(&d.zap);
    ingest_destroy(&d.ingest);
    if (d.http) {
        http_stop(d.http);
    }
    if (d.child) {
        child_stop(d.child);
    }
    uv_walk(&d.loop, close_walk, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    http_destroy(&d.http);
    child_destroy(&d.child);
    rc = uv_loop_close(&d.loop);
    if (rc != 0) {
        log_error("uv_loop_close: %s", uv_strerror(rc));
        exit_code = EXIT_RUNTIME;
    }
    store_close(&d.store);
    zmq_ctx_term(d.ctx);
    for (size_t i = 0; i < d.nretired; i++) {
        if (d.retired[i] != conf) { /* main destroys the original */
            aconf_destroy(&d.retired[i]);
        }
    }
    free(d.retired);
    if (d.conf != conf) {
        aconf_destroy(&d.conf); /* the reloaded one; main destroys the original */
    }
    memset(secret, 0, sizeof secret);
    if (exit_code == EXIT_OK) {
        log_info("stopped");
    }
    return exit_code;
}

/* ---- status ---------------------------------------------------------------------------------- */

typedef struct {
    const aconf_t *conf;
    const units_t *units;    /* names: the config's, then [aggregator] units-file */
    bool json;
    int n;
    time_t now;
} status_ctx_t;

static void fmt_ago(char *buf, size_t len, int64_t t, time_t now)
{
    if (t <= 0) {
        snprintf(buf, len, "chưa liên lạc");
        return;
    }
    time_t tt = (time_t)t + 7 * 3600; /* Vietnam time */
    struct tm tm;
    gmtime_r(&tt, &tm);
    int64_t ago = (int64_t)now - t;
    char when[32];
    strftime(when, sizeof when, "%d/%m/%Y %H:%M:%S", &tm);
    if (ago < 120) {
        snprintf(buf, len, "%s (%lld giây trước)", when, (long long)ago);
    } else if (ago < 7200) {
        snprintf(buf, len, "%s (%lld phút trước)", when, (long long)(ago / 60));
    } else if (ago < 172800) {
        snprintf(buf, len, "%s (%lld giờ trước)", when, (long long)(ago / 3600));
    } else {
        snprintf(buf, len, "%s (%lld ngày trước)", when, (long long)(ago / 86400));
    }
}

/* Prints s left-aligned in a column of width characters (UTF-8 aware: printf pads by bytes). */
static void put_col(const char *s, int width)
{
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        chars += (*p & 0xC0) != 0x80;
    }
    fputs(s, stdout);
    for (; chars < width; chars++) {
        putchar(' ');
    }
}

static void put_json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static int status_unit(void *arg, const store_unit_t *u)
{
    status_ctx_t *c = arg;
    if (u->owner != 0) {
        return 0;
    }
    const char *name = units_name(c->units, u->unit, period_day_of_unix((int64_t)c->now));
    if (name == NULL) {
        name = "(không có trong cấu hình)";
    }
    if (c->json) {
        printf("%s\n    {\"unit\": %u, \"name\": ", c->n ? "," : "", u->unit);
        put_json_str(name);
        printf(", \"last_contact\": %lld, \"high_water\": %llu, \"max_seq\": %llu, "
               "\"backlog\": %llu, \"events\": %llu, \"records\": %llu, \"rejected\": %llu, "
               "\"version\": %llu}",
               (long long)u->last_contact, (unsigned long long)u->high_water,
               (unsigned long long)u->max_seq, (unsigned long long)u->backlog,
               (unsigned long long)u->events, (unsigned long long)u->records,
               (unsigned long long)u->rejected, (unsigned long long)u->version);
    } else {
        char ago[96];
        fmt_ago(ago, sizeof ago, u->last_contact, c->now);
        printf("  ");
        put_col(name, 28);
        printf(" %5u  ", u->unit);
        put_col(ago, 36);
        printf(" %11llu %9llu %9llu %8llu\n", (unsigned long long)u->high_water,
               (unsigned long long)u->backlog, (unsigned long long)u->events,
               (unsigned long long)u->rejected);
    }
    c->n++;
    return 0;
}

/* The child aggregators (a parent's [child NAME] sections and their records in the store), with
 * the same fields as GET /api/v1/children. */
static int status_children(store_t *store, const aconf_t *conf, const units_t *units, bool json,
                           time_t now)
{
    child_conf_t *confs = NULL;
    size_t nconfs = 0;
    char err[600];
    if (child_conf_parse(conf, &confs, &nconfs, err, sizeof err) < 0) {
        fprintf(stderr, "dk-aggregator: %s\n", err);
        return EXIT_USAGE;
    }
    api_child_t *kids = NULL;
    size_t n = 0;
    int rc = api_children_read_units(store, confs, nconfs, units, (int64_t)now, &kids, &n);
    child_conf_free(confs, nconfs);
    if (rc < 0) {
        fprintf(stderr, "dk-aggregator: %s: cannot read the child records\n", conf->agg.data_dir);
        return EXIT_RUNTIME;
    }
    if (json) {
        printf(",\n  \"children\": [");
    } else if (n > 0) {
        printf("\nĐơn vị cấp dưới (%zu):\n", n);
    }
    for (size_t i = 0; i < n; i++) {
        const api_child_t *k = &kids[i];
        if (json) {
            printf("%s\n    {\"name\": ", i ? "," : "");
            put_json_str(k->name);
            printf(", \"unit\": %u, \"unit_name\": ", k->unit);
            put_json_str(k->title);
            printf(", \"endpoint\": ");
            put_json_str(k->endpoint);
            printf(", \"configured\": %s, \"interval\": %lld, \"last_pull\": %lld, \"age\": %lld, "
                   "\"child_version\": %llu, \"epoch\": \"%s\", \"failed_pulls\": %u, "
                   "\"last_attempt\": %lld, \"last_error\": ",
                   k->configured ? "true" : "false", (long long)k->interval,
                   (long long)k->last_pull, (long long)k->age,
                   (unsigned long long)k->child_version, k->epoch, k->failed_pulls,
                   (long long)k->last_attempt);
            put_json_str(k->last_error);
            printf(", \"stale\": %s, \"events\": %llu, \"units\": [", k->stale ? "true" : "false",
                   (unsigned long long)k->events);
            for (size_t u = 0; u < k->nunits; u++) {
                printf("%s%u", u ? ", " : "", k->units[u]);
            }
            printf("], \"unit_names\": [");
            for (size_t u = 0; u < k->nunits; u++) {
                char *nm = units_label(units, k->units[u], period_day_of_unix((int64_t)now));
                printf("%s", u ? ", " : "");
                put_json_str(nm);
                free(nm);
            }
            printf("]}");
            continue;
        }
        printf("  %s (mã %u", k->title, k->unit);
        if (k->configured) {
            printf(", [child %s]) — %s, lấy số liệu mỗi %lld giây\n", k->name, k->endpoint,
                   (long long)k->interval);
        } else {
            printf(") — không còn trong cấu hình: số liệu cũ vẫn được tính, không được cập nhật\n");
        }
        char ago[96];
        if (k->last_pull > 0) {
            fmt_ago(ago, sizeof ago, k->last_pull, now);
            printf("    Cập nhật lúc %s; phiên bản %llu, epoch %s\n", ago,
                   (unsigned long long)k->child_version, k->epoch[0] ? k->epoch : "-");
        } else {
            printf("    Chưa lấy được số liệu lần nào\n");
        }
        if (k->failed_pulls > 0) {
            fmt_ago(ago, sizeof ago, k->last_attempt, now);
            printf("    Mất kết nối %u lần (lần cuối %s) — lỗi: %s\n", k->failed_pulls, ago,
                   k->last_error[0] ? k->last_error : "-");
        }
        if (k->stale) {
            printf("    SỐ LIỆU CŨ: không lấy được số liệu mới trong 2 chu kỳ");
            if (k->interval > 0) {
                printf(" (%lld giây)", (long long)(2 * k->interval));
            }
            printf("\n");
        }
        printf("    Số liệu của %zu đơn vị, %llu sự kiện được tính", k->nunits,
               (unsigned long long)k->events);
        for (size_t u = 0; u < k->nunits && u < 12; u++) {
            char *nm = units_label(units, k->units[u], period_day_of_unix((int64_t)now));
            printf("%s%s (%u)", u ? ", " : ": ", nm, k->units[u]);
            free(nm);
        }
        printf("%s\n", k->nunits > 12 ? ", …" : "");
    }
    if (json) {
        printf("%s]", n ? "\n  " : "");
    }
    api_children_free(kids, n);
    return EXIT_OK;
}

static int cmd_status(const aconf_t *conf, bool json)
{
    store_t *store = NULL;
    if (open_store(conf, true, &store) < 0) {
        return EXIT_RUNTIME;
    }
    store_stats_t st;
    if (store_stats(store, &st) < 0) {
        store_close(&store);
        fprintf(stderr, "dk-aggregator: %s: cannot read the store\n", conf->agg.data_dir);
        return EXIT_RUNTIME;
    }
    units_t *units = NULL;
    char uerr[600];
    if (units_from_conf(conf, &units, uerr, sizeof uerr) < 0) {
        store_close(&store);
        fprintf(stderr, "dk-aggregator: %s\n", uerr);
        return EXIT_USAGE;
    }
    status_ctx_t c = {.conf = conf, .units = units, .json = json, .now = time(NULL)};
    if (json) {
        printf("{\n  \"unit\": %lld, \"name\": ", (long long)conf->agg.unit);
        put_json_str(conf->agg.name);
        printf(", \"version\": %llu, \"events\": %llu, \"rejected\": %llu, \"tallied\": %llu,\n"
               "  \"used_bytes\": %llu, \"map_bytes\": %llu, \"readers\": %u,\n  \"units\": [",
               (unsigned long long)st.version, (unsigned long long)st.events,
               (unsigned long long)st.rejected, (unsigned long long)st.tallied,
               (unsigned long long)st.used_size, (unsigned long long)st.map_size,
               st.readers_used);
    } else if (conf->n_communes == 0 && aconf_section(conf, "child", NULL) != NULL) {
        /* A parent with only child aggregators: no commune table, the children follow. */
        printf("%s (mã %lld) — phiên bản dữ liệu %llu\n", conf->agg.name,
               (long long)conf->agg.unit, (unsigned long long)st.version);
        printf("Kho dữ liệu: %s — đã dùng %.1f MiB / %.1f MiB; %llu sự kiện được tính\n",
               conf->agg.data_dir, (double)st.used_size / 1048576.0,
               (double)st.map_size / 1048576.0, (unsigned long long)st.tallied);
    } else {
        printf("%s (mã %lld) — phiên bản dữ liệu %llu\n", conf->agg.name,
               (long long)conf->agg.unit, (unsigned long long)st.version);
        printf("Kho dữ liệu: %s — đã dùng %.1f MiB / %.1f MiB; %llu bản ghi sự kiện, "
               "%llu sự kiện được tính, %llu bị từ chối\n\n",
               conf->agg.data_dir, (double)st.used_size / 1048576.0,
               (double)st.map_size / 1048576.0, (unsigned long long)st.events,
               (unsigned long long)st.tallied, (unsigned long long)st.rejected);
        printf("  ");
        put_col("Xã", 28);
        printf(" %5s  ", "Mã");
        put_col("Liên lạc cuối", 36);
        printf(" Mốc đã nhận  Tồn đọng   Sự kiện  Từ chối\n");
    }
    int rc = store_units_foreach(store, status_unit, &c);
    /* Communes configured but never heard of. */
    for (size_t i = 0; i < conf->n_communes; i++) {
        store_unit_t u;
        if (store_unit_get(store, (uint32_t)conf->communes[i].code, &u) == DK_ENOTFOUND) {
            memset(&u, 0, sizeof u);
            u.unit = (uint32_t)conf->communes[i].code;
            status_unit(&c, &u);
        }
    }
    if (json) {
        printf("\n  ]");
    }
    int crc = status_children(store, conf, units, json, c.now);
    if (json) {
        printf("\n}\n");
    }
    units_destroy(&units);
    store_close(&store);
    return rc < 0 ? EXIT_RUNTIME : crc;
}

/* ---- verify, backup, export, keygen ----------------------------------------------------------- */

static int cmd_verify(const aconf_t *conf)
{
    store_t *store = NULL;
    if (open_store(conf, true, &store) < 0) {
        return EXIT_RUNTIME;
    }
    int rc = store_verify(store, stdout);
    store_close(&store);
    if (rc == DK_EMISMATCH) {
        fprintf(stderr, "dk-aggregator: verify: tallies differ from the recount (see above)\n");
        return EXIT_RUNTIME;
    }
    if (rc < 0) {
        fprintf(stderr, "dk-aggregator: verify: %s\n", err_str(rc));
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int cmd_backup(const aconf_t *conf, const char *dir)
{
    store_t *store = NULL;
    if (open_store(conf, true, &store) < 0) {
        return EXIT_RUNTIME;
    }
    int rc = store_backup(store, dir);
    store_close(&store);
    if (rc < 0) {
        fprintf(stderr, "dk-aggregator: backup %s: %s\n", dir, err_str(rc));
        return EXIT_RUNTIME;
    }
    printf("%s\n", dir);
    return EXIT_OK;
}

static int cmd_export(const aconf_t *conf, const char *period, const char *format,
                      const char *outpath)
{
    report_format_t fmt;
    if (!period || !format) {
        fprintf(stderr, "dk-aggregator: export needs --period P and --format csv|xlsx|json\n");
        return EXIT_USAGE;
    }
    if (report_format_parse(format, &fmt) < 0) {
        fprintf(stderr, "dk-aggregator: export: --format %s: use csv, xlsx or json\n", format);
        return EXIT_USAGE;
    }
    store_t *store = NULL;
    if (open_store(conf, true, &store) < 0) {
        return EXIT_RUNTIME;
    }
    char err[600] = "";
    int rc = report_export(store, conf, period, fmt, outpath, err, sizeof err);
    store_close(&store);
    if (rc < 0) {
        fprintf(stderr, "dk-aggregator: export: %s\n", err[0] ? err : err_str(rc));
        return rc == DK_EINVAL || rc == DK_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int cmd_keygen(const char *path)
{
    keys_t k;
    int rc = keys_generate(&k);
    if (rc < 0) {
        fprintf(stderr, "dk-aggregator: keygen: %s\n", err_str(rc));
        return EXIT_RUNTIME;
    }
    rc = keys_save(&k, path);
    if (rc < 0) {
        keys_wipe(&k);
        fprintf(stderr, "dk-aggregator: keygen: %s: %s\n", path,
                rc == DK_EEXIST ? "exists already (never overwritten)" : err_str(rc));
        return EXIT_RUNTIME;
    }
    printf("public-key = %s\n", k.public_key);
    keys_wipe(&k);
    return EXIT_OK;
}

/* The command line's options; they may stand before and after the command (git style). */
typedef struct {
    const char *config, *period, *format, *outpath;
    bool json;
} cli_t;

/* Parses options until the first non-option (shortopts "+…") or to the end. Returns 0, 1 after
 * --help was printed, or -1 on a bad option (usage printed). */
static int parse_opts(int argc, char **argv, const char *shortopts, cli_t *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {"verbose", no_argument, NULL, 'v'},      {"period", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'h':
            usage(stdout);
            print_config_doc();
            return 1;
        case 'v':
            log_set_level(LOG_DEBUG);
            break;
        case 'p':
            o->period = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'o':
            o->outpath = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        default:
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    cli_t o = {0};
    int prc = parse_opts(argc, argv, "+c:hvp:f:o:j", &o);
    if (prc != 0) {
        return prc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind++];
    if ((prc = parse_opts(argc, argv, "c:hvp:f:o:j", &o)) != 0) {
        return prc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    const char *config = o.config, *period = o.period, *format = o.format, *outpath = o.outpath;
    bool json = o.json;
    const char *arg = optind < argc ? argv[optind] : NULL;
    if (optind + (arg ? 1 : 0) < argc) {
        fprintf(stderr, "dk-aggregator: %s: unexpected argument '%s'\n", cmd, argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "keygen") == 0) {
        if (arg) {
            return cmd_keygen(arg);
        }
        aconf_t *conf = load_conf(config);
        if (!conf) {
            return EXIT_USAGE;
        }
        int rc = cmd_keygen(conf->agg.key_file);
        aconf_destroy(&conf);
        return rc;
    }
    static const char *const known[] = {"run", "status", "verify", "export", "backup", NULL};
    int ok = 0;
    for (int i = 0; known[i]; i++) {
        ok |= strcmp(cmd, known[i]) == 0;
    }
    if (!ok) {
        fprintf(stderr, "dk-aggregator: unknown command '%s' (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "backup") == 0 && !arg) {
        fprintf(stderr, "dk-aggregator: backup needs a folder: backup DIR\n");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "backup") != 0 && arg) {
        fprintf(stderr, "dk-aggregator: %s: unexpected argument '%s'\n", cmd, arg);
        return EXIT_USAGE;
    }
    aconf_t *conf = load_conf(config);
    if (!conf) {
        return EXIT_USAGE;
    }
    int rc;
    if (strcmp(cmd, "run") == 0) {
        rc = cmd_run(conf);
    } else if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(conf, json);
    } else if (strcmp(cmd, "verify") == 0) {
        rc = cmd_verify(conf);
    } else if (strcmp(cmd, "export") == 0) {
        rc = cmd_export(conf, period, format, outpath);
    } else {
        rc = cmd_backup(conf, arg);
    }
    aconf_destroy(&conf);
    return rc;
}
