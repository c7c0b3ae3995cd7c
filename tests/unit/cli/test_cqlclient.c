/* Unit tests for the shell's protocol client codec (cli/cqlclient.h):
 * requests it encodes are what the server's decoder reads, responses the
 * server's encoder writes decode back, and every truncation or garbling of
 * a response is an error with a reason, never a crash. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cqlclient.h"
#include "cqlproto/frame.h"
#include "util/err.h"

static void test_query_request_reads_back(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    const uint8_t ps[3] = {1, 2, 3};
    const char *q = "SELECT * FROM t";
    assert_int_equal(sb_cqlc_put_query(&b, 7, q, strlen(q), SB_CL_QUORUM, 100, ps, 3), 0);
    sb_cqlframe_hdr h;
    assert_int_equal(sb_cqlframe_header(b.data, b.len, &h), 1);
    assert_int_equal(h.version, 4);
    assert_int_equal(h.response, 0);
    assert_int_equal(h.stream, 7);
    assert_int_equal(h.opcode, SB_CQLOP_QUERY);
    assert_int_equal(h.length, b.len - 9);
    sb_cqlmsg m;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cqlmsg_parse(h.opcode, h.flags, b.data + 9, h.length, &m, err), 0);
    assert_string_equal(m.query, q);
    assert_int_equal(m.params.consistency, SB_CL_QUORUM);
    assert_int_equal(m.params.page_size, 100);
    assert_int_equal(m.params.paging_state_len, 3);
    assert_memory_equal(m.params.paging_state, ps, 3);
    sb_cqlmsg_free(&m);

    /* No paging: neither page size nor state. */
    sb_buf_reset(&b);
    assert_int_equal(sb_cqlc_put_query(&b, 8, q, strlen(q), SB_CL_ONE, -1, ps, 3), 0);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data + 9, b.len - 9, &m, err), 0);
    assert_int_equal(m.params.page_size, -1);
    assert_int_equal(m.params.paging_state_len, -1);
    sb_cqlmsg_free(&m);

    sb_buf_reset(&b);
    assert_int_equal(sb_cqlc_put_startup(&b, 0), 0);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_STARTUP, 0, b.data + 9, b.len - 9, &m, err), 0);
    assert_int_equal(m.nopts, 1);
    assert_string_equal(m.keys[0], "CQL_VERSION");
    assert_string_equal(m.vals[0], "3.4.5");
    sb_cqlmsg_free(&m);
    sb_buf_free(&b);
}

/* A two-column, two-row result with a paging state, as the server sends. */
static void make_rows(sb_buf *frame)
{
    static const uint8_t one[4] = {0, 0, 0, 1}, two[4] = {0, 0, 0, 2};
    static const uint8_t ps[2] = {0xab, 0xcd};
    sb_cql_colspec cols[2] = {
        {"ks", "t", "k", {.id = SB_TYPE_INT}},
        {"ks", "t", "tags", {.id = SB_TYPE_MAP, .a = SB_TYPE_TEXT, .b = SB_TYPE_INT}},
    };
    sb_value rows[4] = {{one, 4}, {NULL, -1}, {two, 4}, {(const uint8_t *)"", 0}};
    sb_cql_result r = {0};
    r.kind = SB_CQL_RESULT_ROWS;
    r.cols = cols;
    r.ncols = 2;
    r.rows = rows;
    r.nrows = 2;
    r.has_more = 1;
    r.paging_state = ps;
    r.paging_state_len = 2;
    assert_int_equal(sb_cqlframe_put_result(frame, 5, &r, 0), 0);
}

static void test_rows_decode(void **state)
{
    sb_buf f;
    sb_buf_init(&f);
    make_rows(&f);
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cqlc_parse_response(f.data[4], f.data[1], f.data + 9, f.len - 9, &r, err),
                     0);
    assert_int_equal(r.kind, SB_CQLC_ROWS);
    assert_int_equal(r.ncols, 2);
    assert_string_equal(r.cols[0].ks, "ks");
    assert_string_equal(r.cols[0].table, "t");
    assert_string_equal(r.cols[1].name, "tags");
    assert_int_equal(r.cols[1].type.id, SB_TYPE_MAP);
    assert_int_equal(r.cols[1].type.a, SB_TYPE_TEXT);
    assert_int_equal(r.cols[1].type.b, SB_TYPE_INT);
    assert_int_equal(r.cols[1].raw, 0);
    assert_int_equal(r.nrows, 2);
    assert_int_equal(r.vals[0].len, 4);
    assert_int_equal(r.vals[0].p[3], 1);
    assert_int_equal(r.vals[1].len, -1);
    assert_int_equal(r.vals[3].len, 0);
    assert_int_equal(r.has_more, 1);
    assert_int_equal(r.paging_state_len, 2);
    assert_int_equal(r.paging_state[0], 0xab);

    /* Every truncation is an error naming what was cut, never a crash. */
    for (size_t n = 0; n < f.len - 9; n++) {
        uint8_t *copy = malloc(n + 1); /* exact size, so ASan sees overreads */
        memcpy(copy, f.data + 9, n);
        assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, copy, n, &r, err),
                         SB_EBADINPUT);
        assert_non_null(strstr(err, "malformed response"));
        free(copy);
    }
    /* Absurd counts are refused before allocating. */
    uint8_t huge[] = {0, 0, 0, 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, huge, sizeof huge, &r, err),
                     SB_EBADINPUT);
    uint8_t rows[] = {0, 0, 0, 2, 0, 0, 0, 0, 0,    0,    0,    1,
                      0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff};
    rows[7] = 1; /* one column ... */
    /* (malformed column spec: name and type are missing) */
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, rows, sizeof rows, &r, err),
                     SB_EBADINPUT);
    sb_cqlc_result_free(&r);
    sb_buf_free(&f);
}

static void test_error_and_other_results(void **state)
{
    sb_buf f;
    sb_buf_init(&f);
    char err[SB_ERRMSG_SIZE];
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    assert_int_equal(sb_cqlframe_put_error_msg(&f, 1, SB_CQL_ERR_SYNTAX,
                                               "line 1:0 no viable alternative at input 'SELEC'"),
                     0);
    assert_int_equal(sb_cqlc_parse_response(f.data[4], f.data[1], f.data + 9, f.len - 9, &r, err),
                     0);
    assert_int_equal(r.kind, SB_CQLC_ERROR);
    assert_int_equal(r.err_code, 0x2000);
    assert_string_equal(r.err_class, "SyntaxException");
    assert_string_equal(r.err_msg, "line 1:0 no viable alternative at input 'SELEC'");
    assert_string_equal(sb_cqlc_error_class(0x2200), "InvalidRequest");
    assert_string_equal(sb_cqlc_error_class(0x2400), "AlreadyExists");
    assert_string_equal(sb_cqlc_error_class(0x1234), "ServerError");

    /* Set_keyspace */
    uint8_t sk[] = {0, 0, 0, 3, 0, 2, 'k', 's'};
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, sk, sizeof sk, &r, err), 0);
    assert_int_equal(r.kind, SB_CQLC_SET_KEYSPACE);
    assert_string_equal(r.keyspace, "ks");

    /* Warnings come before the body. */
    uint8_t w[] = {0, 1, 0, 4, 'w', 'a', 'r', 'n', 0, 0, 0, 1};
    assert_int_equal(
        sb_cqlc_parse_response(SB_CQLOP_RESULT, SB_CQLFLAG_WARNING, w, sizeof w, &r, err), 0);
    assert_int_equal(r.kind, SB_CQLC_VOID);
    assert_string_equal(r.warnings, "warn");

    /* Unknown kinds and opcodes, compressed frames. */
    uint8_t bad[] = {0, 0, 0, 9};
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, bad, sizeof bad, &r, err),
                     SB_EBADINPUT);
    assert_non_null(strstr(err, "unknown result kind 9"));
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_SUPPORTED, 0, bad, sizeof bad, &r, err),
                     SB_EBADINPUT);
    assert_int_equal(
        sb_cqlc_parse_response(SB_CQLOP_RESULT, SB_CQLFLAG_COMPRESSION, bad, 4, &r, err),
        SB_EBADINPUT);
    assert_non_null(strstr(err, "compress"));
    sb_cqlc_result_free(&r);
    sb_buf_free(&f);
}

static void test_unrepresentable_types_are_raw(void **state)
{
    /* Rows with one column of type tuple<int, list<int>>, then one of
     * list<list<int>>; both become blobs for display. */
    uint8_t body[] = {0, 0, 0,   2,                      /* rows */
                      0, 0, 0,   1, 0,    0,    0,    2, /* global spec, 2 columns */
                      0, 1, 'k', 0, 1,    't',           /* ks, table */
                      0, 1, 'a', 0, 0x31, 0,    2,    0,    9,   0, 0x20, 0, 9, /* a tuple<...> */
                      0, 1, 'b', 0, 0x20, 0,    0x20, 0,    9, /* b list<list<int>> */
                      0, 0, 0,   1,                            /* 1 row */
                      0, 0, 0,   1, 0xAA, 0xff, 0xff, 0xff, 0xff};
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cqlc_parse_response(SB_CQLOP_RESULT, 0, body, sizeof body, &r, err), 0);
    assert_int_equal(r.ncols, 2);
    assert_int_equal(r.cols[0].raw, 1);
    assert_int_equal(r.cols[1].raw, 1);
    assert_string_equal(r.cols[1].name, "b");
    assert_int_equal(r.vals[0].len, 1);
    assert_int_equal(r.vals[1].len, -1);
    sb_cqlc_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_request_reads_back),
        cmocka_unit_test(test_rows_decode),
        cmocka_unit_test(test_error_and_other_results),
        cmocka_unit_test(test_unrepresentable_types_are_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
