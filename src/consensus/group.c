/*
 * The cluster's Raft group (group.h has the design notes).
 *
 * SB_MSG_RAFT_PROPOSE is an rpc request whose body is the command; the
 * response body is [i32 status][u64 index][str message]: status 0 with
 * the state machine's code in the message's place is not used; status is
 * the state machine's code itself (0 applied, SB_E* refused) or a Raft
 * failure (SB_EUNAVAILABLE not the leader / lost leadership).
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/group.h"
#include "consensus/raft_io.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define MAX_MEMBERS 256
#define POLL_MS 50
#define RECONCILE_EVERY 2 /* polls */
#define MSG_MAX SB_ERRMSG_SIZE

typedef struct prop {
    struct raft_apply req;
    sb_group *g;
    struct prop *next;
    sb_group_done_fn cb; /* local proposer, or NULL */
    void *arg;
    int remote; /* forwarded to us: answer the rpc */
    sb_ep from;
    uint64_t rpc_id;
    uint64_t wait_index; /* follower: answer once applied here */
    uint64_t deadline_ms;
    uint8_t *cmd; /* waiting for a leader: the command */
    size_t cmdlen;
    int status;
    char msg[MSG_MAX];
} prop;

struct sb_group {
    sb_io io;
    sb_rpc *rpc;
    sb_group_opts o;
    struct raft raft;
    struct raft_io rio;
    struct raft_fsm fsm;
    int inited, started, running, stopped, closed;
    char addr[SB_EP_STRLEN];
    raft_id id;
    sb_io_timer *poll_timer;
    sb_io_timer *boot_timer; /* waits for the bootstrap's writes */
    sb_io_timer *ready_timer;
    unsigned polls;
    int last_state;
    /* proposals waiting for local apply, for a leader, and answered ones
     * to deliver */
    prop *waiting;
    prop *noleader;
    int had_leader; /* a leader was known once (since start) */
    prop *ready;
    /* what the last applied command said, for its proposer */
    int apply_rc;
    char apply_msg[MSG_MAX];
    /* membership from gossip */
    sb_group_member members[MAX_MEMBERS];
    int nmembers;
    struct raft_change change;
    int changing;
    sb_group_event change_ev; /* what the change in flight does */
    sb_group_status counts;
};

void sb_group_opts_default(sb_group_opts *o)
{
    memset(o, 0, sizeof *o);
    o->heartbeat_ms = 100;
    o->election_ms = 1000;
    o->max_voters = 5;
    o->snapshot_threshold = 1024;
    o->snapshot_trailing = 128;
    o->propose_timeout_ms = 5000;
}

/* ------------------------------------------------------------ delivery */

static void on_ready(void *arg)
{
    sb_group *g = arg;
    g->ready_timer = NULL;
    prop *p = g->ready;
    g->ready = NULL;
    /* delivered in proposal order: the list was built newest first */
    prop *rev = NULL;
    while (p) {
        prop *n = p->next;
        p->next = rev;
        rev = p;
        p = n;
    }
    while (rev) {
        prop *n = rev->next;
        if (rev->status && rev->status != SB_EEXISTS && rev->status != SB_EINVALID &&
            rev->status != SB_ENOTFOUND && rev->status != SB_ECONFIG)
            g->counts.proposals_failed++;
        rev->cb(rev->arg, rev->status, rev->msg);
        free(rev);
        rev = n;
    }
}

/* Hands a local proposal its answer (from the ready timer). */
static void finish(sb_group *g, prop *p, int status, const char *msg)
{
    p->status = status;
    if (msg != p->msg)
        snprintf(p->msg, sizeof p->msg, "%s", msg ? msg : "");
    p->next = g->ready;
    g->ready = p;
    if (!g->ready_timer)
        g->ready_timer = g->io.timer_start(g->io.ctx, 0, on_ready, g);
}

static void reply(sb_group *g, const sb_ep *to, uint64_t id, int status, uint64_t index,
                  const char *msg)
{
    sb_buf b;
    sb_buf_init(&b);
    if (sb_wire_put_u32(&b, (uint32_t)status) == 0 && sb_wire_put_u64(&b, index) == 0 &&
        sb_wire_put_str(&b, msg ? msg : "") == 0)
        sb_rpc_reply(g->rpc, to, id, b.data, b.len);
    sb_buf_free(&b);
}

static int raft_to_sb(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOMEM:
        return SB_ENOMEM;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
    case RAFT_NOCONNECTION:
        return SB_EUNAVAILABLE;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
        return SB_ECLOSED;
    case RAFT_TOOBIG:
        return SB_ETOOBIG;
    default:
        return SB_EIO;
    }
}

static const char *raft_msg(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
        return "this node is not the Raft leader";
    case RAFT_LEADERSHIPLOST:
        return "the Raft leader lost its leadership before the change committed "
               "(no quorum of voters reachable?)";
    default:
        return raft_strerror(rv);
    }
}

/* ------------------------------------------------------- state machine */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    sb_group *g = fsm->data;
    uint64_t index = raft_last_applied(&g->raft) + 1;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = 0;
    if (g->o.fsm.apply)
        rc = g->o.fsm.apply(g->o.fsm.arg, index, buf->base, buf->len, msg);
    g->apply_rc = rc;
    snprintf(g->apply_msg, sizeof g->apply_msg, "%s", msg);
    *result = NULL;
    /* Followers' forwarded proposals waiting for this index. */
    prop **pp = &g->waiting;
    while (*pp) {
        prop *p = *pp;
        if (p->wait_index <= index) {
            *pp = p->next;
            finish(g, p, p->status, p->msg);
        } else {
            pp = &p->next;
        }
    }
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    sb_group *g = fsm->data;
    sb_buf b;
    sb_buf_init(&b);
    if (g->o.fsm.snapshot && g->o.fsm.snapshot(g->o.fsm.arg, &b) != 0) {
        sb_buf_free(&b);
        return RAFT_NOMEM;
    }
    *bufs = raft_malloc(sizeof **bufs);
    void *data = raft_malloc(b.len ? b.len : 1);
    if (!*bufs || !data) {
        raft_free(*bufs);
        raft_free(data);
        sb_buf_free(&b);
        return RAFT_NOMEM;
    }
    if (b.len)
        memcpy(data, b.data, b.len);
    (*bufs)[0].base = data;
    (*bufs)[0].len = b.len;
    *n_bufs = 1;
    sb_buf_free(&b);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    sb_group *g = fsm->data;
    int rc = 0;
    if (g->o.fsm.restore)
        rc = g->o.fsm.restore(g->o.fsm.arg, buf->base, buf->len);
    if (rc)
        return RAFT_CORRUPT;
    raft_free(buf->base);
    return 0;
}

/* ------------------------------------------------------------ proposals */

static void on_applied(struct raft_apply *req, int status, void *result)
{
    prop *p = req->data;
    sb_group *g = p->g;
    (void)result;
    int rc = status ? raft_to_sb(status) : g->apply_rc;
    const char *msg = status ? raft_msg(status) : g->apply_msg;
    uint64_t index = status ? 0 : raft_last_applied(&g->raft) + 1;
    if (p->remote) {
        reply(g, &p->from, p->rpc_id, rc, index, msg);
        free(p);
    } else {
        finish(g, p, rc, msg);
    }
}

/* Appends the command on this node (the leader). 0 or an SB_E* code with
 * p untouched. */
static int apply_here(sb_group *g, prop *p, const uint8_t *cmd, size_t len)
{
    struct raft_buffer b = {.base = raft_malloc(len ? len : 1), .len = len};
    if (!b.base)
        return SB_ENOMEM;
    if (len)
        memcpy(b.base, cmd, len);
    p->req.data = p;
    int rv = raft_apply(&g->raft, &p->req, &b, 1, on_applied);
    if (rv) {
        raft_free(b.base);
        return raft_to_sb(rv);
    }
    g->counts.proposals++;
    return 0;
}

static void on_forwarded(void *arg, int status, const uint8_t *body, size_t len)
{
    prop *p = arg;
    sb_group *g = p->g;
    if (status) {
        char msg[MSG_MAX];
        snprintf(msg, sizeof msg, "the Raft leader did not answer: %s", sb_strerror(status));
        finish(g, p, status == SB_ETIMEOUT ? SB_ETIMEOUT : SB_EUNAVAILABLE, msg);
        return;
    }
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    int rc = (int32_t)sb_wire_get_u32(&r);
    uint64_t index = sb_wire_get_u64(&r);
    char msg[MSG_MAX];
    sb_wire_get_str(&r, msg, sizeof msg);
    if (r.err) {
        finish(g, p, SB_ESERVER, "malformed answer from the Raft leader");
        return;
    }
    p->status = rc;
    snprintf(p->msg, sizeof p->msg, "%s", msg);
    if (index == 0 || g->closed || raft_last_applied(&g->raft) >= index) {
        finish(g, p, rc, msg);
        return;
    }
    /* Answer once this node has applied it too (read your own change). */
    p->wait_index = index;
    p->deadline_ms = g->io.mono_ms(g->io.ctx) + g->o.propose_timeout_ms;
    p->next = g->waiting;
    g->waiting = p;
}

#define NO_LEADER_MSG "no Raft leader is known: a majority of the metadata voters is not reachable"

/* Sends a proposal on: appended here on the leader, forwarded to a known
 * leader. 0, or 1 when no leader is known (p untouched). */
static int dispatch(sb_group *g, prop *p, const uint8_t *cmd, size_t len)
{
    if (g->running && raft_state(&g->raft) == RAFT_LEADER) {
        int rc = apply_here(g, p, cmd, len);
        if (rc)
            finish(g, p, rc, "could not append to the Raft log");
        return 0;
    }
    raft_id lid = 0;
    const char *laddr = NULL;
    if (g->running)
        raft_leader(&g->raft, &lid, &laddr);
    sb_ep to;
    if (lid == 0 || !laddr || sb_ep_parse(laddr, 0, &to) != 0)
        return 1;
    g->counts.forwarded++;
    int rc = sb_rpc_call(g->rpc, &to, SB_MSG_RAFT_PROPOSE, cmd, len, g->o.propose_timeout_ms,
                         on_forwarded, p, NULL);
    if (rc)
        finish(g, p, rc == SB_EOVERLOADED ? rc : SB_EUNAVAILABLE,
               "could not forward the change to the Raft leader");
    return 0;
}

/* How long a proposal waits for a leader: an election's worth when the
 * node knew one (a quorum lost is reported promptly), the whole proposal
 * timeout while the node is still starting or joining the group. */
static uint64_t leader_wait_ms(const sb_group *g)
{
    return g->had_leader ? g->o.election_ms + 1000 : g->o.propose_timeout_ms;
}

int sb_group_propose(sb_group *g, const uint8_t *cmd, size_t len, sb_group_done_fn cb, void *arg)
{
    if (!g->started || g->closed)
        return SB_ECLOSED;
    prop *p = sb_calloc(1, sizeof *p);
    if (!p)
        return SB_ENOMEM;
    p->g = g;
    p->cb = cb;
    p->arg = arg;
    if (dispatch(g, p, cmd, len) == 0)
        return 0;
    /* no leader yet: wait for one (an election, or this node joining) */
    p->cmd = sb_malloc(len ? len : 1);
    if (!p->cmd) {
        free(p);
        return SB_ENOMEM;
    }
    memcpy(p->cmd, cmd, len);
    p->cmdlen = len;
    p->deadline_ms = g->io.mono_ms(g->io.ctx) + leader_wait_ms(g);
    p->next = g->noleader;
    g->noleader = p;
    return 0;
}

/* Proposals waiting for a leader: sent once one is known, failed at
 * their deadline. */
static void retry_noleader(sb_group *g, uint64_t now)
{
    prop *p = g->noleader, *keep = NULL;
    g->noleader = NULL;
    while (p) {
        prop *next = p->next;
        uint8_t *cmd = p->cmd;
        p->next = NULL;
        if (dispatch(g, p, cmd, p->cmdlen) == 0) {
            free(cmd);
        } else if (now >= p->deadline_ms) {
            free(cmd);
            p->cmd = NULL;
            finish(g, p, SB_EUNAVAILABLE, NO_LEADER_MSG);
        } else {
            p->next = keep;
            keep = p;
        }
        p = next;
    }
    g->noleader = keep;
}

static void handle_propose(sb_group *g, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen) != 0)
        return;
    if (!g->started || g->closed || raft_state(&g->raft) != RAFT_LEADER) {
        reply(g, &from, id, SB_EUNAVAILABLE, 0, "this node is not the Raft leader");
        return;
    }
    prop *p = sb_calloc(1, sizeof *p);
    if (!p) {
        reply(g, &from, id, SB_ENOMEM, 0, "out of memory");
        return;
    }
    p->g = g;
    p->remote = 1;
    p->from = from;
    p->rpc_id = id;
    int rc = apply_here(g, p, body, blen);
    if (rc) {
        reply(g, &from, id, rc, 0, "could not append to the Raft log");
        free(p);
    }
}

void sb_group_receive(sb_group *g, int type, const uint8_t *payload, size_t len)
{
    if (type == SB_MSG_RAFT) {
        if (g->started && !g->closed)
            sb_raft_io_receive(&g->rio, payload, len);
    } else if (type == SB_MSG_RAFT_PROPOSE) {
        handle_propose(g, payload, len);
    }
}

/* ----------------------------------------------------------- membership */

static int member_index(const sb_group *g, raft_id id)
{
    for (int i = 0; i < g->nmembers; i++)
        if (sb_raft_id_of(&g->members[i].ep) == id)
            return i;
    return -1;
}

const char *sb_group_event_name(sb_group_event_kind k)
{
    switch (k) {
    case SB_GROUP_ELECTED:
        return "elected";
    case SB_GROUP_STEPPED_DOWN:
        return "stepped_down";
    case SB_GROUP_ADDED:
        return "added";
    case SB_GROUP_LEARNER:
        return "learner";
    case SB_GROUP_PROMOTED:
        return "promoted";
    case SB_GROUP_DEMOTED:
        return "demoted";
    case SB_GROUP_REMOVED:
        return "removed";
    }
    return "?";
}

static int count_voters(const struct raft_configuration *c)
{
    int n = 0;
    for (unsigned j = 0; j < c->n; j++)
        n += c->servers[j].role == RAFT_VOTER;
    return n;
}

static void emit(sb_group *g, sb_group_event *ev)
{
    ev->term = g->raft.current_term;
    ev->nvoters = count_voters(&g->raft.configuration);
    if (g->o.on_event)
        g->o.on_event(g->o.event_arg, ev);
}

static void on_changed(struct raft_change *req, int status)
{
    sb_group *g = req->data;
    g->changing = 0;
    if (status == 0) {
        g->counts.changes++;
        emit(g, &g->change_ev);
    } else
        SB_INFO("raft", "configuration change failed", "err=\"%s\"", raft_strerror(status));
}

static int wanted_voters(const sb_group *g, int n)
{
    int v = n < (int)g->o.max_voters ? n : (int)g->o.max_voters;
    if (v > 1 && v % 2 == 0)
        v--;
    return v;
}

/* Remembers what the change about to be made does, for its event. */
static void change_is(sb_group *g, sb_group_event_kind kind, const char *address)
{
    memset(&g->change_ev, 0, sizeof g->change_ev);
    g->change_ev.kind = kind;
    sb_ep_parse(address, 0, &g->change_ev.peer);
}

/* One step toward the wanted configuration (leader only). */
static void reconcile(sb_group *g)
{
    if (g->changing || g->nmembers == 0 || raft_state(&g->raft) != RAFT_LEADER)
        return;
    const struct raft_configuration *c = &g->raft.configuration;
    if (g->raft.configuration_uncommitted_index != 0)
        return;
    int rv = 0;
    char what[96] = "";
    g->change.data = g;
    /* 1. members not in the configuration join as spares */
    for (int i = 0; i < g->nmembers && !what[0]; i++) {
        raft_id id = sb_raft_id_of(&g->members[i].ep);
        int found = 0;
        for (unsigned j = 0; j < c->n; j++)
            found |= c->servers[j].id == id;
        if (!found && g->members[i].up) {
            char a[SB_EP_STRLEN];
            sb_ep_str(&g->members[i].ep, a);
            rv = raft_add(&g->raft, &g->change, id, a, on_changed);
            snprintf(what, sizeof what, "add %s", a);
            change_is(g, SB_GROUP_ADDED, a);
        }
    }
    /* 2. servers no longer in the ring leave */
    for (unsigned j = 0; j < c->n && !what[0]; j++) {
        if (c->servers[j].id != g->id && member_index(g, c->servers[j].id) < 0) {
            rv = raft_remove(&g->raft, &g->change, c->servers[j].id, on_changed);
            snprintf(what, sizeof what, "remove %s", c->servers[j].address);
            change_is(g, SB_GROUP_REMOVED, c->servers[j].address);
        }
    }
    /* 3. spares become standbys */
    for (unsigned j = 0; j < c->n && !what[0]; j++) {
        int mi = member_index(g, c->servers[j].id);
        if (c->servers[j].role == RAFT_SPARE && mi >= 0 && g->members[mi].up) {
            rv = raft_assign(&g->raft, &g->change, c->servers[j].id, RAFT_STANDBY, on_changed);
            snprintf(what, sizeof what, "standby %s", c->servers[j].address);
            change_is(g, SB_GROUP_LEARNER, c->servers[j].address);
        }
    }
    if (what[0])
        goto done;
    /* 4. voters: how many, which */
    int nvoters = 0, up_voters = 0;
    for (unsigned j = 0; j < c->n; j++) {
        if (c->servers[j].role != RAFT_VOTER)
            continue;
        nvoters++;
        int mi = member_index(g, c->servers[j].id);
        up_voters += c->servers[j].id == g->id || (mi >= 0 && g->members[mi].up);
    }
    int want = wanted_voters(g, (int)c->n);
    /* the up standby with the lowest id */
    const struct raft_server *cand = NULL;
    for (unsigned j = 0; j < c->n; j++) {
        int mi = member_index(g, c->servers[j].id);
        if (c->servers[j].role == RAFT_STANDBY && mi >= 0 && g->members[mi].up &&
            (!cand || c->servers[j].id < cand->id))
            cand = &c->servers[j];
    }
    if (nvoters < want && cand) {
        rv = raft_assign(&g->raft, &g->change, cand->id, RAFT_VOTER, on_changed);
        snprintf(what, sizeof what, "voter %s", cand->address);
        change_is(g, SB_GROUP_PROMOTED, cand->address);
    } else if (nvoters > want || (cand && up_voters < nvoters && up_voters > nvoters / 2)) {
        /* demote a down voter (or, with too many, the highest id) */
        const struct raft_server *out = NULL;
        for (unsigned j = 0; j < c->n; j++) {
            const struct raft_server *s = &c->servers[j];
            if (s->role != RAFT_VOTER || s->id == g->id)
                continue;
            int mi = member_index(g, s->id);
            int down = mi < 0 || !g->members[mi].up;
            if (nvoters <= want && !down)
                continue;
            if (!out ||
                (down &&
                 !(member_index(g, out->id) < 0 || !g->members[member_index(g, out->id)].up)) ||
                s->id > out->id)
                out = s;
        }
        if (out) {
            rv = raft_assign(&g->raft, &g->change, out->id, RAFT_STANDBY, on_changed);
            snprintf(what, sizeof what, "demote %s", out->address);
            change_is(g, SB_GROUP_DEMOTED, out->address);
        }
    }
done:
    if (!what[0])
        return;
    if (rv == 0) {
        g->changing = 1;
        SB_INFO("raft", "configuration change", "change=\"%s\"", what);
    }
}

void sb_group_set_members(sb_group *g, const sb_group_member *m, int n)
{
    if (n > MAX_MEMBERS)
        n = MAX_MEMBERS;
    memcpy(g->members, m, (size_t)n * sizeof *m);
    g->nmembers = n;
}

/* --------------------------------------------------------------- polling */

static void on_poll(void *arg)
{
    sb_group *g = arg;
    g->poll_timer = g->io.timer_start(g->io.ctx, POLL_MS, on_poll, g);
    int state = raft_state(&g->raft);
    if (state != g->last_state) {
        sb_group_event ev = {.peer = g->o.self};
        if (state == RAFT_LEADER) {
            g->counts.elections_won++;
            SB_INFO("raft", "elected leader", "term=%llu",
                    (unsigned long long)g->raft.current_term);
            ev.kind = SB_GROUP_ELECTED;
            emit(g, &ev);
        } else if (g->last_state == RAFT_LEADER) {
            ev.kind = SB_GROUP_STEPPED_DOWN;
            emit(g, &ev);
        }
        g->last_state = state;
    }
    uint64_t now = g->io.mono_ms(g->io.ctx);
    if (g->running) {
        raft_id lid;
        const char *laddr;
        raft_leader(&g->raft, &lid, &laddr);
        g->had_leader |= lid != 0;
    }
    retry_noleader(g, now);
    /* forwarded proposals that waited too long for the local apply */
    prop **pp = &g->waiting;
    while (*pp) {
        prop *p = *pp;
        if (now >= p->deadline_ms) {
            *pp = p->next;
            finish(g, p, SB_ETIMEOUT, "the change committed but this node has not applied it yet");
        } else {
            pp = &p->next;
        }
    }
    if (++g->polls % RECONCILE_EVERY == 0)
        reconcile(g);
}

/* ------------------------------------------------------------- lifecycle */

sb_group *sb_group_new(const sb_io *io, sb_rpc *rpc, const sb_group_opts *o, char *errmsg)
{
    sb_group *g = sb_calloc(1, sizeof *g);
    if (!g) {
        sb_seterr(errmsg, SB_ENOMEM, "out of memory for the Raft group");
        return NULL;
    }
    g->io = *io;
    g->rpc = rpc;
    g->o = *o;
    g->id = sb_raft_id_of(&o->self);
    sb_ep_str(&o->self, g->addr);
    g->last_state = RAFT_UNAVAILABLE;
    if (sb_raft_io_init(&g->rio, io, &o->self) != 0) {
        free(g);
        sb_seterr(errmsg, SB_ENOMEM, "out of memory for the Raft group");
        return NULL;
    }
    g->fsm.version = 1;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = fsm_snapshot;
    g->fsm.restore = fsm_restore;
    return g;
}

static int start_raft(sb_group *g, char *errmsg);
static void on_boot_timer(void *arg);

int sb_group_start(sb_group *g, char *errmsg)
{
    int rv = raft_init(&g->raft, &g->rio, &g->fsm, g->id, g->addr);
    if (rv)
        return sb_seterr(errmsg, SB_EIO, "raft: %s", raft_errmsg(&g->raft));
    g->inited = 1;
    raft_set_heartbeat_timeout(&g->raft, g->o.heartbeat_ms);
    raft_set_election_timeout(&g->raft, g->o.election_ms);
    raft_set_snapshot_threshold(&g->raft, g->o.snapshot_threshold);
    raft_set_snapshot_trailing(&g->raft, g->o.snapshot_trailing);
    raft_set_pre_vote(&g->raft, true);
    if (g->o.bootstrap && sb_raft_io_empty(&g->io)) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        rv = raft_configuration_add(&conf, g->id, g->addr, RAFT_VOTER);
        if (rv == 0)
            rv = raft_bootstrap(&g->raft, &conf);
        raft_configuration_close(&conf);
        if (rv)
            return sb_seterr(errmsg, SB_EIO, "raft bootstrap: %s", raft_strerror(rv));
        SB_INFO("raft", "bootstrapped a new metadata group", "self=%s", g->addr);
    }
    g->started = 1;
    g->poll_timer = g->io.timer_start(g->io.ctx, POLL_MS, on_poll, g);
    if (!sb_raft_io_settled(&g->rio)) {
        /* raft_start loads the log: the bootstrap entry must be in */
        g->boot_timer = g->io.timer_start(g->io.ctx, 5, on_boot_timer, g);
        return 0;
    }
    return start_raft(g, errmsg);
}

static int start_raft(sb_group *g, char *errmsg)
{
    int rv = raft_start(&g->raft);
    if (rv)
        return sb_seterr(errmsg, rv == RAFT_NOMEM ? SB_ENOMEM : SB_ECORRUPT, "raft start: %s",
                         raft_errmsg(&g->raft));
    g->running = 1;
    return 0;
}

static void on_boot_timer(void *arg)
{
    sb_group *g = arg;
    g->boot_timer = NULL;
    if (!sb_raft_io_settled(&g->rio)) {
        g->boot_timer = g->io.timer_start(g->io.ctx, 5, on_boot_timer, g);
        return;
    }
    char errmsg[SB_ERRMSG_SIZE];
    if (start_raft(g, errmsg) != 0)
        SB_ERROR("raft", "the metadata group did not start", "err=\"%s\"", errmsg);
}

static void on_raft_closed(struct raft *r)
{
    sb_group *g = r->data;
    g->closed = 1;
}

void sb_group_stop(sb_group *g)
{
    if (!g || g->stopped)
        return;
    g->stopped = 1;
    if (g->poll_timer)
        g->io.timer_stop(g->io.ctx, g->poll_timer);
    g->poll_timer = NULL;
    if (g->boot_timer)
        g->io.timer_stop(g->io.ctx, g->boot_timer);
    g->boot_timer = NULL;
    if (g->inited) {
        g->raft.data = g;
        raft_close(&g->raft, on_raft_closed);
    }
    g->closed = 1;
    while (g->noleader) {
        prop *p = g->noleader;
        g->noleader = p->next;
        free(p->cmd);
        p->cmd = NULL;
        finish(g, p, SB_ECLOSED, "the node is shutting down");
    }
    /* waiting proposals fail now; the ready ones are still delivered */
    while (g->waiting) {
        prop *p = g->waiting;
        g->waiting = p->next;
        finish(g, p, SB_ECLOSED, "the node is shutting down");
    }
}

void sb_group_free(sb_group *g)
{
    if (!g)
        return;
    sb_group_stop(g);
    if (g->ready_timer) {
        g->io.timer_stop(g->io.ctx, g->ready_timer);
        g->ready_timer = NULL;
    }
    while (g->ready) {
        prop *p = g->ready;
        g->ready = p->next;
        p->cb(p->arg, SB_ECLOSED, "the node is shutting down");
        free(p);
    }
    sb_raft_io_free(&g->rio);
    free(g);
}

/* ---------------------------------------------------------------- status */

int sb_group_is_leader(sb_group *g)
{
    return g->started && !g->closed && raft_state(&g->raft) == RAFT_LEADER;
}

void sb_group_get_status(sb_group *g, sb_group_status *st)
{
    memset(st, 0, sizeof *st);
    st->elections_won = g->counts.elections_won;
    st->proposals = g->counts.proposals;
    st->proposals_failed = g->counts.proposals_failed;
    st->forwarded = g->counts.forwarded;
    st->changes = g->counts.changes;
    st->nmembers = g->nmembers;
    if (!g->running || g->closed) {
        st->role = "none";
        return;
    }
    struct raft *r = &g->raft;
    int voter = 0;
    for (unsigned j = 0; j < r->configuration.n; j++) {
        const struct raft_server *s = &r->configuration.servers[j];
        if (s->role != RAFT_VOTER) {
            if (st->nlearners < SB_GROUP_MAX_SHOWN &&
                sb_ep_parse(s->address, 0, &st->learners[st->nlearners]) == 0)
                st->nlearners++;
            continue;
        }
        voter |= s->id == g->id;
        if (st->nvoters < SB_GROUP_MAX_SHOWN &&
            sb_ep_parse(s->address, 0, &st->voters[st->nvoters]) == 0)
            st->nvoters++;
    }
    switch (raft_state(r)) {
    case RAFT_LEADER:
        st->role = "leader";
        break;
    case RAFT_CANDIDATE:
        st->role = "candidate";
        break;
    case RAFT_FOLLOWER:
        st->role = voter ? "follower" : "learner";
        break;
    default:
        st->role = "none";
    }
    raft_id lid;
    const char *laddr;
    raft_leader(r, &lid, &laddr);
    st->has_leader = lid != 0 && laddr && sb_ep_parse(laddr, 0, &st->leader) == 0;
    st->term = r->current_term;
    st->commit_index = r->commit_index;
    st->applied_index = raft_last_applied(r);
    st->last_index = raft_last_index(r);
}
