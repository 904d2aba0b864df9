/* csvimport — see csvimport.h. The CSV reader is our own (about a hundred lines) rather than
 * libcsv because every error must name the physical line where its row starts, and a quoted
 * field may span lines: the reader counts line ends as it goes, which libcsv's callbacks do not
 * expose. */
#define LOG_TAG "csvimport"
#include "csvimport.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "text.h"
#include "wire.h"
#include "xmalloc.h"

/* Validation needs a seq; the outbox assigns the real one. Large, so that any correction of an
 * existing event (corrects_seq < seq) passes the ordering rule. */
#define SEQ_PLACEHOLDER (1ULL << 50)

typedef struct {
    char **f;
    size_t n, cap;
    int line;
} row_t;

static void row_add(row_t *r, const char *s, size_t len)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->f = xrealloc(r->f, r->cap * sizeof *r->f);
    }
    r->f[r->n++] = xstrndup(s, len);
}

static void row_clear(row_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i]);
    }
    free(r->f);
    memset(r, 0, sizeof *r);
}

static void add_error(csvimport_t *c, int line, int column, const char *header, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static void add_error(csvimport_t *c, int line, int column, const char *header, const char *fmt,
                      ...)
{
    if (c->n_errors >= CSVIMPORT_MAX_ERRORS) {
        c->more_errors++;
        return;
    }
    c->errors = xrealloc(c->errors, (c->n_errors + 1) * sizeof *c->errors);
    csvimport_error_t *e = &c->errors[c->n_errors++];
    e->line = line;
    e->column = column;
    e->header = header ? xstrdup(header) : NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&e->reason, fmt, ap) < 0) {
        e->reason = xstrdup("?");
    }
    va_end(ap);
}

/* Picks the separator from the header line: the more frequent of ';' and ',' outside quotes. */
static char detect_delim(const char *s, size_t len)
{
    size_t commas = 0, semis = 0;
    bool q = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            q = !q;
        } else if (!q && s[i] == '\n') {
            break;
        } else if (!q && s[i] == ',') {
            commas++;
        } else if (!q && s[i] == ';') {
            semis++;
        }
    }
    return semis > commas ? ';' : ',';
}

/* Reads one record starting at *pos into r. Returns 1 for a record, 0 at the end, -1 for an
 * unterminated quoted field (r->line says where the row started). *line counts line ends. */
static int read_row(const char *s, size_t len, size_t *pos, int *line, char delim, row_t *r)
{
    size_t i = *pos;
    if (i >= len) {
        return 0;
    }
    r->line = *line;
    char *buf = xmalloc(len - i + 1);
    for (;;) {
        size_t bl = 0;
        if (i < len && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    free(buf);
                    *pos = len;
                    return -1;
                }
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        buf[bl++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (s[i] == '\n') {
                    (*line)++;
                }
                buf[bl++] = s[i++];
            }
            /* Text after the closing quote, up to the separator, is kept as written. */
            while (i < len && s[i] != delim && s[i] != '\n' && s[i] != '\r') {
                buf[bl++] = s[i++];
            }
        } else {
            while (i < len && s[i] != delim && s[i] != '\n') {
                buf[bl++] = s[i++];
            }
            if (bl > 0 && buf[bl - 1] == '\r') {
                bl--;
            }
        }
        if (i < len && s[i] == '\r') {
            i++;
        }
        row_add(r, buf, bl);
        if (i < len && s[i] == delim) {
            i++;
            continue;
        }
        if (i < len && s[i] == '\n') {
            (*line)++;
            i++;
        }
        break;
    }
    free(buf);
    *pos = i;
    return 1;
}

static bool blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t') {
            return false;
        }
    }
    return true;
}

static bool row_blank(const row_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!blank(r->f[i])) {
            return false;
        }
    }
    return true;
}

/* Row identity: BLAKE2b-128 of (commune, BLAKE2b-256 of the canonical packed event, occurrence). */
static void origin_key(uint32_t commune, const uint8_t content[32], uint32_t occurrence,
                       uint8_t out[WIRE_ORIGIN_KEY_LEN])
{
    uint8_t in[4 + 32 + 4];
    in[0] = (uint8_t)(commune >> 24);
    in[1] = (uint8_t)(commune >> 16);
    in[2] = (uint8_t)(commune >> 8);
    in[3] = (uint8_t)commune;
    memcpy(in + 4, content, 32);
    in[36] = (uint8_t)(occurrence >> 24);
    in[37] = (uint8_t)(occurrence >> 16);
    in[38] = (uint8_t)(occurrence >> 8);
    in[39] = (uint8_t)occurrence;
    crypto_generichash(out, WIRE_ORIGIN_KEY_LEN, in, sizeof in, NULL, 0);
}

int csvimport_parse(const char *buf, size_t len, uint32_t commune, int32_t today,
                    csvimport_t **out)
{
    wire_rules_t rules;
    wire_rules_init(&rules);
    rules.commune = commune;
    rules.today = today;
    return csvimport_parse_rules(buf, len, &rules, out);
}

int csvimport_parse_rules(const char *buf, size_t len, const wire_rules_t *rules,
                          csvimport_t **out)
{
    assert(rules != NULL && rules->commune != 0);
    /* The same rule book as `dk-agent record` (agentconf_wire_rules): max-area included, so an
     * out-of-range row is a report line here, not a rejection from the aggregator later. */
    const uint32_t commune = rules->commune;
    csvimport_t *c = xcalloc(1, sizeof *c);
    *out = c;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        c->bom = true;
        buf += 3;
        len -= 3;
    }
    if (!text_utf8_valid(buf, len)) {
        size_t pos = 0;
        int bad_line = 1;
        while (pos < len) {
            size_t at = pos;
            if (text_utf8_next(buf, len, &pos) < 0) {
                break;
            }
            bad_line += buf[at] == '\n';
        }
        add_error(c, bad_line, 0, NULL,
                  "Tệp không phải chữ UTF-8 (có thể đã lưu bằng mã khác): trong Excel chọn "
                  "\"Lưu thành\" > \"CSV UTF-8 (phân cách bằng dấu phẩy)\"");
        return DK_EINVAL;
    }
    c->delimiter = detect_delim(buf, len);
    size_t pos = 0;
    int line = 1;
    row_t hdr = {0};
    int rc = read_row(buf, len, &pos, &line, c->delimiter, &hdr);
    if (rc <= 0 || row_blank(&hdr)) {
        add_error(c, rc < 0 ? hdr.line : 0, 0, NULL,
                  rc < 0 ? "Dòng tiêu đề có dấu ngoặc kép (\") không đóng"
                         : "Tệp trống: dòng đầu tiên phải là dòng tiêu đề của mẫu");
        row_clear(&hdr);
        return DK_EINVAL;
    }
    /* Which template: a "Loại hoạt động" column means activities, "Quỹ" fund movements. */
    for (size_t i = 0; i < hdr.n && !c->kind; i++) {
        const record_field_t *f = record_field_by_header(hdr.f[i], strlen(hdr.f[i]),
                                                         RECORD_ACTIVITY | RECORD_FUND);
        if (f && strcmp(f->name, "kind") == 0) {
            c->kind = RECORD_ACTIVITY;
        } else if (f && strcmp(f->name, "fund") == 0) {
            c->kind = RECORD_FUND;
        }
    }
    if (!c->kind) {
        add_error(c, 1, 0, NULL,
                  "Không nhận ra mẫu: tệp hoạt động cần cột \"Loại hoạt động\", tệp quỹ cần cột "
                  "\"Quỹ\" (xem config/templates/)");
        row_clear(&hdr);
        return DK_EINVAL;
    }
    const record_field_t **col = xcalloc(hdr.n, sizeof *col);
    for (size_t i = 0; i < hdr.n; i++) {
        if (!text_utf8_valid(hdr.f[i], strlen(hdr.f[i]))) {
            add_error(c, 1, (int)i + 1, NULL,
                      "Tiêu đề không phải chữ UTF-8: hãy lưu tệp dạng \"CSV UTF-8\"");
            continue;
        }
        if (blank(hdr.f[i])) {
            continue; /* an empty trailing column from a spreadsheet; its values must be empty */
        }
        col[i] = record_field_by_header(hdr.f[i], strlen(hdr.f[i]), c->kind);
        if (!col[i]) {
            add_error(c, 1, (int)i + 1, hdr.f[i],
                      "Cột \"%s\" không có trong mẫu %s (xem config/templates/)", hdr.f[i],
                      c->kind == RECORD_ACTIVITY ? "hoạt động" : "quỹ");
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (col[j] == col[i]) {
                add_error(c, 1, (int)i + 1, hdr.f[i], "Cột \"%s\" bị lặp (đã có ở cột %zu)",
                          hdr.f[i], j + 1);
            }
        }
    }
    uint8_t (*hashes)[32] = NULL;
    size_t cap = 0;
    for (;;) {
        row_t r = {0};
        rc = read_row(buf, len, &pos, &line, c->delimiter, &r);
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            add_error(c, r.line, 0, NULL,
                      "Dấu ngoặc kép (\") mở ở dòng này không được đóng đến hết tệp");
            row_clear(&r);
            break;
        }
        if (row_blank(&r)) {
            row_clear(&r);
            continue;
        }
        c->rows++;
        size_t errors_before = c->n_errors + c->more_errors;
        Dk__Event *ev = record_event_new(c->kind);
        for (size_t i = 0; i < r.n; i++) {
            const char *hname = i < hdr.n ? hdr.f[i] : NULL;
            if (!text_utf8_valid(r.f[i], strlen(r.f[i]))) {
                add_error(c, r.line, (int)i + 1, hname,
                          "Giá trị không phải chữ UTF-8: hãy lưu tệp dạng \"CSV UTF-8\"");
                continue;
            }
            if (i >= hdr.n || !col[i]) {
                /* A value under an unknown header is already covered by that header's error. */
                if (!blank(r.f[i]) && (i >= hdr.n || blank(hdr.f[i]))) {
                    add_error(c, r.line, (int)i + 1, hname,
                              "Ô \"%s\" nằm ở cột không có tiêu đề hợp lệ", r.f[i]);
                }
                continue;
            }
            char why[600];
            if (record_set(ev, col[i], r.f[i], why, sizeof why) != 0) {
                add_error(c, r.line, (int)i + 1, hname, "%s", why);
            }
        }
        if (c->n_errors + c->more_errors == errors_before) {
            ev->has_commune = 1;
            ev->commune = commune;
            uint8_t *packed;
            size_t plen;
            if (wire_event_encode(ev, &packed, &plen) != 0) {
                add_error(c, r.line, 0, NULL, "Dòng quá dài");
            } else {
                if (c->n_events == cap) {
                    cap = cap ? cap * 2 : 64;
                    hashes = xrealloc(hashes, cap * sizeof *hashes);
                    c->events = xrealloc(c->events, cap * sizeof *c->events);
                    c->event_lines = xrealloc(c->event_lines, cap * sizeof *c->event_lines);
                }
                crypto_generichash(hashes[c->n_events], 32, packed, plen, NULL, 0);
                free(packed);
                uint32_t occ = 0;
                for (size_t j = 0; j < c->n_events; j++) {
                    occ += memcmp(hashes[j], hashes[c->n_events], 32) == 0;
                }
                ev->has_origin_key = 1;
                ev->origin_key.len = WIRE_ORIGIN_KEY_LEN;
                ev->origin_key.data = xmalloc(WIRE_ORIGIN_KEY_LEN);
                origin_key(commune, hashes[c->n_events], occ, ev->origin_key.data);
                ev->has_seq = 1;
                ev->seq = SEQ_PLACEHOLDER;
                wire_fault_t fault;
                if (wire_check_event(ev, rules, &fault) != 0) {
                    const record_field_t *f = record_field_by_wire(fault.field, c->kind);
                    int column = 0;
                    for (size_t i = 0; f && i < hdr.n; i++) {
                        if (col[i] == f) {
                            column = (int)i + 1;
                        }
                    }
                    add_error(c, r.line, column, column ? hdr.f[column - 1] : NULL, "%s",
                              fault.reason);
                } else {
                    c->event_lines[c->n_events] = r.line;
                    c->events[c->n_events++] = ev;
                    ev = NULL;
                }
            }
        }
        record_event_free(&ev);
        row_clear(&r);
    }
    free(hashes);
    free(col);
    row_clear(&hdr);
    if (c->n_errors == 0 && c->rows == 0) {
        add_error(c, 0, 0, NULL, "Tệp không có dòng số liệu nào dưới dòng tiêu đề");
    }
    if (c->n_errors > 0) {
        /* All or nothing: a file with any bad row records nothing. */
        for (size_t i = 0; i < c->n_events; i++) {
            record_event_free(&c->events[i]);
        }
        c->n_events = 0;
        return DK_EINVAL;
    }
    return 0;
}

int csvimport_parse_file(const char *path, uint32_t commune, int32_t today, csvimport_t **out)
{
    wire_rules_t rules;
    wire_rules_init(&rules);
    rules.commune = commune;
    rules.today = today;
    return csvimport_parse_file_rules(path, &rules, out);
}

int csvimport_parse_file_rules(const char *path, const wire_rules_t *rules, csvimport_t **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        csvimport_t *c = xcalloc(1, sizeof *c);
        add_error(c, 0, 0, NULL, "Không mở được tệp %s: %s", path, strerror(errno));
        *out = c;
        return DK_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > CSVIMPORT_MAX_FILE) {
        fclose(f);
        csvimport_t *c = xcalloc(1, sizeof *c);
        add_error(c, 0, 0, NULL, "Tệp quá lớn (tối đa %d MiB); hãy chia thành nhiều tệp",
                  CSVIMPORT_MAX_FILE / (1024 * 1024));
        *out = c;
        return DK_ETOOBIG;
    }
    size_t len = (size_t)st.st_size;
    char *buf = xmalloc(len + 1);
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    int rc = csvimport_parse_rules(buf, got, rules, out);
    free(buf);
    return rc;
}

void csvimport_destroy(csvimport_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    csvimport_t *c = *self_p;
    for (size_t i = 0; i < c->n_events; i++) {
        record_event_free(&c->events[i]);
    }
    free(c->events);
    free(c->event_lines);
    for (size_t i = 0; i < c->n_errors; i++) {
        free(c->errors[i].header);
        free(c->errors[i].reason);
    }
    free(c->errors);
    free(c);
    *self_p = NULL;
}

void csvimport_report(FILE *out, const char *file_name, const csvimport_t *c, const uint64_t *seqs,
                      const bool *was_new)
{
    fprintf(out, "Tệp: %s\n", file_name);
    if (c->kind) {
        fprintf(out, "Mẫu: %s; dấu phân cách '%c'%s; %zu dòng số liệu\n",
                c->kind == RECORD_ACTIVITY ? "hoạt động" : "thu chi quỹ", c->delimiter,
                c->bom ? "; có BOM" : "", c->rows);
    }
    if (c->n_errors > 0) {
        fprintf(out,
                "KẾT QUẢ: KHÔNG GHI NHẬN. Tệp có %zu lỗi nên không dòng nào được ghi; sửa các "
                "lỗi dưới đây rồi thả lại cả tệp vào thư mục.\n\n",
                c->n_errors + c->more_errors);
        for (size_t i = 0; i < c->n_errors; i++) {
            const csvimport_error_t *e = &c->errors[i];
            if (e->line > 0 && e->column > 0) {
                fprintf(out, "Dòng %d, cột %d (%s): %s\n", e->line, e->column,
                        e->header ? e->header : "", e->reason);
            } else if (e->line > 0) {
                fprintf(out, "Dòng %d: %s\n", e->line, e->reason);
            } else {
                fprintf(out, "%s\n", e->reason);
            }
        }
        if (c->more_errors) {
            fprintf(out, "... và %zu lỗi khác.\n", c->more_errors);
        }
        return;
    }
    size_t fresh = 0;
    uint64_t lo = 0, hi = 0;
    for (size_t i = 0; i < c->n_events; i++) {
        if (!was_new || was_new[i]) {
            fresh++;
            if (seqs) {
                lo = lo == 0 || seqs[i] < lo ? seqs[i] : lo;
                hi = seqs[i] > hi ? seqs[i] : hi;
            }
        }
    }
    if (!seqs) {
        fprintf(out, "KẾT QUẢ: tệp hợp lệ, %zu dòng (chưa ghi).\n", c->n_events);
        return;
    }
    fprintf(out, "KẾT QUẢ: ĐÃ GHI NHẬN. %zu dòng mới được lưu", fresh);
    if (fresh) {
        fprintf(out, " (số %llu đến %llu)", (unsigned long long)lo, (unsigned long long)hi);
    }
    fprintf(out, "; %zu dòng đã ghi từ trước nên không ghi lại.\n", c->n_events - fresh);
    fprintf(out, "Các bản ghi sẽ được gửi lên huyện khi có kết nối (xem: dk-agent status).\n");
}
