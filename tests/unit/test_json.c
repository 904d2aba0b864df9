/* Unit tests of aggregator/json.c: nesting, commas, escaping, invalid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static void check(json_t **j, const char *want)
{
    size_t n;
    char *got = json_take(j, &n);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
}

static void test_nesting(void **state)
{
    json_t *j = json_new();
    json_obj(j);
    json_kv_str(j, "name", "Xã Đức Minh");
    json_kv_u64(j, "dong", 1250000);
    json_key(j, "list");
    json_arr(j);
    json_i64(j, -1);
    json_obj(j);
    json_end(j);
    json_arr(j);
    json_end(j);
    json_null(j);
    json_end(j);
    json_kv_bool(j, "ok", true);
    json_kv_u64(j, "max", UINT64_MAX);
    json_end(j);
    check(&j, "{\"name\":\"Xã Đức Minh\",\"dong\":1250000,\"list\":[-1,{},[],null],\"ok\":true,"
              "\"max\":18446744073709551615}");
}

static void test_escaping(void **state)
{
    json_t *j = json_new();
    json_arr(j);
    json_str(j, "a\"b\\c\n\t\x01</script>");
    json_str(j, "\xe2\x80\xa8");          /* U+2028 */
    json_str(j, "bad \xff\xc3 end");        /* invalid bytes */
    json_str(j, "\xed\xa0\x80");          /* a surrogate: invalid */
    json_strn(j, "nul\0x", 5);
    json_str(j, NULL);
    json_end(j);
    check(&j, "[\"a\\\"b\\\\c\\n\\t\\u0001<\\/script>\",\"\\u2028\",\"bad \\ufffd\\ufffd end\","
              "\"\\ufffd\\ufffd\\ufffd\",\"nul\\u0000x\",null]");
}

static void test_quote(void **state)
{
    char *q = json_quote("Đắk \"Mil\"");
    assert_string_equal(q, "\"Đắk \\\"Mil\\\"\"");
    free(q);
    json_t *j = NULL;
    json_destroy(&j); /* NULL-safe */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
