/*
 * Error codes shared by every subsystem.
 *
 * Functions return int: 0 on success, a negative SB_E* code otherwise.
 * The table below is the single place a code gets its name and message;
 * sb_errname()/sb_strerror() read it. Subsystems that need more context
 * than a code (the position of a syntax error, the line of a bad point)
 * write it into a caller-provided errmsg buffer of SB_ERRMSG_SIZE bytes.
 *
 * The names follow Cassandra's error vocabulary where one exists; the
 * table's HTTP and CQL columns map them one to one.
 */
#ifndef SB_ERR_H
#define SB_ERR_H

#include <stddef.h>

#define SB_ERRMSG_SIZE 512

/* Error codes of the CQL native protocol (v4 section 9), here so that the
 * table below can name them without util/ including cql/. */
enum {
    SB_CQL_ERR_SERVER = 0x0000,
    SB_CQL_ERR_PROTOCOL = 0x000A,
    SB_CQL_ERR_BAD_CREDENTIALS = 0x0100,
    SB_CQL_ERR_UNAVAILABLE = 0x1000,
    SB_CQL_ERR_OVERLOADED = 0x1001,
    SB_CQL_ERR_IS_BOOTSTRAPPING = 0x1002,
    SB_CQL_ERR_TRUNCATE = 0x1003,
    SB_CQL_ERR_WRITE_TIMEOUT = 0x1100,
    SB_CQL_ERR_READ_TIMEOUT = 0x1200,
    SB_CQL_ERR_READ_FAILURE = 0x1300,
    SB_CQL_ERR_FUNCTION_FAILURE = 0x1400,
    SB_CQL_ERR_WRITE_FAILURE = 0x1500,
    SB_CQL_ERR_SYNTAX = 0x2000,
    SB_CQL_ERR_UNAUTHORIZED = 0x2100,
    SB_CQL_ERR_INVALID = 0x2200,
    SB_CQL_ERR_CONFIG = 0x2300,
    SB_CQL_ERR_ALREADY_EXISTS = 0x2400,
    SB_CQL_ERR_UNPREPARED = 0x2500,
};

/*
 * The one error table: name, value, HTTP status, CQL protocol code, the
 * "code" of an HTTP error body ({"error": {"code": ..., "message": ...}})
 * and the message. Every edge (the HTTP API, the CQL native protocol, the
 * demo's control server) answers from these columns, so a code means the
 * same thing to every client:
 *
 *  - bad requests are 400 with SyntaxError or Invalid; missing things 404,
 *    existing ones 409 with AlreadyExists, too large 413;
 *  - things Sibyl does not implement (a CQL feature, Transfer-Encoding)
 *    are 400 with Invalid, as Cassandra answers a statement it refuses:
 *    the client must change the request, and the message says how;
 *  - OVERLOADED is 503, not 429: it means a replica's commit queue is full,
 *    a state of the server rather than a quota of this client, and it is
 *    what InfluxDB answers for a full write queue (Telegraf retries 503);
 *  - TIMEOUT is 504 with WriteTimeout (a read's timeout is ReadTimeout: the
 *    coordinator's backend, which knows the operation, picks it): the node
 *    waited for replicas, like a gateway for its upstream;
 *  - CLOSED (a replica dropped the connection) is 502;
 *  - DISKFULL (a replica cannot make a write durable: its data directory's
 *    file system is full or below storage.min_free_bytes, or failed) is
 *    507 Insufficient Storage and CQL WRITE_FAILURE: the write was refused
 *    and the message names the node and the path;
 *  - everything internal is 500 with ServerError.
 *
 * -1 is no code: a stray "return -1" is never taken for out of memory.
 */
#define SB_ERR_MAP(X)                                                                              \
    X(NOMEM, -19, 500, SB_CQL_ERR_SERVER, "server_error", "out of memory")                         \
    X(IO, -2, 500, SB_CQL_ERR_SERVER, "server_error", "I/O error")                                 \
    X(INVAL, -3, 400, SB_CQL_ERR_INVALID, "invalid", "invalid argument")                           \
    X(SYNTAX, -4, 400, SB_CQL_ERR_SYNTAX, "invalid", "syntax error")                               \
    X(INVALID, -5, 400, SB_CQL_ERR_INVALID, "invalid", "invalid request")                          \
    X(EXISTS, -6, 409, SB_CQL_ERR_ALREADY_EXISTS, "conflict", "already exists")                    \
    X(NOTFOUND, -7, 404, SB_CQL_ERR_INVALID, "not_found", "not found")                             \
    X(CONFIG, -8, 400, SB_CQL_ERR_CONFIG, "invalid", "configuration error")                        \
    X(LOCKED, -9, 500, SB_CQL_ERR_SERVER, "server_error", "data directory locked")                 \
    X(OVERLOADED, -10, 503, SB_CQL_ERR_OVERLOADED, "overloaded", "overloaded")                     \
    X(CORRUPT, -11, 500, SB_CQL_ERR_SERVER, "server_error", "corrupt data")                        \
    X(TOOBIG, -12, 413, SB_CQL_ERR_INVALID, "request_too_large", "too large")                      \
    X(UNSUPPORTED, -13, 400, SB_CQL_ERR_INVALID, "invalid", "unsupported")                         \
    X(SERVER, -14, 500, SB_CQL_ERR_SERVER, "server_error", "server error")                         \
    X(BADINPUT, -15, 400, SB_CQL_ERR_INVALID, "invalid", "bad input")                              \
    X(TIMEOUT, -16, 504, SB_CQL_ERR_WRITE_TIMEOUT, "timeout", "timed out")                         \
    X(UNAVAILABLE, -17, 503, SB_CQL_ERR_UNAVAILABLE, "unavailable",                                \
      "not enough replicas available")                                                             \
    X(CLOSED, -18, 502, SB_CQL_ERR_SERVER, "bad_gateway", "connection closed")                     \
    X(METHOD, -20, 405, SB_CQL_ERR_PROTOCOL, "method_not_allowed", "method not allowed")           \
    X(DISKFULL, -21, 507, SB_CQL_ERR_WRITE_FAILURE, "insufficient_storage", "disk full")

enum {
#define SB_ERR_ENUM(name, val, http, cql, code, msg) SB_E##name = (val),
    SB_ERR_MAP(SB_ERR_ENUM)
#undef SB_ERR_ENUM
};

/* Short upper-case name ("SYNTAX") of a code; "UNKNOWN" for others. */
const char *sb_errname(int code);
/* Human message of a code; static storage. */
const char *sb_strerror(int code);
/* HTTP status of a code: 200 for 0, 500 for a code not in the table. */
int sb_err_http_status(int code);
/* "code" of an HTTP error body ("invalid", "not_found", ...; "ok" for 0,
 * "server_error" for others); static storage. */
const char *sb_err_http_code(int code);
/* CQL native protocol error code (SB_CQL_ERR_*) of a code; ServerError for
 * a code not in the table. */
int sb_err_cql_code(int code);
/* snprintf into errmsg (SB_ERRMSG_SIZE bytes) and return code. */
int sb_seterr(char *errmsg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Invariant checks that stay on in release builds (data would be corrupted
 * if they failed). */
#define SB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sb_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)
void sb_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#endif
