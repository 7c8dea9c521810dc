/* tests/util_scope.c - scope helpers shared by the scope tests (see
 * util_scope.h). */
#include "util_scope.h"

#include <string.h>

#include <corio.h>
#include "corio/scope.h"
#include "test.h"

int scope_cell_child(void *arg)
{
    cell *c = arg;
    int rc = corio_sleep(CORIO_MSEC(c->ms));
    c->sleep_rc = rc;
    if (rc == 0)
        c->value = c->ms + 1;
    c->cleanups++; /* the cleanup: runs whether cancelled or not */
    return rc < 0 ? rc : c->ret;
}

void scope_cells_init(cell *c, int n, int ms, int ret)
{
    memset(c, 0, sizeof *c * (size_t)n);
    for (int i = 0; i < n; i++) {
        c[i].ms = ms;
        c[i].ret = ret;
        c[i].result = 12345;
    }
}

int scope_cancelling_child(void *arg)
{
    corio_scope *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    corio_scope_cancel(sc);
    corio_scope_cancel(sc); /* harmless twice */
    return 0;
}
