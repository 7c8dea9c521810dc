/* cpu_intensive.c - CPU-bound work: inline in a task vs on the blocking pool.
 *
 * Mirrors "Avoiding Blocking in Async Contexts" of seed 000 ("Common Pitfalls
 * and Solutions"), and the advice of seed 004 ("Blocking Operations: ... If
 * you must perform a blocking operation, offload it to a separate thread
 * using tokio::task::spawn_blocking"):
 *
 *     // For CPU-intensive work, use spawn_blocking
 *     async fn cpu_intensive_work() -> Result<String, Error> {
 *         let result = tokio::task::spawn_blocking(|| {
 *             // CPU-intensive computation here
 *             expensive_computation()
 *         }).await?;
 *         Ok(result)
 *     }
 *
 * How the C version maps onto it:
 *  - expensive_computation() is a plain function that counts the primes
 *    below a limit by trial division (about 150 ms for the default limit on
 *    a 2020s x86-64 core). It never awaits, so whoever runs it keeps its
 *    thread until it returns: there is no preemption, in tokio or in corio.
 *  - (a), the mistake: an async function (a coroutine) that calls it
 *    directly. On a current-thread runtime nothing else runs meanwhile.
 *  - (b), the seed's fix: cpu_intensive_work() runs it with
 *    corio_spawn_blocking (tokio::task::spawn_blocking) on a thread of the
 *    runtime's blocking pool, and awaits the join handle (`.await?` is
 *    corio_task_join: 0 or an error code, the count through the job's
 *    struct, since a task's own result is an int).
 *  - #[tokio::main] is a current-thread runtime built by hand, so that what
 *    the computation does to the one thread running every task is measured,
 *    not hidden by other workers (on a multi-thread runtime, (a) would stall
 *    one worker and the tasks queued behind it).
 * A heartbeat task ticks every 5 ms (corio_interval, missed ticks skipped)
 * next to each section and records its ticks. Each line gives the result,
 * how long the computation took (measured inside it), how many heartbeat
 * ticks fell within the computation and the heartbeat's longest gap: in (a)
 * none and a gap as long as the computation, in (b) it keeps ticking.
 *
 *   usage: cpu_intensive [limit]      (default 1000000: primes below it)
 */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define PERIOD CORIO_MSEC(5) /* of the heartbeat */
#define MAX_TICKS 4096

static long limit = 1000000;

/* ---- the computation ---------------------------------------------------------- */

/* The primes below n, by trial division: pure CPU, no await, no system call. */
static long expensive_computation(long n)
{
    long count = 0;
    for (long k = 2; k < n; k++) {
        int prime = 1;
        for (long d = 2; d * d <= k; d++) {
            if (k % d == 0) {
                prime = 0;
                break;
            }
        }
        count += prime;
    }
    return count;
}

typedef struct job {
    long limit, primes;
    corio_instant start, end; /* of the computation itself */
} job;

/* A plain function: fine on any thread but a runtime's. */
static int computation_job(void *arg)
{
    job *j = arg;
    j->start = corio_instant_now();
    j->primes = expensive_computation(j->limit);
    j->end = corio_instant_now();
    return 0;
}

/* (a) The mistake: the computation right in the async function. */
static int cpu_intensive_work_inline(job *j)
{
    return computation_job(j); /* holds the runtime's only thread throughout */
}

/* (b) The seed's fix: spawn_blocking(|| expensive_computation()).await? */
static int cpu_intensive_work(job *j)
{
    corio_task *h;
    int rc = corio_spawn_blocking(computation_job, j, &h);
    if (rc < 0)
        return rc;
    int r = -1;
    rc = corio_task_join(h, &r); /* suspends this task; the thread stays free */
    return rc < 0 ? rc : r;
}

/* ---- the heartbeat ------------------------------------------------------------- */

typedef struct heartbeat {
    int ticks;
    corio_instant at[MAX_TICKS]; /* when each tick ran */
    corio_instant last;          /* the start of the section, then the last tick */
    corio_duration longest_gap;
} heartbeat;

static void heartbeat_beat(heartbeat *hb, corio_instant now)
{
    if ((corio_duration)(now - hb->last) > hb->longest_gap)
        hb->longest_gap = (corio_duration)(now - hb->last);
    hb->last = now;
}

static int heartbeat_task(void *arg)
{
    heartbeat *hb = arg;
    corio_interval iv;
    corio_interval_init(&iv, PERIOD);
    corio_interval_set_missed_tick(&iv, CORIO_MISSED_SKIP);
    int rc;
    while ((rc = corio_interval_tick(&iv)) == 0) {
        corio_instant now = corio_instant_now();
        heartbeat_beat(hb, now);
        if (hb->ticks < MAX_TICKS)
            hb->at[hb->ticks++] = now;
    }
    /* Aborted at the end of the section: the gap up to now counts too. */
    heartbeat_beat(hb, corio_instant_now());
    corio_interval_drop(&iv);
    return rc == CORIO_ECANCELED ? 0 : rc;
}

/* ---- the two sections ---------------------------------------------------------- */

static heartbeat hb; /* one section at a time */

static int section(const char *label, int (*work)(job *), job *j)
{
    hb.ticks = 0;
    hb.longest_gap = 0;
    hb.last = corio_instant_now(); /* gaps count from here, however the tasks run */
    corio_task *h;
    int rc = corio_spawn(heartbeat_task, &hb, &h);
    if (rc < 0) {
        printf("  spawn failed: %s\n", corio_strerror(rc));
        return 1;
    }
    /* Let the heartbeat tick a few times first. */
    int wrc = corio_sleep(3 * PERIOD);
    if (wrc == 0)
        wrc = work(j);
    corio_task_abort(h);
    int hr = -1;
    /* CORIO_ECANCELED: it was aborted, as asked; hr is what it returned. */
    int jrc = corio_task_join(h, &hr); /* hb is read only after this */
    if (jrc == CORIO_ECANCELED)
        jrc = 0;
    if (wrc < 0 || jrc < 0 || hr != 0) {
        printf("  %s: failed: %s\n", label, corio_strerror(wrc < 0 ? wrc : jrc < 0 ? jrc : hr));
        return 1;
    }
    int during = 0;
    for (int i = 0; i < hb.ticks; i++)
        if (hb.at[i] > j->start && hb.at[i] < j->end)
            during++;
    printf("  %-42s -> %ld primes, computed in %.1f ms; heartbeat: %d ticks during it "
           "(%d in all), longest gap %.1f ms\n",
           label, j->primes, (double)(j->end - j->start) / 1e6, during, hb.ticks,
           (double)hb.longest_gap / 1e6);
    return 0;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("expensive_computation(): the primes below %ld, by trial division; a heartbeat "
           "task ticks every %.0f ms beside it\n",
           limit, (double)PERIOD / 1e6);
    job a = {limit, -1, 0, 0}, b = {limit, -1, 0, 0};
    int fails = 0;
    fails += section("(a) called inline in a task", cpu_intensive_work_inline, &a);
    fails += section("(b) in corio_spawn_blocking, joined", cpu_intensive_work, &b);
    if (fails)
        return 1;
    printf("(a) holds the runtime's only thread for the whole computation: the heartbeat "
           "stops;\n(b) runs it on a blocking-pool thread while the task awaits the handle: "
           "the heartbeat goes on.\n");
    printf("same result both ways: %s\n", a.primes == b.primes ? "yes" : "no");
    return a.primes == b.primes ? 0 : 1;
}

#define USAGE_NAME "cpu_intensive"
#define USAGE_ARGS "cpu_intensive [limit]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        limit = arg_long(argv[1], 2, 10000000);
    if (limit < 2)
        limit = 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A current-thread runtime, built explicitly: (a) measures what the
     * computation does to the one thread that runs every task. */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0) {
        printf("corio_rt_build: %s\n", corio_strerror(rc));
        return 1;
    }
    int result = 1;
    rc = corio_rt_block_on(rt, async_main, NULL, &result);
    if (rc < 0)
        printf("corio_rt_block_on: %s\n", corio_strerror(rc));
    int frc = corio_rt_free(rt);
    return rc == 0 && frc == 0 && result == 0 ? 0 : 1;
}
