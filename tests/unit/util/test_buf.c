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

/* What an HTTP or CQL client sees for each kind of failure. */
static void test_error_table_edges(void **state)
{
    static const struct {
        int code, http, cql;
        const char *body_code;
    } want[] = {
        {SB_ESYNTAX, 400, SB_CQL_ERR_SYNTAX, "invalid"},
        {SB_EINVALID, 400, SB_CQL_ERR_INVALID, "invalid"},
        {SB_EBADINPUT, 400, SB_CQL_ERR_INVALID, "invalid"},
        {SB_ENOTFOUND, 404, SB_CQL_ERR_INVALID, "not_found"},
        {SB_EMETHOD, 405, SB_CQL_ERR_PROTOCOL, "method_not_allowed"},
        {SB_EEXISTS, 409, SB_CQL_ERR_ALREADY_EXISTS, "conflict"},
        {SB_ETOOBIG, 413, SB_CQL_ERR_INVALID, "request_too_large"},
        {SB_EUNSUPPORTED, 400, SB_CQL_ERR_INVALID, "invalid"},
        {SB_EOVERLOADED, 503, SB_CQL_ERR_OVERLOADED, "overloaded"},
        {SB_EUNAVAILABLE, 503, SB_CQL_ERR_UNAVAILABLE, "unavailable"},
        {SB_ETIMEOUT, 504, SB_CQL_ERR_WRITE_TIMEOUT, "timeout"},
        {SB_EDISKFULL, 507, SB_CQL_ERR_WRITE_FAILURE, "insufficient_storage"},
        {SB_ENOMEM, 500, SB_CQL_ERR_SERVER, "server_error"},
        {SB_ESERVER, 500, SB_CQL_ERR_SERVER, "server_error"},
        {12345, 500, SB_CQL_ERR_SERVER, "server_error"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(sb_err_http_status(want[i].code), want[i].http);
        assert_int_equal(sb_err_cql_code(want[i].code), want[i].cql);
        assert_string_equal(sb_err_http_code(want[i].code), want[i].body_code);
    }
    assert_int_equal(sb_err_http_status(0), 200);
    /* -1 is no code: a bare "return -1" must not read as out of memory */
    assert_string_equal(sb_errname(-1), "UNKNOWN");
    assert_string_equal(sb_errname(SB_ENOMEM), "NOMEM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_printf_and_be),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_table_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
