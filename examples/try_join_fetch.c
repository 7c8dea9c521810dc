/* try_join_fetch.c - three fetches at once, the first error wins.
 *
 * Mirrors "Structured Concurrency" of seed 000:
 *
 *     async fn fetch_user_data(user_id: UserId) -> Result<UserData, Error> {
 *         let (profile, posts, followers) = tokio::try_join!(
 *             fetch_user_profile(user_id),
 *             fetch_user_posts(user_id),
 *             fetch_user_followers(user_id)
 *         )?;
 *         Ok(UserData { profile, posts, followers })
 *     }
 *
 * How the C version maps onto it:
 *  - each `fetch_user_*(user_id)` is a future (`fetch_fut`: a sleep standing
 *    for the network round trip, then its data, or an error);
 *  - `tokio::try_join!(a, b, c)?` is corio_try_join_all(CORIO_FUTURES(&a.base,
 *    &b.base, &c.base), &failed): the three run at once inside the calling
 *    task; it returns 0 when all three succeeded (each fetch wrote its data
 *    into the UserData) or the first error, `failed` saying whose; the
 *    caller's `if (rc < 0)` is the `?`;
 *  - on an error, the fetches still running are dropped at once (their
 *    timers disarmed): the program shows that they were, and that the error
 *    came back after the failing fetch's time, not the slowest one's.
 *
 *   usage: try_join_fetch [fast | scale=X]   (default: fetches of 100 ms (profile),
 *                                             150 ms (posts), 300 ms (followers);
 *                                             fast = scale=0.2)
 */
#include <corio.h>
#include <errno.h>
#include <corio/join.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double scale = 1.0;

static corio_duration ms(double m)
{
    return (corio_duration)(m * scale * 1e6);
}

/* ---- fetch_user_*(): a future ----------------------------------------------- */

typedef struct fetch_fut {
    corio_future base; /* result: 0 (data set) or a negative error */
    corio_sleep_fut rtt;
    const char *what;
    int user_id;
    int fails_with; /* 0: succeeds */
    char *data;     /* where the data goes (64 bytes) */
} fetch_fut;

/* What the drops did, for the program to show (a log, as the futures live
 * in fetch_user_data's frame). */
static const char *dropped[3];
static int ndropped;

static corio_poll fetch_poll(corio_future *f, corio_context *cx)
{
    fetch_fut *ff = (fetch_fut *)f;
    if (corio_future_poll(&ff->rtt.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    if (ff->fails_with) {
        f->result = ff->fails_with;
        return CORIO_READY;
    }
    snprintf(ff->data, 64, "%s of user %d", ff->what, ff->user_id);
    f->result = 0;
    return CORIO_READY;
}

static void fetch_drop(corio_future *f)
{
    fetch_fut *ff = (fetch_fut *)f;
    corio_future_drop(&ff->rtt.base); /* the timer goes */
    if (ndropped < 3)
        dropped[ndropped++] = ff->what;
}

static const corio_future_vtable fetch_vtable = {fetch_poll, fetch_drop};

static void fetch_init(fetch_fut *f, const char *what, int user_id, double takes_ms, int fails_with,
                       char *data)
{
    corio_future_init(&f->base, &fetch_vtable);
    corio_sleep_fut_init(&f->rtt, ms(takes_ms));
    f->what = what;
    f->user_id = user_id;
    f->fails_with = fails_with;
    f->data = data;
}

/* ---- fetch_user_data() ---------------------------------------------------------- */

typedef struct user_data {
    char profile[64], posts[64], followers[64];
} user_data;

static int posts_error; /* what fetch_user_posts fails with (0: nothing) */

static int fetch_user_data(int user_id, user_data *out, size_t *failed)
{
    fetch_fut profile, posts, followers;
    fetch_init(&profile, "profile", user_id, 100, 0, out->profile);
    fetch_init(&posts, "posts", user_id, 150, posts_error, out->posts);
    fetch_init(&followers, "followers", user_id, 300, 0, out->followers);
    return corio_try_join_all(CORIO_FUTURES(&profile.base, &posts.base, &followers.base), failed);
}

static int async_main(void *arg)
{
    (void)arg;
    const char *names[3] = {"profile", "posts", "followers"};
    printf("1. every fetch succeeds (profile 100 ms, posts 150 ms, followers 300 ms)\n");
    user_data u;
    size_t failed;
    corio_instant t0 = corio_instant_now();
    int rc = fetch_user_data(42, &u, &failed);
    double took = (double)(corio_instant_now() - t0) / 1e6;
    if (rc < 0)
        return 1;
    printf("   Ok(UserData { profile: \"%s\", posts: \"%s\", followers: \"%s\" })\n", u.profile,
           u.posts, u.followers);
    printf("   in %.0f ms: the slowest fetch's time, not the sum; fetches dropped: %d\n", took,
           ndropped);

    printf("2. fetch_user_posts fails with ECONNREFUSED after 150 ms\n");
    posts_error = -ECONNREFUSED;
    t0 = corio_instant_now();
    rc = fetch_user_data(42, &u, &failed);
    took = (double)(corio_instant_now() - t0) / 1e6;
    if (rc >= 0 || failed > 2)
        return 1;
    printf("   Err(%s) from fetch_user_%s, in %.0f ms: not waiting for the slowest\n",
           corio_err_name(rc), names[failed], took);
    printf("   dropped unfinished, their timers disarmed: %d fetch%s", ndropped,
           ndropped == 1 ? "" : "es");
    for (int i = 0; i < ndropped; i++)
        printf("%s fetch_user_%s", i ? "," : ":", dropped[i]);
    printf("\n");
    return ndropped == 1 && strcmp(dropped[0], "followers") == 0 ? 0 : 1;
}

/* X of scale=X: a number above 0 and at most 100, nothing after it. */
#include "example_args.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "fast") == 0)
            scale = 0.2;
        else if (strncmp(argv[i], "scale=", 6) == 0 && parse_scale(argv[i] + 6, &scale))
            ;
        else {
            fprintf(stderr, "usage: %s [fast | scale=X]\n", argv[0]);
            return 2;
        }
    }
    if (scale <= 0)
        scale = 1.0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (scale != 1.0)
        printf("(durations scaled by %g: the lines below name the unscaled ones)\n", scale);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
