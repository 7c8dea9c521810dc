/* graceful_shutdown.c - a server that drains its in-flight requests on SIGTERM.
 *
 * Seed 000's "Production Lessons Learned": "Implement graceful shutdown:
 * handle SIGTERM properly to drain in-flight requests", and seed 003's
 * "Advanced Pattern 4: Graceful Shutdown" (a Server told to stop, whose
 * loop ends, then awaited). On SIGTERM this server:
 *   1. stops accepting: the accept loop is cancelled (an accept is cancel
 *      safe: it had taken no connection) and the listener closed, so new
 *      connections are refused;
 *   2. tells every connection task to finish: it shuts down the read half of
 *      each connection. A task waiting for its next request then reads end
 *      of stream and ends; a task in the middle of a request finishes it,
 *      writes the answer, and then reads end of stream. Requests that had
 *      arrived before still get read and answered;
 *   3. waits for the connection tasks, up to a deadline (a deadline scope
 *      around the joins); tasks still running then are cancelled, and
 *      their cleanup closes their connections;
 *   4. exits 0.
 *
 * The program is its own load: `clients` client tasks send requests in a
 * loop (each request takes `work_ms` to serve) and count the answers, and
 * `run_ms` after the first answer the program sends itself SIGTERM, as a
 * process manager would. At the end it compares what the server read with what it answered
 * and what the clients received: a request the server accepted is never
 * lost. With `wait` as the last argument it serves until a real SIGTERM
 * (`kill -TERM <pid>`) instead, without clients.
 *
 *   usage: graceful_shutdown [clients] [work_ms] [run_ms] [wait]   (default 20 30 200;
 *          clients from 1, or 0 with `wait`; a bad argument: the usage, exit 2)
 */
#include <corio.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_clients = 20;
static long work_ms = 30, run_ms = 200;
static bool wait_for_kill;

#define MAX_CONNS 1024
#define DRAIN_DEADLINE CORIO_SEC(5)

typedef struct server {
    corio_tcp_listener *listener;
    corio_tcp *conns[MAX_CONNS]; /* open connections, for the drain (NULL: closed) */
    corio_task *tasks[MAX_CONNS];
    int nconns;
    /* Over conns[]. A plain mutex: never held across an await, and unlike
     * an async one its lock cannot fail, so a cancelled connection task
     * still takes itself off the list before it closes. */
    pthread_mutex_t lock;
    atomic_int read, answered, busy, in_flight_at_drain;
    atomic_bool draining;
} server;

static server srv;

/* ---- the server ------------------------------------------------------------------ */

static int handle_connection(void *arg)
{
    corio_tcp *c = arg;
    char req[16];
    int rc;
    /* One request: 16 bytes in, 16 bytes out after work_ms. */
    while ((rc = corio_tcp_read_exact(c, req, sizeof req)) == 0) {
        atomic_fetch_add(&srv.read, 1);
        atomic_fetch_add(&srv.busy, 1);
        rc = corio_sleep(CORIO_MSEC(work_ms)); /* the request's work */
        memcpy(req, "DONE", 4);
        if (rc == 0)
            rc = corio_tcp_write_all(c, req, sizeof req);
        atomic_fetch_sub(&srv.busy, 1);
        if (rc < 0)
            break;
        atomic_fetch_add(&srv.answered, 1);
    }
    /* CORIO_EEOF: the client left, or our drain shut the read half.
     * Cleanup, also when cancelled past the deadline: off the drain's list
     * first - once closed, the connection is freed, and the drain must not
     * shut it down any more. */
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.nconns; i++)
        if (srv.conns[i] == c)
            srv.conns[i] = NULL;
    pthread_mutex_unlock(&srv.lock);
    corio_tcp_close(c);
    return rc == CORIO_EEOF ? 0 : rc;
}

static int accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        corio_tcp *c;
        int rc = corio_tcp_accept(srv.listener, &c);
        if (rc == CORIO_ECANCELED)
            return 0; /* step 1 */
        if (rc < 0)
            continue; /* -EMFILE: accept has paused already */
        /* Listed before its task can end (it takes itself off under the
         * same lock). */
        pthread_mutex_lock(&srv.lock);
        if (srv.nconns == MAX_CONNS || corio_spawn(handle_connection, c, &srv.tasks[srv.nconns]) < 0) {
            pthread_mutex_unlock(&srv.lock);
            corio_tcp_close(c);
            continue;
        }
        srv.conns[srv.nconns++] = c;
        pthread_mutex_unlock(&srv.lock);
    }
}

static int join_all(void *arg)
{
    int *n = arg;
    for (int i = 0; i < *n; i++) {
        int rc = corio_task_join(srv.tasks[i], NULL);
        if (rc == CORIO_ETIMEDOUT)
            return rc;
        srv.tasks[i] = NULL; /* joined: the handle is given back */
    }
    return 0;
}

static int shutdown_server(corio_task *acceptor)
{
    corio_instant t0 = corio_instant_now();
    atomic_store(&srv.draining, true);
    atomic_store(&srv.in_flight_at_drain, atomic_load(&srv.busy));
    corio_task_abort(acceptor); /* 1. stop accepting */
    corio_task_join(acceptor, NULL);
    corio_tcp_listener_close(srv.listener);
    pthread_mutex_lock(&srv.lock); /* 2. tell every open connection to finish */
    int n = srv.nconns, open = 0;
    for (int i = 0; i < n; i++)
        if (srv.conns[i]) {
            corio_tcp_shutdown(srv.conns[i], SHUT_RD);
            open++;
        }
    pthread_mutex_unlock(&srv.lock);
    printf("SIGTERM: stopped accepting, draining %d connections\n", open);
    int rc = corio_timeout_call(DRAIN_DEADLINE, join_all, &n, NULL); /* 3. */
    int cancelled = 0;
    if (rc == CORIO_ETIMEDOUT) {
        for (int i = 0; i < n; i++)
            if (srv.tasks[i]) {
                corio_task_abort(srv.tasks[i]);
                corio_task_join(srv.tasks[i], NULL);
                cancelled++;
            }
    }
    printf("drained in %.0f ms; connections cancelled at the deadline: %d\n",
           (double)(corio_instant_now() - t0) / 1e6, cancelled);
    return 0;
}

/* ---- the clients ------------------------------------------------------------------- */

typedef struct client_stats {
    atomic_int sent, received, refused;
} client_stats;

static client_stats cs;
static corio_addr server_addr;

static int client(void *arg)
{
    (void)arg;
    corio_tcp *c;
    if (corio_tcp_connect_addr(&server_addr, &c) < 0) {
        atomic_fetch_add(&cs.refused, 1);
        return 0;
    }
    for (;;) {
        char req[16] = "REQUEST";
        if (corio_tcp_write_all(c, req, sizeof req) < 0)
            break; /* the server is gone */
        atomic_fetch_add(&cs.sent, 1);
        int rc = corio_tcp_read_exact(c, req, sizeof req);
        if (rc < 0) /* CORIO_EEOF: drained before it read this one */
            break;
        atomic_fetch_add(&cs.received, 1);
    }
    corio_tcp_close(c);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static int run(void *arg)
{
    (void)arg;
    pthread_mutex_init(&srv.lock, NULL);
    corio_signal *term;
    int rc = corio_signal_open(SIGTERM, &term); /* before anyone can send it */
    if (rc == 0)
        rc = corio_tcp_listen("127.0.0.1:0", 1024, &srv.listener);
    if (rc < 0) {
        printf("setup: %s\n", corio_strerror(rc));
        return 1;
    }
    corio_tcp_listener_local_addr(srv.listener, &server_addr);
    char addr[CORIO_ADDR_STRLEN];
    corio_addr_format(&server_addr, addr, sizeof addr);
    printf("serving on %s (pid %d)\n", addr, (int)getpid());
    corio_task *acceptor, **clients = calloc((size_t)n_clients + 1, sizeof *clients);
    corio_spawn(accept_loop, NULL, &acceptor);
    int nc = wait_for_kill ? 0 : n_clients;
    for (int i = 0; i < nc; i++)
        corio_spawn(client, NULL, &clients[i]);
    if (!wait_for_kill) {
        /* run_ms of load, counted from the first answer: on a slow or
         * loaded machine (a sanitizer build) the clients may take longer
         * than run_ms just to connect. */
        for (int ms = 0; atomic_load(&cs.received) == 0 && ms < 10000; ms++)
            corio_sleep(CORIO_MSEC(1));
        corio_sleep(CORIO_MSEC(run_ms));
        kill(getpid(), SIGTERM); /* as a process manager would */
    }
    rc = corio_signal_recv(term); /* wait for SIGTERM */
    corio_signal_close(term);
    if (rc < 0)
        return 1;
    shutdown_server(acceptor);
    for (int i = 0; i < nc; i++)
        corio_task_join(clients[i], NULL);
    free(clients);
    int read = atomic_load(&srv.read), answered = atomic_load(&srv.answered);
    printf("requests read by the server: %d, answered: %d, in progress when SIGTERM came: %d\n",
           read, answered, atomic_load(&srv.in_flight_at_drain));
    if (!wait_for_kill)
        printf("answers the clients received: %d of %d requests sent\n",
               atomic_load(&cs.received), atomic_load(&cs.sent));
    bool ok = read == answered && (wait_for_kill || atomic_load(&cs.received) == answered);
    printf("accepted requests lost: %d\n", read - answered);
    printf("%s\n", ok ? "clean shutdown" : "REQUESTS LOST");
    return ok ? 0 : 1;
}

#define USAGE_NAME "graceful_shutdown"
#define USAGE_ARGS "graceful_shutdown [clients] [work_ms] [run_ms] [wait]"

#include "example_args.h"

int main(int argc, char **argv)
{
    int nargs = argc - 1;
    if (nargs > 0 && strcmp(argv[nargs], "wait") == 0) {
        wait_for_kill = true;
        nargs--;
    }
    if (nargs > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    /* Without `wait`, the SIGTERM comes after the first answer: at least
     * one client. */
    if (nargs > 0)
        n_clients = (int)arg_long(argv[1], wait_for_kill ? 0 : 1, MAX_CONNS / 2);
    if (nargs > 1)
        work_ms = arg_long(argv[2], 0, 60000);
    if (nargs > 2)
        run_ms = arg_long(argv[3], 0, 600000);
    /* Line by line, also into a pipe: "serving on" tells whoever sends the
     * SIGTERM that the server is up (and its handler in place). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    if (corio_run(run, NULL, &result) < 0)
        return 1;
    return result; /* 4. exit 0 */
}
