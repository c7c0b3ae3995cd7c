/* libFuzzer target for the demo control server's request parser and
 * router (demo/control.h): any bytes must parse, ask for more, or fail
 * with a known code and a message; a parsed request must lie inside the
 * input, and routing it must succeed or fail cleanly, never crash, read
 * out of bounds or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "demo/control.h"
#include "util/err.h"

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
