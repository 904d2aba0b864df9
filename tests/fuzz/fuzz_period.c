/* libFuzzer target for common/period: arbitrary text (a NUL-terminated copy of the input) through
 * period_parse_date, period_parse, period_parse_spec and period_label_vi, under the calendar
 * months and under a cut-off rule (month_start 2..28, picked from the input's length), and with
 * an invalid rule. Checked on every input, besides no crash, no leak and no sanitizer report:
 *   - a parsed date lies in years 1900..2999 and survives period_format_iso, period_format_day
 *     and YYYYMMDD back to the same day;
 *   - a parsed period has first <= last, period_parse and period_parse_spec agree, its kind and
 *     numbers are in range, the same period written canonically parses to the same range, a
 *     reporting month's days all fall in that month (period_month_of), and period_label_vi
 *     succeeds with a 96-byte buffer (the documented bound), gives non-empty UTF-8 of the length
 *     it returns, and DK_ETOOBIG (nothing else) with a buffer one byte short;
 *   - whatever does not parse gets DK_EINVAL from every function, label included;
 *   - an invalid rule (month_start 0 or 29) is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "period.h"
#include "text.h"

/* Names the broken invariant (the line just above) before libFuzzer records the crash. */
#define FAIL()                                                                                     \
    (fprintf(stderr, "%s:%d: invariant broken (the condition above)\n", __FILE__, __LINE__),       \
     abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_day(int32_t day)
{
    int y, m, d;
    period_day_to_ymd(day, &y, &m, &d);
    if (y < PERIOD_YEAR_MIN || y > PERIOD_YEAR_MAX) {
        FAIL();
    }
    char iso[11], vn[11];
    int32_t back = -1;
    if (period_format_iso(day, iso, sizeof iso) != 10 || period_parse_date(iso, &back) != 0 ||
        back != day) {
        FAIL();
    }
    if (period_format_day(day, vn, sizeof vn) != 10 || period_parse_date(vn, &back) != 0 ||
        back != day) {
        FAIL();
    }
    if (period_yyyymmdd_to_day(period_day_to_yyyymmdd(day), &back) != 0 || back != day ||
        period_ymd_to_day(y, m, d, &back) != 0 || back != day) {
        FAIL();
    }
}

/* The spec that writes p canonically, into buf. */
static void canonical(const period_t *p, char *buf, size_t len)
{
    char a[11], b[11];
    switch (p->kind) {
    case PERIOD_MONTH:
        snprintf(buf, len, "%04d-%02d", p->year, p->num);
        break;
    case PERIOD_QUARTER:
        snprintf(buf, len, "%04d-Q%d", p->year, p->num);
        break;
    case PERIOD_HALF:
        snprintf(buf, len, "%04d-H%d", p->year, p->num);
        break;
    case PERIOD_NINE_MONTHS:
        snprintf(buf, len, "%04d-9M", p->year);
        break;
    case PERIOD_YEAR:
        snprintf(buf, len, "%04d", p->year);
        break;
    case PERIOD_YEARS:
        snprintf(buf, len, "%04d..%04d", p->year, p->year_last);
        break;
    case PERIOD_RANGE:
        if (period_format_iso(p->range.first, a, sizeof a) != 10 ||
            period_format_iso(p->range.last, b, sizeof b) != 10) {
            FAIL();
        }
        snprintf(buf, len, "%s..%s", a, b);
        break;
    default:
        FAIL();
    }
}

static void check_spec(const char *s, const period_rules_t *r)
{
    period_t p;
    period_range_t range = {7, 7};
    char label[96];
    int rc = period_parse_spec(s, r, &p);
    int rc2 = period_parse(s, r, &range);
    int lrc = period_label_vi(s, r, label, sizeof label);
    if (rc != rc2) {
        FAIL();
    }
    if (rc != 0) {
        if (rc != DK_EINVAL || lrc != DK_EINVAL) {
            FAIL();
        }
        return;
    }
    if (p.range.first > p.range.last || range.first != p.range.first ||
        range.last != p.range.last) {
        FAIL();
    }
    if (p.kind == PERIOD_RANGE) {
        if (p.year != 0 || p.num != 0 || p.year_last != 0) {
            FAIL();
        }
        check_day(p.range.first);
        check_day(p.range.last);
    } else {
        int nmax = p.kind == PERIOD_MONTH     ? 12
                   : p.kind == PERIOD_QUARTER ? 4
                   : p.kind == PERIOD_HALF    ? 2
                                              : 0;
        if (p.year < PERIOD_YEAR_MIN || p.year > p.year_last || p.year_last > PERIOD_YEAR_MAX ||
            (p.kind != PERIOD_YEARS && p.year_last != p.year) ||
            (nmax ? p.num < 1 || p.num > nmax : p.num != 0)) {
            FAIL();
        }
    }
    if (p.kind == PERIOD_MONTH) {
        int y, m;
        period_month_of(p.range.first, r, &y, &m);
        if (y != p.year || m != p.num) {
            FAIL();
        }
        period_month_of(p.range.last, r, &y, &m);
        if (y != p.year || m != p.num) {
            FAIL();
        }
        period_range_t mr;
        if (period_month_range(p.year, p.num, r, &mr) != 0 || mr.first != p.range.first ||
            mr.last != p.range.last) {
            FAIL();
        }
    }
    char canon[64];
    canonical(&p, canon, sizeof canon);
    period_t q;
    if (period_parse_spec(canon, r, &q) != 0 || q.kind != p.kind ||
        q.range.first != p.range.first || q.range.last != p.range.last) {
        FAIL();
    }
    if (lrc <= 0 || (size_t)lrc >= sizeof label || strlen(label) != (size_t)lrc ||
        !text_utf8_valid(label, (size_t)lrc)) {
        FAIL();
    }
    char small[96];
    if (period_label_vi(s, r, small, (size_t)lrc) != DK_ETOOBIG ||
        period_label_vi(s, r, small, (size_t)lrc + 1) != lrc || strcmp(small, label) != 0) {
        FAIL();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0; /* dates and periods are short; longer only slows the search */
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    int32_t day = 0;
    int rc = period_parse_date(s, &day);
    if (rc == 0) {
        check_day(day);
    } else if (rc != DK_EINVAL) {
        FAIL();
    }

    check_spec(s, NULL);
    period_rules_t cut = {.month_start = 2 + (int)(size % 27)};
    check_spec(s, &cut);
    period_range_t range;
    char label[96];
    period_rules_t bad = {.month_start = size % 2 ? 0 : 29};
    if (period_parse(s, &bad, &range) != DK_EINVAL ||
        period_label_vi(s, &bad, label, sizeof label) != DK_EINVAL) {
        FAIL();
    }
    free(s);
    return 0;
}
