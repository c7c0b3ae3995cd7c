/* Conditional statements (cql/exec_lwt.c) against a real store, without a
 * cluster: the conditions' semantics (null, =, !=, <, >=, IN, IF EXISTS,
 * IF NOT EXISTS, batches), the [applied] result shape and the refusals.
 * Through the cluster the same checks run under a Paxos round
 * (tests/sim/test_lwt.c). */
#include "test_exec_fixture.h"

static void load(void)
{
    fx_schema();
    fx_ok("CREATE TABLE reg (k text, c int, owner text, v int, PRIMARY KEY (k, c))");
}

static void test_if_not_exists(void **state)
{
    load();
    fx_rows("INSERT INTO reg (k, c, owner, v) VALUES ('a', 1, 'ann', 1) IF NOT EXISTS", "[[true]]");
    fx_rows("INSERT INTO reg (k, c, owner, v) VALUES ('a', 1, 'bob', 2) IF NOT EXISTS",
            "[[false, \"a\", 1, \"ann\", 1]]");
    /* another row of the same partition does not exist yet */
    fx_rows("INSERT INTO reg (k, c, owner) VALUES ('a', 2, 'cat') IF NOT EXISTS", "[[true]]");
    fx_rows("SELECT c, owner, v FROM reg WHERE k = 'a'", "[[1, \"ann\", 1], [2, \"cat\", null]]");
    sb_cql_result *r = fx_exec("INSERT INTO reg (k, c) VALUES ('a', 1) IF NOT EXISTS");
    assert_int_equal(r->kind, SB_CQL_RESULT_ROWS);
    assert_int_equal(r->ncols, 5);
    assert_string_equal(r->cols[0].name, "[applied]");
    assert_int_equal(r->cols[0].type.id, SB_TYPE_BOOLEAN);
    assert_string_equal(r->cols[1].name, "k");
    sb_cql_result_free(r);
}

static void test_conditions(void **state)
{
    load();
    fx_ok("INSERT INTO reg (k, c, owner, v) VALUES ('a', 1, 'ann', 5)");
    fx_rows("UPDATE reg SET v = 6 WHERE k = 'a' AND c = 1 IF v = 5", "[[true]]");
    fx_rows("UPDATE reg SET v = 7 WHERE k = 'a' AND c = 1 IF v = 5", "[[false, 6]]");
    fx_rows("UPDATE reg SET v = 7 WHERE k = 'a' AND c = 1 IF v != 6", "[[false, 6]]");
    fx_rows("UPDATE reg SET v = 7 WHERE k = 'a' AND c = 1 IF v < 6", "[[false, 6]]");
    fx_rows("UPDATE reg SET v = 7 WHERE k = 'a' AND c = 1 IF v >= 6 AND owner IN ('x', 'ann')",
            "[[true]]");
    /* the columns shown are those the conditions name, in table order */
    fx_rows("UPDATE reg SET v = 8 WHERE k = 'a' AND c = 1 IF v = 1 AND owner = 'ann'",
            "[[false, \"ann\", 7]]");
    /* a missing cell is null: = null holds, an ordering does not */
    fx_ok("UPDATE reg SET owner = null WHERE k = 'a' AND c = 1");
    fx_rows("UPDATE reg SET v = 9 WHERE k = 'a' AND c = 1 IF owner > 'a'", "[[false, null]]");
    fx_rows("UPDATE reg SET v = 9 WHERE k = 'a' AND c = 1 IF owner = null", "[[true]]");
    /* no row: IF EXISTS and conditions fail with [applied] alone */
    fx_rows("UPDATE reg SET v = 1 WHERE k = 'b' AND c = 1 IF EXISTS", "[[false]]");
    fx_rows("UPDATE reg SET v = 1 WHERE k = 'b' AND c = 1 IF v = 1", "[[false]]");
    fx_rows("SELECT v FROM reg WHERE k = 'b'", "[]");
    fx_rows("DELETE FROM reg WHERE k = 'a' AND c = 1 IF v = 9", "[[true]]");
    fx_rows("DELETE FROM reg WHERE k = 'a' AND c = 1 IF EXISTS", "[[false]]");
}

static void test_batch(void **state)
{
    load();
    fx_ok("INSERT INTO reg (k, c, owner, v) VALUES ('p', 1, 'ann', 1)");
    fx_rows("BEGIN BATCH UPDATE reg SET v = 2 WHERE k = 'p' AND c = 1 IF v = 1; "
            "INSERT INTO reg (k, c, v) VALUES ('p', 2, 20); APPLY BATCH",
            "[[true]]");
    /* one condition fails: nothing of the batch applies */
    fx_rows("BEGIN BATCH UPDATE reg SET v = 3 WHERE k = 'p' AND c = 1 IF v = 1; "
            "INSERT INTO reg (k, c, v) VALUES ('p', 3, 30); APPLY BATCH",
            "[[false, \"p\", 1, \"ann\", 2]]");
    fx_rows("SELECT c, v FROM reg WHERE k = 'p'", "[[1, 2], [2, 20]]");
    fx_err("BEGIN BATCH UPDATE reg SET v = 3 WHERE k = 'p' AND c = 1 IF v = 2; "
           "INSERT INTO reg (k, c, v) VALUES ('q', 3, 30) IF NOT EXISTS; APPLY BATCH",
           "Invalid", "Batch with conditions cannot span multiple partitions");
}

static void test_refusals(void **state)
{
    load();
    fx_err("UPDATE reg USING TIMESTAMP 5 SET v = 1 WHERE k = 'a' AND c = 1 IF v = 1", "Invalid",
           "Cannot provide custom timestamp for conditional updates");
    fx_err("UPDATE reg SET v = 1 WHERE k = 'a' AND c = 1 IF c = 1", "Invalid",
           "PRIMARY KEY column 'c' cannot have IF conditions");
    fx_err("UPDATE reg SET v = 1 WHERE k = 'a' AND c IN (1, 2) IF v = 1", "Invalid",
           "the full primary key must be given");
    fx_err("UPDATE reg SET v = 1 WHERE k = 'a' AND c = 1 IF nope = 1", "Invalid",
           "Undefined column name nope");
    sb_cql_opts o;
    sb_cql_opts_default(&o);
    o.consistency = SB_CL_SERIAL;
    sb_cql_result *r =
        fx_exec_opts("INSERT INTO reg (k, c) VALUES ('a', 1) IF NOT EXISTS", NULL, 0, &o);
    assert_int_equal(r->kind, SB_CQL_RESULT_ERROR);
    assert_non_null(strstr(r->err.message, "SERIAL is not supported as conditional update commit"));
    sb_cql_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_if_not_exists, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_conditions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_batch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
