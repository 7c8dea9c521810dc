/* demo.c - the `make demo` showcase: what corio does today, measured.
 *
 * Not a seed program: it gathers the seeds' themes (seed 000's "thousands of
 * tasks" and custom futures, seed 001's spawn/join and timeouts, seed 003's
 * cancellation with abort() and timeouts) into one run that prints measured
 * numbers, never claims. Sections:
 *   1. resident memory per idle coroutine, then mass cancellation (first, on
 *      a fresh process: stacks freed later stay partly resident in the pool,
 *      and reusing them would hide the cost);
 *   2. coroutine tasks spawned and joined (throughput);
 *   3. a timer storm: stackless tasks whose sleeps fire over a second (lateness);
 *   4. cancellation: an aborted task's pending await returns CORIO_ECANCELED
 *      and its cleanup runs, also for a task aborted before it ever ran;
 *   5. timeouts on a future and on a whole function;
 *   6. a custom future woken from a plain pthread (wake-to-resume latency);
 *   7. every core: the same CPU-bound tasks on a current-thread runtime and
 *      on a multi-thread one (one worker per CPU), blocking jobs on the
 *      blocking pool, and what the idle multi-thread runtime costs;
 *   8. a TCP echo server, a coroutine task per connection, under a bounded
 *      load from a second process (this program again, as a corio client
 *      with one task per connection): messages per second, latency
 *      percentiles, server CPU per message and memory per connection.
 * Sections 1 to 6 run on one current-thread runtime, so the state their
 * tasks share is plain memory touched by that one thread (the pthread of
 * section 6 shares its mailbox under a mutex). Section 7's tasks run on
 * several threads: what they share is atomic.
 *
 *   usage: demo [quick]      (quick: smaller counts, for the test suite)
 *          demo echo-load PORT CONNS MS   (section 8's client process)
 */
#include <corio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct sizes {
    int spawn_n;     /* section 2 */
    int storm_n;     /* section 3 */
    long storm_ms;   /* deadlines spread over this span */
    int wake_rounds; /* section 6 */
    int idle_n;      /* section 1 */
    int cpu_rounds;  /* section 7: work units per task */
    int jobs;        /* section 7: blocking jobs */
    int echo_conns;  /* section 8 */
    int echo_ms;
} sizes;

static const sizes full = {100000, 100000, 1000, 2000, 100000, 400, 100000, 1000, 2000};
static const sizes quick = {5000, 10000, 200, 200, 5000, 40, 5000, 50, 300};
static sizes sz;

/* ThreadSanitizer keeps a large state per fiber (each coroutine is one):
 * hundreds of KiB, and slow to create. Its builds use a tenth of the counts. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

static double ms_between(corio_instant a, corio_instant b)
{
    return (double)(b - a) / 1e6;
}

/* A "VmRSS:"-style field of /proc/self/status, in KiB; -1 if unknown. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && sscanf(line + fl, " %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long rss_kb(void)
{
    return status_kb("VmRSS:");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* p in [0,100] of a sorted array. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void section(int n, const char *title)
{
    printf("\n%d. %s\n", n, title);
}

/* ---- 1. memory per idle coroutine ----------------------------------------- */

typedef struct idle_shared {
    int started;
    int cleaned;
} idle_shared;

static int idle_task(void *arg)
{
    idle_shared *s = arg;
    s->started++;
    int rc = corio_sleep(CORIO_SEC(3600)); /* idle: parked on a timer */
    s->cleaned++;
    return rc;
}

static int demo_memory(void)
{
    section(1, "Memory per idle coroutine");
    int n = sz.idle_n;
    idle_shared s = {0, 0};
    corio_task **h = malloc((size_t)n * sizeof *h);
    if (!h)
        return 1;
    long rss0 = rss_kb();
    corio_instant t0 = corio_instant_now();
    for (int i = 0; i < n; i++) {
        int rc = corio_spawn(idle_task, &s, &h[i]);
        if (rc < 0) {
            printf("   spawn %d failed: %s\n", i, corio_strerror(rc));
            return 1;
        }
    }
    while (s.started < n)
        corio_yield();
    corio_instant t1 = corio_instant_now();
    long rss1 = rss_kb();
    printf("   %d coroutines started and parked in a 1-hour sleep in %.1f ms\n", n, ms_between(t0, t1));
    printf("   resident memory: %ld KiB before, %ld KiB with all of them idle: +%ld KiB,\n"
           "   %.2f KiB per idle coroutine (task, stack pages touched, timer, join handle slot)\n",
           rss0, rss1, rss1 - rss0, (double)(rss1 - rss0) / n);
    corio_instant t2 = corio_instant_now();
    for (int i = 0; i < n; i++)
        corio_task_abort(h[i]);
    int cancelled = 0;
    for (int i = 0; i < n; i++)
        if (corio_task_join(h[i], NULL) == CORIO_ECANCELED)
            cancelled++;
    corio_instant t3 = corio_instant_now();
    free(h);
    printf("   aborted all: %d joins reported cancellation, %d cleanups ran, in %.1f ms\n", cancelled,
           s.cleaned, ms_between(t2, t3));
    printf("   resident memory after they all finished: %ld KiB (freed stacks stay in corio's pool)\n",
           rss_kb());
    return cancelled == n && s.cleaned == n ? 0 : 1;
}

/* ---- 2. spawn and join ---------------------------------------------------- */

static int add_task(void *arg)
{
    int rc = corio_yield(); /* every task is alive at once, and switches twice */
    return rc < 0 ? rc : (int)(intptr_t)arg;
}

static int demo_spawn(void)
{
    section(2, "Coroutine tasks: spawn, run, join");
    int n = sz.spawn_n;
    corio_task **h = malloc((size_t)n * sizeof *h);
    if (!h)
        return 1;
    corio_instant t0 = corio_instant_now();
    for (int i = 0; i < n; i++) {
        int rc = corio_spawn(add_task, (void *)(intptr_t)(i % 1000), &h[i]);
        if (rc < 0) {
            printf("   spawn %d failed: %s\n", i, corio_strerror(rc));
            return 1;
        }
    }
    corio_instant t1 = corio_instant_now();
    long long sum = 0, want = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int r = 0;
        if (corio_task_join(h[i], &r) != 0)
            bad++;
        sum += r;
        want += i % 1000;
    }
    corio_instant t2 = corio_instant_now();
    free(h);
    double total = ms_between(t0, t2);
    printf("   %d coroutine tasks, each yields once (so all %d are alive at once) and returns a number\n",
           n, n);
    printf("   spawn %.1f ms + run and join %.1f ms = %.1f ms -> %.0f tasks/s, %.0f ns per task\n",
           ms_between(t0, t1), ms_between(t1, t2), total, n / (total / 1e3), total * 1e6 / n);
    printf("   sum of results %lld (expected %lld), failed joins %d\n", sum, want, bad);
    return sum == want && bad == 0 ? 0 : 1;
}

/* ---- 3. timer storm ------------------------------------------------------- */

/* A countdown latch the main task awaits: the last storm timer wakes it. */
typedef struct latch {
    corio_future base;
    int remaining;
    corio_waker waker;
} latch;

static corio_poll latch_poll(corio_future *f, corio_context *cx)
{
    latch *l = (latch *)f;
    if (l->remaining == 0) {
        corio_waker_drop(&l->waker);
        return CORIO_READY;
    }
    corio_waker_store(&l->waker, corio_context_waker(cx));
    return CORIO_PENDING;
}

static void latch_drop(corio_future *f)
{
    corio_waker_drop(&((latch *)f)->waker);
}

static const corio_future_vtable latch_vtable = {latch_poll, latch_drop};

static void latch_count_down(latch *l)
{
    if (--l->remaining == 0)
        corio_waker_wake(&l->waker);
}

typedef struct storm_shared {
    int64_t *lateness; /* ns, one per timer */
    int armed_late;    /* first polled after its deadline: never armed */
    latch done;
} storm_shared;

/* A stackless task: a timer and a slot for its lateness, nothing more. */
typedef struct storm_timer {
    corio_future base;
    corio_timer timer;
    storm_shared *sh;
    int idx;
    int polls;
} storm_timer;

static corio_poll storm_poll(corio_future *f, corio_context *cx)
{
    storm_timer *st = (storm_timer *)f;
    bool first = st->polls++ == 0;
    if (corio_timer_poll(&st->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    if (first)
        st->sh->armed_late++;
    st->sh->lateness[st->idx] = (int64_t)(corio_instant_now() - corio_timer_deadline(&st->timer));
    latch_count_down(&st->sh->done);
    f->result = 0;
    return CORIO_READY;
}

static void storm_drop(corio_future *f)
{
    corio_timer_cancel(&((storm_timer *)f)->timer);
}

static const corio_future_vtable storm_vtable = {storm_poll, storm_drop};

static int demo_storm(void)
{
    section(3, "Timer storm: stackless tasks, one timer each");
    int n = sz.storm_n;
    storm_shared sh;
    sh.lateness = calloc((size_t)n, sizeof *sh.lateness);
    if (!sh.lateness)
        return 1;
    corio_future_init(&sh.done.base, &latch_vtable);
    sh.done.remaining = n;
    sh.done.waker = CORIO_WAKER_NONE;
    sh.armed_late = 0;
    long rss0 = rss_kb();
    corio_instant t0 = corio_instant_now();
    corio_duration span = CORIO_MSEC(sz.storm_ms);
    /* The first deadline is 100 ms out, so that spawning and arming all the
     * timers (the first poll of each task) is over before any is due. */
    corio_instant base = corio_instant_add(t0, CORIO_MSEC(100));
    for (int i = 0; i < n; i++) {
        storm_timer st = {.sh = &sh, .idx = i};
        corio_future_init(&st.base, &storm_vtable);
        /* Deadlines spread evenly over the span, in spawn order shuffled by a
         * stride so the wheel is not filled in deadline order. */
        long slot = (long)(((unsigned long)i * 7919u) % (unsigned long)n);
        corio_timer_init(&st.timer, corio_instant_add(base, span * slot / n));
        if (corio_spawn_future(&st.base, sizeof st, NULL) < 0) {
            printf("   spawn %d failed\n", i);
            return 1;
        }
    }
    corio_instant t1 = corio_instant_now();
    corio_yield(); /* let every timer task arm its timer */
    corio_instant t_armed = corio_instant_now();
    long rss1 = rss_kb();
    int rc = corio_await(&sh.done.base);
    corio_instant t2 = corio_instant_now();
    qsort(sh.lateness, (size_t)n, sizeof *sh.lateness, cmp_i64);
    printf("   %d timers with deadlines spread over %ld ms (from 100 ms on), each in a stackless task\n",
           n, sz.storm_ms);
    printf("   spawned in %.1f ms, all armed %.1f ms after the first spawn (%d too late to arm);\n"
           "   the last fired %.1f ms after the first spawn\n",
           ms_between(t0, t1), ms_between(t0, t_armed), sh.armed_late, ms_between(t0, t2));
    printf("   lateness (fire time - deadline): p50 %.3f ms, p99 %.3f ms, max %.3f ms  "
           "(wheel tick: 1 ms)\n",
           pct(sh.lateness, (size_t)n, 50) / 1e6, pct(sh.lateness, (size_t)n, 99) / 1e6,
           pct(sh.lateness, (size_t)n, 100) / 1e6);
    if (rss0 > 0 && rss1 > 0)
        printf("   resident memory while all %d were pending: +%ld KiB (%.0f bytes per timer task)\n", n,
               rss1 - rss0, (double)(rss1 - rss0) * 1024.0 / n);
    bool early = sh.lateness[0] < 0;
    if (early)
        printf("   ERROR: a timer fired early\n");
    free(sh.lateness);
    return rc == 0 && !early ? 0 : 1;
}

/* ---- 4. cancellation ------------------------------------------------------ */

typedef struct victim {
    const char *name;
    bool started;
    bool cleaned_up;
    int await_rc;
    corio_instant cleanup_at;
} victim;

static int victim_task(void *arg)
{
    victim *v = arg;
    v->started = true;
    char *buf = malloc(64 * 1024); /* something to give back */
    v->await_rc = corio_sleep(CORIO_SEC(3600));
    /* cleanup: runs whether the sleep finished or was cancelled */
    free(buf);
    v->cleaned_up = true;
    v->cleanup_at = corio_instant_now();
    return v->await_rc == CORIO_ECANCELED ? 1 : 0;
}

static int demo_cancel(void)
{
    section(4, "Cancellation: abort a sleeping task, its cleanup runs");
    victim v = {"sleeper", false, false, 0, 0};
    corio_task *t;
    if (corio_spawn(victim_task, &v, &t) < 0)
        return 1;
    if (!t)
        return 1;
    corio_sleep(CORIO_MSEC(10));
    corio_instant t0 = corio_instant_now();
    corio_task_abort(t);
    int result = -1;
    int jrc = corio_task_join(t, &result);
    corio_instant t1 = corio_instant_now();
    printf("   a task sleeping for 1 hour, aborted after 10 ms: its sleep returned %s,\n"
           "   cleanup ran: %s (%.3f ms after abort); join returned %s, the function's result %d\n",
           corio_err_name(v.await_rc), v.cleaned_up ? "yes" : "NO", ms_between(t0, v.cleanup_at),
           corio_err_name(jrc), result);
    printf("   abort to join: %.3f ms\n", ms_between(t0, t1));

    victim w = {"never-ran", false, false, 0, 0};
    corio_task *t2;
    if (corio_spawn(victim_task, &w, &t2) < 0)
        return 1;
    if (!t2)
        return 1;
    corio_task_abort(t2); /* before it ever ran */
    int r2 = -1;
    int j2 = corio_task_join(t2, &r2);
    printf("   a task aborted before it first ran: it still starts (so it can free its argument), its\n"
           "   first await returned %s, cleanup ran: %s; join returned %s\n",
           corio_err_name(w.await_rc), w.cleaned_up ? "yes" : "NO", corio_err_name(j2));
    bool ok = v.cleaned_up && v.await_rc == CORIO_ECANCELED && jrc == CORIO_ECANCELED && result == 1 &&
              w.cleaned_up && w.await_rc == CORIO_ECANCELED && j2 == CORIO_ECANCELED;
    return ok ? 0 : 1;
}

/* ---- 5. timeouts ---------------------------------------------------------- */

typedef struct stepper {
    int steps_done;
    int last_rc;
} stepper;

static int step_worker(void *arg)
{
    stepper *s = arg;
    for (int i = 0; i < 10; i++) {
        s->last_rc = corio_sleep(CORIO_MSEC(30));
        if (s->last_rc < 0)
            return s->last_rc; /* unwinds: the deadline passed */
        s->steps_done++;
    }
    return 0;
}

static int demo_timeouts(void)
{
    section(5, "Timeouts");
    corio_sleep_fut slow;
    corio_sleep_fut_init(&slow, CORIO_SEC(1));
    corio_instant t0 = corio_instant_now();
    int rc = corio_timeout(&slow.base, CORIO_MSEC(50));
    double ms = ms_between(t0, corio_instant_now());
    printf("   corio_timeout(sleep 1 s, 50 ms)          -> %s after %.1f ms (inner sleep dropped)\n",
           corio_err_name(rc), ms);

    corio_sleep_fut fast;
    corio_sleep_fut_init(&fast, CORIO_MSEC(20));
    t0 = corio_instant_now();
    int rc2 = corio_timeout(&fast.base, CORIO_MSEC(500));
    double ms2 = ms_between(t0, corio_instant_now());
    printf("   corio_timeout(sleep 20 ms, 500 ms)       -> %d (ok: the sleep's own result %d) after "
           "%.1f ms\n",
           rc2, fast.base.result, ms2);

    stepper s = {0, 0};
    int result = 0;
    t0 = corio_instant_now();
    int rc3 = corio_timeout_call(CORIO_MSEC(100), step_worker, &s, &result);
    double ms3 = ms_between(t0, corio_instant_now());
    printf("   corio_timeout_call(100 ms, fn doing 10 x 30 ms sleeps) -> %s after %.1f ms;\n"
           "   fn finished %d steps, then its sleep returned %s and it returned\n",
           corio_err_name(rc3), ms3, s.steps_done, corio_err_name(s.last_rc));
    /* Usually 3 steps fit; a loaded machine makes each sleep late, so fewer may. */
    bool ok3 = rc3 == CORIO_ETIMEDOUT && s.last_rc == CORIO_ETIMEDOUT && s.steps_done <= 3 &&
               ms3 >= 100.0;
    return rc == CORIO_ETIMEDOUT && ms >= 50.0 && rc2 == 0 && ok3 ? 0 : 1;
}

/* ---- 6. a future woken from a plain pthread -------------------------------- */

/* A one-slot mailbox filled by a thread that belongs to no runtime. */
typedef struct mailbox {
    corio_future base; /* result: the value */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    corio_waker waker; /* under lock */
    bool waiting;      /* the task has parked on it: set by poll */
    bool full;
    int value;
    corio_instant sent_at;
    bool stop;
} mailbox;

static corio_poll mailbox_poll(corio_future *f, corio_context *cx)
{
    mailbox *m = (mailbox *)f;
    pthread_mutex_lock(&m->lock);
    if (m->full) {
        m->full = false;
        m->waiting = false;
        f->result = m->value;
        pthread_mutex_unlock(&m->lock);
        return CORIO_READY;
    }
    corio_waker_store(&m->waker, corio_context_waker(cx));
    m->waiting = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return CORIO_PENDING;
}

static void mailbox_drop(corio_future *f)
{
    mailbox *m = (mailbox *)f;
    pthread_mutex_lock(&m->lock);
    corio_waker_drop(&m->waker);
    m->waiting = false;
    pthread_mutex_unlock(&m->lock);
}

static const corio_future_vtable mailbox_vtable = {mailbox_poll, mailbox_drop};

static void *sender_thread(void *arg)
{
    mailbox *m = arg;
    for (int i = 0;; i++) {
        pthread_mutex_lock(&m->lock);
        while (!m->waiting && !m->stop)
            pthread_cond_wait(&m->cond, &m->lock);
        if (m->stop) {
            pthread_mutex_unlock(&m->lock);
            return NULL;
        }
        pthread_mutex_unlock(&m->lock);
        /* Give the runtime time to go to sleep in the kernel, so each wake
         * below is a real cross-thread wake-up of a parked runtime. */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&m->lock);
        m->value = i;
        m->full = true;
        m->waiting = false;
        corio_waker w = m->waker;
        m->waker = CORIO_WAKER_NONE;
        m->sent_at = corio_instant_now();
        pthread_mutex_unlock(&m->lock);
        corio_waker_wake(&w);
    }
}

static int demo_foreign(void)
{
    section(6, "A custom future woken from a plain pthread");
    int n = sz.wake_rounds;
    mailbox m;
    corio_future_init(&m.base, &mailbox_vtable);
    pthread_mutex_init(&m.lock, NULL);
    pthread_cond_init(&m.cond, NULL);
    m.waker = CORIO_WAKER_NONE;
    m.waiting = m.full = m.stop = false;
    m.value = -1;
    pthread_t th;
    if (pthread_create(&th, NULL, sender_thread, &m) != 0)
        return 1;
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int rc = corio_await(&m.base);
        int v = rc < 0 ? rc : m.base.result;
        corio_instant now = corio_instant_now();
        pthread_mutex_lock(&m.lock);
        lat[i] = (int64_t)(now - m.sent_at);
        pthread_mutex_unlock(&m.lock);
        if (v != i)
            bad++;
    }
    pthread_mutex_lock(&m.lock);
    m.stop = true;
    pthread_cond_signal(&m.cond);
    pthread_mutex_unlock(&m.lock);
    pthread_join(th, NULL);
    pthread_cond_destroy(&m.cond);
    pthread_mutex_destroy(&m.lock);
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("   %d round trips: the task awaits, the runtime parks in the kernel, a pthread fills\n"
           "   the mailbox and wakes the waker; values in order: %s\n",
           n, bad ? "NO" : "yes");
    printf("   wake -> task running again: p50 %.1f us, p99 %.1f us, max %.1f us\n",
           pct(lat, (size_t)n, 50) / 1e3, pct(lat, (size_t)n, 99) / 1e3, pct(lat, (size_t)n, 100) / 1e3);
    free(lat);
    return bad ? 1 : 0;
}

/* ---- 7. every core -------------------------------------------------------- */

enum { CPU_TASKS_PER_WORKER = 4, MAX_SEEN = 64 };

typedef struct cpu_run {
    atomic_ulong checksum;
    atomic_int tids_n;
    atomic_long tids[MAX_SEEN]; /* distinct kernel thread ids that ran tasks */
} cpu_run;

/* A unit of pure computation (tens of microseconds): no waiting anywhere. */
static uint64_t work_unit(uint64_t x)
{
    for (int i = 0; i < 20000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

static void note_tid(cpu_run *r)
{
    long tid = (long)syscall(SYS_gettid); /* asked afresh: tasks move */
    int n = atomic_load(&r->tids_n);
    for (int i = 0; i < n && i < MAX_SEEN; i++)
        if (atomic_load(&r->tids[i]) == tid)
            return;
    int k = atomic_fetch_add(&r->tids_n, 1);
    if (k < MAX_SEEN)
        atomic_store(&r->tids[k], tid);
    else
        atomic_fetch_sub(&r->tids_n, 1);
}

/* CPU-bound, cooperative: a yield after every unit, so that other tasks run
 * on this worker meanwhile. */
static int cpu_task(void *arg)
{
    cpu_run *r = arg;
    uint64_t x = 1;
    for (int i = 0; i < sz.cpu_rounds; i++) {
        x = work_unit(x);
        note_tid(r);
        int rc = corio_yield();
        if (rc < 0)
            return rc;
    }
    atomic_fetch_add(&r->checksum, (unsigned long)x);
    return 0;
}

typedef struct cpu_job {
    cpu_run *run;
    int tasks;
    double ms;
} cpu_job;

static int cpu_main(void *arg)
{
    cpu_job *j = arg;
    corio_task **ts = calloc((size_t)j->tasks, sizeof *ts);
    if (!ts)
        return -ENOMEM;
    corio_instant t0 = corio_instant_now();
    int fails = 0, n = 0;
    for (; n < j->tasks; n++)
        if (corio_spawn(cpu_task, j->run, &ts[n]) < 0) {
            fails++;
            break;
        }
    for (int i = 0; i < n; i++) {
        int r = -1;
        if (corio_task_join(ts[i], &r) < 0 || r != 0)
            fails++;
    }
    j->ms = ms_between(t0, corio_instant_now());
    free(ts);
    return fails;
}

static int cpu_on(corio_rt_builder *b, cpu_job *j)
{
    corio_rt *rt;
    int rc = corio_rt_build(b, &rt);
    if (rc < 0) {
        printf("   cannot build a runtime: %s\n", corio_strerror(rc));
        return 1;
    }
    int fails = -1;
    rc = corio_rt_block_on(rt, cpu_main, j, &fails);
    corio_rt_free(rt);
    return rc < 0 || fails != 0;
}

static int trivial_job(void *arg)
{
    return (int)(intptr_t)arg & 1;
}

static int blocking_main(void *arg)
{
    double *ms = arg;
    corio_task **hs = calloc((size_t)sz.jobs, sizeof *hs);
    if (!hs)
        return -ENOMEM;
    corio_instant t0 = corio_instant_now();
    int fails = 0, n = 0, odd = 0;
    for (; n < sz.jobs; n++)
        if (corio_spawn_blocking(trivial_job, (void *)(intptr_t)n, &hs[n]) < 0) {
            fails++;
            break;
        }
    for (int i = 0; i < n; i++) {
        int r = -1;
        if (corio_task_join(hs[i], &r) < 0)
            fails++;
        else
            odd += r;
    }
    *ms = ms_between(t0, corio_instant_now());
    free(hs);
    return fails || odd != n / 2 ? 1 : 0;
}

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static long os_threads(void)
{
    return status_kb("Threads:");
}

static int demo_every_core(void)
{
    section(7, "Every core: the multi-thread runtime");
    corio_rt_builder mb = corio_rt_builder_multi_thread();
    corio_rt *probe;
    int rc = corio_rt_build(&mb, &probe); /* to learn the default worker count */
    if (rc < 0) {
        printf("   cannot build a multi-thread runtime: %s\n", corio_strerror(rc));
        return 1;
    }
    /* corio has no query for a runtime's worker count yet: the process's
     * threads while the runtime is up are this one and the workers. */
    long workers = os_threads() - 1;
    corio_rt_free(probe);
    if (workers < 1)
        workers = 1;
    int tasks = (int)workers * CPU_TASKS_PER_WORKER;
    printf("   %d CPU-bound tasks, %d units of computation each, a yield after every unit\n", tasks,
           sz.cpu_rounds);
    static cpu_run one, many;
    cpu_job j1 = {&one, tasks, 0}, jn = {&many, tasks, 0};
    corio_rt_builder cb = corio_rt_builder_current_thread();
    int fails = cpu_on(&cb, &j1);
    fails += cpu_on(&mb, &jn);
    printf("   current-thread runtime: %8.1f ms on %d thread (%.1f us a unit)\n", j1.ms,
           atomic_load(&one.tids_n), j1.ms * 1e3 / ((double)tasks * sz.cpu_rounds));
    int nt = atomic_load(&many.tids_n);
    printf("   multi-thread runtime:   %8.1f ms on %d thread%s (%ld workers: one per CPU this "
           "process may use)\n",
           jn.ms, nt, nt == 1 ? "" : "s", workers);
    printf("   speed-up %.2fx; results equal: %s\n", j1.ms / (jn.ms > 0 ? jn.ms : 1),
           atomic_load(&one.checksum) == atomic_load(&many.checksum) ? "yes" : "NO");
    fails += atomic_load(&one.checksum) != atomic_load(&many.checksum);

    corio_rt *rt;
    rc = corio_rt_build(&mb, &rt);
    if (rc < 0) {
        printf("   cannot build a multi-thread runtime: %s\n", corio_strerror(rc));
        return fails + 1;
    }
    double ms = 0;
    int bf = -1;
    rc = corio_rt_block_on(rt, blocking_main, &ms, &bf);
    long pool = os_threads() - 1 - workers;
    printf("   %d blocking jobs (corio_spawn_blocking, each joined): %.1f ms -> %.0f jobs/s, "
           "results right: %s, blocking pool threads now: %ld\n",
           sz.jobs, ms, sz.jobs / (ms > 0 ? ms / 1e3 : 1), rc == 0 && bf == 0 ? "yes" : "NO",
           pool);
    fails += rc != 0 || bf != 0;
    /* Idle: nothing to run, the workers sleep in the kernel. */
    usleep(100000);
    double c0 = cpu_seconds();
    usleep(500000);
    double c1 = cpu_seconds();
    printf("   the idle runtime over 500 ms: %.3f%% of one CPU\n", (c1 - c0) / 0.5 * 100);
    corio_rt_free(rt);
    return fails;
}

/* ---- 8. a TCP echo server under load from a second process ------------------ */

static int echo_conn(void *arg)
{
    corio_tcp *c = arg;
    char buf[4096];
    ssize_t n;
    while ((n = corio_tcp_read(c, buf, sizeof buf)) > 0)
        if (corio_tcp_write_all(c, buf, (size_t)n) < 0)
            break;
    corio_tcp_close(c);
    return 0;
}

static int echo_accept(void *arg)
{
    corio_tcp_listener *l = arg;
    corio_tcp *c;
    int rc;
    while ((rc = corio_tcp_accept(l, &c)) != CORIO_ECANCELED && rc != CORIO_ESHUTDOWN) {
        if (rc < 0)
            continue; /* -EMFILE: accept paused already */
        corio_tcp_set_nodelay(c, true);
        if (corio_spawn(echo_conn, c, NULL) < 0)
            corio_tcp_close(c);
    }
    return 0;
}

/* The client process: CONNS connections, each a task that sends 64 bytes,
 * waits for the echo, and again, for MS milliseconds; latencies in a
 * histogram of 1 us buckets. Prints "connected" once all are up, then one
 * result line. */
#define LAT_BUCKETS 100000 /* up to 100 ms; slower ones go in the last */
typedef struct load {
    corio_addr addr;
    corio_instant start, end;
    int up, failed;
    long ms; /* how long to load */
    long long msgs;
    uint32_t *hist;
    corio_notify all_up;
} load;

static int load_conn(void *arg)
{
    load *ld = arg;
    corio_tcp *c;
    if (corio_tcp_connect_addr(&ld->addr, &c) < 0) {
        ld->failed++;
        ld->up++;
        corio_notify_one(&ld->all_up);
        return 0;
    }
    corio_tcp_set_nodelay(c, true);
    ld->up++;
    corio_notify_one(&ld->all_up);
    while (corio_instant_now() < ld->start) /* everyone connected first */
        if (corio_sleep(CORIO_MSEC(1)) < 0)
            break;
    char msg[64];
    memset(msg, 'x', sizeof msg);
    for (;;) {
        corio_instant t0 = corio_instant_now();
        if (t0 >= ld->end)
            break;
        if (corio_tcp_write_all(c, msg, sizeof msg) < 0 ||
            corio_tcp_read_exact(c, msg, sizeof msg) < 0) {
            ld->failed++;
            break;
        }
        uint64_t us = (corio_instant_now() - t0) / 1000;
        ld->hist[us < LAT_BUCKETS ? us : LAT_BUCKETS - 1]++;
        ld->msgs++;
    }
    corio_tcp_close(c);
    return 0;
}

static double hist_pct(const uint32_t *h, long long n, double p)
{
    long long want = (long long)(p / 100.0 * (double)n), seen = 0;
    for (int i = 0; i < LAT_BUCKETS; i++)
        if ((seen += h[i]) > want)
            return i < LAT_BUCKETS - 1 ? i + 0.5 : LAT_BUCKETS; /* the last: 100 ms or more */
    return LAT_BUCKETS;
}

static int load_main(void *arg)
{
    load *ld = arg;
    int conns = ld->up; /* in: how many */
    ld->up = 0;
    ld->start = ld->end = UINT64_MAX;
    corio_notify_init(&ld->all_up);
    corio_task **ts = calloc((size_t)conns, sizeof *ts);
    for (int i = 0; i < conns; i++)
        if (corio_spawn(load_conn, ld, &ts[i]) < 0)
            return 1;
    while (ld->up < conns)
        corio_notify_wait(&ld->all_up);
    printf("connected %d\n", conns - ld->failed);
    fflush(stdout);
    /* Wait for the server's go (it measures its memory in between). */
    char go;
    if (read(0, &go, 1) != 1)
        return 1;
    ld->start = corio_instant_now() + CORIO_MSEC(5);
    ld->end = ld->start + CORIO_MSEC(ld->ms);
    for (int i = 0; i < conns; i++)
        corio_task_join(ts[i], NULL);
    free(ts);
    double secs = (double)(ld->end - ld->start) / 1e9;
    printf("result %lld %.0f %.0f %.0f %.0f %d\n", ld->msgs, ld->msgs / secs,
           hist_pct(ld->hist, ld->msgs, 50), hist_pct(ld->hist, ld->msgs, 99),
           hist_pct(ld->hist, ld->msgs, 99.9), ld->failed);
    return 0;
}

static int echo_load_process(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    load ld = {0};
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argv[2]);
    if (corio_addr_parse(addr, &ld.addr) < 0)
        return 2;
    ld.up = atoi(argv[3]);
    ld.hist = calloc(LAT_BUCKETS, sizeof *ld.hist);
    ld.ms = atol(argv[4]);
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    if (corio_rt_build(&b, &rt) < 0)
        return 1;
    int result = 1;
    corio_rt_block_on(rt, load_main, &ld, &result);
    corio_rt_free(rt);
    free(ld.hist);
    return result;
}

typedef struct echo_server {
    corio_tcp_listener *l;
    corio_task *acceptor;
    int port;
} echo_server;

static int echo_start(void *arg)
{
    echo_server *e = arg;
    int rc = corio_tcp_listen("127.0.0.1:0", 4096, &e->l);
    if (rc < 0)
        return rc;
    corio_addr a;
    corio_tcp_listener_local_addr(e->l, &a);
    e->port = corio_addr_port(&a);
    return corio_spawn(echo_accept, e->l, &e->acceptor);
}

static int echo_stop(void *arg)
{
    echo_server *e = arg;
    corio_task_abort(e->acceptor);
    corio_task_join(e->acceptor, NULL);
    return corio_tcp_listener_close(e->l);
}

/* The client process, forked while this one has no threads (every
 * runtime of the sections before is freed, its threads joined), so it may
 * build a runtime of its own; it learns the port from its stdin. (It is
 * not exec'd: under an emulator such as qemu-user, the binary could not
 * be run by the kernel directly.) */
static void echo_load_child(int to_child[2], int from_child[2], int conns)
{
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    char port[16] = "";
    for (size_t k = 0; k + 1 < sizeof port; k++) {
        if (read(0, &port[k], 1) != 1 || port[k] == '\n') {
            port[k] = '\0';
            break;
        }
    }
    char n[16], ms[16];
    snprintf(n, sizeof n, "%d", conns);
    snprintf(ms, sizeof ms, "%d", sz.echo_ms);
    char *argv[] = {"demo", "echo-load", port, n, ms, NULL};
    int rc = echo_load_process(5, argv);
    fflush(stdout);
    _exit(rc);
}

static int demo_echo(void)
{
    section(8, "TCP echo: a coroutine task per connection, load from a second process");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int conns = sz.echo_conns;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)conns + 64 > rl.rlim_cur)
        conns = (int)rl.rlim_cur - 64;
    int to_child[2], from_child[2];
    if (pipe(to_child) < 0 || pipe(from_child) < 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        echo_load_child(to_child, from_child, conns);
    close(to_child[0]);
    close(from_child[1]);
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_multi_thread();
    if (pid < 0 || corio_rt_build(&b, &rt) < 0)
        return 1;
    echo_server e = {0};
    int res = -1;
    if (corio_rt_block_on(rt, echo_start, &e, &res) < 0 || res < 0) {
        printf("   cannot listen: %s\n", corio_strerror(res));
        corio_rt_free(rt);
        return 1;
    }
    long rss0 = rss_kb();
    char portline[16];
    int pl = snprintf(portline, sizeof portline, "%d\n", e.port);
    if (write(to_child[1], portline, (size_t)pl) != pl)
        return 1;
    FILE *in = fdopen(from_child[0], "r");
    int up = 0, fails = 0;
    char line[256];
    if (pid < 0 || !fgets(line, sizeof line, in) || sscanf(line, "connected %d", &up) != 1) {
        printf("   the load process did not connect\n");
        fails++;
    } else {
        usleep(100000); /* every connection's task has run */
        long rss1 = rss_kb();
        double c0 = cpu_seconds();
        if (write(to_child[1], "g", 1) != 1)
            fails++;
        long long msgs = 0;
        double rate = 0, p50 = 0, p99 = 0, p999 = 0;
        int failed = -1;
        if (!fgets(line, sizeof line, in) ||
            sscanf(line, "result %lld %lf %lf %lf %lf %d", &msgs, &rate, &p50, &p99, &p999,
                   &failed) != 6) {
            printf("   the load process gave no result\n");
            fails++;
        } else {
            double cpu = cpu_seconds() - c0;
            printf("   %d connections, each a task on the server; the client: %d tasks in another process\n",
                   up, up);
            printf("   64-byte messages, one in flight per connection, for %d ms: %lld echoed, %.0f msgs/s\n",
                   sz.echo_ms, msgs, rate);
            /* The histogram ends at 100 ms: a percentile in its last
             * bucket is a lower bound, and says so. */
            char q[3][32];
            double qv[3] = {p50, p99, p999};
            for (int k = 0; k < 3; k++)
                snprintf(q[k], sizeof q[k], qv[k] >= LAT_BUCKETS ? "over %.0f us" : "%.0f us",
                         qv[k]);
            printf("   round-trip latency: p50 %s, p99 %s, p99.9 %s\n", q[0], q[1], q[2]);
            printf("   server CPU per message: %.2f us (both directions, with the kernel's TCP work)\n",
                   msgs ? cpu / (double)msgs * 1e6 : 0.0);
            printf("   server memory per connection: %.1f KiB resident (task, stack pages in use, socket registration)\n",
                   up ? (double)(rss1 - rss0) / up : 0.0);
            printf("   failed connections: %d\n", failed);
            fails += failed != 0 || msgs == 0;
        }
    }
    close(to_child[1]);
    if (in)
        fclose(in);
    int st = 0;
    if (pid > 0)
        waitpid(pid, &st, 0);
    fails += pid <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    corio_rt_block_on(rt, echo_stop, &e, NULL);
    corio_rt_free(rt);
    return fails;
}

/* ---- main ----------------------------------------------------------------- */

static int demo_main(void *arg)
{
    (void)arg;
    int fails = 0;
    fails += demo_memory(); /* first: later sections leave stacks in the pool */
    fails += demo_spawn();
    fails += demo_storm();
    fails += demo_cancel();
    fails += demo_timeouts();
    fails += demo_foreign();
    return fails;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "echo-load") == 0)
        return echo_load_process(argc, argv);
    sz = full;
    bool is_quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    if (is_quick)
        sz = quick;
    if (UNDER_TSAN) {
        sz.spawn_n /= 10;
        sz.storm_n /= 10;
        sz.wake_rounds /= 10;
        sz.idle_n /= 10;
        sz.cpu_rounds /= 10;
        sz.jobs /= 10;
        sz.echo_conns /= 10;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("corio %s demo, measured on this machine%s\n", CORIO_VERSION_STRING,
           is_quick ? " (quick sizes)" : "");
    if (UNDER_TSAN)
        printf("(ThreadSanitizer build: a tenth of the counts; times and memory include TSan's own cost)\n");
    corio_instant t0 = corio_instant_now();
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0) {
        printf("cannot build a runtime: %s\n", corio_strerror(rc));
        return 1;
    }
    int fails = -1;
    rc = corio_rt_block_on(rt, demo_main, NULL, &fails);
    corio_rt_free(rt);
    if (rc < 0) {
        printf("block_on failed: %s\n", corio_strerror(rc));
        return 1;
    }
    fails += demo_every_core(); /* its own runtimes, from plain code */
    fails += demo_echo();
    printf("\n%s in %.2f s; resident memory now %ld KiB, peak %ld KiB\n", fails ? "FAILED" : "done",
           ms_between(t0, corio_instant_now()) / 1e3, rss_kb(), status_kb("VmHWM:"));
    return fails ? 1 : 0;
}
