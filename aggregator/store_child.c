/* store_child — the cells, unit states and freshness records of child aggregators at a parent
 * (province over districts): one pull applied in one write txn with absolute values, and the
 * child's epoch held with its version. Contract in store.h; the write context is in store.c. */
#define LOG_TAG "store"
#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "category.h"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "xmalloc.h"

/* ---- child aggregators --------------------------------------------------------------------- */
/* A page's epoch, or NULL when it carries none (a child built before epochs). */
static const ProtobufCBinaryData *page_epoch(const Dk__Snapshot *pg)
{
    return pg->has_epoch && pg->epoch.len > 0 ? &pg->epoch : NULL;
}

typedef struct {
    char s[2 * STORE_EPOCH_LEN + 1];
} epoch_str_t;

/* Hex of an epoch for a log line ("-" when there is none). */
static epoch_str_t epoch_str(const uint8_t *e, size_t len)
{
    epoch_str_t out = {"-"};
    if (len > STORE_EPOCH_LEN) {
        len = STORE_EPOCH_LEN;
    }
    if (len > 0) {
        sodium_bin2hex(out.s, sizeof out.s, e, len);
    }
    return out;
}
static int child_set_cell(st_wctx_t *w, uint32_t child, const Dk__Cell *pc, tally_set_t *seen)
{
    if (!pc->has_unit || !pc->has_day || !pc->has_category || pc->n_m > TALLY_MAX_MEASURES) {
        log_error("child=%u: a cell without unit/day/category or with %zu measures", child,
                  pc->n_m);
        return DK_EINVAL;
    }
    store_unit_t *u;
    int rc = st_w_unit(w, pc->unit, false, true, child, &u);
    if (rc != 0) {
        return rc;
    }
    if (u->owner != child) {
        log_error("child=%u: unit=%u belongs to %s %u; apply refused", child, pc->unit,
                  u->owner ? "child" : "local events, not to a child", u->owner);
        return DK_EAUTH;
    }
    tally_cell_t *c;
    if ((rc = st_w_cell(w, pc->unit, pc->day, pc->category, &c)) != 0) {
        return rc;
    }
    int64_t old_ev = c->m[DK__MEASURE__M_EVENTS];
    memset(c->m, 0, sizeof c->m);
    for (size_t i = 0; i < pc->n_m; i++) {
        c->m[i] = pc->m[i];
    }
    c->owner = child;
    w->tallied = (uint64_t)((int64_t)w->tallied - old_ev + c->m[DK__MEASURE__M_EVENTS]);
    if (seen) {
        tally_set_put(seen, pc->unit, pc->day, pc->category, NULL);
    }
    return 0;
}

static int child_set_unit(st_wctx_t *w, uint32_t child, const Dk__UnitState *pu)
{
    if (!pu->has_unit) {
        return DK_EINVAL;
    }
    store_unit_t *u;
    int rc = st_w_unit(w, pu->unit, false, true, child, &u);
    if (rc != 0) {
        return rc;
    }
    if (u->owner != child) {
        log_error("child=%u: unit state of unit=%u that belongs to %u; apply refused", child,
                  pu->unit, u->owner);
        return DK_EAUTH;
    }
    uint64_t version = u->version;
    memset(u, 0, sizeof *u);
    u->unit = pu->unit;
    u->owner = child;
    u->version = version;
    u->high_water = pu->high_water;
    u->max_seq = pu->max_seq;
    u->last_contact = pu->last_contact;
    u->backlog = pu->backlog;
    u->oldest_waiting = pu->oldest_waiting;
    u->events = pu->events;
    u->rejected = pu->rejected;
    if (pu->has_instance) {
        u->instance_len = pu->instance.len > 16 ? 16 : pu->instance.len;
        memcpy(u->instance, pu->instance.data, u->instance_len);
    }
    u->last_pull = pu->last_pull;
    u->child_version = pu->child_version;
    u->failed_pulls = pu->failed_pulls;
    if (pu->last_error) {
        snprintf(u->last_error, sizeof u->last_error, "%s", pu->last_error);
    }
    /* A state with no freshness of its own is the child's local unit: its figures are as fresh as
     * this store's pulls of the child (child_refresh_units writes them). Otherwise the child passes
     * on a freshness it received from further down (a nation over provinces): keep it as given. */
    u->records = (pu->last_pull == 0 && pu->failed_pulls == 0 &&
                  (!pu->last_error || !pu->last_error[0]))
                     ? STORE_FRESH_OWN
                     : 0;
    return 0;
}

/* Codes of every unit state owned by child: those in the txn's cache and those stored. */
static int child_unit_codes(st_wctx_t *w, uint32_t child, uint32_t **codes, size_t *n)
{
    size_t cap = 0;
    *codes = NULL;
    *n = 0;
    for (size_t i = 0; i < w->nunits; i++) {
        if (!w->units[i].child_rec && w->units[i].cur.owner == child) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *codes = xrealloc(*codes, cap * sizeof **codes);
            }
            (*codes)[(*n)++] = w->units[i].cur.unit;
        }
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(w->txn, w->s->dbi[DBI_UNITS], &cur);
    if (rc != 0) {
        return rc;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        store_unit_t u;
        if (k.mv_size != 4 || st_unit_decode(v.mv_data, v.mv_size, st_get_u32(k.mv_data), &u)) {
            continue; /* st_w_unit reports an undecodable state when it is touched */
        }
        if (u.owner != child) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *codes = xrealloc(*codes, cap * sizeof **codes);
        }
        (*codes)[(*n)++] = u.unit;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Passes this store's view of child's freshness on to every unit whose figures are local at the
 * child (store_unit_is_fresh_own): after a success (ok) last_pull = rec's, child_version = rec's,
 * failed_pulls = 0, last_error = ""; after a failure failed_pulls and last_error of rec (last_pull
 * stays: the figures are still those of the last success). So this store's snapshots carry, for
 * each unit, when its figures were last current at their source, and a parent of this store can
 * tell old figures from current ones two levels down. Units passing on a freshness from further
 * down keep theirs (it ages by itself while the link below is broken). */
static int child_refresh_units(st_wctx_t *w, uint32_t child, const store_unit_t *rec, bool ok)
{
    uint32_t *codes;
    size_t n;
    int rc = child_unit_codes(w, child, &codes, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        store_unit_t *u;
        if ((rc = st_w_unit(w, codes[i], false, false, 0, &u)) != 0) {
            break;
        }
        if (u->owner != child || !store_unit_is_fresh_own(u)) {
            continue;
        }
        u->records = STORE_FRESH_OWN;
        if (ok) {
            u->last_pull = rec->last_pull;
            u->child_version = rec->child_version;
        }
        u->failed_pulls = rec->failed_pulls;
        snprintf(u->last_error, sizeof u->last_error, "%s", rec->last_error);
    }
    free(codes);
    return rc;
}

bool store_unit_is_fresh_own(const store_unit_t *u)
{
    return u->owner != 0 && (u->records == STORE_FRESH_OWN ||
                             (u->last_pull == 0 && u->failed_pulls == 0 && !u->last_error[0]));
}

/* Full snapshot: every cell the child owns that the pages did not mention becomes zero. */
static int child_zero_missing(st_wctx_t *w, uint32_t child, tally_set_t *seen)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(w->txn, w->s->dbi[DBI_OWNED], &cur);
    if (rc != 0) {
        return rc;
    }
    uint8_t start[4];
    st_put_u32(start, child);
    MDB_val k = {4, start}, v;
    /* Collect first: st_w_cell reads the cells DBI, not this one, but keep the cursor walk clean. */
    size_t n = 0, cap = 0;
    uint8_t(*keys)[TALLY_KEY_LEN] = NULL;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 4 + TALLY_KEY_LEN || st_get_u32(k.mv_data) != child) {
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            keys = xrealloc(keys, cap * sizeof *keys);
        }
        memcpy(keys[n++], (uint8_t *)k.mv_data + 4, TALLY_KEY_LEN);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(keys);
        return rc;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint32_t unit, day;
        uint64_t cat;
        tally_key_decode(keys[i], TALLY_KEY_LEN, &unit, &day, &cat);
        if (tally_set_get(seen, unit, day, cat)) {
            continue;
        }
        tally_cell_t *c;
        if ((rc = st_w_cell(w, unit, day, cat, &c)) == 0 && c->owner == child) {
            w->tallied = (uint64_t)((int64_t)w->tallied - c->m[DK__MEASURE__M_EVENTS]);
            memset(c->m, 0, sizeof c->m);
        }
    }
    free(keys);
    return rc;
}

static int child_apply_once(store_t *s, uint32_t child, const Dk__Snapshot *const *pages,
                            size_t npages, bool full, int64_t now, store_commit_t *res,
                            uint64_t *seen_map)
{
    st_wctx_t w;
    int rc = st_w_begin(s, &w);
    if (rc != 0) {
        return rc;
    }
    tally_set_t *seen = full ? tally_set_new() : NULL;
    uint64_t child_version = 0;
    for (size_t p = 0; p < npages && rc == 0; p++) {
        const Dk__Snapshot *pg = pages[p];
        if (pg->version > child_version) {
            child_version = pg->version;
        }
        for (size_t i = 0; i < pg->n_cells && rc == 0; i++) {
            rc = child_set_cell(&w, child, pg->cells[i], seen);
        }
        for (size_t i = 0; i < pg->n_units && rc == 0; i++) {
            rc = child_set_unit(&w, child, pg->units[i]);
        }
    }
    if (rc == 0 && full) {
        rc = child_zero_missing(&w, child, seen);
    }
    store_unit_t *rec = NULL;
    if (rc == 0 && (rc = st_w_unit(&w, child, true, true, 0, &rec)) == 0) {
        /* The epoch names the child's history: changes since a version of another epoch
         * would be applied on top of figures they do not continue (store.h, "Epoch"). */
        const ProtobufCBinaryData *e = npages ? page_epoch(pages[0]) : NULL;
        size_t elen = e ? e->len : 0;
        bool same = rec->instance_len == elen &&
                    (elen == 0 || memcmp(rec->instance, e->data, elen) == 0);
        if (!full && !same) {
            log_error("child=%u: incremental pages of epoch %s, but the store holds the child's "
                      "epoch %s: nothing applied, a full resync is needed",
                      child, epoch_str(e ? e->data : NULL, elen).s,
                      epoch_str(rec->instance, rec->instance_len).s);
            rc = DK_EINVAL;
        } else {
            memset(rec->instance, 0, sizeof rec->instance);
            if (elen) {
                memcpy(rec->instance, e->data, elen);
            }
            rec->instance_len = elen;
        }
    }
    if (rc == 0) {
        rec->child_version = child_version;
        rec->last_pull = now;
        rec->failed_pulls = 0;
        rec->last_error[0] = '\0';
        store_unit_t r = *rec; /* st_w_unit may move the cache */
        rc = child_refresh_units(&w, child, &r, true);
    }
    tally_set_destroy(&seen);
    if (rc == 0) {
        w.meta_dirty = true;
        rc = st_w_end(&w, res, true);
    }
    *seen_map = w.map_size;
    st_w_free(&w); /* aborts the txn when it is still alive */
    return rc;
}

int store_child_apply(store_t *self, uint32_t child_unit, const Dk__Snapshot *const *pages,
                      size_t npages, bool full, int64_t now, store_commit_t *result)
{
    memset(result, 0, sizeof *result);
    if (self->ro || child_unit == 0) {
        return DK_EINVAL;
    }
    for (size_t p = 0; p < npages; p++) {
        if (!pages[p] || (pages[p]->has_resync && pages[p]->resync)) {
            log_error("child=%u: page %zu is a resync answer; nothing applied", child_unit, p);
            return DK_EINVAL;
        }
    }
    const ProtobufCBinaryData *e0 = npages ? page_epoch(pages[0]) : NULL;
    if (e0 && e0->len > STORE_EPOCH_LEN) {
        log_error("child=%u: an epoch of %zu bytes (%d expected); nothing applied", child_unit,
                  e0->len, STORE_EPOCH_LEN);
        return DK_EINVAL;
    }
    for (size_t p = 1; p < npages; p++) {
        const ProtobufCBinaryData *e = page_epoch(pages[p]);
        if ((e ? e->len : 0) != (e0 ? e0->len : 0) || (e && memcmp(e->data, e0->data, e->len))) {
            log_error("child=%u: page %zu has another epoch than page 0 (the child was restored "
                      "during the pull); nothing applied",
                      child_unit, p);
            return DK_EINVAL;
        }
    }
    int rc;
    for (;;) {
        uint64_t seen_map = 0;
        rc = child_apply_once(self, child_unit, pages, npages, full, now, result, &seen_map);
        if (rc != MDB_MAP_FULL) {
            break;
        }
        st_results_free(result);
        if ((rc = st_grow_map(self, seen_map)) != 0) {
            break;
        }
    }
    if (rc != 0) {
        st_results_free(result);
        return st_map_rc(rc);
    }
    log_info("child=%u applied pages=%zu full=%d cells=%zu units=%zu version=%llu", child_unit,
             npages, full, result->ncells, result->nunits, (unsigned long long)result->version);
    return 0;
}

int store_child_note_failure(store_t *self, uint32_t child_unit, int64_t now, const char *error)
{
    if (self->ro || child_unit == 0) {
        return DK_EINVAL;
    }
    int rc;
    store_commit_t res;
    for (;;) {
        memset(&res, 0, sizeof res);
        st_wctx_t w;
        if ((rc = st_w_begin(self, &w)) != 0) {
            break;
        }
        store_unit_t *rec;
        if ((rc = st_w_unit(&w, child_unit, true, true, 0, &rec)) == 0) {
            rec->failed_pulls++;
            rec->last_attempt = now;
            snprintf(rec->last_error, sizeof rec->last_error, "%s", error ? error : "");
            store_unit_t r = *rec; /* st_w_unit may move the cache */
            if ((rc = child_refresh_units(&w, child_unit, &r, false)) == 0) {
                rc = st_w_end(&w, &res, true);
            }
        }
        uint64_t seen_map = w.map_size;
        st_w_free(&w); /* aborts the txn when it is still alive */
        st_results_free(&res);
        if (rc != MDB_MAP_FULL || (rc = st_grow_map(self, seen_map)) != 0) {
            break;
        }
    }
    return st_map_rc(rc);
}
