/*
 * Lightweight transactions (coord/paxos.c, paxos_replica.c, cql/exec_lwt.c)
 * in the simulator: three nodes on the cluster fixture running real CQL
 * through the CQL backend, the coordinator and per-partition Paxos.
 *
 *   - concurrent INSERT ... IF NOT EXISTS on one key from every node:
 *     exactly one is applied, the others see the winner's row, and every
 *     node reads the winner;
 *   - UPDATE ... IF v = x as compare-and-set, and the not-applied result
 *     shape ([applied] then the condition's columns);
 *   - a node cut off from the others: its LWTs fail (Unavailable, or
 *     WriteTimeout of type CAS) while its plain writes at ONE succeed;
 *   - a proposal accepted by a quorum whose coordinator crashed before
 *     any replica heard the commit is finished by the next LWT;
 *   - a round whose ballot matches the latest commit's microseconds
 *     (clocks that agree to the microsecond) prepares again past it.
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
#include "coord/paxos_int.h"
#include "util/log.h"

#define SIMCQL_DIR "/tmp/sb_sim_lwt_XXXXXX"
#include "simcql.h"

/* --- running statements ----------------------------------------------------- */

typedef struct outcome {
    int done;
    int kind;
    int status;
    int code;
    const char *write_type;
    char message[SB_ERRMSG_SIZE];
    int nrows, ncols;
    int applied; /* [applied] of the first row, -1 if none */
    char cols[8][32];
    char owner[32]; /* the text column "owner" of the first row, if shown */
    int64_t v;      /* the int column "v" of the first row, if shown */
} outcome;

static void on_result(void *arg, sb_cql_result *r)
{
    outcome *o = arg;
    o->done++;
    o->kind = r->kind;
    o->applied = -1;
    if (r->kind == SB_CQL_RESULT_ERROR) {
        o->status = r->err.status;
        o->code = r->err.code;
        o->write_type = r->err.write_type;
        snprintf(o->message, sizeof o->message, "%s", r->err.message);
    }
    if (r->kind == SB_CQL_RESULT_ROWS) {
        o->nrows = r->nrows;
        o->ncols = r->ncols;
        for (int c = 0; c < r->ncols && c < 8; c++) {
            snprintf(o->cols[c], sizeof o->cols[c], "%s", r->cols[c].name);
            if (r->nrows == 0)
                continue;
            sb_value v = r->rows[c];
            if (!strcmp(r->cols[c].name, "[applied]") && v.len == 1)
                o->applied = v.p[0];
            if (!strcmp(r->cols[c].name, "owner") && v.len >= 0)
                snprintf(o->owner, sizeof o->owner, "%.*s", (int)v.len, (const char *)v.p);
            if (!strcmp(r->cols[c].name, "v") && v.len == 4)
                o->v = (int32_t)((uint32_t)v.p[0] << 24 | (uint32_t)v.p[1] << 16 |
                                 (uint32_t)v.p[2] << 8 | v.p[3]);
        }
    }
    sb_cql_result_free(r);
}

static int outcome_done(sb_fixture *f, void *arg)
{
    return ((outcome *)arg)->done > 0;
}

static void start(int i, const char *cql, int cl, int serial, outcome *o)
{
    memset(o, 0, sizeof *o);
    sb_cql_opts opts;
    sb_cql_opts_default(&opts);
    opts.consistency = cl;
    opts.serial_consistency = serial;
    int rc = sb_cql_execute(nodes[i].engine, &nodes[i].sess, cql, strlen(cql), NULL, 0, &opts,
                            on_result, o);
    assert_int_equal(rc, 0);
}

/* Runs one statement on node i at level cl until its result arrives. */
static outcome run(sb_fixture *f, int i, const char *cql, int cl)
{
    outcome o;
    start(i, cql, cl, SB_CL_SERIAL, &o);
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

typedef struct down_pair {
    int observer, node;
} down_pair;

static int seen_down(sb_fixture *f, void *arg)
{
    const down_pair *d = arg;
    sb_ep ep = sb_fixture_ep(d->node);
    return !sb_gossip_is_up(sb_cluster_gossip(nodes[d->observer].cluster), &ep);
}

/* --- setup ----------------------------------------------------------------- */

static sb_fixture *boot_cluster(uint64_t seed)
{
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 3000};
    sb_fixture *f = sb_fixture_new(seed, N, &net, NULL);
    for (int i = 0; i < N; i++)
        start_node(f, i);
    assert_true(sb_fixture_step_until(f, ring_complete, NULL, 60 * SEC));
    outcome o = run(f, 0,
                    "CREATE KEYSPACE ks WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                    SB_CL_ONE);
    expect_ok(&o, "create keyspace");
    o = run(f, 0, "CREATE TABLE ks.reg (k text PRIMARY KEY, owner text, v int)", SB_CL_ONE);
    expect_ok(&o, "create table");
    assert_true(sb_fixture_step_until(f, schemas_agree, NULL, 30 * SEC));
    const sb_table *t0 = sb_schema_table(sb_store_schema(nodes[0].store), "ks", "reg");
    assert_non_null(t0);
    for (int i = 0; i < N; i++)
        assert_int_equal(dsim_store_add_table(sb_fixture_store(f, i), t0->id), 0);
    return f;
}

static void teardown(sb_fixture *f)
{
    sb_fixture_free(f);
    for (int i = 0; i < N; i++)
        stop_node(&nodes[i]);
}

/* --- the tests --------------------------------------------------------------- */

#define RACERS 6

static void test_concurrent_if_not_exists_one_winner(void **state)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        sb_fixture *f = boot_cluster(seed);
        outcome o[RACERS];
        char cql[RACERS][160];
        for (int r = 0; r < RACERS; r++) {
            snprintf(cql[r], sizeof cql[r],
                     "INSERT INTO ks.reg (k, owner, v) VALUES ('key', 'client%d', %d) "
                     "IF NOT EXISTS",
                     r, r);
            start(r % N, cql[r], SB_CL_QUORUM, SB_CL_SERIAL, &o[r]);
        }
        for (int r = 0; r < RACERS; r++)
            assert_true(sb_fixture_step_until(f, outcome_done, &o[r], 60 * SEC));
        int winners = 0, winner = -1;
        for (int r = 0; r < RACERS; r++) {
            expect_ok(&o[r], "insert if not exists");
            assert_int_equal(o[r].kind, SB_CQL_RESULT_ROWS);
            assert_string_equal(o[r].cols[0], "[applied]");
            if (o[r].applied == 1) {
                winners++;
                winner = r;
                assert_int_equal(o[r].ncols, 1);
            }
        }
        assert_int_equal(winners, 1);
        char want[32];
        snprintf(want, sizeof want, "client%d", winner);
        for (int r = 0; r < RACERS; r++) {
            if (r == winner)
                continue;
            /* Not applied: [applied] = false and the existing row, which
             * is the winner's. */
            assert_int_equal(o[r].applied, 0);
            assert_int_equal(o[r].ncols, 4);
            assert_string_equal(o[r].cols[1], "k");
            assert_string_equal(o[r].owner, want);
        }
        for (int i = 0; i < N; i++) {
            outcome s = run(f, i, "SELECT owner, v FROM ks.reg WHERE k = 'key'", SB_CL_ONE);
            expect_ok(&s, "read at ONE");
            assert_int_equal(s.nrows, 1);
            assert_string_equal(s.owner, want);
            assert_int_equal(s.v, winner);
            s = run(f, i, "SELECT owner, v FROM ks.reg WHERE k = 'key'", SB_CL_SERIAL);
            expect_ok(&s, "read at SERIAL");
            assert_string_equal(s.owner, want);
        }
        sb_coord_stats st;
        uint64_t applied = 0, not_applied = 0;
        for (int i = 0; i < N; i++) {
            sb_coord_get_stats(sb_cluster_coord(nodes[i].cluster), &st);
            applied += st.lwt_applied;
            not_applied += st.lwt_not_applied;
        }
        assert_int_equal(applied, 1);
        assert_int_equal(not_applied, RACERS - 1);
        teardown(f);
    }
}

/* Under message loss and duplication some racers may time out (their
 * outcome unknown), but what is answered stays linearizable: at most one
 * applied, every not-applied answer shows the same row, and once the
 * network is clean again every node reads, at SERIAL, that row, which is
 * the applied racer's if one was told it applied. */
static void test_race_under_loss_stays_linearizable(void **state)
{
    for (uint64_t seed = 100; seed < 106; seed++) {
        sb_fixture *f = boot_cluster(seed);
        dsim_net lossy = {.loss = 0.05, .dup = 0.05, .delay_min_us = 200, .delay_max_us = 8000};
        sb_fixture_set_net(f, &lossy);
        outcome o[RACERS];
        char cql[RACERS][160];
        for (int r = 0; r < RACERS; r++) {
            snprintf(cql[r], sizeof cql[r],
                     "INSERT INTO ks.reg (k, owner, v) VALUES ('lossy', 'client%d', %d) "
                     "IF NOT EXISTS",
                     r, r);
            start(r % N, cql[r], SB_CL_QUORUM, SB_CL_SERIAL, &o[r]);
        }
        for (int r = 0; r < RACERS; r++)
            assert_true(sb_fixture_step_until(f, outcome_done, &o[r], 120 * SEC));
        int applied = -1;
        char seen[32] = "";
        for (int r = 0; r < RACERS; r++) {
            if (o[r].kind == SB_CQL_RESULT_ERROR) {
                assert_true(o[r].status == SB_ETIMEOUT || o[r].status == SB_EUNAVAILABLE);
                continue;
            }
            if (o[r].applied == 1) {
                assert_int_equal(applied, -1);
                applied = r;
                continue;
            }
            assert_int_equal(o[r].applied, 0);
            if (seen[0])
                assert_string_equal(o[r].owner, seen);
            snprintf(seen, sizeof seen, "%s", o[r].owner);
        }
        dsim_net clean = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 3000};
        sb_fixture_set_net(f, &clean);
        assert_true(sb_fixture_step_until(f, all_up, NULL, 60 * SEC));
        char final[32] = "";
        for (int i = 0; i < N; i++) {
            outcome s = run(f, i, "SELECT owner FROM ks.reg WHERE k = 'lossy'", SB_CL_SERIAL);
            expect_ok(&s, "SERIAL read after the loss");
            if (i == 0)
                snprintf(final, sizeof final, "%s", s.owner);
            assert_string_equal(s.owner, final);
        }
        if (seen[0])
            assert_string_equal(final, seen);
        if (applied >= 0) {
            char want[32];
            snprintf(want, sizeof want, "client%d", applied);
            assert_string_equal(final, want);
        }
        teardown(f);
    }
}

/* A counter kept as a register: three clients (one per node) each read
 * it at SERIAL and compare-and-set it one higher, again and again, under
 * message loss. Every increment told "applied" happened exactly once:
 * the final value is at least the applied count and at most that plus
 * the increments whose outcome was unknown (timeouts). */
#define CAS_CLIENTS 3
#define CAS_ROUNDS 8

typedef struct cas_client {
    int node, phase; /* 0 read, 1 cas */
    int done_rounds;
    int64_t seen;
    outcome o;
    char cql[160];
} cas_client;

static int any_done(sb_fixture *f, void *arg)
{
    cas_client *cl = arg;
    for (int i = 0; i < CAS_CLIENTS; i++)
        if (cl[i].done_rounds < CAS_ROUNDS && cl[i].o.done)
            return 1;
    return 0;
}

static void cas_next(cas_client *c)
{
    if (c->phase == 0) {
        start(c->node, "SELECT v FROM ks.reg WHERE k = 'ctr'", SB_CL_SERIAL, SB_CL_SERIAL, &c->o);
        return;
    }
    snprintf(c->cql, sizeof c->cql, "UPDATE ks.reg SET v = %lld WHERE k = 'ctr' IF v = %lld",
             (long long)c->seen + 1, (long long)c->seen);
    start(c->node, c->cql, SB_CL_QUORUM, SB_CL_SERIAL, &c->o);
}

static void test_counter_register_under_loss(void **state)
{
    for (uint64_t seed = 200; seed < 204; seed++) {
        sb_fixture *f = boot_cluster(seed);
        outcome o =
            run(f, 0, "INSERT INTO ks.reg (k, v) VALUES ('ctr', 0) IF NOT EXISTS", SB_CL_QUORUM);
        expect_ok(&o, "counter init");
        dsim_net lossy = {.loss = 0.03, .dup = 0.03, .delay_min_us = 200, .delay_max_us = 6000};
        sb_fixture_set_net(f, &lossy);
        cas_client cl[CAS_CLIENTS];
        memset(cl, 0, sizeof cl);
        for (int i = 0; i < CAS_CLIENTS; i++) {
            cl[i].node = i;
            cas_next(&cl[i]);
        }
        int applied = 0, unknown = 0, active = CAS_CLIENTS;
        for (int guard = 0; active > 0 && guard < 10000; guard++) {
            assert_true(sb_fixture_step_until(f, any_done, cl, 120 * SEC));
            for (int i = 0; i < CAS_CLIENTS; i++) {
                cas_client *c = &cl[i];
                if (c->done_rounds >= CAS_ROUNDS || !c->o.done)
                    continue;
                if (c->phase == 0) {
                    if (c->o.kind == SB_CQL_RESULT_ROWS && c->o.nrows == 1) {
                        c->seen = c->o.v;
                        c->phase = 1;
                    }
                } else {
                    if (c->o.kind == SB_CQL_RESULT_ERROR) {
                        assert_true(c->o.status == SB_ETIMEOUT || c->o.status == SB_EUNAVAILABLE);
                        unknown++;
                    } else if (c->o.applied == 1) {
                        applied++;
                    } else {
                        /* not applied: the current value is shown, and it moved on */
                        assert_int_equal(c->o.applied, 0);
                        assert_true(c->o.v != c->seen);
                    }
                    c->phase = 0;
                    if (++c->done_rounds == CAS_ROUNDS) {
                        active--;
                        continue;
                    }
                }
                cas_next(c);
            }
        }
        assert_int_equal(active, 0);
        dsim_net clean = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 3000};
        sb_fixture_set_net(f, &clean);
        assert_true(sb_fixture_step_until(f, all_up, NULL, 60 * SEC));
        o = run(f, 1, "SELECT v FROM ks.reg WHERE k = 'ctr'", SB_CL_SERIAL);
        expect_ok(&o, "final read");
        assert_true(applied > 0);
        assert_true(o.v >= applied && o.v <= applied + unknown);
        teardown(f);
    }
}

static void test_compare_and_set(void **state)
{
    sb_fixture *f = boot_cluster(11);
    outcome o = run(f, 1, "INSERT INTO ks.reg (k, owner, v) VALUES ('c', 'a', 1) IF NOT EXISTS",
                    SB_CL_QUORUM);
    expect_ok(&o, "insert");
    assert_int_equal(o.applied, 1);
    o = run(f, 2, "UPDATE ks.reg SET v = 2 WHERE k = 'c' IF v = 1", SB_CL_QUORUM);
    expect_ok(&o, "cas 1 -> 2");
    assert_int_equal(o.applied, 1);
    assert_int_equal(o.ncols, 1);
    /* A stale compare fails and shows the condition's column. */
    o = run(f, 0, "UPDATE ks.reg SET v = 3 WHERE k = 'c' IF v = 1", SB_CL_QUORUM);
    expect_ok(&o, "stale cas");
    assert_int_equal(o.applied, 0);
    assert_int_equal(o.ncols, 2);
    assert_string_equal(o.cols[1], "v");
    assert_int_equal(o.v, 2);
    o = run(f, 0, "UPDATE ks.reg SET v = 3 WHERE k = 'c' IF v > 1 AND owner IN ('x', 'a')",
            SB_CL_QUORUM);
    expect_ok(&o, "cas with > and IN");
    assert_int_equal(o.applied, 1);
    o = run(f, 0, "UPDATE ks.reg SET v = 9 WHERE k = 'nope' IF EXISTS", SB_CL_QUORUM);
    expect_ok(&o, "update if exists on a missing row");
    assert_int_equal(o.applied, 0);
    assert_int_equal(o.ncols, 1);
    o = run(f, 1, "DELETE FROM ks.reg WHERE k = 'c' IF v = 3", SB_CL_QUORUM);
    expect_ok(&o, "delete if");
    assert_int_equal(o.applied, 1);
    o = run(f, 2, "SELECT v FROM ks.reg WHERE k = 'c'", SB_CL_QUORUM);
    expect_ok(&o, "read after delete");
    assert_int_equal(o.nrows, 0);
    o = run(f, 2,
            "BEGIN BATCH INSERT INTO ks.reg (k, owner) VALUES ('b', 'z') IF NOT EXISTS; "
            "UPDATE ks.reg SET v = 4 WHERE k = 'b'; APPLY BATCH",
            SB_CL_QUORUM);
    expect_ok(&o, "conditional batch");
    assert_int_equal(o.applied, 1);
    o = run(f, 0, "SELECT owner, v FROM ks.reg WHERE k = 'b'", SB_CL_QUORUM);
    assert_string_equal(o.owner, "z");
    assert_int_equal(o.v, 4);
    o = run(f, 0, "UPDATE ks.reg USING TIMESTAMP 5 SET v = 1 WHERE k = 'b' IF v = 1", SB_CL_QUORUM);
    assert_int_equal(o.kind, SB_CQL_RESULT_ERROR);
    assert_int_equal(o.code, SB_CQL_ERR_INVALID);
    teardown(f);
}

static void test_minority_refuses_lwt_but_takes_one(void **state)
{
    sb_fixture *f = boot_cluster(21);
    int cut = 2;
    sb_fixture_isolate(f, cut);
    /* Before the failure detector convicts the others: the prepare gets
     * no quorum in time -> WriteTimeout of type CAS. */
    outcome o = run(f, cut, "INSERT INTO ks.reg (k, owner, v) VALUES ('m', 'x', 1) IF NOT EXISTS",
                    SB_CL_QUORUM);
    assert_int_equal(o.kind, SB_CQL_RESULT_ERROR);
    if (o.status == SB_ETIMEOUT) {
        assert_int_equal(o.code, SB_CQL_ERR_WRITE_TIMEOUT);
        assert_string_equal(o.write_type, "CAS");
    } else {
        assert_int_equal(o.status, SB_EUNAVAILABLE);
    }
    /* Once it sees them down: Unavailable at once. */
    down_pair d = {cut, 0};
    assert_true(sb_fixture_step_until(f, seen_down, &d, 60 * SEC));
    d.node = 1;
    assert_true(sb_fixture_step_until(f, seen_down, &d, 60 * SEC));
    o = run(f, cut, "UPDATE ks.reg SET v = 2 WHERE k = 'm' IF v = 1", SB_CL_QUORUM);
    assert_int_equal(o.kind, SB_CQL_RESULT_ERROR);
    assert_int_equal(o.status, SB_EUNAVAILABLE);
    assert_int_equal(o.code, SB_CQL_ERR_UNAVAILABLE);
    /* The same side takes plain writes at ONE: CAP, side by side. */
    o = run(f, cut, "INSERT INTO ks.reg (k, owner, v) VALUES ('m', 'ap', 7)", SB_CL_ONE);
    expect_ok(&o, "plain write at ONE in the minority");
    /* The majority side keeps doing LWTs. */
    o = run(f, 0, "INSERT INTO ks.reg (k, owner, v) VALUES ('n', 'cp', 1) IF NOT EXISTS",
            SB_CL_QUORUM);
    expect_ok(&o, "LWT in the majority");
    assert_int_equal(o.applied, 1);
    sb_coord_stats st;
    sb_coord_get_stats(sb_cluster_coord(nodes[cut].cluster), &st);
    assert_true(st.lwt_unavailable + st.lwt_timeout >= 2);
    teardown(f);
}

/* Nodes 1 and 2 never hear a commit: node 0's LWT (cql) is accepted by
 * all three but committed only on node 0 itself, so it times out at
 * QUORUM; then node 0 dies, leaving the proposal in progress. */
static void orphan_proposal(sb_fixture *f, const char *cql)
{
    uint32_t commit = 1u << SB_MSG_PAXOS_COMMIT;
    sb_fixture_drop_in(f, 1, commit);
    sb_fixture_drop_in(f, 2, commit);
    outcome o = run(f, 0, cql, SB_CL_QUORUM);
    assert_int_equal(o.kind, SB_CQL_RESULT_ERROR);
    assert_int_equal(o.status, SB_ETIMEOUT);
    sb_fixture_crash(f, 0);
    sb_fixture_drop_in(f, 1, 0);
    sb_fixture_drop_in(f, 2, 0);
}

static void test_crashed_proposer_is_finished_by_next_round(void **state)
{
    sb_fixture *f = boot_cluster(31);
    orphan_proposal(f, "INSERT INTO ks.reg (k, owner, v) VALUES ('z', 'ghost', 5) IF NOT EXISTS");
    outcome o;
    /* Reads at QUORUM ask the first replicas by address: wait until node
     * 1 knows node 0 is gone, as a driver would retry elsewhere. */
    down_pair d = {1, 0};
    assert_true(sb_fixture_step_until(f, seen_down, &d, 60 * SEC));
    /* The replicas hold it only as an accepted proposal. */
    o = run(f, 1, "SELECT owner FROM ks.reg WHERE k = 'z'", SB_CL_ONE);
    expect_ok(&o, "read at ONE before the next round");
    assert_int_equal(o.nrows, 0);
    /* The next LWT finds it in progress, finishes it, and then sees it. */
    o = run(f, 1, "INSERT INTO ks.reg (k, owner, v) VALUES ('z', 'late', 6) IF NOT EXISTS",
            SB_CL_QUORUM);
    expect_ok(&o, "the next LWT");
    assert_int_equal(o.applied, 0);
    assert_string_equal(o.owner, "ghost");
    o = run(f, 2, "SELECT owner, v FROM ks.reg WHERE k = 'z'", SB_CL_ONE);
    expect_ok(&o, "read at ONE after the repair");
    assert_string_equal(o.owner, "ghost");
    sb_coord_stats st;
    sb_coord_get_stats(sb_cluster_coord(nodes[1].cluster), &st);
    assert_true(st.lwt_repairs >= 1);
    teardown(f);
}

typedef struct found_state {
    int n;
    paxos_state st;
} found_state;

static int on_state(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    found_state *fs = arg;
    fs->n++;
    return paxos_state_decode(&fs->st, v, vlen);
}

static void test_acceptor_state_survives_restart(void **state)
{
    sb_fixture *f = boot_cluster(41);
    orphan_proposal(f, "INSERT INTO ks.reg (k, owner, v) VALUES ('r', 'kept', 8) IF NOT EXISTS");
    /* Node 1 dies too and comes back: a new process over what its store
     * made durable. */
    sb_fixture_crash(f, 1);
    stop_node(&nodes[1]);
    start_node(f, 1);
    found_state fs = {0};
    paxos_state_init(&fs.st);
    const sb_io *io = sb_fixture_io(f, 1);
    assert_int_equal(io->st->kv_scan(io->st_ctx, (const uint8_t *)PAXOS_KV_PREFIX,
                                     strlen(PAXOS_KV_PREFIX), on_state, &fs),
                     0);
    assert_int_equal(fs.n, 1);
    assert_false(paxos_ballot_is_zero(&fs.st.accepted));
    assert_true(fs.st.accepted_mut.len > 4);
    assert_true(paxos_ballot_cmp(&fs.st.promised, &fs.st.accepted) >= 0);
    assert_true(paxos_ballot_is_zero(&fs.st.committed));
    paxos_state_free(&fs.st);
    /* Once nodes 1 and 2 agree again, node 1's LWT finishes the proposal. */
    down_pair d = {1, 0};
    assert_true(sb_fixture_step_until(f, seen_down, &d, 60 * SEC));
    assert_true(sb_fixture_step_until(f, all_up, NULL, 60 * SEC));
    assert_true(sb_fixture_step_until(f, schemas_agree, NULL, 60 * SEC));
    outcome o = run(f, 1, "UPDATE ks.reg SET v = 9 WHERE k = 'r' IF v = 8", SB_CL_QUORUM);
    expect_ok(&o, "the LWT after the restart");
    assert_int_equal(o.applied, 1);
    o = run(f, 2, "SELECT owner, v FROM ks.reg WHERE k = 'r'", SB_CL_ONE);
    assert_string_equal(o.owner, "kept");
    assert_int_equal(o.v, 9);
    teardown(f);
}

/* The newest commit among the Paxos states node holds. */
static int on_newest(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    sb_ballot *newest = arg;
    paxos_state st;
    paxos_state_init(&st);
    int rc = paxos_state_decode(&st, v, vlen);
    if (rc == 0 && paxos_ballot_cmp(&st.committed, newest) > 0)
        *newest = st.committed;
    paxos_state_free(&st);
    return rc;
}

static sb_ballot newest_commit(sb_fixture *f, int node)
{
    sb_ballot b = {0, 0};
    const sb_io *io = sb_fixture_io(f, node);
    assert_int_equal(io->st->kv_scan(io->st_ctx, (const uint8_t *)PAXOS_KV_PREFIX,
                                     strlen(PAXOS_KV_PREFIX), on_newest, &b),
                     0);
    return b;
}

/* Two coordinators whose clocks read the same microsecond: b's ballot
 * (us, bits_b) beats a's (us, bits_a) on the node bits alone, but the
 * cells carry only us, so a later compare-and-set would tie with the
 * value it replaced and last-write-wins would keep the larger value (9
 * over 1). A round's ballot must be later in microseconds than the most
 * recent commit its prepare saw. */
static void test_ballot_after_commit_in_same_microsecond(void **state)
{
    sb_fixture *f = boot_cluster(61);
    uint64_t bits[N];
    for (int i = 0; i < N; i++) {
        char cql[96];
        snprintf(cql, sizeof cql, "INSERT INTO ks.reg (k, v) VALUES ('w%d', 1) IF NOT EXISTS", i);
        outcome o = run(f, i, cql, SB_CL_QUORUM);
        expect_ok(&o, "warm-up insert");
        bits[i] = newest_commit(f, i).node;
    }
    int a = 0, b = 1;
    if (bits[b] < bits[a]) {
        a = 1;
        b = 0;
    }
    outcome o =
        run(f, a, "INSERT INTO ks.reg (k, v) VALUES ('tie', 9) IF NOT EXISTS", SB_CL_QUORUM);
    expect_ok(&o, "insert 9");
    assert_int_equal(o.applied, 1);
    sb_ballot first = newest_commit(f, a);
    assert_int_equal(first.node, bits[a]);
    /* b's clock now reads the microsecond of a's ballot. */
    const sb_io *io = sb_fixture_io(f, b);
    int64_t skew = first.us - io->now_us(io->ctx);
    sb_fixture_set_skew(f, b, skew);
    assert_int_equal(io->now_us(io->ctx), first.us);
    o = run(f, b, "UPDATE ks.reg SET v = 1 WHERE k = 'tie' IF v = 9", SB_CL_QUORUM);
    expect_ok(&o, "cas 9 -> 1");
    assert_int_equal(o.applied, 1);
    sb_ballot second = newest_commit(f, b);
    assert_int_equal(second.node, bits[b]);
    assert_true(second.us > first.us);
    sb_fixture_set_skew(f, b, 0);
    for (int i = 0; i < N; i++) {
        o = run(f, i, "SELECT v FROM ks.reg WHERE k = 'tie'", SB_CL_SERIAL);
        expect_ok(&o, "SERIAL read");
        assert_int_equal(o.v, 1);
    }
    teardown(f);
}

int main(void)
{
    sb_log_set_level(SB_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_if_not_exists_one_winner),
        cmocka_unit_test(test_race_under_loss_stays_linearizable),
        cmocka_unit_test(test_counter_register_under_loss),
        cmocka_unit_test(test_compare_and_set),
        cmocka_unit_test(test_minority_refuses_lwt_but_takes_one),
        cmocka_unit_test(test_crashed_proposer_is_finished_by_next_round),
        cmocka_unit_test(test_acceptor_state_survives_restart),
        cmocka_unit_test(test_ballot_after_commit_in_same_microsecond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
