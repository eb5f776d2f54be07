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

static void refresh_node(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_node *n = itable_hold(fs, ino);
	struct mfs_manifest *old = NULL;
	struct mfs_inode rec;
	int rc;

	if (!n)
		return;
	/* Read under the node lock: a local change must not be overwritten by an older record. */
	pthread_mutex_lock(&n->lock);
	rc = mfs_ns_get(fs->ns, ino, &rec);
	if (rc == -ENOENT) {
		n->gone = 1;  /* deleted by a peer: open handles keep their version */
		old = fs_node_release_old(fs, n);
	} else if (!rc) {
		int moved = rec.has_manifest != n->rec.has_manifest || rec.size != n->rec.size ||
			    memcmp(&rec.manifest, &n->rec.manifest, sizeof(rec.manifest));

		/* A file being written here keeps its own view until it commits. */
		if (moved && !n->stg && n->manifest) {
			mfs_manifest_unref(n->manifest);
			n->manifest = NULL;
		}
		mfs_inode_release(&n->rec);
		n->rec = rec;
	}
	pthread_mutex_unlock(&n->lock);
	mfs_manifest_unref(old);
	itable_put(fs, n, 0, 1);
}

void fs_remote_change(void *arg, const struct mfs_ns_change *c)
{
	struct mfs_fs *fs = arg;

	if (c->kind == MFS_CHANGE_INODE) {
		refresh_node(fs, c->ino);
		if (fs->se)
			fuse_lowlevel_notify_inval_inode(fs->se, c->ino, 0, 0);
	} else if (fs->se) {
		fuse_lowlevel_notify_inval_entry(fs->se, c->parent, c->name, strlen(c->name));
	}
}
