/*
 * Body framing fields of a raw HTTP/1.x request head, counted without
 * parsing anything else (internal to http/; see server.c's use). Pure.
 */
#ifndef SB_HTTP_FRAMING_H
#define SB_HTTP_FRAMING_H

#include <stddef.h>

/* Scans buf (the head from its request line, possibly followed by body
 * bytes) for the blank line that ends the head, counting the field lines
 * named Content-Length (*cl) and Transfer-Encoding (*te), case-blind.
 * Lines end in LF with an optional CR before it, as h2o's parser reads
 * them. 0 when the head ended within n bytes, -1 when it did not (the
 * counts then cover the lines seen). Reads only buf[0..n). */
int sb_http_framing_fields(const char *buf, size_t n, int *cl, int *te);

#endif
