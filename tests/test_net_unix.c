/* Tests of corio/unix.h: Unix-domain listeners and streams, paths and
 * abstract names, credentials, errors, cancellation and deadlines, and many
 * connections at once. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <corio/unix.h> /* until corio.h includes it */

#include "test.h"
#include "util.h"
#include "util_net.h"

/* ---- a connection, both ends ---------------------------------------------------- */

static int echo_conn(void *arg)
{
    corio_unix *c = arg;
    char buf[256];
    ssize_t n;
    while ((n = corio_unix_read(c, buf, sizeof buf)) > 0)
        CHECK_EQ(corio_unix_write_all(c, buf, (size_t)n), 0);
    CHECK_EQ(n, 0);
    corio_unix_close(c);
    return 0;
}

static int accept_one_and_echo(void *arg)
{
    corio_unix_listener *l = arg;
    corio_unix *c;
    CHECK_EQ(corio_unix_accept(l, &c), 0);
    /* the peer's credentials: this very process */
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    CHECK_EQ(corio_unix_peer_cred(c, &pid, &uid, &gid), 0);
    CHECK_EQ(pid, getpid());
    CHECK_EQ(uid, getuid());
    CHECK_EQ(gid, getgid());
    return echo_conn(c);
}

static void talk(corio_unix *c)
{
    for (int i = 0; i < 100; i++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof msg, "message %d", i);
        CHECK_EQ(corio_unix_write(c, msg, (size_t)len), len);
        CHECK_EQ(corio_unix_read_exact(c, back, (size_t)len), 0);
        CHECK(memcmp(msg, back, (size_t)len) == 0);
    }
    struct iovec out[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    CHECK_EQ(corio_unix_writev(c, out, 3), 6);
    char x[2], y[4];
    struct iovec in[2] = {{x, 2}, {y, 4}};
    ssize_t got = 0;
    while (got < 6) {
        ssize_t n = corio_unix_readv(c, in, 2);
        CHECK(n > 0);
        got += n;
        if (got < 6) {
            CHECK(got >= 2);
            in[0].iov_len = 0;
            in[1].iov_base = y + (got - 2);
            in[1].iov_len = (size_t)(6 - got);
        }
    }
    CHECK(memcmp(x, "ab", 2) == 0 && memcmp(y, "cdef", 4) == 0);
}

static int round_trip_main(void *arg)
{
    (void)arg;
    char path[108];
    net_tmp_path(path, sizeof path, "rt");
    corio_unix_listener *l;
    CHECK_EQ(corio_unix_listen(path, 16, &l), 0);
    CHECK(net_exists(path));
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_unix *c;
    CHECK_EQ(corio_unix_connect(path, &c), 0);
    CHECK(fcntl(corio_fd_raw(corio_unix_as_fd(c)), F_GETFD) & FD_CLOEXEC);
    pid_t pid = 0;
    CHECK_EQ(corio_unix_peer_cred(c, &pid, NULL, NULL), 0); /* NULLs allowed */
    CHECK_EQ(pid, getpid());
    talk(c);
    /* half close: the server sees EOF, ends, closes: we see EOF */
    CHECK_EQ(corio_unix_shutdown(c, SHUT_WR), 0);
    char b;
    CHECK_EQ(corio_unix_read(c, &b, 1), 0);
    CHECK_EQ(corio_unix_read_exact(c, &b, 1), CORIO_EEOF);
    CHECK_EQ(join_rc(srv), 0);
    CHECK_EQ(corio_unix_close(c), 0);
    /* closing the listener leaves the file: the path is still taken */
    CHECK_EQ(corio_unix_listener_close(l), 0);
    CHECK(net_exists(path));
    CHECK_EQ(corio_unix_connect(path, &c), -ECONNREFUSED); /* stale */
    CHECK_EQ(corio_unix_listen(path, 16, &l), -EADDRINUSE);
    CHECK(l == NULL);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(corio_unix_listen(path, 16, &l), 0); /* once removed, it binds */
    CHECK_EQ(corio_unix_listener_close(l), 0);
    CHECK_EQ(unlink(path), 0);
    return 0;
}

TEST(net_unix_round_trip_peer_cred_half_close_and_files)
{
    net_run_both(round_trip_main, NULL);
}

/* Abstract names: no file, taken while a listener holds them. */
static int abstract_main(void *arg)
{
    (void)arg;
    char name[64];
    snprintf(name, sizeof name, "@corio-test-%d-abstract", (int)getpid());
    corio_unix_listener *l, *l2;
    CHECK_EQ(corio_unix_listen(name, 16, &l), 0);
    CHECK(!net_exists(name));
    CHECK(!net_exists(name + 1));
    CHECK_EQ(corio_unix_listen(name, 16, &l2), -EADDRINUSE);
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_unix *c;
    CHECK_EQ(corio_unix_connect(name, &c), 0);
    talk(c);
    corio_unix_close(c);
    CHECK_EQ(join_rc(srv), 0);
    /* the listener's socket really has the name "\0corio-test-..." */
    struct sockaddr_un sa;
    socklen_t len = sizeof sa;
    CHECK_EQ(getsockname(corio_fd_raw(corio_unix_listener_as_fd(l)), (struct sockaddr *)&sa,
                         &len),
             0);
    CHECK_EQ(sa.sun_path[0], 0);
    CHECK_EQ(len, offsetof(struct sockaddr_un, sun_path) + strlen(name));
    CHECK(memcmp(sa.sun_path + 1, name + 1, strlen(name) - 1) == 0);
    CHECK_EQ(corio_unix_listener_close(l), 0);
    /* gone with its listener: free again, and nobody there */
    CHECK_EQ(corio_unix_connect(name, &c), -ECONNREFUSED);
    CHECK_EQ(corio_unix_listen(name, 16, &l), 0);
    corio_unix_listener_close(l);
    return 0;
}

TEST(net_unix_abstract_names)
{
    net_run_both(abstract_main, NULL);
}

/* A pair, and the exact futures with their `done`. */
static int await_fut(void *arg)
{
    return corio_await(arg);
}

static int pair_main(void *arg)
{
    (void)arg;
    corio_unix *a, *b;
    CHECK_EQ(corio_unix_pair(&a, &b), 0);
    pid_t pid = 0;
    CHECK_EQ(corio_unix_peer_cred(a, &pid, NULL, NULL), 0);
    CHECK_EQ(pid, getpid());
    size_t len = SCALE(4u << 20, 1u << 20, 512u << 10);
    unsigned char *out = malloc(len), *in = malloc(len);
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 12));
    corio_unix_exact_fut w, r;
    corio_unix_write_all_fut_init(&w, a, out, len);
    corio_unix_read_exact_fut_init(&r, b, in, len);
    corio_task *t;
    CHECK_EQ(corio_spawn(await_fut, &w.base, &t), 0); /* each needs the other */
    CHECK_EQ(corio_await(&r.base), 0);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(w.base.result, 0);
    CHECK_EQ(r.base.result, 0);
    CHECK_EQ(w.done, len);
    CHECK_EQ(r.done, len);
    CHECK(memcmp(out, in, len) == 0);
    /* a read_exact cut short by a deadline says how much it took */
    CHECK_EQ(corio_unix_write_all(a, "abc", 3), 0);
    corio_unix_read_exact_fut_init(&r, b, in, 10);
    CHECK_EQ(corio_timeout(&r.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    CHECK_EQ(r.done, 3);
    CHECK(memcmp(in, "abc", 3) == 0);
    /* the peer closes: EOF */
    corio_unix_close(a);
    corio_unix_read_exact_fut_init(&r, b, in, 1);
    CHECK_EQ(corio_await(&r.base), 0);
    CHECK_EQ(r.base.result, CORIO_EEOF);
    corio_unix_close(b);
    free(out);
    free(in);
    return 0;
}

TEST(net_unix_pair_and_exact_futures)
{
    net_run_both(pair_main, NULL);
}

/* ---- errors ------------------------------------------------------------------------- */

static int errors_main(void *arg)
{
    (void)arg;
    corio_unix_listener *l = (corio_unix_listener *)1;
    corio_unix *c = (corio_unix *)1;
    char path[200];
    /* a path that exists (a regular file): in use, left alone */
    net_tmp_path(path, sizeof path, "file");
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(corio_unix_listen(path, 8, &l), -EADDRINUSE);
    CHECK(l == NULL);
    CHECK(net_exists(path));
    CHECK_EQ(corio_unix_connect(path, &c), -ECONNREFUSED); /* not a socket */
    CHECK(c == NULL);
    unlink(path);
    /* no such path, no such directory */
    CHECK_EQ(corio_unix_connect(path, &c), -ENOENT);
    CHECK_EQ(corio_unix_listen("/nonexistent-dir-corio/x.sock", 8, &l), -ENOENT);
    /* too long: 108 bytes of path (107 is the most) */
    memset(path, 'a', 109);
    path[0] = '/';
    path[108] = '\0';
    CHECK_EQ(corio_unix_listen(path, 8, &l), -ENAMETOOLONG);
    CHECK(l == NULL);
    CHECK_EQ(corio_unix_connect(path, &c), -ENAMETOOLONG);
    /* an abstract name: 107 bytes after the '@' at most */
    path[0] = '@';
    path[108] = 'a';
    path[109] = '\0';
    CHECK_EQ(corio_unix_listen(path, 8, &l), -ENAMETOOLONG);
    path[108] = '\0';
    CHECK_EQ(corio_unix_listen(path, 8, &l), 0);
    corio_unix_listener_close(l);
    /* the longest file path works (107 bytes: /tmp/ then 102 more) */
    memset(path, 'b', 107);
    memcpy(path, "/tmp/", 5);
    path[107] = '\0';
    unlink(path);
    CHECK_EQ(corio_unix_listen(path, 8, &l), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &t), 0);
    CHECK_EQ(corio_unix_connect(path, &c), 0);
    corio_unix_close(c);
    CHECK_EQ(join_rc(t), 0);
    corio_unix_listener_close(l);
    unlink(path);
    /* empty */
    CHECK_EQ(corio_unix_listen("", 8, &l), -EINVAL);
    CHECK_EQ(corio_unix_listen("@", 8, &l), -EINVAL);
    CHECK_EQ(corio_unix_connect("", &c), -EINVAL);
    /* a datagram socket is no listener */
    net_tmp_path(path, sizeof path, "dgram");
    int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    CHECK_EQ(bind(d, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(corio_unix_connect(path, &c), -EPROTOTYPE);
    close(d);
    unlink(path);
    /* NULL answers (docs/conventions.md) */
    char b;
    CHECK_EQ(corio_unix_listen(NULL, 8, &l), -EINVAL);
    CHECK_EQ(corio_unix_listen("@x", 8, NULL), -EINVAL);
    CHECK_EQ(corio_unix_accept(NULL, &c), -EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(corio_unix_connect(NULL, &c), -EINVAL);
    CHECK_EQ(corio_unix_connect("@x", NULL), -EINVAL);
    corio_unix *c2;
    CHECK_EQ(corio_unix_pair(NULL, &c2), -EINVAL);
    CHECK(c2 == NULL);
    CHECK_EQ(corio_unix_read(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_unix_write(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_unix_readv(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(corio_unix_writev(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(corio_unix_read_exact(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_unix_write_all(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_unix_shutdown(NULL, SHUT_WR), -EINVAL);
    CHECK_EQ(corio_unix_peer_cred(NULL, NULL, NULL, NULL), -EINVAL);
    CHECK(corio_unix_as_fd(NULL) == NULL);
    CHECK(corio_unix_listener_as_fd(NULL) == NULL);
    CHECK_EQ(corio_unix_close(NULL), 0);
    CHECK_EQ(corio_unix_listener_close(NULL), 0);
    corio_unix_accept_fut af;
    corio_unix_accept_fut_init(NULL, NULL); /* nothing */
    corio_unix_accept_fut_init(&af, NULL);
    CHECK_EQ(corio_await(&af.base), 0);
    CHECK_EQ(af.base.result, -EINVAL);
    corio_unix_exact_fut ef;
    corio_unix_read_exact_fut_init(&ef, NULL, &b, 1);
    CHECK_EQ(corio_await(&ef.base), 0);
    CHECK_EQ(ef.base.result, -EINVAL);
    return 0;
}

static int make_pair(void *arg)
{
    corio_unix **ab = arg;
    CHECK_EQ(corio_unix_pair(&ab[0], &ab[1]), 0);
    return 0;
}

static int use_dead_pair(void *arg)
{
    corio_unix **ab = arg;
    char c;
    CHECK_EQ(corio_unix_read(ab[0], &c, 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_unix_write(ab[1], "x", 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_unix_read(ab[0], &c, 0), 0); /* waits for nothing */
    return 0;
}

TEST(net_unix_errors_in_use_missing_too_long_null_and_plain_code)
{
    CHECK_EQ(run_main(errors_main, NULL), 0);
    /* No runtime: plain code - and no file left behind. */
    char path[108];
    net_tmp_path(path, sizeof path, "plain");
    corio_unix_listener *l = (corio_unix_listener *)1;
    CHECK_EQ(corio_unix_listen(path, 8, &l), CORIO_EWRONGCTX);
    CHECK(l == NULL);
    CHECK(!net_exists(path));
    corio_unix *a, *b;
    CHECK_EQ(corio_unix_pair(&a, &b), CORIO_EWRONGCTX);
    /* A pair that outlives its runtime: the waiting calls say
     * CORIO_EWRONGCTX here, CORIO_ESHUTDOWN in another runtime's task; the
     * calls that do not wait still work (corio/unix.h). */
    corio_unix *ab[2];
    CHECK_EQ(run_main(make_pair, ab), 0);
    char c;
    CHECK_EQ(corio_unix_read(ab[0], &c, 1), CORIO_EWRONGCTX);
    CHECK_EQ(run_main(use_dead_pair, ab), 0);
    uid_t uid = (uid_t)-1;
    CHECK_EQ(corio_unix_peer_cred(ab[0], NULL, &uid, NULL), 0);
    CHECK_EQ(uid, getuid());
    CHECK_EQ(corio_unix_shutdown(ab[1], SHUT_WR), 0);
    CHECK_EQ(recv(corio_fd_raw(corio_unix_as_fd(ab[0])), &c, 1, 0), 0); /* its EOF */
    CHECK_EQ(corio_unix_close(ab[0]), 0);
    CHECK_EQ(corio_unix_close(ab[1]), 0);
}

/* The accept queue is full: a connect says -EAGAIN instead of waiting. */
static int full_main(void *arg)
{
    (void)arg;
    char path[108];
    net_tmp_path(path, sizeof path, "full");
    corio_unix_listener *l;
    CHECK_EQ(corio_unix_listen(path, 1, &l), 0);
    corio_unix *cs[8];
    int n = 0, rc;
    while ((rc = corio_unix_connect(path, &cs[n])) == 0 && n < 7)
        n++;
    CHECK_EQ(rc, -EAGAIN);
    CHECK(n >= 1);
    /* taking one makes room */
    corio_unix *s;
    CHECK_EQ(corio_unix_accept(l, &s), 0);
    CHECK_EQ(corio_unix_connect(path, &cs[n]), 0);
    n++;
    corio_unix_close(s);
    while (n)
        corio_unix_close(cs[--n]);
    corio_unix_listener_close(l);
    unlink(path);
    return 0;
}

TEST(net_unix_connect_to_a_full_queue_is_eagain)
{
    CHECK_EQ(run_main(full_main, NULL), 0);
}

/* shutdown(SHUT_RD) makes another task's pending read return 0; a peer
 * that vanishes mid-write is an error, not SIGPIPE. */
static int pending_reader(void *arg)
{
    char b;
    return (int)corio_unix_read(arg, &b, 1);
}

static int writer_forever(void *arg)
{
    static char chunk[65536];
    int rc;
    while ((rc = corio_unix_write_all(arg, chunk, sizeof chunk)) == 0) {
    }
    return rc;
}

static int shutdown_main(void *arg)
{
    (void)arg;
    corio_unix *a, *b;
    CHECK_EQ(corio_unix_pair(&a, &b), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(pending_reader, a, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(corio_unix_shutdown(a, SHUT_RD), 0);
    CHECK_EQ(join_rc(t), 0);
    corio_unix_close(a);
    corio_unix_close(b);
    /* b writes until the buffers are full, then a goes away */
    CHECK_EQ(corio_unix_pair(&a, &b), 0);
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    CHECK_EQ(corio_spawn(writer_forever, b, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(t));
    corio_unix_close(a);
    int rc = join_rc(t);
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    corio_unix_close(b);
    return 0;
}

TEST(net_unix_shutdown_wakes_reader_and_vanished_peer_is_epipe)
{
    net_run_both(shutdown_main, NULL);
}

/* ---- cancellation and deadlines ------------------------------------------------------ */

static int accept_forever(void *arg)
{
    corio_unix *c;
    return corio_unix_accept(arg, &c);
}

static int cancel_main(void *arg)
{
    (void)arg;
    int fds0 = count_fds();
    char path[108];
    net_tmp_path(path, sizeof path, "cancel");
    corio_unix_listener *l;
    CHECK_EQ(corio_unix_listen(path, 16, &l), 0);
    /* accept: aborted, then under a timeout; neither takes the connection */
    corio_task *t;
    CHECK_EQ(corio_spawn(accept_forever, l, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    int r;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    corio_unix_accept_fut af;
    corio_unix_accept_fut_init(&af, l);
    CHECK_EQ(corio_timeout(&af.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    corio_unix *c, *s;
    CHECK_EQ(corio_unix_connect(path, &c), 0);
    corio_unix_accept_fut_init(&af, l);
    CHECK_EQ(corio_timeout(&af.base, CORIO_SEC(5)), 0);
    CHECK_EQ(af.base.result, 0);
    s = af.stream;
    /* read: aborted, under a timeout, under a deadline scope */
    CHECK_EQ(corio_spawn(pending_reader, c, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    char b[4];
    corio_fd_io_fut rf;
    corio_fd_read_fut_init(&rf, corio_unix_as_fd(c), b, sizeof b);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    r = 1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(10), pending_reader, c, &r), CORIO_ETIMEDOUT);
    /* nothing was consumed */
    CHECK_EQ(corio_unix_write_all(s, "Z", 1), 0);
    CHECK_EQ(corio_unix_read(c, b, sizeof b), 1);
    CHECK_EQ(b[0], 'Z');
    corio_unix_close(c);
    corio_unix_close(s);
    corio_unix_listener_close(l);
    unlink(path);
    settle();
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

TEST(net_unix_cancelled_and_timed_out_accept_read_take_nothing)
{
    net_run_both(cancel_main, NULL);
}

/* ---- many connections at once ------------------------------------------------------------ */

typedef struct storm {
    char path[108];
    corio_unix_listener *l;
    int clients, rounds;
    bool cancelling;
    atomic_int served;
} storm;

static int storm_conn(void *arg)
{
    corio_unix *c = arg;
    char buf[512];
    ssize_t n;
    while ((n = corio_unix_read(c, buf, sizeof buf)) > 0)
        if (corio_unix_write_all(c, buf, (size_t)n) < 0)
            break;
    corio_unix_close(c);
    return 0;
}

static int storm_server(void *arg)
{
    storm *s = arg;
    for (int i = 0; i < s->clients; i++) {
        corio_unix *c;
        int rc = corio_unix_accept(s->l, &c);
        if (rc == CORIO_ECANCELED && s->cancelling)
            return 0;
        CHECK_EQ(rc, 0);
        CHECK_EQ(corio_spawn(storm_conn, c, NULL), 0);
        atomic_fetch_add(&s->served, 1);
    }
    return 0;
}

static int storm_client(void *arg)
{
    storm *s = arg;
    corio_unix *c;
    int rc = corio_unix_connect(s->path, &c);
    if (s->cancelling && rc < 0)
        return 0;
    CHECK_EQ(rc, 0);
    uint64_t id = corio_task_id(corio_task_current());
    for (int r = 0; r < s->rounds; r++) {
        uint64_t msg[4] = {id, (uint64_t)r, id ^ (uint64_t)r, 42}, back[4];
        if ((rc = corio_unix_write_all(c, msg, sizeof msg)) == 0 &&
            (rc = corio_unix_read_exact(c, back, sizeof back)) == 0)
            CHECK(memcmp(msg, back, sizeof msg) == 0);
        if (rc < 0) {
            CHECK(s->cancelling && rc == CORIO_ECANCELED);
            break;
        }
        if (r % 7 == 0)
            corio_yield();
    }
    CHECK_EQ(corio_unix_close(c), 0); /* when cancelled too */
    return rc;
}

static int storm_main(void *arg)
{
    storm *s = arg;
    net_tmp_path(s->path, sizeof s->path, "storm");
    /* a queue for every client: a Unix connect does not wait for room */
    CHECK_EQ(corio_unix_listen(s->path, s->clients, &s->l), 0);
    corio_task *srv;
    CHECK_EQ(corio_spawn(storm_server, s, &srv), 0);
    corio_task **ts = calloc((size_t)s->clients, sizeof *ts);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(corio_spawn(storm_client, s, &ts[i]), 0);
    if (s->cancelling)
        for (int i = 0; i < s->clients; i += 2) {
            if (i % 4 == 0)
                corio_yield();
            corio_task_abort(ts[i]);
        }
    for (int i = 0; i < s->clients; i++) {
        int r, rc = corio_task_join(ts[i], &r);
        if (s->cancelling)
            CHECK((rc == 0 || rc == CORIO_ECANCELED) && (r == 0 || r == CORIO_ECANCELED));
        else
            CHECK_EQ(rc | r, 0);
    }
    if (s->cancelling) {
        corio_task_abort(srv);
        int r;
        corio_task_join(srv, &r);
    } else {
        CHECK_EQ(join_rc(srv), 0);
        CHECK_EQ(atomic_load(&s->served), s->clients);
    }
    free(ts);
    corio_unix_listener_close(s->l);
    unlink(s->path);
    return 0;
}

TEST_SLOW(net_unix_stress_many_connections_opened_and_closed)
{
    int fds0 = count_fds();
    storm s = {.clients = SCALE(400, 200, 100), .rounds = SCALE(50, 20, 10)};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, storm_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    storm s1 = {.clients = SCALE(200, 100, 50), .rounds = SCALE(50, 20, 10)};
    CHECK_EQ(run_main(storm_main, &s1), 0);
    CHECK_EQ(count_fds(), fds0);
}

TEST_SLOW(net_unix_stress_cancel_connections_mid_flight)
{
    int fds0 = count_fds();
    storm s = {.clients = SCALE(200, 100, 60), .rounds = SCALE(200, 50, 20), .cancelling = true};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, storm_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0); /* connection tasks still open are cancelled */
    CHECK_EQ(count_fds(), fds0);
}

/* ---- EMFILE on accept, multi-thread runtime: back off, do not spin ------------------ */

typedef struct emfile_case {
    corio_unix_listener *l;
    atomic_int calls, errors, accepted, stop;
} emfile_case;

static int emfile_acceptor(void *arg)
{
    emfile_case *e = arg;
    while (!atomic_load(&e->stop)) {
        corio_unix *c;
        atomic_fetch_add(&e->calls, 1);
        int rc = corio_unix_accept(e->l, &c);
        if (rc == 0) {
            atomic_fetch_add(&e->accepted, 1);
            corio_unix_close(c);
        } else if (rc == -EMFILE) {
            atomic_fetch_add(&e->errors, 1); /* a naive loop: at once again */
        } else {
            return rc;
        }
    }
    return 0;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    CHECK_EQ(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int emfile_main(void *arg)
{
    (void)arg;
    emfile_case e = {0};
    char path[108];
    net_tmp_path(path, sizeof path, "emfile");
    CHECK_EQ(corio_unix_listen(path, 16, &e.l), 0);
    corio_unix *client; /* queued at the listener before the table fills */
    CHECK_EQ(corio_unix_connect(path, &client), 0);
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit low = {256, rl.rlim_max};
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int spare[256], nspare = 0;
    for (int fd; nspare < 256 && (fd = dup(0)) >= 0;)
        spare[nspare++] = fd;
    CHECK(nspare > 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(emfile_acceptor, &e, &t), 0);
    double cpu0 = process_cpu_s(), wall0 = mono_ms();
    corio_sleep(CORIO_MSEC(500));
    double cpu = process_cpu_s() - cpu0, wall = (mono_ms() - wall0) / 1000;
    /* Backing off (1 ms, doubling): a handful of tries and next to no CPU,
     * where a spinning acceptor would burn a whole core (cpu ~ wall). The
     * bound is loose so that a busy machine does not fail it. */
    CHECK(atomic_load(&e.errors) >= 3);
    CHECK(atomic_load(&e.calls) < 40);
    if (cpu > 0.3 * wall)
        test_failf(__FILE__, __LINE__, "%.3f s of CPU in %.3f s", cpu, wall);
    CHECK_EQ(atomic_load(&e.accepted), 0);
    close(spare[--nspare]); /* one fd back: the queued connection is taken */
    double t0 = mono_ms();
    while (atomic_load(&e.accepted) == 0) {
        corio_sleep(CORIO_MSEC(5));
        CHECK(mono_ms() - t0 < 5000);
    }
    atomic_store(&e.stop, 1);
    corio_task_abort(t);
    join_rc(t);
    while (nspare)
        close(spare[--nspare]);
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    corio_unix_close(client);
    corio_unix_listener_close(e.l);
    unlink(path);
    return 0;
}

TEST_TIMING(net_unix_emfile_on_accept_backs_off_on_the_multi_thread_runtime)
{
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, emfile_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
