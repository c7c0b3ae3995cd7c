/*
 * CQL parser entry points: text -> sb_cql_stmt (ast.h).
 *
 * The lexer (lexer.re, re2c) turns text into tokens; the grammar
 * (grammar.y, lemon) builds the tree in the statement's arena. Errors are
 * reported as Cassandra does, with the position and the offending token:
 *   line 1:9 no viable alternative at input 'FORM' (SELECT * [FORM]...)
 * Columns are 0-based, lines 1-based (see ast.h).
 *
 * Bounds: a statement is at most SB_CQL_MAX_TEXT bytes; nesting deeper
 * than the parser's stack (about 100 levels of brackets) is a syntax error
 * ("too deeply nested"), never a crash.
 */
#ifndef SB_CQL_PARSE_H
#define SB_CQL_PARSE_H

#include <stddef.h>

#include "cql/ast.h"

#define SB_CQL_MAX_TEXT (64u << 20)

/* Parses exactly one statement, optionally followed by ';' and blanks or
 * comments. On success returns 0 and sets *out to a new root statement
 * that the caller frees with sb_cql_stmt_free(). On failure *out is NULL
 * and the return is SB_ESYNTAX (message with "line L:C" in errmsg),
 * SB_ETOOBIG or SB_ENOMEM. errmsg is SB_ERRMSG_SIZE bytes. The text need
 * not be NUL-terminated and is not referenced after the call. */
int sb_cql_parse(const char *text, size_t len, sb_cql_stmt **out, char *errmsg);

/* Parses a script of ';'-separated statements. On success returns 0 and
 * sets *out to a malloc'd array of *n root statements (the caller frees
 * each with sb_cql_stmt_free() and the array with free()); an empty
 * script gives *n = 0 and *out = NULL. On the first error everything is
 * freed and the error returned; positions in errmsg are relative to the
 * whole script. */
int sb_cql_parse_multi(const char *text, size_t len, sb_cql_stmt ***out, int *n, char *errmsg);

/* For shells: finds the end of the first statement of text. Returns 1 and
 * sets *stmt_len to the bytes up to and including its terminating ';' when
 * a complete statement is there (semicolons inside strings, comments and
 * BEGIN BATCH ... APPLY BATCH do not count); returns 0 and sets *stmt_len
 * = len when the text ends before a terminating ';' (incomplete statement,
 * unterminated string or comment, or only blanks). Never fails. */
int sb_cql_split(const char *text, size_t len, size_t *stmt_len);

/* 1 if text holds nothing but blanks, comments and ';', 0 otherwise. */
int sb_cql_is_blank(const char *text, size_t len);

#endif
