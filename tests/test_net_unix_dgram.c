/* tests/test_net_unix_dgram.c - Unix-domain datagram sockets (split from
 * tests/test_net_unix.c by behaviour; the helpers it shares with it are in
 * tests/util_net.c). */
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

/* ==== datagram sockets ============================================================= */

/* Bound, abstract and unbound sockets: datagrams with their senders'
 * addresses, answered by those addresses; boundaries kept; files left. */
static int dgram_main(void *arg)
{
    (void)arg;
    char pa[108], pb[64];
    net_tmp_path(pa, sizeof pa, "dga");
    snprintf(pb, sizeof pb, "@corio-test-%d-dgb-%d", (int)getpid(), rand());
    corio_unix_dgram *a, *b, *c;
    CHECK_EQ(corio_unix_dgram_bind(pa, &a), 0);
    CHECK(net_exists(pa));
    CHECK_EQ(corio_unix_dgram_bind(pb, &b), 0);
    CHECK(!net_exists(pb + 1));
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
    CHECK(net_exists(pa));
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
    net_run_both(dgram_main, NULL);
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
    net_tmp_path(ps, sizeof ps, "dgs");
    net_tmp_path(po, sizeof po, "dgo");
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
    net_run_both(dgram_connect_main, NULL);
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
    net_tmp_path(path, sizeof path, "dgstream");
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
    net_run_both(dgram_errors_main, NULL);
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
    net_tmp_path(path, sizeof path, "dgcancel");
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
    net_run_both(dgram_cancel_main, NULL);
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
    net_tmp_path(s->path, sizeof s->path, "dgstorm");
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

/* Abstract names live in one namespace per socket type (the kernel hashes
 * the type in): a stream listener and a datagram socket may hold the same
 * "@name", and a connect of the other type finds nobody there
 * (-ECONNREFUSED, not the -EPROTOTYPE a file system path gives). And a
 * sender bound by another program to a path of the full 108 bytes (no
 * NUL) comes back as those 108 bytes, which corio cannot send to. */
static int dgram_types_main(void *arg)
{
    (void)arg;
    char nm[64], p[108];
    snprintf(nm, sizeof nm, "@corio-test-%d-types-%d", (int)getpid(), rand());
    net_tmp_path(p, sizeof p, "dgtypes");
    corio_unix_listener *l;
    corio_unix_dgram *d, *u;
    corio_unix *c;
    CHECK_EQ(corio_unix_listen(nm, 0, &l), 0);
    CHECK_EQ(corio_unix_dgram_unbound(&u), 0);
    CHECK_EQ(corio_unix_dgram_connect(u, nm), -ECONNREFUSED);
    CHECK_EQ(corio_unix_dgram_send_to(u, "x", 1, nm), -ECONNREFUSED);
    CHECK_EQ(corio_unix_dgram_bind(nm, &d), 0); /* the same name, the other type */
    CHECK_EQ(corio_unix_dgram_send_to(u, "x", 1, nm), 1);
    char buf[8];
    CHECK_EQ(corio_unix_dgram_recv(d, buf, sizeof buf), 1);
    CHECK_EQ(corio_unix_listener_close(l), 0);
    CHECK_EQ(corio_unix_connect(nm, &c), -ECONNREFUSED); /* only a datagram socket left */
    CHECK_EQ(corio_unix_dgram_close(d), 0);
    /* a file system path tells the types apart: -EPROTOTYPE both ways */
    CHECK_EQ(corio_unix_listen(p, 0, &l), 0);
    CHECK_EQ(corio_unix_dgram_connect(u, p), -EPROTOTYPE);
    CHECK_EQ(corio_unix_dgram_send_to(u, "x", 1, p), -EPROTOTYPE);
    CHECK_EQ(corio_unix_listener_close(l), 0);
    CHECK_EQ(unlink(p), 0);
    CHECK_EQ(corio_unix_dgram_bind(p, &d), 0);
    CHECK_EQ(corio_unix_connect(p, &c), -EPROTOTYPE);
    /* a foreign sender at a 108-byte path */
    char longp[109];
    int k = snprintf(longp, sizeof longp, "/tmp/corio-test-%d-", (int)getpid());
    memset(longp + k, 'L', sizeof longp - 1 - (size_t)k);
    longp[108] = '\0';
    unlink(longp);
    int raw = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(raw >= 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    memcpy(su.sun_path, longp, sizeof su.sun_path); /* all 108, no NUL */
    CHECK_EQ(bind(raw, (struct sockaddr *)&su, sizeof su), 0);
    struct sockaddr_un to = {.sun_family = AF_UNIX};
    memcpy(to.sun_path, p, strlen(p) + 1);
    CHECK_EQ(sendto(raw, "y", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    corio_unix_addr from;
    CHECK_EQ(corio_unix_dgram_recv_from(d, buf, sizeof buf, &from), 1);
    CHECK_EQ(strlen(from.path), 108);
    CHECK(strcmp(from.path, longp) == 0);
    CHECK_EQ(corio_unix_dgram_send_to(d, "z", 1, from.path), -ENAMETOOLONG);
    close(raw);
    unlink(longp);
    CHECK_EQ(corio_unix_dgram_close(d), 0);
    CHECK_EQ(corio_unix_dgram_close(u), 0);
    unlink(p);
    return 0;
}

TEST(net_unix_dgram_abstract_names_per_type_and_foreign_long_paths)
{
    net_run_both(dgram_types_main, NULL);
}
