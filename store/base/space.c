/* SPDX-License-Identifier: Apache-2.0 */
/* A free-space reading shared by writes close together (space.h). */
#include <time.h>

#include "space.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mfs_space_reading_set(struct mfs_space_reading *r, uint64_t avail)
{
	__atomic_store_n(&r->left, avail, __ATOMIC_RELAXED);
	__atomic_store_n(&r->at, mono_ns(), __ATOMIC_RELEASE);
}

int mfs_space_reading_take(struct mfs_space_reading *r, uint64_t need, uint64_t keep,
			   uint64_t max_age_ns)
{
	uint64_t at = __atomic_load_n(&r->at, __ATOMIC_ACQUIRE);
	uint64_t left = __atomic_load_n(&r->left, __ATOMIC_RELAXED);

	if (!at || mono_ns() - at > max_age_ns)
		return 0;
	do {
		if (left < need + keep)
			return 0;
	} while (!__atomic_compare_exchange_n(&r->left, &left, left - need, 0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return 1;
}
