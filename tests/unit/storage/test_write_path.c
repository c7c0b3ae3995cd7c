/*
 * The write path's one mutation (storage/mutation.h): a batch made for the
 * coordinator records exactly the entries a local batch would, in the
 * wire form the coordinator sends unchanged; taking it moves the buffer
 * (no copy); a replica's sb_store_apply builds the one RocksDB batch from
 * views into a received body, and the rows read back.
 */
#include "store_fixture.h"

#include <uv.h>

#include "storage/mutation.h"

static void upsert_rows(sb_wbatch *b, const sb_table *t, int n)
{
    char err[SB_ERRMSG_SIZE];
    for (int i = 0; i < n; i++) {
        sb_value pk = fx_text(i % 2 ? "s1" : "s2"), ck = fx_bigint(100 + i);
        sb_cell c = fx_cell(fx_colid(t, "v"), 1000 + i, 0, fx_double(i * 0.5));
        assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, 1000 + i, 0, &c, 1, 1000, err), 0);
    }
}

static void test_builder(void **state)
{
    static const uint8_t id[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    sb_buf m;
    sb_buf_init(&m);
    assert_int_equal(sb_mutation_init(&m), 0);
    assert_int_equal(sb_mutation_count(m.data, m.len), 0);
    assert_int_equal(sb_mutation_append(&m, id, (const uint8_t *)"k1", 2, (const uint8_t *)"v", 1),
                     0);
    assert_int_equal(sb_mutation_append(&m, id, (const uint8_t *)"k2", 2, NULL, 0), 0);
    assert_int_equal(sb_mutation_count(m.data, m.len), 2);
    /* The builder's output is what the encoder makes of the same entries. */
    sb_raw_mut e[2] = {{id, {(const uint8_t *)"k1", 2, (const uint8_t *)"v", 1}},
                       {id, {(const uint8_t *)"k2", 2, NULL, 0}}};
    sb_buf enc;
    sb_buf_init(&enc);
    assert_int_equal(sb_mutation_encode(&enc, e, 2), 0);
    assert_int_equal(enc.len, m.len);
    assert_memory_equal(enc.data, m.data, m.len);
    sb_buf_free(&enc);
    sb_buf_free(&m);
}

static void test_mutation_batch_equals_local_batch(void **state)
{
    fx_mkdir();
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    sb_wbatch *local = sb_wbatch_new(), *mb = sb_wbatch_new_mutation();
    upsert_rows(local, t, 5);
    upsert_rows(mb, t, 5);
    assert_int_equal(sb_wbatch_count(mb), sb_wbatch_count(local));
    assert_int_equal(sb_wbatch_nraw(mb), 5);
    sb_buf m;
    assert_int_equal(sb_wbatch_take_mutation(mb, &m), 0);
    assert_int_equal(sb_wbatch_nraw(mb), 0);
    sb_raw_mut *ents;
    size_t n;
    assert_int_equal(sb_mutation_decode(m.data, m.len, &ents, &n), 0);
    assert_int_equal(n, sb_wbatch_nraw(local));
    for (size_t i = 0; i < n; i++) {
        sb_raw_mut r;
        sb_wbatch_raw(local, i, &r);
        assert_memory_equal(ents[i].table_id, r.table_id, 16);
        assert_int_equal(ents[i].e.klen, r.e.klen);
        assert_memory_equal(ents[i].e.key, r.e.key, r.e.klen);
        assert_int_equal(ents[i].e.vlen, r.e.vlen);
        assert_memory_equal(ents[i].e.val, r.e.val, r.e.vlen);
        /* Views into the taken buffer: nothing was copied out of it. */
        assert_true(ents[i].e.key > m.data && ents[i].e.key < m.data + m.len);
    }
    free(ents);
    sb_buf_free(&m);
    sb_wbatch_free(mb);
    sb_wbatch_free(local);
    sb_store_close(s);
    fx_rmdir();
}

static void test_empty_mutation(void **state)
{
    sb_wbatch *mb = sb_wbatch_new_mutation();
    sb_buf m;
    assert_int_equal(sb_wbatch_take_mutation(mb, &m), 0);
    assert_int_equal(m.len, 4);
    assert_int_equal(sb_mutation_count(m.data, m.len), 0);
    sb_buf_free(&m);
    sb_wbatch_free(mb);
}

typedef struct applied {
    int calls, status;
} applied;

static void on_applied(void *arg, int status)
{
    applied *a = arg;
    a->calls++;
    a->status = status;
}

static void test_replica_apply(void **state)
{
    char err[SB_ERRMSG_SIZE];
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_mkdir();
    sb_store *s = fx_open(&loop, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    /* What a coordinator would send: a statement's mutation. */
    sb_wbatch *mb = sb_wbatch_new_mutation();
    upsert_rows(mb, t, 6);
    sb_buf m;
    assert_int_equal(sb_wbatch_take_mutation(mb, &m), 0);
    sb_wbatch_free(mb);
    sb_raw_mut *ents;
    size_t n;
    assert_int_equal(sb_mutation_decode(m.data, m.len, &ents, &n), 0);
    applied a = {0, 1};
    assert_int_equal(sb_store_apply(s, ents, n, on_applied, &a, err), 0);
    for (int i = 0; i < 1000 && a.calls == 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 0);
    fx_rows rows;
    fx_read(s, t, "s1", NULL, NULL, 0, 1000, &rows);
    assert_int_equal(rows.n, 3);
    fx_read(s, t, "s2", NULL, NULL, 0, 1000, &rows);
    assert_int_equal(rows.n, 3);
    assert_true(rows.v[1] == 1.0); /* row 2 of s2: i = 2 */
    /* An entry for a table this node does not have: refused, not applied,
     * and the callback is not called. */
    uint8_t bad_id[16] = {0xee};
    sb_raw_mut bad = ents[0];
    bad.table_id = bad_id;
    a.calls = 0;
    assert_int_equal(sb_store_apply(s, &bad, 1, on_applied, &a, err), SB_ENOTFOUND);
    assert_non_null(strstr(err, "no table with id"));
    assert_int_equal(a.calls, 0);
    free(ents);
    sb_buf_free(&m);
    sb_store_close(s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    fx_rmdir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_mutation_batch_equals_local_batch),
        cmocka_unit_test(test_empty_mutation),
        cmocka_unit_test(test_replica_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
