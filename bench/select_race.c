/* select_race.c - one task, n times: select over two futures, one ready
 * and one that stays pending (a xorshift64* with seed 42 picks which: low
 * bit 0, the first); the loser is dropped. The winner's value + 1 goes into
 * its branch's total; both totals add up to n(n+1)/2. ops = n
 * (../shared/peers/README.md). pending=1: the ready branch first returns
 * pending once, after waking its task, so each select also goes through a
 * wake and a second poll of both branches.
 *
 *   select_race [threads=1] [n=1000000] [pending=0]
 */
#include "bench.h"

#include <corio/select.h>

static struct {
    uint64_t n, left, right;
    int pending;
    double secs;
} g;

/* tokio's Branch: pending for ever unless ready; a ready one may first be
 * pending once. Nothing to release when dropped (no drop function). */
typedef struct branch {
    corio_future base;
    uint64_t v;
    bool ready, pending_once;
} branch;

static corio_poll branch_poll(corio_future *f, corio_context *cx)
{
    branch *b = (branch *)f;
    if (!b->ready)
        return CORIO_PENDING;
    if (b->pending_once) {
        b->pending_once = false;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable branch_vt = {branch_poll, NULL};

static int loop_task(void *arg)
{
    (void)arg;
    uint64_t rng = 42 | 1, left = 0, right = 0;
    bool pending = g.pending;
    for (uint64_t i = 0; i < g.n; i++) {
        bool a_wins = (rng_next(&rng) & 1) == 0;
        branch a = {.v = i, .ready = a_wins, .pending_once = pending};
        branch b = {.v = i, .ready = !a_wins, .pending_once = pending};
        corio_future_init(&a.base, &branch_vt);
        corio_future_init(&b.base, &branch_vt);
        size_t w;
        bench_check(corio_select(CORIO_FUTURES(&a.base, &b.base), &w), "corio_select");
        if (w == 0)
            left += a.v + 1;
        else
            right += b.v + 1;
    }
    g.left = left;
    g.right = right;
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns();
    corio_task *t;
    bench_check(corio_spawn(loop_task, NULL, &t), "corio_spawn");
    bench_check(corio_task_join(t, NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "select_race");
    g.n = arg_u64(argc, argv, "n", 1000000);
    g.pending = arg_ll(argc, argv, "pending", 0) != 0;
    bench_run(main_task, NULL);
    /* n(n+1)/2 in 128 bits, truncated as the peers' wrapping sum is */
    uint64_t want = (uint64_t)((unsigned __int128)g.n * (g.n + 1) / 2);
    if (g.left + g.right != want) {
        fprintf(stderr, "select_race: bad totals %llu + %llu\n", (unsigned long long)g.left,
                (unsigned long long)g.right);
        return 1;
    }
    bench_report("select_race", threads, g.n, g.secs, "pending=%d", g.pending);
    return 0;
}
