/* time/clock.c - the monotonic clock and instant arithmetic. */
#include <time.h>

#include "corio/time.h"

corio_instant corio_instant_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (corio_instant)ts.tv_sec * 1000000000ull + (corio_instant)ts.tv_nsec;
}

corio_instant corio_instant_add(corio_instant t, corio_duration d)
{
    if (d >= 0) {
        corio_instant r = t + (corio_instant)d;
        return r < t ? UINT64_MAX : r;
    }
    corio_instant m = (corio_instant)(-(d + 1)) + 1;
    return m > t ? 0 : t - m;
}
