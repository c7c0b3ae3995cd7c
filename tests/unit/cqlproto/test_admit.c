/* Connection admission (cqlproto/admit.h): the total and per-address
 * limits, counting by IP alone, forgetting addresses whose last
 * connection went (however many come and go), and allocation failure. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cqlproto/admit.h"
#include "util/alloc.h"

static struct sockaddr_storage v4(uint32_t host_order_ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(host_order_ip);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_total_limit(void **state)
{
    cqlp_admit a;
    cqlp_admit_init(&a, 3, -1);
    struct sockaddr_storage x = v4(0x7f000001, 1000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cqlp_admit_open(&a, SA(x)), CQLP_ADMIT_OK);
    struct sockaddr_storage y = v4(0x7f000002, 1000);
    assert_int_equal(cqlp_admit_open(&a, SA(y)), CQLP_ADMIT_TOTAL);
    assert_int_equal(a.total, 3);
    assert_int_equal(cqlp_admit_count(&a, SA(y)), 0); /* a refusal counts nothing */
    cqlp_admit_release(&a, SA(x));
    assert_int_equal(cqlp_admit_open(&a, SA(y)), CQLP_ADMIT_OK);
    assert_int_equal(cqlp_admit_count(&a, SA(x)), 2);
    assert_int_equal(cqlp_admit_count(&a, SA(y)), 1);
    cqlp_admit_close(&a);
}

static void test_per_ip_limit_ignores_ports(void **state)
{
    cqlp_admit a;
    cqlp_admit_init(&a, -1, 2);
    struct sockaddr_storage p1 = v4(0x7f000002, 1), p2 = v4(0x7f000002, 2), p3 = v4(0x7f000002, 3);
    struct sockaddr_storage other = v4(0x7f000003, 1);
    assert_int_equal(cqlp_admit_open(&a, SA(p1)), CQLP_ADMIT_OK);
    assert_int_equal(cqlp_admit_open(&a, SA(p2)), CQLP_ADMIT_OK);
    assert_int_equal(cqlp_admit_open(&a, SA(p3)), CQLP_ADMIT_PER_IP);
    assert_int_equal(cqlp_admit_open(&a, SA(other)), CQLP_ADMIT_OK);
    assert_int_equal(cqlp_admit_count(&a, SA(p3)), 2);
    /* IPv6 ::ffff:127.0.0.2 is another key than 127.0.0.2 */
    struct sockaddr_storage s6;
    memset(&s6, 0, sizeof s6);
    struct sockaddr_in6 *x = (struct sockaddr_in6 *)&s6;
    x->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.2", &x->sin6_addr), 1);
    assert_int_equal(cqlp_admit_open(&a, SA(s6)), CQLP_ADMIT_OK);
    cqlp_admit_release(&a, SA(p1));
    assert_int_equal(cqlp_admit_open(&a, SA(p3)), CQLP_ADMIT_OK);
    /* releasing an address that was never admitted changes nothing */
    struct sockaddr_storage never = v4(0x0a000001, 1);
    cqlp_admit_release(&a, SA(never));
    assert_int_equal(a.total, 4);
    cqlp_admit_close(&a);
}

/* Thousands of addresses come and go in an order unrelated to their
 * arrival: every count stays exact and the table empties. */
static void test_many_addresses_churn(void **state)
{
    enum { N = 3000 };
    cqlp_admit a;
    cqlp_admit_init(&a, -1, 3);
    for (int round = 0; round < 2; round++)
        for (uint32_t i = 0; i < N; i++) {
            struct sockaddr_storage s = v4(0x0a000000 + i * 7919u, 9);
            assert_int_equal(cqlp_admit_open(&a, SA(s)), CQLP_ADMIT_OK);
        }
    assert_int_equal(a.total, 2 * N);
    assert_int_equal(a.used, N);
    assert_true(a.used * 2 <= a.cap);
    /* release every address once, in a stride order, then check */
    for (uint32_t k = 0; k < N; k++) {
        uint32_t i = (k * 1237u) % N; /* 1237 is prime to 3000: a permutation */
        struct sockaddr_storage s = v4(0x0a000000 + i * 7919u, 9);
        cqlp_admit_release(&a, SA(s));
    }
    for (uint32_t i = 0; i < N; i++) {
        struct sockaddr_storage s = v4(0x0a000000 + i * 7919u, 9);
        assert_int_equal(cqlp_admit_count(&a, SA(s)), 1);
    }
    for (uint32_t k = 0; k < N; k++) {
        uint32_t i = (k * 2003u) % N;
        struct sockaddr_storage s = v4(0x0a000000 + i * 7919u, 9);
        cqlp_admit_release(&a, SA(s));
        if (k % 500 == 0) /* the ones not yet released are still found */
            for (uint32_t j = k + 1; j < N; j += 97) {
                uint32_t m = (j * 2003u) % N;
                struct sockaddr_storage t = v4(0x0a000000 + m * 7919u, 9);
                assert_int_equal(cqlp_admit_count(&a, SA(t)), 1);
            }
    }
    assert_int_equal(a.total, 0);
    assert_int_equal(a.used, 0);
    for (size_t i = 0; i < a.cap; i++)
        assert_int_equal(a.slots[i].count, 0);
    cqlp_admit_close(&a);
}

static void test_out_of_memory_refuses_and_counts_nothing(void **state)
{
    cqlp_admit a;
    cqlp_admit_init(&a, -1, -1);
    struct sockaddr_storage s = v4(0x7f000001, 1);
    sb_alloc_fail_after(0);
    assert_int_equal(cqlp_admit_open(&a, SA(s)), CQLP_ADMIT_NOMEM);
    assert_int_equal(a.total, 0);
    assert_int_equal(cqlp_admit_open(&a, SA(s)), CQLP_ADMIT_OK);
    /* growing the table fails: new addresses are refused, known ones
     * (which need no slot) are still admitted */
    for (uint32_t i = 1; i < 8; i++) {
        struct sockaddr_storage t = v4(0x7f000001 + i, 1);
        assert_int_equal(cqlp_admit_open(&a, SA(t)), CQLP_ADMIT_OK);
    }
    struct sockaddr_storage ninth = v4(0x7f0000ff, 1);
    sb_alloc_fail_after(0);
    assert_int_equal(cqlp_admit_open(&a, SA(ninth)), CQLP_ADMIT_NOMEM);
    sb_alloc_fail_after(0);
    assert_int_equal(cqlp_admit_open(&a, SA(s)), CQLP_ADMIT_OK);
    sb_alloc_reset(); /* the failure armed above was never reached */
    assert_int_equal(a.total, 9);
    assert_int_equal(cqlp_admit_open(&a, SA(ninth)), CQLP_ADMIT_OK);
    cqlp_admit_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_total_limit),
        cmocka_unit_test(test_per_ip_limit_ignores_ports),
        cmocka_unit_test(test_many_addresses_churn),
        cmocka_unit_test(test_out_of_memory_refuses_and_counts_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
