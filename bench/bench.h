/* bench.h - what every corio benchmark program shares: key=value arguments,
 * the clock, the peers' pseudo-random generator, the RESULT line, and a
 * one-shot "done" future for the waiter at the end of a workload.
 *
 * The programs follow the CLI contract of the peers' harness
 * (../shared/peers/README.md): arguments are key=value words in any order,
 * unknown keys are ignored, every key has a default; exactly one line starting
 * with "RESULT " goes to stdout. The parsing mirrors the peers' C helper
 * (peers_args.h): the first occurrence of a key wins, and a value that is not
 * a whole number exits with status 2. The generator is xorshift64* with the
 * peers' seed, so timers sleeps the same durations in every implementation.
 *
 * threads=1 runs on a current-thread runtime, threads=N (N >= 2) on a
 * multi-thread runtime with N workers, as the peers' rules say (tokio: its
 * current-thread runtime and its multi-thread one; Go: GOMAXPROCS).
 *
 * Header-only and static: each benchmark is one translation unit.
 */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include <corio.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_IMPL "corio"
#define BENCH_SEED 0x9E3779B97F4A7C15ull

/* ---- arguments ------------------------------------------------------------- */

static __attribute__((unused)) const char *arg_str(int argc, char **argv, const char *key,
                                                   const char *def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, kl) == 0 && argv[i][kl] == '=')
            return argv[i] + kl + 1;
    return def;
}

static __attribute__((unused)) long long arg_ll(int argc, char **argv, const char *key,
                                                long long def)
{
    const char *v = arg_str(argc, argv, key, NULL);
    if (!v)
        return def;
    char *end;
    long long r = strtoll(v, &end, 10);
    if (*end || end == v) {
        fprintf(stderr, "bad value for %s: %s\n", key, v);
        exit(2);
    }
    return r;
}

/* A count argument: like arg_ll, but a negative value is an error too. */
static __attribute__((unused)) uint64_t arg_u64(int argc, char **argv, const char *key,
                                                uint64_t def)
{
    long long v = arg_ll(argc, argv, key, (long long)def);
    if (v < 0) {
        fprintf(stderr, "bad value for %s: %lld\n", key, v);
        exit(2);
    }
    return (uint64_t)v;
}

/* The worker count the runtime of bench_run gets (bench_threads sets it). */
static int bench_nthreads = 1;

/* threads=N: 1 (the default) for a current-thread runtime, N >= 2 for a
 * multi-thread one with N workers. */
static __attribute__((unused)) int bench_threads(int argc, char **argv, const char *name)
{
    long long t = arg_ll(argc, argv, "threads", 1);
    if (t < 1 || t > CORIO_MAX_WORKER_THREADS) {
        fprintf(stderr, "%s: bad value for threads: %lld\n", name, t);
        exit(2);
    }
    return bench_nthreads = (int)t;
}

/* ---- clock and generator --------------------------------------------------- */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*, the generator the tokio, Go and libuv peers use (tokio forces
 * the seed odd; BENCH_SEED already is). */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- the RESULT line ------------------------------------------------------- */

/* Print the one RESULT line; `extra_fmt` (may be NULL) formats the workload's
 * own k=v fields. */
static __attribute__((unused, format(printf, 5, 6))) void
bench_report(const char *name, int threads, uint64_t n, double secs, const char *extra_fmt, ...)
{
    char extra[512] = "";
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(extra, sizeof extra, extra_fmt, ap);
        va_end(ap);
    }
    printf("RESULT name=%s impl=%s threads=%d n=%llu secs=%.6f ops_per_sec=%.0f%s%s\n", name,
           BENCH_IMPL, threads, (unsigned long long)n, secs, secs > 0 ? (double)n / secs : 0.0,
           extra[0] ? " " : "", extra);
    fflush(stdout);
}

/* Exit with a message when a corio call failed. */
static __attribute__((unused)) void bench_check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, corio_strerror(rc), corio_err_name(rc));
        exit(1);
    }
}

/* ---- the waiter: a one-shot notification ------------------------------------ */

/* The end of a workload: one waiter awaits `done`, the task (or thread) that
 * finishes the work calls bench_done_fire(), from any thread. Fired once, so
 * a mutex around the waker slot costs nothing that shows. */
typedef struct bench_done {
    corio_future base; /* result: 0 */
    pthread_mutex_t lock;
    int fired;         /* under lock */
    corio_waker waker; /* under lock */
} bench_done;

static corio_poll bench_done_poll(corio_future *f, corio_context *cx)
{
    bench_done *d = (bench_done *)f;
    pthread_mutex_lock(&d->lock);
    if (d->fired) {
        corio_waker_drop(&d->waker); /* a ready future owns nothing */
        pthread_mutex_unlock(&d->lock);
        return CORIO_READY;
    }
    corio_waker_store(&d->waker, corio_context_waker(cx));
    pthread_mutex_unlock(&d->lock);
    return CORIO_PENDING;
}

static void bench_done_drop(corio_future *f)
{
    bench_done *d = (bench_done *)f;
    pthread_mutex_lock(&d->lock);
    corio_waker_drop(&d->waker);
    pthread_mutex_unlock(&d->lock);
}

static const corio_future_vtable bench_done_vtable = {bench_done_poll, bench_done_drop};

static __attribute__((unused)) void bench_done_init(bench_done *d)
{
    corio_future_init(&d->base, &bench_done_vtable);
    pthread_mutex_init(&d->lock, NULL);
    d->fired = 0;
    d->waker = CORIO_WAKER_NONE;
}

/* Mark done and wake the waiter (its waker is consumed), from any thread. */
static __attribute__((unused)) void bench_done_fire(bench_done *d)
{
    pthread_mutex_lock(&d->lock);
    d->fired = 1;
    corio_waker w = d->waker;
    d->waker = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&d->lock);
    corio_waker_wake(&w);
}

/* One piece of the work is done: the last of `*remaining` fires `d`.
 * Relaxed: the count only decides who fires; bench_done's lock orders the
 * fire with the waiter. */
static __attribute__((unused)) void bench_count_down(_Atomic uint64_t *remaining, bench_done *d)
{
    if (atomic_fetch_sub_explicit(remaining, 1, memory_order_relaxed) == 1)
        bench_done_fire(d);
}

/* Build the runtime threads=N asked for (excluded from the timings, as the
 * peers exclude theirs), run fn(arg) as its main task, free it. */
static __attribute__((unused)) int bench_run(corio_fn fn, void *arg)
{
    corio_rt *rt;
    corio_rt_builder b = bench_nthreads > 1 ? corio_rt_builder_multi_thread()
                                            : corio_rt_builder_current_thread();
    b.worker_threads = (unsigned)bench_nthreads;
    bench_check(corio_rt_build(&b, &rt), "corio_rt_build");
    int result = 0;
    bench_check(corio_rt_block_on(rt, fn, arg, &result), "corio_rt_block_on");
    /* BENCH_METRICS=1: each worker's counters on stderr, to see where a
     * figure comes from (steals, parks); the RESULT line is unchanged. */
    const char *m = getenv("BENCH_METRICS");
    if (m && *m == '1') {
        corio_metrics rm;
        bench_check(corio_rt_metrics(rt, &rm), "corio_rt_metrics");
        for (unsigned i = 0; i < rm.workers; i++) {
            corio_worker_metrics wm;
            bench_check(corio_rt_worker_metrics(rt, i, &wm), "corio_rt_worker_metrics");
            fprintf(stderr,
                    "METRICS worker=%u polls=%llu parks=%llu steals=%llu steal_ops=%llu "
                    "overflows=%llu busy_ms=%.1f\n",
                    i, (unsigned long long)wm.polls, (unsigned long long)wm.parks,
                    (unsigned long long)wm.steals, (unsigned long long)wm.steal_ops,
                    (unsigned long long)wm.overflows, (double)wm.busy_ns / 1e6);
        }
    }
    corio_rt_free(rt);
    return result;
}

#endif
