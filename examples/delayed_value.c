/* delayed_value.c - a hand-written future: a value that is ready at an instant.
 *
 * Mirrors the `DelayedValue` future of seed 000 ("Mastering Async Rust", section
 * "The Anatomy of Futures"):
 *
 *     impl Future for DelayedValue {
 *         fn poll(..., cx) -> Poll<i32> {
 *             if Instant::now() >= self.ready_at { Poll::Ready(self.value.take().unwrap()) }
 *             else {
 *                 let waker = cx.waker().clone();
 *                 tokio::spawn(async move { sleep_until(ready_at).await; waker.wake(); });
 *                 Poll::Pending
 *             } } }
 *
 * How the C version maps onto it:
 *  - `struct DelayedValue` is `delayed_value`, a struct whose first member is a
 *    corio_future; `impl Future` is its vtable; `Poll::Ready(v)` is storing v in
 *    base.result and returning CORIO_READY.
 *  - `cx.waker().clone()` is corio_waker_clone(corio_context_waker(cx)); the
 *    clone moves into the helper task, which owns it and consumes it with
 *    corio_waker_wake, exactly as `waker.wake()` consumes the Rust waker.
 *  - `tokio::spawn(async move {...})` is a detached corio_spawn of a coroutine
 *    (`waker_task`) whose argument is a heap struct holding what the Rust
 *    closure captured (the waker and ready_at).
 *  - `.await` on the future is corio_await(&dv.base) inside a coroutine task:
 *    it returns 0 once the future is ready, whose output is then in
 *    dv.base.result (a negative code if the helper could not be spawned);
 *    `#[tokio::main]` is corio_run. A second run drives the same future as the
 *    runtime's main future with corio_rt_block_on_future, the way
 *    `Runtime::block_on(DelayedValue {..})` would.
 *  - `self.value.take()` is `has_value`: a second READY poll would be a bug in
 *    the caller, and the C version reports it instead of panicking.
 * Like the Rust version, every early poll spawns one helper; the counters
 * printed at the end show there was exactly one early poll and one helper.
 *
 *   usage: delayed_value [delay_ms]      (default 1000)
 */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct delayed_value {
    corio_future base; /* result: the value */
    int value;
    bool has_value;
    corio_instant ready_at;
    int polls;   /* how often poll ran */
    int helpers; /* how many waker tasks it spawned */
} delayed_value;

/* What the `async move` block captured. */
typedef struct waker_job {
    corio_waker waker;
    corio_instant ready_at;
} waker_job;

static int waker_task(void *arg)
{
    waker_job *job = arg;
    /* A cancelled helper (runtime shutdown) still releases its waker. */
    int rc = corio_sleep_until(job->ready_at);
    if (rc == 0)
        corio_waker_wake(&job->waker);
    else
        corio_waker_drop(&job->waker);
    free(job);
    return rc;
}

static corio_poll delayed_value_poll(corio_future *f, corio_context *cx)
{
    delayed_value *dv = (delayed_value *)f;
    dv->polls++;
    if (corio_instant_now() >= dv->ready_at) {
        if (!dv->has_value) {
            fprintf(stderr, "delayed_value: polled after it returned its value\n");
            abort();
        }
        dv->has_value = false; /* self.value.take() */
        f->result = dv->value;
        return CORIO_READY;
    }
    waker_job *job = malloc(sizeof *job);
    if (!job) {
        f->result = -ENOMEM;
        return CORIO_READY;
    }
    job->waker = corio_waker_clone(corio_context_waker(cx));
    job->ready_at = dv->ready_at;
    int rc = corio_spawn(waker_task, job, NULL);
    if (rc < 0) {
        corio_waker_drop(&job->waker);
        free(job);
        f->result = rc;
        return CORIO_READY;
    }
    dv->helpers++;
    return CORIO_PENDING;
}

/* Pending, the future holds nothing: the helper task owns the waker. */
static const corio_future_vtable delayed_value_vtable = {delayed_value_poll, NULL};

static void delayed_value_init(delayed_value *dv, int value, corio_instant ready_at)
{
    corio_future_init(&dv->base, &delayed_value_vtable);
    dv->value = value;
    dv->has_value = true;
    dv->ready_at = ready_at;
    dv->polls = 0;
    dv->helpers = 0;
}

static long delay_ms = 1000;

static int async_main(void *arg)
{
    (void)arg;
    corio_instant start = corio_instant_now();
    delayed_value dv;
    delayed_value_init(&dv, 42, corio_instant_add(start, CORIO_MSEC(delay_ms)));
    printf("awaiting DelayedValue { value: 42, ready_at: now + %ld ms } in a coroutine\n", delay_ms);
    int rc = corio_await(&dv.base);
    int v = rc < 0 ? rc : dv.base.result;
    double ms = (double)(corio_instant_now() - start) / 1e6;
    if (v < 0) {
        printf("error: %s\n", corio_strerror(v));
        return 1;
    }
    printf("value = %d after %.1f ms (polled %d times, %d waker task spawned)\n", v, ms, dv.polls,
           dv.helpers);
    return 0;
}

#define USAGE_NAME "delayed_value"
#define USAGE_ARGS "delayed_value [delay_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        delay_ms = arg_long(argv[1], 0, 600000);
    if (delay_ms < 0)
        delay_ms = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    int result;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0) {
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
        return 1;
    }
    if (result != 0)
        return result;

    /* The same future as the runtime's main future, polled by a stackless task. */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    if (corio_rt_build(&b, &rt) < 0)
        return 1;
    corio_instant start = corio_instant_now();
    delayed_value dv;
    delayed_value_init(&dv, 7, corio_instant_add(start, CORIO_MSEC(delay_ms)));
    printf("block_on(DelayedValue { value: 7, ready_at: now + %ld ms })\n", delay_ms);
    rc = corio_rt_block_on_future(rt, &dv.base);
    int v = rc < 0 ? rc : dv.base.result;
    double ms = (double)(corio_instant_now() - start) / 1e6;
    corio_rt_free(rt);
    if (v < 0) {
        printf("error: %s\n", corio_strerror(v));
        return 1;
    }
    printf("value = %d after %.1f ms (polled %d times, %d waker task spawned)\n", v, ms, dv.polls,
           dv.helpers);
    return 0;
}
