/*
 * A node's cluster side (cluster.h): builds gossip, rpc, hints and the
 * coordinator over one sb_io, routes incoming messages to them, and keeps
 * the schema in agreement.
 *
 * Schema messages: the body of SCHEMA_PUSH and of the response to
 * SCHEMA_PULL is [i64 timestamp us][16 version][bytes blob]. A schema
 * replaces the local one when (timestamp, version) is larger. Pulls are
 * rate limited per peer; a periodic check pulls from any live peer whose
 * gossiped version differs, so a lost push heals by itself.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define MAX_PULL_PEERS 64
#define SCHEMA_TIMEOUT_MS 5000

typedef struct pull_state {
    sb_ep ep;
    uint64_t last_ms;
    int in_flight;
} pull_state;

struct sb_cluster {
    sb_io io;
    sb_cluster_opts o;
    sb_ep *seeds; /* owned copy of o.gossip.seeds */
    sb_gossip *g;
    sb_rpc *rpc;
    sb_hints *h;
    sb_coord *co;
    sb_group *grp;
    sb_io_timer *schema_timer;
    sb_io_timer *load_timer;
    sb_io_timer *reconcile_timer; /* topo_reconcile after a topology change */
    sb_io_timer *linger_timer;    /* clears the pending set after the last change */
    int pending_on;               /* the coordinator holds a pending set */
    pull_state pulls[MAX_PULL_PEERS];
    int npulls;
    int started, stopped;
    /* version and timestamp of the local schema, cached */
    uint8_t version[16];
    int64_t ts_us;
    /* the committed topology (topology.h), kept by the group's state
     * machine, which wraps the caller's (user_fsm) */
    sb_topo topo;
    sb_group_fsm user_fsm;
    int topo_proposing;              /* one topology proposal at a time */
    int bootstrapping, bootstrapped; /* this node's bootstrap hook */
    uint64_t join_wait_since_ms;     /* when the join began to wait for a leader */
};

void sb_cluster_opts_default(sb_cluster_opts *o)
{
    memset(o, 0, sizeof *o);
    sb_gossip_opts_default(&o->gossip);
    sb_group_opts_default(&o->group);
    sb_coord_opts_default(&o->coord);
    sb_hints_opts_default(&o->hints);
    o->rpc_max_pending = SB_RPC_MAX_PENDING_DEFAULT;
    o->bootstrap = sb_topo_bootstrap_now;
}

sb_gossip *sb_cluster_gossip(sb_cluster *c)
{
    return c->g;
}

sb_group *sb_cluster_group(sb_cluster *c)
{
    return c->grp;
}

sb_coord *sb_cluster_coord(sb_cluster *c)
{
    return c->co;
}

sb_hints *sb_cluster_hints(sb_cluster *c)
{
    return c->h;
}

sb_rpc *sb_cluster_rpc(sb_cluster *c)
{
    return c->rpc;
}

/* --------------------------------------------------------------- schema */

static int has_schema(const sb_cluster *c)
{
    return c->o.schema.get && c->o.schema.put;
}

/* Reads the local schema; body gets the wire form when not NULL. */
static int local_schema(sb_cluster *c, sb_buf *body)
{
    sb_buf blob;
    sb_buf_init(&blob);
    int rc = c->o.schema.get(c->o.schema.arg, &blob, c->version, &c->ts_us);
    if (rc == 0 && body) {
        rc = sb_wire_put_i64(body, c->ts_us);
        rc = rc ? rc : sb_wire_put_raw(body, c->version, 16);
        rc = rc ? rc : sb_wire_put_bytes(body, blob.data, blob.len);
    }
    sb_buf_free(&blob);
    return rc;
}

/* A schema body arrived (push or pull response); adopt it if newer. */
static void consider_schema(sb_cluster *c, const sb_ep *from, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    int64_t ts = sb_wire_get_i64(&r);
    uint8_t ver[16];
    sb_wire_get_raw(&r, ver, 16);
    const uint8_t *blob;
    size_t blen;
    sb_wire_get_bytes(&r, &blob, &blen, 1u << 30);
    char who[SB_EP_STRLEN];
    sb_ep_str(from, who);
    if (r.err) {
        SB_WARN("cluster", "malformed schema message", "peer=%s", who);
        return;
    }
    if (local_schema(c, NULL) != 0)
        return;
    if (!memcmp(ver, c->version, 16))
        return;
    if (ts < c->ts_us || (ts == c->ts_us && memcmp(ver, c->version, 16) < 0))
        return; /* ours is newer: they will pull it from us */
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = c->o.schema.put(c->o.schema.arg, blob, blen, msg);
    if (rc != 0) {
        SB_WARN("cluster", "could not apply schema", "peer=%s err=\"%s\"", who, msg);
        return;
    }
    if (local_schema(c, NULL) == 0) {
        sb_gossip_set_schema(c->g, c->version);
        sb_gossip_announce(c->g);
    }
    SB_INFO("cluster", "schema updated", "peer=%s ts=%lld", who, (long long)ts);
}

static pull_state *pull_of(sb_cluster *c, const sb_ep *ep)
{
    for (int i = 0; i < c->npulls; i++)
        if (sb_ep_eq(&c->pulls[i].ep, ep))
            return &c->pulls[i];
    if (c->npulls == MAX_PULL_PEERS)
        return NULL;
    pull_state *p = &c->pulls[c->npulls++];
    memset(p, 0, sizeof *p);
    p->ep = *ep;
    return p;
}

typedef struct pull_req {
    sb_cluster *c;
    sb_ep ep;
} pull_req;

static void on_pull(void *arg, int status, const uint8_t *body, size_t len)
{
    pull_req *pr = arg;
    sb_cluster *c = pr->c;
    pull_state *p = pull_of(c, &pr->ep);
    if (p)
        p->in_flight = 0;
    if (status == 0 && !c->stopped)
        consider_schema(c, &pr->ep, body, len);
    free(pr);
}

/* The gossip interval: the pace of schema pulls and load refreshes. */
static uint32_t gossip_interval_ms(const sb_cluster *c)
{
    return (uint32_t)(c->o.gossip.interval_ms > 0 ? c->o.gossip.interval_ms : 1000);
}

static void pull_from(sb_cluster *c, const sb_member *m)
{
    uint64_t now = c->io.mono_ms(c->io.ctx);
    pull_state *p = pull_of(c, &m->ep);
    uint32_t every = gossip_interval_ms(c);
    if (!p || p->in_flight || (p->last_ms && now - p->last_ms < every))
        return;
    pull_req *pr = sb_malloc(sizeof *pr);
    if (!pr)
        return;
    pr->c = c;
    pr->ep = m->ep;
    p->in_flight = 1;
    p->last_ms = now;
    if (sb_rpc_call(c->rpc, &m->ep, SB_MSG_SCHEMA_PULL, NULL, 0, SCHEMA_TIMEOUT_MS, on_pull, pr,
                    NULL) != 0) {
        p->in_flight = 0;
        free(pr);
    }
}

static void check_schemas(sb_cluster *c)
{
    if (!has_schema(c) || c->stopped)
        return;
    if (local_schema(c, NULL) != 0)
        return;
    int n = sb_gossip_nmembers(c->g);
    for (int i = 0; i < n; i++) {
        const sb_member *m = sb_gossip_member(c->g, i);
        static const uint8_t zero[16];
        if (m->is_self || !m->up || !memcmp(m->schema_version, zero, 16) ||
            !memcmp(m->schema_version, c->version, 16))
            continue;
        pull_from(c, m);
    }
}

static void on_schema_timer(void *arg)
{
    sb_cluster *c = arg;
    c->schema_timer = NULL;
    if (c->stopped)
        return;
    check_schemas(c);
    c->schema_timer = c->io.timer_start(c->io.ctx, 2u * gossip_interval_ms(c), on_schema_timer, c);
}

int sb_cluster_schema_agreed(sb_cluster *c)
{
    if (!has_schema(c) || c->stopped || local_schema(c, NULL) != 0)
        return 1;
    int n = sb_gossip_nmembers(c->g);
    for (int i = 0; i < n; i++) {
        const sb_member *m = sb_gossip_member(c->g, i);
        if (!m->is_self && m->up && m->status != SB_STATUS_LEFT &&
            memcmp(m->schema_version, c->version, 16) != 0)
            return 0;
    }
    return 1;
}

void sb_cluster_schema_applied(sb_cluster *c)
{
    if (has_schema(c) && !c->stopped && local_schema(c, NULL) == 0) {
        sb_gossip_set_schema(c->g, c->version);
        sb_gossip_announce(c->g);
    }
}

void sb_cluster_schema_changed(sb_cluster *c)
{
    if (!has_schema(c) || c->stopped)
        return;
    sb_buf body, msg;
    sb_buf_init(&body);
    sb_buf_init(&msg);
    if (local_schema(c, &body) == 0 &&
        sb_msg_build(&msg, &c->o.gossip.self, body.data, body.len) == 0) {
        sb_gossip_set_schema(c->g, c->version);
        int n = sb_gossip_nmembers(c->g);
        for (int i = 0; i < n; i++) {
            const sb_member *m = sb_gossip_member(c->g, i);
            if (!m->is_self && m->up)
                c->io.send(c->io.ctx, &m->ep, SB_MSG_SCHEMA_PUSH, msg.data, msg.len);
        }
    }
    sb_buf_free(&body);
    sb_buf_free(&msg);
}

/* ---------------------------------------------------------------- events */

static void on_gossip_event(void *arg, int event, const sb_member *m)
{
    sb_cluster *c = arg;
    if (c->stopped)
        return;
    switch (event) {
    case SB_GOSSIP_UP:
    case SB_GOSSIP_RESTARTED:
        if (!m->is_self)
            sb_hints_target_up(c->h, &m->ep);
        break;
    case SB_GOSSIP_SCHEMA:
        if (has_schema(c))
            pull_from(c, m);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ load */

/* The local load (live bytes) goes into gossip every LOAD_ROUNDS gossip
 * intervals, so that peers' views (status, the dashboard) follow it; an
 * unchanged value costs nothing (gossip sends changed fields only). */
#define LOAD_ROUNDS 2

static void refresh_load(sb_cluster *c)
{
    if (c->io.st && c->io.st->load_bytes)
        sb_gossip_set_load(c->g, c->io.st->load_bytes(c->io.st_ctx));
}

/* The ring's members, as gossip sees them, for the Raft group's
 * configuration: nodes that left are not members. */
static void refresh_group_members(sb_cluster *c)
{
    if (!c->grp)
        return;
    int n = sb_gossip_nmembers(c->g), k = 0;
    sb_group_member *m = sb_calloc((size_t)(n ? n : 1), sizeof *m);
    if (!m)
        return;
    for (int i = 0; i < n; i++) {
        const sb_member *gm = sb_gossip_member(c->g, i);
        if (gm->status == SB_STATUS_LEFT)
            continue;
        m[k].ep = gm->ep;
        m[k].up = gm->is_self || (gm->up && gm->status != SB_STATUS_SHUTDOWN);
        k++;
    }
    sb_group_set_members(c->grp, m, k);
    free(m);
}

static void topo_reconcile(sb_cluster *c);

static void on_load_timer(void *arg)
{
    sb_cluster *c = arg;
    c->load_timer = NULL;
    if (c->stopped)
        return;
    refresh_load(c);
    refresh_group_members(c);
    topo_reconcile(c);
    c->load_timer =
        c->io.timer_start(c->io.ctx, LOAD_ROUNDS * gossip_interval_ms(c), on_load_timer, c);
}

/* -------------------------------------------------------------- topology */

/* Topology commands share the group's log with the caller's state machine
 * (the schema): they start with TOPO_TAG, a byte no schema command
 * starts with. The group's snapshot is SNAP_MAGIC, the caller's snapshot
 * (u32 length, bytes), then the topology's; a snapshot without the magic
 * is an older one that holds only the caller's state. */
#define TOPO_TAG 0xF7
static const uint8_t SNAP_MAGIC[8] = {0xF7, 'S', 'B', 'T', 'O', 'P', 'O', 1};
#define TOPO_LINGER_ROUNDS 10 /* gossip rounds writes go to both rings after a change */
#define JOIN_WAIT_MS 20000    /* how long a joiner waits for a Raft leader to join through */

static int topo_propose(sb_cluster *c, const sb_topo_cmd *cmd, sb_group_done_fn cb)
{
    sb_buf b;
    sb_buf_init(&b);
    int rc = sb_wire_put_u8(&b, TOPO_TAG);
    rc = rc ? rc : sb_topo_cmd_encode(cmd, &b);
    rc = rc ? rc : sb_group_propose(c->grp, b.data, b.len, cb, c);
    sb_buf_free(&b);
    return rc;
}

static void on_topo_proposed(void *arg, int status, const char *errmsg)
{
    sb_cluster *c = arg;
    c->topo_proposing = 0;
    if (status != 0)
        SB_INFO("topology", "proposal not applied", "status=%s err=\"%s\"", sb_errname(status),
                errmsg ? errmsg : "");
}

/* Proposes at most one command at a time; 1 if it went out. */
static int topo_propose_one(sb_cluster *c, const sb_topo_cmd *cmd)
{
    if (c->topo_proposing || c->stopped)
        return 0;
    if (topo_propose(c, cmd, on_topo_proposed) != 0)
        return 0;
    c->topo_proposing = 1;
    return 1;
}

static void on_bootstrapped(void *arg, int status)
{
    sb_cluster *c = arg;
    c->bootstrapping = 0;
    if (status != 0) {
        SB_WARN("topology", "bootstrap failed; it will be retried", "status=%s",
                sb_errname(status));
        return;
    }
    c->bootstrapped = 1;
    sb_topo_cmd cmd = {.op = SB_TOPO_JOINED, .ep = c->o.gossip.self};
    topo_propose_one(c, &cmd);
}

/* Brings this node's gossip state and bootstrap in line with the committed
 * topology, and (on the leader) adopts nodes whose tokens came from the
 * gossip-only path. Runs after every apply and every load round. */
static void topo_reconcile(sb_cluster *c)
{
    if (c->stopped || !c->grp)
        return;
    const sb_member *self = sb_gossip_self(c->g);
    const sb_topo_node *me = sb_topo_find(&c->topo, &c->o.gossip.self);
    if (me && me->status == SB_STATUS_JOINING) {
        if (self->status == SB_STATUS_JOINING && self->ntokens == 0)
            sb_gossip_adopt_tokens(c->g, me->tokens, me->ntokens, SB_STATUS_JOINING);
        if (c->bootstrapped) {
            sb_topo_cmd cmd = {.op = SB_TOPO_JOINED, .ep = c->o.gossip.self};
            topo_propose_one(c, &cmd);
        } else if (!c->bootstrapping) {
            c->bootstrapping = 1;
            c->o.bootstrap(c->o.bootstrap_arg, &c->topo, &c->o.gossip.self, on_bootstrapped, c);
        }
    } else if (me && me->status == SB_STATUS_NORMAL && self->status == SB_STATUS_JOINING) {
        sb_gossip_adopt_tokens(c->g, me->tokens, me->ntokens, SB_STATUS_NORMAL);
    }
    if (!sb_group_is_leader(c->grp))
        return;
    for (int i = 0; i < sb_gossip_nmembers(c->g); i++) {
        const sb_member *m = sb_gossip_member(c->g, i);
        if (m->status != SB_STATUS_NORMAL || m->ntokens == 0 || sb_topo_find(&c->topo, &m->ep))
            continue;
        sb_topo_cmd cmd = {.op = SB_TOPO_JOIN,
                           .ep = m->ep,
                           .status = SB_STATUS_NORMAL,
                           .num_tokens = m->ntokens,
                           .ntokens = m->ntokens};
        memcpy(cmd.host_id, m->host_id, 16);
        memcpy(cmd.dc, m->dc, sizeof cmd.dc);
        memcpy(cmd.rack, m->rack, sizeof cmd.rack);
        memcpy(cmd.tokens, m->tokens, sizeof(int64_t) * (size_t)m->ntokens);
        topo_propose_one(c, &cmd);
        return;
    }
}

/* gossip's join_hook: 1 while the join goes through the group. */
static int topo_join_hook(void *arg)
{
    sb_cluster *c = arg;
    if (!c->grp || c->stopped)
        return 0;
    if (sb_topo_find(&c->topo, &c->o.gossip.self))
        return 1; /* in the topology: topo_reconcile takes it on */
    sb_group_status st;
    sb_group_get_status(c->grp, &st);
    if (!st.has_leader) {
        /* No Raft group to join through (it has not reached us yet, or
         * there is none): after a while, the gossip-only path. */
        uint64_t now = c->io.mono_ms(c->io.ctx);
        if (!c->join_wait_since_ms)
            c->join_wait_since_ms = now;
        if (now < c->join_wait_since_ms + JOIN_WAIT_MS)
            return 1;
        SB_WARN("topology", "no Raft leader; taking tokens through gossip", "waited_ms=%d",
                JOIN_WAIT_MS);
        return 0;
    }
    const sb_gossip_opts *go = &c->o.gossip;
    sb_topo_cmd cmd = {.op = SB_TOPO_JOIN,
                       .ep = go->self,
                       .status = SB_STATUS_JOINING,
                       .num_tokens = go->num_tokens};
    memcpy(cmd.host_id, go->host_id, 16);
    memcpy(cmd.dc, go->dc, sizeof cmd.dc);
    memcpy(cmd.rack, go->rack, sizeof cmd.rack);
    if (topo_propose_one(c, &cmd))
        SB_INFO("topology", "asking the Raft group to join", "num_tokens=%d", go->num_tokens);
    return 1;
}

static void on_reconcile_timer(void *arg)
{
    sb_cluster *c = arg;
    c->reconcile_timer = NULL;
    topo_reconcile(c);
}

/* New pending ranges at once; the rest (gossip, bootstrap, proposals) from
 * a 0 ms timer, outside libraft's apply callback. */
static void stop_timer(sb_cluster *c, sb_io_timer **t)
{
    if (*t)
        c->io.timer_stop(c->io.ctx, *t);
    *t = NULL;
}

static void on_linger_timer(void *arg)
{
    sb_cluster *c = arg;
    c->linger_timer = NULL;
    sb_coord_set_pending(c->co, NULL);
    c->pending_on = 0;
}

static void topo_changed(sb_cluster *c)
{
    sb_topo_pending *pd = NULL;
    if (sb_topo_pending_new(&c->topo, &pd) != 0)
        SB_ERROR("topology", "out of memory for pending ranges", "nodes=%d", c->topo.n);
    if (pd) {
        stop_timer(c, &c->linger_timer);
        sb_coord_set_pending(c->co, pd);
        c->pending_on = 1;
    } else if (c->pending_on && !c->linger_timer && !c->stopped) {
        /* The last change completed: gossip brings the new ring to every
         * coordinator within a few rounds; until then the old set keeps
         * writes going to both rings. */
        c->linger_timer = c->io.timer_start(c->io.ctx, TOPO_LINGER_ROUNDS * gossip_interval_ms(c),
                                            on_linger_timer, c);
    }
    if (!c->reconcile_timer && !c->stopped)
        c->reconcile_timer = c->io.timer_start(c->io.ctx, 0, on_reconcile_timer, c);
}

static int meta_apply(void *arg, uint64_t index, const uint8_t *cmd, size_t len, char *errmsg)
{
    sb_cluster *c = arg;
    if (len == 0 || cmd[0] != TOPO_TAG) {
        if (!c->user_fsm.apply)
            return sb_seterr(errmsg, SB_EINVALID, "no state machine for this command");
        return c->user_fsm.apply(c->user_fsm.arg, index, cmd, len, errmsg);
    }
    sb_topo_cmd tc;
    if (sb_topo_cmd_decode(cmd + 1, len - 1, &tc) != 0)
        return sb_seterr(errmsg, SB_EBADINPUT, "malformed topology command at index %llu",
                         (unsigned long long)index);
    int rc = sb_topo_apply(&c->topo, index, &tc, errmsg);
    if (rc != 0) {
        SB_INFO("topology", "change refused", "index=%llu err=\"%s\"", (unsigned long long)index,
                errmsg);
        return rc;
    }
    if (errmsg[0]) {
        SB_INFO("topology", "change applied", "index=%llu change=\"%s\"", (unsigned long long)index,
                errmsg);
        topo_changed(c);
    }
    return 0;
}

static int meta_snapshot(void *arg, sb_buf *out)
{
    sb_cluster *c = arg;
    sb_buf user;
    sb_buf_init(&user);
    int rc = c->user_fsm.snapshot ? c->user_fsm.snapshot(c->user_fsm.arg, &user) : 0;
    rc = rc ? rc : sb_wire_put_raw(out, SNAP_MAGIC, sizeof SNAP_MAGIC);
    rc = rc ? rc : sb_wire_put_bytes(out, user.data, user.len);
    rc = rc ? rc : sb_topo_snapshot(&c->topo, out);
    sb_buf_free(&user);
    return rc;
}

static int meta_restore(void *arg, const uint8_t *p, size_t len)
{
    sb_cluster *c = arg;
    const uint8_t *user = p;
    size_t ulen = len;
    int has_topo = len >= sizeof SNAP_MAGIC && memcmp(p, SNAP_MAGIC, sizeof SNAP_MAGIC) == 0;
    sb_wire_reader r;
    if (has_topo) {
        sb_wire_reader_init(&r, p + sizeof SNAP_MAGIC, len - sizeof SNAP_MAGIC);
        sb_wire_get_bytes(&r, &user, &ulen, len);
        if (r.err)
            return SB_EBADINPUT;
    }
    int rc = c->user_fsm.restore ? c->user_fsm.restore(c->user_fsm.arg, user, ulen) : 0;
    if (rc == 0 && has_topo) {
        rc = sb_topo_restore(&c->topo, r.p + r.off, r.n - r.off);
        if (rc)
            SB_ERROR("topology", "could not restore the topology from a snapshot", "rc=%s",
                     sb_errname(rc));
        else
            topo_changed(c);
    }
    return rc;
}

const sb_topo *sb_cluster_topology(sb_cluster *c)
{
    return &c->topo;
}

/* ------------------------------------------------------------ life cycle */

sb_cluster *sb_cluster_new(const sb_io *io, const sb_cluster_opts *o, char *errmsg)
{
    sb_cluster *c = sb_calloc(1, sizeof *c);
    if (!c) {
        sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        return NULL;
    }
    c->io = *io;
    c->o = *o;
    sb_topo_init(&c->topo);
    if (!c->o.bootstrap)
        c->o.bootstrap = sb_topo_bootstrap_now;
    if (o->raft) {
        /* topology changes share the group's log with the caller's fsm */
        c->user_fsm = o->group.fsm;
        c->o.group.fsm = (sb_group_fsm){meta_apply, meta_snapshot, meta_restore, c};
        c->o.gossip.join_hook = topo_join_hook;
        c->o.gossip.join_arg = c;
    }
    if (o->gossip.nseeds > 0) {
        c->seeds = sb_calloc((size_t)o->gossip.nseeds, sizeof *c->seeds);
        if (!c->seeds)
            goto nomem;
        memcpy(c->seeds, o->gossip.seeds, sizeof *c->seeds * (size_t)o->gossip.nseeds);
        c->o.gossip.seeds = c->seeds;
    }
    if (has_schema(c))
        local_schema(c, NULL);
    c->rpc = sb_rpc_new(&c->io, &o->gossip.self);
    if (!c->rpc)
        goto nomem;
    sb_rpc_set_max_pending(c->rpc, o->rpc_max_pending);
    c->g = sb_gossip_new(&c->io, &c->o.gossip, errmsg);
    if (!c->g)
        goto fail;
    c->h = sb_hints_new(&c->io, c->rpc, c->g, &o->hints);
    if (!c->h)
        goto nomem;
    c->co = sb_coord_new(&c->io, c->rpc, c->g, c->h, &o->coord);
    if (!c->co)
        goto nomem;
    if (sb_gossip_on_event(c->g, on_gossip_event, c) != 0)
        goto nomem;
    if (o->raft) {
        c->o.group.self = o->gossip.self;
        c->o.group.bootstrap =
            o->gossip.nseeds == 0 || sb_ep_eq(&o->gossip.seeds[0], &o->gossip.self);
        c->grp = sb_group_new(&c->io, c->rpc, &c->o.group, errmsg);
        if (!c->grp)
            goto fail;
    }
    if (has_schema(c))
        sb_gossip_set_schema(c->g, c->version);
    return c;
nomem:
    sb_seterr(errmsg, SB_ENOMEM, "out of memory");
fail:
    sb_cluster_free(c);
    return NULL;
}

void sb_cluster_start(sb_cluster *c)
{
    if (c->started)
        return;
    c->started = 1;
    refresh_load(c);
    sb_gossip_start(c->g);
    sb_hints_start(c->h);
    if (c->grp) {
        char errmsg[SB_ERRMSG_SIZE];
        if (sb_group_start(c->grp, errmsg) != 0)
            SB_ERROR("raft", "the metadata group did not start", "err=\"%s\"", errmsg);
        refresh_group_members(c);
    }
    if (has_schema(c))
        c->schema_timer = c->io.timer_start(c->io.ctx, gossip_interval_ms(c), on_schema_timer, c);
    on_load_timer(c);
}

void sb_cluster_stop(sb_cluster *c)
{
    if (!c || c->stopped)
        return;
    c->stopped = 1;
    sb_io_timer **timers[] = {&c->schema_timer, &c->load_timer, &c->reconcile_timer,
                              &c->linger_timer};
    for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
        stop_timer(c, timers[i]);
    if (c->started)
        sb_gossip_stop(c->g);
    sb_group_stop(c->grp);
}

void sb_cluster_free(sb_cluster *c)
{
    if (!c)
        return;
    sb_cluster_stop(c);
    /* The coordinator and hints hold rpc calls: free them first so their
     * callbacks see SB_ECLOSED from sb_rpc_free while they still exist. */
    sb_group_stop(c->grp); /* its open proposals answer through the rpc */
    if (c->rpc)
        sb_rpc_free(c->rpc);
    sb_coord_free(c->co);
    sb_hints_free(c->h);
    sb_group_free(c->grp);
    sb_gossip_free(c->g);
    sb_topo_close(&c->topo);
    free(c->seeds);
    free(c);
}

/* -------------------------------------------------------------- messages */

static void handle_schema_pull(sb_cluster *c, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen) != 0)
        return;
    sb_buf out;
    sb_buf_init(&out);
    if (has_schema(c) && local_schema(c, &out) == 0)
        sb_rpc_reply(c->rpc, &from, id, out.data, out.len);
    sb_buf_free(&out);
}

static void handle_ping(sb_cluster *c, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen) == 0)
        sb_rpc_reply(c->rpc, &from, id, body, blen);
}

void sb_cluster_receive(sb_cluster *c, int type, const uint8_t *payload, size_t len)
{
    if (c->stopped)
        return;
    switch (type) {
    case SB_MSG_GOSSIP_SYN:
    case SB_MSG_GOSSIP_ACK:
    case SB_MSG_GOSSIP_ACK2:
    case SB_MSG_SHUTDOWN:
        sb_gossip_receive(c->g, type, payload, len);
        break;
    case SB_MSG_RESPONSE:
        sb_rpc_receive_response(c->rpc, payload, len);
        break;
    case SB_MSG_MUTATION:
    case SB_MSG_READ:
    case SB_MSG_TRUNCATE:
    case SB_MSG_PAXOS_PREPARE:
    case SB_MSG_PAXOS_PROPOSE:
    case SB_MSG_PAXOS_COMMIT:
        sb_coord_receive(c->co, type, payload, len);
        break;
    case SB_MSG_SCHEMA_PUSH: {
        sb_ep from;
        const uint8_t *body;
        size_t blen;
        if (has_schema(c) && sb_msg_parse(payload, len, &from, &body, &blen) == 0)
            consider_schema(c, &from, body, blen);
        break;
    }
    case SB_MSG_SCHEMA_PULL:
        handle_schema_pull(c, payload, len);
        break;
    case SB_MSG_PING:
        handle_ping(c, payload, len);
        break;
    case SB_MSG_RAFT:
    case SB_MSG_RAFT_PROPOSE:
        if (c->grp)
            sb_group_receive(c->grp, type, payload, len);
        break;
    default:
        SB_DEBUG("cluster", "unknown message type", "type=%d", type);
        break;
    }
}
