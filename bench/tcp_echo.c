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
#include "echo_server.h"

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

static void serve_conn(corio_tcp *c)
{
    if (corio_spawn(echo, c, NULL) < 0)
        corio_tcp_close(c);
}

int main(int argc, char **argv)
{
    return echo_server_main(argc, argv, serve_conn);
}
