/*
 * The simulator's in-memory storage: what one simulated node keeps on its
 * "disk". It survives the node's crashes and restarts (the world keeps it;
 * only the sb_cluster above it is rebuilt).
 *
 * Tables are known by id; each is a sorted array of raw entries (key order
 * is memcmp, shorter first on a common prefix, as RocksDB's bytewise
 * comparator). Entries merge into their key with sb_frag_merge, exactly as
 * the RocksDB merge operator does. Reads implement sb_store_raw_read's
 * semantics (store.h "raw access"). The kv space is a second sorted array.
 *
 * Synchronous and single-threaded; the world (world.c) adds the delays and
 * crash semantics of the sb_io_store contract around it.
 */
#ifndef SB_DSIM_MEMSTORE_H
#define SB_DSIM_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

typedef struct dsim_store dsim_store;

dsim_store *dsim_store_new(void);
void dsim_store_free(dsim_store *s);

/* Registers a table (idempotent). 0 or SB_ENOMEM. */
int dsim_store_add_table(dsim_store *s, const uint8_t id[16]);
int dsim_store_has_table(const dsim_store *s, const uint8_t id[16]);
/* Merges one entry into its key. SB_ENOTFOUND for an unknown table,
 * SB_ECORRUPT for a value the merge refuses. */
int dsim_store_merge(dsim_store *s, const uint8_t id[16], const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen);
/* sb_store_raw_read semantics. */
int dsim_store_read(dsim_store *s, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                    char *errmsg);
int dsim_store_truncate(dsim_store *s, const uint8_t id[16], char *errmsg);

/* Inspection (invariant checks): number of entries of a table and the
 * i-th in key order (pointers valid until the next change). */
size_t dsim_store_count(const dsim_store *s, const uint8_t id[16]);
int dsim_store_entry(const dsim_store *s, const uint8_t id[16], size_t i, sb_raw *out);
/* The value of one key: 1 and *out if present, 0 if not. */
int dsim_store_get(const dsim_store *s, const uint8_t id[16], const uint8_t *key, size_t klen,
                   sb_raw *out);

/* The kv space. */
int dsim_store_kv_put(dsim_store *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen);
int dsim_store_kv_del(dsim_store *s, const uint8_t *k, size_t klen);
int dsim_store_kv_scan(dsim_store *s, const uint8_t *prefix, size_t plen,
                       int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                                   size_t vlen),
                       void *arg);
size_t dsim_store_kv_count(const dsim_store *s);

uint64_t dsim_store_load_bytes(const dsim_store *s);

#endif
