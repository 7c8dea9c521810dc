/* fetch_data.c - blocking vs non-blocking waits, measured.
 *
 * Mirrors "Sync vs Async" of seed 001 ("Rust Asynchronous Programming Guide"),
 * with the lesson of seed 000 ("Avoiding Blocking in Async Contexts"):
 *
 *     fn fetch_data() -> String {                  // blocking
 *         std::thread::sleep(Duration::from_secs(2)); "data".to_string() }
 *     async fn fetch_data_async() -> String {      // non-blocking
 *         tokio::time::sleep(Duration::from_secs(2)).await; "data".to_string() }
 *
 * How the C version maps onto it:
 *  - fetch_data() is a plain function calling nanosleep(): it blocks the
 *    thread, and with it every task of the runtime that thread drives.
 *  - fetch_data_async() calls corio_sleep(): only the calling coroutine task
 *    waits. An `async fn` returning String becomes a C function that may only
 *    run in a coroutine and returns 0 or a negative corio code, the string
 *    through an out-parameter.
 *  - tokio::spawn + JoinHandle.await are corio_spawn + corio_task_join;
 *    #[tokio::main] is a current-thread runtime built by hand, so that the
 *    cost of blocking its one thread is measured, not hidden by other workers.
 *  - tokio::task::spawn_blocking (seed 000's fix for blocking work) is
 *    corio_spawn_blocking: the blocking call runs on a thread of the
 *    runtime's blocking pool, and the task awaits its handle meanwhile.
 * A heartbeat task ticks every duration/10 during each section; its longest
 * gap shows whether the runtime thread stayed free. Each line also shows by
 * how long the two fetches overlapped in time (0: one after the other).
 *
 *   usage: fetch_data [duration_ms]      (default 2000, the seed's 2 s)
 */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long dur_ms = 2000;

/* ---- the two fetches ------------------------------------------------------ */

static const char *fetch_data(void)
{
    struct timespec ts = {dur_ms / 1000, (dur_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return "data";
}

static int fetch_data_async(const char **out)
{
    int rc = corio_sleep(CORIO_MSEC(dur_ms));
    if (rc < 0)
        return rc;
    *out = "data";
    return 0;
}

/* ---- tasks ---------------------------------------------------------------- */

typedef struct job {
    const char *data;
    corio_instant start, end; /* of the fetch itself */
} job;

static int async_fetch_task(void *arg)
{
    job *j = arg;
    j->start = corio_instant_now();
    int rc = fetch_data_async(&j->data);
    j->end = corio_instant_now();
    return rc;
}

/* A plain function: fine on any thread but a runtime's. */
static int blocking_fetch(void *arg)
{
    job *j = arg;
    j->start = corio_instant_now();
    j->data = fetch_data();
    j->end = corio_instant_now();
    return 0;
}

static int blocking_fetch_task(void *arg)
{
    return blocking_fetch(arg); /* the mistake: blocks the runtime thread */
}

static int spawn_blocking_fetch_task(void *arg)
{
    corio_task *h;
    int rc = corio_spawn_blocking(blocking_fetch, arg, &h);
    if (rc < 0)
        return rc;
    int r = -1;
    rc = corio_task_join(h, &r); /* awaits: the runtime thread stays free */
    return rc < 0 ? rc : r;
}

typedef struct heartbeat {
    int ticks;
    corio_instant last;
    corio_duration longest_gap;
} heartbeat;

static int heartbeat_task(void *arg)
{
    heartbeat *hb = arg;
    corio_interval iv;
    corio_interval_init(&iv, CORIO_MSEC(dur_ms) / 10);
    corio_interval_set_missed_tick(&iv, CORIO_MISSED_SKIP);
    hb->last = corio_instant_now();
    int rc;
    while ((rc = corio_interval_tick(&iv)) == 0) {
        corio_instant now = corio_instant_now();
        if ((corio_duration)(now - hb->last) > hb->longest_gap)
            hb->longest_gap = (corio_duration)(now - hb->last);
        hb->last = now;
        hb->ticks++;
    }
    /* Aborted at the end of the section: the gap up to now counts too. */
    corio_instant now = corio_instant_now();
    if ((corio_duration)(now - hb->last) > hb->longest_gap)
        hb->longest_gap = (corio_duration)(now - hb->last);
    corio_interval_drop(&iv);
    return rc;
}

/* Run two copies of `fn` as tasks next to a heartbeat; print one result line. */
static int run_pair(const char *label, corio_fn fn)
{
    heartbeat hb = {0, 0, 0};
    job a = {NULL, 0, 0}, b = {NULL, 0, 0};
    corio_instant t0 = corio_instant_now();
    corio_task *h, *ta = NULL, *tb = NULL;
    int rc = corio_spawn(heartbeat_task, &hb, &h);
    if (rc < 0) {
        printf("spawn failed: %s\n", corio_strerror(rc));
        return 1;
    }
    rc = corio_spawn(fn, &a, &ta);
    if (rc == 0) {
        rc = corio_spawn(fn, &b, &tb);
        if (rc < 0)
            corio_task_join(ta, NULL);
    }
    if (rc < 0) {
        printf("spawn failed: %s\n", corio_strerror(rc));
        corio_task_abort(h);
        corio_task_join(h, NULL);
        return 1;
    }
    int ra = -1, rb = -1;
    corio_task_join(ta, &ra);
    corio_task_join(tb, &rb);
    corio_instant t1 = corio_instant_now();
    corio_task_abort(h);
    corio_task_join(h, NULL); /* hb is read only after this */
    double ms = (double)(t1 - t0) / 1e6;
    /* How long both fetches were under way at once. */
    corio_instant from = a.start > b.start ? a.start : b.start;
    corio_instant to = a.end < b.end ? a.end : b.end;
    double overlap = ra == 0 && rb == 0 && to > from ? (double)(to - from) / 1e6 : 0.0;
    printf("  %-48s -> \"%s\", \"%s\" in %6.0f ms (%.2fx), overlapping %4.0f ms   "
           "heartbeat: %2d ticks, longest gap %5.0f ms\n",
           label, ra == 0 && a.data ? a.data : "?", rb == 0 && b.data ? b.data : "?", ms,
           ms / (double)dur_ms, overlap, hb.ticks, (double)hb.longest_gap / 1e6);
    return ra == 0 && rb == 0 ? 0 : 1;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("fetch_data() blocks its thread for %ld ms; fetch_data_async() sleeps %ld ms in "
           "corio_sleep\n",
           dur_ms, dur_ms);

    const char *d = NULL;
    corio_instant t0 = corio_instant_now();
    int rc = fetch_data_async(&d);
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    printf("  1. %-45s -> \"%s\" in %6.0f ms (%.2fx)\n", "fetch_data_async() awaited once",
           rc == 0 ? d : corio_strerror(rc), ms, ms / (double)dur_ms);

    int fails = 0;
    fails += run_pair("2. two fetch_data_async() in spawned tasks", async_fetch_task);
    fails += run_pair("3. two blocking fetch_data() in spawned tasks", blocking_fetch_task);
    fails += run_pair("4. two fetch_data() in corio_spawn_blocking", spawn_blocking_fetch_task);
    printf("2 runs the waits concurrently (1x); 3 runs them one after the other on the runtime's\n"
           "only thread (2x) and starves the heartbeat; 4 moves the blocking calls to the blocking\n"
           "pool's threads (1x).\n");
    return fails ? 1 : 0;
}

#define USAGE_NAME "fetch_data"
#define USAGE_ARGS "fetch_data [duration_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        dur_ms = arg_long(argv[1], 10, 600000);
    if (dur_ms < 10)
        dur_ms = 10;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A current-thread runtime, built explicitly: section 3 measures what a
     * blocking call does to the one thread that runs every task. */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    if (corio_rt_build(&b, &rt) < 0)
        return 1;
    int result = 1;
    int rc = corio_rt_block_on(rt, async_main, NULL, &result);
    corio_rt_free(rt);
    return rc == 0 && result == 0 ? 0 : 1;
}
