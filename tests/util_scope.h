/* tests/util_scope.h - scope helpers shared by tests/test_task_scope.c and
 * tests/test_task_scope_nesting.c (definitions in tests/util_scope.c). */
#ifndef CORIO_TESTS_UTIL_SCOPE_H
#define CORIO_TESTS_UTIL_SCOPE_H

/* A slot in the caller's stack that a child borrows. */
typedef struct cell {
    int ms;        /* sleep this long, then... */
    int ret;       /* ...return this */
    int value;     /* written by the child after its sleep */
    int cleanups;  /* counted by the child whatever happened */
    int sleep_rc;  /* what the sleep returned */
    int result;    /* the scope writes the child's result here */
} cell;

/* A child task on a cell `arg`: sleeps c->ms, then sets c->value to ms + 1
 * and returns c->ret (or the sleep's error); counts its cleanup either way. */
int scope_cell_child(void *arg);

/* Zero the n cells at `c` and give each `ms`, `ret` and result 12345. */
void scope_cells_init(cell *c, int n, int ms, int ret);

/* A child task: after 5 ms, cancels the scope `arg` (twice: harmless). */
int scope_cancelling_child(void *arg);

#endif
