/* err: every code has its own description; unknown codes say so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static const int codes[] = {
    DK_OK,         DK_ENOMEM,      DK_EIO,          DK_EINVAL,     DK_ENOTFOUND, DK_EEXIST,
    DK_EAGAIN,     DK_ECONFIG,     DK_ESTORE,       DK_ENET,       DK_ETOOBIG,   DK_EDECODE,
    DK_EAUTH,      DK_ECLOSED,     DK_ETIMEOUT,     DK_EFULL,      DK_EMISMATCH, DK_EV_SCHEMA,
    DK_EV_MISSING, DK_EV_RANGE,    DK_EV_ENUM,      DK_EV_DATE,    DK_EV_TEXT,   DK_EV_MONEY,
    DK_EV_KIND,    DK_EV_COMMUNE,  DK_EV_TARGET,    DK_EV_CONFLICT, DK_EV_AREA,  DK_EV_ORGANISER,
    DK_EV_LEDGER,
};
#define NCODES (sizeof codes / sizeof codes[0])

static void test_every_code_described_distinctly(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = err_str(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(s, err_str(codes[j]));
        }
    }
}

static void test_unknown_codes(void **state)
{
    (void)state;
    assert_string_equal(err_str(1), "unknown error");
    assert_string_equal(err_str(-99), "unknown error");
    assert_string_equal(err_str(-100000), "unknown error");
}

/* Codes travel to communes in acks: the numbers are part of the protocol and never move. */
static void test_codes_are_stable(void **state)
{
    (void)state;
    assert_int_equal(DK_EINVAL, -3);
    assert_int_equal(DK_ETOOBIG, -10);
    assert_int_equal(DK_EV_SCHEMA, -100);
    assert_int_equal(DK_EV_TARGET, -109);
    assert_int_equal(DK_EV_LEDGER, -113);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_described_distinctly),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_codes_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
