/* fiber.h - telling ASan, TSan and valgrind about coroutine stacks.
 *
 * ASan must know when execution moves to another stack, or it reports false
 * stack-buffer errors and loses fake stacks; TSan must know which "fiber" is
 * running, or it mixes up the happens-before of different coroutines. The
 * calls compile to nothing in an ordinary build. Valgrind's stack
 * registration lives in stack.c, where stacks are created.
 */
#ifndef CORIO_ARCH_FIBER_H
#define CORIO_ARCH_FIBER_H

#include <stddef.h>
#include <time.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define CORIO_ASAN 1
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#define ASAN_START_SWITCH(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#define ASAN_FINISH_SWITCH(save, bottom_old, size_old)                                            \
    __sanitizer_finish_switch_fiber((save), (bottom_old), (size_old))
#else
#define ASAN_START_SWITCH(save, bottom, size) ((void)0)
#define ASAN_FINISH_SWITCH(save, bottom_old, size_old) ((void)0)
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define TSAN_CURRENT_FIBER() __tsan_get_current_fiber()
#define TSAN_CREATE_FIBER() __tsan_create_fiber(0)
#define TSAN_DESTROY_FIBER(f) __tsan_destroy_fiber(f)
#define TSAN_SWITCH_TO(f) __tsan_switch_to_fiber((f), 0)
#else
#define TSAN_CURRENT_FIBER() ((void *)0)
#define TSAN_CREATE_FIBER() ((void *)0)
#define TSAN_DESTROY_FIBER(f) ((void)(f))
#define TSAN_SWITCH_TO(f) ((void)(f))
#endif

/* Signals under TSan. TSan runs a program's signal handlers only when the
 * thread that took the signal is in, or next enters, a function it
 * intercepts; a thread asleep in a raw futex or epoll_pwait2 system call
 * holds a handler back for as long as it sleeps - corio's own handler,
 * which counts a SIGTERM for its listeners, included. So under TSan those
 * sleeps last at most SAN_SLEEP_SLICE and are followed by
 * san_signal_point(), a call TSan intercepts; in other builds the slice is
 * "no limit" (NULL) and the point is nothing. 50 ms: a signal waits that
 * long at most, and an idle runtime's sleepers (each worker and the thread
 * in block_on) cost TSan's wake-up work 20 times a second each, under 0.5%
 * of a CPU on a quiet machine (10 ms cost 0.8%, and over 2% on a loaded
 * one). */
#ifdef CORIO_TSAN
static const struct timespec san_sleep_slice = {0, 50000000};
#define SAN_SLEEP_SLICE (&san_sleep_slice)
static inline void san_signal_point(void)
{
    struct timespec zero = {0, 0};
    nanosleep(&zero, NULL);
}
#else
#define SAN_SLEEP_SLICE ((const struct timespec *)NULL)
static inline void san_signal_point(void)
{
}
#endif

#endif
