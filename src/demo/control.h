/*
 * The demo's HTTP control server (docs/cluster-cli.md, "Demo control"):
 * lets the dashboard or curl stop and restart the demo's nodes and change
 * the simulator's consistency levels.
 *
 *   GET  /api/v1/demo                      the demo document
 *   POST /api/v1/demo/nodes/<i>/stop       body {} or {"signal": "TERM"}
 *   POST /api/v1/demo/nodes/<i>/start      body empty or {}
 *   POST /api/v1/demo/consistency          {"write": "ONE", "read": "ALL"}
 *   POST /api/v1/demo/partition            {"minority": [3]}: nodes 3 | the rest
 *   POST /api/v1/demo/heal                 body empty or {}: every cut healed
 *   OPTIONS <any path>                     CORS preflight, 204
 *
 * Cross-site requests (http/origin.h): a request with an Origin header is
 * trusted when it comes from the control server itself or from a page of
 * one of the addresses given to sb_demo_ctl_trust (the demo's nodes, whose
 * dashboard drives it); only then do answers name it in
 * Access-Control-Allow-Origin. A POST or preflight from any other Origin
 * is refused with 403, a POST body of another Content-Type than
 * application/json with 415, before anything runs.
 *
 * Two layers:
 * - pure functions (no I/O, no globals), fuzzed and unit-tested:
 *   sb_demo_parse_request() turns bytes into a request, sb_demo_route()
 *   turns a request into an action;
 * - a tiny non-blocking server the demo drives from its own poll loop:
 *   one request per connection, then `Connection: close`. Connections,
 *   request size and the time a client may take are all bounded.
 */
#ifndef SB_DEMO_CONTROL_H
#define SB_DEMO_CONTROL_H

#include <poll.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/ep.h"

#define SB_DEMO_MAX_HEAD_BYTES 8192
#define SB_DEMO_MAX_BODY_BYTES 8192
#define SB_DEMO_MAX_CONNS 16
#define SB_DEMO_CONN_TIMEOUT_MS 5000
#define SB_DEMO_MAX_TRUSTED 64

enum { SB_DEMO_GET = 1, SB_DEMO_POST, SB_DEMO_OPTIONS, SB_DEMO_OTHER };

/* One parsed request. The pointers point into the caller's buffer and live
 * as long as it does. */
typedef struct sb_demo_request {
    int method;           /* SB_DEMO_GET, ...; SB_DEMO_OTHER for any other token */
    const char *method_s; /* the method token as sent */
    size_t method_len;
    const char *path; /* request target without the query string */
    size_t path_len;
    const char *body;
    size_t body_len;
    size_t total_len; /* bytes of head and body */
    /* Header values (trimmed), NULL when absent. */
    const char *host;
    size_t host_len;
    const char *origin;
    size_t origin_len;
    const char *content_type;
    size_t content_type_len;
} sb_demo_request;

/* Parses one HTTP/1.0 or 1.1 request from buf[0..len). Returns 0 when the
 * request is complete (*req filled), 1 when more bytes are needed,
 * SB_EBADINPUT for a malformed request (a second Host, Origin or
 * Content-Type header included), SB_ETOOBIG when the head or the
 * body is over its limit, SB_EUNSUPPORTED for a chunked body; errmsg says
 * what and where. Never reads past buf + len. */
int sb_demo_parse_request(const char *buf, size_t len, sb_demo_request *req, char *errmsg);

enum {
    SB_DEMO_ACT_OPTIONS = 1,
    SB_DEMO_ACT_GET,
    SB_DEMO_ACT_STOP,
    SB_DEMO_ACT_START,
    SB_DEMO_ACT_CONSISTENCY,
    SB_DEMO_ACT_PARTITION,
    SB_DEMO_ACT_HEAL,
};

#define SB_DEMO_MAX_NODES 32

typedef struct sb_demo_action {
    int kind;
    int node;          /* 1-based; STOP and START */
    int sig;           /* STOP: SIGKILL (default) or SIGTERM */
    char write_cl[16]; /* CONSISTENCY: canonical name, "" = unchanged */
    char read_cl[16];
    /* PARTITION: side[i] is 1 for node i+1 on the minority side (the one
     * named), 0 for the rest; at least one node on each side */
    unsigned char side[SB_DEMO_MAX_NODES];
} sb_demo_action;

/* Maps a request onto an action for a demo of nnodes nodes. Returns 0, or
 * SB_EBADINPUT (HTTP 400: bad JSON, unknown key, bad consistency level,
 * a node index that is not a number), SB_ENOTFOUND (404: no such endpoint
 * or node), SB_EMETHOD (405: wrong method), with errmsg. The HTTP status
 * of each is util/err.h's sb_err_http_status. */
int sb_demo_route(const sb_demo_request *req, int nnodes, sb_demo_action *act, char *errmsg);

/* Cross-site check of a parsed request against the server's trusted
 * addresses (neps of them; the server's own address is recognised by the
 * Host header). Returns 0 when the request may run, or the HTTP status to
 * refuse it with (403: untrusted Origin on anything but GET; 415: a POST
 * body that is not application/json) with errmsg. *cors is set to 1 when
 * the answer should name the Origin in Access-Control-Allow-Origin. */
int sb_demo_cross_site(const sb_demo_request *req, const sb_ep *trusted, int neps, int *cors,
                       char *errmsg);

/* --- the server ------------------------------------------------------------ */

typedef struct sb_demo_ctl sb_demo_ctl;

/* Answers one action. Fills out with the JSON body and returns 0, or
 * returns an SB_E* code with errmsg (SB_EEXISTS = 409 conflict). */
typedef int (*sb_demo_handler)(void *arg, const sb_demo_action *act, sb_buf *out, char *errmsg);

/* Listens on hostport (HOST:PORT, non-blocking, close-on-exec). 0 or
 * SB_EINVAL / SB_EIO with errmsg. *out is freed with sb_demo_ctl_free. */
int sb_demo_ctl_open(sb_demo_ctl **out, const char *hostport, int nnodes, sb_demo_handler fn,
                     void *arg, char *errmsg);
void sb_demo_ctl_free(sb_demo_ctl *c);
/* Adds an HTTP address (HOST:PORT with an IP host, as a demo node listens)
 * whose pages may drive the server; at most SB_DEMO_MAX_TRUSTED. 0, or
 * SB_EINVAL / SB_ETOOBIG with errmsg. */
int sb_demo_ctl_trust(sb_demo_ctl *c, const char *hostport, char *errmsg);
/* Fills up to max pollfds (the listening socket and every connection);
 * returns how many. */
int sb_demo_ctl_pollfds(sb_demo_ctl *c, struct pollfd *fds, int max);
/* After poll(): accepts, reads, answers complete requests and drops
 * connections past their time. fds/n as filled by sb_demo_ctl_pollfds. */
void sb_demo_ctl_service(sb_demo_ctl *c, const struct pollfd *fds, int n);
/* Requests answered so far (tests, logs). */
unsigned long sb_demo_ctl_requests(const sb_demo_ctl *c);
/* The port it listens on (useful after opening port 0). */
int sb_demo_ctl_port(const sb_demo_ctl *c);

#endif
