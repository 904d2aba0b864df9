/* conf — INI configuration through declarative tables (libinih underneath).
 *
 * Each program describes every section of its config file once, in a table that parses, defaults,
 * range-checks and documents each key (the Fluent Bit way). Example:
 *
 *     typedef struct { char *bind; int64_t heartbeat; int64_t max_msg; } server_conf_t;
 *     static const conf_key_t server_keys[] = {
 *         { "bind", CONF_STRING, offsetof(server_conf_t, bind), NULL, 0, 0, NULL,
 *           "ZeroMQ endpoint agents connect to" },
 *         { "heartbeat", CONF_DURATION, offsetof(server_conf_t, heartbeat), "5s", 1000, 3600000,
 *           NULL, "ZeroMQ heartbeat interval" },
 *         CONF_END };
 *     typedef struct { int64_t code; char *name; char *public_key; } commune_conf_t;
 *     static const conf_key_t commune_keys[] = { ..., CONF_END };
 *
 *     server_conf_t server = {0};
 *     commune_conf_t *communes = NULL; size_t ncommunes = 0;
 *     conf_section_t sections[] = {
 *         { .name = "server", .size = sizeof server, .keys = server_keys, .single = &server,
 *           .doc = "The aggregator's sockets" },
 *         { .name = "commune", .repeated = true, .id_type = CONF_INT, .id_min = 1,
 *           .id_max = 99999, .id_offset = offsetof(commune_conf_t, code),
 *           .size = sizeof(commune_conf_t), .keys = commune_keys,
 *           .list = (void **)&communes, .count = &ncommunes, .doc = "One commune agent" },
 *     };
 *     conf_error_t err;
 *     if (conf_load(path, sections, 2, &err) < 0) { char m[600]; conf_error_format(&err, m, sizeof m); ... }
 *     ...
 *     conf_release(sections, 2);
 *
 * File syntax: `[section]` or `[section id]` headers, `key = value` lines, `#` and `;` comments on
 * their own line, and ` ;`/` #` inline comments (a `;` or `#` after white space) on unquoted values.
 * A value may be double-quoted ("a ; b", "  padded  "); inside quotes `\"` and `\\` are the only
 * escapes. Values are UTF-8, kept byte for byte (NFC and NFD both preserved, never normalised);
 * invalid UTF-8 or control characters are an error. Lines may be up to CONF_MAX_LINE bytes; a UTF-8
 * BOM at the start is ignored. Continuation lines are not supported (an indented line is an error).
 *
 * Rules: an unknown section or key is an error naming file:line; a key given twice in one section
 * is an error; a single section given twice is an error; a repeated section with an id already used
 * is an error; a missing required key (def == NULL) is an error naming the file, the section and
 * the key; numbers must be whole and within [min, max]. Defaults are applied to every key not given,
 * in every section instance (also for single sections absent from the file).
 *
 * Loading is all-or-nothing and keeps no global state: on error every field the load filled is freed
 * and zeroed again. Reload (SIGHUP) = load into fresh zeroed structs and arrays with a fresh section
 * array, swap on success, then conf_release the old one. Not thread-safe against other users of
 * libinih in the same process (it sets libinih's global options for the duration of a call). */
#ifndef DK_CONF_H
#define DK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The longest line accepted, in bytes, not counting the line end. */
#define CONF_MAX_LINE 4096

/* Value types and how each is stored in the caller's struct at conf_key_t.offset. */
typedef enum {
    CONF_STRING,   /* char * (owned; freed by conf_release). Never NULL after a load ("" allowed).
                    * min/max, when max > 0: allowed length in bytes. */
    CONF_INT,      /* int64_t; whole decimal number (optional sign), within [min, max] */
    CONF_BOOL,     /* bool; true/false, yes/no, on/off, 1/0 (case-insensitive) */
    CONF_PATH,     /* char * (owned). A relative path (also a default) is resolved against the
                    * config file's folder, made absolute by conf_load. An empty value leaves NULL
                    * ("not set"); for a required key an empty value is an error. */
    CONF_KEY,      /* char * (owned): a CURVE public key as 40 Z85 characters (checked by decoding).
                    * An empty value leaves NULL ("not set"); an error for a required key. */
    CONF_DURATION, /* int64_t milliseconds: "500ms", "60s", "5m", "2h", "30d" (a unit is required,
                    * except for "0"); within [min, max] milliseconds */
    CONF_SIZE,     /* int64_t bytes: "65536", "512B", "64KiB", "16MiB", "1GiB", "1TiB"; [min, max] */
    CONF_LIST,     /* char ** (owned), NULL-terminated, never NULL after a load; comma separated,
                    * items trimmed, empty items dropped. min/max, when max > 0: allowed item count. */
    CONF_ENUM,     /* int: index of the value in conf_key_t.choices ("error|warn|info|debug"),
                    * matched case-insensitively */
} conf_type_t;

/* One key of a section. A table of keys ends with CONF_END (an entry whose key is NULL). */
typedef struct {
    const char *key;     /* name in the file, e.g. "public-key" */
    conf_type_t type;
    size_t offset;       /* offsetof(your_struct, field) */
    const char *def;     /* default, written as in the file; NULL: the key is required */
    int64_t min, max;    /* range (see the types above); min == max == 0: no range check */
    const char *choices; /* CONF_ENUM only: "a|b|c" */
    const char *doc;     /* one line, English, for conf_print_doc */
} conf_key_t;

/* Ends a key table. Use it rather than `{ NULL }`, which clang's -Wmissing-field-initializers
 * (part of -Wextra) flags. */
#define CONF_END {.key = NULL}

/* One section of the file. Single sections fill *single; repeated sections ("[commune 24664]")
 * fill a growing array of `size`-byte structs at *list with *count entries, in file order. */
typedef struct {
    const char *name;      /* "server", or for repeated sections the word before the id: "commune" */
    bool repeated;         /* true: "[name id]" may appear many times, each with a distinct id */
    bool optional;         /* single sections only: when absent from the file, required keys are
                            * not demanded (defaults are still applied; required fields stay 0/NULL) */
    conf_type_t id_type;   /* repeated only: CONF_STRING (char *, owned) or CONF_INT (int64_t) */
    int64_t id_min, id_max;/* CONF_INT ids: allowed range (both 0: any) */
    size_t id_offset;      /* repeated only: where the id is stored in each struct */
    size_t size;           /* sizeof the struct the keys' offsets point into */
    const conf_key_t *keys;
    void *single;          /* single sections: the struct to fill (caller-owned, zeroed) */
    void **list;           /* repeated: receives the array (owned; freed by conf_release) */
    size_t *count;         /* repeated: receives the number of entries */
    const char *doc;       /* one line, English, for conf_print_doc */
} conf_section_t;

/* Where and why loading failed. line is 0 when the problem is not on one line (a missing required
 * key, an unreadable file); section and key are "" when they do not apply. */
typedef struct {
    char file[256];
    int line;
    char section[64];  /* as written in the header, e.g. "commune 24664" */
    char key[64];
    char message[256]; /* English, e.g. "not a Z85 public key (40 characters expected)" */
} conf_error_t;

/* Loads the INI file at path into the sections (n entries). Returns 0, DK_ECONFIG (anything wrong
 * in the content; err says where) or DK_EIO (the file cannot be read; err says why). On failure
 * nothing stays allocated and every table field, *list and *count are zeroed. err may be NULL. */
int conf_load(const char *path, conf_section_t *sections, size_t n, conf_error_t *err);

/* The same for text in memory. name_for_errors names the text in errors ("district.ini") and,
 * when it contains a '/', its folder is the base for relative CONF_PATH values (otherwise relative
 * paths are kept as written). Returns 0 or DK_ECONFIG. */
int conf_load_string(const char *text, const char *name_for_errors, conf_section_t *sections,
                     size_t n, conf_error_t *err);

/* Frees every string, list and repeated array that a load stored through these sections and zeroes
 * those fields (and *list, *count). Safe on zeroed structs and when called twice. */
void conf_release(conf_section_t *sections, size_t n);

/* Writes a commented example config documenting every section and key: type, default, range,
 * required or not, and the doc line. The output is itself a valid config when no key is required. */
void conf_print_doc(FILE *out, const conf_section_t *sections, size_t n);

/* Formats err as one line into buf (always NUL-terminated when len > 0), e.g.
 * "district.ini:12: [commune 24664] public-key: not a Z85 public key". Returns the length the
 * full line needs (like snprintf). */
int conf_error_format(const conf_error_t *e, char *buf, size_t len);

#endif
