/* rate_limited.c - bounding concurrency with a semaphore.
 *
 * Mirrors "Backpressure and Flow Control" of seed 000 ("Mastering Async
 * Rust"):
 *
 *     struct RateLimitedClient {
 *         client: reqwest::Client,
 *         semaphore: Arc<Semaphore>,
 *     }
 *     impl RateLimitedClient {
 *         async fn request(&self, url: &str) -> Result<Response, Error> {
 *             let _permit = self.semaphore.acquire().await?;
 *             self.client.get(url).send().await.map_err(Into::into)
 *         }
 *     }
 *
 * and "Limit concurrency with semaphore" of seed 003 ("Common Pitfalls"):
 *
 *     let semaphore = Arc::new(Semaphore::new(100)); // Max 100 concurrent
 *     for item in huge_list {
 *         let sem = semaphore.clone();
 *         tokio::spawn(async move {
 *             let _permit = sem.acquire().await.unwrap();
 *             process(item).await;
 *         });
 *     }
 *
 * How the C version maps onto it:
 *  - Semaphore::new(n) is a corio_semaphore initialised with n permits
 *    (corio_semaphore_init, or CORIO_SEMAPHORE_INIT(n) statically). It
 *    lives inside the struct that uses it: the tasks share it through a
 *    pointer to that struct, which outlives them (main joins them all), so
 *    no Arc is needed.
 *  - `let _permit = sem.acquire().await?` is corio_semaphore_acquire(&sem,
 *    1), which returns 0 holding one permit, or an error (the semaphore
 *    closed: Err(AcquireError); the task cancelled or its deadline passed)
 *    holding none. C has no guard that gives the permit back when it goes
 *    out of scope: corio_semaphore_release(&sem, 1) does, on every path
 *    out once the acquire succeeded (an early return in between would leak
 *    the permit for good).
 *  - The request is fake: corio_sleep for the server's latency, then a
 *    "200" status, standing for reqwest's get(url).send().await.
 *  - process(item).await sleeps as well.
 *  - Every task counts itself in a gauge while it holds its permit, keeping
 *    the peak: the concurrency the semaphore allowed, which must never
 *    exceed its permits. Since no more than `permits` run at once, N jobs
 *    of d ms each take at least ceil(N / permits) * d ms; the time is
 *    printed beside that bound.
 *  - tokio::spawn is corio_spawn; main keeps the join handles and joins
 *    them all (the seed drops them, which would let main end before the
 *    tasks). #[tokio::main] is corio_run, a multi-thread runtime.
 *
 *   usage: rate_limited [requests] [tasks] [sleep_ms]   (default 40 1000 20)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long n_requests = 40;
static long n_tasks = 1000;
static long sleep_ms = 20;
static bool peaks_ok = true; /* no peak above its permits */

#define CLIENT_PERMITS 4 /* requests in flight at most, for the client */
#define SEED_PERMITS 100 /* Semaphore::new(100) */

/* How many hold a permit right now, and the most there ever were. */
typedef struct gauge {
    atomic_long now, peak;
} gauge;

static void gauge_enter(gauge *g)
{
    long n = atomic_fetch_add(&g->now, 1) + 1;
    long p = atomic_load(&g->peak);
    while (n > p && !atomic_compare_exchange_weak(&g->peak, &p, n)) {
    }
}

static void gauge_leave(gauge *g)
{
    atomic_fetch_sub(&g->now, 1);
}

/* ---- seed 000: RateLimitedClient --------------------------------------------------- */

typedef struct rate_limited_client {
    corio_semaphore semaphore; /* at most CLIENT_PERMITS requests in flight */
    long latency_ms;           /* the fake server's answer time */
    gauge in_flight;
} rate_limited_client;

static void client_init(rate_limited_client *c, size_t max_in_flight, long latency_ms)
{
    corio_semaphore_init(&c->semaphore, max_in_flight);
    c->latency_ms = latency_ms;
    atomic_init(&c->in_flight.now, 0);
    atomic_init(&c->in_flight.peak, 0);
}

/* async fn request(&self, url) -> Result<Response, Error>: 0 with the HTTP
 * status in *status, or a negative code. */
static int client_request(rate_limited_client *c, const char *url, int *status)
{
    int rc = corio_semaphore_acquire(&c->semaphore, 1); /* let _permit = ...acquire().await? */
    if (rc < 0)
        return rc; /* no permit held: nothing to give back */
    gauge_enter(&c->in_flight);
    (void)url;
    rc = corio_sleep(CORIO_MSEC(c->latency_ms)); /* self.client.get(url).send().await */
    if (rc == 0)
        *status = 200;
    gauge_leave(&c->in_flight);
    corio_semaphore_release(&c->semaphore, 1); /* _permit dropped */
    return rc;
}

typedef struct caller {
    rate_limited_client *client;
    long id;
    int status;
} caller;

static int caller_task(void *arg)
{
    caller *k = arg;
    char url[64];
    snprintf(url, sizeof url, "https://api.example.com/items/%ld", k->id);
    return client_request(k->client, url, &k->status);
}

/* Spawn n tasks of fn, one per element of args (each elem_size bytes),
 * and join them all. Returns how many spawned and returned 0. */
static long spawn_and_join_all(long n, int (*fn)(void *), void *args, size_t elem_size)
{
    corio_task **handles = calloc((size_t)n, sizeof *handles);
    if (!handles)
        return 0;
    long spawned = 0, ok = 0;
    while (spawned < n && corio_spawn(fn, (char *)args + (size_t)spawned * elem_size,
                                      &handles[spawned]) == 0)
        spawned++;
    for (long i = 0; i < spawned; i++) {
        int r = -1;
        if (corio_task_join(handles[i], &r) == 0 && r == 0)
            ok++;
    }
    free(handles);
    return ok;
}

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

static bool seed_000(void)
{
    rate_limited_client client;
    client_init(&client, CLIENT_PERMITS, sleep_ms);
    caller *callers = calloc((size_t)n_requests, sizeof *callers);
    if (!callers)
        return false;
    for (long i = 0; i < n_requests; i++)
        callers[i] = (caller){&client, i, 0};
    corio_instant t0 = corio_instant_now();
    long ok = spawn_and_join_all(n_requests, caller_task, callers, sizeof *callers);
    double ms = ms_since(t0);
    long answered = 0;
    for (long i = 0; i < n_requests; i++)
        answered += callers[i].status == 200;
    free(callers);
    long peak = atomic_load(&client.in_flight.peak);
    peaks_ok = peaks_ok && peak <= CLIENT_PERMITS;
    long rounds = (n_requests + CLIENT_PERMITS - 1) / CLIENT_PERMITS;
    printf("RateLimitedClient: %ld requests from %ld tasks, %ld answered 200; "
           "peak in flight %ld (permits %d)\n",
           n_requests, n_requests, answered, peak, CLIENT_PERMITS);
    printf("  took %.0f ms, at least %ld rounds of %ld ms = %ld ms; permits free after: %zu\n", ms,
           rounds, sleep_ms, rounds * sleep_ms, corio_semaphore_available(&client.semaphore));
    return ok == n_requests && answered == n_requests && peak >= 1 && peak <= CLIENT_PERMITS &&
           corio_semaphore_available(&client.semaphore) == CLIENT_PERMITS;
}

/* ---- seed 003: Semaphore::new(100) over many tasks ---------------------------------- */

static corio_semaphore semaphore = CORIO_SEMAPHORE_INIT(SEED_PERMITS);
static gauge processing;
static atomic_ullong item_sum;

/* process(item).await */
static int process(uint64_t item)
{
    gauge_enter(&processing);
    int rc = corio_sleep(CORIO_MSEC(sleep_ms));
    if (rc == 0)
        atomic_fetch_add(&item_sum, item);
    gauge_leave(&processing);
    return rc;
}

typedef struct job {
    uint64_t item;
} job;

static int job_task(void *arg)
{
    job *j = arg;
    int rc = corio_semaphore_acquire(&semaphore, 1); /* let _permit = sem.acquire().await.unwrap(); */
    if (rc < 0)
        return rc;
    rc = process(j->item);
    corio_semaphore_release(&semaphore, 1);
    return rc;
}

static bool seed_003(void)
{
    job *jobs = calloc((size_t)n_tasks, sizeof *jobs);
    if (!jobs)
        return false;
    for (long i = 0; i < n_tasks; i++)
        jobs[i].item = (uint64_t)i; /* huge_list: 0, 1, ..., n-1 */
    corio_instant t0 = corio_instant_now();
    long ok = spawn_and_join_all(n_tasks, job_task, jobs, sizeof *jobs);
    double ms = ms_since(t0);
    free(jobs);
    long peak = atomic_load(&processing.peak);
    uint64_t n = (uint64_t)n_tasks;
    bool all_once = atomic_load(&item_sum) == n * (n - 1) / 2;
    peaks_ok = peaks_ok && peak <= SEED_PERMITS;
    long rounds = (n_tasks + SEED_PERMITS - 1) / SEED_PERMITS;
    printf("Semaphore::new(%d): %ld tasks spawned at once, %ld processed their item, "
           "all items once: %s; peak concurrency %ld (permits %d)\n",
           SEED_PERMITS, n_tasks, ok, all_once ? "yes" : "no", peak, SEED_PERMITS);
    printf("  took %.0f ms, at least %ld rounds of %ld ms = %ld ms; permits free after: %zu\n", ms,
           rounds, sleep_ms, rounds * sleep_ms, corio_semaphore_available(&semaphore));
    return ok == n_tasks && all_once && peak >= 1 && peak <= SEED_PERMITS &&
           corio_semaphore_available(&semaphore) == SEED_PERMITS;
}

static int async_main(void *arg)
{
    (void)arg;
    bool a = seed_000();
    bool b = seed_003();
    printf("the concurrency never exceeded the permits: %s\n", peaks_ok ? "yes" : "no");
    return a && b ? 0 : 1;
}

#define USAGE_NAME "rate_limited"
#define USAGE_ARGS "rate_limited [requests] [tasks] [sleep_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_requests = arg_long(argv[1], 1, 1000000);
    if (argc > 2)
        n_tasks = arg_long(argv[2], 1, 1000000);
    if (argc > 3)
        sleep_ms = arg_long(argv[3], 0, 60000);
    if (n_requests < 1)
        n_requests = 1;
    if (n_tasks < 1)
        n_tasks = 1;
    if (sleep_ms < 0)
        sleep_ms = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
