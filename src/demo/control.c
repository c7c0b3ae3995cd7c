/*
 * The demo's control server: a strict little HTTP/1.1 parser, a router and
 * a non-blocking accept/read/answer/close server (control.h).
 *
 * NOTES ON THE DESIGN
 *
 * - Parsing and routing are pure functions of their input (no I/O, no
 *   state), so the fuzzer and the unit test exercise exactly what the
 *   server runs.
 * - The parser accepts only what curl, browsers and Python send: a request
 *   line `METHOD SP /target SP HTTP/1.x CRLF`, header lines `name: value
 *   CRLF` (no folding, no control characters, at most 64), an empty line,
 *   and a body of exactly Content-Length bytes (one Content-Length at most,
 *   no Transfer-Encoding). Anything else is a 400 that says which line and
 *   what is wrong.
 * - Invariants of the server: at most SB_DEMO_MAX_CONNS connections; each
 *   one buffers at most SB_DEMO_MAX_HEAD_BYTES + SB_DEMO_MAX_BODY_BYTES
 *   and lives at most SB_DEMO_CONN_TIMEOUT_MS; it answers one request and
 *   closes (`Connection: close`), so no state survives a request. Every
 *   socket is close-on-exec: nodes the demo spawns never inherit them.
 * - Answers are small (a few KB), so they are written at once with a
 *   bounded wait for socket space instead of being queued.
 */
#include "demo/control.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "http/origin.h"
#include "util/consistency.h"
#include "util/err.h"
#include "util/http_reason.h"

#define MAX_HEADERS 64
#define MAX_TARGET_BYTES 2048

/* --- parsing ---------------------------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Printable text for error messages: at most 40 bytes, controls as '?'. */
static void show(char *out, size_t outlen, const char *s, size_t len)
{
    size_t n = len > 40 ? 40 : len, o = 0;
    for (size_t i = 0; i < n && o + 4 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > n && o + 4 < outlen)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = 0;
}

static int parse_request_line(const char *p, size_t n, sb_demo_request *req, char *errmsg)
{
    char s[64];
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i > 16 || i >= n || p[i] != ' ') {
        show(s, sizeof s, p, n);
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "request line '%s': expected METHOD /path HTTP/1.1 (method: a token of "
                         "at most 16 characters, then one space)",
                         s);
    }
    req->method_s = p;
    req->method_len = i;
    req->method = i == 3 && !memcmp(p, "GET", 3)       ? SB_DEMO_GET
                  : i == 4 && !memcmp(p, "POST", 4)    ? SB_DEMO_POST
                  : i == 7 && !memcmp(p, "OPTIONS", 7) ? SB_DEMO_OPTIONS
                                                       : SB_DEMO_OTHER;
    size_t t = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "request line: byte 0x%02x at column %zu of the target is not "
                             "allowed (percent-encode it)",
                             c, i + 1);
        i++;
    }
    if (i == t || p[t] != '/')
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "request line: the target must start with '/' (column %zu)", t + 1);
    if (i - t > MAX_TARGET_BYTES)
        return sb_seterr(errmsg, SB_ETOOBIG, "request line: target longer than %d bytes",
                         MAX_TARGET_BYTES);
    req->path = p + t;
    const char *q = memchr(p + t, '?', i - t);
    req->path_len = q ? (size_t)(q - (p + t)) : i - t;
    if (i >= n || n - i - 1 != 8 ||
        (memcmp(p + i + 1, "HTTP/1.1", 8) && memcmp(p + i + 1, "HTTP/1.0", 8))) {
        show(s, sizeof s, i < n ? p + i + 1 : "", i < n ? n - i - 1 : 0);
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "request line: expected ' HTTP/1.1' after the target, got '%s'", s);
    }
    return 0;
}

/* Keeps the value v[0..vlen) of header name[0..name_len) in req when it is
 * one of those the cross-site check reads; a second one is an error (two
 * Origins would leave the check guessing). */
static int keep_header(const char *name, size_t name_len, const char *v, size_t vlen, int lineno,
                       sb_demo_request *req, char *errmsg)
{
    static const struct {
        const char *name;
        size_t val, len; /* offsets of the value and length fields */
    } kept[] = {
        {"Host", offsetof(sb_demo_request, host), offsetof(sb_demo_request, host_len)},
        {"Origin", offsetof(sb_demo_request, origin), offsetof(sb_demo_request, origin_len)},
        {"Content-Type", offsetof(sb_demo_request, content_type),
         offsetof(sb_demo_request, content_type_len)},
    };
    for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++) {
        if (name_len != strlen(kept[k].name) || strncasecmp(name, kept[k].name, name_len))
            continue;
        const char **val = (const char **)((char *)req + kept[k].val);
        if (*val)
            return sb_seterr(errmsg, SB_EBADINPUT, "line %d: a second %s header", lineno,
                             kept[k].name);
        *val = v;
        *(size_t *)((char *)req + kept[k].len) = vlen;
    }
    return 0;
}

/* One header line p[0..n) (no CRLF), line number lineno. */
static int parse_header(const char *p, size_t n, int lineno, sb_demo_request *req,
                        long *content_length, char *errmsg)
{
    if (p[0] == ' ' || p[0] == '\t')
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "line %d: header continuation lines (obsolete folding) are not accepted",
                         lineno);
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':') {
        char s[64];
        show(s, sizeof s, p, n);
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "line %d: '%s' is not a header (expected name: value)", lineno, s);
    }
    size_t name_len = i++;
    for (size_t k = i; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "line %d: control character 0x%02x in the value of header %.*s",
                             lineno, c, (int)name_len, p);
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    int rv = keep_header(p, name_len, p + i, e - i, lineno, req, errmsg);
    if (rv)
        return rv;
    if (name_len == 17 && !strncasecmp(p, "Transfer-Encoding", 17))
        return sb_seterr(errmsg, SB_EUNSUPPORTED,
                         "line %d: Transfer-Encoding is not supported; send the body with "
                         "Content-Length",
                         lineno);
    if (name_len == 14 && !strncasecmp(p, "Content-Length", 14)) {
        if (*content_length >= 0)
            return sb_seterr(errmsg, SB_EBADINPUT, "line %d: a second Content-Length header",
                             lineno);
        if (e == i || e - i > 9)
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "line %d: Content-Length must be a decimal number of bytes", lineno);
        long v = 0;
        for (size_t k = i; k < e; k++) {
            if (p[k] < '0' || p[k] > '9')
                return sb_seterr(errmsg, SB_EBADINPUT,
                                 "line %d: Content-Length must be a decimal number of bytes",
                                 lineno);
            v = v * 10 + (p[k] - '0');
        }
        if (v > SB_DEMO_MAX_BODY_BYTES)
            return sb_seterr(errmsg, SB_ETOOBIG,
                             "request body of %ld bytes is over the limit of %d", v,
                             SB_DEMO_MAX_BODY_BYTES);
        *content_length = v;
    }
    return 0;
}

int sb_demo_parse_request(const char *buf, size_t len, sb_demo_request *req, char *errmsg)
{
    memset(req, 0, sizeof *req);
    size_t lim = len < SB_DEMO_MAX_HEAD_BYTES ? len : SB_DEMO_MAX_HEAD_BYTES;
    const char *end = lim >= 4 ? memmem(buf, lim, "\r\n\r\n", 4) : NULL;
    if (!end) {
        if (len >= SB_DEMO_MAX_HEAD_BYTES)
            return sb_seterr(errmsg, SB_ETOOBIG, "request head (line and headers) over %d bytes",
                             SB_DEMO_MAX_HEAD_BYTES);
        /* a bad request line is reported as soon as it is complete */
        const char *eol = memchr(buf, '\n', len);
        if (eol) {
            size_t n = (size_t)(eol - buf);
            if (n == 0 || buf[n - 1] != '\r')
                return sb_seterr(errmsg, SB_EBADINPUT, "line 1: lines must end with CRLF");
            int rv = parse_request_line(buf, n - 1, req, errmsg);
            memset(req, 0, sizeof *req);
            if (rv)
                return rv;
        }
        return 1;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    long content_length = -1;
    const char *p = buf;
    int lineno = 1, rv;
    for (;;) {
        const char *eol = memmem(p, (size_t)(buf + head_len - p), "\r\n", 2);
        size_t n = (size_t)(eol - p);
        const char *lf = memchr(p, '\n', n);
        const char *cr = memchr(p, '\r', n);
        if (lf || cr)
            return sb_seterr(errmsg, SB_EBADINPUT, "line %d: a bare %s (lines end with CRLF)",
                             lineno, lf ? "LF" : "CR");
        if (lineno == 1) {
            if ((rv = parse_request_line(p, n, req, errmsg)))
                return rv;
        } else if (n == 0) {
            break;
        } else if (lineno > MAX_HEADERS + 1) {
            return sb_seterr(errmsg, SB_EBADINPUT, "more than %d header lines", MAX_HEADERS);
        } else if ((rv = parse_header(p, n, lineno, req, &content_length, errmsg))) {
            return rv;
        }
        p = eol + 2;
        lineno++;
    }
    size_t body_len = content_length > 0 ? (size_t)content_length : 0;
    if (len - head_len < body_len)
        return 1;
    req->body = buf + head_len;
    req->body_len = body_len;
    req->total_len = head_len + body_len;
    return 0;
}

/* --- routing ---------------------------------------------------------------- */

static int path_is(const sb_demo_request *req, const char *s)
{
    return req->path_len == strlen(s) && !memcmp(req->path, s, req->path_len);
}

static int need_method(const sb_demo_request *req, int method, const char *what, char *errmsg)
{
    if (req->method == method)
        return 0;
    return sb_seterr(errmsg, SB_EMETHOD, "%s accepts %s, not %.*s", what,
                     method == SB_DEMO_GET ? "GET" : "POST", (int)req->method_len, req->method_s);
}

/* The body as a JSON object; an empty body is an empty object. */
static int body_object(const sb_demo_request *req, json_t **out, char *errmsg)
{
    size_t i = 0;
    while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
        i++;
    if (i == req->body_len) {
        *out = json_object();
        return *out ? 0 : SB_ENOMEM;
    }
    json_error_t jerr;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return sb_seterr(errmsg, SB_EBADINPUT, "body: invalid JSON at line %d, column %d: %s",
                         jerr.line, jerr.column, jerr.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return sb_seterr(errmsg, SB_EBADINPUT, "body: expected a JSON object");
    }
    *out = o;
    return 0;
}

/* Rejects keys other than allowed (NULL-terminated). */
static int only_keys(json_t *o, const char *const *allowed, char *errmsg)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= !strcmp(k, allowed[i]);
        if (!ok) {
            char s[64];
            show(s, sizeof s, k, strlen(k));
            char list[128] = "";
            size_t o2 = 0;
            for (int i = 0; allowed[i] && o2 < sizeof list; i++)
                o2 += (size_t)snprintf(list + o2, sizeof list - o2, "%s\"%s\"", i ? ", " : "",
                                       allowed[i]);
            return sb_seterr(errmsg, SB_EBADINPUT, "body: unknown key \"%s\" (expected %s)", s,
                             allowed[0] ? list : "an empty object");
        }
    }
    return 0;
}

/* The consistency level under key k of o, if present, into out. */
static int cl_key(json_t *o, const char *k, int is_write, char *out, size_t outlen, char *errmsg)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    int cl = 0;
    if (!s || sb_consistency_parse(s, json_string_length(v), &cl) != 0) {
        char shown[64] = "";
        if (s)
            show(shown, sizeof shown, s, json_string_length(v));
        return sb_seterr(
            errmsg, SB_EBADINPUT,
            "body: \"%s\": %s%s%s is not a consistency level (ONE, TWO, THREE, QUORUM, "
            "ALL, LOCAL_ONE, LOCAL_QUORUM, EACH_QUORUM%s)",
            k, s ? "'" : "a non-string", s ? shown : "", s ? "'" : "", is_write ? ", ANY" : "");
    }
    if ((is_write && (cl == SB_CL_SERIAL || cl == SB_CL_LOCAL_SERIAL)) ||
        (!is_write && (cl == SB_CL_ANY || cl == SB_CL_SERIAL || cl == SB_CL_LOCAL_SERIAL ||
                       cl == SB_CL_EACH_QUORUM)))
        return sb_seterr(errmsg, SB_EBADINPUT, "body: \"%s\": %s is not allowed for %s", k,
                         sb_consistency_name(cl), is_write ? "writes" : "reads");
    snprintf(out, outlen, "%s", sb_consistency_name(cl));
    return 0;
}

static int route_node(const sb_demo_request *req, int nnodes, sb_demo_action *act, char *errmsg)
{
    static const char prefix[] = "/api/v1/demo/nodes/";
    const char *p = req->path + sizeof prefix - 1;
    size_t n = req->path_len - (sizeof prefix - 1);
    const char *slash = memchr(p, '/', n);
    if (!slash)
        return sb_seterr(errmsg, SB_ENOTFOUND,
                         "no such endpoint: use /api/v1/demo/nodes/<i>/stop or .../start");
    size_t il = (size_t)(slash - p), rest = n - il - 1;
    const char *verb = slash + 1;
    int stop = rest == 4 && !memcmp(verb, "stop", 4);
    if (!stop && !(rest == 5 && !memcmp(verb, "start", 5))) {
        char s[64];
        show(s, sizeof s, verb, rest);
        return sb_seterr(errmsg, SB_ENOTFOUND,
                         "no such endpoint: '%s' after the node index (use stop or start)", s);
    }
    int idx = 0, digits = il > 0 && il <= 6;
    for (size_t k = 0; k < il && digits; k++) {
        digits = p[k] >= '0' && p[k] <= '9';
        idx = idx * 10 + (p[k] - '0');
    }
    if (!digits) {
        char s[64];
        show(s, sizeof s, p, il);
        return sb_seterr(errmsg, SB_EBADINPUT, "node index '%s' is not a number (nodes are 1..%d)",
                         s, nnodes);
    }
    if (idx < 1 || idx > nnodes)
        return sb_seterr(errmsg, SB_ENOTFOUND, "no node %d: the demo runs nodes 1..%d", idx,
                         nnodes);
    if (need_method(req, SB_DEMO_POST,
                    stop ? "/api/v1/demo/nodes/<i>/stop" : "/api/v1/demo/nodes/<i>/start", errmsg))
        return SB_EMETHOD;
    json_t *o = NULL;
    int rv = body_object(req, &o, errmsg);
    if (rv)
        return rv;
    static const char *const stop_keys[] = {"signal", NULL}, *const no_keys[] = {NULL};
    rv = only_keys(o, stop ? stop_keys : no_keys, errmsg);
    act->kind = stop ? SB_DEMO_ACT_STOP : SB_DEMO_ACT_START;
    act->node = idx;
    act->sig = SIGKILL;
    json_t *sig = json_object_get(o, "signal");
    if (!rv && sig) {
        const char *s = json_string_value(sig);
        if (s && (!strcasecmp(s, "TERM") || !strcasecmp(s, "SIGTERM")))
            act->sig = SIGTERM;
        else if (!s || (strcasecmp(s, "KILL") && strcasecmp(s, "SIGKILL")))
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "body: \"signal\" must be \"KILL\" (the default) or \"TERM\"");
    }
    json_decref(o);
    return rv;
}

/* {"minority": [i, ...]}: the nodes on one side, 1-based, distinct; the
 * others are the other side. */
static int route_partition(const sb_demo_request *req, int nnodes, sb_demo_action *act,
                           char *errmsg)
{
    json_t *o = NULL;
    int rv = body_object(req, &o, errmsg);
    if (rv)
        return rv;
    static const char *const keys[] = {"minority", NULL};
    act->kind = SB_DEMO_ACT_PARTITION;
    json_t *m = json_object_get(o, "minority");
    if ((rv = only_keys(o, keys, errmsg)) == 0 && !json_is_array(m))
        rv = sb_seterr(errmsg, SB_EBADINPUT,
                       "body: give \"minority\", the nodes of one side, e.g. {\"minority\": [3]}");
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(m, i, v)
    {
        if (rv)
            break;
        json_int_t k = json_is_integer(v) ? json_integer_value(v) : 0;
        if (k < 1 || k > nnodes || k > SB_DEMO_MAX_NODES)
            rv = sb_seterr(errmsg, SB_EBADINPUT, "minority[%zu]: not a node (nodes are 1..%d)", i,
                           nnodes);
        else if (act->side[k - 1])
            rv = sb_seterr(errmsg, SB_EBADINPUT, "minority[%zu]: node %d named twice", i, (int)k);
        else
            act->side[k - 1] = 1, n++;
    }
    if (!rv && (n == 0 || (int)n >= nnodes))
        rv = sb_seterr(errmsg, SB_EBADINPUT, "minority: both sides need a node (%zu of %d named)",
                       n, nnodes);
    json_decref(o);
    return rv;
}

int sb_demo_route(const sb_demo_request *req, int nnodes, sb_demo_action *act, char *errmsg)
{
    memset(act, 0, sizeof *act);
    if (req->method == SB_DEMO_OPTIONS) {
        act->kind = SB_DEMO_ACT_OPTIONS;
        return 0;
    }
    if (path_is(req, "/api/v1/demo")) {
        if (need_method(req, SB_DEMO_GET, "/api/v1/demo", errmsg))
            return SB_EMETHOD;
        act->kind = SB_DEMO_ACT_GET;
        return 0;
    }
    if (path_is(req, "/api/v1/demo/consistency")) {
        if (need_method(req, SB_DEMO_POST, "/api/v1/demo/consistency", errmsg))
            return SB_EMETHOD;
        json_t *o = NULL;
        int rv = body_object(req, &o, errmsg);
        if (rv)
            return rv;
        static const char *const keys[] = {"write", "read", NULL};
        if (!(rv = only_keys(o, keys, errmsg)) &&
            !(rv = cl_key(o, "write", 1, act->write_cl, sizeof act->write_cl, errmsg)) &&
            !(rv = cl_key(o, "read", 0, act->read_cl, sizeof act->read_cl, errmsg)) &&
            !act->write_cl[0] && !act->read_cl[0])
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "body: give \"write\" and/or \"read\", e.g. {\"write\": \"ONE\"}");
        json_decref(o);
        act->kind = SB_DEMO_ACT_CONSISTENCY;
        return rv;
    }
    if (path_is(req, "/api/v1/demo/partition")) {
        if (need_method(req, SB_DEMO_POST, "/api/v1/demo/partition", errmsg))
            return SB_EMETHOD;
        return route_partition(req, nnodes, act, errmsg);
    }
    if (path_is(req, "/api/v1/demo/heal")) {
        if (need_method(req, SB_DEMO_POST, "/api/v1/demo/heal", errmsg))
            return SB_EMETHOD;
        json_t *o = NULL;
        int rv = body_object(req, &o, errmsg);
        static const char *const no_keys[] = {NULL};
        if (!rv)
            rv = only_keys(o, no_keys, errmsg);
        json_decref(o);
        act->kind = SB_DEMO_ACT_HEAL;
        return rv;
    }
    static const char prefix[] = "/api/v1/demo/nodes/";
    if (req->path_len > sizeof prefix - 1 && !memcmp(req->path, prefix, sizeof prefix - 1))
        return route_node(req, nnodes, act, errmsg);
    char s[64];
    show(s, sizeof s, req->path, req->path_len);
    return sb_seterr(errmsg, SB_ENOTFOUND,
                     "no such endpoint: %s (the demo serves /api/v1/demo, "
                     "/api/v1/demo/nodes/<i>/stop|start, /api/v1/demo/consistency, "
                     "/api/v1/demo/partition and /api/v1/demo/heal)",
                     s);
}

/* --- cross-site requests ---------------------------------------------------- */

int sb_demo_cross_site(const sb_demo_request *req, const sb_ep *trusted, int neps, int *cors,
                       char *errmsg)
{
    *cors = 0;
    if (req->origin) {
        sb_origin o;
        int ok = sb_origin_parse(req->origin, req->origin_len, &o) == 0 &&
                 sb_origin_trusted(&o, req->host, req->host_len, trusted, neps, NULL);
        if (ok) {
            *cors = 1;
        } else if (req->method != SB_DEMO_GET) {
            char s[64];
            show(s, sizeof s, req->origin, req->origin_len);
            sb_seterr(errmsg, SB_EINVAL,
                      "cross-origin request from %s refused: the demo control server takes "
                      "requests only from the demo's dashboard (its nodes' addresses)",
                      s);
            return 403;
        }
    }
    if (req->method == SB_DEMO_POST && req->content_type &&
        !sb_content_type_is_json(req->content_type, req->content_type_len)) {
        char s[64];
        show(s, sizeof s, req->content_type, req->content_type_len);
        sb_seterr(errmsg, SB_EINVAL,
                  "the body must be JSON: send Content-Type: application/json (curl: -H "
                  "'Content-Type: application/json'), not '%s'",
                  s);
        return 415;
    }
    return 0;
}

/* --- the server ------------------------------------------------------------- */

typedef struct ctl_conn {
    int fd; /* -1 = free slot */
    size_t len;
    double deadline_s;
    char buf[SB_DEMO_MAX_HEAD_BYTES + SB_DEMO_MAX_BODY_BYTES];
} ctl_conn;

struct sb_demo_ctl {
    int lfd;
    int nnodes;
    sb_demo_handler fn;
    void *arg;
    unsigned long requests;
    sb_ep trusted[SB_DEMO_MAX_TRUSTED];
    int ntrusted;
    ctl_conn conns[SB_DEMO_MAX_CONNS];
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int sb_demo_ctl_open(sb_demo_ctl **out, const char *hostport, int nnodes, sb_demo_handler fn,
                     void *arg, char *errmsg)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    size_t hl = colon ? (size_t)(colon - hostport) : 0;
    if (!colon || hl == 0 || hl >= sizeof host || !colon[1])
        return sb_seterr(errmsg, SB_EINVAL, "--control: '%s' is not HOST:PORT", hostport);
    memcpy(host, hostport, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gr != 0)
        return sb_seterr(errmsg, SB_EINVAL, "--control: cannot resolve '%s': %s", hostport,
                         gai_strerror(gr));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return sb_seterr(errmsg, SB_EIO, "control server: cannot listen on %s: %s", hostport,
                         strerror(e));
    }
    freeaddrinfo(ai);
    sb_demo_ctl *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    }
    c->lfd = fd;
    c->nnodes = nnodes;
    c->fn = fn;
    c->arg = arg;
    for (int i = 0; i < SB_DEMO_MAX_CONNS; i++)
        c->conns[i].fd = -1;
    *out = c;
    return 0;
}

static void conn_close(ctl_conn *k)
{
    if (k->fd < 0)
        return;
    /* FIN first, then drop what the client may still send, so that the
     * answer is not lost to a reset */
    shutdown(k->fd, SHUT_WR);
    char junk[4096];
    while (recv(k->fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    close(k->fd);
    k->fd = -1;
    k->len = 0;
}

void sb_demo_ctl_free(sb_demo_ctl *c)
{
    if (!c)
        return;
    for (int i = 0; i < SB_DEMO_MAX_CONNS; i++)
        conn_close(&c->conns[i]);
    close(c->lfd);
    free(c);
}

int sb_demo_ctl_trust(sb_demo_ctl *c, const char *hostport, char *errmsg)
{
    if (c->ntrusted == SB_DEMO_MAX_TRUSTED)
        return sb_seterr(errmsg, SB_ETOOBIG, "more than %d trusted addresses", SB_DEMO_MAX_TRUSTED);
    if (sb_ep_parse(hostport, 0, &c->trusted[c->ntrusted]) != 0)
        return sb_seterr(errmsg, SB_EINVAL, "'%s' is not an IP HOST:PORT", hostport);
    c->ntrusted++;
    return 0;
}

int sb_demo_ctl_pollfds(sb_demo_ctl *c, struct pollfd *fds, int max)
{
    int n = 0;
    if (n < max)
        fds[n++] = (struct pollfd){.fd = c->lfd, .events = POLLIN};
    for (int i = 0; i < SB_DEMO_MAX_CONNS && n < max; i++)
        if (c->conns[i].fd >= 0)
            fds[n++] = (struct pollfd){.fd = c->conns[i].fd, .events = POLLIN};
    return n;
}

unsigned long sb_demo_ctl_requests(const sb_demo_ctl *c)
{
    return c->requests;
}

int sb_demo_ctl_port(const sb_demo_ctl *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(c->lfd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Writes all of data, waiting at most 1 s for socket space in total. */
static void send_all(int fd, const char *data, size_t len)
{
    double deadline = mono_s() + 1;
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return;
        int left = (int)((deadline - mono_s()) * 1000);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return;
    }
}

/* A request's Origin to name in Access-Control-Allow-Origin: the value
 * itself (already checked by sb_demo_cross_site) or NULL. */
typedef struct acao {
    const char *origin;
    size_t len;
} acao;

static void respond(int fd, const acao *allow, int status, const char *body, size_t body_len)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_printf(&out,
                  "HTTP/1.1 %d %s\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n"
                  "Vary: Origin\r\n",
                  status, sb_http_reason(status));
    if (allow && allow->origin)
        sb_buf_printf(&out, "Access-Control-Allow-Origin: %.*s\r\n", (int)allow->len,
                      allow->origin);
    if (status == 204)
        sb_buf_printf(&out, "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                            "Access-Control-Allow-Headers: Content-Type\r\n"
                            "Access-Control-Max-Age: 600\r\n"
                            "Content-Length: 0\r\n\r\n");
    else
        sb_buf_printf(&out,
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      body_len);
    if (status != 204)
        sb_buf_append(&out, body, body_len);
    if (out.data)
        send_all(fd, (const char *)out.data, out.len);
    sb_buf_free(&out);
}

/* Answers with an explicit status and error code. */
static void respond_status(int fd, const acao *allow, int status, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *s = e ? json_dumps(e, 0) : NULL;
    respond(fd, allow, status, s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(e);
}

/* Answers an SB_E* code with the status and code of util/err.h's table. */
static void respond_error(int fd, const acao *allow, int rv, const char *msg)
{
    respond_status(fd, allow, sb_err_http_status(rv), sb_err_http_code(rv), msg);
}

/* Handles a complete request in k. */
static void answer(sb_demo_ctl *c, ctl_conn *k, const sb_demo_request *req)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_action act;
    c->requests++;
    int cors = 0;
    int refuse = sb_demo_cross_site(req, c->trusted, c->ntrusted, &cors, errmsg);
    acao allow = {cors ? req->origin : NULL, req->origin_len};
    if (refuse) {
        respond_status(k->fd, &allow, refuse,
                       refuse == 403 ? "forbidden" : "unsupported_media_type", errmsg);
        return;
    }
    int rv = sb_demo_route(req, c->nnodes, &act, errmsg);
    if (rv) {
        respond_error(k->fd, &allow, rv, errmsg);
        return;
    }
    if (act.kind == SB_DEMO_ACT_OPTIONS) {
        respond(k->fd, &allow, 204, "", 0);
        return;
    }
    sb_buf out;
    sb_buf_init(&out);
    rv = c->fn(c->arg, &act, &out, errmsg);
    if (rv)
        respond_error(k->fd, &allow, rv, errmsg[0] ? errmsg : sb_strerror(rv));
    else
        respond(k->fd, &allow, 200, out.data ? (const char *)out.data : "{}",
                out.data ? out.len : 2);
    sb_buf_free(&out);
}

static void conn_read(sb_demo_ctl *c, ctl_conn *k);

static void accept_all(sb_demo_ctl *c)
{
    for (;;) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        ctl_conn *k = NULL;
        for (int i = 0; i < SB_DEMO_MAX_CONNS && !k; i++)
            if (c->conns[i].fd < 0)
                k = &c->conns[i];
        if (!k) {
            respond_error(fd, NULL, SB_EOVERLOADED,
                          "too many open connections to the demo control");
            ctl_conn tmp = {.fd = fd};
            conn_close(&tmp);
            continue;
        }
        k->fd = fd;
        k->len = 0;
        k->deadline_s = mono_s() + SB_DEMO_CONN_TIMEOUT_MS / 1000.0;
        conn_read(c, k); /* the request is often there already */
    }
}

/* Reads what k's client sent; answers and closes once complete. */
static void conn_read(sb_demo_ctl *c, ctl_conn *k)
{
    for (;;) {
        if (k->len == sizeof k->buf)
            break;
        ssize_t r = recv(k->fd, k->buf + k->len, sizeof k->buf - k->len, 0);
        if (r > 0) {
            k->len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            /* the client went away (or sent half a request and closed) */
            conn_close(k);
            return;
        }
        break;
    }
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_request req;
    int rv = sb_demo_parse_request(k->buf, k->len, &req, errmsg);
    if (rv == 1 && k->len < sizeof k->buf)
        return;
    if (rv == 0)
        answer(c, k, &req);
    else
        respond_error(k->fd, NULL, rv == 1 ? SB_ETOOBIG : rv,
                      rv == 1 ? "request too large" : errmsg);
    conn_close(k);
}

void sb_demo_ctl_service(sb_demo_ctl *c, const struct pollfd *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == c->lfd) {
            accept_all(c);
            continue;
        }
        for (int j = 0; j < SB_DEMO_MAX_CONNS; j++)
            if (c->conns[j].fd == fds[i].fd) {
                conn_read(c, &c->conns[j]);
                break;
            }
    }
    double now = mono_s();
    for (int j = 0; j < SB_DEMO_MAX_CONNS; j++) {
        ctl_conn *k = &c->conns[j];
        if (k->fd >= 0 && now >= k->deadline_s) {
            /* 408, not the table's 504 for SB_ETIMEOUT: here the client was
             * slow to send, no replica was slow to answer. */
            respond_status(k->fd, NULL, 408, "request_timeout",
                           "the request did not arrive in time (5 s)");
            conn_close(k);
        }
    }
}
