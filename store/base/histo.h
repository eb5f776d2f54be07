/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency histograms for the status report: fixed buckets in microseconds,
 * counted with relaxed atomics (any thread may add; a report reads a
 * moment's counts, each bucket exact, the set not a snapshot).
 *
 * In the status lines a histogram KEY is written as cumulative counts
 * "KEY.LE N" for each upper bound LE in microseconds and "KEY.inf N", then
 * "KEY.sum" (microseconds) and "KEY.count": the Prometheus histogram
 * layout, which prom.c turns into KEY's _bucket, _sum and _count in seconds.
 */
#ifndef MFS_HISTO_H
#define MFS_HISTO_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MFS_HISTO_BUCKETS 16

/* Upper bounds of the buckets, microseconds (the last bucket, +Inf, is implied). */
extern const uint64_t mfs_histo_bounds_us[MFS_HISTO_BUCKETS];

struct mfs_histo {
	uint64_t n[MFS_HISTO_BUCKETS + 1];  /* per bucket, not cumulative */
	uint64_t sum_us;
};

void mfs_histo_add(struct mfs_histo *h, uint64_t us);
/* Microseconds since start (CLOCK_MONOTONIC). */
uint64_t mfs_histo_since_us(const struct timespec *start);
/* h as status lines under key (see above). */
void mfs_histo_write(const struct mfs_histo *h, const char *key, FILE *f);

#endif
