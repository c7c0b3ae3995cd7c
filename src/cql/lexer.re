/*
 * CQL lexer (re2c).
 *
 * NOTES ON THE DESIGN OF THE LEXER
 *
 * The input is a NUL-terminated copy of the statement; the NUL at buf[len]
 * is the sentinel, so no character class below admits \x00 and a NUL byte
 * inside the text is an "unexpected character" error rather than an early
 * end. Keywords are case-insensitive ('...' strings in re2c); longest match
 * wins and, at equal length, the earlier rule, so keywords beat identifiers
 * and a UUID beats the integer or identifier it starts with. Keywords that
 * CQL also allows as names are turned back into identifiers by the
 * grammar's %fallback, not here.
 *
 * A '-' is always its own token: the grammar folds it into a following
 * number, so `c = c - 1` and `DEFAULT -999.0` both work.
 *
 * Unterminated strings, quoted identifiers and comments match a shorter
 * rule (the opening delimiter alone) that reports the error at the
 * opening position.
 */
#include <string.h>

#include "cql/grammar.h"
#include "cql/parse_int.h"

void cql_lexer_init(cql_lexer *lx, const char *buf, size_t len, uint32_t line0, uint32_t col0)
{
    lx->buf = buf;
    lx->cur = buf;
    lx->lim = buf + len;
    /* Tokens on the first line report col0 + their offset: pretend the
     * line began col0 bytes before buf (only ever used for subtraction). */
    lx->line_start = buf;
    lx->line = line0;
    lx->col_shift = col0;
}

static void set_pos(cql_lexer *lx, cql_tok *tok, const char *start)
{
    tok->s = start;
    tok->pos.line = lx->line;
    tok->pos.col = (uint32_t)(start - lx->line_start) + (lx->line_start == lx->buf ? lx->col_shift : 0);
    tok->pos.off = (uint32_t)(start - lx->buf);
}

/* Moves the line counter over [from, to). */
static void count_lines(cql_lexer *lx, const char *from, const char *to)
{
    for (const char *p = from; p < to; p++) {
        if (*p == '\n') {
            lx->line++;
            lx->line_start = p + 1;
        }
    }
}

int cql_lex(cql_lexer *lx, cql_tok *tok)
{
    const char *YYMARKER = NULL;
    for (;;) {
        const char *start = lx->cur;
        const char *YYCURSOR = lx->cur;
        int code;
        set_pos(lx, tok, start);
        /*!re2c
        re2c:define:YYCTYPE = "unsigned char";
        re2c:yyfill:enable = 0;

        D = [0-9];
        H = [0-9a-fA-F];
        L = [a-zA-Z];
        EXP = [eE] [+-]? D+;

        "\x00" {
            if (start >= lx->lim) {
                lx->cur = start;
                tok->len = 0;
                tok->code = 0;
                return 0;
            }
            code = CQL_LEX_EBADCHAR;
            goto out;
        }
        * { code = CQL_LEX_EBADCHAR; goto out; }

        [ \t\r\n\f\v]+ { goto skip; }
        ("--" | "//") [^\n\x00]* { goto skip; }
        "/*" ([^*\x00] | "*"+ [^*/\x00])* "*"+ "/" { goto skip; }
        "/*" { code = CQL_LEX_ECOMMENT; goto out; }

        "'" ([^'\x00] | "''")* "'" { code = TK_STRING; goto out; }
        "'" { code = CQL_LEX_ESTRING; goto out; }
        "$$" ([^$\x00] | "$" [^$\x00])* "$$" { code = TK_DSTRING; goto out; }
        "$$" { code = CQL_LEX_EDOLLAR; goto out; }
        "\"" ([^"\x00] | "\"\"")+ "\"" { code = TK_QID; goto out; }
        "\"\"" { code = CQL_LEX_EEMPTYID; goto out; }
        "\"" { code = CQL_LEX_EQUOTED; goto out; }

        H{8} "-" H{4} "-" H{4} "-" H{4} "-" H{12} { code = TK_UUID; goto out; }
        "0" [xX] H* { code = TK_HEXNUM; goto out; }
        D+ { code = TK_INTEGER; goto out; }
        D+ "." D* EXP? | D+ EXP { code = TK_FLOAT; goto out; }

        'select' { code = TK_SELECT; goto out; }
        'from' { code = TK_FROM; goto out; }
        'where' { code = TK_WHERE; goto out; }
        'and' { code = TK_AND; goto out; }
        'insert' { code = TK_INSERT; goto out; }
        'into' { code = TK_INTO; goto out; }
        'values' { code = TK_VALUES; goto out; }
        'update' { code = TK_UPDATE; goto out; }
        'set' { code = TK_SET; goto out; }
        'delete' { code = TK_DELETE; goto out; }
        'using' { code = TK_USING; goto out; }
        'ttl' { code = TK_TTL; goto out; }
        'timestamp' { code = TK_TIMESTAMP; goto out; }
        'if' { code = TK_IF; goto out; }
        'not' { code = TK_NOT; goto out; }
        'exists' { code = TK_EXISTS; goto out; }
        'create' { code = TK_CREATE; goto out; }
        'alter' { code = TK_ALTER; goto out; }
        'drop' { code = TK_DROP; goto out; }
        'keyspace' | 'schema' { code = TK_KEYSPACE; goto out; }
        'table' | 'columnfamily' { code = TK_TABLE; goto out; }
        'with' { code = TK_WITH; goto out; }
        'primary' { code = TK_PRIMARY; goto out; }
        'key' { code = TK_KEY; goto out; }
        'clustering' { code = TK_CLUSTERING; goto out; }
        'order' { code = TK_ORDER; goto out; }
        'by' { code = TK_BY; goto out; }
        'asc' { code = TK_ASC; goto out; }
        'desc' { code = TK_DESC; goto out; }
        'static' { code = TK_STATIC; goto out; }
        'default' { code = TK_DEFAULT; goto out; }
        'add' { code = TK_ADD; goto out; }
        'rename' { code = TK_RENAME; goto out; }
        'to' { code = TK_TO; goto out; }
        'type' { code = TK_TYPE; goto out; }
        'truncate' { code = TK_TRUNCATE; goto out; }
        'use' { code = TK_USE; goto out; }
        'begin' { code = TK_BEGIN; goto out; }
        'unlogged' { code = TK_UNLOGGED; goto out; }
        'counter' { code = TK_COUNTER; goto out; }
        'batch' { code = TK_BATCH; goto out; }
        'apply' { code = TK_APPLY; goto out; }
        'distinct' { code = TK_DISTINCT; goto out; }
        'json' { code = TK_JSON; goto out; }
        'as' { code = TK_AS; goto out; }
        'cast' { code = TK_CAST; goto out; }
        'group' { code = TK_GROUP; goto out; }
        'per' { code = TK_PER; goto out; }
        'partition' { code = TK_PARTITION; goto out; }
        'limit' { code = TK_LIMIT; goto out; }
        'allow' { code = TK_ALLOW; goto out; }
        'filtering' { code = TK_FILTERING; goto out; }
        'in' { code = TK_IN; goto out; }
        'contains' { code = TK_CONTAINS; goto out; }
        'token' { code = TK_TOKEN; goto out; }
        'compact' { code = TK_COMPACT; goto out; }
        'storage' { code = TK_STORAGE; goto out; }
        'null' { code = TK_NULL; goto out; }
        'true' { code = TK_TRUE; goto out; }
        'false' { code = TK_FALSE; goto out; }
        'nan' { code = TK_NAN; goto out; }
        'infinity' { code = TK_INFINITY; goto out; }

        L [a-zA-Z0-9_]* { code = TK_ID; goto out; }

        "(" { code = TK_LPAREN; goto out; }
        ")" { code = TK_RPAREN; goto out; }
        "[" { code = TK_LBRACKET; goto out; }
        "]" { code = TK_RBRACKET; goto out; }
        "{" { code = TK_LBRACE; goto out; }
        "}" { code = TK_RBRACE; goto out; }
        "," { code = TK_COMMA; goto out; }
        ";" { code = TK_SEMI; goto out; }
        "." { code = TK_DOT; goto out; }
        "*" { code = TK_STAR; goto out; }
        "=" { code = TK_EQ; goto out; }
        "!=" { code = TK_NE; goto out; }
        "<" { code = TK_LT; goto out; }
        "<=" { code = TK_LE; goto out; }
        ">" { code = TK_GT; goto out; }
        ">=" { code = TK_GE; goto out; }
        "+" { code = TK_PLUS; goto out; }
        "-" { code = TK_MINUS; goto out; }
        ":" { code = TK_COLON; goto out; }
        "?" { code = TK_QMARK; goto out; }
        */
    skip:
        count_lines(lx, start, YYCURSOR);
        lx->cur = YYCURSOR;
        continue;
    out:
        tok->len = (size_t)(YYCURSOR - start);
        tok->code = code > 0 ? code : 0;
        count_lines(lx, start, YYCURSOR);
        lx->cur = YYCURSOR;
        return code;
    }
}

static const struct {
    int code;
    const char *name;
} display[] = {
    {TK_ID, "IDENT"},        {TK_QID, "QUOTED_NAME"}, {TK_STRING, "STRING_LITERAL"},
    {TK_DSTRING, "STRING_LITERAL"}, {TK_INTEGER, "INTEGER"}, {TK_FLOAT, "FLOAT"},
    {TK_UUID, "UUID"},        {TK_HEXNUM, "HEXNUMBER"}, {TK_LPAREN, "'('"},
    {TK_RPAREN, "')'"},       {TK_LBRACKET, "'['"},    {TK_RBRACKET, "']'"},
    {TK_LBRACE, "'{'"},       {TK_RBRACE, "'}'"},      {TK_COMMA, "','"},
    {TK_SEMI, "';'"},         {TK_DOT, "'.'"},         {TK_STAR, "'*'"},
    {TK_EQ, "'='"},           {TK_NE, "'!='"},         {TK_LT, "'<'"},
    {TK_LE, "'<='"},          {TK_GT, "'>'"},          {TK_GE, "'>='"},
    {TK_PLUS, "'+'"},         {TK_MINUS, "'-'"},       {TK_COLON, "':'"},
    {TK_QMARK, "'?'"},
};

static const struct {
    int code;
    const char *name;
} keywords[] = {
    {TK_SELECT, "K_SELECT"},       {TK_FROM, "K_FROM"},
    {TK_WHERE, "K_WHERE"},         {TK_AND, "K_AND"},
    {TK_INSERT, "K_INSERT"},       {TK_INTO, "K_INTO"},
    {TK_VALUES, "K_VALUES"},       {TK_UPDATE, "K_UPDATE"},
    {TK_SET, "K_SET"},             {TK_DELETE, "K_DELETE"},
    {TK_USING, "K_USING"},         {TK_TTL, "K_TTL"},
    {TK_TIMESTAMP, "K_TIMESTAMP"}, {TK_IF, "K_IF"},
    {TK_NOT, "K_NOT"},             {TK_EXISTS, "K_EXISTS"},
    {TK_CREATE, "K_CREATE"},       {TK_ALTER, "K_ALTER"},
    {TK_DROP, "K_DROP"},           {TK_KEYSPACE, "K_KEYSPACE"},
    {TK_TABLE, "K_TABLE"},         {TK_WITH, "K_WITH"},
    {TK_PRIMARY, "K_PRIMARY"},     {TK_KEY, "K_KEY"},
    {TK_CLUSTERING, "K_CLUSTERING"}, {TK_ORDER, "K_ORDER"},
    {TK_BY, "K_BY"},               {TK_ASC, "K_ASC"},
    {TK_DESC, "K_DESC"},           {TK_STATIC, "K_STATIC"},
    {TK_DEFAULT, "K_DEFAULT"},     {TK_ADD, "K_ADD"},
    {TK_RENAME, "K_RENAME"},       {TK_TO, "K_TO"},
    {TK_TYPE, "K_TYPE"},           {TK_TRUNCATE, "K_TRUNCATE"},
    {TK_USE, "K_USE"},             {TK_BEGIN, "K_BEGIN"},
    {TK_UNLOGGED, "K_UNLOGGED"},   {TK_COUNTER, "K_COUNTER"},
    {TK_BATCH, "K_BATCH"},         {TK_APPLY, "K_APPLY"},
    {TK_DISTINCT, "K_DISTINCT"},   {TK_JSON, "K_JSON"},
    {TK_AS, "K_AS"},               {TK_CAST, "K_CAST"},
    {TK_GROUP, "K_GROUP"},         {TK_PER, "K_PER"},
    {TK_PARTITION, "K_PARTITION"}, {TK_LIMIT, "K_LIMIT"},
    {TK_ALLOW, "K_ALLOW"},         {TK_FILTERING, "K_FILTERING"},
    {TK_IN, "K_IN"},               {TK_CONTAINS, "K_CONTAINS"},
    {TK_TOKEN, "K_TOKEN"},         {TK_COMPACT, "K_COMPACT"},
    {TK_STORAGE, "K_STORAGE"},     {TK_NULL, "K_NULL"},
    {TK_TRUE, "K_TRUE"},           {TK_FALSE, "K_FALSE"},
    {TK_NAN, "K_NAN"},             {TK_INFINITY, "K_INFINITY"},
};

const char *cql_token_display(int code)
{
    if (code == 0)
        return "EOF";
    for (size_t i = 0; i < sizeof(display) / sizeof(display[0]); i++)
        if (display[i].code == code)
            return display[i].name;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (keywords[i].code == code)
            return keywords[i].name;
    return "?";
}
