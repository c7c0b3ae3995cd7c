/*
 * Lightweight transactions: internals shared by paxos.c (the proposer,
 * on the coordinator) and paxos_replica.c (the acceptor, on each
 * replica of the partition). The design and its invariants are in
 * docs/lwt.md; in short:
 *
 *   - One Paxos instance sequence per partition (table id + the
 *     partition's header key), run among the partition's replicas on the
 *     token ring. A replica keeps, durably, per partition:
 *       promised   the highest ballot it promised (prepare or propose),
 *       accepted   the ballot and mutation it last accepted,
 *       committed  the ballot and mutation of the most recent commit.
 *   - Ballots are (microseconds, node bits): ordered by time, then by the
 *     node bits; a proposer's ballots strictly increase.
 *   - A replica answers only once its new state is durable, so a crash
 *     never takes back a promise or an acceptance it gave.
 *
 * Wire forms (bodies after the rpc header, util/wire.h encodings):
 *   ballot      i64 micros, u64 node bits
 *   PREPARE     16-byte table id, bytes key, ballot
 *     response  i32 status; if 0: u8 promised, ballot (the replica's
 *               promise after this request), ballot + bytes mutation of
 *               the accepted proposal, ballot + bytes mutation of the most
 *               recent commit (zero ballot, empty bytes: none)
 *   PROPOSE     table id, bytes key, ballot, bytes mutation
 *     response  i32 status; if 0: u8 accepted, ballot (promise)
 *   COMMIT      table id, bytes key, ballot, bytes mutation
 *     response  i32 status (0 once the mutation and the commit are durable)
 */
#ifndef SB_COORD_PAXOS_INT_H
#define SB_COORD_PAXOS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "coord/coord.h"
#include "util/buf.h"
#include "util/wire.h"

typedef struct sb_ballot {
    int64_t us;    /* microseconds since the epoch: the proposal's write time */
    uint64_t node; /* the proposer's bits: ties between proposers */
} sb_ballot;

/* <0, 0, >0 as a orders before, equals, after b. The zero ballot is
 * before every ballot a proposer makes. */
int paxos_ballot_cmp(const sb_ballot *a, const sb_ballot *b);
int paxos_ballot_is_zero(const sb_ballot *b);
/* The next ballot of a proposer: after *last, after floor (a higher
 * promise seen in a refusal, or the zero ballot), at now_us if that is
 * later; updates *last. */
sb_ballot paxos_ballot_next(sb_ballot *last, const sb_ballot *floor, int64_t now_us, uint64_t node);
int paxos_put_ballot(sb_buf *b, const sb_ballot *x);
void paxos_get_ballot(sb_wire_reader *r, sb_ballot *x);

/* A replica's state of one partition. The mutations are owned. */
typedef struct paxos_state {
    sb_ballot promised;
    sb_ballot accepted;
    sb_buf accepted_mut;
    sb_ballot committed;
    sb_buf committed_mut;
} paxos_state;

void paxos_state_init(paxos_state *s);
void paxos_state_free(paxos_state *s);
/* Durable form: the three ballots and two mutations. 0, SB_ENOMEM /
 * SB_EBADINPUT. decode replaces s's content. */
int paxos_state_encode(const paxos_state *s, sb_buf *out);
int paxos_state_decode(paxos_state *s, const uint8_t *p, size_t n);

/* The acceptor's rules, as pure functions of the state (the I/O around
 * them is in paxos_replica.c). Each returns whether the state changed
 * (so must be persisted before answering).
 *   prepare: b > promised -> promise b (*ok = 1); else refuse (*ok = 0).
 *   propose: b >= promised -> accept (b, mut), promise b; else refuse.
 *   commit:  b > committed -> committed = (b, mut); an accepted proposal
 *            at or before b is done and cleared. A late commit of an
 *            older ballot changes nothing (its data is still applied:
 *            cells merge by timestamp). */
int paxos_on_prepare(paxos_state *s, const sb_ballot *b, int *ok);
int paxos_on_propose(paxos_state *s, const sb_ballot *b, const uint8_t *mut, size_t len, int *ok,
                     int *err);
int paxos_on_commit(paxos_state *s, const sb_ballot *b, const uint8_t *mut, size_t len, int *err);

/* Request bodies. */
int paxos_put_request(sb_buf *out, const uint8_t table_id[16], const uint8_t *key, size_t klen,
                      const sb_ballot *b, const uint8_t *mut, size_t mlen, int with_mut);

/* paxos_replica.c: the replica side of PREPARE, PROPOSE and COMMIT. */
typedef struct paxos_acceptor paxos_acceptor;
paxos_acceptor *paxos_acceptor_new(sb_coord *c);
/* In-flight writes are orphaned: their callbacks free them and answer
 * nothing. */
void paxos_acceptor_free(paxos_acceptor *a);
void paxos_acceptor_receive(paxos_acceptor *a, int type, const sb_ep *from, uint64_t id,
                            const uint8_t *body, size_t len);

/* The same for the coordinator's own replica: done gets the response
 * (status, then the response body as the wire form says: body starts
 * with the i32 status) from inside this call or later; status non-zero
 * with no body when no answer could be built. Not called once the
 * acceptor is freed. */
typedef void (*paxos_local_done)(void *arg, int status, const uint8_t *body, size_t len);
void paxos_acceptor_local(paxos_acceptor *a, int type, const uint8_t *body, size_t len,
                          paxos_local_done done, void *arg);

/* paxos.c: proposer requests still running when the coordinator is
 * freed are orphaned (callbacks answered with SB_ECLOSED). */
void coord_paxos_detach(sb_coord *c);

/* Durable key of a partition's state: "paxos/" table id, u32 key length,
 * key. */
#define PAXOS_KV_PREFIX "paxos/"
int paxos_kv_key(sb_buf *out, const uint8_t table_id[16], const uint8_t *key, size_t klen);

#endif
