/*
 * CQL abstract syntax tree.
 *
 * NOTES ON THE DESIGN OF THE AST
 *
 * The parser (parse.h) turns the text of one CQL statement into one
 * sb_cql_stmt. The tree is purely syntactic: names are not resolved, types
 * are not checked, literals are kept as text. The executor resolves names
 * against the schema and converts literals with sb_value_from_literal()
 * (storage/types.h) once it knows the target column's type.
 *
 * Invariants:
 *   - Every node lives in one arena owned by its root sb_cql_stmt; freeing
 *     the root (sb_cql_stmt_free) frees all of it. Nothing in the tree may be
 *     freed on its own, and no pointer into it outlives the root. The
 *     statements inside a BATCH are children of the batch's root.
 *   - Every string is NUL-terminated. Identifiers are already normalised:
 *     unquoted identifiers are folded to lower case, "quoted" ones keep
 *     their case with "" unescaped to ". Keyword-looking names that CQL
 *     allows as identifiers (key, ttl, timestamp, count, ...) come through
 *     as identifiers.
 *   - Every node has a source position (sb_cql_pos) of its first token.
 *     Lines are 1-based; columns are 0-based byte offsets in the line, as in
 *     Cassandra's "line 1:9 ..." messages, so errors can say "line L:C".
 *   - Arrays are (pointer, count); a count of 0 may come with a NULL pointer.
 *     Optional children that are absent are NULL.
 *   - Nesting (collection literals inside each other, function arguments,
 *     parameterised types) is bounded by the parser's stack (well under 200
 *     levels), so code walking the tree recursively cannot blow the C stack.
 *   - Bind markers (? and :name) are numbered 0, 1, 2, ... in the order they
 *     appear in the text of the whole statement (a batch numbers across its
 *     children); the root records their count and names.
 */
#ifndef SB_CQL_AST_H
#define SB_CQL_AST_H

#include <stddef.h>
#include <stdint.h>

#include "storage/types.h" /* SB_LIT_* literal kinds, sb_type_id */

/* Source position of a node's first token. */
typedef struct sb_cql_pos {
    uint32_t line; /* 1-based */
    uint32_t col;  /* 0-based byte offset within the line */
    uint32_t off;  /* 0-based byte offset within the statement text */
} sb_cql_pos;

/* A name as written (already folded/unquoted), with its position. */
typedef struct sb_cql_ident {
    const char *name;
    sb_cql_pos pos;
} sb_cql_ident;

/* [keyspace.]name of a table (or a keyspace, with ks == NULL). */
typedef struct sb_cql_qname {
    const char *ks; /* NULL when not qualified */
    const char *name;
    sb_cql_pos pos;
} sb_cql_qname;

/* ---------------------------------------------------------------- types */

/* A CQL type as written: "int", "varchar", "map<text, float>",
 * "frozen<list<int>>", "tuple<int, text>". frozen<X> is represented as X
 * with frozen = 1 (frozen<frozen<X>> likewise). */
typedef struct sb_cql_type {
    sb_cql_pos pos;
    const char *name; /* lower-case name: "int", "varchar", "list", "map", "set",
                         "tuple", "counter", or whatever unknown name was written */
    int id;           /* sb_type_id for a known name ("varchar" -> SB_TYPE_TEXT,
                         "list" -> SB_TYPE_LIST, ...); 0 for unknown names,
                         "tuple", "counter", "duration" */
    int frozen;
    struct sb_cql_type **params; /* list/set: 1, map: 2, tuple: n, else 0 */
    int nparams;
} sb_cql_type;

/* ---------------------------------------------------------------- terms */

typedef enum sb_cql_term_kind {
    SB_CQL_TERM_LITERAL,  /* lit + text/len */
    SB_CQL_TERM_NULL,     /* null */
    SB_CQL_TERM_BIND,     /* ? or :name */
    SB_CQL_TERM_LIST,     /* [a, b]: elems */
    SB_CQL_TERM_SET,      /* {a, b}: elems */
    SB_CQL_TERM_MAP,      /* {k: v, ...}: elems alternate key, value. The empty
                             literal {} is a MAP with nelems 0; it is also the
                             empty set when the target column is a set. */
    SB_CQL_TERM_TUPLE,    /* (a, b): elems; also the candidate list of IN */
    SB_CQL_TERM_FUNCTION, /* name(args): text = lower-case function name,
                             elems = arguments (now(), toTimestamp(now()), ...) */
    SB_CQL_TERM_TYPEHINT, /* (type) term: hint_type, elems[0] = term */
} sb_cql_term_kind;

typedef struct sb_cql_term {
    sb_cql_term_kind kind;
    sb_cql_pos pos;
    /* LITERAL: lit is SB_LIT_STRING, _INTEGER, _FLOAT, _BOOL, _UUID or _HEX
     * (storage/types.h) and text/len is ready for sb_value_from_literal():
     *   STRING  contents with quotes removed and '' unescaped ('...' and
     *           $$...$$ both give STRING); len counts bytes (no NUL inside
     *           is possible: the lexer rejects NUL bytes)
     *   INTEGER "123", "-5" (a leading '-' is folded into the literal)
     *   FLOAT   "1.5", "-2e3", "NaN", "-Infinity" (as written)
     *   BOOL    "true" or "false" (lower case)
     *   UUID    "123e4567-e89b-12d3-a456-426614174000" (as written)
     *   HEX     "0xcafe" (as written, including the 0x prefix)
     * FUNCTION: text = function name, lower case (or as quoted). */
    int lit;
    const char *text;
    size_t len;
    /* BIND: index in the statement's bind list, name NULL for '?'. */
    int bind_index;
    const char *bind_name;
    /* LIST, SET, TUPLE, FUNCTION, TYPEHINT: elements; MAP: 2 * entries. */
    struct sb_cql_term **elems;
    int nelems;
    sb_cql_type *hint_type; /* TYPEHINT only */
} sb_cql_term;

/* ------------------------------------------------------ options (WITH) */

/* name = value in WITH clauses: replication = {...}, durable_writes = true,
 * compaction = {...}, default_time_to_live = 3600, comment = '...'. The
 * value is a term (a MAP for map-valued options, a LITERAL otherwise;
 * an unquoted identifier value such as `caching = ALL` becomes a STRING
 * literal). The name is folded to lower case. */
typedef struct sb_cql_option {
    sb_cql_pos pos;
    const char *name;
    sb_cql_term *value;
} sb_cql_option;

/* ------------------------------------------------------ WHERE / IF */

typedef enum sb_cql_op {
    SB_CQL_OP_EQ,           /* = */
    SB_CQL_OP_NE,           /* != */
    SB_CQL_OP_LT,           /* < */
    SB_CQL_OP_LE,           /* <= */
    SB_CQL_OP_GT,           /* > */
    SB_CQL_OP_GE,           /* >= */
    SB_CQL_OP_IN,           /* IN */
    SB_CQL_OP_CONTAINS,     /* CONTAINS */
    SB_CQL_OP_CONTAINS_KEY, /* CONTAINS KEY */
} sb_cql_op;

typedef enum sb_cql_rel_kind {
    SB_CQL_REL_COLUMN, /* col op term; cols[0], optional elem_key for m['k'] op term */
    SB_CQL_REL_TUPLE,  /* (c1, c2, ...) op tuple-term; cols[0..ncols-1] */
    SB_CQL_REL_TOKEN,  /* token(c1, c2, ...) op term; cols = the token's arguments */
} sb_cql_rel_kind;

/* One relation of a WHERE clause, or one condition of an IF clause (only
 * REL_COLUMN appears there). For OP_IN, value is a TUPLE whose elems are
 * the candidates (for a tuple relation each candidate is itself a TUPLE),
 * or a BIND for `IN ?`. */
typedef struct sb_cql_relation {
    sb_cql_pos pos;
    sb_cql_rel_kind kind;
    sb_cql_ident *cols;
    int ncols;
    sb_cql_term *elem_key; /* REL_COLUMN on m[key]; NULL otherwise */
    sb_cql_op op;
    sb_cql_term *value;
} sb_cql_relation;

/* -------------------------------------------------------------- SELECT */

typedef enum sb_cql_sel_kind {
    SB_CQL_SEL_COLUMN,   /* name */
    SB_CQL_SEL_FUNCTION, /* name(args): count, min, max, avg, sum, writetime,
                            ttl, token, or any other name (lower case);
                            count(*) has star = 1 and nargs 0 */
    SB_CQL_SEL_TERM,     /* a literal/bind argument, e.g. the 1 of count(1) */
    SB_CQL_SEL_CAST,     /* CAST(args[0] AS cast_type) */
} sb_cql_sel_kind;

typedef struct sb_cql_selector {
    sb_cql_pos pos;
    sb_cql_sel_kind kind;
    const char *name; /* COLUMN: column; FUNCTION: function name */
    int star;         /* FUNCTION: written as f(*) */
    struct sb_cql_selector **args;
    int nargs;
    sb_cql_term *term;      /* SEL_TERM */
    sb_cql_type *cast_type; /* SEL_CAST */
    const char *alias;      /* AS alias; NULL if none (top-level selectors only) */
} sb_cql_selector;

typedef struct sb_cql_ordering {
    sb_cql_ident col;
    int desc; /* 1 for DESC, 0 for ASC or nothing */
} sb_cql_ordering;

typedef struct sb_cql_select {
    int distinct;
    int json; /* SELECT JSON ... */
    int star; /* SELECT * (then nsel == 0) */
    sb_cql_selector **sel;
    int nsel;
    sb_cql_qname table;
    sb_cql_relation **where;
    int nwhere;
    sb_cql_ident *group_by;
    int ngroup_by;
    sb_cql_ordering *order_by;
    int norder_by;
    sb_cql_term *per_partition_limit; /* NULL if absent; literal or bind */
    sb_cql_term *limit;               /* NULL if absent; literal or bind */
    int allow_filtering;
} sb_cql_select;

/* ----------------------------------------------------------------- DML */

typedef struct sb_cql_insert {
    sb_cql_qname table;
    sb_cql_ident *cols; /* INSERT INTO t (cols) VALUES (values) */
    int ncols;
    sb_cql_term **values; /* nvalues may differ from ncols: executor reports */
    int nvalues;
    sb_cql_term *json; /* INSERT INTO t JSON term: then ncols = nvalues = 0 */
    int if_not_exists;
    sb_cql_term *ttl;       /* USING TTL; NULL if absent */
    sb_cql_term *timestamp; /* USING TIMESTAMP; NULL if absent */
} sb_cql_insert;

typedef enum sb_cql_assign_op {
    SB_CQL_ASSIGN_SET,     /* c = value */
    SB_CQL_ASSIGN_ELEM,    /* c[key] = value */
    SB_CQL_ASSIGN_ADD,     /* c = c + value (append, set union, map merge, counter +) */
    SB_CQL_ASSIGN_PREPEND, /* c = value + c (list prepend) */
    SB_CQL_ASSIGN_SUB,     /* c = c - value (list/set/map key removal, counter -) */
} sb_cql_assign_op;

/* One SET item of UPDATE. For ADD/SUB/PREPEND the column named on the
 * right-hand side was checked by the parser to be `col` itself. */
typedef struct sb_cql_assign {
    sb_cql_pos pos;
    sb_cql_ident col;
    sb_cql_assign_op op;
    sb_cql_term *key; /* ELEM only */
    sb_cql_term *value;
} sb_cql_assign;

typedef struct sb_cql_update {
    sb_cql_qname table;
    sb_cql_term *ttl;       /* NULL if absent */
    sb_cql_term *timestamp; /* NULL if absent */
    sb_cql_assign **set;
    int nset;
    sb_cql_relation **where;
    int nwhere;
    int if_exists;
    sb_cql_relation **conds; /* IF a = 1 AND ...; REL_COLUMN relations */
    int nconds;
} sb_cql_update;

/* A column (or one element m[key] / l[index]) named by DELETE. */
typedef struct sb_cql_delete_target {
    sb_cql_ident col;
    sb_cql_term *key; /* NULL for the whole column */
} sb_cql_delete_target;

typedef struct sb_cql_delete {
    sb_cql_delete_target *targets; /* empty: delete whole rows */
    int ntargets;
    sb_cql_qname table;
    sb_cql_term *timestamp; /* NULL if absent */
    sb_cql_relation **where;
    int nwhere;
    int if_exists;
    sb_cql_relation **conds;
    int nconds;
} sb_cql_delete;

typedef enum sb_cql_batch_type {
    SB_CQL_BATCH_LOGGED,
    SB_CQL_BATCH_UNLOGGED,
    SB_CQL_BATCH_COUNTER,
} sb_cql_batch_type;

typedef struct sb_cql_batch {
    sb_cql_batch_type type;
    sb_cql_term *timestamp;     /* BEGIN BATCH USING TIMESTAMP n; NULL if absent */
    struct sb_cql_stmt **stmts; /* INSERT, UPDATE or DELETE only */
    int nstmts;
} sb_cql_batch;

/* ----------------------------------------------------------------- DDL */

typedef struct sb_cql_keyspace_stmt { /* CREATE / ALTER / DROP KEYSPACE, USE */
    sb_cql_ident name;
    int if_not_exists;       /* CREATE */
    int if_exists;           /* DROP */
    sb_cql_option **options; /* CREATE, ALTER */
    int noptions;
} sb_cql_keyspace_stmt;

/* A column definition in CREATE TABLE / ALTER TABLE ADD. */
typedef struct sb_cql_coldef {
    sb_cql_pos pos;
    sb_cql_ident name;
    sb_cql_type *type;
    int is_static;
    int primary_key;            /* `col type PRIMARY KEY` (CREATE TABLE only) */
    sb_cql_term *default_value; /* DEFAULT term (our extension); NULL if none */
} sb_cql_coldef;

typedef struct sb_cql_create_table {
    sb_cql_qname table;
    int if_not_exists;
    sb_cql_coldef **cols;
    int ncols;
    /* From PRIMARY KEY ((a, b), c, d) / PRIMARY KEY (a, c) / PRIMARY KEY (a),
     * or from a single column's inline PRIMARY KEY (then npk = 1, nck = 0).
     * Both forms given, or neither, is left for the executor to reject
     * (has_pk_clause tells whether the separate clause was present). */
    int has_pk_clause;
    sb_cql_ident *pk;
    int npk;
    sb_cql_ident *ck;
    int nck;
    sb_cql_ordering *clustering_order; /* WITH CLUSTERING ORDER BY (c DESC, ...) */
    int nclustering_order;
    int compact_storage;     /* WITH COMPACT STORAGE */
    sb_cql_option **options; /* the other WITH options, in order */
    int noptions;
} sb_cql_create_table;

typedef enum sb_cql_alter_op {
    SB_CQL_ALTER_ADD,     /* ADD col type / ADD (c1 t1, c2 t2): add */
    SB_CQL_ALTER_DROP,    /* DROP col / DROP (c1, c2): drop */
    SB_CQL_ALTER_RENAME,  /* RENAME a TO b [AND c TO d]: rename_from/rename_to */
    SB_CQL_ALTER_OPTIONS, /* WITH opt = v AND ...: options */
    SB_CQL_ALTER_TYPE,    /* ALTER col TYPE t: add[0] holds col and type */
} sb_cql_alter_op;

typedef struct sb_cql_alter_table {
    sb_cql_qname table;
    sb_cql_alter_op op;
    sb_cql_coldef **add;
    int nadd;
    sb_cql_ident *drop;
    int ndrop;
    sb_cql_ident *rename_from; /* parallel arrays of nrename */
    sb_cql_ident *rename_to;
    int nrename;
    sb_cql_option **options;
    int noptions;
} sb_cql_alter_table;

typedef struct sb_cql_table_stmt { /* DROP TABLE, TRUNCATE */
    sb_cql_qname table;
    int if_exists; /* DROP TABLE IF EXISTS */
} sb_cql_table_stmt;

/* ------------------------------------------------------------ statement */

typedef enum sb_cql_stmt_kind {
    SB_CQL_STMT_SELECT,
    SB_CQL_STMT_INSERT,
    SB_CQL_STMT_UPDATE,
    SB_CQL_STMT_DELETE,
    SB_CQL_STMT_BATCH,
    SB_CQL_STMT_USE,             /* keyspace */
    SB_CQL_STMT_CREATE_KEYSPACE, /* keyspace */
    SB_CQL_STMT_ALTER_KEYSPACE,  /* keyspace */
    SB_CQL_STMT_DROP_KEYSPACE,   /* keyspace */
    SB_CQL_STMT_CREATE_TABLE,    /* create_table */
    SB_CQL_STMT_ALTER_TABLE,     /* alter_table */
    SB_CQL_STMT_DROP_TABLE,      /* table_stmt */
    SB_CQL_STMT_TRUNCATE,        /* table_stmt */
} sb_cql_stmt_kind;

struct sb_cql_arena;

typedef struct sb_cql_stmt {
    sb_cql_stmt_kind kind;
    sb_cql_pos pos;
    /* The statement's own text (without a trailing ';' or surrounding
     * blanks), a NUL-terminated copy; for a batch child, its slice. */
    const char *text;
    size_t text_len;
    /* Bind markers of the whole statement, in order (root only; 0 in batch
     * children): bind_names[i] is the name of marker i, NULL for '?'. */
    int nbind;
    const char **bind_names;
    union {
        sb_cql_select select;
        sb_cql_insert insert;
        sb_cql_update update;
        sb_cql_delete del;
        sb_cql_batch batch;
        sb_cql_keyspace_stmt keyspace;
        sb_cql_create_table create_table;
        sb_cql_alter_table alter_table;
        sb_cql_table_stmt table_stmt;
    };
    struct sb_cql_arena *arena; /* private: owns every node (root only) */
} sb_cql_stmt;

/* Frees a root statement and everything in its tree. NULL is fine. Never
 * call on a batch child. */
void sb_cql_stmt_free(sb_cql_stmt *stmt);

/* Short upper-case name of a statement kind ("SELECT", "CREATE TABLE"). */
const char *sb_cql_stmt_kind_name(sb_cql_stmt_kind kind);
/* Operator as written ("=", "<=", "IN", "CONTAINS KEY"). */
const char *sb_cql_op_name(sb_cql_op op);

#endif
