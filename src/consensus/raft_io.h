/*
 * libraft's I/O (struct raft_io) over Sibyl's cluster seam (cluster/io.h).
 *
 * libraft (Debian libraft-dev) implements the Raft algorithm and leaves
 * every effect to a raft_io: the network, the clock, randomness and the
 * durable log. This file gives it Sibyl's sb_io, so a Raft group runs on
 * the node-to-node transport, libuv timers and the node's store in
 * production, and on the virtual network, clock and memstore of the
 * deterministic simulator (dsim/) in tests, exactly like gossip and the
 * coordinator.
 *
 * NOTES ON THE DESIGN
 *
 *   Messages. Every Raft RPC is one SB_MSG_RAFT message:
 *   [sender ep][u64 sender raft id][u8 type][fields] (raft_wire.c). A
 *   server's raft address is its cluster endpoint as text
 *   ("127.0.0.2:7000"), its raft id sb_raft_id_of(endpoint).
 *
 *   The log on disk. The kv space of the store (io.h) holds, under
 *   "raft/": "raft/m" = [u64 term][u64 voted_for]; "raft/l/" + be64
 *   index = [u64 term][u8 type][bytes data], one key per entry; "raft/s" =
 *   the last snapshot ([u64 index][u64 term][configuration][u64
 *   configuration index][bytes data]). Entries are written with one kv_put
 *   each and removed with kv_del; load takes the contiguous run of entries
 *   from the first one found.
 *
 *   Durability before disclosure. set_term and set_vote return at once
 *   (libraft's contract is a synchronous write), but their kv_put is only
 *   acknowledged later. So a message that libraft sends is held back until
 *   every kv write issued before it is acknowledged: no peer ever learns
 *   a vote, a term or an appended entry that a crash could still take
 *   back. Acknowledgements are counted (the store acknowledges in call
 *   order; the simulator's memstore keeps a put durable from the moment
 *   it is made, so a count is enough there too). An append completes
 *   when the acknowledgements have reached the count of its last put.
 *
 *   Callbacks. As sb_io asks, nothing completes synchronously: send
 *   callbacks run from a zero-delay timer, append callbacks from the
 *   acknowledgements, snapshot callbacks from the same timer.
 *
 * Invariants
 *   - puts_acked <= puts_issued; a held message is released exactly when
 *     puts_acked reaches the count recorded when it was sent;
 *   - every raft_io_send / _append / _snapshot_put / _snapshot_get request
 *     gets its callback exactly once (RAFT_CANCELED when closed first);
 *   - after close, no libraft callback runs; acknowledgements still
 *     arriving only update the counters (the io lives until
 *     sb_raft_io_free, which the owner calls after the store drained).
 */
#ifndef SB_CONSENSUS_RAFT_IO_H
#define SB_CONSENSUS_RAFT_IO_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/io.h"
#include "util/wire.h"

/* A server's raft id: IPv4 endpoints read as (ip << 16 | port) so that ids
 * are legible; IPv6 ones as a hash. Never 0. */
raft_id sb_raft_id_of(const sb_ep *ep);

/* Fills rio (version 1) over io; self is this node's cluster endpoint.
 * io is copied. 0 or SB_ENOMEM. */
int sb_raft_io_init(struct raft_io *rio, const sb_io *io, const sb_ep *self);
/* Frees what init allocated. Only after raft_close's callback ran (or if
 * raft_init was never called). */
void sb_raft_io_free(struct raft_io *rio);
/* An SB_MSG_RAFT payload arrived. Malformed payloads are dropped and
 * counted. */
void sb_raft_io_receive(struct raft_io *rio, const uint8_t *payload, size_t len);
/* True when every kv write issued so far is acknowledged (durable and
 * visible to kv_scan). */
int sb_raft_io_settled(const struct raft_io *rio);
/* True when the store holds no Raft state (never bootstrapped or joined). */
int sb_raft_io_empty(const sb_io *io);

typedef struct sb_raft_io_stats {
    uint64_t sent, received, malformed, held, send_errors;
    uint64_t entries_written, entries_deleted, write_errors;
} sb_raft_io_stats;
void sb_raft_io_get_stats(const struct raft_io *rio, sb_raft_io_stats *st);

/* --- raft_wire.c: the SB_MSG_RAFT payload ---------------------------------- */

/* Encodes m (from sender self, id self_id) into out (reset first). */
int sb_raft_wire_encode(sb_buf *out, const sb_ep *self, raft_id self_id,
                        const struct raft_message *m);
/* Decodes a payload into m. Entry data, snapshot data and configuration
 * are allocated with raft_malloc as libraft's recv expects to own them
 * (one batch for all entries); addr receives the sender's address text
 * (SB_EP_STRLEN) and m->server_address points to it. 0 or SB_EBADINPUT /
 * SB_ENOMEM (nothing left allocated). */
int sb_raft_wire_decode(const uint8_t *p, size_t n, struct raft_message *m, sb_ep *from,
                        char *addr);
/* Releases what decode allocated, for a message libraft did not take. */
void sb_raft_wire_release(struct raft_message *m);
/* A configuration as [u32 n]([u64 id][str address][u8 role])*. */
int sb_raft_conf_encode(sb_buf *out, const struct raft_configuration *c);
int sb_raft_conf_decode(sb_wire_reader *r, struct raft_configuration *c);

#endif
