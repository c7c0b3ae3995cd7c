/*
 * GET /api/v1/raft: this node's view of the metadata Raft group
 * (consensus/group.h), as `sibyl status` shows the leader:
 *   {"node": "127.0.0.1:7000", "role": "leader"|"follower"|"candidate"|
 *    "learner"|"none", "leader": "HOST:PORT" or null, "term": N,
 *    "commit_index": N, "applied_index": N, "last_index": N,
 *    "voters": ["HOST:PORT", ...], "members": N, "elections_won": N,
 *    "proposals": N, "proposals_failed": N, "forwarded": N,
 *    "configuration_changes": N,
 *    "topology": {"index": N, "changes": N, "nodes": N, "joining": N,
 *                 "normal": N, "leaving": N}}
 * (topology: the committed topology, cluster/topology.h; index is the log
 * index of its last change.) "none" means the node is not in a group yet (waiting to be added).
 */
#include <inttypes.h>

#include "coord/coord.h"
#include "http/handlers.h"
#include "util/err.h"

void sb_http_handle_raft(sb_node_view *n, sb_http_req *req)
{
    sb_group *g = n->cluster ? sb_cluster_group(n->cluster) : NULL;
    if (!g) {
        sb_http_reply_err(req->pending, SB_EUNAVAILABLE,
                          "this node runs no Raft group (starting, or raft disabled)");
        return;
    }
    sb_group_status st;
    sb_group_get_status(g, &st);
    sb_buf b;
    char ep[SB_EP_STRLEN];
    sb_http_json_begin(n, &b);
    sb_buf_printf(&b, ",\"role\":\"%s\",\"leader\":", st.role);
    if (st.has_leader)
        sb_buf_printf(&b, "\"%s\"", sb_ep_str(&st.leader, ep));
    else
        sb_buf_printf(&b, "null");
    sb_buf_printf(&b,
                  ",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64 ",\"applied_index\":%" PRIu64
                  ",\"last_index\":%" PRIu64 ",\"voters\":[",
                  st.term, st.commit_index, st.applied_index, st.last_index);
    for (int i = 0; i < st.nvoters; i++)
        sb_buf_printf(&b, "%s\"%s\"", i ? "," : "", sb_ep_str(&st.voters[i], ep));
    int rc = sb_buf_printf(&b,
                           "],\"members\":%d,\"elections_won\":%" PRIu64 ",\"proposals\":%" PRIu64
                           ",\"proposals_failed\":%" PRIu64 ",\"forwarded\":%" PRIu64
                           ",\"configuration_changes\":%" PRIu64,
                           st.nmembers, st.elections_won, st.proposals, st.proposals_failed,
                           st.forwarded, st.changes);
    const sb_topo *t = sb_cluster_topology(n->cluster);
    int counts[4] = {0}; /* by status: JOINING, NORMAL, LEAVING */
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].status >= SB_STATUS_JOINING && t->nodes[i].status <= SB_STATUS_LEAVING)
            counts[t->nodes[i].status]++;
    rc = rc ? rc
            : sb_buf_printf(&b,
                            ",\"topology\":{\"index\":%" PRIu64 ",\"changes\":%" PRIu64
                            ",\"nodes\":%d,\"joining\":%d,\"normal\":%d,\"leaving\":%d}}\n",
                            t->index, t->changes, t->n, counts[SB_STATUS_JOINING],
                            counts[SB_STATUS_NORMAL], counts[SB_STATUS_LEAVING]);
    if (rc != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ENOMEM, "out of memory rendering the Raft status");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}
