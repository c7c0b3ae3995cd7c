/* Token ring: build, lookup edges, SimpleStrategy, rack-aware NTS,
 * replication options, ownership and balanced token allocation. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ring.h"
#include "util/err.h"

/* --- helpers ---------------------------------------------------------------- */

static sb_ring_node mknode(int last_octet, const char *dc, const char *rack, const int64_t *tokens,
                           int ntokens)
{
    sb_ring_node n;
    memset(&n, 0, sizeof n);
    n.ep.family = 4;
    n.ep.ip[0] = 127;
    n.ep.ip[3] = (uint8_t)last_octet;
    n.ep.port = 7000;
    n.host_id[0] = (uint8_t)last_octet;
    snprintf(n.dc, sizeof n.dc, "%s", dc);
    snprintf(n.rack, sizeof n.rack, "%s", rack);
    n.tokens = tokens;
    n.ntokens = ntokens;
    return n;
}

static int node_of(const sb_ring *r, int last_octet)
{
    for (int i = 0; i < sb_ring_nnodes(r); i++)
        if (sb_ring_node_at(r, i)->ep.ip[3] == last_octet)
            return i;
    return -1;
}

/* Replicas of token t as last octets, e.g. {1, 3}. */
static int reps_octets(const sb_ring *r, const sb_repl *p, int64_t t, int *oct, int max)
{
    int idx[SB_MAX_REPLICAS];
    int n = sb_ring_replicas(r, p, t, idx, max);
    for (int i = 0; i < n; i++)
        oct[i] = sb_ring_node_at(r, idx[i])->ep.ip[3];
    return n;
}

static sb_repl simple(int rf)
{
    sb_repl p;
    memset(&p, 0, sizeof p);
    p.kind = SB_REPL_SIMPLE;
    p.rf = rf;
    return p;
}

static sb_repl nts2(const char *dc1, int rf1, const char *dc2, int rf2)
{
    sb_repl p;
    memset(&p, 0, sizeof p);
    p.kind = SB_REPL_NTS;
    snprintf(p.dcs[0].dc, SB_DC_MAX, "%s", dc1);
    p.dcs[0].rf = rf1;
    p.ndcs = 1;
    if (dc2) {
        snprintf(p.dcs[1].dc, SB_DC_MAX, "%s", dc2);
        p.dcs[1].rf = rf2;
        p.ndcs = 2;
    }
    return p;
}

static uint64_t splitmix(void *arg)
{
    uint64_t *s = arg;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* --- build ------------------------------------------------------------------ */

static void test_build_sorts_and_copies(void **state)
{
    int64_t ta[] = {100, -100}, tb[] = {0}, tc[] = {50};
    sb_ring_node in[] = {mknode(3, "dc1", "r1", tc, 1), mknode(1, "dc1", "r1", ta, 2),
                         mknode(2, "dc1", "r1", tb, 1)};
    sb_ring *r = sb_ring_build(in, 3);
    assert_non_null(r);
    ta[0] = 7; /* the ring has its own copy */
    in[0].dc[0] = 'X';
    assert_int_equal(sb_ring_nnodes(r), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sb_ring_node_at(r, i)->ep.ip[3], i + 1); /* by endpoint */
    assert_string_equal(sb_ring_node_at(r, 2)->dc, "dc1");
    assert_int_equal(sb_ring_ntokens(r), 4);
    int64_t want[] = {-100, 0, 50, 100};
    int owner[] = {1, 2, 3, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sb_ring_token_at(r, i), want[i]);
        assert_int_equal(sb_ring_node_at(r, sb_ring_owner_at(r, i))->ep.ip[3], owner[i]);
    }
    const sb_ring_node *a = sb_ring_node_at(r, 0);
    assert_int_equal(a->ntokens, 2);
    assert_int_equal(a->tokens[0], -100); /* sorted */
    assert_int_equal(a->tokens[1], 100);
    sb_ep ep = sb_ring_node_at(r, 1)->ep;
    assert_int_equal(sb_ring_find(r, &ep), 1);
    ep.port = 7001;
    assert_int_equal(sb_ring_find(r, &ep), -1);
    sb_ring_free(r);
}

static void test_build_duplicates(void **state)
{
    /* Token 5 claimed by .2 and .1: .1 (first in ep order) keeps it. A
     * repeated endpoint keeps its first entry only. */
    int64_t t2[] = {5, 9}, t1[] = {5}, t1b[] = {77};
    sb_ring_node in[] = {mknode(2, "dc1", "r1", t2, 2), mknode(1, "dc1", "r1", t1, 1),
                         mknode(1, "dc1", "r1", t1b, 1)};
    sb_ring *r = sb_ring_build(in, 3);
    assert_non_null(r);
    assert_int_equal(sb_ring_nnodes(r), 2);
    assert_int_equal(sb_ring_ntokens(r), 2);
    assert_int_equal(sb_ring_token_at(r, 0), 5);
    assert_int_equal(sb_ring_owner_at(r, 0), node_of(r, 1));
    assert_int_equal(sb_ring_token_at(r, 1), 9);
    assert_int_equal(sb_ring_node_at(r, node_of(r, 2))->ntokens, 1);
    sb_ring_free(r);
}

static void test_build_bad_input(void **state)
{
    /* A node claiming tokens without an array owns none; more nodes than
     * the ring supports is refused (NULL), not a crash. */
    sb_ring_node in = mknode(1, "dc1", "r1", NULL, 5);
    sb_ring *r = sb_ring_build(&in, 1);
    assert_non_null(r);
    assert_int_equal(sb_ring_ntokens(r), 0);
    assert_int_equal(sb_ring_node_at(r, 0)->ntokens, 0);
    sb_ring_free(r);
    int many = 16385;
    sb_ring_node *big = calloc((size_t)many, sizeof *big);
    for (int i = 0; i < many; i++) {
        big[i] = mknode(1, "dc1", "r1", NULL, 0);
        big[i].ep.ip[2] = (uint8_t)(i >> 8);
        big[i].ep.ip[3] = (uint8_t)i;
    }
    assert_null(sb_ring_build(big, many));
    r = sb_ring_build(big, many - 1);
    assert_non_null(r);
    assert_int_equal(sb_ring_nnodes(r), many - 1);
    assert_int_equal(sb_ring_find(r, &big[300].ep), 300);
    sb_ring_free(r);
    free(big);
}

static void test_empty_ring(void **state)
{
    sb_ring *r = sb_ring_build(NULL, 0);
    assert_non_null(r);
    assert_int_equal(sb_ring_nnodes(r), 0);
    assert_int_equal(sb_ring_ntokens(r), 0);
    sb_repl p = simple(3);
    int out[4];
    assert_int_equal(sb_ring_replicas(r, &p, 0, out, 4), 0);
    sb_ring_free(r);
    sb_ring_free(NULL);
}

/* --- lookup edges --------------------------------------------------------- */

static void test_lookup_ranges_and_wrap(void **state)
{
    int64_t ta[] = {-100}, tb[] = {0}, tc[] = {100};
    sb_ring_node in[] = {mknode(1, "dc1", "r1", ta, 1), mknode(2, "dc1", "r1", tb, 1),
                         mknode(3, "dc1", "r1", tc, 1)};
    sb_ring *r = sb_ring_build(in, 3);
    sb_repl p = simple(1);
    struct {
        int64_t t;
        int owner;
    } cases[] = {
        {INT64_MIN, 1},            /* [-inf, t0] belongs to the first token */
        {-101, 1},      {-100, 1}, /* exactly on a token: that token's range */
        {-99, 2},       {0, 2},    {1, 3},
        {100, 3},       {101, 1}, /* (tn-1, +inf) wraps to the first token */
        {INT64_MAX, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int o[SB_MAX_REPLICAS];
        assert_int_equal(reps_octets(r, &p, cases[i].t, o, SB_MAX_REPLICAS), 1);
        assert_int_equal(o[0], cases[i].owner);
    }
    /* rf 2 from the wrapped range walks past the end to the start. */
    p = simple(2);
    int o[SB_MAX_REPLICAS];
    assert_int_equal(reps_octets(r, &p, 101, o, SB_MAX_REPLICAS), 2);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 2);
    assert_int_equal(reps_octets(r, &p, 50, o, SB_MAX_REPLICAS), 2);
    assert_int_equal(o[0], 3);
    assert_int_equal(o[1], 1);
    sb_ring_free(r);
}

static void test_lookup_extreme_tokens(void **state)
{
    /* Node tokens at both ends of the token space. */
    int64_t ta[] = {INT64_MIN}, tb[] = {INT64_MAX}, tc[] = {0};
    sb_ring_node in[] = {mknode(1, "dc1", "r1", ta, 1), mknode(2, "dc1", "r1", tb, 1),
                         mknode(3, "dc1", "r1", tc, 1)};
    sb_ring *r = sb_ring_build(in, 3);
    sb_repl p = simple(1);
    int o[SB_MAX_REPLICAS];
    reps_octets(r, &p, INT64_MIN, o, 1);
    assert_int_equal(o[0], 1);
    reps_octets(r, &p, INT64_MIN + 1, o, 1);
    assert_int_equal(o[0], 3);
    reps_octets(r, &p, 1, o, 1);
    assert_int_equal(o[0], 2);
    reps_octets(r, &p, INT64_MAX, o, 1);
    assert_int_equal(o[0], 2);
    /* Primary ownership: .1 owns only its own token, .3 (INT64_MIN, 0],
     * .2 (0, INT64_MAX]. */
    double own[3];
    sb_ring_ownership(r, NULL, own);
    assert_true(own[node_of(r, 1)] < 1e-15);
    assert_true(fabs(own[node_of(r, 3)] - 0.5) < 1e-12);
    assert_true(fabs(own[node_of(r, 2)] - 0.5) < 1e-12);
    sb_ring_free(r);
}

/* --- SimpleStrategy ------------------------------------------------------ */

static void test_simple_distinct_nodes(void **state)
{
    /* Vnodes: consecutive tokens of one node must not count twice. */
    int64_t ta[] = {10, 20, 60}, tb[] = {30, 70}, tc[] = {40, 50, 80}, td[] = {90};
    sb_ring_node in[] = {mknode(1, "dc1", "r1", ta, 3), mknode(2, "dc1", "r1", tb, 2),
                         mknode(3, "dc1", "r1", tc, 3), mknode(4, "dc1", "r1", td, 1)};
    sb_ring *r = sb_ring_build(in, 4);
    sb_repl p = simple(3);
    int o[SB_MAX_REPLICAS];
    /* From 10: A A B C -> A, B, C. */
    assert_int_equal(reps_octets(r, &p, 5, o, SB_MAX_REPLICAS), 3);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 2);
    assert_int_equal(o[2], 3);
    /* From 40: C C A B C D -> C, A, B. */
    assert_int_equal(reps_octets(r, &p, 35, o, SB_MAX_REPLICAS), 3);
    assert_int_equal(o[0], 3);
    assert_int_equal(o[1], 1);
    assert_int_equal(o[2], 2);
    /* Every token: rf distinct nodes. */
    for (int64_t t = 0; t <= 100; t++) {
        int n = reps_octets(r, &p, t, o, SB_MAX_REPLICAS);
        assert_int_equal(n, 3);
        assert_true(o[0] != o[1] && o[1] != o[2] && o[0] != o[2]);
    }
    /* rf larger than the ring: every node once. */
    p = simple(7);
    assert_int_equal(reps_octets(r, &p, 85, o, SB_MAX_REPLICAS), 4);
    assert_int_equal(o[0], 4);
    assert_int_equal(o[1], 1);
    assert_int_equal(o[2], 2);
    assert_int_equal(o[3], 3);
    /* max bounds the output; rf 0 gives nothing; LOCAL gives nothing. */
    assert_int_equal(reps_octets(r, &p, 85, o, 2), 2);
    assert_int_equal(o[1], 1);
    p = simple(0);
    assert_int_equal(reps_octets(r, &p, 85, o, SB_MAX_REPLICAS), 0);
    p.kind = SB_REPL_LOCAL;
    assert_int_equal(reps_octets(r, &p, 85, o, SB_MAX_REPLICAS), 0);
    sb_ring_free(r);
}

static void test_many_strategies_on_one_ring(void **state)
{
    /* More strategies than the ring caches: the uncached ones walk. */
    int64_t tok[6][2];
    sb_ring_node in[6];
    for (int i = 0; i < 6; i++) {
        tok[i][0] = i * 100;
        tok[i][1] = i * 100 + 1000;
        in[i] = mknode(i + 1, "dc1", "r1", tok[i], 2);
    }
    sb_ring *r = sb_ring_build(in, 6);
    for (int round = 0; round < 2; round++) {
        for (int rf = 1; rf <= 20; rf++) {
            sb_repl p = simple(rf);
            int o[SB_MAX_REPLICAS];
            int n = reps_octets(r, &p, 150, o, SB_MAX_REPLICAS);
            assert_int_equal(n, rf < 6 ? rf : 6);
            for (int k = 0; k < n; k++)
                assert_int_equal(o[k], (k + 2) % 6 + 1); /* 200 is .3's token */
        }
    }
    sb_ring_free(r);
}

/* --- NetworkTopologyStrategy --------------------------------------------- */

/* dc1: .1 r1 @10, .2 r1 @20, .3 r2 @30, .4 r2 @40 (and again @110..140)
 * dc2: .5 rA @15, .6 rA @35 (same rack) */
static sb_ring *two_dc_ring(void)
{
    static int64_t t1[] = {10, 110}, t2[] = {20, 120}, t3[] = {30, 130}, t4[] = {40, 140};
    static int64_t t5[] = {15}, t6[] = {35};
    sb_ring_node in[] = {mknode(1, "dc1", "r1", t1, 2), mknode(2, "dc1", "r1", t2, 2),
                         mknode(3, "dc1", "r2", t3, 2), mknode(4, "dc1", "r2", t4, 2),
                         mknode(5, "dc2", "rA", t5, 1), mknode(6, "dc2", "rA", t6, 1)};
    return sb_ring_build(in, 6);
}

static void test_nts_prefers_distinct_racks(void **state)
{
    sb_ring *r = two_dc_ring();
    int o[SB_MAX_REPLICAS];
    /* rf 2: .2 is on .1's rack, so it is skipped for .3 (rack r2). */
    sb_repl p = nts2("dc1", 2, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 5, o, SB_MAX_REPLICAS), 2);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 3);
    /* rf 3: once both racks are seen, the skipped .2 comes before .4. */
    p = nts2("dc1", 3, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 5, o, SB_MAX_REPLICAS), 3);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 3);
    assert_int_equal(o[2], 2);
    p = nts2("dc1", 4, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 5, o, SB_MAX_REPLICAS), 4);
    assert_int_equal(o[3], 4);
    /* From 25: .3 (r2), .4 skipped, .1 (r1) completes the racks, then .4
     * (the skipped one) before .2. */
    assert_int_equal(reps_octets(r, &p, 25, o, SB_MAX_REPLICAS), 4);
    assert_int_equal(o[0], 3);
    assert_int_equal(o[1], 1);
    assert_int_equal(o[2], 4);
    assert_int_equal(o[3], 2);
    /* Every token: replicas on distinct racks when rf <= racks. */
    p = nts2("dc1", 2, NULL, 0);
    for (int64_t t = -5; t < 160; t++) {
        assert_int_equal(reps_octets(r, &p, t, o, SB_MAX_REPLICAS), 2);
        int r0 = (o[0] <= 2), r1 = (o[1] <= 2); /* on rack r1? */
        assert_int_not_equal(r0, r1);
    }
    sb_ring_free(r);
}

static void test_nts_same_rack_fallback_and_two_dcs(void **state)
{
    sb_ring *r = two_dc_ring();
    int o[SB_MAX_REPLICAS];
    /* dc2 has one rack: both of its nodes are used. */
    sb_repl p = nts2("dc2", 2, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 16, o, SB_MAX_REPLICAS), 2);
    assert_int_equal(o[0], 6);
    assert_int_equal(o[1], 5);
    /* rf above the dc's size: every node of the dc once. */
    p = nts2("dc2", 5, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 16, o, SB_MAX_REPLICAS), 2);
    /* Two dcs, merged in ring-walk order from 12: .5@15 (dc2), .2@20 and
     * .3@30 (dc1, racks r1 and r2), .6@35 (dc2). */
    p = nts2("dc1", 2, "dc2", 2);
    assert_int_equal(reps_octets(r, &p, 12, o, SB_MAX_REPLICAS), 4);
    assert_int_equal(o[0], 5);
    assert_int_equal(o[1], 2);
    assert_int_equal(o[2], 3);
    assert_int_equal(o[3], 6);
    /* A dc unknown to the ring contributes nothing; rf 0 neither. */
    p = nts2("dc9", 3, "dc2", 0);
    assert_int_equal(reps_octets(r, &p, 12, o, SB_MAX_REPLICAS), 0);
    p = nts2("dc9", 3, "dc2", 1);
    assert_int_equal(reps_octets(r, &p, 12, o, SB_MAX_REPLICAS), 1);
    assert_int_equal(o[0], 5);
    /* Wrap-around in the dc sub-ring: after .6@35 the dc2 walk wraps to
     * .5@15. */
    p = nts2("dc2", 2, NULL, 0);
    assert_int_equal(reps_octets(r, &p, 100, o, SB_MAX_REPLICAS), 2);
    assert_int_equal(o[0], 5);
    assert_int_equal(o[1], 6);
    sb_ring_free(r);
}

static void test_nts_lone_rack_is_found(void **state)
{
    /* 12 nodes on racks r1/r2 and one node on r3 with a single token far
     * along the ring: rf 3 must reach it. */
    int64_t tok[13][4];
    sb_ring_node in[13];
    for (int i = 0; i < 12; i++) {
        for (int k = 0; k < 4; k++)
            tok[i][k] = (int64_t)k * 1000 + i * 10;
        in[i] = mknode(i + 1, "dc1", i % 2 ? "r2" : "r1", tok[i], 4);
    }
    tok[12][0] = 3500;
    in[12] = mknode(13, "dc1", "r3", tok[12], 1);
    sb_ring *r = sb_ring_build(in, 13);
    sb_repl p = nts2("dc1", 3, NULL, 0);
    int o[SB_MAX_REPLICAS];
    assert_int_equal(reps_octets(r, &p, 0, o, SB_MAX_REPLICAS), 3);
    assert_int_equal(o[0], 1);  /* r1 */
    assert_int_equal(o[1], 2);  /* r2 */
    assert_int_equal(o[2], 13); /* r3, after 3 laps of the others */
    sb_ring_free(r);
}

/* --- replication options ------------------------------------------------- */

static void test_repl_parse_ok(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_repl p;
    assert_int_equal(
        sb_repl_parse("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"3\"}", &p, err),
        0);
    assert_int_equal(p.kind, SB_REPL_SIMPLE);
    assert_int_equal(p.rf, 3);
    assert_int_equal(sb_repl_total(&p), 3);
    assert_int_equal(sb_repl_dc(&p, "anything"), 3);
    assert_int_equal(sb_repl_parse("{\"class\": \"org.apache.cassandra.locator.SimpleStrategy\", "
                                   "\"replication_factor\": 2}",
                                   &p, err),
                     0);
    assert_int_equal(p.rf, 2);
    assert_int_equal(sb_repl_parse("{\"class\": \"NetworkTopologyStrategy\", \"dc1\": \"3\", "
                                   "\"dc2\": 2, \"dc3\": \"0\"}",
                                   &p, err),
                     0);
    assert_int_equal(p.kind, SB_REPL_NTS);
    assert_int_equal(p.ndcs, 3);
    assert_int_equal(sb_repl_total(&p), 5);
    assert_int_equal(sb_repl_dc(&p, "dc1"), 3);
    assert_int_equal(sb_repl_dc(&p, "dc2"), 2);
    assert_int_equal(sb_repl_dc(&p, "dc3"), 0);
    assert_int_equal(sb_repl_dc(&p, "nope"), 0);
    assert_int_equal(
        sb_repl_parse("{\"class\": \"org.apache.cassandra.locator.NetworkTopologyStrategy\", "
                      "\"DC1\": \"1\"}",
                      &p, err),
        0);
    assert_int_equal(sb_repl_dc(&p, "DC1"), 1);
    assert_int_equal(sb_repl_parse("{\"class\": \"LocalStrategy\"}", &p, err), 0);
    assert_int_equal(p.kind, SB_REPL_LOCAL);
    assert_int_equal(sb_repl_total(&p), 1);
    assert_int_equal(
        sb_repl_parse("{\"class\": \"org.apache.cassandra.locator.LocalStrategy\"}", &p, err), 0);
}

static void expect_config_error(const char *json, const char *needle)
{
    char err[SB_ERRMSG_SIZE] = "";
    sb_repl p;
    int rc = sb_repl_parse(json, &p, err);
    if (rc != SB_ECONFIG || !strstr(err, needle))
        fail_msg("%s: rc %d, errmsg '%s', wanted '%s'", json, rc, err, needle);
}

static void test_repl_parse_errors(void **state)
{
    expect_config_error("{\"class\": \"SimpleStrategy\"}", "requires a 'replication_factor'");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"three\"}",
                        "must be an integer, got 'three'");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"\"}",
                        "must be an integer");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"3x\"}",
                        "must be an integer, got '3x'");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": 2.5}",
                        "must be an integer");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": null}",
                        "must be an integer");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"-1\"}",
                        "non-negative");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": 1000}",
                        "exceeds the maximum");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": \"3/1\"}",
                        "transient replication");
    expect_config_error("{\"class\": \"SimpleStrategy\", \"replication_factor\": 1, \"dc1\": 1}",
                        "unrecognized option 'dc1'");
    expect_config_error("{\"class\": \"NetworkTopologyStrategy\", \"dc1\": \"x\"}",
                        "replication factor of datacenter 'dc1' must be an integer");
    expect_config_error("{\"class\": \"NetworkTopologyStrategy\", \"replication_factor\": 3}",
                        "per datacenter");
    expect_config_error("{\"class\": \"NetworkTopologyStrategy\", \"dc1\": 20, \"dc2\": 20}",
                        "total replication factor exceeds");
    expect_config_error("{\"class\": \"FancyStrategy\"}",
                        "unknown replication class 'FancyStrategy'");
    expect_config_error("{\"class\": \"org.apache.cassandra.locator.Nope\"}",
                        "unknown replication class 'org.apache.cassandra.locator.Nope'");
    expect_config_error("{\"replication_factor\": 3}", "need a 'class'");
    expect_config_error("{\"class\": 3}", "'class' must be a string");
    expect_config_error("[1, 2]", "must be a JSON object");
    expect_config_error("{\"class\": ", "bad JSON at line 1");
    expect_config_error(NULL, "missing");
    char err[SB_ERRMSG_SIZE];
    sb_repl p;
    assert_int_equal(sb_repl_parse("{\"class\": \"SimpleStrategy\", \"replication_factor\": 1, "
                                   "\"replication_factor\": 2}",
                                   &p, err),
                     SB_ECONFIG); /* duplicate keys */
}

/* --- ownership ----------------------------------------------------------- */

static double sum(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

static void test_ownership_sums(void **state)
{
    sb_ring *r = two_dc_ring();
    double own[6];
    sb_ring_ownership(r, NULL, own);
    assert_true(fabs(sum(own, 6) - 1.0) < 1e-9);
    /* .1 owns (140, 10] wrapping and (40, 110]. */
    double span = 18446744073709551616.0;
    assert_true(fabs(own[node_of(r, 1)] - (span - 130 + 70) / span) < 1e-9);
    sb_repl p = simple(2);
    sb_ring_ownership(r, &p, own);
    assert_true(fabs(sum(own, 6) - 2.0) < 1e-9);
    for (int i = 0; i < 6; i++)
        assert_true(own[i] <= 1.0 + 1e-12);
    p = nts2("dc1", 2, "dc2", 1);
    sb_ring_ownership(r, &p, own);
    assert_true(fabs(sum(own, 6) - 3.0) < 1e-9);
    assert_true(fabs(own[node_of(r, 5)] + own[node_of(r, 6)] - 1.0) < 1e-9);
    /* rf above the node count: every node holds everything. */
    p = simple(9);
    sb_ring_ownership(r, &p, own);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(own[i] - 1.0) < 1e-9);
    /* LocalStrategy reports primary ranges (factor 1). */
    p.kind = SB_REPL_LOCAL;
    sb_ring_ownership(r, &p, own);
    assert_true(fabs(sum(own, 6) - 1.0) < 1e-9);
    sb_ring_free(r);

    int64_t t[] = {42};
    sb_ring_node one = mknode(1, "dc1", "r1", t, 1);
    r = sb_ring_build(&one, 1);
    sb_ring_ownership(r, NULL, own);
    assert_true(own[0] == 1.0);
    sb_ring_free(r);
}

/* --- allocation ---------------------------------------------------------- */

static uint64_t fixed_rnd(void *arg)
{
    return *(uint64_t *)arg;
}

static void test_allocate_errors_and_first_node(void **state)
{
    uint64_t seed = 1;
    int64_t out[SB_MAX_TOKENS];
    assert_int_equal(sb_ring_allocate(NULL, "dc1", 0, splitmix, &seed, out), SB_EINVAL);
    assert_int_equal(sb_ring_allocate(NULL, "dc1", SB_MAX_TOKENS + 1, splitmix, &seed, out),
                     SB_EINVAL);
    assert_int_equal(sb_ring_allocate(NULL, "dc1", 16, NULL, &seed, out), SB_EINVAL);
    assert_int_equal(sb_ring_allocate(NULL, NULL, 16, splitmix, &seed, out), SB_EINVAL);
    /* The first node: 16 sorted tokens, evenly spaced; the reserved
     * minimum token is never handed out. */
    uint64_t offset = (uint64_t)INT64_MIN;
    assert_int_equal(sb_ring_allocate(NULL, "dc1", 16, fixed_rnd, &offset, out), 0);
    for (int i = 0; i < 16; i++) {
        assert_true(out[i] != INT64_MIN);
        if (i > 0) {
            assert_true(out[i] > out[i - 1]);
            uint64_t gap = (uint64_t)out[i] - (uint64_t)out[i - 1];
            assert_true(gap > UINT64_MAX / 16 - 2 && gap < UINT64_MAX / 16 + 2);
        }
    }
    int64_t one;
    assert_int_equal(sb_ring_allocate(NULL, "dc1", 1, splitmix, &seed, &one), 0);
}

/* Joins n nodes one by one (dc of node i: dcs[i % ndcs]) with num_tokens
 * each; returns the ring. Checks every allocation's tokens are sorted and
 * new on the ring. */
static sb_ring *join_nodes(int n, int num_tokens, const char **dcs, int ndcs, uint64_t seed,
                           int64_t (*tok)[SB_MAX_TOKENS], sb_ring_node *nodes)
{
    sb_ring *r = NULL;
    for (int i = 0; i < n; i++) {
        nodes[i] = mknode(i + 1, dcs[i % ndcs], "r1", tok[i], 0);
        r = sb_ring_build(nodes, i);
        assert_non_null(r);
        assert_int_equal(sb_ring_allocate(r, nodes[i].dc, num_tokens, splitmix, &seed, tok[i]), 0);
        for (int k = 0; k < num_tokens; k++) {
            if (k > 0)
                assert_true(tok[i][k] > tok[i][k - 1]);
            for (int j = 0; j < sb_ring_ntokens(r); j++)
                assert_true(sb_ring_token_at(r, j) != tok[i][k]);
        }
        nodes[i].ntokens = num_tokens;
        sb_ring_free(r);
    }
    r = sb_ring_build(nodes, n);
    assert_non_null(r);
    assert_int_equal(sb_ring_ntokens(r), n * num_tokens);
    return r;
}

static double spread(const double *own, int n)
{
    double mn = 2, mx = 0;
    for (int i = 0; i < n; i++) {
        mn = own[i] < mn ? own[i] : mn;
        mx = own[i] > mx ? own[i] : mx;
    }
    return mx / mn;
}

/* Measured (this test over seeds 1..20, and bench_ring with seed 42): the
 * worst max/min primary ownership with 16 tokens at any size from 2 to 10
 * nodes is 1.065 (3 nodes: 1.000, 5: 1.065, 10: 1.043); random tokens
 * give 1.6-2.4. The bound leaves a little room over the measurement. */
#define SPREAD_BOUND_16 1.10

static void test_allocate_balance_one_dc(void **state)
{
    static int64_t tok[10][SB_MAX_TOKENS];
    sb_ring_node nodes[10];
    const char *dcs[] = {"dc1"};
    double worst = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        for (int n = 2; n <= 10; n++) {
            sb_ring *r = join_nodes(n, 16, dcs, 1, seed * 1000, tok, nodes);
            double own[10];
            sb_ring_ownership(r, NULL, own);
            assert_true(fabs(sum(own, n) - 1.0) < 1e-9);
            double s = spread(own, n);
            worst = s > worst ? s : worst;
            if (s >= SPREAD_BOUND_16)
                fail_msg("seed %llu, %d nodes: max/min ownership %.3f", (unsigned long long)seed, n,
                         s);
            sb_ring_free(r);
        }
    }
    print_message("worst max/min ownership over 20 seeds, 2..10 nodes x 16 tokens: %.3f\n", worst);
}

static void test_allocate_balance_two_dcs(void **state)
{
    /* 10 nodes alternating dc1/dc2: each dc is balanced on its own (what
     * NTS replicates by): effective ownership under {dc1: 1, dc2: 1}. */
    static int64_t tok[10][SB_MAX_TOKENS];
    sb_ring_node nodes[10];
    const char *dcs[] = {"dc1", "dc2"};
    sb_ring *r = join_nodes(10, 16, dcs, 2, 7, tok, nodes);
    sb_repl p = nts2("dc1", 1, "dc2", 1);
    double own[10];
    sb_ring_ownership(r, &p, own);
    assert_true(fabs(sum(own, 10) - 2.0) < 1e-9);
    for (int d = 0; d < 2; d++) {
        double in_dc[5];
        int n = 0;
        for (int i = 0; i < 10; i++)
            if (strcmp(sb_ring_node_at(r, i)->dc, dcs[d]) == 0)
                in_dc[n++] = own[i];
        assert_int_equal(n, 5);
        assert_true(fabs(sum(in_dc, 5) - 1.0) < 1e-9);
        assert_true(spread(in_dc, 5) < SPREAD_BOUND_16);
    }
    sb_ring_free(r);
}

static void test_allocate_256_tokens(void **state)
{
    static int64_t tok[5][SB_MAX_TOKENS];
    sb_ring_node nodes[5];
    const char *dcs[] = {"dc1"};
    sb_ring *r = join_nodes(5, 256, dcs, 1, 99, tok, nodes);
    double own[5];
    sb_ring_ownership(r, NULL, own);
    assert_true(spread(own, 5) < 1.02);
    sb_ring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_sorts_and_copies),
        cmocka_unit_test(test_build_duplicates),
        cmocka_unit_test(test_build_bad_input),
        cmocka_unit_test(test_empty_ring),
        cmocka_unit_test(test_lookup_ranges_and_wrap),
        cmocka_unit_test(test_lookup_extreme_tokens),
        cmocka_unit_test(test_simple_distinct_nodes),
        cmocka_unit_test(test_many_strategies_on_one_ring),
        cmocka_unit_test(test_nts_prefers_distinct_racks),
        cmocka_unit_test(test_nts_same_rack_fallback_and_two_dcs),
        cmocka_unit_test(test_nts_lone_rack_is_found),
        cmocka_unit_test(test_repl_parse_ok),
        cmocka_unit_test(test_repl_parse_errors),
        cmocka_unit_test(test_ownership_sums),
        cmocka_unit_test(test_allocate_errors_and_first_node),
        cmocka_unit_test(test_allocate_balance_one_dc),
        cmocka_unit_test(test_allocate_balance_two_dcs),
        cmocka_unit_test(test_allocate_256_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
