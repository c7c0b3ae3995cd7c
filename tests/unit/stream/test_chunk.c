/* The stream codec (stream/stream.h): pull requests and chunks round-trip,
 * and the strict decoders refuse every truncation, trailing byte, flipped
 * bit, unsorted or out-of-range row. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "net/transport.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/wire.h"

static const uint8_t TABLE[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A raw key with the token's bits first, as store.h lays keys out. */
static void mkkey(uint8_t k[10], int64_t token, uint8_t tail)
{
    uint64_t bits = (uint64_t)token ^ 0x8000000000000000ull;
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(bits >> (56 - 8 * i));
    k[8] = 0x30;
    k[9] = tail;
}

static void build(sb_buf *out, const int64_t *tokens, int n, int last)
{
    static uint8_t keys[16][10];
    sb_buf_reset(out);
    assert_int_equal(sb_stream_chunk_begin(out, TABLE, SB_STREAM_OK), 0);
    for (int i = 0; i < n; i++) {
        mkkey(keys[i], tokens[i], (uint8_t)i);
        sb_raw e = {keys[i], 10, (const uint8_t *)"value", 5};
        assert_int_equal(sb_stream_chunk_add(out, &e), 0);
    }
    assert_int_equal(sb_stream_chunk_end(out, 0, (uint32_t)n, last), 0);
}

/* Rewrites the checksum so that a test reaches the checks behind it. */
static void reseal(sb_buf *b)
{
    sb_be32_put(b->data + b->len - 4, sb_crc32c(0, b->data, b->len - 4));
}

static void test_req_roundtrip_and_strict(void **state)
{
    (void)state;
    uint8_t cur[10];
    mkkey(cur, 42, 0);
    sb_stream_req q = {
        .range = {-100, 100}, .cursor = cur, .cursor_len = 10, .max_bytes = 4096, .max_rows = 7};
    memcpy(q.table_id, TABLE, 16);
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_stream_req_encode(&b, &q), 0);
    sb_stream_req d;
    assert_int_equal(sb_stream_req_decode(b.data, b.len, &d), 0);
    assert_memory_equal(d.table_id, TABLE, 16);
    assert_true(d.range.start == -100 && d.range.end == 100);
    assert_int_equal(d.cursor_len, 10);
    assert_memory_equal(d.cursor, cur, 10);
    assert_int_equal(d.max_bytes, 4096);
    assert_int_equal(d.max_rows, 7);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(sb_stream_req_decode(b.data, n, &d), SB_EBADINPUT);
    sb_buf_putc(&b, 0);
    assert_int_equal(sb_stream_req_decode(b.data, b.len, &d), SB_EBADINPUT);
    b.len--;
    b.data[0] = 9; /* version */
    assert_int_equal(sb_stream_req_decode(b.data, b.len, &d), SB_EBADINPUT);
    /* an empty range, and a cursor too short to hold a token */
    q.range = (sb_stream_range){5, 5};
    sb_buf_reset(&b);
    sb_stream_req_encode(&b, &q);
    assert_int_equal(sb_stream_req_decode(b.data, b.len, &d), SB_EBADINPUT);
    q.range = (sb_stream_range){0, 5};
    q.cursor_len = 3;
    sb_buf_reset(&b);
    sb_stream_req_encode(&b, &q);
    assert_int_equal(sb_stream_req_decode(b.data, b.len, &d), SB_EBADINPUT);
    sb_buf_free(&b);
}

static void test_chunk_roundtrip(void **state)
{
    (void)state;
    sb_buf b;
    sb_buf_init(&b);
    int64_t t[3] = {-5, 10, 10};
    build(&b, t, 3, 1);
    sb_stream_range r = {-10, 10};
    sb_stream_chunk c;
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), 0);
    assert_int_equal(c.nrows, 3);
    assert_int_equal(c.last, 1);
    assert_int_equal(c.status, SB_STREAM_OK);
    assert_memory_equal(c.table_id, TABLE, 16);
    assert_int_equal(c.bytes, 3 * 15);
    assert_int_equal(sb_raw_token(c.rows[1].key, c.rows[1].klen), 10);
    assert_memory_equal(c.rows[2].val, "value", 5);
    sb_stream_chunk_free(&c);
    /* an empty chunk that is not the last */
    build(&b, t, 0, 0);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), 0);
    assert_int_equal(c.nrows, 0);
    assert_int_equal(c.last, 0);
    sb_stream_chunk_free(&c);
    sb_buf_free(&b);
}

static void test_chunk_damage_refused(void **state)
{
    (void)state;
    sb_buf b;
    sb_buf_init(&b);
    int64_t t[2] = {1, 2};
    build(&b, t, 2, 0);
    sb_stream_chunk c;
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(sb_stream_chunk_decode(b.data, n, NULL, NULL, 0, &c), 0);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.data[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(sb_stream_chunk_decode(b.data, b.len, NULL, NULL, 0, &c), SB_ECORRUPT);
            b.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* trailing bytes, even with a checksum that covers them */
    sb_buf_put_u32be(&b, 0);
    reseal(&b);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, NULL, NULL, 0, &c), SB_EBADINPUT);
    sb_buf_free(&b);
}

static void test_chunk_content_checked(void **state)
{
    (void)state;
    sb_buf b;
    sb_buf_init(&b);
    sb_stream_chunk c;
    sb_stream_range r = {0, 100};
    int64_t unsorted[2] = {50, 20};
    build(&b, unsorted, 2, 0);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    int64_t outside[2] = {50, 101};
    build(&b, outside, 2, 0);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    int64_t at_start[1] = {0}; /* (start, end]: start is not in it */
    build(&b, at_start, 1, 0);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    /* rows must come after the cursor */
    int64_t ok[2] = {30, 40};
    build(&b, ok, 2, 0);
    uint8_t cur[10];
    mkkey(cur, 30, 0); /* equal to the first row's key */
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, cur, 10, &c), SB_EBADINPUT);
    mkkey(cur, 29, 9);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, cur, 10, &c), 0);
    sb_stream_chunk_free(&c);
    /* unknown flags, a status with rows, a row count beyond the bytes */
    build(&b, ok, 2, 0);
    b.data[6] = 2;
    reseal(&b);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    build(&b, ok, 2, 0);
    b.data[5] = SB_STREAM_NO_TABLE;
    reseal(&b);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    build(&b, ok, 2, 0);
    sb_be32_put(b.data + 23, 0xffffffffu);
    reseal(&b);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, &r, NULL, 0, &c), SB_EBADINPUT);
    /* a key too short to hold a token */
    sb_buf_reset(&b);
    sb_stream_chunk_begin(&b, TABLE, 0);
    sb_raw e = {(const uint8_t *)"abc", 3, (const uint8_t *)"v", 1};
    sb_stream_chunk_add(&b, &e);
    sb_stream_chunk_end(&b, 0, 1, 1);
    assert_int_equal(sb_stream_chunk_decode(b.data, b.len, NULL, NULL, 0, &c), SB_EBADINPUT);
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_roundtrip_and_strict),
        cmocka_unit_test(test_chunk_roundtrip),
        cmocka_unit_test(test_chunk_damage_refused),
        cmocka_unit_test(test_chunk_content_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
