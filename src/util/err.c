#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct err_row {
    int code, http_status, cql_code;
    const char *name, *http_code, *msg;
} err_row;

static const err_row rows[] = {
#define SB_ERR_ROW(name, val, http, cql, hcode, msg) {(val), (http), (cql), #name, (hcode), (msg)},
    SB_ERR_MAP(SB_ERR_ROW)
#undef SB_ERR_ROW
};

/* The row of code; NULL for 0 and for codes not in the table. */
static const err_row *row_of(int code)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].code == code)
            return &rows[i];
    return NULL;
}

const char *sb_errname(int code)
{
    const err_row *r = row_of(code);
    return r ? r->name : "UNKNOWN";
}

const char *sb_strerror(int code)
{
    const err_row *r = row_of(code);
    return r ? r->msg : "unknown error";
}

int sb_err_http_status(int code)
{
    const err_row *r = row_of(code);
    return code == 0 ? 200 : r ? r->http_status : 500;
}

const char *sb_err_http_code(int code)
{
    const err_row *r = row_of(code);
    return code == 0 ? "ok" : r ? r->http_code : "server_error";
}

int sb_err_cql_code(int code)
{
    const err_row *r = row_of(code);
    return r ? r->cql_code : SB_CQL_ERR_SERVER;
}

int sb_seterr(char *errmsg, int code, const char *fmt, ...)
{
    if (errmsg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, SB_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

void sb_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sibyl: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
