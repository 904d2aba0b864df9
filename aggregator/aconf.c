/* aconf — the aggregator's config tables. See aconf.h. */
#include "aconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "xmalloc.h"

static const conf_key_t agg_keys[] = {
    {"unit", CONF_INT, offsetof(aconf_agg_t, unit), NULL, 1, 99999, NULL,
     "this aggregator's official unit code (district 3 digits, province 2)"},
    {"name", CONF_STRING, offsetof(aconf_agg_t, name), NULL, 1, 200, NULL,
     "the unit's name, e.g. Huyện Đắk Mil"},
    {"level", CONF_ENUM, offsetof(aconf_agg_t, level), "district", 0, 0,
     "commune|district|province|national", "the level this aggregator serves"},
    {"data-dir", CONF_PATH, offsetof(aconf_agg_t, data_dir), NULL, 0, 0, NULL,
     "folder of the LMDB store (created if missing)"},
    {"bind", CONF_STRING, offsetof(aconf_agg_t, bind), "tcp://0.0.0.0:7700", 1, 512, NULL,
     "CURVE ROUTER endpoint: agents push events, readers pull snapshots"},
    {"publish", CONF_STRING, offsetof(aconf_agg_t, publish), "", 0, 512, NULL,
     "CURVE PUB endpoint for live updates (empty: none)"},
    {"key-file", CONF_PATH, offsetof(aconf_agg_t, key_file), NULL, 0, 0, NULL,
     "this aggregator's CURVE key pair (dk-aggregator keygen writes one)"},
    {"commit-window", CONF_DURATION, offsetof(aconf_agg_t, commit_window), "5ms", 0, 1000, NULL,
     "group commit: gather batches this long before one LMDB commit"},
    {"max-batch", CONF_INT, offsetof(aconf_agg_t, max_batch), "20000", 1, 1000000, NULL,
     "group commit: commit at once when this many events are queued"},
    {"map-size", CONF_SIZE, offsetof(aconf_agg_t, map_size), "16GiB", 1048576,
     (int64_t)1 << 42, NULL, "LMDB map size (address space; grows on MAP_FULL)"},
    {"organisers", CONF_LIST, offsetof(aconf_agg_t, organisers), "", 0, 99, NULL,
     "member organisations, numbered 1..n in this order (0 is the Front committee)"},
    {"heartbeat", CONF_DURATION, offsetof(aconf_agg_t, heartbeat), "30s", 1000, 600000, NULL,
     "ZeroMQ heartbeat interval of the ROUTER and PUB (timeout: three times it). Default 30s, "
     "not 5s: libzmq 4.3 cancels each PING's timeout timer by walking every timer of its I/O "
     "thread, a cost that grows with the square of the connected agents (3,321 agents: I/O "
     "thread 35 % of a core at 5s, 19 % at 30s); the agents' own Heartbeat messages keep "
     "\"last contact\" current"},
    {"reader-check", CONF_DURATION, offsetof(aconf_agg_t, reader_check), "60s", 1000, 86400000,
     NULL, "how often stale LMDB readers (killed processes) are cleared"},
    {"units-file", CONF_PATH, offsetof(aconf_agg_t, units_file), "", 0, 0, NULL,
     "official unit codes and names (config/units/ CSV, or a folder of them): names of units "
     "the config does not name (empty: none)"},
    CONF_END,
};

static const conf_key_t commune_keys[] = {
    {"name", CONF_STRING, offsetof(aconf_commune_t, name), NULL, 1, 200, NULL,
     "the commune's name, e.g. Xã Đức Minh"},
    {"public-key", CONF_KEY, offsetof(aconf_commune_t, public_key), NULL, 0, 0, NULL,
     "the commune agent's CURVE public key (Z85)"},
    {"areas", CONF_INT, offsetof(aconf_commune_t, areas), NULL, 1, 9999, NULL,
     "residential areas in the commune (numbered 1..areas)"},
    {"organisers", CONF_LIST, offsetof(aconf_commune_t, organisers), "", 0, 99, NULL,
     "this commune's member organisations (empty: the [aggregator] list)"},
    CONF_END,
};

static const conf_key_t reader_keys[] = {
    {"public-key", CONF_KEY, offsetof(aconf_reader_t, public_key), NULL, 0, 0, NULL,
     "the reader's CURVE public key (Z85): it may request snapshots and subscribe"},
    {"role", CONF_ENUM, offsetof(aconf_reader_t, role), "province", 0, 0,
     "province|dashboard|monitor", "what the reader is"},
    CONF_END,
};

static const char *const foreign_types[] = {"http", "child", NULL};

static void build_tables(aconf_t *self)
{
    conf_section_t *s = xcalloc(3, sizeof *s);
    s[0] = (conf_section_t){.name = "aggregator", .size = sizeof(aconf_agg_t), .keys = agg_keys,
                            .single = &self->agg, .doc = "this aggregator"};
    s[1] = (conf_section_t){.name = "commune", .repeated = true, .id_type = CONF_INT,
                            .id_min = 1, .id_max = 99999,
                            .id_offset = offsetof(aconf_commune_t, code),
                            .size = sizeof(aconf_commune_t), .keys = commune_keys,
                            .list = (void **)&self->communes, .count = &self->n_communes,
                            .doc = "one commune agent that pushes events"};
    s[2] = (conf_section_t){.name = "reader", .repeated = true, .id_type = CONF_STRING,
                            .id_offset = offsetof(aconf_reader_t, name),
                            .size = sizeof(aconf_reader_t), .keys = reader_keys,
                            .list = (void **)&self->readers, .count = &self->n_readers,
                            .doc = "a key that may only read (snapshots, live updates)"};
    self->tables = s;
    self->n_tables = 3;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            if (cap > (size_t)16 << 20) {
                snprintf(err, errlen, "%s: larger than 16 MiB", path);
                fclose(f);
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

/* The section type of a header line "[type id]" (copied into type), or 0 when the line is not a
 * header. */
static int header_type(const char *line, char *type, size_t tlen, char *id, size_t ilen)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p != '[') {
        return 0;
    }
    const char *close = strchr(p, ']');
    if (!close) {
        return 0;
    }
    char inner[256];
    snprintf(inner, sizeof inner, "%.*s", (int)(close - p - 1), p + 1);
    char *t = trim(inner);
    char *sp = strpbrk(t, " \t");
    if (sp) {
        *sp = '\0';
        snprintf(id, ilen, "%s", trim(sp + 1));
    } else {
        id[0] = '\0';
    }
    snprintf(type, tlen, "%s", t);
    return 1;
}

static int is_foreign(const char *type)
{
    for (int i = 0; foreign_types[i]; i++) {
        if (strcmp(type, foreign_types[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A copy of text where the lines of foreign sections are empty; records those sections raw in
 * self. With keep_type set, does the opposite: keeps only that type's lines (no recording). Line
 * numbers are kept. The caller frees the result. */
static char *split_text(aconf_t *self, const char *text, const char *keep_type)
{
    const char *line = text;
    char *outbuf = xmalloc(strlen(text) + 1);
    size_t olen = 0;
    int lineno = 0;
    int foreign = 0, keep = 0;
    aconf_section_t *cur = NULL;
    if ((unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF) {
        line += 3;
    }
    while (*line) {
        lineno++;
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char type[64], id[192];
        char *copy = xstrndup(line, len);
        if (header_type(copy, type, sizeof type, id, sizeof id)) {
            foreign = is_foreign(type);
            keep = keep_type && strcmp(type, keep_type) == 0;
            cur = NULL;
            if (foreign && !keep_type) {
                self->sections = xrealloc(self->sections,
                                          (self->n_sections + 1) * sizeof *self->sections);
                cur = &self->sections[self->n_sections++];
                memset(cur, 0, sizeof *cur);
                cur->type = xstrdup(type);
                cur->name = id[0] ? xstrdup(id) : NULL;
                cur->line = lineno;
            }
        } else if (cur) {
            char *t = trim(copy);
            char *eq = strchr(t, '=');
            if (*t && *t != '#' && *t != ';' && eq) {
                *eq = '\0';
                char *k = trim(t), *v = trim(eq + 1);
                if (*v == '"') {
                    char *q = strrchr(v + 1, '"');
                    if (q) {
                        *q = '\0';
                    }
                    v++;
                } else {
                    for (char *c = v; *c; c++) {
                        if ((*c == ';' || *c == '#') && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
                            *c = '\0';
                            v = trim(v);
                            break;
                        }
                    }
                }
                cur->items = xrealloc(cur->items, (cur->n_items + 1) * sizeof *cur->items);
                cur->items[cur->n_items++] =
                    (aconf_item_t){.key = xstrdup(k), .value = xstrdup(v), .line = lineno};
            }
        }
        free(copy);
        int blank = keep_type ? !keep : foreign;
        if (!blank) {
            memcpy(outbuf + olen, line, len);
            olen += len;
        }
        if (!nl) {
            break;
        }
        outbuf[olen++] = '\n';
        line = nl + 1;
    }
    outbuf[olen] = '\0';
    return outbuf;
}

/* ---- checks beyond conf's ------------------------------------------------------------------ */

/* The line of `key` in the section [type id] of text (or of its header when the key is not
 * there; 0 when there is no such section). Only used to word an error, so a linear scan is fine. */
static int section_key_line(const char *text, const char *type, const char *id, const char *key)
{
    const char *line = text;
    int lineno = 0, header = 0;
    while (*line) {
        lineno++;
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *copy = xstrndup(line, len);
        char t[64], i[192];
        if (header_type(copy, t, sizeof t, i, sizeof i)) {
            if (header) {
                free(copy);
                return header; /* the section ended without the key */
            }
            if (strcmp(t, type) == 0 && strcmp(i, id) == 0) {
                header = lineno;
            }
        } else if (header) {
            char *k = trim(copy);
            size_t kl = strlen(key);
            if (strncmp(k, key, kl) == 0 && (k[kl] == '=' || k[kl] == ' ' || k[kl] == '\t')) {
                free(copy);
                return lineno;
            }
        }
        free(copy);
        if (!nl) {
            break;
        }
        line = nl + 1;
    }
    return header;
}

/* One public key of the file: a commune (kind 0) or a reader (kind 1), index in its array. */
typedef struct {
    const char *key;
    int kind;
    size_t index;
} key_use_t;

static int key_use_cmp(const void *a, const void *b)
{
    const key_use_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0) {
        return c;
    }
    if (x->kind != y->kind) {
        return x->kind < y->kind ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

static void key_use_name(const aconf_t *self, const key_use_t *u, char *type, size_t tlen,
                         char *id, size_t ilen)
{
    if (u->kind == 0) {
        snprintf(type, tlen, "commune");
        snprintf(id, ilen, "%lld", (long long)self->communes[u->index].code);
    } else {
        snprintf(type, tlen, "reader");
        snprintf(id, ilen, "%s", self->readers[u->index].name);
    }
}

/* A key used twice would make the ZAP answer depend on table order: refuse it. Sorting the keys
 * makes this O(n log n) (a pairwise comparison took seconds with thousands of communes). On a
 * duplicate, writes "file:line: [type id] public-key: the same key is used by [type id] (line n)"
 * naming the later of the two sections, and returns DK_ECONFIG. */
static int check_keys(const aconf_t *self, char *err, size_t errlen)
{
    size_t n = self->n_communes + self->n_readers, k = 0;
    if (n < 2) {
        return 0;
    }
    key_use_t *u = xmalloc(n * sizeof *u);
    for (size_t i = 0; i < self->n_communes; i++) {
        u[k++] = (key_use_t){self->communes[i].public_key, 0, i};
    }
    for (size_t i = 0; i < self->n_readers; i++) {
        u[k++] = (key_use_t){self->readers[i].public_key, 1, i};
    }
    if (n > 1) {
        qsort(u, n, sizeof *u, key_use_cmp);
    }
    int rc = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(u[i - 1].key, u[i].key) != 0) {
            continue;
        }
        char t1[16], id1[192], t2[16], id2[192];
        key_use_name(self, &u[i - 1], t1, sizeof t1, id1, sizeof id1);
        key_use_name(self, &u[i], t2, sizeof t2, id2, sizeof id2);
        int l1 = section_key_line(self->text, t1, id1, "public-key");
        int l2 = section_key_line(self->text, t2, id2, "public-key");
        /* name the later use (in the file) first: that is the line to fix */
        if (l1 > l2) {
            snprintf(err, errlen,
                     "%s:%d: [%s %s] public-key: the same key is used by [%s %s] (line %d)",
                     self->path, l1, t1, id1, t2, id2, l2);
        } else {
            snprintf(err, errlen,
                     "%s:%d: [%s %s] public-key: the same key is used by [%s %s] (line %d)",
                     self->path, l2, t2, id2, t1, id1, l1);
        }
        rc = DK_ECONFIG;
        break;
    }
    free(u);
    return rc;
}

/* aconf_commune's index: conf refuses a code given twice, so codes are unique. */
struct aconf_by_code {
    int64_t code;
    size_t index;
};

static int code_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct aconf_by_code *)a)->code;
    int64_t y = ((const struct aconf_by_code *)b)->code;
    return x < y ? -1 : x > y;
}

static void build_index(aconf_t *self)
{
    size_t n = self->n_communes;
    self->by_code = xmalloc((n ? n : 1) * sizeof *self->by_code);
    for (size_t i = 0; i < n; i++) {
        self->by_code[i] = (struct aconf_by_code){self->communes[i].code, i};
    }
    if (n > 1) {
        qsort(self->by_code, n, sizeof *self->by_code, code_cmp);
    }
}

static size_t list_len(char **l)
{
    size_t n = 0;
    while (l && l[n]) {
        n++;
    }
    return n;
}

int aconf_load(const char *path, aconf_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen > 0) {
        err[0] = '\0';
    }
    char *text = read_file(path, err, errlen);
    if (!text) {
        return DK_EIO;
    }
    aconf_t *self = xcalloc(1, sizeof *self);
    self->path = xstrdup(path);
    self->text = text;
    build_tables(self);
    char *mine = split_text(self, text, NULL);
    conf_error_t ce;
    memset(&ce, 0, sizeof ce);
    int rc = conf_load_string(mine, path, self->tables, self->n_tables, &ce);
    free(mine);
    if (rc < 0) {
        conf_error_format(&ce, err, errlen);
        aconf_destroy(&self);
        return rc;
    }
    if ((rc = check_keys(self, err, errlen)) < 0) {
        aconf_destroy(&self);
        return rc;
    }
    build_index(self);
    static const char *const levels[] = {"commune", "district", "province", "national"};
    self->unit = (uint32_t)self->agg.unit;
    self->name = self->agg.name;
    self->level = levels[self->agg.level >= 0 && self->agg.level < 4 ? self->agg.level : 1];
    self->organisers = self->agg.organisers;
    self->n_organisers = list_len(self->agg.organisers);
    *out = self;
    return 0;
}

void aconf_destroy(aconf_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    aconf_t *self = *self_p;
    if (self->tables) {
        conf_release(self->tables, self->n_tables);
        free(self->tables);
    }
    for (size_t i = 0; i < self->n_sections; i++) {
        aconf_section_t *sec = &self->sections[i];
        for (size_t j = 0; j < sec->n_items; j++) {
            free(sec->items[j].key);
            free(sec->items[j].value);
        }
        free(sec->items);
        free(sec->type);
        free(sec->name);
    }
    free(self->sections);
    free(self->by_code);
    free(self->text);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const aconf_commune_t *aconf_commune(const aconf_t *self, uint32_t code)
{
    if (!self->by_code) {
        return NULL;
    }
    struct aconf_by_code probe = {(int64_t)code, 0};
    const struct aconf_by_code *e =
        bsearch(&probe, self->by_code, self->n_communes, sizeof probe, code_cmp);
    return e ? &self->communes[e->index] : NULL;
}

size_t aconf_organisers(const aconf_t *self, uint32_t commune)
{
    const aconf_commune_t *c = aconf_commune(self, commune);
    if (c && list_len(c->organisers) > 0) {
        return list_len(c->organisers);
    }
    return list_len(self->agg.organisers);
}

const aconf_section_t *aconf_section(const aconf_t *self, const char *type, const char *name)
{
    for (size_t i = 0; i < self->n_sections; i++) {
        const aconf_section_t *sec = &self->sections[i];
        if (strcmp(sec->type, type) == 0 &&
            (!name || (sec->name && strcmp(sec->name, name) == 0))) {
            return sec;
        }
    }
    return NULL;
}

char *aconf_section_text(const aconf_t *self, const char *type)
{
    return split_text((aconf_t *)self, self->text ? self->text : "", type);
}

void aconf_print_doc(FILE *out)
{
    aconf_t tmp;
    memset(&tmp, 0, sizeof tmp);
    build_tables(&tmp);
    conf_print_doc(out, tmp.tables, tmp.n_tables);
    free(tmp.tables);
}
