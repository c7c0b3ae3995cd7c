/* The hybrid logical clock (util/hlc.h). */
#include "test.h"

#include <string.h>
#include <time.h>

#include "util/hlc.h"

static int64_t fake_wall;
static int64_t wall_fake(void)
{
    return fake_wall;
}

static void test_now_follows_wall_and_never_repeats(void **state)
{
    sb_hlc h;
    sb_hlc_init(&h, 2500000);
    h.wall_us = wall_fake;
    fake_wall = 1000000;
    assert_int_equal(sb_hlc_now(&h), 1000000);
    assert_int_equal(sb_hlc_now(&h), 1000001); /* same wall reading */
    fake_wall = 900000;                        /* the wall clock steps back */
    assert_int_equal(sb_hlc_now(&h), 1000002);
    assert_int_equal(sb_hlc_peek(&h), 1000002);
    fake_wall = 2000000;
    assert_int_equal(sb_hlc_peek(&h), 2000000);
    assert_int_equal(sb_hlc_now(&h), 2000000);
}

static void test_observe_bounded(void **state)
{
    sb_hlc h;
    sb_hlc_init(&h, 2500000);
    h.wall_us = wall_fake;
    fake_wall = 10000000;
    /* A peer 2 s ahead: adopted, the next timestamp is after its reading. */
    assert_int_equal(sb_hlc_observe(&h, 12000000), 0);
    assert_int_equal(sb_hlc_now(&h), 12000001);
    /* 60 s ahead: ignored and counted. */
    assert_int_equal(sb_hlc_observe(&h, 70000000), 1);
    assert_int_equal(atomic_load(&h.ignored), 1);
    assert_int_equal(sb_hlc_now(&h), 12000002);
    /* Behind: nothing changes. */
    assert_int_equal(sb_hlc_observe(&h, 5), 0);
    assert_int_equal(sb_hlc_now(&h), 12000003);
    sb_hlc_update(&h, 13000000);
    assert_int_equal(sb_hlc_now(&h), 13000001);
}

static void test_node_clock_is_real_time(void **state)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int64_t a = sb_hlc_now(sb_hlc_node()), b = sb_hlc_now(sb_hlc_node());
    assert_true(b > a);
    assert_true(a >= wall && a < wall + 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_follows_wall_and_never_repeats),
        cmocka_unit_test(test_observe_bounded),
        cmocka_unit_test(test_node_clock_is_real_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
