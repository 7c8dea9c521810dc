/* tests/util.h - helpers shared by several test files.
 *
 * What more than one tests/test_*.c needs lives here (definitions in
 * tests/util.c): sanitizer detection, clocks, runtime construction, small
 * task functions, a self-waking counting future, a future ready at once, the
 * `slot` future completed from any thread, a spy that counts the wakes of
 * the future it wraps, futures that never complete or complete after a
 * sleep, a counting waker, a gate that many coroutines wait at, refcounted
 * channel messages, stack users, a check that a rwlock is free, and a watch
 * receiver's loop. Helpers used by a single file stay static in that file.
 *
 * Like CHECK itself, the helpers that check something end the test on a
 * failure (the message names tests/util.c and the line there).
 */
#ifndef CORIO_TESTS_UTIL_H
#define CORIO_TESTS_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corio.h>

/* ---- sanitizer builds ---------------------------------------------------- */

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif
/* ASan or TSan: heavy loops and storms are scaled down, bounds loosened. */
#define UNDER_SAN (UNDER_ASAN || UNDER_TSAN)
/* Counts for the plain build, ASan and TSan. TSan makes every coroutine a
 * fiber of its own (about 1 MiB of shadow state, at most ~8000 at once). */
#define SCALE(plain, asan, tsan) (UNDER_TSAN ? (tsan) : UNDER_ASAN ? (asan) : (plain))

/* ---- clocks ---------------------------------------------------------------- */

/* CLOCK_MONOTONIC in milliseconds. */
double mono_ms(void);

/* How long the calling thread has been runnable but waiting for a CPU
 * (ns; /proc/thread-self/schedstat), 0 when the kernel does not say. Timing
 * checks add what it grew by to their bounds, so that a loaded machine does
 * not fail them. */
long long thread_run_delay_ns(void);

/* Block the calling thread for `ms` milliseconds (nanosleep, resumed after
 * signals). */
void sleep_ms(int ms);

/* Spin, without yielding, until corio_instant_now() reaches `t`. */
void busy_until(corio_instant t);

/* How late a timer may be before a test calls it grossly late. */
#define LATE_SLACK CORIO_MSEC(50)

/* Bytes malloc has handed out and not had back (glibc's mallinfo2), for
 * leak checks that must hold in the plain build too; 0 under the
 * sanitizers, whose own leak checkers do that job there. */
size_t heap_in_use(void);

/* Entries of /proc/self/fd (checked to open), for checks that descriptors
 * are given back: compare two counts. */
int count_fds(void);

/* ---- runtimes -------------------------------------------------------------- */

/* A fresh current-thread runtime (checked to build). */
corio_rt *new_rt(void);

/* The same with every task's stack `stack_size` bytes (0: the default). */
corio_rt *new_rt_sized(size_t stack_size);

/* A fresh multi-thread runtime with `workers` workers (checked to build). */
corio_rt *new_mt_rt(unsigned workers);

/* A builder for a test that runs on both flavours: mt 0, current-thread;
 * else multi-thread with 2 workers. */
corio_rt_builder flavor_builder(int mt);

/* Run fn(arg) as the main task of a fresh runtime, free the runtime, and
 * return fn's result. */
int run_main(corio_fn fn, void *arg);

/* The same on a fresh runtime of flavour mt (flavor_builder), whose free
 * must succeed. */
int run_main_flavor(int mt, corio_fn fn, void *arg);

/* From a coroutine task: run fn(arg) once inside a stackless task's poll
 * function, where every waiting call must answer CORIO_EWRONGCTX, and
 * return what fn returned. */
int run_in_poll(corio_fn fn, void *arg);

/* corio_run, which must succeed; returns the main task's result. */
int run_ok(corio_fn fn, void *arg);

/* From a task: yield until t has finished (checked within 10 s). On a
 * multi-thread runtime another worker may be running t, so the wait is
 * bounded in time, not in yields. */
void yield_until_finished(corio_task *t);

/* From a task: yield 20 times, so that every ready task of a
 * current-thread runtime runs until it blocks (checked). */
void settle(void);
/* A current-thread runtime that looks at its timers after every poll
 * (event_interval 1; checked to build). */
corio_rt *new_rt_ev1(void);
/* Join `t` (which must end normally or cancelled) and return its result. */
int join_rc(corio_task *t);

/* ---- small task functions ------------------------------------------------ */

/* Returns 0 at once. */
int nothing_main(void *arg);

/* Returns (int)(intptr_t)arg. */
int return_arg(void *arg);

/* Yields once, then returns *(int *)arg + 10. */
int add_ten(void *arg);

/* Sets *(int *)arg to 1 and returns 0. */
int set_flag(void *arg);

/* Counts calls of functions the runtime must refuse to run. */
extern atomic_int never_called;

/* Counts its call in never_called; returns 0. */
int must_not_run(void *arg);

/* Sleeps 30 s, which must be cancelled (CORIO_ECANCELED), then counts its
 * cleanup in *(atomic_int *)arg; returns 0. */
int sleep_long(void *arg);

/* Sleeps *(corio_duration *)arg, on time (never early, not grossly late:
 * LATE_SLACK); returns 0. */
int sleep_on_time(void *arg);

/* ---- count_fut: PENDING (self-woken) n times, then READY ------------------ */

typedef struct count_fut {
    corio_future base;
    int pending_left; /* PENDING answers still to give */
    int value;        /* the READY result */
    atomic_int polls;
    atomic_int drops;
} count_fut;

/* Initialise `c`: `pending` PENDING answers (each after a wake_by_ref of its
 * own waker), then READY with `value`; polls and drops counted. */
void count_init(count_fut *c, int pending, int value);

/* ---- ready_fut: READY at its first poll, counting its polls -------------- */

typedef struct ready_fut {
    corio_future base;
    int *counter; /* incremented at each poll */
} ready_fut;

/* Initialise `f`: READY (result 0) when polled; each poll adds 1 to
 * *counter. No drop function. */
void ready_fut_init(ready_fut *f, int *counter);

/* ---- slot: a future completed (and woken) by whoever holds the slot ------- */

typedef struct slot {
    pthread_mutex_t mu;
    corio_waker waker; /* the waiter's, under mu */
    bool ready;
    int value;
    int polls;
    int drops;
    bool dropped;
    double woken_at;  /* mono_ms of the completing wake */
    double polled_at; /* mono_ms of the READY poll */
} slot;

/* The future side: polls `s`, READY with s->value once s->ready. Checks that
 * it is never polled after its drop. Any number of slot_futs may be made
 * for one slot, one after the other. */
typedef struct slot_fut {
    corio_future base;
    slot *s;
} slot_fut;

void slot_init(slot *s);
void slot_destroy(slot *s);
void slot_fut_init(slot_fut *f, slot *s);

/* Complete the slot and wake its waiter (consuming wake), from any thread;
 * checks that the wake leaves the empty waker behind. */
void slot_complete(slot *s, int value);

/* Under the slot's lock: its poll count, its drop count, whether a waiter's
 * waker is stored. */
int slot_polls(slot *s);
int slot_drops(slot *s);
bool slot_has_waker(slot *s);

/* From a plain thread: wait (1 ms naps, 10000 at the most) until the slot
 * has a waiter. */
void thread_wait_waker(slot *s);

/* Inside a task: let others run (yield; after 100 tries, 1 ms sleeps too;
 * 100000 tries at the most) until the slot has a waiter. */
void task_wait_waker(slot *s);

/* A plain thread's function: waits (thread_wait_waker) until the slot `arg`
 * has a waiter, then 5 ms later completes it with 1. */
void *slot_complete_later(void *arg);

/* A task function: awaits a slot_fut on the slot `arg`; returns the slot's
 * value, or the await's error (CORIO_ECANCELED...) when interrupted. */
int await_slot(void *arg);

/* ---- spy: a future wrapper that counts the wakes of what it wraps -------- */

/* Timers that must not fire are observed through a spy: it polls the future
 * under test with a waker of its own that counts wakes, and lives in static
 * or heap memory that outlives the test's runtime, so a timer left armed by
 * a buggy drop is counted instead of touching freed memory. */
typedef struct spy {
    corio_future base;
    corio_future *inner;
    corio_waker task;  /* the polling task's waker, forwarded to on a wake */
    _Atomic int wakes; /* wakes of the spy's own waker, by anyone */
    _Atomic int refs;  /* clones of the spy's waker still held */
    _Atomic int dropped;          /* set by the spy's drop, after the inner one */
    _Atomic int wakes_after_drop; /* wakes that came after it: never allowed */
    int drops;
    int polls;
} spy;

/* Zero `s` and make it a spy around `inner`: READY with inner's result when
 * inner is; its drop drops inner. */
void spy_init(spy *s, corio_future *inner);

/* A spy around a sleep, both in memory that outlives the runtime. */
typedef struct probe {
    spy sp;
    corio_sleep_fut sleep;
} probe;

/* Initialise `p`: its spy around a sleep until `deadline`. */
void probe_init(probe *p, corio_instant deadline);

/* ---- never_fut: pending forever, counts its drops ------------------------ */

typedef struct never_fut {
    corio_future base;
    corio_waker w; /* the last poller's, dropped by the drop */
    int drops;
    int polls;
} never_fut;

void never_init(never_fut *n);

/* ---- value_fut: ready with `value` after a sleep, counts its drops ------- */

typedef struct value_fut {
    corio_future base;
    corio_sleep_fut sleep;
    int value;
    int drops;
} value_fut;

/* Initialise `v`: READY with `value` once its sleep of `d`
 * (corio_sleep_fut_init) is over; its drop drops the sleep. */
void value_init(value_fut *v, corio_duration d, int value);

/* ---- a counting waker, to check what is done with a waker ----------------- */

typedef struct cw_target {
    atomic_int refs; /* live wakers */
    atomic_int clones, wakes, wake_by_refs, drops;
} cw_target;

extern const corio_waker_vtable cw_vt;

/* Zero `t` and return the first waker of it (refs 1). */
corio_waker cw_new(cw_target *t);

/* Poll `f` by hand, with `w` as its context's waker. */
corio_poll poll_with(corio_future *f, corio_waker *w);

/* ---- gate: coroutines wait at it until a task opens it -------------------- */

typedef struct gate {
    int open;
    corio_instant base;     /* for the user: e.g. a common start instant */
    size_t started, passed; /* waiters that reached the gate, that passed it */
    corio_waker *wakers;    /* one slot per waiter */
} gate;

/* Zero `g` and give it room for `n` waiters (touched now, so that it does
 * not count as the waiters' memory). */
void gate_init(gate *g, size_t n);

/* Inside a task: wait at the gate as waiter `idx` (< n); returns the await's
 * result. */
int gate_wait(gate *g, size_t idx);

/* Open the gate and wake its first `n` waiters. */
void gate_open(gate *g, size_t n);

void gate_free(gate *g);

/* Inside a task: yield until *counter reaches n. */
void yield_until(const size_t *counter, size_t n);

/* ---- obj: a refcounted pointer message, for the channels' clone/drop ---- */

/* Messages are `obj *`: the clone takes each receiver's reference, the drop
 * releases the channel's. */
typedef struct obj {
    atomic_int refs;
    uint64_t value;
} obj;

/* objs not yet freed (tests zero it first, and check it is 0 at the end). */
extern atomic_int objs_live;

/* A fresh obj with one reference and `v` (checked to allocate). */
obj *obj_new(uint64_t v);

/* Drop a reference; the last one poisons the value and frees the obj. */
void obj_unref(obj *o);

/* corio_chan_opts clone: takes a reference (checked: never of a freed obj);
 * counts the clone in *(atomic_int *)arg when arg (clone_arg) is set. */
void obj_clone(void *msg, void *arg);

/* corio_chan_opts drop: obj_unref of the message. */
void obj_drop(void *msg, void *arg);

/* ---- stacks ----------------------------------------------------------------- */

/* The kernel's vm.max_map_count (65530 when it cannot be read). */
long max_map_count(void);

/* Limit this process's address space (RLIMIT_AS) to what it maps now plus
 * `headroom_kb`: a large stack then cannot be mapped. 0, or -1 (VmSize
 * unreadable, or setrlimit's failure). For a test's own forked process. */
int cap_address_space(long headroom_kb);

/* Recurse with 1 KiB frames, writing every byte of each, `depth` deep
 * (from 0 to max_depth). */
int deep_recurse(long depth, long max_depth);

/* deep_recurse frames needed for about `bytes` of stack. */
long frames_for(size_t bytes);

/* ---- rwlock ----------------------------------------------------------------- */

/* Whether the lock is entirely free, given back as found. */
bool lock_is_free(corio_rwlock *rw);

/* ---- watch: a receiver task that loops on changed -------------------------- */

typedef struct wtask {
    corio_watch_rx *rx;
    int changes;   /* changes seen */
    uint64_t last; /* the value after the last change */
    int rc;        /* changed's error that ended the loop */
} wtask;

/* A task function: corio_watch_changed then get into t->last, counting
 * changes, until changed fails; returns (and stores in t->rc) its error. */
int watch_loop(void *arg);

#endif
