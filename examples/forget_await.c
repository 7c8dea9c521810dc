/* forget_await.c - futures are lazy: one that is never awaited never runs.
 *
 * Mirrors "4. Forgetting to Await" of seed 003 (and the same pitfall in seed
 * 004, "Forgetting to .await"):
 *
 *     async fn fetch_data() -> String { "data".to_string() }
 *     let result = fetch_data();       // Just returns Future, doesn't execute!
 *     println!("{:?}", result);        // Prints Future object, not data
 *     let result = fetch_data().await; // Actually executes
 *
 * How the C version maps onto it:
 *  - `fetch_data()` returning a future is fetch_data_init() filling in a
 *    `fetch_fut` struct: nothing runs, its poll function is only stored.
 *    The future counts its polls and prints a line each time it is polled, so
 *    the output shows when (and whether) its code ran.
 *  - `println!("{:?}", result)` prints the struct's fields: no data.
 *  - `.await` is corio_await(&fut.base).
 *  - the Rust compiler drops an unawaited future at the end of its scope; in
 *    C that is corio_future_drop(), and a future never polled holds nothing,
 *    so its drop has nothing to release.
 * It also shows the contrast the seed hints at: a *spawned* task does run on
 * its own (corio_spawn, like tokio::spawn, is eager), while a future does not.
 * Rust warns "unused implementer of Future that must be used"; C cannot, which
 * makes this lesson more important, not less.
 */
#include <corio.h>
#include <stdio.h>

typedef struct fetch_fut {
    corio_future base; /* result: 0, with data set */
    corio_sleep_fut io; /* the simulated network wait, set up by the first poll */
    int polls;
    const char *data;
    bool dropped;
} fetch_fut;

static corio_poll fetch_poll(corio_future *f, corio_context *cx)
{
    fetch_fut *ff = (fetch_fut *)f;
    ff->polls++;
    printf("    [fetch_data polled, poll #%d]\n", ff->polls);
    if (ff->polls == 1) /* the body starts at the first poll, as an async fn's does */
        corio_sleep_fut_init(&ff->io, CORIO_MSEC(20));
    if (corio_future_poll(&ff->io.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    ff->data = "data";
    f->result = 0;
    return CORIO_READY;
}

static void fetch_drop(corio_future *f)
{
    fetch_fut *ff = (fetch_fut *)f;
    if (ff->polls > 0)
        corio_future_drop(&ff->io.base);
    ff->dropped = true;
}

static const corio_future_vtable fetch_vtable = {fetch_poll, fetch_drop};

/* The C spelling of calling `async fn fetch_data()`: builds the future only. */
static void fetch_data_init(fetch_fut *ff)
{
    corio_future_init(&ff->base, &fetch_vtable);
    ff->polls = 0;
    ff->data = NULL;
    ff->dropped = false;
}

static void show(const char *when, const fetch_fut *ff)
{
    printf("  %-42s fetch_fut { polls: %d, data: %s }\n", when, ff->polls,
           ff->data ? ff->data : "NULL");
}

static int spawned_ran; /* atomic: the spawned task may run on another thread */

static int spawned(void *arg)
{
    (void)arg;
    __atomic_store_n(&spawned_ran, 1, __ATOMIC_RELEASE);
    return 0;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("Bad: let result = fetch_data();  (no await)\n");
    fetch_fut result;
    fetch_data_init(&result);
    show("right after fetch_data_init():", &result);
    /* Give the runtime every chance to run it: it cannot, nobody polls it. */
    corio_sleep(CORIO_MSEC(50));
    corio_yield();
    show("after sleeping 50 ms and yielding:", &result);
    printf("  -> never awaited, never ran: %s\n", result.polls == 0 ? "yes" : "NO");

    printf("Contrast: corio_spawn(task) runs without being awaited\n");
    corio_task *t;
    int src = corio_spawn(spawned, NULL, &t);
    if (src < 0) {
        printf("error: %s\n", corio_strerror(src));
        return 1;
    }
    /* Sleep (never join) until it has run: on the multi-thread runtime
     * another worker may take it, and a worker's first coroutine is slow
     * to start under a sanitizer; give up after a second. */
    corio_instant t0s = corio_instant_now();
    while (!__atomic_load_n(&spawned_ran, __ATOMIC_ACQUIRE) &&
           corio_instant_now() - t0s < CORIO_SEC(1))
        corio_sleep(CORIO_MSEC(1));
    printf("  while this task slept, not joined yet, the spawned task ran: %s\n",
           __atomic_load_n(&spawned_ran, __ATOMIC_ACQUIRE) ? "yes" : "no");
    corio_task_join(t, NULL);

    printf("Good: let result = fetch_data().await;\n");
    corio_instant t0 = corio_instant_now();
    int rc = corio_await(&result.base);
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    show("after corio_await():", &result);
    if (rc != 0) {
        printf("error: %s\n", corio_strerror(rc));
        return 1;
    }
    printf("  -> awaited, ran: result = \"%s\" after %d polls in %.0f ms\n", result.data,
           result.polls, ms);

    printf("A future dropped without being awaited:\n");
    fetch_fut never;
    fetch_data_init(&never);
    corio_future_drop(&never.base);
    printf("  polls: %d, dropped: %s (an unpolled future holds nothing to release)\n", never.polls,
           never.dropped ? "yes" : "no");
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
