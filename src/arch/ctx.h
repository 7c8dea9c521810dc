/* ctx.h - the machine context of a coroutine: switch and create.
 *
 * Backends: hand-written assembly for x86-64 SysV (ctx_x86_64.S) and AArch64
 * (ctx_aarch64.S), saving exactly the callee-saved state of the ABI plus the
 * floating-point control state; ucontext (ctx_ucontext.c) as the portable
 * fallback, chosen with CORIO_CTX_UCONTEXT (it costs a sigprocmask system call
 * per switch). The scheduler never sees which one is in use.
 */
#ifndef CORIO_ARCH_CTX_H
#define CORIO_ARCH_CTX_H

#include <stddef.h>
#include <stdint.h>

#if !defined(CORIO_CTX_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define CORIO_CTX_UCONTEXT 1
#endif

#ifdef CORIO_CTX_UCONTEXT
#include <ucontext.h>
typedef struct arch_ctx {
    ucontext_t *uc;
} arch_ctx;
#else
typedef struct arch_ctx {
    void *sp; /* saved stack pointer; the registers are on that stack */
} arch_ctx;
#endif

typedef void (*ctx_entry_fn)(void *arg);

/* The floating-point control state a new coroutine starts with (x86-64:
 * MXCSR and the x87 control word; AArch64: FPCR), read from the calling
 * thread. Read once per worker: reading it costs more than the rest of
 * ctx_make (fnstcw is slow). */
typedef struct ctx_fpenv {
    uint64_t bits;
} ctx_fpenv;
ctx_fpenv ctx_fpenv_capture(void);

/* Prepare `c` to start entry(arg) on the stack [lo, lo+size) at the first
 * switch to it, with FP control state `fp`. entry must never return. */
void ctx_make(arch_ctx *c, void *lo, size_t size, ctx_entry_fn entry, void *arg, ctx_fpenv fp);

/* Prepare a context that will only be switched away from (a thread's own). */
void ctx_init_thread(arch_ctx *c);
void ctx_free_thread(arch_ctx *c);

/* Save the current state into `from`, resume `to`.
 * ctx_switch_peer is the same switch, for when `to` was saved at the same
 * call site as this one (a coroutine yielding straight to another that
 * yielded): on x86-64 it returns with a `ret` the CPU predicts right then,
 * where ctx_switch avoids a `ret` that it would predict wrong. */
#ifdef CORIO_CTX_UCONTEXT
void ctx_switch(arch_ctx *from, arch_ctx *to);
static inline void ctx_switch_peer(arch_ctx *from, arch_ctx *to)
{
    ctx_switch(from, to);
}
#else
void ctx_switch_asm(void **save_sp, void *load_sp);
static inline void ctx_switch(arch_ctx *from, arch_ctx *to)
{
    ctx_switch_asm(&from->sp, to->sp);
}
#if defined(__x86_64__)
void ctx_switch_asm_peer(void **save_sp, void *load_sp);
static inline void ctx_switch_peer(arch_ctx *from, arch_ctx *to)
{
    ctx_switch_asm_peer(&from->sp, to->sp);
}
#else
static inline void ctx_switch_peer(arch_ctx *from, arch_ctx *to)
{
    ctx_switch_asm(&from->sp, to->sp);
}
#endif
#endif

#endif
