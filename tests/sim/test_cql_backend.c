/*
 * The CQL backend (coord/cql_backend.c) inside the simulator: three nodes
 * on the cluster fixture, each with a real store for its schema and a CQL
 * engine whose writes, reads and schema changes go through the backend,
 * the coordinator and the simulated network into the nodes' in-memory
 * replicas. Statements are real CQL: DDL spreads by schema agreement, a
 * write at QUORUM is read back at ALL from another node, a cut-off node
 * makes ALL unavailable while QUORUM goes on, and after the heal the node
 * holds the write it missed (hinted handoff).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coord.h"
#include "cql/cql.h"
#include "dsim/fixture.h"
#include "util/consistency.h"
#include "util/err.h"
#include "util/log.h"

#define SIMCQL_DIR "/tmp/sb_sim_cql_XXXXXX"
#include "simcql.h"

/* --- running statements ----------------------------------------------------- */

typedef struct outcome {
    int done;
    int kind;
    int status;
    int code;
    char message[SB_ERRMSG_SIZE];
    int nrows;
    double v; /* first row's v, when the result has rows */
} outcome;

static void on_result(void *arg, sb_cql_result *r)
{
    outcome *o = arg;
    o->done++;
    o->kind = r->kind;
    if (r->kind == SB_CQL_RESULT_ERROR) {
        o->status = r->err.status;
        o->code = r->err.code;
        snprintf(o->message, sizeof o->message, "%s", r->err.message);
    }
    if (r->kind == SB_CQL_RESULT_ROWS) {
        o->nrows = r->nrows;
        for (int c = 0; c < r->ncols && r->nrows > 0; c++)
            if (!strcmp(r->cols[c].name, "v") && r->rows[c].len == 8) {
                uint64_t bits = 0;
                for (int b = 0; b < 8; b++)
                    bits = bits << 8 | r->rows[c].p[b];
                memcpy(&o->v, &bits, 8);
            }
    }
    sb_cql_result_free(r);
}

static int outcome_done(sb_fixture *f, void *arg)
{
    return ((outcome *)arg)->done > 0;
}

/* Runs one statement on node i at level cl until its result arrives. */
static outcome run(sb_fixture *f, int i, const char *cql, int cl)
{
    outcome o;
    memset(&o, 0, sizeof o);
    sb_cql_opts opts = {.consistency = cl};
    int rc = sb_cql_execute(nodes[i].engine, &nodes[i].sess, cql, strlen(cql), NULL, 0, &opts,
                            on_result, &o);
    assert_int_equal(rc, 0);
    assert_true(sb_fixture_step_until(f, outcome_done, &o, 30 * SEC));
    assert_int_equal(o.done, 1);
    return o;
}

static void expect_ok(const outcome *o, const char *what)
{
    if (o->kind == SB_CQL_RESULT_ERROR)
        fail_msg("%s: %s (%s)", what, o->message, sb_errname(o->status));
}

/* --- predicates ------------------------------------------------------------ */

static int seen_down_by_0(sb_fixture *f, void *arg)
{
    sb_ep ep = sb_fixture_ep(*(const int *)arg);
    return !sb_gossip_is_up(sb_cluster_gossip(nodes[0].cluster), &ep);
}

/* --- the test ---------------------------------------------------------------- */

static void test_cql_through_the_simulated_cluster(void **state)
{
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 2000};
    sb_fixture *f = sb_fixture_new(42, N, &net, NULL);
    for (int i = 0; i < N; i++)
        start_node(f, i);
    assert_true(sb_fixture_step_until(f, ring_complete, NULL, 60 * SEC));

    /* DDL on node 0 reaches every node through schema agreement. */
    outcome o = run(f, 0,
                    "CREATE KEYSPACE iot WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                    SB_CL_ONE);
    expect_ok(&o, "create keyspace");
    o = run(f, 0,
            "CREATE TABLE iot.readings (sensor text, ts int, v double, PRIMARY KEY (sensor, ts))",
            SB_CL_ONE);
    expect_ok(&o, "create table");
    assert_true(sb_fixture_step_until(f, schemas_agree, NULL, 30 * SEC));
    /* Every node has the table, under the same id; the simulated replicas
     * (memstore) hold data for the tables their node knows, as a node's
     * RocksDB holds a column family per table. */
    const sb_table *t0 = sb_schema_table(sb_store_schema(nodes[0].store), "iot", "readings");
    assert_non_null(t0);
    for (int i = 0; i < N; i++) {
        const sb_table *t = sb_schema_table(sb_store_schema(nodes[i].store), "iot", "readings");
        assert_non_null(t);
        assert_memory_equal(t->id, t0->id, 16);
        assert_int_equal(dsim_store_add_table(sb_fixture_store(f, i), t->id), 0);
    }

    /* A write at QUORUM through node 0, read at ALL through node 2. */
    o = run(f, 0, "INSERT INTO iot.readings (sensor, ts, v) VALUES ('s1', 1, 21.5)", SB_CL_QUORUM);
    expect_ok(&o, "insert");
    o = run(f, 2, "SELECT sensor, ts, v FROM iot.readings WHERE sensor = 's1'", SB_CL_ALL);
    expect_ok(&o, "select at ALL");
    assert_int_equal(o.nrows, 1);
    assert_true(o.v == 21.5);

    /* Node 2 cut off: QUORUM writes go on, ALL is unavailable once node 0
     * has seen node 2 down. */
    int cut = 2;
    sb_fixture_isolate(f, cut);
    assert_true(sb_fixture_step_until(f, seen_down_by_0, &cut, 60 * SEC));
    o = run(f, 0, "INSERT INTO iot.readings (sensor, ts, v) VALUES ('s1', 2, 22.5)", SB_CL_QUORUM);
    expect_ok(&o, "insert with a node cut off");
    o = run(f, 0, "SELECT v FROM iot.readings WHERE sensor = 's1'", SB_CL_ALL);
    assert_int_equal(o.kind, SB_CQL_RESULT_ERROR);
    assert_int_equal(o.status, SB_EUNAVAILABLE);
    assert_int_equal(o.code, SB_CQL_ERR_UNAVAILABLE);
    assert_non_null(strstr(o.message, "Cannot achieve consistency level ALL"));
    o = run(f, 0, "SELECT v FROM iot.readings WHERE sensor = 's1'", SB_CL_QUORUM);
    expect_ok(&o, "select at QUORUM with a node cut off");
    assert_int_equal(o.nrows, 2);

    /* Healed: hinted handoff brings node 2 the row it missed; a read at ONE
     * on node 2 is served by its own replica first. */
    sb_fixture_heal(f);
    assert_true(sb_fixture_step_until(f, all_up, NULL, 60 * SEC));
    sb_fixture_run_for(f, 30 * SEC);
    o = run(f, 2, "SELECT v FROM iot.readings WHERE sensor = 's1' AND ts = 2", SB_CL_ONE);
    expect_ok(&o, "select on the healed node");
    assert_int_equal(o.nrows, 1);
    assert_true(o.v == 22.5);

    sb_fixture_free(f);
    for (int i = 0; i < N; i++)
        stop_node(&nodes[i]);
}

int main(void)
{
    sb_log_set_level(SB_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cql_through_the_simulated_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
