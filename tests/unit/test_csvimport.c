/* Unit tests of agents/csvimport with the real files under tests/data/csv/: every encoding
 * variant (BOM or not, comma or semicolon, CRLF or LF, NFC or NFD, reordered columns, ISO or
 * Vietnamese dates) gives the same events and the same row identities; bad rows are reported with
 * line and column, and a file with any bad row yields no event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentconf.h"
#include "csvimport.h"
#include "err.h"
#include "record.h"
#include "text.h"

#define COMMUNE 24664

static csvimport_t *load(const char *name, int expect_rc)
{
    char path[512];
    snprintf(path, sizeof path, "%s/csv/%s", DK_TEST_DATA, name);
    csvimport_t *c = NULL;
    int rc = csvimport_parse_file(path, COMMUNE, 0, &c);
    if (rc != expect_rc && c) {
        csvimport_report(stderr, name, c, NULL, NULL);
    }
    assert_int_equal(rc, expect_rc);
    assert_non_null(c);
    return c;
}

static void same_keys(const csvimport_t *a, const csvimport_t *b)
{
    assert_int_equal(a->n_events, b->n_events);
    for (size_t i = 0; i < a->n_events; i++) {
        assert_int_equal(a->events[i]->origin_key.len, 16);
        assert_memory_equal(a->events[i]->origin_key.data, b->events[i]->origin_key.data, 16);
    }
}

static void test_activity_variants(void **state)
{
    csvimport_t *base = load("act-bom-comma-crlf.csv", 0);
    assert_true(base->bom);
    assert_int_equal(base->delimiter, ',');
    assert_int_equal(base->kind, RECORD_ACTIVITY);
    assert_int_equal(base->n_events, 4);
    Dk__Event *e0 = base->events[0];
    assert_int_equal(e0->date, 20231118);
    assert_int_equal(e0->commune, COMMUNE);
    assert_int_equal(e0->activity->kind, DK__ACTIVITY_KIND__PROPAGANDA);
    assert_int_equal(e0->activity->contents, 1u | 4u);
    assert_int_equal(e0->activity->channel, DK__CHANNEL__CONFERENCE);
    assert_int_equal(e0->activity->participants, 1500);
    assert_int_equal(e0->area, 3);
    assert_int_equal(e0->organiser, 1);
    assert_string_equal(e0->title, "Hội nghị tuyên truyền, thôn 3");
    /* A quoted field with a newline and doubled quotes. */
    assert_string_equal(e0->note, "Dòng một\nDòng hai có \"ngoặc kép\"");
    assert_int_equal(base->event_lines[0], 2);
    assert_int_equal(base->event_lines[1], 4); /* row 1 spans lines 2-3 */
    /* Rows 2 and 3 are identical: both recorded, with different identities. */
    assert_memory_not_equal(base->events[1]->origin_key.data, base->events[2]->origin_key.data,
                            16);

    const char *variants[] = {"act-nobom-semicolon-lf.csv", "act-nfd-semicolon-crlf.csv",
                              "act-reordered-iso.csv"};
    for (size_t v = 0; v < 3; v++) {
        csvimport_t *c = load(variants[v], 0);
        assert_int_equal(c->kind, RECORD_ACTIVITY);
        same_keys(base, c);
        /* NFD values come out NFC. */
        assert_string_equal(c->events[0]->title, "Hội nghị tuyên truyền, thôn 3");
        if (v < 2) {
            assert_int_equal(c->delimiter, ';');
        }
        csvimport_destroy(&c);
    }
    csvimport_destroy(&base);
    assert_null(base);
}

static void test_fund_variants(void **state)
{
    csvimport_t *a = load("fund-bom-comma-crlf.csv", 0);
    csvimport_t *b = load("fund-nfd-semicolon.csv", 0);
    assert_int_equal(a->kind, RECORD_FUND);
    assert_int_equal(a->n_events, 3);
    assert_int_equal(a->events[0]->fund->amount, 50000000);
    assert_int_equal(a->events[0]->fund->source, DK__SOURCE__BUSINESS);
    assert_int_equal(a->events[1]->fund->amount, 60000000);
    assert_int_equal(a->events[1]->fund->purpose, DK__PURPOSE__NEW_HOUSE);
    assert_int_equal(a->events[2]->fund->gift_packs, 60);
    assert_string_equal(a->events[0]->donor, "Công ty TNHH ABC");
    same_keys(a, b);
    csvimport_destroy(&a);
    csvimport_destroy(&b);
}

static void test_identity_depends_on_commune(void **state)
{
    const char *text = "Ngày,Loại hoạt động,Số buổi\n18/11/2023,Tập huấn,1\n";
    csvimport_t *a = NULL, *b = NULL;
    assert_int_equal(csvimport_parse(text, strlen(text), 24664, 0, &a), 0);
    assert_int_equal(csvimport_parse(text, strlen(text), 24667, 0, &b), 0);
    assert_memory_not_equal(a->events[0]->origin_key.data, b->events[0]->origin_key.data, 16);
    csvimport_destroy(&a);
    csvimport_destroy(&b);
}

static void expect_error(const csvimport_t *c, size_t i, int line, int column, const char *in)
{
    assert_true(i < c->n_errors);
    assert_int_equal(c->errors[i].line, line);
    assert_int_equal(c->errors[i].column, column);
    if (in && !strstr(c->errors[i].reason, in)) {
        fail_msg("error %zu: '%s' lacks '%s'", i, c->errors[i].reason, in);
    }
}

static void test_bad_rows(void **state)
{
    csvimport_t *c = load("act-bad-rows.csv", DK_EINVAL);
    assert_int_equal(c->rows, 6);
    assert_int_equal(c->n_events, 0); /* all or nothing */
    assert_int_equal(c->n_errors, 4);
    expect_error(c, 0, 4, 1, "31/02/2023");
    expect_error(c, 1, 5, 2, "Bay lượn");
    expect_error(c, 2, 6, 5, "-5");
    expect_error(c, 3, 7, 3, "tuyên truyền");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    csvimport_report(f, "act-bad-rows.csv", c, NULL, NULL);
    fclose(f);
    assert_non_null(strstr(buf, "KHÔNG GHI NHẬN"));
    assert_non_null(strstr(buf, "Dòng 4, cột 1 (Ngày)"));
    free(buf);
    csvimport_destroy(&c);
}

static void test_broken_files(void **state)
{
    csvimport_t *c = load("unterminated-quote.csv", DK_EINVAL);
    assert_int_equal(c->n_events, 0);
    expect_error(c, 0, 3, 0, "ngoặc kép");
    csvimport_destroy(&c);
    c = load("not-utf8.csv", DK_EINVAL);
    expect_error(c, 0, 1, 0, "UTF-8");
    csvimport_destroy(&c);
    c = load("unknown-header.csv", DK_EINVAL);
    assert_int_equal(c->n_errors, 1);
    expect_error(c, 0, 1, 3, "Số người dự");
    csvimport_destroy(&c);
    c = load("empty-rows.csv", 0); /* blank rows and empty trailing columns are fine */
    assert_int_equal(c->n_events, 1);
    csvimport_destroy(&c);
    const char *nothing = "\xEF\xBB\xBF";
    assert_int_equal(csvimport_parse(nothing, 3, COMMUNE, 0, &c), DK_EINVAL);
    assert_int_equal(c->n_errors, 1);
    csvimport_destroy(&c);
    const char *noheader = "a,b\n1,2\n";
    assert_int_equal(csvimport_parse(noheader, strlen(noheader), COMMUNE, 0, &c), DK_EINVAL);
    csvimport_destroy(&c);
}

/* An import applies the agent's whole rule book, max-area included (agentconf_wire_rules, the
 * same rules as `dk-agent record`): a row whose area is above max-area is reported with its line
 * and column, and the file records nothing. Without max-area the same file is fine. */
static void test_max_area(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/csv/act-area-over.csv", DK_TEST_DATA);
    agentconf_t conf = {.commune = COMMUNE, .max_area = 9};
    wire_rules_t rules;
    agentconf_wire_rules(&conf, &rules);
    assert_int_equal(rules.commune, COMMUNE);
    assert_int_equal(rules.max_area, 9);
    csvimport_t *c = NULL;
    assert_int_equal(csvimport_parse_file_rules(path, &rules, &c), DK_EINVAL);
    assert_int_equal(c->rows, 3);
    assert_int_equal(c->n_events, 0); /* all or nothing */
    assert_int_equal(c->n_errors, 1);
    expect_error(c, 0, 4, 6, "vượt quá số khu dân cư"); /* row 2 starts on line 4 */
    assert_non_null(strstr(c->errors[0].reason, "12"));
    assert_string_equal(c->errors[0].header, "Khu dân cư");
    char *report = NULL;
    size_t report_len = 0;
    FILE *mem = open_memstream(&report, &report_len);
    csvimport_report(mem, "act-area-over.csv", c, NULL, NULL);
    fclose(mem);
    assert_non_null(strstr(report, "Khu dân cư"));
    free(report);
    csvimport_destroy(&c);

    /* An area equal to max-area is allowed (the rule is area <= max-area). */
    conf.max_area = 12;
    agentconf_wire_rules(&conf, &rules);
    assert_int_equal(csvimport_parse_file_rules(path, &rules, &c), 0);
    assert_int_equal(c->n_events, 3);
    assert_int_equal(c->events[1]->area, 12);
    csvimport_destroy(&c);
    conf.max_area = 11;
    agentconf_wire_rules(&conf, &rules);
    assert_int_equal(csvimport_parse_file_rules(path, &rules, &c), DK_EINVAL);
    assert_int_equal(c->n_errors, 1);
    csvimport_destroy(&c);

    /* max-area 0 (not configured): only the absolute cap applies, as with csvimport_parse_file. */
    conf.max_area = 0;
    agentconf_wire_rules(&conf, &rules);
    assert_int_equal(csvimport_parse_file_rules(path, &rules, &c), 0);
    csvimport_destroy(&c);
    c = load("act-area-over.csv", 0);
    csvimport_destroy(&c);

    /* The in-memory parse takes the same rules. */
    const char *text = "Ngày,Loại hoạt động,Số buổi,Số lượt người,Khu dân cư\n"
                       "18/11/2023,Tuyên truyền,1,10,10\n";
    conf.max_area = 9;
    agentconf_wire_rules(&conf, &rules);
    assert_int_equal(csvimport_parse_rules(text, strlen(text), &rules, &c), DK_EINVAL);
    expect_error(c, 0, 2, 5, "10");
    csvimport_destroy(&c);
}

static void test_header_matching_nfd(void **state)
{
    const char *nfd = "S\xe1\xbb\x91 l\xc6\xb0\xe1\xbb\xa3t ng\xc6\xb0\xe1\xbb\x9di"; /* NFC */
    const record_field_t *f = record_field_by_header(nfd, strlen(nfd), RECORD_ACTIVITY);
    assert_non_null(f);
    assert_string_equal(f->name, "participants");
    /* "Số lượt người" decomposed (NFD): o + U+0302 + U+0301, u + U+031B, o + U+031B + U+0323... */
    const char *decomposed = "So\xcc\x82\xcc\x81 lu\xcc\x9bo\xcc\x9b\xcc\xa3t ngu\xcc\x9bo\xcc\x9b\xcc\x80i";
    f = record_field_by_header(decomposed, strlen(decomposed), RECORD_ACTIVITY);
    assert_non_null(f);
    assert_string_equal(f->name, "participants");
    f = record_field_by_header("SỐ TIỀN", strlen("SỐ TIỀN"), RECORD_FUND);
    assert_non_null(f);
    assert_string_equal(f->wire, "fund.amount");
    assert_null(record_field_by_header("Quỹ", 5, RECORD_ACTIVITY));
}

static void test_record_values(void **state)
{
    Dk__Event *ev = record_event_new(RECORD_FUND);
    char why[400];
    assert_int_equal(record_set(ev, record_field_by_name("amount", RECORD_FUND), "1.250.000",
                                why, sizeof why), 0);
    assert_int_equal(ev->fund->amount, 1250000);
    assert_int_equal(record_set(ev, record_field_by_name("amount", RECORD_FUND), "1,5", why,
                                sizeof why), DK_EINVAL);
    assert_non_null(strstr(why, "Số tiền"));
    assert_int_equal(record_set(ev, record_field_by_name("date", RECORD_FUND), "2023-11-18", why,
                                sizeof why), 0);
    assert_int_equal(ev->date, 20231118);
    assert_int_equal(record_set(ev, record_field_by_name("date", RECORD_FUND), "8/3/2023", why,
                                sizeof why), 0);
    assert_int_equal(ev->date, 20230308);
    assert_int_equal(record_set(ev, record_field_by_name("flow", RECORD_FUND), "chi", why,
                                sizeof why), 0);
    assert_int_equal(ev->fund->flow, DK__FLOW__SPENDING);
    assert_int_equal(record_set(ev, record_field_by_name("fund", RECORD_FUND), "vì người nghèo",
                                why, sizeof why), 0);
    assert_int_equal(ev->fund->fund, DK__FUND__FOR_THE_POOR);
    record_event_free(&ev);
    assert_null(ev);
    /* Every table entry names a real wire member. */
    for (size_t i = 0; record_field_at(i); i++) {
        const record_field_t *f = record_field_at(i);
        unsigned kinds[] = {RECORD_ACTIVITY, RECORD_FUND, RECORD_VOID};
        for (int k = 0; k < 3; k++) {
            if (!(f->kinds & kinds[k])) {
                continue;
            }
            Dk__Event *e = record_event_new((record_kind_t)kinds[k]);
            char w[400];
            assert_int_equal(record_set(e, f, "", w, sizeof w), 0);
            record_event_free(&e);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activity_variants),
        cmocka_unit_test(test_fund_variants),
        cmocka_unit_test(test_identity_depends_on_commune),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_max_area),
        cmocka_unit_test(test_header_matching_nfd),
        cmocka_unit_test(test_record_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
