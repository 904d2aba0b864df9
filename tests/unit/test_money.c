/* Unit tests for common/money: formatting and strict parsing of đồng amounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "money.h"

static void expect_format(uint64_t v, const char *want)
{
    char buf[64];
    int n = money_format(v, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void expect_short(uint64_t v, const char *want)
{
    char buf[64];
    int n = money_format_short(v, buf, sizeof buf);
    if (n < 0 || strcmp(buf, want) != 0) {
        print_error("money_format_short(%llu) = \"%s\", want \"%s\"\n", (unsigned long long)v,
                    n < 0 ? "" : buf, want);
        fail();
    }
    assert_int_equal(n, (int)strlen(want));
}

static void test_format(void **state)
{
    (void)state;
    expect_format(0, "0 đ");
    expect_format(1, "1 đ");
    expect_format(999, "999 đ");
    expect_format(1000, "1.000 đ");
    expect_format(5000, "5.000 đ");
    expect_format(1250000, "1.250.000 đ");
    expect_format(100000000, "100.000.000 đ");
    expect_format(MONEY_MAX, "999.999.999.999.999 đ");
    expect_format(UINT64_MAX, "18.446.744.073.709.551.615 đ");
    char buf[32];
    assert_true(money_format(UINT64_MAX, buf, sizeof buf) > 0);
    /* exact fit and one byte short */
    char fit[sizeof "1.250.000 đ"];
    assert_int_equal(money_format(1250000, fit, sizeof fit), (int)strlen("1.250.000 đ"));
    assert_int_equal(money_format(1250000, fit, sizeof fit - 1), DK_ETOOBIG);
    assert_int_equal(money_format(0, buf, 0), DK_ETOOBIG);
}

static void test_format_short(void **state)
{
    (void)state;
    expect_short(0, "0 đ");
    expect_short(350000, "350.000 đ");
    expect_short(999999, "999.999 đ");
    expect_short(1000000, "1 triệu đ");
    expect_short(1500000, "1,5 triệu đ");
    expect_short(1250000, "1,25 triệu đ");
    expect_short(1259999, "1,25 triệu đ"); /* truncated, never rounded up */
    expect_short(1009999, "1 triệu đ");
    expect_short(1010000, "1,01 triệu đ");
    expect_short(12500000, "12,5 triệu đ");
    expect_short(350000000, "350 triệu đ");
    expect_short(999999999, "999,99 triệu đ");
    expect_short(1000000000, "1 tỷ đ");
    expect_short(1250000000, "1,25 tỷ đ");
    expect_short(1999999999, "1,99 tỷ đ");
    expect_short(1300000000, "1,3 tỷ đ");
    expect_short(832000000, "832 triệu đ");
    expect_short(1250000000000ULL, "1.250 tỷ đ");
    expect_short(MONEY_MAX, "999.999,99 tỷ đ");
    expect_short(UINT64_MAX, "18.446.744.073,7 tỷ đ");
    char buf[40];
    assert_true(money_format_short(UINT64_MAX, buf, sizeof buf) > 0);
    char small[8];
    assert_int_equal(money_format_short(1250000000, small, sizeof small), DK_ETOOBIG);
}

static void expect_parse(const char *s, uint64_t want)
{
    uint64_t got = 12345;
    const char *why = NULL;
    int rc = money_parse(s, &got, &why);
    if (rc != 0 || got != want) {
        print_error("money_parse(\"%s\") rc=%d got %llu (%s), want %llu\n", s, rc,
                    (unsigned long long)got, why ? why : "", (unsigned long long)want);
        fail();
    }
}

static const char *expect_refuse(const char *s)
{
    uint64_t got = 777;
    const char *why = NULL;
    int rc = money_parse(s, &got, &why);
    if (rc != DK_EINVAL) {
        print_error("money_parse(\"%s\") accepted: %llu\n", s, (unsigned long long)got);
        fail();
    }
    assert_int_equal(got, 777);
    assert_non_null(why);
    assert_true(strlen(why) > 5);
    return why;
}

static void test_parse_ok(void **state)
{
    (void)state;
    expect_parse("1.250.000", 1250000);
    expect_parse("1,250,000", 1250000);
    expect_parse("1 250 000", 1250000);
    expect_parse("1\xc2\xa0"
                 "250\xc2\xa0"
                 "000",
                 1250000); /* NBSP */
    expect_parse("1\xe2\x80\xaf"
                 "250\xe2\x80\xaf"
                 "000",
                 1250000); /* narrow NBSP */
    expect_parse("1250000", 1250000);
    expect_parse("  1.250.000  ", 1250000);
    expect_parse("0", 0);
    expect_parse("0050", 50);
    expect_parse("5.000", 5000);
    expect_parse("999", 999);
    expect_parse("12.345.678.901", 12345678901ULL);
    expect_parse("1.000.000,00", 1000000);
    expect_parse("1.250.000,00", 1250000);
    expect_parse("1,250,000.00", 1250000);
    expect_parse("1,250.00", 1250); /* English: the decimal point settles the comma */
    expect_parse("1250000.00", 1250000);
    expect_parse("1250000,0", 1250000);
    expect_parse("1 250 000,00", 1250000);
    expect_parse("1.250.000 đ", 1250000);
    expect_parse("1.250.000đ", 1250000);
    expect_parse("1.250.000 đồng", 1250000);
    expect_parse("1.250.000 Đồng", 1250000);
    expect_parse("1.250.000 ĐỒNG", 1250000);
    expect_parse("1.250.000 \xc4\x91o\xcc\x82\xcc\x80ng", 1250000); /* NFD */
    expect_parse("1.250.000 d", 1250000);
    expect_parse("1.250.000 D", 1250000);
    expect_parse("1.250.000 dong", 1250000);
    expect_parse("1.250.000 VND", 1250000);
    expect_parse("1.250.000 vnd", 1250000);
    expect_parse("1.250.000 VNĐ", 1250000);
    expect_parse("1.250.000 vnđ", 1250000);
    expect_parse("1250000VND", 1250000);
    expect_parse("1.250.000,00 đ", 1250000);
    expect_parse("1.250.000\xc2\xa0đ", 1250000);
    expect_parse("999.999.999.999.999", MONEY_MAX);
    expect_parse("999999999999999", MONEY_MAX);
    expect_parse("000999999999999999", MONEY_MAX);
    expect_parse("\t20.000.000\t", 20000000);
}

static void test_parse_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "đ",
        "VND",
        "abc",
        "1,5",
        "1.25",
        "1.2.3",
        "1.250,000",
        "1,250.000",
        "1,250",
        "1,000",
        "12,345",
        "1.250.00",
        "1,250,00",
        "1 250,000",
        "1 250.000",
        "1.250 000",
        "1250000.50",
        "1250000,5",
        "1.250.000,50",
        "100.50",
        "1.0000",
        "1250000.000",
        "12.34",
        "1234.567",
        "1.2345",
        "12345.678",
        "-1",
        "-1.000",
        "\xe2\x88\x92"
        "5",
        "+5",
        "1..000",
        "1.,000",
        ".1000",
        "1000.",
        ",000",
        "1.000.",
        "1  000",
        "0.500",
        "01.000",
        "1000 USD",
        "1000 $",
        "$1000",
        "1000 đ đ",
        "1000 đ.",
        "1000 đồngg",
        "1000 d-",
        "1000-",
        "1e6",
        "0x10",
        "1000000000000000",
        "1.000.000.000.000.000",
        "999999999999999.1",
        "18446744073709551616",
        "99999999999999999999999",
        "1,000,000,000,000,000",
        "1 000 000 000 000 000",
        "1000\n",
        "1000\x01",
        "1\xff"
        "000",
        "１０００",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_refuse(bad[i]);
    }
    uint64_t v = 5;
    assert_int_equal(money_parse(NULL, &v, NULL), DK_EINVAL);
    assert_int_equal(money_parse("1,5", &v, NULL), DK_EINVAL); /* why_vi may be NULL */
    assert_int_equal(v, 5);
}

static void test_parse_reasons(void **state)
{
    (void)state;
    assert_string_equal(expect_refuse("1,250"),
                        "không rõ dấu phân cách: '1,250' có thể là 1,25 hoặc 1250");
    assert_non_null(strstr(expect_refuse("1,5"), "số nguyên"));
    assert_non_null(strstr(expect_refuse("1.25"), "số nguyên"));
    assert_non_null(strstr(expect_refuse("-1000"), "âm"));
    assert_non_null(strstr(expect_refuse(""), "chưa nhập"));
    assert_non_null(strstr(expect_refuse("1.250,000"), "lẫn lộn"));
    assert_non_null(strstr(expect_refuse("12.34.567"), "3 chữ số"));
    assert_non_null(strstr(expect_refuse("1000000000000000"), "giới hạn"));
    assert_non_null(strstr(expect_refuse("1000 USD"), "đơn vị"));
}

static void test_boundaries(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(money_parse("999999999999999", &v, NULL), 0);
    assert_int_equal(v, MONEY_MAX);
    assert_int_equal(money_parse("1000000000000000", &v, NULL), DK_EINVAL); /* MONEY_MAX + 1 */
    char buf[64];
    money_format(MONEY_MAX, buf, sizeof buf);
    assert_int_equal(money_parse(buf, &v, NULL), 0);
    assert_int_equal(v, MONEY_MAX);
    money_format(MONEY_MAX + 1, buf, sizeof buf);
    assert_int_equal(money_parse(buf, &v, NULL), DK_EINVAL);
    assert_true(MONEY_MAX < 1000000000000000ULL);
}

/* Every formatted amount parses back to itself, across magnitudes. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x % (i % 16 == 0 ? 1000ULL : (uint64_t)1 << (i % 50)) % (MONEY_MAX + 1);
        char buf[64];
        assert_true(money_format(v, buf, sizeof buf) > 0);
        uint64_t back = 0;
        const char *why = NULL;
        if (money_parse(buf, &back, &why) != 0 || back != v) {
            print_error("round trip of %llu via \"%s\" failed: %s\n", (unsigned long long)v, buf,
                        why ? why : "");
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),        cmocka_unit_test(test_format_short),
        cmocka_unit_test(test_parse_ok),      cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_reasons), cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
