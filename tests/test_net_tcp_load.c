/* tests/test_net_tcp_load.c - TCP: cancellation and deadlines, EMFILE on
 * accept, many connections at once (split from tests/test_net_tcp.c by
 * behaviour; the helpers it shares with it are in tests/util_net.c). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* ---- cancellation and deadlines ------------------------------------------------------ */

static int accept_forever(void *arg)
{
    corio_tcp *c;
    return corio_tcp_accept(arg, &c);
}

static int connect_blackhole(void *arg)
{
    (void)arg;
    corio_tcp *c;
    /* TEST-NET-1 (RFC 5737): routed nowhere, so a connect hangs (or fails at
     * once on a machine with no route at all). */
    return corio_tcp_connect("192.0.2.1:9", &c);
}

static int cancel_main(void *arg)
{
    (void)arg;
    int fds0 = count_fds();
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    /* accept: aborted, then the listener still works */
    corio_task *t;
    CHECK_EQ(corio_spawn(accept_forever, l, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    int r;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    corio_tcp_accept_fut af;
    corio_tcp_accept_fut_init(&af, l);
    CHECK_EQ(corio_timeout(&af.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    corio_tcp *c, *s;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    CHECK_EQ(corio_tcp_accept(l, &s), 0); /* nothing was taken by those */
    /* read under a deadline scope */
    int res = 1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(10), net_tcp_pending_reader, c, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_tcp_write_all(s, "Z", 1), 0);
    char b;
    CHECK_EQ(corio_tcp_read(c, &b, 1), 1);
    CHECK_EQ(b, 'Z');
    corio_tcp_close(c);
    corio_tcp_close(s);
    /* connect: under a deadline, then aborted - no socket left behind */
    int rc = corio_timeout_call(CORIO_MSEC(20), connect_blackhole, NULL, &res);
    CHECK(rc == CORIO_ETIMEDOUT || (rc == 0 && res < 0));
    CHECK_EQ(corio_spawn(connect_blackhole, NULL, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    rc = corio_task_join(t, &r);
    CHECK(rc == CORIO_ECANCELED || (rc == 0 && r < 0));
    corio_tcp_listener_close(l);
    settle();
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

TEST(net_tcp_cancelled_and_timed_out_accept_connect_read)
{
    net_run_both(cancel_main, NULL);
}

/* Writes interrupted while the peer does not read (the send buffer full):
 * a write_all cut by a deadline says in `done` how much went, a task
 * aborted in a plain write has had every byte it was told of sent and no
 * other; the stream stays whole and usable after both. */
#define WPAT 251

typedef struct wcancel {
    corio_tcp *c;
    const unsigned char *pat; /* 2 * chunk bytes of (i % WPAT) */
    size_t chunk;
    size_t off;               /* bytes the writes said they wrote */
    atomic_int entered;
} wcancel;

static int writer_until_cancelled(void *arg)
{
    wcancel *w = arg;
    atomic_store(&w->entered, 1);
    for (;;) {
        ssize_t n = corio_tcp_write(w->c, w->pat + w->off % WPAT, w->chunk);
        if (n < 0)
            return (int)n;
        w->off += (size_t)n;
    }
}

/* Read exactly `len` more bytes of the pattern from stream offset *pos. */
static void read_pattern(corio_tcp *c, size_t *pos, size_t len)
{
    unsigned char buf[16384];
    while (len > 0) {
        ssize_t n = corio_tcp_read(c, buf, len < sizeof buf ? len : sizeof buf);
        CHECK(n > 0);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((*pos + (size_t)i) % WPAT))
                test_failf(__FILE__, __LINE__, "byte %zu is %d", *pos + (size_t)i, buf[i]);
        *pos += (size_t)n;
        len -= (size_t)n;
    }
}

static int write_cancel_main(void *arg)
{
    (void)arg;
    int fds0 = count_fds();
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_tcp *c, *s;
    CHECK_EQ(corio_tcp_connect(addr, &c), 0);
    CHECK_EQ(corio_tcp_accept(l, &s), 0);
    /* small buffers: a few hundred KiB fill them (quick under TSan too) */
    int small = 32 << 10;
    CHECK_EQ(setsockopt(corio_fd_raw(corio_tcp_as_fd(c)), SOL_SOCKET, SO_SNDBUF, &small,
                        sizeof small),
             0);
    CHECK_EQ(setsockopt(corio_fd_raw(corio_tcp_as_fd(s)), SOL_SOCKET, SO_RCVBUF, &small,
                        sizeof small),
             0);
    size_t chunk = 64u << 10;
    unsigned char *pat = malloc(2 * chunk);
    for (size_t i = 0; i < 2 * chunk; i++)
        pat[i] = (unsigned char)(i % WPAT);
    /* write_all of more than the buffers hold, under a deadline */
    size_t big = 2u << 20;
    unsigned char *src = malloc(big);
    for (size_t i = 0; i < big; i++)
        src[i] = (unsigned char)(i % WPAT);
    corio_tcp_exact_fut wf;
    corio_tcp_write_all_fut_init(&wf, c, src, big);
    CHECK_EQ(corio_timeout(&wf.base, CORIO_MSEC(30)), CORIO_ETIMEDOUT);
    CHECK(wf.done > 0 && wf.done < big);
    size_t sent = wf.done, pos = 0;
    free(src); /* nothing may read it any more */
    /* a task blocked in a write, aborted */
    wcancel w = {c, pat, chunk, sent, 0};
    corio_task *t;
    CHECK_EQ(corio_spawn(writer_until_cancelled, &w, &t), 0);
    while (!atomic_load(&w.entered))
        corio_yield();
    corio_sleep(CORIO_MSEC(20));
    corio_task_abort(t);
    int r;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    /* exactly what was reported, then nothing more */
    read_pattern(s, &pos, w.off);
    char b;
    corio_tcp_exact_fut rf;
    corio_tcp_read_exact_fut_init(&rf, s, &b, 1);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK_EQ(rf.done, 0);
    /* and the connection still works both ways */
    CHECK_EQ(corio_tcp_write_all(c, pat + pos % WPAT, 100), 0);
    read_pattern(s, &pos, 100);
    CHECK_EQ(corio_tcp_write_all(s, "ok", 2), 0);
    char ok[2];
    CHECK_EQ(corio_tcp_read_exact(c, ok, 2), 0);
    CHECK(memcmp(ok, "ok", 2) == 0);
    free(pat);
    corio_tcp_close(c);
    corio_tcp_close(s);
    corio_tcp_listener_close(l);
    settle();
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

TEST(net_tcp_cancelled_and_timed_out_writes_keep_the_stream_whole)
{
    net_run_both(write_cancel_main, NULL);
}

/* ---- EMFILE on accept: back off, do not spin ---------------------------------------- */

typedef struct emfile_case {
    corio_tcp_listener *l;
    atomic_int calls, errors, accepted;
    atomic_int stop;
} emfile_case;

static int emfile_acceptor(void *arg)
{
    emfile_case *e = arg;
    while (!atomic_load(&e->stop)) {
        corio_tcp *c;
        atomic_fetch_add(&e->calls, 1);
        int rc = corio_tcp_accept(e->l, &c);
        if (rc == 0) {
            atomic_fetch_add(&e->accepted, 1);
            corio_tcp_close(c);
        } else if (rc == -EMFILE) {
            atomic_fetch_add(&e->errors, 1); /* a user's loop: try again at once */
        } else {
            return rc;
        }
    }
    return 0;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int emfile_main(void *arg)
{
    (void)arg;
    char addr[CORIO_ADDR_STRLEN];
    emfile_case e = {0};
    e.l = net_listen_any(addr);
    /* A client socket made before the table fills; connected later. */
    corio_addr a;
    CHECK_EQ(corio_addr_parse(addr, &a), 0);
    corio_tcp *client;
    CHECK_EQ(corio_tcp_connect_addr(&a, &client), 0);
    /* Fill the fd table. */
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit low = {256, rl.rlim_max};
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int spare[256], nspare = 0;
    for (int fd; (fd = dup(0)) >= 0;)
        spare[nspare++] = fd;
    CHECK(nspare > 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(emfile_acceptor, &e, &t), 0);
    double cpu0 = cpu_s(), wall0 = mono_ms();
    corio_sleep(CORIO_MSEC(600));
    double cpu = cpu_s() - cpu0, wall = (mono_ms() - wall0) / 1000;
    /* Backing off, 1 ms doubling: a handful of calls, not millions, and
     * next to no CPU. */
    CHECK(atomic_load(&e.errors) >= 3);
    CHECK(atomic_load(&e.calls) < 40);
    CHECK(cpu < 0.3 * wall);
    CHECK_EQ(atomic_load(&e.accepted), 0);
    /* Give an fd back: the queued connection is taken. */
    close(spare[--nspare]);
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
    corio_tcp_close(client);
    corio_tcp_listener_close(e.l);
    return 0;
}

TEST_TIMING(net_tcp_emfile_on_accept_backs_off_without_spinning)
{
    CHECK_EQ(run_main(emfile_main, NULL), 0);
}

/* ---- many connections at once ------------------------------------------------------------ */

typedef struct storm {
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l;
    int clients, rounds;
    bool cancelling; /* the server is aborted at the end */
    atomic_int served;
} storm;

static int storm_conn(void *arg)
{
    corio_tcp *c = arg;
    char buf[512];
    ssize_t n;
    while ((n = corio_tcp_read(c, buf, sizeof buf)) > 0)
        if (corio_tcp_write_all(c, buf, (size_t)n) < 0)
            break;
    corio_tcp_close(c);
    return 0;
}

static int storm_server(void *arg)
{
    storm *s = arg;
    for (int i = 0; i < s->clients; i++) {
        corio_tcp *c;
        int rc = corio_tcp_accept(s->l, &c);
        if (rc == CORIO_ECANCELED && s->cancelling)
            return 0; /* clients cancelled before they connected */
        CHECK_EQ(rc, 0);
        CHECK_EQ(corio_spawn(storm_conn, c, NULL), 0);
        atomic_fetch_add(&s->served, 1);
    }
    return 0;
}

static int storm_client(void *arg)
{
    storm *s = arg;
    corio_tcp *c;
    int rc = corio_tcp_connect(s->addr, &c);
    CHECK_EQ(rc, 0);
    uint64_t id = corio_task_id(corio_task_current());
    for (int r = 0; r < s->rounds; r++) {
        uint64_t msg[4] = {id, (uint64_t)r, id ^ (uint64_t)r, 42}, back[4];
        CHECK_EQ(corio_tcp_write_all(c, msg, sizeof msg), 0);
        CHECK_EQ(corio_tcp_read_exact(c, back, sizeof back), 0);
        CHECK(memcmp(msg, back, sizeof msg) == 0);
        if (r % 7 == 0)
            corio_yield();
    }
    CHECK_EQ(corio_tcp_close(c), 0);
    return 0;
}

static int storm_main(void *arg)
{
    storm *s = arg;
    s->l = net_listen_any(s->addr);
    corio_task *srv;
    CHECK_EQ(corio_spawn(storm_server, s, &srv), 0);
    corio_task **ts = calloc((size_t)s->clients, sizeof *ts);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(corio_spawn(storm_client, s, &ts[i]), 0);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    CHECK_EQ(join_rc(srv), 0);
    CHECK_EQ(atomic_load(&s->served), s->clients);
    free(ts);
    corio_tcp_listener_close(s->l);
    return 0;
}

TEST_SLOW(net_tcp_stress_many_connections_opened_and_closed)
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

/* Cancelling connections in every state at once: none is leaked, none is
 * touched after it is freed (ASan), no race (TSan). */
static int cancellable_client(void *arg)
{
    storm *s = arg;
    corio_tcp *c;
    int rc = corio_tcp_connect(s->addr, &c);
    if (rc < 0) {
        CHECK_EQ(rc, CORIO_ECANCELED);
        return rc;
    }
    for (int r = 0; r < s->rounds && rc == 0; r++) {
        uint64_t msg[4] = {(uint64_t)r, 1, 2, 3}, back[4];
        if ((rc = corio_tcp_write_all(c, msg, sizeof msg)) == 0 &&
            (rc = corio_tcp_read_exact(c, back, sizeof back)) == 0)
            CHECK(memcmp(msg, back, sizeof msg) == 0);
    }
    CHECK(rc == 0 || rc == CORIO_ECANCELED);
    CHECK_EQ(corio_tcp_close(c), 0); /* cleanup runs when cancelled too */
    return rc;
}

static int cancel_storm_main(void *arg)
{
    storm *s = arg;
    s->l = net_listen_any(s->addr);
    corio_task *srv;
    CHECK_EQ(corio_spawn(storm_server, s, &srv), 0);
    corio_task **ts = calloc((size_t)s->clients, sizeof *ts);
    for (int i = 0; i < s->clients; i++)
        CHECK_EQ(corio_spawn(cancellable_client, s, &ts[i]), 0);
    for (int i = 0; i < s->clients; i += 2) {
        if (i % 4 == 0)
            corio_yield();
        corio_task_abort(ts[i]);
    }
    for (int i = 0; i < s->clients; i++) {
        int r, rc = corio_task_join(ts[i], &r);
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
        CHECK(r == 0 || r == CORIO_ECANCELED);
    }
    corio_task_abort(srv);
    int r;
    corio_task_join(srv, &r);
    free(ts);
    corio_tcp_listener_close(s->l);
    return 0;
}

TEST_SLOW(net_tcp_stress_cancel_connections_mid_flight)
{
    int fds0 = count_fds();
    storm s = {.clients = SCALE(200, 100, 60), .rounds = SCALE(200, 50, 20), .cancelling = true};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, cancel_storm_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0); /* server tasks still open are cancelled */
    CHECK_EQ(count_fds(), fds0);
}
