/*
 * Coordination (coord/coord.c, read.c, replica.c) on the cluster fixture
 * (dsim/fixture.h): N nodes, each a process of real gossip, rpc, hints
 * and coordinator objects over its simulated sb_io, message deliveries
 * 1-3 ms after the send, and the fixture's in-memory store (a sorted map
 * merged with sb_frag_merge, applies acknowledged 20-1500 us later).
 * Nodes start with saved tokens, so they are NORMAL at once. A node is
 * "killed" by stopping its gossip (peers see SHUTDOWN and mark it down)
 * and cutting it off the network (a partition); messages of chosen types
 * can be dropped on arrival at a node (sb_fixture_drop_in). Raw entries
 * are real: rows built with sb_wbatch_upsert on a table of a store opened
 * in a temporary directory.
 */
#include "storage/store_fixture.h"

#include "coord/coord.h"
#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "cluster/ring.h"
#include "cluster/rpc.h"
#include "cluster/topology.h"
#include "cql/cql.h"
#include "dsim/fixture.h"
#include "util/log.h"
#include "util/wire.h"

#define MAXN 6
#define NTOK 4

/* --- harness: coordinator processes on the cluster fixture -------------------- */

typedef struct node {
    int idx;
    sb_ep ep;
    char dc[16];
    sb_gossip *g;
    sb_rpc *rpc;
    sb_hints *h;
    sb_coord *c;
    int stopped; /* gossip stopped: gossip messages are ignored */
    int cut;     /* off the network */
    /* Completion observations (sb_coord_opts.on_request / on_replica). */
    int nobs;
    const char *obs_op;
    int obs_cl, obs_status;
    double obs_seconds;
    int nrep_obs, nrep_ok;
    const char *rep_op;
    int rep_status;
} node;

typedef struct world {
    sb_fixture *fx;
    node n[MAXN];
    int nn;
    sb_repl repl;
    uint8_t table_id[16];
} world;

static world W;
static sb_store *S;
static const sb_table *T;

static void run_for(uint64_t ms)
{
    sb_fixture_run_for(W.fx, ms * SB_FIXTURE_MS);
}

static dsim_store *store(int i)
{
    return sb_fixture_store(W.fx, i);
}

/* Entries of the test table on node i. */
static size_t entries(int i)
{
    return dsim_store_count(store(i), W.table_id);
}

/* Is a's key strictly before b's (memcmp order, shorter first)? */
static int raw_before(const sb_raw *a, const sb_raw *b)
{
    size_t common = a->klen < b->klen ? a->klen : b->klen;
    int c = common ? memcmp(a->key, b->key, common) : 0;
    return c < 0 || (c == 0 && a->klen < b->klen);
}

static void proc_receive(void *obj, int type, const uint8_t *p, size_t len)
{
    node *n = obj;
    switch (type) {
    case SB_MSG_GOSSIP_SYN:
    case SB_MSG_GOSSIP_ACK:
    case SB_MSG_GOSSIP_ACK2:
    case SB_MSG_SHUTDOWN:
        if (!n->stopped)
            sb_gossip_receive(n->g, type, p, len);
        break;
    case SB_MSG_RESPONSE:
        sb_rpc_receive_response(n->rpc, p, len);
        break;
    case SB_MSG_MUTATION:
    case SB_MSG_READ:
    case SB_MSG_TRUNCATE:
        sb_coord_receive(n->c, type, p, len);
        break;
    default:
        break;
    }
}

static void proc_free(void *obj)
{
    node *n = obj;
    sb_coord_free(n->c);
    sb_hints_free(n->h);
    sb_rpc_free(n->rpc);
    sb_gossip_free(n->g);
    n->c = NULL;
    n->h = NULL;
    n->rpc = NULL;
    n->g = NULL;
}

static const sb_fixture_proc coord_proc = {proc_receive, NULL, proc_free};

/* --- cluster setup -------------------------------------------------------------- */

static int table_repl(void *arg, const uint8_t id[16], sb_repl *out)
{
    if (memcmp(id, W.table_id, 16) != 0)
        return SB_ENOTFOUND;
    *out = W.repl;
    return 0;
}

static void obs_request(void *arg, const char *op, int cl, int status, double seconds)
{
    node *n = arg;
    n->nobs++;
    n->obs_op = op;
    n->obs_cl = cl;
    n->obs_status = status;
    n->obs_seconds = seconds;
}

static void obs_replica(void *arg, const char *op, int status, double seconds)
{
    node *n = arg;
    n->nrep_obs++;
    n->nrep_ok += status == 0;
    n->rep_op = op;
    n->rep_status = status;
    assert_true(seconds >= 0);
}

static sb_coord_opts coord_opts(node *n)
{
    sb_coord_opts co;
    sb_coord_opts_default(&co);
    co.table_repl = table_repl;
    co.on_request = obs_request;
    co.on_replica = obs_replica;
    co.observer_arg = n;
    return co;
}

static sb_repl simple(int rf)
{
    sb_repl p;
    memset(&p, 0, sizeof(p));
    p.kind = SB_REPL_SIMPLE;
    p.rf = rf;
    return p;
}

/* A node world_start leaves without saved tokens and with a ring delay
 * longer than any test, so that it stays JOINING outside the ring (-1:
 * none); reset by world_start. */
static int joining_node = -1;

/* Starts nn nodes (dcs[i] or "dc1") and lets gossip converge. */
static void world_start(int nn, const char *const *dcs, sb_repl repl)
{
    memset(&W, 0, sizeof(W));
    /* Deliveries 1-3 ms after the send, no loss. */
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 1000, .delay_max_us = 3000};
    W.fx = sb_fixture_new(1, nn, &net, NULL);
    assert_non_null(W.fx);
    W.nn = nn;
    W.repl = repl;
    memcpy(W.table_id, T->id, 16);
    for (int i = 0; i < nn; i++) {
        node *n = &W.n[i];
        n->idx = i;
        n->ep = sb_fixture_ep(i);
        snprintf(n->dc, sizeof(n->dc), "%s", dcs ? dcs[i] : "dc1");
        assert_int_equal(dsim_store_add_table(store(i), W.table_id), 0);
        /* Saved tokens, interleaved between the nodes. */
        sb_buf b;
        sb_buf_init(&b);
        sb_wire_put_u16(&b, NTOK);
        for (int j = 0; j < NTOK; j++) {
            uint64_t step = UINT64_MAX / (uint64_t)(nn * NTOK + 1);
            sb_wire_put_i64(&b, (int64_t)((uint64_t)INT64_MIN + step * (uint64_t)(j * nn + i + 1)));
        }
        if (i != joining_node)
            assert_int_equal(
                dsim_store_kv_put(store(i), (const uint8_t *)"sys/tokens", 10, b.data, b.len), 0);
        sb_buf_free(&b);
    }
    for (int i = 0; i < nn; i++) {
        node *n = &W.n[i];
        const sb_io *io = sb_fixture_boot(W.fx, i);
        assert_non_null(io);
        sb_gossip_opts go;
        sb_gossip_opts_default(&go);
        snprintf(go.cluster_name, sizeof(go.cluster_name), "test");
        go.self = n->ep;
        go.rpc = n->ep;
        go.http = n->ep;
        go.host_id[0] = (uint8_t)(i + 1);
        snprintf(go.dc, sizeof(go.dc), "%s", n->dc);
        snprintf(go.rack, sizeof(go.rack), "r1");
        go.seeds = &W.n[0].ep;
        go.nseeds = 1;
        go.num_tokens = NTOK;
        if (i == joining_node)
            go.ring_delay_ms = 1000000000;
        char err[SB_ERRMSG_SIZE];
        n->g = sb_gossip_new(io, &go, err);
        if (!n->g)
            fail_msg("gossip: %s", err);
        n->rpc = sb_rpc_new(io, &n->ep);
        sb_hints_opts ho;
        sb_hints_opts_default(&ho);
        n->h = sb_hints_new(io, n->rpc, n->g, &ho);
        sb_coord_opts co = coord_opts(n);
        n->c = sb_coord_new(io, n->rpc, n->g, n->h, &co);
        assert_true(n->rpc && n->h && n->c);
        sb_fixture_attach(W.fx, i, &coord_proc, n);
    }
    for (int i = 0; i < nn; i++) {
        sb_gossip_start(W.n[i].g);
        sb_hints_start(W.n[i].h);
    }
    run_for(10000);
    for (int i = 0; i < nn; i++) {
        assert_int_equal(sb_ring_nnodes(sb_gossip_ring(W.n[i].g)), nn - (joining_node >= 0));
        for (int j = 0; j < nn; j++)
            assert_true(sb_gossip_is_up(W.n[i].g, &W.n[j].ep));
    }
    joining_node = -1;
}

static void world_stop(void)
{
    run_for(3000);         /* let applies, hints and late messages settle */
    sb_fixture_free(W.fx); /* frees every node's process */
    W.fx = NULL;
}

/* Kills node i: its peers hear SHUTDOWN, then it is off the network
 * (every node cut off so far in a group of its own). */
static void kill_node(int i)
{
    sb_gossip_stop(W.n[i].g);
    W.n[i].stopped = 1;
    run_for(50);
    W.n[i].cut = 1;
    int group[DSIM_MAX_NODES] = {0};
    for (int j = 0; j < W.nn; j++)
        group[j] = W.n[j].cut ? j + 1 : 0;
    sb_fixture_partition(W.fx, group);
    for (int j = 0; j < W.nn; j++)
        if (j != i && !W.n[j].stopped)
            assert_false(sb_gossip_is_up(W.n[j].g, &W.n[i].ep));
}

/* --- rows and results -------------------------------------------------------------- */

typedef struct rows {
    sb_wbatch *b;
    sb_raw_mut m[256];
    size_t n;
} rows;

/* Row (sensor, ts) with v = val written at wts, appended to r. */
static void row(rows *r, const char *sensor, int64_t ts, double val, int64_t wts)
{
    char err[SB_ERRMSG_SIZE];
    if (!r->b)
        r->b = sb_wbatch_new();
    size_t before = sb_wbatch_nraw(r->b);
    sb_value pk = fx_text(sensor), ck = fx_bigint(ts);
    sb_cell c = fx_cell(fx_colid(T, "v"), wts, 0, fx_double(val));
    if (sb_wbatch_upsert(r->b, T, &pk, &ck, wts, 0, &c, 1, 1000, err))
        fail_msg("upsert: %s", err);
    assert_true(sb_wbatch_nraw(r->b) > before);
    /* The batch may have moved its records: take every pointer again. */
    r->n = 0;
    for (size_t i = 0; i < sb_wbatch_nraw(r->b); i++) {
        assert_true(r->n < 256);
        sb_wbatch_raw(r->b, i, &r->m[r->n++]);
    }
}

static void rows_free(rows *r)
{
    sb_wbatch_free(r->b);
    memset(r, 0, sizeof(*r));
}

/* Merges raw entries straight into a node's store (no coordination). */
static void plant(int node, const rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        assert_int_equal(dsim_store_merge(store(node), r->m[i].table_id, r->m[i].e.key,
                                          r->m[i].e.klen, r->m[i].e.val, r->m[i].e.vlen),
                         0);
}

typedef struct wres {
    int calls;
    sb_coord_result r;
} wres;

static void on_write(void *arg, const sb_coord_result *r)
{
    wres *w = arg;
    w->calls++;
    w->r = *r;
}

typedef struct rres {
    int calls;
    sb_coord_result r;
    int more;
    int n;
    int64_t ts[256];
    double v[256];
    char sensor[256][16];
    size_t nraw;
    int sorted;
} rres;

static sb_read mk_read(const char *sensor, sb_value *pk, int reversed)
{
    sb_read rd;
    memset(&rd, 0, sizeof(rd));
    rd.t = T;
    if (sensor) {
        *pk = fx_text(sensor);
        rd.pk = pk;
    } else {
        rd.tok_lo = INT64_MIN;
        rd.tok_hi = INT64_MAX;
        rd.tok_lo_inclusive = 1;
    }
    rd.reversed = reversed;
    rd.now_s = 1000;
    return rd;
}

static void on_read(void *arg, const sb_coord_result *r, const sb_raw *e, size_t n, int more)
{
    rres *x = arg;
    x->calls++;
    x->r = *r;
    x->more = more;
    x->nraw = n;
    x->sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (!raw_before(&e[i - 1], &e[i]))
            x->sorted = 0;
    if (r->status)
        return;
    /* Decode the rows as the CQL layer would (ascending order). */
    sb_value pk;
    sb_read rd = mk_read(NULL, &pk, 0);
    sb_iter *it;
    char err[SB_ERRMSG_SIZE];
    if (sb_store_iter_raw(&rd, e, n, &it, err))
        fail_msg("iter_raw: %s", err);
    sb_row row;
    x->n = 0;
    while (sb_iter_next(it, &row) == 1 && x->n < 256) {
        x->ts[x->n] = fx_get_bigint(row.ck[0]);
        x->v[x->n] = row.ncells ? fx_get_double(row.cells[0].value) : NAN;
        snprintf(x->sensor[x->n], 16, "%.*s", (int)row.pk[0].len, (const char *)row.pk[0].p);
        x->n++;
    }
    sb_iter_free(it);
}

/* Every request gives exactly one observation, with its op, level and
 * status, at the coordinator. */
static void check_observed(int node, int before, const char *op, int cl, int status)
{
    assert_int_equal(W.n[node].nobs, before + 1);
    assert_string_equal(W.n[node].obs_op, op);
    assert_int_equal(W.n[node].obs_cl, cl);
    assert_int_equal(W.n[node].obs_status, status);
    assert_true(W.n[node].obs_seconds >= 0);
}

static void write_at(int node, const rows *r, int cl, wres *w)
{
    memset(w, 0, sizeof(*w));
    int before = W.n[node].nobs;
    assert_int_equal(sb_coord_write(W.n[node].c, r->m, r->n, cl, "SIMPLE", on_write, w), 0);
    assert_int_equal(w->calls, 0); /* never synchronous */
    run_for(5000);
    assert_int_equal(w->calls, 1);
    check_observed(node, before, "write", cl, w->r.status);
}

/* Reads a partition (sensor) or the whole table at cl through node. */
static void read_at(int node, const char *sensor, int reversed, uint32_t max, int cl, rres *x)
{
    sb_value pk;
    sb_read rd = mk_read(sensor, &pk, reversed);
    sb_rawq q;
    sb_rawq_init(&q);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_read_rawq(&rd, &q, err), 0);
    q.max_entries = max;
    memset(x, 0, sizeof(*x));
    int before = W.n[node].nobs;
    assert_int_equal(sb_coord_read(W.n[node].c, &q, cl, on_read, x), 0);
    sb_rawq_free(&q);
    assert_int_equal(x->calls, 0);
    run_for(12000);
    assert_int_equal(x->calls, 1);
    check_observed(node, before, sensor ? "read" : "range", cl, x->r.status);
}

/* --- tests -------------------------------------------------------------------------- */

static void test_blockfor(void **state)
{
    int64_t toks[6][1] = {{-100}, {-50}, {0}, {50}, {100}, {150}};
    sb_ring_node nodes[6];
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < 6; i++) {
        char a[32];
        snprintf(a, sizeof(a), "127.0.0.%d", i + 1);
        sb_ep_parse(a, 7000, &nodes[i].ep);
        snprintf(nodes[i].dc, SB_DC_MAX, "%s", i < 3 ? "dc1" : "dc2");
        snprintf(nodes[i].rack, SB_DC_MAX, "r1");
        nodes[i].tokens = toks[i];
        nodes[i].ntokens = 1;
    }
    sb_ring *r = sb_ring_build(nodes, 6);
    assert_non_null(r);
    sb_repl s3 = simple(3);
    const int want_s3[] = {1, 1, 2, 3, 2, 3, 2, 2, 2, 1, 1}; /* by SB_CL_* code */
    for (int cl = SB_CL_ANY; cl <= SB_CL_LOCAL_ONE; cl++) {
        if (cl == SB_CL_SERIAL || cl == SB_CL_LOCAL_SERIAL)
            continue;
        assert_int_equal(sb_coord_blockfor(r, &s3, NULL, 0, cl, "dc1"), want_s3[cl]);
    }
    char err[SB_ERRMSG_SIZE];
    sb_repl nts;
    assert_int_equal(
        sb_repl_parse("{\"class\":\"NetworkTopologyStrategy\",\"dc1\":\"3\",\"dc2\":\"2\"}", &nts,
                      err),
        0);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_ONE, "dc1"), 1);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_TWO, "dc1"), 2);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_THREE, "dc1"), 3);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_QUORUM, "dc1"), 3); /* 5/2+1 */
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_ALL, "dc1"), 5);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_LOCAL_QUORUM, "dc1"), 2);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_LOCAL_QUORUM, "dc2"), 2);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_LOCAL_ONE, "dc2"), 1);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_EACH_QUORUM, "dc1"), 2 + 2);
    assert_int_equal(sb_coord_blockfor(r, &nts, NULL, 0, SB_CL_ANY, "dc1"), 1);
    sb_repl one_dc;
    assert_int_equal(
        sb_repl_parse("{\"class\":\"NetworkTopologyStrategy\",\"dc1\":\"1\"}", &one_dc, err), 0);
    /* A coordinator in a dc without replicas still needs one local ack. */
    assert_int_equal(sb_coord_blockfor(r, &one_dc, NULL, 0, SB_CL_LOCAL_QUORUM, "dc2"), 1);
    assert_int_equal(sb_coord_blockfor(r, &one_dc, NULL, 0, SB_CL_EACH_QUORUM, "dc1"), 1);
    sb_repl local = {.kind = SB_REPL_LOCAL};
    assert_int_equal(sb_coord_blockfor(r, &local, NULL, 0, SB_CL_ALL, "dc1"), 1);
    sb_ring_free(r);
}

static void test_quorum_write_then_read(void **state)
{
    world_start(3, NULL, simple(3));
    rows r = {0};
    row(&r, "s1", 10, 2.5, 100);
    row(&r, "s1", 20, 3.5, 100);
    row(&r, "s1", 30, 4.5, 100);
    wres w;
    write_at(0, &r, SB_CL_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    assert_string_equal(w.r.write_type, "SIMPLE");
    assert_int_equal(w.r.consistency, SB_CL_QUORUM);
    /* Every replica got the write (QUORUM waits for 2, all 3 are sent). */
    for (int i = 0; i < 3; i++)
        assert_int_equal(entries(i), 3);
    rres x;
    read_at(1, "s1", 0, 0, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.ts[0], 10);
    assert_true(x.v[0] == 2.5 && x.v[2] == 4.5);
    assert_int_equal(x.more, 0);
    /* Reversed, limited to 2: the last two rows, returned ascending. */
    read_at(2, "s1", 1, 2, SB_CL_ALL, &x);
    assert_int_equal(x.r.status, 0);
    assert_true(x.sorted);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.ts[0], 20);
    assert_int_equal(x.ts[1], 30);
    assert_int_equal(x.more, 1);
    sb_coord_stats st;
    sb_coord_get_stats(W.n[1].c, &st);
    assert_int_equal(st.reads_ok, 1);
    assert_int_equal(st.digest_mismatches, 0);

    /* Levels refused at once, and an unknown table fails asynchronously. */
    sb_rawq q;
    sb_rawq_init(&q);
    assert_int_equal(sb_coord_read(W.n[0].c, &q, SB_CL_ANY, on_read, &x), SB_EINVALID);
    assert_int_equal(sb_coord_write(W.n[0].c, r.m, r.n, SB_CL_SERIAL, "SIMPLE", on_write, &w),
                     SB_EINVALID);
    q.table_id[0] = 0xEE;
    sb_buf_append(&q.head_lo, "\x80\x00\x00\x00\x00\x00\x00\x01\x10", 9);
    sb_buf_append(&q.head_hi, "\x80\x00\x00\x00\x00\x00\x00\x01\x30", 9);
    memset(&x, 0, sizeof(x));
    assert_int_equal(sb_coord_read(W.n[0].c, &q, SB_CL_ONE, on_read, &x), 0);
    assert_int_equal(x.calls, 0);
    run_for(10);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.r.status, SB_ENOTFOUND);
    sb_rawq_free(&q);
    rows_free(&r);
    world_stop();
}

static void test_unavailable_and_hints(void **state)
{
    world_start(3, NULL, simple(3));
    kill_node(2);
    rows r = {0};
    row(&r, "s2", 1, 7.0, 100);
    sb_rpc_stats before, after;
    sb_rpc_get_stats(W.n[0].rpc, &before);
    wres w;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    assert_int_equal(w.r.required, 3);
    assert_int_equal(w.r.alive, 2);
    sb_rpc_get_stats(W.n[0].rpc, &after);
    assert_int_equal(after.calls, before.calls); /* nothing was sent */
    for (int i = 0; i < 3; i++)
        assert_int_equal(entries(i), 0);
    assert_int_equal(sb_hints_pending(W.n[0].h, &W.n[2].ep), 0);

    /* QUORUM succeeds with two, and the dead replica gets a hint. */
    write_at(0, &r, SB_CL_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    assert_int_equal(sb_hints_pending(W.n[0].h, &W.n[2].ep), 1);
    sb_coord_stats st;
    sb_coord_get_stats(W.n[0].c, &st);
    assert_int_equal(st.hints_written, 1);
    assert_int_equal(st.writes_unavailable, 1);
    assert_int_equal(st.writes_ok, 1);

    /* ANY: a durable hint is enough even when the only replica is down. */
    world_stop();
    world_start(3, NULL, simple(1));
    rows r2 = {0};
    row(&r2, "s2", 1, 7.0, 100);
    /* Find the node that owns s2 and kill it; write through another. */
    int owner = -1;
    for (int i = 0; i < 3; i++) {
        write_at(i, &r2, SB_CL_ONE, &w);
        assert_int_equal(w.r.status, 0);
    }
    for (int i = 0; i < 3; i++)
        if (entries(i))
            owner = i;
    assert_true(owner >= 0);
    kill_node(owner);
    int coord = (owner + 1) % 3;
    write_at(coord, &r2, SB_CL_ONE, &w);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    write_at(coord, &r2, SB_CL_ANY, &w);
    assert_int_equal(w.r.status, 0);
    assert_int_equal(sb_hints_pending(W.n[coord].h, &W.n[owner].ep), 1);
    rows_free(&r);
    rows_free(&r2);
    world_stop();
}

static void test_write_timeout_then_hint_replay(void **state)
{
    world_start(3, NULL, simple(3));
    sb_fixture_drop_in(W.fx, 2, 1u << SB_MSG_MUTATION); /* up, but never acknowledges */
    rows r = {0};
    row(&r, "s3", 5, 1.25, 100);
    wres w;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, SB_ETIMEOUT);
    assert_int_equal(w.r.received, 2);
    assert_int_equal(w.r.required, 3);
    assert_string_equal(w.r.write_type, "SIMPLE");
    assert_int_equal(entries(2), 0);
    assert_int_equal(sb_hints_pending(W.n[0].h, &W.n[2].ep), 1);
    sb_coord_stats st;
    sb_coord_get_stats(W.n[0].c, &st);
    assert_int_equal(st.writes_timeout, 1);

    /* The replica answers again: the hint is replayed and deleted. */
    sb_fixture_drop_in(W.fx, 2, 0);
    run_for(5000);
    assert_int_equal(entries(2), 1);
    assert_int_equal(sb_hints_pending(W.n[0].h, &W.n[2].ep), 0);
    rres x;
    read_at(2, "s3", 0, 0, SB_CL_ONE, &x);
    assert_int_equal(x.n, 1);
    assert_true(x.v[0] == 1.25);
    rows_free(&r);
    world_stop();
}

static void test_digest_mismatch_repairs(void **state)
{
    world_start(3, NULL, simple(3));
    rows r = {0};
    row(&r, "s4", 1, 9.5, 200);
    plant(0, &r);
    plant(1, &r); /* node 2 is stale */
    rres x;
    read_at(2, "s4", 0, 0, SB_CL_ONE, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.n, 0); /* ONE at node 2 reads node 2 itself */
    read_at(2, "s4", 0, 0, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.n, 1);
    assert_true(x.v[0] == 9.5);
    sb_coord_stats st;
    sb_coord_get_stats(W.n[2].c, &st);
    assert_int_equal(st.digest_mismatches, 1);
    assert_int_equal(st.read_repairs, 1);
    /* Repaired before the answer: ONE at the stale node now sees it. */
    assert_int_equal(entries(2), 1);
    read_at(2, "s4", 0, 0, SB_CL_ONE, &x);
    assert_int_equal(x.n, 1);
    assert_true(x.v[0] == 9.5);

    /* A newer value on one replica wins and overwrites the older ones. */
    rows newer = {0};
    row(&newer, "s4", 1, 10.5, 300);
    plant(1, &newer);
    read_at(0, "s4", 0, 0, SB_CL_ALL, &x);
    assert_int_equal(x.n, 1);
    assert_true(x.v[0] == 10.5);
    for (int i = 0; i < 3; i++) {
        read_at(i, "s4", 0, 0, SB_CL_ONE, &x);
        assert_true(x.v[0] == 10.5);
    }
    rows_free(&r);
    rows_free(&newer);
    world_stop();
}

static void test_read_timeout(void **state)
{
    world_start(3, NULL, simple(3));
    rows r = {0};
    row(&r, "s5", 1, 1.0, 100);
    wres w;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, 0);
    for (int i = 0; i < 3; i++)
        sb_fixture_drop_in(W.fx, i, 1u << SB_MSG_READ);
    rres x;
    read_at(0, "s5", 0, 0, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, SB_ETIMEOUT);
    assert_int_equal(x.r.required, 2);
    assert_int_equal(x.r.received, 1);     /* the local replica */
    assert_int_equal(x.r.data_present, 1); /* ... which was asked for data */
    sb_coord_stats st;
    sb_coord_get_stats(W.n[0].c, &st);
    assert_int_equal(st.reads_timeout, 1);
    rows_free(&r);
    world_stop();
}

static void test_chunks_cut_at_the_smallest_last_key(void **state)
{
    world_start(3, NULL, simple(3));
    kill_node(2); /* QUORUM reads ask nodes 0 and 1 */
    rows full = {0}, part = {0};
    for (int i = 0; i < 10; i++) {
        row(&full, "s6", i, i, 100);
        if (i != 2 && i != 7)
            row(&part, "s6", i, i, 100);
    }
    plant(0, &full);
    plant(1, &part);
    /* Forward, 5 per replica: node 0 stops at 4, node 1 at 5. */
    rres x;
    read_at(0, "s6", 0, 5, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(x.ts[i], i);
    assert_int_equal(x.more, 1);
    /* Node 1 got row 2 (and not row 7, beyond the cut). */
    assert_int_equal(entries(1), 9);
    /* Reversed, 3 per replica: node 0 stops at 7, node 1 at 6: cut at 7. */
    read_at(0, "s6", 1, 3, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_true(x.sorted);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.ts[0], 7);
    assert_int_equal(x.ts[2], 9);
    assert_int_equal(x.more, 1);
    assert_int_equal(entries(1), 10);
    rows_free(&full);
    rows_free(&part);
    world_stop();
}

static void test_range_reads_in_token_order(void **state)
{
    world_start(5, NULL, simple(2));
    rows r = {0};
    char s[16];
    for (int i = 0; i < 40; i++) {
        snprintf(s, sizeof(s), "k%d", i);
        row(&r, s, 1, i, 100);
    }
    wres w;
    write_at(3, &r, SB_CL_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    /* Everything, in token order, at QUORUM through another node. */
    rres x;
    read_at(1, NULL, 0, 0, SB_CL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.nraw, 40);
    assert_int_equal(x.n, 40);
    assert_true(x.sorted);
    assert_int_equal(x.more, 0);
    int seen[40] = {0};
    for (int i = 0; i < 40; i++)
        seen[atoi(x.sensor[i] + 1)]++;
    for (int i = 0; i < 40; i++)
        assert_int_equal(seen[i], 1);
    /* Limited: the first 7 entries, more = 1. */
    rres y;
    read_at(1, NULL, 0, 7, SB_CL_ONE, &y);
    assert_int_equal(y.n, 7);
    assert_int_equal(y.more, 1);
    for (int i = 0; i < 7; i++)
        assert_string_equal(y.sensor[i], x.sensor[i]);
    /* With a node down, rf 2 at ONE still covers every range. */
    kill_node(4);
    read_at(0, NULL, 0, 0, SB_CL_ONE, &y);
    assert_int_equal(y.n, 40);
    read_at(0, NULL, 0, 0, SB_CL_ALL, &y);
    assert_int_equal(y.r.status, SB_EUNAVAILABLE);
    rows_free(&r);
    world_stop();
}

static void test_two_datacenters(void **state)
{
    const char *dcs[] = {"dc1", "dc1", "dc2", "dc2"};
    sb_repl p;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(
        sb_repl_parse("{\"class\":\"NetworkTopologyStrategy\",\"dc1\":\"2\",\"dc2\":\"2\"}", &p,
                      err),
        0);
    world_start(4, dcs, p);
    rows r = {0};
    row(&r, "s7", 1, 3.0, 100);
    wres w;
    write_at(0, &r, SB_CL_EACH_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(entries(i), 1);
    /* Lose dc2: LOCAL_QUORUM in dc1 goes on, the rest is Unavailable. */
    kill_node(2);
    kill_node(3);
    write_at(0, &r, SB_CL_LOCAL_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    write_at(1, &r, SB_CL_EACH_QUORUM, &w);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    assert_int_equal(w.r.required, 2);
    assert_int_equal(w.r.alive, 0);
    write_at(1, &r, SB_CL_QUORUM, &w);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    assert_int_equal(w.r.required, 3);
    assert_int_equal(w.r.alive, 2);
    rres x;
    read_at(0, "s7", 0, 0, SB_CL_LOCAL_QUORUM, &x);
    assert_int_equal(x.r.status, 0);
    assert_int_equal(x.n, 1);
    read_at(0, "s7", 0, 0, SB_CL_EACH_QUORUM, &x);
    assert_int_equal(x.r.status, SB_EUNAVAILABLE);
    rows_free(&r);
    world_stop();
}

static void test_truncate(void **state)
{
    world_start(3, NULL, simple(2));
    rows r = {0};
    row(&r, "a", 1, 1, 100);
    row(&r, "b", 1, 1, 100);
    row(&r, "c", 1, 1, 100);
    wres w;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, 0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(sb_coord_truncate(W.n[1].c, T->id, on_write, &w), 0);
    assert_int_equal(w.calls, 0);
    run_for(1000);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.r.status, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(entries(i), 0);
    kill_node(0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(sb_coord_truncate(W.n[1].c, T->id, on_write, &w), 0);
    run_for(1000);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    assert_int_equal(w.r.required, 3);
    assert_int_equal(w.r.alive, 2);
    rows_free(&r);
    world_stop();
}

static void test_malformed_requests(void **state)
{
    world_start(3, NULL, simple(3));
    node *n = &W.n[0];
    /* No id at all: dropped. */
    sb_coord_receive(n->c, SB_MSG_MUTATION, (const uint8_t *)"x", 1);
    /* With an id and a bad body: an error reply, no crash. */
    sb_buf b;
    sb_buf_init(&b);
    sb_wire_put_ep(&b, &W.n[1].ep);
    sb_wire_put_u64(&b, 42);
    sb_buf_append(&b, "\x00\x00\x00\x09garbage", 11);
    sb_coord_receive(n->c, SB_MSG_MUTATION, b.data, b.len);
    sb_coord_receive(n->c, SB_MSG_READ, b.data, b.len);
    sb_coord_receive(n->c, SB_MSG_TRUNCATE, b.data, b.len);
    sb_coord_receive(n->c, SB_MSG_PING, b.data, b.len);
    sb_buf_free(&b);
    assert_int_equal(sb_coord_status_decode((const uint8_t *)"\xff\xff\xff\xf1", 4), SB_EBADINPUT);
    assert_int_equal(sb_coord_status_decode((const uint8_t *)"\x00\x00\x00\x00", 4), 0);
    assert_int_equal(sb_coord_status_decode((const uint8_t *)"\x00\x00\x00\x01", 4), SB_EBADINPUT);
    assert_int_equal(sb_coord_status_decode((const uint8_t *)"\x00\x00", 2), SB_EBADINPUT);
    run_for(100);
    assert_int_equal(entries(n->idx), 0);
    world_stop();
}

static void test_free_with_requests_in_flight(void **state)
{
    world_start(3, NULL, simple(3));
    rows r = {0};
    row(&r, "s8", 1, 1, 100);
    wres w = {0};
    rres x = {0};
    assert_int_equal(sb_coord_write(W.n[0].c, r.m, r.n, SB_CL_ALL, "SIMPLE", on_write, &w), 0);
    sb_value pk;
    sb_read rd = mk_read("s8", &pk, 0);
    sb_rawq q;
    sb_rawq_init(&q);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_read_rawq(&rd, &q, err), 0);
    assert_int_equal(sb_coord_read(W.n[0].c, &q, SB_CL_ALL, on_read, &x), 0);
    sb_rawq_free(&q);
    /* The local apply and read are in flight, the MUTATIONs unanswered. */
    sb_coord_free(W.n[0].c);
    assert_int_equal(w.calls, 1);
    assert_int_equal(x.calls, 1);
    assert_int_equal(w.r.status, SB_ECLOSED);
    assert_int_equal(x.r.status, SB_ECLOSED);
    /* Both requests were observed, as closed. */
    assert_int_equal(W.n[0].nobs, 2);
    assert_int_equal(W.n[0].obs_status, SB_ECLOSED);
    sb_coord_opts co = coord_opts(&W.n[0]);
    W.n[0].c = sb_coord_new(sb_fixture_io(W.fx, 0), W.n[0].rpc, W.n[0].g, W.n[0].h, &co);
    rows_free(&r);
    world_stop();
}

/* The completion observers: one observation per request, with the
 * labels a metrics layer needs, on both sides. */
static void test_observers(void **state)
{
    world_start(3, NULL, simple(3));
    rows r = {0};
    row(&r, "s9", 1, 1.5, 100);
    wres w;
    /* QUORUM success: the coordinator observes one write; each other
     * replica one successful mutation (the local apply is not a replica
     * request). */
    write_at(0, &r, SB_CL_QUORUM, &w);
    assert_int_equal(w.r.status, 0);
    assert_int_equal(W.n[0].nobs, 1);
    assert_int_equal(W.n[0].nrep_obs, 0);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(W.n[i].nobs, 0);
        assert_int_equal(W.n[i].nrep_obs, 1);
        assert_int_equal(W.n[i].nrep_ok, 1);
        assert_string_equal(W.n[i].rep_op, "mutation");
    }
    /* The virtual network takes 1-3 ms a way: the write took 2-6 ms. */
    assert_true(W.n[0].obs_seconds >= 0.002 && W.n[0].obs_seconds <= 0.006);

    /* A read at ONE through node 1 is served locally: no replica request. */
    rres x;
    read_at(1, "s9", 0, 0, SB_CL_ONE, &x);
    assert_int_equal(x.n, 1);
    assert_int_equal(W.n[1].nrep_obs, 1);
    /* QUORUM through node 1 asks itself and node 0 (the lower endpoint). */
    read_at(1, "s9", 0, 0, SB_CL_QUORUM, &x);
    assert_int_equal(W.n[0].nrep_obs, 1);
    assert_string_equal(W.n[0].rep_op, "read");
    assert_int_equal(W.n[0].rep_status, 0);
    assert_int_equal(W.n[2].nrep_obs, 1);
    read_at(2, NULL, 0, 0, SB_CL_ONE, &x);
    assert_int_equal(x.n, 1);

    /* Timeout: node 2 never gets MUTATIONs; ALL times out after 2 s. */
    sb_fixture_drop_in(W.fx, 2, 1u << SB_MSG_MUTATION);
    int rep2 = W.n[2].nrep_obs;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, SB_ETIMEOUT);
    assert_true(W.n[0].obs_seconds >= 1.999 && W.n[0].obs_seconds <= 2.01);
    assert_int_equal(W.n[2].nrep_obs, rep2); /* nothing reached it */
    sb_fixture_drop_in(W.fx, 2, 0);
    run_for(5000); /* the hint replays: a replica mutation at node 2 */
    assert_int_equal(W.n[2].nrep_obs, rep2 + 1);
    assert_int_equal(W.n[2].rep_status, 0);

    /* Unavailable: decided before sending, observed once, after exactly
     * the 0 ms timer that delivers it (1 us: fixture.h), no round trip. */
    kill_node(2);
    int nobs0 = W.n[0].nobs;
    write_at(0, &r, SB_CL_ALL, &w);
    assert_int_equal(w.r.status, SB_EUNAVAILABLE);
    assert_int_equal(W.n[0].nobs, nobs0 + 1);
    assert_true(W.n[0].obs_seconds == 1e-6);

    /* Truncate (level ALL) is unavailable too with a node down. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(sb_coord_truncate(W.n[1].c, T->id, on_write, &w), 0);
    run_for(1000);
    check_observed(1, W.n[1].nobs - 1, "truncate", SB_CL_ALL, SB_EUNAVAILABLE);

    /* Malformed replica requests are observed as failures. */
    int before = W.n[1].nrep_obs, ok = W.n[1].nrep_ok;
    sb_coord_receive(W.n[1].c, SB_MSG_READ, (const uint8_t *)"x", 1);
    sb_buf b;
    sb_buf_init(&b);
    sb_wire_put_ep(&b, &W.n[0].ep);
    sb_wire_put_u64(&b, 7);
    sb_buf_append(&b, "\x00\x00\x00\x09garbage", 11);
    sb_coord_receive(W.n[1].c, SB_MSG_MUTATION, b.data, b.len);
    sb_coord_receive(W.n[1].c, SB_MSG_TRUNCATE, b.data, b.len);
    sb_buf_free(&b);
    assert_int_equal(W.n[1].nrep_obs, before + 3);
    assert_int_equal(W.n[1].nrep_ok, ok);
    assert_string_equal(W.n[1].rep_op, "truncate");
    assert_int_equal(W.n[1].rep_status, SB_EBADINPUT);
    rows_free(&r);
    world_stop();
}

static int setup(void **state)
{
    sb_log_set_level(SB_LOG_ERROR);
    fx_mkdir();
    S = fx_open(NULL, NULL);
    T = fx_setup(S, "ks", "t", 0, 864000);
    return 0;
}

static int teardown(void **state)
{
    sb_store_close(S);
    fx_rmdir();
    return 0;
}

/* Node 3 joins (JOINING in the topology, outside the ring): writes for
 * the ranges it gains also go to it, and the level needs one more
 * acknowledgement for them (Cassandra's pending-range rule). */
static void test_pending_replicas(void **state)
{
    joining_node = 3;
    world_start(4, NULL, simple(1));
    sb_topo t;
    sb_topo_init(&t);
    for (int i = 0; i < 4; i++) {
        const sb_member *m = sb_gossip_find(W.n[0].g, &W.n[i].ep);
        assert_non_null(m);
        assert_int_equal(m->ntokens, i == 3 ? 0 : NTOK);
        sb_topo_cmd c = {
            .op = SB_TOPO_JOIN, .ep = m->ep, .num_tokens = NTOK, .ntokens = m->ntokens};
        c.status = i == 3 ? SB_STATUS_JOINING : SB_STATUS_NORMAL;
        memcpy(c.host_id, m->host_id, 16);
        memcpy(c.dc, m->dc, sizeof c.dc);
        memcpy(c.rack, m->rack, sizeof c.rack);
        memcpy(c.tokens, m->tokens, sizeof(int64_t) * (size_t)m->ntokens);
        char err[SB_ERRMSG_SIZE];
        assert_int_equal(sb_topo_apply(&t, (uint64_t)i + 1, &c, err), 0);
    }
    sb_topo_pending *pd;
    assert_int_equal(sb_topo_pending_new(&t, &pd), 0);
    sb_topo_pending_ref(pd); /* one for the coordinator, one for this test */
    sb_coord_set_pending(W.n[0].c, pd);

    rows r = {0};
    int gained = 0;
    for (int k = 0; k < 40; k++) {
        char sensor[16];
        snprintf(sensor, sizeof sensor, "p%d", k);
        row(&r, sensor, 1, k, 100);
    }
    sb_repl rf1 = simple(1);
    for (size_t i = 0; i < r.n; i++) {
        sb_ep pe[SB_MAX_REPLICAS];
        int np = sb_topo_pending_eps(pd, &rf1, sb_raw_token(r.m[i].e.key, r.m[i].e.klen), pe,
                                     SB_MAX_REPLICAS);
        assert_true(np <= 1);
        gained += np == 1 && sb_ep_eq(&pe[0], &W.n[3].ep);
    }
    assert_true(gained > 0 && gained < 40);
    wres w;
    write_at(0, &r, SB_CL_ONE, &w);
    assert_int_equal(w.r.status, 0);
    /* each row on its one current replica, and node 3's on node 3 too */
    assert_int_equal(entries(0) + entries(1) + entries(2), 40);
    assert_int_equal(entries(3), (size_t)gained);

    /* With node 3 down, ONE needs 2 of its 1 live replica for those rows
     * and is refused; a write elsewhere is not affected. */
    kill_node(3);
    int refused = 0;
    for (int k = 0; k < 40; k++) {
        rows one = {0};
        char sensor[16];
        snprintf(sensor, sizeof sensor, "p%d", k);
        row(&one, sensor, 2, 1.0, 200);
        sb_ep pe[SB_MAX_REPLICAS];
        int np = sb_topo_pending_eps(pd, &rf1, sb_raw_token(one.m[0].e.key, one.m[0].e.klen), pe,
                                     SB_MAX_REPLICAS);
        write_at(0, &one, SB_CL_ONE, &w);
        if (np) {
            assert_int_equal(w.r.status, SB_EUNAVAILABLE);
            assert_int_equal(w.r.required, 2);
            assert_int_equal(w.r.alive, 1);
            refused++;
        } else {
            assert_int_equal(w.r.status, 0);
        }
        rows_free(&one);
    }
    assert_int_equal(refused, gained);
    /* The join is over (or abandoned): nothing pending, ONE as usual. */
    sb_coord_set_pending(W.n[0].c, NULL);
    rows one = {0};
    row(&one, "p0", 3, 1.0, 300);
    write_at(0, &one, SB_CL_ONE, &w);
    assert_int_equal(w.r.status, 0);
    rows_free(&one);
    sb_topo_pending_free(pd);
    sb_topo_close(&t);
    rows_free(&r);
    world_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blockfor),
        cmocka_unit_test(test_quorum_write_then_read),
        cmocka_unit_test(test_unavailable_and_hints),
        cmocka_unit_test(test_write_timeout_then_hint_replay),
        cmocka_unit_test(test_digest_mismatch_repairs),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_chunks_cut_at_the_smallest_last_key),
        cmocka_unit_test(test_range_reads_in_token_order),
        cmocka_unit_test(test_two_datacenters),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_free_with_requests_in_flight),
        cmocka_unit_test(test_observers),
        cmocka_unit_test(test_pending_replicas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
