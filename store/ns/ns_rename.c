/* SPDX-License-Identifier: Apache-2.0 */
/* rename(2) in the namespace: the loop check, RENAME_NOREPLACE and RENAME_EXCHANGE. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "ns_internal.h"
#include "rev.h"
#include "store/base/errors.h"
#include "store/kv/db.h"

int ns_is_ancestor(struct mfs_ns *ns, uint64_t ancestor, uint64_t ino)
{
	for (int depth = 0; depth < 4096; depth++) {
		struct mfs_inode in;
		uint64_t parent;

		if (ino == ancestor)
			return 1;
		if (ino == MFS_ROOT_INO || mfs_ns_get(ns, ino, &in))
			return 0;
		parent = in.parent;
		mfs_inode_release(&in);
		ino = parent;
	}
	return 1; /* deeper than any sane tree: refuse */
}

int ns_move_name(struct mfs_inode *rec, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname)
{
	int rc = mfs_inode_name_move(rec, parent, name, newparent, newname);
	char *copy;

	if (rc == -ENOENT && !mfs_inode_has_name(rec, newparent, newname)) {
		if (!(copy = strdup(newname)))
			return -ENOMEM;
		free(rec->name);
		rec->name = copy;
		rec->parent = newparent;
		rc = 0;
	} else if (rc == -ENOENT) {
		rc = 0; /* listed once is enough (mfs_inode_name_move) */
	}
	/* A file's nlink counts its names: one fewer if the new one was listed already. */
	if (!rc && !S_ISDIR(rec->mode))
		rec->nlink = 1 + rec->nlinks;
	return rc;
}

/*
 * rename(RENAME_EXCHANGE): the two entries swap inodes in one batch.  Called
 * with ns->lock held, with both directories read and the source entry's
 * record in src; a directory may not go into its own subtree (EINVAL).
 */
static int exchange_locked(struct mfs_ns *ns, struct mfs_inode *src, struct mfs_inode *pdir,
			   struct mfs_inode *ndir, const struct dirent_key *ks, const char *name,
			   const struct dirent_key *kd, const char *newname)
{
	struct mfs_inode dst = { 0 }, *np = pdir->ino == ndir->ino ? pdir : ndir;
	struct ns_txn t = { 0 };
	struct timespec tm;
	uint64_t dino;
	int rc;

	if ((rc = get_dirent(ns, kd, &dino)) || (rc = mfs_ns_get(ns, dino, &dst)))
		goto out;
	if (dino == src->ino)
		goto out; /* two names of one file: nothing changes */
	if ((S_ISDIR(src->mode) && ns_is_ancestor(ns, src->ino, ndir->ino)) ||
	    (S_ISDIR(dst.mode) && ns_is_ancestor(ns, dst.ino, pdir->ino))) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = ns_move_name(src, pdir->ino, name, ndir->ino, newname)) ||
	    (rc = ns_move_name(&dst, ndir->ino, newname, pdir->ino, name)))
		goto out;
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	t.keeps_names = 1; /* each entry's name moves in the record it leads to */
	now(&tm);
	src->ctime = dst.ctime = tm;
	if (np != pdir) {
		/* A directory that changes parent moves its ".." link too. */
		int d = S_ISDIR(src->mode) - S_ISDIR(dst.mode);

		pdir->nlink -= d;
		np->nlink += d;
	}
	pdir->mtime = pdir->ctime = np->mtime = np->ctime = tm;
	txn_put_dirent(&t, ks, dst.ino, dst.mode);
	txn_put_dirent(&t, kd, src->ino, src->mode);
	if ((rc = txn_put_inode(&t, src)) || (rc = txn_put_inode(&t, &dst)) ||
	    (rc = txn_touch_dir(&t, pdir)) || (np != pdir && (rc = txn_touch_dir(&t, np))))
		goto out;
	rc = txn_commit(ns, &t);
out:
	txn_free(&t);
	mfs_inode_release(&dst);
	return rc;
}

/*
 * Whether src may move into newparent over dino (0: no name there): not
 * into itself, and only a directory over an empty directory, a non
 * directory over a non directory.  Loads dino's record into *dst.
 */
static int check_target(struct mfs_ns *ns, const struct mfs_inode *src, uint64_t newparent,
			uint64_t dino, struct mfs_inode *dst)
{
	int rc;

	if (S_ISDIR(src->mode) && ns_is_ancestor(ns, src->ino, newparent))
		return -EINVAL;
	if (!dino)
		return 0;
	if ((rc = mfs_ns_get(ns, dino, dst)))
		return rc;
	if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
		return -ENOTDIR;
	if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
		return -EISDIR;
	if (S_ISDIR(dst->mode) && (rc = ns_dir_is_empty(ns, dino)) != 1)
		return rc ? rc : -ENOTEMPTY;
	return 0;
}

/*
 * The inode whose name newparent/newname a rename replaces: dropped, or,
 * when that name was one of several (hard links), kept with the others.
 */
static int stage_replaced(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *dst,
			  uint64_t newparent, const char *newname, const struct timespec *tm)
{
	if (S_ISDIR(dst->mode)) {
		txn_del_inode(t, dst->ino);
		return 0;
	}
	return ns_drop_name(ns, t, dst, newparent, newname, tm);
}

static int ns_rename(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned flags, uint64_t *replaced,
		     struct mfs_inode *replaced_rec)
{
	struct mfs_inode src = { 0 }, dst = { 0 }, pdir = { 0 }, ndir = { 0 }, *np;
	struct ns_txn t = { 0 };
	struct dirent_key ks, kd;
	uint64_t sino, dino = 0;
	struct timespec tm;
	int rc, same_dir = parent == newparent;

	if (replaced)
		*replaced = 0;
	if (mfs_rev_is_name(parent, name) || mfs_rev_is_name(newparent, newname))
		return -EROFS;
	if ((rc = dirent_key(parent, name, &ks)) || (rc = dirent_key(newparent, newname, &kd)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	if ((rc = ns_get_dir_fwd(ns, &parent, name, &ks, &pdir)) ||
	    (rc = ns_get_dir_fwd(ns, &newparent, newname, &kd, &ndir)) ||
	    (rc = get_dirent(ns, &ks, &sino)) || (rc = mfs_ns_get(ns, sino, &src)))
		goto out;
	same_dir = parent == newparent;
	if (flags & MFS_RENAME_EXCHANGE) {
		rc = exchange_locked(ns, &src, &pdir, &ndir, &ks, name, &kd, newname);
		goto out;
	}
	rc = get_dirent(ns, &kd, &dino);
	if (rc && rc != -ENOENT)
		goto out;
	if (rc == -ENOENT)
		dino = 0;
	rc = 0;
	if (dino == sino)
		goto out; /* same file: POSIX says do nothing */
	if (dino && (flags & MFS_RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if ((rc = check_target(ns, &src, newparent, dino, &dst)))
		goto out;
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	/* The name moves in its record, the one replaced goes from its own (ns_drop_name). */
	t.keeps_names = 1;
	now(&tm);
	/* Moves the name renamed, which is not always the first (hard links). */
	if ((rc = ns_move_name(&src, parent, name, newparent, newname)))
		goto out;
	src.ctime = tm;
	np = same_dir ? &pdir : &ndir; /* one record when both are the same dir */
	if (S_ISDIR(src.mode)) {
		pdir.nlink--;
		np->nlink++;
	}
	if (dst.ino && S_ISDIR(dst.mode))
		np->nlink--;
	pdir.mtime = pdir.ctime = np->mtime = np->ctime = tm;
	txn_del_dirent(&t, &ks);
	txn_put_dirent(&t, &kd, sino, src.mode);
	if ((dst.ino && (rc = stage_replaced(ns, &t, &dst, newparent, newname, &tm))) ||
	    (rc = txn_put_inode(&t, &src)) || (rc = txn_touch_dir(&t, &pdir)) ||
	    (!same_dir && (rc = txn_touch_dir(&t, &ndir))))
		goto out;
	if ((rc = txn_commit(ns, &t)))
		goto out;
	if (replaced)
		*replaced = dst.ino;
	if (replaced_rec && dst.ino) {
		*replaced_rec = dst;
		memset(&dst, 0, sizeof(dst));
	}
out:
	rc = ns_unlock_durable(ns, rc, NS_SYNC_DEFER);
	txn_free(&t);
	mfs_inode_release(&src);
	mfs_inode_release(&dst);
	mfs_inode_release(&pdir);
	mfs_inode_release(&ndir);
	return rc;
}

int mfs_ns_rename(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname, unsigned flags, uint64_t *replaced)
{
	return ns_rename(ns, parent, name, newparent, newname, flags, replaced, NULL);
}

int mfs_ns_rename_rec(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned flags, struct mfs_inode *replaced_rec)
{
	memset(replaced_rec, 0, sizeof(*replaced_rec));
	return ns_rename(ns, parent, name, newparent, newname, flags, NULL, replaced_rec);
}
