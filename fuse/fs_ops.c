/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metadata operations (lookup, names: create, link, remove, rename;
 * statfs) and the operations table.  Attributes live in fs_attr.c,
 * listings in fs_dir.c, reads in fs_read.c, writes and commits in
 * fs_write.c, extended attributes in fs_xattr.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <linux/fs.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

uint64_t fs_node_target(struct mfs_fs *fs, struct mfs_node *n)
{
	return itable_follow(fs, n->ino);
}

void fs_node_untruncate(struct mfs_node *n)
{
	__atomic_store_n(&n->truncated, 0, __ATOMIC_RELAXED);
}

int fs_manifest_pinned(struct mfs_fs *fs, const struct mfs_hash *id, int has_manifest,
		       struct mfs_manifest **out)
{
	int rc;

	if (!has_manifest) {
		*out = mfs_manifest_new();
		return *out ? 0 : -ENOMEM;
	}
	/*
	 * Loaded under gc's references lock: once loaded, the manifest pins its
	 * chunks (store/maint/gc.h), and gc's final recheck must see it either loaded
	 * or not yet asked for, never half way.
	 */
	mfs_gc_refs_hold(fs->ns);
	rc = mfs_manifest_load(fs->db, id, out);
	mfs_gc_refs_release(fs->ns);
	return rc;
}

int fs_node_manifest(struct mfs_fs *fs, struct mfs_node *n)
{
	int rc;

	if (n->manifest)
		return 0;
	rc = fs_manifest_pinned(fs, &n->rec.manifest, n->rec.has_manifest, &n->manifest);
	if (rc == 0 && n->rec.has_manifest && n->manifest->size != n->rec.size) {
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

/*
 * The bytes of n's current version that are holes (manifest.h), from its
 * manifest record's header, read once per version.  A file shorter than a
 * hole has none; an unreadable manifest counts none (reads report it).
 */
static uint64_t node_holes(struct mfs_fs *fs, struct mfs_node *n)
{
	const struct mfs_inode *r = &n->rec;

	if (!S_ISREG(r->mode) || !r->has_manifest || r->size < MFS_CHUNK_MIN)
		return 0;
	if (!n->holes_known || memcmp(n->holes_of.b, r->manifest.b, MFS_HASH_LEN)) {
		if (mfs_manifest_hole_bytes(fs->db, &r->manifest, &n->holes))
			n->holes = 0;
		n->holes_of = r->manifest;
		n->holes_known = 1;
	}
	return n->holes <= r->size ? n->holes : 0;
}

/*
 * The bytes a staged file holds: what its file has allocated, its base's
 * data not yet copied in, and what the write-behind dropped (stored already).
 */
static uint64_t staged_bytes(const struct mfs_staging *s)
{
	struct stat fst;
	uint64_t b = s->punched;

	/*
	 * A dense one's bytes are all data (never punched): no fstat in a
	 * CREATE's reply or in the attributes a commit notes first.
	 */
	if (s->dense)
		b += s->size;
	else if (!fstat(s->fd, &fst))
		b += (uint64_t)fst.st_blocks * 512;
	if (s->base)
		b += mfs_manifest_data_bytes(s->base);
	return b;
}

/*
 * Called with n->lock held.  st_blocks counts the bytes stored, not the
 * size: a sparse file's holes count none, as on a local filesystem, so
 * du and ls -s show what it costs and cp --sparse=auto sees it is sparse.
 */
void fs_fill_stat(struct mfs_fs *fs, struct mfs_node *n, struct stat *st)
{
	rec_to_stat(&n->rec, st);
	st->st_blocks = (n->rec.size - node_holes(fs, n) + 511) / 512;
	/*
	 * Once the writer's close published its bytes under a new inode, a
	 * stat of this one before its RELEASE gave its readers the writer's
	 * size back after the close had dropped it (fs_moved_inode), and they
	 * read zeros up to it (t0412: 3 rounds in 200).
	 */
	if (n->stg && !fs_staging_left(fs, n)) {
		view_take_times(fs, n->stg);
		/*
		 * While a rewrite is staged, the writer sees its staged size; but a
		 * reader of the old version must not be clipped by it (the kernel
		 * cuts reads at i_size), so with readers open report the larger.
		 */
		uint64_t sz = n->stg->size, held;

		if (n->cached_readers && n->rec.size > sz)
			sz = n->rec.size;
		st->st_size = sz;
		held = staged_bytes(n->stg);
		st->st_blocks = ((held < sz ? held : sz) + 511) / 512;
		st->st_mtim = n->stg->mtime;
		if (mfs_ts_after(&n->stg->ctime, &st->st_ctim))
			st->st_ctim = n->stg->ctime;
	} else {
		/* A truncate(2) of the path cut or grew the file for its readers. */
		if (n->truncated) {
			st->st_size = (off_t)n->trunc_to;
			if (st->st_blocks > (blkcnt_t)((n->trunc_to + 511) / 512))
				st->st_blocks = (blkcnt_t)((n->trunc_to + 511) / 512);
		}
		/* A writer on an older inode of this path that synced and wrote on. */
		view_apply(fs, n->ino, st);
	}
}

/*
 * The entry of rec's file, given as inode `as` (0: rec's own) with rec's
 * attributes: the inode of the writer whose shared view is on rec's
 * (view.c), which every opener of the path then shares.
 */
static void reply_entry_as(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec, uint64_t gen,
			   uint64_t as)
{
	struct fuse_entry_param e = { 0 };
	struct mfs_manifest *old = NULL;
	struct mfs_node *n, *w;
	uint64_t filled;
	int rc, locked;

	rec_to_stat(rec, &e.attr);
	n = itable_get(fs, rec->ino, rec, 1, 0, &rc);
	if (!n) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	locked = fs_node_lock_attrs(fs, n);
	filled = __atomic_load_n(&fs->told_gen, __ATOMIC_ACQUIRE);
	if (locked) {
		old = fs_node_catch_up(fs, n, gen);
		fs_fill_stat(fs, n, &e.attr);
	} else {
		/* Noted by a wait (noted_attrs.c): a peer's change waits for it, then is told. */
		e.attr = n->noted->st;
	}
	fs_node_unlock_attrs(fs, n, locked);
	mfs_manifest_unref(old);
	/*
	 * Its writers hold it (a node gone meanwhile has no record to load:
	 * rec's then).  Its own size and mtime, the staged ones, as its
	 * GETATTR gives them (fs_attr.c, reply_attr): rec's view may have
	 * moved on to a newer inode since, and rec's size is then that of
	 * a version before the bytes written since, which the kernel would
	 * have cut the writers' inode to.
	 */
	if (as && as != n->ino && (w = itable_get(fs, as, NULL, 1, 0, &rc))) {
		struct stat own;

		if ((locked = fs_node_lock_attrs(fs, w)))
			fs_fill_stat(fs, w, &own);
		else
			own = w->noted->st;
		fs_node_unlock_attrs(fs, w, locked);
		e.attr.st_size = own.st_size;
		e.attr.st_blocks = own.st_blocks;
		e.attr.st_mtim = own.st_mtim;
		if (mfs_ts_after(&own.st_ctim, &e.attr.st_ctim))
			e.attr.st_ctim = own.st_ctim;
		itable_put(fs, n, 1, 0);
		n = w;
		__atomic_store_n(&n->lent, 1, __ATOMIC_RELAXED);
	}
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = fs->timeout;
	if (fuse_reply_entry(req, &e)) {
		itable_put(fs, n, 1, 0); /* the kernel did not take the lookup */
		return;
	}
	/*
	 * A peer's change since the stat was filled: its invalidation may
	 * have reached the kernel before this reply made the inode known.
	 * Not a node freed meanwhile (remote_gen counts those too, for the
	 * catch-up above): nothing was told to the kernel then, and a needless
	 * invalidation here can land after a later truncate's reply (t0330).
	 */
	if (__atomic_load_n(&fs->told_gen, __ATOMIC_ACQUIRE) != filled && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, e.ino, -1, 0);
}

void fs_reply_entry_gen(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec, uint64_t gen)
{
	reply_entry_as(fs, req, rec, gen, view_lookup_writer(fs, rec->ino));
}

void fs_reply_entry(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec)
{
	fs_reply_entry_gen(fs, req, rec, fs_remote_gen(fs));
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
	/*
	 * A read through the page cache asks for the attributes the daemon
	 * dropped before it reads: after a writer grew the inode that old
	 * readers read and closed, the kernel kept the writer's size, and a
	 * read within it never asked, so a reader read zeros past its
	 * version's end while its fstat gave the version's size (t0412: each
	 * round).  A short READ does not cut the kernel's size here.  The
	 * page cache still stays across opens (keep_cache) while the file's
	 * size and mtime do not move; when they do, the kernel drops it.
	 */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * The daemon keeps fcntl and flock locks (locks.c): the kernel keeps
	 * them per inode, and a commit moves the path to a new one.
	 */
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_inode rec;
	uint64_t gen = fs_remote_gen(fs), as;
	int rc = mfs_ns_lookup(fs->ns, parent, name, &rec);

	if (rc == -ENOENT) {
		/* Negative entry, cached briefly: loaders probe many names. */
		struct fuse_entry_param e = { .ino = 0, .entry_timeout = 1.0 };

		/* An open(2) being retried ends here: nothing to open. */
		itable_retry_take(fs, fuse_req_ctx(req)->pid, 0);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	if (fs->lookup_delay_ms)
		usleep(fs->lookup_delay_ms * 1000u);
	/* A writer goes on after a commit, through the inode the kernel opens (view.c). */
	as = view_lookup_writer(fs, rec.ino);
	/* Before the reply: the OPEN that follows it may come first. */
	itable_retry_lookup(fs, fuse_req_ctx(req)->pid, as ? as : rec.ino);
	reply_entry_as(fs, req, &rec, gen, as);
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

struct mfs_node *fs_node_of(struct mfs_fs *fs, fuse_ino_t ino, int *rc)
{
	struct mfs_node *n = itable_peek(fs, ino);

	*rc = n ? 0 : -ESTALE;
	return n;
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
	struct mfs_node *n = fs_node_of(fs, ino, &rc);

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
	struct mfs_node *n = fs_node_of(fs, ino, &rc);

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

#define MAX_PREDS 16

/*
 * The last name of ino went, and with it its record (`before`, as the
 * removal found it).  The kernel may still hold an older inode of the same
 * file, one a commit superseded (a truncate(2), an O_TRUNC open, a
 * rewrite's close): descriptors open on it are descriptors of this file,
 * and on tmpfs they keep its mode, owner, times and xattrs.  Through the
 * successor link they read those of ino (fs_xattr.c, current_of), which
 * is now gone: so each such node takes them over, in memory, as an
 * unlinked file's node keeps its own (fs_save_attrs).  ino's node, when
 * it has one, has the newest (a change since the removal was read).
 * Before, an fgetxattr through the old descriptor answered ENODATA and
 * fstat showed the old version's mode (fsdiff seed 103002, t0353).
 * The nodes that took them over go into inval[] (their inode numbers)
 * for after the reply; their number is returned.
 */
static int preds_take_over(struct mfs_fs *fs, uint64_t ino, const struct mfs_inode *before,
			   uint64_t *inval)
{
	struct mfs_node *preds[MAX_PREDS], *n;
	struct mfs_inode meta = { 0 };
	int np, k = 0;

	if (!(np = itable_hold_preds(fs, ino, preds, MAX_PREDS)))
		return 0;
	if ((n = itable_hold(fs, ino))) {
		pthread_mutex_lock(&n->lock);
		meta = n->rec;
		meta.xattr = NULL;
		meta.nxattr = 0;
		meta.symlink = NULL;
		if (mfs_inode_xattrs_copy(&meta, &n->rec))
			meta.ino = 0;
		pthread_mutex_unlock(&n->lock);
		itable_put(fs, n, 0, 1);
	} else if (before && before->ino == ino) {
		meta = *before;
		meta.xattr = NULL;
		meta.nxattr = 0;
		meta.symlink = NULL;
		if (mfs_inode_xattrs_copy(&meta, before))
			meta.ino = 0;
	}
	for (int i = 0; i < np; i++) {
		struct mfs_node *p = preds[i];

		if (meta.ino && S_ISREG(p->rec.mode)) {
			pthread_mutex_lock(&p->lock);
			if (!mfs_inode_xattrs_copy(&p->rec, &meta)) {
				p->rec.mode = meta.mode;
				p->rec.uid = meta.uid;
				p->rec.gid = meta.gid;
				p->rec.atime = meta.atime;
				p->rec.mtime = meta.mtime;
				p->rec.ctime = meta.ctime;
				p->rec.nlink = 0;
				inval[k++] = p->ino;
			}
			pthread_mutex_unlock(&p->lock);
		}
		itable_put(fs, p, 0, 1);
	}
	/* Only the xattrs were copied into meta: its other pointers are before's or n's. */
	for (uint32_t i = 0; i < meta.nxattr; i++) {
		free(meta.xattr[i].name);
		free(meta.xattr[i].value);
	}
	free(meta.xattr);
	return k;
}

/*
 * A name of ino went.  If that was its last (the record is gone), mark its
 * node so it is not saved, and give its attributes to older inodes of the
 * file the kernel still holds (preds_take_over, whose inodes go into
 * inval[], *ninval of them); if other names still lead to it (hard links),
 * its node takes the stored nlink and ctime instead, and 1 is returned.
 */
static int mark_gone(struct mfs_fs *fs, uint64_t ino, const struct mfs_inode *before,
		     uint64_t *inval, int *ninval)
{
	struct mfs_manifest *old;
	struct mfs_inode rec;
	struct mfs_node *n;

	*ninval = 0;
	if (!ino)
		return 0;
	if (!mfs_ns_get(fs->ns, ino, &rec)) {
		mfs_inode_release(&rec);
		fs_refresh(fs, ino);
		return 1;
	}
	*ninval = preds_take_over(fs, ino, before, inval);
	if (!(n = itable_hold(fs, ino)))
		return 0;
	pthread_mutex_lock(&n->lock);
	n->gone = 1;
	n->rec.nlink = 0;
	old = fs_node_release_old(fs, n);
	pthread_mutex_unlock(&n->lock);
	mfs_manifest_unref(old);
	itable_put(fs, n, 0, 1);
	return 0;
}

/*
 * After the reply to an unlink or a rename that took one name of ino while
 * others remain: the kernel counts the file's nlink down by one in its
 * cached attributes, but the store may have dropped more names than that
 * (a stale name a peer's op left in the record, ns_drop_name): make the
 * kernel ask.  Attributes only, and after the reply: no lock is held.
 */
static void inval_nlink(struct mfs_fs *fs, uint64_t ino)
{
	fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* After the reply: the older inodes that took over a removed file's attributes. */
static void inval_preds(struct mfs_fs *fs, const uint64_t *inval, int n)
{
	for (int i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(fs->se, inval[i], -1, 0);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_inode before;
	uint64_t inval[MAX_PREDS];
	int rc, lives = 0, ninval = 0;

	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = mfs_ns_remove_rec(fs->ns, parent, name, dir, &before);
	if (!rc) {
		lives = mark_gone(fs, before.ino, &before, inval, &ninval);
		fs_refresh(fs, parent);
	}
	fuse_reply_err(req, mfs_errno(rc));
	if (lives)
		inval_nlink(fs, before.ino);
	inval_preds(fs, inval, ninval);
	mfs_inode_release(&before);
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
	struct mfs_inode replaced;
	uint64_t inval[MAX_PREDS];
	unsigned mflags = 0;
	int rc, lives = 0, ninval = 0;

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
	rc = mfs_ns_rename_rec(fs->ns, parent, name, newparent, newname, mflags, &replaced);
	if (!rc) {
		lives = mark_gone(fs, replaced.ino, &replaced, inval, &ninval);
		fs_refresh(fs, parent);
		if (newparent != parent)
			fs_refresh(fs, newparent);
		sync_names(fs, newparent, newname);
		if (flags & RENAME_EXCHANGE)
			sync_names(fs, parent, name);
	}
	fuse_reply_err(req, mfs_errno(rc));
	if (lives)
		inval_nlink(fs, replaced.ino);
	inval_preds(fs, inval, ninval);
	mfs_inode_release(&replaced);
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
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
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
	.lseek = fs_op_lseek,
	.write = fs_op_write,
	.flush = fs_op_close_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.fallocate = fs_op_fallocate,
	.opendir = fs_op_opendir,
	.fsyncdir = fs_op_fsyncdir,
	.releasedir = fs_op_releasedir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.statfs = op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
	.getlk = fs_op_getlk,
	.setlk = fs_op_setlk,
	.flock = fs_op_flock,
};
