/*
 * The cluster test fixture (fixture.h): a thin layer over the world that
 * owns each node's process and routes delivered messages to it. The
 * world keeps time, network, storage and faults; this file only adds who
 * runs on a node and how a node ends.
 */
#include <stdlib.h>
#include <string.h>

#include "dsim/fixture.h"

typedef struct fnode {
    const sb_fixture_proc *ops;
    void *obj;
} fnode;

struct sb_fixture {
    dsim_world *w;
    int n;
    fnode nodes[DSIM_MAX_NODES];
};

static void deliver(void *arg, int node, int type, const uint8_t *payload, size_t len)
{
    sb_fixture *f = arg;
    fnode *d = &f->nodes[node];
    if (d->ops && d->ops->receive)
        d->ops->receive(d->obj, type, payload, len);
}

sb_fixture *sb_fixture_new(uint64_t seed, int nnodes, const dsim_net *net, FILE *trace)
{
    sb_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->w = dsim_world_new(seed, nnodes, trace);
    if (!f->w) {
        free(f);
        return NULL;
    }
    f->n = nnodes;
    dsim_set_receiver(f->w, deliver, f);
    if (net)
        dsim_set_net(f->w, net);
    return f;
}

static void proc_free(sb_fixture *f, int node)
{
    fnode *d = &f->nodes[node];
    const sb_fixture_proc *ops = d->ops;
    void *obj = d->obj;
    /* Detach first: a message can never reach a process being freed. */
    d->ops = NULL;
    d->obj = NULL;
    if (ops && ops->free)
        ops->free(obj);
}

void sb_fixture_free(sb_fixture *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        proc_free(f, i);
    dsim_world_free(f->w);
    free(f);
}

dsim_world *sb_fixture_world(sb_fixture *f)
{
    return f->w;
}

int sb_fixture_nnodes(const sb_fixture *f)
{
    return f->n;
}

uint64_t sb_fixture_now_us(const sb_fixture *f)
{
    return dsim_now_us(f->w);
}

sb_ep sb_fixture_ep(int node)
{
    return dsim_node_ep(node);
}

const sb_io *sb_fixture_io(sb_fixture *f, int node)
{
    return dsim_node_alive(f->w, node) ? dsim_node_boot(f->w, node) : NULL;
}

int sb_fixture_alive(const sb_fixture *f, int node)
{
    return dsim_node_alive(f->w, node);
}

const sb_io *sb_fixture_boot(sb_fixture *f, int node)
{
    if (!dsim_node_alive(f->w, node))
        dsim_node_release(f->w, node); /* the last incarnation's io */
    return dsim_node_boot(f->w, node);
}

void sb_fixture_attach(sb_fixture *f, int node, const sb_fixture_proc *ops, void *obj)
{
    f->nodes[node].ops = ops;
    f->nodes[node].obj = obj;
}

void *sb_fixture_proc_obj(sb_fixture *f, int node)
{
    return f->nodes[node].obj;
}

const sb_fixture_proc *sb_fixture_proc_ops(const sb_fixture *f, int node)
{
    return f->nodes[node].ops;
}

void sb_fixture_crash(sb_fixture *f, int node)
{
    if (!dsim_node_alive(f->w, node))
        return;
    /* The world fails the dead process's pending storage callbacks first,
     * while the process still exists to receive them. */
    dsim_node_crash(f->w, node);
    proc_free(f, node);
    dsim_node_release(f->w, node);
}

void sb_fixture_stop(sb_fixture *f, int node)
{
    if (!dsim_node_alive(f->w, node))
        return;
    fnode *d = &f->nodes[node];
    if (d->ops && d->ops->stop)
        d->ops->stop(d->obj);
    dsim_node_stop(f->w, node);
    proc_free(f, node);
    dsim_node_release(f->w, node);
}

int sb_fixture_step(sb_fixture *f)
{
    return dsim_step(f->w);
}

void sb_fixture_run_for(sb_fixture *f, uint64_t us)
{
    dsim_run_until(f->w, dsim_now_us(f->w) + us);
}

int sb_fixture_step_until(sb_fixture *f, int (*pred)(sb_fixture *f, void *arg), void *arg,
                          uint64_t max_us)
{
    uint64_t end = dsim_now_us(f->w) + max_us;
    if (pred(f, arg))
        return 1;
    /* One event at a time, never past the deadline: a test that waits
     * for a condition learns the instant it began to hold. */
    while (dsim_next_us(f->w) <= end) {
        dsim_step(f->w);
        if (pred(f, arg))
            return 1;
    }
    dsim_run_until(f->w, end);
    return 0;
}

void sb_fixture_set_net(sb_fixture *f, const dsim_net *net)
{
    dsim_set_net(f->w, net);
}

void sb_fixture_partition(sb_fixture *f, const int *group)
{
    dsim_partition(f->w, group);
}

void sb_fixture_isolate(sb_fixture *f, int node)
{
    int group[DSIM_MAX_NODES] = {0};
    group[node] = 1;
    dsim_partition(f->w, group);
}

void sb_fixture_heal(sb_fixture *f)
{
    dsim_heal(f->w);
}

void sb_fixture_set_skew(sb_fixture *f, int node, int64_t skew_us)
{
    dsim_set_skew(f->w, node, skew_us);
}

void sb_fixture_drop_in(sb_fixture *f, int node, uint32_t type_mask)
{
    dsim_set_drop_in(f->w, node, type_mask);
}

void sb_fixture_refuse_sends(sb_fixture *f, int node, int rv)
{
    dsim_set_send_error(f->w, node, rv);
}

void sb_fixture_fail_kv_puts(sb_fixture *f, int node, int rv)
{
    dsim_set_kv_put_error(f->w, node, rv);
}

void sb_fixture_tap(sb_fixture *f, dsim_tap_fn fn, void *arg)
{
    dsim_set_tap(f->w, fn, arg);
}

int sb_fixture_timers(const sb_fixture *f, int node)
{
    return dsim_node_timers(f->w, node);
}

dsim_store *sb_fixture_store(sb_fixture *f, int node)
{
    return dsim_node_store(f->w, node);
}
