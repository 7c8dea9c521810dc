/* tests/test_rt_block_on.c - building and driving a runtime (corio/runtime.h).
 *
 * Covers: building (and invalid builders), block_on and block_on_future
 * results (statuses, with the output in *result or the future's result),
 * a main task that cancels itself, reuse of a runtime across several
 * block_on calls, the context rules (block_on, block_on_future, corio_run
 * inside a task), -EBUSY when another thread drives, corio_rt_current,
 * corio_run, and the builder's options (stack size, event interval).
 *
 * Shutdown is in test_rt_shutdown.c; foreign threads, parking and stress in
 * test_rt_threads.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== building and block_on =============================================== */

TEST(rt_build_invalid)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    CHECK_EQ(b.flavor, CORIO_RT_CURRENT_THREAD);
    CHECK_EQ(corio_rt_build(&b, NULL), -EINVAL);
    CHECK_EQ(corio_rt_build(NULL, &rt), -EINVAL);
    b.flavor = (corio_rt_flavor)77;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    CHECK_EQ(corio_rt_block_on(NULL, return_arg, NULL, NULL), -EINVAL);
    rt = new_rt();
    CHECK_EQ(corio_rt_block_on(rt, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_rt_block_on_future(rt, NULL), -EINVAL);
    corio_future zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    CHECK_EQ(corio_rt_block_on_future(rt, &zeroed), -EINVAL);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(corio_rt_free(NULL), 0); /* harmless */
}

/* runtime.h: a stack size above CORIO_STACK_SIZE_MAX is refused, as it is
 * by corio_spawn_with, rather than failing later at each task's first run. */
TEST(rt_build_stack_size_above_max_is_invalid)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.stack_size = CORIO_STACK_SIZE_MAX + 1;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
}

typedef struct reuse_ctx {
    slot s;
    corio_task *t;
    int calls;
} reuse_ctx;

static int reuse_first(void *arg)
{
    reuse_ctx *rc = arg;
    rc->calls++;
    CHECK_EQ(corio_spawn(await_slot, &rc->s, &rc->t), 0);
    CHECK(rc->t != NULL);
    for (int i = 0; !slot_has_waker(&rc->s); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_yield(), 0);
    }
    return 100;
}

static int reuse_second(void *arg)
{
    reuse_ctx *rc = arg;
    rc->calls++;
    int r = 0;
    CHECK_EQ(corio_task_join(rc->t, &r), 0); /* left pending by the first call */
    return r;
}

TEST(rt_block_on_result_and_reuse)
{
    reuse_ctx rc;
    memset(&rc, 0, sizeof rc);
    slot_init(&rc.s);
    corio_rt *rt = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, reuse_first, &rc, &r), 0);
    CHECK_EQ(r, 100);
    CHECK(!corio_task_is_finished(rc.t));
    slot_complete(&rc.s, 55); /* while nobody drives the runtime */
    CHECK_EQ(corio_rt_block_on(rt, reuse_second, &rc, &r), 0);
    CHECK_EQ(r, 55);
    CHECK_EQ(rc.calls, 2);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)(intptr_t)i, &r), 0);
        CHECK_EQ(r, i);
    }
    CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)(intptr_t)-9, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    slot_destroy(&rc.s);
}

/* block_on returns as soon as its function does, even with other tasks
 * pending (they are cancelled at corio_rt_free, not waited for). */
static int leave_sleeper(void *arg)
{
    CHECK_EQ(corio_spawn(sleep_long, arg, NULL), 0);
    CHECK_EQ(corio_yield(), 0);
    return 1;
}

TEST(rt_block_on_does_not_wait_for_other_tasks)
{
    atomic_int cleanup = 0;
    corio_rt *rt = new_rt();
    double t0 = mono_ms();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, leave_sleeper, &cleanup, &r), 0);
    CHECK_EQ(r, 1);
    CHECK(mono_ms() - t0 < 2000);
    CHECK_EQ(atomic_load(&cleanup), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(atomic_load(&cleanup), 1);
    CHECK(mono_ms() - t0 < 2000);
}

/* The status says whether the future got done; its output, which may be
 * negative, is in its result field. */
TEST(rt_block_on_future_results)
{
    corio_rt *rt = new_rt();
    count_fut f;
    count_init(&f, 5, -1234);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 0);
    CHECK_EQ(f.base.result, -1234);
    CHECK_EQ(f.pending_left, 0); /* polled in place, not a copy */
    corio_instant t0 = corio_instant_now(); /* before the init reads the clock */
    corio_sleep_fut sf;
    corio_sleep_fut_init(&sf, CORIO_MSEC(15));
    CHECK_EQ(corio_rt_block_on_future(rt, &sf.base), 0);
    CHECK_EQ(sf.base.result, 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(15));
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* A main task that aborts itself: block_on reports CORIO_ECANCELED, with
 * what the function returned after its cleanup in *result. */
static int abort_self(void *arg)
{
    corio_task_abort(corio_task_current());
    CHECK(corio_task_is_cancelled(corio_task_current()));
    CHECK_EQ(corio_yield(), CORIO_ECANCELED);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), CORIO_ECANCELED); /* sticky */
    return 61;
}

TEST(rt_block_on_cancelled_main_task)
{
    corio_rt *rt = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, abort_self, NULL, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 61);
    /* the cancellation was the main task's, not the runtime's */
    CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)2, &r), 0);
    CHECK_EQ(r, 2);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== context rules ======================================================= */

static int nested_block_on(void *arg)
{
    corio_rt *other = arg;
    corio_rt *mine = corio_rt_current();
    CHECK(mine != NULL && mine != other);
    int r = 5;
    CHECK_EQ(corio_rt_block_on(mine, must_not_run, NULL, &r), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_block_on(other, must_not_run, NULL, &r), CORIO_EWRONGCTX);
    CHECK_EQ(r, 0); /* fn did not run: 0, as runtime.h says */
    count_fut f;
    count_init(&f, 0, 1);
    CHECK_EQ(corio_rt_block_on_future(mine, &f.base), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_block_on_future(other, &f.base), CORIO_EWRONGCTX);
    CHECK_EQ(atomic_load(&f.polls), 0); /* refused: left alone */
    /* the runtime still works afterwards */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 3;
}

TEST(rt_block_on_inside_task_is_wrongctx)
{
    atomic_store(&never_called, 0);
    corio_rt *rt = new_rt(), *other = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, nested_block_on, other, &r), 0);
    CHECK_EQ(r, 3);
    /* the refused calls left `other` usable */
    CHECK_EQ(corio_rt_block_on(other, return_arg, (void *)7, &r), 0);
    CHECK_EQ(r, 7);
    CHECK_EQ(atomic_load(&never_called), 0);
    CHECK_EQ(corio_rt_free(other), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* corio_run inside a task: refused, fn not run, and nothing leaked (the ASan
 * build's leak checker sees any runtime it built and could not free). */
static int nested_run(void *arg)
{
    int r = 6;
    CHECK_EQ(corio_run(must_not_run, NULL, &r), CORIO_EWRONGCTX);
    CHECK_EQ(r, 0); /* fn did not run: 0, as runtime.h says */
    return 0;
}

static int nested_runs(void *arg)
{
    for (int i = 0; i < 200; i++)
        CHECK_EQ(nested_run(arg), 0);
    return 0;
}

TEST(rt_corio_run_inside_task_is_wrongctx_and_leaks_nothing)
{
    atomic_store(&never_called, 0);
    int fds = count_fds();
    int r = -1;
    CHECK_EQ(corio_run(nested_run, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(atomic_load(&never_called), 0);
    CHECK_EQ(count_fds(), fds); /* the nested runtime's epoll/eventfd are gone */
    /* Many refused nested runs leave no heap behind either (a runtime built
     * and not freed is a few KiB each). */
    size_t heap0 = heap_in_use();
    CHECK_EQ(corio_run(nested_runs, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK(heap_in_use() <= heap0 + 16 * 1024);
    CHECK_EQ(atomic_load(&never_called), 0);
}

static int current_check(void *arg)
{
    CHECK(corio_rt_current() == arg);
    return 0;
}

TEST(rt_current)
{
    CHECK(corio_rt_current() == NULL);
    corio_rt *rt = new_rt();
    CHECK_EQ(corio_rt_block_on(rt, current_check, rt, NULL), 0);
    CHECK(corio_rt_current() == NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Another thread drives: block_on and free are refused with -EBUSY. */
static int ret_seven(void *arg)
{
    (void)arg;
    return 7;
}

typedef struct busy_ctx {
    corio_rt *rt;
    slot s;
} busy_ctx;

static void *busy_driver(void *arg)
{
    busy_ctx *bc = arg;
    int r = 0;
    CHECK_EQ(corio_rt_block_on(bc->rt, await_slot, &bc->s, &r), 0);
    CHECK_EQ(r, 8);
    return NULL;
}

TEST(rt_block_on_busy_when_driven_elsewhere)
{
    atomic_store(&never_called, 0);
    busy_ctx bc;
    bc.rt = new_rt();
    slot_init(&bc.s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, busy_driver, &bc), 0);
    thread_wait_waker(&bc.s);
    CHECK_EQ(corio_rt_block_on(bc.rt, must_not_run, NULL, NULL), -EBUSY);
    count_fut f;
    count_init(&f, 0, 0);
    CHECK_EQ(corio_rt_block_on_future(bc.rt, &f.base), -EBUSY);
    CHECK_EQ(corio_rt_free(bc.rt), -EBUSY); /* nothing done: the driver goes on */
    slot_complete(&bc.s, 8);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&never_called), 0);
    CHECK_EQ(corio_rt_free(bc.rt), 0);
    slot_destroy(&bc.s);
}

/* On the multi-thread runtime several threads may block on it at once, but
 * freeing it while one is inside corio_rt_block_on is refused too: it went
 * ahead, cancelled that thread's main task and freed the runtime while the
 * thread was still returning through it. */
TEST(rt_block_on_mt_free_refused_while_a_thread_blocks_on_it)
{
    busy_ctx bc;
    bc.rt = new_mt_rt(2);
    slot_init(&bc.s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, busy_driver, &bc), 0);
    thread_wait_waker(&bc.s);
    CHECK_EQ(corio_rt_free(bc.rt), -EBUSY); /* nothing done */
    CHECK_EQ(corio_rt_shutdown_timeout(bc.rt, CORIO_MSEC(10)), -EBUSY);
    int r = 0;
    CHECK_EQ(corio_rt_block_on(bc.rt, ret_seven, NULL, &r), 0); /* still running */
    CHECK_EQ(r, 7);
    slot_complete(&bc.s, 8);
    pthread_join(th, NULL);
    CHECK_EQ(corio_rt_free(bc.rt), 0);
    slot_destroy(&bc.s);
}

/* ==== corio_run =========================================================== */

static int one_liner_main(void *arg)
{
    atomic_int *cleanup = arg;
    CHECK(corio_rt_current() != NULL);
    CHECK(corio_task_id(corio_task_current()) != 0);
    /* tasks still pending when fn returns are cancelled by corio_run */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn(sleep_long, cleanup, NULL), 0);
    CHECK_EQ(corio_yield(), 0);
    return -4321;
}

TEST(rt_corio_run_one_liner)
{
    atomic_int cleanup = 0;
    int r = 0;
    CHECK_EQ(corio_run(return_arg, (void *)(intptr_t)77, &r), 0);
    CHECK_EQ(r, 77);
    /* fn's result may be negative: it is not mistaken for an error */
    CHECK_EQ(corio_run(one_liner_main, &cleanup, &r), 0);
    CHECK_EQ(r, -4321);
    CHECK_EQ(atomic_load(&cleanup), 3);
    CHECK_EQ(corio_run(return_arg, (void *)(intptr_t)5, NULL), 0);
    CHECK(corio_rt_current() == NULL);
}

/* ==== builder options ===================================================== */

static int deep_stack(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    volatile char *buf = __builtin_alloca(n);
    for (size_t i = 0; i < n; i += 512)
        buf[i] = (char)(i >> 9);
    CHECK_EQ(corio_yield(), 0);
    for (size_t i = 0; i < n; i += 512)
        CHECK_EQ(buf[i], (char)(i >> 9));
    return 0;
}

static int big_stack_main(void *arg)
{
    corio_task *t;
    CHECK_EQ(corio_spawn(deep_stack, (void *)(uintptr_t)(700 * 1024), &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    return 0;
}

TEST(rt_builder_stack_size_and_event_interval)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    CHECK_EQ(b.stack_size, CORIO_DEFAULT_STACK_SIZE);
    b.stack_size = 1024 * 1024; /* every task gets 1 MiB: 700 KiB in use works */
    b.event_interval = 1;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, big_stack_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    /* event_interval 1: timers and foreign wakes still work */
    slot s;
    slot_init(&s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, slot_complete_later, &s), 0);
    CHECK_EQ(corio_rt_block_on(rt, await_slot, &s, &r), 0);
    CHECK_EQ(r, 1);
    pthread_join(th, NULL);
    slot_destroy(&s);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== a main task that gets no stack ====================================== */

static atomic_int nostack_main_ran;

static int nostack_main(void *arg)
{
    (void)arg;
    atomic_fetch_add(&nostack_main_ran, 1);
    return 7;
}


/* runtime.h: block_on fails with -ENOMEM when the main task cannot be had,
 * and *result is 0 whenever fn did not run. A main coroutine that gets no
 * stack never runs fn: that is the -ENOMEM, not a 0 with -ENOMEM posing as
 * fn's result (and the same through corio_run's path on either flavour). */
TEST(rt_block_on_main_task_without_stack_is_enomem)
{
    if (UNDER_SAN)
        return; /* the sanitizers' shadow memory needs the address space */
    if (test_emulated()) {
        printf("SKIPPED under an emulator: RLIMIT_AS does not bound the guest's mmap\n");
        return;
    }
    corio_rt *rts[2];
    for (int i = 0; i < 2; i++) {
        corio_rt_builder b = i ? corio_rt_builder_multi_thread() : corio_rt_builder_current_thread();
        b.worker_threads = 1;
        b.stack_size = CORIO_STACK_SIZE_MAX; /* 1 GiB: cannot be mapped below the limit */
        CHECK_EQ(corio_rt_build(&b, &rts[i]), 0);
    }
    CHECK_EQ(cap_address_space(256 * 1024), 0);
    for (int i = 0; i < 2; i++) {
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rts[i], nostack_main, NULL, &r), -ENOMEM);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rts[i]), 0);
    }
    CHECK_EQ(atomic_load(&nostack_main_ran), 0);
}
