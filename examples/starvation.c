/* starvation.c - one client at a time, or a task per client.
 *
 * Mirrors "Future Progress Starvation" of seed 002 ("Async Rust: common
 * pitfalls"):
 *
 *     // PROBLEMATIC: New connections pile up while processing
 *     async fn handle_clients(listener: TcpListener) {
 *         loop {
 *             let conn = listener.accept().await;
 *             process_client(conn).await; // Blocks other connections
 *         }
 *     }
 *     // Solution: Spawn independent tasks for concurrent processing
 *     async fn handle_clients(listener: TcpListener) {
 *         loop {
 *             let conn = listener.accept().await;
 *             tokio::spawn(async move { process_client(conn).await; });
 *         }
 *     }
 *
 * Both servers are run against the same `clients` clients, which connect
 * at once, send a request, and time how long the answer takes.
 * process_client waits `work_ms` for each request (a database query, say:
 * an await, not CPU), then answers. Inline, the accept loop serves one
 * client after the other: the last one waits clients x work_ms, and the
 * listener's backlog holds the rest meanwhile. Spawned, every client is
 * served in about work_ms. The program prints both, the worst wait, and
 * how many clients were being processed at once at most: 1 inline (each
 * waits for the one before it), more than 1 spawned (their waits overlap).
 *
 *   usage: starvation [clients] [work_ms]   (default 20 50)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int n_clients = 20;
static long work_ms = 50;

/* Clients in process_client now, and the most there were at once (tasks
 * of the multi-thread runtime may run on several threads). */
static atomic_int in_service, peak_in_service;

/* process_client(conn).await */
static int process_client(void *arg)
{
    corio_tcp *conn = arg;
    int now = atomic_fetch_add(&in_service, 1) + 1;
    for (int peak = atomic_load(&peak_in_service);
         now > peak && !atomic_compare_exchange_weak(&peak_in_service, &peak, now);) {
    }
    char req[16];
    int rc = corio_tcp_read_exact(conn, req, sizeof req);
    if (rc == 0)
        rc = corio_sleep(CORIO_MSEC(work_ms)); /* the query */
    if (rc == 0)
        rc = corio_tcp_write_all(conn, req, sizeof req);
    corio_tcp_close(conn);
    atomic_fetch_sub(&in_service, 1);
    return rc;
}

typedef struct server {
    corio_tcp_listener *l;
    bool spawn;
    int served;
} server;

static int handle_clients(void *arg)
{
    server *s = arg;
    corio_task **tasks = calloc((size_t)n_clients, sizeof *tasks);
    int spawned = 0;
    while (s->served < n_clients) {
        corio_tcp *conn;
        if (corio_tcp_accept(s->l, &conn) < 0) /* listener.accept().await */
            break;
        s->served++;
        if (!s->spawn)
            process_client(conn); /* blocks other connections */
        else if (corio_spawn(process_client, conn, &tasks[spawned]) == 0)
            spawned++; /* tokio::spawn(async move { process_client(conn).await }) */
        else
            corio_tcp_close(conn);
    }
    for (int i = 0; i < spawned; i++)
        corio_task_join(tasks[i], NULL);
    free(tasks);
    return 0;
}

typedef struct client_arg {
    const corio_addr *addr;
    double waited_ms;
} client_arg;

static int client(void *arg)
{
    client_arg *a = arg;
    corio_instant t0 = corio_instant_now();
    corio_tcp *c;
    int rc = corio_tcp_connect_addr(a->addr, &c);
    if (rc < 0)
        return rc;
    char buf[16] = "request";
    if ((rc = corio_tcp_write_all(c, buf, sizeof buf)) == 0)
        rc = corio_tcp_read_exact(c, buf, sizeof buf);
    corio_tcp_close(c);
    a->waited_ms = (double)(corio_instant_now() - t0) / 1e6;
    return rc;
}

/* Run one server shape; returns the worst client wait (ms), or < 0. */
static double trial(bool spawn)
{
    server s = {.spawn = spawn};
    atomic_store(&peak_in_service, 0);
    if (corio_tcp_listen("127.0.0.1:0", 1024, &s.l) < 0)
        return -1;
    corio_addr addr;
    corio_tcp_listener_local_addr(s.l, &addr);
    corio_task *srv, **cl = calloc((size_t)n_clients, sizeof *cl);
    client_arg *args = calloc((size_t)n_clients, sizeof *args);
    corio_spawn(handle_clients, &s, &srv);
    for (int i = 0; i < n_clients; i++) {
        args[i].addr = &addr;
        corio_spawn(client, &args[i], &cl[i]);
    }
    double worst = 0, sum = 0;
    int failed = 0;
    for (int i = 0; i < n_clients; i++) {
        int r = 0;
        if (corio_task_join(cl[i], &r) < 0 || r < 0)
            failed++;
        if (args[i].waited_ms > worst)
            worst = args[i].waited_ms;
        sum += args[i].waited_ms;
    }
    corio_task_join(srv, NULL);
    corio_tcp_listener_close(s.l);
    printf("%-28s %d clients served, mean wait %6.1f ms, worst %6.1f ms, "
           "at most %d processed at once\n",
           spawn ? "spawn a task per client:" : "process each client inline:", s.served,
           sum / n_clients, worst, atomic_load(&peak_in_service));
    free(cl);
    free(args);
    return failed ? -1 : worst;
}

static int run(void *arg)
{
    (void)arg;
    printf("%d clients at once, %ld ms of waiting (a query) per request\n", n_clients, work_ms);
    double inline_worst = trial(false);
    double spawn_worst = trial(true);
    if (inline_worst < 0 || spawn_worst < 0)
        return 1;
    printf("the last client waited %.1fx longer with inline processing\n",
           inline_worst / spawn_worst);
    return 0;
}

#define USAGE_NAME "starvation"
#define USAGE_ARGS "starvation [clients] [work_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_clients = arg_long(argv[1], 1, 1000);
    if (argc > 2)
        work_ms = arg_long(argv[2], 0, 60000);
    if (n_clients < 1 || work_ms < 0) {
        fprintf(stderr, "usage: starvation [clients] [work_ms]\n");
        return 2;
    }
    int result = 1;
    if (corio_run(run, NULL, &result) < 0)
        return 1;
    return result;
}
