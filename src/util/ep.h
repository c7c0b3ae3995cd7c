/*
 * Endpoints: node-to-node and client addresses, parsed and printed.
 *
 * An sb_ep is a plain value (no pointers): copy it, compare it with
 * sb_ep_eq/sb_ep_cmp, put it on the wire with sb_wire_put_ep (wire.h).
 */
#ifndef SB_UTIL_EP_H
#define SB_UTIL_EP_H

#include <stddef.h>
#include <stdint.h>

/* A node-to-node (or client) address. family 4: ip[0..3]; family 6: ip. */
typedef struct sb_ep {
    uint8_t ip[16];
    uint16_t port;
    uint8_t family;
} sb_ep;

#define SB_ADDR_MAX 128 /* a HOST:PORT as configured */
#define SB_EP_STRLEN 64 /* "[ipv6]:port" fits */

/* "127.0.0.2:7000", "127.0.0.2" (default_port), "[::1]:7000", "localhost"
 * (resolved numerically only: "localhost" = 127.0.0.1). 0 or SB_EINVAL. */
int sb_ep_parse(const char *s, uint16_t default_port, sb_ep *out);
/* "127.0.0.2:7000" into buf (SB_EP_STRLEN); returns buf. */
char *sb_ep_str(const sb_ep *e, char *buf);
/* "127.0.0.2" into buf (SB_EP_STRLEN); returns buf. */
char *sb_ep_host(const sb_ep *e, char *buf);
int sb_ep_eq(const sb_ep *a, const sb_ep *b);
int sb_ep_cmp(const sb_ep *a, const sb_ep *b);

/* Splits "host:port" (or "[v6]:port", or "host" with default_port). */
int sb_parse_hostport(const char *s, int default_port, char *host, size_t hostlen, int *port);

#endif
