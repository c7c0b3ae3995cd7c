/*
 * Whole sb_cluster processes on fixture nodes (fixture.h, "whole
 * clusters"). Apart from fixture.c so that linking the fixture does not
 * pull in every cluster module.
 */
#include <stdio.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/err.h"

static void cl_receive(void *obj, int type, const uint8_t *payload, size_t len)
{
    sb_cluster_receive(obj, type, payload, len);
}

static void cl_stop(void *obj)
{
    sb_cluster_stop(obj);
}

static void cl_free(void *obj)
{
    sb_cluster_free(obj);
}

static const sb_fixture_proc cluster_proc = {cl_receive, cl_stop, cl_free};

int sb_fixture_start_cluster(sb_fixture *f, int node, const sb_cluster_opts *o, char *errmsg)
{
    const sb_io *io = sb_fixture_boot(f, node);
    if (!io)
        return SB_ENOMEM;
    sb_cluster *c = sb_cluster_new(io, o, errmsg);
    if (!c)
        return SB_ESERVER;
    sb_fixture_attach(f, node, &cluster_proc, c);
    sb_cluster_start(c);
    return 0;
}

sb_cluster *sb_fixture_cluster(sb_fixture *f, int node)
{
    if (sb_fixture_proc_ops(f, node) != &cluster_proc)
        return NULL;
    return sb_fixture_proc_obj(f, node);
}

void sb_fixture_cluster_opts(int node, const char *name, sb_cluster_opts *o)
{
    /* Every cluster's seed is node 0, so one endpoint serves them all. */
    static sb_ep seed;
    seed = sb_fixture_ep(0);
    sb_cluster_opts_default(o);
    snprintf(o->gossip.cluster_name, sizeof o->gossip.cluster_name, "%s", name);
    o->gossip.self = sb_fixture_ep(node);
    o->gossip.rpc = o->gossip.self;
    o->gossip.rpc.port = 9042;
    o->gossip.http = o->gossip.self;
    o->gossip.http.port = 8080;
    char host[32];
    snprintf(host, sizeof host, "%s-host", name);
    size_t n = strlen(host);
    memset(o->gossip.host_id, 0, sizeof o->gossip.host_id);
    memcpy(o->gossip.host_id, host, n < 15 ? n : 15);
    o->gossip.host_id[15] = (uint8_t)(node + 1);
    snprintf(o->gossip.dc, sizeof o->gossip.dc, "dc1");
    snprintf(o->gossip.rack, sizeof o->gossip.rack, "rack1");
    o->gossip.seeds = &seed;
    o->gossip.nseeds = 1;
}

int sb_fixture_clusters_formed(sb_fixture *f, void *arg)
{
    (void)arg;
    int n = sb_fixture_nnodes(f);
    for (int i = 0; i < n; i++) {
        sb_cluster *c = sb_fixture_cluster(f, i);
        if (!c)
            return 0;
        sb_gossip *g = sb_cluster_gossip(c);
        if (sb_ring_nnodes(sb_gossip_ring(g)) != n)
            return 0;
        for (int j = 0; j < n; j++) {
            sb_ep ep = sb_fixture_ep(j);
            if (j != i && !sb_gossip_is_up(g, &ep))
                return 0;
        }
    }
    return 1;
}
