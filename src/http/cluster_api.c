/*
 * GET /api/v1/cluster[?keyspace=KS]: the node's view of the cluster, as
 * `sibyl status` and `sibyl ring` print it (docs/http-api.md).
 *
 * NOTES ON THE DESIGN
 *
 * - The members and the ring come from gossip (every node has a cluster).
 * - The view is read synchronously on the loop thread: gossip's members
 *   and ring cannot change during the call, so one answer is one
 *   consistent snapshot.
 * - Tokens are strings: an int64 does not survive JSON numbers (doubles).
 * - "owns" is the fraction (0..1) of the token space whose primary range
 *   the node holds; with ?keyspace=KS it is the effective ownership under
 *   that keyspace's replication (the fraction of the data the node holds a
 *   replica of, summing to the replication factor), as nodetool prints it.
 *   Members not on the ring (joining, left) own 0.
 * - "raft" (top level) is this node's view of the metadata Raft group:
 *   the leader it knows (null: none, e.g. in a minority), the term, how
 *   many vote and how many are learners; each node's "raft" is its role
 *   in that view ("leader", "voter", "learner", null: not in the group).
 *   Both are null on a node that runs no group yet.
 * - &table=T (with keyspace) answers 404 unless this node's schema has
 *   the table: tools wait on it for the schema to reach every node.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "cluster/ring.h"
#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "util/ep.h"
#include "util/err.h"
#include "util/hex.h"

/* One member as the answer shows it. */
typedef struct view_node {
    char address[SB_ADDR_MAX];
    char listen[SB_ADDR_MAX];
    char cql[SB_ADDR_MAX];
    char http[SB_ADDR_MAX];
    const uint8_t *host_id; /* NULL: unknown */
    const char *dc;
    const char *rack;
    const char *status;
    int up;
    double phi;
    int64_t generation;
    uint32_t heartbeat;
    uint64_t load_bytes;
    const int64_t *tokens;
    int ntokens;
    double owns;
    const uint8_t *schema_version; /* NULL: unknown */
    uint64_t hints_pending;
    const char *raft;           /* "leader", "voter", "learner", NULL */
    const char *refuses_writes; /* the local node only: why, or NULL */
} view_node;

static void put_uuid(sb_buf *b, const uint8_t *u)
{
    if (!u) {
        sb_buf_printf(b, "null");
        return;
    }
    sb_buf_putc(b, '"');
    sb_uuid_append(b, u);
    sb_buf_putc(b, '"');
}

static void put_str(sb_buf *b, const char *s)
{
    if (!s || !*s)
        sb_buf_printf(b, "null");
    else
        sb_json_append_string(b, s, strlen(s));
}

static void put_node(sb_buf *b, const view_node *v)
{
    sb_buf_printf(b, "{\"address\": ");
    put_str(b, v->address);
    sb_buf_printf(b, ", \"listen\": ");
    put_str(b, v->listen);
    sb_buf_printf(b, ", \"cql\": ");
    put_str(b, v->cql);
    sb_buf_printf(b, ", \"http\": ");
    put_str(b, v->http);
    sb_buf_printf(b, ", \"host_id\": ");
    put_uuid(b, v->host_id);
    sb_buf_printf(b, ", \"dc\": ");
    put_str(b, v->dc);
    sb_buf_printf(b, ", \"rack\": ");
    put_str(b, v->rack);
    sb_buf_printf(b, ", \"status\": ");
    put_str(b, v->status);
    sb_buf_printf(b,
                  ", \"state\": \"%s\", \"phi\": %.3f, \"generation\": %" PRId64
                  ", \"heartbeat\": %" PRIu32 ", \"load_bytes\": %" PRIu64 ", \"tokens\": [",
                  v->up ? "up" : "down", v->phi, v->generation, v->heartbeat, v->load_bytes);
    for (int i = 0; i < v->ntokens; i++)
        sb_buf_printf(b, "%s\"%" PRId64 "\"", i ? ", " : "", v->tokens[i]);
    sb_buf_printf(b, "], \"ntokens\": %d, \"owns\": %.6f, \"schema_version\": ", v->ntokens,
                  v->owns);
    put_uuid(b, v->schema_version);
    sb_buf_printf(b, ", \"hints_pending\": %" PRIu64 ", \"raft\": ", v->hints_pending);
    put_str(b, v->raft);
    if (v->refuses_writes) {
        /* known for the answering node only (not gossiped) */
        sb_buf_printf(b, ", \"read_only\": true, \"read_only_reason\": ");
        put_str(b, v->refuses_writes);
    }
    sb_buf_putc(b, '}');
}

static void ep_strings(const sb_ep *e, char *out, int host_only)
{
    if (!e->family) {
        out[0] = '\0';
        return;
    }
    if (host_only)
        sb_ep_host(e, out);
    else
        sb_ep_str(e, out);
}

/* m's role in the group as this node sees it, or NULL. */
static const char *raft_role(const sb_group_status *st, const sb_ep *m)
{
    if (!st)
        return NULL;
    if (st->has_leader && sb_ep_eq(&st->leader, m))
        return "leader";
    for (int i = 0; i < st->nvoters; i++)
        if (sb_ep_eq(&st->voters[i], m))
            return "voter";
    for (int i = 0; i < st->nlearners; i++)
        if (sb_ep_eq(&st->learners[i], m))
            return "learner";
    return NULL;
}

static void put_raft(sb_buf *b, const sb_group_status *st)
{
    char ep[SB_EP_STRLEN];
    if (!st) {
        sb_buf_printf(b, "null");
        return;
    }
    sb_buf_printf(b, "{\"leader\": ");
    put_str(b, st->has_leader ? sb_ep_str(&st->leader, ep) : NULL);
    sb_buf_printf(b, ", \"term\": %" PRIu64 ", \"role\": \"%s\", \"voters\": %d, \"learners\": %d}",
                  st->term, st->role, st->nvoters, st->nlearners);
}

/* The view from gossip. repl NULL: primary ownership. Returns 0 or
 * SB_ENOMEM. */
static int cluster_view(sb_node_view *n, const sb_repl *repl, sb_buf *b)
{
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    sb_hints *h = sb_cluster_hints(n->cluster);
    const sb_ring *r = sb_gossip_ring(g);
    int nring = r ? sb_ring_nnodes(r) : 0;
    double *owns = calloc((size_t)(nring ? nring : 1), sizeof *owns);
    if (!owns)
        return SB_ENOMEM;
    if (nring)
        sb_ring_ownership(r, repl, owns);

    sb_group *grp = sb_cluster_group(n->cluster);
    sb_group_status gst, *st = NULL;
    if (grp) {
        sb_group_get_status(grp, &gst);
        st = strcmp(gst.role, "none") ? &gst : NULL;
    }
    const sb_member *self = sb_gossip_self(g);
    char local[SB_EP_STRLEN];
    sb_buf_printf(b, "{\"cluster_name\": ");
    put_str(b, n->cluster_name);
    sb_buf_printf(b, ", \"local\": ");
    put_str(b, sb_ep_str(&self->ep, local));
    sb_buf_printf(b, ", \"nodes\": [");
    int nm = sb_gossip_nmembers(g);
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        view_node v;
        memset(&v, 0, sizeof v);
        ep_strings(&m->ep, v.address, 1);
        ep_strings(&m->ep, v.listen, 0);
        ep_strings(&m->rpc, v.cql, 0);
        ep_strings(&m->http, v.http, 0);
        static const uint8_t zero[16];
        v.host_id = memcmp(m->host_id, zero, 16) ? m->host_id : NULL;
        v.dc = m->dc;
        v.rack = m->rack;
        v.status = m->status ? sb_node_status_name(m->status) : "UNKNOWN";
        v.up = m->is_self || m->up;
        v.phi = m->is_self ? 0 : m->phi;
        v.generation = m->generation;
        v.heartbeat = m->heartbeat;
        v.load_bytes = m->is_self ? sb_store_load_bytes(n->store) : m->load_bytes;
        v.tokens = m->tokens;
        v.ntokens = m->ntokens;
        int ri = nring ? sb_ring_find(r, &m->ep) : -1;
        v.owns = ri >= 0 ? owns[ri] : 0;
        v.schema_version = memcmp(m->schema_version, zero, 16) ? m->schema_version : NULL;
        v.hints_pending = (h && !m->is_self) ? sb_hints_pending(h, &m->ep) : 0;
        v.raft = raft_role(st, &m->ep);
        char why[512] = "";
        if (m->is_self)
            sb_store_disk_why(n->store, why, sizeof why);
        v.refuses_writes = why[0] ? why : NULL;
        if (i)
            sb_buf_printf(b, ", ");
        put_node(b, &v);
    }
    sb_buf_printf(b, "], \"raft\": ");
    put_raft(b, st);
    sb_buf_printf(b, ", \"ring\": [");
    int nt = r ? sb_ring_ntokens(r) : 0;
    for (int i = 0; i < nt; i++) {
        char host[SB_EP_STRLEN];
        const sb_ring_node *rn = sb_ring_node_at(r, sb_ring_owner_at(r, i));
        sb_buf_printf(b, "%s{\"token\": \"%" PRId64 "\", \"address\": \"%s\"}", i ? ", " : "",
                      sb_ring_token_at(r, i), sb_ep_host(&rn->ep, host));
    }
    sb_buf_printf(b, "]}\n");
    free(owns);
    return 0;
}

void sb_http_handle_cluster(sb_node_view *n, sb_http_req *req)
{
    char ks[256], errmsg[SB_ERRMSG_SIZE], msg[SB_ERRMSG_SIZE + 600];
    int has_ks = sb_http_query_param(req, "keyspace", ks, sizeof ks);
    if (has_ks < 0) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          "keyspace: malformed or longer than 255 bytes");
        return;
    }
    char table[256];
    int has_table = sb_http_query_param(req, "table", table, sizeof table);
    if (has_table < 0 || (has_table && !has_ks)) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          has_table < 0 ? "table: malformed or longer than 255 bytes"
                                        : "table needs keyspace");
        return;
    }
    sb_repl repl, *p = NULL;
    if (has_ks) {
        const sb_keyspace *k = sb_schema_keyspace(sb_store_schema(n->store), ks);
        if (!k) {
            snprintf(msg, sizeof msg, "keyspace=%.255s: no such keyspace", ks);
            sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
            return;
        }
        if (has_table && !sb_schema_table(sb_store_schema(n->store), ks, table)) {
            snprintf(msg, sizeof msg, "table=%.255s: no such table in keyspace %.255s", table, ks);
            sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
            return;
        }
        if (sb_repl_parse(k->replication_json, &repl, errmsg) != 0) {
            snprintf(msg, sizeof msg, "keyspace %.255s: replication %.200s: %s", ks,
                     k->replication_json, errmsg);
            sb_http_reply_err(req->pending, SB_ESERVER, msg);
            return;
        }
        p = &repl;
    }
    sb_buf b;
    sb_buf_init(&b);
    int rv = cluster_view(n, p, &b);
    if (rv != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}
