/*
 * Node-to-node transport on the --listen address: TCP on the node's libuv
 * loop.
 *
 * Frames: [u8 magic 0x5B][u8 version 2][u8 type][u8 flags 0]
 *         [u32 payload length][u32 CRC32C of the payload]
 *         [i64 sender's hybrid clock, us][i64 sender's wall clock, us] payload
 * (big-endian). The clocks (0 when the sender has none) feed the
 * receiver's hybrid clock (util/hlc.h) and its estimate of each peer's
 * clock offset: the largest of the last samples of (peer's wall clock at
 * send - ours at receipt), which is the true offset less the shortest
 * recent transit time, a lower bound that loopback and LAN keep within a
 * millisecond. A frame with a wrong magic, an unknown version, a length
 * over max_frame_bytes or a bad checksum closes the connection (logged
 * with the peer and the reason, counted); nothing else is affected.
 *
 * Connections: one outgoing connection per peer, opened on first send,
 * used only for sending; incoming connections only receive. A failed or
 * lost connection is retried with exponential backoff (100 ms doubling
 * to 5 s); while it is down, messages wait in the peer's queue. Each peer
 * queue is bounded (max_queue_msgs and max_queue_bytes): a message that
 * does not fit is dropped and counted, never queued without bound.
 *
 * Fault injection: sb_transport_block drops every message to and from a
 * peer (counted as dropped), as a network partition would, until
 * unblocked. Outgoing messages are refused at send (and those already
 * queued are dropped); incoming frames are dropped when their payload
 * starts with the blocked peer's endpoint (io.h: every cluster payload
 * does), since incoming connections come from ephemeral ports.
 */
#ifndef SB_NET_TRANSPORT_H
#define SB_NET_TRANSPORT_H

#include <stdint.h>
#include <uv.h>

#include "util/ep.h"
#include "util/hlc.h"

#define SB_TRANSPORT_MAGIC 0x5B
#define SB_TRANSPORT_VERSION 2
#define SB_TRANSPORT_HEADER 28
#define SB_TRANSPORT_OFFSET_SAMPLES 16

typedef struct sb_transport sb_transport;

/* A frame arrived: type and payload (valid during the call). */
typedef void (*sb_transport_recv_fn)(void *arg, int type, const uint8_t *payload, size_t len);

typedef struct sb_transport_opts {
    sb_ep listen;
    uint32_t max_frame_bytes; /* default 64 MiB */
    uint32_t max_queue_msgs;  /* per peer, default 65536 */
    uint64_t max_queue_bytes; /* per peer, default 64 MiB */
    uint32_t max_peers;       /* default 1024 */
    sb_transport_recv_fn recv;
    void *recv_arg;
    sb_hlc *hlc; /* stamps frames and observes peers' clocks; NULL: none */
} sb_transport_opts;

void sb_transport_opts_default(sb_transport_opts *o);

/* Binds and listens. errmsg on failure (address in use, ...): SB_EIO, or
 * SB_EINVAL for a bad option; nothing is left to release then. Zero
 * fields of *o take their defaults. */
int sb_transport_start(sb_transport **out, uv_loop_t *loop, const sb_transport_opts *o,
                       char *errmsg);
/* Closes every connection and the listener; drops queued messages. Run
 * the loop afterwards so the handles are released, then free. */
void sb_transport_stop(sb_transport *t);
void sb_transport_free(sb_transport *t);

/* Queues a frame (copies payload). 0, SB_EOVERLOADED (queue full, or
 * max_peers distinct peers already known), SB_ECLOSED (transport stopped,
 * or peer blocked by fault injection), SB_ETOOBIG (len over
 * max_frame_bytes) or SB_EINVAL (type outside 0..255). Every refusal for
 * a known peer counts as dropped. Queued bytes count whole frames
 * (header included). */
int sb_transport_send(sb_transport *t, const sb_ep *to, int type, const uint8_t *payload,
                      size_t len);

/* Fault injection: drop traffic to and from `peer` while blocked. */
void sb_transport_block(sb_transport *t, const sb_ep *peer, int blocked);
int sb_transport_blocked(const sb_transport *t, const sb_ep *peer);

/* CRC32C (Castagnoli), as in the frame header. */
uint32_t sb_crc32c(uint32_t crc, const void *p, size_t n);
/* Parses a header: 0, or SB_EBADINPUT with the reason in errmsg. */
int sb_transport_parse_header(const uint8_t h[SB_TRANSPORT_HEADER], uint32_t max_frame, int *type,
                              uint32_t *len, uint32_t *crc, char *errmsg);
/* Writes the header of a frame carrying payload (len bytes) into h. */
void sb_transport_put_header(uint8_t h[SB_TRANSPORT_HEADER], int type, const uint8_t *payload,
                             uint32_t len, int64_t hlc_us, int64_t wall_us);
/* The sender's clocks of a header that parsed. */
void sb_transport_header_clocks(const uint8_t h[SB_TRANSPORT_HEADER], int64_t *hlc_us,
                                int64_t *wall_us);

typedef struct sb_transport_peer_stats {
    sb_ep peer;
    uint64_t sent, received, dropped;
    uint64_t queued_msgs, queued_bytes;
    int connected;
    int blocked;
    int has_offset;    /* clock samples received from this peer */
    int64_t offset_us; /* its wall clock minus ours (see Frames above) */
} sb_transport_peer_stats;

/* Per-peer counters (peers seen in either direction), at most max;
 * returns how many were written. Incoming frames are attributed to the
 * endpoint their payload starts with (io.h), when it starts with one. */
int sb_transport_stats(const sb_transport *t, sb_transport_peer_stats *out, int max);
uint64_t sb_transport_bad_frames(const sb_transport *t);

#endif
