/* tests/test_rt_threads.c - a runtime and the threads around it.
 *
 * Covers: spawning from foreign threads while the runtime runs and while it
 * is not driven; wakes from foreign threads reaching a runtime parked in the
 * kernel quickly and with no CPU spent while idle; two runtimes on two
 * threads waking and joining each other's tasks; many tasks spawned and
 * joined; and stress loops of foreign spawns and wakes, and of wakes racing
 * the runtime's parking.
 *
 * Shutdown racing foreign threads is in test_rt_shutdown.c.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <malloc.h>

#include <corio.h>

#include "test.h"
#include "util.h"

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The CPU of the whole process: what a multi-thread runtime (corio_run's)
 * costs, whichever worker its task runs on. A thread's own clock read on
 * one worker before an await and on another after it compares two
 * threads' clocks. */
static double process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ==== foreign threads ===================================================== */

/* Foreign threads spawn into a runtime while block_on drives it: some tasks
 * detached, some joined from the spawning (plain) thread, some stackless. */
enum { FS_THREADS = 4 };

typedef struct fs_ctx {
    corio_rt *rt;
    int per_thread;
    atomic_int ran;
    atomic_int threads_done;
    slot done_slot; /* completed by the last task */
    int expect;
} fs_ctx;

static int fs_task(void *arg)
{
    fs_ctx *fc = arg;
    CHECK(corio_rt_current() == fc->rt);
    CHECK_EQ(corio_yield(), 0);
    if (atomic_fetch_add(&fc->ran, 1) + 1 == fc->expect)
        slot_complete(&fc->done_slot, 1);
    return 3;
}

typedef struct fs_fut {
    corio_future base;
    fs_ctx *fc;
} fs_fut;

static corio_poll fs_fut_poll(corio_future *f, corio_context *cx)
{
    fs_ctx *fc = ((fs_fut *)f)->fc;
    if (atomic_fetch_add(&fc->ran, 1) + 1 == fc->expect)
        slot_complete(&fc->done_slot, 1);
    f->result = 4;
    return CORIO_READY;
}
static const corio_future_vtable fs_fut_vt = {fs_fut_poll, NULL};

static void *fs_thread(void *arg)
{
    fs_ctx *fc = arg;
    corio_spawn_opts o = {.rt = fc->rt};
    for (int i = 0; i < fc->per_thread; i++) {
        switch (i % 3) {
        case 0:
            CHECK_EQ(corio_spawn_with(&o, fs_task, fc, NULL), 0);
            break;
        case 1: {
            corio_task *t = NULL;
            CHECK_EQ(corio_spawn_with(&o, fs_task, fc, &t), 0);
            int r = 0;
            CHECK_EQ(corio_task_join(t, &r), 0); /* blocks this plain thread */
            CHECK_EQ(r, 3);
            break;
        }
        default: {
            fs_fut f;
            corio_future_init(&f.base, &fs_fut_vt);
            f.fc = fc;
            corio_task *t = NULL;
            CHECK_EQ(corio_spawn_future_with(&o, &f.base, sizeof f, &t), 0);
            if (i % 2) {
                int r = 0;
                CHECK_EQ(corio_task_join(t, &r), 0);
                CHECK_EQ(r, 4);
            } else {
                corio_task_release(t);
            }
            break;
        }
        }
    }
    atomic_fetch_add(&fc->threads_done, 1);
    return NULL;
}

static int fs_main(void *arg)
{
    fs_ctx *fc = arg;
    slot_fut f;
    slot_fut_init(&f, &fc->done_slot);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 1);
    CHECK_EQ(atomic_load(&fc->ran), fc->expect);
    return 0;
}

TEST(rt_spawn_from_foreign_threads_while_driven)
{
    fs_ctx fc;
    memset(&fc, 0, sizeof fc);
    slot_init(&fc.done_slot);
    fc.rt = new_rt();
    fc.per_thread = UNDER_SAN ? 300 : 3000;
    fc.expect = FS_THREADS * fc.per_thread;
    pthread_t th[FS_THREADS];
    /* the threads start spawning before anyone drives the runtime */
    for (int i = 0; i < FS_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, fs_thread, &fc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(fc.rt, fs_main, &fc, &r), 0);
    CHECK_EQ(r, 0);
    for (int i = 0; i < FS_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&fc.threads_done), FS_THREADS);
    CHECK_EQ(corio_rt_free(fc.rt), 0);
    slot_destroy(&fc.done_slot);
}

/* A waker fired from a plain thread reaches a runtime parked in the kernel
 * (no timer pending, so it would sleep forever) within a few ms, and the
 * parked runtime spends no CPU. */
typedef struct park_ctx {
    slot s;
    int delay_ms;
    bool check_cpu;
} park_ctx;

static void *park_waker(void *arg)
{
    park_ctx *pc = arg;
    thread_wait_waker(&pc->s);
    sleep_ms(pc->delay_ms);
    slot_complete(&pc->s, 1);
    return NULL;
}

static int park_main(void *arg)
{
    park_ctx *pc = arg;
    double cpu0 = thread_cpu_ms(), t0 = mono_ms();
    slot_fut f;
    slot_fut_init(&f, &pc->s);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 1);
    double cpu = thread_cpu_ms() - cpu0, wall = mono_ms() - t0;
    CHECK(wall >= pc->delay_ms);
    if (pc->check_cpu && cpu > 0.25 * wall)
        test_failf(__FILE__, __LINE__, "parked runtime used %.1f ms CPU in %.1f ms", cpu, wall);
    return 0;
}

TEST_TIMING(rt_foreign_wake_reaches_parked_runtime_fast)
{
    corio_rt *rt = new_rt();
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        park_ctx pc;
        slot_init(&pc.s);
        pc.delay_ms = i == 0 ? 100 : 15;
        pc.check_cpu = i == 0;
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, park_main, &pc, &r), 0);
        CHECK_EQ(r, 0);
        pthread_join(th, NULL);
        double lat = pc.s.polled_at - pc.s.woken_at;
        if (lat > worst)
            worst = lat;
        slot_destroy(&pc.s);
    }
    /* a few ms is the goal; allow for a loaded machine and sanitizers */
    if (worst > (UNDER_SAN ? 50.0 : 20.0))
        test_failf(__FILE__, __LINE__, "wake to poll latency %.2f ms", worst);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* The same through a stackless main task (corio_rt_block_on_future). */
TEST_TIMING(rt_foreign_wake_reaches_parked_block_on_future)
{
    corio_rt *rt = new_rt();
    park_ctx pc;
    slot_init(&pc.s);
    pc.delay_ms = 30;
    pc.check_cpu = false;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
    slot_fut f;
    slot_fut_init(&f, &pc.s);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 0);
    CHECK_EQ(f.base.result, 1);
    pthread_join(th, NULL);
    CHECK(pc.s.polled_at - pc.s.woken_at < (UNDER_SAN ? 50.0 : 20.0));
    CHECK_EQ(corio_rt_free(rt), 0);
    slot_destroy(&pc.s);
}

/* A runtime that has been woken from another thread parks as cheaply
 * afterwards: the wake's trace in the kernel (the eventfd's count) is
 * consumed, or every later park would return at once and spin a core. */
static int idle_after_wake_main(void *arg)
{
    park_ctx *pc = arg;
    slot_fut f;
    slot_fut_init(&f, &pc->s);
    CHECK_EQ(corio_await(&f.base), 0); /* woken once from the plain thread */
    CHECK_EQ(f.base.result, 1);
    for (int round = 0; round < 2; round++) {
        double cpu0 = process_cpu_ms(), t0 = mono_ms();
        CHECK_EQ(corio_sleep(CORIO_MSEC(300)), 0);
        double cpu = process_cpu_ms() - cpu0, wall = mono_ms() - t0;
        if (cpu > 0.1 * wall)
            test_failf(__FILE__, __LINE__,
                       "after a foreign wake, the sleeping process used %.1f ms CPU in %.1f ms",
                       cpu, wall);
    }
    return 0;
}

TEST_TIMING(rt_idle_after_foreign_wake_costs_no_cpu)
{
    park_ctx pc;
    slot_init(&pc.s);
    pc.delay_ms = 20;
    pc.check_cpu = false;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
    int r = -1;
    CHECK_EQ(corio_run(idle_after_wake_main, &pc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    slot_destroy(&pc.s);
}

/* Sleeping in a timer costs no CPU either. */
static int idle_sleep_main(void *arg)
{
    double cpu0 = process_cpu_ms(), t0 = mono_ms();
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    double cpu = process_cpu_ms() - cpu0, wall = mono_ms() - t0;
    CHECK(wall >= 200);
    if (cpu > 40)
        test_failf(__FILE__, __LINE__, "sleeping runtime used %.1f ms CPU in %.1f ms", cpu, wall);
    return 0;
}

TEST_TIMING(rt_idle_sleep_costs_no_cpu)
{
    int r = -1;
    CHECK_EQ(corio_run(idle_sleep_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
}

/* ==== two runtimes ======================================================== */

/* Two runtimes driven by two threads: tasks of one complete futures that the
 * other's tasks wait for, join each other's tasks, and spawn onto each
 * other. */
typedef struct two_ctx {
    corio_rt *a, *b;
    slot a_to_b, b_to_a;
    corio_task *b_task; /* a task of runtime b, joined from runtime a */
    atomic_int b_ready;
    atomic_int spawned_on_b_ran;
} two_ctx;

static int on_b_from_a(void *arg)
{
    two_ctx *tc = arg;
    CHECK(corio_rt_current() == tc->b);
    atomic_fetch_add(&tc->spawned_on_b_ran, 1);
    return 0;
}

static int b_child(void *arg)
{
    two_ctx *tc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(corio_rt_current() == tc->b);
    return 500;
}

static int b_main(void *arg)
{
    two_ctx *tc = arg;
    CHECK_EQ(corio_spawn(b_child, tc, &tc->b_task), 0);
    atomic_store(&tc->b_ready, 1);
    slot_fut f;
    slot_fut_init(&f, &tc->a_to_b);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 11);    /* completed by a task of a */
    slot_complete(&tc->b_to_a, 22); /* wakes a task of a */
    for (int i = 0; atomic_load(&tc->spawned_on_b_ran) < 10; i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

static void *b_thread(void *arg)
{
    two_ctx *tc = arg;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(tc->b, b_main, tc, &r), 0);
    CHECK_EQ(r, 0);
    return NULL;
}

static int a_main(void *arg)
{
    two_ctx *tc = arg;
    while (!atomic_load(&tc->b_ready))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    corio_spawn_opts ob = {.rt = tc->b};
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn_with(&ob, on_b_from_a, tc, NULL), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(tc->b_task, &r), 0); /* a task of the other runtime */
    CHECK_EQ(r, 500);
    slot_complete(&tc->a_to_b, 11);
    slot_fut f;
    slot_fut_init(&f, &tc->b_to_a);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 22);
    return 0;
}

TEST(rt_two_runtimes_wake_and_join_each_other)
{
    two_ctx tc;
    memset(&tc, 0, sizeof tc);
    slot_init(&tc.a_to_b);
    slot_init(&tc.b_to_a);
    tc.a = new_rt();
    tc.b = new_rt();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, b_thread, &tc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(tc.a, a_main, &tc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&tc.spawned_on_b_ran), 10);
    CHECK_EQ(corio_rt_free(tc.a), 0);
    CHECK_EQ(corio_rt_free(tc.b), 0);
    slot_destroy(&tc.a_to_b);
    slot_destroy(&tc.b_to_a);
}

/* ==== many tasks ========================================================== */

static int many_fn(void *arg)
{
    atomic_int *n = arg;
    CHECK_EQ(corio_yield(), 0);
    atomic_fetch_add(n, 1);
    return 1;
}

static int many_main(void *arg)
{
    atomic_int *n = arg;
    int count = UNDER_SAN ? 2000 : 20000;
    corio_task **ts = calloc((size_t)count, sizeof *ts);
    CHECK(ts != NULL);
    for (int i = 0; i < count; i++) {
        CHECK_EQ(corio_spawn(many_fn, n, &ts[i]), 0);
        CHECK(ts[i] != NULL);
    }
    int sum = 0;
    for (int i = 0; i < count; i++) {
        int r = 0;
        CHECK_EQ(corio_task_join(ts[i], &r), 0);
        sum += r;
    }
    free(ts);
    CHECK_EQ(sum, count);
    return atomic_load(n);
}

TEST(rt_many_tasks_spawn_join)
{
    atomic_int n = 0;
    int r = -1;
    CHECK_EQ(corio_run(many_main, &n, &r), 0);
    CHECK_EQ(r, UNDER_SAN ? 2000 : 20000);
}

/* ==== stress ============================================================== */

/* Foreign threads hammer a driven runtime with spawns and wakes for a while;
 * the main task waits for all of it through a counter and a waker slot. No
 * spawn or wake may get lost, and shutdown must find nothing left. */
enum { HS_THREADS = 4, HS_SLOTS = 16 };

typedef struct hs_ctx {
    corio_rt *rt;
    slot slots[HS_SLOTS];
    corio_task *waiters[HS_SLOTS];
    atomic_int spawned, ran;
    atomic_int stop;
    atomic_int threads_done;
} hs_ctx;

static int hs_task(void *arg)
{
    hs_ctx *hc = arg;
    atomic_fetch_add(&hc->ran, 1);
    return 0;
}

static int hs_waiter(void *arg)
{
    slot *s = arg;
    int n = 0;
    /* wait on the slot over and over: each completion is one round */
    for (;;) {
        slot_fut f;
        slot_fut_init(&f, s);
        int rc = corio_await(&f.base);
        if (rc < 0)
            return rc;
        if (f.base.result == 2) /* the final round */
            return n;
        pthread_mutex_lock(&s->mu);
        s->ready = false;
        pthread_mutex_unlock(&s->mu);
        n++;
    }
}

static void *hs_thread(void *arg)
{
    hs_ctx *hc = arg;
    corio_spawn_opts o = {.rt = hc->rt};
    unsigned seed = (unsigned)(uintptr_t)&o;
    int cap = UNDER_SAN ? 1000 : 50000, mine = 0; /* spawns per thread */
    long ops = UNDER_SAN ? 20000 : 100000000; /* sanitizers: a bounded amount */
    while (!atomic_load(&hc->stop) && ops-- > 0) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 2 && mine < cap) {
            mine++;
            CHECK_EQ(corio_spawn_with(&o, hs_task, hc, NULL), 0);
            atomic_fetch_add(&hc->spawned, 1);
        } else {
            slot *s = &hc->slots[(seed >> 8) % HS_SLOTS];
            pthread_mutex_lock(&s->mu);
            if (s->value != 2) { /* not finished yet */
                s->ready = true;
                s->value = 1;
                corio_waker w = s->waker;
                s->waker = CORIO_WAKER_NONE;
                pthread_mutex_unlock(&s->mu);
                corio_waker_wake(&w);
            } else {
                pthread_mutex_unlock(&s->mu);
            }
        }
    }
    atomic_fetch_add(&hc->threads_done, 1);
    return NULL;
}

static int hs_main(void *arg)
{
    hs_ctx *hc = arg;
    for (int i = 0; i < HS_SLOTS; i++) {
        CHECK_EQ(corio_spawn(hs_waiter, &hc->slots[i], &hc->waiters[i]), 0);
        CHECK(hc->waiters[i] != NULL);
    }
    pthread_t th[HS_THREADS];
    for (int i = 0; i < HS_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, hs_thread, hc), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(UNDER_SAN ? 700 : 1000)), 0);
    atomic_store(&hc->stop, 1);
    for (int i = 0; atomic_load(&hc->threads_done) < HS_THREADS; i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    for (int i = 0; i < HS_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < HS_SLOTS; i++)
        slot_complete(&hc->slots[i], 2);
    int rounds = 0;
    for (int i = 0; i < HS_SLOTS; i++) {
        int r = -1;
        CHECK_EQ(corio_task_join(hc->waiters[i], &r), 0);
        CHECK(r >= 0);
        rounds += r;
    }
    CHECK(rounds > 0);
    /* every spawned task runs */
    for (int i = 0; atomic_load(&hc->ran) < atomic_load(&hc->spawned); i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    CHECK_EQ(atomic_load(&hc->ran), atomic_load(&hc->spawned));
    return 0;
}

TEST(rt_stress_foreign_spawns_and_wakes)
{
    hs_ctx *hc = calloc(1, sizeof *hc);
    CHECK(hc != NULL);
    for (int i = 0; i < HS_SLOTS; i++)
        slot_init(&hc->slots[i]);
    hc->rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(hc->rt, hs_main, hc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK(atomic_load(&hc->spawned) > 100);
    CHECK_EQ(corio_rt_free(hc->rt), 0);
    for (int i = 0; i < HS_SLOTS; i++) {
        CHECK_EQ(slot_drops(&hc->slots[i]), 0);
        slot_destroy(&hc->slots[i]);
    }
    free(hc);
}

/* Ping-pong with a plain thread: the task hands the ball over and at once
 * waits for it back, while the thread spins for the ball and wakes the task.
 * A lost unpark (the race between "I am about to sleep" and "there is
 * work") leaves the runtime asleep for good: the thread sees its ball
 * untouched for seconds and fails the test. The race window is a few
 * hundred nanoseconds at the moment the runtime, having found nothing to
 * run, goes to sleep; a fixed sweep of delays lands in it too rarely (one
 * run in three caught a planted lost wakeup). So the thread aims. A wake
 * that finds the runtime asleep makes a system call (the unpark) and takes
 * several times as long as one that finds it awake; after such a wake the
 * next one comes a little earlier, after any other (or one that came before
 * the task had even polled) a little later. The offset
 * settles where half the wakes find the runtime asleep - on its way into
 * the kernel, where the race is - and a small random part spreads the wakes
 * over that window. A positive offset is a spin of the thread's before its
 * wake; a negative one a spin of the task's after it handed the ball over
 * and before it waits (the thread's wake alone takes longer than the
 * runtime needs to fall asleep). Runs alone (a serial test), so both
 * threads have a CPU each. */
typedef struct pp_ctx {
    atomic_int ball; /* 1: the thread's turn, -1: quit */
    atomic_int task_spin; /* set by the thread: the task's spin (relaxed) */
    slot s;
    int rounds;
    double deadline_ms;
    int done_rounds;
    unsigned asleep; /* the thread's: wakes that made a system call */
} pp_ctx;

/* Rounds a run makes whatever its deadline (pp_main). */
#define PP_MIN_ROUNDS 1001

static void spin(int n)
{
    for (volatile int d = 0; d < n; d++) {
    }
}

static void *pp_thread(void *arg)
{
    pp_ctx *pc = arg;
    int offset = 0;
    unsigned rng = 0x2545f491u;
    corio_instant fast = 1000;
    double waiting_since = mono_ms();
    for (unsigned spins = 0;;) {
        int b = atomic_load(&pc->ball);
        if (b < 0) {
            printf("%u of the wakes found the runtime asleep; offset at the end %d\n",
                   pc->asleep, offset);
            return NULL;
        }
        if (b == 0) {
            if (++spins > 1000) {
                sched_yield();
                spins = 0;
                if (mono_ms() - waiting_since > 5000)
                    test_failf(__FILE__, __LINE__,
                               "the task did not take the ball back for 5 s: a lost wakeup");
            }
            continue;
        }
        spins = 0;
        atomic_store(&pc->ball, 0);
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        int jitter = (int)(rng & 63) - 32;
        if (offset + jitter > 0)
            spin(offset + jitter);
        pthread_mutex_lock(&pc->s.mu);
        bool polled = pc->s.waker.vtable != NULL;
        pthread_mutex_unlock(&pc->s.mu);
        corio_instant t0 = corio_instant_now();
        slot_complete(&pc->s, 1);
        corio_instant took = corio_instant_now() - t0;
        if (!polled) {
            /* Before the task's poll: nothing to wake, far too early. */
            if (offset < 20000)
                offset += 4;
        } else {
            /* `fast`: a wake's cost without a system call, robust to one
             * lucky sample (it halves its distance to a faster one, and
             * creeps back up). */
            fast = took < fast ? (fast + took) / 2 : fast + fast / 1024 + 1;
            if (took > 2 * fast + 300) { /* it made a system call: asleep */
                pc->asleep++;
                if (offset > -20000)
                    offset -= 4;
            } else if (offset < 20000) {
                offset += 4;
            }
        }
        /* For the task's next round (read after it takes the ball back). */
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        jitter = (int)(rng & 63) - 32;
        atomic_store_explicit(&pc->task_spin, offset + jitter < 0 ? -(offset + jitter) : 0,
                              memory_order_relaxed);
        waiting_since = mono_ms();
    }
}

static int pp_main(void *arg)
{
    pp_ctx *pc = arg;
    int i;
    /* The deadline ends the run only after PP_MIN_ROUNDS: on a loaded
     * machine (the CPUs shared with other processes) a round can take far
     * longer than alone, and the test is worth its rounds, not its time. */
    for (i = 0; i < pc->rounds && (i < PP_MIN_ROUNDS || mono_ms() < pc->deadline_ms); i++) {
        pthread_mutex_lock(&pc->s.mu);
        pc->s.ready = false;
        pthread_mutex_unlock(&pc->s.mu);
        int task_spin = atomic_load_explicit(&pc->task_spin, memory_order_relaxed);
        atomic_store(&pc->ball, 1);
        spin(task_spin);
        slot_fut f;
        slot_fut_init(&f, &pc->s);
        CHECK_EQ(corio_await(&f.base), 0);
        CHECK_EQ(f.base.result, 1);
    }
    pc->done_rounds = i;
    atomic_store(&pc->ball, -1);
    return 0;
}

/* On `rt`, or with corio_run (a multi-thread runtime) when NULL. */
static void ping_pong_with_plain_thread(corio_rt *rt)
{
    pp_ctx pc;
    memset(&pc, 0, sizeof pc);
    slot_init(&pc.s);
    pc.rounds = UNDER_SAN ? 50000 : 500000;
    pc.deadline_ms = mono_ms() + (UNDER_SAN ? 2000 : 3000);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pp_thread, &pc), 0);
    int r = -1;
    if (rt)
        CHECK_EQ(corio_rt_block_on(rt, pp_main, &pc, &r), 0);
    else
        CHECK_EQ(corio_run(pp_main, &pc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    printf("%d round trips\n", pc.done_rounds);
    CHECK(pc.done_rounds >= PP_MIN_ROUNDS);
    slot_destroy(&pc.s);
}

TEST_T(rt_stress_ping_pong_with_plain_thread, 60, 1)
{
    ping_pong_with_plain_thread(NULL);
}

/* The same on a current-thread runtime, whose driver parks in the I/O
 * driver with its own handshake (parked flag against the inject queue). */
TEST_T(rt_stress_ping_pong_with_plain_thread_current_thread, 60, 1)
{
    corio_rt *rt = new_rt();
    ping_pong_with_plain_thread(rt);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* The same on a multi-thread runtime of ONE worker. corio_run's default of
 * a worker per CPU hides a lost unpark: the worker asleep in the I/O driver
 * wakes every WATCH_NS (1 ms) while another worker was busy when it went to
 * sleep, and then finds the task in the global queue, so a lost unpark there
 * costs a millisecond, not a hang. A lone worker has nobody to watch for:
 * it sleeps in the driver with no timeout (no timer is armed here), and only
 * the unpark of the thread's wake can end that sleep. A wake lost between
 * "nothing to run" and "asleep" (the last searcher parking without looking
 * at the queues again, or an unpark that misses the state the parker just
 * set) leaves the task queued and the worker asleep for good, which the
 * thread reports after 5 s without its ball. */
TEST_T(rt_stress_ping_pong_with_plain_thread_one_worker, 60, 1)
{
    corio_rt *rt = new_mt_rt(1);
    ping_pong_with_plain_thread(rt);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Two workers, so that wakes also go to a worker asleep on its own futex
 * (the other holds the driver). Without a watcher the lost unpark of one on
 * the futex is a hang too; with one it is a millisecond's delay. */
TEST_T(rt_stress_ping_pong_with_plain_thread_two_workers, 60, 1)
{
    corio_rt *rt = new_mt_rt(2);
    ping_pong_with_plain_thread(rt);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Threads that each drive a runtime once and exit leave nothing behind: the
 * alternate signal stack every such thread gets for overflow reports (64
 * KiB) is unmapped when it exits. 1,000 of them would otherwise add 64 MiB
 * of address space and 1,000 mappings. */
static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int tiny_main(void *arg)
{
    (void)arg;
    return corio_yield();
}

static void *run_once_thread(void *arg)
{
    (void)arg;
    int r = -1;
    CHECK_EQ(corio_run(tiny_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    return NULL;
}

TEST(rt_threads_that_ran_a_runtime_leave_no_mappings)
{
    /* glibc gives a thread that meets contention in malloc an arena of its
     * own: 64 MiB of address space in 2 mappings, once per arena, up to 8
     * per core (a CI run saw +65536 KiB). That is the allocator's, not a
     * leak of corio's: one arena (this test runs in a process of its own). */
    mallopt(M_ARENA_MAX, 1);
    /* The first threads set up what is process-wide (the stack pool's first
     * slab, the handler): measure after them. */
    for (int i = 0; i < 4; i++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, run_once_thread, NULL), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
    }
    long maps0 = count_maps(), vm0 = vm_size_kb();
    int n = SCALE(1000, 300, 100);
    for (int i = 0; i < n; i++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, run_once_thread, NULL), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
    }
    long maps1 = count_maps(), vm1 = vm_size_kb();
    printf("%d threads that each ran a runtime: %+ld mappings, %+ld KiB of address space\n", n,
           maps1 - maps0, vm1 - vm0);
    if (!UNDER_TSAN) /* TSan maps state of its own per thread */
        CHECK(maps1 - maps0 < 32);
    /* Under qemu-user, VmSize is the emulator's, which keeps memory of its
     * own per guest thread; the guest's mappings above are what count. */
    if (!test_emulated())
        CHECK(vm1 - vm0 < 8 * 1024);
}
