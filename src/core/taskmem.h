/* core/taskmem.h - memory for task headers and stackless futures (internal).
 *
 * Spawning a million tasks is dominated by page faults when every task is a
 * separate malloc (about 3 us per 4 KiB page in a VM). Task memory therefore
 * comes from 2 MiB chunks that the kernel may back with transparent huge
 * pages (MADV_HUGEPAGE): one fault per 2 MiB instead of per 4 KiB. Blocks of
 * 16..512 bytes, in 16-byte classes, are carved by bumping a pointer and
 * recycled through per-thread free lists (no lock, no atomic on the hot
 * path); lists that grow past a bound spill half to a global depot (one
 * mutex), where other threads refill from. A block may be freed on any
 * thread. Larger blocks go to malloc.
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
