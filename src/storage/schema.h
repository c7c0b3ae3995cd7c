/*
 * Schema: keyspaces, tables, columns.
 *
 * The schema is an in-memory tree owned by sb_store (store.h) and persisted
 * by it in RocksDB's default column family, so it survives restarts. Every
 * change goes through the store_* DDL calls in store.h, which persist first
 * and then swap in the new object. Pointers to sb_table / sb_keyspace stay
 * valid until the next DDL on the same object (callers on the event loop
 * hold them for one request only).
 *
 * Columns get a stable 16-bit id at creation that storage uses in cell
 * records; ids are never reused, so ALTER TABLE DROP then ADD of the same
 * name does not resurrect old cells.
 */
#ifndef SB_SCHEMA_H
#define SB_SCHEMA_H

#include <stdint.h>

#include "storage/types.h"

typedef enum sb_col_kind {
    SB_COL_PARTITION,
    SB_COL_CLUSTERING,
    SB_COL_REGULAR,
    SB_COL_STATIC,
} sb_col_kind;

typedef struct sb_column {
    char *name;
    sb_type type;
    sb_col_kind kind;
    int position;  /* index within partition key or clustering key; 0 otherwise */
    int desc;      /* clustering column ordered DESC */
    uint16_t id;   /* stable storage id */
    int has_default;
    uint8_t *default_value; /* serialization (see types.h), owned */
    int32_t default_len;
} sb_column;

typedef enum sb_compaction {
    SB_COMPACTION_STCS, /* SizeTieredCompactionStrategy -> RocksDB universal */
    SB_COMPACTION_LCS,  /* LeveledCompactionStrategy    -> RocksDB level */
    SB_COMPACTION_TWCS, /* TimeWindowCompactionStrategy -> RocksDB FIFO with TTL */
} sb_compaction;

typedef struct sb_table {
    char *keyspace;
    char *name;
    uint8_t id[16]; /* table uuid (v4), also names its column family */
    sb_column *cols; /* partition key columns first (in order), then
                        clustering (in order), then the others by name */
    int ncols;
    int npk; /* cols[0 .. npk-1] */
    int nck; /* cols[npk .. npk+nck-1] */
    uint16_t next_col_id;
    sb_compaction compaction;
    char *compaction_json; /* the compaction map as given, JSON object */
    int32_t default_ttl_s;
    int32_t gc_grace_s; /* default 864000 */
    char *comment;
    void *cf; /* storage's column family handle (rocksdb_column_family_handle_t*) */
} sb_table;

typedef struct sb_keyspace {
    char *name;
    char *replication_json; /* {"class": "...", "replication_factor": "3"} as given */
    int durable_writes;
    sb_table **tables;
    int ntables;
} sb_keyspace;

typedef struct sb_schema {
    sb_keyspace **ks;
    int nks;
    uint8_t version[16]; /* changes on every DDL */
} sb_schema;

sb_keyspace *sb_schema_keyspace(const sb_schema *s, const char *name);
sb_table *sb_schema_table(const sb_schema *s, const char *ks, const char *name);
/* Column by name (case-sensitive: callers fold unquoted identifiers to
 * lower case first, as CQL does); NULL if absent. */
sb_column *sb_table_column(const sb_table *t, const char *name);
sb_column *sb_table_column_by_id(const sb_table *t, uint16_t id);

/* Deep copies and frees; used by DDL to build the replacement object. */
sb_table *sb_table_clone(const sb_table *t);
void sb_table_free(sb_table *t);
void sb_keyspace_free(sb_keyspace *k);

/* JSON (de)serialization used for persistence; the format is private to
 * storage but stable across versions. Caller frees the returned string. */
char *sb_table_to_json(const sb_table *t);
int sb_table_from_json(const char *json, sb_table **out, char *errmsg);
char *sb_keyspace_to_json(const sb_keyspace *k);
int sb_keyspace_from_json(const char *json, sb_keyspace **out, char *errmsg);

#endif
