/*
 * Stream sessions (stream.h): the receiving side pulls chunks of
 * (table, sub-range) "parts", applies them and records its cursor; the
 * source side answers pulls from its store.
 *
 * Part states: idle -> busy (a pull, then possibly an apply, in flight)
 * -> idle (cursor advanced) ... -> done. A session has at most `window`
 * busy parts. Sessions are heap objects held by pointer so that a done
 * callback that starts another session does not move them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/wire.h"

#define MAX_FINISHED 64
#define MAX_PARTS 65536
#define SERVE_MAX_BYTES (8u << 20)
#define SERVE_MAX_ROWS 65536u
#define BACKOFF_MS 100

typedef struct session session;

typedef struct part {
    session *ss;
    uint8_t table_id[16];
    sb_stream_range r;
    sb_buf cursor; /* last key applied; empty: none yet */
    sb_buf next;   /* last key of the chunk being applied */
    int done, busy, next_last, has_rpc;
    uint32_t attempts;
    uint64_t rpc_id;
} part;

struct session {
    sb_stream *s;
    uint64_t id;
    sb_ep peer;
    int state;
    sb_stream_range *ranges;
    size_t nranges, ntables;
    part *parts;
    size_t nparts, parts_done, rr;
    uint32_t busy, applying;
    uint64_t bytes, rows, resumed, retries;
    uint64_t started_ms, ended_ms, last_log_ms;
    sb_io_timer *timer;
    sb_stream_done_cb cb;
    void *arg;
    char errmsg[SB_ERRMSG_SIZE];
};

struct sb_stream {
    const sb_io *io;
    sb_rpc *rpc;
    sb_ep self;
    sb_stream_opts o;
    session **sessions;
    size_t nsessions, cap;
    uint64_t next_id;
    sb_stream_stats st;
    sb_buf scratch;
};

static void pump(session *ss);

void sb_stream_opts_default(sb_stream_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->chunk_bytes = 256u << 10;
    o->chunk_rows = 4096;
    o->window = 4;
    o->split = 4;
    o->timeout_ms = 5000;
    o->retries = 5;
    o->progress_ms = 5000;
}

const char *sb_stream_state_name(int state)
{
    switch (state) {
    case SB_STREAM_RUNNING:
        return "running";
    case SB_STREAM_DONE:
        return "done";
    default:
        return "failed";
    }
}

sb_stream *sb_stream_new(const sb_io *io, sb_rpc *rpc, const sb_ep *self, const sb_stream_opts *o)
{
    sb_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->io = io;
    s->rpc = rpc;
    s->self = *self;
    if (o)
        s->o = *o;
    else
        sb_stream_opts_default(&s->o);
    if (!s->o.window)
        s->o.window = 1;
    if (!s->o.split)
        s->o.split = 1;
    if (s->o.split > 256)
        s->o.split = 256;
    if (!s->o.chunk_rows)
        s->o.chunk_rows = 1;
    s->next_id = 1;
    sb_buf_init(&s->scratch);
    return s;
}

static uint64_t now_ms(const sb_stream *s)
{
    return s->io->mono_ms(s->io->ctx);
}

static void session_free(session *ss)
{
    sb_stream *s = ss->s;
    if (ss->timer)
        s->io->timer_stop(s->io->ctx, ss->timer);
    for (size_t i = 0; i < ss->nparts; i++) {
        part *p = &ss->parts[i];
        if (p->has_rpc)
            sb_rpc_cancel(s->rpc, p->rpc_id);
        sb_buf_free(&p->cursor);
        sb_buf_free(&p->next);
    }
    free(ss->parts);
    free(ss->ranges);
    free(ss);
}

void sb_stream_free(sb_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsessions; i++)
        session_free(s->sessions[i]);
    free(s->sessions);
    sb_buf_free(&s->scratch);
    free(s);
}

void sb_stream_set_throughput(sb_stream *s, uint32_t mb_per_sec)
{
    s->o.throughput_mb_per_sec = mb_per_sec;
}

/* --- the source side ---------------------------------------------------------- */

typedef struct serve_ctx {
    sb_buf *out;
    uint32_t n;
    uint64_t bytes;
} serve_ctx;

static int serve_emit(void *arg, const sb_raw *e)
{
    serve_ctx *c = arg;
    c->n++;
    c->bytes += e->klen + e->vlen;
    return sb_stream_chunk_add(c->out, e);
}

static int token_key(sb_buf *b, int64_t token)
{
    sb_buf_reset(b);
    return sb_buf_put_u64be(b, (uint64_t)token ^ 0x8000000000000000ull);
}

/* The raw query of a pull: (cursor or start, end]. */
static int pull_query(const sb_stream_req *rq, sb_rawq *q)
{
    memcpy(q->table_id, rq->table_id, 16);
    int rc;
    if (rq->cursor_len) {
        sb_buf_reset(&q->lo);
        rc = sb_buf_append(&q->lo, rq->cursor, rq->cursor_len) || sb_buf_putc(&q->lo, 0);
    } else {
        rc = token_key(&q->lo, rq->range.start + 1); /* start < end <= max */
    }
    if (rq->range.end == INT64_MAX)
        sb_buf_reset(&q->hi);
    else
        rc = rc || token_key(&q->hi, rq->range.end + 1);
    q->max_bytes =
        rq->max_bytes && rq->max_bytes < SERVE_MAX_BYTES ? rq->max_bytes : SERVE_MAX_BYTES;
    q->max_entries = rq->max_rows && rq->max_rows < SERVE_MAX_ROWS ? rq->max_rows : SERVE_MAX_ROWS;
    return rc ? SB_ENOMEM : 0;
}

static void serve_pull(sb_stream *s, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    sb_stream_req rq;
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen) ||
        sb_stream_req_decode(body, blen, &rq)) {
        SB_DEBUG("stream", "malformed pull dropped", "len=%zu", len);
        return;
    }
    sb_rawq q;
    sb_rawq_init(&q);
    sb_buf *out = &s->scratch;
    sb_buf_reset(out);
    serve_ctx c = {out, 0, 0};
    int more = 0, status = SB_STREAM_OK;
    char errmsg[SB_ERRMSG_SIZE] = "";
    int rc = pull_query(&rq, &q) || sb_stream_chunk_begin(out, rq.table_id, 0) ? SB_ENOMEM : 0;
    if (!rc)
        rc = s->io->st->read(s->io->st_ctx, &q, serve_emit, &c, &more, errmsg);
    sb_rawq_free(&q);
    if (rc) {
        status = rc == SB_ENOTFOUND ? SB_STREAM_NO_TABLE : SB_STREAM_READ_ERROR;
        sb_buf_reset(out);
        c.n = 0;
        c.bytes = 0;
        if (sb_stream_chunk_begin(out, rq.table_id, status))
            return;
        SB_WARN("stream", "pull failed", "table read: %s", errmsg[0] ? errmsg : sb_strerror(rc));
    }
    if (sb_stream_chunk_end(out, 0, c.n, status == SB_STREAM_OK && !more))
        return;
    if (sb_rpc_reply(s->rpc, &from, id, out->data, out->len) == 0) {
        s->st.chunks_sent++;
        s->st.rows_sent += c.n;
        s->st.bytes_sent += c.bytes;
    }
}

void sb_stream_receive(sb_stream *s, int type, const uint8_t *payload, size_t len)
{
    if (type == SB_MSG_STREAM_PULL)
        serve_pull(s, payload, len);
}

/* --- progress records ------------------------------------------------------------ */

static int part_key(sb_buf *b, const part *p)
{
    char hex[33];
    sb_hex_encode(hex, p->table_id, 16);
    sb_buf_reset(b);
    return sb_buf_printf(b, "stream/%s/%" PRId64 "/%" PRId64 ";", hex, p->r.start, p->r.end);
}

static int load_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    part *p = arg;
    (void)k;
    (void)klen;
    if (vlen < 1 || (vlen > 1 && vlen - 1 < 8) || vlen - 1 > SB_STREAM_MAX_KEY)
        return 0; /* not ours or damaged: start the part over */
    p->done = v[0] == 1;
    sb_buf_reset(&p->cursor);
    return sb_buf_append(&p->cursor, v + 1, vlen - 1);
}

static void load_progress(session *ss, part *p)
{
    sb_stream *s = ss->s;
    if (part_key(&s->scratch, p))
        return;
    s->io->st->kv_scan(s->io->st_ctx, s->scratch.data, s->scratch.len, load_emit, p);
    if (p->done || p->cursor.len)
        ss->resumed++;
    if (p->done)
        ss->parts_done++;
}

static void save_progress(session *ss, part *p)
{
    sb_stream *s = ss->s;
    sb_buf *b = &s->scratch;
    if (part_key(b, p))
        return;
    size_t klen = b->len;
    if (sb_buf_putc(b, p->done ? 1 : 0) || sb_buf_append(b, p->cursor.data, p->cursor.len))
        return;
    s->io->st->kv_put(s->io->st_ctx, b->data, klen, b->data + klen, b->len - klen, NULL, NULL);
}

static void drop_progress(session *ss)
{
    sb_stream *s = ss->s;
    for (size_t i = 0; i < ss->nparts; i++)
        if (part_key(&s->scratch, &ss->parts[i]) == 0)
            s->io->st->kv_del(s->io->st_ctx, s->scratch.data, s->scratch.len, NULL, NULL);
}

/* --- the receiving side --------------------------------------------------------- */

static void log_progress(session *ss, const char *what)
{
    char ep[SB_EP_STRLEN];
    uint64_t ms = (ss->ended_ms ? ss->ended_ms : now_ms(ss->s)) - ss->started_ms;
    SB_INFO("stream", what,
            "session %" PRIu64 " from %s: %zu/%zu parts, %" PRIu64 " rows, %" PRIu64
            " bytes, %.2f MB/s",
            ss->id, sb_ep_str(&ss->peer, ep), ss->parts_done, ss->nparts, ss->rows, ss->bytes,
            ms ? (double)ss->bytes / 1048576.0 / ((double)ms / 1000.0) : 0.0);
}

static void end_session(session *ss, int status)
{
    sb_stream *s = ss->s;
    ss->state = status ? SB_STREAM_FAILED : SB_STREAM_DONE;
    ss->ended_ms = now_ms(s);
    for (size_t i = 0; i < ss->nparts; i++) {
        part *p = &ss->parts[i];
        if (p->has_rpc) {
            sb_rpc_cancel(s->rpc, p->rpc_id);
            p->has_rpc = 0;
        }
    }
    if (ss->timer) {
        s->io->timer_stop(s->io->ctx, ss->timer);
        ss->timer = NULL;
    }
    s->st.sessions_active--;
    if (status) {
        s->st.sessions_failed++;
        SB_WARN("stream", "session failed", "session %" PRIu64 ": %s", ss->id, ss->errmsg);
    } else {
        s->st.sessions_completed++;
        drop_progress(ss);
        log_progress(ss, "session done");
    }
    if (ss->cb)
        ss->cb(ss->arg, ss->id, status, ss->errmsg);
}

static void fail(session *ss, int code, const char *why, const part *p)
{
    char ep[SB_EP_STRLEN], hex[33];
    sb_hex_encode(hex, p->table_id, 16);
    snprintf(ss->errmsg, sizeof ss->errmsg,
             "stream from %s failed on table %s range (%" PRId64 ", %" PRId64 "]: %s",
             sb_ep_str(&ss->peer, ep), hex, p->r.start, p->r.end, why);
    end_session(ss, code);
}

static void on_timer(void *arg)
{
    session *ss = arg;
    ss->timer = NULL;
    pump(ss);
}

static void arm_timer(session *ss, uint64_t delay_ms)
{
    if (!ss->timer)
        ss->timer = ss->s->io->timer_start(ss->s->io->ctx, delay_ms, on_timer, ss);
}

/* A pull that got no usable answer: pull again, or give up. */
static void retry(part *p, const char *why)
{
    session *ss = p->ss;
    p->busy = 0;
    ss->busy--;
    p->attempts++;
    ss->retries++;
    ss->s->st.retries++;
    if (p->attempts > ss->s->o.retries) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s after %u attempts of %u ms each (source down?)", why,
                 p->attempts, ss->s->o.timeout_ms);
        fail(ss, SB_ETIMEOUT, msg, p);
    }
}

static void on_applied(void *arg, int status)
{
    part *p = arg;
    session *ss = p->ss;
    ss->applying--;
    if (ss->state != SB_STREAM_RUNNING)
        return;
    if (status) {
        fail(ss, status, "applying a chunk failed", p);
        return;
    }
    sb_buf tmp = p->cursor;
    p->cursor = p->next;
    p->next = tmp;
    p->done = p->next_last;
    p->busy = 0;
    ss->busy--;
    if (p->done)
        ss->parts_done++;
    save_progress(ss, p);
    pump(ss);
}

static void chunk_arrived(part *p, const uint8_t *body, size_t len)
{
    session *ss = p->ss;
    sb_stream *s = ss->s;
    sb_stream_chunk c;
    int rc = sb_stream_chunk_decode(body, len, &p->r, p->cursor.data, p->cursor.len, &c);
    if (rc == 0 && memcmp(c.table_id, p->table_id, 16) != 0)
        rc = SB_EBADINPUT;
    if (rc) {
        sb_stream_chunk_free(&c);
        s->st.bad_chunks++;
        retry(p, "bad chunk");
        return;
    }
    if (c.status != SB_STREAM_OK) {
        if (c.status == SB_STREAM_NO_TABLE)
            fail(ss, SB_ENOTFOUND, "the source has no such table", p);
        else
            retry(p, "the source could not read");
        return;
    }
    p->attempts = 0;
    s->st.chunks_received++;
    s->st.rows_received += c.nrows;
    s->st.bytes_received += c.bytes;
    ss->rows += c.nrows;
    ss->bytes += c.bytes;
    p->next_last = c.last;
    sb_buf_reset(&p->next);
    if (c.nrows == 0) {
        /* Nothing after the cursor: the part is done, the cursor stays. */
        if (sb_buf_append(&p->next, p->cursor.data, p->cursor.len)) {
            fail(ss, SB_ENOMEM, "out of memory", p);
            return;
        }
        ss->applying++;
        on_applied(p, 0);
        return;
    }
    const sb_raw *last = &c.rows[c.nrows - 1];
    sb_raw_mut *m = malloc(c.nrows * sizeof(*m));
    rc = m && !sb_buf_append(&p->next, last->key, last->klen) ? 0 : SB_ENOMEM;
    for (uint32_t i = 0; !rc && i < c.nrows; i++)
        m[i] = (sb_raw_mut){p->table_id, c.rows[i]};
    if (!rc) {
        ss->applying++;
        rc = s->io->st->apply(s->io->st_ctx, m, c.nrows, on_applied, p);
        if (rc)
            ss->applying--;
    }
    free(m);
    sb_stream_chunk_free(&c);
    if (rc == SB_EOVERLOADED) {
        /* Pull the same chunk again a little later. */
        p->busy = 0;
        ss->busy--;
        arm_timer(ss, BACKOFF_MS);
    } else if (rc) {
        fail(ss, rc, rc == SB_ENOTFOUND ? "this node has no such table" : "apply refused", p);
    }
}

static void on_pull(void *arg, int status, const uint8_t *body, size_t len)
{
    part *p = arg;
    session *ss = p->ss;
    p->has_rpc = 0;
    if (ss->state != SB_STREAM_RUNNING)
        return;
    if (status)
        retry(p, status == SB_ETIMEOUT ? "no answer" : sb_strerror(status));
    else
        chunk_arrived(p, body, len);
    if (ss->state == SB_STREAM_RUNNING)
        pump(ss);
}

static int issue_pull(part *p)
{
    session *ss = p->ss;
    sb_stream *s = ss->s;
    sb_stream_req rq = {.range = p->r,
                        .cursor = p->cursor.data,
                        .cursor_len = p->cursor.len,
                        .max_bytes = s->o.chunk_bytes,
                        .max_rows = s->o.chunk_rows};
    memcpy(rq.table_id, p->table_id, 16);
    sb_buf_reset(&s->scratch);
    int rc = sb_stream_req_encode(&s->scratch, &rq);
    if (!rc)
        rc = sb_rpc_call(s->rpc, &ss->peer, SB_MSG_STREAM_PULL, s->scratch.data, s->scratch.len,
                         s->o.timeout_ms, on_pull, p, &p->rpc_id);
    if (rc)
        return rc;
    p->has_rpc = 1;
    p->busy = 1;
    ss->busy++;
    return 0;
}

/* Bytes a throttled session may have received by now; UINT64_MAX when
 * unthrottled. */
static uint64_t allowance(const session *ss)
{
    uint64_t rate = ss->s->o.throughput_mb_per_sec;
    if (!rate)
        return UINT64_MAX;
    uint64_t per_ms = rate * 1048576u / 1000u;
    /* One chunk of credit so that a session starts at once. */
    return (now_ms(ss->s) - ss->started_ms) * per_ms + ss->s->o.chunk_bytes;
}

static void pump(session *ss)
{
    sb_stream *s = ss->s;
    if (ss->state != SB_STREAM_RUNNING)
        return;
    if (ss->parts_done == ss->nparts) {
        end_session(ss, 0);
        return;
    }
    uint64_t now = now_ms(s);
    if (s->o.progress_ms && now - ss->last_log_ms >= s->o.progress_ms) {
        ss->last_log_ms = now;
        log_progress(ss, "progress");
    }
    uint64_t allowed = allowance(ss);
    for (size_t scanned = 0; ss->busy < s->o.window && scanned < ss->nparts; scanned++) {
        /* Pulls in flight count as a full chunk each, so that a window
         * of pulls cannot overshoot the rate. */
        uint64_t due = ss->bytes + (uint64_t)ss->busy * s->o.chunk_bytes;
        if (due >= allowed) {
            uint64_t per_ms = (uint64_t)s->o.throughput_mb_per_sec * 1048576u / 1000u;
            arm_timer(ss, (due - allowed) / (per_ms ? per_ms : 1) + 1);
            return;
        }
        part *p = &ss->parts[ss->rr];
        ss->rr = (ss->rr + 1) % ss->nparts;
        if (p->done || p->busy)
            continue;
        int rc = issue_pull(p);
        if (rc) {
            /* The rpc is full or closing: try again later, without
             * counting it against the source. */
            arm_timer(ss, BACKOFF_MS);
            return;
        }
    }
}

/* --- starting sessions ----------------------------------------------------------- */

/* Splits (start, end] into n parts of about equal width. */
static size_t split_range(sb_stream_range r, uint32_t n, sb_stream_range *out)
{
    uint64_t width = (uint64_t)r.end - (uint64_t)r.start;
    if (n > width)
        n = (uint32_t)width;
    uint64_t step = width / n;
    int64_t lo = r.start;
    for (uint32_t i = 0; i < n; i++) {
        int64_t hi = i + 1 == n ? r.end : (int64_t)((uint64_t)lo + step);
        out[i] = (sb_stream_range){lo, hi};
        lo = hi;
    }
    return n;
}

/* Copies the ranges, splitting wrapping ones. */
static size_t normalize(const sb_stream_range *in, size_t n, sb_stream_range *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].start < in[i].end) {
            out[k++] = in[i];
            continue;
        }
        if (in[i].start < INT64_MAX)
            out[k++] = (sb_stream_range){in[i].start, INT64_MAX};
        if (in[i].end > INT64_MIN)
            out[k++] = (sb_stream_range){INT64_MIN, in[i].end};
    }
    return k;
}

static int add_session(sb_stream *s, session *ss)
{
    /* Forget the oldest finished sessions beyond MAX_FINISHED. */
    size_t finished = 0;
    for (size_t i = 0; i < s->nsessions; i++)
        finished += s->sessions[i]->state != SB_STREAM_RUNNING;
    for (size_t i = 0; i < s->nsessions && finished > MAX_FINISHED;) {
        session *old = s->sessions[i];
        if (old->state == SB_STREAM_RUNNING || old->applying) {
            i++;
            continue;
        }
        session_free(old);
        memmove(&s->sessions[i], &s->sessions[i + 1],
                (s->nsessions - i - 1) * sizeof(*s->sessions));
        s->nsessions--;
        finished--;
    }
    if (s->nsessions == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        session **v = realloc(s->sessions, cap * sizeof(*v));
        if (!v)
            return SB_ENOMEM;
        s->sessions = v;
        s->cap = cap;
    }
    s->sessions[s->nsessions++] = ss;
    return 0;
}

static int build_parts(session *ss, const uint8_t (*tables)[16], size_t ntables)
{
    uint32_t split = ss->s->o.split;
    ss->parts = calloc(ntables * ss->nranges * split, sizeof(part));
    if (!ss->parts)
        return SB_ENOMEM;
    sb_stream_range sub[split];
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < ss->nranges; i++) {
            size_t n = split_range(ss->ranges[i], split, sub);
            for (size_t j = 0; j < n; j++) {
                part *p = &ss->parts[ss->nparts++];
                p->ss = ss;
                memcpy(p->table_id, tables[t], 16);
                p->r = sub[j];
                sb_buf_init(&p->cursor);
                sb_buf_init(&p->next);
                load_progress(ss, p);
            }
        }
    }
    return 0;
}

int sb_stream_start(sb_stream *s, const sb_ep *src, const sb_stream_range *ranges, size_t nranges,
                    const uint8_t (*tables)[16], size_t ntables, sb_stream_done_cb cb, void *arg,
                    uint64_t *session_id, char *errmsg)
{
    uint8_t(*listed)[16] = NULL;
    if (!tables || !ntables) {
        listed = s->o.list_tables ? malloc(1024 * 16) : NULL;
        ntables = listed ? s->o.list_tables(s->o.list_arg, listed, 1024) : 0;
        tables = (const uint8_t(*)[16])listed;
    }
    int rc = 0;
    session *ss = NULL;
    if (!nranges || !ntables || nranges > MAX_PARTS ||
        ntables * nranges * 2 * s->o.split > MAX_PARTS) {
        rc = sb_seterr(errmsg, SB_EINVAL, "stream: %zu ranges of %zu tables (at most %u parts)",
                       nranges, ntables, MAX_PARTS);
        goto fail;
    }
    ss = calloc(1, sizeof(*ss));
    if (!ss || !(ss->ranges = malloc(2 * nranges * sizeof(*ss->ranges))))
        goto nomem;
    ss->s = s;
    ss->id = s->next_id++;
    ss->peer = *src;
    ss->cb = cb;
    ss->arg = arg;
    ss->ntables = ntables;
    ss->nranges = normalize(ranges, nranges, ss->ranges);
    ss->started_ms = ss->last_log_ms = now_ms(s);
    if (build_parts(ss, tables, ntables) || add_session(s, ss))
        goto nomem;
    s->st.sessions_active++;
    if (session_id)
        *session_id = ss->id;
    log_progress(ss, "session started");
    /* Never finish (or call cb) inside start: pump from the loop. */
    arm_timer(ss, 0);
    free(listed);
    return 0;
nomem:
    rc = sb_seterr(errmsg, SB_ENOMEM, "stream: out of memory");
fail:
    if (ss)
        session_free(ss);
    free(listed);
    return rc;
}

/* --- observation ------------------------------------------------------------------ */

size_t sb_stream_nsessions(const sb_stream *s)
{
    return s->nsessions;
}

int sb_stream_session(const sb_stream *s, size_t i, sb_stream_info *out)
{
    if (i >= s->nsessions)
        return SB_ENOTFOUND;
    const session *ss = s->sessions[i];
    *out =
        (sb_stream_info){.id = ss->id,
                         .peer = ss->peer,
                         .state = ss->state,
                         .ranges = ss->ranges,
                         .nranges = ss->nranges,
                         .ntables = ss->ntables,
                         .parts = ss->nparts,
                         .parts_done = ss->parts_done,
                         .bytes = ss->bytes,
                         .rows = ss->rows,
                         .resumed_parts = ss->resumed,
                         .retries = ss->retries,
                         .started_ms = ss->started_ms,
                         .elapsed_ms = (ss->ended_ms ? ss->ended_ms : now_ms(s)) - ss->started_ms,
                         .errmsg = ss->errmsg};
    return 0;
}

void sb_stream_get_stats(const sb_stream *s, sb_stream_stats *st)
{
    *st = s->st;
}
