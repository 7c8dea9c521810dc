/* multi_thread.c - a multi-thread runtime with 8 workers, built two ways.
 *
 * Mirrors "Runtime Configuration" of seed 000 ("Performance Tuning and
 * Monitoring"):
 *
 *     #[tokio::main(flavor = "multi_thread", worker_threads = 8)]
 *     async fn main() { ... }
 *
 *     let runtime = tokio::runtime::Builder::new_multi_thread()
 *         .worker_threads(8).max_blocking_threads(16).enable_all().build().unwrap();
 *     runtime.block_on(async { ... });
 *
 * How the C version maps onto it:
 *  - the attribute is sugar for the builder; in C both are the builder:
 *    corio_rt_builder_multi_thread() gives a corio_rt_builder with every
 *    default in place, `b.worker_threads = 8` is .worker_threads(8),
 *    corio_rt_build is .build() (it returns a status, not a Result to
 *    unwrap), corio_rt_block_on(rt, fn, arg, &result) is .block_on(async {}),
 *    and corio_rt_free drops the runtime (shuts it down, joins its threads).
 *    Plain corio_run() is #[tokio::main] with no arguments: as many workers
 *    as CPUs (or $CORIO_WORKER_THREADS).
 *  - .enable_all() has nothing to map to: every corio runtime has its timer
 *    wheel and I/O driver.
 *  - (b) sets the builder's other fields as tokio's Builder methods would:
 *    max_blocking_threads (.max_blocking_threads), thread_name_prefix
 *    (.thread_name), thread_stack_size (.thread_stack_size), stack_size (the
 *    coroutines' stacks; tokio's tasks have none), blocking_keep_alive
 *    (.thread_keep_alive), event_interval (.event_interval),
 *    global_queue_interval (.global_queue_interval), and on_thread_start /
 *    on_thread_stop with hook_arg (.on_thread_start / .on_thread_stop, a C
 *    function and its argument in place of a closure). The hooks count the
 *    threads and record their ids. They run for blocking-pool threads too;
 *    this program starts none, so they see the 8 workers only.
 * Each run spawns 64 tasks that record, with gettid(), the OS thread they run
 * on at the start and after each of their 4 awaits (sleeps and yields): a
 * task may resume on another worker than the one it suspended on. (gettid,
 * not pthread_self: glibc declares pthread_self `const`, so a compiler may
 * keep its value across the await - corio/task.h, "thread-local state and
 * migration".) Each run prints the threads of the process, how many
 * distinct threads ran the tasks (at most 8; how many depends on the machine
 * and its load), that none of them is the main thread (it only waits in
 * corio_rt_block_on), and the names of the threads: prefix-N, with the first
 * 10 bytes of the prefix (Linux keeps 15 of a name), "corio-work-N" by
 * default, "app-worker-N" in (b).
 *
 *   usage: multi_thread [tasks]      (default 64)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, pthread_getname_np */
#endif
#include <corio.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS 8
#define STEPS 4 /* awaits per task */
#define MAX_TASKS 4096
#define PREFIX "app-worker" /* Linux keeps 15 bytes of a name: prefix-N */

static int ntasks = 64;
static pid_t main_tid;

/* ---- the hooks of (b) -------------------------------------------------------- */

typedef struct hooks {
    atomic_int started, stopped;
    _Atomic pid_t tids[64]; /* ids of the threads that ran on_thread_start */
} hooks;

static void on_start(void *arg)
{
    hooks *h = arg;
    int i = atomic_fetch_add(&h->started, 1);
    if (i < 64)
        atomic_store(&h->tids[i], gettid());
}

static void on_stop(void *arg)
{
    hooks *h = arg;
    atomic_fetch_add(&h->stopped, 1);
}

static int hooked(hooks *h, pid_t tid)
{
    int n = atomic_load(&h->started);
    for (int i = 0; i < n && i < 64; i++)
        if (atomic_load(&h->tids[i]) == tid)
            return 1;
    return 0;
}

/* ---- the tasks ----------------------------------------------------------------- */

typedef struct task_rec {
    int index;
    pid_t tid[STEPS + 1]; /* the thread at the start and after each await */
    char name[16];        /* that thread's name at the start */
} task_rec;

static int worker_task(void *arg)
{
    task_rec *r = arg;
    r->tid[0] = gettid();
    pthread_getname_np(pthread_self(), r->name, sizeof r->name);
    for (int s = 1; s <= STEPS; s++) {
        /* Sleep 1-3 ms, then yield, twice over. */
        int rc = s % 2 ? corio_sleep(CORIO_MSEC(1 + r->index % 3)) : corio_yield();
        if (rc < 0)
            return rc;
        r->tid[s] = gettid();
    }
    return 0;
}

typedef struct run_ctx {
    hooks *hk;          /* (b) only */
    const char *prefix; /* expected thread-name prefix */
    task_rec *recs;
    int threads; /* threads of the process while the tasks ran */
} run_ctx;

/* The "Threads:" line of /proc/self/status: every thread of the process. */
static int process_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* The body of both block_on calls: spawn, join, report. */
static int async_main(void *arg)
{
    run_ctx *c = arg;
    corio_task **h = calloc((size_t)ntasks, sizeof *h);
    if (!h)
        return 1;
    int spawned = 0, rc = 0;
    for (; spawned < ntasks; spawned++) {
        c->recs[spawned].index = spawned;
        rc = corio_spawn(worker_task, &c->recs[spawned], &h[spawned]);
        if (rc < 0) {
            printf("    spawn failed: %s\n", corio_strerror(rc));
            break;
        }
    }
    c->threads = process_threads(); /* the tasks are still running */
    int ok = 0;
    for (int i = 0; i < spawned; i++) {
        int r = -1;
        if (corio_task_join(h[i], &r) == 0 && r == 0)
            ok++;
    }
    free(h);
    if (rc < 0)
        return 1;

    /* Distinct threads over every recorded step; tasks that moved. Threads
     * are named after the first 10 bytes of the prefix, a dash and a number. */
    char want[16];
    snprintf(want, sizeof want, "%.10s-", c->prefix);
    pid_t seen[WORKERS + 8];
    int distinct = 0, on_main = 0, moved = 0, unhooked = 0, badname = 0;
    for (int i = 0; i < spawned; i++) {
        task_rec *r = &c->recs[i];
        int m = 0;
        if (strncmp(r->name, want, strlen(want)) != 0)
            badname++;
        for (int s = 0; s <= STEPS; s++) {
            pid_t t = r->tid[s];
            if (s > 0 && t != r->tid[s - 1])
                m = 1;
            if (t == main_tid)
                on_main++;
            if (c->hk && !hooked(c->hk, t))
                unhooked++;
            int k = 0;
            while (k < distinct && seen[k] != t)
                k++;
            if (k == distinct && distinct < (int)(sizeof seen / sizeof seen[0]))
                seen[distinct++] = t;
        }
        moved += m;
    }
    printf("    threads in the process while it ran: %d (the main thread, the workers)\n",
           c->threads);
    printf("    %d of %d tasks ran (%d awaits each) on %d distinct threads, on the main "
           "thread: %d; resumed on another thread after an await: %d tasks\n",
           ok, ntasks, STEPS, distinct, on_main, moved);
    printf("    thread names start with \"%s\": %s (first task's: %s)\n", want,
           badname ? "no" : "yes", c->recs[0].name);
    if (c->hk)
        printf("    every thread a task ran on was started by the runtime (seen by "
               "on_thread_start): %s\n",
               unhooked ? "no" : "yes");
    return ok == ntasks ? 0 : 1;
}

/* Build, block_on, free: what the attribute and `runtime.block_on` do. */
static int run(const corio_rt_builder *b, run_ctx *c)
{
    corio_rt *rt;
    int rc = corio_rt_build(b, &rt);
    if (rc < 0) {
        printf("    corio_rt_build: %s\n", corio_strerror(rc));
        return 1;
    }
    printf("    worker threads: %u\n", b->worker_threads);
    int result = 1;
    rc = corio_rt_block_on(rt, async_main, c, &result);
    if (rc < 0)
        printf("    corio_rt_block_on: %s\n", corio_strerror(rc));
    int frc = corio_rt_free(rt); /* stops and joins every thread */
    if (frc < 0)
        printf("    corio_rt_free: %s\n", corio_strerror(frc));
    return rc == 0 && frc == 0 ? result : 1;
}

#define USAGE_NAME "multi_thread"
#define USAGE_ARGS "multi_thread [tasks]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        ntasks = arg_long(argv[1], 1, MAX_TASKS);
    if (ntasks < 1)
        ntasks = 1;
    if (ntasks > MAX_TASKS)
        ntasks = MAX_TASKS;
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_tid = gettid();
    task_rec *recs = calloc((size_t)ntasks, sizeof *recs);
    if (!recs)
        return 1;
    int fails = 0;

    /* (a) #[tokio::main(flavor = "multi_thread", worker_threads = 8)] */
    printf("(a) #[tokio::main(flavor = \"multi_thread\", worker_threads = 8)]\n");
    corio_rt_builder a = corio_rt_builder_multi_thread();
    a.worker_threads = WORKERS;
    run_ctx ca = {NULL, "corio-worker", recs, 0};
    fails += run(&a, &ca);

    /* (b) Builder::new_multi_thread() with its other settings. */
    printf("(b) Builder::new_multi_thread().worker_threads(8).max_blocking_threads(16)"
           "...build()\n");
    hooks hk;
    memset(&hk, 0, sizeof hk);
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = WORKERS;
    b.max_blocking_threads = 16;
    b.blocking_keep_alive = CORIO_SEC(2);
    b.thread_name_prefix = PREFIX;
    b.thread_stack_size = 512 * 1024;
    b.stack_size = 64 * 1024;
    b.on_thread_start = on_start;
    b.on_thread_stop = on_stop;
    b.hook_arg = &hk;
    b.event_interval = 61;        /* the defaults, as examples */
    b.global_queue_interval = 31;
    memset(recs, 0, (size_t)ntasks * sizeof *recs);
    run_ctx cb = {&hk, PREFIX, recs, 0};
    fails += run(&b, &cb);
    /* After corio_rt_free every thread has started and stopped: final counts. */
    printf("    hooks: on_thread_start ran %d times, on_thread_stop %d times\n",
           atomic_load(&hk.started), atomic_load(&hk.stopped));
    free(recs);
    return fails ? 1 : 0;
}
