/*
 * Schema statements: USE, CREATE/ALTER/DROP KEYSPACE, CREATE/ALTER/DROP
 * TABLE, TRUNCATE.
 *
 * The executor builds the new sb_keyspace / sb_table and hands it to the
 * store, which persists it before swapping it in (store.h); these calls are
 * synchronous, so DDL completes before sb_cql_execute returns. Options are
 * checked here with Cassandra's messages and kept as given (replication
 * and compaction maps as JSON objects of strings).
 *
 * Column order in a new table: partition key (declared order), clustering
 * key (declared order), static columns by name, regular columns by name,
 * which is also the order of SELECT *.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SB_CQL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

static int schema_change(cx_ctx *c, const char *change, const char *target, const char *ks,
                         const char *name)
{
    sb_cql_result *r = c->res;
    r->kind = SB_CQL_RESULT_SCHEMA_CHANGE;
    r->change_type = change;
    r->target = target;
    r->sc_keyspace = cx_strdup(c->rm, ks);
    r->sc_name = cx_strdup(c->rm, name ? name : "");
    if (!r->sc_keyspace || !r->sc_name)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    return 0;
}

static int already_exists(cx_ctx *c, const sb_cql_pos *pos, const char *ks, const char *table)
{
    if (table)
        cx_err(c, SB_EEXISTS, pos, "Cannot add already existing table \"%s\" to keyspace \"%s\"",
               table, ks);
    else
        cx_err(c, SB_EEXISTS, pos, "Cannot add existing keyspace \"%s\"", ks);
    snprintf(c->res->err.ks, sizeof c->res->err.ks, "%s", ks);
    snprintf(c->res->err.table, sizeof c->res->err.table, "%s", table ? table : "");
    return SB_EEXISTS;
}

int cx_exec_use(cx_ctx *c, const sb_cql_stmt *st)
{
    const char *ks = st->keyspace.name.name;
    if (!sb_schema_keyspace(sb_store_schema(c->e->store), ks))
        return cx_err(c, SB_EINVALID, &st->keyspace.name.pos, "Keyspace '%s' does not exist", ks);
    if (strlen(ks) >= SB_CQL_NAME_SIZE)
        return cx_err(c, SB_EINVALID, &st->keyspace.name.pos, "Keyspace name too long");
    if (c->sess)
        snprintf(c->sess->keyspace, sizeof c->sess->keyspace, "%s", ks);
    c->res->kind = SB_CQL_RESULT_SET_KEYSPACE;
    c->res->keyspace = cx_strdup(c->rm, ks);
    return c->res->keyspace ? 0 : cx_err(c, SB_ENOMEM, NULL, "out of memory");
}

/* ---------------------------------------------------------------- options */

/* The text of a literal option value; NULL (with an error) otherwise. */
static const char *lit_text(cx_ctx *c, const sb_cql_term *t, const char *opt)
{
    if (t->kind != SB_CQL_TERM_LITERAL) {
        cx_err(c, SB_ESYNTAX, &t->pos, "Invalid value for property '%s'", opt);
        return NULL;
    }
    return t->text;
}

/* A map option ({'class': 'X', 'k': 3}) as a JSON object of strings. */
static json_t *map_option(cx_ctx *c, const sb_cql_option *o)
{
    const sb_cql_term *t = o->value;
    if (t->kind != SB_CQL_TERM_MAP) {
        cx_err(c, SB_ESYNTAX, &t->pos, "Invalid value for property '%s': expected a map", o->name);
        return NULL;
    }
    json_t *j = json_object();
    if (!j) {
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    for (int i = 0; i + 1 < t->nelems; i += 2) {
        const char *k = lit_text(c, t->elems[i], o->name);
        const char *v = k ? lit_text(c, t->elems[i + 1], o->name) : NULL;
        if (!v || json_object_set_new(j, k, json_string(v)) != 0) {
            json_decref(j);
            if (v)
                cx_err(c, SB_ESYNTAX, &t->elems[i]->pos, "Invalid value for property '%s'",
                       o->name);
            return NULL;
        }
    }
    return j;
}

static int parse_int_opt(cx_ctx *c, const sb_cql_option *o, int64_t max, int32_t *out)
{
    const char *s = lit_text(c, o->value, o->name);
    if (!s)
        return c->res->err.status;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == 0 || *end || v < 0 || v > max)
        return cx_err(c, SB_ECONFIG, &o->value->pos, "Invalid value '%s' for property '%s'", s,
                      o->name);
    *out = (int32_t)v;
    return 0;
}

static int replication_check(cx_ctx *c, json_t *j, const sb_cql_pos *pos)
{
    const char *cls = json_string_value(json_object_get(j, "class"));
    if (!cls)
        return cx_err(c, SB_ECONFIG, pos, "Missing mandatory replication strategy class");
    const char *p = strrchr(cls, '.');
    const char *base = p ? p + 1 : cls;
    int simple = strcmp(base, "SimpleStrategy") == 0;
    int nts = strcmp(base, "NetworkTopologyStrategy") == 0;
    if (!simple && !nts && strcmp(base, "LocalStrategy") != 0 &&
        strcmp(base, "EverywhereStrategy") != 0)
        return cx_err(c, SB_ECONFIG, pos, "Unable to find replication strategy class '%s'", cls);
    if (simple && !json_object_get(j, "replication_factor"))
        return cx_err(c, SB_ECONFIG, pos,
                      "SimpleStrategy requires a replication_factor strategy option.");
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "class") == 0)
            continue;
        if (simple && strcmp(k, "replication_factor") != 0)
            return cx_err(c, SB_ECONFIG, pos,
                          "Unrecognized strategy option {%s} passed to "
                          "SimpleStrategy for keyspace",
                          k);
        const char *s = json_string_value(v);
        char *end;
        long rf = strtol(s, &end, 10);
        if (!*s || *end)
            return cx_err(c, SB_ECONFIG, pos, "Replication factor must be numeric; found %s", s);
        if (rf < 0)
            return cx_err(c, SB_ECONFIG, pos, "Replication factor must be non-negative; found %s",
                          s);
    }
    return 0;
}

static int keyspace_options(cx_ctx *c, const sb_cql_keyspace_stmt *k, char **repl, int *durable)
{
    for (int i = 0; i < k->noptions; i++) {
        const sb_cql_option *o = k->options[i];
        if (strcmp(o->name, "replication") == 0) {
            json_t *j = map_option(c, o);
            if (!j)
                return c->res->err.status;
            int rc = replication_check(c, j, &o->pos);
            if (rc == 0) {
                free(*repl);
                *repl = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (!*repl)
                    rc = cx_err(c, SB_ENOMEM, NULL, "out of memory");
            }
            json_decref(j);
            if (rc != 0)
                return rc;
        } else if (strcmp(o->name, "durable_writes") == 0) {
            const char *s = lit_text(c, o->value, o->name);
            if (!s)
                return c->res->err.status;
            if (strcasecmp(s, "true") == 0)
                *durable = 1;
            else if (strcasecmp(s, "false") == 0)
                *durable = 0;
            else
                return cx_err(c, SB_ESYNTAX, &o->value->pos,
                              "Invalid boolean value '%s' for property 'durable_writes'", s);
        } else {
            return cx_err(c, SB_ESYNTAX, &o->pos, "Unknown property '%s'", o->name);
        }
    }
    return 0;
}

static int create_keyspace(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_keyspace_stmt *k = &st->keyspace;
    const char *name = k->name.name;
    const sb_schema *s = sb_store_schema(c->e->store);
    if (!valid_name(name))
        return cx_err(c, SB_EINVALID, &k->name.pos,
                      "Keyspace name must not be empty, more than %d characters long, or contain "
                      "non-alphanumeric-underscore characters (got \"%s\")",
                      SB_CQL_NAME_MAX, name);
    char *repl = NULL;
    int durable = 1;
    int rc = keyspace_options(c, k, &repl, &durable);
    if (rc == 0 && !repl)
        rc = cx_err(c, SB_ECONFIG, &st->pos, "Missing mandatory option 'replication'");
    if (rc != 0) {
        free(repl);
        return rc;
    }
    if (sb_schema_keyspace(s, name)) {
        free(repl);
        if (k->if_not_exists)
            return 0;
        return already_exists(c, &k->name.pos, name, NULL);
    }
    sb_keyspace *ks = calloc(1, sizeof *ks);
    if (!ks || !(ks->name = strdup(name))) {
        free(ks);
        free(repl);
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    ks->replication_json = repl;
    ks->durable_writes = durable;
    char msg[SB_ERRMSG_SIZE] = "";
    rc = sb_store_create_keyspace(c->e->store, ks, msg);
    if (rc == SB_EEXISTS)
        return k->if_not_exists ? 0 : already_exists(c, &k->name.pos, name, NULL);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "CREATED", "KEYSPACE", name, NULL);
}

static int alter_keyspace(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_keyspace_stmt *k = &st->keyspace;
    const char *name = k->name.name;
    const sb_keyspace *old = sb_schema_keyspace(sb_store_schema(c->e->store), name);
    if (!old)
        return cx_err(c, SB_EINVALID, &k->name.pos, "Keyspace %s does not exist", name);
    char *repl = old->replication_json ? strdup(old->replication_json) : NULL;
    int durable = old->durable_writes;
    int rc = keyspace_options(c, k, &repl, &durable);
    if (rc != 0) {
        free(repl);
        return rc;
    }
    sb_keyspace *ks = calloc(1, sizeof *ks);
    if (!ks || !(ks->name = strdup(name))) {
        free(ks);
        free(repl);
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    ks->replication_json = repl;
    ks->durable_writes = durable;
    char msg[SB_ERRMSG_SIZE] = "";
    rc = sb_store_alter_keyspace(c->e->store, ks, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "UPDATED", "KEYSPACE", name, NULL);
}

static int drop_keyspace(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_keyspace_stmt *k = &st->keyspace;
    const char *name = k->name.name;
    if (!sb_schema_keyspace(sb_store_schema(c->e->store), name)) {
        if (k->if_exists)
            return 0;
        return cx_err(c, SB_ECONFIG, &k->name.pos, "Cannot drop non existing keyspace '%s'.", name);
    }
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = sb_store_drop_keyspace(c->e->store, name, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "DROPPED", "KEYSPACE", name, NULL);
}

/* ------------------------------------------------------------------ tables */

static int table_options(cx_ctx *c, sb_cql_option **opts, int n, sb_table *t)
{
    static const char *ignored[] = {"bloom_filter_fp_chance",
                                    "caching",
                                    "compression",
                                    "crc_check_chance",
                                    "dclocal_read_repair_chance",
                                    "read_repair_chance",
                                    "memtable_flush_period_in_ms",
                                    "min_index_interval",
                                    "max_index_interval",
                                    "speculative_retry",
                                    "additional_write_policy",
                                    "cdc",
                                    "extensions",
                                    "read_repair",
                                    "id",
                                    NULL};
    for (int i = 0; i < n; i++) {
        const sb_cql_option *o = opts[i];
        int rc = 0;
        if (strcmp(o->name, "compaction") == 0) {
            json_t *j = map_option(c, o);
            if (!j)
                return c->res->err.status;
            const char *cls = json_string_value(json_object_get(j, "class"));
            const char *dot = cls ? strrchr(cls, '.') : NULL;
            const char *base = dot ? dot + 1 : cls;
            if (!cls)
                rc = cx_err(c, SB_ECONFIG, &o->pos,
                            "Missing sub-option 'class' for the 'compaction' option.");
            else if (strcmp(base, "SizeTieredCompactionStrategy") == 0)
                t->compaction = SB_COMPACTION_STCS;
            else if (strcmp(base, "LeveledCompactionStrategy") == 0)
                t->compaction = SB_COMPACTION_LCS;
            else if (strcmp(base, "TimeWindowCompactionStrategy") == 0)
                t->compaction = SB_COMPACTION_TWCS;
            else
                rc = cx_err(c, SB_ECONFIG, &o->pos, "Unable to find compaction strategy class '%s'",
                            cls);
            if (rc == 0) {
                free(t->compaction_json);
                t->compaction_json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (!t->compaction_json)
                    rc = cx_err(c, SB_ENOMEM, NULL, "out of memory");
            }
            json_decref(j);
        } else if (strcmp(o->name, "default_time_to_live") == 0) {
            rc = parse_int_opt(c, o, 630720000, &t->default_ttl_s);
        } else if (strcmp(o->name, "gc_grace_seconds") == 0) {
            rc = parse_int_opt(c, o, INT32_MAX, &t->gc_grace_s);
        } else if (strcmp(o->name, "comment") == 0) {
            const char *s = lit_text(c, o->value, o->name);
            if (!s)
                return c->res->err.status;
            free(t->comment);
            t->comment = strdup(s);
            if (!t->comment)
                rc = cx_err(c, SB_ENOMEM, NULL, "out of memory");
        } else {
            int known = 0;
            for (int k = 0; ignored[k]; k++)
                known |= strcmp(ignored[k], o->name) == 0;
            if (!known)
                rc = cx_err(c, SB_ESYNTAX, &o->pos, "Unknown property '%s'", o->name);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A written type -> sb_type, with Cassandra's complaints. */
static int resolve_type(cx_ctx *c, const sb_cql_type *ct, sb_type *out)
{
    memset(out, 0, sizeof *out);
    if (!ct->id) {
        if (strcmp(ct->name, "counter") == 0 || strcmp(ct->name, "duration") == 0 ||
            strcmp(ct->name, "tuple") == 0)
            return cx_err(c, SB_EUNSUPPORTED, &ct->pos, "Type %s is not supported yet", ct->name);
        return cx_err(c, SB_EINVALID, &ct->pos, "Unknown type %s", ct->name);
    }
    out->id = (uint8_t)ct->id;
    if (ct->id == SB_TYPE_LIST || ct->id == SB_TYPE_SET || ct->id == SB_TYPE_MAP) {
        int want = ct->id == SB_TYPE_MAP ? 2 : 1;
        if (ct->nparams != want)
            return cx_err(c, SB_ESYNTAX, &ct->pos, "Invalid number of type parameters for %s",
                          ct->name);
        for (int i = 0; i < want; i++) {
            const sb_cql_type *p = ct->params[i];
            if (!p->id)
                return resolve_type(c, p, out);
            if (p->nparams > 0)
                return cx_err(c, SB_EUNSUPPORTED, &p->pos,
                              "Nested collections are not supported yet");
            if (i == 0)
                out->a = (uint8_t)p->id;
            else
                out->b = (uint8_t)p->id;
        }
        out->frozen = ct->frozen ? 1 : 0;
    } else if (ct->nparams > 0) {
        return cx_err(c, SB_ESYNTAX, &ct->pos, "Type %s takes no parameters", ct->name);
    }
    return 0;
}

static int col_order(const void *a, const void *b)
{
    const sb_column *x = a, *y = b;
    int kx = x->kind == SB_COL_STATIC ? 0 : 1, ky = y->kind == SB_COL_STATIC ? 0 : 1;
    if (kx != ky)
        return kx - ky;
    return strcmp(x->name, y->name);
}

/* Fills a column from a definition (name, type, static, default). */
static int fill_column(cx_ctx *c, const sb_table *t, const sb_cql_coldef *d, sb_column *col)
{
    int rc = resolve_type(c, d->type, &col->type);
    if (rc != 0)
        return rc;
    col->name = strdup(d->name.name);
    if (!col->name)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (d->default_value) {
        sb_value v;
        c->cur_table = t;
        rc = cx_term_eval(c, d->default_value, col->type, col->name, &v);
        if (rc != 0)
            return rc;
        if (v.len == CQL_UNSET_LEN)
            return cx_err(c, SB_EINVALID, &d->default_value->pos,
                          "Bind variables are not allowed in DEFAULT values");
        if (v.len >= 0) {
            col->default_value = malloc((size_t)v.len + 1);
            if (!col->default_value)
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
            if (v.len)
                memcpy(col->default_value, v.p, (size_t)v.len);
            col->default_len = v.len;
            col->has_default = 1;
        }
    }
    return 0;
}

static const sb_cql_coldef *find_def(const sb_cql_create_table *ct, const char *name)
{
    for (int i = 0; i < ct->ncols; i++)
        if (strcmp(ct->cols[i]->name.name, name) == 0)
            return ct->cols[i];
    return NULL;
}

static int build_table(cx_ctx *c, const sb_cql_create_table *ct, const char *ks, sb_table *t)
{
    /* Primary key: the separate clause or one inline PRIMARY KEY. */
    const sb_cql_ident *pk = ct->pk, *ck = ct->ck;
    int npk = ct->npk, nck = ct->nck, inline_pk = 0;
    sb_cql_ident one;
    for (int i = 0; i < ct->ncols; i++) {
        if (!ct->cols[i]->primary_key)
            continue;
        if (inline_pk || ct->has_pk_clause)
            return cx_err(c, SB_EINVALID, &ct->cols[i]->pos,
                          "Multiple PRIMARY KEYs specified (exactly one required)");
        inline_pk = 1;
        one = ct->cols[i]->name;
        pk = &one;
        npk = 1;
        ck = NULL;
        nck = 0;
    }
    if (!inline_pk && !ct->has_pk_clause)
        return cx_err(c, SB_EINVALID, &ct->table.pos,
                      "No PRIMARY KEY specified (exactly one required)");
    for (int i = 0; i < ct->ncols; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(ct->cols[i]->name.name, ct->cols[j]->name.name) == 0)
                return cx_err(c, SB_EINVALID, &ct->cols[i]->pos,
                              "Multiple definition of identifier %s", ct->cols[i]->name.name);
    t->ncols = 0;
    t->cols = calloc((size_t)ct->ncols + 1, sizeof *t->cols);
    if (!t->cols)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int n = 0;
    for (int k = 0; k < npk + nck; k++) {
        const sb_cql_ident *id = k < npk ? &pk[k] : &ck[k - npk];
        const sb_cql_coldef *d = find_def(ct, id->name);
        if (!d)
            return cx_err(c, SB_EINVALID, &id->pos,
                          "Unknown definition %s referenced in PRIMARY KEY", id->name);
        for (int j = 0; j < k; j++)
            if (strcmp(t->cols[j].name, id->name) == 0)
                return cx_err(c, SB_EINVALID, &id->pos, "Duplicate definition %s in PRIMARY KEY",
                              id->name);
        if (d->is_static)
            return cx_err(c, SB_EINVALID, &d->pos,
                          "Static column %s cannot be part of the PRIMARY KEY", id->name);
        if (d->default_value)
            return cx_err(c, SB_EINVALID, &d->default_value->pos,
                          "DEFAULT is not allowed on PRIMARY KEY column %s", id->name);
        sb_column *col = &t->cols[n++];
        t->ncols = n;
        int rc = fill_column(c, t, d, col);
        if (rc != 0)
            return rc;
        if (sb_type_is_collection(col->type) && !col->type.frozen)
            return cx_err(c, SB_EINVALID, &d->type->pos,
                          "Invalid non-frozen collection type for PRIMARY KEY component %s",
                          id->name);
        col->kind = k < npk ? SB_COL_PARTITION : SB_COL_CLUSTERING;
        col->position = k < npk ? k : k - npk;
    }
    t->npk = npk;
    t->nck = nck;
    int first_other = n;
    for (int i = 0; i < ct->ncols; i++) {
        const sb_cql_coldef *d = ct->cols[i];
        if (sb_table_column(t, d->name.name))
            continue;
        if (d->is_static && nck == 0)
            return cx_err(c, SB_EINVALID, &d->pos,
                          "Static columns are only useful (and thus allowed) if the table has at "
                          "least one clustering column");
        sb_column *col = &t->cols[n++];
        t->ncols = n;
        int rc = fill_column(c, t, d, col);
        if (rc != 0)
            return rc;
        col->kind = d->is_static ? SB_COL_STATIC : SB_COL_REGULAR;
    }
    qsort(t->cols + first_other, (size_t)(n - first_other), sizeof *t->cols, col_order);
    /* WITH CLUSTERING ORDER BY must list clustering columns in order. */
    if (ct->nclustering_order > 0) {
        for (int i = 0; i < ct->nclustering_order; i++) {
            const sb_cql_ordering *o = &ct->clustering_order[i];
            sb_column *col = sb_table_column(t, o->col.name);
            if (!col || col->kind != SB_COL_CLUSTERING)
                return cx_err(c, SB_EINVALID, &o->col.pos,
                              "Only clustering key columns can be defined in CLUSTERING ORDER "
                              "directive");
            if (col->position != i)
                return cx_err(c, SB_EINVALID, &o->col.pos,
                              "The order of columns in the CLUSTERING ORDER directive must be "
                              "the one of the clustering key (%s must appear before %s)",
                              t->cols[npk + i].name, o->col.name);
            col->desc = o->desc;
        }
        if (ct->nclustering_order != nck)
            return cx_err(c, SB_EINVALID, &ct->table.pos, "Missing CLUSTERING ORDER for column %s",
                          t->cols[npk + ct->nclustering_order].name);
    }
    if (ct->compact_storage)
        return cx_err(c, SB_EINVALID, &ct->table.pos, "COMPACT STORAGE tables are not supported");
    (void)ks;
    return table_options(c, ct->options, ct->noptions, t);
}

static int create_table(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_create_table *ct = &st->create_table;
    const char *ks = cx_keyspace_of(c, &ct->table);
    if (!ks)
        return c->res->err.status;
    const sb_schema *s = sb_store_schema(c->e->store);
    if (!sb_schema_keyspace(s, ks))
        return cx_err(c, SB_EINVALID, &ct->table.pos, "Keyspace %s does not exist", ks);
    if (!valid_name(ct->table.name))
        return cx_err(c, SB_EINVALID, &ct->table.pos,
                      "Table name must not be empty, more than %d characters long, or contain "
                      "non-alphanumeric-underscore characters (got \"%s\")",
                      SB_CQL_NAME_MAX, ct->table.name);
    if (sb_schema_table(s, ks, ct->table.name))
        return ct->if_not_exists ? 0 : already_exists(c, &ct->table.pos, ks, ct->table.name);
    sb_table *t = calloc(1, sizeof *t);
    if (!t)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    t->keyspace = strdup(ks);
    t->name = strdup(ct->table.name);
    t->gc_grace_s = 864000;
    t->compaction = SB_COMPACTION_STCS;
    t->compaction_json = strdup("{\"class\":\"SizeTieredCompactionStrategy\"}");
    int rc = 0;
    if (!t->keyspace || !t->name || !t->compaction_json)
        rc = cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (rc == 0)
        rc = build_table(c, ct, ks, t);
    if (rc != 0) {
        sb_table_free(t);
        return rc;
    }
    char msg[SB_ERRMSG_SIZE] = "";
    if (c->e->applying)
        memcpy(t->id, c->e->apply_table_id, 16); /* the same on every node */
    rc = sb_store_create_table(c->e->store, t, msg);
    if (rc == SB_EEXISTS)
        return ct->if_not_exists ? 0 : already_exists(c, &ct->table.pos, ks, ct->table.name);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "CREATED", "TABLE", ks, ct->table.name);
}

static int alter_add(cx_ctx *c, const sb_cql_alter_table *a, sb_table *t)
{
    sb_column *cols = realloc(t->cols, sizeof *cols * (size_t)(t->ncols + a->nadd + 1));
    if (!cols)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    t->cols = cols;
    for (int i = 0; i < a->nadd; i++) {
        const sb_cql_coldef *d = a->add[i];
        if (sb_table_column(t, d->name.name))
            return cx_err(c, SB_EINVALID, &d->pos,
                          "Invalid column name %s because it conflicts with an existing column",
                          d->name.name);
        if (d->is_static && t->nck == 0)
            return cx_err(c, SB_EINVALID, &d->pos,
                          "Static columns are not allowed in COMPACT STORAGE tables or tables "
                          "without clustering columns");
        if (d->primary_key)
            return cx_err(c, SB_EINVALID, &d->pos, "Cannot add a PRIMARY KEY column");
        sb_column *col = &t->cols[t->ncols];
        memset(col, 0, sizeof *col);
        t->ncols++;
        int rc = fill_column(c, t, d, col);
        if (rc != 0)
            return rc;
        col->kind = d->is_static ? SB_COL_STATIC : SB_COL_REGULAR;
    }
    int first = t->npk + t->nck;
    qsort(t->cols + first, (size_t)(t->ncols - first), sizeof *t->cols, col_order);
    return 0;
}

static int alter_drop(cx_ctx *c, const sb_cql_alter_table *a, sb_table *t)
{
    for (int i = 0; i < a->ndrop; i++) {
        sb_column *col = sb_table_column(t, a->drop[i].name);
        if (!col)
            return cx_err(c, SB_EINVALID, &a->drop[i].pos, "Column %s was not found in table %s",
                          a->drop[i].name, t->name);
        if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
            return cx_err(c, SB_EINVALID, &a->drop[i].pos, "Cannot drop PRIMARY KEY part %s",
                          a->drop[i].name);
        free(col->name);
        free(col->default_value);
        int idx = (int)(col - t->cols);
        memmove(col, col + 1, sizeof *col * (size_t)(t->ncols - idx - 1));
        t->ncols--;
    }
    return 0;
}

static int alter_rename(cx_ctx *c, const sb_cql_alter_table *a, sb_table *t)
{
    for (int i = 0; i < a->nrename; i++) {
        const sb_cql_ident *from = &a->rename_from[i], *to = &a->rename_to[i];
        sb_column *col = sb_table_column(t, from->name);
        if (!col)
            return cx_err(c, SB_EINVALID, &from->pos, "Column %s was not found in table %s",
                          from->name, t->name);
        if (col->kind != SB_COL_PARTITION && col->kind != SB_COL_CLUSTERING)
            return cx_err(c, SB_EINVALID, &from->pos, "Cannot rename non PRIMARY KEY column %s",
                          from->name);
        if (sb_table_column(t, to->name))
            return cx_err(c, SB_EINVALID, &to->pos,
                          "Cannot rename column %s to %s in table %s; another column of that "
                          "name already exist",
                          from->name, to->name, t->name);
        char *n = strdup(to->name);
        if (!n)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        free(col->name);
        col->name = n;
    }
    return 0;
}

static int alter_table(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_alter_table *a = &st->alter_table;
    const sb_table *old;
    int rc = cx_resolve_table(c, &a->table, &old);
    if (rc != 0)
        return rc;
    char *ksd = cx_strdup(&c->tmp, old->keyspace), *name = cx_strdup(&c->tmp, old->name);
    sb_table *t = sb_table_clone(old);
    if (!t || !ksd || !name) {
        sb_table_free(t);
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    switch (a->op) {
    case SB_CQL_ALTER_ADD:
        rc = alter_add(c, a, t);
        break;
    case SB_CQL_ALTER_DROP:
        rc = alter_drop(c, a, t);
        break;
    case SB_CQL_ALTER_RENAME:
        rc = alter_rename(c, a, t);
        break;
    case SB_CQL_ALTER_OPTIONS:
        rc = table_options(c, a->options, a->noptions, t);
        break;
    case SB_CQL_ALTER_TYPE:
        rc = cx_err(c, SB_EINVALID, &st->pos, "Altering column types is no longer supported");
        break;
    }
    if (rc != 0) {
        sb_table_free(t);
        return rc;
    }
    char msg[SB_ERRMSG_SIZE] = "";
    rc = sb_store_alter_table(c->e->store, t, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "UPDATED", "TABLE", ksd, name);
}

static int drop_or_truncate(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_table_stmt *ts = &st->table_stmt;
    const char *ks = cx_keyspace_of(c, &ts->table);
    if (!ks)
        return c->res->err.status;
    const sb_schema *s = sb_store_schema(c->e->store);
    if (!sb_schema_keyspace(s, ks))
        return cx_err(c, SB_EINVALID, &ts->table.pos, "Keyspace %s does not exist", ks);
    if (!sb_schema_table(s, ks, ts->table.name)) {
        if (st->kind == SB_CQL_STMT_DROP_TABLE && ts->if_exists)
            return 0;
        if (st->kind == SB_CQL_STMT_DROP_TABLE)
            return cx_err(c, SB_ECONFIG, &ts->table.pos,
                          "Cannot drop non existing table '%s' in keyspace '%s'.", ts->table.name,
                          ks);
        return cx_err(c, SB_EINVALID, &ts->table.pos, "unconfigured table %s", ts->table.name);
    }
    char msg[SB_ERRMSG_SIZE] = "";
    int rc;
    if (st->kind == SB_CQL_STMT_TRUNCATE) {
        rc = sb_store_truncate(c->e->store, ks, ts->table.name, msg);
        if (rc != 0)
            return cx_err_msg(c, rc, &st->pos, msg);
        c->res->kind = SB_CQL_RESULT_VOID;
        return 0;
    }
    /* Copy the names: the table object dies with the drop. */
    char *ksd = cx_strdup(&c->tmp, ks), *name = cx_strdup(&c->tmp, ts->table.name);
    if (!ksd || !name)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    rc = sb_store_drop_table(c->e->store, ksd, name, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, &st->pos, msg);
    return schema_change(c, "DROPPED", "TABLE", ksd, name);
}

int cx_exec_ddl(cx_ctx *c, const sb_cql_stmt *st)
{
    if (st->nbind > 0)
        return cx_err(c, SB_EINVALID, &st->pos, "Bind variables are not allowed in %s statements",
                      sb_cql_stmt_kind_name(st->kind));
    switch (st->kind) {
    case SB_CQL_STMT_CREATE_KEYSPACE:
        return create_keyspace(c, st);
    case SB_CQL_STMT_ALTER_KEYSPACE:
        return alter_keyspace(c, st);
    case SB_CQL_STMT_DROP_KEYSPACE:
        return drop_keyspace(c, st);
    case SB_CQL_STMT_CREATE_TABLE:
        return create_table(c, st);
    case SB_CQL_STMT_ALTER_TABLE:
        return alter_table(c, st);
    case SB_CQL_STMT_DROP_TABLE:
    case SB_CQL_STMT_TRUNCATE:
        return drop_or_truncate(c, st);
    default:
        return cx_err(c, SB_EUNSUPPORTED, &st->pos, "Unsupported statement");
    }
}
