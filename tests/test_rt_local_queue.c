/* tests/test_rt_local_queue.c - a worker's local run queue (internal): making
 * one leaves its 8 KiB ring untouched, so that an idle worker's queue costs
 * no resident memory (docs/runtime.md, what a runtime costs).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt/local_queue.h"
#include "test.h"

/* lq_init on fresh zeroed pages (as the calloc'd workers are) writes only
 * head and tail: no page that holds nothing but ring slots becomes resident,
 * and the queue works from there. Failed when lq_init stored NULL in every
 * slot: all of the ring's pages were committed for each worker at build. */
TEST(rt_local_queue_init_leaves_ring_pages_untouched)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (sizeof(local_queue) + 2 * (size_t)page) & ~((size_t)page - 1);
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    local_queue *q = (local_queue *)(void *)m;
    lq_init(q);
    /* the pages lying wholly inside buf */
    uintptr_t lo = ((uintptr_t)&q->buf[0] + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = (uintptr_t)&q->buf[LQ_CAP] & ~((uintptr_t)page - 1);
    CHECK(hi > lo);
    size_t npages = (hi - lo) / (size_t)page;
    unsigned char vec[64];
    CHECK(npages <= sizeof vec);
    CHECK_EQ(mincore((void *)lo, hi - lo, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < npages; i++)
        resident += vec[i] & 1;
    CHECK_EQ(resident, 0);
    CHECK(lq_is_empty(q));
    CHECK_EQ(lq_len(q), 0);
    CHECK(lq_pop(q) == NULL);
    munmap(m, len);
}
