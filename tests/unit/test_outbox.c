/* Unit tests of agents/outbox: append, ack, reject, prune and retention, welcome reconciliation,
 * and reopening after the writer died without closing (SIGKILL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "outbox.h"
#include "record.h"
#include "wire.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "%s/outbox-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static Dk__Event *training(uint32_t participants, const uint8_t *origin)
{
    Dk__Event *ev = record_event_new(RECORD_ACTIVITY);
    ev->has_date = 1;
    ev->date = 20231118;
    ev->activity->has_kind = 1;
    ev->activity->kind = DK__ACTIVITY_KIND__TRAINING;
    ev->activity->has_sessions = 1;
    ev->activity->sessions = 1;
    ev->activity->has_participants = 1;
    ev->activity->participants = participants;
    if (origin) {
        ev->has_origin_key = 1;
        ev->origin_key.len = 16;
        ev->origin_key.data = malloc(16);
        memcpy(ev->origin_key.data, origin, 16);
    }
    return ev;
}

static void append_n(outbox_t *ob, int n, uint32_t base)
{
    for (int i = 0; i < n; i++) {
        Dk__Event *ev = training(base + (uint32_t)i, NULL);
        assert_int_equal(outbox_append(ob, &ev, 1, NULL), 1);
        record_event_free(&ev);
    }
}

static void test_append_and_read(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    Dk__Event *evs[3] = {training(10, NULL), training(11, NULL), training(12, NULL)};
    assert_int_equal(outbox_append(ob, evs, 3, NULL), 3);
    assert_int_equal(evs[0]->seq, 1);
    assert_int_equal(evs[2]->seq, 3);
    assert_int_equal(evs[1]->commune, 24664);
    assert_true(evs[1]->recorded_at > 0);
    for (int i = 0; i < 3; i++) {
        record_event_free(&evs[i]);
    }
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    assert_int_equal(st.waiting, 3);
    assert_int_equal(st.first_seq, 1);
    assert_int_equal(st.last_seq, 3);
    assert_true(st.oldest_waiting > 0);

    outbox_entry_t e[8];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 3);
    assert_int_equal(e[0].seq, 1);
    assert_int_equal(e[2].seq, 3);
    Dk__Event *back = NULL;
    assert_int_equal(wire_event_decode(e[1].packed, e[1].packed_len, &back), 0);
    assert_int_equal(back->seq, 2);
    assert_int_equal(back->activity->participants, 11);
    assert_int_equal(wire_check_event(back, NULL, NULL), 0);
    wire_event_free(&back);
    for (int i = 0; i < 3; i++) {
        outbox_entry_clear(&e[i]);
    }
    assert_int_equal(outbox_next_waiting(ob, 2, e, 8), 1);
    assert_int_equal(e[0].seq, 3);
    outbox_entry_clear(&e[0]);
    outbox_close(&ob);
    assert_null(ob);
    outbox_close(&ob); /* idempotent */

    /* Another commune's config on this folder is refused. */
    assert_int_equal(outbox_open(dir, 24667, false, &ob), DK_ECONFIG);
    assert_null(ob);
}

static void test_ack_reject(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 5, 10);
    uint64_t acked[] = {1, 2, 4};
    outbox_reject_t rej[] = {{3, DK_EV_DATE, "date", "Ngày không hợp lệ."}};
    assert_int_equal(outbox_apply_results(ob, acked, 3, rej, 1, 1000), 0);
    /* A late duplicate ack of an already acked or rejected event changes nothing. */
    uint64_t again[] = {1, 3};
    assert_int_equal(outbox_apply_results(ob, again, 2, NULL, 0, 2000), 0);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.acked, 3 - 0);
    assert_int_equal(st.rejected, 1);
    outbox_entry_t e[4];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 4), 1);
    assert_int_equal(e[0].seq, 5);
    outbox_entry_clear(&e[0]);
    assert_int_equal(outbox_rejected_list(ob, e, 4), 1);
    assert_int_equal(e[0].seq, 3);
    assert_int_equal(e[0].state, OUTBOX_REJECTED);
    assert_int_equal(e[0].code, DK_EV_DATE);
    assert_string_equal(e[0].field, "date");
    assert_string_equal(e[0].reason, "Ngày không hợp lệ.");
    outbox_entry_clear(&e[0]);
    assert_int_equal(outbox_get(ob, 1, &e[0]), 0);
    assert_int_equal(e[0].state, OUTBOX_ACKED);
    assert_int_equal(e[0].state_at, 1000);
    outbox_entry_clear(&e[0]);
    assert_int_equal(outbox_get(ob, 99, &e[0]), DK_ENOTFOUND);
    outbox_close(&ob);
}

static void test_prune_retention(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    outbox_set_retention(ob, 100);
    uint8_t key[16];
    memset(key, 7, sizeof key);
    Dk__Event *ev = training(1, key);
    assert_int_equal(outbox_append(ob, &ev, 1, NULL), 1);
    record_event_free(&ev);
    append_n(ob, 2, 20);
    uint64_t a1[] = {1, 2};
    uint64_t a2[] = {3};
    assert_int_equal(outbox_apply_results(ob, a1, 2, NULL, 0, 1000), 0);
    assert_int_equal(outbox_apply_results(ob, a2, 1, NULL, 0, 1050), 0);
    /* Within the window nothing goes. */
    assert_int_equal(outbox_prune(ob, 1099), 0);
    /* 1000 + 100 passed: seqs 1 and 2 go, 3 stays. */
    assert_int_equal(outbox_prune(ob, 1101), 2);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.acked, 1);
    assert_int_equal(st.first_seq, 3);
    assert_int_equal(st.last_seq, 3);
    outbox_entry_t e;
    assert_int_equal(outbox_get(ob, 1, &e), DK_ENOTFOUND);
    /* The origin key outlives the event: the same row again records nothing. */
    uint64_t seq = 0;
    assert_int_equal(outbox_has_origin(ob, key, &seq), 1);
    assert_int_equal(seq, 1);
    ev = training(1, key);
    bool was_new = true;
    assert_int_equal(outbox_append(ob, &ev, 1, &was_new), 0);
    assert_false(was_new);
    assert_int_equal(ev->seq, 1);
    record_event_free(&ev);
    outbox_close(&ob);
}

static void test_reconcile(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 6, 30);
    uint64_t acked[] = {1, 2, 3, 4};
    assert_int_equal(outbox_apply_results(ob, acked, 4, NULL, 0, 500), 0);
    const uint8_t *inst = outbox_instance(ob);
    uint64_t resent = 9, renum = 9;
    /* Aggregator restored from an older backup: it only has up to 2. */
    assert_int_equal(outbox_reconcile(ob, 2, 2, inst, 16, &resent, &renum), 0);
    assert_int_equal(resent, 2);
    assert_int_equal(renum, 0);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.waiting, 4); /* 3, 4 again, plus 5, 6 */
    assert_int_equal(st.acked, 2);
    outbox_entry_t e[8];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 4);
    assert_int_equal(e[0].seq, 3);
    for (int i = 0; i < 4; i++) {
        outbox_entry_clear(&e[i]);
    }
    /* The aggregator saw numbers up to 100 from this same instance: continue after 100. */
    assert_int_equal(outbox_reconcile(ob, 6, 100, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 0);
    append_n(ob, 1, 40);
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 101);
    outbox_close(&ob);
}

static void test_reinstalled(void **state)
{
    /* A fresh outbox records 3 events, then learns that another instance already used 1..50:
     * its waiting events are renumbered after 50, references remapped. */
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 2, 50);
    Dk__Event *v = record_event_new(RECORD_VOID);
    v->void_->has_target_seq = 1;
    v->void_->target_seq = 2;
    assert_int_equal(outbox_append(ob, &v, 1, NULL), 1);
    record_event_free(&v);
    uint8_t other[16];
    memset(other, 0xab, sizeof other);
    uint64_t resent, renum;
    assert_int_equal(outbox_reconcile(ob, 50, 50, other, 16, &resent, &renum), 0);
    assert_int_equal(renum, 3);
    outbox_entry_t e[4];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 4), 3);
    assert_int_equal(e[0].seq, 51);
    assert_int_equal(e[2].seq, 53);
    Dk__Event *back = NULL;
    assert_int_equal(wire_event_decode(e[2].packed, e[2].packed_len, &back), 0);
    assert_int_equal(back->seq, 53);
    assert_int_equal(back->void_->target_seq, 52);
    wire_event_free(&back);
    for (int i = 0; i < 3; i++) {
        outbox_entry_clear(&e[i]);
    }
    append_n(ob, 1, 60);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 54);
    outbox_close(&ob);
}

static void test_survives_sigkill(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        outbox_t *ob = NULL;
        if (outbox_open(dir, 24664, false, &ob) != 0) {
            _exit(3);
        }
        append_n(ob, 100, 1);
        /* Die without closing anything, with a read txn's reader slot possibly taken. */
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    assert_int_equal(st.waiting, 100);
    assert_int_equal(st.last_seq, 100);
    append_n(ob, 1, 1);
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 101);
    /* A reader beside the writer (what `status` does beside `run`). */
    outbox_t *ro = NULL;
    assert_int_equal(outbox_open(dir, 24664, true, &ro), 0);
    outbox_stats_t st2;
    assert_int_equal(outbox_stats(ro, &st2), 0);
    assert_int_equal(st2.waiting, 101);
    outbox_session_t s = {0}, s2;
    s.connected = true;
    s.last_ack = 12345;
    snprintf(s.last_error, sizeof s.last_error, "x");
    assert_int_equal(outbox_session_put(ob, &s), 0);
    assert_int_equal(outbox_session_get(ro, &s2), 0);
    assert_true(s2.connected);
    assert_int_equal(s2.last_ack, 12345);
    outbox_close(&ro);
    outbox_close(&ob);
}

static void test_readonly_missing(void **state)
{
    char path[300];
    snprintf(path, sizeof path, "%s/none", dir);
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(path, 24664, true, &ob), DK_ENOTFOUND);
    assert_null(ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reinstalled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_missing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
