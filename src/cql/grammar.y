/*
 * CQL grammar (lemon). Builds the tree of ast.h in the parse arena.
 *
 * NOTES ON THE DESIGN OF THE GRAMMAR
 *
 * - One statement per parse, optionally followed by ';' (parse.c splits
 *   scripts). Error recovery is off: the first syntax error ends the parse.
 * - Keywords that CQL lets users also use as names (key, ttl, timestamp,
 *   count-like words, type names) %fallback to ID, so a column called
 *   `timestamp` or `key` works wherever a name is expected, and so does a
 *   type written as `timestamp` or `counter`.
 * - Quoted identifiers (QID) always fall back to ID; cql_ident() unquotes.
 * - A leading '-' is folded into numeric literals here (the lexer never
 *   makes negative numbers), which keeps `c = c - 1` unambiguous.
 * - Lists are built left-recursively in arena vectors, so the parser stack
 *   grows only with real nesting; %stack_size bounds that nesting.
 * - Bind markers are numbered in reduction order, which for an LR parser is
 *   their order in the text.
 */

%name sb_cqlparse
%token_prefix TK_
%token_type {cql_tok}
%extra_argument {cql_ctx *ctx}
%stack_size 200
%start_symbol input

%include {
#include <assert.h>
#include <string.h>

#include "cql/parse_int.h"
#include "util/err.h"

#define YYNOERRORRECOVERY 1
#define YYMALLOCARGTYPE size_t

/* Helpers that keep actions one-liners. */
static sb_cql_term *mk_coll(cql_ctx *c, sb_cql_term_kind k, sb_cql_pos pos, cql_vec *v)
{
    sb_cql_term *t = cql_term_new(c, k, pos);
    t->elems = CQL_VEC_ITEMS(v);
    t->nelems = CQL_VEC_N(v);
    return t;
}

static cql_vec *vec1(cql_ctx *c, size_t esz, const void *first)
{
    cql_vec *v = cql_vec_new(c, esz);
    cql_vec_push(c, v, first);
    return v;
}

static cql_vec *push(cql_ctx *c, cql_vec *v, const void *elem)
{
    cql_vec_push(c, v, elem);
    return v;
}

typedef struct using_clause {
    sb_cql_term *ttl;
    sb_cql_term *timestamp;
} using_clause;

typedef struct if_clause {
    int exists;
    cql_vec *conds;
} if_clause;

typedef struct col_attrs {
    int is_static;
    int primary_key;
    sb_cql_term *def;
} col_attrs;

/* Accumulates the body of CREATE TABLE ( ... ). */
typedef struct table_body {
    cql_vec *cols;
    int has_pk;
    cql_vec *pk;
    cql_vec *ck;
} table_body;

/* Accumulates CREATE TABLE ... WITH ... */
typedef struct table_with {
    cql_vec *order;
    int compact;
    cql_vec *options;
} table_with;

typedef struct pk_spec {
    cql_vec *pk;
    cql_vec *ck;
} pk_spec;

static void set_where(sb_cql_relation ***out, int *n, cql_vec *v)
{
    *out = CQL_VEC_ITEMS(v);
    *n = CQL_VEC_N(v);
}

static void set_if(cql_ctx *c, if_clause ic, int *exists, sb_cql_relation ***conds, int *n)
{
    *exists = ic.exists;
    set_where(conds, n, ic.conds);
    for (int i = 0; i < *n; i++)
        if ((*conds)[i]->kind != SB_CQL_REL_COLUMN)
            cql_fail(c, (*conds)[i]->pos, "conditions of IF must name single columns");
}

/* One item of CREATE TABLE's body: a column or the PRIMARY KEY clause. */
typedef struct table_def_item {
    sb_cql_coldef *col;
    cql_vec *pk;
    cql_vec *ck;
    sb_cql_pos pos;
} table_def_item;

static void add_table_def(cql_ctx *c, table_body *b, table_def_item d)
{
    if (d.col) {
        cql_vec_push(c, b->cols, &d.col);
        return;
    }
    if (b->has_pk)
        cql_fail(c, d.pos, "multiple PRIMARY KEY clauses");
    b->has_pk = 1;
    b->pk = d.pk;
    b->ck = d.ck;
}

/* PRIMARY KEY (a, b, c): a is the partition key, the rest clustering. */
static pk_spec split_pk(cql_ctx *c, cql_vec *l)
{
    pk_spec r = {cql_vec_new(c, sizeof(sb_cql_ident)), NULL};
    sb_cql_ident *ids = l->items;
    cql_vec_push(c, r.pk, &ids[0]);
    if (l->n > 1) {
        r.ck = cql_vec_new(c, sizeof(sb_cql_ident));
        for (int i = 1; i < l->n; i++)
            cql_vec_push(c, r.ck, &ids[i]);
    }
    return r;
}

/* `col type PRIMARY KEY`: the only partition key column. */
static void inline_pk(cql_ctx *c, sb_cql_create_table *s)
{
    for (int i = 0; i < s->ncols; i++) {
        sb_cql_coldef *d = s->cols[i];
        if (!d->primary_key)
            continue;
        if (s->npk > 0) {
            cql_fail(c, d->pos, "multiple PRIMARY KEYs specified (exactly one required)");
            return;
        }
        s->pk = cql_alloc(c, sizeof(sb_cql_ident));
        s->pk[0] = d->name;
        s->npk = 1;
    }
}

static void alter_add(cql_ctx *c, sb_cql_stmt *r, cql_vec *defs)
{
    r->alter_table.add = defs->items;
    r->alter_table.nadd = defs->n;
    for (int i = 0; i < defs->n; i++) {
        sb_cql_coldef *d = r->alter_table.add[i];
        if (d->primary_key)
            cql_fail(c, d->pos, "cannot add a PRIMARY KEY column");
    }
}

static void alter_rename(cql_ctx *c, sb_cql_stmt *r, cql_vec *pairs)
{
    sb_cql_ident *ids = pairs->items;
    int n = pairs->n / 2;
    r->alter_table.rename_from = cql_alloc(c, (size_t)n * sizeof(sb_cql_ident));
    r->alter_table.rename_to = cql_alloc(c, (size_t)n * sizeof(sb_cql_ident));
    for (int i = 0; i < n; i++) {
        r->alter_table.rename_from[i] = ids[2 * i];
        r->alter_table.rename_to[i] = ids[2 * i + 1];
    }
    r->alter_table.nrename = n;
}

/* Each child's text runs from its first token to the next child (or to
 * APPLY), less trailing blanks and ';'. */
static void batch_texts(cql_ctx *c, sb_cql_stmt *b, sb_cql_pos apply)
{
    for (int i = 0; i < b->batch.nstmts; i++) {
        sb_cql_stmt *s = b->batch.stmts[i];
        size_t from = s->pos.off;
        size_t to = i + 1 < b->batch.nstmts ? b->batch.stmts[i + 1]->pos.off : apply.off;
        while (to > from && (c->buf[to - 1] == ';' || c->buf[to - 1] == ' ' ||
                             c->buf[to - 1] == '\t' || c->buf[to - 1] == '\n' ||
                             c->buf[to - 1] == '\r'))
            to--;
        s->text = cql_strndup(c, c->buf + from, to - from);
        s->text_len = to - from;
    }
}
}

%syntax_error {
    int expected[YYNTOKEN];
    int n = 0;
    YYACTIONTYPE st = yypParser->yytos->stateno;
    (void)yymajor;
    if (st <= YY_MAX_SHIFT) {
        for (int t = 1; t < YYNTOKEN; t++) {
            int i = yy_shift_ofst[st] + t;
            if (i >= 0 && i < YY_ACTTAB_COUNT && yy_lookahead[i] == t &&
                yy_action[i] != YY_ERROR_ACTION)
                expected[n++] = t;
        }
    }
    cql_syntax_error(ctx, &TOKEN, expected, n);
}

%stack_overflow {
    cql_overflow_error(ctx);
}

/* Names that may also be keywords. QID is a "quoted" identifier. */
%fallback ID QID KEY TTL TIMESTAMP EXISTS CLUSTERING STATIC COUNTER DISTINCT JSON AS CAST
    TYPE PER PARTITION GROUP VALUES DEFAULT COMPACT STORAGE FILTERING CONTAINS TOKEN KEYSPACE.

/* ------------------------------------------------------------ top level */

input ::= stmt(S) semi_opt. { ctx->stmt = S; }

semi_opt ::= .
semi_opt ::= SEMI.

%type stmt {sb_cql_stmt *}
stmt(R) ::= select_stmt(S). { R = S; }
stmt(R) ::= dml_stmt(S). { R = S; }
stmt(R) ::= batch_stmt(S). { R = S; }
stmt(R) ::= ddl_stmt(S). { R = S; }

%type dml_stmt {sb_cql_stmt *}
dml_stmt(R) ::= insert_stmt(S). { R = S; }
dml_stmt(R) ::= update_stmt(S). { R = S; }
dml_stmt(R) ::= delete_stmt(S). { R = S; }

/* ---------------------------------------------------------------- names */

%type ident {sb_cql_ident}
ident(R) ::= ID(T). { R = cql_ident(ctx, &T); }

%type qname {sb_cql_qname}
qname(R) ::= ident(A). { R.ks = NULL; R.name = A.name; R.pos = A.pos; }
qname(R) ::= ident(A) DOT ident(B). { R.ks = A.name; R.name = B.name; R.pos = A.pos; }

%type ident_list {cql_vec *}
ident_list(R) ::= ident(A). { R = vec1(ctx, sizeof(sb_cql_ident), &A); }
ident_list(R) ::= ident_list(L) COMMA ident(A). { R = push(ctx, L, &A); }

%type if_not_exists {int}
if_not_exists(R) ::= . { R = 0; }
if_not_exists(R) ::= IF NOT EXISTS. { R = 1; }

%type if_exists {int}
if_exists(R) ::= . { R = 0; }
if_exists(R) ::= IF EXISTS. { R = 1; }

/* ---------------------------------------------------------------- types */

%type type {sb_cql_type *}
type(R) ::= ident(N). { R = cql_type_new(ctx, N, NULL); }
type(R) ::= ident(N) LT type_list(L) GT. { R = cql_type_new(ctx, N, L); }
type(R) ::= SET(S) LT type_list(L) GT. {
    sb_cql_ident n = {"set", S.pos};
    R = cql_type_new(ctx, n, L);
}

%type type_list {cql_vec *}
type_list(R) ::= type(T). { R = vec1(ctx, sizeof(sb_cql_type *), &T); }
type_list(R) ::= type_list(L) COMMA type(T). { R = push(ctx, L, &T); }

/* ---------------------------------------------------------------- terms */

%type literal {sb_cql_term *}
literal(R) ::= STRING(T). { R = cql_term_literal(ctx, &T, SB_LIT_STRING, 0, T.pos); }
literal(R) ::= DSTRING(T). { R = cql_term_literal(ctx, &T, SB_LIT_STRING, 0, T.pos); }
literal(R) ::= INTEGER(T). { R = cql_term_literal(ctx, &T, SB_LIT_INTEGER, 0, T.pos); }
literal(R) ::= FLOAT(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 0, T.pos); }
literal(R) ::= NAN(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 0, T.pos); }
literal(R) ::= INFINITY(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 0, T.pos); }
literal(R) ::= MINUS(M) INTEGER(T). { R = cql_term_literal(ctx, &T, SB_LIT_INTEGER, 1, M.pos); }
literal(R) ::= MINUS(M) FLOAT(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 1, M.pos); }
literal(R) ::= MINUS(M) NAN(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 1, M.pos); }
literal(R) ::= MINUS(M) INFINITY(T). { R = cql_term_literal(ctx, &T, SB_LIT_FLOAT, 1, M.pos); }
literal(R) ::= TRUE(T). { R = cql_term_literal(ctx, &T, SB_LIT_BOOL, 0, T.pos); }
literal(R) ::= FALSE(T). { R = cql_term_literal(ctx, &T, SB_LIT_BOOL, 0, T.pos); }
literal(R) ::= UUID(T). { R = cql_term_literal(ctx, &T, SB_LIT_UUID, 0, T.pos); }
literal(R) ::= HEXNUM(T). { R = cql_term_literal(ctx, &T, SB_LIT_HEX, 0, T.pos); }

%type bind {sb_cql_term *}
bind(R) ::= QMARK(Q). { R = cql_term_bind(ctx, Q.pos, NULL); }
bind(R) ::= COLON(C) ident(N). { R = cql_term_bind(ctx, C.pos, N.name); }

%type term {sb_cql_term *}
term(R) ::= literal(L). { R = L; }
term(R) ::= bind(B). { R = B; }
term(R) ::= NULL(T). { R = cql_term_new(ctx, SB_CQL_TERM_NULL, T.pos); }
term(R) ::= LBRACKET(B) RBRACKET. { R = mk_coll(ctx, SB_CQL_TERM_LIST, B.pos, NULL); }
term(R) ::= LBRACKET(B) term_list(L) RBRACKET. { R = mk_coll(ctx, SB_CQL_TERM_LIST, B.pos, L); }
term(R) ::= LBRACE(B) RBRACE. { R = mk_coll(ctx, SB_CQL_TERM_MAP, B.pos, NULL); }
term(R) ::= LBRACE(B) term_list(L) RBRACE. { R = mk_coll(ctx, SB_CQL_TERM_SET, B.pos, L); }
term(R) ::= LBRACE(B) map_list(L) RBRACE. { R = mk_coll(ctx, SB_CQL_TERM_MAP, B.pos, L); }
term(R) ::= LPAREN(P) term_list(L) RPAREN. { R = mk_coll(ctx, SB_CQL_TERM_TUPLE, P.pos, L); }
term(R) ::= ident(N) LPAREN RPAREN. {
    R = mk_coll(ctx, SB_CQL_TERM_FUNCTION, N.pos, NULL);
    R->text = N.name;
    R->len = strlen(N.name);
}
term(R) ::= ident(N) LPAREN term_list(L) RPAREN. {
    R = mk_coll(ctx, SB_CQL_TERM_FUNCTION, N.pos, L);
    R->text = N.name;
    R->len = strlen(N.name);
}
term(R) ::= LPAREN(P) type(T) RPAREN term(V). {
    R = mk_coll(ctx, SB_CQL_TERM_TYPEHINT, P.pos, vec1(ctx, sizeof(sb_cql_term *), &V));
    R->hint_type = T;
}

%type term_list {cql_vec *}
term_list(R) ::= term(T). { R = vec1(ctx, sizeof(sb_cql_term *), &T); }
term_list(R) ::= term_list(L) COMMA term(T). { R = push(ctx, L, &T); }

%type map_list {cql_vec *}
map_list(R) ::= term(K) COLON term(V). {
    R = vec1(ctx, sizeof(sb_cql_term *), &K);
    push(ctx, R, &V);
}
map_list(R) ::= map_list(L) COMMA term(K) COLON term(V). {
    R = push(ctx, L, &K);
    push(ctx, R, &V);
}

/* -------------------------------------------------------- WITH options */

%type option {sb_cql_option *}
option(R) ::= ident(N) EQ term(V). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = N.pos;
    R->name = N.name;
    R->value = V;
}
option(R) ::= ident(N) EQ ident(V). {
    /* caching = ALL and the like: a bare word is a string. */
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = N.pos;
    R->name = N.name;
    R->value = cql_term_new(ctx, SB_CQL_TERM_LITERAL, V.pos);
    R->value->lit = SB_LIT_STRING;
    R->value->text = V.name;
    R->value->len = strlen(V.name);
}

%type option_list {cql_vec *}
option_list(R) ::= option(O). { R = vec1(ctx, sizeof(sb_cql_option *), &O); }
option_list(R) ::= option_list(L) AND option(O). { R = push(ctx, L, &O); }

/* ---------------------------------------------------------- relations */

%type op {int}
op(R) ::= EQ. { R = SB_CQL_OP_EQ; }
op(R) ::= NE. { R = SB_CQL_OP_NE; }
op(R) ::= LT. { R = SB_CQL_OP_LT; }
op(R) ::= LE. { R = SB_CQL_OP_LE; }
op(R) ::= GT. { R = SB_CQL_OP_GT; }
op(R) ::= GE. { R = SB_CQL_OP_GE; }

%type in_values {sb_cql_term *}
in_values(R) ::= LPAREN(P) RPAREN. { R = mk_coll(ctx, SB_CQL_TERM_TUPLE, P.pos, NULL); }
in_values(R) ::= LPAREN(P) term_list(L) RPAREN. { R = mk_coll(ctx, SB_CQL_TERM_TUPLE, P.pos, L); }
in_values(R) ::= bind(B). { R = B; }

%type relation {sb_cql_relation *}
relation(R) ::= ident(C) op(O) term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_COLUMN, C.pos, vec1(ctx, sizeof(C), &C), O, V);
}
relation(R) ::= ident(C) LBRACKET term(K) RBRACKET op(O) term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_COLUMN, C.pos, vec1(ctx, sizeof(C), &C), O, V);
    R->elem_key = K;
}
relation(R) ::= ident(C) IN in_values(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_COLUMN, C.pos, vec1(ctx, sizeof(C), &C), SB_CQL_OP_IN, V);
}
relation(R) ::= ident(C) CONTAINS term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_COLUMN, C.pos, vec1(ctx, sizeof(C), &C), SB_CQL_OP_CONTAINS,
                    V);
}
relation(R) ::= ident(C) CONTAINS KEY term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_COLUMN, C.pos, vec1(ctx, sizeof(C), &C),
                    SB_CQL_OP_CONTAINS_KEY, V);
}
relation(R) ::= LPAREN(P) ident_list(L) RPAREN op(O) term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_TUPLE, P.pos, L, O, V);
}
relation(R) ::= LPAREN(P) ident_list(L) RPAREN IN in_values(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_TUPLE, P.pos, L, SB_CQL_OP_IN, V);
}
relation(R) ::= TOKEN(T) LPAREN ident_list(L) RPAREN op(O) term(V). {
    R = cql_rel_new(ctx, SB_CQL_REL_TOKEN, T.pos, L, O, V);
}

%type relation_list {cql_vec *}
relation_list(R) ::= relation(X). { R = vec1(ctx, sizeof(sb_cql_relation *), &X); }
relation_list(R) ::= relation_list(L) AND relation(X). { R = push(ctx, L, &X); }

%type where_opt {cql_vec *}
where_opt(R) ::= . { R = NULL; }
where_opt(R) ::= WHERE relation_list(L). { R = L; }

%type if_clause {if_clause}
if_clause(R) ::= . { R.exists = 0; R.conds = NULL; }
if_clause(R) ::= IF EXISTS. { R.exists = 1; R.conds = NULL; }
if_clause(R) ::= IF relation_list(L). { R.exists = 0; R.conds = L; }

/* -------------------------------------------------------------- SELECT */

%type select_stmt {sb_cql_stmt *}
select_stmt(R) ::= SELECT(S) sel_mods(M) selection(X) FROM qname(T) where_opt(W) group_opt(G)
                   order_opt(O) ppl_opt(P) limit_opt(L) allow_opt(A). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_SELECT, S.pos);
    sb_cql_select *s = &R->select;
    s->distinct = M & 1;
    s->json = (M & 2) != 0;
    s->star = X == NULL;
    s->sel = CQL_VEC_ITEMS(X);
    s->nsel = CQL_VEC_N(X);
    s->table = T;
    set_where(&s->where, &s->nwhere, W);
    s->group_by = CQL_VEC_ITEMS(G);
    s->ngroup_by = CQL_VEC_N(G);
    s->order_by = CQL_VEC_ITEMS(O);
    s->norder_by = CQL_VEC_N(O);
    s->per_partition_limit = P;
    s->limit = L;
    s->allow_filtering = A;
}

%type sel_mods {int}
sel_mods(R) ::= . { R = 0; }
sel_mods(R) ::= DISTINCT. { R = 1; }
sel_mods(R) ::= JSON. { R = 2; }
sel_mods(R) ::= JSON DISTINCT. { R = 3; }

/* NULL means '*'. */
%type selection {cql_vec *}
selection(R) ::= STAR. { R = NULL; }
selection(R) ::= selector_list(L). { R = L; }

%type selector_list {cql_vec *}
selector_list(R) ::= selector_as(S). { R = vec1(ctx, sizeof(sb_cql_selector *), &S); }
selector_list(R) ::= selector_list(L) COMMA selector_as(S). { R = push(ctx, L, &S); }

%type selector_as {sb_cql_selector *}
selector_as(R) ::= selector(S). { R = S; }
selector_as(R) ::= selector(S) AS ident(A). { R = S; R->alias = A.name; }

%type selector {sb_cql_selector *}
selector(R) ::= ident(N). {
    R = cql_sel_new(ctx, SB_CQL_SEL_COLUMN, N.pos);
    R->name = N.name;
}
selector(R) ::= ident(N) LPAREN RPAREN. {
    R = cql_sel_new(ctx, SB_CQL_SEL_FUNCTION, N.pos);
    R->name = N.name;
}
selector(R) ::= ident(N) LPAREN STAR RPAREN. {
    R = cql_sel_new(ctx, SB_CQL_SEL_FUNCTION, N.pos);
    R->name = N.name;
    R->star = 1;
}
selector(R) ::= ident(N) LPAREN sel_args(A) RPAREN. {
    R = cql_sel_new(ctx, SB_CQL_SEL_FUNCTION, N.pos);
    R->name = N.name;
    R->args = CQL_VEC_ITEMS(A);
    R->nargs = CQL_VEC_N(A);
}
selector(R) ::= CAST(C) LPAREN selector(S) AS type(T) RPAREN. {
    R = cql_sel_new(ctx, SB_CQL_SEL_CAST, C.pos);
    R->name = "cast";
    R->args = cql_alloc(ctx, sizeof(*R->args));
    R->args[0] = S;
    R->nargs = 1;
    R->cast_type = T;
}
selector(R) ::= literal(L). {
    R = cql_sel_new(ctx, SB_CQL_SEL_TERM, L->pos);
    R->term = L;
}
selector(R) ::= bind(B). {
    R = cql_sel_new(ctx, SB_CQL_SEL_TERM, B->pos);
    R->term = B;
}

%type sel_args {cql_vec *}
sel_args(R) ::= selector(S). { R = vec1(ctx, sizeof(sb_cql_selector *), &S); }
sel_args(R) ::= sel_args(L) COMMA selector(S). { R = push(ctx, L, &S); }

%type group_opt {cql_vec *}
group_opt(R) ::= . { R = NULL; }
group_opt(R) ::= GROUP BY ident_list(L). { R = L; }

%type order_opt {cql_vec *}
order_opt(R) ::= . { R = NULL; }
order_opt(R) ::= ORDER BY ordering_list(L). { R = L; }

%type ordering_list {cql_vec *}
ordering_list(R) ::= ordering(O). { R = vec1(ctx, sizeof(sb_cql_ordering), &O); }
ordering_list(R) ::= ordering_list(L) COMMA ordering(O). { R = push(ctx, L, &O); }

%type ordering {sb_cql_ordering}
ordering(R) ::= ident(C). { R.col = C; R.desc = 0; }
ordering(R) ::= ident(C) ASC. { R.col = C; R.desc = 0; }
ordering(R) ::= ident(C) DESC. { R.col = C; R.desc = 1; }

%type limit_val {sb_cql_term *}
limit_val(R) ::= INTEGER(T). { R = cql_term_literal(ctx, &T, SB_LIT_INTEGER, 0, T.pos); }
limit_val(R) ::= bind(B). { R = B; }

%type ppl_opt {sb_cql_term *}
ppl_opt(R) ::= . { R = NULL; }
ppl_opt(R) ::= PER PARTITION LIMIT limit_val(V). { R = V; }

%type limit_opt {sb_cql_term *}
limit_opt(R) ::= . { R = NULL; }
limit_opt(R) ::= LIMIT limit_val(V). { R = V; }

%type allow_opt {int}
allow_opt(R) ::= . { R = 0; }
allow_opt(R) ::= ALLOW FILTERING. { R = 1; }

/* ----------------------------------------------------------------- DML */

%type using_opt {using_clause}
using_opt(R) ::= . { R.ttl = NULL; R.timestamp = NULL; }
using_opt(R) ::= USING using_list(U). { R = U; }

%type using_list {using_clause}
using_list(R) ::= TTL term(V). { R.ttl = V; R.timestamp = NULL; }
using_list(R) ::= TIMESTAMP term(V). { R.ttl = NULL; R.timestamp = V; }
using_list(R) ::= using_list(U) AND TTL(T) term(V). {
    R = U;
    if (R.ttl)
        cql_fail(ctx, T.pos, "TTL given twice");
    R.ttl = V;
}
using_list(R) ::= using_list(U) AND TIMESTAMP(T) term(V). {
    R = U;
    if (R.timestamp)
        cql_fail(ctx, T.pos, "TIMESTAMP given twice");
    R.timestamp = V;
}

%type insert_stmt {sb_cql_stmt *}
insert_stmt(R) ::= INSERT(I) INTO qname(T) LPAREN ident_list(C) RPAREN
                   VALUES LPAREN term_list(V) RPAREN if_not_exists(E) using_opt(U). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_INSERT, I.pos);
    sb_cql_insert *s = &R->insert;
    s->table = T;
    s->cols = CQL_VEC_ITEMS(C);
    s->ncols = CQL_VEC_N(C);
    s->values = CQL_VEC_ITEMS(V);
    s->nvalues = CQL_VEC_N(V);
    s->if_not_exists = E;
    s->ttl = U.ttl;
    s->timestamp = U.timestamp;
}
insert_stmt(R) ::= INSERT(I) INTO qname(T) JSON term(J) if_not_exists(E) using_opt(U). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_INSERT, I.pos);
    sb_cql_insert *s = &R->insert;
    s->table = T;
    s->json = J;
    s->if_not_exists = E;
    s->ttl = U.ttl;
    s->timestamp = U.timestamp;
}

%type update_stmt {sb_cql_stmt *}
update_stmt(R) ::= UPDATE(K) qname(T) using_opt(U) SET assign_list(A) WHERE relation_list(W)
                   if_clause(I). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_UPDATE, K.pos);
    sb_cql_update *s = &R->update;
    s->table = T;
    s->ttl = U.ttl;
    s->timestamp = U.timestamp;
    s->set = CQL_VEC_ITEMS(A);
    s->nset = CQL_VEC_N(A);
    set_where(&s->where, &s->nwhere, W);
    set_if(ctx, I, &s->if_exists, &s->conds, &s->nconds);
}

%type assign_list {cql_vec *}
assign_list(R) ::= assign(A). { R = vec1(ctx, sizeof(sb_cql_assign *), &A); }
assign_list(R) ::= assign_list(L) COMMA assign(A). { R = push(ctx, L, &A); }

%type assign {sb_cql_assign *}
assign(R) ::= ident(C) EQ term(V). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = C.pos;
    R->col = C;
    R->op = SB_CQL_ASSIGN_SET;
    R->value = V;
}
assign(R) ::= ident(C) LBRACKET term(K) RBRACKET EQ term(V). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = C.pos;
    R->col = C;
    R->op = SB_CQL_ASSIGN_ELEM;
    R->key = K;
    R->value = V;
}
assign(R) ::= ident(C) EQ ident(D) PLUS term(V). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = C.pos;
    R->col = C;
    R->op = SB_CQL_ASSIGN_ADD;
    R->value = V;
    if (strcmp(C.name, D.name) != 0)
        cql_fail(ctx, D.pos, "only expressions of the form X = X + <value> are supported");
}
assign(R) ::= ident(C) EQ ident(D) MINUS term(V). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = C.pos;
    R->col = C;
    R->op = SB_CQL_ASSIGN_SUB;
    R->value = V;
    if (strcmp(C.name, D.name) != 0)
        cql_fail(ctx, D.pos, "only expressions of the form X = X - <value> are supported");
}
assign(R) ::= ident(C) EQ term(V) PLUS ident(D). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = C.pos;
    R->col = C;
    R->op = SB_CQL_ASSIGN_PREPEND;
    R->value = V;
    if (strcmp(C.name, D.name) != 0)
        cql_fail(ctx, D.pos, "only expressions of the form X = <value> + X are supported");
}

%type delete_stmt {sb_cql_stmt *}
delete_stmt(R) ::= DELETE(D) del_targets(X) FROM qname(T) del_using(U) WHERE relation_list(W)
                   if_clause(I). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_DELETE, D.pos);
    sb_cql_delete *s = &R->del;
    s->targets = CQL_VEC_ITEMS(X);
    s->ntargets = CQL_VEC_N(X);
    s->table = T;
    s->timestamp = U;
    set_where(&s->where, &s->nwhere, W);
    set_if(ctx, I, &s->if_exists, &s->conds, &s->nconds);
}

%type del_targets {cql_vec *}
del_targets(R) ::= . { R = NULL; }
del_targets(R) ::= del_target_list(L). { R = L; }

%type del_target_list {cql_vec *}
del_target_list(R) ::= del_target(X). { R = vec1(ctx, sizeof(sb_cql_delete_target), &X); }
del_target_list(R) ::= del_target_list(L) COMMA del_target(X). { R = push(ctx, L, &X); }

%type del_target {sb_cql_delete_target}
del_target(R) ::= ident(C). { R.col = C; R.key = NULL; }
del_target(R) ::= ident(C) LBRACKET term(K) RBRACKET. { R.col = C; R.key = K; }

%type del_using {sb_cql_term *}
del_using(R) ::= . { R = NULL; }
del_using(R) ::= USING TIMESTAMP term(V). { R = V; }

/* --------------------------------------------------------------- BATCH */

%type batch_stmt {sb_cql_stmt *}
batch_stmt(R) ::= BEGIN(B) batch_type(K) BATCH batch_using(U) batch_list(L) APPLY(A) BATCH. {
    R = cql_stmt_new(ctx, SB_CQL_STMT_BATCH, B.pos);
    R->batch.type = K;
    R->batch.timestamp = U;
    R->batch.stmts = CQL_VEC_ITEMS(L);
    R->batch.nstmts = CQL_VEC_N(L);
    batch_texts(ctx, R, A.pos);
}

%type batch_type {int}
batch_type(R) ::= . { R = SB_CQL_BATCH_LOGGED; }
batch_type(R) ::= UNLOGGED. { R = SB_CQL_BATCH_UNLOGGED; }
batch_type(R) ::= COUNTER. { R = SB_CQL_BATCH_COUNTER; }

%type batch_using {sb_cql_term *}
batch_using(R) ::= . { R = NULL; }
batch_using(R) ::= USING TIMESTAMP term(V). { R = V; }

%type batch_list {cql_vec *}
batch_list(R) ::= . { R = cql_vec_new(ctx, sizeof(sb_cql_stmt *)); }
batch_list(R) ::= batch_list(L) dml_stmt(S) semi_opt. { R = push(ctx, L, &S); }

/* ----------------------------------------------------------------- DDL */

%type ddl_stmt {sb_cql_stmt *}
ddl_stmt(R) ::= USE(U) ident(N). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_USE, U.pos);
    R->keyspace.name = N;
}
ddl_stmt(R) ::= CREATE(C) KEYSPACE if_not_exists(E) ident(N) WITH option_list(O). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_CREATE_KEYSPACE, C.pos);
    R->keyspace.name = N;
    R->keyspace.if_not_exists = E;
    R->keyspace.options = CQL_VEC_ITEMS(O);
    R->keyspace.noptions = CQL_VEC_N(O);
}
ddl_stmt(R) ::= ALTER(C) KEYSPACE ident(N) WITH option_list(O). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_KEYSPACE, C.pos);
    R->keyspace.name = N;
    R->keyspace.options = CQL_VEC_ITEMS(O);
    R->keyspace.noptions = CQL_VEC_N(O);
}
ddl_stmt(R) ::= DROP(C) KEYSPACE if_exists(E) ident(N). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_DROP_KEYSPACE, C.pos);
    R->keyspace.name = N;
    R->keyspace.if_exists = E;
}
ddl_stmt(R) ::= CREATE(C) TABLE if_not_exists(E) qname(T) LPAREN table_body(B) RPAREN
                table_with_opt(W). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_CREATE_TABLE, C.pos);
    sb_cql_create_table *s = &R->create_table;
    s->table = T;
    s->if_not_exists = E;
    s->cols = CQL_VEC_ITEMS(B.cols);
    s->ncols = CQL_VEC_N(B.cols);
    s->has_pk_clause = B.has_pk;
    s->pk = CQL_VEC_ITEMS(B.pk);
    s->npk = CQL_VEC_N(B.pk);
    s->ck = CQL_VEC_ITEMS(B.ck);
    s->nck = CQL_VEC_N(B.ck);
    s->clustering_order = CQL_VEC_ITEMS(W.order);
    s->nclustering_order = CQL_VEC_N(W.order);
    s->compact_storage = W.compact;
    s->options = CQL_VEC_ITEMS(W.options);
    s->noptions = CQL_VEC_N(W.options);
    inline_pk(ctx, s);
}
ddl_stmt(R) ::= ALTER(C) TABLE qname(T) alter_op(A). {
    R = A;
    R->pos = C.pos;
    R->alter_table.table = T;
}
ddl_stmt(R) ::= DROP(C) TABLE if_exists(E) qname(T). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_DROP_TABLE, C.pos);
    R->table_stmt.table = T;
    R->table_stmt.if_exists = E;
}
ddl_stmt(R) ::= TRUNCATE(C) table_opt qname(T). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_TRUNCATE, C.pos);
    R->table_stmt.table = T;
}

table_opt ::= .
table_opt ::= TABLE.

%type table_body {table_body}
table_body(R) ::= table_def(D). {
    memset(&R, 0, sizeof(R));
    R.cols = cql_vec_new(ctx, sizeof(sb_cql_coldef *));
    add_table_def(ctx, &R, D);
}
table_body(R) ::= table_body(B) COMMA table_def(D). {
    R = B;
    add_table_def(ctx, &R, D);
}

%type table_def {table_def_item}
table_def(R) ::= coldef(C). { memset(&R, 0, sizeof(R)); R.col = C; R.pos = C->pos; }
table_def(R) ::= PRIMARY(P) KEY LPAREN pk_spec(S) RPAREN. {
    memset(&R, 0, sizeof(R));
    R.pk = S.pk;
    R.ck = S.ck;
    R.pos = P.pos;
}

%type pk_spec {pk_spec}
pk_spec(R) ::= ident_list(L). { R = split_pk(ctx, L); }
pk_spec(R) ::= LPAREN ident_list(P) RPAREN. { R.pk = P; R.ck = NULL; }
pk_spec(R) ::= LPAREN ident_list(P) RPAREN COMMA ident_list(C). { R.pk = P; R.ck = C; }

%type coldef {sb_cql_coldef *}
coldef(R) ::= ident(N) type(T) col_attrs(A). {
    R = cql_alloc(ctx, sizeof(*R));
    R->pos = N.pos;
    R->name = N;
    R->type = T;
    R->is_static = A.is_static;
    R->primary_key = A.primary_key;
    R->default_value = A.def;
}

%type col_attrs {col_attrs}
col_attrs(R) ::= . { R.is_static = 0; R.primary_key = 0; R.def = NULL; }
col_attrs(R) ::= col_attrs(A) STATIC. { R = A; R.is_static = 1; }
col_attrs(R) ::= col_attrs(A) PRIMARY KEY. { R = A; R.primary_key = 1; }
col_attrs(R) ::= col_attrs(A) DEFAULT(D) term(V). {
    R = A;
    if (R.def)
        cql_fail(ctx, D.pos, "DEFAULT given twice");
    R.def = V;
}

%type table_with_opt {table_with}
table_with_opt(R) ::= . { memset(&R, 0, sizeof(R)); }
table_with_opt(R) ::= WITH table_with_list(L). { R = L; }

%type table_with_list {table_with}
table_with_list(R) ::= table_with_item(I). { R = I; }
table_with_list(R) ::= table_with_list(L) AND table_with_item(I). {
    R = L;
    if (I.order) {
        if (R.order)
            cql_fail(ctx, ((sb_cql_ordering *)I.order->items)[0].col.pos,
                     "CLUSTERING ORDER BY given twice");
        R.order = I.order;
    }
    R.compact |= I.compact;
    if (I.options) {
        if (!R.options)
            R.options = cql_vec_new(ctx, sizeof(sb_cql_option *));
        push(ctx, R.options, I.options->items);
    }
}

%type table_with_item {table_with}
table_with_item(R) ::= CLUSTERING ORDER BY LPAREN ordering_list(L) RPAREN. {
    memset(&R, 0, sizeof(R));
    R.order = L;
}
table_with_item(R) ::= COMPACT STORAGE. { memset(&R, 0, sizeof(R)); R.compact = 1; }
table_with_item(R) ::= option(O). {
    memset(&R, 0, sizeof(R));
    R.options = vec1(ctx, sizeof(sb_cql_option *), &O);
}

%type alter_op {sb_cql_stmt *}
alter_op(R) ::= ADD(A) coldef(C). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, A.pos);
    R->alter_table.op = SB_CQL_ALTER_ADD;
    alter_add(ctx, R, vec1(ctx, sizeof(C), &C));
}
alter_op(R) ::= ADD(A) LPAREN coldef_list(L) RPAREN. {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, A.pos);
    R->alter_table.op = SB_CQL_ALTER_ADD;
    alter_add(ctx, R, L);
}
alter_op(R) ::= DROP(D) ident(C). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, D.pos);
    R->alter_table.op = SB_CQL_ALTER_DROP;
    R->alter_table.drop = cql_alloc(ctx, sizeof(sb_cql_ident));
    R->alter_table.drop[0] = C;
    R->alter_table.ndrop = 1;
}
alter_op(R) ::= DROP(D) LPAREN ident_list(L) RPAREN. {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, D.pos);
    R->alter_table.op = SB_CQL_ALTER_DROP;
    R->alter_table.drop = CQL_VEC_ITEMS(L);
    R->alter_table.ndrop = CQL_VEC_N(L);
}
alter_op(R) ::= RENAME(K) rename_list(L). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, K.pos);
    R->alter_table.op = SB_CQL_ALTER_RENAME;
    alter_rename(ctx, R, L);
}
alter_op(R) ::= WITH(W) option_list(O). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, W.pos);
    R->alter_table.op = SB_CQL_ALTER_OPTIONS;
    R->alter_table.options = CQL_VEC_ITEMS(O);
    R->alter_table.noptions = CQL_VEC_N(O);
}
alter_op(R) ::= ALTER(A) ident(C) TYPE type(T). {
    R = cql_stmt_new(ctx, SB_CQL_STMT_ALTER_TABLE, A.pos);
    R->alter_table.op = SB_CQL_ALTER_TYPE;
    sb_cql_coldef *d = cql_alloc(ctx, sizeof(*d));
    d->pos = C.pos;
    d->name = C;
    d->type = T;
    alter_add(ctx, R, vec1(ctx, sizeof(d), &d));
}

%type coldef_list {cql_vec *}
coldef_list(R) ::= coldef(C). { R = vec1(ctx, sizeof(sb_cql_coldef *), &C); }
coldef_list(R) ::= coldef_list(L) COMMA coldef(C). { R = push(ctx, L, &C); }

/* Pairs from, to, from, to, ... */
%type rename_list {cql_vec *}
rename_list(R) ::= ident(A) TO ident(B). {
    R = vec1(ctx, sizeof(sb_cql_ident), &A);
    push(ctx, R, &B);
}
rename_list(R) ::= rename_list(L) AND ident(A) TO ident(B). {
    R = push(ctx, L, &A);
    push(ctx, R, &B);
}
