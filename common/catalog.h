/* catalog — the one list of codes with their ASCII slug and Vietnamese label.
 *
 * Every enum of proto/doanket.proto (activity kind, channel, festival, model stage, review,
 * status kind, fund, flow, source, purpose, measure), the campaign's five contents (1–5, bit n-1 of
 * Activity.contents) and the default member organisations (0 the committee itself, 1..7 the usual
 * member organisations) have one entry each here. The agent's CSV import and `record` command,
 * the dashboard and the exports all read codes and names from this table and nowhere else.
 * Codes 0 (…_UNSPECIFIED) are not entries, except organiser 0 (the committee).
 *
 * Lookup by text accepts the slug ("propaganda"), the decimal code ("1") or the Vietnamese label
 * loosely: case, Unicode composition (NFC/NFD), Vietnamese diacritics and punctuation are
 * ignored, '_' and '-' count as spaces, and runs of spaces count as one ("tuyen truyen", "TUYÊN TRUYỀN" and "Tuyên truyền" all find PROPAGANDA).
 * The table is static and read-only: thread-safe. */
#ifndef DK_CATALOG_H
#define DK_CATALOG_H

#include <stddef.h>

typedef enum {
    CATALOG_KIND = 0,     /* Dk__ActivityKind */
    CATALOG_CHANNEL,      /* Dk__Channel */
    CATALOG_FESTIVAL,     /* Dk__Festival */
    CATALOG_MODEL_STAGE,  /* Dk__ModelStage */
    CATALOG_REVIEW,       /* Dk__ReviewKind */
    CATALOG_STATUS,       /* Dk__StatusKind */
    CATALOG_FUND,         /* Dk__Fund */
    CATALOG_FLOW,         /* Dk__Flow */
    CATALOG_SOURCE,       /* Dk__Source */
    CATALOG_PURPOSE,      /* Dk__Purpose */
    CATALOG_CONTENT,      /* the five contents, codes 1..5 (not a mask) */
    CATALOG_MEASURE,      /* Dk__Measure, codes 0..17 (index into Cell.m) */
    CATALOG_ORGANISER,    /* default member organisations, 0..7 */
    CATALOG_LISTS         /* number of lists */
} catalog_list_t;

typedef struct {
    int code;            /* the wire value */
    const char *slug;    /* ASCII, lower case, unique in its list: the proto enum value name in
                            lower case ("propaganda", "new_house", "other_channel"); measures
                            without "m_" ("sessions"); contents "economy", "culture",
                            "environment", "law", "democracy"; organisers "committee", "farmers",
                            "women", "youth", "veterans", "trade_union", "elderly", "red_cross" */
    const char *label;   /* Vietnamese with diacritics (UTF-8, NFC): "Tuyên truyền" */
    const char *unit;    /* measures only: "buổi", "lượt người", "đ", "m²"…; NULL elsewhere */
} catalog_entry_t;

/* The entries of list in code order; *n gets their number. NULL (and *n = 0) for a bad list. */
const catalog_entry_t *catalog_entries(catalog_list_t list, size_t *n);

/* The entry for code in list, or NULL when code is not in it. */
const catalog_entry_t *catalog_find(catalog_list_t list, int code);

/* The Vietnamese label / slug for code, or NULL when unknown. Static strings. */
const char *catalog_label(catalog_list_t list, int code);
const char *catalog_slug(catalog_list_t list, int code);

/* Finds the code named by text (slug, decimal code or loose Vietnamese label, see above; leading
 * and trailing spaces ignored). Returns 0 and sets *code; DK_ENOTFOUND when nothing matches;
 * DK_EINVAL for a bad list or NULL text. */
int catalog_lookup(catalog_list_t list, const char *text, int *code);

/* The list's own ASCII name ("kind", "channel", …, "organiser") and Vietnamese name
 * ("Loại hoạt động", "Hình thức tuyên truyền", …), for messages and CSV headers. NULL for a bad
 * list. Static strings. */
const char *catalog_list_name(catalog_list_t list);
const char *catalog_list_label(catalog_list_t list);

/* The list named by its ASCII name ("kind", "purpose"…), or -1. */
int catalog_list_by_name(const char *name);

#endif
