/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metadata operations (lookup, attributes, directories, renames, statfs)
 * and the operations table.  Reads live in fs_read.c, writes and commits in
 * fs_write.c, extended attributes in fs_xattr.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <linux/fs.h>

#include "errors.h"
#include "fs_internal.h"
#include "gc.h"
#include "log.h"
#include "namespace.h"

#define LOG_COMPONENT "fuse"

uint64_t fs_node_target(struct mfs_fs *fs, struct mfs_node *n)
{
	return itable_follow(fs, n->ino);
}

int fs_node_manifest(struct mfs_fs *fs, struct mfs_node *n)
{
	int rc;

	if (n->manifest)
		return 0;
	if (!n->rec.has_manifest) {
		n->manifest = mfs_manifest_new();
		return n->manifest ? 0 : -ENOMEM;
	}
	/*
	 * Loaded under gc's references lock: once loaded, the manifest pins its
	 * chunks (store/gc.h), and gc's final recheck must see it either loaded
	 * or not yet asked for, never half way.
	 */
	mfs_gc_refs_hold(fs->ns);
	rc = mfs_manifest_load(fs->db, &n->rec.manifest, &n->manifest);
	mfs_gc_refs_release(fs->ns);
	if (rc == 0 && n->manifest->size != n->rec.size) {
		log_error("inode %016llx: manifest size differs from the inode's",
			  (unsigned long long)n->ino);
		mfs_manifest_unref(n->manifest);
		n->manifest = NULL;
		rc = MFS_EFORMAT;
	}
	return rc;
}

/*
 * Re-reads ino's record into its node, if it has one: namespace operations
 * change a directory's record (mtime, nlink) in the store, and the node's
 * copy must follow or getattr (and a later chmod) would use a stale one.
 */
void fs_refresh(struct mfs_fs *fs, uint64_t ino)
{
	/* Held, not peeked: a concurrent FORGET could free it under us. */
	struct mfs_node *n = itable_hold(fs, ino);
	struct mfs_inode rec;

	if (!n)
		return;
	/* Read under the lock: a concurrent change must not be overwritten by an older record. */
	pthread_mutex_lock(&n->lock);
	if (!mfs_ns_get(fs->ns, ino, &rec)) {
		mfs_inode_release(&n->rec);
		n->rec = rec;
	}
	pthread_mutex_unlock(&n->lock);
	itable_put(fs, n, 0, 1);
}

static void rec_to_stat(const struct mfs_inode *r, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = r->fid ? r->fid : r->ino; /* stable across versions (inode.h) */
	st->st_mode = r->mode;
	st->st_nlink = r->nlink;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_size = r->size;
	st->st_blksize = 1 << 20;
	st->st_blocks = (r->size + 511) / 512;
	st->st_atim = r->atime;
	st->st_mtim = r->mtime;
	st->st_ctim = r->ctime;
	st->st_rdev = r->rdev;
}

/* Called with n->lock held. */
void fs_fill_stat(struct mfs_fs *fs, struct mfs_node *n, struct stat *st)
{
	rec_to_stat(&n->rec, st);
	if (n->stg) {
		view_take_times(fs, n->stg);
		/*
		 * While a rewrite is staged, the writer sees its staged size; but a
		 * reader of the old version must not be clipped by it (the kernel
		 * cuts reads at i_size), so with readers open report the larger.
		 */
		uint64_t sz = n->stg->size;

		if (n->cached_readers && n->rec.size > sz)
			sz = n->rec.size;
		st->st_size = sz;
		st->st_blocks = (sz + 511) / 512;
		st->st_mtim = n->stg->mtime;
		if (mfs_ts_after(&n->stg->ctime, &st->st_ctim))
			st->st_ctim = n->stg->ctime;
	} else {
		/* A writer on an older inode of this path that synced and wrote on. */
		view_apply(fs, n->ino, st);
	}
}

void fs_reply_entry(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec)
{
	struct fuse_entry_param e = { 0 };
	struct mfs_node *n;
	int rc;

	rec_to_stat(rec, &e.attr);
	n = itable_get(fs, rec->ino, rec, 1, 0, &rc);
	if (!n) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	pthread_mutex_lock(&n->lock);
	fs_fill_stat(fs, n, &e.attr);
	pthread_mutex_unlock(&n->lock);
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = fs->timeout;
	if (fuse_reply_entry(req, &e))
		itable_put(fs, n, 1, 0); /* the kernel did not take the lookup */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mfs_fs *fs = userdata;

	/*
	 * Readahead READs are background requests: let as many be in flight as
	 * there are threads to serve them (the kernel default is 12).
	 */
	conn->max_background = fs->cfg->threads;
	conn->congestion_threshold = fs->cfg->threads * 3 / 4;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/*
	 * No atomic O_TRUNC: with it the kernel sets the shared inode's size to
	 * 0 at open, and readers that have the old version mmapped get SIGBUS.
	 * Without it, open(O_TRUNC) arrives as a truncate with no file handle,
	 * answered with the size old readers need (fs_fill_stat) and published
	 * at the writer's last release (fs_truncate).
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Data changes only through this daemon, which invalidates explicitly. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_inode rec;
	int rc = mfs_ns_lookup(fs->ns, parent, name, &rec);

	if (rc == -ENOENT) {
		/* Negative entry, cached briefly: loaders probe many names. */
		struct fuse_entry_param e = { .ino = 0, .entry_timeout = 1.0 };

		fuse_reply_entry(req, &e);
		return;
	}
	if (rc) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	fs_reply_entry(fs, req, &rec);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_node *n = itable_peek(fs, ino);

	if (n)
		itable_put(fs, n, nlookup, 0);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct mfs_fs *fs = req_fs(req);

	for (size_t i = 0; i < count; i++) {
		struct mfs_node *n = itable_peek(fs, forgets[i].ino);

		if (n)
			itable_put(fs, n, forgets[i].nlookup, 0);
	}
	fuse_reply_none(req);
}

/* Node the kernel refers to; it must be in the table (it looked it up). */
static struct mfs_node *node_of(struct mfs_fs *fs, fuse_ino_t ino, int *rc)
{
	struct mfs_node *n = itable_peek(fs, ino);

	*rc = n ? 0 : -ESTALE;
	return n;
}

/*
 * A superseded version is still the same file to descriptors open on it:
 * its mode, owner, link count and ctime are the current version's (a chmod of the path
 * governs them, and the kernel checks their permissions by them), its size,
 * bytes and mtime its own.  1 if st was updated.
 */
static int current_attrs(struct mfs_fs *fs, uint64_t ino, struct stat *st)
{
	struct mfs_node *m;
	int rc;

	if (!(m = itable_get(fs, itable_follow(fs, ino), NULL, 0, 1, &rc))) {
		/* The file was removed (renamed over, unlinked) since. */
		if (rc == -ENOENT)
			st->st_nlink = 0;
		return rc == -ENOENT;
	}
	pthread_mutex_lock(&m->lock);
	st->st_mode = (st->st_mode & S_IFMT) | (m->rec.mode & 07777);
	st->st_uid = m->rec.uid;
	st->st_gid = m->rec.gid;
	st->st_nlink = m->rec.nlink;
	if (mfs_ts_after(&m->rec.ctime, &st->st_ctim))
		st->st_ctim = m->rec.ctime;
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	return 1;
}

/* Replies with ino's attributes st (no locks held). */
static void reply_attr(struct mfs_fs *fs, fuse_req_t req, uint64_t ino, struct stat *st)
{
	if (itable_follow(fs, ino) != ino && current_attrs(fs, ino, st)) {
		/* Not cached: the current version's may change again. */
		fuse_reply_attr(req, st, 0);
		return;
	}
	fuse_reply_attr(req, st, fs->timeout);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	struct stat st;
	int rc;
	struct mfs_node *n = node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&n->lock);
	fs_fill_stat(fs, n, &st);
	pthread_mutex_unlock(&n->lock);
	reply_attr(fs, req, n->ino, &st);
}

int fs_save_attrs(struct mfs_fs *fs, struct mfs_node *n, unsigned mask, uint64_t *moved_to)
{
	uint64_t target = fs_node_target(fs, n);
	struct mfs_inode now;
	int rc;

	*moved_to = 0;
	if (n->gone && target == n->ino)
		return 0; /* unlinked but open: metadata lives in memory only */
	rc = mfs_ns_setattr(fs->ns, target, &n->rec, mask, &now);
	if (rc == -ENOENT)
		return 0; /* removed meanwhile: nothing left to change */
	if (rc)
		return rc;
	if (target == n->ino) {
		/* The stored record, with what others changed meanwhile too. */
		mfs_inode_release(&n->rec);
		n->rec = now;
	} else {
		mfs_inode_release(&now);
		*moved_to = target;
	}
	return 0;
}

static void set_time(struct timespec *dst, const struct timespec *src, int now_flag)
{
	if (now_flag)
		clock_gettime(CLOCK_REALTIME, dst);
	else
		*dst = *src;
}

/*
 * truncate(2) of a path whose writer synced and writes on through an older
 * inode (view.c) cuts the writer's staged bytes, as it would cut the one
 * file on a local filesystem; its next commit publishes them.
 */
static int truncate_path(struct mfs_fs *fs, struct mfs_node *n, uint64_t size,
			 struct fuse_file_info *fi)
{
	uint64_t writer = fi ? 0 : view_writer(fs, n->ino);
	struct mfs_node *w = writer ? itable_hold(fs, writer) : NULL;
	int rc;

	if (!w)
		return fs_truncate(fs, n, size, fi);
	rc = fs_truncate_staged(fs, w, size);
	itable_put(fs, w, 0, 1);
	/*
	 * The kernel's size and pages of the writer's inode (written through,
	 * nothing dirty): its reads past the cut must find nothing.
	 */
	if (!rc)
		fuse_lowlevel_notify_inval_inode(fs->se, writer, 0, 0);
	/* The writer closed meanwhile: the path's own version it is. */
	return rc == -ESTALE ? fs_truncate(fs, n, size, fi) : rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	uint64_t moved_to = 0, inval = 0;
	unsigned mask = 0;
	struct stat st;
	mode_t drop = 0;
	int rc;
	struct mfs_node *n = node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	log_debug("setattr %016llx: valid %#x%s", (unsigned long long)ino, to_set, fi ? " (fh)" : "");
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((rc = truncate_path(fs, n, attr->st_size, fi))) {
			fuse_reply_err(req, mfs_errno(rc));
			return;
		}
	}
	pthread_mutex_lock(&n->lock);
	if (!(to_set & FUSE_SET_ATTR_MODE)) {
		/* chown (any, even to -1, -1), or a truncate by someone else, drops set-ID bits. */
		int chown = !(to_set & ~(FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_CTIME));

		if (chown || (to_set & FUSE_SET_ATTR_SIZE))
			drop = fs_setid_to_drop(req, &n->rec, chown);
	}
	if (drop) {
		n->rec.mode &= ~drop;
		mask |= MFS_ATTR_MODE;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		n->rec.mode = (n->rec.mode & S_IFMT) | (attr->st_mode & 07777);
		mask |= MFS_ATTR_MODE;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		n->rec.uid = attr->st_uid;
		mask |= MFS_ATTR_UID;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		n->rec.gid = attr->st_gid;
		mask |= MFS_ATTR_GID;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		set_time(&n->rec.atime, &attr->st_atim, to_set & FUSE_SET_ATTR_ATIME_NOW);
		mask |= MFS_ATTR_ATIME;
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		set_time(&n->rec.mtime, &attr->st_mtim, to_set & FUSE_SET_ATTR_MTIME_NOW);
		mask |= MFS_ATTR_MTIME;
		/* The time the staged version will be published with (fs_internal.h). */
		if (n->stg)
			n->stg->mtime = n->rec.mtime;
	}
	/*
	 * chown(f, -1, -1) changes nothing but the ctime: the kernel sends it
	 * as a setattr with no field (or FUSE_SET_ATTR_CTIME alone).
	 */
	if (!(to_set & ~FUSE_SET_ATTR_CTIME))
		mask |= MFS_ATTR_CTIME;
	if (mask) {
		clock_gettime(CLOCK_REALTIME, &n->rec.ctime);
		if (n->stg) {
			n->stg->ctime = n->rec.ctime;
			inval = view_update(fs, n->stg);
		} else if (mask & MFS_ATTR_MTIME) {
			/*
			 * The path of a writer that synced (this inode, or the one
			 * that superseded it): its next commit keeps these.
			 */
			view_set_times(fs, fs_node_target(fs, n), &n->rec.mtime, &n->rec.ctime);
		}
		rc = fs_save_attrs(fs, n, mask | MFS_ATTR_CTIME, &moved_to);
	}
	fs_fill_stat(fs, n, &st);
	pthread_mutex_unlock(&n->lock);
	if (moved_to) {
		/* The current version's node and the kernel's attributes of it. */
		fs_refresh(fs, moved_to);
		fuse_lowlevel_notify_inval_inode(fs->se, moved_to, -1, 0);
	}
	if (inval != moved_to)
		view_inval(fs, inval);
	if (rc)
		fuse_reply_err(req, mfs_errno(rc));
	else
		reply_attr(fs, req, ino, &st);
}

/* Whether the caller of req is in group gid (its supplementary groups too). */
static int caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n = fuse_req_getgroups(req, 64, groups);

	if (fuse_req_ctx(req)->gid == gid)
		return 1;
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

mode_t fs_setid_to_drop(fuse_req_t req, const struct mfs_inode *rec, int chown)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	mode_t mode = rec->mode, drop = mode & S_ISUID;

	if (S_ISDIR(mode) || (!chown && !S_ISREG(mode)))
		return 0;
	/* Without group-execute, set-group-ID means mandatory locking: the group's members keep it. */
	if ((mode & S_ISGID) && ((mode & S_IXGRP) || (ctx->uid && !caller_in_group(req, rec->gid))))
		drop |= S_ISGID;
	return chown || ctx->uid ? drop : 0;
}

void fs_inherit_sgid(struct mfs_fs *fs, uint64_t parent, struct mfs_ns_new *nw)
{
	struct mfs_node *p = itable_hold(fs, parent);

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->rec.mode & S_ISGID) {
		nw->gid = p->rec.gid;
		if (S_ISDIR(nw->mode))
			nw->mode |= S_ISGID;
	}
	pthread_mutex_unlock(&p->lock);
	itable_put(fs, p, 0, 1);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      const char *target, dev_t rdev)
{
	struct mfs_fs *fs = req_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct mfs_ns_new nw = {
		.mode = mode, .rdev = rdev, .uid = ctx->uid, .gid = ctx->gid, .symlink = target,
	};
	struct mfs_inode rec;
	int rc;

	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fs_inherit_sgid(fs, parent, &nw);
	if ((rc = mfs_ns_create(fs->ns, parent, name, &nw, &rec))) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	fs_refresh(fs, parent);
	fs_reply_entry(fs, req, &rec);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777 & ~fuse_req_ctx(req)->umask), NULL, 0);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) > 4095) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	make_node(req, parent, name, S_IFLNK | 0777, link, 0);
}

/*
 * FIFOs, sockets and devices are records without bytes: the kernel serves
 * their opens itself (FUSE gives special inodes to the kernel's own
 * drivers), so they never reach fs_op_open.  A regular file made with
 * mknod(2) arrives here too (the kernel's create without open): it is an
 * empty file, published at once, not a pending one.
 */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	mode_t type = mode & S_IFMT;

	switch (type) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK:
		rdev = 0;
		break;
	case S_IFCHR: case S_IFBLK:
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	make_node(req, parent, name, type | (mode & 07777 & ~fuse_req_ctx(req)->umask), NULL, rdev);
}

/* A new name for ino's file (namespace.h, "Hard links"): the current version's. */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_inode rec;
	uint64_t target;
	int rc;
	struct mfs_node *n = node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&n->lock);
	target = fs_node_target(fs, n);
	if (n->gone && target == n->ino)
		target = 0; /* unlinked but open: no name to add to */
	pthread_mutex_unlock(&n->lock);
	if (!target) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((rc = mfs_ns_link(fs->ns, target, newparent, newname, &rec))) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	fs_refresh(fs, newparent);
	fs_refresh(fs, target); /* nlink and ctime */
	fs_reply_entry(fs, req, &rec);
}

/*
 * After a publish moved parent/name's file to a new inode: the kernel's
 * dentries of the file's other names (hard links) still lead to the old
 * one; drop them too.  No locks held.
 */
void fs_inval_links(struct mfs_fs *fs, uint64_t parent, const char *name)
{
	struct mfs_inode rec;

	if (mfs_ns_lookup(fs->ns, parent, name, &rec))
		return;
	if (rec.name && (rec.parent != parent || strcmp(rec.name, name)))
		fuse_lowlevel_notify_inval_entry(fs->se, rec.parent, rec.name, strlen(rec.name));
	for (uint32_t i = 0; i < rec.nlinks; i++) {
		const struct mfs_name *l = &rec.links[i];

		if (l->parent != parent || strcmp(l->name, name))
			fuse_lowlevel_notify_inval_entry(fs->se, l->parent, l->name, strlen(l->name));
	}
	mfs_inode_release(&rec);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_fs *fs = req_fs(req);
	char *target = NULL;
	int rc;
	struct mfs_node *n = node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&n->lock);
	if (S_ISLNK(n->rec.mode) && n->rec.symlink)
		target = strdup(n->rec.symlink);
	pthread_mutex_unlock(&n->lock);
	if (target)
		fuse_reply_readlink(req, target);
	else
		fuse_reply_err(req, EINVAL);
	free(target);
}

/*
 * A name of ino went.  If that was its last (the record is gone), mark its
 * node so it is not saved; if other names still lead to it (hard links),
 * its node takes the stored nlink and ctime instead.
 */
static void mark_gone(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_manifest *old;
	struct mfs_inode rec;
	struct mfs_node *n;

	if (!ino)
		return;
	if (!mfs_ns_get(fs->ns, ino, &rec)) {
		mfs_inode_release(&rec);
		fs_refresh(fs, ino);
		return;
	}
	if (!(n = itable_hold(fs, ino)))
		return;
	pthread_mutex_lock(&n->lock);
	n->gone = 1;
	n->rec.nlink = 0;
	old = fs_node_release_old(fs, n);
	pthread_mutex_unlock(&n->lock);
	mfs_manifest_unref(old);
	itable_put(fs, n, 0, 1);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct mfs_fs *fs = req_fs(req);
	uint64_t ino = 0;
	int rc;

	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = mfs_ns_remove(fs->ns, parent, name, dir, &ino);
	if (!rc) {
		mark_gone(fs, ino);
		fs_refresh(fs, parent);
	}
	fuse_reply_err(req, mfs_errno(rc));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 1);
}

/* Keeps the in-memory node of parent/name's names in step after a rename (all of them: hard links). */
static void sync_names(struct mfs_fs *fs, uint64_t parent, const char *name)
{
	struct mfs_inode rec;
	struct mfs_node *n;

	if (mfs_ns_lookup(fs->ns, parent, name, &rec))
		return;
	if ((n = itable_hold(fs, rec.ino))) {
		struct mfs_name *links;
		uint32_t nlinks;
		char *nm;

		pthread_mutex_lock(&n->lock);
		n->rec.parent = rec.parent;
		nm = n->rec.name;
		n->rec.name = rec.name;
		rec.name = nm;
		links = n->rec.links;
		nlinks = n->rec.nlinks;
		n->rec.links = rec.links;
		n->rec.nlinks = rec.nlinks;
		rec.links = links;
		rec.nlinks = nlinks;
		n->rec.nlink = rec.nlink;
		n->rec.ctime = rec.ctime;
		pthread_mutex_unlock(&n->lock);
		itable_put(fs, n, 0, 1);
	}
	mfs_inode_release(&rec);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct mfs_fs *fs = req_fs(req);
	uint64_t replaced = 0;
	unsigned mflags = 0;
	int rc;

	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		/* RENAME_WHITEOUT is overlayfs's, for its upper layers. */
		log_info("rename of %s: flags %#x refused (EINVAL): only NOREPLACE and EXCHANGE",
			 name, flags);
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		mflags |= MFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		mflags |= MFS_RENAME_EXCHANGE;
	rc = mfs_ns_rename(fs->ns, parent, name, newparent, newname, mflags, &replaced);
	if (!rc) {
		mark_gone(fs, replaced);
		fs_refresh(fs, parent);
		if (newparent != parent)
			fs_refresh(fs, newparent);
		sync_names(fs, newparent, newname);
		if (flags & RENAME_EXCHANGE)
			sync_names(fs, parent, name);
	}
	fuse_reply_err(req, mfs_errno(rc));
}

/*
 * An open directory: where the last reply ended, so the next one resumes
 * after that name.  Offsets alone would skip entries when earlier ones are
 * removed between calls (rm -rf does exactly that).
 */
struct dir_handle {
	pthread_mutex_t lock;
	off_t last_off;             /* offset of the last entry returned */
	char last_name[MFS_NAME_MAX + 1];
};

struct readdir_ctx {
	struct mfs_fs *fs;
	fuse_req_t req;
	char *buf;
	size_t size, used;
	off_t next;
	int plus;
	int err;
	off_t last_off;             /* offset of the last entry added */
	char last_name[MFS_NAME_MAX + 1];
};

static int add_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct readdir_ctx *c = arg;
	size_t n;

	c->next++;
	if (!c->plus) {
		struct stat st = { .st_ino = ino, .st_mode = mode };

		n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, name, &st, c->next);
	} else {
		struct fuse_entry_param e = { 0 };
		struct mfs_node *node;
		int rc;

		/* Size first with a dummy, so a full buffer takes no lookup. */
		n = fuse_add_direntry_plus(c->req, NULL, 0, name, &e, 0);
		if (n > c->size - c->used)
			return 1;
		if (!(node = itable_get(c->fs, ino, NULL, 1, 0, &rc))) {
			c->err = rc;
			return 1;
		}
		pthread_mutex_lock(&node->lock);
		fs_fill_stat(c->fs, node, &e.attr);
		pthread_mutex_unlock(&node->lock);
		e.ino = ino;
		e.attr_timeout = e.entry_timeout = c->fs->timeout;
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used, name, &e, c->next);
	}
	if (n > c->size - c->used)
		return 1;
	c->used += n;
	c->last_off = c->next;
	snprintf(c->last_name, sizeof(c->last_name), "%s", name);
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus,
		       struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct readdir_ctx c = { fs, req, NULL, size, 0, off, plus, 0, 0, "" };
	char after[MFS_NAME_MAX + 1] = "";
	int rc;

	if (!(c.buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * Offsets 1 and 2 are "." and ".."; entry k (0-based) has offset k + 3.
	 * The kernel takes no lookup on dot entries, even in readdirplus.
	 */
	if (off == 0) {
		struct fuse_entry_param e = { .ino = ino, .attr = { .st_ino = ino, .st_mode = S_IFDIR } };

		if (plus) {
			c.used += fuse_add_direntry_plus(req, c.buf, size, ".", &e, 1);
			c.used += fuse_add_direntry_plus(req, c.buf + c.used, size - c.used, "..", &e, 2);
		} else {
			c.used += fuse_add_direntry(req, c.buf, size, ".", &e.attr, 1);
			c.used += fuse_add_direntry(req, c.buf + c.used, size - c.used, "..", &e.attr, 2);
		}
		c.next = 2;
	} else if (off < 2) {
		c.next = 2;
	}
	pthread_mutex_lock(&dh->lock);
	if (off > 2 && off == dh->last_off)
		memcpy(after, dh->last_name, sizeof(after));
	pthread_mutex_unlock(&dh->lock);
	rc = mfs_ns_readdir(fs->ns, ino, *after ? after : NULL, c.next - 2, add_entry, &c);
	if (!rc)
		rc = c.err;
	if (*c.last_name) {
		pthread_mutex_lock(&dh->lock);
		dh->last_off = c.last_off;
		memcpy(dh->last_name, c.last_name, sizeof(dh->last_name));
		pthread_mutex_unlock(&dh->lock);
	}
	if (rc && c.used == 0)
		fuse_reply_err(req, mfs_errno(rc));
	else
		fuse_reply_buf(req, c.buf, c.used);
	free(c.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = calloc(1, sizeof(*dh));

	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->lock, NULL);
	fi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, fi)) {
		pthread_mutex_destroy(&dh->lock);
		free(dh);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	pthread_mutex_destroy(&dh->lock);
	free(dh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_fs *fs = req_fs(req);
	struct statvfs st;

	/* Space is the store's filesystem's: that is what a write can use. */
	if (statvfs(fs->cfg->data_dir, &st)) {
		fuse_reply_err(req, errno);
		return;
	}
	st.f_namemax = MFS_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops mfs_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.fallocate = fs_op_fallocate,
	.opendir = op_opendir,
	.releasedir = op_releasedir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
};
