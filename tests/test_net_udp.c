/* Tests of corio/udp.h: datagrams both ways, addresses, truncation,
 * connected and unconnected sockets, errors, cancellation and deadlines,
 * and many tasks at once. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/udp.h> /* until corio.h includes it */

#include "test.h"
#include "util.h"
#include "util_net.h"

/* A socket on 127.0.0.1 with a port of the kernel's choosing; *a gets its
 * address. */
static corio_udp *bind_any(corio_addr *a)
{
    corio_udp *u;
    CHECK_EQ(corio_udp_bind("127.0.0.1:0", &u), 0);
    CHECK_EQ(corio_udp_local_addr(u, a), 0);
    CHECK(corio_addr_port(a) != 0);
    return u;
}

static bool same_addr(const corio_addr *x, const corio_addr *y)
{
    char a[CORIO_ADDR_STRLEN], b[CORIO_ADDR_STRLEN];
    CHECK(corio_addr_format(x, a, sizeof a) > 0);
    CHECK(corio_addr_format(y, b, sizeof b) > 0);
    return strcmp(a, b) == 0;
}

/* ---- datagrams both ways -------------------------------------------------------------- */

/* Echoes `n` datagrams back to their senders. */
typedef struct echo_args {
    corio_udp *u;
    int n;
} echo_args;

static int echo_n(void *arg)
{
    echo_args *e = arg;
    char buf[2048];
    corio_addr from;
    for (int i = 0; i < e->n; i++) {
        ssize_t n = corio_udp_recv_from(e->u, buf, sizeof buf, &from);
        if (n < 0)
            return (int)n;
        CHECK_EQ(corio_udp_send_to(e->u, buf, (size_t)n, &from), n);
    }
    return 0;
}

static int round_trip_main(void *arg)
{
    (void)arg;
    corio_addr sa, ca;
    corio_udp *srv = bind_any(&sa), *cli = bind_any(&ca);
    echo_args e = {srv, 102};
    corio_task *t;
    CHECK_EQ(corio_spawn(echo_n, &e, &t), 0);
    /* unconnected: send_to, recv_from says who answered */
    for (int i = 0; i < 100; i++) {
        char msg[32], back[64];
        int len = snprintf(msg, sizeof msg, "datagram %d", i);
        CHECK_EQ(corio_udp_send_to(cli, msg, (size_t)len, &sa), len);
        corio_addr from;
        CHECK_EQ(corio_udp_recv_from(cli, back, sizeof back, &from), len);
        CHECK(memcmp(msg, back, (size_t)len) == 0);
        CHECK(same_addr(&from, &sa));
    }
    corio_addr peer;
    CHECK_EQ(corio_udp_peer_addr(cli, &peer), -ENOTCONN);
    CHECK_EQ(corio_udp_send(cli, "x", 1), -EDESTADDRREQ);
    /* connected: send and recv; the peer's address is the server's */
    char saddr[CORIO_ADDR_STRLEN];
    CHECK(corio_addr_format(&sa, saddr, sizeof saddr) > 0);
    CHECK_EQ(corio_udp_connect(cli, saddr), 0);
    CHECK_EQ(corio_udp_peer_addr(cli, &peer), 0);
    CHECK(same_addr(&peer, &sa));
    char b[8];
    CHECK_EQ(corio_udp_send(cli, "conn", 4), 4);
    CHECK_EQ(corio_udp_recv(cli, b, sizeof b), 4);
    CHECK(memcmp(b, "conn", 4) == 0);
    /* recv_from with from NULL, and send_to on a connected socket */
    CHECK_EQ(corio_udp_send_to(cli, "to", 2, &sa), 2);
    CHECK_EQ(corio_udp_recv_from(cli, b, sizeof b, NULL), 2);
    CHECK_EQ(join_rc(t), 0);
    /* the server saw the client's address as its local one */
    CHECK_EQ(corio_udp_close(cli), 0);
    CHECK_EQ(corio_udp_close(srv), 0);
    return 0;
}

TEST(net_udp_round_trip_addresses_connected_and_not)
{
    net_run_both(round_trip_main, NULL);
}

/* IPv6 loopback when the machine has it, and a name. */
static int v6_and_name_main(void *arg)
{
    (void)arg;
    corio_udp *a, *b;
    int rc = corio_udp_bind("[::1]:0", &a);
    if (rc != -EADDRNOTAVAIL && rc != -EAFNOSUPPORT) {
        CHECK_EQ(rc, 0);
        corio_addr aa;
        CHECK_EQ(corio_udp_local_addr(a, &aa), 0);
        CHECK_EQ(aa.sa.ss_family, AF_INET6);
        CHECK_EQ(corio_udp_bind("[::1]:0", &b), 0);
        CHECK_EQ(corio_udp_send_to(b, "v6", 2, &aa), 2);
        char buf[4];
        corio_addr from, ba;
        CHECK_EQ(corio_udp_recv_from(a, buf, sizeof buf, &from), 2);
        CHECK_EQ(corio_udp_local_addr(b, &ba), 0);
        CHECK(same_addr(&from, &ba));
        /* an IPv4 socket cannot send to an IPv6 address */
        corio_addr v4;
        corio_udp *c = bind_any(&v4);
        CHECK_EQ(corio_udp_send_to(c, "x", 1, &aa), -EAFNOSUPPORT);
        CHECK_EQ(corio_udp_connect_addr(c, &aa), -EAFNOSUPPORT);
        corio_udp_close(c);
        corio_udp_close(a);
        corio_udp_close(b);
    }
    /* a host name: bind and connect */
    CHECK_EQ(corio_udp_bind("localhost:0", &a), 0);
    corio_addr la;
    CHECK_EQ(corio_udp_local_addr(a, &la), 0);
    char name[64];
    snprintf(name, sizeof name, "localhost:%u", corio_addr_port(&la));
    CHECK_EQ(corio_udp_bind(la.sa.ss_family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", &b), 0);
    CHECK_EQ(corio_udp_connect(b, name), 0); /* tries each address of its family */
    CHECK_EQ(corio_udp_send(b, "n", 1), 1);
    char c1;
    CHECK_EQ(corio_udp_recv(a, &c1, 1), 1);
    corio_udp_close(a);
    corio_udp_close(b);
    return 0;
}

TEST(net_udp_ipv6_and_host_names)
{
    net_run_both(v6_and_name_main, NULL);
}

/* ---- datagram semantics -------------------------------------------------------------- */

static int truncation_main(void *arg)
{
    (void)arg;
    corio_addr ra, sa;
    corio_udp *r = bind_any(&ra), *s = bind_any(&sa);
    char big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    CHECK_EQ(corio_udp_send_to(s, big, sizeof big, &ra), (ssize_t)sizeof big);
    CHECK_EQ(corio_udp_send_to(s, "", 0, &ra), 0); /* an empty datagram */
    CHECK_EQ(corio_udp_send_to(s, "hello", 5, &ra), 5);
    CHECK_EQ(corio_udp_send_to(s, "dropped", 7, &ra), 7);
    CHECK_EQ(corio_udp_send_to(s, "whole", 5, &ra), 5);
    CHECK_EQ(corio_udp_send_to(s, "world", 5, &ra), 5);
    /* a short buffer: the bytes copied, the rest of that datagram gone */
    char buf[16];
    CHECK_EQ(corio_udp_recv(r, buf, 10), 10);
    CHECK(memcmp(buf, big, 10) == 0);
    /* an empty datagram reads as 0: no end of anything */
    CHECK_EQ(corio_udp_recv(r, buf, sizeof buf), 0);
    /* one call, one datagram: never two merged */
    CHECK_EQ(corio_udp_recv(r, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    /* len 0 takes a datagram and discards it */
    CHECK_EQ(corio_udp_recv(r, buf, 0), 0);
    /* the future form tells truncation */
    corio_udp_recv_fut f;
    corio_udp_recv_from_fut_init(&f, r, buf, 5);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 5);
    CHECK(!f.truncated);
    CHECK(same_addr(&f.from, &sa));
    corio_udp_recv_fut_init(&f, r, buf, 3);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 3);
    CHECK(f.truncated);
    CHECK(memcmp(buf, "wor", 3) == 0);
    /* a send is whole or fails: too large for UDP over IPv4 */
    char *huge = calloc(1, 70000);
    CHECK_EQ(corio_udp_send_to(s, huge, 70000, &ra), -EMSGSIZE);
    /* the largest one goes through whole */
    int rcv = 1 << 20;
    setsockopt(corio_fd_raw(corio_udp_as_fd(r)), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    CHECK_EQ(corio_udp_send_to(s, huge, 65507, &ra), 65507);
    CHECK_EQ(corio_udp_recv(r, huge, 70000), 65507);
    free(huge);
    corio_udp_close(r);
    corio_udp_close(s);
    return 0;
}

TEST(net_udp_datagram_boundaries_and_truncation)
{
    net_run_both(truncation_main, NULL);
}

/* A connected socket takes only its peer's datagrams, and learns of an
 * absent peer through ICMP: -ECONNREFUSED, once. */
static int pending_recv(void *arg)
{
    char b[16];
    return (int)corio_udp_recv(arg, b, sizeof b);
}

static int connected_main(void *arg)
{
    (void)arg;
    corio_addr aa, ba, ca;
    corio_udp *a = bind_any(&aa), *b = bind_any(&ba), *c = bind_any(&ca);
    CHECK_EQ(corio_udp_connect_addr(a, &ba), 0);
    CHECK_EQ(corio_udp_send_to(c, "stranger", 8, &aa), 8); /* filtered out */
    CHECK_EQ(corio_udp_send_to(b, "peer", 4, &aa), 4);
    char buf[16];
    corio_addr from;
    CHECK_EQ(corio_udp_recv_from(a, buf, sizeof buf, &from), 4);
    CHECK(memcmp(buf, "peer", 4) == 0);
    CHECK(same_addr(&from, &ba));
    /* the peer goes away; a receive in progress learns it */
    corio_udp_close(b);
    corio_task *t;
    CHECK_EQ(corio_spawn(pending_recv, a, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(corio_udp_send(a, "anyone?", 7), 7);
    CHECK_EQ(join_rc(t), -ECONNREFUSED);
    /* reported once: the socket works again (a send to the closed port
     * refuses anew) */
    CHECK_EQ(corio_udp_send(a, "again", 5), 5);
    ssize_t n = corio_udp_recv(a, buf, sizeof buf);
    CHECK_EQ(n, -ECONNREFUSED);
    /* reconnect elsewhere: it works again */
    CHECK_EQ(corio_udp_connect_addr(a, &ca), 0);
    CHECK_EQ(corio_udp_send_to(c, "back", 4, &aa), 4);
    CHECK_EQ(corio_udp_recv(a, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "back", 4) == 0);
    corio_udp_close(a);
    corio_udp_close(c);
    return 0;
}

TEST(net_udp_connected_filters_peers_and_reports_refused)
{
    net_run_both(connected_main, NULL);
}

/* ---- errors ------------------------------------------------------------------------- */

static int errors_main(void *arg)
{
    (void)arg;
    corio_udp *u = (corio_udp *)1;
    CHECK_EQ(corio_udp_bind("127.0.0.1", &u), -EINVAL);
    CHECK(u == NULL);
    CHECK_EQ(corio_udp_bind("127.0.0.1:99999", &u), -EINVAL);
    CHECK_EQ(corio_udp_bind("[::1]80", &u), -EINVAL);
    int rc = corio_udp_bind("no-such-host.invalid:0", &u);
    CHECK(rc == CORIO_ENOHOST || rc == -EAGAIN);
    CHECK_EQ(corio_udp_bind("192.0.2.1:0", &u), -EADDRNOTAVAIL);
    corio_addr a;
    corio_udp *x = bind_any(&a);
    char s[CORIO_ADDR_STRLEN];
    CHECK(corio_addr_format(&a, s, sizeof s) > 0);
    u = (corio_udp *)1;
    CHECK_EQ(corio_udp_bind(s, &u), -EADDRINUSE);
    CHECK(u == NULL);
    CHECK_EQ(corio_udp_connect(x, "127.0.0.1"), -EINVAL);
    rc = corio_udp_connect(x, "no-such-host.invalid:9");
    CHECK(rc == CORIO_ENOHOST || rc == -EAGAIN);
    CHECK_EQ(corio_udp_peer_addr(x, &a), -ENOTCONN); /* unchanged */
    corio_addr empty = {0};
    CHECK_EQ(corio_udp_send_to(x, "x", 1, &empty), -EINVAL);
    CHECK_EQ(corio_udp_connect_addr(x, &empty), -EINVAL);
    /* NULL answers (docs/conventions.md) */
    char b = 0;
    CHECK_EQ(corio_udp_bind(NULL, &u), -EINVAL);
    CHECK_EQ(corio_udp_bind("127.0.0.1:0", NULL), -EINVAL);
    CHECK_EQ(corio_udp_send_to(NULL, &b, 1, &a), -EINVAL);
    CHECK_EQ(corio_udp_send_to(x, &b, 1, NULL), -EINVAL);
    CHECK_EQ(corio_udp_send_to(x, NULL, 1, &a), -EINVAL);
    CHECK_EQ(corio_udp_send(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_udp_recv_from(NULL, &b, 1, NULL), -EINVAL);
    CHECK_EQ(corio_udp_recv_from(x, NULL, 1, NULL), -EINVAL);
    CHECK_EQ(corio_udp_recv(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_udp_connect(NULL, "127.0.0.1:1"), -EINVAL);
    CHECK_EQ(corio_udp_connect(x, NULL), -EINVAL);
    CHECK_EQ(corio_udp_connect_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_udp_connect_addr(x, NULL), -EINVAL);
    CHECK_EQ(corio_udp_local_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_udp_local_addr(x, NULL), -EINVAL);
    CHECK_EQ(corio_udp_peer_addr(NULL, &a), -EINVAL);
    CHECK_EQ(corio_udp_set_broadcast(NULL, true), -EINVAL);
    CHECK(corio_udp_as_fd(NULL) == NULL);
    CHECK_EQ(corio_udp_close(NULL), 0);
    corio_udp_recv_fut rf;
    corio_udp_recv_from_fut_init(NULL, x, &b, 1); /* nothing */
    corio_udp_recv_from_fut_init(&rf, NULL, &b, 1);
    CHECK_EQ(corio_await(&rf.base), 0);
    CHECK_EQ(rf.base.result, -EINVAL);
    corio_udp_send_fut sf;
    corio_udp_send_to_fut_init(NULL, x, &b, 1, &a);
    corio_udp_send_to_fut_init(&sf, x, &b, 1, NULL);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, -EINVAL);
    corio_udp_send_fut_init(&sf, NULL, &b, 1);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, -EINVAL);
    /* close-on-exec from creation */
    CHECK(fcntl(corio_fd_raw(corio_udp_as_fd(x)), F_GETFD) & FD_CLOEXEC);
    corio_udp_close(x);
    return 0;
}

/* In plain code the waiting calls refuse; the future forms work. */
static int make_socket(void *arg)
{
    corio_addr a;
    *(corio_udp **)arg = bind_any(&a);
    return 0;
}

TEST(net_udp_errors_bad_addresses_in_use_null_and_plain_code)
{
    CHECK_EQ(run_main(errors_main, NULL), 0);
    /* No runtime: plain code. */
    corio_udp *u = (corio_udp *)1;
    CHECK_EQ(corio_udp_bind("127.0.0.1:0", &u), CORIO_EWRONGCTX);
    CHECK(u == NULL);
    /* A socket of a runtime, used from plain code while it lives. */
    corio_rt *rt = new_rt();
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, make_socket, &u, &rc), 0);
    corio_addr a;
    CHECK_EQ(corio_udp_local_addr(u, &a), 0);
    char b[4];
    CHECK_EQ(corio_udp_recv(u, b, sizeof b), CORIO_EWRONGCTX);
    CHECK_EQ(corio_udp_send_to(u, "p", 1, &a), CORIO_EWRONGCTX);
    corio_udp_send_fut sf;
    corio_udp_send_to_fut_init(&sf, u, "p", 1, &a);
    CHECK_EQ(corio_rt_block_on_future(rt, &sf.base), 0);
    CHECK_EQ(sf.base.result, 1);
    corio_udp_recv_fut rf;
    corio_udp_recv_from_fut_init(&rf, u, b, sizeof b);
    CHECK_EQ(corio_rt_block_on_future(rt, &rf.base), 0);
    CHECK_EQ(rf.base.result, 1);
    CHECK_EQ(b[0], 'p');
    CHECK_EQ(corio_rt_free(rt), 0);
    /* after the runtime: CORIO_ESHUTDOWN, and close still works */
    corio_udp_recv_from_fut_init(&rf, u, b, sizeof b);
    corio_rt *rt2 = new_rt();
    CHECK_EQ(corio_rt_block_on_future(rt2, &rf.base), 0);
    CHECK_EQ(rf.base.result, CORIO_ESHUTDOWN);
    CHECK_EQ(corio_rt_free(rt2), 0);
    /* the calls that do not wait still act on the socket */
    CHECK_EQ(corio_udp_connect_addr(u, &a), 0);
    corio_addr peer;
    CHECK_EQ(corio_udp_peer_addr(u, &peer), 0);
    CHECK_EQ(corio_addr_port(&peer), corio_addr_port(&a));
    CHECK_EQ(corio_udp_recv(u, b, sizeof b), CORIO_EWRONGCTX); /* plain code */
    CHECK_EQ(corio_udp_close(u), 0);
}

static int broadcast_main(void *arg)
{
    (void)arg;
    corio_udp *u;
    CHECK_EQ(corio_udp_bind("0.0.0.0:0", &u), 0);
    int fd = corio_fd_raw(corio_udp_as_fd(u)), v = 1;
    socklen_t len = sizeof v;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, &len), 0);
    CHECK_EQ(v, 0);
    corio_addr bc;
    CHECK_EQ(corio_addr_parse("255.255.255.255:9", &bc), 0);
    ssize_t n = corio_udp_send_to(u, "b", 1, &bc);
    CHECK(n == -EACCES || n == -ENETUNREACH); /* no route here, maybe */
    CHECK_EQ(corio_udp_set_broadcast(u, true), 0);
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, &len), 0);
    CHECK_EQ(v, 1);
    n = corio_udp_send_to(u, "b", 1, &bc);
    CHECK(n == 1 || n == -ENETUNREACH);
    CHECK_EQ(corio_udp_set_broadcast(u, false), 0);
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, &len), 0);
    CHECK_EQ(v, 0);
    corio_udp_close(u);
    return 0;
}

TEST(net_udp_broadcast_option)
{
    CHECK_EQ(run_main(broadcast_main, NULL), 0);
}

/* ---- cancellation and deadlines ------------------------------------------------------ */

static int recv_forever(void *arg)
{
    char b[16];
    corio_addr from;
    return (int)corio_udp_recv_from(arg, b, sizeof b, &from);
}

static int cancel_main(void *arg)
{
    (void)arg;
    int fds0 = count_fds();
    corio_addr ra, sa;
    corio_udp *r = bind_any(&ra), *s = bind_any(&sa);
    /* a task blocked in recv_from, aborted */
    corio_task *t;
    CHECK_EQ(corio_spawn(recv_forever, r, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    CHECK(!corio_task_is_finished(t));
    corio_task_abort(t);
    int res;
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(res, CORIO_ECANCELED);
    /* the future form under corio_timeout */
    char b[16];
    corio_udp_recv_fut rf;
    corio_udp_recv_from_fut_init(&rf, r, b, sizeof b);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    /* a deadline scope around the call */
    res = 1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(10), pending_recv, r, &res), CORIO_ETIMEDOUT);
    /* none of them took anything: the next datagram goes to the next call */
    CHECK_EQ(corio_udp_send_to(s, "one", 3, &ra), 3);
    CHECK_EQ(corio_udp_send_to(s, "two", 3, &ra), 3);
    CHECK_EQ(corio_udp_recv(r, b, sizeof b), 3);
    CHECK(memcmp(b, "one", 3) == 0);
    /* a future ready in time is not cut short */
    corio_udp_recv_from_fut_init(&rf, r, b, sizeof b);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(rf.base.result, 3);
    CHECK(memcmp(b, "two", 3) == 0);
    CHECK(same_addr(&rf.from, &sa));
    /* the send future: ready at once under a deadline */
    corio_udp_send_fut sf;
    corio_udp_send_to_fut_init(&sf, s, "three", 5, &ra);
    CHECK_EQ(corio_timeout(&sf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(sf.base.result, 5);
    CHECK_EQ(corio_udp_connect_addr(s, &ra), 0);
    corio_udp_send_fut_init(&sf, s, "four", 4);
    CHECK_EQ(corio_await(&sf.base), 0);
    CHECK_EQ(sf.base.result, 4);
    CHECK_EQ(corio_udp_recv(r, b, sizeof b), 5);
    CHECK_EQ(corio_udp_recv(r, b, sizeof b), 4);
    corio_udp_close(r);
    corio_udp_close(s);
    settle();
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

TEST(net_udp_cancelled_and_timed_out_recv_take_nothing)
{
    net_run_both(cancel_main, NULL);
}

/* A send that waits for room: fill the send path until EAGAIN would come,
 * under a deadline; whatever was interrupted sent nothing (checked by
 * counting what arrives). */
typedef struct flood {
    corio_udp *s;
    corio_addr to;
    atomic_int sent;
} flood;

static int flood_sender(void *arg)
{
    flood *f = arg;
    char msg[1024] = {0};
    for (;;) {
        ssize_t n = corio_udp_send_to(f->s, msg, sizeof msg, &f->to);
        if (n < 0)
            return (int)n;
        CHECK_EQ(n, (ssize_t)sizeof msg); /* whole, never a part */
        atomic_fetch_add(&f->sent, 1);
        if (atomic_load(&f->sent) % 64 == 0)
            corio_yield();
    }
}

static int flood_main(void *arg)
{
    (void)arg;
    corio_addr ra, sa;
    corio_udp *r = bind_any(&ra);
    flood f = {.s = bind_any(&sa), .to = ra};
    int small = 4096;
    setsockopt(corio_fd_raw(corio_udp_as_fd(r)), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    int res;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(30), flood_sender, &f, &res), CORIO_ETIMEDOUT);
    CHECK(atomic_load(&f.sent) > 0);
    corio_udp_close(f.s);
    corio_udp_close(r);
    return 0;
}

TEST(net_udp_send_loop_under_a_deadline_ends_cleanly)
{
    net_run_both(flood_main, NULL);
}

/* ---- many tasks at once --------------------------------------------------------------- */

typedef struct storm {
    corio_udp *srv;
    corio_addr srv_addr;
    int clients, rounds, servers;
    atomic_int echoed;
} storm;

/* Several tasks receive on one socket: each datagram goes to one of them. */
static int storm_server(void *arg)
{
    storm *s = arg;
    char buf[64];
    corio_addr from;
    for (;;) {
        ssize_t n = corio_udp_recv_from(s->srv, buf, sizeof buf, &from);
        if (n == CORIO_ECANCELED)
            return 0;
        CHECK(n >= 0);
        CHECK_EQ(corio_udp_send_to(s->srv, buf, (size_t)n, &from), n);
        atomic_fetch_add(&s->echoed, 1);
    }
}

static int storm_client(void *arg)
{
    storm *s = arg;
    corio_addr me;
    corio_udp *u = bind_any(&me);
    CHECK_EQ(corio_udp_connect_addr(u, &s->srv_addr), 0);
    uint64_t id = corio_task_id(corio_task_current());
    for (int r = 0; r < s->rounds; r++) {
        uint64_t msg[4] = {id, (uint64_t)r, id ^ (uint64_t)r, 42}, back[5];
        CHECK_EQ(corio_udp_send(u, msg, sizeof msg), (ssize_t)sizeof msg);
        /* loopback loses nothing here: at most one datagram per client is
         * in flight; a timeout would say otherwise */
        corio_udp_recv_fut f;
        corio_udp_recv_fut_init(&f, u, back, sizeof back);
        CHECK_EQ(corio_timeout(&f.base, CORIO_SEC(10)), 0);
        CHECK_EQ(f.base.result, (int)sizeof msg);
        CHECK(memcmp(msg, back, sizeof msg) == 0);
        if (r % 5 == 0)
            corio_yield();
    }
    CHECK_EQ(corio_udp_close(u), 0);
    return 0;
}

static int storm_main(void *arg)
{
    storm *s = arg;
    s->srv = bind_any(&s->srv_addr);
    int big = 1 << 20;
    setsockopt(corio_fd_raw(corio_udp_as_fd(s->srv)), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    corio_task **srv = calloc((size_t)s->servers, sizeof *srv);
    for (int i = 0; i < s->servers; i++)
        CHECK_EQ(corio_spawn(storm_server, s, &srv[i]), 0);
    corio_task **ts = calloc((size_t)s->clients, sizeof *ts);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(corio_spawn(storm_client, s, &ts[i]), 0);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    /* the servers are blocked in recv_from: abort them */
    for (int i = 0; i < s->servers; i++)
        corio_task_abort(srv[i]);
    for (int i = 0; i < s->servers; i++) {
        int r, rc = corio_task_join(srv[i], &r);
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
    }
    CHECK_EQ(atomic_load(&s->echoed), s->clients * s->rounds);
    free(ts);
    free(srv);
    corio_udp_close(s->srv);
    return 0;
}

TEST_SLOW(net_udp_stress_many_tasks_one_socket)
{
    int fds0 = count_fds();
    storm s = {.clients = SCALE(300, 150, 60), .rounds = SCALE(50, 20, 10), .servers = 4};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, storm_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    storm s1 = {.clients = SCALE(100, 50, 30), .rounds = SCALE(50, 20, 10), .servers = 2};
    CHECK_EQ(run_main(storm_main, &s1), 0);
    CHECK_EQ(count_fds(), fds0);
}

/* Cancelling tasks in the middle of receives on a shared socket: no
 * datagram is lost to a cancelled receive (each one sent is received by a
 * task that was not cancelled), nothing leaks (ASan), no race (TSan). */
typedef struct cstorm {
    corio_udp *r;
    atomic_int got;
} cstorm;

static int counting_receiver(void *arg)
{
    cstorm *c = arg;
    char b[8];
    for (;;) {
        ssize_t n = corio_udp_recv(c->r, b, sizeof b);
        if (n < 0) {
            CHECK_EQ(n, CORIO_ECANCELED);
            return 0;
        }
        atomic_fetch_add(&c->got, 1);
    }
}

static int cancel_storm_main(void *arg)
{
    (void)arg;
    corio_addr ra, sa;
    cstorm c = {.r = bind_any(&ra)};
    corio_udp *s = bind_any(&sa);
    int big = 1 << 20;
    setsockopt(corio_fd_raw(corio_udp_as_fd(c.r)), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int n = SCALE(64, 32, 16), msgs = SCALE(2000, 500, 200);
    corio_task **ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++)
        CHECK_EQ(corio_spawn(counting_receiver, &c, &ts[i]), 0);
    for (int m = 0; m < msgs; m++) {
        CHECK_EQ(corio_udp_send_to(s, "m", 1, &ra), 1);
        /* at most 100 in flight: the receive buffer never overflows */
        double t0 = mono_ms();
        while (m + 1 - atomic_load(&c.got) > 100) {
            corio_sleep(CORIO_MSEC(1));
            CHECK(mono_ms() - t0 < 10000);
        }
        if (m % 10 == 0)
            corio_yield();
        if (m % (msgs / n + 1) == 0 && m / (msgs / n + 1) < n / 2)
            corio_task_abort(ts[m / (msgs / n + 1)]); /* half of them, one by one */
    }
    double t0 = mono_ms();
    while (atomic_load(&c.got) < msgs) {
        corio_sleep(CORIO_MSEC(1));
        CHECK(mono_ms() - t0 < 10000);
    }
    for (int i = 0; i < n; i++)
        corio_task_abort(ts[i]);
    for (int i = 0; i < n; i++) {
        int r, rc = corio_task_join(ts[i], &r);
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
    }
    CHECK_EQ(atomic_load(&c.got), msgs);
    free(ts);
    corio_udp_close(c.r);
    corio_udp_close(s);
    return 0;
}

TEST_SLOW(net_udp_stress_cancelled_receivers_lose_no_datagram)
{
    int fds0 = count_fds();
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, cancel_storm_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(run_main(cancel_storm_main, NULL), 0);
    CHECK_EQ(count_fds(), fds0);
}

/* ---- a name lookup interrupted by a cancelled scope ----------------------------------------- */

/* corio_udp_bind of a host name waits for a lookup job on the blocking
 * pool. Interrupted there by a cancelled scope (corio_scope_cancel; the
 * task itself is not cancelled) it returns CORIO_ECANCELED, as udp.h says
 * - not CORIO_ESHUTDOWN, which would say the runtime is shutting down.
 * The pool's one thread is held by a job, so the lookup is still queued
 * when the scope is cancelled: no timing involved. */
typedef struct lookup_scope {
    atomic_int gate; /* 1: the holding job may end */
    atomic_int holding;
    int bind_rc;
} lookup_scope;

static int hold_pool_thread(void *arg)
{
    lookup_scope *s = arg;
    atomic_store(&s->holding, 1);
    while (!atomic_load(&s->gate))
        sleep_ms(1);
    return 0;
}

static int cancel_scope_soon(void *arg)
{
    settle(); /* the body is waiting for its lookup by now */
    corio_scope_cancel(arg);
    return 0;
}

static int lookup_scope_body(corio_scope *sc, void *arg)
{
    lookup_scope *s = arg;
    CHECK_EQ(corio_scope_spawn(sc, cancel_scope_soon, sc, NULL), 0);
    corio_udp *u = (corio_udp *)1;
    s->bind_rc = corio_udp_bind("localhost:0", &u);
    CHECK(u == NULL);
    CHECK(!corio_task_is_cancelled(corio_task_current()));
    return 0;
}

static int lookup_scope_main(void *arg)
{
    lookup_scope *s = arg;
    corio_task *holder;
    CHECK_EQ(corio_spawn_blocking(hold_pool_thread, s, &holder), 0);
    while (!atomic_load(&s->holding))
        corio_sleep(CORIO_MSEC(1));
    CHECK_EQ(corio_scope_run(lookup_scope_body, s, NULL), CORIO_ECANCELED);
    CHECK_EQ(s->bind_rc, CORIO_ECANCELED);
    atomic_store(&s->gate, 1);
    CHECK_EQ(join_rc(holder), 0);
    return 0;
}

TEST(net_udp_bind_by_name_in_a_cancelled_scope_returns_ecanceled)
{
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.max_blocking_threads = 1;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    lookup_scope s = {0};
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, lookup_scope_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
