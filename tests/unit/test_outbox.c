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
    /* The aggregator saw numbers up to 100 from this same instance (this outbox is an older copy)
     * and has decided 1..6: the waiting 3..6 may be other events under those numbers, so they
     * move to 101..104 (each carries an origin key: if it was ours, the aggregator answers
     * DUPLICATE), and numbering continues after them. */
    assert_int_equal(outbox_reconcile(ob, 6, 100, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 4);
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 4);
    assert_int_equal(e[0].seq, 101);
    assert_int_equal(e[3].seq, 104);
    for (int i = 0; i < 4; i++) {
        outbox_entry_clear(&e[i]);
    }
    append_n(ob, 1, 40);
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 105);
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

/* Decodes waiting entries e[0..n) into ev[] (caller frees). */
static void decode_all(outbox_entry_t *e, int n, Dk__Event **ev)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(wire_event_decode(e[i].packed, e[i].packed_len, &ev[i]), 0);
        assert_int_equal(ev[i]->seq, e[i].seq);
    }
}

/* Every event is stored with an origin key (a CLI event gets a random one), so a renumbered event
 * the aggregator already has is a DUPLICATE there; the caller's event is left without one, and
 * generated keys stay out of the CSV origin index. */
static void test_every_event_has_origin_key(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    Dk__Event *evs[2] = {training(1, NULL), training(1, NULL)};
    assert_int_equal(outbox_append(ob, evs, 2, NULL), 2);
    assert_false(evs[0]->has_origin_key);
    record_event_free(&evs[0]);
    record_event_free(&evs[1]);
    outbox_entry_t e[2];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 2), 2);
    Dk__Event *back[2];
    decode_all(e, 2, back);
    assert_true(back[0]->has_origin_key && back[0]->origin_key.len == 16);
    assert_true(back[1]->has_origin_key && back[1]->origin_key.len == 16);
    assert_memory_not_equal(back[0]->origin_key.data, back[1]->origin_key.data, 16);
    assert_int_equal(outbox_has_origin(ob, back[0]->origin_key.data, NULL), 0);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.origin_keys, 0);
    for (int i = 0; i < 2; i++) {
        wire_event_free(&back[i]);
        outbox_entry_clear(&e[i]);
    }
    outbox_close(&ob);
}

/* Fix 1, restored disk image: this outbox (same instance) acked 1; the aggregator holds 1..3 from
 * the lost future. A receipt recorded offline got seq 2 and a correction of it seq 3: both move
 * above 3, the correction still pointing at the receipt. */
static void test_restored_image_renumbers_decided_seqs(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 1, 10);
    uint64_t a1[] = {1};
    assert_int_equal(outbox_apply_results(ob, a1, 1, NULL, 0, 100), 0);
    append_n(ob, 1, 20); /* seq 2, offline after the restore */
    Dk__Event *c = training(21, NULL);
    c->has_corrects_seq = 1;
    c->corrects_seq = 2;
    assert_int_equal(outbox_append(ob, &c, 1, NULL), 1);
    assert_int_equal(c->seq, 3);
    record_event_free(&c);
    uint64_t resent = 9, renum = 9;
    assert_int_equal(outbox_reconcile(ob, 3, 3, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(renum, 2);
    assert_int_equal(resent, 0);
    outbox_entry_t e[4];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 4), 2);
    Dk__Event *back[2];
    decode_all(e, 2, back);
    assert_int_equal(back[0]->seq, 4);
    assert_int_equal(back[0]->activity->participants, 20);
    assert_int_equal(back[1]->seq, 5);
    assert_int_equal(back[1]->corrects_seq, 4);
    for (int i = 0; i < 2; i++) {
        wire_event_free(&back[i]);
        outbox_entry_clear(&e[i]);
    }
    /* The acked event kept its number; numbering continues after the moved ones. */
    assert_int_equal(outbox_get(ob, 1, &e[0]), 0);
    assert_int_equal(e[0].state, OUTBOX_ACKED);
    outbox_entry_clear(&e[0]);
    append_n(ob, 1, 30);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 6);
    /* The same Welcome again moves nothing more. */
    assert_int_equal(outbox_reconcile(ob, 3, 3, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(renum, 0);
    outbox_close(&ob);
}

/* Fix 1, a seq the aggregator may not have decided (above its high-water mark) keeps its number
 * until the aggregator answers DK_EV_CONFLICT; then it is not rejected but stays waiting, and the
 * next Welcome moves it (and what corrects it) above max_seq. A legacy outbox holding such a
 * conflict as a rejection gets it back the same way. */
static void test_conflict_is_renumbered_not_rejected(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 4, 10); /* 1..4 */
    Dk__Event *v = record_event_new(RECORD_VOID);
    v->void_->has_target_seq = 1;
    v->void_->target_seq = 3;
    assert_int_equal(outbox_append(ob, &v, 1, NULL), 1); /* 5 voids 3 */
    record_event_free(&v);
    uint64_t a1[] = {1};
    assert_int_equal(outbox_apply_results(ob, a1, 1, NULL, 0, 100), 0);
    const uint8_t *inst = outbox_instance(ob);
    uint64_t resent, renum;
    /* hw 1, max 9 (holes): nothing is known decided among the waiting 2..5: nothing moves. */
    assert_int_equal(outbox_reconcile(ob, 1, 9, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 0);
    outbox_reject_t rej[] = {{3, DK_EV_CONFLICT, "seq", "Số thứ tự 3 đã được dùng."},
                             {4, DK_EV_DATE, "date", "Ngày không hợp lệ."}};
    uint64_t a2[] = {2};
    assert_int_equal(outbox_apply_results(ob, a2, 1, rej, 2, 200), 0);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.rejected, 1); /* only 4 */
    assert_int_equal(st.waiting, 2);  /* 3 and 5 */
    assert_int_equal(outbox_reconcile(ob, 2, 9, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 2); /* 3, and 5 that voids it */
    assert_int_equal(resent, 1); /* rejected 4 is above high_water 2: decided again */
    outbox_entry_t e[4];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 4), 3);
    assert_int_equal(e[0].seq, 4);
    outbox_entry_clear(&e[0]);
    Dk__Event *back[2];
    decode_all(e + 1, 2, back);
    assert_int_equal(back[0]->seq, 10);
    assert_int_equal(back[0]->activity->participants, 12);
    assert_int_equal(back[1]->seq, 11);
    assert_int_equal(back[1]->void_->target_seq, 10);
    for (int i = 0; i < 2; i++) {
        outbox_entry_clear(&e[i + 1]);
        wire_event_free(&back[i]);
    }
    /* Resent 4 is answered DK_EV_CONFLICT in turn: it stays waiting (not rejected) and moves at
     * the next Welcome, its old rejection record following it until a new result arrives. */
    outbox_reject_t cf[] = {{4, DK_EV_CONFLICT, "seq", "Số thứ tự 4 đã được dùng."}};
    assert_int_equal(outbox_apply_results(ob, NULL, 0, cf, 1, 300), 0);
    outbox_stats(ob, &st);
    assert_int_equal(st.waiting, 3);
    assert_int_equal(outbox_reconcile(ob, 4, 11, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 1);
    assert_int_equal(outbox_next_waiting(ob, 0, e, 4), 3);
    assert_int_equal(e[0].seq, 10);
    assert_int_equal(e[2].seq, 12);
    for (int i = 0; i < 3; i++) {
        outbox_entry_clear(&e[i]);
    }
    assert_int_equal(outbox_get(ob, 12, &e[0]), 0);
    assert_int_equal(e[0].state, OUTBOX_WAITING);
    outbox_entry_clear(&e[0]);
    assert_int_equal(outbox_rejected_list(ob, e, 4), 1);
    assert_int_equal(e[0].seq, 12);
    assert_int_equal(e[0].code, DK_EV_DATE);
    outbox_entry_clear(&e[0]);
    /* The mark is used up: the next Welcome moves nothing. */
    assert_int_equal(outbox_reconcile(ob, 4, 12, inst, 16, &resent, &renum), 0);
    assert_int_equal(renum, 0);
    outbox_close(&ob);
}

/* Fix 2: a reinstalled outbox holding more waiting events (1..5) than the aggregator's max_seq (3)
 * renumbers them to 4..8 (old and new ranges overlap: nothing may be overwritten), with no hole,
 * references remapped and the CSV origin index following. */
static void test_reinstall_overlap_no_gap(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    uint8_t key[16];
    memset(key, 0x5a, sizeof key);
    Dk__Event *k = training(100, key);
    assert_int_equal(outbox_append(ob, &k, 1, NULL), 1); /* 1, a CSV row */
    record_event_free(&k);
    append_n(ob, 3, 101); /* 2..4 */
    Dk__Event *c = training(200, NULL);
    c->has_corrects_seq = 1;
    c->corrects_seq = 4;
    assert_int_equal(outbox_append(ob, &c, 1, NULL), 1); /* 5 corrects 4 */
    record_event_free(&c);
    uint8_t other[16];
    memset(other, 0xcd, sizeof other);
    uint64_t resent, renum;
    assert_int_equal(outbox_reconcile(ob, 3, 3, other, 16, &resent, &renum), 0);
    assert_int_equal(renum, 5);
    outbox_entry_t e[8];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 5);
    Dk__Event *back[5];
    decode_all(e, 5, back);
    uint32_t want_p[] = {100, 101, 102, 103, 200};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(back[i]->seq, 4 + (uint64_t)i);
        assert_int_equal(back[i]->activity->participants, want_p[i]);
    }
    assert_int_equal(back[4]->corrects_seq, 7);
    for (int i = 0; i < 5; i++) {
        wire_event_free(&back[i]);
        outbox_entry_clear(&e[i]);
    }
    uint64_t seq = 0;
    assert_int_equal(outbox_has_origin(ob, key, &seq), 1);
    assert_int_equal(seq, 4);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 8);
    assert_int_equal(st.waiting, 5);
    /* All delivered: the aggregator's high-water mark reaches 8, nothing comes back. */
    uint64_t all[] = {4, 5, 6, 7, 8};
    assert_int_equal(outbox_apply_results(ob, all, 5, NULL, 0, 100), 0);
    assert_int_equal(outbox_reconcile(ob, 8, 8, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(resent, 0);
    assert_int_equal(renum, 0);
    outbox_close(&ob);
}

/* Fix 2, base: a renumbering never lands on (or below) a number the outbox holds in another
 * state; here acked 4 (the aggregator lost it: restored) keeps its number and is resent, the
 * waiting events ≤ high_water move to the free numbers around it. */
static void test_renumber_skips_held_numbers(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 5, 10); /* 1..5 */
    uint64_t a[] = {4};
    assert_int_equal(outbox_apply_results(ob, a, 1, NULL, 0, 100), 0);
    uint64_t resent, renum;
    /* hw 3 = max 3: 1..3 decided (ours, acks lost, or not); 4 lost; 5 never arrived. */
    assert_int_equal(outbox_reconcile(ob, 3, 3, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(renum, 3);
    assert_int_equal(resent, 1);
    outbox_entry_t e[8];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 5);
    uint64_t want[] = {4, 5, 6, 7, 8};
    uint32_t want_p[] = {13, 14, 10, 11, 12};
    Dk__Event *back[5];
    decode_all(e, 5, back);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(back[i]->seq, want[i]);
        assert_int_equal(back[i]->activity->participants, want_p[i]);
        wire_event_free(&back[i]);
        outbox_entry_clear(&e[i]);
    }
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.last_seq, 8);
    outbox_close(&ob);
}

/* Fix 3: an aggregator restored from an older backup gets the events it had rejected after the
 * backup again too (else its high-water mark stops below them for ever); the rejection stays
 * visible until the new result. */
static void test_restore_resends_rejected(void **state)
{
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(dir, 24664, false, &ob), 0);
    append_n(ob, 5, 10);
    uint64_t acked[] = {1, 2, 4, 5};
    outbox_reject_t rej[] = {{3, DK_EV_AREA, "area", "Khu dân cư không có."}};
    assert_int_equal(outbox_apply_results(ob, acked, 4, rej, 1, 100), 0);
    uint64_t resent, renum;
    /* Nothing lost: nothing moves. */
    assert_int_equal(outbox_reconcile(ob, 5, 5, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(resent, 0);
    /* Restored to a backup holding 1 only. */
    assert_int_equal(outbox_reconcile(ob, 1, 1, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(resent, 4);
    assert_int_equal(renum, 0);
    outbox_entry_t e[8];
    assert_int_equal(outbox_next_waiting(ob, 0, e, 8), 4);
    assert_int_equal(e[0].seq, 2);
    assert_int_equal(e[1].seq, 3);
    for (int i = 0; i < 4; i++) {
        outbox_entry_clear(&e[i]);
    }
    assert_int_equal(outbox_rejected_list(ob, e, 8), 1);
    assert_int_equal(e[0].seq, 3);
    assert_int_equal(e[0].code, DK_EV_AREA);
    outbox_entry_clear(&e[0]);
    /* The restored aggregator rejects 3 again and stores the rest. */
    uint64_t again[] = {2, 4, 5};
    assert_int_equal(outbox_apply_results(ob, again, 3, rej, 1, 200), 0);
    outbox_stats_t st;
    outbox_stats(ob, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.acked, 4);
    assert_int_equal(outbox_reconcile(ob, 5, 5, outbox_instance(ob), 16, &resent, &renum), 0);
    assert_int_equal(resent, 0);
    /* A rejection followed by a store (e.g. the district fixed its config) clears the record. */
    assert_int_equal(outbox_reconcile(ob, 2, 5, outbox_instance(ob), 16, &resent, &renum), 0);
    uint64_t three[] = {3};
    assert_int_equal(outbox_apply_results(ob, three, 1, NULL, 0, 300), 0);
    outbox_stats(ob, &st);
    assert_int_equal(st.rejected, 0);
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
        cmocka_unit_test_setup_teardown(test_every_event_has_origin_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_image_renumbers_decided_seqs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conflict_is_renumbered_not_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reinstall_overlap_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renumber_skips_held_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_resends_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_missing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
