#include "test.h"

#include <string.h>

#include "util/err.h"
#include "util/hex.h"

static void test_digit(void **state)
{
    assert_int_equal(sb_hex_digit('0'), 0);
    assert_int_equal(sb_hex_digit('9'), 9);
    assert_int_equal(sb_hex_digit('a'), 10);
    assert_int_equal(sb_hex_digit('F'), 15);
    assert_int_equal(sb_hex_digit('g'), -1);
    assert_int_equal(sb_hex_digit('G'), -1);
    assert_int_equal(sb_hex_digit('/'), -1);
    assert_int_equal(sb_hex_digit(':'), -1);
    assert_int_equal(sb_hex_digit(0), -1);
    assert_int_equal(sb_hex_digit(0xe1), -1);
}

static void test_encode_and_append(void **state)
{
    const uint8_t p[] = {0x00, 0x01, 0xab, 0xff, 0x7e};
    char out[11];
    memset(out, 'x', sizeof out);
    sb_hex_encode(out, p, sizeof p);
    assert_string_equal(out, "0001abff7e");
    sb_hex_encode(out, p, 0);
    assert_string_equal(out, "");

    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_buf_append(&b, "0x", 2), 0);
    assert_int_equal(sb_hex_append(&b, p, sizeof p), 0);
    assert_int_equal(sb_hex_append(&b, p, 0), 0);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.data, "0x0001abff7e", 12);
    sb_buf_free(&b);
}

static void test_decode(void **state)
{
    uint8_t out[4] = {0};
    assert_int_equal(sb_hex_decode(out, "00aBfF", 6), 0);
    assert_memory_equal(out, "\x00\xab\xff", 3);
    assert_int_equal(sb_hex_decode(out, "", 0), 0);
    assert_int_equal(sb_hex_decode(out, "abc", 3), -1); /* odd */
    assert_int_equal(sb_hex_decode(out, "0g", 2), -1);  /* not a digit */
    assert_int_equal(sb_hex_decode(out, "+f", 2), -1);  /* no signs */
    assert_int_equal(sb_hex_decode(out, " f", 2), -1);  /* no blanks */
    /* only n characters are read: the 'z' beyond is never looked at */
    assert_int_equal(sb_hex_decode(out, "12z", 2), 0);
    assert_int_equal(out[0], 0x12);

    assert_int_equal(sb_hex_invalid("0123abcdEF", 10), 10);
    assert_int_equal(sb_hex_invalid("01x3", 4), 2);
    assert_int_equal(sb_hex_invalid("", 0), 0);
}

static void test_round_trip_every_byte(void **state)
{
    uint8_t all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char text[513];
    sb_hex_encode(text, all, 256);
    assert_int_equal(strlen(text), 512);
    assert_int_equal(sb_hex_decode(back, text, 512), 0);
    assert_memory_equal(all, back, 256);
}

static void test_uuid(void **state)
{
    const uint8_t u[16] = {0xd0, 0x6a, 0xc6, 0x6d, 0xc4, 0xde, 0x41, 0xbd,
                           0x83, 0x1e, 0xbb, 0x97, 0x86, 0x94, 0xe8, 0x45};
    const char *text = "d06ac66d-c4de-41bd-831e-bb978694e845";
    char out[SB_UUID_STRLEN];
    sb_uuid_format(u, out);
    assert_string_equal(out, text);

    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_uuid_append(&b, u), 0);
    assert_int_equal(b.len, 36);
    assert_memory_equal(b.data, text, 36);
    sb_buf_free(&b);

    uint8_t got[16];
    assert_int_equal(sb_uuid_parse(text, 36, got), 0);
    assert_memory_equal(got, u, 16);
    assert_int_equal(sb_uuid_parse("D06AC66DC4DE41BD831EBB978694E845", 32, got), 0);
    assert_memory_equal(got, u, 16);
    assert_int_equal(sb_uuid_parse(text, 35, got), -1); /* a digit short */
    assert_int_equal(sb_uuid_parse("d06ac66d-c4de-41bd-831e-bb978694e8450", 37, got), -1);
    assert_int_equal(sb_uuid_parse("d06ac66d-c4de-41bd-831e-bb978694e84g", 36, got), -1);
    assert_int_equal(sb_uuid_parse("d06ac66d c4de-41bd-831e-bb978694e845", 36, got), -1);
    assert_int_equal(sb_uuid_parse("", 0, got), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digit),  cmocka_unit_test(test_encode_and_append),
        cmocka_unit_test(test_decode), cmocka_unit_test(test_round_trip_every_byte),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
