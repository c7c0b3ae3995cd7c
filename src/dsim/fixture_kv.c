/*
 * A key-value table on whole fixture clusters (fixture.h, "a key-value
 * table"): its schema and replication, its row keys and values in the
 * store's encoding, and single writes and reads through a node's
 * coordinator with the outcome recorded for a test to check.
 *
 * Rows: partition key k (bigint), no clustering, so a partition is one
 * row; cell 1 (v) holds 8 bytes, big-endian. Keys and values are built in
 * sb_bufs, which allocate through util/alloc, so an allocation-failure
 * sweep reaches these builders too: a write or read that cannot be built
 * is refused with SB_ENOMEM (or sb_read_rawq's code) and never called
 * back.
 */
#include <stdio.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "storage/murmur3.h"
#include "storage/rowcodec.h"
#include "util/err.h"

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void sb_fixture_kv_init(sb_fixture_kv *kv, const char *keyspace, const uint8_t id[16],
                        const sb_repl *repl)
{
    memset(kv, 0, sizeof *kv);
    kv->cols[0] = (sb_column){
        .name = "k", .type = {SB_TYPE_BIGINT, 0, 0, 0}, .kind = SB_COL_PARTITION, .id = 0};
    kv->cols[1] =
        (sb_column){.name = "v", .type = {SB_TYPE_BLOB, 0, 0, 0}, .kind = SB_COL_REGULAR, .id = 1};
    kv->table.cols = kv->cols;
    kv->table.ncols = 2;
    kv->table.npk = 1;
    kv->table.nck = 0;
    kv->table.next_col_id = 2;
    kv->table.gc_grace_s = 864000;
    snprintf(kv->keyspace, sizeof kv->keyspace, "%s", keyspace);
    kv->table.keyspace = kv->keyspace;
    kv->table.name = "kv";
    memcpy(kv->table.id, id, 16);
    kv->repl = *repl;
}

int sb_fixture_kv_add(sb_fixture *f, const sb_fixture_kv *kv)
{
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        int rc = dsim_store_add_table(sb_fixture_store(f, i), kv->table.id);
        if (rc)
            return rc;
    }
    return 0;
}

int sb_fixture_kv_table_repl(void *arg, const uint8_t id[16], sb_repl *out)
{
    const sb_fixture_kv *kv = arg;
    if (memcmp(id, kv->table.id, 16) != 0)
        return SB_ENOTFOUND;
    *out = kv->repl;
    return 0;
}

int sb_fixture_kv_start(sb_fixture *f, sb_fixture_kv *kv,
                        void (*tune)(int node, sb_cluster_opts *o), uint64_t max_us, char *errmsg)
{
    int rc = sb_fixture_kv_add(f, kv);
    if (rc)
        return sb_seterr(errmsg, rc, "cannot add table %s.kv to the stores", kv->table.keyspace);
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_cluster_opts o;
        sb_fixture_cluster_opts(i, kv->table.keyspace, &o);
        o.coord.table_repl = sb_fixture_kv_table_repl;
        o.coord.table_repl_arg = kv;
        if (tune)
            tune(i, &o);
        if ((rc = sb_fixture_start_cluster(f, i, &o, errmsg)))
            return rc;
    }
    if (!sb_fixture_step_until(f, sb_fixture_clusters_formed, NULL, max_us))
        return sb_seterr(errmsg, SB_ETIMEOUT, "the ring did not form");
    return 0;
}

int sb_fixture_kv_rowkey(sb_buf *out, int64_t k)
{
    uint8_t kb[8];
    be64(kb, (uint64_t)k);
    sb_type ty = {SB_TYPE_BIGINT, 0, 0, 0};
    sb_buf_reset(out);
    /* token | keyenc(bigint) | row section (no clustering columns) */
    if (sb_buf_put_u64be(out, (uint64_t)sb_murmur3_token(kb, 8) ^ 0x8000000000000000ull) ||
        sb_keyenc_append(out, ty, (sb_value){kb, 8}, 0) || sb_buf_putc(out, 0x30))
        return SB_ENOMEM;
    return 0;
}

int sb_fixture_kv_value(sb_buf *out, int64_t ts, uint64_t value)
{
    uint8_t vb[8];
    be64(vb, value);
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

int sb_fixture_kv_parse(const uint8_t *p, size_t n, int64_t *ts, uint64_t *value)
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
        if (c->col != 1 || c->kind != RC_LIVE)
            continue;
        if (c->vlen != 8) {
            rc = SB_ECORRUPT;
            break;
        }
        *ts = c->ts;
        *value = get_be64(c->val);
        found = 1;
    }
    rc_frag_free(&f);
    return rc ? rc : found;
}

int sb_fixture_kv_query(const sb_fixture_kv *kv, int64_t k, sb_rawq *q, char *errmsg)
{
    uint8_t kb[8];
    be64(kb, (uint64_t)k);
    sb_value pk = {kb, 8};
    sb_read rd = {.t = &kv->table, .pk = &pk, .now_s = DSIM_EPOCH_US / 1000000};
    return sb_read_rawq(&rd, q, errmsg);
}

/* --- requests through a coordinator --------------------------------------- */

static void res_begin(sb_fixture *f, sb_fixture_kv_res *x)
{
    memset(x, 0, sizeof *x);
    x->f = f;
    x->start_us = sb_fixture_now_us(f);
}

static void res_note(sb_fixture_kv_res *x, const sb_coord_result *r)
{
    x->calls++;
    x->status = r->status;
    x->done_us = sb_fixture_now_us(x->f);
    snprintf(x->message, sizeof x->message, "%s", r->message);
}

static void on_write(void *arg, const sb_coord_result *r)
{
    res_note(arg, r);
}

static void on_read(void *arg, const sb_coord_result *r, const sb_raw *e, size_t n, int more)
{
    (void)more;
    sb_fixture_kv_res *x = arg;
    res_note(x, r);
    for (size_t i = 0; i < n; i++) {
        int64_t ts;
        uint64_t v;
        if (sb_fixture_kv_parse(e[i].val, e[i].vlen, &ts, &v) == 1) {
            x->found = 1;
            x->ts = ts;
            x->value = v;
        }
    }
}

int sb_fixture_kv_write(sb_fixture *f, int node, const sb_fixture_kv *kv, int64_t k, uint64_t value,
                        int cl, sb_fixture_kv_res *x)
{
    res_begin(f, x);
    sb_cluster *c = sb_fixture_cluster(f, node);
    if (!c)
        return SB_EINVAL;
    const sb_io *io = sb_fixture_io(f, node);
    int64_t ts = io->now_us(io->ctx);
    sb_buf key, val;
    sb_buf_init(&key);
    sb_buf_init(&val);
    int rc = sb_fixture_kv_rowkey(&key, k);
    if (!rc)
        rc = sb_fixture_kv_value(&val, ts, value);
    if (!rc) {
        sb_raw_mut m = {kv->table.id, {key.data, key.len, val.data, val.len}};
        rc = sb_coord_write(sb_cluster_coord(c), &m, 1, cl, "SIMPLE", on_write, x);
    }
    sb_buf_free(&key);
    sb_buf_free(&val);
    return rc;
}

int sb_fixture_kv_read(sb_fixture *f, int node, const sb_fixture_kv *kv, int64_t k, int cl,
                       sb_fixture_kv_res *x)
{
    res_begin(f, x);
    sb_cluster *c = sb_fixture_cluster(f, node);
    if (!c)
        return SB_EINVAL;
    char errmsg[SB_ERRMSG_SIZE];
    sb_rawq q;
    sb_rawq_init(&q);
    int rc = sb_fixture_kv_query(kv, k, &q, errmsg);
    if (!rc)
        rc = sb_coord_read(sb_cluster_coord(c), &q, cl, on_read, x);
    sb_rawq_free(&q);
    return rc;
}
