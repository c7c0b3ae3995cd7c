/*
 * Line-protocol ingestion load generator.
 *
 *   bench_ingest --target 127.0.0.1:8080 [--connections 16] [--batch 5000]
 *                (--duration S | --points N) [--warmup S] [--node-pid PID]
 *                [--fresh] [--bucket B] [--seed N]
 *
 * Many keep-alive connections on one epoll loop, each with one POST
 * /api/v2/write?precision=ms in flight at a time (so --connections requests
 * are in flight). Bodies hold simulator points (sim/gen.h: 100 sensors,
 * 5 fields, 1 reading/s per sensor, 2% late):
 *
 * - default (throughput): 8 template bodies are generated once; each request
 *   copies one and shifts its 13-digit millisecond timestamps by
 *   request_no * (batch span), so every point is a new (series, time) key
 *   while the load generator spends almost no CPU per point.
 * - --fresh: every body comes straight from the generator (fresh values,
 *   consecutive time), as `sibyl sim --fast` would send; used for the
 *   on-disk size benchmark, where repeated values would flatter compression.
 *
 * With --node-pid the node's CPU time (utime+stime from /proc/PID/stat) over
 * the measured window is reported, so points/s per core can be given.
 * Prints a human line and a machine line:
 *   RESULT points=... seconds=... points_per_s=... node_cpu_s=... errors=...
 *          timeouts=... overloaded=... reconnects=...
 * errors counts every request that was not acknowledged (2xx); timeouts
 * (504) and overloaded (503) are the part of them where the node said in
 * time that it could not keep up. A connection the node closes after a
 * complete response (Connection: close) is reopened and counted in
 * reconnects; one closed with a request in flight is a failure.
 *
 * Exit status: 1 when a request failed for another reason than 503/504, a
 * connection broke mid-request, or requests were still pending at the
 * end; also on any failure with --points (the size benchmark needs every
 * point written). An overloaded node in a --duration run is a result, not
 * a failure: exit 0, with the counts in the RESULT line. Every loop is
 * bounded by time.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sim/gen.h"
#include "util/buf.h"
#include "util/err.h"
#include "bench_proc.h"

enum { NTEMPLATES = 8, MAX_CONNS = 1024, TS_DIGITS = 13 };

typedef struct tmpl {
    sb_buf body;
    size_t *ts_off; /* offsets of each point's timestamp */
    int64_t *ts;    /* its original value */
    int n;
} tmpl;

typedef struct conn {
    int fd;
    int state;  /* 0 idle, 1 sending, 2 receiving */
    sb_buf req; /* header + body */
    size_t sent;
    sb_buf in;
    int npoints;
    size_t body_len;
    double started_s;
    int close_after; /* the response said Connection: close */
} conn;

typedef struct bench {
    char host[256], port[16], bucket[128];
    int nconns, batch, fresh;
    double duration_s, warmup_s;
    uint64_t points_goal; /* --points; 0 = time-bound */
    int node_pid;
    uint64_t seed;

    tmpl templates[NTEMPLATES];
    int64_t span_ms;
    uint64_t req_no;
    sb_sim_gen *gen; /* --fresh */
    uint64_t points_issued;

    int ep;
    conn conns[MAX_CONNS];
    int active;
    /* results */
    uint64_t ok_points, ok_requests, errors, ok_body_bytes;
    uint64_t timeouts, overloaded, reconnects;
    uint64_t w_points; /* points acked inside the window */
    double *lat_ms;
    size_t nlat, caplat;
    int printed_errors;
} bench;

static void die(const char *msg)
{
    fprintf(stderr, "bench_ingest: %s\n", msg);
    exit(2);
}

static void make_templates(bench *b)
{
    sb_sim_gen_opts o;
    sb_sim_gen_opts_default(&o);
    o.seed = b->seed;
    /* a year ago, so shifted timestamps stay in the past for long runs */
    o.start_ms = ((int64_t)time(NULL) - 365 * 86400) * 1000;
    char errmsg[SB_ERRMSG_SIZE];
    sb_sim_gen *g;
    if (sb_sim_gen_new(&g, &o, errmsg))
        die(errmsg);
    /* Each cycle through the templates is shifted by the time they span
     * (late readings make that a little more than the nominal span). */
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    sb_sim_reading r;
    for (int t = 0; t < NTEMPLATES; t++) {
        tmpl *tp = &b->templates[t];
        sb_buf_init(&tp->body);
        tp->ts_off = calloc((size_t)b->batch, sizeof *tp->ts_off);
        tp->ts = calloc((size_t)b->batch, sizeof *tp->ts);
        if (!tp->ts_off || !tp->ts)
            die("out of memory");
        while (tp->n < b->batch) {
            int64_t due = sb_sim_gen_next_due_ms(g);
            if (!sb_sim_gen_next(g, due, &r))
                continue;
            if (sb_sim_format_line(g, &r, &tp->body))
                die("out of memory");
            /* the line ends in " <13 digits>\n" */
            tp->ts_off[tp->n] = tp->body.len - 1 - TS_DIGITS;
            tp->ts[tp->n] = r.ts_ms;
            tp->n++;
            lo = r.ts_ms < lo ? r.ts_ms : lo;
            hi = r.ts_ms > hi ? r.ts_ms : hi;
        }
    }
    b->span_ms = (hi - lo) / 1000 * 1000 + 1000;
    sb_sim_gen_free(g);
}

static void put_ts(uint8_t *p, int64_t v)
{
    for (int i = TS_DIGITS - 1; i >= 0; i--) {
        p[i] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
}

/* Builds the next request into c->req; 0 when there is nothing left to send. */
static int next_request(bench *b, conn *c)
{
    sb_buf_reset(&c->req);
    char head[512];
    int npoints;
    sb_buf body;
    sb_buf_init(&body);
    const uint8_t *bp;
    size_t blen;
    if (b->fresh) {
        sb_sim_reading r;
        npoints = 0;
        while (npoints < b->batch && !sb_sim_gen_done(b->gen) &&
               (!b->points_goal || b->points_issued + (uint64_t)npoints < b->points_goal)) {
            if (!sb_sim_gen_next(b->gen, sb_sim_gen_next_due_ms(b->gen), &r))
                continue;
            if (sb_sim_format_line(b->gen, &r, &body))
                die("out of memory");
            npoints++;
        }
        bp = body.data;
        blen = body.len;
    } else {
        const tmpl *t = &b->templates[b->req_no % NTEMPLATES];
        npoints = t->n;
        if (b->points_goal && b->points_issued + (uint64_t)npoints > b->points_goal)
            npoints = 0; /* whole batches only in template mode */
        bp = t->body.data;
        blen = t->body.len;
    }
    if (npoints == 0) {
        sb_buf_free(&body);
        return 0;
    }
    int hn = snprintf(head, sizeof head,
                      "POST /api/v2/write?bucket=%s&precision=ms HTTP/1.1\r\nHost: %s:%s\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
                      b->bucket, b->host, b->port, blen);
    if (sb_buf_append(&c->req, head, (size_t)hn) || sb_buf_append(&c->req, bp, blen))
        die("out of memory");
    if (!b->fresh) {
        const tmpl *t = &b->templates[b->req_no % NTEMPLATES];
        int64_t shift = (int64_t)(b->req_no / NTEMPLATES) * b->span_ms;
        uint8_t *base = c->req.data + hn;
        for (int i = 0; i < t->n; i++)
            put_ts(base + t->ts_off[i], t->ts[i] + shift);
    }
    b->req_no++;
    b->points_issued += (uint64_t)npoints;
    c->npoints = npoints;
    c->body_len = blen;
    c->sent = 0;
    c->state = 1;
    c->started_s = mono_s();
    sb_buf_free(&body);
    return 1;
}

static int connect_one(bench *b, conn *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(b->host, b->port, &hints, &res))
        return -1;
    c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rv = connect(c->fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rv && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void record_latency(bench *b, double ms)
{
    if (b->nlat == b->caplat) {
        size_t cap = b->caplat ? b->caplat * 2 : 4096;
        double *p = realloc(b->lat_ms, cap * sizeof *p);
        if (!p)
            return;
        b->lat_ms = p;
        b->caplat = cap;
    }
    b->lat_ms[b->nlat++] = ms;
}

/* Parses a complete response in c->in; 1 when complete (status set). A
 * response without Content-Length that closes the connection ends at EOF
 * (eof set). */
static int parse_response(conn *c, int eof, int *status, const char **body, size_t *body_len)
{
    uint8_t *p = c->in.data;
    size_t n = c->in.len, hdr = 0;
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            hdr = i + 1;
            break;
        }
    if (!hdr)
        return 0;
    if (sscanf((const char *)p, "HTTP/1.%*d %d", status) != 1)
        *status = -1;
    size_t clen = 0;
    int has_clen = 0;
    c->close_after = 0;
    for (size_t i = 0; i + 16 < hdr; i++) {
        if ((p[i] == 'C' || p[i] == 'c') &&
            !strncasecmp((const char *)p + i, "content-length:", 15)) {
            clen = strtoul((const char *)p + i + 15, NULL, 10);
            has_clen = 1;
        }
        if ((p[i] == 'C' || p[i] == 'c') && !strncasecmp((const char *)p + i, "connection:", 11)) {
            const char *v = (const char *)p + i + 11;
            while (*v == ' ')
                v++;
            c->close_after = !strncasecmp(v, "close", 5);
        }
    }
    if (!has_clen && c->close_after) {
        if (!eof)
            return 0; /* the body runs to the end of the connection */
        clen = n - hdr;
    }
    if (n < hdr + clen)
        return 0;
    *body = (const char *)p + hdr;
    *body_len = clen;
    return 1;
}

static void on_response(bench *b, conn *c, int status, const char *body, size_t len, double now,
                        double win_start, double win_end)
{
    if (status >= 200 && status < 300) {
        b->ok_points += (uint64_t)c->npoints;
        b->ok_requests++;
        b->ok_body_bytes += c->body_len;
        if (now >= win_start && now <= win_end) {
            b->w_points += (uint64_t)c->npoints;
            record_latency(b, (now - c->started_s) * 1000);
        }
    } else {
        b->errors++;
        if (status == 504)
            b->timeouts++;
        else if (status == 503)
            b->overloaded++;
        if (b->printed_errors++ < 5)
            fprintf(stderr, "bench_ingest: HTTP %d: %.*s\n", status, (int)(len > 500 ? 500 : len),
                    body);
    }
}

/* Writes until the request is out or the socket is full (edge-triggered
 * epoll then reports EPOLLOUT again when there is room). */
static void pump_write(conn *c)
{
    while (c->sent < c->req.len) {
        ssize_t w = write(c->fd, c->req.data + c->sent, c->req.len - c->sent);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            die("connection broken while sending (node crashed?)");
        }
        c->sent += (size_t)w;
    }
    c->state = 2;
    sb_buf_reset(&c->in);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_ingest --target HOST:PORT (--duration S | --points N) "
                    "[--connections C] [--batch N] [--warmup S] [--node-pid PID] [--fresh] "
                    "[--bucket B] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static bench b;
    snprintf(b.host, sizeof b.host, "127.0.0.1");
    snprintf(b.port, sizeof b.port, "8080");
    snprintf(b.bucket, sizeof b.bucket, "bench");
    b.nconns = 16;
    b.batch = 5000;
    b.warmup_s = 1;
    b.seed = 1;
    static const struct option opts[] = {
        {"target", 1, 0, 't'},
        {"connections", 1, 0, 'c'},
        {"batch", 1, 0, 'b'},
        {"duration", 1, 0, 'd'},
        {"points", 1, 0, 'p'},
        {"warmup", 1, 0, 'w'},
        {"node-pid", 1, 0, 'P'},
        {"fresh", 0, 0, 'f'},
        {"bucket", 1, 0, 'B'},
        {"seed", 1, 0, 's'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 't': {
            const char *colon = strrchr(optarg, ':');
            if (!colon)
                usage();
            snprintf(b.host, sizeof b.host, "%.*s", (int)(colon - optarg), optarg);
            snprintf(b.port, sizeof b.port, "%s", colon + 1);
            break;
        }
        case 'c':
            b.nconns = atoi(optarg);
            break;
        case 'b':
            b.batch = atoi(optarg);
            break;
        case 'd':
            b.duration_s = atof(optarg);
            break;
        case 'p':
            b.points_goal = strtoull(optarg, NULL, 10);
            break;
        case 'w':
            b.warmup_s = atof(optarg);
            break;
        case 'P':
            b.node_pid = atoi(optarg);
            break;
        case 'f':
            b.fresh = 1;
            break;
        case 'B':
            snprintf(b.bucket, sizeof b.bucket, "%s", optarg);
            break;
        case 's':
            b.seed = strtoull(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (b.nconns < 1 || b.nconns > MAX_CONNS || b.batch < 1 || b.batch > 1000000 ||
        (b.duration_s <= 0 && !b.points_goal))
        usage();
    if (b.points_goal) {
        b.warmup_s = 0;
        if (b.duration_s <= 0)
            b.duration_s = 3600; /* a bound, not a target */
    }
    if (b.fresh) {
        sb_sim_gen_opts o;
        sb_sim_gen_opts_default(&o);
        o.seed = b.seed;
        o.start_ms = ((int64_t)time(NULL) - 30 * 86400) * 1000;
        char errmsg[SB_ERRMSG_SIZE];
        if (sb_sim_gen_new(&b.gen, &o, errmsg))
            die(errmsg);
    } else {
        make_templates(&b);
    }
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < b.nconns; i++) {
        conn *c = &b.conns[i];
        sb_buf_init(&c->req);
        sb_buf_init(&c->in);
        if (connect_one(&b, c))
            die("cannot connect to the target");
        if (next_request(&b, c))
            b.active++;
    }
    double t0 = mono_s();
    double win_start = t0 + b.warmup_s, win_end = win_start + b.duration_s;
    double cpu0 = -1, cpu1 = -1, win_start_real = 0, win_end_real = 0;
    int issuing = 1;
    struct epoll_event evs[64];
    /* Bounded: the window plus 30 s for in-flight requests to drain. */
    while (b.active > 0 && mono_s() < win_end + 30) {
        double now = mono_s();
        if (cpu0 < 0 && now >= win_start) {
            cpu0 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
            win_start_real = now;
        }
        if (issuing && (now >= win_end || (b.points_goal && b.points_issued >= b.points_goal))) {
            issuing = 0;
            cpu1 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
            win_end_real = now;
        }
        int n = epoll_wait(b.ep, evs, 64, 100);
        now = mono_s();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == 1)
                pump_write(c);
            if (c->state == 2) {
                int eof = 0;
                for (;;) {
                    if (sb_buf_reserve(&c->in, 16384))
                        die("out of memory");
                    ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
                    if (r > 0) {
                        c->in.len += (size_t)r;
                        continue;
                    }
                    if (r == 0) {
                        eof = 1;
                        break;
                    }
                    if (errno != EAGAIN)
                        die("connection broken while receiving (node crashed?)");
                    break;
                }
                int status = 0;
                const char *body = NULL;
                size_t blen = 0;
                if (parse_response(c, eof, &status, &body, &blen)) {
                    on_response(&b, c, status, body, blen, now, win_start, win_end);
                    c->state = 0;
                    b.active--;
                    if (c->close_after || eof) { /* reopen it for the next request */
                        epoll_ctl(b.ep, EPOLL_CTL_DEL, c->fd, NULL);
                        close(c->fd);
                        b.reconnects++;
                        if (connect_one(&b, c))
                            die("cannot reconnect to the target");
                    }
                    int more = issuing && now < win_end &&
                               (!b.points_goal || b.points_issued < b.points_goal);
                    if (more && next_request(&b, c)) {
                        b.active++;
                        pump_write(c); /* edge-triggered: write until EAGAIN */
                    }
                } else if (eof) {
                    die("the node closed the connection before answering a request");
                }
            }
        }
    }
    double end = mono_s();
    if (win_end_real == 0) {
        win_end_real = end;
        cpu1 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
    }
    if (b.points_goal) { /* count mode: the whole run, up to the last ack */
        win_start_real = t0;
        win_end_real = end;
        b.w_points = b.ok_points;
        cpu1 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
    }
    double secs = win_end_real - win_start_real;
    double pps = secs > 0 ? (double)b.w_points / secs : 0;
    double cpu = (b.node_pid && cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1;
    qsort(b.lat_ms, b.nlat, sizeof *b.lat_ms, cmp_double);
    double p50 = b.nlat ? b.lat_ms[b.nlat / 2] : 0;
    double p99 = b.nlat ? b.lat_ms[(size_t)((double)b.nlat * 0.99)] : 0;
    printf("ingest: %.0f points/s over %.1f s (%" PRIu64 " points acknowledged, %d connections, "
           "batch %d, %s bodies), request latency p50 %.1f ms p99 %.1f ms, errors %" PRIu64
           " (%" PRIu64 " timeouts, %" PRIu64 " overloaded) of %" PRIu64 " requests\n",
           pps, secs, b.w_points, b.nconns, b.batch, b.fresh ? "fresh" : "template", p50, p99,
           b.errors, b.timeouts, b.overloaded, b.ok_requests + b.errors);
    if (cpu >= 0)
        printf("ingest: node CPU %.2f s in %.1f s = %.2f cores; %.0f points/s per core\n", cpu,
               secs, cpu / secs, cpu > 0 ? (double)b.w_points / cpu : 0);
    printf("RESULT points=%" PRIu64 " seconds=%.3f points_per_s=%.0f node_cpu_s=%.3f "
           "p50_ms=%.2f p99_ms=%.2f errors=%" PRIu64 " timeouts=%" PRIu64 " overloaded=%" PRIu64
           " requests=%" PRIu64 " reconnects=%" PRIu64 " pending=%d lp_bytes_per_point=%.1f\n",
           b.w_points, secs, pps, cpu, p50, p99, b.errors, b.timeouts, b.overloaded,
           b.ok_requests + b.errors, b.reconnects, b.active,
           b.ok_points ? (double)b.ok_body_bytes / (double)b.ok_points : 0);
    uint64_t hard = b.errors - b.timeouts - b.overloaded;
    if (b.active || hard || (b.points_goal && b.errors))
        return 1;
    return 0;
}
