/* CQL executor, end to end against a real store: schema statements, the
 * seed schema with DEFAULT values, writes (INSERT/UPDATE/DELETE/BATCH,
 * collections, TTL, timestamps), prepared statements and Cassandra's error
 * messages. SELECT features are in test_exec_select.c. */
#include "test_exec_fixture.h"

static void test_seed_schema_verbatim_with_defaults(void **state)
{
    /* /work/shared/seeds/001: the keyspace and table exactly as written. */
    fx_ok("CREATE KEYSPACE IF NOT EXISTS sensor_data_schema\n"
          "WITH replication = {\n"
          "    'class': 'SimpleStrategy',\n"
          "    'replication_factor': 3\n"
          "};");
    fx_ok("USE sensor_data_schema");
    fx_ok("CREATE TABLE iot_sensor_metrics (\n"
          "    location TEXT,\n"
          "    device_type TEXT,\n"
          "    iot_sensor_id UUID,\n"
          "    recorded_timestamp TIMESTAMP,\n"
          "    temperature FLOAT DEFAULT -999.0,\n"
          "    humidity FLOAT DEFAULT -999.0,\n"
          "    pressure FLOAT DEFAULT -999.0,\n"
          "    motion_detected BOOLEAN DEFAULT false,\n"
          "    light_level INT DEFAULT 0,\n"
          "    gas_concentration FLOAT DEFAULT -999.0,\n"
          "    other_metrics MAP<TEXT, FLOAT> DEFAULT {},\n"
          "    PRIMARY KEY ((location, device_type), iot_sensor_id, recorded_timestamp)\n"
          "  );");
    fx_ok("INSERT INTO iot_sensor_metrics (location, device_type, iot_sensor_id, "
          "recorded_timestamp, temperature) VALUES ('lab', 'env', "
          "123e4567-e89b-12d3-a456-426614174000, '2026-11-21 10:00:00+0000', 21.5)");
    fx_rows("SELECT temperature, humidity, motion_detected, light_level, other_metrics FROM "
            "iot_sensor_metrics WHERE location = 'lab' AND device_type = 'env'",
            "[[21.5, -999, false, 0, {}]]");
    /* A given value wins over the default; a map value reads back. */
    fx_ok("INSERT INTO iot_sensor_metrics (location, device_type, iot_sensor_id, "
          "recorded_timestamp, light_level, other_metrics) VALUES ('lab', 'env', "
          "123e4567-e89b-12d3-a456-426614174000, '2026-11-21 11:00:00+0000', 7, {'co2': 1.5})");
    fx_rows("SELECT light_level, other_metrics, pressure FROM iot_sensor_metrics WHERE location = "
            "'lab' AND device_type = 'env' AND iot_sensor_id = "
            "123e4567-e89b-12d3-a456-426614174000 AND recorded_timestamp = '2026-11-21 "
            "11:00:00+0000'",
            "[[7, {\"co2\": 1.5}, -999]]");
    /* The second CREATE KEYSPACE IF NOT EXISTS is a no-op. */
    sb_cql_result *r =
        fx_exec("CREATE KEYSPACE IF NOT EXISTS sensor_data_schema WITH "
                "replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
    assert_int_equal(r->kind, SB_CQL_RESULT_VOID);
    sb_cql_result_free(r);
}

static void test_ddl_results_and_errors(void **state)
{
    sb_cql_result *r = fx_exec("CREATE KEYSPACE ks WITH replication = {'class': "
                               "'NetworkTopologyStrategy', 'dc1': 3} AND durable_writes = false");
    assert_int_equal(r->kind, SB_CQL_RESULT_SCHEMA_CHANGE);
    assert_string_equal(r->change_type, "CREATED");
    assert_string_equal(r->target, "KEYSPACE");
    assert_string_equal(r->sc_keyspace, "ks");
    sb_cql_result_free(r);
    const sb_keyspace *k = sb_schema_keyspace(sb_store_schema(fx_store), "ks");
    assert_non_null(k);
    assert_non_null(strstr(k->replication_json, "\"dc1\":\"3\""));
    assert_int_equal(k->durable_writes, 0);

    fx_err("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
           "'replication_factor': 1}",
           "AlreadyExists", "Cannot add existing keyspace \"ks\"");
    fx_err("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy'}", "Config",
           "SimpleStrategy requires a replication_factor");
    fx_err("CREATE TABLE t (k int PRIMARY KEY)", "Invalid",
           "No keyspace has been specified. USE a keyspace, or explicitly specify "
           "keyspace.tablename");
    fx_err("USE nosuch", "Invalid", "Keyspace 'nosuch' does not exist");

    r = fx_exec("USE ks");
    assert_int_equal(r->kind, SB_CQL_RESULT_SET_KEYSPACE);
    assert_string_equal(r->keyspace, "ks");
    sb_cql_result_free(r);
    assert_string_equal(fx_sess.keyspace, "ks");

    r = fx_exec("CREATE TABLE t (k int, c text, v bigint, s int static, PRIMARY KEY (k, c)) "
                "WITH CLUSTERING ORDER BY (c DESC) AND compaction = {'class': "
                "'LeveledCompactionStrategy'} AND default_time_to_live = 3600 AND "
                "gc_grace_seconds = 100 AND comment = 'hi'");
    assert_int_equal(r->kind, SB_CQL_RESULT_SCHEMA_CHANGE);
    assert_string_equal(r->target, "TABLE");
    assert_string_equal(r->sc_name, "t");
    sb_cql_result_free(r);
    const sb_table *t = sb_schema_table(sb_store_schema(fx_store), "ks", "t");
    assert_non_null(t);
    assert_int_equal(t->npk, 1);
    assert_int_equal(t->nck, 1);
    assert_int_equal(t->cols[1].desc, 1);
    assert_int_equal(t->compaction, SB_COMPACTION_LCS);
    assert_int_equal(t->default_ttl_s, 3600);
    assert_int_equal(t->gc_grace_s, 100);
    assert_string_equal(t->cols[2].name, "s"); /* statics before regulars */
    assert_int_equal(t->cols[2].kind, SB_COL_STATIC);

    fx_err("CREATE TABLE t (k int PRIMARY KEY)", "AlreadyExists",
           "Cannot add already existing table \"t\" to keyspace \"ks\"");
    r = fx_exec("CREATE TABLE t (k int PRIMARY KEY)");
    assert_string_equal(r->err.ks, "ks");
    assert_string_equal(r->err.table, "t");
    sb_cql_result_free(r);
    fx_ok("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)");
    fx_err("CREATE TABLE u (k int, v int)", "Invalid", "No PRIMARY KEY specified");
    fx_err("CREATE TABLE u (k int PRIMARY KEY, v int, PRIMARY KEY (v))", "Syntax error",
           "multiple PRIMARY KEYs specified");
    fx_err("CREATE TABLE u (k int, v int, PRIMARY KEY (x))", "Invalid",
           "Unknown definition x referenced in PRIMARY KEY");
    fx_err("CREATE TABLE u (k list<int> PRIMARY KEY)", "Invalid",
           "Invalid non-frozen collection type for PRIMARY KEY component k");
    fx_err("CREATE TABLE u (k int PRIMARY KEY, s int static)", "Invalid",
           "Static columns are only useful");
    fx_err("CREATE TABLE u (k int PRIMARY KEY, v whatever)", "Invalid", "Unknown type whatever");
    fx_err("CREATE TABLE u (k int, c int, d int, PRIMARY KEY (k, c, d)) WITH CLUSTERING ORDER BY "
           "(d DESC, c ASC)",
           "Invalid", "CLUSTERING ORDER");
    fx_err("CREATE TABLE u (k int PRIMARY KEY) WITH compaction = {'class': 'Nope'}", "Config",
           "Unable to find compaction strategy class 'Nope'");
    fx_err("CREATE TABLE u (k int PRIMARY KEY) WITH bogus = 1", "Syntax error",
           "Unknown property 'bogus'");
    fx_err("CREATE TABLE u (k int PRIMARY KEY, v int DEFAULT 'x')", "Invalid",
           "Invalid STRING constant (x) for \"v\" of type int");

    /* ALTER TABLE ADD / DROP / RENAME / WITH */
    fx_ok("ALTER TABLE t ADD w text");
    fx_ok("INSERT INTO t (k, c, w) VALUES (1, 'a', 'x')");
    fx_rows("SELECT k, c, w FROM t", "[[1, \"a\", \"x\"]]");
    fx_ok("ALTER TABLE t DROP w");
    fx_err("SELECT w FROM t", "Invalid", "Undefined column name w");
    fx_ok("ALTER TABLE t ADD w text");
    fx_rows("SELECT w FROM t", "[[null]]"); /* old cells do not come back */
    fx_err("ALTER TABLE t ADD v int", "Invalid", "conflicts with an existing column");
    fx_err("ALTER TABLE t DROP k", "Invalid", "Cannot drop PRIMARY KEY part k");
    fx_ok("ALTER TABLE t RENAME c TO cc");
    fx_rows("SELECT cc FROM t", "[[\"a\"]]");
    fx_ok("ALTER TABLE t WITH default_time_to_live = 0");
    assert_int_equal(sb_schema_table(sb_store_schema(fx_store), "ks", "t")->default_ttl_s, 0);

    fx_ok("TRUNCATE t");
    fx_rows("SELECT * FROM t", "[]");
    fx_err("TRUNCATE nosuch", "Invalid", "unconfigured table nosuch");

    r = fx_exec("DROP TABLE t");
    assert_int_equal(r->kind, SB_CQL_RESULT_SCHEMA_CHANGE);
    assert_string_equal(r->change_type, "DROPPED");
    sb_cql_result_free(r);
    fx_err("SELECT * FROM t", "Invalid", "unconfigured table t");
    fx_ok("DROP TABLE IF EXISTS t");
    fx_err("DROP TABLE t", "Config", "Cannot drop non existing table 't'");
    fx_ok("ALTER KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 2}");
    k = sb_schema_keyspace(sb_store_schema(fx_store), "ks");
    assert_non_null(strstr(k->replication_json, "\"replication_factor\":\"2\""));
    fx_ok("DROP KEYSPACE ks");
    fx_err("SELECT * FROM ks.t", "Invalid", "Keyspace ks does not exist");
    fx_ok("DROP KEYSPACE IF EXISTS ks");
    fx_err("DROP KEYSPACE ks", "Config", "Cannot drop non existing keyspace 'ks'");
}

static void test_insert_update_errors(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (a int, b int, c int, d int, v int, PRIMARY KEY ((a, b), c, d))");
    fx_err("INSERT INTO t (a, c, d, v) VALUES (1, 2, 3, 4)", "Invalid",
           "Some partition key parts are missing: b");
    fx_err("INSERT INTO t (a, b, d, v) VALUES (1, 2, 3, 4)", "Invalid",
           "Missing mandatory PRIMARY KEY part c");
    fx_err("INSERT INTO t (a, b, c, d, v) VALUES (1, 2, 3, 4, 3000000000)", "Invalid",
           "Invalid INTEGER constant (3000000000) for \"v\" of type int");
    fx_err("INSERT INTO t (a, b, c, d, x) VALUES (1, 2, 3, 4, 5)", "Invalid",
           "Undefined column name x");
    fx_err("INSERT INTO t (a, b, c, d) VALUES (1, 2, 3)", "Invalid",
           "Unmatched column names/values");
    fx_err("INSERT INTO t (a, b, c, d, d) VALUES (1, 2, 3, 4, 4)", "Invalid",
           "The column names contains duplicates");
    fx_err("INSERT INTO t (a, b, c, d) VALUES (null, 2, 3, 4)", "Invalid",
           "Invalid null value in condition for column a");
    fx_err("INSERT INTO nosuch (a) VALUES (1)", "Invalid", "unconfigured table nosuch");
    fx_err("INSERT INTO nosuch.t (a) VALUES (1)", "Invalid", "Keyspace nosuch does not exist");
    fx_err("INSERT INTO t (a, b, c, d) VALUES (1, 2, 3, 4) USING TTL -1", "Invalid",
           "A TTL must be greater or equal to 0, but was -1");
    fx_err("UPDATE t SET v = 1 WHERE a = 1 AND c = 1 AND d = 1", "Invalid",
           "Some partition key parts are missing: b");
    fx_err("UPDATE t SET v = 1 WHERE a = 1 AND b = 1 AND c = 1", "Invalid",
           "Missing mandatory PRIMARY KEY part d");
    fx_err("UPDATE t SET a = 1 WHERE a = 1 AND b = 1 AND c = 1 AND d = 1", "Invalid",
           "PRIMARY KEY part a found in SET part");
    fx_err("UPDATE t SET v = 1 WHERE a = 1 AND b = 1 AND c = 1 AND d = 1 AND v = 2", "Invalid",
           "Non PRIMARY KEY columns found in where clause: v");
    fx_err("DELETE FROM t WHERE a = 1 AND b = 1 AND d = 1", "Invalid",
           "PRIMARY KEY column \"d\" cannot be restricted as preceding column \"c\" is not "
           "restricted");
    fx_err("DELETE v FROM t WHERE a = 1 AND b = 1 AND c = 1", "Invalid",
           "Range deletions are not supported for specific columns");
    /* Positions: the blamed token's line and column. */
    sb_cql_result *r = fx_exec("SELECT a,\n  nope FROM t");
    assert_int_equal(r->kind, SB_CQL_RESULT_ERROR);
    assert_non_null(strstr(r->err.message, "Undefined column name nope (line 2:2)"));
    sb_cql_result_free(r);
    r = fx_exec("SELEC * FROM t");
    assert_int_equal(r->err.code, SB_CQL_ERR_SYNTAX);
    assert_string_equal(r->err.name, "Syntax error");
    assert_non_null(strstr(r->err.message, "line 1:0"));
    sb_cql_result_free(r);
}

static void test_insert_update_delete_rows(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k text, c int, v int, w text, PRIMARY KEY (k, c))");
    for (int i = 0; i < 5; i++) {
        char q[128];
        snprintf(q, sizeof q, "INSERT INTO t (k, c, v, w) VALUES ('a', %d, %d, 'x%d')", i, i * 10,
                 i);
        fx_ok(q);
    }
    fx_ok("INSERT INTO t (k, c, v) VALUES ('b', 1, 100)");
    fx_rows("SELECT c, v, w FROM t WHERE k = 'a'",
            "[[0, 0, \"x0\"], [1, 10, \"x1\"], [2, 20, \"x2\"], [3, 30, \"x3\"], [4, 40, "
            "\"x4\"]]");
    /* UPDATE writes no row marker: deleting its only cell removes the row. */
    fx_ok("UPDATE t SET v = 5 WHERE k = 'c' AND c = 1");
    fx_rows("SELECT v FROM t WHERE k = 'c'", "[[5]]");
    fx_ok("DELETE v FROM t WHERE k = 'c' AND c = 1");
    fx_rows("SELECT v FROM t WHERE k = 'c'", "[]");
    /* INSERT writes one: the row survives with null columns. */
    fx_ok("DELETE v, w FROM t WHERE k = 'a' AND c = 0");
    fx_rows("SELECT c, v, w FROM t WHERE k = 'a' AND c = 0", "[[0, null, null]]");
    /* Row delete, range delete, partition delete. */
    fx_ok("DELETE FROM t WHERE k = 'a' AND c = 0");
    fx_rows("SELECT c FROM t WHERE k = 'a'", "[[1], [2], [3], [4]]");
    fx_ok("DELETE FROM t WHERE k = 'a' AND c > 1 AND c <= 3");
    fx_rows("SELECT c FROM t WHERE k = 'a'", "[[1], [4]]");
    fx_ok("DELETE FROM t WHERE k = 'a'");
    fx_rows("SELECT c FROM t WHERE k = 'a'", "[]");
    fx_rows("SELECT k, c, v FROM t WHERE k = 'b'", "[[\"b\", 1, 100]]");
    /* UPDATE with IN on the partition and clustering keys. */
    fx_ok("UPDATE t SET v = 7 WHERE k IN ('x', 'y') AND c IN (1, 2)");
    fx_rows("SELECT k, c, v FROM t WHERE k IN ('y', 'x')",
            "[[\"x\", 1, 7], [\"x\", 2, 7], [\"y\", 1, 7], [\"y\", 2, 7]]");
    /* Later timestamp wins, an older one does not overwrite. */
    fx_ok("INSERT INTO t (k, c, v) VALUES ('ts', 1, 1) USING TIMESTAMP 1000");
    fx_ok("INSERT INTO t (k, c, v) VALUES ('ts', 1, 2) USING TIMESTAMP 999");
    fx_rows("SELECT v, writetime(v) FROM t WHERE k = 'ts'", "[[1, 1000]]");
    fx_ok("DELETE FROM t USING TIMESTAMP 999 WHERE k = 'ts'");
    fx_rows("SELECT v FROM t WHERE k = 'ts'", "[[1]]");
    fx_ok("DELETE FROM t USING TIMESTAMP 1000 WHERE k = 'ts'");
    fx_rows("SELECT v FROM t WHERE k = 'ts'", "[]");
}

static void test_write_timestamps_increase(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int PRIMARY KEY, v int)");
    fx_now_us = 1700000000000000; /* a frozen clock: still strictly increasing */
    fx_ok("INSERT INTO t (k, v) VALUES (1, 1)");
    fx_ok("INSERT INTO t (k, v) VALUES (1, 2)");
    fx_ok("INSERT INTO t (k, v) VALUES (1, 3)");
    fx_rows("SELECT v, writetime(v) FROM t WHERE k = 1", "[[3, 1700000000000002]]");
    int64_t a = sb_cql_engine_timestamp(fx_eng), b = sb_cql_engine_timestamp(fx_eng);
    assert_true(b > a);
}

static void test_collections(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int PRIMARY KEY, s set<int>, l list<text>, m map<text, int>, "
          "f frozen<list<int>>)");
    fx_ok("INSERT INTO t (k, s, l, m, f) VALUES (1, {3, 1, 2, 1}, ['b', 'c'], {'x': 1, 'y': 2}, "
          "[3, 1])");
    fx_rows("SELECT s, l, m, f FROM t WHERE k = 1",
            "[[[1, 2, 3], [\"b\", \"c\"], {\"x\": 1, \"y\": 2}, [3, 1]]]");
    fx_ok("UPDATE t SET s = s + {-5, 9}, l = l + ['d'], m['z'] = 3 WHERE k = 1");
    fx_ok("UPDATE t SET l = ['a'] + l WHERE k = 1");
    fx_rows("SELECT s, l, m FROM t WHERE k = 1",
            "[[[-5, 1, 2, 3, 9], [\"a\", \"b\", \"c\", \"d\"], {\"x\": 1, \"y\": 2, \"z\": 3}]]");
    fx_ok("UPDATE t SET s = s - {1, 9}, l = l - ['c'], m = m - {'x'} WHERE k = 1");
    fx_rows("SELECT s, l, m FROM t WHERE k = 1",
            "[[[-5, 2, 3], [\"a\", \"b\", \"d\"], {\"y\": 2, \"z\": 3}]]");
    fx_ok("UPDATE t SET l[1] = 'B' WHERE k = 1");
    fx_ok("DELETE l[0], m['y'] FROM t WHERE k = 1");
    fx_rows("SELECT l, m FROM t WHERE k = 1", "[[[\"B\", \"d\"], {\"z\": 3}]]");
    fx_err("UPDATE t SET l[5] = 'x' WHERE k = 1", "Invalid",
           "List index 5 out of bound, list has size 2");
    fx_ok("UPDATE t SET m = {'q': 9} WHERE k = 1"); /* replaces the whole map */
    fx_rows("SELECT m FROM t WHERE k = 1", "[[{\"q\": 9}]]");
    fx_ok("DELETE s FROM t WHERE k = 1");
    fx_rows("SELECT s FROM t WHERE k = 1", "[[null]]");
    fx_err("UPDATE t SET f = f + [1] WHERE k = 1", "Invalid",
           "Invalid operation for frozen collection column f");
    fx_err("INSERT INTO t (k, s) VALUES (2, [1])", "Invalid", "Invalid list literal for s");
}

static void test_ttl_and_default_ttl(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int PRIMARY KEY, v int, w int) WITH default_time_to_live = 100");
    fx_now_us = 1700000000000000;
    fx_ok("INSERT INTO t (k, v) VALUES (1, 1) USING TTL 10");
    fx_ok("INSERT INTO t (k, w) VALUES (2, 2)");
    fx_ok("UPDATE t USING TTL 0 SET w = 3 WHERE k = 1");
    fx_rows("SELECT ttl(v), ttl(w) FROM t WHERE k = 1", "[[10, null]]");
    fx_rows("SELECT ttl(w) FROM t WHERE k = 2", "[[100]]");
    fx_now_us += 4 * 1000000;
    fx_rows("SELECT ttl(v) FROM t WHERE k = 1", "[[6]]");
    fx_now_us += 7 * 1000000; /* v expired; w (no TTL) keeps the row */
    fx_rows("SELECT k, v, w FROM t WHERE k = 1", "[[1, null, 3]]");
    fx_now_us += 100 * 1000000; /* k = 2's marker and cell expired */
    fx_rows("SELECT k FROM t WHERE k = 2", "[]");
    fx_err("INSERT INTO t (k) VALUES (3) USING TTL 700000000", "Invalid", "ttl is too large");
}

static void test_batch_atomic(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))");
    fx_ok("CREATE TABLE u (k int PRIMARY KEY, v text)");
    fx_ok("BEGIN BATCH USING TIMESTAMP 5000\n"
          "  INSERT INTO t (k, c, v) VALUES (1, 1, 1);\n"
          "  INSERT INTO t (k, c, v) VALUES (1, 2, 2);\n"
          "  UPDATE u SET v = 'x' WHERE k = 1;\n"
          "  DELETE FROM t WHERE k = 1 AND c = 2;\n"
          "APPLY BATCH");
    fx_rows("SELECT c, v, writetime(v) FROM t WHERE k = 1", "[[1, 1, 5000]]");
    fx_rows("SELECT v FROM u WHERE k = 1", "[[\"x\"]]");
    /* One bad statement: nothing of the batch is written. */
    fx_err("BEGIN UNLOGGED BATCH\n"
           "  INSERT INTO t (k, c, v) VALUES (2, 1, 1);\n"
           "  INSERT INTO t (k, c, v) VALUES (2, 2, 'no');\n"
           "APPLY BATCH",
           "Invalid", "Invalid STRING constant (no) for \"v\" of type int (line 3:40)");
    fx_rows("SELECT * FROM t WHERE k = 2", "[]");
    fx_err("BEGIN BATCH USING TIMESTAMP 1 INSERT INTO t (k, c) VALUES (3, 1) USING TIMESTAMP 2; "
           "APPLY BATCH",
           "Invalid", "Timestamp must be set either on BATCH or individual statements");
}

static void test_prepared(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (a text, b int, c int, v double, PRIMARY KEY ((a, b), c))");
    const sb_cql_prepared *p;
    char err[SB_ERRMSG_SIZE];
    const char *ins = "INSERT INTO t (c, b, a, v) VALUES (?, ?, :aa, ?) USING TTL ?";
    assert_int_equal(sb_cql_prepare(fx_eng, &fx_sess, ins, strlen(ins), &p, err), 0);
    assert_int_equal(p->nbinds, 5);
    assert_string_equal(p->binds[0].name, "c");
    assert_int_equal(p->binds[0].type.id, SB_TYPE_INT);
    assert_string_equal(p->binds[2].name, "aa");
    assert_int_equal(p->binds[2].type.id, SB_TYPE_TEXT);
    assert_string_equal(p->binds[3].name, "v");
    assert_int_equal(p->binds[3].type.id, SB_TYPE_DOUBLE);
    assert_string_equal(p->binds[4].name, "[ttl]");
    assert_string_equal(p->binds[0].ks, "ks");
    assert_string_equal(p->binds[0].table, "t");
    assert_int_equal(p->npk_binds, 2);
    assert_int_equal(p->pk_binds[0], 2); /* a */
    assert_int_equal(p->pk_binds[1], 1); /* b */
    uint8_t id[16];
    memcpy(id, p->id, 16);

    uint8_t c[4] = {0, 0, 0, 7}, b[4] = {0, 0, 0, 1}, ttl[4] = {0, 0, 0, 50};
    uint8_t v[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}; /* pi */
    sb_value binds[5] = {{c, 4}, {b, 4}, {(const uint8_t *)"x", 1}, {v, 8}, {ttl, 4}};
    fx_wait w = {0};
    assert_int_equal(sb_cql_execute_prepared(fx_eng, &fx_sess, id, 16, binds, 5, NULL, fx_cb, &w),
                     0);
    sb_cql_result *r = fx_wait_for(&w);
    assert_int_equal(r->kind, SB_CQL_RESULT_VOID);
    sb_cql_result_free(r);
    fx_rows("SELECT c, v FROM t WHERE a = 'x' AND b = 1", "[[7, 3.141592653589793]]");

    const char *sel = "SELECT c, v FROM t WHERE a = ? AND b = ? AND c > ? LIMIT ?";
    assert_int_equal(sb_cql_prepare(fx_eng, &fx_sess, sel, strlen(sel), &p, err), 0);
    assert_int_equal(p->is_select, 1);
    assert_int_equal(p->ncols, 2);
    assert_string_equal(p->cols[1].name, "v");
    assert_int_equal(p->cols[1].type.id, SB_TYPE_DOUBLE);
    assert_string_equal(p->binds[3].name, "[limit]");
    assert_int_equal(p->npk_binds, 2);

    /* A bind of the wrong size is rejected, not misread. */
    sb_value bad[5] = {{c, 3}, {b, 4}, {(const uint8_t *)"x", 1}, {v, 8}, {ttl, 4}};
    memset(&w, 0, sizeof w);
    sb_cql_execute_prepared(fx_eng, &fx_sess, id, 16, bad, 5, NULL, fx_cb, &w);
    r = fx_wait_for(&w);
    assert_int_equal(r->kind, SB_CQL_RESULT_ERROR);
    assert_non_null(strstr(r->err.message, "\"c\""));
    sb_cql_result_free(r);
    /* Wrong number of values. */
    memset(&w, 0, sizeof w);
    sb_cql_execute_prepared(fx_eng, &fx_sess, id, 16, binds, 2, NULL, fx_cb, &w);
    r = fx_wait_for(&w);
    assert_non_null(strstr(r->err.message, "There were 5 markers(?) in CQL but 2 bound variables"));
    sb_cql_result_free(r);
    /* Unknown id. */
    uint8_t nope[16] = {1};
    memset(&w, 0, sizeof w);
    sb_cql_execute_prepared(fx_eng, &fx_sess, nope, 16, NULL, 0, NULL, fx_cb, &w);
    r = fx_wait_for(&w);
    assert_int_equal(r->err.code, SB_CQL_ERR_UNPREPARED);
    sb_cql_result_free(r);
    /* Prepare errors come back with a code. */
    assert_int_equal(sb_cql_prepare(fx_eng, &fx_sess, "SELECT x FROM t", 15, &p, err), SB_EINVALID);
    assert_non_null(strstr(err, "Undefined column name x"));
    /* Unset values leave columns alone. */
    sb_value unset[5] = {{c, 4}, {b, 4}, {(const uint8_t *)"x", 1}, {NULL, -2}, {NULL, -2}};
    memset(&w, 0, sizeof w);
    sb_cql_execute_prepared(fx_eng, &fx_sess, id, 16, unset, 5, NULL, fx_cb, &w);
    sb_cql_result_free(fx_wait_for(&w));
    fx_rows("SELECT c, v FROM t WHERE a = 'x' AND b = 1", "[[7, 3.141592653589793]]");
}

static void test_static_columns_and_in_bind(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int, c int, s text static, v int, PRIMARY KEY (k, c))");
    fx_ok("INSERT INTO t (k, c, s, v) VALUES (1, 1, 'x', 1)");
    fx_ok("INSERT INTO t (k, c, v) VALUES (1, 2, 2)");
    fx_rows("SELECT c, s, v FROM t WHERE k = 1", "[[1, \"x\", 1], [2, \"x\", 2]]");
    fx_ok("UPDATE t SET s = 'y' WHERE k = 1");
    fx_rows("SELECT DISTINCT k, s FROM t", "[[1, \"y\"]]");
    /* IN ? takes a list value. */
    uint8_t list[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 9};
    sb_value b[1] = {{list, sizeof list}};
    sb_cql_result *r = fx_exec_opts("SELECT v FROM t WHERE k = 1 AND c IN ?", b, 1, NULL);
    char *got = fx_rows_json(r);
    assert_string_equal(got, "[[2]]");
    free(got);
    sb_cql_result_free(r);
}

static void test_result_json_and_names(void **state)
{
    fx_schema();
    fx_ok("CREATE TABLE t (k int PRIMARY KEY, v text)");
    fx_ok("INSERT INTO t (k, v) VALUES (1, 'a\"b')");
    sb_cql_result *r = fx_exec("SELECT k AS key, v FROM t");
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cql_result_to_json(r, &b), 0);
    assert_string_equal(sb_buf_cstr(&b), "{\"columns\": [\"key\", \"v\"], \"rows\": [[1, "
                                         "\"a\\\"b\"]]}");
    sb_buf_free(&b);
    sb_cql_result_free(r);
    r = fx_exec("SELECT nope FROM t");
    sb_buf_init(&b);
    assert_int_equal(sb_cql_result_to_json(r, &b), 0);
    assert_non_null(strstr(sb_buf_cstr(&b), "{\"error\": {\"code\": \"Invalid\""));
    sb_buf_free(&b);
    sb_cql_result_free(r);
    int cl;
    assert_int_equal(sb_consistency_parse("local_quorum", 12, &cl), 0);
    assert_int_equal(cl, SB_CL_LOCAL_QUORUM);
    assert_string_equal(sb_consistency_name(SB_CL_EACH_QUORUM), "EACH_QUORUM");
    assert_int_equal(sb_consistency_parse("MOST", 4, &cl), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_schema_verbatim_with_defaults, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_ddl_results_and_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_insert_update_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_insert_update_delete_rows, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_timestamps_increase, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_collections, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ttl_and_default_ttl, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_batch_atomic, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prepared, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_static_columns_and_in_bind, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_result_json_and_names, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
