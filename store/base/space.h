/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A free-space reading shared by writes close together: a statvfs costs a
 * syscall (1.4 us here), and a small file's commit or a namespace op is
 * only tens of microseconds.  The last reading, while recent, less what
 * writes took since, vouches for the next write if it leaves a slack to
 * spare (what other writers may take meanwhile).  Users: fuse/fs_write.c
 * (a commit's margin) and store/kv/db_space.c (the store's floor).
 */
#ifndef MFS_SPACE_H
#define MFS_SPACE_H

#include <stdint.h>

struct mfs_space_reading {
	uint64_t left;  /* atomic: free bytes at the reading, less what was taken since */
	uint64_t at;    /* atomic: when (CLOCK_MONOTONIC ns); 0: never read */
};

/* A fresh reading: avail bytes free now. */
void mfs_space_reading_set(struct mfs_space_reading *r, uint64_t avail);

/*
 * 1 when r, at most max_age_ns old, still has need + keep bytes free (and
 * takes need from it); 0: read afresh.
 */
int mfs_space_reading_take(struct mfs_space_reading *r, uint64_t need, uint64_t keep,
			   uint64_t max_age_ns);

#endif
