/*
 * Gossip internals: what the files of cluster/gossip share. Users include
 * gossip.h only; this header is for gossip*.c.
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
 * Files, one per seam:
 *   gossip.c          options, lifecycle (new, start, stop, free), joining
 *                     the ring, and the round timer that drives the rest
 *   gossip_msg.c      the protocol: field and message encoding, two-pass
 *                     decoding, SYN / ACK / ACK2 / SHUTDOWN, the round's SYN
 *   gossip_state.c    endpoint states: local changes stamped with versions,
 *                     remote states merged (first sighting, restart, update)
 *   gossip_members.c  the member table, listeners and up/down, the failure
 *                     detector's verdicts, removal, the ring snapshots
 *   gossip_store.c    what survives a restart in the kv space: generation,
 *                     tokens, saved peers
 * Messages enter at gossip_msg.c and change the table only through
 * gossip_apply_state (gossip_state.c); every event leaves through
 * gossip_emit (gossip_members.c).
 *
 * Invariants (of a sb_gossip between calls):
 *   1. nodes[0 .. nnodes) is sorted by ep without duplicates, nnodes <=
 *      GOSSIP_MAX_MEMBERS, and self is one of them (is_self, always up).
 *   2. For every node and field k, ver[k] <= heartbeat: gossip_touch_self
 *      stamps local fields with the new heartbeat, and a received state
 *      whose field version exceeds its heartbeat is refused.
 *   3. Only we change our own state: states about self.ep are never merged.
 *   4. gossip_known(n) (generation > 0) unless n is a placeholder loaded
 *      from sys/peers/; placeholders are down and never gossiped.
 *   5. A message is validated completely before any of it is applied, so a
 *      malformed one changes nothing but the rejection count (and its log
 *      throttle).
 *   6. ring is never NULL after sb_gossip_new. It is rebuilt from the
 *      members for which gossip_in_ring holds whenever such a member comes,
 *      goes, or changes its status, tokens, dc, rack or host id (a rebuild
 *      that runs out of memory keeps the previous ring), before the STATUS
 *      / NEW / REMOVED event that announces the change. ring_refs counts
 *      the references to ring; retired holds older rings, each with
 *      refs > 0.
 *   7. A node whose status is SHUTDOWN is down until a new generation.
 *   8. body, out, fbuf and digs are scratch for one call; digs survives
 *      gossip_apply_state (on_ack answers the requests after merging).
 */
#ifndef SB_CLUSTER_GOSSIP_INT_H
#define SB_CLUSTER_GOSSIP_INT_H

#include <stdint.h>

#include "cluster/gossip.h"
#include "util/buf.h"
#include "util/wire.h"

#define GOSSIP_MAX_MEMBERS 1024
#define GOSSIP_MAX_SEEDS 64
#define GOSSIP_MAX_LISTENERS 8
#define GOSSIP_MSG_MAX (64 * 1024)    /* outgoing: no more states past this */
#define GOSSIP_PAYLOAD_MAX (1u << 20) /* incoming: larger is refused */
#define GOSSIP_FIELD_MAX 4096
#define GOSSIP_LEFT_ROUNDS 30 /* a LEFT node down this long is removed */
#define GOSSIP_MAX_REMOVED 64 /* quarantine of removed (ep, generation) */

/* Application states ("fields"), by their key on the wire. */
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

typedef struct gnode {
    sb_member m;
    int awaited;           /* saved peer to hear from before settling (gossip.c) */
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
    uint64_t seed_contact_ms; /* 0: no seed heard yet */
    sb_io_timer *greet_timer; /* while not settled */
    int settled;              /* latched (sb_gossip_settled) */
    int settle_timed_out;
    char settle_missed[256];   /* peers not heard when it timed out */
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

static inline uint64_t gossip_now_ms(const sb_gossip *g)
{
    return g->io->mono_ms(g->io->ctx);
}

static inline int gossip_is_seed(const sb_gossip *g, const sb_ep *ep)
{
    for (int i = 0; i < g->o.nseeds; i++)
        if (sb_ep_eq(&g->seeds[i], ep))
            return 1;
    return 0;
}

static inline int gossip_in_ring(const sb_member *m)
{
    return m->ntokens > 0 && (m->status == SB_STATUS_NORMAL || m->status == SB_STATUS_LEAVING ||
                              m->status == SB_STATUS_SHUTDOWN);
}

/* Whether n's state came from gossip (or is ours), as opposed to a
 * placeholder loaded from sys/peers/ at start (generation 0). */
static inline int gossip_known(const gnode *n)
{
    return n->m.generation > 0;
}

/* --- gossip_msg.c ---------------------------------------------------------- */

/* Counts a refused message and logs why (rate-limited); type 0 when the
 * refusal is not about one message type, from NULL when unknown. */
void gossip_reject(sb_gossip *g, int type, const sb_ep *from, const char *why);
/* Appends n's state with the fields newer than since (0: all of them). */
int gossip_put_state(sb_gossip *g, sb_buf *b, const gnode *n, uint32_t since);
/* Sends g->body, framed with our endpoint, as a message of type. */
void gossip_send_body(sb_gossip *g, const sb_ep *to, int type);
/* A token list, as gossip writes it everywhere: u16 n, n x i64. */
int gossip_put_tokens(sb_buf *b, const int64_t *t, int n);
/* Reads n tokens into t (room for SB_MAX_TOKENS) and sets *nt = n; NULL,
 * or why they are malformed (*nt untouched). Truncation is left in
 * r->err for the caller to report. */
const char *gossip_get_tokens(sb_wire_reader *r, unsigned n, int64_t *t, int *nt);
/* One round: heartbeat, then SYN to a live peer, maybe an unreachable one
 * and maybe a seed. */
void gossip_round(sb_gossip *g);
/* SYN to every awaited peer not yet up and, until one answers, to every
 * seed (settling, gossip.c). */
void gossip_greet(sb_gossip *g);

/* --- gossip_state.c -------------------------------------------------------- */

/* Bumps the local heartbeat and stamps field k with it; the caller has
 * written the new value into self->m. */
void gossip_touch_self(sb_gossip *g, int k);
/* Merges one validated remote state (ignored if it is about us). */
void gossip_apply_state(sb_gossip *g, const gstate *s);

/* --- gossip_members.c ------------------------------------------------------ */

gnode *gossip_find_node(const sb_gossip *g, const sb_ep *ep);
/* Inserts a zeroed node for ep in order; NULL if it exists, the table is
 * full or out of memory. */
gnode *gossip_add_node(sb_gossip *g, const sb_ep *ep);
/* Calls every listener, in registration order. */
void gossip_emit(sb_gossip *g, int ev, const gnode *n);
/* Whether n announces a schema version, and not ours. */
int gossip_schema_differs(const sb_gossip *g, const gnode *n);
/* Marks n up or down (no-op if unchanged) and emits UP (and SCHEMA if its
 * schema differs) or DOWN. */
void gossip_set_up(sb_gossip *g, gnode *n, int up);
/* n was heard alive (its heartbeat rose, or it spoke to us): feeds the
 * failure detector and marks it up. */
void gossip_alive(sb_gossip *g, gnode *n);
/* Marks down the peers whose phi exceeds the threshold. */
void gossip_check_fd(sb_gossip *g);
/* Removes LEFT nodes down for GOSSIP_LEFT_ROUNDS rounds (REMOVED). */
void gossip_expire_left(sb_gossip *g);
/* 0, or SB_ENOMEM with the previous ring kept. */
int gossip_rebuild_ring(sb_gossip *g);
/* n's ring-relevant state changed: rebuild, save, emit STATUS. */
void gossip_ring_changed(sb_gossip *g, gnode *n);

/* --- gossip_store.c -------------------------------------------------------- */

/* Saves n's record under sys/peers/ if it changed (peers only). */
void gossip_save_peer(sb_gossip *g, gnode *n);
/* Deletes the record of host_id unless a member other than except has it. */
void gossip_forget_peer(sb_gossip *g, const uint8_t host_id[16], const gnode *except);
/* Saves the local tokens (sys/tokens); 0 or an SB_E* code. */
int gossip_save_tokens(sb_gossip *g, const int64_t *t, int n);
/* The local node from what was saved (generation, tokens), then the saved
 * peers as placeholders; 0, or an SB_E* code with errmsg set. */
int gossip_init_self(sb_gossip *g, char *errmsg);

#endif
