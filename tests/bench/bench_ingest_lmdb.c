/* bench_ingest_lmdb — the baseline for tests/bench/bench_ingest.py: raw LMDB batched puts of the
 * same events the ingest benchmark pushes (dk-testclient's content for (commune, seq)), packed
 * with wire_event_encode, keyed commune u32 BE | seq u64 BE, 1,000 puts per write transaction,
 * default sync mode (every commit is durable, as the aggregator's are).
 *
 *   bench_ingest_lmdb DIR CLIENTS EVENTS_PER_CLIENT [PER_COMMIT]
 * Prints one JSON line: {"events": N, "seconds": S, "events_per_s": R, "commits": C}. */
#include <inttypes.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire.h"
#include "xmalloc.h"

static void make_event(Dk__Event *ev, Dk__Activity *act, Dk__FundMovement *fund, char *title,
                       uint32_t commune, uint64_t seq)
{
    dk__event__init(ev);
    ev->has_schema_version = true;
    ev->schema_version = WIRE_SCHEMA_VERSION;
    ev->has_commune = true;
    ev->commune = commune;
    ev->has_seq = true;
    ev->seq = seq;
    ev->has_recorded_at = true;
    ev->recorded_at = 1700000000 + (int64_t)seq;
    ev->has_date = true;
    ev->date = 20230000 + (uint32_t)(1 + seq % 12) * 100 + (uint32_t)(1 + seq % 28);
    ev->has_area = true;
    ev->area = (uint32_t)(1 + seq % 5);
    if (seq % 4 == 0) {
        dk__fund_movement__init(fund);
        fund->has_fund = fund->has_flow = fund->has_source = fund->has_amount = true;
        fund->fund = DK__FUND__FOR_THE_POOR;
        fund->flow = DK__FLOW__RECEIPT;
        fund->source = DK__SOURCE__INDIVIDUAL;
        fund->amount = 10000 * (1 + (seq * 7 + commune) % 500);
        ev->body_case = DK__EVENT__BODY_FUND;
        ev->fund = fund;
        snprintf(title, 64, "Ủng hộ quỹ Vì người nghèo %" PRIu64, seq);
    } else {
        dk__activity__init(act);
        act->has_kind = act->has_contents = act->has_channel = true;
        act->has_sessions = act->has_participants = true;
        act->kind = DK__ACTIVITY_KIND__PROPAGANDA;
        act->contents = 1u << (seq % 5);
        act->channel = DK__CHANNEL__CONFERENCE;
        act->sessions = (uint32_t)(1 + seq % 3);
        act->participants = (uint32_t)(10 + (seq * 13 + commune) % 90);
        ev->body_case = DK__EVENT__BODY_ACTIVITY;
        ev->activity = act;
        snprintf(title, 64, "Hội nghị tuyên truyền %" PRIu64, seq);
    }
    ev->title = title;
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_ingest_lmdb: %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_ingest_lmdb DIR CLIENTS EVENTS_PER_CLIENT [PER_COMMIT]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint32_t clients = (uint32_t)atoi(argv[2]);
    uint64_t per = strtoull(argv[3], NULL, 10);
    size_t per_commit = argc > 4 ? (size_t)atoi(argv[4]) : 1000;
    uint64_t n = clients * per;
    /* Pack every event first: the baseline measures the store, not protobuf. Events are put in
     * the interleaved order 20 concurrent clients produce. */
    uint8_t **bufs = xcalloc(n, sizeof *bufs);
    size_t *lens = xcalloc(n, sizeof *lens);
    uint8_t(*keys)[12] = xcalloc(n, 12);
    uint64_t k = 0;
    for (uint64_t s = 1; s <= per; s++) {
        for (uint32_t c = 0; c < clients; c++, k++) {
            Dk__Event ev;
            Dk__Activity act;
            Dk__FundMovement fund;
            char title[64];
            make_event(&ev, &act, &fund, title, 30001 + c, s);
            if (wire_event_encode(&ev, &bufs[k], &lens[k]) < 0) {
                return 1;
            }
            be32(keys[k], 30001 + c);
            be64(keys[k] + 4, s);
        }
    }
    MDB_env *env;
    check(mdb_env_create(&env), "env_create");
    check(mdb_env_set_mapsize(env, (size_t)8 << 30), "set_mapsize");
    check(mdb_env_open(env, dir, MDB_NOTLS, 0640), "env_open");
    MDB_txn *txn;
    MDB_dbi dbi;
    check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, NULL, 0, &dbi), "dbi_open");
    check(mdb_txn_commit(txn), "commit");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t commits = 0;
    for (uint64_t i = 0; i < n; i += per_commit) {
        check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin");
        for (uint64_t j = i; j < n && j < i + per_commit; j++) {
            MDB_val key = {12, keys[j]}, val = {lens[j], bufs[j]};
            check(mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE), "put");
        }
        check(mdb_txn_commit(txn), "commit");
        commits++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"events\": %" PRIu64 ", \"seconds\": %.3f, \"events_per_s\": %.0f, \"commits\": %" PRIu64
           "}\n",
           n, sec, (double)n / sec, commits);
    mdb_env_close(env);
    for (uint64_t i = 0; i < n; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(lens);
    free(keys);
    return 0;
}
