/* tcp_server.c - a TCP server with a task per connection and shared state.
 *
 * Mirrors "Building High-Performance Async Servers" of seed 000 ("Async
 * Rust: Futures, Tasks and the Tokio Runtime"):
 *
 *     async fn handle_connection(mut stream: TcpStream, state: AppState) -> Result<..> {
 *         let mut buffer = vec![0; 4096];
 *         loop {
 *             let n = stream.read(&mut buffer).await?;
 *             if n == 0 { break; } // Connection closed
 *             let request = parse_request(&buffer[..n])?;
 *             let response = process_request(request, &state).await?;
 *             stream.write_all(&response).await?;
 *         }
 *         Ok(())
 *     }
 *     let listener = TcpListener::bind("127.0.0.1:8080").await?;
 *     let state = AppState { db_pool: .., cache: .. };
 *     loop {
 *         let (stream, _) = listener.accept().await?;
 *         let state = state.clone();
 *         tokio::spawn(async move {
 *             if let Err(e) = handle_connection(stream, state).await {
 *                 eprintln!("Error handling connection: {}", e);
 *             }
 *         });
 *     }
 *
 * How the C version maps onto it:
 *  - AppState is a plain struct shared by pointer (no Arc: it outlives every
 *    connection task here). The database and the cache are stand-ins kept
 *    in memory until corio has client libraries: a "database" of keys and
 *    values behind a corio_rwlock, whose lookups take a millisecond
 *    (corio_sleep, as a query would), and a "cache" in front of it behind
 *    a corio_mutex, which answers at once.
 *  - The protocol is one request per line: "GET key" answers "value" (from
 *    the cache, else the database, which then fills the cache) or
 *    "NOT_FOUND"; "SET key value" answers "OK". A malformed line is the
 *    seed's parse_request error: "ERR ..." and the connection goes on.
 *  - `?` on a read or a write is a check of its code; the task then closes
 *    its stream and ends, as the seed's handle_connection returning Err.
 *  - A line may arrive in pieces and several may arrive in one read: the
 *    handler keeps what it has not parsed yet (the seed's parse_request
 *    needs that too, and leaves it out).
 *  - To be a program that runs to an end, main also starts `clients`
 *    client tasks that connect, SET then GET their own keys and check the
 *    answers; then it stops accepting and waits for the connection tasks.
 *
 *   usage: tcp_server [clients] [requests] [port]   (default 50 20 0: any free port)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 64

/* ---- AppState ------------------------------------------------------------------ */

typedef struct entry {
    char key[32], value[64];
} entry;

typedef struct app_state {
    corio_rwlock db_lock; /* the "database pool" */
    entry db[NKEYS];
    int db_len;
    corio_mutex cache_lock; /* the "redis cache" */
    entry cache[NKEYS];
    int cache_len;
    atomic_int connections, requests, errors;
} app_state;

static entry *find(entry *tab, int len, const char *key)
{
    for (int i = 0; i < len; i++)
        if (strcmp(tab[i].key, key) == 0)
            return &tab[i];
    return NULL;
}

static void put(entry *tab, int *len, const char *key, const char *value)
{
    entry *e = find(tab, *len, key);
    if (!e && *len < NKEYS)
        e = &tab[(*len)++];
    if (e) {
        snprintf(e->key, sizeof e->key, "%s", key);
        snprintf(e->value, sizeof e->value, "%s", value);
    }
}

/* process_request(request, &state).await: writes the response into out. */
static int process_request(app_state *st, char *line, char *out, size_t cap)
{
    /* strtok_r: strtok's hidden state would be shared by every task */
    char *save = NULL;
    char *verb = strtok_r(line, " ", &save), *key = strtok_r(NULL, " ", &save),
         *value = strtok_r(NULL, "", &save);
    if (verb && key && strcmp(verb, "GET") == 0 && !value) {
        int rc = corio_mutex_lock(&st->cache_lock);
        if (rc < 0)
            return rc;
        entry *e = find(st->cache, st->cache_len, key);
        if (e)
            snprintf(out, cap, "%s\n", e->value);
        corio_mutex_unlock(&st->cache_lock);
        if (e)
            return 0;
        if ((rc = corio_sleep(CORIO_MSEC(1))) < 0) /* the query's round trip */
            return rc;
        if ((rc = corio_rwlock_read(&st->db_lock)) < 0)
            return rc;
        e = find(st->db, st->db_len, key);
        char value_copy[64] = "";
        if (e)
            snprintf(value_copy, sizeof value_copy, "%s", e->value);
        corio_rwlock_read_unlock(&st->db_lock);
        if (!e) {
            snprintf(out, cap, "NOT_FOUND\n");
            return 0;
        }
        if ((rc = corio_mutex_lock(&st->cache_lock)) < 0)
            return rc;
        put(st->cache, &st->cache_len, key, value_copy);
        corio_mutex_unlock(&st->cache_lock);
        snprintf(out, cap, "%s\n", value_copy);
        return 0;
    }
    if (verb && key && value && strcmp(verb, "SET") == 0) {
        int rc = corio_rwlock_write(&st->db_lock);
        if (rc < 0)
            return rc;
        put(st->db, &st->db_len, key, value);
        corio_rwlock_write_unlock(&st->db_lock);
        if ((rc = corio_mutex_lock(&st->cache_lock)) < 0)
            return rc;
        entry *e = find(st->cache, st->cache_len, key);
        if (e) /* invalidate */
            *e = st->cache[--st->cache_len];
        corio_mutex_unlock(&st->cache_lock);
        snprintf(out, cap, "OK\n");
        return 0;
    }
    atomic_fetch_add(&st->errors, 1);
    snprintf(out, cap, "ERR bad request\n");
    return 0;
}

/* ---- handle_connection ------------------------------------------------------------ */

typedef struct conn {
    corio_tcp *stream;
    app_state *state;
} conn;

static int handle_connection(void *arg)
{
    conn *c = arg;
    char buffer[4096];
    size_t have = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = corio_tcp_read(c->stream, buffer + have, sizeof buffer - 1 - have);
        if (n <= 0) {
            rc = (int)n; /* 0: connection closed */
            break;
        }
        have += (size_t)n;
        buffer[have] = '\0';
        char *start = buffer, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            char response[128];
            if ((rc = process_request(c->state, start, response, sizeof response)) < 0 ||
                (rc = corio_tcp_write_all(c->stream, response, strlen(response))) < 0)
                goto out;
            atomic_fetch_add(&c->state->requests, 1);
            start = nl + 1;
        }
        have = strlen(start);
        memmove(buffer, start, have);
        if (have == sizeof buffer - 1) { /* a line longer than the buffer */
            rc = -EMSGSIZE;
            break;
        }
    }
out:
    if (rc < 0)
        fprintf(stderr, "Error handling connection: %s\n", corio_strerror(rc));
    corio_tcp_close(c->stream);
    free(c);
    return rc;
}

/* ---- the accept loop ----------------------------------------------------------------- */

typedef struct server {
    corio_tcp_listener *listener;
    app_state *state;
    corio_task **tasks; /* joined at the end (the seed's loop never ends) */
    int ntasks, cap;
} server;

static int accept_loop(void *arg)
{
    server *s = arg;
    for (;;) {
        corio_tcp *stream;
        int rc = corio_tcp_accept(s->listener, &stream); /* listener.accept().await? */
        if (rc < 0)
            return rc == CORIO_ECANCELED ? 0 : rc; /* stopped by main */
        atomic_fetch_add(&s->state->connections, 1);
        conn *c = malloc(sizeof *c);
        if (!c) {
            corio_tcp_close(stream);
            continue;
        }
        c->stream = stream;
        c->state = s->state; /* state.clone() */
        if (s->ntasks == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->tasks = realloc(s->tasks, (size_t)s->cap * sizeof *s->tasks);
        }
        if (corio_spawn(handle_connection, c, &s->tasks[s->ntasks]) < 0) { /* tokio::spawn */
            corio_tcp_close(stream);
            free(c);
            continue;
        }
        s->ntasks++;
    }
}

/* ---- clients ------------------------------------------------------------------------- */

static char server_addr[CORIO_ADDR_STRLEN];
static int n_requests = 20;

static int ask(corio_tcp *c, const char *req, char *reply, size_t cap)
{
    int rc = corio_tcp_write_all(c, req, strlen(req));
    size_t have = 0;
    while (rc == 0 && (have == 0 || reply[have - 1] != '\n')) {
        ssize_t n = corio_tcp_read(c, reply + have, cap - 1 - have);
        if (n <= 0)
            return n < 0 ? (int)n : CORIO_EEOF;
        have += (size_t)n;
    }
    reply[have] = '\0';
    return rc;
}

static int client(void *arg)
{
    int id = (int)(intptr_t)arg, good = 0;
    corio_tcp *c;
    int rc = corio_tcp_connect(server_addr, &c);
    if (rc < 0)
        return rc;
    corio_tcp_set_nodelay(c, true);
    for (int i = 0; i < n_requests && rc == 0; i++) {
        char req[96], want[64], reply[128];
        int k = (id * 7 + i) % NKEYS;
        snprintf(want, sizeof want, "v%d.%d", k, id);
        if (i % 4 == 0) {
            snprintf(req, sizeof req, "SET k%d %s\n", k, want);
            if ((rc = ask(c, req, reply, sizeof reply)) == 0 && strcmp(reply, "OK\n") == 0)
                good++;
        } else {
            snprintf(req, sizeof req, "GET k%d\n", k);
            /* any client's value for that key, or none yet */
            if ((rc = ask(c, req, reply, sizeof reply)) == 0 &&
                (reply[0] == 'v' || strcmp(reply, "NOT_FOUND\n") == 0))
                good++;
        }
    }
    char reply[128];
    if (rc == 0 && ask(c, "HELLO\n", reply, sizeof reply) == 0 && strncmp(reply, "ERR", 3) == 0)
        good++; /* the parse error answered, the connection still up */
    corio_tcp_close(c);
    return rc < 0 ? rc : good;
}

static int run(void *arg)
{
    long *opt = arg;
    int clients = (int)opt[0], port = (int)opt[2];
    n_requests = (int)opt[1];
    app_state *st = calloc(1, sizeof *st);
    corio_rwlock_init(&st->db_lock);
    corio_mutex_init(&st->cache_lock);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    server s = {.state = st};
    int rc = corio_tcp_listen(addr, 1024, &s.listener); /* TcpListener::bind(..).await? */
    if (rc < 0) {
        printf("listen on %s: %s\n", addr, corio_strerror(rc));
        return 1;
    }
    corio_addr local;
    corio_tcp_listener_local_addr(s.listener, &local);
    corio_addr_format(&local, server_addr, sizeof server_addr);
    printf("listening on %s\n", server_addr);

    double t0 = (double)corio_instant_now();
    corio_task *acceptor, **cl = calloc((size_t)clients, sizeof *cl);
    corio_spawn(accept_loop, &s, &acceptor);
    for (int i = 0; i < clients; i++)
        corio_spawn(client, (void *)(intptr_t)i, &cl[i]);
    int good = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        int r = 0;
        if (corio_task_join(cl[i], &r) < 0 || r < 0)
            failed++;
        else
            good += r;
    }
    double ms = ((double)corio_instant_now() - t0) / 1e6;
    corio_task_abort(acceptor); /* stop accepting */
    corio_task_join(acceptor, NULL);
    for (int i = 0; i < s.ntasks; i++) /* every connection ended with its client */
        corio_task_join(s.tasks[i], NULL);
    corio_tcp_listener_close(s.listener);

    printf("clients: %d, each %d requests and one malformed line\n", clients, n_requests);
    printf("connections accepted: %d, one task each\n", atomic_load(&st->connections));
    printf("requests served: %d, parse errors answered: %d\n", atomic_load(&st->requests),
           atomic_load(&st->errors));
    printf("answers as expected: %d of %d\n", good, clients * (n_requests + 1));
    printf("clients failed: %d\n", failed);
    printf("took %.0f ms\n", ms);
    bool ok = failed == 0 && good == clients * (n_requests + 1) &&
              atomic_load(&st->connections) == clients;
    printf("%s\n", ok ? "all good" : "MISMATCH");
    free(cl);
    free(s.tasks);
    free(st);
    return ok ? 0 : 1;
}

#define USAGE_NAME "tcp_server"
#define USAGE_ARGS "tcp_server [clients] [requests] [port]"

#include "example_args.h"

int main(int argc, char **argv)
{
    long opt[3] = {50, 20, 0};
    static const long lo[3] = {1, 1, 0}, hi[3] = {1000, 100000, 65535};
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        opt[i - 1] = arg_long(argv[i], lo[i - 1], hi[i - 1]);
    int result = 1;
    int rc = corio_run(run, opt, &result); /* #[tokio::main] */
    if (rc < 0) {
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
        return 1;
    }
    return result;
}
