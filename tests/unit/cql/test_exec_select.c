/* CQL executor SELECT, end to end against a real store: restrictions,
 * ORDER BY / LIMIT / PER PARTITION LIMIT, aggregates and their types,
 * GROUP BY, token() and token range scans, ALLOW FILTERING, paging and
 * virtual tables. */
#include "test_exec_fixture.h"

static void exec_fmt(const char *fmt, int a, int b, int c)
{
    char q[256];
    snprintf(q, sizeof q, fmt, a, b, c);
    fx_ok(q);
}

/* ks.t: k in 0..3, c in 0..4, v = 10k + c, d = (10k + c) / 2.0 */
static void load_grid(void)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int, c int, v int, d double, s text, PRIMARY KEY (k, c))");
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 5; c++) {
            char q[256];
            snprintf(q, sizeof q, "INSERT INTO t (k, c, v, d, s) VALUES (%d, %d, %d, %d.5, 's%d')",
                     k, c, 10 * k + c, 10 * k + c, c % 2);
            fx_ok(q);
        }
}

static void test_clustering_restrictions_and_order(void **state)
{
    load_grid();
    fx_rows("SELECT c FROM t WHERE k = 1 AND c > 1 AND c <= 3", "[[2], [3]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND c >= 3", "[[3], [4]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND c IN (4, 0, 2)", "[[0], [2], [4]]");
    fx_rows("SELECT c FROM t WHERE k = 1 ORDER BY c DESC", "[[4], [3], [2], [1], [0]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND c < 3 ORDER BY c DESC LIMIT 2", "[[2], [1]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND c IN (0, 3) ORDER BY c DESC", "[[3], [0]]");
    fx_rows("SELECT k, c FROM t WHERE k IN (2, 1) AND c = 0", "[[1, 0], [2, 0]]");
    /* IN on the partition key with ORDER BY: merged by clustering order. */
    fx_rows("SELECT k, c FROM t WHERE k IN (1, 2) AND c < 2 ORDER BY c DESC",
            "[[1, 1], [2, 1], [1, 0], [2, 0]]");
    fx_rows("SELECT k, c FROM t WHERE k IN (1, 2) PER PARTITION LIMIT 2",
            "[[1, 0], [1, 1], [2, 0], [2, 1]]");
    fx_rows("SELECT k, c FROM t WHERE k IN (1, 2) PER PARTITION LIMIT 2 LIMIT 3",
            "[[1, 0], [1, 1], [2, 0]]");
    fx_rows("SELECT DISTINCT k FROM t WHERE k IN (3, 0)", "[[0], [3]]");
    fx_rows("SELECT c FROM t WHERE k = 9", "[]");
    fx_err("SELECT c FROM t WHERE k = 1 ORDER BY v", "Invalid",
           "Order by is currently only supported on the clustered columns of the PRIMARY KEY, "
           "got v");
    fx_err("SELECT c FROM t ORDER BY c DESC", "Invalid",
           "ORDER BY is only supported when the partition key is restricted by an EQ or an IN.");
    fx_err("SELECT c FROM t WHERE k = 1 LIMIT 0", "Invalid", "LIMIT must be strictly positive");
    fx_err("SELECT DISTINCT c FROM t", "Invalid",
           "SELECT DISTINCT queries must only request partition key columns");

    /* DESC clustering: storage order is descending; ranges still work. */
    fx_ok("CREATE TABLE r (k int, a int, b int, PRIMARY KEY (k, a, b)) WITH CLUSTERING ORDER BY "
          "(a DESC, b ASC)");
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            exec_fmt("INSERT INTO r (k, a, b) VALUES (1, %d, %d)", a, b, 0);
    fx_rows("SELECT a, b FROM r WHERE k = 1", "[[2, 0], [2, 1], [1, 0], [1, 1], [0, 0], [0, 1]]");
    fx_rows("SELECT a, b FROM r WHERE k = 1 AND a > 0", "[[2, 0], [2, 1], [1, 0], [1, 1]]");
    fx_rows("SELECT a, b FROM r WHERE k = 1 AND a = 1 AND b > 0", "[[1, 1]]");
    fx_rows("SELECT a, b FROM r WHERE k = 1 ORDER BY a ASC, b DESC",
            "[[0, 1], [0, 0], [1, 1], [1, 0], [2, 1], [2, 0]]");
    fx_err("SELECT a FROM r WHERE k = 1 ORDER BY a ASC, b ASC", "Invalid",
           "Unsupported order by relation");
    fx_err("SELECT a FROM r WHERE k = 1 AND b = 1", "Invalid",
           "PRIMARY KEY column \"b\" cannot be restricted as preceding column \"a\" is not "
           "restricted");
    fx_rows("SELECT a FROM r WHERE k = 1 AND b = 1 ALLOW FILTERING", "[[2], [1], [0]]");
}

static void test_filtering(void **state)
{
    load_grid();
    const char *msg = "Cannot execute this query as it might involve data filtering and thus may "
                      "have unpredictable performance. If you want to execute this query despite "
                      "the performance unpredictability, use ALLOW FILTERING";
    fx_err("SELECT k, c FROM t WHERE v = 12", "Invalid", msg);
    fx_err("SELECT k, c FROM t WHERE c = 2", "Invalid", msg);
    fx_err("SELECT k, c FROM t WHERE k = 1 AND s = 's1'", "Invalid", msg);
    fx_rows("SELECT k, c FROM t WHERE v = 12 ALLOW FILTERING", "[[1, 2]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND s = 's1' ALLOW FILTERING", "[[1], [3]]");
    fx_rows("SELECT c FROM t WHERE k = 1 AND v > 12 AND v != 14 ALLOW FILTERING", "[[3]]");
    fx_rows("SELECT count(*) FROM t WHERE c = 2 ALLOW FILTERING", "[[4]]");
    fx_ok("CREATE TABLE m (k int PRIMARY KEY, tags set<text>, attrs map<text, int>)");
    fx_ok("INSERT INTO m (k, tags, attrs) VALUES (1, {'a', 'b'}, {'x': 1})");
    fx_ok("INSERT INTO m (k, tags, attrs) VALUES (2, {'b'}, {'x': 2, 'y': 3})");
    fx_rows("SELECT k FROM m WHERE tags CONTAINS 'a' ALLOW FILTERING", "[[1]]");
    fx_rows("SELECT count(*) FROM m WHERE attrs CONTAINS KEY 'x' ALLOW FILTERING", "[[2]]");
    fx_rows("SELECT k FROM m WHERE attrs['x'] = 2 ALLOW FILTERING", "[[2]]");
    fx_err("SELECT k FROM m WHERE nope = 1 ALLOW FILTERING", "Invalid",
           "Undefined column name nope");
}

static void test_aggregates_and_types(void **state)
{
    load_grid();
    sb_cql_result *r = fx_exec("SELECT count(*), count(v), min(v), max(v), sum(v), avg(v), "
                               "sum(d), avg(d), min(s), max(d) FROM t WHERE k = 1");
    assert_int_equal(r->kind, SB_CQL_RESULT_ROWS);
    assert_int_equal(r->ncols, 10);
    assert_string_equal(r->cols[0].name, "count");
    assert_int_equal(r->cols[0].type.id, SB_TYPE_BIGINT);
    assert_string_equal(r->cols[1].name, "system.count(v)");
    assert_int_equal(r->cols[1].type.id, SB_TYPE_BIGINT);
    assert_int_equal(r->cols[2].type.id, SB_TYPE_INT);
    assert_int_equal(r->cols[4].type.id, SB_TYPE_INT); /* sum of int is int */
    assert_int_equal(r->cols[5].type.id, SB_TYPE_INT); /* avg of int is int */
    assert_int_equal(r->cols[6].type.id, SB_TYPE_DOUBLE);
    assert_int_equal(r->cols[7].type.id, SB_TYPE_DOUBLE);
    assert_string_equal(r->cols[4].name, "system.sum(v)");
    char *got = fx_rows_json(r);
    /* v = 10..14, d = 10.5..14.5 */
    assert_string_equal(got, "[[5, 5, 10, 14, 60, 12, 62.5, 12.5, \"s0\", 14.5]]");
    free(got);
    sb_cql_result_free(r);
    /* Integer avg truncates; nulls are skipped by count(col) and sum. */
    fx_ok("INSERT INTO t (k, c) VALUES (7, 0)");
    fx_ok("INSERT INTO t (k, c, v) VALUES (7, 1, 1)");
    fx_ok("INSERT INTO t (k, c, v) VALUES (7, 2, 2)");
    fx_rows("SELECT count(*), count(v), sum(v), avg(v) FROM t WHERE k = 7", "[[3, 2, 3, 1]]");
    /* No rows: one row of zeros and nulls. */
    fx_rows("SELECT count(*), sum(v), avg(d), min(v) FROM t WHERE k = 99", "[[0, 0, 0, null]]");
    /* Whole table: aggregates read every partition (with a warning). */
    r = fx_exec("SELECT count(*), max(v) FROM t");
    got = fx_rows_json(r);
    assert_string_equal(got, "[[23, 34]]");
    assert_non_null(r->warning);
    free(got);
    sb_cql_result_free(r);
    fx_err("SELECT sum(s) FROM t", "Invalid", "Invalid call to function sum");
    fx_err("SELECT writetime(k) FROM t", "Invalid",
           "Cannot use selection function writeTime on PRIMARY KEY part k");
    fx_err("SELECT nope(v) FROM t", "Invalid", "Unknown function 'nope'");
}

static void test_group_by(void **state)
{
    load_grid();
    fx_rows("SELECT k, count(*), sum(v), max(c) FROM t WHERE k IN (0, 1, 2, 3) GROUP BY k",
            "[[0, 5, 10, 4], [1, 5, 60, 4], [2, 5, 110, 4], [3, 5, 160, 4]]");
    sb_cql_result *r = fx_exec("SELECT k, count(*) FROM t GROUP BY k"); /* token order */
    assert_int_equal(r->nrows, 4);
    sb_cql_result_free(r);
    fx_rows("SELECT k, c, count(*) FROM t WHERE k = 2 GROUP BY k, c LIMIT 2",
            "[[2, 0, 1], [2, 1, 1]]");
}

static void test_group_by_order(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE g (k int, a int, b int, v int, PRIMARY KEY (k, a, b))");
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            exec_fmt("INSERT INTO g (k, a, b, v) VALUES (1, %d, %d, %d)", a, b, a * 3 + b);
    fx_ok("INSERT INTO g (k, a, b, v) VALUES (2, 0, 0, 100)");
    fx_rows("SELECT a, count(*), min(v), max(v) FROM g WHERE k = 1 GROUP BY k, a",
            "[[0, 3, 0, 2], [1, 3, 3, 5], [2, 3, 6, 8]]");
    fx_rows("SELECT k, a, b, v FROM g WHERE k = 1 GROUP BY k, a", /* first row per group */
            "[[1, 0, 0, 0], [1, 1, 0, 3], [1, 2, 0, 6]]");
    fx_rows("SELECT a, sum(v) FROM g WHERE k = 1 GROUP BY k, a LIMIT 2", "[[0, 3], [1, 12]]");
    fx_rows("SELECT a, sum(v) FROM g WHERE k = 1 AND a > 0 GROUP BY k, a ORDER BY a DESC",
            "[[2, 21], [1, 12]]");
    fx_rows("SELECT k, count(*) FROM g WHERE k IN (1, 2) GROUP BY k", "[[1, 9], [2, 1]]");
    fx_err("SELECT count(*) FROM g GROUP BY a", "Invalid",
           "Group by currently only support groups of columns following their declared order in "
           "the PRIMARY KEY");
    fx_err("SELECT count(*) FROM g GROUP BY k, v", "Invalid",
           "Group by is currently only supported on the columns of the PRIMARY KEY, got v");
}

/* Every row of t has a token; four token ranges that together cover the
 * ring, scanned with bind markers as bulk tools do, return every row once. */
static void test_token_ranges(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))");
    int n = 0;
    for (int k = 0; k < 50; k++)
        for (int c = 0; c < 2; c++, n++)
            exec_fmt("INSERT INTO t (k, c, v) VALUES (%d, %d, %d)", k, c, k * 2 + c);
    /* SELECT without WHERE: token order. */
    sb_cql_result *r = fx_exec("SELECT token(k), k FROM t");
    assert_int_equal(r->nrows, n);
    assert_string_equal(r->cols[0].name, "system.token(k)");
    int64_t prev = INT64_MIN;
    for (int i = 0; i < r->nrows; i++) {
        sb_value tv = r->rows[i * 2];
        assert_int_equal(tv.len, 8);
        uint64_t u = 0;
        for (int j = 0; j < 8; j++)
            u = (u << 8) | tv.p[j];
        assert_true((int64_t)u >= prev);
        prev = (int64_t)u;
    }
    sb_cql_result_free(r);

    int seen[100] = {0};
    int64_t bounds[5] = {INT64_MIN, -4611686018427387904LL, 0, 4611686018427387904LL, INT64_MAX};
    const char *q = "SELECT v FROM t WHERE token(k) > ? AND token(k) <= ?";
    const sb_cql_prepared *p;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cql_prepare(fx_eng, &fx_sess, q, strlen(q), &p, err), 0);
    assert_string_equal(p->binds[0].name, "partition key token");
    assert_int_equal(p->binds[0].type.id, SB_TYPE_BIGINT);
    for (int i = 0; i < 4; i++) {
        uint8_t lo[8], hi[8];
        for (int j = 0; j < 8; j++) {
            lo[j] = (uint8_t)((uint64_t)bounds[i] >> (56 - 8 * j));
            hi[j] = (uint8_t)((uint64_t)bounds[i + 1] >> (56 - 8 * j));
        }
        sb_value b[2] = {{lo, 8}, {hi, 8}};
        fx_wait w = {0};
        sb_cql_execute_prepared(fx_eng, &fx_sess, p->id, 16, b, 2, NULL, fx_cb, &w);
        r = fx_wait_for(&w);
        assert_int_equal(r->kind, SB_CQL_RESULT_ROWS);
        for (int j = 0; j < r->nrows; j++) {
            int v = (r->rows[j].p[2] << 8) | r->rows[j].p[3];
            assert_true(v >= 0 && v < 100);
            seen[v]++;
        }
        sb_cql_result_free(r);
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    /* Empty and inverted ranges, and equality. */
    fx_rows("SELECT v FROM t WHERE token(k) > 5 AND token(k) <= 5", "[]");
    fx_rows("SELECT v FROM t WHERE token(k) > 100 AND token(k) < -100", "[]");
    r = fx_exec("SELECT token(k) FROM t WHERE k = 7");
    char *tok = fx_rows_json(r);
    sb_cql_result_free(r);
    char q2[128];
    long long t7 = strtoll(tok + 2, NULL, 10);
    free(tok);
    snprintf(q2, sizeof q2, "SELECT k, c FROM t WHERE token(k) = %lld", t7);
    fx_rows(q2, "[[7, 0], [7, 1]]");
    snprintf(q2, sizeof q2, "SELECT k FROM t WHERE token(k) >= %lld LIMIT 1", t7);
    fx_rows(q2, "[[7]]");
    fx_err("SELECT k FROM t WHERE token(c) > 0", "Invalid",
           "The token() function is only supported on the partition key");
}

static int64_t be64(sb_value v)
{
    uint64_t u = 0;
    for (int i = 0; i < v.len; i++)
        u = (u << 8) | v.p[i];
    return (int64_t)u;
}

/* Pages through q with page size ps; returns the concatenated values of
 * the first column (ints) in out, the number of pages in *pages. */
static int page_all(const char *q, int ps, int64_t *out, int max, int *pages)
{
    sb_cql_opts o;
    sb_cql_opts_default(&o);
    o.page_size = ps;
    uint8_t state[512];
    int n = 0;
    *pages = 0;
    for (;;) {
        sb_cql_result *r = fx_exec_opts(q, NULL, 0, &o);
        if (r->kind == SB_CQL_RESULT_ERROR)
            fail_msg("%s: %s", q, r->err.message);
        assert_true(r->nrows <= ps);
        for (int i = 0; i < r->nrows && n < max; i++)
            out[n++] = be64(r->rows[i * r->ncols]);
        (*pages)++;
        int more = r->has_more;
        if (more) {
            assert_true(r->paging_state_len <= sizeof state);
            memcpy(state, r->paging_state, r->paging_state_len);
            o.paging_state = state;
            o.paging_state_len = r->paging_state_len;
        }
        sb_cql_result_free(r);
        if (!more)
            return n;
        assert_true(*pages < 1000);
    }
}

static void test_paging(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int, c int, v bigint, PRIMARY KEY (k, c))");
    for (int k = 0; k < 10; k++)
        for (int c = 0; c < 7; c++)
            exec_fmt("INSERT INTO t (k, c, v) VALUES (%d, %d, %d)", k, c, k * 100 + c);
    int64_t got[200], want[200];
    int pages;
    /* One partition, forward and reversed. */
    int n = page_all("SELECT v FROM t WHERE k = 3", 3, got, 200, &pages);
    assert_int_equal(n, 7);
    assert_int_equal(pages, 3);
    for (int i = 0; i < 7; i++)
        assert_int_equal(got[i], 300 + i);
    n = page_all("SELECT v FROM t WHERE k = 3 ORDER BY c DESC", 2, got, 200, &pages);
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(got[i], 306 - i);
    /* The whole table, page sizes that do and do not divide partitions. */
    sb_cql_result *r = fx_exec("SELECT v FROM t");
    assert_int_equal(r->nrows, 70);
    for (int i = 0; i < 70; i++)
        want[i] = be64(r->rows[i]);
    sb_cql_result_free(r);
    int sizes[] = {1, 4, 7, 13, 69, 70, 100};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        n = page_all("SELECT v FROM t", sizes[s], got, 200, &pages);
        assert_int_equal(n, 70);
        for (int i = 0; i < 70; i++)
            assert_int_equal(got[i], want[i]);
    }
    /* LIMIT and PER PARTITION LIMIT across pages. */
    n = page_all("SELECT v FROM t LIMIT 10", 3, got, 200, &pages);
    assert_int_equal(n, 10);
    n = page_all("SELECT v FROM t PER PARTITION LIMIT 2", 3, got, 200, &pages);
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(got[i] % 100, i % 2);
    /* IN lists and clustering IN. */
    n = page_all("SELECT v FROM t WHERE k IN (5, 1) AND c IN (6, 0, 3)", 2, got, 200, &pages);
    assert_int_equal(n, 6);
    int64_t in_want[] = {100, 103, 106, 500, 503, 506};
    for (int i = 0; i < 6; i++)
        assert_int_equal(got[i], in_want[i]);
    /* GROUP BY pages by groups. */
    n = page_all("SELECT k, count(*) FROM t GROUP BY k", 3, got, 200, &pages);
    assert_int_equal(n, 10);
    assert_int_equal(pages, 4);
    /* A corrupt paging state is an error, not a crash. */
    sb_cql_opts o;
    sb_cql_opts_default(&o);
    o.page_size = 2;
    uint8_t junk[] = {'S', 1, 0, 0, 9};
    o.paging_state = junk;
    o.paging_state_len = sizeof junk;
    r = fx_exec_opts("SELECT v FROM t", NULL, 0, &o);
    assert_int_equal(r->kind, SB_CQL_RESULT_ERROR);
    assert_non_null(strstr(r->err.message, "paging state"));
    sb_cql_result_free(r);
}

static void test_writetime_ttl_token_select(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k text PRIMARY KEY, v int, l list<int>)");
    fx_now_us = 1700000000000000;
    fx_ok("INSERT INTO t (k, v) VALUES ('a', 1) USING TTL 60 AND TIMESTAMP 42");
    fx_now_us += 10 * 1000000;
    fx_rows("SELECT writetime(v), ttl(v) FROM t WHERE k = 'a'", "[[42, 50]]");
    sb_cql_result *r = fx_exec("SELECT writetime(v) AS wt, token(k) FROM t");
    assert_string_equal(r->cols[0].name, "wt");
    assert_int_equal(r->cols[0].type.id, SB_TYPE_BIGINT);
    assert_int_equal(r->cols[1].type.id, SB_TYPE_BIGINT);
    sb_cql_result_free(r);
    fx_err("SELECT writetime(l) FROM t", "Invalid",
           "Cannot use selection function writeTime on non-frozen collection l");
}

/* A virtual table answered by a provider: SELECT applies WHERE etc. */
static sb_table vt_table;
static sb_column vt_cols[2];

static const sb_table *vt_lookup(void *arg, const char *ks, const char *name)
{
    return strcmp(ks, "system") == 0 && strcmp(name, "peers") == 0 ? &vt_table : NULL;
}

static int vt_scan(void *arg, const sb_table *t, sb_cql_emit_fn emit, void *ctx, char *errmsg)
{
    for (int i = 0; i < 3; i++) {
        uint8_t k[4] = {0, 0, 0, (uint8_t)i};
        char v[16];
        snprintf(v, sizeof v, "p%d", i);
        sb_value row[2] = {{k, 4}, {(const uint8_t *)v, (int32_t)strlen(v)}};
        int rc = emit(ctx, row);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_virtual_table(void **state)
{
    vt_cols[0] = (sb_column){
        .name = "id", .type = {SB_TYPE_INT, 0, 0, 0}, .kind = SB_COL_PARTITION, .id = 1};
    vt_cols[1] = (sb_column){
        .name = "peer", .type = {SB_TYPE_TEXT, 0, 0, 0}, .kind = SB_COL_REGULAR, .id = 2};
    vt_table =
        (sb_table){.keyspace = "system", .name = "peers", .cols = vt_cols, .ncols = 2, .npk = 1};
    sb_cql_vtables vt = {.lookup = vt_lookup, .scan = vt_scan};
    sb_cql_engine_set_vtables(fx_eng, &vt);
    fx_rows("SELECT peer FROM system.peers WHERE id = 1", "[[\"p1\"]]");
    fx_rows("SELECT count(*) FROM system.peers", "[[3]]");
    fx_rows("SELECT id FROM system.peers WHERE peer = 'p2'", "[[2]]");
    fx_err("SELECT * FROM system.nope", "Invalid", "Keyspace system does not exist");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clustering_restrictions_and_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_filtering, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_aggregates_and_types, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_by, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_by_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_ranges, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_paging, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_writetime_ttl_token_select, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_virtual_table, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
