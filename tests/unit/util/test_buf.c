#include "test.h"

#include <string.h>

#include "util/buf.h"
#include "util/err.h"

static void test_append_and_grow(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sb_buf_putc(&b, (uint8_t)i), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[999], (uint8_t)999);
    sb_buf_free(&b);
}

static void test_printf_and_be(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_buf_printf(&b, "x=%d", 42), 0);
    assert_int_equal(sb_buf_put_u32be(&b, 0x01020304), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "x=42\x01\x02\x03\x04", 8);
    sb_buf_free(&b);
}

static void test_errors(void **state)
{
    char msg[SB_ERRMSG_SIZE];
    assert_string_equal(sb_errname(SB_ESYNTAX), "SYNTAX");
    assert_int_equal(sb_seterr(msg, SB_EINVALID, "bad %s", "thing"), SB_EINVALID);
    assert_string_equal(msg, "bad thing");
    assert_string_equal(sb_errname(12345), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_printf_and_be),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
