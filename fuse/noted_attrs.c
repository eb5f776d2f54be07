/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What stat, lookup and the xattr reads of a file answer while a long wait
 * holds its node's lock: its commit, which chunks the last bytes and syncs
 * the publish (0.7-1.3 s for a 1 GiB cp here, seconds on a slower disk),
 * and a write that waits for the write-behind to store what it is ahead
 * of (0.1-0.4 s under load).  Every stat(2), lookup and getfattr of the
 * file waited for them, so `ls -l` of a download directory hung at each
 * close (t0396 showed it for readdirplus, which sends such an entry
 * without attributes instead).
 *
 * So such a wait first notes the attributes the file shows (n->noted),
 * and a request that finds the node locked while they are noted answers
 * from them: the request is ordered before the commit or the write, which
 * has not returned to its caller (close, fsync, truncate, write) yet; a
 * write answered before its bytes are copied (fs_write.c, answer_first)
 * drops its note before it answers.  When a commit ends, the kernel is
 * told of whatever changed (fs_after_commit's invalidations), and a reply
 * from the notes that reaches it after that is not cached (FUSE's
 * attr_version), so nothing stale stays behind.
 *
 * One lock for every node's notes: they are few, and a request holds it
 * only to copy what it answers.  Order: a node's lock, then
 * fs->noted_lock; a request that answers from n->noted holds no node lock.
 */
#include <stdlib.h>
#include <time.h>

#include "fs_internal.h"

/* A locked node is looked at again this often while no wait has noted its attributes. */
#define RETRY_NS 2000000L

static void free_noted(struct fs_noted_attrs *na)
{
	if (na) {
		mfs_inode_release(&na->rec);
		free(na);
	}
}

void fs_attrs_note(struct mfs_fs *fs, struct mfs_node *n)
{
	struct fs_noted_attrs *na = calloc(1, sizeof(*na)), *old;

	/* Without memory, requests wait for the lock. */
	if (!na)
		return;
	fs_fill_stat(fs, n, &na->st);
	na->rec.mode = n->rec.mode;
	na->rec.repl = n->rec.repl;
	na->target = fs_node_target(fs, n);
	if (n->rec.nxattr && mfs_inode_xattrs_copy(&na->rec, &n->rec)) {
		free(na);
		return;
	}
	pthread_mutex_lock(&fs->noted_lock);
	old = n->noted; /* none: waits under one lock do not nest */
	n->noted = na;
	pthread_mutex_unlock(&fs->noted_lock);
	free_noted(old);
}

void fs_attrs_unnote(struct mfs_fs *fs, struct mfs_node *n)
{
	struct fs_noted_attrs *na;

	pthread_mutex_lock(&fs->noted_lock);
	na = n->noted;
	n->noted = NULL;
	pthread_mutex_unlock(&fs->noted_lock);
	free_noted(na);
}

/*
 * 1 with n locked, or 0 with fs->noted_lock held and n->noted set (and,
 * with `pending`, a commit's bytes for readers in it: commit_open.c).
 */
static int lock_or_noted(struct mfs_fs *fs, struct mfs_node *n, int pending)
{
	struct timespec until;

	if (!pthread_mutex_trylock(&n->lock))
		return 1;
	for (;;) {
		pthread_mutex_lock(&fs->noted_lock);
		if (n->noted && (!pending || n->noted->pending))
			return 0;
		pthread_mutex_unlock(&fs->noted_lock);
		/*
		 * Another holder (a short request, or a wait about to note
		 * the attributes): wait a little, then look again, so that a
		 * wait that began meanwhile is not waited out.
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

int fs_node_lock_attrs(struct mfs_fs *fs, struct mfs_node *n)
{
	return lock_or_noted(fs, n, 0);
}

int fs_node_lock_open(struct mfs_fs *fs, struct mfs_node *n, struct fs_pending **p)
{
	*p = NULL;
	if (lock_or_noted(fs, n, 1))
		return 1;
	*p = fs_pending_take(fs, n);
	pthread_mutex_unlock(&fs->noted_lock);
	return 0;
}

void fs_node_unlock_attrs(struct mfs_fs *fs, struct mfs_node *n, int locked)
{
	pthread_mutex_unlock(locked ? &n->lock : &fs->noted_lock);
}
