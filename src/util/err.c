#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *sb_errname(int code)
{
    switch (code) {
#define SB_ERR_NAME(name, val, msg)                                                                \
    case (val):                                                                                    \
        return #name;
        SB_ERR_MAP(SB_ERR_NAME)
#undef SB_ERR_NAME
    }
    return "UNKNOWN";
}

const char *sb_strerror(int code)
{
    switch (code) {
#define SB_ERR_MSG(name, val, msg)                                                                 \
    case (val):                                                                                    \
        return msg;
        SB_ERR_MAP(SB_ERR_MSG)
#undef SB_ERR_MSG
    }
    return "unknown error";
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
