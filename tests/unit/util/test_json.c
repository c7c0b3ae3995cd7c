#include "test.h"

#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/json.h"

static void expect(const char *in, size_t n, const char *want)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_json_append_string(&b, in, n), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    sb_buf_free(&b);
}

static void test_escapes(void **state)
{
    expect("", 0, "\"\"");
    expect("plain", 5, "\"plain\"");
    expect("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect("\n\t\r", 3, "\"\\n\\t\\r\"");
    expect("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    expect("nul\0in", 6, "\"nul\\u0000in\"");
    /* UTF-8 and '/' pass through unchanged */
    expect("\xc3\xa9/", 3, "\"\xc3\xa9/\"");
}

static void test_cstr(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_json_append_cstr(&b, "k\"v"), 0);
    assert_int_equal(sb_buf_putc(&b, ','), 0);
    assert_int_equal(sb_json_append_cstr(&b, NULL), 0);
    assert_int_equal(b.len, strlen("\"k\\\"v\",null"));
    assert_memory_equal(b.data, "\"k\\\"v\",null", b.len);
    sb_buf_free(&b);
}

/* Out of memory mid-string: an error, and what was appended before stays. */
static void test_oom(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_buf_append(&b, "x", 1), 0);
    char big[300];
    memset(big, '\n', sizeof big);
    sb_alloc_fail_after(0);
    assert_int_equal(sb_json_append_string(&b, big, sizeof big), SB_ENOMEM);
    int failed = sb_alloc_failed_at(NULL, NULL);
    sb_alloc_reset();
    assert_true(failed);
    assert_true(b.len >= 1);
    assert_int_equal(b.data[0], 'x');
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_cstr),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
