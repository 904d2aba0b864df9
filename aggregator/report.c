/* report — see report.h.
 *
 * The model is built from tally cells only (never from events), so every figure the page, the API
 * and the exports show is the same exact sum the tallies hold. One store_cells_foreach over
 * [1900-01-01, last day of the period] feeds everything: cells before the period only move the
 * fund ledgers' opening balances, cells inside the period feed the indicators. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <xlsxwriter.h>

#define LOG_TAG "report"
#include "catalog.h"
#include "category.h"
#include "conf.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "money.h"
#include "store.h"
#include "units.h"
#include "xmalloc.h"

/* ---- indicators ----------------------------------------------------------------------------- */
enum {
    I_PROP_SESSIONS,
    I_PROP_PARTICIPANTS,
    I_PROP_ITEMS,
    I_TRAININGS,
    I_TRAINING_PARTICIPANTS,
    I_STUDY_TOURS,
    I_MODELS_NEW,
    I_MODELS_KEPT,
    I_UNITY_HELD,
    I_UNITY_TOTAL,
    I_UNITY_PARTICIPANTS,
    I_INSPECTIONS,
    I_REVIEWS,
    I_COMMEND_COLLECTIVES,
    I_COMMEND_INDIVIDUALS,
    I_CONTRIB_AMOUNT,
    I_LAND,
    I_WORKDAYS,
    I_POOR_RECEIPTS,
    I_POOR_SPENDING,
    I_HOUSES_NEW,
    I_HOUSES_REPAIRED,
    I_HOUSEHOLDS,
    I_CAMPAIGN_RECEIPTS,
    I_CAMPAIGN_SPENDING,
    NIND
};

static const report_indicator_t indicators[NIND] = {
    [I_PROP_SESSIONS] = {"propaganda_sessions", "Tuyên truyền (buổi)", "buổi", false},
    [I_PROP_PARTICIPANTS] = {"propaganda_participants", "Lượt người dự tuyên truyền", "lượt người",
                             false},
    [I_PROP_ITEMS] = {"propaganda_items", "Tin bài, tờ rơi, pano", "sản phẩm", false},
    [I_TRAININGS] = {"trainings", "Tập huấn (buổi)", "buổi", false},
    [I_TRAINING_PARTICIPANTS] = {"training_participants", "Lượt người dự tập huấn", "lượt người",
                                 false},
    [I_STUDY_TOURS] = {"study_tours", "Tham quan, trao đổi kinh nghiệm (cuộc)", "cuộc", false},
    [I_MODELS_NEW] = {"models_new", "Mô hình xây dựng mới", "mô hình", false},
    [I_MODELS_KEPT] = {"models_kept", "Mô hình duy trì", "mô hình", false},
    [I_UNITY_HELD] = {"unity_day_areas_held", "Ngày hội ĐĐK: số KDC đã tổ chức", "KDC", false},
    [I_UNITY_TOTAL] = {"unity_day_areas_total", "Tổng số KDC", "KDC", false},
    [I_UNITY_PARTICIPANTS] = {"unity_day_participants", "Lượt người dự Ngày hội ĐĐK",
                              "lượt người", false},
    [I_INSPECTIONS] = {"inspections", "Kiểm tra, giám sát (cuộc)", "cuộc", false},
    [I_REVIEWS] = {"reviews", "Sơ kết, tổng kết (hội nghị)", "hội nghị", false},
    [I_COMMEND_COLLECTIVES] = {"commended_collectives", "Khen thưởng tập thể", "tập thể", false},
    [I_COMMEND_INDIVIDUALS] = {"commended_individuals", "Khen thưởng cá nhân", "cá nhân", false},
    [I_CONTRIB_AMOUNT] = {"contribution_amount", "Nhân dân đóng góp (đ)", "đ", true},
    [I_LAND] = {"land_m2", "Hiến đất (m²)", "m²", false},
    [I_WORKDAYS] = {"workdays", "Ngày công lao động", "ngày công", false},
    [I_POOR_RECEIPTS] = {"poor_fund_receipts", "Quỹ Vì người nghèo: thu (đ)", "đ", true},
    [I_POOR_SPENDING] = {"poor_fund_spending", "Quỹ Vì người nghèo: chi (đ)", "đ", true},
    [I_HOUSES_NEW] = {"houses_new", "Nhà Đại đoàn kết xây mới (căn)", "căn", false},
    [I_HOUSES_REPAIRED] = {"houses_repaired", "Nhà sửa chữa (căn)", "căn", false},
    [I_HOUSEHOLDS] = {"households_helped", "Lượt hộ được hỗ trợ", "lượt hộ", false},
    [I_CAMPAIGN_RECEIPTS] = {"campaign_receipts", "Kinh phí cuộc vận động: thu (đ)", "đ", true},
    [I_CAMPAIGN_SPENDING] = {"campaign_spending", "Kinh phí cuộc vận động: chi (đ)", "đ", true},
};

const report_indicator_t *report_indicators(size_t *n)
{
    *n = NIND;
    return indicators;
}

/* The seed plan as a checklist (DOMAIN.md), per commune. */
enum { C_PROPAGANDA, C_TRAINING, C_MODELS, C_UNITY_DAY, C_FUND, C_INSPECTION, C_COMMENDATION, NCHECK };
static const struct {
    const char *slug, *label;
} checks[NCHECK] = {
    {"propaganda", "Tuyên truyền 5 nội dung"},
    {"training", "Tập huấn, trao đổi kinh nghiệm"},
    {"models", "Xây dựng, duy trì mô hình"},
    {"unity_day", "Ngày hội Đại đoàn kết"},
    {"fund", "Vận động Quỹ Vì người nghèo"},
    {"inspection", "Kiểm tra, giám sát"},
    {"commendation", "Khen thưởng"},
};

#define NKIND 12      /* Dk__ActivityKind 0..11 */
#define NSOURCE 7     /* Dk__Source 0..6 */
#define NPURPOSE 40   /* Dk__Purpose 0..39 */
#define NFUND 3       /* Dk__Fund 0..2 */
#define NORG 64       /* organiser codes kept (8 bits in the category; more is folded into 63) */
#define MAX_MONTHS 120

typedef struct {
    int64_t opening;               /* movements before the period + OPENING flows inside it */
    int64_t receipts, spending;
    int64_t by_source[NSOURCE];
    int64_t by_purpose[NPURPOSE];
    int64_t households, houses, gift_packs;
} ledger_t;

typedef struct {
    uint32_t unit;
    char *name;
    uint32_t areas;                /* configured residential areas (0: unknown) */
    bool configured;
    bool has_state;
    store_unit_t state;
    int64_t v[NIND];
    int64_t kind_events[NKIND];
    int64_t events;                /* effective events in the period */
    int64_t unity_total_reported;  /* sum of areas_total on Unity Day events */
    ledger_t ledger[NFUND];
} row_t;

typedef struct {
    int64_t events, sessions, participants, receipts, spending;
} org_t;

typedef struct {
    int year, month;
    int64_t activities, participants, receipts, spending;
} month_t;

struct report {
    char *period;
    char label[128];
    period_range_t range;
    uint32_t first_ymd, last_ymd;
    uint64_t version;
    int64_t generated_at;
    uint32_t unit;
    char *name;
    row_t *rows;
    size_t nrows, caprows;
    row_t total;
    bool has_targets;
    int64_t district_target[NIND];
    int64_t *commune_target;       /* nrows x NIND, -1: none */
    org_t orgs[NORG];
    char *org_names[NORG];
    size_t norgs;                  /* organisers 0..norgs-1 are named */
    int64_t content_events[6], content_participants[6];
    month_t months[MAX_MONTHS];
    size_t nmonths;
    period_rules_t rules;
    char *plan_name;
    char plan_period[64];          /* the plan's period, e.g. "2023" */
    char plan_label[96];           /* and its Vietnamese label, "Năm 2023" */
};

/* ---- plan files ----------------------------------------------------------------------------- */
typedef struct {
    int64_t code;
    int64_t t[NIND];
} plan_targets_t;

typedef struct {
    char *name, *period;
    int64_t unit;
} plan_head_t;

struct report_plan {
    char *name, *period;
    int64_t unit;
    plan_targets_t district, each;
    plan_targets_t *communes;
    size_t ncommunes;
    conf_key_t keys[NIND + 1];
    conf_section_t sections[4];
    plan_head_t head;
};

static const conf_key_t plan_head_keys[] = {
    {"name", CONF_STRING, offsetof(plan_head_t, name), "", 0, 200, NULL,
     "Name of the plan (Vietnamese)"},
    {"period", CONF_STRING, offsetof(plan_head_t, period), "", 0, 64, NULL,
     "Period the targets are for: 2023"},
    {"unit", CONF_INT, offsetof(plan_head_t, unit), "0", 0, 99999, NULL,
     "Unit code the plan belongs to"},
    CONF_END,
};

int report_plan_load(const char *path, uint32_t unit, report_plan_t **out, char *err,
                     size_t errlen)
{
    report_plan_t *p = xcalloc(1, sizeof *p);
    for (size_t i = 0; i < NIND; i++) {
        p->keys[i] = (conf_key_t){indicators[i].slug, CONF_INT,
                                  offsetof(plan_targets_t, t) + i * sizeof(int64_t), "-1", -1,
                                  (int64_t)MONEY_MAX, NULL, indicators[i].label};
    }
    p->keys[NIND] = (conf_key_t)CONF_END;
    p->sections[0] = (conf_section_t){.name = "plan", .size = sizeof p->head, .keys = plan_head_keys,
                                      .single = &p->head, .doc = "The plan"};
    p->sections[1] = (conf_section_t){.name = "district", .optional = true,
                                      .size = sizeof(plan_targets_t), .keys = p->keys,
                                      .single = &p->district, .doc = "District-wide targets"};
    p->sections[2] = (conf_section_t){.name = "each-commune", .optional = true,
                                      .size = sizeof(plan_targets_t), .keys = p->keys,
                                      .single = &p->each, .doc = "Targets for every commune"};
    p->sections[3] = (conf_section_t){.name = "commune", .repeated = true, .id_type = CONF_INT,
                                      .id_min = 1, .id_max = 99999,
                                      .id_offset = offsetof(plan_targets_t, code),
                                      .size = sizeof(plan_targets_t), .keys = p->keys,
                                      .list = (void **)&p->communes, .count = &p->ncommunes,
                                      .doc = "Targets of one commune"};
    conf_error_t ce;
    int rc = conf_load(path, p->sections, 4, &ce);
    if (rc < 0) {
        char m[700];
        conf_error_format(&ce, m, sizeof m);
        snprintf(err, errlen, "plan file: %s", m);
        free(p);
        return rc;
    }
    period_range_t range;
    if (period_parse(p->head.period, NULL, &range) < 0) {
        snprintf(err, errlen, "plan file %s: [plan] period '%s' is not a period (2023, 2023-H1, "
                              "2023-Q4, 2019..2023)", path, p->head.period);
        report_plan_destroy(&p);
        return DK_ECONFIG;
    }
    if (unit != 0 && p->head.unit != (int64_t)unit) {
        snprintf(err, errlen, "plan file %s: [plan] unit = %lld is not this aggregator's unit %u",
                 path, (long long)p->head.unit, unit);
        report_plan_destroy(&p);
        return DK_ECONFIG;
    }
    *out = p;
    return 0;
}

void report_plan_destroy(report_plan_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    conf_release((*self_p)->sections, 4);
    free(*self_p);
    *self_p = NULL;
}

/* ---- building ------------------------------------------------------------------------------- */
static row_t *row_for(report_t *r, uint32_t unit)
{
    for (size_t i = 0; i < r->nrows; i++) {
        if (r->rows[i].unit == unit) {
            return &r->rows[i];
        }
    }
    if (r->nrows == r->caprows) {
        r->caprows = r->caprows ? r->caprows * 2 : 16;
        r->rows = xrealloc(r->rows, r->caprows * sizeof *r->rows);
    }
    row_t *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof *row);
    row->unit = unit;
    return row;
}

static int on_state(void *arg, const store_unit_t *u)
{
    report_t *r = arg;
    row_t *row = row_for(r, u->unit);
    row->has_state = true;
    row->state = *u;
    return 0;
}

static void add_ledger(ledger_t *l, uint32_t flow, uint32_t source, uint32_t purpose,
                       const int64_t *m, bool before)
{
    int64_t amount = m[DK__MEASURE__M_AMOUNT];
    if (before || flow == DK__FLOW__OPENING) {
        if (flow == DK__FLOW__SPENDING) {
            l->opening -= amount;
        } else {
            l->opening += amount;
        }
        return;
    }
    if (flow == DK__FLOW__RECEIPT) {
        l->receipts += amount;
        l->by_source[source < NSOURCE ? source : 0] += amount;
    } else if (flow == DK__FLOW__SPENDING) {
        l->spending += amount;
        l->by_purpose[purpose < NPURPOSE ? purpose : 0] += amount;
        l->households += m[DK__MEASURE__M_HOUSEHOLDS];
        l->houses += m[DK__MEASURE__M_HOUSES];
        l->gift_packs += m[DK__MEASURE__M_GIFT_PACKS];
    }
}

static void add_activity(report_t *r, row_t *row, uint64_t cat, const int64_t *m, int mi)
{
    uint32_t kind = category_get(cat, CATEGORY_KIND);
    uint32_t sub = category_get(cat, CATEGORY_SUBKIND);
    uint32_t contents = category_get(cat, CATEGORY_CONTENTS);
    uint32_t org = category_get(cat, CATEGORY_ORGANISER);
    int64_t ev = m[DK__MEASURE__M_EVENTS];
    int64_t *v = row->v;
    row->events += ev;
    if (kind < NKIND) {
        row->kind_events[kind] += ev;
    }
    switch (kind) {
    case DK__ACTIVITY_KIND__PROPAGANDA:
        v[I_PROP_SESSIONS] += m[DK__MEASURE__M_SESSIONS];
        v[I_PROP_PARTICIPANTS] += m[DK__MEASURE__M_PARTICIPANTS];
        v[I_PROP_ITEMS] += m[DK__MEASURE__M_ITEMS];
        break;
    case DK__ACTIVITY_KIND__TRAINING:
        v[I_TRAININGS] += m[DK__MEASURE__M_SESSIONS];
        v[I_TRAINING_PARTICIPANTS] += m[DK__MEASURE__M_PARTICIPANTS];
        break;
    case DK__ACTIVITY_KIND__STUDY_TOUR:
        v[I_STUDY_TOURS] += ev;
        v[I_TRAINING_PARTICIPANTS] += m[DK__MEASURE__M_PARTICIPANTS];
        break;
    case DK__ACTIVITY_KIND__MODEL:
        v[sub == DK__MODEL_STAGE__MODEL_MAINTAINED ? I_MODELS_KEPT : I_MODELS_NEW] += ev;
        break;
    case DK__ACTIVITY_KIND__FESTIVAL:
        if (sub == DK__FESTIVAL__UNITY_DAY) {
            v[I_UNITY_HELD] += m[DK__MEASURE__M_AREAS_HELD];
            row->unity_total_reported += m[DK__MEASURE__M_AREAS_TOTAL];
            v[I_UNITY_PARTICIPANTS] += m[DK__MEASURE__M_PARTICIPANTS];
        }
        break;
    case DK__ACTIVITY_KIND__INSPECTION:
        v[I_INSPECTIONS] += ev;
        break;
    case DK__ACTIVITY_KIND__REVIEW:
        v[I_REVIEWS] += ev;
        break;
    case DK__ACTIVITY_KIND__COMMENDATION:
        v[I_COMMEND_COLLECTIVES] += m[DK__MEASURE__M_COLLECTIVES];
        v[I_COMMEND_INDIVIDUALS] += m[DK__MEASURE__M_INDIVIDUALS];
        break;
    case DK__ACTIVITY_KIND__CONTRIBUTION:
        v[I_CONTRIB_AMOUNT] += m[DK__MEASURE__M_AMOUNT];
        v[I_LAND] += m[DK__MEASURE__M_LAND_M2];
        v[I_WORKDAYS] += m[DK__MEASURE__M_WORKDAYS];
        break;
    default:
        break;
    }
    for (int c = 1; c <= 5; c++) {
        if (contents & (1u << (c - 1))) {
            r->content_events[c] += ev;
            r->content_participants[c] += m[DK__MEASURE__M_PARTICIPANTS];
        }
    }
    org_t *o = &r->orgs[org < NORG ? org : NORG - 1];
    o->events += ev;
    o->sessions += m[DK__MEASURE__M_SESSIONS];
    o->participants += m[DK__MEASURE__M_PARTICIPANTS];
    if (mi >= 0) {
        r->months[mi].activities += ev;
        r->months[mi].participants += m[DK__MEASURE__M_PARTICIPANTS];
    }
}

static int month_index(const report_t *r, uint32_t ymd)
{
    int32_t day;
    if (period_yyyymmdd_to_day(ymd, &day) < 0) {
        return -1;
    }
    int y, mo;
    period_month_of(day, &r->rules, &y, &mo);
    for (size_t i = 0; i < r->nmonths; i++) {
        if (r->months[i].year == y && r->months[i].month == mo) {
            return (int)i;
        }
    }
    return -1;
}

static int on_cell(void *arg, const tally_cell_t *c)
{
    report_t *r = arg;
    bool before = c->day < r->first_ymd;
    row_t *row = row_for(r, c->unit);
    const int64_t *m = c->m;
    int fam = category_family(c->category);
    if (fam == CATEGORY_FUND) {
        uint32_t fund = category_get(c->category, CATEGORY_FUND_ID);
        uint32_t flow = category_get(c->category, CATEGORY_FLOW);
        uint32_t source = category_get(c->category, CATEGORY_SOURCE);
        uint32_t purpose = category_get(c->category, CATEGORY_PURPOSE);
        uint32_t org = category_get(c->category, CATEGORY_ORGANISER);
        add_ledger(&row->ledger[fund < NFUND ? fund : 0], flow, source, purpose, m, before);
        if (before || flow == DK__FLOW__OPENING) {
            return 0;
        }
        row->events += m[DK__MEASURE__M_EVENTS];
        int64_t amount = m[DK__MEASURE__M_AMOUNT];
        org_t *o = &r->orgs[org < NORG ? org : NORG - 1];
        o->events += m[DK__MEASURE__M_EVENTS];
        int mi = month_index(r, c->day);
        if (flow == DK__FLOW__RECEIPT) {
            row->v[fund == DK__FUND__CAMPAIGN ? I_CAMPAIGN_RECEIPTS : I_POOR_RECEIPTS] += amount;
            o->receipts += amount;
            if (mi >= 0) {
                r->months[mi].receipts += amount;
            }
        } else if (flow == DK__FLOW__SPENDING) {
            row->v[fund == DK__FUND__CAMPAIGN ? I_CAMPAIGN_SPENDING : I_POOR_SPENDING] += amount;
            o->spending += amount;
            if (purpose == DK__PURPOSE__NEW_HOUSE) {
                row->v[I_HOUSES_NEW] += m[DK__MEASURE__M_HOUSES];
            } else if (purpose == DK__PURPOSE__HOUSE_REPAIR) {
                row->v[I_HOUSES_REPAIRED] += m[DK__MEASURE__M_HOUSES];
            }
            row->v[I_HOUSEHOLDS] += m[DK__MEASURE__M_HOUSEHOLDS];
            if (mi >= 0) {
                r->months[mi].spending += amount;
            }
        }
    } else if (fam == CATEGORY_ACTIVITY && !before) {
        add_activity(r, row, c->category, m, month_index(r, c->day));
    }
    return 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    return x->unit < y->unit ? -1 : x->unit > y->unit;
}

static void finish_row(row_t *row, uint32_t conf_areas)
{
    row->areas = conf_areas;
    int64_t total = conf_areas > 0 ? (int64_t)conf_areas : row->unity_total_reported;
    row->v[I_UNITY_TOTAL] = total;
    if (total > 0 && row->v[I_UNITY_HELD] > total) {
        row->v[I_UNITY_HELD] = total;
    }
}

static int build_model(store_t *store, const aconf_t *conf, const units_t *units,
                       const report_plan_t *plan, const period_rules_t *rules, const char *period,
                       report_t **out, char *err, size_t errlen);

int report_build(store_t *store, const aconf_t *conf, const report_plan_t *plan,
                 const period_rules_t *rules, const char *period, report_t **out, char *err,
                 size_t errlen)
{
    return report_build_units(store, conf, NULL, plan, rules, period, out, err, errlen);
}

int report_build_units(store_t *store, const aconf_t *conf, const units_t *units,
                       const report_plan_t *plan, const period_rules_t *rules, const char *period,
                       report_t **out, char *err, size_t errlen)
{
    units_t *own_units = NULL;
    if (units == NULL && conf != NULL) {
        int urc = units_from_conf(conf, &own_units, err, errlen);
        if (urc < 0) {
            return urc;
        }
        units = own_units;
    }
    int rc = build_model(store, conf, units, plan, rules, period, out, err, errlen);
    units_destroy(&own_units);
    return rc;
}

/* report_build_units with the registry in hand. */
static int build_model(store_t *store, const aconf_t *conf, const units_t *units,
                       const report_plan_t *plan, const period_rules_t *rules, const char *period,
                       report_t **out, char *err, size_t errlen)
{
    report_t *r = xcalloc(1, sizeof *r);
    r->rules = rules ? *rules : PERIOD_RULES_DEFAULT;
    if (period == NULL || period_parse(period, &r->rules, &r->range) < 0 ||
        period_label_vi(period, &r->rules, r->label, sizeof r->label) < 0) {
        snprintf(err, errlen, "period '%s': not a period (2023, 2023-Q4, 2023-11, 2023-H1, "
                              "2023-9M, 2019..2023, 2023-01-01..2023-06-30)",
                 period ? period : "");
        free(r);
        return DK_EINVAL;
    }
    r->period = xstrdup(period);
    r->first_ymd = period_day_to_yyyymmdd(r->range.first);
    r->last_ymd = period_day_to_yyyymmdd(r->range.last);
    r->generated_at = (int64_t)time(NULL);
    r->unit = conf ? conf->unit : 0;
    r->name = xstrdup(conf && conf->name ? conf->name : "");
    /* Months of the period, for the trend. */
    int y, mo, ly, lm;
    period_month_of(r->range.first, &r->rules, &y, &mo);
    period_month_of(r->range.last, &r->rules, &ly, &lm);
    while (r->nmonths < MAX_MONTHS && (y < ly || (y == ly && mo <= lm))) {
        r->months[r->nmonths++] = (month_t){.year = y, .month = mo};
        if (++mo > 12) {
            mo = 1;
            y++;
        }
    }
    /* Organiser names: the district's configured list, else the catalog's defaults. */
    r->org_names[0] = xstrdup(catalog_label(CATALOG_ORGANISER, 0));
    if (conf && conf->n_organisers > 0) {
        for (size_t i = 0; i < conf->n_organisers && i + 1 < NORG; i++) {
            r->org_names[i + 1] = xstrdup(conf->organisers[i]);
        }
        r->norgs = conf->n_organisers + 1 < NORG ? conf->n_organisers + 1 : NORG;
    } else {
        size_t n;
        const catalog_entry_t *e = catalog_entries(CATALOG_ORGANISER, &n);
        for (size_t i = 0; i < n && e[i].code < NORG; i++) {
            free(r->org_names[e[i].code]);
            r->org_names[e[i].code] = xstrdup(e[i].label);
            if ((size_t)e[i].code + 1 > r->norgs) {
                r->norgs = (size_t)e[i].code + 1;
            }
        }
    }
    if (conf) {
        for (size_t i = 0; i < conf->n_communes; i++) {
            row_t *row = row_for(r, conf->communes[i].code);
            row->configured = true;
        }
    }
    r->version = store_version(store);
    int rc = store_units_foreach(store, on_state, r);
    if (rc == 0) {
        rc = store_cells_foreach(store, 0, 19000101, r->last_ymd, on_cell, r);
    }
    if (rc < 0) {
        snprintf(err, errlen, "store %s: cannot read tallies (%s)", store_dir(store), err_str(rc));
        report_destroy(&r);
        return rc;
    }
    if (r->nrows > 1) {
        qsort(r->rows, r->nrows, sizeof *r->rows, cmp_rows);
    }
    memset(&r->total, 0, sizeof r->total);
    for (size_t i = 0; i < r->nrows; i++) {
        row_t *row = &r->rows[i];
        const aconf_commune_t *cc = conf ? aconf_commune(conf, row->unit) : NULL;
        /* The config's name, else the official one: a province names communes it never had
         * in its own config. */
        row->name = units_label(units, row->unit, r->range.last);
        finish_row(row, cc ? cc->areas : 0);
        for (int k = 0; k < NIND; k++) {
            r->total.v[k] += row->v[k];
        }
        for (int k = 0; k < NKIND; k++) {
            r->total.kind_events[k] += row->kind_events[k];
        }
        r->total.events += row->events;
        for (int f = 0; f < NFUND; f++) {
            ledger_t *t = &r->total.ledger[f], *l = &row->ledger[f];
            t->opening += l->opening;
            t->receipts += l->receipts;
            t->spending += l->spending;
            t->households += l->households;
            t->houses += l->houses;
            t->gift_packs += l->gift_packs;
            for (int s = 0; s < NSOURCE; s++) {
                t->by_source[s] += l->by_source[s];
            }
            for (int p = 0; p < NPURPOSE; p++) {
                t->by_purpose[p] += l->by_purpose[p];
            }
        }
    }
    r->total.name = xstrdup("Tổng cộng");
    period_range_t pr;
    if (plan && period_parse(plan->head.period, &r->rules, &pr) == 0 &&
        r->range.first >= pr.first && r->range.last <= pr.last) {
        r->has_targets = true;
        r->plan_name = xstrdup(plan->head.name);
        snprintf(r->plan_period, sizeof r->plan_period, "%s", plan->head.period);
        if (period_label_vi(plan->head.period, &r->rules, r->plan_label,
                            sizeof r->plan_label) < 0) {
            snprintf(r->plan_label, sizeof r->plan_label, "%s", plan->head.period);
        }
        memcpy(r->district_target, plan->district.t, sizeof r->district_target);
        r->commune_target = xmalloc((r->nrows ? r->nrows : 1) * NIND * sizeof(int64_t));
        for (size_t i = 0; i < r->nrows; i++) {
            const plan_targets_t *t = &plan->each;
            for (size_t k = 0; k < plan->ncommunes; k++) {
                if ((uint32_t)plan->communes[k].code == r->rows[i].unit) {
                    t = &plan->communes[k];
                }
            }
            for (int k = 0; k < NIND; k++) {
                int64_t v = t->t[k];
                if (v < 0 && t != &plan->each) {
                    v = plan->each.t[k];
                }
                r->commune_target[i * NIND + (size_t)k] = v;
            }
        }
    }
    *out = r;
    return 0;
}

void report_destroy(report_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    report_t *r = *self_p;
    for (size_t i = 0; i < r->nrows; i++) {
        free(r->rows[i].name);
    }
    for (int i = 0; i < NORG; i++) {
        free(r->org_names[i]);
    }
    free(r->rows);
    free(r->total.name);
    free(r->commune_target);
    free(r->period);
    free(r->name);
    free(r->plan_name);
    free(r);
    *self_p = NULL;
}

/* ---- JSON ----------------------------------------------------------------------------------- */
static void json_money(json_t *j, const char *key, int64_t v)
{
    char k[80], b[48];
    json_kv_i64(j, key, v);
    snprintf(k, sizeof k, "%s_text", key);
    if (v < 0) {
        b[0] = '-';
        money_format((uint64_t)(-v), b + 1, sizeof b - 1);
    } else {
        money_format((uint64_t)v, b, sizeof b);
    }
    json_kv_str(j, k, b);
}

static void json_values(json_t *j, const int64_t *v)
{
    json_obj(j);
    for (int k = 0; k < NIND; k++) {
        json_kv_i64(j, indicators[k].slug, v[k]);
    }
    json_end(j);
}

static void json_checklist(json_t *j, const row_t *row)
{
    int64_t counts[NCHECK] = {
        [C_PROPAGANDA] = row->kind_events[DK__ACTIVITY_KIND__PROPAGANDA],
        [C_TRAINING] = row->kind_events[DK__ACTIVITY_KIND__TRAINING] +
                       row->kind_events[DK__ACTIVITY_KIND__STUDY_TOUR],
        [C_MODELS] = row->kind_events[DK__ACTIVITY_KIND__MODEL],
        [C_UNITY_DAY] = row->v[I_UNITY_HELD],
        [C_FUND] = row->ledger[DK__FUND__FOR_THE_POOR].receipts > 0 ||
                           row->ledger[DK__FUND__FOR_THE_POOR].spending > 0
                       ? 1
                       : 0,
        [C_INSPECTION] = row->kind_events[DK__ACTIVITY_KIND__INSPECTION],
        [C_COMMENDATION] = row->kind_events[DK__ACTIVITY_KIND__COMMENDATION],
    };
    json_arr(j);
    int done = 0;
    for (int c = 0; c < NCHECK; c++) {
        const char *state = counts[c] > 0 ? "done" : "none";
        char detail[160];
        if (c == C_UNITY_DAY) {
            int64_t y = row->v[I_UNITY_TOTAL];
            if (counts[c] > 0 && y > 0 && counts[c] < y) {
                state = "partial";
            }
            if (y > 0) {
                snprintf(detail, sizeof detail, "%" PRId64 "/%" PRId64 " KDC", counts[c], y);
            } else {
                snprintf(detail, sizeof detail, "%" PRId64 " KDC", counts[c]);
            }
        } else if (c == C_FUND) {
            char a[48], b[48];
            money_format_short((uint64_t)row->ledger[DK__FUND__FOR_THE_POOR].receipts, a, sizeof a);
            money_format_short((uint64_t)row->ledger[DK__FUND__FOR_THE_POOR].spending, b, sizeof b);
            snprintf(detail, sizeof detail, "thu %s, chi %s", a, b);
        } else {
            snprintf(detail, sizeof detail, "%" PRId64 " hoạt động", counts[c]);
        }
        if (strcmp(state, "done") == 0) {
            done++;
        }
        json_obj(j);
        json_kv_str(j, "item", checks[c].slug);
        json_kv_str(j, "label", checks[c].label);
        json_kv_str(j, "state", state);
        json_kv_i64(j, "count", c == C_FUND ? row->ledger[DK__FUND__FOR_THE_POOR].receipts : counts[c]);
        json_kv_str(j, "detail", detail);
        json_end(j);
    }
    json_end(j);
}

static void json_ledger(json_t *j, const ledger_t *l, int fund)
{
    json_obj(j);
    json_kv_i64(j, "fund", fund);
    json_kv_str(j, "label", catalog_label(CATALOG_FUND, fund));
    json_money(j, "opening", l->opening);
    json_money(j, "receipts", l->receipts);
    json_money(j, "spending", l->spending);
    json_money(j, "closing", l->opening + l->receipts - l->spending);
    json_key(j, "by_source");
    json_arr(j);
    for (int s = 0; s < NSOURCE; s++) {
        if (s == 0 && l->by_source[0] == 0) {
            continue;
        }
        json_obj(j);
        json_kv_i64(j, "source", s);
        json_kv_str(j, "label", s ? catalog_label(CATALOG_SOURCE, s) : "Không rõ nguồn");
        json_money(j, "amount", l->by_source[s]);
        json_end(j);
    }
    json_end(j);
    json_key(j, "by_purpose");
    json_arr(j);
    for (int p = 0; p < NPURPOSE; p++) {
        const char *label = catalog_label(CATALOG_PURPOSE, p);
        if (label == NULL && l->by_purpose[p] == 0) {
            continue;
        }
        if (fund == DK__FUND__FOR_THE_POOR && p >= 20 && l->by_purpose[p] == 0) {
            continue;
        }
        if (fund == DK__FUND__CAMPAIGN && p < 20 && l->by_purpose[p] == 0) {
            continue;
        }
        json_obj(j);
        json_kv_i64(j, "purpose", p);
        json_kv_str(j, "label", label ? label : "Không rõ mục đích");
        json_money(j, "amount", l->by_purpose[p]);
        json_end(j);
    }
    json_end(j);
    json_kv_i64(j, "households", l->households);
    json_kv_i64(j, "houses", l->houses);
    json_kv_i64(j, "gift_packs", l->gift_packs);
    json_end(j);
}

static void json_state(json_t *j, const row_t *row, int64_t now)
{
    json_key(j, "state");
    if (!row->has_state) {
        json_null(j);
        return;
    }
    const store_unit_t *u = &row->state;
    json_obj(j);
    json_kv_i64(j, "last_contact", u->last_contact);
    json_kv_i64(j, "silent_for", u->last_contact > 0 ? now - u->last_contact : -1);
    json_kv_u64(j, "backlog", u->backlog);
    json_kv_i64(j, "oldest_waiting", u->oldest_waiting);
    json_kv_u64(j, "high_water", u->high_water);
    json_kv_u64(j, "max_seq", u->max_seq);
    json_kv_u64(j, "events", u->events);
    json_kv_u64(j, "rejected", u->rejected);
    json_kv_u64(j, "version", u->version);
    json_kv_u64(j, "owner", u->owner);
    json_end(j);
}

static void json_row(json_t *j, const report_t *r, const row_t *row, size_t idx, unsigned parts)
{
    json_obj(j);
    json_kv_u64(j, "unit", row->unit);
    json_kv_str(j, "name", row->name);
    json_kv_bool(j, "configured", row->configured);
    json_kv_u64(j, "areas", row->areas);
    json_kv_i64(j, "events", row->events);
    json_state(j, row, r->generated_at);
    json_key(j, "values");
    json_values(j, row->v);
    if (r->has_targets) {
        json_key(j, "targets");
        json_obj(j);
        for (int k = 0; k < NIND; k++) {
            int64_t t = r->commune_target[idx * NIND + (size_t)k];
            if (t >= 0) {
                json_kv_i64(j, indicators[k].slug, t);
            }
        }
        json_end(j);
    }
    if (parts & REPORT_PART_CHECKLIST) {
        json_key(j, "checklist");
        json_checklist(j, row);
    }
    if (parts & REPORT_PART_LEDGER) {
        json_key(j, "ledger");
        json_arr(j);
        for (int f = 1; f < NFUND; f++) {
            json_ledger(j, &row->ledger[f], f);
        }
        json_end(j);
    }
    json_end(j);
}

void report_json(const report_t *r, unsigned parts, uint32_t unit, json_t *j)
{
    if (parts & REPORT_PART_META) {
        json_kv_str(j, "period", r->period);
        json_kv_str(j, "label", r->label);
        char a[16], b[16];
        period_format_iso(r->range.first, a, sizeof a);
        period_format_iso(r->range.last, b, sizeof b);
        json_kv_str(j, "from", a);
        json_kv_str(j, "to", b);
        json_kv_u64(j, "version", r->version);
        json_kv_i64(j, "generated_at", r->generated_at);
        json_kv_u64(j, "unit", r->unit);
        json_kv_str(j, "name", r->name);
        json_key(j, "indicators");
        json_arr(j);
        for (int k = 0; k < NIND; k++) {
            json_obj(j);
            json_kv_str(j, "key", indicators[k].slug);
            json_kv_str(j, "label", indicators[k].label);
            json_kv_str(j, "unit", indicators[k].unit);
            json_kv_bool(j, "money", indicators[k].money);
            json_end(j);
        }
        json_end(j);
        json_key(j, "plan");
        if (r->has_targets) {
            json_obj(j);
            json_kv_str(j, "name", r->plan_name);
            json_kv_str(j, "period", r->plan_period);
            json_kv_str(j, "period_label", r->plan_label);
            json_key(j, "targets");
            json_obj(j);
            for (int k = 0; k < NIND; k++) {
                if (r->district_target[k] >= 0) {
                    json_kv_i64(j, indicators[k].slug, r->district_target[k]);
                }
            }
            json_end(j);
            json_end(j);
        } else {
            json_null(j);
        }
    }
    if (parts & (REPORT_PART_ROWS | REPORT_PART_CHECKLIST | REPORT_PART_LEDGER)) {
        json_key(j, "rows");
        json_arr(j);
        for (size_t i = 0; i < r->nrows; i++) {
            if (unit == 0 || r->rows[i].unit == unit) {
                json_row(j, r, &r->rows[i], i, parts);
            }
        }
        json_end(j);
        if (unit == 0) {
            json_key(j, "totals");
            json_obj(j);
            json_kv_i64(j, "events", r->total.events);
            json_key(j, "values");
            json_values(j, r->total.v);
            if (parts & REPORT_PART_LEDGER) {
                json_key(j, "ledger");
                json_arr(j);
                for (int f = 1; f < NFUND; f++) {
                    json_ledger(j, &r->total.ledger[f], f);
                }
                json_end(j);
            }
            json_end(j);
        }
    }
    if (parts & REPORT_PART_ORGANISERS) {
        json_key(j, "organisers");
        json_arr(j);
        for (size_t o = 0; o < NORG; o++) {
            const org_t *g = &r->orgs[o];
            if (o >= r->norgs && g->events == 0) {
                continue;
            }
            json_obj(j);
            json_kv_u64(j, "organiser", o);
            json_kv_str(j, "name", r->org_names[o] ? r->org_names[o] : "Tổ chức khác");
            json_kv_i64(j, "events", g->events);
            json_kv_i64(j, "sessions", g->sessions);
            json_kv_i64(j, "participants", g->participants);
            json_money(j, "receipts", g->receipts);
            json_money(j, "spending", g->spending);
            json_end(j);
        }
        json_end(j);
    }
    if (parts & REPORT_PART_CHARTS) {
        json_key(j, "contents");
        json_arr(j);
        for (int c = 1; c <= 5; c++) {
            json_obj(j);
            json_kv_i64(j, "content", c);
            json_kv_str(j, "label", catalog_label(CATALOG_CONTENT, c));
            json_kv_i64(j, "events", r->content_events[c]);
            json_kv_i64(j, "participants", r->content_participants[c]);
            json_end(j);
        }
        json_end(j);
        json_key(j, "months");
        json_arr(j);
        for (size_t i = 0; i < r->nmonths; i++) {
            const month_t *m = &r->months[i];
            json_obj(j);
            char k[16];
            snprintf(k, sizeof k, "%04d-%02d", m->year, m->month);
            json_kv_str(j, "month", k);
            json_kv_i64(j, "activities", m->activities);
            json_kv_i64(j, "participants", m->participants);
            json_money(j, "receipts", m->receipts);
            json_money(j, "spending", m->spending);
            json_end(j);
        }
        json_end(j);
    }
}

/* ---- CSV ------------------------------------------------------------------------------------ */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void bput(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void bputs(buf_t *b, const char *s)
{
    bput(b, s, strlen(s));
}

static void csv_field(buf_t *b, const char *s, bool first)
{
    if (!first) {
        bputs(b, ",");
    }
    if (strpbrk(s, ",\"\r\n") == NULL) {
        bputs(b, s);
        return;
    }
    bputs(b, "\"");
    for (const char *c = s; *c; c++) {
        if (*c == '"') {
            bputs(b, "\"");
        }
        bput(b, c, 1);
    }
    bputs(b, "\"");
}

static void csv_num(buf_t *b, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, ",%" PRId64, v);
    bputs(b, t);
}

static char *render_csv(const report_t *r, size_t *len)
{
    buf_t b = {0};
    bputs(&b, "\xEF\xBB\xBF");
    csv_field(&b, "Mã đơn vị", true);
    csv_field(&b, "Tên đơn vị", false);
    for (int k = 0; k < NIND; k++) {
        csv_field(&b, indicators[k].label, false);
    }
    bputs(&b, "\r\n");
    for (size_t i = 0; i < r->nrows; i++) {
        char code[16];
        snprintf(code, sizeof code, "%05u", r->rows[i].unit);
        csv_field(&b, code, true);
        csv_field(&b, r->rows[i].name, false);
        for (int k = 0; k < NIND; k++) {
            csv_num(&b, r->rows[i].v[k]);
        }
        bputs(&b, "\r\n");
    }
    csv_field(&b, "", true);
    csv_field(&b, "Tổng cộng", false);
    for (int k = 0; k < NIND; k++) {
        csv_num(&b, r->total.v[k]);
    }
    bputs(&b, "\r\n");
    if (r->has_targets) {
        csv_field(&b, "", true);
        csv_field(&b, "Chỉ tiêu kế hoạch", false);
        for (int k = 0; k < NIND; k++) {
            if (r->district_target[k] >= 0) {
                csv_num(&b, r->district_target[k]);
            } else {
                bputs(&b, ",");
            }
        }
        bputs(&b, "\r\n");
    }
    *len = b.len;
    return b.p;
}

/* ---- XLSX ----------------------------------------------------------------------------------- */
static int render_xlsx(const report_t *r, char **data, size_t *len, char *err, size_t errlen)
{
    const char *tmpdir = getenv("TMPDIR");
    char *path = xasprintf("%s/dk-report-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(path);
        return DK_EIO;
    }
    close(fd);
    lxw_workbook *wb = workbook_new(path);
    if (wb == NULL) {
        snprintf(err, errlen, "%s: libxlsxwriter cannot create the workbook", path);
        unlink(path);
        free(path);
        return DK_EIO;
    }
    lxw_worksheet *ws = workbook_add_worksheet(wb, "Báo cáo");
    lxw_format *title = workbook_add_format(wb);
    format_set_bold(title);
    format_set_font_size(title, 14);
    lxw_format *head = workbook_add_format(wb);
    format_set_bold(head);
    format_set_text_wrap(head);
    format_set_align(head, LXW_ALIGN_CENTER);
    format_set_align(head, LXW_ALIGN_VERTICAL_CENTER);
    format_set_border(head, LXW_BORDER_THIN);
    format_set_bg_color(head, 0xDCE6F1);
    lxw_format *num = workbook_add_format(wb);
    format_set_num_format(num, "#,##0");
    format_set_border(num, LXW_BORDER_THIN);
    lxw_format *money = workbook_add_format(wb);
    format_set_num_format(money, "#,##0 \"đ\"");
    format_set_border(money, LXW_BORDER_THIN);
    lxw_format *text = workbook_add_format(wb);
    format_set_border(text, LXW_BORDER_THIN);
    lxw_format *tnum = workbook_add_format(wb);
    format_set_num_format(tnum, "#,##0");
    format_set_bold(tnum);
    format_set_border(tnum, LXW_BORDER_THIN);
    lxw_format *tmoney = workbook_add_format(wb);
    format_set_num_format(tmoney, "#,##0 \"đ\"");
    format_set_bold(tmoney);
    format_set_border(tmoney, LXW_BORDER_THIN);
    lxw_format *ttext = workbook_add_format(wb);
    format_set_bold(ttext);
    format_set_border(ttext, LXW_BORDER_THIN);

    char *t1 = xasprintf("Báo cáo kết quả Cuộc vận động — %s", r->name);
    worksheet_write_string(ws, 0, 0, t1, title);
    free(t1);
    worksheet_write_string(ws, 1, 0, r->label, NULL);
    lxw_row_t hr = 3;
    worksheet_set_row(ws, hr, 60, NULL);
    worksheet_write_string(ws, hr, 0, "Mã đơn vị", head);
    worksheet_write_string(ws, hr, 1, "Tên đơn vị", head);
    worksheet_set_column(ws, 0, 0, 10, NULL);
    worksheet_set_column(ws, 1, 1, 24, NULL);
    for (int k = 0; k < NIND; k++) {
        worksheet_write_string(ws, hr, (lxw_col_t)(k + 2), indicators[k].label, head);
        worksheet_set_column(ws, (lxw_col_t)(k + 2), (lxw_col_t)(k + 2),
                             indicators[k].money ? 18 : 12, NULL);
    }
    lxw_row_t row = hr + 1;
    for (size_t i = 0; i < r->nrows; i++, row++) {
        char code[16];
        snprintf(code, sizeof code, "%05u", r->rows[i].unit);
        worksheet_write_string(ws, row, 0, code, text);
        worksheet_write_string(ws, row, 1, r->rows[i].name, text);
        for (int k = 0; k < NIND; k++) {
            worksheet_write_number(ws, row, (lxw_col_t)(k + 2), (double)r->rows[i].v[k],
                                   indicators[k].money ? money : num);
        }
    }
    worksheet_write_string(ws, row, 0, "", ttext);
    worksheet_write_string(ws, row, 1, "Tổng cộng", ttext);
    for (int k = 0; k < NIND; k++) {
        worksheet_write_number(ws, row, (lxw_col_t)(k + 2), (double)r->total.v[k],
                               indicators[k].money ? tmoney : tnum);
    }
    row++;
    if (r->has_targets) {
        worksheet_write_string(ws, row, 1, "Chỉ tiêu kế hoạch", ttext);
        for (int k = 0; k < NIND; k++) {
            if (r->district_target[k] >= 0) {
                worksheet_write_number(ws, row, (lxw_col_t)(k + 2), (double)r->district_target[k],
                                       indicators[k].money ? money : num);
            }
        }
    }
    worksheet_freeze_panes(ws, hr + 1, 2);

    /* A second sheet: the "Vì người nghèo" ledger per commune. */
    lxw_worksheet *ls = workbook_add_worksheet(wb, "Quỹ Vì người nghèo");
    static const char *lh[] = {"Mã đơn vị", "Tên đơn vị", "Số dư đầu kỳ (đ)", "Thu trong kỳ (đ)",
                               "Chi trong kỳ (đ)", "Số dư cuối kỳ (đ)", "Lượt hộ được hỗ trợ"};
    worksheet_write_string(ls, 0, 0, "Quỹ \"Vì người nghèo\"", title);
    worksheet_write_string(ls, 1, 0, r->label, NULL);
    worksheet_set_row(ls, 3, 36, NULL);
    for (int c = 0; c < 7; c++) {
        worksheet_write_string(ls, 3, (lxw_col_t)c, lh[c], head);
        worksheet_set_column(ls, (lxw_col_t)c, (lxw_col_t)c, c == 1 ? 24 : (c == 0 ? 10 : 18), NULL);
    }
    row = 4;
    for (size_t i = 0; i <= r->nrows; i++, row++) {
        const row_t *rw = i < r->nrows ? &r->rows[i] : &r->total;
        const ledger_t *l = &rw->ledger[DK__FUND__FOR_THE_POOR];
        bool tot = i == r->nrows;
        char code[16];
        code[0] = '\0';
        if (!tot) {
            snprintf(code, sizeof code, "%05u", rw->unit);
        }
        worksheet_write_string(ls, row, 0, code, tot ? ttext : text);
        worksheet_write_string(ls, row, 1, rw->name, tot ? ttext : text);
        double vals[5] = {(double)l->opening, (double)l->receipts, (double)l->spending,
                          (double)(l->opening + l->receipts - l->spending), (double)l->households};
        for (int c = 0; c < 5; c++) {
            worksheet_write_number(ls, row, (lxw_col_t)(c + 2), vals[c],
                                   c < 4 ? (tot ? tmoney : money) : (tot ? tnum : num));
        }
    }
    lxw_error e = workbook_close(wb);
    if (e != LXW_NO_ERROR) {
        snprintf(err, errlen, "%s: libxlsxwriter: %s", path, lxw_strerror(e));
        unlink(path);
        free(path);
        return DK_EIO;
    }
    FILE *f = fopen(path, "rb");
    int rc = 0;
    if (f == NULL) {
        rc = DK_EIO;
    } else {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        *data = xmalloc(n > 0 ? (size_t)n : 1);
        if (n <= 0 || fread(*data, 1, (size_t)n, f) != (size_t)n) {
            free(*data);
            *data = NULL;
            rc = DK_EIO;
        } else {
            *len = (size_t)n;
        }
        fclose(f);
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot read back the workbook", path);
    }
    unlink(path);
    free(path);
    return rc;
}

/* ---- formats, render, export ---------------------------------------------------------------- */
int report_format_parse(const char *name, report_format_t *out)
{
    if (name == NULL) {
        return DK_EINVAL;
    }
    if (strcasecmp(name, "csv") == 0) {
        *out = REPORT_CSV;
    } else if (strcasecmp(name, "xlsx") == 0) {
        *out = REPORT_XLSX;
    } else if (strcasecmp(name, "json") == 0) {
        *out = REPORT_JSON;
    } else {
        return DK_EINVAL;
    }
    return 0;
}

const char *report_format_mime(report_format_t fmt)
{
    switch (fmt) {
    case REPORT_CSV: return "text/csv; charset=utf-8";
    case REPORT_XLSX: return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    default: return "application/json; charset=utf-8";
    }
}

const char *report_format_ext(report_format_t fmt)
{
    switch (fmt) {
    case REPORT_CSV: return "csv";
    case REPORT_XLSX: return "xlsx";
    default: return "json";
    }
}

int report_write(const report_t *r, report_format_t fmt, char **data, size_t *len, char *err,
                 size_t errlen)
{
    switch (fmt) {
    case REPORT_CSV:
        *data = render_csv(r, len);
        return 0;
    case REPORT_XLSX:
        return render_xlsx(r, data, len, err, errlen);
    case REPORT_JSON: {
        json_t *j = json_new();
        json_obj(j);
        report_json(r, REPORT_PART_ALL, 0, j);
        json_end(j);
        *data = json_take(&j, len);
        return 0;
    }
    }
    snprintf(err, errlen, "format %d: not csv, xlsx or json", (int)fmt);
    return DK_EINVAL;
}

int report_render(store_t *store, const aconf_t *conf, const char *period, report_format_t fmt,
                  char **data, size_t *len, char *err, size_t errlen)
{
    http_conf_t hc = {0};
    int rc = http_conf_load(conf, &hc, err, errlen);
    if (rc < 0) {
        return rc;
    }
    report_plan_t *plan = NULL;
    if (hc.plan != NULL &&
        (rc = report_plan_load(hc.plan, (uint32_t)conf->unit, &plan, err, errlen)) < 0) {
        http_conf_release(&hc);
        return rc;
    }
    period_rules_t rules = {.month_start = (int)hc.month_start};
    report_t *r = NULL;
    rc = report_build(store, conf, plan, &rules, period, &r, err, errlen);
    if (rc == 0) {
        rc = report_write(r, fmt, data, len, err, errlen);
    }
    report_destroy(&r);
    report_plan_destroy(&plan);
    http_conf_release(&hc);
    return rc;
}

int report_export(store_t *store, const aconf_t *conf, const char *period, report_format_t fmt,
                  const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = report_render(store, conf, period, fmt, &data, &len, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (path == NULL || strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            snprintf(err, errlen, "stdout: write failed: %s", strerror(errno));
            rc = DK_EIO;
        }
        free(data);
        return rc;
    }
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        rc = DK_EIO;
    } else {
        bool ok = fwrite(data, 1, len, f) == len;
        ok = fflush(f) == 0 && ok;
        ok = fsync(fileno(f)) == 0 && ok;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            unlink(tmp);
            rc = DK_EIO;
        }
    }
    free(tmp);
    free(data);
    return rc;
}
