/* ctx_aarch64.S - coroutine context switch for AArch64 (AAPCS64).
 *
 * ctx_switch_asm(void **save_sp, void *load_sp)
 *   Saves x19-x28, fp (x29), lr (x30), d8-d15 and FPCR in a 176-byte frame on
 *   the current stack, stores sp in *save_sp, loads load_sp, restores the
 *   same frame and returns through the restored lr.
 *
 * Frame at a saved sp: [0] x19 x20 [16] x21 x22 [32] x23 x24 [48] x25 x26
 *   [64] x27 x28 [80] x29 x30 [96] d8 d9 [112] d10 d11 [128] d12 d13
 *   [144] d14 d15 [160] fpcr [168] pad
 * A new coroutine's frame has lr = ctx_trampoline, x19 = fn, x20 = arg.
 */
#if defined(__aarch64__) && !defined(CORIO_CTX_UCONTEXT)
    .text
    .globl ctx_switch_asm
    .hidden ctx_switch_asm
    .type ctx_switch_asm, %function
    .p2align 4
ctx_switch_asm:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
    .size ctx_switch_asm, .-ctx_switch_asm

    .globl ctx_trampoline
    .hidden ctx_trampoline
    .type ctx_trampoline, %function
    .p2align 4
ctx_trampoline:
    mov x29, #0
    mov x30, #0
    mov x0, x20
    blr x19
    brk #0
    .size ctx_trampoline, .-ctx_trampoline
#endif
    .section .note.GNU-stack,"",%progbits
