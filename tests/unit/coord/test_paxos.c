/*
 * The Paxos pieces of lightweight transactions that need no network:
 * ballot order and generation (a proposer's ballots strictly increase,
 * also when the clock stands still or steps back, and jump past a higher
 * promise seen), the acceptor's rules (coord/paxos_int.h) and the
 * durable form of a partition's state.
 */
#include "test.h"

#include <string.h>

#include "coord/paxos_int.h"
#include "util/err.h"

static void test_ballot_order(void **state)
{
    sb_ballot zero = {0, 0}, a = {10, 5}, b = {10, 6}, c = {11, 0};
    assert_true(paxos_ballot_cmp(&zero, &a) < 0);
    assert_true(paxos_ballot_cmp(&a, &b) < 0); /* same time: the node bits decide */
    assert_true(paxos_ballot_cmp(&b, &c) < 0); /* time first */
    assert_int_equal(paxos_ballot_cmp(&b, &b), 0);
    assert_true(paxos_ballot_is_zero(&zero));
    assert_false(paxos_ballot_is_zero(&a));
}

static void test_ballots_strictly_increase(void **state)
{
    sb_ballot last = {0, 0};
    sb_ballot prev = paxos_ballot_next(&last, NULL, 1000, 7);
    assert_int_equal(prev.us, 1000);
    assert_int_equal(prev.node, 7);
    /* the clock stands still, then steps back: still increasing */
    int64_t clock[] = {1000, 1000, 999, 500, 1001, 5000};
    for (size_t i = 0; i < sizeof clock / sizeof clock[0]; i++) {
        sb_ballot b = paxos_ballot_next(&last, NULL, clock[i], 7);
        assert_true(paxos_ballot_cmp(&prev, &b) < 0);
        prev = b;
    }
    /* a refusal showed a promise far ahead: the next ballot passes it */
    sb_ballot floor = {90000, 99};
    sb_ballot b = paxos_ballot_next(&last, &floor, 6000, 7);
    assert_true(paxos_ballot_cmp(&floor, &b) < 0);
    assert_true(paxos_ballot_cmp(&prev, &b) < 0);
}

static void test_acceptor_rules(void **state)
{
    paxos_state s;
    paxos_state_init(&s);
    int ok, err;
    sb_ballot b1 = {100, 1}, b2 = {200, 2}, b0 = {50, 3};
    /* prepare: promise only a higher ballot */
    assert_int_equal(paxos_on_prepare(&s, &b1, &ok), 1);
    assert_int_equal(ok, 1);
    assert_int_equal(paxos_on_prepare(&s, &b1, &ok), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(paxos_on_prepare(&s, &b0, &ok), 0);
    assert_int_equal(ok, 0);
    /* propose: accept at or above the promise */
    assert_int_equal(paxos_on_propose(&s, &b0, (const uint8_t *)"x", 1, &ok, &err), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(paxos_on_propose(&s, &b1, (const uint8_t *)"m1", 2, &ok, &err), 1);
    assert_int_equal(ok, 1);
    assert_int_equal(paxos_ballot_cmp(&s.accepted, &b1), 0);
    assert_memory_equal(s.accepted_mut.data, "m1", 2);
    /* a higher prepare keeps the accepted proposal (it is reported) */
    assert_int_equal(paxos_on_prepare(&s, &b2, &ok), 1);
    assert_int_equal(ok, 1);
    assert_int_equal(paxos_ballot_cmp(&s.accepted, &b1), 0);
    assert_int_equal(paxos_on_propose(&s, &b1, (const uint8_t *)"m9", 2, &ok, &err), 0);
    assert_int_equal(ok, 0);
    /* commit of b1: recorded, the accepted b1 is done */
    assert_int_equal(paxos_on_commit(&s, &b1, (const uint8_t *)"m1", 2, &err), 1);
    assert_int_equal(paxos_ballot_cmp(&s.committed, &b1), 0);
    assert_true(paxos_ballot_is_zero(&s.accepted));
    assert_int_equal(s.accepted_mut.len, 0);
    /* b2 accepted, then a late commit of b1 again changes nothing */
    assert_int_equal(paxos_on_propose(&s, &b2, (const uint8_t *)"m2", 2, &ok, &err), 1);
    assert_int_equal(paxos_on_commit(&s, &b1, (const uint8_t *)"m1", 2, &err), 0);
    assert_int_equal(paxos_ballot_cmp(&s.accepted, &b2), 0);
    /* committing an older ballot than the accepted keeps the accepted */
    sb_ballot b15 = {150, 1};
    assert_int_equal(paxos_on_commit(&s, &b15, (const uint8_t *)"mx", 2, &err), 1);
    assert_int_equal(paxos_ballot_cmp(&s.accepted, &b2), 0);
    paxos_state_free(&s);
}

static void test_state_round_trip(void **state)
{
    paxos_state s, t;
    paxos_state_init(&s);
    paxos_state_init(&t);
    int ok, err;
    sb_ballot b1 = {100, 1}, b2 = {200, 2};
    paxos_on_prepare(&s, &b2, &ok);
    paxos_on_propose(&s, &b2, (const uint8_t *)"acc", 3, &ok, &err);
    paxos_on_commit(&s, &b1, (const uint8_t *)"com!", 4, &err);
    sb_buf enc;
    sb_buf_init(&enc);
    assert_int_equal(paxos_state_encode(&s, &enc), 0);
    assert_int_equal(paxos_state_decode(&t, enc.data, enc.len), 0);
    assert_int_equal(paxos_ballot_cmp(&t.promised, &b2), 0);
    assert_int_equal(paxos_ballot_cmp(&t.accepted, &b2), 0);
    assert_int_equal(paxos_ballot_cmp(&t.committed, &b1), 0);
    assert_int_equal(t.accepted_mut.len, 3);
    assert_memory_equal(t.committed_mut.data, "com!", 4);
    /* every truncation is refused, never read past */
    for (size_t n = 0; n < enc.len; n++)
        assert_int_equal(paxos_state_decode(&t, enc.data, n), SB_EBADINPUT);
    sb_buf_free(&enc);
    paxos_state_free(&s);
    paxos_state_free(&t);
}

static void test_kv_keys_do_not_prefix_each_other(void **state)
{
    /* A state is found by a prefix scan of its key: a partition key that
     * extends another must not share its durable key as a prefix. */
    uint8_t tid[16] = {1};
    sb_buf a, b;
    sb_buf_init(&a);
    sb_buf_init(&b);
    assert_int_equal(paxos_kv_key(&a, tid, (const uint8_t *)"ab", 2), 0);
    assert_int_equal(paxos_kv_key(&b, tid, (const uint8_t *)"abc", 3), 0);
    assert_true(b.len > a.len);
    assert_true(memcmp(a.data, b.data, a.len) != 0);
    assert_memory_equal(a.data, PAXOS_KV_PREFIX, strlen(PAXOS_KV_PREFIX));
    sb_buf_free(&a);
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ballot_order),
        cmocka_unit_test(test_ballots_strictly_increase),
        cmocka_unit_test(test_acceptor_rules),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_kv_keys_do_not_prefix_each_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
