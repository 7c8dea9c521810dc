/* tests/test_examples.c - run every example program and check its output.
 *
 * Each test runs $(CORIO_BUILD)/examples/<name> with arguments that shorten
 * its waits, then checks the exit status, that the key lines appear in the
 * expected order, and the measured durations the example prints where they
 * carry the lesson (concurrent waits take 1x, blocking ones 2x...). Bounds on
 * durations are loose on the slow side: sanitizer builds run these too.
 * On a failure the example's whole output is printed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

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

/* ---- the guides' lessons on runtimes, tasks and blocking ----------------------- */

/* The text right after the first occurrence of `key` at or after `from`. */
static const char *after_from_at(int line, const char *from, const char *key)
{
    const char *hit = strstr(from, key);
    if (!hit)
        fail_with_output(line, "expected \"%s\"", key);
    return hit + strlen(key);
}
#define AFTER_FROM(from, key) after_from_at(__LINE__, (from), (key))

TEST(example_multi_thread)
{
    run_example("multi_thread", "64");
    EXPECT_OK();
    IN_ORDER("(a) #[tokio::main(flavor = \"multi_thread\", worker_threads = 8)]",
             "worker threads: 8\n", "thread names start with \"corio-work-\": yes",
             "(b) Builder::new_multi_thread().worker_threads(8)", "worker threads: 8\n",
             "thread names start with \"app-worker-\": yes",
             "every thread a task ran on was started by the runtime (seen by on_thread_start): yes",
             "hooks: on_thread_start ran 8 times, on_thread_stop 8 times\n");
    /* Only what holds however the machine schedules the workers: every task
     * ran, on at most 8 threads, none of them the main thread (it waits in
     * block_on), and the 8 workers exist beside it. Whether more than one
     * worker took tasks depends on the machine and its load: not checked. */
    const char *sec[2] = {AFTER("(a) "), AFTER("(b) ")};
    for (int i = 0; i < 2; i++) {
        int threads, ok, n, awaits, distinct, on_main;
        EXPECT(sscanf(AFTER_FROM(sec[i], "threads in the process while it ran: "), "%d",
                      &threads) == 1);
        EXPECT(threads >= 9);
        EXPECT(sscanf(AFTER_FROM(sec[i], "(the main thread, the workers)\n"),
                      " %d of %d tasks ran (%d awaits each) on %d distinct threads, on the "
                      "main thread: %d",
                      &ok, &n, &awaits, &distinct, &on_main) == 5);
        EXPECT(ok == 64 && n == 64 && awaits == 4);
        EXPECT(distinct >= 1 && distinct <= 8);
        EXPECT(on_main == 0);
    }
}

TEST_TIMING(example_cpu_intensive)
{
    run_example("cpu_intensive", "700000"); /* about 100 ms per computation */
    EXPECT_OK();
    IN_ORDER("the primes below 700000", "(a) called inline in a task",
             "(b) in corio_spawn_blocking, joined", "same result both ways: yes");
    long primes[2];
    double ms[2], gap[2];
    int during[2], ticks[2];
    const char *label[2] = {"(a) called inline in a task", "(b) in corio_spawn_blocking, joined"};
    for (int i = 0; i < 2; i++)
        EXPECT(sscanf(strstr(AFTER(label[i]), "-> "),
                      "-> %ld primes, computed in %lf ms; heartbeat: %d ticks during it (%d in "
                      "all), longest gap %lf ms",
                      &primes[i], &ms[i], &during[i], &ticks[i], &gap[i]) == 5);
    EXPECT(primes[0] == 56543 && primes[1] == 56543); /* pi(700000) */
    /* Inline, the computation holds the only runtime thread: the heartbeat
     * cannot run during it, so one of its gaps spans all of it. */
    EXPECT(during[0] == 0);
    EXPECT(gap[0] >= 0.8 * ms[0]);
    /* On the blocking pool, the heartbeat goes on meanwhile. */
    EXPECT(during[1] > 0 && ticks[1] > ticks[0]);
    EXPECT(gap[1] < ms[1]);
}

TEST(example_batching)
{
    /* Item counts that are not a multiple of the batch. TSan makes each
     * coroutine a fiber of its own, which costs milliseconds to start. */
    long items = SCALE(100001, 50001, 1001), size = SCALE(1000, 1000, 100);
    long batches = (items + size - 1) / size;
    char args[64], good[64];
    snprintf(args, sizeof args, "%ld %ld", items, size);
    snprintf(good, sizeof good, "Good - batches of %ld ", size);
    run_example("batching", args);
    EXPECT_OK();
    IN_ORDER("sum from a plain loop: ", "Bad  - one task per item:", good, "batching was ",
             "both sums equal the plain loop's: yes");
    unsigned long long want, sum;
    long spawned, ran;
    EXPECT(sscanf(AFTER("sum from a plain loop: "), "%llu", &want) == 1);
    EXPECT(sscanf(AFTER("Bad  - one task per item:"), " %ld tasks spawned, %ld ran, sum %llu",
                  &spawned, &ran, &sum) == 3);
    EXPECT(spawned == items && ran == items && sum == want);
    EXPECT(sscanf(AFTER(good), " %ld tasks spawned, %ld ran, sum %llu", &spawned, &ran, &sum) ==
           3);
    EXPECT(spawned == batches && ran == batches && sum == want);
    /* The times and their ratio are printed, not checked: they belong to the
     * benchmarks, on a quiet machine. */
}

TEST(example_bounded_spawn)
{
    const long m = SCALE(5000, 2000, 300), k = 100; /* TSan: see example_batching */
    char args[64];
    snprintf(args, sizeof args, "%ld %ld 2", m, k);
    run_example("bounded_spawn", args);
    EXPECT_OK();
    IN_ORDER("Good - at most K in flight (ring):", "Bad  - unbounded (detached spawns):",
             "Good - K permits (semaphore):", "the bounded run kept at most",
             "the semaphore kept at most");
    long ran[3], total[3], peak[3], working[3], growth[3];
    const char *label[3] = {"Good - at most K in flight (ring):",
                            "Bad  - unbounded (detached spawns):", "Good - K permits (semaphore):"};
    for (int i = 0; i < 3; i++) {
        const char *p = AFTER(label[i]);
        EXPECT(sscanf(p, " %ld of %ld tasks ran, all items once: yes; peak live tasks %ld; peak at "
                      "work %ld;",
                      &ran[i], &total[i], &peak[i], &working[i]) == 4);
        EXPECT(sscanf(AFTER_FROM(p, "peak RSS growth "), "%ld KiB", &growth[i]) == 1);
        EXPECT(ran[i] == m && total[i] == m);
    }
    /* A task is joined only after it ended: never more than K alive. */
    EXPECT(peak[0] >= 1 && peak[0] <= k && working[0] <= peak[0]);
    /* Unbounded, with the finish line: all M alive at once. */
    EXPECT(peak[1] == m && peak[1] > k);
    /* The seed's semaphore: at most K at work (holding a permit), however
     * many are alive (how many depends on how fast the loop spawns: not
     * checked beyond M). */
    EXPECT(working[2] >= 1 && working[2] <= k && peak[2] >= working[2] && peak[2] <= m);
    /* M suspended coroutines hold at least a stack page each, K of them far
     * less. Sanitizers add shadow and quarantine memory of their own, and
     * under qemu the RSS is the emulator's, its code cache included. */
    if (!UNDER_SAN && !test_emulated())
        EXPECT(growth[0] <= growth[1]);
}

/* ---- the sync examples: channels, semaphores, mutexes ----------------------- */

/* "<prefix>0\n" .. "<prefix>(n-1)\n" each occur exactly once, in this order. */
static void expect_numbered_at(int line, const char *prefix, int n)
{
    const char *pos = out.text;
    for (int i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s%d\n", prefix, i);
        const char *hit = strstr(out.text, want);
        if (!hit || strstr(hit + 1, want))
            fail_with_output(line, "expected \"%s\" exactly once", want);
        if (hit < pos)
            fail_with_output(line, "\"%s\" out of order", want);
        pos = hit;
    }
    char next[128]; /* and nothing past n-1 */
    snprintf(next, sizeof next, "%s%d\n", prefix, n);
    if (strstr(out.text, next))
        fail_with_output(line, "unexpected \"%s\"", next);
}
#define EXPECT_NUMBERED(prefix, n) expect_numbered_at(__LINE__, (prefix), (n))

TEST(example_producer_consumer)
{
    run_example("producer_consumer", "5 10 100"); /* 5 ms apart; 10 producers x 100 items */
    EXPECT_OK();
    IN_ORDER("seed 001: mpsc::channel(32)", "values 0..9 each once, in order: yes",
             "seed 000: producer_consumer_pattern", "10 producers x 100 items",
             "received 1000 items; every producer's 100 items each once and in its order: yes "
             "(duplicates 0, out of order 0)",
             "the loop ended with CORIO_ECLOSED once the last of the 10 producers released its "
             "sender",
             "seed 003: mpsc::channel(5)",
             "producer returned Ok: yes; values 0..9 each once, in order: yes");
    EXPECT_NUMBERED("Received: ", 10);
    EXPECT_NUMBERED("Consumed: ", 10);
    EXPECT(strstr(AFTER("seed 003:"), "Received: ") == NULL);
}

TEST(example_choose_channel)
{
    run_example("choose_channel", "4 50"); /* 4 producers x 50 messages; 4 subscribers, 50 messages */
    EXPECT_OK();
    IN_ORDER("oneshot - one reply to one request:", "asked a worker for 7 * 7, it replied 49",
             "a worker that gave up without replying: the receive returned CORIO_ECLOSED",
             "mpsc - many producers, one consumer:",
             "4 producers x 50 messages -> the one consumer received 200: 50 from producer 0, 50 "
             "from producer 1, 50 from producer 2, 50 from producer 3\n",
             "every message once, each producer's in order: yes",
             "broadcast - every subscriber gets every message:");
    /* 10 + 20 + ... + 500 */
    for (int i = 1; i <= 4; i++) {
        char want[128];
        snprintf(want, sizeof want, "subscriber %d received 50 of 50 messages (sum 12750, lagged 0)",
                 i);
        (void)AFTER(want);
    }
    IN_ORDER("broadcast - every", "every subscriber got every message: yes");
}

TEST(example_broadcast_fanout)
{
    run_example("broadcast_fanout", "10"); /* 10 ms between the 5 messages */
    EXPECT_OK();
    EXPECT_NUMBERED("Subscriber 1: Message ", 5);
    EXPECT_NUMBERED("Subscriber 2: Message ", 5);
    IN_ORDER("Subscriber 1: Message 4\n", "sent 5 messages; the sends counted 10 receivers in all");
    IN_ORDER("Subscriber 2: Message 4\n", "sent 5 messages;",
             "subscriber 1: 5 of 5 messages, in order: yes, lagged 0, then CORIO_ECLOSED",
             "subscriber 2: 5 of 5 messages, in order: yes, lagged 0, then CORIO_ECLOSED",
             "both subscribers got every message: yes");
}

TEST(example_rate_limited)
{
    const long requests = 40, tasks = SCALE(1000, 1000, 300), ms = 5;
    char args[64];
    snprintf(args, sizeof args, "%ld %ld %ld", requests, tasks, ms);
    run_example("rate_limited", args);
    EXPECT_OK();
    IN_ORDER("RateLimitedClient:", "Semaphore::new(100):",
             "the concurrency never exceeded the permits: yes");
    long n, from, answered, peak, ok, rounds, unit, bound;
    int permits;
    EXPECT(sscanf(AFTER("RateLimitedClient: "),
                  "%ld requests from %ld tasks, %ld answered 200; peak in flight %ld (permits %d)",
                  &n, &from, &answered, &peak, &permits) == 5);
    EXPECT(n == requests && answered == requests && permits == 4);
    EXPECT(peak >= 1 && peak <= permits);
    /* No more than `permits` at once: the requests took at least this long. */
    double took;
    const char *sec = AFTER("RateLimitedClient: ");
    EXPECT(sscanf(AFTER_FROM(sec, "took "), "%lf ms, at least %ld rounds of %ld ms = %ld ms", &took,
                  &rounds, &unit, &bound) == 4);
    EXPECT(rounds == (requests + 3) / 4 && unit == ms && took >= (double)bound - 1.0);
    EXPECT(strstr(AFTER_FROM(sec, "took "), "permits free after: 4\n") != NULL);
    EXPECT(sscanf(AFTER("Semaphore::new(100): "),
                  "%ld tasks spawned at once, %ld processed their item, all items once: yes; peak "
                  "concurrency %ld (permits %d)",
                  &n, &ok, &peak, &permits) == 4);
    EXPECT(n == tasks && ok == tasks && permits == 100);
    EXPECT(peak >= 1 && peak <= permits);
    sec = AFTER("Semaphore::new(100): ");
    EXPECT(sscanf(AFTER_FROM(sec, "took "), "%lf ms, at least %ld rounds of %ld ms = %ld ms", &took,
                  &rounds, &unit, &bound) == 4);
    EXPECT(rounds == (tasks + 99) / 100 && took >= (double)bound - 1.0);
    EXPECT(strstr(AFTER_FROM(sec, "took "), "permits free after: 100\n") != NULL);
}

TEST_TIMING(example_mutex_counter)
{
    const double hold = 50.0;
    run_example("mutex_counter", "100 4 50"); /* 100 increments; 4 tasks, 50 ms awaits */
    EXPECT_OK();
    IN_ORDER("1. Arc<Mutex<i32>>: 10 tasks x 100 increments",
             "counter = 1000, expected 1000: no update lost",
             "2. 4 tasks, each one long_operation().await of 50 ms:", "bad  - lock held",
             "good - copy, unlock", "3. pthread_mutex_t around a map",
             "16 workers, map has 16 entries, 16 \"done\"",
             "corio_mutex held across an await (request, await reply, read): 8 exchanges, at most "
             "1 at once",
             "uncontended lock + unlock: pthread_mutex_t ");
    long n;
    double total, longest, all;
    EXPECT(sscanf(AFTER("bad  - lock held across the await:"),
                  " %ld tasks done in %lf ms; waited for the lock: longest %lf ms, in all %lf ms",
                  &n, &total, &longest, &all) == 4);
    /* The holds go one after the other: 4 x 50 ms at least, and the last
     * task waited for three of them (less the few microseconds between
     * the spawns). */
    EXPECT(n == 4 && total >= 4 * hold && longest >= 2.5 * hold && all >= longest);
    double bad_total = total;
    EXPECT(sscanf(AFTER("good - copy, unlock, then await:"),
                  " %ld tasks done in %lf ms; waited for the lock: longest %lf ms, in all %lf ms",
                  &n, &total, &longest, &all) == 4);
    /* The awaits overlap; the lock is held for a struct copy. */
    EXPECT(n == 4 && total >= hold && total < 2 * hold && total < bad_total / 2);
    EXPECT(longest < hold / 2);
}

TEST(example_channel_capacity)
{
    const long n = SCALE(100000, 20000, 5000);
    char args[64], one[128], hundred[128];
    snprintf(args, sizeof args, "%ld 20", n);
    run_example("channel_capacity", args);
    EXPECT_OK();
    snprintf(one, sizeof one, "capacity   1: %ld of %ld messages received, checksum right: yes;", n,
             n);
    snprintf(hundred, sizeof hundred,
             "capacity 100: %ld of %ld messages received, checksum right: yes;", n, n);
    IN_ORDER(one, hundred, "capacity 100 moved ", "x as many messages per second as capacity 1");
    /* Throughputs and their ratio are printed, not checked: they belong to
     * the benchmarks, on a quiet machine. */
}

/* ---- the showcase ---------------------------------------------------------- */

TEST(example_tcp_server)
{
    run_example("tcp_server", "20 10");
    EXPECT_OK();
    IN_ORDER("listening on 127.0.0.1:", "clients: 20, each 10 requests",
             "connections accepted: 20, one task each", "requests served: 220",
             "parse errors answered: 20", "answers as expected: 220 of 220", "clients failed: 0",
             "all good");
}

TEST_TIMING(example_starvation)
{
    run_example("starvation", "10 40");
    EXPECT_OK();
    IN_ORDER("10 clients at once, 40 ms", "process each client inline:  10 clients served",
             "spawn a task per client:     10 clients served", "the last client waited");
    /* Inline, the accept loop serves one client after the other: never two
     * at once, so the last one waits for the queries of all those that
     * connected before it (~400 ms when all ten connect at once; on a busy
     * machine some connect later, and wait less). Spawned, the clients are
     * processed side by side: the accept loop takes the next connection
     * while the previous one's query is pending (to see one at a time
     * there, the accept loop would have to be held up for 40 ms after each
     * of nine spawns). The waits themselves are speed figures: printed;
     * only "none early" (each waits at least its own query) is checked. */
    double inl, spawned;
    int inl_peak, spawned_peak;
    EXPECT(sscanf(AFTER("process each client inline:  10 clients served, mean wait "),
                  "%*f ms, worst %lf ms, at most %d processed at once", &inl, &inl_peak) == 2);
    EXPECT(sscanf(AFTER("spawn a task per client:     10 clients served, mean wait "),
                  "%*f ms, worst %lf ms, at most %d processed at once", &spawned,
                  &spawned_peak) == 2);
    EXPECT(inl_peak == 1);
    EXPECT(inl >= 40 * 0.95);
    EXPECT(spawned_peak >= 2 && spawned_peak <= 10);
    EXPECT(spawned >= 40 * 0.95);
}

/* SIGTERM mid-load (the program sends it to itself): every request the
 * server read is answered and received; the server exits 0. */
TEST(example_graceful_shutdown)
{
    run_example("graceful_shutdown", "20 30 150");
    EXPECT_OK();
    IN_ORDER("serving on 127.0.0.1:", "SIGTERM: stopped accepting, draining ", "drained in", "connections cancelled at the deadline: 0",
             "requests read by the server:", "accepted requests lost: 0", "clean shutdown");
    int draining, read, answered, received, sent;
    /* clients still queued in the backlog (a slow build) are refused, not lost */
    EXPECT(sscanf(AFTER("draining "), "%d connections", &draining) == 1);
    EXPECT(draining > 0 && draining <= 20);
    EXPECT(sscanf(AFTER("requests read by the server: "), "%d, answered: %d", &read,
                  &answered) == 2);
    EXPECT(read > 0 && read == answered);
    EXPECT(sscanf(AFTER("answers the clients received: "), "%d of %d", &received, &sent) == 2);
    EXPECT(received == answered && sent >= received);
}

/* Run an example like run_example, and send it `sig` once a line of its
 * output starts with `ready`: not before it is ready, however slow the
 * machine. Appends "exit=N" (its exit status) to the output. An example
 * that says nothing for 30 s is killed, and the test fails. */
static void run_example_signal_when(const char *name, const char *args, const char *ready, int sig)
{
    char cmd[512];
    const char *wrap = getenv("CORIO_EXEC"); /* as test_run_capture */
    snprintf(cmd, sizeof cmd, "exec %s%s%s/examples/%s %s 2>&1", wrap ? wrap : "",
             wrap && *wrap ? " " : "", test_build_dir(), name, args);
    int fds[2];
    if (pipe(fds) < 0)
        test_failf(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        test_failf(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0, line_start = 0;
    bool sent = false, timed_out = false;
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, 30000);
        if (pr == 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char buf[1024];
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < sizeof out.text - 1 - n ? (size_t)r : sizeof out.text - 1 - n;
        memcpy(out.text + n, buf, take);
        n += take;
        out.text[n] = 0;
        /* Each complete line: is it the one? */
        for (char *nl; !sent && (nl = strchr(out.text + line_start, '\n')) != NULL;
             line_start = (size_t)(nl + 1 - out.text)) {
            if (strncmp(out.text + line_start, ready, strlen(ready)) == 0) {
                /* At once: the example may not be waiting yet, and the
                 * signal must not be lost then either. */
                if (kill(pid, sig) < 0)
                    test_failf(__FILE__, __LINE__, "kill %d: %s", (int)pid, strerror(errno));
                sent = true;
            }
        }
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    out.status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    snprintf(out.text + n, sizeof out.text - n, "exit=%d\n", out.status);
    if (timed_out)
        fail_with_output(__LINE__, "no output for 30 s (waiting for \"%s\"): killed", ready);
    if (!sent)
        fail_with_output(__LINE__, "no line \"%s\": no signal sent", ready);
}

/* The same with a SIGTERM from outside, as `kill -TERM` sends it, once the
 * server says it is serving (its handler is in place by then). */
TEST(example_graceful_shutdown_external_sigterm)
{
    run_example_signal_when("graceful_shutdown", "0 30 0 wait", "serving on 127.0.0.1:", SIGTERM);
    IN_ORDER("serving on 127.0.0.1:", "SIGTERM: stopped accepting, draining 0 connections",
             "accepted requests lost: 0", "clean shutdown", "exit=0");
}

/* Seed 003's std::fs::read_to_string vs tokio::fs::read_to_string: a read
 * from a slow device (a FIFO fed over 200 ms) made in the task stalls every
 * task of the current-thread runtime for its whole length: the 2 ms ticker
 * does not tick once while it is in progress. Made with corio_fs_read_file,
 * the ticker keeps ticking meanwhile. (How short its gaps stay is a
 * latency figure that depends on the machine's load: printed, not checked.
 * A tick during the 200 ms read only needs the runtime's thread to get a
 * CPU once in that time.) */
TEST_TIMING(example_read_file)
{
    run_example("read_file", "200");
    EXPECT_OK();
    IN_ORDER("reading file.txt, a device that takes 200 ms",
             "blocking read in the task:  44 bytes", "corio_fs_read_file:         44 bytes",
             "the blocking read stalled every other task for");
    double blocking_ms, blocking_gap, async_ms;
    int blocking_ticks, async_ticks;
    EXPECT(sscanf(AFTER("blocking read in the task:  44 bytes in "),
                  "%lf ms, ticker's longest gap %lf ms, %d ticks during the read", &blocking_ms,
                  &blocking_gap, &blocking_ticks) == 3);
    EXPECT(sscanf(AFTER("corio_fs_read_file:         44 bytes in "),
                  "%lf ms, ticker's longest gap %*f ms, %d ticks during the read", &async_ms,
                  &async_ticks) == 2);
    EXPECT(blocking_ms >= 200 * 0.99 && async_ms >= 200 * 0.99); /* the device's pace */
    EXPECT(blocking_gap >= blocking_ms - 1); /* the whole read (less the printed rounding) */
    EXPECT(blocking_ticks == 0);
    EXPECT(async_ticks >= 1);
}

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
             "wake -> task running again: p50", "7. Every core: the multi-thread runtime",
             "current-thread runtime:", "multi-thread runtime:", "results equal: yes",
             "blocking jobs (corio_spawn_blocking, each joined)", "results right: yes",
             "the idle runtime over 500 ms:", "8. TCP echo", "connections, each a task",
             "msgs/s", "round-trip latency: p50", "server CPU per message:",
             "server memory per connection:", "failed connections: 0", "\ndone in ");
    long long echoed;
    EXPECT(sscanf(AFTER("for 300 ms: "), "%lld echoed", &echoed) == 1);
    EXPECT(echoed > 0);
    /* Section 7: the current-thread runtime ran every task on one thread;
     * the multi-thread one on at most its workers (how many took part
     * depends on the machine's load: not checked). */
    int one_thread, threads;
    long workers;
    EXPECT(sscanf(AFTER("current-thread runtime: "), "%*f ms on %d thread", &one_thread) == 1);
    EXPECT(one_thread == 1);
    EXPECT(sscanf(AFTER("multi-thread runtime: "), "%*f ms on %d thread%*[s] (%ld workers",
                  &threads, &workers) == 2 ||
           sscanf(AFTER("multi-thread runtime: "), "%*f ms on %d thread (%ld workers", &threads,
                  &workers) == 2);
    EXPECT(workers >= 1 && threads >= 1 && threads <= workers);
    int n, joins, cleanups;
    EXPECT(sscanf(AFTER("aborted all: "), "%d joins reported cancellation, %d cleanups", &joins,
                  &cleanups) == 2);
    EXPECT(sscanf(AFTER("1. Memory per idle coroutine\n"), " %d coroutines started", &n) == 1);
    EXPECT(n > 0 && joins == n && cleanups == n);
    long long sum, want;
    EXPECT(sscanf(AFTER("sum of results "), "%lld (expected %lld)", &sum, &want) == 2);
    EXPECT(sum == want);
}

/* ---- the combinators: join, try_join, select, join_all, JoinSet ---------------- */

TEST_TIMING(example_try_join_fetch)
{
    run_example("try_join_fetch", "fast"); /* fetches of 20, 30 and 60 ms */
    EXPECT_OK();
    IN_ORDER("1. every fetch succeeds",
             "Ok(UserData { profile: \"profile of user 42\", posts: \"posts of user 42\", "
             "followers: \"followers of user 42\" })",
             "fetches dropped: 0", "2. fetch_user_posts fails with ECONNREFUSED",
             "Err(ECONNREFUSED) from fetch_user_posts",
             "dropped unfinished, their timers disarmed: 1 fetch: fetch_user_followers");
    double ms;
    EXPECT(sscanf(AFTER("})\n   in "), "%lf", &ms) == 1);
    EXPECT(ms >= 59.0 && ms < 100.0); /* the slowest (60), not the sum (110) */
    EXPECT(sscanf(AFTER("from fetch_user_posts, in "), "%lf", &ms) == 1);
    EXPECT(ms >= 29.0 && ms < 55.0); /* the failing one (30), not the slowest (60) */
}

TEST_TIMING(example_join_handles)
{
    run_example("join_handles", "100");
    EXPECT_OK();
    const char *done1 = strstr(out.text, "Task 1 completed\n");
    EXPECT(done1 != NULL);
    const char *r1 = strstr(out.text, "Task 1 running\n"), *r2 = strstr(out.text, "Task 2 running\n");
    EXPECT(r1 && r2 && r1 < done1 && r2 < done1);
    IN_ORDER("seed 001: tokio::join!(task1, task2)", "Task 1 completed\n", "Task 2 completed\n",
             "both joined after ", "results 0, 0", "seed 003:");
    double ms;
    EXPECT(sscanf(AFTER("both joined after "), "%lf", &ms) == 1);
    EXPECT(ms >= 199.0 && ms < 290.0); /* max(100, 200), not the sum */
    EXPECT_NUMBERED("Consumed: ", 10);
    IN_ORDER("Consumed: 9\n", "producer and consumer joined after ",
             "producer returned 0, consumer received 10 items");
    EXPECT(sscanf(AFTER("producer and consumer joined after "), "%lf", &ms) == 1);
    EXPECT(ms >= 99.0 && ms < 250.0); /* ten pauses of 10 ms */
}

TEST_TIMING(example_select_timeout)
{
    run_example("select_timeout", "fast"); /* 1 s -> 100 ms */
    EXPECT_OK();
    IN_ORDER("fetch_data() takes 500 ms", "Got data: \"data\"",
             "the fetch was the winner, not dropped", "fetch_data() takes 1500 ms", "Timeout!",
             "the fetch was dropped (its timer disarmed)", "seed 001:");
    /* Task 2 (10 ms) usually wins; on a starved machine task 1 (30 ms) may,
     * and the example says why. Either way the winner's output is its own,
     * and the other task runs on to its end. */
    if (strstr(out.text, "Task 1 finished first"))
        IN_ORDER("seed 001:", "Task 1 finished first: Ok(300)\n", "  (task 2 had ",
                 "the other task went on to its end: Task 1 -> 300, Task 2 -> 100");
    else
        IN_ORDER("seed 001:", "Task 2 finished first: Ok(100)\n",
                 "the other task went on to its end: Task 1 -> 300, Task 2 -> 100");
    double ms;
    EXPECT(sscanf(AFTER("Got data: \"data\"\n    after "), "%lf", &ms) == 1);
    EXPECT(ms >= 49.0 && ms < 95.0); /* the fetch (50), before the sleep (100) */
    EXPECT(sscanf(AFTER("Timeout!\n    after "), "%lf", &ms) == 1);
    EXPECT(ms >= 99.0 && ms < 145.0); /* the sleep (100), before the fetch (150) */
}

TEST_TIMING(example_select_loop)
{
    run_example("select_loop", "20"); /* pauses of 20 ms, a timeout of 200 ms */
    EXPECT_OK();
    IN_ORDER("1. the producer pauses 20 ms", "Received: Message 0\n", "Received: Message 1\n",
             "Received: Message 2\n", "Received: Message 3\n", "Received: Message 4\n",
             "Timeout - no message received\n", "the loop received 5 messages and ended after ",
             "2. the producer pauses 300 ms", "Received: Message 0\n",
             "Timeout - no message received\n", "the loop received 1 message and ended after ");
    double ms;
    EXPECT(sscanf(AFTER("the loop received 5 messages and ended after "), "%lf", &ms) == 1);
    EXPECT(ms >= 300.0 && ms < 450.0); /* 5 pauses, then the timeout after the close */
    EXPECT(sscanf(AFTER("the loop received 1 message and ended after "), "%lf", &ms) == 1);
    EXPECT(ms >= 199.0 && ms < 290.0); /* the timeout won while a message was due */
    EXPECT(strstr(out.text, "Message 5") == NULL);
    EXPECT(strstr(AFTER("2. the producer"), "Received: Message 1") == NULL);
}

TEST_TIMING(example_select_abort)
{
    run_example("select_abort", "10"); /* steps of 10 ms, a timeout of 100 ms */
    EXPECT_OK();
    IN_ORDER("seed 003:", "Working on step 0\n", "Cancelled!\n",
             "worker: cleanup after ", "(CORIO_ECANCELED)",
             "join: CORIO_ECANCELED, the worker returned CORIO_ECANCELED",
             "cleanup ran 1 time(s); no step since: yes", "seed 004:",
             "Timeout reached, cancelling task.\n", "my_task: cleanup (CORIO_ECANCELED)",
             "cleanup ran 1 time(s)");
    EXPECT(strstr(out.text, "Task completed") == NULL);
    /* The example waits for the worker to start before the race. ms counts
     * from before the spawn to the join. The worker's steps are
     * sleeps of 10 ms one after the other, so it cannot have finished more
     * than ms / 10 of them (none early), and the timeout cannot have fired
     * before 100 ms. How many steps it got through (about 10) depends on
     * the machine's load: not checked; step 0 began before the abort (the
     * order above), and none came after it ("no step since"). */
    int steps;
    double ms;
    EXPECT(sscanf(AFTER("stopped after "), "%d of 100 steps, %lf ms", &steps, &ms) == 2);
    EXPECT(ms >= 100 - 0.5);
    EXPECT(steps >= 0 && steps * 10 <= ms + 0.5);
}

TEST(example_join_all)
{
    long n = SCALE(1000, 1000, 200);
    char args[64], right[128];
    snprintf(args, sizeof args, "%ld 40", n); /* JoinSet items 40 ms apart */
    run_example("join_all", args);
    EXPECT_OK();
    snprintf(right, sizeof right, "%ld of %ld results right, in the items' order", n, n);
    IN_ORDER("1. process_many_items:", "results[0] = \"Processed 0\"", right,
             "2. the same with a JoinSet", "14 of 14 joined, fastest first: ");
}

TEST(example_stream_pipeline)
{
    run_example("stream_pipeline", "5"); /* 5 ms sleeps instead of 100 */
    EXPECT_OK();
    IN_ORDER("seed 003: iter(0..5).then(sleep 5 ms, i * 2).filter(even).map(+1).collect()",
             "Results: [1, 3, 5, 7, 9]\n", "five async steps one after the other: yes",
             "seed 003: ReceiverStream.map(* 2).filter(even).for_each(println)",
             "Processed: 0\n", "Processed: 2\n", "Processed: 18\n",
             "the for_each ended with the channel: 10 items",
             "seed 001: while let Some(value) = stream.next().await", "Processing: 1\n",
             "Processing: 5\n", "next returned CORIO_ECLOSED at the end: yes");
}

TEST(example_batch_concurrent)
{
    run_example("batch_concurrent", "1000 100 2"); /* 1000 items, 100 in flight, 2 ms each */
    EXPECT_OK();
    IN_ORDER("seed 001: batch processing with a bounded number in flight",
             "for_each_concurrent(100): processed 1000 items, sum 499500, at most 100 in flight: yes",
             "peak in flight 100;", "the waits overlapped: yes",
             "chunks_timeout(100, 1 s): 1000 items in 10 batches (10 full), sum 499500");
}

TEST(example_shutdown_broadcast)
{
    run_example("shutdown_broadcast", "50 180 3"); /* ticks of 50 ms, shutdown at 180 ms */
    EXPECT_OK();
    /* (How many "Server running..." lines come first depends on timing.) */
    IN_ORDER("main: shutdown after 180 ms\n",
             "Shutting down...\n", "Shutting down...\n", "Shutting down...\n",
             "every run loop ended: 3 of 3, ");
}

TEST_TIMING(example_scope_borrow)
{
    run_example("scope_borrow", "20"); /* units of 20 ms */
    EXPECT_OK();
    IN_ORDER("1. four children sum", "= 500500 (expected 500500)",
             "2. a failure cancels the siblings", "scope returned EIO after ",
             "child 0 (10 units): result CORIO_ECANCELED, cleanup ran: yes",
             "child 1 (1 units, fails): result EIO, cleanup ran: yes",
             "3. a deadline scope of 3 units", "scope returned CORIO_ETIMEDOUT after ",
             "child 0 (1 units): result 0, cleanup ran: yes",
             "child 1 (2 units): result 10, cleanup ran: yes",
             "child 2 (5 units): result CORIO_ECANCELED, cleanup ran: yes",
             "child 3 (8 units): result CORIO_ECANCELED, cleanup ran: yes",
             "4. the parent is aborted",
             "parent: scope returned CORIO_ECANCELED; the children's cleanup had written 3 of 3 slots",
             "every child had finished first: yes");
    double ms;
    EXPECT(sscanf(AFTER("scope returned EIO after "), "%lf", &ms) == 1);
    EXPECT(ms >= 19.0 && ms < 150.0); /* the failure at 1 unit, not the siblings' 10 */
    EXPECT(sscanf(AFTER("scope returned CORIO_ETIMEDOUT after "), "%lf", &ms) == 1);
    EXPECT(ms >= 59.0 && ms < 150.0); /* the 3-unit deadline, not the 8-unit child */
}

TEST_TIMING(example_cleanup_guard)
{
    run_example("cleanup_guard", "20");
    EXPECT_OK();
    IN_ORDER("1. three tasks aborted mid-await", "active before the abort: 3",
             "task 0: join CORIO_ECANCELED, it returned CORIO_ECANCELED",
             "task 2: join CORIO_ECANCELED, it returned CORIO_ECANCELED",
             "active after: 0, cleanup ran 3 time(s)",
             "2. three tasks in a scope with a deadline of 2 units",
             "scope returned CORIO_ETIMEDOUT after ",
             "active when it returned: 0, cleanup ran 3 time(s)");
    double ms;
    EXPECT(sscanf(AFTER("scope returned CORIO_ETIMEDOUT after "), "%lf", &ms) == 1);
    EXPECT(ms >= 39.0 && ms < 250.0); /* the deadline, not the tasks' 50 units */
}

/* Seed 000's tokio-console and "measure everything": rates from two
 * readings of the metrics, then a dump that finds the task stuck on a
 * forgotten oneshot, grouped with its name, and the clients as one group
 * of 50 (the largest, so first). */
TEST(example_introspection)
{
    run_example("introspection", "50");
    EXPECT_OK();
    IN_ORDER("over 200 ms:", "worker 0: ", " polls/s, busy ", "multi-thread, ",
             "tasks: 53 alive, 53 spawned", "worker 0: ", "53 live tasks by spawn site",
             "        50        ", "examples/introspection.c:", "(main_task)",
             "counter ", "the stuck waiter ended with channel or handle closed",
             "task hooks: 53 spawned, 52 terminated");
    EXPECT(strstr(out.text, "(main_task) \"ticker\", id ") != NULL);
    EXPECT(strstr(out.text, "(main_task) \"waits-for-answer\", id ") != NULL);
    EXPECT(strstr(out.text, "<block_on>:0 (corio_rt_block_on), id ") != NULL);
}

/* The same dump on SIGUSR1, sent from outside as `kill -USR1` would. */
TEST(example_introspection_dump_on_sigusr1)
{
    run_example_signal_when("introspection", "10 1", "ready: kill -USR1 ", SIGUSR1);
    IN_ORDER("ready: kill -USR1 ", "tasks: 13 alive, 13 spawned", "13 live tasks by spawn site",
             "        10        ", "\"waits-for-answer\"", "counter ", "exit=0");
}

/* A bad argument (not a number, out of range, one too many) is refused
 * with the usage and exit status 2, before anything runs. */
TEST(example_bad_arguments)
{
    static const char *const runs[][2] = {
        {"two_tasks", "abc"},           {"fetch_data", "99999999999999999999"},
        {"join_all", "10 5 extra"},     {"shutdown_broadcast", "0"},
        {"graceful_shutdown", "-1"},    {"tcp_server", "5 5 70000"},
        {"timeout", "scale=abc"},       {"batching", "10x"},
        {"introspection", "0"},         {"introspection", "5 1 2"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        run_example(runs[i][0], runs[i][1]);
        EXPECT(out.status == 2);
        EXPECT(strstr(out.text, "usage: ") != NULL);
    }
}
