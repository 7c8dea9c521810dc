/* ctx_ucontext.c - the portable context backend (makecontext/swapcontext).
 * Slower (swapcontext saves and restores the signal mask with a system call)
 * but available wherever there is no assembly backend; selected with
 * `make CTX=ucontext` or automatically on an unknown architecture. The
 * ucontext_t of a coroutine lives at the top of its own stack. */
#include "ctx.h"

#ifdef CORIO_CTX_UCONTEXT
#include <stdint.h>
#include <stdlib.h>

static void uc_entry(unsigned int fhi, unsigned int flo, unsigned int ahi, unsigned int alo)
{
    ctx_entry_fn fn = (ctx_entry_fn)(((uintptr_t)fhi << 32) | (uintptr_t)flo);
    void *arg = (void *)(((uintptr_t)ahi << 32) | (uintptr_t)alo);
    fn(arg);
    abort(); /* entry never returns */
}

ctx_fpenv ctx_fpenv_capture(void)
{
    ctx_fpenv e = {0}; /* getcontext() in ctx_make copies the thread's own */
    return e;
}

void ctx_make(arch_ctx *c, void *lo, size_t size, ctx_entry_fn entry, void *arg, ctx_fpenv fp)
{
    (void)fp;
    uintptr_t top = ((uintptr_t)lo + size - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)top;
    getcontext(uc);
    uc->uc_stack.ss_sp = lo;
    uc->uc_stack.ss_size = top - (uintptr_t)lo;
    uc->uc_link = NULL;
    uintptr_t f = (uintptr_t)entry, a = (uintptr_t)arg;
    makecontext(uc, (void (*)(void))uc_entry, 4, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a);
    c->uc = uc;
}

void ctx_init_thread(arch_ctx *c)
{
    c->uc = calloc(1, sizeof(ucontext_t));
    if (!c->uc)
        abort();
}

void ctx_free_thread(arch_ctx *c)
{
    free(c->uc);
    c->uc = NULL;
}

void ctx_switch(arch_ctx *from, arch_ctx *to)
{
    swapcontext(from->uc, to->uc);
}
#endif
