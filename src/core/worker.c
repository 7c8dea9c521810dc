/* core/worker.c - the calling thread's worker, and entering a thread into
 * the role of running coroutines (see core/worker.h). */
#include "core/worker.h"

#include "arch/fiber.h"
#include "core/coro.h"

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call in
 * -fPIC code (the library is built position-independent for the .so). */
static __thread worker *tls_worker __attribute__((tls_model("initial-exec")));

#ifdef ARCH_HAVE_TP
_Atomic ptrdiff_t worker_tls_offset;
#endif

__attribute__((noinline)) worker *worker_current_slow(void)
{
    /* noinline plus the empty asm keep the compiler from caching the TLS
     * address in a caller across a coroutine switch. */
    worker *w = tls_worker;
    __asm__ volatile("" ::: "memory");
#ifdef ARCH_HAVE_TP
    ptrdiff_t off = (char *)&tls_worker - arch_thread_pointer();
    /* 0 would mean "not learnt": static TLS sits below (x86-64) or above
     * (AArch64, after the TCB) the thread pointer, never at it. */
    if (off != 0)
        atomic_store_explicit(&worker_tls_offset, off, memory_order_relaxed);
#endif
    return w;
}

static __attribute__((noinline)) void worker_set_current(worker *w)
{
    tls_worker = w;
    __asm__ volatile("" ::: "memory");
}

static __thread sched *tls_handle __attribute__((tls_model("initial-exec")));

void worker_set_handle(sched *s)
{
    tls_handle = s;
}

sched *worker_handle(void)
{
    return tls_handle;
}

void worker_enter(worker *w)
{
    ctx_init_thread(&w->ctx);
    w->tsan_fiber = TSAN_CURRENT_FIBER();
    w->fpenv = ctx_fpenv_capture(); /* coroutines inherit the thread's */
    w->current = NULL;
    w->coro = NULL;
    stack_overflow_handler_install(coro_check_fault);
    worker_set_current(w);
}

void worker_leave(worker *w)
{
    worker_set_current(NULL);
    ctx_free_thread(&w->ctx);
}
