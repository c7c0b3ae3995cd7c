/*
 * Result rendering for the CQL shell, in cqlsh's layout (pure functions).
 *
 * Tabular (the default):
 *
 *    id | name  | temp
 *   ----+-------+------
 *     1 | alpha | 21.5
 *
 * A leading space, header names left-aligned, values right-aligned, columns
 * separated by " | " and as wide as their widest cell (widths count UTF-8
 * characters, not bytes; trailing blanks of the header line are dropped).
 *
 * Expanded (EXPAND ON): one block per row,
 *
 *   @ Row 1
 *   ------+-------
 *    id   | 1
 *    name | alpha
 *
 * Cells are the strings sb_value_format produces (cqlsh's rendering).
 */
#ifndef SB_CLI_TABLE_H
#define SB_CLI_TABLE_H

#include <stddef.h>

#include "cli/cqlclient.h"
#include "util/buf.h"

/* Display width of a UTF-8 string: characters, not bytes. */
size_t sb_cli_text_width(const char *s);

/* Appends the table of nrows rows of ncols cells (cells row-major,
 * NUL-terminated) with a header and a separator line. 0 or SB_ENOMEM. */
int sb_cli_table_render(sb_buf *out, int ncols, const char *const *names, int nrows,
                        const char *const *cells);
/* Appends the rows as expanded blocks, numbering from first_row (1-based). */
int sb_cli_table_render_expanded(sb_buf *out, int ncols, const char *const *names, int nrows,
                                 const char *const *cells, int first_row);

/* Formats the rows of a ROWS result into cell strings: *cells_out is a
 * malloc'd array of nrows * ncols pointers into *store_out's data (also
 * malloc'd; free both with free()). Values the client cannot decode are
 * shown as blobs (0x...). 0 or SB_ENOMEM. */
int sb_cli_format_cells(const sb_cqlc_result *r, char ***cells_out, char **store_out);

#endif
