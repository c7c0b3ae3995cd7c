/*
 * CQL executor core: engine, sessions, results, errors, the prepared cache
 * and statement dispatch (see cql.h for the design notes, exec_int.h for
 * how the work is split between files).
 *
 * Invariants:
 *   - Every sb_cql_execute* call ends in exactly one callback, unless it
 *     returns SB_ENOMEM (nothing could be allocated).
 *   - A write's result is allocated before the batch is queued, so the
 *     completion on the event loop never has to allocate.
 *   - The write clock never goes backwards: each timestamp is
 *     max(clock, last + 1).
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cql/exec_int.h"
#include "cql/parse.h"
#include "util/hex.h"
#include "util/hlc.h"
#include "util/json.h"

/* ------------------------------------------------------------------ arena */

void *cx_memdup(cx_mem *m, const void *p, size_t n)
{
    void *d = cx_alloc(m, n + 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

char *cx_strdup(cx_mem *m, const char *s)
{
    return cx_memdup(m, s, strlen(s));
}

int cx_value_dup(cx_mem *m, sb_value *dst, sb_value src)
{
    if (src.len < 0) {
        *dst = src;
        dst->p = NULL;
        return 0;
    }
    uint8_t *p = cx_memdup(m, src.p, (size_t)src.len);
    if (!p)
        return SB_ENOMEM;
    dst->p = p;
    dst->len = src.len;
    return 0;
}

/* ----------------------------------------------------------------- errors */

void sb_cql_error_from_result(const sb_write_result *r, int is_read, sb_cql_error *d)
{
    memset(d, 0, sizeof *d);
    d->status = r->status;
    d->consistency = r->consistency;
    const char *cl = sb_consistency_name(r->consistency);
    d->code = sb_err_cql_code(r->status);
    switch (r->status) {
    case SB_EUNAVAILABLE:
        d->required = r->required;
        d->alive = r->alive;
        snprintf(d->message, sizeof d->message,
                 "Cannot achieve consistency level %s (required %d, alive %d)", cl ? cl : "?",
                 r->required, r->alive);
        break;
    case SB_ETIMEOUT:
        if (is_read) /* the table's TIMEOUT is a write's */
            d->code = SB_CQL_ERR_READ_TIMEOUT;
        d->required = r->required;
        d->alive = r->received;
        d->write_type = r->write_type ? r->write_type : "SIMPLE";
        d->data_present = r->data_present;
        snprintf(d->message, sizeof d->message,
                 "Operation timed out - received only %d responses (%s needs %d)", r->received,
                 cl ? cl : "?", r->required);
        break;
    case SB_EOVERLOADED:
        snprintf(d->message, sizeof d->message, "%s", r->message[0] ? r->message : "Overloaded");
        break;
    case SB_EDISKFULL: /* WriteFailure: a replica refused the write */
        d->required = r->required;
        d->alive = r->received;
        d->write_type = r->write_type ? r->write_type : "SIMPLE";
        snprintf(d->message, sizeof d->message, "%s", r->message[0] ? r->message : "disk full");
        break;
    case SB_EINVALID:
    case SB_ENOTFOUND:
        snprintf(d->message, sizeof d->message, "%s", r->message[0] ? r->message : "unknown table");
        break;
    default:
        snprintf(d->message, sizeof d->message, "%s",
                 r->message[0] ? r->message : sb_strerror(r->status));
        break;
    }
}

/* Error class name of a protocol error code: "Syntax error", "Invalid",
 * "AlreadyExists", "Unavailable", "WriteTimeout", "ReadTimeout",
 * "Overloaded", "Unprepared", "Config", "Unauthorized", "ProtocolError",
 * "ServerError", ... (static strings). */
static const char *sb_cql_error_class(int code)
{
    switch (code) {
    case SB_CQL_ERR_PROTOCOL:
        return "ProtocolError";
    case SB_CQL_ERR_BAD_CREDENTIALS:
        return "BadCredentials";
    case SB_CQL_ERR_UNAVAILABLE:
        return "Unavailable";
    case SB_CQL_ERR_OVERLOADED:
        return "Overloaded";
    case SB_CQL_ERR_IS_BOOTSTRAPPING:
        return "IsBootstrapping";
    case SB_CQL_ERR_TRUNCATE:
        return "TruncateError";
    case SB_CQL_ERR_WRITE_TIMEOUT:
        return "WriteTimeout";
    case SB_CQL_ERR_READ_TIMEOUT:
        return "ReadTimeout";
    case SB_CQL_ERR_READ_FAILURE:
        return "ReadFailure";
    case SB_CQL_ERR_FUNCTION_FAILURE:
        return "FunctionFailure";
    case SB_CQL_ERR_WRITE_FAILURE:
        return "WriteFailure";
    case SB_CQL_ERR_SYNTAX:
        return "Syntax error";
    case SB_CQL_ERR_UNAUTHORIZED:
        return "Unauthorized";
    case SB_CQL_ERR_INVALID:
        return "Invalid";
    case SB_CQL_ERR_CONFIG:
        return "Config";
    case SB_CQL_ERR_ALREADY_EXISTS:
        return "AlreadyExists";
    case SB_CQL_ERR_UNPREPARED:
        return "Unprepared";
    default:
        return "ServerError";
    }
}

static void set_error(sb_cql_result *r, int status, const char *msg)
{
    r->kind = SB_CQL_RESULT_ERROR;
    r->err.status = status;
    r->err.code = sb_err_cql_code(status);
    r->err.name = sb_cql_error_class(r->err.code);
    if (msg != r->err.message)
        snprintf(r->err.message, sizeof r->err.message, "%s", msg);
}

static void append_pos(char *msg, const sb_cql_pos *pos)
{
    if (!pos || pos->line == 0)
        return;
    size_t n = strlen(msg);
    snprintf(msg + n, SB_ERRMSG_SIZE - n, " (line %u:%u)", pos->line, pos->col);
}

int cx_err(cx_ctx *c, int status, const sb_cql_pos *pos, const char *fmt, ...)
{
    sb_cql_result *r = c->res;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.message, sizeof r->err.message, fmt, ap);
    va_end(ap);
    append_pos(r->err.message, pos);
    set_error(r, status, r->err.message);
    return status;
}

int cx_err_msg(cx_ctx *c, int status, const sb_cql_pos *pos, const char *errmsg)
{
    return cx_err(c, status, pos, "%s", errmsg && errmsg[0] ? errmsg : sb_strerror(status));
}

/* ---------------------------------------------------------------- results */

typedef struct result_box {
    sb_cql_result r;
    cx_mem mem;
} result_box;

static sb_cql_result *result_new(void)
{
    result_box *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->r.priv = &b->mem;
    b->r.kind = SB_CQL_RESULT_VOID;
    return &b->r;
}

void sb_cql_result_free(sb_cql_result *r)
{
    if (!r)
        return;
    result_box *b = (result_box *)r;
    cx_mem_free(&b->mem);
    free(b);
}

int sb_cql_result_to_json(const sb_cql_result *r, sb_buf *out)
{
    int rc = 0;
    if (r->kind == SB_CQL_RESULT_ERROR) {
        rc |= sb_buf_printf(out, "{\"error\": {\"code\": ");
        rc |= sb_json_append_cstr(out, r->err.name ? r->err.name : "ServerError");
        rc |= sb_buf_printf(out, ", \"message\": ");
        rc |= sb_json_append_cstr(out, r->err.message);
        rc |= sb_buf_printf(out, "}}");
        return rc ? SB_ENOMEM : 0;
    }
    rc |= sb_buf_printf(out, "{\"columns\": [");
    for (int i = 0; i < r->ncols; i++) {
        if (i)
            rc |= sb_buf_printf(out, ", ");
        rc |= sb_json_append_cstr(out, r->cols[i].name);
    }
    rc |= sb_buf_printf(out, "], \"rows\": [");
    for (int i = 0; i < r->nrows; i++) {
        rc |= sb_buf_printf(out, i ? ", [" : "[");
        for (int j = 0; j < r->ncols; j++) {
            if (j)
                rc |= sb_buf_printf(out, ", ");
            rc |= sb_value_to_json(out, r->cols[j].type, r->rows[(size_t)i * r->ncols + j]);
        }
        rc |= sb_buf_putc(out, ']');
    }
    rc |= sb_buf_putc(out, ']');
    if (r->has_more && r->paging_state) {
        rc |= sb_buf_printf(out, ", \"paging_state\": \"");
        rc |= sb_hex_append(out, r->paging_state, r->paging_state_len);
        rc |= sb_buf_putc(out, '"');
    }
    if (r->kind == SB_CQL_RESULT_SET_KEYSPACE && r->keyspace) {
        rc |= sb_buf_printf(out, ", \"keyspace\": ");
        rc |= sb_json_append_cstr(out, r->keyspace);
    }
    if (r->kind == SB_CQL_RESULT_SCHEMA_CHANGE) {
        rc |= sb_buf_printf(out, ", \"schema_change\": {\"change\": ");
        rc |= sb_json_append_cstr(out, r->change_type);
        rc |= sb_buf_printf(out, ", \"target\": ");
        rc |= sb_json_append_cstr(out, r->target);
        rc |= sb_buf_printf(out, ", \"keyspace\": ");
        rc |= sb_json_append_cstr(out, r->sc_keyspace ? r->sc_keyspace : "");
        rc |= sb_buf_printf(out, ", \"name\": ");
        rc |= sb_json_append_cstr(out, r->sc_name ? r->sc_name : "");
        rc |= sb_buf_putc(out, '}');
    }
    if (r->warning) {
        rc |= sb_buf_printf(out, ", \"warnings\": [");
        rc |= sb_json_append_cstr(out, r->warning);
        rc |= sb_buf_putc(out, ']');
    }
    rc |= sb_buf_putc(out, '}');
    return rc ? SB_ENOMEM : 0;
}

/* ----------------------------------------------------------------- engine */

struct cx_prep {
    sb_cql_prepared pub;
    sb_cql_stmt *stmt;
    cx_mem mem;
    uint64_t last_used;
};

void sb_cql_engine_opts_default(sb_cql_engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_prepared = 4096;
    o->max_result_rows = 1000000;
}

sb_cql_engine *sb_cql_engine_new(sb_store *s, const sb_cql_engine_opts *opts)
{
    sb_cql_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->store = s;
    if (opts)
        e->opts = *opts;
    else
        sb_cql_engine_opts_default(&e->opts);
    if (e->opts.max_prepared <= 0)
        e->opts.max_prepared = 4096;
    if (e->opts.max_result_rows <= 0)
        e->opts.max_result_rows = 1000000;
    return e;
}

static void prep_free(cx_prep *p)
{
    if (!p)
        return;
    sb_cql_stmt_free(p->stmt);
    cx_mem_free(&p->mem);
    free(p);
}

void sb_cql_engine_free(sb_cql_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nprep; i++)
        prep_free(e->prep[i]);
    free(e->prep);
    free(e);
}

void sb_cql_engine_set_vtables(sb_cql_engine *e, const sb_cql_vtables *vt)
{
    if (vt) {
        e->vt = *vt;
        e->has_vt = 1;
    } else {
        e->has_vt = 0;
    }
}

static int64_t engine_clock_us(sb_cql_engine *e)
{
    if (e->opts.clock_us)
        return e->opts.clock_us(e->opts.clock_arg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sb_cql_engine_timestamp(sb_cql_engine *e)
{
    if (!e->opts.clock_us)
        return sb_hlc_now(sb_hlc_node()); /* the node's hybrid clock */
    int64_t now = engine_clock_us(e);
    if (now <= e->last_ts)
        now = e->last_ts + 1;
    e->last_ts = now;
    return now;
}

void sb_cql_session_init(sb_cql_session *s)
{
    memset(s, 0, sizeof *s);
}

void sb_cql_opts_default(sb_cql_opts *o)
{
    memset(o, 0, sizeof *o);
    o->consistency = SB_CL_ONE;
    o->serial_consistency = SB_CL_SERIAL;
}

/* --------------------------------------------------------------- helpers */

int64_t cx_write_ts(cx_ctx *c)
{
    if (!c->write_ts) {
        if (c->opts && c->opts->has_timestamp)
            c->write_ts = c->opts->timestamp_us;
        else
            c->write_ts = sb_cql_engine_timestamp(c->e);
    }
    return c->write_ts;
}

const char *cx_keyspace_of(cx_ctx *c, const sb_cql_qname *q)
{
    if (q->ks)
        return q->ks;
    if (c->ks_default && c->ks_default[0])
        return c->ks_default;
    cx_err(c, SB_EINVALID, &q->pos,
           "No keyspace has been specified. USE a keyspace, or explicitly specify "
           "keyspace.tablename");
    return NULL;
}

int cx_resolve_table(cx_ctx *c, const sb_cql_qname *q, const sb_table **out)
{
    const char *ks = cx_keyspace_of(c, q);
    if (!ks)
        return c->res->err.status;
    if (c->e->has_vt && c->e->vt.lookup) {
        const sb_table *vt = c->e->vt.lookup(c->e->vt.arg, ks, q->name);
        if (vt) {
            *out = vt;
            return 0;
        }
    }
    const sb_schema *s = sb_store_schema(c->e->store);
    if (!sb_schema_keyspace(s, ks))
        return cx_err(c, SB_EINVALID, &q->pos, "Keyspace %s does not exist", ks);
    const sb_table *t = sb_schema_table(s, ks, q->name);
    if (!t)
        return cx_err(c, SB_EINVALID, &q->pos, "unconfigured table %s", q->name);
    *out = t;
    return 0;
}

const char *cx_type_str(sb_type t, char *buf)
{
    const char *s = sb_type_name(t, buf, 64);
    return s ? s : "?";
}

/* ----------------------------------------------------------------- reads */

static int use_reader(const cx_ctx *c)
{
    return c->rctx && c->e->opts.reader.open;
}

int cx_iter_open(cx_ctx *c, const sb_read *r, void **it, char *errmsg)
{
    if (use_reader(c))
        return c->e->opts.reader.open(c->rctx, r, it, errmsg);
    return sb_store_iter(c->e->store, r, (sb_iter **)it, errmsg);
}

int cx_iter_next(cx_ctx *c, void *it, sb_row *row)
{
    if (use_reader(c))
        return c->e->opts.reader.next(it, row);
    return sb_iter_next(it, row);
}

void cx_iter_close(cx_ctx *c, void *it)
{
    if (!it)
        return;
    if (use_reader(c))
        c->e->opts.reader.close(it);
    else
        sb_iter_free(it);
}

static int reads_pending(const cx_ctx *c)
{
    return use_reader(c) && c->e->opts.reader.pending(c->rctx);
}

/* Copies an error detail from the coordinator into a result. */
static void set_detail(sb_cql_result *r, int status, const sb_cql_error *d)
{
    if (!d) {
        char msg[SB_ERRMSG_SIZE];
        if (status == SB_EOVERLOADED)
            snprintf(msg, sizeof msg, "Overloaded: the commit queue is full");
        else
            snprintf(msg, sizeof msg, "write failed: %s", sb_strerror(status));
        set_error(r, status, msg);
        return;
    }
    set_error(r, status, d->message);
    if (d->code) {
        r->err.code = d->code;
        r->err.name = sb_cql_error_class(d->code);
    }
    r->err.consistency = d->consistency;
    r->err.required = d->required;
    r->err.alive = d->alive;
    r->err.write_type = d->write_type;
    r->err.data_present = d->data_present;
}

/* -------------------------------------------------------------- dispatch */

typedef struct write_req {
    sb_cql_cb cb;
    void *arg;
    sb_cql_result *res;
} write_req;

static void on_write_done(void *arg, int status, const sb_cql_error *detail)
{
    write_req *w = arg;
    sb_cql_result *r = w->res;
    if (status != 0)
        set_detail(r, status, detail);
    sb_cql_cb cb = w->cb;
    void *cbarg = w->arg;
    free(w);
    cb(cbarg, r);
}

static void on_store_write_done(void *arg, int status)
{
    on_write_done(arg, status, NULL);
}

/* A coordinator's result becomes the statement's CQL result here, at the
 * CQL edge. */
static void on_replicated(void *arg, const sb_write_result *r)
{
    if (r->status == 0) {
        on_write_done(arg, 0, NULL);
        return;
    }
    sb_cql_error d;
    sb_cql_error_from_result(r, 0, &d);
    on_write_done(arg, r->status, &d);
}

static const char *write_type_of(const sb_cql_stmt *st)
{
    if (st->kind != SB_CQL_STMT_BATCH)
        return "SIMPLE";
    return st->batch.type == SB_CQL_BATCH_LOGGED ? "BATCH" : "UNLOGGED_BATCH";
}

static int submit_write(cx_ctx *c, sb_wbatch *b, sb_cql_cb cb, void *arg)
{
    sb_cql_engine *e = c->e;
    if (sb_wbatch_count(b) == 0) {
        sb_wbatch_free(b);
        return 1; /* nothing to write: complete now */
    }
    if (e->opts.sync_writes) {
        char msg[SB_ERRMSG_SIZE] = "";
        int rc = sb_store_write_sync(e->store, b, msg);
        if (rc != 0)
            cx_err_msg(c, rc, NULL, msg);
        return 1;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
        sb_wbatch_free(b);
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    w->cb = cb;
    w->arg = arg;
    w->res = c->res;
    int consistency = c->opts ? c->opts->consistency : SB_CL_ONE;
    int rc = e->opts.write ? e->opts.write(e->opts.write_arg, b, consistency,
                                           write_type_of(c->root), on_replicated, w)
                           : sb_store_write(e->store, b, on_store_write_done, w);
    if (rc != 0) {
        free(w);
        if (rc == SB_EOVERLOADED)
            cx_err(c, rc, NULL, "Overloaded: the commit queue is full");
        else
            cx_err(c, rc, NULL, "write failed: %s", sb_strerror(rc));
        return 1;
    }
    return 0; /* the callback owns the result now */
}

/* TRUNCATE on every node through the engine's truncate hook. */
static int submit_truncate(cx_ctx *c, const sb_cql_stmt *st, sb_cql_cb cb, void *arg)
{
    const sb_table *t = NULL;
    if (cx_resolve_table(c, &st->table_stmt.table, &t) != 0)
        return 1;
    if (c->e->has_vt && c->e->vt.lookup &&
        t == c->e->vt.lookup(c->e->vt.arg, t->keyspace, t->name)) {
        cx_err(c, SB_EINVALID, &st->pos, "Cannot truncate system table %s.%s", t->keyspace,
               t->name);
        return 1;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    w->cb = cb;
    w->arg = arg;
    w->res = c->res;
    c->res->kind = SB_CQL_RESULT_VOID;
    int rc = c->e->opts.truncate(c->e->opts.write_arg, t->id, on_write_done, w);
    if (rc != 0) {
        free(w);
        cx_err(c, rc, NULL, "truncate failed: %s", sb_strerror(rc));
        return 1;
    }
    return 0;
}

static int is_schema_change(sb_cql_stmt_kind k)
{
    return k == SB_CQL_STMT_CREATE_KEYSPACE || k == SB_CQL_STMT_ALTER_KEYSPACE ||
           k == SB_CQL_STMT_DROP_KEYSPACE || k == SB_CQL_STMT_CREATE_TABLE ||
           k == SB_CQL_STMT_ALTER_TABLE || k == SB_CQL_STMT_DROP_TABLE;
}

/* A schema change through opts.ddl: the statement's text goes to every
 * node; its answer becomes the result here. */
typedef struct ddl_req {
    sb_cql_cb cb;
    void *arg;
    sb_cql_result *res;
    char ks[SB_CQL_NAME_SIZE]; /* for AlreadyExists */
    char table[SB_CQL_NAME_SIZE];
} ddl_req;

static void on_ddl_done(void *arg, int status, const sb_cql_error *detail)
{
    ddl_req *w = arg;
    sb_cql_result *r = w->res;
    const char *msg = detail ? detail->message : "";
    if (status != 0) {
        set_error(r, status, msg[0] ? msg : sb_strerror(status));
        if (status == SB_EEXISTS) {
            snprintf(r->err.ks, sizeof r->err.ks, "%s", w->ks);
            snprintf(r->err.table, sizeof r->err.table, "%s", w->table);
        }
    } else {
        /* "CREATED TABLE ks t", or "" when nothing changed */
        char change[16] = "", target[16] = "", ks[SB_CQL_NAME_SIZE] = "",
             name[SB_CQL_NAME_SIZE] = "";
        int n = sscanf(msg, "%15s %15s %63s %63s", change, target, ks, name);
        static const char *const changes[] = {"CREATED", "UPDATED", "DROPPED"};
        static const char *const targets[] = {"KEYSPACE", "TABLE"};
        r->kind = SB_CQL_RESULT_VOID;
        for (int i = 0; n >= 3 && i < 3; i++)
            for (int j = 0; j < 2; j++)
                if (!strcmp(change, changes[i]) && !strcmp(target, targets[j])) {
                    r->kind = SB_CQL_RESULT_SCHEMA_CHANGE;
                    r->change_type = changes[i];
                    r->target = targets[j];
                    r->sc_keyspace = cx_strdup(r->priv, ks);
                    r->sc_name = cx_strdup(r->priv, n >= 4 ? name : "");
                    if (!r->sc_keyspace || !r->sc_name)
                        set_error(r, SB_ENOMEM, "out of memory");
                }
    }
    sb_cql_cb cb = w->cb;
    void *cbarg = w->arg;
    free(w);
    cb(cbarg, r);
}

static int submit_ddl(cx_ctx *c, const sb_cql_stmt *st, sb_cql_cb cb, void *arg)
{
    if (c->nbinds > 0 || st->nbind > 0) {
        cx_err(c, SB_EINVALID, &st->pos, "Bind variables are not allowed in schema statements");
        return 1;
    }
    if (!c->text) {
        cx_err(c, SB_ESERVER, &st->pos, "schema statement without its text");
        return 1;
    }
    ddl_req *w = calloc(1, sizeof *w);
    if (!w) {
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    w->cb = cb;
    w->arg = arg;
    w->res = c->res;
    const sb_cql_qname *q = NULL;
    if (st->kind == SB_CQL_STMT_CREATE_TABLE)
        q = &st->create_table.table;
    if (q) {
        const char *ks = q->ks ? q->ks : c->ks_default;
        snprintf(w->ks, sizeof w->ks, "%s", ks ? ks : "");
        snprintf(w->table, sizeof w->table, "%s", q->name);
    } else if (st->kind == SB_CQL_STMT_CREATE_KEYSPACE) {
        snprintf(w->ks, sizeof w->ks, "%s", st->keyspace.name.name);
    }
    int rc = c->e->opts.ddl(c->e->opts.ddl_arg, c->ks_default ? c->ks_default : "", c->text,
                            c->text_len, on_ddl_done, w);
    if (rc != 0) {
        free(w);
        cx_err(c, rc, NULL, "the schema change could not be proposed: %s", sb_strerror(rc));
        return 1;
    }
    return 0;
}

/* A conditional statement whose proposal is out (cql.h cas hook). */
typedef struct cas_req {
    sb_cql_engine *e;
    struct rerun *rr; /* to run the statement again on contention */
    sb_cql_cb cb;
    void *arg;
    sb_cql_result *res; /* [applied] = true, already built */
} cas_req;

static void on_cas_done(void *arg, int status, int retry, const sb_cql_error *detail);

/* A conditional statement: checked here (exec_lwt.c); when it applies,
 * through the cas hook when the reads went through the cluster, else as
 * an ordinary write. 1 if the result is complete, 0 if a callback will
 * complete it. */
static int run_cas(cx_ctx *c, const sb_cql_stmt *st, sb_cql_cb cb, void *arg)
{
    sb_cql_engine *e = c->e;
    int consistency = c->opts ? c->opts->consistency : SB_CL_ONE;
    if (consistency == SB_CL_SERIAL || consistency == SB_CL_LOCAL_SERIAL) {
        cx_err(c, SB_EINVALID, NULL,
               "%s is not supported as conditional update commit consistency. Use ANY if you "
               "mean \"make sure it is accepted but I don't care how many replicas commit it "
               "for non-SERIAL reads\"",
               consistency == SB_CL_SERIAL ? "SERIAL" : "LOCAL_SERIAL");
        return 1;
    }
    int to_cas = e->opts.cas && c->rctx && !e->opts.sync_writes;
    int to_hook = to_cas || (e->opts.write && !e->opts.sync_writes);
    sb_wbatch *b = to_hook ? sb_wbatch_new_mutation() : sb_wbatch_new();
    if (!b) {
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    int applied = 0;
    int rc = cx_exec_cas(c, st, b, &applied);
    if (rc == 0 && !applied && !c->preparing && !reads_pending(c) && e->opts.cas_outcome &&
        c->res->kind == SB_CQL_RESULT_ROWS)
        e->opts.cas_outcome(e->opts.write_arg, 0);
    if (rc != 0 || reads_pending(c) || !applied || c->preparing) {
        sb_wbatch_free(b);
        return 1;
    }
    if (!to_cas)
        return submit_write(c, b, cb, arg);
    cas_req *w = malloc(sizeof *w);
    if (!w) {
        sb_wbatch_free(b);
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    *w = (cas_req){e, c->rr, cb, arg, c->res};
    rc = e->opts.cas(e->opts.write_arg, c->rctx, b, consistency, on_cas_done, w);
    if (rc != 0) {
        free(w);
        cx_err(c, rc, NULL, "conditional write failed: %s", sb_strerror(rc));
        return 1;
    }
    c->rr_taken = 1;
    return 0;
}

static int is_write(sb_cql_stmt_kind k)
{
    return k == SB_CQL_STMT_INSERT || k == SB_CQL_STMT_UPDATE || k == SB_CQL_STMT_DELETE ||
           k == SB_CQL_STMT_BATCH;
}

/* Runs a compiled context; returns 1 if the result is complete (caller
 * calls back), 0 if an asynchronous write will call back. */
static int run(cx_ctx *c, const sb_cql_stmt *st, sb_cql_cb cb, void *arg)
{
    int rc;
    switch (st->kind) {
    case SB_CQL_STMT_SELECT:
        cx_exec_select(c, st);
        return 1;
    case SB_CQL_STMT_USE:
        cx_exec_use(c, st);
        return 1;
    default:
        break;
    }
    if (st->kind == SB_CQL_STMT_TRUNCATE && c->e->opts.truncate)
        return submit_truncate(c, st, cb, arg);
    if (!is_write(st->kind)) {
        if (c->e->opts.ddl && !c->e->applying && is_schema_change(st->kind))
            return submit_ddl(c, st, cb, arg);
        cx_exec_ddl(c, st);
        if (c->res->kind == SB_CQL_RESULT_SCHEMA_CHANGE && c->e->opts.on_schema_change &&
            !c->e->applying)
            c->e->opts.on_schema_change(c->e->opts.schema_arg);
        return 1;
    }
    if (cx_stmt_conditional(st))
        return run_cas(c, st, cb, arg);
    /* Through a write hook (the coordinator) the statement builds only its
     * mutation; the replicas build the RocksDB batches. */
    int to_hook = c->e->opts.write && !c->e->opts.sync_writes;
    sb_wbatch *b = to_hook ? sb_wbatch_new_mutation() : sb_wbatch_new();
    if (!b) {
        cx_err(c, SB_ENOMEM, NULL, "out of memory");
        return 1;
    }
    rc = cx_exec_write(c, st, b);
    if (rc != 0 || reads_pending(c)) {
        /* an error, or a read-before-write (list index) that must be
         * fetched first: nothing is written this round */
        sb_wbatch_free(b);
        return 1;
    }
    c->res->kind = SB_CQL_RESULT_VOID;
    return submit_write(c, b, cb, arg);
}

static int ctx_init(cx_ctx *c, sb_cql_engine *e, sb_cql_session *s, const sb_cql_opts *opts,
                    sb_cql_result *res)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->sess = s;
    c->ks_default = s ? s->keyspace : "";
    c->opts = opts;
    c->res = res;
    c->rm = res->priv;
    c->now_us = engine_clock_us(e);
    c->now_s = c->now_us / 1000000;
    return 0;
}

/* Maps the caller's values onto the statement's markers. */
static int bind_values(cx_ctx *c, const sb_cql_stmt *st, const sb_value *binds, int nbinds)
{
    const sb_cql_opts *o = c->opts;
    if (o && o->bind_names && nbinds > 0) {
        sb_value *v = cx_alloc(&c->tmp, sizeof *v * (size_t)(st->nbind + 1));
        if (!v)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < st->nbind; i++) {
            v[i] = (sb_value){NULL, CQL_UNSET_LEN};
            const char *name = st->bind_names[i];
            if (!name)
                return cx_err(c, SB_EINVALID, NULL,
                              "Named values given but bind marker %d is anonymous", i);
            int found = 0;
            for (int j = 0; j < nbinds; j++) {
                if (o->bind_names[j] && strcasecmp(o->bind_names[j], name) == 0) {
                    v[i] = binds[j];
                    found = 1;
                    break;
                }
            }
            if (!found)
                return cx_err(c, SB_EINVALID, NULL, "No value given for bind variable %s", name);
        }
        c->binds = v;
        c->nbinds = st->nbind;
        return 0;
    }
    if (nbinds != st->nbind)
        return cx_err(c, SB_EINVALID, NULL,
                      "There were %d markers(?) in CQL but %d bound variables", st->nbind, nbinds);
    c->binds = binds;
    c->nbinds = nbinds;
    return 0;
}

/* A statement waiting for its reads (cql.h sb_cql_reader): everything
 * needed to run it again, owned. */
typedef struct rerun {
    sb_cql_engine *e;
    void *rctx;
    char *text;
    size_t len;
    char ks[SB_CQL_NAME_SIZE];
    sb_value *binds;
    int nbinds;
    char **names;
    sb_cql_opts opts;
    sb_cql_cb cb;
    void *arg;
    int rounds;
    int cas_attempts; /* conditional statements: rounds lost to contention */
} rerun;

#define MAX_READ_ROUNDS 64

static void rerun_free(rerun *rr)
{
    if (!rr)
        return;
    for (int i = 0; rr->names && i < rr->nbinds; i++)
        free(rr->names[i]);
    free(rr->names);
    for (int i = 0; rr->binds && i < rr->nbinds; i++)
        free((void *)rr->binds[i].p);
    free(rr->binds);
    free((void *)rr->opts.paging_state);
    free(rr->text);
    free(rr);
}

static rerun *rerun_new(sb_cql_engine *e, void *rctx, const char *text, size_t len, const char *ks,
                        const sb_value *binds, int nbinds, const sb_cql_opts *opts, sb_cql_cb cb,
                        void *arg)
{
    rerun *rr = calloc(1, sizeof *rr);
    if (!rr)
        return NULL;
    rr->e = e;
    rr->rctx = rctx;
    rr->cb = cb;
    rr->arg = arg;
    snprintf(rr->ks, sizeof rr->ks, "%s", ks ? ks : "");
    rr->text = malloc(len + 1);
    if (!rr->text)
        goto fail;
    memcpy(rr->text, text, len);
    rr->text[len] = '\0';
    rr->len = len;
    if (opts)
        rr->opts = *opts;
    else
        sb_cql_opts_default(&rr->opts);
    rr->opts.paging_state = NULL;
    rr->opts.bind_names = NULL;
    if (opts && opts->paging_state && opts->paging_state_len) {
        uint8_t *ps = malloc(opts->paging_state_len);
        if (!ps)
            goto fail;
        memcpy(ps, opts->paging_state, opts->paging_state_len);
        rr->opts.paging_state = ps;
    }
    rr->nbinds = nbinds;
    if (nbinds > 0) {
        rr->binds = calloc((size_t)nbinds, sizeof *rr->binds);
        if (!rr->binds)
            goto fail;
        for (int i = 0; i < nbinds; i++) {
            rr->binds[i].len = binds[i].len;
            if (binds[i].len > 0) {
                uint8_t *d = malloc((size_t)binds[i].len);
                if (!d)
                    goto fail;
                memcpy(d, binds[i].p, (size_t)binds[i].len);
                rr->binds[i].p = d;
            }
        }
        if (opts && opts->bind_names) {
            rr->names = calloc((size_t)nbinds, sizeof *rr->names);
            if (!rr->names)
                goto fail;
            for (int i = 0; i < nbinds; i++)
                if (opts->bind_names[i] && !(rr->names[i] = strdup(opts->bind_names[i])))
                    goto fail;
            rr->opts.bind_names = (const char *const *)rr->names;
        }
    }
    return rr;
fail:
    rerun_free(rr);
    return NULL;
}

static int execute_round(sb_cql_engine *e, sb_cql_session *s, const char *ks_default,
                         const sb_cql_stmt *st, const char *text, size_t len, const sb_value *binds,
                         int nbinds, const sb_cql_opts *opts, sb_cql_cb cb, void *arg, rerun *rr);

static void on_fetched(void *arg, int status, const sb_cql_error *detail)
{
    rerun *rr = arg;
    sb_cql_engine *e = rr->e;
    if (status == 0) {
        sb_cql_stmt *st = NULL;
        char msg[SB_ERRMSG_SIZE] = "";
        status = sb_cql_parse(rr->text, rr->len, &st, msg);
        if (status == 0) {
            /* the next round owns rr (it calls back, or fetches again) */
            execute_round(e, NULL, rr->ks, st, rr->text, rr->len, rr->binds, rr->nbinds, &rr->opts,
                          rr->cb, rr->arg, rr);
            sb_cql_stmt_free(st);
            return;
        }
    }
    sb_cql_result *res = result_new();
    if (res)
        set_detail(res, status, detail); /* detail lives in the read context */
    e->opts.reader.end(rr->rctx);
    sb_cql_cb cb = rr->cb;
    void *cbarg = rr->arg;
    rerun_free(rr);
    if (!res)
        return; /* nothing can be reported without memory */
    cb(cbarg, res);
}

static int reads_statement(const sb_cql_stmt *st)
{
    return st->kind == SB_CQL_STMT_SELECT || is_write(st->kind);
}

/* One round of a statement's execution (cql.h: reads may take several).
 * rr is NULL on the first round. */
static int execute_round(sb_cql_engine *e, sb_cql_session *s, const char *ks_default,
                         const sb_cql_stmt *st, const char *text, size_t len, const sb_value *binds,
                         int nbinds, const sb_cql_opts *opts, sb_cql_cb cb, void *arg, rerun *rr)
{
    sb_cql_result *res = result_new();
    if (!res) {
        if (rr) {
            e->opts.reader.end(rr->rctx);
            rerun_free(rr);
        }
        return SB_ENOMEM;
    }
    cx_ctx c;
    ctx_init(&c, e, s, opts, res);
    if (ks_default)
        c.ks_default = ks_default;
    c.root = st;
    c.text = text;
    c.text_len = len;
    c.rr = rr;
    if (rr)
        c.rctx = rr->rctx;
    else if (e->opts.reader.open && reads_statement(st))
        c.rctx = e->opts.reader.begin(e->opts.reader.arg);
    int done = 1;
    if (bind_values(&c, st, binds, nbinds) == 0) {
        c.bspec = cx_alloc(&c.tmp, sizeof *c.bspec * (size_t)(st->nbind + 1));
        if (!c.bspec)
            cx_err(&c, SB_ENOMEM, NULL, "out of memory");
        else
            done = run(&c, st, cb, arg);
    }
    cx_mem_free(&c.tmp);
    if (c.rr_taken) {
        /* the CAS request holds rr until its proposal is decided */
        e->opts.reader.end(c.rctx);
        return 0;
    }
    if (done && reads_pending(&c)) {
        /* Data is missing: fetch it, then run again. */
        sb_cql_result_free(res);
        res = NULL;
        if (!rr)
            rr = rerun_new(e, c.rctx, text, len, c.ks_default, binds, nbinds, opts, cb, arg);
        if (!rr || ++rr->rounds > MAX_READ_ROUNDS) {
            res = result_new();
            if (!res) {
                e->opts.reader.end(c.rctx);
                rerun_free(rr);
                return SB_ENOMEM;
            }
            set_error(res, rr ? SB_ESERVER : SB_ENOMEM,
                      rr ? "the read needed too many rounds" : "out of memory");
        } else {
            int cl = rr->opts.consistency;
            if (cx_stmt_conditional(st))
                cl = rr->opts.serial_consistency == SB_CL_LOCAL_SERIAL ? SB_CL_LOCAL_SERIAL
                                                                       : SB_CL_SERIAL;
            e->opts.reader.fetch(rr->rctx, cl, on_fetched, rr);
            return 0;
        }
    }
    if (c.rctx)
        e->opts.reader.end(c.rctx);
    rerun_free(rr);
    if (done)
        cb(arg, res);
    return 0;
}

static void on_cas_done(void *arg, int status, int retry, const sb_cql_error *detail)
{
    cas_req *w = arg;
    sb_cql_engine *e = w->e;
    rerun *rr = w->rr;
    sb_cql_result *res = w->res;
    sb_cql_cb cb = w->cb;
    void *cbarg = w->arg;
    free(w);
    if (retry && rr && ++rr->cas_attempts < SB_CQL_CAS_MAX_ATTEMPTS) {
        /* Another round got in first and nothing of ours was accepted:
         * read and decide again under a new round. */
        sb_cql_result_free(res);
        sb_cql_stmt *st = NULL;
        char msg[SB_ERRMSG_SIZE] = "";
        rr->rounds = 0;
        rr->rctx = e->opts.reader.begin(e->opts.reader.arg);
        if (sb_cql_parse(rr->text, rr->len, &st, msg) == 0) {
            execute_round(e, NULL, rr->ks, st, rr->text, rr->len, rr->binds, rr->nbinds, &rr->opts,
                          rr->cb, rr->arg, rr);
            sb_cql_stmt_free(st);
            return;
        }
        e->opts.reader.end(rr->rctx);
        res = result_new();
        if (!res) {
            rerun_free(rr);
            return;
        }
        set_error(res, SB_ESERVER, "the statement could not be parsed again");
    } else if (retry) {
        sb_cql_error d;
        memset(&d, 0, sizeof d);
        d.code = SB_CQL_ERR_WRITE_TIMEOUT;
        d.consistency = rr ? rr->opts.serial_consistency : SB_CL_SERIAL;
        d.write_type = "CAS";
        snprintf(d.message, sizeof d.message,
                 "Operation timed out: contention on the partition, %d rounds lost",
                 rr ? rr->cas_attempts : 1);
        set_detail(res, SB_ETIMEOUT, &d);
    } else if (status != 0) {
        set_detail(res, status, detail);
    }
    rerun_free(rr);
    cb(cbarg, res);
}

static int execute_stmt(sb_cql_engine *e, sb_cql_session *s, const char *ks_default,
                        const sb_cql_stmt *st, const char *text, size_t len, const sb_value *binds,
                        int nbinds, const sb_cql_opts *opts, sb_cql_cb cb, void *arg)
{
    return execute_round(e, s, ks_default, st, text, len, binds, nbinds, opts, cb, arg, NULL);
}

int sb_cql_execute(sb_cql_engine *e, sb_cql_session *s, const char *text, size_t len,
                   const sb_value *binds, int nbinds, const sb_cql_opts *opts, sb_cql_cb cb,
                   void *arg)
{
    sb_cql_stmt *st = NULL;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = sb_cql_parse(text, len, &st, msg);
    if (rc != 0) {
        sb_cql_result *res = result_new();
        if (!res)
            return SB_ENOMEM;
        set_error(res, rc, msg[0] ? msg : sb_strerror(rc));
        cb(arg, res);
        return 0;
    }
    rc = execute_stmt(e, s, NULL, st, text, len, binds, nbinds, opts, cb, arg);
    sb_cql_stmt_free(st);
    return rc;
}

typedef struct apply_out {
    char *out;
    int status;
} apply_out;

static void on_applied_ddl(void *arg, sb_cql_result *res)
{
    apply_out *o = arg;
    if (res->kind == SB_CQL_RESULT_ERROR) {
        o->status = res->err.status ? res->err.status : SB_ESERVER;
        snprintf(o->out, SB_ERRMSG_SIZE, "%s", res->err.message);
    } else if (res->kind == SB_CQL_RESULT_SCHEMA_CHANGE) {
        o->status = 0;
        snprintf(o->out, SB_ERRMSG_SIZE, "%s %s %s%s%s", res->change_type, res->target,
                 res->sc_keyspace, res->sc_name && res->sc_name[0] ? " " : "",
                 res->sc_name ? res->sc_name : "");
    } else {
        o->status = 0;
        o->out[0] = 0;
    }
    sb_cql_result_free(res);
}

int sb_cql_apply_ddl(sb_cql_engine *e, const char *keyspace, const char *text, size_t len,
                     const uint8_t table_id[16], char *out)
{
    sb_cql_stmt *st = NULL;
    out[0] = 0;
    int rc = sb_cql_parse(text, len, &st, out);
    if (rc != 0)
        return rc;
    if (!is_schema_change(st->kind)) {
        sb_cql_stmt_free(st);
        return sb_seterr(out, SB_EINVALID, "not a schema statement");
    }
    apply_out o = {out, SB_ESERVER};
    e->applying = 1;
    memcpy(e->apply_table_id, table_id, 16);
    sb_cql_session sess;
    sb_cql_session_init(&sess);
    snprintf(sess.keyspace, sizeof sess.keyspace, "%s", keyspace);
    rc = execute_stmt(e, &sess, NULL, st, text, len, NULL, 0, NULL, on_applied_ddl, &o);
    e->applying = 0;
    memset(e->apply_table_id, 0, 16);
    sb_cql_stmt_free(st);
    return rc ? rc : o.status;
}

/* -------------------------------------------------------------- prepared */

static void prepared_id(const char *ks, const char *text, size_t len, uint8_t id[16])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned int n = 16;
    memset(id, 0, 16);
    if (!m)
        return;
    EVP_DigestInit_ex(m, EVP_md5(), NULL);
    EVP_DigestUpdate(m, ks, strlen(ks));
    EVP_DigestUpdate(m, text, len);
    EVP_DigestFinal_ex(m, id, &n);
    EVP_MD_CTX_free(m);
}

static cx_prep *prep_lookup(sb_cql_engine *e, const uint8_t *id, size_t id_len)
{
    if (id_len != 16)
        return NULL;
    for (int i = 0; i < e->nprep; i++) {
        if (memcmp(e->prep[i]->pub.id, id, 16) == 0) {
            e->prep[i]->last_used = ++e->use_clock;
            return e->prep[i];
        }
    }
    return NULL;
}

const sb_cql_prepared *sb_cql_prepared_find(sb_cql_engine *e, const uint8_t *id, size_t id_len)
{
    cx_prep *p = prep_lookup(e, id, id_len);
    return p ? &p->pub : NULL;
}

static int prep_insert(sb_cql_engine *e, cx_prep *p)
{
    if (e->nprep >= e->opts.max_prepared) {
        int lru = 0;
        for (int i = 1; i < e->nprep; i++)
            if (e->prep[i]->last_used < e->prep[lru]->last_used)
                lru = i;
        prep_free(e->prep[lru]);
        e->prep[lru] = p;
        return 0;
    }
    cx_prep **np = realloc(e->prep, sizeof *np * (size_t)(e->nprep + 1));
    if (!np)
        return SB_ENOMEM;
    e->prep = np;
    e->prep[e->nprep++] = p;
    return 0;
}

static int copy_specs(cx_mem *m, const sb_cql_colspec *src, int n, sb_cql_colspec **out)
{
    *out = NULL;
    if (n <= 0)
        return 0;
    sb_cql_colspec *d = cx_alloc(m, sizeof *d * (size_t)n);
    if (!d)
        return SB_ENOMEM;
    for (int i = 0; i < n; i++) {
        d[i].type = src[i].type;
        d[i].ks = cx_strdup(m, src[i].ks ? src[i].ks : "");
        d[i].table = cx_strdup(m, src[i].table ? src[i].table : "");
        d[i].name = cx_strdup(m, src[i].name ? src[i].name : "");
        if (!d[i].ks || !d[i].table || !d[i].name)
            return SB_ENOMEM;
    }
    *out = d;
    return 0;
}

int sb_cql_prepare(sb_cql_engine *e, sb_cql_session *s, const char *text, size_t len,
                   const sb_cql_prepared **out, char *errmsg)
{
    const char *ks = s ? s->keyspace : "";
    uint8_t id[16];
    prepared_id(ks, text, len, id);
    cx_prep *old = prep_lookup(e, id, 16);
    if (old) {
        *out = &old->pub;
        return 0;
    }
    sb_cql_stmt *st = NULL;
    int rc = sb_cql_parse(text, len, &st, errmsg);
    if (rc != 0)
        return rc;
    sb_cql_result *res = result_new();
    cx_prep *p = calloc(1, sizeof *p);
    if (!res || !p) {
        sb_cql_result_free(res);
        free(p);
        sb_cql_stmt_free(st);
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    }
    p->stmt = st;
    cx_ctx c;
    ctx_init(&c, e, s, NULL, res);
    c.root = st;
    c.preparing = 1;
    c.bspec = cx_alloc(&c.tmp, sizeof *c.bspec * (size_t)(st->nbind + 1));
    if (!c.bspec) {
        rc = cx_err(&c, SB_ENOMEM, NULL, "out of memory");
        goto done;
    }
    /* Compile without running: SELECT and writes walk every term and
     * record bind types; DDL and USE are checked at execution. */
    if (st->kind == SB_CQL_STMT_SELECT) {
        rc = cx_exec_select(&c, st);
        p->pub.is_select = 1;
    } else if (is_write(st->kind)) {
        c.cas_ok = cx_stmt_conditional(st);
        rc = cx_exec_write(&c, st, NULL);
        if (rc == 0 && c.cas_ok)
            rc = cx_prepare_conds(&c, st);
    } else if (st->nbind > 0) {
        rc = cx_err(&c, SB_EINVALID, &st->pos, "Bind variables are not allowed in %s statements",
                    sb_cql_stmt_kind_name(st->kind));
    }
    if (rc != 0)
        goto done;
    for (int i = 0; i < st->nbind; i++) {
        if (!c.bspec[i].name) {
            rc = cx_err(&c, SB_EINVALID, NULL, "Cannot infer the type of bind marker %d", i);
            goto done;
        }
    }
    memcpy(p->pub.id, id, 16);
    p->pub.query = cx_memdup(&p->mem, text, len);
    p->pub.keyspace = cx_strdup(&p->mem, ks);
    p->pub.nbinds = st->nbind;
    sb_cql_colspec *b = NULL, *cols = NULL;
    rc = copy_specs(&p->mem, c.bspec, st->nbind, &b);
    if (rc == 0)
        rc = copy_specs(&p->mem, res->cols, res->ncols, &cols);
    if (rc == 0 && c.npk_binds > 0) {
        int all = 1;
        for (int i = 0; i < c.npk_binds; i++)
            all &= c.pk_binds[i] >= 0;
        if (all) {
            int *pk = cx_memdup(&p->mem, c.pk_binds, sizeof(int) * (size_t)c.npk_binds);
            if (!pk)
                rc = SB_ENOMEM;
            p->pub.pk_binds = pk;
            p->pub.npk_binds = c.npk_binds;
        }
    }
    if (rc != 0 || !p->pub.query || !p->pub.keyspace) {
        rc = cx_err(&c, SB_ENOMEM, NULL, "out of memory");
        goto done;
    }
    p->pub.binds = b;
    p->pub.cols = cols;
    p->pub.ncols = p->pub.is_select ? res->ncols : 0;
    p->last_used = ++e->use_clock;
    rc = prep_insert(e, p);
    if (rc != 0)
        cx_err(&c, rc, NULL, "out of memory");
done:
    if (rc != 0) {
        sb_seterr(errmsg, rc, "%s", res->err.message);
        prep_free(p);
    } else {
        *out = &p->pub;
    }
    cx_mem_free(&c.tmp);
    sb_cql_result_free(res);
    return rc;
}

int sb_cql_execute_prepared(sb_cql_engine *e, sb_cql_session *s, const uint8_t *id, size_t id_len,
                            const sb_value *binds, int nbinds, const sb_cql_opts *opts,
                            sb_cql_cb cb, void *arg)
{
    cx_prep *p = prep_lookup(e, id, id_len);
    if (!p) {
        sb_cql_result *res = result_new();
        if (!res)
            return SB_ENOMEM;
        set_error(res, SB_ENOTFOUND, "Prepared query with this ID was not found");
        res->err.code = SB_CQL_ERR_UNPREPARED;
        res->err.name = sb_cql_error_class(SB_CQL_ERR_UNPREPARED);
        memcpy(res->err.unprepared_id, id, id_len < 16 ? id_len : 16);
        cb(arg, res);
        return 0;
    }
    /* The statement runs in its prepare-time keyspace unless USE changed
     * nothing for it: unqualified names resolve as when prepared. */
    const char *ks = p->pub.keyspace[0] ? p->pub.keyspace : NULL;
    return execute_stmt(e, s, ks, p->stmt, p->pub.query, strlen(p->pub.query), binds, nbinds, opts,
                        cb, arg);
}
