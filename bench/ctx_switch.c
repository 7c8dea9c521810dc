/* ctx_switch.c - the bare cost of switching between coroutines.
 *
 *   ctx_switch [threads=1] [n=10000000] [raw_n=100000000]
 *
 * Figure 1 (the RESULT's ops): two coroutine tasks yield to each other, n
 * times each (corio_yield_now). With only the two of them ready, every yield
 * is a full task switch: coroutine -> scheduler loop -> the other coroutine,
 * through the run queue and the task state machine. ops = 2n yields, and
 * ns_per_yield is the cost of one such switch.
 *
 * Figure 2 (raw_ns_per_switch=): the assembly switch alone, one direction
 * (save the callee-saved registers and FP control words, swap stacks). It is
 * an internal, hidden symbol of the library, reachable only because this
 * program links the static archive (hidden visibility stops at the shared
 * object's boundary, not at the archive's). It is declared here by hand, and
 * weakly, with ctx_make (builds a first frame) and ctx_fpenv_capture (the FP
 * control state a first frame starts with): a build with CTX=ucontext, or a
 * library that renamed them, prints raw_ns_per_switch=na instead of failing
 * to link; so do sanitizer builds (the raw switch lacks their fiber
 * annotations). These declarations must follow src/arch/ctx.h. ctx_make
 * took five arguments before ctx_fpenv_capture existed; passing the sixth
 * to that version is harmless in both ABIs (it lands in an unused argument
 * register). As a last guard against a changed internal interface, a raw
 * switch that costs more than a whole yield (which contains one) is reported
 * as na, with a note on stderr. The figure is a diagnostic, not an API.
 */
#include <sys/mman.h>

#include "bench.h"

static struct {
    uint64_t n;
    double secs;
} g;

static int yielder(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.n; i++)
        bench_check(corio_yield_now(), "corio_yield_now");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns();
    corio_task *a = corio_spawn(yielder, NULL);
    corio_task *b = corio_spawn(yielder, NULL);
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
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(CORIO_CTX_UCONTEXT) &&             \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
typedef struct raw_ctx {
    void *sp;
} raw_ctx;
typedef struct raw_fpenv {
    uint64_t bits;
} raw_fpenv;
/* From src/arch/ctx.h (internal): weak, so that their absence is no error. */
void corio_ctx_switch_asm(void **save_sp, void *load_sp) __attribute__((weak));
raw_fpenv ctx_fpenv_capture(void) __attribute__((weak));
void ctx_make(raw_ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg, raw_fpenv fp)
    __attribute__((weak));

static raw_ctx raw_main, raw_co;

static void raw_entry(void *arg)
{
    (void)arg;
    for (;;)
        corio_ctx_switch_asm(&raw_co.sp, raw_main.sp);
}

/* ns per one-way switch, or a negative value when unavailable. */
static double raw_switch_ns(uint64_t n)
{
    if (!corio_ctx_switch_asm || !ctx_make || n == 0)
        return -1;
    size_t size = 64 * 1024;
    void *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stk == MAP_FAILED)
        return -1;
    raw_fpenv fp = {0};
    if (ctx_fpenv_capture)
        fp = ctx_fpenv_capture();
    ctx_make(&raw_co, stk, size, raw_entry, NULL, fp);
    corio_ctx_switch_asm(&raw_main.sp, raw_co.sp); /* warm up: start it */
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        corio_ctx_switch_asm(&raw_main.sp, raw_co.sp);
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
    if (raw > per_yield && per_yield > 0) {
        fprintf(stderr, "ctx_switch: the raw switch (%.2f ns) costs more than a whole yield "
                        "(%.2f ns): the internal ctx_make/ctx switch interface has probably "
                        "changed; update the declarations in bench/ctx_switch.c\n",
                raw, per_yield);
        raw = -1;
    }
    char rawbuf[32];
    if (raw >= 0)
        snprintf(rawbuf, sizeof rawbuf, "%.2f", raw);
    else
        snprintf(rawbuf, sizeof rawbuf, "na");
    bench_report("ctx_switch", threads, ops, g.secs, "ns_per_yield=%.2f raw_ns_per_switch=%s",
                 per_yield, rawbuf);
    return 0;
}
