/*
 * A small cluster for coordinator tests over the deterministic simulated
 * world (dsim/world.h): N sb_cluster nodes, each on its own simulated
 * sb_io and in-memory store, one table "simclu.kv" (k bigint primary
 * key, v blob) replicated with SimpleStrategy. Messages of chosen types
 * can be dropped on arrival at a node (a replica that is up for the
 * failure detector but never answers). Used by test_caps.c and
 * test_oom.c; plain steps, no macros.
 */
#ifndef SB_TESTS_COORD_SIMCLU_H
#define SB_TESTS_COORD_SIMCLU_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/world.h"
#include "storage/murmur3.h"
#include "storage/rowcodec.h"
#include "util/err.h"
#include "util/log.h"

#define SIMCLU_MAX 5
#define SIMCLU_MS 1000ull /* world time is in microseconds */

static const uint8_t SIMCLU_TABLE[16] = "simclu-table-id";

typedef struct simclu {
    dsim_world *w;
    int n;
    sb_cluster *c[SIMCLU_MAX];
    uint32_t drop_in[SIMCLU_MAX]; /* message types (bit per type) dropped on arrival */
    sb_repl repl;
    sb_table table;
    sb_column cols[2];
    char errmsg[SB_ERRMSG_SIZE];
} simclu;

static int simclu_table_repl(void *arg, const uint8_t id[16], sb_repl *out)
{
    simclu *s = arg;
    if (memcmp(id, SIMCLU_TABLE, 16) != 0)
        return SB_ENOTFOUND;
    *out = s->repl;
    return 0;
}

static void simclu_receive(void *arg, int node, int type, const uint8_t *p, size_t len)
{
    simclu *s = arg;
    if (!s->c[node] || (type < 32 && (s->drop_in[node] & (1u << type))))
        return;
    sb_cluster_receive(s->c[node], type, p, len);
}

/* World time in microseconds. */
static uint64_t simclu_now(simclu *s)
{
    return dsim_now_us(s->w);
}

static void simclu_run_ms(simclu *s, uint64_t ms)
{
    dsim_run_until(s->w, dsim_now_us(s->w) + ms * SIMCLU_MS);
}

/* 1 when every node's ring has all n nodes and sees every peer up. */
static int simclu_converged(simclu *s)
{
    for (int i = 0; i < s->n; i++) {
        sb_gossip *g = sb_cluster_gossip(s->c[i]);
        if (sb_ring_nnodes(sb_gossip_ring(g)) != s->n)
            return 0;
        for (int j = 0; j < s->n; j++) {
            sb_ep ep = dsim_node_ep(j);
            if (j != i && !sb_gossip_is_up(g, &ep))
                return 0;
        }
    }
    return 1;
}

/* Starts n nodes with replication factor rf; `tune` (may be NULL) adjusts
 * each node's options. Returns 0 once the cluster has converged. */
static int simclu_start(simclu *s, int n, int rf, void (*tune)(int node, sb_cluster_opts *o))
{
    memset(s, 0, sizeof(*s));
    sb_log_set_level(SB_LOG_ERROR);
    s->n = n;
    s->repl.kind = SB_REPL_SIMPLE;
    s->repl.rf = rf;
    s->cols[0] = (sb_column){
        .name = "k", .type = {SB_TYPE_BIGINT, 0, 0, 0}, .kind = SB_COL_PARTITION, .id = 0};
    s->cols[1] =
        (sb_column){.name = "v", .type = {SB_TYPE_BLOB, 0, 0, 0}, .kind = SB_COL_REGULAR, .id = 1};
    s->table = (sb_table){.keyspace = "simclu",
                          .name = "kv",
                          .cols = s->cols,
                          .ncols = 2,
                          .npk = 1,
                          .next_col_id = 2,
                          .gc_grace_s = 864000};
    memcpy(s->table.id, SIMCLU_TABLE, 16);
    s->w = dsim_world_new(7, n, NULL);
    if (!s->w)
        return SB_ENOMEM;
    dsim_set_receiver(s->w, simclu_receive, s);
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 1500};
    dsim_set_net(s->w, &net);
    sb_ep seeds[1] = {dsim_node_ep(0)};
    for (int i = 0; i < n; i++) {
        int rc = dsim_store_add_table(dsim_node_store(s->w, i), SIMCLU_TABLE);
        if (rc)
            return rc;
        const sb_io *io = dsim_node_boot(s->w, i);
        if (!io)
            return SB_ENOMEM;
        sb_cluster_opts o;
        sb_cluster_opts_default(&o);
        snprintf(o.gossip.cluster_name, sizeof o.gossip.cluster_name, "simclu");
        o.gossip.self = dsim_node_ep(i);
        o.gossip.rpc = o.gossip.self;
        o.gossip.rpc.port = 9042;
        o.gossip.http = o.gossip.self;
        o.gossip.http.port = 8080;
        memset(o.gossip.host_id, 0, 16);
        memcpy(o.gossip.host_id, "simclu-host", 11);
        o.gossip.host_id[15] = (uint8_t)(i + 1);
        snprintf(o.gossip.dc, sizeof o.gossip.dc, "dc1");
        snprintf(o.gossip.rack, sizeof o.gossip.rack, "rack1");
        o.gossip.seeds = seeds;
        o.gossip.nseeds = 1;
        o.coord.table_repl = simclu_table_repl;
        o.coord.table_repl_arg = s;
        if (tune)
            tune(i, &o);
        s->c[i] = sb_cluster_new(io, &o, s->errmsg);
        if (!s->c[i])
            return SB_ESERVER;
        sb_cluster_start(s->c[i]);
    }
    for (int round = 0; round < 120 && !simclu_converged(s); round++)
        simclu_run_ms(s, 500);
    return simclu_converged(s) ? 0 : SB_ETIMEOUT;
}

static void simclu_stop(simclu *s)
{
    for (int i = 0; i < s->n; i++) {
        if (!s->c[i])
            continue;
        sb_cluster_stop(s->c[i]);
        dsim_node_stop(s->w, i);
        sb_cluster_free(s->c[i]);
        s->c[i] = NULL;
        dsim_node_release(s->w, i);
    }
    dsim_world_free(s->w);
    s->w = NULL;
}

static void simclu_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* token | keyenc(bigint) | row section: the row key of partition k. */
static int simclu_rowkey(sb_buf *out, int64_t k)
{
    uint8_t kb[8];
    simclu_be64(kb, (uint64_t)k);
    sb_type ty = {SB_TYPE_BIGINT, 0, 0, 0};
    sb_buf_reset(out);
    if (sb_buf_put_u64be(out, (uint64_t)sb_murmur3_token(kb, 8) ^ 0x8000000000000000ull) ||
        sb_keyenc_append(out, ty, (sb_value){kb, 8}, 0) || sb_buf_putc(out, 0x30))
        return SB_ENOMEM;
    return 0;
}

/* A row fragment with v = value (8 bytes) written at ts. */
static int simclu_value(sb_buf *out, int64_t ts, uint64_t value)
{
    uint8_t vb[8];
    simclu_be64(vb, value);
    rc_frag f;
    rc_frag_init(&f);
    f.has_live = 1;
    f.live_ts = ts;
    rc_cell c = {
        .col = 1, .kind = RC_LIVE, .ts = ts, .elem = NULL, .elen = -1, .val = vb, .vlen = 8};
    int rc = rc_frag_add_cell(&f, &c);
    sb_buf_reset(out);
    if (!rc)
        rc = rc_encode(&f, out);
    rc_frag_free(&f);
    return rc;
}

/* v of a row fragment: 1 and *value if live, 0 if not, < 0 if corrupt. */
static int simclu_parse(const uint8_t *p, size_t n, uint64_t *value)
{
    rc_frag f;
    rc_frag_init(&f);
    int rc = rc_decode(&f, p, n);
    if (rc) {
        rc_frag_free(&f);
        return rc;
    }
    rc_reconcile(&f);
    int found = 0;
    for (int i = 0; i < f.ncells; i++) {
        const rc_cell *c = &f.cells[i];
        if (c->col == 1 && c->kind == RC_LIVE && c->vlen == 8) {
            *value = 0;
            for (int b = 0; b < 8; b++)
                *value = *value << 8 | c->val[b];
            found = 1;
        }
    }
    rc_frag_free(&f);
    return found;
}

/* Results of one request, as its callback saw them. */
typedef struct simclu_res {
    int calls; /* times the callback ran */
    int status;
    char message[160];
    int found;      /* reads: the row was there */
    uint64_t value; /* ... with this v */
} simclu_res;

static void simclu_on_write(void *arg, const sb_coord_result *r)
{
    simclu_res *x = arg;
    x->calls++;
    x->status = r->status;
    snprintf(x->message, sizeof x->message, "%s", r->message);
}

static void simclu_on_read(void *arg, const sb_coord_result *r, const sb_raw *e, size_t n, int more)
{
    (void)more;
    simclu_res *x = arg;
    x->calls++;
    x->status = r->status;
    snprintf(x->message, sizeof x->message, "%s", r->message);
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (simclu_parse(e[i].val, e[i].vlen, &v) == 1) {
            x->found = 1;
            x->value = v;
        }
    }
}

/* Writes v = value to partition k through node `node`; the call's code. */
static int simclu_write(simclu *s, int node, int64_t k, uint64_t value, int cl, simclu_res *x)
{
    memset(x, 0, sizeof(*x));
    sb_buf key, val;
    sb_buf_init(&key);
    sb_buf_init(&val);
    int64_t ts = DSIM_EPOCH_US + (int64_t)simclu_now(s) + 1;
    int rc = simclu_rowkey(&key, k);
    if (!rc)
        rc = simclu_value(&val, ts, value);
    if (!rc) {
        sb_raw_mut m = {SIMCLU_TABLE, {key.data, key.len, val.data, val.len}};
        rc = sb_coord_write(sb_cluster_coord(s->c[node]), &m, 1, cl, "SIMPLE", simclu_on_write, x);
    }
    sb_buf_free(&key);
    sb_buf_free(&val);
    return rc;
}

/* Reads partition k through node `node`; the call's code. */
static int simclu_read(simclu *s, int node, int64_t k, int cl, simclu_res *x)
{
    memset(x, 0, sizeof(*x));
    uint8_t kb[8];
    simclu_be64(kb, (uint64_t)k);
    sb_value pk = {kb, 8};
    sb_read rd = {.t = &s->table, .pk = &pk, .now_s = DSIM_EPOCH_US / 1000000};
    sb_rawq q;
    sb_rawq_init(&q);
    int rc = sb_read_rawq(&rd, &q, s->errmsg);
    if (!rc)
        rc = sb_coord_read(sb_cluster_coord(s->c[node]), &q, cl, simclu_on_read, x);
    sb_rawq_free(&q);
    return rc;
}

#endif
