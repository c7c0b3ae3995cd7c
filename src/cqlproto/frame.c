/*
 * CQL native protocol v4 codec: request decoding (bounds-checked reader
 * over the body) and response encoding. See frame.h for the design note.
 */
#include "cqlproto/frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* ------------------------------------------------------------------ header */

int sb_cqlframe_header(const uint8_t *p, size_t len, sb_cqlframe_hdr *h)
{
    if (len < SB_CQLFRAME_HEADER_SIZE)
        return 0;
    h->version = p[0] & 0x7f;
    h->response = (p[0] & 0x80) != 0;
    h->flags = p[1];
    if (h->version >= 3)
        h->stream = (int16_t)(((uint16_t)p[2] << 8) | p[3]);
    else
        h->stream = (int8_t)p[2];
    h->opcode = h->version >= 3 ? p[4] : p[3];
    h->length = ((uint32_t)p[5] << 24) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 8) | p[8];
    return 1;
}

static int known_request_opcode(int op)
{
    switch (op) {
    case SB_CQLOP_STARTUP:
    case SB_CQLOP_OPTIONS:
    case SB_CQLOP_QUERY:
    case SB_CQLOP_PREPARE:
    case SB_CQLOP_EXECUTE:
    case SB_CQLOP_REGISTER:
    case SB_CQLOP_BATCH:
    case SB_CQLOP_AUTH_RESPONSE:
        return 1;
    default:
        return 0;
    }
}

int sb_cqlframe_check(const sb_cqlframe_hdr *h, size_t max_body, char *errmsg)
{
    if (h->version != SB_CQLPROTO_VERSION)
        return sb_seterr(errmsg, SB_EUNSUPPORTED,
                         "Invalid or unsupported protocol version (%d); supported versions are "
                         "(4/v4)",
                         h->version);
    if (h->length > max_body)
        return sb_seterr(errmsg, SB_ETOOBIG,
                         "Request is too big: length %u exceeds maximum allowed length %zu",
                         h->length, max_body);
    if (h->response)
        return sb_seterr(errmsg, SB_EBADINPUT, "a client frame has the response direction bit set");
    if (!known_request_opcode(h->opcode))
        return sb_seterr(errmsg, SB_EBADINPUT, "unknown or unexpected request opcode 0x%02x",
                         h->opcode);
    return 0;
}

/* ------------------------------------------------------------------ reader */

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
    const char *what; /* message name for errors */
    char *errmsg;
    int failed;
} rd;

static void *msg_alloc(sb_cqlmsg *m, size_t n)
{
    return sb_arena_alloc(&m->mem, n);
}

void sb_cqlmsg_free(sb_cqlmsg *m)
{
    sb_arena_close(&m->mem);
}

static int need(rd *r, size_t n, const char *field)
{
    if (r->failed)
        return 0;
    if (r->len - r->off < n) {
        sb_seterr(r->errmsg, SB_EBADINPUT,
                  "truncated %s: expected %zu bytes for %s at offset %zu, %zu remain", r->what, n,
                  field, r->off, r->len - r->off);
        r->failed = 1;
        return 0;
    }
    return 1;
}

static int bad(rd *r, const char *fmt, const char *field, long long v)
{
    if (!r->failed) {
        char tmp[200];
        snprintf(tmp, sizeof tmp, fmt, field, v);
        sb_seterr(r->errmsg, SB_EBADINPUT, "malformed %s at offset %zu: %s", r->what, r->off, tmp);
        r->failed = 1;
    }
    return 0;
}

static uint8_t rd_byte(rd *r, const char *field)
{
    if (!need(r, 1, field))
        return 0;
    return r->p[r->off++];
}

static uint16_t rd_short(rd *r, const char *field)
{
    if (!need(r, 2, field))
        return 0;
    uint16_t v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return v;
}

static int32_t rd_int(rd *r, const char *field)
{
    if (!need(r, 4, field))
        return 0;
    const uint8_t *p = r->p + r->off;
    r->off += 4;
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     p[3]);
}

static int64_t rd_long(rd *r, const char *field)
{
    if (!need(r, 8, field))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | r->p[r->off + (size_t)i];
    r->off += 8;
    return (int64_t)v;
}

/* Raw span of n bytes; NULL on failure (and for n == 0 a valid pointer). */
static const uint8_t *rd_span(rd *r, size_t n, const char *field)
{
    if (!need(r, n, field))
        return NULL;
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

/* [string] or [long string] copied NUL-terminated into m's memory. */
static const char *rd_str(rd *r, sb_cqlmsg *m, int is_long, const char *field, size_t *len_out)
{
    size_t n;
    if (is_long) {
        int32_t l = rd_int(r, field);
        if (r->failed)
            return NULL;
        if (l < 0)
            return bad(r, "negative length %2$lld for %1$s", field, l), NULL;
        n = (size_t)l;
    } else {
        n = rd_short(r, field);
        if (r->failed)
            return NULL;
    }
    const uint8_t *p = rd_span(r, n, field);
    if (!p)
        return NULL;
    char *s = msg_alloc(m, n + 1);
    if (!s) {
        r->failed = 1;
        sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    if (len_out)
        *len_out = n;
    return s;
}

/* [value]: [int n] then n bytes; -1 null, -2 unset. */
static sb_value rd_value(rd *r, const char *field)
{
    int32_t n = rd_int(r, field);
    if (r->failed)
        return SB_VALUE_NULL;
    if (n < 0) {
        if (n == -1 || n == SB_CQL_UNSET_LEN)
            return (sb_value){NULL, n};
        bad(r, "invalid length %2$lld for %1$s", field, n);
        return SB_VALUE_NULL;
    }
    const uint8_t *p = rd_span(r, (size_t)n, field);
    return p ? (sb_value){p, n} : SB_VALUE_NULL;
}

static int oom(rd *r)
{
    r->failed = 1;
    return sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
}

/* n values (names when with_names); each takes at least 4 bytes, which
 * bounds the allocation by the body size. */
static int rd_values(rd *r, sb_cqlmsg *m, int n, int with_names, sb_value **vals_out,
                     const char ***names_out)
{
    if (r->failed)
        return SB_EBADINPUT;
    if ((size_t)n * 4 > r->len - r->off)
        return need(r, (size_t)n * 4, "bind values"), SB_EBADINPUT;
    sb_value *v = msg_alloc(m, sizeof *v * (size_t)n);
    const char **names = with_names ? msg_alloc(m, sizeof *names * (size_t)n) : NULL;
    if (!v || (with_names && !names))
        return oom(r);
    for (int i = 0; i < n && !r->failed; i++) {
        if (with_names)
            names[i] = rd_str(r, m, 0, "value name", NULL);
        v[i] = rd_value(r, "bind value");
    }
    *vals_out = v;
    if (names_out)
        *names_out = names;
    return r->failed ? SB_EBADINPUT : 0;
}

static int valid_consistency(int cl)
{
    return cl >= SB_CL_ANY && cl <= SB_CL_LOCAL_ONE;
}

static void rd_params(rd *r, sb_cqlmsg *m, sb_cqlparams *q)
{
    q->consistency = rd_short(r, "consistency");
    q->flags = rd_byte(r, "query flags");
    q->page_size = -1;
    q->paging_state_len = -1;
    q->serial_consistency = SB_CL_SERIAL;
    if (r->failed)
        return;
    if (!valid_consistency(q->consistency)) {
        bad(r, "unknown %s 0x%04llx", "consistency", q->consistency);
        return;
    }
    if (q->flags & 0x80) {
        bad(r, "unknown %s bit 0x%02llx", "query flags", 0x80);
        return;
    }
    if (q->flags & SB_CQLQ_VALUES) {
        q->nvalues = rd_short(r, "value count");
        if (rd_values(r, m, q->nvalues, (q->flags & SB_CQLQ_NAMES) != 0, &q->values, &q->names))
            return;
    }
    if (q->flags & SB_CQLQ_PAGE_SIZE)
        q->page_size = rd_int(r, "result_page_size");
    if (q->flags & SB_CQLQ_PAGING_STATE) {
        sb_value v = rd_value(r, "paging_state");
        if (!r->failed && v.len >= 0) {
            q->paging_state = v.p;
            q->paging_state_len = v.len;
        }
    }
    if (q->flags & SB_CQLQ_SERIAL_CONSISTENCY) {
        q->serial_consistency = rd_short(r, "serial_consistency");
        if (!r->failed && q->serial_consistency != SB_CL_SERIAL &&
            q->serial_consistency != SB_CL_LOCAL_SERIAL)
            bad(r, "invalid %s 0x%04llx", "serial_consistency", q->serial_consistency);
    }
    if (q->flags & SB_CQLQ_TIMESTAMP) {
        q->has_timestamp = 1;
        q->timestamp_us = rd_long(r, "timestamp");
    }
}

static void rd_string_map(rd *r, sb_cqlmsg *m, int with_values)
{
    int n = rd_short(r, with_values ? "string map size" : "string list size");
    if (r->failed)
        return;
    if ((size_t)n * 2 > r->len - r->off) {
        need(r, (size_t)n * 2, "string map entries");
        return;
    }
    m->keys = msg_alloc(m, sizeof *m->keys * (size_t)(n + 1));
    m->vals = with_values ? msg_alloc(m, sizeof *m->vals * (size_t)(n + 1)) : NULL;
    if (!m->keys || (with_values && !m->vals)) {
        oom(r);
        return;
    }
    for (int i = 0; i < n && !r->failed; i++) {
        m->keys[i] = rd_str(r, m, 0, "string map key", NULL);
        if (with_values)
            m->vals[i] = rd_str(r, m, 0, "string map value", NULL);
    }
    m->nopts = n;
}

static void rd_batch(rd *r, sb_cqlmsg *m)
{
    m->batch_type = rd_byte(r, "batch type");
    int n = rd_short(r, "statement count");
    if (r->failed)
        return;
    if (m->batch_type > 2) {
        bad(r, "unknown %s %lld", "batch type", m->batch_type);
        return;
    }
    /* Each statement takes at least 5 bytes (kind, empty string, count). */
    if ((size_t)n * 5 > r->len - r->off) {
        need(r, (size_t)n * 5, "batch statements");
        return;
    }
    m->stmts = msg_alloc(m, sizeof *m->stmts * (size_t)(n ? n : 1));
    if (!m->stmts) {
        oom(r);
        return;
    }
    for (int i = 0; i < n && !r->failed; i++) {
        sb_cqlbatch_stmt *s = &m->stmts[i];
        memset(s, 0, sizeof *s);
        int kind = rd_byte(r, "batch statement kind");
        if (r->failed)
            break;
        if (kind == 0) {
            s->query = rd_str(r, m, 1, "batch query", &s->query_len);
        } else if (kind == 1) {
            s->prepared = 1;
            s->id_len = rd_short(r, "prepared id length");
            s->id = rd_span(r, s->id_len, "prepared id");
        } else {
            bad(r, "unknown %s %lld", "batch statement kind", kind);
            break;
        }
        s->nvalues = rd_short(r, "value count");
        rd_values(r, m, s->nvalues, 0, &s->values, NULL);
    }
    m->nstmts = n;
    m->params.page_size = -1;
    m->params.paging_state_len = -1;
    m->params.serial_consistency = SB_CL_SERIAL;
    m->params.consistency = rd_short(r, "consistency");
    int flags = rd_byte(r, "batch flags");
    if (r->failed)
        return;
    if (!valid_consistency(m->params.consistency)) {
        bad(r, "unknown %s 0x%04llx", "consistency", m->params.consistency);
        return;
    }
    m->params.flags = flags;
    if (flags & SB_CQLQ_SERIAL_CONSISTENCY)
        m->params.serial_consistency = rd_short(r, "serial_consistency");
    if (flags & SB_CQLQ_TIMESTAMP) {
        m->params.has_timestamp = 1;
        m->params.timestamp_us = rd_long(r, "timestamp");
    }
}

static const char *op_name(int op)
{
    switch (op) {
    case SB_CQLOP_STARTUP:
        return "STARTUP";
    case SB_CQLOP_OPTIONS:
        return "OPTIONS";
    case SB_CQLOP_QUERY:
        return "QUERY";
    case SB_CQLOP_PREPARE:
        return "PREPARE";
    case SB_CQLOP_EXECUTE:
        return "EXECUTE";
    case SB_CQLOP_REGISTER:
        return "REGISTER";
    case SB_CQLOP_BATCH:
        return "BATCH";
    case SB_CQLOP_AUTH_RESPONSE:
        return "AUTH_RESPONSE";
    default:
        return "message";
    }
}

int sb_cqlmsg_parse(int opcode, int frame_flags, const uint8_t *body, size_t len, sb_cqlmsg *m,
                    char *errmsg)
{
    memset(m, 0, sizeof *m);
    sb_arena_init(&m->mem, 1024, 0);
    m->opcode = opcode;
    m->params.page_size = -1;
    m->params.paging_state_len = -1;
    m->params.serial_consistency = SB_CL_SERIAL;
    rd r = {.p = body, .len = len, .what = op_name(opcode), .errmsg = errmsg};

    if (frame_flags & SB_CQLFLAG_CUSTOM_PAYLOAD) {
        /* [bytes map]: n * ([string] key, [bytes] value); ignored. */
        int n = rd_short(&r, "custom payload size");
        for (int i = 0; i < n && !r.failed; i++) {
            int kl = rd_short(&r, "custom payload key");
            rd_span(&r, (size_t)kl, "custom payload key");
            rd_value(&r, "custom payload value");
        }
    }
    switch (opcode) {
    case SB_CQLOP_OPTIONS:
        break;
    case SB_CQLOP_STARTUP:
        rd_string_map(&r, m, 1);
        break;
    case SB_CQLOP_REGISTER:
        rd_string_map(&r, m, 0);
        break;
    case SB_CQLOP_QUERY:
        m->query = rd_str(&r, m, 1, "query string", &m->query_len);
        rd_params(&r, m, &m->params);
        break;
    case SB_CQLOP_PREPARE:
        m->query = rd_str(&r, m, 1, "query string", &m->query_len);
        break;
    case SB_CQLOP_EXECUTE:
        m->id_len = rd_short(&r, "prepared id length");
        m->id = rd_span(&r, m->id_len, "prepared id");
        rd_params(&r, m, &m->params);
        break;
    case SB_CQLOP_BATCH:
        rd_batch(&r, m);
        break;
    case SB_CQLOP_AUTH_RESPONSE:
        rd_value(&r, "auth token");
        break;
    default:
        sb_seterr(errmsg, SB_EBADINPUT, "unknown request opcode 0x%02x", opcode);
        sb_cqlmsg_free(m);
        return SB_EBADINPUT;
    }
    if (!r.failed && r.off != r.len)
        sb_seterr(errmsg, SB_EBADINPUT, "%zu unexpected bytes after the %s body at offset %zu",
                  r.len - r.off, r.what, r.off);
    if (r.failed || r.off != r.len) {
        int rc = strncmp(errmsg, "out of memory", 13) == 0 ? SB_ENOMEM : SB_EBADINPUT;
        sb_cqlmsg_free(m);
        return rc;
    }
    return 0;
}

/* ----------------------------------------------------------------- writers */

/* Begins a v4 response frame (flags may include SB_CQLFLAG_WARNING; the
 * caller then writes the warning list first). Returns the offset of the
 * frame for sb_cqlframe_end, which patches the body length. */
static size_t sb_cqlframe_begin(sb_buf *b, int16_t stream, int opcode, int flags)
{
    size_t off = b->len;
    uint8_t h[SB_CQLFRAME_HEADER_SIZE] = {0x80 | SB_CQLPROTO_VERSION, (uint8_t)flags,
                                          (uint8_t)((uint16_t)stream >> 8), (uint8_t)stream,
                                          (uint8_t)opcode};
    sb_buf_append(b, h, sizeof h); /* failure surfaces at end via len check */
    return off;
}

void sb_cqlframe_end(sb_buf *b, size_t off)
{
    if (b->len < off + SB_CQLFRAME_HEADER_SIZE)
        return;
    uint32_t n = (uint32_t)(b->len - off - SB_CQLFRAME_HEADER_SIZE);
    uint8_t *p = b->data + off + 5;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

int sb_cql_put_string(sb_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 65535)
        n = 65535;
    int rc = sb_buf_put_u16be(b, (uint16_t)n);
    return rc ? rc : sb_buf_append(b, s, n);
}

int sb_cql_put_long_string(sb_buf *b, const char *s, size_t len)
{
    int rc = sb_buf_put_u32be(b, (uint32_t)len);
    return rc ? rc : sb_buf_append(b, s, len);
}

int sb_cql_put_bytes(sb_buf *b, const uint8_t *p, int32_t len)
{
    int rc = sb_buf_put_u32be(b, (uint32_t)(len < 0 ? -1 : len));
    return rc || len <= 0 ? rc : sb_buf_append(b, p, (size_t)len);
}

int sb_cql_put_short_bytes(sb_buf *b, const uint8_t *p, size_t len)
{
    int rc = sb_buf_put_u16be(b, (uint16_t)len);
    return rc ? rc : sb_buf_append(b, p, len);
}

static int sb_cql_put_type(sb_buf *b, sb_type t)
{
    int rc = sb_buf_put_u16be(b, t.id);
    if (rc)
        return rc;
    if (t.id == SB_TYPE_LIST || t.id == SB_TYPE_SET)
        return sb_buf_put_u16be(b, t.a);
    if (t.id == SB_TYPE_MAP) {
        rc = sb_buf_put_u16be(b, t.a);
        return rc ? rc : sb_buf_put_u16be(b, t.b);
    }
    return 0;
}

static int put_string_list(sb_buf *b, const char *const *v, int n)
{
    int rc = sb_buf_put_u16be(b, (uint16_t)n);
    for (int i = 0; i < n && !rc; i++)
        rc = sb_cql_put_string(b, v[i]);
    return rc;
}

/* Finishes a frame: patches its length, or on failure cuts it off. */
static int finish(sb_buf *b, size_t off, int rc)
{
    if (rc || b->len < off + SB_CQLFRAME_HEADER_SIZE) {
        if (b->len > off)
            b->len = off;
        return SB_ENOMEM;
    }
    sb_cqlframe_end(b, off);
    return 0;
}

int sb_cqlframe_put_ready(sb_buf *b, int16_t stream)
{
    size_t off = sb_cqlframe_begin(b, stream, SB_CQLOP_READY, 0);
    return finish(b, off, 0);
}

int sb_cqlframe_put_supported(sb_buf *b, int16_t stream, const char *const *compressions, int n)
{
    static const char *const cqlv[] = {"3.4.5"};
    static const char *const protov[] = {"4/v4"};
    size_t off = sb_cqlframe_begin(b, stream, SB_CQLOP_SUPPORTED, 0);
    int rc = sb_buf_put_u16be(b, 3);
    rc = rc ? rc : sb_cql_put_string(b, "CQL_VERSION");
    rc = rc ? rc : put_string_list(b, cqlv, 1);
    rc = rc ? rc : sb_cql_put_string(b, "COMPRESSION");
    rc = rc ? rc : put_string_list(b, compressions, n);
    rc = rc ? rc : sb_cql_put_string(b, "PROTOCOL_VERSIONS");
    rc = rc ? rc : put_string_list(b, protov, 1);
    return finish(b, off, rc);
}

static int put_error_body(sb_buf *b, const sb_cql_error *e)
{
    int rc = sb_buf_put_u32be(b, (uint32_t)e->code);
    rc = rc ? rc : sb_cql_put_string(b, e->message);
    if (rc)
        return rc;
    const char *wt = e->write_type ? e->write_type : "SIMPLE";
    switch (e->code) {
    case SB_CQL_ERR_UNAVAILABLE:
        rc = sb_buf_put_u16be(b, (uint16_t)e->consistency);
        rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)e->required);
        return rc ? rc : sb_buf_put_u32be(b, (uint32_t)e->alive);
    case SB_CQL_ERR_WRITE_TIMEOUT:
    case SB_CQL_ERR_READ_TIMEOUT:
    case SB_CQL_ERR_READ_FAILURE:
    case SB_CQL_ERR_WRITE_FAILURE:
        rc = sb_buf_put_u16be(b, (uint16_t)e->consistency);
        rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)e->alive);
        rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)e->required);
        if (rc)
            return rc;
        if (e->code == SB_CQL_ERR_READ_FAILURE || e->code == SB_CQL_ERR_WRITE_FAILURE)
            rc = sb_buf_put_u32be(b, 0); /* numfailures */
        if (rc)
            return rc;
        if (e->code == SB_CQL_ERR_WRITE_TIMEOUT || e->code == SB_CQL_ERR_WRITE_FAILURE)
            return sb_cql_put_string(b, wt);
        return sb_buf_putc(b, e->data_present ? 1 : 0);
    case SB_CQL_ERR_FUNCTION_FAILURE:
        rc = sb_cql_put_string(b, e->ks);
        rc = rc ? rc : sb_cql_put_string(b, e->table);
        return rc ? rc : sb_buf_put_u16be(b, 0);
    case SB_CQL_ERR_ALREADY_EXISTS:
        rc = sb_cql_put_string(b, e->ks);
        return rc ? rc : sb_cql_put_string(b, e->table);
    case SB_CQL_ERR_UNPREPARED:
        return sb_cql_put_short_bytes(b, e->unprepared_id, sizeof e->unprepared_id);
    default:
        return 0;
    }
}

int sb_cqlframe_put_error(sb_buf *b, int16_t stream, const sb_cql_error *e)
{
    size_t off = sb_cqlframe_begin(b, stream, SB_CQLOP_ERROR, 0);
    return finish(b, off, put_error_body(b, e));
}

int sb_cqlframe_put_error_msg(sb_buf *b, int16_t stream, int code, const char *msg)
{
    sb_cql_error e;
    memset(&e, 0, sizeof e);
    e.code = code;
    snprintf(e.message, sizeof e.message, "%s", msg);
    return sb_cqlframe_put_error(b, stream, &e);
}

/* Column specs; one global table spec when every column shares it. */
static int put_colspecs(sb_buf *b, const sb_cql_colspec *c, int n, int global)
{
    int rc = 0;
    if (global) {
        rc = sb_cql_put_string(b, c[0].ks);
        rc = rc ? rc : sb_cql_put_string(b, c[0].table);
    }
    for (int i = 0; i < n && !rc; i++) {
        if (!global) {
            rc = sb_cql_put_string(b, c[i].ks);
            rc = rc ? rc : sb_cql_put_string(b, c[i].table);
        }
        rc = rc ? rc : sb_cql_put_string(b, c[i].name);
        rc = rc ? rc : sb_cql_put_type(b, c[i].type);
    }
    return rc;
}

static int colspecs_global(const sb_cql_colspec *c, int n)
{
    if (n == 0)
        return 0;
    for (int i = 1; i < n; i++)
        if (strcmp(c[i].ks ? c[i].ks : "", c[0].ks ? c[0].ks : "") ||
            strcmp(c[i].table ? c[i].table : "", c[0].table ? c[0].table : ""))
            return 0;
    return 1;
}

/* Rows metadata: flags, column count, paging state, specs. */
static int put_rows_metadata(sb_buf *b, const sb_cql_colspec *cols, int ncols, int has_more,
                             const uint8_t *ps, size_t pslen, int no_metadata)
{
    int global = !no_metadata && colspecs_global(cols, ncols);
    uint32_t flags =
        (global ? 0x0001u : 0) | (has_more ? 0x0002u : 0) | (no_metadata ? 0x0004u : 0);
    int rc = sb_buf_put_u32be(b, flags);
    rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)ncols);
    if (!rc && has_more)
        rc = sb_cql_put_bytes(b, ps, (int32_t)pslen);
    if (!rc && !no_metadata)
        rc = put_colspecs(b, cols, ncols, global);
    return rc;
}

static int put_result_body(sb_buf *b, const sb_cql_result *r, int skip_metadata)
{
    int rc = sb_buf_put_u32be(b, (uint32_t)r->kind);
    if (rc)
        return rc;
    switch (r->kind) {
    case SB_CQL_RESULT_VOID:
        return 0;
    case SB_CQL_RESULT_SET_KEYSPACE:
        return sb_cql_put_string(b, r->keyspace);
    case SB_CQL_RESULT_SCHEMA_CHANGE:
        rc = sb_cql_put_string(b, r->change_type);
        rc = rc ? rc : sb_cql_put_string(b, r->target);
        rc = rc ? rc : sb_cql_put_string(b, r->sc_keyspace);
        if (!rc && r->target && strcmp(r->target, "KEYSPACE") != 0)
            rc = sb_cql_put_string(b, r->sc_name);
        return rc;
    case SB_CQL_RESULT_ROWS: {
        rc = put_rows_metadata(b, r->cols, r->ncols, r->has_more, r->paging_state,
                               r->paging_state_len, skip_metadata);
        rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)r->nrows);
        size_t total = 0;
        for (size_t i = 0; i < (size_t)r->nrows * (size_t)r->ncols; i++)
            total += 4 + (r->rows[i].len > 0 ? (size_t)r->rows[i].len : 0);
        rc = rc ? rc : sb_buf_reserve(b, total);
        for (size_t i = 0; !rc && i < (size_t)r->nrows * (size_t)r->ncols; i++)
            rc = sb_cql_put_bytes(b, r->rows[i].p, r->rows[i].len);
        return rc;
    }
    default:
        return SB_EINVAL;
    }
}

int sb_cqlframe_put_result(sb_buf *b, int16_t stream, const sb_cql_result *r, int skip_metadata)
{
    if (r->kind == SB_CQL_RESULT_ERROR)
        return sb_cqlframe_put_error(b, stream, &r->err);
    int flags = r->warning ? SB_CQLFLAG_WARNING : 0;
    size_t off = sb_cqlframe_begin(b, stream, SB_CQLOP_RESULT, flags);
    int rc = 0;
    if (r->warning) {
        const char *w[1] = {r->warning};
        rc = put_string_list(b, w, 1);
    }
    rc = rc ? rc : put_result_body(b, r, skip_metadata);
    return finish(b, off, rc);
}

int sb_cqlframe_put_prepared(sb_buf *b, int16_t stream, const sb_cql_prepared *p)
{
    size_t off = sb_cqlframe_begin(b, stream, SB_CQLOP_RESULT, 0);
    int rc = sb_buf_put_u32be(b, 4); /* Prepared */
    rc = rc ? rc : sb_cql_put_short_bytes(b, p->id, sizeof p->id);
    /* Bind metadata: flags, columns_count, pk_count, pk indexes, specs. */
    int global = colspecs_global(p->binds, p->nbinds);
    rc = rc ? rc : sb_buf_put_u32be(b, global ? 1u : 0u);
    rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)p->nbinds);
    rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)p->npk_binds);
    for (int i = 0; i < p->npk_binds && !rc; i++)
        rc = sb_buf_put_u16be(b, (uint16_t)p->pk_binds[i]);
    rc = rc ? rc : put_colspecs(b, p->binds, p->nbinds, global);
    /* Result metadata. */
    if (!rc && p->is_select)
        rc = put_rows_metadata(b, p->cols, p->ncols, 0, NULL, 0, 0);
    else if (!rc) {
        rc = sb_buf_put_u32be(b, 0x0004); /* No_metadata */
        rc = rc ? rc : sb_buf_put_u32be(b, 0);
    }
    return finish(b, off, rc);
}

/* --- events ------------------------------------------------------------- */

int sb_cqlframe_put_event_node(sb_buf *b, const char *type, const char *change, const uint8_t *ip,
                               int iplen, int port)
{
    if (iplen != 4 && iplen != 16)
        return SB_EINVAL;
    size_t off = sb_cqlframe_begin(b, -1, SB_CQLOP_EVENT, 0);
    int rc = sb_cql_put_string(b, type);
    rc = rc ? rc : sb_cql_put_string(b, change);
    rc = rc ? rc : sb_buf_putc(b, (uint8_t)iplen);
    rc = rc ? rc : sb_buf_append(b, ip, (size_t)iplen);
    rc = rc ? rc : sb_buf_put_u32be(b, (uint32_t)port);
    return finish(b, off, rc);
}

int sb_cqlframe_put_event_schema(sb_buf *b, const char *change, const char *target,
                                 const char *keyspace, const char *name)
{
    size_t off = sb_cqlframe_begin(b, -1, SB_CQLOP_EVENT, 0);
    int rc = sb_cql_put_string(b, "SCHEMA_CHANGE");
    rc = rc ? rc : sb_cql_put_string(b, change);
    rc = rc ? rc : sb_cql_put_string(b, target);
    rc = rc ? rc : sb_cql_put_string(b, keyspace);
    if (!rc && strcmp(target, "KEYSPACE") != 0)
        rc = sb_cql_put_string(b, name ? name : "");
    return finish(b, off, rc);
}
