/* store_read — the reading side of the store: protobuf builders, live updates, snapshot pages,
 * dashboard queries, stats, verify and backup. Every function here uses one short read txn.
 * Contract in store.h. */
#define LOG_TAG "store"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        memset(&c, 0, sizeof c);
        if (tally_key_decode(k.mv_data, k.mv_size, &c.unit, &c.day, &c.category) ||
            tally_val_decode(v.mv_data, v.mv_size, &c)) {
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
        memset(&c, 0, sizeof c);
        if (tally_key_decode(k.mv_data, k.mv_size, &c.unit, &c.day, &c.category) ||
            tally_val_decode(v.mv_data, v.mv_size, &c)) {
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

/* ---- verify ------------------------------------------------------------------------------ */
/* A chain during the recount: its best (highest seq, non-void) member's contribution. */
typedef struct {
    uint64_t root;
    bool voided, has;
    uint32_t day;
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
} vchain_t;

typedef struct {
    uint64_t seq;
    size_t chain; /* index into chains */
} vseq_t;

typedef struct {
    vchain_t *chains;
    size_t nch, capch;
    vseq_t *seqs; /* ascending by seq (events are walked in key order) */
    size_t nseq, capseq;
} vcommune_t;

static vseq_t *vseq_find(vcommune_t *vc, uint64_t seq)
{
    size_t lo = 0, hi = vc->nseq;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (vc->seqs[mid].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < vc->nseq && vc->seqs[lo].seq == seq ? &vc->seqs[lo] : NULL;
}

static void vseq_add(vcommune_t *vc, uint64_t seq, size_t chain)
{
    if (vc->nseq == vc->capseq) {
        vc->capseq = vc->capseq ? vc->capseq * 2 : 256;
        vc->seqs = xrealloc(vc->seqs, vc->capseq * sizeof *vc->seqs);
    }
    vc->seqs[vc->nseq].seq = seq;
    vc->seqs[vc->nseq++].chain = chain;
}

/* Adds the commune's effective chains to the recount and resets vc. */
static int vcommune_flush(uint32_t commune, vcommune_t *vc, tally_set_t *recount)
{
    for (size_t i = 0; i < vc->nch; i++) {
        vchain_t *ch = &vc->chains[i];
        if (ch->voided || !ch->has) {
            continue;
        }
        tally_cell_t *c = tally_set_put(recount, commune, ch->day, ch->cat, NULL);
        if (tally_add(c, ch->m, CATEGORY_MEASURES, +1) != 0) {
            return DK_EMISMATCH;
        }
    }
    vc->nch = vc->nseq = 0;
    return 0;
}

/* Resolves an origin-key alias (a consumed seq) to the stored seq it duplicated. */
static uint64_t alias_of(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq)
{
    uint8_t key[12];
    st_seq_key(key, commune, seq);
    MDB_val k = {12, key}, v;
    if (mdb_get(txn, s->dbi[DBI_DECIDED], &k, &v) == 0 && v.mv_size >= 13 &&
        ((uint8_t *)v.mv_data)[0] == 2) {
        return st_get_u64((uint8_t *)v.mv_data + 5);
    }
    return 0;
}

static int recount_events(MDB_txn *txn, store_t *s, tally_set_t *recount, FILE *report,
                          size_t *problems)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_EVENTS], &cur);
    if (rc != 0) {
        return rc;
    }
    vcommune_t vc = {0};
    uint32_t commune = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12) {
            rc = DK_ESTORE;
            break;
        }
        uint32_t c = st_get_u32(k.mv_data);
        uint64_t seq = st_get_u64((uint8_t *)k.mv_data + 4);
        if (c != commune) {
            if ((rc = vcommune_flush(commune, &vc, recount)) != 0) {
                break;
            }
            commune = c;
        }
        st_evrec_t rec;
        if (st_event_parse(v.mv_data, v.mv_size, true, &rec) != 0) {
            if (report) {
                fprintf(report, "event commune=%u seq=%llu: undecodable\n", c,
                        (unsigned long long)seq);
            }
            (*problems)++;
            st_evrec_clear(&rec);
            continue;
        }
        const Dk__Event *ev = rec.ev;
        bool is_void = ev->body_case == DK__EVENT__BODY_VOID;
        uint64_t target = is_void ? (ev->void_ ? ev->void_->target_seq : 0)
                                  : (ev->has_corrects_seq ? ev->corrects_seq : 0);
        size_t chain;
        if (target) {
            vseq_t *t = vseq_find(&vc, target);
            if (!t) {
                uint64_t a = alias_of(txn, s, c, target);
                t = a ? vseq_find(&vc, a) : NULL;
            }
            if (!t) {
                if (report) {
                    fprintf(report, "event commune=%u seq=%llu: corrects/voids seq %llu that is "
                                    "not stored\n",
                            c, (unsigned long long)seq, (unsigned long long)target);
                }
                (*problems)++;
                st_evrec_clear(&rec);
                continue;
            }
            chain = t->chain;
        } else {
            if (vc.nch == vc.capch) {
                vc.capch = vc.capch ? vc.capch * 2 : 256;
                vc.chains = xrealloc(vc.chains, vc.capch * sizeof *vc.chains);
            }
            chain = vc.nch++;
            memset(&vc.chains[chain], 0, sizeof vc.chains[chain]);
            vc.chains[chain].root = seq;
        }
        vseq_add(&vc, seq, chain);
        vchain_t *ch = &vc.chains[chain];
        if (is_void) {
            ch->voided = true;
        } else if (category_of_event(ev, &ch->cat, ch->m) == 0) {
            /* Walking seqs upwards, a later member always has the higher seq: it wins. */
            ch->has = true;
            ch->day = ev->date;
        } else {
            if (report) {
                fprintf(report, "event commune=%u seq=%llu: no category\n", c,
                        (unsigned long long)seq);
            }
            (*problems)++;
        }
        st_evrec_clear(&rec);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        rc = vcommune_flush(commune, &vc, recount);
    }
    free(vc.chains);
    free(vc.seqs);
    return rc;
}

static void report_diff(FILE *report, const tally_cell_t *c, const tally_cell_t *r)
{
    for (size_t i = 0; i < TALLY_MAX_MEASURES; i++) {
        int64_t a = c ? c->m[i] : 0, b = r ? r->m[i] : 0;
        if (a != b && report) {
            const tally_cell_t *k = c ? c : r;
            fprintf(report, "unit=%u day=%u category=%llu measure=%zu stored=%lld recount=%lld\n",
                    k->unit, k->day, (unsigned long long)k->category, i, (long long)a,
                    (long long)b);
        }
    }
}

int store_verify(store_t *self, FILE *report)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    tally_set_t *recount = tally_set_new();
    size_t problems = 0, cells = 0, child_cells = 0, diffs = 0;
    int64_t tallied = 0;
    uint64_t version = st_meta_get(txn, self, "version");
    rc = recount_events(txn, self, recount, report, &problems);
    MDB_cursor *cur = NULL;
    if (rc == 0) {
        rc = mdb_cursor_open(txn, self->dbi[DBI_CELLS], &cur);
    }
    MDB_val k, v;
    uint32_t child_owner = 0;
    size_t child_n = 0;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tally_cell_t c;
        memset(&c, 0, sizeof c);
        if (tally_key_decode(k.mv_data, k.mv_size, &c.unit, &c.day, &c.category) ||
            tally_val_decode(v.mv_data, v.mv_size, &c)) {
            rc = DK_ESTORE;
            break;
        }
        cells++;
        tallied += c.m[DK__MEASURE__M_EVENTS];
        if (c.owner != 0) {
            if (child_owner != c.owner && child_n && report) {
                fprintf(report, "child cells (not recounted): %zu of child %u\n", child_n,
                        child_owner);
            }
            if (child_owner != c.owner) {
                child_n = 0;
            }
            child_owner = c.owner;
            child_n++;
            child_cells++;
            continue;
        }
        tally_cell_t *r = tally_set_get(recount, c.unit, c.day, c.category);
        if (r) {
            r->version = 1; /* seen */
        }
        if (r ? !tally_same_measures(&c, r) : !tally_is_zero(&c)) {
            diffs++;
            report_diff(report, &c, r);
        }
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (child_n && report) {
        fprintf(report, "child cells (not recounted): %zu of child %u\n", child_n, child_owner);
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
        for (size_t i = 0; i < tally_set_count(recount); i++) {
            tally_cell_t *r = tally_set_at(recount, i);
            if (r->version == 0 && !tally_is_zero(r)) {
                diffs++;
                report_diff(report, NULL, r);
            }
        }
        uint64_t meta_tallied = st_meta_get(txn, self, "tallied");
        if ((uint64_t)tallied != meta_tallied) {
            problems++;
            if (report) {
                fprintf(report, "events counter: stored=%llu cells sum=%lld\n",
                        (unsigned long long)meta_tallied, (long long)tallied);
            }
        }
    }
    st_rd_end(self, txn);
    tally_set_destroy(&recount);
    if (rc != 0) {
        log_error("verify dir=%s: %s", self->dir,
                  rc > 0 || rc <= MDB_KEYEXIST ? mdb_strerror(rc) : err_str(rc));
        return st_map_rc(rc);
    }
    if (report) {
        fprintf(report, "verify version=%llu cells=%zu child_cells=%zu differences=%zu "
                        "problems=%zu: %s\n",
                (unsigned long long)version, cells, child_cells, diffs, problems,
                diffs || problems ? "MISMATCH" : "ok");
    }
    return diffs || problems ? DK_EMISMATCH : 0;
}

/* ---- backup ------------------------------------------------------------------------------- */
static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* 1: dir exists and is empty; 0: missing; -1: exists and is not an empty folder. */
static int dir_state(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return errno == ENOENT ? 0 : -1;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n == 0 ? 1 : -1;
}

static void remove_tmp(const char *tmp)
{
    char *f = xasprintf("%s/data.mdb", tmp);
    unlink(f);
    free(f);
    f = xasprintf("%s/lock.mdb", tmp);
    unlink(f);
    free(f);
    rmdir(tmp);
}

int store_backup(store_t *self, const char *dir)
{
    int st = dir_state(dir);
    if (st < 0) {
        log_error("backup dir=%s: exists and is not an empty folder", dir);
        return DK_EEXIST;
    }
    char *dcopy = xstrdup(dir), *bcopy = xstrdup(dir);
    char *parent = xstrdup(dirname(dcopy));
    char *base = xstrdup(basename(bcopy));
    free(dcopy);
    free(bcopy);
    char *tmp = xasprintf("%s/.%s.tmp.%ld", parent, base, (long)getpid());
    int ret = 0;
    uint64_t before = store_version(self);
    remove_tmp(tmp);
    if (mkdir(tmp, 0750) != 0) {
        log_error("backup dir=%s: cannot make %s: %s", dir, tmp, strerror(errno));
        ret = DK_EIO;
        goto done;
    }
    /* mdb_env_copy2 takes its own read txn: hold the shared lock so a map resize waits. */
    pthread_rwlock_rdlock(&self->lock);
    int rc = mdb_env_copy2(self->env, tmp, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&self->lock);
    if (rc != 0) {
        log_error("backup dir=%s: copy: %s", dir, mdb_strerror(rc));
        ret = DK_ESTORE;
        goto fail;
    }
    char *data = xasprintf("%s/data.mdb", tmp);
    rc = fsync_path(data, false);
    free(data);
    if (rc != 0 || fsync_path(tmp, true) != 0) {
        log_error("backup dir=%s: fsync: %s", dir, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    if (st == 1 && rmdir(dir) != 0) {
        log_error("backup dir=%s: %s", dir, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    if (rename(tmp, dir) != 0) {
        log_error("backup dir=%s: rename from %s: %s", dir, tmp, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    fsync_path(parent, true);

    /* Check the copy: a separate env on other files (not the same env twice), no lock file. */
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    uint64_t got = 0;
    rc = mdb_env_create(&env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, STORE_NDBI + 4);
    }
    if (rc == 0) {
        rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0640);
    }
    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
    }
    if (rc == 0) {
        MDB_val k = {7, "version"}, v;
        rc = mdb_get(txn, meta, &k, &v);
        if (rc == 0 && v.mv_size == 8) {
            got = st_get_u64(v.mv_data);
        }
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    if (env) {
        mdb_env_close(env);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        log_error("backup dir=%s: the copy does not open: %s", dir, mdb_strerror(rc));
        ret = DK_ESTORE;
    } else if (got < before) {
        log_error("backup dir=%s: the copy has version %llu, the store had %llu", dir,
                  (unsigned long long)got, (unsigned long long)before);
        ret = DK_EMISMATCH;
    } else {
        log_info("backup dir=%s version=%llu", dir, (unsigned long long)got);
    }
    goto done;
fail:
    remove_tmp(tmp);
done:
    free(tmp);
    free(parent);
    free(base);
    return ret;
}
