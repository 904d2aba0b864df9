/* store — LMDB storage of dk-aggregator: env, commit (events, dedupe, tallies, unit states,
 * versions) and child cells. Reads (snapshots, queries, verify, backup) are in store_read.c.
 * The contract and the LMDB layout are in store.h. */
#define LOG_TAG "store"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "category.h"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "xmalloc.h"

/* ---- byte helpers ------------------------------------------------------------------------ */
void st_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void st_put_u64(uint8_t *p, uint64_t v)
{
    st_put_u32(p, (uint32_t)(v >> 32));
    st_put_u32(p + 4, (uint32_t)v);
}

uint32_t st_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t st_get_u64(const uint8_t *p)
{
    return ((uint64_t)st_get_u32(p) << 32) | st_get_u32(p + 4);
}

void st_seq_key(uint8_t key[12], uint32_t commune, uint64_t seq)
{
    st_put_u32(key, commune);
    st_put_u64(key + 4, seq);
}

int st_map_rc(int rc)
{
    if (rc == 0) {
        return 0;
    }
    if (rc == MDB_MAP_FULL) {
        return DK_EFULL;
    }
    if (rc == MDB_NOTFOUND) {
        return DK_ENOTFOUND;
    }
    if (rc > 0 || rc <= MDB_KEYEXIST) {
        return DK_ESTORE; /* errno or an LMDB code */
    }
    return rc; /* already a DK_* code */
}

/* ---- unit state encoding ------------------------------------------------------------------ */
/* owner u32 | high_water u64 | max_seq u64 | last_contact i64 | backlog u64 | oldest i64 |
 * events u64 | records u64 | rejected u64 | version u64 | last_pull i64 | child_version u64 |
 * failed u32 | last_attempt i64 | inst_len u8 | inst[16] | err_len u16 | err bytes */
#define UNIT_FIXED (4 + 8 * 12 + 4 + 1 + 16 + 2)

size_t st_unit_encode(const store_unit_t *u, uint8_t buf[ST_UNIT_MAX])
{
    uint8_t *p = buf;
    st_put_u32(p, u->owner), p += 4;
    uint64_t f[] = {u->high_water, u->max_seq, (uint64_t)u->last_contact, u->backlog,
                    (uint64_t)u->oldest_waiting, u->events, u->records, u->rejected, u->version,
                    (uint64_t)u->last_pull, u->child_version};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        st_put_u64(p, f[i]), p += 8;
    }
    st_put_u32(p, u->failed_pulls), p += 4;
    st_put_u64(p, (uint64_t)u->last_attempt), p += 8;
    size_t il = u->instance_len > 16 ? 16 : u->instance_len;
    *p++ = (uint8_t)il;
    memset(p, 0, 16);
    memcpy(p, u->instance, il), p += 16;
    size_t el = strnlen(u->last_error, sizeof u->last_error - 1);
    p[0] = (uint8_t)(el >> 8), p[1] = (uint8_t)el, p += 2;
    memcpy(p, u->last_error, el), p += el;
    return (size_t)(p - buf);
}

int st_unit_decode(const void *val, size_t len, uint32_t unit, store_unit_t *u)
{
    const uint8_t *p = val;
    if (len < UNIT_FIXED) {
        return DK_EDECODE;
    }
    memset(u, 0, sizeof *u);
    u->unit = unit;
    u->owner = st_get_u32(p), p += 4;
    uint64_t f[11];
    for (size_t i = 0; i < 11; i++) {
        f[i] = st_get_u64(p), p += 8;
    }
    u->high_water = f[0];
    u->max_seq = f[1];
    u->last_contact = (int64_t)f[2];
    u->backlog = f[3];
    u->oldest_waiting = (int64_t)f[4];
    u->events = f[5];
    u->records = f[6];
    u->rejected = f[7];
    u->version = f[8];
    u->last_pull = (int64_t)f[9];
    u->child_version = f[10];
    u->failed_pulls = st_get_u32(p), p += 4;
    u->last_attempt = (int64_t)st_get_u64(p), p += 8;
    u->instance_len = *p++;
    if (u->instance_len > 16) {
        return DK_EDECODE;
    }
    memcpy(u->instance, p, 16), p += 16;
    size_t el = ((size_t)p[0] << 8) | p[1];
    p += 2;
    if (el >= sizeof u->last_error || len != UNIT_FIXED + el) {
        return DK_EDECODE;
    }
    memcpy(u->last_error, p, el);
    u->last_error[el] = '\0';
    return 0;
}

/* ---- open / close --------------------------------------------------------------------------- */
static const char *const dbi_names[STORE_NDBI] = {
    "meta", "events", "evlog", "decided", "origins", "heads",
    "cells", "owned", "units", "children", "changes", "spare",
};

#define LAYOUT_VERSION 1

int st_rd_begin(store_t *s, MDB_txn **txn)
{
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&s->lock);
        int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
        if (rc == 0) {
            return 0;
        }
        pthread_rwlock_unlock(&s->lock);
        if (rc == MDB_MAP_RESIZED && tries < 3) {
            /* Another process (the daemon) grew the map: adopt its size. No txn of ours may be
             * live while we do, hence the exclusive lock. */
            pthread_rwlock_wrlock(&s->lock);
            mdb_env_set_mapsize(s->env, 0);
            pthread_rwlock_unlock(&s->lock);
            continue;
        }
        log_error("read txn dir=%s: %s", s->dir, mdb_strerror(rc));
        return DK_ESTORE;
    }
}

void st_rd_end(store_t *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->lock);
}

uint64_t st_meta_get(MDB_txn *txn, store_t *s, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, s->dbi[DBI_META], &k, &v) != 0 || v.mv_size != 8) {
        return 0;
    }
    return st_get_u64(v.mv_data);
}

static int meta_put(MDB_txn *txn, store_t *s, const char *name, uint64_t value)
{
    uint8_t b[8];
    st_put_u64(b, value);
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    return mdb_put(txn, s->dbi[DBI_META], &k, &v, 0);
}

int store_open(const char *dir, const store_opts_t *opts, store_t **out)
{
    store_opts_t o = {0};
    if (opts) {
        o = *opts;
    }
    *out = NULL;
    struct stat stt;
    if (stat(dir, &stt) != 0 || !S_ISDIR(stt.st_mode)) {
        log_error("open dir=%s: not a folder (%s)", dir, strerror(errno));
        return DK_EIO;
    }
    if (sodium_init() < 0) {
        log_error("open dir=%s: libsodium failed to initialise", dir);
        return DK_ESTORE;
    }
    store_t *s = xcalloc(1, sizeof *s);
    s->dir = xstrdup(dir);
    s->ro = o.read_only;
    s->unit = o.unit;
    s->map_size = o.map_size ? o.map_size : (1ull << 30);
    s->max_map = o.max_map_size ? o.max_map_size : (64ull << 30);
    if (s->max_map < s->map_size) {
        s->max_map = s->map_size;
    }
    s->max_readers = o.max_readers ? o.max_readers : 126;
    pthread_rwlockattr_t la;
    pthread_rwlockattr_init(&la);
    /* Writer preference: a map resize must not starve behind a stream of dashboard reads. */
    pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lock, &la);
    pthread_rwlockattr_destroy(&la);

    int rc = mdb_env_create(&s->env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(s->env, STORE_NDBI + 4);
    }
    if (rc == 0) {
        rc = mdb_env_set_maxreaders(s->env, s->max_readers);
    }
    if (rc == 0) {
        rc = mdb_env_set_mapsize(s->env, s->map_size);
    }
    if (rc == 0) {
        rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->ro ? MDB_RDONLY : 0), 0640);
    }
    if (rc != 0) {
        log_error("open dir=%s: %s", dir, mdb_strerror(rc));
        int e = (rc == ENOENT || rc == EACCES) ? DK_EIO : DK_ESTORE;
        if (rc == ENOENT && s->ro) {
            e = DK_ENOTFOUND;
        }
        store_close(&s);
        return e;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize; /* an existing store may already be larger */
    if (s->max_map < s->map_size) {
        s->max_map = s->map_size;
    }
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (dead > 0) {
        log_warn("open dir=%s: cleared %d stale reader slots", dir, dead);
    }

    /* Every named DB once, in one txn, committed before anyone uses the handles (§3.10). */
    MDB_txn *txn = NULL;
    rc = mdb_txn_begin(s->env, NULL, s->ro ? MDB_RDONLY : 0, &txn);
    for (int i = 0; rc == 0 && i < STORE_NDBI; i++) {
        rc = mdb_dbi_open(txn, dbi_names[i], s->ro ? 0 : MDB_CREATE, &s->dbi[i]);
    }
    if (rc == 0 && !s->ro) {
        uint64_t layout = st_meta_get(txn, s, "layout");
        if (layout == 0) {
            rc = meta_put(txn, s, "layout", LAYOUT_VERSION);
        } else if (layout != LAYOUT_VERSION) {
            log_error("open dir=%s: store layout %llu, this build reads %d", dir,
                      (unsigned long long)layout, LAYOUT_VERSION);
            mdb_txn_abort(txn);
            store_close(&s);
            return DK_ESTORE;
        }
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn); /* also read-only: an aborted txn would close the handles */
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        log_error("open dir=%s: opening tables: %s", dir, mdb_strerror(rc));
        int e = (rc == MDB_NOTFOUND && s->ro) ? DK_ENOTFOUND : DK_ESTORE;
        store_close(&s);
        return e;
    }
    log_info("open dir=%s mode=%s map=%llu version=%llu", dir, s->ro ? "read-only" : "read-write",
             (unsigned long long)s->map_size, (unsigned long long)store_version(s));
    *out = s;
    return 0;
}

void store_close(store_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    store_t *s = *self_p;
    if (s->env) {
        mdb_env_close(s->env);
    }
    pthread_rwlock_destroy(&s->lock);
    free(s->dir);
    free(s);
    *self_p = NULL;
}

int store_reader_check(store_t *self)
{
    int dead = 0;
    int rc = mdb_reader_check(self->env, &dead);
    if (rc != 0) {
        log_error("reader check dir=%s: %s", self->dir, mdb_strerror(rc));
        return DK_ESTORE;
    }
    if (dead > 0) {
        log_warn("reader check dir=%s: cleared %d stale reader slots", self->dir, dead);
    }
    return dead;
}

uint64_t store_version(store_t *self)
{
    MDB_txn *txn;
    if (st_rd_begin(self, &txn) != 0) {
        return 0;
    }
    uint64_t v = st_meta_get(txn, self, "version");
    st_rd_end(self, txn);
    return v;
}

const char *store_dir(const store_t *self)
{
    return self->dir;
}

/* Doubles the map after MDB_MAP_FULL. Only valid with no txn of this process alive: the caller
 * has aborted its write txn, and the exclusive lock waits for every reader thread. */
static int grow_map(store_t *s)
{
    if (s->map_size >= s->max_map) {
        log_error("map full dir=%s map=%llu: the maximum map size is reached", s->dir,
                  (unsigned long long)s->map_size);
        return DK_EFULL;
    }
    uint64_t next = s->map_size * 2;
    if (next > s->max_map) {
        next = s->max_map;
    }
    pthread_rwlock_wrlock(&s->lock);
    int rc = mdb_env_set_mapsize(s->env, next);
    pthread_rwlock_unlock(&s->lock);
    if (rc != 0) {
        log_error("map grow dir=%s to %llu: %s", s->dir, (unsigned long long)next,
                  mdb_strerror(rc));
        return DK_ESTORE;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    log_warn("map grown dir=%s map=%llu", s->dir, (unsigned long long)s->map_size);
    return 0;
}

/* ---- the write context: caches of cells and units touched by one txn --------------------- */
typedef struct {
    store_unit_t cur, orig;
    bool existed, child_rec; /* child_rec: a record of the children DBI */
} wunit_t;

typedef struct {
    store_t *s;
    MDB_txn *txn;
    uint64_t prev, next; /* versions */
    uint64_t events, rejected, tallied;
    bool meta_dirty;
    tally_set_t *cells, *orig;
    wunit_t *units;
    size_t nunits, capunits;
    int64_t now;
} wctx_t;

static void w_free(wctx_t *w)
{
    tally_set_destroy(&w->cells);
    tally_set_destroy(&w->orig);
    free(w->units);
    w->units = NULL;
    w->nunits = w->capunits = 0;
}

static int w_begin(store_t *s, wctx_t *w)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_rwlock_wrlock(&s->lock);
        mdb_env_set_mapsize(s->env, 0);
        pthread_rwlock_unlock(&s->lock);
        rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    }
    if (rc != 0) {
        return rc;
    }
    w->prev = st_meta_get(w->txn, s, "version");
    w->next = w->prev + 1;
    w->events = st_meta_get(w->txn, s, "events");
    w->rejected = st_meta_get(w->txn, s, "rejected");
    w->tallied = st_meta_get(w->txn, s, "tallied");
    w->cells = tally_set_new();
    w->orig = tally_set_new();
    w->now = (int64_t)time(NULL);
    return 0;
}

/* The cached cell, loaded from the store on first use (all-zero when absent). */
static int w_cell(wctx_t *w, uint32_t unit, uint32_t day, uint64_t cat, tally_cell_t **out)
{
    bool created;
    tally_cell_t *c = tally_set_put(w->cells, unit, day, cat, &created);
    if (created) {
        uint8_t key[TALLY_KEY_LEN];
        tally_key_encode(key, unit, day, cat);
        MDB_val k = {sizeof key, key}, v;
        int rc = mdb_get(w->txn, w->s->dbi[DBI_CELLS], &k, &v);
        if (rc == 0) {
            if (tally_val_decode(v.mv_data, v.mv_size, c) != 0) {
                log_error("cell unit=%u day=%u category=%llu: undecodable value", unit, day,
                          (unsigned long long)cat);
                return DK_ESTORE;
            }
        } else if (rc != MDB_NOTFOUND) {
            return rc;
        }
        *tally_set_put(w->orig, unit, day, cat, NULL) = *c;
    }
    *out = c;
    return 0;
}

/* The cached unit (or child record), loaded on first use; created (owner as given) when absent
 * and create is set, else DK_ENOTFOUND. */
static int w_unit(wctx_t *w, uint32_t unit, bool child_rec, bool create, uint32_t owner,
                  store_unit_t **out)
{
    for (size_t i = 0; i < w->nunits; i++) {
        if (w->units[i].cur.unit == unit && w->units[i].child_rec == child_rec) {
            *out = &w->units[i].cur;
            return 0;
        }
    }
    uint8_t key[4];
    st_put_u32(key, unit);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(w->txn, w->s->dbi[child_rec ? DBI_CHILDREN : DBI_UNITS], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    if (rc == MDB_NOTFOUND && !create) {
        return DK_ENOTFOUND;
    }
    if (w->nunits == w->capunits) {
        w->capunits = w->capunits ? w->capunits * 2 : 16;
        w->units = xrealloc(w->units, w->capunits * sizeof *w->units);
    }
    wunit_t *wu = &w->units[w->nunits];
    memset(wu, 0, sizeof *wu);
    wu->child_rec = child_rec;
    if (rc == 0) {
        if (st_unit_decode(v.mv_data, v.mv_size, unit, &wu->cur) != 0) {
            log_error("unit=%u: undecodable state", unit);
            return DK_ESTORE;
        }
        wu->existed = true;
    } else {
        wu->cur.unit = unit;
        wu->cur.owner = owner;
    }
    wu->orig = wu->cur;
    w->nunits++;
    *out = &wu->cur;
    return 0;
}

static int changes_put(wctx_t *w, uint64_t version, uint8_t type, const uint8_t *id, size_t idlen,
                       bool del)
{
    uint8_t key[25] = {0};
    st_put_u64(key, version);
    key[8] = type;
    memcpy(key + 9, id, idlen);
    MDB_val k = {sizeof key, key}, v = {0, NULL};
    if (del) {
        int rc = mdb_del(w->txn, w->s->dbi[DBI_CHANGES], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    return mdb_put(w->txn, w->s->dbi[DBI_CHANGES], &k, &v, 0);
}

static bool unit_same(const store_unit_t *a, const store_unit_t *b)
{
    uint8_t ba[ST_UNIT_MAX], bb[ST_UNIT_MAX];
    size_t la = st_unit_encode(a, ba), lb = st_unit_encode(b, bb);
    return la == lb && memcmp(ba, bb, la) == 0;
}

/* Writes every changed cell and unit with version w->next, moves their change-index entries, and
 * fills result's cells and units. Returns the number of changed objects via *changed. */
static int w_flush(wctx_t *w, store_commit_t *result, size_t *changed)
{
    int rc;
    *changed = 0;
    tally_set_sort(w->cells);
    size_t nc = tally_set_count(w->cells);
    result->cells = nc ? xcalloc(nc, sizeof *result->cells) : NULL;
    for (size_t i = 0; i < nc; i++) {
        tally_cell_t *c = tally_set_at(w->cells, i);
        tally_cell_t *o = tally_set_get(w->orig, c->unit, c->day, c->category);
        bool existed = o->version != 0;
        if (existed && tally_same_measures(c, o) && c->owner == o->owner) {
            continue;
        }
        if (!existed && tally_is_zero(c)) {
            continue; /* created and back to zero within the txn: nothing to tell anyone */
        }
        uint8_t key[TALLY_KEY_LEN], val[TALLY_VAL_MAX];
        tally_key_encode(key, c->unit, c->day, c->category);
        if (existed && (rc = changes_put(w, o->version, 1, key, sizeof key, true)) != 0) {
            return rc;
        }
        c->version = w->next;
        MDB_val k = {sizeof key, key}, v = {tally_val_encode(c, val), val};
        if ((rc = mdb_put(w->txn, w->s->dbi[DBI_CELLS], &k, &v, 0)) != 0) {
            return rc;
        }
        if ((rc = changes_put(w, w->next, 1, key, sizeof key, false)) != 0) {
            return rc;
        }
        if (c->owner != 0 && (!existed || o->owner != c->owner)) {
            uint8_t ok[4 + TALLY_KEY_LEN];
            st_put_u32(ok, c->owner);
            memcpy(ok + 4, key, sizeof key);
            MDB_val kk = {sizeof ok, ok}, vv = {0, NULL};
            if ((rc = mdb_put(w->txn, w->s->dbi[DBI_OWNED], &kk, &vv, 0)) != 0) {
                return rc;
            }
        }
        result->cells[result->ncells++] = *c;
    }
    result->units = w->nunits ? xcalloc(w->nunits, sizeof *result->units) : NULL;
    for (size_t i = 0; i < w->nunits; i++) {
        wunit_t *wu = &w->units[i];
        if (wu->existed && unit_same(&wu->cur, &wu->orig)) {
            continue;
        }
        uint8_t key[4], val[ST_UNIT_MAX];
        st_put_u32(key, wu->cur.unit);
        uint8_t type = wu->child_rec ? 3 : 2;
        if (wu->existed && (rc = changes_put(w, wu->orig.version, type, key, 4, true)) != 0) {
            return rc;
        }
        wu->cur.version = w->next;
        MDB_val k = {4, key}, v = {st_unit_encode(&wu->cur, val), val};
        rc = mdb_put(w->txn, w->s->dbi[wu->child_rec ? DBI_CHILDREN : DBI_UNITS], &k, &v, 0);
        if (rc != 0 || (rc = changes_put(w, w->next, type, key, 4, false)) != 0) {
            return rc;
        }
        result->units[result->nunits++] = wu->cur;
    }
    *changed = result->ncells + result->nunits;
    return 0;
}

/* Ends the txn: commits with the new version when anything changed, else aborts (nothing to
 * write, the version stays). */
static int w_end(wctx_t *w, store_commit_t *result, bool force)
{
    size_t changed = 0;
    int rc = w_flush(w, result, &changed);
    if (rc == 0 && (changed > 0 || w->meta_dirty || force)) {
        if ((rc = meta_put(w->txn, w->s, "version", w->next)) == 0 &&
            (rc = meta_put(w->txn, w->s, "events", w->events)) == 0 &&
            (rc = meta_put(w->txn, w->s, "rejected", w->rejected)) == 0) {
            rc = meta_put(w->txn, w->s, "tallied", w->tallied);
        }
        if (rc == 0) {
            rc = mdb_txn_commit(w->txn);
            w->txn = NULL;
            result->version = w->next;
        }
    } else if (rc == 0) {
        mdb_txn_abort(w->txn);
        w->txn = NULL;
        result->version = w->prev;
    }
    if (w->txn) {
        mdb_txn_abort(w->txn);
        w->txn = NULL;
    }
    result->prev_version = w->prev;
    return rc;
}

/* ---- commit: events -------------------------------------------------------------------------- */
/* events value header: version u64 | root u64 | recv_at i64 | flags u8, then the packed event. */
static int set_result(store_result_t *r, store_outcome_t out, int code, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int set_result(store_result_t *r, store_outcome_t out, int code, const char *field,
                      const char *fmt, ...)
{
    r->outcome = out;
    r->code = code;
    free(r->field);
    free(r->reason);
    r->field = field && *field ? xstrdup(field) : NULL;
    r->reason = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0) {
            abort();
        }
        va_end(ap);
        r->reason = msg;
    }
    return 0;
}

static void hash_bytes(const uint8_t *b, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, b, len, NULL, 0);
}

/* Marks (commune, seq) decided in the unit state: max_seq, and the high-water mark advances over
 * every seq now decided (batches may have arrived out of order). */
static int advance(wctx_t *w, store_unit_t *u, uint32_t commune, uint64_t seq)
{
    if (seq > u->max_seq) {
        u->max_seq = seq;
    }
    if (seq == u->high_water + 1 && seq == u->max_seq) {
        /* In-order arrival (the common case): nothing above seq is decided, no lookups. */
        u->high_water = seq;
        return 0;
    }
    for (;;) {
        uint8_t key[12];
        st_seq_key(key, commune, u->high_water + 1);
        MDB_val k = {12, key}, v;
        int rc = mdb_get(w->txn, w->s->dbi[DBI_EVENTS], &k, &v);
        if (rc == MDB_NOTFOUND) {
            rc = mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
        }
        if (rc == MDB_NOTFOUND) {
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
        u->high_water++;
    }
}

/* Remembers a rejection (kind 1) or an origin-key alias (kind 2) of (commune, seq). */
static int record_decided(wctx_t *w, store_unit_t *u, const store_item_t *it, uint8_t kind,
                          uint64_t alias_of, const store_result_t *r)
{
    const char *field = r->field ? r->field : "";
    const char *reason = r->reason ? r->reason : "";
    size_t fl = strlen(field), rl = strlen(reason);
    size_t len = 1 + 4 + 8 + 32 + fl + 1 + rl + 1;
    uint8_t *buf = xmalloc(len);
    buf[0] = kind;
    st_put_u32(buf + 1, (uint32_t)r->code);
    st_put_u64(buf + 5, alias_of);
    hash_bytes(it->bytes, it->len, buf + 13);
    memcpy(buf + 45, field, fl + 1);
    memcpy(buf + 45 + fl + 1, reason, rl + 1);
    uint8_t key[12];
    st_seq_key(key, it->commune, it->ev->seq);
    MDB_val k = {12, key}, v = {len, buf};
    int rc = mdb_put(w->txn, w->s->dbi[DBI_DECIDED], &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0) {
        return rc;
    }
    if (kind == 1) {
        u->rejected++;
        w->rejected++;
    }
    w->meta_dirty = true;
    return advance(w, u, it->commune, it->ev->seq);
}

static int reject(wctx_t *w, store_unit_t *u, const store_item_t *it, store_result_t *r, int code,
                  const char *field, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int reject(wctx_t *w, store_unit_t *u, const store_item_t *it, store_result_t *r, int code,
                  const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    set_result(r, STORE_REJECTED, code, field, "%s", msg);
    free(msg);
    log_info("rejected commune=%u seq=%llu code=%d field=%s", it->commune,
             (unsigned long long)it->ev->seq, code, field ? field : "-");
    return record_decided(w, u, it, 1, 0, r);
}

int st_event_load(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq, bool decode,
                  st_evrec_t *out)
{
    uint8_t key[12];
    st_seq_key(key, commune, seq);
    MDB_val k = {12, key}, v;
    int rc = mdb_get(txn, s->dbi[DBI_EVENTS], &k, &v);
    if (rc != 0) {
        return rc;
    }
    return st_event_parse(v.mv_data, v.mv_size, decode, out);
}

int st_event_parse(const void *val, size_t len, bool decode, st_evrec_t *out)
{
    const uint8_t *p = val;
    memset(out, 0, sizeof *out);
    if (len < ST_EV_HDR) {
        return DK_EDECODE;
    }
    out->version = st_get_u64(p);
    out->root = st_get_u64(p + 8);
    out->recv_at = (int64_t)st_get_u64(p + 16);
    out->flags = p[24];
    out->bytes = p + ST_EV_HDR;
    out->len = len - ST_EV_HDR;
    if (decode) {
        out->ev = dk__event__unpack(NULL, out->len, out->bytes);
        if (!out->ev) {
            return DK_EDECODE;
        }
    }
    return 0;
}

void st_evrec_clear(st_evrec_t *r)
{
    if (r->ev) {
        dk__event__free_unpacked(r->ev, NULL);
        r->ev = NULL;
    }
}

int st_head_get(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t root, uint64_t *head,
                uint64_t *voided)
{
    uint8_t key[12];
    st_seq_key(key, commune, root);
    MDB_val k = {12, key}, v;
    int rc = mdb_get(txn, s->dbi[DBI_HEADS], &k, &v);
    if (rc == MDB_NOTFOUND) {
        *head = root;
        *voided = 0;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size != 16) {
        return DK_ESTORE;
    }
    *head = st_get_u64(v.mv_data);
    *voided = st_get_u64((uint8_t *)v.mv_data + 8);
    return 0;
}

/* Adds sign x the contribution of event ev (of commune) to the cached cells and the unit's and
 * store's effective event counts. */
static int contribute(wctx_t *w, store_unit_t *u, uint32_t commune, const Dk__Event *ev, int sign)
{
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
    int rc = category_of_event(ev, &cat, m);
    if (rc != 0) {
        return rc;
    }
    tally_cell_t *c;
    if ((rc = w_cell(w, commune, ev->date, cat, &c)) != 0) {
        return rc;
    }
    if (tally_add(c, m, CATEGORY_MEASURES, sign) != 0) {
        return DK_EV_RANGE;
    }
    int64_t d = sign * m[DK__MEASURE__M_EVENTS];
    u->events = (uint64_t)((int64_t)u->events + d);
    w->tallied = (uint64_t)((int64_t)w->tallied + d);
    return 0;
}

/* Contribution of the stored event (commune, seq), decoded from the store. */
static int contribute_stored(wctx_t *w, store_unit_t *u, uint32_t commune, uint64_t seq, int sign)
{
    st_evrec_t rec;
    int rc = st_event_load(w->txn, w->s, commune, seq, true, &rec);
    if (rc == 0) {
        rc = contribute(w, u, commune, rec.ev, sign);
    } else if (rc == MDB_NOTFOUND || rc == DK_EDECODE) {
        log_error("commune=%u seq=%llu: chain member missing or undecodable", commune,
                  (unsigned long long)seq);
        rc = DK_ESTORE;
    }
    st_evrec_clear(&rec);
    return rc;
}

/* Where a correction or void of target points: its stored event (resolving an origin-key alias),
 * the chain's root, or why not. Returns 0 (found), STORE_DEFERRED (may still arrive), or fills
 * r with a DK_EV_TARGET rejection text and returns DK_EV_TARGET. */
static int resolve_target(wctx_t *w, const store_unit_t *u, uint32_t commune, uint64_t seq,
                          uint64_t *target, uint64_t *root, const char **why_fmt)
{
    for (int hop = 0; hop < 2; hop++) {
        st_evrec_t rec;
        int rc = st_event_load(w->txn, w->s, commune, *target, false, &rec);
        if (rc == 0) {
            if (rec.flags & 1) {
                *why_fmt = "Sự kiện số %llu là một lệnh hủy: không thể sửa hoặc hủy nó.";
                return DK_EV_TARGET;
            }
            *root = rec.root ? rec.root : *target;
            return 0;
        }
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
        uint8_t key[12];
        st_seq_key(key, commune, *target);
        MDB_val k = {12, key}, v;
        rc = mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
        if (rc == 0) {
            const uint8_t *p = v.mv_data;
            if (v.mv_size >= 13 && p[0] == 2) {
                *target = st_get_u64(p + 5); /* the stored event this seq duplicated */
                continue;
            }
            *why_fmt = "Sự kiện số %llu đã bị từ chối nên không thể sửa hoặc hủy.";
            return DK_EV_TARGET;
        }
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
        if (*target > u->high_water) {
            return STORE_DEFERRED;
        }
        break;
    }
    *why_fmt = "Không có sự kiện số %llu để sửa hoặc hủy.";
    return DK_EV_TARGET;
}

static int put_event(wctx_t *w, const store_item_t *it, uint64_t root, bool is_void)
{
    size_t len = ST_EV_HDR + it->len;
    uint8_t *buf = xmalloc(len);
    st_put_u64(buf, w->next);
    st_put_u64(buf + 8, root);
    st_put_u64(buf + 16, (uint64_t)w->now);
    buf[24] = is_void ? 1 : 0;
    memcpy(buf + ST_EV_HDR, it->bytes, it->len);
    uint8_t key[12];
    st_seq_key(key, it->commune, it->ev->seq);
    MDB_val k = {12, key}, v = {len, buf};
    int rc = mdb_put(w->txn, w->s->dbi[DBI_EVENTS], &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0) {
        return rc;
    }
    w->events++;
    uint8_t lk[8];
    st_put_u64(lk, w->events);
    MDB_val lkv = {8, lk}, lv = {12, key};
    return mdb_put(w->txn, w->s->dbi[DBI_EVLOG], &lkv, &lv, MDB_APPEND);
}

static int put_head(wctx_t *w, uint32_t commune, uint64_t root, uint64_t head, uint64_t voided)
{
    uint8_t key[12], val[16];
    st_seq_key(key, commune, root);
    st_put_u64(val, head);
    st_put_u64(val + 8, voided);
    MDB_val k = {12, key}, v = {16, val};
    return mdb_put(w->txn, w->s->dbi[DBI_HEADS], &k, &v, 0);
}

/* Decides one item (see store.h for the rules). Returns 0 with *r filled, or an LMDB/DK error
 * that fails the whole commit. */
static int commit_item(wctx_t *w, const store_item_t *it, store_result_t *r)
{
    const Dk__Event *ev = it->ev;
    uint32_t c = it->commune;
    uint64_t seq = ev->seq;
    r->commune = c;
    r->seq = seq;
    uint8_t key[12];
    st_seq_key(key, c, seq);
    MDB_val k = {12, key}, v;

    store_unit_t *u;
    int rc = w_unit(w, c, false, true, 0, &u);
    if (rc != 0) {
        return rc;
    }
    /* 1. Decided before: the same answer again, or a conflict. Every decided seq is <= max_seq,
     * so a seq above it needs no lookup. */
    rc = seq > u->max_seq ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DBI_EVENTS], &k, &v);
    if (rc == 0) {
        if (v.mv_size == ST_EV_HDR + it->len &&
            memcmp((uint8_t *)v.mv_data + ST_EV_HDR, it->bytes, it->len) == 0) {
            return set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
        }
        return set_result(r, STORE_REJECTED, DK_EV_CONFLICT, "seq",
                          "Số thứ tự %llu của xã %u đã được dùng cho một sự kiện khác.",
                          (unsigned long long)seq, c);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = seq > u->max_seq ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        uint8_t h[32];
        hash_bytes(it->bytes, it->len, h);
        if (v.mv_size < 47 || memcmp(p + 13, h, 32) != 0) {
            return set_result(r, STORE_REJECTED, DK_EV_CONFLICT, "seq",
                              "Số thứ tự %llu của xã %u đã được dùng cho một sự kiện khác.",
                              (unsigned long long)seq, c);
        }
        if (p[0] == 2) {
            return set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
        }
        const char *field = (const char *)p + 45;
        const char *reason = field + strnlen(field, v.mv_size - 45) + 1;
        return set_result(r, STORE_REJECTED, (int32_t)st_get_u32(p + 1), field, "%s", reason);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }

    /* 2. The caller's validation verdict. */
    if (it->reject_code) {
        return reject(w, u, it, r, it->reject_code, it->reject_field, "%s",
                      it->reject_reason && *it->reject_reason
                          ? it->reject_reason
                          : "Sự kiện không hợp lệ nên không được ghi nhận.");
    }
    if (u->owner != 0) {
        return reject(w, u, it, r, DK_EV_COMMUNE, "commune",
                      "Xã %u thuộc số liệu của đơn vị %u, không nhận sự kiện trực tiếp.", c,
                      u->owner);
    }
    if (ev->has_commune && ev->commune != c) {
        return reject(w, u, it, r, DK_EV_COMMUNE, "commune",
                      "Sự kiện ghi mã xã %u nhưng được gửi từ xã %u.", ev->commune, c);
    }

    /* 3. Corrections and voids: find the chain. */
    bool is_void = ev->body_case == DK__EVENT__BODY_VOID;
    uint64_t target = 0, root = 0;
    const char *tfield = is_void ? "void.target_seq" : "corrects_seq";
    if (is_void) {
        target = ev->void_ && ev->void_->has_target_seq ? ev->void_->target_seq : 0;
        if (target == 0) {
            return reject(w, u, it, r, DK_EV_MISSING, tfield,
                          "Lệnh hủy thiếu số thứ tự của sự kiện cần hủy.");
        }
    } else if (ev->has_corrects_seq && ev->corrects_seq) {
        target = ev->corrects_seq;
    }
    uint64_t head = 0, voided = 0;
    if (target) {
        if (target >= seq) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield,
                          "Sự kiện cần sửa hoặc hủy (số %llu) phải có số thứ tự nhỏ hơn %llu.",
                          (unsigned long long)target, (unsigned long long)seq);
        }
        const char *why = NULL;
        uint64_t asked = target;
        rc = resolve_target(w, u, c, seq, &target, &root, &why);
        if (rc == STORE_DEFERRED) {
            log_info("deferred commune=%u seq=%llu target=%llu (not received yet)", c,
                     (unsigned long long)seq, (unsigned long long)asked);
            return set_result(r, STORE_DEFERRED, 0, NULL, NULL);
        }
        if (rc == DK_EV_TARGET) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield, why, (unsigned long long)asked);
        }
        if (rc != 0) {
            return rc;
        }
        if ((rc = st_head_get(w->txn, w->s, c, root, &head, &voided)) != 0) {
            return rc;
        }
        if (voided) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield,
                          "Sự kiện số %llu đã bị hủy (bởi sự kiện số %llu).",
                          (unsigned long long)asked, (unsigned long long)voided);
        }
    }

    /* 4. The same CSV row (origin_key) stored before under another seq. */
    uint8_t okey[4 + 16];
    bool has_origin = ev->has_origin_key && ev->origin_key.len == 16;
    if (has_origin) {
        st_put_u32(okey, c);
        memcpy(okey + 4, ev->origin_key.data, 16);
        MDB_val ok = {sizeof okey, okey}, ov;
        rc = mdb_get(w->txn, w->s->dbi[DBI_ORIGINS], &ok, &ov);
        if (rc == 0 && ov.mv_size == 8) {
            uint64_t prior = st_get_u64(ov.mv_data);
            uint64_t prior_root = 0;
            if (target) {
                st_evrec_t pr;
                if (st_event_load(w->txn, w->s, c, prior, false, &pr) == 0) {
                    prior_root = pr.root ? pr.root : prior;
                }
            }
            if (!target || prior_root != root) {
                set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
                log_info("duplicate row commune=%u seq=%llu same origin_key as seq=%llu", c,
                         (unsigned long long)seq, (unsigned long long)prior);
                return record_decided(w, u, it, 2, prior, r);
            }
        } else if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }

    /* 5. Tallies. All checks that can refuse are done before any cell changes, except overflow,
     * which is undone by hand. */
    if (!is_void) {
        uint64_t cat;
        int64_t m[CATEGORY_MEASURES];
        if (category_of_event(ev, &cat, m) != 0) {
            return reject(w, u, it, r, DK_EV_KIND, NULL,
                          "Không xác định được loại hoạt động hoặc quỹ của sự kiện.");
        }
    }
    bool counts = !target || is_void || seq > head;
    if (target && counts) {
        if ((rc = contribute_stored(w, u, c, head, -1)) != 0) {
            return rc == DK_EV_RANGE ? reject(w, u, it, r, DK_EV_RANGE, NULL,
                                              "Số liệu làm tổng cộng vượt quá giới hạn.")
                                     : rc;
        }
    }
    if (!is_void && counts) {
        if ((rc = contribute(w, u, c, ev, +1)) != 0) {
            if (rc != DK_EV_RANGE) {
                return rc;
            }
            if (target && (rc = contribute_stored(w, u, c, head, +1)) != 0) {
                return rc;
            }
            return reject(w, u, it, r, DK_EV_RANGE, NULL,
                          "Số liệu làm tổng cộng vượt quá giới hạn.");
        }
    }

    /* 6. The event, its chain and its row key. */
    if ((rc = put_event(w, it, root, is_void)) != 0) {
        return rc;
    }
    if (target) {
        if (is_void) {
            rc = put_head(w, c, root, head, seq);
        } else if (counts) {
            rc = put_head(w, c, root, seq, 0);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (has_origin) {
        MDB_val ok = {sizeof okey, okey}, ov;
        uint8_t sb[8];
        st_put_u64(sb, seq);
        ov.mv_size = 8;
        ov.mv_data = sb;
        if ((rc = mdb_put(w->txn, w->s->dbi[DBI_ORIGINS], &ok, &ov, 0)) != 0) {
            return rc;
        }
    }
    u->records++;
    w->meta_dirty = true;
    set_result(r, STORE_STORED, 0, NULL, NULL);
    return advance(w, u, c, seq);
}

static int apply_touch(wctx_t *w, const store_touch_t *t)
{
    store_unit_t *u;
    int rc = w_unit(w, t->commune, false, true, 0, &u);
    if (rc != 0) {
        return rc;
    }
    if (u->owner != 0) {
        log_warn("touch commune=%u ignored: the unit belongs to child %u", t->commune, u->owner);
        return 0;
    }
    if (t->last_contact) {
        u->last_contact = t->last_contact;
    }
    if (t->has_backlog) {
        u->backlog = t->backlog;
        u->oldest_waiting = t->oldest_waiting;
    }
    if (t->instance) {
        u->instance_len = t->instance_len > 16 ? 16 : t->instance_len;
        memset(u->instance, 0, sizeof u->instance);
        memcpy(u->instance, t->instance, u->instance_len);
    }
    return 0;
}

typedef struct {
    const store_item_t *items;
    size_t i;
} order_t;

static int cmp_order(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    const store_item_t *p = &x->items[x->i], *q = &y->items[y->i];
    if (p->commune != q->commune) {
        return p->commune < q->commune ? -1 : 1;
    }
    if (p->ev->seq != q->ev->seq) {
        return p->ev->seq < q->ev->seq ? -1 : 1;
    }
    return x->i < y->i ? -1 : (x->i > y->i);
}

static void results_free(store_commit_t *r)
{
    for (size_t i = 0; i < r->nresults; i++) {
        free(r->results[i].field);
        free(r->results[i].reason);
    }
    free(r->results);
    free(r->cells);
    free(r->units);
    memset(r, 0, sizeof *r);
}

void store_commit_clear(store_commit_t *result)
{
    if (result) {
        results_free(result);
    }
}

static int commit_once(store_t *s, const store_item_t *items, size_t n, const order_t *order,
                       const store_touch_t *touches, size_t nt, store_commit_t *res)
{
    wctx_t w;
    int rc = w_begin(s, &w);
    if (rc != 0) {
        return rc;
    }
    res->results = n ? xcalloc(n, sizeof *res->results) : NULL;
    res->nresults = n;
    for (size_t k = 0; k < n && rc == 0; k++) {
        size_t i = order[k].i;
        rc = commit_item(&w, &items[i], &res->results[i]);
    }
    for (size_t k = 0; k < nt && rc == 0; k++) {
        rc = apply_touch(&w, &touches[k]);
    }
    if (rc == 0) {
        rc = w_end(&w, res, false);
    } else if (w.txn) {
        mdb_txn_abort(w.txn);
    }
    w_free(&w);
    return rc;
}

int store_commit(store_t *self, const store_item_t *items, size_t n, const store_touch_t *touches,
                 size_t nt, store_commit_t *result)
{
    memset(result, 0, sizeof *result);
    if (self->ro) {
        return DK_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!items[i].ev || !items[i].ev->has_seq || items[i].ev->seq == 0 ||
            (!items[i].bytes && items[i].len)) {
            log_error("commit: item %zu has no event or seq", i);
            return DK_EINVAL;
        }
    }
    order_t *order = n ? xmalloc(n * sizeof *order) : NULL;
    for (size_t i = 0; i < n; i++) {
        order[i].items = items;
        order[i].i = i;
    }
    if (n > 1) {
        qsort(order, n, sizeof *order, cmp_order);
    }
    int rc;
    for (;;) {
        rc = commit_once(self, items, n, order, touches, nt, result);
        if (rc != MDB_MAP_FULL) {
            break;
        }
        results_free(result);
        if ((rc = grow_map(self)) != 0) {
            break;
        }
    }
    free(order);
    if (rc != 0) {
        if (rc != DK_EFULL) {
            log_error("commit dir=%s items=%zu: %s", self->dir, n,
                      rc < -1000 || rc > 0 ? mdb_strerror(rc) : err_str(rc));
        }
        results_free(result);
        return st_map_rc(rc);
    }
    for (size_t i = 0; i < n; i++) {
        switch (result->results[i].outcome) {
        case STORE_STORED: result->stored++; break;
        case STORE_DUPLICATE: result->duplicates++; break;
        case STORE_REJECTED: result->rejected++; break;
        case STORE_DEFERRED: result->deferred++; break;
        }
    }
    log_debug("commit version=%llu items=%zu stored=%zu dup=%zu rejected=%zu deferred=%zu",
              (unsigned long long)result->version, n, result->stored, result->duplicates,
              result->rejected, result->deferred);
    return 0;
}

/* ---- child aggregators --------------------------------------------------------------------- */
static int child_set_cell(wctx_t *w, uint32_t child, const Dk__Cell *pc, tally_set_t *seen)
{
    if (!pc->has_unit || !pc->has_day || !pc->has_category || pc->n_m > TALLY_MAX_MEASURES) {
        log_error("child=%u: a cell without unit/day/category or with %zu measures", child,
                  pc->n_m);
        return DK_EINVAL;
    }
    store_unit_t *u;
    int rc = w_unit(w, pc->unit, false, true, child, &u);
    if (rc != 0) {
        return rc;
    }
    if (u->owner != child) {
        log_error("child=%u: unit=%u belongs to %s %u; apply refused", child, pc->unit,
                  u->owner ? "child" : "local events, not to a child", u->owner);
        return DK_EAUTH;
    }
    tally_cell_t *c;
    if ((rc = w_cell(w, pc->unit, pc->day, pc->category, &c)) != 0) {
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

static int child_set_unit(wctx_t *w, uint32_t child, const Dk__UnitState *pu)
{
    if (!pu->has_unit) {
        return DK_EINVAL;
    }
    store_unit_t *u;
    int rc = w_unit(w, pu->unit, false, true, child, &u);
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
    return 0;
}

/* Full snapshot: every cell the child owns that the pages did not mention becomes zero. */
static int child_zero_missing(wctx_t *w, uint32_t child, tally_set_t *seen)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(w->txn, w->s->dbi[DBI_OWNED], &cur);
    if (rc != 0) {
        return rc;
    }
    uint8_t start[4];
    st_put_u32(start, child);
    MDB_val k = {4, start}, v;
    /* Collect first: w_cell reads the cells DBI, not this one, but keep the cursor walk clean. */
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
        if ((rc = w_cell(w, unit, day, cat, &c)) == 0 && c->owner == child) {
            w->tallied = (uint64_t)((int64_t)w->tallied - c->m[DK__MEASURE__M_EVENTS]);
            memset(c->m, 0, sizeof c->m);
        }
    }
    free(keys);
    return rc;
}

static int child_apply_once(store_t *s, uint32_t child, const Dk__Snapshot *const *pages,
                            size_t npages, bool full, int64_t now, store_commit_t *res)
{
    wctx_t w;
    int rc = w_begin(s, &w);
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
    if (rc == 0 && (rc = w_unit(&w, child, true, true, 0, &rec)) == 0) {
        rec->child_version = child_version;
        rec->last_pull = now;
        rec->failed_pulls = 0;
        rec->last_error[0] = '\0';
    }
    tally_set_destroy(&seen);
    if (rc == 0) {
        w.meta_dirty = true;
        rc = w_end(&w, res, true);
    } else if (w.txn) {
        mdb_txn_abort(w.txn);
    }
    w_free(&w);
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
    int rc;
    for (;;) {
        rc = child_apply_once(self, child_unit, pages, npages, full, now, result);
        if (rc != MDB_MAP_FULL) {
            break;
        }
        results_free(result);
        if ((rc = grow_map(self)) != 0) {
            break;
        }
    }
    if (rc != 0) {
        results_free(result);
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
        wctx_t w;
        if ((rc = w_begin(self, &w)) != 0) {
            break;
        }
        store_unit_t *rec;
        if ((rc = w_unit(&w, child_unit, true, true, 0, &rec)) == 0) {
            rec->failed_pulls++;
            rec->last_attempt = now;
            snprintf(rec->last_error, sizeof rec->last_error, "%s", error ? error : "");
            rc = w_end(&w, &res, true);
        } else {
            mdb_txn_abort(w.txn);
        }
        w_free(&w);
        results_free(&res);
        if (rc != MDB_MAP_FULL || (rc = grow_map(self)) != 0) {
            break;
        }
    }
    return st_map_rc(rc);
}
