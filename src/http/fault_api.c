/*
 * GET/POST /api/v1/fault: network fault injection (docs/http-api.md).
 *
 * NOTES ON THE DESIGN
 *
 * - A cut is sb_transport_block on this node: messages to the peer are
 *   refused at send and frames from it are dropped on arrival, so one cut
 *   on one node partitions the pair both ways, as a broken link would.
 *   Cutting every other member isolates the node. The block lives in the
 *   transport, in memory: a restart heals it.
 * - Peers are named by listen address ("127.0.0.2:7000") or by host alone
 *   ("127.0.0.2", when exactly one member has that host), and must be
 *   gossip members other than this node: a typo is a 400 that lists the
 *   members, never a silent block of an address nobody uses.
 * - Heal of an explicit peer only needs the address to parse and resolve;
 *   heal without peers unblocks every blocked peer, members or not.
 * - Each peer whose state changes gives one `fault` event.
 * - The answer (for GET and POST) is {"node": ..., "blocked": [...]}
 *   with the transport's blocked peers in address order.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "http/fault_api.h"
#include "http/handlers.h"
#include "http/server.h"
#include "net/transport.h"
#include "metrics/node_view.h"
#include "metrics/events.h"
#include "util/err.h"

#define MAX_STATS 1024

int sb_fault_parse(const uint8_t *body, size_t len, sb_fault_req *out, char *errmsg)
{
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sb_seterr(errmsg, SB_EBADINPUT, "body: invalid JSON at line %d column %d: %.200s",
                         jerr.line, jerr.column, jerr.text);
    int rv = 0;
    if (!json_is_object(root)) {
        rv = sb_seterr(errmsg, SB_EBADINPUT,
                       "body: expected an object {\"action\": \"cut\"|\"heal\", \"peers\": [...]}");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "action") && strcmp(key, "peers")) {
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "body: unknown field \"%.64s\" (expected action and peers)", key);
            goto done;
        }
    }
    json_t *action = json_object_get(root, "action");
    const char *a = json_string_value(action);
    if (a && !strcmp(a, "cut")) {
        out->action = SB_FAULT_CUT;
    } else if (a && !strcmp(a, "heal")) {
        out->action = SB_FAULT_HEAL;
    } else {
        rv = sb_seterr(errmsg, SB_EBADINPUT, "action: expected \"cut\" or \"heal\"%s%.64s%s",
                       a ? ", got \"" : (action ? " (a string)" : " (missing)"), a ? a : "",
                       a ? "\"" : "");
        goto done;
    }
    json_t *peers = json_object_get(root, "peers");
    if (!peers || json_is_null(peers))
        goto done;
    if (!json_is_array(peers)) {
        rv = sb_seterr(errmsg, SB_EBADINPUT,
                       "peers: expected an array of addresses like \"127.0.0.2:7000\"");
        goto done;
    }
    if (json_array_size(peers) > SB_FAULT_MAX_PEERS) {
        rv = sb_seterr(errmsg, SB_EBADINPUT, "peers: %zu addresses, at most %d",
                       json_array_size(peers), SB_FAULT_MAX_PEERS);
        goto done;
    }
    size_t i;
    json_array_foreach(peers, i, v)
    {
        const char *s = json_string_value(v);
        sb_ep ep;
        if (!s) {
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "peers[%zu]: expected a string like "
                           "\"127.0.0.2:7000\"",
                           i);
            goto done;
        }
        if (strlen(s) >= SB_EP_STRLEN || sb_ep_parse(s, 0, &ep) != 0) {
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "peers[%zu]: \"%.64s\" is not an IP address[:port]", i, s);
            goto done;
        }
        snprintf(out->peers[out->npeers++], SB_EP_STRLEN, "%s", s);
    }
done:
    json_decref(root);
    return rv;
}

/* Does text name a port? ("127.0.0.2:7000", "[::1]:7000") */
static int has_port(const char *s)
{
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        return e && e[1] == ':';
    }
    const char *c = strchr(s, ':');
    return c && !strchr(c + 1, ':');
}

/* Resolves a peer named in a request to a member's listen address. 0, or
 * SB_EINVALID with errmsg (unknown, ambiguous, or this node itself). */
static int resolve_peer(sb_gossip *g, const char *text, sb_ep *out, char *errmsg)
{
    sb_ep want;
    char host[SB_EP_STRLEN], mh[SB_EP_STRLEN], list[600] = "";
    size_t lo = 0;
    sb_ep_parse(text, 0, &want); /* validated by the parser */
    int port = has_port(text), found = 0;
    sb_ep_host(&want, host);
    for (int i = 0; i < sb_gossip_nmembers(g); i++) {
        const sb_member *m = sb_gossip_member(g, i);
        char eps[SB_EP_STRLEN];
        if (!m->is_self && lo < sizeof list - SB_EP_STRLEN - 3)
            lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s%s", lo ? ", " : "",
                                   sb_ep_str(&m->ep, eps));
        int match = port ? sb_ep_eq(&m->ep, &want) : !strcmp(sb_ep_host(&m->ep, mh), host);
        if (!match)
            continue;
        if (m->is_self)
            return sb_seterr(errmsg, SB_EINVALID,
                             "peers: %.64s is this node itself (cut the other members instead)",
                             text);
        if (found++)
            return sb_seterr(errmsg, SB_EINVALID,
                             "peers: %.64s matches several members; give the port", text);
        *out = m->ep;
    }
    if (!found)
        return sb_seterr(errmsg, SB_EINVALID,
                         "peers: %.64s is not a member of this cluster (members: %s)", text,
                         list[0] ? list : "none besides this node");
    return 0;
}

static void fault_event(sb_node_view *n, const sb_ep *ep, int cut)
{
    char eps[SB_EP_STRLEN];
    sb_ep_str(ep, eps);
    if (n->events)
        sb_node_events_add(n->events, sb_node_events_now_ms(), "fault", eps, 0,
                           cut ? "network to and from %s cut (fault injection)"
                               : "network to and from %s healed",
                           eps);
}

static void set_block(sb_node_view *n, const sb_ep *ep, int cut)
{
    if (sb_transport_blocked(n->transport, ep) == cut)
        return;
    sb_transport_block(n->transport, ep, cut);
    if (sb_transport_blocked(n->transport, ep) == cut)
        fault_event(n, ep, cut);
}

static void reply_state(sb_node_view *n, sb_http_req *req)
{
    char eps[SB_EP_STRLEN];
    sb_transport_peer_stats *st = calloc(MAX_STATS, sizeof *st);
    if (!st) {
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
        return;
    }
    int ns = sb_transport_stats(n->transport, st, MAX_STATS);
    /* address order, so the answer is stable */
    for (int i = 1; i < ns; i++)
        for (int j = i; j > 0 && sb_ep_cmp(&st[j - 1].peer, &st[j].peer) > 0; j--) {
            sb_transport_peer_stats t = st[j];
            st[j] = st[j - 1];
            st[j - 1] = t;
        }
    sb_buf b;
    sb_http_json_begin(n, &b);
    sb_buf_printf(&b, ", \"blocked\": [");
    for (int i = 0, k = 0; i < ns; i++) {
        if (!st[i].blocked)
            continue;
        sb_ep_str(&st[i].peer, eps);
        sb_buf_printf(&b, "%s", k++ ? ", " : "");
        sb_json_append_string(&b, eps, strlen(eps));
    }
    free(st);
    if (sb_buf_printf(&b, "]}\n") != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}

/* Heal without peers: every blocked peer. */
static void heal_all(sb_node_view *n)
{
    sb_transport_peer_stats *st = calloc(MAX_STATS, sizeof *st);
    if (!st)
        return;
    int ns = sb_transport_stats(n->transport, st, MAX_STATS);
    for (int i = 0; i < ns; i++)
        if (st[i].blocked)
            set_block(n, &st[i].peer, 0);
    free(st);
}

void sb_http_handle_fault(sb_node_view *n, sb_http_req *req)
{
    char errmsg[SB_ERRMSG_SIZE];
    if (!n->transport) {
        sb_http_reply_err(req->pending, SB_EUNAVAILABLE,
                          "this node has no node-to-node transport to inject faults into");
        return;
    }
    if (req->method_len == 4 && !memcmp(req->method, "POST", 4)) {
        sb_fault_req fr;
        if (sb_fault_parse(req->body, req->body_len, &fr, errmsg) != 0) {
            sb_http_reply_err(req->pending, SB_EBADINPUT, errmsg);
            return;
        }
        sb_gossip *g = sb_cluster_gossip(n->cluster);
        sb_ep eps[SB_FAULT_MAX_PEERS];
        for (int i = 0; i < fr.npeers; i++) {
            if (resolve_peer(g, fr.peers[i], &eps[i], errmsg) != 0) {
                sb_http_reply_err(req->pending, SB_EBADINPUT, errmsg);
                return;
            }
        }
        if (fr.npeers > 0) {
            for (int i = 0; i < fr.npeers; i++)
                set_block(n, &eps[i], fr.action == SB_FAULT_CUT);
        } else if (fr.action == SB_FAULT_HEAL) {
            heal_all(n);
        } else {
            for (int i = 0; i < sb_gossip_nmembers(g); i++) {
                const sb_member *m = sb_gossip_member(g, i);
                if (!m->is_self)
                    set_block(n, &m->ep, 1);
            }
        }
    }
    reply_state(n, req);
}
