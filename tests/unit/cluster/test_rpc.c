/* rpc: ids, response matching, timeouts, cancel, late responses, send
 * failures, free, framing. The rpc runs on node 0 of the cluster fixture
 * (dsim/fixture.h); its sends are captured with the fixture's tap and the
 * test answers them itself. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/rpc.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/wire.h"

/* The sends of node 0, captured by the fixture's tap. */
typedef struct sent {
    sb_ep to;
    int type;
    sb_buf payload;
} sent;

typedef struct fake {
    sb_fixture *fx;
    uint64_t t0_us; /* virtual time at the start of the test */
    sent q[512];
    int nq;
} fake;

static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    fake *f = arg;
    if (rv) /* refused at once: never on the wire */
        return;
    assert_true(f->nq < 512);
    sent *s = &f->q[f->nq++];
    s->to = *to;
    s->type = type;
    sb_buf_init(&s->payload);
    sb_buf_append(&s->payload, p, len);
}

/* Runs until every timer due at t ms after the start has fired (a timer
 * of d ms fires 1 us after d ms: fixture.h). */
static void advance(fake *f, uint64_t t)
{
    uint64_t until = f->t0_us + t * SB_FIXTURE_MS + 1;
    if (until > sb_fixture_now_us(f->fx))
        sb_fixture_run_for(f->fx, until - sb_fixture_now_us(f->fx));
}

/* Node 0 of three is booted (the rpc's own node); 1 and 2 stay down, so
 * nothing answers but the test. */
static void fake_init(fake *f, const sb_io **io)
{
    memset(f, 0, sizeof(*f));
    f->fx = sb_fixture_new(1, 3, NULL, NULL);
    assert_non_null(f->fx);
    *io = sb_fixture_boot(f->fx, 0);
    assert_non_null(*io);
    sb_fixture_tap(f->fx, tap, f);
    f->t0_us = sb_fixture_now_us(f->fx);
}

static int ntimers(fake *f)
{
    return sb_fixture_timers(f->fx, 0);
}

static void fake_clear(fake *f)
{
    for (int i = 0; i < f->nq; i++)
        sb_buf_free(&f->q[i].payload);
    f->nq = 0;
}

static void fake_done(fake *f)
{
    fake_clear(f);
    assert_int_equal(ntimers(f), 0);
    sb_fixture_free(f->fx);
}

typedef struct outcome {
    int calls;
    int status;
    char body[64];
    size_t len;
} outcome;

static void on_done(void *arg, int status, const uint8_t *body, size_t len)
{
    outcome *o = arg;
    o->calls++;
    o->status = status;
    o->len = len;
    if (len && len < sizeof(o->body))
        memcpy(o->body, body, len);
}

static sb_ep ep(const char *s)
{
    sb_ep e;
    assert_int_equal(sb_ep_parse(s, 7000, &e), 0);
    return e;
}

/* The peer's side: parse the request in q[i] and answer it as `from`. */
static void answer(sb_rpc *r, fake *f, int i, const sb_ep *from, const char *body)
{
    sb_ep sender;
    uint64_t id;
    const uint8_t *b;
    size_t blen;
    assert_int_equal(
        sb_rpc_parse(f->q[i].payload.data, f->q[i].payload.len, &sender, &id, &b, &blen), 0);
    sb_buf resp;
    sb_buf_init(&resp);
    assert_int_equal(sb_wire_put_ep(&resp, from), 0);
    assert_int_equal(sb_wire_put_u64(&resp, id), 0);
    sb_buf_append(&resp, body, strlen(body));
    sb_rpc_receive_response(r, resp.data, resp.len);
    sb_buf_free(&resp);
}

static void test_response_matching(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2"), b = ep("127.0.0.3");
    sb_rpc *r = sb_rpc_new(io, &self);
    outcome oa = {0}, ob = {0};
    uint64_t ida, idb;
    assert_int_equal(
        sb_rpc_call(r, &a, SB_MSG_PING, (const uint8_t *)"hi-a", 4, 1000, on_done, &oa, &ida), 0);
    assert_int_equal(
        sb_rpc_call(r, &b, SB_MSG_PING, (const uint8_t *)"hi-b", 4, 1000, on_done, &ob, &idb), 0);
    assert_true(ida != idb);
    assert_int_equal(f.nq, 2);
    assert_int_equal(f.q[0].type, SB_MSG_PING);
    assert_true(sb_ep_eq(&f.q[0].to, &a));
    /* The request carries [self][id][body]. */
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    assert_int_equal(
        sb_rpc_parse(f.q[0].payload.data, f.q[0].payload.len, &from, &id, &body, &blen), 0);
    assert_true(sb_ep_eq(&from, &self));
    assert_int_equal(id, ida);
    assert_int_equal(blen, 4);
    assert_memory_equal(body, "hi-a", 4);
    /* Callbacks never run inside the call. */
    assert_int_equal(oa.calls + ob.calls, 0);

    /* Answer b first; then a. A response from the wrong endpoint is dropped. */
    answer(r, &f, 1, &a, "wrong");
    assert_int_equal(ob.calls, 0);
    answer(r, &f, 1, &b, "pong-b");
    assert_int_equal(ob.calls, 1);
    assert_int_equal(ob.status, 0);
    assert_int_equal(ob.len, 6);
    assert_memory_equal(ob.body, "pong-b", 6);
    answer(r, &f, 0, &a, "pong-a");
    assert_int_equal(oa.calls, 1);
    assert_memory_equal(oa.body, "pong-a", 6);

    /* Duplicates are late. */
    answer(r, &f, 0, &a, "again");
    assert_int_equal(oa.calls, 1);
    sb_rpc_stats st;
    sb_rpc_get_stats(r, &st);
    assert_int_equal(st.calls, 2);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.late_responses, 2);
    assert_int_equal(st.timeouts, 0);
    /* Timers of answered calls were stopped. */
    assert_int_equal(ntimers(&f), 0);
    sb_rpc_free(r);
    fake_done(&f);
}

static void test_timeout_and_late_response(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2");
    sb_rpc *r = sb_rpc_new(io, &self);
    outcome o = {0};
    assert_int_equal(sb_rpc_call(r, &a, SB_MSG_PING, NULL, 0, 500, on_done, &o, NULL), 0);
    advance(&f, 499);
    assert_int_equal(o.calls, 0);
    advance(&f, 500);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, SB_ETIMEOUT);
    answer(r, &f, 0, &a, "late");
    assert_int_equal(o.calls, 1);
    sb_rpc_stats st;
    sb_rpc_get_stats(r, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.late_responses, 1);
    assert_int_equal(st.pending, 0);
    sb_rpc_free(r);
    fake_done(&f);
}

static void test_cancel(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2");
    sb_rpc *r = sb_rpc_new(io, &self);
    outcome o = {0};
    uint64_t id;
    assert_int_equal(sb_rpc_call(r, &a, SB_MSG_PING, NULL, 0, 500, on_done, &o, &id), 0);
    sb_rpc_cancel(r, id);
    sb_rpc_cancel(r, id); /* twice is harmless */
    assert_int_equal(ntimers(&f), 0);
    answer(r, &f, 0, &a, "x");
    advance(&f, 10000);
    assert_int_equal(o.calls, 0);
    sb_rpc_stats st;
    sb_rpc_get_stats(r, &st);
    assert_int_equal(st.late_responses, 1);
    sb_rpc_free(r);
    fake_done(&f);
}

static void test_send_failure_is_async(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2");
    sb_rpc *r = sb_rpc_new(io, &self);
    outcome o = {0};
    sb_fixture_refuse_sends(f.fx, 0, SB_EOVERLOADED);
    assert_int_equal(sb_rpc_call(r, &a, SB_MSG_PING, NULL, 0, 500, on_done, &o, NULL), 0);
    assert_int_equal(o.calls, 0);
    advance(&f, 0);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, SB_ECLOSED);
    advance(&f, 1000);
    assert_int_equal(o.calls, 1);
    sb_rpc_free(r);
    fake_done(&f);
}

static sb_rpc *g_reentrant_rpc;
static outcome g_second;
static void on_done_reissue(void *arg, int status, const uint8_t *body, size_t len)
{
    on_done(arg, status, body, len);
    sb_ep a = ep("127.0.0.2");
    /* A call issued from a callback during free is refused, not lost. */
    assert_int_equal(
        sb_rpc_call(g_reentrant_rpc, &a, SB_MSG_PING, NULL, 0, 10, on_done, &g_second, NULL),
        SB_ECLOSED);
}

static void test_free_ends_pending(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2");
    sb_rpc *r = sb_rpc_new(io, &self);
    g_reentrant_rpc = r;
    outcome o[300];
    memset(o, 0, sizeof(o));
    /* Enough calls to grow the table. */
    for (int i = 0; i < 300; i++)
        assert_int_equal(sb_rpc_call(r, &a, SB_MSG_PING, NULL, 0, 1000,
                                     i == 7 ? on_done_reissue : on_done, &o[i], NULL),
                         0);
    fake_clear(&f);
    sb_rpc_stats st;
    sb_rpc_get_stats(r, &st);
    assert_int_equal(st.pending, 300);
    sb_rpc_free(r);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, SB_ECLOSED);
    }
    assert_int_equal(g_second.calls, 0);
    fake_done(&f);
}

/* A callback run by sb_rpc_free cancels the other pending call (as a
 * Paxos round does when one answer ends it) and frees its argument: the
 * cancelled call's callback must not run. It used to, on freed memory. */
static uint64_t g_pair_id[2];
static int *g_pair[2];
static int g_pair_runs;
static void on_done_cancel_other(void *arg, int status, const uint8_t *body, size_t len)
{
    int i = *(int *)arg;
    assert_ptr_equal(arg, g_pair[i]);
    assert_int_equal(status, SB_ECLOSED);
    g_pair_runs++;
    int j = 1 - i;
    if (g_pair[j]) {
        sb_rpc_cancel(g_reentrant_rpc, g_pair_id[j]);
        free(g_pair[j]);
        g_pair[j] = NULL;
    }
    free(g_pair[i]);
    g_pair[i] = NULL;
}

static void test_free_honours_cancel_from_callback(void **state)
{
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_ep self = ep("127.0.0.1"), a = ep("127.0.0.2");
    sb_rpc *r = sb_rpc_new(io, &self);
    g_reentrant_rpc = r;
    for (int i = 0; i < 2; i++) {
        g_pair[i] = malloc(sizeof *g_pair[i]);
        assert_non_null(g_pair[i]);
        *g_pair[i] = i;
        assert_int_equal(sb_rpc_call(r, &a, SB_MSG_PING, NULL, 0, 1000, on_done_cancel_other,
                                     g_pair[i], &g_pair_id[i]),
                         0);
    }
    fake_clear(&f);
    sb_rpc_free(r);
    /* Whichever ran first cancelled the other. */
    assert_int_equal(g_pair_runs, 1);
    assert_null(g_pair[0]);
    assert_null(g_pair[1]);
    fake_done(&f);
}

static void test_framing_errors(void **state)
{
    sb_ep self = ep("[::1]:7001"), from;
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_msg_build(&b, &self, (const uint8_t *)"body", 4), 0);
    const uint8_t *body;
    size_t blen;
    assert_int_equal(sb_msg_parse(b.data, b.len, &from, &body, &blen), 0);
    assert_true(sb_ep_eq(&from, &self));
    assert_int_equal(blen, 4);
    assert_memory_equal(body, "body", 4);
    /* Every truncation of the endpoint is refused. */
    for (size_t n = 0; n < b.len - 4; n++)
        assert_int_equal(sb_msg_parse(b.data, n, &from, &body, &blen), SB_EBADINPUT);
    uint64_t id;
    /* A one-way message is too short to hold an id. */
    assert_int_equal(sb_rpc_parse(b.data, b.len - 4, &from, &id, &body, &blen), SB_EBADINPUT);
    /* A bad address family is refused. */
    b.data[0] = 9;
    assert_int_equal(sb_msg_parse(b.data, b.len, &from, &body, &blen), SB_EBADINPUT);
    sb_buf_free(&b);

    /* Malformed responses are dropped without harm. */
    fake f;
    const sb_io *io;
    fake_init(&f, &io);
    sb_rpc *r = sb_rpc_new(io, &self);
    sb_rpc_receive_response(r, (const uint8_t *)"xx", 2);
    sb_rpc_receive_response(r, NULL, 0);
    sb_rpc_free(r);
    fake_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_matching),
        cmocka_unit_test(test_timeout_and_late_response),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_send_failure_is_async),
        cmocka_unit_test(test_free_ends_pending),
        cmocka_unit_test(test_free_honours_cancel_from_callback),
        cmocka_unit_test(test_framing_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
