/* The node's event ring: sequence numbers, since=, wraparound, truncation. */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "metrics/events.h"

static void test_empty(void **state)
{
    sb_node_events *ev = sb_node_events_new(4);
    assert_non_null(ev);
    assert_int_equal(sb_node_events_last(ev), 0);
    assert_int_equal(sb_node_events_first(ev), 0);
    assert_int_equal(sb_node_events_start(ev, 0), 1);
    assert_null(sb_node_events_get(ev, 0));
    assert_null(sb_node_events_get(ev, 1));
    sb_node_events_free(ev);
    assert_null(sb_node_events_new(0));
}

static void test_since(void **state)
{
    sb_node_events *ev = sb_node_events_new(8);
    assert_int_equal(sb_node_events_add(ev, 100, "node_down", "127.0.0.2:7000", 0, "%s is down",
                                        "127.0.0.2:7000"),
                     1);
    assert_int_equal(sb_node_events_add(ev, 200, "hints_stored", "127.0.0.2:7000", 5, "5 hints"),
                     2);
    assert_int_equal(sb_node_events_add(ev, 300, "schema_change", NULL, 0, "x"), 3);
    assert_int_equal(sb_node_events_first(ev), 1);
    assert_int_equal(sb_node_events_last(ev), 3);
    /* since = the last seq the reader has */
    assert_int_equal(sb_node_events_start(ev, 0), 1);
    assert_int_equal(sb_node_events_start(ev, 2), 3);
    assert_int_equal(sb_node_events_start(ev, 3), 4); /* nothing new */
    const sb_node_event *e = sb_node_events_get(ev, 1);
    assert_non_null(e);
    assert_int_equal(e->seq, 1);
    assert_int_equal(e->time_ms, 100);
    assert_string_equal(e->type, "node_down");
    assert_string_equal(e->peer, "127.0.0.2:7000");
    assert_string_equal(e->message, "127.0.0.2:7000 is down");
    e = sb_node_events_get(ev, 2);
    assert_int_equal(e->count, 5);
    e = sb_node_events_get(ev, 3);
    assert_string_equal(e->peer, "");
    assert_null(sb_node_events_get(ev, 4));
    sb_node_events_free(ev);
}

static void test_wraparound(void **state)
{
    sb_node_events *ev = sb_node_events_new(4);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(sb_node_events_add(ev, i, "fault", NULL, 0, "event %d", i), (uint64_t)i);
    assert_int_equal(sb_node_events_first(ev), 7);
    assert_int_equal(sb_node_events_last(ev), 10);
    assert_null(sb_node_events_get(ev, 6)); /* overwritten */
    for (uint64_t s = 7; s <= 10; s++) {
        const sb_node_event *e = sb_node_events_get(ev, s);
        char want[32];
        snprintf(want, sizeof want, "event %d", (int)s);
        assert_non_null(e);
        assert_int_equal(e->seq, s);
        assert_string_equal(e->message, want);
    }
    /* a reader that fell behind gets what is left */
    assert_int_equal(sb_node_events_start(ev, 2), 7);
    assert_int_equal(sb_node_events_start(ev, 6), 7);
    assert_int_equal(sb_node_events_start(ev, 8), 9);
    /* a reader of an earlier run (seq beyond ours) gets everything held */
    assert_int_equal(sb_node_events_start(ev, 500), 7);
    sb_node_events_free(ev);
}

static void test_full_capacity_default(void **state)
{
    sb_node_events *ev = sb_node_events_new(SB_NODE_EVENTS_CAPACITY);
    for (int i = 0; i < SB_NODE_EVENTS_CAPACITY + 1; i++)
        sb_node_events_add(ev, i, "read_repair", NULL, 1, "r");
    assert_int_equal(sb_node_events_first(ev), 2);
    assert_int_equal(sb_node_events_last(ev), SB_NODE_EVENTS_CAPACITY + 1);
    sb_node_events_free(ev);
}

static void test_truncation(void **state)
{
    sb_node_events *ev = sb_node_events_new(2);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    sb_node_events_add(ev, 1, big, big, 0, "%s", big);
    const sb_node_event *e = sb_node_events_get(ev, 1);
    assert_int_equal(strlen(e->type), SB_NODE_EVENT_TYPE_MAX - 1);
    assert_int_equal(strlen(e->peer), SB_NODE_EVENT_PEER_MAX - 1);
    assert_int_equal(strlen(e->message), SB_NODE_EVENT_MSG_MAX - 1);
    sb_node_events_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_since),
        cmocka_unit_test(test_wraparound), cmocka_unit_test(test_full_capacity_default),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
