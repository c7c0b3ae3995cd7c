/*
 * Whole sb_cluster processes on fixture nodes (fixture.h, "whole
 * clusters"). Apart from fixture.c so that linking the fixture does not
 * pull in every cluster module.
 */
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
