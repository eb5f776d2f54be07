/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace changes that arrive from peers (replica/sync.c) reach the kernel
 * here: the node's in-memory record is reloaded and the kernel's cached
 * dentry, attributes and pages are invalidated, so the next lookup or open
 * sees the new state.  Handles already open keep the version they pinned.
 * Called from the replica's threads, never with a node or itable lock held.
 */
#include <errno.h>
#include <string.h>

#include "fs_internal.h"
#include "store/ns/namespace.h"

/* Reloads n's record (n->lock held); the old manifest to drop, if any, in *old. */
static void reload_locked(struct mfs_fs *fs, struct mfs_node *n, struct mfs_manifest **old)
{
	struct mfs_inode rec;
	int rc = mfs_ns_get(fs->ns, n->ino, &rec);

	if (rc == -ENOENT) {
		n->gone = 1;  /* deleted by a peer: open handles keep their version */
		*old = fs_node_release_old(fs, n);
	} else if (!rc) {
		int moved = rec.has_manifest != n->rec.has_manifest || rec.size != n->rec.size ||
			    memcmp(&rec.manifest, &n->rec.manifest, sizeof(rec.manifest));

		/* A file being written here keeps its own view until it commits. */
		if (moved && !n->stg && n->manifest) {
			mfs_manifest_unref(n->manifest);
			n->manifest = NULL;
			fs_node_untruncate(n);
		}
		mfs_inode_release(&n->rec);
		n->rec = rec;
	}
}

/* 1 if the kernel knows ino (the node is in memory), 0 if it does not. */
static int refresh_node(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_node *n = itable_hold(fs, ino);
	struct mfs_manifest *old = NULL;

	if (!n)
		return 0;
	/* Read under the node lock: a local change must not be overwritten by an older record. */
	pthread_mutex_lock(&n->lock);
	reload_locked(fs, n, &old);
	pthread_mutex_unlock(&n->lock);
	mfs_manifest_unref(old);
	itable_put(fs, n, 0, 1);
	return 1;
}

uint64_t fs_remote_gen(struct mfs_fs *fs)
{
	return __atomic_load_n(&fs->remote_gen, __ATOMIC_ACQUIRE);
}

struct mfs_manifest *fs_node_catch_up(struct mfs_fs *fs, struct mfs_node *n, uint64_t gen)
{
	struct mfs_manifest *old = NULL;

	if (fs_remote_gen(fs) != gen && !n->gone)
		reload_locked(fs, n, &old);
	return old;
}

/*
 * A peer's op put back the record of a version a commit here had
 * superseded (a rename or a link on another node, later by the clock than
 * the rewrite, that the rewrite's new version could not take over:
 * store/ns/ns_version.c).  The record lives at a name again, so its
 * successor link, which made every open of it answer ESTALE, goes.
 */
static void revived(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_inode rec;

	if (itable_follow(fs, ino) == ino || mfs_ns_get(fs->ns, ino, &rec))
		return;
	mfs_inode_release(&rec);
	itable_drop_successor(fs, ino);
}

/*
 * The kernel caches only what it looked up: an inode it holds lookups on
 * has a node in memory (fs_internal.h, note 1), and a dentry, positive or
 * negative, lives in a directory whose inode it holds.  So a change to an
 * inode without a node, or to a name in a directory without one, has
 * nothing to invalidate: no call into the kernel (a joiner merging a
 * snapshot of a million files would otherwise make two million).
 */
void fs_remote_change(void *arg, const struct mfs_ns_change *c)
{
	struct mfs_fs *fs = arg;

	/* Before the refresh: a lookup that read the old record sees it moved. */
	__atomic_add_fetch(&fs->remote_gen, 1, __ATOMIC_ACQ_REL);
	__atomic_add_fetch(&fs->told_gen, 1, __ATOMIC_ACQ_REL);
	if (c->kind == MFS_CHANGE_INODE) {
		revived(fs, c->ino);
		if (refresh_node(fs, c->ino) && fs->se)
			fuse_lowlevel_notify_inval_inode(fs->se, c->ino, 0, 0);
	} else if (fs->se && itable_peek(fs, c->parent)) {
		fuse_lowlevel_notify_inval_entry(fs->se, c->parent, c->name, strlen(c->name));
	}
}
