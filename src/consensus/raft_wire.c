/*
 * The SB_MSG_RAFT payload (raft_io.h): libraft's six RPCs on Sibyl's wire.
 *
 *   [sender ep][u64 sender id][u8 type] then, by type,
 *   REQUEST_VOTE         term, candidate id, last log index, last log term,
 *                        u8 flags (1 disrupt leader, 2 pre-vote)
 *   REQUEST_VOTE_RESULT  term, u8 granted, u8 pre-vote (tribool)
 *   APPEND_ENTRIES       term, prev index, prev term, leader commit,
 *                        u32 n, n x ([u64 term][u8 type][bytes data])
 *   APPEND_ENTRIES_RESULT term, rejected, last log index
 *   INSTALL_SNAPSHOT     term, last index, last term, configuration,
 *                        configuration index, bytes data
 *   TIMEOUT_NOW          term, last log index, last log term
 * (every number a u64 unless said). A decoder checks every bound before
 * allocating: a payload from the network is outside input.
 */
#include <string.h>

#include "consensus/raft_io.h"
#include "util/err.h"
#include "util/wire.h"

#define MAX_ENTRIES 65536
#define MAX_SERVERS 1024
#define MAX_DATA (64u << 20)

int sb_raft_conf_encode(sb_buf *out, const struct raft_configuration *c)
{
    int rc = sb_wire_put_u32(out, c->n);
    for (unsigned i = 0; rc == 0 && i < c->n; i++) {
        rc = sb_wire_put_u64(out, c->servers[i].id);
        if (rc == 0)
            rc = sb_wire_put_str(out, c->servers[i].address);
        if (rc == 0)
            rc = sb_wire_put_u8(out, (uint8_t)c->servers[i].role);
    }
    return rc;
}

int sb_raft_conf_decode(sb_wire_reader *r, struct raft_configuration *c)
{
    raft_configuration_init(c);
    uint32_t n = sb_wire_get_u32(r);
    if (r->err || n > MAX_SERVERS)
        return SB_EBADINPUT;
    for (uint32_t i = 0; i < n; i++) {
        char addr[SB_ADDR_MAX];
        sb_ep ep;
        uint64_t id = sb_wire_get_u64(r);
        uint16_t alen = sb_wire_get_u16(r);
        if (alen >= sizeof addr) {
            raft_configuration_close(c);
            return SB_EBADINPUT;
        }
        sb_wire_get_raw(r, addr, alen);
        addr[alen] = 0;
        uint8_t role = sb_wire_get_u8(r);
        /* an address is an endpoint's text, nothing else */
        if (r->err || id == 0 || role > RAFT_SPARE || strlen(addr) != alen ||
            sb_ep_parse(addr, 0, &ep) != 0) {
            raft_configuration_close(c);
            return SB_EBADINPUT;
        }
        int rv = raft_configuration_add(c, id, addr, role);
        if (rv != 0) {
            raft_configuration_close(c);
            return rv == RAFT_NOMEM ? SB_ENOMEM : SB_EBADINPUT;
        }
    }
    return 0;
}

int sb_raft_wire_encode(sb_buf *out, const sb_ep *self, raft_id self_id,
                        const struct raft_message *m)
{
    sb_buf_reset(out);
    int rc = sb_wire_put_ep(out, self);
    rc = rc ? rc : sb_wire_put_u64(out, self_id);
    rc = rc ? rc : sb_wire_put_u8(out, (uint8_t)m->type);
    if (rc)
        return rc;
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE: {
        const struct raft_request_vote *a = &m->request_vote;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u64(out, a->candidate_id);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_log_index);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_log_term);
        rc = rc ? rc : sb_wire_put_u8(out, (uint8_t)(a->disrupt_leader | a->pre_vote << 1));
        return rc;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        const struct raft_request_vote_result *a = &m->request_vote_result;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u8(out, a->vote_granted);
        rc = rc ? rc : sb_wire_put_u8(out, (uint8_t)a->pre_vote);
        return rc;
    }
    case RAFT_IO_APPEND_ENTRIES: {
        const struct raft_append_entries *a = &m->append_entries;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u64(out, a->prev_log_index);
        rc = rc ? rc : sb_wire_put_u64(out, a->prev_log_term);
        rc = rc ? rc : sb_wire_put_u64(out, a->leader_commit);
        rc = rc ? rc : sb_wire_put_u32(out, a->n_entries);
        for (unsigned i = 0; rc == 0 && i < a->n_entries; i++) {
            rc = sb_wire_put_u64(out, a->entries[i].term);
            rc = rc ? rc : sb_wire_put_u8(out, (uint8_t)a->entries[i].type);
            rc = rc ? rc : sb_wire_put_bytes(out, a->entries[i].buf.base, a->entries[i].buf.len);
        }
        return rc;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        const struct raft_append_entries_result *a = &m->append_entries_result;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u64(out, a->rejected);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_log_index);
        return rc;
    }
    case RAFT_IO_INSTALL_SNAPSHOT: {
        const struct raft_install_snapshot *a = &m->install_snapshot;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_index);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_term);
        rc = rc ? rc : sb_raft_conf_encode(out, &a->conf);
        rc = rc ? rc : sb_wire_put_u64(out, a->conf_index);
        rc = rc ? rc : sb_wire_put_bytes(out, a->data.base, a->data.len);
        return rc;
    }
    case RAFT_IO_TIMEOUT_NOW: {
        const struct raft_timeout_now *a = &m->timeout_now;
        rc = sb_wire_put_u64(out, a->term);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_log_index);
        rc = rc ? rc : sb_wire_put_u64(out, a->last_log_term);
        return rc;
    }
    }
    return SB_EINVAL;
}

static int decode_entries(sb_wire_reader *r, struct raft_append_entries *a)
{
    uint32_t n = sb_wire_get_u32(r);
    if (r->err || n > MAX_ENTRIES)
        return SB_EBADINPUT;
    a->entries = NULL;
    a->n_entries = 0;
    if (n == 0)
        return 0;
    /* First pass: bounds and the batch size; nothing allocated yet. */
    size_t start = r->off, total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        sb_wire_get_u64(r);
        uint8_t type = sb_wire_get_u8(r);
        sb_wire_get_bytes(r, &p, &len, MAX_DATA);
        if (r->err || type < RAFT_COMMAND || type > RAFT_CHANGE)
            return SB_EBADINPUT;
        total += len;
    }
    if (total > MAX_DATA)
        return SB_EBADINPUT;
    struct raft_entry *e = raft_calloc(n, sizeof *e);
    uint8_t *batch = raft_malloc(total ? total : 1);
    if (!e || !batch) {
        raft_free(e);
        raft_free(batch);
        return SB_ENOMEM;
    }
    r->off = start;
    size_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        e[i].term = sb_wire_get_u64(r);
        e[i].type = sb_wire_get_u8(r);
        sb_wire_get_bytes(r, &p, &len, MAX_DATA);
        if (len)
            memcpy(batch + at, p, len);
        e[i].buf.base = batch + at;
        e[i].buf.len = len;
        e[i].batch = batch;
        at += len;
    }
    a->entries = e;
    a->n_entries = n;
    return 0;
}

int sb_raft_wire_decode(const uint8_t *p, size_t n, struct raft_message *m, sb_ep *from,
                        char *addr)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n);
    memset(m, 0, sizeof *m);
    sb_wire_get_ep(&r, from);
    m->server_id = sb_wire_get_u64(&r);
    m->type = sb_wire_get_u8(&r);
    if (r.err || m->server_id == 0)
        return SB_EBADINPUT;
    sb_ep_str(from, addr);
    m->server_address = addr;
    int rc = 0;
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE: {
        struct raft_request_vote *a = &m->request_vote;
        a->term = sb_wire_get_u64(&r);
        a->candidate_id = sb_wire_get_u64(&r);
        a->last_log_index = sb_wire_get_u64(&r);
        a->last_log_term = sb_wire_get_u64(&r);
        uint8_t f = sb_wire_get_u8(&r);
        if (f > 3)
            return SB_EBADINPUT;
        a->disrupt_leader = f & 1;
        a->pre_vote = (f & 2) != 0;
        break;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        struct raft_request_vote_result *a = &m->request_vote_result;
        a->term = sb_wire_get_u64(&r);
        uint8_t granted = sb_wire_get_u8(&r);
        a->vote_granted = granted != 0;
        uint8_t t = sb_wire_get_u8(&r);
        if (t > raft_tribool_false || granted > 1)
            return SB_EBADINPUT;
        a->pre_vote = (raft_tribool)t;
        break;
    }
    case RAFT_IO_APPEND_ENTRIES: {
        struct raft_append_entries *a = &m->append_entries;
        a->term = sb_wire_get_u64(&r);
        a->prev_log_index = sb_wire_get_u64(&r);
        a->prev_log_term = sb_wire_get_u64(&r);
        a->leader_commit = sb_wire_get_u64(&r);
        if (r.err)
            return SB_EBADINPUT;
        rc = decode_entries(&r, a);
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        struct raft_append_entries_result *a = &m->append_entries_result;
        a->term = sb_wire_get_u64(&r);
        a->rejected = sb_wire_get_u64(&r);
        a->last_log_index = sb_wire_get_u64(&r);
        break;
    }
    case RAFT_IO_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *a = &m->install_snapshot;
        a->term = sb_wire_get_u64(&r);
        a->last_index = sb_wire_get_u64(&r);
        a->last_term = sb_wire_get_u64(&r);
        if (r.err)
            return SB_EBADINPUT;
        rc = sb_raft_conf_decode(&r, &a->conf);
        if (rc)
            return rc;
        a->conf_index = sb_wire_get_u64(&r);
        const uint8_t *d;
        size_t dlen;
        sb_wire_get_bytes(&r, &d, &dlen, MAX_DATA);
        if (r.err || r.off != r.n) {
            raft_configuration_close(&a->conf);
            return SB_EBADINPUT;
        }
        a->data.base = raft_malloc(dlen ? dlen : 1);
        if (!a->data.base) {
            raft_configuration_close(&a->conf);
            return SB_ENOMEM;
        }
        if (dlen)
            memcpy(a->data.base, d, dlen);
        a->data.len = dlen;
        return 0;
    }
    case RAFT_IO_TIMEOUT_NOW: {
        struct raft_timeout_now *a = &m->timeout_now;
        a->term = sb_wire_get_u64(&r);
        a->last_log_index = sb_wire_get_u64(&r);
        a->last_log_term = sb_wire_get_u64(&r);
        break;
    }
    default:
        return SB_EBADINPUT;
    }
    if (rc)
        return rc;
    if (r.err || r.off != r.n) {
        sb_raft_wire_release(m);
        return SB_EBADINPUT;
    }
    return 0;
}

void sb_raft_wire_release(struct raft_message *m)
{
    switch (m->type) {
    case RAFT_IO_APPEND_ENTRIES:
        if (m->append_entries.entries) {
            raft_free(m->append_entries.entries[0].batch);
            raft_free(m->append_entries.entries);
        }
        m->append_entries.entries = NULL;
        m->append_entries.n_entries = 0;
        break;
    case RAFT_IO_INSTALL_SNAPSHOT:
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
        m->install_snapshot.data.base = NULL;
        break;
    }
}
