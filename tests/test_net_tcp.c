/* Tests of corio/tcp.h: listeners and streams, their errors, cancellation
 * and deadlines, and many connections at once. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "util_net.h"

/* ---- a connection, both ends ---------------------------------------------------- */

static int echo_once(void *arg)
{
    corio_tcp *c = arg;
    char buf[256];
    ssize_t n;
    while ((n = corio_tcp_read(c, buf, sizeof buf)) > 0)
        CHECK_EQ(corio_tcp_write_all(c, buf, (size_t)n), 0);
    CHECK_EQ(n, 0);
    corio_tcp_close(c);
    return 0;
}

static int accept_one_and_echo(void *arg)
{
    corio_tcp_listener *l = arg;
    corio_tcp *c;
    CHECK_EQ(corio_tcp_accept(l, &c), 0);
    return echo_once(c);
}

static int round_trip_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_tcp *c;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    /* addresses: our peer is the listener's address, and its peer is us */
    corio_addr peer, local, laddr;
    CHECK_EQ(corio_tcp_peer_addr(c, &peer), 0);
    CHECK_EQ(corio_tcp_local_addr(c, &local), 0);
    CHECK_EQ(corio_tcp_listener_local_addr(l, &laddr), 0);
    CHECK_EQ(corio_addr_port(&peer), corio_addr_port(&laddr));
    CHECK(corio_addr_port(&local) != 0);
    for (int i = 0; i < 100; i++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof msg, "message %d", i);
        CHECK_EQ(corio_tcp_write(c, msg, (size_t)len), len);
        CHECK_EQ(corio_tcp_read_exact(c, back, (size_t)len), 0);
        CHECK(memcmp(msg, back, (size_t)len) == 0);
    }
    /* readv / writev */
    struct iovec out[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    CHECK_EQ(corio_tcp_writev(c, out, 3), 6);
    char x[2], y[4];
    struct iovec in[2] = {{x, 2}, {y, 4}};
    ssize_t got = 0;
    while (got < 6) {
        ssize_t n = corio_tcp_readv(c, in, 2);
        CHECK(n > 0);
        got += n;
        if (got < 6) { /* a short read: the rest goes after it */
            CHECK(got >= 2);
            in[0].iov_len = 0;
            in[1].iov_base = y + (got - 2);
            in[1].iov_len = (size_t)(6 - got);
        }
    }
    CHECK(memcmp(x, "ab", 2) == 0 && memcmp(y, "cdef", 4) == 0);
    /* half close: the server sees EOF, ends, and closes: we see EOF */
    CHECK_EQ(corio_tcp_shutdown(c, SHUT_WR), 0);
    char b;
    CHECK_EQ(corio_tcp_read(c, &b, 1), 0);
    CHECK_EQ(corio_tcp_read_exact(c, &b, 1), CORIO_EEOF);
    CHECK_EQ(join_rc(srv), 0);
    CHECK_EQ(corio_tcp_close(c), 0);
    CHECK_EQ(corio_tcp_listener_close(l), 0);
    return 0;
}

TEST(net_tcp_round_trip_addresses_half_close)
{
    net_run_both(round_trip_main, NULL);
}

/* IPv6 loopback, when the machine has it. */
static int v6_main(void *arg)
{
    (void)arg;
    corio_tcp_listener *l;
    int rc = corio_tcp_listen("[::1]:0", 16, &l);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)
        return 0; /* no IPv6 here */
    CHECK_EQ(rc, 0);
    corio_addr a;
    CHECK_EQ(corio_tcp_listener_local_addr(l, &a), 0);
    CHECK_EQ(a.sa.ss_family, AF_INET6);
    char addr[CORIO_ADDR_STRLEN];
    CHECK(corio_addr_format(&a, addr, sizeof addr) > 0);
    CHECK(strncmp(addr, "[::1]:", 6) == 0);
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_tcp *c;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    CHECK_EQ(corio_tcp_write_all(c, "v6", 2), 0);
    char b[2];
    CHECK_EQ(corio_tcp_read_exact(c, b, 2), 0);
    corio_tcp_close(c);
    CHECK_EQ(join_rc(srv), 0);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_ipv6_loopback)
{
    net_run_both(v6_main, NULL);
}

/* A host name: every address of "localhost" is tried; one of them is ours. */
static int by_name_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    char name[64];
    corio_addr la;
    CHECK_EQ(corio_tcp_listener_local_addr(l, &la), 0);
    snprintf(name, sizeof name, "localhost:%u", corio_addr_port(&la));
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_tcp *c;
    CHECK_EQ(corio_tcp_connect(name, &c), 0);
    CHECK_EQ(corio_tcp_write_all(c, "hi", 2), 0);
    char b[2];
    CHECK_EQ(corio_tcp_read_exact(c, b, 2), 0);
    corio_tcp_close(c);
    CHECK_EQ(join_rc(srv), 0);
    corio_tcp_listener_close(l);
    /* and a listener on a name */
    CHECK_EQ(corio_tcp_listen("localhost:0", 8, &l), 0);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_connect_and_listen_by_host_name)
{
    net_run_both(by_name_main, NULL);
}

/* ---- errors ------------------------------------------------------------------------- */

static int errors_main(void *arg)
{
    (void)arg;
    corio_tcp *c = (corio_tcp *)1;
    corio_tcp_listener *l = (corio_tcp_listener *)1;
    /* a port nobody listens on: take one and close it */
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *tmp = net_listen_any(addr);
    corio_tcp_listener_close(tmp);
    CHECK_EQ(corio_tcp_connect(addr, &c), -ECONNREFUSED);
    CHECK(c == NULL);
    /* bad strings, unknown hosts */
    CHECK_EQ(corio_tcp_connect("127.0.0.1", &c), -EINVAL);
    CHECK_EQ(corio_tcp_connect("[::1]80", &c), -EINVAL);
    int rc = corio_tcp_connect("no-such-host.invalid:80", &c);
    CHECK(rc == CORIO_ENOHOST || rc == -EAGAIN);
    rc = corio_tcp_listen("1.2.3.4.5:80", 8, &l); /* not an address: a name */
    CHECK(rc == CORIO_ENOHOST || rc == -EAGAIN);
    CHECK(l == NULL);
    CHECK_EQ(corio_tcp_listen("127.0.0.1:99999", 8, &l), -EINVAL);
    /* an address that is not ours */
    CHECK_EQ(corio_tcp_listen("192.0.2.1:0", 8, &l), -EADDRNOTAVAIL);
    /* a port in use (without SO_REUSEPORT) */
    tmp = net_listen_any(addr);
    CHECK_EQ(corio_tcp_listen(addr, 8, &l), -EADDRINUSE);
    corio_tcp_listener_close(tmp);
    /* NULL answers */
    CHECK_EQ(corio_tcp_listen(NULL, 8, &l), -EINVAL);
    CHECK_EQ(corio_tcp_listen("127.0.0.1:0", 8, NULL), -EINVAL);
    CHECK_EQ(corio_tcp_listen_with(NULL, NULL, &l), -EINVAL);
    CHECK(l == NULL);
    CHECK_EQ(corio_tcp_listen_with("127.0.0.1:0", NULL, &l), 0); /* NULL opts: the defaults */
    corio_tcp_listener_close(l);
    CHECK_EQ(corio_tcp_accept(NULL, &c), -EINVAL);
    CHECK_EQ(corio_tcp_connect(NULL, &c), -EINVAL);
    CHECK_EQ(corio_tcp_connect_addr(NULL, &c), -EINVAL);
    char b;
    CHECK_EQ(corio_tcp_read(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_tcp_write(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_tcp_readv(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(corio_tcp_writev(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(corio_tcp_read_exact(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_tcp_write_all(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_tcp_shutdown(NULL, SHUT_WR), -EINVAL);
    corio_addr a;
    CHECK_EQ(corio_tcp_local_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_tcp_peer_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_tcp_listener_local_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_tcp_set_nodelay(NULL, true), -EINVAL);
    CHECK_EQ(corio_tcp_set_keepalive(NULL, true, 5), -EINVAL);
    CHECK(corio_tcp_as_fd(NULL) == NULL);
    CHECK_EQ(corio_tcp_close(NULL), 0);
    CHECK_EQ(corio_tcp_listener_close(NULL), 0);
    return 0;
}

TEST(net_tcp_errors_refused_bad_addresses_in_use_and_null)
{
    CHECK_EQ(run_main(errors_main, NULL), 0);
    /* No runtime: plain code. */
    corio_tcp_listener *l;
    CHECK_EQ(corio_tcp_listen("127.0.0.1:0", 8, &l), CORIO_EWRONGCTX);
}

/* Socket options land on the socket. */
static int options_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_task *srv;
    CHECK_EQ(corio_spawn(accept_one_and_echo, l, &srv), 0);
    corio_tcp *c;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    int fd = corio_fd_raw(corio_tcp_as_fd(c)), v = 0;
    socklen_t len = sizeof v;
    CHECK_EQ(corio_tcp_set_nodelay(c, true), 0);
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    CHECK(v);
    CHECK_EQ(corio_tcp_set_keepalive(c, true, CORIO_MSEC(6500)), 0); /* rounded up */
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
    CHECK(v);
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 7);
    /* "Forever" is capped at the kernel's 32767 s (idle + 1 s once
     * overflowed: undefined, and a negative idle time the kernel refused). */
    CHECK_EQ(corio_tcp_set_keepalive(c, true, INT64_MAX), 0);
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 32767);
    CHECK_EQ(corio_tcp_set_keepalive(c, true, CORIO_SEC(1) + 1), 0);
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 2);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    corio_tcp_close(c);
    CHECK_EQ(join_rc(srv), 0);
    /* SO_REUSEPORT: two listeners on one port */
    corio_tcp_listen_opts o = {.backlog = 8, .reuseport = true};
    corio_tcp_listener *a, *b;
    CHECK_EQ(corio_tcp_listen_with("127.0.0.1:0", &o, &a), 0);
    corio_addr la;
    CHECK_EQ(corio_tcp_listener_local_addr(a, &la), 0);
    CHECK(corio_addr_format(&la, addr, sizeof addr) > 0);
    CHECK_EQ(corio_tcp_listen_with(addr, &o, &b), 0);
    corio_tcp_listener_close(a);
    corio_tcp_listener_close(b);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_socket_options)
{
    CHECK_EQ(run_main(options_main, NULL), 0);
}

/* A peer that goes away: reads see EOF or a reset, writes fail with EPIPE or
 * ECONNRESET - and SIGPIPE, left at its default, does not kill us. */
static int writer_to_vanishing_peer(void *arg)
{
    corio_tcp_listener *l = arg;
    corio_tcp *c;
    CHECK_EQ(corio_tcp_accept(l, &c), 0);
    static char chunk[65536];
    int rc;
    for (;;) {
        rc = corio_tcp_write_all(c, chunk, sizeof chunk);
        if (rc < 0)
            break;
    }
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    corio_tcp_close(c);
    return 0;
}

static int vanish_main(void *arg)
{
    (void)arg;
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_task *srv;
    CHECK_EQ(corio_spawn(writer_to_vanishing_peer, l, &srv), 0);
    corio_tcp *c;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    char buf[1000];
    CHECK(corio_tcp_read(c, buf, sizeof buf) > 0); /* mid-stream */
    corio_tcp_close(c);                           /* unread data: a reset */
    CHECK_EQ(join_rc(srv), 0);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_peer_vanishing_mid_write_is_an_error_not_sigpipe)
{
    net_run_both(vanish_main, NULL);
}

/* A large transfer both ways at once (each side writes while reading). */
typedef struct bulk_side {
    corio_tcp *c;
    size_t len;
    uint64_t sent_sum, got_sum;
    size_t got;
} bulk_side;

static int bulk_writer(void *arg)
{
    bulk_side *s = arg;
    unsigned char *d = malloc(s->len);
    for (size_t i = 0; i < s->len; i++)
        s->sent_sum += d[i] = (unsigned char)(i * 31 + (i >> 10));
    corio_tcp_exact_fut f;
    corio_tcp_write_all_fut_init(&f, s->c, d, s->len);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(f.done, s->len);
    CHECK_EQ(corio_tcp_shutdown(s->c, SHUT_WR), 0);
    free(d);
    return 0;
}

static int bulk_reader(void *arg)
{
    bulk_side *s = arg;
    unsigned char buf[8192];
    ssize_t n;
    while ((n = corio_tcp_read(s->c, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            s->got_sum += buf[i];
        s->got += (size_t)n;
    }
    CHECK_EQ(n, 0);
    return 0;
}

static int bulk_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_tcp_accept_fut af;
    corio_tcp_accept_fut_init(&af, l);
    corio_tcp_connect_fut cf;
    corio_addr a;
    CHECK_EQ(corio_addr_parse(addr, &a), 0);
    corio_tcp_connect_fut_init(&cf, &a);
    CHECK_EQ(corio_await(&cf.base), 0); /* the backlog takes it */
    CHECK_EQ(cf.base.result, 0);
    CHECK_EQ(corio_await(&af.base), 0);
    CHECK_EQ(af.base.result, 0);
    size_t len = SCALE(16u << 20, 4u << 20, 2u << 20);
    bulk_side x = {cf.stream, len, 0, 0, 0}, y = {af.stream, len, 0, 0, 0};
    corio_task *t[4];
    CHECK_EQ(corio_spawn(bulk_writer, &x, &t[0]), 0);
    CHECK_EQ(corio_spawn(bulk_reader, &x, &t[1]), 0);
    CHECK_EQ(corio_spawn(bulk_writer, &y, &t[2]), 0);
    CHECK_EQ(corio_spawn(bulk_reader, &y, &t[3]), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    CHECK_EQ(x.got, len);
    CHECK_EQ(y.got, len);
    CHECK(x.got_sum == y.sent_sum && y.got_sum == x.sent_sum);
    corio_tcp_close(x.c);
    corio_tcp_close(y.c);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_bulk_both_ways_at_once_loses_nothing)
{
    net_run_both(bulk_main, NULL);
}

/* A connection served by a stackless task, the way a server that counts
 * bytes per idle connection writes it (docs/net.md, "Memory per
 * connection"): wait for readability with the readiness API, read with the
 * raw fd until EAGAIN, clear the readiness the wait saw, and write back
 * what was read with the write_all future; at EOF, shut the write half. */
typedef struct sl_conn {
    corio_future base;
    corio_tcp *c;
    bool writing;
    corio_fd_wait_fut wait;
    corio_tcp_exact_fut wr;
    char buf[2048];
} sl_conn;

static corio_poll sl_conn_poll(corio_future *base, corio_context *cx)
{
    sl_conn *k = (sl_conn *)base;
    corio_fd *fd = corio_tcp_as_fd(k->c);
    for (;;) {
        if (k->writing) {
            if (corio_future_poll(&k->wr.base, cx) == CORIO_PENDING)
                return CORIO_PENDING;
            k->writing = false;
            CHECK_EQ(k->wr.base.result, 0);
            corio_fd_wait_fut_init(&k->wait, fd, CORIO_READABLE);
        }
        if (corio_future_poll(&k->wait.base, cx) == CORIO_PENDING)
            return CORIO_PENDING;
        CHECK_EQ(k->wait.base.result, 0);
        ssize_t n = recv(corio_fd_raw(fd), k->buf, sizeof k->buf, MSG_DONTWAIT);
        if (n < 0) {
            CHECK_EQ(errno, EAGAIN);
            corio_fd_clear_ready(fd, &k->wait.ready, CORIO_READABLE);
            corio_fd_wait_fut_init(&k->wait, fd, CORIO_READABLE);
            continue;
        }
        if (n == 0) {
            CHECK_EQ(corio_tcp_shutdown(k->c, SHUT_WR), 0);
            corio_tcp_close(k->c);
            base->result = 0;
            return CORIO_READY;
        }
        corio_tcp_write_all_fut_init(&k->wr, k->c, k->buf, (size_t)n);
        k->writing = true;
    }
}

static const corio_future_vtable sl_conn_vt = {sl_conn_poll, NULL};

static int sl_main(void *arg)
{
    (void)arg;
    enum { CONNS = 6 };
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    size_t len = SCALE(4u << 20, 1u << 20, 512u << 10);
    bulk_side cl[CONNS];
    corio_task *srv[CONNS], *t[2 * CONNS];
    for (int i = 0; i < CONNS; i++) {
        cl[i] = (bulk_side){NULL, len, 0, 0, 0};
        CHECK_EQ(corio_tcp_connect(addr, &cl[i].c), 0);
        sl_conn k = {.writing = false};
        CHECK_EQ(corio_tcp_accept(l, &k.c), 0);
        corio_future_init(&k.base, &sl_conn_vt);
        corio_fd_wait_fut_init(&k.wait, corio_tcp_as_fd(k.c), CORIO_READABLE);
        CHECK_EQ(corio_spawn_future(&k.base, sizeof k, &srv[i]), 0);
        CHECK_EQ(corio_spawn(bulk_writer, &cl[i], &t[2 * i]), 0);
        CHECK_EQ(corio_spawn(bulk_reader, &cl[i], &t[2 * i + 1]), 0);
    }
    for (int i = 0; i < 2 * CONNS; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    for (int i = 0; i < CONNS; i++) {
        CHECK_EQ(join_rc(srv[i]), 0);
        CHECK_EQ(cl[i].got, len);
        CHECK(cl[i].got_sum == cl[i].sent_sum);
        corio_tcp_close(cl[i].c);
    }
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_stackless_connection_tasks_echo_through_the_readiness_api)
{
    net_run_both(sl_main, NULL);
}

static int shut_rd_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_tcp *c, *s;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    CHECK_EQ(corio_tcp_accept(l, &s), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(net_tcp_pending_reader, c, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(corio_tcp_shutdown(c, SHUT_RD), 0);
    CHECK_EQ(join_rc(t), 0);
    corio_tcp_close(c);
    corio_tcp_close(s);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_shutdown_read_wakes_a_pending_read)
{
    net_run_both(shut_rd_main, NULL);
}

/* A read of len 0, and a readv with no room, return 0 at once, as read(2)
 * of 0 bytes does. Before, on an idle stream they waited for data that
 * might never come (here: until the deadline). */
typedef struct zero_read {
    corio_tcp *c;
    int how; /* 0 read, 1 readv of nothing, 2 readv of empty buffers, 3 future */
    ssize_t n;
} zero_read;

static int read_nothing(void *arg)
{
    zero_read *z = arg;
    char b[1];
    struct iovec none[2] = {{b, 0}, {b, 0}};
    if (z->how == 0) {
        z->n = corio_tcp_read(z->c, b, 0);
    } else if (z->how == 1) {
        z->n = corio_tcp_readv(z->c, NULL, 0);
    } else if (z->how == 2) {
        z->n = corio_tcp_readv(z->c, none, 2);
    } else {
        corio_fd_io_fut f;
        corio_fd_read_fut_init(&f, corio_tcp_as_fd(z->c), b, 0);
        int rc = corio_await(&f.base);
        z->n = rc ? rc : f.base.result;
    }
    return 0;
}

static int zero_read_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_tcp *c, *s;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    CHECK_EQ(corio_tcp_accept(l, &s), 0);
    /* A short read drains the readiness: a read of a byte would now wait. */
    CHECK_EQ(corio_tcp_write_all(s, "x", 1), 0);
    char b[8];
    CHECK_EQ(corio_tcp_read(c, b, sizeof b), 1);
    for (int how = 0; how < 4; how++) {
        zero_read z = {c, how, 99};
        int res;
        CHECK_EQ(corio_timeout_call(CORIO_SEC(1), read_nothing, &z, &res), 0);
        CHECK_EQ(z.n, 0);
    }
    /* They consumed nothing, and the stream works on. */
    CHECK_EQ(corio_tcp_write_all(s, "yz", 2), 0);
    CHECK_EQ(corio_tcp_read_exact(c, b, 2), 0);
    CHECK(memcmp(b, "yz", 2) == 0);
    corio_tcp_close(c);
    corio_tcp_close(s);
    corio_tcp_listener_close(l);
    return 0;
}

TEST(net_tcp_zero_length_read_returns_at_once)
{
    net_run_both(zero_read_main, NULL);
}

/* Sockets that outlive their runtime: in a task of another runtime the
 * calls that wait for them return CORIO_ESHUTDOWN, in plain code
 * CORIO_EWRONGCTX; the calls that do not wait act on them as usual, and
 * closing works. */
typedef struct orphans {
    corio_tcp_listener *l;
    corio_tcp *c, *s;
} orphans;

static int make_orphans(void *arg)
{
    orphans *o = arg;
    char addr[CORIO_ADDR_STRLEN];
    o->l = net_listen_any(addr);
    CHECK_EQ(corio_tcp_connect(addr, &o->c), 0);
    CHECK_EQ(corio_tcp_accept(o->l, &o->s), 0);
    return 0;
}

static int use_orphans(void *arg)
{
    orphans *o = arg;
    corio_tcp *x;
    char b[4];
    struct iovec v = {b, sizeof b};
    CHECK_EQ(corio_tcp_accept(o->l, &x), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_read(o->s, b, sizeof b), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_readv(o->s, &v, 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_read_exact(o->s, b, sizeof b), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_write(o->c, "x", 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_write_all(o->c, "x", 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_tcp_read(o->s, b, 0), 0); /* waits for nothing */
    corio_addr la, pa;
    CHECK_EQ(corio_tcp_listener_local_addr(o->l, &la), 0);
    CHECK_EQ(corio_tcp_peer_addr(o->c, &pa), 0);
    CHECK_EQ(corio_addr_port(&la), corio_addr_port(&pa));
    CHECK_EQ(corio_tcp_local_addr(o->s, &la), 0);
    CHECK_EQ(corio_tcp_set_nodelay(o->c, true), 0);
    int fd = corio_fd_raw(corio_tcp_as_fd(o->c)), v1 = 0;
    socklen_t sl = sizeof v1;
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v1, &sl), 0);
    CHECK_EQ(v1, 1);
    CHECK_EQ(corio_tcp_shutdown(o->c, SHUT_WR), 0);
    /* The FIN went out: the peer's socket reads end of stream. */
    struct pollfd p = {corio_fd_raw(corio_tcp_as_fd(o->s)), POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 5000), 1);
    CHECK_EQ(recv(p.fd, b, sizeof b, 0), 0);
    return 0;
}

TEST(net_tcp_outliving_its_runtime_waiting_calls_shut_down_others_work)
{
    orphans o;
    CHECK_EQ(run_main(make_orphans, &o), 0); /* that runtime is freed */
    char b[4];
    CHECK_EQ(corio_tcp_read(o.s, b, sizeof b), CORIO_EWRONGCTX); /* plain code */
    CHECK_EQ(corio_tcp_write(o.c, "x", 1), CORIO_EWRONGCTX);
    CHECK_EQ(run_main(use_orphans, &o), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, use_orphans, &o, &rc), 0); /* and from a multi-thread one */
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(corio_tcp_close(o.c), 0);
    CHECK_EQ(corio_tcp_close(o.s), 0);
    CHECK_EQ(corio_tcp_listener_close(o.l), 0);
}
