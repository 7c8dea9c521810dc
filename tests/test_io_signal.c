/* Tests of corio/signal.h: waiting for Unix signals from tasks. Every test
 * runs in a process of its own, so the handlers they install stay there. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

typedef struct raiser {
    int signum, times, delay_ms;
    pthread_t th;
} raiser;

static void *raise_later(void *arg)
{
    raiser *r = arg;
    for (int i = 0; i < r->times; i++) {
        sleep_ms(r->delay_ms);
        CHECK_EQ(kill(getpid(), r->signum), 0);
    }
    return NULL;
}

static void raise_from_thread(raiser *r, int signum, int times, int delay_ms)
{
    r->signum = signum;
    r->times = times;
    r->delay_ms = delay_ms;
    CHECK_EQ(pthread_create(&r->th, NULL, raise_later, r), 0);
}

TEST(io_signal_open_refuses_what_cannot_be_caught)
{
    corio_signal *s = (corio_signal *)1;
    int bad[] = {0, -1, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, 65, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(corio_signal_open(bad[i], &s), -EINVAL);
        CHECK(s == NULL);
    }
    CHECK_EQ(corio_signal_open(SIGUSR1, NULL), -EINVAL);
    CHECK_EQ(corio_signal_recv(NULL), -EINVAL);
    CHECK_EQ(corio_signal_number(NULL), 0);
    corio_signal_close(NULL);
    /* plain code: open works, recv needs a task */
    CHECK_EQ(corio_signal_open(SIGUSR1, &s), 0);
    CHECK_EQ(corio_signal_number(s), SIGUSR1);
    CHECK_EQ(corio_signal_recv(s), CORIO_EWRONGCTX);
    corio_signal_close(s);
}

static int wait_usr1(void *arg)
{
    (void)arg;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR1, &s), 0);
    raiser r;
    double t0 = mono_ms();
    raise_from_thread(&r, SIGUSR1, 1, 20);
    CHECK_EQ(corio_signal_recv(s), 0);
    CHECK(mono_ms() - t0 >= 15);
    pthread_join(r.th, NULL);
    corio_signal_close(s);
    return 0;
}

TEST(io_signal_a_task_waits_for_a_signal_from_another_thread)
{
    CHECK_EQ(run_main(wait_usr1, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, wait_usr1, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* A delivery while nobody waits is kept; several are coalesced into one. */
static int coalesce_main(void *arg)
{
    (void)arg;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR2, &s), 0);
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ(corio_signal_recv(s), 0); /* at once */
    corio_signal_recv_fut f;
    corio_signal_recv_fut_init(&f, s);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(30)), CORIO_ETIMEDOUT); /* nothing new */
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    corio_signal_recv_fut_init(&f, s);
    CHECK_EQ(corio_timeout(&f.base, CORIO_SEC(5)), 0);
    CHECK_EQ(f.base.result, 0);
    corio_signal_close(s);
    return 0;
}

TEST(io_signal_deliveries_before_recv_are_kept_and_coalesced)
{
    CHECK_EQ(run_main(coalesce_main, NULL), 0);
}

/* Deliveries before the listener opened are not its. */
static int before_open_main(void *arg)
{
    (void)arg;
    corio_signal *a, *b;
    CHECK_EQ(corio_signal_open(SIGUSR1, &a), 0); /* handler installed */
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ(corio_signal_recv(a), 0);
    CHECK_EQ(corio_signal_open(SIGUSR1, &b), 0); /* after that delivery */
    corio_signal_recv_fut f;
    corio_signal_recv_fut_init(&f, b);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(30)), CORIO_ETIMEDOUT);
    corio_signal_close(a);
    corio_signal_close(b);
    return 0;
}

TEST(io_signal_listener_sees_only_deliveries_after_its_open)
{
    CHECK_EQ(run_main(before_open_main, NULL), 0);
}

/* Every listener gets every delivery: many tasks, and two runtimes. */
typedef struct fan {
    atomic_int ready, got;
    int rounds;
} fan;

static int listener(void *arg)
{
    fan *f = arg;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR1, &s), 0);
    atomic_fetch_add(&f->ready, 1);
    int got = 0;
    for (int i = 0; i < f->rounds; i++) {
        int rc = corio_signal_recv(s);
        if (rc == CORIO_ECANCELED)
            break;
        CHECK_EQ(rc, 0);
        got++;
        atomic_fetch_add(&f->got, 1);
    }
    corio_signal_close(s);
    return got;
}

static int fan_main(void *arg)
{
    fan *f = arg;
    int n = 50;
    corio_task *ts[50];
    for (int i = 0; i < n; i++)
        CHECK_EQ(corio_spawn(listener, f, &ts[i]), 0);
    while (atomic_load(&f->ready) < n)
        corio_sleep(CORIO_MSEC(1));
    for (int r = 0; r < f->rounds; r++) {
        /* the next only once everyone took the last: rounds are not
         * coalesced into each other */
        CHECK_EQ(kill(getpid(), SIGUSR1), 0);
        double t0 = mono_ms();
        while (atomic_load(&f->got) < n * (r + 1)) {
            corio_sleep(CORIO_MSEC(1));
            CHECK(mono_ms() - t0 < 10000);
        }
    }
    for (int i = 0; i < n; i++)
        CHECK_EQ(join_rc(ts[i]), f->rounds);
    return 0;
}

TEST(io_signal_every_listener_gets_every_delivery)
{
    fan f = {.rounds = SCALE(20, 10, 5)};
    CHECK_EQ(run_main(fan_main, &f), 0);
    fan g = {.rounds = SCALE(20, 10, 5)};
    corio_rt *rt = new_mt_rt(4);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, fan_main, &g, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

typedef struct two {
    atomic_int ready;
    corio_rt *rt;
    int rc, got;
} two;

static int wait_once(void *arg)
{
    two *t = arg;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR2, &s), 0);
    atomic_fetch_add(&t->ready, 1);
    int rc = corio_signal_recv(s);
    corio_signal_close(s);
    return rc;
}

static void *drive(void *arg)
{
    two *t = arg;
    CHECK_EQ(corio_rt_block_on(t->rt, wait_once, t, &t->rc), 0);
    return NULL;
}

TEST(io_signal_listeners_in_two_runtimes_both_wake)
{
    two a = {0}, b = {0};
    a.rt = new_rt();
    b.rt = new_mt_rt(2);
    pthread_t ta, tb;
    CHECK_EQ(pthread_create(&ta, NULL, drive, &a), 0);
    CHECK_EQ(pthread_create(&tb, NULL, drive, &b), 0);
    while (atomic_load(&a.ready) < 1 || atomic_load(&b.ready) < 1)
        sleep_ms(1);
    sleep_ms(10);
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ(a.rc, 0);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(corio_rt_free(a.rt), 0);
    CHECK_EQ(corio_rt_free(b.rt), 0);
}

/* An aborted recv returns CORIO_ECANCELED and takes nothing. */
static int cancel_main(void *arg)
{
    (void)arg;
    fan f = {.rounds = 1};
    corio_task *t;
    CHECK_EQ(corio_spawn(listener, &f, &t), 0);
    while (atomic_load(&f.ready) < 1)
        corio_sleep(CORIO_MSEC(1));
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0); /* got none */
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR1, &s), 0);
    int res = 1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), (corio_fn)corio_signal_recv, s, &res),
             CORIO_ETIMEDOUT);
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ(corio_signal_recv(s), 0);
    corio_signal_close(s);
    return 0;
}

TEST(io_signal_cancelled_or_timed_out_recv)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
}

/* A recv waiting when its runtime shuts down returns CORIO_ECANCELED, as
 * every await does (corio/signal.h). */
typedef struct shut_wait {
    atomic_int waiting, rc;
} shut_wait;

static int recv_till_shutdown(void *arg)
{
    shut_wait *w = arg;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGUSR2, &s), 0);
    atomic_store(&w->waiting, 1);
    atomic_store(&w->rc, corio_signal_recv(s));
    corio_signal_close(s);
    return 0;
}

static int shut_main(void *arg)
{
    shut_wait *w = arg;
    CHECK_EQ(corio_spawn(recv_till_shutdown, w, NULL), 0);
    while (!atomic_load(&w->waiting))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0); /* in its recv by now, or soon */
    return 0;
}

TEST(io_signal_recv_waiting_at_shutdown_is_cancelled)
{
    for (int mt = 0; mt < 2; mt++) {
        shut_wait w = {0, 1};
        CHECK_EQ(run_main_flavor(mt, shut_main, &w), 0);
        CHECK_EQ(atomic_load(&w.rc), CORIO_ECANCELED);
    }
}

static int ctrl_c_main(void *arg)
{
    (void)arg;
    raiser r;
    raise_from_thread(&r, SIGINT, 1, 20);
    CHECK_EQ(corio_signal_ctrl_c(), 0);
    pthread_join(r.th, NULL);
    return 0;
}

TEST(io_signal_ctrl_c)
{
    CHECK_EQ(run_main(ctrl_c_main, NULL), 0);
}

/* A SIGTERM sent right after the listener opened - before the task's first
 * recv, while it polls it, or as the workers fall asleep - is not lost: the
 * recv returns, on every flavour (graceful_shutdown's "kill -TERM at once
 * after 'serving on'", which hung about 1 run in 40 on the multi-thread
 * runtime: a worker's non-blocking turn dispatched the signal, which woke
 * the task into that worker's LIFO slot, but the turn said it had woken
 * nothing, so the worker parked on top of it, in the driver without a
 * timeout). Each round is a fresh runtime, as a program starting up; a
 * plain thread sends the signal at a varying moment after the open and
 * allows the round 5 s. */
typedef struct early {
    atomic_int opened, done; /* the round's number, once it got there */
    atomic_int stop;
} early;

static int early_idle(void *arg)
{
    (void)arg;
    return corio_sleep(CORIO_SEC(60)); /* aborted: a task that sits, like an acceptor */
}

static int early_round(void *arg)
{
    early *e = arg;
    int round = atomic_load(&e->opened) + 1;
    corio_signal *s;
    CHECK_EQ(corio_signal_open(SIGTERM, &s), 0);
    atomic_store(&e->opened, round); /* the "serving on" line */
    corio_task *other = NULL;
    if (round % 2)
        CHECK_EQ(corio_spawn(early_idle, NULL, &other), 0);
    CHECK_EQ(corio_signal_recv(s), 0);
    atomic_store(&e->done, round);
    corio_signal_close(s);
    if (other) {
        corio_task_abort(other);
        corio_task_join(other, NULL);
    }
    return 0;
}

static void *early_sender(void *arg)
{
    early *e = arg;
    uint32_t x = 2463534242u;
    for (int sent = 1; !atomic_load(&e->stop); sent++) {
        while (atomic_load(&e->opened) < sent)
            if (atomic_load(&e->stop))
                return NULL;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        /* 0 to ~200 us after the open: before the recv, during it, or as
         * the workers park (a quarter at once) */
        if (x % 4)
            busy_until(corio_instant_now() + CORIO_USEC((x >> 8) % 200));
        CHECK_EQ(kill(getpid(), SIGTERM), 0);
        double t0 = mono_ms();
        while (atomic_load(&e->done) < sent) {
            if (mono_ms() - t0 > 5000)
                test_failf(__FILE__, __LINE__, "round %d: the SIGTERM sent after the open was lost",
                           sent);
            sleep_ms(1);
        }
    }
    return NULL;
}

static void early_rounds(unsigned workers, int rounds)
{
    early e = {0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, early_sender, &e), 0);
    /* Under TSan, the current-thread runtime's own thread does not take
     * the signal (the sender's does): TSan defers a handler for a signal
     * that comes while the thread runs a coroutine (a TSan fiber of its
     * own), and there it now and then never ran - about 1 run of this test
     * in 5: corio's handler not called (the delivery count unmoved after
     * 5 s), the signal pending neither in the kernel nor in TSan's slots
     * of the thread, the waiting coroutine or the sender. With SIGTERM
     * blocked on this thread: no loss in 60 runs. The plain and ASan
     * builds keep the coroutine-thread case. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    bool masked = UNDER_TSAN && workers == 0;
    if (masked)
        CHECK_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    for (int i = 0; i < rounds; i++) {
        corio_rt *rt = workers ? new_mt_rt(workers) : new_rt();
        int rc = -1;
        CHECK_EQ(corio_rt_block_on(rt, early_round, &e, &rc), 0);
        CHECK_EQ(rc, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
    atomic_store(&e.stop, 1);
    pthread_join(th, NULL);
    if (masked)
        CHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

TEST(io_signal_sent_right_after_open_is_not_lost_current_thread)
{
    early_rounds(0, SCALE(400, 200, 50));
}

TEST(io_signal_sent_right_after_open_is_not_lost_one_worker)
{
    early_rounds(1, SCALE(400, 200, 50));
}

TEST(io_signal_sent_right_after_open_is_not_lost_two_workers)
{
    early_rounds(2, SCALE(1000, 400, 100));
}
