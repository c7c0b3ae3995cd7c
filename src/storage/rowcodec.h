/*
 * Row fragments: the value format stored under every key of a table's
 * column family, and Cassandra's reconciliation of fragments.
 *
 * Internal to storage (store.c, commitlog.c, iter.c and the tests).
 *
 * A fragment is what one write (or the merge of many) says about one key:
 *   - a row marker ("liveness": INSERT writes one) with timestamp and TTL,
 *   - a deletion (row deletion for row keys, partition deletion for the
 *     partition header, the range deletion for range tombstone keys),
 *   - cells, ordered by (column id, element key).
 *
 * Encoding (compact: a row of five sensor readings written at one
 * timestamp costs about 3 bytes per field before block compression):
 *
 *   u8      flags: 1 = has liveness, 2 = liveness expires, 4 = has deletion,
 *           8 = values are tagged (below; always set by rc_encode, fragments
 *           written before it existed have plain "varint len, bytes")
 *   varint  zigzag(base_ts): the liveness timestamp, else the deletion's,
 *           else the first cell's, else 0
 *   [liveness expires] varint ttl_s, varint expire_s
 *   [has deletion]     varint zigzag(del_ts - base), varint ldt_s
 *   varint  ncells, then per cell:
 *     u8    kind (bits 0-1) | has elem (bit 2) | ts differs from base
 *           (bit 3) | column id delta from the previous cell (bits 4-7,
 *           15 = a varint with the delta follows)
 *     [15]       varint col delta
 *     [bit 3]    varint zigzag(ts - base)
 *     [EXPIRING] varint ttl_s, varint expire_s
 *     [TOMB/CDEL] varint ldt_s (local deletion time)
 *     [bit 2]    varint len, elem bytes
 *     [LIVE/EXPIRING] untagged: varint len, value bytes;
 *                     tagged: varint vtag = arg << 2 | form
 *   tagged: then the value payloads of those cells, in cell order, by form:
 *         0  raw: arg = len, value bytes
 *         1  big-endian two's complement integer of arg (1-8) bytes:
 *            varint zigzag(v); it must fit arg bytes
 *         2  an 8-byte IEEE double equal to m / 10^arg (arg 0-15, |m| <=
 *            2^53, the division correctly rounded): varint zigzag(m)
 *   The encoder picks the shortest form that gives back the very same
 *   bytes, whatever the column type (sensor readings with a few decimals,
 *   small counters: 1-3 bytes instead of 9). Metadata first, payloads
 *   last: consecutive rows of a table repeat their metadata byte for byte,
 *   which block compression turns into one match per row.
 *
 * An empty (zero-length) value is an empty fragment: nothing is known
 * about the key any more and readers skip it.
 *
 * Reconciliation (Cassandra's Cells.reconcile): per (column, element) the
 * higher timestamp wins; on equal timestamps a tombstone wins, then the
 * later local deletion time (expiry; a non-expiring cell counts as never
 * expiring), then the larger value (byte order). A deletion shadows
 * liveness and cells with timestamps <= its own, a complex deletion the
 * elements of its column with timestamps <= its own.
 */
#ifndef SB_ROWCODEC_H
#define SB_ROWCODEC_H

#include <stdint.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/buf.h"

enum {
    RC_LIVE = 0,
    RC_TOMB = 1,     /* cell tombstone */
    RC_CDEL = 2,     /* complex (whole collection) deletion */
    RC_EXPIRING = 3, /* live until expire_s */
};

typedef struct rc_cell {
    uint16_t col;
    uint8_t kind;
    int64_t ts;
    int32_t ttl;
    int64_t ldt; /* EXPIRING: expiry; TOMB/CDEL: local deletion time */
    const uint8_t *elem;
    int32_t elen; /* -1: no element (simple cell or complex deletion) */
    const uint8_t *val;
    int32_t vlen; /* -1 for TOMB/CDEL */
} rc_cell;

typedef struct rc_frag {
    int has_live;
    int64_t live_ts;
    int32_t live_ttl; /* 0 = no TTL */
    int64_t live_exp;
    int has_del;
    int64_t del_ts;
    int64_t del_ldt;
    rc_cell *cells;
    int ncells;
    int cap;
    sb_arena vmem; /* values decoded from compact forms; cells point into it */
} rc_frag;

void rc_frag_init(rc_frag *f);
void rc_frag_free(rc_frag *f);
void rc_frag_clear(rc_frag *f); /* keeps memory */
int rc_frag_add_cell(rc_frag *f, const rc_cell *c);

/* Decodes p (pointers into p stay valid as long as p; values stored in a
 * compact form are expanded into f's own memory, valid until f is cleared
 * or freed). Appends to f, so
 * several fragments can be decoded into one and reconciled together.
 * SB_ECORRUPT on malformed input. */
int rc_decode(rc_frag *f, const uint8_t *p, size_t len);
/* Sorts cells, reconciles duplicates and applies the fragment's own
 * deletion and complex deletions. Does not drop tombstones. */
void rc_reconcile(rc_frag *f);
/* Encodes a reconciled (or single-write, sorted) fragment. An empty
 * fragment encodes to zero bytes. */
int rc_encode(const rc_frag *f, sb_buf *out);

int rc_frag_empty(const rc_frag *f);

/* Applies an outside deletion (partition deletion or range tombstone) at
 * del_ts: drops liveness and cells with ts <= del_ts. */
void rc_shadow(rc_frag *f, int64_t del_ts);

/* Compaction-time expiry and purge with the whole history of the key in
 * hand: expired cells become tombstones (ldt = expiry), tombstones and
 * deletions whose ldt + gc_grace_s <= now_s are dropped, an expired row
 * marker is dropped. Returns 1 if anything changed. */
int rc_purge(rc_frag *f, int64_t now_s, int32_t gc_grace_s);

/* Cassandra's tie-break: >0 if a wins over b, <0 if b wins, 0 if equal. */
int rc_cell_cmp_win(const rc_cell *a, const rc_cell *b);

#endif
