/* report — the district's report for a period: one row per commune, the plan's indicators as
 * columns (Vietnamese headers), a totals row (and a targets row when a plan file is configured).
 * Written as CSV (UTF-8 with BOM, comma separated, RFC 4180 quoting), XLSX (libxlsxwriter, đồng
 * with a "#,##0" number format) or JSON (the same rows as /api/v1/report).
 *
 * Used by `dk-aggregator export --period P --format csv|xlsx|json [-o FILE]` and by
 * GET /api/v1/export. Reads the store in one read transaction, so every figure is from one
 * version. */
#ifndef DK_REPORT_H
#define DK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aconf.h"
#include "json.h"
#include "period.h"

struct store;

typedef enum { REPORT_CSV = 1, REPORT_XLSX = 2, REPORT_JSON = 3 } report_format_t;

/* "csv", "xlsx" or "json" (case-insensitive). Returns 0 or DK_EINVAL. */
int report_format_parse(const char *name, report_format_t *out);
/* MIME type and file extension of a format (static strings). */
const char *report_format_mime(report_format_t fmt);
const char *report_format_ext(report_format_t fmt);

/* Renders the report of `period` (period_parse syntax: "2023", "2023-Q4", "2023-11", ...) into a
 * new buffer (*data, *len; the caller frees *data). conf and store are borrowed. The plan file
 * and month-start come from conf's [http] section. Returns 0; DK_EINVAL for a bad period or
 * format (err says which); DK_ECONFIG for a bad [http] section or plan file; DK_ESTORE/DK_EIO
 * when the store cannot be read. err always gets one line (English) on failure. */
int report_render(struct store *store, const aconf_t *conf, const char *period,
                  report_format_t fmt, char **data, size_t *len, char *err, size_t errlen);

/* The `export` command: renders and writes to path (NULL or "-": stdout; written to a temporary
 * file and renamed, so a reader never sees half a file). Returns as report_render, or DK_EIO. */
int report_export(struct store *store, const aconf_t *conf, const char *period,
                  report_format_t fmt, const char *path, char *err, size_t errlen);

/* ---- the model behind the report, the API and the page ------------------------------------ */

/* The report's indicators (columns), in column order. */
typedef struct {
    const char *slug;   /* ASCII key in JSON and in plan files: "propaganda_sessions" */
    const char *label;  /* Vietnamese column header: "Tuyên truyền (buổi)" */
    const char *unit;   /* "buổi", "đ", "m²"... */
    bool money;         /* integer đồng */
} report_indicator_t;
const report_indicator_t *report_indicators(size_t *n);

/* Plan targets (config/plan/ format, see config/plan/README.md): [plan] name/period,
 * [district] slug = target, [each-commune] slug = target, [commune CODE] slug = target. */
typedef struct report_plan report_plan_t;
/* Loads a plan file for the aggregator of unit `unit` (0: any). Its [plan] period must be a
 * period (2023, 2023-H1, ...) and its unit this aggregator's. Returns 0 and *out, DK_ECONFIG/DK_EIO
 * with a line in err naming the file, line and key. A report applies the targets only when its
 * period lies within the plan's (progress to date: 2023-9M against a plan for 2023); for any other
 * period it shows none, rather than one year's targets beside another year's figures. */
int report_plan_load(const char *path, uint32_t unit, report_plan_t **out, char *err,
                     size_t errlen);
/* NULL-safe, idempotent, nulls *self_p. */
void report_plan_destroy(report_plan_t **self_p);

typedef struct report report_t;

/* Reads everything the report of `period` needs from the store in one pass: rows per unit
 * (configured communes, and any unit with cells or state), indicators, plan checklist, fund
 * ledgers (opening balance from every movement before the period), member organisations' shares,
 * contents and monthly trend. plan may be NULL; rules may be NULL (calendar months). conf, plan
 * and store are borrowed for the call only. Returns 0 and *out; DK_EINVAL (bad period, err says
 * so), DK_ESTORE. */
int report_build(struct store *store, const aconf_t *conf, const report_plan_t *plan,
                 const period_rules_t *rules, const char *period, report_t **out, char *err,
                 size_t errlen);
/* The same, with the rows' unit names from a unit registry (aggregator/units.h; borrowed, the
 * names in force on the period's last day, else the nearest). units NULL: the registry is read
 * from conf ([aggregator] units-file and the configured names) for this call; DK_ECONFIG/DK_EIO
 * when that fails (err names file:line:column). report_build is this with units NULL. */
struct units;
int report_build_units(struct store *store, const aconf_t *conf, const struct units *units,
                       const report_plan_t *plan, const period_rules_t *rules, const char *period,
                       report_t **out, char *err, size_t errlen);
void report_destroy(report_t **self_p);

/* Parts of the model for report_json. */
enum {
    REPORT_PART_META = 1,       /* period, label, version, unit, name, generated_at */
    REPORT_PART_ROWS = 2,       /* rows (indicators, freshness) + totals + targets */
    REPORT_PART_CHECKLIST = 4,  /* per commune plan checklist */
    REPORT_PART_LEDGER = 8,     /* fund ledgers: district and per commune */
    REPORT_PART_ORGANISERS = 16,
    REPORT_PART_CHARTS = 32,    /* fund by source, activities by content, monthly trend */
    REPORT_PART_ALL = 63,
};
/* Writes the chosen parts of self as members of the JSON object open in j (docs/api.md). When
 * unit is not 0, rows, checklist and ledger are limited to that unit. */
void report_json(const report_t *self, unsigned parts, uint32_t unit, json_t *j);

/* Renders an already built model (as report_render does). */
int report_write(const report_t *self, report_format_t fmt, char **data, size_t *len, char *err,
                 size_t errlen);

#endif
