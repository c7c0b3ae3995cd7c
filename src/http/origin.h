/*
 * Origins (RFC 6454) as browsers send them in the Origin header, and the
 * rule that decides which ones may drive a server (docs/http-api.md,
 * "Cross-origin requests"). Pure functions: no I/O, no globals; the node's
 * HTTP server (server.c) and the demo's control server (demo/control.c)
 * both decide with them.
 *
 * A request from origin O to a server reached at authority A (its Host
 * header) is trusted when
 *   - O is in the configured allowed list, or
 *   - O names A itself and A is an IP address or "localhost": a DNS name
 *     could have been rebound to the server by an attacker, an address
 *     cannot; or
 *   - O names one of the server's known addresses (IP and port: the node's
 *     own HTTP address, the HTTP addresses of the cluster's members, the
 *     demo's nodes), "localhost" standing for 127.0.0.1.
 * Anything else, "null" (sandboxed frames, file: pages) included, is not.
 */
#ifndef SB_HTTP_ORIGIN_H
#define SB_HTTP_ORIGIN_H

#include <stddef.h>

#include "util/ep.h"

#define SB_ORIGIN_HOST_MAX 256
/* "https://" + host + ":65535" fits */
#define SB_ORIGIN_STRLEN (SB_ORIGIN_HOST_MAX + 16)

typedef struct sb_origin {
    int https;
    char host[SB_ORIGIN_HOST_MAX]; /* lower case; an IPv6 address keeps its brackets */
    int port;                      /* as given, or the scheme's default (80, 443) */
} sb_origin;

/* Parses "http://host[:port]" or "https://..." (scheme and host in any
 * case, an optional trailing '/', nothing else after the authority).
 * Returns 0, or SB_EINVAL for anything else ("null", "*", a path, a bad
 * port or host). */
int sb_origin_parse(const char *s, size_t len, sb_origin *out);
/* The canonical text of o into buf (SB_ORIGIN_STRLEN): lower case, no
 * default port, no trailing slash (what browsers send). Returns buf. */
char *sb_origin_str(const sb_origin *o, char *buf);
/* o's host as an address: 0 with *ep filled (o's port) when the host is an
 * IP literal or "localhost" (127.0.0.1), SB_EINVAL for a DNS name. */
int sb_origin_ep(const sb_origin *o, sb_ep *ep);

/* Checks a comma- or space-separated list of origins (the setting
 * http.cors_allowed_origins) and writes its canonical form, comma-
 * separated, into out (outlen bytes). "" is the empty list. Returns 0, or
 * SB_EINVAL with errmsg naming the offending item ("*" is refused: list
 * the origins). */
int sb_origin_list_canon(const char *in, char *out, size_t outlen, char *errmsg);
/* 1 when o is in list (canonical, as sb_origin_list_canon writes it). */
int sb_origin_in_list(const sb_origin *o, const char *list);

/* The rule of the file comment. authority is the Host header (alen bytes,
 * may be NULL); eps are the server's known addresses (a wildcard address,
 * 0.0.0.0 or ::, never matches); allowed is a canonical list or NULL.
 * Returns 1 when trusted, 0 when not. */
int sb_origin_trusted(const sb_origin *o, const char *authority, size_t alen, const sb_ep *eps,
                      int neps, const char *allowed);

/* Where a browser reaches a cluster member's HTTP server: http, or, when
 * http is a wildcard address (0.0.0.0, ::), listen's host with http's port
 * (as the dashboard does, web/src/api.ts baseOf). */
void sb_origin_member_ep(const sb_ep *http, const sb_ep *listen, sb_ep *out);

/* 1 when the media type of a Content-Type value (before any ';'
 * parameters, case-insensitive) is application/json. */
int sb_content_type_is_json(const char *ct, size_t len);

#endif
