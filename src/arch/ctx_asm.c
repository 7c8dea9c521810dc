/* ctx_asm.c - building the first frame of a coroutine for the assembly
 * backends. The frame layouts are documented in ctx_x86_64.S / ctx_aarch64.S;
 * this file and those must agree. */
#include "ctx.h"

#ifndef CORIO_CTX_UCONTEXT
#include <stdint.h>
#include <string.h>

void ctx_trampoline(void) __attribute__((visibility("hidden")));

ctx_fpenv ctx_fpenv_capture(void)
{
    ctx_fpenv e;
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t fpcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpcw));
    e.bits = (uint64_t)mxcsr | (uint64_t)fpcw << 32;
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    e.bits = fpcr;
#endif
    return e;
}

void ctx_make(arch_ctx *c, void *lo, size_t size, ctx_entry_fn entry, void *arg, ctx_fpenv fp)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Eight slots (see ctx_x86_64.S); once the switch has popped the last
     * one (the trampoline's address), rsp = top - 16: 16-byte aligned, as a
     * call instruction expects it before pushing its return address. */
    uint64_t *sp = (uint64_t *)(top - 16 - 64);
    memset(sp, 0, 64);
    uint32_t mxcsr = (uint32_t)fp.bits;
    uint16_t fpcw = (uint16_t)(fp.bits >> 32);
    memcpy((char *)sp + 0, &mxcsr, 4);
    memcpy((char *)sp + 4, &fpcw, 2);
    sp[4] = (uint64_t)(uintptr_t)entry; /* r12 */
    sp[3] = (uint64_t)(uintptr_t)arg;   /* r13 */
    sp[7] = (uint64_t)(uintptr_t)ctx_trampoline;
    c->sp = sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(top - 176);
    memset(sp, 0, 176);
    uint64_t fpcr = fp.bits;
    sp[0] = (uint64_t)(uintptr_t)entry; /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;   /* x20 */
    sp[11] = (uint64_t)(uintptr_t)ctx_trampoline; /* x30 */
    sp[20] = fpcr;
    c->sp = sp;
#endif
}

void ctx_init_thread(arch_ctx *c)
{
    c->sp = NULL;
}

void ctx_free_thread(arch_ctx *c)
{
    (void)c;
}
#endif
