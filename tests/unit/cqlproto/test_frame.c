/* Unit tests for the CQL native protocol v4 frame codec (cqlproto/frame.h):
 * headers and their checks, request parsing (including every truncation of
 * valid bodies), and response encoding byte for byte. */
#include "test.h"

#include <string.h>

#include "cqlproto/frame.h"
#include "util/buf.h"
#include "util/err.h"

/* Small builder for request bodies. */
static void put_str(sb_buf *b, const char *s)
{
    sb_cql_put_string(b, s);
}

static void put_lstr(sb_buf *b, const char *s)
{
    sb_cql_put_long_string(b, s, strlen(s));
}

static void test_header(void **state)
{
    uint8_t h[9] = {0x04, 0x00, 0x01, 0x02, SB_CQLOP_QUERY, 0, 0, 0x01, 0x00};
    sb_cqlframe_hdr hdr;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cqlframe_header(h, 8, &hdr), 0);
    assert_int_equal(sb_cqlframe_header(h, 9, &hdr), 1);
    assert_int_equal(hdr.version, 4);
    assert_int_equal(hdr.response, 0);
    assert_int_equal(hdr.stream, 0x0102);
    assert_int_equal(hdr.opcode, SB_CQLOP_QUERY);
    assert_int_equal(hdr.length, 256);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), 0);
    assert_int_equal(sb_cqlframe_check(&hdr, 255, err), SB_ETOOBIG);
    assert_non_null(strstr(err, "length 256 exceeds maximum allowed length 255"));

    h[2] = 0xff; /* negative stream ids are the server's; still decoded */
    h[3] = 0xff;
    sb_cqlframe_header(h, 9, &hdr);
    assert_int_equal(hdr.stream, -1);
}

static void test_header_versions(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_cqlframe_hdr hdr;
    uint8_t v5[9] = {0x05, 0, 0, 7, SB_CQLOP_OPTIONS, 0, 0, 0, 0};
    sb_cqlframe_header(v5, 9, &hdr);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), SB_EUNSUPPORTED);
    assert_non_null(strstr(err, "Invalid or unsupported protocol version (5)"));
    assert_int_equal(hdr.stream, 7);
    uint8_t dse[9] = {0x42, 0, 0, 1, SB_CQLOP_OPTIONS, 0, 0, 0, 0};
    sb_cqlframe_header(dse, 9, &hdr);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), SB_EUNSUPPORTED);
    assert_non_null(strstr(err, "(66)"));
    /* v2: 8-byte header with a one-byte stream at byte 2 */
    uint8_t v2[9] = {0x02, 0, 5, SB_CQLOP_OPTIONS, 0, 0, 0, 0, 0};
    sb_cqlframe_header(v2, 9, &hdr);
    assert_int_equal(hdr.stream, 5);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), SB_EUNSUPPORTED);
    /* response bit and unknown opcodes */
    uint8_t resp[9] = {0x84, 0, 0, 1, SB_CQLOP_QUERY, 0, 0, 0, 0};
    sb_cqlframe_header(resp, 9, &hdr);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), SB_EBADINPUT);
    uint8_t unk[9] = {0x04, 0, 0, 1, 0x33, 0, 0, 0, 0};
    sb_cqlframe_header(unk, 9, &hdr);
    assert_int_equal(sb_cqlframe_check(&hdr, 1024, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "0x33"));
}

static void build_query(sb_buf *b)
{
    put_lstr(b, "SELECT * FROM t WHERE k = ? AND c = ?");
    sb_buf_put_u16be(b, SB_CL_QUORUM);
    sb_buf_putc(b, SB_CQLQ_VALUES | SB_CQLQ_PAGE_SIZE | SB_CQLQ_PAGING_STATE |
                       SB_CQLQ_SERIAL_CONSISTENCY | SB_CQLQ_TIMESTAMP | SB_CQLQ_NAMES |
                       SB_CQLQ_SKIP_METADATA);
    sb_buf_put_u16be(b, 3);
    put_str(b, "k");
    sb_cql_put_bytes(b, (const uint8_t *)"\0\0\0\x2a", 4);
    put_str(b, "c");
    sb_buf_put_u32be(b, (uint32_t)-2); /* unset */
    put_str(b, "d");
    sb_buf_put_u32be(b, (uint32_t)-1); /* null */
    sb_buf_put_u32be(b, 5000);
    sb_cql_put_bytes(b, (const uint8_t *)"ps", 2);
    sb_buf_put_u16be(b, SB_CL_LOCAL_SERIAL);
    sb_buf_put_u64be(b, 1234567890123ull);
}

static void test_parse_query(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    build_query(&b);
    sb_cqlmsg m;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, b.len, &m, err), 0);
    assert_string_equal(m.query, "SELECT * FROM t WHERE k = ? AND c = ?");
    assert_int_equal(m.params.consistency, SB_CL_QUORUM);
    assert_int_equal(m.params.nvalues, 3);
    assert_non_null(m.params.names);
    assert_string_equal(m.params.names[0], "k");
    assert_string_equal(m.params.names[2], "d");
    assert_int_equal(m.params.values[0].len, 4);
    assert_memory_equal(m.params.values[0].p, "\0\0\0\x2a", 4);
    assert_int_equal(m.params.values[1].len, SB_CQL_UNSET_LEN);
    assert_int_equal(m.params.values[2].len, -1);
    assert_int_equal(m.params.page_size, 5000);
    assert_int_equal(m.params.paging_state_len, 2);
    assert_memory_equal(m.params.paging_state, "ps", 2);
    assert_int_equal(m.params.serial_consistency, SB_CL_LOCAL_SERIAL);
    assert_int_equal(m.params.has_timestamp, 1);
    assert_true(m.params.timestamp_us == 1234567890123ll);
    assert_true(m.params.flags & SB_CQLQ_SKIP_METADATA);
    sb_cqlmsg_free(&m);

    /* Every proper prefix is truncated; trailing garbage is rejected. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, n, &m, err), SB_EBADINPUT);
        assert_non_null(strstr(err, "QUERY"));
    }
    sb_buf_putc(&b, 0);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, b.len, &m, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "1 unexpected bytes"));
    sb_buf_free(&b);
}

static void test_parse_bad_values(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_cqlmsg m;
    char err[SB_ERRMSG_SIZE];
    put_lstr(&b, "x");
    sb_buf_put_u16be(&b, 0x0042); /* no such consistency */
    sb_buf_putc(&b, 0);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, b.len, &m, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "consistency"));

    sb_buf_reset(&b);
    put_lstr(&b, "x");
    sb_buf_put_u16be(&b, SB_CL_ONE);
    sb_buf_putc(&b, SB_CQLQ_VALUES);
    sb_buf_put_u16be(&b, 1);
    sb_buf_put_u32be(&b, (uint32_t)-7); /* invalid length */
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, b.len, &m, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "invalid length -7"));

    sb_buf_reset(&b);
    put_lstr(&b, "x");
    sb_buf_put_u16be(&b, SB_CL_ONE);
    sb_buf_putc(&b, SB_CQLQ_VALUES);
    sb_buf_put_u16be(&b, 60000); /* claims far more values than bytes */
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_QUERY, 0, b.data, b.len, &m, err), SB_EBADINPUT);

    sb_buf_reset(&b);
    sb_buf_put_u32be(&b, 0x7fffffff); /* long string longer than the body */
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_PREPARE, 0, b.data, b.len, &m, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "truncated PREPARE"));
    sb_buf_free(&b);
}

static void test_parse_startup_register_options(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_cqlmsg m;
    char err[SB_ERRMSG_SIZE];
    sb_buf_put_u16be(&b, 2);
    put_str(&b, "CQL_VERSION");
    put_str(&b, "3.0.0");
    put_str(&b, "COMPRESSION");
    put_str(&b, "lz4");
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_STARTUP, 0, b.data, b.len, &m, err), 0);
    assert_int_equal(m.nopts, 2);
    assert_string_equal(m.keys[1], "COMPRESSION");
    assert_string_equal(m.vals[1], "lz4");
    sb_cqlmsg_free(&m);

    sb_buf_reset(&b);
    sb_buf_put_u16be(&b, 1);
    put_str(&b, "SCHEMA_CHANGE");
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_REGISTER, 0, b.data, b.len, &m, err), 0);
    assert_int_equal(m.nopts, 1);
    assert_string_equal(m.keys[0], "SCHEMA_CHANGE");
    sb_cqlmsg_free(&m);

    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_OPTIONS, 0, NULL, 0, &m, err), 0);
    sb_cqlmsg_free(&m);

    /* A custom payload is skipped before the body. */
    sb_buf_reset(&b);
    sb_buf_put_u16be(&b, 1);
    put_str(&b, "key");
    sb_cql_put_bytes(&b, (const uint8_t *)"val", 3);
    put_lstr(&b, "SELECT 1");
    assert_int_equal(
        sb_cqlmsg_parse(SB_CQLOP_PREPARE, SB_CQLFLAG_CUSTOM_PAYLOAD, b.data, b.len, &m, err), 0);
    assert_string_equal(m.query, "SELECT 1");
    sb_cqlmsg_free(&m);
    sb_buf_free(&b);
}

static void build_batch(sb_buf *b)
{
    sb_buf_putc(b, 1); /* unlogged */
    sb_buf_put_u16be(b, 2);
    sb_buf_putc(b, 0);
    put_lstr(b, "INSERT INTO t (k) VALUES (?)");
    sb_buf_put_u16be(b, 1);
    sb_cql_put_bytes(b, (const uint8_t *)"\0\0\0\1", 4);
    sb_buf_putc(b, 1);
    sb_cql_put_short_bytes(b, (const uint8_t *)"0123456789abcdef", 16);
    sb_buf_put_u16be(b, 0);
    sb_buf_put_u16be(b, SB_CL_ALL);
    sb_buf_putc(b, SB_CQLQ_TIMESTAMP);
    sb_buf_put_u64be(b, 42);
}

static void test_parse_batch_execute(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_cqlmsg m;
    char err[SB_ERRMSG_SIZE];
    build_batch(&b);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_BATCH, 0, b.data, b.len, &m, err), 0);
    assert_int_equal(m.batch_type, 1);
    assert_int_equal(m.nstmts, 2);
    assert_int_equal(m.stmts[0].prepared, 0);
    assert_string_equal(m.stmts[0].query, "INSERT INTO t (k) VALUES (?)");
    assert_int_equal(m.stmts[0].nvalues, 1);
    assert_int_equal(m.stmts[1].prepared, 1);
    assert_int_equal(m.stmts[1].id_len, 16);
    assert_memory_equal(m.stmts[1].id, "0123456789abcdef", 16);
    assert_int_equal(m.params.consistency, SB_CL_ALL);
    assert_int_equal(m.params.has_timestamp, 1);
    assert_true(m.params.timestamp_us == 42);
    sb_cqlmsg_free(&m);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_BATCH, 0, b.data, n, &m, err), SB_EBADINPUT);
    b.data[0] = 9;
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_BATCH, 0, b.data, b.len, &m, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "batch type"));

    sb_buf_reset(&b);
    sb_cql_put_short_bytes(&b, (const uint8_t *)"0123456789abcdef", 16);
    sb_buf_put_u16be(&b, SB_CL_ONE);
    sb_buf_putc(&b, SB_CQLQ_VALUES | SB_CQLQ_PAGE_SIZE);
    sb_buf_put_u16be(&b, 1);
    sb_cql_put_bytes(&b, (const uint8_t *)"", 0);
    sb_buf_put_u32be(&b, 100);
    assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_EXECUTE, 0, b.data, b.len, &m, err), 0);
    assert_int_equal(m.id_len, 16);
    assert_int_equal(m.params.nvalues, 1);
    assert_int_equal(m.params.values[0].len, 0); /* empty, not null */
    assert_int_equal(m.params.page_size, 100);
    assert_null(m.params.names);
    sb_cqlmsg_free(&m);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(sb_cqlmsg_parse(SB_CQLOP_EXECUTE, 0, b.data, n, &m, err), SB_EBADINPUT);
    sb_buf_free(&b);
}

static void test_encode_simple(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cqlframe_put_ready(&b, 3), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "\x84\x00\x00\x03\x02\x00\x00\x00\x00", 9);

    sb_buf_reset(&b);
    const char *comp[] = {"lz4"};
    assert_int_equal(sb_cqlframe_put_supported(&b, -1, comp, 1), 0);
    sb_cqlframe_hdr h;
    sb_cqlframe_header(b.data, b.len, &h);
    assert_int_equal(h.opcode, SB_CQLOP_SUPPORTED);
    assert_int_equal(h.stream, -1);
    assert_int_equal(h.length, b.len - 9);
    assert_int_equal(b.data[9], 0); /* 3 keys */
    assert_int_equal(b.data[10], 3);
    assert_memory_equal(b.data + 11,
                        "\0\x0b"
                        "CQL_VERSION\0\x01\0\x05"
                        "3.4.5",
                        22);

    sb_buf_reset(&b);
    sb_cql_error e;
    memset(&e, 0, sizeof e);
    e.code = SB_CQL_ERR_ALREADY_EXISTS;
    strcpy(e.message, "Table ks.t already exists");
    strcpy(e.ks, "ks");
    strcpy(e.table, "t");
    assert_int_equal(sb_cqlframe_put_error(&b, 9, &e), 0);
    static const uint8_t want[] = "\x84\x00\x00\x09\x00\x00\x00\x00\x26"
                                  "\x00\x00\x24\x00\x00\x19Table ks.t already exists"
                                  "\x00\x02ks\x00\x01t";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);

    sb_buf_reset(&b);
    memset(&e, 0, sizeof e);
    e.code = SB_CQL_ERR_UNPREPARED;
    memcpy(e.unprepared_id, "0123456789abcdef", 16);
    assert_int_equal(sb_cqlframe_put_error(&b, 1, &e), 0);
    assert_int_equal(b.len, 9 + 4 + 2 + 2 + 16);
    assert_memory_equal(b.data + b.len - 16, "0123456789abcdef", 16);

    sb_buf_reset(&b);
    memset(&e, 0, sizeof e);
    e.code = SB_CQL_ERR_WRITE_TIMEOUT;
    e.consistency = SB_CL_QUORUM;
    e.alive = 1;
    e.required = 2;
    e.write_type = "BATCH";
    assert_int_equal(sb_cqlframe_put_error(&b, 1, &e), 0);
    static const uint8_t wt[] = "\x00\x00\x11\x00\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x02"
                                "\x00\x05"
                                "BATCH";
    assert_int_equal(b.len, 9 + sizeof wt - 1);
    assert_memory_equal(b.data + 9, wt, sizeof wt - 1);
    sb_buf_free(&b);
}

static void test_encode_rows(void **state)
{
    sb_cql_colspec cols[2] = {
        {"ks", "t", "k", {.id = SB_TYPE_INT}},
        {"ks", "t", "m", {.id = SB_TYPE_MAP, .a = SB_TYPE_TEXT, .b = SB_TYPE_DOUBLE}},
    };
    sb_value rows[4] = {{(const uint8_t *)"\0\0\0\1", 4},
                        SB_VALUE_NULL,
                        {(const uint8_t *)"\0\0\0\2", 4},
                        {(const uint8_t *)"", 0}};
    sb_cql_result r;
    memset(&r, 0, sizeof r);
    r.kind = SB_CQL_RESULT_ROWS;
    r.cols = cols;
    r.ncols = 2;
    r.rows = rows;
    r.nrows = 2;
    r.has_more = 1;
    r.paging_state = (const uint8_t *)"PS";
    r.paging_state_len = 2;
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cqlframe_put_result(&b, 5, &r, 0), 0);
    static const uint8_t want[] = "\x00\x00\x00\x02"                 /* Rows */
                                  "\x00\x00\x00\x03\x00\x00\x00\x02" /* global|more, 2 cols */
                                  "\x00\x00\x00\x02PS"
                                  "\x00\x02ks\x00\x01t"
                                  "\x00\x01k\x00\x09"
                                  "\x00\x01m\x00\x21\x00\x0d\x00\x07"
                                  "\x00\x00\x00\x02"
                                  "\x00\x00\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff"
                                  "\x00\x00\x00\x04\x00\x00\x00\x02\x00\x00\x00\x00";
    assert_int_equal(b.len, 9 + sizeof want - 1);
    assert_memory_equal(b.data + 9, want, sizeof want - 1);

    /* skip_metadata: No_metadata flag and the column count only */
    sb_buf_reset(&b);
    r.has_more = 0;
    assert_int_equal(sb_cqlframe_put_result(&b, 5, &r, 1), 0);
    assert_memory_equal(b.data + 9, "\0\0\0\x02\0\0\0\x04\0\0\0\x02\0\0\0\x02", 16);

    /* Empty result still carries the column metadata. */
    sb_buf_reset(&b);
    r.nrows = 0;
    assert_int_equal(sb_cqlframe_put_result(&b, 5, &r, 0), 0);
    assert_memory_equal(b.data + 9, "\0\0\0\x02\0\0\0\x01\0\0\0\x02\0\x02ks", 16);
    assert_memory_equal(b.data + b.len - 4, "\0\0\0\0", 4);

    /* Warnings travel in front of the body with the warning flag. */
    sb_buf_reset(&b);
    memset(&r, 0, sizeof r);
    r.kind = SB_CQL_RESULT_VOID;
    r.warning = "careful";
    assert_int_equal(sb_cqlframe_put_result(&b, 5, &r, 0), 0);
    assert_int_equal(b.data[1], SB_CQLFLAG_WARNING);
    assert_memory_equal(b.data + 9,
                        "\0\x01\0\x07"
                        "careful\0\0\0\x01",
                        15);

    sb_buf_reset(&b);
    memset(&r, 0, sizeof r);
    r.kind = SB_CQL_RESULT_SCHEMA_CHANGE;
    r.change_type = "CREATED";
    r.target = "TABLE";
    r.sc_keyspace = "ks";
    r.sc_name = "t";
    assert_int_equal(sb_cqlframe_put_result(&b, 5, &r, 0), 0);
    static const uint8_t sc[] = "\0\0\0\x05\0\x07"
                                "CREATED\0\x05"
                                "TABLE\0\x02ks\0\x01t";
    assert_int_equal(b.len, 9 + sizeof sc - 1);
    assert_memory_equal(b.data + 9, sc, sizeof sc - 1);
    sb_buf_free(&b);
}

static void test_encode_prepared(void **state)
{
    sb_cql_colspec binds[3] = {
        {"ks", "t", "c", {.id = SB_TYPE_TEXT}},
        {"ks", "t", "k2", {.id = SB_TYPE_BIGINT}},
        {"ks", "t", "k1", {.id = SB_TYPE_INT}},
    };
    int pk[2] = {2, 1};
    sb_cql_prepared p;
    memset(&p, 0, sizeof p);
    memcpy(p.id, "0123456789abcdef", 16);
    p.nbinds = 3;
    p.binds = binds;
    p.npk_binds = 2;
    p.pk_binds = pk;
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cqlframe_put_prepared(&b, 1, &p), 0);
    static const uint8_t want[] = "\0\0\0\x04\0\x10"
                                  "0123456789abcdef"
                                  "\0\0\0\x01\0\0\0\x03\0\0\0\x02\0\x02\0\x01"
                                  "\0\x02ks\0\x01t"
                                  "\0\x01"
                                  "c\0\x0d\0\x02k2\0\x02\0\x02k1\0\x09"
                                  "\0\0\0\x04\0\0\0\0";
    assert_int_equal(b.len, 9 + sizeof want - 1);
    assert_memory_equal(b.data + 9, want, sizeof want - 1);
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_header_versions),
        cmocka_unit_test(test_parse_query),
        cmocka_unit_test(test_parse_bad_values),
        cmocka_unit_test(test_parse_startup_register_options),
        cmocka_unit_test(test_parse_batch_execute),
        cmocka_unit_test(test_encode_simple),
        cmocka_unit_test(test_encode_rows),
        cmocka_unit_test(test_encode_prepared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
