/* The committed topology: the state machine (apply, refusals, concurrent
 * joins), its commands and snapshot, pending ranges under SimpleStrategy
 * and NetworkTopologyStrategy, and the ranges a joining node gains. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/topology.h"
#include "util/err.h"

static sb_ep ep_of(int octet)
{
    sb_ep e;
    memset(&e, 0, sizeof e);
    e.family = 4;
    e.ip[0] = 127;
    e.ip[3] = (uint8_t)octet;
    e.port = 7000;
    return e;
}

/* A JOIN of 127.0.0.<octet> with the given tokens (n 0: allocated). */
static sb_topo_cmd join(int octet, const char *dc, int status, const int64_t *tok, int n)
{
    sb_topo_cmd c;
    memset(&c, 0, sizeof c);
    c.op = SB_TOPO_JOIN;
    c.ep = ep_of(octet);
    c.host_id[0] = (uint8_t)octet;
    snprintf(c.dc, sizeof c.dc, "%s", dc);
    snprintf(c.rack, sizeof c.rack, "r%d", octet % 2);
    c.status = status;
    c.num_tokens = 8;
    c.ntokens = n;
    if (n)
        memcpy(c.tokens, tok, sizeof(int64_t) * (size_t)n);
    return c;
}

static sb_topo_cmd simple_cmd(int op, int octet)
{
    sb_topo_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.ep = ep_of(octet);
    return c;
}

static int apply(sb_topo *t, uint64_t index, sb_topo_cmd c)
{
    char err[SB_ERRMSG_SIZE];
    return sb_topo_apply(t, index, &c, err);
}

static int status_of(const sb_topo *t, int octet)
{
    sb_ep e = ep_of(octet);
    const sb_topo_node *x = sb_topo_find(t, &e);
    return x ? x->status : 0;
}

static sb_repl simple(int rf)
{
    return (sb_repl){.kind = SB_REPL_SIMPLE, .rf = rf};
}

/* Three NORMAL nodes in dc1 at tokens -100/0/100 (one each). */
static void three_nodes(sb_topo *t)
{
    static const int64_t tok[3][1] = {{-100}, {0}, {100}};
    sb_topo_init(t);
    for (int i = 0; i < 3; i++)
        assert_int_equal(apply(t, (uint64_t)i + 1, join(i + 1, "dc1", SB_STATUS_NORMAL, tok[i], 1)),
                         0);
}

/* --- state machine ------------------------------------------------------------- */

static void test_life_cycle(void **state)
{
    sb_topo t;
    sb_topo_init(&t);
    char err[SB_ERRMSG_SIZE];
    sb_topo_cmd c = join(4, "dc1", SB_STATUS_JOINING, NULL, 0);
    assert_int_equal(sb_topo_apply(&t, 5, &c, err), 0);
    assert_non_null(strstr(err, "JOINING with 8 tokens"));
    assert_int_equal(status_of(&t, 4), SB_STATUS_JOINING);
    assert_int_equal(sb_topo_find(&t, &c.ep)->ntokens, 8);
    assert_int_equal(t.index, 5);
    assert_int_equal(apply(&t, 6, simple_cmd(SB_TOPO_JOINED, 4)), 0);
    assert_int_equal(status_of(&t, 4), SB_STATUS_NORMAL);
    assert_int_equal(apply(&t, 7, simple_cmd(SB_TOPO_LEAVE, 4)), 0);
    assert_int_equal(status_of(&t, 4), SB_STATUS_LEAVING);
    assert_int_equal(apply(&t, 8, simple_cmd(SB_TOPO_LEFT, 4)), 0);
    assert_int_equal(status_of(&t, 4), 0);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.changes, 4);
    assert_int_equal(t.index, 8);
    sb_topo_close(&t);
}

static void test_refusals_change_nothing(void **state)
{
    sb_topo t;
    three_nodes(&t);
    char err[SB_ERRMSG_SIZE];
    int64_t held[2] = {5, 100};
    sb_topo_cmd c = join(4, "dc1", SB_STATUS_JOINING, held, 2);
    assert_int_equal(sb_topo_apply(&t, 10, &c, err), SB_EEXISTS);
    assert_non_null(strstr(err, "token 100 is held by 127.0.0.3"));
    assert_int_equal(t.n, 3);
    assert_int_equal(t.index, 3); /* a refused entry does not move the index */

    int64_t twice[2] = {7, 7};
    c = join(4, "dc1", SB_STATUS_JOINING, twice, 2);
    assert_int_equal(sb_topo_apply(&t, 10, &c, err), SB_EINVALID);
    c = join(4, "dc1", SB_STATUS_LEAVING, NULL, 0);
    assert_int_equal(sb_topo_apply(&t, 10, &c, err), SB_EINVALID);

    /* another host at a member's endpoint */
    c = join(1, "dc1", SB_STATUS_JOINING, NULL, 0);
    c.host_id[1] = 9;
    assert_int_equal(sb_topo_apply(&t, 10, &c, err), SB_EEXISTS);
    /* the same host again (a retried proposal): applied, nothing changed */
    c.host_id[1] = 0;
    uint64_t changes = t.changes;
    assert_int_equal(sb_topo_apply(&t, 11, &c, err), 0);
    assert_string_equal(err, "");
    assert_int_equal(t.changes, changes);

    assert_int_equal(apply(&t, 12, simple_cmd(SB_TOPO_JOINED, 1)), 0); /* already NORMAL */
    assert_int_equal(apply(&t, 12, simple_cmd(SB_TOPO_JOINED, 9)), SB_ENOTFOUND);
    assert_int_equal(apply(&t, 12, simple_cmd(SB_TOPO_LEAVE, 1)), 0);
    assert_int_equal(
        sb_topo_apply(&t, 13, &(sb_topo_cmd){.op = SB_TOPO_JOINED, .ep = ep_of(1)}, err),
        SB_EINVALID);
    assert_non_null(strstr(err, "is LEAVING, not JOINING"));
    assert_int_equal(status_of(&t, 1), SB_STATUS_LEAVING);
    sb_topo_close(&t);
}

/* Two nodes asking for tokens at once: the log orders them, the second
 * allocation sees the first node's tokens, and every replica of the
 * state machine computes the same ones. */
static void test_concurrent_joins_never_share_tokens(void **state)
{
    for (uint64_t base = 1; base < 40; base++) {
        sb_topo a, b;
        three_nodes(&a);
        three_nodes(&b);
        sb_topo_cmd j4 = join(4, "dc1", SB_STATUS_JOINING, NULL, 0);
        sb_topo_cmd j5 = join(5, "dc1", SB_STATUS_JOINING, NULL, 0);
        j5.host_id[0] = j4.host_id[0]; /* same host id byte: only the index tells them apart */
        j5.host_id[1] = 1;
        assert_int_equal(apply(&a, base + 10, j4), 0);
        assert_int_equal(apply(&a, base + 11, j5), 0);
        assert_int_equal(apply(&b, base + 10, j4), 0);
        assert_int_equal(apply(&b, base + 11, j5), 0);
        assert_int_equal(a.n, 5);
        for (int i = 0; i < a.n; i++) {
            assert_int_equal(a.nodes[i].ntokens, b.nodes[i].ntokens);
            assert_memory_equal(a.nodes[i].tokens, b.nodes[i].tokens,
                                sizeof(int64_t) * (size_t)a.nodes[i].ntokens);
        }
        const sb_topo_node *n4 = sb_topo_find(&a, &j4.ep), *n5 = sb_topo_find(&a, &j5.ep);
        for (int i = 0; i < n4->ntokens; i++)
            for (int k = 0; k < n5->ntokens; k++)
                assert_true(n4->tokens[i] != n5->tokens[k]);
        sb_topo_close(&a);
        sb_topo_close(&b);
    }
}

/* --- commands and snapshots -------------------------------------------------------- */

static void test_cmd_round_trip(void **state)
{
    int64_t tok[3] = {-5, 9, 1LL << 40};
    sb_topo_cmd c = join(7, "east", SB_STATUS_JOINING, tok, 3), d;
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_topo_cmd_encode(&c, &b), 0);
    assert_int_equal(sb_topo_cmd_decode(b.data, b.len, &d), 0);
    assert_memory_equal(&c, &d, sizeof c);
    for (size_t cut = 0; cut < b.len; cut++)
        assert_int_equal(sb_topo_cmd_decode(b.data, cut, &d), SB_EBADINPUT);
    b.data[0] = 99;
    assert_int_equal(sb_topo_cmd_decode(b.data, b.len, &d), SB_EBADINPUT);
    sb_buf_free(&b);

    sb_buf_init(&b);
    c = simple_cmd(SB_TOPO_LEFT, 3);
    assert_int_equal(sb_topo_cmd_encode(&c, &b), 0);
    assert_int_equal(sb_topo_cmd_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.op, SB_TOPO_LEFT);
    assert_true(sb_ep_eq(&d.ep, &c.ep));
    sb_buf_free(&b);
}

static void test_snapshot_restore(void **state)
{
    sb_topo t;
    three_nodes(&t);
    assert_int_equal(apply(&t, 4, join(4, "dc2", SB_STATUS_JOINING, NULL, 0)), 0);
    assert_int_equal(apply(&t, 5, simple_cmd(SB_TOPO_LEAVE, 2)), 0);
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_topo_snapshot(&t, &b), 0);

    sb_topo r;
    sb_topo_init(&r);
    assert_int_equal(apply(&r, 1, join(9, "dc9", SB_STATUS_NORMAL, NULL, 0)), 0);
    assert_int_equal(sb_topo_restore(&r, b.data, b.len), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.index, 5);
    assert_int_equal(r.changes, t.changes);
    assert_int_equal(status_of(&r, 2), SB_STATUS_LEAVING);
    assert_int_equal(status_of(&r, 4), SB_STATUS_JOINING);
    assert_int_equal(status_of(&r, 9), 0);
    for (int i = 0; i < t.n; i++)
        assert_memory_equal(&t.nodes[i], &r.nodes[i], sizeof t.nodes[i]);

    /* a damaged snapshot leaves the state as it was */
    for (size_t cut = 0; cut < b.len; cut += 7)
        assert_int_equal(sb_topo_restore(&r, b.data, cut), SB_EBADINPUT);
    b.data[0] = 2; /* unknown version */
    assert_int_equal(sb_topo_restore(&r, b.data, b.len), SB_EBADINPUT);
    assert_int_equal(r.n, 4);
    assert_int_equal(status_of(&r, 2), SB_STATUS_LEAVING);
    sb_buf_free(&b);
    sb_topo_close(&r);
    sb_topo_close(&t);
}

/* --- pending ranges --------------------------------------------------------------- */

static int pending_octets(const sb_topo_pending *pd, const sb_repl *p, int64_t tok, int *oct)
{
    sb_ep e[SB_MAX_REPLICAS];
    int n = sb_topo_pending_eps(pd, p, tok, e, SB_MAX_REPLICAS);
    for (int i = 0; i < n; i++)
        oct[i] = e[i].ip[3];
    return n;
}

static void test_pending_simple(void **state)
{
    sb_topo t;
    three_nodes(&t);
    sb_topo_pending *pd;
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    assert_null(pd); /* nothing in flight */
    int64_t t4 = 50;
    assert_int_equal(apply(&t, 4, join(4, "dc1", SB_STATUS_JOINING, &t4, 1)), 0);
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    assert_non_null(pd);
    sb_repl rf1 = simple(1), rf2 = simple(2);
    int oct[SB_MAX_REPLICAS];
    /* (0, 50] moves from node 3 to node 4 */
    assert_int_equal(pending_octets(pd, &rf1, 30, oct), 1);
    assert_int_equal(oct[0], 4);
    assert_int_equal(pending_octets(pd, &rf1, 70, oct), 0);
    /* rf 2: node 4 also replicates (-100, 0], whose replicas are 2 and 3 */
    assert_int_equal(pending_octets(pd, &rf2, -50, oct), 1);
    assert_int_equal(oct[0], 4);
    assert_int_equal(pending_octets(pd, &rf2, 70, oct), 0);
    assert_int_equal(pending_octets(NULL, &rf2, -50, oct), 0);
    /* what a coordinator whose ring may lag sends to: current and pending */
    sb_ep we[SB_MAX_REPLICAS];
    assert_int_equal(sb_topo_write_eps(pd, &rf1, 30, we, SB_MAX_REPLICAS), 2);
    assert_int_equal(we[0].ip[3], 3);
    assert_int_equal(we[1].ip[3], 4);
    assert_int_equal(sb_topo_write_eps(pd, &rf1, 70, we, SB_MAX_REPLICAS), 1);
    assert_int_equal(we[0].ip[3], 3);
    assert_int_equal(sb_topo_write_eps(pd, &rf2, -50, we, SB_MAX_REPLICAS), 3);
    assert_int_equal(sb_topo_write_eps(pd, &rf2, -50, we, 2), 2); /* max holds */
    assert_int_equal(sb_topo_write_eps(NULL, &rf2, -50, we, SB_MAX_REPLICAS), 0);
    sb_topo_pending_free(pd);

    /* JOINED: nothing pending, and node 4 owns its range on the ring */
    assert_int_equal(apply(&t, 5, simple_cmd(SB_TOPO_JOINED, 4)), 0);
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    assert_null(pd);
    sb_ring *r = sb_topo_current_ring(&t);
    int idx[1];
    assert_int_equal(sb_ring_replicas(r, &rf1, 30, idx, 1), 1);
    assert_int_equal(sb_ring_node_at(r, idx[0])->ep.ip[3], 4);
    sb_ring_free(r);

    /* LEAVING: node 2's range (-100, 0] goes to node 3 (rf 1) */
    assert_int_equal(apply(&t, 6, simple_cmd(SB_TOPO_LEAVE, 2)), 0);
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    assert_int_equal(pending_octets(pd, &rf1, -10, oct), 1);
    assert_int_equal(oct[0], 4); /* the next token clockwise is 50 (node 4) */
    sb_ep e2 = ep_of(2);
    assert_string_equal(sb_topo_pending_dc(pd, &e2), "dc1"); /* only on the current ring */
    assert_int_equal(pending_octets(pd, &rf1, 10, oct), 0);
    sb_topo_pending_free(pd);
    sb_topo_close(&t);
}

/* Two joins in flight: each one's ranges are pending alone too, so that
 * a node finishing first never owns writes it did not get. */
static void test_pending_two_joins(void **state)
{
    sb_topo t;
    three_nodes(&t);
    int64_t t4 = 50, t5 = 40;
    assert_int_equal(apply(&t, 4, join(4, "dc1", SB_STATUS_JOINING, &t4, 1)), 0);
    assert_int_equal(apply(&t, 5, join(5, "dc1", SB_STATUS_JOINING, &t5, 1)), 0);
    sb_topo_pending *pd;
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    sb_repl rf1 = simple(1);
    int oct[SB_MAX_REPLICAS];
    /* token 45: node 4 owns it once both joined, node 4 alone as well;
     * token 30: node 5 with both, node 4 if node 4 finishes first */
    assert_int_equal(pending_octets(pd, &rf1, 45, oct), 1);
    assert_int_equal(oct[0], 4);
    assert_int_equal(pending_octets(pd, &rf1, 30, oct), 2);
    assert_int_equal(oct[0], 4);
    assert_int_equal(oct[1], 5);
    sb_topo_pending_free(pd);
    sb_topo_close(&t);
}

static void test_pending_nts(void **state)
{
    sb_topo t;
    sb_topo_init(&t);
    /* dc1: nodes 1, 3 (tokens -100, 100); dc2: nodes 2, 4 (-50, 50) */
    static const int64_t tok[5] = {0, -100, -50, 100, 50};
    for (int i = 1; i <= 4; i++)
        assert_int_equal(
            apply(&t, (uint64_t)i, join(i, i % 2 ? "dc1" : "dc2", SB_STATUS_NORMAL, &tok[i], 1)),
            0);
    int64_t t6 = 0; /* node 6 joins dc2 at 0, taking (-50, 0] from node 4 */
    assert_int_equal(apply(&t, 6, join(6, "dc2", SB_STATUS_JOINING, &t6, 1)), 0);
    sb_topo_pending *pd;
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    sb_repl p;
    memset(&p, 0, sizeof p);
    p.kind = SB_REPL_NTS;
    p.ndcs = 2;
    snprintf(p.dcs[0].dc, sizeof p.dcs[0].dc, "dc1");
    p.dcs[0].rf = 1;
    snprintf(p.dcs[1].dc, sizeof p.dcs[1].dc, "dc2");
    p.dcs[1].rf = 1;
    int oct[SB_MAX_REPLICAS];
    assert_int_equal(pending_octets(pd, &p, -20, oct), 1);
    assert_int_equal(oct[0], 6);
    sb_ep e6 = ep_of(6);
    assert_string_equal(sb_topo_pending_dc(pd, &e6), "dc2");
    assert_int_equal(pending_octets(pd, &p, 20, oct), 0);
    /* only dc1 replicates: a dc2 join changes nothing */
    p.dcs[1].rf = 0;
    assert_int_equal(pending_octets(pd, &p, -20, oct), 0);
    sb_topo_pending_free(pd);
    sb_topo_close(&t);
}

/* --- gained ranges and the bootstrap hook ----------------------------------------------- */

static void on_done(void *arg, int status)
{
    *(int *)arg = status + 1;
}

static void test_gains_and_default_bootstrap(void **state)
{
    sb_topo t;
    three_nodes(&t);
    int64_t t4 = 50;
    assert_int_equal(apply(&t, 4, join(4, "dc1", SB_STATUS_JOINING, &t4, 1)), 0);
    sb_repl rf2 = simple(2);
    sb_ep e4 = ep_of(4);
    sb_topo_range *g;
    int n;
    assert_int_equal(sb_topo_gains(&t, &rf2, &e4, &g, &n), 0);
    /* rf 2 on ring -100(1) 0(2) 50(4) 100(3): node 4 replicates (-100, 0] and (0, 50] */
    assert_int_equal(n, 2);
    assert_int_equal(g[0].start, -100);
    assert_int_equal(g[0].end, 0);
    assert_int_equal(g[0].nsources, 2);
    assert_int_equal(g[0].sources[0].ip[3], 2);
    assert_int_equal(g[0].sources[1].ip[3], 3);
    assert_int_equal(g[1].start, 0);
    assert_int_equal(g[1].end, 50);
    assert_int_equal(g[1].sources[0].ip[3], 3);
    assert_int_equal(g[1].sources[1].ip[3], 1);
    int called = 0;
    sb_topo_bootstrap_now(NULL, &t, &e4, on_done, &called);
    assert_int_equal(called, 1);
    free(g);
    sb_ep e1 = ep_of(1);
    assert_int_equal(sb_topo_gains(&t, &rf2, &e1, &g, &n), 0);
    assert_int_equal(n, 0); /* a NORMAL node gains nothing from a join */
    free(g);
    sb_topo_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_life_cycle),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_concurrent_joins_never_share_tokens),
        cmocka_unit_test(test_cmd_round_trip),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_pending_simple),
        cmocka_unit_test(test_pending_two_joins),
        cmocka_unit_test(test_pending_nts),
        cmocka_unit_test(test_gains_and_default_bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
