/* Unit tests of aggregator/store on a real LMDB in a temporary folder: dedupe, high-water mark,
 * remembered rejections, corrections and voids (exact cells), verify, snapshots, versions,
 * MAP_FULL growth, backup, read-only open beside a writer, child cells, stale readers, epochs
 * (backup -> restore -> new epoch; children's epochs), and two writer threads (store_commit and
 * store_child_apply) plus nested readers while the map grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "category.h"
#include "err.h"
#include "store.h"
#include "tally.h"
#include "wire.h"

#define C1 24664u
#define C2 24667u
#define DAY 20231118u

/* ---- fixtures ------------------------------------------------------------------------------ */
typedef struct {
    char dir[256];
    store_t *s;
} fx_t;

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(fx->dir, sizeof fx->dir, "%s/test_store.XXXXXX", tmp);
    if (!mkdtemp(fx->dir)) {
        return -1;
    }
    store_opts_t o = {.map_size = 8u << 20, .unit = 663};
    if (store_open(fx->dir, &o, &fx->s) != 0) {
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    store_close(&fx->s);
    rm_rf(fx->dir);
    free(fx);
    return 0;
}

/* An event with its packed bytes. */
typedef struct {
    Dk__Event ev;
    Dk__Activity act;
    Dk__FundMovement fund;
    Dk__Void vd;
    uint8_t origin[16];
    uint8_t buf[512];
    size_t len;
} tev_t;

static void pack(tev_t *t)
{
    t->len = dk__event__pack(&t->ev, t->buf);
    assert_true(t->len < sizeof t->buf);
}

/* A training with `participants` on day; corrects (0: none). */
static void mk_act(tev_t *t, uint32_t commune, uint64_t seq, uint32_t day, uint32_t participants,
                   uint64_t corrects)
{
    memset(t, 0, sizeof *t);
    dk__event__init(&t->ev);
    dk__activity__init(&t->act);
    t->ev.has_schema_version = 1;
    t->ev.schema_version = 1;
    t->ev.has_commune = 1;
    t->ev.commune = commune;
    t->ev.has_seq = 1;
    t->ev.seq = seq;
    t->ev.has_date = 1;
    t->ev.date = day;
    if (corrects) {
        t->ev.has_corrects_seq = 1;
        t->ev.corrects_seq = corrects;
    }
    t->act.has_kind = 1;
    t->act.kind = DK__ACTIVITY_KIND__TRAINING;
    t->act.has_sessions = 1;
    t->act.sessions = 1;
    t->act.has_participants = 1;
    t->act.participants = participants;
    t->ev.body_case = DK__EVENT__BODY_ACTIVITY;
    t->ev.activity = &t->act;
    pack(t);
}

static void mk_fund(tev_t *t, uint32_t commune, uint64_t seq, uint32_t day, uint64_t amount)
{
    memset(t, 0, sizeof *t);
    dk__event__init(&t->ev);
    dk__fund_movement__init(&t->fund);
    t->ev.has_commune = 1;
    t->ev.commune = commune;
    t->ev.has_seq = 1;
    t->ev.seq = seq;
    t->ev.has_date = 1;
    t->ev.date = day;
    t->fund.has_fund = 1;
    t->fund.fund = DK__FUND__FOR_THE_POOR;
    t->fund.has_flow = 1;
    t->fund.flow = DK__FLOW__RECEIPT;
    t->fund.has_source = 1;
    t->fund.source = DK__SOURCE__BUSINESS;
    t->fund.has_amount = 1;
    t->fund.amount = amount;
    t->ev.body_case = DK__EVENT__BODY_FUND;
    t->ev.fund = &t->fund;
    pack(t);
}

static void mk_void(tev_t *t, uint32_t commune, uint64_t seq, uint64_t target)
{
    memset(t, 0, sizeof *t);
    dk__event__init(&t->ev);
    dk__void__init(&t->vd);
    t->ev.has_commune = 1;
    t->ev.commune = commune;
    t->ev.has_seq = 1;
    t->ev.seq = seq;
    t->vd.has_target_seq = 1;
    t->vd.target_seq = target;
    t->ev.body_case = DK__EVENT__BODY_VOID;
    t->ev.void_ = &t->vd;
    pack(t);
}

static void set_origin(tev_t *t, uint8_t fill)
{
    memset(t->origin, fill, 16);
    t->ev.has_origin_key = 1;
    t->ev.origin_key.len = 16;
    t->ev.origin_key.data = t->origin;
    pack(t);
}

static store_item_t item(const tev_t *t)
{
    store_item_t it = {0};
    it.commune = (uint32_t)t->ev.commune;
    it.ev = &t->ev;
    it.bytes = t->buf;
    it.len = t->len;
    return it;
}

/* Commits the events one item each in ONE commit; returns outcomes in out[] (may be NULL). */
static uint64_t commit(store_t *s, tev_t **evs, size_t n, store_outcome_t *out, int *codes)
{
    store_item_t items[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        items[i] = item(evs[i]);
    }
    store_commit_t r;
    assert_int_equal(store_commit(s, items, n, NULL, 0, &r), 0);
    assert_int_equal(r.nresults, n);
    for (size_t i = 0; i < n; i++) {
        if (out) {
            out[i] = r.results[i].outcome;
        }
        if (codes) {
            codes[i] = r.results[i].code;
        }
        if (r.results[i].outcome == STORE_REJECTED) {
            assert_non_null(r.results[i].reason);
        }
    }
    uint64_t v = r.version;
    store_commit_clear(&r);
    return v;
}

static store_outcome_t commit1(store_t *s, tev_t *t, int *code)
{
    store_outcome_t o;
    int c;
    commit(s, &t, 1, &o, &c);
    if (code) {
        *code = c;
    }
    return o;
}

/* The cell of commune/day for a training organised by the committee (contents 0). */
static uint64_t training_cat(void)
{
    return category_activity(DK__ACTIVITY_KIND__TRAINING, 0, 0, 0, 0);
}

static bool get_cell(store_t *s, uint32_t unit, uint32_t day, uint64_t cat, tally_cell_t *out);

typedef struct {
    uint64_t cat;
    tally_cell_t cell;
    bool found;
} find_t;

static int find_cb(void *arg, const tally_cell_t *c)
{
    find_t *f = arg;
    if (c->category == f->cat) {
        f->cell = *c;
        f->found = true;
    }
    return 0;
}

static bool get_cell(store_t *s, uint32_t unit, uint32_t day, uint64_t cat, tally_cell_t *out)
{
    find_t f = {.cat = cat};
    assert_int_equal(store_cells_foreach(s, unit, day, day, find_cb, &f), 0);
    if (out) {
        *out = f.cell;
    }
    return f.found;
}

static int64_t participants(store_t *s, uint32_t unit, uint32_t day)
{
    tally_cell_t c;
    if (!get_cell(s, unit, day, training_cat(), &c)) {
        return 0;
    }
    return c.m[DK__MEASURE__M_PARTICIPANTS];
}

static int64_t events_in(store_t *s, uint32_t unit, uint32_t day)
{
    tally_cell_t c;
    if (!get_cell(s, unit, day, training_cat(), &c)) {
        return 0;
    }
    return c.m[DK__MEASURE__M_EVENTS];
}

/* ---- tests ------------------------------------------------------------------------------- */
static void test_store_and_duplicate(void **state)
{
    fx_t *fx = *state;
    tev_t a, b;
    mk_act(&a, C1, 1, DAY, 25, 0);
    int code;
    assert_int_equal(commit1(fx->s, &a, &code), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 25);
    uint64_t v1 = store_version(fx->s);
    assert_true(v1 >= 1);
    /* Same seq, same bytes: duplicate, nothing changes, no new version. */
    assert_int_equal(commit1(fx->s, &a, NULL), STORE_DUPLICATE);
    assert_int_equal(participants(fx->s, C1, DAY), 25);
    assert_true(store_version(fx->s) == v1);
    /* Same seq, other bytes: conflict, never stored. */
    mk_act(&b, C1, 1, DAY, 99, 0);
    assert_int_equal(commit1(fx->s, &b, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_CONFLICT);
    assert_int_equal(participants(fx->s, C1, DAY), 25);
    /* The same seq twice inside one commit. */
    tev_t c;
    mk_act(&c, C1, 2, DAY, 5, 0);
    tev_t *two[] = {&c, &c};
    store_outcome_t out[2];
    commit(fx->s, two, 2, out, NULL);
    assert_int_equal(out[0], STORE_STORED);
    assert_int_equal(out[1], STORE_DUPLICATE);
    assert_int_equal(participants(fx->s, C1, DAY), 30);
    assert_int_equal(events_in(fx->s, C1, DAY), 2);
    /* Another commune's seq 1 is another event. */
    tev_t d;
    mk_act(&d, C2, 1, DAY, 7, 0);
    assert_int_equal(commit1(fx->s, &d, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C2, DAY), 7);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

static void test_origin_key(void **state)
{
    fx_t *fx = *state;
    tev_t a, b, c;
    mk_act(&a, C1, 1, DAY, 10, 0);
    set_origin(&a, 0xAB);
    mk_act(&b, C1, 2, DAY, 10, 0);
    set_origin(&b, 0xAB); /* the same CSV row dropped again, new seq */
    assert_int_equal(commit1(fx->s, &a, NULL), STORE_STORED);
    assert_int_equal(commit1(fx->s, &b, NULL), STORE_DUPLICATE);
    assert_int_equal(participants(fx->s, C1, DAY), 10);
    store_unit_t u;
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.high_water == 2); /* seq 2 is consumed */
    assert_true(u.events == 1);
    /* Resending seq 2 gives the same answer. */
    assert_int_equal(commit1(fx->s, &b, NULL), STORE_DUPLICATE);
    /* A correction naming the alias seq 2 corrects seq 1. */
    mk_act(&c, C1, 3, DAY, 12, 2);
    assert_int_equal(commit1(fx->s, &c, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 12);
    assert_int_equal(events_in(fx->s, C1, DAY), 1);
    /* Another commune may have the same row key. */
    tev_t d;
    mk_act(&d, C2, 1, DAY, 4, 0);
    set_origin(&d, 0xAB);
    assert_int_equal(commit1(fx->s, &d, NULL), STORE_STORED);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

static int hist_cb(void *arg, const store_event_t *e);

static int sum_amount_cb(void *arg, const tally_cell_t *c)
{
    *(int64_t *)arg += c->m[DK__MEASURE__M_AMOUNT];
    return 0;
}

/* The commune's fund total (sum of the amount measure over its cells). */
static int64_t amount_of(store_t *s, uint32_t unit)
{
    int64_t total = 0;
    assert_int_equal(store_cells_foreach(s, unit, 20000101, 20991231, sum_amount_cb, &total), 0);
    return total;
}

static void unit_of(store_t *s, uint32_t unit, store_unit_t *u)
{
    memset(u, 0, sizeof *u);
    assert_int_equal(store_unit_get(s, unit, u), 0);
}

/* Receipt 1,000,000 (CSV row, seq 1), corrected by a CSV row to 2,000,000 (seq 2), corrected on
 * the command line to 3,000,000 (seq 3, no row key). A reinstalled agent re-imports both files:
 * the rows come back under seqs 4 and 5 with the keys of seqs 1 and 2. Both are DUPLICATE (aliases
 * of 1 and 2), the total stays 3,000,000 and seq 3 stays the chain's head. */
static void test_reimported_correction_row(void **state)
{
    fx_t *fx = *state;
    tev_t r1, r2, cl, r1b, r2b;
    mk_fund(&r1, C1, 1, DAY, 1000000);
    set_origin(&r1, 0x01);
    mk_fund(&r2, C1, 2, DAY, 2000000);
    r2.ev.has_corrects_seq = 1;
    r2.ev.corrects_seq = 1;
    set_origin(&r2, 0x02);
    mk_fund(&cl, C1, 3, DAY, 3000000);
    cl.ev.has_corrects_seq = 1;
    cl.ev.corrects_seq = 1;
    pack(&cl);
    tev_t *first[] = {&r1, &r2, &cl};
    store_outcome_t out[3];
    commit(fx->s, first, 3, out, NULL);
    assert_int_equal(out[0], STORE_STORED);
    assert_int_equal(out[1], STORE_STORED);
    assert_int_equal(out[2], STORE_STORED);
    assert_int_equal(amount_of(fx->s, C1), 3000000);

    mk_fund(&r1b, C1, 4, DAY, 1000000);
    set_origin(&r1b, 0x01);
    mk_fund(&r2b, C1, 5, DAY, 2000000);
    r2b.ev.has_corrects_seq = 1;
    r2b.ev.corrects_seq = 1;
    set_origin(&r2b, 0x02);
    tev_t *again[] = {&r2b, &r1b}; /* any order inside one commit */
    int codes[2];
    commit(fx->s, again, 2, out, codes);
    assert_int_equal(out[0], STORE_DUPLICATE);
    assert_int_equal(out[1], STORE_DUPLICATE);
    assert_int_equal(codes[0], 0);
    assert_int_equal(amount_of(fx->s, C1), 3000000);
    uint64_t h[5];
    assert_int_equal(store_event_get(fx->s, C1, 3, hist_cb, h), 0);
    assert_true(h[0] == 3 && h[2] == 1); /* seq 3 is still the head and counts */
    assert_int_equal(store_event_get(fx->s, C1, 5, hist_cb, h), DK_ENOTFOUND); /* not stored */
    store_unit_t u;
    unit_of(fx->s, C1, &u);
    assert_true(u.high_water == 5 && u.max_seq == 5);
    assert_true(u.records == 3 && u.events == 1 && u.rejected == 0);
    /* Resending the alias gives the same answer. */
    assert_int_equal(commit1(fx->s, &r2b, NULL), STORE_DUPLICATE);
    assert_int_equal(amount_of(fx->s, C1), 3000000);
    /* A later correction naming the alias (seq 5 -> stored seq 2) corrects the chain of seq 1. */
    tev_t c6;
    mk_fund(&c6, C1, 6, DAY, 4000000);
    c6.ev.has_corrects_seq = 1;
    c6.ev.corrects_seq = 5;
    pack(&c6);
    assert_int_equal(commit1(fx->s, &c6, NULL), STORE_STORED);
    assert_int_equal(amount_of(fx->s, C1), 4000000);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

/* A re-imported void row (the chain is voided: a new void of it would be DK_EV_TARGET) and a
 * re-imported correction row of a chain voided since are DUPLICATE, not rejections; the
 * re-imported original row is DUPLICATE too (the void still holds). */
static void test_reimported_void_row(void **state)
{
    fx_t *fx = *state;
    tev_t o, c, v, ob, cb, vb;
    mk_act(&o, C1, 1, DAY, 10, 0);
    set_origin(&o, 0x11);
    mk_act(&c, C1, 2, DAY, 12, 1);
    set_origin(&c, 0x12);
    mk_void(&v, C1, 3, 1);
    set_origin(&v, 0x13);
    tev_t *first[] = {&o, &c, &v};
    store_outcome_t out[3];
    commit(fx->s, first, 3, out, NULL);
    assert_int_equal(out[2], STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 0);
    assert_int_equal(events_in(fx->s, C1, DAY), 0);

    mk_act(&ob, C1, 4, DAY, 10, 0);
    set_origin(&ob, 0x11);
    mk_act(&cb, C1, 5, DAY, 12, 1);
    set_origin(&cb, 0x12);
    mk_void(&vb, C1, 6, 1);
    set_origin(&vb, 0x13);
    int code;
    assert_int_equal(commit1(fx->s, &vb, &code), STORE_DUPLICATE); /* alone, before the others */
    assert_int_equal(code, 0);
    tev_t *rest[] = {&ob, &cb};
    int codes[2];
    commit(fx->s, rest, 2, out, codes);
    assert_int_equal(out[0], STORE_DUPLICATE);
    assert_int_equal(out[1], STORE_DUPLICATE);
    assert_int_equal(codes[1], 0);
    assert_int_equal(participants(fx->s, C1, DAY), 0);
    assert_int_equal(events_in(fx->s, C1, DAY), 0);
    store_unit_t u;
    unit_of(fx->s, C1, &u);
    assert_true(u.rejected == 0 && u.records == 3 && u.events == 0);
    assert_true(u.high_water == 6 && u.max_seq == 6);
    /* Without a row key the same void is a new void of a voided chain: refused. */
    tev_t vn;
    mk_void(&vn, C1, 7, 1);
    assert_int_equal(commit1(fx->s, &vn, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    /* A correction naming the alias of the void (seq 6 -> void 3) is refused: a void is no
     * target. */
    tev_t cx;
    mk_act(&cx, C1, 8, DAY, 5, 6);
    assert_int_equal(commit1(fx->s, &cx, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

/* The high-water mark advances over seqs consumed as re-imported rows, also when they arrive
 * after a higher seq, so an agent's Welcome (high_water == max_seq) asks for nothing again. */
static void test_reimported_rows_high_water(void **state)
{
    fx_t *fx = *state;
    tev_t o, c, v, ob, cb, vb, n;
    mk_act(&o, C1, 1, DAY, 10, 0);
    set_origin(&o, 0x21);
    mk_act(&c, C1, 2, DAY, 12, 1);
    set_origin(&c, 0x22);
    mk_act(&v, C1, 3, DAY, 7, 0);
    tev_t *first[] = {&o, &c, &v};
    commit(fx->s, first, 3, NULL, NULL);
    tev_t v4;
    mk_void(&v4, C1, 4, 3);
    set_origin(&v4, 0x24);
    assert_int_equal(commit1(fx->s, &v4, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 12);
    /* Re-imported rows get seqs 5, 6, 7 and a fresh row seq 8; 8 arrives first. */
    mk_act(&n, C1, 8, DAY, 1, 0);
    assert_int_equal(commit1(fx->s, &n, NULL), STORE_STORED);
    store_unit_t u;
    unit_of(fx->s, C1, &u);
    assert_true(u.high_water == 4 && u.max_seq == 8);
    mk_act(&cb, C1, 6, DAY, 12, 1);
    set_origin(&cb, 0x22);
    assert_int_equal(commit1(fx->s, &cb, NULL), STORE_DUPLICATE);
    unit_of(fx->s, C1, &u);
    assert_true(u.high_water == 4 && u.max_seq == 8);
    mk_act(&ob, C1, 5, DAY, 10, 0);
    set_origin(&ob, 0x21);
    mk_void(&vb, C1, 7, 3);
    set_origin(&vb, 0x24);
    tev_t *rest[] = {&vb, &ob};
    store_outcome_t out[2];
    commit(fx->s, rest, 2, out, NULL);
    assert_int_equal(out[0], STORE_DUPLICATE);
    assert_int_equal(out[1], STORE_DUPLICATE);
    unit_of(fx->s, C1, &u);
    assert_true(u.high_water == 8 && u.max_seq == 8);
    assert_true(u.records == 5 && u.rejected == 0);
    assert_int_equal(participants(fx->s, C1, DAY), 13);
    assert_int_equal(events_in(fx->s, C1, DAY), 2);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

/* A seq over WIRE_MAX_SEQ (a buggy agent) is refused with DK_EV_RANGE and never decided: neither
 * max_seq nor the high-water mark moves (the agent renumbers after max_seq at its Welcome). */
static void test_huge_seq_not_decided(void **state)
{
    fx_t *fx = *state;
    tev_t a, big, top;
    mk_act(&a, C1, 1, DAY, 10, 0);
    assert_int_equal(commit1(fx->s, &a, NULL), STORE_STORED);
    uint64_t v1 = store_version(fx->s);
    mk_act(&big, C1, UINT64_MAX, DAY, 5, 0);
    /* As ingest passes it: with the caller's verdict (wire_check_event). */
    store_item_t it = item(&big);
    it.reject_code = DK_EV_RANGE;
    it.reject_field = "seq";
    it.reject_reason = "Số thứ tự bản ghi (seq) vượt quá giới hạn.";
    store_commit_t r;
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_int_equal(r.results[0].outcome, STORE_REJECTED);
    assert_int_equal(r.results[0].code, DK_EV_RANGE);
    assert_string_equal(r.results[0].field, "seq");
    assert_non_null(strstr(r.results[0].reason, "(seq)"));
    store_commit_clear(&r);
    /* And without one. */
    mk_act(&top, C1, WIRE_MAX_SEQ + 1, DAY, 5, 0);
    int code;
    assert_int_equal(commit1(fx->s, &top, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_RANGE);
    store_unit_t u;
    unit_of(fx->s, C1, &u);
    assert_true(u.max_seq == 1 && u.high_water == 1);
    assert_true(u.rejected == 0 && u.events == 1);
    assert_true(store_version(fx->s) == v1);
    /* WIRE_MAX_SEQ itself is a seq like any other. */
    mk_act(&top, C1, WIRE_MAX_SEQ, DAY, 5, 0);
    assert_int_equal(commit1(fx->s, &top, NULL), STORE_STORED);
    unit_of(fx->s, C1, &u);
    assert_true(u.max_seq == WIRE_MAX_SEQ && u.high_water == 1);
    assert_int_equal(participants(fx->s, C1, DAY), 15);
}

static void test_out_of_order_high_water(void **state)
{
    fx_t *fx = *state;
    tev_t e[6];
    for (int i = 0; i < 6; i++) {
        mk_act(&e[i], C1, (uint64_t)i + 1, DAY, 1, 0);
    }
    store_unit_t u;
    assert_int_equal(store_unit_get(fx->s, C1, &u), DK_ENOTFOUND);
    tev_t *b1[] = {&e[3], &e[4]}; /* seqs 4, 5 */
    commit(fx->s, b1, 2, NULL, NULL);
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.high_water == 0);
    assert_true(u.max_seq == 5);
    tev_t *b2[] = {&e[1], &e[0]}; /* seqs 2, 1 */
    commit(fx->s, b2, 2, NULL, NULL);
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.high_water == 2);
    /* seq 3 rejected by the caller's validation: still decided, the mark jumps over 3..5. */
    store_item_t it = item(&e[2]);
    it.reject_code = DK_EV_DATE;
    it.reject_field = "date";
    it.reject_reason = "Ngày không hợp lệ.";
    store_commit_t r;
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_int_equal(r.results[0].outcome, STORE_REJECTED);
    store_commit_clear(&r);
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.high_water == 5);
    assert_true(u.rejected == 1);
    assert_true(u.events == 4);
    assert_true(u.records == 4);
    assert_int_equal(events_in(fx->s, C1, DAY), 4);
}

static void test_rejection_remembered(void **state)
{
    fx_t *fx = *state;
    tev_t a;
    mk_act(&a, C1, 1, DAY, 3, 0);
    store_item_t it = item(&a);
    it.reject_code = DK_EV_AREA;
    it.reject_field = "area";
    it.reject_reason = "Khu dân cư số 40 không có trong xã.";
    store_commit_t r;
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_int_equal(r.results[0].outcome, STORE_REJECTED);
    store_commit_clear(&r);
    /* Resent (this time the caller found nothing wrong, e.g. after a config change): the seq is
     * decided, so the same rejection comes back, with its field and reason. */
    it = item(&a);
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_int_equal(r.results[0].outcome, STORE_REJECTED);
    assert_int_equal(r.results[0].code, DK_EV_AREA);
    assert_string_equal(r.results[0].field, "area");
    assert_string_equal(r.results[0].reason, "Khu dân cư số 40 không có trong xã.");
    store_commit_clear(&r);
    /* Different bytes under that seq: a conflict. */
    tev_t b;
    mk_act(&b, C1, 1, DAY, 4, 0);
    int code;
    assert_int_equal(commit1(fx->s, &b, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_CONFLICT);
    assert_int_equal(participants(fx->s, C1, DAY), 0);
    store_stats_t st;
    assert_int_equal(store_stats(fx->s, &st), 0);
    assert_true(st.rejected == 1);
    assert_true(st.events == 0);
    /* Commune mismatch between the event and the authenticated sender. */
    tev_t c;
    mk_act(&c, C2, 5, DAY, 4, 0);
    it = item(&c);
    it.commune = C1;
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_int_equal(r.results[0].code, DK_EV_COMMUNE);
    store_commit_clear(&r);
}

static void test_corrections_and_voids(void **state)
{
    fx_t *fx = *state;
    tev_t o, c1, c2, v, x;
    int code;
    mk_act(&o, C1, 1, DAY, 10, 0);
    assert_int_equal(commit1(fx->s, &o, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 10);
    /* Correction of the original. */
    mk_act(&c1, C1, 2, DAY, 20, 1);
    assert_int_equal(commit1(fx->s, &c1, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 20);
    assert_int_equal(events_in(fx->s, C1, DAY), 1);
    /* Correction of the correction, moved to another day. */
    mk_act(&c2, C1, 3, DAY + 1, 30, 2);
    assert_int_equal(commit1(fx->s, &c2, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 0);
    assert_int_equal(participants(fx->s, C1, DAY + 1), 30);
    assert_int_equal(events_in(fx->s, C1, DAY + 1), 1);
    assert_int_equal(store_verify(fx->s, NULL), 0);
    /* Seq 4 names the original again: it is the newest member, so it counts (moving back). */
    mk_act(&x, C1, 4, DAY, 40, 1);
    assert_int_equal(commit1(fx->s, &x, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY + 1), 0);
    assert_int_equal(participants(fx->s, C1, DAY), 40);
    /* Void of the chain (naming a middle member). */
    mk_void(&v, C1, 5, 2);
    assert_int_equal(commit1(fx->s, &v, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 0);
    assert_int_equal(events_in(fx->s, C1, DAY), 0);
    assert_int_equal(store_verify(fx->s, NULL), 0);
    /* Correcting or voiding a voided chain, voiding a void, a missing target. */
    mk_act(&x, C1, 6, DAY, 1, 1);
    assert_int_equal(commit1(fx->s, &x, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    mk_void(&x, C1, 7, 5);
    assert_int_equal(commit1(fx->s, &x, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    mk_void(&x, C1, 8, 1);
    assert_int_equal(commit1(fx->s, &x, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    mk_act(&x, C1, 9, DAY, 1, 7); /* seq 7 was rejected */
    assert_int_equal(commit1(fx->s, &x, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    mk_act(&x, C1, 10, DAY, 1, 10); /* not below its own seq */
    assert_int_equal(commit1(fx->s, &x, &code), STORE_REJECTED);
    assert_int_equal(code, DK_EV_TARGET);
    /* A target that may still arrive (above the high-water mark): deferred, not recorded. */
    mk_act(&x, C1, 20, DAY, 1, 15);
    assert_int_equal(commit1(fx->s, &x, NULL), STORE_DEFERRED);
    store_unit_t u;
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.max_seq == 10);
    assert_true(u.high_water == 10);
    /* ...and once the target is there, it goes through. */
    tev_t t15;
    mk_act(&t15, C1, 15, DAY, 3, 0);
    tev_t *both[] = {&x, &t15}; /* in reverse order in one commit: processed by seq */
    store_outcome_t out[2];
    commit(fx->s, both, 2, out, NULL);
    assert_int_equal(out[0], STORE_STORED);
    assert_int_equal(out[1], STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 1);
    assert_int_equal(store_verify(fx->s, NULL), 0);

}

/* A correction that arrives after a later one (lower seq than the chain's head) is kept in the
 * history but changes nothing: the highest seq of a chain counts, whatever the arrival order. */
static void test_stale_correction(void **state)
{
    fx_t *fx = *state;
    tev_t o, c3, c2;
    mk_act(&o, C1, 1, DAY, 10, 0);
    mk_act(&c3, C1, 3, DAY, 30, 1);
    mk_act(&c2, C1, 2, DAY, 20, 1);
    tev_t *first[] = {&o, &c3};
    commit(fx->s, first, 2, NULL, NULL);
    assert_int_equal(participants(fx->s, C1, DAY), 30);
    assert_int_equal(commit1(fx->s, &c2, NULL), STORE_STORED);
    assert_int_equal(participants(fx->s, C1, DAY), 30);
    assert_int_equal(events_in(fx->s, C1, DAY), 1);
    assert_int_equal(store_verify(fx->s, NULL), 0);
}

static int hist_cb(void *arg, const store_event_t *e)
{
    uint64_t *out = arg;
    out[0] = e->head;
    out[1] = e->voided_by;
    out[2] = e->effective;
    out[3] = e->root;
    out[4] = e->ev->seq;
    return 0;
}

static void test_history(void **state)
{
    fx_t *fx = *state;
    tev_t o, c, f, v;
    mk_act(&o, C1, 1, DAY, 10, 0);
    mk_act(&c, C1, 2, DAY, 11, 1);
    mk_fund(&f, C1, 3, DAY, 1250000);
    mk_void(&v, C1, 4, 3);
    tev_t *all[] = {&o, &c, &f, &v};
    commit(fx->s, all, 4, NULL, NULL);
    uint64_t h[5];
    assert_int_equal(store_event_get(fx->s, C1, 1, hist_cb, h), 0);
    assert_true(h[0] == 2 && h[1] == 0 && h[2] == 0 && h[3] == 0);
    assert_int_equal(store_event_get(fx->s, C1, 2, hist_cb, h), 0);
    assert_true(h[0] == 2 && h[2] == 1 && h[3] == 1);
    assert_int_equal(store_event_get(fx->s, C1, 3, hist_cb, h), 0);
    assert_true(h[1] == 4 && h[2] == 0);
    assert_int_equal(store_event_get(fx->s, C1, 9, hist_cb, h), DK_ENOTFOUND);
}

typedef struct {
    uint64_t seqs[16];
    uint64_t arrival[16];
    size_t n;
} coll_t;

static int collect_cb(void *arg, const store_event_t *e)
{
    coll_t *c = arg;
    c->arrival[c->n] = e->arrival;
    c->seqs[c->n++] = e->seq;
    return 0;
}

static void test_recent(void **state)
{
    fx_t *fx = *state;
    tev_t a[4];
    mk_act(&a[0], C1, 1, DAY, 1, 0);
    mk_act(&a[1], C2, 1, DAY, 1, 0);
    mk_act(&a[2], C1, 2, DAY, 1, 0);
    mk_act(&a[3], C2, 2, DAY, 1, 0);
    for (int i = 0; i < 4; i++) {
        commit1(fx->s, &a[i], NULL);
    }
    coll_t c = {0};
    assert_int_equal(store_events_recent(fx->s, C1, 0, 10, collect_cb, &c), 0);
    assert_int_equal(c.n, 2);
    assert_true(c.seqs[0] == 2 && c.seqs[1] == 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_events_recent(fx->s, C1, 2, 10, collect_cb, &c), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.seqs[0] == 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_events_recent(fx->s, 0, 0, 3, collect_cb, &c), 0);
    assert_int_equal(c.n, 3); /* arrival order: C2/2, C1/2, C2/1 */
    assert_true(c.seqs[0] == 2 && c.seqs[1] == 2 && c.seqs[2] == 1);
    uint64_t more = c.arrival[2];
    memset(&c, 0, sizeof c);
    assert_int_equal(store_events_recent(fx->s, 0, more, 3, collect_cb, &c), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.seqs[0] == 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_events_recent(fx->s, 99999, 0, 3, collect_cb, &c), 0);
    assert_int_equal(c.n, 0);
}

/* Writes measure 1 of one cell directly with LMDB (the store must be closed). */
static void corrupt_cell(const char *dir, uint32_t unit, uint32_t day, uint64_t cat, int64_t delta)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, 8u << 20);
    assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "cells", 0, &dbi), 0);
    uint8_t key[TALLY_KEY_LEN], val[TALLY_VAL_MAX];
    tally_key_encode(key, unit, day, cat);
    MDB_val k = {sizeof key, key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    tally_cell_t c = {0};
    assert_int_equal(tally_val_decode(v.mv_data, v.mv_size, &c), 0);
    c.m[DK__MEASURE__M_PARTICIPANTS] += delta;
    v.mv_size = tally_val_encode(&c, val);
    v.mv_data = val;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_verify_detects_corruption(void **state)
{
    fx_t *fx = *state;
    tev_t a, b;
    mk_act(&a, C1, 1, DAY, 10, 0);
    mk_fund(&b, C1, 2, DAY, 5000000);
    tev_t *both[] = {&a, &b};
    commit(fx->s, both, 2, NULL, NULL);
    assert_int_equal(store_verify(fx->s, NULL), 0);
    store_close(&fx->s);
    corrupt_cell(fx->dir, C1, DAY, training_cat(), 1);
    assert_int_equal(store_open(fx->dir, NULL, &fx->s), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *rep = open_memstream(&text, &len);
    assert_int_equal(store_verify(fx->s, rep), DK_EMISMATCH);
    fclose(rep);
    char want[128];
    snprintf(want, sizeof want, "unit=%u day=%u category=%llu measure=2 stored=11 recount=10", C1,
             DAY, (unsigned long long)training_cat());
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "MISMATCH"));
    free(text);
}

/* Sums a snapshot's cells' M_EVENTS. */
static int64_t snap_events(const Dk__Snapshot *sn)
{
    int64_t sum = 0;
    for (size_t i = 0; i < sn->n_cells; i++) {
        if (sn->cells[i]->n_m > 0) {
            sum += sn->cells[i]->m[DK__MEASURE__M_EVENTS];
        }
    }
    return sum;
}

static void test_snapshots(void **state)
{
    fx_t *fx = *state;
    tev_t e[10];
    tev_t *p[10];
    for (int i = 0; i < 10; i++) {
        mk_act(&e[i], i < 5 ? C1 : C2, (uint64_t)(i % 5) + 1, DAY + (uint32_t)(i % 5), 2, 0);
        p[i] = &e[i];
    }
    uint64_t v1 = commit(fx->s, p, 10, NULL, NULL);
    /* Full snapshot in pages of 3 cells: 10 cells = 4 pages; units on the first page only. */
    Dk__Snapshot *sn = NULL;
    size_t pages = 0, cells = 0;
    int64_t sum = 0;
    uint8_t cur[STORE_CURSOR_MAX];
    size_t curlen = 0;
    do {
        assert_int_equal(store_snapshot_page(fx->s, true, 0, curlen ? cur : NULL, curlen, 3, &sn),
                         0);
        assert_true(sn->version == v1);
        assert_true(sn->events == 10);
        assert_int_equal(sn->unit, 663);
        assert_int_equal(sn->n_units, pages == 0 ? 2 : 0);
        assert_true(sn->n_cells <= 3);
        cells += sn->n_cells;
        sum += snap_events(sn);
        curlen = sn->has_next ? sn->next.len : 0;
        if (curlen) {
            assert_true(curlen <= STORE_CURSOR_MAX);
            memcpy(cur, sn->next.data, curlen);
        }
        /* It must pack (the daemon sends it). */
        size_t sz = dk__snapshot__get_packed_size(sn);
        assert_true(sz > 0);
        store_snapshot_free(&sn);
        pages++;
    } while (curlen);
    assert_int_equal(cells, 10);
    assert_int_equal(sum, 10);
    assert_int_equal(pages, 4);

    /* Changes since v1: nothing. Then void one event: its cell (now zero) and the unit come. */
    assert_int_equal(store_snapshot_page(fx->s, false, v1, NULL, 0, 100, &sn), 0);
    assert_int_equal(sn->n_cells, 0);
    assert_int_equal(sn->n_units, 0);
    assert_false(sn->resync);
    store_snapshot_free(&sn);
    tev_t v;
    mk_void(&v, C1, 6, 1);
    uint64_t v2 = commit(fx->s, (tev_t *[]){&v}, 1, NULL, NULL);
    assert_true(v2 == v1 + 1);
    assert_int_equal(store_snapshot_page(fx->s, false, v1, NULL, 0, 100, &sn), 0);
    assert_true(sn->version == v2);
    assert_true(sn->events == 9);
    assert_int_equal(sn->n_cells, 1);
    assert_int_equal(sn->cells[0]->n_m, 0); /* became zero */
    assert_true(sn->cells[0]->version == v2);
    assert_int_equal(sn->n_units, 1);
    assert_int_equal(sn->units[0]->unit, C1);
    assert_true(sn->units[0]->events == 4);
    store_snapshot_free(&sn);
    /* Full snapshot now skips the zero cell. */
    assert_int_equal(store_snapshot_page(fx->s, true, 0, NULL, 0, 100, &sn), 0);
    assert_int_equal(sn->n_cells, 9);
    assert_int_equal(snap_events(sn), 9);
    assert_false(sn->has_next);
    store_snapshot_free(&sn);
    /* Since-version paging: 5 changes in pages of 2. */
    for (int i = 0; i < 5; i++) {
        mk_act(&e[i], C2, 10 + (uint64_t)i, DAY + 10 + (uint32_t)i, 1, 0);
        commit1(fx->s, &e[i], NULL);
    }
    size_t got = 0;
    curlen = 0;
    pages = 0;
    do {
        assert_int_equal(
            store_snapshot_page(fx->s, false, v2, curlen ? cur : NULL, curlen, 2, &sn), 0);
        got += sn->n_cells + sn->n_units;
        curlen = sn->has_next ? sn->next.len : 0;
        if (curlen) {
            memcpy(cur, sn->next.data, curlen);
        }
        store_snapshot_free(&sn);
        pages++;
    } while (curlen);
    assert_int_equal(got, 6); /* 5 cells + C2's unit state (moved to the newest version) */
    assert_int_equal(pages, 3);
    /* Ahead of the store: resync. A bad cursor: refused. */
    assert_int_equal(store_snapshot_page(fx->s, false, v2 + 100, NULL, 0, 10, &sn), 0);
    assert_true(sn->has_resync && sn->resync);
    assert_int_equal(sn->n_cells, 0);
    store_snapshot_free(&sn);
    uint8_t bad[5] = {'F', 1, 2, 3, 4};
    assert_int_equal(store_snapshot_page(fx->s, true, 0, bad, sizeof bad, 10, &sn), DK_EINVAL);
    assert_null(sn);
}

static void test_versions_and_update(void **state)
{
    fx_t *fx = *state;
    uint64_t v0 = store_version(fx->s);
    tev_t a;
    mk_act(&a, C1, 1, DAY, 3, 0);
    store_item_t it = item(&a);
    uint8_t inst[16] = {1, 2, 3};
    store_touch_t t = {.commune = C1, .last_contact = 1700000000, .has_backlog = true,
                       .backlog = 12, .oldest_waiting = 1699999000, .instance = inst,
                       .instance_len = 16};
    store_commit_t r;
    assert_int_equal(store_commit(fx->s, &it, 1, &t, 1, &r), 0);
    assert_true(r.prev_version == v0);
    assert_true(r.version == v0 + 1);
    assert_int_equal(r.ncells, 1);
    assert_int_equal(r.nunits, 1);
    assert_true(r.cells[0].m[DK__MEASURE__M_PARTICIPANTS] == 3);
    assert_true(r.units[0].backlog == 12);
    assert_true(r.units[0].version == r.version);
    Dk__Update *up;
    assert_int_equal(store_update_build(&r, &up), 0);
    assert_true(up->version == r.version && up->prev_version == v0);
    assert_int_equal(up->n_cells, 1);
    assert_int_equal(up->n_units, 1);
    assert_true(up->units[0]->instance.len == 16);
    assert_true(dk__update__get_packed_size(up) > 0);
    store_update_free(&up);
    assert_null(up);
    store_commit_clear(&r);
    /* All duplicates: no version. A touch alone: a version. */
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_true(r.version == v0 + 1 && r.prev_version == v0 + 1);
    assert_int_equal(r.ncells + r.nunits, 0);
    store_commit_clear(&r);
    t.last_contact = 1700000100;
    assert_int_equal(store_commit(fx->s, NULL, 0, &t, 1, &r), 0);
    assert_true(r.version == v0 + 2);
    store_commit_clear(&r);
    store_unit_t u;
    assert_int_equal(store_unit_get(fx->s, C1, &u), 0);
    assert_true(u.last_contact == 1700000100 && u.oldest_waiting == 1699999000);
    assert_memory_equal(u.instance, inst, 16);
    /* Monotonic over many commits. */
    uint64_t last = store_version(fx->s);
    for (int i = 0; i < 20; i++) {
        tev_t b;
        mk_act(&b, C2, (uint64_t)i + 1, DAY, 1, 0);
        uint64_t v = commit(fx->s, (tev_t *[]){&b}, 1, NULL, NULL);
        assert_true(v == last + 1);
        last = v;
    }
}

static void test_map_full_growth(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/test_store_map.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    store_opts_t o = {.map_size = 64 * 1024, .max_map_size = 256u << 20};
    store_t *s;
    assert_int_equal(store_open(dir, &o, &s), 0);
    store_stats_t st;
    assert_int_equal(store_stats(s, &st), 0);
    uint64_t map0 = st.map_size;
    /* 2,000 events in commits of 500: far more than 64 KiB. */
    static tev_t evs[500];
    store_item_t items[500];
    for (int b = 0; b < 4; b++) {
        for (int i = 0; i < 500; i++) {
            mk_act(&evs[i], C1, (uint64_t)(b * 500 + i + 1), DAY + (uint32_t)(i % 28), 1, 0);
            items[i] = item(&evs[i]);
        }
        store_commit_t r;
        assert_int_equal(store_commit(s, items, 500, NULL, 0, &r), 0);
        assert_int_equal(r.stored, 500);
        store_commit_clear(&r);
    }
    assert_int_equal(store_stats(s, &st), 0);
    assert_true(st.map_size > map0);
    assert_true(st.events == 2000);
    assert_true(st.tallied == 2000);
    assert_int_equal(store_verify(s, NULL), 0);
    store_close(&s);
    /* A max that cannot hold it: DK_EFULL, nothing written. */
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    o.map_size = 64 * 1024;
    o.max_map_size = 64 * 1024;
    assert_int_equal(store_open(dir, &o, &s), 0);
    store_commit_t r;
    assert_int_equal(store_commit(s, items, 500, NULL, 0, &r), DK_EFULL);
    assert_int_equal(r.nresults, 0);
    assert_true(store_version(s) == 0);
    store_close(&s);
    rm_rf(dir);
}

static void test_backup(void **state)
{
    fx_t *fx = *state;
    tev_t e[5];
    for (int i = 0; i < 5; i++) {
        mk_act(&e[i], C1, (uint64_t)i + 1, DAY, 2, 0);
        commit1(fx->s, &e[i], NULL);
    }
    char dst[300];
    snprintf(dst, sizeof dst, "%s.bak", fx->dir);
    rm_rf(dst);
    assert_int_equal(store_backup(fx->s, dst), 0);
    /* Refuses a non-empty target. */
    assert_int_equal(store_backup(fx->s, dst), DK_EEXIST);
    store_t *b;
    store_opts_t o = {.read_only = true};
    assert_int_equal(store_open(dst, &o, &b), 0);
    assert_true(store_version(b) == store_version(fx->s));
    assert_int_equal(store_verify(b, NULL), 0);
    assert_int_equal(participants(b, C1, DAY), 10);
    store_commit_t r;
    store_item_t it = item(&e[0]);
    assert_int_equal(store_commit(b, &it, 1, NULL, 0, &r), DK_EINVAL); /* read-only */
    store_close(&b);
    rm_rf(dst);
    /* An empty existing folder is fine. */
    assert_int_equal(mkdir(dst, 0700), 0);
    assert_int_equal(store_backup(fx->s, dst), 0);
    rm_rf(dst);
}

static void test_read_only_beside_writer(void **state)
{
    fx_t *fx = *state;
    tev_t a;
    mk_act(&a, C1, 1, DAY, 8, 0);
    uint64_t v = commit(fx->s, (tev_t *[]){&a}, 1, NULL, NULL);
    /* Another process (as `dk-aggregator status` would be) opens it read-only while we hold it
     * open for writing. One env per process: hence the fork. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_t *r;
        store_opts_t o = {.read_only = true};
        int ok = store_open(fx->dir, &o, &r) == 0 && store_version(r) == v &&
                 participants(r, C1, DAY) == 8 && store_verify(r, NULL) == 0;
        store_close(&r);
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The writer goes on. */
    tev_t b;
    mk_act(&b, C1, 2, DAY, 1, 0);
    assert_int_equal(commit1(fx->s, &b, NULL), STORE_STORED);
}

static void test_reader_check(void **state)
{
    fx_t *fx = *state;
    assert_true(store_reader_check(fx->s) >= 0);
    /* A process that dies inside a read txn leaves a stale slot: the check clears it. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Open a raw read txn with the plain LMDB API in this child, then die. */
        MDB_env *e2;
        mdb_env_create(&e2);
        mdb_env_set_maxdbs(e2, 32);
        if (mdb_env_open(e2, fx->dir, MDB_RDONLY, 0640) != 0) {
            _exit(2);
        }
        MDB_txn *t2;
        if (mdb_txn_begin(e2, NULL, MDB_RDONLY, &t2) != 0) {
            _exit(3);
        }
        _exit(0); /* no abort, no close: a stale reader slot */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(store_reader_check(fx->s) >= 1);
    assert_int_equal(store_reader_check(fx->s), 0);
}

/* ---- child cells ----------------------------------------------------------------------------- */
typedef struct {
    Dk__Snapshot sn;
    Dk__Cell cells[8];
    Dk__Cell *cptr[8];
    int64_t m[8][3];
    Dk__UnitState units[4];
    Dk__UnitState *uptr[4];
} tsnap_t;

static void snap_init(tsnap_t *t, uint64_t version, bool full)
{
    memset(t, 0, sizeof *t);
    dk__snapshot__init(&t->sn);
    t->sn.has_version = 1;
    t->sn.version = version;
    t->sn.has_full = 1;
    t->sn.full = full;
    t->sn.cells = t->cptr;
    t->sn.units = t->uptr;
}

static void snap_cell(tsnap_t *t, uint32_t unit, uint32_t day, uint64_t cat, int64_t events,
                      int64_t sessions)
{
    size_t i = t->sn.n_cells++;
    Dk__Cell *c = &t->cells[i];
    dk__cell__init(c);
    c->has_unit = c->has_day = c->has_category = 1;
    c->unit = unit;
    c->day = day;
    c->category = cat;
    t->m[i][0] = events;
    t->m[i][1] = sessions;
    c->m = t->m[i];
    c->n_m = events || sessions ? 2 : 0;
    t->cptr[i] = c;
}

static void snap_unit(tsnap_t *t, uint32_t unit, uint64_t events)
{
    size_t i = t->sn.n_units++;
    Dk__UnitState *u = &t->units[i];
    dk__unit_state__init(u);
    u->has_unit = u->has_events = 1;
    u->unit = unit;
    u->events = events;
    t->uptr[i] = u;
}

static uint64_t cat_t(void)
{
    return training_cat();
}

static int64_t cell_m(store_t *s, uint32_t unit, uint32_t day, int i, uint32_t *owner)
{
    tally_cell_t c;
    if (!get_cell(s, unit, day, cat_t(), &c)) {
        return -1;
    }
    if (owner) {
        *owner = c.owner;
    }
    return c.m[i];
}

static void test_child_apply(void **state)
{
    fx_t *fx = *state;
    const uint32_t child = 662, other = 661, cu1 = 24600, cu2 = 24601;
    tsnap_t p1, p2;
    snap_init(&p1, 50, true);
    snap_cell(&p1, cu1, DAY, cat_t(), 3, 6);
    snap_cell(&p1, cu2, DAY, cat_t(), 2, 2);
    snap_unit(&p1, cu1, 3);
    snap_unit(&p1, cu2, 2);
    snap_init(&p2, 50, true);
    snap_cell(&p2, cu2, DAY + 1, cat_t(), 1, 1);
    const Dk__Snapshot *pages[] = {&p1.sn, &p2.sn};
    store_commit_t r;
    uint64_t v0 = store_version(fx->s);
    assert_int_equal(store_child_apply(fx->s, child, pages, 2, true, 1700000000, &r), 0);
    assert_true(r.version == v0 + 1);
    assert_int_equal(r.ncells, 3);
    store_commit_clear(&r);
    uint32_t owner = 0;
    assert_int_equal(cell_m(fx->s, cu1, DAY, 0, &owner), 3);
    assert_int_equal(owner, child);
    store_unit_t u;
    assert_int_equal(store_unit_get(fx->s, cu1, &u), 0);
    assert_int_equal(u.owner, child);
    assert_true(u.events == 3);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_true(u.child_version == 50 && u.last_pull == 1700000000 && u.failed_pulls == 0);

    /* The same full snapshot again: nothing added twice. */
    assert_int_equal(store_child_apply(fx->s, child, pages, 2, true, 1700000060, &r), 0);
    assert_int_equal(r.ncells, 0);
    store_commit_clear(&r);
    assert_int_equal(cell_m(fx->s, cu1, DAY, 0, NULL), 3);
    store_stats_t st;
    store_stats(fx->s, &st);
    assert_true(st.tallied == 6);

    /* Incremental: absolute values replace. */
    tsnap_t inc;
    snap_init(&inc, 51, false);
    snap_cell(&inc, cu1, DAY, cat_t(), 4, 9);
    const Dk__Snapshot *ip[] = {&inc.sn};
    assert_int_equal(store_child_apply(fx->s, child, ip, 1, false, 1700000120, &r), 0);
    store_commit_clear(&r);
    assert_int_equal(cell_m(fx->s, cu1, DAY, 0, NULL), 4);
    assert_int_equal(cell_m(fx->s, cu1, DAY, 1, NULL), 9);
    assert_int_equal(cell_m(fx->s, cu2, DAY + 1, 0, NULL), 1); /* untouched */
    /* A full snapshot from an older backup of the child: missing cells go to zero. */
    tsnap_t old;
    snap_init(&old, 40, true);
    snap_cell(&old, cu1, DAY, cat_t(), 2, 2);
    const Dk__Snapshot *op[] = {&old.sn};
    assert_int_equal(store_child_apply(fx->s, child, op, 1, true, 1700000180, &r), 0);
    store_commit_clear(&r);
    assert_int_equal(cell_m(fx->s, cu1, DAY, 0, NULL), 2);
    assert_int_equal(cell_m(fx->s, cu2, DAY, 0, NULL), -1);     /* zero: not listed */
    assert_int_equal(cell_m(fx->s, cu2, DAY + 1, 0, NULL), -1);
    store_stats(fx->s, &st);
    assert_true(st.tallied == 2);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_true(u.child_version == 40);

    /* Local events own C1: a child may not write it; another child may not take cu1. */
    tev_t a;
    mk_act(&a, C1, 1, DAY, 5, 0);
    commit1(fx->s, &a, NULL);
    tsnap_t bad;
    snap_init(&bad, 60, false);
    snap_cell(&bad, C1, DAY, cat_t(), 100, 100);
    const Dk__Snapshot *bp[] = {&bad.sn};
    uint64_t vb = store_version(fx->s);
    assert_int_equal(store_child_apply(fx->s, child, bp, 1, false, 1, &r), DK_EAUTH);
    assert_int_equal(store_child_apply(fx->s, other, op, 1, true, 1, &r), DK_EAUTH);
    assert_true(store_version(fx->s) == vb);
    assert_int_equal(participants(fx->s, C1, DAY), 5);
    /* A resync page is not applied. */
    tsnap_t rs;
    snap_init(&rs, 60, false);
    rs.sn.has_resync = rs.sn.resync = 1;
    const Dk__Snapshot *rp[] = {&rs.sn};
    assert_int_equal(store_child_apply(fx->s, child, rp, 1, false, 1, &r), DK_EINVAL);

    /* Failures are recorded durably and reset by the next success. */
    assert_int_equal(store_child_note_failure(fx->s, child, 1700000300, "timeout after 20 s"), 0);
    assert_int_equal(store_child_note_failure(fx->s, child, 1700000360, "timeout after 20 s"), 0);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_int_equal(u.failed_pulls, 2);
    assert_string_equal(u.last_error, "timeout after 20 s");
    assert_true(u.last_pull == 1700000180);
    assert_int_equal(store_child_get(fx->s, 999, &u), DK_ENOTFOUND);

    /* Verify leaves child cells alone but names them; a parent's snapshot carries them. */
    char *text = NULL;
    size_t len = 0;
    FILE *rep = open_memstream(&text, &len);
    assert_int_equal(store_verify(fx->s, rep), 0);
    fclose(rep);
    assert_non_null(strstr(text, "child cells (not recounted): 3 of child 662"));
    free(text);
    Dk__Snapshot *sn;
    assert_int_equal(store_snapshot_page(fx->s, true, 0, NULL, 0, 100, &sn), 0);
    assert_int_equal(sn->n_cells, 2);
    assert_true(sn->events == 3);
    /* units: C1, cu1, cu2 and the child record 662 */
    assert_int_equal(sn->n_units, 4);
    bool found_child = false;
    for (size_t i = 0; i < sn->n_units; i++) {
        if (sn->units[i]->unit == child) {
            found_child = sn->units[i]->failed_pulls == 2 && sn->units[i]->child_version == 40;
        }
    }
    assert_true(found_child);
    store_snapshot_free(&sn);
}


/* ---- epochs ---------------------------------------------------------------------------------- */
static bool snap_epoch_is(const Dk__Snapshot *sn, const uint8_t e[STORE_EPOCH_LEN])
{
    return sn->has_epoch && sn->epoch.len == STORE_EPOCH_LEN &&
           memcmp(sn->epoch.data, e, STORE_EPOCH_LEN) == 0;
}

static void test_epoch_backup_restore(void **state)
{
    fx_t *fx = *state;
    uint8_t e0[STORE_EPOCH_LEN], e1[STORE_EPOCH_LEN], e2[STORE_EPOCH_LEN], z[STORE_EPOCH_LEN];
    memset(z, 0, sizeof z);
    assert_int_equal(store_epoch(fx->s, e0), 0);
    assert_memory_not_equal(e0, z, sizeof z);
    /* Kept across a close and reopen of the same store. */
    store_close(&fx->s);
    store_opts_t o = {.map_size = 8u << 20, .unit = 663};
    assert_int_equal(store_open(fx->dir, &o, &fx->s), 0);
    assert_int_equal(store_epoch(fx->s, e1), 0);
    assert_memory_equal(e0, e1, sizeof e0);

    /* Snapshots (full, changes, resync answers) and live updates carry it. */
    tev_t a;
    mk_act(&a, C1, 1, DAY, 3, 0);
    store_item_t it = item(&a);
    store_commit_t r;
    assert_int_equal(store_commit(fx->s, &it, 1, NULL, 0, &r), 0);
    assert_memory_equal(r.epoch, e0, sizeof e0);
    Dk__Update *up = NULL;
    assert_int_equal(store_update_build(&r, &up), 0);
    assert_true(up->has_epoch && up->epoch.len == STORE_EPOCH_LEN);
    assert_memory_equal(up->epoch.data, e0, sizeof e0);
    store_update_free(&up);
    store_commit_clear(&r);
    Dk__Snapshot *sn;
    assert_int_equal(store_snapshot_page(fx->s, true, 0, NULL, 0, 10, &sn), 0);
    assert_true(snap_epoch_is(sn, e0));
    store_snapshot_free(&sn);
    assert_int_equal(store_snapshot_page(fx->s, false, 0, NULL, 0, 10, &sn), 0);
    assert_true(snap_epoch_is(sn, e0));
    store_snapshot_free(&sn);
    assert_int_equal(store_snapshot_page(fx->s, false, 99, NULL, 0, 10, &sn), 0);
    assert_true(sn->resync && snap_epoch_is(sn, e0));
    store_snapshot_free(&sn);

    /* A backup: read-only it still shows the old epoch; its first read-write open makes a new
     * one (the restore), the next read-write open keeps that. */
    char dst[300];
    snprintf(dst, sizeof dst, "%s.bak", fx->dir);
    rm_rf(dst);
    assert_int_equal(store_backup(fx->s, dst), 0);
    char lock[320];
    snprintf(lock, sizeof lock, "%s/lock.mdb", dst);
    assert_int_not_equal(access(lock, F_OK), 0); /* no lock file left in the copy */
    store_t *b;
    store_opts_t ro = {.read_only = true};
    assert_int_equal(store_open(dst, &ro, &b), 0);
    assert_int_equal(store_epoch(b, e1), 0);
    assert_memory_equal(e0, e1, sizeof e0);
    store_close(&b);
    assert_int_equal(store_open(dst, &o, &b), 0);
    assert_int_equal(store_epoch(b, e1), 0);
    assert_memory_not_equal(e0, e1, sizeof e0);
    assert_true(store_version(b) == store_version(fx->s)); /* nothing else changed */
    assert_int_equal(store_verify(b, NULL), 0);
    assert_int_equal(store_snapshot_page(b, false, 0, NULL, 0, 10, &sn), 0);
    assert_true(snap_epoch_is(sn, e1));
    store_snapshot_free(&sn);
    store_close(&b);
    assert_int_equal(store_open(dst, &o, &b), 0);
    assert_int_equal(store_epoch(b, e2), 0);
    assert_memory_equal(e1, e2, sizeof e1);
    store_close(&b);
    /* The original store is not affected by being backed up. */
    assert_int_equal(store_epoch(fx->s, e2), 0);
    assert_memory_equal(e0, e2, sizeof e0);
    rm_rf(dst);
}

static void snap_set_epoch(tsnap_t *t, const uint8_t *e)
{
    t->sn.has_epoch = 1;
    t->sn.epoch.len = STORE_EPOCH_LEN;
    t->sn.epoch.data = (uint8_t *)e;
}

static void test_child_epoch(void **state)
{
    fx_t *fx = *state;
    const uint32_t child = 662, cu = 24600;
    uint8_t ea[STORE_EPOCH_LEN], eb[STORE_EPOCH_LEN];
    memset(ea, 0xa1, sizeof ea);
    memset(eb, 0xb2, sizeof eb);
    store_commit_t r;
    store_unit_t u;
    tsnap_t f;
    snap_init(&f, 10, true);
    snap_cell(&f, cu, DAY, cat_t(), 5, 5);
    snap_set_epoch(&f, ea);
    const Dk__Snapshot *fp[] = {&f.sn};
    assert_int_equal(store_child_apply(fx->s, child, fp, 1, true, 1700000000, &r), 0);
    store_commit_clear(&r);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_int_equal(u.instance_len, STORE_EPOCH_LEN);
    assert_memory_equal(u.instance, ea, sizeof ea);
    /* Held durably: across a close and reopen. */
    store_close(&fx->s);
    store_opts_t o = {.map_size = 8u << 20, .unit = 663};
    assert_int_equal(store_open(fx->dir, &o, &fx->s), 0);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_memory_equal(u.instance, ea, sizeof ea);

    /* Changes of the same epoch apply. */
    tsnap_t i1;
    snap_init(&i1, 12, false);
    snap_cell(&i1, cu, DAY, cat_t(), 6, 6);
    snap_set_epoch(&i1, ea);
    const Dk__Snapshot *ip1[] = {&i1.sn};
    assert_int_equal(store_child_apply(fx->s, child, ip1, 1, false, 1700000060, &r), 0);
    store_commit_clear(&r);
    assert_int_equal(cell_m(fx->s, cu, DAY, 0, NULL), 6);
    /* Changes of another epoch (restored child, version already past ours) are refused. */
    tsnap_t i2;
    snap_init(&i2, 20, false);
    snap_cell(&i2, cu, DAY, cat_t(), 99, 99);
    snap_set_epoch(&i2, eb);
    const Dk__Snapshot *ip2[] = {&i2.sn};
    uint64_t v = store_version(fx->s);
    assert_int_equal(store_child_apply(fx->s, child, ip2, 1, false, 1700000120, &r), DK_EINVAL);
    assert_true(store_version(fx->s) == v);
    assert_int_equal(cell_m(fx->s, cu, DAY, 0, NULL), 6);
    /* So are changes with no epoch at all while one is held. */
    i2.sn.has_epoch = 0;
    assert_int_equal(store_child_apply(fx->s, child, ip2, 1, false, 1700000120, &r), DK_EINVAL);
    /* Pages of one pull with different epochs are refused, even full. */
    tsnap_t f2;
    snap_init(&f2, 20, true);
    snap_cell(&f2, cu, DAY + 1, cat_t(), 1, 1);
    snap_set_epoch(&f2, ea);
    i2.sn.has_epoch = 1;
    i2.sn.full = 1;
    const Dk__Snapshot *mixed[] = {&i2.sn, &f2.sn};
    assert_int_equal(store_child_apply(fx->s, child, mixed, 2, true, 1700000120, &r), DK_EINVAL);
    assert_true(store_version(fx->s) == v);
    /* A full snapshot of the new epoch replaces everything and records the epoch. */
    tsnap_t f3;
    snap_init(&f3, 20, true);
    snap_cell(&f3, cu, DAY + 2, cat_t(), 2, 2);
    snap_set_epoch(&f3, eb);
    const Dk__Snapshot *fp3[] = {&f3.sn};
    assert_int_equal(store_child_apply(fx->s, child, fp3, 1, true, 1700000180, &r), 0);
    store_commit_clear(&r);
    assert_int_equal(cell_m(fx->s, cu, DAY, 0, NULL), -1);
    assert_int_equal(cell_m(fx->s, cu, DAY + 2, 0, NULL), 2);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_memory_equal(u.instance, eb, sizeof eb);
    assert_true(u.child_version == 20);
    /* A failure keeps the held epoch. */
    assert_int_equal(store_child_note_failure(fx->s, child, 1700000240, "timeout"), 0);
    assert_int_equal(store_child_get(fx->s, child, &u), 0);
    assert_memory_equal(u.instance, eb, sizeof eb);
}

/* ---- two writer threads and readers, with map growth under contention ------------------------ */
#define CW_CELLS 60
#define CW_APPLIES 30
#define CW_BATCHES 8
#define CW_BATCH 250

typedef struct {
    store_t *s;
    int rc;              /* first failure, 0 if none */
    const char *what;
    volatile int *done;  /* writers finished (readers stop) */
} cw_arg_t;

static void *cw_commit(void *p)
{
    cw_arg_t *a = p;
    static tev_t evs[CW_BATCH];
    store_item_t items[CW_BATCH];
    for (int b = 0; b < CW_BATCHES && a->rc == 0; b++) {
        for (int i = 0; i < CW_BATCH; i++) {
            mk_act(&evs[i], C1, (uint64_t)(b * CW_BATCH + i + 1), DAY + (uint32_t)(i % 28), 2, 0);
            items[i] = item(&evs[i]);
        }
        store_commit_t r;
        int rc = store_commit(a->s, items, CW_BATCH, NULL, 0, &r);
        if (rc != 0 || r.stored != CW_BATCH) {
            a->rc = rc ? rc : -999;
            a->what = "store_commit";
        }
        store_commit_clear(&r);
    }
    return NULL;
}

static void *cw_child(void *p)
{
    cw_arg_t *a = p;
    static Dk__Cell cells[CW_CELLS];
    static Dk__Cell *cptr[CW_CELLS];
    static int64_t m[CW_CELLS][2];
    uint8_t epoch[STORE_EPOCH_LEN];
    memset(epoch, 7, sizeof epoch);
    for (int n = 1; n <= CW_APPLIES && a->rc == 0; n++) {
        Dk__Snapshot sn = DK__SNAPSHOT__INIT;
        sn.has_version = sn.has_full = sn.has_epoch = 1;
        sn.version = (uint64_t)n;
        sn.full = 1;
        sn.epoch.len = sizeof epoch;
        sn.epoch.data = epoch;
        for (int i = 0; i < CW_CELLS; i++) {
            dk__cell__init(&cells[i]);
            cells[i].has_unit = cells[i].has_day = cells[i].has_category = 1;
            cells[i].unit = 24600 + (uint32_t)(i % 4);
            cells[i].day = DAY + (uint32_t)(i / 4);
            cells[i].category = cat_t();
            m[i][0] = n;
            m[i][1] = n * 10 + i;
            cells[i].m = m[i];
            cells[i].n_m = 2;
            cptr[i] = &cells[i];
        }
        sn.n_cells = CW_CELLS;
        sn.cells = cptr;
        const Dk__Snapshot *pages[] = {&sn};
        store_commit_t r;
        int rc = store_child_apply(a->s, 662, pages, 1, true, 1700000000 + n, &r);
        if (rc != 0) {
            a->rc = rc;
            a->what = "store_child_apply";
        }
        store_commit_clear(&r);
    }
    return NULL;
}

typedef struct {
    store_t *s;
    int nested;
} cw_nest_t;

static int cw_noop_cb(void *arg, const store_event_t *e)
{
    (void)arg;
    return e->seq > 0 ? 0 : DK_EINVAL;
}

/* A read callback that reads again (as the dashboard's event list does for a chain's history):
 * with a map resize waiting between the two, a non-reentrant shared lock would deadlock here. */
static int cw_nested_cb(void *arg, const store_event_t *e)
{
    cw_nest_t *n = arg;
    if (store_version(n->s) == 0) {
        return DK_ESTORE;
    }
    n->nested++;
    return store_event_get(n->s, e->commune, e->seq, cw_noop_cb, NULL) == 0 ? 0 : DK_ESTORE;
}

static void *cw_reader(void *p)
{
    cw_arg_t *a = p;
    while (!*a->done && a->rc == 0) {
        Dk__Snapshot *sn = NULL;
        int rc = store_snapshot_page(a->s, true, 0, NULL, 0, 50, &sn);
        store_snapshot_free(&sn);
        cw_nest_t n = {a->s, 0};
        if (rc == 0) {
            rc = store_events_recent(a->s, 0, 0, 5, cw_nested_cb, &n);
        }
        if (rc != 0) {
            a->rc = rc;
            a->what = "reader";
        }
    }
    return NULL;
}

static void test_concurrent_writers_map_growth(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/test_store_cw.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    store_opts_t o = {.map_size = 64 * 1024, .max_map_size = 512u << 20, .unit = 67};
    store_t *s;
    assert_int_equal(store_open(dir, &o, &s), 0);
    store_stats_t st;
    assert_int_equal(store_stats(s, &st), 0);
    uint64_t map0 = st.map_size;
    /* A deadlock must fail the test, not hang CI: SIGALRM's default action ends the process. */
    alarm(120);
    volatile int done = 0;
    cw_arg_t ca = {s, 0, NULL, &done}, cc = {s, 0, NULL, &done}, r1 = {s, 0, NULL, &done},
             r2 = {s, 0, NULL, &done};
    pthread_t tc, tk, tr1, tr2;
    assert_int_equal(pthread_create(&tr1, NULL, cw_reader, &r1), 0);
    assert_int_equal(pthread_create(&tr2, NULL, cw_reader, &r2), 0);
    assert_int_equal(pthread_create(&tc, NULL, cw_commit, &ca), 0);
    assert_int_equal(pthread_create(&tk, NULL, cw_child, &cc), 0);
    pthread_join(tc, NULL);
    pthread_join(tk, NULL);
    done = 1;
    pthread_join(tr1, NULL);
    pthread_join(tr2, NULL);
    alarm(0);
    for (cw_arg_t *a = &ca; a; a = a == &ca ? &cc : a == &cc ? &r1 : a == &r1 ? &r2 : NULL) {
        if (a->rc != 0) {
            fail_msg("%s failed: %d (%s)", a->what, a->rc, err_str(a->rc));
        }
    }
    assert_int_equal(store_stats(s, &st), 0);
    assert_true(st.map_size > map0);
    assert_true(st.events == CW_BATCHES * CW_BATCH);
    /* Local events plus the last child apply: CW_CELLS cells of CW_APPLIES events each. */
    assert_true(st.tallied == CW_BATCHES * CW_BATCH + CW_CELLS * CW_APPLIES);
    assert_int_equal(store_verify(s, NULL), 0);
    store_unit_t u;
    assert_int_equal(store_child_get(s, 662, &u), 0);
    assert_true(u.child_version == CW_APPLIES);
    assert_int_equal(cell_m(s, 24600, DAY, 1, NULL), CW_APPLIES * 10);
    store_close(&s);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_and_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reimported_correction_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reimported_void_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reimported_rows_high_water, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_seq_not_decided, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_high_water, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejection_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrections_and_voids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_correction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_detects_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_and_update, setup, teardown),
        cmocka_unit_test(test_map_full_growth),
        cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_backup_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_epoch, setup, teardown),
        cmocka_unit_test(test_concurrent_writers_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
