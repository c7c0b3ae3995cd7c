/*
 * Schema objects: lookups, deep copies and their JSON persistence.
 *
 * The JSON format is private to storage and must stay readable by later
 * versions: fields are only ever added, never renamed. Types are stored as
 * their numeric option ids ({"id":33,"a":13,"b":8,"frozen":0}) so that the
 * format does not depend on the CQL type parser. Default values are hex.
 */
#include "storage/schema.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hex.h"

sb_keyspace *sb_schema_keyspace(const sb_schema *s, const char *name)
{
    for (int i = 0; i < s->nks; i++)
        if (strcmp(s->ks[i]->name, name) == 0)
            return s->ks[i];
    return NULL;
}

sb_table *sb_schema_table(const sb_schema *s, const char *ks, const char *name)
{
    sb_keyspace *k = sb_schema_keyspace(s, ks);
    if (!k)
        return NULL;
    for (int i = 0; i < k->ntables; i++)
        if (strcmp(k->tables[i]->name, name) == 0)
            return k->tables[i];
    return NULL;
}

sb_column *sb_table_column(const sb_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

sb_column *sb_table_column_by_id(const sb_table *t, uint16_t id)
{
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].id == id)
            return &t->cols[i];
    return NULL;
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

void sb_table_free(sb_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].default_value);
    }
    free(t->cols);
    free(t->keyspace);
    free(t->name);
    free(t->compaction_json);
    free(t->comment);
    free(t);
}

sb_table *sb_table_clone(const sb_table *t)
{
    sb_table *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    *n = *t;
    n->keyspace = dupstr(t->keyspace);
    n->name = dupstr(t->name);
    n->compaction_json = dupstr(t->compaction_json);
    n->comment = dupstr(t->comment);
    n->cols = t->ncols ? calloc((size_t)t->ncols, sizeof(sb_column)) : NULL;
    int bad = (t->keyspace && !n->keyspace) || (t->name && !n->name) ||
              (t->compaction_json && !n->compaction_json) || (t->comment && !n->comment) ||
              (t->ncols && !n->cols);
    for (int i = 0; !bad && i < t->ncols; i++) {
        n->cols[i] = t->cols[i];
        n->cols[i].name = dupstr(t->cols[i].name);
        n->cols[i].default_value = NULL;
        if (t->cols[i].default_value && t->cols[i].default_len > 0) {
            n->cols[i].default_value = malloc((size_t)t->cols[i].default_len);
            if (n->cols[i].default_value)
                memcpy(n->cols[i].default_value, t->cols[i].default_value,
                       (size_t)t->cols[i].default_len);
            else
                bad = 1;
        }
        if (!n->cols[i].name)
            bad = 1;
    }
    if (bad) {
        if (!n->cols)
            n->ncols = 0;
        sb_table_free(n);
        return NULL;
    }
    return n;
}

void sb_keyspace_free(sb_keyspace *k)
{
    if (!k)
        return;
    for (int i = 0; i < k->ntables; i++)
        sb_table_free(k->tables[i]);
    free(k->tables);
    free(k->name);
    free(k->replication_json);
    free(k);
}

/* --- JSON ---------------------------------------------------------------- */

static const char *kind_names[] = {"partition_key", "clustering", "regular", "static"};
static const char *compaction_names[] = {
    "SizeTieredCompactionStrategy", "LeveledCompactionStrategy", "TimeWindowCompactionStrategy"};

char *sb_table_to_json(const sb_table *t)
{
    char uuid[SB_UUID_STRLEN];
    sb_uuid_format(t->id, uuid);
    json_t *cols = json_array();
    for (int i = 0; i < t->ncols; i++) {
        const sb_column *c = &t->cols[i];
        json_t *jc = json_pack("{s:s, s:{s:i, s:i, s:i, s:i}, s:s, s:i, s:b, s:i}", "name", c->name,
                               "type", "id", c->type.id, "a", c->type.a, "b", c->type.b, "frozen",
                               c->type.frozen, "kind", kind_names[c->kind], "position", c->position,
                               "desc", c->desc, "id", c->id);
        if (jc && c->has_default) {
            size_t n = c->default_len > 0 ? (size_t)c->default_len : 0;
            char *hex = malloc(n * 2 + 1);
            if (hex) {
                sb_hex_encode(hex, c->default_value, n);
                json_object_set_new(jc, "default", json_string(hex));
                free(hex);
            }
        }
        json_array_append_new(cols, jc);
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:i, s:s, s:s*, s:i, s:i, s:s*}", "keyspace",
                          t->keyspace, "name", t->name, "id", uuid, "columns", cols, "next_col_id",
                          t->next_col_id, "compaction", compaction_names[t->compaction],
                          "compaction_json", t->compaction_json, "default_ttl", t->default_ttl_s,
                          "gc_grace", t->gc_grace_s, "comment", t->comment);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int col_from_json(json_t *jc, sb_column *c, char *errmsg)
{
    const char *name = NULL, *kind = NULL;
    int tid = 0, ta = 0, tb = 0, tf = 0, pos = 0, desc = 0, id = 0;
    json_error_t err;
    if (json_unpack_ex(jc, &err, 0, "{s:s, s:{s:i, s:i, s:i, s:i}, s:s, s:i, s:b, s:i}", "name",
                       &name, "type", "id", &tid, "a", &ta, "b", &tb, "frozen", &tf, "kind", &kind,
                       "position", &pos, "desc", &desc, "id", &id))
        return sb_seterr(errmsg, SB_ECORRUPT, "schema column: %s", err.text);
    int k = find_name(kind_names, 4, kind);
    if (k < 0 || id < 0 || id > UINT16_MAX || tid < 0 || tid > 255)
        return sb_seterr(errmsg, SB_ECORRUPT, "schema column '%s': bad kind or id", name);
    c->name = strdup(name);
    c->type = (sb_type){(uint8_t)tid, (uint8_t)ta, (uint8_t)tb, (uint8_t)tf};
    c->kind = (sb_col_kind)k;
    c->position = pos;
    c->desc = desc;
    c->id = (uint16_t)id;
    json_t *def = json_object_get(jc, "default");
    if (def && json_is_string(def)) {
        const char *hex = json_string_value(def);
        size_t n = strlen(hex) / 2;
        c->has_default = 1;
        c->default_len = (int32_t)n;
        c->default_value = n ? malloc(n) : NULL;
        if (c->default_value && sb_hex_decode(c->default_value, hex, 2 * n) != 0)
            return sb_seterr(errmsg, SB_ECORRUPT, "schema column '%s': bad default", name);
        if (n && !c->default_value)
            return SB_ENOMEM;
    }
    return c->name ? 0 : SB_ENOMEM;
}

int sb_table_from_json(const char *json, sb_table **out, char *errmsg)
{
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    if (!j)
        return sb_seterr(errmsg, SB_ECORRUPT, "schema table JSON line %d: %s", err.line, err.text);
    const char *ks = NULL, *name = NULL, *id = NULL, *comp = NULL, *cjson = NULL, *comment = NULL;
    json_t *cols = NULL;
    int next_col = 0, ttl = 0, gc = 0;
    int rv = 0;
    sb_table *t = calloc(1, sizeof(*t));
    if (!t) {
        json_decref(j);
        return SB_ENOMEM;
    }
    if (json_unpack_ex(j, &err, 0, "{s:s, s:s, s:s, s:o, s:i, s:s, s?s, s:i, s:i, s?s}", "keyspace",
                       &ks, "name", &name, "id", &id, "columns", &cols, "next_col_id", &next_col,
                       "compaction", &comp, "compaction_json", &cjson, "default_ttl", &ttl,
                       "gc_grace", &gc, "comment", &comment)) {
        rv = sb_seterr(errmsg, SB_ECORRUPT, "schema table: %s", err.text);
        goto fail;
    }
    t->keyspace = strdup(ks);
    t->name = strdup(name);
    t->compaction_json = cjson ? strdup(cjson) : NULL;
    t->comment = comment ? strdup(comment) : NULL;
    t->next_col_id = (uint16_t)next_col;
    t->default_ttl_s = ttl;
    t->gc_grace_s = gc;
    int c = find_name(compaction_names, 3, comp);
    if (c < 0 || sb_uuid_parse(id, strlen(id), t->id) || !json_is_array(cols)) {
        rv = sb_seterr(errmsg, SB_ECORRUPT, "schema table '%s.%s': bad id or compaction", ks, name);
        goto fail;
    }
    t->compaction = (sb_compaction)c;
    size_t n = json_array_size(cols);
    t->cols = calloc(n ? n : 1, sizeof(sb_column));
    if (!t->cols || !t->keyspace || !t->name) {
        rv = SB_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        t->ncols++;
        rv = col_from_json(json_array_get(cols, i), &t->cols[i], errmsg);
        if (rv)
            goto fail;
        if (t->cols[i].kind == SB_COL_PARTITION)
            t->npk++;
        else if (t->cols[i].kind == SB_COL_CLUSTERING)
            t->nck++;
    }
    json_decref(j);
    *out = t;
    return 0;
fail:
    json_decref(j);
    sb_table_free(t);
    return rv;
}

char *sb_keyspace_to_json(const sb_keyspace *k)
{
    json_t *j = json_pack("{s:s, s:s*, s:b}", "name", k->name, "replication", k->replication_json,
                          "durable_writes", k->durable_writes);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int sb_keyspace_from_json(const char *json, sb_keyspace **out, char *errmsg)
{
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    if (!j)
        return sb_seterr(errmsg, SB_ECORRUPT, "schema keyspace JSON line %d: %s", err.line,
                         err.text);
    const char *name = NULL, *repl = NULL;
    int durable = 1;
    if (json_unpack_ex(j, &err, 0, "{s:s, s?s, s?b}", "name", &name, "replication", &repl,
                       "durable_writes", &durable)) {
        json_decref(j);
        return sb_seterr(errmsg, SB_ECORRUPT, "schema keyspace: %s", err.text);
    }
    sb_keyspace *k = calloc(1, sizeof(*k));
    if (k) {
        k->name = strdup(name);
        k->replication_json = repl ? strdup(repl) : NULL;
        k->durable_writes = durable;
    }
    json_decref(j);
    if (!k || !k->name || (repl && !k->replication_json)) {
        sb_keyspace_free(k);
        return SB_ENOMEM;
    }
    *out = k;
    return 0;
}
