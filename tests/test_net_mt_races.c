/* tests/test_net_mt_races.c - TCP on the multi-thread runtime, racing the
 * reactor: full duplex on one stream from tasks on different workers,
 * cancelled and timed-out reads and writes racing readiness, connections
 * closed while another worker's turn delivers their events, accept bursts,
 * and a runtime freed while every worker has connections mid-read.
 *
 * Every test is bounded: a watchdog thread fails it (with the progress made)
 * if it has not finished in time, so a lost wake shows as a failure naming
 * what hung, not as the runner's timeout. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "util_net.h"

/* ---- a watchdog ------------------------------------------------------------------------ */

typedef struct watchdog {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int seconds;
    const char *what;
    _Atomic long *progress; /* printed on a hang */
} watchdog;

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wd->seconds;
    pthread_mutex_lock(&wd->mu);
    while (!wd->done)
        if (pthread_cond_timedwait(&wd->cv, &wd->mu, &until) == ETIMEDOUT && !wd->done)
            test_failf(__FILE__, __LINE__, "%s: hung (progress %ld)", wd->what,
                       wd->progress ? atomic_load(wd->progress) : -1L);
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

static void watchdog_start(watchdog *wd, int seconds, const char *what, _Atomic long *progress)
{
    memset(wd, 0, sizeof *wd);
    pthread_mutex_init(&wd->mu, NULL);
    pthread_cond_init(&wd->cv, NULL);
    wd->seconds = seconds;
    wd->what = what;
    wd->progress = progress;
    CHECK_EQ(pthread_create(&wd->th, NULL, watchdog_main, wd), 0);
}

static void watchdog_stop(watchdog *wd)
{
    pthread_mutex_lock(&wd->mu);
    wd->done = true;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->th, NULL);
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* The byte at offset i of a direction's stream (seeded per direction). */
static inline unsigned char stream_byte(uint32_t seed, uint64_t i)
{
    return (unsigned char)((i * 131u + seed + (i >> 8)) & 0xff);
}

/* A connected pair made from a task: one end connected, the other accepted. */
static void tcp_pair(corio_tcp_listener *l, const char *addr, corio_tcp **a, corio_tcp **b)
{
    CHECK_EQ(corio_tcp_connect(addr, a), 0);
    CHECK_EQ(corio_tcp_accept(l, b), 0);
    CHECK_EQ(corio_tcp_set_nodelay(*a, true), 0);
    CHECK_EQ(corio_tcp_set_nodelay(*b, true), 0);
}

/* ---- full duplex: a reader and a writer task per end ------------------------------------- */

static _Atomic long duplex_progress;

typedef struct duplex_dir {
    corio_tcp *c;
    uint32_t seed;
    uint64_t total;
} duplex_dir;

/* Writes `total` bytes in messages of 1..64 bytes, yielding now and then
 * (so that it moves between workers while its peer reader waits). */
static int duplex_writer(void *arg)
{
    duplex_dir *d = arg;
    unsigned char buf[64];
    uint32_t rnd = d->seed * 2654435761u + 1;
    uint64_t off = 0;
    while (off < d->total) {
        size_t n = 1 + xorshift(&rnd) % sizeof buf;
        if (n > d->total - off)
            n = (size_t)(d->total - off);
        for (size_t i = 0; i < n; i++)
            buf[i] = stream_byte(d->seed, off + i);
        ssize_t w = corio_tcp_write(d->c, buf, n);
        CHECK(w > 0);
        off += (uint64_t)w;
        if ((xorshift(&rnd) & 7) == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

/* Reads until `total` bytes came, in reads of 1..64 bytes, checking each. */
static int duplex_reader(void *arg)
{
    duplex_dir *d = arg;
    unsigned char buf[64];
    uint32_t rnd = d->seed * 40503u + 7;
    uint64_t off = 0;
    while (off < d->total) {
        size_t n = 1 + xorshift(&rnd) % sizeof buf;
        ssize_t r = corio_tcp_read(d->c, buf, n);
        CHECK(r > 0);
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != stream_byte(d->seed, off + (uint64_t)i))
                test_failf(__FILE__, __LINE__, "stream %u: byte %llu wrong", d->seed,
                           (unsigned long long)(off + (uint64_t)i));
        off += (uint64_t)r;
        atomic_fetch_add_explicit(&duplex_progress, r, memory_order_relaxed);
    }
    return 0;
}

static int duplex_main(void *arg)
{
    (void)arg;
    int conns = SCALE(32, 12, 6);
    uint64_t per_dir = SCALE(64 * 1024, 16 * 1024, 4 * 1024);
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_tcp **ends = calloc((size_t)conns * 2, sizeof *ends);
    duplex_dir *dirs = calloc((size_t)conns * 2, sizeof *dirs);
    duplex_dir *rd = calloc((size_t)conns * 2, sizeof *rd);
    corio_task **ts = calloc((size_t)conns * 4, sizeof *ts);
    for (int i = 0; i < conns; i++) {
        tcp_pair(l, addr, &ends[2 * i], &ends[2 * i + 1]);
        for (int k = 0; k < 2; k++) {
            dirs[2 * i + k] = (duplex_dir){ends[2 * i + k], (uint32_t)(2 * i + k + 1), per_dir};
        }
    }
    for (int i = 0; i < conns; i++) {
        /* a -> b: written on a, read on b; b -> a likewise. */
        duplex_dir *ab = &dirs[2 * i], *ba = &dirs[2 * i + 1];
        rd[2 * i] = (duplex_dir){ends[2 * i + 1], ab->seed, per_dir};
        rd[2 * i + 1] = (duplex_dir){ends[2 * i], ba->seed, per_dir};
        CHECK_EQ(corio_spawn(duplex_writer, ab, &ts[4 * i]), 0);
        CHECK_EQ(corio_spawn(duplex_reader, &rd[2 * i], &ts[4 * i + 1]), 0);
        CHECK_EQ(corio_spawn(duplex_writer, ba, &ts[4 * i + 2]), 0);
        CHECK_EQ(corio_spawn(duplex_reader, &rd[2 * i + 1], &ts[4 * i + 3]), 0);
    }
    for (int i = 0; i < conns * 4; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    CHECK_EQ(atomic_load(&duplex_progress), (long)(per_dir * 2 * (uint64_t)conns));
    for (int i = 0; i < 2 * conns; i++)
        CHECK_EQ(corio_tcp_close(ends[i]), 0);
    corio_tcp_listener_close(l);
    free(ends);
    free(dirs);
    free(rd);
    free(ts);
    return 0;
}

TEST(net_mt_full_duplex_reader_and_writer_tasks_on_one_stream_lose_nothing)
{
    int fds0 = count_fds();
    watchdog wd;
    watchdog_start(&wd, UNDER_SAN ? 100 : 30, "full duplex", &duplex_progress);
    for (unsigned workers = 2; workers <= 4; workers += 2) {
        atomic_store(&duplex_progress, 0);
        corio_rt *rt = new_mt_rt(workers);
        int rc;
        CHECK_EQ(corio_rt_block_on(rt, duplex_main, NULL, &rc), 0);
        CHECK_EQ(rc, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
    watchdog_stop(&wd);
    CHECK_EQ(count_fds(), fds0);
}

/* ---- interrupted reads and writes racing readiness --------------------------------------- */

static _Atomic long intr_progress;

typedef struct intr_conn {
    corio_tcp *tx, *rx;
    uint32_t seed;
    uint64_t total;
    uint64_t got;             /* the receiver's offset: one reader task at a time */
    pthread_mutex_t mu;       /* over cur: the aborter uses it under mu */
    corio_task *cur;          /* the reader now running, for the aborter */
    _Atomic int done;
} intr_conn;

/* Sends the stream through write futures under timeouts of 0..30 us: a
 * timed-out write wrote nothing, so the same bytes are sent again. */
static int intr_sender(void *arg)
{
    intr_conn *c = arg;
    corio_fd *f = corio_tcp_as_fd(c->tx);
    unsigned char buf[700];
    uint32_t rnd = c->seed * 7919u + 3;
    uint64_t off = 0;
    while (off < c->total) {
        size_t n = 1 + xorshift(&rnd) % sizeof buf;
        if (n > c->total - off)
            n = (size_t)(c->total - off);
        for (size_t i = 0; i < n; i++)
            buf[i] = stream_byte(c->seed, off + i);
        corio_fd_io_fut wf;
        corio_fd_write_fut_init(&wf, f, buf, n);
        int rc = corio_timeout(&wf.base, CORIO_USEC(xorshift(&rnd) % 30));
        if (rc == CORIO_ETIMEDOUT)
            continue;
        CHECK_EQ(rc, 0);
        CHECK(wf.base.result > 0);
        off += (uint64_t)wf.base.result;
    }
    return 0;
}

static int intr_timed_read(void *arg)
{
    void **a = arg;
    return (int)corio_tcp_read(a[0], a[1], (size_t)(uintptr_t)a[2]);
}

/* Reads until it is aborted or the stream is done: plain reads, reads
 * under corio_timeout and under a deadline scope, all with tiny bounds. */
static int intr_reader(void *arg)
{
    intr_conn *c = arg;
    unsigned char buf[900];
    uint32_t rnd = c->seed * 104729u + (uint32_t)c->got;
    while (c->got < c->total) {
        size_t n = 1 + xorshift(&rnd) % sizeof buf;
        ssize_t r;
        unsigned mode = xorshift(&rnd) % 3;
        if (mode == 0) {
            r = corio_tcp_read(c->rx, buf, n);
        } else if (mode == 1) {
            corio_fd_io_fut rf;
            corio_fd_read_fut_init(&rf, corio_tcp_as_fd(c->rx), buf, n);
            int rc = corio_timeout(&rf.base, CORIO_USEC(xorshift(&rnd) % 30));
            r = rc ? rc : rf.base.result;
        } else {
            void *a[3] = {c->rx, buf, (void *)(uintptr_t)n};
            int res = 0;
            int rc = corio_timeout_call(CORIO_USEC(xorshift(&rnd) % 30), intr_timed_read, a, &res);
            r = rc == 0 ? res : rc == CORIO_ETIMEDOUT ? CORIO_ETIMEDOUT : rc;
            if (rc == CORIO_ETIMEDOUT)
                CHECK_EQ(res, CORIO_ETIMEDOUT); /* the read itself was interrupted */
        }
        if (r == CORIO_ETIMEDOUT)
            continue;
        if (r == CORIO_ECANCELED)
            return 1; /* aborted: the next reader goes on from c->got */
        CHECK(r > 0);
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != stream_byte(c->seed, c->got + (uint64_t)i))
                test_failf(__FILE__, __LINE__, "stream %u: byte %llu wrong (lost or repeated)",
                           c->seed, (unsigned long long)(c->got + (uint64_t)i));
        c->got += (uint64_t)r;
        atomic_fetch_add_explicit(&intr_progress, r, memory_order_relaxed);
    }
    return 0;
}

/* Spawns readers one after another; a plain thread aborts them. */
static int intr_receiver(void *arg)
{
    intr_conn *c = arg;
    while (c->got < c->total) {
        corio_task *t;
        CHECK_EQ(corio_spawn(intr_reader, c, &t), 0);
        pthread_mutex_lock(&c->mu);
        c->cur = t;
        pthread_mutex_unlock(&c->mu);
        /* Not joined before the aborter has let go of the handle. */
        while (!corio_task_is_finished(t))
            CHECK_EQ(corio_sleep(CORIO_USEC(50)), 0);
        pthread_mutex_lock(&c->mu);
        c->cur = NULL;
        pthread_mutex_unlock(&c->mu);
        int res = 0;
        int rc = corio_task_join(t, &res);
        /* Either it finished (0) or it was aborted (at its await, or
         * before it began). */
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
    }
    atomic_store(&c->done, 1);
    return 0;
}

typedef struct intr_ctl {
    intr_conn *conns;
    int n;
    _Atomic int stop;
} intr_ctl;

/* Aborts the running reader of a random connection every 20..120 us,
 * from a plain thread. */
static void *intr_aborter(void *arg)
{
    intr_ctl *ctl = arg;
    uint32_t rnd = 12345;
    while (!atomic_load(&ctl->stop)) {
        intr_conn *c = &ctl->conns[xorshift(&rnd) % (unsigned)ctl->n];
        pthread_mutex_lock(&c->mu);
        if (c->cur)
            corio_task_abort(c->cur);
        pthread_mutex_unlock(&c->mu);
        usleep(20 + xorshift(&rnd) % 100);
    }
    return NULL;
}

static int intr_main(void *arg)
{
    intr_ctl *ctl = arg;
    char addr[CORIO_ADDR_STRLEN];
    corio_tcp_listener *l = net_listen_any(addr);
    corio_task **ts = calloc((size_t)ctl->n * 2, sizeof *ts);
    for (int i = 0; i < ctl->n; i++) {
        intr_conn *c = &ctl->conns[i];
        tcp_pair(l, addr, &c->tx, &c->rx);
        /* Small buffers: the sender fills them and waits for room. */
        int sz = 4096;
        CHECK_EQ(setsockopt(corio_fd_raw(corio_tcp_as_fd(c->tx)), SOL_SOCKET, SO_SNDBUF, &sz,
                            sizeof sz), 0);
        CHECK_EQ(setsockopt(corio_fd_raw(corio_tcp_as_fd(c->rx)), SOL_SOCKET, SO_RCVBUF, &sz,
                            sizeof sz), 0);
    }
    for (int i = 0; i < ctl->n; i++) {
        CHECK_EQ(corio_spawn(intr_sender, &ctl->conns[i], &ts[2 * i]), 0);
        CHECK_EQ(corio_spawn(intr_receiver, &ctl->conns[i], &ts[2 * i + 1]), 0);
    }
    for (int i = 0; i < 2 * ctl->n; i++)
        CHECK_EQ(join_rc(ts[i]), 0);
    for (int i = 0; i < ctl->n; i++) {
        intr_conn *c = &ctl->conns[i];
        CHECK_EQ(c->got, c->total);
        /* Nothing more than the stream was sent. */
        CHECK_EQ(corio_tcp_shutdown(c->tx, SHUT_WR), 0);
        char b;
        CHECK_EQ(corio_tcp_read(c->rx, &b, 1), 0);
        corio_tcp_close(c->tx);
        corio_tcp_close(c->rx);
    }
    corio_tcp_listener_close(l);
    free(ts);
    return 0;
}

TEST(net_mt_interrupted_reads_and_writes_racing_readiness_lose_nothing)
{
    int fds0 = count_fds();
    watchdog wd;
    watchdog_start(&wd, UNDER_SAN ? 100 : 30, "interrupted reads and writes", &intr_progress);
    intr_ctl ctl = {.n = SCALE(8, 4, 3)};
    ctl.conns = calloc((size_t)ctl.n, sizeof *ctl.conns);
    for (int i = 0; i < ctl.n; i++) {
        ctl.conns[i].seed = (uint32_t)(i + 101);
        ctl.conns[i].total = SCALE(48 * 1024, 32 * 1024, 16 * 1024);
        pthread_mutex_init(&ctl.conns[i].mu, NULL);
    }
    pthread_t ab;
    CHECK_EQ(pthread_create(&ab, NULL, intr_aborter, &ctl), 0);
    corio_rt *rt = new_mt_rt(3);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, intr_main, &ctl, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    atomic_store(&ctl.stop, 1);
    pthread_join(ab, NULL);
    watchdog_stop(&wd);
    free(ctl.conns);
    CHECK_EQ(count_fds(), fds0);
}

/* ---- accept bursts, then the runtime freed with every connection mid-read ------------------- */

static _Atomic long acc_accepted, acc_cleaned, acc_acceptors;

typedef struct acc_shared {
    corio_tcp_listener *l;
    char addr[CORIO_ADDR_STRLEN];
    int total; /* connections the clients make */
} acc_shared;

/* A connection's task: reads (and drops) until cancelled by the shutdown,
 * closing its stream on the way out, as a server's handler does. */
static int acc_handler(void *arg)
{
    corio_tcp *c = arg;
    char buf[256];
    ssize_t r;
    while ((r = corio_tcp_read(c, buf, sizeof buf)) > 0)
        ;
    CHECK_EQ(corio_tcp_close(c), 0);
    atomic_fetch_add(&acc_cleaned, 1);
    return 0;
}

/* Several acceptors share the listener; the last to end closes it. */
static int acc_acceptor(void *arg)
{
    acc_shared *sh = arg;
    corio_tcp *c;
    int rc;
    while ((rc = corio_tcp_accept(sh->l, &c)) == 0) {
        corio_task *t;
        CHECK_EQ(corio_spawn(acc_handler, c, &t), 0);
        corio_task_release(t);
        atomic_fetch_add(&acc_accepted, 1);
    }
    CHECK_EQ(rc, CORIO_ECANCELED);
    if (atomic_fetch_sub(&acc_acceptors, 1) == 1)
        CHECK_EQ(corio_tcp_listener_close(sh->l), 0);
    return 0;
}

static int acc_main(void *arg)
{
    acc_shared *sh = arg;
    sh->l = net_listen_any(sh->addr);
    atomic_store(&acc_acceptors, 3);
    for (int i = 0; i < 3; i++) {
        corio_task *t;
        CHECK_EQ(corio_spawn(acc_acceptor, sh, &t), 0);
        corio_task_release(t);
    }
    return 0;
}

typedef struct acc_client {
    acc_shared *sh;
    int n;
    int *fds;
    _Atomic int stop;
} acc_client;

/* Connects its share in bursts, then keeps writing to all of them until
 * told to stop (their events keep coming while the runtime frees). */
static void *acc_client_main(void *arg)
{
    acc_client *cl = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    corio_addr ca;
    CHECK_EQ(corio_addr_parse(cl->sh->addr, &ca), 0);
    memcpy(&sa, &ca.sa, sizeof sa);
    for (int i = 0; i < cl->n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        cl->fds[i] = fd;
        if (i % 16 == 15)
            usleep(500); /* bursts of 16 */
    }
    uint32_t rnd = 99;
    while (!atomic_load(&cl->stop)) {
        int fd = cl->fds[xorshift(&rnd) % (unsigned)cl->n];
        (void)!send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    return NULL;
}

TEST(net_mt_accept_bursts_then_free_with_every_connection_mid_read)
{
    int fds0 = count_fds();
    watchdog wd;
    watchdog_start(&wd, UNDER_SAN ? 100 : 30, "accept bursts and free", &acc_accepted);
    for (unsigned workers = 2; workers <= 4; workers += 2) {
        atomic_store(&acc_accepted, 0);
        atomic_store(&acc_cleaned, 0);
        acc_shared sh = {.total = SCALE(400, 160, 64)};
        corio_rt *rt = new_mt_rt(workers);
        int rc;
        CHECK_EQ(corio_rt_block_on(rt, acc_main, &sh, &rc), 0);
        CHECK_EQ(rc, 0);
        acc_client cl[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            cl[i] = (acc_client){.sh = &sh, .n = sh.total / 2};
            cl[i].fds = calloc((size_t)cl[i].n, sizeof(int));
            CHECK_EQ(pthread_create(&th[i], NULL, acc_client_main, &cl[i]), 0);
        }
        /* Every connection accepted (none taken and dropped). */
        while (atomic_load(&acc_accepted) < sh.total)
            usleep(1000);
        usleep(20000); /* the clients write on: reads wake on every worker */
        CHECK_EQ(corio_rt_free(rt), 0);
        /* Every handler ran its cleanup; the listener is closed. */
        CHECK_EQ(atomic_load(&acc_cleaned), sh.total);
        CHECK_EQ(atomic_load(&acc_acceptors), 0);
        for (int i = 0; i < 2; i++) {
            atomic_store(&cl[i].stop, 1);
            pthread_join(th[i], NULL);
            for (int k = 0; k < cl[i].n; k++)
                close(cl[i].fds[k]);
            free(cl[i].fds);
        }
        CHECK_EQ(count_fds(), fds0);
    }
    watchdog_stop(&wd);
}
