/* hold_conns - how much a server's resident memory grows per idle
 * connection, with as many connections open as the fd limit allows (the
 * seeds' "100K+ concurrent connections", measured where a process may hold
 * 20,000 files). Not a corio program: a driver for any tcp_echo server of
 * the peers' CLI (corio's, tokio's, Go's, the thread-per-connection one).
 *
 *   hold_conns server=build/bench/tcp_echo [label=corio] [port=17600]
 *              [threads=1] [conns=0] [clients=2] [sample=200] [rounds=20]
 *
 * It starts the server (its fd limit raised to the hard limit), reads its
 * resident memory idle, then opens `conns` connections (0: as many as the
 * server's hard fd limit allows, less a margin for its own fds) from
 * `clients` client processes, sends `rounds` echo round trips of 64 bytes
 * on `sample` of them (spread over all clients) and checks the answers,
 * lets everything settle, and reads the server's VmRSS and VmHWM
 * (/proc/PID/status) and how many connections it holds (its open fds less
 * those it had idle). Prints one line:
 *
 *   RESULT name=hold_conns impl=LABEL conns=N rss_idle_kb= rss_kb= hwm_kb=
 *          kb_per_conn= rss_100k_mib= echo_ok=
 *
 * rss_100k_mib is rss_idle + 100,000 x kb_per_conn: what 100,000 would
 * cost at the measured rate. Everything runs on 127.0.0.1 and is bounded
 * in time (alarm). bench/hold_conns.sh runs it for each server.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

static const char *arg_str(int argc, char **argv, const char *key, const char *def)
{
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=')
            return argv[i] + k + 1;
    return def;
}

static long arg_long(int argc, char **argv, const char *key, long def)
{
    const char *v = arg_str(argc, argv, key, NULL);
    return v ? strtol(v, NULL, 10) : def;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static long status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t k = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, k) == 0 && line[k] == ':')
            v = strtol(line + k + 1, NULL, 10);
    fclose(f);
    return v;
}

static long count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int full_io(int fd, char *buf, size_t len, int write)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write ? send(fd, buf + off, len - off, MSG_NOSIGNAL)
                          : recv(fd, buf + off, len - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* A client process: open `n` connections, echo on `sample` of them, report
 * "opened ok" on `rep`, hold everything until `hold` reaches EOF. */
static void client(int port, long n, long sample, long rounds, int rep, int hold)
{
    int *fds = malloc((size_t)n * sizeof *fds);
    long opened = 0, ok = 0;
    for (; opened < n; opened++) {
        int fd = -1;
        for (int tries = 0; tries < 50 && (fd = connect_to(port)) < 0; tries++)
            nap_ms(20); /* a full accept queue: the server is catching up */
        if (fd < 0)
            break;
        fds[opened] = fd;
    }
    long step = sample > 0 && opened > sample ? opened / sample : 1;
    for (long i = 0, done = 0; i < opened && done < sample; i += step, done++) {
        int good = 1;
        for (long r = 0; r < rounds && good; r++) {
            char out[64], in[64];
            memset(out, (int)('a' + (i + r) % 26), sizeof out);
            good = full_io(fds[i], out, sizeof out, 1) == 0 &&
                   full_io(fds[i], in, sizeof in, 0) == 0 && memcmp(out, in, sizeof in) == 0;
        }
        ok += good;
    }
    char msg[64];
    int len = snprintf(msg, sizeof msg, "%ld %ld\n", opened, ok);
    if (write(rep, msg, (size_t)len) != len)
        _exit(1);
    char b;
    while (read(hold, &b, 1) > 0) /* until the parent closes its end */
        ;
    for (long i = 0; i < opened; i++)
        close(fds[i]);
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *server = arg_str(argc, argv, "server", "build/bench/tcp_echo");
    const char *label = arg_str(argc, argv, "label", "server");
    int port = (int)arg_long(argc, argv, "port", 17600);
    long threads = arg_long(argc, argv, "threads", 1);
    long conns = arg_long(argc, argv, "conns", 0);
    long clients = arg_long(argc, argv, "clients", 2);
    long sample = arg_long(argc, argv, "sample", 200);
    long rounds = arg_long(argc, argv, "rounds", 20);
    alarm(120);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max; /* for the server (inherited) and the clients */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (conns <= 0)
        conns = (long)rl.rlim_max - 100; /* the server's own fds, and some room */
    if (clients < 1)
        clients = 1;
    if ((long)rl.rlim_max < conns / clients + 50)
        clients = conns / ((long)rl.rlim_max - 50) + 1;

    pid_t srv = fork();
    if (srv == 0) {
        char p[32], t[32];
        snprintf(p, sizeof p, "port=%d", port);
        snprintf(t, sizeof t, "threads=%ld", threads);
        execl(server, server, p, t, (char *)NULL);
        perror(server);
        _exit(127);
    }
    int up = 0;
    for (int i = 0; i < 500 && !up; i++) {
        int fd = connect_to(port);
        if (fd >= 0) {
            close(fd);
            up = 1;
        } else {
            nap_ms(20);
        }
    }
    if (!up) {
        fprintf(stderr, "hold_conns: %s does not listen on %d\n", server, port);
        kill(srv, SIGKILL);
        return 1;
    }
    nap_ms(300);
    long rss_idle = status_kb(srv, "VmRSS"), fds_idle = count_fds(srv);

    int rep[2], hold[2];
    if (pipe(rep) < 0 || pipe(hold) < 0)
        return 1;
    pid_t *kids = calloc((size_t)clients, sizeof *kids);
    for (long c = 0; c < clients; c++) {
        long n = conns / clients + (c < conns % clients);
        long s = sample / clients + (c < sample % clients);
        if ((kids[c] = fork()) == 0) {
            close(rep[0]);
            close(hold[1]);
            client(port, n, s, rounds, rep[1], hold[0]);
        }
    }
    close(rep[1]);
    close(hold[0]);
    long opened = 0, ok = 0;
    FILE *r = fdopen(rep[0], "r");
    for (long c = 0; c < clients; c++) {
        long o, k;
        if (fscanf(r, "%ld %ld", &o, &k) != 2)
            break;
        opened += o;
        ok += k;
    }
    /* All connections are open and idle: let the server settle. */
    long held = 0;
    for (int i = 0; i < 50; i++) {
        nap_ms(100);
        long h = count_fds(srv) - fds_idle;
        if (h == held && i >= 10)
            break;
        held = h;
    }
    long rss = status_kb(srv, "VmRSS"), hwm = status_kb(srv, "VmHWM");
    double per = held > 0 ? (double)(rss - rss_idle) / (double)held : 0;
    printf("RESULT name=hold_conns impl=%s threads=%ld conns=%ld opened=%ld rss_idle_kb=%ld "
           "rss_kb=%ld hwm_kb=%ld kb_per_conn=%.2f rss_100k_mib=%.0f echo_ok=%ld/%ld\n",
           label, threads, held, opened, rss_idle, rss, hwm, per,
           ((double)rss_idle + per * 100000) / 1024, ok, sample);
    fflush(stdout);
    close(hold[1]); /* the clients close their connections and exit */
    for (long c = 0; c < clients; c++)
        waitpid(kids[c], NULL, 0);
    kill(srv, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {
        if (waitpid(srv, &st, WNOHANG) == srv)
            return 0;
        nap_ms(50);
    }
    kill(srv, SIGKILL);
    waitpid(srv, &st, 0);
    return 0;
}
