/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What stat, lookup and the xattr reads of a file answer while its commit
 * runs.  A commit holds the file's node locked while it chunks the last
 * bytes and syncs the publish: 0.2-0.9 s for a 1 GiB file here, seconds
 * on a slower disk or a larger write-behind window.  Every stat(2),
 * lookup and getfattr of the file waited for it, so `ls -l` of a download
 * directory hung at each close (t0396 showed it for readdirplus, which
 * sends such an entry without attributes instead).
 *
 * So a commit first notes the attributes it begins with (n->ca), and a
 * request that finds the node locked by a commit answers from them: the
 * request is ordered before the commit, which has not returned to its
 * caller (close, fsync, truncate) yet.  When the commit ends, the kernel
 * is told of whatever changed (fs_after_commit's invalidations), and a
 * reply from the noted attributes that reaches it after that is not cached
 * (FUSE's attr_version), so nothing stale stays behind.
 *
 * One lock for every node's noted attributes: commits are few, and a
 * request holds it only to copy what it answers.  Order: a node's lock,
 * then fs->ca_lock; a request that answers from n->ca holds no node lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_internal.h"

/* A locked node is retried this often while no commit holds it. */
#define RETRY_NS 2000000L

void fs_commit_attrs_begin(struct mfs_fs *fs, struct mfs_node *n)
{
	struct fs_commit_attrs *ca = calloc(1, sizeof(*ca));

	/* Without memory, requests wait for the commit as they did before. */
	if (!ca)
		return;
	fs_fill_stat(fs, n, &ca->st);
	ca->rec.mode = n->rec.mode;
	ca->rec.repl = n->rec.repl;
	ca->target = fs_node_target(fs, n);
	if (n->rec.nxattr && mfs_inode_xattrs_copy(&ca->rec, &n->rec)) {
		free(ca);
		return;
	}
	pthread_mutex_lock(&fs->ca_lock);
	n->ca = ca;
	pthread_mutex_unlock(&fs->ca_lock);
}

void fs_commit_attrs_end(struct mfs_fs *fs, struct mfs_node *n)
{
	struct fs_commit_attrs *ca;

	pthread_mutex_lock(&fs->ca_lock);
	ca = n->ca;
	n->ca = NULL;
	pthread_mutex_unlock(&fs->ca_lock);
	if (ca) {
		mfs_inode_release(&ca->rec);
		free(ca);
	}
}

int fs_node_lock_attrs(struct mfs_fs *fs, struct mfs_node *n)
{
	struct timespec until;

	if (!pthread_mutex_trylock(&n->lock))
		return 1;
	for (;;) {
		pthread_mutex_lock(&fs->ca_lock);
		if (n->ca)
			return 0;
		pthread_mutex_unlock(&fs->ca_lock);
		/*
		 * Another holder (a write, a commit about to note its
		 * attributes): wait a little, then look again, so that a commit
		 * that began meanwhile is not waited out.
		 */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += RETRY_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!pthread_mutex_clocklock(&n->lock, CLOCK_MONOTONIC, &until))
			return 1;
	}
}

void fs_node_unlock_attrs(struct mfs_fs *fs, struct mfs_node *n, int locked)
{
	pthread_mutex_unlock(locked ? &n->lock : &fs->ca_lock);
}
