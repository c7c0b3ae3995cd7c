/*
 * System tables for drivers: system.local, system.peers, system.peers_v2
 * and system_schema.{keyspaces, tables, columns, types, functions,
 * aggregates, triggers, indexes, views, dropped_columns}: Cassandra 4.0's
 * tables with their full column sets.
 *
 * Rows are generated on every scan from the store's current schema, so
 * they are never stale; the executor applies WHERE, ORDER BY, LIMIT and
 * paging. Collection columns are declared frozen because a virtual row
 * carries each column as one serialized cell (the wire type is the same).
 * The system keyspaces describe themselves in system_schema as Cassandra's
 * do (LocalStrategy).
 *
 * With a cluster (cqlp_systables_set_cluster), system.local reports the
 * node's gossiped tokens and addresses, and system.peers / peers_v2 have
 * one row per other member that owns tokens, read from gossip on each
 * scan; without one they are a single node's (one token derived from the
 * host id, no peers).
 *
 * The host id is created once, stored as DATA/host_id (a uuid in text) and
 * read back on every start, so drivers see the same node across restarts.
 */
#include "cqlproto/systables.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/ep.h"
#include "util/err.h"
#include "util/hex.h"

typedef struct coldef {
    const char *name;
    const char *type;
    char kind; /* 'p' partition, 'c' clustering, 'r' regular */
} coldef;

/* Regular columns in name order (SELECT * lists them so, as Cassandra). */
static const coldef local_cols[] = {
    {"key", "text", 'p'},
    {"bootstrapped", "text", 'r'},
    {"broadcast_address", "inet", 'r'},
    {"cluster_name", "text", 'r'},
    {"cql_version", "text", 'r'},
    {"data_center", "text", 'r'},
    {"host_id", "uuid", 'r'},
    {"listen_address", "inet", 'r'},
    {"native_protocol_version", "text", 'r'},
    {"partitioner", "text", 'r'},
    {"rack", "text", 'r'},
    {"release_version", "text", 'r'},
    {"rpc_address", "inet", 'r'},
    {"rpc_port", "int", 'r'},
    {"schema_version", "uuid", 'r'},
    {"tokens", "frozen<set<text>>", 'r'},
};
static const coldef peers_cols[] = {
    {"peer", "inet", 'p'},
    {"data_center", "text", 'r'},
    {"host_id", "uuid", 'r'},
    {"preferred_ip", "inet", 'r'},
    {"rack", "text", 'r'},
    {"release_version", "text", 'r'},
    {"rpc_address", "inet", 'r'},
    {"schema_version", "uuid", 'r'},
    {"tokens", "frozen<set<text>>", 'r'},
};
static const coldef peers_v2_cols[] = {
    {"peer", "inet", 'p'},           {"peer_port", "int", 'c'},
    {"data_center", "text", 'r'},    {"host_id", "uuid", 'r'},
    {"native_address", "inet", 'r'}, {"native_port", "int", 'r'},
    {"preferred_ip", "inet", 'r'},   {"preferred_port", "int", 'r'},
    {"rack", "text", 'r'},           {"release_version", "text", 'r'},
    {"schema_version", "uuid", 'r'}, {"tokens", "frozen<set<text>>", 'r'},
};
static const coldef keyspaces_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"durable_writes", "boolean", 'r'},
    {"replication", "frozen<map<text, text>>", 'r'},
};
static const coldef tables_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"table_name", "text", 'c'},
    {"additional_write_policy", "text", 'r'},
    {"bloom_filter_fp_chance", "double", 'r'},
    {"caching", "frozen<map<text, text>>", 'r'},
    {"cdc", "boolean", 'r'},
    {"comment", "text", 'r'},
    {"compaction", "frozen<map<text, text>>", 'r'},
    {"compression", "frozen<map<text, text>>", 'r'},
    {"crc_check_chance", "double", 'r'},
    {"default_time_to_live", "int", 'r'},
    {"extensions", "frozen<map<text, blob>>", 'r'},
    {"flags", "frozen<set<text>>", 'r'},
    {"gc_grace_seconds", "int", 'r'},
    {"id", "uuid", 'r'},
    {"max_index_interval", "int", 'r'},
    {"memtable_flush_period_in_ms", "int", 'r'},
    {"min_index_interval", "int", 'r'},
    {"read_repair", "text", 'r'},
    {"speculative_retry", "text", 'r'},
};
static const coldef columns_cols[] = {
    {"keyspace_name", "text", 'p'},     {"table_name", "text", 'c'},
    {"column_name", "text", 'c'},       {"clustering_order", "text", 'r'},
    {"column_name_bytes", "blob", 'r'}, {"kind", "text", 'r'},
    {"position", "int", 'r'},           {"type", "text", 'r'},
};
static const coldef types_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"type_name", "text", 'c'},
    {"field_names", "frozen<list<text>>", 'r'},
    {"field_types", "frozen<list<text>>", 'r'},
};
static const coldef functions_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"function_name", "text", 'c'},
    {"argument_names", "frozen<list<text>>", 'r'},
    {"argument_types", "frozen<list<text>>", 'c'}, /* overloads share a name */
    {"body", "text", 'r'},
    {"called_on_null_input", "boolean", 'r'},
    {"language", "text", 'r'},
    {"return_type", "text", 'r'},
};
static const coldef aggregates_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"aggregate_name", "text", 'c'},
    {"argument_types", "frozen<list<text>>", 'c'},
    {"final_func", "text", 'r'},
    {"initcond", "text", 'r'},
    {"return_type", "text", 'r'},
    {"state_func", "text", 'r'},
    {"state_type", "text", 'r'},
};
static const coldef triggers_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"table_name", "text", 'c'},
    {"trigger_name", "text", 'c'},
    {"options", "frozen<map<text, text>>", 'r'},
};
static const coldef indexes_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"table_name", "text", 'c'},
    {"index_name", "text", 'c'},
    {"kind", "text", 'r'},
    {"options", "frozen<map<text, text>>", 'r'},
};
/* Cassandra 4.0's views columns, plus dclocal_read_repair_chance and
 * read_repair_chance, which 4.0 dropped but drivers written against 3.x
 * still select by name: Debian bookworm's gocql (1.3.2) asks for both in
 * Session.KeyspaceMetadata and fails on "Undefined column name" without
 * them. The table is empty, so the extra columns cost nothing. */
static const coldef views_cols[] = {
    {"keyspace_name", "text", 'p'},
    {"view_name", "text", 'c'},
    {"additional_write_policy", "text", 'r'},
    {"base_table_id", "uuid", 'r'},
    {"base_table_name", "text", 'r'},
    {"bloom_filter_fp_chance", "double", 'r'},
    {"caching", "frozen<map<text, text>>", 'r'},
    {"cdc", "boolean", 'r'},
    {"comment", "text", 'r'},
    {"compaction", "frozen<map<text, text>>", 'r'},
    {"compression", "frozen<map<text, text>>", 'r'},
    {"crc_check_chance", "double", 'r'},
    {"dclocal_read_repair_chance", "double", 'r'},
    {"default_time_to_live", "int", 'r'},
    {"extensions", "frozen<map<text, blob>>", 'r'},
    {"gc_grace_seconds", "int", 'r'},
    {"id", "uuid", 'r'},
    {"include_all_columns", "boolean", 'r'},
    {"max_index_interval", "int", 'r'},
    {"memtable_flush_period_in_ms", "int", 'r'},
    {"min_index_interval", "int", 'r'},
    {"read_repair", "text", 'r'},
    {"read_repair_chance", "double", 'r'},
    {"speculative_retry", "text", 'r'},
    {"where_clause", "text", 'r'},
};
static const coldef dropped_columns_cols[] = {
    {"keyspace_name", "text", 'p'},     {"table_name", "text", 'c'}, {"column_name", "text", 'c'},
    {"dropped_time", "timestamp", 'r'}, {"kind", "text", 'r'},       {"type", "text", 'r'},
};

enum {
    T_LOCAL,
    T_PEERS,
    T_PEERS_V2,
    T_KEYSPACES,
    T_TABLES,
    T_COLUMNS,
    T_TYPES,
    T_FUNCTIONS,
    T_AGGREGATES,
    T_TRIGGERS,
    T_INDEXES,
    T_VIEWS,
    T_DROPPED_COLUMNS,
    T_COUNT
};

static const struct tdef {
    const char *ks, *name;
    const coldef *cols;
    int ncols;
} g_tdefs[T_COUNT] = {
#define TD(ks, n, c)                                                                               \
    {                                                                                              \
        ks, n, c, (int)(sizeof c / sizeof c[0])                                                    \
    }
    TD("system", "local", local_cols),
    TD("system", "peers", peers_cols),
    TD("system", "peers_v2", peers_v2_cols),
    TD("system_schema", "keyspaces", keyspaces_cols),
    TD("system_schema", "tables", tables_cols),
    TD("system_schema", "columns", columns_cols),
    TD("system_schema", "types", types_cols),
    TD("system_schema", "functions", functions_cols),
    TD("system_schema", "aggregates", aggregates_cols),
    TD("system_schema", "triggers", triggers_cols),
    TD("system_schema", "indexes", indexes_cols),
    TD("system_schema", "views", views_cols),
    TD("system_schema", "dropped_columns", dropped_columns_cols),
#undef TD
};

struct cqlp_systables {
    sb_store *store;
    sb_table tables[T_COUNT];
    uint8_t host_id[16];
    char cluster_name[128], dc[64], rack[64];
    char rpc_host[SB_ADDR_MAX], listen_host[SB_ADDR_MAX];
    int rpc_port;
    char token[32];
    sb_gossip *gossip; /* NULL: single node */
    int (*schema_version)(void *arg, uint8_t out[16]);
    void *schema_arg;
};

/* ---------------------------------------------------------------- setup */

static void table_id(const char *ks, const char *name, uint8_t id[16])
{
    /* Stable ids for the virtual tables: FNV-1a of "ks.name", shaped as a
     * version 3 (name-based) uuid. */
    uint64_t h1 = 1469598103934665603ull, h2 = 1099511628211ull * 31;
    for (const char *p = ks; *p; p++)
        h1 = (h1 ^ (uint8_t)*p) * 1099511628211ull, h2 = (h2 ^ (uint8_t)*p) * 16777619ull;
    for (const char *p = name; *p; p++)
        h1 = (h1 ^ (uint8_t)*p) * 1099511628211ull, h2 = (h2 ^ (uint8_t)*p) * 16777619ull;
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(h1 >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(h2 >> (56 - 8 * i));
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x30);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static int build_table(sb_table *t, const struct tdef *d)
{
    memset(t, 0, sizeof *t);
    t->keyspace = (char *)d->ks;
    t->name = (char *)d->name;
    t->cols = calloc((size_t)d->ncols, sizeof *t->cols);
    if (!t->cols)
        return SB_ENOMEM;
    t->ncols = d->ncols;
    t->gc_grace_s = 0;
    table_id(d->ks, d->name, t->id);
    for (int i = 0; i < d->ncols; i++) {
        sb_column *c = &t->cols[i];
        c->name = (char *)d->cols[i].name;
        SB_ASSERT(sb_type_parse(d->cols[i].type, &c->type) == 0);
        c->id = (uint16_t)(i + 1);
        if (d->cols[i].kind == 'p') {
            c->kind = SB_COL_PARTITION;
            c->position = t->npk++;
        } else if (d->cols[i].kind == 'c') {
            c->kind = SB_COL_CLUSTERING;
            c->position = t->nck++;
        } else {
            c->kind = SB_COL_REGULAR;
        }
    }
    t->next_col_id = (uint16_t)(d->ncols + 1);
    return 0;
}

int cqlp_load_host_id(const char *dir, uint8_t id[16], char *errmsg)
{
    char path[1200], text[64] = "";
    snprintf(path, sizeof path, "%s/host_id", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        text[strcspn(text, "\r\n ")] = 0;
        if (sb_uuid_parse(text, strlen(text), id) == 0)
            return 0;
        return sb_seterr(errmsg, SB_ECORRUPT, "%s does not hold a uuid ('%.40s')", path, text);
    }
    if (errno != ENOENT)
        return sb_seterr(errmsg, SB_EIO, "cannot read %s: %s", path, strerror(errno));
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, id, 16) != 16) {
        if (fd >= 0)
            close(fd);
        return sb_seterr(errmsg, SB_EIO, "cannot read /dev/urandom");
    }
    close(fd);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    sb_uuid_format(id, text);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        if (f)
            fclose(f);
        return sb_seterr(errmsg, SB_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    fclose(f);
    if (rename(tmp, path) != 0)
        return sb_seterr(errmsg, SB_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    return 0;
}

int cqlp_systables_new(cqlp_systables **out, sb_store *store, const sb_cqlproto_ident *id,
                       const char *rpc_host, int rpc_port, char *errmsg)
{
    cqlp_systables *st = calloc(1, sizeof *st);
    if (!st)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    st->store = store;
    for (int i = 0; i < T_COUNT; i++)
        if (build_table(&st->tables[i], &g_tdefs[i]) != 0) {
            cqlp_systables_free(st);
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        }
    int rc = cqlp_load_host_id(id->data_dir, st->host_id, errmsg);
    if (rc) {
        cqlp_systables_free(st);
        return rc;
    }
    snprintf(st->cluster_name, sizeof st->cluster_name, "%s", id->cluster_name);
    snprintf(st->dc, sizeof st->dc, "%s", id->dc);
    snprintf(st->rack, sizeof st->rack, "%s", id->rack);
    int lport;
    if (sb_parse_hostport(id->listen_addr, 7000, st->listen_host, sizeof st->listen_host, &lport) !=
        0)
        snprintf(st->listen_host, sizeof st->listen_host, "127.0.0.1");
    if (!strcmp(rpc_host, "0.0.0.0") || !strcmp(rpc_host, "::"))
        snprintf(st->rpc_host, sizeof st->rpc_host, "%s", st->listen_host);
    else
        snprintf(st->rpc_host, sizeof st->rpc_host, "%s", rpc_host);
    st->rpc_port = rpc_port;
    /* One token per node until the ring exists: derived from the host id,
     * so it is stable across restarts. */
    int64_t tok = 0;
    for (int i = 0; i < 8; i++)
        tok = (int64_t)(((uint64_t)tok << 8) | st->host_id[i]);
    snprintf(st->token, sizeof st->token, "%lld", (long long)tok);
    *out = st;
    return 0;
}

void cqlp_systables_free(cqlp_systables *st)
{
    if (!st)
        return;
    for (int i = 0; i < T_COUNT; i++)
        free(st->tables[i].cols);
    free(st);
}

/* ------------------------------------------------------------ row maker */

#define MAX_COLS 24

typedef struct rowb {
    const sb_table *t;
    sb_buf buf;
    sb_buf tmp;
    int32_t off[MAX_COLS], len[MAX_COLS];
    int err;
} rowb;

static void rb_reset(rowb *r)
{
    sb_buf_reset(&r->buf);
    for (int i = 0; i < MAX_COLS; i++)
        r->len[i] = -1;
}

static int rb_col(rowb *r, const char *name)
{
    for (int i = 0; i < r->t->ncols; i++)
        if (!strcmp(r->t->cols[i].name, name))
            return i;
    SB_ASSERT(!"system table column missing");
    return -1;
}

static void rb_bytes(rowb *r, const char *name, const void *p, size_t n)
{
    int i = rb_col(r, name);
    r->off[i] = (int32_t)r->buf.len;
    r->len[i] = (int32_t)n;
    if (sb_buf_append(&r->buf, p, n) != 0)
        r->err = SB_ENOMEM;
}

static void rb_text(rowb *r, const char *name, const char *s)
{
    if (s)
        rb_bytes(r, name, s, strlen(s));
}

static void rb_int(rowb *r, const char *name, int32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    rb_bytes(r, name, b, 4);
}

static void rb_bool(rowb *r, const char *name, int v)
{
    uint8_t b = v ? 1 : 0;
    rb_bytes(r, name, &b, 1);
}

static void rb_double(rowb *r, const char *name, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (56 - 8 * i));
    rb_bytes(r, name, b, 8);
}

static void rb_inet(rowb *r, const char *name, const char *host)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        rb_bytes(r, name, a, 4);
    else if (inet_pton(AF_INET6, host, a) == 1)
        rb_bytes(r, name, a, 16);
}

/* A collection column from strings (maps: key, value, ...). */
static void rb_coll(rowb *r, const char *name, const char *const *s, int n)
{
    int i = rb_col(r, name);
    sb_value v[SB_MAX_TOKENS + 8];
    if (n > SB_MAX_TOKENS + 8)
        n = SB_MAX_TOKENS + 8;
    for (int k = 0; k < n; k++)
        v[k] = (sb_value){(const uint8_t *)s[k], (int32_t)strlen(s[k])};
    char msg[SB_ERRMSG_SIZE];
    sb_buf_reset(&r->tmp);
    if (sb_value_build_collection(&r->tmp, r->t->cols[i].type, v, n, msg) != 0) {
        r->err = SB_ENOMEM;
        return;
    }
    rb_bytes(r, name, r->tmp.data, r->tmp.len);
}

static int rb_emit(rowb *r, sb_cql_emit_fn emit, void *ctx)
{
    if (r->err)
        return r->err;
    sb_value v[MAX_COLS];
    for (int i = 0; i < r->t->ncols; i++)
        v[i] = r->len[i] < 0 ? SB_VALUE_NULL : (sb_value){r->buf.data + r->off[i], r->len[i]};
    return emit(ctx, v);
}

/* Flattens a JSON object of options into key/value strings (numbers and
 * booleans as their text). Strings are kept in `store` (NUL-separated). */
static int json_to_pairs(const char *json, const char *class_prefix, const char *default_class,
                         sb_buf *store, const char **kv, int max)
{
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    sb_buf_reset(store);
    /* Offsets first (the buffer may move), pointers at the end. */
    size_t offs[64];
    int n = 0, has_class = 0;
    const char *key;
    json_t *val;
    if (j && json_is_object(j)) {
        json_object_foreach(j, key, val)
        {
            if (n + 2 > max || n + 2 > 64)
                break;
            char tmp[128];
            const char *s = tmp;
            if (json_is_string(val))
                s = json_string_value(val);
            else if (json_is_integer(val))
                snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(val));
            else if (json_is_real(val))
                snprintf(tmp, sizeof tmp, "%g", json_real_value(val));
            else if (json_is_boolean(val))
                snprintf(tmp, sizeof tmp, "%s", json_is_true(val) ? "true" : "false");
            else
                continue;
            int is_class = !strcmp(key, "class");
            has_class |= is_class;
            offs[n++] = store->len;
            sb_buf_append(store, key, strlen(key) + 1);
            offs[n++] = store->len;
            if (is_class && !strchr(s, '.'))
                sb_buf_append(store, class_prefix, strlen(class_prefix));
            sb_buf_append(store, s, strlen(s) + 1);
        }
    }
    if (j)
        json_decref(j);
    if (!has_class && default_class && n + 2 <= max) {
        offs[n++] = store->len;
        sb_buf_append(store, "class", 6);
        offs[n++] = store->len;
        sb_buf_append(store, default_class, strlen(default_class) + 1);
    }
    if (sb_buf_putc(store, 0) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        kv[i] = (const char *)store->data + offs[i];
    return n;
}

/* --------------------------------------------------------------- scans */

static void rb_ep_ip(rowb *r, const char *name, const sb_ep *e)
{
    if (e->family == 4)
        rb_bytes(r, name, e->ip, 4);
    else if (e->family == 6)
        rb_bytes(r, name, e->ip, 16);
}

static void rb_tokens(rowb *r, const char *name, const int64_t *t, int n)
{
    char text[SB_MAX_TOKENS][24];
    const char *p[SB_MAX_TOKENS];
    if (n > SB_MAX_TOKENS)
        n = SB_MAX_TOKENS;
    for (int i = 0; i < n; i++) {
        snprintf(text[i], sizeof text[i], "%lld", (long long)t[i]);
        p[i] = text[i];
    }
    rb_coll(r, name, p, n);
}

/* A member's CQL address; a wildcard (or unknown) one stands for its
 * node-to-node IP, as Cassandra's broadcast_rpc_address does. */
sb_ep cqlp_member_rpc(const sb_member *m)
{
    static const uint8_t zero[16];
    sb_ep e = m->rpc;
    if (e.family != 4 && e.family != 6) {
        e = m->ep;
        e.port = 9042;
    } else if (!memcmp(e.ip, zero, e.family == 4 ? 4 : 16)) {
        uint16_t port = e.port;
        e = m->ep;
        e.port = port;
    }
    return e;
}

int cqlp_member_is_peer(const sb_member *m)
{
    return !m->is_self && m->ntokens > 0 &&
           (m->status == SB_STATUS_NORMAL || m->status == SB_STATUS_LEAVING ||
            m->status == SB_STATUS_SHUTDOWN);
}

static int scan_local(cqlp_systables *st, rowb *r, sb_cql_emit_fn emit, void *ctx)
{
    const sb_member *self = st->gossip ? sb_gossip_self(st->gossip) : NULL;
    if (self && self->ep.family == 0)
        self = NULL;
    rb_text(r, "key", "local");
    rb_text(r, "bootstrapped", "COMPLETED");
    rb_text(r, "cluster_name", st->cluster_name);
    rb_text(r, "cql_version", "3.4.5");
    rb_text(r, "native_protocol_version", "4");
    rb_text(r, "partitioner", "org.apache.cassandra.dht.Murmur3Partitioner");
    rb_text(r, "release_version", CQLP_RELEASE_VERSION);
    if (self) {
        sb_ep rpc = cqlp_member_rpc(self);
        rb_ep_ip(r, "broadcast_address", &self->ep);
        rb_ep_ip(r, "listen_address", &self->ep);
        rb_ep_ip(r, "rpc_address", &rpc);
        rb_int(r, "rpc_port", rpc.port);
        rb_text(r, "data_center", self->dc[0] ? self->dc : st->dc);
        rb_text(r, "rack", self->rack[0] ? self->rack : st->rack);
        rb_bytes(r, "host_id", self->host_id, 16);
    } else {
        rb_inet(r, "broadcast_address", st->listen_host);
        rb_inet(r, "listen_address", st->listen_host);
        rb_inet(r, "rpc_address", st->rpc_host);
        rb_int(r, "rpc_port", st->rpc_port);
        rb_text(r, "data_center", st->dc);
        rb_text(r, "rack", st->rack);
        rb_bytes(r, "host_id", st->host_id, 16);
    }
    /* A store that never ran DDL has an all-zero version; report the uuid
     * Cassandra gives an empty schema instead (same on every node). */
    static const uint8_t zero[16], empty[16] = {0x59, 0xad, 0xb2, 0x4e, 0xf3, 0xcd, 0x3e, 0x02,
                                                0x97, 0xf0, 0x5b, 0x39, 0x58, 0x27, 0x45, 0x3f};
    uint8_t ver[16];
    if (!st->schema_version || st->schema_version(st->schema_arg, ver) != 0)
        memcpy(ver, sb_store_schema(st->store)->version, 16);
    rb_bytes(r, "schema_version", memcmp(ver, zero, 16) ? ver : empty, 16);
    if (self && self->ntokens > 0) {
        rb_tokens(r, "tokens", self->tokens, self->ntokens);
    } else {
        const char *toks[1] = {st->token};
        rb_coll(r, "tokens", toks, 1);
    }
    return rb_emit(r, emit, ctx);
}

static int emit_peer(rowb *r, int v2, const sb_member *m, sb_cql_emit_fn emit, void *ctx)
{
    static const uint8_t zero[16];
    sb_ep rpc = cqlp_member_rpc(m);
    rb_reset(r);
    rb_ep_ip(r, "peer", &m->ep);
    rb_text(r, "data_center", m->dc);
    rb_bytes(r, "host_id", m->host_id, 16);
    rb_ep_ip(r, "preferred_ip", &m->ep);
    rb_text(r, "rack", m->rack);
    rb_text(r, "release_version",
            m->release_version[0] ? m->release_version : CQLP_RELEASE_VERSION);
    /* Unknown yet: null, which drivers skip when they wait for agreement. */
    if (memcmp(m->schema_version, zero, 16) != 0)
        rb_bytes(r, "schema_version", m->schema_version, 16);
    rb_tokens(r, "tokens", m->tokens, m->ntokens);
    if (v2) {
        rb_int(r, "peer_port", m->ep.port);
        rb_ep_ip(r, "native_address", &rpc);
        rb_int(r, "native_port", rpc.port);
        rb_int(r, "preferred_port", m->ep.port);
    } else {
        rb_ep_ip(r, "rpc_address", &rpc);
    }
    return rb_emit(r, emit, ctx);
}

int cqlp_scan_peers(cqlp_systables *st, int v2, const sb_member *const *members, int n,
                    sb_cql_emit_fn emit, void *ctx)
{
    rowb r;
    memset(&r, 0, sizeof r);
    r.t = &st->tables[v2 ? T_PEERS_V2 : T_PEERS];
    sb_buf_init(&r.buf);
    sb_buf_init(&r.tmp);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        if (cqlp_member_is_peer(members[i]))
            rc = emit_peer(&r, v2, members[i], emit, ctx);
    sb_buf_free(&r.buf);
    sb_buf_free(&r.tmp);
    return rc;
}

static int scan_gossip_peers(cqlp_systables *st, int v2, sb_cql_emit_fn emit, void *ctx)
{
    if (!st->gossip)
        return 0; /* a single node has no peers */
    int n = sb_gossip_nmembers(st->gossip);
    const sb_member **list = calloc((size_t)(n > 0 ? n : 1), sizeof *list);
    if (!list)
        return SB_ENOMEM;
    for (int i = 0; i < n; i++)
        list[i] = sb_gossip_member(st->gossip, i);
    int rc = cqlp_scan_peers(st, v2, list, n, emit, ctx);
    free(list);
    return rc;
}

void cqlp_systables_set_cluster(cqlp_systables *st, sb_gossip *g,
                                int (*schema_version)(void *arg, uint8_t out[16]), void *arg)
{
    st->gossip = g;
    st->schema_version = schema_version;
    st->schema_arg = arg;
}

static const char *compaction_class(sb_compaction c)
{
    switch (c) {
    case SB_COMPACTION_LCS:
        return "org.apache.cassandra.db.compaction.LeveledCompactionStrategy";
    case SB_COMPACTION_TWCS:
        return "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy";
    default:
        return "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy";
    }
}

static int emit_table_row(rowb *r, const sb_table *t, int is_virtual, sb_buf *store,
                          sb_cql_emit_fn emit, void *ctx)
{
    rb_reset(r);
    rb_text(r, "keyspace_name", t->keyspace);
    rb_text(r, "table_name", t->name);
    rb_text(r, "additional_write_policy", "99p");
    rb_double(r, "bloom_filter_fp_chance", 0.01);
    static const char *const caching[] = {"keys", "ALL", "rows_per_partition", "NONE"};
    rb_coll(r, "caching", caching, 4);
    rb_bool(r, "cdc", 0);
    rb_text(r, "comment", t->comment ? t->comment : "");
    const char *kv[32];
    int n =
        json_to_pairs(is_virtual ? NULL : t->compaction_json, "org.apache.cassandra.db.compaction.",
                      compaction_class(t->compaction), store, kv, 32);
    if (n < 0)
        return SB_ENOMEM;
    rb_coll(r, "compaction", kv, n);
    static const char *const compression[] = {"chunk_length_in_kb", "16", "class",
                                              "org.apache.cassandra.io.compress.LZ4Compressor"};
    rb_coll(r, "compression", compression, 4);
    rb_double(r, "crc_check_chance", 1.0);
    rb_int(r, "default_time_to_live", t->default_ttl_s);
    rb_coll(r, "extensions", NULL, 0);
    static const char *const flags[] = {"compound"};
    rb_coll(r, "flags", flags, 1);
    rb_int(r, "gc_grace_seconds", t->gc_grace_s);
    rb_bytes(r, "id", t->id, 16);
    rb_int(r, "max_index_interval", 2048);
    rb_int(r, "memtable_flush_period_in_ms", 0);
    rb_int(r, "min_index_interval", 128);
    rb_text(r, "read_repair", "BLOCKING");
    rb_text(r, "speculative_retry", "99p");
    return rb_emit(r, emit, ctx);
}

static int colname_cmp(const void *a, const void *b)
{
    return strcmp((*(const sb_column *const *)a)->name, (*(const sb_column *const *)b)->name);
}

static int emit_column_rows(rowb *r, const sb_table *t, sb_cql_emit_fn emit, void *ctx)
{
    const sb_column *sorted[512];
    int n = t->ncols < 512 ? t->ncols : 512;
    for (int i = 0; i < n; i++)
        sorted[i] = &t->cols[i];
    qsort(sorted, (size_t)n, sizeof *sorted, colname_cmp);
    for (int i = 0; i < n; i++) {
        const sb_column *c = sorted[i];
        rb_reset(r);
        rb_text(r, "keyspace_name", t->keyspace);
        rb_text(r, "table_name", t->name);
        rb_text(r, "column_name", c->name);
        rb_text(r, "clustering_order",
                c->kind == SB_COL_CLUSTERING ? (c->desc ? "desc" : "asc") : "none");
        rb_bytes(r, "column_name_bytes", c->name, strlen(c->name));
        rb_text(r, "kind",
                c->kind == SB_COL_PARTITION    ? "partition_key"
                : c->kind == SB_COL_CLUSTERING ? "clustering"
                : c->kind == SB_COL_STATIC     ? "static"
                                               : "regular");
        rb_int(r, "position",
               c->kind == SB_COL_PARTITION || c->kind == SB_COL_CLUSTERING ? c->position : -1);
        char tn[128];
        sb_type ty = c->type;
        rb_text(r, "type", sb_type_name(ty, tn, sizeof tn));
        int rc = rb_emit(r, emit, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int tbl_cmp(const void *a, const void *b)
{
    return strcmp((*(const sb_table *const *)a)->name, (*(const sb_table *const *)b)->name);
}

static int ks_cmp(const void *a, const void *b)
{
    return strcmp((*(const sb_keyspace *const *)a)->name, (*(const sb_keyspace *const *)b)->name);
}

/* Calls fn for every table of keyspace ks (a virtual or a stored one), in
 * name order. */
static int for_tables(cqlp_systables *st, const char *ks, const sb_keyspace *k,
                      int (*fn)(rowb *, const sb_table *, int, sb_buf *, sb_cql_emit_fn, void *),
                      rowb *r, sb_buf *store, sb_cql_emit_fn emit, void *ctx)
{
    const sb_table *list[1024];
    int n = 0, is_virtual = k == NULL;
    if (k) {
        for (int i = 0; i < k->ntables && n < 1024; i++)
            list[n++] = k->tables[i];
    } else {
        for (int i = 0; i < T_COUNT; i++)
            if (!strcmp(st->tables[i].keyspace, ks))
                list[n++] = &st->tables[i];
    }
    qsort(list, (size_t)n, sizeof *list, tbl_cmp);
    for (int i = 0; i < n; i++) {
        int rc = fn(r, list[i], is_virtual, store, emit, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int columns_fn(rowb *r, const sb_table *t, int is_virtual, sb_buf *store,
                      sb_cql_emit_fn emit, void *ctx)
{
    return emit_column_rows(r, t, emit, ctx);
}

static int scan_schema(cqlp_systables *st, int which, rowb *r, sb_cql_emit_fn emit, void *ctx)
{
    const sb_schema *s = sb_store_schema(st->store);
    const sb_keyspace *ks[1024];
    int nks = s->nks < 1024 ? s->nks : 1024;
    for (int i = 0; i < nks; i++)
        ks[i] = s->ks[i];
    qsort(ks, (size_t)nks, sizeof *ks, ks_cmp);
    static const char *const sysks[] = {"system", "system_schema"};
    sb_buf store;
    sb_buf_init(&store);
    int rc = 0;
    /* The two virtual keyspaces first, then the stored ones. */
    for (int i = 0; i < 2 + nks && !rc; i++) {
        const sb_keyspace *k = i < 2 ? NULL : ks[i - 2];
        const char *name = k ? k->name : sysks[i];
        switch (which) {
        case T_KEYSPACES: {
            rb_reset(r);
            rb_text(r, "keyspace_name", name);
            rb_bool(r, "durable_writes", k ? k->durable_writes : 1);
            const char *kv[32];
            int n = json_to_pairs(k ? k->replication_json : NULL, "org.apache.cassandra.locator.",
                                  k ? "org.apache.cassandra.locator.SimpleStrategy"
                                    : "org.apache.cassandra.locator.LocalStrategy",
                                  &store, kv, 32);
            if (n < 0) {
                rc = SB_ENOMEM;
                break;
            }
            rb_coll(r, "replication", kv, n);
            rc = rb_emit(r, emit, ctx);
            break;
        }
        case T_TABLES:
            rc = for_tables(st, name, k, emit_table_row, r, &store, emit, ctx);
            break;
        case T_COLUMNS:
            rc = for_tables(st, name, k, columns_fn, r, &store, emit, ctx);
            break;
        default:
            break; /* no types, functions, aggregates, triggers, indexes, views or
                    dropped columns */
        }
    }
    sb_buf_free(&store);
    return rc;
}

static const sb_table *vt_lookup(void *arg, const char *ks, const char *table)
{
    cqlp_systables *st = arg;
    for (int i = 0; i < T_COUNT; i++)
        if (!strcmp(st->tables[i].keyspace, ks) && !strcmp(st->tables[i].name, table))
            return &st->tables[i];
    return NULL;
}

static int vt_scan(void *arg, const sb_table *t, sb_cql_emit_fn emit, void *ctx, char *errmsg)
{
    cqlp_systables *st = arg;
    int which = (int)(t - st->tables);
    if (which < 0 || which >= T_COUNT)
        return sb_seterr(errmsg, SB_EINVALID, "unknown system table %s.%s", t->keyspace, t->name);
    rowb r;
    memset(&r, 0, sizeof r);
    r.t = t;
    sb_buf_init(&r.buf);
    sb_buf_init(&r.tmp);
    rb_reset(&r);
    int rc = 0;
    switch (which) {
    case T_LOCAL:
        rc = scan_local(st, &r, emit, ctx);
        break;
    case T_PEERS:
    case T_PEERS_V2:
        rc = scan_gossip_peers(st, which == T_PEERS_V2, emit, ctx);
        break;
    default:
        rc = scan_schema(st, which, &r, emit, ctx);
        break;
    }
    sb_buf_free(&r.buf);
    sb_buf_free(&r.tmp);
    if (rc == SB_ENOMEM)
        sb_seterr(errmsg, rc, "out of memory reading %s.%s", t->keyspace, t->name);
    return rc;
}

void cqlp_systables_vtables(cqlp_systables *st, sb_cql_vtables *vt)
{
    vt->lookup = vt_lookup;
    vt->scan = vt_scan;
    vt->arg = st;
}
