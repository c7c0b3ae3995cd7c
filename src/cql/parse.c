/*
 * CQL parser driver: feeds the lexer's tokens to the lemon parser, turns
 * failures into Cassandra-style messages, and splits scripts.
 *
 * One parse owns one heap cql_ctx and one arena. Grammar actions allocate
 * from the arena and longjmp to the driver when it runs out; the driver
 * then frees the parser and the arena, so nothing leaks on any path. The
 * ctx lives on the heap (not in locals) so that nothing it holds is
 * clobbered by the longjmp.
 *
 * Error messages follow Cassandra's (ANTLR's) shape:
 *   line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT * [FORM]...)
 *   line 1:9 no viable alternative at input 'FORM' (SELECT * [FORM]...)
 * with at most CTX_MAX bytes of the text before the token.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/grammar.h"
#include "cql/parse.h"
#include "cql/parse_int.h"
#include "util/err.h"

#define CTX_MAX 40
#define TOK_MAX 40

/* Copies up to max bytes of s into dst (size >= 4 * max + 8), escaping
 * control bytes and turning line breaks into spaces; "..." when cut. */
static void sanitize(char *dst, const char *s, size_t len, size_t max)
{
    size_t n = 0;
    size_t lim = len < max ? len : max;
    for (size_t i = 0; i < lim; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\r' || ch == '\t')
            dst[n++] = ' ';
        else if (ch < 0x20 || ch == 0x7f)
            n += (size_t)sprintf(dst + n, "\\x%02x", ch);
        else
            dst[n++] = (char)ch;
    }
    if (len > max) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = 0;
}

void cql_fail(cql_ctx *c, sb_cql_pos pos, const char *fmt, ...)
{
    if (c->err)
        return;
    char msg[SB_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->err = sb_seterr(c->errmsg, SB_ESYNTAX, "line %u:%u %s", pos.line, pos.col, msg);
}

void cql_syntax_error(cql_ctx *c, const cql_tok *tok, const int *expected, int nexpected)
{
    if (c->err)
        return;
    char what[4 * TOK_MAX + 8];
    char before[4 * CTX_MAX + 8];
    int eof = tok->code == 0;
    if (eof)
        strcpy(what, "<EOF>");
    else
        sanitize(what, tok->s, tok->len, TOK_MAX);
    size_t off = tok->pos.off;
    size_t from = off > CTX_MAX ? off - CTX_MAX : 0;
    sanitize(before, c->buf + from, off - from, CTX_MAX);
    const char *lead = from > 0 ? "..." : "";
    if (nexpected == 1)
        c->err = sb_seterr(c->errmsg, SB_ESYNTAX,
                           "line %u:%u mismatched input '%s' expecting %s (%s%s[%s]%s)",
                           tok->pos.line, tok->pos.col, what, cql_token_display(expected[0]), lead,
                           before, eof ? "" : what, eof ? "" : "...");
    else
        c->err = sb_seterr(
            c->errmsg, SB_ESYNTAX, "line %u:%u no viable alternative at input '%s' (%s%s[%s]%s)",
            tok->pos.line, tok->pos.col, what, lead, before, eof ? "" : what, eof ? "" : "...");
}

void cql_overflow_error(cql_ctx *c)
{
    if (c->err)
        return;
    char what[4 * TOK_MAX + 8];
    sanitize(what, c->cur.s, c->cur.len, TOK_MAX);
    c->err = sb_seterr(c->errmsg, SB_ESYNTAX, "line %u:%u statement too deeply nested at '%s'",
                       c->cur.pos.line, c->cur.pos.col, what);
}

static void lex_error(cql_ctx *c, int code, const cql_tok *tok)
{
    char what[4 * TOK_MAX + 8];
    const char *msg;
    switch (code) {
    case CQL_LEX_ESTRING:
        msg = "unterminated string literal";
        break;
    case CQL_LEX_EDOLLAR:
        msg = "unterminated $$ string literal";
        break;
    case CQL_LEX_ECOMMENT:
        msg = "unterminated comment";
        break;
    case CQL_LEX_EQUOTED:
        msg = "unterminated quoted identifier";
        break;
    case CQL_LEX_EEMPTYID:
        msg = "empty quoted identifier";
        break;
    default:
        sanitize(what, tok->s, tok->len, TOK_MAX);
        c->err = sb_seterr(c->errmsg, SB_ESYNTAX, "line %u:%u unexpected character '%s'",
                           tok->pos.line, tok->pos.col, what);
        return;
    }
    c->err = sb_seterr(c->errmsg, SB_ESYNTAX, "line %u:%u %s", tok->pos.line, tok->pos.col, msg);
}

/* Parses text[0..len) whose first byte sits at line0:col0 of the input. */
static int parse_at(const char *text, size_t len, uint32_t line0, uint32_t col0, sb_cql_stmt **out,
                    char *errmsg)
{
    *out = NULL;
    errmsg[0] = 0;
    if (len > SB_CQL_MAX_TEXT)
        return sb_seterr(errmsg, SB_ETOOBIG, "statement of %zu bytes exceeds the limit of %u bytes",
                         len, SB_CQL_MAX_TEXT);
    cql_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory parsing statement");
    c->errmsg = errmsg;
    c->arena = cql_arena_new();
    int rc;
    if (!c->arena)
        goto nomem;
    if (setjmp(c->oom))
        goto nomem;
    char *buf = cql_strndup(c, text, len);
    c->buf = buf;
    c->len = len;
    c->parser = sb_cqlparseAlloc(malloc);
    if (!c->parser)
        goto nomem;

    cql_lexer lx;
    cql_lexer_init(&lx, buf, len, line0, col0);
    size_t first = len, last_end = len;
    for (;;) {
        cql_tok tok;
        int code = cql_lex(&lx, &tok);
        if (code < 0) {
            lex_error(c, code, &tok);
            break;
        }
        if (code != 0 && code != TK_SEMI) {
            if (first == len)
                first = tok.pos.off;
            last_end = tok.pos.off + tok.len;
        }
        c->cur = tok;
        sb_cqlparse(c->parser, code, tok, c);
        if (c->err || code == 0)
            break;
    }
    if (c->err) {
        rc = c->err;
        goto fail;
    }
    if (!c->stmt) { /* cannot happen: the grammar needs a statement */
        rc = sb_seterr(errmsg, SB_ESYNTAX, "line %u:%u empty statement", line0, col0);
        goto fail;
    }
    sb_cql_stmt *s = c->stmt;
    buf[last_end] = 0;
    s->text = buf + first;
    s->text_len = last_end - first;
    s->nbind = CQL_VEC_N(c->binds);
    s->bind_names = CQL_VEC_ITEMS(c->binds);
    s->arena = c->arena;
    sb_cqlparseFree(c->parser, free);
    free(c);
    *out = s;
    return 0;

nomem:
    rc = sb_seterr(errmsg, SB_ENOMEM, "out of memory parsing statement");
fail:
    if (c->parser)
        sb_cqlparseFree(c->parser, free);
    cql_arena_free(c->arena);
    free(c);
    return rc;
}

int sb_cql_parse(const char *text, size_t len, sb_cql_stmt **out, char *errmsg)
{
    return parse_at(text, len, 1, 0, out, errmsg);
}

/* Splitting works on a NUL-terminated buffer (the lexer's sentinel). From
 * offset start, finds the end of the statement; returns 1 when a
 * terminating ';' was found (*end just past it), 0 otherwise (*end = len).
 * *blank tells whether the piece held no token but ';'. */
static int split_buf(const char *buf, size_t len, size_t start, size_t *end, int *blank)
{
    cql_lexer lx;
    cql_tok tok;
    int in_batch = 0, first = 1;
    cql_lexer_init(&lx, buf + start, len - start, 1, 0);
    *blank = 1;
    for (;;) {
        int code = cql_lex(&lx, &tok);
        if (code == 0)
            break;
        if (code == CQL_LEX_ESTRING || code == CQL_LEX_EDOLLAR || code == CQL_LEX_ECOMMENT ||
            code == CQL_LEX_EQUOTED) {
            *blank = 0;
            break; /* incomplete: the rest is inside a string or comment */
        }
        if (code == TK_SEMI && !in_batch) {
            *end = start + tok.pos.off + 1;
            return 1;
        }
        if (code != TK_SEMI)
            *blank = 0;
        if (code == TK_BEGIN && first)
            in_batch = 1;
        else if (code == TK_APPLY)
            in_batch = 0;
        if (code != TK_SEMI)
            first = 0;
    }
    *end = len;
    return 0;
}

int sb_cql_split(const char *text, size_t len, size_t *stmt_len)
{
    *stmt_len = len;
    char *buf = malloc(len + 1);
    if (!buf)
        return 0;
    memcpy(buf, text, len);
    buf[len] = 0;
    int blank;
    int rc = split_buf(buf, len, 0, stmt_len, &blank);
    free(buf);
    return rc;
}

int sb_cql_is_blank(const char *text, size_t len)
{
    char *buf = malloc(len + 1);
    if (!buf)
        return 0;
    memcpy(buf, text, len);
    buf[len] = 0;
    cql_lexer lx;
    cql_tok tok;
    int code;
    cql_lexer_init(&lx, buf, len, 1, 0);
    while ((code = cql_lex(&lx, &tok)) == TK_SEMI)
        ;
    free(buf);
    return code == 0;
}

int sb_cql_parse_multi(const char *text, size_t len, sb_cql_stmt ***out, int *n, char *errmsg)
{
    *out = NULL;
    *n = 0;
    errmsg[0] = 0;
    if (len > SB_CQL_MAX_TEXT)
        return sb_seterr(errmsg, SB_ETOOBIG, "script of %zu bytes exceeds the limit of %u bytes",
                         len, SB_CQL_MAX_TEXT);
    char *buf = malloc(len + 1);
    if (!buf)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory parsing script");
    memcpy(buf, text, len);
    buf[len] = 0;

    sb_cql_stmt **v = NULL;
    int cnt = 0, cap = 0, rc = 0;
    size_t start = 0;
    uint32_t line = 1;
    size_t line_start = 0;
    while (start < len) {
        size_t end;
        int blank;
        split_buf(buf, len, start, &end, &blank);
        if (!blank) {
            if (cnt == cap) {
                int ncap = cap ? cap * 2 : 8;
                sb_cql_stmt **nv = realloc(v, (size_t)ncap * sizeof(*nv));
                if (!nv) {
                    rc = sb_seterr(errmsg, SB_ENOMEM, "out of memory parsing script");
                    goto fail;
                }
                v = nv;
                cap = ncap;
            }
            rc = parse_at(buf + start, end - start, line, (uint32_t)(start - line_start), &v[cnt],
                          errmsg);
            if (rc < 0)
                goto fail;
            cnt++;
        }
        for (size_t i = start; i < end; i++) {
            if (buf[i] == '\n') {
                line++;
                line_start = i + 1;
            }
        }
        start = end;
    }
    free(buf);
    *out = v;
    *n = cnt;
    return 0;

fail:
    for (int i = 0; i < cnt; i++)
        sb_cql_stmt_free(v[i]);
    free(v);
    free(buf);
    return rc;
}
