/* introspection.c - seeing inside a running program: metrics and a task dump.
 *
 * Seed 000 ("Profiling and Debugging") turns on tokio-console with
 *
 *     console_subscriber::init();
 *
 * and its "Production Lessons Learned" say "Monitor task spawning" and
 * "Measure everything: use metrics to understand async performance
 * characteristics"; seed 002 says to use the console "for insights into
 * task execution". corio's counterpart is corio/introspect.h: the
 * runtime's metrics (tokio's RuntimeMetrics), each worker's counters, and a
 * dump of every live task grouped by where it was spawned (what the
 * console's task list shows, and what Go prints on SIGQUIT).
 *
 * The program is a small service with a fault in it: `clients` client
 * tasks take turns on a shared counter behind an async mutex, a named
 * ticker ticks every 10 ms, and one named task waits for an answer on a
 * oneshot channel whose sender was forgotten - it will wait for ever, the
 * kind of task a dump is for. Then:
 *  - with dumps = 0 (the default): it reads the metrics twice, 200 ms
 *    apart, prints the rates (polls a second per worker, how busy each
 *    was), prints the dump, and shuts down;
 *  - with dumps = N: it prints "ready: kill -USR1 <pid>" and, at each
 *    SIGUSR1, the dump (to stdout), N times, then shuts down - the way to
 *    wire a dump into a server that seems stuck.
 * The runtime's task hooks (the builder's on_task_spawn and
 * on_task_terminate, seed 002's "structured logging to track task
 * lifecycle") count every task as it comes and goes.
 *
 *   usage: introspection [clients] [dumps]   (default 100 0; clients 1..10000)
 */
#include <corio.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define USAGE_NAME "introspection"
#define USAGE_ARGS "introspection [clients] [dumps]   (default 100 0)"
#include "example_args.h"

static long n_clients = 100, n_dumps = 0;

static atomic_long hooked_spawns, hooked_ends;

static void on_spawn(corio_task *t, void *arg)
{
    (void)t;
    (void)arg;
    atomic_fetch_add(&hooked_spawns, 1); /* a log line would go here */
}

static void on_terminate(corio_task *t, void *arg)
{
    (void)t;
    (void)arg;
    atomic_fetch_add(&hooked_ends, 1);
}

static corio_mutex counter_lock;
static long counter; /* under counter_lock */

/* A client: a short sleep, then a turn on the shared counter, until
 * cancelled. */
static int client(void *arg)
{
    long me = (long)(intptr_t)arg;
    for (;;) {
        if (corio_sleep(CORIO_MSEC(1 + me % 5)) != 0)
            return 0; /* cancelled: the shutdown */
        if (corio_mutex_lock(&counter_lock) != 0)
            return 0;
        counter++;
        corio_mutex_unlock(&counter_lock);
    }
}

static int ticker(void *arg)
{
    atomic_long *ticks = arg;
    corio_interval iv;
    corio_interval_init(&iv, CORIO_MSEC(10));
    while (corio_interval_tick(&iv) == 0)
        atomic_fetch_add(ticks, 1);
    corio_interval_drop(&iv);
    return 0;
}

/* The fault: an answer awaited from a sender nobody will ever use. */
static int stuck_waiter(void *arg)
{
    corio_oneshot_rx *rx = arg;
    int answer;
    int rc = corio_oneshot_recv(rx, &answer);
    corio_oneshot_rx_release(rx);
    return rc;
}

static void print_rates(corio_rt *rt, corio_duration window)
{
    corio_metrics m;
    corio_rt_metrics(rt, &m);
    corio_worker_metrics before[64], after[64];
    unsigned n = m.workers < 64 ? m.workers : 64;
    for (unsigned i = 0; i < n; i++)
        corio_rt_worker_metrics(rt, i, &before[i]);
    corio_sleep(window);
    for (unsigned i = 0; i < n; i++)
        corio_rt_worker_metrics(rt, i, &after[i]);
    double secs = (double)window / 1e9;
    printf("over %.0f ms:\n", secs * 1000);
    for (unsigned i = 0; i < n; i++)
        printf("  worker %u: %.0f polls/s, busy %.0f%%, %llu steals\n", i,
               (double)(after[i].polls - before[i].polls) / secs,
               100.0 * (double)(after[i].busy_ns - before[i].busy_ns) / (double)window,
               (unsigned long long)(after[i].steals - before[i].steals));
}

static int main_task(void *arg)
{
    (void)arg;
    corio_rt *rt = corio_rt_current();
    corio_mutex_init(&counter_lock);
    corio_task **clients = calloc((size_t)n_clients, sizeof *clients);
    if (!clients)
        return 1;
    for (long i = 0; i < n_clients; i++)
        if (corio_spawn(client, (void *)(intptr_t)i, &clients[i]) != 0)
            return 1;
    static atomic_long ticks;
    corio_spawn_opts named = {.name = "ticker"};
    corio_task *tick_task, *stuck;
    if (corio_spawn_with(&named, ticker, &ticks, &tick_task) != 0)
        return 1;
    corio_oneshot_tx *tx;
    corio_oneshot_rx *rx;
    if (corio_oneshot_new(sizeof(int), &tx, &rx) != 0)
        return 1;
    named.name = "waits-for-answer";
    if (corio_spawn_with(&named, stuck_waiter, rx, &stuck) != 0)
        return 1;
    /* (the bug: tx is kept, never sent on, never released until the end) */

    if (n_dumps == 0) {
        print_rates(rt, CORIO_MSEC(200));
        corio_rt_dump(rt, stdout);
    } else {
        corio_signal *usr1;
        if (corio_signal_open(SIGUSR1, &usr1) != 0)
            return 1;
        printf("ready: kill -USR1 %d\n", (int)getpid());
        fflush(stdout);
        for (long d = 0; d < n_dumps; d++) {
            if (corio_signal_recv(usr1) != 0)
                break;
            corio_rt_dump(rt, stdout);
        }
        corio_signal_close(usr1);
    }

    /* Shut down: everything still running is cancelled and joined. */
    for (long i = 0; i < n_clients; i++) {
        corio_task_abort(clients[i]);
        corio_task_join(clients[i], NULL);
    }
    free(clients);
    corio_task_abort(tick_task);
    corio_task_join(tick_task, NULL);
    corio_oneshot_tx_release(tx); /* the waiter now learns: closed */
    int res = 0;
    corio_task_join(stuck, &res);
    printf("counter %ld, %ld ticks; the stuck waiter ended with %s\n", counter,
           atomic_load(&ticks), corio_strerror(res));
    printf("task hooks: %ld spawned, %ld terminated (this main task still runs)\n",
           atomic_load(&hooked_spawns), atomic_load(&hooked_ends));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_clients = arg_long(argv[1], 1, 10000);
    if (argc > 2)
        n_dumps = arg_long(argv[2], 0, 1000000);
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.on_task_spawn = on_spawn;
    b.on_task_terminate = on_terminate;
    corio_rt *rt;
    if (corio_rt_build(&b, &rt) != 0)
        return 1;
    int r = 1;
    int rc = corio_rt_block_on(rt, main_task, NULL, &r);
    corio_rt_free(rt);
    return rc == 0 ? r : 1;
}
