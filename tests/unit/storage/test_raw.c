/* Storage raw access (the cluster layer): raw entries of batches, add_raw
 * into another store, the metadata key space, sb_frag_merge against the
 * merge operator, raw queries and reads with limits, and the iterator
 * over in-memory entries against sb_store_iter on random data. */
#include "store_fixture.h"

/* --- helpers -------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)(x >> 11);
}

static int rnd_n(int n)
{
    return (int)(rnd() % (uint32_t)n);
}

static uint64_t seed0; /* the last seed, printed on failure */

static uint64_t seed_from_env(uint64_t def)
{
    const char *e = getenv("SIBYL_SEED");
    uint64_t s = e ? strtoull(e, NULL, 10) : def;
    seed0 = s ? s : 1;
    return seed0;
}

typedef struct ents {
    sb_raw *e;
    size_t n, cap;
} ents;

static int collect(void *arg, const sb_raw *r)
{
    ents *x = arg;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->e = realloc(x->e, x->cap * sizeof(*x->e));
        assert_non_null(x->e);
    }
    uint8_t *k = malloc(r->klen + 1), *v = malloc(r->vlen + 1);
    assert_true(k && v);
    memcpy(k, r->key, r->klen);
    memcpy(v, r->val, r->vlen);
    x->e[x->n++] = (sb_raw){k, r->klen, v, r->vlen};
    return 0;
}

static void ents_clear(ents *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free((void *)x->e[i].key);
        free((void *)x->e[i].val);
    }
    x->n = 0;
}

static void ents_free(ents *x)
{
    ents_clear(x);
    free(x->e);
    memset(x, 0, sizeof(*x));
}

static void ents_reverse(ents *x, size_t from)
{
    for (size_t i = from, j = x->n; i + 1 < j; i++, j--) {
        sb_raw t = x->e[i];
        x->e[i] = x->e[j - 1];
        x->e[j - 1] = t;
    }
}

static int raw_equal(const sb_raw *a, const sb_raw *b)
{
    return a->klen == b->klen && a->vlen == b->vlen && memcmp(a->key, b->key, a->klen) == 0 &&
           memcmp(a->val, b->val, a->vlen) == 0;
}

static void put_val(sb_buf *b, sb_value v)
{
    sb_buf_put_u32be(b, (uint32_t)v.len);
    if (v.len > 0)
        sb_buf_append(b, v.p, (size_t)v.len);
}

/* Every field of every row, in order, as bytes. */
static int dump_rows(sb_iter *it, const sb_table *t, sb_buf *out)
{
    sb_row row;
    int rv, n = 0;
    sb_buf_reset(out);
    while ((rv = sb_iter_next(it, &row)) == 1) {
        n++;
        sb_buf_put_u64be(out, (uint64_t)row.token);
        for (int i = 0; i < t->npk; i++)
            put_val(out, row.pk[i]);
        for (int i = 0; i < t->nck; i++)
            put_val(out, row.ck[i]);
        sb_buf_put_u64be(out, (uint64_t)row.liveness_ts);
        sb_buf_put_u32be(out, (uint32_t)row.liveness_ttl_s);
        sb_buf_putc(out, (uint8_t)row.new_partition);
        sb_buf_put_u32be(out, (uint32_t)row.ncells);
        for (int i = 0; i < row.ncells; i++) {
            const sb_read_cell *c = &row.cells[i];
            sb_buf_put_u16be(out, c->col);
            sb_buf_put_u64be(out, (uint64_t)c->ts_us);
            sb_buf_put_u32be(out, (uint32_t)c->ttl_s);
            sb_buf_put_u64be(out, (uint64_t)c->expire_s);
            put_val(out, c->elem);
            put_val(out, c->value);
        }
    }
    assert_int_equal(rv, 0);
    return n;
}

static int store_rows(sb_store *s, const sb_read *r, sb_buf *out)
{
    char err[SB_ERRMSG_SIZE];
    sb_iter *it;
    if (sb_store_iter(s, r, &it, err))
        fail_msg("iter: %s", err);
    int n = dump_rows(it, r->t, out);
    sb_iter_free(it);
    return n;
}

/* Raw-reads q from s into x (ascending key order, as sb_store_iter_raw
 * wants). */
static void raw_read_sorted(sb_store *s, const sb_rawq *q, ents *x, int *more)
{
    char err[SB_ERRMSG_SIZE];
    ents_clear(x);
    int m = 0;
    size_t head = 0;
    /* The head comes first and whole; count it by re-reading it alone. */
    if (q->head_lo.len) {
        sb_rawq hq;
        sb_rawq_init(&hq);
        memcpy(hq.table_id, q->table_id, 16);
        sb_buf_append(&hq.lo, q->head_lo.data, q->head_lo.len);
        sb_buf_append(&hq.hi, q->head_hi.data, q->head_hi.len);
        ents h = {0};
        assert_int_equal(sb_store_raw_read(s, &hq, collect, &h, &m, err), 0);
        head = h.n;
        ents_free(&h);
        sb_rawq_free(&hq);
    }
    int rv = sb_store_raw_read(s, q, collect, x, &m, err);
    if (rv)
        fail_msg("raw read: %s", err);
    assert_true(x->n >= head);
    if (q->reversed)
        ents_reverse(x, head);
    for (size_t i = 1; i < x->n; i++)
        assert_true(sb_raw_token(x->e[i].key, x->e[i].klen) >=
                    sb_raw_token(x->e[i - 1].key, x->e[i - 1].klen));
    if (more)
        *more = m;
}

static int raw_rows(const sb_read *r, const ents *x, sb_buf *out)
{
    char err[SB_ERRMSG_SIZE];
    sb_iter *it;
    if (sb_store_iter_raw(r, x->e, x->n, &it, err))
        fail_msg("iter_raw: %s", err);
    int n = dump_rows(it, r->t, out);
    sb_iter_free(it);
    return n;
}

static int setup(void **state)
{
    fx_mkdir();
    return 0;
}

static int teardown(void **state)
{
    fx_rmdir();
    return 0;
}

/* A second store in its own directory. */
static char dir2[256];

static sb_store *open_second(void)
{
    snprintf(dir2, sizeof(dir2), "/tmp/sibyl-store2-XXXXXX");
    assert_non_null(mkdtemp(dir2));
    sb_store *s = NULL;
    char err[SB_ERRMSG_SIZE];
    if (sb_store_open(&s, dir2, NULL, NULL, err))
        fail_msg("open: %s", err);
    return s;
}

static void close_second(sb_store *s)
{
    sb_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir2);
    assert_int_equal(system(cmd), 0);
}

/* The same table (same id, same column ids) in another store. */
static const sb_table *same_table(sb_store *s, const sb_table *like, int desc)
{
    char err[SB_ERRMSG_SIZE];
    if (!sb_schema_keyspace(sb_store_schema(s), like->keyspace))
        assert_int_equal(sb_store_create_keyspace(s, fx_keyspace(like->keyspace), err), 0);
    sb_table *t = fx_table(like->keyspace, like->name, desc, like->gc_grace_s);
    memcpy(t->id, like->id, 16);
    if (sb_store_create_table(s, t, err))
        fail_msg("create: %s", err);
    const sb_table *st = sb_schema_table(sb_store_schema(s), like->keyspace, like->name);
    assert_memory_equal(st->id, like->id, 16);
    return st;
}

/* --- random writes ---------------------------------------------------------- */

static const char *sensors[] = {"a", "b", "c", "dd", "e", "f", "g", "hh"};
#define NSENSORS 8
#define NCK 24

static sb_bound rnd_bound(sb_value *v)
{
    sb_bound b = {0};
    if (rnd_n(3) == 0)
        return b;
    *v = fx_bigint(rnd_n(NCK + 2) - 1);
    b.vals = v;
    b.n = 1;
    b.inclusive = rnd_n(2);
    return b;
}

/* One random mutation of t into b; now_s = 1000. */
static void rnd_mutation(sb_wbatch *b, const sb_table *t)
{
    char err[SB_ERRMSG_SIZE];
    static const int32_t ttls[] = {0, 0, 0, 5, 100};
    sb_value pk = fx_text(sensors[rnd_n(NSENSORS)]);
    sb_value ck = fx_bigint(rnd_n(NCK));
    int64_t wts = 1 + rnd_n(1000);
    int32_t ttl = ttls[rnd_n(5)];
    int op = rnd_n(20), rv = 0;
    if (op < 11) {
        sb_cell cells[4];
        int n = 0;
        if (rnd_n(4))
            cells[n++] = fx_cell(fx_colid(t, "v"), wts, ttl,
                                 rnd_n(5) ? fx_double(rnd_n(100) / 4.0) : SB_VALUE_NULL);
        if (rnd_n(3) == 0)
            cells[n++] = fx_cell(fx_colid(t, "s"), wts, ttl,
                                 rnd_n(4) ? fx_text(sensors[rnd_n(NSENSORS)]) : SB_VALUE_NULL);
        if (rnd_n(3) == 0) {
            sb_cell c = fx_cell(fx_colid(t, "m"), wts, ttl, fx_int(rnd_n(50)));
            c.elem = fx_text(sensors[rnd_n(4)]);
            cells[n++] = c;
        }
        if (rnd_n(8) == 0) {
            sb_cell c = {.col = fx_colid(t, "m"),
                         .flags = SB_CELL_COMPLEX_DELETE,
                         .ts_us = wts - 1,
                         .elem = SB_VALUE_NULL,
                         .value = SB_VALUE_NULL};
            cells[n++] = c;
        }
        int64_t live = rnd_n(3) ? wts : -1;
        rv = sb_wbatch_upsert(b, t, &pk, &ck, live, live >= 0 ? ttl : 0, cells, n, 1000, err);
    } else if (op < 13) {
        sb_cell c = fx_cell(fx_colid(t, "s"), wts, ttl, fx_text("static"));
        rv = sb_wbatch_upsert(b, t, &pk, NULL, -1, 0, &c, 1, 1000, err);
    } else if (op < 16) {
        rv = sb_wbatch_delete_row(b, t, &pk, &ck, wts, 1000, err);
    } else if (op < 19) {
        sb_value sv, ev;
        sb_bound sb = rnd_bound(&sv), eb = rnd_bound(&ev);
        rv = sb_wbatch_delete_range(b, t, &pk, &sb, &eb, wts, 1000, err);
    } else {
        rv = sb_wbatch_delete_partition(b, t, &pk, wts / 4, 1000, err);
    }
    if (rv)
        fail_msg("mutation: %s", err);
}

static void rnd_writes(sb_store *s, const sb_table *t, int nbatches)
{
    for (int i = 0; i < nbatches; i++) {
        sb_wbatch *b = sb_wbatch_new();
        int n = 1 + rnd_n(4);
        for (int j = 0; j < n; j++)
            rnd_mutation(b, t);
        fx_write(s, b);
    }
}

/* --- tests -------------------------------------------------------------------- */

static void test_batch_raw_entries(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    sb_wbatch *b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_nraw(b), 0);
    sb_value pk = fx_text("a"), ck = fx_bigint(7);
    sb_cell cells[2] = {fx_cell(fx_colid(t, "v"), 10, 0, fx_double(1.5)),
                        fx_cell(fx_colid(t, "s"), 10, 0, fx_text("st"))};
    /* Static + regular: two entries, header first. */
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, 10, 0, cells, 2, 1000, err), 0);
    assert_int_equal(sb_wbatch_delete_row(b, t, &pk, &ck, 11, 1000, err), 0);
    sb_bound lo = {&ck, 1, 1}, hi = {0};
    assert_int_equal(sb_wbatch_delete_range(b, t, &pk, &lo, &hi, 12, 1000, err), 0);
    assert_int_equal(sb_wbatch_delete_partition(b, t, &pk, 5, 1000, err), 0);
    /* kv entries are not raw entries. */
    assert_int_equal(sb_wbatch_kv_put(b, (const uint8_t *)"x", 1, (const uint8_t *)"y", 1), 0);
    assert_int_equal(sb_wbatch_nraw(b), 5);
    static const uint8_t secs[] = {0x10, 0x30, 0x30, 0x20, 0x10};
    int64_t tok = sb_token_of_key(&pk, 1);
    sb_raw_mut m[5];
    for (size_t i = 0; i < 5; i++) {
        sb_wbatch_raw(b, i, &m[i]);
        assert_memory_equal(m[i].table_id, t->id, 16);
        assert_int_equal(sb_raw_token(m[i].e.key, m[i].e.klen), tok);
        /* token(8) | text "a" (keyenc) | section */
        assert_true(m[i].e.klen > 9);
        assert_true(m[i].e.vlen > 0);
    }
    /* The section byte follows the partition prefix, which is the same for
     * all; the header key is exactly prefix | 0x10. */
    size_t plen = m[0].e.klen - 1;
    for (size_t i = 0; i < 5; i++) {
        assert_memory_equal(m[i].e.key, m[0].e.key, plen);
        assert_int_equal(m[i].e.key[plen], secs[i]);
    }
    assert_true(m[1].e.klen == m[2].e.klen && memcmp(m[1].e.key, m[2].e.key, m[1].e.klen) == 0);
    fx_write(s, b);

    /* Unknown table id, malformed key / value: refused with a reason. */
    sb_wbatch *b2 = sb_wbatch_new();
    sb_wbatch *b3 = sb_wbatch_new();
    assert_int_equal(sb_wbatch_upsert(b3, t, &pk, &ck, 10, 0, cells, 1, 1000, err), 0);
    sb_raw_mut good, bad;
    sb_wbatch_raw(b3, 0, &good);
    uint8_t noid[16] = {1, 2, 3};
    bad = good;
    bad.table_id = noid;
    assert_int_equal(sb_wbatch_add_raw(b2, s, &bad, err), SB_ENOTFOUND);
    assert_non_null(strstr(err, "01020300"));
    bad = good;
    bad.e.klen = 5;
    assert_int_equal(sb_wbatch_add_raw(b2, s, &bad, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "too short"));
    uint8_t key[64];
    memcpy(key, good.e.key, plen);
    key[plen] = 0x42;
    bad = good;
    bad.e.key = key;
    bad.e.klen = plen + 1;
    assert_int_equal(sb_wbatch_add_raw(b2, s, &bad, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "section"));
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    bad = good;
    bad.e.val = junk;
    bad.e.vlen = 3;
    assert_int_equal(sb_wbatch_add_raw(b2, s, &bad, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "malformed value"));
    assert_int_equal(sb_wbatch_nraw(b2), 0);
    assert_int_equal(sb_wbatch_count(b2), 0);
    assert_int_equal(sb_wbatch_add_raw(b2, s, &good, err), 0);
    assert_int_equal(sb_wbatch_nraw(b2), 1);
    assert_int_equal(sb_wbatch_count(b2), 1);
    sb_wbatch_free(b2);
    sb_wbatch_free(b3);
    sb_store_close(s);
}

/* Random batches applied to store 1 directly and to store 2 through their
 * raw entries (in reverse batch order, some twice): identical reads. */
static void test_add_raw_replicates(void **state)
{
    char err[SB_ERRMSG_SIZE];
    rng_state = seed_from_env(42);
    sb_store *s1 = fx_open(NULL, NULL);
    const sb_table *t1 = fx_setup(s1, "ks", "t", 1, 864000);
    sb_store *s2 = open_second();
    const sb_table *t2 = same_table(s2, t1, 1);
    enum { NB = 60 };
    sb_wbatch *copies[NB];
    for (int i = 0; i < NB; i++) {
        sb_wbatch *b = sb_wbatch_new();
        int n = 1 + rnd_n(3);
        for (int j = 0; j < n; j++)
            rnd_mutation(b, t1);
        /* Copy the raw entries before the batch is consumed. */
        copies[i] = sb_wbatch_new();
        for (size_t k = 0; k < sb_wbatch_nraw(b); k++) {
            sb_raw_mut m;
            sb_wbatch_raw(b, k, &m);
            if (sb_wbatch_add_raw(copies[i], s2, &m, err))
                fail_msg("add_raw: %s", err);
        }
        assert_int_equal(sb_wbatch_nraw(copies[i]), sb_wbatch_nraw(b));
        fx_write(s1, b);
    }
    for (int i = NB - 1; i >= 0; i--) {
        if (i % 7 == 0) {
            /* Applying twice is harmless. */
            sb_wbatch *again = sb_wbatch_new();
            for (size_t k = 0; k < sb_wbatch_nraw(copies[i]); k++) {
                sb_raw_mut m;
                sb_wbatch_raw(copies[i], k, &m);
                assert_int_equal(sb_wbatch_add_raw(again, s2, &m, err), 0);
            }
            fx_write(s2, again);
        }
        fx_write(s2, copies[i]);
    }
    sb_buf a, b;
    sb_buf_init(&a);
    sb_buf_init(&b);
    for (int now = 1000; now <= 1200; now += 100) {
        sb_read r1 = {
            .t = t1, .tok_lo = INT64_MIN, .tok_hi = INT64_MAX, .tok_lo_inclusive = 1, .now_s = now};
        sb_read r2 = r1;
        r2.t = t2;
        int n1 = store_rows(s1, &r1, &a);
        int n2 = store_rows(s2, &r2, &b);
        assert_true(n1 > 0);
        assert_int_equal(n1, n2);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
    }
    /* The raw entries are identical too (fully merged values). */
    sb_rawq q;
    sb_rawq_init(&q);
    sb_read r = {.t = t1, .tok_lo = INT64_MIN, .tok_hi = INT64_MAX, .tok_lo_inclusive = 1};
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    ents x1 = {0}, x2 = {0};
    raw_read_sorted(s1, &q, &x1, NULL);
    raw_read_sorted(s2, &q, &x2, NULL);
    assert_int_equal(x1.n, x2.n);
    for (size_t i = 0; i < x1.n; i++)
        assert_true(raw_equal(&x1.e[i], &x2.e[i]));
    ents_free(&x1);
    ents_free(&x2);
    sb_rawq_free(&q);
    sb_buf_free(&a);
    sb_buf_free(&b);
    close_second(s2);
    sb_store_close(s1);
}

typedef struct kvseen {
    int n;
    char keys[16][32];
    char vals[16][32];
    int stop_at;
} kvseen;

static int kv_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    kvseen *x = arg;
    assert_true(x->n < 16 && klen < 32 && vlen < 32);
    memcpy(x->keys[x->n], k, klen);
    x->keys[x->n][klen] = 0;
    memcpy(x->vals[x->n], v, vlen);
    x->vals[x->n][vlen] = 0;
    x->n++;
    return x->stop_at && x->n == x->stop_at ? 99 : 0;
}

static void kv_put(sb_store *s, const char *k, size_t klen, const char *v)
{
    sb_wbatch *b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_kv_put(b, (const uint8_t *)k, klen, (const uint8_t *)v, strlen(v)),
                     0);
    fx_write(s, b);
}

static void test_kv_space(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    fx_setup(s, "ks", "t", 0, 864000);
    uint8_t version[16];
    memcpy(version, sb_store_schema(s)->version, 16);
    kv_put(s, "hint/2", 6, "two");
    kv_put(s, "hint/1", 6, "one");
    kv_put(s, "ring", 4, "r");
    /* Keys that look like schema keys stay metadata. */
    kv_put(s, "ks\0evil", 7, "{\"name\":\"evil\"}");
    kv_put(s, "tb\0ks\0t", 7, "garbage");
    kv_put(s, "version", 7, "0123456789abcdef");
    kvseen x = {0};
    assert_int_equal(sb_store_kv_scan(s, (const uint8_t *)"hint/", 5, kv_emit, &x), 0);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.keys[0], "hint/1");
    assert_string_equal(x.vals[0], "one");
    assert_string_equal(x.keys[1], "hint/2");
    memset(&x, 0, sizeof(x));
    assert_int_equal(sb_store_kv_scan(s, NULL, 0, kv_emit, &x), 0);
    assert_int_equal(x.n, 6);
    /* A non-zero emit stops the scan and is returned. */
    memset(&x, 0, sizeof(x));
    x.stop_at = 2;
    assert_int_equal(sb_store_kv_scan(s, NULL, 0, kv_emit, &x), 99);
    assert_int_equal(x.n, 2);
    sb_wbatch *b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_kv_del(b, (const uint8_t *)"hint/1", 6), 0);
    assert_int_equal(sb_wbatch_nraw(b), 0);
    fx_write(s, b);
    /* Durable, and never seen as schema. */
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    const sb_schema *sc = sb_store_schema(s);
    assert_int_equal(sc->nks, 1);
    assert_string_equal(sc->ks[0]->name, "ks");
    assert_int_equal(sc->ks[0]->ntables, 1);
    assert_memory_equal(sc->version, version, 16);
    memset(&x, 0, sizeof(x));
    assert_int_equal(sb_store_kv_scan(s, (const uint8_t *)"hint/", 5, kv_emit, &x), 0);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.keys[0], "hint/2");
    memset(&x, 0, sizeof(x));
    assert_int_equal(sb_store_kv_scan(s, (const uint8_t *)"version", 7, kv_emit, &x), 0);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.vals[0], "0123456789abcdef");
    sb_store_close(s);
}

/* Random writes: for every key, folding its raw entries with
 * sb_frag_merge in any order gives the bytes RocksDB's merge gives. */
static void test_frag_merge(void **state)
{
    char err[SB_ERRMSG_SIZE];
    rng_state = seed_from_env(7);
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    enum { NB = 300 };
    /* Every raw entry written, in order. */
    ents all = {0};
    for (int i = 0; i < NB; i++) {
        sb_wbatch *b = sb_wbatch_new();
        int n = 1 + rnd_n(3);
        for (int j = 0; j < n; j++)
            rnd_mutation(b, t);
        for (size_t k = 0; k < sb_wbatch_nraw(b); k++) {
            sb_raw_mut m;
            sb_wbatch_raw(b, k, &m);
            collect(&all, &m.e);
        }
        fx_write(s, b);
    }
    sb_rawq q;
    sb_rawq_init(&q);
    sb_read r = {.t = t, .tok_lo = INT64_MIN, .tok_hi = INT64_MAX, .tok_lo_inclusive = 1};
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    ents stored = {0};
    raw_read_sorted(s, &q, &stored, NULL);
    assert_true(stored.n > 50);
    sb_buf acc, tmp, ab, ba;
    sb_buf_init(&acc);
    sb_buf_init(&tmp);
    sb_buf_init(&ab);
    sb_buf_init(&ba);
    size_t *idx = malloc(all.n * sizeof(*idx));
    size_t checked = 0;
    for (size_t i = 0; i < stored.n; i++) {
        const sb_raw *st = &stored.e[i];
        size_t n = 0;
        for (size_t j = 0; j < all.n; j++)
            if (all.e[j].klen == st->klen && memcmp(all.e[j].key, st->key, st->klen) == 0)
                idx[n++] = j;
        assert_true(n > 0);
        for (int order = 0; order < 3; order++) {
            if (order == 2) /* a random permutation */
                for (size_t j = n; j > 1; j--) {
                    size_t k = (size_t)rnd_n((int)j), tmpi = idx[j - 1];
                    idx[j - 1] = idx[k];
                    idx[k] = tmpi;
                }
            sb_buf_reset(&acc);
            for (size_t j = 0; j < n; j++) {
                size_t e = order == 1 ? idx[n - 1 - j] : idx[j];
                assert_int_equal(
                    sb_frag_merge(acc.data, acc.len, all.e[e].val, all.e[e].vlen, &tmp), 0);
                sb_buf_reset(&acc);
                sb_buf_append(&acc, tmp.data, tmp.len);
            }
            assert_int_equal(acc.len, st->vlen);
            assert_memory_equal(acc.data, st->val, st->vlen);
        }
        /* Commutative pairwise, and merging a value with itself is a no-op. */
        if (n >= 2) {
            const sb_raw *x = &all.e[idx[0]], *y = &all.e[idx[1]];
            assert_int_equal(sb_frag_merge(x->val, x->vlen, y->val, y->vlen, &ab), 0);
            assert_int_equal(sb_frag_merge(y->val, y->vlen, x->val, x->vlen, &ba), 0);
            assert_int_equal(ab.len, ba.len);
            assert_memory_equal(ab.data, ba.data, ab.len);
        }
        assert_int_equal(sb_frag_merge(st->val, st->vlen, st->val, st->vlen, &ab), 0);
        assert_int_equal(ab.len, st->vlen);
        assert_memory_equal(ab.data, st->val, st->vlen);
        checked++;
    }
    assert_int_equal(checked, stored.n);
    /* Corrupt input is refused. */
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    assert_int_equal(sb_frag_merge(junk, 3, stored.e[0].val, stored.e[0].vlen, &ab), SB_ECORRUPT);
    assert_int_equal(sb_frag_merge(NULL, 0, NULL, 0, &ab), 0);
    assert_int_equal(ab.len, 0);
    free(idx);
    sb_buf_free(&acc);
    sb_buf_free(&tmp);
    sb_buf_free(&ab);
    sb_buf_free(&ba);
    ents_free(&all);
    ents_free(&stored);
    sb_rawq_free(&q);
    sb_store_close(s);
}

/* A random read of t: a partition with a slice, or a token range. */
static void rnd_read(const sb_table *t, sb_read *r, sb_value *pk, sb_value *sv, sb_value *ev)
{
    static const int64_t nows[] = {1000, 1004, 1010, 1200};
    memset(r, 0, sizeof(*r));
    r->t = t;
    r->reversed = rnd_n(2);
    r->now_s = nows[rnd_n(4)];
    if (rnd_n(3)) {
        *pk = fx_text(sensors[rnd_n(NSENSORS + 1) % NSENSORS]);
        if (rnd_n(5) == 0)
            *pk = fx_text("absent");
        r->pk = pk;
    } else {
        int64_t toks[NSENSORS + 2];
        for (int i = 0; i < NSENSORS; i++) {
            sb_value v = fx_text(sensors[i]);
            toks[i] = sb_token_of_key(&v, 1);
        }
        toks[NSENSORS] = INT64_MIN;
        toks[NSENSORS + 1] = INT64_MAX;
        int64_t a = toks[rnd_n(NSENSORS + 2)], b = toks[rnd_n(NSENSORS + 2)];
        if (rnd_n(4))
            a += rnd_n(3) - 1 + (a == INT64_MIN) - (a == INT64_MAX) * 2;
        r->tok_lo = a < b ? a : b;
        r->tok_hi = a < b ? b : a;
        if (rnd_n(8) == 0) { /* sometimes an inverted, empty range */
            r->tok_lo = a > b ? a : b;
            r->tok_hi = a > b ? b : a;
        }
        r->tok_lo_inclusive = rnd_n(2);
    }
    r->start = rnd_bound(sv);
    r->end = rnd_bound(ev);
}

static void check_reads(sb_store *s, const sb_table *t, int nreads, int *nonempty)
{
    char err[SB_ERRMSG_SIZE];
    sb_buf a, b;
    sb_buf_init(&a);
    sb_buf_init(&b);
    ents x = {0};
    sb_rawq q;
    sb_rawq_init(&q);
    for (int i = 0; i < nreads; i++) {
        sb_read r;
        sb_value pk, sv, ev;
        rnd_read(t, &r, &pk, &sv, &ev);
        assert_int_equal(sb_read_rawq(&r, &q, err), 0);
        assert_int_equal(q.head_lo.len > 0, r.pk != NULL);
        raw_read_sorted(s, &q, &x, NULL);
        int n1 = store_rows(s, &r, &a);
        int n2 = raw_rows(&r, &x, &b);
        if (n1 != n2 || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
            fail_msg("read %d differs (seed %llu): pk=%d reversed=%d start.n=%d end.n=%d "
                     "rows %d vs %d",
                     i, (unsigned long long)seed0, r.pk != NULL, r.reversed, r.start.n, r.end.n, n1,
                     n2);
        *nonempty += n1 > 0;
    }
    ents_free(&x);
    sb_rawq_free(&q);
    sb_buf_free(&a);
    sb_buf_free(&b);
}

/* The property: over random data, sb_store_iter_raw on what
 * sb_store_raw_read returns yields exactly sb_store_iter's rows. */
static void test_iter_raw_matches_store(void **state)
{
    rng_state = seed_from_env(1234);
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *asc = fx_setup(s, "ks", "asc", 0, 864000);
    const sb_table *desc = fx_setup(s, "ks", "desc", 1, 864000);
    int nonempty = 0;
    for (int round = 0; round < 3; round++) {
        rnd_writes(s, asc, 150);
        rnd_writes(s, desc, 150);
        check_reads(s, asc, 300, &nonempty);
        check_reads(s, desc, 300, &nonempty);
    }
    /* After a compaction (merged, purged values) too. */
    sb_store_set_now(s, 1010);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    check_reads(s, asc, 300, &nonempty);
    check_reads(s, desc, 300, &nonempty);
    /* The property would hold trivially on empty results. */
    assert_true(nonempty > 500);
    sb_store_close(s);
}

static void test_iter_raw_edges(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    for (int i = 0; i < 5; i++)
        fx_put(s, t, "a", i, i, 10, 0, 1000);
    sb_read r = {
        .t = t, .tok_lo = INT64_MIN, .tok_hi = INT64_MAX, .tok_lo_inclusive = 1, .now_s = 1000};
    sb_rawq q;
    sb_rawq_init(&q);
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    ents x = {0};
    raw_read_sorted(s, &q, &x, NULL);
    assert_int_equal(x.n, 5);
    sb_iter *it;
    /* No entries: no rows. */
    assert_int_equal(sb_store_iter_raw(&r, NULL, 0, &it, err), 0);
    sb_row row;
    assert_int_equal(sb_iter_next(it, &row), 0);
    sb_iter_free(it);
    /* Unsorted or duplicate entries are refused with a reason. */
    sb_raw tmp = x.e[1];
    x.e[1] = x.e[2];
    x.e[2] = tmp;
    assert_int_equal(sb_store_iter_raw(&r, x.e, x.n, &it, err), SB_EINVAL);
    assert_non_null(strstr(err, "not sorted"));
    x.e[2] = x.e[1];
    assert_int_equal(sb_store_iter_raw(&r, x.e, 3, &it, err), SB_EINVAL);
    x.e[2] = tmp;
    ents_free(&x);
    sb_rawq_free(&q);
    sb_store_close(s);
}

/* Pages of a partition with limits: each stops with *more, the head comes
 * whole every time, and continuing after the last entry gives the rest. */
static void page_through(sb_store *s, const sb_table *t, int reversed, uint32_t max_entries,
                         uint32_t max_bytes)
{
    char err[SB_ERRMSG_SIZE];
    sb_value pk = fx_text("p");
    sb_read r = {.t = t, .pk = &pk, .reversed = reversed, .now_s = 1000};
    sb_rawq q;
    sb_rawq_init(&q);
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    ents whole = {0}, page = {0};
    int more = -1;
    assert_int_equal(sb_store_raw_read(s, &q, collect, &whole, &more, err), 0);
    assert_int_equal(more, 0);
    size_t head = 2; /* header and one range tombstone */
    assert_int_equal(whole.n, head + 40);
    q.max_entries = max_entries;
    q.max_bytes = max_bytes;
    size_t got = 0;
    int pages = 0;
    for (;;) {
        ents_clear(&page);
        assert_int_equal(sb_store_raw_read(s, &q, collect, &page, &more, err), 0);
        pages++;
        assert_true(page.n > head); /* at least one main entry */
        for (size_t i = 0; i < head; i++)
            assert_true(raw_equal(&page.e[i], &whole.e[i]));
        size_t nmain = page.n - head, bytes = 0;
        if (max_entries)
            assert_true(nmain <= max_entries);
        for (size_t i = head; i < page.n; i++) {
            assert_true(raw_equal(&page.e[i], &whole.e[head + got + i - head]));
            bytes += page.e[i].klen + page.e[i].vlen;
        }
        if (max_bytes && nmain > 1)
            assert_true(bytes <= max_bytes);
        got += nmain;
        if (!more)
            break;
        assert_true(got < 40);
        /* Continue after the last entry. */
        const sb_raw *last = &page.e[page.n - 1];
        if (!reversed) {
            sb_buf_reset(&q.lo);
            sb_buf_append(&q.lo, last->key, last->klen);
            sb_buf_putc(&q.lo, 0);
        } else {
            sb_buf_reset(&q.hi);
            sb_buf_append(&q.hi, last->key, last->klen);
        }
    }
    assert_int_equal(got, 40);
    assert_true(pages > 1);
    ents_free(&whole);
    ents_free(&page);
    sb_rawq_free(&q);
}

static void test_raw_read_limits(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    for (int i = 0; i < 40; i++)
        fx_put(s, t, "p", i, i * 0.5, 10, 0, 1000);
    fx_put(s, t, "o", 1, 1, 10, 0, 1000); /* another partition */
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text("p"), c100 = fx_bigint(100), c200 = fx_bigint(200);
    sb_cell st = fx_cell(fx_colid(t, "s"), 10, 0, fx_text("static"));
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, NULL, -1, 0, &st, 1, 1000, err), 0);
    sb_bound lo = {&c100, 1, 1}, hi = {&c200, 1, 0};
    assert_int_equal(sb_wbatch_delete_range(b, t, &pk, &lo, &hi, 5, 1000, err), 0);
    fx_write(s, b);
    page_through(s, t, 0, 7, 0);
    page_through(s, t, 1, 7, 0);
    page_through(s, t, 0, 0, 100);
    page_through(s, t, 1, 3, 100);
    page_through(s, t, 0, 0, 1); /* tiny: one entry per page */

    /* A slice: only its rows in main, inclusivity respected. */
    sb_value s5 = fx_bigint(5), s9 = fx_bigint(9);
    sb_read r = {.t = t, .pk = &pk, .start = {&s5, 1, 0}, .end = {&s9, 1, 1}, .now_s = 1000};
    sb_rawq q;
    sb_rawq_init(&q);
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    ents x = {0};
    int more;
    assert_int_equal(sb_store_raw_read(s, &q, collect, &x, &more, err), 0);
    assert_int_equal(x.n, 2 + 4); /* head, then 6..9 */
    assert_int_equal(more, 0);
    /* Unknown table. */
    q.table_id[0] ^= 0xff;
    assert_int_equal(sb_store_raw_read(s, &q, collect, &x, &more, err), SB_ENOTFOUND);
    assert_non_null(strstr(err, "no table"));
    ents_free(&x);
    sb_rawq_free(&q);
    sb_store_close(s);
}

static void test_rawq_wire(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 1, 864000);
    sb_value pk = fx_text("sensor-1"), c1 = fx_bigint(10), c2 = fx_bigint(-3);
    sb_read r = {.t = t, .pk = &pk, .start = {&c1, 1, 1}, .end = {&c2, 1, 0}, .reversed = 1};
    sb_rawq q, d;
    sb_rawq_init(&q);
    sb_rawq_init(&d);
    assert_int_equal(sb_read_rawq(&r, &q, err), 0);
    q.max_entries = 1000;
    q.max_bytes = 1 << 20;
    sb_buf w;
    sb_buf_init(&w);
    assert_int_equal(sb_rawq_encode(&q, &w), 0);
    size_t n = w.len;
    sb_buf_append(&w, "trailing", 8);
    size_t used = 0;
    assert_int_equal(sb_rawq_decode(w.data, w.len, &d, &used), 0);
    assert_int_equal(used, n);
    assert_memory_equal(d.table_id, t->id, 16);
    const sb_buf *qa[] = {&q.head_lo, &q.head_hi, &q.lo, &q.hi};
    const sb_buf *da[] = {&d.head_lo, &d.head_hi, &d.lo, &d.hi};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(qa[i]->len, da[i]->len);
        assert_true(qa[i]->len > 0);
        assert_memory_equal(qa[i]->data, da[i]->data, qa[i]->len);
    }
    assert_int_equal(d.reversed, 1);
    assert_int_equal(d.max_entries, 1000);
    assert_int_equal(d.max_bytes, 1 << 20);
    /* Every truncation is refused. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(sb_rawq_decode(w.data, k, &d, &used), SB_EBADINPUT);
    /* A bad version, a bad flag, an absurd length. */
    w.data[0] = 9;
    assert_int_equal(sb_rawq_decode(w.data, n, &d, &used), SB_EBADINPUT);
    w.data[0] = 1;
    w.data[n - 9] = 2; /* reversed */
    assert_int_equal(sb_rawq_decode(w.data, n, &d, &used), SB_EBADINPUT);
    w.data[n - 9] = 1;
    w.data[17] = 0x7f; /* head_lo length: ~2 GB */
    assert_int_equal(sb_rawq_decode(w.data, n, &d, &used), SB_EBADINPUT);
    /* Garbage never crashes; what decodes stays within the input. */
    rng_state = seed_from_env(99);
    uint8_t g[96];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rnd_n(sizeof(g) + 1);
        for (size_t k = 0; k < len; k++)
            g[k] = (uint8_t)(rnd_n(4) ? (uint32_t)rnd_n(3) : rnd());
        if (len)
            g[0] = 1;
        int rv = sb_rawq_decode(g, len, &d, &used);
        assert_true(rv == 0 || rv == SB_EBADINPUT);
        if (rv == 0)
            assert_true(used <= len);
    }
    /* Token range queries: no head; an empty range is empty. */
    sb_read tr = {.t = t, .tok_lo = 5, .tok_hi = 5, .tok_lo_inclusive = 0};
    assert_int_equal(sb_read_rawq(&tr, &q, err), 0);
    assert_int_equal(q.head_lo.len, 0);
    assert_int_equal(q.lo.len, 8);
    assert_int_equal(q.hi.len, 8);
    assert_memory_equal(q.lo.data, q.hi.data, 8);
    tr.tok_hi = INT64_MAX;
    assert_int_equal(sb_read_rawq(&tr, &q, err), 0);
    assert_int_equal(q.hi.len, 0);
    assert_int_equal(sb_raw_token(q.lo.data, q.lo.len), 6);
    sb_buf_free(&w);
    sb_rawq_free(&q);
    sb_rawq_free(&d);
    sb_store_close(s);
}

static void test_load_and_truncate_id(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    uint64_t before = sb_store_load_bytes(s);
    for (int i = 0; i < 500; i++)
        fx_put(s, t, "a", i, i, 10, 0, 1000);
    assert_true(sb_store_load_bytes(s) > before);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    assert_true(sb_store_load_bytes(s) > 0);
    uint8_t id[16];
    memcpy(id, t->id, 16);
    uint8_t noid[16] = {0};
    assert_int_equal(sb_store_truncate_id(s, noid, err), SB_ENOTFOUND);
    assert_non_null(strstr(err, "no table"));
    assert_int_equal(sb_store_truncate_id(s, id, err), 0);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    assert_non_null(t);
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0);
    free(r);
    sb_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_raw_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_raw_replicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frag_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_raw_matches_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_raw_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_read_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rawq_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_and_truncate_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
