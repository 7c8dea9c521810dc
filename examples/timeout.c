/* timeout.c - putting a deadline on a future and on a function.
 *
 * Mirrors the timeout wrappers of three seeds:
 *  - seed 001 ("Timeout Handling"):
 *        match timeout(Duration::from_secs(5), fetch_data()).await {
 *            Ok(Ok(data)) => Ok(data), Ok(Err(e)) => Err(e), Err(_) => Err(Error::Timeout) }
 *  - seed 000 ("Proper Error Handling"): robust_operation(), the same match
 *    around timeout(5 s, risky_operation()), Err(_) becoming AsyncError::Timeout;
 *  - seed 003 ("Timeout and Cancellation"):
 *        async fn risky_operation() -> String { sleep(5 s).await; "Done".to_string() }
 *        match timeout(Duration::from_secs(2), risky_operation()).await {
 *            Ok(Ok(result)) => println!("Success: {}", result),
 *            Ok(Err(e)) => println!("Error: {}", e),
 *            Err(_) => println!("Operation timed out!") }
 *
 * How the C version maps onto it:
 *  - tokio::time::timeout(d, fut) on a future is corio_timeout(&fut.base, d).
 *    `fetch_data()` is a hand-written future (`fetch_fut`: a sleep, then
 *    "data"). The outer Result (Elapsed or not) is the return value: 0 when
 *    the inner future completed, CORIO_ETIMEDOUT after the inner future was
 *    dropped, which disarms its timer (the program checks that drop ran).
 *    The inner Result is the inner future's own output, ff.base.result: the
 *    two never share one int, so a future that itself fails with
 *    CORIO_ETIMEDOUT is told apart from the deadline.
 *  - an `async fn` like risky_operation() is a coroutine function, and
 *    timeout() around it is corio_timeout_call(d, fn, arg, &result): once the
 *    deadline passes, the await the function is blocked in returns
 *    CORIO_ETIMEDOUT, so the function runs its own cleanup and returns (Rust
 *    drops the future instead; C has no destructors, so the function unwinds).
 *  - the three match arms are: rc == 0 and result >= 0 (Ok(Ok)), rc == 0 and
 *    result < 0 (Ok(Err), a negative corio code), rc == CORIO_ETIMEDOUT (Err).
 * Every case prints its measured duration.
 *
 *   usage: timeout [fast | scale=X]   (default: the seeds' durations in seconds;
 *                                      fast = scale=0.05, e.g. 5 s becomes 250 ms)
 */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double scale = 1.0;

static corio_duration secs(double s)
{
    return (corio_duration)(s * scale * 1e9);
}

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

/* ---- fetch_data() as a future -------------------------------------------- */

typedef struct fetch_fut {
    corio_future base; /* result: 0, with data set */
    corio_sleep_fut delay;
    const char *data;
    bool dropped;
} fetch_fut;

static corio_poll fetch_poll(corio_future *f, corio_context *cx)
{
    fetch_fut *ff = (fetch_fut *)f;
    if (corio_future_poll(&ff->delay.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    ff->data = "data";
    f->result = 0;
    return CORIO_READY;
}

static void fetch_drop(corio_future *f)
{
    fetch_fut *ff = (fetch_fut *)f;
    corio_future_drop(&ff->delay.base); /* disarms the timer */
    ff->dropped = true;
}

static const corio_future_vtable fetch_vtable = {fetch_poll, fetch_drop};

static void fetch_data(fetch_fut *ff, corio_duration takes)
{
    corio_future_init(&ff->base, &fetch_vtable);
    corio_sleep_fut_init(&ff->delay, takes);
    ff->data = NULL;
    ff->dropped = false;
}

static int fetch_with_timeout(double takes_s, double limit_s)
{
    printf("  fetch_data() takes %.1f s, limit %.1f s: ", takes_s, limit_s);
    corio_instant t0 = corio_instant_now(); /* before fetch_data's sleep reads the clock */
    fetch_fut ff;
    fetch_data(&ff, secs(takes_s));
    int rc = corio_timeout(&ff.base, secs(limit_s));
    double ms = ms_since(t0);
    if (rc == CORIO_ETIMEDOUT)
        printf("Err(Elapsed) -> CORIO_ETIMEDOUT after %.0f ms (inner future dropped: %s)\n", ms,
               ff.dropped ? "yes" : "NO");
    else if (rc < 0)
        printf("interrupted: %s\n", corio_strerror(rc));
    else if (ff.base.result < 0)
        printf("Ok(Err(%s)) after %.0f ms\n", corio_strerror(ff.base.result), ms);
    else
        printf("Ok(data) -> \"%s\" after %.0f ms\n", ff.data, ms);
    return rc < 0 ? rc : ff.base.result;
}

/* ---- risky_operation() as a coroutine function ----------------------------- */

typedef struct op {
    double takes_s;
    int fail_with; /* 0: succeed with "Done"; else the error it fails with */
    const char *out;
} op;

static int risky_operation(void *arg)
{
    op *o = arg;
    corio_instant t0 = corio_instant_now();
    int rc = corio_sleep(secs(o->takes_s));
    if (rc < 0) {
        printf("    risky_operation: sleep interrupted by %s after %.0f ms, cleaning up\n",
               corio_err_name(rc), ms_since(t0));
        return rc;
    }
    if (o->fail_with)
        return o->fail_with;
    o->out = "Done";
    return 0;
}

static int robust_operation(const char *what, double takes_s, int fail_with, double limit_s)
{
    printf("  %s takes %.1f s%s, limit %.1f s:\n", what, takes_s, fail_with ? " then fails" : "",
           limit_s);
    op o = {takes_s, fail_with, NULL};
    int result = 0;
    corio_instant t0 = corio_instant_now();
    int rc = corio_timeout_call(secs(limit_s), risky_operation, &o, &result);
    double ms = ms_since(t0);
    if (rc == 0 && result >= 0)
        printf("    Success: %s   (%.0f ms)\n", o.out, ms);
    else if (rc == 0)
        printf("    Error: %s   (%.0f ms)\n", corio_strerror(result), ms);
    else if (rc == CORIO_ETIMEDOUT)
        printf("    Operation timed out!   (%.0f ms)\n", ms);
    else
        printf("    cancelled: %s\n", corio_strerror(rc));
    return rc;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("corio_timeout(future, limit)   [seed 001: fetch_with_timeout]\n");
    if (fetch_with_timeout(2, 5) != 0)
        return 1;
    if (fetch_with_timeout(2, 1) != CORIO_ETIMEDOUT)
        return 1;

    printf("corio_timeout_call(limit, fn)  [seed 003: risky_operation; seed 000: robust_operation]\n");
    if (robust_operation("risky_operation()", 5, 0, 2) != CORIO_ETIMEDOUT)
        return 1;
    if (robust_operation("risky_operation()", 1, 0, 5) != 0)
        return 1;
    if (robust_operation("risky_operation()", 0.5, -ECONNREFUSED, 5) != 0)
        return 1;
    return 0;
}

/* X of scale=X: a number above 0 and at most 100, nothing after it. */
#include "example_args.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "fast") == 0)
            scale = 0.05;
        else if (strncmp(argv[i], "scale=", 6) == 0 && parse_scale(argv[i] + 6, &scale))
            ;
        else {
            fprintf(stderr, "usage: %s [fast | scale=X]\n", argv[0]);
            return 2;
        }
    }
    if (scale <= 0)
        scale = 1.0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (scale != 1.0)
        printf("(durations scaled by %g: the lines below name the seeds' durations)\n", scale);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
