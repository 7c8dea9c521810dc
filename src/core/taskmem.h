/* core/taskmem.h - memory for task headers and stackless futures (internal).
 *
 * Blocks of up to 512 bytes, in 16-byte classes from 32 bytes (smaller
 * requests get 32), are carved by bumping a pointer through 2 MiB chunks
 * and recycled through per-thread free lists (no lock, no atomic, no
 * header per block on the hot path); a list that grows past a bound moves
 * whole to a global depot, and a thread whose list is empty takes a whole
 * list back from it: one mutex and O(1) each way, touching no block but
 * the list's first. A block may be freed on any thread. Larger blocks go
 * to malloc.
 *
 * A block whose size is a multiple of 64 bytes starts on a 64-byte boundary,
 * and one whose size is a multiple of 128 on a 128-byte boundary (a pair of
 * lines, which the CPUs' adjacent-line prefetchers fetch together): a
 * caller that sizes its blocks so keeps them off its neighbours' cache
 * lines. Coroutine tasks do (core/coro.c): two tasks running on two
 * workers must not make each state change pull a line from the other core.
 * Other sizes get 16-byte alignment and are packed.
 *
 * The memory a thread's bump pointer is about to hand out is committed 64
 * KiB at a time, with one madvise(MADV_POPULATE_WRITE), not a page fault
 * per page (taskmem.c, populate_ahead).
 *
 * Not MADV_HUGEPAGE: measured on the project's VMs, a cold huge page costs
 * about five times the 4 KiB faults it replaces (the host reclaims freed 2 MiB
 * blocks, so a huge page is usually rebuilt from scratch).
 *
 * Memory is kept for reuse, not returned to the kernel: a burst of a million
 * tasks leaves its chunks cached for the next burst (like most allocators'
 * arenas). Under ASan, TSan or valgrind every block is a plain malloc, so the
 * tools keep seeing use-after-free and leaks.
 */
#ifndef CORIO_CORE_TASKMEM_H
#define CORIO_CORE_TASKMEM_H

#include <stddef.h>

/* Blocks up to this size come from the pool; larger ones from malloc. */
#define TASKMEM_MAX_POOLED 512

void *taskmem_alloc(size_t size);
/* `size` as allocated; any value > TASKMEM_MAX_POOLED for a large block. */
void taskmem_free(void *p, size_t size);

/* Bytes currently in chunks (for metrics and tests). */
size_t taskmem_reserved_bytes(void);

#endif
