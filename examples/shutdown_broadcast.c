/* shutdown_broadcast.c - seed 003's "Advanced Pattern 4: Graceful Shutdown":
 * a Server whose run loop races a shutdown broadcast against a periodic
 * sleep, and an atomic "is running" flag.
 *
 *     struct Server { shutdown_tx: broadcast::Sender<()>, is_running: Arc<AtomicBool> }
 *     async fn run(&self) {
 *         let mut shutdown_rx = self.shutdown_tx.subscribe();
 *         loop { tokio::select! {
 *             _ = shutdown_rx.recv() => { println!("Shutting down..."); break; }
 *             _ = sleep(1 s) => { if is_running.load(..) { println!("Server running..."); } }
 *         } }
 *     }
 *     fn shutdown(&self) { is_running.store(false, ..); let _ = shutdown_tx.send(()); }
 *     main: spawn run, sleep 3 s, shutdown(), await the run task.
 *
 * In C the Server is a plain struct shared by pointer (it outlives the run
 * task: main joins the task before it frees the server, which Arc does in
 * Rust); the broadcast sender is a corio_broadcast_tx of one-byte messages
 * and each run loop subscribes its own receiver. The select's two branches
 * are a corio_broadcast_recv_fut and a corio_sleep_fut, both made afresh
 * for each round: the loser is dropped by the select (a receive dropped
 * unfinished has consumed nothing, so no shutdown message is lost between
 * rounds; a sleep dropped disarms its timer).
 *
 * Several servers may share one shutdown broadcast: `runners` run loops
 * subscribe to the same sender, and one send stops all of them - the
 * reason the seed uses broadcast rather than a oneshot.
 *
 *   usage: shutdown_broadcast [tick_ms] [run_ms] [runners]   (default: the
 *          seed's 1000 3000 1)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct server {
    corio_broadcast_tx *shutdown_tx;
    atomic_bool is_running;
    corio_duration tick;
} server;

typedef struct runner {
    server *srv;
    int id;
    corio_broadcast_rx *shutdown_rx; /* subscribed before the task starts */
    int ticks;                        /* "Server running..." lines printed */
} runner;

static int server_new(server *s, corio_duration tick)
{
    corio_broadcast_rx *first;
    /* broadcast::channel(1): capacity 1; the first receiver is dropped at
     * once (the seed's `let (shutdown_tx, _) = ...`). */
    int rc = corio_broadcast_new(1, 1, &s->shutdown_tx, &first);
    if (rc < 0)
        return rc;
    corio_broadcast_rx_release(first);
    atomic_init(&s->is_running, true);
    s->tick = tick;
    return 0;
}

/* Server::run: until the shutdown message, print a line every tick while
 * the flag says running. */
static int server_run(void *arg)
{
    runner *r = arg;
    server *s = r->srv;
    for (;;) {
        char msg;
        corio_broadcast_recv_fut shutdown;
        corio_broadcast_recv_fut_init(&shutdown, r->shutdown_rx, &msg);
        corio_sleep_fut tick;
        corio_sleep_fut_init(&tick, s->tick);
        size_t i;
        int rc = corio_select(CORIO_FUTURES(&shutdown.base, &tick.base), &i);
        if (rc < 0)
            break; /* cancelled: nothing to clean up but the receiver */
        if (i == 0) {
            /* The message, or CORIO_ECLOSED if the sender went away: both
             * mean stop. */
            printf("[runner %d] Shutting down...\n", r->id);
            break;
        }
        if (atomic_load_explicit(&s->is_running, memory_order_relaxed)) {
            printf("[runner %d] Server running...\n", r->id);
            r->ticks++;
        }
    }
    corio_broadcast_rx_release(r->shutdown_rx);
    r->shutdown_rx = NULL;
    return 0;
}

/* Server::shutdown: clear the flag, then tell every run loop. */
static void server_shutdown(server *s)
{
    atomic_store_explicit(&s->is_running, false, memory_order_relaxed);
    char msg = 1;
    (void)corio_broadcast_send(s->shutdown_tx, &msg); /* `let _ =`: none may listen */
}

static long tick_ms = 1000, run_ms = 3000;
static int n_runners = 1;

static int main_task(void *arg)
{
    (void)arg;
    server srv;
    int rc = server_new(&srv, CORIO_MSEC(tick_ms));
    if (rc < 0) {
        fprintf(stderr, "broadcast: %s\n", corio_strerror(rc));
        return 1;
    }
    runner *rs = calloc((size_t)n_runners, sizeof *rs);
    corio_task **ts = calloc((size_t)n_runners, sizeof *ts);
    if (!rs || !ts)
        return 1;
    for (int i = 0; i < n_runners; i++) {
        rs[i] = (runner){.srv = &srv, .id = i};
        /* Subscribe before spawning: a shutdown sent before the task first
         * runs still reaches it (the seed subscribes inside run, which can
         * miss a shutdown sent earlier). */
        if (corio_broadcast_subscribe(srv.shutdown_tx, &rs[i].shutdown_rx) < 0 ||
            corio_spawn(server_run, &rs[i], &ts[i]) < 0)
            return 1;
    }
    corio_instant t0 = corio_instant_now();
    corio_sleep(CORIO_MSEC(run_ms)); /* simulate work */
    printf("main: shutdown after %ld ms\n", run_ms);
    server_shutdown(&srv);
    int total = 0;
    for (int i = 0; i < n_runners; i++) {
        int r = 0;
        if (corio_task_join(ts[i], &r) < 0 || r != 0)
            return 1;
        total += rs[i].ticks;
    }
    double took = (double)(corio_instant_now() - t0) / 1e6;
    printf("every run loop ended: %d of %d, %d \"Server running...\" lines; "
           "shutdown took %s than a tick\n",
           n_runners, n_runners, total, took - (double)run_ms < (double)tick_ms ? "less" : "MORE");
    corio_broadcast_tx_release(srv.shutdown_tx);
    free(ts);
    free(rs);
    return 0;
}

#define USAGE_NAME "shutdown_broadcast"
#define USAGE_ARGS "shutdown_broadcast [tick_ms] [run_ms] [runners]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        tick_ms = arg_long(argv[1], 1, 600000);
    if (argc > 2)
        run_ms = arg_long(argv[2], 0, 600000);
    if (argc > 3)
        n_runners = arg_long(argv[3], 1, 10000);
    if (tick_ms <= 0 || run_ms < 0 || n_runners <= 0) {
        fprintf(stderr, "usage: shutdown_broadcast [tick_ms] [run_ms] [runners]\n");
        return 2;
    }
    int result;
    int rc = corio_run(main_task, NULL, &result);
    if (rc < 0) {
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
        return 1;
    }
    return result;
}
