/* tests/test_sync_watch.c - the watch channel (include/corio/watch.h).
 *
 * One test per promise of the header: the initial value is seen, get marks
 * nothing and get_and_update marks it, has_changed and the marks, changed
 * returns at once for an unseen value and waits otherwise, only the latest
 * value is kept, subscribe and rx_clone start from the current or the
 * cloned mark, close (a last unseen value first, then CORIO_ECLOSED; a
 * waiting changed wakes; get still works), no receiver (send takes
 * nothing, send_replace stores and hands back the old value), the drop
 * function once per value, clone/drop of refcounted values, argument
 * checks, plain threads, and cancel safety (timeout, abort). Stress on the
 * multi-thread runtime: senders and receivers with timeouts and aborts
 * racing wakes and the close.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/watch.h"
#include "test.h"
#include "util.h"

static uint64_t get_u64(corio_watch_rx *rx)
{
    uint64_t v;
    CHECK_EQ(corio_watch_get(rx, &v), 0);
    return v;
}

static bool changed_now(corio_watch_rx *rx)
{
    bool ch = false;
    CHECK_EQ(corio_watch_has_changed(rx, &ch), 0);
    return ch;
}

TEST(watch_rejects_invalid_arguments)
{
    corio_watch_tx *tx = (corio_watch_tx *)1;
    corio_watch_rx *rx = (corio_watch_rx *)1;
    uint64_t v = 1;
    bool ch;
    CHECK_EQ(corio_watch_new(0, &v, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_watch_new(CORIO_CHAN_MSG_MAX + 1, &v, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_watch_new(8, NULL, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_watch_new(8, &v, NULL, &rx), -EINVAL);
    CHECK_EQ(corio_watch_new(8, &v, &tx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_new_with(NULL, &v, &tx, &rx), -EINVAL);
    CHECK(tx == (corio_watch_tx *)1 && rx == (corio_watch_rx *)1);
    CHECK_EQ(corio_watch_send(NULL, &v), -EINVAL);
    CHECK_EQ(corio_watch_send_replace(NULL, &v, NULL), -EINVAL);
    CHECK_EQ(corio_watch_get(NULL, &v), -EINVAL);
    CHECK_EQ(corio_watch_get_and_update(NULL, &v), -EINVAL);
    CHECK_EQ(corio_watch_tx_get(NULL, &v), -EINVAL);
    CHECK_EQ(corio_watch_has_changed(NULL, &ch), -EINVAL);
    CHECK_EQ(corio_watch_changed(NULL), -EINVAL);
    CHECK_EQ(corio_watch_subscribe(NULL, &rx), -EINVAL);
    CHECK_EQ(corio_watch_rx_clone(NULL, &rx), -EINVAL);
    CHECK(corio_watch_tx_clone(NULL) == NULL);
    corio_watch_mark_changed(NULL);
    corio_watch_mark_unchanged(NULL);
    corio_watch_tx_release(NULL);
    corio_watch_rx_release(NULL);
    CHECK_EQ(corio_watch_receiver_count(NULL), 0);
    corio_watch_changed_fut_init(NULL, NULL);
    corio_watch_changed_fut f;
    corio_watch_changed_fut_init(&f, NULL);
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, -EINVAL);

    CHECK_EQ(corio_watch_new(8, &v, &tx, &rx), 0);
    CHECK_EQ(corio_watch_send(tx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_send_replace(tx, NULL, &v), -EINVAL);
    CHECK_EQ(corio_watch_get(rx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_get_and_update(rx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_tx_get(tx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_has_changed(rx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_subscribe(tx, NULL), -EINVAL);
    CHECK_EQ(corio_watch_rx_clone(rx, NULL), -EINVAL);
    corio_watch_tx_release(tx);
    corio_watch_rx_release(rx);
}

TEST(watch_values_versions_and_marks)
{
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    uint64_t v = 10;
    CHECK_EQ(corio_watch_new(sizeof v, &v, &tx, &rx), 0);
    /* The initial value is current and seen. */
    CHECK_EQ(get_u64(rx), 10);
    CHECK(!changed_now(rx));
    CHECK_EQ(corio_watch_receiver_count(tx), 1);
    /* A send: changed, until marked; get marks nothing. */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){11}), 0);
    CHECK(changed_now(rx));
    CHECK_EQ(get_u64(rx), 11);
    CHECK(changed_now(rx));
    CHECK_EQ(corio_watch_get_and_update(rx, &v), 0);
    CHECK_EQ(v, 11);
    CHECK(!changed_now(rx));
    /* Only the latest is kept: three sends, one change, the last value. */
    for (uint64_t i = 12; i <= 14; i++)
        CHECK_EQ(corio_watch_send(tx, &i), 0);
    CHECK_EQ(corio_watch_changed(rx), 0); /* at once: unseen */
    CHECK(!changed_now(rx));              /* changed marked it */
    CHECK_EQ(get_u64(rx), 14);
    CHECK_EQ(corio_watch_tx_get(tx, &v), 0);
    CHECK_EQ(v, 14);
    /* Marks by hand. */
    corio_watch_mark_changed(rx);
    CHECK(changed_now(rx));
    CHECK_EQ(corio_watch_changed(rx), 0);
    CHECK(!changed_now(rx));
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){15}), 0);
    corio_watch_mark_unchanged(rx);
    CHECK(!changed_now(rx));
    CHECK_EQ(get_u64(rx), 15);
    corio_watch_tx_release(tx);
    corio_watch_rx_release(rx);
}

TEST(watch_large_values)
{
    enum { SZ = 777 };
    unsigned char a[SZ], b[SZ];
    memset(a, 1, SZ);
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new(SZ, a, &tx, &rx), 0);
    for (int i = 0; i < SZ; i++)
        a[i] = (unsigned char)i;
    CHECK_EQ(corio_watch_send(tx, a), 0);
    CHECK_EQ(corio_watch_get(rx, b), 0);
    CHECK(memcmp(a, b, SZ) == 0);
    corio_watch_tx_release(tx);
    corio_watch_rx_release(rx);
}

TEST(watch_subscribe_and_clone_start_from_their_marks)
{
    corio_watch_tx *tx;
    corio_watch_rx *rx, *sub, *cl;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){1}, &tx, &rx), 0);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){2}), 0);
    /* A subscriber has seen the current value. */
    CHECK_EQ(corio_watch_subscribe(tx, &sub), 0);
    CHECK(!changed_now(sub));
    CHECK_EQ(get_u64(sub), 2);
    /* A clone has seen what its origin had: rx had not seen 2. */
    CHECK_EQ(corio_watch_rx_clone(rx, &cl), 0);
    CHECK(changed_now(cl));
    CHECK_EQ(corio_watch_receiver_count(tx), 3);
    CHECK_EQ(corio_watch_changed(cl), 0);
    CHECK(!changed_now(cl));
    CHECK(changed_now(rx)); /* each receiver its own mark */
    /* A sender clone sends and subscribes too. */
    corio_watch_tx *tx2 = corio_watch_tx_clone(tx);
    CHECK_EQ(corio_watch_send(tx2, &(uint64_t){3}), 0);
    CHECK(changed_now(sub));
    CHECK_EQ(get_u64(cl), 3);
    corio_watch_rx_release(cl);
    corio_watch_rx_release(sub);
    corio_watch_rx_release(rx);
    corio_watch_tx_release(tx2);
    corio_watch_tx_release(tx);
}

TEST(watch_close_reports_last_change_then_closed)
{
    corio_watch_tx *tx, *tx2;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){1}, &tx, &rx), 0);
    tx2 = corio_watch_tx_clone(tx);
    corio_watch_tx_release(tx);
    bool ch = true;
    CHECK_EQ(corio_watch_has_changed(rx, &ch), 0); /* a sender is left */
    CHECK(!ch);
    CHECK_EQ(corio_watch_send(tx2, &(uint64_t){2}), 0);
    corio_watch_tx_release(tx2);
    /* Closed, with a value not seen yet: has_changed says both. */
    CHECK_EQ(corio_watch_has_changed(rx, &ch), CORIO_ECLOSED);
    CHECK(ch);
    CHECK_EQ(corio_watch_changed(rx), 0);
    CHECK_EQ(corio_watch_changed(rx), CORIO_ECLOSED);
    CHECK_EQ(corio_watch_changed(rx), CORIO_ECLOSED);
    CHECK_EQ(corio_watch_has_changed(rx, &ch), CORIO_ECLOSED);
    CHECK(!ch);
    CHECK_EQ(get_u64(rx), 2); /* the value stays readable */
    corio_watch_rx_release(rx);
}

static atomic_int drops;
static uint64_t dropped[32];

static void count_drop(void *msg, void *arg)
{
    uint64_t v;
    memcpy(&v, msg, sizeof v);
    int i = atomic_fetch_add(&drops, 1);
    if (i < 32)
        dropped[i] = v;
}

TEST(watch_send_without_receiver_and_send_replace)
{
    atomic_store(&drops, 0);
    corio_chan_opts o = {.msg_size = sizeof(uint64_t), .drop = count_drop};
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new_with(&o, &(uint64_t){1}, &tx, &rx), 0);
    corio_watch_rx_release(rx);
    CHECK_EQ(corio_watch_receiver_count(tx), 0);
    /* No receiver: not taken, nothing changed, nothing dropped. */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){2}), CORIO_ECLOSED);
    uint64_t v;
    CHECK_EQ(corio_watch_tx_get(tx, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(atomic_load(&drops), 0);
    /* send_replace stores anyway and hands the old value back. */
    CHECK_EQ(corio_watch_send_replace(tx, &(uint64_t){3}, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(atomic_load(&drops), 0);
    /* ... or drops it when not asked for. */
    CHECK_EQ(corio_watch_send_replace(tx, &(uint64_t){4}, NULL), 0);
    CHECK_EQ(atomic_load(&drops), 1);
    CHECK_EQ(dropped[0], 3);
    /* A later subscriber sees it. */
    CHECK_EQ(corio_watch_subscribe(tx, &rx), 0);
    CHECK_EQ(get_u64(rx), 4);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){5}), 0);
    CHECK_EQ(atomic_load(&drops), 2);
    CHECK_EQ(dropped[1], 4);
    corio_watch_tx_release(tx);
    CHECK_EQ(atomic_load(&drops), 2);
    corio_watch_rx_release(rx);
    CHECK_EQ(atomic_load(&drops), 3); /* the last value, at the free */
    CHECK_EQ(dropped[2], 5);
}

TEST(watch_drop_runs_once_per_value)
{
    atomic_store(&drops, 0);
    corio_chan_opts o = {.msg_size = sizeof(uint64_t), .drop = count_drop};
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new_with(&o, &(uint64_t){100}, &tx, &rx), 0);
    for (uint64_t i = 101; i < 110; i++)
        CHECK_EQ(corio_watch_send(tx, &i), 0);
    CHECK_EQ(atomic_load(&drops), 9);
    for (int i = 0; i < 9; i++)
        CHECK_EQ(dropped[i], 100 + i);
    uint64_t v;
    CHECK_EQ(corio_watch_get(rx, &v), 0); /* reads drop nothing */
    corio_watch_rx_release(rx);
    corio_watch_tx_release(tx);
    CHECK_EQ(atomic_load(&drops), 10);
    CHECK_EQ(dropped[9], 109);
}

/* Refcounted values. */
typedef struct obj {
    atomic_int refs;
    uint64_t value;
} obj;

static atomic_int objs_live;

static obj *obj_new(uint64_t v)
{
    obj *o = malloc(sizeof *o);
    CHECK(o != NULL);
    atomic_init(&o->refs, 1);
    o->value = v;
    atomic_fetch_add(&objs_live, 1);
    return o;
}

static void obj_unref(obj *o)
{
    if (atomic_fetch_sub(&o->refs, 1) == 1) {
        o->value = 0xDEADDEAD;
        free(o);
        atomic_fetch_sub(&objs_live, 1);
    }
}

static void obj_clone(void *msg, void *arg)
{
    obj *o;
    memcpy(&o, msg, sizeof o);
    CHECK(atomic_fetch_add(&o->refs, 1) > 0);
}

static void obj_drop(void *msg, void *arg)
{
    obj *o;
    memcpy(&o, msg, sizeof o);
    obj_unref(o);
}

TEST(watch_clone_and_drop_manage_refcounted_values)
{
    atomic_store(&objs_live, 0);
    corio_chan_opts o = {.msg_size = sizeof(obj *), .drop = obj_drop, .clone = obj_clone};
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    obj *first = obj_new(1);
    CHECK_EQ(corio_watch_new_with(&o, &first, &tx, &rx), 0);
    obj *got;
    CHECK_EQ(corio_watch_get(rx, &got), 0);
    CHECK_EQ(atomic_load(&got->refs), 2);
    obj *m = obj_new(2);
    CHECK_EQ(corio_watch_send(tx, &m), 0);
    CHECK_EQ(got->value, 1); /* ours survives the replacement */
    CHECK_EQ(atomic_load(&got->refs), 1);
    obj_unref(got);
    CHECK_EQ(corio_watch_get_and_update(rx, &got), 0);
    CHECK_EQ(got->value, 2);
    obj_unref(got);
    corio_watch_rx_release(rx);
    m = obj_new(3);
    CHECK_EQ(corio_watch_send(tx, &m), CORIO_ECLOSED); /* still ours */
    obj_unref(m);
    corio_watch_tx_release(tx);
    CHECK_EQ(atomic_load(&objs_live), 0);
}

/* ---- waiting -------------------------------------------------------------- */

typedef struct wtask {
    corio_watch_rx *rx;
    int changes;
    uint64_t last;
    int rc;
} wtask;

static int watch_loop(void *arg)
{
    wtask *t = arg;
    for (;;) {
        int rc = corio_watch_changed(t->rx);
        if (rc) {
            t->rc = rc;
            return rc;
        }
        t->changes++;
        CHECK_EQ(corio_watch_get(t->rx, &t->last), 0);
    }
}

static int waiting_main(void *arg)
{
    corio_watch_tx *tx;
    wtask t[3];
    memset(t, 0, sizeof t);
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &t[0].rx), 0);
    CHECK_EQ(corio_watch_subscribe(tx, &t[1].rx), 0);
    CHECK_EQ(corio_watch_rx_clone(t[0].rx, &t[2].rx), 0);
    corio_task *h[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn(watch_loop, &t[i], &h[i]), 0);
    settle();
    for (int i = 0; i < 3; i++)
        CHECK_EQ(t[i].changes, 0); /* all wait: the initial value is seen */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){7}), 0);
    settle();
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(t[i].changes, 1);
        CHECK_EQ(t[i].last, 7);
    }
    /* Two sends before the receivers run: one change, the latest value. */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){8}), 0);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){9}), 0);
    settle();
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(t[i].changes, 2);
        CHECK_EQ(t[i].last, 9);
    }
    corio_watch_tx_release(tx); /* wakes them with CORIO_ECLOSED */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(corio_task_join(h[i], NULL), 0);
        CHECK_EQ(t[i].rc, CORIO_ECLOSED);
        corio_watch_rx_release(t[i].rx);
    }
    return 0;
}

TEST(watch_changed_waits_and_wakes_on_send_and_close)
{
    CHECK_EQ(run_main(waiting_main, NULL), 0);
}

static void *plain_watch_loop(void *arg)
{
    (void)watch_loop(arg);
    return NULL;
}

TEST(watch_changed_blocks_a_plain_thread)
{
    corio_watch_tx *tx;
    wtask t;
    memset(&t, 0, sizeof t);
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &t.rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_watch_loop, &t), 0);
    sleep_ms(20);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){5}), 0);
    sleep_ms(20);
    corio_watch_tx_release(tx);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(t.rc, CORIO_ECLOSED);
    CHECK_EQ(t.changes, 1);
    CHECK_EQ(t.last, 5);
    corio_watch_rx_release(t.rx);
}

static int cancel_main(void *arg)
{
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &rx), 0);
    /* Timed out: nothing marked; the send after it is reported. */
    corio_watch_changed_fut f;
    corio_watch_changed_fut_init(&f, rx);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(3)), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){1}), 0);
    corio_watch_changed_fut_init(&f, rx);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(100)), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK(!changed_now(rx));
    /* A future dropped before its poll marks nothing either. */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){2}), 0);
    corio_watch_changed_fut_init(&f, rx);
    corio_future_drop(&f.base);
    CHECK(changed_now(rx));
    CHECK_EQ(corio_watch_changed(rx), 0);
    /* Aborted while waiting: nothing marked, the change stays. */
    wtask t;
    memset(&t, 0, sizeof t);
    t.rx = rx;
    corio_task *h;
    CHECK_EQ(corio_spawn(watch_loop, &t, &h), 0);
    settle();
    corio_task_abort(h);
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){3}), 0);
    CHECK_EQ(corio_task_join(h, NULL), CORIO_ECANCELED);
    CHECK_EQ(t.changes, 0);
    CHECK(changed_now(rx));
    corio_watch_tx_release(tx);
    CHECK_EQ(corio_watch_changed(rx), 0);
    CHECK_EQ(corio_watch_changed(rx), CORIO_ECLOSED);
    corio_watch_rx_release(rx);
    return 0;
}

static int scoped_changed(void *arg)
{
    return corio_watch_changed(arg);
}

typedef struct sl_fut {
    corio_future base;
    corio_watch_rx *rx;
} sl_fut;

static corio_poll sl_poll(corio_future *f, corio_context *cx)
{
    f->result = corio_watch_changed(((sl_fut *)f)->rx);
    return CORIO_READY;
}

static const corio_future_vtable sl_vt = {sl_poll, NULL};

static int context_main(void *arg)
{
    corio_watch_tx *tx;
    corio_watch_rx *rx;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &rx), 0);
    /* A deadline scope interrupts the wait, marking nothing. */
    int r = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), scoped_changed, rx, &r), CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT);
    /* A stackless task's poll function is refused, even with a change. */
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){1}), 0);
    sl_fut f;
    corio_future_init(&f.base, &sl_vt);
    f.rx = rx;
    corio_task *h;
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &h), 0);
    CHECK_EQ(corio_task_join(h, &r), 0);
    CHECK_EQ(r, CORIO_EWRONGCTX);
    CHECK(changed_now(rx));
    corio_watch_tx_release(tx);
    corio_watch_rx_release(rx);
    return 0;
}

TEST(watch_changed_in_scope_and_poll_function)
{
    CHECK_EQ(run_main(context_main, NULL), 0);
}

TEST(watch_changed_is_cancel_safe)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
}

/* ==== stress ================================================================ */

/* Senders send increasing values (sender id in the top bits); every
 * receiver sees, per sender, values that never go back, and after the
 * close has seen the final value (every sender's last send is followed by
 * a wake it cannot miss). Some receivers bound their waits with short
 * timeouts. */
typedef struct wstress {
    corio_watch_tx *tx;
    unsigned senders;
    uint64_t per_sender;
} wstress;

typedef struct wsrx {
    wstress *s;
    corio_watch_rx *rx;
    int timeouts;
    uint64_t last[8];
    uint64_t seen_last;
    int rc;
} wsrx;

typedef struct wstx {
    wstress *s;
    corio_watch_tx *tx;
    unsigned id;
} wstx;

static int ws_recv(void *arg)
{
    wsrx *r = arg;
    unsigned x = (unsigned)(uintptr_t)r * 2654435761u;
    for (;;) {
        int rc;
        x = x * 1103515245u + 12345u;
        if (r->timeouts && (x >> 16) % 2 == 0) {
            corio_watch_changed_fut f;
            corio_watch_changed_fut_init(&f, r->rx);
            rc = corio_timeout(&f.base, CORIO_USEC((x >> 8) % 100));
            if (rc == CORIO_ETIMEDOUT)
                continue;
            CHECK_EQ(rc, 0);
            rc = f.base.result;
        } else {
            rc = corio_watch_changed(r->rx);
        }
        uint64_t v;
        CHECK_EQ(corio_watch_get(r->rx, &v), 0);
        if (v) {
            unsigned sid = (unsigned)(v >> 40);
            uint64_t seq = v & ((1ull << 40) - 1);
            CHECK(sid < r->s->senders);
            CHECK(seq >= r->last[sid]);
            r->last[sid] = seq;
        }
        r->seen_last = v;
        if (rc) {
            r->rc = rc;
            return 0;
        }
    }
}

static int ws_send(void *arg)
{
    wstx *t = arg;
    for (uint64_t i = 1; i <= t->s->per_sender; i++) {
        uint64_t v = (uint64_t)t->id << 40 | i;
        CHECK_EQ(corio_watch_send(t->tx, &v), 0);
        if (i % 16 == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    corio_watch_tx_release(t->tx);
    return 0;
}

static int ws_main(void *arg)
{
    wstress *s = arg;
    enum { R = 8 };
    wsrx r[R];
    wstx t[8];
    corio_task *hr[R], *ht[8];
    memset(r, 0, sizeof r);
    for (int i = 0; i < R; i++) {
        r[i].s = s;
        r[i].timeouts = i % 2;
        CHECK_EQ(corio_watch_subscribe(s->tx, &r[i].rx), 0);
        CHECK_EQ(corio_spawn(ws_recv, &r[i], &hr[i]), 0);
    }
    for (unsigned i = 0; i < s->senders; i++) {
        t[i].s = s;
        t[i].id = i;
        t[i].tx = corio_watch_tx_clone(s->tx);
        CHECK_EQ(corio_spawn(ws_send, &t[i], &ht[i]), 0);
    }
    corio_watch_tx_release(s->tx);
    for (unsigned i = 0; i < s->senders; i++)
        CHECK_EQ(corio_task_join(ht[i], NULL), 0);
    for (int i = 0; i < R; i++) {
        CHECK_EQ(corio_task_join(hr[i], NULL), 0);
        CHECK_EQ(r[i].rc, CORIO_ECLOSED);
        uint64_t v;
        CHECK_EQ(corio_watch_get(r[i].rx, &v), 0);
        CHECK_EQ(r[i].seen_last, v); /* it saw the final value */
        CHECK_EQ(v & ((1ull << 40) - 1), s->per_sender);
        corio_watch_rx_release(r[i].rx);
    }
    return 0;
}

TEST(watch_stress_senders_receivers_timeouts)
{
    wstress s;
    memset(&s, 0, sizeof s);
    s.senders = 3;
    s.per_sender = SCALE(20000, 5000, 1500);
    corio_watch_rx *first;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &s.tx, &first), 0);
    corio_watch_rx_release(first);
    corio_rt *rt = new_mt_rt(4);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, ws_main, &s, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Close racing a waiting changed, many rounds, from a plain thread. */
static void *close_thread(void *arg)
{
    corio_watch_tx *tx = arg;
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){1}), 0);
    corio_watch_tx_release(tx);
    return NULL;
}

static int close_race_main(void *arg)
{
    int rounds = SCALE(400, 150, 50);
    for (int k = 0; k < rounds; k++) {
        corio_watch_tx *tx;
        wtask t[3];
        memset(t, 0, sizeof t);
        CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &t[0].rx), 0);
        CHECK_EQ(corio_watch_subscribe(tx, &t[1].rx), 0);
        CHECK_EQ(corio_watch_subscribe(tx, &t[2].rx), 0);
        corio_task *h[3];
        for (int i = 0; i < 3; i++)
            CHECK_EQ(corio_spawn(watch_loop, &t[i], &h[i]), 0);
        if (k % 2)
            CHECK_EQ(corio_yield(), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, close_thread, tx), 0);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(corio_task_join(h[i], NULL), 0);
            CHECK_EQ(t[i].rc, CORIO_ECLOSED);
            CHECK_EQ(t[i].changes, 1); /* the send is reported, then the close */
            CHECK_EQ(t[i].last, 1);
        }
        CHECK_EQ(pthread_join(th, NULL), 0);
        for (int i = 0; i < 3; i++)
            corio_watch_rx_release(t[i].rx);
    }
    return 0;
}

TEST(watch_stress_close_races_changed)
{
    corio_rt *rt = new_mt_rt(3);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, close_race_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Aborts racing wakes: receivers aborted at random points while a plain
 * thread sends; no crash, no leak, and a final changed after the close
 * still reports what was not seen. */
typedef struct wabort {
    corio_watch_tx *tx;
    uint64_t n;
} wabort;

static void *wabort_sender(void *arg)
{
    wabort *a = arg;
    for (uint64_t i = 1; i <= a->n; i++) {
        CHECK_EQ(corio_watch_send(a->tx, &i), 0);
        if (i % 8 == 0)
            sched_yield();
    }
    corio_watch_tx_release(a->tx);
    return NULL;
}

static int wabort_main(void *arg)
{
    wabort a;
    a.n = SCALE(20000, 5000, 1500);
    enum { R = 6 };
    wtask t[R];
    memset(t, 0, sizeof t);
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &a.tx, &t[0].rx), 0);
    for (int i = 1; i < R; i++)
        CHECK_EQ(corio_watch_subscribe(a.tx, &t[i].rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wabort_sender, &a), 0);
    unsigned x = 99;
    bool done[R] = {false};
    int left = R;
    while (left) {
        corio_task *h[R];
        for (int i = 0; i < R; i++)
            if (!done[i])
                CHECK_EQ(corio_spawn(watch_loop, &t[i], &h[i]), 0);
        x = x * 1103515245u + 12345u;
        CHECK_EQ(corio_sleep(CORIO_USEC((x >> 8) % 300)), 0);
        for (int i = 0; i < R; i++)
            if (!done[i])
                corio_task_abort(h[i]);
        for (int i = 0; i < R; i++) {
            if (done[i])
                continue;
            int jr = corio_task_join(h[i], NULL);
            if (t[i].rc == CORIO_ECLOSED) {
                CHECK(jr == 0 || jr == CORIO_ECANCELED);
                done[i] = true;
                left--;
                CHECK_EQ(t[i].last, a.n);
            } else {
                CHECK_EQ(jr, CORIO_ECANCELED);
                t[i].rc = 0;
            }
        }
    }
    CHECK_EQ(pthread_join(th, NULL), 0);
    for (int i = 0; i < R; i++)
        corio_watch_rx_release(t[i].rx);
    return 0;
}

TEST(watch_stress_aborts_race_wakes)
{
    corio_rt *rt = new_mt_rt(4);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, wabort_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Refcounted values replaced while readers clone them. */
typedef struct wref {
    corio_watch_tx *tx;
    uint64_t n;
} wref;

static void *wref_sender(void *arg)
{
    wref *c = arg;
    for (uint64_t i = 1; i <= c->n; i++) {
        obj *o = obj_new(i);
        CHECK_EQ(corio_watch_send(c->tx, &o), 0);
    }
    corio_watch_tx_release(c->tx);
    return NULL;
}

static void *wref_reader(void *arg)
{
    corio_watch_rx *rx = arg;
    uint64_t last = 0;
    for (;;) {
        int rc = corio_watch_changed(rx);
        obj *o;
        CHECK_EQ(corio_watch_get(rx, &o), 0);
        CHECK(o->value >= last);
        last = o->value;
        obj_unref(o);
        if (rc) {
            CHECK_EQ(rc, CORIO_ECLOSED);
            return NULL;
        }
    }
}

TEST(watch_stress_refcounted_values_replaced_while_read)
{
    atomic_store(&objs_live, 0);
    wref c;
    c.n = SCALE(50000, 10000, 3000);
    corio_chan_opts o = {.msg_size = sizeof(obj *), .drop = obj_drop, .clone = obj_clone};
    enum { R = 3 };
    corio_watch_rx *rx[R];
    obj *first = obj_new(0);
    CHECK_EQ(corio_watch_new_with(&o, &first, &c.tx, &rx[0]), 0);
    for (int i = 1; i < R; i++)
        CHECK_EQ(corio_watch_subscribe(c.tx, &rx[i]), 0);
    pthread_t th[R + 1];
    for (int i = 0; i < R; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, wref_reader, rx[i]), 0);
    CHECK_EQ(pthread_create(&th[R], NULL, wref_sender, &c), 0);
    for (int i = 0; i <= R; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < R; i++)
        corio_watch_rx_release(rx[i]);
    CHECK_EQ(atomic_load(&objs_live), 0);
}
