/* child — pulling child aggregators' snapshots. See child.h for the contract.
 *
 * One "kid" per [child NAME]: its own repeating timer, its own deadline timer and its own DEALER, so
 * nothing one child does (slow, dead, refusing) can hold another. A pull is a little state machine
 * driven by replies: pages of one pass are requested one after the other (the reply to page k holds
 * the cursor of page k+1), every decoded envelope is kept until the pull ends, and the whole pull is
 * applied with one store_child_apply, or not at all. */
#include "child.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "err.h"
#include "keys.h"
#include "store.h"
#include "text.h"
#include "wire.h"
#include "xmalloc.h"
#include "zloop.h"

#define LOG_TAG "child"
#include "log.h"

#define CHILD_MAX_LISTENERS 8

/* ---- config ----------------------------------------------------------------------------- */

static const conf_key_t child_keys[] = {
    {"unit", CONF_INT, offsetof(child_conf_t, unit), NULL, 1, 99999, NULL,
     "the child aggregator's unit code (its [aggregator] unit)"},
    {"endpoint", CONF_STRING, offsetof(child_conf_t, endpoint), NULL, 1, 512, NULL,
     "the child's ROUTER endpoint, e.g. tcp://10.0.3.2:7700"},
    {"server-key", CONF_KEY, offsetof(child_conf_t, server_key), NULL, 0, 0, NULL,
     "the child aggregator's CURVE public key (Z85)"},
    {"key-file", CONF_PATH, offsetof(child_conf_t, key_file), "", 0, 0, NULL,
     "key pair this parent pulls with (empty: [aggregator] key-file); a [reader] at the child"},
    {"interval", CONF_DURATION, offsetof(child_conf_t, interval_ms), "60s", 1000, 86400000, NULL,
     "pull period"},
    {"timeout", CONF_DURATION, offsetof(child_conf_t, timeout_ms), "20s", 100, 86400000, NULL,
     "deadline of one pull attempt (shorter than interval)"},
    {"page-cells", CONF_INT, offsetof(child_conf_t, page_cells), "1000", 1, 100000, NULL,
     "cells per snapshot page asked for (the child caps it)"},
    {"full-every", CONF_INT, offsetof(child_conf_t, full_every), "60", 0, 1000000, NULL,
     "force a full resync every N successful pulls (0: never)"},
    {"title", CONF_STRING, offsetof(child_conf_t, title), "", 0, 200, NULL,
     "the child unit's name as people read it, e.g. Huyện Đắk Mil (dashboard, status)"},
    CONF_END,
};

static void conf_section_init(conf_section_t *s, child_conf_t **list, size_t *count)
{
    memset(s, 0, sizeof *s);
    s->name = "child";
    s->repeated = true;
    s->id_type = CONF_STRING;
    s->id_offset = offsetof(child_conf_t, name);
    s->size = sizeof(child_conf_t);
    s->keys = child_keys;
    s->list = (void **)list;
    s->count = count;
    s->doc = "a child aggregator whose snapshots this one pulls (province over districts)";
}

void child_print_help(FILE *out)
{
    child_conf_t *list = NULL;
    size_t n = 0;
    conf_section_t s;
    conf_section_init(&s, &list, &n);
    conf_print_doc(out, &s, 1);
}

void child_conf_free(child_conf_t *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].name);
        free(list[i].endpoint);
        free(list[i].server_key);
        free(list[i].key_file);
        free(list[i].title);
    }
    free(list);
}

int child_conf_parse(const aconf_t *conf, child_conf_t **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (errlen > 0) {
        err[0] = '\0';
    }
    if (!aconf_section(conf, "child", NULL)) {
        return 0;
    }
    char *text = aconf_section_text(conf, "child");
    child_conf_t *list = NULL;
    size_t count = 0;
    conf_section_t s;
    conf_section_init(&s, &list, &count);
    conf_error_t ce;
    memset(&ce, 0, sizeof ce);
    int rc = conf_load_string(text, conf->path, &s, 1, &ce);
    free(text);
    if (rc < 0) {
        conf_error_format(&ce, err, errlen);
        return DK_ECONFIG;
    }
    /* Copy out of the conf-owned storage so the caller owns plain strings. */
    child_conf_t *res = xcalloc(count ? count : 1, sizeof *res);
    size_t ncopied = count;
    for (size_t i = 0; i < count; i++) {
        res[i] = list[i];
        res[i].name = xstrdup(list[i].name);
        res[i].endpoint = xstrdup(list[i].endpoint);
        res[i].server_key = xstrdup(list[i].server_key);
        res[i].key_file = list[i].key_file ? xstrdup(list[i].key_file) : NULL;
        res[i].title = xstrdup(list[i].title ? list[i].title : "");
        const aconf_section_t *sec = aconf_section(conf, "child", list[i].name);
        res[i].line = sec ? sec->line : 0;
    }
    conf_release(&s, 1); /* zeroes list and count */
    count = ncopied;
    for (size_t i = 0; i < count; i++) {
        const child_conf_t *c = &res[i];
        const char *why = NULL;
        const char *key = "";
        if (c->timeout_ms >= c->interval_ms) {
            why = "must be shorter than interval (a pull must end before the next one is due)";
            key = "timeout";
        } else if (!c->server_key || !keys_z85_valid(c->server_key)) {
            why = "not a Z85 public key (40 characters expected)";
            key = "server-key";
        } else if (c->unit == conf->agg.unit) {
            why = "is this aggregator's own unit";
            key = "unit";
        }
        for (size_t j = 0; !why && j < i; j++) {
            if (res[j].unit == c->unit) {
                why = "the same unit is already pulled by another [child] section";
                key = "unit";
            }
        }
        for (size_t j = 0; !why && j < conf->n_communes; j++) {
            if (conf->communes[j].code == c->unit) {
                why = "is also a [commune] of this aggregator";
                key = "unit";
            }
        }
        if (why) {
            snprintf(err, errlen, "%s:%d: [child %s] %s: %s", conf->path, c->line, c->name, key,
                     why);
            child_conf_free(res, count);
            return DK_ECONFIG;
        }
    }
    *out = res;
    *n = count;
    return 0;
}

/* ---- the puller ------------------------------------------------------------------------- */

typedef enum { PASS_FULL, PASS_SINCE } pass_t;

typedef struct kid {
    child_t *owner;
    child_conf_t conf;
    keys_t keys;
    uv_timer_t tick;     /* the pull period */
    uv_timer_t deadline; /* one attempt's deadline */
    zloop_sock_t *zs;
    /* the pull in flight */
    bool pulling;
    bool full;           /* this pull replaces everything (started or fell back to full) */
    pass_t pass;
    uint64_t since;      /* since_version of the PASS_SINCE pass */
    uint64_t held;       /* child version the store held when the pull started (0: none) */
    bool have_held;
    uint8_t held_epoch[16]; /* the child's epoch the store held then (store_child_get) */
    size_t held_epoch_len;  /* 0: none held (a child that sends none, or never pulled) */
    size_t pass_pages;   /* pages received in the current pass */
    uint64_t pass_first_version;
    uint8_t cursor[64];
    size_t cursor_len;
    bool has_cursor;
    Dk__Envelope **envs; /* every reply of this pull, in order (owned) */
    size_t nenvs, capenvs;
    /* what follows survives pulls */
    bool want_full;      /* next pull is full (resync asked, mismatch seen, forced) */
    bool check_events;   /* compare unit event sums with Snapshot.events after an apply */
    uint64_t since_full; /* successful pulls since the last full one */
    uint64_t pulls_ok, pulls_failed;
    uint32_t failed_in_row;
    int64_t last_ok, last_attempt;
    uint64_t child_version;
    bool last_full;
    char last_error[256];
} kid_t;

struct child_s {
    uv_loop_t *loop;
    void *zctx;
    store_t *store;
    kid_t *kids;
    size_t nkids;
    bool started, stopped;
    int closing;         /* uv handles still to be closed */
    struct {
        child_update_fn *fn;
        void *arg;
    } listeners[CHILD_MAX_LISTENERS];
    size_t nlisteners;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void kid_free_pages(kid_t *k)
{
    for (size_t i = 0; i < k->nenvs; i++) {
        wire_free(&k->envs[i]);
    }
    k->nenvs = 0;
}

static void kid_close_socket(kid_t *k)
{
    zloop_sock_destroy(&k->zs);
}

static void publish(child_t *self, const Dk__Update *u)
{
    for (size_t i = 0; i < self->nlisteners; i++) {
        self->listeners[i].fn(self->listeners[i].arg, u);
    }
}

/* Ends the attempt in flight as a failure: recorded in the store (durable, visible to the
 * dashboard), the socket recreated for the next attempt so that a late reply to this one can never
 * be taken for the answer to the next. */
/* vi is what the province's staff read (dashboard, status): Vietnamese, followed by the child's
 * endpoint; the English detail from fmt goes to the log. */
static void kid_fail(kid_t *k, const char *vi, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void kid_fail(kid_t *k, const char *vi, const char *fmt, ...)
{
    child_t *self = k->owner;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(k->last_error, sizeof k->last_error, "%s (%s)", vi, k->conf.endpoint);
    text_utf8_cut(k->last_error);
    uv_timer_stop(&k->deadline);
    kid_free_pages(k);
    kid_close_socket(k);
    k->pulling = false;
    k->pulls_failed++;
    k->failed_in_row++;
    k->last_attempt = now_s();
    log_warn("pull failed child=%s unit=%" PRId64 " failed_in_row=%u: %s", k->conf.name,
             k->conf.unit, k->failed_in_row, detail);
    uint64_t before = store_version(self->store);
    int rc = store_child_note_failure(self->store, (uint32_t)k->conf.unit, k->last_attempt,
                                      k->last_error);
    if (rc < 0) {
        log_error("cannot record the failure child=%s: %s", k->conf.name, err_str(rc));
        return;
    }
    if (self->nlisteners == 0) {
        return;
    }
    store_unit_t st;
    if (store_child_get(self->store, (uint32_t)k->conf.unit, &st) != 0) {
        return;
    }
    Dk__UnitState us = DK__UNIT_STATE__INIT;
    store_pb_unit_fill(&st, &us);
    Dk__UnitState *usp = &us;
    Dk__Update up = DK__UPDATE__INIT;
    up.has_version = up.has_prev_version = true;
    up.version = st.version ? st.version : store_version(self->store);
    up.prev_version = before;
    uint8_t epoch[STORE_EPOCH_LEN];
    if (store_epoch(self->store, epoch) == 0) {
        up.has_epoch = true;
        up.epoch.data = epoch;
        up.epoch.len = sizeof epoch;
    }
    up.n_units = 1;
    up.units = &usp;
    publish(self, &up);
    store_pb_unit_clear(&us);
}

static int kid_open_socket(kid_t *k);
static void kid_on_tick(uv_timer_t *t);

static void kid_send_request(kid_t *k)
{
    Dk__SnapshotRequest req = DK__SNAPSHOT_REQUEST__INIT;
    if (k->pass == PASS_SINCE) {
        req.has_since_version = true;
        req.since_version = k->since;
    }
    if (k->has_cursor) {
        req.has_after = true;
        req.after.data = k->cursor;
        req.after.len = k->cursor_len;
    }
    req.has_max_cells = true;
    req.max_cells = (uint32_t)k->conf.page_cells;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT_REQUEST;
    env.snapshot_request = &req;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(&env, &buf, &len);
    if (rc < 0) {
        kid_fail(k, "Lỗi nội bộ khi tạo yêu cầu lấy số liệu",
                 "cannot encode the snapshot request: %s", err_str(rc));
        return;
    }
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    rc = zloop_sock_send(k->zs, parts, lens, 1);
    free(buf);
    if (rc < 0) {
        kid_fail(k, "Không gửi được yêu cầu lấy số liệu",
                 "cannot send the snapshot request to %s: %s", k->conf.endpoint, err_str(rc));
    }
}

/* Starts a pass: PASS_FULL from the first page, or PASS_SINCE from `since`. */
static void kid_begin_pass(kid_t *k, pass_t pass, uint64_t since)
{
    k->pass = pass;
    k->since = since;
    k->pass_pages = 0;
    k->pass_first_version = 0;
    k->has_cursor = false;
    k->cursor_len = 0;
    kid_send_request(k);
}

static void kid_restart_full(kid_t *k, const char *why)
{
    log_info("full resync child=%s unit=%" PRId64 ": %s", k->conf.name, k->conf.unit, why);
    kid_free_pages(k);
    k->full = true;
    kid_begin_pass(k, PASS_FULL, 0);
}

/* True when snapshot s carries the epoch e (len bytes; 0: none). */
static bool epoch_same(const Dk__Snapshot *s, const uint8_t *e, size_t len)
{
    size_t slen = s->has_epoch ? s->epoch.len : 0;
    return slen == len && (len == 0 || memcmp(s->epoch.data, e, len) == 0);
}

/* Hex of an epoch for a log line, "-" when there is none (at most 16 bytes shown). */
static void epoch_hex(const uint8_t *e, size_t len, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    if (len == 0) {
        strcpy(out, "-");
        return;
    }
    len = len > 16 ? 16 : len;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[e[i] >> 4];
        out[2 * i + 1] = digits[e[i] & 15];
    }
    out[2 * len] = '\0';
}

typedef struct {
    uint32_t owner;
    uint64_t events;
} sum_arg_t;

static int sum_units(void *arg, const store_unit_t *u)
{
    sum_arg_t *s = arg;
    if (u->owner == s->owner) {
        s->events += u->events;
    }
    return 0;
}

/* True when an incremental reply shows a unit going back: a commune's high-water mark or highest
 * seq below what this store holds for it. Only a child restored from an older backup does that;
 * its version may already have grown past ours again, so the version alone cannot tell. */
static bool units_went_back(kid_t *k, char *why, size_t whylen)
{
    for (size_t p = 0; p < k->nenvs; p++) {
        const Dk__Snapshot *s = k->envs[p]->snapshot;
        for (size_t i = 0; i < s->n_units; i++) {
            const Dk__UnitState *u = s->units[i];
            store_unit_t held;
            if (!u->has_unit || store_unit_get(k->owner->store, u->unit, &held) != 0) {
                continue;
            }
            if (held.owner != (uint32_t)k->conf.unit) {
                continue;
            }
            if ((u->has_high_water && u->high_water < held.high_water) ||
                (u->has_max_seq && u->max_seq < held.max_seq)) {
                snprintf(why, whylen,
                         "unit %u went back (high-water %" PRIu64 " < %" PRIu64 " held)", u->unit,
                         u->has_high_water ? u->high_water : 0, held.high_water);
                return true;
            }
        }
    }
    return false;
}

static void kid_finish(kid_t *k)
{
    child_t *self = k->owner;
    char why[200];
    if (!k->full && units_went_back(k, why, sizeof why)) {
        kid_restart_full(k, why);
        return;
    }
    const Dk__Snapshot **pages = xcalloc(k->nenvs, sizeof *pages);
    for (size_t i = 0; i < k->nenvs; i++) {
        pages[i] = k->envs[i]->snapshot;
    }
    const Dk__Snapshot *last = pages[k->nenvs - 1];
    store_commit_t res;
    memset(&res, 0, sizeof res);
    int64_t now = now_s();
    int rc = store_child_apply(self->store, (uint32_t)k->conf.unit,
                               (const Dk__Snapshot *const *)pages, k->nenvs, k->full, now, &res);
    free(pages);
    if (rc < 0) {
        store_commit_clear(&res);
        if (rc == DK_EINVAL && !k->full) {
            /* The store refused the changes (e.g. of another epoch than it holds): only a full
             * snapshot can put this child right. */
            k->want_full = true;
        }
        kid_fail(k, "Không lưu được số liệu nhận về (lỗi ổ đĩa hoặc cơ sở dữ liệu của cấp này)",
                 "cannot store the snapshot of %s: %s", k->conf.name, err_str(rc));
        return;
    }
    uv_timer_stop(&k->deadline);
    size_t ncells = 0;
    for (size_t i = 0; i < k->nenvs; i++) {
        ncells += k->envs[i]->snapshot->n_cells;
    }
    uint64_t version = 0;
    for (size_t i = 0; i < k->nenvs; i++) {
        if (k->envs[i]->snapshot->version > version) {
            version = k->envs[i]->snapshot->version;
        }
    }
    bool has_events = last->has_events;
    uint64_t events = last->events;
    bool was_full = k->full;
    log_info("pulled child=%s unit=%" PRId64 " %s pages=%zu cells=%zu child_version=%" PRIu64
             " version=%" PRIu64,
             k->conf.name, k->conf.unit, was_full ? "full" : "changes", k->nenvs, ncells, version,
             res.version);
    kid_free_pages(k);
    k->pulling = false;
    k->pulls_ok++;
    k->failed_in_row = 0;
    k->last_ok = now;
    k->child_version = version;
    k->last_full = was_full;
    k->last_error[0] = '\0';
    k->since_full = was_full ? 0 : k->since_full + 1;
    if (was_full) {
        k->want_full = false;
    }
    if (k->conf.full_every > 0 && k->since_full >= (uint64_t)k->conf.full_every) {
        k->want_full = true;
    }
    /* The sum of the child's unit event counts must equal its Snapshot.events at that version
     * (store.h): a difference means a change this parent never saw (a gap). */
    if (has_events && k->check_events) {
        sum_arg_t sa = {.owner = (uint32_t)k->conf.unit, .events = 0};
        if (store_units_foreach(self->store, sum_units, &sa) == 0 && sa.events != events) {
            if (was_full) {
                log_warn("child=%s: unit event counts sum to %" PRIu64 " but the snapshot says %"
                         PRIu64 " even after a full resync; this check is off for this child",
                         k->conf.name, sa.events, events);
                k->check_events = false;
            } else {
                log_warn("child=%s: unit event counts sum to %" PRIu64 ", snapshot says %" PRIu64
                         ": full resync next",
                         k->conf.name, sa.events, events);
                k->want_full = true;
                uv_timer_start(&k->tick, kid_on_tick, 10, (uint64_t)k->conf.interval_ms);
            }
        }
    }
    if (self->nlisteners > 0 && res.version != res.prev_version) {
        Dk__Update *up = NULL;
        if (store_update_build(&res, &up) == 0 && up) {
            publish(self, up);
            store_update_free(&up);
        }
    }
    store_commit_clear(&res);
}

static void kid_on_msg(zloop_sock_t *zs, zmq_msg_t *frames, size_t nframes, void *arg)
{
    kid_t *k = arg;
    (void)zs;
    if (!k->pulling) {
        log_debug("child=%s: reply outside a pull dropped", k->conf.name);
        return;
    }
    zmq_msg_t *f = &frames[nframes - 1];
    Dk__Envelope *env = NULL;
    int rc = wire_decode(zmq_msg_data(f), zmq_msg_size(f), &env);
    if (rc < 0) {
        kid_fail(k, "Trả lời nhận về bị hỏng, không đọc được",
                 "reply from %s does not decode: %s", k->conf.endpoint, err_str(rc));
        return;
    }
    if (env->msg_case == DK__ENVELOPE__MSG_REFUSAL) {
        const Dk__Refusal *r = env->refusal;
        char vi[320];
        snprintf(vi, sizeof vi, "Đơn vị cấp dưới từ chối yêu cầu: %s",
                 r->reason && r->reason[0] ? r->reason : "không rõ lý do");
        kid_fail(k, vi, "refused by %s: code %d (%s)", k->conf.endpoint,
                 r->has_code ? r->code : 0, r->reason ? r->reason : "");
        wire_free(&env);
        return;
    }
    if (env->msg_case != DK__ENVELOPE__MSG_SNAPSHOT) {
        kid_fail(k, "Trả lời không đúng giao thức",
                 "unexpected reply from %s (message %d)", k->conf.endpoint, (int)env->msg_case);
        wire_free(&env);
        return;
    }
    const Dk__Snapshot *s = env->snapshot;
    if (s->has_unit && s->unit != (uint32_t)k->conf.unit) {
        kid_fail(k, "Máy chủ này phục vụ một đơn vị khác với mã trong cấu hình [child]",
                 "%s serves unit %u, but [child %s] says unit %" PRId64, k->conf.endpoint,
                 s->unit, k->conf.name, k->conf.unit);
        wire_free(&env);
        return;
    }
    if (s->has_resync && s->resync) {
        wire_free(&env);
        if (k->pass == PASS_FULL || k->full) {
            /* Asked again during the catch-up pass of a full snapshot: the child's change index
             * moved on faster than we page. Try afresh next time rather than loop now. */
            k->want_full = true;
            kid_fail(k, "Đơn vị cấp dưới yêu cầu đồng bộ lại giữa chừng; sẽ lấy lại ở lần sau",
                     "%s asked for a resync during a full snapshot; retrying next pull",
                     k->conf.endpoint);
            return;
        }
        kid_restart_full(k, "the child asked for a resync");
        return;
    }
    /* The epoch names the child's history (store.h): versions of another epoch are not comparable,
     * so "changes since the version held" would miss what the child lost and then redid
     * differently (restored from an older backup, then climbed past our version again). */
    if (k->pass == PASS_SINCE && !k->full && k->nenvs == 0 && k->have_held &&
        !epoch_same(s, k->held_epoch, k->held_epoch_len)) {
        char why[160], a[33], b[33];
        epoch_hex(k->held_epoch, k->held_epoch_len, a);
        epoch_hex(s->has_epoch ? s->epoch.data : NULL, s->has_epoch ? s->epoch.len : 0, b);
        snprintf(why, sizeof why, "the child's epoch changed (held %s, now %s: restored from a "
                                  "backup)", a, b);
        wire_free(&env);
        kid_restart_full(k, why);
        return;
    }
    if (k->nenvs > 0) {
        const Dk__Snapshot *first = k->envs[0]->snapshot;
        if (!epoch_same(s, first->has_epoch ? first->epoch.data : NULL,
                        first->has_epoch ? first->epoch.len : 0)) {
            /* Restored and restarted between two pages of this pull: start over from scratch. */
            wire_free(&env);
            kid_restart_full(k, "the child's epoch changed during the pull");
            return;
        }
    }
    if (k->pass == PASS_SINCE && !k->full && k->pass_pages == 0 && k->have_held &&
        s->version < k->held) {
        char why[120];
        snprintf(why, sizeof why, "the child's version went back (%" PRIu64 " < %" PRIu64
                                  " held; restored from a backup?)",
                 s->version, k->held);
        wire_free(&env);
        kid_restart_full(k, why);
        return;
    }
    if (k->nenvs == k->capenvs) {
        k->capenvs = k->capenvs ? 2 * k->capenvs : 8;
        k->envs = xrealloc(k->envs, k->capenvs * sizeof *k->envs);
    }
    k->envs[k->nenvs++] = env;
    if (k->pass_pages++ == 0) {
        k->pass_first_version = s->version;
    }
    if (s->has_next && s->next.len > 0) {
        if (s->next.len > sizeof k->cursor) {
            kid_fail(k, "Trả lời không đúng giao thức (con trỏ phân trang quá dài)",
                     "%s sent a paging cursor of %zu bytes (at most %zu)", k->conf.endpoint,
                     s->next.len, sizeof k->cursor);
            return;
        }
        memcpy(k->cursor, s->next.data, s->next.len);
        k->cursor_len = s->next.len;
        k->has_cursor = true;
        kid_send_request(k);
        return;
    }
    if (k->pass == PASS_FULL && k->pass_pages > 1) {
        /* Pages of a full snapshot come from different read transactions: ask for what changed
         * since the first one, and the union is the state at the last reply (Clone pattern). */
        kid_begin_pass(k, PASS_SINCE, k->pass_first_version);
        return;
    }
    kid_finish(k);
}

static int kid_open_socket(kid_t *k)
{
    child_t *self = k->owner;
    void *z = zmq_socket(self->zctx, ZMQ_DEALER);
    if (!z) {
        return DK_ENET;
    }
    int zero = 0;
    int64_t maxmsg = WIRE_MAX_FRAME;
    int ivl = 100, ivl_max = 5000;
    int hb = 5000, hbt = 15000;
    zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(z, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(z, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    int rc = keys_apply_client(z, &k->keys, k->conf.server_key);
    if (rc < 0 || zmq_connect(z, k->conf.endpoint) != 0) {
        log_error("child=%s: cannot connect to %s: %s", k->conf.name, k->conf.endpoint,
                  rc < 0 ? err_str(rc) : zmq_strerror(zmq_errno()));
        zmq_close(z);
        return rc < 0 ? rc : DK_ENET;
    }
    k->zs = zloop_sock_new(self->loop, &z, kid_on_msg, k);
    if (!k->zs) {
        zmq_close(z);
        return DK_ENET;
    }
    return zloop_sock_start(k->zs);
}

static void kid_on_deadline(uv_timer_t *t)
{
    kid_t *k = t->data;
    if (k->pulling) {
        char vi[320];
        snprintf(vi, sizeof vi,
                 "Không nhận đủ trả lời trong %.1f giây: máy chủ cấp dưới tắt, mất mạng, hoặc khóa "
                 "của cấp này chưa được khai báo là [reader] ở đó",
                 (double)k->conf.timeout_ms / 1000.0);
        kid_fail(k, vi,
                 "no complete answer from %s within %" PRId64 " ms (child down, unreachable, "
                 "or this parent's key is not a [reader] there)",
                 k->conf.endpoint, k->conf.timeout_ms);
    }
}

static void kid_start_pull(kid_t *k)
{
    child_t *self = k->owner;
    if (k->pulling || self->stopped) {
        return;
    }
    if (!k->zs) {
        int rc = kid_open_socket(k);
        if (rc < 0) {
            k->pulling = true;
            kid_fail(k, "Không mở được kết nối", "cannot open a socket to %s: %s", k->conf.endpoint, err_str(rc));
            return;
        }
    }
    store_unit_t st;
    k->have_held = false;
    k->held = 0;
    k->held_epoch_len = 0;
    if (store_child_get(self->store, (uint32_t)k->conf.unit, &st) == 0 && st.last_pull > 0) {
        k->have_held = true;
        k->held = st.child_version;
        k->held_epoch_len = st.instance_len; /* a child record's instance is the child's epoch */
        memcpy(k->held_epoch, st.instance, sizeof k->held_epoch);
    }
    k->pulling = true;
    k->last_attempt = now_s();
    kid_free_pages(k);
    uv_timer_start(&k->deadline, kid_on_deadline, (uint64_t)k->conf.timeout_ms, 0);
    k->full = !k->have_held || k->want_full;
    log_debug("pull child=%s %s since=%" PRIu64, k->conf.name, k->full ? "full" : "changes",
              k->held);
    if (k->full) {
        kid_begin_pass(k, PASS_FULL, 0);
    } else {
        kid_begin_pass(k, PASS_SINCE, k->held);
    }
}

static void kid_on_tick(uv_timer_t *t)
{
    kid_start_pull(t->data);
}

int child_new(const aconf_t *conf, struct store *store, uv_loop_t *loop, void *zmq_ctx,
              child_t **out, char *err, size_t errlen)
{
    *out = NULL;
    child_conf_t *list = NULL;
    size_t n = 0;
    int rc = child_conf_parse(conf, &list, &n, err, errlen);
    if (rc < 0) {
        return rc;
    }
    child_t *self = xcalloc(1, sizeof *self);
    self->loop = loop;
    self->zctx = zmq_ctx;
    self->store = store;
    self->kids = xcalloc(n ? n : 1, sizeof *self->kids);
    for (size_t i = 0; i < n; i++) {
        kid_t *k = &self->kids[i];
        k->owner = self;
        k->conf = list[i];
        k->check_events = true;
        const char *kf = k->conf.key_file ? k->conf.key_file : conf->agg.key_file;
        char kerr[300];
        rc = kf ? keys_load(kf, &k->keys, kerr, sizeof kerr) : DK_ECONFIG;
        if (rc < 0) {
            snprintf(err, errlen, "%s:%d: [child %s] key-file: %s", conf->path, k->conf.line,
                     k->conf.name, kf ? kerr : "no key file (set key-file or [aggregator] key-file)");
            /* Free the kids made so far plus the rest of the list. */
            for (size_t j = 0; j <= i; j++) {
                keys_wipe(&self->kids[j].keys);
            }
            free(self->kids);
            free(self);
            child_conf_free(list, n);
            return rc == DK_ENOTFOUND ? DK_EIO : rc;
        }
        self->nkids++;
    }
    free(list); /* the strings now belong to the kids */
    *out = self;
    return 0;
}

int child_start(child_t *self)
{
    if (self->started || self->stopped) {
        return 0;
    }
    self->started = true;
    for (size_t i = 0; i < self->nkids; i++) {
        kid_t *k = &self->kids[i];
        uv_timer_init(self->loop, &k->tick);
        uv_timer_init(self->loop, &k->deadline);
        k->tick.data = k;
        k->deadline.data = k;
        /* Spread the first pulls so that many children are not pulled in the same instant. */
        uv_timer_start(&k->tick, kid_on_tick, 300 + 250 * (uint64_t)(i % 40),
                       (uint64_t)k->conf.interval_ms);
        log_info("child=%s unit=%" PRId64 " endpoint=%s interval=%" PRId64 "ms timeout=%" PRId64
                 "ms",
                 k->conf.name, k->conf.unit, k->conf.endpoint, k->conf.interval_ms,
                 k->conf.timeout_ms);
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    kid_t *k = h->data;
    k->owner->closing--;
}

void child_stop(child_t *self)
{
    if (!self || self->stopped) {
        return;
    }
    self->stopped = true;
    for (size_t i = 0; i < self->nkids; i++) {
        kid_t *k = &self->kids[i];
        kid_free_pages(k);
        k->pulling = false;
        kid_close_socket(k);
        if (self->started) {
            uv_close((uv_handle_t *)&k->tick, on_closed);
            uv_close((uv_handle_t *)&k->deadline, on_closed);
            self->closing += 2;
        }
    }
}

void child_destroy(child_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    child_t *self = *self_p;
    if (!self->stopped) {
        child_stop(self);
    }
    if (self->closing > 0) {
        /* The loop never ran the close callbacks: run it for them now rather than free memory
         * libuv still points at. */
        while (self->closing > 0 && uv_run(self->loop, UV_RUN_ONCE)) {
        }
    }
    for (size_t i = 0; i < self->nkids; i++) {
        kid_t *k = &self->kids[i];
        kid_free_pages(k);
        free(k->envs);
        keys_wipe(&k->keys);
        free(k->conf.name);
        free(k->conf.endpoint);
        free(k->conf.server_key);
        free(k->conf.key_file);
        free(k->conf.title);
    }
    free(self->kids);
    free(self);
    *self_p = NULL;
}

static kid_t *find(child_t *self, const char *name)
{
    for (size_t i = 0; i < self->nkids; i++) {
        if (strcmp(self->kids[i].conf.name, name) == 0) {
            return &self->kids[i];
        }
    }
    return NULL;
}

int child_pull_now(child_t *self, const char *name)
{
    if (self->stopped || !self->started) {
        return DK_ECLOSED;
    }
    kid_t *one = name ? find(self, name) : NULL;
    if (name && !one) {
        return DK_ENOTFOUND;
    }
    for (size_t i = 0; i < self->nkids; i++) {
        kid_t *k = &self->kids[i];
        if ((!one || k == one) && !k->pulling) {
            /* Restart the period from now, so the scheduled pull does not follow right after. */
            uv_timer_start(&k->tick, kid_on_tick, 0, (uint64_t)k->conf.interval_ms);
        }
    }
    return 0;
}

int child_resync(child_t *self, const char *name)
{
    if (self->stopped) {
        return DK_ECLOSED;
    }
    kid_t *one = name ? find(self, name) : NULL;
    if (name && !one) {
        return DK_ENOTFOUND;
    }
    for (size_t i = 0; i < self->nkids; i++) {
        if (!one || &self->kids[i] == one) {
            self->kids[i].want_full = true;
        }
    }
    return 0;
}

size_t child_count(const child_t *self)
{
    return self ? self->nkids : 0;
}

void child_info(const child_t *self, size_t i, child_info_t *out)
{
    const kid_t *k = &self->kids[i];
    memset(out, 0, sizeof *out);
    out->name = k->conf.name;
    out->unit = (uint32_t)k->conf.unit;
    out->endpoint = k->conf.endpoint;
    out->pulling = k->pulling;
    out->pulls_ok = k->pulls_ok;
    out->pulls_failed = k->pulls_failed;
    out->failed_in_row = k->failed_in_row;
    out->last_ok = k->last_ok;
    out->last_attempt = k->last_attempt;
    out->child_version = k->child_version;
    out->last_full = k->last_full;
    out->last_error = k->last_error;
}

int child_on_update(child_t *self, child_update_fn *fn, void *arg)
{
    if (self->nlisteners >= CHILD_MAX_LISTENERS) {
        return DK_EFULL;
    }
    self->listeners[self->nlisteners].fn = fn;
    self->listeners[self->nlisteners].arg = arg;
    self->nlisteners++;
    return 0;
}
