/* tests/test_io_copy.c - corio_fd_copy and corio_fd_copy_bidirectional
 * (corio/io.h): every byte arrives once and in order through pipes and
 * through a proxy between socket pairs, on both flavours; end of file is
 * passed on (shut down) by the bidirectional form only; errors (a closed
 * peer, NULL, plain code); an interrupted copy reports how far it got and
 * leaks nothing (ASan); the future form raced in a select.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio.h>

#include "test.h"
#include "util.h"

static unsigned char pattern_at(size_t i)
{
    return (unsigned char)(i * 131u + (i >> 9));
}

/* Writes `len` pattern bytes to fd, then closes it (end of file). */
typedef struct feeder {
    corio_fd *fd;
    size_t len;
} feeder;

static int feed(void *arg)
{
    feeder *f = arg;
    unsigned char buf[3000];
    size_t sent = 0;
    while (sent < f->len) {
        size_t n = f->len - sent < sizeof buf ? f->len - sent : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_at(sent + i);
        ssize_t w = corio_fd_write(f->fd, buf, n);
        CHECK(w > 0);
        sent += (size_t)w;
    }
    CHECK_EQ(corio_fd_close(f->fd), 0);
    return 0;
}

/* Reads fd to end of file, checking the pattern; returns how many. */
typedef struct drainer {
    corio_fd *fd;
    size_t got;
} drainer;

static int drain(void *arg)
{
    drainer *d = arg;
    unsigned char buf[5000];
    for (;;) {
        ssize_t n = corio_fd_read(d->fd, buf, sizeof buf);
        CHECK(n >= 0);
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++)
            CHECK_EQ(buf[i], pattern_at(d->got + (size_t)i));
        d->got += (size_t)n;
    }
}

static void open_pipe(corio_fd **r, corio_fd **w)
{
    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(corio_fd_open(p[0], r), 0);
    CHECK_EQ(corio_fd_open(p[1], w), 0);
}

#define PIPE_BYTES (3u * 1024 * 1024 + 77)

static int pipe_copy_main(void *arg)
{
    (void)arg;
    corio_fd *ar, *aw, *br, *bw;
    open_pipe(&ar, &aw);
    open_pipe(&br, &bw);
    feeder f = {aw, PIPE_BYTES};
    drainer d = {br, 0};
    corio_task *ft, *dt;
    CHECK_EQ(corio_spawn(feed, &f, &ft), 0);
    CHECK_EQ(corio_spawn(drain, &d, &dt), 0);
    uint64_t copied = 0;
    CHECK_EQ(corio_fd_copy(ar, bw, &copied), 0);
    CHECK_EQ(copied, (uint64_t)PIPE_BYTES);
    /* `to` is left open: the drainer has not seen end of file yet. */
    CHECK(!corio_task_is_finished(dt));
    CHECK_EQ(corio_fd_close(bw), 0);
    CHECK_EQ(join_rc(dt), 0);
    CHECK_EQ(d.got, (size_t)PIPE_BYTES);
    CHECK_EQ(join_rc(ft), 0);
    CHECK_EQ(corio_fd_close(ar), 0);
    CHECK_EQ(corio_fd_close(br), 0);
    return 0;
}

TEST(io_copy_through_pipes_every_byte_once_in_order)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, pipe_copy_main, NULL), 0);
}

/* ---- a proxy between two socket pairs ------------------------------------ */

/* client <-> (c_end, p1) proxy (p2, s_end) <-> server. The client sends
 * REQ bytes and shuts down its write half; the server reads to end of
 * file (which only the proxy's shutdown can give it), answers with
 * RESP bytes and shuts down; the client reads the answer to end of file. */
#define REQ (700u * 1024 + 5)
#define RESP (1100u * 1024 + 9)

typedef struct proxy_ctx {
    corio_unix *c_end, *p1, *p2, *s_end;
    size_t server_got, client_got;
} proxy_ctx;

/* Writes `len` pattern bytes to c, then shuts down its write half. */
static void send_pattern_and_shut(corio_unix *c, size_t len)
{
    unsigned char buf[4096];
    for (size_t sent = 0; sent < len;) {
        size_t n = len - sent < sizeof buf ? len - sent : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_at(sent + i);
        CHECK_EQ(corio_unix_write_all(c, buf, n), 0);
        sent += n;
    }
    CHECK_EQ(corio_unix_shutdown(c, SHUT_WR), 0);
}

static int client(void *arg)
{
    proxy_ctx *p = arg;
    corio_fd *fd = corio_unix_as_fd(p->c_end);
    send_pattern_and_shut(p->c_end, REQ);
    drainer d = {fd, 0};
    CHECK_EQ(drain(&d), 0);
    p->client_got = d.got;
    return 0;
}

static int server(void *arg)
{
    proxy_ctx *p = arg;
    drainer d = {corio_unix_as_fd(p->s_end), 0};
    CHECK_EQ(drain(&d), 0); /* end of file: the proxy passed the shutdown on */
    p->server_got = d.got;
    send_pattern_and_shut(p->s_end, RESP);
    return 0;
}

static int proxy_main(void *arg)
{
    (void)arg;
    proxy_ctx p = {0};
    CHECK_EQ(corio_unix_pair(&p.c_end, &p.p1), 0);
    CHECK_EQ(corio_unix_pair(&p.p2, &p.s_end), 0);
    corio_task *c, *s;
    CHECK_EQ(corio_spawn(client, &p, &c), 0);
    CHECK_EQ(corio_spawn(server, &p, &s), 0);
    uint64_t up = 0, down = 0;
    CHECK_EQ(corio_fd_copy_bidirectional(corio_unix_as_fd(p.p1), corio_unix_as_fd(p.p2), &up,
                                         &down),
             0);
    CHECK_EQ(up, (uint64_t)REQ);
    CHECK_EQ(down, (uint64_t)RESP);
    CHECK_EQ(join_rc(c), 0);
    CHECK_EQ(join_rc(s), 0);
    CHECK_EQ(p.server_got, (size_t)REQ);
    CHECK_EQ(p.client_got, (size_t)RESP);
    corio_unix_close(p.c_end);
    corio_unix_close(p.p1);
    corio_unix_close(p.p2);
    corio_unix_close(p.s_end);
    return 0;
}

TEST(io_copy_bidirectional_proxy_passes_bytes_and_end_of_file)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, proxy_main, NULL), 0);
}

/* ---- errors ------------------------------------------------------------------ */

static int errors_main(void *arg)
{
    (void)arg;
    corio_fd *r, *w;
    open_pipe(&r, &w);
    uint64_t n = 99, m = 99;
    CHECK_EQ(corio_fd_copy(NULL, w, &n), -EINVAL);
    CHECK_EQ(n, 0u);
    CHECK_EQ(corio_fd_copy(r, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_fd_copy_bidirectional(r, NULL, &n, &m), -EINVAL);
    CHECK_EQ(m, 0u);

    /* The far end of the destination is gone: the write's -EPIPE (a
     * socket: no SIGPIPE), with what got through before counted. */
    corio_unix *a, *b;
    CHECK_EQ(corio_unix_pair(&a, &b), 0);
    CHECK_EQ(corio_unix_close(b), 0);
    unsigned char byte = 7;
    CHECK_EQ(corio_fd_write(w, &byte, 1), 1);
    CHECK_EQ(corio_fd_copy(r, corio_unix_as_fd(a), &n), -EPIPE);
    CHECK_EQ(n, 0u);
    corio_unix_close(a);
    corio_fd_close(r);
    corio_fd_close(w);
    return 0;
}

TEST(io_copy_errors)
{
    CHECK_EQ(run_main_flavor(0, errors_main, NULL), 0);
    /* Plain code cannot wait. */
    CHECK_EQ(corio_fd_copy(NULL, NULL, NULL), CORIO_EWRONGCTX);
}

/* ---- interrupted: counts tell how far it got; nothing leaks ----------------- */

static int stuck_copy(void *arg)
{
    corio_fd **fds = arg;
    uint64_t n = 99;
    int rc = corio_fd_copy(fds[0], fds[1], &n);
    CHECK_EQ(rc, CORIO_ECANCELED);
    CHECK_EQ(n, 5u); /* the five bytes sent before the wait */
    return 0;
}

static int interrupted_main(void *arg)
{
    (void)arg;
    corio_fd *ar, *aw, *br, *bw;
    open_pipe(&ar, &aw);
    open_pipe(&br, &bw);
    CHECK_EQ(corio_fd_write(aw, "hello", 5), 5);
    corio_fd *fds[2] = {ar, bw};
    corio_task *t;
    CHECK_EQ(corio_spawn(stuck_copy, fds, &t), 0);
    char got[5];
    CHECK_EQ(corio_fd_read(br, got, 5), 5); /* through; now the copy waits */
    CHECK_EQ(memcmp(got, "hello", 5), 0);
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0);

    /* The future form loses a select against a timer: dropped, with its
     * buffer and its waiter (ASan would see a leak). */
    corio_fd_copy_fut cf;
    corio_fd_copy_fut_init(&cf, ar, bw);
    corio_sleep_fut sf;
    corio_sleep_fut_init(&sf, CORIO_MSEC(20));
    corio_future *branches[2] = {&cf.base, &sf.base};
    size_t which = 9;
    CHECK_EQ(corio_select(branches, 2, &which), 0);
    CHECK_EQ(which, 1u);
    CHECK_EQ(cf.a_to_b, 0u);
    /* And the bidirectional form, over a socket pair whose far ends stay
     * silent. */
    corio_unix *x, *xp, *y, *yp;
    CHECK_EQ(corio_unix_pair(&x, &xp), 0);
    CHECK_EQ(corio_unix_pair(&y, &yp), 0);
    corio_fd_copy_bidirectional_fut_init(&cf, corio_unix_as_fd(xp), corio_unix_as_fd(yp));
    corio_sleep_fut_init(&sf, CORIO_MSEC(20));
    CHECK_EQ(corio_select(branches, 2, &which), 0);
    CHECK_EQ(which, 1u);
    corio_unix_close(x);
    corio_unix_close(xp);
    corio_unix_close(y);
    corio_unix_close(yp);
    corio_fd_close(ar);
    corio_fd_close(aw);
    corio_fd_close(br);
    corio_fd_close(bw);
    return 0;
}

TEST(io_copy_interrupted_reports_its_counts_and_leaks_nothing)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, interrupted_main, NULL), 0);
}

/* ---- the budget: a copy between fds that stay ready lets others run ------ */

typedef struct budget_ctx {
    corio_fd_copy_fut *cf;
    uint64_t seen; /* the copy's count when the other task first ran */
    bool ran;
} budget_ctx;

static int observer(void *arg)
{
    budget_ctx *b = arg;
    b->seen = b->cf->a_to_b;
    b->ran = true;
    return 0;
}

static int sink(void *arg)
{
    char buf[16384];
    while (corio_fd_read(arg, buf, sizeof buf) > 0)
        ;
    return 0;
}

static int budget_main(void *arg)
{
    (void)arg;
    corio_unix *sw, *sr, *dw, *dr;
    CHECK_EQ(corio_unix_pair(&sw, &sr), 0);
    CHECK_EQ(corio_unix_pair(&dw, &dr), 0);
    /* As much as the source socket holds, written without waiting. */
    static char chunk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(corio_fd_raw(corio_unix_as_fd(sw)), chunk, sizeof chunk);
        if (n < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        total += (size_t)n;
    }
    CHECK_EQ(corio_unix_shutdown(sw, SHUT_WR), 0);
    corio_fd_copy_fut cf;
    corio_fd_copy_fut_init(&cf, corio_unix_as_fd(sr), corio_unix_as_fd(dw));
    budget_ctx b = {.cf = &cf};
    corio_task *o, *s;
    CHECK_EQ(corio_spawn(observer, &b, &o), 0);
    CHECK_EQ(corio_spawn(sink, corio_unix_as_fd(dr), &s), 0);
    CHECK_EQ(corio_await(&cf.base), 0);
    CHECK_EQ(cf.base.result, 0);
    CHECK_EQ(cf.a_to_b, (uint64_t)total);
    CHECK(b.ran);
    /* The other tasks ran after at most 16 buffers, not once the source
     * ran dry (it held more: the buffers of a socket pair hold some
     * 200 KiB on Linux's defaults). */
    CHECK(total > 16u * CORIO_COPY_BUF); /* or the test proves nothing */
    CHECK(b.seen <= 16u * CORIO_COPY_BUF);
    CHECK_EQ(join_rc(o), 0);
    CHECK_EQ(corio_unix_close(dw), 0); /* the sink's end of file */
    CHECK_EQ(join_rc(s), 0);
    corio_unix_close(sw);
    corio_unix_close(sr);
    corio_unix_close(dr);
    return 0;
}

TEST(io_copy_yields_after_its_budget)
{
    CHECK_EQ(run_main_flavor(0, budget_main, NULL), 0);
}
