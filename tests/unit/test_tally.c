/* Unit tests of aggregator/tally: key order, value encoding, exact arithmetic, the cell set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "tally.h"

static void test_key_order(void **state)
{
    (void)state;
    /* memcmp order must be unit, then day, then category, as numbers. */
    uint8_t a[TALLY_KEY_LEN], b[TALLY_KEY_LEN];
    tally_key_encode(a, 24664, 20231118, 0xFFFFFFFFFFull);
    tally_key_encode(b, 24664, 20231119, 1);
    assert_true(memcmp(a, b, TALLY_KEY_LEN) < 0);
    tally_key_encode(b, 24665, 20000101, 0);
    assert_true(memcmp(a, b, TALLY_KEY_LEN) < 0);
    tally_key_encode(b, 24664, 20231118, 0x100000000000ull);
    assert_true(memcmp(a, b, TALLY_KEY_LEN) < 0);
    tally_key_encode(b, 256, 20231118, 0); /* 256 > 255 even though its low byte is 0 */
    tally_key_encode(a, 255, 20231118, 0);
    assert_true(memcmp(a, b, TALLY_KEY_LEN) < 0);

    uint32_t u, d;
    uint64_t c;
    tally_key_encode(a, 24664, 20231118, 0x1000000000000123ull);
    assert_int_equal(tally_key_decode(a, TALLY_KEY_LEN, &u, &d, &c), 0);
    assert_int_equal(u, 24664);
    assert_int_equal(d, 20231118);
    assert_true(c == 0x1000000000000123ull);
    assert_int_equal(tally_key_decode(a, 15, &u, &d, &c), DK_EINVAL);
}

static void test_value_roundtrip(void **state)
{
    (void)state;
    tally_cell_t c = {0}, back;
    uint8_t buf[TALLY_VAL_MAX];
    c.version = 42;
    c.owner = 663;
    size_t n = tally_val_encode(&c, buf);
    assert_int_equal(n, 13); /* all-zero cell: no measures stored */
    memset(&back, 0x55, sizeof back);
    assert_int_equal(tally_val_decode(buf, n, &back), 0);
    assert_true(back.version == 42);
    assert_int_equal(back.owner, 663);
    assert_true(tally_is_zero(&back));

    c.m[0] = 1;
    c.m[9] = -1250000;
    c.m[17] = INT64_MAX;
    n = tally_val_encode(&c, buf);
    assert_int_equal(n, 13 + 8 * 18);
    assert_int_equal(tally_val_decode(buf, n, &back), 0);
    assert_true(tally_same_measures(&c, &back));
    assert_true(back.m[9] == -1250000);
    assert_int_equal(tally_used(&back), 18);
    /* Truncated or padded values are refused. */
    assert_int_equal(tally_val_decode(buf, n - 1, &back), DK_EDECODE);
    assert_int_equal(tally_val_decode(buf, 5, &back), DK_EDECODE);
    buf[12] = TALLY_MAX_MEASURES + 1;
    assert_int_equal(tally_val_decode(buf, n, &back), DK_EDECODE);
}

static void test_add_exact(void **state)
{
    (void)state;
    tally_cell_t c = {0};
    int64_t d[3] = {1, 7, 1000000000000ll};
    assert_int_equal(tally_add(&c, d, 3, +1), 0);
    assert_int_equal(tally_add(&c, d, 3, +1), 0);
    assert_true(c.m[2] == 2000000000000ll);
    assert_int_equal(tally_add(&c, d, 3, -1), 0);
    assert_true(c.m[0] == 1 && c.m[1] == 7 && c.m[2] == 1000000000000ll);
    assert_int_equal(tally_add(&c, d, 3, -1), 0);
    assert_true(tally_is_zero(&c));
    /* Overflow refuses and leaves the cell as it was. */
    c.m[1] = INT64_MAX - 3;
    int64_t big[2] = {5, 4};
    assert_int_equal(tally_add(&c, big, 2, +1), DK_EINVAL);
    assert_true(c.m[0] == 0 && c.m[1] == INT64_MAX - 3);
    c.m[1] = INT64_MIN + 1;
    assert_int_equal(tally_add(&c, big, 2, -1), DK_EINVAL);
    assert_true(c.m[0] == 0);
}

static void test_set(void **state)
{
    (void)state;
    tally_set_t *s = tally_set_new();
    bool created;
    /* Enough cells to force several rehashes. */
    for (uint32_t i = 0; i < 5000; i++) {
        tally_cell_t *c = tally_set_put(s, 30000 - (i % 50), 20230101 + i / 50, i % 7, &created);
        c->m[0] += 1;
    }
    size_t n = tally_set_count(s);
    assert_int_equal(n, 5000); /* (i % 50, i / 50) is unique per i */
    tally_cell_t *c = tally_set_put(s, 30000, 20230101, 0, &created);
    assert_false(created);
    assert_int_equal(c->m[0], 1);
    assert_null(tally_set_get(s, 1, 2, 3));
    tally_set_sort(s);
    for (size_t i = 1; i < n; i++) {
        tally_cell_t *a = tally_set_at(s, i - 1), *b = tally_set_at(s, i);
        uint8_t ka[TALLY_KEY_LEN], kb[TALLY_KEY_LEN];
        tally_key_encode(ka, a->unit, a->day, a->category);
        tally_key_encode(kb, b->unit, b->day, b->category);
        assert_true(memcmp(ka, kb, TALLY_KEY_LEN) < 0);
    }
    /* Lookups still work after the sort. */
    c = tally_set_get(s, 29951, 20230101 + 99, 4999 % 7);
    assert_non_null(c);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += tally_set_at(s, i)->m[0];
    }
    assert_int_equal(sum, 5000);
    tally_set_destroy(&s);
    assert_null(s);
    tally_set_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_value_roundtrip),
        cmocka_unit_test(test_add_exact),
        cmocka_unit_test(test_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
