/*
 * Saved state (gossip_int.h): what gossip keeps in the kv space across
 * restarts: the last generation (sys/generation), the local tokens
 * (sys/tokens) and the peers (sys/peers/<host id>).
 *
 * Saved peers. Every peer's endpoint, host id, dc, rack, addresses, status
 * and tokens are saved in the kv space under "sys/peers/" + host id when
 * one of them changes (compared by checksum with the last record saved, so
 * a steady cluster writes nothing), and deleted when the peer is removed.
 * At start they are loaded as placeholders: members that are down, with
 * generation 0, heartbeat 0 and no field versions, so the ring is whole at
 * once after a restart (as Cassandra's system.peers) while any state that
 * gossip brings replaces them (any real generation is newer). Adopting that
 * state is a first sighting (NEW), not a restart: the node is not up until
 * its heartbeat is seen rising. Placeholders are never gossiped.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_int.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define KV_TOKENS "sys/tokens"
#define KV_GENERATION "sys/generation"
#define KV_PEERS "sys/peers/" /* + host id (16 raw bytes) */
#define KV_PEERS_LEN 10
#define PEER_REC_VERSION 1

/* --- saved peers ----------------------------------------------------------- */

static int zero_id(const uint8_t id[16])
{
    static const uint8_t zero[16];
    return memcmp(id, zero, 16) == 0;
}

static void peer_key(uint8_t k[KV_PEERS_LEN + 16], const uint8_t host_id[16])
{
    memcpy(k, KV_PEERS, KV_PEERS_LEN);
    memcpy(k + KV_PEERS_LEN, host_id, 16);
}

/* FNV-1a: tells whether a record differs from the one last saved. */
static uint64_t checksum(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Record: u8 version, ep, i64 generation (when saved), raw host id, str dc,
 * str rack, u8 has_rpc [ep], u8 has_http [ep], u8 status, u16 n, n x i64
 * tokens. */
static int put_peer(sb_buf *b, const sb_member *m)
{
    int rc = sb_wire_put_u8(b, PEER_REC_VERSION);
    if (!rc)
        rc = sb_wire_put_ep(b, &m->ep);
    if (!rc)
        rc = sb_wire_put_i64(b, m->generation);
    if (!rc)
        rc = sb_wire_put_raw(b, m->host_id, 16);
    if (!rc)
        rc = sb_wire_put_str(b, m->dc);
    if (!rc)
        rc = sb_wire_put_str(b, m->rack);
    if (!rc)
        rc = sb_wire_put_u8(b, m->rpc.family != 0);
    if (!rc && m->rpc.family)
        rc = sb_wire_put_ep(b, &m->rpc);
    if (!rc)
        rc = sb_wire_put_u8(b, m->http.family != 0);
    if (!rc && m->http.family)
        rc = sb_wire_put_ep(b, &m->http);
    if (!rc)
        rc = sb_wire_put_u8(b, (uint8_t)m->status);
    if (!rc)
        rc = gossip_put_tokens(b, m->tokens, m->ntokens);
    return rc;
}

/* Decodes a record into m; NULL, or why it is malformed. */
static const char *get_peer(const uint8_t *v, size_t n, sb_member *m)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, v, n);
    memset(m, 0, sizeof *m);
    if (sb_wire_get_u8(&r) != PEER_REC_VERSION)
        return r.err ? "empty record" : "unknown record version";
    sb_wire_get_ep(&r, &m->ep);
    m->generation = sb_wire_get_i64(&r);
    sb_wire_get_raw(&r, m->host_id, 16);
    sb_wire_get_str(&r, m->dc, sizeof m->dc);
    sb_wire_get_str(&r, m->rack, sizeof m->rack);
    if (sb_wire_get_u8(&r))
        sb_wire_get_ep(&r, &m->rpc);
    if (sb_wire_get_u8(&r))
        sb_wire_get_ep(&r, &m->http);
    m->status = sb_wire_get_u8(&r);
    unsigned cnt = sb_wire_get_u16(&r);
    if (r.err)
        return "truncated record";
    if (m->status < SB_STATUS_JOINING || m->status > SB_STATUS_SHUTDOWN)
        return "unknown status";
    const char *why = gossip_get_tokens(&r, cnt, m->tokens, &m->ntokens);
    if (why)
        return why;
    if (r.err || r.off != r.n)
        return r.err ? "truncated tokens" : "trailing bytes";
    if (m->ep.family != 4 && m->ep.family != 6)
        return "no endpoint";
    return NULL;
}

/* Saves a peer's ring-relevant state (sys/peers/<host id>) if it differs
 * from what was last saved, so that a restart starts with the whole ring.
 * Called on changes of status, tokens, dc, rack, host id or addresses
 * only, so writes are as rare as topology changes. */
void gossip_save_peer(sb_gossip *g, gnode *n)
{
    const sb_io_store *st = g->io->st;
    if (n == g->self || !gossip_known(n) || zero_id(n->m.host_id) || !st || !st->kv_put)
        return;
    sb_member rec = n->m;
    rec.status = n->m.status ? n->m.status : SB_STATUS_JOINING;
    sb_buf b;
    sb_buf_init(&b);
    int rc = put_peer(&b, &rec);
    uint64_t sum = rc ? 0 : checksum(b.data, b.len);
    if (!rc && sum != n->saved_sum) {
        uint8_t k[KV_PEERS_LEN + 16];
        peer_key(k, n->m.host_id);
        rc = st->kv_put(g->io->st_ctx, k, sizeof k, b.data, b.len, NULL, NULL);
        if (!rc)
            n->saved_sum = sum;
    }
    sb_buf_free(&b);
    if (rc) {
        char eps[SB_EP_STRLEN];
        SB_WARN("gossip", "cannot save peer", "ep=%s rc=%s", sb_ep_str(&n->m.ep, eps),
                sb_errname(rc));
    }
}

/* Deletes the saved record of host_id unless a member other than except
 * still has that host id. */
void gossip_forget_peer(sb_gossip *g, const uint8_t host_id[16], const gnode *except)
{
    const sb_io_store *st = g->io->st;
    if (zero_id(host_id) || !st || !st->kv_del)
        return;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i] != except && !memcmp(g->nodes[i]->m.host_id, host_id, 16))
            return;
    uint8_t k[KV_PEERS_LEN + 16];
    peer_key(k, host_id);
    int rc = st->kv_del(g->io->st_ctx, k, sizeof k, NULL, NULL);
    if (rc)
        SB_WARN("gossip", "cannot delete saved peer", "rc=%s", sb_errname(rc));
}

/* --- saved tokens ---------------------------------------------------------- */

int gossip_save_tokens(sb_gossip *g, const int64_t *t, int n)
{
    const sb_io_store *st = g->io->st;
    if (!st || !st->kv_put)
        return 0;
    sb_buf b;
    sb_buf_init(&b);
    int rc = gossip_put_tokens(&b, t, n);
    if (!rc)
        rc = st->kv_put(g->io->st_ctx, (const uint8_t *)KV_TOKENS, strlen(KV_TOKENS), b.data, b.len,
                        NULL, NULL);
    sb_buf_free(&b);
    return rc;
}

/* --- loading at start ------------------------------------------------------ */

typedef struct saved_peer {
    sb_member m;
    uint64_t sum;
    uint8_t key_id[16]; /* host id in the key (the record's own, if sound) */
} saved_peer;

struct kvload {
    int64_t last_gen;
    int have_gen;
    int64_t tokens[SB_MAX_TOKENS];
    int ntokens;
    const char *bad;
    saved_peer *peers;
    int npeers, cap;
    int nomem;
};

/* Collects one sys/peers/ record; a malformed one is logged and skipped
 * (it is a cache: gossip brings the truth). */
static void load_peer(struct kvload *l, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen)
{
    sb_member m;
    const char *why = klen != KV_PEERS_LEN + 16 ? "bad key length" : get_peer(v, vlen, &m);
    if (!why && memcmp(k + KV_PEERS_LEN, m.host_id, 16))
        why = "host id differs from the key";
    if (why) {
        SB_WARN("gossip", "saved peer ignored", "reason=\"%s\" bytes=%zu", why, vlen);
        return;
    }
    if (l->npeers >= GOSSIP_MAX_MEMBERS)
        return;
    if (l->npeers == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        saved_peer *np = realloc(l->peers, (size_t)cap * sizeof *np);
        if (!np) {
            l->nomem = 1;
            return;
        }
        l->peers = np;
        l->cap = cap;
    }
    saved_peer *p = &l->peers[l->npeers++];
    p->m = m;
    p->sum = checksum(v, vlen);
    memcpy(p->key_id, m.host_id, 16);
}

static int kv_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct kvload *l = arg;
    sb_wire_reader r;
    sb_wire_reader_init(&r, v, vlen);
    if (klen >= KV_PEERS_LEN && !memcmp(k, KV_PEERS, KV_PEERS_LEN)) {
        load_peer(l, k, klen, v, vlen);
    } else if (klen == strlen(KV_GENERATION) && !memcmp(k, KV_GENERATION, klen)) {
        l->last_gen = sb_wire_get_i64(&r);
        l->have_gen = 1;
        if (r.err || r.off != r.n)
            l->bad = KV_GENERATION;
    } else if (klen == strlen(KV_TOKENS) && !memcmp(k, KV_TOKENS, klen)) {
        unsigned n = sb_wire_get_u16(&r);
        if (n == 0 || n > SB_MAX_TOKENS) {
            l->bad = KV_TOKENS;
            return 0;
        }
        if (gossip_get_tokens(&r, n, l->tokens, &l->ntokens) || r.err || r.off != r.n)
            l->bad = KV_TOKENS;
    }
    return 0;
}

/* The saved peers become members: down, generation 0 and heartbeat 0 and
 * no field versions, so that any state gossip brings replaces them (see
 * apply_restart), and they are never gossiped themselves. Of two records
 * for one endpoint (its host id changed) the one saved from the later
 * generation wins and the other is deleted. */
static int add_saved_peers(sb_gossip *g, const struct kvload *l)
{
    for (int i = 0; i < l->npeers; i++) {
        const saved_peer *p = &l->peers[i];
        int loses = sb_ep_eq(&p->m.ep, &g->o.self) || !memcmp(p->m.host_id, g->o.host_id, 16);
        for (int j = 0; !loses && j < l->npeers; j++) {
            const saved_peer *q = &l->peers[j];
            loses = j != i && sb_ep_eq(&q->m.ep, &p->m.ep) &&
                    (q->m.generation > p->m.generation ||
                     (q->m.generation == p->m.generation && j < i));
        }
        if (loses) {
            gossip_forget_peer(g, p->key_id, NULL);
            continue;
        }
        gnode *n = gossip_add_node(g, &p->m.ep);
        if (!n)
            return SB_ENOMEM; /* not a duplicate (see above) nor over the bound */
        n->m = p->m;
        n->m.generation = 0;
        n->m.heartbeat = 0;
        n->m.up = 0;
        n->m.is_self = 0;
        n->m.since_ms = gossip_now_ms(g);
        n->saved_sum = p->sum;
    }
    return 0;
}

/* The local node: generation (saved), saved tokens, fields. */
static int init_self_node(sb_gossip *g, const struct kvload *lp, char *errmsg)
{
    const sb_io *io = g->io;
    const struct kvload *l = lp;
    int64_t gen = io->now_us(io->ctx) / 1000000;
    if (l->have_gen && gen <= l->last_gen)
        gen = l->last_gen + 1;
    if (gen <= 0)
        gen = 1;
    if (io->st && io->st->kv_put) {
        uint8_t v[8];
        for (int i = 0; i < 8; i++)
            v[i] = (uint8_t)((uint64_t)gen >> (56 - 8 * i));
        int rc = io->st->kv_put(io->st_ctx, (const uint8_t *)KV_GENERATION, strlen(KV_GENERATION),
                                v, 8, NULL, NULL);
        /* A node on a full disk still starts (read-only): the generation
         * comes from the clock, saving it only guards against a clock
         * that went back. */
        if (rc == SB_EDISKFULL || rc == SB_EIO)
            SB_WARN("gossip", "cannot save the generation; using it unsaved", "err=%s",
                    sb_strerror(rc));
        else if (rc)
            return sb_seterr(errmsg, rc, "gossip: cannot save generation: %s", sb_strerror(rc));
    }
    gnode *s = gossip_add_node(g, &g->o.self);
    if (!s)
        return sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
    g->self = s;
    sb_member *m = &s->m;
    m->is_self = 1;
    m->up = 1;
    m->rpc = g->o.rpc;
    m->http = g->o.http;
    memcpy(m->host_id, g->o.host_id, 16);
    memcpy(m->dc, g->o.dc, SB_DC_MAX);
    m->dc[SB_DC_MAX - 1] = '\0';
    memcpy(m->rack, g->o.rack, SB_DC_MAX);
    m->rack[SB_DC_MAX - 1] = '\0';
    memcpy(m->release_version, g->o.release_version, sizeof m->release_version);
    m->release_version[sizeof m->release_version - 1] = '\0';
    m->generation = gen;
    m->since_ms = gossip_now_ms(g);
    if (l->ntokens > 0) {
        memcpy(m->tokens, l->tokens, (size_t)l->ntokens * sizeof *l->tokens);
        m->ntokens = l->ntokens;
        m->status = SB_STATUS_NORMAL;
        gossip_touch_self(g, F_TOKENS);
    } else {
        m->status = SB_STATUS_JOINING;
    }
    static const int fields[] = {F_STATUS, F_DC,     F_RACK, F_HOST_ID, F_RPC,
                                 F_HTTP,   F_SCHEMA, F_LOAD, F_RELEASE};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        gossip_touch_self(g, fields[i]);
    return 0;
}

/* The local node's state at start, then the saved peers. */
int gossip_init_self(sb_gossip *g, char *errmsg)
{
    const sb_io *io = g->io;
    struct kvload l = {0};
    if (io->st && io->st->kv_scan) {
        int rc = io->st->kv_scan(io->st_ctx, (const uint8_t *)"sys/", 4, kv_emit, &l);
        if (!rc && l.nomem)
            rc = SB_ENOMEM;
        if (rc) {
            free(l.peers);
            return sb_seterr(errmsg, rc, "gossip: cannot read saved state: %s", sb_strerror(rc));
        }
        if (l.bad) {
            free(l.peers);
            return sb_seterr(errmsg, SB_ECORRUPT, "gossip: saved %s is malformed", l.bad);
        }
    }
    int rc = init_self_node(g, &l, errmsg);
    if (!rc && add_saved_peers(g, &l))
        rc = sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
    free(l.peers);
    return rc;
}
