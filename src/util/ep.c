/* Endpoints: parsing and formatting of HOST:PORT (ep.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ep.h"
#include "util/err.h"

int sb_ep_parse(const char *s, uint16_t default_port, sb_ep *out)
{
    char host[SB_EP_STRLEN];
    const char *port = NULL;
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return SB_EINVAL;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || (size_t)(end - s - 1) >= sizeof host)
            return SB_EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return SB_EINVAL;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* bare IPv6 without port */
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl >= sizeof host)
            return SB_EINVAL;
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (colon)
            port = colon + 1;
    }
    out->port = default_port;
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (!*port || *end || p <= 0 || p > 65535)
            return SB_EINVAL;
        out->port = (uint16_t)p;
    }
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, out->ip) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, out->ip) == 1) {
        out->family = 6;
        return 0;
    }
    return SB_EINVAL;
}

char *sb_ep_host(const sb_ep *e, char *buf)
{
    if (!inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->ip, buf, SB_EP_STRLEN))
        strcpy(buf, "?");
    return buf;
}

char *sb_ep_str(const sb_ep *e, char *buf)
{
    char h[INET6_ADDRSTRLEN]; /* sized so that gcc sees the result fits */
    if (!inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->ip, h, sizeof(h)))
        strcpy(h, "?");
    if (e->family == 6)
        snprintf(buf, SB_EP_STRLEN, "[%s]:%u", h, e->port);
    else
        snprintf(buf, SB_EP_STRLEN, "%s:%u", h, e->port);
    return buf;
}

int sb_ep_cmp(const sb_ep *a, const sb_ep *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    int c = memcmp(a->ip, b->ip, 16);
    if (c)
        return c < 0 ? -1 : 1;
    return a->port < b->port ? -1 : a->port > b->port;
}

int sb_ep_eq(const sb_ep *a, const sb_ep *b)
{
    return sb_ep_cmp(a, b) == 0;
}

int sb_parse_hostport(const char *s, int default_port, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (!s || !*s)
        return SB_EINVAL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb)
            return SB_EINVAL;
        hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= hostlen)
            return SB_EINVAL;
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1])
            return SB_EINVAL;
    } else {
        colon = strrchr(s, ':');
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl == 0 || hl >= hostlen)
            return SB_EINVAL;
        memcpy(host, s, hl);
        host[hl] = 0;
    }
    if (!colon) {
        *port = default_port;
        return 0;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return SB_EINVAL;
    *port = (int)p;
    return 0;
}
