/*
 * Three simulated nodes running real CQL (tests/sim/): each node has a
 * real store for its schema, an sb_cluster on the fixture's simulated
 * I/O, and a CQL engine whose writes, reads and schema changes go
 * through the CQL backend (coord/cql_backend.c). Used by
 * test_cql_backend.c and test_lwt.c; each test defines SIMCQL_DIR, the
 * mkdtemp template of its stores.
 */
#ifndef SB_TESTS_SIM_SIMCQL_H
#define SB_TESTS_SIM_SIMCQL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coord.h"
#include "cql/cql.h"
#include "dsim/fixture.h"
#include "util/err.h"

#define N 3
#define MS SB_FIXTURE_MS
#define SEC SB_FIXTURE_SEC

typedef struct simnode {
    sb_fixture *f;
    int i;
    char dir[64];
    sb_store *store;
    sb_cql_engine *engine;
    sb_cql_glue glue;
    sb_cluster *cluster;
    sb_cql_session sess;
} simnode;

static simnode nodes[N];

static void proc_receive(void *obj, int type, const uint8_t *payload, size_t len)
{
    sb_cluster_receive(obj, type, payload, len);
}

static void proc_stop(void *obj)
{
    sb_cluster_stop(obj);
}

static void proc_free(void *obj)
{
    sb_cluster_free(obj);
}

static const sb_fixture_proc cluster_proc = {proc_receive, proc_stop, proc_free};

static int64_t node_clock(void *arg)
{
    simnode *n = arg;
    const sb_io *io = sb_fixture_io(n->f, n->i);
    return io->now_us(io->ctx);
}

static void on_schema_change(void *arg)
{
    sb_cql_glue_schema_changed(arg);
}

/* Boots node i over the store in dir (a new one, or the one a crashed
 * incarnation left: a restart keeps its schema): store, cluster, engine. */
static void open_node(sb_fixture *f, int i, const char *dir)
{
    simnode *n = &nodes[i];
    char err[SB_ERRMSG_SIZE] = "";
    char keep[sizeof n->dir];
    snprintf(keep, sizeof keep, "%s", dir);
    memset(n, 0, sizeof *n);
    n->f = f;
    n->i = i;
    memcpy(n->dir, keep, sizeof n->dir);
    if (sb_store_open(&n->store, n->dir, NULL, NULL, err) != 0)
        fail_msg("store: %s", err);

    const sb_io *io = sb_fixture_boot(f, i);
    assert_non_null(io);
    n->glue.store = n->store;
    n->glue.io = (sb_io *)io;

    sb_cluster_opts o;
    sb_cluster_opts_default(&o);
    snprintf(o.gossip.cluster_name, sizeof o.gossip.cluster_name, "sim");
    o.gossip.self = sb_fixture_ep(i);
    o.gossip.rpc = o.gossip.self;
    o.gossip.host_id[0] = (uint8_t)(i + 1);
    static sb_ep seed;
    seed = sb_fixture_ep(0);
    o.gossip.seeds = &seed;
    o.gossip.nseeds = 1;
    o.coord.table_repl = sb_cql_glue_table_repl;
    o.coord.table_repl_arg = &n->glue;
    sb_cql_glue_schema_ops(&n->glue, &o.schema);
    n->cluster = sb_cluster_new(io, &o, err);
    if (!n->cluster)
        fail_msg("cluster: %s", err);
    n->glue.cluster = n->cluster;
    sb_fixture_attach(f, i, &cluster_proc, n->cluster);

    sb_cql_engine_opts eo;
    memset(&eo, 0, sizeof eo);
    eo.clock_us = node_clock;
    eo.clock_arg = n;
    sb_cql_glue_install(&n->glue, &eo);
    eo.on_schema_change = on_schema_change;
    eo.schema_arg = &n->glue;
    n->engine = sb_cql_engine_new(n->store, &eo);
    assert_non_null(n->engine);
    memcpy(n->glue.seen_version, sb_store_schema(n->store)->version, 16);
    sb_cql_session_init(&n->sess);
    sb_cluster_start(n->cluster);
}

/* Boots node i over a new, empty store. */
static void start_node(sb_fixture *f, int i)
{
    char dir[sizeof nodes[i].dir];
    snprintf(dir, sizeof dir, "%s", SIMCQL_DIR);
    assert_non_null(mkdtemp(dir));
    open_node(f, i, dir);
}

/* Frees the node's engine and closes its store, which stays on disk
 * (open_node boots over it again). Its cluster is the fixture's: gone
 * once the node crashed or stopped. */
static void close_node(simnode *n)
{
    sb_cql_engine_free(n->engine);
    n->engine = NULL;
    sb_store_close(n->store);
    n->store = NULL;
    sb_buf_free(&n->glue.cache_blob);
}

static void stop_node(simnode *n)
{
    close_node(n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    assert_int_equal(system(cmd), 0);
}

/* --- predicates for sb_fixture_step_until ---------------------------------- */

/* Every live node sees every live node up. */
static int all_up(sb_fixture *f, void *arg)
{
    for (int i = 0; i < N; i++) {
        if (!sb_fixture_alive(f, i))
            continue;
        for (int j = 0; j < N; j++) {
            sb_ep ep = sb_fixture_ep(j);
            if (sb_fixture_alive(f, j) &&
                !sb_gossip_is_up(sb_cluster_gossip(nodes[i].cluster), &ep))
                return 0;
        }
    }
    return 1;
}

static int ring_complete(sb_fixture *f, void *arg)
{
    for (int i = 0; i < N; i++)
        if (sb_ring_nnodes(sb_gossip_ring(sb_cluster_gossip(nodes[i].cluster))) != N)
            return 0;
    return all_up(f, arg);
}

static int schemas_agree(sb_fixture *f, void *arg)
{
    uint8_t v0[16], v[16];
    if (sb_cql_glue_schema_version(&nodes[0].glue, v0) != 0)
        return 0;
    for (int i = 1; i < N; i++)
        if (sb_cql_glue_schema_version(&nodes[i].glue, v) != 0 || memcmp(v, v0, 16) != 0)
            return 0;
    return 1;
}

#endif
