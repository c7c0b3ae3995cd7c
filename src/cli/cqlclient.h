/*
 * A small blocking client for the CQL native protocol v4 (used by the
 * shell, `sibyl cql`).
 *
 * NOTES ON THE DESIGN OF THE CLIENT
 *
 * The shell sends one request at a time and waits for its answer, so the
 * client is a plain blocking socket with one stream id in use. It is split
 * in two layers so that the protocol part is testable without a network:
 *
 *   - pure codec: sb_cqlc_put_startup() / sb_cqlc_put_query() append
 *     request frames to an sb_buf; sb_cqlc_parse_response() decodes a
 *     response body (RESULT or ERROR, after the frame's warnings) into an
 *     sb_cqlc_result. Every length is checked against what remains, so a
 *     garbled answer is an error with a reason, never an out-of-bounds read.
 *   - transport: sb_cqlc_connect() / sb_cqlc_query() / sb_cqlc_close() do
 *     the TCP I/O with send/receive timeouts.
 *
 * A result owns a copy of the response body; its column names and values
 * point into it and stay valid until sb_cqlc_result_free().
 */
#ifndef SB_CLI_CQLCLIENT_H
#define SB_CLI_CQLCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/types.h"
#include "util/buf.h"

/* Largest response body the client accepts. */
#define SB_CQLC_MAX_BODY (256u << 20)

enum {
    SB_CQLC_VOID = 1,
    SB_CQLC_ROWS = 2,
    SB_CQLC_SET_KEYSPACE = 3,
    SB_CQLC_PREPARED = 4,
    SB_CQLC_SCHEMA_CHANGE = 5,
    SB_CQLC_ERROR = 100, /* an ERROR frame: err_code, err_class, err_msg */
};

typedef struct sb_cqlc_col {
    const char *ks; /* NUL-terminated copies in the result's arena */
    const char *table;
    const char *name;
    sb_type type;
    int raw; /* type the client cannot represent: shown as a blob */
} sb_cqlc_col;

typedef struct sb_cqlc_result {
    int kind;
    /* ROWS */
    int ncols;
    sb_cqlc_col *cols;
    int nrows;
    sb_value *vals; /* nrows * ncols, row-major; point into body */
    int has_more;
    const uint8_t *paging_state;
    int32_t paging_state_len;
    /* SET_KEYSPACE: the keyspace; SCHEMA_CHANGE: "CREATED KEYSPACE ks". */
    char keyspace[256];
    char change[768];
    /* ERROR */
    int err_code;
    const char *err_class; /* "SyntaxException", "InvalidRequest", ... */
    char err_msg[1024];
    /* Server warnings (frame warning flag), "\n"-separated; "" if none. */
    char warnings[2048];
    /* private */
    sb_buf body;
    sb_buf arena;
} sb_cqlc_result;

void sb_cqlc_result_init(sb_cqlc_result *r);
void sb_cqlc_result_free(sb_cqlc_result *r);

/* Name a Cassandra driver gives a protocol error code: 0x2000
 * "SyntaxException", 0x2200 "InvalidRequest", 0x2400 "AlreadyExists",
 * 0x1000 "Unavailable", ... ("ServerError" for unknown codes). */
const char *sb_cqlc_error_class(int code);

/* --- pure codec ---------------------------------------------------------- */

/* STARTUP with CQL_VERSION 3.4.5 (no compression). 0 or SB_ENOMEM. */
int sb_cqlc_put_startup(sb_buf *b, int16_t stream);
/* QUERY with consistency, page_size (<= 0: no paging) and, when
 * paging_state is not NULL, the paging state of a previous page. */
int sb_cqlc_put_query(sb_buf *b, int16_t stream, const char *q, size_t qlen, int consistency,
                      int32_t page_size, const uint8_t *paging_state, int32_t ps_len);

/* Decodes a response body with frame flags `flags` and `opcode` (RESULT,
 * ERROR or READY; READY gives kind SB_CQLC_VOID). Takes a copy of the
 * body into r (which must be initialised and is reset first). Returns 0 —
 * also for ERROR frames, which set kind SB_CQLC_ERROR — or SB_EBADINPUT
 * with what was malformed and where in errmsg (SB_ERRMSG_SIZE), or
 * SB_ENOMEM. */
int sb_cqlc_parse_response(int opcode, int flags, const uint8_t *body, size_t len,
                           sb_cqlc_result *r, char *errmsg);

/* --- transport ----------------------------------------------------------- */

typedef struct sb_cqlc {
    int fd; /* -1 when not connected */
    int16_t stream;
    int timeout_ms;
    char host[256];
    int port;
} sb_cqlc;

/* Connects to host:port (name or address) and performs the STARTUP
 * handshake. timeout_ms bounds the connect and every later request.
 * Returns 0, or SB_EIO with e.g. "could not connect to 127.0.0.1:9042:
 * Connection refused" or the server's error. */
int sb_cqlc_connect(sb_cqlc *c, const char *host, int port, int timeout_ms, char *errmsg);
/* Runs one QUERY and fills r (see sb_cqlc_parse_response). Server errors
 * are results (kind SB_CQLC_ERROR, return 0); SB_EIO means the connection
 * failed (it is then closed), SB_EBADINPUT a malformed answer. */
int sb_cqlc_query(sb_cqlc *c, const char *q, size_t qlen, int consistency, int32_t page_size,
                  const uint8_t *paging_state, int32_t ps_len, sb_cqlc_result *r, char *errmsg);
void sb_cqlc_close(sb_cqlc *c);

#endif
