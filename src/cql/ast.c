/*
 * CQL AST: the per-statement arena and the node builders the grammar uses.
 *
 * The arena is a util/arena.h arena; allocations are zeroed and 16-byte
 * aligned, and are never freed one by one. A statement's arena is capped
 * (CQL_ARENA_MAX) so that hostile input cannot make one parse eat
 * unbounded memory: past the cap allocation fails like malloc does and the
 * parse ends with SB_ENOMEM.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cql/grammar.h"
#include "cql/parse_int.h"
#include "util/alloc.h"
#include "util/arena.h"

#define CQL_CHUNK_BYTES (8u << 10)
#define CQL_ARENA_MAX ((size_t)1 << 30)

struct sb_cql_arena {
    sb_arena mem;
};

struct sb_cql_arena *cql_arena_new(void)
{
    struct sb_cql_arena *a = sb_malloc(sizeof *a);
    if (a)
        sb_arena_init(&a->mem, CQL_CHUNK_BYTES, CQL_ARENA_MAX);
    return a;
}

void cql_arena_free(struct sb_cql_arena *a)
{
    if (!a)
        return;
    sb_arena_close(&a->mem);
    free(a);
}

void sb_cql_stmt_free(sb_cql_stmt *stmt)
{
    if (stmt)
        cql_arena_free(stmt->arena);
}

/* ------------------------------------------------------------- helpers */

void *cql_alloc(cql_ctx *c, size_t n)
{
    void *p = sb_arena_calloc(&c->arena->mem, n);
    if (!p)
        longjmp(c->oom, 1);
    return p;
}

char *cql_strndup(cql_ctx *c, const char *s, size_t n)
{
    char *p = cql_alloc(c, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

cql_vec *cql_vec_new(cql_ctx *c, size_t esz)
{
    cql_vec *v = cql_alloc(c, sizeof(*v));
    v->esz = esz;
    return v;
}

void cql_vec_push(cql_ctx *c, cql_vec *v, const void *elem)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void *items = cql_alloc(c, (size_t)cap * v->esz);
        if (v->n)
            memcpy(items, v->items, (size_t)v->n * v->esz);
        v->items = items;
        v->cap = cap;
    }
    memcpy((char *)v->items + (size_t)v->n * v->esz, elem, v->esz);
    v->n++;
}

sb_cql_ident cql_ident(cql_ctx *c, const cql_tok *t)
{
    sb_cql_ident id = {NULL, t->pos};
    if (t->code == TK_QID) {
        /* "..." with "" for a quote: keeps case. */
        char *s = cql_alloc(c, t->len);
        size_t n = 0;
        for (size_t i = 1; i + 1 < t->len; i++) {
            s[n++] = t->s[i];
            if (t->s[i] == '"')
                i++;
        }
        s[n] = 0;
        id.name = s;
    } else {
        char *s = cql_strndup(c, t->s, t->len);
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        id.name = s;
    }
    return id;
}

sb_cql_stmt *cql_stmt_new(cql_ctx *c, sb_cql_stmt_kind kind, sb_cql_pos pos)
{
    sb_cql_stmt *s = cql_alloc(c, sizeof(*s));
    s->kind = kind;
    s->pos = pos;
    return s;
}

sb_cql_term *cql_term_new(cql_ctx *c, sb_cql_term_kind kind, sb_cql_pos pos)
{
    sb_cql_term *t = cql_alloc(c, sizeof(*t));
    t->kind = kind;
    t->pos = pos;
    t->bind_index = -1;
    return t;
}

sb_cql_term *cql_term_literal(cql_ctx *c, const cql_tok *tok, int lit, int negate, sb_cql_pos pos)
{
    sb_cql_term *t = cql_term_new(c, SB_CQL_TERM_LITERAL, pos);
    t->lit = lit;
    if (tok->code == TK_STRING) {
        /* '...' with '' for a quote */
        char *s = cql_alloc(c, tok->len);
        size_t n = 0;
        for (size_t i = 1; i + 1 < tok->len; i++) {
            s[n++] = tok->s[i];
            if (tok->s[i] == '\'')
                i++;
        }
        s[n] = 0;
        t->text = s;
        t->len = n;
    } else if (tok->code == TK_DSTRING) {
        t->text = cql_strndup(c, tok->s + 2, tok->len - 4);
        t->len = tok->len - 4;
    } else if (lit == SB_LIT_BOOL) {
        t->text = tok->code == TK_TRUE ? "true" : "false";
        t->len = strlen(t->text);
    } else {
        char *s = cql_alloc(c, tok->len + 2);
        size_t n = 0;
        if (negate)
            s[n++] = '-';
        memcpy(s + n, tok->s, tok->len);
        n += tok->len;
        s[n] = 0;
        t->text = s;
        t->len = n;
    }
    return t;
}

sb_cql_term *cql_term_bind(cql_ctx *c, sb_cql_pos pos, const char *name)
{
    sb_cql_term *t = cql_term_new(c, SB_CQL_TERM_BIND, pos);
    if (!c->binds)
        c->binds = cql_vec_new(c, sizeof(const char *));
    t->bind_index = c->binds->n;
    t->bind_name = name;
    cql_vec_push(c, c->binds, &name);
    return t;
}

static const struct {
    const char *name;
    int id;
} type_names[] = {
    {"ascii", SB_TYPE_ASCII},     {"bigint", SB_TYPE_BIGINT},     {"blob", SB_TYPE_BLOB},
    {"boolean", SB_TYPE_BOOLEAN}, {"decimal", SB_TYPE_DECIMAL},   {"double", SB_TYPE_DOUBLE},
    {"float", SB_TYPE_FLOAT},     {"int", SB_TYPE_INT},           {"timestamp", SB_TYPE_TIMESTAMP},
    {"uuid", SB_TYPE_UUID},       {"text", SB_TYPE_TEXT},         {"varchar", SB_TYPE_TEXT},
    {"varint", SB_TYPE_VARINT},   {"timeuuid", SB_TYPE_TIMEUUID}, {"inet", SB_TYPE_INET},
    {"date", SB_TYPE_DATE},       {"time", SB_TYPE_TIME},         {"smallint", SB_TYPE_SMALLINT},
    {"tinyint", SB_TYPE_TINYINT}, {"list", SB_TYPE_LIST},         {"map", SB_TYPE_MAP},
    {"set", SB_TYPE_SET},
};

sb_cql_type *cql_type_new(cql_ctx *c, sb_cql_ident name, cql_vec *params)
{
    int nparams = CQL_VEC_N(params);
    if (strcmp(name.name, "frozen") == 0) {
        if (nparams != 1) {
            cql_fail(c, name.pos, "frozen<> takes exactly one type");
            nparams = 0;
        }
        if (nparams == 1) {
            sb_cql_type *inner = ((sb_cql_type **)params->items)[0];
            inner->frozen = 1;
            inner->pos = name.pos;
            return inner;
        }
    }
    sb_cql_type *t = cql_alloc(c, sizeof(*t));
    t->pos = name.pos;
    t->name = name.name;
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type_names[i].name, name.name) == 0)
            t->id = type_names[i].id;
    t->params = CQL_VEC_ITEMS(params);
    t->nparams = nparams;
    int want = t->id == SB_TYPE_MAP ? 2 : (t->id == SB_TYPE_LIST || t->id == SB_TYPE_SET) ? 1 : -1;
    if (want > 0 && nparams != want)
        cql_fail(c, name.pos, "%s<> takes %d type%s", name.name, want, want > 1 ? "s" : "");
    else if (want < 0 && nparams > 0 && strcmp(name.name, "tuple") != 0)
        cql_fail(c, name.pos, "type %s takes no parameters", name.name);
    return t;
}

sb_cql_relation *cql_rel_new(cql_ctx *c, sb_cql_rel_kind kind, sb_cql_pos pos, cql_vec *cols,
                             sb_cql_op op, sb_cql_term *value)
{
    sb_cql_relation *r = cql_alloc(c, sizeof(*r));
    r->kind = kind;
    r->pos = pos;
    r->cols = CQL_VEC_ITEMS(cols);
    r->ncols = CQL_VEC_N(cols);
    r->op = op;
    r->value = value;
    return r;
}

sb_cql_selector *cql_sel_new(cql_ctx *c, sb_cql_sel_kind kind, sb_cql_pos pos)
{
    sb_cql_selector *s = cql_alloc(c, sizeof(*s));
    s->kind = kind;
    s->pos = pos;
    return s;
}

/* --------------------------------------------------------------- names */

const char *sb_cql_stmt_kind_name(sb_cql_stmt_kind kind)
{
    switch (kind) {
    case SB_CQL_STMT_SELECT:
        return "SELECT";
    case SB_CQL_STMT_INSERT:
        return "INSERT";
    case SB_CQL_STMT_UPDATE:
        return "UPDATE";
    case SB_CQL_STMT_DELETE:
        return "DELETE";
    case SB_CQL_STMT_BATCH:
        return "BATCH";
    case SB_CQL_STMT_USE:
        return "USE";
    case SB_CQL_STMT_CREATE_KEYSPACE:
        return "CREATE KEYSPACE";
    case SB_CQL_STMT_ALTER_KEYSPACE:
        return "ALTER KEYSPACE";
    case SB_CQL_STMT_DROP_KEYSPACE:
        return "DROP KEYSPACE";
    case SB_CQL_STMT_CREATE_TABLE:
        return "CREATE TABLE";
    case SB_CQL_STMT_ALTER_TABLE:
        return "ALTER TABLE";
    case SB_CQL_STMT_DROP_TABLE:
        return "DROP TABLE";
    case SB_CQL_STMT_TRUNCATE:
        return "TRUNCATE";
    }
    return "?";
}

const char *sb_cql_op_name(sb_cql_op op)
{
    switch (op) {
    case SB_CQL_OP_EQ:
        return "=";
    case SB_CQL_OP_NE:
        return "!=";
    case SB_CQL_OP_LT:
        return "<";
    case SB_CQL_OP_LE:
        return "<=";
    case SB_CQL_OP_GT:
        return ">";
    case SB_CQL_OP_GE:
        return ">=";
    case SB_CQL_OP_IN:
        return "IN";
    case SB_CQL_OP_CONTAINS:
        return "CONTAINS";
    case SB_CQL_OP_CONTAINS_KEY:
        return "CONTAINS KEY";
    }
    return "?";
}
