/* Which node refuses writes for its clock (node/clocks.h). */
#include "test.h"

#include "node/clocks.h"

static void test_judge(void **state)
{
    const int64_t hard = 2500000;
    /* This node 60 s behind both peers: it is the odd one out. */
    int64_t a[] = {60000000, 60000100};
    sb_clock_verdict v = sb_clock_judge(a, 2, hard);
    assert_int_equal(v.refuse, 1);
    assert_int_equal(v.nfar, 2);
    assert_true(v.worst_us == 60000100);
    /* One peer of two far off: the peer is the odd one, this node goes on. */
    int64_t b[] = {-60000000, 300};
    v = sb_clock_judge(b, 2, hard);
    assert_int_equal(v.refuse, 0);
    assert_int_equal(v.nfar, 1);
    /* Within the hard limit: nothing refused. */
    int64_t c[] = {2400000, -2400000, 0};
    v = sb_clock_judge(c, 3, hard);
    assert_int_equal(v.refuse, 0);
    assert_int_equal(v.nfar, 0);
    /* Two nodes far apart: each refuses (no majority to side with). */
    int64_t d[] = {-10000000};
    assert_int_equal(sb_clock_judge(d, 1, hard).refuse, 1);
    /* No peer measured: nothing to judge by. */
    assert_int_equal(sb_clock_judge(NULL, 0, hard).refuse, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
