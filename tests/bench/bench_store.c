/* bench_store — events/s committed through store_commit at 1,000 events per txn, beside a raw
 * LMDB baseline measured in the same run: the same packed bytes put under (commune, seq) keys,
 * 1,000 per commit, default sync. Prints both and the ratio. Not a pass/fail test.
 *
 *   bench_store [EVENTS [DAYS]]   default 200000 events spread over 28 days (DAYS = 1: every
 *                                 event on one day, so a commit touches few cells) */
/* dk-link: dkaggregator */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define PER_TXN 1000
#define COMMUNES 20

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    Dk__Event ev;
    Dk__Activity act;
    uint8_t buf[128];
    size_t len;
} bev_t;

static void make(bev_t *b, uint32_t commune, uint64_t seq, unsigned days)
{
    dk__event__init(&b->ev);
    dk__activity__init(&b->act);
    b->ev.has_schema_version = b->ev.has_commune = b->ev.has_seq = b->ev.has_date = 1;
    b->ev.schema_version = 1;
    b->ev.commune = commune;
    b->ev.seq = seq;
    b->ev.date = 20231101 + (uint32_t)(seq % days);
    b->ev.has_recorded_at = 1;
    b->ev.recorded_at = 1700000000 + (int64_t)seq;
    b->act.has_kind = b->act.has_participants = b->act.has_sessions = 1;
    b->act.kind = (Dk__ActivityKind)(1 + seq % 3);
    b->act.sessions = 1;
    b->act.participants = (uint32_t)(10 + seq % 90);
    b->ev.body_case = DK__EVENT__BODY_ACTIVITY;
    b->ev.activity = &b->act;
    b->len = dk__event__pack(&b->ev, b->buf);
}

static int raw_baseline(const char *dir, bev_t *evs, size_t n, double *secs)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 4ull << 30) ||
        mdb_env_set_maxdbs(env, 4) || mdb_env_open(env, dir, MDB_NOTLS, 0640)) {
        return -1;
    }
    double t0 = now_s();
    for (size_t i = 0; i < n; i += PER_TXN) {
        if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, "events", MDB_CREATE, &dbi)) {
            return -1;
        }
        for (size_t j = i; j < i + PER_TXN && j < n; j++) {
            uint8_t key[12];
            uint32_t c = (uint32_t)evs[j].ev.commune;
            uint64_t s = evs[j].ev.seq;
            for (int b = 0; b < 4; b++) {
                key[b] = (uint8_t)(c >> (24 - 8 * b));
            }
            for (int b = 0; b < 8; b++) {
                key[4 + b] = (uint8_t)(s >> (56 - 8 * b));
            }
            MDB_val k = {12, key}, v = {evs[j].len, evs[j].buf};
            if (mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)) {
                return -1;
            }
        }
        if (mdb_txn_commit(txn)) {
            return -1;
        }
    }
    *secs = now_s() - t0;
    mdb_env_close(env);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    n = (n + PER_TXN - 1) / PER_TXN * PER_TXN;
    unsigned days = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 28;
    if (days < 1 || days > 28) {
        days = 28;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char d1[256], d2[256], cmd[600];
    snprintf(d1, sizeof d1, "%s/bench_store.XXXXXX", tmp);
    snprintf(d2, sizeof d2, "%s/bench_raw.XXXXXX", tmp);
    if (!mkdtemp(d1) || !mkdtemp(d2)) {
        perror("mkdtemp");
        return 1;
    }
    bev_t *evs = calloc(n, sizeof *evs);
    /* Interleave communes as concurrent agents would: each commit holds all 20. */
    for (size_t i = 0; i < n; i++) {
        make(&evs[i], 24600 + (uint32_t)(i % COMMUNES), i / COMMUNES + 1, days);
    }
    double raw = 0;
    if (raw_baseline(d2, evs, n, &raw) != 0) {
        fprintf(stderr, "raw baseline failed\n");
        return 1;
    }
    store_t *s;
    store_opts_t o = {.map_size = 4ull << 30};
    if (store_open(d1, &o, &s) != 0) {
        return 1;
    }
    store_item_t *items = calloc(PER_TXN, sizeof *items);
    double t0 = now_s();
    for (size_t i = 0; i < n; i += PER_TXN) {
        for (size_t j = 0; j < PER_TXN; j++) {
            items[j].commune = (uint32_t)evs[i + j].ev.commune;
            items[j].ev = &evs[i + j].ev;
            items[j].bytes = evs[i + j].buf;
            items[j].len = evs[i + j].len;
        }
        store_commit_t r;
        if (store_commit(s, items, PER_TXN, NULL, 0, &r) != 0 || r.stored != PER_TXN) {
            fprintf(stderr, "commit failed at %zu\n", i);
            return 1;
        }
        store_commit_clear(&r);
    }
    double st = now_s() - t0;
    int v = store_verify(s, NULL);
    store_close(&s);
    printf("bench_store events=%zu per_txn=%d communes=%d days=%u\n", n, PER_TXN, COMMUNES, days);
    printf("  raw LMDB puts : %10.0f events/s (%.2f s)\n", n / raw, raw);
    printf("  store_commit  : %10.0f events/s (%.2f s)\n", n / st, st);
    printf("  ratio store/raw: %.2f   verify: %s\n", raw / st, v == 0 ? "ok" : "MISMATCH");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d1, d2);
    if (system(cmd) != 0) {
        return 1;
    }
    free(items);
    free(evs);
    return v == 0 ? 0 : 1;
}
