/* tests/test_rt_multi_thread.c - the multi-thread runtime's behaviour: its
 * builder (worker count from the environment and the affinity mask, thread
 * names, hooks, invalid values), a task stuck in a long poll stalling
 * neither the task in its LIFO slot nor the timers nor I/O, the cooperative
 * budget, an idle runtime's CPU, several runtimes side by side, and
 * spawning from a task, a plain thread and a blocking job.
 *
 * The stress tests are in test_rt_mt_stress.c, the blocking pool's in
 * test_rt_blocking.c.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== the builder ========================================================== */

typedef struct hook_ctx {
    atomic_int started, stopped;
} hook_ctx;

static void hook_start(void *arg)
{
    atomic_fetch_add(&((hook_ctx *)arg)->started, 1);
}

static void hook_stop(void *arg)
{
    atomic_fetch_add(&((hook_ctx *)arg)->stopped, 1);
}

/* Build a multi-thread runtime from `b` with counting hooks; returns how
 * many threads it started (its workers: no blocking job has run). Waits
 * (up to 10 s: a loaded machine may be slow to start them) for `expect`
 * threads, then a little more to catch any extra one. */
static unsigned workers_of(corio_rt_builder b, unsigned expect)
{
    hook_ctx hc;
    memset(&hc, 0, sizeof hc);
    b.on_thread_start = hook_start;
    b.on_thread_stop = hook_stop;
    b.hook_arg = &hc;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    /* The hooks run on the new threads: wait until they have. */
    double t0 = mono_ms();
    while (atomic_load(&hc.started) < (int)expect && mono_ms() - t0 < 10000)
        sleep_ms(1);
    sleep_ms(20); /* one more than expected would have started by now */
    unsigned n = (unsigned)atomic_load(&hc.started);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(atomic_load(&hc.stopped), (int)n); /* every one stopped, by the free */
    return n;
}

TEST(rt_mt_builder_rejects_invalid_values)
{
    corio_rt *rt = (corio_rt *)1;
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = CORIO_MAX_WORKER_THREADS + 1;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    b = corio_rt_builder_multi_thread();
    b.thread_stack_size = 4096;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    b = corio_rt_builder_multi_thread();
    b.blocking_keep_alive = -1;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    b = corio_rt_builder_multi_thread();
    b.stack_size = CORIO_STACK_SIZE_MAX + 1;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    b = corio_rt_builder_multi_thread();
    b.flavor = (corio_rt_flavor)7;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    /* CORIO_WORKER_THREADS must be a count in range when it decides. */
    const char *bad[] = {"abc", "0", "-2", "+2", " 2", "3x", "", "100000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(setenv("CORIO_WORKER_THREADS", bad[i], 1), 0);
        b = corio_rt_builder_multi_thread();
        CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
        CHECK_EQ(corio_run(must_not_run, NULL, NULL), -EINVAL);
    }
    CHECK(rt == NULL); /* set to NULL on failure (docs/conventions.md) */
    CHECK_EQ(atomic_load(&never_called), 0);
    /* A field that does not apply to the flavour is ignored: the worker
     * count of a current-thread builder, even out of range. */
    unsetenv("CORIO_WORKER_THREADS");
    b = corio_rt_builder_current_thread();
    b.worker_threads = CORIO_MAX_WORKER_THREADS + 1;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(setenv("CORIO_WORKER_THREADS", "100000", 1), 0);
    /* An explicit count wins over the variable (as in tokio). */
    b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    CHECK_EQ(workers_of(b, 2), 2u);
    unsetenv("CORIO_WORKER_THREADS");
}

TEST(rt_mt_worker_count_from_environment_and_affinity)
{
    CHECK_EQ(setenv("CORIO_WORKER_THREADS", "3", 1), 0);
    CHECK_EQ(workers_of(corio_rt_builder_multi_thread(), 3), 3u);
    unsetenv("CORIO_WORKER_THREADS");
    /* The default follows the affinity mask (taskset, containers). */
    cpu_set_t old, one;
    CHECK_EQ(sched_getaffinity(0, sizeof old, &old), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &old))
            first = c;
    CHECK(first >= 0);
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    CHECK_EQ(workers_of(corio_rt_builder_multi_thread(), 1), 1u);
    CHECK_EQ(sched_setaffinity(0, sizeof old, &old), 0);
    CHECK_EQ(workers_of(corio_rt_builder_multi_thread(), (unsigned)CPU_COUNT(&old)),
             (unsigned)CPU_COUNT(&old));
}

/* Names of this process's threads that start with `prefix`. */
static int threads_named(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* exited meanwhile */
        if (fgets(name, sizeof name, f) && strncmp(name, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static int name_main(void *arg)
{
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    CHECK(strncmp(name, "mtpool-", 7) == 0);
    return 0;
}

TEST(rt_mt_thread_names_and_stack_size)
{
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 3;
    b.thread_name_prefix = "mtpool";
    b.thread_stack_size = 256 * 1024;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    double t0 = mono_ms();
    while (threads_named("mtpool-") < 3 && mono_ms() - t0 < 10000)
        sleep_ms(1);
    CHECK_EQ(threads_named("mtpool-"), 3);
    CHECK_EQ(threads_named("mtpool-0"), 1);
    CHECK_EQ(threads_named("mtpool-2"), 1);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, name_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    /* Free joined the workers. pthread_join returns once the thread has
     * cleared its tid, which the kernel does (and qemu-user does, in the
     * aarch64 run) a moment before the thread leaves /proc/self/task: give
     * the reaper that moment, but a thread that never goes away fails. */
    t0 = mono_ms();
    while (threads_named("mtpool-") > 0 && mono_ms() - t0 < 10000)
        sleep_ms(1);
    CHECK_EQ(threads_named("mtpool-"), 0);
}

/* ==== a task stuck in a long poll ============================================ */

/* The parent spawns a child (into its worker's LIFO slot, where it would
 * run next) and then computes for 300 ms without awaiting. Another worker
 * takes the child (tokio#4941: there it waits the whole 300 ms). */
typedef struct stuck_ctx {
    atomic_llong child_started_at;
} stuck_ctx;

static int stuck_child(void *arg)
{
    stuck_ctx *sc = arg;
    atomic_store(&sc->child_started_at, (long long)corio_instant_now());
    return 0;
}

static int stuck_parent(void *arg)
{
    stuck_ctx *sc = arg;
    /* Let both workers go to sleep: this task is then resumed by the one
     * that wakes for its timer, with nobody else awake to look. */
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    corio_task *t;
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_spawn(stuck_child, sc, &t), 0);
    busy_until(t0 + CORIO_MSEC(300));
    long long started = atomic_load(&sc->child_started_at);
    CHECK(started != 0); /* it ran while we computed */
    CHECK_EQ(corio_task_join(t, NULL), 0);
    return (int)((started - (long long)t0) / 1000000);
}

/* Run `parent` (ctx, `size` bytes, zeroed before each run) on 2, 3 and 4
 * workers: more workers than the one stuck and the one that woke it, the
 * searchers' chain of wakes (each searcher that finds work wakes another)
 * then does not reach the sleeper in the driver. It returns after how many
 * ms its last child started, which must be well inside its 300 ms. */
static void on_2_to_4_workers(corio_fn parent, void *ctx, size_t size)
{
    for (int i = 0; i < 3; i++) {
        memset(ctx, 0, size);
        corio_rt *rt = new_mt_rt(2 + i);
        int started_ms = -1;
        CHECK_EQ(corio_rt_block_on(rt, parent, ctx, &started_ms), 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        printf("%d workers: (last) child started after %d ms\n", 2 + i, started_ms);
        CHECK(started_ms >= 0 && started_ms < 250);
    }
}

TEST_TIMING(rt_mt_task_in_lifo_slot_of_a_stuck_worker_runs_elsewhere)
{
    stuck_ctx sc;
    on_2_to_4_workers(stuck_parent, &sc, sizeof sc);
}

/* The same with a short local queue: three children (the first two are
 * pushed out of the LIFO slot into the queue by the next). A queue that
 * short is left to its owner while the owner keeps polling; once the owner
 * has been in one poll for a while, other workers take it. */
typedef struct short_q_ctx {
    atomic_llong started_at[3];
} short_q_ctx;

static int short_q_child(void *arg)
{
    atomic_store((atomic_llong *)arg, (long long)corio_instant_now());
    return 0;
}

static int short_q_parent(void *arg)
{
    short_q_ctx *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0); /* both workers asleep, as above */
    corio_task *t[3];
    corio_instant t0 = corio_instant_now();
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn(short_q_child, &sc->started_at[i], &t[i]), 0);
    busy_until(t0 + CORIO_MSEC(300));
    long long last = 0;
    for (int i = 0; i < 3; i++) {
        long long started = atomic_load(&sc->started_at[i]);
        CHECK(started != 0); /* it ran while we computed */
        if (started > last)
            last = started;
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    }
    return (int)((last - (long long)t0) / 1000000);
}

TEST_TIMING(rt_mt_short_queue_of_a_stuck_worker_runs_elsewhere)
{
    short_q_ctx sc;
    on_2_to_4_workers(short_q_parent, &sc, sizeof sc);
}

/* While one worker computes for 600 ms, timers keep firing on time for the
 * tasks elsewhere - including timers armed on the stuck worker's own wheel
 * before it got stuck. */
typedef struct tick_ctx {
    atomic_int stop;
    double worst_late_ms;
    int ticks;
} tick_ctx;

static int ticker(void *arg)
{
    tick_ctx *tc = arg;
    while (!atomic_load(&tc->stop)) {
        corio_instant due = corio_instant_now() + CORIO_MSEC(5);
        CHECK_EQ(corio_sleep_until(due), 0);
        double late = (double)(corio_instant_now() - due) / 1e6;
        if (late > tc->worst_late_ms)
            tc->worst_late_ms = late;
        tc->ticks++;
    }
    return 0;
}

static int hog(void *arg)
{
    busy_until(corio_instant_now() + CORIO_MSEC(600));
    return 0;
}

static int stall_main(void *arg)
{
    tick_ctx *tc = arg;
    corio_task *tk[4], *h;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_spawn(ticker, &tc[i], &tk[i]), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(30)), 0); /* their timers are armed on both wheels */
    CHECK_EQ(corio_spawn(hog, NULL, &h), 0);
    CHECK_EQ(corio_task_join(h, NULL), 0);
    for (int i = 0; i < 4; i++) {
        atomic_store(&tc[i].stop, 1);
        CHECK_EQ(corio_task_join(tk[i], NULL), 0);
    }
    return 0;
}

TEST_TIMING(rt_mt_stuck_worker_does_not_stall_timers)
{
    tick_ctx tc[4];
    memset(tc, 0, sizeof tc);
    corio_rt *rt = new_mt_rt(2);
    long long delay0 = thread_run_delay_ns();
    CHECK_EQ(corio_rt_block_on(rt, stall_main, tc, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    double slack = (double)(thread_run_delay_ns() - delay0) / 1e6;
    for (int i = 0; i < 4; i++) {
        /* 600 ms of hog: the stall would show as a tick ~600 ms late. */
        CHECK(tc[i].ticks >= 20);
        if (tc[i].worst_late_ms > 150 + slack)
            test_failf(__FILE__, __LINE__, "ticker %d was %.1f ms late while a worker was stuck", i,
                       tc[i].worst_late_ms);
    }
}

/* And I/O: a task woken by an fd computes for 600 ms on the worker whose
 * driver turn woke it, after the whole runtime has been asleep (nobody
 * watching then); a reader of another pipe, fed every 5 ms by a plain
 * thread, keeps getting its bytes on time: another worker takes up the
 * driver. */
typedef struct io_stall_ctx {
    int hog_fd[2], tick_fd[2];
    double worst_late_ms;
    int ticks;
} io_stall_ctx;

static void *io_stall_feeder(void *arg)
{
    io_stall_ctx *c = arg;
    sleep_ms(60); /* every worker asleep, the watch lapsed */
    CHECK_EQ(write(c->hog_fd[1], "h", 1), 1);
    for (int i = 0; i < 100; i++) { /* about 600 ms */
        sleep_ms(5);
        corio_instant now = corio_instant_now();
        CHECK_EQ(write(c->tick_fd[1], &now, sizeof now), (ssize_t)sizeof now);
    }
    close(c->tick_fd[1]); /* the reader's end of stream */
    return NULL;
}

static int io_stall_hog(void *arg)
{
    io_stall_ctx *c = arg;
    corio_fd *f;
    CHECK_EQ(corio_fd_open(c->hog_fd[0], &f), 0);
    char b;
    CHECK_EQ(corio_fd_read(f, &b, 1), 1);
    busy_until(corio_instant_now() + CORIO_MSEC(600));
    CHECK_EQ(corio_fd_close(f), 0);
    return 0;
}

static int io_stall_reader(void *arg)
{
    io_stall_ctx *c = arg;
    corio_fd *f;
    CHECK_EQ(corio_fd_open(c->tick_fd[0], &f), 0);
    corio_instant sent;
    ssize_t n;
    /* Writes of 8 bytes to a pipe are atomic: whole stamps only. */
    while ((n = corio_fd_read(f, &sent, sizeof sent)) == (ssize_t)sizeof sent) {
        double late = (double)(corio_instant_now() - sent) / 1e6;
        if (late > c->worst_late_ms)
            c->worst_late_ms = late;
        c->ticks++;
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(corio_fd_close(f), 0);
    return 0;
}

static int io_stall_main(void *arg)
{
    io_stall_ctx *c = arg;
    corio_task *h, *r;
    CHECK_EQ(corio_spawn(io_stall_hog, c, &h), 0);
    CHECK_EQ(corio_spawn(io_stall_reader, c, &r), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, io_stall_feeder, c), 0);
    CHECK_EQ(corio_task_join(r, NULL), 0);
    CHECK_EQ(corio_task_join(h, NULL), 0);
    pthread_join(th, NULL);
    return 0;
}

TEST_TIMING(rt_mt_stuck_worker_does_not_stall_io)
{
    for (int workers = 2; workers <= 3; workers++) {
        io_stall_ctx c;
        memset(&c, 0, sizeof c);
        CHECK_EQ(pipe(c.hog_fd), 0);
        CHECK_EQ(pipe(c.tick_fd), 0);
        corio_rt *rt = new_mt_rt((unsigned)workers);
        long long delay0 = thread_run_delay_ns();
        CHECK_EQ(corio_rt_block_on(rt, io_stall_main, &c, NULL), 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        close(c.hog_fd[1]);
        double slack = (double)(thread_run_delay_ns() - delay0) / 1e6;
        printf("%d workers: %d stamps, the latest %.1f ms late\n", workers, c.ticks,
               c.worst_late_ms);
        CHECK_EQ(c.ticks, 100);
        /* Stalled, a stamp would wait out most of the hog's 600 ms. */
        if (c.worst_late_ms > 150 + slack)
            test_failf(__FILE__, __LINE__, "a stamp was %.1f ms late while a worker was stuck",
                       c.worst_late_ms);
    }
}

/* ==== the cooperative budget ================================================== */

/* A task awaiting futures that are always ready never suspends on its own;
 * the budget makes it yield, so the task that stops it gets to run - on a
 * single thread, where nothing else could. */
typedef struct coop_ctx {
    atomic_int stop;
    long awaits_before_stop;
} coop_ctx;

static int coop_greedy(void *arg)
{
    coop_ctx *cc = arg;
    long n = 0;
    int runs = 0;
    while (!atomic_load(&cc->stop)) {
        ready_fut f;
        ready_fut_init(&f, &runs);
        CHECK_EQ(corio_await(&f.base), 0);
        n++;
    }
    cc->awaits_before_stop = n;
    return 0;
}

static int coop_stopper(void *arg)
{
    atomic_store(&((coop_ctx *)arg)->stop, 1);
    return 0;
}

static int coop_main(void *arg)
{
    corio_task *g, *s;
    CHECK_EQ(corio_spawn(coop_greedy, arg, &g), 0);
    CHECK_EQ(corio_spawn(coop_stopper, arg, &s), 0);
    CHECK_EQ(corio_task_join(g, NULL), 0);
    CHECK_EQ(corio_task_join(s, NULL), 0);
    return 0;
}

TEST(rt_coop_budget_makes_always_ready_awaits_yield)
{
    coop_ctx cc;
    memset(&cc, 0, sizeof cc);
    CHECK_EQ(run_main(coop_main, &cc), 0); /* one thread */
    CHECK(cc.awaits_before_stop >= 1 && cc.awaits_before_stop <= CORIO_COOP_BUDGET);
    memset(&cc, 0, sizeof cc);
    corio_rt *rt = new_mt_rt(1);
    CHECK_EQ(corio_rt_block_on(rt, coop_main, &cc, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK(cc.awaits_before_stop <= CORIO_COOP_BUDGET);
}

/* ==== the LIFO slot's chains ================================================ */

/* Two tasks bouncing a message wake each other into the worker's LIFO slot,
 * where each runs next; the chain of LIFO polls in a row must end, so that
 * a task waiting in the queue gets its turn: after at most 32 polls (16
 * round trips), or sooner once the chain has run about 20 us. */
typedef struct bounce_ctx {
    corio_mpsc_tx *ping_tx, *pong_tx;
    corio_mpsc_rx *ping_rx, *pong_rx;
    double spin_us;        /* CPU each side burns per poll */
    atomic_int stop;
    atomic_long rounds;    /* round trips so far */
    long rounds_in_chain;  /* round trips while the queued task waited */
} bounce_ctx;

static void burn_us(double us)
{
    double t0 = mono_ms();
    while (us > 0 && (mono_ms() - t0) * 1e3 < us)
        ;
}

static int bounce_echo(void *arg)
{
    bounce_ctx *b = arg;
    uint64_t v;
    while (corio_mpsc_recv(b->ping_rx, &v) == 0) {
        burn_us(b->spin_us);
        if (corio_mpsc_send(b->pong_tx, &v) != 0)
            break;
    }
    return 0;
}

static int bounce_pinger(void *arg)
{
    bounce_ctx *b = arg;
    uint64_t v = 0;
    while (!atomic_load(&b->stop)) {
        CHECK_EQ(corio_mpsc_send(b->ping_tx, &v), 0);
        CHECK_EQ(corio_mpsc_recv(b->pong_rx, &v), 0);
        burn_us(b->spin_us);
        atomic_fetch_add(&b->rounds, 1);
    }
    corio_mpsc_tx_release(b->ping_tx); /* the echo sees the channel closed */
    return 0;
}

static int bounce_main(void *arg)
{
    bounce_ctx *b = arg;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 1, &b->ping_tx, &b->ping_rx), 0);
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 1, &b->pong_tx, &b->pong_rx), 0);
    corio_task *e, *p;
    CHECK_EQ(corio_spawn(bounce_echo, b, &e), 0);
    CHECK_EQ(corio_spawn(bounce_pinger, b, &p), 0);
    /* To the back of the queue: the pair runs, and this task's turn comes
     * only when a chain of theirs ends. */
    CHECK_EQ(corio_yield(), 0);
    while (atomic_load(&b->rounds) == 0) /* the pair had not started yet */
        CHECK_EQ(corio_yield(), 0);
    long before = atomic_load(&b->rounds);
    CHECK_EQ(corio_yield(), 0); /* from the back again: one whole chain */
    b->rounds_in_chain = atomic_load(&b->rounds) - before;
    atomic_store(&b->stop, 1);
    CHECK_EQ(corio_task_join(p, NULL), 0);
    CHECK_EQ(corio_task_join(e, NULL), 0);
    corio_mpsc_rx_release(b->ping_rx);
    corio_mpsc_tx_release(b->pong_tx);
    corio_mpsc_rx_release(b->pong_rx);
    return 0;
}

static long bounce_rounds(double spin_us)
{
    bounce_ctx b;
    memset(&b, 0, sizeof b);
    b.spin_us = spin_us;
    corio_rt *rt = new_mt_rt(1); /* one worker: nobody else takes the queue */
    CHECK_EQ(corio_rt_block_on(rt, bounce_main, &b, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    return b.rounds_in_chain;
}

TEST(rt_mt_lifo_chain_of_a_bouncing_pair_ends)
{
    /* Short polls: the count ends the chain at 32 polls, 16 round trips
     * (with no end, the queued task would never run, and this would hang). */
    long quick = bounce_rounds(0);
    CHECK(quick >= 1);
    CHECK(quick <= 17);
    /* Polls of 100 us: the clock ends it, read after the first 3 polls and
     * every 8th after them, so at the 11th poll at the latest, the 6th
     * round trip (a preempted thread only ends it sooner). */
    long slow = bounce_rounds(100);
    CHECK(slow >= 1);
    CHECK(slow <= 6);
}

/* ==== idle CPU ================================================================ */

static double process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int idle_burst(void *arg)
{
    return (int)(intptr_t)arg;
}

static long voluntary_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw;
}

typedef struct idle_ctx {
    double cpu_share;
    long sleeps; /* times a thread of the process blocked */
} idle_ctx;

/* After a burst of work, the runtime's workers all go to sleep: over a
 * second with one timer pending and nothing else, the whole process uses a
 * few ms of CPU, and its threads block a handful of times (a worker that
 * kept waking to watch would block a thousand times a second). */
static int idle_main(void *arg)
{
    idle_ctx *ic = arg;
    corio_task *ts[256];
    for (int i = 0; i < 256; i++)
        CHECK_EQ(corio_spawn(idle_burst, (void *)(intptr_t)i, &ts[i]), 0);
    for (int i = 0; i < 256; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(50)), 0); /* let every worker park */
    double cpu0 = process_cpu_ms(), t0 = mono_ms();
    long sw0 = voluntary_switches();
    CHECK_EQ(corio_sleep(CORIO_MSEC(1000)), 0);
    ic->sleeps = voluntary_switches() - sw0;
    ic->cpu_share = (process_cpu_ms() - cpu0) / (mono_ms() - t0);
    return 0;
}

TEST_TIMING(rt_mt_idle_runtime_costs_no_cpu)
{
    /* 4 and 8 workers too: sleepers that all watched, each waking every
     * 1 ms, kept each other at it (a wake moves a poll count, which looks
     * like work to the others): 460 and 4,600 blocks in the idle second. */
    for (unsigned n = 2; n <= 8; n *= 2) {
        idle_ctx ic = {1, 0};
        corio_rt *rt = new_mt_rt(n);
        CHECK_EQ(corio_rt_block_on(rt, idle_main, &ic, NULL), 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        printf("idle %u-worker runtime: %.3f%% of a CPU, %ld blocking waits\n", n,
               ic.cpu_share * 100, ic.sleeps);
        if (ic.cpu_share > 0.02)
            test_failf(__FILE__, __LINE__, "idle %u-worker runtime used %.1f%% of a CPU", n,
                       ic.cpu_share * 100);
        /* Under TSan a sleep is cut in 50 ms slices (arch/fiber.h). */
        if (ic.sleeps > SCALE(50, 50, 1000))
            test_failf(__FILE__, __LINE__, "idle %u-worker runtime blocked %ld times in 1 s", n,
                       ic.sleeps);
    }
}

/* ==== several runtimes; spawning from everywhere ============================= */

typedef struct where_ctx {
    corio_rt *rt;
    atomic_int ran_on_rt;
} where_ctx;

static int check_rt(void *arg)
{
    where_ctx *wc = arg;
    CHECK(corio_rt_current() == wc->rt);
    atomic_fetch_add(&wc->ran_on_rt, 1);
    return 5;
}

/* A blocking job spawns into its runtime (no opts.rt) and joins, as plain
 * code. */
static int blocking_spawner(void *arg)
{
    where_ctx *wc = arg;
    CHECK(corio_rt_current() == wc->rt);
    corio_task *t;
    CHECK_EQ(corio_spawn(check_rt, wc, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    return r + 1;
}

static int where_main(void *arg)
{
    where_ctx *wc = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(check_rt, wc, &t), 0); /* from a task */
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 5);
    CHECK_EQ(corio_spawn_blocking(blocking_spawner, wc, &t), 0);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 6);
    /* Sleep long enough for the other runtime's tasks to interleave. */
    for (int i = 0; i < 20; i++)
        CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    return 0;
}

static void *drive_thread(void *arg)
{
    where_ctx *wc = arg;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(wc->rt, where_main, wc, &r), 0);
    CHECK_EQ(r, 0);
    return NULL;
}

TEST(rt_mt_several_runtimes_spawn_from_task_thread_and_blocking_job)
{
    where_ctx wc[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        wc[i].rt = new_mt_rt(2);
        atomic_init(&wc[i].ran_on_rt, 0);
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, drive_thread, &wc[i]), 0);
    /* From this plain thread, into each (opts.rt), while they run. */
    for (int i = 0; i < 3; i++) {
        corio_spawn_opts o = {.rt = wc[i].rt};
        corio_task *t;
        CHECK_EQ(corio_spawn_with(&o, check_rt, &wc[i], &t), 0);
        int r = 0;
        CHECK_EQ(corio_task_join(t, &r), 0);
        CHECK_EQ(r, 5);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    /* Freeing one leaves the others working. */
    CHECK_EQ(corio_rt_free(wc[0].rt), 0);
    for (int i = 1; i < 3; i++) {
        CHECK_EQ(pthread_create(&th[i], NULL, drive_thread, &wc[i]), 0);
        pthread_join(th[i], NULL);
        CHECK_EQ(corio_rt_free(wc[i].rt), 0);
    }
    CHECK_EQ(atomic_load(&wc[0].ran_on_rt), 3);
    CHECK_EQ(atomic_load(&wc[1].ran_on_rt), 5);
    CHECK_EQ(atomic_load(&wc[2].ran_on_rt), 5);
}
