#include "test.h"

#include <string.h>

#include "util/alloc.h"
#include "util/arena.h"

static void test_alignment_and_zeroing(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 256, 0);
    for (size_t n = 0; n < 40; n++) {
        uint8_t *p = sb_arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xee, n);
        uint8_t *z = sb_arena_calloc(&a, n);
        assert_int_equal((uintptr_t)z % 16, 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(z[i], 0);
    }
    sb_arena_close(&a);
    /* byte strings pack with no padding; the next aligned one is aligned */
    uint8_t *b1 = sb_arena_bytes(&a, 3), *b2 = sb_arena_bytes(&a, 5);
    assert_ptr_equal(b2, b1 + 3);
    uint8_t *p = sb_arena_alloc(&a, 1);
    assert_ptr_equal(p, b1 + 16);
    sb_arena_close(&a);
}

/* Allocations never move and never overlap, across many chunks. */
static void test_no_overlap(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 64, 0);
    uint8_t *ptr[500];
    size_t len[500];
    for (int i = 0; i < 500; i++) {
        len[i] = (size_t)(i * 7 % 90);
        ptr[i] = i % 2 ? sb_arena_bytes(&a, len[i]) : sb_arena_alloc(&a, len[i]);
        assert_non_null(ptr[i]);
        memset(ptr[i], i & 0xff, len[i]);
    }
    for (int i = 0; i < 500; i++)
        for (size_t j = 0; j < len[i]; j++)
            assert_int_equal(ptr[i][j], i & 0xff);
    sb_arena_close(&a);
    assert_null(a.head);
    assert_int_equal(a.total_bytes, 0);
}

/* A large allocation gets its own chunk below the current one, whose
 * free space later allocations still use. */
static void test_large_below_current(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 1024, 0);
    uint8_t *small = sb_arena_bytes(&a, 10);
    uint8_t *big = sb_arena_bytes(&a, 5000);
    uint8_t *next = sb_arena_bytes(&a, 10);
    assert_non_null(big);
    assert_ptr_equal(next, small + 10);
    assert_int_equal(a.total_bytes, 1024 + 5000);
    sb_arena_close(&a);
}

static void test_dup(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 0, 0);
    assert_int_equal(a.chunk_bytes, SB_ARENA_CHUNK_DEFAULT);
    char *s = sb_arena_strdup(&a, "sensor");
    assert_string_equal(s, "sensor");
    char *m = sb_arena_memdup(&a, "ab\0cd", 5);
    assert_memory_equal(m, "ab\0cd", 5);
    assert_int_equal(m[5], 0);
    char *e = sb_arena_memdup(&a, NULL, 0);
    assert_non_null(e);
    assert_int_equal(e[0], 0);
    sb_arena_close(&a);
}

/* A zeroed arena works without sb_arena_init (default chunks, no cap). */
static void test_zeroed_is_valid(void **state)
{
    sb_arena a;
    memset(&a, 0, sizeof a);
    char *s = sb_arena_strdup(&a, "x");
    assert_string_equal(s, "x");
    assert_int_equal(a.total_bytes, SB_ARENA_CHUNK_DEFAULT);
    assert_non_null(sb_arena_alloc(&a, 100));
    assert_int_equal(a.total_bytes, SB_ARENA_CHUNK_DEFAULT);
    sb_arena_close(&a);
}

static void test_cap(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 1000, 2500);
    assert_non_null(sb_arena_bytes(&a, 1000));
    assert_non_null(sb_arena_bytes(&a, 1000));
    /* a third chunk would pass the cap */
    assert_null(sb_arena_bytes(&a, 1));
    assert_null(sb_arena_alloc(&a, 3000));
    assert_int_equal(a.total_bytes, 2000);
    /* requests larger than the cap and absurd ones fail cleanly */
    sb_arena_close(&a);
    assert_null(sb_arena_bytes(&a, 2501));
    assert_null(sb_arena_alloc(&a, SIZE_MAX - 3));
    assert_null(sb_arena_memdup(&a, "", SIZE_MAX));
    assert_int_equal(a.total_bytes, 0);
    sb_arena_close(&a);
}

static void test_reset_keeps_one_chunk(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 128, 0);
    for (int i = 0; i < 20; i++)
        assert_non_null(sb_arena_alloc(&a, 100));
    assert_int_equal(a.total_bytes, 20 * 128);
    void *head = a.head;
    sb_arena_reset(&a);
    assert_ptr_equal(a.head, head);
    assert_int_equal(a.total_bytes, 128);
    /* reuses the kept chunk from its start */
    uint8_t *p = sb_arena_alloc(&a, 100);
    uint8_t *q = sb_arena_alloc(&a, 100);
    assert_ptr_not_equal(p, q);
    assert_int_equal(a.total_bytes, 256);
    sb_arena_close(&a);
    sb_arena_reset(&a); /* empty: nothing to do */
    assert_null(a.head);
}

/* An injected allocation failure is a NULL, and the arena stays usable. */
static void test_oom(void **state)
{
    sb_arena a;
    sb_arena_init(&a, 64, 0);
    assert_non_null(sb_arena_alloc(&a, 8));
    sb_alloc_fail_after(0);
    assert_null(sb_arena_alloc(&a, 100)); /* needs a chunk: fails */
    int failed = sb_alloc_failed_at(NULL, NULL);
    sb_alloc_reset();
    assert_true(failed);
    assert_int_equal(a.total_bytes, 64);
    assert_non_null(sb_arena_alloc(&a, 8)); /* fits the old chunk */
    assert_non_null(sb_arena_alloc(&a, 100));
    sb_arena_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_zeroing), cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_large_below_current),   cmocka_unit_test(test_dup),
        cmocka_unit_test(test_zeroed_is_valid),       cmocka_unit_test(test_cap),
        cmocka_unit_test(test_reset_keeps_one_chunk), cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
