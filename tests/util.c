/* tests/util.c - helpers shared by several test files (see util.h). */
#include "util.h"

#include <dirent.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "test.h"

/* ---- clocks ---------------------------------------------------------------- */

double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

long long thread_run_delay_ns(void)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (!f)
        return 0;
    long long run = 0, wait = 0;
    if (fscanf(f, "%lld %lld", &run, &wait) != 2)
        wait = 0;
    fclose(f);
    return wait;
}

size_t heap_in_use(void)
{
#if UNDER_SAN
    return 0;
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

void busy_until(corio_instant t)
{
    while (corio_instant_now() < t) {
    }
}

int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- runtimes -------------------------------------------------------------- */

corio_rt *new_rt_sized(size_t stack_size)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    if (stack_size)
        b.stack_size = stack_size;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    CHECK(rt != NULL);
    return rt;
}

corio_rt *new_rt(void)
{
    return new_rt_sized(0);
}

corio_rt *new_mt_rt(unsigned workers)
{
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = workers;
    corio_rt *rt = NULL;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    return rt;
}

corio_rt_builder flavor_builder(int mt)
{
    if (!mt)
        return corio_rt_builder_current_thread();
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    return b;
}

int run_main(corio_fn fn, void *arg)
{
    corio_rt *rt = new_rt();
    int r = -12345;
    CHECK_EQ(corio_rt_block_on(rt, fn, arg, &r), 0);
    corio_rt_free(rt);
    return r;
}

int run_main_flavor(int mt, corio_fn fn, void *arg)
{
    corio_rt_builder b = flavor_builder(mt);
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int r = -12345;
    CHECK_EQ(corio_rt_block_on(rt, fn, arg, &r), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    return r;
}

typedef struct poll_call_fut {
    corio_future base;
    corio_fn fn;
    void *arg;
} poll_call_fut;

static corio_poll poll_call_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    poll_call_fut *p = (poll_call_fut *)f;
    f->result = p->fn(p->arg);
    return CORIO_READY;
}

static const corio_future_vtable poll_call_vt = {poll_call_poll, NULL};

int run_in_poll(corio_fn fn, void *arg)
{
    poll_call_fut f = {.fn = fn, .arg = arg};
    corio_future_init(&f.base, &poll_call_vt);
    corio_task *h;
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &h), 0);
    int r = -12345;
    CHECK_EQ(corio_task_join(h, &r), 0);
    return r;
}

int run_ok(corio_fn fn, void *arg)
{
    int r = -12345;
    CHECK_EQ(corio_run(fn, arg, &r), 0);
    return r;
}

void yield_until_finished(corio_task *t)
{
    double t0 = mono_ms();
    while (!corio_task_is_finished(t)) {
        CHECK(mono_ms() - t0 < 10000);
        CHECK_EQ(corio_yield(), 0);
    }
}

/* ---- small task functions ------------------------------------------------ */

int nothing_main(void *arg)
{
    return 0;
}

int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

int add_ten(void *arg)
{
    int *x = arg;
    CHECK_EQ(corio_yield(), 0);
    return *x + 10;
}

int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

atomic_int never_called;

int must_not_run(void *arg)
{
    atomic_fetch_add(&never_called, 1);
    return 0;
}

int sleep_long(void *arg)
{
    atomic_int *cleanup = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(cleanup, 1);
    return 0;
}

int sleep_on_time(void *arg)
{
    corio_duration d = *(corio_duration *)arg;
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(d), 0);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took >= d);
    if (took - d > LATE_SLACK)
        test_failf(__FILE__, __LINE__, "sleep(%.1f ms) took %.1f ms", (double)d / 1e6,
                   (double)took / 1e6);
    return 0;
}

/* ---- count_fut ------------------------------------------------------------- */

static corio_poll count_poll(corio_future *f, corio_context *cx)
{
    count_fut *c = (count_fut *)f;
    atomic_fetch_add(&c->polls, 1);
    if (c->pending_left > 0) {
        c->pending_left--;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = c->value;
    return CORIO_READY;
}

static void count_drop(corio_future *f)
{
    atomic_fetch_add(&((count_fut *)f)->drops, 1);
}

static const corio_future_vtable count_vt = {count_poll, count_drop};

void count_init(count_fut *c, int pending, int value)
{
    corio_future_init(&c->base, &count_vt);
    c->pending_left = pending;
    c->value = value;
    atomic_init(&c->polls, 0);
    atomic_init(&c->drops, 0);
}

/* ---- ready_fut ----------------------------------------------------------- */

static corio_poll ready_poll(corio_future *f, corio_context *cx)
{
    ready_fut *rf = (ready_fut *)f;
    (*rf->counter)++;
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable ready_vt = {ready_poll, NULL};

void ready_fut_init(ready_fut *f, int *counter)
{
    corio_future_init(&f->base, &ready_vt);
    f->counter = counter;
}

/* ---- slot ------------------------------------------------------------------ */

void slot_init(slot *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->waker = CORIO_WAKER_NONE;
}

void slot_destroy(slot *s)
{
    corio_waker_drop(&s->waker);
    pthread_mutex_destroy(&s->mu);
}

static corio_poll slot_poll(corio_future *f, corio_context *cx)
{
    slot *s = ((slot_fut *)f)->s;
    pthread_mutex_lock(&s->mu);
    CHECK(!s->dropped); /* never polled after its drop */
    s->polls++;
    if (s->ready) {
        s->polled_at = mono_ms();
        f->result = s->value;
        corio_waker_drop(&s->waker); /* READY: the future owns nothing any more */
        pthread_mutex_unlock(&s->mu);
        return CORIO_READY;
    }
    corio_waker_store(&s->waker, corio_context_waker(cx));
    pthread_mutex_unlock(&s->mu);
    return CORIO_PENDING;
}

static void slot_fdrop(corio_future *f)
{
    slot *s = ((slot_fut *)f)->s;
    pthread_mutex_lock(&s->mu);
    s->drops++;
    s->dropped = true;
    corio_waker_drop(&s->waker);
    pthread_mutex_unlock(&s->mu);
}

static const corio_future_vtable slot_vt = {slot_poll, slot_fdrop};

void slot_fut_init(slot_fut *f, slot *s)
{
    corio_future_init(&f->base, &slot_vt);
    f->s = s;
}

void slot_complete(slot *s, int value)
{
    pthread_mutex_lock(&s->mu);
    s->ready = true;
    s->value = value;
    s->woken_at = mono_ms();
    corio_waker w = s->waker;
    s->waker = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&s->mu);
    corio_waker_wake(&w);
    CHECK(w.vtable == NULL); /* wake leaves the empty waker behind */
}

int slot_polls(slot *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->polls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int slot_drops(slot *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->drops;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool slot_has_waker(slot *s)
{
    pthread_mutex_lock(&s->mu);
    bool b = s->waker.vtable != NULL;
    pthread_mutex_unlock(&s->mu);
    return b;
}

void thread_wait_waker(slot *s)
{
    for (int i = 0; !slot_has_waker(s); i++) {
        CHECK(i < 10000);
        sleep_ms(1);
    }
}

void task_wait_waker(slot *s)
{
    for (int i = 0; !slot_has_waker(s); i++) {
        CHECK(i < 100000);
        CHECK_EQ(corio_yield(), 0);
        if (i > 100)
            CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
}

void *slot_complete_later(void *arg)
{
    slot *s = arg;
    thread_wait_waker(s);
    sleep_ms(5);
    slot_complete(s, 1);
    return NULL;
}

int await_slot(void *arg)
{
    slot_fut f;
    slot_fut_init(&f, arg);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}

/* ---- spy ----------------------------------------------------------------- */

static const void *spy_w_clone(const void *d)
{
    spy *s = (spy *)d;
    atomic_fetch_add(&s->refs, 1);
    return d;
}

static void spy_w_wake_by_ref(const void *d)
{
    spy *s = (spy *)d;
    atomic_fetch_add(&s->wakes, 1);
    if (atomic_load(&s->dropped))
        atomic_fetch_add(&s->wakes_after_drop, 1);
    corio_waker_wake_by_ref(&s->task);
}

static void spy_w_wake(const void *d)
{
    spy_w_wake_by_ref(d);
    atomic_fetch_sub(&((spy *)d)->refs, 1);
}

static void spy_w_drop(const void *d)
{
    atomic_fetch_sub(&((spy *)d)->refs, 1);
}

static const corio_waker_vtable spy_waker_vt = {spy_w_clone, spy_w_wake, spy_w_wake_by_ref,
                                                spy_w_drop};

static corio_poll spy_poll(corio_future *f, corio_context *cx)
{
    spy *s = (spy *)f;
    s->polls++;
    corio_waker_store(&s->task, cx->waker);
    corio_waker me = {&spy_waker_vt, s};
    corio_context scx = {&me};
    if (corio_future_poll(s->inner, &scx) == CORIO_PENDING)
        return CORIO_PENDING;
    corio_waker_drop(&s->task);
    f->result = s->inner->result;
    return CORIO_READY;
}

static void spy_drop(corio_future *f)
{
    spy *s = (spy *)f;
    s->drops++;
    corio_future_drop(s->inner);
    atomic_store(&s->dropped, 1);
    corio_waker_drop(&s->task);
}

static const corio_future_vtable spy_vt = {spy_poll, spy_drop};

void spy_init(spy *s, corio_future *inner)
{
    memset(s, 0, sizeof *s);
    corio_future_init(&s->base, &spy_vt);
    s->inner = inner;
    s->task = CORIO_WAKER_NONE;
}

void probe_init(probe *p, corio_instant deadline)
{
    corio_sleep_fut_init_until(&p->sleep, deadline);
    spy_init(&p->sp, &p->sleep.base);
}

/* ---- never_fut ----------------------------------------------------------- */

static corio_poll never_poll(corio_future *f, corio_context *cx)
{
    never_fut *n = (never_fut *)f;
    n->polls++;
    corio_waker_store(&n->w, cx->waker);
    return CORIO_PENDING;
}

static void never_drop(corio_future *f)
{
    never_fut *n = (never_fut *)f;
    n->drops++;
    corio_waker_drop(&n->w);
}

static const corio_future_vtable never_vt = {never_poll, never_drop};

void never_init(never_fut *n)
{
    memset(n, 0, sizeof *n);
    corio_future_init(&n->base, &never_vt);
    n->w = CORIO_WAKER_NONE;
}

/* ---- value_fut ----------------------------------------------------------- */

static corio_poll value_poll(corio_future *f, corio_context *cx)
{
    value_fut *v = (value_fut *)f;
    if (corio_future_poll(&v->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = v->value;
    return CORIO_READY;
}

static void value_drop(corio_future *f)
{
    value_fut *v = (value_fut *)f;
    v->drops++;
    corio_future_drop(&v->sleep.base);
}

static const corio_future_vtable value_vt = {value_poll, value_drop};

void value_init(value_fut *v, corio_duration d, int value)
{
    memset(v, 0, sizeof *v);
    corio_future_init(&v->base, &value_vt);
    corio_sleep_fut_init(&v->sleep, d);
    v->value = value;
}

/* ---- counting waker -------------------------------------------------------- */

static const void *cw_clone(const void *d)
{
    cw_target *t = (cw_target *)d;
    atomic_fetch_add(&t->clones, 1);
    atomic_fetch_add(&t->refs, 1);
    return d;
}

static void cw_wake(const void *d)
{
    cw_target *t = (cw_target *)d;
    atomic_fetch_add(&t->wakes, 1);
    atomic_fetch_sub(&t->refs, 1);
}

static void cw_wake_by_ref(const void *d)
{
    atomic_fetch_add(&((cw_target *)d)->wake_by_refs, 1);
}

static void cw_drop(const void *d)
{
    cw_target *t = (cw_target *)d;
    atomic_fetch_add(&t->drops, 1);
    atomic_fetch_sub(&t->refs, 1);
}

const corio_waker_vtable cw_vt = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};

corio_waker cw_new(cw_target *t)
{
    memset(t, 0, sizeof *t);
    atomic_store(&t->refs, 1);
    corio_waker w = {&cw_vt, t};
    return w;
}

corio_poll poll_with(corio_future *f, corio_waker *w)
{
    corio_context cx = {w};
    return f->vtable->poll(f, &cx);
}

/* ---- gate ------------------------------------------------------------------ */

typedef struct gate_fut {
    corio_future base;
    gate *g;
    size_t idx;
} gate_fut;

static corio_poll gate_poll(corio_future *f, corio_context *cx)
{
    gate_fut *gf = (gate_fut *)f;
    if (gf->g->open)
        return CORIO_READY;
    corio_waker_store(&gf->g->wakers[gf->idx], cx->waker);
    return CORIO_PENDING;
}

static void gate_drop(corio_future *f)
{
    gate_fut *gf = (gate_fut *)f;
    corio_waker_drop(&gf->g->wakers[gf->idx]);
}

static const corio_future_vtable gate_vt = {gate_poll, gate_drop};

void gate_init(gate *g, size_t n)
{
    memset(g, 0, sizeof *g);
    g->wakers = calloc(n, sizeof *g->wakers);
    CHECK(g->wakers != NULL);
    /* Touch it now, so that it does not count as the waiters' memory. */
    memset(g->wakers, 0, n * sizeof *g->wakers);
}

int gate_wait(gate *g, size_t idx)
{
    gate_fut gf;
    corio_future_init(&gf.base, &gate_vt);
    gf.g = g;
    gf.idx = idx;
    g->started++;
    int rc = corio_await(&gf.base);
    g->passed++;
    return rc;
}

void gate_open(gate *g, size_t n)
{
    g->open = 1;
    for (size_t i = 0; i < n; i++)
        corio_waker_wake(&g->wakers[i]);
}

void gate_free(gate *g)
{
    free(g->wakers);
    g->wakers = NULL;
}

void yield_until(const size_t *counter, size_t n)
{
    while (*counter < n)
        CHECK_EQ(corio_yield(), 0);
}

void settle(void)
{
    for (int i = 0; i < 20; i++)
        CHECK_EQ(corio_yield(), 0);
}

corio_rt *new_rt_ev1(void)
{
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.event_interval = 1;
    corio_rt *rt = NULL;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    return rt;
}

int join_rc(corio_task *t)
{
    int r = -12345;
    int rc = corio_task_join(t, &r);
    CHECK(rc == 0 || rc == CORIO_ECANCELED);
    return r;
}

/* ---- obj ------------------------------------------------------------------- */

atomic_int objs_live;

obj *obj_new(uint64_t v)
{
    obj *o = malloc(sizeof *o);
    CHECK(o != NULL);
    atomic_init(&o->refs, 1);
    o->value = v;
    atomic_fetch_add(&objs_live, 1);
    return o;
}

void obj_unref(obj *o)
{
    if (atomic_fetch_sub(&o->refs, 1) == 1) {
        o->value = 0xDEADDEAD;
        free(o);
        atomic_fetch_sub(&objs_live, 1);
    }
}

void obj_clone(void *msg, void *arg)
{
    obj *o;
    memcpy(&o, msg, sizeof o);
    CHECK(atomic_fetch_add(&o->refs, 1) > 0); /* never revived */
    if (arg) /* clone_arg, when the test counts the clones */
        atomic_fetch_add((atomic_int *)arg, 1);
}

void obj_drop(void *msg, void *arg)
{
    obj *o;
    memcpy(&o, msg, sizeof o);
    obj_unref(o);
}

/* ---- stacks ---------------------------------------------------------------- */

long max_map_count(void)
{
    long maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maps) != 1)
            maps = 65530;
        fclose(f);
    }
    return maps;
}

int cap_address_space(long headroom_kb)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb <= 0)
        return -1;
    struct rlimit rl = {(rlim_t)(kb + headroom_kb) * 1024, RLIM_INFINITY};
    return setrlimit(RLIMIT_AS, &rl);
}

int __attribute__((noinline)) deep_recurse(long depth, long max_depth)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(depth + (long)i);
    if (depth >= max_depth)
        return buf[depth % (long)sizeof buf];
    int r = deep_recurse(depth + 1, max_depth);
    return r + buf[(depth * 7) % (long)sizeof buf]; /* not a tail call */
}

long frames_for(size_t bytes)
{
    return (long)(bytes / 1100);
}

/* ---- rwlock ---------------------------------------------------------------- */

bool lock_is_free(corio_rwlock *rw)
{
    if (corio_rwlock_try_write(rw) != 0)
        return false;
    corio_rwlock_write_unlock(rw);
    return true;
}

/* ---- watch ----------------------------------------------------------------- */

int watch_loop(void *arg)
{
    wtask *t = arg;
    for (;;) {
        int rc = corio_watch_changed(t->rx);
        if (rc) {
            t->rc = rc;
            return rc;
        }
        t->changes++;
        CHECK_EQ(corio_watch_get(t->rx, &t->last), 0);
    }
}
