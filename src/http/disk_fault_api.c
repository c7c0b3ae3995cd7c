/*
 * POST /api/v1/fault/disk: disk fault injection (docs/http-api.md).
 *
 * {"error": "eio" | "enospc" | "none", "writes": N} makes the node's next
 * N write batches (default 1; -1: every one until "none") fail inside the
 * store as RocksDB fails them on a broken or full disk, so that
 * disk_failure_policy and the disk-full path can be seen on a real node
 * without breaking a disk. The answer is the node's /health disk object.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "http/fault_api.h"
#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "storage/store.h"
#include "util/err.h"

int sb_disk_fault_parse(const uint8_t *body, size_t len, int *err, int *writes, char *errmsg)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "body: expected {\"error\": \"eio\"|\"enospc\"|\"none\", \"writes\": N}");
    }
    int rv = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "error") && strcmp(key, "writes") && !rv)
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "body: unknown field \"%.64s\" (expected error and writes)", key);
    }
    const char *e = json_string_value(json_object_get(root, "error"));
    json_t *w = json_object_get(root, "writes");
    static const struct {
        const char *name;
        int err;
    } errs[] = {{"eio", EIO}, {"enospc", ENOSPC}, {"none", 0}};
    size_t k = 0;
    while (e && k < sizeof errs / sizeof errs[0] && strcmp(e, errs[k].name))
        k++;
    *writes = 1;
    if (!rv && (!e || k == sizeof errs / sizeof errs[0]))
        rv = sb_seterr(errmsg, SB_EBADINPUT, "error: expected \"eio\", \"enospc\" or \"none\"");
    else if (!rv)
        *err = errs[k].err;
    if (!rv && w) {
        json_int_t n = json_is_integer(w) ? json_integer_value(w) : 0;
        if (n < -1 || n == 0 || n > 1000000)
            rv = sb_seterr(errmsg, SB_EBADINPUT, "writes: expected -1 or 1..1000000");
        else
            *writes = (int)n;
    }
    json_decref(root);
    return rv;
}

void sb_http_handle_disk_fault(sb_node_view *n, sb_http_req *req)
{
    char errmsg[SB_ERRMSG_SIZE];
    int err = 0, writes = 1;
    if (sb_disk_fault_parse(req->body, req->body_len, &err, &writes, errmsg) != 0) {
        sb_http_reply_err(req->pending, SB_EBADINPUT, errmsg);
        return;
    }
    sb_store_inject_write_error(n->store, err, writes);
    char body[160];
    int len = snprintf(body, sizeof body, "{\"error\": \"%s\", \"writes\": %d}\n",
                       err == EIO      ? "eio"
                       : err == ENOSPC ? "enospc"
                                       : "none",
                       err ? writes : 0);
    sb_http_reply(req->pending, 200, NULL, body, (size_t)len);
}
