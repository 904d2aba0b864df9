/* csvimport — reading a commune's CSV file (the templates under config/templates/) into events.
 *
 * Accepted: UTF-8 with or without BOM; comma or semicolon separators (detected from the header
 * line, outside quotes); LF or CRLF line ends; quoted fields holding separators, quotes ("") and
 * newlines; headers and values in NFC or NFD. Headers are matched loosely (record.h): case,
 * diacritics, spaces do not matter, and the option names ("date", "participants") work too. Unknown
 * columns are an error (so a typo never silently drops a figure). The file kind (activities or fund
 * movements) comes from its columns: "Loại hoạt động" means activities, "Quỹ" fund movements.
 *
 * Every row becomes one event, validated with wire_check_event (the aggregator's rule book). A row
 * with any problem is reported with its line (the physical line in the file where the row starts,
 * 1 = the header line), its column (1-based number and header) and a Vietnamese reason. A file is
 * all or nothing: the caller records its events only when the parse found no error at all.
 *
 * Row identity: each event carries origin_key = the first 16 bytes of BLAKE2b over (commune, the
 * event's canonical packed content, and the number of identical rows before it in the file), so
 * the same rows give the same keys whatever the encoding variant (BOM, CRLF, separator, NFC/NFD,
 * 18/11/2023 vs 2023-11-18, column order), and a file dropped twice records nothing new. */
#ifndef DK_CSVIMPORT_H
#define DK_CSVIMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "doanket.pb-c.h"
#include "record.h"
#include "wire.h"

/* Files larger than this are refused as a whole (a commune's monthly file is a few KiB). */
#define CSVIMPORT_MAX_FILE (16 * 1024 * 1024)
/* At most this many errors are listed; the rest are counted. */
#define CSVIMPORT_MAX_ERRORS 200

typedef struct {
    int line;         /* physical line where the row starts (1 = header); 0: the file as a whole */
    int column;       /* 1-based column; 0 when the problem is the whole row */
    char *header;     /* the column's header as written in the file (owned; may be NULL) */
    char *reason;     /* Vietnamese (owned) */
} csvimport_error_t;

typedef struct {
    record_kind_t kind;         /* RECORD_ACTIVITY or RECORD_FUND (0 when undetermined) */
    char delimiter;             /* ',' or ';' */
    bool bom;                   /* the file started with a UTF-8 BOM */
    size_t rows;                /* data rows read (blank rows are skipped) */
    Dk__Event **events;         /* one per good row when no error (owned; record_event_free) */
    int *event_lines;           /* the line of each event */
    size_t n_events;
    csvimport_error_t *errors;  /* owned */
    size_t n_errors;            /* listed */
    size_t more_errors;         /* further errors not listed */
} csvimport_t;

/* Parses the CSV text buf[0..len) named `name` (for messages) for commune. The result is always
 * returned in *out (free with csvimport_destroy); errors, if any, are in it. The events' seq is a
 * placeholder (1) until the outbox assigns numbers; the commune is set. today: the Vietnam day
 * number used by the date rule (<= 0: the clock). Returns 0 when the file is good, DK_EINVAL when
 * it has errors (listed in *out). */
int csvimport_parse(const char *buf, size_t len, uint32_t commune, int32_t today,
                    csvimport_t **out);

/* Reads and parses a file. Returns as csvimport_parse, or DK_EIO / DK_ETOOBIG (then *out still
 * holds one error explaining it). */
int csvimport_parse_file(const char *path, uint32_t commune, int32_t today, csvimport_t **out);

/* The same two with the whole rule book (rules borrowed; rules->commune must be set): what the
 * agent records goes through these with agentconf_wire_rules(), so an import checks exactly what
 * `dk-agent record` checks (max-area included). csvimport_parse/_file use the defaults with
 * commune and today (area then only capped by WIRE_MAX_AREA). */
int csvimport_parse_rules(const char *buf, size_t len, const wire_rules_t *rules,
                          csvimport_t **out);
int csvimport_parse_file_rules(const char *path, const wire_rules_t *rules, csvimport_t **out);

/* Frees everything; NULL-safe, nulls *self_p. */
void csvimport_destroy(csvimport_t **self_p);

/* Writes the Vietnamese report of an import: the file name, the outcome, and either the events
 * recorded (count, new vs already recorded, seq range) or every bad row with line, column and
 * reason. seqs/was_new may be NULL (nothing recorded). */
void csvimport_report(FILE *out, const char *file_name, const csvimport_t *c, const uint64_t *seqs,
                      const bool *was_new);

#endif
