/* Reviewer's test of aggregator/ingest's queue limit, on a real store (LMDB in a temporary folder)
 * and a real libuv loop.
 *
 * ingest_submit_raw refuses (DK_EAGAIN) a batch when queued + batch > INGEST_QUEUE_FACTOR x
 * max-batch, even when nothing is queued. With an accepted config value max-batch = 16 (aconf
 * allows 1..1000000) the limit is 128 events, and an agent's batch of 256 events (its default,
 * agentconf "batch") is refused for ever: the commune's events never get in.
 */
/* dk-link: dkaggregator */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "aconf.h"
#include "err.h"
#include "ingest.h"
#include "store.h"

static void on_done(void *arg, const Dk__Ack *ack)
{
    (void)ack;
    (*(int *)arg)++;
}

static void test_empty_queue_accepts_a_full_agent_batch(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/review-ingest-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    store_opts_t o = {.map_size = 8u << 20, .unit = 663};
    store_t *s = NULL;
    assert_int_equal(store_open(dir, &o, &s), 0);
    aconf_t conf;
    memset(&conf, 0, sizeof conf);
    conf.agg.commit_window = 5;
    conf.agg.max_batch = 16; /* a valid setting: [aggregator] max-batch = 16 */
    uv_loop_t loop;
    uv_loop_init(&loop);
    ingest_t *in = NULL;
    assert_int_equal(ingest_new(&in, &loop, s, &conf), 0);

    enum { N = 256 }; /* agents/agentconf.c: batch default 256 */
    Dk__Event ev[N];
    Dk__Event *evp[N];
    for (int i = 0; i < N; i++) {
        dk__event__init(&ev[i]);
        ev[i].has_commune = 1;
        ev[i].commune = 24664;
        ev[i].has_seq = 1;
        ev[i].seq = (uint64_t)i + 1;
        evp[i] = &ev[i];
    }
    Dk__Batch b = DK__BATCH__INIT;
    b.has_batch_id = 1;
    b.batch_id = 1;
    b.n_events = N;
    b.events = evp;
    int done = 0;
    int rc = ingest_submit(in, 24664, &b, on_done, &done);
    printf("# ingest_submit of a %d-event batch into an EMPTY queue (max-batch 16): %d (%s)\n", N,
           rc, rc < 0 ? err_str(rc) : "accepted");
    /* The agent retries after a backoff: the queue is still empty and it is refused again. */
    int rc2 = ingest_submit(in, 24664, &b, on_done, &done);
    printf("# the retry: %d (%s)\n", rc2, rc2 < 0 ? err_str(rc2) : "accepted");
    if (rc == 0 || rc2 == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    ingest_destroy(&in);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    store_close(&s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_queue_accepts_a_full_agent_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
