/* Unit tests for common/catalog: every proto enum listed, lookups by slug, code and loose label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "doanket.pb-c.h"
#include "err.h"
#include "text.h"

/* Each catalog list must hold exactly the proto enum's values other than 0. */
static void check_against_enum(catalog_list_t list, const ProtobufCEnumDescriptor *d)
{
    size_t n;
    const catalog_entry_t *e = catalog_entries(list, &n);
    assert_non_null(e);
    size_t proto_values = 0;
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0) {
            continue;
        }
        proto_values++;
        const catalog_entry_t *c = catalog_find(list, d->values[i].value);
        assert_non_null(c);
        /* slug = proto name in lower case */
        char lower[64];
        size_t k = 0;
        for (const char *p = d->values[i].name; *p && k + 1 < sizeof(lower); p++) {
            lower[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        }
        lower[k] = '\0';
        assert_string_equal(c->slug, lower);
    }
    assert_int_equal(n, proto_values);
}

static void test_lists_match_proto(void **state)
{
    (void)state;
    check_against_enum(CATALOG_KIND, &dk__activity_kind__descriptor);
    check_against_enum(CATALOG_CHANNEL, &dk__channel__descriptor);
    check_against_enum(CATALOG_FESTIVAL, &dk__festival__descriptor);
    check_against_enum(CATALOG_MODEL_STAGE, &dk__model_stage__descriptor);
    check_against_enum(CATALOG_REVIEW, &dk__review_kind__descriptor);
    check_against_enum(CATALOG_STATUS, &dk__status_kind__descriptor);
    check_against_enum(CATALOG_FUND, &dk__fund__descriptor);
    check_against_enum(CATALOG_FLOW, &dk__flow__descriptor);
    check_against_enum(CATALOG_SOURCE, &dk__source__descriptor);
    check_against_enum(CATALOG_PURPOSE, &dk__purpose__descriptor);
    /* measures: every index 0..17, slug is the name without "m_" */
    size_t n;
    const catalog_entry_t *m = catalog_entries(CATALOG_MEASURE, &n);
    assert_int_equal(n, dk__measure__descriptor.n_values);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m[i].code, (int)i);
        assert_non_null(m[i].unit);
        assert_true(strlen(m[i].unit) > 0);
    }
    assert_string_equal(catalog_slug(CATALOG_MEASURE, DK__MEASURE__M_GIFT_PACKS), "gift_packs");
    assert_string_equal(catalog_label(CATALOG_MEASURE, DK__MEASURE__M_AMOUNT), "Số tiền");
    assert_string_equal(catalog_find(CATALOG_MEASURE, DK__MEASURE__M_AMOUNT)->unit, "đ");
}

/* Within a list, slugs and folded labels never collide (else lookups would be ambiguous), and
 * every label is valid UTF-8 NFC. */
static void test_lists_unique_and_valid(void **state)
{
    (void)state;
    for (int l = 0; l < CATALOG_LISTS; l++) {
        size_t n;
        const catalog_entry_t *e = catalog_entries((catalog_list_t)l, &n);
        assert_non_null(e);
        assert_true(n > 0);
        assert_non_null(catalog_list_name((catalog_list_t)l));
        assert_non_null(catalog_list_label((catalog_list_t)l));
        assert_int_equal(catalog_list_by_name(catalog_list_name((catalog_list_t)l)), l);
        for (size_t i = 0; i < n; i++) {
            assert_true(text_utf8_valid(e[i].label, strlen(e[i].label)));
            char *nfc = text_nfc(e[i].label, strlen(e[i].label));
            assert_string_equal(nfc, e[i].label);
            free(nfc);
            for (const char *p = e[i].slug; *p; p++) {
                assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
            }
            /* each entry is found by its own slug and its own label */
            int code = -1;
            assert_int_equal(catalog_lookup((catalog_list_t)l, e[i].slug, &code), 0);
            assert_int_equal(code, e[i].code);
            code = -1;
            assert_int_equal(catalog_lookup((catalog_list_t)l, e[i].label, &code), 0);
            assert_int_equal(code, e[i].code);
            for (size_t j = i + 1; j < n; j++) {
                assert_int_not_equal(e[i].code, e[j].code);
                assert_string_not_equal(e[i].slug, e[j].slug);
                char *a = text_fold(e[i].label, strlen(e[i].label));
                char *b = text_fold(e[j].label, strlen(e[j].label));
                assert_string_not_equal(a, b);
                free(a);
                free(b);
            }
        }
    }
    assert_int_equal(catalog_list_by_name("nope"), -1);
    assert_null(catalog_entries(CATALOG_LISTS, NULL));
}

static void test_lookup_loose(void **state)
{
    (void)state;
    int code = 0;
    assert_int_equal(catalog_lookup(CATALOG_KIND, "propaganda", &code), 0);
    assert_int_equal(code, DK__ACTIVITY_KIND__PROPAGANDA);
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_KIND, "tuyen truyen", &code), 0);
    assert_int_equal(code, DK__ACTIVITY_KIND__PROPAGANDA);
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_KIND, "  TUYÊN   TRUYỀN ", &code), 0);
    assert_int_equal(code, DK__ACTIVITY_KIND__PROPAGANDA);
    /* NFD: e + U+0302 circumflex, then U+0300 grave */
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_KIND, "Tuye\xcc\x82n truye\xcc\x82\xcc\x80n", &code),
                     0);
    assert_int_equal(code, DK__ACTIVITY_KIND__PROPAGANDA);
    /* NFD with đ (no decomposition) and several marks: "Xây nhà Đại đoàn kết" */
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_PURPOSE,
                                    "Xa\xcc\x82y nha\xcc\x80 \xc4\x90" "a\xcc\xa3i \xc4\x91oa\xcc\x80n "
                                    "ke\xcc\x82\xcc\x81t",
                                    &code),
                     0);
    assert_int_equal(code, DK__PURPOSE__NEW_HOUSE);
    /* punctuation and case ignored */
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_CHANNEL, "pano ap phich", &code), 0);
    assert_int_equal(code, DK__CHANNEL__PANEL_POSTER);
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_CHANNEL, "Mạng xã hội (Zalo, Facebook)", &code), 0);
    assert_int_equal(code, DK__CHANNEL__SOCIAL_MEDIA);
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_CHANNEL, "Social-Media", &code), 0);
    assert_int_equal(code, DK__CHANNEL__SOCIAL_MEDIA);
    /* decimal codes */
    code = 0;
    assert_int_equal(catalog_lookup(CATALOG_PURPOSE, " 19 ", &code), 0);
    assert_int_equal(code, DK__PURPOSE__OTHER_POOR);
    assert_int_equal(catalog_lookup(CATALOG_PURPOSE, "8", &code), DK_ENOTFOUND);
    assert_int_equal(catalog_lookup(CATALOG_KIND, "0", &code), DK_ENOTFOUND);
    code = -1;
    assert_int_equal(catalog_lookup(CATALOG_ORGANISER, "0", &code), 0);
    assert_int_equal(code, 0);
    /* organisers */
    assert_int_equal(catalog_lookup(CATALOG_ORGANISER, "hoi nong dan", &code), 0);
    assert_int_equal(code, 1);
    assert_int_equal(catalog_lookup(CATALOG_ORGANISER, "Ủy ban MTTQ", &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(catalog_lookup(CATALOG_ORGANISER, "red_cross", &code), 0);
    assert_int_equal(code, 7);
    assert_string_equal(catalog_label(CATALOG_ORGANISER, 2), "Hội Liên hiệp Phụ nữ");
    /* misses */
    assert_int_equal(catalog_lookup(CATALOG_KIND, "tuyen", &code), DK_ENOTFOUND);
    assert_int_equal(catalog_lookup(CATALOG_KIND, "", &code), DK_ENOTFOUND);
    assert_int_equal(catalog_lookup(CATALOG_KIND, "   ", &code), DK_ENOTFOUND);
    assert_int_equal(catalog_lookup(CATALOG_KIND, "\xff\xfe", &code), DK_ENOTFOUND);
    assert_int_equal(catalog_lookup(CATALOG_KIND, NULL, &code), DK_EINVAL);
    assert_int_equal(catalog_lookup(CATALOG_LISTS, "x", &code), DK_EINVAL);
    /* a kind slug is not a channel */
    assert_int_equal(catalog_lookup(CATALOG_CHANNEL, "propaganda", &code), DK_ENOTFOUND);
}

static void test_labels(void **state)
{
    (void)state;
    assert_string_equal(catalog_label(CATALOG_KIND, DK__ACTIVITY_KIND__PROPAGANDA),
                        "Tuyên truyền");
    assert_string_equal(catalog_slug(CATALOG_FUND, DK__FUND__FOR_THE_POOR), "for_the_poor");
    assert_string_equal(catalog_label(CATALOG_FLOW, DK__FLOW__SPENDING), "Chi");
    assert_string_equal(catalog_label(CATALOG_CONTENT, 3),
                        "Đoàn kết bảo vệ môi trường, ứng phó biến đổi khí hậu");
    assert_null(catalog_label(CATALOG_KIND, 0));
    assert_null(catalog_label(CATALOG_KIND, 12));
    assert_null(catalog_slug(CATALOG_CONTENT, 6));
    assert_null(catalog_label(CATALOG_LISTS, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_match_proto),
        cmocka_unit_test(test_lists_unique_and_valid),
        cmocka_unit_test(test_lookup_loose),
        cmocka_unit_test(test_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
