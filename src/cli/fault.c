/*
 * `sibyl fault`: network fault injection on a running node, through its
 * /api/v1/fault endpoint (docs/cluster-cli.md, docs/http-api.md).
 *
 *   sibyl fault [--http HOST[:PORT]] cut [PEER...]    no PEER: isolate the node
 *   sibyl fault [--http HOST[:PORT]] heal [PEER...]   no PEER: heal everything
 *   sibyl fault [--http HOST[:PORT]] heal --all       heal every member
 *   sibyl fault [--http HOST[:PORT]] partition NODES '|' NODES
 *   sibyl fault [--http HOST[:PORT]] status
 *
 * partition splits the cluster in two: every node on one side cuts every
 * node on the other (both sides do, so each side sees the other down at
 * once). NODES are members (listen addresses or hosts), separated by
 * spaces or commas; the second side may be left out (everyone else).
 * The members and their HTTP addresses come from the node asked
 * (GET /api/v1/cluster); `heal --all` undoes a partition.
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

#include "util/ep.h"
#include "util/json.h"
#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"

#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl fault [--http HOST[:PORT]] cut [PEER...]\n"
               "       sibyl fault [--http HOST[:PORT]] heal [PEER...]\n"
               "       sibyl fault [--http HOST[:PORT]] heal --all\n"
               "       sibyl fault [--http HOST[:PORT]] partition NODES '|' [NODES]\n"
               "       sibyl fault [--http HOST[:PORT]] status\n"
               "\n"
               "Cuts the network between a node and its peers (messages to and from them\n"
               "are dropped, as in a partition), heals it, or shows what is cut.\n"
               "\n"
               "  --http HOST[:PORT]  the node's HTTP address (default 127.0.0.1:8080)\n"
               "  cut [PEER...]       drop traffic with each PEER; no PEER: with every other\n"
               "                      member (isolate the node)\n"
               "  heal [PEER...]      restore traffic with each PEER; no PEER: with all\n"
               "  heal --all          heal every member of the cluster (undoes a partition)\n"
               "  partition A '|' B   split the cluster: every node of side A cuts every\n"
               "                      node of side B and the other way round; a side is\n"
               "                      members separated by spaces or commas; no B: all\n"
               "                      the others\n"
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

/* One POST /api/v1/fault to target; prints the node's state line. 0, or
 * 1 when the node is unreachable or refuses. */
int sb_cli_fault_post(const char *target, const char *action, const char *const *peers, int n)
{
    char msg[SB_ERRMSG_SIZE];
    sb_buf req;
    sb_buf_init(&req);
    sb_buf_printf(&req, "{\"action\": \"%s\", \"peers\": [", action);
    for (int k = 0; k < n; k++) {
        sb_buf_printf(&req, "%s", k ? ", " : "");
        sb_json_append_string(&req, peers[k], strlen(peers[k]));
    }
    sb_buf_printf(&req, "]}");
    sb_httpc c;
    int rv = sb_httpc_init(&c, target, TIMEOUT_MS, msg);
    sb_http_resp resp;
    memset(&resp, 0, sizeof resp);
    if (rv == 0) {
        rv = sb_httpc_request(&c, "POST", "/api/v1/fault", "application/json", req.data, req.len,
                              &resp, msg);
        sb_httpc_close(&c);
    }
    sb_buf_free(&req);
    if (rv) {
        fprintf(stderr, "sibyl fault: cannot reach the node at %s: %s\n", target, msg);
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

#define MAX_MEMBERS 256

typedef struct member {
    char listen[SB_ADDR_MAX]; /* 127.0.0.2:7000 */
    char host[SB_ADDR_MAX];   /* 127.0.0.2 */
    char http[SB_ADDR_MAX];   /* 127.0.0.2:8080 */
    int side;                 /* 0 none, 1, 2 */
} member;

/* The cluster's members as the node at target knows them. -1 on error
 * (printed). */
static int fetch_members(const char *target, member *m, int max)
{
    char msg[SB_ERRMSG_SIZE];
    sb_buf body;
    sb_buf_init(&body);
    if (sb_httpc_fetch_cluster(target, NULL, NULL, TIMEOUT_MS, &body, msg) != 0) {
        fprintf(stderr, "sibyl fault: cannot read the cluster from %s: %s\n", target, msg);
        sb_buf_free(&body);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body.data, body.len, 0, &jerr);
    sb_buf_free(&body);
    json_t *nodes = root ? json_object_get(root, "nodes") : NULL;
    if (!json_is_array(nodes)) {
        fprintf(stderr, "sibyl fault: unexpected cluster answer from %s\n", target);
        json_decref(root);
        return -1;
    }
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(nodes, i, v)
    {
        const char *l = json_string_value(json_object_get(v, "listen"));
        const char *a = json_string_value(json_object_get(v, "address"));
        const char *h = json_string_value(json_object_get(v, "http"));
        if (!l || !a || !h || n == max)
            continue;
        snprintf(m[n].listen, sizeof m[n].listen, "%s", l);
        snprintf(m[n].host, sizeof m[n].host, "%s", a);
        snprintf(m[n].http, sizeof m[n].http, "%s", h);
        m[n].side = 0;
        n++;
    }
    json_decref(root);
    return n;
}

/* Puts every member named in spec (commas or spaces) on side. 0, or 1
 * with the problem printed. */
static int assign(member *m, int n, const char *spec, int side)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        int found = -1;
        for (int k = 0; k < n; k++)
            if (!strcmp(tok, m[k].listen) || !strcmp(tok, m[k].host))
                found = k;
        if (found < 0) {
            fprintf(stderr, "sibyl fault: %s is not a member of the cluster\n", tok);
            return 1;
        }
        if (m[found].side && m[found].side != side) {
            fprintf(stderr, "sibyl fault: %s is on both sides\n", tok);
            return 1;
        }
        m[found].side = side;
    }
    return 0;
}

static int partition_main(const char *target, int argc, char **argv, int i)
{
    member m[MAX_MEMBERS];
    int n = fetch_members(target, m, MAX_MEMBERS);
    if (n < 0)
        return 1;
    int side = 1, rc = 0;
    for (; i < argc && rc == 0; i++) {
        /* "a,b|c": a '|' inside an argument switches sides too */
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", argv[i]);
        char *bar = strchr(buf, '|');
        if (bar)
            *bar = 0;
        rc = assign(m, n, buf, side);
        if (bar) {
            if (side == 2) {
                fprintf(stderr, "sibyl fault: a partition has two sides ('|' once)\n");
                return 2;
            }
            side = 2;
            if (rc == 0)
                rc = assign(m, n, bar + 1, side);
        }
    }
    if (rc)
        return rc;
    int n1 = 0, n2 = 0;
    for (int k = 0; k < n; k++)
        n1 += m[k].side == 1;
    for (int k = 0; k < n; k++) {
        if (!m[k].side)
            m[k].side = 2; /* no second side named: everyone else */
        n2 += m[k].side == 2;
    }
    if (n1 == 0 || n2 == 0) {
        fprintf(stderr, "sibyl fault: both sides of a partition need a member\n");
        return 2;
    }
    printf("partition:");
    for (int s2 = 1; s2 <= 2; s2++) {
        printf("%s", s2 == 2 ? " |" : "");
        for (int k = 0; k < n; k++)
            if (m[k].side == s2)
                printf(" %s", m[k].listen);
    }
    printf("\n");
    for (int k = 0; k < n; k++) {
        const char *peers[MAX_MEMBERS];
        int np = 0;
        for (int j = 0; j < n; j++)
            if (m[j].side != m[k].side)
                peers[np++] = m[j].listen;
        rc |= sb_cli_fault_post(m[k].http, "cut", peers, np);
    }
    return rc;
}

static int heal_all_main(const char *target)
{
    member m[MAX_MEMBERS];
    int n = fetch_members(target, m, MAX_MEMBERS);
    if (n < 0)
        return 1;
    int rc = 0;
    for (int k = 0; k < n; k++)
        rc |= sb_cli_fault_post(m[k].http, "heal", NULL, 0);
    return rc;
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
    int partition = !strcmp(action, "partition");
    if (!status_only && !partition && strcmp(action, "cut") && strcmp(action, "heal")) {
        fprintf(stderr,
                "sibyl fault: unknown action '%s' (expected cut, heal, partition or status)\n",
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
    if (partition) {
        if (i == argc) {
            fprintf(stderr, "sibyl fault: partition needs the nodes of one side\n");
            return 2;
        }
        return partition_main(target, argc, argv, i);
    }
    if (!strcmp(action, "heal") && i < argc && !strcmp(argv[i], "--all")) {
        if (i + 1 < argc) {
            fprintf(stderr, "sibyl fault: heal --all takes no peers\n");
            return 2;
        }
        return heal_all_main(target);
    }

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
