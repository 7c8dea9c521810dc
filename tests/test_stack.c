/* tests/test_stack.c - coroutine stack overflows: guard pages, canaries
 * and the reports.
 *
 * The promise tested comes from DESIGN.md and include/corio/task.h: a
 * stack overflow is reported with the task's name and spawn site, never
 * silent, whether the stack has a guard page (small and large overflows,
 * frames larger than the guard, custom and runtime-wide sizes) or comes
 * from a slab without guards (the canary under it).
 *
 * Each test forks a grandchild that overflows and dies; the test reads its
 * stderr through a pipe and checks how it died. The report must name this
 * file (the spawn site). Stack memory, the pool and sizes are tested in
 * test_stack_pool.c, the per-coroutine FP state in test_stack_fp.c.
 */
#include <corio.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/stack.h"
#include "test.h"
#include "util.h"

#define KIB 1024u

/* ---- overflow reports, in a grandchild ---------------------------------------- */

typedef struct child_out {
    int status;
    char err[4096];
} child_out;

/* Run fn(arg) in a forked child whose stderr comes back in out->err. */
static void run_child(void (*fn)(void *), void *arg, child_out *out)
{
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        alarm(30);
        fn(arg);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(p[0], out->err + len, sizeof out->err - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof out->err - 1) {
            char sink[512];
            while (read(p[0], sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    out->err[len] = 0;
    close(p[0]);
    CHECK_EQ(waitpid(pid, &out->status, 0), pid);
}

static void expect_overflow_report(const child_out *out, const char *name)
{
    printf("child %s; its stderr: %s%s", WIFSIGNALED(out->status) ? "killed by a signal" : "exited",
           out->err, out->err[0] && out->err[strlen(out->err) - 1] == '\n' ? "" : "\n");
    if (!WIFSIGNALED(out->status))
        test_failf(__FILE__, __LINE__, "the overflowing child exited with status %d",
                   WEXITSTATUS(out->status));
    if (WTERMSIG(out->status) != SIGABRT)
        test_failf(__FILE__, __LINE__, "the overflowing child died by signal %d, not SIGABRT",
                   WTERMSIG(out->status));
    CHECK(strstr(out->err, "stack overflow") != NULL);
    if (name)
        CHECK(strstr(out->err, name) != NULL);
    CHECK(strstr(out->err, "test_stack.c") != NULL);
}

typedef struct ovf_args {
    const char *name;
    size_t stack_size;   /* for the overflowing task, 0: the runtime's */
    size_t rt_stack;     /* the runtime's default, 0: the library's */
    long depth;          /* frames of ~1 KiB; huge: unbounded */
    size_t fillers;      /* live coroutines (16 KiB stacks) spawned first */
    size_t same_size_fillers; /* live ones of the overflowing task's size */
    bool big_frame;      /* at `depth`, call a function with a 20 KiB frame */
    bool huge_frame;     /* ... or one with a 128 KiB frame, built as users build */
    bool mapping_guards; /* guards as kernels before 6.13 have them (mappings) */
} ovf_args;

/* A 20 KiB frame whose lowest byte is written first, compiled the way code
 * without -fstack-clash-protection is (where the compiler lets us say so):
 * nothing probes the pages between the stack pointer and that byte. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-stack-clash-protection")))
#endif
static int __attribute__((noinline)) big_frame(int seed)
{
    volatile char buf[20 * 1024];
    /* The array must be a real 20 KiB of this frame (the asm takes its
     * address, so no compiler may shrink it). buf[0], its lowest byte, 20 KiB
     * below the caller, is the only byte written: with a one-page guard this
     * lands in the stack below, silently. */
    __asm__ volatile("" : : "r"(buf) : "memory");
    buf[0] = (char)seed;
    return buf[0];
}

/* A 128 KiB frame, larger than the guard, compiled with this suite's flags:
 * -fstack-clash-protection, as the library and the programs built with
 * corio.pc's flags are. Its lowest byte is 128 KiB below the caller, past
 * the guard and inside the stack below; the probes the compiler puts on the
 * way down touch each page first, the first page below the stack among
 * them, so it faults in the guard. */
static int __attribute__((noinline)) huge_frame(int seed)
{
    volatile char buf[128 * 1024];
    __asm__ volatile("" : : "r"(buf) : "memory");
    buf[0] = (char)seed;
    return buf[0];
}

/* Recurse until less than `leave` bytes of stack are left below this frame
 * (measured from `top`, the first frame), then call big_frame (huge_frame
 * when `huge`). */
static int __attribute__((noinline)) recurse_then_big_frame(const char *top, size_t usable,
                                                            size_t leave, bool huge)
{
    volatile char pad[512];
    pad[0] = 1;
    size_t used = (size_t)(top - (const char *)pad);
    if (used + leave >= usable)
        return huge ? huge_frame(pad[0]) : big_frame(pad[0]);
    return recurse_then_big_frame(top, usable, leave, huge) + pad[0];
}

static int overflow_task(void *arg)
{
    ovf_args *a = arg;
    volatile char here = 0;
    /* big_frame: `depth` is how many bytes to leave; the task's stack is
     * the runtime's default, used from about `here` down. */
    int r = a->big_frame || a->huge_frame
                ? recurse_then_big_frame((const char *)&here, CORIO_DEFAULT_STACK_SIZE,
                                         (size_t)a->depth, a->huge_frame)
                : deep_recurse(0, a->depth);
    /* A bounded overflow that returned is caught when the task switches out. */
    corio_yield();
    corio_sleep(CORIO_MSEC(1));
    return r;
}

static gate ovf_gate;

static int ovf_filler(void *arg)
{
    return gate_wait(&ovf_gate, (size_t)(uintptr_t)arg);
}

static int overflow_main(void *arg)
{
    ovf_args *a = arg;
    size_t nf = a->fillers + a->same_size_fillers;
    gate_init(&ovf_gate, nf + 1);
    corio_spawn_opts fo;
    memset(&fo, 0, sizeof fo);
    for (size_t i = 0; i < nf; i++) {
        fo.stack_size = i < a->fillers ? 16 * KIB : a->stack_size;
        CHECK_EQ(corio_spawn_with(&fo, ovf_filler, (void *)(uintptr_t)i, NULL), 0);
    }
    yield_until(&ovf_gate.started, nf);
    corio_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.name = a->name;
    o.stack_size = a->stack_size;
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&o, overflow_task, a, &t), 0);
    corio_task_join(t, NULL);
    gate_open(&ovf_gate, nf);
    yield_until(&ovf_gate.passed, nf);
    return 0;
}

/* In the grandchild: block_on fn(a) on a runtime whose default stack size
 * is a->rt_stack; it should die of the overflow before it returns. */
static void overflow_in_rt(ovf_args *a, corio_fn fn)
{
    if (a->mapping_guards)
        stack_use_mapping_guards();
    corio_rt *rt = new_rt_sized(a->rt_stack);
    int r = 0;
    corio_rt_block_on(rt, fn, a, &r);
    corio_rt_free(rt);
    fprintf(stderr, "the overflowing task finished without a report\n");
}

static void overflow_child(void *arg)
{
    overflow_in_rt(arg, overflow_main);
}

/* Overflow in a grandchild (overflow_child) and expect the report, with
 * the task's name. */
static void overflow_expect_report(ovf_args *a)
{
    child_out out;
    run_child(overflow_child, a, &out);
    expect_overflow_report(&out, a->name);
}

TEST(stack_overflow_guarded_reported)
{
    /* A fresh process: its first stacks have guard pages. */
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.name = "deep-recursor";
    a.depth = 1L << 40;
    overflow_expect_report(&a);
}

TEST(stack_overflow_small_custom_size_reported)
{
    /* 64 KiB asked for: using 128 KiB must overflow (the size is honoured,
     * not rounded up to the default), and be reported. */
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.name = "small-stack";
    a.stack_size = 64 * KIB;
    a.depth = frames_for(128 * KIB);
    overflow_expect_report(&a);
}

/* A small overflow (8 KiB past the bottom, then back) of a guarded stack
 * that is not the lowest of its slab: the main task and three live fillers
 * of the same size took the slab's first stacks, so this one has stacks
 * below it. It faults in its own guard and is reported; a guard left
 * writable would let it return unnoticed (guarded stacks have no canary). */
TEST(stack_overflow_small_not_lowest_in_slab_reported)
{
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.name = "mid-slab";
    a.same_size_fillers = 3;
    /* deep_recurse's frames are a little over 1 KiB: this goes at least
     * 8 KiB past the bottom, and not far. */
    a.depth = (long)((CORIO_DEFAULT_STACK_SIZE + 8 * KIB) / 1024);
    overflow_expect_report(&a);
}

/* A function with a 20 KiB frame called with less than 12 KiB of stack left
 * writes at least 8 KiB below the stack: past where a one-page guard would
 * end, but inside the 64 KiB guard, so it is reported at that write, not
 * after it has scribbled over the stack below. */
TEST(stack_overflow_large_frame_reported)
{
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.name = "big-frame";
    a.same_size_fillers = 2;
    a.big_frame = true;
    a.depth = 12 * KIB; /* bytes left when big_frame is called */
    overflow_expect_report(&a);
}

/* A frame larger than the guard (128 KiB, with 12 KiB of stack left) in
 * code built with -fstack-clash-protection: reported at its first probe
 * below the stack. Without the probes its far end lands in the stack below,
 * silently. */
TEST(stack_overflow_frame_larger_than_guard_reported)
{
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.name = "huge-frame";
    a.same_size_fillers = 2;
    a.huge_frame = true;
    a.depth = 12 * KIB; /* bytes left when huge_frame is called */
    overflow_expect_report(&a);
}

static void overflow_rt_child(void *arg)
{
    /* The main task runs on a stack of the runtime's default size. */
    overflow_in_rt(arg, overflow_task);
}

TEST(stack_overflow_small_runtime_size_reported)
{
    ovf_args a;
    memset(&a, 0, sizeof a);
    a.rt_stack = 64 * KIB;
    a.depth = frames_for(128 * KIB);
    child_out out;
    run_child(overflow_rt_child, &a, &out);
    /* the main task has no name; its site is the block_on call */
    printf("(main task)\n");
    printf("child %s; its stderr: %s", WIFSIGNALED(out.status) ? "killed by a signal" : "exited",
           out.err);
    CHECK(WIFSIGNALED(out.status));
    CHECK_EQ(WTERMSIG(out.status), SIGABRT);
    CHECK(strstr(out.err, "stack overflow") != NULL);
}

/* Where guards are mappings (kernels before 6.13, where lightweight guard
 * regions do not exist: forced here, on any kernel), stacks beyond the guard
 * budget (a quarter of vm.max_map_count, two mappings per guarded stack)
 * come from slabs without guard pages: first spend the budget on live
 * 16 KiB coroutines, then overflow a 64 KiB stack of a fresh slab that has
 * a stack below it (one live 64 KiB filler takes the slab's first stack,
 * the overflowing coroutine the next: it overflows into the filler's). */
static int unguarded_setup(ovf_args *a)
{
    a->mapping_guards = true;
    long budget = (max_map_count() / 4) / 2;
    if (UNDER_TSAN) {
        printf("SKIPPED under TSan: spending the guard budget takes %ld live coroutines, "
               "more than TSan's fiber limit\n",
               budget);
        return 0;
    }
    if (budget > 150000) {
        printf("SKIPPED: vm.max_map_count %ld gives a guard budget of %ld stacks: too many "
               "live coroutines to spend it\n",
               max_map_count(), budget);
        return 0;
    }
    a->fillers = (size_t)budget + 64;
    a->same_size_fillers = 1;
    a->stack_size = 64 * KIB;
    return 1;
}

/* Under ASan an overflow into the live filler's stack below meets the
 * redzones ASan poisoned in its frames: ASan reports it before corio can.
 * That is a report too. */
static bool reported_by_asan(const child_out *out)
{
    if (UNDER_ASAN && WIFEXITED(out->status) && strstr(out->err, "AddressSanitizer") &&
        strstr(out->err, "stack-buffer")) {
        printf("reported by ASan (as a write into a neighbouring coroutine's stack)\n");
        return true;
    }
    return false;
}

TEST(stack_overflow_unguarded_reported)
{
    /* A bounded overflow (twice the stack) that returns: the canary under
     * the stack is overwritten and must be caught at the next switch. */
    ovf_args a;
    memset(&a, 0, sizeof a);
    if (!unguarded_setup(&a))
        return;
    a.name = "slab-recursor";
    a.depth = frames_for(128 * KIB);
    child_out out;
    run_child(overflow_child, &a, &out);
    if (reported_by_asan(&out))
        return;
    expect_overflow_report(&out, "slab-recursor");
}

TEST(stack_overflow_unguarded_unbounded_reported)
{
    /* Runaway recursion on an unguarded stack: it runs down through the
     * neighbouring slab stacks without a fault and must still end in a
     * report, not a bare SIGSEGV (DESIGN.md: never silent corruption). */
    ovf_args a;
    memset(&a, 0, sizeof a);
    if (!unguarded_setup(&a))
        return;
    a.name = "runaway-recursor";
    a.depth = 1L << 40;
    child_out out;
    run_child(overflow_child, &a, &out);
    if (reported_by_asan(&out))
        return;
    expect_overflow_report(&out, "runaway-recursor");
}
