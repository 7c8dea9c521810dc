/* tcp_echo_threads - the synchronous baseline for the peers' echo
 * workload (../shared/peers/README.md): one OS thread per connection,
 * blocking reads and writes, no runtime at all. It is the "sync code" of
 * the seeds' "2.5x over sync code for I/O workloads" claim: the same
 * behaviour as tcp_echo (read up to 4 KiB, write it all back, until EOF or
 * an error), written the way it would be without async I/O.
 *
 *   tcp_echo_threads port=7000 threads=1
 *
 * threads= is accepted and ignored: there is a thread per connection
 * whatever it says (the harness pins the process with taskset, which
 * bounds the cores those threads run on). Listens on 127.0.0.1 with a
 * backlog of 4096, sets TCP_NODELAY on accepted sockets, runs until
 * SIGTERM. Threads get 64 KiB stacks (the default, 8 MiB of address space
 * each, would reserve 8 GiB for 1000 connections; committed memory is what
 * a thread touches either way), so 10,000 connections fit.
 *
 * The harness looks for a binary named `tcp_echo` in an implementation's
 * directory: $(BUILD)/bench_threads/tcp_echo links to this one, so
 *   PEERS_EXTRA_IMPLS="threads=$PWD/build/bench_threads corio=$PWD/build/bench"
 * runs it beside corio's own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (64u << 10)

static long arg_long(int argc, char **argv, const char *key, long def)
{
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=')
            return strtol(argv[i] + k + 1, NULL, 10);
    return def;
}

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto done;
            off += w;
        }
    }
done:
    close(fd);
    return NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    int port = (int)arg_long(argc, argv, "port", 7000);
    (void)arg_long(argc, argv, "threads", 1); /* one thread per connection regardless */
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_ms(10); /* out of fds: the connection waits in the queue */
            else if (errno != EINTR && errno != ECONNABORTED)
                perror("accept");
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t th;
        int rc = pthread_create(&th, &attr, echo, (void *)(intptr_t)c);
        if (rc != 0) { /* out of threads or memory: refuse this one */
            close(c);
            pause_ms(1);
        }
    }
}
