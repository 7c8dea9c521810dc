/* tests/symbol_clash.c - a user program that defines functions and variables
 * with the names corio uses inside (task_init, stack_get, wheel_init,
 * driver_open...) and links against libcorio.a. It links, and both its own
 * definitions and corio's run, because the library exports nothing but its
 * corio_* API. Run by test_symbols.c; prints "ok". */
#include <corio.h>
#include <stdio.h>
#include <string.h>

/* The user's own, with other signatures than corio's internal ones. */
int task_init(const char *s) { return (int)strlen(s); }
int task_run(int x) { return x + 1; }
int stack_get(void) { return 7; }
int wheel_init(int a, int b) { return a * b; }
int driver_open(void) { return 3; }
int worker_current(void) { return 5; }
int taskmem_alloc(int n) { return n * 2; }
int inject_push(int n) { return -n; }
int parker_park(void) { return 11; }
int current_thread_build(void) { return 13; }
int ctx_switch_asm(void) { return 17; }
int coro_vtable = 19;
int task_waker_vtable = 23;

static int main_task(void *arg)
{
    (void)arg;
    return corio_sleep(CORIO_MSEC(1)) == 0 && corio_yield() == 0 ? 42 : -1;
}

int main(void)
{
    int result = 0;
    int rc = corio_run(main_task, NULL, &result);
    int mine = task_init("abc") + task_run(1) + stack_get() + wheel_init(2, 3) + driver_open() +
               worker_current() + taskmem_alloc(1) + inject_push(1) + parker_park() +
               current_thread_build() + ctx_switch_asm() + coro_vtable + task_waker_vtable;
    if (rc != 0 || result != 42 || mine != 3 + 2 + 7 + 6 + 3 + 5 + 2 - 1 + 11 + 13 + 17 + 19 + 23) {
        printf("failed: rc %d result %d mine %d\n", rc, result, mine);
        return 1;
    }
    printf("ok\n");
    return 0;
}
