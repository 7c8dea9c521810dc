/* tests/test_task.c - tasks (corio/task.h): spawning, join handles,
 * cancellation, yielding.
 *
 * Covers: coroutine and stackless spawn with join results, detached tasks,
 * spawn options (name, stack size) and the task's identity (id, name, spawn
 * site, current id), is_finished, release; abort while sleeping, while
 * awaiting a custom future, after completion, before the first run, from
 * another pthread, of itself, of stackless tasks (before and after their
 * first poll); sticky cancellation; a joiner that is itself cancelled;
 * corio_yield_now fairness and its context rules; join from plain code on
 * another pthread, join inside tasks, corio_join_fut under corio_timeout; and
 * stress loops racing abort against completion from another thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* Inside a task: let others run until the slot has a waiter. */
static void task_wait_waker(slot *s)
{
    for (int i = 0; !slot_has_waker(s); i++) {
        CHECK(i < 100000);
        CHECK_EQ(corio_yield_now(), 0);
        if (i > 100)
            CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
}

static int nothing_main(void *arg)
{
    return 0;
}

/* ==== spawn and join ====================================================== */

static int add_ten(void *arg)
{
    int *x = arg;
    CHECK_EQ(corio_yield_now(), 0);
    return *x + 10;
}

static int spawn_join_main(void *arg)
{
    int x = 5;
    corio_task *t = corio_spawn(add_ten, &x);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 15);
    /* NULL result pointer is fine */
    t = corio_spawn(add_ten, &x);
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    /* a negative result is a result like any other */
    x = -30;
    t = corio_spawn(add_ten, &x);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, -20);
    return 1;
}

TEST(task_spawn_join_returns_result)
{
    CHECK_EQ(corio_run(spawn_join_main, NULL), 1);
}

static int stackless_main(void *arg)
{
    count_fut f;
    count_init(&f, 3, 99);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 99);
    CHECK_EQ(f.pending_left, 3); /* the task polled its own copy */
    return 0;
}

TEST(task_spawn_future_stackless_result)
{
    CHECK_EQ(corio_run(stackless_main, NULL), 0);
}

/* Stackless futures of many sizes are copied whole into the task, 16-byte
 * aligned, and polled in place there. */
typedef struct big_fut {
    corio_future base;
    size_t size;
    int polls;
    unsigned char data[]; /* size - sizeof(big_fut) bytes of pattern */
} big_fut;

static corio_poll big_poll(corio_future *f, corio_context *cx)
{
    big_fut *b = (big_fut *)f;
    CHECK_EQ((uintptr_t)f % 16, 0);
    size_t n = b->size - sizeof(big_fut);
    for (size_t i = 0; i < n; i++)
        if (b->data[i] != (unsigned char)(i * 7 + 1))
            test_failf(__FILE__, __LINE__, "byte %zu of %zu not copied", i, b->size);
    if (b->polls++ < 2) {
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = (int)(b->size & 0x7fffffff);
    return CORIO_READY;
}
static const corio_future_vtable big_vt = {big_poll, NULL};

static int spawn_sized(size_t size)
{
    big_fut *b = malloc(size);
    CHECK(b != NULL);
    corio_future_init(&b->base, &big_vt);
    b->size = size;
    b->polls = 0;
    for (size_t i = 0; i < size - sizeof(big_fut); i++)
        b->data[i] = (unsigned char)(i * 7 + 1);
    corio_task *t = NULL;
    int rc = corio_spawn_future(&t, &b->base, size);
    memset(b, 0, size); /* the task has its own copy */
    free(b);
    if (rc < 0)
        return rc;
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, (int)size);
    return 0;
}

static int sizes_main(void *arg)
{
    static const size_t sizes[] = {sizeof(big_fut), sizeof(big_fut) + 1, 100, 500, 513,
                                   4096, 65536 + 3, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CHECK_EQ(spawn_sized(sizes[i]), 0);
    return 0;
}

TEST(task_spawn_future_sizes_copied_whole)
{
    CHECK_EQ(corio_run(sizes_main, NULL), 0);
}

/* task.h documents no size limit for a stackless future (failures are
 * -ENOMEM, CORIO_ESHUTDOWN, CORIO_EWRONGCTX): a future with a 2 MiB buffer in
 * its state must spawn and run. */
static int huge_main(void *arg)
{
    int rc = spawn_sized(2u << 20);
    if (rc != 0)
        test_failf(__FILE__, __LINE__, "spawning a 2 MiB stackless future: %s (%d)",
                   corio_err_name(rc), rc);
    return 0;
}

TEST(task_spawn_future_huge_state)
{
    CHECK_EQ(corio_run(huge_main, NULL), 0);
}

/* A stackless future that spawns a coroutine from its poll and waits for it
 * by polling a corio_join_fut inline (futures composed by hand). */
typedef struct parent_fut {
    corio_future base;
    corio_task *child;
    corio_join_fut jf;
    int polls;
} parent_fut;

static int child_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    return 64;
}

static corio_poll parent_poll(corio_future *f, corio_context *cx)
{
    parent_fut *p = (parent_fut *)f;
    p->polls++;
    if (!p->child) {
        p->child = corio_spawn(child_fn, NULL);
        CHECK(p->child != NULL);
        corio_join_fut_init(&p->jf, p->child);
    }
    if (corio_future_poll(&p->jf.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    CHECK_EQ(p->jf.base.result, 0);
    corio_task_release(p->child);
    f->result = p->jf.value + 1;
    return CORIO_READY;
}
static const corio_future_vtable parent_vt = {parent_poll, NULL};

static int parent_main(void *arg)
{
    parent_fut p;
    memset(&p, 0, sizeof p);
    corio_future_init(&p.base, &parent_vt);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&t, &p.base, sizeof p), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 65);
    return 0;
}

TEST(task_stackless_spawns_and_polls_join_fut)
{
    CHECK_EQ(corio_run(parent_main, NULL), 0);
}

static int spawn_bad_args_main(void *arg)
{
    corio_task *t = (corio_task *)0x1;
    CHECK(corio_spawn_with(&t, NULL, NULL, NULL) < 0); /* no function */
    corio_future bad = {NULL, 0};
    CHECK(corio_spawn_future(&t, &bad, sizeof bad) < 0); /* no vtable */
    count_fut f;
    count_init(&f, 0, 0);
    CHECK(corio_spawn_future(&t, &f.base, 1) < 0); /* smaller than a future */
    return 0;
}

TEST(task_spawn_invalid_arguments)
{
    CHECK_EQ(corio_run(spawn_bad_args_main, NULL), 0);
}

TEST(task_spawn_from_plain_code_without_runtime_is_wrongctx)
{
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&t, NULL, add_ten, NULL), CORIO_EWRONGCTX);
    CHECK(t == NULL);
    CHECK(corio_spawn(add_ten, NULL) == NULL);
    CHECK_EQ(corio_spawn_detached(add_ten, NULL), CORIO_EWRONGCTX);
    count_fut f;
    count_init(&f, 0, 0);
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), CORIO_EWRONGCTX);
    CHECK_EQ(corio_current_task_id(), 0);
    CHECK(!corio_is_cancelled());
}

static atomic_int detached_done;

static int detached_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    atomic_fetch_add(&detached_done, 1);
    return 0;
}

typedef struct flag_fut {
    corio_future base;
    int *counter;
} flag_fut;

static corio_poll flag_poll(corio_future *f, corio_context *cx)
{
    flag_fut *ff = (flag_fut *)f;
    (*ff->counter)++;
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable flag_vt = {flag_poll, NULL};

static int detached_main(void *arg)
{
    int *stackless_runs = arg;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn_detached(detached_fn, NULL), 0);
    flag_fut ff;
    corio_future_init(&ff.base, &flag_vt);
    ff.counter = stackless_runs;
    CHECK_EQ(corio_spawn_future(NULL, &ff.base, sizeof ff), 0);
    for (int i = 0; atomic_load(&detached_done) < 10; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_detached_spawns_run)
{
    atomic_store(&detached_done, 0);
    int stackless_runs = 0;
    CHECK_EQ(corio_run(detached_main, &stackless_runs), 0);
    CHECK_EQ(atomic_load(&detached_done), 10);
    CHECK_EQ(stackless_runs, 1);
}

/* Released handles: the task goes on, detached, and completes. */
static int release_main(void *arg)
{
    for (int i = 0; i < 5; i++) {
        corio_task *t = corio_spawn(detached_fn, NULL);
        CHECK(t != NULL);
        corio_task_release(t);
    }
    /* release after the task has finished */
    int x = 1;
    corio_task *t = corio_spawn(add_ten, &x);
    while (!corio_task_is_finished(t))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    corio_task_release(t);
    corio_task_release(NULL); /* harmless */
    for (int i = 0; atomic_load(&detached_done) < 5; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_release_handle_task_goes_on)
{
    atomic_store(&detached_done, 0);
    CHECK_EQ(corio_run(release_main, NULL), 0);
    CHECK_EQ(atomic_load(&detached_done), 5);
}

/* ==== identity: ids, names, sites ========================================= */

typedef struct ident {
    uint64_t seen_id;
    size_t big;
} ident;

static int ident_fn(void *arg)
{
    ident *id = arg;
    id->seen_id = corio_current_task_id();
    if (id->big) {
        /* Use more stack than the default would give: only a bigger stack
         * (corio_spawn_opts.stack_size) makes this work. */
        volatile char *buf = __builtin_alloca(id->big);
        for (size_t i = 0; i < id->big; i += 1024)
            buf[i] = (char)i;
        CHECK_EQ(corio_yield_now(), 0);
        for (size_t i = 0; i < id->big; i += 1024)
            CHECK_EQ(buf[i], (char)i);
    }
    return 0;
}

static int spawn_line; /* the line of the corio_spawn_with below */

static int ident_main(void *arg)
{
    uint64_t main_id = corio_current_task_id();
    CHECK(main_id != 0);
    char name[32];
    strcpy(name, "worker-7");
    ident a = {0, 0}, b = {0, 0}, c = {0, 0};
    corio_spawn_opts o = {.name = name, .stack_size = 64 * 1024};
    corio_task *ta = NULL;
    spawn_line = __LINE__ + 1;
    CHECK_EQ(corio_spawn_with(&ta, &o, ident_fn, &a), 0);
    strcpy(name, "clobbered"); /* the name was copied */
    corio_task *tb = corio_spawn(ident_fn, &b);
    int line_b = __LINE__ - 1;
    /* 1 MiB stack, 600 KiB of it in use: more than the 256 KiB default */
    c.big = 600 * 1024;
    corio_spawn_opts big = {.stack_size = 1024 * 1024};
    corio_task *tc = NULL;
    CHECK_EQ(corio_spawn_with(&tc, &big, ident_fn, &c), 0);

    CHECK(ta && tb && tc);
    CHECK(strcmp(corio_task_name(ta), "worker-7") == 0);
    CHECK(corio_task_name(tb) == NULL);
    const corio_spawn_site *sa = corio_task_site(ta), *sb = corio_task_site(tb);
    CHECK(sa && sb);
    CHECK(strstr(sa->file, "test_task.c") != NULL);
    CHECK_EQ(sa->line, spawn_line);
    CHECK(strcmp(sa->func, "ident_main") == 0);
    CHECK(strstr(sb->file, "test_task.c") != NULL);
    CHECK_EQ(sb->line, line_b);
    uint64_t ia = corio_task_id(ta), ib = corio_task_id(tb), ic = corio_task_id(tc);
    CHECK(ia != 0 && ib != 0 && ic != 0);
    CHECK(ia != ib && ib != ic && ia != ic);
    CHECK(ia != main_id && ib != main_id && ic != main_id);
    CHECK_EQ(corio_task_join(ta, NULL), 0);
    CHECK_EQ(corio_task_join(tb, NULL), 0);
    CHECK_EQ(corio_task_join(tc, NULL), 0);
    CHECK_EQ(a.seen_id, ia); /* corio_current_task_id inside == the handle's id */
    CHECK_EQ(b.seen_id, ib);
    CHECK_EQ(c.seen_id, ic);
    CHECK_EQ(corio_current_task_id(), main_id);
    return 0;
}

TEST(task_identity_name_site_ids)
{
    CHECK_EQ(corio_current_task_id(), 0);
    CHECK_EQ(corio_run(ident_main, NULL), 0);
    CHECK_EQ(corio_current_task_id(), 0);
}

/* Name and site stay readable through the handle after the task finished,
 * and after its runtime is gone. */
TEST(task_name_outlives_task_and_runtime)
{
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt, .name = "short-lived"};
    corio_task *t = NULL, *u = NULL;
    int x = 0;
    CHECK_EQ(corio_spawn_with(&t, &o, add_ten, &x), 0);
    int line = __LINE__ - 1;
    o.name = "never-ran";
    count_fut f;
    count_init(&f, 1000000, 0); /* never finishes on its own */
    CHECK_EQ(corio_spawn_future_at(&u, &o, &f.base, sizeof f, CORIO_HERE), 0);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, NULL), 0);
    }
    CHECK(strcmp(corio_task_name(t), "short-lived") == 0);
    CHECK_EQ(corio_task_site(t)->line, line);
    corio_rt_free(rt);
    CHECK(strcmp(corio_task_name(t), "short-lived") == 0);
    CHECK(strcmp(corio_task_name(u), "never-ran") == 0);
    CHECK(strstr(corio_task_site(u)->file, "test_task.c") != NULL);
    CHECK(corio_task_id(t) != corio_task_id(u));
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 10);
    CHECK_EQ(corio_task_join(u, &r), CORIO_ECANCELED);
}

/* Ids stay unique across many tasks and runtimes. */
static int id_collect(void *arg)
{
    return 0;
}

static int ids_main(void *arg)
{
    enum { N = 300 };
    uint64_t *ids = arg;
    for (int i = 0; i < N; i++) {
        corio_task *t = corio_spawn(id_collect, NULL);
        CHECK(t != NULL);
        ids[i] = corio_task_id(t);
        CHECK_EQ(corio_task_join(t, NULL), 0); /* memory is reused, ids are not */
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(task_ids_unique)
{
    uint64_t ids[600];
    CHECK_EQ(corio_run(ids_main, ids), 0);
    CHECK_EQ(corio_run(ids_main, ids + 300), 0);
    qsort(ids, 600, sizeof ids[0], cmp_u64);
    CHECK(ids[0] != 0);
    for (int i = 1; i < 600; i++)
        CHECK(ids[i] != ids[i - 1]);
}

static int finished_main(void *arg)
{
    slot s;
    slot_init(&s);
    slot_fut f;
    slot_fut_init(&f, &s);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    CHECK(!corio_task_is_finished(t)); /* not run yet */
    task_wait_waker(&s);
    CHECK(!corio_task_is_finished(t)); /* pending */
    slot_complete(&s, 4);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_yield_now(), 0);
    }
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 4);
    slot_destroy(&s);
    return 0;
}

TEST(task_is_finished_before_after)
{
    CHECK_EQ(corio_run(finished_main, NULL), 0);
}

/* ==== abort =============================================================== */

typedef struct sleeper_ctx {
    int sleep_rc;
    int cleanup;
    bool cancelled_seen;
    corio_instant t0, t1;
} sleeper_ctx;

static int long_sleeper(void *arg)
{
    sleeper_ctx *sc = arg;
    sc->t0 = corio_now();
    sc->sleep_rc = corio_sleep(CORIO_SEC(10));
    sc->t1 = corio_now();
    sc->cancelled_seen = corio_is_cancelled();
    sc->cleanup++; /* cleanup code after the cancelled await runs */
    return 77;
}

static int abort_sleep_main(void *arg)
{
    sleeper_ctx *sc = arg;
    corio_task *t = corio_spawn(long_sleeper, sc);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0); /* it is asleep now */
    CHECK(!corio_task_is_finished(t));
    CHECK(!corio_is_cancelled());
    corio_task_abort(t);
    corio_task_abort(t); /* twice is harmless */
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 77);
    CHECK(!corio_is_cancelled()); /* the joiner is not the cancelled one */
    return 0;
}

TEST(task_abort_while_sleeping)
{
    sleeper_ctx sc;
    memset(&sc, 0, sizeof sc);
    CHECK_EQ(corio_run(abort_sleep_main, &sc), 0);
    CHECK_EQ(sc.sleep_rc, CORIO_ECANCELED);
    CHECK_EQ(sc.cleanup, 1);
    CHECK(sc.cancelled_seen);
    CHECK(sc.t1 - sc.t0 < (corio_instant)CORIO_SEC(2)); /* woke at once, not after 10 s */
}

typedef struct custom_ctx {
    slot s;
    int await_rc;
    int cleanup;
} custom_ctx;

static int custom_waiter(void *arg)
{
    custom_ctx *cc = arg;
    slot_fut f;
    slot_fut_init(&f, &cc->s);
    cc->await_rc = corio_await(&f.base);
    cc->cleanup++;
    return 5;
}

static int abort_custom_main(void *arg)
{
    custom_ctx *cc = arg;
    corio_task *t = corio_spawn(custom_waiter, cc);
    task_wait_waker(&cc->s);
    CHECK_EQ(slot_drops(&cc->s), 0);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 5);
    CHECK_EQ(slot_drops(&cc->s), 1);
    return 0;
}

TEST(task_abort_while_awaiting_custom_future_drops_once)
{
    custom_ctx cc;
    memset(&cc, 0, sizeof cc);
    slot_init(&cc.s);
    CHECK_EQ(corio_run(abort_custom_main, &cc), 0);
    CHECK_EQ(cc.await_rc, CORIO_ECANCELED);
    CHECK_EQ(cc.cleanup, 1);
    CHECK_EQ(cc.s.drops, 1);
    CHECK_EQ(cc.s.polls, 1);          /* never polled after the abort */
    CHECK(cc.s.waker.vtable == NULL); /* the drop released the waker */
    slot_destroy(&cc.s);
}

static int quick_fn(void *arg)
{
    return 21;
}

static int abort_after_main(void *arg)
{
    corio_task *t = corio_spawn(quick_fn, NULL);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_yield_now(), 0);
    }
    corio_task_abort(t);
    CHECK(corio_task_is_finished(t));
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 21);
    /* the same for a stackless task */
    count_fut f;
    count_init(&f, 1, 8);
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_yield_now(), 0);
    }
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 8);
    return 0;
}

TEST(task_abort_after_completion_harmless)
{
    CHECK_EQ(corio_run(abort_after_main, NULL), 0);
}

typedef struct early_ctx {
    int ran;
    int first_rc;
    int second_rc;
} early_ctx;

static int early_fn(void *arg)
{
    early_ctx *ec = arg;
    ec->ran++;
    ec->first_rc = corio_yield_now();
    ec->second_rc = corio_sleep(CORIO_MSEC(1));
    return 33;
}

static int abort_early_main(void *arg)
{
    early_ctx *ec = arg;
    corio_task *t = corio_spawn(early_fn, ec);
    corio_task_abort(t); /* before it ever ran */
    CHECK_EQ(ec->ran, 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 33);
    return 0;
}

TEST(task_abort_before_first_run_still_runs)
{
    early_ctx ec = {0, 1, 1};
    CHECK_EQ(corio_run(abort_early_main, &ec), 0);
    CHECK_EQ(ec.ran, 1); /* the function runs, so its cleanup owns arg */
    CHECK_EQ(ec.first_rc, CORIO_ECANCELED);
    CHECK_EQ(ec.second_rc, CORIO_ECANCELED);
}

/* The same from plain code: spawned onto a runtime nobody drives yet,
 * aborted, then the runtime is driven. */

TEST(task_abort_before_first_run_from_plain_code)
{
    early_ctx ec = {0, 1, 1};
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&t, &o, early_fn, &ec), 0);
    corio_task_abort(t);
    CHECK(!corio_task_is_finished(t));
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    }
    CHECK_EQ(ec.ran, 1);
    CHECK_EQ(ec.first_rc, CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 33);
    corio_rt_free(rt);
}

/* Sticky: every await, yield, sleep, timeout and join after the abort returns
 * CORIO_ECANCELED at once, and futures handed to await are dropped unpolled. */
typedef struct sticky_ctx {
    slot s;          /* awaited when the abort comes */
    slot later[3];   /* awaited after it */
    int rcs[16];
    int n;
    int other_done;
    corio_task *other;
} sticky_ctx;

static int other_fn(void *arg)
{
    sticky_ctx *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    sc->other_done = 1;
    return 0;
}

static int sticky_fn(void *arg)
{
    sticky_ctx *sc = arg;
    slot_fut f;
    slot_fut_init(&f, &sc->s);
    sc->rcs[sc->n++] = corio_await(&f.base);
    corio_instant t0 = corio_now();
    for (int i = 0; i < 3; i++) {
        slot_fut g;
        slot_fut_init(&g, &sc->later[i]);
        sc->rcs[sc->n++] = corio_await(&g.base);
        sc->rcs[sc->n++] = corio_yield_now();
        sc->rcs[sc->n++] = corio_sleep(CORIO_SEC(5));
    }
    corio_sleep_fut sl;
    corio_sleep_fut_init(&sl, CORIO_SEC(5));
    sc->rcs[sc->n++] = corio_timeout(&sl.base, CORIO_SEC(5));
    sc->rcs[sc->n++] = corio_task_join(sc->other, NULL); /* handle given back */
    CHECK(corio_is_cancelled());
    CHECK(corio_now() - t0 < (corio_instant)CORIO_SEC(1));
    return -1;
}

static int sticky_main(void *arg)
{
    sticky_ctx *sc = arg;
    sc->other = corio_spawn(other_fn, sc);
    corio_task *t = corio_spawn(sticky_fn, sc);
    task_wait_waker(&sc->s);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, -1);
    /* the task whose join was cut short goes on, detached */
    for (int i = 0; !sc->other_done; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_cancellation_is_sticky)
{
    sticky_ctx sc;
    memset(&sc, 0, sizeof sc);
    slot_init(&sc.s);
    for (int i = 0; i < 3; i++)
        slot_init(&sc.later[i]);
    CHECK_EQ(corio_run(sticky_main, &sc), 0);
    CHECK_EQ(sc.n, 12);
    for (int i = 0; i < sc.n; i++)
        CHECK_EQ(sc.rcs[i], CORIO_ECANCELED);
    CHECK_EQ(sc.s.drops, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(sc.later[i].polls, 0); /* dropped without a poll */
        CHECK_EQ(sc.later[i].drops, 1);
        slot_destroy(&sc.later[i]);
    }
    CHECK_EQ(sc.other_done, 1);
    slot_destroy(&sc.s);
}

/* A task aborting itself through its own handle. */
typedef struct self_ctx {
    corio_task *me;
    int rc_yield, rc_sleep;
    bool before, after;
} self_ctx;

static int self_abort_fn(void *arg)
{
    self_ctx *sc = arg;
    sc->before = corio_is_cancelled();
    corio_task_abort(sc->me);
    sc->after = corio_is_cancelled();
    sc->rc_yield = corio_yield_now();
    sc->rc_sleep = corio_sleep(CORIO_MSEC(1));
    return 2;
}

static int self_abort_main(void *arg)
{
    self_ctx *sc = arg;
    sc->me = corio_spawn(self_abort_fn, sc); /* it runs only once we wait */
    int r = 0;
    CHECK_EQ(corio_task_join(sc->me, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 2);
    return 0;
}

TEST(task_abort_self)
{
    self_ctx sc;
    memset(&sc, 0, sizeof sc);
    CHECK_EQ(corio_run(self_abort_main, &sc), 0);
    CHECK(!sc.before);
    CHECK(sc.after);
    CHECK_EQ(sc.rc_yield, CORIO_ECANCELED);
    CHECK_EQ(sc.rc_sleep, CORIO_ECANCELED);
}

/* Stackless tasks: abort calls the future's drop (once), the task is never
 * polled again, and the joiner learns it was cancelled. */
static int abort_stackless_main(void *arg)
{
    slot *s = arg;
    slot_fut f;
    slot_fut_init(&f, &s[0]);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    task_wait_waker(&s[0]);
    CHECK_EQ(slot_polls(&s[0]), 1);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    CHECK_EQ(slot_drops(&s[0]), 1);
    /* completing it afterwards must not poll it again */
    slot_complete(&s[0], 1);

    /* aborted before its first poll: dropped, never polled */
    slot_fut_init(&f, &s[1]);
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    CHECK_EQ(slot_polls(&s[1]), 0);
    CHECK_EQ(slot_drops(&s[1]), 1);

    /* a join_fut on it says the same */
    slot_fut_init(&f, &s[2]);
    CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
    task_wait_waker(&s[2]);
    corio_task_abort(t);
    corio_join_fut jf;
    corio_join_fut_init(&jf, t);
    CHECK_EQ(corio_await(&jf.base), CORIO_ECANCELED);
    CHECK_EQ(jf.value, CORIO_ECANCELED);
    corio_task_release(t);
    CHECK_EQ(slot_drops(&s[2]), 1);
    return 0;
}

TEST(task_abort_stackless_calls_drop)
{
    slot s[3];
    for (int i = 0; i < 3; i++)
        slot_init(&s[i]);
    CHECK_EQ(corio_run(abort_stackless_main, s), 0);
    CHECK_EQ(s[0].polls, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(s[i].drops, 1);
        slot_destroy(&s[i]);
    }
}

/* Abort from another pthread, while the runtime is parked. */
typedef struct foreign_abort_ctx {
    slot s;
    corio_task *t;
    atomic_int aborted;
    int await_rc;
} foreign_abort_ctx;

static int foreign_abort_victim(void *arg)
{
    foreign_abort_ctx *fc = arg;
    slot_fut f;
    slot_fut_init(&f, &fc->s);
    fc->await_rc = corio_await(&f.base);
    CHECK_EQ(atomic_load(&fc->aborted), 1);
    return 6;
}

static void *foreign_aborter(void *arg)
{
    foreign_abort_ctx *fc = arg;
    thread_wait_waker(&fc->s);
    sleep_ms(20); /* the runtime is parked by now */
    atomic_store(&fc->aborted, 1);
    corio_task_abort(fc->t);
    return NULL;
}

static int foreign_abort_main(void *arg)
{
    foreign_abort_ctx *fc = arg;
    fc->t = corio_spawn(foreign_abort_victim, fc);
    CHECK(fc->t != NULL);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_aborter, fc), 0);
    int r = 0;
    double t0 = mono_ms();
    CHECK_EQ(corio_task_join(fc->t, &r), CORIO_ECANCELED);
    CHECK(mono_ms() - t0 < 5000);
    CHECK_EQ(r, 6);
    pthread_join(th, NULL);
    return 0;
}

TEST(task_abort_from_foreign_thread)
{
    foreign_abort_ctx fc;
    memset(&fc, 0, sizeof fc);
    slot_init(&fc.s);
    atomic_init(&fc.aborted, 0);
    CHECK_EQ(corio_run(foreign_abort_main, &fc), 0);
    CHECK_EQ(fc.await_rc, CORIO_ECANCELED);
    CHECK_EQ(fc.s.drops, 1);
    slot_destroy(&fc.s);
}

/* A joiner that is cancelled while it waits gets CORIO_ECANCELED; the task it
 * waited for goes on, detached. */
typedef struct joiner_ctx {
    slot s;
    corio_task *inner;
    int join_rc;
    bool cancelled;
    int inner_done;
} joiner_ctx;

static int inner_fn(void *arg)
{
    joiner_ctx *jc = arg;
    slot_fut f;
    slot_fut_init(&f, &jc->s);
    CHECK_EQ(corio_await(&f.base), 3);
    jc->inner_done = 1;
    return 3;
}

static int joiner_fn(void *arg)
{
    joiner_ctx *jc = arg;
    jc->inner = corio_spawn(inner_fn, jc);
    jc->join_rc = corio_task_join(jc->inner, NULL);
    jc->cancelled = corio_is_cancelled();
    return 0;
}

static int joiner_main(void *arg)
{
    joiner_ctx *jc = arg;
    corio_task *j = corio_spawn(joiner_fn, jc);
    task_wait_waker(&jc->s);
    corio_task_abort(j);
    CHECK_EQ(corio_task_join(j, NULL), CORIO_ECANCELED);
    CHECK_EQ(jc->join_rc, CORIO_ECANCELED);
    CHECK(jc->cancelled);
    CHECK_EQ(jc->inner_done, 0);
    slot_complete(&jc->s, 3);
    for (int i = 0; !jc->inner_done; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_cancelled_joiner_detaches_target)
{
    joiner_ctx jc;
    memset(&jc, 0, sizeof jc);
    slot_init(&jc.s);
    CHECK_EQ(corio_run(joiner_main, &jc), 0);
    CHECK_EQ(jc.inner_done, 1);
    CHECK_EQ(jc.s.drops, 0);
    slot_destroy(&jc.s);
}

/* ==== yield =============================================================== */

typedef struct ylog {
    char buf[64];
    int n;
} ylog;

typedef struct yarg {
    ylog *log;
    char c;
    int rounds;
} yarg;

static int yielder(void *arg)
{
    yarg *y = arg;
    for (int i = 0; i < y->rounds; i++) {
        y->log->buf[y->log->n++] = y->c;
        CHECK_EQ(corio_yield_now(), 0);
    }
    return 0;
}

static int yield_main(void *arg)
{
    ylog *log = arg;
    yarg a = {log, 'A', 6}, b = {log, 'B', 6}, c = {log, 'C', 6};
    corio_task *ta = corio_spawn(yielder, &a);
    corio_task *tb = corio_spawn(yielder, &b);
    corio_task *tc = corio_spawn(yielder, &c);
    CHECK_EQ(corio_task_join(ta, NULL), 0);
    CHECK_EQ(corio_task_join(tb, NULL), 0);
    CHECK_EQ(corio_task_join(tc, NULL), 0);
    return 0;
}

TEST(task_yield_interleaves_fairly)
{
    ylog log;
    memset(&log, 0, sizeof log);
    CHECK_EQ(corio_run(yield_main, &log), 0);
    CHECK_EQ(log.n, 18);
    if (strcmp(log.buf, "ABCABCABCABCABCABC") != 0)
        test_failf(__FILE__, __LINE__, "yield order %s", log.buf);
}

/* Yield lets an already-ready task run before the yielder continues. */
static int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int yield_runs_ready_main(void *arg)
{
    int flag = 0;
    CHECK_EQ(corio_spawn_detached(set_flag, &flag), 0);
    CHECK_EQ(flag, 0);
    CHECK_EQ(corio_yield_now(), 0);
    CHECK_EQ(flag, 1);
    /* and a stackless one */
    flag_fut ff;
    int runs = 0;
    corio_future_init(&ff.base, &flag_vt);
    ff.counter = &runs;
    CHECK_EQ(corio_spawn_future(NULL, &ff.base, sizeof ff), 0);
    CHECK_EQ(corio_yield_now(), 0);
    CHECK_EQ(runs, 1);
    /* yield with nothing else ready just continues */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(corio_yield_now(), 0);
    return 0;
}

TEST(task_yield_runs_ready_tasks_first)
{
    CHECK_EQ(corio_run(yield_runs_ready_main, NULL), 0);
}

/* Two coroutines yielding to each other (the scheduler hands the CPU
 * straight from one to the other); one aborts the other, whose next yield
 * returns CORIO_ECANCELED. */
typedef struct yab_ctx {
    corio_task *victim;
    int victim_yields;
    int victim_rc;
    int killer_yields_after;
} yab_ctx;

static int yab_victim(void *arg)
{
    yab_ctx *yc = arg;
    int rc;
    while ((rc = corio_yield_now()) == 0)
        yc->victim_yields++;
    yc->victim_rc = rc;
    CHECK_EQ(corio_yield_now(), CORIO_ECANCELED);
    return 1;
}

static int yab_killer(void *arg)
{
    yab_ctx *yc = arg;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_yield_now(), 0);
    corio_task_abort(yc->victim);
    int before = yc->victim_yields;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_yield_now(), 0);
    yc->killer_yields_after = yc->victim_yields - before;
    return 2;
}

static int yab_main(void *arg)
{
    yab_ctx *yc = arg;
    yc->victim = corio_spawn(yab_victim, yc);
    corio_task *k = corio_spawn(yab_killer, yc);
    int r = 0;
    CHECK_EQ(corio_task_join(k, &r), 0);
    CHECK_EQ(r, 2);
    CHECK_EQ(corio_task_join(yc->victim, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 1);
    return 0;
}

TEST(task_abort_yielding_task)
{
    yab_ctx yc;
    memset(&yc, 0, sizeof yc);
    CHECK_EQ(corio_run(yab_main, &yc), 0);
    CHECK_EQ(yc.victim_rc, CORIO_ECANCELED);
    CHECK(yc.victim_yields >= 9 && yc.victim_yields <= 11);
    CHECK_EQ(yc.killer_yields_after, 0); /* it stopped at its next yield */
}

TEST(task_yield_in_plain_code_is_wrongctx)
{
    CHECK_EQ(corio_yield_now(), CORIO_EWRONGCTX);
}

/* A task spinning on yield does not starve timers or wakes from other
 * threads. */
typedef struct spin_ctx {
    atomic_int timer_flag;
    atomic_int foreign_flag;
    slot s;
} spin_ctx;

static int timer_setter(void *arg)
{
    spin_ctx *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    atomic_store(&sc->timer_flag, 1);
    return 0;
}

static int foreign_waiter(void *arg)
{
    spin_ctx *sc = arg;
    slot_fut f;
    slot_fut_init(&f, &sc->s);
    CHECK_EQ(corio_await(&f.base), 1);
    atomic_store(&sc->foreign_flag, 1);
    return 0;
}

static void *slot_completer_later(void *arg)
{
    slot *s = arg;
    thread_wait_waker(s);
    sleep_ms(5);
    slot_complete(s, 1);
    return NULL;
}

static int spin_other(void *arg)
{
    spin_ctx *sc = arg;
    while (!atomic_load(&sc->timer_flag) || !atomic_load(&sc->foreign_flag))
        CHECK_EQ(corio_yield_now(), 0);
    return 0;
}

static int spin_main(void *arg)
{
    spin_ctx *sc = arg;
    /* two spinners: yields hand the CPU straight between them */
    CHECK_EQ(corio_spawn_detached(spin_other, sc), 0);
    CHECK_EQ(corio_spawn_detached(timer_setter, sc), 0);
    CHECK_EQ(corio_spawn_detached(foreign_waiter, sc), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, slot_completer_later, &sc->s), 0);
    double t0 = mono_ms();
    while (!atomic_load(&sc->timer_flag) || !atomic_load(&sc->foreign_flag)) {
        CHECK(mono_ms() - t0 < 5000);
        CHECK_EQ(corio_yield_now(), 0);
    }
    pthread_join(th, NULL);
    return 0;
}

TEST_TIMING(task_yield_loop_does_not_starve_timers_or_foreign_wakes)
{
    spin_ctx sc;
    memset(&sc, 0, sizeof sc);
    slot_init(&sc.s);
    CHECK_EQ(corio_run(spin_main, &sc), 0);
    slot_destroy(&sc.s);
}

/* ==== join ================================================================ */

typedef struct plain_join_ctx {
    slot s;
    corio_task *t;
    atomic_int joined;
    int join_rc, join_result;
} plain_join_ctx;

static int pj_task(void *arg)
{
    plain_join_ctx *pc = arg;
    slot_fut f;
    slot_fut_init(&f, &pc->s);
    return corio_await(&f.base) + 1;
}

static void *pj_joiner(void *arg)
{
    plain_join_ctx *pc = arg;
    pc->join_rc = corio_task_join(pc->t, &pc->join_result); /* blocks this thread */
    atomic_store(&pc->joined, 1);
    return NULL;
}

static int pj_main(void *arg)
{
    plain_join_ctx *pc = arg;
    task_wait_waker(&pc->s);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK_EQ(atomic_load(&pc->joined), 0); /* the joiner is still blocked */
    slot_complete(&pc->s, 40);
    for (int i = 0; !atomic_load(&pc->joined); i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_join_from_plain_thread)
{
    plain_join_ctx pc;
    memset(&pc, 0, sizeof pc);
    slot_init(&pc.s);
    atomic_init(&pc.joined, 0);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_with(&pc.t, &o, pj_task, &pc), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pj_joiner, &pc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, pj_main, &pc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    CHECK_EQ(pc.join_rc, 0);
    CHECK_EQ(pc.join_result, 41);
    corio_rt_free(rt);
    slot_destroy(&pc.s);
}

/* Join of a finished task from plain code, on the driving thread itself. */
TEST(task_join_finished_from_plain_code)
{
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    int x = 1;
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&t, &o, add_ten, &x), 0);
    int r = 0;
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    }
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 11);
    corio_rt_free(rt);
}

static int depth_fn(void *arg)
{
    intptr_t d = (intptr_t)arg;
    if (d == 0)
        return 0;
    corio_task *t = corio_spawn(depth_fn, (void *)(d - 1));
    CHECK(t != NULL);
    int r = -1;
    CHECK_EQ(corio_task_join(t, &r), 0);
    return r + 1;
}

TEST(task_join_nested_chain)
{
    CHECK_EQ(corio_run(depth_fn, (void *)(intptr_t)50), 50);
}

/* Join from inside a task of a task that another pthread spawned. */
typedef struct xspawn_ctx {
    corio_rt *rt;
    corio_task *t;
    atomic_int ready;
} xspawn_ctx;

static void *xspawner(void *arg)
{
    xspawn_ctx *xc = arg;
    corio_spawn_opts o = {.rt = xc->rt, .name = "from-thread"};
    static int x = 90;
    CHECK_EQ(corio_spawn_with(&xc->t, &o, add_ten, &x), 0);
    atomic_store(&xc->ready, 1);
    return NULL;
}

static int xjoin_main(void *arg)
{
    xspawn_ctx *xc = arg;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, xspawner, xc), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&xc->ready), 1);
    int r = 0;
    CHECK_EQ(corio_task_join(xc->t, &r), 0);
    CHECK_EQ(r, 100);
    return 0;
}

TEST(task_join_task_spawned_by_foreign_thread)
{
    xspawn_ctx xc;
    memset(&xc, 0, sizeof xc);
    xc.rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(xc.rt, xjoin_main, &xc, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(xc.rt);
}

static int slow_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(150)), 0);
    return 12;
}

static int join_timeout_main(void *arg)
{
    corio_task *slow = corio_spawn(slow_fn, NULL);
    corio_join_fut jf;
    corio_join_fut_init(&jf, slow);
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(20));
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(140));
    CHECK(!corio_task_is_finished(slow));
    /* the handle is still ours: a second, longer timeout succeeds */
    corio_join_fut_init(&jf, slow);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(jf.value, 12);
    corio_task_release(slow);

    /* a task that is quick enough */
    int x = 3;
    corio_task *fast = corio_spawn(add_ten, &x);
    corio_join_fut_init(&jf, fast);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(jf.value, 13);
    CHECK(corio_task_is_finished(fast));
    corio_task_release(fast);

    /* timed out, then joined normally */
    slow = corio_spawn(slow_fn, NULL);
    corio_join_fut_init(&jf, slow);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    int r = 0;
    CHECK_EQ(corio_task_join(slow, &r), 0);
    CHECK_EQ(r, 12);
    return 0;
}

TEST(task_join_fut_with_timeout)
{
    CHECK_EQ(corio_run(join_timeout_main, NULL), 0);
}

/* The join waker changes hands: task X waits on the handle with a timeout and
 * gives up; task Y (another waker) then joins the same handle, and so does a
 * plain thread in the second round. Each must be woken by the completion. */
typedef struct handoff_ctx {
    slot s;
    corio_task *target;
    int y_rc, y_result;
    atomic_int x_gave_up;
} handoff_ctx;

static int handoff_x(void *arg)
{
    handoff_ctx *hc = arg;
    corio_join_fut jf;
    corio_join_fut_init(&jf, hc->target);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    atomic_store(&hc->x_gave_up, 1);
    return 0;
}

static int handoff_y(void *arg)
{
    handoff_ctx *hc = arg;
    hc->y_rc = corio_task_join(hc->target, &hc->y_result);
    return 0;
}

static int handoff_main(void *arg)
{
    handoff_ctx *hc = arg;
    hc->target = corio_spawn(await_slot, &hc->s);
    corio_task *x = corio_spawn(handoff_x, hc);
    CHECK_EQ(corio_task_join(x, NULL), 0);
    CHECK_EQ(atomic_load(&hc->x_gave_up), 1);
    corio_task *y = corio_spawn(handoff_y, hc);
    task_wait_waker(&hc->s);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0); /* y is waiting now */
    slot_complete(&hc->s, 19);
    CHECK_EQ(corio_task_join(y, NULL), 0);
    CHECK_EQ(hc->y_rc, 0);
    CHECK_EQ(hc->y_result, 19);
    return 0;
}

TEST(task_join_waker_changes_hands)
{
    handoff_ctx hc;
    memset(&hc, 0, sizeof hc);
    slot_init(&hc.s);
    CHECK_EQ(corio_run(handoff_main, &hc), 0);
    slot_destroy(&hc.s);
}

typedef struct handoff2_ctx {
    slot s;
    corio_task *target;
    atomic_int plain_joined;
    int rc, result;
} handoff2_ctx;

static void *handoff2_plain(void *arg)
{
    handoff2_ctx *hc = arg;
    hc->rc = corio_task_join(hc->target, &hc->result);
    atomic_store(&hc->plain_joined, 1);
    return NULL;
}

static int handoff2_main(void *arg)
{
    handoff2_ctx *hc = arg;
    hc->target = corio_spawn(await_slot, &hc->s);
    corio_join_fut jf;
    corio_join_fut_init(&jf, hc->target);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, handoff2_plain, hc), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0); /* the thread is blocked in join */
    CHECK_EQ(atomic_load(&hc->plain_joined), 0);
    slot_complete(&hc->s, 23);
    for (int i = 0; !atomic_load(&hc->plain_joined); i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    pthread_join(th, NULL);
    return 0;
}

TEST(task_join_waker_changes_hands_to_plain_thread)
{
    handoff2_ctx hc;
    memset(&hc, 0, sizeof hc);
    slot_init(&hc.s);
    CHECK_EQ(corio_run(handoff2_main, &hc), 0);
    CHECK_EQ(hc.rc, 0);
    CHECK_EQ(hc.result, 23);
    slot_destroy(&hc.s);
}

/* Plain code waits for a task of a runtime driven by another thread through
 * corio_block_on_future on a join future under a timeout (a temporary
 * runtime of its own, woken across runtimes). */
typedef struct bof_ctx {
    corio_rt *rt;
    corio_task *t;
    atomic_int ready, done;
    slot s;
} bof_ctx;

static int bof_driver_main(void *arg)
{
    bof_ctx *bc = arg;
    bc->t = corio_spawn(await_slot, &bc->s);
    atomic_store(&bc->ready, 1);
    for (int i = 0; !atomic_load(&bc->done); i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

static void *bof_driver(void *arg)
{
    bof_ctx *bc = arg;
    CHECK_EQ(corio_rt_block_on(bc->rt, bof_driver_main, bc, NULL), 0);
    return NULL;
}

TEST(task_join_fut_block_on_future_from_plain_code)
{
    bof_ctx bc;
    memset(&bc, 0, sizeof bc);
    slot_init(&bc.s);
    bc.rt = new_rt();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, bof_driver, &bc), 0);
    while (!atomic_load(&bc.ready))
        sleep_ms(1);
    /* first with a short timeout: it expires */
    corio_join_fut jf;
    corio_join_fut_init(&jf, bc.t);
    corio_timeout_fut to;
    corio_timeout_fut_init(&to, &jf.base, CORIO_MSEC(15));
    double t0 = mono_ms();
    CHECK_EQ(corio_block_on_future(&to.base), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 >= 14);
    CHECK(!corio_task_is_finished(bc.t));
    /* then a long one, completed from here meanwhile by a helper */
    slot_complete(&bc.s, 31);
    corio_join_fut_init(&jf, bc.t);
    corio_timeout_fut_init(&to, &jf.base, CORIO_SEC(10));
    CHECK_EQ(corio_block_on_future(&to.base), 0);
    CHECK_EQ(jf.value, 31);
    corio_task_release(bc.t);
    atomic_store(&bc.done, 1);
    pthread_join(th, NULL);
    corio_rt_free(bc.rt);
    slot_destroy(&bc.s);
}

/* ==== stress: abort racing completion ===================================== */

/* A helper pthread takes jobs: complete a slot, abort a task, in an order
 * that varies. Each iteration checks that what the joiner learns matches
 * what the task saw: CORIO_ECANCELED from join iff the task's await returned
 * it (coroutines), or iff the future was dropped (stackless). */
typedef struct race_job {
    slot *s;
    corio_task *t;
    int mode;
} race_job;

/* Run main_fn(q) as corio_run's main task beside a helper pthread running
 * helper(q), which waits for jobs on mu/cv; then set *quit, signal cv, and
 * join the helper. mu and cv are initialised here and destroyed after. */
static void run_beside_helper(pthread_mutex_t *mu, pthread_cond_t *cv, bool *quit,
                              void *(*helper)(void *), corio_fn main_fn, void *q)
{
    pthread_mutex_init(mu, NULL);
    pthread_cond_init(cv, NULL);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, helper, q), 0);
    CHECK_EQ(corio_run(main_fn, q), 0);
    pthread_mutex_lock(mu);
    *quit = true;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(cv);
    pthread_mutex_destroy(mu);
}

typedef struct race_q {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    race_job job;
    bool has_job;
    bool quit;
    atomic_long done;
} race_q;

static void *race_helper(void *arg)
{
    race_q *q = arg;
    unsigned seed = 12345;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->has_job && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->quit && !q->has_job) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        race_job j = q->job;
        q->has_job = false;
        pthread_mutex_unlock(&q->mu);
        seed = seed * 1103515245u + 12345u;
        unsigned spin = (seed >> 16) % 200;
        for (volatile unsigned i = 0; i < spin; i++) {
        }
        switch (j.mode) {
        case 0:
            slot_complete(j.s, 7);
            corio_task_abort(j.t);
            break;
        case 1:
            corio_task_abort(j.t);
            slot_complete(j.s, 7);
            break;
        default:
            corio_task_abort(j.t); /* the task finishes on its own */
            break;
        }
        atomic_fetch_add(&q->done, 1);
    }
}

static void race_post(race_q *q, slot *s, corio_task *t, int mode)
{
    pthread_mutex_lock(&q->mu);
    q->job = (race_job){s, t, mode};
    q->has_job = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

typedef struct race_arg {
    slot s;
    int rc;
    int saw_cancel;
} race_arg;

static int race_coro(void *arg)
{
    race_arg *ra = arg;
    slot_fut f;
    slot_fut_init(&f, &ra->s);
    ra->rc = corio_await(&f.base);
    if (ra->rc == CORIO_ECANCELED)
        ra->saw_cancel = 1;
    return ra->rc == CORIO_ECANCELED ? -55 : ra->rc;
}

static int race_spinner(void *arg)
{
    race_arg *ra = arg;
    for (int i = 0; i < 20; i++) {
        int rc = corio_yield_now();
        if (rc == CORIO_ECANCELED) {
            ra->saw_cancel = 1;
            return -55;
        }
        CHECK_EQ(rc, 0);
    }
    return 7;
}

static int race_main(void *arg)
{
    race_q *q = arg;
    int iters = UNDER_SAN ? 300 : 3000;
    int cancelled = 0, completed = 0;
    for (int i = 0; i < iters; i++) {
        race_arg ra;
        memset(&ra, 0, sizeof ra);
        slot_init(&ra.s);
        int kind = i % 3;
        corio_task *t = NULL;
        if (kind == 0) {
            t = corio_spawn(race_coro, &ra);
        } else if (kind == 1) {
            slot_fut f;
            slot_fut_init(&f, &ra.s);
            CHECK_EQ(corio_spawn_future(&t, &f.base, sizeof f), 0);
        } else {
            t = corio_spawn(race_spinner, &ra);
        }
        CHECK(t != NULL);
        if (kind != 2 && (i & 4))
            CHECK_EQ(corio_yield_now(), 0); /* let it register its waker first */
        race_post(q, &ra.s, t, kind == 2 ? 2 : (i >> 1) & 1);
        /* Wait through a join future, which borrows the handle: the helper
         * may still be inside corio_task_abort after the task finished. */
        corio_join_fut jf;
        corio_join_fut_init(&jf, t);
        int rc = corio_await(&jf.base);
        int r = jf.value;
        /* the helper is done with this iteration's slot and handle */
        for (int k = 0; atomic_load(&q->done) < i + 1; k++) {
            CHECK(k < 1000000);
            if (k > 100)
                CHECK_EQ(corio_sleep(CORIO_USEC(50)), 0);
            else
                CHECK_EQ(corio_yield_now(), 0);
        }
        if (rc == CORIO_ECANCELED) {
            cancelled++;
            if (kind == 1) {
                CHECK_EQ(r, CORIO_ECANCELED);
                CHECK_EQ(slot_drops(&ra.s), 1);
            } else {
                CHECK_EQ(ra.saw_cancel, 1);
                CHECK_EQ(r, -55);
            }
        } else {
            completed++;
            CHECK_EQ(rc, 0);
            CHECK_EQ(r, 7);
            CHECK_EQ(ra.saw_cancel, 0);
            CHECK_EQ(slot_drops(&ra.s), 0);
        }
        CHECK(slot_drops(&ra.s) <= 1);
        corio_task_release(t);
        slot_destroy(&ra.s);
    }
    CHECK_EQ(cancelled + completed, iters);
    CHECK(cancelled > 0);
    return 0;
}

TEST(task_stress_abort_races_completion)
{
    race_q q;
    memset(&q, 0, sizeof q);
    atomic_init(&q.done, 0);
    run_beside_helper(&q.mu, &q.cv, &q.quit, race_helper, race_main, &q);
}

/* Many tasks parked on slots; several foreign threads abort or complete them
 * at random while the runtime drives. Every task must end (no lost abort),
 * each exactly one way. */
enum { AB_TASKS = 400, AB_THREADS = 3 };

typedef struct ab_shared {
    race_arg args[AB_TASKS];
    corio_task *tasks[AB_TASKS];
    atomic_int go;
    atomic_int threads_done;
} ab_shared;

static void *ab_thread(void *arg)
{
    ab_shared *sh = arg;
    while (!atomic_load(&sh->go))
        sleep_ms(1);
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < AB_TASKS; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) & 1)
                corio_task_abort(sh->tasks[i]);
            else
                slot_complete(&sh->args[i].s, 7);
        }
    }
    atomic_fetch_add(&sh->threads_done, 1);
    return NULL;
}

static int ab_main(void *arg)
{
    ab_shared *sh = arg;
    for (int i = 0; i < AB_TASKS; i++) {
        slot_init(&sh->args[i].s);
        if (i % 2)
            sh->tasks[i] = corio_spawn(race_coro, &sh->args[i]);
        else {
            slot_fut f;
            slot_fut_init(&f, &sh->args[i].s);
            CHECK_EQ(corio_spawn_future(&sh->tasks[i], &f.base, sizeof f), 0);
        }
        CHECK(sh->tasks[i] != NULL);
    }
    CHECK_EQ(corio_yield_now(), 0);
    pthread_t th[AB_THREADS];
    for (int i = 0; i < AB_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, ab_thread, sh), 0);
    atomic_store(&sh->go, 1);
    /* The handles stay ours until the threads are done with them; the
     * runtime keeps running the tasks meanwhile. */
    for (int k = 0; atomic_load(&sh->threads_done) < AB_THREADS; k++) {
        CHECK(k < 100000);
        CHECK_EQ(corio_sleep(CORIO_USEC(200)), 0);
    }
    for (int i = 0; i < AB_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < AB_TASKS; i++) {
        int r = 0;
        int rc = corio_task_join(sh->tasks[i], &r);
        race_arg *ra = &sh->args[i];
        if (rc == CORIO_ECANCELED) {
            if (i % 2)
                CHECK_EQ(ra->saw_cancel, 1);
            else
                CHECK_EQ(slot_drops(&ra->s), 1);
        } else {
            CHECK_EQ(rc, 0);
            CHECK_EQ(r, 7);
            CHECK_EQ(slot_drops(&ra->s), 0);
        }
        slot_destroy(&ra->s);
    }
    return 0;
}

TEST(task_stress_foreign_abort_or_complete_many)
{
    ab_shared *sh = calloc(1, sizeof *sh);
    CHECK(sh != NULL);
    int loops = UNDER_SAN ? 8 : 80;
    for (int l = 0; l < loops; l++) {
        memset(sh, 0, sizeof *sh);
        CHECK_EQ(corio_run(ab_main, sh), 0);
    }
    free(sh);
}

/* Wakes of a counting waker, consuming or by reference. */
static int cw_all_wakes(cw_target *t)
{
    return atomic_load(&t->wakes) + atomic_load(&t->wake_by_refs);
}

/* A join waker installed by hand (a counting waker), then the handle given
 * back by a foreign thread while the runtime completes the task. Whatever the
 * interleaving, the join waker is released exactly once when the task is
 * freed: a leak leaves a reference behind, a double drop goes negative. */
typedef struct rel_q {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    corio_task *t;
    unsigned spin;
    bool quit;
    atomic_int released;
} rel_q;

static void *rel_helper(void *arg)
{
    rel_q *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->t && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->t) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        corio_task *t = q->t;
        unsigned spin = q->spin;
        q->t = NULL;
        pthread_mutex_unlock(&q->mu);
        for (volatile unsigned i = 0; i < spin; i++) {
        }
        corio_task_release(t);
        atomic_fetch_add(&q->released, 1);
    }
}

typedef struct rel_arg {
    slot s;
    atomic_int done;
} rel_arg;

static int rel_target(void *arg)
{
    rel_arg *ra = arg;
    slot_fut f;
    slot_fut_init(&f, &ra->s);
    int r = corio_await(&f.base);
    atomic_store(&ra->done, 1);
    return r;
}

static int rel_main(void *arg)
{
    rel_q *q = arg;
    int iters = UNDER_SAN ? 300 : 3000;
    for (int i = 0; i < iters; i++) {
        rel_arg ra;
        slot *sp = &ra.s;
        slot_init(sp);
        atomic_init(&ra.done, 0);
        corio_task *t = corio_spawn(rel_target, &ra);
        task_wait_waker(sp);
        cw_target rt;
        corio_waker w = cw_new(&rt);
        corio_context cx = {&w};
        corio_join_fut jf;
        corio_join_fut_init(&jf, t);
        CHECK_EQ(corio_future_poll(&jf.base, &cx), CORIO_PENDING);
        CHECK_EQ(atomic_load(&rt.refs), 2); /* the task keeps a clone */
        pthread_mutex_lock(&q->mu);
        q->t = t;
        q->spin = (unsigned)(i * 37) % 3000;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        slot_complete(sp, 1); /* the task finishes at our next yield */
        double t0 = mono_ms();
        /* the join waker may go early (released before completion): wait
         * for the task itself too, it still polls the slot on our stack */
        for (int k = 0; atomic_load(&q->released) < i + 1 || atomic_load(&rt.refs) != 1 ||
                        !atomic_load(&ra.done);
             k++) {
            if (mono_ms() - t0 > 5000)
                test_failf(__FILE__, __LINE__, "iteration %d: released %d, join waker refs %d, "
                           "wakes %d", i, atomic_load(&q->released), atomic_load(&rt.refs),
                           cw_all_wakes(&rt));
            CHECK(atomic_load(&rt.refs) >= 1);
            if (k < 100)
                CHECK_EQ(corio_yield_now(), 0);
            else
                CHECK_EQ(corio_sleep(CORIO_USEC(20)), 0);
        }
        CHECK(cw_all_wakes(&rt) <= 1);
        corio_waker_drop(&w);
        CHECK_EQ(atomic_load(&rt.refs), 0);
        slot_destroy(sp);
    }
    return 0;
}

TEST(task_stress_release_races_completion)
{
    rel_q q;
    memset(&q, 0, sizeof q);
    atomic_init(&q.released, 0);
    run_beside_helper(&q.mu, &q.cv, &q.quit, rel_helper, rel_main, &q);
}
