/*
 * A small blocking HTTP/1.1 client for tools (the simulator, benchmarks):
 * one keep-alive TCP connection, one request at a time, Content-Length or
 * chunked responses. Not for the event loop: every call blocks, bounded by
 * timeout_ms per read/write wait.
 *
 * A request that fails on a connection that was reused (the server closed
 * it while idle) is retried once on a fresh connection before any error is
 * reported; the caller sees only real failures. A request that timed out
 * is not retried: the server is there but does not answer, and a retry
 * would only double the wait.
 */
#ifndef SB_NET_HTTPC_H
#define SB_NET_HTTPC_H

#include <stddef.h>

#include "util/buf.h"

typedef struct sb_httpc {
    char host[256];
    char port[16];
    int fd; /* -1 when not connected */
    int timeout_ms;
    int reused;    /* the connection has served a request before */
    int timed_out; /* the last wait ran out of timeout_ms (no retry then) */
    sb_buf in;     /* bytes read but not yet consumed */
    /* Set by a signal handler to abandon a blocking call (checked after EINTR). */
    volatile int *stop;
    /* -1 (set by sb_httpc_init), or an fd that becomes readable to abandon
     * every blocking call at once ("interrupted"), e.g. an eventfd another
     * thread writes to stop this one. Not owned: the caller closes it. */
    int wake_fd;
} sb_httpc;

typedef struct sb_http_resp {
    int status;
    sb_buf body; /* owned by the caller: sb_buf_free it */
} sb_http_resp;

/* Parses HOST:PORT (IPv6 as [::1]:PORT) into c; does not connect.
 * 0 or SB_EINVAL with the reason in errmsg. */
int sb_httpc_init(sb_httpc *c, const char *hostport, int timeout_ms, char *errmsg);
/* Closes the connection and frees buffers. */
void sb_httpc_close(sb_httpc *c);

/* Sends one request (connecting if needed) and reads the whole response
 * into resp (initialised by the call). content_type may be NULL. Returns 0
 * when a response arrived (whatever its status), SB_EIO when the node
 * could not be reached or the connection broke (errmsg says how), SB_EINVAL
 * for an unparseable response, SB_ETOOBIG for a response body over 64 MiB. */
int sb_httpc_request(sb_httpc *c, const char *method, const char *path, const char *content_type,
                     const void *body, size_t len, sb_http_resp *resp, char *errmsg);

/* GET /api/v1/cluster[?keyspace=KS[&table=T]] from the node at
 * HOST[:PORT] (default port 8080) into body (initialised by the call on
 * success; the caller frees it). keyspace and table may be NULL (table is
 * used only with a keyspace). SB_EIO unreachable, SB_ENOTFOUND (unknown
 * keyspace or table) / SB_EIO for an HTTP error, with the reason in
 * errmsg. */
int sb_httpc_fetch_cluster(const char *hostport, const char *keyspace, const char *table,
                           int timeout_ms, sb_buf *body, char *errmsg);

#endif
