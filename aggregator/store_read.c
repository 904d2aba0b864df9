/* store_read — the reading side of the store: protobuf builders, live updates, snapshot pages,
 * dashboard queries and stats. Every function here uses one short read txn (verify is in
 * store_verify.c, backup in store_backup.c). Contract in store.h. */
#define LOG_TAG "store"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "xmalloc.h"

/* ---- protobuf builders ------------------------------------------------------------------ */
void store_pb_cell_fill(const tally_cell_t *cell, Dk__Cell *out)
{
    dk__cell__init(out);
    out->has_unit = out->has_day = out->has_category = out->has_version = 1;
    out->unit = cell->unit;
    out->day = cell->day;
    out->category = cell->category;
    out->version = cell->version;
    out->n_m = tally_used(cell);
    out->m = out->n_m ? xmalloc(out->n_m * sizeof *out->m) : NULL;
    for (size_t i = 0; i < out->n_m; i++) {
        out->m[i] = cell->m[i];
    }
}

void store_pb_cell_clear(Dk__Cell *cell)
{
    if (cell) {
        free(cell->m);
        cell->m = NULL;
        cell->n_m = 0;
    }
}

void store_pb_unit_fill(const store_unit_t *u, Dk__UnitState *out)
{
    dk__unit_state__init(out);
    out->has_unit = 1;
    out->unit = u->unit;
    out->has_version = 1;
    out->version = u->version;
#define SET(f, v)                                                                                  \
    do {                                                                                           \
        if (v) {                                                                                   \
            out->has_##f = 1;                                                                      \
            out->f = v;                                                                            \
        }                                                                                          \
    } while (0)
    SET(high_water, u->high_water);
    SET(max_seq, u->max_seq);
    SET(last_contact, u->last_contact);
    SET(backlog, u->backlog);
    SET(oldest_waiting, u->oldest_waiting);
    SET(last_pull, u->last_pull);
    SET(child_version, u->child_version);
    SET(failed_pulls, u->failed_pulls);
#undef SET
    out->has_events = out->has_rejected = 1;
    out->events = u->events;
    out->rejected = u->rejected;
    if (u->instance_len) {
        out->has_instance = 1;
        out->instance.len = u->instance_len;
        out->instance.data = xmalloc(u->instance_len);
        memcpy(out->instance.data, u->instance, u->instance_len);
    }
    if (u->last_error[0]) {
        out->last_error = xstrdup(u->last_error);
    }
}

void store_pb_unit_clear(Dk__UnitState *u)
{
    if (u) {
        free(u->instance.data);
        u->instance.data = NULL;
        u->has_instance = 0;
        if (u->last_error != NULL && u->last_error != protobuf_c_empty_string) {
            free(u->last_error);
        }
        u->last_error = NULL;
    }
}

/* Growable arrays of cells/units for a message: structs in one block, pointers in another. */
typedef struct {
    Dk__Cell *cells;
    Dk__Cell **cptr;
    size_t nc, capc;
    Dk__UnitState *units;
    Dk__UnitState **uptr;
    size_t nu, capu;
} pbbuf_t;

static void pb_add_cell(pbbuf_t *b, const tally_cell_t *c)
{
    if (b->nc == b->capc) {
        b->capc = b->capc ? b->capc * 2 : 64;
        b->cells = xrealloc(b->cells, b->capc * sizeof *b->cells);
    }
    store_pb_cell_fill(c, &b->cells[b->nc++]);
}

static void pb_add_unit(pbbuf_t *b, const store_unit_t *u)
{
    if (b->nu == b->capu) {
        b->capu = b->capu ? b->capu * 2 : 16;
        b->units = xrealloc(b->units, b->capu * sizeof *b->units);
    }
    store_pb_unit_fill(u, &b->units[b->nu++]);
}

/* Makes the pointer arrays (after the struct arrays stopped moving). */
static void pb_finish(pbbuf_t *b)
{
    b->cptr = b->nc ? xmalloc(b->nc * sizeof *b->cptr) : NULL;
    for (size_t i = 0; i < b->nc; i++) {
        b->cptr[i] = &b->cells[i];
    }
    b->uptr = b->nu ? xmalloc(b->nu * sizeof *b->uptr) : NULL;
    for (size_t i = 0; i < b->nu; i++) {
        b->uptr[i] = &b->units[i];
    }
}

/* Frees cells/units reached through the pointer arrays: the first pointer is the block. */
static void pb_free_arrays(Dk__Cell **cptr, size_t nc, Dk__UnitState **uptr, size_t nu)
{
    for (size_t i = 0; i < nc; i++) {
        store_pb_cell_clear(cptr[i]);
    }
    for (size_t i = 0; i < nu; i++) {
        store_pb_unit_clear(uptr[i]);
    }
    if (nc) {
        free(cptr[0]);
    }
    if (nu) {
        free(uptr[0]);
    }
    free(cptr);
    free(uptr);
}

int store_update_build(const store_commit_t *r, Dk__Update **out)
{
    Dk__Update *up = xmalloc(sizeof *up);
    dk__update__init(up);
    up->has_version = up->has_prev_version = 1;
    up->version = r->version;
    up->prev_version = r->prev_version;
    up->has_epoch = 1;
    up->epoch.len = STORE_EPOCH_LEN;
    up->epoch.data = xmalloc(STORE_EPOCH_LEN);
    memcpy(up->epoch.data, r->epoch, STORE_EPOCH_LEN);
    pbbuf_t b = {0};
    for (size_t i = 0; i < r->ncells; i++) {
        pb_add_cell(&b, &r->cells[i]);
    }
    for (size_t i = 0; i < r->nunits; i++) {
        pb_add_unit(&b, &r->units[i]);
    }
    pb_finish(&b);
    up->n_cells = b.nc;
    up->cells = b.cptr;
    up->n_units = b.nu;
    up->units = b.uptr;
    if (!b.nc) {
        free(b.cells);
    }
    if (!b.nu) {
        free(b.units);
    }
    *out = up;
    return 0;
}

void store_update_free(Dk__Update **update_p)
{
    if (!update_p || !*update_p) {
        return;
    }
    Dk__Update *up = *update_p;
    pb_free_arrays(up->cells, up->n_cells, up->units, up->n_units);
    free(up->epoch.data);
    free(up);
    *update_p = NULL;
}

void store_snapshot_free(Dk__Snapshot **snap_p)
{
    if (!snap_p || !*snap_p) {
        return;
    }
    Dk__Snapshot *sn = *snap_p;
    pb_free_arrays(sn->cells, sn->n_cells, sn->units, sn->n_units);
    free(sn->next.data);
    free(sn->epoch.data);
    free(sn);
    *snap_p = NULL;
}

/* ---- small read helpers ------------------------------------------------------------------- */
static int cell_get(MDB_txn *txn, store_t *s, const uint8_t key[TALLY_KEY_LEN], tally_cell_t *c)
{
    MDB_val k = {TALLY_KEY_LEN, (void *)key}, v;
    int rc = mdb_get(txn, s->dbi[DBI_CELLS], &k, &v);
    if (rc != 0) {
        return rc;
    }
    memset(c, 0, sizeof *c);
    tally_key_decode(key, TALLY_KEY_LEN, &c->unit, &c->day, &c->category);
    return tally_val_decode(v.mv_data, v.mv_size, c) ? DK_ESTORE : 0;
}

static int unit_get(MDB_txn *txn, store_t *s, int dbi, uint32_t unit, store_unit_t *u)
{
    uint8_t key[4];
    st_put_u32(key, unit);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(txn, s->dbi[dbi], &k, &v);
    if (rc != 0) {
        return rc;
    }
    return st_unit_decode(v.mv_data, v.mv_size, unit, u) ? DK_ESTORE : 0;
}

/* Calls cb for every record of the units or children DBI. */
static int units_walk(MDB_txn *txn, store_t *s, int dbi, store_unit_cb *cb, void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[dbi], &cur);
    if (rc != 0) {
        return rc;
    }
    MDB_val k, v;
    int ret = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        store_unit_t u;
        if (k.mv_size != 4 || st_unit_decode(v.mv_data, v.mv_size, st_get_u32(k.mv_data), &u)) {
            ret = DK_ESTORE;
            break;
        }
        ret = cb(arg, &u);
    }
    mdb_cursor_close(cur);
    if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        ret = rc;
    }
    return ret;
}

static int rc_out(int rc)
{
    return rc == 0 ? 0 : st_map_rc(rc);
}

int store_unit_get(store_t *self, uint32_t unit, store_unit_t *out)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = unit_get(txn, self, DBI_UNITS, unit, out);
    st_rd_end(self, txn);
    return rc_out(rc);
}

int store_units_foreach(store_t *self, store_unit_cb *cb, void *arg)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = units_walk(txn, self, DBI_UNITS, cb, arg);
    st_rd_end(self, txn);
    return rc > 0 || rc <= MDB_KEYEXIST ? st_map_rc(rc) : rc;
}

int store_child_get(store_t *self, uint32_t child_unit, store_unit_t *out)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = unit_get(txn, self, DBI_CHILDREN, child_unit, out);
    st_rd_end(self, txn);
    return rc_out(rc);
}

int store_child_foreach(store_t *self, store_unit_cb *cb, void *arg)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = units_walk(txn, self, DBI_CHILDREN, cb, arg);
    st_rd_end(self, txn);
    return rc > 0 || rc <= MDB_KEYEXIST ? st_map_rc(rc) : rc;
}

/* ---- snapshots ------------------------------------------------------------------------------ */
typedef struct {
    pbbuf_t *b;
} addunit_ctx_t;

static int add_unit_cb(void *arg, const store_unit_t *u)
{
    pb_add_unit(((addunit_ctx_t *)arg)->b, u);
    return 0;
}

/* Full snapshot cells after the cursor key, skipping zero cells. */
static int snap_full(MDB_txn *txn, store_t *s, const uint8_t *after, size_t max, pbbuf_t *b,
                     uint8_t *next, size_t *next_len)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_CELLS], &cur);
    if (rc != 0) {
        return rc;
    }
    MDB_val k, v;
    if (after) {
        k.mv_size = TALLY_KEY_LEN;
        k.mv_data = (void *)after;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == TALLY_KEY_LEN && memcmp(k.mv_data, after, TALLY_KEY_LEN) == 0) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    uint8_t last[TALLY_KEY_LEN] = {0};
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tally_cell_t c;
        if (tally_cell_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &c)) {
            rc = DK_ESTORE;
            break;
        }
        if (tally_is_zero(&c)) {
            continue;
        }
        if (b->nc == max) {
            /* More remains: the next page starts after the last cell given. */
            next[0] = 'F';
            memcpy(next + 1, last, TALLY_KEY_LEN);
            *next_len = 1 + TALLY_KEY_LEN;
            rc = MDB_NOTFOUND;
            break;
        }
        pb_add_cell(b, &c);
        memcpy(last, k.mv_data, TALLY_KEY_LEN);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Cells, units and child records changed after since, in version order. */
static int snap_changes(MDB_txn *txn, store_t *s, uint64_t since, const uint8_t *after, size_t max,
                        pbbuf_t *b, uint8_t *next, size_t *next_len)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_CHANGES], &cur);
    if (rc != 0) {
        return rc;
    }
    uint8_t start[25] = {0};
    if (after) {
        memcpy(start, after, 25);
    } else {
        st_put_u64(start, since + 1);
    }
    MDB_val k = {25, start}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (after && rc == 0 && k.mv_size == 25 && memcmp(k.mv_data, after, 25) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    uint8_t last[25] = {0};
    size_t given = 0;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 25) {
            rc = DK_ESTORE;
            break;
        }
        if (given == max) {
            next[0] = 'C';
            memcpy(next + 1, last, 25);
            *next_len = 26;
            rc = MDB_NOTFOUND;
            break;
        }
        const uint8_t *p = k.mv_data;
        if (p[8] == 1) {
            tally_cell_t c;
            if ((rc = cell_get(txn, s, p + 9, &c)) != 0) {
                break;
            }
            pb_add_cell(b, &c);
        } else {
            store_unit_t u;
            if ((rc = unit_get(txn, s, p[8] == 2 ? DBI_UNITS : DBI_CHILDREN, st_get_u32(p + 9),
                               &u)) != 0) {
                break;
            }
            pb_add_unit(b, &u);
        }
        given++;
        memcpy(last, p, 25);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_snapshot_page(store_t *self, bool full, uint64_t since_version, const uint8_t *cursor,
                        size_t cursor_len, size_t max_cells, Dk__Snapshot **out)
{
    *out = NULL;
    if (cursor && cursor_len) {
        bool ok = full ? (cursor_len == 1 + TALLY_KEY_LEN && cursor[0] == 'F')
                       : (cursor_len == 26 && cursor[0] == 'C');
        if (!ok) {
            log_warn("snapshot: bad cursor (%zu bytes)", cursor_len);
            return DK_EINVAL;
        }
    } else {
        cursor = NULL;
    }
    if (max_cells == 0) {
        max_cells = 1000;
    }
    if (max_cells > STORE_SNAPSHOT_MAX_CELLS) {
        max_cells = STORE_SNAPSHOT_MAX_CELLS;
    }
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    Dk__Snapshot *sn = xmalloc(sizeof *sn);
    dk__snapshot__init(sn);
    sn->has_version = sn->has_full = sn->has_events = sn->has_unit = 1;
    sn->version = st_meta_get(txn, self, "version");
    sn->events = st_meta_get(txn, self, "tallied");
    sn->full = full;
    sn->unit = self->unit;
    if (self->has_epoch) {
        sn->has_epoch = 1;
        sn->epoch.len = STORE_EPOCH_LEN;
        sn->epoch.data = xmalloc(STORE_EPOCH_LEN);
        memcpy(sn->epoch.data, self->epoch, STORE_EPOCH_LEN);
    }
    uint64_t horizon = st_meta_get(txn, self, "horizon");
    pbbuf_t b = {0};
    uint8_t next[32];
    size_t next_len = 0;
    if (!full && (since_version > sn->version || since_version < horizon)) {
        sn->has_resync = 1;
        sn->resync = 1;
    } else if (full) {
        if (!cursor) {
            addunit_ctx_t ac = {&b};
            rc = units_walk(txn, self, DBI_UNITS, add_unit_cb, &ac);
            if (rc == 0) {
                rc = units_walk(txn, self, DBI_CHILDREN, add_unit_cb, &ac);
            }
        }
        if (rc == 0) {
            rc = snap_full(txn, self, cursor ? cursor + 1 : NULL, max_cells, &b, next, &next_len);
        }
    } else {
        rc = snap_changes(txn, self, since_version, cursor ? cursor + 1 : NULL, max_cells, &b,
                          next, &next_len);
    }
    st_rd_end(self, txn);
    pb_finish(&b);
    sn->n_cells = b.nc;
    sn->cells = b.cptr;
    sn->n_units = b.nu;
    sn->units = b.uptr;
    if (!b.nc) {
        free(b.cells);
    }
    if (!b.nu) {
        free(b.units);
    }
    if (next_len) {
        sn->has_next = 1;
        sn->next.len = next_len;
        sn->next.data = xmalloc(next_len);
        memcpy(sn->next.data, next, next_len);
    }
    if (rc != 0) {
        log_error("snapshot dir=%s: %s", self->dir, rc > 0 || rc <= MDB_KEYEXIST ? mdb_strerror(rc)
                                                                               : err_str(rc));
        store_snapshot_free(&sn);
        return st_map_rc(rc);
    }
    *out = sn;
    return 0;
}

/* ---- dashboard queries ------------------------------------------------------------------- */
int store_cells_foreach(store_t *self, uint32_t unit, uint32_t day_from, uint32_t day_to,
                        store_cell_cb *cb, void *arg)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, self->dbi[DBI_CELLS], &cur)) != 0) {
        st_rd_end(self, txn);
        return st_map_rc(rc);
    }
    uint8_t start[TALLY_KEY_LEN];
    tally_key_encode(start, unit, unit ? day_from : 0, 0);
    MDB_val k = {sizeof start, start}, v;
    int ret = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && ret == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tally_cell_t c;
        if (tally_cell_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &c)) {
            ret = DK_ESTORE;
            break;
        }
        if (unit && (c.unit != unit || c.day > day_to)) {
            break;
        }
        if (c.day < day_from || c.day > day_to || tally_is_zero(&c)) {
            continue;
        }
        ret = cb(arg, &c);
    }
    mdb_cursor_close(cur);
    st_rd_end(self, txn);
    if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        ret = st_map_rc(rc);
    }
    return ret;
}

/* Fills e from a stored event value and calls cb. */
static int event_emit(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq, uint64_t arrival,
                      const MDB_val *v, store_event_cb *cb, void *arg)
{
    st_evrec_t rec;
    if (st_event_parse(v->mv_data, v->mv_size, true, &rec) != 0) {
        log_error("event commune=%u seq=%llu: undecodable", commune, (unsigned long long)seq);
        st_evrec_clear(&rec);
        return DK_ESTORE;
    }
    store_event_t e = {0};
    e.commune = commune;
    e.seq = seq;
    e.arrival = arrival;
    e.version = rec.version;
    e.received_at = rec.recv_at;
    e.ev = rec.ev;
    e.root = rec.root;
    uint64_t head, voided;
    int rc = st_head_get(txn, s, commune, rec.root ? rec.root : seq, &head, &voided);
    if (rc != 0) {
        st_evrec_clear(&rec);
        return st_map_rc(rc);
    }
    e.head = head;
    e.voided_by = voided;
    e.effective = !(rec.flags & 1) && !voided && head == seq;
    rc = cb(arg, &e);
    st_evrec_clear(&rec);
    return rc;
}

int store_event_get(store_t *self, uint32_t commune, uint64_t seq, store_event_cb *cb, void *arg)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    uint8_t key[12];
    st_seq_key(key, commune, seq);
    MDB_val k = {12, key}, v;
    rc = mdb_get(txn, self->dbi[DBI_EVENTS], &k, &v);
    if (rc == 0) {
        rc = event_emit(txn, self, commune, seq, 0, &v, cb, arg);
    } else {
        rc = st_map_rc(rc);
    }
    st_rd_end(self, txn);
    return rc;
}

int store_events_recent(store_t *self, uint32_t commune, uint64_t before, size_t limit,
                        store_event_cb *cb, void *arg)
{
    if (limit == 0) {
        limit = 100;
    }
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    MDB_cursor *cur;
    int dbi = commune ? DBI_EVENTS : DBI_EVLOG;
    if ((rc = mdb_cursor_open(txn, self->dbi[dbi], &cur)) != 0) {
        st_rd_end(self, txn);
        return st_map_rc(rc);
    }
    uint8_t start[12];
    MDB_val k, v;
    if (commune) {
        st_seq_key(start, commune, before ? before : UINT64_MAX);
        k.mv_size = 12;
    } else {
        st_put_u64(start, before ? before : UINT64_MAX);
        k.mv_size = 8;
    }
    k.mv_data = start;
    /* Position on the first key >= start, then step back to the first key < start. */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    int ret = 0;
    size_t given = 0;
    for (; rc == 0 && ret == 0 && given < limit; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        uint32_t c;
        uint64_t seq;
        MDB_val ev;
        if (commune) {
            if (k.mv_size != 12 || st_get_u32(k.mv_data) != commune) {
                break;
            }
            c = commune;
            seq = st_get_u64((uint8_t *)k.mv_data + 4);
            ev = v;
        } else {
            if (v.mv_size != 12) {
                ret = DK_ESTORE;
                break;
            }
            c = st_get_u32(v.mv_data);
            seq = st_get_u64((uint8_t *)v.mv_data + 4);
            MDB_val ek = {12, v.mv_data};
            if ((rc = mdb_get(txn, self->dbi[DBI_EVENTS], &ek, &ev)) != 0) {
                ret = DK_ESTORE;
                break;
            }
        }
        ret = event_emit(txn, self, c, seq, commune ? 0 : st_get_u64(k.mv_data), &ev, cb, arg);
        given++;
    }
    mdb_cursor_close(cur);
    st_rd_end(self, txn);
    return ret;
}

int store_stats(store_t *self, store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    out->version = st_meta_get(txn, self, "version");
    out->events = st_meta_get(txn, self, "events");
    out->rejected = st_meta_get(txn, self, "rejected");
    out->tallied = st_meta_get(txn, self, "tallied");
    static const char *const names[STORE_NDBI] = {
        "meta", "events", "evlog", "decided", "origins", "heads",
        "cells", "owned", "units", "children", "changes", "spare",
    };
    for (int i = 0; i < STORE_NDBI; i++) {
        MDB_stat st;
        out->dbi[i].name = names[i];
        if (mdb_stat(txn, self->dbi[i], &st) == 0) {
            out->dbi[i].entries = st.ms_entries;
        }
    }
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &est);
    out->map_size = info.me_mapsize;
    out->max_map_size = self->max_map;
    out->used_size = (uint64_t)(info.me_last_pgno + 1) * est.ms_psize;
    out->readers_used = info.me_numreaders;
    out->max_readers = info.me_maxreaders;
    st_rd_end(self, txn);
    return 0;
}
