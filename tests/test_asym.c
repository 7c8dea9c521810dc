/* tests/test_asym.c - the asymmetric lock (src/arch/asym.h): an owner that
 * changes a list without a locked instruction, visitors that walk it from
 * other threads, never both inside at once; in both modes (membarrier, and
 * the spinlock fallback). A visitor that reached a freed node would read a
 * poisoned magic (ASan: a use after free; TSan: a race).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arch/asym.h"
#include "test.h"
#include "util.h"

typedef struct node {
    struct node *next;
    unsigned magic;
} node;

#define MAGIC 0x5eedu
#define MAX_NODES 64

typedef struct list_ctx {
    asym_lock lock;
    node *head; /* under lock */
    int len;    /* under lock */
    atomic_int stop;
    atomic_long visits;
} list_ctx;

static void *owner_thread(void *arg)
{
    list_ctx *c = arg;
    int rounds = SCALE(200000, 50000, 20000);
    unsigned seed = 12345;
    for (int i = 0; i < rounds; i++) {
        seed = seed * 1103515245u + 12345u;
        bool push = c->len == 0 || (c->len < MAX_NODES && (seed >> 16) % 2);
        node *gone = NULL;
        node *fresh = push ? malloc(sizeof *fresh) : NULL;
        if (fresh)
            fresh->magic = MAGIC;
        bool fast = asym_owner_lock(&c->lock);
        if (fresh) {
            fresh->next = c->head;
            c->head = fresh;
            c->len++;
        } else if (!push) {
            gone = c->head;
            c->head = gone->next;
            c->len--;
        }
        asym_owner_unlock(&c->lock, fast);
        if (gone) {
            gone->magic = 0;
            free(gone);
        }
    }
    atomic_store(&c->stop, 1);
    return NULL;
}

static void *visitor_thread(void *arg)
{
    list_ctx *c = arg;
    while (!atomic_load(&c->stop)) {
        asym_visit_lock(&c->lock);
        int n = 0;
        for (node *x = c->head; x; x = x->next) {
            CHECK_EQ(x->magic, MAGIC);
            n++;
        }
        CHECK_EQ(n, c->len);
        CHECK(n <= MAX_NODES);
        asym_visit_unlock(&c->lock);
        atomic_fetch_add(&c->visits, 1);
        /* Visitors are the rare side: leave the owner a few microseconds
         * between visits (two visitors back to back would hold it on its
         * slow path throughout). */
        busy_until(corio_instant_now() + CORIO_USEC(5 + atomic_load(&c->visits) % 20));
    }
    return NULL;
}

static void stress(bool single_owner)
{
    list_ctx c = {0};
    asym_init(&c.lock, single_owner);
    pthread_t o, v[2];
    CHECK_EQ(pthread_create(&v[0], NULL, visitor_thread, &c), 0);
    CHECK_EQ(pthread_create(&v[1], NULL, visitor_thread, &c), 0);
    CHECK_EQ(pthread_create(&o, NULL, owner_thread, &c), 0);
    pthread_join(o, NULL);
    pthread_join(v[0], NULL);
    pthread_join(v[1], NULL);
    CHECK(atomic_load(&c.visits) > 0);
    while (c.head) {
        node *x = c.head;
        c.head = x->next;
        free(x);
    }
}

TEST(asym_owner_and_visitors_never_overlap)
{
    stress(true);
}

TEST(asym_spinlock_mode_owner_and_visitors_never_overlap)
{
    stress(false);
}

/* Whoever holds the lock, the other side waits for it. */
typedef struct hold_ctx {
    asym_lock lock;
    atomic_int phase; /* 1: the holder is in; 2: the waiter got in */
} hold_ctx;

static void *owner_waits(void *arg)
{
    hold_ctx *h = arg;
    bool fast = asym_owner_lock(&h->lock);
    atomic_store(&h->phase, 2);
    asym_owner_unlock(&h->lock, fast);
    return NULL;
}

static void *visitor_waits(void *arg)
{
    hold_ctx *h = arg;
    asym_visit_lock(&h->lock);
    atomic_store(&h->phase, 2);
    asym_visit_unlock(&h->lock);
    return NULL;
}

TEST(asym_each_side_waits_for_the_other)
{
    for (int mode = 0; mode < 2; mode++) {
        /* A visitor inside: the owner waits. */
        hold_ctx h = {0};
        asym_init(&h.lock, mode == 0);
        asym_visit_lock(&h.lock);
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, owner_waits, &h), 0);
        sleep_ms(30);
        CHECK_EQ(atomic_load(&h.phase), 0);
        asym_visit_unlock(&h.lock);
        pthread_join(t, NULL);
        CHECK_EQ(atomic_load(&h.phase), 2);

        /* The owner inside: a visitor waits. */
        hold_ctx g = {0};
        asym_init(&g.lock, mode == 0);
        bool fast = asym_owner_lock(&g.lock);
        CHECK_EQ(pthread_create(&t, NULL, visitor_waits, &g), 0);
        sleep_ms(30);
        CHECK_EQ(atomic_load(&g.phase), 0);
        asym_owner_unlock(&g.lock, fast);
        pthread_join(t, NULL);
        CHECK_EQ(atomic_load(&g.phase), 2);
    }
}
