/* Handlers for the HTTP API routes that live in their own files. */
#ifndef SB_HTTP_HANDLERS_H
#define SB_HTTP_HANDLERS_H

#include "http/server.h"
#include "metrics/node_view.h"

/* POST /api/v1/cql (cql_api.c) */
void sb_http_handle_cql(sb_node_view *n, sb_http_req *req);
/* POST /api/v2/write (write_api.c) */
void sb_http_handle_write(sb_node_view *n, sb_http_req *req);
/* POST /api/v1/fault/disk (disk_fault_api.c) */
void sb_http_handle_disk_fault(sb_node_view *n, sb_http_req *req);
/* GET /api/v1/cluster[?keyspace=KS] (cluster_api.c) */
void sb_http_handle_cluster(sb_node_view *n, sb_http_req *req);
/* GET /api/v1/raft (raft_api.c) */
void sb_http_handle_raft(sb_node_view *n, sb_http_req *req);
/* GET /api/v1/stats (stats_api.c) */
void sb_http_handle_stats(sb_node_view *n, sb_http_req *req);
/* GET / and GET /assets/<file>: the embedded dashboard (static.c) */
void sb_http_handle_static(sb_node_view *n, sb_http_req *req);
/* GET /api/v1/events[?since=SEQ] (events_api.c) */
void sb_http_handle_events(sb_node_view *n, sb_http_req *req);
/* GET/POST /api/v1/fault (fault_api.c) */
void sb_http_handle_fault(sb_node_view *n, sb_http_req *req);
/* GET/POST /api/v1/streams (stream_api.c) */
void sb_http_handle_streams(sb_node_view *n, sb_http_req *req);
/* GET /api/v1/replicas and GET /api/v1/local (replica_api.c) */
void sb_http_handle_replicas(sb_node_view *n, sb_http_req *req);
void sb_http_handle_local(sb_node_view *n, sb_http_req *req);
/* Initialises b and starts a JSON object with the node's listen address
 * as peers name it: {"node": "127.0.0.1:7000" (events_api.c). */
void sb_http_json_begin(sb_node_view *n, sb_buf *b);

/* Value of a query-string parameter, percent-decoded into out (NUL-
 * terminated). 1 if present, 0 if absent, -1 if too long or malformed. */
int sb_http_query_param(const sb_http_req *req, const char *name, char *out, size_t outlen);

#endif
