/* Unit tests for common/period: Vietnam day numbers, date parsing, reporting periods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "err.h"
#include "period.h"

static int32_t D(int y, int m, int d)
{
    int32_t day = 0;
    assert_int_equal(period_ymd_to_day(y, m, d, &day), 0);
    return day;
}

static void test_ymd_known(void **state)
{
    (void)state;
    int32_t day;
    assert_int_equal(D(1970, 1, 1), 0);
    assert_int_equal(D(2023, 11, 18), 19679);
    assert_int_equal(D(1900, 1, 1), -25567);
    assert_int_equal(D(2999, 12, 31), 376199);
    assert_int_equal(D(1969, 12, 31), -1);
    /* leap years: 2000 and 2024 are, 1900, 2023 and 2100 are not */
    assert_int_equal(D(2000, 2, 29) + 1, D(2000, 3, 1));
    assert_int_equal(D(2024, 2, 29) + 1, D(2024, 3, 1));
    assert_int_equal(D(1900, 2, 28) + 1, D(1900, 3, 1));
    assert_int_equal(period_ymd_to_day(1900, 2, 29, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 2, 29, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2100, 2, 29, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 4, 31, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 0, 1, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 13, 1, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 1, 0, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(2023, 1, 32, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(1899, 12, 31, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(3000, 1, 1, &day), DK_EINVAL);
    assert_int_equal(period_ymd_to_day(-2023, 1, 1, &day), DK_EINVAL);
}

/* Walks every day of 1900..2999 with an independent calendar and checks both directions. */
static void test_ymd_every_day(void **state)
{
    (void)state;
    int32_t expect = -25567;
    for (int y = 1900; y <= 2999; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int dim[12] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= dim[m - 1]; d++, expect++) {
                int32_t day;
                assert_int_equal(period_ymd_to_day(y, m, d, &day), 0);
                assert_int_equal(day, expect);
                int yy, mm, dd;
                period_day_to_ymd(day, &yy, &mm, &dd);
                assert_true(yy == y && mm == m && dd == d);
                assert_int_equal(period_day_to_yyyymmdd(day), (uint32_t)(y * 10000 + m * 100 + d));
            }
            int32_t unused;
            assert_int_equal(period_ymd_to_day(y, m, dim[m - 1] + 1, &unused), DK_EINVAL);
        }
    }
}

static void test_yyyymmdd(void **state)
{
    (void)state;
    int32_t day;
    assert_int_equal(period_yyyymmdd_to_day(20231118, &day), 0);
    assert_int_equal(day, 19679);
    assert_int_equal(period_day_to_yyyymmdd(19679), 20231118u);
    assert_int_equal(period_yyyymmdd_to_day(20240229, &day), 0);
    assert_int_equal(period_yyyymmdd_to_day(20230229, &day), DK_EINVAL);
    assert_int_equal(period_yyyymmdd_to_day(0, &day), DK_EINVAL);
    assert_int_equal(period_yyyymmdd_to_day(20231300, &day), DK_EINVAL);
    assert_int_equal(period_yyyymmdd_to_day(99999999, &day), DK_EINVAL);
    assert_int_equal(period_yyyymmdd_to_day(4294967295u, &day), DK_EINVAL);
}

static void test_unix(void **state)
{
    (void)state;
    assert_int_equal(period_day_of_unix(0), 0);       /* 07:00 in Vietnam */
    assert_int_equal(period_day_of_unix(-25200), 0);  /* 1970-01-01 00:00 +07 */
    assert_int_equal(period_day_of_unix(-25201), -1); /* 1969-12-31 23:59:59 +07 */
    assert_int_equal(period_day_of_unix(-25200 - 86400), -1);
    assert_int_equal(period_day_of_unix(-25201 - 86400), -2);
    /* 2023-11-18T17:00:00Z is midnight of the 19th in Vietnam */
    assert_int_equal(period_day_of_unix(1700326800), 19680);
    assert_int_equal(period_day_of_unix(1700326799), 19679);
    /* 2023-11-17T17:00:00Z is midnight of the 18th */
    assert_int_equal(period_day_of_unix(1700326800 - 86400), 19679);
    int64_t now = (int64_t)time(NULL);
    int32_t t = period_today();
    assert_true(t == period_day_of_unix(now) || t == period_day_of_unix(now + 1));
}

static int32_t parse_date(const char *s)
{
    int32_t day = -999999;
    int rc = period_parse_date(s, &day);
    if (rc != 0) {
        print_error("period_parse_date(\"%s\") failed\n", s);
    }
    assert_int_equal(rc, 0);
    return day;
}

static void test_parse_date(void **state)
{
    (void)state;
    int32_t want = D(2023, 11, 18);
    assert_int_equal(parse_date("2023-11-18"), want);
    assert_int_equal(parse_date("18/11/2023"), want);
    assert_int_equal(parse_date("18-11-2023"), want);
    assert_int_equal(parse_date("18.11.2023"), want);
    assert_int_equal(parse_date("  18/11/2023 \t"), want);
    assert_int_equal(parse_date("8/3/2023"), D(2023, 3, 8));
    assert_int_equal(parse_date("08/03/2023"), D(2023, 3, 8));
    assert_int_equal(parse_date("2023-3-8"), D(2023, 3, 8));
    assert_int_equal(parse_date("29/02/2024"), D(2024, 2, 29));
    assert_int_equal(parse_date("29/02/2000"), D(2000, 2, 29));
    assert_int_equal(parse_date("01/01/1900"), D(1900, 1, 1));
    static const char *const bad[] = {
        "",
        "   ",
        "2023",
        "2023-11",
        "2023-13-01",
        "2023-11-31",
        "31/04/2023",
        "29/02/2023",
        "29/02/1900",
        "2023/11/18",
        "18/11-2023",
        "18.11/2023",
        "18/11/23",
        "18/11/02023",
        "2023-11-18x",
        "x2023-11-18",
        "18 /11/2023",
        "18/ 11/2023",
        "+1/1/2023",
        "-1/1/2023",
        "1/1/1899",
        "1/1/3000",
        "123/1/2023",
        "1/123/2023",
        "2023-011-18",
        "20231118",
        "18/11/2023/",
        "18//11/2023",
        "2023-11-18..2023-11-19",
        "１８/11/2023",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t day = 42;
        if (period_parse_date(bad[i], &day) != DK_EINVAL) {
            print_error("period_parse_date accepted \"%s\"\n", bad[i]);
            fail();
        }
        assert_int_equal(day, 42);
    }
    int32_t day;
    assert_int_equal(period_parse_date(NULL, &day), DK_EINVAL);
}

static void expect_range(const char *spec, const period_rules_t *r, int32_t first, int32_t last)
{
    period_range_t got = {0, 0};
    int rc = period_parse(spec, r, &got);
    if (rc != 0 || got.first != first || got.last != last) {
        char a[16], b[16], c[16], d[16];
        period_format_iso(got.first, a, sizeof a);
        period_format_iso(got.last, b, sizeof b);
        period_format_iso(first, c, sizeof c);
        period_format_iso(last, d, sizeof d);
        print_error("period_parse(\"%s\", start %d) rc=%d %s..%s, want %s..%s\n", spec,
                    r ? r->month_start : 1, rc, a, b, c, d);
        fail();
    }
}

static void test_parse_calendar(void **state)
{
    (void)state;
    const period_rules_t cal = PERIOD_RULES_DEFAULT;
    expect_range("2023", NULL, D(2023, 1, 1), D(2023, 12, 31));
    expect_range("2023", &cal, D(2023, 1, 1), D(2023, 12, 31));
    expect_range(" 2023 ", &cal, D(2023, 1, 1), D(2023, 12, 31));
    expect_range("2023-Q1", &cal, D(2023, 1, 1), D(2023, 3, 31));
    expect_range("2023-q2", &cal, D(2023, 4, 1), D(2023, 6, 30));
    expect_range("2023-Q3", &cal, D(2023, 7, 1), D(2023, 9, 30));
    expect_range("2023-Q4", &cal, D(2023, 10, 1), D(2023, 12, 31));
    expect_range("2023-01", &cal, D(2023, 1, 1), D(2023, 1, 31));
    expect_range("2023-11", &cal, D(2023, 11, 1), D(2023, 11, 30));
    expect_range("2023-12", &cal, D(2023, 12, 1), D(2023, 12, 31));
    expect_range("2023-2", &cal, D(2023, 2, 1), D(2023, 2, 28));
    expect_range("2023-9", &cal, D(2023, 9, 1), D(2023, 9, 30));
    expect_range("2024-02", &cal, D(2024, 2, 1), D(2024, 2, 29));
    expect_range("2000-02", &cal, D(2000, 2, 1), D(2000, 2, 29));
    expect_range("1900-02", &cal, D(1900, 2, 1), D(1900, 2, 28));
    expect_range("2023-H1", &cal, D(2023, 1, 1), D(2023, 6, 30));
    expect_range("2023-h2", &cal, D(2023, 7, 1), D(2023, 12, 31));
    expect_range("2023-9M", &cal, D(2023, 1, 1), D(2023, 9, 30));
    expect_range("2023-9m", &cal, D(2023, 1, 1), D(2023, 9, 30));
    expect_range("2019..2023", &cal, D(2019, 1, 1), D(2023, 12, 31));
    expect_range("2023..2023", &cal, D(2023, 1, 1), D(2023, 12, 31));
    expect_range("2019 .. 2023", &cal, D(2019, 1, 1), D(2023, 12, 31));
    expect_range("2023-01-01..2023-06-30", &cal, D(2023, 1, 1), D(2023, 6, 30));
    expect_range("01/01/2023..30/06/2023", &cal, D(2023, 1, 1), D(2023, 6, 30));
    expect_range("1/1/2023..2023-06-30", &cal, D(2023, 1, 1), D(2023, 6, 30));
    expect_range("18.11.2023..18.11.2023", &cal, D(2023, 11, 18), D(2023, 11, 18));
    expect_range("1900", &cal, D(1900, 1, 1), D(1900, 12, 31));
    expect_range("2999-12", &cal, D(2999, 12, 1), D(2999, 12, 31));
}

static void test_parse_cutoff(void **state)
{
    (void)state;
    const period_rules_t r = {.month_start = 15};
    expect_range("2023", &r, D(2022, 12, 15), D(2023, 12, 14));
    expect_range("2023-01", &r, D(2022, 12, 15), D(2023, 1, 14));
    expect_range("2023-03", &r, D(2023, 2, 15), D(2023, 3, 14));
    expect_range("2023-12", &r, D(2023, 11, 15), D(2023, 12, 14));
    expect_range("2024-01", &r, D(2023, 12, 15), D(2024, 1, 14));
    expect_range("2023-Q1", &r, D(2022, 12, 15), D(2023, 3, 14));
    expect_range("2023-Q4", &r, D(2023, 9, 15), D(2023, 12, 14));
    expect_range("2023-H1", &r, D(2022, 12, 15), D(2023, 6, 14));
    expect_range("2023-H2", &r, D(2023, 6, 15), D(2023, 12, 14));
    expect_range("2023-9M", &r, D(2022, 12, 15), D(2023, 9, 14));
    expect_range("2019..2023", &r, D(2018, 12, 15), D(2023, 12, 14));
    /* custom ranges ignore the rule */
    expect_range("2023-01-01..2023-06-30", &r, D(2023, 1, 1), D(2023, 6, 30));
    /* leap February inside a cut-off month */
    expect_range("2024-03", &r, D(2024, 2, 15), D(2024, 3, 14));
    period_range_t y;
    assert_int_equal(period_parse("2024", &r, &y), 0);
    assert_int_equal(y.last - y.first + 1, 366);
    assert_int_equal(period_parse("2023", &r, &y), 0);
    assert_int_equal(y.last - y.first + 1, 365);
    const period_rules_t r28 = {.month_start = 28};
    expect_range("2023-03", &r28, D(2023, 2, 28), D(2023, 3, 27));
    expect_range("2023", &r28, D(2022, 12, 28), D(2023, 12, 27));
    const period_rules_t r2 = {.month_start = 2};
    expect_range("2023-01", &r2, D(2022, 12, 2), D(2023, 1, 1));
    /* the earliest year with a cut-off reaches into 1899 */
    expect_range("1900-01", &r, D(1900, 1, 1) - 17, D(1900, 1, 14));
}

/* Months tile the timeline without gaps; quarters, halves, nine months and the year are exact
 * unions; period_month_of agrees with the month ranges for every day. */
static void test_periods_tile(void **state)
{
    (void)state;
    static const int starts[] = {1, 2, 15, 28};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        period_rules_t r = {.month_start = starts[s]};
        period_range_t prev = {0, 0};
        int have_prev = 0;
        for (int y = 2019; y <= 2025; y++) {
            period_range_t months[13], yr, q[5], h[3], nine;
            char spec[32];
            for (int m = 1; m <= 12; m++) {
                assert_int_equal(period_month_range(y, m, &r, &months[m]), 0);
                snprintf(spec, sizeof spec, "%d-%02d", y, m);
                expect_range(spec, &r, months[m].first, months[m].last);
                assert_true(months[m].first <= months[m].last);
                if (have_prev) {
                    assert_int_equal(prev.last + 1, months[m].first);
                }
                prev = months[m];
                have_prev = 1;
                for (int32_t d = months[m].first; d <= months[m].last; d++) {
                    int yy, mm;
                    period_month_of(d, &r, &yy, &mm);
                    assert_int_equal(yy, y);
                    assert_int_equal(mm, m);
                }
            }
            snprintf(spec, sizeof spec, "%d", y);
            assert_int_equal(period_parse(spec, &r, &yr), 0);
            assert_int_equal(yr.first, months[1].first);
            assert_int_equal(yr.last, months[12].last);
            for (int i = 1; i <= 4; i++) {
                snprintf(spec, sizeof spec, "%d-Q%d", y, i);
                assert_int_equal(period_parse(spec, &r, &q[i]), 0);
                assert_int_equal(q[i].first, months[3 * i - 2].first);
                assert_int_equal(q[i].last, months[3 * i].last);
            }
            for (int i = 1; i <= 2; i++) {
                snprintf(spec, sizeof spec, "%d-H%d", y, i);
                assert_int_equal(period_parse(spec, &r, &h[i]), 0);
                assert_int_equal(h[i].first, months[6 * i - 5].first);
                assert_int_equal(h[i].last, months[6 * i].last);
            }
            snprintf(spec, sizeof spec, "%d-9M", y);
            assert_int_equal(period_parse(spec, &r, &nine), 0);
            assert_int_equal(nine.first, months[1].first);
            assert_int_equal(nine.last, months[9].last);
        }
    }
}

static void test_month_of(void **state)
{
    (void)state;
    const period_rules_t r = {.month_start = 15};
    int y, m;
    period_month_of(D(2023, 12, 14), &r, &y, &m);
    assert_true(y == 2023 && m == 12);
    period_month_of(D(2023, 12, 15), &r, &y, &m);
    assert_true(y == 2024 && m == 1);
    period_month_of(D(2023, 12, 31), &r, &y, &m);
    assert_true(y == 2024 && m == 1);
    period_month_of(D(2024, 1, 14), &r, &y, &m);
    assert_true(y == 2024 && m == 1);
    period_month_of(D(2024, 1, 15), &r, &y, &m);
    assert_true(y == 2024 && m == 2);
    period_month_of(D(2023, 12, 15), NULL, &y, &m);
    assert_true(y == 2023 && m == 12);
    period_month_of(D(2023, 12, 31), NULL, &y, &m);
    assert_true(y == 2023 && m == 12);
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "23",
        "202",
        "20233",
        "2023-",
        "2023-Q",
        "2023-Q0",
        "2023-Q5",
        "2023-Q12",
        "2023-H0",
        "2023-H3",
        "2023-8M",
        "2023-9MM",
        "2023-13",
        "2023-00",
        "2023-0",
        "2023-123",
        "2023-M9",
        "2023Q1",
        "2023 Q1",
        "2023..2019",
        "2023-06-30..2023-01-01",
        "2023-01-01..",
        "..2023",
        "..",
        "2019..2023-01-01",
        "2023-01-01..2023",
        "2019...2023",
        "2023-01-01...2023-02-01",
        "1899",
        "3000",
        "1899..2023",
        "2023..3000",
        "2023-02-30..2023-03-01",
        "2023-11-18",
        "18/11/2023",
        "Q1-2023",
        "2023-Q1..2023-Q2",
        "2023-01..2023-03",
        "x2023",
        "2023x",
        "2023-H1 x",
    };
    const period_rules_t r = PERIOD_RULES_DEFAULT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        period_range_t out = {7, 7};
        if (period_parse(bad[i], &r, &out) != DK_EINVAL) {
            print_error("period_parse accepted \"%s\"\n", bad[i]);
            fail();
        }
        assert_true(out.first == 7 && out.last == 7);
    }
    period_range_t out;
    assert_int_equal(period_parse(NULL, &r, &out), DK_EINVAL);
    const period_rules_t zero = {.month_start = 0}, big = {.month_start = 29};
    assert_int_equal(period_parse("2023", &zero, &out), DK_EINVAL);
    assert_int_equal(period_parse("2023", &big, &out), DK_EINVAL);
    assert_int_equal(period_month_range(2023, 13, &r, &out), DK_EINVAL);
    assert_int_equal(period_month_range(1899, 1, &r, &out), DK_EINVAL);
}

static void test_parse_spec_kinds(void **state)
{
    (void)state;
    period_t p;
    assert_int_equal(period_parse_spec("2023-Q4", NULL, &p), 0);
    assert_true(p.kind == PERIOD_QUARTER && p.year == 2023 && p.num == 4);
    assert_int_equal(period_parse_spec("2023-11", NULL, &p), 0);
    assert_true(p.kind == PERIOD_MONTH && p.year == 2023 && p.num == 11);
    assert_int_equal(period_parse_spec("2023-H2", NULL, &p), 0);
    assert_true(p.kind == PERIOD_HALF && p.num == 2);
    assert_int_equal(period_parse_spec("2023-9M", NULL, &p), 0);
    assert_true(p.kind == PERIOD_NINE_MONTHS && p.year == 2023);
    assert_int_equal(period_parse_spec("2023", NULL, &p), 0);
    assert_true(p.kind == PERIOD_YEAR && p.year == 2023 && p.year_last == 2023);
    assert_int_equal(period_parse_spec("2019..2023", NULL, &p), 0);
    assert_true(p.kind == PERIOD_YEARS && p.year == 2019 && p.year_last == 2023);
    assert_int_equal(period_parse_spec("2023-01-01..2023-06-30", NULL, &p), 0);
    assert_true(p.kind == PERIOD_RANGE && p.range.first == D(2023, 1, 1));
}

static void expect_label(const char *spec, const period_rules_t *r, const char *want)
{
    char buf[128];
    int n = period_label_vi(spec, r, buf, sizeof buf);
    if (n < 0 || strcmp(buf, want) != 0) {
        print_error("period_label_vi(\"%s\") rc=%d \"%s\", want \"%s\"\n", spec, n,
                    n < 0 ? "" : buf, want);
        fail();
    }
    assert_int_equal(n, (int)strlen(want));
}

static void test_labels(void **state)
{
    (void)state;
    expect_label("2023-11", NULL, "Tháng 11/2023");
    expect_label("2023-1", NULL, "Tháng 01/2023");
    expect_label("2023-Q1", NULL, "Quý I/2023");
    expect_label("2023-Q2", NULL, "Quý II/2023");
    expect_label("2023-Q3", NULL, "Quý III/2023");
    expect_label("2023-Q4", NULL, "Quý IV/2023");
    expect_label("2023-H1", NULL, "6 tháng đầu năm 2023");
    expect_label("2023-H2", NULL, "6 tháng cuối năm 2023");
    expect_label("2023-9M", NULL, "9 tháng năm 2023");
    expect_label("2023", NULL, "Năm 2023");
    expect_label("2023-01-01..2023-06-30", NULL, "Từ 01/01/2023 đến 30/06/2023");
    expect_label("1/1/2023..30/6/2023", NULL, "Từ 01/01/2023 đến 30/06/2023");
    expect_label("2019..2023", NULL, "Giai đoạn 2019–2023");
    const period_rules_t r = {.month_start = 15};
    expect_label("2023-01", &r, "Tháng 01/2023 (15/12/2022–14/01/2023)");
    expect_label("2023", &r, "Năm 2023 (15/12/2022–14/12/2023)");
    expect_label("2023-01-01..2023-06-30", &r, "Từ 01/01/2023 đến 30/06/2023");
    char small[8];
    assert_int_equal(period_label_vi("2023", NULL, small, sizeof small), DK_ETOOBIG);
    char fit[sizeof "Năm 2023"];
    assert_int_equal(period_label_vi("2023", NULL, fit, sizeof fit), (int)strlen("Năm 2023"));
    char buf[96];
    assert_int_equal(period_label_vi("2023-Q5", NULL, buf, sizeof buf), DK_EINVAL);
    /* the longest label fits in 96 bytes */
    assert_true(period_label_vi("2023-H2", &r, buf, sizeof buf) > 0);
    assert_true(period_label_vi("1900..2999", &r, buf, sizeof buf) > 0);
}

static void test_format_day(void **state)
{
    (void)state;
    char buf[11];
    assert_int_equal(period_format_day(D(2023, 11, 18), buf, sizeof buf), 10);
    assert_string_equal(buf, "18/11/2023");
    assert_int_equal(period_format_day(0, buf, sizeof buf), 10);
    assert_string_equal(buf, "01/01/1970");
    assert_int_equal(period_format_day(D(2024, 2, 29), buf, sizeof buf), 10);
    assert_string_equal(buf, "29/02/2024");
    assert_int_equal(period_format_day(0, buf, 10), DK_ETOOBIG);
    assert_int_equal(period_format_iso(D(2023, 3, 8), buf, sizeof buf), 10);
    assert_string_equal(buf, "2023-03-08");
    /* a formatted day parses back */
    for (int32_t d = D(2023, 1, 1); d <= D(2024, 12, 31); d++) {
        int32_t back;
        assert_int_equal(period_format_day(d, buf, sizeof buf), 10);
        assert_int_equal(period_parse_date(buf, &back), 0);
        assert_int_equal(back, d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ymd_known),        cmocka_unit_test(test_ymd_every_day),
        cmocka_unit_test(test_yyyymmdd),         cmocka_unit_test(test_unix),
        cmocka_unit_test(test_parse_date),       cmocka_unit_test(test_parse_calendar),
        cmocka_unit_test(test_parse_cutoff),     cmocka_unit_test(test_periods_tile),
        cmocka_unit_test(test_month_of),         cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_spec_kinds), cmocka_unit_test(test_labels),
        cmocka_unit_test(test_format_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
