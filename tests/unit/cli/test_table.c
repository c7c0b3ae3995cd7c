/* Unit tests for the shell's result rendering (cli/table.h): cqlsh's
 * table and expanded layouts byte for byte, UTF-8 widths, and cells
 * formatted from native-protocol values. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "util/err.h"

static void test_table_layout(void **state)
{
    const char *names[] = {"id", "name", "temperature"};
    const char *cells[] = {"1", "alpha", "21.5", "1000", "b", "null"};
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_table_render(&out, 3, names, 2, cells), 0);
    assert_string_equal(sb_buf_cstr(&out), " id   | name  | temperature\n"
                                           "------+-------+-------------\n"
                                           "    1 | alpha |        21.5\n"
                                           " 1000 |     b |        null\n");
    /* No rows: header and separator only; header trailing blanks dropped. */
    sb_buf_reset(&out);
    const char *n2[] = {"k", "v"};
    assert_int_equal(sb_cli_table_render(&out, 2, n2, 0, NULL), 0);
    assert_string_equal(sb_buf_cstr(&out), " k | v\n---+---\n");
    sb_buf_free(&out);
}

static void test_utf8_width(void **state)
{
    assert_int_equal(sb_cli_text_width("héllo"), 5);
    assert_int_equal(sb_cli_text_width("日本"), 2);
    assert_int_equal(sb_cli_text_width(""), 0);
    const char *names[] = {"v"};
    const char *cells[] = {"héllo", "x"};
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_table_render(&out, 1, names, 2, cells), 0);
    assert_string_equal(sb_buf_cstr(&out), " v\n-------\n héllo\n     x\n");
    sb_buf_free(&out);
}

static void test_expanded(void **state)
{
    const char *names[] = {"id", "name"};
    const char *cells[] = {"1", "alpha", "2", "b"};
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_table_render_expanded(&out, 2, names, 2, cells, 5), 0);
    assert_string_equal(sb_buf_cstr(&out), "@ Row 5\n"
                                           "------+-------\n"
                                           " id   | 1\n"
                                           " name | alpha\n"
                                           "\n"
                                           "@ Row 6\n"
                                           "------+-------\n"
                                           " id   | 2\n"
                                           " name | b\n");
    sb_buf_free(&out);
}

static void test_format_cells(void **state)
{
    static const uint8_t i42[4] = {0, 0, 0, 42}, yes[1] = {1};
    sb_cqlc_col cols[3] = {
        {.name = "n", .type = {.id = SB_TYPE_INT}},
        {.name = "b", .type = {.id = SB_TYPE_BOOLEAN}},
        {.name = "raw", .type = {.id = SB_TYPE_BLOB}, .raw = 1},
    };
    sb_value vals[6] = {{i42, 4},
                        {yes, 1},
                        {(const uint8_t *)"\x01\xfe", 2},
                        {NULL, -1},
                        {i42, 3} /* invalid int: shown as a blob */,
                        {NULL, -1}};
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    r.kind = SB_CQLC_ROWS;
    r.ncols = 3;
    r.cols = cols;
    r.nrows = 2;
    r.vals = vals;
    char **cells, *store;
    assert_int_equal(sb_cli_format_cells(&r, &cells, &store), 0);
    assert_string_equal(cells[0], "42");
    assert_string_equal(cells[1], "True");
    assert_string_equal(cells[2], "0x01fe");
    assert_string_equal(cells[3], "null");
    assert_string_equal(cells[4], "0x000000");
    assert_string_equal(cells[5], "null");
    free(cells);
    free(store);
    /* Zero rows is fine too. */
    r.nrows = 0;
    assert_int_equal(sb_cli_format_cells(&r, &cells, &store), 0);
    free(cells);
    free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_utf8_width),
        cmocka_unit_test(test_expanded),
        cmocka_unit_test(test_format_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
