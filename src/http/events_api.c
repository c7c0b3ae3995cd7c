/*
 * GET /api/v1/events[?since=SEQ]: the node's event timeline
 * (node_events.h, docs/http-api.md).
 *
 * since is the last seq the client already has (0 or absent: all events
 * still held); the answer lists the newer ones, oldest first, and "next"
 * is the seq to pass as since on the next poll (the newest seq so far).
 * A since beyond the newest seq comes from a client that watched an
 * earlier run of this node (numbering restarts at 1 with the process):
 * it gets everything held, and "first" tells it where the ring starts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "metrics/events.h"
#include "util/err.h"

/* Starts a JSON object with this node's listen address as peers name it:
 * {"node": "127.0.0.1:7000" */
void sb_http_json_begin(sb_node_view *n, sb_buf *b)
{
    char ep[SB_EP_STRLEN];
    const char *name = sb_ep_str(&sb_gossip_self(sb_cluster_gossip(n->cluster))->ep, ep);
    sb_buf_init(b);
    sb_buf_printf(b, "{\"node\": ");
    sb_json_append_string(b, name, strlen(name));
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void put_event(sb_buf *b, const sb_node_event *e)
{
    sb_buf_printf(b, "{\"seq\": %" PRIu64 ", \"time_ms\": %" PRId64 ", \"type\": ", e->seq,
                  e->time_ms);
    sb_json_append_string(b, e->type, strlen(e->type));
    sb_buf_printf(b, ", \"peer\": ");
    if (e->peer[0])
        sb_json_append_string(b, e->peer, strlen(e->peer));
    else
        sb_buf_printf(b, "null");
    if (e->count)
        sb_buf_printf(b, ", \"count\": %" PRIu64, e->count);
    sb_buf_printf(b, ", \"message\": ");
    sb_json_append_string(b, e->message, strlen(e->message));
    sb_buf_printf(b, "}");
}

void sb_http_handle_events(sb_node_view *n, sb_http_req *req)
{
    char text[32], msg[128];
    uint64_t since = 0;
    int has = sb_http_query_param(req, "since", text, sizeof text);
    if (has < 0 || (has > 0 && parse_u64(text, &since) != 0)) {
        snprintf(msg, sizeof msg, "since=%.*s: expected the last event seq seen (an integer >= 0)",
                 has < 0 ? 3 : 40, has < 0 ? "..." : text);
        sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
        return;
    }
    sb_buf b;
    sb_http_json_begin(n, &b);
    uint64_t last = n->events ? sb_node_events_last(n->events) : 0;
    uint64_t first = n->events ? sb_node_events_first(n->events) : 0;
    sb_buf_printf(&b, ", \"next\": %" PRIu64 ", \"first\": %" PRIu64 ", \"events\": [", last,
                  first);
    if (n->events) {
        int k = 0;
        for (uint64_t s = sb_node_events_start(n->events, since); s <= last; s++) {
            const sb_node_event *e = sb_node_events_get(n->events, s);
            if (!e)
                continue;
            if (k++)
                sb_buf_printf(&b, ", ");
            put_event(&b, e);
        }
    }
    if (sb_buf_printf(&b, "]}\n") != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}
