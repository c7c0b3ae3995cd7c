/*
 * DESCRIBE for the CQL shell, built from the system_schema tables the node
 * serves (keyspaces, tables, columns).
 *
 * The CQL printed for a keyspace or a table is meant to be run again: it
 * recreates the object with the same columns, key, clustering order and
 * the options Sibyl stores (comment, compaction, default_time_to_live,
 * gc_grace_seconds). As in Cassandra, regular columns come out in name
 * order after the key columns (system_schema does not keep the declared
 * order).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/shell_int.h"
#include "util/err.h"

static const char *const reserved[] = {
    "add",    "allow",    "alter",    "and",          "apply",    "asc",     "authorize",
    "batch",  "begin",    "by",       "columnfamily", "create",   "default", "delete",
    "desc",   "describe", "drop",     "entries",      "execute",  "from",    "full",
    "grant",  "if",       "in",       "index",        "infinity", "insert",  "into",
    "is",     "keyspace", "limit",    "materialized", "modify",   "nan",     "norecursive",
    "not",    "null",     "of",       "on",           "or",       "order",   "primary",
    "rename", "replace",  "revoke",   "schema",       "select",   "set",     "table",
    "to",     "token",    "truncate", "unlogged",     "unset",    "update",  "use",
    "using",  "view",     "where",    "with",
};

void cli_put_ident(sb_buf *b, const char *name)
{
    int plain = name[0] >= 'a' && name[0] <= 'z';
    for (const char *p = name; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    for (size_t i = 0; plain && i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(name, reserved[i]))
            plain = 0;
    if (plain) {
        sb_buf_append(b, name, strlen(name));
        return;
    }
    sb_buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            sb_buf_putc(b, '"');
        sb_buf_putc(b, (uint8_t)*p);
    }
    sb_buf_putc(b, '"');
}

/* A CQL string literal. */
static void put_literal(sb_buf *b, const char *s, size_t n)
{
    sb_buf_putc(b, '\'');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            sb_buf_putc(b, '\'');
        sb_buf_putc(b, (uint8_t)s[i]);
    }
    sb_buf_putc(b, '\'');
}

static int col_index(const sb_cqlc_result *r, const char *name)
{
    for (int i = 0; i < r->ncols; i++)
        if (!strcmp(r->cols[i].name, name))
            return i;
    return -1;
}

/* The text of cell (row, name) as a NUL-terminated copy in dst. */
static const char *cell_text(const sb_cqlc_result *r, int row, const char *name, char *dst,
                             size_t size)
{
    int c = col_index(r, name);
    dst[0] = 0;
    if (c < 0)
        return dst;
    sb_value v = r->vals[(size_t)row * r->ncols + c];
    if (v.len > 0)
        snprintf(dst, size, "%.*s", (int)v.len, (const char *)v.p);
    return dst;
}

static int32_t cell_int(const sb_cqlc_result *r, int row, const char *name, int32_t dflt)
{
    int c = col_index(r, name);
    if (c < 0)
        return dflt;
    sb_value v = r->vals[(size_t)row * r->ncols + c];
    if (v.len != 4)
        return dflt;
    return (int32_t)((uint32_t)v.p[0] << 24 | (uint32_t)v.p[1] << 16 | (uint32_t)v.p[2] << 8 |
                     v.p[3]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Appends a map<text, text> cell as a CQL map literal, dropping `strip`
 * from the front of values (class names). */
static void put_text_map(sb_buf *b, sb_value v, const char *strip)
{
    sb_buf_putc(b, '{');
    if (v.len >= 4) {
        const uint8_t *p = v.p, *end = v.p + v.len;
        uint32_t n = be32(p);
        p += 4;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *kv[2];
            uint32_t kl[2];
            int ok = 1;
            for (int j = 0; j < 2 && ok; j++) {
                if (end - p < 4 || (uint32_t)(end - p - 4) < be32(p)) {
                    ok = 0;
                    break;
                }
                kl[j] = be32(p);
                kv[j] = p + 4;
                p += 4 + kl[j];
            }
            if (!ok)
                break;
            if (i)
                sb_buf_append(b, ", ", 2);
            put_literal(b, (const char *)kv[0], kl[0]);
            sb_buf_append(b, ": ", 2);
            size_t sl = strip ? strlen(strip) : 0;
            if (sl && kl[1] > sl && !memcmp(kv[1], strip, sl))
                put_literal(b, (const char *)kv[1] + sl, kl[1] - sl);
            else
                put_literal(b, (const char *)kv[1], kl[1]);
        }
    }
    sb_buf_putc(b, '}');
}

static void select_where(sb_buf *q, const char *what, const char *table, const char *ks,
                         const char *t)
{
    sb_buf_printf(q, "SELECT %s FROM system_schema.%s", what, table);
    if (ks) {
        sb_buf_printf(q, " WHERE keyspace_name = ");
        put_literal(q, ks, strlen(ks));
    }
    if (t) {
        sb_buf_printf(q, " AND table_name = ");
        put_literal(q, t, strlen(t));
    }
}

/* Runs a query built in q; 0 with r filled, or an error (displayed). */
static int fetch(cli_shell *sh, sb_buf *q, sb_cqlc_result *r)
{
    int rc = cli_query_all(sh, sb_buf_cstr(q), r);
    sb_buf_reset(q);
    if (!rc && r->kind != SB_CQLC_ROWS) {
        cli_error(sh, "ProtocolError", "schema query did not return rows");
        rc = SB_EBADINPUT;
    }
    return rc;
}

/* Appends CREATE TABLE for ks.t; 0, or SB_ENOTFOUND (displayed). */
static int table_cql(cli_shell *sh, sb_buf *out, const char *ks, const char *t)
{
    sb_buf q;
    sb_buf_init(&q);
    sb_cqlc_result tr, cr;
    sb_cqlc_result_init(&tr);
    sb_cqlc_result_init(&cr);
    int rc = 0;
    select_where(&q, "*", "tables", ks, t);
    if ((rc = fetch(sh, &q, &tr)))
        goto fail;
    if (tr.nrows == 0) {
        cli_error(sh, "InvalidRequest", "Table '%s' not found in keyspace '%s'", t, ks);
        rc = SB_ENOTFOUND;
        goto fail;
    }
    select_where(&q, "column_name, kind, position, type, clustering_order", "columns", ks, t);
    if ((rc = fetch(sh, &q, &cr)))
        goto fail;
    /* Key columns by position, then the others in name order (the result
     * is sorted by name already). */
    int n = cr.nrows;
    int *order = calloc((size_t)n + 1, sizeof *order), no = 0, npk = 0, nck = 0;
    if (!order) {
        rc = SB_ENOMEM;
        goto fail;
    }
    char kind[32], name[256], type[256], corder[16];
    static const char *const kinds[] = {"partition_key", "clustering"};
    for (int k = 0; k < 2; k++)
        for (int pos = 0; pos < n; pos++)
            for (int i = 0; i < n; i++)
                if (!strcmp(cell_text(&cr, i, "kind", kind, sizeof kind), kinds[k]) &&
                    cell_int(&cr, i, "position", -1) == pos) {
                    order[no++] = i;
                    k ? nck++ : npk++;
                }
    for (int i = 0; i < n; i++) {
        cell_text(&cr, i, "kind", kind, sizeof kind);
        if (strcmp(kind, "partition_key") && strcmp(kind, "clustering"))
            order[no++] = i;
    }
    sb_buf_printf(out, "CREATE TABLE ");
    cli_put_ident(out, ks);
    sb_buf_putc(out, '.');
    cli_put_ident(out, t);
    sb_buf_printf(out, " (\n");
    for (int j = 0; j < no; j++) {
        int i = order[j];
        sb_buf_printf(out, "    ");
        cli_put_ident(out, cell_text(&cr, i, "column_name", name, sizeof name));
        sb_buf_printf(out, " %s", cell_text(&cr, i, "type", type, sizeof type));
        if (!strcmp(cell_text(&cr, i, "kind", kind, sizeof kind), "static"))
            sb_buf_printf(out, " static");
        sb_buf_printf(out, ",\n");
    }
    sb_buf_printf(out, "    PRIMARY KEY (");
    if (npk > 1)
        sb_buf_putc(out, '(');
    for (int j = 0; j < npk + nck; j++) {
        if (j)
            sb_buf_append(out, ", ", 2);
        cli_put_ident(out, cell_text(&cr, order[j], "column_name", name, sizeof name));
        if (j == npk - 1 && npk > 1)
            sb_buf_putc(out, ')');
    }
    sb_buf_printf(out, ")\n)");
    const char *sep = " WITH ";
    if (nck) {
        sb_buf_printf(out, " WITH CLUSTERING ORDER BY (");
        for (int j = npk; j < npk + nck; j++) {
            if (j > npk)
                sb_buf_append(out, ", ", 2);
            cli_put_ident(out, cell_text(&cr, order[j], "column_name", name, sizeof name));
            cell_text(&cr, order[j], "clustering_order", corder, sizeof corder);
            sb_buf_printf(out, " %s", !strcmp(corder, "desc") ? "DESC" : "ASC");
        }
        sb_buf_printf(out, ")");
        sep = "\n    AND ";
    }
    free(order);
    int c = col_index(&tr, "comment");
    sb_value v = c >= 0 ? tr.vals[c] : SB_VALUE_NULL;
    sb_buf_printf(out, "%scomment = ", sep);
    put_literal(out, v.len > 0 ? (const char *)v.p : "", v.len > 0 ? (size_t)v.len : 0);
    c = col_index(&tr, "compaction");
    if (c >= 0 && tr.vals[c].len > 4) {
        sb_buf_printf(out, "\n    AND compaction = ");
        put_text_map(out, tr.vals[c], NULL);
    }
    sb_buf_printf(out, "\n    AND default_time_to_live = %d",
                  (int)cell_int(&tr, 0, "default_time_to_live", 0));
    sb_buf_printf(out, "\n    AND gc_grace_seconds = %d;\n",
                  (int)cell_int(&tr, 0, "gc_grace_seconds", 864000));
fail:
    sb_cqlc_result_free(&tr);
    sb_cqlc_result_free(&cr);
    sb_buf_free(&q);
    return rc;
}

/* Names from a one-column result, sorted (the server sorts already). */
static void print_names(cli_shell *sh, const sb_cqlc_result *r, int col)
{
    size_t width = 0;
    for (int i = 0; i < r->nrows; i++) {
        sb_value v = r->vals[(size_t)i * r->ncols + col];
        int len = v.len > 0 ? v.len : 0;
        if (width && width + 2 + (size_t)len > 80) {
            fputc('\n', sh->out);
            width = 0;
        }
        if (width) {
            fputs("  ", sh->out);
            width += 2;
        }
        fprintf(sh->out, "%.*s", len, (const char *)v.p);
        width += (size_t)len;
    }
    fputc('\n', sh->out);
}

static int is_system_ks(const char *ks)
{
    return !strcmp(ks, "system") || !strncmp(ks, "system_", 7);
}

/* Appends CREATE KEYSPACE and, with tables, every table's CREATE TABLE. */
static int keyspace_cql(cli_shell *sh, sb_buf *out, const char *ks, int tables)
{
    sb_buf q;
    sb_buf_init(&q);
    sb_cqlc_result kr, tr;
    sb_cqlc_result_init(&kr);
    sb_cqlc_result_init(&tr);
    int rc;
    select_where(&q, "*", "keyspaces", ks, NULL);
    if ((rc = fetch(sh, &q, &kr)))
        goto fail;
    if (kr.nrows == 0) {
        cli_error(sh, "InvalidRequest", "Keyspace '%s' not found", ks);
        rc = SB_ENOTFOUND;
        goto fail;
    }
    sb_buf_printf(out, "CREATE KEYSPACE ");
    cli_put_ident(out, ks);
    sb_buf_printf(out, " WITH replication = ");
    int c = col_index(&kr, "replication");
    put_text_map(out, c >= 0 ? kr.vals[c] : SB_VALUE_NULL, "org.apache.cassandra.locator.");
    c = col_index(&kr, "durable_writes");
    int durable = c < 0 || kr.vals[c].len != 1 || kr.vals[c].p[0];
    sb_buf_printf(out, " AND durable_writes = %s;\n", durable ? "true" : "false");
    if (tables) {
        select_where(&q, "table_name", "tables", ks, NULL);
        if ((rc = fetch(sh, &q, &tr)))
            goto fail;
        for (int i = 0; i < tr.nrows && !rc; i++) {
            char t[256];
            sb_value v = tr.vals[(size_t)i * tr.ncols];
            snprintf(t, sizeof t, "%.*s", v.len > 0 ? (int)v.len : 0, (const char *)v.p);
            sb_buf_putc(out, '\n');
            rc = table_cql(sh, out, ks, t);
        }
    }
fail:
    sb_cqlc_result_free(&kr);
    sb_cqlc_result_free(&tr);
    sb_buf_free(&q);
    return rc;
}

/* Parses an identifier (quoted keeps case, unquoted is lower-cased) at *s
 * into dst; returns 0 or -1 when there is none. */
static int parse_ident(const char **s, char *dst, size_t size)
{
    const char *p = *s;
    size_t n = 0;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '"') {
        p++;
        while (*p && !(p[0] == '"' && p[1] != '"')) {
            if (*p == '"')
                p++;
            if (n + 1 < size)
                dst[n++] = *p;
            p++;
        }
        if (*p != '"')
            return -1;
        p++;
    } else {
        while (*p && (isalnum((unsigned char)*p) || *p == '_')) {
            if (n + 1 < size)
                dst[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
    }
    dst[n] = 0;
    *s = p;
    return n ? 0 : -1;
}

/* [ks.]name -> ks (current keyspace when absent), name. */
static int parse_qualified(cli_shell *sh, const char *s, char *ks, char *name, size_t size)
{
    if (parse_ident(&s, name, size))
        return -1;
    if (*s == '.') {
        s++;
        snprintf(ks, size, "%s", name);
        if (parse_ident(&s, name, size))
            return -1;
    } else {
        if (!sh->keyspace[0])
            return -2;
        snprintf(ks, size, "%s", sh->keyspace);
    }
    while (isspace((unsigned char)*s))
        s++;
    return *s ? -1 : 0;
}

static int word(const char **s, const char *w)
{
    size_t n = strlen(w);
    if (strncasecmp(*s, w, n) || ((*s)[n] && !isspace((unsigned char)(*s)[n])))
        return 0;
    *s += n;
    while (isspace((unsigned char)**s))
        (*s)++;
    return 1;
}

static void emit(cli_shell *sh, sb_buf *out)
{
    fputc('\n', sh->out);
    fwrite(out->data, 1, out->len, sh->out);
    fputc('\n', sh->out);
}

static void describe_tables(cli_shell *sh)
{
    sb_buf q;
    sb_buf_init(&q);
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    if (sh->keyspace[0]) {
        select_where(&q, "table_name", "tables", sh->keyspace, NULL);
        if (!fetch(sh, &q, &r)) {
            fputc('\n', sh->out);
            print_names(sh, &r, 0);
            fputc('\n', sh->out);
        }
    } else {
        select_where(&q, "keyspace_name, table_name", "tables", NULL, NULL);
        if (!fetch(sh, &q, &r)) {
            fputc('\n', sh->out);
            for (int i = 0; i < r.nrows;) {
                sb_value k = r.vals[(size_t)i * 2];
                int j = i;
                while (j < r.nrows && r.vals[(size_t)j * 2].len == k.len &&
                       !memcmp(r.vals[(size_t)j * 2].p, k.p, (size_t)(k.len > 0 ? k.len : 0)))
                    j++;
                fprintf(sh->out, "Keyspace %.*s\n", (int)k.len, (const char *)k.p);
                for (int d = 0; d < 9 + k.len; d++)
                    fputc('-', sh->out);
                fputc('\n', sh->out);
                sb_cqlc_result sub = r;
                sub.vals = r.vals + (size_t)i * 2;
                sub.nrows = j - i;
                print_names(sh, &sub, 1);
                fputc('\n', sh->out);
                i = j;
            }
        }
    }
    sb_cqlc_result_free(&r);
    sb_buf_free(&q);
}

void cli_describe(cli_shell *sh, const char *args)
{
    sb_buf out, q;
    sb_buf_init(&out);
    sb_buf_init(&q);
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    char ks[256], name[256];
    const char *s = args;
    if (word(&s, "KEYSPACES") && !*s) {
        select_where(&q, "keyspace_name", "keyspaces", NULL, NULL);
        if (!fetch(sh, &q, &r)) {
            fputc('\n', sh->out);
            print_names(sh, &r, 0);
            fputc('\n', sh->out);
        }
    } else if ((s = args, word(&s, "TABLES")) && !*s) {
        describe_tables(sh);
    } else if ((s = args, word(&s, "CLUSTER")) && !*s) {
        sb_buf_printf(&q, "SELECT cluster_name, partitioner FROM system.local");
        if (!fetch(sh, &q, &r) && r.nrows == 1 && r.ncols == 2) {
            fprintf(sh->out, "\nCluster: %.*s\nPartitioner: %.*s\n\n", (int)r.vals[0].len,
                    (const char *)r.vals[0].p, (int)r.vals[1].len, (const char *)r.vals[1].p);
        }
    } else if ((s = args, word(&s, "SCHEMA")) && !*s) {
        select_where(&q, "keyspace_name", "keyspaces", NULL, NULL);
        if (!fetch(sh, &q, &r)) {
            int rc = 0;
            for (int i = 0; i < r.nrows && !rc; i++) {
                snprintf(ks, sizeof ks, "%.*s", (int)r.vals[i].len, (const char *)r.vals[i].p);
                if (is_system_ks(ks))
                    continue;
                if (out.len)
                    sb_buf_putc(&out, '\n');
                rc = keyspace_cql(sh, &out, ks, 1);
            }
            if (!rc)
                emit(sh, &out);
        }
    } else if ((s = args, word(&s, "KEYSPACE"))) {
        const char *target = sh->keyspace;
        int bad = 0;
        if (*s) {
            bad = parse_ident(&s, ks, sizeof ks) || *s;
            target = ks;
        }
        if (bad)
            cli_error(sh, "Improper DESCRIBE command", "expected DESCRIBE KEYSPACE [keyspace]");
        else if (!target[0])
            cli_error(sh, "InvalidRequest", "No keyspace specified and no current keyspace");
        else if (!keyspace_cql(sh, &out, target, 1))
            emit(sh, &out);
    } else if ((s = args, word(&s, "TABLE") || word(&s, "COLUMNFAMILY"))) {
        int prc = parse_qualified(sh, s, ks, name, sizeof ks);
        if (prc == -2)
            cli_error(sh, "InvalidRequest", "No keyspace specified and no current keyspace");
        else if (prc)
            cli_error(sh, "Improper DESCRIBE command", "expected DESCRIBE TABLE [keyspace.]table");
        else if (!table_cql(sh, &out, ks, name))
            emit(sh, &out);
    } else if (*args) {
        /* DESCRIBE name: a table of the current keyspace, a keyspace, or
         * ks.table, as cqlsh resolves it. */
        s = args;
        int prc = parse_qualified(sh, s, ks, name, sizeof ks);
        if (prc == 0 && strchr(args, '.')) {
            if (!table_cql(sh, &out, ks, name))
                emit(sh, &out);
        } else {
            s = args;
            char one[256];
            if (parse_ident(&s, one, sizeof one) || *s) {
                cli_error(sh, "Improper DESCRIBE command",
                          "expected KEYSPACES, TABLES, KEYSPACE [ks], TABLE [ks.]t, SCHEMA, "
                          "CLUSTER or a name");
            } else {
                select_where(&q, "keyspace_name", "keyspaces", one, NULL);
                int is_ks = !fetch(sh, &q, &r) && r.nrows > 0;
                if (is_ks) {
                    if (!keyspace_cql(sh, &out, one, 1))
                        emit(sh, &out);
                } else if (sh->keyspace[0]) {
                    if (!table_cql(sh, &out, sh->keyspace, one))
                        emit(sh, &out);
                } else {
                    cli_error(sh, "InvalidRequest", "'%s' not found in keyspaces", one);
                }
            }
        }
    } else {
        cli_error(sh, "Improper DESCRIBE command",
                  "expected KEYSPACES, TABLES, KEYSPACE [ks], TABLE [ks.]t, SCHEMA, CLUSTER "
                  "or a name");
    }
    fflush(sh->out);
    sb_cqlc_result_free(&r);
    sb_buf_free(&out);
    sb_buf_free(&q);
}
