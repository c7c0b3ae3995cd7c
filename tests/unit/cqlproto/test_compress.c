/* Unit tests for frame body compression (lz4 with Cassandra's length
 * prefix, snappy): round trips, size limits checked before allocating,
 * corrupt input rejected. */
#include "test.h"

#include <string.h>

#include "cqlproto/cqlproto.h"
#include "util/buf.h"
#include "util/err.h"

static void round_trip(int algo)
{
    sb_buf in, z, out;
    sb_buf_init(&in);
    sb_buf_init(&z);
    sb_buf_init(&out);
    for (int i = 0; i < 10000; i++)
        sb_buf_printf(&in, "row %d;", i % 37);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cql_compress(algo, in.data, in.len, &z), 0);
    assert_true(z.len < in.len / 2);
    assert_int_equal(sb_cql_decompress(algo, z.data, z.len, in.len, &out, err), 0);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    /* A limit below the decompressed size refuses before allocating. */
    sb_buf_reset(&out);
    assert_int_equal(sb_cql_decompress(algo, z.data, z.len, in.len - 1, &out, err), SB_ETOOBIG);
    assert_non_null(strstr(err, "exceeds maximum allowed length"));
    /* Corruption is an error, not a crash. */
    for (size_t i = 4; i < z.len; i += 7)
        z.data[i] ^= 0x5a;
    sb_buf_reset(&out);
    int rc = sb_cql_decompress(algo, z.data, z.len, in.len, &out, err);
    assert_true(rc == SB_EBADINPUT || (rc == 0 && out.len == in.len));
    /* Empty bodies. */
    sb_buf_reset(&z);
    sb_buf_reset(&out);
    assert_int_equal(sb_cql_compress(algo, NULL, 0, &z), 0);
    assert_int_equal(sb_cql_decompress(algo, z.data, z.len, 10, &out, err), 0);
    assert_int_equal(out.len, 0);
    sb_buf_free(&in);
    sb_buf_free(&z);
    sb_buf_free(&out);
}

static void test_lz4(void **state)
{
    round_trip(SB_CQLCOMP_LZ4);
    char err[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cql_decompress(SB_CQLCOMP_LZ4, (const uint8_t *)"\0\0", 2, 100, &out, err),
                     SB_EBADINPUT);
    /* A 4 GiB claim in a tiny frame. */
    assert_int_equal(sb_cql_decompress(SB_CQLCOMP_LZ4, (const uint8_t *)"\xff\xff\xff\xff\x00", 5,
                                       1 << 24, &out, err),
                     SB_ETOOBIG);
    sb_buf_free(&out);
}

static void test_snappy(void **state)
{
    round_trip(SB_CQLCOMP_SNAPPY);
    char err[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cql_decompress(SB_CQLCOMP_SNAPPY, (const uint8_t *)"\xff\xff\xff\xff\x0f",
                                       5, 1 << 24, &out, err),
                     SB_ETOOBIG);
    assert_int_equal(
        sb_cql_decompress(SB_CQLCOMP_SNAPPY, (const uint8_t *)"\xff", 1, 100, &out, err),
        SB_EBADINPUT);
    sb_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lz4),
        cmocka_unit_test(test_snappy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
