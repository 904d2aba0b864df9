/* wire — bounded envelope codec and the shared event rule book (see wire.h). */
#include "wire.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "err.h"
#include "money.h"
#include "period.h"
#include "text.h"
#include "xmalloc.h"

/* ---- bounded allocator -------------------------------------------------------------------------
 * protobuf-c allocates in proportion to what the bytes claim (PITFALLS §4.3–4.4). Every block it
 * asks for while unpacking goes through a counter with a hard budget; past the budget the
 * allocation fails, unpack returns NULL and frees what it built. Each block carries its size in a
 * small header so the free side can uncount it, and so wire_free can release a decoded message
 * later with a plain (uncounted) allocator. */

#define HDR 16 /* keeps the payload 16-byte aligned like malloc's */

typedef struct {
    size_t live;
    size_t budget;
    bool over;
} budget_t;

static void *budget_alloc(void *data, size_t size)
{
    budget_t *b = data;
    if (b && (size > b->budget || size + HDR > b->budget - b->live)) {
        b->over = true;
        return NULL;
    }
    unsigned char *p = xmalloc(size + HDR);
    memcpy(p, &size, sizeof(size));
    if (b) {
        b->live += size + HDR;
    }
    return p + HDR;
}

static void budget_free(void *data, void *ptr)
{
    if (!ptr) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    budget_t *b = data;
    if (b) {
        size_t size;
        memcpy(&size, p, sizeof(size));
        b->live -= size + HDR;
    }
    free(p);
}

/* Frees what a budgeted decode made, long after the budget is gone. */
static ProtobufCAllocator release_allocator = {budget_alloc, budget_free, NULL};

static ProtobufCMessage *bounded_unpack(const ProtobufCMessageDescriptor *desc, const void *buf,
                                        size_t len, int *rc)
{
    if (len > WIRE_MAX_FRAME) {
        *rc = DK_ETOOBIG;
        return NULL;
    }
    budget_t b = {0, WIRE_DECODE_BUDGET, false};
    ProtobufCAllocator a = {budget_alloc, budget_free, &b};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, buf ? buf : (const void *)"");
    if (!m) {
        *rc = b.over ? DK_ETOOBIG : DK_EDECODE;
        return NULL;
    }
    *rc = 0;
    return m;
}

/* ---- raw-bytes walk: embedded NULs in texts -----------------------------------------------------
 * protobuf-c copies a string's bytes and appends a NUL, so a text holding "\0" reads cut short
 * and the rest would be stored unseen. The walk finds the last occurrence of each text field of
 * an event in the raw bytes (the one protobuf-c kept) and, where it holds NUL bytes, turns them
 * into U+0001 in the decoded copy (which still holds every byte), so validation refuses it. */

typedef struct {
    const uint8_t *p, *end;
} reader_t;

static bool read_varint(reader_t *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            return true;
        }
    }
    return false;
}

/* Next field; for length-delimited fields data and dlen are its bytes. False at the end or on
 * anything it cannot walk (protobuf-c accepted the bytes, so that does not happen in practice). */
static bool read_field(reader_t *r, uint32_t *num, const uint8_t **data, size_t *dlen, int *wt)
{
    uint64_t key, v;
    if (r->p >= r->end || !read_varint(r, &key)) {
        return false;
    }
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    *data = NULL;
    *dlen = 0;
    switch (*wt) {
    case 0:
        return read_varint(r, &v);
    case 1:
        if (r->end - r->p < 8) {
            return false;
        }
        r->p += 8;
        return true;
    case 5:
        if (r->end - r->p < 4) {
            return false;
        }
        r->p += 4;
        return true;
    case 2:
        if (!read_varint(r, &v) || v > (uint64_t)(r->end - r->p)) {
            return false;
        }
        *data = r->p;
        *dlen = (size_t)v;
        r->p += v;
        return true;
    default:
        return false;
    }
}

static void mark_nuls(char *decoded, const uint8_t *raw, size_t len)
{
    const uint8_t *nul = memchr(raw, 0, len);
    if (!decoded || !nul) {
        return;
    }
    size_t first = (size_t)(nul - raw);
    /* The decoded copy must be this occurrence: same bytes up to the first NUL, cut there. */
    if (strlen(decoded) != first || memcmp(decoded, raw, first) != 0) {
        return;
    }
    for (size_t i = first; i < len; i++) {
        if (raw[i] == 0) {
            decoded[i] = '\x01';
        }
    }
}

static void scrub_event(Dk__Event *ev, const uint8_t *buf, size_t len)
{
    reader_t r = {buf, buf + len};
    const uint8_t *last[3] = {NULL, NULL, NULL};
    size_t last_len[3] = {0, 0, 0};
    uint32_t num;
    const uint8_t *data;
    size_t dlen;
    int wt;
    while (read_field(&r, &num, &data, &dlen, &wt)) {
        if (wt == 2 && num >= 9 && num <= 11) {
            last[num - 9] = data;
            last_len[num - 9] = dlen;
        }
    }
    char *texts[3] = {ev->title, ev->note, ev->donor};
    for (int i = 0; i < 3; i++) {
        if (last[i]) {
            mark_nuls(texts[i], last[i], last_len[i]);
        }
    }
}

/* Walks an envelope: refuses more than one oneof member (protobuf-c would keep the last and a
 * walk could not tell which events are which), and scrubs every event of a Batch. */
static int scrub_envelope(Dk__Envelope *env, const uint8_t *buf, size_t len)
{
    reader_t r = {buf, buf + len};
    uint32_t num;
    const uint8_t *data, *batch = NULL;
    size_t dlen, batch_len = 0;
    int wt, members = 0;
    while (read_field(&r, &num, &data, &dlen, &wt)) {
        if (num >= 10 && num <= 19) {
            members++;
            if (num == 12 && wt == 2) {
                batch = data;
                batch_len = dlen;
            }
        }
    }
    if (members != 1) {
        return DK_EDECODE;
    }
    if (env->msg_case != DK__ENVELOPE__MSG_BATCH || !batch) {
        return 0;
    }
    reader_t b = {batch, batch + batch_len};
    size_t i = 0;
    while (read_field(&b, &num, &data, &dlen, &wt)) {
        if (num == 2 && wt == 2) {
            if (i >= env->batch->n_events) {
                return DK_EDECODE;
            }
            scrub_event(env->batch->events[i++], data, dlen);
        }
    }
    return i == env->batch->n_events ? 0 : DK_EDECODE;
}

/* protobuf-c keeps unknown fields (so old readers pass newer fields along), but it also accepts
 * field number 0 written as a multi-byte varint, which it then re-packs as a one-byte key that it
 * refuses to read. Such a message would not survive its own stored form, so it is refused here.
 * The schema is shallow (an Envelope is at most four messages deep), so recursion is bounded. */
static bool unknowns_ok(const ProtobufCMessage *m, int depth)
{
    if (!m || depth > 8) {
        return m == NULL;
    }
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        if (m->unknown_fields[i].tag == 0) {
            return false;
        }
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        const char *base = (const char *)m;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy(&which, base + fd->quantifier_offset, sizeof(which));
            if (which != fd->id) {
                continue;
            }
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage **items;
            memcpy(&n, base + fd->quantifier_offset, sizeof(n));
            memcpy(&items, base + fd->offset, sizeof(items));
            for (size_t k = 0; k < n; k++) {
                if (!unknowns_ok(items[k], depth + 1)) {
                    return false;
                }
            }
        } else {
            ProtobufCMessage *sub;
            memcpy(&sub, base + fd->offset, sizeof(sub));
            if (sub && !unknowns_ok(sub, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

/* ---- codec ---------------------------------------------------------------------------------- */

int wire_decode(const void *buf, size_t len, Dk__Envelope **out)
{
    *out = NULL;
    int rc;
    Dk__Envelope *env =
        (Dk__Envelope *)bounded_unpack(&dk__envelope__descriptor, buf, len, &rc);
    if (!env) {
        return rc;
    }
    if (env->msg_case == DK__ENVELOPE__MSG__NOT_SET) {
        rc = DK_EDECODE;
    } else if (env->has_schema_version && env->schema_version > WIRE_SCHEMA_VERSION) {
        rc = DK_EV_SCHEMA;
    } else if (!unknowns_ok(&env->base, 0)) {
        rc = DK_EDECODE;
    } else {
        rc = scrub_envelope(env, buf, len);
    }
    if (rc < 0) {
        wire_free(&env);
        return rc;
    }
    *out = env;
    return 0;
}

void wire_free(Dk__Envelope **env_p)
{
    if (env_p && *env_p) {
        dk__envelope__free_unpacked(*env_p, &release_allocator);
        *env_p = NULL;
    }
}

static int pack_message(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > WIRE_MAX_FRAME) {
        return DK_ETOOBIG;
    }
    uint8_t *b = xmalloc(n ? n : 1);
    size_t w = protobuf_c_message_pack(m, b);
    if (w != n) {
        free(b);
        return DK_EINVAL;
    }
    *buf = b;
    *len = n;
    return 0;
}

int wire_encode(const Dk__Envelope *env, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!env || env->msg_case == DK__ENVELOPE__MSG__NOT_SET) {
        return DK_EINVAL;
    }
    Dk__Envelope copy = *env;
    copy.has_schema_version = 1;
    copy.schema_version = WIRE_SCHEMA_VERSION;
    return pack_message(&copy.base, buf, len);
}

int wire_event_encode(const Dk__Event *ev, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!ev) {
        return DK_EINVAL;
    }
    Dk__Event copy = *ev;
    if (!copy.has_schema_version) {
        copy.has_schema_version = 1;
        copy.schema_version = WIRE_SCHEMA_VERSION;
    }
    return pack_message(&copy.base, buf, len);
}

int wire_event_decode(const void *buf, size_t len, Dk__Event **out)
{
    *out = NULL;
    int rc;
    Dk__Event *ev = (Dk__Event *)bounded_unpack(&dk__event__descriptor, buf, len, &rc);
    if (!ev) {
        return rc;
    }
    if (!unknowns_ok(&ev->base, 0)) {
        wire_event_free(&ev);
        return DK_EDECODE;
    }
    scrub_event(ev, buf, len);
    *out = ev;
    return 0;
}

void wire_event_free(Dk__Event **ev_p)
{
    if (ev_p && *ev_p) {
        dk__event__free_unpacked(*ev_p, &release_allocator);
        *ev_p = NULL;
    }
}

/* ---- faults --------------------------------------------------------------------------------- */

static const struct {
    const char *path;
    const char *label;
} field_labels[] = {
    {"schema_version", "Phiên bản dữ liệu"},
    {"commune", "Mã xã"},
    {"seq", "Số thứ tự bản ghi"},
    {"origin_key", "Khóa dòng nhập"},
    {"recorded_at", "Thời điểm ghi"},
    {"date", "Ngày diễn ra"},
    {"area", "Khu dân cư"},
    {"organiser", "Đơn vị tổ chức"},
    {"title", "Tên, nội dung"},
    {"note", "Ghi chú"},
    {"donor", "Đơn vị, cá nhân đóng góp"},
    {"corrects_seq", "Bản ghi được sửa"},
    {"body", "Loại bản ghi"},
    {"activity.kind", "Loại hoạt động"},
    {"activity.contents", "Nội dung cuộc vận động"},
    {"activity.channel", "Hình thức tuyên truyền"},
    {"activity.festival", "Ngày hội"},
    {"activity.model_stage", "Mô hình xây mới hay duy trì"},
    {"activity.review", "Loại sơ kết, tổng kết"},
    {"activity.status", "Loại số liệu đạt chuẩn"},
    {"activity.sessions", "Số buổi"},
    {"activity.participants", "Số lượt người tham gia"},
    {"activity.items", "Số tin bài, tài liệu, pano"},
    {"activity.areas_held", "Số khu dân cư tổ chức"},
    {"activity.areas_total", "Tổng số khu dân cư"},
    {"activity.families", "Số hộ gia đình"},
    {"activity.collectives", "Số tập thể được khen thưởng"},
    {"activity.individuals", "Số cá nhân được khen thưởng"},
    {"activity.amount", "Số tiền đóng góp"},
    {"activity.land_m2", "Diện tích đất hiến"},
    {"activity.workdays", "Số ngày công"},
    {"activity.structures", "Số công trình tự nguyện tháo dỡ"},
    {"activity.status_done", "Số đạt chuẩn"},
    {"activity.status_total", "Tổng số được xét"},
    {"fund.fund", "Quỹ"},
    {"fund.flow", "Thu hay chi"},
    {"fund.source", "Nguồn thu"},
    {"fund.purpose", "Mục đích chi"},
    {"fund.amount", "Số tiền"},
    {"fund.households", "Số lượt hộ được hỗ trợ"},
    {"fund.houses", "Số nhà"},
    {"fund.gift_packs", "Số suất quà"},
    {"void.target_seq", "Bản ghi bị hủy"},
};

const char *wire_field_label_vi(const char *field)
{
    if (!field) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(field_labels) / sizeof(field_labels[0]); i++) {
        if (strcmp(field_labels[i].path, field) == 0) {
            return field_labels[i].label;
        }
    }
    return NULL;
}

const char *wire_code_reason_vi(int code)
{
    switch (code) {
    case 0: return "Hợp lệ.";
    case DK_EV_SCHEMA: return "Phiên bản dữ liệu mới hơn phiên bản máy chủ hỗ trợ.";
    case DK_EV_MISSING: return "Thiếu thông tin bắt buộc.";
    case DK_EV_RANGE: return "Con số nằm ngoài phạm vi cho phép.";
    case DK_EV_ENUM: return "Giá trị không có trong danh mục.";
    case DK_EV_DATE: return "Ngày không hợp lệ hoặc nằm ngoài khoảng cho phép.";
    case DK_EV_TEXT: return "Văn bản quá dài, sai mã UTF-8 hoặc có ký tự điều khiển.";
    case DK_EV_MONEY: return "Số tiền không hợp lệ.";
    case DK_EV_KIND: return "Có thông tin không thuộc loại bản ghi này.";
    case DK_EV_COMMUNE: return "Bản ghi thuộc xã khác, không được gửi từ máy này.";
    case DK_EV_TARGET: return "Bản ghi cần sửa hoặc hủy không tồn tại hoặc đã bị hủy.";
    case DK_EV_CONFLICT: return "Số thứ tự bản ghi đã được dùng cho một nội dung khác.";
    case DK_EV_AREA: return "Số khu dân cư vượt quá số khu dân cư của xã.";
    case DK_EV_ORGANISER: return "Đơn vị tổ chức không có trong danh sách.";
    case DK_EV_LEDGER: return "Sai quy tắc sổ quỹ (nguồn thu, mục đích chi).";
    default: return "Bản ghi không hợp lệ.";
    }
}

/* Cuts s back to a whole UTF-8 character when vsnprintf truncated it mid-character. */
static void trim_utf8(char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n + 1 < cap) {
        return;
    }
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
        i--;
    }
    if (i > 0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (n - (i - 1) < need) {
            s[i - 1] = '\0';
        }
    }
}

static int fault_vset(wire_fault_t *f, int code, const char *field, const char *fmt, va_list ap)
{
    if (!f) {
        return code;
    }
    f->code = code;
    snprintf(f->field, sizeof(f->field), "%s", field ? field : "");
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
    trim_utf8(f->reason, sizeof(f->reason));
    return code;
}

int wire_fault_set(wire_fault_t *fault, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fault_vset(fault, code, field, fmt, ap);
    va_end(ap);
    return code;
}

/* A refusal whose sentence starts with the field's name: "Số tiền (fund.amount) phải …". */
static int bad(wire_fault_t *f, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(wire_fault_t *f, int code, const char *field, const char *fmt, ...)
{
    char tail[280];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    trim_utf8(tail, sizeof(tail));
    const char *label = wire_field_label_vi(field);
    return wire_fault_set(f, code, field, "%s (%s) %s", label ? label : field, field, tail);
}

/* ---- validation ----------------------------------------------------------------------------- */

void wire_rules_init(wire_rules_t *rules)
{
    rules->commune = 0;
    rules->max_area = 0;
    rules->max_organiser = WIRE_MAX_ORGANISER_DEFAULT;
    rules->today = period_today();
}

#define KB(k) (1u << DK__ACTIVITY_KIND__##k)
#define ALL_KINDS 0xffffu

/* One numeric (or enum) field of Activity: where it lives, which kinds may carry it, its cap. */
typedef struct {
    const char *path;
    size_t has_off, val_off;
    int width;           /* 4: uint32/enum, 8: uint64 */
    unsigned kinds;      /* bit k: allowed for kind k */
    uint64_t max;        /* numbers: largest allowed; enums: 0 */
    int cap_code;        /* code when over max */
    catalog_list_t list; /* enums: the list the value must be in */
} afield_t;

#define AF(name, w, kinds, max, code, list)                                                        \
    {"activity." #name, offsetof(Dk__Activity, has_##name), offsetof(Dk__Activity, name), (w),    \
     (kinds), (max), (code), (list)}
#define AN(name, w, kinds, max) AF(name, w, kinds, max, DK_EV_RANGE, CATALOG_LISTS)
#define AE(name, kinds, list) AF(name, 4, kinds, 0, DK_EV_ENUM, list)

static const afield_t afields[] = {
    AE(channel, KB(PROPAGANDA), CATALOG_CHANNEL),
    AE(festival, KB(FESTIVAL), CATALOG_FESTIVAL),
    AE(model_stage, KB(MODEL), CATALOG_MODEL_STAGE),
    AE(review, KB(REVIEW), CATALOG_REVIEW),
    AE(status, KB(STATUS), CATALOG_STATUS),
    AN(sessions, 4,
       KB(PROPAGANDA) | KB(TRAINING) | KB(STUDY_TOUR) | KB(INSPECTION) | KB(REVIEW) | KB(MEETING),
       WIRE_MAX_SESSIONS),
    AN(participants, 4, ALL_KINDS & ~KB(STATUS), WIRE_MAX_COUNT),
    AN(items, 4, KB(PROPAGANDA), WIRE_MAX_COUNT),
    AN(areas_held, 4, KB(FESTIVAL), WIRE_MAX_AREAS),
    AN(areas_total, 4, KB(FESTIVAL), WIRE_MAX_AREAS),
    AN(families, 4, KB(FESTIVAL) | KB(COMMENDATION) | KB(MODEL) | KB(CONTRIBUTION),
       WIRE_MAX_COUNT),
    AN(collectives, 4, KB(COMMENDATION) | KB(FESTIVAL) | KB(REVIEW), WIRE_MAX_AWARDS),
    AN(individuals, 4, KB(COMMENDATION) | KB(FESTIVAL) | KB(REVIEW), WIRE_MAX_AWARDS),
    AF(amount, 8, KB(CONTRIBUTION), MONEY_MAX, DK_EV_MONEY, CATALOG_LISTS),
    AN(land_m2, 8, KB(CONTRIBUTION), WIRE_MAX_LAND_M2),
    AN(workdays, 4, KB(CONTRIBUTION), WIRE_MAX_WORKDAYS),
    AN(structures, 4, KB(CONTRIBUTION), WIRE_MAX_COUNT),
    AN(status_done, 4, KB(STATUS), WIRE_MAX_COUNT),
    AN(status_total, 4, KB(STATUS), WIRE_MAX_COUNT),
};

static bool af_has(const Dk__Activity *a, const afield_t *f)
{
    return *(const protobuf_c_boolean *)((const char *)a + f->has_off) != 0;
}

static uint64_t af_val(const Dk__Activity *a, const afield_t *f)
{
    const char *p = (const char *)a + f->val_off;
    if (f->width == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Present and not zero: zero counts as absent (CSV files fill empty columns with 0). */
#define SET(s, name) ((s)->has_##name && (s)->name != 0)
#define VAL(s, name) ((s)->has_##name ? (uint64_t)(s)->name : 0)

static const char *kind_label(uint32_t kind)
{
    const char *l = catalog_label(CATALOG_KIND, (int)kind);
    return l ? l : "?";
}

static int check_activity(const Dk__Activity *a, const Dk__Event *ev, wire_fault_t *f)
{
    if (!SET(a, kind)) {
        return bad(f, DK_EV_MISSING, "activity.kind", "chưa được chọn.");
    }
    uint32_t kind = (uint32_t)a->kind;
    if (!catalog_find(CATALOG_KIND, (int)kind)) {
        return bad(f, DK_EV_ENUM, "activity.kind", "có mã %u không có trong danh mục.", kind);
    }
    if (a->has_contents && (a->contents < 1 || a->contents > 31)) {
        return bad(f, DK_EV_RANGE, "activity.contents",
                   "phải chọn trong 5 nội dung (mặt nạ từ 1 đến 31), không phải %u.",
                   a->contents);
    }
    for (size_t i = 0; i < sizeof(afields) / sizeof(afields[0]); i++) {
        const afield_t *d = &afields[i];
        if (!af_has(a, d)) {
            continue;
        }
        uint64_t v = af_val(a, d);
        if (v == 0) {
            continue;
        }
        if (!(d->kinds & (1u << kind))) {
            return bad(f, DK_EV_KIND, d->path, "không dùng cho hoạt động loại “%s”.",
                       kind_label(kind));
        }
        if (d->list != CATALOG_LISTS) {
            if (v > 0xffff || !catalog_find(d->list, (int)v)) {
                return bad(f, DK_EV_ENUM, d->path, "có mã %llu không có trong danh mục.",
                           (unsigned long long)v);
            }
        } else if (v > d->max) {
            if (d->cap_code == DK_EV_MONEY) {
                return bad(f, DK_EV_MONEY, d->path,
                           "phải dưới 1.000.000.000.000.000 đ.");
            }
            return bad(f, d->cap_code, d->path, "quá lớn: %llu (tối đa %llu).",
                       (unsigned long long)v, (unsigned long long)d->max);
        }
    }
    switch (kind) {
    case DK__ACTIVITY_KIND__PROPAGANDA:
        if (!SET(a, channel)) {
            return bad(f, DK_EV_MISSING, "activity.channel", "là bắt buộc với hoạt động tuyên truyền.");
        }
        if (!SET(a, sessions) && !SET(a, items)) {
            return bad(f, DK_EV_MISSING, "activity.sessions",
                       "hoặc số tin bài, tài liệu phải lớn hơn 0 với hoạt động tuyên truyền.");
        }
        break;
    case DK__ACTIVITY_KIND__TRAINING:
    case DK__ACTIVITY_KIND__STUDY_TOUR:
    case DK__ACTIVITY_KIND__INSPECTION:
    case DK__ACTIVITY_KIND__REVIEW:
    case DK__ACTIVITY_KIND__MEETING:
        if (!SET(a, sessions)) {
            return bad(f, DK_EV_MISSING, "activity.sessions",
                       "phải lớn hơn 0 với hoạt động “%s”.", kind_label(kind));
        }
        break;
    case DK__ACTIVITY_KIND__MODEL: {
        if (!SET(a, model_stage)) {
            return bad(f, DK_EV_MISSING, "activity.model_stage", "là bắt buộc với mô hình.");
        }
        const char *t = ev->title ? ev->title : "";
        while (*t == ' ') {
            t++;
        }
        if (!*t) {
            return bad(f, DK_EV_MISSING, "title", "của mô hình là bắt buộc.");
        }
        break;
    }
    case DK__ACTIVITY_KIND__FESTIVAL:
        if (!SET(a, festival)) {
            return bad(f, DK_EV_MISSING, "activity.festival", "là bắt buộc: chọn ngày hội nào.");
        }
        if (!SET(a, areas_total)) {
            return bad(f, DK_EV_MISSING, "activity.areas_total",
                       "phải từ 1 trở lên với ngày hội.");
        }
        if (VAL(a, areas_held) > a->areas_total) {
            return bad(f, DK_EV_RANGE, "activity.areas_held",
                       "(%u) không được lớn hơn tổng số khu dân cư (%u).", a->areas_held,
                       a->areas_total);
        }
        break;
    case DK__ACTIVITY_KIND__COMMENDATION:
        if (!SET(a, collectives) && !SET(a, individuals)) {
            return bad(f, DK_EV_MISSING, "activity.collectives",
                       "hoặc số cá nhân được khen thưởng phải lớn hơn 0.");
        }
        break;
    case DK__ACTIVITY_KIND__CONTRIBUTION:
        if (!SET(a, amount) && !SET(a, land_m2) && !SET(a, workdays) && !SET(a, structures)) {
            return bad(f, DK_EV_MISSING, "activity.amount",
                       "hoặc diện tích đất, ngày công, số công trình tháo dỡ: cần ít nhất một "
                       "con số lớn hơn 0.");
        }
        break;
    case DK__ACTIVITY_KIND__STATUS:
        if (!SET(a, status)) {
            return bad(f, DK_EV_MISSING, "activity.status", "là bắt buộc với số liệu đạt chuẩn.");
        }
        if (!SET(a, status_total)) {
            return bad(f, DK_EV_MISSING, "activity.status_total", "phải từ 1 trở lên.");
        }
        if (VAL(a, status_done) > a->status_total) {
            return bad(f, DK_EV_RANGE, "activity.status_done",
                       "(%u) không được lớn hơn tổng số được xét (%u).", a->status_done,
                       a->status_total);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int check_fund(const Dk__FundMovement *m, wire_fault_t *f)
{
    if (!SET(m, fund)) {
        return bad(f, DK_EV_MISSING, "fund.fund", "chưa được chọn.");
    }
    if (!catalog_find(CATALOG_FUND, (int)m->fund)) {
        return bad(f, DK_EV_ENUM, "fund.fund", "có mã %d không có trong danh mục.", (int)m->fund);
    }
    if (!SET(m, flow)) {
        return bad(f, DK_EV_MISSING, "fund.flow", "chưa được chọn (thu, chi hay số dư đầu kỳ).");
    }
    if (!catalog_find(CATALOG_FLOW, (int)m->flow)) {
        return bad(f, DK_EV_ENUM, "fund.flow", "có mã %d không có trong danh mục.", (int)m->flow);
    }
    if (SET(m, source) && !catalog_find(CATALOG_SOURCE, (int)m->source)) {
        return bad(f, DK_EV_ENUM, "fund.source", "có mã %d không có trong danh mục.",
                   (int)m->source);
    }
    if (SET(m, purpose) && !catalog_find(CATALOG_PURPOSE, (int)m->purpose)) {
        return bad(f, DK_EV_ENUM, "fund.purpose", "có mã %d không có trong danh mục.",
                   (int)m->purpose);
    }
    if (!m->has_amount) {
        return bad(f, DK_EV_MISSING, "fund.amount", "là bắt buộc.");
    }
    if (m->amount < 1 || m->amount > MONEY_MAX) {
        return bad(f, DK_EV_MONEY, "fund.amount",
                   "phải lớn hơn 0 đ và dưới 1.000.000.000.000.000 đ.");
    }
    bool poor = m->fund == DK__FUND__FOR_THE_POOR;
    switch (m->flow) {
    case DK__FLOW__RECEIPT:
        if (SET(m, purpose)) {
            return bad(f, DK_EV_LEDGER, "fund.purpose", "chỉ dùng cho khoản chi, không cho khoản thu.");
        }
        if (!SET(m, source)) {
            return bad(f, DK_EV_MISSING, "fund.source", "là bắt buộc với khoản thu.");
        }
        break;
    case DK__FLOW__SPENDING: {
        if (SET(m, source)) {
            return bad(f, DK_EV_LEDGER, "fund.source", "chỉ dùng cho khoản thu, không cho khoản chi.");
        }
        if (!SET(m, purpose)) {
            return bad(f, DK_EV_MISSING, "fund.purpose", "là bắt buộc với khoản chi.");
        }
        bool poor_purpose = m->purpose >= 1 && m->purpose <= 19;
        if (poor != poor_purpose) {
            return bad(f, DK_EV_LEDGER, "fund.purpose", "“%s” không thuộc %s.",
                       catalog_label(CATALOG_PURPOSE, (int)m->purpose),
                       poor ? "Quỹ Vì người nghèo" : "kinh phí cuộc vận động");
        }
        break;
    }
    default: /* opening balance */
        if (SET(m, source)) {
            return bad(f, DK_EV_LEDGER, "fund.source", "không dùng cho số dư đầu kỳ.");
        }
        if (SET(m, purpose)) {
            return bad(f, DK_EV_LEDGER, "fund.purpose", "không dùng cho số dư đầu kỳ.");
        }
        break;
    }
    /* Beneficiary counts describe spending from the poor fund only. */
    bool counts_ok = m->flow == DK__FLOW__SPENDING && poor;
    static const struct {
        const char *path;
        size_t has_off, val_off;
        uint32_t max;
    } counts[] = {
        {"fund.households", offsetof(Dk__FundMovement, has_households),
         offsetof(Dk__FundMovement, households), WIRE_MAX_COUNT},
        {"fund.houses", offsetof(Dk__FundMovement, has_houses),
         offsetof(Dk__FundMovement, houses), WIRE_MAX_AWARDS},
        {"fund.gift_packs", offsetof(Dk__FundMovement, has_gift_packs),
         offsetof(Dk__FundMovement, gift_packs), WIRE_MAX_COUNT},
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        protobuf_c_boolean has;
        uint32_t v;
        memcpy(&has, (const char *)m + counts[i].has_off, sizeof(has));
        memcpy(&v, (const char *)m + counts[i].val_off, sizeof(v));
        if (!has || v == 0) {
            continue;
        }
        if (!counts_ok) {
            return bad(f, DK_EV_KIND, counts[i].path,
                       "chỉ dùng cho khoản chi của Quỹ Vì người nghèo.");
        }
        if (v > counts[i].max) {
            return bad(f, DK_EV_RANGE, counts[i].path, "quá lớn: %u (tối đa %u).", v,
                       counts[i].max);
        }
    }
    return 0;
}

static int check_text(const char *s, const char *field, size_t max_chars, bool newlines,
                      wire_fault_t *f)
{
    if (!s) {
        return 0;
    }
    size_t len = strlen(s);
    if (!text_utf8_valid(s, len)) {
        return bad(f, DK_EV_TEXT, field, "không phải văn bản UTF-8 hợp lệ (lỗi bảng mã).");
    }
    if (text_has_control(s, len, newlines)) {
        return bad(f, DK_EV_TEXT, field, "có ký tự điều khiển hoặc ký tự rỗng (NUL)%s.",
                   newlines ? "" : "; không được xuống dòng");
    }
    size_t chars = text_utf8_chars(s, len);
    if (chars > max_chars) {
        return bad(f, DK_EV_TEXT, field, "dài %zu ký tự, tối đa %zu ký tự.", chars, max_chars);
    }
    return 0;
}

int wire_check_event(const Dk__Event *ev, const wire_rules_t *rules_in, wire_fault_t *fault)
{
    wire_fault_t scratch;
    wire_fault_t *f = fault ? fault : &scratch;
    memset(f, 0, sizeof(*f));
    if (!ev) {
        return bad(f, DK_EV_MISSING, "body", "không có bản ghi.");
    }
    wire_rules_t rules;
    if (rules_in) {
        rules = *rules_in;
    } else {
        wire_rules_init(&rules);
    }
    if (rules.today <= 0) {
        rules.today = period_today();
    }
    if (rules.max_organiser == 0) {
        rules.max_organiser = WIRE_MAX_ORGANISER_DEFAULT;
    }

    uint32_t schema = ev->has_schema_version ? ev->schema_version : 1;
    if (schema < 1 || schema > WIRE_SCHEMA_VERSION) {
        return bad(f, DK_EV_SCHEMA, "schema_version",
                   "là %u, máy chủ chỉ hiểu đến phiên bản %d: hãy cập nhật phần mềm.", schema,
                   WIRE_SCHEMA_VERSION);
    }
    if (!ev->has_commune) {
        return bad(f, DK_EV_MISSING, "commune", "là bắt buộc.");
    }
    if (ev->commune < 1 || ev->commune > 99999) {
        return bad(f, DK_EV_COMMUNE, "commune", "phải là mã 5 chữ số, không phải %u.",
                   ev->commune);
    }
    if (rules.commune && ev->commune != rules.commune) {
        return bad(f, DK_EV_COMMUNE, "commune", "%05u không phải xã của máy này (%05u).",
                   ev->commune, rules.commune);
    }
    if (!ev->has_seq) {
        return bad(f, DK_EV_MISSING, "seq", "là bắt buộc.");
    }
    if (ev->seq < 1) {
        return bad(f, DK_EV_RANGE, "seq", "phải từ 1 trở lên.");
    }
    if (ev->seq > WIRE_MAX_SEQ) {
        return bad(f, DK_EV_RANGE, "seq", "%llu vượt quá giới hạn %llu.",
                   (unsigned long long)ev->seq, (unsigned long long)WIRE_MAX_SEQ);
    }
    if (ev->body_case != DK__EVENT__BODY_ACTIVITY && ev->body_case != DK__EVENT__BODY_FUND &&
        ev->body_case != DK__EVENT__BODY_VOID) {
        return bad(f, DK_EV_MISSING, "body", "chưa có: phải là hoạt động, thu chi quỹ hoặc hủy.");
    }
    bool is_void = ev->body_case == DK__EVENT__BODY_VOID;
    if (ev->has_origin_key && ev->origin_key.len != WIRE_ORIGIN_KEY_LEN) {
        return bad(f, DK_EV_RANGE, "origin_key", "phải dài %d byte, không phải %zu.",
                   WIRE_ORIGIN_KEY_LEN, ev->origin_key.len);
    }
    if (ev->has_date || !is_void) {
        if (!ev->has_date) {
            return bad(f, DK_EV_MISSING, "date", "là bắt buộc.");
        }
        int32_t day;
        if (period_yyyymmdd_to_day(ev->date, &day) != 0) {
            return bad(f, DK_EV_DATE, "date", "%u không phải ngày có thật (dạng NămThángNgày).",
                       ev->date);
        }
        if (ev->date < WIRE_MIN_DATE) {
            return bad(f, DK_EV_DATE, "date", "phải từ ngày 01/01/2000 trở đi.");
        }
        if (day > rules.today + 1) {
            return bad(f, DK_EV_DATE, "date", "%02u/%02u/%04u là ngày trong tương lai.",
                       ev->date % 100, ev->date / 100 % 100, ev->date / 10000);
        }
    }
    if (SET(ev, area)) {
        if (is_void) {
            return bad(f, DK_EV_KIND, "area", "không dùng cho bản ghi hủy.");
        }
        uint32_t max = rules.max_area && rules.max_area < WIRE_MAX_AREA ? rules.max_area
                                                                       : WIRE_MAX_AREA;
        if (ev->area > max) {
            return bad(f, DK_EV_AREA, "area", "số %u vượt quá số khu dân cư của xã (%u).",
                       ev->area, max);
        }
    }
    if (SET(ev, organiser)) {
        if (is_void) {
            return bad(f, DK_EV_KIND, "organiser", "không dùng cho bản ghi hủy.");
        }
        if (ev->organiser > rules.max_organiser) {
            return bad(f, DK_EV_ORGANISER, "organiser",
                       "số %u không có trong danh sách (0 đến %u).", ev->organiser,
                       rules.max_organiser);
        }
    }
    int rc;
    if ((rc = check_text(ev->title, "title", WIRE_MAX_TITLE, false, f)) ||
        (rc = check_text(ev->donor, "donor", WIRE_MAX_DONOR, false, f)) ||
        (rc = check_text(ev->note, "note", WIRE_MAX_NOTE, true, f))) {
        return rc;
    }
    if (is_void) {
        if ((ev->title && ev->title[0]) || (ev->donor && ev->donor[0])) {
            return bad(f, DK_EV_KIND, ev->title && ev->title[0] ? "title" : "donor",
                       "không dùng cho bản ghi hủy (lý do ghi vào Ghi chú).");
        }
        if (ev->has_corrects_seq) {
            return bad(f, DK_EV_KIND, "corrects_seq", "không dùng cho bản ghi hủy.");
        }
        const Dk__Void *v = ev->void_;
        if (!v || !SET(v, target_seq)) {
            return bad(f, DK_EV_MISSING, "void.target_seq", "là bắt buộc: hủy bản ghi số mấy?");
        }
        if (v->target_seq > WIRE_MAX_SEQ) {
            return bad(f, DK_EV_RANGE, "void.target_seq", "%llu vượt quá giới hạn %llu.",
                       (unsigned long long)v->target_seq, (unsigned long long)WIRE_MAX_SEQ);
        }
        if (v->target_seq >= ev->seq) {
            return bad(f, DK_EV_TARGET, "void.target_seq",
                       "%llu phải nhỏ hơn số thứ tự của chính bản ghi hủy (%llu).",
                       (unsigned long long)v->target_seq, (unsigned long long)ev->seq);
        }
        return 0;
    }
    if (ev->has_corrects_seq && ev->corrects_seq > WIRE_MAX_SEQ) {
        return bad(f, DK_EV_RANGE, "corrects_seq", "%llu vượt quá giới hạn %llu.",
                   (unsigned long long)ev->corrects_seq, (unsigned long long)WIRE_MAX_SEQ);
    }
    if (ev->has_corrects_seq && (ev->corrects_seq < 1 || ev->corrects_seq >= ev->seq)) {
        return bad(f, DK_EV_TARGET, "corrects_seq",
                   "%llu phải từ 1 và nhỏ hơn số thứ tự của bản ghi sửa (%llu).",
                   (unsigned long long)ev->corrects_seq, (unsigned long long)ev->seq);
    }
    if (ev->body_case == DK__EVENT__BODY_ACTIVITY) {
        if (!ev->activity) {
            return bad(f, DK_EV_MISSING, "activity.kind", "chưa được chọn.");
        }
        return check_activity(ev->activity, ev, f);
    }
    if (!ev->fund) {
        return bad(f, DK_EV_MISSING, "fund.fund", "chưa được chọn.");
    }
    return check_fund(ev->fund, f);
}
