/*
 * The replica side of coordination, and the wire forms it speaks.
 *
 * A node answers MUTATION (merge the raw entries through io->st->apply,
 * reply with the status once durable), READ (run the raw query through
 * io->st->read; reply with the entries, or only their digest) and
 * TRUNCATE. The forms are in coord_int.h. Nothing received is trusted:
 * a request that does not parse is answered with SB_EBADINPUT when its
 * id could be read, dropped with a log line otherwise.
 *
 * An apply in flight cannot be cancelled; if the coordinator is freed
 * first, its record is orphaned (c = NULL) and freed by its callback.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

typedef struct creplica_op {
    sb_coord *c;
    struct creplica_op *prev, *next;
    sb_ep from;
    uint64_t id;
    int64_t start_us;
} creplica_op;

/* --- digests and forms ------------------------------------------------------ */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t fnv_len(uint64_t h, size_t n)
{
    uint8_t b[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    return fnv(h, b, 4);
}

static uint64_t digest_add(uint64_t h, const sb_raw *e)
{
    h = fnv_len(h, e->klen);
    h = fnv(h, e->key, e->klen);
    h = fnv_len(h, e->vlen);
    return fnv(h, e->val, e->vlen);
}

uint64_t coord_digest(const sb_raw *e, size_t n, int more)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = digest_add(h, &e[i]);
    uint8_t m = more ? 1 : 0;
    return fnv(h, &m, 1);
}

int coord_put_status(sb_buf *out, int status)
{
    return sb_wire_put_u32(out, (uint32_t)(int32_t)status);
}

int sb_coord_status_decode(const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    int32_t st = (int32_t)sb_wire_get_u32(&r);
    if (r.err || r.off != len || st > 0)
        return SB_EBADINPUT;
    return st;
}

typedef struct serve_ctx {
    sb_buf *out;
    int digest;
    uint64_t h;
    uint32_t n;
    int oom;
} serve_ctx;

static int serve_emit(void *arg, const sb_raw *e)
{
    serve_ctx *s = arg;
    s->n++;
    if (s->digest) {
        s->h = digest_add(s->h, e);
        return 0;
    }
    if (sb_wire_put_bytes(s->out, e->key, e->klen) || sb_wire_put_bytes(s->out, e->val, e->vlen)) {
        s->oom = 1;
        return SB_ENOMEM;
    }
    return 0;
}

static void patch_u32(sb_buf *b, size_t at, uint32_t v)
{
    b->data[at] = (uint8_t)(v >> 24);
    b->data[at + 1] = (uint8_t)(v >> 16);
    b->data[at + 2] = (uint8_t)(v >> 8);
    b->data[at + 3] = (uint8_t)v;
}

void coord_serve_read(const sb_io *io, const uint8_t *body, size_t len, sb_buf *out)
{
    size_t start = out->len;
    char errmsg[SB_ERRMSG_SIZE];
    sb_rawq q;
    sb_rawq_init(&q);
    size_t used = 0;
    int rc = len < 1 ? SB_EBADINPUT : sb_rawq_decode(body + 1, len - 1, &q, &used);
    if (!rc && (used != len - 1 || (body[0] & ~COORD_READ_DIGEST)))
        rc = SB_EBADINPUT;
    if (rc) {
        SB_WARN("coord", "malformed READ refused", "len=%zu err=%s", len, sb_errname(rc));
        goto fail;
    }
    serve_ctx s = {out, body[0] & COORD_READ_DIGEST, FNV_OFFSET, 0, 0};
    size_t more_at = out->len + 5, count_at = out->len + 6;
    if (coord_put_status(out, 0) || sb_wire_put_u8(out, s.digest ? 1 : 0) ||
        sb_wire_put_u8(out, 0) || (!s.digest && sb_wire_put_u32(out, 0))) {
        rc = SB_ENOMEM;
        goto fail;
    }
    int more = 0;
    errmsg[0] = '\0';
    rc = io->st->read(io->st_ctx, &q, serve_emit, &s, &more, errmsg);
    if (rc) {
        if (rc != SB_ENOTFOUND)
            SB_WARN("coord", "replica read failed", "err=%s detail=\"%s\"", sb_errname(rc), errmsg);
        goto fail;
    }
    out->data[more_at] = more ? 1 : 0;
    if (s.digest) {
        uint8_t m = more ? 1 : 0;
        if (sb_wire_put_u64(out, fnv(s.h, &m, 1))) {
            rc = SB_ENOMEM;
            goto fail;
        }
    } else {
        patch_u32(out, count_at, s.n);
    }
    sb_rawq_free(&q);
    return;
fail:
    sb_rawq_free(&q);
    out->len = start;
    if (coord_put_status(out, rc))
        out->len = start; /* an empty response: the coordinator sees BADINPUT */
}

int coord_parse_read_resp(const uint8_t *p, size_t n, coord_read_resp *r)
{
    memset(r, 0, sizeof(*r));
    sb_wire_reader rd;
    sb_wire_reader_init(&rd, p, n);
    r->status = (int32_t)sb_wire_get_u32(&rd);
    if (rd.err || r->status > 0)
        return SB_EBADINPUT;
    if (r->status)
        return rd.off == n ? 0 : SB_EBADINPUT;
    r->kind = sb_wire_get_u8(&rd);
    r->more = sb_wire_get_u8(&rd);
    if (rd.err || r->kind > 1 || r->more > 1)
        return SB_EBADINPUT;
    if (r->kind == COORD_RESP_DIGEST) {
        r->digest = sb_wire_get_u64(&rd);
        return rd.err || rd.off != n ? SB_EBADINPUT : 0;
    }
    uint32_t cnt = sb_wire_get_u32(&rd);
    if (rd.err || cnt > (n - rd.off) / 8)
        return SB_EBADINPUT;
    r->ents = sb_calloc(cnt ? cnt : 1, sizeof(*r->ents));
    if (!r->ents)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < cnt && !rd.err; i++) {
        sb_wire_get_bytes(&rd, &r->ents[i].key, &r->ents[i].klen, n);
        sb_wire_get_bytes(&rd, &r->ents[i].val, &r->ents[i].vlen, n);
    }
    if (rd.err || rd.off != n) {
        free(r->ents);
        r->ents = NULL;
        return SB_EBADINPUT;
    }
    r->nents = cnt;
    return 0;
}

/* --- serving requests ---------------------------------------------------- */

/* One observation per request received (coord.h on_replica). */
static void observe(sb_coord *c, const char *op, int status, int64_t start_us)
{
    if (c->o.on_replica)
        c->o.on_replica(c->o.observer_arg, op, status, coord_elapsed_s(c, start_us));
}

static void reply_status(sb_coord *c, const sb_ep *to, uint64_t id, int status)
{
    sb_buf_reset(&c->scratch);
    if (coord_put_status(&c->scratch, status) == 0)
        sb_rpc_reply(c->rpc, to, id, c->scratch.data, c->scratch.len);
}

static void on_replica_applied(void *arg, int status)
{
    creplica_op *op = arg;
    sb_coord *c = op->c;
    if (c) {
        if (op->prev)
            op->prev->next = op->next;
        else
            c->replica_ops = op->next;
        if (op->next)
            op->next->prev = op->prev;
        reply_status(c, &op->from, op->id, status);
        observe(c, "mutation", status, op->start_us);
    }
    free(op);
}

static void serve_mutation(sb_coord *c, const sb_ep *from, uint64_t id, const uint8_t *body,
                           size_t len, int64_t start_us)
{
    sb_raw_mut *m;
    size_t n;
    int rc = sb_mutation_decode(body, len, &m, &n);
    if (rc) {
        char e[SB_EP_STRLEN];
        SB_WARN("coord", "malformed MUTATION refused", "from=%s len=%zu", sb_ep_str(from, e), len);
        reply_status(c, from, id, rc);
        observe(c, "mutation", rc, start_us);
        return;
    }
    c->stats.replica_writes++;
    creplica_op *op = sb_calloc(1, sizeof(*op));
    if (!op) {
        free(m);
        reply_status(c, from, id, SB_ENOMEM);
        observe(c, "mutation", SB_ENOMEM, start_us);
        return;
    }
    op->c = c;
    op->from = *from;
    op->id = id;
    op->start_us = start_us;
    rc = c->io->st->apply(c->io->st_ctx, m, n, on_replica_applied, op);
    free(m);
    if (rc) {
        free(op);
        reply_status(c, from, id, rc);
        observe(c, "mutation", rc, start_us);
        return;
    }
    op->next = c->replica_ops;
    if (op->next)
        op->next->prev = op;
    c->replica_ops = op;
}

static void serve_truncate(sb_coord *c, const sb_ep *from, uint64_t id, const uint8_t *body,
                           size_t len, int64_t start_us)
{
    if (len != 16) {
        reply_status(c, from, id, SB_EBADINPUT);
        observe(c, "truncate", SB_EBADINPUT, start_us);
        return;
    }
    char errmsg[SB_ERRMSG_SIZE];
    errmsg[0] = '\0';
    int rc = c->io->st->truncate(c->io->st_ctx, body, errmsg);
    if (rc && rc != SB_ENOTFOUND)
        SB_WARN("coord", "truncate failed", "err=%s detail=\"%s\"", sb_errname(rc), errmsg);
    reply_status(c, from, id, rc);
    /* A replica without the table has nothing to truncate (coord.c agrees). */
    observe(c, "truncate", rc == SB_ENOTFOUND ? 0 : rc, start_us);
}

static void serve_read(sb_coord *c, const sb_ep *from, uint64_t id, const uint8_t *body, size_t len,
                       int64_t start_us)
{
    c->stats.replica_reads++;
    sb_buf_reset(&c->scratch);
    coord_serve_read(c->io, body, len, &c->scratch);
    /* The response starts with its status; empty = could not even say. */
    int status = SB_EBADINPUT;
    if (c->scratch.len >= 4) {
        const uint8_t *p = c->scratch.data;
        status = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                           (uint32_t)p[3]);
    }
    sb_rpc_reply(c->rpc, from, id, c->scratch.data, c->scratch.len);
    observe(c, "read", status, start_us);
}

static const char *op_of(int type)
{
    switch (type) {
    case SB_MSG_MUTATION:
        return "mutation";
    case SB_MSG_READ:
        return "read";
    case SB_MSG_TRUNCATE:
        return "truncate";
    default:
        return NULL;
    }
}

void sb_coord_receive(sb_coord *c, int type, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    int64_t start_us = c->io->now_us(c->io->ctx);
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen)) {
        SB_WARN("coord", "malformed request dropped", "type=%d len=%zu", type, len);
        if (op_of(type))
            observe(c, op_of(type), SB_EBADINPUT, start_us);
        return;
    }
    switch (type) {
    case SB_MSG_MUTATION:
        serve_mutation(c, &from, id, body, blen, start_us);
        break;
    case SB_MSG_READ:
        serve_read(c, &from, id, body, blen, start_us);
        break;
    case SB_MSG_TRUNCATE:
        serve_truncate(c, &from, id, body, blen, start_us);
        break;
    case SB_MSG_PAXOS_PREPARE:
    case SB_MSG_PAXOS_PROPOSE:
    case SB_MSG_PAXOS_COMMIT:
        if (c->paxos_acceptor)
            paxos_acceptor_receive(c->paxos_acceptor, type, &from, id, body, blen);
        else
            reply_status(c, &from, id, SB_ENOMEM);
        break;
    default:
        SB_WARN("coord", "unexpected message type dropped", "type=%d", type);
        break;
    }
}

/* Orphans the applies in flight (called by sb_coord_free). */
void coord_replica_detach(sb_coord *c)
{
    for (creplica_op *op = c->replica_ops; op; op = op->next)
        op->c = NULL;
    c->replica_ops = NULL;
}
