/* echo_server.h - the accept side that corio's echo servers share (the
 * peers' tcp_echo CLI, ../shared/peers/README.md): port=P threads=N, the
 * fd limit raised to the hard limit, a listener on 127.0.0.1:P with a
 * backlog of 4096, TCP_NODELAY on every accepted socket, and one task per
 * connection made by the server's own `serve_conn` (which owns the socket
 * from then on, and closes it when it cannot spawn). Runs until SIGTERM.
 * Include after bench.h.
 */
#ifndef CORIO_BENCH_ECHO_SERVER_H
#define CORIO_BENCH_ECHO_SERVER_H

#include <sys/resource.h>

typedef struct echo_server {
    int port;
    void (*serve_conn)(corio_tcp *c); /* spawn the connection's task */
} echo_server;

static int echo_accept_loop(void *arg)
{
    echo_server *s = arg;
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
    corio_tcp_listener *l;
    bench_check(corio_tcp_listen(addr, 4096, &l), "corio_tcp_listen");
    int rc;
    corio_tcp *c;
    while ((rc = corio_tcp_accept(l, &c)) != CORIO_ESHUTDOWN) {
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM)
            continue; /* accept has paused already; try again */
        if (rc < 0)
            return rc; /* the runtime is going away */
        corio_tcp_set_nodelay(c, true);
        s->serve_conn(c);
    }
    corio_tcp_listener_close(l);
    return 0;
}

/* main() of an echo server: parse the arguments, raise the fd limit, run
 * the accept loop on the runtime threads=N asks for. */
static int echo_server_main(int argc, char **argv, void (*serve_conn)(corio_tcp *c))
{
    bench_threads(argc, argv, "tcp_echo");
    echo_server s = {(int)arg_ll(argc, argv, "port", 7000), serve_conn};
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return bench_run(echo_accept_loop, &s);
}

#endif
