#define LOG_TAG "conf"
#include "conf.h"

#include "err.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zmq.h>

/* The largest config file we read. Configs are small; this only stops a wrong path (a log file,
 * a device) from being slurped. */
#define CONF_MAX_FILE (4 * 1024 * 1024)

typedef struct {
    conf_section_t *sections;
    size_t n;
    const char *name;     /* for errors */
    char *base_dir;       /* for relative paths, or NULL: keep them as written */
    conf_error_t *err;
    bool failed;

    /* the reader's position in the text */
    const char *pos;
    int line;

    /* per section: the header line of a single section (0: absent) or each repeated instance's */
    int *single_line;
    int **inst_lines;
    size_t *cap;

    /* the section instance being filled */
    int cur;              /* index into sections, -1 before the first header */
    char cur_header[64];  /* as written, for errors */
    int cur_line;
    int *seen;            /* per key of the current section: line where it was given, 0 if not */
} ctx_t;

static void set_err(ctx_t *c, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(ctx_t *c, int line, const char *key, const char *fmt, ...)
{
    if (c->failed) {
        return; /* the first error is the one that counts */
    }
    c->failed = true;
    if (c->err == NULL) {
        return;
    }
    conf_error_t *e = c->err;
    snprintf(e->file, sizeof e->file, "%s", c->name);
    e->line = line;
    snprintf(e->section, sizeof e->section, "%s", c->cur >= 0 ? c->cur_header : "");
    snprintf(e->key, sizeof e->key, "%s", key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- storage of fields ---- */

static void *field(void *obj, const conf_key_t *k)
{
    return (char *)obj + k->offset;
}

static bool type_owns(conf_type_t t)
{
    return t == CONF_STRING || t == CONF_PATH || t == CONF_KEY || t == CONF_LIST;
}

static void free_list(char **list)
{
    if (list != NULL) {
        for (char **p = list; *p != NULL; p++) {
            free(*p);
        }
        free(list);
    }
}

static void field_zero(void *obj, const conf_key_t *k)
{
    void *f = field(obj, k);
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_KEY:
        *(char **)f = NULL;
        break;
    case CONF_LIST:
        *(char ***)f = NULL;
        break;
    case CONF_INT:
    case CONF_DURATION:
    case CONF_SIZE:
        *(int64_t *)f = 0;
        break;
    case CONF_BOOL:
        *(bool *)f = false;
        break;
    case CONF_ENUM:
        *(int *)f = 0;
        break;
    }
}

/* Frees what a field owns and zeroes it. */
static void field_clear(void *obj, const conf_key_t *k)
{
    void *f = field(obj, k);
    if (k->type == CONF_LIST) {
        free_list(*(char ***)f);
    } else if (type_owns(k->type)) {
        free(*(char **)f);
    }
    field_zero(obj, k);
}

static void instance_clear(const conf_section_t *s, void *obj, bool with_id)
{
    for (const conf_key_t *k = s->keys; k->key != NULL; k++) {
        field_clear(obj, k);
    }
    if (with_id && s->repeated) {
        if (s->id_type == CONF_STRING) {
            char **id = (char **)((char *)obj + s->id_offset);
            free(*id);
            *id = NULL;
        } else {
            *(int64_t *)((char *)obj + s->id_offset) = 0;
        }
    }
}

void conf_release(conf_section_t *sections, size_t n)
{
    for (size_t i = 0; sections != NULL && i < n; i++) {
        conf_section_t *s = &sections[i];
        if (!s->repeated) {
            if (s->single != NULL) {
                instance_clear(s, s->single, false);
            }
            continue;
        }
        if (s->list == NULL || s->count == NULL) {
            continue;
        }
        char *arr = *s->list;
        for (size_t j = 0; arr != NULL && j < *s->count; j++) {
            instance_clear(s, arr + j * s->size, true);
        }
        free(arr);
        *s->list = NULL;
        *s->count = 0;
    }
}

/* ---- value syntax ---- */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) without control
 * characters other than tab: config values end up in logs and on the dashboard. */
static const char *check_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char b = *p;
        if (b < 0x80) {
            if ((b < 0x20 && b != '\t') || b == 0x7f) {
                return "contains a control character";
            }
            p++;
            continue;
        }
        int len;
        unsigned cp;
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
            cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            cp = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            cp = b & 0x07;
        } else {
            return "is not valid UTF-8";
        }
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return "is not valid UTF-8";
            }
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return "is not valid UTF-8";
        }
        p += len;
    }
    return NULL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Turns the raw text after '=' (already trimmed by libinih) into the value: a double-quoted value
 * loses its quotes and escapes; an unquoted one loses an inline comment (';' or '#' at the start
 * or after white space). Returns a new string, or NULL with *why set. */
static char *unquote(const char *raw, const char **why)
{
    size_t len = strlen(raw);
    if (raw[0] == '"') {
        char *out = xmalloc(len + 1);
        size_t o = 0;
        const char *p = raw + 1;
        for (;;) {
            if (*p == '\0') {
                free(out);
                *why = "missing closing quote";
                return NULL;
            }
            if (*p == '"') {
                break;
            }
            if (*p == '\\') {
                if (p[1] == '"' || p[1] == '\\') {
                    p++;
                } else {
                    free(out);
                    *why = "unknown escape in quoted value (only \\\" and \\\\)";
                    return NULL;
                }
            }
            out[o++] = *p++;
        }
        out[o] = '\0';
        p++;
        while (is_space(*p)) {
            p++;
        }
        if (*p != '\0' && *p != ';' && *p != '#') {
            free(out);
            *why = "text after the closing quote";
            return NULL;
        }
        return out;
    }
    size_t end = len;
    for (size_t i = 0; i < len; i++) {
        if ((raw[i] == ';' || raw[i] == '#') && (i == 0 || is_space(raw[i - 1]))) {
            end = i;
            break;
        }
    }
    while (end > 0 && is_space(raw[end - 1])) {
        end--;
    }
    return xstrndup(raw, end);
}

/* A whole decimal number with an optional sign; no spaces, no fraction, no overflow. */
static bool parse_i64(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p < '0' || *p > '9') {
        return false;
    }
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (*p != '\0') {
        return false;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Leading digits of s into *num; returns the rest (the unit), or NULL if there are no digits or
 * the number overflows. */
static const char *parse_count(const char *s, int64_t *num)
{
    int64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10) {
            return NULL;
        }
        v = v * 10 + (*p - '0');
    }
    while (is_space(*p)) {
        p++;
    }
    *num = v;
    return p;
}

static bool mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a) {
        return false;
    }
    *out = a * b;
    return true;
}

static const struct {
    const char *unit;
    int64_t mult;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}},
  size_units[] = {{"", 1},
                  {"B", 1},
                  {"KiB", 1024},
                  {"MiB", 1024 * 1024},
                  {"GiB", 1024LL * 1024 * 1024},
                  {"TiB", 1024LL * 1024 * 1024 * 1024}};

static const char *parse_duration(const char *s, int64_t *out)
{
    static const char *bad = "not a duration (a whole number and a unit: 500ms, 60s, 5m, 2h, 30d)";
    int64_t v;
    const char *unit = parse_count(s, &v);
    if (unit == NULL) {
        return bad;
    }
    if (*unit == '\0') {
        if (v == 0) {
            *out = 0;
            return NULL;
        }
        return "a duration needs a unit: ms, s, m, h or d (e.g. 60s)";
    }
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strcmp(unit, duration_units[i].unit) == 0) {
            return mul_ok(v, duration_units[i].mult, out) ? NULL : "duration too large";
        }
    }
    return bad;
}

static const char *parse_size(const char *s, int64_t *out)
{
    int64_t v;
    const char *unit = parse_count(s, &v);
    if (unit == NULL) {
        return "not a size (a whole number of bytes, or with a unit: 64KiB, 16MiB, 1GiB)";
    }
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcasecmp(unit, size_units[i].unit) == 0) {
            return mul_ok(v, size_units[i].mult, out) ? NULL : "size too large";
        }
    }
    return "unknown size unit (use B, KiB, MiB, GiB or TiB)";
}

/* Human form of a duration or size for range messages: the largest unit that divides it. */
static void fmt_scaled(char *buf, size_t len, int64_t v, bool duration)
{
    size_t n = duration ? sizeof duration_units / sizeof duration_units[0]
                        : sizeof size_units / sizeof size_units[0];
    for (size_t i = n; i-- > 0;) {
        int64_t m = duration ? duration_units[i].mult : size_units[i].mult;
        const char *u = duration ? duration_units[i].unit : size_units[i].unit;
        if (v != 0 && v % m == 0 && (m > 1 || duration)) {
            snprintf(buf, len, "%lld%s", (long long)(v / m), u);
            return;
        }
    }
    snprintf(buf, len, "%lld%s", (long long)v, duration ? "ms" : "");
}

static void fmt_value(char *buf, size_t len, conf_type_t t, int64_t v)
{
    if (t == CONF_DURATION || t == CONF_SIZE) {
        fmt_scaled(buf, len, v, t == CONF_DURATION);
    } else {
        snprintf(buf, len, "%lld", (long long)v);
    }
}

static bool has_range(const conf_key_t *k)
{
    return k->min != 0 || k->max != 0;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Index of s among "a|b|c", or -1. */
static int enum_index(const char *choices, const char *s)
{
    size_t len = strlen(s);
    int i = 0;
    for (const char *p = choices; p != NULL && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncasecmp(p, s, n) == 0) {
            return i;
        }
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

static char **split_list(const char *s, size_t *count)
{
    size_t cap = 4, n = 0;
    char **list = xmalloc(cap * sizeof *list);
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *b = p;
        while (b < end && is_space(*b)) {
            b++;
        }
        const char *e = end;
        while (e > b && is_space(e[-1])) {
            e--;
        }
        if (e > b) {
            if (n + 2 > cap) {
                cap *= 2;
                list = xrealloc(list, cap * sizeof *list);
            }
            list[n++] = xstrndup(b, (size_t)(e - b));
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    list[n] = NULL;
    *count = n;
    return list;
}

static char *resolve_path(const ctx_t *c, const char *v)
{
    if (v[0] == '/' || c->base_dir == NULL) {
        return xstrdup(v);
    }
    return xasprintf("%s/%s", c->base_dir, v);
}

/* Converts value (already unquoted) for key k and stores it into obj. Returns false with the
 * error recorded. what is "" for values from the file and "default: " for table defaults. */
static bool store_value(ctx_t *c, void *obj, const conf_key_t *k, const char *v, int line,
                        const char *what)
{
    void *f = field(obj, k);
    const char *why = check_text(v);
    if (why != NULL) {
        set_err(c, line, k->key, "%svalue %s", what, why);
        return false;
    }
    if (v[0] == '\0' && k->def == NULL && (k->type == CONF_PATH || k->type == CONF_KEY)) {
        /* empty means "not set" for these, which a required key cannot be */
        set_err(c, line, k->key, "%srequired, must not be empty", what);
        return false;
    }
    char lo[32], hi[32];
    fmt_value(lo, sizeof lo, k->type, k->min);
    fmt_value(hi, sizeof hi, k->type, k->max);
    switch (k->type) {
    case CONF_STRING: {
        size_t len = strlen(v);
        if (k->max > 0 && ((int64_t)len < k->min || (int64_t)len > k->max)) {
            set_err(c, line, k->key, "%slength %zu bytes is outside %s..%s", what, len, lo, hi);
            return false;
        }
        *(char **)f = xstrdup(v);
        return true;
    }
    case CONF_PATH:
        *(char **)f = v[0] ? resolve_path(c, v) : NULL;
        return true;
    case CONF_KEY: {
        if (v[0] == '\0') {
            *(char **)f = NULL;
            return true;
        }
        uint8_t bin[32];
        if (strlen(v) != 40) {
            set_err(c, line, k->key, "%snot a Z85 public key (40 characters expected, got %zu)",
                    what, strlen(v));
            return false;
        }
        if (zmq_z85_decode(bin, v) == NULL) {
            set_err(c, line, k->key, "%snot a Z85 public key (invalid characters)", what);
            return false;
        }
        *(char **)f = xstrdup(v);
        return true;
    }
    case CONF_BOOL:
        if (!parse_bool(v, (bool *)f)) {
            set_err(c, line, k->key, "%snot a boolean (true/false, yes/no, on/off, 1/0)", what);
            return false;
        }
        return true;
    case CONF_ENUM: {
        int i = enum_index(k->choices, v);
        if (i < 0) {
            set_err(c, line, k->key, "%s\"%.60s\" is not one of %s", what, v,
                    k->choices ? k->choices : "");
            return false;
        }
        *(int *)f = i;
        return true;
    }
    case CONF_LIST: {
        size_t count;
        char **list = split_list(v, &count);
        if (k->max > 0 && ((int64_t)count < k->min || (int64_t)count > k->max)) {
            free_list(list);
            set_err(c, line, k->key, "%s%zu items; between %s and %s expected", what, count, lo,
                    hi);
            return false;
        }
        *(char ***)f = list;
        return true;
    }
    case CONF_INT:
    case CONF_DURATION:
    case CONF_SIZE: {
        int64_t x = 0;
        if (k->type == CONF_INT) {
            why = parse_i64(v, &x) ? NULL : "not a whole number";
        } else if (k->type == CONF_DURATION) {
            why = parse_duration(v, &x);
        } else {
            why = parse_size(v, &x);
        }
        if (why != NULL) {
            set_err(c, line, k->key, "%s\"%.60s\": %s", what, v, why);
            return false;
        }
        if (has_range(k) && (x < k->min || x > k->max)) {
            set_err(c, line, k->key, "%s%s is outside %s..%s", what, v, lo, hi);
            return false;
        }
        *(int64_t *)f = x;
        return true;
    }
    }
    set_err(c, line, k->key, "unknown key type %d", (int)k->type);
    return false;
}

/* ---- sections ---- */

static size_t nkeys(const conf_section_t *s)
{
    size_t n = 0;
    while (s->keys[n].key != NULL) {
        n++;
    }
    return n;
}

static void *cur_obj(ctx_t *c)
{
    conf_section_t *s = &c->sections[c->cur];
    if (!s->repeated) {
        return s->single;
    }
    return (char *)*s->list + (*s->count - 1) * s->size;
}

/* Applies defaults to the keys not given and demands the required ones. */
static bool finish_instance(ctx_t *c, const conf_section_t *s, void *obj, const int *seen,
                            bool absent_optional)
{
    for (size_t i = 0; s->keys[i].key != NULL; i++) {
        const conf_key_t *k = &s->keys[i];
        if (seen != NULL && seen[i] != 0) {
            continue;
        }
        if (k->def != NULL) {
            if (!store_value(c, obj, k, k->def, c->cur_line, "default: ")) {
                return false;
            }
        } else if (!absent_optional) {
            set_err(c, c->cur_line, k->key, "required key missing");
            return false;
        }
    }
    return true;
}

static bool finish_current(ctx_t *c)
{
    if (c->cur < 0) {
        return true;
    }
    bool ok = finish_instance(c, &c->sections[c->cur], cur_obj(c), c->seen, false);
    free(c->seen);
    c->seen = NULL;
    return ok;
}

static bool begin_section(ctx_t *c, const char *text, size_t len)
{
    if (!finish_current(c)) {
        return false;
    }
    c->cur = -1;
    char *h = xstrndup(text, len);
    /* the header as written, trimmed, for errors */
    char *b = h;
    while (is_space(*b)) {
        b++;
    }
    size_t hl = strlen(b);
    while (hl > 0 && is_space(b[hl - 1])) {
        b[--hl] = '\0';
    }
    char *id = b;
    while (*id && !is_space(*id)) {
        id++;
    }
    size_t name_len = (size_t)(id - b);
    while (is_space(*id)) {
        id++;
    }
    const char *why = check_text(b);
    int idx = -1;
    for (size_t i = 0; why == NULL && i < c->n; i++) {
        if (strlen(c->sections[i].name) == name_len &&
            strncasecmp(c->sections[i].name, b, name_len) == 0) {
            idx = (int)i;
            break;
        }
    }
    if (why != NULL) {
        set_err(c, c->line, NULL, "section header %s", why);
        goto fail;
    }
    if (idx < 0) {
        set_err(c, c->line, NULL, "unknown section [%.80s]", b);
        goto fail;
    }
    conf_section_t *s = &c->sections[idx];
    if (!s->repeated) {
        if (*id) {
            set_err(c, c->line, NULL, "section [%s] takes no id", s->name);
            goto fail;
        }
        if (c->single_line[idx] != 0) {
            set_err(c, c->line, NULL, "section [%s] appears twice (first at line %d)", s->name,
                    c->single_line[idx]);
            goto fail;
        }
        c->single_line[idx] = c->line;
    } else {
        if (*id == '\0') {
            set_err(c, c->line, NULL, "section [%s] needs an id: [%s ID]", s->name, s->name);
            goto fail;
        }
        int64_t num = 0;
        if (s->id_type == CONF_INT) {
            if (!parse_i64(id, &num)) {
                set_err(c, c->line, NULL, "[%s %.60s]: the id is not a whole number", s->name, id);
                goto fail;
            }
            if ((s->id_min != 0 || s->id_max != 0) && (num < s->id_min || num > s->id_max)) {
                set_err(c, c->line, NULL, "[%s %.60s]: the id is outside %lld..%lld", s->name, id,
                        (long long)s->id_min, (long long)s->id_max);
                goto fail;
            }
        }
        char *arr = *s->list;
        for (size_t j = 0; j < *s->count; j++) {
            void *o = arr + j * s->size;
            bool same = s->id_type == CONF_INT
                            ? *(int64_t *)((char *)o + s->id_offset) == num
                            : strcmp(*(char **)((char *)o + s->id_offset), id) == 0;
            if (same) {
                set_err(c, c->line, NULL, "duplicate section [%s %.60s] (first at line %d)",
                        s->name, id, c->inst_lines[idx][j]);
                goto fail;
            }
        }
        if (*s->count == c->cap[idx]) {
            c->cap[idx] = c->cap[idx] ? c->cap[idx] * 2 : 8;
            *s->list = xrealloc(*s->list, c->cap[idx] * s->size);
            c->inst_lines[idx] = xrealloc(c->inst_lines[idx], c->cap[idx] * sizeof(int));
        }
        char *o = (char *)*s->list + *s->count * s->size;
        memset(o, 0, s->size);
        if (s->id_type == CONF_INT) {
            *(int64_t *)(o + s->id_offset) = num;
        } else {
            *(char **)(o + s->id_offset) = xstrdup(id);
        }
        c->inst_lines[idx][*s->count] = c->line;
        (*s->count)++;
    }
    c->cur = idx;
    c->cur_line = c->line;
    snprintf(c->cur_header, sizeof c->cur_header, "%s", b);
    c->seen = xcalloc(nkeys(s) + 1, sizeof(int));
    free(h);
    return true;
fail:
    free(h);
    return false;
}

/* libinih's reader. We feed it lines ourselves for three reasons: to know the line number (this
 * libinih is built without INI_HANDLER_LINENO), to refuse over-long lines instead of having them
 * silently cut, and to see section headers, which libinih only reports through the keys under
 * them (an empty [commune 24664] or an unknown empty section would otherwise go unnoticed). */
static char *reader(char *str, int num, void *stream)
{
    ctx_t *c = stream;
    if (c->failed || *c->pos == '\0') {
        return NULL;
    }
    const char *eol = strchr(c->pos, '\n');
    size_t len = eol ? (size_t)(eol - c->pos) : strlen(c->pos);
    const char *line = c->pos;
    c->pos += len + (eol ? 1 : 0);
    c->line++;
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len > CONF_MAX_LINE || (int)len + 2 > num) {
        set_err(c, c->line, NULL, "line longer than %d bytes", CONF_MAX_LINE);
        return NULL;
    }
    memcpy(str, line, len);
    str[len] = '\n';
    str[len + 1] = '\0';

    const char *p = str;
    if (c->line == 1 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
        (unsigned char)p[2] == 0xbf) {
        p += 3;
    }
    while (is_space(*p)) {
        p++;
    }
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close != NULL) {
            const char *after = close + 1;
            while (is_space(*after)) {
                after++;
            }
            if (*after != '\n' && *after != ';' && *after != '#') {
                set_err(c, c->line, NULL, "text after the section header");
                return NULL;
            }
            if (!begin_section(c, p + 1, (size_t)(close - p - 1))) {
                return NULL;
            }
        }
        /* without ']' libinih reports the syntax error itself */
    }
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    (void)section; /* we track sections in the reader (libinih truncates long names) */
    ctx_t *c = user;
    if (c->failed) {
        return 0;
    }
    if (c->cur < 0) {
        set_err(c, c->line, name, "key outside any section");
        return 0;
    }
    conf_section_t *s = &c->sections[c->cur];
    size_t i = 0;
    for (; s->keys[i].key != NULL; i++) {
        if (strcasecmp(s->keys[i].key, name) == 0) {
            break;
        }
    }
    const conf_key_t *k = &s->keys[i];
    if (k->key == NULL) {
        set_err(c, c->line, name, "unknown key");
        return 0;
    }
    if (c->seen[i] != 0) {
        set_err(c, c->line, k->key, "given twice in this section (first at line %d)", c->seen[i]);
        return 0;
    }
    const char *why = NULL;
    char *v = unquote(value, &why);
    if (v == NULL) {
        set_err(c, c->line, k->key, "%s", why);
        return 0;
    }
    bool ok = store_value(c, cur_obj(c), k, v, c->line, "");
    free(v);
    if (!ok) {
        return 0;
    }
    c->seen[i] = c->line;
    return 1;
}

/* Checks the table's storage and zeroes every field a load fills. */
static void prepare(conf_section_t *sections, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        conf_section_t *s = &sections[i];
        if (s->repeated ? (s->list == NULL || s->count == NULL) : s->single == NULL) {
            log_error("conf table section [%s] has no storage", s->name);
            abort(); /* a programmer error in the table */
        }
        if (s->repeated) {
            *s->list = NULL;
            *s->count = 0;
        } else {
            /* Zero without freeing: the caller passes fresh structs (a reload must not touch the
             * live configuration, which may share nothing with these). */
            for (const conf_key_t *k = s->keys; k->key != NULL; k++) {
                field_zero(s->single, k);
            }
        }
    }
}

static int load_text(const char *text, const char *name, char *base_dir, conf_section_t *sections,
                     size_t n, conf_error_t *err)
{
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    ctx_t c = {.sections = sections, .n = n, .name = name, .base_dir = base_dir, .err = err,
               .pos = text, .cur = -1};
    c.single_line = xcalloc(n + 1, sizeof(int));
    c.inst_lines = xcalloc(n + 1, sizeof(int *));
    c.cap = xcalloc(n + 1, sizeof(size_t));
    prepare(sections, n);

    /* libinih's options are process-wide: set what our syntax needs, restore afterwards. */
    bool save_multiline = ini_allow_multiline, save_inline = ini_allow_inline_comments;
    bool save_stop = ini_stop_on_first_error, save_novalue = ini_allow_no_value;
    bool save_bom = ini_allow_bom;
    int save_max = ini_max_line;
    char *save_start = ini_start_comment_prefixes;
    ini_allow_multiline = false;
    ini_allow_inline_comments = false; /* done by unquote(), which knows about quotes */
    ini_stop_on_first_error = true;
    ini_allow_no_value = false;
    ini_allow_bom = true;
    ini_max_line = CONF_MAX_LINE + 3;
    ini_start_comment_prefixes = ";#";
    int rc = ini_parse_stream(reader, &c, handler, &c);
    ini_allow_multiline = save_multiline;
    ini_allow_inline_comments = save_inline;
    ini_stop_on_first_error = save_stop;
    ini_allow_no_value = save_novalue;
    ini_allow_bom = save_bom;
    ini_max_line = save_max;
    ini_start_comment_prefixes = save_start;

    if (!c.failed && rc > 0) {
        set_err(&c, rc, NULL, "syntax error: expected [section], key = value or a comment");
        if (err != NULL) {
            err->section[0] = '\0';
        }
    } else if (!c.failed && rc < 0) {
        set_err(&c, 0, NULL, "libinih failed (%d)", rc);
    }
    if (!c.failed) {
        finish_current(&c);
    }
    c.cur = -1;
    for (size_t i = 0; !c.failed && i < n; i++) {
        conf_section_t *s = &sections[i];
        if (!s->repeated && c.single_line[i] == 0) {
            snprintf(c.cur_header, sizeof c.cur_header, "%s", s->name);
            c.cur = (int)i;
            c.cur_line = 0;
            finish_instance(&c, s, s->single, NULL, s->optional);
            c.cur = -1;
        }
    }
    free(c.seen);
    for (size_t i = 0; i < n; i++) {
        free(c.inst_lines[i]);
    }
    free(c.inst_lines);
    free(c.single_line);
    free(c.cap);
    if (c.failed) {
        conf_release(sections, n);
        return DK_ECONFIG;
    }
    return 0;
}

int conf_load_string(const char *text, const char *name_for_errors, conf_section_t *sections,
                     size_t n, conf_error_t *err)
{
    const char *name = name_for_errors ? name_for_errors : "(string)";
    const char *slash = strrchr(name, '/');
    char *base = slash ? xstrndup(name, slash == name ? 1 : (size_t)(slash - name)) : NULL;
    int rc = load_text(text ? text : "", name, base, sections, n, err);
    free(base);
    return rc;
}

int conf_load(const char *path, conf_section_t *sections, size_t n, conf_error_t *err)
{
    ctx_t c = {.name = path, .err = err, .cur = -1};
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    prepare(sections, n);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(&c, 0, NULL, "cannot open: %s", strerror(errno));
        return DK_EIO;
    }
    char *text = xmalloc(CONF_MAX_FILE + 1);
    size_t len = fread(text, 1, CONF_MAX_FILE + 1, f);
    bool read_error = ferror(f) != 0;
    int e = errno;
    fclose(f);
    if (read_error) {
        free(text);
        set_err(&c, 0, NULL, "cannot read: %s", strerror(e));
        return DK_EIO;
    }
    if (len > CONF_MAX_FILE) {
        free(text);
        set_err(&c, 0, NULL, "file larger than %d bytes", CONF_MAX_FILE);
        return DK_ECONFIG;
    }
    text[len] = '\0';
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        int line = 1;
        for (const char *p = text; p < nul; p++) {
            line += *p == '\n';
        }
        free(text);
        set_err(&c, line, NULL, "contains a NUL byte");
        return DK_ECONFIG;
    }
    /* Relative paths in the file are relative to the file's folder, made absolute so that they
     * keep meaning the same after a chdir. */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    char *real = realpath(dir, NULL);
    char *base = real ? xstrdup(real) : xstrdup(dir);
    free(real);
    free(dir);
    int rc = load_text(text, path, base, sections, n, err);
    free(base);
    free(text);
    return rc;
}

/* ---- documentation ---- */

static const char *type_name(conf_type_t t)
{
    switch (t) {
    case CONF_STRING:
        return "text";
    case CONF_INT:
        return "whole number";
    case CONF_BOOL:
        return "boolean (true/false)";
    case CONF_PATH:
        return "path (relative to this file's folder)";
    case CONF_KEY:
        return "CURVE public key (40 Z85 characters)";
    case CONF_DURATION:
        return "duration (500ms, 60s, 5m, 2h, 30d)";
    case CONF_SIZE:
        return "size (bytes, KiB, MiB, GiB)";
    case CONF_LIST:
        return "comma-separated list";
    case CONF_ENUM:
        return "one of";
    }
    return "?";
}

void conf_print_doc(FILE *out, const conf_section_t *sections, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const conf_section_t *s = &sections[i];
        const char *c = s->repeated ? "#" : ""; /* repeated sections are examples, commented */
        fprintf(out, "%s# %s%s\n", i ? "\n" : "", s->doc ? s->doc : "",
                s->repeated ? " (repeated: one section per id)"
                            : (s->optional ? " (optional section)" : ""));
        if (s->repeated) {
            fprintf(out, "#[%s %s]\n", s->name, s->id_type == CONF_INT ? "NUMBER" : "ID");
        } else {
            fprintf(out, "[%s]\n", s->name);
        }
        for (const conf_key_t *k = s->keys; k->key != NULL; k++) {
            char lo[32], hi[32];
            fmt_value(lo, sizeof lo, k->type, k->min);
            fmt_value(hi, sizeof hi, k->type, k->max);
            fprintf(out, "%s# %s\n%s#   %s", c, k->doc ? k->doc : "", c, type_name(k->type));
            if (k->type == CONF_ENUM) {
                fprintf(out, " %s", k->choices ? k->choices : "");
            }
            if (has_range(k)) {
                if (k->type == CONF_STRING) {
                    fprintf(out, ", length %s..%s bytes", lo, hi);
                } else if (k->type == CONF_LIST) {
                    fprintf(out, ", %s..%s items", lo, hi);
                } else if (k->type != CONF_ENUM && k->type != CONF_BOOL) {
                    fprintf(out, ", range %s..%s", lo, hi);
                }
            }
            if (k->def == NULL) {
                fprintf(out, ", required\n%s#%s = \n", c, k->key);
            } else {
                bool quote = k->def[0] == '\0' || strpbrk(k->def, ";#\"") != NULL ||
                             is_space(k->def[0]) || is_space(k->def[strlen(k->def) - 1]);
                fprintf(out, ", default %s%s%s\n%s%s = %s%s%s\n", quote ? "\"" : "", k->def,
                        quote ? "\"" : "", c, k->key, quote ? "\"" : "", k->def,
                        quote ? "\"" : "");
            }
        }
    }
}

int conf_error_format(const conf_error_t *e, char *buf, size_t len)
{
    char where[300];
    if (e->line > 0) {
        snprintf(where, sizeof where, "%s:%d: ", e->file, e->line);
    } else {
        snprintf(where, sizeof where, "%s: ", e->file);
    }
    char sect[80] = "";
    if (e->section[0]) {
        snprintf(sect, sizeof sect, "[%s] ", e->section);
    }
    char key[80] = "";
    if (e->key[0]) {
        snprintf(key, sizeof key, "%s: ", e->key);
    }
    return snprintf(buf, len, "%s%s%s%s", where, sect, key, e->message);
}
