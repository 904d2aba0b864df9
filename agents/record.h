/* record — building events from what a person types: the field table shared by
 * `dk-agent record activity|fund|void` options and the CSV import columns.
 *
 * Every field of the wire Event that a commune fills has one entry here: its option name
 * ("--participants"), its Vietnamese column header ("Số lượt người"), the events it belongs to, a
 * Vietnamese help line and an example. Values are read the way people write them: dates
 * "2023-11-18" or "18/11/2023", money "1.250.000" (common/money.h), code lists by slug
 * ("tuyen-truyen"), by number, or by Vietnamese label in any case, with or without diacritics,
 * NFC or NFD ("Tuyên truyền", "tuyen truyen"). Nội dung (contents) takes a list "1,3" or "1;3".
 *
 * Events built here are plain protobuf-c structs whose every pointer is malloc'd: free them with
 * record_event_free (== protobuf_c_message_free_unpacked with the default allocator). */
#ifndef DK_RECORD_H
#define DK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "doanket.pb-c.h"

typedef enum {
    RECORD_ACTIVITY = 1,
    RECORD_FUND = 2,
    RECORD_VOID = 4,
} record_kind_t;

typedef struct {
    const char *name;    /* option name without "--" ("date"); also accepted as a CSV header */
    const char *header;  /* Vietnamese CSV header, NFC ("Ngày") */
    const char *wire;    /* wire field path as wire_check_event reports it ("date", "fund.amount") */
    unsigned kinds;      /* RECORD_* bits this field belongs to */
    const char *help;    /* Vietnamese help line (lists the accepted values for code lists) */
    const char *example; /* example value */
} record_field_t;

/* The i-th field of the table (template column order), or NULL past the end. Static. */
const record_field_t *record_field_at(size_t i);

/* The field with option name `name` (exact, ASCII) for kind, or NULL. */
const record_field_t *record_field_by_name(const char *name, record_kind_t kind);

/* The field whose Vietnamese header, option name or alias matches `header` loosely (text_fold:
 * case, diacritics, NFC/NFD, spaces, '_' and '-' do not matter), or NULL. */
const record_field_t *record_field_by_header(const char *header, size_t len, record_kind_t kind);

/* The field a wire field path belongs to ("fund.amount" -> Số tiền), or NULL. */
const record_field_t *record_field_by_wire(const char *wire, record_kind_t kind);

/* A new empty event of kind (the body sub-message allocated, nothing else set). */
Dk__Event *record_event_new(record_kind_t kind);

/* Frees an event made by record_event_new (NULL-safe) and nulls the pointer. */
void record_event_free(Dk__Event **ev_p);

/* Sets field f of ev from the text value (NUL-terminated UTF-8, surrounding spaces ignored).
 * An empty value leaves the field absent and returns 0. On a bad value returns DK_EINVAL and
 * writes a Vietnamese reason naming the field into why (why_len bytes), e.g.
 * "Ngày: '31/02/2023' không phải là ngày có thật (viết 2023-11-18 hoặc 18/11/2023)". */
int record_set(Dk__Event *ev, const record_field_t *f, const char *value, char *why,
               size_t why_len);

/* Writes a Vietnamese summary of a saved event (its number, date, kind and every field set), one
 * "  Label: value" line per field, to out. */
void record_describe(FILE *out, const Dk__Event *ev);

/* Prints the help of `dk-agent record <kind>`: every field with its Vietnamese description and an
 * example. */
void record_print_help(FILE *out, record_kind_t kind);

/* The Vietnamese label of a code-list value for display ("tuyên truyền"), or NULL. `name` is the
 * field's option name ("kind", "channel", "fund", "flow", "source", "purpose"...). Static. */
const char *record_value_label(const char *name, int value);

#endif
