/*
 * CQL through the coordinator (coord.h).
 *
 * Writes: the engine's batch holds only the statement's mutation
 * (sb_wbatch_new_mutation); its buffer moves to the coordinator
 * (sb_coord_write_mutation) with the statement's consistency level and
 * write type, uncopied.
 *
 * Reads: the engine runs a statement optimistically (cql.h
 * sb_cql_reader). Each read it opens is turned into a raw query
 * (sb_read_rawq) and looked up in the execution's cache; a miss records
 * the query and yields no rows, and the engine then asks us to fetch: one
 * sb_coord_read per missing query, with a bound on entries and bytes per
 * round. A read that reaches the end of data the replicas said was cut
 * short (more = 1) records a continuation: the next round asks for the
 * entries after the last one held (before the first one, reversed). The
 * cache lives for one execution, so every answer is as fresh as the
 * consistency level makes it.
 *
 * Schema: the blob of cluster.h is the keyspaces and tables in the store's
 * own JSON forms, sorted, with the DDL timestamp; its version is a SHA-256
 * prefix, so equal schemas have equal versions everywhere.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "util/arena.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"
#include "storage/murmur3.h"

/* ------------------------------------------------------------- details */

/* --------------------------------------------------------------- writes */

typedef struct wreq {
    sb_cql_write_done cb;
    void *arg;
} wreq;

int sb_cql_glue_write(void *arg, sb_wbatch *b, int cl, const char *write_type, sb_write_done_fn cb,
                      void *cb_arg)
{
    sb_cql_glue *g = arg;
    /* Ingestion creates and alters its tables itself: when this batch
     * comes with a new schema, push the schema first, so that it reaches
     * every peer ahead of the mutations (one ordered connection per peer).
     * After CQL DDL the schema was pushed already. */
    if (memcmp(g->seen_version, sb_store_schema(g->store)->version, 16) != 0)
        sb_cql_glue_schema_changed(g);
    sb_buf mut;
    int rc = sb_wbatch_take_mutation(b, &mut);
    sb_wbatch_free(b);
    if (rc)
        return SB_EOVERLOADED;
    /* The coordinator takes the mutation (no copy) and answers cb with its
     * result as it is: the edges map it. */
    return sb_coord_write_mutation(sb_cluster_coord(g->cluster), &mut, cl, write_type, cb, cb_arg);
}

static void on_coord_truncate(void *arg, const sb_coord_result *r)
{
    wreq *w = arg;
    sb_cql_write_done cb = w->cb;
    void *cbarg = w->arg;
    free(w);
    if (r->status == 0) {
        cb(cbarg, 0, NULL);
        return;
    }
    sb_cql_error d;
    sb_cql_error_from_result(r, 0, &d);
    if (r->status == SB_ETIMEOUT) {
        d.code = SB_CQL_ERR_TRUNCATE;
        snprintf(d.message, sizeof d.message, "Truncate timed out: %d of %d nodes answered",
                 r->received, r->required);
    } else if (r->status == SB_EUNAVAILABLE) {
        snprintf(d.message, sizeof d.message,
                 "Cannot achieve consistency level ALL: TRUNCATE needs every node up "
                 "(%d of %d alive)",
                 r->alive, r->required);
    }
    cb(cbarg, r->status, &d);
}

static int glue_truncate(void *arg, const uint8_t table_id[16], sb_cql_write_done cb, void *cb_arg)
{
    sb_cql_glue *g = arg;
    wreq *w = sb_malloc(sizeof *w);
    if (!w)
        return SB_ENOMEM;
    w->cb = cb;
    w->arg = cb_arg;
    int rc = sb_coord_truncate(sb_cluster_coord(g->cluster), table_id, on_coord_truncate, w);
    if (rc != 0)
        free(w);
    return rc;
}

/* ---------------------------------------------------------------- reads */

typedef struct rd_ent {
    sb_raw e;
    uint64_t seq; /* later answers win on equal keys */
} rd_ent;

typedef struct rd_query {
    sb_rawq q; /* without limits: the cache key */
    rd_ent *ents;
    sb_raw *raws; /* ents' sb_raw, for sb_store_iter_raw */
    size_t n, cap;
    int fetched, more, need;
    struct rd_query *next;
} rd_query;

typedef struct rd_ctx {
    sb_cql_glue *g;
    rd_query *queries;
    sb_arena mem; /* answers' keys and values (all-zero: empty) */
    uint64_t seq;
    /* fetch in progress */
    int outstanding;
    int status;
    sb_cql_error detail;
    sb_cql_fetch_done done;
    void *done_arg;
    /* a serial fetch's Paxos round (coord.h), until the cas hook takes it */
    sb_coord_paxos *pax;
    int serial_cl;
} rd_ctx;

typedef struct rd_iter {
    sb_iter *inner;
    rd_query *q;
} rd_iter;

static int buf_eq(const sb_buf *a, const sb_buf *b)
{
    return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

static int rawq_same(const sb_rawq *a, const sb_rawq *b)
{
    return !memcmp(a->table_id, b->table_id, 16) && a->reversed == b->reversed &&
           buf_eq(&a->head_lo, &b->head_lo) && buf_eq(&a->head_hi, &b->head_hi) &&
           buf_eq(&a->lo, &b->lo) && buf_eq(&a->hi, &b->hi);
}

static void *rd_begin(void *arg)
{
    rd_ctx *c = sb_calloc(1, sizeof *c);
    if (c)
        c->g = arg;
    return c;
}

static void rd_end(void *rctx)
{
    rd_ctx *c = rctx;
    if (!c)
        return;
    for (rd_query *q = c->queries, *nx; q; q = nx) {
        nx = q->next;
        sb_rawq_free(&q->q);
        free(q->ents);
        free(q->raws);
        free(q);
    }
    sb_arena_close(&c->mem);
    sb_coord_paxos_free(c->pax);
    free(c);
}

static int rd_open(void *rctx, const sb_read *r, void **out, char *errmsg)
{
    rd_ctx *c = rctx;
    *out = NULL;
    if (!c)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    sb_rawq q;
    sb_rawq_init(&q);
    int rc = sb_read_rawq(r, &q, errmsg);
    if (rc != 0) {
        sb_rawq_free(&q);
        return rc;
    }
    rd_query *found = NULL;
    for (rd_query *x = c->queries; x; x = x->next)
        if (rawq_same(&x->q, &q)) {
            found = x;
            break;
        }
    if (found) {
        sb_rawq_free(&q);
    } else {
        found = sb_calloc(1, sizeof *found);
        if (!found) {
            sb_rawq_free(&q);
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        }
        found->q = q;
        found->need = 1;
        found->next = c->queries;
        c->queries = found;
    }
    rd_iter *it = sb_calloc(1, sizeof *it);
    if (!it)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    it->q = found;
    rc = sb_store_iter_raw(r, found->raws, found->n, &it->inner, errmsg);
    if (rc != 0) {
        free(it);
        return rc;
    }
    *out = it;
    return 0;
}

static int rd_next(void *p, sb_row *row)
{
    rd_iter *it = p;
    int rc = sb_iter_next(it->inner, row);
    if (rc == 0 && it->q->fetched && it->q->more)
        it->q->need = 1; /* ran off the end of a partial answer */
    return rc;
}

static void rd_close(void *p)
{
    rd_iter *it = p;
    if (!it)
        return;
    sb_iter_free(it->inner);
    free(it);
}

static int rd_pending(void *rctx)
{
    rd_ctx *c = rctx;
    if (!c)
        return 0;
    for (rd_query *q = c->queries; q; q = q->next)
        if (q->need)
            return 1;
    return 0;
}

static int ent_cmp(const void *a, const void *b)
{
    const rd_ent *x = a, *y = b;
    size_t n = x->e.klen < y->e.klen ? x->e.klen : y->e.klen;
    int c = memcmp(x->e.key, y->e.key, n);
    if (c)
        return c;
    if (x->e.klen != y->e.klen)
        return x->e.klen < y->e.klen ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq; /* newest first */
}

/* Adds an answer's entries (copied) to a query's sorted, unique set. */
static int add_entries(rd_ctx *c, rd_query *q, const sb_raw *e, size_t n)
{
    if (n == 0)
        return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].klen + e[i].vlen;
    uint8_t *p = sb_arena_bytes(&c->mem, bytes);
    if (!p)
        return SB_ENOMEM;
    if (q->n + n > q->cap) {
        size_t cap = q->cap ? q->cap : 64;
        while (cap < q->n + n)
            cap *= 2;
        rd_ent *ne = sb_realloc(q->ents, sizeof *ne * cap);
        if (!ne)
            return SB_ENOMEM;
        q->ents = ne;
        sb_raw *nr = sb_realloc(q->raws, sizeof *nr * cap);
        if (!nr)
            return SB_ENOMEM;
        q->raws = nr;
        q->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        rd_ent *d = &q->ents[q->n++];
        if (e[i].klen)
            memcpy(p, e[i].key, e[i].klen);
        d->e.key = p;
        d->e.klen = e[i].klen;
        p += e[i].klen;
        if (e[i].vlen)
            memcpy(p, e[i].val, e[i].vlen);
        d->e.val = p;
        d->e.vlen = e[i].vlen;
        p += e[i].vlen;
        d->seq = ++c->seq;
    }
    qsort(q->ents, q->n, sizeof *q->ents, ent_cmp);
    size_t w = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (w > 0 && q->ents[w - 1].e.klen == q->ents[i].e.klen &&
            !memcmp(q->ents[w - 1].e.key, q->ents[i].e.key, q->ents[i].e.klen))
            continue; /* an older copy of the same key */
        q->ents[w++] = q->ents[i];
    }
    q->n = w;
    for (size_t i = 0; i < q->n; i++)
        q->raws[i] = q->ents[i].e;
    return 0;
}

typedef struct rd_req {
    rd_ctx *c;
    rd_query *q;
} rd_req;

static void fetch_finish(rd_ctx *c)
{
    sb_cql_fetch_done done = c->done;
    void *arg = c->done_arg;
    c->done = NULL;
    if (c->status)
        done(arg, c->status, &c->detail);
    else
        done(arg, 0, NULL);
}

static void on_coord_read(void *arg, const sb_coord_result *r, const sb_raw *e, size_t n, int more)
{
    rd_req *rq = arg;
    rd_ctx *c = rq->c;
    rd_query *q = rq->q;
    free(rq);
    if (r->status != 0) {
        if (!c->status) {
            c->status = r->status;
            sb_cql_error_from_result(r, 1, &c->detail);
        }
    } else if (add_entries(c, q, e, n) != 0) {
        if (!c->status) {
            c->status = SB_ENOMEM;
            memset(&c->detail, 0, sizeof c->detail);
            c->detail.code = SB_CQL_ERR_SERVER;
            snprintf(c->detail.message, sizeof c->detail.message, "out of memory");
        }
    } else {
        q->fetched = 1;
        q->more = more;
    }
    if (--c->outstanding == 0)
        fetch_finish(c);
}

/* Copies q's key into out with the round's limits and, for a
 * continuation, the range narrowed to what is still missing. */
static int round_query(const sb_cql_glue *g, const rd_query *q, sb_rawq *out)
{
    sb_rawq_init(out);
    memcpy(out->table_id, q->q.table_id, 16);
    out->reversed = q->q.reversed;
    out->max_entries = g->fetch_entries;
    out->max_bytes = g->fetch_bytes;
    int rc = sb_buf_append(&out->head_lo, q->q.head_lo.data, q->q.head_lo.len);
    rc = rc ? rc : sb_buf_append(&out->head_hi, q->q.head_hi.data, q->q.head_hi.len);
    rc = rc ? rc : sb_buf_append(&out->lo, q->q.lo.data, q->q.lo.len);
    rc = rc ? rc : sb_buf_append(&out->hi, q->q.hi.data, q->q.hi.len);
    if (rc || !q->fetched || !q->more || q->n == 0)
        return rc;
    if (!q->q.reversed) {
        /* after the largest key held */
        const sb_raw *last = &q->ents[q->n - 1].e;
        sb_buf_reset(&out->lo);
        rc = sb_buf_append(&out->lo, last->key, last->klen);
        return rc ? rc : sb_buf_putc(&out->lo, 0);
    }
    /* before the smallest main-range key held */
    for (size_t i = 0; i < q->n; i++) {
        const sb_raw *e = &q->ents[i].e;
        size_t m = e->klen < q->q.lo.len ? e->klen : q->q.lo.len;
        int c = memcmp(e->key, q->q.lo.data, m);
        if (c > 0 || (c == 0 && e->klen >= q->q.lo.len)) {
            sb_buf_reset(&out->hi);
            return sb_buf_append(&out->hi, e->key, e->klen);
        }
    }
    return 0;
}

static void fetch_reads(rd_ctx *c, int cl, sb_cql_fetch_done done, void *done_arg)
{
    c->done = done;
    c->done_arg = done_arg;
    c->status = 0;
    c->outstanding = 1; /* held until every read is sent */
    for (rd_query *q = c->queries; q; q = q->next) {
        if (!q->need)
            continue;
        q->need = 0;
        rd_req *rq = sb_malloc(sizeof *rq);
        sb_rawq qq;
        if (!rq || round_query(c->g, q, &qq) != 0) {
            free(rq);
            if (!c->status) {
                c->status = SB_ENOMEM;
                c->detail.code = SB_CQL_ERR_SERVER;
                snprintf(c->detail.message, sizeof c->detail.message, "out of memory");
            }
            continue;
        }
        rq->c = c;
        rq->q = q;
        c->outstanding++;
        int rc = sb_coord_read(sb_cluster_coord(c->g->cluster), &qq, cl, on_coord_read, rq);
        sb_rawq_free(&qq);
        if (rc != 0) {
            c->outstanding--;
            free(rq);
            if (!c->status) {
                sb_coord_result r;
                memset(&r, 0, sizeof r);
                r.status = rc;
                r.consistency = cl;
                snprintf(r.message, sizeof r.message, "read refused: %s", sb_strerror(rc));
                c->status = rc;
                sb_cql_error_from_result(&r, 1, &c->detail);
            }
        }
    }
    if (--c->outstanding == 0)
        fetch_finish(c); /* nothing was sent (errors only) */
}

/* ------------------------------------------------- lightweight transactions */

static void fetch_fail(rd_ctx *c, int status, int code, const char *msg)
{
    c->status = status;
    memset(&c->detail, 0, sizeof c->detail);
    c->detail.code = code;
    snprintf(c->detail.message, sizeof c->detail.message, "%s", msg);
    fetch_finish(c);
}

static void on_paxos_ready(void *arg, const sb_coord_result *r, sb_coord_paxos *p)
{
    rd_ctx *c = arg;
    if (r->status != 0) {
        c->status = r->status;
        sb_cql_error_from_result(r, 0, &c->detail);
        fetch_finish(c);
        return;
    }
    c->pax = p;
    fetch_reads(c, sb_coord_paxos_read_cl(c->serial_cl), c->done, c->done_arg);
}

/* A fetch at SERIAL / LOCAL_SERIAL prepares a Paxos round on the one
 * partition the reads are in (once per execution), then reads at quorum
 * under it: what is read is the latest commit, and the round's promise
 * keeps older ballots from being accepted meanwhile. */
static void rd_fetch(void *rctx, int cl, sb_cql_fetch_done done, void *done_arg)
{
    rd_ctx *c = rctx;
    if (cl != SB_CL_SERIAL && cl != SB_CL_LOCAL_SERIAL) {
        fetch_reads(c, cl, done, done_arg);
        return;
    }
    if (c->pax) {
        fetch_reads(c, sb_coord_paxos_read_cl(c->serial_cl), done, done_arg);
        return;
    }
    c->done = done;
    c->done_arg = done_arg;
    c->status = 0;
    const rd_query *first = NULL;
    for (const rd_query *q = c->queries; q; q = q->next) {
        if (!q->need)
            continue;
        if (!first)
            first = q;
        if (!q->q.head_lo.len || memcmp(q->q.table_id, first->q.table_id, 16) ||
            !buf_eq(&q->q.head_lo, &first->q.head_lo)) {
            fetch_fail(c, SB_EINVALID, SB_CQL_ERR_INVALID,
                       "SERIAL/LOCAL_SERIAL consistency may only be requested for one partition "
                       "at a time");
            return;
        }
    }
    if (!first) {
        fetch_finish(c);
        return;
    }
    c->serial_cl = cl;
    int rc =
        sb_coord_paxos_begin(sb_cluster_coord(c->g->cluster), first->q.table_id,
                             first->q.head_lo.data, first->q.head_lo.len, cl, on_paxos_ready, c);
    if (rc != 0)
        fetch_fail(c, rc, SB_CQL_ERR_SERVER, "the Paxos round could not start");
}

static int64_t rd_serial_ts(void *rctx)
{
    rd_ctx *c = rctx;
    return c && c->pax ? sb_coord_paxos_timestamp(c->pax) : 0;
}

typedef struct cas_req {
    sb_cql_glue *g;
    sb_cql_cas_done cb;
    void *arg;
} cas_req;

static void on_cas(void *arg, const sb_coord_result *r, int retry)
{
    cas_req *x = arg;
    sb_cql_cas_done cb = x->cb;
    void *cbarg = x->arg;
    sb_cql_glue *g = x->g;
    free(x);
    if (retry) {
        cb(cbarg, 0, 1, NULL);
        return;
    }
    if (r->status == 0) {
        sb_coord_lwt_outcome(sb_cluster_coord(g->cluster), 1);
        cb(cbarg, 0, 0, NULL);
        return;
    }
    sb_cql_error d;
    sb_cql_error_from_result(r, 0, &d);
    cb(cbarg, r->status, 0, &d);
}

static int glue_cas(void *arg, void *rctx, sb_wbatch *b, int cl, sb_cql_cas_done cb, void *cb_arg)
{
    sb_cql_glue *g = arg;
    rd_ctx *c = rctx;
    sb_buf mut;
    int rc = sb_wbatch_take_mutation(b, &mut);
    sb_wbatch_free(b);
    if (rc)
        return SB_ENOMEM;
    if (!c || !c->pax) {
        sb_buf_free(&mut);
        return SB_EINVALID;
    }
    cas_req *x = sb_malloc(sizeof *x);
    if (!x) {
        sb_buf_free(&mut);
        return SB_ENOMEM;
    }
    *x = (cas_req){g, cb, cb_arg};
    sb_coord_paxos *p = c->pax;
    c->pax = NULL; /* the proposal takes the round */
    rc = sb_coord_paxos_propose(p, &mut, cl, on_cas, x);
    if (rc != 0)
        free(x);
    return rc;
}

static void glue_cas_outcome(void *arg, int applied)
{
    sb_cql_glue *g = arg;
    if (!applied)
        sb_coord_lwt_outcome(sb_cluster_coord(g->cluster), 0);
}

void sb_cql_glue_install(sb_cql_glue *g, sb_cql_engine_opts *o)
{
    if (!g->fetch_entries)
        g->fetch_entries = 5000;
    if (!g->fetch_bytes)
        g->fetch_bytes = 4u << 20;
    o->write = sb_cql_glue_write;
    o->write_arg = g;
    o->truncate = glue_truncate;
    o->reader.begin = rd_begin;
    o->reader.open = rd_open;
    o->reader.next = rd_next;
    o->reader.close = rd_close;
    o->reader.pending = rd_pending;
    o->reader.fetch = rd_fetch;
    o->reader.end = rd_end;
    o->reader.serial_ts = rd_serial_ts;
    o->reader.arg = g;
    o->cas = glue_cas;
    o->cas_outcome = glue_cas_outcome;
}

/* --------------------------------------------------------- replication */

int sb_cql_glue_table_repl(void *arg, const uint8_t table_id[16], sb_repl *out)
{
    sb_cql_glue *g = arg;
    const sb_schema *s = sb_store_schema(g->store);
    for (int i = 0; i < s->nks; i++) {
        const sb_keyspace *k = s->ks[i];
        for (int j = 0; j < k->ntables; j++) {
            if (memcmp(k->tables[j]->id, table_id, 16) != 0)
                continue;
            char msg[SB_ERRMSG_SIZE];
            if (sb_repl_parse(k->replication_json ? k->replication_json : "", out, msg) != 0) {
                /* a keyspace Sibyl accepted earlier: fall back to one copy */
                memset(out, 0, sizeof *out);
                out->kind = SB_REPL_SIMPLE;
                out->rf = 1;
            }
            return 0;
        }
    }
    return SB_ENOTFOUND;
}

/* --------------------------------------------------------------- schema */

static const uint8_t TS_KEY[] = "sys/schema_ts";

static int ts_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    int64_t *ts = arg;
    if (klen == sizeof TS_KEY - 1 && vlen == 8) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | v[i];
        *ts = (int64_t)u;
    }
    return 0;
}

static int64_t schema_ts(sb_cql_glue *g)
{
    if (!g->ts_loaded) {
        g->ts = 0;
        sb_store_kv_scan(g->store, TS_KEY, sizeof TS_KEY - 1, ts_emit, &g->ts);
        g->ts_loaded = 1;
    }
    return g->ts;
}

static void set_schema_ts(sb_cql_glue *g, int64_t ts)
{
    uint8_t v[8];
    g->ts = ts; /* the kv write is asynchronous: remember it */
    g->ts_loaded = 1;
    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)((uint64_t)ts >> (56 - 8 * i));
    g->io->st->kv_put(g->io->st_ctx, TS_KEY, sizeof TS_KEY - 1, v, 8, NULL, NULL);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds the blob and version of the current schema into the glue's
 * cache, unless the cache already holds them (same store version and
 * timestamp): gossip, pulls and system.local ask often, DDL is rare. */
static int schema_build(sb_cql_glue *g)
{
    const sb_schema *s = sb_store_schema(g->store);
    int64_t ts = schema_ts(g);
    if (g->cache_ok && g->cache_ts == ts && !memcmp(g->cache_key, s->version, 16))
        return 0;
    g->cache_ok = 0;
    sb_buf *blob = &g->cache_blob;
    /* keyspace JSON strings and table JSON strings, sorted */
    int nks = s->nks, nt = 0;
    for (int i = 0; i < nks; i++)
        nt += s->ks[i]->ntables;
    char **ks = sb_calloc((size_t)nks + 1, sizeof *ks);
    char **tb = sb_calloc((size_t)nt + 1, sizeof *tb);
    int rc = (!ks || !tb) ? SB_ENOMEM : 0;
    int t = 0;
    for (int i = 0; i < nks && !rc; i++) {
        if (!(ks[i] = sb_keyspace_to_json(s->ks[i])))
            rc = SB_ENOMEM;
        for (int j = 0; j < s->ks[i]->ntables && !rc; j++)
            if (!(tb[t++] = sb_table_to_json(s->ks[i]->tables[j])))
                rc = SB_ENOMEM;
    }
    if (!rc) {
        qsort(ks, (size_t)nks, sizeof *ks, name_cmp);
        qsort(tb, (size_t)nt, sizeof *tb, name_cmp);
        sb_buf_reset(blob);
        rc = sb_buf_printf(blob, "{\"ts\":%lld,\"keyspaces\":[", (long long)ts);
        for (int i = 0; i < nks && !rc; i++)
            rc = sb_buf_printf(blob, "%s%s", i ? "," : "", ks[i]);
        rc = rc ? rc : sb_buf_printf(blob, "],\"tables\":[");
        for (int i = 0; i < nt && !rc; i++)
            rc = sb_buf_printf(blob, "%s%s", i ? "," : "", tb[i]);
        rc = rc ? rc : sb_buf_printf(blob, "]}");
    }
    for (int i = 0; ks && i < nks; i++)
        free(ks[i]);
    for (int i = 0; tb && i < nt; i++)
        free(tb[i]);
    free(ks);
    free(tb);
    if (rc)
        return rc;
    uint8_t md[32];
    unsigned int mdlen = 0;
    EVP_Digest(blob->data, blob->len, md, &mdlen, EVP_sha256(), NULL);
    uint8_t *version = g->cache_version;
    memcpy(version, md, 16);
    version[6] = (uint8_t)((version[6] & 0x0f) | 0x30); /* a name-based UUID (v3 layout) */
    version[8] = (uint8_t)((version[8] & 0x3f) | 0x80);
    memcpy(g->cache_key, s->version, 16);
    g->cache_ts = ts;
    g->cache_ok = 1;
    return 0;
}

static int schema_get(void *arg, sb_buf *blob, uint8_t version[16], int64_t *ts_us)
{
    sb_cql_glue *g = arg;
    int rc = schema_build(g);
    if (rc)
        return rc;
    sb_buf_reset(blob);
    rc = sb_buf_append(blob, g->cache_blob.data, g->cache_blob.len);
    memcpy(version, g->cache_version, 16);
    *ts_us = g->cache_ts;
    return rc;
}

int sb_cql_glue_schema_version(sb_cql_glue *g, uint8_t out[16])
{
    int rc = schema_build(g);
    if (rc == 0)
        memcpy(out, g->cache_version, 16);
    return rc;
}

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

/* Makes the local schema equal to the blob's. */
static int schema_replace(sb_cql_glue *g, const uint8_t *blob, size_t len, int additive,
                          char *errmsg);

/* A peer's schema (push or pull). With the Raft group in charge of DDL it
 * is taken additively: what the group applied is never dropped or
 * replaced by a peer's view, which may be behind the log; only what the
 * group does not carry yet (tables ingestion creates, columns it adds)
 * spreads this way, and only from a peer whose schema timestamp is newer
 * than ours (see schema_replace). */
static int schema_put(void *arg, const uint8_t *blob, size_t len, char *errmsg)
{
    sb_cql_glue *g = arg;
    return schema_replace(g, blob, len, g->engine && g->cluster && sb_cluster_group(g->cluster),
                          errmsg);
}

static int schema_replace(sb_cql_glue *g, const uint8_t *blob, size_t len, int additive,
                          char *errmsg)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)blob, len, 0, &jerr);
    if (!root)
        return sb_seterr(errmsg, SB_EBADINPUT, "schema blob: %s", jerr.text);
    json_t *jks = json_object_get(root, "keyspaces");
    json_t *jtb = json_object_get(root, "tables");
    json_t *jts = json_object_get(root, "ts");
    if (!json_is_array(jks) || !json_is_array(jtb) || !json_is_integer(jts)) {
        json_decref(root);
        return sb_seterr(errmsg, SB_EBADINPUT, "schema blob: missing fields");
    }
    /* The schema timestamp only grows with each entry the group applies,
     * so a peer whose schema is no newer than ours is at or behind our
     * place in the log: it has nothing we lack, and may still hold what
     * the group has since dropped. Taking its keyspaces and tables would
     * bring a dropped keyspace back here (and from here to every node). */
    if (additive && json_integer_value(jts) <= schema_ts(g)) {
        json_decref(root);
        return 0;
    }
    int rc = 0;
    size_t i;
    json_t *v;
    /* keyspaces to create or alter */
    json_array_foreach(jks, i, v)
    {
        char *text = dump(v);
        sb_keyspace *k = NULL;
        if (!text || (rc = sb_keyspace_from_json(text, &k, errmsg)) != 0) {
            free(text);
            rc = rc ? rc : SB_ENOMEM;
            break;
        }
        const sb_keyspace *old = sb_schema_keyspace(sb_store_schema(g->store), k->name);
        char *oldtext = old ? sb_keyspace_to_json(old) : NULL;
        if (!old)
            rc = sb_store_create_keyspace(g->store, k, errmsg);
        else if (!additive && (!oldtext || strcmp(oldtext, text) != 0))
            rc = sb_store_alter_keyspace(g->store, k, errmsg);
        else
            sb_keyspace_free(k);
        free(oldtext);
        free(text);
        if (rc)
            break;
    }
    /* tables to create, replace or alter */
    json_array_foreach(jtb, i, v)
    {
        if (rc)
            break;
        char *text = dump(v);
        sb_table *t = NULL;
        if (!text || (rc = sb_table_from_json(text, &t, errmsg)) != 0) {
            free(text);
            rc = rc ? rc : SB_ENOMEM;
            break;
        }
        const sb_table *old = sb_schema_table(sb_store_schema(g->store), t->keyspace, t->name);
        if (additive && (!sb_schema_keyspace(sb_store_schema(g->store), t->keyspace) ||
                         (old && (memcmp(old->id, t->id, 16) != 0 || t->ncols <= old->ncols)))) {
            /* additive: only new tables and tables with more columns */
            sb_table_free(t);
            free(text);
            continue;
        }
        if (old && memcmp(old->id, t->id, 16) != 0) {
            /* dropped and created again elsewhere */
            rc = sb_store_drop_table(g->store, t->keyspace, t->name, errmsg);
            old = NULL;
        }
        char *oldtext = old ? sb_table_to_json(old) : NULL;
        if (rc)
            sb_table_free(t);
        else if (!old)
            rc = sb_store_create_table(g->store, t, errmsg);
        else if (!oldtext || strcmp(oldtext, text) != 0)
            rc = sb_store_alter_table(g->store, t, errmsg);
        else
            sb_table_free(t);
        free(oldtext);
        free(text);
    }
    /* tables and keyspaces the blob does not have */
    const sb_schema *s = sb_store_schema(g->store);
    for (int a = additive ? -1 : s->nks - 1; a >= 0 && !rc; a--) {
        const sb_keyspace *k = s->ks[a];
        int keep_ks = 0;
        json_array_foreach(jks, i, v)
        {
            const char *name = json_string_value(json_object_get(v, "name"));
            keep_ks |= name && !strcmp(name, k->name);
        }
        if (!keep_ks) {
            char name[256];
            snprintf(name, sizeof name, "%s", k->name);
            rc = sb_store_drop_keyspace(g->store, name, errmsg);
            s = sb_store_schema(g->store);
            continue;
        }
        for (int b = k->ntables - 1; b >= 0 && !rc; b--) {
            const sb_table *t = k->tables[b];
            int keep = 0;
            json_array_foreach(jtb, i, v)
            {
                const char *ksn = json_string_value(json_object_get(v, "keyspace"));
                const char *tn = json_string_value(json_object_get(v, "name"));
                keep |= ksn && tn && !strcmp(ksn, t->keyspace) && !strcmp(tn, t->name);
            }
            if (!keep) {
                char ksn[256], tn[256];
                snprintf(ksn, sizeof ksn, "%s", t->keyspace);
                snprintf(tn, sizeof tn, "%s", t->name);
                rc = sb_store_drop_table(g->store, ksn, tn, errmsg);
                s = sb_store_schema(g->store);
                k = s->ks[a];
            }
        }
    }
    if (!rc)
        set_schema_ts(g, (int64_t)json_integer_value(jts));
    memcpy(g->seen_version, sb_store_schema(g->store)->version, 16);
    json_decref(root);
    return rc;
}

void sb_cql_glue_schema_ops(sb_cql_glue *g, sb_cluster_schema_ops *ops)
{
    ops->get = schema_get;
    ops->put = schema_put;
    ops->arg = g;
}

void sb_cql_glue_schema_changed(sb_cql_glue *g)
{
    int64_t now = g->io->now_us(g->io->ctx);
    int64_t old = schema_ts(g);
    set_schema_ts(g, now > old ? now : old + 1);
    memcpy(g->seen_version, sb_store_schema(g->store)->version, 16);
    if (g->cluster)
        sb_cluster_schema_changed(g->cluster);
}

/* ------------------------------------------------ schema through Raft
 *
 * A metadata command is [u8 kind][str keyspace][i64 ts us][bytes text];
 * kind 1 is a CQL schema statement run with the session's keyspace.
 * Applying it runs the statement on the local store (sb_cql_apply_ddl):
 * the same statements in the same order give every node the same schema.
 * What is not the same by itself is made so: a new table's id derives
 * from the entry's index and text, the schema timestamp from the
 * proposer's clock (never going back).
 */

#define META_DDL 1

/* A schema change is answered once this node has applied it and every
 * live node gossips the same schema version (bounded): a client may use
 * the new table through any node right after the answer, as after the
 * schema agreement drivers wait for. */
#define AGREE_POLL_MS 10
#define AGREE_MAX_MS 5000

typedef struct ddl_prop {
    sb_cql_glue *g;
    sb_cql_write_done done;
    void *arg;
    int status;
    char msg[SB_ERRMSG_SIZE];
    uint32_t waited_ms;
} ddl_prop;

static void ddl_answer(ddl_prop *p)
{
    sb_cql_error d;
    memset(&d, 0, sizeof d);
    d.status = p->status;
    snprintf(d.message, sizeof d.message, "%s", p->msg);
    sb_cql_write_done done = p->done;
    void *darg = p->arg;
    free(p);
    done(darg, d.status, &d);
}

static void on_agree_poll(void *arg)
{
    ddl_prop *p = arg;
    sb_cql_glue *g = p->g;
    if (p->waited_ms >= AGREE_MAX_MS || !g->cluster || sb_cluster_schema_agreed(g->cluster)) {
        ddl_answer(p);
        return;
    }
    p->waited_ms += AGREE_POLL_MS;
    if (!g->io->timer_start(g->io->ctx, AGREE_POLL_MS, on_agree_poll, p))
        ddl_answer(p);
}

static void on_ddl_committed(void *arg, int status, const char *msg)
{
    ddl_prop *p = arg;
    p->status = status;
    snprintf(p->msg, sizeof p->msg, "%s", msg ? msg : "");
    if (status != 0 || !p->msg[0] || !p->g->cluster) {
        ddl_answer(p); /* refused, or nothing changed */
        return;
    }
    on_agree_poll(p);
}

int sb_cql_glue_ddl(void *arg, const char *keyspace, const char *text, size_t len,
                    sb_cql_write_done done, void *done_arg)
{
    sb_cql_glue *g = arg;
    sb_group *grp = g->cluster ? sb_cluster_group(g->cluster) : NULL;
    if (!grp)
        return SB_EUNAVAILABLE;
    sb_buf cmd;
    sb_buf_init(&cmd);
    int rc = sb_wire_put_u8(&cmd, META_DDL);
    rc = rc ? rc : sb_wire_put_str(&cmd, keyspace);
    rc = rc ? rc : sb_wire_put_i64(&cmd, g->io->now_us(g->io->ctx));
    rc = rc ? rc : sb_wire_put_bytes(&cmd, text, len);
    ddl_prop *p = rc ? NULL : sb_calloc(1, sizeof *p);
    if (!p) {
        sb_buf_free(&cmd);
        return SB_ENOMEM;
    }
    p->g = g;
    p->done = done;
    p->arg = done_arg;
    rc = sb_group_propose(grp, cmd.data, cmd.len, on_ddl_committed, p);
    sb_buf_free(&cmd);
    if (rc)
        free(p);
    return rc;
}

static int meta_apply(void *arg, uint64_t index, const uint8_t *cmd, size_t len, char *errmsg)
{
    sb_cql_glue *g = arg;
    sb_wire_reader r;
    sb_wire_reader_init(&r, cmd, len);
    char ks[SB_CQL_NAME_SIZE];
    uint8_t kind = sb_wire_get_u8(&r);
    sb_wire_get_str(&r, ks, sizeof ks);
    int64_t ts = sb_wire_get_i64(&r);
    const uint8_t *text;
    size_t tlen;
    sb_wire_get_bytes(&r, &text, &tlen, len);
    if (r.err || kind != META_DDL)
        return sb_seterr(errmsg, SB_EBADINPUT, "unknown metadata command at index %llu",
                         (unsigned long long)index);
    if (!g->engine)
        return sb_seterr(errmsg, SB_ESERVER, "no CQL engine to apply the schema change");
    /* the new table's id: the same on every node */
    uint8_t seed[8], id[16];
    uint64_t h[2];
    for (int i = 0; i < 8; i++)
        seed[i] = (uint8_t)(index >> (56 - 8 * i));
    sb_buf b;
    sb_buf_init(&b);
    if (sb_buf_append(&b, seed, 8) || sb_buf_append(&b, text, tlen)) {
        sb_buf_free(&b);
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    }
    sb_murmur3_x64_128(b.data, b.len, h);
    sb_buf_free(&b);
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(h[0] >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(h[1] >> (56 - 8 * i));
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    int rc = sb_cql_apply_ddl(g->engine, ks, (const char *)text, tlen, id, errmsg);
    if (rc != 0)
        SB_INFO("raft", "schema change refused", "index=%llu err=\"%s\"", (unsigned long long)index,
                errmsg);
    if (rc == 0 && errmsg[0]) {
        int64_t old = schema_ts(g);
        set_schema_ts(g, ts > old ? ts : old);
        memcpy(g->seen_version, sb_store_schema(g->store)->version, 16);
        if (g->cluster)
            sb_cluster_schema_applied(g->cluster);
        SB_INFO("raft", "schema change applied", "index=%llu change=\"%s\"",
                (unsigned long long)index, errmsg);
    }
    return rc;
}

static int meta_snapshot(void *arg, sb_buf *out)
{
    uint8_t version[16];
    int64_t ts;
    return schema_get(arg, out, version, &ts);
}

static int meta_restore(void *arg, const uint8_t *p, size_t len)
{
    sb_cql_glue *g = arg;
    char errmsg[SB_ERRMSG_SIZE];
    int rc = schema_replace(g, p, len, 0, errmsg);
    if (rc)
        SB_ERROR("raft", "could not restore the schema from a snapshot", "err=\"%s\"", errmsg);
    else if (g->cluster)
        sb_cluster_schema_applied(g->cluster);
    return rc;
}

void sb_cql_glue_fsm(sb_cql_glue *g, sb_group_fsm *fsm)
{
    fsm->apply = meta_apply;
    fsm->snapshot = meta_snapshot;
    fsm->restore = meta_restore;
    fsm->arg = g;
}
