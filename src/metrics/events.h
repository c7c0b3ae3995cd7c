/*
 * The node's event timeline: a ring of the last events (a peer went down
 * or came back, hints were stored or replayed, a read was repaired, the
 * schema changed, a fault was injected), served by GET /api/v1/events.
 *
 * NOTES ON THE DESIGN
 *
 * - The ring (sb_node_events) is plain memory with no I/O, so it is
 *   unit-tested on its own. Sequence numbers start at 1 and grow by one
 *   per event; once the ring is full the oldest event is overwritten, so
 *   the events held are always seq first..last with no holes.
 * - A reader says which events it has (the last seq it saw, 0 for none)
 *   and gets the newer ones still held; a reader that fell more than the
 *   ring's capacity behind silently misses the overwritten ones.
 * - The sources (node_event_sources.c) all run on the node's loop thread,
 *   as does the HTTP API that reads the ring: there is no locking.
 */
#ifndef SB_NODE_EVENTS_H
#define SB_NODE_EVENTS_H

#include <stdint.h>

#define SB_NODE_EVENTS_CAPACITY 1024
#define SB_NODE_EVENT_TYPE_MAX 24
#define SB_NODE_EVENT_PEER_MAX 64
#define SB_NODE_EVENT_MSG_MAX 200

typedef struct sb_node_event {
    uint64_t seq;
    int64_t time_ms;                   /* wall clock, ms since the epoch */
    char type[SB_NODE_EVENT_TYPE_MAX]; /* "node_down", ... */
    char peer[SB_NODE_EVENT_PEER_MAX]; /* listen address, "" = none */
    uint64_t count;                    /* 0 = not a counted event */
    char message[SB_NODE_EVENT_MSG_MAX];
} sb_node_event;

typedef struct sb_node_events sb_node_events;

/* A ring of capacity events (> 0). NULL when out of memory. */
sb_node_events *sb_node_events_new(int capacity);
void sb_node_events_free(sb_node_events *ev);

/* Appends an event; strings are truncated to their field sizes, peer may
 * be NULL. Returns its seq. */
uint64_t sb_node_events_add(sb_node_events *ev, int64_t time_ms, const char *type, const char *peer,
                            uint64_t count, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The seq of the newest event (0 when none yet) and of the oldest event
 * still held (0 when none). */
uint64_t sb_node_events_last(const sb_node_events *ev);
uint64_t sb_node_events_first(const sb_node_events *ev);

/* The event with that seq, or NULL if it was overwritten or does not
 * exist yet. Valid until the next sb_node_events_add. */
const sb_node_event *sb_node_events_get(const sb_node_events *ev, uint64_t seq);

/* The first seq to show a reader that has everything up to `since`:
 * since + 1, or the oldest held event when since + 1 was overwritten.
 * A since beyond the newest event (the reader saw an earlier run of this
 * node, whose numbering restarted) shows everything held. */
uint64_t sb_node_events_start(const sb_node_events *ev, uint64_t since);

/* Wall clock in ms since the epoch. */
int64_t sb_node_events_now_ms(void);

/* --- sources (node_event_sources.c) -------------------------------------- */
typedef struct sb_node_view sb_node_view;
/* Creates n->events and starts feeding it: gossip membership events, and
 * a 1 s timer that turns hint, read-repair and schema changes into
 * events. Call once the cluster exists. 0 or SB_ENOMEM. */
int sb_node_events_start_sources(sb_node_view *n);
/* The Raft group's event hook (sb_group_event_fn); arg is the
 * sb_node_view. Events before the ring exists are dropped. */
typedef struct sb_group_event sb_group_event;
void sb_node_events_on_raft(void *arg, const sb_group_event *ev);
/* Stops the timer (its handle is released by the next loop run). */
void sb_node_events_stop_sources(sb_node_view *n);
/* Frees n->events (after the loop released the timer). */
void sb_node_events_free_sources(sb_node_view *n);

#endif
