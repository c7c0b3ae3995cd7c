#include "test.h"

#include "util/num.h"

static void test_parse_double(void **state)
{
    double v = -1;
    assert_int_equal(sb_parse_double("2.5", 0, 10, &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(sb_parse_double("1e2", 0, 100, &v), 0);
    assert_true(v == 100);
    assert_int_equal(sb_parse_double("0", 0, 1, &v), 0); /* bounds included */
    assert_true(v == 0);

    v = 7;
    assert_int_equal(sb_parse_double(NULL, 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("", 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("3x", 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("x", 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("10.5", 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("-0.1", 0, 10, &v), -1);
    assert_int_equal(sb_parse_double("nan", -1e300, 1e300, &v), -1);
    assert_int_equal(sb_parse_double("1e999", 0, 1e308, &v), -1); /* ERANGE */
    assert_true(v == 7);                                          /* untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
