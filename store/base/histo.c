/* SPDX-License-Identifier: Apache-2.0 */
/* Latency histograms (histo.h). */
#include <time.h>

#include "histo.h"

/* From 50 µs (a page-cache-speed FUSE round trip) to 10 s (a peer timing out). */
const uint64_t mfs_histo_bounds_us[MFS_HISTO_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 10000000,
};

void mfs_histo_add(struct mfs_histo *h, uint64_t us)
{
	int b = 0;

	while (b < MFS_HISTO_BUCKETS && us > mfs_histo_bounds_us[b])
		b++;
	__atomic_add_fetch(&h->n[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, us, __ATOMIC_RELAXED);
}

uint64_t mfs_histo_since_us(const struct timespec *start)
{
	struct timespec now;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

void mfs_histo_write(const struct mfs_histo *h, const char *key, FILE *f)
{
	uint64_t cum = 0;

	for (int b = 0; b <= MFS_HISTO_BUCKETS; b++) {
		cum += __atomic_load_n(&h->n[b], __ATOMIC_RELAXED);
		if (b < MFS_HISTO_BUCKETS)
			fprintf(f, "%s.%llu %llu\n", key, (unsigned long long)mfs_histo_bounds_us[b],
				(unsigned long long)cum);
		else
			fprintf(f, "%s.inf %llu\n", key, (unsigned long long)cum);
	}
	fprintf(f, "%s.sum %llu\n", key, (unsigned long long)__atomic_load_n(&h->sum_us,
									  __ATOMIC_RELAXED));
	fprintf(f, "%s.count %llu\n", key, (unsigned long long)cum);
}
