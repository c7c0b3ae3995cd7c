/* Unit tests for what the CQL server tells drivers about the cluster:
 * EVENT frames byte for byte, gossip events mapped to TOPOLOGY_CHANGE /
 * STATUS_CHANGE, system.peers and peers_v2 rows built from members, and
 * SCHEMA_CHANGE events from schema snapshots. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cqlproto/events.h"
#include "cqlproto/frame.h"
#include "cqlproto/systables.h"
#include "util/buf.h"
#include "util/err.h"

/* ------------------------------------------------------------ frames */

static void test_status_up_frame(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    const uint8_t ip[4] = {127, 0, 0, 2};
    assert_int_equal(sb_cqlframe_put_event_node(&b, "STATUS_CHANGE", "UP", ip, 4, 9042), 0);
    static const uint8_t want[] = {
        0x84, 0x00, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x00, 28, /* header, stream -1 */
        0x00, 13,   'S',  'T',  'A',  'T',  'U',  'S',  '_', 'C',
        'H',  'A',  'N',  'G',  'E',  0x00, 2,    'U',  'P', /* change */
        4,    127,  0,    0,    2,                           /* [inet] address */
        0x00, 0x00, 0x23, 0x52,                              /* port 9042 */
    };
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    sb_buf_free(&b);
}

static void test_topology_frame_ipv6_and_bad_len(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    uint8_t ip[16] = {0};
    ip[15] = 1;
    assert_int_equal(sb_cqlframe_put_event_node(&b, "TOPOLOGY_CHANGE", "NEW_NODE", ip, 16, 9042),
                     0);
    size_t body = 2 + 15 + 2 + 8 + 1 + 16 + 4;
    assert_int_equal(b.len, 9 + body);
    assert_int_equal(b.data[8], body);
    assert_int_equal(b.data[9 + 2 + 15 + 2 + 8], 16);
    size_t len = b.len;
    assert_int_equal(sb_cqlframe_put_event_node(&b, "STATUS_CHANGE", "UP", ip, 5, 1), SB_EINVAL);
    assert_int_equal(b.len, len); /* nothing appended */
    sb_buf_free(&b);
}

static void test_schema_frames(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cqlframe_put_event_schema(&b, "CREATED", "KEYSPACE", "ks", NULL), 0);
    static const uint8_t ks[] = {
        0x84, 0x00, 0xff, 0xff, 0x0c, 0,   0,   0,   15 + 9 + 10 + 4,
        0,    13,   'S',  'C',  'H',  'E', 'M', 'A', '_',
        'C',  'H',  'A',  'N',  'G',  'E', 0,   7,   'C',
        'R',  'E',  'A',  'T',  'E',  'D', 0,   8,   'K',
        'E',  'Y',  'S',  'P',  'A',  'C', 'E', 0,   2,
        'k',  's',
    };
    assert_int_equal(b.len, sizeof ks);
    assert_memory_equal(b.data, ks, sizeof ks);
    sb_buf_reset(&b);
    assert_int_equal(sb_cqlframe_put_event_schema(&b, "DROPPED", "TABLE", "ks", "t1"), 0);
    /* the table target carries the name after the keyspace */
    assert_int_equal(b.len, 9 + 15 + 9 + 7 + 4 + 4);
    assert_memory_equal(b.data + b.len - 4, "\x00\x02t1", 4);
    sb_buf_free(&b);
}

/* ---------------------------------------------------------- topology */

typedef struct seen {
    int n;
    int type[16];
    char change[16][16];
    sb_ep addr[16];
} seen;

static void on_node(void *arg, int type, const char *change, const sb_ep *addr)
{
    seen *s = arg;
    assert_true(s->n < 16);
    s->type[s->n] = type;
    snprintf(s->change[s->n], sizeof s->change[0], "%s", change);
    s->addr[s->n] = *addr;
    s->n++;
}

static sb_member member(const char *ep, const char *rpc, int status, int ntokens)
{
    sb_member m;
    memset(&m, 0, sizeof m);
    assert_int_equal(sb_ep_parse(ep, 7000, &m.ep), 0);
    if (rpc)
        assert_int_equal(sb_ep_parse(rpc, 9042, &m.rpc), 0);
    m.status = status;
    m.up = 1;
    m.ntokens = ntokens;
    for (int i = 0; i < ntokens; i++)
        m.tokens[i] = -9000000000000000000ll + i * 1000;
    m.host_id[0] = (uint8_t)m.ep.ip[3];
    m.host_id[6] = 0x40;
    snprintf(m.dc, sizeof m.dc, "dc1");
    snprintf(m.rack, sizeof m.rack, "rack1");
    return m;
}

static void test_topology_events(void **state)
{
    cqlp_topo t;
    memset(&t, 0, sizeof t);
    seen s;
    memset(&s, 0, sizeof s);
    char buf[SB_EP_STRLEN];

    sb_member self = member("127.0.0.1:7000", "127.0.0.1:9042", SB_STATUS_NORMAL, 4);
    self.is_self = 1;
    cqlp_topo_event(&t, SB_GOSSIP_STATUS, &self, on_node, &s);
    assert_int_equal(s.n, 0); /* never about ourselves */

    /* Seen while joining (no tokens): no NEW_NODE yet. */
    sb_member m = member("127.0.0.2:7000", "127.0.0.2:9042", SB_STATUS_JOINING, 0);
    cqlp_topo_event(&t, SB_GOSSIP_NEW, &m, on_node, &s);
    assert_int_equal(s.n, 0);
    /* Owns tokens: NEW_NODE once, with its CQL address. */
    m.status = SB_STATUS_NORMAL;
    m.ntokens = 4;
    cqlp_topo_event(&t, SB_GOSSIP_STATUS, &m, on_node, &s);
    cqlp_topo_event(&t, SB_GOSSIP_STATUS, &m, on_node, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.type[0], CQLP_EV_TOPOLOGY);
    assert_string_equal(s.change[0], "NEW_NODE");
    assert_string_equal(sb_ep_str(&s.addr[0], buf), "127.0.0.2:9042");

    cqlp_topo_event(&t, SB_GOSSIP_DOWN, &m, on_node, &s);
    cqlp_topo_event(&t, SB_GOSSIP_UP, &m, on_node, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.type[1], CQLP_EV_STATUS);
    assert_string_equal(s.change[1], "DOWN");
    assert_string_equal(s.change[2], "UP");

    /* A restart seen while up counts as UP. */
    cqlp_topo_event(&t, SB_GOSSIP_RESTARTED, &m, on_node, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.change[3], "UP");

    /* Leaving the ring: REMOVED_NODE once. */
    m.status = SB_STATUS_LEFT;
    cqlp_topo_event(&t, SB_GOSSIP_STATUS, &m, on_node, &s);
    cqlp_topo_event(&t, SB_GOSSIP_REMOVED, &m, on_node, &s);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.type[4], CQLP_EV_TOPOLOGY);
    assert_string_equal(s.change[4], "REMOVED_NODE");

    /* A wildcard CQL address stands for the node's own IP. */
    sb_member w = member("127.0.0.3:7000", "0.0.0.0:9043", SB_STATUS_NORMAL, 2);
    cqlp_topo_event(&t, SB_GOSSIP_NEW, &w, on_node, &s);
    assert_int_equal(s.n, 6);
    assert_string_equal(sb_ep_str(&s.addr[5], buf), "127.0.0.3:9043");

    /* Seeded members are not announced again. */
    sb_member p = member("127.0.0.4:7000", "127.0.0.4:9042", SB_STATUS_NORMAL, 2);
    cqlp_topo_seed(&t, &p);
    cqlp_topo_event(&t, SB_GOSSIP_STATUS, &p, on_node, &s);
    assert_int_equal(s.n, 6);
    cqlp_topo_free(&t);
}

static void test_event_types(void **state)
{
    assert_int_equal(cqlp_event_type("TOPOLOGY_CHANGE"), CQLP_EV_TOPOLOGY);
    assert_int_equal(cqlp_event_type("STATUS_CHANGE"), CQLP_EV_STATUS);
    assert_int_equal(cqlp_event_type("SCHEMA_CHANGE"), CQLP_EV_SCHEMA);
    assert_int_equal(cqlp_event_type("status_change"), 0);
    assert_int_equal(cqlp_event_type(""), 0);
}

/* ------------------------------------------------------------- peers */

typedef struct rows {
    const sb_table *t;
    int n;
    sb_value v[8][16];
    uint8_t mem[8][2048];
} rows;

static int collect(void *ctx, const sb_value *row)
{
    rows *r = ctx;
    assert_true(r->n < 8);
    size_t off = 0;
    for (int i = 0; i < r->t->ncols; i++) {
        if (row[i].len < 0) {
            r->v[r->n][i] = SB_VALUE_NULL;
            continue;
        }
        assert_true(off + (size_t)row[i].len <= sizeof r->mem[0]);
        memcpy(r->mem[r->n] + off, row[i].p, (size_t)row[i].len);
        r->v[r->n][i] = (sb_value){r->mem[r->n] + off, row[i].len};
        off += (size_t)row[i].len;
    }
    r->n++;
    return 0;
}

static sb_value col(const rows *r, int row, const char *name)
{
    for (int i = 0; i < r->t->ncols; i++)
        if (!strcmp(r->t->cols[i].name, name))
            return r->v[row][i];
    fail_msg("no column %s", name);
    return SB_VALUE_NULL;
}

static int32_t int_of(sb_value v)
{
    assert_int_equal(v.len, 4);
    return (int32_t)((uint32_t)v.p[0] << 24 | (uint32_t)v.p[1] << 16 | (uint32_t)v.p[2] << 8 |
                     v.p[3]);
}

static cqlp_systables *new_systables(char *dir)
{
    snprintf(dir, 64, "/tmp/sb_test_events_XXXXXX");
    assert_non_null(mkdtemp(dir));
    sb_cqlproto_ident id = {.data_dir = dir,
                            .cluster_name = "Test Cluster",
                            .dc = "datacenter1",
                            .rack = "rack1",
                            .listen_addr = "127.0.0.1:7000"};
    cqlp_systables *st = NULL;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(cqlp_systables_new(&st, NULL, &id, "127.0.0.1", 9042, err), 0);
    return st;
}

static void drop_dir(const char *dir)
{
    char p[128];
    snprintf(p, sizeof p, "%s/host_id", dir);
    unlink(p);
    rmdir(dir);
}

static void test_peers_rows(void **state)
{
    char dir[64];
    cqlp_systables *st = new_systables(dir);
    sb_cql_vtables vt;
    cqlp_systables_vtables(st, &vt);

    sb_member self = member("127.0.0.1:7000", "127.0.0.1:9042", SB_STATUS_NORMAL, 4);
    self.is_self = 1;
    sb_member a = member("127.0.0.2:7000", "127.0.0.2:9042", SB_STATUS_NORMAL, 3);
    a.schema_version[0] = 0xab;
    sb_member joining = member("127.0.0.3:7000", "127.0.0.3:9042", SB_STATUS_JOINING, 0);
    sb_member down = member("127.0.0.4:7001", "0.0.0.0:9044", SB_STATUS_SHUTDOWN, 2);
    down.up = 0;
    const sb_member *list[] = {&self, &a, &joining, &down};

    rows r;
    memset(&r, 0, sizeof r);
    r.t = vt.lookup(vt.arg, "system", "peers");
    assert_non_null(r.t);
    assert_int_equal(cqlp_scan_peers(st, 0, list, 4, collect, &r), 0);
    assert_int_equal(r.n, 2); /* not ourselves, not the one without tokens */

    sb_value v = col(&r, 0, "peer");
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.p, "\x7f\x00\x00\x02", 4);
    v = col(&r, 0, "rpc_address");
    assert_memory_equal(v.p, "\x7f\x00\x00\x02", 4);
    v = col(&r, 0, "host_id");
    assert_int_equal(v.len, 16);
    assert_int_equal(v.p[0], 2);
    v = col(&r, 0, "data_center");
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.p, "dc1", 3);
    v = col(&r, 0, "schema_version");
    assert_int_equal(v.len, 16);
    assert_int_equal(v.p[0], 0xab);
    /* tokens: a set of 3 texts: [int n] then [int len][bytes] each */
    v = col(&r, 0, "tokens");
    assert_true(v.len > 4);
    assert_int_equal(int_of((sb_value){v.p, 4}), 3);
    int32_t l0 = int_of((sb_value){v.p + 4, 4});
    assert_true(l0 > 0);
    char tok[32] = "";
    memcpy(tok, v.p + 8, (size_t)l0);
    assert_string_equal(tok, "-8999999999999998000"); /* sets sort their elements */
    assert_non_null(col(&r, 0, "release_version").p);

    /* The stopped node is still listed (down is for events to say), its
     * unknown schema version null, its wildcard CQL address its own IP. */
    assert_memory_equal(col(&r, 1, "peer").p, "\x7f\x00\x00\x04", 4);
    assert_memory_equal(col(&r, 1, "rpc_address").p, "\x7f\x00\x00\x04", 4);
    assert_int_equal(col(&r, 1, "schema_version").len, -1);

    /* peers_v2: ports too. */
    memset(&r, 0, sizeof r);
    r.t = vt.lookup(vt.arg, "system", "peers_v2");
    assert_non_null(r.t);
    assert_int_equal(cqlp_scan_peers(st, 1, list, 4, collect, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(int_of(col(&r, 1, "peer_port")), 7001);
    assert_int_equal(int_of(col(&r, 1, "native_port")), 9044);
    assert_memory_equal(col(&r, 1, "native_address").p, "\x7f\x00\x00\x04", 4);
    assert_int_equal(int_of(col(&r, 0, "native_port")), 9042);

    cqlp_systables_free(st);
    drop_dir(dir);
}

/* ------------------------------------------------------------ schema */

typedef struct sevents {
    int n;
    char ev[16][96];
} sevents;

static void on_schema(void *arg, const char *change, const char *target, const char *ks,
                      const char *name)
{
    sevents *s = arg;
    assert_true(s->n < 16);
    snprintf(s->ev[s->n++], sizeof s->ev[0], "%s %s %s%s%s", change, target, ks, name ? "." : "",
             name ? name : "");
}

static void test_schema_diff(void **state)
{
    sb_column c1[2] = {{.name = "k", .kind = SB_COL_PARTITION}, {.name = "v"}};
    assert_int_equal(sb_type_parse("int", &c1[0].type), 0);
    assert_int_equal(sb_type_parse("text", &c1[1].type), 0);
    sb_table t1 = {.keyspace = "ks", .name = "t1", .cols = c1, .ncols = 2, .npk = 1};
    sb_table t2 = {.keyspace = "ks", .name = "t2", .cols = c1, .ncols = 1, .npk = 1};
    sb_table u1 = {.keyspace = "other", .name = "u1", .cols = c1, .ncols = 1, .npk = 1};
    sb_table *ks_tables[2] = {&t1, &t2};
    sb_table *other_tables[1] = {&u1};
    sb_keyspace ks = {.name = "ks",
                      .replication_json = "{\"replication_factor\": \"1\"}",
                      .tables = ks_tables,
                      .ntables = 1};
    sb_keyspace other = {.name = "other", .tables = other_tables, .ntables = 1};
    sb_keyspace *list[2] = {&ks, &other};
    sb_schema s = {.ks = list, .nks = 1};

    sevents ev;
    memset(&ev, 0, sizeof ev);
    cqlp_schema_snap *a = cqlp_schema_snap_new(&s);
    assert_non_null(a);
    cqlp_schema_diff(a, a, on_schema, &ev);
    assert_int_equal(ev.n, 0);

    /* A new keyspace with a table (as a pulled schema brings it), a new
     * table in ks. */
    s.nks = 2;
    ks.ntables = 2;
    cqlp_schema_snap *b = cqlp_schema_snap_new(&s);
    cqlp_schema_diff(a, b, on_schema, &ev);
    assert_int_equal(ev.n, 3);
    assert_string_equal(ev.ev[0], "CREATED TABLE ks.t2");
    assert_string_equal(ev.ev[1], "CREATED KEYSPACE other");
    assert_string_equal(ev.ev[2], "CREATED TABLE other.u1");

    /* ALTER TABLE (a column more), ALTER KEYSPACE (replication). */
    memset(&ev, 0, sizeof ev);
    t1.ncols = 1;
    ks.replication_json = "{\"replication_factor\": \"3\"}";
    cqlp_schema_snap *c = cqlp_schema_snap_new(&s);
    cqlp_schema_diff(b, c, on_schema, &ev);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.ev[0], "UPDATED KEYSPACE ks");
    assert_string_equal(ev.ev[1], "UPDATED TABLE ks.t1");

    /* DROP KEYSPACE other (once, not per table), DROP TABLE ks.t1. */
    memset(&ev, 0, sizeof ev);
    s.nks = 1;
    ks_tables[0] = &t2;
    ks.ntables = 1;
    cqlp_schema_snap *d = cqlp_schema_snap_new(&s);
    cqlp_schema_diff(c, d, on_schema, &ev);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.ev[0], "DROPPED TABLE ks.t1");
    assert_string_equal(ev.ev[1], "DROPPED KEYSPACE other");

    cqlp_schema_snap_free(a);
    cqlp_schema_snap_free(b);
    cqlp_schema_snap_free(c);
    cqlp_schema_snap_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_up_frame),
        cmocka_unit_test(test_topology_frame_ipv6_and_bad_len),
        cmocka_unit_test(test_schema_frames),
        cmocka_unit_test(test_topology_events),
        cmocka_unit_test(test_event_types),
        cmocka_unit_test(test_peers_rows),
        cmocka_unit_test(test_schema_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
