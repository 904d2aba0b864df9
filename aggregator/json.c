/* json — see json.h. */
#include "json.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct json {
    char *buf;
    size_t len, cap;
    /* Per nesting level: whether a value was written (so the next needs a comma) and whether
     * the level is an object expecting a value after its key. */
    int depth;
    bool had_value[JSON_MAX_DEPTH + 1];
    char closer[JSON_MAX_DEPTH + 1]; /* '}' or ']' for each open level */
    bool after_key;
};

json_t *json_new(void)
{
    json_t *self = xcalloc(1, sizeof *self);
    self->cap = 256;
    self->buf = xmalloc(self->cap);
    self->buf[0] = '\0';
    return self;
}

void json_destroy(json_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

static void put(json_t *self, const char *s, size_t n)
{
    if (self->len + n + 1 > self->cap) {
        while (self->len + n + 1 > self->cap) {
            self->cap *= 2;
        }
        self->buf = xrealloc(self->buf, self->cap);
    }
    memcpy(self->buf + self->len, s, n);
    self->len += n;
    self->buf[self->len] = '\0';
}

static void putc1(json_t *self, char c)
{
    put(self, &c, 1);
}

/* Before any value: a comma when the level already has one, unless a key was just written. */
static void pre_value(json_t *self)
{
    if (self->after_key) {
        self->after_key = false;
        return;
    }
    if (self->had_value[self->depth]) {
        putc1(self, ',');
    }
    self->had_value[self->depth] = true;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned min;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        need = 2;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 3;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need) {
        return 0;
    }
    unsigned cp = c & (0xFF >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return need;
}

static void put_escaped(json_t *self, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    putc1(self, '"');
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(self, e, 2);
            i++;
        } else if (c == '/' && i > 0 && p[i - 1] == '<') {
            put(self, "\\/", 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char e[8];
            switch (c) {
            case '\n': put(self, "\\n", 2); break;
            case '\r': put(self, "\\r", 2); break;
            case '\t': put(self, "\\t", 2); break;
            case '\b': put(self, "\\b", 2); break;
            case '\f': put(self, "\\f", 2); break;
            default:
                snprintf(e, sizeof e, "\\u%04x", c);
                put(self, e, 6);
            }
            i++;
        } else if (c < 0x80) {
            putc1(self, (char)c);
            i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k == 0) {
                put(self, "\\ufffd", 6);
                i++;
            } else if (k == 3 && p[i] == 0xE2 && p[i + 1] == 0x80 &&
                       (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
                put(self, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                put(self, (const char *)p + i, k);
                i += k;
            }
        }
    }
    putc1(self, '"');
}

void json_obj(json_t *self)
{
    pre_value(self);
    putc1(self, '{');
    assert(self->depth < JSON_MAX_DEPTH);
    self->had_value[++self->depth] = false;
    self->closer[self->depth] = '}';
}

void json_arr(json_t *self)
{
    pre_value(self);
    putc1(self, '[');
    assert(self->depth < JSON_MAX_DEPTH);
    self->had_value[++self->depth] = false;
    self->closer[self->depth] = ']';
}

void json_end(json_t *self)
{
    assert(self->depth > 0);
    putc1(self, self->closer[self->depth]);
    self->depth--;
    self->after_key = false;
}

void json_key(json_t *self, const char *key)
{
    pre_value(self);
    put_escaped(self, key, strlen(key));
    putc1(self, ':');
    self->after_key = true;
}

void json_strn(json_t *self, const char *s, size_t n)
{
    pre_value(self);
    put_escaped(self, s, n);
}

void json_str(json_t *self, const char *s)
{
    if (s == NULL) {
        json_null(self);
        return;
    }
    json_strn(self, s, strlen(s));
}

void json_i64(json_t *self, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    pre_value(self);
    put(self, b, (size_t)n);
}

void json_u64(json_t *self, uint64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    pre_value(self);
    put(self, b, (size_t)n);
}

void json_bool(json_t *self, bool v)
{
    pre_value(self);
    put(self, v ? "true" : "false", v ? 4 : 5);
}

void json_null(json_t *self)
{
    pre_value(self);
    put(self, "null", 4);
}

void json_raw(json_t *self, const char *text, size_t n)
{
    pre_value(self);
    put(self, text, n);
}

void json_kv_str(json_t *self, const char *key, const char *s)
{
    json_key(self, key);
    json_str(self, s);
}

void json_kv_i64(json_t *self, const char *key, int64_t v)
{
    json_key(self, key);
    json_i64(self, v);
}

void json_kv_u64(json_t *self, const char *key, uint64_t v)
{
    json_key(self, key);
    json_u64(self, v);
}

void json_kv_bool(json_t *self, const char *key, bool v)
{
    json_key(self, key);
    json_bool(self, v);
}

const char *json_data(const json_t *self, size_t *len)
{
    if (len != NULL) {
        *len = self->len;
    }
    return self->buf;
}

char *json_take(json_t **self_p, size_t *len)
{
    json_t *self = *self_p;
    char *out = self->buf;
    if (len != NULL) {
        *len = self->len;
    }
    free(self);
    *self_p = NULL;
    return out;
}

char *json_quote(const char *s)
{
    json_t *j = json_new();
    json_str(j, s);
    return json_take(&j, NULL);
}
