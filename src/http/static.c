/*
 * GET / and GET /assets/<file>: the embedded web dashboard (docs/dashboard.md).
 *
 * The files are compiled into the binary (static.h), so every node serves the
 * dashboard with no files on disk and no separate web server. Answers carry
 * Cache-Control: no-cache so that a browser revalidates after an upgrade
 * instead of mixing an old app.js with a new node. Names are matched exactly
 * against the table: there is no file system behind this, so no path can
 * escape it.
 */
#include "http/static.h"

#include <stdio.h>
#include <string.h>

#include "http/handlers.h"
#include "util/err.h"

const sb_web_asset *sb_web_asset_find(const char *name, size_t name_len)
{
    for (size_t i = 0; i < sb_web_assets_count; i++) {
        const sb_web_asset *a = &sb_web_assets[i];
        if (strlen(a->name) == name_len && memcmp(a->name, name, name_len) == 0)
            return a;
    }
    return NULL;
}

void sb_http_handle_static(sb_node_view *n, sb_http_req *req)
{
    static const char prefix[] = "/assets/";
    const char *name = "index.html";
    size_t name_len = strlen(name);
    if (req->path_len >= sizeof prefix - 1 && memcmp(req->path, prefix, sizeof prefix - 1) == 0) {
        name = req->path + (sizeof prefix - 1);
        name_len = req->path_len - (sizeof prefix - 1);
    }
    const sb_web_asset *a = sb_web_asset_find(name, name_len);
    if (!a) {
        char msg[300];
        snprintf(msg, sizeof msg, "no such dashboard asset: %.*s",
                 (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
        sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
        return;
    }
    sb_http_pending_add_header(req->pending, "cache-control", "no-cache");
    sb_http_reply(req->pending, 200, a->content_type, a->data, a->len);
}
