/* tests/test.h - the test framework: one runner, one file per module.
 *
 *   TEST(name) { ... CHECK(cond); CHECK_EQ(a, b); ... }
 *
 * Every test runs in a child process of its own (a crash, hang or leak fails
 * that test only), under a time limit (TEST_TIMEOUT seconds, default 60, or
 * TEST_SLOW for heavy tests). A failed CHECK prints file:line and the
 * expression and ends the child with status 1, from any context: plain code,
 * a coroutine, a poll function, another thread.
 */
#ifndef CORIO_TESTS_TEST_H
#define CORIO_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct test_case {
    const char *name;
    const char *file;
    void (*fn)(void);
    unsigned timeout_s;
    int serial; /* run alone: its assertions are about timing */
    struct test_case *next;
} test_case;

void test_register(test_case *tc);
void test_fail(const char *file, int line, const char *msg) __attribute__((noreturn));
void test_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define TEST_T(name_, timeout_, serial_)                                             \
    static void test_fn_##name_(void);                                              \
    __attribute__((constructor)) static void test_reg_##name_(void)                 \
    {                                                                               \
        static test_case tc = {#name_, __FILE__, test_fn_##name_, (timeout_), (serial_), \
                               NULL};                                               \
        test_register(&tc);                                                         \
    }                                                                               \
    static void test_fn_##name_(void)

#define TEST(name_) TEST_T(name_, 60, 0)
#define TEST_SLOW(name_) TEST_T(name_, 300, 0)
/* A test whose checks bound elapsed time (lateness, latency, CPU use): the
 * runner runs it after the others, with nothing else running beside it. */
#define TEST_TIMING(name_) TEST_T(name_, 120, 1)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond))                                                                 \
            test_fail(__FILE__, __LINE__, #cond);                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                               \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        if (a_ != b_)                                                                \
            test_failf(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, a_, b_); \
    } while (0)

/* Paths of the build, for tests that run examples. */
const char *test_build_dir(void);

/* True when the suite runs under an emulator (make test-aarch64 sets
 * CORIO_EXEC): timing bounds tuned for native speed must be looser. */
int test_emulated(void);

/* Run `cmd` through the shell, capture up to `cap`-1 bytes of its stdout in
 * `out`; returns the exit status (or -1). `cmd` must start with the program
 * to run: under an emulator it is prefixed with $CORIO_EXEC. */
int test_run_capture(const char *cmd, char *out, size_t cap);

/* Resident set size of this process in KiB (VmRSS). */
long test_rss_kb(void);

#endif
