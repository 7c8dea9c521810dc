/* bounded_spawn.c - unbounded spawning vs at most K tasks in flight, two ways.
 *
 * Mirrors "Unbounded Spawning" of seed 003 ("Common Pitfalls & Best
 * Practices") and the first "Production Lesson" of seed 000 ("Monitor task
 * spawning: Unbounded task spawning can lead to memory issues"):
 *
 *     // Bad: Spawning too many tasks without limit
 *     for item in huge_list {
 *         tokio::spawn(async move { process(item).await; }); // OOM if huge_list is millions!
 *     }
 *     // Good: Limit concurrency with semaphore or bounded stream
 *     let semaphore = Arc::new(Semaphore::new(100)); // Max 100 concurrent
 *     for item in huge_list {
 *         let sem = semaphore.clone();
 *         tokio::spawn(async move { let _permit = sem.acquire().await.unwrap();
 *                                   process(item).await; });
 *     }
 *
 * How the C version maps onto it:
 *  - process(item) sleeps a few milliseconds (corio_sleep) in a coroutine
 *    task (process_task), standing for a request or a query. A suspended coroutine
 *    keeps its stack: at least one resident 4 KiB page, plus its task.
 *  - Bad: a loop of detached corio_spawn(process_task, item, NULL) calls (a
 *    dropped JoinHandle). All M tasks are alive at once.
 *  - Good, the seed's way: a corio_semaphore of K permits
 *    (Semaphore::new(100)); the loop spawns all M tasks, detached, and each
 *    one takes a permit (corio_semaphore_acquire, the `_permit` guard)
 *    before process(item) and gives it back after (corio_semaphore_release:
 *    C has no guard that does it when it goes out of scope). At most K
 *    tasks are at work at once, but all M exist: M-K of them wait for a
 *    permit, each holding its task and stack. It bounds concurrency, not
 *    memory.
 *  - Good, with bounded memory: a ring of K join handles; once K tasks are
 *    in flight, the loop joins the oldest before it spawns the next. It
 *    spawns no more than K at a time, so it bounds memory too (the seed's
 *    "bounded stream" option, buffer_unordered(K), does the same). It needs
 *    no semaphore, but the loop waits for the oldest task even when a
 *    younger one finished first.
 *  - "Monitor task spawning": every task counts itself in an atomic `live`
 *    from its start to its end, keeping the peak, and in `working` while it
 *    runs process(item) (for the semaphore run: while it holds a permit),
 *    keeping that peak too. corio has no task-count or memory statistics of
 *    its own (nothing like tokio's RuntimeMetrics yet), so memory comes from /proc/self/status: the growth of the peak resident
 *    set (VmHWM, reset with /proc/self/clear_refs before each run) over the
 *    resident set (VmRSS) before it. The ring run goes first, so that
 *    memory the unbounded run leaves with the allocator cannot flatter it;
 *    the semaphore run goes last, and may reuse what the unbounded one left
 *    resident: its growth is a lower bound (its peak live tasks, about M,
 *    tell its cost better).
 *  - To make the unbounded run show exactly what the seed warns about, all
 *    M tasks alive at once, however slow the machine is to spawn them, its
 *    tasks wait at a finish line after their sleep: a flag, checked every
 *    sleep_ms, that the loop raises once all M have started (a corio_notify
 *    would do it without the checks, with more code here). The peak is then
 *    exactly M. The ring run has no finish line: its peak is at most K,
 *    since a task is only joined after it ended. Neither has the semaphore
 *    run: its peak at work is at most K, since a task works only while it
 *    holds one of the K permits.
 *  - Times are printed too: the bounded runs take at least M/K sleeps one
 *    after the other (the ring reuses K stacks); the unbounded one sleeps
 *    all at once, but pays for M stacks (a coroutine takes one on its first
 *    run), as the semaphore run does.
 *  - #[tokio::main] is corio_run, a multi-thread runtime.
 *
 *   usage: bounded_spawn [tasks] [limit] [sleep_ms]   (default 20000 100 5)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long m_tasks = 20000;
static long k_limit = 100;
static long work_ms = 5;

static atomic_long live, peak, done, failed;
static atomic_long working, peak_working;
static corio_semaphore permits; /* the semaphore run's K permits */
static _Atomic uint64_t item_sum; /* each item once: 0 + 1 + ... + M-1 */
static atomic_bool finish_line_open;

/* ---- memory figures ------------------------------------------------------------ */

/* A "Key:   N kB" line of /proc/self/status, in KiB; -1 if missing. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = atol(line + n + 1);
            break;
        }
    fclose(f);
    return kb;
}

/* Reset VmHWM to the current VmRSS (Linux 4.0 and later). */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* ---- the task -------------------------------------------------------------------- */

/* Count one more in `*now`, keeping the peak in `*max`. */
static void count_up(atomic_long *now, atomic_long *max)
{
    long n = atomic_fetch_add(now, 1) + 1;
    long p = atomic_load(max);
    while (n > p && !atomic_compare_exchange_weak(max, &p, n)) {
    }
}

/* process(item).await: the item is counted by the task, at its end. */
static int process(void)
{
    count_up(&working, &peak_working);
    int rc = corio_sleep(CORIO_MSEC(work_ms));
    /* The unbounded run's finish line (open from the start in the others). */
    while (rc == 0 && !atomic_load(&finish_line_open))
        rc = corio_sleep(CORIO_MSEC(work_ms > 0 ? work_ms : 1));
    atomic_fetch_sub(&working, 1);
    return rc;
}

static int task_end(uint64_t item, int rc)
{
    if (rc == 0)
        atomic_fetch_add(&item_sum, item);
    else
        atomic_fetch_add(&failed, 1);
    atomic_fetch_sub(&live, 1);
    atomic_fetch_add(&done, 1);
    return rc;
}

/* tokio::spawn(async move { process(item).await; }) */
static int process_task(void *arg)
{
    uint64_t item = (uintptr_t)arg;
    count_up(&live, &peak);
    return task_end(item, process());
}

/* tokio::spawn(async move { let _permit = sem.acquire().await.unwrap();
 *                           process(item).await; }) */
static int process_with_permit_task(void *arg)
{
    uint64_t item = (uintptr_t)arg;
    count_up(&live, &peak);
    int rc = corio_semaphore_acquire(&permits, 1);
    if (rc == 0) {
        rc = process();
        corio_semaphore_release(&permits, 1); /* _permit dropped */
    }
    return task_end(item, rc);
}

/* ---- the two runs ------------------------------------------------------------------ */

typedef struct outcome {
    long spawned, peak, peak_working, done, failed;
    bool all_items;
    long rss_before_kb, growth_kb;
    bool reset;
    corio_instant t0;
    double ms;
} outcome;

static void begin(outcome *o, bool finish_line)
{
    memset(o, 0, sizeof *o);
    atomic_store(&live, 0);
    atomic_store(&peak, 0);
    atomic_store(&working, 0);
    atomic_store(&peak_working, 0);
    atomic_store(&done, 0);
    atomic_store(&failed, 0);
    atomic_store(&item_sum, 0);
    atomic_store(&finish_line_open, !finish_line);
    o->reset = reset_peak_rss();
    o->rss_before_kb = status_kb("VmRSS");
    o->t0 = corio_instant_now();
}

static void end(outcome *o)
{
    o->ms = (double)(corio_instant_now() - o->t0) / 1e6;
    o->growth_kb = status_kb("VmHWM") - o->rss_before_kb;
    o->peak = atomic_load(&peak);
    o->peak_working = atomic_load(&peak_working);
    o->done = atomic_load(&done);
    o->failed = atomic_load(&failed);
    uint64_t m = (uint64_t)o->spawned;
    o->all_items = o->spawned == m_tasks && atomic_load(&item_sum) == m * (m - 1) / 2;
}

/* Spawn every task at once, detached: with `fn` = process_task, the bad
 * way, with a finish line; with process_with_permit_task, the seed's good
 * way, without. */
static int spawn_all(outcome *o, int (*fn)(void *), bool finish_line)
{
    begin(o, finish_line);
    int rc = 0;
    for (long i = 0; i < m_tasks; i++) {
        rc = corio_spawn(fn, (void *)(uintptr_t)i, NULL);
        if (rc < 0)
            break;
        o->spawned++;
    }
    /* Open the finish line once every task has started, then wait for all. */
    int wrc = 0;
    while (wrc == 0 && atomic_load(&live) + atomic_load(&done) < o->spawned)
        wrc = corio_sleep(CORIO_MSEC(1));
    atomic_store(&finish_line_open, true);
    while (wrc == 0 && atomic_load(&done) < o->spawned)
        wrc = corio_sleep(CORIO_MSEC(1));
    end(o);
    if (rc < 0)
        printf("  spawn failed after %ld tasks: %s\n", o->spawned, corio_strerror(rc));
    return rc < 0 ? rc : wrc;
}

/* Bad: spawn every task at once. */
static int unbounded(outcome *o)
{
    return spawn_all(o, process_task, true);
}

/* Good, the seed's way: spawn them all; K permits let K work at once. */
static int semaphore_bounded(outcome *o)
{
    corio_semaphore_init(&permits, (size_t)k_limit);
    return spawn_all(o, process_with_permit_task, false);
}

/* Good, bounded memory: at most k_limit in flight; join the oldest before
 * spawning the next. */
static int bounded(outcome *o)
{
    corio_task **ring = calloc((size_t)k_limit, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    begin(o, false);
    int rc = 0, bad = 0;
    for (long i = 0; i < m_tasks; i++) {
        corio_task **slot = &ring[i % k_limit];
        if (i >= k_limit) { /* K in flight: wait for the oldest */
            int r = -1;
            if (corio_task_join(*slot, &r) < 0 || r != 0)
                bad = 1;
        }
        rc = corio_spawn(process_task, (void *)(uintptr_t)i, slot);
        if (rc < 0)
            break;
        o->spawned++;
    }
    /* Join the ones still in flight, oldest first. */
    long from = o->spawned > k_limit ? o->spawned - k_limit : 0;
    for (long i = from; i < o->spawned; i++) {
        int r = -1;
        if (corio_task_join(ring[i % k_limit], &r) < 0 || r != 0)
            bad = 1;
    }
    end(o);
    free(ring);
    if (rc < 0)
        printf("  spawn failed after %ld tasks: %s\n", o->spawned, corio_strerror(rc));
    return rc < 0 ? rc : bad ? CORIO_ECANCELED : 0;
}

static void report(const char *label, const outcome *o, const char *note)
{
    printf("  %-36s %ld of %ld tasks ran, all items once: %s; peak live tasks %ld; "
           "peak at work %ld; %.0f ms; peak RSS growth %ld KiB (%.1f KiB per peak task)%s\n",
           label, o->done - o->failed, m_tasks, o->all_items ? "yes" : "no", o->peak,
           o->peak_working, o->ms,
           o->growth_kb, o->peak > 0 ? (double)o->growth_kb / (double)o->peak : 0.0,
           o->reset ? note : " (VmHWM not reset: an upper bound)");
}

static int async_main(void *arg)
{
    (void)arg;
    printf("%ld tasks, each sleeps %ld ms; bound: %ld in flight; VmRSS at start %ld KiB\n",
           m_tasks, work_ms, k_limit, status_kb("VmRSS"));
    outcome good, bad, sem;
    int rg = bounded(&good);
    report("Good - at most K in flight (ring):", &good, "");
    int rb = unbounded(&bad);
    report("Bad  - unbounded (detached spawns):", &bad, "");
    int rs = semaphore_bounded(&sem);
    report("Good - K permits (semaphore):", &sem,
           " (reusing what the unbounded run left resident: a lower bound)");
    if (rg < 0 || rb < 0 || rs < 0)
        return 1;
    printf("the bounded run kept at most %ld tasks alive, the unbounded one all %ld at once\n",
           k_limit, bad.peak);
    printf("the semaphore kept at most %ld tasks at work (peak %ld), with %ld alive at its peak, "
           "each holding its stack\n",
           k_limit, sem.peak_working, sem.peak);
    return good.all_items && bad.all_items && sem.all_items && good.failed == 0 &&
                   bad.failed == 0 && sem.failed == 0 && sem.peak_working <= k_limit
               ? 0
               : 1;
}

#define USAGE_NAME "bounded_spawn"
#define USAGE_ARGS "bounded_spawn [tasks] [limit] [sleep_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        m_tasks = arg_long(argv[1], 1, 1000000);
    if (argc > 2)
        k_limit = arg_long(argv[2], 1, 1000000);
    if (argc > 3)
        work_ms = arg_long(argv[3], 0, 60000);
    if (m_tasks < 1)
        m_tasks = 1;
    if (k_limit < 1)
        k_limit = 1;
    if (work_ms < 0)
        work_ms = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
