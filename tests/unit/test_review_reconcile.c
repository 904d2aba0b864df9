/* Reviewer's tests: the agent's outbox (agents/outbox.c) against the aggregator's real store
 * (aggregator/store*.c), both on real LMDB in temporary folders, wired the way the sender and
 * ingest wire them (Welcome -> outbox_reconcile; waiting events -> wire_check_event ->
 * store_commit with the Hello touch; results -> outbox_apply_results).
 *
 * They show that the aggregator's high-water mark can get a permanent hole after a Welcome, with
 * the consequence that every later Welcome turns every acknowledged event above the hole back
 * into WAITING: the agent resends its whole retained history at every reconnect, forever, and
 * (the acks refresh acked_at) never prunes it.
 *   - test_reinstall_renumber_leaves_no_gap: a reinstalled agent that recorded more events offline
 *     than the old instance ever delivered renumbers after max(max_seq, next-1) instead of after
 *     max_seq (outbox.c outbox_reconcile).
 *   - test_restored_aggregator_relearns_rejections: an aggregator restored from an older backup
 *     never hears again of events it had rejected after the backup (the agent keeps them REJECTED
 *     and resends only ACKED ones).
 */
/* dk-link: dkagent dkaggregator */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "csvimport.h"
#include "err.h"
#include "outbox.h"
#include "record.h"
#include "store.h"
#include "wire.h"

#define COMMUNE 24664u

static char root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/review-reconcile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static char *sub(const char *name)
{
    static char buf[4][300];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 300, "%s/%s", root, name);
    return p;
}

/* A training with `participants` people; area (0: none) lets a test make an event that the
 * aggregator's config refuses (area over the commune's configured areas). */
static Dk__Event *training(uint32_t participants, uint32_t area)
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
    if (area) {
        ev->has_area = 1;
        ev->area = area;
    }
    return ev;
}

static void append(outbox_t *ob, uint32_t participants, uint32_t area)
{
    Dk__Event *ev = training(participants, area);
    assert_int_equal(outbox_append(ob, &ev, 1, NULL), 1);
    record_event_free(&ev);
}

static store_t *open_store(const char *dir)
{
    mkdir(dir, 0700);
    store_opts_t o = {.map_size = 8u << 20, .unit = 663};
    store_t *s = NULL;
    assert_int_equal(store_open(dir, &o, &s), 0);
    return s;
}

/* The Welcome the aggregator's server would send (server.c handle_hello) and the agent's
 * reconciliation of it (sender.c on_welcome). Returns how many acked events became waiting. */
static uint64_t welcome(store_t *s, outbox_t *ob, uint64_t *renumbered)
{
    store_unit_t u;
    memset(&u, 0, sizeof u);
    int rc = store_unit_get(s, COMMUNE, &u);
    assert_true(rc == 0 || rc == DK_ENOTFOUND);
    uint64_t resent = 0, renum = 0;
    assert_int_equal(outbox_reconcile(ob, u.high_water, u.max_seq,
                                      u.instance_len ? u.instance : NULL, u.instance_len, &resent,
                                      &renum),
                     0);
    if (renumbered) {
        *renumbered = renum;
    }
    return resent;
}

/* When set, deliver() commits at the aggregator but the Ack never reaches the outbox. */
static bool drop_acks;

/* One session's delivery: every waiting event goes through the aggregator's validation (rules
 * with max_area) and one store_commit with the Hello touch; the results are applied to the
 * outbox as on_ack does. Returns the number of events sent. */
static size_t deliver(store_t *s, outbox_t *ob, uint32_t max_area)
{
    outbox_entry_t e[64];
    int n = outbox_next_waiting(ob, 0, e, 64);
    assert_true(n >= 0);
    Dk__Event *ev[64];
    wire_fault_t f[64];
    store_item_t it[64];
    wire_rules_t rules;
    wire_rules_init(&rules);
    rules.commune = COMMUNE;
    rules.max_area = max_area;
    for (int i = 0; i < n; i++) {
        assert_int_equal(wire_event_decode(e[i].packed, e[i].packed_len, &ev[i]), 0);
        wire_check_event(ev[i], &rules, &f[i]);
        memset(&it[i], 0, sizeof it[i]);
        it[i].commune = COMMUNE;
        it[i].ev = ev[i];
        it[i].bytes = e[i].packed;
        it[i].len = e[i].packed_len;
        if (f[i].code) {
            it[i].reject_code = f[i].code;
            it[i].reject_field = f[i].field;
            it[i].reject_reason = f[i].reason;
        }
    }
    store_touch_t t = {.commune = COMMUNE,
                       .last_contact = (int64_t)time(NULL),
                       .instance = outbox_instance(ob),
                       .instance_len = OUTBOX_INSTANCE_LEN};
    store_commit_t res;
    assert_int_equal(store_commit(s, it, (size_t)n, &t, 1, &res), 0);
    uint64_t acked[64];
    outbox_reject_t rej[64];
    size_t na = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        const store_result_t *r = &res.results[i];
        if (r->outcome == STORE_STORED || r->outcome == STORE_DUPLICATE) {
            acked[na++] = r->seq;
        } else if (r->outcome == STORE_REJECTED) {
            rej[nr].seq = r->seq;
            rej[nr].code = r->code;
            rej[nr].field = r->field;
            rej[nr].reason = r->reason;
            nr++;
        }
    }
    if (!drop_acks) {
        assert_int_equal(outbox_apply_results(ob, acked, na, rej, nr, (int64_t)time(NULL)), 0);
    }
    store_commit_clear(&res);
    for (int i = 0; i < n; i++) {
        wire_event_free(&ev[i]);
        outbox_entry_clear(&e[i]);
    }
    return (size_t)n;
}

static void unit_state(store_t *s, store_unit_t *u)
{
    memset(u, 0, sizeof *u);
    assert_int_equal(store_unit_get(s, COMMUNE, u), 0);
    printf("# aggregator unit %u: high_water=%llu max_seq=%llu events=%llu rejected=%llu\n",
           COMMUNE, (unsigned long long)u->high_water, (unsigned long long)u->max_seq,
           (unsigned long long)u->events, (unsigned long long)u->rejected);
}

/* The old agent delivered 3 events, then its disk died. The reinstalled agent imports 5 rows
 * before it first reaches the aggregator. After its first Welcome its events must follow the
 * aggregator's max_seq without a hole (4..8), so the high-water mark can reach the last seq and
 * a later Welcome resends nothing. */
static void test_reinstall_renumber_leaves_no_gap(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *old = NULL;
    assert_int_equal(outbox_open(sub("old"), COMMUNE, false, &old), 0);
    for (uint32_t i = 0; i < 3; i++) {
        append(old, 10 + i, 0);
    }
    welcome(s, old, NULL);
    assert_int_equal(deliver(s, old, 0), 3);
    outbox_close(&old); /* the disk dies */

    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("new"), COMMUNE, false, &ob), 0);
    for (uint32_t i = 0; i < 5; i++) {
        append(ob, 20 + i, 0);
    }
    uint64_t renum = 0;
    welcome(s, ob, &renum);
    assert_int_equal(renum, 5);
    outbox_entry_t e[8];
    int n = outbox_next_waiting(ob, 0, e, 8);
    assert_int_equal(n, 5);
    printf("# renumbered waiting seqs:");
    for (int i = 0; i < n; i++) {
        printf(" %llu", (unsigned long long)e[i].seq);
    }
    printf(" (aggregator max_seq was 3)\n");
    uint64_t first = e[0].seq;
    for (int i = 0; i < n; i++) {
        outbox_entry_clear(&e[i]);
    }
    assert_int_equal(deliver(s, ob, 0), 5);
    store_unit_t u;
    unit_state(s, &u);
    /* Every event was delivered: nothing is missing, so every seq up to max_seq is decided. */
    uint64_t resent_next = welcome(s, ob, NULL);
    printf("# acknowledged events turned back to waiting by the next Welcome: %llu\n",
           (unsigned long long)resent_next);
    uint64_t resent_after = 0;
    if (resent_next) {
        deliver(s, ob, 0);
        resent_after = welcome(s, ob, NULL);
        printf("# ... and again by the Welcome after that: %llu\n",
               (unsigned long long)resent_after);
    }
    assert_int_equal(first, 4);
    assert_int_equal(u.high_water, u.max_seq);
    assert_int_equal(resent_next, 0);
    outbox_close(&ob);
    store_close(&s);
}

/* The aggregator is restored from a backup taken before 5 events arrived; one of them (seq 3) it
 * had refused (area over the commune's configured areas). After the restore, the agent resends
 * the acknowledged ones (1, 2, 4, 5) but never 3: the restored store never decides seq 3 again,
 * its high-water mark stays at 2 for ever and every Welcome resends 4 and 5 again. */
static void test_restored_aggregator_relearns_rejections(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    welcome(s, ob, NULL);
    /* The backup (store_backup: the operator's nightly copy), taken before the events came. */
    assert_int_equal(store_backup(s, sub("backup")), 0);
    append(ob, 11, 0);
    append(ob, 12, 0);
    append(ob, 13, 50); /* area 50: the aggregator's config gives this commune 10 areas */
    append(ob, 14, 0);
    append(ob, 15, 0);
    assert_int_equal(deliver(s, ob, 10), 5);
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    assert_int_equal(st.acked, 4);
    assert_int_equal(st.rejected, 1);
    store_close(&s);

    /* Disaster: the operator restores the backup (ops/backup) and starts the aggregator on it. */
    store_t *r = open_store(sub("backup"));
    uint64_t resent = welcome(r, ob, NULL);
    printf("# after the restore the agent resends %llu acknowledged events\n",
           (unsigned long long)resent);
    deliver(r, ob, 10);
    store_unit_t u;
    unit_state(r, &u);
    uint64_t again = welcome(r, ob, NULL);
    printf("# the next Welcome turns %llu acknowledged events back to waiting\n",
           (unsigned long long)again);
    deliver(r, ob, 10);
    uint64_t again2 = welcome(r, ob, NULL);
    printf("# ... and the one after that %llu\n", (unsigned long long)again2);
    assert_int_equal(u.high_water, 5);
    assert_int_equal(again, 0);
    outbox_close(&ob);
    store_close(&r);
}

/* Sum of the amount measure over every cell of the commune (the dashboard's fund total). */
static int sum_amount(void *arg, const tally_cell_t *c)
{
    *(int64_t *)arg += c->m[DK__MEASURE__M_AMOUNT];
    return 0;
}

static int64_t amount(store_t *s)
{
    int64_t total = 0;
    assert_int_equal(store_cells_foreach(s, COMMUNE, 20000101, 20991231, sum_amount, &total), 0);
    return total;
}

static void import(outbox_t *ob, const char *csv)
{
    csvimport_t *c = NULL;
    int rc = csvimport_parse(csv, strlen(csv), COMMUNE, 0, &c);
    if (rc != 0) {
        csvimport_report(stdout, "test.csv", c, NULL, NULL);
    }
    assert_int_equal(rc, 0);
    assert_true(outbox_append(ob, c->events, c->n_events, NULL) >= 0);
    csvimport_destroy(&c);
}

#define HDR "Ngày,Quỹ,Thu/chi,Nguồn,Số tiền (đồng),Nhà tài trợ,Sửa số\n"
/* file1: a receipt; file2: the commune's correction of it (row "Sửa số" = 1). */
static const char *FILE1 = HDR "17/10/2023,Quỹ Vì người nghèo,Thu,Doanh nghiệp,1.000.000,Công ty ABC,\n";
static const char *FILE2 = HDR "17/10/2023,Quỹ Vì người nghèo,Thu,Doanh nghiệp,2.000.000,Công ty ABC,1\n";

/* Receipt of 1,000,000 (file1, seq 1), corrected by file2 to 2,000,000 (seq 2), corrected again
 * on the command line to 3,000,000 (seq 3): the fund holds 3,000,000. The PC is reinstalled and
 * the staff drop file1 and file2 again. Both rows were recorded before: the total must stay. */
static void test_reimported_correction_row_counts_once(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("old"), COMMUNE, false, &ob), 0);
    welcome(s, ob, NULL);
    import(ob, FILE1);
    import(ob, FILE2);
    Dk__Event *ev = record_event_new(RECORD_FUND);
    ev->has_date = 1;
    ev->date = 20231017;
    ev->fund->has_fund = 1;
    ev->fund->fund = DK__FUND__FOR_THE_POOR;
    ev->fund->has_flow = 1;
    ev->fund->flow = DK__FLOW__RECEIPT;
    ev->fund->has_source = 1;
    ev->fund->source = DK__SOURCE__BUSINESS;
    ev->fund->has_amount = 1;
    ev->fund->amount = 3000000;
    ev->has_corrects_seq = 1;
    ev->corrects_seq = 1;
    assert_int_equal(outbox_append(ob, &ev, 1, NULL), 1);
    assert_int_equal(ev->seq, 3);
    record_event_free(&ev);
    assert_int_equal(deliver(s, ob, 0), 3);
    printf("# fund total before the reinstall: %lld\n", (long long)amount(s));
    assert_int_equal(amount(s), 3000000);
    outbox_close(&ob);

    outbox_t *nb = NULL;
    assert_int_equal(outbox_open(sub("new"), COMMUNE, false, &nb), 0);
    welcome(s, nb, NULL);
    import(nb, FILE1);
    import(nb, FILE2);
    deliver(s, nb, 0);
    printf("# fund total after file1 and file2 were dropped again: %lld\n",
           (long long)amount(s));
    assert_int_equal(amount(s), 3000000);
    outbox_close(&nb);
    store_close(&s);
}

/* The commune's PC is restored from last week's disk image (the outbox folder with it): the
 * outbox's next seq is 2 while the aggregator holds seqs 1..3 of this same instance. Before the
 * network is back, staff record a receipt of 5,000,000. It must be counted. */
static void test_restored_agent_image_keeps_offline_events(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    welcome(s, ob, NULL);
    append(ob, 11, 0);
    deliver(s, ob, 0);
    outbox_close(&ob);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", sub("agent"), sub("image"));
    assert_int_equal(system(cmd), 0); /* last week's image */
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    append(ob, 12, 0);
    append(ob, 13, 0);
    deliver(s, ob, 0);
    outbox_close(&ob);
    /* the disk dies; the image is restored */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mv '%s' '%s'", sub("agent"), sub("image"),
             sub("agent"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    Dk__Event *ev = record_event_new(RECORD_FUND);
    ev->has_date = 1;
    ev->date = 20231017;
    ev->fund->has_fund = 1;
    ev->fund->fund = DK__FUND__FOR_THE_POOR;
    ev->fund->has_flow = 1;
    ev->fund->flow = DK__FLOW__RECEIPT;
    ev->fund->has_source = 1;
    ev->fund->source = DK__SOURCE__RESIDENTS;
    ev->fund->has_amount = 1;
    ev->fund->amount = 5000000;
    assert_int_equal(outbox_append(ob, &ev, 1, NULL), 1);
    printf("# offline receipt got seq %llu\n", (unsigned long long)ev->seq);
    record_event_free(&ev);
    welcome(s, ob, NULL); /* the network is back */
    deliver(s, ob, 0);
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    outbox_entry_t e[4];
    int nr = outbox_rejected_list(ob, e, 4);
    for (int i = 0; i < nr; i++) {
        printf("# rejected seq=%llu code=%d reason=%s\n", (unsigned long long)e[i].seq,
               e[i].code, e[i].reason);
        outbox_entry_clear(&e[i]);
    }
    printf("# fund total at the aggregator: %lld\n", (long long)amount(s));
    assert_int_equal(st.rejected, 0);
    assert_int_equal(amount(s), 5000000);
    outbox_close(&ob);
    store_close(&s);
}

/* Sum of the participants measure over every cell of the commune. */
static int sum_participants(void *arg, const tally_cell_t *c)
{
    *(int64_t *)arg += c->m[DK__MEASURE__M_PARTICIPANTS];
    return 0;
}

static int64_t participants(store_t *s)
{
    int64_t total = 0;
    assert_int_equal(store_cells_foreach(s, COMMUNE, 20000101, 20991231, sum_participants,
                                         &total),
                     0);
    return total;
}

/* The agent's side of the fixes must never count twice: events stored at the aggregator whose
 * Acks were lost sit WAITING below its high-water mark; the next Welcome moves them above
 * max_seq (they may as well be other events under those numbers), and the aggregator recognises
 * them by their origin key (DUPLICATE). Totals stay exact and the high-water mark has no hole. */
static void test_lost_acks_then_renumber_counts_once(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    welcome(s, ob, NULL);
    append(ob, 10, 0);
    append(ob, 20, 0);
    append(ob, 30, 0);
    drop_acks = true;
    assert_int_equal(deliver(s, ob, 0), 3);
    drop_acks = false;
    uint64_t renum = 0;
    welcome(s, ob, &renum);
    assert_int_equal(renum, 3);
    assert_int_equal(deliver(s, ob, 0), 3);
    store_unit_t u;
    unit_state(s, &u);
    assert_int_equal(u.events, 3);
    assert_int_equal(participants(s), 60);
    assert_int_equal(u.high_water, u.max_seq);
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(welcome(s, ob, &renum), 0);
    assert_int_equal(renum, 0);
    outbox_close(&ob);
    store_close(&s);
}

/* The image held seq 1 WAITING (never sent); after the image was taken the lost future delivered
 * it and 2, 3. The restored outbox records seq 2 offline. Both waiting events move above 3: the
 * old one is a DUPLICATE by its origin key, the new one is stored. */
static void test_restored_image_with_unsent_event_counts_once(void **state)
{
    (void)state;
    store_t *s = open_store(sub("agg"));
    outbox_t *ob = NULL;
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    welcome(s, ob, NULL);
    append(ob, 1, 0);
    outbox_close(&ob);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", sub("agent"), sub("image"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    append(ob, 2, 0);
    append(ob, 4, 0);
    assert_int_equal(deliver(s, ob, 0), 3);
    outbox_close(&ob);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mv '%s' '%s'", sub("agent"), sub("image"),
             sub("agent"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(outbox_open(sub("agent"), COMMUNE, false, &ob), 0);
    append(ob, 100, 0); /* seq 2 again, other content */
    uint64_t renum = 0;
    welcome(s, ob, &renum);
    assert_int_equal(renum, 2);
    deliver(s, ob, 0);
    store_unit_t u;
    unit_state(s, &u);
    assert_int_equal(u.events, 4);
    assert_int_equal(participants(s), 1 + 2 + 4 + 100);
    assert_int_equal(u.high_water, u.max_seq);
    outbox_stats_t st;
    assert_int_equal(outbox_stats(ob, &st), 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.rejected, 0);
    outbox_close(&ob);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reinstall_renumber_leaves_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_aggregator_relearns_rejections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reimported_correction_row_counts_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restored_agent_image_keeps_offline_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lost_acks_then_renumber_counts_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restored_image_with_unsent_event_counts_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
