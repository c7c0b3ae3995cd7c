/* The MUTATION body codec (cluster/mutation.c): round trips, and every
 * truncation, oversized count or length, or trailing byte is refused. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "storage/mutation.h"
#include "util/err.h"
#include "util/wire.h"

static const uint8_t t1[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t t2[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

static void encode_three(sb_buf *b)
{
    sb_raw_mut m[3] = {
        {.table_id = t1, .e = {(const uint8_t *)"key-a", 5, (const uint8_t *)"value", 5}},
        {.table_id = t2, .e = {(const uint8_t *)"k", 1, NULL, 0}},
        {.table_id = t1, .e = {(const uint8_t *)"", 0, (const uint8_t *)"\0\1\2", 3}},
    };
    assert_int_equal(sb_mutation_encode(b, m, 3), 0);
}

static void test_round_trip(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    encode_three(&b);
    assert_int_equal(b.len, 4 + 3 * (16 + 4 + 4) + 5 + 5 + 1 + 3);
    sb_raw_mut *m;
    size_t n;
    assert_int_equal(sb_mutation_decode(b.data, b.len, &m, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(m[0].table_id, t1, 16);
    assert_int_equal(m[0].e.klen, 5);
    assert_memory_equal(m[0].e.key, "key-a", 5);
    assert_memory_equal(m[0].e.val, "value", 5);
    assert_memory_equal(m[1].table_id, t2, 16);
    assert_int_equal(m[1].e.vlen, 0);
    assert_int_equal(m[2].e.klen, 0);
    assert_int_equal(m[2].e.vlen, 3);
    assert_memory_equal(m[2].e.val, "\0\1\2", 3);
    /* Entries point into the input. */
    assert_true(m[0].e.key > b.data && m[0].e.key < b.data + b.len);
    free(m);
    sb_buf_free(&b);
}

static void test_empty(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_mutation_encode(&b, NULL, 0), 0);
    assert_int_equal(b.len, 4);
    sb_raw_mut *m;
    size_t n = 99;
    assert_int_equal(sb_mutation_decode(b.data, b.len, &m, &n), 0);
    assert_int_equal(n, 0);
    free(m);
    sb_buf_free(&b);
}

static void test_every_truncation_refused(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    encode_three(&b);
    for (size_t len = 0; len < b.len; len++) {
        /* A copy of exactly len bytes, so ASan sees any overread. */
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, b.data, len);
        sb_raw_mut *m = (sb_raw_mut *)1;
        size_t n = 7;
        assert_int_equal(sb_mutation_decode(p, len, &m, &n), SB_EBADINPUT);
        assert_null(m);
        assert_int_equal(n, 0);
        free(p);
    }
    sb_buf_free(&b);
}

static void test_trailing_and_oversized_refused(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    encode_three(&b);
    sb_raw_mut *m;
    size_t n;
    assert_int_equal(sb_buf_putc(&b, 0), 0);
    assert_int_equal(sb_mutation_decode(b.data, b.len, &m, &n), SB_EBADINPUT);
    b.len--;

    /* A count far beyond what the bytes can hold: refused before any
     * allocation of that size. */
    uint8_t big[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(sb_mutation_decode(big, sizeof(big), &m, &n), SB_EBADINPUT);

    /* A key length past the end. */
    b.data[4 + 16] = 0x7f;
    assert_int_equal(sb_mutation_decode(b.data, b.len, &m, &n), SB_EBADINPUT);
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_trailing_and_oversized_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
