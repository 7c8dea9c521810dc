/* arch/tls.h - reading a thread-local variable afresh, for code that may
 * resume on another thread (internal).
 *
 * A coroutine can suspend on one thread and resume on another. A compiler
 * treats the thread pointer as constant within a function, so it may
 * compute a thread-local's address once and use it after the switch: the
 * old thread's variable. This reads the thread pointer with a volatile asm,
 * which the compiler can neither reuse nor move across the switch, and adds
 * the variable's offset from it. For an initial-exec (static TLS) variable
 * that offset is the same on every thread, so it is computed once, on any
 * thread. The result is a load or two, inline, where a call to a non-inlined
 * accessor used to be (the accessor stays as the fallback for other
 * architectures and the portable context build).
 */
#ifndef CORIO_ARCH_TLS_H
#define CORIO_ARCH_TLS_H

#include <stddef.h>

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(CORIO_CTX_UCONTEXT)
#define ARCH_HAVE_TP 1

static inline char *arch_thread_pointer(void)
{
    char *tp;
#if defined(__x86_64__)
    /* %fs:0 holds the thread control block's own address (the ABI's tp). */
    __asm__ volatile("movq %%fs:0, %0" : "=r"(tp));
#else
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(tp));
#endif
    return tp;
}
#endif

#endif
