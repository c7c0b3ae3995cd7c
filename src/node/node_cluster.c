/*
 * The node's cluster: the transport on --listen, the production sb_io,
 * the cluster (gossip, coordinator, hints, schema agreement) and the CQL
 * engine's reads and writes through the coordinator.
 *
 * Every node is a cluster member, a single node being a cluster of one
 * that seeds itself, so a statement runs the same way on one node as on
 * ten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/stream_metrics.h"
#include "net/transport.h"
#include "node/node_cluster.h"
#include "node/node.h"
#include "metrics/node_stats.h"
#include "metrics/events.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/hlc.h"
#include "util/log.h"

static sb_node_io node_io;
static sb_cql_glue glue;

static void on_frame(void *arg, int type, const uint8_t *payload, size_t len)
{
    sb_node *n = arg;
    if (type == SB_MSG_STREAM_PULL) {
        if (n->v.stream)
            sb_stream_receive(n->v.stream, type, payload, len);
    } else if (n->v.cluster) {
        sb_cluster_receive(n->v.cluster, type, payload, len);
    }
}

/* Tables a stream copies when it names none: every table outside the
 * system keyspaces (those hold this node's own metadata). */
static size_t list_tables(void *arg, uint8_t (*ids)[16], size_t max)
{
    sb_node *n = arg;
    const sb_schema *s = sb_store_schema(n->v.store);
    size_t k = 0;
    for (int i = 0; i < s->nks; i++) {
        if (!strncmp(s->ks[i]->name, "system", 6))
            continue;
        for (int j = 0; j < s->ks[i]->ntables && k < max; j++)
            memcpy(ids[k++], s->ks[i]->tables[j]->id, 16);
    }
    return k;
}

static int start_stream(sb_node *n, const sb_ep *self, char *errmsg)
{
    sb_stream_opts so;
    sb_stream_opts_default(&so);
    so.throughput_mb_per_sec = (uint32_t)n->cfg.stream_mb_per_sec;
    so.list_tables = list_tables;
    so.list_arg = n;
    n->v.stream = sb_stream_new(&node_io.io, sb_cluster_rpc(n->v.cluster), self, &so);
    if (!n->v.stream || sb_stream_metrics_install(n->v.metrics, n->v.stream) != 0)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory for range streaming");
    return 0;
}

static void local_refusal(void *arg, char *buf, size_t size)
{
    sb_store_disk_why(arg, buf, size);
}

static void on_schema_change(void *arg)
{
    sb_cql_glue_schema_changed(arg);
}

static int parse_seeds(const char *list, const sb_ep *self, sb_ep *out, int max, char *errmsg)
{
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (n == max)
            return sb_seterr(errmsg, SB_ECONFIG, "seeds: more than %d seeds", max);
        if (sb_ep_parse(tok, 7000, &out[n]) != 0)
            return sb_seterr(errmsg, SB_ECONFIG, "seeds: '%s' is not an IP address[:port]", tok);
        n++;
    }
    if (n == 0)
        out[n++] = *self; /* a cluster of one seeds itself */
    return n;
}

int sb_node_cluster_start(sb_node *n, const uint8_t host_id[16], sb_cql_engine_opts *eo,
                          char *errmsg)
{
    sb_cluster_opts co;
    sb_cluster_opts_default(&co);
    sb_gossip_opts *go = &co.gossip;
    if (sb_ep_parse(n->cfg.listen_addr, 7000, &go->self) != 0)
        return sb_seterr(errmsg, SB_ECONFIG,
                         "listen_address '%s' must be an IP address and port (node-to-node "
                         "traffic needs an address other nodes can reach)",
                         n->cfg.listen_addr);
    if (sb_ep_parse(n->cfg.cql_addr, 9042, &go->rpc) != 0)
        go->rpc = go->self;
    if (sb_ep_parse(n->cfg.http_addr, 8080, &go->http) != 0)
        go->http = go->self;
    static sb_ep seeds[64];
    int ns = parse_seeds(n->cfg.seeds, &go->self, seeds, 64, errmsg);
    if (ns < 0)
        return ns;
    go->seeds = seeds;
    go->nseeds = ns;
    snprintf(go->cluster_name, sizeof go->cluster_name, "%.*s", (int)sizeof go->cluster_name - 1,
             n->cfg.cluster_name);
    memcpy(go->host_id, host_id, 16);
    snprintf(go->dc, sizeof go->dc, "%.*s", (int)sizeof go->dc - 1, n->cfg.dc);
    snprintf(go->rack, sizeof go->rack, "%.*s", (int)sizeof go->rack - 1, n->cfg.rack);
    snprintf(go->release_version, sizeof go->release_version, "4.0.11");
    go->num_tokens = n->cfg.num_tokens;
    go->interval_ms = n->cfg.gossip_interval_ms;
    go->phi_threshold = n->cfg.phi_convict_threshold;
    go->ring_delay_ms = 2 * n->cfg.gossip_interval_ms;
    go->settle_ms = n->cfg.settle_timeout_ms;

    co.coord.write_timeout_ms = (uint32_t)n->cfg.write_timeout_ms;
    co.coord.read_timeout_ms = (uint32_t)n->cfg.read_timeout_ms;
    co.coord.range_timeout_ms = (uint32_t)n->cfg.range_timeout_ms;
    co.coord.max_inflight = (uint32_t)n->cfg.max_inflight;
    co.rpc_max_pending = n->cfg.rpc_max_pending;
    co.raft = 1; /* the metadata Raft group (consensus/group.h) */
    sb_cql_glue_fsm(&glue, &co.group.fsm);
    co.group.on_event = sb_node_events_on_raft; /* the event timeline */
    co.group.event_arg = &n->v;
    co.coord.table_repl = sb_cql_glue_table_repl;
    co.coord.local_refusal = local_refusal;
    co.coord.local_refusal_arg = n->v.store;
    co.coord.table_repl_arg = &glue;
    n->v.stats = node_stats_new(&n->v);
    if (!n->v.stats)
        return sb_seterr(errmsg, SB_ENOMEM, "cannot register the node's statistics");
    node_stats_install(n->v.stats, &co.coord);
    co.hints.max_window_ms = n->cfg.max_hint_window_ms;
    co.hints.replay_per_sec = (uint32_t)n->cfg.hints_per_second;

    sb_transport_opts to;
    sb_transport_opts_default(&to);
    to.listen = go->self;
    to.recv = on_frame;
    to.recv_arg = n;
    to.hlc = sb_hlc_node(); /* frames carry the node's clocks (util/hlc.h) */
    int rc = sb_transport_start(&n->v.transport, n->v.loop, &to, errmsg);
    if (rc != 0)
        return rc;
    sb_node_io_init(&node_io, n->v.loop, n->v.store, n->v.transport);
    glue.store = n->v.store;
    glue.io = &node_io.io;
    sb_cql_glue_schema_ops(&glue, &co.schema);
    n->v.cluster = sb_cluster_new(&node_io.io, &co, errmsg);
    if (!n->v.cluster)
        return SB_ECONFIG;
    glue.cluster = n->v.cluster;
    if ((rc = start_stream(n, &go->self, errmsg)) != 0)
        return rc;
    sb_cql_glue_install(&glue, eo);
    eo->on_schema_change = on_schema_change;
    eo->schema_arg = &glue;
    eo->ddl = sb_cql_glue_ddl; /* CQL schema changes through the Raft group */
    eo->ddl_arg = &glue;
    memcpy(glue.seen_version, sb_store_schema(n->v.store)->version, 16);
    if (sb_node_events_start_sources(&n->v) != 0)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory for the event ring");
    char ep[SB_EP_STRLEN];
    SB_INFO("node", "cluster member", "listen=%s seeds=%d dc=%s rack=%s num_tokens=%d",
            sb_ep_str(&go->self, ep), ns, go->dc, go->rack, go->num_tokens);
    return 0;
}

void sb_node_cluster_run(sb_node *n)
{
    glue.engine = n->v.cql; /* the group's state machine runs DDL on it */
    sb_cluster_start(n->v.cluster);
}

void *sb_node_cluster_write_arg(void)
{
    return &glue;
}

void sb_node_cluster_stop(sb_node *n)
{
    sb_node_events_stop_sources(&n->v);
    if (n->v.cluster)
        sb_cluster_stop(n->v.cluster);
}

int sb_node_schema_version(void *arg, uint8_t out[16])
{
    return sb_cql_glue_schema_version(&glue, out);
}

void sb_node_cluster_free(sb_node *n)
{
    if (n->v.stream) {
        sb_stream_metrics_remove(n->v.metrics, n->v.stream);
        sb_stream_free(n->v.stream); /* before the rpc it cancels calls on */
        n->v.stream = NULL;
    }
    if (n->v.cluster)
        sb_cluster_free(n->v.cluster);
    n->v.cluster = NULL;
    node_stats_free(n->v.stats); /* its observers ran until the cluster went */
    n->v.stats = NULL;
    sb_node_events_free_sources(&n->v);
    glue.cluster = NULL;
    sb_buf_free(&glue.cache_blob);
    glue.cache_ok = 0;
}
