/* catalog — the one list of codes, slugs and Vietnamese labels (see catalog.h). */
#include "catalog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "doanket.pb-c.h"
#include "err.h"
#include "text.h"

#define E(code, slug, label) {(code), (slug), (label), NULL}
#define EU(code, slug, label, unit) {(code), (slug), (label), (unit)}

static const catalog_entry_t kinds[] = {
    E(DK__ACTIVITY_KIND__PROPAGANDA, "propaganda", "Tuyên truyền"),
    E(DK__ACTIVITY_KIND__TRAINING, "training", "Tập huấn"),
    E(DK__ACTIVITY_KIND__STUDY_TOUR, "study_tour", "Trao đổi kinh nghiệm, tham quan học tập"),
    E(DK__ACTIVITY_KIND__MODEL, "model", "Mô hình"),
    E(DK__ACTIVITY_KIND__FESTIVAL, "festival", "Ngày hội"),
    E(DK__ACTIVITY_KIND__INSPECTION, "inspection", "Kiểm tra, giám sát"),
    E(DK__ACTIVITY_KIND__REVIEW, "review", "Sơ kết, tổng kết"),
    E(DK__ACTIVITY_KIND__COMMENDATION, "commendation", "Khen thưởng"),
    E(DK__ACTIVITY_KIND__CONTRIBUTION, "contribution", "Nhân dân đóng góp"),
    E(DK__ACTIVITY_KIND__STATUS, "status", "Số liệu đạt chuẩn"),
    E(DK__ACTIVITY_KIND__MEETING, "meeting", "Họp phối hợp"),
};

static const catalog_entry_t channels[] = {
    E(DK__CHANNEL__CONFERENCE, "conference", "Hội nghị nhân dân"),
    E(DK__CHANNEL__FORUM, "forum", "Diễn đàn"),
    E(DK__CHANNEL__MEMBER_MEETING, "member_meeting", "Sinh hoạt tổ chức thành viên"),
    E(DK__CHANNEL__WEBSITE, "website", "Trang thông tin điện tử"),
    E(DK__CHANNEL__SOCIAL_MEDIA, "social_media", "Mạng xã hội (Zalo, Facebook)"),
    E(DK__CHANNEL__PANEL_POSTER, "panel_poster", "Pano, áp phích"),
    E(DK__CHANNEL__LEAFLET, "leaflet", "Tờ rơi, tài liệu"),
    E(DK__CHANNEL__LOUDSPEAKER, "loudspeaker", "Loa truyền thanh"),
    E(DK__CHANNEL__OTHER_CHANNEL, "other_channel", "Hình thức khác"),
};

static const catalog_entry_t festivals[] = {
    E(DK__FESTIVAL__UNITY_DAY, "unity_day", "Ngày hội Đại đoàn kết toàn dân tộc"),
    E(DK__FESTIVAL__BORDER_DAY, "border_day", "Ngày hội Biên phòng toàn dân"),
    E(DK__FESTIVAL__SECURITY_DAY, "security_day", "Ngày hội toàn dân bảo vệ an ninh Tổ quốc"),
    E(DK__FESTIVAL__OTHER_FESTIVAL, "other_festival", "Ngày hội khác"),
};

static const catalog_entry_t model_stages[] = {
    E(DK__MODEL_STAGE__MODEL_NEW, "model_new", "Xây dựng mới"),
    E(DK__MODEL_STAGE__MODEL_MAINTAINED, "model_maintained", "Duy trì"),
};

static const catalog_entry_t reviews[] = {
    E(DK__REVIEW_KIND__REVIEW_ONE_YEAR, "review_one_year", "Sơ kết 1 năm"),
    E(DK__REVIEW_KIND__REVIEW_TWENTY_YEARS, "review_twenty_years", "Tổng kết 20 năm Ngày hội"),
    E(DK__REVIEW_KIND__REVIEW_OTHER, "review_other", "Sơ kết, tổng kết khác"),
};

static const catalog_entry_t statuses[] = {
    E(DK__STATUS_KIND__CULTURED_HOUSEHOLDS, "cultured_households", "Hộ gia đình văn hóa"),
    E(DK__STATUS_KIND__CULTURAL_VILLAGES, "cultural_villages", "Thôn, bon, tổ dân phố văn hóa"),
    E(DK__STATUS_KIND__MODEL_AREAS, "model_areas", "Khu dân cư kiểu mẫu"),
};

static const catalog_entry_t funds[] = {
    E(DK__FUND__FOR_THE_POOR, "for_the_poor", "Quỹ Vì người nghèo"),
    E(DK__FUND__CAMPAIGN, "campaign", "Kinh phí cuộc vận động"),
};

static const catalog_entry_t flows[] = {
    E(DK__FLOW__RECEIPT, "receipt", "Thu"),
    E(DK__FLOW__SPENDING, "spending", "Chi"),
    E(DK__FLOW__OPENING, "opening", "Số dư đầu kỳ"),
};

static const catalog_entry_t sources[] = {
    E(DK__SOURCE__STATE_BUDGET, "state_budget", "Ngân sách nhà nước"),
    E(DK__SOURCE__BUSINESS, "business", "Doanh nghiệp"),
    E(DK__SOURCE__ORGANISATION, "organisation", "Cơ quan, tổ chức"),
    E(DK__SOURCE__INDIVIDUAL, "individual", "Cá nhân"),
    E(DK__SOURCE__RESIDENTS, "residents", "Nhân dân đóng góp"),
    E(DK__SOURCE__OTHER_SOURCE, "other_source", "Nguồn khác"),
};

static const catalog_entry_t purposes[] = {
    E(DK__PURPOSE__NEW_HOUSE, "new_house", "Xây nhà Đại đoàn kết"),
    E(DK__PURPOSE__HOUSE_REPAIR, "house_repair", "Sửa chữa nhà"),
    E(DK__PURPOSE__LIVELIHOOD, "livelihood", "Hỗ trợ sinh kế"),
    E(DK__PURPOSE__HEALTH, "health", "Hỗ trợ y tế"),
    E(DK__PURPOSE__EDUCATION, "education", "Hỗ trợ giáo dục"),
    E(DK__PURPOSE__TET_GIFTS, "tet_gifts", "Quà Tết"),
    E(DK__PURPOSE__DISASTER_RELIEF, "disaster_relief", "Cứu trợ thiên tai"),
    E(DK__PURPOSE__OTHER_POOR, "other_poor", "Chi khác (Vì người nghèo)"),
    E(DK__PURPOSE__C_PROPAGANDA, "c_propaganda", "Chi tuyên truyền"),
    E(DK__PURPOSE__C_TRAINING, "c_training", "Chi tập huấn"),
    E(DK__PURPOSE__C_MODELS, "c_models", "Chi xây dựng mô hình"),
    E(DK__PURPOSE__C_INSPECTION, "c_inspection", "Chi kiểm tra, giám sát"),
    E(DK__PURPOSE__C_REVIEWS, "c_reviews", "Chi sơ kết, tổng kết"),
    E(DK__PURPOSE__C_COMMENDATION, "c_commendation", "Chi khen thưởng"),
    E(DK__PURPOSE__C_FESTIVAL, "c_festival", "Chi hỗ trợ Ngày hội"),
    E(DK__PURPOSE__OTHER_CAMPAIGN, "other_campaign", "Chi khác (cuộc vận động)"),
};

static const catalog_entry_t contents[] = {
    E(1, "economy", "Đoàn kết phát triển kinh tế, giảm nghèo bền vững"),
    E(2, "culture", "Đoàn kết xây dựng đời sống văn hóa"),
    E(3, "environment", "Đoàn kết bảo vệ môi trường, ứng phó biến đổi khí hậu"),
    E(4, "law", "Đoàn kết chấp hành pháp luật, giữ gìn an ninh trật tự"),
    E(5, "democracy", "Đoàn kết phát huy dân chủ, xây dựng hệ thống chính trị cơ sở"),
};

static const catalog_entry_t measures[] = {
    EU(DK__MEASURE__M_EVENTS, "events", "Số bản ghi", "bản ghi"),
    EU(DK__MEASURE__M_SESSIONS, "sessions", "Số buổi", "buổi"),
    EU(DK__MEASURE__M_PARTICIPANTS, "participants", "Số lượt người tham gia", "lượt người"),
    EU(DK__MEASURE__M_ITEMS, "items", "Số tin bài, tài liệu, pano", "sản phẩm"),
    EU(DK__MEASURE__M_AREAS_HELD, "areas_held", "Số khu dân cư tổ chức", "khu dân cư"),
    EU(DK__MEASURE__M_AREAS_TOTAL, "areas_total", "Tổng số khu dân cư", "khu dân cư"),
    EU(DK__MEASURE__M_FAMILIES, "families", "Số hộ gia đình", "hộ"),
    EU(DK__MEASURE__M_COLLECTIVES, "collectives", "Số tập thể được khen thưởng", "tập thể"),
    EU(DK__MEASURE__M_INDIVIDUALS, "individuals", "Số cá nhân được khen thưởng", "cá nhân"),
    EU(DK__MEASURE__M_AMOUNT, "amount", "Số tiền", "đ"),
    EU(DK__MEASURE__M_LAND_M2, "land_m2", "Diện tích đất hiến", "m²"),
    EU(DK__MEASURE__M_WORKDAYS, "workdays", "Số ngày công", "ngày công"),
    EU(DK__MEASURE__M_STRUCTURES, "structures", "Số công trình tự nguyện tháo dỡ", "công trình"),
    EU(DK__MEASURE__M_STATUS_DONE, "status_done", "Số đạt chuẩn", "đơn vị"),
    EU(DK__MEASURE__M_STATUS_TOTAL, "status_total", "Tổng số được xét", "đơn vị"),
    EU(DK__MEASURE__M_HOUSEHOLDS, "households", "Số lượt hộ được hỗ trợ", "lượt hộ"),
    EU(DK__MEASURE__M_HOUSES, "houses", "Số nhà", "căn"),
    EU(DK__MEASURE__M_GIFT_PACKS, "gift_packs", "Số suất quà", "suất"),
};

static const catalog_entry_t organisers[] = {
    E(0, "committee", "Ủy ban MTTQ"),
    E(1, "farmers", "Hội Nông dân"),
    E(2, "women", "Hội Liên hiệp Phụ nữ"),
    E(3, "youth", "Đoàn Thanh niên"),
    E(4, "veterans", "Hội Cựu chiến binh"),
    E(5, "trade_union", "Công đoàn"),
    E(6, "elderly", "Hội Người cao tuổi"),
    E(7, "red_cross", "Hội Chữ thập đỏ"),
};

#define LIST(arr, name, label) {(arr), sizeof(arr) / sizeof((arr)[0]), (name), (label)}

static const struct {
    const catalog_entry_t *entries;
    size_t n;
    const char *name;
    const char *label;
} lists[CATALOG_LISTS] = {
    [CATALOG_KIND] = LIST(kinds, "kind", "Loại hoạt động"),
    [CATALOG_CHANNEL] = LIST(channels, "channel", "Hình thức tuyên truyền"),
    [CATALOG_FESTIVAL] = LIST(festivals, "festival", "Ngày hội"),
    [CATALOG_MODEL_STAGE] = LIST(model_stages, "model_stage", "Mô hình xây mới hay duy trì"),
    [CATALOG_REVIEW] = LIST(reviews, "review", "Loại sơ kết, tổng kết"),
    [CATALOG_STATUS] = LIST(statuses, "status", "Loại số liệu đạt chuẩn"),
    [CATALOG_FUND] = LIST(funds, "fund", "Quỹ"),
    [CATALOG_FLOW] = LIST(flows, "flow", "Thu hay chi"),
    [CATALOG_SOURCE] = LIST(sources, "source", "Nguồn thu"),
    [CATALOG_PURPOSE] = LIST(purposes, "purpose", "Mục đích chi"),
    [CATALOG_CONTENT] = LIST(contents, "content", "Nội dung cuộc vận động"),
    [CATALOG_MEASURE] = LIST(measures, "measure", "Chỉ số"),
    [CATALOG_ORGANISER] = LIST(organisers, "organiser", "Đơn vị tổ chức"),
};

static bool list_ok(catalog_list_t list)
{
    return (int)list >= 0 && list < CATALOG_LISTS;
}

const catalog_entry_t *catalog_entries(catalog_list_t list, size_t *n)
{
    if (!list_ok(list)) {
        if (n) {
            *n = 0;
        }
        return NULL;
    }
    if (n) {
        *n = lists[list].n;
    }
    return lists[list].entries;
}

const catalog_entry_t *catalog_find(catalog_list_t list, int code)
{
    if (!list_ok(list)) {
        return NULL;
    }
    for (size_t i = 0; i < lists[list].n; i++) {
        if (lists[list].entries[i].code == code) {
            return &lists[list].entries[i];
        }
    }
    return NULL;
}

const char *catalog_label(catalog_list_t list, int code)
{
    const catalog_entry_t *e = catalog_find(list, code);
    return e ? e->label : NULL;
}

const char *catalog_slug(catalog_list_t list, int code)
{
    const catalog_entry_t *e = catalog_find(list, code);
    return e ? e->slug : NULL;
}

const char *catalog_list_name(catalog_list_t list)
{
    return list_ok(list) ? lists[list].name : NULL;
}

const char *catalog_list_label(catalog_list_t list)
{
    return list_ok(list) ? lists[list].label : NULL;
}

int catalog_list_by_name(const char *name)
{
    if (!name) {
        return -1;
    }
    for (int i = 0; i < CATALOG_LISTS; i++) {
        if (strcmp(lists[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* The matching key of a text: text_fold (NFC, lower case, no diacritics, đ -> d, spaces and
 * '_'/'-' collapsed), then ASCII punctuation also turned into spaces and collapsed, so
 * "Pano, áp phích" and "pano ap phich" give the same key. NULL for invalid UTF-8. */
static char *match_key(const char *s)
{
    char *f = text_fold(s, strlen(s));
    if (!f) {
        return NULL;
    }
    size_t w = 0;
    bool space = true; /* drops leading spaces */
    for (size_t r = 0; f[r]; r++) {
        unsigned char c = (unsigned char)f[r];
        bool punct = c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
        if (punct) {
            if (!space) {
                f[w++] = ' ';
                space = true;
            }
        } else {
            f[w++] = (char)c;
            space = false;
        }
    }
    while (w > 0 && f[w - 1] == ' ') {
        w--;
    }
    f[w] = '\0';
    return f;
}

/* A decimal code ("7", " 19 "), or -1 when s is not one. */
static int decimal_code(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s < '0' || *s > '9') {
        return -1;
    }
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > 1000000) {
            return -1;
        }
        s++;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return *s ? -1 : (int)v;
}

int catalog_lookup(catalog_list_t list, const char *text, int *code)
{
    if (!list_ok(list) || !text || !code) {
        return DK_EINVAL;
    }
    int num = decimal_code(text);
    if (num >= 0) {
        if (catalog_find(list, num)) {
            *code = num;
            return 0;
        }
        return DK_ENOTFOUND;
    }
    char *key = match_key(text);
    if (!key) {
        return DK_ENOTFOUND;
    }
    int rc = DK_ENOTFOUND;
    if (key[0]) {
        for (size_t i = 0; i < lists[list].n && rc != 0; i++) {
            const catalog_entry_t *e = &lists[list].entries[i];
            char *slug = match_key(e->slug);
            char *label = match_key(e->label);
            if ((slug && strcmp(slug, key) == 0) || (label && strcmp(label, key) == 0)) {
                *code = e->code;
                rc = 0;
            }
            free(slug);
            free(label);
        }
    }
    free(key);
    return rc;
}
