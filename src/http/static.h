/*
 * The web dashboard's files, embedded in the binary.
 *
 * `make` builds web/ into build/web/ and scripts/embed-assets.py turns that
 * directory into build/gen/web/assets.c, which defines the table below. The
 * table and the bytes it points to are static and live for the whole
 * process; nothing is ever freed.
 */
#ifndef SB_HTTP_STATIC_H
#define SB_HTTP_STATIC_H

#include <stddef.h>

typedef struct sb_web_asset {
    const char *name;         /* file name inside build/web, e.g. "app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} sb_web_asset;

/* Defined in the generated build/gen/web/assets.c. */
extern const sb_web_asset sb_web_assets[];
extern const size_t sb_web_assets_count;

/* The asset called name (name_len bytes, no NUL needed), or NULL. */
const sb_web_asset *sb_web_asset_find(const char *name, size_t name_len);

#endif
