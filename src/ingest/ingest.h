/*
 * Line-protocol ingestion: InfluxDB 2 writes into Sibyl tables.
 *
 * The HTTP server calls this for
 *   POST /api/v2/write?bucket=KEYSPACE&precision=ns|us|ms|s   (org ignored)
 * after inflating a `Content-Encoding: gzip` body with sb_ingest_gunzip().
 * See docs/ingest.md for the user-facing description.
 *
 * Mapping
 *   bucket       -> keyspace; created on first write with
 *                   {"class": "SimpleStrategy", "replication_factor": "1"}
 *   measurement  -> table keyspace.measurement, created on first write:
 *                     partition key: the measurement's tag keys, sorted
 *                       (byte order), all `text`; for a measurement whose
 *                       first request has no tags at all, one column
 *                       `series text` that always holds ''
 *                     clustering key: `time timestamp` (ms; ns/us
 *                       timestamps are truncated toward -infinity)
 *                     regular columns: one per field, added by ALTER when
 *                       a new field appears: float -> double,
 *                       integer -> bigint, unsigned -> bigint (values
 *                       above INT64_MAX are rejected), string -> text,
 *                       boolean -> boolean
 *   names        -> stored exactly as written (case-preserving, after
 *                   unescaping); names that are not lower-case CQL
 *                   identifiers must be double-quoted in CQL
 *   missing tag  -> stored as '' (a partition key column cannot be null)
 *
 * Rejected (SB_EINVALID, nothing written): a tag key that is not in an
 * existing table's partition key (a partition key cannot be altered), a
 * field whose type does not match its column or an earlier line of the
 * same request, a tag or field named "time", a field with the name of a
 * tag, an unsigned value > INT64_MAX, a table that exists but was not made
 * for line protocol (needs text partition key columns and exactly one
 * clustering column `time timestamp`).
 *
 * Batch semantics: the whole body is parsed and checked first; on any
 * error nothing is written and no DDL runs. Then the needed DDL runs
 * (keyspace, tables, columns), then all points go into ONE sb_wbatch (one
 * atomic RocksDB write batch) that is acknowledged once durable.
 *
 * Cell write timestamps: the server's clock at receipt, in microseconds
 * (Cassandra semantics: a later write of the same point wins). Within one
 * request, a repeated point (same series, same millisecond) gets +1 us per
 * repetition, so the last line wins, as InfluxDB overwrites such points.
 * Points without a timestamp get the receipt time. Write timestamps handed
 * out by this module strictly increase across requests.
 *
 * Threading: event loop thread only (it runs DDL through sb_store).
 */
#ifndef SB_INGEST_H
#define SB_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"
#include "util/buf.h"

/* Largest body accepted, after decompression. */
#define SB_INGEST_MAX_BODY_BYTES ((size_t)64 << 20)

/* Inflates a gzip body (several concatenated gzip members are accepted, as
 * `gzip -c a b` makes them) and appends the result to out. Never grows out
 * beyond max_bytes of output: if the data inflates to more, returns
 * SB_ETOOBIG ("gzip body inflates to more than N bytes"). Corrupt or
 * truncated input: SB_EBADINPUT with zlib's reason. SB_ENOMEM. */
int sb_ingest_gunzip(const void *in, size_t len, size_t max_bytes, sb_buf *out, char *errmsg);

/* Writes a line-protocol body into keyspace `bucket`.
 *
 * precision: "ns" (also when NULL or ""), "us", "ms" or "s".
 * body/len: the uncompressed body; it is only read during the call (the
 *   caller may free it once the call returns).
 * cb/arg: with cb != NULL the batch is queued with sb_store_write() and
 *   cb(arg, status) runs later on the event loop once it is durable
 *   (status 0) or failed. With cb == NULL the write is synchronous
 *   (sb_store_write_sync; tools and tests, store opened without a loop).
 *
 * Returns 0 when the write was queued (cb will be called exactly once) or,
 * with cb == NULL, is durable. Otherwise a negative code, errmsg says what
 * and where, and cb is never called:
 *   SB_ESYNTAX     a line does not parse: "line 3: invalid field format
 *                  (column 17)"                                -> HTTP 400
 *   SB_EINVALID    the request does not fit the schema, bad bucket or
 *                  precision, no points: "line 2: field type conflict: ..."
 *                                                              -> HTTP 400
 *   SB_ETOOBIG     body larger than SB_INGEST_MAX_BODY_BYTES   -> HTTP 413
 *   SB_EOVERLOADED commit queue full, retry later               -> HTTP 503
 *   other          (SB_ENOMEM, SB_EIO, ...) server side         -> HTTP 500
 * InfluxDB answers a successful write with 204 No Content.
 */
int sb_ingest_write(sb_store *s, const char *bucket, const char *precision, const char *body,
                    size_t len, sb_write_cb cb, void *arg, char *errmsg);

/* sb_ingest_write through a coordinator: the body becomes one mutation
 * (store.h sb_wbatch_new_mutation) handed to fn (store.h sb_write_fn) at
 * the given consistency level (SB_CL_*) as an "UNLOGGED_BATCH"; cb (not
 * NULL) gets fn's result as it is, for the caller to report. Errors as
 * sb_ingest_write; cb is never called when it returns non-zero. */
int sb_ingest_write_to(sb_store *s, sb_write_fn fn, void *fn_arg, int consistency,
                       const char *bucket, const char *precision, const char *body, size_t len,
                       sb_write_done_fn cb, void *arg, char *errmsg);

/* sb_ingest_write_to for a node whose schema changes go through the
 * cluster's metadata group (consensus/group.h): when the points need a new
 * keyspace, table or column and ddl is not NULL, nothing is written or
 * changed here; ddl gets the CQL statements that make what is missing
 * (each NUL-terminated, in order; IF NOT EXISTS where CQL has it) and the
 * call returns SB_INGEST_NEEDS_SCHEMA (cb never called). Run them through
 * the group and call again with the same body. ddl NULL: as
 * sb_ingest_write_to (the schema changes are made on the local store). */
#define SB_INGEST_NEEDS_SCHEMA 1
int sb_ingest_write_cluster(sb_store *s, sb_write_fn fn, void *fn_arg, int consistency,
                            const char *bucket, const char *precision, const char *body,
                            size_t len, sb_buf *ddl, sb_write_done_fn cb, void *arg, char *errmsg);

/* Counters for /metrics (monotonic since start, all requests). */
typedef struct sb_ingest_stats {
    uint64_t requests;          /* calls of sb_ingest_write */
    uint64_t rejected_requests; /* calls that returned an error */
    uint64_t points;            /* points accepted (queued or written) */
    uint64_t bytes;             /* uncompressed body bytes accepted */
} sb_ingest_stats;

void sb_ingest_get_stats(sb_ingest_stats *st);

#endif
