/* units — see units.h. The registry is two sorted arrays: official rows by (code, level,
 * valid_from) and configured names by code; lookups are binary searches. */
#include "units.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aconf.h"
#include "child.h"
#include "err.h"
#include "period.h"
#include "xmalloc.h"

#define NFIELDS 7

typedef struct {
    uint32_t code;
    int level;
    uint32_t parent;
    char *type;
    char *name;
    char *full;
    int32_t from, to;
    size_t file;      /* index into units.files */
    int line;
    int parent_col;   /* for the deferred parent check */
} row_t;

typedef struct {
    uint32_t code;
    char *name;
} named_t;

struct units {
    row_t *rows;
    size_t nrows;
    named_t *named;
    size_t nnamed;
    char **files;
    size_t nfiles;
};

static const char *const HEADER[NFIELDS] = {"code", "level", "parent", "type", "name_vi",
                                            "valid_from", "valid_to"};
static const char *const LEVELS[] = {"commune", "district", "province", "national"};
static const char *const TYPES[] = {"Tỉnh", "Thành phố", "Huyện", "Quận", "Thị xã", "Phường",
                                    "Xã", "Thị trấn", "Đặc khu", "Quốc gia"};

units_t *units_new(void)
{
    return xcalloc(1, sizeof(units_t));
}

static void row_free(row_t *r)
{
    free(r->type);
    free(r->name);
    free(r->full);
}

void units_destroy(units_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    units_t *self = *self_p;
    for (size_t i = 0; i < self->nrows; i++) {
        row_free(&self->rows[i]);
    }
    for (size_t i = 0; i < self->nnamed; i++) {
        free(self->named[i].name);
    }
    for (size_t i = 0; i < self->nfiles; i++) {
        free(self->files[i]);
    }
    free(self->rows);
    free(self->named);
    free(self->files);
    free(self);
    *self_p = NULL;
}

size_t units_count(const units_t *self)
{
    return self ? self->nrows : 0;
}

/* ---- parsing ------------------------------------------------------------------------------- */

typedef struct {
    const char *name;  /* for errors */
    char *err;
    size_t errlen;
    int line;
} pctx_t;

static int fail(pctx_t *p, int col, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(pctx_t *p, int col, const char *field, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->err && p->errlen) {
        if (field) {
            snprintf(p->err, p->errlen, "%s:%d:%d: %s: %s", p->name, p->line, col, field, msg);
        } else {
            snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->name, p->line, col, msg);
        }
    }
    return DK_ECONFIG;
}

/* Length of the UTF-8 sequence at s (n bytes left) and its code point, or 0 when invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return len;
}

typedef struct {
    char *text;   /* owned, unquoted */
    int col;      /* column of the field's first character */
} field_t;

/* Splits one line (len bytes, no line end) into fields. Checks UTF-8 and control characters over
 * the whole line first, so that columns can be counted in characters. */
static int split_line(pctx_t *p, const char *line, size_t len, field_t *f, size_t *nf)
{
    const unsigned char *s = (const unsigned char *)line;
    int col = 1;
    for (size_t i = 0; i < len; col++) {
        uint32_t cp;
        size_t l = utf8_seq(s + i, len - i, &cp);
        if (l == 0) {
            return fail(p, col, NULL, "not valid UTF-8");
        }
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            return fail(p, col, NULL, "control character U+%04X", (unsigned)cp);
        }
        i += l;
    }
    *nf = 0;
    size_t i = 0;
    col = 1;
    for (;;) {
        if (*nf == NFIELDS) {
            return fail(p, col, NULL, "more than %d fields (code,level,parent,type,name_vi,"
                                      "valid_from,valid_to)", NFIELDS);
        }
        field_t *fd = &f[(*nf)++];
        fd->col = col;
        size_t cap = len - i + 1, k = 0;
        fd->text = xmalloc(cap);
        if (i < len && s[i] == '"') {
            i++, col++;
            for (;;) {
                if (i >= len) {
                    return fail(p, fd->col, HEADER[*nf - 1], "quoted field not closed");
                }
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        fd->text[k++] = '"';
                        i += 2, col += 2;
                        continue;
                    }
                    i++, col++;
                    break;
                }
                col += (s[i] & 0xC0) != 0x80;
                fd->text[k++] = (char)s[i++];
            }
            if (i < len && s[i] != ',') {
                return fail(p, col, HEADER[*nf - 1], "text after the closing quote");
            }
        } else {
            while (i < len && s[i] != ',') {
                if (s[i] == '"') {
                    return fail(p, col, HEADER[*nf - 1],
                                "a quote inside an unquoted field (quote the whole field)");
                }
                col += (s[i] & 0xC0) != 0x80;
                fd->text[k++] = (char)s[i++];
            }
        }
        fd->text[k] = '\0';
        if (i >= len) {
            break;
        }
        i++, col++; /* the comma */
    }
    if (*nf != NFIELDS) {
        return fail(p, col, NULL, "%zu fields, expected %d (code,level,parent,type,name_vi,"
                                  "valid_from,valid_to)", *nf, NFIELDS);
    }
    return 0;
}

static void fields_free(field_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].text);
        f[i].text = NULL;
    }
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/* "YYYY-MM-DD" -> day, or empty -> def. */
static int parse_date(pctx_t *p, const field_t *f, const char *field, int32_t def, int32_t *out)
{
    const char *s = f->text;
    if (*s == '\0') {
        *out = def;
        return 0;
    }
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return fail(p, f->col, field, "'%s': expected a date YYYY-MM-DD or nothing", s);
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return fail(p, f->col, field, "'%s': expected a date YYYY-MM-DD or nothing", s);
        }
    }
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (period_ymd_to_day(y, m, d, out) < 0) {
        return fail(p, f->col, field, "'%s': no such day", s);
    }
    return 0;
}

static int check_name(pctx_t *p, const field_t *f)
{
    const unsigned char *s = (const unsigned char *)f->text;
    size_t n = strlen(f->text);
    if (n == 0) {
        return fail(p, f->col, "name_vi", "empty (the official name is required)");
    }
    if (s[0] == ' ' || s[n - 1] == ' ') {
        return fail(p, f->col, "name_vi", "'%s': leading or trailing space", f->text);
    }
    int col = f->col;
    for (size_t i = 0; i < n; col++) {
        uint32_t cp;
        size_t l = utf8_seq(s + i, n - i, &cp);
        /* Vietnamese in NFC has precomposed letters only; a combining mark means NFD text, which
         * would compare unequal to the same name typed elsewhere. */
        if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1DC0 && cp <= 0x1DFF)) {
            return fail(p, col, "name_vi",
                        "combining mark U+%04X: the name must be in NFC (precomposed letters)",
                        (unsigned)cp);
        }
        i += l;
    }
    return 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->code != y->code) {
        return x->code < y->code ? -1 : 1;
    }
    if (x->level != y->level) {
        return x->level < y->level ? -1 : 1;
    }
    return x->from < y->from ? -1 : x->from > y->from;
}

static void date_text(int32_t day, bool from, char *buf, size_t len)
{
    if (day == (from ? UNITS_OPEN_FROM : UNITS_OPEN_TO)) {
        snprintf(buf, len, "(open)");
    } else {
        period_format_iso(day, buf, len);
    }
}

/* Parses one row's fields into r (strings owned by r on success). */
static int parse_row(pctx_t *p, field_t *f, row_t *r)
{
    memset(r, 0, sizeof *r);
    r->line = p->line;
    bool level_ok = false;
    for (int l = 0; l < 4; l++) {
        if (strcmp(f[1].text, LEVELS[l]) == 0) {
            r->level = l;
            level_ok = true;
        }
    }
    if (!level_ok) {
        return fail(p, f[1].col, "level", "'%s': expected commune, district, province or national",
                    f[1].text);
    }
    static const size_t digits[4][2] = {{5, 5}, {3, 3}, {2, 2}, {1, 5}};
    if (!all_digits(f[0].text, digits[r->level][0], digits[r->level][1])) {
        if (digits[r->level][0] == digits[r->level][1]) {
            return fail(p, f[0].col, "code", "'%s': a %s code is %zu digits", f[0].text,
                        LEVELS[r->level], digits[r->level][0]);
        }
        return fail(p, f[0].col, "code", "'%s': expected 1 to 5 digits", f[0].text);
    }
    r->code = (uint32_t)strtoul(f[0].text, NULL, 10);
    if (r->code == 0) {
        return fail(p, f[0].col, "code", "'%s': code 0 is not a unit", f[0].text);
    }
    if (f[2].text[0] == '\0') {
        if (r->level < UNITS_LEVEL_PROVINCE) {
            return fail(p, f[2].col, "parent", "empty: a %s needs the code of the unit above it",
                        LEVELS[r->level]);
        }
    } else if (!all_digits(f[2].text, 1, 5) || strtoul(f[2].text, NULL, 10) == 0) {
        return fail(p, f[2].col, "parent", "'%s': expected a unit code (1 to 5 digits)",
                    f[2].text);
    } else if (r->level == UNITS_LEVEL_NATIONAL) {
        return fail(p, f[2].col, "parent", "'%s': a nation has no unit above it", f[2].text);
    } else {
        r->parent = (uint32_t)strtoul(f[2].text, NULL, 10);
        r->parent_col = f[2].col;
    }
    bool type_ok = false;
    for (size_t t = 0; t < sizeof TYPES / sizeof *TYPES; t++) {
        type_ok |= strcmp(f[3].text, TYPES[t]) == 0;
    }
    if (!type_ok) {
        return fail(p, f[3].col, "type",
                    "'%s': expected Tỉnh, Thành phố, Huyện, Quận, Thị xã, Phường, Xã, Thị trấn, "
                    "Đặc khu or Quốc gia",
                    f[3].text);
    }
    int rc = check_name(p, &f[4]);
    if (rc == 0) {
        rc = parse_date(p, &f[5], "valid_from", UNITS_OPEN_FROM, &r->from);
    }
    if (rc == 0) {
        rc = parse_date(p, &f[6], "valid_to", UNITS_OPEN_TO, &r->to);
    }
    if (rc < 0) {
        return rc;
    }
    if (r->from > r->to) {
        return fail(p, f[6].col, "valid_to", "'%s' is before valid_from '%s'", f[6].text,
                    f[5].text);
    }
    r->type = xstrdup(f[3].text);
    r->name = xstrdup(f[4].text);
    r->full = xasprintf("%s %s", f[3].text, f[4].text);
    return 0;
}

/* Finds rows of code with a level above `level` (any validity), or NULL. */
static const row_t *find_above(const row_t *rows, size_t n, uint32_t code, int level)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].code < code) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (; lo < n && rows[lo].code == code; lo++) {
        if (rows[lo].level > level) {
            return &rows[lo];
        }
    }
    return NULL;
}

int units_load_string(units_t *self, const char *text, size_t len, const char *name_for_errors,
                      char *err, size_t errlen)
{
    pctx_t p = {.name = name_for_errors ? name_for_errors : "(units)", .err = err,
                .errlen = errlen, .line = 0};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    row_t *rows = NULL;
    size_t nrows = 0;
    field_t f[NFIELDS] = {{0}};
    size_t nf = 0;
    int rc = 0;
    bool header = false;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        p.line++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > 0 && line[ll - 1] == '\r') {
            ll--;
        }
        if (memchr(line, '\0', ll) != NULL) {
            rc = fail(&p, 1, NULL, "NUL byte in the line");
            break;
        }
        if (ll == 0) {
            rc = fail(&p, 1, NULL, "empty line (every line is a unit)");
            break;
        }
        rc = split_line(&p, line, ll, f, &nf);
        if (rc < 0) {
            break;
        }
        if (!header) {
            for (int i = 0; i < NFIELDS && rc == 0; i++) {
                if (strcmp(f[i].text, HEADER[i]) != 0) {
                    rc = fail(&p, f[i].col, NULL,
                              "header field '%s': expected '%s' (header: code,level,parent,type,"
                              "name_vi,valid_from,valid_to)",
                              f[i].text, HEADER[i]);
                }
            }
            header = true;
        } else {
            rows = xrealloc(rows, (nrows + 1) * sizeof *rows);
            rc = parse_row(&p, f, &rows[nrows]);
            if (rc == 0) {
                rows[nrows].file = self->nfiles;
                nrows++;
            }
        }
        fields_free(f, nf);
        nf = 0;
    }
    fields_free(f, nf);
    if (rc == 0 && !header) {
        p.line = 1;
        rc = fail(&p, 1, NULL, "empty file: expected the header code,level,parent,type,name_vi,"
                               "valid_from,valid_to");
    }
    /* Merge, then check overlaps and parents over everything known. */
    size_t old = self->nrows;
    row_t *all = NULL;
    size_t nall = 0;
    if (rc == 0) {
        nall = old + nrows;
        all = xmalloc((nall ? nall : 1) * sizeof *all);
        if (old) {
            memcpy(all, self->rows, old * sizeof *all);
        }
        if (nrows) {
            memcpy(all + old, rows, nrows * sizeof *all);
        }
        if (nall > 1) {
            qsort(all, nall, sizeof *all, cmp_rows);
        }
        for (size_t i = 0; i + 1 < nall && rc == 0; i++) {
            const row_t *a = &all[i], *b = &all[i + 1];
            if (a->code == b->code && a->level == b->level && b->from <= a->to) {
                /* Report on the row of this file (the later line when both are). */
                const row_t *mine = b->file == self->nfiles ? b : a;
                const row_t *other = mine == b ? a : b;
                if (a->file == self->nfiles && b->file == self->nfiles && a->line > b->line) {
                    mine = a, other = b;
                }
                char f1[16], t1[16];
                date_text(other->from, true, f1, sizeof f1);
                date_text(other->to, false, t1, sizeof t1);
                p.line = mine->line;
                rc = fail(&p, 1, "code",
                          "%s %05u is valid on days also covered by %s:%d (%s .. %s): validity "
                          "periods of one code must not overlap",
                          LEVELS[mine->level], mine->code,
                          other->file == self->nfiles ? p.name : self->files[other->file],
                          other->line, f1, t1);
            }
        }
        for (size_t i = 0; i < nrows && rc == 0; i++) {
            const row_t *r = &rows[i];
            const row_t *par = r->parent ? find_above(all, nall, r->parent, r->level) : NULL;
            if (r->parent && par == NULL) {
                p.line = r->line;
                rc = fail(&p, r->parent_col, "parent",
                          "'%u': no unit of a level above %s has this code (list the parent "
                          "before or in the same file)",
                          r->parent, LEVELS[r->level]);
            }
        }
    }
    if (rc < 0) {
        for (size_t i = 0; i < nrows; i++) {
            row_free(&rows[i]);
        }
        free(rows);
        free(all);
        return rc;
    }
    free(rows);
    free(self->rows);
    self->rows = all;
    self->nrows = nall;
    self->files = xrealloc(self->files, (self->nfiles + 1) * sizeof *self->files);
    self->files[self->nfiles++] = xstrdup(p.name);
    return 0;
}

static int load_file(units_t *self, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return DK_EIO;
    }
    size_t cap = 65536, len = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    bool bad = ferror(fp) != 0;
    int saved = errno;
    fclose(fp);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read (%s)", path, strerror(saved));
        free(buf);
        return DK_EIO;
    }
    int rc = units_load_string(self, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int units_load(units_t *self, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return DK_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        return load_file(self, path, err, errlen);
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(err, errlen, "%s: cannot open the folder (%s)", path, strerror(errno));
        return DK_EIO;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] != '.' && l > 4 && strcmp(de->d_name + l - 4, ".csv") == 0) {
            names = xrealloc(names, (n + 1) * sizeof *names);
            names[n++] = xasprintf("%s/%s", path, de->d_name);
        }
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof *names, cmp_str);
    }
    int rc = 0;
    if (n == 0) {
        snprintf(err, errlen, "%s: a folder without any .csv file of units", path);
        rc = DK_ECONFIG;
    }
    /* All-or-nothing for the folder too: load into a scratch copy first. */
    units_t *tmp = NULL;
    if (rc == 0) {
        tmp = units_new();
        for (size_t i = 0; i < self->nrows; i++) {
            const row_t *r = &self->rows[i];
            tmp->rows = xrealloc(tmp->rows, (tmp->nrows + 1) * sizeof *tmp->rows);
            row_t *c = &tmp->rows[tmp->nrows++];
            *c = *r;
            c->type = xstrdup(r->type);
            c->name = xstrdup(r->name);
            c->full = xstrdup(r->full);
        }
        for (size_t i = 0; i < self->nfiles; i++) {
            tmp->files = xrealloc(tmp->files, (tmp->nfiles + 1) * sizeof *tmp->files);
            tmp->files[tmp->nfiles++] = xstrdup(self->files[i]);
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = load_file(tmp, names[i], err, errlen);
    }
    if (rc == 0) {
        /* Swap the official rows and files; keep self's configured names. */
        row_t *rows = self->rows;
        size_t nrows = self->nrows;
        char **files = self->files;
        size_t nfiles = self->nfiles;
        self->rows = tmp->rows, self->nrows = tmp->nrows;
        self->files = tmp->files, self->nfiles = tmp->nfiles;
        tmp->rows = rows, tmp->nrows = nrows;
        tmp->files = files, tmp->nfiles = nfiles;
    }
    units_destroy(&tmp);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- configured names ---------------------------------------------------------------------- */

static named_t *named_find(const units_t *self, uint32_t code)
{
    size_t lo = 0, hi = self->nnamed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->named[mid].code == code) {
            return &self->named[mid];
        }
        if (self->named[mid].code < code) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

void units_set_name(units_t *self, uint32_t code, const char *name)
{
    if (name == NULL || *name == '\0') {
        return;
    }
    named_t *n = named_find(self, code);
    if (n) {
        free(n->name);
        n->name = xstrdup(name);
        return;
    }
    size_t at = 0;
    while (at < self->nnamed && self->named[at].code < code) {
        at++;
    }
    self->named = xrealloc(self->named, (self->nnamed + 1) * sizeof *self->named);
    memmove(&self->named[at + 1], &self->named[at], (self->nnamed - at) * sizeof *self->named);
    self->named[at] = (named_t){.code = code, .name = xstrdup(name)};
    self->nnamed++;
}

int units_from_conf(const aconf_t *conf, units_t **out, char *err, size_t errlen)
{
    units_t *self = units_new();
    int rc = 0;
    if (conf->agg.units_file && *conf->agg.units_file) {
        rc = units_load(self, conf->agg.units_file, err, errlen);
    }
    child_conf_t *kids = NULL;
    size_t nkids = 0;
    if (rc == 0) {
        rc = child_conf_parse(conf, &kids, &nkids, err, errlen);
    }
    if (rc < 0) {
        units_destroy(&self);
        *out = NULL;
        return rc;
    }
    units_set_name(self, conf->unit, conf->name);
    for (size_t i = 0; i < nkids; i++) {
        units_set_name(self, (uint32_t)kids[i].unit, kids[i].title);
    }
    for (size_t i = 0; i < conf->n_communes; i++) {
        units_set_name(self, (uint32_t)conf->communes[i].code, conf->communes[i].name);
    }
    child_conf_free(kids, nkids);
    *out = self;
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------------- */

/* The first row of code (rows are sorted by code, then level: communes first), or n. */
static size_t first_row(const units_t *self, uint32_t code)
{
    size_t lo = 0, hi = self->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->rows[mid].code < code) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < self->nrows && self->rows[lo].code == code ? lo : self->nrows;
}

/* The row of code in force on day (the lowest level when codes of several levels are), or, when
 * nearest is set and none is in force, the row whose period is closest to day. NULL: none. */
static const row_t *row_at(const units_t *self, uint32_t code, int32_t day, bool nearest)
{
    size_t i = first_row(self, code);
    const row_t *best = NULL;
    int64_t best_gap = INT64_MAX;
    for (; i < self->nrows && self->rows[i].code == code; i++) {
        const row_t *r = &self->rows[i];
        if (r->from <= day && day <= r->to) {
            return r;
        }
        int64_t gap = day < r->from ? (int64_t)r->from - day : (int64_t)day - r->to;
        if (nearest && gap < best_gap) {
            best = r;
            best_gap = gap;
        }
    }
    return best;
}

static int find(const units_t *self, uint32_t code, int32_t day, bool nearest,
                units_entry_t *out)
{
    if (self == NULL) {
        return DK_ENOTFOUND;
    }
    const row_t *r = row_at(self, code, day, nearest);
    const named_t *n = named_find(self, code);
    if (r == NULL && n == NULL) {
        return DK_ENOTFOUND;
    }
    memset(out, 0, sizeof *out);
    out->code = code;
    out->level = r ? r->level : UNITS_LEVEL_UNKNOWN;
    out->parent = r ? r->parent : 0;
    out->type = r ? r->type : "";
    out->name = r ? r->name : "";
    out->full_name = n ? n->name : r->full;
    out->valid_from = r ? r->from : UNITS_OPEN_FROM;
    out->valid_to = r ? r->to : UNITS_OPEN_TO;
    out->configured = n != NULL;
    return 0;
}

int units_find(const units_t *self, uint32_t code, int32_t day, units_entry_t *out)
{
    return find(self, code, day, false, out);
}

int units_find_near(const units_t *self, uint32_t code, int32_t day, units_entry_t *out)
{
    return find(self, code, day, true, out);
}

const char *units_name(const units_t *self, uint32_t code, int32_t day)
{
    if (self == NULL) {
        return NULL;
    }
    const named_t *n = named_find(self, code);
    if (n) {
        return n->name;
    }
    const row_t *r = row_at(self, code, day, true);
    return r ? r->full : NULL;
}

char *units_label(const units_t *self, uint32_t code, int32_t day)
{
    const char *n = units_name(self, code, day);
    return n ? xstrdup(n) : xasprintf("Đơn vị %05u", code);
}
