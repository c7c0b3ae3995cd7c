/*
 * HTTP server: h2o on the node's libuv loop.
 *
 * server.c owns the listener and h2o plumbing; api.c maps paths to
 * handlers. A handler either answers at once (sb_http_reply) or keeps an
 * sb_http_pending and answers later from the loop thread; the pending
 * object survives the client going away (the reply is then dropped), so
 * asynchronous completions never touch a freed request.
 */
#ifndef SB_HTTP_SERVER_H
#define SB_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "metrics/node_view.h"
#include "util/buf.h"
#include "util/json.h"

typedef struct sb_http sb_http;
typedef struct sb_http_pending sb_http_pending;

/* A request as handlers see it. Strings are not NUL-terminated. */
typedef struct sb_http_req {
    const char *method;
    size_t method_len;
    const char *path; /* without the query string */
    size_t path_len;
    const char *query; /* after '?', may be NULL */
    size_t query_len;
    const uint8_t *body;
    size_t body_len;
    const char *content_encoding; /* may be NULL */
    size_t content_encoding_len;
    const char *content_type; /* may be NULL */
    size_t content_type_len;
    /* The Origin header (NULL: none, as from curl, drivers and same-origin
     * GETs) and whether it may drive this node (http/origin.h's rule:
     * the node itself, a cluster member, or http.cors_allowed_origins). */
    const char *origin;
    size_t origin_len;
    int origin_trusted;
    sb_http_pending *pending; /* reply through this */
} sb_http_req;

/* max_body_bytes bounds every body (h2o answers 413 beyond it before
 * buffering more) and is the line-protocol write endpoint's limit;
 * max_json_body_bytes (capped at max_body_bytes) is every other
 * endpoint's. Over-long request targets get 414, header blocks 431. */
int sb_http_start(sb_http **out, uv_loop_t *loop, const char *hostport, size_t max_body_bytes,
                  size_t max_json_body_bytes, sb_node_view *node, char *errmsg);
/* Stops accepting and closes the listener; in-flight replies are dropped. */
void sb_http_stop(sb_http *h);

/* Sends the reply and frees p. body may be NULL. Safe after the client
 * disconnected (then only frees). content_type NULL means JSON. */
void sb_http_reply(sb_http_pending *p, int status, const char *content_type, const void *body,
                   size_t len);
/* Replies with {"error": {"code": code, "message": msg}}. */
void sb_http_reply_error(sb_http_pending *p, int status, const char *code, const char *msg);
/* Replies 403 "forbidden" to a request whose Origin (r->origin, not
 * trusted) may not drive the node, naming the origin and the setting. */
void sb_http_reply_cross_origin(sb_http_pending *p, const sb_http_req *r);
/* Replies to an SB_E* code rv with its status and "code" from util/err.h's
 * table; msg NULL or "" means sb_strerror(rv). */
void sb_http_reply_err(sb_http_pending *p, int rv, const char *msg);
void sb_http_pending_set_endpoint(sb_http_pending *p, const char *endpoint);
/* Adds a response header (name in lower case) to the reply p will send;
 * both strings are copied. Call before sb_http_reply. */
void sb_http_pending_add_header(sb_http_pending *p, const char *name, const char *value);

/* Defined in api.c: routes one request. */
void sb_http_dispatch(sb_node_view *node, sb_http_req *req);

#endif
