/*
 * CQL native protocol v4: frame and message codec (pure functions, no I/O).
 *
 * NOTES ON THE DESIGN OF THE CODEC
 *
 * A frame is a 9-byte header (version, flags, stream, opcode, length) and
 * a body of `length` bytes. The server decodes in two steps so that it
 * never has to hold a frame it will refuse:
 *
 *   1. sb_cqlframe_header() reads the 9 header bytes and
 *      sb_cqlframe_check() decides whether the frame is acceptable
 *      (version 4 request, known opcode, length within the limit). An
 *      oversized frame is answered and its body skipped as it streams in.
 *   2. sb_cqlmsg_parse() decodes a complete (decompressed) body into an
 *      sb_cqlmsg whose pointers refer into the body or into the message's
 *      own allocations; every length is checked against what remains, so
 *      any byte string either parses or fails with a reason, never reads
 *      out of bounds (tests/fuzz/fuzz_cqlframe.c).
 *
 * Encoders append whole response frames to an sb_buf.
 */
#ifndef SB_CQLPROTO_FRAME_H
#define SB_CQLPROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "cql/cql.h"
#include "util/arena.h"
#include "util/buf.h"

#define SB_CQLFRAME_HEADER_SIZE 9
#define SB_CQLPROTO_VERSION 4

enum {
    SB_CQLOP_ERROR = 0x00,
    SB_CQLOP_STARTUP = 0x01,
    SB_CQLOP_READY = 0x02,
    SB_CQLOP_AUTHENTICATE = 0x03,
    SB_CQLOP_OPTIONS = 0x05,
    SB_CQLOP_SUPPORTED = 0x06,
    SB_CQLOP_QUERY = 0x07,
    SB_CQLOP_RESULT = 0x08,
    SB_CQLOP_PREPARE = 0x09,
    SB_CQLOP_EXECUTE = 0x0A,
    SB_CQLOP_REGISTER = 0x0B,
    SB_CQLOP_EVENT = 0x0C,
    SB_CQLOP_BATCH = 0x0D,
    SB_CQLOP_AUTH_RESPONSE = 0x0F,
};

enum {
    SB_CQLFLAG_COMPRESSION = 0x01,
    SB_CQLFLAG_TRACING = 0x02,
    SB_CQLFLAG_CUSTOM_PAYLOAD = 0x04,
    SB_CQLFLAG_WARNING = 0x08,
};

/* Query parameter flags (QUERY, EXECUTE). */
enum {
    SB_CQLQ_VALUES = 0x01,
    SB_CQLQ_SKIP_METADATA = 0x02,
    SB_CQLQ_PAGE_SIZE = 0x04,
    SB_CQLQ_PAGING_STATE = 0x08,
    SB_CQLQ_SERIAL_CONSISTENCY = 0x10,
    SB_CQLQ_TIMESTAMP = 0x20,
    SB_CQLQ_NAMES = 0x40,
};

/* A bind value that the client marked `unset` ([bytes] length -2). */
#define SB_CQL_UNSET_LEN (-2)

typedef struct sb_cqlframe_hdr {
    uint8_t version;  /* without the direction bit */
    uint8_t response; /* direction bit set */
    uint8_t flags;
    int16_t stream;
    uint8_t opcode;
    uint32_t length;
} sb_cqlframe_hdr;

/* Decodes a header from the first bytes of p. Returns 1 when len >= 9 and
 * h is filled, 0 when more bytes are needed. Never fails: what the values
 * mean is sb_cqlframe_check's business. For versions 1 and 2 (8-byte
 * headers, one-byte stream) the stream is taken from byte 2 so that the
 * error can still be addressed. */
int sb_cqlframe_header(const uint8_t *p, size_t len, sb_cqlframe_hdr *h);

/* Decides whether a request frame may be processed. 0, or:
 *   SB_EUNSUPPORTED  version other than 4 (errmsg is Cassandra's "Invalid or
 *                    unsupported protocol version (5); supported versions
 *                    are (4/v4)"); the connection cannot continue.
 *   SB_ETOOBIG       length > max_body (the body must be skipped)
 *   SB_EBADINPUT     a response frame or an unknown opcode (the body must be
 *                    skipped)
 */
int sb_cqlframe_check(const sb_cqlframe_hdr *h, size_t max_body, char *errmsg);

/* --- requests ------------------------------------------------------------ */

/* Bind values and options of QUERY and EXECUTE. values[i].len is -1 for
 * null and SB_CQL_UNSET_LEN for unset; names[i] are NUL-terminated when
 * flags has SB_CQLQ_NAMES (names == NULL otherwise). */
typedef struct sb_cqlparams {
    int consistency;
    int flags;
    int nvalues;
    sb_value *values;
    const char **names;
    int32_t page_size; /* -1 = not given */
    const uint8_t *paging_state;
    int32_t paging_state_len; /* -1 = none */
    int serial_consistency;   /* SB_CL_SERIAL when not given */
    int has_timestamp;
    int64_t timestamp_us;
} sb_cqlparams;

typedef struct sb_cqlbatch_stmt {
    int prepared;      /* 1: id/id_len, 0: query/query_len */
    const char *query; /* not NUL-terminated */
    size_t query_len;
    const uint8_t *id;
    size_t id_len;
    int nvalues;
    sb_value *values;
} sb_cqlbatch_stmt;

typedef struct sb_cqlmsg {
    int opcode;
    /* STARTUP: the options map (keys and values NUL-terminated). REGISTER:
     * the event types in keys (vals NULL). */
    int nopts;
    const char **keys;
    const char **vals;
    /* QUERY, PREPARE: the statement (NUL-terminated copy). */
    const char *query;
    size_t query_len;
    /* EXECUTE: the prepared id. */
    const uint8_t *id;
    size_t id_len;
    sb_cqlparams params; /* QUERY, EXECUTE; BATCH uses consistency,
                            serial_consistency, timestamp */
    /* BATCH */
    int batch_type; /* 0 logged, 1 unlogged, 2 counter */
    int nstmts;
    sb_cqlbatch_stmt *stmts;
    sb_arena mem; /* private: allocations */
} sb_cqlmsg;

/* Parses the body of a request with the given opcode and frame flags
 * (a custom payload, when flagged, is skipped). On success m must be
 * released with sb_cqlmsg_free; m's pointers refer into body, which must
 * stay alive as long as m is used. Returns 0, SB_EBADINPUT with the reason
 * (e.g. "truncated QUERY: expected 4 bytes for [long string] length at
 * offset 0, 2 remain") or SB_ENOMEM. On error m needs no freeing. */
int sb_cqlmsg_parse(int opcode, int frame_flags, const uint8_t *body, size_t len, sb_cqlmsg *m,
                    char *errmsg);
void sb_cqlmsg_free(sb_cqlmsg *m);

/* --- responses ----------------------------------------------------------- */

void sb_cqlframe_end(sb_buf *b, size_t frame_off);

int sb_cql_put_string(sb_buf *b, const char *s);
int sb_cql_put_long_string(sb_buf *b, const char *s, size_t len);
int sb_cql_put_bytes(sb_buf *b, const uint8_t *p, int32_t len); /* len < 0: null */
int sb_cql_put_short_bytes(sb_buf *b, const uint8_t *p, size_t len);

/* Whole frames. 0 or SB_ENOMEM (the buffer may then hold a partial frame:
 * the caller truncates back to its previous length). */
int sb_cqlframe_put_ready(sb_buf *b, int16_t stream);
/* SUPPORTED with CQL_VERSION ["3.4.5"], COMPRESSION (compressions, may be
 * empty) and PROTOCOL_VERSIONS ["4/v4"]. */
int sb_cqlframe_put_supported(sb_buf *b, int16_t stream, const char *const *compressions, int n);
/* ERROR with code, message and the code's extra fields. */
int sb_cqlframe_put_error(sb_buf *b, int16_t stream, const sb_cql_error *e);
/* Convenience: an error with only a code and a message. */
int sb_cqlframe_put_error_msg(sb_buf *b, int16_t stream, int code, const char *msg);
/* RESULT for an executor result (an ERROR frame for error results).
 * skip_metadata: ROWS carry No_metadata (the client has it from PREPARE). */
int sb_cqlframe_put_result(sb_buf *b, int16_t stream, const sb_cql_result *r, int skip_metadata);
/* RESULT Prepared: id, bind metadata with partition key indexes, result
 * metadata. */
int sb_cqlframe_put_prepared(sb_buf *b, int16_t stream, const sb_cql_prepared *p);

/* EVENT frames (stream -1), protocol v4 section 4.2.6. */
/* TOPOLOGY_CHANGE (NEW_NODE, REMOVED_NODE, MOVED_NODE) or STATUS_CHANGE
 * (UP, DOWN) for the node whose CQL address is ip (iplen 4 or 16) and
 * port, sent as an [inet]. 0, SB_EINVAL (bad iplen) or SB_ENOMEM. */
int sb_cqlframe_put_event_node(sb_buf *b, const char *type, const char *change, const uint8_t *ip,
                               int iplen, int port);
/* SCHEMA_CHANGE: change ("CREATED", "UPDATED", "DROPPED"), target
 * ("KEYSPACE", "TABLE", "TYPE"), keyspace, and name unless the target is
 * KEYSPACE. 0 or SB_ENOMEM. */
int sb_cqlframe_put_event_schema(sb_buf *b, const char *change, const char *target,
                                 const char *keyspace, const char *name);

#endif
