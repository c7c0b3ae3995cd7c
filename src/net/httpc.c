/*
 * Blocking HTTP/1.1 client (see httpc.h).
 *
 * The socket is non-blocking and every wait goes through poll() with the
 * configured timeout, so no call hangs on a dead peer and SIGINT (EINTR
 * plus *stop) abandons a request promptly. A client used by a thread other
 * than the one that takes the signals gets a wake_fd instead: the same
 * poll() watches it, so another thread ends the wait without a race.
 */
#include "net/httpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/err.h"

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (64u * 1024 * 1024)

int sb_httpc_init(sb_httpc *c, const char *hostport, int timeout_ms, char *errmsg)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->wake_fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    sb_buf_init(&c->in);
    const char *colon;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (!close || close[1] != ':')
            return sb_seterr(errmsg, SB_EINVAL, "target '%s': expected [IPv6]:PORT", hostport);
        snprintf(c->host, sizeof c->host, "%.*s", (int)(close - hostport - 1), hostport + 1);
        colon = close + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon || colon == hostport)
            return sb_seterr(errmsg, SB_EINVAL, "target '%s': expected HOST:PORT", hostport);
        if ((size_t)(colon - hostport) >= sizeof c->host)
            return sb_seterr(errmsg, SB_EINVAL, "target '%s': host name too long", hostport);
        snprintf(c->host, sizeof c->host, "%.*s", (int)(colon - hostport), hostport);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return sb_seterr(errmsg, SB_EINVAL, "target '%s': port must be 1..65535", hostport);
    snprintf(c->port, sizeof c->port, "%ld", port);
    return 0;
}

/* Drops the connection (the next request reconnects). */
static void sb_httpc_disconnect(sb_httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->reused = 0;
    sb_buf_reset(&c->in);
}

void sb_httpc_close(sb_httpc *c)
{
    sb_httpc_disconnect(c);
    sb_buf_free(&c->in);
}

/* Waits until fd is ready for events; 0, or SB_EIO on timeout/interrupt. */
static int wait_fd(sb_httpc *c, short events, char *errmsg)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = events},
                              {.fd = c->wake_fd, .events = POLLIN}};
        int n = poll(p, c->wake_fd >= 0 ? 2 : 1, c->timeout_ms);
        if (n > 0 && c->wake_fd >= 0 && p[1].revents)
            return sb_seterr(errmsg, SB_EIO, "interrupted");
        if (n > 0)
            return 0;
        if (n == 0) {
            c->timed_out = 1;
            return sb_seterr(errmsg, SB_EIO, "no answer from %s:%s within %d ms", c->host, c->port,
                             c->timeout_ms);
        }
        if (errno != EINTR)
            return sb_seterr(errmsg, SB_EIO, "poll: %s", strerror(errno));
        if (c->stop && *c->stop)
            return sb_seterr(errmsg, SB_EIO, "interrupted");
    }
}

static int do_connect(sb_httpc *c, char *errmsg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    if (gai != 0)
        return sb_seterr(errmsg, SB_EIO, "cannot resolve %s: %s", c->host, gai_strerror(gai));
    int rv = SB_EIO;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            rv = sb_seterr(errmsg, SB_EIO, "socket: %s", strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int err = 0;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                rv = wait_fd(c, POLLOUT, errmsg);
                socklen_t len = sizeof err;
                if (rv == 0 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = errno;
            }
        }
        if (err == 0) {
            rv = 0;
            break;
        }
        if (err != EINPROGRESS)
            rv = sb_seterr(errmsg, SB_EIO, "cannot connect to %s:%s: %s", c->host, c->port,
                           strerror(err));
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    c->reused = 0;
    sb_buf_reset(&c->in);
    return rv;
}

static int write_all(sb_httpc *c, struct iovec *iov, int n, char *errmsg)
{
    while (n > 0) {
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                int rv = wait_fd(c, POLLOUT, errmsg);
                if (rv)
                    return rv;
                continue;
            }
            return sb_seterr(errmsg, SB_EIO, "send to %s:%s: %s", c->host, c->port,
                             strerror(errno));
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Reads more bytes into c->in. 0, or SB_EIO (with "closed" on EOF). */
static int read_more(sb_httpc *c, char *errmsg)
{
    for (;;) {
        if (sb_buf_reserve(&c->in, 65536))
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
        if (r > 0) {
            c->in.len += (size_t)r;
            return 0;
        }
        if (r == 0)
            return sb_seterr(errmsg, SB_EIO, "connection closed by %s:%s", c->host, c->port);
        if (errno == EAGAIN || errno == EINTR) {
            int rv = wait_fd(c, POLLIN, errmsg);
            if (rv)
                return rv;
            continue;
        }
        return sb_seterr(errmsg, SB_EIO, "receive from %s:%s: %s", c->host, c->port,
                         strerror(errno));
    }
}

static void consume(sb_httpc *c, size_t n)
{
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
}

/* Position just past "\r\n" at or after from, or 0 if not there yet. */
static size_t find_crlf(const sb_buf *b, size_t from)
{
    for (size_t i = from; i + 1 < b->len; i++)
        if (b->data[i] == '\r' && b->data[i + 1] == '\n')
            return i + 2;
    return 0;
}

static int read_chunked(sb_httpc *c, sb_buf *body, char *errmsg)
{
    for (;;) {
        size_t eol;
        while (!(eol = find_crlf(&c->in, 0))) {
            if (c->in.len > 1024)
                return sb_seterr(errmsg, SB_EINVAL, "bad chunk header in response");
            int rv = read_more(c, errmsg);
            if (rv)
                return rv;
        }
        char *end;
        unsigned long size = strtoul((const char *)c->in.data, &end, 16);
        if (end == (char *)c->in.data)
            return sb_seterr(errmsg, SB_EINVAL, "bad chunk size in response");
        if (size > MAX_BODY_BYTES || body->len + size > MAX_BODY_BYTES)
            return sb_seterr(errmsg, SB_ETOOBIG, "response body over %u bytes", MAX_BODY_BYTES);
        consume(c, eol);
        if (size == 0) {
            /* trailers until an empty line */
            for (;;) {
                while (!(eol = find_crlf(&c->in, 0))) {
                    int rv = read_more(c, errmsg);
                    if (rv)
                        return rv;
                }
                consume(c, eol);
                if (eol == 2)
                    return 0;
            }
        }
        while (c->in.len < size + 2) {
            int rv = read_more(c, errmsg);
            if (rv)
                return rv;
        }
        if (sb_buf_append(body, c->in.data, size))
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        consume(c, size + 2);
    }
}

/* Reads one response; *got_any tells whether any byte of it arrived. */
static int read_response(sb_httpc *c, const char *method, sb_http_resp *resp, int *keep_alive,
                         int *got_any, char *errmsg)
{
    size_t hdr_end = 0;
    for (;;) {
        for (size_t i = 3; i < c->in.len && !hdr_end; i++)
            if (!memcmp(c->in.data + i - 3, "\r\n\r\n", 4))
                hdr_end = i + 1;
        if (hdr_end)
            break;
        if (c->in.len > MAX_HEADER_BYTES)
            return sb_seterr(errmsg, SB_EINVAL, "response headers over %d bytes", MAX_HEADER_BYTES);
        int rv = read_more(c, errmsg);
        *got_any = c->in.len > 0;
        if (rv)
            return rv;
    }
    *got_any = 1;
    char *h = (char *)c->in.data;
    h[hdr_end - 1] = '\0'; /* the last '\n'; headers are parsed in place */
    int minor = 1, status = 0;
    if (sscanf(h, "HTTP/1.%d %d", &minor, &status) != 2 || status < 100 || status > 999)
        return sb_seterr(errmsg, SB_EINVAL, "not an HTTP/1.x response: '%.40s'", h);
    long long clen = -1;
    int chunked = 0;
    *keep_alive = minor >= 1;
    for (char *line = strstr(h, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *name = line + 2, *colon = strchr(name, ':');
        char *eol = strstr(name, "\r\n");
        if (!colon || (eol && colon > eol))
            continue;
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        size_t nlen = (size_t)(colon - name);
        if (nlen == 14 && !strncasecmp(name, "Content-Length", 14))
            clen = strtoll(val, NULL, 10);
        else if (nlen == 17 && !strncasecmp(name, "Transfer-Encoding", 17))
            chunked = !strncasecmp(val, "chunked", 7);
        else if (nlen == 10 && !strncasecmp(name, "Connection", 10))
            *keep_alive = !strncasecmp(val, "keep-alive", 10) ||
                          (minor >= 1 && strncasecmp(val, "close", 5) != 0);
    }
    consume(c, hdr_end);
    resp->status = status;
    if (status == 204 || status == 304 || status < 200 || !strcmp(method, "HEAD"))
        return 0;
    if (chunked)
        return read_chunked(c, &resp->body, errmsg);
    if (clen < 0) { /* body runs to the end of the connection */
        *keep_alive = 0;
        while (read_more(c, errmsg) == 0)
            if (c->in.len > MAX_BODY_BYTES)
                return sb_seterr(errmsg, SB_ETOOBIG, "response body over %u bytes", MAX_BODY_BYTES);
        clen = (long long)c->in.len;
    }
    if ((unsigned long long)clen > MAX_BODY_BYTES)
        return sb_seterr(errmsg, SB_ETOOBIG, "response body of %lld bytes", clen);
    while (c->in.len < (size_t)clen) {
        int rv = read_more(c, errmsg);
        if (rv)
            return rv;
    }
    if (sb_buf_append(&resp->body, c->in.data, (size_t)clen))
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    consume(c, (size_t)clen);
    return 0;
}

static int attempt(sb_httpc *c, const char *method, const char *path, const char *content_type,
                   const void *body, size_t len, sb_http_resp *resp, int *got_any, char *errmsg)
{
    *got_any = 0;
    int rv;
    if (c->fd < 0 && (rv = do_connect(c, errmsg)) != 0)
        return rv;
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: sibyl-sim\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n",
                     method, path, c->host, c->port, len, content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return sb_seterr(errmsg, SB_EINVAL, "request path too long");
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
    if ((rv = write_all(c, iov, len ? 2 : 1, errmsg)) != 0)
        return rv;
    int keep_alive = 0;
    rv = read_response(c, method, resp, &keep_alive, got_any, errmsg);
    if (rv || !keep_alive)
        sb_httpc_disconnect(c);
    else
        c->reused = 1;
    return rv;
}

/* 1 when wake_fd says stop. */
static int woken(const sb_httpc *c)
{
    struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
    return c->wake_fd >= 0 && poll(&p, 1, 0) > 0;
}

int sb_httpc_request(sb_httpc *c, const char *method, const char *path, const char *content_type,
                     const void *body, size_t len, sb_http_resp *resp, char *errmsg)
{
    resp->status = 0;
    sb_buf_init(&resp->body);
    int got_any = 0;
    int was_reused = c->fd >= 0 && c->reused;
    c->timed_out = 0;
    int rv = attempt(c, method, path, content_type, body, len, resp, &got_any, errmsg);
    if (rv == SB_EIO && was_reused && !got_any && !(c->stop && *c->stop) && !woken(c) &&
        !c->timed_out) {
        /* The server closed the idle connection under us: one fresh try. */
        sb_httpc_disconnect(c);
        sb_buf_reset(&resp->body);
        rv = attempt(c, method, path, content_type, body, len, resp, &got_any, errmsg);
    }
    if (rv)
        sb_httpc_disconnect(c);
    return rv;
}

int sb_httpc_fetch_cluster(const char *hostport, const char *keyspace, const char *table,
                           int timeout_ms, sb_buf *body, char *errmsg)
{
    char target[300], path[2048], msg[SB_ERRMSG_SIZE];
    /* HOST alone gets the default HTTP port */
    const char *close = hostport[0] == '[' ? strchr(hostport, ']') : NULL;
    int has_port = close ? close[1] == ':' : strchr(hostport, ':') != NULL;
    snprintf(target, sizeof target, "%s%s", hostport, has_port ? "" : ":8080");
    if ((keyspace && strlen(keyspace) > 255) || (table && strlen(table) > 255))
        return sb_seterr(errmsg, SB_EINVAL, "keyspace and table names have at most 255 bytes");
    sb_httpc c;
    int rv = sb_httpc_init(&c, target, timeout_ms, msg);
    if (rv)
        return sb_seterr(errmsg, rv, "%s", msg);
    /* at most 2 x 255 bytes, each at most 3 when escaped: fits */
    snprintf(path, sizeof path, "/api/v1/cluster");
    const char *names[2] = {"keyspace", "table"}, *values[2] = {keyspace, keyspace ? table : NULL};
    size_t o = strlen(path);
    for (int p = 0; p < 2; p++) {
        if (!values[p])
            continue;
        o += (size_t)snprintf(path + o, sizeof path - o, "%c%s=", p ? '&' : '?', names[p]);
        for (const char *k = values[p]; *k; k++) {
            unsigned char ch = (unsigned char)*k;
            if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                ch == '_')
                path[o++] = (char)ch;
            else
                o += (size_t)snprintf(path + o, sizeof path - o, "%%%02X", ch);
        }
        path[o] = '\0';
    }
    sb_http_resp resp;
    rv = sb_httpc_request(&c, "GET", path, NULL, NULL, 0, &resp, msg);
    sb_httpc_close(&c);
    if (rv) {
        sb_buf_free(&resp.body);
        return sb_seterr(errmsg, rv, "cannot reach the node at %s: %s", target, msg);
    }
    if (resp.status != 200) {
        while (resp.body.len && (resp.body.data[resp.body.len - 1] == '\n' ||
                                 resp.body.data[resp.body.len - 1] == '\r'))
            resp.body.len--;
        rv = sb_seterr(errmsg, resp.status == 404 ? SB_ENOTFOUND : SB_EIO,
                       "node at %s answered HTTP %d: %.*s", target, resp.status,
                       (int)(resp.body.len > 500 ? 500 : resp.body.len),
                       resp.body.data ? (const char *)resp.body.data : "");
        sb_buf_free(&resp.body);
        return rv;
    }
    *body = resp.body;
    return 0;
}
