/* category — tally categories packed into a uint64 (layout in category.h). */
#include "category.h"

#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "err.h"

#define FAMILY_SHIFT 60

/* Bit position of each 8-bit field; activity and fund fields share positions. */
static int field_shift(category_field_t field, int *family)
{
    switch (field) {
    case CATEGORY_KIND: *family = CATEGORY_ACTIVITY; return 0;
    case CATEGORY_CONTENTS: *family = CATEGORY_ACTIVITY; return 8;
    case CATEGORY_CHANNEL: *family = CATEGORY_ACTIVITY; return 16;
    case CATEGORY_SUBKIND: *family = CATEGORY_ACTIVITY; return 24;
    case CATEGORY_FUND_ID: *family = CATEGORY_FUND; return 0;
    case CATEGORY_FLOW: *family = CATEGORY_FUND; return 8;
    case CATEGORY_SOURCE: *family = CATEGORY_FUND; return 16;
    case CATEGORY_PURPOSE: *family = CATEGORY_FUND; return 24;
    case CATEGORY_ORGANISER: *family = CATEGORY_NONE; return 32; /* both families */
    default: *family = -1; return -1;
    }
}

static uint64_t pack(int family, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t org)
{
    return ((uint64_t)family << FAMILY_SHIFT) | ((uint64_t)(org & 0xff) << 32) |
           ((uint64_t)(d & 0xff) << 24) | ((uint64_t)(c & 0xff) << 16) |
           ((uint64_t)(b & 0xff) << 8) | (uint64_t)(a & 0xff);
}

uint64_t category_activity(uint32_t kind, uint32_t contents, uint32_t channel, uint32_t subkind,
                           uint32_t organiser)
{
    return pack(CATEGORY_ACTIVITY, kind, contents, channel, subkind, organiser);
}

uint64_t category_fund(uint32_t fund, uint32_t flow, uint32_t source, uint32_t purpose,
                       uint32_t organiser)
{
    return pack(CATEGORY_FUND, fund, flow, source, purpose, organiser);
}

int category_family(uint64_t cat)
{
    int f = (int)(cat >> FAMILY_SHIFT);
    return f == CATEGORY_ACTIVITY || f == CATEGORY_FUND ? f : CATEGORY_NONE;
}

uint32_t category_get(uint64_t cat, category_field_t field)
{
    int fam = category_family(cat);
    if (field == CATEGORY_FAMILY) {
        return (uint32_t)fam;
    }
    int need;
    int shift = field_shift(field, &need);
    if (shift < 0 || fam == CATEGORY_NONE || (need != CATEGORY_NONE && need != fam)) {
        return 0;
    }
    return (uint32_t)((cat >> shift) & 0xff);
}

uint64_t category_set(uint64_t cat, category_field_t field, uint32_t value)
{
    if (field == CATEGORY_FAMILY) {
        return (cat & ~(0xfull << FAMILY_SHIFT)) | ((uint64_t)(value & 0xf) << FAMILY_SHIFT);
    }
    int need;
    int shift = field_shift(field, &need);
    int fam = category_family(cat);
    if (shift < 0 || (need != CATEGORY_NONE && need != fam)) {
        return cat;
    }
    return (cat & ~(0xffull << shift)) | ((uint64_t)(value & 0xff) << shift);
}

static int fits(uint32_t v)
{
    return v <= 0xff;
}

/* Clamps a count to the signed measure range; validated events are far below it. */
static int64_t measure(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int activity_category(const Dk__Event *ev, uint64_t *category, int64_t *m)
{
    const Dk__Activity *a = ev->activity;
    uint32_t kind = a->has_kind ? (uint32_t)a->kind : 0;
    uint32_t contents = a->has_contents ? a->contents : 0;
    uint32_t channel = a->has_channel ? (uint32_t)a->channel : 0;
    uint32_t sub = 0;
    switch (kind) {
    case DK__ACTIVITY_KIND__FESTIVAL: sub = a->has_festival ? (uint32_t)a->festival : 0; break;
    case DK__ACTIVITY_KIND__MODEL: sub = a->has_model_stage ? (uint32_t)a->model_stage : 0; break;
    case DK__ACTIVITY_KIND__REVIEW: sub = a->has_review ? (uint32_t)a->review : 0; break;
    case DK__ACTIVITY_KIND__STATUS: sub = a->has_status ? (uint32_t)a->status : 0; break;
    default: break;
    }
    if (kind != DK__ACTIVITY_KIND__PROPAGANDA) {
        channel = 0;
    }
    uint32_t org = ev->has_organiser ? ev->organiser : 0;
    if (kind == 0 || !fits(kind) || !fits(contents) || !fits(channel) || !fits(sub) ||
        !fits(org)) {
        return DK_EINVAL;
    }
    *category = category_activity(kind, contents, channel, sub, org);
    m[DK__MEASURE__M_SESSIONS] = a->has_sessions ? a->sessions : 0;
    m[DK__MEASURE__M_PARTICIPANTS] = a->has_participants ? a->participants : 0;
    m[DK__MEASURE__M_ITEMS] = a->has_items ? a->items : 0;
    m[DK__MEASURE__M_AREAS_HELD] = a->has_areas_held ? a->areas_held : 0;
    m[DK__MEASURE__M_AREAS_TOTAL] = a->has_areas_total ? a->areas_total : 0;
    m[DK__MEASURE__M_FAMILIES] = a->has_families ? a->families : 0;
    m[DK__MEASURE__M_COLLECTIVES] = a->has_collectives ? a->collectives : 0;
    m[DK__MEASURE__M_INDIVIDUALS] = a->has_individuals ? a->individuals : 0;
    m[DK__MEASURE__M_AMOUNT] = a->has_amount ? measure(a->amount) : 0;
    m[DK__MEASURE__M_LAND_M2] = a->has_land_m2 ? measure(a->land_m2) : 0;
    m[DK__MEASURE__M_WORKDAYS] = a->has_workdays ? a->workdays : 0;
    m[DK__MEASURE__M_STRUCTURES] = a->has_structures ? a->structures : 0;
    m[DK__MEASURE__M_STATUS_DONE] = a->has_status_done ? a->status_done : 0;
    m[DK__MEASURE__M_STATUS_TOTAL] = a->has_status_total ? a->status_total : 0;
    return 0;
}

static int fund_category(const Dk__Event *ev, uint64_t *category, int64_t *m)
{
    const Dk__FundMovement *f = ev->fund;
    uint32_t fund = f->has_fund ? (uint32_t)f->fund : 0;
    uint32_t flow = f->has_flow ? (uint32_t)f->flow : 0;
    uint32_t source = 0, purpose = 0;
    if (flow == DK__FLOW__RECEIPT && f->has_source) {
        source = (uint32_t)f->source;
    }
    if (flow == DK__FLOW__SPENDING && f->has_purpose) {
        purpose = (uint32_t)f->purpose;
    }
    uint32_t org = ev->has_organiser ? ev->organiser : 0;
    if (fund == 0 || flow == 0 || !fits(fund) || !fits(flow) || !fits(source) || !fits(purpose) ||
        !fits(org)) {
        return DK_EINVAL;
    }
    *category = category_fund(fund, flow, source, purpose, org);
    m[DK__MEASURE__M_AMOUNT] = f->has_amount ? measure(f->amount) : 0;
    m[DK__MEASURE__M_HOUSEHOLDS] = f->has_households ? f->households : 0;
    m[DK__MEASURE__M_HOUSES] = f->has_houses ? f->houses : 0;
    m[DK__MEASURE__M_GIFT_PACKS] = f->has_gift_packs ? f->gift_packs : 0;
    return 0;
}

int category_of_event(const Dk__Event *ev, uint64_t *category, int64_t m[CATEGORY_MEASURES])
{
    if (!ev || !category || !m) {
        return DK_EINVAL;
    }
    memset(m, 0, sizeof(int64_t) * CATEGORY_MEASURES);
    *category = 0;
    int rc;
    if (ev->body_case == DK__EVENT__BODY_ACTIVITY && ev->activity) {
        rc = activity_category(ev, category, m);
    } else if (ev->body_case == DK__EVENT__BODY_FUND && ev->fund) {
        rc = fund_category(ev, category, m);
    } else {
        rc = DK_EINVAL; /* void or no body */
    }
    if (rc < 0) {
        memset(m, 0, sizeof(int64_t) * CATEGORY_MEASURES);
        *category = 0;
        return rc;
    }
    m[DK__MEASURE__M_EVENTS] = 1;
    return 0;
}

/* ---- description ------------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, used;
    int cut;
} out_t;

/* Appends s, cutting at a UTF-8 character boundary when it does not fit. */
static void put(out_t *o, const char *s)
{
    if (o->cut || o->len == 0) {
        o->cut = 1;
        return;
    }
    size_t n = strlen(s);
    size_t room = o->len - 1 - o->used;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
            n--;
        }
        o->cut = 1;
    }
    memcpy(o->buf + o->used, s, n);
    o->used += n;
    o->buf[o->used] = '\0';
}

static void put_code(out_t *o, catalog_list_t list, uint32_t code)
{
    const char *label = catalog_label(list, (int)code);
    char tmp[32];
    if (!label) {
        snprintf(tmp, sizeof(tmp), "mã %u", code);
        label = tmp;
    }
    if (o->used > 0) {
        put(o, " · ");
    }
    put(o, label);
}

int category_describe_vi(uint64_t cat, char *buf, size_t len)
{
    out_t o = {buf, len, 0, 0};
    if (buf && len > 0) {
        buf[0] = '\0';
    } else {
        o.len = 0;
    }
    int fam = category_family(cat);
    if (fam == CATEGORY_ACTIVITY) {
        uint32_t kind = category_get(cat, CATEGORY_KIND);
        put_code(&o, CATALOG_KIND, kind);
        uint32_t ch = category_get(cat, CATEGORY_CHANNEL);
        if (ch) {
            put_code(&o, CATALOG_CHANNEL, ch);
        }
        uint32_t sub = category_get(cat, CATEGORY_SUBKIND);
        if (sub) {
            catalog_list_t l = kind == DK__ACTIVITY_KIND__FESTIVAL      ? CATALOG_FESTIVAL
                               : kind == DK__ACTIVITY_KIND__MODEL       ? CATALOG_MODEL_STAGE
                               : kind == DK__ACTIVITY_KIND__REVIEW      ? CATALOG_REVIEW
                               : kind == DK__ACTIVITY_KIND__STATUS      ? CATALOG_STATUS
                                                                        : CATALOG_LISTS;
            put_code(&o, l, sub);
        }
        uint32_t c = category_get(cat, CATEGORY_CONTENTS);
        if (c) {
            put(&o, " · Nội dung ");
            int first = 1;
            for (int i = 0; i < 8; i++) {
                if (c & (1u << i)) {
                    char n[8];
                    snprintf(n, sizeof(n), "%s%d", first ? "" : ", ", i + 1);
                    put(&o, n);
                    first = 0;
                }
            }
        }
    } else if (fam == CATEGORY_FUND) {
        put_code(&o, CATALOG_FUND, category_get(cat, CATEGORY_FUND_ID));
        put_code(&o, CATALOG_FLOW, category_get(cat, CATEGORY_FLOW));
        uint32_t s = category_get(cat, CATEGORY_SOURCE);
        if (s) {
            put_code(&o, CATALOG_SOURCE, s);
        }
        uint32_t p = category_get(cat, CATEGORY_PURPOSE);
        if (p) {
            put_code(&o, CATALOG_PURPOSE, p);
        }
    } else {
        return DK_EINVAL;
    }
    put_code(&o, CATALOG_ORGANISER, category_get(cat, CATEGORY_ORGANISER));
    return o.cut ? DK_ETOOBIG : 0;
}
