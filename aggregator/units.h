/* units — the unit registry: official unit codes and names (the CSV files of config/units/),
 * effective-dated, plus the names the aggregator's own config gives (which take precedence).
 *
 * Why: a parent aggregator (province, nation) receives snapshots that carry codes, not names, and
 * only a district's config names its communes. The registry lets every view (API, dashboard,
 * exports, `status`) show "Xã Đắk Lao" instead of "Đơn vị 24640".
 *
 * CSV format (config/units/README.md), UTF-8 (a BOM is ignored), LF or CRLF line ends, RFC 4180
 * quoting ("..." with "" for a quote), this exact header line:
 *
 *   code,level,parent,type,name_vi,valid_from,valid_to
 *   67,province,,Tỉnh,Đắk Nông,,2025-06-30
 *   663,district,67,Huyện,Đắk Mil,,2025-06-30
 *   24640,commune,663,Xã,Đắk Lao,,2025-06-30
 *
 * Checks (each error is one line "FILE:LINE:COLUMN: field: message", column counted in characters
 * from 1): 7 fields per row; code digits only, 2 digits for a province, 3 for a district, 5 for a
 * commune (a nation: 1..5 digits); level one of national|province|district|commune; parent empty
 * only for a province or nation, otherwise digits naming a unit of a higher level that is known once
 * the file is read (in this file or one loaded before); type one of Tỉnh, Thành phố, Huyện, Quận,
 * Thị xã, Phường, Xã, Thị trấn, Đặc khu, Quốc gia; name_vi not empty, valid UTF-8, no control
 * characters, NFC (no combining marks); dates YYYY-MM-DD (real calendar days) or empty (open), from
 * <= to; one code's validity periods must not overlap (the message names the other row's file:line).
 * Loading is all-or-nothing per file: on error the registry is unchanged.
 *
 * Dates are day numbers of common/period.h. Thread safety: read-only use (find/name/label) from many
 * threads is fine once loading is done; loading is not concurrent with anything. */
#ifndef DK_UNITS_H
#define DK_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aconf;

typedef struct units units_t;

/* Levels: the same numbers as ACONF_LEVEL_* (aconf.h). */
enum { UNITS_LEVEL_UNKNOWN = -1, UNITS_LEVEL_COMMUNE = 0, UNITS_LEVEL_DISTRICT = 1,
       UNITS_LEVEL_PROVINCE = 2, UNITS_LEVEL_NATIONAL = 3 };

/* Open ends of a validity period. */
#define UNITS_OPEN_FROM INT32_MIN
#define UNITS_OPEN_TO INT32_MAX

/* One unit as the registry answers. Strings are borrowed: they live as long as the registry (until
 * the next load or units_set_name). */
typedef struct {
    uint32_t code;
    int level;              /* UNITS_LEVEL_*; UNKNOWN for a name only the config gives */
    uint32_t parent;        /* 0: none or unknown */
    const char *type;       /* "Xã", "Huyện"...; "" for a name only the config gives */
    const char *name;       /* the official name without its type ("Đắk Lao"); "" if config only */
    const char *full_name;  /* what people read: the configured name if any, else "Xã Đắk Lao" */
    int32_t valid_from;     /* day number; UNITS_OPEN_FROM when open */
    int32_t valid_to;       /* day number; UNITS_OPEN_TO when open */
    bool configured;        /* full_name comes from the aggregator's config */
} units_entry_t;

/* An empty registry. NULL-safe destroy, idempotent, nulls *self_p. */
units_t *units_new(void);
void units_destroy(units_t **self_p);

/* Adds the units of a CSV file, or of every "*.csv" file in a folder (in name order). Returns 0,
 * DK_EIO (cannot read: err names the path and why) or DK_ECONFIG (err: "FILE:LINE:COLUMN: ...").
 * err gets one NUL-terminated line (errlen bytes) on failure. */
int units_load(units_t *self, const char *path, char *err, size_t errlen);

/* The same for CSV text in memory; name_for_errors names it in errors. Returns 0 or DK_ECONFIG. */
int units_load_string(units_t *self, const char *text, size_t len, const char *name_for_errors,
                      char *err, size_t errlen);

/* Sets the configured name of code (from `[commune CODE] name=`, `[child NAME] title=`, the
 * aggregator's own `name=`): it takes precedence over the official name on every date. An empty
 * name is ignored. A later call for the same code replaces the earlier one. */
void units_set_name(units_t *self, uint32_t code, const char *name);

/* The registry of an aggregator: the official file or folder of [aggregator] units-file (when set),
 * then the configured names of its own unit, its [commune CODE] sections and its [child NAME]
 * titles. Returns 0 and *out (destroy with units_destroy), or DK_EIO/DK_ECONFIG with err as above
 * (a [child] section error too). */
int units_from_conf(const struct aconf *conf, units_t **out, char *err, size_t errlen);

/* The unit with this code in force on `day` (a configured name applies on every day; its level
 * and parent then come from the official row in force, when there is one). Returns 0 and *out, or
 * DK_ENOTFOUND. */
int units_find(const units_t *self, uint32_t code, int32_t day, units_entry_t *out);

/* units_find, but when no official row is in force on day, the row nearest to it (as units_name
 * does): for showing figures of a unit dissolved since. Returns 0 and *out, or DK_ENOTFOUND. */
int units_find_near(const units_t *self, uint32_t code, int32_t day, units_entry_t *out);

/* The name people read for code on `day`: the configured name; else the official "type name" in
 * force on that day; else, when the code has official rows but none on that day (figures of a unit
 * dissolved since, a report period running past a reform), the row nearest to the day. NULL when
 * nothing is known. Borrowed. */
const char *units_name(const units_t *self, uint32_t code, int32_t day);

/* units_name, or "Đơn vị NNNNN" when nothing is known (self may be NULL). A new string to free. */
char *units_label(const units_t *self, uint32_t code, int32_t day);

/* The number of official rows loaded (configured names not counted). */
size_t units_count(const units_t *self);

#endif
