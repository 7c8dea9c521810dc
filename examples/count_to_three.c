/* count_to_three.c - a future that wakes itself until it has been polled enough.
 *
 * Mirrors `MyFuture` and `my_async_function` of seed 004 ("Mastering
 * Concurrency with Rust's Async/Await"):
 *
 *     fn poll(mut self: Pin<&mut Self>, cx) -> Poll<u32> {
 *         self.count += 1;
 *         if self.count > 3 { Poll::Ready(self.count) }
 *         else { cx.waker().wake_by_ref(); Poll::Pending }
 *     }
 *     async fn my_async_function() -> u32 {
 *         println!("Starting async function");
 *         let result = MyFuture { count: 0 }.await;
 *         println!("Async function completed");
 *         result
 *     }
 *     #[tokio::main] async fn main() { println!("Result: {}", my_async_function().await); }
 *
 * How the C version maps onto it:
 *  - `MyFuture` is `my_future`, a struct starting with a corio_future; its
 *    poll is the Rust poll line for line: corio_waker_wake_by_ref on the
 *    context's waker, then CORIO_PENDING. The wake arrives while the task is
 *    still running, so the runtime only marks it notified and requeues it once
 *    the poll returned (no lost wakeup, no busy loop inside poll).
 *  - `async fn my_async_function` is a plain C function that may only be
 *    called from a coroutine task (it awaits); calling it is the `.await`.
 *  - `#[tokio::main] async fn main` is main() calling corio_run(async_main).
 *  - corio_await returns a status (0, or why the wait was interrupted); the
 *    future's output, Rust's `Poll::Ready(value)`, is in its `result` field.
 * The last line (how often the runtime polled) is not in the Rust program: it
 * shows that each PENDING cost one trip through the scheduler.
 */
#include <corio.h>
#include <stdio.h>

typedef struct my_future {
    corio_future base; /* result: count */
    unsigned count;
} my_future;

static corio_poll my_future_poll(corio_future *f, corio_context *cx)
{
    my_future *self = (my_future *)f;
    self->count += 1;
    if (self->count > 3) {
        f->result = (int)self->count;
        return CORIO_READY;
    }
    corio_waker_wake_by_ref(corio_context_waker(cx)); /* wake up the executor later */
    return CORIO_PENDING;
}

static const corio_future_vtable my_future_vtable = {my_future_poll, NULL};

static unsigned polls_seen;

/* Returns 0 with the count in *result, or the error of the await. */
static int my_async_function(unsigned *result)
{
    printf("Starting async function\n");
    my_future fut = {.count = 0};
    corio_future_init(&fut.base, &my_future_vtable);
    int rc = corio_await(&fut.base);
    if (rc < 0)
        return rc;
    printf("Async function completed\n");
    polls_seen = fut.count;
    *result = (unsigned)fut.base.result;
    return 0;
}

static int async_main(void *arg)
{
    (void)arg;
    unsigned result;
    int rc = my_async_function(&result);
    if (rc < 0) {
        printf("error: %s\n", corio_strerror(rc));
        return 1;
    }
    printf("Result: %u\n", result);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0) {
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
        return 1;
    }
    if (result == 0)
        printf("(MyFuture was polled %u times: 3 x PENDING + wake_by_ref, then READY)\n", polls_seen);
    return result;
}
