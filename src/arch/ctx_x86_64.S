/* ctx_x86_64.S - coroutine context switch for x86-64 SysV.
 *
 * ctx_switch_asm(void **save_sp, void *load_sp)
 *   Pushes the callee-saved registers (rbp rbx r12-r15), MXCSR and the x87
 *   control word on the current stack, stores rsp in *save_sp, loads load_sp
 *   and pops the same layout from there. Everything else is caller-saved, so
 *   a C call boundary is all the compiler needs.
 *
 * Stack layout at a saved sp (low to high):
 *   [0] mxcsr (4 bytes) [4] x87 cw (2 bytes) [8] r15 [16] r14 [24] r13
 *   [32] r12 [40] rbx [48] rbp [56] return address
 * ctx_make (ctx_asm.c) builds the same layout for a new coroutine, with the
 * return address pointing at ctx_trampoline, fn in r12 and arg in r13.
 */
#if defined(__x86_64__) && !defined(CORIO_CTX_UCONTEXT)
/* Save the current context, load the other: everything but the return. */
.macro SWITCH_BODY
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
.endm

    .text
    .globl ctx_switch_asm
    .hidden ctx_switch_asm
    .type ctx_switch_asm, @function
    .p2align 4
ctx_switch_asm:
    .cfi_startproc
    SWITCH_BODY
    /* pop + indirect jump instead of ret: the return address belongs to
     * another stack, saved at another call site (the scheduler loop's vs a
     * coroutine's), so `ret` would mispredict on the return stack buffer
     * every time (measured: 12 ns vs 5.5 ns per switch). */
    popq %rcx
    jmpq *%rcx
    .cfi_endproc
    .size ctx_switch_asm, .-ctx_switch_asm

/* The same switch ending in `ret`, for two contexts saved at the same call
 * site (one yielding coroutine handing the CPU to another, ctx_switch_peer):
 * the return stack buffer's prediction, this call's own return address, is
 * then exactly where the other context resumes, and the buffer stays in step
 * with the stack for the returns that follow (yield_many: 18 -> 25 M/s). */
    .globl ctx_switch_asm_peer
    .hidden ctx_switch_asm_peer
    .type ctx_switch_asm_peer, @function
    .p2align 4
ctx_switch_asm_peer:
    .cfi_startproc
    SWITCH_BODY
    ret
    .cfi_endproc
    .size ctx_switch_asm_peer, .-ctx_switch_asm_peer

/* First code a new coroutine runs: rsp is 16-byte aligned here, as a call
 * expects before it pushes the return address. */
    .globl ctx_trampoline
    .hidden ctx_trampoline
    .type ctx_trampoline, @function
    .p2align 4
ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size ctx_trampoline, .-ctx_trampoline
#endif
    .section .note.GNU-stack,"",@progbits
