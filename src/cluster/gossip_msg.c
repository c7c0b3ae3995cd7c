/*
 * Gossip protocol (gossip_int.h): encoding and decoding of states and
 * digests, the SYN / ACK / ACK2 exchange, SHUTDOWN, and the SYN of a round.
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
 * Decoded states are handed to gossip_apply_state (gossip_state.c); the
 * only member state this file sets itself is a SHUTDOWN sender's (status
 * SHUTDOWN, marked down).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_int.h"
#include "cluster/rpc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

static const char *const field_names[F_COUNT] = {
    "?", "status", "tokens", "dc", "rack", "host_id", "rpc", "http", "schema", "load", "release",
};

/* --- rejected input -------------------------------------------------------- */

/* Counts a refused message and logs why, at most once a second (a broken
 * or hostile peer must not flood the log). */
void gossip_reject(sb_gossip *g, int type, const sb_ep *from, const char *why)
{
    char eps[SB_EP_STRLEN] = "?";
    g->stats.rejected++;
    uint64_t now = gossip_now_ms(g);
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

/* --- encoding -------------------------------------------------------------- */

int gossip_put_tokens(sb_buf *b, const int64_t *t, int n)
{
    int rc = sb_wire_put_u16(b, (uint16_t)n);
    for (int i = 0; !rc && i < n; i++)
        rc = sb_wire_put_i64(b, t[i]);
    return rc;
}

const char *gossip_get_tokens(sb_wire_reader *r, unsigned n, int64_t *t, int *nt)
{
    if (n > SB_MAX_TOKENS)
        return "too many tokens";
    for (unsigned i = 0; i < n && !r->err; i++) {
        t[i] = sb_wire_get_i64(r);
        if (i > 0 && t[i] <= t[i - 1])
            return "tokens not strictly increasing";
    }
    *nt = (int)n;
    return NULL;
}

static int put_field(sb_buf *b, const sb_member *m, int key)
{
    switch (key) {
    case F_STATUS:
        return sb_wire_put_u8(b, (uint8_t)m->status);
    case F_TOKENS:
        return gossip_put_tokens(b, m->tokens, m->ntokens);
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
        const char *why = gossip_get_tokens(&r, cnt, m->tokens, &m->ntokens);
        if (why)
            return why;
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

/* Appends n's state with the fields newer than since. */
int gossip_put_state(sb_gossip *g, sb_buf *b, const gnode *n, uint32_t since)
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
void gossip_send_body(sb_gossip *g, const sb_ep *to, int type)
{
    sb_buf_reset(&g->out);
    if (sb_msg_build(&g->out, &g->o.self, g->body.data, g->body.len) != 0) {
        SB_ERROR("gossip", "out of memory building a message", "type=%d", type);
        return;
    }
    g->io->send(g->io->ctx, to, type, g->out.data, g->out.len);
}

/* --- decoding -------------------------------------------------------------- */

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
            gossip_apply_state(g, s);
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
    if (!g->seed_contact_ms && gossip_is_seed(g, from)) {
        g->seed_contact_ms = gossip_now_ms(g);
        if (!g->seed_contact_ms)
            g->seed_contact_ms = 1;
    }
}

/* A message straight from a peer proves it is running: a known peer that
 * is not up (a saved peer whose state just arrived, one marked down) is
 * up at once rather than at its next heartbeat, a round later. */
static void heard_directly(sb_gossip *g, const sb_ep *from)
{
    gnode *n = gossip_find_node(g, from);
    if (!n || n == g->self || n->m.up || !gossip_known(n) || n->m.status == SB_STATUS_SHUTDOWN ||
        n->m.status == SB_STATUS_LEFT)
        return;
    gossip_alive(g, n);
}

/* --- SYN / ACK / ACK2 and SHUTDOWN ----------------------------------------- */

static void on_syn(sb_gossip *g, const sb_ep *from, sb_wire_reader *r)
{
    char name[sizeof g->o.cluster_name];
    sb_wire_get_str(r, name, sizeof name);
    unsigned nd = sb_wire_get_u16(r);
    if (r->err) {
        gossip_reject(g, SB_MSG_GOSSIP_SYN, from, "truncated SYN header");
        return;
    }
    if (nd > GOSSIP_MAX_MEMBERS) {
        gossip_reject(g, SB_MSG_GOSSIP_SYN, from, "too many digests");
        return;
    }
    for (unsigned i = 0; i < nd; i++)
        get_digest(r, &g->digs[i]);
    if (r->err || r->off != r->n) {
        gossip_reject(g, SB_MSG_GOSSIP_SYN, from, r->err ? "truncated digest" : "trailing bytes");
        return;
    }
    if (strcmp(name, g->o.cluster_name) != 0) {
        char why[200];
        snprintf(why, sizeof why, "cluster name mismatch: theirs '%.64s', ours '%.64s'", name,
                 g->o.cluster_name);
        gossip_reject(g, SB_MSG_GOSSIP_SYN, from, why);
        return;
    }
    g->stats.syn_received++;
    note_contact(g, from);
    /* Up now only if its SYN speaks of the incarnation we know: a new one
     * comes up when its state arrives (ACK2), restarted, not before. */
    for (unsigned i = 0; i < nd; i++) {
        const gnode *n = gossip_find_node(g, from);
        if (n && sb_ep_eq(&g->digs[i].ep, from) && g->digs[i].gen == n->m.generation) {
            heard_directly(g, from);
            break;
        }
    }

    /* ACK: the states they lack, then what we lack. */
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i]->mark = 0;
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int rc = sb_wire_put_u16(b, 0);
    unsigned nst = 0;
    for (unsigned i = 0; !rc && i < nd && b->len < GOSSIP_MSG_MAX; i++) {
        gnode *n = gossip_find_node(g, &g->digs[i].ep);
        if (!n || n->mark)
            continue;
        n->mark = 1;
        if (!gossip_known(n))
            continue; /* a placeholder: nothing to tell */
        if (g->digs[i].gen > n->m.generation)
            continue;
        uint32_t since = g->digs[i].gen < n->m.generation ? 0 : g->digs[i].ver;
        if (since >= n->m.heartbeat && g->digs[i].gen == n->m.generation)
            continue;
        rc = gossip_put_state(g, b, n, since);
        nst++;
    }
    for (int i = 0; !rc && i < g->nnodes && b->len < GOSSIP_MSG_MAX; i++) {
        if (g->nodes[i]->mark || !gossip_known(g->nodes[i]))
            continue;
        rc = gossip_put_state(g, b, g->nodes[i], 0);
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
        gnode *n = gossip_find_node(g, &d->ep);
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
    gossip_send_body(g, from, SB_MSG_GOSSIP_ACK);
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
        gossip_reject(g, SB_MSG_GOSSIP_ACK, from, why);
        return;
    }
    note_contact(g, from);
    sb_wire_reader_init(&r, body, len);
    states(g, &r, 1);
    heard_directly(g, from);

    /* ACK2: what they asked for. g->digs still holds the requests (applying
     * states does not touch it). */
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int rc = sb_wire_put_u16(b, 0);
    unsigned nst = 0;
    for (unsigned i = 0; !rc && i < nreq && b->len < GOSSIP_MSG_MAX; i++) {
        const gdigest *d = &g->digs[i];
        gnode *n = gossip_find_node(g, &d->ep);
        if (!n || !gossip_known(n) || n->m.generation < d->gen)
            continue;
        uint32_t since = n->m.generation > d->gen ? 0 : d->ver;
        if (n->m.generation == d->gen && n->m.heartbeat <= since)
            continue;
        rc = gossip_put_state(g, b, n, since);
        nst++;
    }
    if (rc) {
        SB_ERROR("gossip", "out of memory building ACK2", NULL);
        return;
    }
    if (nst == 0)
        return;
    patch_u16(b, 0, nst);
    gossip_send_body(g, from, SB_MSG_GOSSIP_ACK2);
}

static void on_ack2(sb_gossip *g, const sb_ep *from, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    const char *why = states(g, &r, 0);
    if (!why && r.off != r.n)
        why = "trailing bytes";
    if (why) {
        gossip_reject(g, SB_MSG_GOSSIP_ACK2, from, why);
        return;
    }
    note_contact(g, from);
    sb_wire_reader_init(&r, body, len);
    states(g, &r, 1);
    heard_directly(g, from);
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
        gossip_reject(g, SB_MSG_SHUTDOWN, from, why);
        free(s);
        return;
    }
    gossip_apply_state(g, s);
    gnode *n = gossip_find_node(g, from);
    if (n && n->m.generation == s->gen) {
        char eps[SB_EP_STRLEN];
        SB_INFO("gossip", "node announced shutdown", "ep=%s", sb_ep_str(from, eps));
        if (n->m.status != SB_STATUS_SHUTDOWN) {
            n->m.status = SB_STATUS_SHUTDOWN;
            gossip_ring_changed(g, n);
        }
        gossip_set_up(g, n, 0);
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
        gossip_reject(g, type, NULL, "payload too large");
        return;
    }
    if (sb_msg_parse(payload, len, &from, &body, &blen) != 0) {
        gossip_reject(g, type, NULL, "no sender endpoint");
        return;
    }
    if (sb_ep_eq(&from, &g->o.self)) {
        gossip_reject(g, type, &from, "sender is ourselves");
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
        gossip_reject(g, type, &from, "not a gossip message type");
    }
}

/* --- the round ------------------------------------------------------------- */

static uint64_t rnd(const sb_gossip *g)
{
    return g->io->random(g->io->ctx);
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
    gossip_send_body(g, to, SB_MSG_GOSSIP_SYN);
}

/* The SYN body (cluster name and every known node's digest) into g->body.
 * 0 or SB_ENOMEM. */
static int build_syn(sb_gossip *g)
{
    sb_buf *b = &g->body;
    sb_buf_reset(b);
    int nknown = 0;
    for (int i = 0; i < g->nnodes; i++)
        nknown += gossip_known(g->nodes[i]);
    int rc = sb_wire_put_str(b, g->o.cluster_name);
    if (!rc)
        rc = sb_wire_put_u16(b, (uint16_t)nknown);
    for (int i = 0; i < g->nnodes; i++)
        if (gossip_known(g->nodes[i]))
            put_digest(b, &g->nodes[i]->m.ep, g->nodes[i]->m.generation, g->nodes[i]->m.heartbeat,
                       &rc);
    return rc;
}

void sb_gossip_announce(sb_gossip *g)
{
    if (g->stopped || build_syn(g) != 0)
        return;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i] != g->self && g->nodes[i]->m.up)
            send_syn(g, &g->nodes[i]->m.ep);
}

void gossip_greet(sb_gossip *g)
{
    if (g->stopped || build_syn(g) != 0)
        return;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->awaited && !g->nodes[i]->m.up)
            send_syn(g, &g->nodes[i]->m.ep);
    for (int i = 0; !g->seed_contact_ms && i < g->o.nseeds; i++) {
        gnode *n = gossip_find_node(g, &g->seeds[i]);
        if (!sb_ep_eq(&g->seeds[i], &g->o.self) && !(n && n->awaited))
            send_syn(g, &g->seeds[i]);
    }
}

void gossip_round(sb_gossip *g)
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
        to_seed = gossip_is_seed(g, &p->m.ep);
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
