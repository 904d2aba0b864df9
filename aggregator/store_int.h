/* store_int — what the store's files (store.c, store_read.c, store_child.c, store_verify.c) share
 * (private to the store module; no other file includes this). */
#ifndef DK_STORE_INT_H
#define DK_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

enum {
    DBI_META = 0,
    DBI_EVENTS,
    DBI_EVLOG,
    DBI_DECIDED,
    DBI_ORIGINS,
    DBI_HEADS,
    DBI_CELLS,
    DBI_OWNED,
    DBI_UNITS,
    DBI_CHILDREN,
    DBI_CHANGES,
    DBI_SPARE,
};

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_NDBI];
    char *dir;
    bool ro;
    uint32_t unit;
    uint64_t map_size, max_map;
    unsigned max_readers;
    /* Shared by every txn of this process (read AND write), exclusive while the map is resized:
     * LMDB forbids mdb_env_set_mapsize while any txn of the process is alive (PITFALLS §3.5).
     * Taken only through st_lock_shared/st_unlock_shared, which are reentrant per thread (a read
     * callback may call another read function without deadlocking behind a waiting resize). */
    pthread_rwlock_t lock;
    uint8_t epoch[16]; /* meta "epoch", read (or made) at open */
    bool has_epoch;    /* false only for a read-only open of a store made before epochs */
};

/* The shared side of s->lock, reentrant per thread. st_lock_shared returns the thread's depth
 * after locking (1: this call took the lock). */
unsigned st_lock_shared(store_t *s);
void st_unlock_shared(store_t *s);
/* The number of times this thread holds s's shared lock (0: not at all). */
unsigned st_lock_depth(const store_t *s);

#define ST_EV_HDR 25 /* events value: version u64 | root u64 | recv_at i64 | flags u8 */
#define ST_UNIT_MAX (4 + 8 * 12 + 4 + 1 + 16 + 2 + 256)

/* A stored event's header, bytes and (on request) decoded body. bytes point into the txn. */
typedef struct {
    uint64_t version, root;
    int64_t recv_at;
    uint8_t flags; /* bit 0: a void */
    const uint8_t *bytes;
    size_t len;
    Dk__Event *ev; /* decoded when asked; st_evrec_clear frees it */
} st_evrec_t;

void st_put_u32(uint8_t *p, uint32_t v);
void st_put_u64(uint8_t *p, uint64_t v);
uint32_t st_get_u32(const uint8_t *p);
uint64_t st_get_u64(const uint8_t *p);
void st_seq_key(uint8_t key[12], uint32_t commune, uint64_t seq);
/* LMDB / errno / DK code -> DK code. */
int st_map_rc(int rc);

size_t st_unit_encode(const store_unit_t *u, uint8_t buf[ST_UNIT_MAX]);
int st_unit_decode(const void *val, size_t len, uint32_t unit, store_unit_t *u);

/* A read txn under the store's shared lock (adopts a map grown by another process). */
int st_rd_begin(store_t *s, MDB_txn **txn);
void st_rd_end(store_t *s, MDB_txn *txn);
uint64_t st_meta_get(MDB_txn *txn, store_t *s, const char *name);

/* ---- the write context (store.c): one write txn and caches of the cells and units it touched.
 * Used by store_commit.c and store_child.c; every write goes begin -> st_w_cell/st_w_unit ->
 * st_w_end -> st_w_free, all on one thread. */
/* A unit state (or child record) as loaded (orig) and as changed (cur). */
typedef struct {
    store_unit_t cur, orig;
    bool existed, child_rec; /* child_rec: a record of the children DBI */
} st_wunit_t;

/* One write txn in progress. */
typedef struct {
    store_t *s;
    MDB_txn *txn;
    uint64_t prev, next; /* versions */
    uint64_t events, rejected, tallied;
    bool meta_dirty;
    tally_set_t *cells, *orig;
    st_wunit_t *units;
    size_t nunits, capunits;
    int64_t now;
    bool locked;       /* holds s->lock shared (st_lock_shared) */
    uint64_t map_size; /* the map size this txn runs with (st_grow_map's `seen`) */
} st_wctx_t;

/* Begins a write txn (holding s->lock shared until st_w_free) and loads the meta counters.
 * Returns 0 or an LMDB code; on failure w holds nothing. */
int st_w_begin(store_t *s, st_wctx_t *w);
/* The cached cell, loaded on first use (all zero when absent). Returns 0, DK_ESTORE, LMDB code. */
int st_w_cell(st_wctx_t *w, uint32_t unit, uint32_t day, uint64_t cat, tally_cell_t **out);
/* The cached unit state (child_rec: the children DBI's record), loaded on first use; created
 * with owner when absent and create is set, else DK_ENOTFOUND. */
int st_w_unit(st_wctx_t *w, uint32_t unit, bool child_rec, bool create, uint32_t owner,
              store_unit_t **out);
/* Writes every changed object with the next version and commits (or aborts when nothing changed
 * and !force); fills result's version, prev_version, epoch, cells and units. */
int st_w_end(st_wctx_t *w, store_commit_t *result, bool force);
/* Aborts a txn still alive, releases the shared lock, frees the caches. */
void st_w_free(st_wctx_t *w);
/* Grows the map after MDB_MAP_FULL of a txn that ran with map size `seen` (no txn of the calling
 * thread may be alive). Returns 0 (retry), DK_EFULL, DK_ESTORE. */
int st_grow_map(store_t *s, uint64_t seen);
/* Frees what a store_commit_t owns and zeroes it (store_commit.c). */
void st_results_free(store_commit_t *r);

/* Returns 0, MDB_NOTFOUND, DK_EDECODE or an LMDB code. */
int st_event_load(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq, bool decode,
                  st_evrec_t *out);
int st_event_parse(const void *val, size_t len, bool decode, st_evrec_t *out);
void st_evrec_clear(st_evrec_t *r);
/* The chain head and void of root (head = root, voided = 0 when never corrected). */
int st_head_get(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t root, uint64_t *head,
                uint64_t *voided);

#endif
