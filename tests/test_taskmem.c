/* tests/test_taskmem.c - the task memory allocator (src/core/taskmem.h).
 *
 * Blocks are recycled through per-thread free lists that spill to a global
 * depot past 8 MiB per size class, and a thread with an empty list takes a
 * whole spilled list back from it.
 * These tests drive every path with the allocator's internal interface:
 * more frees than a thread's list keeps, allocation again of that many
 * (from the list, then the depot), blocks freed on another thread, and the
 * contents of every block checked so that a block handed out twice, or a
 * list that loses or duplicates blocks, is caught. Under the sanitizers and
 * valgrind the allocator is plain malloc; the same checks still hold.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/taskmem.h"
#include "test.h"
#include "util.h"

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Every block distinct and not overlapping any other of `size` bytes. */
static void check_distinct(void **blocks, size_t n, size_t size)
{
    void **sorted = malloc(n * sizeof *sorted);
    CHECK(sorted != NULL);
    memcpy(sorted, blocks, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        if ((char *)sorted[i - 1] + size > (char *)sorted[i])
            test_failf(__FILE__, __LINE__, "blocks %p and %p overlap (size %zu)", sorted[i - 1],
                       sorted[i], size);
    free(sorted);
}

static void fill(void **blocks, size_t n, size_t size, uint8_t tag)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)(uint8_t)(tag + i), size);
    }
}

static void verify(void **blocks, size_t n, size_t size, uint8_t tag)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = blocks[i];
        uint8_t want = (uint8_t)(tag + i);
        for (size_t k = 0; k < size; k += 7)
            if (b[k] != want)
                test_failf(__FILE__, __LINE__, "block %zu changed under its owner", i);
    }
}

/* Two rounds of 200,000 blocks of the coroutine task's size (128 bytes):
 * freeing them all spills the thread's list to the depot twice over; the
 * second round takes them back (from the list, then from the depot) and
 * must get distinct, intact blocks, without reserving new chunks. */
TEST(taskmem_free_more_than_cache_then_allocate_again)
{
    const size_t n = SCALE(200000, 50000, 20000), size = 128;
    void **blocks = calloc(n, sizeof *blocks);
    CHECK(blocks != NULL);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++)
            blocks[i] = taskmem_alloc(size);
        fill(blocks, n, size, (uint8_t)round);
        check_distinct(blocks, n, size);
        verify(blocks, n, size, (uint8_t)round);
        size_t reserved = taskmem_reserved_bytes();
        for (size_t i = 0; i < n; i++)
            taskmem_free(blocks[i], size);
        if (round > 0 && !UNDER_SAN)
            CHECK_EQ(taskmem_reserved_bytes(), reserved); /* nothing new was reserved */
    }
    free(blocks);
}

/* Blocks of several classes interleaved, so the lists of one class never
 * hand out a block of another. */
TEST(taskmem_classes_stay_apart)
{
    enum { N = 30000 };
    static const size_t sizes[] = {16, 48, 112, 144, 320, 512, 513, 4096};
    void **blocks = calloc(N, sizeof *blocks);
    size_t *sz = calloc(N, sizeof *sz);
    CHECK(blocks && sz);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++) {
            sz[i] = sizes[(i * 7 + (size_t)round) % (sizeof sizes / sizeof sizes[0])];
            blocks[i] = taskmem_alloc(sz[i]);
            CHECK(blocks[i] != NULL);
            memset(blocks[i], (int)(uint8_t)i, sz[i]);
        }
        for (size_t i = 0; i < N; i++) {
            const uint8_t *b = blocks[i];
            CHECK(b[0] == (uint8_t)i && b[sz[i] - 1] == (uint8_t)i);
        }
        for (size_t i = 0; i < N; i += 2)
            taskmem_free(blocks[i], sz[i]);
        for (size_t i = 1; i < N; i += 2)
            taskmem_free(blocks[i], sz[i]);
    }
    free(blocks);
    free(sz);
}

/* Blocks of whole cache lines start on one, and 128-byte multiples on a
 * pair of lines (taskmem.h), whether carved fresh, carved after a block of
 * another size moved the bump pointer off the boundary, or taken back from
 * a free list. (Not under the sanitizers, where every block is a malloc.) */
TEST(taskmem_line_sized_blocks_are_line_aligned)
{
    if (UNDER_SAN)
        return;
    enum { N = 5000 };
    static const size_t sizes[] = {16, 128, 48, 64, 112, 192, 256, 144, 384};
    void **blocks = calloc(N, sizeof *blocks);
    CHECK(blocks != NULL);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t sz = sizes[i % (sizeof sizes / sizeof sizes[0])];
            blocks[i] = taskmem_alloc(sz);
            CHECK(blocks[i] != NULL);
            uintptr_t a = (uintptr_t)blocks[i];
            uintptr_t want = sz % 128 == 0 ? 128 : sz % 64 == 0 ? 64 : 16;
            if (a % want != 0)
                test_failf(__FILE__, __LINE__, "a %zu-byte block at %#lx: not %lu-aligned", sz,
                           (unsigned long)a, (unsigned long)want);
        }
        for (size_t i = 0; i < N; i++)
            taskmem_free(blocks[i], sizes[i % (sizeof sizes / sizeof sizes[0])]);
    }
    free(blocks);
}

/* Blocks allocated on one thread and freed on another (a task spawned on
 * one worker and finished on another): the freeing thread's lists spill
 * them to the depot, and the first thread gets them back through it. */
typedef struct xfree {
    void **blocks;
    size_t n, size;
} xfree;

static void *free_on_other_thread(void *arg)
{
    xfree *x = arg;
    for (size_t i = 0; i < x->n; i++)
        taskmem_free(x->blocks[i], x->size);
    return NULL; /* the thread's exit hands its lists to the depot */
}

TEST(taskmem_freed_on_another_thread_comes_back)
{
    xfree x;
    x.n = SCALE(150000, 40000, 20000);
    x.size = 128;
    x.blocks = calloc(x.n, sizeof *x.blocks);
    CHECK(x.blocks != NULL);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < x.n; i++)
            x.blocks[i] = taskmem_alloc(x.size);
        fill(x.blocks, x.n, x.size, (uint8_t)(round * 3));
        check_distinct(x.blocks, x.n, x.size);
        verify(x.blocks, x.n, x.size, (uint8_t)(round * 3));
        size_t reserved = taskmem_reserved_bytes();
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, free_on_other_thread, &x), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        if (round > 0 && !UNDER_SAN)
            CHECK(taskmem_reserved_bytes() <= reserved + (2u << 20));
    }
    free(x.blocks);
}
