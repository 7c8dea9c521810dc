/* tcp_echo_stackless - the peers' echo server (../shared/peers/README.md)
 * with a stackless task per connection instead of a coroutine: the form a
 * corio user picks when memory per idle connection matters more than
 * straight-line code (a connection that waits holds no stack and no
 * buffer). Same behaviour as tcp_echo: read what is there (up to 4 KiB at a
 * time), write it all back, until EOF or an error.
 *
 *   tcp_echo_stackless port=7000 threads=1
 *
 * Each connection is a small future (conn below, 224 bytes on 64-bit) that
 * waits for readability with corio/io.h's readiness API, reads into a
 * per-thread scratch buffer, and writes back at once; only when the socket
 * cannot take everything does the rest go to a buffer of the connection's
 * own (malloc'd, freed once written), as a libuv program's alloc_cb and
 * write requests would. A poll runs on one thread from start to end, so the
 * scratch buffer is never shared by two polls at once.
 *
 * The harness looks for a binary named `tcp_echo` in an implementation's
 * directory: $(BUILD)/bench_stackless/tcp_echo links to this one.
 */
#include "bench.h"
#include "echo_server.h"

#include <sys/socket.h>

typedef struct scratch_buf {
    char b[4096];
} scratch_buf;
CORIO_THREAD_LOCAL(scratch_buf, scratch)

#define DRAIN_MAX 16

typedef struct conn {
    corio_future base;
    corio_tcp *c;
    bool writing;  /* wr is in progress */
    bool draining; /* readable, more to read: the next poll reads at once */
    corio_fd_wait_fut wait;  /* readable */
    corio_tcp_exact_fut wr;  /* writing: the rest of a message, from out */
    char *out;
} conn;

/* Done with the connection: the task's result is 0. */
static corio_poll conn_end(conn *k)
{
    free(k->out);
    k->out = NULL;
    corio_tcp_close(k->c);
    k->c = NULL;
    k->base.result = 0;
    return CORIO_READY;
}

static corio_poll conn_poll(corio_future *base, corio_context *cx)
{
    conn *k = (conn *)base;
    corio_fd *fd = corio_tcp_as_fd(k->c);
    char *buf = scratch()->b; /* this thread's, for the whole poll */
    for (;;) {
        if (k->writing) {
            if (corio_future_poll(&k->wr.base, cx) == CORIO_PENDING)
                return CORIO_PENDING;
            free(k->out);
            k->out = NULL;
            k->writing = false;
            if (k->wr.base.result < 0)
                return conn_end(k);
            corio_fd_wait_fut_init(&k->wait, fd, CORIO_READABLE);
        }
        if (!k->draining) {
            if (corio_future_poll(&k->wait.base, cx) == CORIO_PENDING)
                return CORIO_PENDING;
            if (k->wait.base.result < 0)
                return conn_end(k);
        }
        k->draining = false;
        /* Readable: echo what is there, until the socket is drained - or
         * for DRAIN_MAX reads, then let the other tasks run (a peer that
         * never stops sending would keep this poll going: the cooperative
         * budget a coroutine's reads are charged to). */
        for (int reads = 0;; reads++) {
            if (reads == DRAIN_MAX) {
                k->draining = true;
                corio_waker_wake_by_ref(corio_context_waker(cx));
                return CORIO_PENDING;
            }
            ssize_t n = recv(corio_fd_raw(fd), buf, sizeof(scratch_buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return conn_end(k);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                corio_fd_clear_ready(fd, &k->wait.ready, CORIO_READABLE);
                break;
            }
            ssize_t sent = send(corio_fd_raw(fd), buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent < 0 && errno != EAGAIN && errno != EINTR)
                return conn_end(k);
            if (sent < 0)
                sent = 0;
            if (sent < n) {
                /* The socket is full: the rest waits in a buffer of its own. */
                size_t left = (size_t)(n - sent);
                if (!(k->out = malloc(left)))
                    return conn_end(k);
                memcpy(k->out, buf + sent, left);
                corio_tcp_write_all_fut_init(&k->wr, k->c, k->out, left);
                k->writing = true;
                break;
            }
            if ((size_t)n < sizeof(scratch_buf)) {
                /* A short read drained the socket: no second recv just to
                 * hear EAGAIN. Data that comes after it is a new event,
                 * which clear_ready does not forget (corio/io.h). */
                corio_fd_clear_ready(fd, &k->wait.ready, CORIO_READABLE);
                break;
            }
        }
        if (!k->writing)
            corio_fd_wait_fut_init(&k->wait, fd, CORIO_READABLE);
    }
}

/* Dropped at the runtime's shutdown: close the connection. */
static void conn_drop(corio_future *base)
{
    conn *k = (conn *)base;
    if (k->writing)
        corio_future_drop(&k->wr.base);
    else
        corio_future_drop(&k->wait.base);
    if (k->c)
        conn_end(k);
}

static const corio_future_vtable conn_vt = {conn_poll, conn_drop};

static void serve_conn(corio_tcp *c)
{
    conn k = {.c = c};
    corio_future_init(&k.base, &conn_vt);
    corio_fd_wait_fut_init(&k.wait, corio_tcp_as_fd(c), CORIO_READABLE);
    if (corio_spawn_future(&k.base, sizeof k, NULL) < 0)
        corio_tcp_close(c);
}

int main(int argc, char **argv)
{
    return echo_server_main(argc, argv, serve_conn);
}
