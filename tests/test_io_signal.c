/* Tests of corio/signal.h: waiting for Unix signals from tasks. Every test
 * runs in a process of its own, so the handlers they install stay there. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
