/* Storage engine: DDL, schema persistence, truncate and drop. */
#include "store_fixture.h"
#include "storage/store_int.h"

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

static void test_schema_persists_across_reopen(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    uint8_t v0[16];
    memcpy(v0, sb_store_schema(s)->version, 16);
    const sb_table *t = fx_setup(s, "ks", "t", 1, 3600);
    assert_memory_not_equal(v0, sb_store_schema(s)->version, 16);
    fx_setup(s, "ks2", "other", 0, 864000);
    uint8_t id[16], ver[16];
    memcpy(id, t->id, 16);
    memcpy(ver, sb_store_schema(s)->version, 16);
    uint16_t vid = fx_colid(t, "v");
    assert_true(vid > 0);
    fx_put(s, t, "a", 1, 1.5, 10, 0, 1000);
    sb_store_close(s);

    s = fx_open(NULL, NULL);
    const sb_schema *sc = sb_store_schema(s);
    assert_int_equal(sc->nks, 2);
    assert_memory_equal(sc->version, ver, 16);
    t = sb_schema_table(sc, "ks", "t");
    assert_non_null(t);
    assert_memory_equal(t->id, id, 16);
    assert_int_equal(t->npk, 1);
    assert_int_equal(t->nck, 1);
    assert_int_equal(t->gc_grace_s, 3600);
    assert_int_equal(t->cols[1].desc, 1);
    assert_int_equal(fx_colid(t, "v"), vid);
    assert_int_equal(sb_table_column(t, "m")->type.id, SB_TYPE_MAP);
    assert_int_equal(sb_table_column(t, "s")->kind, SB_COL_STATIC);
    assert_string_equal(sb_schema_keyspace(sc, "ks")->replication_json,
                        "{\"class\":\"SimpleStrategy\",\"replication_factor\":\"1\"}");
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    assert_true(r->v[0] == 1.5);

    /* ALTER: add a column; ids are never reused; persists. */
    sb_table *alt = sb_table_clone(t);
    alt->cols = realloc(alt->cols, (size_t)(alt->ncols + 1) * sizeof(sb_column));
    fx_col(&alt->cols[alt->ncols++], "w", SB_TYPE_INT, SB_COL_REGULAR, 0, 0);
    alt->gc_grace_s = 60;
    assert_int_equal(sb_store_alter_table(s, alt, err), 0);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    uint16_t wid = fx_colid(t, "w");
    assert_true(wid > vid);
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    assert_int_equal(fx_colid(t, "w"), wid);
    assert_int_equal(t->gc_grace_s, 60);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    free(r);
    sb_store_close(s);
}

static void test_ddl_errors(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    fx_setup(s, "ks", "t", 0, 10);
    assert_int_equal(sb_store_create_keyspace(s, fx_keyspace("ks"), err), SB_EEXISTS);
    assert_string_equal(err, "Keyspace 'ks' already exists");
    assert_int_equal(sb_store_create_table(s, fx_table("ks", "t", 0, 10), err), SB_EEXISTS);
    assert_string_equal(err, "Table 'ks.t' already exists");
    assert_int_equal(sb_store_create_table(s, fx_table("nope", "t", 0, 10), err), SB_EINVALID);
    assert_string_equal(err, "Keyspace 'nope' does not exist");
    assert_int_equal(sb_store_drop_table(s, "ks", "missing", err), SB_EINVALID);
    assert_string_equal(err, "Table 'ks.missing' does not exist");
    assert_int_equal(sb_store_truncate(s, "ks", "missing", err), SB_EINVALID);
    assert_string_equal(err, "Table 'ks.missing' does not exist");
    assert_int_equal(sb_store_drop_keyspace(s, "nope", err), SB_EINVALID);
    assert_string_equal(err, "Keyspace 'nope' does not exist");
    assert_int_equal(sb_store_alter_keyspace(s, fx_keyspace("nope"), err), SB_EINVALID);
    assert_int_equal(sb_store_create_keyspace(s, fx_keyspace("bad-name"), err), SB_EINVALID);
    assert_non_null(strstr(err, "bad-name"));

    sb_table *t = fx_table("ks", "dup", 0, 10);
    free(t->cols[4].name);
    t->cols[4].name = strdup("m");
    assert_int_equal(sb_store_create_table(s, t, err), SB_EINVALID);
    assert_string_equal(err, "Multiple definition of identifier m");
    t = fx_table("ks", "nokey", 0, 10);
    t->npk = 0;
    assert_int_equal(sb_store_create_table(s, t, err), SB_EINVALID);
    assert_non_null(strstr(err, "No PRIMARY KEY"));
    t = fx_table("ks", "stat", 0, 10);
    t->nck = 0;
    t->cols[1].kind = SB_COL_REGULAR;
    assert_int_equal(sb_store_create_table(s, t, err), SB_EINVALID);
    assert_non_null(strstr(err, "Static columns"));
    /* Failed DDL changed nothing. */
    assert_int_equal(sb_schema_keyspace(sb_store_schema(s), "ks")->ntables, 1);
    sb_store_close(s);
}

/* A manual compaction (sb_store_compact_all on a worker thread) holds the
 * maintenance lock; DDL must then fail at once with Overloaded instead of
 * blocking the event loop or racing with the compaction's schema walk.
 * Holding the lock here stands in for the running compaction. */
static void test_ddl_refused_during_manual_compaction(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    fx_setup(s, "ks", "t", 0, 10);
    pthread_mutex_lock(&s->maint_mu);
    assert_int_equal(sb_store_truncate(s, "ks", "t", err), SB_EOVERLOADED);
    assert_non_null(strstr(err, "manual compaction is running"));
    assert_int_equal(sb_store_drop_table(s, "ks", "t", err), SB_EOVERLOADED);
    assert_int_equal(sb_store_create_keyspace(s, fx_keyspace("ks2"), err), SB_EOVERLOADED);
    assert_int_equal(sb_store_create_table(s, fx_table("ks", "u", 0, 10), err), SB_EOVERLOADED);
    pthread_mutex_unlock(&s->maint_mu);
    /* Nothing changed, and DDL works again once the compaction is over. */
    assert_non_null(sb_schema_table(sb_store_schema(s), "ks", "t"));
    assert_null(sb_schema_keyspace(sb_store_schema(s), "ks2"));
    assert_int_equal(sb_store_drop_table(s, "ks", "t", err), 0);
    sb_store_close(s);
}

static void test_truncate_and_drop(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    const sb_table *t = fx_setup(s, "ks", "t", 0, 10);
    const sb_table *u = fx_setup(s, "ks", "u", 0, 10);
    fx_rows *r = calloc(1, sizeof(*r));
    for (int i = 0; i < 20; i++) {
        fx_put(s, t, "a", i, i, 10, 0, 1000);
        fx_put(s, u, "a", i, i, 10, 0, 1000);
    }
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_put(s, t, "a", 100, 1, 10, 0, 1000); /* one in the memtable too */
    assert_int_equal(sb_store_truncate(s, "ks", "t", err), 0);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0);
    fx_read(s, u, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 20);
    /* Still writable, also with timestamps older than the old data. */
    fx_put(s, t, "a", 1, 5, 1, 0, 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);

    assert_int_equal(sb_store_drop_table(s, "ks", "u", err), 0);
    assert_null(sb_schema_table(sb_store_schema(s), "ks", "u"));
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    assert_null(sb_schema_table(sb_store_schema(s), "ks", "u"));
    /* Re-creating the same name gives an empty table. */
    u = fx_setup(s, "ks", "u", 0, 10);
    fx_read(s, u, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);

    assert_int_equal(sb_store_drop_keyspace(s, "ks", err), 0);
    assert_int_equal(sb_store_schema(s)->nks, 0);
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    assert_int_equal(sb_store_schema(s)->nks, 0);
    free(r);
    sb_store_close(s);
}

static void test_compaction_strategies(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_store_create_keyspace(s, fx_keyspace("ks"), err), 0);
    sb_compaction kinds[] = {SB_COMPACTION_STCS, SB_COMPACTION_LCS, SB_COMPACTION_TWCS,
                             SB_COMPACTION_TWCS};
    const char *names[] = {"stcs", "lcs", "twcs", "twcs_ttl"};
    for (int i = 0; i < 4; i++) {
        sb_table *t = fx_table("ks", names[i], 0, 10);
        t->compaction = kinds[i];
        if (i == 3)
            t->default_ttl_s = 3600;
        if (sb_store_create_table(s, t, err))
            fail_msg("create %s: %s", names[i], err);
    }
    fx_rows *r = calloc(1, sizeof(*r));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            const sb_table *t = sb_schema_table(sb_store_schema(s), "ks", names[i]);
            for (int k = 0; k < 50; k++)
                fx_put(s, t, "p", k, k + round, 10 + round, 0, 1000);
            if (sb_store_compact_all(s, err))
                fail_msg("compact %s: %s", names[i], err);
            fx_read(s, t, "p", NULL, NULL, 0, 1000, r);
            assert_int_equal(r->n, 50);
            assert_true(r->v[49] == 49 + round);
        }
        sb_store_close(s);
        s = fx_open(NULL, NULL);
    }
    sb_store_stats st;
    sb_store_get_stats(s, &st);
    assert_true(st.sst_files > 0);
    assert_true(st.sst_bytes > 0);
    free(r);
    sb_store_close(s);
}

static void test_alter_compaction_applies_at_truncate(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    char err[SB_ERRMSG_SIZE];
    const sb_table *t = fx_setup(s, "ks", "t", 0, 10);
    for (int i = 0; i < 30; i++)
        fx_put(s, t, "a", i, i, 10, 0, 1000);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    sb_table *alt = sb_table_clone(t);
    alt->compaction = SB_COMPACTION_TWCS;
    alt->default_ttl_s = 600;
    assert_int_equal(sb_store_alter_table(s, alt, err), 0);
    sb_store_close(s);
    /* Reopening keeps the column family's original (leveled) style. */
    s = fx_open(NULL, NULL);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    assert_int_equal(t->compaction, SB_COMPACTION_TWCS);
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 30);
    /* TRUNCATE recreates it as FIFO; that survives a reopen too. */
    assert_int_equal(sb_store_truncate(s, "ks", "t", err), 0);
    fx_put(s, t, "a", 1, 1, 10, 0, 1000);
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    free(r);
    sb_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_persists_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddl_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddl_refused_during_manual_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_strategies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alter_compaction_applies_at_truncate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
