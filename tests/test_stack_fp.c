/* tests/test_stack_fp.c - the floating-point control state is per coroutine.
 *
 * The context switch keeps each coroutine's floating-point control state
 * (the rounding mode, of SSE and x87) its own: a new coroutine starts with
 * the default, and a mode set in one is not seen by the others nor by the
 * thread that drives the runtime.
 */
#include <corio.h>

#include <fenv.h>

#include "test.h"
#include "util.h"

/* ---- floating-point control state is per coroutine ------------------------------ */

typedef struct fp_probe {
    int mode;
    int rounds;
    int ok;
} fp_probe;

/* 1/3 in double (SSE on x86-64) and long double (x87): both depend on the
 * rounding mode of the unit that computes them. */
static double fp_third(void)
{
    volatile double one = 1.0, three = 3.0;
    return one / three;
}

static long double fp_third_l(void)
{
    volatile long double one = 1.0L, three = 3.0L;
    return one / three;
}

static double third_up, third_down, third_near;
static long double third_l_up, third_l_down, third_l_near;

static void fp_reference(void)
{
    int saved = fegetround();
    fesetround(FE_UPWARD);
    third_up = fp_third();
    third_l_up = fp_third_l();
    fesetround(FE_DOWNWARD);
    third_down = fp_third();
    third_l_down = fp_third_l();
    fesetround(FE_TONEAREST);
    third_near = fp_third();
    third_l_near = fp_third_l();
    fesetround(saved);
    CHECK(third_up > third_down);
    CHECK(third_l_up > third_l_down);
}

static void fp_expect(int mode)
{
    CHECK_EQ(fegetround(), mode);
    double d = fp_third();
    long double ld = fp_third_l();
    switch (mode) {
    case FE_UPWARD:
        CHECK(d == third_up);
        CHECK(ld == third_l_up);
        break;
    case FE_DOWNWARD:
        CHECK(d == third_down);
        CHECK(ld == third_l_down);
        break;
    default:
        CHECK(d == third_near);
        CHECK(ld == third_l_near);
        break;
    }
}

static int fp_task(void *arg)
{
    fp_probe *p = arg;
    /* A new coroutine starts with the default mode. */
    fp_expect(FE_TONEAREST);
    if (p->mode != FE_TONEAREST)
        CHECK_EQ(fesetround(p->mode), 0);
    for (int i = 0; i < p->rounds; i++) {
        fp_expect(p->mode);
        if (i % 3 == 2)
            CHECK_EQ(corio_sleep(CORIO_USEC(200)), 0); /* through the scheduler's park too */
        else
            CHECK_EQ(corio_yield(), 0);
    }
    fp_expect(p->mode);
    fesetround(FE_TONEAREST);
    p->ok = 1;
    return 0;
}

static int fp_main(void *arg)
{
    fp_probe probes[3] = {{FE_UPWARD, 60, 0}, {FE_DOWNWARD, 60, 0}, {FE_TONEAREST, 60, 0}};
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(corio_spawn(fp_task, &probes[i], &t[i]), 0);
        CHECK(t[i] != NULL);
    }
    /* The main task keeps the default and checks it across the switches. */
    for (int i = 0; i < 60; i++) {
        fp_expect(FE_TONEAREST);
        CHECK_EQ(corio_yield(), 0);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
        CHECK_EQ(probes[i].ok, 1);
    }
    fp_expect(FE_TONEAREST);
    return 0;
}

TEST(stack_fp_rounding_mode_per_coroutine)
{
    fp_reference();
    CHECK_EQ(run_main(fp_main, NULL), 0);
    /* The thread that drove the runtime has its own mode back. */
    fp_expect(FE_TONEAREST);
}
