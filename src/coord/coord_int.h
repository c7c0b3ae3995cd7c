/*
 * Coordination internals shared by coord.c (requests, replicas, writes,
 * truncate), coord_read.c (reads, reconciliation, read repair) and
 * replica.c (the replica side and the wire forms of READ / TRUNCATE and
 * of every response).
 */
#ifndef SB_COORD_COORD_INT_H
#define SB_COORD_COORD_INT_H

#include "coord/coord.h"
#include "coord/paxos_int.h"
#include "util/arena.h"
#include "util/buf.h"

/* --- wire forms (replica.c) -------------------------------------------------
 * READ body:      u8 flags (COORD_READ_DIGEST), raw query (sb_rawq_encode)
 * READ response:  i32 status; if 0: u8 kind (0 data, 1 digest), u8 more,
 *                 then data: u32 n, n x (bytes key, bytes value) in the
 *                 order the replica emitted them; digest: u64 digest
 * MUTATION body:  sb_mutation_encode; response: i32 status
 * TRUNCATE body:  16-byte table id; response: i32 status */
#define COORD_READ_DIGEST 1
#define COORD_RESP_DATA 0
#define COORD_RESP_DIGEST 1

typedef struct coord_read_resp {
    int status;
    int kind;
    int more;
    uint64_t digest;
    sb_raw *ents; /* malloc'd; pointing into the body */
    size_t nents;
} coord_read_resp;

/* Runs a READ body against io->st; appends the response to out. */
void coord_serve_read(const sb_io *io, const uint8_t *body, size_t len, sb_buf *out);
/* Parses a READ response. 0 or SB_EBADINPUT / SB_ENOMEM. */
int coord_parse_read_resp(const uint8_t *p, size_t n, coord_read_resp *r);
/* FNV-1a 64 over entries (u32 klen, key, u32 vlen, value each) and more. */
uint64_t coord_digest(const sb_raw *e, size_t n, int more);
int coord_put_status(sb_buf *out, int status);
/* Seconds since start_us on c's clock (0 if the clock stepped back). */
double coord_elapsed_s(const sb_coord *c, int64_t start_us);
/* Orphans the replica-side applies in flight (sb_coord_free). */
void coord_replica_detach(sb_coord *c);

/* --- requests ----------------------------------------------------------- */

typedef struct creq creq;

/* The one operation a target has in flight, if any. */
enum {
    CT_IDLE,  /* nothing sent yet */
    CT_RPC,   /* rpc call pending (cancellable) */
    CT_TIMER, /* local read/truncate on a 0 ms timer (cancellable) */
    CT_APPLY, /* local io->st->apply in flight (not cancellable) */
    CT_HINT,  /* hint with a durability callback in flight (not cancellable) */
    CT_DONE,  /* answered */
    CT_FAILED /* no answer, an error, or cancelled */
};

typedef struct ctarget {
    creq *req;
    struct cphase *ph;
    sb_ep ep;
    const char *dc;
    int local; /* the coordinator itself: io->st, no network */
    int up;
    int state;
    uint64_t rpc_id;
    sb_io_timer *timer;
    /* writes and repairs: the entries this replica gets; whole: all of
     * the request's mutation, which is then sent as it is */
    sb_raw_mut *muts;
    size_t nmuts, capmuts;
    int whole;
    int acked, hint_durable;
    int refused; /* the replica refused the write: SB_EDISKFULL or SB_EIO */
    /* reads */
    int want_digest;
    sb_buf body; /* the response, copied */
    coord_read_resp resp;
} ctarget;

typedef struct cphase {
    struct cphase *next;
    int kind; /* PH_* */
    ctarget *t;
    int nt;
    int nresp; /* successful answers */
    sb_buf qbody;
} cphase;

enum { PH_WRITE, PH_DIGEST, PH_DATA, PH_REPAIR, PH_TRUNCATE };
enum { RQ_WRITE, RQ_READ, RQ_RANGE, RQ_TRUNCATE };

/* A replica of a token, with what coordination needs to know. */
typedef struct creplica {
    sb_ep ep;
    const char *dc;
    int local, up;
} creplica;

typedef struct cgroup {
    int repl;                /* index into creq.repls */
    int ntg;                 /* targets of this replica set */
    int tg[SB_MAX_REPLICAS]; /* indexes into the write phase's targets */
    int blockfor;
} cgroup;

typedef struct crepl {
    uint8_t table_id[16];
    sb_repl p;
} crepl;

struct creq {
    sb_coord *c; /* NULL once orphaned by sb_coord_free */
    creq *prev, *next;
    int kind;
    int cl;
    int64_t start_us; /* io->now_us at the API call (metrics) */
    const sb_ring *ring;
    struct sb_topo_pending *pend; /* writes: the pending ranges they started with (a reference) */
    uint64_t deadline_ms;
    int pending;                /* rpc calls, timers of targets, applies, hint callbacks */
    sb_io_timer *timer;         /* the request's timeout */
    sb_io_timer *deliver_timer; /* a result found while starting */
    int starting, finished, delivered;
    int counted; /* holds one of c->ninflight (admitted under max_inflight) */
    sb_coord_result res;
    sb_coord_write_cb wcb;
    sb_coord_read_cb rcb;
    void *arg;
    cphase *phases; /* newest first; freed with the request */
    cphase *cur;
    sb_arena arena; /* merged values of reads */
    crepl *repls;
    int nrepls;
    /* writes: the mutation (owned; storage/mutation.h) and views of its
     * entries (pointing into it) */
    sb_buf mut;
    sb_raw_mut *ents;
    size_t nents;
    cgroup *groups;
    int ngroups;
    /* reads */
    sb_rawq q;
    creplica reps[SB_MAX_REPLICAS + 1];
    int nreps;    /* live replicas chosen for the current partition/piece */
    int blockfor; /* of the current partition/piece */
    sb_raw *out;  /* the answer so far (range reads gather pieces) */
    size_t nout, capout;
    size_t nmain_out; /* entries outside the partition head */
    uint64_t out_bytes;
    int more, piece_more;
    sb_buf cursor;   /* range reads: where the current piece starts */
    sb_buf piece_hi; /* ... and ends (empty: the end of the table) */
    int data_present;
};

struct sb_coord {
    char write_refusal[512]; /* "" = coordinating writes (sb_coord_refuse_writes) */
    const sb_io *io;
    sb_rpc *rpc;
    sb_gossip *g;
    sb_hints *h;
    sb_coord_opts o;
    sb_coord_stats stats;
    sb_ep self;
    char local_dc[SB_DC_MAX];
    creq *reqs;
    struct sb_topo_pending *pending; /* owned; NULL: no topology change in flight */
    uint32_t ninflight;              /* requests admitted and not yet freed */
    sb_buf scratch;
    struct creplica_op *replica_ops; /* replica-side applies in flight */
    /* lightweight transactions (paxos.c, paxos_replica.c) */
    struct sb_coord_paxos *paxos;          /* rounds not yet answered */
    struct plocal *paxos_locals;           /* messages to the local acceptor */
    struct paxos_acceptor *paxos_acceptor; /* this replica's Paxos state */
    struct sb_ballot paxos_last;           /* the last ballot made here */
    uint64_t paxos_node;                   /* this node's ballot bits */
};

/* coord.c: request lifecycle and helpers used by coord_read.c */
creq *coord_req_new(sb_coord *c, int kind, int cl, uint32_t timeout_ms);
/* Records the outcome; delivers it now, or from a 0 ms timer while the
 * request is starting. Later calls are ignored. */
void coord_finish(creq *rq, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Frees the request if it has delivered and nothing is in flight; call
 * last in every entry point. */
void coord_settle(creq *rq);
/* Cancels every cancellable operation of every phase. */
void coord_cancel_all(creq *rq);
cphase *coord_phase_new(creq *rq, int kind, int nt);
int coord_lookup_repl(creq *rq, const uint8_t table_id[16], sb_repl **out);
/* Replicas of tok under p, sorted for reads: the local node, its dc, the
 * others, by endpoint. Returns the count. */
int coord_replicas(creq *rq, const sb_repl *p, int64_t tok, creplica *out, int sorted);
/* Chooses the live replicas a read asks (rq->reps, rq->nreps,
 * rq->blockfor) among reps; 0, or SB_EUNAVAILABLE after finishing. */
int coord_choose_read(creq *rq, const sb_repl *p, const creplica *reps, int n);
/* Sends MUTATIONs of each target's muts (local: io->st->apply). */
void coord_send_mutations(creq *rq, cphase *ph, uint32_t timeout_ms);
/* Sends READs ([digest flag][ph->qbody]) to the targets (local: a timer). */
void coord_send_reads(creq *rq, cphase *ph, uint32_t timeout_ms);
/* Finishes with SB_ENOTFOUND (or SB_ESERVER) for a table_repl failure. */
void coord_table_unknown(creq *rq, int rc, const uint8_t id[16]);
uint32_t coord_remaining_ms(creq *rq);
/* A send of rq failed with rc: SB_EOVERLOADED (the rpc's cap) finishes
 * rq with SB_EOVERLOADED; other codes are left to the caller. */
void coord_send_refused(creq *rq, int rc);

/* coord_read.c */
void coord_read_start(creq *rq);
void coord_range_start(creq *rq);
void coord_read_on_response(ctarget *t, int status, const uint8_t *body, size_t len);
void coord_read_on_repair_ack(ctarget *t, int status);
void coord_read_on_timeout(creq *rq);

#endif
