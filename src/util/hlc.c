/* The hybrid logical clock (hlc.h). */
#include "util/hlc.h"

#include <time.h>

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sb_hlc_init(sb_hlc *h, int64_t max_ahead_us)
{
    atomic_store(&h->last, 0);
    atomic_store(&h->max_ahead_us, max_ahead_us);
    atomic_store(&h->ignored, 0);
    h->wall_us = NULL;
}

sb_hlc *sb_hlc_node(void)
{
    static sb_hlc node = {0, 2500000, 0, NULL};
    return &node;
}

int64_t sb_hlc_wall_us(const sb_hlc *h)
{
    return h->wall_us ? h->wall_us() : realtime_us();
}

int64_t sb_hlc_now(sb_hlc *h)
{
    int64_t wall = sb_hlc_wall_us(h);
    int64_t last = atomic_load(&h->last);
    for (;;) {
        int64_t next = wall > last ? wall : last + 1;
        if (atomic_compare_exchange_weak(&h->last, &last, next))
            return next;
    }
}

int64_t sb_hlc_peek(const sb_hlc *h)
{
    int64_t wall = sb_hlc_wall_us(h);
    int64_t last = atomic_load(&((sb_hlc *)h)->last);
    return wall > last ? wall : last;
}

void sb_hlc_update(sb_hlc *h, int64_t ts)
{
    int64_t last = atomic_load(&h->last);
    while (ts > last && !atomic_compare_exchange_weak(&h->last, &last, ts))
        ;
}

int sb_hlc_observe(sb_hlc *h, int64_t remote)
{
    if (remote - sb_hlc_wall_us(h) > atomic_load(&h->max_ahead_us)) {
        atomic_fetch_add(&h->ignored, 1);
        return 1;
    }
    sb_hlc_update(h, remote);
    return 0;
}
