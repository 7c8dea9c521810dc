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

/* A fresh path in /tmp, unique to this process and call. */
static void tmp_path(char *buf, size_t size, const char *tag)
{
    static atomic_int seq;
    snprintf(buf, size, "/tmp/corio-test-%d-%s-%d.sock", (int)getpid(), tag,
             atomic_fetch_add(&seq, 1));
    unlink(buf);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void run_both(corio_fn fn, void *arg)
{
    CHECK_EQ(run_main(fn, arg), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, fn, arg, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

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
    tmp_path(path, sizeof path, "rt");
    corio_unix_listener *l;
    CHECK_EQ(corio_unix_listen(path, 16, &l), 0);
    CHECK(exists(path));
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
    CHECK(exists(path));
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
    run_both(round_trip_main, NULL);
}

/* Abstract names: no file, taken while a listener holds them. */
static int abstract_main(void *arg)
{
    (void)arg;
    char name[64];
    snprintf(name, sizeof name, "@corio-test-%d-abstract", (int)getpid());
    corio_unix_listener *l, *l2;
    CHECK_EQ(corio_unix_listen(name, 16, &l), 0);
    CHECK(!exists(name));
    CHECK(!exists(name + 1));
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
    run_both(abstract_main, NULL);
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
    run_both(pair_main, NULL);
}

/* ---- errors ------------------------------------------------------------------------- */

static int errors_main(void *arg)
{
    (void)arg;
    corio_unix_listener *l = (corio_unix_listener *)1;
    corio_unix *c = (corio_unix *)1;
    char path[200];
    /* a path that exists (a regular file): in use, left alone */
    tmp_path(path, sizeof path, "file");
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(corio_unix_listen(path, 8, &l), -EADDRINUSE);
    CHECK(l == NULL);
    CHECK(exists(path));
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
    tmp_path(path, sizeof path, "dgram");
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

TEST(net_unix_errors_in_use_missing_too_long_null_and_plain_code)
{
    CHECK_EQ(run_main(errors_main, NULL), 0);
    /* No runtime: plain code - and no file left behind. */
    char path[108];
    tmp_path(path, sizeof path, "plain");
    corio_unix_listener *l = (corio_unix_listener *)1;
    CHECK_EQ(corio_unix_listen(path, 8, &l), CORIO_EWRONGCTX);
    CHECK(l == NULL);
    CHECK(!exists(path));
    corio_unix *a, *b;
    CHECK_EQ(corio_unix_pair(&a, &b), CORIO_EWRONGCTX);
}

/* The accept queue is full: a connect says -EAGAIN instead of waiting. */
static int full_main(void *arg)
{
    (void)arg;
    char path[108];
    tmp_path(path, sizeof path, "full");
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
    run_both(shutdown_main, NULL);
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
    tmp_path(path, sizeof path, "cancel");
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
    run_both(cancel_main, NULL);
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
    tmp_path(s->path, sizeof s->path, "storm");
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
    tmp_path(path, sizeof path, "emfile");
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

/* ==== datagram sockets ============================================================= */

/* Bound, abstract and unbound sockets: datagrams with their senders'
 * addresses, answered by those addresses; boundaries kept; files left. */
static int dgram_main(void *arg)
{
    (void)arg;
    char pa[108], pb[64];
    tmp_path(pa, sizeof pa, "dga");
    snprintf(pb, sizeof pb, "@corio-test-%d-dgb-%d", (int)getpid(), rand());
    corio_unix_dgram *a, *b, *c;
    CHECK_EQ(corio_unix_dgram_bind(pa, &a), 0);
    CHECK(exists(pa));
    CHECK_EQ(corio_unix_dgram_bind(pb, &b), 0);
    CHECK(!exists(pb + 1));
    CHECK_EQ(corio_unix_dgram_unbound(&c), 0);
    CHECK(fcntl(corio_fd_raw(corio_unix_dgram_as_fd(a)), F_GETFD) & FD_CLOEXEC);
    corio_unix_addr la, lb, lc;
    CHECK_EQ(corio_unix_dgram_local_addr(a, &la), 0);
    CHECK_EQ(corio_unix_dgram_local_addr(b, &lb), 0);
    CHECK_EQ(corio_unix_dgram_local_addr(c, &lc), 0);
    CHECK(strcmp(la.path, pa) == 0);
    CHECK(strcmp(lb.path, pb) == 0);
    CHECK_EQ(lc.path[0], 0);
    /* from the unbound socket: the sender is "" */
    char buf[64];
    corio_unix_addr from;
    CHECK_EQ(corio_unix_dgram_send_to(c, "one", 3, pa), 3);
    CHECK_EQ(corio_unix_dgram_recv_from(a, buf, sizeof buf, &from), 3);
    CHECK(memcmp(buf, "one", 3) == 0);
    CHECK_EQ(from.path[0], 0);
    /* from the abstract one: its name, which the answer goes to */
    CHECK_EQ(corio_unix_dgram_send_to(b, "two", 3, pa), 3);
    CHECK_EQ(corio_unix_dgram_recv_from(a, buf, sizeof buf, &from), 3);
    CHECK(strcmp(from.path, pb) == 0);
    CHECK_EQ(corio_unix_dgram_send_to(a, "back", 4, from.path), 4);
    CHECK_EQ(corio_unix_dgram_recv_from(b, buf, sizeof buf, &from), 4);
    CHECK(memcmp(buf, "back", 4) == 0);
    CHECK(strcmp(from.path, pa) == 0);
    /* boundaries: three datagrams are three receives; an empty one is 0;
     * a long one is cut, and the future says so */
    CHECK_EQ(corio_unix_dgram_send_to(b, "x", 1, pa), 1);
    CHECK_EQ(corio_unix_dgram_send_to(b, "", 0, pa), 0);
    CHECK_EQ(corio_unix_dgram_send_to(b, "0123456789", 10, pa), 10);
    CHECK_EQ(corio_unix_dgram_recv(a, buf, sizeof buf), 1);
    CHECK_EQ(corio_unix_dgram_recv(a, buf, sizeof buf), 0);
    corio_unix_dgram_recv_fut rf;
    corio_unix_dgram_recv_from_fut_init(&rf, a, buf, 4);
    CHECK_EQ(corio_await(&rf.base), 0);
    CHECK_EQ(rf.base.result, 4);
    CHECK(rf.truncated);
    CHECK(strcmp(rf.from.path, pb) == 0);
    CHECK(memcmp(buf, "0123", 4) == 0);
    /* the send futures */
    corio_unix_dgram_send_fut sf;
    corio_unix_dgram_send_to_fut_init(&sf, c, "fut", 3, pa);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, 3);
    corio_unix_dgram_recv_fut_init(&rf, a, buf, sizeof buf);
    CHECK_EQ(corio_await(&rf.base), 0);
    CHECK_EQ(rf.base.result, 3);
    CHECK(!rf.truncated);
    /* closing leaves the file; the path stays taken until it is removed */
    CHECK_EQ(corio_unix_dgram_close(a), 0);
    CHECK(exists(pa));
    CHECK_EQ(corio_unix_dgram_send_to(c, "z", 1, pa), -ECONNREFUSED);
    CHECK_EQ(corio_unix_dgram_bind(pa, &a), -EADDRINUSE);
    CHECK(a == NULL);
    CHECK_EQ(unlink(pa), 0);
    CHECK_EQ(corio_unix_dgram_send_to(c, "z", 1, pa), -ENOENT);
    CHECK_EQ(corio_unix_dgram_close(b), 0);
    CHECK_EQ(corio_unix_dgram_send_to(c, "z", 1, pb), -ECONNREFUSED); /* name gone */
    CHECK_EQ(corio_unix_dgram_close(c), 0);
    return 0;
}

TEST(net_unix_dgram_bound_abstract_unbound_addresses_and_boundaries)
{
    run_both(dgram_main, NULL);
}

/* Pairs and connected sockets: send and recv, the peer's address, only the
 * peer's datagrams, a peer that has gone. */
static int dgram_connect_main(void *arg)
{
    (void)arg;
    corio_unix_dgram *a, *b;
    CHECK_EQ(corio_unix_dgram_pair(&a, &b), 0);
    char buf[32];
    CHECK_EQ(corio_unix_dgram_send(a, "ping", 4), 4);
    CHECK_EQ(corio_unix_dgram_recv(b, buf, sizeof buf), 4);
    CHECK_EQ(corio_unix_dgram_send(b, "pong", 4), 4);
    corio_unix_addr from;
    CHECK_EQ(corio_unix_dgram_recv_from(a, buf, sizeof buf, &from), 4);
    CHECK(memcmp(buf, "pong", 4) == 0);
    CHECK_EQ(from.path[0], 0); /* a pair's sockets are unnamed */
    corio_unix_dgram_close(a);
    corio_unix_dgram_close(b);

    char ps[108], po[108];
    tmp_path(ps, sizeof ps, "dgs");
    tmp_path(po, sizeof po, "dgo");
    corio_unix_dgram *srv, *cli, *other;
    CHECK_EQ(corio_unix_dgram_bind(ps, &srv), 0);
    CHECK_EQ(corio_unix_dgram_bind(po, &other), 0);
    CHECK_EQ(corio_unix_dgram_unbound(&cli), 0);
    corio_unix_addr peer;
    CHECK_EQ(corio_unix_dgram_peer_addr(cli, &peer), -ENOTCONN);
    CHECK_EQ(corio_unix_dgram_send(cli, "x", 1), -ENOTCONN);
    CHECK_EQ(corio_unix_dgram_connect(cli, ps), 0);
    CHECK_EQ(corio_unix_dgram_peer_addr(cli, &peer), 0);
    CHECK(strcmp(peer.path, ps) == 0);
    corio_unix_dgram_send_fut sf;
    corio_unix_dgram_send_fut_init(&sf, cli, "hello", 5);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, 5);
    CHECK_EQ(corio_unix_dgram_recv(srv, buf, sizeof buf), 5);
    /* srv connected to other: only other's datagrams reach it, and others
     * may not send to it at all */
    CHECK_EQ(corio_unix_dgram_connect(srv, po), 0);
    CHECK_EQ(corio_unix_dgram_send(cli, "no", 2), -EPERM);
    CHECK_EQ(corio_unix_dgram_send_to(other, "yes", 3, ps), 3);
    CHECK_EQ(corio_unix_dgram_recv_from(srv, buf, sizeof buf, &from), 3);
    CHECK(strcmp(from.path, po) == 0);
    /* the connected peer goes: a refused send, then not connected */
    CHECK_EQ(corio_unix_dgram_close(other), 0);
    CHECK_EQ(corio_unix_dgram_send(srv, "gone", 4), -ECONNREFUSED);
    CHECK_EQ(corio_unix_dgram_send(srv, "gone", 4), -ENOTCONN);
    corio_unix_dgram_close(srv);
    corio_unix_dgram_close(cli);
    unlink(ps);
    unlink(po);
    return 0;
}

TEST(net_unix_dgram_pairs_and_connected_sockets)
{
    run_both(dgram_connect_main, NULL);
}

static int dgram_errors_main(void *arg)
{
    (void)arg;
    corio_unix_dgram *d = (corio_unix_dgram *)1, *e = (corio_unix_dgram *)1;
    char path[200];
    CHECK_EQ(corio_unix_dgram_bind(NULL, &d), -EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(corio_unix_dgram_bind("", &d), -EINVAL);
    CHECK_EQ(corio_unix_dgram_bind("@", &d), -EINVAL);
    CHECK_EQ(corio_unix_dgram_bind("/tmp/x", NULL), -EINVAL);
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[CORIO_UNIX_PATH_MAX + 1] = 0;
    CHECK_EQ(corio_unix_dgram_bind(path, &d), -ENAMETOOLONG);
    path[CORIO_UNIX_PATH_MAX] = 0; /* the longest that fits (no such file) */
    CHECK_EQ(corio_unix_dgram_bind("/nonexistent-dir-corio/x.dgram", &d), -ENOENT);
    CHECK_EQ(corio_unix_dgram_unbound(NULL), -EINVAL);
    CHECK_EQ(corio_unix_dgram_pair(&d, NULL), -EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(corio_unix_dgram_pair(&d, &e), 0);
    char buf[8];
    CHECK_EQ(corio_unix_dgram_send_to(NULL, "x", 1, "/tmp/x"), -EINVAL);
    CHECK_EQ(corio_unix_dgram_send_to(d, "x", 1, NULL), -EINVAL);
    CHECK_EQ(corio_unix_dgram_send_to(d, "x", 1, ""), -EINVAL);
    CHECK_EQ(corio_unix_dgram_send_to(d, "x", 1, path), -ENOENT);
    CHECK_EQ(corio_unix_dgram_send_to(d, NULL, 1, "/tmp/x"), -EINVAL);
    CHECK_EQ(corio_unix_dgram_send(NULL, "x", 1), -EINVAL);
    CHECK_EQ(corio_unix_dgram_recv(NULL, buf, 1), -EINVAL);
    CHECK_EQ(corio_unix_dgram_recv(d, NULL, 1), -EINVAL);
    CHECK_EQ(corio_unix_dgram_connect(NULL, "/tmp/x"), -EINVAL);
    CHECK_EQ(corio_unix_dgram_connect(d, "@"), -EINVAL);
    CHECK_EQ(corio_unix_dgram_local_addr(NULL, NULL), -EINVAL);
    CHECK_EQ(corio_unix_dgram_shutdown(NULL, SHUT_RD), -EINVAL);
    CHECK(corio_unix_dgram_as_fd(NULL) == NULL);
    CHECK_EQ(corio_unix_dgram_close(NULL), 0);
    /* a bad destination in a future is its result */
    corio_unix_dgram_send_fut sf;
    corio_unix_dgram_send_to_fut_init(&sf, d, "x", 1, "@");
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, -EINVAL);
    memset(path, 'b', sizeof path);
    path[sizeof path - 1] = 0;
    corio_unix_dgram_send_to_fut_init(&sf, d, "x", 1, path);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, -ENAMETOOLONG);
    /* larger than the send buffer */
    size_t big = 4u << 20;
    char *p = calloc(1, big);
    CHECK_EQ(corio_unix_dgram_send(d, p, big), -EMSGSIZE);
    free(p);
    /* a stream socket bound at the path */
    tmp_path(path, sizeof path, "dgstream");
    corio_unix_listener *l;
    CHECK_EQ(corio_unix_listen(path, 4, &l), 0);
    CHECK_EQ(corio_unix_dgram_connect(d, path), -EPROTOTYPE);
    corio_unix_listener_close(l);
    unlink(path);
    corio_unix_dgram_close(d);
    corio_unix_dgram_close(e);
    return 0;
}

static void *dgram_plain_thread(void *arg)
{
    corio_unix_dgram *d = arg;
    char b;
    CHECK_EQ(corio_unix_dgram_recv(d, &b, 1), CORIO_EWRONGCTX);
    CHECK_EQ(corio_unix_dgram_send(d, "x", 1), CORIO_EWRONGCTX);
    corio_unix_dgram *e;
    CHECK_EQ(corio_unix_dgram_unbound(&e), CORIO_EWRONGCTX);
    return NULL;
}

static int dgram_plain_main(void *arg)
{
    (void)arg;
    corio_unix_dgram *a, *b;
    CHECK_EQ(corio_unix_dgram_pair(&a, &b), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, dgram_plain_thread, a), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    corio_unix_dgram_close(a);
    corio_unix_dgram_close(b);
    return 0;
}

TEST(net_unix_dgram_errors_null_and_plain_code)
{
    run_both(dgram_errors_main, NULL);
    CHECK_EQ(run_main(dgram_plain_main, NULL), 0);
}

/* Cancelled and timed-out receives take nothing; a send to a full queue
 * waits, can be interrupted having sent nothing, and goes once there is
 * room - connected (woken by the kernel) and not (the retry timer). */
static int dgram_pending_recv(void *arg)
{
    char b[8];
    return (int)corio_unix_dgram_recv(arg, b, sizeof b);
}

typedef struct dg_sender {
    corio_unix_dgram *d;
    const char *to; /* NULL: connected */
    int n;
} dg_sender;

static int dgram_send_n(void *arg)
{
    dg_sender *s = arg;
    for (int i = 0; i < s->n; i++) {
        ssize_t r = s->to ? corio_unix_dgram_send_to(s->d, &i, sizeof i, s->to)
                          : corio_unix_dgram_send(s->d, &i, sizeof i);
        if (r < 0)
            return (int)r;
        CHECK_EQ(r, sizeof i);
    }
    return 0;
}

/* Fill `to`'s queue from `from` (send_to `path`, or connected): the count. */
static int dgram_fill(corio_unix_dgram *from, const char *path)
{
    int n = 0;
    for (;;) {
        corio_unix_dgram_send_fut sf;
        if (path)
            corio_unix_dgram_send_to_fut_init(&sf, from, &n, sizeof n, path);
        else
            corio_unix_dgram_send_fut_init(&sf, from, &n, sizeof n);
        int rc = corio_timeout(&sf.base, CORIO_MSEC(20));
        if (rc == CORIO_ETIMEDOUT)
            return n; /* interrupted: nothing was sent */
        CHECK_EQ(rc, 0);
        CHECK_EQ(sf.base.result, sizeof n);
        n++;
    }
}

static void dgram_drain_expect(corio_unix_dgram *d, int first, int count)
{
    for (int i = 0; i < count; i++) {
        int v = -1;
        CHECK_EQ(corio_unix_dgram_recv(d, &v, sizeof v), sizeof v);
        CHECK_EQ(v, first + i);
    }
}

static int dgram_cancel_main(void *arg)
{
    (void)arg;
    int fds0 = count_fds();
    char path[108];
    tmp_path(path, sizeof path, "dgcancel");
    corio_unix_dgram *r, *s, *a, *b;
    CHECK_EQ(corio_unix_dgram_bind(path, &r), 0);
    CHECK_EQ(corio_unix_dgram_unbound(&s), 0);
    /* receive: aborted, under a timeout, under a deadline scope */
    corio_task *t;
    CHECK_EQ(corio_spawn(dgram_pending_recv, r, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    int res;
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    char b8[8];
    corio_unix_dgram_recv_fut rf;
    corio_unix_dgram_recv_fut_init(&rf, r, b8, sizeof b8);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    res = 1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(10), dgram_pending_recv, r, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_unix_dgram_send_to(s, "Z", 1, path), 1);
    CHECK_EQ(corio_unix_dgram_recv(r, b8, sizeof b8), 1); /* nobody took it */
    CHECK_EQ(b8[0], 'Z');
    /* unconnected sender, full queue: the last send timed out sending
     * nothing; a sender task waits and finishes once the queue drains */
    int n = dgram_fill(s, path);
    CHECK(n >= 1);
    dg_sender ds = {s, path, 3};
    CHECK_EQ(corio_spawn(dgram_send_n, &ds, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(t));
    dgram_drain_expect(r, 0, n);
    CHECK_EQ(join_rc(t), 0);
    dgram_drain_expect(r, 0, 3);
    /* connected, full queue: the same, woken by the kernel */
    CHECK_EQ(corio_unix_dgram_pair(&a, &b), 0);
    n = dgram_fill(a, NULL);
    CHECK(n >= 1);
    dg_sender dc = {a, NULL, 3};
    CHECK_EQ(corio_spawn(dgram_send_n, &dc, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(t));
    dgram_drain_expect(b, 0, n);
    CHECK_EQ(join_rc(t), 0);
    dgram_drain_expect(b, 0, 3);
    /* a sender waiting on a full queue, aborted: nothing sent, no timer left */
    n = dgram_fill(s, path);
    CHECK_EQ(corio_spawn(dgram_send_n, &ds, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    dgram_drain_expect(r, 0, n);
    corio_unix_dgram_recv_fut_init(&rf, r, b8, sizeof b8);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    /* shutdown(SHUT_RD) wakes a waiting receiver with 0 */
    CHECK_EQ(corio_spawn(dgram_pending_recv, b, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    CHECK_EQ(corio_unix_dgram_shutdown(b, SHUT_RD), 0);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(corio_unix_dgram_shutdown(a, SHUT_WR), 0);
    CHECK_EQ(corio_unix_dgram_send(a, "x", 1), -EPIPE);
    corio_unix_dgram_close(a);
    corio_unix_dgram_close(b);
    corio_unix_dgram_close(r);
    corio_unix_dgram_close(s);
    unlink(path);
    settle();
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

TEST(net_unix_dgram_cancelled_timed_out_and_full_queues)
{
    run_both(dgram_cancel_main, NULL);
}

/* Many tasks on one socket each way, on the multi-thread runtime: every
 * datagram arrives once, whole; some receivers are cancelled meanwhile and
 * lose nothing. */
typedef struct dg_storm {
    char path[108];
    corio_unix_dgram *srv;
    int senders, per;
    atomic_int got;
    atomic_llong sum;
} dg_storm;

static int dg_storm_sender(void *arg)
{
    dg_storm *s = arg;
    corio_unix_dgram *d;
    CHECK_EQ(corio_unix_dgram_unbound(&d), 0);
    for (int i = 0; i < s->per; i++) {
        int64_t v[4] = {i, i + 1, i + 2, i + 3};
        CHECK_EQ(corio_unix_dgram_send_to(d, v, sizeof v, s->path), sizeof v);
        if (i % 5 == 0)
            corio_yield();
    }
    corio_unix_dgram_close(d);
    return 0;
}

static int dg_storm_receiver(void *arg)
{
    dg_storm *s = arg;
    for (;;) {
        int64_t v[4];
        ssize_t n = corio_unix_dgram_recv(s->srv, v, sizeof v);
        if (n < 0)
            return n == CORIO_ECANCELED ? 0 : (int)n;
        CHECK_EQ(n, sizeof v);
        CHECK(v[1] == v[0] + 1 && v[3] == v[0] + 3);
        atomic_fetch_add(&s->sum, v[0]);
        atomic_fetch_add(&s->got, 1);
    }
}

static int dg_storm_main(void *arg)
{
    dg_storm *s = arg;
    tmp_path(s->path, sizeof s->path, "dgstorm");
    CHECK_EQ(corio_unix_dgram_bind(s->path, &s->srv), 0);
    enum { NR = 8 };
    corio_task *rx[NR], **tx = calloc((size_t)s->senders, sizeof *tx);
    for (int i = 0; i < NR; i++)
        CHECK_EQ(corio_spawn(dg_storm_receiver, s, &rx[i]), 0);
    for (int i = 0; i < s->senders; i++)
        CHECK_EQ(corio_spawn(dg_storm_sender, s, &tx[i]), 0);
    for (int i = 0; i < NR / 2; i++) { /* half the receivers go early */
        corio_sleep(CORIO_MSEC(1));
        corio_task_abort(rx[i]);
    }
    for (int i = 0; i < s->senders; i++)
        CHECK_EQ(join_rc(tx[i]), 0);
    int total = s->senders * s->per;
    double t0 = mono_ms();
    while (atomic_load(&s->got) < total) {
        corio_sleep(CORIO_MSEC(1));
        CHECK(mono_ms() - t0 < 20000);
    }
    CHECK_EQ(atomic_load(&s->got), total);
    CHECK_EQ(atomic_load(&s->sum), (long long)s->senders * s->per * (s->per - 1) / 2);
    for (int i = 0; i < NR; i++) {
        corio_task_abort(rx[i]);
        CHECK_EQ(join_rc(rx[i]), 0);
    }
    free(tx);
    corio_unix_dgram_close(s->srv);
    unlink(s->path);
    return 0;
}

TEST(net_unix_dgram_stress_many_senders_and_receivers)
{
    int fds0 = count_fds();
    dg_storm s = {.senders = SCALE(64, 32, 16), .per = SCALE(400, 200, 100)};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, dg_storm_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(count_fds(), fds0);
}
