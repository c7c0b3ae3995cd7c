/*
 * Error codes shared by every subsystem.
 *
 * Functions return int: 0 on success, a negative SB_E* code otherwise.
 * The table below is the single place a code gets its name and message;
 * sb_errname()/sb_strerror() read it. Subsystems that need more context
 * than a code (the position of a syntax error, the line of a bad point)
 * write it into a caller-provided errmsg buffer of SB_ERRMSG_SIZE bytes.
 *
 * The names follow Cassandra's error vocabulary where one exists, so the
 * HTTP API and, later, the native protocol can map them one to one.
 */
#ifndef SB_ERR_H
#define SB_ERR_H

#include <stddef.h>

#define SB_ERRMSG_SIZE 512

#define SB_ERR_MAP(X)                                                                              \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(IO, -2, "I/O error")                                                                         \
    X(INVAL, -3, "invalid argument")                                                               \
    X(SYNTAX, -4, "syntax error")                                                                  \
    X(INVALID, -5, "invalid request")                                                              \
    X(EXISTS, -6, "already exists")                                                                \
    X(NOTFOUND, -7, "not found")                                                                   \
    X(CONFIG, -8, "configuration error")                                                           \
    X(LOCKED, -9, "data directory locked")                                                         \
    X(OVERLOADED, -10, "overloaded")                                                               \
    X(CORRUPT, -11, "corrupt data")                                                                \
    X(TOOBIG, -12, "too large")                                                                    \
    X(UNSUPPORTED, -13, "unsupported")                                                             \
    X(SERVER, -14, "server error")                                                                 \
    X(BADINPUT, -15, "bad input")                                                                  \
    X(TIMEOUT, -16, "timed out")                                                                   \
    X(UNAVAILABLE, -17, "not enough replicas available")                                           \
    X(CLOSED, -18, "connection closed")

enum {
#define SB_ERR_ENUM(name, val, msg) SB_E##name = (val),
    SB_ERR_MAP(SB_ERR_ENUM)
#undef SB_ERR_ENUM
};

/* Short upper-case name ("SYNTAX") of a code; "UNKNOWN" for others. */
const char *sb_errname(int code);
/* Human message of a code; static storage. */
const char *sb_strerror(int code);
/* snprintf into errmsg (SB_ERRMSG_SIZE bytes) and return code. */
int sb_seterr(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Invariant checks that stay on in release builds (data would be corrupted
 * if they failed). */
#define SB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sb_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)
void sb_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#endif
