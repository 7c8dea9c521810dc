/* tcp_echo - the peers' echo server (../shared/peers/README.md): per
 * connection, read up to 4 KiB and write it all back, until EOF or an
 * error. One coroutine task per connection, written the way a user would.
 *
 *   tcp_echo port=7000 threads=1
 *
 * threads=1: a current-thread runtime; threads=N: the multi-thread one
 * with N workers. Listens on 127.0.0.1 with a backlog of 4096, sets
 * TCP_NODELAY on accepted sockets, runs until SIGTERM.
 */
#include "bench.h"

#include <sys/resource.h>

static int echo(void *arg)
{
    corio_tcp *c = arg;
    char buf[4096];
    ssize_t n;
    while ((n = corio_tcp_read(c, buf, sizeof buf)) > 0)
        if (corio_tcp_write_all(c, buf, (size_t)n) < 0)
            break;
    corio_tcp_close(c);
    return 0;
}

static int serve(void *arg)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", *(int *)arg);
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
        if (corio_spawn(echo, c, NULL) < 0)
            corio_tcp_close(c);
    }
    corio_tcp_listener_close(l);
    return 0;
}

int main(int argc, char **argv)
{
    bench_threads(argc, argv, "tcp_echo");
    int port = (int)arg_ll(argc, argv, "port", 7000);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return bench_run(serve, &port);
}
