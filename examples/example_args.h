/* example_args.h - the examples' command-line numbers, checked.
 *
 * An example that takes numbers defines USAGE_NAME (its name) and
 * USAGE_ARGS (its usage line) before including this file, for arg_long. A bad argument (not a number, trailing
 * characters, out of range) prints what was wrong and the usage line to
 * stderr and exits with status 2, as a command-line tool would; no example
 * runs on a silently clamped or zeroed value.
 */
#ifndef CORIO_EXAMPLE_ARGS_H
#define CORIO_EXAMPLE_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef USAGE_NAME
/* A whole number from lo to hi, or the usage and exit(2). */
static __attribute__((unused)) long arg_long(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad argument \"%s\": a whole number from %ld to %ld expected\nusage: %s\n",
                USAGE_NAME, s, lo, hi, USAGE_ARGS);
        exit(2);
    }
    return v;
}
#endif

/* A duration scale in (0, 100]: true and *out, or false (the caller prints
 * its usage). */
static __attribute__((unused)) bool parse_scale(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0 && v <= 100))
        return false;
    *out = v;
    return true;
}

#endif
