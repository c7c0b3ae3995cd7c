/*
 * The cluster's Raft group: one replicated log for the cluster's metadata
 * (schema, topology), run by libraft over raft_io.h on every node.
 *
 * NOTES ON THE DESIGN
 *
 *   Members and voters. Every node of the ring is in the group's
 *   configuration; up to max_voters (5) of them vote, the rest replicate
 *   the log as standbys (libraft's RAFT_STANDBY: Sibyl's "learners"). The
 *   leader reconciles the configuration with the membership that gossip
 *   reports (sb_group_set_members), one change at a time: a new node is
 *   added, then made a standby; while there are fewer voters than wanted
 *   (the members, at most max_voters, rounded down to an odd number) the
 *   up standby with the lowest raft id is promoted; a voter that is down
 *   while an up standby could take its place is demoted; a node that left
 *   the ring is removed. The choice depends only on the configuration,
 *   the membership and raft ids, so every leader makes the same one.
 *
 *   Bootstrap. A new cluster's group starts on exactly one node: the one
 *   told to (opts.bootstrap: the first seed, or a node without seeds) and
 *   only if its store holds no Raft state. Every other node starts empty
 *   and waits to be added by the leader.
 *
 *   Proposals. sb_group_propose on the leader appends the command; on a
 *   follower it is forwarded to the leader (SB_MSG_RAFT_PROPOSE, an rpc
 *   request) and answered when the leader has applied it and this node
 *   has applied it too, so that the proposer reads its own write. With no
 *   leader known the proposal fails at once with SB_EUNAVAILABLE; a leader
 *   that cannot reach a quorum steps down within an election timeout, and
 *   a proposal never waits longer than propose_timeout_ms.
 *
 *   The state machine. fsm.apply runs for every committed command, in log
 *   order, on every member; it must be deterministic and never fail the
 *   entry (libraft stops applying at a failed one): a command that is
 *   refused (a keyspace that exists) is applied as a no-op and its code
 *   and message go back to the proposer.
 *
 *   Events. opts.on_event hears what an operator wants on a timeline:
 *   this node won an election or lost its leadership (seen by the 50 ms
 *   poll that diffs libraft's state, so a term won and lost between two
 *   polls is not reported), and, on the leader that made it, each
 *   configuration change once it committed (a node added, made a
 *   learner, promoted, demoted, removed). Each change is reported once,
 *   by the node that made or saw it, on the loop thread.
 *
 * Invariants
 *   - a proposal's callback runs exactly once, never synchronously;
 *   - at most one configuration change is in flight;
 *   - the group never bootstraps over existing Raft state.
 */
#ifndef SB_CONSENSUS_GROUP_H
#define SB_CONSENSUS_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/io.h"
#include "cluster/rpc.h"

typedef struct sb_group sb_group;

typedef struct sb_group_fsm {
    /* Applies a committed command; returns 0 or an SB_E* code with errmsg
     * (SB_ERRMSG_SIZE), which only the proposer sees. */
    int (*apply)(void *arg, uint64_t index, const uint8_t *cmd, size_t len, char *errmsg);
    /* The whole state into out / replaced by a snapshot. */
    int (*snapshot)(void *arg, sb_buf *out);
    int (*restore)(void *arg, const uint8_t *p, size_t len);
    void *arg;
} sb_group_fsm;

typedef enum sb_group_event_kind {
    SB_GROUP_ELECTED = 1,  /* this node became the leader (term) */
    SB_GROUP_STEPPED_DOWN, /* this node is no longer the leader (term) */
    SB_GROUP_ADDED,        /* peer joined the configuration (not voting yet) */
    SB_GROUP_LEARNER,      /* peer became a learner (a standby) */
    SB_GROUP_PROMOTED,     /* peer became a voter */
    SB_GROUP_DEMOTED,      /* peer, a voter, became a learner */
    SB_GROUP_REMOVED,      /* peer left the configuration */
} sb_group_event_kind;

typedef struct sb_group_event {
    sb_group_event_kind kind;
    uint64_t term;
    sb_ep peer;  /* the server changed; self for ELECTED / STEPPED_DOWN */
    int nvoters; /* voters in the configuration after the change */
} sb_group_event;

/* "elected", "stepped_down", "added", "learner", "promoted", "demoted",
 * "removed"; "?" for anything else. A static string. */
const char *sb_group_event_name(sb_group_event_kind k);

/* Called on the loop thread; ev is valid for the call only. */
typedef void (*sb_group_event_fn)(void *arg, const sb_group_event *ev);

typedef struct sb_group_opts {
    sb_ep self;
    int bootstrap;               /* may start a new group (see above) */
    unsigned heartbeat_ms;       /* 100 */
    unsigned election_ms;        /* 1000 */
    unsigned max_voters;         /* 5 */
    unsigned snapshot_threshold; /* entries between snapshots, 1024 */
    unsigned snapshot_trailing;  /* entries kept behind one, 128 */
    uint32_t propose_timeout_ms; /* 5000 */
    sb_group_fsm fsm;
    sb_group_event_fn on_event; /* NULL: no events */
    void *event_arg;
} sb_group_opts;

void sb_group_opts_default(sb_group_opts *o);

/* Builds the group over io (copied) and rpc (for forwarded proposals).
 * NULL and errmsg on failure. */
sb_group *sb_group_new(const sb_io *io, sb_rpc *rpc, const sb_group_opts *o, char *errmsg);
/* Loads the log, bootstraps if allowed, starts libraft. 0 or SB_E*. */
int sb_group_start(sb_group *g, char *errmsg);
/* Closes libraft: proposals still open fail with SB_ECLOSED. */
void sb_group_stop(sb_group *g);
/* After stop and once the store has drained. */
void sb_group_free(sb_group *g);

/* SB_MSG_RAFT and SB_MSG_RAFT_PROPOSE payloads. */
void sb_group_receive(sb_group *g, int type, const uint8_t *payload, size_t len);

/* status 0 (applied; errmsg holds the state machine's message if the
 * command was refused, and status its code) or SB_EUNAVAILABLE (no leader,
 * no quorum), SB_ETIMEOUT, SB_ECLOSED, SB_ENOMEM. */
typedef void (*sb_group_done_fn)(void *arg, int status, const char *errmsg);
/* 0 (cb will run) or SB_ENOMEM / SB_ECLOSED (cb never runs). */
int sb_group_propose(sb_group *g, const uint8_t *cmd, size_t len, sb_group_done_fn cb, void *arg);

typedef struct sb_group_member {
    sb_ep ep;
    int up;
} sb_group_member;
/* The ring's members as gossip sees them (self included). */
void sb_group_set_members(sb_group *g, const sb_group_member *m, int n);

#define SB_GROUP_MAX_SHOWN 16
typedef struct sb_group_status {
    const char *role; /* "leader", "follower", "candidate", "learner", "none" */
    int has_leader;
    sb_ep leader;
    uint64_t term, commit_index, applied_index, last_index;
    int nvoters, nmembers;
    sb_ep voters[SB_GROUP_MAX_SHOWN];
    int nlearners; /* standbys and spares: members that do not vote */
    sb_ep learners[SB_GROUP_MAX_SHOWN];
    uint64_t elections_won, proposals, proposals_failed, forwarded, changes;
} sb_group_status;
void sb_group_get_status(sb_group *g, sb_group_status *st);
/* True when this node is the leader. */
int sb_group_is_leader(sb_group *g);

#endif
