/* Origins and the cross-origin rule (origin.h). */
#include "http/origin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

static int is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int is_v6_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

/* "host[:port]" in s[0..len) into o->host and o->port (default by
 * o->https). 0 or SB_EINVAL. */
static int parse_authority(const char *s, size_t len, sb_origin *o)
{
    size_t end = 0;
    if (len > 0 && s[0] == '[') {
        end = 1;
        while (end < len && s[end] != ']') {
            if (!is_v6_char((unsigned char)s[end]))
                return SB_EINVAL;
            end++;
        }
        if (end >= len || end == 1)
            return SB_EINVAL;
        end++;
    } else {
        while (end < len && s[end] != ':') {
            if (!is_host_char((unsigned char)s[end]))
                return SB_EINVAL;
            end++;
        }
    }
    if (end == 0 || end >= sizeof o->host)
        return SB_EINVAL;
    for (size_t i = 0; i < end; i++) {
        char c = s[i];
        o->host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    o->host[end] = 0;
    o->port = o->https ? 443 : 80;
    if (end == len)
        return 0;
    if (s[end] != ':' || len - end - 1 < 1 || len - end - 1 > 5)
        return SB_EINVAL;
    long port = 0;
    for (size_t i = end + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SB_EINVAL;
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return SB_EINVAL;
    o->port = (int)port;
    return 0;
}

int sb_origin_parse(const char *s, size_t len, sb_origin *out)
{
    memset(out, 0, sizeof *out);
    size_t skip;
    if (len >= 7 && !strncasecmp(s, "http://", 7)) {
        skip = 7;
    } else if (len >= 8 && !strncasecmp(s, "https://", 8)) {
        skip = 8;
        out->https = 1;
    } else {
        return SB_EINVAL;
    }
    if (len > skip && s[len - 1] == '/')
        len--;
    int rv = parse_authority(s + skip, len - skip, out);
    if (rv)
        memset(out, 0, sizeof *out);
    return rv;
}

char *sb_origin_str(const sb_origin *o, char *buf)
{
    int default_port = o->port == (o->https ? 443 : 80);
    if (default_port)
        snprintf(buf, SB_ORIGIN_STRLEN, "%s://%s", o->https ? "https" : "http", o->host);
    else
        snprintf(buf, SB_ORIGIN_STRLEN, "%s://%s:%d", o->https ? "https" : "http", o->host,
                 o->port);
    return buf;
}

int sb_origin_ep(const sb_origin *o, sb_ep *ep)
{
    char hp[SB_ORIGIN_HOST_MAX + 8];
    snprintf(hp, sizeof hp, "%s:%d", o->host, o->port);
    return sb_ep_parse(hp, (uint16_t)o->port, ep) == 0 ? 0 : SB_EINVAL;
}

int sb_origin_list_canon(const char *in, char *out, size_t outlen, char *errmsg)
{
    size_t o = 0;
    const char *p = in;
    if (outlen == 0)
        return sb_seterr(errmsg, SB_EINVAL, "no room for the list");
    out[0] = 0;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        sb_origin org;
        if (n == 1 && p[0] == '*')
            return sb_seterr(errmsg, SB_EINVAL,
                             "'*' is not accepted: list the origins that may use the API");
        if (sb_origin_parse(p, n, &org) != 0)
            return sb_seterr(errmsg, SB_EINVAL,
                             "'%.*s' is not an origin (expected http://HOST[:PORT] or "
                             "https://HOST[:PORT], without a path)",
                             (int)(n > 200 ? 200 : n), p);
        char s[SB_ORIGIN_STRLEN];
        size_t sl = strlen(sb_origin_str(&org, s));
        if (o + (o ? 1 : 0) + sl + 1 > outlen)
            return sb_seterr(errmsg, SB_EINVAL, "the list is longer than %zu bytes", outlen - 1);
        if (o)
            out[o++] = ',';
        memcpy(out + o, s, sl + 1);
        o += sl;
        p += n;
    }
    return 0;
}

int sb_origin_in_list(const sb_origin *o, const char *list)
{
    char s[SB_ORIGIN_STRLEN];
    size_t sl = strlen(sb_origin_str(o, s));
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == sl && !memcmp(p, s, sl))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int is_wildcard(const sb_ep *e)
{
    static const uint8_t zero[16];
    return !memcmp(e->ip, zero, e->family == 6 ? 16 : 4);
}

void sb_origin_member_ep(const sb_ep *http, const sb_ep *listen, sb_ep *out)
{
    *out = *http;
    if (http->family && is_wildcard(http) && listen->family) {
        memcpy(out->ip, listen->ip, sizeof out->ip);
        out->family = listen->family;
    }
}

int sb_origin_trusted(const sb_origin *o, const char *authority, size_t alen, const sb_ep *eps,
                      int neps, const char *allowed)
{
    if (allowed && sb_origin_in_list(o, allowed))
        return 1;
    sb_ep oe;
    /* a DNS name is trusted only through the allowed list */
    if (sb_origin_ep(o, &oe) != 0)
        return 0;
    if (authority) {
        sb_origin a;
        memset(&a, 0, sizeof a);
        a.https = o->https;
        if (parse_authority(authority, alen, &a) == 0 && !strcmp(a.host, o->host) &&
            a.port == o->port)
            return 1;
    }
    for (int i = 0; i < neps; i++)
        if (eps[i].family && !is_wildcard(&eps[i]) && sb_ep_eq(&oe, &eps[i]))
            return 1;
    return 0;
}

int sb_content_type_is_json(const char *ct, size_t len)
{
    size_t i = 0;
    while (i < len && (ct[i] == ' ' || ct[i] == '\t'))
        i++;
    size_t e = i;
    while (e < len && ct[e] != ';')
        e++;
    while (e > i && (ct[e - 1] == ' ' || ct[e - 1] == '\t'))
        e--;
    return e - i == 16 && !strncasecmp(ct + i, "application/json", 16);
}
