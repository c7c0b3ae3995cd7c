/*
 * A mutation: the wire form of a write, built once and carried unchanged
 * from the statement to the replicas.
 *
 *   u32 count
 *   count x { table id (16 raw bytes), bytes key, bytes value }
 *
 * (u32 big-endian; bytes = u32 length + the bytes, util/wire.h). The
 * entries are raw entries (store.h "raw access"): merged into their keys
 * on apply, so applying a mutation twice or out of order is harmless.
 *
 * Who builds and who reads it:
 *   - the CQL executor and ingestion fill a batch made with
 *     sb_wbatch_new_mutation (store.h), which appends each entry in this
 *     form (sb_mutation_append) and nothing else;
 *   - the coordinator takes the buffer (sb_wbatch_take_mutation,
 *     coord.h sb_coord_write_mutation), reads it through
 *     sb_mutation_decode (views into the buffer, no copy), and sends it
 *     as the MUTATION message body to every replica that gets all of it;
 *   - a replica decodes the body it received and applies the entries:
 *     sb_store_apply builds the one RocksDB batch of the write;
 *   - hinted handoff stores the body as it is.
 */
#ifndef SB_STORAGE_MUTATION_H
#define SB_STORAGE_MUTATION_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"
#include "util/buf.h"

/* Starts an empty mutation in out (which must be empty): count 0.
 * 0 or SB_ENOMEM. */
int sb_mutation_init(sb_buf *out);
/* Appends one entry to the mutation in out (started by sb_mutation_init)
 * and counts it. 0, SB_ENOMEM, or SB_ETOOBIG for a key or value over
 * 4 GiB or a 2^32nd entry. */
int sb_mutation_append(sb_buf *out, const uint8_t table_id[16], const uint8_t *k, size_t klen,
                       const uint8_t *v, size_t vlen);
/* The entry count of a well-formed mutation (0 for one shorter than 4
 * bytes). */
uint32_t sb_mutation_count(const uint8_t *p, size_t len);

/* encode appends the mutation of n entries to out: 0, SB_ENOMEM or
 * SB_EINVAL. decode sets *out to an array of *n entries (caller frees it
 * with free(); the entries point into p, so p must outlive them): 0,
 * SB_ENOMEM, or SB_EBADINPUT for truncated, oversized or trailing input. */
int sb_mutation_encode(sb_buf *out, const sb_raw_mut *m, size_t n);
int sb_mutation_decode(const uint8_t *p, size_t len, sb_raw_mut **out, size_t *n);

#endif
