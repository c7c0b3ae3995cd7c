/*
 * Range streaming: copies every raw entry (rows, partition headers, range
 * tombstones, with their cells' timestamps, TTLs and tombstones) of some
 * token ranges of some tables from a source node to this node. Bootstrap,
 * decommission, removenode and repair move data with it.
 *
 * NOTES ON THE DESIGN
 *
 *   Pull, not push. The receiving node drives a session: it asks the
 *   source for the next chunk of a (table, sub-range) after a cursor key
 *   (an SB_MSG_STREAM_PULL request over cluster/rpc.h) and the source
 *   answers with at most chunk_bytes / chunk_rows entries in key order.
 *   The source keeps no session state, so a source that restarts serves
 *   the next pull as if nothing happened, and flow control is simply the
 *   number of pulls in flight (window). Each range is split into `split`
 *   sub-ranges so that one range alone can fill the window.
 *
 *   Chunks are checksummed (crc32c over the whole chunk) and decoded
 *   strictly: a chunk that is truncated, has trailing bytes, keys out of
 *   order or outside the sub-range asked for, or a bad checksum is
 *   refused and pulled again (counted as a retry).
 *
 *   Applying. Entries are merged into their keys (sb_io_store.apply), so
 *   last-write-wins holds whatever the destination already has, and a
 *   chunk applied twice changes nothing.
 *
 *   Resume. After a chunk is durable the destination records the cursor
 *   of its sub-range in the metadata kv space under
 *   "stream/<table hex>/<start>/<end>" (value: u8 done, cursor key). A
 *   later session for the same table and sub-range (any source) starts
 *   after it. A crash between apply and the record re-applies one chunk,
 *   which is harmless. When every sub-range of a session is done, its
 *   records are deleted, so a later stream of the same ranges (repair)
 *   copies them again.
 *
 *   Failure. A pull unanswered within timeout_ms (or answered with a bad
 *   chunk) is retried up to `retries` times; then the session fails with
 *   SB_ETIMEOUT and an errmsg naming the source. Completed sub-ranges
 *   stay recorded, so starting the session again resumes it.
 *
 *   Throttle. With throughput_mb_per_sec > 0 a session issues no pull
 *   while the bytes it received exceed that rate times its age.
 *
 * Session states: RUNNING -> DONE | FAILED. The done callback runs once,
 * on the loop, never from inside sb_stream_start.
 *
 * Threading: single-threaded on the io's loop (cluster/io.h rules).
 */
#ifndef SB_STREAM_H
#define SB_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/io.h"
#include "cluster/rpc.h"
#include "storage/store.h"
#include "util/buf.h"

/* A token range (start, end]; start < end (split wrapping ranges first,
 * see sb_stream_start). */
typedef struct sb_stream_range {
    int64_t start, end;
} sb_stream_range;

/* --- chunk codec (chunk.c) ------------------------------------------------
 * Request body:  u8 version | table id[16] | i64 start | i64 end |
 *                bytes cursor (u32 len; empty: from the start) |
 *                u32 max_bytes | u32 max_rows
 * Response body: u32 magic "SBSC" | u8 version | u8 status | u8 flags
 *                (1 = last chunk of the sub-range) | table id[16] |
 *                u32 nrows | nrows x (bytes key, bytes value) | u32 crc32c
 *                of everything before it. */
#define SB_STREAM_VERSION 1
#define SB_STREAM_MAX_KEY 65536
#define SB_STREAM_MAX_VALUE (16u << 20)

enum { SB_STREAM_OK = 0, SB_STREAM_NO_TABLE = 1, SB_STREAM_READ_ERROR = 2 };

typedef struct sb_stream_req {
    uint8_t table_id[16];
    sb_stream_range range;
    const uint8_t *cursor; /* borrowed from the decoded payload */
    size_t cursor_len;
    uint32_t max_bytes, max_rows;
} sb_stream_req;

int sb_stream_req_encode(sb_buf *out, const sb_stream_req *q);
/* Strict: SB_EBADINPUT on any malformed field or trailing bytes. */
int sb_stream_req_decode(const uint8_t *p, size_t n, sb_stream_req *q);

/* Building a chunk: begin, add each entry, end (appends the checksum). */
int sb_stream_chunk_begin(sb_buf *out, const uint8_t table_id[16], int status);
int sb_stream_chunk_add(sb_buf *out, const sb_raw *e);
int sb_stream_chunk_end(sb_buf *out, size_t begin_off, uint32_t nrows, int last);

/* A decoded chunk; rows point into the decoded bytes. */
typedef struct sb_stream_chunk {
    uint8_t table_id[16];
    int status, last;
    uint32_t nrows;
    sb_raw *rows; /* owned; sb_stream_chunk_free */
    size_t bytes; /* key and value bytes */
} sb_stream_chunk;

/* Decodes and checks a chunk: checksum, no trailing bytes, keys strictly
 * ascending, each key at least 8 bytes with its token in range (NULL:
 * unchecked), after the cursor (NULL: unchecked), bounded lengths.
 * 0, SB_EBADINPUT, SB_ECORRUPT (checksum) or SB_ENOMEM. */
int sb_stream_chunk_decode(const uint8_t *p, size_t n, const sb_stream_range *range,
                           const uint8_t *cursor, size_t cursor_len, sb_stream_chunk *out);
void sb_stream_chunk_free(sb_stream_chunk *c);

/* --- sessions (stream.c) ---------------------------------------------------- */

typedef struct sb_stream sb_stream;

typedef struct sb_stream_opts {
    uint32_t chunk_bytes;           /* per pull, default 256 KiB */
    uint32_t chunk_rows;            /* per pull, default 4096 */
    uint32_t window;                /* pulls in flight per session, default 4 */
    uint32_t split;                 /* sub-ranges per range, default 4 */
    uint32_t timeout_ms;            /* per pull, default 5000 */
    uint32_t retries;               /* per pull before failing, default 5 */
    uint32_t throughput_mb_per_sec; /* 0 = unthrottled */
    uint32_t progress_ms;           /* progress log interval, default 5000 */
    /* Tables to stream when a session names none: fills ids (at most max)
     * and returns the count. NULL: a session must name its tables. */
    size_t (*list_tables)(void *arg, uint8_t (*ids)[16], size_t max);
    void *list_arg;
} sb_stream_opts;

void sb_stream_opts_default(sb_stream_opts *o);

/* io, rpc and self are borrowed and must outlive the stream. NULL if out
 * of memory. */
sb_stream *sb_stream_new(const sb_io *io, sb_rpc *rpc, const sb_ep *self, const sb_stream_opts *o);
/* Cancels pending pulls and timers and frees every session (their done
 * callbacks do not run). Call with no store apply pending (after the
 * loop stopped, or in the simulator, where a crash drops them). */
void sb_stream_free(sb_stream *s);
void sb_stream_set_throughput(sb_stream *s, uint32_t mb_per_sec);

/* Serves an SB_MSG_STREAM_PULL request (the source side). */
void sb_stream_receive(sb_stream *s, int type, const uint8_t *payload, size_t len);

typedef void (*sb_stream_done_cb)(void *arg, uint64_t session_id, int status, const char *errmsg);

/* Starts pulling ranges (copied; a wrapping range, start >= end, is split
 * into (start, max] and (min, end]) of tables (copied; NULL/0: every
 * table list_tables names) from src. *session_id (may be NULL) gets the
 * session's id. cb (may be NULL) runs once when the session ends: status
 * 0, or SB_ETIMEOUT / SB_ENOTFOUND / SB_EBADINPUT / an apply error with
 * errmsg. Returns 0, SB_EINVAL (no ranges or tables) or SB_ENOMEM with
 * errmsg; cb never runs then. */
int sb_stream_start(sb_stream *s, const sb_ep *src, const sb_stream_range *ranges, size_t nranges,
                    const uint8_t (*tables)[16], size_t ntables, sb_stream_done_cb cb, void *arg,
                    uint64_t *session_id, char *errmsg);

enum { SB_STREAM_RUNNING = 0, SB_STREAM_DONE = 1, SB_STREAM_FAILED = 2 };
const char *sb_stream_state_name(int state);

/* One session as seen by GET /api/v1/streams. Pointers stay valid until
 * the stream is freed. */
typedef struct sb_stream_info {
    uint64_t id;
    sb_ep peer;
    int state;
    const sb_stream_range *ranges; /* as given (wrapping ranges split) */
    size_t nranges, ntables;
    size_t parts, parts_done; /* (table, sub-range) pairs */
    uint64_t bytes, rows, resumed_parts, retries;
    uint64_t started_ms, elapsed_ms;
    const char *errmsg; /* "" unless FAILED */
} sb_stream_info;

/* Sessions, oldest first; the last 64 finished ones are kept. */
size_t sb_stream_nsessions(const sb_stream *s);
int sb_stream_session(const sb_stream *s, size_t i, sb_stream_info *out);

typedef struct sb_stream_stats {
    uint64_t bytes_sent, rows_sent, chunks_sent;
    uint64_t bytes_received, rows_received, chunks_received;
    uint64_t sessions_active, sessions_completed, sessions_failed;
    uint64_t retries, bad_chunks;
} sb_stream_stats;
void sb_stream_get_stats(const sb_stream *s, sb_stream_stats *st);

#endif
