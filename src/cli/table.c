/*
 * cqlsh-style result tables (see table.h for the layout).
 */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hex.h"

size_t sb_cli_text_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

static int pad(sb_buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sb_buf_putc(out, ' '))
            return SB_ENOMEM;
    return 0;
}

static int dashes(sb_buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sb_buf_putc(out, '-'))
            return SB_ENOMEM;
    return 0;
}

int sb_cli_table_render(sb_buf *out, int ncols, const char *const *names, int nrows,
                        const char *const *cells)
{
    if (ncols <= 0)
        return 0;
    size_t *w = calloc((size_t)ncols, sizeof *w);
    if (!w)
        return SB_ENOMEM;
    for (int c = 0; c < ncols; c++) {
        w[c] = sb_cli_text_width(names[c]);
        for (int r = 0; r < nrows; r++) {
            size_t cw = sb_cli_text_width(cells[(size_t)r * ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    int rc = 0;
    /* Header: names left-aligned, trailing blanks dropped. */
    size_t line = out->len;
    rc |= sb_buf_putc(out, ' ');
    for (int c = 0; c < ncols; c++) {
        if (c)
            rc |= sb_buf_append(out, " | ", 3);
        rc |= sb_buf_append(out, names[c], strlen(names[c]));
        rc |= pad(out, w[c] - sb_cli_text_width(names[c]));
    }
    while (out->len > line && out->data[out->len - 1] == ' ')
        out->len--;
    rc |= sb_buf_putc(out, '\n');
    for (int c = 0; c < ncols; c++) {
        rc |= sb_buf_putc(out, c ? '+' : '-');
        rc |= dashes(out, w[c] + 2 - (c == 0));
    }
    /* cqlsh's separator is '-' + '-+-'.join(dashes) + '-'. */
    rc |= sb_buf_putc(out, '\n');
    for (int r = 0; r < nrows && !rc; r++) {
        rc |= sb_buf_putc(out, ' ');
        for (int c = 0; c < ncols; c++) {
            const char *s = cells[(size_t)r * ncols + c];
            if (c)
                rc |= sb_buf_append(out, " | ", 3);
            rc |= pad(out, w[c] - sb_cli_text_width(s));
            rc |= sb_buf_append(out, s, strlen(s));
        }
        rc |= sb_buf_putc(out, '\n');
    }
    free(w);
    return rc ? SB_ENOMEM : 0;
}

int sb_cli_table_render_expanded(sb_buf *out, int ncols, const char *const *names, int nrows,
                                 const char *const *cells, int first_row)
{
    size_t nw = 0, vw = 0;
    for (int c = 0; c < ncols; c++) {
        size_t k = sb_cli_text_width(names[c]);
        if (k > nw)
            nw = k;
    }
    for (size_t i = 0; i < (size_t)nrows * ncols; i++) {
        size_t k = sb_cli_text_width(cells[i]);
        if (k > vw)
            vw = k;
    }
    int rc = 0;
    for (int r = 0; r < nrows && !rc; r++) {
        if (r)
            rc |= sb_buf_putc(out, '\n');
        rc |= sb_buf_printf(out, "@ Row %d\n", first_row + r);
        rc |= dashes(out, nw + 2);
        rc |= sb_buf_putc(out, '+');
        rc |= dashes(out, vw + 2);
        rc |= sb_buf_putc(out, '\n');
        for (int c = 0; c < ncols; c++) {
            const char *s = cells[(size_t)r * ncols + c];
            rc |= sb_buf_putc(out, ' ');
            rc |= sb_buf_append(out, names[c], strlen(names[c]));
            rc |= pad(out, nw - sb_cli_text_width(names[c]));
            rc |= sb_buf_append(out, " | ", 3);
            rc |= sb_buf_append(out, s, strlen(s));
            rc |= sb_buf_putc(out, '\n');
        }
    }
    return rc ? SB_ENOMEM : 0;
}

static int format_blob(sb_buf *b, sb_value v)
{
    if (v.len < 0)
        return sb_buf_append(b, "null", 4);
    int rc = sb_buf_append(b, "0x", 2);
    return rc ? rc : sb_hex_append(b, v.p, (size_t)v.len);
}

int sb_cli_format_cells(const sb_cqlc_result *r, char ***cells_out, char **store_out)
{
    size_t n = (size_t)r->nrows * (size_t)r->ncols;
    size_t *offs = malloc((n + 1) * sizeof *offs);
    sb_buf b;
    sb_buf_init(&b);
    int rc = offs ? 0 : SB_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        const sb_cqlc_col *col = &r->cols[i % (size_t)r->ncols];
        offs[i] = b.len;
        size_t before = b.len;
        if (col->raw || sb_value_format(&b, col->type, r->vals[i])) {
            b.len = before;
            rc = format_blob(&b, r->vals[i]);
        }
        rc |= sb_buf_putc(&b, 0);
    }
    char **cells = rc ? NULL : malloc((n + 1) * sizeof *cells);
    if (!cells) {
        free(offs);
        sb_buf_free(&b);
        return SB_ENOMEM;
    }
    if (!b.data && sb_buf_putc(&b, 0)) {
        free(offs);
        free(cells);
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        cells[i] = (char *)b.data + offs[i];
    free(offs);
    *cells_out = cells;
    *store_out = (char *)b.data;
    return 0;
}
