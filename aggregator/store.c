/* store — LMDB storage of dk-aggregator: the env (open/close, epoch, the shared lock, map growth),
 * the unit state encoding, the write context every write txn goes through, and stored event
 * records. The rest of the module, by noun: store_commit.c (events), store_child.c (child
 * aggregators), store_read.c (snapshots, queries), store_verify.c, store_backup.c. The contract
 * and the LMDB layout are in store.h; what the files share, in store_int.h. */
#define LOG_TAG "store"
#include "store.h"

#include <assert.h>
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

/* Which stores this thread holds the shared lock of, and how many times. A read callback that
 * calls another read function takes the shared lock again; with a writer-preferring rwlock a
 * second rdlock behind a waiting map resize would deadlock (the resize waits for our first
 * rdlock), so nested takes only count. A thread rarely has more than one store open. */
#define HELD_MAX 8
static _Thread_local struct {
    const store_t *s;
    unsigned depth;
} held[HELD_MAX];

unsigned st_lock_depth(const store_t *s)
{
    for (int i = 0; i < HELD_MAX; i++) {
        if (held[i].s == s) {
            return held[i].depth;
        }
    }
    return 0;
}

unsigned st_lock_shared(store_t *s)
{
    int free_slot = -1;
    for (int i = 0; i < HELD_MAX; i++) {
        if (held[i].s == s) {
            return ++held[i].depth;
        }
        if (!held[i].s && free_slot < 0) {
            free_slot = i;
        }
    }
    assert(free_slot >= 0 && "a thread holds the locks of too many stores at once");
    pthread_rwlock_rdlock(&s->lock);
    held[free_slot].s = s;
    held[free_slot].depth = 1;
    return 1;
}

void st_unlock_shared(store_t *s)
{
    for (int i = 0; i < HELD_MAX; i++) {
        if (held[i].s == s) {
            if (--held[i].depth == 0) {
                held[i].s = NULL;
                pthread_rwlock_unlock(&s->lock);
            }
            return;
        }
    }
    assert(!"st_unlock_shared without st_lock_shared");
}

/* Adopts a map grown by another process (MDB_MAP_RESIZED). No txn of this process may be alive,
 * hence the exclusive lock; a thread that already holds the shared lock (a nested txn) cannot. */
static bool adopt_map(store_t *s)
{
    if (st_lock_depth(s) > 0) {
        return false;
    }
    pthread_rwlock_wrlock(&s->lock);
    int rc = mdb_env_set_mapsize(s->env, 0);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&s->lock);
    return rc == 0;
}

int st_rd_begin(store_t *s, MDB_txn **txn)
{
    for (int tries = 0;; tries++) {
        st_lock_shared(s);
        int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
        if (rc == 0) {
            return 0;
        }
        st_unlock_shared(s);
        if (rc == MDB_MAP_RESIZED && tries < 3 && adopt_map(s)) {
            continue; /* another process (the daemon) grew the map: adopted, try again */
        }
        log_error("read txn dir=%s: %s", s->dir, mdb_strerror(rc));
        return DK_ESTORE;
    }
}

void st_rd_end(store_t *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    st_unlock_shared(s);
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

static void epoch_hex(const uint8_t e[STORE_EPOCH_LEN], char out[2 * STORE_EPOCH_LEN + 1])
{
    sodium_bin2hex(out, 2 * STORE_EPOCH_LEN + 1, e, STORE_EPOCH_LEN);
}

/* Reads the epoch into s, or (read-write) makes one: for a new store, for a store made before
 * epochs existed, and for a store_backup copy opened read-write for the first time (its "restored"
 * mark is cleared in the same txn). A restored copy must not reuse the epoch of the store it was
 * copied from: that store went on to versions the copy never had, and a parent holding one of
 * them must not take the copy's later versions for a continuation (DESIGN.md guarantee 5). */
static int open_epoch(MDB_txn *txn, store_t *s)
{
    MDB_val k = {5, "epoch"}, v;
    int rc = mdb_get(txn, s->dbi[DBI_META], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    bool have = rc == 0 && v.mv_size == STORE_EPOCH_LEN;
    if (have) {
        memcpy(s->epoch, v.mv_data, STORE_EPOCH_LEN);
        s->has_epoch = true;
    }
    if (s->ro) {
        return 0;
    }
    bool restored = st_meta_get(txn, s, "restored") != 0;
    if (have && !restored) {
        return 0;
    }
    char old[2 * STORE_EPOCH_LEN + 1] = "-", now[2 * STORE_EPOCH_LEN + 1];
    if (have) {
        epoch_hex(s->epoch, old);
    }
    randombytes_buf(s->epoch, STORE_EPOCH_LEN);
    s->has_epoch = true;
    epoch_hex(s->epoch, now);
    v.mv_size = STORE_EPOCH_LEN;
    v.mv_data = s->epoch;
    if ((rc = mdb_put(txn, s->dbi[DBI_META], &k, &v, 0)) != 0) {
        return rc;
    }
    if (restored) {
        MDB_val rk = {8, "restored"};
        if ((rc = mdb_del(txn, s->dbi[DBI_META], &rk, NULL)) != 0) {
            return rc;
        }
        log_warn("open dir=%s: first read-write open of a restored backup (version=%llu): new "
                 "epoch=%s (was %s); parents will pull a full snapshot",
                 s->dir, (unsigned long long)st_meta_get(txn, s, "version"), now, old);
    } else {
        log_info("open dir=%s: new epoch=%s", s->dir, now);
    }
    return 0;
}

int store_epoch(const store_t *self, uint8_t out[STORE_EPOCH_LEN])
{
    if (!self->has_epoch) {
        memset(out, 0, STORE_EPOCH_LEN);
        return DK_ENOTFOUND;
    }
    memcpy(out, self->epoch, STORE_EPOCH_LEN);
    return 0;
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
        rc = open_epoch(txn, s);
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

/* Doubles the map after MDB_MAP_FULL; `seen` is the map size the failed txn ran with. Only valid
 * with no txn of this process alive: the caller has aborted its write txn, and the exclusive lock
 * waits for every other txn, read or write, of every thread (each holds the lock shared). When two
 * writers hit MAP_FULL one after the other, the second finds the map already grown past `seen`
 * and just retries. A thread inside a read callback holds the lock shared itself and cannot wait
 * for the exclusive lock: DK_EFULL (logged) rather than a self-deadlock. */
int st_grow_map(store_t *s, uint64_t seen)
{
    if (st_lock_depth(s) > 0) {
        log_error("map full dir=%s: a write inside a read callback cannot grow the map", s->dir);
        return DK_EFULL;
    }
    pthread_rwlock_wrlock(&s->lock);
    int rc = 0;
    uint64_t next = s->map_size;
    if (s->map_size <= seen) {
        if (s->map_size >= s->max_map) {
            pthread_rwlock_unlock(&s->lock);
            log_error("map full dir=%s map=%llu: the maximum map size is reached", s->dir,
                      (unsigned long long)s->map_size);
            return DK_EFULL;
        }
        next = s->map_size * 2 > s->max_map ? s->max_map : s->map_size * 2;
        if ((rc = mdb_env_set_mapsize(s->env, next)) == 0) {
            MDB_envinfo info;
            mdb_env_info(s->env, &info);
            s->map_size = info.me_mapsize;
            next = s->map_size;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    if (rc != 0) {
        log_error("map grow dir=%s to %llu: %s", s->dir, (unsigned long long)next,
                  mdb_strerror(rc));
        return DK_ESTORE;
    }
    if (next > seen) {
        log_warn("map grown dir=%s map=%llu", s->dir, (unsigned long long)next);
    }
    return 0;
}

/* ---- the write context: caches of cells and units touched by one txn --------------------- */

/* Ends what w holds: aborts a txn still alive, releases the shared lock, frees the caches. */
void st_w_free(st_wctx_t *w)
{
    if (w->txn) {
        mdb_txn_abort(w->txn);
        w->txn = NULL;
    }
    if (w->locked) {
        st_unlock_shared(w->s);
        w->locked = false;
    }
    tally_set_destroy(&w->cells);
    tally_set_destroy(&w->orig);
    free(w->units);
    w->units = NULL;
    w->nunits = w->capunits = 0;
}

/* Begins the write txn holding the shared lock until st_w_free: a map resize by another thread
 * (st_grow_map) must wait for this txn too, not only for readers. On failure w holds nothing. */
int st_w_begin(store_t *s, st_wctx_t *w)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    st_lock_shared(s);
    int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    if (rc == MDB_MAP_RESIZED) {
        st_unlock_shared(s);
        if (!adopt_map(s)) {
            w->txn = NULL;
            return rc;
        }
        st_lock_shared(s);
        rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    }
    if (rc != 0) {
        st_unlock_shared(s);
        w->txn = NULL;
        return rc;
    }
    w->locked = true;
    w->map_size = s->map_size;
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
int st_w_cell(st_wctx_t *w, uint32_t unit, uint32_t day, uint64_t cat, tally_cell_t **out)
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
int st_w_unit(st_wctx_t *w, uint32_t unit, bool child_rec, bool create, uint32_t owner,
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
    st_wunit_t *wu = &w->units[w->nunits];
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

static int changes_put(st_wctx_t *w, uint64_t version, uint8_t type, const uint8_t *id, size_t idlen,
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
static int w_flush(st_wctx_t *w, store_commit_t *result, size_t *changed)
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
        st_wunit_t *wu = &w->units[i];
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
int st_w_end(st_wctx_t *w, store_commit_t *result, bool force)
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
    memcpy(result->epoch, w->s->epoch, STORE_EPOCH_LEN);
    return rc;
}

/* ---- stored event records ------------------------------------------------------------------ */
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
