/* store_int — what store.c and store_read.c share (private to the store module; no other file
 * includes this). */
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
    /* Shared by every read txn of this process, exclusive while the map is resized: LMDB forbids
     * mdb_env_set_mapsize while any txn of the process is alive (PITFALLS §3.5). */
    pthread_rwlock_t lock;
};

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

/* Returns 0, MDB_NOTFOUND, DK_EDECODE or an LMDB code. */
int st_event_load(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq, bool decode,
                  st_evrec_t *out);
int st_event_parse(const void *val, size_t len, bool decode, st_evrec_t *out);
void st_evrec_clear(st_evrec_t *r);
/* The chain head and void of root (head = root, voided = 0 when never corrected). */
int st_head_get(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t root, uint64_t *head,
                uint64_t *voided);

#endif
