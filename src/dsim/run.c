/*
 * One simulated run (dsim.h): the cluster nodes over the world, the
 * workload, the fault schedule and the invariant checks.
 *
 * Phases of a run (virtual time):
 *   form    nodes boot one after another; wait until every node knows
 *           every other as NORMAL and up (a ring that never forms fails);
 *   chaos   clients issue writes and reads through random live
 *           coordinators while faults come and go;
 *   heal    every fault ends, dead nodes restart; wait for every node to
 *           see every other up and for hints to drain;
 *   check   read every key at ALL (read repair), compare the replicas'
 *           stores byte for byte, read every key at QUORUM against the
 *           acknowledged writes, stop every node, count outcomes.
 *
 * Values: key k (bigint) of the one table holds one row (no clustering)
 * whose cell 1 is an 8-byte write id, unique per write; the write's
 * timestamp is the coordinator's clock, raised above the last one issued
 * for the key (so per key timestamps increase, while skewed clocks still
 * shape them). A read returns (ts, write id); both must name a real write.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/dsim.h"
#include "dsim/fixture.h"
#include "util/consistency.h"
#include "util/err.h"

static const char *cl_name(int cl)
{
    const char *name = sb_consistency_name(cl);
    return name ? name : "?";
}

static const uint8_t TABLE_ID[16] = {'d', 's', 'i', 'm', '-', 't', 'a', 'b',
                                     'l', 'e', '-', 'k', 'v', 0,   0,   1};

#define MAX_KEYS 256
#define SEC 1000000ull
#define MS 1000ull

typedef struct sim sim;

typedef struct req {
    sim *s;
    uint64_t id;
    int is_write;
    int key;
    int cl;
    int node;
    uint32_t inc;
    int64_t ts;      /* write */
    uint64_t value;  /* write id */
    int64_t need_ts; /* read: newest write it must see (0: none) */
    uint64_t start_us, end_us;
    int outcomes;
    int status;
    int abandoned; /* its coordinator crashed without answering */
    int final;     /* a check read (after healing) */
} req;

typedef struct wrec {
    int key;
    int64_t ts;
} wrec;

struct sim {
    const sb_dsim_opts *o;
    sb_dsim_result *r;
    sb_fixture *f;
    dsim_world *w; /* the fixture's */
    int n;
    int dcs;
    char dc[DSIM_MAX_NODES][SB_DC_MAX];
    struct restart_arg {
        sim *s;
        int node;
    } restart[DSIM_MAX_NODES];
    sb_repl repl;
    sb_fixture_kv kv; /* the one table (fixture.h), replicated as repl */
    int rf;
    int nkeys;
    sb_buf rowkey[MAX_KEYS];
    int64_t last_ts[MAX_KEYS];
    /* Newest acknowledged write timestamp per key and per acknowledging
     * replica count W (0 for ANY): index [key][W]. */
    int64_t acked[MAX_KEYS][SB_MAX_REPLICAS + 1];
    int64_t acked_any[MAX_KEYS];      /* over every level but ANY */
    int64_t acked_anylevel[MAX_KEYS]; /* ANY included */
    wrec *writes;                     /* by write id - 1 */
    size_t nwrites, capwrites;
    req **reqs;
    size_t nreqs, capreqs;
    int outstanding;
    int chaos; /* workload and faults running */
    dsim_net base_net;
    int fault_partition, fault_net;
    int final_pending;
    char errmsg[SB_ERRMSG_SIZE];
};

/* --- failures ------------------------------------------------------------- */

static void fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sim *s, const char *fmt, ...)
{
    char msg[SB_DSIM_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!s->r->failures)
        snprintf(s->r->first_failure, sizeof s->r->first_failure, "%s", msg);
    s->r->failures++;
    dsim_log(s->w, "INVARIANT VIOLATED: %s", msg);
}

/* The node's cluster, NULL while it is down. */
static sb_cluster *node_cluster(sim *s, int i)
{
    return sb_fixture_cluster(s->f, i);
}

/* --- keys and values --------------------------------------------------------
 */

static int64_t key_value(int key)
{
    return 1000 + key;
}

/* --- levels ----------------------------------------------------------------
 */

static int quorum(int n)
{
    return n / 2 + 1;
}

/* Replicas a level makes answer, for a coordinator in dc. */
static int level_count(const sim *s, int cl, const char *dc)
{
    switch (cl) {
    case SB_CL_ANY:
        return 0;
    case SB_CL_ONE:
        return 1;
    case SB_CL_TWO:
        return 2;
    case SB_CL_THREE:
        return 3;
    case SB_CL_QUORUM:
        return quorum(s->rf);
    case SB_CL_ALL:
        return s->rf;
    case SB_CL_LOCAL_ONE:
        return 1;
    case SB_CL_LOCAL_QUORUM:
        return quorum(sb_repl_dc(&s->repl, dc));
    case SB_CL_EACH_QUORUM: {
        if (s->repl.kind != SB_REPL_NTS)
            return quorum(s->rf);
        int sum = 0;
        for (int i = 0; i < s->repl.ndcs; i++)
            sum += quorum(s->repl.dcs[i].rf);
        return sum;
    }
    default:
        return 0;
    }
}

/* --- requests ---------------------------------------------------------------
 */

static req *req_new(sim *s, int is_write, int key, int cl, int node)
{
    if (s->nreqs == s->capreqs) {
        size_t cap = s->capreqs ? s->capreqs * 2 : 256;
        req **nr = realloc(s->reqs, cap * sizeof *nr);
        if (!nr)
            return NULL;
        s->reqs = nr;
        s->capreqs = cap;
    }
    req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->s = s;
    q->id = s->nreqs + 1;
    q->is_write = is_write;
    q->key = key;
    q->cl = cl;
    q->node = node;
    q->inc = dsim_node_incarnation(s->w, node);
    q->need_ts = 0;
    q->start_us = dsim_now_us(s->w);
    s->reqs[s->nreqs++] = q;
    s->outstanding++;
    s->r->ops++;
    return q;
}

/* Counts an outcome; 1 if it is the first. */
static int outcome(req *q, int status)
{
    sim *s = q->s;
    q->outcomes++;
    if (q->outcomes > 1) {
        fail(s,
             "request %llu (%s of key %d at %s via n%d) got a second outcome (%s "
             "after %s)",
             (unsigned long long)q->id, q->is_write ? "write" : "read", q->key, cl_name(q->cl),
             q->node + 1, sb_errname(status), q->status ? sb_errname(q->status) : "success");
        return 0;
    }
    if (q->abandoned)
        fail(s, "request %llu answered after its coordinator n%d crashed",
             (unsigned long long)q->id, q->node + 1);
    q->status = status;
    q->end_us = dsim_now_us(s->w);
    s->outstanding--;
    if (!status)
        s->r->ops_ok++;
    return 1;
}

static void write_done(void *arg, const sb_coord_result *res)
{
    req *q = arg;
    sim *s = q->s;
    if (!outcome(q, res->status))
        return;
    dsim_log(s->w, "op %llu write k%d ts %lld id %llu at %s via n%d: %s", (unsigned long long)q->id,
             q->key, (long long)q->ts, (unsigned long long)q->value, cl_name(q->cl), q->node + 1,
             res->status ? sb_errname(res->status) : "ok");
    if (res->status)
        return;
    int w = level_count(s, q->cl, s->dc[q->node]);
    if (w > SB_MAX_REPLICAS)
        w = SB_MAX_REPLICAS;
    if (q->ts > s->acked[q->key][w])
        s->acked[q->key][w] = q->ts;
    if (q->ts > s->acked_anylevel[q->key])
        s->acked_anylevel[q->key] = q->ts;
    if (q->cl != SB_CL_ANY && q->ts > s->acked_any[q->key])
        s->acked_any[q->key] = q->ts;
}

/* Checks a read's entries; returns the newest (ts, value) seen. */
static void read_check(req *q, const sb_raw *entries, size_t n, int64_t *ts_out)
{
    sim *s = q->s;
    const sb_buf *rk = &s->rowkey[q->key];
    *ts_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            const sb_raw *a = &entries[i - 1], *b = &entries[i];
            size_t m = a->klen < b->klen ? a->klen : b->klen;
            int c = memcmp(a->key, b->key, m);
            if (c > 0 || (c == 0 && a->klen >= b->klen))
                fail(s, "read %llu of key %d: entries not sorted by key or not unique",
                     (unsigned long long)q->id, q->key);
        }
        if (entries[i].klen != rk->len || memcmp(entries[i].key, rk->data, rk->len)) {
            fail(s, "read %llu of key %d returned an entry of another key (%zu bytes)",
                 (unsigned long long)q->id, q->key, entries[i].klen);
            continue;
        }
        int64_t ts;
        uint64_t value;
        int rv = sb_fixture_kv_parse(entries[i].val, entries[i].vlen, &ts, &value);
        if (rv < 0) {
            fail(s, "read %llu of key %d returned a value that does not decode (%s)",
                 (unsigned long long)q->id, q->key, sb_errname(rv));
            continue;
        }
        if (!rv)
            continue;
        if (value == 0 || value > s->nwrites || s->writes[value - 1].key != q->key ||
            s->writes[value - 1].ts != ts) {
            fail(s,
                 "read %llu of key %d returned write id %llu with ts %lld, which was "
                 "never "
                 "written so",
                 (unsigned long long)q->id, q->key, (unsigned long long)value, (long long)ts);
            continue;
        }
        *ts_out = ts;
    }
}

static void read_done(void *arg, const sb_coord_result *res, const sb_raw *entries, size_t n,
                      int more)
{
    req *q = arg;
    sim *s = q->s;
    if (!outcome(q, res->status))
        return;
    if (q->final)
        s->final_pending--;
    int64_t ts = 0;
    if (!res->status)
        read_check(q, entries, n, &ts);
    dsim_log(s->w, "op %llu read k%d at %s via n%d: %s ts %lld (needs %lld)",
             (unsigned long long)q->id, q->key, cl_name(q->cl), q->node + 1,
             res->status ? sb_errname(res->status) : "ok", (long long)ts, (long long)q->need_ts);
    if (!res->status && ts < q->need_ts)
        fail(s,
             "read %llu of key %d at %s via n%d returned ts %lld, older than the "
             "write with ts "
             "%lld acknowledged before it started",
             (unsigned long long)q->id, q->key, cl_name(q->cl), q->node + 1, (long long)ts,
             (long long)q->need_ts);
}

static int issue_write(sim *s, int node, int key, int cl)
{
    req *q = req_new(s, 1, key, cl, node);
    if (!q)
        return SB_ENOMEM;
    if (s->nwrites == s->capwrites) {
        size_t cap = s->capwrites ? s->capwrites * 2 : 1024;
        wrec *nw = realloc(s->writes, cap * sizeof *nw);
        if (!nw)
            return SB_ENOMEM;
        s->writes = nw;
        s->capwrites = cap;
    }
    /* The coordinator's clock (skewed), raised above the key's last. */
    const sb_io *io = sb_fixture_io(s->f, node);
    int64_t ts = io->now_us(io->ctx);
    ts += (int64_t)dsim_rand_range(s->w, 0, 1000); /* client-side jitter */
    if (ts <= s->last_ts[key])
        ts = s->last_ts[key] + 1;
    s->last_ts[key] = ts;
    q->ts = ts;
    q->value = s->nwrites + 1;
    s->writes[s->nwrites++] = (wrec){key, ts};
    sb_buf val;
    sb_buf_init(&val);
    int rv = sb_fixture_kv_value(&val, ts, q->value);
    if (rv) {
        sb_buf_free(&val);
        return rv;
    }
    sb_raw_mut m = {TABLE_ID, {s->rowkey[key].data, s->rowkey[key].len, val.data, val.len}};
    rv =
        sb_coord_write(sb_cluster_coord(node_cluster(s, node)), &m, 1, cl, "SIMPLE", write_done, q);
    sb_buf_free(&val);
    if (rv) {
        /* Refused at once: that is its outcome (no callback may follow). */
        dsim_log(s->w, "op %llu write k%d at %s via n%d refused: %s", (unsigned long long)q->id,
                 key, cl_name(cl), node + 1, sb_errname(rv));
        outcome(q, rv);
    }
    return 0;
}

static int issue_read(sim *s, int node, int key, int cl, int final)
{
    req *q = req_new(s, 0, key, cl, node);
    if (!q)
        return SB_ENOMEM;
    q->final = final;
    int r = level_count(s, cl, s->dc[node]);
    for (int w = 0; w <= SB_MAX_REPLICAS; w++)
        if (w + r > s->rf && s->acked[key][w] > q->need_ts)
            q->need_ts = s->acked[key][w];
    if (final && s->acked_any[key] > q->need_ts)
        q->need_ts = s->acked_any[key];
    sb_rawq rq;
    sb_rawq_init(&rq);
    int rv = sb_fixture_kv_query(&s->kv, key_value(key), &rq, s->errmsg);
    if (!rv)
        rv = sb_coord_read(sb_cluster_coord(node_cluster(s, node)), &rq, cl, read_done, q);
    sb_rawq_free(&rq);
    if (final)
        s->final_pending++;
    if (rv) {
        dsim_log(s->w, "op %llu read k%d at %s via n%d refused: %s", (unsigned long long)q->id, key,
                 cl_name(cl), node + 1, sb_errname(rv));
        if (final)
            s->final_pending--;
        outcome(q, rv);
    }
    return 0;
}

/* --- nodes
 * ------------------------------------------------------------------------ */

static int boot(sim *s, int i)
{
    sb_cluster_opts o;
    sb_fixture_cluster_opts(i, "dsim", &o);
    snprintf(o.gossip.dc, sizeof o.gossip.dc, "%s", s->dc[i]);
    snprintf(o.gossip.rack, sizeof o.gossip.rack, "rack%d", i % 3 + 1);
    sb_ep seeds[2] = {dsim_node_ep(0), dsim_node_ep(s->n - 1)};
    o.gossip.seeds = seeds;
    o.gossip.nseeds = s->dcs > 1 ? 2 : 1;
    o.coord.table_repl = sb_fixture_kv_table_repl;
    o.coord.table_repl_arg = &s->kv;
    o.schema.get = NULL;
    o.schema.put = NULL;
    int rv = sb_fixture_start_cluster(s->f, i, &o, s->errmsg);
    if (rv == SB_ESERVER)
        fail(s, "n%d: sb_cluster_new failed: %s", i + 1, s->errmsg);
    return rv;
}

/* Requests coordinated by a node that just died without answering. */
static void abandon(sim *s, int i, uint32_t inc)
{
    for (size_t k = 0; k < s->nreqs; k++) {
        req *q = s->reqs[k];
        if (q->node == i && q->inc == inc && !q->outcomes && !q->abandoned) {
            q->abandoned = 1;
            s->outstanding--;
            if (q->final)
                s->final_pending--;
        }
    }
}

/* A hard crash (clean = 0) or a clean stop (clean = 1). */
static void kill_node(sim *s, int i, int clean)
{
    if (!node_cluster(s, i))
        return;
    uint32_t inc = dsim_node_incarnation(s->w, i);
    if (clean) {
        dsim_log(s->w, "n%d stops cleanly", i + 1);
        sb_fixture_stop(s->f, i);
    } else {
        sb_fixture_crash(s->f, i);
    }
    abandon(s, i, inc);
}

/* --- workload and faults
 * ------------------------------------------------------------ */

static int random_live_node(sim *s)
{
    int live[DSIM_MAX_NODES], n = 0;
    for (int i = 0; i < s->n; i++)
        if (node_cluster(s, i))
            live[n++] = i;
    return n ? live[dsim_rand_range(s->w, 0, (uint64_t)n - 1)] : -1;
}

/* A node clients may use: up, and (with patient_clients) it knows the
 * whole ring. A restarted node loads its peers' tokens from its kv space
 * (cluster/gossip_store.c, sys/peers/), so by default clients use it at once. */
static int ready(sim *s, int i)
{
    if (!node_cluster(s, i))
        return 0;
    if (!s->o->patient_clients)
        return 1;
    return sb_ring_nnodes(sb_gossip_ring(sb_cluster_gossip(node_cluster(s, i)))) == s->n;
}

static int random_coordinator(sim *s)
{
    int live[DSIM_MAX_NODES], n = 0;
    for (int i = 0; i < s->n; i++)
        if (ready(s, i))
            live[n++] = i;
    return n ? live[dsim_rand_range(s->w, 0, (uint64_t)n - 1)] : -1;
}

static int pick_cl(sim *s, int is_write)
{
    static const int wl[] = {SB_CL_ANY,    SB_CL_ONE,          SB_CL_TWO,         SB_CL_QUORUM,
                             SB_CL_QUORUM, SB_CL_QUORUM,       SB_CL_ALL,         SB_CL_LOCAL_ONE,
                             SB_CL_QUORUM, SB_CL_LOCAL_QUORUM, SB_CL_EACH_QUORUM, SB_CL_THREE};
    static const int rl[] = {SB_CL_ONE,    SB_CL_TWO, SB_CL_QUORUM,       SB_CL_QUORUM,
                             SB_CL_QUORUM, SB_CL_ALL, SB_CL_LOCAL_QUORUM, SB_CL_LOCAL_ONE};
    if (is_write)
        return wl[dsim_rand_range(s->w, 0, sizeof wl / sizeof *wl - 1)];
    return rl[dsim_rand_range(s->w, 0, sizeof rl / sizeof *rl - 1)];
}

static void client_tick(void *arg)
{
    sim *s = arg;
    if (!s->chaos)
        return;
    int node = random_coordinator(s);
    if (node >= 0 && s->outstanding < 64) {
        int key = (int)dsim_rand_range(s->w, 0, (uint64_t)s->nkeys - 1);
        int rv = dsim_chance(s->w, 0.5) ? issue_write(s, node, key, pick_cl(s, 1))
                                        : issue_read(s, node, key, pick_cl(s, 0), 0);
        if (rv)
            fail(s, "workload: cannot issue a request: %s", sb_strerror(rv));
    }
    dsim_at(s->w, dsim_rand_range(s->w, 10 * MS, 140 * MS), client_tick, s);
}

static void heal_partition(void *arg)
{
    sim *s = arg;
    if (s->fault_partition) {
        dsim_heal(s->w);
        s->fault_partition = 0;
    }
}

static void net_back(void *arg)
{
    sim *s = arg;
    if (s->fault_net) {
        dsim_set_net(s->w, &s->base_net);
        s->fault_net = 0;
    }
}

static void restart_node(void *arg)
{
    struct restart_arg *ra = arg;
    sim *s = ra->s;
    int i = ra->node;
    if (!node_cluster(s, i) && s->chaos) {
        dsim_log(s->w, "n%d restarts", i + 1);
        if (dsim_chance(s->w, 0.3)) {
            /* The machine's clock was reset meanwhile (up to 2 s either
             * way): generations must still increase. */
            int64_t skew = (int64_t)dsim_rand_range(s->w, 0, 4 * SEC) - 2 * (int64_t)SEC;
            dsim_set_skew(s->w, i, skew);
            dsim_log(s->w, "n%d clock skew now %lld us", i + 1, (long long)skew);
        }
        boot(s, i);
    }
}

static void fault_tick(void *arg)
{
    sim *s = arg;
    if (!s->chaos)
        return;
    int kind = (int)dsim_rand_range(s->w, 0, 3);
    int down = 0;
    for (int i = 0; i < s->n; i++)
        down += !node_cluster(s, i);
    if (kind == 0 && !s->fault_partition) {
        int group[DSIM_MAX_NODES];
        if (dsim_chance(s->w, 0.5)) {
            int lone = (int)dsim_rand_range(s->w, 0, (uint64_t)s->n - 1);
            for (int i = 0; i < s->n; i++)
                group[i] = i == lone;
        } else {
            for (int i = 0; i < s->n; i++)
                group[i] = (int)dsim_rand_range(s->w, 0, 1);
        }
        dsim_partition(s->w, group);
        s->fault_partition = 1;
        s->r->faults++;
        dsim_at(s->w, dsim_rand_range(s->w, 2 * SEC, 30 * SEC), heal_partition, s);
    } else if (kind == 1 && down < s->n - 1) {
        int i = random_live_node(s);
        if (i >= 0) {
            kill_node(s, i, dsim_chance(s->w, 0.3));
            s->r->faults++;
            s->restart[i] = (struct restart_arg){s, i};
            dsim_at(s->w, dsim_rand_range(s->w, 1 * SEC, 40 * SEC), restart_node, &s->restart[i]);
        }
    } else if (kind == 2 && !s->fault_net) {
        dsim_net n = s->base_net;
        switch (dsim_rand_range(s->w, 0, 2)) {
        case 0:
            n.loss = 0.05 + 0.4 * (double)dsim_rand_range(s->w, 0, 100) / 100;
            break;
        case 1:
            n.dup = 0.1 + 0.4 * (double)dsim_rand_range(s->w, 0, 100) / 100;
            break;
        default:
            n.delay_max_us = (uint32_t)dsim_rand_range(s->w, 20 * MS, 3000 * MS);
            break;
        }
        dsim_set_net(s->w, &n);
        s->fault_net = 1;
        s->r->faults++;
        dsim_at(s->w, dsim_rand_range(s->w, 1 * SEC, 20 * SEC), net_back, s);
    }
    dsim_at(s->w, dsim_rand_range(s->w, 1 * SEC, 8 * SEC), fault_tick, s);
}

/* --- settling and checks
 * -------------------------------------------------------------- */

/* Every live node sees every node NORMAL and up; with hints, none pending. */
static int settled(sim *s, int want_hints_drained)
{
    for (int i = 0; i < s->n; i++) {
        if (!node_cluster(s, i))
            return 0;
        sb_gossip *g = sb_cluster_gossip(node_cluster(s, i));
        for (int j = 0; j < s->n; j++) {
            sb_ep ep = dsim_node_ep(j);
            const sb_member *m = sb_gossip_find(g, &ep);
            if (!m || m->status != SB_STATUS_NORMAL || !sb_gossip_is_up(g, &ep))
                return 0;
        }
        if (want_hints_drained) {
            sb_hints_stats hs;
            sb_hints_get_stats(sb_cluster_hints(node_cluster(s, i)), &hs);
            if (hs.pending)
                return 0;
        }
    }
    return 1;
}

static int wait_until(sim *s, int (*cond)(sim *s, int arg), int arg, uint64_t limit_us)
{
    uint64_t end = dsim_now_us(s->w) + limit_us;
    while (dsim_now_us(s->w) < end) {
        if (cond(s, arg))
            return 1;
        dsim_run_until(s->w, dsim_now_us(s->w) + 100 * MS);
    }
    return cond(s, arg);
}

static int no_final_pending(sim *s, int arg)
{
    (void)arg;
    return s->final_pending == 0;
}

static int nothing_outstanding(sim *s, int arg)
{
    (void)arg;
    return s->outstanding == 0;
}

/* Final reads of every key at cl; keys whose read failed are retried. */
static void final_reads(sim *s, int cl, const char *what)
{
    int done[MAX_KEYS] = {0};
    for (int attempt = 0; attempt < 6; attempt++) {
        size_t first = s->nreqs;
        for (int k = 0; k < s->nkeys; k++)
            if (!done[k])
                issue_read(s, (int)dsim_rand_range(s->w, 0, (uint64_t)s->n - 1), k, cl, 1);
        if (!wait_until(s, no_final_pending, 0, 60 * SEC)) {
            fail(s, "%s: reads at %s did not finish within 60 s", what, cl_name(cl));
            return;
        }
        int left = 0;
        for (size_t i = first; i < s->nreqs; i++) {
            if (!s->reqs[i]->status)
                done[s->reqs[i]->key] = 1;
        }
        for (int k = 0; k < s->nkeys; k++)
            left += !done[k];
        if (!left)
            return;
        dsim_run_until(s->w, dsim_now_us(s->w) + 2 * SEC);
    }
    for (int k = 0; k < s->nkeys; k++)
        if (!done[k]) {
            fail(s, "%s: key %d could not be read at %s after healing (6 attempts)", what, k,
                 cl_name(cl));
            return;
        }
}

static void check_rings(sim *s)
{
    const sb_ring *r0 = sb_gossip_ring(sb_cluster_gossip(node_cluster(s, 0)));
    for (int i = 1; i < s->n; i++) {
        const sb_ring *r = sb_gossip_ring(sb_cluster_gossip(node_cluster(s, i)));
        int same = sb_ring_ntokens(r) == sb_ring_ntokens(r0);
        for (int t = 0; same && t < sb_ring_ntokens(r); t++) {
            const sb_ring_node *a = sb_ring_node_at(r, sb_ring_owner_at(r, t));
            const sb_ring_node *b = sb_ring_node_at(r0, sb_ring_owner_at(r0, t));
            same = sb_ring_token_at(r, t) == sb_ring_token_at(r0, t) && sb_ep_eq(&a->ep, &b->ep);
        }
        if (!same) {
            fail(s, "convergence: n%d and n1 disagree on the ring (%d and %d tokens)", i + 1,
                 sb_ring_ntokens(r), sb_ring_ntokens(r0));
            return;
        }
    }
}

static void check_replicas(sim *s)
{
    const sb_ring *ring = sb_gossip_ring(sb_cluster_gossip(node_cluster(s, 0)));
    for (int k = 0; k < s->nkeys; k++) {
        const sb_buf *rk = &s->rowkey[k];
        int idx[SB_MAX_REPLICAS];
        int n =
            sb_ring_replicas(ring, &s->repl, sb_raw_token(rk->data, rk->len), idx, SB_MAX_REPLICAS);
        int is_replica[DSIM_MAX_NODES] = {0};
        for (int j = 0; j < n; j++) {
            int node = dsim_node_of(s->w, &sb_ring_node_at(ring, idx[j])->ep);
            if (node >= 0)
                is_replica[node] = 1;
        }
        const sb_raw *ref = NULL;
        sb_raw vals[DSIM_MAX_NODES];
        int ref_node = -1;
        for (int i = 0; i < s->n; i++) {
            int has =
                dsim_store_get(dsim_node_store(s->w, i), TABLE_ID, rk->data, rk->len, &vals[i]);
            if (!is_replica[i]) {
                if (has)
                    fail(s, "convergence: n%d holds key %d but is not one of its replicas", i + 1,
                         k);
                continue;
            }
            if (!has) {
                if (s->acked_anylevel[k] > 0 || ref)
                    fail(s, "convergence: replica n%d of key %d holds nothing", i + 1, k);
                continue;
            }
            if (!ref) {
                ref = &vals[i];
                ref_node = i;
            } else if (ref->vlen != vals[i].vlen || memcmp(ref->val, vals[i].val, ref->vlen)) {
                int64_t t1 = -1, t2 = -1;
                uint64_t v1 = 0, v2 = 0;
                sb_fixture_kv_parse(ref->val, ref->vlen, &t1, &v1);
                sb_fixture_kv_parse(vals[i].val, vals[i].vlen, &t2, &v2);
                fail(s,
                     "convergence: replicas n%d and n%d of key %d differ after repair "
                     "(ts %lld id %llu vs ts %lld id %llu)",
                     ref_node + 1, i + 1, k, (long long)t1, (unsigned long long)v1, (long long)t2,
                     (unsigned long long)v2);
            }
        }
    }
}

static void check_outcomes(sim *s)
{
    for (size_t i = 0; i < s->nreqs; i++) {
        const req *q = s->reqs[i];
        if (!q->outcomes && !q->abandoned) {
            fail(s,
                 "request %llu (%s of key %d at %s via n%d, started at %.3f s) never "
                 "got an "
                 "outcome",
                 (unsigned long long)q->id, q->is_write ? "write" : "read", q->key, cl_name(q->cl),
                 q->node + 1, (double)q->start_us / SEC);
            return;
        }
    }
}

/* --- the run
 * ---------------------------------------------------------------------- */

static void choose_topology(sim *s)
{
    int dcs = s->o->dcs ? s->o->dcs : (s->n >= 4 && dsim_chance(s->w, 0.3) ? 2 : 1);
    if (s->n < 2)
        dcs = 1;
    s->dcs = dcs;
    memset(&s->repl, 0, sizeof s->repl);
    if (dcs == 1) {
        s->repl.kind = SB_REPL_SIMPLE;
        s->repl.rf = s->n < 3 ? s->n : 3;
        for (int i = 0; i < s->n; i++)
            snprintf(s->dc[i], SB_DC_MAX, "dc1");
    } else {
        /* dc1 gets the first half (rounded up), dc2 the rest: rf {dc1: 2, dc2: 1}.
         */
        int n1 = (s->n + 1) / 2;
        for (int i = 0; i < s->n; i++)
            snprintf(s->dc[i], SB_DC_MAX, "%s", i < n1 ? "dc1" : "dc2");
        s->repl.kind = SB_REPL_NTS;
        s->repl.ndcs = 2;
        snprintf(s->repl.dcs[0].dc, SB_DC_MAX, "dc1");
        s->repl.dcs[0].rf = n1 < 2 ? n1 : 2;
        snprintf(s->repl.dcs[1].dc, SB_DC_MAX, "dc2");
        s->repl.dcs[1].rf = 1;
    }
    s->rf = sb_repl_total(&s->repl);
}

static int ring_formed(sim *s, int arg)
{
    return settled(s, arg);
}

static void teardown(sim *s)
{
    for (int i = 0; i < s->n; i++)
        sb_cluster_stop(node_cluster(s, i)); /* NULL for a node that is down */
    /* Let SHUTDOWN messages and callbacks of stopped requests run. */
    dsim_run_until(s->w, dsim_now_us(s->w) + 5 * SEC);
    for (int i = 0; i < s->n; i++)
        sb_fixture_stop(s->f, i);
}

int sb_dsim_run(const sb_dsim_opts *o, sb_dsim_result *r)
{
    memset(r, 0, sizeof *r);
    int n = o->nodes;
    /* The seed decides the node count before the world exists. */
    uint64_t x = o->seed * 0x9e3779b97f4a7c15ull + 1;
    if (!n)
        n = 3 + (int)((x ^ (x >> 31)) % 3);
    if (n < 1 || n > DSIM_MAX_NODES)
        return SB_EINVAL;
    sim *s = calloc(1, sizeof *s);
    if (!s)
        return SB_ENOMEM;
    s->o = o;
    s->r = r;
    s->n = n;
    s->f = sb_fixture_new(o->seed, n, NULL, o->trace);
    int rv = 0;
    if (!s->f) {
        rv = SB_ENOMEM;
        goto fail;
    }
    s->w = sb_fixture_world(s->f);
    dsim_set_sabotage(s->w, o->sabotage_lose_applies);
    choose_topology(s);
    r->nodes = n;
    r->dcs = s->dcs;
    sb_fixture_kv_init(&s->kv, "dsim", TABLE_ID, &s->repl);
    if ((rv = sb_fixture_kv_add(s->f, &s->kv)))
        goto fail;
    s->nkeys = (int)dsim_rand_range(s->w, 8, 48);
    for (int k = 0; k < s->nkeys; k++) {
        sb_buf_init(&s->rowkey[k]);
        if ((rv = sb_fixture_kv_rowkey(&s->rowkey[k], key_value(k))))
            goto fail;
    }
    for (int i = 0; i < n; i++)
        if (dsim_chance(s->w, 0.7))
            dsim_set_skew(s->w, i, (int64_t)dsim_rand_range(s->w, 0, 400 * MS) - 200 * (int64_t)MS);
    s->base_net = (dsim_net){.loss = dsim_chance(s->w, 0.5) ? 0.01 : 0,
                             .dup = dsim_chance(s->w, 0.5) ? 0.01 : 0,
                             .delay_min_us = 100,
                             .delay_max_us = (uint32_t)dsim_rand_range(s->w, 500, 5000)};
    dsim_log(s->w, "seed %llu: %d nodes, %d dc(s), rf %d, %d keys", (unsigned long long)o->seed, n,
             s->dcs, s->rf, s->nkeys);

    /* form */
    for (int i = 0; i < n; i++) {
        if ((rv = boot(s, i)))
            goto fail;
        dsim_run_until(s->w, dsim_now_us(s->w) + dsim_rand_range(s->w, 500 * MS, 3 * SEC));
    }
    if (!wait_until(s, ring_formed, 0, 90 * SEC)) {
        fail(s, "the ring did not form within 90 s of the last boot");
        goto done;
    }

    /* chaos */
    dsim_set_net(s->w, &s->base_net);
    s->chaos = 1;
    if (dsim_chance(s->w, 0.5))
        dsim_set_overload(s->w, 0.002);
    uint64_t chaos_us = (uint64_t)(o->chaos_s ? o->chaos_s : 120) * SEC;
    dsim_at(s->w, 0, client_tick, s);
    dsim_at(s->w, dsim_rand_range(s->w, 1 * SEC, 5 * SEC), fault_tick, s);
    dsim_run_until(s->w, dsim_now_us(s->w) + chaos_us);

    /* heal */
    s->chaos = 0;
    dsim_set_overload(s->w, 0);
    dsim_heal(s->w);
    s->fault_partition = 0;
    s->fault_net = 0;
    dsim_net calm = s->base_net;
    calm.loss = 0;
    calm.dup = 0;
    dsim_set_net(s->w, &calm);
    for (int i = 0; i < n; i++)
        if (!node_cluster(s, i) && (rv = boot(s, i)))
            goto fail;
    if (!wait_until(s, nothing_outstanding, 0, 30 * SEC))
        fail(s, "requests still without an outcome 30 s after the faults ended");
    if (!wait_until(s, settled, 1, 120 * SEC)) {
        fail(s, "the cluster did not settle (all up, hints drained) within 120 s "
                "of healing");
        goto done;
    }

    /* check */
    check_rings(s);
    final_reads(s, SB_CL_ALL, "repair");
    dsim_run_until(s->w, dsim_now_us(s->w) + 1 * SEC);
    check_replicas(s);
    final_reads(s, SB_CL_QUORUM, "final");

done:
    teardown(s);
    check_outcomes(s);
    {
        dsim_stats st;
        dsim_get_stats(s->w, &st);
        r->messages = st.msgs_sent;
        r->virtual_us = dsim_now_us(s->w);
        r->trace_hash = dsim_trace_hash(s->w);
    }
    rv = r->failures ? SB_ESERVER : 0;
fail:
    for (size_t i = 0; i < s->nreqs; i++)
        free(s->reqs[i]);
    free(s->reqs);
    free(s->writes);
    for (int k = 0; k < MAX_KEYS; k++)
        sb_buf_free(&s->rowkey[k]);
    sb_fixture_free(s->f);
    free(s);
    return rv;
}
