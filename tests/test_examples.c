/* tests/test_examples.c - run every example program and check its output.
 *
 * Each test runs $(CORIO_BUILD)/examples/<name> with arguments that shorten
 * its waits, then checks the exit status, that the key lines appear in the
 * expected order, and the measured durations the example prints where they
 * carry the lesson (concurrent waits take 1x, blocking ones 2x...). Bounds on
 * durations are loose on the slow side: sanitizer builds run these too.
 * On a failure the example's whole output is printed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "test.h"

#define OUT_CAP (64 * 1024)

typedef struct run_out {
    int status;
    char text[OUT_CAP];
} run_out;

static run_out out; /* one per test process */

static void run_example(const char *name, const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/examples/%s %s 2>&1", test_build_dir(), name, args);
    out.status = test_run_capture(cmd, out.text, sizeof out.text);
}

static void fail_with_output(int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail_with_output(int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "---- example output (exit %d) ----\n%s---- end ----\n", out.status, out.text);
    test_failf(__FILE__, line, "%s", msg);
}

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fail_with_output(__LINE__, "%s", #cond);                                     \
    } while (0)

/* Each string must occur, each after the end of the previous one. Returns
 * the position just past the last. NULL ends the list. */
static const char *in_order_at(int line, const char *first, ...)
{
    const char *pos = out.text;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        const char *hit = strstr(pos, s);
        if (!hit) {
            va_end(ap);
            fail_with_output(line, "expected \"%s\" (in this order)", s);
        }
        pos = hit + strlen(s);
    }
    va_end(ap);
    return pos;
}
#define IN_ORDER(...) in_order_at(__LINE__, __VA_ARGS__, (const char *)NULL)

/* The text right after the first occurrence of `key`. */
static const char *after_at(int line, const char *key)
{
    const char *hit = strstr(out.text, key);
    if (!hit)
        fail_with_output(line, "expected \"%s\"", key);
    return hit + strlen(key);
}
#define AFTER(key) after_at(__LINE__, (key))

static void expect_status_0(int line)
{
    if (out.status != 0)
        fail_with_output(line, "exit status %d, expected 0", out.status);
}
#define EXPECT_OK() expect_status_0(__LINE__)

/* ---- the seed programs ---------------------------------------------------- */

TEST_TIMING(example_delayed_value)
{
    run_example("delayed_value", "100");
    EXPECT_OK();
    IN_ORDER("awaiting DelayedValue { value: 42", "value = 42 after",
             "block_on(DelayedValue { value: 7", "value = 7 after");
    double ms;
    int polls, helpers;
    EXPECT(sscanf(AFTER("value = 42 after "), "%lf ms (polled %d times, %d waker task", &ms, &polls,
                  &helpers) == 3);
    EXPECT(ms >= 100.0 && ms < 400.0);
    EXPECT(polls == 2 && helpers == 1); /* one early poll, one helper task, one wake */
    EXPECT(sscanf(AFTER("value = 7 after "), "%lf ms (polled %d times, %d waker task", &ms, &polls,
                  &helpers) == 3);
    EXPECT(ms >= 100.0 && ms < 400.0);
    EXPECT(polls == 2 && helpers == 1);
}

TEST(example_count_to_three)
{
    run_example("count_to_three", "");
    EXPECT_OK();
    IN_ORDER("Starting async function\n", "Async function completed\n", "Result: 4\n",
             "polled 4 times");
}

TEST_TIMING(example_fetch_data)
{
    const double dur = 200.0;
    run_example("fetch_data", "200");
    EXPECT_OK();
    IN_ORDER("1. fetch_data_async() awaited once", "2. two fetch_data_async()",
             "3. two blocking fetch_data()", "4. two fetch_data() in corio_spawn_blocking");
    double ms, ratio, gap, overlap;
    int ticks;
    EXPECT(sscanf(strstr(AFTER("1. fetch_data_async() awaited once"), "\"data\" in"),
                  "\"data\" in %lf ms (%lfx)", &ms, &ratio) == 2);
    EXPECT(ms >= dur && ratio < 1.5);
#define PAIR(label)                                                                      \
    EXPECT(sscanf(strstr(AFTER(label), "\"data\", \"data\" in"),                          \
                  "\"data\", \"data\" in %lf ms (%lfx), overlapping %lf ms heartbeat: %d " \
                  "ticks, longest gap %lf ms",                                          \
                  &ms, &ratio, &overlap, &ticks, &gap) == 5)
    /* Two async waits run at the same time (each takes at least dur, so an
     * overlap of half of it cannot come from one after the other), and the
     * heartbeat keeps ticking meanwhile. */
    PAIR("2. two fetch_data_async()");
    EXPECT(ms >= dur && overlap >= dur / 2);
    EXPECT(ticks >= 2 && gap < dur);
    /* Two blocking calls run one after the other on the runtime thread: 2x,
     * and nothing else runs meanwhile. */
    PAIR("3. two blocking fetch_data()");
    EXPECT(ratio >= 1.9 && overlap == 0);
    EXPECT(ticks <= 3 && gap >= 1.5 * dur);
    int ticks3 = ticks;
    /* On the blocking pool's threads, they overlap again, and the runtime
     * thread stays free for the heartbeat. */
    PAIR("4. two fetch_data() in corio_spawn_blocking");
    EXPECT(ms >= dur && overlap >= dur / 2);
    EXPECT(ticks > ticks3 && gap < dur);
#undef PAIR
}

TEST_TIMING(example_two_tasks)
{
    run_example("two_tasks", "100");
    EXPECT_OK();
    /* On the multi-thread runtime the two start in either order (as with
     * tokio's): both before either completes, Task 1 (one unit) first. */
    const char *done1 = strstr(out.text, "Task 1 completed\n");
    EXPECT(done1 != NULL);
    const char *r1 = strstr(out.text, "Task 1 running\n"), *r2 = strstr(out.text, "Task 2 running\n");
    EXPECT(r1 && r2 && r1 < done1 && r2 < done1);
    IN_ORDER("Task 1 completed\n", "Task 2 completed\n");
    double ms;
    EXPECT(sscanf(AFTER("both joined after "), "%lf", &ms) == 1);
    EXPECT(ms >= 200.0 && ms < 290.0); /* max(100, 200), not the sum */
}

TEST_TIMING(example_timeout)
{
    run_example("timeout", "fast"); /* durations x 0.05: 1 s -> 50 ms */
    EXPECT_OK();
    IN_ORDER("corio_timeout(future, limit)", "limit 5.0 s: Ok(data) -> \"data\"",
             "limit 1.0 s: Err(Elapsed) -> CORIO_ETIMEDOUT", "(inner future dropped: yes)",
             "corio_timeout_call(limit, fn)",
             "risky_operation: sleep interrupted by CORIO_ETIMEDOUT", "Operation timed out!",
             "Success: Done", "Error: Connection refused");
    double ms;
    EXPECT(sscanf(AFTER("Ok(data) -> \"data\" after "), "%lf", &ms) == 1);
    EXPECT(ms >= 100.0 && ms < 250.0); /* the fetch's 2 s, under the 5 s limit */
    EXPECT(sscanf(AFTER("Err(Elapsed) -> CORIO_ETIMEDOUT after "), "%lf", &ms) == 1);
    EXPECT(ms >= 50.0 && ms < 100.0); /* the 1 s limit, before the 2 s fetch */
    EXPECT(sscanf(AFTER("Operation timed out!   ("), "%lf", &ms) == 1);
    EXPECT(ms >= 100.0 && ms < 250.0); /* the 2 s limit, not the 5 s sleep */
    EXPECT(sscanf(AFTER("Success: Done   ("), "%lf", &ms) == 1);
    EXPECT(ms >= 50.0 && ms < 250.0);
}

TEST(example_forget_await)
{
    run_example("forget_await", "");
    EXPECT_OK();
    const char *p = IN_ORDER("right after fetch_data_init():", "fetch_fut { polls: 0, data: NULL }",
                             "after sleeping 50 ms and yielding:", "fetch_fut { polls: 0, data: NULL }",
                             "never awaited, never ran: yes");
    /* Nothing was polled before the await. */
    const char *first_poll = strstr(out.text, "[fetch_data polled");
    EXPECT(first_poll && first_poll > p);
    IN_ORDER("never awaited, never ran: yes", "the spawned task ran: yes",
             "Good: let result = fetch_data().await;", "[fetch_data polled, poll #1]",
             "[fetch_data polled, poll #2]", "fetch_fut { polls: 2, data: data }",
             "result = \"data\" after 2 polls", "polls: 0, dropped: yes");
}

/* ---- the showcase ---------------------------------------------------------- */

TEST_TIMING(example_demo)
{
    run_example("demo", "quick");
    EXPECT_OK();
    IN_ORDER("1. Memory per idle coroutine", "KiB per idle coroutine", "joins reported cancellation",
             "2. Coroutine tasks: spawn, run, join", "tasks/s", "failed joins 0",
             "3. Timer storm", "lateness (fire time - deadline): p50",
             "4. Cancellation", "its sleep returned CORIO_ECANCELED", "cleanup ran: yes",
             "join returned CORIO_ECANCELED", "first await returned CORIO_ECANCELED, cleanup ran: yes",
             "5. Timeouts", "-> CORIO_ETIMEDOUT after", "-> 0 (ok: the sleep's own result 0) after",
             "steps, then its sleep returned CORIO_ETIMEDOUT",
             "6. A custom future woken from a plain pthread", "values in order: yes",
             "wake -> task running again: p50", "\ndone in ");
    int n, joins, cleanups;
    EXPECT(sscanf(AFTER("aborted all: "), "%d joins reported cancellation, %d cleanups", &joins,
                  &cleanups) == 2);
    EXPECT(sscanf(AFTER("1. Memory per idle coroutine\n"), " %d coroutines started", &n) == 1);
    EXPECT(n > 0 && joins == n && cleanups == n);
    long long sum, want;
    EXPECT(sscanf(AFTER("sum of results "), "%lld (expected %lld)", &sum, &want) == 2);
    EXPECT(sum == want);
}
