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
 * checks, plain threads, and cancel safety (timeout, abort). The stress
 * tests are in test_sync_watch_stress.c.
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
    CHECK(tx == NULL && rx == NULL); /* failures set them to NULL */
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
