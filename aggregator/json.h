/* json — a small streaming JSON writer into a growing buffer, with correct escaping.
 *
 * Commas and nesting are tracked for the caller:
 *     json_t *j = json_new();
 *     json_obj(j); json_key(j, "name"); json_str(j, "Xã Đức Minh"); json_kv_u64(j, "dong", 1250000);
 *     json_key(j, "list"); json_arr(j); json_i64(j, -1); json_end(j); json_end(j);
 *     size_t n; char *text = json_take(&j, &n);   // {"name":"Xã Đức Minh","dong":1250000,"list":[-1]}
 * Strings are written as UTF-8; '"', '\\' and control characters are escaped (\n, \t, \u00XX),
 * as are U+2028/U+2029 and "</" (safe inside <script>). Invalid UTF-8 bytes become U+FFFD, so the
 * output is always valid JSON whatever the input. Numbers are integers only (money is integer đồng).
 * Nesting deeper than JSON_MAX_DEPTH is a programmer error (assert). */
#ifndef DK_JSON_H
#define DK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

typedef struct json json_t;

/* A new empty writer; the caller destroys or takes it. */
json_t *json_new(void);
/* Frees; NULL-safe, idempotent, nulls *self_p. */
void json_destroy(json_t **self_p);

void json_obj(json_t *self);                 /* { */
void json_arr(json_t *self);                 /* [ */
void json_end(json_t *self);                 /* } or ] closing the innermost */
void json_key(json_t *self, const char *key);
void json_str(json_t *self, const char *s);  /* NULL writes null */
void json_strn(json_t *self, const char *s, size_t n);
void json_i64(json_t *self, int64_t v);
void json_u64(json_t *self, uint64_t v);
void json_bool(json_t *self, bool v);
void json_null(json_t *self);
/* Inserts already-valid JSON text as one value (the caller vouches for it). */
void json_raw(json_t *self, const char *text, size_t n);

/* key + value in one call. */
void json_kv_str(json_t *self, const char *key, const char *s);
void json_kv_i64(json_t *self, const char *key, int64_t v);
void json_kv_u64(json_t *self, const char *key, uint64_t v);
void json_kv_bool(json_t *self, const char *key, bool v);

/* The text so far (borrowed: valid until the next write) and its length. */
const char *json_data(const json_t *self, size_t *len);
/* Hands the text to the caller (to free) and destroys the writer; nulls *self_p. */
char *json_take(json_t **self_p, size_t *len);

/* Appends s escaped as a JSON string (with quotes) to a plain buffer: for callers that build
 * text by hand. Returns a new string the caller frees. */
char *json_quote(const char *s);

#endif
