/* The simulator's world (events, network, crashes, clocks) and its
 * in-memory store (raw reads against a brute-force model). */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "dsim/memstore.h"
#include "dsim/world.h"
#include "storage/rowcodec.h"
#include "util/err.h"

/* --- events ------------------------------------------------------------- */

typedef struct rec {
    int order[64];
    int n;
} rec;

typedef struct tick {
    rec *r;
    int id;
} tick;

static void on_tick(void *arg)
{
    tick *t = arg;
    t->r->order[t->r->n++] = t->id;
}

static void test_timers_order_and_stop(void **state)
{
    (void)state;
    dsim_world *w = dsim_world_new(1, 2, NULL);
    assert_non_null(w);
    const sb_io *io = dsim_node_boot(w, 0);
    rec r = {.n = 0};
    tick t[5] = {{&r, 0}, {&r, 1}, {&r, 2}, {&r, 3}, {&r, 4}};
    io->timer_start(io->ctx, 30, on_tick, &t[0]);
    io->timer_start(io->ctx, 10, on_tick, &t[1]);
    sb_io_timer *stop = io->timer_start(io->ctx, 20, on_tick, &t[2]);
    io->timer_start(io->ctx, 10, on_tick, &t[3]); /* same time: scheduling order */
    io->timer_start(io->ctx, 0, on_tick, &t[4]);
    assert_int_equal(r.n, 0); /* never synchronous */
    io->timer_stop(io->ctx, stop);
    uint64_t m0 = io->mono_ms(io->ctx);
    dsim_run_until(w, 100000);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.order[0], 4);
    assert_int_equal(r.order[1], 1);
    assert_int_equal(r.order[2], 3);
    assert_int_equal(r.order[3], 0);
    assert_int_equal(io->mono_ms(io->ctx) - m0, 100);
    dsim_world_free(w);
}

static void test_clock_skew(void **state)
{
    (void)state;
    dsim_world *w = dsim_world_new(2, 2, NULL);
    const sb_io *a = dsim_node_boot(w, 0);
    const sb_io *b = dsim_node_boot(w, 1);
    dsim_set_skew(w, 1, -250000);
    dsim_run_until(w, 5000000);
    assert_int_equal(a->now_us(a->ctx), DSIM_EPOCH_US + 5000000);
    assert_int_equal(b->now_us(b->ctx), DSIM_EPOCH_US + 5000000 - 250000);
    dsim_world_free(w);
}

static void test_determinism(void **state)
{
    (void)state;
    dsim_world *a = dsim_world_new(42, 3, NULL), *b = dsim_world_new(42, 3, NULL);
    dsim_world *c = dsim_world_new(43, 3, NULL);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = dsim_rand(a);
        assert_int_equal(x, dsim_rand(b));
        differ |= x != dsim_rand(c);
        uint64_t v = dsim_rand_range(a, 10, 20);
        dsim_rand_range(b, 10, 20);
        assert_true(v >= 10 && v <= 20);
    }
    assert_true(differ);
    dsim_world_free(a);
    dsim_world_free(b);
    dsim_world_free(c);
}

/* --- network -------------------------------------------------------------- */

typedef struct inbox {
    int count[4];
    int last_type;
    uint8_t last[16];
    size_t last_len;
    uint64_t last_us;
    dsim_world *w;
} inbox;

static void on_recv(void *arg, int node, int type, const uint8_t *p, size_t len)
{
    inbox *in = arg;
    in->count[node]++;
    in->last_type = type;
    in->last_len = len < sizeof in->last ? len : sizeof in->last;
    memcpy(in->last, p, in->last_len);
    in->last_us = dsim_now_us(in->w);
}

static void test_network_delivery_and_faults(void **state)
{
    (void)state;
    dsim_world *w = dsim_world_new(7, 3, NULL);
    inbox in = {.w = w};
    dsim_set_receiver(w, on_recv, &in);
    const sb_io *n0 = dsim_node_boot(w, 0);
    dsim_node_boot(w, 1);
    dsim_node_boot(w, 2);
    dsim_net net = {0, 0, 1000, 2000};
    dsim_set_net(w, &net);
    sb_ep to1 = dsim_node_ep(1), to2 = dsim_node_ep(2), nowhere = dsim_node_ep(9);
    assert_int_equal(dsim_node_of(w, &to2), 2);
    assert_int_equal(dsim_node_of(w, &nowhere), -1);

    /* Delivered once, later, within the delay range, payload intact. */
    assert_int_equal(n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"hello", 5), 0);
    assert_int_equal(in.count[1], 0);
    dsim_run_until(w, 1000000);
    assert_int_equal(in.count[1], 1);
    assert_int_equal(in.last_type, SB_MSG_PING);
    assert_memory_equal(in.last, "hello", 5);
    assert_true(in.last_us >= 1000 && in.last_us <= 2000);

    /* A partition cuts node 0 from node 1 but not from node 2. */
    int groups[3] = {0, 1, 0};
    dsim_partition(w, groups);
    n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"x", 1);
    n0->send(n0->ctx, &to2, SB_MSG_PING, (const uint8_t *)"y", 1);
    dsim_run_until(w, 2000000);
    assert_int_equal(in.count[1], 1);
    assert_int_equal(in.count[2], 1);
    /* Cut while in flight too. */
    dsim_heal(w);
    n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"z", 1);
    dsim_partition(w, groups);
    dsim_run_until(w, 3000000);
    assert_int_equal(in.count[1], 1);
    dsim_heal(w);

    /* Total loss drops everything; duplication delivers twice. */
    net.loss = 1;
    dsim_set_net(w, &net);
    n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"l", 1);
    dsim_run_until(w, 4000000);
    assert_int_equal(in.count[1], 1);
    net.loss = 0;
    net.dup = 1;
    dsim_set_net(w, &net);
    n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"d", 1);
    dsim_run_until(w, 5000000);
    assert_int_equal(in.count[1], 3);

    /* A crash loses messages in flight to and from the node; a crashed
     * node cannot send; a clean stop lets sent messages arrive. */
    net.dup = 0;
    dsim_set_net(w, &net);
    n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"a", 1);
    dsim_node_crash(w, 0);
    assert_int_equal(n0->send(n0->ctx, &to1, SB_MSG_PING, (const uint8_t *)"b", 1), SB_ECLOSED);
    dsim_run_until(w, 6000000);
    assert_int_equal(in.count[1], 3);
    dsim_node_release(w, 0);
    n0 = dsim_node_boot(w, 0);
    assert_int_equal(dsim_node_incarnation(w, 0), 2);
    const sb_io *n2 = dsim_node_boot(w, 2);
    n2->send(n2->ctx, &to1, SB_MSG_PING, (const uint8_t *)"s", 1);
    dsim_node_stop(w, 2);
    dsim_run_until(w, 7000000);
    assert_int_equal(in.count[1], 4);
    sb_ep to0 = dsim_node_ep(0);
    const sb_io *n1 = dsim_node_boot(w, 1);
    n1->send(n1->ctx, &to0, SB_MSG_PING, (const uint8_t *)"c", 1);
    dsim_node_crash(w, 0);
    dsim_run_until(w, 8000000);
    assert_int_equal(in.count[0], 0);
    dsim_stats st;
    dsim_get_stats(w, &st);
    assert_true(st.msgs_lost >= 1 && st.msgs_cut >= 2 && st.msgs_dup == 1);
    dsim_world_free(w);
}

/* --- storage semantics ---------------------------------------------------------- */

static const uint8_t TID[16] = {1, 2, 3};

static void frag(sb_buf *out, int64_t ts, uint8_t v)
{
    rc_frag f;
    rc_frag_init(&f);
    f.has_live = 1;
    f.live_ts = ts;
    rc_cell c = {.col = 1, .kind = RC_LIVE, .ts = ts, .elen = -1, .val = &v, .vlen = 1};
    assert_int_equal(rc_frag_add_cell(&f, &c), 0);
    sb_buf_reset(out);
    assert_int_equal(rc_encode(&f, out), 0);
    rc_frag_free(&f);
}

static int done_status = 99;
static void on_done(void *arg, int status)
{
    (void)arg;
    done_status = status;
}

static int collect(void *arg, const sb_raw *e)
{
    int *n = arg;
    (*n)++;
    (void)e;
    return 0;
}

static void test_apply_and_crash(void **state)
{
    (void)state;
    dsim_world *w = dsim_world_new(3, 1, NULL);
    dsim_store_add_table(dsim_node_store(w, 0), TID);
    const sb_io *io = dsim_node_boot(w, 0);
    sb_buf v;
    sb_buf_init(&v);
    frag(&v, 10, 7);
    sb_raw_mut m = {TID, {(const uint8_t *)"k1", 2, v.data, v.len}};
    uint8_t other[16] = {9};
    sb_raw_mut bad = {other, {(const uint8_t *)"k1", 2, v.data, v.len}};
    assert_int_equal(io->st->apply(io->st_ctx, &bad, 1, on_done, NULL), SB_ENOTFOUND);

    /* Completes later, then the data is readable. */
    done_status = 99;
    assert_int_equal(io->st->apply(io->st_ctx, &m, 1, on_done, NULL), 0);
    assert_int_equal(done_status, 99);
    sb_rawq q;
    sb_rawq_init(&q);
    memcpy(q.table_id, TID, 16);
    int n = 0, more = 0;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(io->st->read(io->st_ctx, &q, collect, &n, &more, err), 0);
    assert_int_equal(n, 0);
    dsim_run_until(w, 1000000);
    assert_int_equal(done_status, 0);
    assert_int_equal(io->st->read(io->st_ctx, &q, collect, &n, &more, err), 0);
    assert_int_equal(n, 1);

    /* A crash before completion loses the apply; the store survives. */
    done_status = 99;
    sb_raw_mut m2 = {TID, {(const uint8_t *)"k2", 2, v.data, v.len}};
    assert_int_equal(io->st->apply(io->st_ctx, &m2, 1, on_done, NULL), 0);
    assert_int_equal(io->st->kv_put(io->st_ctx, (const uint8_t *)"sys/x", 5, (const uint8_t *)"1",
                                    1, NULL, NULL),
                     0);
    dsim_node_crash(w, 0);
    assert_int_equal(done_status, SB_ECLOSED); /* owed callbacks fail at the crash */
    done_status = 99;
    assert_int_equal(io->st->apply(io->st_ctx, &m2, 1, on_done, NULL), SB_ECLOSED);
    dsim_run_until(w, 2000000);
    assert_int_equal(done_status, 99);
    dsim_node_release(w, 0);
    io = dsim_node_boot(w, 0);
    n = 0;
    assert_int_equal(io->st->read(io->st_ctx, &q, collect, &n, &more, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(dsim_store_kv_count(dsim_node_store(w, 0)), 1);
    assert_int_equal(io->st->truncate(io->st_ctx, other, err), SB_ENOTFOUND);
    assert_int_equal(io->st->truncate(io->st_ctx, TID, err), 0);
    assert_int_equal(dsim_store_count(dsim_node_store(w, 0), TID), 0);
    sb_rawq_free(&q);
    sb_buf_free(&v);
    dsim_world_free(w);
}

/* --- memstore raw reads against a model -------------------------------------------- */

#define NK 40

typedef struct model {
    int present[NK];
    sb_buf val[NK];
} model;

static void keyname(int k, uint8_t out[3])
{
    /* Varying lengths: "a" + two digits, or just "a" + one digit for k < 10,
     * so prefix ordering (shorter first) is exercised. */
    out[0] = 'a';
    out[1] = (uint8_t)('0' + k / 10);
    out[2] = (uint8_t)('0' + k % 10);
}

static size_t keylen(int k)
{
    return k < 10 ? 2 : 3;
}

static void keybytes(int k, uint8_t out[3])
{
    keyname(k, out);
    if (k < 10)
        out[1] = (uint8_t)('0' + k);
}

typedef struct got {
    sb_raw e[NK * 2];
    uint8_t keys[NK * 2][3];
    int n;
} got;

static int grab(void *arg, const sb_raw *e)
{
    got *g = arg;
    memcpy(g->keys[g->n], e->key, e->klen);
    g->e[g->n] = *e;
    g->e[g->n].key = g->keys[g->n];
    g->n++;
    return 0;
}

static int cmpk(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    return c ? c : (al < bl ? -1 : al > bl);
}

static void test_memstore_reads_match_model(void **state)
{
    (void)state;
    dsim_store *s = dsim_store_new();
    assert_int_equal(dsim_store_add_table(s, TID), 0);
    model m;
    memset(&m, 0, sizeof m);
    sb_buf v, merged;
    sb_buf_init(&v);
    sb_buf_init(&merged);
    srand(5);
    for (int i = 0; i < 400; i++) {
        int k = rand() % NK;
        uint8_t kb[3];
        keybytes(k, kb);
        frag(&v, rand() % 50, (uint8_t)(rand() % 256));
        assert_int_equal(dsim_store_merge(s, TID, kb, keylen(k), v.data, v.len), 0);
        if (m.present[k]) {
            assert_int_equal(sb_frag_merge(m.val[k].data, m.val[k].len, v.data, v.len, &merged), 0);
            sb_buf_reset(&m.val[k]);
            sb_buf_append(&m.val[k], merged.data, merged.len);
        } else {
            m.present[k] = 1;
            sb_buf_init(&m.val[k]);
            sb_buf_append(&m.val[k], v.data, v.len);
        }
    }
    /* Sorted key list of the model. */
    int order[NK], no = 0;
    for (int k = 0; k < NK; k++)
        if (m.present[k])
            order[no++] = k;
    for (int i = 1; i < no; i++)
        for (int j = i; j > 0; j--) {
            uint8_t a[3], b[3];
            keybytes(order[j - 1], a);
            keybytes(order[j], b);
            if (cmpk(a, keylen(order[j - 1]), b, keylen(order[j])) > 0) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        }
    assert_int_equal(dsim_store_count(s, TID), (size_t)no);

    for (int trial = 0; trial < 300; trial++) {
        sb_rawq q;
        sb_rawq_init(&q);
        memcpy(q.table_id, TID, 16);
        int a = rand() % NK, b = rand() % NK;
        uint8_t ka[3], kb[3];
        keybytes(a, ka);
        keybytes(b, kb);
        if (cmpk(ka, keylen(a), kb, keylen(b)) > 0) {
            int t = a;
            a = b;
            b = t;
            keybytes(a, ka);
            keybytes(b, kb);
        }
        sb_buf_append(&q.lo, ka, keylen(a));
        if (rand() % 4)
            sb_buf_append(&q.hi, kb, keylen(b));
        q.reversed = rand() % 2;
        q.max_entries = rand() % 3 ? 0 : (uint32_t)(rand() % 5 + 1);
        q.max_bytes = rand() % 3 ? 0 : (uint32_t)(rand() % 40);
        int head = rand() % 3 == 0;
        int hk = rand() % NK;
        uint8_t hb[3];
        keybytes(hk, hb);
        if (head) {
            sb_buf_append(&q.head_lo, hb, keylen(hk));
            sb_buf_append(&q.head_hi, "a5", 2);
        }
        /* Expected. */
        int exp[NK * 2], ne = 0, exp_more = 0;
        if (head)
            for (int i = 0; i < no; i++) {
                uint8_t x[3];
                keybytes(order[i], x);
                if (cmpk(x, keylen(order[i]), hb, keylen(hk)) >= 0 &&
                    cmpk(x, keylen(order[i]), (const uint8_t *)"a5", 2) < 0)
                    exp[ne++] = order[i];
            }
        int inr[NK], nr = 0;
        for (int i = 0; i < no; i++) {
            uint8_t x[3];
            keybytes(order[i], x);
            if (cmpk(x, keylen(order[i]), ka, keylen(a)) >= 0 &&
                (!q.hi.len || cmpk(x, keylen(order[i]), kb, keylen(b)) < 0))
                inr[nr++] = order[i];
        }
        uint64_t cnt = 0, bytes = 0;
        for (int i = 0; i < nr; i++) {
            int k = q.reversed ? inr[nr - 1 - i] : inr[i];
            uint64_t sz = keylen(k) + m.val[k].len;
            if (cnt && ((q.max_entries && cnt >= q.max_entries) ||
                        (q.max_bytes && bytes + sz > q.max_bytes))) {
                exp_more = 1;
                break;
            }
            exp[ne++] = k;
            cnt++;
            bytes += sz;
        }
        got g = {.n = 0};
        int more = -1;
        char err[SB_ERRMSG_SIZE];
        assert_int_equal(dsim_store_read(s, &q, grab, &g, &more, err), 0);
        assert_int_equal(g.n, ne);
        assert_int_equal(more, exp_more);
        for (int i = 0; i < ne; i++) {
            uint8_t x[3];
            keybytes(exp[i], x);
            assert_int_equal(g.e[i].klen, keylen(exp[i]));
            assert_memory_equal(g.e[i].key, x, keylen(exp[i]));
            assert_int_equal(g.e[i].vlen, m.val[exp[i]].len);
            assert_memory_equal(g.e[i].val, m.val[exp[i]].data, g.e[i].vlen);
        }
        sb_rawq_free(&q);
    }
    uint8_t t9[16] = {9};
    sb_rawq q;
    sb_rawq_init(&q);
    memcpy(q.table_id, t9, 16);
    int more;
    char err[SB_ERRMSG_SIZE];
    got g = {.n = 0};
    assert_int_equal(dsim_store_read(s, &q, grab, &g, &more, err), SB_ENOTFOUND);
    assert_non_null(strstr(err, "no table"));
    sb_rawq_free(&q);
    for (int k = 0; k < NK; k++)
        if (m.present[k])
            sb_buf_free(&m.val[k]);
    sb_buf_free(&v);
    sb_buf_free(&merged);
    dsim_store_free(s);
}

static int kv_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    sb_buf *out = arg;
    sb_buf_append(out, k, klen);
    sb_buf_putc(out, '=');
    sb_buf_append(out, v, vlen);
    sb_buf_putc(out, ';');
    return 0;
}

static void test_memstore_kv(void **state)
{
    (void)state;
    dsim_store *s = dsim_store_new();
    dsim_store_kv_put(s, (const uint8_t *)"hint/b", 6, (const uint8_t *)"2", 1);
    dsim_store_kv_put(s, (const uint8_t *)"hint/a", 6, (const uint8_t *)"1", 1);
    dsim_store_kv_put(s, (const uint8_t *)"sys/t", 5, (const uint8_t *)"3", 1);
    dsim_store_kv_put(s, (const uint8_t *)"hint/a", 6, (const uint8_t *)"9", 1);
    sb_buf out;
    sb_buf_init(&out);
    dsim_store_kv_scan(s, (const uint8_t *)"hint/", 5, kv_emit, &out);
    assert_string_equal(sb_buf_cstr(&out), "hint/a=9;hint/b=2;");
    dsim_store_kv_del(s, (const uint8_t *)"hint/a", 6);
    sb_buf_reset(&out);
    dsim_store_kv_scan(s, (const uint8_t *)"", 0, kv_emit, &out);
    assert_string_equal(sb_buf_cstr(&out), "hint/b=2;sys/t=3;");
    sb_buf_free(&out);
    dsim_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_order_and_stop),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_network_delivery_and_faults),
        cmocka_unit_test(test_apply_and_crash),
        cmocka_unit_test(test_memstore_reads_match_model),
        cmocka_unit_test(test_memstore_kv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
