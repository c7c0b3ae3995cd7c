/*
 * Request/response over sb_io: request ids, per-request timeouts.
 *
 * A request payload is [sender ep][u64 request id][body]; the response is
 * an SB_MSG_RESPONSE message [sender ep][u64 request id][body]. The
 * response body's meaning belongs to the request type (coord.h).
 *
 * The callback of every accepted call (sb_rpc_call returned 0) runs
 * exactly once and never synchronously: with status 0 and the response,
 * SB_ETIMEOUT when none came in time, or SB_ECLOSED when the message
 * could not be queued or the rpc is freed. A response for an unknown or
 * finished id is dropped (counted). At most max_pending calls are pending
 * at once (SB_RPC_MAX_PENDING_DEFAULT); beyond it calls are refused with
 * SB_EOVERLOADED.
 */
#ifndef SB_CLUSTER_RPC_H
#define SB_CLUSTER_RPC_H

#include <stdint.h>

#include "cluster/io.h"

typedef struct sb_rpc sb_rpc;

typedef void (*sb_rpc_cb)(void *arg, int status, const uint8_t *body, size_t len);

/* Calls pending at once before sb_rpc_call refuses new ones with
 * SB_EOVERLOADED (counted in stats.overloaded, nothing sent, no
 * callback). Each pending call holds a record and a timer. */
#define SB_RPC_MAX_PENDING_DEFAULT 65536

sb_rpc *sb_rpc_new(const sb_io *io, const sb_ep *self);
/* Sets the cap on pending calls (0 = no cap); applies to later calls. */
void sb_rpc_set_max_pending(sb_rpc *r, size_t max_pending);
size_t sb_rpc_max_pending(const sb_rpc *r);
/* Pending calls get SB_ECLOSED (synchronously, here). */
void sb_rpc_free(sb_rpc *r);

/* Sends a request; *id (may be NULL) gets its id for sb_rpc_cancel.
 * 0, SB_ECLOSED (freeing), SB_EOVERLOADED (max pending reached) or
 * SB_ENOMEM; on an error cb never runs. */
int sb_rpc_call(sb_rpc *r, const sb_ep *to, int type, const uint8_t *body, size_t len,
                uint32_t timeout_ms, sb_rpc_cb cb, void *arg, uint64_t *id);
/* Forgets a pending call: its callback will not run. */
void sb_rpc_cancel(sb_rpc *r, uint64_t id);
/* Answers request id of peer `to`. */
int sb_rpc_reply(sb_rpc *r, const sb_ep *to, uint64_t id, const uint8_t *body, size_t len);

/* Splits an incoming request payload. 0 or SB_EBADINPUT. */
int sb_rpc_parse(const uint8_t *payload, size_t len, sb_ep *from, uint64_t *id,
                 const uint8_t **body, size_t *blen);
/* Builds a one-way message payload [self ep][body] / parses one. */
int sb_msg_build(sb_buf *out, const sb_ep *self, const uint8_t *body, size_t len);
int sb_msg_parse(const uint8_t *payload, size_t len, sb_ep *from, const uint8_t **body,
                 size_t *blen);

/* An SB_MSG_RESPONSE arrived. */
void sb_rpc_receive_response(sb_rpc *r, const uint8_t *payload, size_t len);

typedef struct sb_rpc_stats {
    uint64_t calls, timeouts, late_responses, pending;
    uint64_t overloaded; /* calls refused by the max pending cap */
} sb_rpc_stats;
void sb_rpc_get_stats(const sb_rpc *r, sb_rpc_stats *st);

#endif
