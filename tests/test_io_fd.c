/* Tests of corio/io.h: any fd as an async one, and the reactor under it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

static void make_pipe(int p[2])
{
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
}

/* ---- opening ---------------------------------------------------------------- */

/* A blocking-pool job is plain code: it cannot register fds. */
static int open_in_pool_job(void *arg)
{
    int *p = arg;
    corio_fd *f;
    return corio_fd_open(p[0], &f);
}

static int open_errors_main(void *arg)
{
    (void)arg;
    corio_fd *f = NULL;
    CHECK_EQ(corio_fd_open(-1, &f), -EINVAL);
    CHECK_EQ(corio_fd_open(0, NULL), -EINVAL);
    int p[2];
    make_pipe(p);
    close(p[1]);
    CHECK_EQ(corio_fd_open(p[1], &f), -EBADF); /* closed */
    int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    CHECK(file >= 0);
    CHECK_EQ(corio_fd_open(file, &f), -EPERM); /* a regular file */
    int fl = fcntl(file, F_GETFL);
    CHECK(!(fl & O_NONBLOCK)); /* left as it was */
    close(file);
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK_EQ(corio_fd_open(dir, &f), -EPERM);
    close(dir);
    corio_task *job;
    int p2[2], jr = 0;
    make_pipe(p2);
    CHECK_EQ(corio_spawn_blocking(open_in_pool_job, p2, &job), 0);
    CHECK_EQ(corio_task_join(job, &jr), 0);
    CHECK_EQ(jr, CORIO_EWRONGCTX);
    close(p2[0]);
    close(p2[1]);
    CHECK_EQ(corio_fd_open(p[0], &f), 0);
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CHECK_EQ(corio_fd_raw(f), p[0]);
    CHECK_EQ(corio_fd_close(f), 0);
    CHECK_EQ(fcntl(p[0], F_GETFD), -1); /* closed with it */
    /* NULL answers (docs/conventions.md) */
    CHECK_EQ(corio_fd_close(NULL), 0);
    int rfd = 5;
    CHECK_EQ(corio_fd_release(NULL, &rfd), -EINVAL);
    CHECK_EQ(rfd, -1);
    CHECK_EQ(corio_fd_raw(NULL), -1);
    char b;
    CHECK_EQ(corio_fd_read(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_fd_write(NULL, &b, 1), -EINVAL);
    CHECK_EQ(corio_fd_wait(NULL, CORIO_READABLE, NULL), -EINVAL);
    corio_fd_clear_ready(NULL, NULL, CORIO_READABLE);
    return 0;
}

TEST(io_fd_open_errors_and_null_answers)
{
    CHECK_EQ(run_main(open_errors_main, NULL), 0);
    /* No runtime: plain code. */
    int p[2];
    make_pipe(p);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(p[0], &f), CORIO_EWRONGCTX);
    close(p[0]);
    close(p[1]);
}

static int release_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(p[0], &f), 0);
    CHECK_EQ(corio_fd_release(f, NULL), -EINVAL); /* nothing changes */
    int rfd = -1;
    CHECK_EQ(corio_fd_release(f, &rfd), 0);
    CHECK_EQ(rfd, p[0]);
    CHECK(fcntl(p[0], F_GETFD) >= 0); /* still open, the caller's again */
    /* and can be registered again */
    CHECK_EQ(corio_fd_open(p[0], &f), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    char c;
    CHECK_EQ(corio_fd_read(f, &c, 1), 1);
    corio_fd_close(f);
    close(p[1]);
    return 0;
}

TEST(io_fd_release_gives_the_fd_back_open)
{
    CHECK_EQ(run_main(release_main, NULL), 0);
}

/* ---- reading and writing a pipe ------------------------------------------------ */

typedef struct pipe_pair {
    corio_fd *r, *w;
    int raw_w;
} pipe_pair;

static int late_writer(void *arg)
{
    pipe_pair *pp = arg;
    corio_sleep(CORIO_MSEC(20));
    CHECK_EQ(corio_fd_write(pp->w, "hello", 5), 5);
    return 0;
}

static int pipe_read_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    pipe_pair pp;
    CHECK_EQ(corio_fd_open(p[0], &pp.r), 0);
    CHECK_EQ(corio_fd_open(p[1], &pp.w), 0);
    /* Before the spawn: on the multi-thread runtime the writer may start
     * its 20 ms at once on another worker. */
    double t0 = mono_ms();
    corio_task *t;
    CHECK_EQ(corio_spawn(late_writer, &pp, &t), 0);
    char buf[16];
    CHECK_EQ(corio_fd_read(pp.r, buf, sizeof buf), 5); /* waits for the writer */
    CHECK(mono_ms() - t0 >= 15);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(join_rc(t), 0);
    /* EOF once the write end is closed */
    CHECK_EQ(corio_fd_close(pp.w), 0);
    CHECK_EQ(corio_fd_read(pp.r, buf, sizeof buf), 0);
    CHECK_EQ(corio_fd_read(pp.r, buf, 0), 0);
    corio_fd_close(pp.r);
    return 0;
}

TEST(io_fd_read_waits_for_data_then_sees_eof)
{
    CHECK_EQ(run_main(pipe_read_main, NULL), 0);
}

TEST(io_fd_read_waits_for_data_multi_thread)
{
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, pipe_read_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* A full pipe: the writer waits until the reader makes room. */
typedef struct bulk {
    corio_fd *f;
    size_t total;
    uint64_t sum;
} bulk;

static int bulk_reader(void *arg)
{
    bulk *b = arg;
    unsigned char buf[4096];
    for (;;) {
        ssize_t n = corio_fd_read(b->f, buf, sizeof buf);
        CHECK(n >= 0);
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++)
            b->sum += buf[i];
        b->total += (size_t)n;
        if (b->total % 65536 < 4096)
            corio_sleep(CORIO_MSEC(1)); /* a slow reader now and then */
    }
}

static int bulk_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    bulk rd = {0};
    corio_fd *w;
    CHECK_EQ(corio_fd_open(p[0], &rd.f), 0);
    CHECK_EQ(corio_fd_open(p[1], &w), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(bulk_reader, &rd, &t), 0);
    size_t len = 4u << 20; /* far more than a pipe holds */
    unsigned char *data = malloc(len);
    uint64_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += data[i] = (unsigned char)(i * 7 + (i >> 12));
    size_t done = 0, short_writes = 0;
    while (done < len) {
        ssize_t n = corio_fd_write(w, data + done, len - done);
        CHECK(n > 0);
        if ((size_t)n < len - done)
            short_writes++;
        done += (size_t)n;
    }
    CHECK(short_writes > 0);
    corio_fd_close(w);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(rd.total, len);
    CHECK(rd.sum == sum);
    free(data);
    corio_fd_close(rd.f);
    return 0;
}

TEST(io_fd_writer_waits_for_room_and_nothing_is_lost)
{
    CHECK_EQ(run_main(bulk_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, bulk_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- readiness --------------------------------------------------------------------- */

static void *thread_write_eventfd(void *arg)
{
    sleep_ms(30);
    uint64_t one = 1;
    CHECK_EQ(write(*(int *)arg, &one, 8), 8);
    return NULL;
}

static int wait_clear_main(void *arg)
{
    (void)arg;
    int efd = eventfd(0, EFD_CLOEXEC);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(efd, &f), 0);
    /* Writable at once (the counter has room); the first wait for reading
     * finds the registration's optimistic start, the read says EAGAIN. */
    corio_fd_ready ready;
    CHECK_EQ(corio_fd_wait(f, CORIO_WRITABLE, &ready), 0);
    CHECK(ready.dirs & CORIO_WRITABLE);
    CHECK(!(ready.dirs & CORIO_READABLE)); /* not asked for */
    pthread_t th;
    int rounds = 0;
    uint64_t v = 0;
    CHECK_EQ(pthread_create(&th, NULL, thread_write_eventfd, &efd), 0);
    for (;;) {
        CHECK_EQ(corio_fd_wait(f, CORIO_READABLE, &ready), 0);
        CHECK(ready.dirs & CORIO_READABLE);
        rounds++;
        if (read(efd, &v, 8) == 8)
            break;
        CHECK_EQ(errno, EAGAIN);
        corio_fd_clear_ready(f, &ready, CORIO_READABLE);
    }
    CHECK_EQ(v, 1);
    CHECK(rounds >= 2 && rounds <= 3); /* it waited for the thread's write */
    pthread_join(th, NULL);
    CHECK_EQ(corio_fd_wait(f, 0, &ready), -EINVAL);
    corio_fd_close(f);
    return 0;
}

TEST(io_fd_wait_and_clear_ready_follow_a_foreign_thread_write)
{
    CHECK_EQ(run_main(wait_clear_main, NULL), 0);
}

/* Clearing with a stale readiness must not lose an event that came since. */
static int stale_clear_main(void *arg)
{
    (void)arg;
    int efd = eventfd(0, EFD_CLOEXEC);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(efd, &f), 0);
    corio_fd_ready first;
    CHECK_EQ(corio_fd_wait(f, CORIO_READABLE, &first), 0); /* optimistic start */
    uint64_t v;
    CHECK_EQ(read(efd, &v, 8), -1); /* EAGAIN: nothing yet */
    /* An event arrives after "our read" but before we clear. */
    uint64_t one = 1;
    CHECK_EQ(write(efd, &one, 8), 8);
    settle(); /* the runtime's turns record it (a new tick) */
    corio_sleep(CORIO_MSEC(5));
    corio_fd_clear_ready(f, &first, CORIO_READABLE); /* stale: must be ignored */
    corio_fd_ready again;
    corio_fd_wait_fut w;
    corio_fd_wait_fut_init(&w, f, CORIO_READABLE);
    CHECK_EQ(corio_timeout(&w.base, CORIO_SEC(2)), 0); /* ready at once, not a hang */
    CHECK_EQ(w.base.result, 0);
    again = w.ready;
    CHECK(again.dirs & CORIO_READABLE);
    CHECK_EQ(read(efd, &v, 8), 8);
    corio_fd_close(f);
    return 0;
}

TEST(io_fd_clear_with_a_stale_readiness_loses_no_event)
{
    CHECK_EQ(run_main(stale_clear_main, NULL), 0);
}

/* Many tasks wait on one fd: one event wakes all of them. */
typedef struct many {
    corio_fd *f;
    atomic_int woke;
} many;

static int wait_readable(void *arg)
{
    many *m = arg;
    corio_fd_ready r;
    int rc = corio_fd_wait(m->f, CORIO_READABLE, &r);
    if (rc == 0 && (r.dirs & CORIO_READABLE))
        atomic_fetch_add(&m->woke, 1);
    return rc;
}

static int many_waiters_main(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    int efd = eventfd(0, EFD_CLOEXEC);
    many m = {0};
    CHECK_EQ(corio_fd_open(efd, &m.f), 0);
    /* Start not readable: a read that says EAGAIN clears the optimistic bit.
     * The clear is ignored when any event (here the registration's first
     * EPOLLOUT, which a slow machine records between our wait and our
     * clear) came since the wait: the header's rule. So repeat the
     * wait/read/clear cycle until a wait really blocks. */
    uint64_t v;
    for (int tries = 0;; tries++) {
        CHECK(tries < 100);
        corio_fd_wait_fut w;
        corio_fd_wait_fut_init(&w, m.f, CORIO_READABLE);
        int rc = corio_timeout(&w.base, CORIO_MSEC(10));
        if (rc == CORIO_ETIMEDOUT)
            break;
        CHECK_EQ(rc, 0);
        CHECK_EQ(w.base.result, 0);
        CHECK_EQ(read(efd, &v, 8), -1);
        corio_fd_clear_ready(m.f, &w.ready, CORIO_READABLE);
    }
    corio_task **ts = calloc(n, sizeof *ts);
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ(corio_spawn(wait_readable, &m, &ts[i]), 0);
    corio_sleep(CORIO_MSEC(20));
    CHECK_EQ(atomic_load(&m.woke), 0);
    uint64_t one = 1;
    CHECK_EQ(write(efd, &one, 8), 8);
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    CHECK_EQ(atomic_load(&m.woke), (int)n);
    free(ts);
    corio_fd_close(m.f);
    return 0;
}

TEST(io_fd_one_event_wakes_every_waiter)
{
    CHECK_EQ(run_main(many_waiters_main, (void *)(uintptr_t)100), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, many_waiters_main, (void *)(uintptr_t)100, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- cancellation and deadlines ---------------------------------------------------- */

typedef struct cancel_case {
    corio_fd *f;
    atomic_int cleanup;
    atomic_int aborted; /* set by the test once corio_task_abort has returned */
    ssize_t rc;
} cancel_case;

static int blocked_reader(void *arg)
{
    cancel_case *c = arg;
    char b[8];
    c->rc = corio_fd_read(c->f, b, sizeof b);
    atomic_fetch_add(&c->cleanup, 1);
    return 0;
}

/* Reads only once the test has aborted it. On the multi-thread runtime another worker
 * may start the task before the abort, and a read that found data at once would then
 * (rightly) return it; spinning until the abort guarantees the read starts cancelled. */
static int reader_after_abort(void *arg)
{
    cancel_case *c = arg;
    while (!atomic_load(&c->aborted))
        ;
    char b[8];
    c->rc = corio_fd_read(c->f, b, sizeof b);
    return 0;
}

static int read_deadline(void *arg)
{
    cancel_case *c = arg;
    char b[8];
    return (int)corio_fd_read(c->f, b, sizeof b);
}

static int cancel_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    cancel_case c = {0};
    CHECK_EQ(corio_fd_open(p[0], &c.f), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(blocked_reader, &c, &t), 0);
    corio_sleep(CORIO_MSEC(10));
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(c.rc, CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&c.cleanup), 1);
    /* A deadline scope around a read. */
    int res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), read_deadline, &c, &res), CORIO_ETIMEDOUT);
    /* Neither consumed anything: the next byte is the first written. */
    CHECK_EQ(write(p[1], "AB", 2), 2);
    char b[4];
    CHECK_EQ(corio_fd_read(c.f, b, 1), 1);
    CHECK_EQ(b[0], 'A');
    /* A read already cancelled returns at once, though data is waiting. */
    c.rc = 0;
    CHECK_EQ(corio_spawn(reader_after_abort, &c, &t), 0);
    corio_task_abort(t);
    atomic_store(&c.aborted, 1);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(c.rc, CORIO_ECANCELED);
    CHECK_EQ(corio_fd_read(c.f, b, 4), 1);
    CHECK_EQ(b[0], 'B');
    corio_fd_close(c.f);
    close(p[1]);
    return 0;
}

TEST(io_fd_cancelled_or_timed_out_read_consumes_nothing)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, cancel_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* In plain code and in poll functions the waiting calls refuse. */
static int read_one(void *arg)
{
    char b;
    return (int)corio_fd_read(arg, &b, 1);
}

static int wrongctx_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(p[0], &f), 0);
    CHECK_EQ(run_in_poll(read_one, f), CORIO_EWRONGCTX);
    corio_fd_close(f);
    close(p[1]);
    return 0;
}

TEST(io_fd_waiting_calls_refuse_stackless_poll_functions)
{
    CHECK_EQ(run_main(wrongctx_main, NULL), 0);
}

/* ---- the future forms -------------------------------------------------------------- */

static int futures_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    corio_fd *r, *w;
    CHECK_EQ(corio_fd_open(p[0], &r), 0);
    CHECK_EQ(corio_fd_open(p[1], &w), 0);
    char buf[8];
    corio_fd_io_fut rf;
    corio_fd_read_fut_init(&rf, r, buf, sizeof buf);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT); /* dropped */
    corio_fd_io_fut wf;
    corio_fd_write_fut_init(&wf, w, "xyz", 3);
    CHECK_EQ(corio_await(&wf.base), 0);
    CHECK_EQ(wf.base.result, 3);
    corio_fd_read_fut_init(&rf, r, buf, sizeof buf);
    CHECK_EQ(corio_await(&rf.base), 0);
    CHECK_EQ(rf.base.result, 3);
    CHECK(memcmp(buf, "xyz", 3) == 0);
    corio_fd_read_fut_init(&rf, NULL, buf, 1);
    CHECK_EQ(corio_await(&rf.base), 0);
    CHECK_EQ(rf.base.result, -EINVAL);
    corio_fd_close(r);
    corio_fd_close(w);
    return 0;
}

TEST(io_fd_future_forms)
{
    CHECK_EQ(run_main(futures_main, NULL), 0);
}

/* A read of len 0 returns 0 at once (read(2)'s rule), the future at its
 * first poll, without waiting for readiness. Before, on a pipe whose
 * readiness a short read had drained, both waited for the next byte. */
static int read_nothing(void *arg)
{
    char b;
    return (int)corio_fd_read(arg, &b, 0);
}

static int zero_len_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    corio_fd *r;
    CHECK_EQ(corio_fd_open(p[0], &r), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    char b[8];
    CHECK_EQ(corio_fd_read(r, b, sizeof b), 1); /* short: readiness drained */
    int res = 99;
    CHECK_EQ(corio_timeout_call(CORIO_SEC(1), read_nothing, r, &res), 0);
    CHECK_EQ(res, 0);
    corio_fd_io_fut rf;
    corio_fd_read_fut_init(&rf, r, b, 0);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_SEC(1)), 0);
    CHECK_EQ(rf.base.result, 0);
    CHECK_EQ(write(p[1], "y", 1), 1); /* nothing was consumed */
    CHECK_EQ(corio_fd_read(r, b, sizeof b), 1);
    CHECK_EQ(b[0], 'y');
    corio_fd_close(r);
    close(p[1]);
    return 0;
}

TEST(io_fd_zero_length_read_returns_at_once)
{
    CHECK_EQ(run_main(zero_len_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, zero_len_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* A short read drains a pipe or a stream socket, not a datagram socket (one
 * datagram a read, more may be queued) nor a terminal (one line a read):
 * there the next read must still find what is queued, not wait for an edge
 * that never comes. */
static int read_big(void *arg)
{
    char b[64];
    return (int)corio_fd_read(arg, b, sizeof b);
}

static int short_read_main(void *arg)
{
    (void)arg;
    char b[64];
    int res;
    /* a datagram socket opened as an fd */
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    corio_fd *f;
    CHECK_EQ(corio_fd_open(sv[0], &f), 0);
    CHECK_EQ(send(sv[1], "one", 3, 0), 3);
    CHECK_EQ(send(sv[1], "three", 5, 0), 5);
    CHECK_EQ(corio_fd_read(f, b, sizeof b), 3);
    res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_SEC(5), read_big, f, &res), 0);
    CHECK_EQ(res, 5);
    corio_fd_io_fut rf; /* the future form too */
    CHECK_EQ(send(sv[1], "ab", 2, 0), 2);
    CHECK_EQ(send(sv[1], "cde", 3, 0), 3);
    CHECK_EQ(corio_fd_read(f, b, sizeof b), 2);
    corio_fd_read_fut_init(&rf, f, b, sizeof b);
    CHECK_EQ(corio_timeout(&rf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(rf.base.result, 3);
    corio_fd_close(f);
    close(sv[1]);
    /* a UDP socket's own fd */
    corio_udp *u, *v;
    corio_addr ua;
    CHECK_EQ(corio_udp_bind("127.0.0.1:0", &u), 0);
    CHECK_EQ(corio_udp_bind("127.0.0.1:0", &v), 0);
    CHECK_EQ(corio_udp_local_addr(u, &ua), 0);
    CHECK_EQ(corio_udp_send_to(v, "a", 1, &ua), 1);
    CHECK_EQ(corio_udp_send_to(v, "bb", 2, &ua), 2);
    sleep_ms(5); /* loopback delivers at once; a margin all the same */
    CHECK_EQ(corio_fd_read(corio_udp_as_fd(u), b, sizeof b), 1);
    res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_SEC(5), read_big, corio_udp_as_fd(u), &res), 0);
    CHECK_EQ(res, 2);
    corio_udp_close(u);
    corio_udp_close(v);
    /* a terminal in canonical mode: a read returns one line */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0) {
        int t = open(ptsname(m), O_RDWR | O_NOCTTY);
        CHECK(t >= 0);
        CHECK_EQ(corio_fd_open(t, &f), 0);
        CHECK_EQ(write(m, "l1\nl2\n", 6), 6);
        CHECK_EQ(corio_fd_read(f, b, sizeof b), 3); /* "l1\n": one line */
        CHECK(memcmp(b, "l1\n", 3) == 0);
        res = 0;
        CHECK_EQ(corio_timeout_call(CORIO_SEC(5), read_big, f, &res), 0);
        CHECK_EQ(res, 3);
        corio_fd_close(f);
    }
    if (m >= 0)
        close(m);
    return 0;
}

TEST(io_fd_short_read_of_a_datagram_socket_or_terminal_keeps_readiness)
{
    CHECK_EQ(run_main(short_read_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, short_read_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- whose driver wakes whom ----------------------------------------------------------- */

/* Only the driver of the runtime an fd was opened on reports its readiness
 * (corio/io.h, Threads): a task of another runtime waiting on the fd of an
 * idle current-thread runtime is not woken by data, only once a thread
 * drives that runtime again - or, when it is freed, with CORIO_ESHUTDOWN. */
typedef struct foreign {
    int p[2];
    corio_fd *f;
    ssize_t n;
    atomic_int started;
} foreign;

static int open_foreign(void *arg)
{
    foreign *x = arg;
    CHECK_EQ(corio_fd_open(x->p[0], &x->f), 0);
    return 0;
}

static int read_foreign(void *arg)
{
    foreign *x = arg;
    char b;
    atomic_store(&x->started, 1);
    x->n = corio_fd_read(x->f, &b, 1);
    return 0;
}

/* Start a reader of x on runtime `rt` and let it reach its wait. */
static corio_task *start_foreign_reader(foreign *x, corio_rt *rt)
{
    x->n = 99;
    atomic_store(&x->started, 0);
    corio_spawn_opts o = {.rt = rt};
    corio_task *t;
    CHECK_EQ(corio_spawn_with(&o, read_foreign, x, &t), 0);
    while (!atomic_load(&x->started))
        sleep_ms(1);
    sleep_ms(20);
    return t;
}

static int nap(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_MSEC(20));
    return 0;
}

TEST(io_fd_is_woken_by_the_driver_of_its_own_runtime)
{
    foreign x = {.n = 99};
    make_pipe(x.p);
    corio_rt *a = new_rt(), *b = new_mt_rt(1);
    int rc;
    CHECK_EQ(corio_rt_block_on(a, open_foreign, &x, &rc), 0);
    corio_task *t = start_foreign_reader(&x, b);
    CHECK_EQ(write(x.p[1], "q", 1), 1);
    sleep_ms(100);
    CHECK(!corio_task_is_finished(t)); /* nobody drives a: no wake */
    CHECK_EQ(corio_rt_block_on(a, nap, NULL, &rc), 0); /* a's driver sees it */
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(x.n, 1);
    /* Waiting again, on an empty pipe: freeing a ends the wait. */
    t = start_foreign_reader(&x, b);
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(corio_rt_free(a), 0);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(x.n, CORIO_ESHUTDOWN);
    CHECK_EQ(corio_rt_free(b), 0);
    char c;
    CHECK_EQ(corio_fd_read(x.f, &c, 1), CORIO_EWRONGCTX); /* plain code */
    CHECK_EQ(corio_fd_close(x.f), 0);
    close(x.p[1]);
}

/* ---- a busy runtime still sees I/O --------------------------------------------------- */

typedef struct busy {
    corio_fd *f;
    atomic_int got;
} busy;

static int busy_reader(void *arg)
{
    busy *b = arg;
    char c;
    CHECK_EQ(corio_fd_read(b->f, &c, 1), 1);
    atomic_store(&b->got, 1);
    return 0;
}

static void *thread_write_pipe(void *arg)
{
    sleep_ms(20);
    CHECK_EQ(write(*(int *)arg, "!", 1), 1);
    return NULL;
}

static int busy_main(void *arg)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    busy b = {0};
    CHECK_EQ(corio_fd_open(p[0], &b.f), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(busy_reader, &b, &t), 0);
    corio_yield(); /* the reader waits now */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_write_pipe, &p[1]), 0);
    /* Never idle (the run queue is never empty, so the runtime never parks):
     * only the turns every event_interval polls can deliver the event. */
    double t0 = mono_ms();
    while (!atomic_load(&b.got)) {
        corio_yield();
        CHECK(mono_ms() - t0 < 10000);
    }
    pthread_join(th, NULL);
    CHECK_EQ(join_rc(t), 0);
    corio_fd_close(b.f);
    close(p[1]);
    return 0;
}

TEST(io_busy_runtime_still_polls_io)
{
    CHECK_EQ(run_main(busy_main, NULL), 0);
    corio_rt *rt = new_mt_rt(1);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, busy_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- an fd that outlives its runtime ------------------------------------------------- */

static int open_and_keep(void *arg)
{
    int *p = arg;
    corio_fd *f;
    CHECK_EQ(corio_fd_open(p[0], &f), 0);
    *(corio_fd **)(p + 2) = f;
    return 0;
}

static int use_dead(void *arg)
{
    corio_fd *f = arg;
    char b;
    CHECK_EQ(corio_fd_read(f, &b, 1), CORIO_ESHUTDOWN);
    CHECK_EQ(corio_fd_wait(f, CORIO_READABLE, NULL), CORIO_ESHUTDOWN);
    return 0;
}

TEST(io_fd_outliving_its_runtime_reports_shutdown_and_closes)
{
    int p[4]; /* p[0..1] the pipe, p[2..3] room for the pointer */
    make_pipe(p);
    CHECK_EQ(run_main(open_and_keep, p), 0);
    corio_fd *f = *(corio_fd **)(p + 2);
    CHECK_EQ(run_main(use_dead, f), 0); /* from another runtime's task */
    CHECK_EQ(corio_fd_close(f), 0);     /* plain code, runtime gone */
    close(p[1]);
}

/* ---- opening an fd while the runtime shuts down --------------------------------- */

typedef struct {
    int fd_rc, fd_flags_before, fd_flags_after, listen_rc, pair_rc;
    corio_fd *f;
    corio_tcp_listener *l;
    corio_unix *ua, *ub;
    atomic_int started; /* written by one task, read by another */
} late_open;

/* Waits until the runtime's shutdown cancels it, then, in its cleanup,
 * tries to register new fds: a runtime that takes no new task takes no new
 * fd either (corio_fd_open's CORIO_ESHUTDOWN). Each used to succeed,
 * registering with a reactor that every wait would find doomed. */
static int open_in_cleanup(void *arg)
{
    late_open *lo = arg;
    atomic_store(&lo->started, 1);
    CHECK_EQ(corio_sleep(CORIO_SEC(1000)), CORIO_ECANCELED);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    lo->fd_flags_before = fcntl(p[0], F_GETFL);
    lo->fd_rc = corio_fd_open(p[0], &lo->f);
    lo->fd_flags_after = fcntl(p[0], F_GETFL); /* left as it was, still ours */
    close(p[0]);
    close(p[1]);
    lo->listen_rc = corio_tcp_listen("127.0.0.1:0", 4, &lo->l);
    lo->pair_rc = corio_unix_pair(&lo->ua, &lo->ub);
    return 0;
}

static int late_open_main(void *arg)
{
    CHECK_EQ(corio_spawn(open_in_cleanup, arg, NULL), 0);
    while (!atomic_load(&((late_open *)arg)->started))
        CHECK_EQ(corio_yield(), 0);
    return 0;
}

TEST(io_fd_open_during_shutdown_is_eshutdown)
{
    for (int mt = 0; mt < 2; mt++) {
        late_open lo;
        memset(&lo, 0, sizeof lo);
        corio_rt_builder b = flavor_builder(mt);
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        int r;
        CHECK_EQ(corio_rt_block_on(rt, late_open_main, &lo, &r), 0);
        CHECK_EQ(corio_rt_free(rt), 0); /* cancels open_in_cleanup */
        CHECK_EQ(lo.fd_rc, CORIO_ESHUTDOWN);
        CHECK(lo.f == NULL);
        CHECK_EQ(lo.fd_flags_after, lo.fd_flags_before);
        CHECK_EQ(lo.listen_rc, CORIO_ESHUTDOWN);
        CHECK(lo.l == NULL);
        CHECK_EQ(lo.pair_rc, CORIO_ESHUTDOWN);
        CHECK(lo.ua == NULL && lo.ub == NULL);
    }
}

/* ---- stress: many pipes, ping-pong across workers ---------------------------------------- */

typedef struct pp_end {
    corio_fd *in, *out;
    int rounds;
} pp_end;

static int pinger(void *arg)
{
    pp_end *e = arg;
    unsigned char v = 0;
    for (int i = 0; i < e->rounds; i++) {
        CHECK_EQ(corio_fd_write(e->out, &v, 1), 1);
        CHECK_EQ(corio_fd_read(e->in, &v, 1), 1);
        v++;
    }
    return 0;
}

static int ponger(void *arg)
{
    pp_end *e = arg;
    unsigned char v;
    for (int i = 0; i < e->rounds; i++) {
        CHECK_EQ(corio_fd_read(e->in, &v, 1), 1);
        CHECK_EQ(v, (unsigned char)i);
        CHECK_EQ(corio_fd_write(e->out, &v, 1), 1);
    }
    return 0;
}

static int stress_main(void *arg)
{
    (void)arg;
    int pairs = SCALE(64, 32, 16), rounds = SCALE(2000, 500, 200);
    pp_end *ends = calloc((size_t)pairs * 2, sizeof *ends);
    corio_task **ts = calloc((size_t)pairs * 2, sizeof *ts);
    for (int i = 0; i < pairs; i++) {
        int a[2], b[2];
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
        (void)b;
        pp_end *x = &ends[2 * i], *y = &ends[2 * i + 1];
        CHECK_EQ(corio_fd_open(a[0], &x->in), 0);
        x->out = x->in;
        CHECK_EQ(corio_fd_open(a[1], &y->in), 0);
        y->out = y->in;
        x->rounds = y->rounds = rounds;
        CHECK_EQ(corio_spawn(pinger, x, &ts[2 * i]), 0);
        CHECK_EQ(corio_spawn(ponger, y, &ts[2 * i + 1]), 0);
    }
    for (int i = 0; i < 2 * pairs; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    for (int i = 0; i < 2 * pairs; i++)
        corio_fd_close(ends[i].in);
    free(ends);
    free(ts);
    return 0;
}

TEST_SLOW(io_stress_socketpair_ping_pong_across_workers)
{
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, stress_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(run_main(stress_main, NULL), 0);
}
