/* period — Vietnam dates, day numbers and reporting periods.
 *
 * Vietnam is UTC+7 all year with no daylight saving. A "day" is an int32_t counting days since
 * 1970-01-01 in the Vietnam calendar (1970-01-01 is day 0, 2023-11-18 is day 19679). Only years
 * 1900..2999 are accepted anywhere (DK_EINVAL otherwise). The wire carries dates as YYYYMMDD.
 *
 * A reporting period is an inclusive range of days. Offices may cut months on another day:
 * with month_start = 15, month M of year Y runs from the 15th of M-1 to the 14th of M (month 1
 * of 2023 is 2022-12-15..2023-01-14). Quarters, halves, nine months and years are unions of such
 * months, so the year 2023 then runs 2022-12-15..2023-12-14. Custom date ranges are absolute
 * and ignore the rule. All functions are pure and thread-safe (period_today reads the clock). */
#ifndef DK_PERIOD_H
#define DK_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#define PERIOD_YEAR_MIN 1900
#define PERIOD_YEAR_MAX 2999

/* Inclusive range of day numbers: first <= last. */
typedef struct {
    int32_t first, last;
} period_range_t;

/* month_start 1..28; 1 (the default) is the calendar month. A NULL rules pointer means default. */
typedef struct {
    int month_start;
} period_rules_t;

#define PERIOD_RULES_DEFAULT ((period_rules_t){.month_start = 1})

typedef enum {
    PERIOD_MONTH = 1,   /* "2023-11": year, num = 1..12 */
    PERIOD_QUARTER,     /* "2023-Q4": year, num = 1..4 */
    PERIOD_HALF,        /* "2023-H1": year, num = 1..2 (months 1-6 or 7-12) */
    PERIOD_NINE_MONTHS, /* "2023-9M": year (months 1-9) */
    PERIOD_YEAR,        /* "2023": year */
    PERIOD_YEARS,       /* "2019..2023": year .. year_last (multi-year review) */
    PERIOD_RANGE,       /* "2023-01-01..2023-06-30": custom days */
} period_kind_t;

/* A parsed period spec. range is always filled. */
typedef struct {
    period_kind_t kind;
    int year;      /* the (first) year; 0 for PERIOD_RANGE */
    int num;       /* month, quarter or half number; 0 otherwise */
    int year_last; /* PERIOD_YEARS: the last year; equal to year for the others; 0 for RANGE */
    period_range_t range;
} period_t;

/* Day number of a Vietnam calendar date. DK_EINVAL for impossible dates (2023-02-29, month 13)
 * or years outside 1900..2999. */
int period_ymd_to_day(int y, int m, int d, int32_t *day);
/* The calendar date of a day number (any int32_t within the year bounds). */
void period_day_to_ymd(int32_t day, int *y, int *m, int *d);
/* YYYYMMDD (e.g. 20231118) to a day number; DK_EINVAL when impossible. */
int period_yyyymmdd_to_day(uint32_t yyyymmdd, int32_t *day);
uint32_t period_day_to_yyyymmdd(int32_t day);
/* The Vietnam (UTC+7) day of a Unix time in seconds. Floors correctly for negative times. */
int32_t period_day_of_unix(int64_t unix_seconds);
/* Today in Vietnam. */
int32_t period_today(void);

/* Parses one date a person typed: "2023-11-18" (ISO, month/day may be unpadded), "18/11/2023",
 * "18-11-2023", "18.11.2023", "8/3/2023" (day first, 1-2 digit day and month, 4-digit year, one
 * separator used throughout). Leading and trailing spaces are ignored. DK_EINVAL for anything
 * else or an impossible date. */
int period_parse_date(const char *s, int32_t *day);

/* Parses a period spec: "2023", "2023-Q1".."2023-Q4" ("q" too), "2023-01".."2023-12"
 * ("2023-1" too), "2023-H1"/"H2" ("h" too), "2023-9M" ("9m" too), "2019..2023" (multi-year,
 * first <= last),
 * "2023-01-01..2023-06-30" (each end in any period_parse_date form; first <= last).
 * Surrounding spaces are ignored. DK_EINVAL for malformed, reversed or out-of-bound input, and for
 * invalid rules (month_start outside 1..28). r may be NULL (calendar months). */
int period_parse(const char *s, const period_rules_t *r, period_range_t *out);
/* Same, returning the kind and numbers too. */
int period_parse_spec(const char *s, const period_rules_t *r, period_t *out);

/* The range of reporting month (year, month) under r. DK_EINVAL for bad arguments. */
int period_month_range(int year, int month, const period_rules_t *r, period_range_t *out);

/* Which reporting month a day falls in under r (with month_start 15, 2023-12-20 is month 1 of
 * 2024). r may be NULL. */
void period_month_of(int32_t day, const period_rules_t *r, int *year, int *month);

/* Vietnamese label of a period spec into buf (UTF-8, NUL-terminated):
 *   "2023-11"  -> "Tháng 11/2023" (month zero-padded: "Tháng 01/2023")
 *   "2023-Q4"  -> "Quý IV/2023"          "2023-H1" -> "6 tháng đầu năm 2023"
 *   "2023-H2"  -> "6 tháng cuối năm 2023" "2023-9M" -> "9 tháng năm 2023"
 *   "2023"     -> "Năm 2023"             "2019..2023" -> "Giai đoạn 2019–2023" (en dash)
 *   "2023-01-01..2023-06-30" -> "Từ 01/01/2023 đến 30/06/2023"
 * With a month_start other than 1, non-range labels get the actual days appended:
 *   "Tháng 01/2023 (15/12/2022–14/01/2023)".
 * Returns the label's length in bytes; DK_EINVAL for a bad spec, DK_ETOOBIG if buf is too short
 * (96 bytes are always enough). */
int period_label_vi(const char *spec, const period_rules_t *r, char *buf, size_t len);

/* "18/11/2023" into buf (11 bytes needed). Returns 10, or DK_ETOOBIG. */
int period_format_day(int32_t day, char *buf, size_t len);

/* "2023-11-18" into buf (11 bytes needed). Returns 10, or DK_ETOOBIG. */
int period_format_iso(int32_t day, char *buf, size_t len);

#endif
