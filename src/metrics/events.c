/*
 * The event ring (node_events.h): a fixed array indexed by seq modulo the
 * capacity. Invariant: the events held are seq max(1, last - cap + 1) ..
 * last, each at slot (seq - 1) % cap.
 */
#include "metrics/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sb_node_events {
    sb_node_event *slots;
    int cap;
    uint64_t last; /* newest seq, 0 = none */
};

sb_node_events *sb_node_events_new(int capacity)
{
    if (capacity <= 0)
        return NULL;
    sb_node_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    ev->slots = calloc((size_t)capacity, sizeof *ev->slots);
    if (!ev->slots) {
        free(ev);
        return NULL;
    }
    ev->cap = capacity;
    return ev;
}

void sb_node_events_free(sb_node_events *ev)
{
    if (!ev)
        return;
    free(ev->slots);
    free(ev);
}

uint64_t sb_node_events_add(sb_node_events *ev, int64_t time_ms, const char *type, const char *peer,
                            uint64_t count, const char *fmt, ...)
{
    uint64_t seq = ev->last + 1;
    sb_node_event *e = &ev->slots[(seq - 1) % (uint64_t)ev->cap];
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->time_ms = time_ms;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "");
    snprintf(e->peer, sizeof e->peer, "%s", peer ? peer : "");
    e->count = count;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    ev->last = seq;
    return seq;
}

uint64_t sb_node_events_last(const sb_node_events *ev)
{
    return ev->last;
}

uint64_t sb_node_events_first(const sb_node_events *ev)
{
    if (ev->last == 0)
        return 0;
    return ev->last > (uint64_t)ev->cap ? ev->last - (uint64_t)ev->cap + 1 : 1;
}

const sb_node_event *sb_node_events_get(const sb_node_events *ev, uint64_t seq)
{
    if (seq == 0 || seq > ev->last || seq < sb_node_events_first(ev))
        return NULL;
    return &ev->slots[(seq - 1) % (uint64_t)ev->cap];
}

uint64_t sb_node_events_start(const sb_node_events *ev, uint64_t since)
{
    uint64_t first = sb_node_events_first(ev);
    if (since > ev->last || first == 0)
        return first ? first : 1;
    return since + 1 < first ? first : since + 1;
}

int64_t sb_node_events_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
