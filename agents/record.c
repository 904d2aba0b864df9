/* record — see record.h. Fields are set through the protobuf-c descriptors: a table entry names the
 * wire path ("activity.sessions"), and the setter finds the member, its type and its has_ flag in
 * the generated descriptor. So the table cannot drift from the schema: an entry whose path the
 * schema lacks fails the unit test that walks the table. */
#define LOG_TAG "record"
#include "record.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "err.h"
#include "log.h"
#include "money.h"
#include "period.h"
#include "text.h"
#include "wire.h"
#include "xmalloc.h"

enum { T_DATE, T_COUNT, T_MONEY, T_CODE, T_CONTENTS, T_TEXT, T_SEQ, T_ORGANISER };

typedef struct {
    record_field_t pub;
    int type;
    int list; /* catalog list for T_CODE */
} field_t;

#define A RECORD_ACTIVITY
#define F RECORD_FUND
#define V RECORD_VOID

/* Template column order: the activity template uses the A fields in this order, the fund template
 * the F fields. */
static const field_t fields[] = {
    {{"date", "Ngày", "date", A | F | V,
      "Ngày diễn ra hoạt động hoặc ngày thu/chi (không phải ngày nhập)", "18/11/2023"},
     T_DATE, 0},
    {{"kind", "Loại hoạt động", "activity.kind", A, "Loại hoạt động", "Tuyên truyền"},
     T_CODE, CATALOG_KIND},
    {{"contents", "Nội dung", "activity.contents", A,
      "Nội dung cuộc vận động (1-5, có thể nhiều, cách nhau bởi dấu phẩy)", "1,3"},
     T_CONTENTS, CATALOG_CONTENT},
    {{"channel", "Hình thức", "activity.channel", A, "Hình thức tuyên truyền",
      "Hội nghị nhân dân"},
     T_CODE, CATALOG_CHANNEL},
    {{"festival", "Ngày hội", "activity.festival", A, "Ngày hội (khi loại là Ngày hội)",
      "Ngày hội Đại đoàn kết toàn dân tộc"},
     T_CODE, CATALOG_FESTIVAL},
    {{"model-stage", "Mô hình", "activity.model_stage", A,
      "Mô hình xây dựng mới hay duy trì (khi loại là Mô hình)", "Xây dựng mới"},
     T_CODE, CATALOG_MODEL_STAGE},
    {{"review", "Sơ kết, tổng kết", "activity.review", A,
      "Loại sơ kết, tổng kết (khi loại là Sơ kết, tổng kết)", "Sơ kết 1 năm"},
     T_CODE, CATALOG_REVIEW},
    {{"status", "Chỉ tiêu", "activity.status", A,
      "Chỉ tiêu đạt chuẩn (khi loại là Số liệu đạt chuẩn)", "Hộ gia đình văn hóa"},
     T_CODE, CATALOG_STATUS},
    {{"sessions", "Số buổi", "activity.sessions", A, "Số buổi, số cuộc", "2"}, T_COUNT, 0},
    {{"participants", "Số lượt người", "activity.participants", A, "Số lượt người tham dự",
      "150"},
     T_COUNT, 0},
    {{"items", "Số sản phẩm", "activity.items", A, "Số tin bài, tờ rơi, pano, áp phích", "20"},
     T_COUNT, 0},
    {{"areas-held", "Số khu dân cư tổ chức", "activity.areas_held", A,
      "Ngày hội: số khu dân cư đã tổ chức (x)", "8"},
     T_COUNT, 0},
    {{"areas-total", "Tổng số khu dân cư", "activity.areas_total", A,
      "Ngày hội: tổng số khu dân cư của xã (y)", "10"},
     T_COUNT, 0},
    {{"families", "Số gia đình", "activity.families", A,
      "Số gia đình được biểu dương, khen thưởng", "12"},
     T_COUNT, 0},
    {{"collectives", "Số tập thể", "activity.collectives", A, "Khen thưởng: số tập thể", "3"},
     T_COUNT, 0},
    {{"individuals", "Số cá nhân", "activity.individuals", A, "Khen thưởng: số cá nhân", "7"},
     T_COUNT, 0},
    {{"amount", "Số tiền (đồng)", "activity.amount", A,
      "Nhân dân đóng góp: số tiền (đồng, viết như thường viết)", "1.250.000"},
     T_MONEY, 0},
    {{"land", "Đất hiến (m²)", "activity.land_m2", A, "Nhân dân đóng góp: đất hiến (m²)", "120"},
     T_COUNT, 0},
    {{"workdays", "Ngày công", "activity.workdays", A, "Nhân dân đóng góp: số ngày công", "300"},
     T_COUNT, 0},
    {{"structures", "Công trình tháo dỡ", "activity.structures", A,
      "Nhân dân đóng góp: số công trình, vật kiến trúc tự tháo dỡ", "4"},
     T_COUNT, 0},
    {{"done", "Số đạt", "activity.status_done", A, "Số liệu đạt chuẩn: số đạt (x)", "850"},
     T_COUNT, 0},
    {{"total", "Tổng số", "activity.status_total", A, "Số liệu đạt chuẩn: tổng số (y)", "1000"},
     T_COUNT, 0},
    {{"fund", "Quỹ", "fund.fund", F, "Quỹ", "Quỹ Vì người nghèo"}, T_CODE, CATALOG_FUND},
    {{"flow", "Thu/chi", "fund.flow", F, "Thu, chi hay số dư đầu kỳ", "Thu"}, T_CODE,
     CATALOG_FLOW},
    {{"source", "Nguồn", "fund.source", F, "Nguồn thu (chỉ khi thu)", "Doanh nghiệp"}, T_CODE,
     CATALOG_SOURCE},
    {{"purpose", "Mục đích chi", "fund.purpose", F, "Mục đích chi (chỉ khi chi)",
      "Xây nhà Đại đoàn kết"},
     T_CODE, CATALOG_PURPOSE},
    {{"amount", "Số tiền (đồng)", "fund.amount", F, "Số tiền (đồng, viết như thường viết)",
      "50.000.000"},
     T_MONEY, 0},
    {{"households", "Số hộ", "fund.households", F, "Số lượt hộ được hỗ trợ", "5"}, T_COUNT, 0},
    {{"houses", "Số nhà", "fund.houses", F, "Số nhà xây mới hoặc sửa chữa", "1"}, T_COUNT, 0},
    {{"gift-packs", "Số suất quà", "fund.gift_packs", F, "Số suất quà Tết", "100"}, T_COUNT, 0},
    {{"donor", "Nhà tài trợ", "donor", F, "Tên nhà tài trợ, người ủng hộ", "Công ty ABC"},
     T_TEXT, 0},
    {{"area", "Khu dân cư", "area", A | F,
      "Số thứ tự khu dân cư trong xã (để trống: toàn xã)", "3"},
     T_COUNT, 0},
    {{"organiser", "Đơn vị tổ chức", "organiser", A | F,
      "Ủy ban MTTQ hoặc tổ chức thành viên (tên hoặc số)", "Hội Nông dân"},
     T_ORGANISER, CATALOG_ORGANISER},
    {{"title", "Tiêu đề", "title", A | F, "Tên hoạt động, tên mô hình", "Hội nghị tuyên truyền"},
     T_TEXT, 0},
    {{"note", "Ghi chú", "note", A | F | V, "Ghi chú", "Tổ chức tại nhà văn hóa thôn 3"},
     T_TEXT, 0},
    {{"corrects", "Sửa số", "corrects_seq", A | F,
      "Số của bản ghi cũ mà bản ghi này thay thế (khi sửa)", "42"},
     T_SEQ, 0},
    {{"seq", "Số cần hủy", "void.target_seq", V, "Số của bản ghi cần hủy", "42"}, T_SEQ, 0},
};

#undef A
#undef F
#undef V

#define NFIELDS (sizeof fields / sizeof fields[0])

const record_field_t *record_field_at(size_t i)
{
    return i < NFIELDS ? &fields[i].pub : NULL;
}

static const field_t *priv(const record_field_t *f)
{
    return (const field_t *)f;
}

const record_field_t *record_field_by_name(const char *name, record_kind_t kind)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if ((fields[i].pub.kinds & kind) && strcmp(fields[i].pub.name, name) == 0) {
            return &fields[i].pub;
        }
    }
    return NULL;
}

static bool folded_eq(const char *a, const char *b, size_t blen)
{
    char *fb = text_fold(b, blen);
    bool eq = fb && strcmp(a, fb) == 0;
    free(fb);
    return eq;
}

const record_field_t *record_field_by_header(const char *header, size_t len, record_kind_t kind)
{
    char *h = text_fold(header, len);
    if (!h) {
        return NULL;
    }
    const record_field_t *found = NULL;
    for (size_t i = 0; i < NFIELDS && !found; i++) {
        const record_field_t *f = &fields[i].pub;
        if (!(f->kinds & kind)) {
            continue;
        }
        if (folded_eq(h, f->header, strlen(f->header)) || folded_eq(h, f->name, strlen(f->name))) {
            found = f;
        }
    }
    /* Headers people shorten: "Số tiền" for "Số tiền (đồng)", "Đất hiến" for "Đất hiến (m²)". */
    for (size_t i = 0; i < NFIELDS && !found; i++) {
        const record_field_t *f = &fields[i].pub;
        const char *paren = strstr(f->header, " (");
        if ((f->kinds & kind) && paren && folded_eq(h, f->header, (size_t)(paren - f->header))) {
            found = f;
        }
    }
    free(h);
    return found;
}

const record_field_t *record_field_by_wire(const char *wire, record_kind_t kind)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if ((fields[i].pub.kinds & kind) && strcmp(fields[i].pub.wire, wire) == 0) {
            return &fields[i].pub;
        }
    }
    return NULL;
}

/* ---- events ------------------------------------------------------------------------------------- */

Dk__Event *record_event_new(record_kind_t kind)
{
    Dk__Event *ev = xmalloc(sizeof *ev);
    dk__event__init(ev);
    switch (kind) {
    case RECORD_ACTIVITY:
        ev->activity = xmalloc(sizeof *ev->activity);
        dk__activity__init(ev->activity);
        ev->body_case = DK__EVENT__BODY_ACTIVITY;
        break;
    case RECORD_FUND:
        ev->fund = xmalloc(sizeof *ev->fund);
        dk__fund_movement__init(ev->fund);
        ev->body_case = DK__EVENT__BODY_FUND;
        break;
    case RECORD_VOID:
        ev->void_ = xmalloc(sizeof *ev->void_);
        dk__void__init(ev->void_);
        ev->body_case = DK__EVENT__BODY_VOID;
        break;
    }
    return ev;
}

void record_event_free(Dk__Event **ev_p)
{
    if (ev_p && *ev_p) {
        protobuf_c_message_free_unpacked(&(*ev_p)->base, NULL);
        *ev_p = NULL;
    }
}

/* Finds the message and member a wire path names within ev. */
static bool locate(const Dk__Event *ev, const char *wire, ProtobufCMessage **msg,
                   const ProtobufCFieldDescriptor **fd)
{
    const char *dot = strchr(wire, '.');
    ProtobufCMessage *m = (ProtobufCMessage *)&ev->base;
    const char *member = wire;
    if (dot) {
        size_t plen = (size_t)(dot - wire);
        if (plen == 8 && strncmp(wire, "activity", 8) == 0 &&
            ev->body_case == DK__EVENT__BODY_ACTIVITY) {
            m = &ev->activity->base;
        } else if (plen == 4 && strncmp(wire, "fund", 4) == 0 &&
                   ev->body_case == DK__EVENT__BODY_FUND) {
            m = &ev->fund->base;
        } else if (plen == 4 && strncmp(wire, "void", 4) == 0 &&
                   ev->body_case == DK__EVENT__BODY_VOID) {
            m = &ev->void_->base;
        } else {
            return false;
        }
        member = dot + 1;
    }
    const ProtobufCFieldDescriptor *d =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, member);
    if (!d) {
        return false;
    }
    *msg = m;
    *fd = d;
    return true;
}

static void put_number(ProtobufCMessage *m, const ProtobufCFieldDescriptor *d, uint64_t v)
{
    char *base = (char *)m;
    switch (d->type) {
    case PROTOBUF_C_TYPE_UINT64:
        *(uint64_t *)(base + d->offset) = v;
        break;
    case PROTOBUF_C_TYPE_INT64:
        *(int64_t *)(base + d->offset) = (int64_t)v;
        break;
    case PROTOBUF_C_TYPE_ENUM:
        *(int *)(base + d->offset) = (int)v;
        break;
    default:
        *(uint32_t *)(base + d->offset) = (uint32_t)v;
        break;
    }
    if (d->label == PROTOBUF_C_LABEL_OPTIONAL && d->quantifier_offset) {
        *(protobuf_c_boolean *)(base + d->quantifier_offset) = 1;
    }
}

static bool get_number(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *d, uint64_t *v)
{
    const char *base = (const char *)m;
    if (d->quantifier_offset && !*(const protobuf_c_boolean *)(base + d->quantifier_offset)) {
        return false;
    }
    switch (d->type) {
    case PROTOBUF_C_TYPE_UINT64:
        *v = *(const uint64_t *)(base + d->offset);
        break;
    case PROTOBUF_C_TYPE_INT64:
        *v = (uint64_t) * (const int64_t *)(base + d->offset);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        *v = (uint64_t)(unsigned)*(const int *)(base + d->offset);
        break;
    default:
        *v = *(const uint32_t *)(base + d->offset);
        break;
    }
    return true;
}

static int why_set(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(why, len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n >= len) {
            text_utf8_cut(why);
        }
    }
    return DK_EINVAL;
}

/* Copies value without surrounding spaces, as NFC (people paste NFD from some editors). */
static char *clean(const char *value)
{
    size_t len = strlen(value);
    while (len && isspace((unsigned char)value[len - 1])) {
        len--;
    }
    size_t start = 0;
    while (start < len && isspace((unsigned char)value[start])) {
        start++;
    }
    char *nfc = text_nfc(value + start, len - start);
    return nfc ? nfc : xstrndup(value + start, len - start);
}

/* A value that is part of exactly one label ("vi nguoi ngheo" in "Quỹ Vì người nghèo"). */
static int unique_part(catalog_list_t list, const char *v, int *code)
{
    char *fv = text_fold(v, strlen(v));
    size_t n, hits = 0;
    const catalog_entry_t *e = catalog_entries(list, &n);
    for (size_t i = 0; fv && strlen(fv) >= 3 && i < n; i++) {
        char *fl = text_fold(e[i].label, strlen(e[i].label));
        if (fl && strstr(fl, fv)) {
            hits++;
            *code = e[i].code;
        }
        free(fl);
    }
    free(fv);
    return hits == 1 ? 0 : DK_ENOTFOUND;
}

static void list_values(char *buf, size_t len, int list)
{
    size_t n, used = 0;
    const catalog_entry_t *e = catalog_entries((catalog_list_t)list, &n);
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? "; " : "", e[i].label);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    if (used >= len && len > 4) {
        buf[len - 4] = '\0';
        text_utf8_cut(buf);
        strcat(buf, "...");
    }
}

int record_set(Dk__Event *ev, const record_field_t *pf, const char *value, char *why,
               size_t why_len)
{
    const field_t *f = priv(pf);
    ProtobufCMessage *m;
    const ProtobufCFieldDescriptor *d;
    if (why && why_len) {
        why[0] = '\0';
    }
    if (!locate(ev, pf->wire, &m, &d)) {
        return why_set(why, why_len, "%s: cột này không dùng cho loại bản ghi này", pf->header);
    }
    char *v = clean(value);
    int ret = 0;
    if (v[0] == '\0') {
        goto out;
    }
    switch (f->type) {
    case T_DATE: {
        int32_t day;
        if (period_parse_date(v, &day) != 0) {
            ret = why_set(why, why_len,
                          "%s: '%s' không phải là ngày có thật (viết 2023-11-18 hoặc 18/11/2023)",
                          pf->header, v);
            break;
        }
        put_number(m, d, period_day_to_yyyymmdd(day));
        break;
    }
    case T_COUNT:
    case T_SEQ: {
        uint64_t n;
        const char *reason = NULL;
        if (money_parse(v, &n, &reason) != 0 || strpbrk(v, "dđĐDvV")) {
            ret = why_set(why, why_len, "%s: '%s' không phải là một số nguyên không âm",
                          pf->header, v);
            break;
        }
        uint64_t cap = d->type == PROTOBUF_C_TYPE_UINT64 ? UINT64_MAX : UINT32_MAX;
        if (n > cap || (f->type == T_SEQ && n == 0)) {
            ret = why_set(why, why_len, "%s: '%s' nằm ngoài giới hạn cho phép", pf->header, v);
            break;
        }
        put_number(m, d, n);
        break;
    }
    case T_MONEY: {
        uint64_t n;
        const char *reason = NULL;
        if (money_parse(v, &n, &reason) != 0) {
            ret = why_set(why, why_len, "%s: '%s' không đọc được thành số đồng (%s)", pf->header,
                          v, reason ? reason : "viết như 1.250.000");
            break;
        }
        put_number(m, d, n);
        break;
    }
    case T_CODE:
    case T_ORGANISER: {
        int code;
        if (catalog_lookup((catalog_list_t)f->list, v, &code) != 0 &&
            unique_part((catalog_list_t)f->list, v, &code) != 0) {
            char *end;
            unsigned long num = strtoul(v, &end, 10);
            if (f->type == T_ORGANISER && *end == '\0' && isdigit((unsigned char)v[0]) &&
                num <= 1000) {
                code = (int)num;
            } else {
                char vals[400];
                list_values(vals, sizeof vals, f->list);
                ret = why_set(why, why_len, "%s: không hiểu '%s' (dùng một trong: %s)",
                              pf->header, v, vals);
                break;
            }
        }
        put_number(m, d, (uint64_t)code);
        break;
    }
    case T_CONTENTS: {
        uint32_t mask = 0;
        char *save = NULL;
        for (char *tok = strtok_r(v, ",;+|", &save); tok; tok = strtok_r(NULL, ",;+|", &save)) {
            char *t = clean(tok);
            int code;
            if (t[0] != '\0') {
                if (catalog_lookup(CATALOG_CONTENT, t, &code) != 0 || code < 1 || code > 5) {
                    ret = why_set(why, why_len,
                                  "%s: không hiểu nội dung '%s' (dùng số 1 đến 5, ví dụ 1,3)",
                                  pf->header, t);
                    free(t);
                    break;
                }
                mask |= 1u << (code - 1);
            }
            free(t);
        }
        if (ret == 0 && mask) {
            put_number(m, d, mask);
        }
        break;
    }
    case T_TEXT: {
        char **slot = (char **)((char *)m + d->offset);
        free(*slot);
        *slot = v;
        v = NULL;
        break;
    }
    }
out:
    free(v);
    return ret;
}

/* ---- display ------------------------------------------------------------------------------------ */

const char *record_value_label(const char *name, int value)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if ((fields[i].type == T_CODE || fields[i].type == T_ORGANISER) &&
            strcmp(fields[i].pub.name, name) == 0) {
            return catalog_label((catalog_list_t)fields[i].list, value);
        }
    }
    return NULL;
}

void record_describe(FILE *out, const Dk__Event *ev)
{
    unsigned kind = ev->body_case == DK__EVENT__BODY_ACTIVITY ? RECORD_ACTIVITY
                    : ev->body_case == DK__EVENT__BODY_FUND   ? RECORD_FUND
                                                              : RECORD_VOID;
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &fields[i];
        ProtobufCMessage *m;
        const ProtobufCFieldDescriptor *d;
        if (!(f->pub.kinds & kind) || !locate(ev, f->pub.wire, &m, &d)) {
            continue;
        }
        if (f->type == T_TEXT) {
            const char *s = *(char *const *)((const char *)m + d->offset);
            if (s && s[0]) {
                fprintf(out, "  %s: %s\n", f->pub.header, s);
            }
            continue;
        }
        uint64_t n;
        if (!get_number(m, d, &n)) {
            continue;
        }
        char buf[64];
        switch (f->type) {
        case T_DATE: {
            int32_t day;
            if (period_yyyymmdd_to_day((uint32_t)n, &day) == 0 &&
                period_format_day(day, buf, sizeof buf) > 0) {
                fprintf(out, "  %s: %s\n", f->pub.header, buf);
            }
            break;
        }
        case T_MONEY:
            money_format(n, buf, sizeof buf);
            fprintf(out, "  %s: %s\n", f->pub.header, buf);
            break;
        case T_CODE:
        case T_ORGANISER: {
            const char *l = catalog_label((catalog_list_t)f->list, (int)n);
            if (l) {
                fprintf(out, "  %s: %s\n", f->pub.header, l);
            } else {
                fprintf(out, "  %s: %llu\n", f->pub.header, (unsigned long long)n);
            }
            break;
        }
        case T_CONTENTS:
            fprintf(out, "  %s:", f->pub.header);
            for (int b = 0; b < 5; b++) {
                if (n & (1u << b)) {
                    const char *l = catalog_label(CATALOG_CONTENT, b + 1);
                    fprintf(out, " (%d) %s", b + 1, l ? l : "");
                }
            }
            fputc('\n', out);
            break;
        default:
            fprintf(out, "  %s: %llu\n", f->pub.header, (unsigned long long)n);
            break;
        }
    }
}

void record_print_help(FILE *out, record_kind_t kind)
{
    const char *what = kind == RECORD_ACTIVITY ? "activity"
                       : kind == RECORD_FUND   ? "fund"
                                               : "void";
    fprintf(out, "Cách dùng: dk-agent [-c agent.ini] record %s --TRƯỜNG GIÁ-TRỊ ...\n\n", what);
    if (kind == RECORD_ACTIVITY) {
        fprintf(out, "Ghi một hoạt động của cuộc vận động. Bắt buộc: --date, --kind.\n");
    } else if (kind == RECORD_FUND) {
        fprintf(out, "Ghi một khoản thu/chi của quỹ. Bắt buộc: --date, --fund, --flow, --amount.\n");
    } else {
        fprintf(out, "Hủy một bản ghi đã lưu (theo số của nó). Bắt buộc: --seq.\n");
    }
    fprintf(out, "Ngày viết 2023-11-18 hoặc 18/11/2023; số tiền viết như 1.250.000; danh mục "
                 "viết bằng tên tiếng Việt (có hoặc không dấu), mã hoặc số.\n\nCác trường:\n");
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &fields[i];
        if (!(f->pub.kinds & kind)) {
            continue;
        }
        fprintf(out, "  --%-14s %s — %s\n", f->pub.name, f->pub.header, f->pub.help);
        if (f->type == T_CODE || f->type == T_ORGANISER || f->type == T_CONTENTS) {
            size_t n;
            const catalog_entry_t *e = catalog_entries((catalog_list_t)f->list, &n);
            fprintf(out, "  %16s giá trị:", "");
            for (size_t j = 0; j < n; j++) {
                fprintf(out, "%s %d=%s", j ? ";" : "", e[j].code, e[j].label);
            }
            fputc('\n', out);
        }
        fprintf(out, "  %16s ví dụ: --%s \"%s\"\n", "", f->pub.name, f->pub.example);
    }
    if (kind != RECORD_VOID) {
        fprintf(out, "\nSửa một bản ghi đã lưu: ghi lại đầy đủ với --corrects SỐ-CŨ.\n");
    }
}
