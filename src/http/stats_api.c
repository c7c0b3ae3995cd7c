/*
 * GET /api/v1/stats: the node's live numbers as JSON (node_stats.h,
 * docs/metrics.md), cumulative since the node started, for the dashboard
 * to diff between polls. Read synchronously on the loop thread, so one
 * answer is one consistent snapshot of the loop-side counters.
 */
#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "metrics/node_stats.h"
#include "util/buf.h"
#include "util/err.h"

void sb_http_handle_stats(sb_node_view *n, sb_http_req *req)
{
    if (!n->stats) {
        sb_http_reply_err(req->pending, SB_EUNAVAILABLE,
                          "statistics are not available yet (the node is starting)");
        return;
    }
    sb_buf b;
    sb_buf_init(&b);
    if (node_stats_json(n->stats, &b) != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory rendering stats");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}
