/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extended attributes.  user.* attributes are stored in the inode record.
 * user.modelfs.* is reserved for attributes the daemon computes (read
 * only); user.modelfs.control tells modelfs-admin where this mount's
 * control socket is, from any path inside the mount; user.modelfs.info and
 * user.modelfs.KEY are the per-file report (fs_info.c).  Like the
 * control and repl attributes, they are not listed by listxattr.  One
 * exception is stored like any user attribute: user.modelfs.base, the
 * path of the base a fine-tune is stored against (fs_delta.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/ns/namespace.h"

#define RESERVED_PREFIX "user.modelfs."
#define CONTROL_XATTR "user.modelfs.control"
#define REPL_XATTR "user.modelfs.repl"
#define REPL_MAX 16
#define BASE_XATTR "user.modelfs.base"

/*
 * "user." alone names no attribute: the kernel's own filesystems refuse it
 * with EINVAL (the VFS finds the handler, and its name is empty), and FUSE
 * passes it through, so the daemon says so itself.
 */
static int is_empty_user(const char *name)
{
	return !strcmp(name, "user.");
}

/* A daemon's attribute: user.modelfs.* but the stored user.modelfs.base. */
static int is_reserved(const char *name)
{
	return !strncmp(name, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) && strcmp(name, BASE_XATTR);
}

static struct mfs_node *xnode(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_node *n = itable_peek(req_fs(req), ino);

	if (!n)
		fuse_reply_err(req, ESTALE);
	return n;
}

/* Replies with value, honouring the size-probe protocol of getxattr(2). */
static void reply_value(fuse_req_t req, const void *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

/*
 * The node of the inode n's path has now, held until itable_put(fs, m, 0, 1):
 * n itself, or a newer version's when n was superseded.  A change through
 * an old version's descriptor (fsetxattr) goes to the current record as one
 * change, not as the old version's whole set of attributes over it.
 */
static struct mfs_node *current_of(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_node *m;
	uint64_t target;
	int rc;

	int locked = fs_node_lock_attrs(fs, n);

	target = locked ? fs_node_target(fs, n) : n->noted->target;
	fs_node_unlock_attrs(fs, n, locked);
	if (target != n->ino && (m = itable_get(fs, target, NULL, 0, 1, &rc)))
		return m;
	return itable_get(fs, n->ino, NULL, 0, 1, &rc) ? n : NULL;
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mfs_fs *fs = req_fs(req);
	const struct mfs_xattr *x;
	struct mfs_node *n;
	void *copy = NULL;
	size_t len = 0;
	int locked;

	if (!strcmp(name, CONTROL_XATTR)) {
		reply_value(req, fs->control_path, strlen(fs->control_path), size);
		return;
	}
	/*
	 * Only user.* is ever stored (op_setxattr).  The kernel asks for
	 * security.capability before every WRITE (FUSE filesystems do not get
	 * SB_NOSEC with libfuse 3.14, which cannot negotiate
	 * FUSE_HANDLE_KILLPRIV_V2): one request per write(2) (per MiB for cp,
	 * whose writes are st_blksize; 8 per MiB for dd bs=128k, issue 10),
	 * answered here without looking the node up.  SB_NOSEC would spare only
	 * the writes after an inode's first (the VFS marks the inode S_NOSEC
	 * once it was asked), so a small file, written once, would be asked all
	 * the same.
	 */
	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (is_empty_user(name)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!(n = xnode(req, ino)))
		return;
	if (!strcmp(name, REPL_XATTR)) {
		const struct mfs_inode *r;
		char v[8];

		locked = fs_node_lock_attrs(fs, n);
		r = locked ? &n->rec : &n->noted->rec;

		snprintf(v, sizeof(v), "%u", r->repl ? r->repl : MFS_DEFAULT_REPL);
		fs_node_unlock_attrs(fs, n, locked);
		reply_value(req, v, strlen(v), size);
		return;
	}
	if (is_reserved(name)) {
		int rc = fs_info_xattr(fs, ino, name + strlen(RESERVED_PREFIX), (char **)&copy, &len);

		if (rc)
			fuse_reply_err(req, mfs_errno(rc));
		else
			reply_value(req, copy, len, size);
		free(copy);
		return;
	}
	if (!(n = current_of(fs, n))) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	locked = fs_node_lock_attrs(fs, n);
	if ((x = mfs_inode_xattr_get(locked ? &n->rec : &n->noted->rec, name)) &&
	    (copy = malloc(x->len ? x->len : 1))) {
		memcpy(copy, x->value, x->len);
		len = x->len;
	}
	fs_node_unlock_attrs(fs, n, locked);
	itable_put(fs, n, 0, 1);
	if (!x)
		fuse_reply_err(req, ENODATA);
	else if (!copy)
		fuse_reply_err(req, ENOMEM);
	else
		reply_value(req, copy, len, size);
	free(copy);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_node *n = xnode(req, ino);
	const struct mfs_inode *r;
	char *buf = NULL;
	size_t len = 0;
	int locked;

	if (!n)
		return;
	if (!(n = current_of(fs, n))) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	locked = fs_node_lock_attrs(fs, n);
	r = locked ? &n->rec : &n->noted->rec;
	for (uint32_t i = 0; i < r->nxattr; i++)
		len += strlen(r->xattr[i].name) + 1;
	if ((buf = malloc(len ? len : 1))) {
		char *p = buf;

		for (uint32_t i = 0; i < r->nxattr; i++)
			p = stpcpy(p, r->xattr[i].name) + 1;
	}
	fs_node_unlock_attrs(fs, n, locked);
	itable_put(fs, n, 0, 1);
	if (!buf)
		fuse_reply_err(req, ENOMEM);
	else
		reply_value(req, buf, len, size);
	free(buf);
}

/* Only user.* is stored, and user.modelfs.* is the daemon's. */
static int check_settable(struct mfs_fs *fs, uint64_t ino, const char *name)
{
	if (fs->cfg->ro || mfs_rev_is_ino(ino))
		return EROFS;
	if (is_reserved(name))
		return EPERM;
	if (strncmp(name, "user.", 5))
		return EOPNOTSUPP;
	if (is_empty_user(name))
		return EINVAL;
	return 0;
}

/*
 * user.modelfs.repl: the replication factor of a file, or of a directory
 * (inherited by what is created in it later).  Replicated like any change.
 */
static void set_repl(fuse_req_t req, fuse_ino_t ino, const char *value, size_t size)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_node *n;
	char buf[8], *end;
	uint64_t moved_to = 0;
	long r;
	int rc;

	if (fs->cfg->ro || mfs_rev_is_ino(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (size == 0 || size >= sizeof(buf)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(buf, value, size);
	buf[size] = 0;
	r = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || r < 1 || r > REPL_MAX) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!(n = xnode(req, ino)))
		return;
	pthread_mutex_lock(&n->lock);
	n->rec.repl = (uint8_t)r;
	clock_gettime(CLOCK_REALTIME, &n->rec.ctime);
	rc = fs_save_attrs(fs, n, MFS_ATTR_REPL | MFS_ATTR_CTIME, &moved_to);
	pthread_mutex_unlock(&n->lock);
	if (rc)
		fs_refresh(fs, n->ino); /* the factor stored, not the one refused */
	/* Peers re-place when the op reaches them; this node does it now. */
	if (!rc && fs->replica)
		mfs_replica_rescan(fs->replica);
	if (moved_to)
		fs_refresh(fs, moved_to);
	fuse_reply_err(req, mfs_errno(rc));
}

/*
 * A change through an older inode of a file (asked) went to the newer
 * one's node n, whose last name went: n lives in memory only until the
 * kernel forgets it (its descriptors closed), and then the older inode's
 * own record is the file's (fs_ops.c, mark_gone).  So the older one keeps
 * n's xattrs too, or an fgetxattr through it after that lost the change
 * (fsdiff seed 139002, a writer that went on after an fsync beside
 * readers of the newer inode, the file unlinked).  Without memory only
 * the older one misses it.
 */
static void keep_in_asked(struct mfs_node *asked, struct mfs_node *n)
{
	struct mfs_inode tmp = { 0 };
	int rc;

	pthread_mutex_lock(&n->lock);
	rc = mfs_inode_xattrs_copy(&tmp, &n->rec);
	pthread_mutex_unlock(&n->lock);
	if (rc)
		return;
	pthread_mutex_lock(&asked->lock);
	mfs_inode_xattrs_copy(&asked->rec, &tmp);
	pthread_mutex_unlock(&asked->lock);
	mfs_inode_release(&tmp);
}

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags, int remove)
{
	struct mfs_fs *fs = req_fs(req);
	uint64_t moved_to = 0;
	struct mfs_node *n, *asked;
	int rc = check_settable(fs, ino, name);
	int other, gone = 0;

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (!(n = asked = xnode(req, ino)))
		return;
	if (!(n = current_of(fs, n))) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	other = n->ino != ino;
	pthread_mutex_lock(&n->lock);
	if (remove) {
		rc = mfs_inode_xattr_remove(&n->rec, name);
	} else {
		int exists = mfs_inode_xattr_get(&n->rec, name) != NULL;

		if ((flags & XATTR_CREATE) && exists)
			rc = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !exists)
			rc = -ENODATA;
		else
			rc = mfs_inode_xattr_set(&n->rec, name, value, size);
	}
	if (!rc) {
		clock_gettime(CLOCK_REALTIME, &n->rec.ctime);
		rc = fs_save_attrs(fs, n, MFS_ATTR_XATTR | MFS_ATTR_CTIME, &moved_to);
	}
	gone = n->gone;
	pthread_mutex_unlock(&n->lock);
	if (!rc && other && gone)
		keep_in_asked(asked, n);
	/*
	 * A store write that failed: the node drops the change it made (and
	 * getxattr no longer shows it) by reading the stored record again.
	 * A name refused (EEXIST, ENODATA) changed nothing.
	 */
	if (rc && rc != -EEXIST && rc != -ENODATA)
		fs_refresh(fs, n->ino);
	/* The kernel moves the ctime of the inode it asked about, not the current one's. */
	if (!rc && other)
		fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
	itable_put(fs, n, 0, 1);
	if (moved_to)
		fs_refresh(fs, moved_to);
	fuse_reply_err(req, mfs_errno(rc));
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags)
{
	if (!strcmp(name, REPL_XATTR)) {
		set_repl(req, ino, value, size);
		return;
	}
	change_xattr(req, ino, name, value, size, flags, 0);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, 1);
}
