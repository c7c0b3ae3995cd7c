/* CQL parser: every statement form, the seed schema verbatim, errors with
 * positions, identifier folding, and hostile inputs. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/parse.h"
#include "util/err.h"

static sb_cql_stmt *parse_ok(const char *q)
{
    char err[SB_ERRMSG_SIZE];
    sb_cql_stmt *s = NULL;
    int rc = sb_cql_parse(q, strlen(q), &s, err);
    if (rc != 0)
        fail_msg("parse failed (%d): %s\n  in: %s", rc, err, q);
    assert_non_null(s);
    return s;
}

/* Expects a syntax error whose message contains want. */
static void parse_err(const char *q, size_t len, const char *want)
{
    char err[SB_ERRMSG_SIZE];
    sb_cql_stmt *s = (sb_cql_stmt *)1;
    int rc = sb_cql_parse(q, len, &s, err);
    assert_int_equal(rc, SB_ESYNTAX);
    assert_null(s);
    if (!strstr(err, want))
        fail_msg("error message\n  %s\ndoes not contain\n  %s", err, want);
}

static void assert_lit(const sb_cql_term *t, int lit, const char *text)
{
    assert_non_null(t);
    assert_int_equal(t->kind, SB_CQL_TERM_LITERAL);
    assert_int_equal(t->lit, lit);
    assert_string_equal(t->text, text);
    assert_int_equal(t->len, strlen(text));
}

/* ------------------------------------------------------------ seed 001 */

static const char seed_keyspace[] = "CREATE KEYSPACE IF NOT EXISTS sensor_data_schema\n"
                                    "WITH replication = {\n"
                                    "    'class': 'SimpleStrategy',\n"
                                    "    'replication_factor': 3\n"
                                    "};\n";

static const char seed_table[] =
    "CREATE TABLE iot_sensor_metrics (\n"
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
    "  );";

static void test_seed_keyspace(void **state)
{
    sb_cql_stmt *s = parse_ok(seed_keyspace);
    assert_int_equal(s->kind, SB_CQL_STMT_CREATE_KEYSPACE);
    assert_string_equal(s->keyspace.name.name, "sensor_data_schema");
    assert_int_equal(s->keyspace.if_not_exists, 1);
    assert_int_equal(s->keyspace.noptions, 1);
    sb_cql_option *o = s->keyspace.options[0];
    assert_string_equal(o->name, "replication");
    assert_int_equal(o->pos.line, 2);
    assert_int_equal(o->pos.col, 5);
    assert_int_equal(o->value->kind, SB_CQL_TERM_MAP);
    assert_int_equal(o->value->nelems, 4);
    assert_lit(o->value->elems[0], SB_LIT_STRING, "class");
    assert_lit(o->value->elems[1], SB_LIT_STRING, "SimpleStrategy");
    assert_lit(o->value->elems[2], SB_LIT_STRING, "replication_factor");
    assert_lit(o->value->elems[3], SB_LIT_INTEGER, "3");
    /* text excludes the ';' */
    assert_int_equal(s->text_len, strlen(seed_keyspace) - 2);
    assert_memory_equal(s->text, seed_keyspace, s->text_len);
    sb_cql_stmt_free(s);
}

static void test_seed_table(void **state)
{
    sb_cql_stmt *s = parse_ok(seed_table);
    assert_int_equal(s->kind, SB_CQL_STMT_CREATE_TABLE);
    sb_cql_create_table *t = &s->create_table;
    assert_null(t->table.ks);
    assert_string_equal(t->table.name, "iot_sensor_metrics");
    assert_int_equal(t->ncols, 11);
    static const struct {
        const char *name;
        int id;
        int lit;
        const char *def;
    } want[] = {
        {"location", SB_TYPE_TEXT, -1, NULL},
        {"device_type", SB_TYPE_TEXT, -1, NULL},
        {"iot_sensor_id", SB_TYPE_UUID, -1, NULL},
        {"recorded_timestamp", SB_TYPE_TIMESTAMP, -1, NULL},
        {"temperature", SB_TYPE_FLOAT, SB_LIT_FLOAT, "-999.0"},
        {"humidity", SB_TYPE_FLOAT, SB_LIT_FLOAT, "-999.0"},
        {"pressure", SB_TYPE_FLOAT, SB_LIT_FLOAT, "-999.0"},
        {"motion_detected", SB_TYPE_BOOLEAN, SB_LIT_BOOL, "false"},
        {"light_level", SB_TYPE_INT, SB_LIT_INTEGER, "0"},
        {"gas_concentration", SB_TYPE_FLOAT, SB_LIT_FLOAT, "-999.0"},
        {"other_metrics", SB_TYPE_MAP, -1, NULL},
    };
    for (int i = 0; i < 11; i++) {
        sb_cql_coldef *d = t->cols[i];
        assert_string_equal(d->name.name, want[i].name);
        assert_int_equal(d->type->id, want[i].id);
        assert_int_equal(d->name.pos.line, i + 2);
        assert_int_equal(d->name.pos.col, 4);
        if (want[i].def)
            assert_lit(d->default_value, want[i].lit, want[i].def);
        else if (i < 10)
            assert_null(d->default_value);
    }
    sb_cql_coldef *m = t->cols[10];
    assert_string_equal(m->type->name, "map");
    assert_int_equal(m->type->nparams, 2);
    assert_int_equal(m->type->params[0]->id, SB_TYPE_TEXT);
    assert_int_equal(m->type->params[1]->id, SB_TYPE_FLOAT);
    assert_int_equal(m->type->frozen, 0);
    assert_int_equal(m->default_value->kind, SB_CQL_TERM_MAP);
    assert_int_equal(m->default_value->nelems, 0);
    /* position of "-999.0" is that of the minus sign */
    assert_int_equal(t->cols[4]->default_value->pos.line, 6);
    assert_int_equal(t->cols[4]->default_value->pos.col, 30);
    assert_int_equal(t->has_pk_clause, 1);
    assert_int_equal(t->npk, 2);
    assert_string_equal(t->pk[0].name, "location");
    assert_string_equal(t->pk[1].name, "device_type");
    assert_int_equal(t->nck, 2);
    assert_string_equal(t->ck[0].name, "iot_sensor_id");
    assert_string_equal(t->ck[1].name, "recorded_timestamp");
    assert_int_equal(t->noptions, 0);
    assert_int_equal(t->nclustering_order, 0);
    sb_cql_stmt_free(s);
}

static void test_seed_script(void **state)
{
    char script[4096];
    snprintf(script, sizeof(script), "%s\n%s\n", seed_keyspace, seed_table);
    sb_cql_stmt **v;
    int n;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cql_parse_multi(script, strlen(script), &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0]->kind, SB_CQL_STMT_CREATE_KEYSPACE);
    assert_int_equal(v[1]->kind, SB_CQL_STMT_CREATE_TABLE);
    assert_int_equal(v[1]->pos.line, 7);
    assert_int_equal(v[1]->create_table.cols[1]->pos.line, 9);
    for (int i = 0; i < n; i++)
        sb_cql_stmt_free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------ DDL */

static void test_keyspace_stmts(void **state)
{
    sb_cql_stmt *s = parse_ok("create keyspace Ks with replication = {'class': "
                              "'SimpleStrategy', 'replication_factor': 1} and durable_writes = "
                              "true");
    assert_int_equal(s->keyspace.if_not_exists, 0);
    assert_string_equal(s->keyspace.name.name, "ks");
    assert_int_equal(s->keyspace.noptions, 2);
    assert_string_equal(s->keyspace.options[1]->name, "durable_writes");
    assert_lit(s->keyspace.options[1]->value, SB_LIT_BOOL, "true");
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER KEYSPACE ks WITH durable_writes = false;");
    assert_int_equal(s->kind, SB_CQL_STMT_ALTER_KEYSPACE);
    assert_lit(s->keyspace.options[0]->value, SB_LIT_BOOL, "false");
    sb_cql_stmt_free(s);

    s = parse_ok("DROP KEYSPACE IF EXISTS ks");
    assert_int_equal(s->kind, SB_CQL_STMT_DROP_KEYSPACE);
    assert_int_equal(s->keyspace.if_exists, 1);
    sb_cql_stmt_free(s);
    s = parse_ok("DROP KEYSPACE ks");
    assert_int_equal(s->keyspace.if_exists, 0);
    sb_cql_stmt_free(s);

    s = parse_ok("USE \"MyKs\";");
    assert_int_equal(s->kind, SB_CQL_STMT_USE);
    assert_string_equal(s->keyspace.name.name, "MyKs");
    assert_int_equal(s->keyspace.name.pos.col, 4);
    sb_cql_stmt_free(s);
}

static void test_create_table_forms(void **state)
{
    sb_cql_stmt *s = parse_ok(
        "CREATE TABLE IF NOT EXISTS ks.readings (sensor text, day date, ts timestamp, "
        "unit text static, tags set<text>, vals list<int>, m frozen<map<text, frozen<list<int>>>>, "
        "v double, PRIMARY KEY ((sensor, day), ts)) WITH CLUSTERING ORDER BY (ts DESC) AND "
        "compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 160} AND "
        "default_time_to_live = 3600 AND gc_grace_seconds = 10 AND comment = 'it''s' AND "
        "caching = ALL");
    sb_cql_create_table *t = &s->create_table;
    assert_int_equal(t->if_not_exists, 1);
    assert_string_equal(t->table.ks, "ks");
    assert_string_equal(t->table.name, "readings");
    assert_int_equal(t->ncols, 8);
    assert_int_equal(t->cols[3]->is_static, 1);
    assert_int_equal(t->cols[2]->is_static, 0);
    assert_int_equal(t->cols[4]->type->id, SB_TYPE_SET);
    assert_int_equal(t->cols[4]->type->params[0]->id, SB_TYPE_TEXT);
    assert_int_equal(t->cols[5]->type->id, SB_TYPE_LIST);
    sb_cql_type *m = t->cols[6]->type;
    assert_int_equal(m->id, SB_TYPE_MAP);
    assert_int_equal(m->frozen, 1);
    assert_int_equal(m->params[1]->id, SB_TYPE_LIST);
    assert_int_equal(m->params[1]->frozen, 1);
    assert_int_equal(m->params[1]->params[0]->id, SB_TYPE_INT);
    assert_int_equal(t->npk, 2);
    assert_int_equal(t->nck, 1);
    assert_string_equal(t->ck[0].name, "ts");
    assert_int_equal(t->nclustering_order, 1);
    assert_string_equal(t->clustering_order[0].col.name, "ts");
    assert_int_equal(t->clustering_order[0].desc, 1);
    assert_int_equal(t->noptions, 5);
    assert_string_equal(t->options[0]->name, "compaction");
    assert_int_equal(t->options[0]->value->kind, SB_CQL_TERM_MAP);
    assert_lit(t->options[0]->value->elems[1], SB_LIT_STRING, "LeveledCompactionStrategy");
    assert_lit(t->options[1]->value, SB_LIT_INTEGER, "3600");
    assert_string_equal(t->options[2]->name, "gc_grace_seconds");
    assert_lit(t->options[3]->value, SB_LIT_STRING, "it's");
    assert_lit(t->options[4]->value, SB_LIT_STRING, "all");
    sb_cql_stmt_free(s);

    s = parse_ok("CREATE TABLE t (a int, c int, v text, PRIMARY KEY (a, c)) WITH CLUSTERING "
                 "ORDER BY (c ASC)");
    assert_int_equal(s->create_table.npk, 1);
    assert_string_equal(s->create_table.pk[0].name, "a");
    assert_int_equal(s->create_table.nck, 1);
    assert_int_equal(s->create_table.clustering_order[0].desc, 0);
    sb_cql_stmt_free(s);

    s = parse_ok("CREATE TABLE t (a int, v text, PRIMARY KEY (a))");
    assert_int_equal(s->create_table.npk, 1);
    assert_int_equal(s->create_table.nck, 0);
    assert_null(s->create_table.ck);
    sb_cql_stmt_free(s);

    s = parse_ok("CREATE TABLE t (key text PRIMARY KEY, value counter, \"Mixed\" int) WITH "
                 "COMPACT STORAGE");
    assert_int_equal(s->create_table.has_pk_clause, 0);
    assert_int_equal(s->create_table.npk, 1);
    assert_string_equal(s->create_table.pk[0].name, "key");
    assert_int_equal(s->create_table.cols[0]->primary_key, 1);
    assert_string_equal(s->create_table.cols[1]->type->name, "counter");
    assert_int_equal(s->create_table.cols[1]->type->id, 0);
    assert_string_equal(s->create_table.cols[2]->name.name, "Mixed");
    assert_int_equal(s->create_table.compact_storage, 1);
    sb_cql_stmt_free(s);

    /* Type names fold and map: VARCHAR is text, unknown names keep id 0. */
    s = parse_ok("CREATE TABLE t (a VARCHAR PRIMARY KEY, b blobby, c TUPLE<int, text>)");
    assert_int_equal(s->create_table.cols[0]->type->id, SB_TYPE_TEXT);
    assert_string_equal(s->create_table.cols[0]->type->name, "varchar");
    assert_int_equal(s->create_table.cols[1]->type->id, 0);
    assert_string_equal(s->create_table.cols[2]->type->name, "tuple");
    assert_int_equal(s->create_table.cols[2]->type->nparams, 2);
    sb_cql_stmt_free(s);
}

static void test_alter_drop_truncate(void **state)
{
    sb_cql_stmt *s = parse_ok("ALTER TABLE ks.t ADD x int");
    assert_int_equal(s->kind, SB_CQL_STMT_ALTER_TABLE);
    assert_string_equal(s->alter_table.table.ks, "ks");
    assert_int_equal(s->alter_table.op, SB_CQL_ALTER_ADD);
    assert_int_equal(s->alter_table.nadd, 1);
    assert_string_equal(s->alter_table.add[0]->name.name, "x");
    assert_int_equal(s->alter_table.add[0]->type->id, SB_TYPE_INT);
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t ADD (c1 list<text>, c2 float static DEFAULT 1.5)");
    assert_int_equal(s->alter_table.nadd, 2);
    assert_int_equal(s->alter_table.add[1]->is_static, 1);
    assert_lit(s->alter_table.add[1]->default_value, SB_LIT_FLOAT, "1.5");
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t DROP x");
    assert_int_equal(s->alter_table.op, SB_CQL_ALTER_DROP);
    assert_int_equal(s->alter_table.ndrop, 1);
    assert_string_equal(s->alter_table.drop[0].name, "x");
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t DROP (c1, c2)");
    assert_int_equal(s->alter_table.ndrop, 2);
    assert_string_equal(s->alter_table.drop[1].name, "c2");
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t RENAME a TO b AND c TO d");
    assert_int_equal(s->alter_table.op, SB_CQL_ALTER_RENAME);
    assert_int_equal(s->alter_table.nrename, 2);
    assert_string_equal(s->alter_table.rename_from[1].name, "c");
    assert_string_equal(s->alter_table.rename_to[1].name, "d");
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t WITH default_time_to_live = 60 AND comment = 'x'");
    assert_int_equal(s->alter_table.op, SB_CQL_ALTER_OPTIONS);
    assert_int_equal(s->alter_table.noptions, 2);
    sb_cql_stmt_free(s);

    s = parse_ok("ALTER TABLE t ALTER v TYPE blob");
    assert_int_equal(s->alter_table.op, SB_CQL_ALTER_TYPE);
    assert_int_equal(s->alter_table.add[0]->type->id, SB_TYPE_BLOB);
    sb_cql_stmt_free(s);

    s = parse_ok("DROP TABLE IF EXISTS ks.t");
    assert_int_equal(s->kind, SB_CQL_STMT_DROP_TABLE);
    assert_int_equal(s->table_stmt.if_exists, 1);
    assert_string_equal(s->table_stmt.table.ks, "ks");
    sb_cql_stmt_free(s);

    s = parse_ok("TRUNCATE TABLE t");
    assert_int_equal(s->kind, SB_CQL_STMT_TRUNCATE);
    assert_string_equal(s->table_stmt.table.name, "t");
    sb_cql_stmt_free(s);
    s = parse_ok("truncate t;");
    assert_int_equal(s->kind, SB_CQL_STMT_TRUNCATE);
    sb_cql_stmt_free(s);
}

/* ------------------------------------------------------------------ DML */

static void test_insert(void **state)
{
    sb_cql_stmt *s = parse_ok(
        "INSERT INTO ks.t (k, timestamp, v, m, l, b, u, n, f) VALUES ('a''b', "
        "toTimestamp(now()), 42, {'x': 1.5, 'y': -2e3}, [1, 2], 0xCAFE, "
        "123e4567-e89b-12d3-a456-426614174000, null, -NaN) IF NOT EXISTS USING TTL 86400 AND "
        "TIMESTAMP 1700000000000000");
    sb_cql_insert *in = &s->insert;
    assert_string_equal(in->table.ks, "ks");
    assert_int_equal(in->ncols, 9);
    assert_int_equal(in->nvalues, 9);
    assert_string_equal(in->cols[1].name, "timestamp");
    assert_lit(in->values[0], SB_LIT_STRING, "a'b");
    sb_cql_term *f = in->values[1];
    assert_int_equal(f->kind, SB_CQL_TERM_FUNCTION);
    assert_string_equal(f->text, "totimestamp");
    assert_int_equal(f->nelems, 1);
    assert_int_equal(f->elems[0]->kind, SB_CQL_TERM_FUNCTION);
    assert_string_equal(f->elems[0]->text, "now");
    assert_int_equal(f->elems[0]->nelems, 0);
    assert_lit(in->values[2], SB_LIT_INTEGER, "42");
    assert_int_equal(in->values[3]->kind, SB_CQL_TERM_MAP);
    assert_int_equal(in->values[3]->nelems, 4);
    assert_lit(in->values[3]->elems[3], SB_LIT_FLOAT, "-2e3");
    assert_int_equal(in->values[4]->kind, SB_CQL_TERM_LIST);
    assert_lit(in->values[5], SB_LIT_HEX, "0xCAFE");
    assert_lit(in->values[6], SB_LIT_UUID, "123e4567-e89b-12d3-a456-426614174000");
    assert_int_equal(in->values[7]->kind, SB_CQL_TERM_NULL);
    assert_lit(in->values[8], SB_LIT_FLOAT, "-NaN");
    assert_int_equal(in->if_not_exists, 1);
    assert_lit(in->ttl, SB_LIT_INTEGER, "86400");
    assert_lit(in->timestamp, SB_LIT_INTEGER, "1700000000000000");
    sb_cql_stmt_free(s);

    s = parse_ok("INSERT INTO t (a) VALUES (1) USING TIMESTAMP ?");
    assert_null(s->insert.ttl);
    assert_int_equal(s->insert.timestamp->kind, SB_CQL_TERM_BIND);
    assert_int_equal(s->insert.if_not_exists, 0);
    sb_cql_stmt_free(s);

    s = parse_ok("INSERT INTO t JSON '{\"a\": 1}'");
    assert_lit(s->insert.json, SB_LIT_STRING, "{\"a\": 1}");
    assert_int_equal(s->insert.ncols, 0);
    sb_cql_stmt_free(s);
}

static void test_update(void **state)
{
    sb_cql_stmt *s =
        parse_ok("UPDATE t USING TTL 10 AND TIMESTAMP 5 SET a = 1, m['k'] = 'v', s = s + {1, 2}, "
                 "l = l + [3], l = [0] + l, m = m - {'k'}, c = c + 1, d = d - 1 WHERE k = ? AND "
                 "c IN (1, 2) IF a = 1 AND m['k'] != 'x'");
    sb_cql_update *u = &s->update;
    assert_lit(u->ttl, SB_LIT_INTEGER, "10");
    assert_lit(u->timestamp, SB_LIT_INTEGER, "5");
    assert_int_equal(u->nset, 8);
    static const int ops[] = {SB_CQL_ASSIGN_SET, SB_CQL_ASSIGN_ELEM,    SB_CQL_ASSIGN_ADD,
                              SB_CQL_ASSIGN_ADD, SB_CQL_ASSIGN_PREPEND, SB_CQL_ASSIGN_SUB,
                              SB_CQL_ASSIGN_ADD, SB_CQL_ASSIGN_SUB};
    for (int i = 0; i < 8; i++)
        assert_int_equal(u->set[i]->op, ops[i]);
    assert_lit(u->set[1]->key, SB_LIT_STRING, "k");
    assert_lit(u->set[1]->value, SB_LIT_STRING, "v");
    assert_int_equal(u->set[2]->value->kind, SB_CQL_TERM_SET);
    assert_int_equal(u->set[2]->value->nelems, 2);
    assert_int_equal(u->set[4]->value->kind, SB_CQL_TERM_LIST);
    assert_string_equal(u->set[4]->col.name, "l");
    assert_int_equal(u->set[5]->value->kind, SB_CQL_TERM_SET);
    assert_lit(u->set[7]->value, SB_LIT_INTEGER, "1");
    assert_int_equal(u->nwhere, 2);
    assert_int_equal(u->where[0]->value->kind, SB_CQL_TERM_BIND);
    assert_int_equal(u->where[1]->op, SB_CQL_OP_IN);
    assert_int_equal(u->where[1]->value->kind, SB_CQL_TERM_TUPLE);
    assert_int_equal(u->where[1]->value->nelems, 2);
    assert_int_equal(u->if_exists, 0);
    assert_int_equal(u->nconds, 2);
    assert_int_equal(u->conds[1]->op, SB_CQL_OP_NE);
    assert_lit(u->conds[1]->elem_key, SB_LIT_STRING, "k");
    assert_int_equal(s->nbind, 1);
    sb_cql_stmt_free(s);

    s = parse_ok("UPDATE ks.t SET v = 2 WHERE k = 1 IF EXISTS");
    assert_int_equal(s->update.if_exists, 1);
    assert_null(s->update.ttl);
    sb_cql_stmt_free(s);

    parse_err("UPDATE t SET a = b + 1 WHERE k = 1", 34,
              "line 1:17 only expressions of the form X = X + <value> are supported");
    parse_err("UPDATE t SET a = 1 WHERE k = 1 IF token(k) > 1", 46,
              "conditions of IF must name single columns");
}

static void test_delete(void **state)
{
    sb_cql_stmt *s = parse_ok("DELETE a, m['k'], l[0] FROM t USING TIMESTAMP 99 WHERE k = 1 AND "
                              "c >= 2 IF EXISTS");
    sb_cql_delete *d = &s->del;
    assert_int_equal(d->ntargets, 3);
    assert_string_equal(d->targets[0].col.name, "a");
    assert_null(d->targets[0].key);
    assert_lit(d->targets[1].key, SB_LIT_STRING, "k");
    assert_lit(d->targets[2].key, SB_LIT_INTEGER, "0");
    assert_lit(d->timestamp, SB_LIT_INTEGER, "99");
    assert_int_equal(d->nwhere, 2);
    assert_int_equal(d->where[1]->op, SB_CQL_OP_GE);
    assert_int_equal(d->if_exists, 1);
    sb_cql_stmt_free(s);

    s = parse_ok("DELETE FROM t WHERE k = 1 IF v = 3");
    assert_int_equal(s->del.ntargets, 0);
    assert_null(s->del.targets);
    assert_int_equal(s->del.nconds, 1);
    sb_cql_stmt_free(s);
}

static void test_select(void **state)
{
    sb_cql_stmt *s = parse_ok(
        "SELECT DISTINCT a, count(*), count(1), COUNT(v) AS n, min(v), max(v), avg(v), sum(v), "
        "writetime(v), TTL(v) AS t, token(a, b), CAST(v AS text) FROM ks.t WHERE a = :p AND b IN "
        "(1, 2) AND (c1, c2) > (1, ?) AND token(a, b) <= -5 AND c CONTAINS 3 AND m CONTAINS KEY "
        "'x' AND d != 4 AND e < 1 GROUP BY a, b ORDER BY c1 DESC, c2 PER PARTITION LIMIT 2 LIMIT ? "
        "ALLOW FILTERING");
    sb_cql_select *q = &s->select;
    assert_int_equal(q->distinct, 1);
    assert_int_equal(q->star, 0);
    assert_int_equal(q->nsel, 12);
    assert_int_equal(q->sel[0]->kind, SB_CQL_SEL_COLUMN);
    assert_string_equal(q->sel[0]->name, "a");
    assert_int_equal(q->sel[1]->kind, SB_CQL_SEL_FUNCTION);
    assert_string_equal(q->sel[1]->name, "count");
    assert_int_equal(q->sel[1]->star, 1);
    assert_int_equal(q->sel[1]->nargs, 0);
    assert_int_equal(q->sel[2]->nargs, 1);
    assert_int_equal(q->sel[2]->args[0]->kind, SB_CQL_SEL_TERM);
    assert_lit(q->sel[2]->args[0]->term, SB_LIT_INTEGER, "1");
    assert_string_equal(q->sel[3]->name, "count");
    assert_string_equal(q->sel[3]->alias, "n");
    assert_string_equal(q->sel[3]->args[0]->name, "v");
    assert_string_equal(q->sel[8]->name, "writetime");
    assert_string_equal(q->sel[9]->name, "ttl");
    assert_string_equal(q->sel[9]->alias, "t");
    assert_string_equal(q->sel[10]->name, "token");
    assert_int_equal(q->sel[10]->nargs, 2);
    assert_int_equal(q->sel[11]->kind, SB_CQL_SEL_CAST);
    assert_int_equal(q->sel[11]->cast_type->id, SB_TYPE_TEXT);
    assert_string_equal(q->table.ks, "ks");
    assert_int_equal(q->nwhere, 8);
    assert_int_equal(q->where[0]->kind, SB_CQL_REL_COLUMN);
    assert_int_equal(q->where[0]->value->bind_index, 0);
    assert_string_equal(q->where[0]->value->bind_name, "p");
    assert_int_equal(q->where[1]->op, SB_CQL_OP_IN);
    assert_int_equal(q->where[2]->kind, SB_CQL_REL_TUPLE);
    assert_int_equal(q->where[2]->ncols, 2);
    assert_string_equal(q->where[2]->cols[1].name, "c2");
    assert_int_equal(q->where[2]->op, SB_CQL_OP_GT);
    assert_int_equal(q->where[2]->value->kind, SB_CQL_TERM_TUPLE);
    assert_int_equal(q->where[2]->value->elems[1]->bind_index, 1);
    assert_int_equal(q->where[3]->kind, SB_CQL_REL_TOKEN);
    assert_int_equal(q->where[3]->ncols, 2);
    assert_int_equal(q->where[3]->op, SB_CQL_OP_LE);
    assert_lit(q->where[3]->value, SB_LIT_INTEGER, "-5");
    assert_int_equal(q->where[4]->op, SB_CQL_OP_CONTAINS);
    assert_int_equal(q->where[5]->op, SB_CQL_OP_CONTAINS_KEY);
    assert_int_equal(q->where[6]->op, SB_CQL_OP_NE);
    assert_int_equal(q->where[7]->op, SB_CQL_OP_LT);
    assert_int_equal(q->ngroup_by, 2);
    assert_int_equal(q->norder_by, 2);
    assert_int_equal(q->order_by[0].desc, 1);
    assert_int_equal(q->order_by[1].desc, 0);
    assert_lit(q->per_partition_limit, SB_LIT_INTEGER, "2");
    assert_int_equal(q->limit->kind, SB_CQL_TERM_BIND);
    assert_int_equal(q->limit->bind_index, 2);
    assert_int_equal(q->allow_filtering, 1);
    assert_int_equal(s->nbind, 3);
    assert_string_equal(s->bind_names[0], "p");
    assert_null(s->bind_names[1]);
    assert_null(s->bind_names[2]);
    sb_cql_stmt_free(s);

    s = parse_ok("select * from T");
    assert_int_equal(s->select.star, 1);
    assert_int_equal(s->select.nsel, 0);
    assert_string_equal(s->select.table.name, "t");
    assert_null(s->select.limit);
    assert_int_equal(s->select.nwhere, 0);
    sb_cql_stmt_free(s);

    s = parse_ok("SELECT JSON k FROM t WHERE token(k) > token('a') AND (c1, c2) IN ((1, 2), (3, "
                 "4)) LIMIT 10");
    assert_int_equal(s->select.json, 1);
    assert_int_equal(s->select.where[0]->value->kind, SB_CQL_TERM_FUNCTION);
    assert_string_equal(s->select.where[0]->value->text, "token");
    assert_int_equal(s->select.where[1]->kind, SB_CQL_REL_TUPLE);
    assert_int_equal(s->select.where[1]->op, SB_CQL_OP_IN);
    assert_int_equal(s->select.where[1]->value->nelems, 2);
    assert_int_equal(s->select.where[1]->value->elems[1]->kind, SB_CQL_TERM_TUPLE);
    assert_lit(s->select.limit, SB_LIT_INTEGER, "10");
    sb_cql_stmt_free(s);
}

static void test_batch(void **state)
{
    sb_cql_stmt *s = parse_ok("BEGIN UNLOGGED BATCH USING TIMESTAMP 7\n"
                              "  INSERT INTO t (k, v) VALUES (?, ?);\n"
                              "  UPDATE t SET v = :v WHERE k = 2;\n"
                              "  DELETE FROM t WHERE k = ?\n"
                              "APPLY BATCH;");
    assert_int_equal(s->kind, SB_CQL_STMT_BATCH);
    assert_int_equal(s->batch.type, SB_CQL_BATCH_UNLOGGED);
    assert_lit(s->batch.timestamp, SB_LIT_INTEGER, "7");
    assert_int_equal(s->batch.nstmts, 3);
    assert_int_equal(s->batch.stmts[0]->kind, SB_CQL_STMT_INSERT);
    assert_int_equal(s->batch.stmts[1]->kind, SB_CQL_STMT_UPDATE);
    assert_int_equal(s->batch.stmts[2]->kind, SB_CQL_STMT_DELETE);
    assert_string_equal(s->batch.stmts[0]->text, "INSERT INTO t (k, v) VALUES (?, ?)");
    assert_string_equal(s->batch.stmts[2]->text, "DELETE FROM t WHERE k = ?");
    assert_int_equal(s->batch.stmts[1]->pos.line, 3);
    assert_int_equal(s->batch.stmts[1]->pos.col, 2);
    /* markers are numbered across the whole batch */
    assert_int_equal(s->nbind, 4);
    assert_string_equal(s->bind_names[2], "v");
    assert_int_equal(s->batch.stmts[2]->del.where[0]->value->bind_index, 3);
    assert_int_equal(s->batch.stmts[0]->nbind, 0);
    sb_cql_stmt_free(s);

    s = parse_ok("begin counter batch update c set n = n + 1 where k = 1 apply batch");
    assert_int_equal(s->batch.type, SB_CQL_BATCH_COUNTER);
    assert_null(s->batch.timestamp);
    sb_cql_stmt_free(s);

    s = parse_ok("BEGIN BATCH APPLY BATCH");
    assert_int_equal(s->batch.type, SB_CQL_BATCH_LOGGED);
    assert_int_equal(s->batch.nstmts, 0);
    sb_cql_stmt_free(s);

    parse_err("BEGIN BATCH SELECT * FROM t APPLY BATCH", 39,
              "line 1:12 no viable alternative at input 'SELECT'");
}

/* --------------------------------------------------------------- terms */

static void test_literals(void **state)
{
    sb_cql_stmt *s = parse_ok("INSERT INTO t (a) VALUES ('', 'it''s', $$it's $ \"raw\"$$, 0, -0, "
                              "1.5, 1., 2E10, -3.5e-2, NaN, Infinity, -Infinity, TRUE, False, "
                              "0x, [], {}, {1, 2}, (1, 'a'), (1), [[1], [2, [3]]], "
                              "(int) ?, uuid(), currentTimestamp(), "
                              "ABCDEF01-2345-6789-abcd-ef0123456789)");
    sb_cql_term **v = s->insert.values;
    int i = 0;
    assert_lit(v[i++], SB_LIT_STRING, "");
    assert_lit(v[i++], SB_LIT_STRING, "it's");
    assert_lit(v[i++], SB_LIT_STRING, "it's $ \"raw\"");
    assert_lit(v[i++], SB_LIT_INTEGER, "0");
    assert_lit(v[i++], SB_LIT_INTEGER, "-0");
    assert_lit(v[i++], SB_LIT_FLOAT, "1.5");
    assert_lit(v[i++], SB_LIT_FLOAT, "1.");
    assert_lit(v[i++], SB_LIT_FLOAT, "2E10");
    assert_lit(v[i++], SB_LIT_FLOAT, "-3.5e-2");
    assert_lit(v[i++], SB_LIT_FLOAT, "NaN");
    assert_lit(v[i++], SB_LIT_FLOAT, "Infinity");
    assert_lit(v[i++], SB_LIT_FLOAT, "-Infinity");
    assert_lit(v[i++], SB_LIT_BOOL, "true");
    assert_lit(v[i++], SB_LIT_BOOL, "false");
    assert_lit(v[i++], SB_LIT_HEX, "0x");
    assert_int_equal(v[i]->kind, SB_CQL_TERM_LIST);
    assert_int_equal(v[i++]->nelems, 0);
    assert_int_equal(v[i]->kind, SB_CQL_TERM_MAP);
    assert_int_equal(v[i++]->nelems, 0);
    assert_int_equal(v[i]->kind, SB_CQL_TERM_SET);
    assert_int_equal(v[i++]->nelems, 2);
    assert_int_equal(v[i]->kind, SB_CQL_TERM_TUPLE);
    assert_int_equal(v[i++]->nelems, 2);
    assert_int_equal(v[i]->kind, SB_CQL_TERM_TUPLE);
    assert_int_equal(v[i++]->nelems, 1);
    sb_cql_term *nested = v[i++];
    assert_int_equal(nested->elems[1]->elems[1]->kind, SB_CQL_TERM_LIST);
    assert_lit(nested->elems[1]->elems[1]->elems[0], SB_LIT_INTEGER, "3");
    sb_cql_term *hint = v[i++];
    assert_int_equal(hint->kind, SB_CQL_TERM_TYPEHINT);
    assert_int_equal(hint->hint_type->id, SB_TYPE_INT);
    assert_int_equal(hint->elems[0]->kind, SB_CQL_TERM_BIND);
    assert_string_equal(v[i++]->text, "uuid");
    assert_string_equal(v[i++]->text, "currenttimestamp");
    assert_lit(v[i++], SB_LIT_UUID, "ABCDEF01-2345-6789-abcd-ef0123456789");
    assert_int_equal(s->insert.nvalues, i);
    sb_cql_stmt_free(s);
}

static void test_comments_and_positions(void **state)
{
    sb_cql_stmt *s = parse_ok("-- leading comment\n"
                              "SELECT /* inline\n comment */ a // trailing\n"
                              "FROM t WHERE\n"
                              "\tk = 'multi\nline' AND v = 1; -- after");
    assert_int_equal(s->pos.line, 2);
    assert_int_equal(s->pos.col, 0);
    assert_int_equal(s->select.sel[0]->pos.line, 3);
    assert_int_equal(s->select.sel[0]->pos.col, 12);
    assert_int_equal(s->select.table.pos.line, 4);
    assert_int_equal(s->select.table.pos.col, 5);
    assert_int_equal(s->select.where[0]->pos.line, 5);
    assert_int_equal(s->select.where[0]->pos.col, 1);
    assert_lit(s->select.where[0]->value, SB_LIT_STRING, "multi\nline");
    /* after a string with a newline, lines keep counting */
    assert_int_equal(s->select.where[1]->pos.line, 6);
    assert_int_equal(s->select.where[1]->pos.col, 10);
    assert_true(strncmp(s->text, "SELECT /*", 9) == 0);
    assert_int_equal(s->text[s->text_len - 1], '1');
    assert_int_equal(s->text[s->text_len], 0);
    sb_cql_stmt_free(s);
}

static void test_identifiers(void **state)
{
    sb_cql_stmt *s =
        parse_ok("SeLeCt MyCol, \"MyCol\", \"we\"\"ird\", key, ttl, \"select\" "
                 "FROM \"KS\".Tab WHERE timestamp = 1 AND type = 2 AND \"\"\"q\"\"\" = 3");
    sb_cql_select *q = &s->select;
    assert_string_equal(q->sel[0]->name, "mycol");
    assert_string_equal(q->sel[1]->name, "MyCol");
    assert_string_equal(q->sel[2]->name, "we\"ird");
    assert_string_equal(q->sel[3]->name, "key");
    assert_string_equal(q->sel[4]->name, "ttl");
    assert_string_equal(q->sel[5]->name, "select");
    assert_string_equal(q->table.ks, "KS");
    assert_string_equal(q->table.name, "tab");
    assert_string_equal(q->where[0]->cols[0].name, "timestamp");
    assert_string_equal(q->where[1]->cols[0].name, "type");
    assert_string_equal(q->where[2]->cols[0].name, "\"q\"");
    sb_cql_stmt_free(s);

    /* keyword-named columns in DDL and DML */
    s = parse_ok("CREATE TABLE t (key text, timestamp timestamp, ttl int, value text, "
                 "PRIMARY KEY (key, timestamp))");
    assert_string_equal(s->create_table.cols[1]->name.name, "timestamp");
    assert_int_equal(s->create_table.cols[1]->type->id, SB_TYPE_TIMESTAMP);
    assert_string_equal(s->create_table.ck[0].name, "timestamp");
    sb_cql_stmt_free(s);
}

/* -------------------------------------------------------------- errors */

static void test_syntax_errors(void **state)
{
    parse_err("SELECT * FORM t", 15,
              "line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT * [FORM]...)");
    parse_err("SELECT a\nFROM t\nWHER k = 1", 26, "line 3:0 ");
    parse_err("SELECT a\nFROM t\nWHER k = 1", 26, "'WHER'");
    parse_err("INSERT INTO t (a) VALUES (1", 27, "line 1:27 ");
    parse_err("INSERT INTO t (a) VALUES (1", 27, "'<EOF>'");
    parse_err("SELECT * FROM t WHERE a = 'oops", 31, "line 1:26 unterminated string literal");
    parse_err("SELECT * FROM t /* never closed", 31, "line 1:16 unterminated comment");
    parse_err("SELECT * FROM \"t", 16, "line 1:14 unterminated quoted identifier");
    parse_err("SELECT * FROM t WHERE a = $$x", 29, "line 1:26 unterminated $$ string");
    parse_err("SELECT * FROM t WHERE a # 1", 27, "line 1:24 unexpected character '#'");
    parse_err("SELECT * FROM \"\"", 16, "line 1:14 empty quoted identifier");
    parse_err("SELECT * FROM t; SELECT 1 FROM u", 32, "line 1:17 ");
    parse_err("", 0, "line 1:0 ");
    parse_err("  -- nothing\n", 13, "'<EOF>'");
    parse_err("CREATE TABLE t (a int PRIMARY KEY, b int PRIMARY KEY)", 53,
              "line 1:35 multiple PRIMARY KEYs");
    parse_err("CREATE TABLE t (a int, PRIMARY KEY (a), PRIMARY KEY (a))", 56,
              "line 1:40 multiple PRIMARY KEY clauses");
    parse_err("CREATE TABLE t (a map<int> PRIMARY KEY)", 39, "map<> takes 2 types");
    parse_err("INSERT INTO t (a) VALUES (1) USING TTL 1 AND TTL 2", 50, "TTL given twice");
    parse_err("DESCRIBE TABLES", 15, "line 1:0 no viable alternative at input 'DESCRIBE'");
    parse_err("SELECT * FROM t LIMIT -1", 24, "line 1:22 ");
    /* NUL bytes inside the text are errors, not an early end */
    parse_err("SELECT * FROM t\0 junk", 21, "line 1:15 unexpected character '\\x00'");
    /* control bytes are escaped in messages */
    parse_err("SELECT \x01 FROM t", 15, "'\\x01'");

    char err[SB_ERRMSG_SIZE];
    sb_cql_stmt *s;
    assert_int_equal(sb_cql_parse("SELECT * FROM t", (size_t)SB_CQL_MAX_TEXT + 1, &s, err),
                     SB_ETOOBIG);
    assert_null(s);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *b = malloc(hl + ul * n + tl + 1);
    assert_non_null(b);
    memcpy(b, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(b + hl + i * ul, unit, ul);
    memcpy(b + hl + ul * n, tail, tl);
    *len = hl + ul * n + tl;
    b[*len] = 0;
    return b;
}

static void test_hostile_inputs(void **state)
{
    size_t len;
    /* 1 MB of '(' where no statement can start, and where terms nest */
    char *b = repeat("", "(", 1 << 20, "", &len);
    parse_err(b, len, "line 1:0 no viable alternative at input '('");
    free(b);
    b = repeat("SELECT * FROM t WHERE a = ", "(", 1 << 20, "", &len);
    parse_err(b, len, "too deeply nested");
    free(b);

    b = repeat("INSERT INTO t (a) VALUES (", "[", 100000, "", &len);
    parse_err(b, len, "too deeply nested");
    free(b);

    b = repeat("CREATE TABLE t (a ", "frozen<", 10000, "", &len);
    parse_err(b, len, "too deeply nested");
    free(b);

    /* moderate nesting is fine */
    b = repeat("INSERT INTO t (a) VALUES (", "[", 40, "", &len);
    char *full = malloc(len + 64);
    memcpy(full, b, len);
    for (int i = 0; i < 40; i++)
        full[len + i] = ']';
    strcpy(full + len + 40, ")");
    sb_cql_stmt *s = parse_ok(full);
    sb_cql_term *t = s->insert.values[0];
    int depth = 0;
    while (t->kind == SB_CQL_TERM_LIST && t->nelems == 1) {
        t = t->elems[0];
        depth++;
    }
    assert_int_equal(depth, 39);
    sb_cql_stmt_free(s);
    free(full);
    free(b);

    /* a long flat list is not nesting */
    b = repeat("SELECT * FROM t WHERE k IN (0", ", 1", 200000, ")", &len);
    s = parse_ok(b);
    assert_int_equal(s->select.where[0]->value->nelems, 200001);
    sb_cql_stmt_free(s);
    free(b);

    b = repeat("SELECT * FROM t WHERE k = '", "x", 1 << 20, "", &len);
    parse_err(b, len, "line 1:26 unterminated string literal");
    free(b);

    b = repeat("SELECT * FROM t /*", "*", 1 << 20, "", &len);
    parse_err(b, len, "unterminated comment");
    free(b);

    b = repeat("", "\n", 100000, "SELECT * FORM t", &len);
    parse_err(b, len, "line 100001:9 ");
    free(b);

    /* long tokens are cut in messages */
    b = repeat("SELECT * FROM t ", "x", 10000, "", &len);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cql_parse(b, len, &s, err), SB_ESYNTAX);
    assert_true(strlen(err) < 300);
    free(b);

    /* pseudo-random bytes never crash */
    uint32_t x = 12345;
    char junk[256];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 200) + 1;
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            const char *alphabet = "SELECT*FROMWHERE(),;'\"$[]{}:?-.0123456789abcxyz <>=!+/\n";
            junk[i] = alphabet[(x >> 16) % strlen(alphabet)];
        }
        s = NULL;
        int rc = sb_cql_parse(junk, n, &s, err);
        assert_true(rc == 0 || rc == SB_ESYNTAX);
        if (rc == 0)
            sb_cql_stmt_free(s);
        else
            assert_true(strncmp(err, "line ", 5) == 0);
    }
}

/* -------------------------------------------------------------- scripts */

static void test_split_and_multi(void **state)
{
    size_t n;
    const char *t1 = "SELECT ';' FROM t; SELECT 2";
    assert_int_equal(sb_cql_split(t1, strlen(t1), &n), 1);
    assert_int_equal(n, 18);
    const char *t2 = "BEGIN BATCH INSERT INTO t (a) VALUES (1); APPLY BATCH; x";
    assert_int_equal(sb_cql_split(t2, strlen(t2), &n), 1);
    assert_int_equal(n, 54);
    const char *t3 = "SELECT * FROM t WHERE a = 'x;";
    assert_int_equal(sb_cql_split(t3, strlen(t3), &n), 0);
    assert_int_equal(n, strlen(t3));
    const char *t4 = "SELECT 1 -- ; not an end\n FROM t";
    assert_int_equal(sb_cql_split(t4, strlen(t4), &n), 0);

    assert_true(sb_cql_is_blank(" -- c\n /* x */ ; ;", 18));
    assert_false(sb_cql_is_blank(" -- c\n x", 8));
    assert_true(sb_cql_is_blank("", 0));

    const char *script = "USE ks;\n"
                         "-- comment only\n"
                         ";\n"
                         "  SELECT * FROM t; INSERT INTO t (a) VALUES (1)\n";
    sb_cql_stmt **v;
    int cnt;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_cql_parse_multi(script, strlen(script), &v, &cnt, err), 0);
    assert_int_equal(cnt, 3);
    assert_int_equal(v[0]->kind, SB_CQL_STMT_USE);
    assert_int_equal(v[1]->kind, SB_CQL_STMT_SELECT);
    assert_int_equal(v[1]->pos.line, 4);
    assert_int_equal(v[1]->pos.col, 2);
    assert_int_equal(v[2]->pos.line, 4);
    assert_int_equal(v[2]->pos.col, 19);
    assert_string_equal(v[2]->text, "INSERT INTO t (a) VALUES (1)");
    for (int i = 0; i < cnt; i++)
        sb_cql_stmt_free(v[i]);
    free(v);

    const char *bad = "USE ks;\nSELECT * FROM t;\n  SELECT * FORM t;";
    assert_int_equal(sb_cql_parse_multi(bad, strlen(bad), &v, &cnt, err), SB_ESYNTAX);
    assert_null(v);
    assert_int_equal(cnt, 0);
    assert_true(strncmp(err, "line 3:11 mismatched input 'FORM'", 33) == 0);

    assert_int_equal(sb_cql_parse_multi("  ", 2, &v, &cnt, err), 0);
    assert_int_equal(cnt, 0);
    assert_null(v);
}

static void test_names(void **state)
{
    assert_string_equal(sb_cql_stmt_kind_name(SB_CQL_STMT_CREATE_TABLE), "CREATE TABLE");
    assert_string_equal(sb_cql_op_name(SB_CQL_OP_CONTAINS_KEY), "CONTAINS KEY");
    sb_cql_stmt_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_keyspace),
        cmocka_unit_test(test_seed_table),
        cmocka_unit_test(test_seed_script),
        cmocka_unit_test(test_keyspace_stmts),
        cmocka_unit_test(test_create_table_forms),
        cmocka_unit_test(test_alter_drop_truncate),
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_comments_and_positions),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_hostile_inputs),
        cmocka_unit_test(test_split_and_multi),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
