/*
 * `sibyl status` and `sibyl ring`: what `nodetool status` and `nodetool
 * ring` print, from one node's GET /api/v1/cluster (docs/cluster-cli.md).
 *
 * NOTES ON THE DESIGN
 *
 * - The node does the cluster work (membership, ownership under a
 *   keyspace's replication); these tools only fetch the JSON view over
 *   the blocking client of net/httpc.h and lay it out, so the rendering is
 *   a pure function of the JSON (sb_cli_cluster_render, unit-testable).
 * - One table per datacenter, datacenters by name, nodes in the order the
 *   node lists them (by address); columns are as wide as their widest
 *   cell. Nodes that have LEFT the ring are not shown, as nodetool does.
 * - The Raft group: when the view has one ("raft" is an object), a Raft
 *   column gives each node's role as the asked node sees it (leader,
 *   voter, learner, "-" outside the group), and a last line names the
 *   leader and the term, or says that the asked node knows no leader.
 * - Exit status: 0 printed, 1 the node is unreachable or answered an
 *   error (the message says which), 2 bad usage.
 */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"

#define MAX_COLS 8

void sb_cli_format_bytes(uint64_t bytes, char *out, size_t outlen)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, outlen, "%" PRIu64 " bytes", bytes);
        return;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, outlen, "%.2f %s", v, units[u]);
}

/* --- table layout ---------------------------------------------------------- */

typedef struct table {
    int ncols;
    char *cells[1024][MAX_COLS]; /* rows beyond the bound are dropped */
    int nrows;
    int width[MAX_COLS];
} table;

static void table_row(table *t, const char **cells)
{
    if (t->nrows >= 1024)
        return;
    for (int i = 0; i < t->ncols; i++) {
        t->cells[t->nrows][i] = strdup(cells[i] ? cells[i] : "");
        int w = (int)strlen(cells[i] ? cells[i] : "");
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
}

/* right: bit mask of right-aligned columns */
static void table_print(table *t, unsigned right, sb_buf *out)
{
    for (int r = 0; r < t->nrows; r++) {
        size_t start = out->len;
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r][i] ? t->cells[r][i] : "";
            int pad = t->width[i] - (int)strlen(s);
            if ((right >> i) & 1)
                sb_buf_printf(out, "%*s%s", pad, "", s);
            else
                sb_buf_printf(out, "%s%*s", s, i + 1 < t->ncols ? pad : 0, "");
            if (i + 1 < t->ncols)
                sb_buf_printf(out, "  ");
        }
        while (out->len > start && out->data[out->len - 1] == ' ')
            out->len--;
        sb_buf_printf(out, "\n");
        for (int i = 0; i < t->ncols; i++)
            free(t->cells[r][i]);
    }
    t->nrows = 0;
}

/* --- the JSON view ----------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

static int is_left(json_t *node)
{
    return !strcmp(jstr(node, "status", ""), "LEFT");
}

/* "UN", "DJ", ... */
static void node_code(json_t *node, char code[3])
{
    const char *st = jstr(node, "status", "");
    code[0] = !strcmp(jstr(node, "state", ""), "up") ? 'U' : 'D';
    code[1] = !strcmp(st, "NORMAL") || !strcmp(st, "SHUTDOWN") ? 'N'
              : !strcmp(st, "JOINING")                         ? 'J'
              : !strcmp(st, "LEAVING")                         ? 'L'
              : !strcmp(st, "MOVING")                          ? 'M'
                                                               : '?';
    code[2] = '\0';
}

static const char *state_word(json_t *node)
{
    const char *st = jstr(node, "status", "");
    return !strcmp(st, "NORMAL") || !strcmp(st, "SHUTDOWN") ? "Normal"
           : !strcmp(st, "JOINING")                         ? "Joining"
           : !strcmp(st, "LEAVING")                         ? "Leaving"
           : !strcmp(st, "MOVING")                          ? "Moving"
                                                            : "?";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct datacenters of the nodes, sorted; returns the count. */
static int datacenters(json_t *nodes, const char **dcs, int max)
{
    int n = 0;
    size_t i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        const char *dc = jstr(node, "dc", "?");
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= !strcmp(dcs[j], dc);
        if (!seen && n < max)
            dcs[n++] = dc;
    }
    qsort(dcs, (size_t)n, sizeof *dcs, cmp_str);
    return n;
}

static void dc_header(const char *dc, sb_buf *out, int first)
{
    char head[300];
    int len = snprintf(head, sizeof head, "Datacenter: %s", dc);
    sb_buf_printf(out, "%s%s\n", first ? "" : "\n", head);
    for (int i = 0; i < len && i < (int)sizeof head; i++)
        sb_buf_putc(out, '=');
    sb_buf_putc(out, '\n');
}

static void format_owns(json_t *node, int decimals, char *out, size_t outlen)
{
    json_t *o = json_object_get(node, "owns");
    if (!json_is_number(o))
        snprintf(out, outlen, "?");
    else
        snprintf(out, outlen, "%.*f%%", decimals, json_number_value(o) * 100);
}

/* The last line: who leads the metadata group, as the asked node sees it. */
static void raft_summary(json_t *raft, const char *local, sb_buf *out)
{
    json_int_t term = json_integer_value(json_object_get(raft, "term"));
    json_int_t voters = json_integer_value(json_object_get(raft, "voters"));
    json_int_t learners = json_integer_value(json_object_get(raft, "learners"));
    const char *leader = jstr(raft, "leader", NULL);
    if (leader)
        sb_buf_printf(out,
                      "\nRaft: leader %s, term %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
                      " voter%s, %" JSON_INTEGER_FORMAT " learner%s\n",
                      leader, term, voters, voters == 1 ? "" : "s", learners,
                      learners == 1 ? "" : "s");
    else
        sb_buf_printf(out,
                      "\nRaft: no leader known to %s (term %" JSON_INTEGER_FORMAT
                      "): a majority of the voters is not reachable from it; schema "
                      "changes and LWTs fail there\n",
                      local ? local : "this node", term);
}

static void render_status(json_t *nodes, json_t *raft, const char *keyspace, sb_buf *out)
{
    const char *dcs[64];
    int ndc = datacenters(nodes, dcs, 64);
    table *t = calloc(1, sizeof *t);
    if (!t)
        return;
    int has_raft = json_is_object(raft);
    t->ncols = has_raft ? 8 : 7;
    for (int d = 0; d < ndc; d++) {
        dc_header(dcs[d], out, d == 0);
        sb_buf_printf(out, "Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n");
        memset(t->width, 0, sizeof t->width);
        const char *head[] = {
            "--",      "Address", "Load", "Tokens", keyspace ? "Owns (effective)" : "Owns",
            "Host ID", "Rack",    "Raft"};
        table_row(t, head);
        size_t i;
        json_t *node;
        json_array_foreach(nodes, i, node)
        {
            if (strcmp(jstr(node, "dc", "?"), dcs[d]) || is_left(node))
                continue;
            char code[3], load[32], tokens[16], owns[32];
            node_code(node, code);
            sb_cli_format_bytes((uint64_t)json_integer_value(json_object_get(node, "load_bytes")),
                                load, sizeof load);
            snprintf(tokens, sizeof tokens, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(node, "ntokens")));
            format_owns(node, 1, owns, sizeof owns);
            const char *row[] = {code,
                                 jstr(node, "address", "?"),
                                 load,
                                 tokens,
                                 owns,
                                 jstr(node, "host_id", "?"),
                                 jstr(node, "rack", "?"),
                                 jstr(node, "raft", "-")};
            table_row(t, row);
        }
        table_print(t, 0, out);
    }
    free(t);
    /* A node that refuses writes (disk full or failed) still serves
     * reads; nodetool has no column for it, so it gets a line. */
    size_t i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        if (json_is_true(json_object_get(node, "read_only")))
            sb_buf_printf(out, "\nRead-only: %s refuses writes: %s\n", jstr(node, "address", "?"),
                          jstr(node, "read_only_reason", "disk full or failed"));
    }
}

typedef struct ring_tok {
    int64_t token;
    json_t *node;
} ring_tok;

static int cmp_tok(const void *a, const void *b)
{
    int64_t x = ((const ring_tok *)a)->token, y = ((const ring_tok *)b)->token;
    return x < y ? -1 : x > y;
}

static int render_ring(json_t *nodes, sb_buf *out, char *errmsg)
{
    const char *dcs[64];
    int ndc = datacenters(nodes, dcs, 64);
    size_t ntok = 0, i;
    json_t *node;
    json_array_foreach(nodes, i, node) ntok += json_array_size(json_object_get(node, "tokens"));
    ring_tok *toks = calloc(ntok ? ntok : 1, sizeof *toks);
    table *t = calloc(1, sizeof *t);
    int rv = 0;
    if (!toks || !t) {
        rv = sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        goto done;
    }
    t->ncols = 7;
    for (int d = 0; d < ndc; d++) {
        size_t n = 0;
        json_array_foreach(nodes, i, node)
        {
            if (strcmp(jstr(node, "dc", "?"), dcs[d]) || is_left(node))
                continue;
            size_t k;
            json_t *tok;
            json_array_foreach(json_object_get(node, "tokens"), k, tok)
            {
                const char *s = json_string_value(tok);
                char *end;
                if (!s) {
                    rv = sb_seterr(errmsg, SB_EINVAL, "node %s: a token is not a string",
                                   jstr(node, "address", "?"));
                    goto done;
                }
                toks[n].token = strtoll(s, &end, 10);
                toks[n].node = node;
                n++;
            }
        }
        qsort(toks, n, sizeof *toks, cmp_tok);
        dc_header(dcs[d], out, d == 0);
        if (n == 0) {
            sb_buf_printf(out, "(no tokens: the nodes of this datacenter are not on a ring; "
                               "a node without a cluster owns everything)\n");
            continue;
        }
        memset(t->width, 0, sizeof t->width);
        const char *head[] = {"Address", "Rack", "Status", "State", "Load", "Owns", "Token"};
        table_row(t, head);
        char last[32];
        snprintf(last, sizeof last, "%" PRId64, toks[n - 1].token);
        const char *first[] = {"", "", "", "", "", "", last};
        table_row(t, first);
        for (size_t k = 0; k < n; k++) {
            json_t *nd = toks[k].node;
            char load[32], owns[32], tok[32];
            sb_cli_format_bytes((uint64_t)json_integer_value(json_object_get(nd, "load_bytes")),
                                load, sizeof load);
            format_owns(nd, 2, owns, sizeof owns);
            snprintf(tok, sizeof tok, "%" PRId64, toks[k].token);
            const char *row[] = {jstr(nd, "address", "?"),
                                 jstr(nd, "rack", "?"),
                                 !strcmp(jstr(nd, "state", ""), "up") ? "Up" : "Down",
                                 state_word(nd),
                                 load,
                                 owns,
                                 tok};
            table_row(t, row);
        }
        table_print(t, 1u << 6, out);
    }
done:
    free(toks);
    free(t);
    return rv;
}

int sb_cli_cluster_render(const char *json, size_t len, int ring, const char *keyspace, sb_buf *out,
                          char *errmsg)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return sb_seterr(errmsg, SB_EINVAL, "the node's cluster view is not JSON: %s (line %d)",
                         jerr.text, jerr.line);
    json_t *nodes = json_object_get(root, "nodes");
    int rv = 0;
    if (!json_is_array(nodes)) {
        rv = sb_seterr(errmsg, SB_EINVAL, "the node's cluster view has no \"nodes\" array");
        goto done;
    }
    if (ring)
        rv = render_ring(nodes, out, errmsg);
    else
        render_status(nodes, json_object_get(root, "raft"), keyspace, out);
    if (!ring && json_is_object(json_object_get(root, "raft")))
        raft_summary(json_object_get(root, "raft"), jstr(root, "local", NULL), out);
done:
    json_decref(root);
    return rv;
}

/* --- command line ---------------------------------------------------------- */

static void usage(FILE *f, int ring)
{
    if (ring)
        fprintf(f, "usage: sibyl ring [HOST[:PORT]] [--keyspace KS] [--json]\n"
                   "\n"
                   "Prints every token of the ring with its node, as `nodetool ring` does.\n");
    else
        fprintf(f, "usage: sibyl status [HOST[:PORT]] [--keyspace KS] [--json]\n"
                   "\n"
                   "Prints the nodes of the cluster by datacenter, as `nodetool status` does.\n");
    fprintf(f, "\n"
               "  HOST[:PORT], --http HOST[:PORT]  a node's HTTP address (default 127.0.0.1:8080)\n"
               "  --keyspace KS   ownership under KS's replication (\"Owns (effective)\")\n"
               "  --json          print the node's JSON view (GET /api/v1/cluster) as is\n"
               "  --timeout-ms MS how long to wait for the node (default 5000)\n");
}

static int cluster_cmd(int argc, char **argv, int ring)
{
    const char *cmd = ring ? "ring" : "status";
    const char *target = "127.0.0.1:8080", *keyspace = NULL;
    int json = 0, timeout_ms = 5000, have_target = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, ring);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--keyspace") || !strcmp(a, "--http") || !strcmp(a, "--timeout-ms")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sibyl %s: %s needs a value\n", cmd, a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--keyspace")) {
                keyspace = v;
            } else if (!strcmp(a, "--http")) {
                target = v;
                have_target = 1;
            } else {
                char *end;
                long ms = strtol(v, &end, 10);
                if (*end || ms < 1 || ms > 600000) {
                    fprintf(stderr, "sibyl %s: --timeout-ms: '%s' is not 1..600000\n", cmd, v);
                    return 2;
                }
                timeout_ms = (int)ms;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "sibyl %s: unknown option '%s'\n", cmd, a);
            usage(stderr, ring);
            return 2;
        } else if (have_target) {
            fprintf(stderr, "sibyl %s: unexpected argument '%s' (the node is %s)\n", cmd, a,
                    target);
            return 2;
        } else {
            target = a;
            have_target = 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf body, out;
    sb_buf_init(&body);
    sb_buf_init(&out);
    int rv = sb_httpc_fetch_cluster(target, keyspace, NULL, timeout_ms, &body, errmsg);
    if (rv == 0 && json)
        rv = sb_buf_append(&out, body.data, body.len);
    else if (rv == 0)
        rv = sb_cli_cluster_render((const char *)body.data, body.len, ring, keyspace, &out, errmsg);
    if (rv == 0)
        fwrite(out.data, 1, out.len, stdout);
    else
        fprintf(stderr, "sibyl %s: %s\n", cmd, errmsg);
    sb_buf_free(&body);
    sb_buf_free(&out);
    return rv == 0 ? 0 : 1;
}

int sb_cli_status_main(int argc, char **argv)
{
    return cluster_cmd(argc, argv, 0);
}

int sb_cli_ring_main(int argc, char **argv)
{
    return cluster_cmd(argc, argv, 1);
}
