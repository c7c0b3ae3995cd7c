/* The reason phrase of an HTTP status code (RFC 9110, section 15), shared
 * by the node's HTTP server and the demo's control server. */
#ifndef SB_UTIL_HTTP_REASON_H
#define SB_UTIL_HTTP_REASON_H

/* A static string; "Status" for codes not listed. */
const char *sb_http_reason(int status);

#endif
