/*
 * Fault injection and replica view over HTTP: the pure parts of
 * fault_api.c and replica_api.c (request parsing), exposed for unit tests
 * and fuzzing. The handlers themselves are in handlers.h.
 */
#ifndef SB_HTTP_FAULT_API_H
#define SB_HTTP_FAULT_API_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/io.h"
#include "storage/types.h"
#include "util/buf.h"

#define SB_FAULT_MAX_PEERS 64

enum { SB_FAULT_CUT = 1, SB_FAULT_HEAL = 2 };

/* A POST /api/v1/fault body: {"action": "cut"|"heal", "peers": [...]}. */
typedef struct sb_fault_req {
    int action;
    int npeers; /* 0: every other member (cut) / every blocked peer (heal) */
    char peers[SB_FAULT_MAX_PEERS][SB_EP_STRLEN]; /* as given: "HOST:PORT" or "HOST" */
} sb_fault_req;

/* Parses a request body. 0, or SB_EBADINPUT with what and where in errmsg
 * (invalid JSON with its line and column, a missing or unknown action,
 * peers not an array of strings, a peer that is not an address, more
 * than SB_FAULT_MAX_PEERS peers, an unknown field). */
int sb_fault_parse(const uint8_t *body, size_t len, sb_fault_req *out, char *errmsg);

/* A POST /api/v1/fault/disk body: {"error": "eio"|"enospc"|"none",
 * "writes": N}. *err = EIO, ENOSPC or 0; *writes = N (default 1; -1 =
 * until cleared). 0, or SB_EBADINPUT with errmsg (not an object, an
 * unknown error, writes not -1 or 1..1000000). */
int sb_disk_fault_parse(const uint8_t *body, size_t len, int *err, int *writes, char *errmsg);

/* Converts the text form of a partition-key value (a query parameter of
 * /api/v1/replicas and /api/v1/local) to type t's serialization, appended
 * to out: text as is, numbers, true/false, uuids, timestamps as CQL reads
 * them ('2026-11-21T10:00:00Z' or ms), blobs as 0x... Collections are
 * refused. 0 or SB_EINVALID with errmsg. */
int sb_http_key_value(sb_type t, const char *text, sb_buf *out, char *errmsg);

#endif
