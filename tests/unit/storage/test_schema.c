/* Schema objects: lookups, deep copies, JSON persistence format. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "storage/schema.h"
#include "util/err.h"

static sb_table *make_table(void)
{
    sb_table *t = calloc(1, sizeof(*t));
    t->keyspace = strdup("iot");
    t->name = strdup("readings");
    for (int i = 0; i < 16; i++)
        t->id[i] = (uint8_t)(i * 17);
    t->ncols = 4;
    t->cols = calloc(4, sizeof(sb_column));
    const char *names[] = {"sensor", "ts", "tags", "temp"};
    sb_col_kind kinds[] = {SB_COL_PARTITION, SB_COL_CLUSTERING, SB_COL_REGULAR, SB_COL_REGULAR};
    for (int i = 0; i < 4; i++) {
        t->cols[i].name = strdup(names[i]);
        t->cols[i].kind = kinds[i];
        t->cols[i].id = (uint16_t)(i + 1);
    }
    t->cols[0].type.id = SB_TYPE_TEXT;
    t->cols[1].type.id = SB_TYPE_TIMESTAMP;
    t->cols[1].desc = 1;
    t->cols[2].type = (sb_type){SB_TYPE_MAP, SB_TYPE_TEXT, SB_TYPE_TEXT, 0};
    t->cols[3].type.id = SB_TYPE_DOUBLE;
    t->cols[3].has_default = 1;
    t->cols[3].default_len = 8;
    t->cols[3].default_value = calloc(1, 8);
    t->cols[3].default_value[0] = 0x40;
    t->npk = 1;
    t->nck = 1;
    t->next_col_id = 5;
    t->compaction = SB_COMPACTION_TWCS;
    t->compaction_json = strdup("{\"class\":\"TimeWindowCompactionStrategy\"}");
    t->default_ttl_s = 86400;
    t->gc_grace_s = 3600;
    t->comment = strdup("it's \"quoted\"");
    return t;
}

static void test_table_json_roundtrip(void **state)
{
    sb_table *t = make_table();
    char *json = sb_table_to_json(t);
    assert_non_null(json);
    sb_table *u = NULL;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_table_from_json(json, &u, err), 0);
    assert_string_equal(u->keyspace, "iot");
    assert_string_equal(u->name, "readings");
    assert_memory_equal(u->id, t->id, 16);
    assert_int_equal(u->ncols, 4);
    assert_int_equal(u->npk, 1);
    assert_int_equal(u->nck, 1);
    assert_int_equal(u->cols[1].desc, 1);
    assert_int_equal(u->cols[2].type.id, SB_TYPE_MAP);
    assert_int_equal(u->cols[2].type.b, SB_TYPE_TEXT);
    assert_int_equal(u->cols[3].id, 4);
    assert_int_equal(u->cols[3].has_default, 1);
    assert_int_equal(u->cols[3].default_len, 8);
    assert_int_equal(u->cols[3].default_value[0], 0x40);
    assert_int_equal(u->next_col_id, 5);
    assert_int_equal(u->compaction, SB_COMPACTION_TWCS);
    assert_string_equal(u->compaction_json, t->compaction_json);
    assert_int_equal(u->default_ttl_s, 86400);
    assert_int_equal(u->gc_grace_s, 3600);
    assert_string_equal(u->comment, "it's \"quoted\"");
    /* Stable: serialising again gives the same text. */
    char *json2 = sb_table_to_json(u);
    assert_string_equal(json, json2);
    free(json);
    free(json2);
    sb_table_free(u);
    sb_table_free(t);
}

static void test_clone_is_deep(void **state)
{
    sb_table *t = make_table();
    sb_table *c = sb_table_clone(t);
    assert_non_null(c);
    assert_ptr_not_equal(c->cols, t->cols);
    assert_ptr_not_equal(c->cols[0].name, t->cols[0].name);
    assert_ptr_not_equal(c->cols[3].default_value, t->cols[3].default_value);
    sb_table_free(t); /* the clone must not depend on it */
    assert_string_equal(c->cols[2].name, "tags");
    assert_non_null(sb_table_column(c, "temp"));
    assert_null(sb_table_column(c, "TEMP")); /* case-sensitive */
    assert_string_equal(sb_table_column_by_id(c, 2)->name, "ts");
    assert_null(sb_table_column_by_id(c, 99));
    sb_table_free(c);
}

static void test_keyspace_json_and_lookup(void **state)
{
    sb_keyspace *k = calloc(1, sizeof(*k));
    k->name = strdup("iot");
    k->replication_json = strdup("{\"class\":\"SimpleStrategy\",\"replication_factor\":\"3\"}");
    k->durable_writes = 0;
    char *json = sb_keyspace_to_json(k);
    sb_keyspace *k2;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_keyspace_from_json(json, &k2, err), 0);
    assert_string_equal(k2->name, "iot");
    assert_string_equal(k2->replication_json, k->replication_json);
    assert_int_equal(k2->durable_writes, 0);
    free(json);

    k2->tables = calloc(1, sizeof(sb_table *));
    k2->tables[0] = make_table();
    k2->ntables = 1;
    sb_keyspace *list[] = {k, k2};
    sb_schema sc = {.ks = list, .nks = 2};
    assert_ptr_equal(sb_schema_keyspace(&sc, "iot"), k);
    assert_null(sb_schema_keyspace(&sc, "nope"));
    assert_null(sb_schema_table(&sc, "iot", "readings")); /* first match is k */
    sc.ks = &list[1];
    sc.nks = 1;
    assert_ptr_equal(sb_schema_table(&sc, "iot", "readings"), k2->tables[0]);
    assert_null(sb_schema_table(&sc, "iot", "other"));
    sb_keyspace_free(k);
    sb_keyspace_free(k2);
}

static void test_bad_json_is_an_error(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_table *t = NULL;
    sb_keyspace *k = NULL;
    assert_int_equal(sb_table_from_json("{not json", &t, err), SB_ECORRUPT);
    assert_non_null(strstr(err, "JSON"));
    assert_int_equal(sb_table_from_json("{\"keyspace\":\"a\"}", &t, err), SB_ECORRUPT);
    assert_int_equal(sb_table_from_json("{\"keyspace\":\"a\",\"name\":\"b\",\"id\":\"xyz\","
                                        "\"columns\":[],\"next_col_id\":1,\"compaction\":"
                                        "\"LeveledCompactionStrategy\",\"default_ttl\":0,"
                                        "\"gc_grace\":0}",
                                        &t, err),
                     SB_ECORRUPT);
    assert_non_null(strstr(err, "a.b"));
    assert_int_equal(sb_keyspace_from_json("[]", &k, err), SB_ECORRUPT);
    assert_null(t);
    assert_null(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_json_roundtrip),
        cmocka_unit_test(test_clone_is_deep),
        cmocka_unit_test(test_keyspace_json_and_lookup),
        cmocka_unit_test(test_bad_json_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
