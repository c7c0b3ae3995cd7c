/*
 * `sibyl fault`: network fault injection on a running node, through its
 * /api/v1/fault endpoint (docs/cluster-cli.md, docs/http-api.md).
 *
 *   sibyl fault [--http HOST[:PORT]] cut [PEER...]    no PEER: isolate the node
 *   sibyl fault [--http HOST[:PORT]] heal [PEER...]   no PEER: heal everything
 *   sibyl fault [--http HOST[:PORT]] status
 *
 * PEER is a listen address ("127.0.0.2:7000") or a host ("127.0.0.2");
 * the node resolves it against its gossip members and refuses unknown
 * ones. The node does the work; this tool sends one request and prints
 * the node's answer: which peers it now blocks.
 *
 * Exit status: 0 done, 1 the node is unreachable or refused the request
 * (its message is printed), 2 bad usage.
 */
#include "cli/fault.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"

#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl fault [--http HOST[:PORT]] cut [PEER...]\n"
               "       sibyl fault [--http HOST[:PORT]] heal [PEER...]\n"
               "       sibyl fault [--http HOST[:PORT]] status\n"
               "\n"
               "Cuts the network between a node and its peers (messages to and from them\n"
               "are dropped, as in a partition), heals it, or shows what is cut.\n"
               "\n"
               "  --http HOST[:PORT]  the node's HTTP address (default 127.0.0.1:8080)\n"
               "  cut [PEER...]       drop traffic with each PEER; no PEER: with every other\n"
               "                      member (isolate the node)\n"
               "  heal [PEER...]      restore traffic with each PEER; no PEER: with all\n"
               "  status              list the peers the node blocks\n"
               "\n"
               "PEER is a member's listen address (127.0.0.2:7000) or its host (127.0.0.2).\n"
               "Faults live in the node's memory: restarting the node heals them.\n");
}

/* Prints {"node": ..., "blocked": [...]}; 0, or 1 if it is not that. */
static int print_state(const sb_buf *body)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body->data, body->len, 0, &jerr);
    json_t *blocked = root ? json_object_get(root, "blocked") : NULL;
    const char *node = root ? json_string_value(json_object_get(root, "node")) : NULL;
    if (!json_is_array(blocked) || !node) {
        fprintf(stderr, "sibyl fault: unexpected answer from the node: %.*s\n",
                (int)(body->len > 300 ? 300 : body->len), (const char *)body->data);
        json_decref(root);
        return 1;
    }
    if (json_array_size(blocked) == 0) {
        printf("%s: no peers cut\n", node);
    } else {
        printf("%s: cut from", node);
        size_t i;
        json_t *v;
        json_array_foreach(blocked, i, v) printf("%s %s", i ? "," : "", json_string_value(v));
        printf("\n");
    }
    json_decref(root);
    return 0;
}

/* The message of an {"error": {...}} body, or the body itself. */
static void print_error(const char *target, int status, const sb_buf *body)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body->data, body->len, 0, &jerr);
    const char *msg =
        root ? json_string_value(json_object_get(json_object_get(root, "error"), "message")) : NULL;
    if (msg)
        fprintf(stderr, "sibyl fault: %s refused (HTTP %d): %s\n", target, status, msg);
    else
        fprintf(stderr, "sibyl fault: %s answered HTTP %d: %.*s\n", target, status,
                (int)(body->len > 300 ? 300 : body->len),
                body->data ? (const char *)body->data : "");
    json_decref(root);
}

int sb_cli_fault_main(int argc, char **argv)
{
    const char *http = "127.0.0.1:8080";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--http") && i + 1 < argc) {
            http = argv[++i];
        } else if (!strncmp(argv[i], "--http=", 7)) {
            http = argv[i] + 7;
        } else {
            fprintf(stderr, "sibyl fault: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "sibyl fault: missing action (cut, heal or status)\n");
        usage(stderr);
        return 2;
    }
    const char *action = argv[i++];
    int status_only = !strcmp(action, "status");
    if (!status_only && strcmp(action, "cut") && strcmp(action, "heal")) {
        fprintf(stderr, "sibyl fault: unknown action '%s' (expected cut, heal or status)\n",
                action);
        usage(stderr);
        return 2;
    }
    if (status_only && i < argc) {
        fprintf(stderr, "sibyl fault: status takes no peers\n");
        return 2;
    }
    char target[300], msg[SB_ERRMSG_SIZE];
    const char *close = http[0] == '[' ? strchr(http, ']') : NULL;
    int has_port = close ? close[1] == ':' : strchr(http, ':') != NULL;
    snprintf(target, sizeof target, "%s%s", http, has_port ? "" : ":8080");

    sb_buf req;
    sb_buf_init(&req);
    if (!status_only) {
        sb_buf_printf(&req, "{\"action\": \"%s\", \"peers\": [", action);
        for (int k = i; k < argc; k++) {
            sb_buf_printf(&req, "%s", k > i ? ", " : "");
            sb_json_append_string(&req, argv[k], strlen(argv[k]));
        }
        sb_buf_printf(&req, "]}");
    }
    sb_httpc c;
    int rv = sb_httpc_init(&c, target, TIMEOUT_MS, msg);
    if (rv) {
        fprintf(stderr, "sibyl fault: --http %s: %s\n", http, msg);
        sb_buf_free(&req);
        return 2;
    }
    sb_http_resp resp;
    rv = sb_httpc_request(&c, status_only ? "GET" : "POST", "/api/v1/fault",
                          status_only ? NULL : "application/json", req.data, req.len, &resp, msg);
    sb_httpc_close(&c);
    sb_buf_free(&req);
    if (rv) {
        fprintf(stderr,
                "sibyl fault: cannot reach the node at %s: %s (is it running? --http "
                "HOST:PORT names another node)\n",
                target, msg);
        sb_buf_free(&resp.body);
        return 1;
    }
    int code = 0;
    if (resp.status != 200) {
        print_error(target, resp.status, &resp.body);
        code = 1;
    } else {
        code = print_state(&resp.body);
    }
    sb_buf_free(&resp.body);
    return code;
}
