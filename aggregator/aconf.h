/* aconf — the aggregator's configuration (one INI file, `dk-aggregator -c FILE`), read through the
 * declarative tables of common/conf.h.
 *
 *   [aggregator]
 *   unit = 663                      ; this aggregator's unit code
 *   name = Huyện Đắk Mil
 *   level = district                ; commune | district | province | national
 *   data-dir = /var/lib/doanket     ; LMDB environment folder (created if missing)
 *   bind = tcp://0.0.0.0:7700       ; CURVE ROUTER: agents push, readers pull snapshots
 *   publish = tcp://0.0.0.0:7701    ; CURVE PUB: live updates ("" : no PUB socket)
 *   key-file = aggregator.key       ; this aggregator's CURVE key pair (common/keys.h format)
 *   commit-window = 5ms             ; group commit: gather batches at most this long ...
 *   max-batch = 20000               ; ... or until this many events are queued
 *   map-size = 16GiB                ; LMDB map size (address space; the store grows it on MAP_FULL)
 *   organisers = Hội Nông dân, Hội Liên hiệp Phụ nữ, Đoàn Thanh niên   ; member organisations 1..n
 *   heartbeat = 30s                 ; ZeroMQ heartbeat of ROUTER/PUB (longer costs less CPU with
 *                                   ; thousands of agents: see the key's doc, --help)
 *   units-file = units/dak-nong-2023.csv   ; optional: official unit names (aggregator/units.h)
 *
 *   [commune 24685]                 ; repeated; the section id is the official commune code
 *   name = Xã Đức Minh
 *   public-key = <40 Z85 characters>
 *   areas = 12                      ; residential areas in the commune (area numbers 1..areas)
 *   organisers = ...                ; optional: this commune's own list instead of the district's
 *
 *   [reader province]               ; repeated: keys that may only read (snapshots, PUB)
 *   public-key = <40 Z85 characters>
 *   role = province                 ; province | dashboard | monitor
 *
 * Sections of other modules ([http]: aggregator/http.h, [child NAME]: aggregator/child.h) are kept
 * raw (aconf_section, aconf_section_text) and parsed by those modules with their own tables.
 *
 * Errors name the file, line and key: "district.ini:12: [commune 24664] public-key: ...". */
#ifndef DK_ACONF_H
#define DK_ACONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

typedef struct {
    int64_t code;        /* official commune code (section id) */
    char *name;          /* UTF-8 */
    char *public_key;    /* Z85, 40 characters */
    int64_t areas;       /* residential areas, 1..WIRE_MAX_AREA */
    char **organisers;   /* NULL-terminated; empty: the district's list applies */
} aconf_commune_t;

typedef struct {
    char *name;          /* section id: [reader NAME] */
    char *public_key;    /* Z85, 40 characters */
    int role;            /* ACONF_ROLE_* */
} aconf_reader_t;

enum { ACONF_ROLE_PROVINCE = 0, ACONF_ROLE_DASHBOARD = 1, ACONF_ROLE_MONITOR = 2 };
enum { ACONF_LEVEL_COMMUNE = 0, ACONF_LEVEL_DISTRICT = 1, ACONF_LEVEL_PROVINCE = 2,
       ACONF_LEVEL_NATIONAL = 3 };

/* [aggregator] */
typedef struct {
    int64_t unit;
    char *name;
    int level;               /* ACONF_LEVEL_* */
    char *data_dir;          /* absolute or relative to the config file */
    char *bind;
    char *publish;           /* "" : no PUB socket */
    char *key_file;
    int64_t commit_window;   /* milliseconds */
    int64_t max_batch;       /* events */
    int64_t map_size;        /* bytes */
    char **organisers;       /* NULL-terminated, never NULL */
    int64_t heartbeat;       /* ZeroMQ heartbeat interval, ms */
    int64_t reader_check;    /* stale LMDB reader check interval, ms */
    char *units_file;        /* official units CSV or folder (aggregator/units.h); NULL: none */
} aconf_agg_t;

/* A section that another module parses ([http], [child NAME]): its key/value lines as read
 * (values trimmed, surrounding double quotes removed, inline " ;"/" #" comments cut). For exact
 * parsing with line numbers use aconf_section_text + conf_load_string. */
typedef struct {
    char *key;
    char *value;
    int line;
} aconf_item_t;

typedef struct {
    char *type;                  /* "http", "child" */
    char *name;                  /* the NAME of [child NAME]; NULL for [http] */
    aconf_item_t *items;
    size_t n_items;
    int line;                    /* line of the section header */
} aconf_section_t;

typedef struct aconf {
    char *path;                  /* the file it was read from */
    aconf_agg_t agg;
    /* shortcuts into agg, filled by aconf_load (borrowed: live as long as self) */
    uint32_t unit;
    const char *name;
    const char *level;           /* "commune", "district", "province" or "national" */
    char **organisers;           /* district-wide member organisations 1..n_organisers */
    size_t n_organisers;
    aconf_commune_t *communes;   /* in file order */
    size_t n_communes;
    aconf_reader_t *readers;
    size_t n_readers;
    aconf_section_t *sections;   /* [http] and [child NAME], raw, in file order */
    size_t n_sections;
    /* private */
    conf_section_t *tables;
    size_t n_tables;
    char *text;                  /* the file's text */
    struct aconf_by_code *by_code; /* (code, index) of communes sorted by code (aconf_commune) */
} aconf_t;

/* Reads and checks path. [aggregator], [commune ID] and [reader NAME] are parsed with the tables
 * here; [http] and [child NAME] sections are kept raw for their modules; any other section is an
 * error. On success *out is a new aconf_t the caller destroys. On failure returns DK_ECONFIG (or
 * DK_EIO when the file cannot be read) and writes one line naming file, line and key into err
 * (errlen bytes, NUL-terminated). Checks beyond conf's: a public key used twice (commune or
 * reader) is an error naming file:line of the second use and both sections. Loading is
 * O(n log n) in the number of sections (thousands of communes load in milliseconds). */
int aconf_load(const char *path, aconf_t **out, char *err, size_t errlen);

/* Frees everything (extension storage too); NULL-safe, idempotent, nulls *self_p. */
void aconf_destroy(aconf_t **self_p);

/* The commune with this code, or NULL (binary search). Borrowed: lives as long as self. */
const aconf_commune_t *aconf_commune(const aconf_t *self, uint32_t code);

/* The number of member organisations that apply to commune (its own list or the district's). */
size_t aconf_organisers(const aconf_t *self, uint32_t commune);

/* The first raw section of this type (and name, when name is not NULL), or NULL. Borrowed. */
const aconf_section_t *aconf_section(const aconf_t *self, const char *type, const char *name);

/* The config file's text with every line blanked except the lines of the sections of `type`
 * (their headers included), so that conf_load_string(text, self->path, ...) with that module's
 * table reports the real line numbers and resolves relative paths against the file's folder.
 * A new string the caller frees. */
char *aconf_section_text(const aconf_t *self, const char *type);

/* Writes a commented example documenting the [aggregator], [commune] and [reader] keys (--help). */
void aconf_print_doc(FILE *out);

#endif
