/* tests/main.c - the test runner.
 *
 *   run_tests [-jN] [-v] [-n] [substring...]
 *
 * -n runs the matching tests in this process, one after the other, without
 * forking or time limits: for a debugger.
 *
 * Runs every registered test (or those whose name contains one of the given
 * substrings), each in a forked child with a time limit, N at a time (default
 * 2), then the TEST_TIMING ones one at a time; prints one line per test and,
 * last, "N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static test_case *all_tests;
static size_t n_tests;

void test_register(test_case *tc)
{
    tc->next = all_tests;
    all_tests = tc;
    n_tests++;
}

void test_fail(const char *file, int line, const char *msg)
{
    fprintf(stderr, "    %s:%d: CHECK failed: %s\n", file, line, msg);
    fflush(stderr);
    _exit(1);
}

void test_failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: CHECK failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

int test_emulated(void)
{
    const char *e = getenv("CORIO_EXEC");
    return e && *e;
}

const char *test_build_dir(void)
{
    const char *b = getenv("CORIO_BUILD");
    return b ? b : "build";
}

int test_run_capture(const char *cmd, char *out, size_t cap)
{
    /* Under an emulator (make test-aarch64) the programs a test runs need
     * the same wrapper as the runner itself: CORIO_EXEC, set by the Makefile. */
    const char *wrap = getenv("CORIO_EXEC");
    char *full = NULL;
    if (wrap && *wrap) {
        size_t n = strlen(wrap) + strlen(cmd) + 2;
        full = malloc(n);
        if (!full)
            return -1;
        snprintf(full, n, "%s %s", wrap, cmd);
        cmd = full;
    }
    FILE *p = popen(cmd, "r");
    free(full);
    if (!p)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        size_t r = fread(out + n, 1, cap - 1 - n, p);
        if (r == 0)
            break;
        n += r;
    }
    out[n] = 0;
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long test_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct running {
    pid_t pid;
    test_case *tc;
    double start;
    int out_fd;
    char *log;
    size_t log_len, log_cap;
} running;

static void slurp(running *r)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(r->out_fd, buf, sizeof buf);
        if (n <= 0)
            return;
        if (r->log_len + (size_t)n + 1 > r->log_cap) {
            r->log_cap = (r->log_len + (size_t)n + 1) * 2;
            r->log = realloc(r->log, r->log_cap);
        }
        memcpy(r->log + r->log_len, buf, (size_t)n);
        r->log_len += (size_t)n;
        r->log[r->log_len] = 0;
    }
}

static pid_t start_test(test_case *tc, int *out_fd)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[1]);
        setvbuf(stdout, NULL, _IONBF, 0);
        alarm(tc->timeout_s);
        tc->fn();
        fflush(stdout);
        exit(0); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    *out_fd = p[0];
    return pid;
}

static int matches(test_case *tc, int argc, char **argv, int first)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strstr(tc->name, argv[i]) || strstr(tc->file, argv[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int jobs = 2, verbose = 0, nofork = 0, first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strncmp(argv[first], "-j", 2) == 0)
            jobs = atoi(argv[first] + 2);
        else if (strcmp(argv[first], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[first], "-n") == 0)
            nofork = 1;
    }
    if (jobs < 1)
        jobs = 1;
    /* Registration order is reversed by the constructors: restore file order. */
    test_case **list = calloc(n_tests + 1, sizeof *list);
    size_t n = 0;
    for (test_case *t = all_tests; t; t = t->next)
        list[n++] = t;
    for (size_t i = 0; i < n / 2; i++) {
        test_case *tmp = list[i];
        list[i] = list[n - 1 - i];
        list[n - 1 - i] = tmp;
    }
    if (nofork) {
        int ran = 0;
        for (size_t i = 0; i < n; i++)
            if (matches(list[i], argc, argv, first)) {
                printf("run  %s\n", list[i]->name);
                fflush(stdout);
                list[i]->fn();
                ran++;
            }
        printf("%d passed, 0 failed\n", ran); /* a failed CHECK exits first */
        free(list);
        return 0;
    }
    running *run = calloc((size_t)jobs, sizeof *run);
    int passed = 0, failed = 0, active = 0;
    size_t next = 0;
    char **failed_names = calloc(n + 1, sizeof *failed_names);
    signal(SIGPIPE, SIG_IGN);
    /* Two phases: the ordinary tests N at a time, then the timing ones alone. */
    int phase = 0;
    int limit = jobs;
    while (phase < 2) {
        if (next >= n && active == 0) {
            phase++;
            next = 0;
            limit = 1;
            continue;
        }
        while (active < limit && next < n) {
            test_case *tc = list[next++];
            if (!matches(tc, argc, argv, first) || tc->serial != phase)
                continue;
            for (int i = 0; i < jobs; i++) {
                if (run[i].pid == 0) {
                    run[i].tc = tc;
                    run[i].start = now_s();
                    run[i].log_len = 0;
                    run[i].pid = start_test(tc, &run[i].out_fd);
                    active++;
                    break;
                }
            }
        }
        if (active == 0)
            continue;
        /* Drain the children's output while waiting, so a chatty test cannot
         * block on a full pipe. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) == 0) {
            struct pollfd pf[64];
            int np = 0;
            for (int i = 0; i < jobs && np < 64; i++)
                if (run[i].pid > 0)
                    pf[np++] = (struct pollfd){.fd = run[i].out_fd, .events = POLLIN};
            if (poll(pf, (nfds_t)np, 10) > 0)
                for (int i = 0; i < jobs; i++)
                    if (run[i].pid > 0)
                        slurp(&run[i]);
        }
        if (pid < 0)
            break;
        for (int i = 0; i < jobs; i++) {
            if (run[i].pid != pid)
                continue;
            running *r = &run[i];
            slurp(r);
            close(r->out_fd);
            double dt = now_s() - r->start;
            int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (ok) {
                passed++;
                printf("ok   %-44s %7.2fs\n", r->tc->name, dt);
                if (verbose && r->log_len)
                    printf("%s", r->log);
            } else {
                failed_names[failed++] = (char *)r->tc->name;
                if (WIFSIGNALED(status))
                    printf("FAIL %-44s %7.2fs  (signal %d%s)\n", r->tc->name, dt, WTERMSIG(status),
                           WTERMSIG(status) == SIGALRM ? ": timed out" : "");
                else
                    printf("FAIL %-44s %7.2fs  (exit %d)\n", r->tc->name, dt, WEXITSTATUS(status));
                if (r->log_len)
                    printf("%s%s", r->log, r->log[r->log_len - 1] == '\n' ? "" : "\n");
            }
            fflush(stdout);
            r->pid = 0;
            active--;
        }
    }
    if (failed) {
        printf("failed tests:");
        for (int i = 0; i < failed; i++)
            printf(" %s", failed_names[i]);
        printf("\n");
    }
    printf("%d passed, %d failed\n", passed, failed);
    for (int i = 0; i < jobs; i++)
        free(run[i].log);
    free(run);
    free(list);
    free(failed_names);
    return failed ? 1 : 0;
}
