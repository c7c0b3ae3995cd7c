/* libFuzzer target for the demo control server's request parser and
 * router (demo/control.h): any bytes must parse, ask for more, or fail
 * with a known code and a message; a parsed request must lie inside the
 * input, and routing it must succeed or fail cleanly, never crash, read
 * out of bounds or leak. The cross-site check (origin parsing included)
 * answers 0, 403 or 415, and names an Origin only one it could parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "demo/control.h"
#include "http/origin.h"
#include "util/err.h"

/* A header value kept by the parser lies inside the input. */
static int inside(const char *v, size_t len, const char *buf, const char *end)
{
    return !v || (v >= buf && v + len <= end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan catches any read past the end */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_request req;
    int rv = sb_demo_parse_request(buf, size, &req, errmsg);
    if (rv == 0) {
        const char *end = buf + size;
        if (req.total_len > size || req.path < buf || req.path + req.path_len > end ||
            req.body < buf || req.body + req.body_len > end || req.path_len == 0 ||
            req.path[0] != '/')
            abort();
        if (!inside(req.host, req.host_len, buf, end) ||
            !inside(req.origin, req.origin_len, buf, end) ||
            !inside(req.content_type, req.content_type_len, buf, end))
            abort();
        sb_ep eps[2];
        sb_ep_parse("127.0.0.1:8080", 0, &eps[0]);
        sb_ep_parse("[::1]:8080", 0, &eps[1]);
        int cors = -1;
        int st = sb_demo_cross_site(&req, eps, 2, &cors, errmsg);
        sb_origin o;
        if ((st != 0 && st != 403 && st != 415) || (st && !errmsg[0]) || (cors != 0 && cors != 1) ||
            (cors && sb_origin_parse(req.origin, req.origin_len, &o) != 0))
            abort();
        sb_demo_action act;
        for (int nnodes = 1; nnodes <= 32; nnodes += 31) {
            errmsg[0] = 0;
            int r = sb_demo_route(&req, nnodes, &act, errmsg);
            int status = sb_err_http_status(r);
            if (r != 0 && (status < 400 || !errmsg[0]))
                abort();
            if (r == 0 && (act.kind == SB_DEMO_ACT_STOP || act.kind == SB_DEMO_ACT_START) &&
                (act.node < 1 || act.node > nnodes))
                abort();
        }
    } else if (rv != 1) {
        if ((rv != SB_EBADINPUT && rv != SB_ETOOBIG && rv != SB_EUNSUPPORTED) || !errmsg[0])
            abort();
    }
    free(buf);
    return 0;
}
