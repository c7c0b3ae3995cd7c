/*
 * Phi accrual failure detector (Hayashibara et al.), as Cassandra computes
 * it: the inter-arrival times of a peer's heartbeat increases are modelled
 * as exponentially distributed with the mean of the last SB_FD_WINDOW
 * samples, so
 *
 *   phi(now) = -log10(P(no arrival for now - last)) = (now - last) / mean * log10(e).
 *
 * With 1 s heartbeats and the default threshold 8 a silent peer is judged
 * down after 8 / log10(e) = 18.4 s.
 *
 * Invariants: 1 <= n <= SB_FD_WINDOW after init; sum is the sum of the n
 * samples in the ring buffer intervals[head - n .. head - 1].
 *
 * A gap longer than SB_FD_MAX_FACTOR times the current mean is a failure
 * (a partition or a pause), not a sample of the heartbeat rhythm: it moves
 * last_ms but is not added to the window, so that one outage does not make
 * the detector slow to notice the next one (Cassandra likewise drops
 * intervals above its max interval).
 */
#include <math.h>
#include <string.h>

#include "cluster/gossip.h"

#define SB_FD_MAX_FACTOR 4.0

static void push(sb_fd *fd, double v)
{
    if (fd->n == SB_FD_WINDOW) {
        int oldest = fd->head; /* the slot about to be overwritten */
        fd->sum -= fd->intervals[oldest];
    } else {
        fd->n++;
    }
    fd->intervals[fd->head] = v;
    fd->head = (fd->head + 1) % SB_FD_WINDOW;
    fd->sum += v;
}

void sb_fd_init(sb_fd *fd, uint64_t now_ms, double expect_ms)
{
    fd->last_ms = now_ms;
    fd->n = 0;
    fd->head = 0;
    fd->sum = 0;
    push(fd, expect_ms > 0 ? expect_ms : 1.0);
}

static double mean(const sb_fd *fd)
{
    return fd->n > 0 ? fd->sum / fd->n : 0;
}

void sb_fd_report(sb_fd *fd, uint64_t now_ms)
{
    if (now_ms < fd->last_ms)
        return; /* mono time does not go back; ignore rather than underflow */
    double v = (double)(now_ms - fd->last_ms);
    double m = mean(fd);
    fd->last_ms = now_ms;
    if (m > 0 && v > SB_FD_MAX_FACTOR * m)
        return;
    /* Two reports in the same millisecond are one arrival. */
    if (v <= 0)
        return;
    push(fd, v);
    /* Floating point drift after millions of add/subtract pairs: recompute
     * now and then (cheap relative to the window). */
    if (fd->head == 0 && fd->n == SB_FD_WINDOW) {
        double s = 0;
        for (int i = 0; i < fd->n; i++)
            s += fd->intervals[i];
        fd->sum = s;
    }
}

double sb_fd_phi(const sb_fd *fd, uint64_t now_ms)
{
    double m = mean(fd);
    if (m <= 0 || now_ms <= fd->last_ms)
        return 0;
    return (double)(now_ms - fd->last_ms) / m * M_LOG10E;
}
