/* mutex_counter.c - shared state under a lock: which lock, and for how long.
 *
 * Mirrors three lessons of the seeds. "Shared Mutable State Without
 * Synchronization" of seed 003 ("Common Pitfalls"):
 *
 *     let counter = Arc::new(Mutex::new(0)); // tokio::sync::Mutex
 *     for _ in 0..10 {
 *         let cnt = counter.clone();
 *         tokio::spawn(async move { let mut guard = cnt.lock().await; *guard += 1; });
 *     }
 *
 * "Holding Locks Across Await Points", also of seed 003:
 *
 *     async fn bad_example(mutex: &Mutex<Data>) {
 *         let guard = mutex.lock().await;
 *         long_operation().await; // Lock held entire time!
 *     }
 *     async fn good_example(mutex: &Mutex<Data>) {
 *         let data = { let guard = mutex.lock().await; guard.clone() }; // Lock released here
 *         long_operation(&data).await;
 *     }
 *
 * and "Not Using Sync Mutex" of seed 002:
 *
 *     // Use std::sync::Mutex if not holding across await
 *     let workers = Arc::new(std::sync::Mutex::new(HashMap::new()));
 *     tokio::spawn(async move { let mut workers = workers.lock().unwrap();
 *                               workers.insert(key, value); });
 *
 * How the C version maps onto it:
 *  - tokio::sync::Mutex<T> is a corio_mutex beside the data it guards, in
 *    one struct; `Arc` is a pointer to that struct, which outlives the tasks
 *    (main joins them: the seed does not, and could end before they ran).
 *    `cnt.lock().await` is corio_mutex_lock, which suspends the task (not
 *    its thread) while another holds the lock; the guard going out of
 *    scope is corio_mutex_unlock, written out on every path.
 *  - 1. The counter: 10 tasks, each adding `increments` times (the seed
 *    adds once). Each increment reads the counter, awaits (corio_yield,
 *    standing for any await inside the critical section), and writes it
 *    back: without the lock, two tasks would read the same value and one
 *    update would be lost. With it the total is exact.
 *  - 2. bad_example / good_example: `tasks` tasks each do one long_operation
 *    (corio_sleep of hold_ms). Bad: it runs holding the lock, so the tasks
 *    go through one at a time: tasks x hold_ms in all, and the last one
 *    waited (tasks - 1) x hold_ms for the lock. Good: each copies the data
 *    under the lock (`guard.clone()`: a struct assignment), unlocks, then
 *    awaits: the sleeps overlap, everything takes about hold_ms, and no
 *    one waits for the lock. Both times, and the waits, are measured.
 *  - 3. Seed 002's lesson, which lock: a pthread_mutex_t is the right lock
 *    for data touched between two awaits, never across one: the workers'
 *    map here, updated before and after each worker's await, each time
 *    under the lock and released at once. It never fails, needs no task
 *    (plain threads and poll functions may share the map), and is not a
 *    cancellation point; under contention a waiter blocks its thread only
 *    for the few instructions of the critical section. Uncontended, both
 *    locks are one compare-and-swap; their costs are printed, not checked
 *    (corio's includes the cancellation check and the cooperative budget
 *    that every await pays; the seed's "more efficient" is about tokio's
 *    Mutex, which queues through a semaphore). corio's mutex is for a
 *    critical section that awaits inside: here a connection
 *    that carries one exchange at a time (send a request, await the reply,
 *    read it), which must stay locked across the await.
 *    Why a pthread mutex held across an await is a bug on the multi-thread
 *    runtime (corio_run): a coroutine task may resume on another worker
 *    thread after any await, and that thread would unlock a mutex it does
 *    not own (undefined behaviour; an error-checking mutex says EPERM).
 *    And while the task is suspended holding it, any other task that locks
 *    it blocks its whole worker thread, with every task queued there; if
 *    the holder was queued on that thread too, or every worker ends up
 *    blocked the same way, nothing ever unlocks it: a deadlock. corio's
 *    mutex suspends the waiting task instead, so its thread goes on with
 *    other tasks, the holder among them. (std::sync::MutexGuard is not Send,
 *    so Rust refuses to compile the first case inside tokio::spawn; C has
 *    no such check, hence the rule.)
 *  - #[tokio::main] is corio_run, a multi-thread runtime.
 *
 *   usage: mutex_counter [increments] [tasks] [hold_ms]   (default 100 4 100)
 */
#include <corio.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long increments = 100;
static long n_tasks = 4;
static long hold_ms = 100;

#define COUNTER_TASKS 10

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

/* Spawn n tasks of fn(arg) and join them: how many returned 0. */
static long spawn_join(long n, int (*fn)(void *), void *arg)
{
    corio_task **h = calloc((size_t)n, sizeof *h);
    long spawned = 0, ok = 0;
    if (!h)
        return 0;
    while (spawned < n && corio_spawn(fn, arg, &h[spawned]) == 0)
        spawned++;
    for (long i = 0; i < spawned; i++) {
        int r = -1;
        ok += corio_task_join(h[i], &r) == 0 && r == 0;
    }
    free(h);
    return ok;
}

/* ---- 1. Arc<Mutex<i32>> over 10 tasks ------------------------------------------------ */

typedef struct counter {
    corio_mutex lock; /* Mutex<..> */
    long value;       /* ..<i32>: touched only under `lock` */
} counter;

static int add_task(void *arg)
{
    counter *cnt = arg;
    for (long i = 0; i < increments; i++) {
        int rc = corio_mutex_lock(&cnt->lock); /* let mut guard = cnt.lock().await; */
        if (rc < 0)
            return rc;
        long v = cnt->value;
        rc = corio_yield(); /* an await between the read and the write */
        cnt->value = v + 1; /* *guard += 1; */
        corio_mutex_unlock(&cnt->lock);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool lesson_counter(void)
{
    counter cnt = {CORIO_MUTEX_INIT, 0};
    long ok = spawn_join(COUNTER_TASKS, add_task, &cnt);
    long want = COUNTER_TASKS * increments;
    printf("1. Arc<Mutex<i32>>: %d tasks x %ld increments (read, await, write, under the lock): "
           "counter = %ld, expected %ld: %s\n",
           COUNTER_TASKS, increments, cnt.value, want,
           ok == COUNTER_TASKS && cnt.value == want ? "no update lost" : "WRONG");
    return ok == COUNTER_TASKS && cnt.value == want;
}

/* ---- 2. Holding the lock across an await, or not ------------------------------------- */

typedef struct data {
    char config[48];
    int version;
} data;

typedef struct guarded {
    corio_mutex lock;
    data d;
    corio_instant start;         /* when the tasks were spawned */
    atomic_llong wait_ns_total;  /* time spent waiting for the lock, all tasks */
    atomic_llong wait_ns_max;    /* the longest one */
    atomic_int seen_version_sum; /* so the copy is used */
} guarded;

static void note_wait(guarded *g, corio_instant asked)
{
    long long w = (long long)(corio_instant_now() - asked);
    atomic_fetch_add(&g->wait_ns_total, w);
    long long m = atomic_load(&g->wait_ns_max);
    while (w > m && !atomic_compare_exchange_weak(&g->wait_ns_max, &m, w)) {
    }
}

/* long_operation(&data).await */
static int long_operation(const data *d)
{
    (void)d;
    return corio_sleep(CORIO_MSEC(hold_ms));
}

static int bad_example(void *arg)
{
    guarded *g = arg;
    corio_instant asked = corio_instant_now();
    int rc = corio_mutex_lock(&g->lock); /* let guard = mutex.lock().await; */
    if (rc < 0)
        return rc;
    note_wait(g, asked);
    rc = long_operation(&g->d); /* Lock held entire time! */
    atomic_fetch_add(&g->seen_version_sum, g->d.version);
    corio_mutex_unlock(&g->lock);
    return rc;
}

static int good_example(void *arg)
{
    guarded *g = arg;
    corio_instant asked = corio_instant_now();
    int rc = corio_mutex_lock(&g->lock);
    if (rc < 0)
        return rc;
    note_wait(g, asked);
    data copy = g->d; /* guard.clone() */
    corio_mutex_unlock(&g->lock); /* Lock released here */
    rc = long_operation(&copy);
    atomic_fetch_add(&g->seen_version_sum, copy.version);
    return rc;
}

typedef struct timing {
    long ok;
    double total_ms, wait_max_ms, wait_total_ms;
} timing;

static timing run_lock_lesson(int (*fn)(void *))
{
    guarded g = {CORIO_MUTEX_INIT, {"retries=3", 7}, 0, 0, 0, 0};
    g.start = corio_instant_now();
    timing t;
    t.ok = spawn_join(n_tasks, fn, &g);
    t.total_ms = ms_since(g.start);
    t.wait_max_ms = (double)atomic_load(&g.wait_ns_max) / 1e6;
    t.wait_total_ms = (double)atomic_load(&g.wait_ns_total) / 1e6;
    if (atomic_load(&g.seen_version_sum) != 7 * n_tasks)
        t.ok = -1;
    return t;
}

static bool lesson_hold(void)
{
    printf("2. %ld tasks, each one long_operation().await of %ld ms:\n", n_tasks, hold_ms);
    timing bad = run_lock_lesson(bad_example);
    printf("   bad  - lock held across the await:   %ld tasks done in %.0f ms; waited for the "
           "lock: longest %.1f ms, in all %.1f ms\n",
           bad.ok, bad.total_ms, bad.wait_max_ms, bad.wait_total_ms);
    timing good = run_lock_lesson(good_example);
    printf("   good - copy, unlock, then await:     %ld tasks done in %.0f ms; waited for the "
           "lock: longest %.1f ms, in all %.1f ms\n",
           good.ok, good.total_ms, good.wait_max_ms, good.wait_total_ms);
    printf("   holding the lock made the others wait %.1f ms longest; the whole run took %.1fx "
           "as long\n",
           bad.wait_max_ms - good.wait_max_ms,
           good.total_ms > 0 ? bad.total_ms / good.total_ms : 0.0);
    return bad.ok == n_tasks && good.ok == n_tasks;
}

/* ---- 3. pthread mutex between awaits, corio mutex across one -------------------------- */

#define MAP_SLOTS 64

typedef struct workers_map { /* HashMap<u64, &str>, as a tiny open-addressing table */
    pthread_mutex_t lock;
    struct {
        long key;
        const char *state;
    } slot[MAP_SLOTS];
    int len;
} workers_map;

static void map_put(workers_map *m, long key, const char *state) /* lock held */
{
    for (int i = 0; i < MAP_SLOTS; i++) {
        int s = (int)((key + i) % MAP_SLOTS);
        if (m->slot[s].state && m->slot[s].key != key)
            continue;
        if (!m->slot[s].state)
            m->len++;
        m->slot[s].key = key;
        m->slot[s].state = state;
        return;
    }
}

typedef struct registry {
    workers_map map;
    atomic_long next_id;
} registry;

static int worker(void *arg)
{
    registry *r = arg;
    long id = atomic_fetch_add(&r->next_id, 1);
    pthread_mutex_lock(&r->map.lock); /* workers.lock().unwrap() */
    map_put(&r->map, id, "running");  /* workers.insert(key, value) */
    pthread_mutex_unlock(&r->map.lock); /* released before the await */
    int rc = corio_sleep(CORIO_MSEC(5)); /* the await: no pthread lock held */
    pthread_mutex_lock(&r->map.lock);
    map_put(&r->map, id, rc == 0 ? "done" : "failed");
    pthread_mutex_unlock(&r->map.lock);
    return rc;
}

typedef struct connection { /* one request and its reply at a time */
    corio_mutex lock;
    atomic_int in_exchange, max_in_exchange;
    long exchanges;
} connection;

static int client(void *arg)
{
    connection *c = arg;
    int rc = corio_mutex_lock(&c->lock);
    if (rc < 0)
        return rc;
    int n = atomic_fetch_add(&c->in_exchange, 1) + 1; /* write the request */
    int m = atomic_load(&c->max_in_exchange);
    while (n > m && !atomic_compare_exchange_weak(&c->max_in_exchange, &m, n)) {
    }
    rc = corio_sleep(CORIO_MSEC(5)); /* await the reply: the lock stays held */
    atomic_fetch_sub(&c->in_exchange, 1);
    c->exchanges++; /* read the reply */
    corio_mutex_unlock(&c->lock);
    return rc;
}

/* ns per uncontended lock + unlock, in a task. */
static double pthread_cost(long n)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    corio_instant t0 = corio_instant_now();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    return (double)(corio_instant_now() - t0) / (double)n;
}

static double corio_cost(long n)
{
    corio_mutex m = CORIO_MUTEX_INIT;
    corio_instant t0 = corio_instant_now();
    for (long i = 0; i < n; i++) {
        if (corio_mutex_lock(&m) < 0)
            return -1;
        corio_mutex_unlock(&m);
    }
    return (double)(corio_instant_now() - t0) / (double)n;
}

static bool lesson_which_lock(void)
{
    const long workers = 16, clients = 8;
    registry r = {.map = {.lock = PTHREAD_MUTEX_INITIALIZER}};
    atomic_init(&r.next_id, 0);
    long ok = spawn_join(workers, worker, &r);
    int done = 0;
    pthread_mutex_lock(&r.map.lock);
    for (int i = 0; i < MAP_SLOTS; i++)
        done += r.map.slot[i].state && strcmp(r.map.slot[i].state, "done") == 0;
    int len = r.map.len;
    pthread_mutex_unlock(&r.map.lock);
    printf("3. pthread_mutex_t around a map touched between awaits, never across one: "
           "%ld workers, map has %d entries, %d \"done\"\n",
           ok, len, done);

    connection c = {CORIO_MUTEX_INIT, 0, 0, 0};
    long cok = spawn_join(clients, client, &c);
    printf("   corio_mutex held across an await (request, await reply, read): %ld exchanges, "
           "at most %d at once\n",
           c.exchanges, atomic_load(&c.max_in_exchange));

    const long n = 1000000;
    printf("   uncontended lock + unlock: pthread_mutex_t %.1f ns, corio_mutex %.1f ns\n",
           pthread_cost(n), corio_cost(n));
    return ok == workers && len == workers && done == workers && cok == clients &&
           c.exchanges == clients && atomic_load(&c.max_in_exchange) == 1;
}

static int async_main(void *arg)
{
    (void)arg;
    bool a = lesson_counter();
    bool b = lesson_hold();
    bool c = lesson_which_lock();
    return a && b && c ? 0 : 1;
}

#define USAGE_NAME "mutex_counter"
#define USAGE_ARGS "mutex_counter [increments] [tasks] [hold_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        increments = arg_long(argv[1], 1, 1000000);
    if (argc > 2)
        n_tasks = arg_long(argv[2], 1, 10000);
    if (argc > 3)
        hold_ms = arg_long(argv[3], 0, 60000);
    if (increments < 1)
        increments = 1;
    if (n_tasks < 1)
        n_tasks = 1;
    if (hold_ms < 0)
        hold_ms = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
