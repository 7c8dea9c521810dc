/* tests/test_future_waker.c - wakers (corio/future.h).
 *
 * Covers: the waker operations (clone, drop, wake, wake_by_ref, will_wake,
 * store, noop, the empty waker) checked against a counting waker, a task's
 * own waker (identity, reference counts), waking a task while it runs,
 * waking finished tasks (also after the runtime is gone), and a stress loop
 * of foreign threads waking, cloning and dropping tasks' wakers that fails
 * on a lost wakeup or a use-after-free of a task reached through its
 * wakers. Polling and awaiting futures are in test_future_await.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <corio.h>

#include "core/taskmem.h"
#include "test.h"
#include "util.h"

/* ==== the waker API ======================================================= */

TEST(future_waker_api_semantics)
{
    cw_target a, b;
    corio_waker wa = cw_new(&a);
    corio_waker wb = cw_new(&b);

    /* clone: one clone call, same target */
    corio_waker c = corio_waker_clone(&wa);
    CHECK_EQ(atomic_load(&a.clones), 1);
    CHECK_EQ(atomic_load(&a.refs), 2);
    CHECK(corio_waker_will_wake(&c, &wa));
    CHECK(!corio_waker_will_wake(&c, &wb));
    /* Any NULL vtable is the empty waker, whatever its data. */
    corio_waker none = CORIO_WAKER_NONE, junk = {NULL, &a};
    CHECK(corio_waker_will_wake(&none, &junk));
    CHECK(corio_waker_will_wake(&junk, NULL));
    CHECK(!corio_waker_will_wake(&junk, &wa));

    /* wake_by_ref: the waker stays valid */
    corio_waker_wake_by_ref(&c);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK(c.vtable == &cw_vt);
    CHECK_EQ(atomic_load(&a.refs), 2);

    /* wake: consumes, leaves the empty waker */
    corio_waker_wake(&c);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK(c.vtable == NULL && c.data == NULL);
    CHECK_EQ(atomic_load(&a.refs), 1);
    /* operations on the empty waker do nothing */
    corio_waker_wake(&c);
    corio_waker_wake_by_ref(&c);
    corio_waker_drop(&c);
    corio_waker none_clone = corio_waker_clone(&c);
    CHECK(none_clone.vtable == NULL);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&a.drops), 0);
    CHECK_EQ(atomic_load(&a.clones), 1);

    /* drop: releases without waking */
    corio_waker d = corio_waker_clone(&wa);
    corio_waker_drop(&d);
    CHECK(d.vtable == NULL);
    CHECK_EQ(atomic_load(&a.drops), 1);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK_EQ(atomic_load(&a.refs), 1);

    /* store into the empty slot: one clone */
    corio_waker slotw = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &wa);
    CHECK_EQ(atomic_load(&a.clones), 3);
    CHECK(corio_waker_will_wake(&slotw, &wa));
    /* store of the same target: nothing happens */
    corio_waker_store(&slotw, &wa);
    corio_waker_store(&slotw, &wa);
    CHECK_EQ(atomic_load(&a.clones), 3);
    CHECK_EQ(atomic_load(&a.drops), 1);
    /* store of another target: the old one is dropped, the new one cloned */
    corio_waker_store(&slotw, &wb);
    CHECK_EQ(atomic_load(&a.drops), 2);
    CHECK_EQ(atomic_load(&b.clones), 1);
    CHECK(corio_waker_will_wake(&slotw, &wb));
    CHECK_EQ(atomic_load(&a.refs), 1);
    CHECK_EQ(atomic_load(&b.refs), 2);
    /* store of the empty waker into a full slot empties it */
    corio_waker empty = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &empty);
    CHECK(slotw.vtable == NULL);
    CHECK_EQ(atomic_load(&b.refs), 1);

    /* will_wake of the empty waker with itself */
    corio_waker e2 = CORIO_WAKER_NONE;
    CHECK(corio_waker_will_wake(&empty, &e2));
    CHECK(!corio_waker_will_wake(&empty, &wa));
    /* a NULL pointer is the empty waker (future.h) */
    CHECK(corio_waker_will_wake(NULL, NULL));
    CHECK(corio_waker_will_wake(NULL, &e2));
    CHECK(!corio_waker_will_wake(&wa, NULL));

    corio_waker_drop(&wa);
    corio_waker_drop(&wb);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK_EQ(atomic_load(&b.wakes), 0);
}

TEST(future_waker_noop)
{
    corio_waker n = corio_waker_noop();
    CHECK(n.vtable != NULL);
    corio_waker n2 = corio_waker_noop();
    CHECK(corio_waker_will_wake(&n, &n2));
    corio_waker c = corio_waker_clone(&n);
    CHECK(corio_waker_will_wake(&c, &n));
    corio_waker_wake_by_ref(&c);
    corio_waker_wake(&c);
    CHECK(c.vtable == NULL);
    corio_waker_drop(&n2);
    CHECK(n2.vtable == NULL);
    /* store of a noop waker, twice: the second keeps the first */
    corio_waker slotw = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &n);
    CHECK(corio_waker_will_wake(&slotw, &n));
    corio_waker_store(&slotw, &n);
    corio_waker_drop(&slotw);

    /* polling a future by hand with the noop waker */
    count_fut f;
    count_init(&f, 2, 3);
    corio_context cx = {&n};
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_READY);
    CHECK_EQ(f.base.result, 3);
    corio_waker_drop(&n);
}

/* A task's waker: clones compare equal to the borrowed one it was made from,
 * are distinct from another task's, and many clones/drops leave nothing
 * behind (the leak checker of the ASan build sees the task freed). */
typedef struct grab_fut {
    corio_future base;
    corio_waker *out;
} grab_fut;

static corio_poll grab_poll(corio_future *f, corio_context *cx)
{
    grab_fut *g = (grab_fut *)f;
    *g->out = corio_waker_clone(corio_context_waker(cx));
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable grab_vt = {grab_poll, NULL};

/* The calling task's own waker (a clone). */
static corio_waker my_waker(void)
{
    corio_waker w = CORIO_WAKER_NONE;
    grab_fut g;
    corio_future_init(&g.base, &grab_vt);
    g.out = &w;
    CHECK_EQ(corio_await(&g.base), 0);
    CHECK(w.vtable != NULL);
    return w;
}

static corio_waker other_waker;

static int waker_other_task(void *arg)
{
    other_waker = my_waker();
    return 0;
}

static int waker_identity_main(void *arg)
{
    corio_waker w1 = my_waker();
    corio_waker w2 = my_waker();
    CHECK(corio_waker_will_wake(&w1, &w2));
    corio_task *t;
    CHECK_EQ(corio_spawn(waker_other_task, NULL, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK(!corio_waker_will_wake(&w1, &other_waker));
    corio_waker n = corio_waker_noop();
    CHECK(!corio_waker_will_wake(&w1, &n));
    corio_waker clones[500];
    for (int i = 0; i < 500; i++) {
        clones[i] = corio_waker_clone(&w1);
        CHECK(corio_waker_will_wake(&clones[i], &w1));
    }
    for (int i = 0; i < 500; i++)
        corio_waker_drop(&clones[i]);
    corio_waker_drop(&w2);
    corio_waker_drop(&w1);
    corio_waker_drop(&other_waker); /* the other task is finished: this frees it */
    return 0;
}

/* Many tasks, each cloning and dropping its waker: when every reference is
 * gone, each task's memory is given back. Rounds after the first reuse the
 * first one's memory, so the task allocator reserves nothing more (in the
 * plain build; ASan's leak checker covers the sanitizer builds, where tasks
 * are plain mallocs). */
static int clone_drop_task(void *arg)
{
    corio_waker w = my_waker();
    corio_waker c[8];
    for (int i = 0; i < 8; i++)
        c[i] = corio_waker_clone(&w);
    for (int i = 0; i < 8; i++)
        corio_waker_drop(&c[i]);
    corio_waker_drop(&w);
    return 0;
}

static int waker_refcount_main(void *arg)
{
    size_t reserved_after_first = 0;
    /* The sanitizer builds allocate tasks with malloc (nothing to measure
     * here; their leak checker does it) and make each coroutine costly. */
    int rounds = SCALE(30, 3, 2), per_round = SCALE(2048, 512, 128);
    for (int round = 0; round < rounds; round++) {
        corio_task *ts[64];
        for (int i = 0; i < per_round; i++) {
            CHECK_EQ(corio_spawn(clone_drop_task, NULL, &ts[i % 64]), 0);
            if (i % 64 == 63)
                for (int k = 0; k < 64; k++)
                    CHECK_EQ(corio_task_join(ts[k], NULL), 0);
        }
        if (round == 0)
            reserved_after_first = taskmem_reserved_bytes();
    }
    CHECK_EQ(taskmem_reserved_bytes(), reserved_after_first);
    return 0;
}

TEST(future_task_waker_identity_and_refcount)
{
    int r = -1;
    CHECK_EQ(corio_run(waker_identity_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    /* One thread: every block freed goes back to the list it came from. */
    CHECK_EQ(run_main(waker_refcount_main, NULL), 0);
}

/* A wake while the task runs is not lost: the task is polled again even if
 * the future it then awaits registered nothing. */
typedef struct pending_once_fut {
    corio_future base;
    int polls;
} pending_once_fut;

static corio_poll pending_once_poll(corio_future *f, corio_context *cx)
{
    pending_once_fut *p = (pending_once_fut *)f;
    if (p->polls++ == 0)
        return CORIO_PENDING; /* registers nothing: only an earlier wake helps */
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable pending_once_vt = {pending_once_poll, NULL};

static int wake_while_running_task(void *arg)
{
    corio_waker w = my_waker();
    corio_waker_wake_by_ref(&w); /* while running: only sets NOTIFIED */
    pending_once_fut p;
    corio_future_init(&p.base, &pending_once_vt);
    p.polls = 0;
    CHECK_EQ(corio_await(&p.base), 0);
    CHECK_EQ(p.polls, 2);
    /* the same with a consuming wake */
    corio_waker_wake(&w);
    CHECK(w.vtable == NULL);
    p.polls = 0;
    CHECK_EQ(corio_await(&p.base), 0);
    CHECK_EQ(p.polls, 2);
    return 3;
}

TEST(future_wake_while_running_repolls)
{
    int r = -1;
    CHECK_EQ(corio_run(wake_while_running_task, NULL, &r), 0);
    CHECK_EQ(r, 3);
}

/* ==== waking finished tasks =============================================== */

static int finished_runs;

static int finished_task(void *arg)
{
    corio_waker *out = arg;
    finished_runs++;
    *out = my_waker();
    return 11;
}

typedef struct finished_ctx {
    corio_waker kept[3];
} finished_ctx;

static int finished_main(void *arg)
{
    finished_ctx *fc = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(finished_task, &fc->kept[0], &t), 0);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 11);
    fc->kept[1] = corio_waker_clone(&fc->kept[0]);
    fc->kept[2] = corio_waker_clone(&fc->kept[0]);
    /* wake the finished task, on the runtime's thread */
    corio_waker_wake_by_ref(&fc->kept[0]);
    corio_waker_wake(&fc->kept[1]);
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(finished_runs, 1); /* it did not run again */
    return 0;
}

static void *wake_kept(void *arg)
{
    finished_ctx *fc = arg;
    corio_waker_wake_by_ref(&fc->kept[2]);
    corio_waker_wake(&fc->kept[2]);
    return NULL;
}

TEST(future_wake_finished_task_harmless)
{
    finished_runs = 0;
    finished_ctx fc;
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, finished_main, &fc, &r), 0);
    CHECK_EQ(r, 0);
    /* from a foreign thread while the runtime is not driven */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wake_kept, &fc), 0);
    pthread_join(th, NULL);
    CHECK(fc.kept[2].vtable == NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
    /* and after the runtime is gone: the waker keeps the task alive */
    corio_waker_wake_by_ref(&fc.kept[0]);
    corio_waker_wake(&fc.kept[0]);
    CHECK(fc.kept[0].vtable == NULL);
    CHECK_EQ(finished_runs, 1);
}

/* A waker that outlives its runtime, held by a thread while the runtime shuts
 * down and cancels the task: waking and dropping it afterwards is harmless. */
typedef struct outlive_ctx {
    slot s;
    corio_waker held;
    atomic_int cleanup;
} outlive_ctx;

static int outlive_task(void *arg)
{
    outlive_ctx *oc = arg;
    slot_fut f;
    slot_fut_init(&f, &oc->s);
    CHECK_EQ(corio_await(&f.base), CORIO_ECANCELED);
    atomic_fetch_add(&oc->cleanup, 1);
    return 0;
}

static int outlive_main(void *arg)
{
    outlive_ctx *oc = arg;
    for (int i = 0; !slot_has_waker(&oc->s); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(future_waker_outlives_runtime)
{
    outlive_ctx oc;
    slot_init(&oc.s);
    atomic_init(&oc.cleanup, 0);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_with(&o, outlive_task, &oc, NULL), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, outlive_main, &oc, &r), 0); /* lets the task start */
    pthread_mutex_lock(&oc.s.mu);
    CHECK(oc.s.waker.vtable != NULL);
    oc.held = corio_waker_clone(&oc.s.waker);
    pthread_mutex_unlock(&oc.s.mu);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(atomic_load(&oc.cleanup), 1);
    CHECK_EQ(oc.s.drops, 1); /* the cancelled await dropped the future */
    corio_waker_wake_by_ref(&oc.held);
    corio_waker_wake(&oc.held);
    slot_destroy(&oc.s);
}

/* ==== stress ============================================================== */

/* Tasks waiting, over and over, for a generation counter to move; foreign
 * threads bump generations and wake, clone, drop and keep clones of the
 * tasks' wakers in tight loops. A lost wakeup hangs (test timeout); a bad
 * reference count shows under ASan/TSan or as a crash. */
enum { WS_TASKS = 8, WS_THREADS = 4, WS_KEEP = 4 };

typedef struct ws_slot {
    pthread_mutex_t mu;
    corio_waker waker;
    unsigned gen;
    int waits; /* PENDING polls */
} ws_slot;

typedef struct ws_fut {
    corio_future base;
    ws_slot *s;
    unsigned seen;
} ws_fut;

static corio_poll ws_poll(corio_future *f, corio_context *cx)
{
    ws_fut *w = (ws_fut *)f;
    pthread_mutex_lock(&w->s->mu);
    if (w->s->gen != w->seen) {
        f->result = (int)(w->s->gen - w->seen);
        corio_waker_drop(&w->s->waker);
        pthread_mutex_unlock(&w->s->mu);
        return CORIO_READY;
    }
    w->s->waits++;
    corio_waker_store(&w->s->waker, corio_context_waker(cx));
    pthread_mutex_unlock(&w->s->mu);
    return CORIO_PENDING;
}

static void ws_drop(corio_future *f)
{
    ws_fut *w = (ws_fut *)f;
    pthread_mutex_lock(&w->s->mu);
    corio_waker_drop(&w->s->waker);
    pthread_mutex_unlock(&w->s->mu);
}

static const corio_future_vtable ws_vt = {ws_poll, ws_drop};

typedef struct ws_shared {
    ws_slot slots[WS_TASKS];
    atomic_int stop_tasks;   /* tasks return once they see it */
    atomic_int stop_threads; /* threads leave their loop */
    atomic_long wakes_done;
    long rounds[WS_TASKS];
} ws_shared;

typedef struct ws_task_arg {
    ws_shared *sh;
    int idx;
} ws_task_arg;

static int ws_task(void *arg)
{
    ws_task_arg *a = arg;
    ws_slot *s = &a->sh->slots[a->idx];
    unsigned seen = 0;
    long rounds = 0;
    while (!atomic_load(&a->sh->stop_tasks)) {
        ws_fut f;
        corio_future_init(&f.base, &ws_vt);
        f.s = s;
        f.seen = seen;
        CHECK_EQ(corio_await(&f.base), 0);
        int r = f.base.result; /* generations moved since the last round */
        CHECK(r > 0);
        seen += (unsigned)r;
        rounds++;
    }
    a->sh->rounds[a->idx] = rounds;
    return 0;
}

typedef struct ws_thread_arg {
    ws_shared *sh;
    unsigned seed;
} ws_thread_arg;

static unsigned xorshift(unsigned *s)
{
    unsigned x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void *ws_thread(void *arg)
{
    ws_thread_arg *ta = arg;
    ws_shared *sh = ta->sh;
    unsigned seed = ta->seed;
    corio_waker keep[WS_KEEP];
    for (int i = 0; i < WS_KEEP; i++)
        keep[i] = CORIO_WAKER_NONE;
    long n = 0;
    while (!atomic_load(&sh->stop_threads)) {
        unsigned r = xorshift(&seed);
        ws_slot *s = &sh->slots[r % WS_TASKS];
        pthread_mutex_lock(&s->mu);
        bool bump = (r >> 8) % 4 != 0;
        if (bump)
            s->gen++;
        corio_waker c = corio_waker_clone(&s->waker);
        pthread_mutex_unlock(&s->mu);
        switch ((r >> 12) % 5) {
        case 0:
            corio_waker_wake(&c);
            break;
        case 1:
            corio_waker_wake_by_ref(&c);
            corio_waker_drop(&c);
            break;
        case 2: { /* keep it for later: it may outlive the task */
            corio_waker *k = &keep[(r >> 16) % WS_KEEP];
            corio_waker_wake_by_ref(&c);
            corio_waker_wake(k);
            *k = c;
            break;
        }
        case 3: {
            corio_waker c2 = corio_waker_clone(&c);
            corio_waker_drop(&c);
            corio_waker_wake_by_ref(&c2);
            corio_waker_wake(&c2);
            break;
        }
        default:
            corio_waker_drop(&c); /* a clone dropped without waking */
            if (bump) {           /* ... so wake through the slot itself */
                pthread_mutex_lock(&s->mu);
                corio_waker_wake_by_ref(&s->waker);
                pthread_mutex_unlock(&s->mu);
            }
            break;
        }
        n++;
    }
    /* The tasks are finished by now: the kept wakers wake finished tasks. */
    for (int i = 0; i < WS_KEEP; i++) {
        corio_waker_wake_by_ref(&keep[i]);
        corio_waker_wake(&keep[i]);
    }
    atomic_fetch_add(&sh->wakes_done, n);
    return NULL;
}

static int ws_main(void *arg)
{
    ws_shared *sh = arg;
    ws_task_arg ta[WS_TASKS];
    corio_task *ts[WS_TASKS];
    for (int i = 0; i < WS_TASKS; i++) {
        ta[i] = (ws_task_arg){sh, i};
        CHECK_EQ(corio_spawn(ws_task, &ta[i], &ts[i]), 0);
        CHECK(ts[i] != NULL);
    }
    CHECK_EQ(corio_sleep(CORIO_MSEC(UNDER_SAN ? 800 : 1200)), 0);
    atomic_store(&sh->stop_tasks, 1);
    /* Final wake of every slot, so each task sees the stop flag. */
    for (int i = 0; i < WS_TASKS; i++) {
        ws_slot *s = &sh->slots[i];
        pthread_mutex_lock(&s->mu);
        s->gen++;
        corio_waker w = s->waker;
        s->waker = CORIO_WAKER_NONE;
        pthread_mutex_unlock(&s->mu);
        corio_waker_wake(&w);
    }
    for (int i = 0; i < WS_TASKS; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    return 0;
}

TEST(future_stress_foreign_waker_traffic)
{
    ws_shared *sh = calloc(1, sizeof *sh);
    CHECK(sh != NULL);
    for (int i = 0; i < WS_TASKS; i++) {
        pthread_mutex_init(&sh->slots[i].mu, NULL);
        sh->slots[i].waker = CORIO_WAKER_NONE;
    }
    pthread_t th[WS_THREADS];
    ws_thread_arg targ[WS_THREADS];
    for (int i = 0; i < WS_THREADS; i++) {
        targ[i] = (ws_thread_arg){sh, 0x9e3779b9u * (unsigned)(i + 1)};
        CHECK_EQ(pthread_create(&th[i], NULL, ws_thread, &targ[i]), 0);
    }
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, ws_main, sh, &r), 0);
    CHECK_EQ(r, 0);
    /* The threads keep going against finished tasks for a moment, while the
     * runtime is still alive and then after it is gone. */
    sleep_ms(20);
    CHECK_EQ(corio_rt_free(rt), 0);
    sleep_ms(20);
    atomic_store(&sh->stop_threads, 1);
    for (int i = 0; i < WS_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&sh->wakes_done) > 1000);
    for (int i = 0; i < WS_TASKS; i++) {
        CHECK(sh->rounds[i] > 10); /* every task made progress */
        corio_waker_drop(&sh->slots[i].waker);
        pthread_mutex_destroy(&sh->slots[i].mu);
    }
    free(sh);
}
