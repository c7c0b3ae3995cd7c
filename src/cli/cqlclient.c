/*
 * Blocking CQL native protocol v4 client (see cqlclient.h for the design).
 */
#include "cli/cqlclient.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cqlproto/frame.h"
#include "util/err.h"

void sb_cqlc_result_init(sb_cqlc_result *r)
{
    memset(r, 0, sizeof *r);
    sb_buf_init(&r->body);
    sb_buf_init(&r->arena);
}

void sb_cqlc_result_free(sb_cqlc_result *r)
{
    free(r->cols);
    free(r->vals);
    sb_buf_free(&r->body);
    sb_buf_free(&r->arena);
    sb_cqlc_result_init(r);
}

const char *sb_cqlc_error_class(int code)
{
    switch (code) {
    case 0x000A:
        return "ProtocolError";
    case 0x0100:
        return "AuthenticationFailed";
    case 0x1000:
        return "Unavailable";
    case 0x1001:
        return "Overloaded";
    case 0x1002:
        return "IsBootstrapping";
    case 0x1003:
        return "TruncateError";
    case 0x1100:
        return "WriteTimeout";
    case 0x1200:
        return "ReadTimeout";
    case 0x1300:
        return "ReadFailure";
    case 0x1400:
        return "FunctionFailure";
    case 0x1500:
        return "WriteFailure";
    case 0x2000:
        return "SyntaxException";
    case 0x2100:
        return "Unauthorized";
    case 0x2200:
        return "InvalidRequest";
    case 0x2300:
        return "ConfigurationException";
    case 0x2400:
        return "AlreadyExists";
    case 0x2500:
        return "Unprepared";
    default:
        return "ServerError";
    }
}

/* --- encoding ------------------------------------------------------------ */

static size_t req_begin(sb_buf *b, int16_t stream, int opcode)
{
    size_t off = b->len;
    uint8_t h[9] = {SB_CQLPROTO_VERSION,
                    0,
                    (uint8_t)((uint16_t)stream >> 8),
                    (uint8_t)stream,
                    (uint8_t)opcode,
                    0,
                    0,
                    0,
                    0};
    if (sb_buf_append(b, h, sizeof h))
        return (size_t)-1;
    return off;
}

static int req_end(sb_buf *b, size_t off, int rc)
{
    if (off == (size_t)-1)
        return SB_ENOMEM;
    if (rc) {
        b->len = off;
        return SB_ENOMEM;
    }
    uint32_t n = (uint32_t)(b->len - off - 9);
    b->data[off + 5] = (uint8_t)(n >> 24);
    b->data[off + 6] = (uint8_t)(n >> 16);
    b->data[off + 7] = (uint8_t)(n >> 8);
    b->data[off + 8] = (uint8_t)n;
    return 0;
}

int sb_cqlc_put_startup(sb_buf *b, int16_t stream)
{
    size_t off = req_begin(b, stream, SB_CQLOP_STARTUP);
    int rc = off == (size_t)-1;
    if (!rc) {
        rc |= sb_buf_put_u16be(b, 1);
        rc |= sb_cql_put_string(b, "CQL_VERSION");
        rc |= sb_cql_put_string(b, "3.4.5");
    }
    return req_end(b, off, rc);
}

int sb_cqlc_put_query(sb_buf *b, int16_t stream, const char *q, size_t qlen, int consistency,
                      int32_t page_size, const uint8_t *paging_state, int32_t ps_len)
{
    size_t off = req_begin(b, stream, SB_CQLOP_QUERY);
    int rc = off == (size_t)-1;
    if (!rc) {
        int flags = 0;
        if (page_size > 0)
            flags |= SB_CQLQ_PAGE_SIZE;
        if (paging_state && page_size > 0)
            flags |= SB_CQLQ_PAGING_STATE;
        rc |= sb_cql_put_long_string(b, q, qlen);
        rc |= sb_buf_put_u16be(b, (uint16_t)consistency);
        rc |= sb_buf_putc(b, (uint8_t)flags);
        if (flags & SB_CQLQ_PAGE_SIZE)
            rc |= sb_buf_put_u32be(b, (uint32_t)page_size);
        if (flags & SB_CQLQ_PAGING_STATE)
            rc |= sb_cql_put_bytes(b, paging_state, ps_len);
    }
    return req_end(b, off, rc);
}

/* --- decoding ------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p, *end, *start;
    char *errmsg;
    int failed;
} rd;

static int need(rd *r, size_t n, const char *what)
{
    if (r->failed)
        return 0;
    if ((size_t)(r->end - r->p) < n) {
        sb_seterr(r->errmsg, SB_EBADINPUT,
                  "malformed response: expected %zu bytes for %s at offset %zu, %zu remain", n,
                  what, (size_t)(r->p - r->start), (size_t)(r->end - r->p));
        r->failed = 1;
        return 0;
    }
    return 1;
}

static uint16_t rd_short(rd *r, const char *what)
{
    if (!need(r, 2, what))
        return 0;
    uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

static int32_t rd_int(rd *r, const char *what)
{
    if (!need(r, 4, what))
        return 0;
    uint32_t v =
        (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return (int32_t)v;
}

/* [string] copied into dst (truncated to size). */
static void rd_string_to(rd *r, char *dst, size_t size, const char *what)
{
    uint16_t n = rd_short(r, what);
    if (!need(r, n, what)) {
        if (size)
            dst[0] = 0;
        return;
    }
    size_t k = n < size ? n : size - 1;
    memcpy(dst, r->p, k);
    dst[k] = 0;
    r->p += n;
}

/* [string] copied into the arena; returns its offset (or 0 on failure). */
static size_t rd_string_arena(rd *r, sb_buf *arena, const char *what)
{
    uint16_t n = rd_short(r, what);
    if (!need(r, n, what))
        return 0;
    size_t off = arena->len;
    if (sb_buf_append(arena, r->p, n) || sb_buf_putc(arena, 0)) {
        sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
        r->failed = 1;
        return 0;
    }
    r->p += n;
    return off;
}

static sb_value rd_value(rd *r, const char *what)
{
    int32_t n = rd_int(r, what);
    if (r->failed || n < 0)
        return SB_VALUE_NULL;
    if (!need(r, (size_t)n, what))
        return SB_VALUE_NULL;
    sb_value v = {r->p, n};
    r->p += n;
    return v;
}

static int scalar_id(int id)
{
    return (id >= 0x01 && id <= 0x14 && id != 0x05 && id != 0x0A);
}

/* Reads an [option] type. Types sb_type cannot hold (custom, udt, tuple,
 * nested collections, counter, duration) are skipped over and flagged raw. */
static void rd_option(rd *r, sb_type *t, int *raw, int depth)
{
    memset(t, 0, sizeof *t);
    uint16_t id = rd_short(r, "type id");
    if (r->failed)
        return;
    if (depth > 32) {
        sb_seterr(r->errmsg, SB_EBADINPUT, "malformed response: types nested too deeply");
        r->failed = 1;
        return;
    }
    t->id = (uint8_t)id;
    if (id == 0x0000) { /* custom: [string] class */
        char cls[256];
        rd_string_to(r, cls, sizeof cls, "custom type class");
        *raw = 1;
    } else if (id == SB_TYPE_LIST || id == SB_TYPE_SET) {
        sb_type e;
        int eraw = 0;
        rd_option(r, &e, &eraw, depth + 1);
        t->a = e.id;
        if (eraw || !scalar_id(e.id))
            *raw = 1;
    } else if (id == SB_TYPE_MAP) {
        sb_type k, v;
        int kraw = 0, vraw = 0;
        rd_option(r, &k, &kraw, depth + 1);
        rd_option(r, &v, &vraw, depth + 1);
        t->a = k.id;
        t->b = v.id;
        if (kraw || vraw || !scalar_id(k.id) || !scalar_id(v.id))
            *raw = 1;
    } else if (id == 0x30) { /* UDT: ks, name, n * (field name, type) */
        char s[256];
        rd_string_to(r, s, sizeof s, "udt keyspace");
        rd_string_to(r, s, sizeof s, "udt name");
        uint16_t n = rd_short(r, "udt field count");
        for (int i = 0; i < n && !r->failed; i++) {
            sb_type f;
            int fraw = 0;
            rd_string_to(r, s, sizeof s, "udt field name");
            rd_option(r, &f, &fraw, depth + 1);
        }
        *raw = 1;
    } else if (id == 0x31) { /* tuple */
        uint16_t n = rd_short(r, "tuple size");
        for (int i = 0; i < n && !r->failed; i++) {
            sb_type f;
            int fraw = 0;
            rd_option(r, &f, &fraw, depth + 1);
        }
        *raw = 1;
    } else if (!scalar_id(id)) {
        *raw = 1;
    }
    if (*raw)
        *t = (sb_type){.id = SB_TYPE_BLOB};
}

static int parse_rows(rd *r, sb_cqlc_result *res)
{
    int32_t flags = rd_int(r, "rows metadata flags");
    int32_t ncols = rd_int(r, "column count");
    if (r->failed)
        return SB_EBADINPUT;
    if (ncols < 0 || ncols > 65535)
        return sb_seterr(r->errmsg, SB_EBADINPUT, "malformed response: column count %d",
                         (int)ncols);
    if (flags & 0x0002) {
        sb_value ps = rd_value(r, "paging state");
        if (r->failed)
            return SB_EBADINPUT;
        if (ps.len >= 0) {
            res->has_more = 1;
            res->paging_state = ps.p;
            res->paging_state_len = ps.len;
        }
    }
    if (flags & 0x0004)
        return sb_seterr(r->errmsg, SB_EBADINPUT,
                         "malformed response: rows without metadata (not requested)");
    res->ncols = ncols;
    res->cols = calloc((size_t)ncols + 1, sizeof *res->cols);
    if (!res->cols)
        return sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
    size_t gks = 0, gtab = 0;
    int global = flags & 0x0001;
    if (global) {
        gks = rd_string_arena(r, &res->arena, "keyspace");
        gtab = rd_string_arena(r, &res->arena, "table");
    }
    /* Offsets first: the arena may move while it grows. */
    size_t(*offs)[3] = calloc((size_t)ncols + 1, sizeof *offs);
    if (!offs)
        return sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
    for (int i = 0; i < ncols && !r->failed; i++) {
        offs[i][0] = global ? gks : rd_string_arena(r, &res->arena, "keyspace");
        offs[i][1] = global ? gtab : rd_string_arena(r, &res->arena, "table");
        offs[i][2] = rd_string_arena(r, &res->arena, "column name");
        rd_option(r, &res->cols[i].type, &res->cols[i].raw, 0);
    }
    if (!r->failed) {
        for (int i = 0; i < ncols; i++) {
            res->cols[i].ks = (const char *)res->arena.data + offs[i][0];
            res->cols[i].table = (const char *)res->arena.data + offs[i][1];
            res->cols[i].name = (const char *)res->arena.data + offs[i][2];
        }
    }
    free(offs);
    int32_t nrows = rd_int(r, "row count");
    if (r->failed)
        return SB_EBADINPUT;
    /* Each value takes at least 4 bytes: bound the allocation by the body. */
    if (nrows < 0 || (ncols > 0 && (size_t)nrows * (size_t)ncols > (size_t)(r->end - r->p) / 4))
        return sb_seterr(r->errmsg, SB_EBADINPUT,
                         "malformed response: %d rows of %d columns do not fit in %zu bytes",
                         (int)nrows, (int)ncols, (size_t)(r->end - r->p));
    res->nrows = nrows;
    res->vals = calloc((size_t)nrows * (size_t)ncols + 1, sizeof *res->vals);
    if (!res->vals)
        return sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)nrows * (size_t)ncols && !r->failed; i++)
        res->vals[i] = rd_value(r, "cell value");
    return r->failed ? SB_EBADINPUT : 0;
}

static int parse_result(rd *r, sb_cqlc_result *res)
{
    int32_t kind = rd_int(r, "result kind");
    if (r->failed)
        return SB_EBADINPUT;
    res->kind = kind;
    switch (kind) {
    case SB_CQLC_VOID:
        return 0;
    case SB_CQLC_ROWS:
        return parse_rows(r, res);
    case SB_CQLC_SET_KEYSPACE:
        rd_string_to(r, res->keyspace, sizeof res->keyspace, "keyspace");
        return r->failed ? SB_EBADINPUT : 0;
    case SB_CQLC_PREPARED:
        return 0;
    case SB_CQLC_SCHEMA_CHANGE: {
        char change[64], target[64], ks[256], name[256] = "";
        rd_string_to(r, change, sizeof change, "change type");
        rd_string_to(r, target, sizeof target, "change target");
        rd_string_to(r, ks, sizeof ks, "keyspace");
        if (!r->failed && strcmp(target, "KEYSPACE"))
            rd_string_to(r, name, sizeof name, "name");
        if (r->failed)
            return SB_EBADINPUT;
        snprintf(res->change, sizeof res->change, "%s %s %s%s%s", change, target, ks,
                 name[0] ? "." : "", name);
        return 0;
    }
    default:
        return sb_seterr(r->errmsg, SB_EBADINPUT, "malformed response: unknown result kind %d",
                         (int)kind);
    }
}

int sb_cqlc_parse_response(int opcode, int flags, const uint8_t *body, size_t len,
                           sb_cqlc_result *res, char *errmsg)
{
    sb_cqlc_result_free(res);
    if (sb_buf_append(&res->body, body, len ? len : 0) || sb_buf_reserve(&res->body, 1))
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    rd r = {res->body.data, res->body.data + len, res->body.data, errmsg, 0};
    if (flags & SB_CQLFLAG_COMPRESSION)
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "malformed response: compressed frame (compression not negotiated)");
    if ((flags & SB_CQLFLAG_TRACING) && need(&r, 16, "tracing id"))
        r.p += 16;
    if (flags & SB_CQLFLAG_WARNING) {
        uint16_t n = rd_short(&r, "warning count");
        size_t wl = 0;
        for (int i = 0; i < n && !r.failed; i++) {
            char w[1024];
            rd_string_to(&r, w, sizeof w, "warning");
            wl += (size_t)snprintf(res->warnings + wl, sizeof res->warnings - wl, "%s%s",
                                   i ? "\n" : "", w);
            if (wl >= sizeof res->warnings)
                wl = sizeof res->warnings - 1;
        }
    }
    if (flags & SB_CQLFLAG_CUSTOM_PAYLOAD) {
        uint16_t n = rd_short(&r, "custom payload size");
        for (int i = 0; i < n && !r.failed; i++) {
            char k[256];
            rd_string_to(&r, k, sizeof k, "custom payload key");
            rd_value(&r, "custom payload value");
        }
    }
    if (r.failed)
        return SB_EBADINPUT;
    switch (opcode) {
    case SB_CQLOP_READY:
        res->kind = SB_CQLC_VOID;
        return 0;
    case SB_CQLOP_ERROR:
        res->kind = SB_CQLC_ERROR;
        res->err_code = rd_int(&r, "error code");
        rd_string_to(&r, res->err_msg, sizeof res->err_msg, "error message");
        res->err_class = sb_cqlc_error_class(res->err_code);
        /* The code-specific fields that follow are not needed for display. */
        return r.failed ? SB_EBADINPUT : 0;
    case SB_CQLOP_RESULT:
        return parse_result(&r, res);
    case SB_CQLOP_AUTHENTICATE:
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "the server requires authentication, which this shell does not "
                         "support yet");
    default:
        return sb_seterr(errmsg, SB_EBADINPUT, "malformed response: unexpected opcode 0x%02x",
                         opcode);
    }
}

/* --- transport ----------------------------------------------------------- */

void sb_cqlc_close(sb_cqlc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int io_fail(sb_cqlc *c, char *errmsg, const char *what, int err)
{
    sb_seterr(errmsg, SB_EIO, "%s %s:%d: %s", what, c->host, c->port,
              err == EAGAIN || err == EWOULDBLOCK ? "request timed out"
              : err                               ? strerror(err)
                                                  : "connection closed");
    sb_cqlc_close(c);
    return SB_EIO;
}

static int send_all(sb_cqlc *c, const uint8_t *p, size_t n, char *errmsg)
{
    while (n) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return io_fail(c, errmsg, "lost connection to", k < 0 ? errno : 0);
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int recv_all(sb_cqlc *c, uint8_t *p, size_t n, char *errmsg)
{
    while (n) {
        ssize_t k = recv(c->fd, p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return io_fail(c, errmsg, "lost connection to", k < 0 ? errno : 0);
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends the request in b and reads frames until the one on our stream. */
static int roundtrip(sb_cqlc *c, sb_buf *b, sb_cqlc_result *res, char *errmsg)
{
    int rc = send_all(c, b->data, b->len, errmsg);
    if (rc)
        return rc;
    sb_buf body;
    sb_buf_init(&body);
    for (;;) {
        uint8_t h[9];
        rc = recv_all(c, h, sizeof h, errmsg);
        if (rc)
            break;
        sb_cqlframe_hdr hd;
        sb_cqlframe_header(h, sizeof h, &hd);
        if (hd.version != SB_CQLPROTO_VERSION || !hd.response) {
            rc = sb_seterr(errmsg, SB_EBADINPUT,
                           "malformed response: frame version byte 0x%02x (expected 0x84)", h[0]);
            sb_cqlc_close(c);
            break;
        }
        if (hd.length > SB_CQLC_MAX_BODY) {
            rc = sb_seterr(errmsg, SB_EBADINPUT,
                           "malformed response: frame of %u bytes exceeds the %u byte limit",
                           hd.length, SB_CQLC_MAX_BODY);
            sb_cqlc_close(c);
            break;
        }
        sb_buf_reset(&body);
        if (sb_buf_reserve(&body, hd.length + 1)) {
            rc = sb_seterr(errmsg, SB_ENOMEM, "out of memory");
            sb_cqlc_close(c);
            break;
        }
        rc = recv_all(c, body.data, hd.length, errmsg);
        if (rc)
            break;
        body.len = hd.length;
        if (hd.stream != c->stream)
            continue; /* an event or a stale answer */
        rc = sb_cqlc_parse_response(hd.opcode, hd.flags, body.data, body.len, res, errmsg);
        break;
    }
    sb_buf_free(&body);
    return rc;
}

int sb_cqlc_connect(sb_cqlc *c, const char *host, int port, int timeout_ms, char *errmsg)
{
    c->fd = -1;
    c->stream = 0;
    c->timeout_ms = timeout_ms;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai)
        return sb_seterr(errmsg, SB_EIO, "could not resolve host '%s': %s", host,
                         gai_strerror(gai));
    int err = 0;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* On Linux SO_SNDTIMEO also bounds connect(). */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->fd = fd;
            break;
        }
        err = errno == EINPROGRESS ? ETIMEDOUT : errno;
        close(fd);
    }
    freeaddrinfo(ai);
    if (c->fd < 0)
        return sb_seterr(errmsg, SB_EIO, "could not connect to %s:%d: %s", host, port,
                         strerror(err));
    sb_buf b;
    sb_buf_init(&b);
    sb_cqlc_result res;
    sb_cqlc_result_init(&res);
    int rc = sb_cqlc_put_startup(&b, c->stream);
    if (rc)
        rc = sb_seterr(errmsg, rc, "out of memory");
    else
        rc = roundtrip(c, &b, &res, errmsg);
    if (!rc && res.kind == SB_CQLC_ERROR)
        rc = sb_seterr(errmsg, SB_EIO, "%s:%d refused the connection: %s: %s", host, port,
                       res.err_class, res.err_msg);
    if (rc && rc != SB_EIO) {
        char tmp[SB_ERRMSG_SIZE];
        snprintf(tmp, sizeof tmp, "%s", errmsg);
        rc = sb_seterr(errmsg, SB_EIO, "handshake with %s:%d failed: %s", host, port, tmp);
    }
    if (rc)
        sb_cqlc_close(c);
    sb_buf_free(&b);
    sb_cqlc_result_free(&res);
    return rc;
}

int sb_cqlc_query(sb_cqlc *c, const char *q, size_t qlen, int consistency, int32_t page_size,
                  const uint8_t *paging_state, int32_t ps_len, sb_cqlc_result *r, char *errmsg)
{
    if (c->fd < 0)
        return sb_seterr(errmsg, SB_EIO, "not connected to %s:%d", c->host, c->port);
    c->stream = (int16_t)((c->stream + 1) & 0x7fff);
    sb_buf b;
    sb_buf_init(&b);
    int rc =
        sb_cqlc_put_query(&b, c->stream, q, qlen, consistency, page_size, paging_state, ps_len);
    if (rc)
        rc = sb_seterr(errmsg, rc, "out of memory");
    else
        rc = roundtrip(c, &b, r, errmsg);
    sb_buf_free(&b);
    return rc;
}
