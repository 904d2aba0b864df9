/* period — Vietnam dates and reporting periods.
 *
 * Day numbers use Howard Hinnant's days_from_civil / civil_from_days algorithms (proleptic
 * Gregorian, exact for any int32 day), so no libc time zone machinery is involved: Vietnam has had
 * UTC+7 without daylight saving since 1975, and we never need the local zone of the machine. */
#include "period.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = mm;
    *d = dd;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

int period_ymd_to_day(int y, int m, int d, int32_t *day)
{
    if (y < PERIOD_YEAR_MIN || y > PERIOD_YEAR_MAX || m < 1 || m > 12 || d < 1 ||
        d > days_in_month(y, m)) {
        return DK_EINVAL;
    }
    *day = (int32_t)days_from_civil(y, m, d);
    return 0;
}

void period_day_to_ymd(int32_t day, int *y, int *m, int *d)
{
    civil_from_days(day, y, m, d);
}

int period_yyyymmdd_to_day(uint32_t v, int32_t *day)
{
    return period_ymd_to_day((int)(v / 10000), (int)(v / 100 % 100), (int)(v % 100), day);
}

uint32_t period_day_to_yyyymmdd(int32_t day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    return (uint32_t)y * 10000u + (uint32_t)m * 100u + (uint32_t)d;
}

int32_t period_day_of_unix(int64_t unix_seconds)
{
    /* Floor division, so 1969-12-31T23:00:00+07:00 is day -1, not 0. */
    int64_t t = unix_seconds + 7 * 3600;
    int64_t q = t / 86400;
    if (t % 86400 != 0 && t < 0) {
        q--;
    }
    return (int32_t)q;
}

int32_t period_today(void)
{
    return period_day_of_unix((int64_t)time(NULL));
}

/* ---- small scanner over a trimmed string ---- */

typedef struct {
    const char *p, *end;
} scan_t;

static void trim(const char *s, scan_t *sc)
{
    const char *e = s + strlen(s);
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    sc->p = s;
    sc->end = e;
}

/* Reads between min and max decimal digits; returns the count read (0 if out of bounds). */
static int digits(scan_t *sc, int min, int max, int *val)
{
    int n = 0, v = 0;
    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9' && n < max) {
        v = v * 10 + (*sc->p - '0');
        sc->p++;
        n++;
    }
    if (n < min || (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')) {
        return 0;
    }
    *val = v;
    return n;
}

static bool take(scan_t *sc, char c)
{
    if (sc->p < sc->end && *sc->p == c) {
        sc->p++;
        return true;
    }
    return false;
}

/* Parses a date occupying exactly [p, end). */
static int parse_date_span(const char *p, const char *end, int32_t *day)
{
    scan_t sc = {p, end};
    int a, b, c;
    int na = digits(&sc, 1, 4, &a);
    if (na == 4) {
        if (!take(&sc, '-') || !digits(&sc, 1, 2, &b) || !take(&sc, '-') ||
            !digits(&sc, 1, 2, &c) || sc.p != sc.end) {
            return DK_EINVAL;
        }
        return period_ymd_to_day(a, b, c, day);
    }
    if (na < 1 || na > 2 || sc.p >= sc.end) {
        return DK_EINVAL;
    }
    char sep = *sc.p;
    if (sep != '/' && sep != '-' && sep != '.') {
        return DK_EINVAL;
    }
    sc.p++;
    if (!digits(&sc, 1, 2, &b) || !take(&sc, sep) || digits(&sc, 4, 4, &c) != 4 || sc.p != sc.end) {
        return DK_EINVAL;
    }
    return period_ymd_to_day(c, b, a, day);
}

int period_parse_date(const char *s, int32_t *day)
{
    if (s == NULL) {
        return DK_EINVAL;
    }
    scan_t sc;
    trim(s, &sc);
    int32_t d;
    int rc = parse_date_span(sc.p, sc.end, &d);
    if (rc == 0) {
        *day = d;
    }
    return rc;
}

static int month_start_of(const period_rules_t *r)
{
    return r == NULL ? 1 : r->month_start;
}

/* The first and last day of reporting month (y, m) without year bounds checks. */
static void month_span(int y, int m, int s, int64_t *first, int64_t *last)
{
    if (s == 1) {
        *first = days_from_civil(y, m, 1);
        *last = days_from_civil(y, m, days_in_month(y, m));
        return;
    }
    int py = m == 1 ? y - 1 : y;
    int pm = m == 1 ? 12 : m - 1;
    *first = days_from_civil(py, pm, s);
    *last = days_from_civil(y, m, s - 1);
}

static void months_range(int y, int m_first, int y_last, int m_last, int s, period_range_t *out)
{
    int64_t f, l, unused;
    month_span(y, m_first, s, &f, &unused);
    month_span(y_last, m_last, s, &unused, &l);
    out->first = (int32_t)f;
    out->last = (int32_t)l;
}

int period_month_range(int year, int month, const period_rules_t *r, period_range_t *out)
{
    int s = month_start_of(r);
    if (s < 1 || s > 28 || year < PERIOD_YEAR_MIN || year > PERIOD_YEAR_MAX || month < 1 ||
        month > 12) {
        return DK_EINVAL;
    }
    months_range(year, month, year, month, s, out);
    return 0;
}

void period_month_of(int32_t day, const period_rules_t *r, int *year, int *month)
{
    int s = month_start_of(r);
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    if (s > 1 && s <= 28 && d >= s) {
        if (++m == 13) {
            m = 1;
            y++;
        }
    }
    *year = y;
    *month = m;
}

static bool year_ok(int y)
{
    return y >= PERIOD_YEAR_MIN && y <= PERIOD_YEAR_MAX;
}

/* Parses "YYYY" or "YYYY-suffix" occupying [p, end). */
static int parse_single(const char *p, const char *end, int s, period_t *out)
{
    scan_t sc = {p, end};
    int y, n;
    if (digits(&sc, 4, 4, &y) != 4 || !year_ok(y)) {
        return DK_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->year = out->year_last = y;
    if (sc.p == sc.end) {
        out->kind = PERIOD_YEAR;
        months_range(y, 1, y, 12, s, &out->range);
        return 0;
    }
    if (!take(&sc, '-') || sc.p == sc.end) {
        return DK_EINVAL;
    }
    char c = *sc.p;
    if (c == 'Q' || c == 'q' || c == 'H' || c == 'h') {
        sc.p++;
        if (digits(&sc, 1, 1, &n) != 1 || sc.p != sc.end) {
            return DK_EINVAL;
        }
        bool q = c == 'Q' || c == 'q';
        if (n < 1 || n > (q ? 4 : 2)) {
            return DK_EINVAL;
        }
        out->kind = q ? PERIOD_QUARTER : PERIOD_HALF;
        out->num = n;
        int per = q ? 3 : 6;
        months_range(y, (n - 1) * per + 1, y, n * per, s, &out->range);
        return 0;
    }
    if (sc.end - sc.p == 2 && sc.p[0] == '9' && (sc.p[1] == 'M' || sc.p[1] == 'm')) {
        out->kind = PERIOD_NINE_MONTHS;
        months_range(y, 1, y, 9, s, &out->range);
        return 0;
    }
    if (!digits(&sc, 1, 2, &n) || sc.p != sc.end || n < 1 || n > 12) {
        return DK_EINVAL;
    }
    out->kind = PERIOD_MONTH;
    out->num = n;
    months_range(y, n, y, n, s, &out->range);
    return 0;
}

static bool only_digits(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
    }
    return true;
}

int period_parse_spec(const char *str, const period_rules_t *r, period_t *out)
{
    int s = month_start_of(r);
    if (str == NULL || s < 1 || s > 28) {
        return DK_EINVAL;
    }
    scan_t sc;
    trim(str, &sc);
    const char *dots = NULL;
    for (const char *p = sc.p; p + 1 < sc.end; p++) {
        if (p[0] == '.' && p[1] == '.') {
            dots = p;
            break;
        }
    }
    if (dots == NULL) {
        return parse_single(sc.p, sc.end, s, out);
    }
    scan_t a = {sc.p, dots}, b = {dots + 2, sc.end};
    /* Spaces around ".." are allowed: "2019 .. 2023". */
    while (a.end > a.p && a.end[-1] == ' ') {
        a.end--;
    }
    while (b.p < b.end && *b.p == ' ') {
        b.p++;
    }
    period_t tmp;
    memset(&tmp, 0, sizeof tmp);
    if (a.end - a.p == 4 && b.end - b.p == 4 && only_digits(a.p, a.end) &&
        only_digits(b.p, b.end)) {
        int y1, y2;
        if (digits(&a, 4, 4, &y1) != 4 || digits(&b, 4, 4, &y2) != 4 || !year_ok(y1) ||
            !year_ok(y2) || y1 > y2) {
            return DK_EINVAL;
        }
        tmp.kind = PERIOD_YEARS;
        tmp.year = y1;
        tmp.year_last = y2;
        months_range(y1, 1, y2, 12, s, &tmp.range);
        *out = tmp;
        return 0;
    }
    int32_t d1, d2;
    if (parse_date_span(a.p, a.end, &d1) != 0 || parse_date_span(b.p, b.end, &d2) != 0 || d1 > d2) {
        return DK_EINVAL;
    }
    tmp.kind = PERIOD_RANGE;
    tmp.range.first = d1;
    tmp.range.last = d2;
    *out = tmp;
    return 0;
}

int period_parse(const char *s, const period_rules_t *r, period_range_t *out)
{
    period_t p;
    int rc = period_parse_spec(s, r, &p);
    if (rc == 0) {
        *out = p.range;
    }
    return rc;
}

int period_format_day(int32_t day, char *buf, size_t len)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int n = snprintf(buf, len, "%02d/%02d/%04d", d, m, y);
    return n < 0 || (size_t)n >= len ? DK_ETOOBIG : n;
}

int period_format_iso(int32_t day, char *buf, size_t len)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int n = snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
    return n < 0 || (size_t)n >= len ? DK_ETOOBIG : n;
}

int period_label_vi(const char *spec, const period_rules_t *r, char *buf, size_t len)
{
    static const char *const roman[5] = {"", "I", "II", "III", "IV"};
    period_t p;
    int rc = period_parse_spec(spec, r, &p);
    if (rc != 0) {
        return rc;
    }
    char a[16], b[16], label[96];
    period_format_day(p.range.first, a, sizeof a);
    period_format_day(p.range.last, b, sizeof b);
    switch (p.kind) {
    case PERIOD_MONTH:
        snprintf(label, sizeof label, "Tháng %02d/%d", p.num, p.year);
        break;
    case PERIOD_QUARTER:
        snprintf(label, sizeof label, "Quý %s/%d", roman[p.num], p.year);
        break;
    case PERIOD_HALF:
        snprintf(label, sizeof label, "6 tháng %s năm %d", p.num == 1 ? "đầu" : "cuối", p.year);
        break;
    case PERIOD_NINE_MONTHS:
        snprintf(label, sizeof label, "9 tháng năm %d", p.year);
        break;
    case PERIOD_YEAR:
        snprintf(label, sizeof label, "Năm %d", p.year);
        break;
    case PERIOD_YEARS:
        snprintf(label, sizeof label, "Giai đoạn %d–%d", p.year, p.year_last);
        break;
    case PERIOD_RANGE:
        snprintf(label, sizeof label, "Từ %s đến %s", a, b);
        break;
    }
    /* With a cut-off rule, "Tháng 01/2023" alone would mislead a reader who thinks in calendar
     * months, so the actual days are shown. */
    if (p.kind != PERIOD_RANGE && month_start_of(r) != 1) {
        size_t used = strlen(label);
        snprintf(label + used, sizeof label - used, " (%s–%s)", a, b);
    }
    size_t n = strlen(label);
    if (n + 1 > len) {
        return DK_ETOOBIG;
    }
    memcpy(buf, label, n + 1);
    return (int)n;
}
