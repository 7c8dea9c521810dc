/* ctx_switch.c - the bare cost of switching between coroutines.
 *
 *   ctx_switch [threads=1] [n=10000000] [raw_n=100000000]
 *
 * Figure 1 (the RESULT's ops): two coroutine tasks yield to each other, n
 * times each (corio_yield). With only the two of them ready, a yield
 * hands the CPU straight to the other coroutine (one switch, through the run
 * queue), and about every 61st goes through the scheduler loop (its timer and
 * inject checks). ops = 2n yields; ns_per_yield is the cost of one.
 *
 * Figure 2 (raw_ns_per_switch=): the context switch alone, one direction
 * (save the callee-saved registers and FP control words, swap stacks),
 * through the library's internal interface (src/arch/ctx.h: the benchmarks
 * are built with -Isrc against the static archive, where the hidden symbols
 * are reachable). Sanitizer builds print na (the bare switch lacks their
 * fiber annotations), and so does the ucontext build. A diagnostic, not an
 * API.
 */
#include <sys/mman.h>

#include "arch/ctx.h"
#include "bench.h"

static struct {
    uint64_t n;
    double secs;
} g;

static int yielder(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.n; i++)
        bench_check(corio_yield(), "corio_yield");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns();
    corio_task *a;
    bench_check(corio_spawn(yielder, NULL, &a), "corio_spawn");
    corio_task *b;
    bench_check(corio_spawn(yielder, NULL, &b), "corio_spawn");
    if (!a || !b)
        bench_check(-ENOMEM, "corio_spawn");
    /* Joining a suspends the main task, which is then not in the run queue:
     * a and b alternate alone until they finish. */
    bench_check(corio_task_join(a, NULL), "corio_task_join");
    bench_check(corio_task_join(b, NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

/* ---- the raw assembly switch ------------------------------------------------- */

/* Not under sanitizers: this switch skips the fiber annotations they need. */
#if !defined(CORIO_CTX_UCONTEXT) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static arch_ctx raw_main, raw_co;

static void raw_entry(void *arg)
{
    (void)arg;
    for (;;)
        ctx_switch(&raw_co, &raw_main);
}

/* ns per one-way switch, or a negative value when unavailable. */
static double raw_switch_ns(uint64_t n)
{
    if (n == 0)
        return -1;
    size_t size = 64 * 1024;
    void *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stk == MAP_FAILED)
        return -1;
    ctx_make(&raw_co, stk, size, raw_entry, NULL, ctx_fpenv_capture());
    ctx_switch(&raw_main, &raw_co); /* warm up: start it */
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        ctx_switch(&raw_main, &raw_co);
    double ns = (double)(now_ns() - t0) / (2.0 * (double)n); /* two switches a round */
    munmap(stk, size); /* the coroutine is parked for good: drop its stack */
    return ns;
}
#else
static double raw_switch_ns(uint64_t n)
{
    (void)n;
    return -1;
}
#endif

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "ctx_switch");
    g.n = arg_u64(argc, argv, "n", 10000000);
    uint64_t raw_n = arg_u64(argc, argv, "raw_n", 100000000);
    bench_run(main_task, NULL);
    double raw = raw_switch_ns(raw_n);
    uint64_t ops = 2 * g.n;
    double per_yield = ops ? g.secs * 1e9 / (double)ops : 0;
    char rawbuf[32];
    if (raw >= 0)
        snprintf(rawbuf, sizeof rawbuf, "%.2f", raw);
    else
        snprintf(rawbuf, sizeof rawbuf, "na");
    bench_report("ctx_switch", threads, ops, g.secs, "ns_per_yield=%.2f raw_ns_per_switch=%s",
                 per_yield, rawbuf);
    return 0;
}
