/* api — see api.h and docs/api.md. */
#include "api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_TAG "api"
#include "catalog.h"
#include "category.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "report.h"
#include "store.h"
#include "units.h"
#include "xmalloc.h"

struct api {
    struct store *store;
    const aconf_t *conf;
    report_plan_t *plan;
    period_rules_t rules;
    int64_t silent_after_s;
    child_conf_t *children;  /* the [child NAME] sections (names, titles, intervals) */
    size_t nchildren;
    child_t *child;          /* the running puller (borrowed), NULL outside `run` */
    units_t *units;          /* unit names: config, then [aggregator] units-file */
};

int api_new(api_t **out, struct store *store, const aconf_t *conf, const http_conf_t *hc,
            char *err, size_t errlen)
{
    api_t *self = xcalloc(1, sizeof *self);
    self->store = store;
    self->conf = conf;
    self->rules.month_start = hc && hc->month_start > 0 ? (int)hc->month_start : 1;
    self->silent_after_s = hc && hc->silent_after > 0 ? hc->silent_after / 1000 : 86400;
    if (hc && hc->plan) {
        int rc = report_plan_load(hc->plan, conf ? (uint32_t)conf->unit : 0, &self->plan, err,
                                  errlen);
        if (rc < 0) {
            free(self);
            return rc;
        }
    }
    if (conf) {
        int rc = child_conf_parse(conf, &self->children, &self->nchildren, err, errlen);
        if (rc < 0) {
            report_plan_destroy(&self->plan);
            free(self);
            return rc;
        }
        rc = units_from_conf(conf, &self->units, err, errlen);
        if (rc < 0) {
            report_plan_destroy(&self->plan);
            child_conf_free(self->children, self->nchildren);
            free(self);
            return rc;
        }
    }
    *out = self;
    return 0;
}

void api_set_child(api_t *self, child_t *child)
{
    self->child = child;
}

void api_destroy(api_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    report_plan_destroy(&(*self_p)->plan);
    child_conf_free((*self_p)->children, (*self_p)->nchildren);
    units_destroy(&(*self_p)->units);
    free(*self_p);
    *self_p = NULL;
}

void api_reply_clear(api_reply_t *reply)
{
    if (reply == NULL) {
        return;
    }
    free(reply->body);
    free(reply->filename);
    memset(reply, 0, sizeof *reply);
}

uint64_t api_version(api_t *self)
{
    return store_version(self->store);
}

static void reply_json(api_reply_t *reply, unsigned status, json_t **j)
{
    reply->status = status;
    reply->content_type = "application/json; charset=utf-8";
    reply->body = json_take(j, &reply->len);
}

static void reply_error(api_reply_t *reply, unsigned status, const char *field, const char *msg)
{
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "error", msg);
    if (field) {
        json_kv_str(j, "field", field);
    }
    json_end(j);
    reply_json(reply, status, &j);
}

/* The period asked for, or the default: the current year. */
static const char *period_arg(api_arg_fn *arg, void *ctx, char *def, size_t deflen)
{
    const char *p = arg(ctx, "period");
    if (p && *p) {
        return p;
    }
    int y, m, d;
    period_day_to_ymd(period_today(), &y, &m, &d);
    snprintf(def, deflen, "%d", y);
    return def;
}

/* Parses an optional unsigned query argument; returns false (and replies 400) when malformed. */
static bool uint_arg(api_arg_fn *arg, void *ctx, const char *name, uint64_t max, uint64_t *out,
                     api_reply_t *reply)
{
    const char *s = arg(ctx, name);
    if (s == NULL || *s == '\0') {
        return true;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || s[0] == '-' || v > max) {
        char *m = xasprintf("%s '%s': expected a whole number up to %" PRIu64, name, s, max);
        reply_error(reply, 400, name, m);
        free(m);
        return false;
    }
    *out = v;
    return true;
}

static int build(api_t *self, const char *period, report_t **r, api_reply_t *reply)
{
    char err[512];
    int rc = report_build_units(self->store, self->conf, self->units, self->plan, &self->rules,
                                period, r, err, sizeof err);
    if (rc == DK_EINVAL) {
        reply_error(reply, 400, "period", err);
    } else if (rc < 0) {
        log_error("report period=%s: %s", period, err);
        reply_error(reply, 500, NULL, err);
    }
    return rc;
}

static void model_route(api_t *self, unsigned parts, api_arg_fn *arg, void *ctx,
                        api_reply_t *reply)
{
    char def[16];
    const char *period = period_arg(arg, ctx, def, sizeof def);
    uint64_t unit = 0;
    if (!uint_arg(arg, ctx, "unit", 99999, &unit, reply)) {
        return;
    }
    report_t *r = NULL;
    if (build(self, period, &r, reply) < 0) {
        return;
    }
    json_t *j = json_new();
    json_obj(j);
    report_json(r, parts | REPORT_PART_META, (uint32_t)unit, j);
    json_end(j);
    report_destroy(&r);
    reply_json(reply, 200, &j);
}

/* ---- /info ---------------------------------------------------------------------------------- */
static void route_info(api_t *self, api_reply_t *reply)
{
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "api", "v1");
    json_kv_u64(j, "unit", self->conf ? self->conf->unit : 0);
    json_kv_str(j, "name", self->conf ? self->conf->name : "");
    json_kv_str(j, "level", self->conf ? self->conf->level : "");
    json_kv_u64(j, "version", store_version(self->store));
    json_kv_i64(j, "now", (int64_t)time(NULL));
    json_kv_i64(j, "silent_after", self->silent_after_s);
    json_kv_i64(j, "month_start", self->rules.month_start);
    char def[16];
    int y, m, d;
    period_day_to_ymd(period_today(), &y, &m, &d);
    snprintf(def, sizeof def, "%d", y);
    json_kv_str(j, "default_period", def);
    json_kv_u64(j, "children", self->nchildren);
    json_key(j, "communes");
    json_arr(j);
    for (size_t i = 0; self->conf && i < self->conf->n_communes; i++) {
        json_obj(j);
        json_kv_u64(j, "unit", self->conf->communes[i].code);
        json_kv_str(j, "name", self->conf->communes[i].name);
        json_kv_u64(j, "areas", self->conf->communes[i].areas);
        json_end(j);
    }
    json_end(j);
    json_key(j, "contents");
    json_arr(j);
    for (int c = 1; c <= 5; c++) {
        json_obj(j);
        json_kv_i64(j, "content", c);
        json_kv_str(j, "label", catalog_label(CATALOG_CONTENT, c));
        json_end(j);
    }
    json_end(j);
    json_end(j);
    reply_json(reply, 200, &j);
}

/* ---- /units --------------------------------------------------------------------------------- */
typedef struct {
    api_t *api;
    json_t *j;
    int64_t now;
    int32_t today;
    uint32_t *seen;
    size_t nseen;
    api_child_t *kids;
    size_t nkids;
} units_ctx_t;

/* Whether the figures of unit state u (NULL: never heard from) are old, and *fresh_at = when they
 * were last current at their source (now for this store's own communes; 0: never).
 * A unit local at its child is as fresh as the child (its stale flag, its last pull). A unit
 * the child passes on from further down (a nation: a province's district's commune) is also old
 * when the freshness it came with is: older than the child's stale limit while the link below
 * reports failed pulls (the province cannot reach that district), or older than twice that limit
 * in any case (every level allows two intervals; this store knows only its own). */
static bool unit_freshness(const store_unit_t *u, const api_child_t *ch, int64_t now,
                           int64_t *fresh_at)
{
    *fresh_at = now;
    if (!u || u->owner == 0) {
        return false;
    }
    *fresh_at = u->last_pull;
    if (!ch) {
        return true;
    }
    if (store_unit_is_fresh_own(u)) {
        *fresh_at = ch->last_pull;
        return ch->stale;
    }
    int64_t limit = 2 * ch->interval + 1;
    bool never = u->last_pull <= 0;
    int64_t age = never || u->last_pull > now ? 0 : now - u->last_pull; /* clocks may differ */
    return ch->stale || never || (u->failed_pulls > 0 && age > limit) || age > 2 * limit;
}

static void unit_json(units_ctx_t *c, uint32_t unit, const store_unit_t *u)
{
    const aconf_commune_t *cc = c->api->conf ? aconf_commune(c->api->conf, unit) : NULL;
    json_t *j = c->j;
    json_obj(j);
    json_kv_u64(j, "unit", unit);
    /* Names: the config's, else the official list's (a province knows its communes that way). */
    char *name = units_label(c->api->units, unit, c->today);
    json_kv_str(j, "name", name);
    free(name);
    units_entry_t ue;
    bool official = units_find_near(c->api->units, unit, c->today, &ue) == 0 && ue.parent != 0;
    if (official) {
        json_kv_u64(j, "parent", ue.parent);
        json_kv_str(j, "parent_name", units_name(c->api->units, ue.parent, c->today));
    } else {
        json_key(j, "parent");
        json_null(j);
        json_kv_str(j, "parent_name", NULL);
    }
    json_kv_bool(j, "configured", cc != NULL);
    json_kv_u64(j, "areas", cc ? cc->areas : 0);
    int64_t last = u ? u->last_contact : 0;
    int64_t silent_for = last > 0 ? c->now - last : -1;
    const char *status = "never";
    if (u && last > 0) {
        status = silent_for > c->api->silent_after_s ? "silent" : "ok";
    } else if (u && u->events > 0) {
        status = "ok";
    }
    json_kv_str(j, "status", status);
    json_kv_i64(j, "last_contact", last);
    json_kv_i64(j, "silent_for", silent_for);
    json_kv_u64(j, "backlog", u ? u->backlog : 0);
    json_kv_i64(j, "oldest_waiting", u ? u->oldest_waiting : 0);
    json_kv_u64(j, "high_water", u ? u->high_water : 0);
    json_kv_u64(j, "max_seq", u ? u->max_seq : 0);
    json_kv_u64(j, "events", u ? u->events : 0);
    json_kv_u64(j, "rejected", u ? u->rejected : 0);
    json_kv_u64(j, "version", u ? u->version : 0);
    json_kv_u64(j, "owner", u ? u->owner : 0);
    /* At a parent: which child's pulls bring this unit's figures, and whether they are old. */
    const api_child_t *ch = NULL;
    for (size_t i = 0; u && u->owner && i < c->nkids && !ch; i++) {
        ch = c->kids[i].unit == u->owner ? &c->kids[i] : NULL;
    }
    json_kv_str(j, "child", ch ? ch->name : NULL);
    int64_t fresh_at;
    bool stale = unit_freshness(u, ch, c->now, &fresh_at);
    json_kv_bool(j, "stale", stale);
    json_kv_i64(j, "fresh_at", fresh_at);
    json_end(j);
}

static int on_unit(void *arg, const store_unit_t *u)
{
    units_ctx_t *c = arg;
    c->seen = xrealloc(c->seen, (c->nseen + 1) * sizeof *c->seen);
    c->seen[c->nseen++] = u->unit;
    unit_json(c, u->unit, u);
    return 0;
}

static void route_units(api_t *self, api_reply_t *reply)
{
    units_ctx_t c = {.api = self, .j = json_new(), .now = (int64_t)time(NULL),
                     .today = period_today()};
    if (api_children_read_units(self->store, self->children, self->nchildren, self->units, c.now,
                                &c.kids, &c.nkids) < 0) {
        json_destroy(&c.j);
        reply_error(reply, 500, NULL, "cannot read the child aggregators' records from the store");
        return;
    }
    json_obj(c.j);
    json_kv_u64(c.j, "version", store_version(self->store));
    json_kv_i64(c.j, "now", c.now);
    json_kv_i64(c.j, "silent_after", self->silent_after_s);
    json_key(c.j, "units");
    json_arr(c.j);
    int rc = store_units_foreach(self->store, on_unit, &c);
    /* Configured communes the store has never heard from: "not yet reported". */
    for (size_t i = 0; rc == 0 && self->conf && i < self->conf->n_communes; i++) {
        uint32_t code = self->conf->communes[i].code;
        bool seen = false;
        for (size_t k = 0; k < c.nseen && !seen; k++) {
            seen = c.seen[k] == code;
        }
        if (!seen) {
            unit_json(&c, code, NULL);
        }
    }
    json_end(c.j);
    json_end(c.j);
    free(c.seen);
    api_children_free(c.kids, c.nkids);
    if (rc < 0) {
        json_destroy(&c.j);
        reply_error(reply, 500, NULL, "cannot read unit states from the store");
        return;
    }
    reply_json(reply, 200, &c.j);
}

/* ---- /tallies ------------------------------------------------------------------------------- */
typedef struct {
    uint64_t category;
    int64_t m[CATEGORY_MEASURES];
} agg_t;

typedef struct {
    agg_t *a;
    size_t n, cap;
} tallies_ctx_t;

static int on_tally(void *arg, const tally_cell_t *cell)
{
    tallies_ctx_t *c = arg;
    agg_t *a = NULL;
    for (size_t i = c->n; i > 0; i--) { /* cells come in day order: recent categories repeat */
        if (c->a[i - 1].category == cell->category) {
            a = &c->a[i - 1];
            break;
        }
    }
    if (a == NULL) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->a = xrealloc(c->a, c->cap * sizeof *c->a);
        }
        a = &c->a[c->n++];
        memset(a, 0, sizeof *a);
        a->category = cell->category;
    }
    for (int k = 0; k < CATEGORY_MEASURES; k++) {
        a->m[k] += cell->m[k];
    }
    return 0;
}

static int cmp_agg(const void *x, const void *y)
{
    const agg_t *a = x, *b = y;
    return a->category < b->category ? -1 : a->category > b->category;
}

static void json_field(json_t *j, const char *key, catalog_list_t list, uint32_t code)
{
    json_key(j, key);
    json_obj(j);
    json_kv_u64(j, "code", code);
    json_kv_str(j, "label", code ? catalog_label(list, (int)code) : NULL);
    json_end(j);
}

static void route_tallies(api_t *self, api_arg_fn *arg, void *ctx, api_reply_t *reply)
{
    char def[16];
    const char *period = period_arg(arg, ctx, def, sizeof def);
    uint64_t unit = 0;
    if (!uint_arg(arg, ctx, "unit", 99999, &unit, reply)) {
        return;
    }
    period_range_t range;
    char label[128];
    if (period_parse(period, &self->rules, &range) < 0 ||
        period_label_vi(period, &self->rules, label, sizeof label) < 0) {
        char *m = xasprintf("period '%s': not a period (2023, 2023-Q4, 2023-11, 2023-H1, ...)",
                            period);
        reply_error(reply, 400, "period", m);
        free(m);
        return;
    }
    tallies_ctx_t c = {0};
    uint64_t version = store_version(self->store);
    int rc = store_cells_foreach(self->store, (uint32_t)unit, period_day_to_yyyymmdd(range.first),
                                 period_day_to_yyyymmdd(range.last), on_tally, &c);
    if (rc < 0) {
        free(c.a);
        reply_error(reply, 500, NULL, "cannot read tallies from the store");
        return;
    }
    if (c.n > 1) {
        qsort(c.a, c.n, sizeof *c.a, cmp_agg);
    }
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "period", period);
    json_kv_str(j, "label", label);
    json_kv_u64(j, "unit", unit);
    if (unit != 0) {
        char *un = units_label(self->units, (uint32_t)unit, range.last);
        json_kv_str(j, "unit_name", un);
        free(un);
    } else {
        json_kv_str(j, "unit_name", self->conf ? self->conf->name : NULL);
    }
    json_kv_u64(j, "version", version);
    json_key(j, "categories");
    json_arr(j);
    for (size_t i = 0; i < c.n; i++) {
        const agg_t *a = &c.a[i];
        uint64_t cat = a->category;
        char desc[256];
        category_describe_vi(cat, desc, sizeof desc);
        json_obj(j);
        json_kv_u64(j, "category", cat);
        int fam = category_family(cat);
        json_kv_str(j, "family", fam == CATEGORY_FUND ? "fund" : "activity");
        json_kv_str(j, "label", desc);
        if (fam == CATEGORY_ACTIVITY) {
            uint32_t kind = category_get(cat, CATEGORY_KIND);
            json_field(j, "kind", CATALOG_KIND, kind);
            json_key(j, "contents");
            json_arr(j);
            uint32_t mask = category_get(cat, CATEGORY_CONTENTS);
            for (int n = 1; n <= 5; n++) {
                if (mask & (1u << (n - 1))) {
                    json_i64(j, n);
                }
            }
            json_end(j);
            json_field(j, "channel", CATALOG_CHANNEL, category_get(cat, CATEGORY_CHANNEL));
            catalog_list_t sub = kind == DK__ACTIVITY_KIND__FESTIVAL ? CATALOG_FESTIVAL
                                 : kind == DK__ACTIVITY_KIND__MODEL  ? CATALOG_MODEL_STAGE
                                 : kind == DK__ACTIVITY_KIND__REVIEW ? CATALOG_REVIEW
                                                                     : CATALOG_STATUS;
            json_field(j, "subkind", sub, category_get(cat, CATEGORY_SUBKIND));
        } else {
            json_field(j, "fund", CATALOG_FUND, category_get(cat, CATEGORY_FUND_ID));
            json_field(j, "flow", CATALOG_FLOW, category_get(cat, CATEGORY_FLOW));
            json_field(j, "source", CATALOG_SOURCE, category_get(cat, CATEGORY_SOURCE));
            json_field(j, "purpose", CATALOG_PURPOSE, category_get(cat, CATEGORY_PURPOSE));
        }
        uint32_t org = category_get(cat, CATEGORY_ORGANISER);
        json_key(j, "organiser");
        json_obj(j);
        json_kv_u64(j, "code", org);
        const char *oname = NULL;
        if (org == 0) {
            oname = catalog_label(CATALOG_ORGANISER, 0);
        } else if (self->conf && self->conf->n_organisers >= org) {
            oname = self->conf->organisers[org - 1];
        } else {
            oname = catalog_label(CATALOG_ORGANISER, (int)org);
        }
        json_kv_str(j, "label", oname);
        json_end(j);
        json_key(j, "measures");
        json_obj(j);
        for (int k = 0; k < CATEGORY_MEASURES; k++) {
            if (a->m[k] != 0) {
                json_kv_i64(j, catalog_slug(CATALOG_MEASURE, k), a->m[k]);
            }
        }
        json_end(j);
        json_end(j);
    }
    json_end(j);
    json_end(j);
    free(c.a);
    reply_json(reply, 200, &j);
}

/* ---- /events -------------------------------------------------------------------------------- */
typedef struct {
    api_t *api;
    json_t *j;
    bool nested;
} events_ctx_t;

static const char *event_type(const Dk__Event *ev)
{
    if (ev->body_case == DK__EVENT__BODY_VOID) {
        return "void";
    }
    if (ev->has_corrects_seq && ev->corrects_seq > 0) {
        return "correction";
    }
    return "original";
}

static int on_history(void *arg, const store_event_t *e)
{
    events_ctx_t *c = arg;
    json_obj(c->j);
    json_kv_u64(c->j, "seq", e->seq);
    json_kv_str(c->j, "type", event_type(e->ev));
    json_kv_bool(c->j, "effective", e->effective);
    json_kv_i64(c->j, "received_at", e->received_at);
    json_end(c->j);
    return 0;
}

static void event_body(json_t *j, const Dk__Event *ev)
{
    char desc[256];
    if (ev->body_case == DK__EVENT__BODY_ACTIVITY && ev->activity) {
        const Dk__Activity *a = ev->activity;
        json_kv_str(j, "kind", catalog_label(CATALOG_KIND, a->kind));
        json_key(j, "measures");
        json_obj(j);
        uint64_t cat;
        int64_t m[CATEGORY_MEASURES];
        if (category_of_event(ev, &cat, m) == 0) {
            for (int k = 1; k < CATEGORY_MEASURES; k++) {
                if (m[k] != 0) {
                    json_kv_i64(j, catalog_slug(CATALOG_MEASURE, k), m[k]);
                }
            }
            json_end(j);
            category_describe_vi(cat, desc, sizeof desc);
            json_kv_str(j, "description", desc);
        } else {
            json_end(j);
        }
    } else if (ev->body_case == DK__EVENT__BODY_FUND && ev->fund) {
        const Dk__FundMovement *f = ev->fund;
        json_kv_str(j, "kind", catalog_label(CATALOG_FUND, f->fund));
        json_kv_str(j, "flow", catalog_label(CATALOG_FLOW, f->flow));
        json_kv_u64(j, "amount", f->amount);
        char b[48];
        money_format(f->amount, b, sizeof b);
        json_kv_str(j, "amount_text", b);
        uint64_t cat;
        int64_t m[CATEGORY_MEASURES];
        if (category_of_event(ev, &cat, m) == 0) {
            category_describe_vi(cat, desc, sizeof desc);
            json_kv_str(j, "description", desc);
        }
    } else if (ev->body_case == DK__EVENT__BODY_VOID && ev->void_) {
        json_kv_str(j, "kind", "Hủy bản ghi");
        json_kv_u64(j, "target_seq", ev->void_->target_seq);
    }
}

static int on_event(void *arg, const store_event_t *e)
{
    events_ctx_t *c = arg;
    json_t *j = c->j;
    const Dk__Event *ev = e->ev;
    json_obj(j);
    json_kv_u64(j, "commune", e->commune);
    json_kv_str(j, "commune_name", units_name(c->api->units, e->commune, period_today()));
    json_kv_u64(j, "seq", e->seq);
    json_kv_u64(j, "version", e->version);
    json_kv_i64(j, "received_at", e->received_at);
    json_kv_i64(j, "recorded_at", ev->has_recorded_at ? ev->recorded_at : 0);
    int32_t day;
    char d[16] = "";
    if (ev->has_date && period_yyyymmdd_to_day(ev->date, &day) == 0) {
        period_format_iso(day, d, sizeof d);
    }
    json_kv_str(j, "date", d);
    json_kv_u64(j, "area", ev->has_area ? ev->area : 0);
    json_kv_u64(j, "organiser", ev->has_organiser ? ev->organiser : 0);
    json_kv_str(j, "title", ev->title);
    json_kv_str(j, "note", ev->note);
    json_kv_str(j, "donor", ev->donor);
    json_kv_str(j, "type", event_type(ev));
    json_kv_u64(j, "corrects_seq", ev->has_corrects_seq ? ev->corrects_seq : 0);
    event_body(j, ev);
    json_kv_bool(j, "effective", e->effective);
    json_kv_u64(j, "root", e->root);
    json_kv_u64(j, "head", e->head);
    json_kv_u64(j, "voided_by", e->voided_by);
    /* The chain's history: the original, the current head and the void, when they differ from
     * this event (the store keeps every member; these are the ones a reader needs). */
    json_key(j, "history");
    json_arr(j);
    if (!c->nested) {
        uint64_t root = e->root ? e->root : e->seq;
        uint64_t members[3] = {root, e->head, e->voided_by};
        events_ctx_t h = {.api = c->api, .j = j, .nested = true};
        for (int k = 0; k < 3; k++) {
            bool dup = members[k] == 0;
            for (int q = 0; q < k && !dup; q++) {
                dup = members[q] == members[k];
            }
            if (!dup) {
                store_event_get(c->api->store, e->commune, members[k], on_history, &h);
            }
        }
    }
    json_end(j);
    json_end(j);
    return 0;
}

static void route_events(api_t *self, api_arg_fn *arg, void *ctx, api_reply_t *reply)
{
    uint64_t unit = 0, limit = 50, before = 0;
    if (!uint_arg(arg, ctx, "unit", 99999, &unit, reply) ||
        !uint_arg(arg, ctx, "limit", 500, &limit, reply) ||
        !uint_arg(arg, ctx, "before", UINT64_MAX, &before, reply)) {
        return;
    }
    if (limit == 0) {
        limit = 50;
    }
    events_ctx_t c = {.api = self, .j = json_new()};
    json_obj(c.j);
    json_kv_u64(c.j, "version", store_version(self->store));
    json_kv_u64(c.j, "unit", unit);
    json_key(c.j, "events");
    json_arr(c.j);
    int rc = store_events_recent(self->store, (uint32_t)unit, before, (size_t)limit, on_event, &c);
    json_end(c.j);
    json_end(c.j);
    if (rc < 0) {
        json_destroy(&c.j);
        reply_error(reply, 500, NULL, "cannot read events from the store");
        return;
    }
    reply_json(reply, 200, &c.j);
}

/* ---- child aggregators: /children, POST /children/NAME/pull ---------------------------------- */
typedef struct {
    api_child_t *list;
    size_t n;
    const child_conf_t *confs;
    size_t nconfs;
    int64_t now;
    const units_t *units;
} kids_ctx_t;

static api_child_t *kid_of(kids_ctx_t *c, uint32_t unit)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->list[i].unit == unit) {
            return &c->list[i];
        }
    }
    return NULL;
}

static int on_child_record(void *arg, const store_unit_t *u)
{
    kids_ctx_t *c = arg;
    api_child_t *k = kid_of(c, u->unit);
    if (k == NULL) { /* a child no section configures any more: its figures are still served */
        c->list = xrealloc(c->list, (c->n + 1) * sizeof *c->list);
        k = &c->list[c->n++];
        memset(k, 0, sizeof *k);
        k->name = xstrdup("");
        k->unit = u->unit;
        k->title = units_label(c->units, u->unit, period_day_of_unix(c->now));
        k->endpoint = xstrdup("");
    }
    k->last_pull = u->last_pull;
    k->child_version = u->child_version;
    k->failed_pulls = u->failed_pulls;
    k->last_attempt = u->last_attempt;
    snprintf(k->last_error, sizeof k->last_error, "%s", u->last_error);
    k->epoch[0] = '\0';
    for (size_t i = 0; i < u->instance_len && i < 16; i++) {
        snprintf(k->epoch + 2 * i, 3, "%02x", u->instance[i]);
    }
    return 0;
}

static int on_owned_unit(void *arg, const store_unit_t *u)
{
    kids_ctx_t *c = arg;
    api_child_t *k = u->owner ? kid_of(c, u->owner) : NULL;
    if (k != NULL) {
        k->units = xrealloc(k->units, (k->nunits + 1) * sizeof *k->units);
        k->units[k->nunits++] = u->unit;
        k->events += u->events;
    }
    return 0;
}

int api_children_read(struct store *store, const child_conf_t *confs, size_t nconfs, int64_t now,
                      api_child_t **out, size_t *n)
{
    return api_children_read_units(store, confs, nconfs, NULL, now, out, n);
}

int api_children_read_units(struct store *store, const child_conf_t *confs, size_t nconfs,
                            const units_t *units, int64_t now, api_child_t **out, size_t *n)
{
    kids_ctx_t c = {.confs = confs, .nconfs = nconfs, .now = now, .units = units};
    c.list = xcalloc(nconfs ? nconfs : 1, sizeof *c.list);
    for (size_t i = 0; i < nconfs; i++) {
        api_child_t *k = &c.list[c.n++];
        k->name = xstrdup(confs[i].name);
        k->unit = (uint32_t)confs[i].unit;
        k->title = confs[i].title && *confs[i].title
                       ? xstrdup(confs[i].title)
                       : units_label(units, (uint32_t)confs[i].unit, period_day_of_unix(now));
        k->endpoint = xstrdup(confs[i].endpoint ? confs[i].endpoint : "");
        k->configured = true;
        k->interval = (confs[i].interval_ms + 999) / 1000;
    }
    int rc = store_child_foreach(store, on_child_record, &c);
    if (rc == 0) {
        rc = store_units_foreach(store, on_owned_unit, &c);
    }
    if (rc < 0) {
        api_children_free(c.list, c.n);
        *out = NULL;
        *n = 0;
        return DK_ESTORE;
    }
    for (size_t i = 0; i < c.n; i++) {
        api_child_t *k = &c.list[i];
        k->age = k->last_pull > 0 ? now - k->last_pull : -1;
        /* Whole seconds on both sides: allow one second of rounding before calling it old. */
        k->stale = !k->configured || k->last_pull <= 0 || k->age > 2 * k->interval + 1;
    }
    *out = c.list;
    *n = c.n;
    return 0;
}

void api_children_free(api_child_t *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].name);
        free(list[i].title);
        free(list[i].endpoint);
        free(list[i].units);
    }
    free(list);
}

static void route_children(api_t *self, api_reply_t *reply)
{
    int64_t now = (int64_t)time(NULL);
    api_child_t *kids = NULL;
    size_t n = 0;
    uint64_t version = store_version(self->store);
    if (api_children_read_units(self->store, self->children, self->nchildren, self->units, now,
                                &kids, &n) < 0) {
        reply_error(reply, 500, NULL, "cannot read the child aggregators' records from the store");
        return;
    }
    json_t *j = json_new();
    json_obj(j);
    json_kv_u64(j, "version", version);
    json_kv_i64(j, "now", now);
    json_key(j, "children");
    json_arr(j);
    for (size_t i = 0; i < n; i++) {
        const api_child_t *k = &kids[i];
        bool pulling = false;
        for (size_t q = 0; self->child && k->configured && q < child_count(self->child); q++) {
            child_info_t ci;
            child_info(self->child, q, &ci);
            if (ci.unit == k->unit) {
                pulling = ci.pulling;
            }
        }
        json_obj(j);
        json_kv_str(j, "name", k->name);
        json_kv_u64(j, "unit", k->unit);
        json_kv_str(j, "unit_name", k->title);
        json_kv_str(j, "endpoint", k->endpoint);
        json_kv_bool(j, "configured", k->configured);
        json_kv_i64(j, "interval", k->interval);
        json_kv_i64(j, "last_pull", k->last_pull);
        json_kv_i64(j, "age", k->age);
        json_kv_u64(j, "child_version", k->child_version);
        json_kv_str(j, "epoch", k->epoch);
        json_kv_u64(j, "failed_pulls", k->failed_pulls);
        json_kv_i64(j, "last_attempt", k->last_attempt);
        json_kv_str(j, "last_error", k->last_error);
        json_kv_bool(j, "stale", k->stale);
        json_kv_bool(j, "pulling", pulling);
        json_kv_u64(j, "events", k->events);
        json_key(j, "units");
        json_arr(j);
        for (size_t u = 0; u < k->nunits; u++) {
            json_obj(j);
            json_kv_u64(j, "unit", k->units[u]);
            char *nm = units_label(self->units, k->units[u], period_day_of_unix(now));
            json_kv_str(j, "name", nm);
            free(nm);
            json_end(j);
        }
        json_end(j);
        json_end(j);
    }
    json_end(j);
    json_end(j);
    api_children_free(kids, n);
    reply_json(reply, 200, &j);
}

/* "/children/NAME/pull" -> NAME (into buf), or NULL when path is not that route. */
static const char *pull_route_name(const char *path, char *buf, size_t len)
{
    static const char pre[] = "/children/", suf[] = "/pull";
    size_t pl = strlen(path);
    if (strncmp(path, pre, sizeof pre - 1) != 0 || pl < sizeof pre - 1 + sizeof suf - 1 + 1 ||
        strcmp(path + pl - (sizeof suf - 1), suf) != 0) {
        return NULL;
    }
    size_t n = pl - (sizeof pre - 1) - (sizeof suf - 1);
    if (n + 1 > len || memchr(path + sizeof pre - 1, '/', n) != NULL) {
        return NULL;
    }
    memcpy(buf, path + sizeof pre - 1, n);
    buf[n] = '\0';
    return buf;
}

bool api_is_post_route(const char *path)
{
    char name[128];
    return pull_route_name(path, name, sizeof name) != NULL;
}

void api_handle_post(api_t *self, const char *path, api_reply_t *reply)
{
    char name[128];
    if (pull_route_name(path, name, sizeof name) == NULL) {
        char *m = xasprintf("no such API path for POST: /api/v1%s (only /children/NAME/pull)", path);
        reply_error(reply, 404, NULL, m);
        free(m);
        return;
    }
    int rc = self->child ? child_pull_now(self->child, name) : DK_ECLOSED;
    if (rc == DK_ENOTFOUND) {
        char *m = xasprintf("no child aggregator named '%s' ([child NAME] sections)", name);
        reply_error(reply, 404, "name", m);
        free(m);
        return;
    }
    if (rc < 0) {
        reply_error(reply, 503, NULL, "the child puller is not running");
        return;
    }
    log_info("pull asked for through the API child=%s", name);
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "child", name);
    json_kv_bool(j, "accepted", true);
    json_kv_u64(j, "version", store_version(self->store));
    json_end(j);
    reply_json(reply, 202, &j);
}

/* ---- /export -------------------------------------------------------------------------------- */
static void route_export(api_t *self, api_arg_fn *arg, void *ctx, api_reply_t *reply)
{
    char def[16];
    const char *period = period_arg(arg, ctx, def, sizeof def);
    const char *fs = arg(ctx, "format");
    report_format_t fmt = REPORT_CSV;
    if (fs && *fs && report_format_parse(fs, &fmt) < 0) {
        char *m = xasprintf("format '%s': expected csv, xlsx or json", fs);
        reply_error(reply, 400, "format", m);
        free(m);
        return;
    }
    report_t *r = NULL;
    if (build(self, period, &r, reply) < 0) {
        return;
    }
    char err[512];
    char *data = NULL;
    size_t len = 0;
    int rc = report_write(r, fmt, &data, &len, err, sizeof err);
    report_destroy(&r);
    if (rc < 0) {
        log_error("export period=%s format=%s: %s", period, report_format_ext(fmt), err);
        reply_error(reply, 500, NULL, err);
        return;
    }
    reply->status = 200;
    reply->content_type = report_format_mime(fmt);
    reply->body = data;
    reply->len = len;
    /* The file name is ASCII: the period spec is [0-9A-Za-z.-] once it parsed. */
    char safe[64];
    size_t k = 0;
    for (const char *p = period; *p && k + 1 < sizeof safe; p++) {
        safe[k++] = (*p == '.' || *p == '/' || *p == ' ') ? '_' : *p;
    }
    safe[k] = '\0';
    reply->filename = xasprintf("bao-cao-%u-%s.%s", self->conf ? self->conf->unit : 0, safe,
                                report_format_ext(fmt));
}

void api_handle(api_t *self, const char *path, api_arg_fn *arg, void *ctx, api_reply_t *reply)
{
    if (strcmp(path, "/info") == 0 || strcmp(path, "") == 0 || strcmp(path, "/") == 0) {
        route_info(self, reply);
    } else if (strcmp(path, "/units") == 0) {
        route_units(self, reply);
    } else if (strcmp(path, "/children") == 0) {
        route_children(self, reply);
    } else if (strcmp(path, "/report") == 0) {
        model_route(self, REPORT_PART_ALL, arg, ctx, reply);
    } else if (strcmp(path, "/indicators") == 0) {
        model_route(self, REPORT_PART_ROWS, arg, ctx, reply);
    } else if (strcmp(path, "/checklist") == 0) {
        model_route(self, REPORT_PART_CHECKLIST, arg, ctx, reply);
    } else if (strcmp(path, "/fund") == 0) {
        model_route(self, REPORT_PART_LEDGER, arg, ctx, reply);
    } else if (strcmp(path, "/organisers") == 0) {
        model_route(self, REPORT_PART_ORGANISERS, arg, ctx, reply);
    } else if (strcmp(path, "/charts") == 0) {
        model_route(self, REPORT_PART_CHARTS, arg, ctx, reply);
    } else if (strcmp(path, "/tallies") == 0) {
        route_tallies(self, arg, ctx, reply);
    } else if (strcmp(path, "/events") == 0) {
        route_events(self, arg, ctx, reply);
    } else if (strcmp(path, "/export") == 0) {
        route_export(self, arg, ctx, reply);
    } else {
        char *m = xasprintf("no such API path: /api/v1%s", path);
        reply_error(reply, 404, NULL, m);
        free(m);
    }
}
