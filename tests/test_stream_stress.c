/* tests/test_stream_stress.c - streams on the multi-thread runtime, fed and
 * woken from other threads (run under TSan in CI): a merge of receiver
 * streams whose senders are plain threads and tasks on other workers, and
 * a buffer_unordered whose futures are completed by a plain thread and by
 * a task. They fail on a lost wakeup (a hang, caught by the time limit),
 * a lost or doubled item, a broken per-producer order, more futures in
 * flight than the limit, or a data race.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "corio/stream.h"
#include "test.h"
#include "util.h"

/* ---- merge of receiver streams ------------------------------------------------- */

#define PRODUCERS 4

typedef struct feed {
    corio_mpsc_tx *tx;
    uint64_t id, n;
} feed;

static void feed_all(feed *f)
{
    for (uint64_t s = 0; s < f->n; s++) {
        uint64_t v = f->id << 32 | s;
        CHECK_EQ(corio_mpsc_send(f->tx, &v), 0); /* blocks a thread, suspends a task */
    }
    corio_mpsc_tx_release(f->tx);
}

static void *feed_thread(void *arg)
{
    feed_all(arg);
    return NULL;
}

static int feed_task(void *arg)
{
    feed_all(arg);
    return 0;
}

typedef struct merge_check {
    uint64_t next[PRODUCERS];
    uint64_t total;
} merge_check;

static int check_item(corio_item it, void *arg)
{
    merge_check *m = arg;
    uint64_t id = it.u >> 32, seq = it.u & 0xffffffffu;
    CHECK(id < PRODUCERS);
    CHECK_EQ(seq, m->next[id]); /* each producer's order, nothing lost or doubled */
    m->next[id]++;
    m->total++;
    return 0;
}

static int merge_main(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    feed feeds[PRODUCERS];
    corio_stream_mpsc ms[PRODUCERS];
    corio_stream *ins[PRODUCERS];
    pthread_t th[2];
    corio_task *tasks[2];
    for (int p = 0; p < PRODUCERS; p++) {
        corio_mpsc_rx *rx;
        CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &feeds[p].tx, &rx), 0);
        feeds[p].id = (uint64_t)p;
        feeds[p].n = n;
        corio_stream_mpsc_init(&ms[p], rx);
        ins[p] = &ms[p].base;
    }
    for (int p = 0; p < 2; p++)
        CHECK_EQ(pthread_create(&th[p], NULL, feed_thread, &feeds[p]), 0);
    for (int p = 0; p < 2; p++)
        CHECK_EQ(corio_spawn(feed_task, &feeds[2 + p], &tasks[p]), 0);
    corio_stream_merge m;
    corio_stream_merge_init(&m, ins, PRODUCERS);
    merge_check mc;
    memset(&mc, 0, sizeof mc);
    CHECK_EQ(corio_stream_for_each(&m.base, check_item, &mc), 0);
    CHECK_EQ(mc.total, n * PRODUCERS);
    for (int p = 0; p < 2; p++) {
        CHECK_EQ(pthread_join(th[p], NULL), 0);
        CHECK_EQ(join_rc(tasks[p]), 0);
    }
    return 0;
}

TEST(stream_stress_merge_of_receivers_fed_from_threads_and_tasks)
{
    uint64_t n = SCALE(1500, 600, 200);
    int rounds = SCALE(6, 3, 2);
    for (int r = 0; r < rounds; r++) {
        corio_rt *rt = new_mt_rt(2);
        int res = -1;
        CHECK_EQ(corio_rt_block_on(rt, merge_main, &n, &res), 0);
        CHECK_EQ(res, 0);
        corio_rt_free(rt);
    }
}

/* ---- buffer_unordered woken from elsewhere ------------------------------------------ */

typedef struct cell {
    pthread_mutex_t mu;
    corio_waker w; /* under mu */
    bool ready;    /* under mu */
    atomic_bool started;
} cell;

typedef struct bu_ctx {
    cell *cells;
    size_t n, limit;
    size_t in_flight, peak; /* the consumer task's own */
} bu_ctx;

typedef struct cell_fut {
    corio_future base;
    bu_ctx *ctx;
    cell *c;
    corio_item *out;
    int64_t x;
} cell_fut;

static corio_poll cell_poll(corio_future *f, corio_context *cx)
{
    cell_fut *cf = (cell_fut *)f;
    pthread_mutex_lock(&cf->c->mu);
    bool ready = cf->c->ready;
    if (!ready)
        corio_waker_store(&cf->c->w, corio_context_waker(cx));
    pthread_mutex_unlock(&cf->c->mu);
    if (!ready)
        return CORIO_PENDING;
    cf->ctx->in_flight--;
    cf->out->i = cf->x * 3;
    f->result = 0;
    return CORIO_READY;
}

static void cell_drop(corio_future *f)
{
    cell_fut *cf = (cell_fut *)f;
    pthread_mutex_lock(&cf->c->mu);
    corio_waker w = cf->c->w;
    cf->c->w = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&cf->c->mu);
    corio_waker_drop(&w);
}

static const corio_future_vtable cell_vt = {cell_poll, cell_drop};

static corio_future *cell_start(void *mem, corio_item item, corio_item *out, void *arg)
{
    bu_ctx *ctx = arg;
    cell_fut *cf = mem;
    corio_future_init(&cf->base, &cell_vt);
    cf->ctx = ctx;
    cf->c = &ctx->cells[item.i];
    cf->out = out;
    cf->x = item.i;
    if (++ctx->in_flight > ctx->peak)
        ctx->peak = ctx->in_flight;
    CHECK(ctx->in_flight <= ctx->limit);
    /* Release: the completer that sees it started sees the future set up. */
    atomic_store_explicit(&cf->c->started, true, memory_order_release);
    return &cf->base;
}

static void complete(cell *c)
{
    pthread_mutex_lock(&c->mu);
    c->ready = true;
    corio_waker w = c->w;
    c->w = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&c->mu);
    corio_waker_wake(&w);
}

/* Plain thread: completes the even cells, in order, once started. */
static void *even_completer(void *arg)
{
    bu_ctx *ctx = arg;
    for (size_t i = 0; i < ctx->n; i += 2) {
        while (!atomic_load_explicit(&ctx->cells[i].started, memory_order_acquire))
            sched_yield();
        complete(&ctx->cells[i]);
    }
    return NULL;
}

/* Task on the runtime (any worker): the odd cells. */
static int odd_completer(void *arg)
{
    bu_ctx *ctx = arg;
    for (size_t i = 1; i < ctx->n; i += 2) {
        while (!atomic_load_explicit(&ctx->cells[i].started, memory_order_acquire))
            if (corio_yield() < 0)
                return -1;
        complete(&ctx->cells[i]);
    }
    return 0;
}

static int bu_main(void *arg)
{
    bu_ctx *ctx = arg;
    pthread_t th;
    corio_task *t;
    CHECK_EQ(pthread_create(&th, NULL, even_completer, ctx), 0);
    CHECK_EQ(corio_spawn(odd_completer, ctx, &t), 0);
    corio_stream_range r;
    corio_stream_range_init(&r, 0, (int64_t)ctx->n);
    corio_stream_buffer_unordered bu;
    corio_stream_buffer_unordered_init(&bu, &r.base, ctx->limit, sizeof(cell_fut), cell_start, ctx);
    char *seen = calloc(ctx->n, 1);
    CHECK(seen != NULL);
    corio_item it;
    size_t got = 0;
    int rc;
    while ((rc = corio_stream_next(&bu.base, &it)) == 0) {
        CHECK(it.i % 3 == 0);
        size_t i = (size_t)(it.i / 3);
        CHECK(i < ctx->n && !seen[i]);
        seen[i] = 1;
        got++;
    }
    CHECK_EQ(rc, CORIO_ECLOSED);
    CHECK_EQ(got, ctx->n);
    CHECK(ctx->peak <= ctx->limit);
    free(seen);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(join_rc(t), 0);
    return 0;
}

TEST(stream_stress_buffer_unordered_woken_from_other_threads)
{
    size_t n = SCALE(600, 300, 150);
    int rounds = SCALE(3, 3, 2);
    for (int r = 0; r < rounds; r++) {
        bu_ctx ctx = {.n = n, .limit = 1 + (size_t)r * 3};
        ctx.cells = calloc(n, sizeof(cell));
        CHECK(ctx.cells != NULL);
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_init(&ctx.cells[i].mu, NULL);
            ctx.cells[i].w = CORIO_WAKER_NONE;
        }
        corio_rt *rt = new_mt_rt(2);
        int res = -1;
        CHECK_EQ(corio_rt_block_on(rt, bu_main, &ctx, &res), 0);
        CHECK_EQ(res, 0);
        corio_rt_free(rt);
        CHECK(ctx.peak >= 1);
        for (size_t i = 0; i < n; i++)
            pthread_mutex_destroy(&ctx.cells[i].mu);
        free(ctx.cells);
    }
}
