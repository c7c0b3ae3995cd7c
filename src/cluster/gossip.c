/*
 * Membership and failure detection (gossip.h).
 *
 * NOTES ON THE DESIGN
 *
 * Endpoint state. Every known node (the local one included) is a gnode:
 * the public sb_member, the version each application state ("field") was
 * last changed at, and a phi accrual window. A node's owner keeps one
 * version counter per generation: the heartbeat. Every round increments
 * it, and every local change of a field increments it too and stamps the
 * field with the new value, so a field's version never exceeds the
 * heartbeat, and "max version" in a digest is simply the heartbeat.
 *
 * Wire format (payload = [sender ep] then the body, rpc.h sb_msg_build):
 *   digest  = ep, i64 generation, u32 heartbeat
 *   state   = ep, i64 generation, u32 heartbeat, u8 nfields,
 *             nfields x (u8 key, u32 version, bytes value)
 *   SYN     = str cluster_name, u16 n, n x digest
 *   ACK     = u16 n, n x state, u16 m, m x digest (requests: "send me the
 *             fields of ep newer than version", 0 = everything)
 *   ACK2    = u16 n, n x state
 *   SHUTDOWN= state (the sender's own, status SHUTDOWN)
 * Field values are length-prefixed, so an unknown key is skipped (newer
 * peers may add fields). Incoming messages are decoded completely once
 * to validate them and then a second time to apply them, so a malformed
 * message changes nothing; it is counted in stats.rejected and logged
 * (rate-limited) with its reason. Outgoing messages stop taking states at
 * GOSSIP_MSG_MAX bytes (the rest goes in later rounds), and a node knows
 * at most GOSSIP_MAX_MEMBERS nodes, so no message is unbounded.
 *
 * Merging. A state whose generation is older than the known one is
 * ignored; a newer generation of a known node is a restart (fields are
 * replaced, the detector window reset, the node is up at once: RESTARTED,
 * then UP if it was down); within one generation every field whose
 * version is newer replaces the known value. Our own state is only ever
 * changed by us.
 *
 * Up and down. A node learned second-hand (NEW) is not up until its
 * heartbeat is seen to increase: a dead node's last state, still relayed
 * by others, never makes it look alive. Each increase is an arrival for
 * the detector; every round marks down the peers whose phi exceeds the
 * threshold. A node whose status is SHUTDOWN is down and stays down until
 * a new generation.
 *
 * Ring. The snapshot holds the nodes that own tokens and are NORMAL,
 * LEAVING or SHUTDOWN (a node that stopped cleanly still owns its ranges;
 * it is down, not gone). It is rebuilt whenever a status, token, dc, rack
 * or host id changes, before the STATUS / NEW event is delivered. Old
 * snapshots that someone holds a reference to are kept in `retired` until
 * their last unref.
 *
 * Removal. A node whose status is LEFT and that has been down for
 * GOSSIP_LEFT_ROUNDS rounds is forgotten (REMOVED) and its generation
 * quarantined: older states of it relayed by others are ignored.
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
 *
 * Joining. A node with no saved tokens starts JOINING and allocates them
 * at the first round after its ready time: at once if it is its own seed,
 * else ring_delay_ms after it first heard from a seed, or ring_delay_ms
 * after start if no seed answered. So that nodes started together do not
 * compute the same tokens from the same ring, a node also waits while
 * JOINING nodes with smaller endpoints (not known dead) are still
 * allocating, as long as one of them finished within the last 4 ring
 * delays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip.h"
#include "cluster/rpc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define GOSSIP_MAX_MEMBERS 1024
#define GOSSIP_MAX_SEEDS 64
#define GOSSIP_MAX_LISTENERS 8
#define GOSSIP_MSG_MAX (64 * 1024)    /* outgoing: no more states past this */
#define GOSSIP_PAYLOAD_MAX (1u << 20) /* incoming: larger is refused */
#define GOSSIP_FIELD_MAX 4096
#define GOSSIP_LEFT_ROUNDS 30 /* a LEFT node down this long is removed */
#define GOSSIP_MAX_REMOVED 64 /* quarantine of removed (ep, generation) */

#define KV_TOKENS "sys/tokens"
#define KV_GENERATION "sys/generation"
#define KV_PEERS "sys/peers/" /* + host id (16 raw bytes) */
#define KV_PEERS_LEN 10
#define PEER_REC_VERSION 1

enum {
    F_STATUS = 1,
    F_TOKENS,
    F_DC,
    F_RACK,
    F_HOST_ID,
    F_RPC,
    F_HTTP,
    F_SCHEMA,
    F_LOAD,
    F_RELEASE,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "?", "status", "tokens", "dc", "rack", "host_id", "rpc", "http", "schema", "load", "release",
};

typedef struct gnode {
    sb_member m;
    uint32_t ver[F_COUNT]; /* 0: never set */
    sb_fd fd;
    int fd_started;
    int mark;           /* scratch: mentioned in the SYN being answered */
    uint64_t saved_sum; /* checksum of the record saved under sys/peers/ */
} gnode;

/* A decoded state: values in v, ver[k] > 0 for each field present. */
typedef struct gstate {
    sb_ep ep;
    int64_t gen;
    uint32_t hb;
    uint32_t ver[F_COUNT];
    sb_member v;
    char why[96]; /* reason a decode failed, when composed */
} gstate;

typedef struct gdigest {
    sb_ep ep;
    int64_t gen;
    uint32_t ver;
} gdigest;

typedef struct ringref {
    sb_ring *r;
    int refs;
} ringref;

struct sb_gossip {
    const sb_io *io;
    sb_gossip_opts o;
    sb_ep seeds[GOSSIP_MAX_SEEDS];
    gnode **nodes; /* sorted by ep */
    int nnodes;
    gnode *self;
    struct {
        sb_gossip_event_fn fn;
        void *arg;
    } ls[GOSSIP_MAX_LISTENERS];
    int nls;
    sb_io_timer *timer;
    int started, stopped;
    uint64_t start_ms;
    uint64_t seed_contact_ms;  /* 0: no seed heard yet */
    int join_ahead;            /* joiners ahead of us at the last round */
    uint64_t join_progress_ms; /* when that count last changed */
    sb_ring *ring;
    int ring_refs;
    ringref *retired;
    int nretired;
    gdigest *digs; /* GOSSIP_MAX_MEMBERS, scratch for incoming digests */
    sb_buf body, out, fbuf;
    sb_gossip_stats stats;
    uint64_t reject_log_ms, reject_quiet;
    int reject_logged;
    char why[96];
    struct {
        sb_ep ep;
        int64_t gen;
    } removed[GOSSIP_MAX_REMOVED];
    int nremoved;
};

static const char *const status_names[] = {"?", "JOINING", "NORMAL", "LEAVING", "LEFT", "SHUTDOWN"};

const char *sb_node_status_name(int status)
{
    if (status >= SB_STATUS_JOINING && status <= SB_STATUS_SHUTDOWN)
        return status_names[status];
    return "UNKNOWN";
}

void sb_gossip_opts_default(sb_gossip_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->cluster_name, sizeof o->cluster_name, "Sibyl Cluster");
    snprintf(o->dc, sizeof o->dc, "datacenter1");
    snprintf(o->rack, sizeof o->rack, "rack1");
    snprintf(o->release_version, sizeof o->release_version, "4.0.11");
    o->num_tokens = 16;
    o->interval_ms = 1000;
    o->phi_threshold = 8;
    o->ring_delay_ms = 0; /* 0: 2 * interval_ms */
}

static uint64_t now_ms(const sb_gossip *g)
{
    return g->io->mono_ms(g->io->ctx);
}

static uint64_t rnd(const sb_gossip *g)
{
    return g->io->random(g->io->ctx);
}

static int is_seed(const sb_gossip *g, const sb_ep *ep)
{
    for (int i = 0; i < g->o.nseeds; i++)
        if (sb_ep_eq(&g->seeds[i], ep))
            return 1;
    return 0;
}

static int in_ring(const sb_member *m)
{
    return m->ntokens > 0 && (m->status == SB_STATUS_NORMAL || m->status == SB_STATUS_LEAVING ||
                              m->status == SB_STATUS_SHUTDOWN);
}

/* --- rejected input ------------------------------------------------------ */

/* Counts a refused message and logs why, at most once a second (a broken
 * or hostile peer must not flood the log). */
static void reject(sb_gossip *g, int type, const sb_ep *from, const char *why)
{
    char eps[SB_EP_STRLEN] = "?";
    g->stats.rejected++;
    uint64_t now = now_ms(g);
    if (g->reject_logged && now - g->reject_log_ms < 1000) {
        g->reject_quiet++;
        return;
    }
    if (from)
        sb_ep_str(from, eps);
    SB_WARN("gossip", "message refused", "type=%d from=%s reason=\"%s\" suppressed=%llu", type, eps,
            why, (unsigned long long)g->reject_quiet);
    g->reject_logged = 1;
    g->reject_log_ms = now;
    g->reject_quiet = 0;
}

/* --- events and the ring -------------------------------------------------- */

static void emit(sb_gossip *g, int ev, const gnode *n)
{
    for (int i = 0; i < g->nls; i++)
        g->ls[i].fn(g->ls[i].arg, ev, &n->m);
}

static void retire_ring(sb_gossip *g)
{
    if (!g->ring)
        return;
    if (g->ring_refs == 0) {
        sb_ring_free(g->ring);
    } else {
        ringref *nr = realloc(g->retired, (size_t)(g->nretired + 1) * sizeof *nr);
        if (!nr) {
            /* Cannot track it: leak rather than free under a holder. */
            SB_ERROR("gossip", "cannot retire ring", "refs=%d", g->ring_refs);
        } else {
            g->retired = nr;
            g->retired[g->nretired++] = (ringref){g->ring, g->ring_refs};
        }
    }
    g->ring = NULL;
    g->ring_refs = 0;
}

/* 0, or SB_ENOMEM with the previous ring kept. */
static int rebuild_ring(sb_gossip *g)
{
    sb_ring_node *rn = calloc((size_t)g->nnodes + 1, sizeof *rn);
    if (!rn)
        return SB_ENOMEM;
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const sb_member *m = &g->nodes[i]->m;
        if (!in_ring(m))
            continue;
        rn[k].ep = m->ep;
        memcpy(rn[k].host_id, m->host_id, 16);
        memcpy(rn[k].dc, m->dc, SB_DC_MAX);
        memcpy(rn[k].rack, m->rack, SB_DC_MAX);
        rn[k].tokens = m->tokens;
        rn[k].ntokens = m->ntokens;
        k++;
    }
    sb_ring *r = sb_ring_build(rn, k);
    free(rn);
    if (!r) {
        SB_ERROR("gossip", "ring rebuild failed", "nodes=%d", k);
        return SB_ENOMEM;
    }
    retire_ring(g);
    g->ring = r;
    return 0;
}

const sb_ring *sb_gossip_ring(sb_gossip *g)
{
    return g->ring;
}

void sb_gossip_ring_ref(sb_gossip *g, const sb_ring *r)
{
    if (r == g->ring) {
        g->ring_refs++;
        return;
    }
    for (int i = 0; i < g->nretired; i++)
        if (g->retired[i].r == r) {
            g->retired[i].refs++;
            return;
        }
    SB_ASSERT(!"sb_gossip_ring_ref: not a ring of this gossip");
}

void sb_gossip_ring_unref(sb_gossip *g, const sb_ring *r)
{
    if (r == g->ring) {
        SB_ASSERT(g->ring_refs > 0);
        g->ring_refs--;
        return;
    }
    for (int i = 0; i < g->nretired; i++)
        if (g->retired[i].r == r) {
            SB_ASSERT(g->retired[i].refs > 0);
            if (--g->retired[i].refs == 0) {
                sb_ring_free(g->retired[i].r);
                g->retired[i] = g->retired[--g->nretired];
            }
            return;
        }
    SB_ASSERT(!"sb_gossip_ring_unref: not a ring of this gossip");
}

/* --- members -------------------------------------------------------------- */

static int node_index(const sb_gossip *g, const sb_ep *ep, int *pos)
{
    int lo = 0, hi = g->nnodes;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = sb_ep_cmp(&g->nodes[mid]->m.ep, ep);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return -1;
}

static gnode *find_node(const sb_gossip *g, const sb_ep *ep)
{
    int i = node_index(g, ep, NULL);
    return i < 0 ? NULL : g->nodes[i];
}

static gnode *add_node(sb_gossip *g, const sb_ep *ep)
{
    int pos = 0;
    if (g->nnodes >= GOSSIP_MAX_MEMBERS || node_index(g, ep, &pos) >= 0)
        return NULL;
    gnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->m.ep = *ep;
    memmove(&g->nodes[pos + 1], &g->nodes[pos], (size_t)(g->nnodes - pos) * sizeof *g->nodes);
    g->nodes[pos] = n;
    g->nnodes++;
    return n;
}

int sb_gossip_nmembers(const sb_gossip *g)
{
    return g->nnodes;
}

const sb_member *sb_gossip_member(const sb_gossip *g, int i)
{
    return i >= 0 && i < g->nnodes ? &g->nodes[i]->m : NULL;
}

const sb_member *sb_gossip_find(const sb_gossip *g, const sb_ep *ep)
{
    const gnode *n = find_node(g, ep);
    return n ? &n->m : NULL;
}

const sb_member *sb_gossip_self(const sb_gossip *g)
{
    return &g->self->m;
}

int sb_gossip_is_up(const sb_gossip *g, const sb_ep *ep)
{
    const gnode *n = find_node(g, ep);
    return n ? n->m.up : 0;
}

void sb_gossip_get_stats(const sb_gossip *g, sb_gossip_stats *st)
{
    *st = g->stats;
}

int sb_gossip_on_event(sb_gossip *g, sb_gossip_event_fn fn, void *arg)
{
    if (g->nls >= GOSSIP_MAX_LISTENERS)
        return SB_ETOOBIG;
    g->ls[g->nls].fn = fn;
    g->ls[g->nls].arg = arg;
    g->nls++;
    return 0;
}

static int schema_differs(const sb_gossip *g, const gnode *n)
{
    static const uint8_t zero[16];
    return memcmp(n->m.schema_version, zero, 16) != 0 &&
           memcmp(n->m.schema_version, g->self->m.schema_version, 16) != 0;
}

static void set_up(sb_gossip *g, gnode *n, int up)
{
    char eps[SB_EP_STRLEN];
    if (n->m.up == up)
        return;
    n->m.up = up;
    n->m.since_ms = now_ms(g);
    if (up) {
        g->stats.marked_up++;
        SB_INFO("gossip", "node up", "ep=%s generation=%lld", sb_ep_str(&n->m.ep, eps),
                (long long)n->m.generation);
        emit(g, SB_GOSSIP_UP, n);
        if (schema_differs(g, n))
            emit(g, SB_GOSSIP_SCHEMA, n);
    } else {
        g->stats.marked_down++;
        SB_INFO("gossip", "node down", "ep=%s phi=%.2f status=%s", sb_ep_str(&n->m.ep, eps),
                n->m.phi, sb_node_status_name(n->m.status));
        emit(g, SB_GOSSIP_DOWN, n);
    }
}

/* --- fields ----------------------------------------------------------------- */

static int put_field(sb_buf *b, const sb_member *m, int key)
{
    int rc = 0;
    switch (key) {
    case F_STATUS:
        return sb_wire_put_u8(b, (uint8_t)m->status);
    case F_TOKENS:
        rc = sb_wire_put_u16(b, (uint16_t)m->ntokens);
        for (int i = 0; !rc && i < m->ntokens; i++)
            rc = sb_wire_put_i64(b, m->tokens[i]);
        return rc;
    case F_DC:
        return sb_wire_put_str(b, m->dc);
    case F_RACK:
        return sb_wire_put_str(b, m->rack);
    case F_HOST_ID:
        return sb_wire_put_raw(b, m->host_id, 16);
    case F_RPC: /* an unset address (family 0) is an empty value */
        return m->rpc.family ? sb_wire_put_ep(b, &m->rpc) : 0;
    case F_HTTP:
        return m->http.family ? sb_wire_put_ep(b, &m->http) : 0;
    case F_SCHEMA:
        return sb_wire_put_raw(b, m->schema_version, 16);
    case F_LOAD:
        return sb_wire_put_u64(b, m->load_bytes);
    case F_RELEASE:
        return sb_wire_put_str(b, m->release_version);
    }
    return SB_EINVAL;
}

/* Decodes one field value into m. NULL, or why it is malformed. */
static const char *get_field(const uint8_t *p, size_t n, int key, sb_member *m)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n);
    switch (key) {
    case F_STATUS: {
        uint8_t s = sb_wire_get_u8(&r);
        if (!r.err && (s < SB_STATUS_JOINING || s > SB_STATUS_SHUTDOWN))
            return "unknown status";
        m->status = s;
        break;
    }
    case F_TOKENS: {
        unsigned cnt = sb_wire_get_u16(&r);
        if (cnt > SB_MAX_TOKENS)
            return "too many tokens";
        for (unsigned i = 0; i < cnt && !r.err; i++) {
            m->tokens[i] = sb_wire_get_i64(&r);
            if (i > 0 && m->tokens[i] <= m->tokens[i - 1])
                return "tokens not strictly increasing";
        }
        m->ntokens = (int)cnt;
        break;
    }
    case F_DC:
        sb_wire_get_str(&r, m->dc, sizeof m->dc);
        break;
    case F_RACK:
        sb_wire_get_str(&r, m->rack, sizeof m->rack);
        break;
    case F_HOST_ID:
        sb_wire_get_raw(&r, m->host_id, 16);
        break;
    case F_RPC:
        if (n)
            sb_wire_get_ep(&r, &m->rpc);
        else
            memset(&m->rpc, 0, sizeof m->rpc);
        break;
    case F_HTTP:
        if (n)
            sb_wire_get_ep(&r, &m->http);
        else
            memset(&m->http, 0, sizeof m->http);
        break;
    case F_SCHEMA:
        sb_wire_get_raw(&r, m->schema_version, 16);
        break;
    case F_LOAD:
        m->load_bytes = sb_wire_get_u64(&r);
        break;
    case F_RELEASE:
        sb_wire_get_str(&r, m->release_version, sizeof m->release_version);
        break;
    }
    if (r.err || r.off != r.n)
        return "malformed field value";
    return NULL;
}

/* Copies field k of src into dst; returns 1 if the value changed. */
static int copy_field(sb_member *dst, const sb_member *src, int k)
{
    switch (k) {
#define CP(f)                                                                                      \
    do {                                                                                           \
        if (!memcmp(&dst->f, &src->f, sizeof dst->f))                                              \
            return 0;                                                                              \
        memcpy(&dst->f, &src->f, sizeof dst->f);                                                   \
        return 1;                                                                                  \
    } while (0)
    case F_STATUS:
        CP(status);
    case F_TOKENS:
        if (dst->ntokens == src->ntokens &&
            !memcmp(dst->tokens, src->tokens, (size_t)src->ntokens * sizeof *src->tokens))
            return 0;
        dst->ntokens = src->ntokens;
        memcpy(dst->tokens, src->tokens, (size_t)src->ntokens * sizeof *src->tokens);
        return 1;
    case F_DC:
        CP(dc);
    case F_RACK:
        CP(rack);
    case F_HOST_ID:
        CP(host_id);
    case F_RPC:
        CP(rpc);
    case F_HTTP:
        CP(http);
    case F_SCHEMA:
        CP(schema_version);
    case F_LOAD:
        CP(load_bytes);
    case F_RELEASE:
        CP(release_version);
#undef CP
    }
    return 0;
}

#define RINGF                                                                                      \
    ((1u << F_STATUS) | (1u << F_TOKENS) | (1u << F_DC) | (1u << F_RACK) | (1u << F_HOST_ID))

/* Applies the fields of s newer than n's; returns the mask of fields whose
 * value changed. */
static unsigned merge_fields(gnode *n, const gstate *s)
{
    unsigned changed = 0;
    for (int k = 1; k < F_COUNT; k++) {
        if (s->ver[k] == 0 || s->ver[k] <= n->ver[k])
            continue;
        n->ver[k] = s->ver[k];
        if (copy_field(&n->m, &s->v, k))
            changed |= 1u << k;
    }
    return changed;
}

/* Changes a local field: bumps the heartbeat and stamps the field. The
 * caller has already written the value into self->m. */
static void touch_self(sb_gossip *g, int k)
{
    g->self->m.heartbeat++;
    g->self->ver[k] = g->self->m.heartbeat;
}

/* --- encoding ------------------------------------------------------------- */

/* Appends n's state with the fields newer than since. */
static int put_state(sb_gossip *g, sb_buf *b, const gnode *n, uint32_t since)
{
    int nf = 0;
    for (int k = 1; k < F_COUNT; k++)
        nf += n->ver[k] > since;
    int rc = sb_wire_put_ep(b, &n->m.ep);
    if (!rc)
        rc = sb_wire_put_i64(b, n->m.generation);
    if (!rc)
        rc = sb_wire_put_u32(b, n->m.heartbeat);
    if (!rc)
        rc = sb_wire_put_u8(b, (uint8_t)nf);
    for (int k = 1; !rc && k < F_COUNT; k++) {
        if (n->ver[k] <= since)
            continue;
        sb_buf_reset(&g->fbuf);
        rc = sb_wire_put_u8(b, (uint8_t)k);
        if (!rc)
            rc = sb_wire_put_u32(b, n->ver[k]);
        if (!rc)
            rc = put_field(&g->fbuf, &n->m, k);
        if (!rc)
            rc = sb_wire_put_bytes(b, g->fbuf.data, g->fbuf.len);
    }
    return rc;
}

static void put_digest(sb_buf *b, const sb_ep *ep, int64_t gen, uint32_t ver, int *rc)
{
    if (!*rc)
        *rc = sb_wire_put_ep(b, ep);
    if (!*rc)
        *rc = sb_wire_put_i64(b, gen);
    if (!*rc)
        *rc = sb_wire_put_u32(b, ver);
}

static void get_digest(sb_wire_reader *r, gdigest *d)
{
    sb_wire_get_ep(r, &d->ep);
    d->gen = sb_wire_get_i64(r);
    d->ver = sb_wire_get_u32(r);
}

static void patch_u16(sb_buf *b, size_t at, unsigned v)
{
    b->data[at] = (uint8_t)(v >> 8);
    b->data[at + 1] = (uint8_t)v;
}

/* Wraps g->body in the [self ep] framing and sends it. */
static void send_body(sb_gossip *g, const sb_ep *to, int type)
{
    sb_buf_reset(&g->out);
    if (sb_msg_build(&g->out, &g->o.self, g->body.data, g->body.len) != 0) {
        SB_ERROR("gossip", "out of memory building a message", "type=%d", type);
        return;
    }
    g->io->send(g->io->ctx, to, type, g->out.data, g->out.len);
}

/* --- decoding ---------------------------------------------------------------- */

/* Reads one state; NULL, or why it is malformed. */
static const char *get_state(sb_wire_reader *r, gstate *s)
{
    memset(s, 0, sizeof *s);
    sb_wire_get_ep(r, &s->ep);
    s->gen = sb_wire_get_i64(r);
    s->hb = sb_wire_get_u32(r);
    unsigned nf = sb_wire_get_u8(r);
    if (r->err)
        return "truncated state";
    if (s->gen <= 0)
        return "generation not positive";
    s->v.ep = s->ep;
    for (unsigned i = 0; i < nf; i++) {
        unsigned key = sb_wire_get_u8(r);
        uint32_t ver = sb_wire_get_u32(r);
        const uint8_t *p;
        size_t n;
        sb_wire_get_bytes(r, &p, &n, GOSSIP_FIELD_MAX);
        if (r->err)
            return "truncated field";
        if (key == 0 || key >= F_COUNT)
            continue; /* a field of a newer version: skipped */
        if (ver == 0 || ver > s->hb)
            return "field version above heartbeat";
        const char *why = get_field(p, n, (int)key, &s->v);
        if (why) {
            snprintf(s->why, sizeof s->why, "field %s: %s", field_names[key], why);
            return s->why;
        }
        s->ver[key] = ver;
    }
    return NULL;
}

/* --- saved peers ------------------------------------------------------------- */

/* Whether n's state came from gossip (or is ours), as opposed to a
 * placeholder loaded from sys/peers/ at start (generation 0). */
static int known(const gnode *n)
{
    return n->m.generation > 0;
}

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
        rc = sb_wire_put_u16(b, (uint16_t)m->ntokens);
    for (int i = 0; !rc && i < m->ntokens; i++)
        rc = sb_wire_put_i64(b, m->tokens[i]);
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
    if (cnt > SB_MAX_TOKENS)
        return "too many tokens";
    for (unsigned i = 0; i < cnt && !r.err; i++) {
        m->tokens[i] = sb_wire_get_i64(&r);
        if (i > 0 && m->tokens[i] <= m->tokens[i - 1])
            return "tokens not strictly increasing";
    }
    m->ntokens = (int)cnt;
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
static void save_peer(sb_gossip *g, gnode *n)
{
    const sb_io_store *st = g->io->st;
    if (n == g->self || !known(n) || zero_id(n->m.host_id) || !st || !st->kv_put)
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
static void forget_peer(sb_gossip *g, const uint8_t host_id[16], const gnode *except)
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

/* --- merging ----------------------------------------------------------------- */

static void ring_changed(sb_gossip *g, gnode *n)
{
    rebuild_ring(g);
    save_peer(g, n);
    emit(g, SB_GOSSIP_STATUS, n);
}

static void apply_new(sb_gossip *g, const gstate *s)
{
    char eps[SB_EP_STRLEN];
    gnode *n = add_node(g, &s->ep);
    if (!n) {
        reject(g, 0, &s->ep, g->nnodes >= GOSSIP_MAX_MEMBERS ? "too many members" : "no memory");
        return;
    }
    n->m.generation = s->gen;
    n->m.heartbeat = s->hb;
    n->m.since_ms = now_ms(g);
    merge_fields(n, s);
    save_peer(g, n);
    SB_INFO("gossip", "new node", "ep=%s generation=%lld status=%s tokens=%d",
            sb_ep_str(&n->m.ep, eps), (long long)n->m.generation, sb_node_status_name(n->m.status),
            n->m.ntokens);
    int in = in_ring(&n->m);
    if (in)
        rebuild_ring(g);
    emit(g, SB_GOSSIP_NEW, n);
    if (in)
        emit(g, SB_GOSSIP_STATUS, n);
}

static void apply_restart(sb_gossip *g, gnode *n, const gstate *s)
{
    char eps[SB_EP_STRLEN];
    sb_member old = n->m;
    int was_up = n->m.up;
    /* A placeholder loaded from sys/peers/ meets its real state: the
     * first sighting of the node, second-hand as far as we know, so it is
     * not up until its heartbeat rises (as apply_new). */
    int adopt = !known(n);
    /* A new incarnation: nothing of the old state carries over. */
    memset(&n->m, 0, sizeof n->m);
    memset(n->ver, 0, sizeof n->ver);
    n->m.ep = old.ep;
    n->m.up = old.up;
    n->m.since_ms = old.since_ms;
    n->m.generation = s->gen;
    n->m.heartbeat = s->hb;
    merge_fields(n, s);
    n->m.phi = 0;
    if (adopt) {
        SB_INFO("gossip", "saved node seen", "ep=%s generation=%lld status=%s tokens=%d",
                sb_ep_str(&n->m.ep, eps), (long long)s->gen, sb_node_status_name(n->m.status),
                n->m.ntokens);
    } else {
        sb_fd_init(&n->fd, now_ms(g), g->o.interval_ms);
        n->fd_started = 1;
        SB_INFO("gossip", "node restarted", "ep=%s generation=%lld old_generation=%lld",
                sb_ep_str(&n->m.ep, eps), (long long)s->gen, (long long)old.generation);
    }
    if (memcmp(old.host_id, n->m.host_id, 16))
        forget_peer(g, old.host_id, n);
    save_peer(g, n);
    int ringdiff = old.status != n->m.status || old.ntokens != n->m.ntokens ||
                   memcmp(old.tokens, n->m.tokens, (size_t)old.ntokens * sizeof *old.tokens) ||
                   strcmp(old.dc, n->m.dc) || strcmp(old.rack, n->m.rack) ||
                   memcmp(old.host_id, n->m.host_id, 16);
    if (ringdiff)
        rebuild_ring(g);
    emit(g, adopt ? SB_GOSSIP_NEW : SB_GOSSIP_RESTARTED, n);
    if (ringdiff)
        emit(g, SB_GOSSIP_STATUS, n);
    if (n->m.status == SB_STATUS_SHUTDOWN) {
        set_up(g, n, 0);
    } else if (adopt) {
        /* up when its heartbeat rises */
    } else if (!was_up) {
        set_up(g, n, 1);
    } else if (schema_differs(g, n) && memcmp(old.schema_version, n->m.schema_version, 16)) {
        emit(g, SB_GOSSIP_SCHEMA, n);
    }
}

static int quarantined(const sb_gossip *g, const gstate *s)
{
    for (int i = 0; i < GOSSIP_MAX_REMOVED; i++)
        if (g->removed[i].gen >= s->gen && sb_ep_eq(&g->removed[i].ep, &s->ep))
            return 1;
    return 0;
}

static void apply_state(sb_gossip *g, const gstate *s)
{
    if (sb_ep_eq(&s->ep, &g->o.self))
        return; /* only we change our own state */
    gnode *n = find_node(g, &s->ep);
    if (!n) {
        if (!quarantined(g, s))
            apply_new(g, s);
        return;
    }
    if (s->gen < n->m.generation)
        return; /* an old incarnation, still relayed */
    if (s->gen > n->m.generation) {
        apply_restart(g, n, s);
        return;
    }
    int beat = s->hb > n->m.heartbeat;
    if (beat)
        n->m.heartbeat = s->hb;
    uint8_t old_id[16];
    memcpy(old_id, n->m.host_id, 16);
    unsigned changed = merge_fields(n, s);
    if (changed & (1u << F_HOST_ID))
        forget_peer(g, old_id, n);
    if (changed & RINGF)
        ring_changed(g, n);
    else if (changed & ((1u << F_RPC) | (1u << F_HTTP)))
        save_peer(g, n);
    if (n->m.status == SB_STATUS_SHUTDOWN) {
        set_up(g, n, 0);
        return;
    }
    int was_up = n->m.up;
    if (beat) {
        if (!n->fd_started) {
            sb_fd_init(&n->fd, now_ms(g), g->o.interval_ms);
            n->fd_started = 1;
        } else {
            sb_fd_report(&n->fd, now_ms(g));
        }
        n->m.phi = 0;
        set_up(g, n, 1); /* emits SCHEMA itself when it comes up */
    }
    if (was_up && (changed & (1u << F_SCHEMA)) && schema_differs(g, n))
        emit(g, SB_GOSSIP_SCHEMA, n);
}

/* Parses "u16 n, n x state" twice: validate, then (apply) merge. Returns
 * NULL or why the list is malformed. */
static const char *states(sb_gossip *g, sb_wire_reader *r, int apply)
{
    gstate *s = malloc(sizeof *s);
    if (!s)
        return "no memory";
    const char *why = NULL;
    unsigned n = sb_wire_get_u16(r);
    if (r->err)
        why = "truncated state count";
    else if (n > GOSSIP_MAX_MEMBERS)
        why = "too many states";
    for (unsigned i = 0; !why && i < n; i++) {
        why = get_state(r, s);
        if (!why && apply)
            apply_state(g, s);
    }
    if (why == s->why) { /* composed in s: outlive it */
        snprintf(g->why, sizeof g->why, "%s", s->why);
        why = g->why;
    }
    free(s);
    return why;
}

static void note_contact(sb_gossip *g, const sb_ep *from)
{
    if (!g->seed_contact_ms && is_seed(g, from)) {
        g->seed_contact_ms = now_ms(g);
        if (!g->seed_contact_ms)
            g->seed_contact_ms = 1;
    }
}

/* --- SYN / ACK / ACK2 ---------------------------------------------------- */

static void on_syn(sb_gossip *g, const sb_ep *from, sb_wire_reader *r)
{
    char name[sizeof g->o.cluster_name];
    sb_wire_get_str(r, name, sizeof name);
    unsigned nd = sb_wire_get_u16(r);
    if (r->err) {
        reject(g, SB_MSG_GOSSIP_SYN, from, "truncated SYN header");
        return;
    }
    if (nd > GOSSIP_MAX_MEMBERS) {
        reject(g, SB_MSG_GOSSIP_SYN, from, "too many digests");
        return;
    }
    for (unsigned i = 0; i < nd; i++)
        get_digest(r, &g->digs[i]);
    if (r->err || r->off != r->n) {
        reject(g, SB_MSG_GOSSIP_SYN, from, r->err ? "truncated digest" : "trailing bytes");
        return;
    }
    if (strcmp(name, g->o.cluster_name) != 0) {
        char why[200];
        snprintf(why, sizeof why, "cluster name mismatch: theirs '%.64s', ours '%.64s'", name,
                 g->o.cluster_name);
        reject(g, SB_MSG_GOSSIP_SYN, from, why);
        return;
    }
    g->stats.syn_received++;
    note_contact(g, from);

    /* ACK: the states they lack, then what we lack. */
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i]->mark = 0;
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int rc = sb_wire_put_u16(b, 0);
    unsigned nst = 0;
    for (unsigned i = 0; !rc && i < nd && b->len < GOSSIP_MSG_MAX; i++) {
        gnode *n = find_node(g, &g->digs[i].ep);
        if (!n || n->mark)
            continue;
        n->mark = 1;
        if (!known(n))
            continue; /* a placeholder: nothing to tell */
        if (g->digs[i].gen > n->m.generation)
            continue;
        uint32_t since = g->digs[i].gen < n->m.generation ? 0 : g->digs[i].ver;
        if (since >= n->m.heartbeat && g->digs[i].gen == n->m.generation)
            continue;
        rc = put_state(g, b, n, since);
        nst++;
    }
    for (int i = 0; !rc && i < g->nnodes && b->len < GOSSIP_MSG_MAX; i++) {
        if (g->nodes[i]->mark || !known(g->nodes[i]))
            continue;
        rc = put_state(g, b, g->nodes[i], 0);
        nst++;
    }
    if (rc)
        goto nomem;
    patch_u16(b, 0, nst);
    size_t at = b->len;
    unsigned nreq = 0;
    rc = sb_wire_put_u16(b, 0);
    for (unsigned i = 0; !rc && i < nd; i++) {
        const gdigest *d = &g->digs[i];
        if (sb_ep_eq(&d->ep, &g->o.self))
            continue;
        gnode *n = find_node(g, &d->ep);
        if (n && d->gen < n->m.generation)
            continue;
        uint32_t since = (n && d->gen == n->m.generation) ? n->m.heartbeat : 0;
        if (n && d->gen == n->m.generation && d->ver <= since)
            continue;
        put_digest(b, &d->ep, d->gen, since, &rc);
        nreq++;
    }
    if (rc)
        goto nomem;
    patch_u16(b, at, nreq);
    send_body(g, from, SB_MSG_GOSSIP_ACK);
    return;
nomem:
    SB_ERROR("gossip", "out of memory building ACK", NULL);
}

static void on_ack(sb_gossip *g, const sb_ep *from, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    const char *why = states(g, &r, 0);
    unsigned nreq = 0;
    if (!why) {
        nreq = sb_wire_get_u16(&r);
        if (nreq > GOSSIP_MAX_MEMBERS)
            why = "too many requests";
        for (unsigned i = 0; !why && i < nreq; i++)
            get_digest(&r, &g->digs[i]);
        if (!why && (r.err || r.off != r.n))
            why = r.err ? "truncated requests" : "trailing bytes";
    }
    if (why) {
        reject(g, SB_MSG_GOSSIP_ACK, from, why);
        return;
    }
    note_contact(g, from);
    sb_wire_reader_init(&r, body, len);
    states(g, &r, 1);

    /* ACK2: what they asked for. g->digs still holds the requests (applying
     * states does not touch it). */
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int rc = sb_wire_put_u16(b, 0);
    unsigned nst = 0;
    for (unsigned i = 0; !rc && i < nreq && b->len < GOSSIP_MSG_MAX; i++) {
        const gdigest *d = &g->digs[i];
        gnode *n = find_node(g, &d->ep);
        if (!n || !known(n) || n->m.generation < d->gen)
            continue;
        uint32_t since = n->m.generation > d->gen ? 0 : d->ver;
        if (n->m.generation == d->gen && n->m.heartbeat <= since)
            continue;
        rc = put_state(g, b, n, since);
        nst++;
    }
    if (rc) {
        SB_ERROR("gossip", "out of memory building ACK2", NULL);
        return;
    }
    if (nst == 0)
        return;
    patch_u16(b, 0, nst);
    send_body(g, from, SB_MSG_GOSSIP_ACK2);
}

static void on_ack2(sb_gossip *g, const sb_ep *from, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    const char *why = states(g, &r, 0);
    if (!why && r.off != r.n)
        why = "trailing bytes";
    if (why) {
        reject(g, SB_MSG_GOSSIP_ACK2, from, why);
        return;
    }
    note_contact(g, from);
    sb_wire_reader_init(&r, body, len);
    states(g, &r, 1);
}

static void on_shutdown(sb_gossip *g, const sb_ep *from, const uint8_t *body, size_t len)
{
    gstate *s = malloc(sizeof *s);
    if (!s)
        return;
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    const char *why = get_state(&r, s);
    if (!why && r.off != r.n)
        why = "trailing bytes";
    if (!why && !sb_ep_eq(&s->ep, from))
        why = "state of another node";
    if (!why && sb_ep_eq(from, &g->o.self))
        why = "our own address";
    if (why) {
        reject(g, SB_MSG_SHUTDOWN, from, why);
        free(s);
        return;
    }
    apply_state(g, s);
    gnode *n = find_node(g, from);
    if (n && n->m.generation == s->gen) {
        char eps[SB_EP_STRLEN];
        SB_INFO("gossip", "node announced shutdown", "ep=%s", sb_ep_str(from, eps));
        if (n->m.status != SB_STATUS_SHUTDOWN) {
            n->m.status = SB_STATUS_SHUTDOWN;
            ring_changed(g, n);
        }
        set_up(g, n, 0);
    }
    free(s);
}

void sb_gossip_receive(sb_gossip *g, int type, const uint8_t *payload, size_t len)
{
    sb_ep from;
    const uint8_t *body;
    size_t blen;
    if (g->stopped)
        return;
    if (len > GOSSIP_PAYLOAD_MAX) {
        reject(g, type, NULL, "payload too large");
        return;
    }
    if (sb_msg_parse(payload, len, &from, &body, &blen) != 0) {
        reject(g, type, NULL, "no sender endpoint");
        return;
    }
    if (sb_ep_eq(&from, &g->o.self)) {
        reject(g, type, &from, "sender is ourselves");
        return;
    }
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, blen);
    switch (type) {
    case SB_MSG_GOSSIP_SYN:
        on_syn(g, &from, &r);
        break;
    case SB_MSG_GOSSIP_ACK:
        on_ack(g, &from, body, blen);
        break;
    case SB_MSG_GOSSIP_ACK2:
        on_ack2(g, &from, body, blen);
        break;
    case SB_MSG_SHUTDOWN:
        on_shutdown(g, &from, body, blen);
        break;
    default:
        reject(g, type, &from, "not a gossip message type");
    }
}

/* --- rounds ------------------------------------------------------------------ */

static void check_fd(sb_gossip *g)
{
    uint64_t now = now_ms(g);
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        if (n == g->self || !n->fd_started)
            continue;
        n->m.phi = sb_fd_phi(&n->fd, now);
        if (n->m.up && n->m.phi > g->o.phi_threshold)
            set_up(g, n, 0);
    }
}

/* Forgets nodes that left the ring and have been down for a while; their
 * (ep, generation) is remembered so that peers still relaying the old
 * state do not bring them back (a new generation is a new node). */
static void expire_left(sb_gossip *g)
{
    uint64_t now = now_ms(g);
    uint64_t after = (uint64_t)GOSSIP_LEFT_ROUNDS * (uint64_t)g->o.interval_ms;
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        if (n == g->self || n->m.status != SB_STATUS_LEFT || n->m.up || now - n->m.since_ms < after)
            continue;
        char eps[SB_EP_STRLEN];
        SB_INFO("gossip", "node removed", "ep=%s", sb_ep_str(&n->m.ep, eps));
        g->removed[g->nremoved % GOSSIP_MAX_REMOVED].ep = n->m.ep;
        g->removed[g->nremoved % GOSSIP_MAX_REMOVED].gen = n->m.generation;
        g->nremoved++;
        memmove(&g->nodes[i], &g->nodes[i + 1], (size_t)(g->nnodes - i - 1) * sizeof *g->nodes);
        g->nnodes--;
        forget_peer(g, n->m.host_id, n);
        rebuild_ring(g);
        emit(g, SB_GOSSIP_REMOVED, n);
        free(n);
        i--;
    }
}

static int save_tokens(sb_gossip *g, const int64_t *t, int n)
{
    const sb_io_store *st = g->io->st;
    if (!st || !st->kv_put)
        return 0;
    sb_buf b;
    sb_buf_init(&b);
    int rc = sb_wire_put_u16(&b, (uint16_t)n);
    for (int i = 0; !rc && i < n; i++)
        rc = sb_wire_put_i64(&b, t[i]);
    if (!rc)
        rc = st->kv_put(g->io->st_ctx, (const uint8_t *)KV_TOKENS, strlen(KV_TOKENS), b.data, b.len,
                        NULL, NULL);
    sb_buf_free(&b);
    return rc;
}

/* Whether a JOINING node with a smaller endpoint, not known dead, is still
 * choosing its tokens (see the design note). */
static int joiners_ahead(const sb_gossip *g)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *n = g->nodes[i];
        if (sb_ep_cmp(&n->m.ep, &g->o.self) >= 0)
            break;
        k += known(n) && n->m.status == SB_STATUS_JOINING && !(n->fd_started && !n->m.up);
    }
    return k;
}

static void join(sb_gossip *g)
{
    int64_t toks[SB_MAX_TOKENS];
    int rc = sb_ring_allocate(g->ring, g->o.dc, g->o.num_tokens, g->io->random, g->io->ctx, toks);
    if (rc) {
        SB_ERROR("gossip", "token allocation failed", "rc=%s", sb_errname(rc));
        return;
    }
    rc = save_tokens(g, toks, g->o.num_tokens);
    if (rc) {
        SB_ERROR("gossip", "cannot save tokens", "rc=%s", sb_errname(rc));
        return;
    }
    sb_member *m = &g->self->m;
    memcpy(m->tokens, toks, (size_t)g->o.num_tokens * sizeof *toks);
    m->ntokens = g->o.num_tokens;
    touch_self(g, F_TOKENS);
    m->status = SB_STATUS_NORMAL;
    touch_self(g, F_STATUS);
    SB_INFO("gossip", "joined the ring", "tokens=%d ring_nodes=%d", m->ntokens,
            sb_ring_nnodes(g->ring));
    ring_changed(g, g->self);
}

static void maybe_join(sb_gossip *g)
{
    if (g->self->m.status != SB_STATUS_JOINING)
        return;
    uint64_t now = now_ms(g);
    uint64_t ready =
        (g->seed_contact_ms ? g->seed_contact_ms : g->start_ms) + (uint64_t)g->o.ring_delay_ms;
    if (now < ready)
        return;
    /* Wait for the joiners ahead while they make progress (one of them
     * finished within the last 4 ring delays). */
    int ahead = joiners_ahead(g);
    if (ahead != g->join_ahead) {
        g->join_ahead = ahead;
        g->join_progress_ms = now;
    }
    uint64_t since = g->join_progress_ms > ready ? g->join_progress_ms : ready;
    if (ahead > 0 && now < since + 4 * (uint64_t)g->o.ring_delay_ms)
        return;
    join(g);
}

/* The k-th peer (not self) for which want(up) holds. */
static gnode *nth_peer(sb_gossip *g, int up, int k)
{
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        if (n == g->self || n->m.up != up)
            continue;
        if (k-- == 0)
            return n;
    }
    return NULL;
}

static void send_syn(sb_gossip *g, const sb_ep *to)
{
    g->stats.syn_sent++;
    send_body(g, to, SB_MSG_GOSSIP_SYN);
}

/* The SYN body (cluster name and every known node's digest) into g->body.
 * 0 or SB_ENOMEM. */
static int build_syn(sb_gossip *g)
{
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int nknown = 0;
    for (int i = 0; i < g->nnodes; i++)
        nknown += known(g->nodes[i]);
    int rc = sb_wire_put_str(b, g->o.cluster_name);
    if (!rc)
        rc = sb_wire_put_u16(b, (uint16_t)nknown);
    for (int i = 0; i < g->nnodes; i++)
        if (known(g->nodes[i]))
            put_digest(b, &g->nodes[i]->m.ep, g->nodes[i]->m.generation, g->nodes[i]->m.heartbeat,
                       &rc);
    return rc;
}

static void round_(sb_gossip *g)
{
    g->stats.rounds++;
    g->self->m.heartbeat++;
    if (build_syn(g)) {
        SB_ERROR("gossip", "out of memory building SYN", NULL);
        return;
    }
    int nlive = 0, nunreach = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i] == g->self)
            continue;
        if (g->nodes[i]->m.up)
            nlive++;
        else
            nunreach++;
    }
    int to_seed = 0;
    if (nlive > 0) {
        gnode *p = nth_peer(g, 1, (int)(rnd(g) % (uint64_t)nlive));
        send_syn(g, &p->m.ep);
        to_seed = is_seed(g, &p->m.ep);
    }
    if (nunreach > 0 && (int)(rnd(g) % (uint64_t)(nlive + 1)) < nunreach) {
        gnode *p = nth_peer(g, 0, (int)(rnd(g) % (uint64_t)nunreach));
        send_syn(g, &p->m.ep);
    }
    if (!to_seed) {
        int others = 0;
        for (int i = 0; i < g->o.nseeds; i++)
            others += !sb_ep_eq(&g->seeds[i], &g->o.self);
        if (others > 0) {
            int k = (int)(rnd(g) % (uint64_t)others);
            for (int i = 0; i < g->o.nseeds; i++) {
                if (sb_ep_eq(&g->seeds[i], &g->o.self))
                    continue;
                if (k-- == 0) {
                    send_syn(g, &g->seeds[i]);
                    break;
                }
            }
        }
    }
}

void sb_gossip_announce(sb_gossip *g)
{
    if (g->stopped || build_syn(g) != 0)
        return;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i] != g->self && g->nodes[i]->m.up)
            send_syn(g, &g->nodes[i]->m.ep);
}

static void tick(void *arg)
{
    sb_gossip *g = arg;
    g->timer = NULL;
    round_(g);
    check_fd(g);
    expire_left(g);
    maybe_join(g);
    if (!g->stopped)
        g->timer = g->io->timer_start(g->io->ctx, (uint64_t)g->o.interval_ms, tick, g);
}

/* --- local states ------------------------------------------------------------- */

void sb_gossip_set_schema(sb_gossip *g, const uint8_t version[16])
{
    if (!memcmp(g->self->m.schema_version, version, 16))
        return;
    memcpy(g->self->m.schema_version, version, 16);
    touch_self(g, F_SCHEMA);
}

void sb_gossip_set_load(sb_gossip *g, uint64_t bytes)
{
    if (g->self->m.load_bytes == bytes)
        return;
    g->self->m.load_bytes = bytes;
    touch_self(g, F_LOAD);
}

void sb_gossip_set_status(sb_gossip *g, int status)
{
    if (status < SB_STATUS_JOINING || status > SB_STATUS_SHUTDOWN || g->self->m.status == status)
        return;
    g->self->m.status = status;
    touch_self(g, F_STATUS);
    ring_changed(g, g->self);
}

/* --- lifecycle ---------------------------------------------------------------- */

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
        for (unsigned i = 0; i < n; i++) {
            l->tokens[i] = sb_wire_get_i64(&r);
            if (i > 0 && l->tokens[i] <= l->tokens[i - 1])
                l->bad = KV_TOKENS;
        }
        if (r.err || r.off != r.n)
            l->bad = KV_TOKENS;
        l->ntokens = (int)n;
    }
    return 0;
}

static int check_opts(const sb_gossip_opts *o, char *errmsg)
{
    if (o->self.family != 4 && o->self.family != 6)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: no listen address");
    if (!o->cluster_name[0])
        return sb_seterr(errmsg, SB_EINVAL, "gossip: empty cluster name");
    if (o->num_tokens < 1 || o->num_tokens > SB_MAX_TOKENS)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: num_tokens %d not in 1..%d", o->num_tokens,
                         SB_MAX_TOKENS);
    if (o->interval_ms <= 0 || o->ring_delay_ms < 0)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: interval_ms/ring_delay_ms not positive");
    if (!(o->phi_threshold > 0))
        return sb_seterr(errmsg, SB_EINVAL, "gossip: phi_threshold must be positive");
    if (o->nseeds < 0 || o->nseeds > GOSSIP_MAX_SEEDS || (o->nseeds && !o->seeds))
        return sb_seterr(errmsg, SB_EINVAL, "gossip: %d seeds (at most %d)", o->nseeds,
                         GOSSIP_MAX_SEEDS);
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
            forget_peer(g, p->key_id, NULL);
            continue;
        }
        gnode *n = add_node(g, &p->m.ep);
        if (!n)
            return SB_ENOMEM; /* not a duplicate (see above) nor over the bound */
        n->m = p->m;
        n->m.generation = 0;
        n->m.heartbeat = 0;
        n->m.up = 0;
        n->m.is_self = 0;
        n->m.since_ms = now_ms(g);
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
        if (rc)
            return sb_seterr(errmsg, rc, "gossip: cannot save generation: %s", sb_strerror(rc));
    }
    gnode *s = add_node(g, &g->o.self);
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
    m->since_ms = now_ms(g);
    if (l->ntokens > 0) {
        memcpy(m->tokens, l->tokens, (size_t)l->ntokens * sizeof *l->tokens);
        m->ntokens = l->ntokens;
        m->status = SB_STATUS_NORMAL;
        touch_self(g, F_TOKENS);
    } else {
        m->status = SB_STATUS_JOINING;
    }
    static const int fields[] = {F_STATUS, F_DC,     F_RACK, F_HOST_ID, F_RPC,
                                 F_HTTP,   F_SCHEMA, F_LOAD, F_RELEASE};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        touch_self(g, fields[i]);
    return 0;
}

/* The local node's state at start, then the saved peers. */
static int init_self(sb_gossip *g, char *errmsg)
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

sb_gossip *sb_gossip_new(const sb_io *io, const sb_gossip_opts *o, char *errmsg)
{
    if (check_opts(o, errmsg))
        return NULL;
    sb_gossip *g = calloc(1, sizeof *g);
    if (!g) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
        return NULL;
    }
    g->io = io;
    g->o = *o;
    g->o.cluster_name[sizeof g->o.cluster_name - 1] = '\0';
    if (g->o.ring_delay_ms == 0)
        g->o.ring_delay_ms = 2 * g->o.interval_ms;
    if (o->nseeds)
        memcpy(g->seeds, o->seeds, (size_t)o->nseeds * sizeof *o->seeds);
    g->o.seeds = g->seeds;
    sb_buf_init(&g->body);
    sb_buf_init(&g->out);
    sb_buf_init(&g->fbuf);
    g->nodes = calloc(GOSSIP_MAX_MEMBERS, sizeof *g->nodes);
    g->digs = calloc(GOSSIP_MAX_MEMBERS, sizeof *g->digs);
    if (!g->nodes || !g->digs) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
        goto fail;
    }
    if (init_self(g, errmsg))
        goto fail;
    if (rebuild_ring(g)) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory building the ring");
        goto fail;
    }
    return g;
fail:
    sb_gossip_free(g);
    return NULL;
}

void sb_gossip_start(sb_gossip *g)
{
    if (g->started)
        return;
    g->started = 1;
    g->start_ms = now_ms(g);
    char eps[SB_EP_STRLEN];
    SB_INFO("gossip", "starting", "ep=%s generation=%lld status=%s seeds=%d",
            sb_ep_str(&g->o.self, eps), (long long)g->self->m.generation,
            sb_node_status_name(g->self->m.status), g->o.nseeds);
    if (g->self->m.status == SB_STATUS_JOINING && is_seed(g, &g->o.self))
        join(g);
    else if (g->self->m.status == SB_STATUS_NORMAL)
        ring_changed(g, g->self);
    tick(g);
}

void sb_gossip_stop(sb_gossip *g)
{
    if (g->stopped)
        return;
    g->stopped = 1;
    if (g->timer) {
        g->io->timer_stop(g->io->ctx, g->timer);
        g->timer = NULL;
    }
    if (!g->started)
        return;
    g->self->m.status = SB_STATUS_SHUTDOWN;
    touch_self(g, F_STATUS);
    ring_changed(g, g->self);
    sb_buf_reset(&g->body);
    if (put_state(g, &g->body, g->self, 0) != 0) {
        SB_ERROR("gossip", "out of memory building SHUTDOWN", NULL);
        return;
    }
    int sent = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i] == g->self || !g->nodes[i]->m.up)
            continue;
        send_body(g, &g->nodes[i]->m.ep, SB_MSG_SHUTDOWN);
        sent++;
    }
    SB_INFO("gossip", "stopped", "shutdown_sent=%d", sent);
}

void sb_gossip_free(sb_gossip *g)
{
    if (!g)
        return;
    if (g->timer)
        g->io->timer_stop(g->io->ctx, g->timer);
    if (g->nodes)
        for (int i = 0; i < g->nnodes; i++)
            free(g->nodes[i]);
    free(g->nodes);
    free(g->digs);
    if (g->ring)
        sb_ring_free(g->ring);
    for (int i = 0; i < g->nretired; i++)
        sb_ring_free(g->retired[i].r);
    free(g->retired);
    sb_buf_free(&g->body);
    sb_buf_free(&g->out);
    sb_buf_free(&g->fbuf);
    free(g);
}
