/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attributes: getattr and setattr (mode, owner, size, times), what a
 * superseded version shows, and the set-ID rules (dropped on a write or
 * chown by others, inherited from a set-group-ID directory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

/*
 * A superseded version is still the same file to descriptors open on it:
 * its mode, owner, link count and ctime are the current version's (a chmod of the path
 * governs them, and the kernel checks their permissions by them), its size,
 * bytes and mtime its own.  With no descriptor open on it (unopened), the
 * kernel asks through a dentry of the path it has not dropped yet (the
 * drop follows the reply to the op that made the new version), and the
 * path's file is the current version, size and mtime too: a stat right
 * after two truncates showed the first one's size, when a lookup's late
 * invalidation (fs_reply_entry_gen) made the kernel ask again (1 in 1,000
 * rounds of t0330's restat).  1 if st was updated.
 */
/*
 * The node of the current version of ino's file, `to` being
 * itable_follow's answer for ino; NULL with *rc set (-ENOENT: the file
 * was removed since).  A commit published over `to` meanwhile (it deleted
 * to's record) and has not linked it to its successor yet: that one, as
 * fs_save_attrs does.  Taken for a removal, a stat gave this version's
 * own size (an fstat through a descriptor of a writer's view, fs_read.c
 * join_view: the size at its open, 1 run in 40 of a random stream).
 */
static struct mfs_node *current_version(struct mfs_fs *fs, uint64_t ino, uint64_t to, int *rc)
{
	struct mfs_node *m = itable_get(fs, to, NULL, 0, 1, rc);
	uint64_t settled;

	while (!m && *rc == -ENOENT && (settled = itable_follow_settled(fs, ino)) != to)
		m = itable_get(fs, to = settled, NULL, 0, 1, rc);
	return m;
}

static int current_attrs(struct mfs_fs *fs, uint64_t ino, struct stat *st, int unopened)
{
	struct mfs_node *m;
	struct stat cur = { 0 }, own;
	int rc, locked;

	if (!(m = current_version(fs, ino, itable_follow(fs, ino), &rc))) {
		/* The file was removed (renamed over, unlinked) since. */
		if (rc == -ENOENT)
			st->st_nlink = 0;
		return rc == -ENOENT;
	}
	if ((locked = fs_node_lock_attrs(fs, m))) {
		if (unopened)
			fs_fill_stat(fs, m, &cur);
		own.st_mode = m->rec.mode;
		own.st_uid = m->rec.uid;
		own.st_gid = m->rec.gid;
		own.st_nlink = m->rec.nlink;
		own.st_ctim = m->rec.ctime;
	} else {
		cur = own = m->noted->st; /* noted_attrs.c */
	}
	if (unopened) {
		st->st_size = cur.st_size;
		st->st_blocks = cur.st_blocks;
		st->st_mtim = cur.st_mtim;
	}
	st->st_mode = (st->st_mode & S_IFMT) | (own.st_mode & 07777);
	st->st_uid = own.st_uid;
	st->st_gid = own.st_gid;
	st->st_nlink = own.st_nlink;
	if (mfs_ts_after(&own.st_ctim, &st->st_ctim))
		st->st_ctim = own.st_ctim;
	fs_node_unlock_attrs(fs, m, locked);
	itable_put(fs, m, 0, 1);
	return 1;
}

/*
 * How long the kernel may keep n's attributes: not at all while writers
 * that opened n write another node's staging (fs_read.c, join_view).  A
 * truncate's reply for a superseded n was cached, and such a writer's
 * fstat gave the truncate's size after another descriptor's write grew
 * the file (1 run in 3 of a random stream of writes, fsyncs and truncates).
 */
static double attr_timeout(struct mfs_fs *fs, struct mfs_node *n)
{
	return n && __atomic_load_n(&n->joiners, __ATOMIC_RELAXED) ? 0 : fs->timeout;
}

/* Replies with ino's attributes st (no locks held; unopened: see current_attrs). */
static void reply_attr(struct mfs_fs *fs, fuse_req_t req, uint64_t ino, struct stat *st,
		       int unopened)
{
	if (itable_follow(fs, ino) != ino && current_attrs(fs, ino, st, unopened)) {
		/* Not cached: the current version's may change again. */
		fuse_reply_attr(req, st, 0);
		return;
	}
	fuse_reply_attr(req, st, fs->timeout);
}

/*
 * The attributes st of the current version, with the size a truncate
 * gave the file (the one the old version's readers go by).
 */
static void reply_clip_size(struct stat *st, uint64_t size)
{
	if ((uint64_t)st->st_size == size)
		return;
	st->st_size = (off_t)size;
	if (st->st_blocks > (blkcnt_t)((size + 511) / 512))
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/*
 * A truncate(2) that moved the path to a new version (it commits one)
 * replies with that version's attributes, cached for the usual time:
 * the kernel drops the path's dentry only after the reply (fs_moved_entry),
 * and a stat(2) by the caller in between went to the old inode and read
 * the old size (t0395: 0 after a truncate to 1234567, under load).  So
 * the old inode's attributes are not dropped (moved_after_reply): dropped
 * before the reply, they made the kernel set the reply's aside as older
 * than the drop, and after it, ask the old inode again; descriptors open
 * on it see the new version's attributes, as the drop was for (a
 * truncate cuts the file for them too).  Not for a chmod through an old
 * descriptor that went to the current version: readers of the old one
 * must keep its size.  The size is the truncate's, `size`, as the old
 * readers were marked (fs_truncated_for_readers): a newer version the
 * links lead to by now may show a writer's staged size (reply_clip_size).
 * 1 if it replied.
 */
static int reply_moved_attr(struct mfs_fs *fs, fuse_req_t req, struct mfs_node *n, uint64_t moved,
			    uint64_t size)
{
	struct mfs_node *m = NULL;
	struct stat st;
	int rc;

	if (!moved || !(m = itable_get(fs, itable_follow(fs, moved), NULL, 0, 1, &rc)))
		return 0;
	pthread_mutex_lock(&m->lock);
	fs_fill_stat(fs, m, &st);
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	reply_clip_size(&st, size);
	fuse_reply_attr(req, &st, attr_timeout(fs, n));
	return 1;
}

/*
 * After the reply: the path's dentry; and the superseded inode's
 * attributes unless the reply gave it the new version's (attrs_given).
 */
static void moved_after_reply(struct mfs_fs *fs, struct fs_moved *mv, int attrs_given)
{
	struct fs_moved old = { .ino = attrs_given ? 0 : mv->ino };

	fs_moved_entry(fs, mv);
	fs_moved_inode(fs, &old);
}

/*
 * The checks the kernel made against the owner it has cached, again
 * against the file's current owner, for a setattr through an older inode
 * of the file (its path moved on to a newer one: a commit since the
 * descriptor opened).  A chown or chmod of the path went to the newer
 * inode, and the kernel never asks for an older one's attributes before
 * it checks a chmod, chown or explicit times (setattr_prepare): that its
 * cached ones were invalidated does not make it.  So the former owner of
 * a file chowned to root could still set its times through such a
 * descriptor (EPERM on tmpfs).  Root passes, as the kernel let it; a time
 * set to now needs write access, which the kernel checks with fresh
 * attributes.  0 or -EPERM.
 */
static int older_owner_check(struct mfs_fs *fs, fuse_req_t req, struct mfs_node *n,
			     const struct stat *attr, int to_set)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int owner_only = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID;
	uint64_t target;
	struct mfs_node *m;
	mode_t mode;
	uid_t owner;
	int rc;

	if ((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW))
		owner_only |= FUSE_SET_ATTR_ATIME;
	if ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW))
		owner_only |= FUSE_SET_ATTR_MTIME;
	if (!ctx->uid || !(to_set & owner_only) || (target = fs_node_target(fs, n)) == n->ino)
		return 0;
	if (!(m = itable_get(fs, target, NULL, 0, 1, &rc)))
		return 0; /* gone meanwhile: n's own record is the file's (fs_ops.c, mark_gone) */
	pthread_mutex_lock(&m->lock);
	owner = m->rec.uid;
	mode = m->rec.mode & 07777;
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	/* A chown by the owner to the uid it has (-1) and a group of its own is the kernel's to judge. */
	if (ctx->uid == owner)
		return 0;
	/* A write or truncate by anyone drops the set-ID bits: the kernel sends that as a mode. */
	if ((to_set & FUSE_SET_ATTR_MODE) && !(attr->st_mode & 07777 & ~mode) &&
	    ((attr->st_mode | S_ISUID | S_ISGID) & 07777) == (mode | S_ISUID | S_ISGID))
		to_set &= ~FUSE_SET_ATTR_MODE;
	if (!(to_set & owner_only))
		return 0;
	log_info("setattr of inode %016llx through an older version: uid %u is not the "
		 "owner (%u) now: EPERM", (unsigned long long)n->ino, (unsigned)ctx->uid,
		 (unsigned)owner);
	return -EPERM;
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	struct stat st;
	int rc, unopened = 0, locked;
	struct mfs_node *n = fs_node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((locked = fs_node_lock_attrs(fs, n))) {
		fs_fill_stat(fs, n, &st);
		unopened = !n->readers && !n->writers;
	} else {
		st = n->noted->st; /* noted by a commit or a write (noted_attrs.c): as if open */
	}
	fs_node_unlock_attrs(fs, n, locked);
	reply_attr(fs, req, n->ino, &st, unopened);
}

int fs_save_attrs(struct mfs_fs *fs, struct mfs_node *n, unsigned mask, uint64_t *moved_to)
{
	uint64_t target = fs_node_target(fs, n), settled;
	struct mfs_inode now;
	int rc;

	*moved_to = 0;
	if (n->gone && target == n->ino)
		return 0; /* unlinked but open: metadata lives in memory only */
	rc = mfs_ns_setattr(fs->ns, target, &n->rec, mask, &now);
	/*
	 * A commit published the file anew meanwhile (it deleted target's
	 * record): the change goes to the new version, or a chmod racing a
	 * truncate(2) of the path was lost (t0409, 2 rounds in 30).
	 */
	while (rc == -ENOENT && (settled = itable_follow_settled(fs, n->ino)) != target) {
		target = settled;
		rc = mfs_ns_setattr(fs->ns, target, &n->rec, mask, &now);
	}
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
 * Without writeback cache the kernel places an O_APPEND write at its own
 * i_size of the inode and never asks for it, so after a path truncate
 * grew the writer's staged bytes, the writer's descriptor would land short
 * of the end.  Storing the new last byte (a zero: the file grew past it)
 * is the one notification that sets a larger i_size; the page it fills is
 * not marked up to date, so reads still come here.
 */
static void grow_kernel_size(struct mfs_fs *fs, uint64_t ino, uint64_t size)
{
	char zero = 0;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(1);
	int rc;

	buf.buf[0].mem = &zero;
	rc = fuse_lowlevel_notify_store(fs->se, ino, size - 1, &buf, 0);
	if (rc && rc != -ENOENT)
		log_warn("inode %016llx: size %llu not told to the kernel: %s",
			 (unsigned long long)ino, (unsigned long long)size, strerror(-rc));
}

/*
 * truncate(2) of a path whose writer synced and writes on through an older
 * inode (view.c) cuts the writer's staged bytes, as it would cut the one
 * file on a local filesystem; its next commit publishes them, or this
 * truncate's if the writer was closed already (fs_write.c, truncate_node).
 */
static int truncate_path(struct mfs_fs *fs, struct mfs_node *n, uint64_t size,
			 struct fuse_file_info *fi, struct fs_moved *mv)
{
	uint64_t writer = fi ? 0 : view_writer(fs, n->ino), old = 0;
	struct mfs_node *w = writer ? itable_hold(fs, writer) : NULL;
	int rc;

	if (!w)
		return fs_truncate(fs, n, size, fi, mv);
	/*
	 * The writer's dirty pages (a shared mapping) reach its staging
	 * first: written back after the cut, they grew the file again
	 * (review2 s39; t0416 w_mapped_path_truncate).  No lock held: the
	 * writeback's WRITEs take w's.
	 */
	fuse_lowlevel_notify_inval_inode(fs->se, writer, 0, 0);
	rc = fs_truncate_staged(fs, w, size, &old, mv);
	itable_put(fs, w, 0, 1);
	/*
	 * The kernel's size and pages of the writer's inode (written through,
	 * nothing dirty): its reads past the cut must find nothing.
	 */
	if (!rc)
		fuse_lowlevel_notify_inval_inode(fs->se, writer, 0, 0);
	if (!rc && size > old)
		grow_kernel_size(fs, writer, size);
	/* The writer closed meanwhile: the path's own version it is. */
	return rc == -ESTALE ? fs_truncate(fs, n, size, fi, mv) : rc;
}

/*
 * A truncate(2) that reached, through a dentry of the path the kernel had
 * not dropped yet, a version a commit superseded: truncate_node refuses to
 * cut that version's bytes (ESTALE: they would be published over the newer
 * one's).  The kernel retries an ESTALE only once, after a fresh lookup,
 * and with three truncaters of one path, or one racing a cp over it, the
 * retry met a superseded version again: the caller saw ESTALE (t0408:
 * 1 truncate in 3).  So the daemon truncates the file's current version
 * itself, the one the successor links lead to, and on through any that a
 * commit supersedes meanwhile.  It is the file the path named when the
 * kernel looked it up, under every name it has now (hard links, a rename
 * since), as a local filesystem truncates the inode the path led to.  A
 * file removed since (renamed over, unlinked) takes the cut with it, as
 * it takes a writer's bytes (fs_commit).  *to: the version truncated, 0
 * if n itself.
 */
static int truncate_file(struct mfs_fs *fs, struct mfs_node *n, uint64_t size,
			 struct fuse_file_info *fi, struct fs_moved *mv, uint64_t *to)
{
	uint64_t tried = n->ino, next;
	int rc = truncate_path(fs, n, size, fi, mv);

	*to = 0;
	/* Each turn follows a commit made meanwhile: the links only go forward. */
	while (rc == -ESTALE && !fi && (next = itable_follow(fs, tried)) != tried) {
		struct mfs_node *m = itable_get(fs, next, NULL, 0, 1, &rc);
		uint64_t settled;

		/* A commit publishing over next, not linked yet: its successor (as current_attrs). */
		while (!m && rc == -ENOENT && (settled = itable_follow_settled(fs, tried)) != next)
			m = itable_get(fs, next = settled, NULL, 0, 1, &rc);
		if (!m)
			return rc == -ENOENT ? 0 : rc;
		rc = truncate_path(fs, m, size, fi, mv);
		itable_put(fs, m, 0, 1);
		*to = tried = next;
	}
	return rc;
}

/*
 * Replies to a truncate to `size` that truncate_file applied to the newer
 * version `to` of n: with the current version's attributes, as
 * reply_moved_attr does, cached.  The kernel cuts or grows n's size by
 * them, for the descriptors open on n too: so does the daemon for n's
 * readers (as a truncate on tmpfs holds for every descriptor of the file).
 * The size is the truncate's: the current version may have a writer whose
 * staged size stat shows (a cp's O_TRUNC just after: 0), another
 * version's, and n's readers marked with it read zeros where their own
 * bytes were, through a map after read(2) gave them (t0408, read-cp).
 * With no current version (the file was removed since), n's own
 * attributes st.
 */
static void reply_truncated_file(struct mfs_fs *fs, fuse_req_t req, struct mfs_node *n,
				 uint64_t to, struct stat *st, uint64_t size)
{
	struct mfs_node *m;
	struct stat cur;
	int rc, cut = 0;

	if (!(m = itable_get(fs, itable_follow(fs, to), NULL, 0, 1, &rc))) {
		reply_attr(fs, req, n->ino, st, 0);
		return;
	}
	pthread_mutex_lock(&m->lock);
	fs_fill_stat(fs, m, &cur);
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	reply_clip_size(&cur, size);
	pthread_mutex_lock(&n->lock);
	if (!n->stg)
		cut = fs_truncated_for_readers(n, size);
	pthread_mutex_unlock(&n->lock);
	/* Before the reply cuts n's pages for a read that may hold them (fs_write.c). */
	if (cut)
		fs_truncated_pages(fs, n->ino, size);
	fuse_reply_attr(req, &cur, attr_timeout(fs, n));
}

/* The mode, owner and group of the file n is a version of (current_owner). */
struct owner_of {
	int set;	/* n is superseded: these are the current version's */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

/*
 * A superseded version's mode, owner and group are the current version's
 * (current_attrs): a chmod or chown of the path set them there.  A
 * setattr through a descriptor of the older version decides by them which
 * set-ID bits a truncate or chown by another drops, and stores them back
 * with its change, not the older record's, which no chmod of the path
 * reached: a non-owner's ftruncate through a writer's descriptor, after
 * an fsync gave the path a new inode and a chmod of the path set the
 * set-group-ID bit, kept the bit (tmpfs drops it; fsdiff seed 167002, op
 * 4617).  The kernel asks for no drop there: it decides by the mode it
 * has of the older inode, without the bit.  No lock held.
 */
static void current_owner(struct mfs_fs *fs, struct mfs_node *n, struct owner_of *o)
{
	uint64_t target = fs_node_target(fs, n);
	struct mfs_node *m;
	int rc, locked;

	o->set = 0;
	if (target == n->ino)
		return;
	if (!(m = current_version(fs, n->ino, target, &rc)))
		return; /* removed meanwhile: n's own record is the file's (fs_ops.c, mark_gone) */
	/* Not behind a commit of m, which holds its lock long: what m showed then (noted_attrs.c). */
	if ((locked = fs_node_lock_attrs(fs, m))) {
		o->mode = m->rec.mode & 07777;
		o->uid = m->rec.uid;
		o->gid = m->rec.gid;
	} else {
		o->mode = m->noted->st.st_mode & 07777;
		o->uid = m->noted->st.st_uid;
		o->gid = m->noted->st.st_gid;
	}
	fs_node_unlock_attrs(fs, m, locked);
	itable_put(fs, m, 0, 1);
	o->set = 1;
}

static int caller_in_group(fuse_req_t req, gid_t gid);

/*
 * S_ISGID if a mode set by a caller who is neither root nor in the file's
 * group (gid, the new one for a chown) keeps it.  The kernel strips it
 * from a chmod's mode itself (setattr_prepare), but a truncate, fallocate
 * or write that drops S_ISUID comes with a mode recomputed from the
 * inode's (fuse_setattr, ATTR_FORCE): it drops S_ISGID only with group
 * execute, where tmpfs and ext4 also drop it for a caller outside the
 * group (setattr_should_drop_sgid).  A non-member's truncate of a 06767
 * file kept S_ISGID (tmpfs: 0767; t0432).  0 otherwise.
 */
static mode_t sgid_to_strip(fuse_req_t req, mode_t mode, gid_t gid)
{
	if (!(mode & S_ISGID) || !fuse_req_ctx(req)->uid || caller_in_group(req, gid))
		return 0;
	return S_ISGID;
}

/*
 * Sets the fields to_set names (and drops the set-ID bits a chown or a
 * truncate by another drops) in n's record; returns the MFS_ATTR_* mask of
 * what changed.  n->lock held.
 */
static unsigned apply_attrs(fuse_req_t req, struct mfs_node *n, const struct stat *attr,
			    int to_set)
{
	unsigned mask = 0;
	mode_t drop = 0;

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
		n->rec.mode &= ~sgid_to_strip(req, n->rec.mode,
					      to_set & FUSE_SET_ATTR_GID ? attr->st_gid : n->rec.gid);
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
	return mask;
}

/* n's attributes before a setattr, for restore_attrs. */
struct attrs_before {
	uint32_t mode, uid, gid;
	struct timespec atime, mtime, ctime;
	struct timespec stg_mtime, stg_ctime;
};

/* Puts back what apply_attrs changed when storing it failed; n->lock held. */
static void restore_attrs(struct mfs_node *n, const struct attrs_before *b)
{
	n->rec.mode = b->mode;
	n->rec.uid = b->uid;
	n->rec.gid = b->gid;
	n->rec.atime = b->atime;
	n->rec.mtime = b->mtime;
	n->rec.ctime = b->ctime;
	if (n->stg) {
		n->stg->mtime = b->stg_mtime;
		n->stg->ctime = b->stg_ctime;
	}
}

/*
 * A setattr through an older version's descriptor set the times of the
 * current version, ino.  A writer staging ino publishes (and stat shows)
 * its staging's times, which would put its last write's mtime back:
 * they take the record's, as they do for a setattr of ino itself
 * (fsdiff seed 42002, op 8062: futimens of a reader after a writer's
 * pwrite).
 */
static void writer_takes_times(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_node *m = itable_hold(fs, ino);
	uint64_t inval = 0;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->stg) {
		m->stg->mtime = m->rec.mtime;
		if (mfs_ts_after(&m->rec.ctime, &m->stg->ctime))
			m->stg->ctime = m->rec.ctime;
		inval = view_update(fs, m->stg);
	}
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	view_inval(fs, inval);
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	uint64_t moved_to = 0, inval = 0, redirected = 0;
	struct fs_moved mv = { 0 };
	struct owner_of owner;
	unsigned mask;
	struct stat st;
	int rc, given = 0;
	struct mfs_node *n = fs_node_of(fs, ino, &rc);

	if (!n) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fs->cfg->ro || mfs_rev_is_ino(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	log_debug("setattr %016llx: valid %#x%s", (unsigned long long)ino, to_set, fi ? " (fh)" : "");
	if ((rc = older_owner_check(fs, req, n, attr, to_set))) {
		fuse_reply_err(req, -rc);
		return;
	}
	/*
	 * A truncate that published a new version: the kernel holds the file's
	 * inode lock until the reply, so its dentries go after it (fs_moved_inode).
	 */
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct mfs_handle *h = fi ? (struct mfs_handle *)(uintptr_t)fi->fh : NULL;

		/*
		 * ftruncate by a writer that writes another writer's staging
		 * (fs_read.c, join_view): that staging is cut, and the other
		 * writer's pages past the cut go.  Its dirty ones (a shared
		 * mapping) are written back first: after the cut they grew
		 * the file again.
		 */
		if (h && h->joined) {
			fuse_lowlevel_notify_inval_inode(fs->se, h->node->ino, 0, 0);
			rc = fs_truncate(fs, h->node, attr->st_size, fi, &mv);
			if (!rc)
				fuse_lowlevel_notify_inval_inode(fs->se, h->node->ino, 0, 0);
		} else {
			rc = truncate_file(fs, n, attr->st_size, fi, &mv, &redirected);
		}
		if (rc) {
			fuse_reply_err(req, mfs_errno(rc));
			moved_after_reply(fs, &mv, 0);
			return;
		}
	}
	current_owner(fs, n, &owner);
	pthread_mutex_lock(&n->lock);
	if (owner.set) {
		n->rec.mode = (n->rec.mode & S_IFMT) | owner.mode;
		n->rec.uid = owner.uid;
		n->rec.gid = owner.gid;
	}
	if (n->stg)
		/*
		 * A utimensat of the path since the writer's last sync set the
		 * times of its view (fs_internal.h): they are the file's now, and this
		 * change (a chmod through the writer's descriptor, say) must not
		 * put the last write's mtime back when it refreshes the view.
		 */
		view_take_times(fs, n->stg);
	/* What a failed store write puts back: stat must not show it (see below). */
	struct attrs_before before = {
		.mode = n->rec.mode, .uid = n->rec.uid, .gid = n->rec.gid, .atime = n->rec.atime,
		.mtime = n->rec.mtime, .ctime = n->rec.ctime,
		.stg_mtime = n->stg ? n->stg->mtime : n->rec.mtime,
		.stg_ctime = n->stg ? n->stg->ctime : n->rec.ctime,
	};
	mask = apply_attrs(req, n, attr, to_set);
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
		/*
		 * The caller is told the change failed, and the store does not
		 * have it: nor may the node, or the next stat shows it until a
		 * restart loses it (a chmod that failed with EIO, then any
		 * setattr, then stat showed the new mode).
		 */
		if (rc)
			restore_attrs(n, &before);
	}
	fs_fill_stat(fs, n, &st);
	pthread_mutex_unlock(&n->lock);
	if (moved_to) {
		/* The current version's node and the kernel's attributes of it. */
		fs_refresh(fs, moved_to);
		if (mask & MFS_ATTR_MTIME)
			writer_takes_times(fs, moved_to);
		fuse_lowlevel_notify_inval_inode(fs->se, moved_to, -1, 0);
	}
	if (inval != moved_to)
		view_inval(fs, inval);
	if (rc)
		fuse_reply_err(req, mfs_errno(rc));
	else if (redirected)
		/* For n, not the version that moved on (mv.ino): its attributes go after. */
		reply_truncated_file(fs, req, n, redirected, &st, (uint64_t)attr->st_size);
	else if (!(given = mv.ino && reply_moved_attr(fs, req, n, mv.ino, (uint64_t)attr->st_size)))
		reply_attr(fs, req, ino, &st, 0);
	moved_after_reply(fs, &mv, given);
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
