/*
 * One HTTP request, for bench/run.sh (no curl needed):
 *   bench_http METHOD HOST:PORT PATH [BODY]
 * Prints "HTTP <status>" and the body; exit 0 on 2xx, 1 on another status,
 * 2 when the node cannot be reached. Timeout: 600 s (a full compaction of a
 * large table can take a while).
 */
#include <stdio.h>
#include <string.h>

#include "net/httpc.h"
#include "util/err.h"

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bench_http METHOD HOST:PORT PATH [BODY]\n");
        return 2;
    }
    char errmsg[SB_ERRMSG_SIZE];
    sb_httpc c;
    if (sb_httpc_init(&c, argv[2], 600000, errmsg)) {
        fprintf(stderr, "bench_http: %s\n", errmsg);
        return 2;
    }
    const char *body = argc == 5 ? argv[4] : NULL;
    sb_http_resp r;
    int rv = sb_httpc_request(&c, argv[1], argv[3], body ? "application/json" : NULL, body,
                              body ? strlen(body) : 0, &r, errmsg);
    sb_httpc_close(&c);
    if (rv) {
        fprintf(stderr, "bench_http: %s\n", errmsg);
        sb_buf_free(&r.body);
        return 2;
    }
    printf("HTTP %d\n%s\n", r.status, r.body.len ? sb_buf_cstr(&r.body) : "");
    sb_buf_free(&r.body);
    return r.status >= 200 && r.status < 300 ? 0 : 1;
}
