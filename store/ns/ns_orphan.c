/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lost+found: entries that concurrent directory operations left
 * unreachable, re-attached where a person can find them.
 *
 * Notes on the design:
 *  1. An orphan is a directory entry (P, name) -> X whose parent P was
 *     deleted (no inode record, but a stamp: an op deleted it) while X still
 *     exists: node A created X in P while node B removed the empty P, and
 *     every node ended with both ops.  A parent never seen (no stamp) is not
 *     an orphan's: its creating op may still be on its way from another
 *     origin, and moving its entries would race it.
 *  2. Every node finds the same orphans (same ops, same state) and may
 *     adopt them: the adoption is an ordinary op (rename of (P, name) to
 *     (MFS_LOST_INO, "%016llx-NAME" of P)), whose entries are the same
 *     whichever node makes it, so concurrent adoptions converge by last
 *     writer wins like any other op.
 *  3. The lost+found directory has a fixed inode number (origin 0, which
 *     no node allocates) and a fixed name in the root: any node creates it
 *     with the same entries.  If the root holds another "lost+found", no
 *     orphan is adopted (logged), and fsck keeps reporting them.
 *  4. The name "%016llx-NAME" of P is also the one ns_merge.c gives an entry
 *     it moves away from (P, NAME) when another node's entry takes its place:
 *     P/NAME may go to lost+found twice, first a file, then the directory
 *     another node made there.  The second takes "%016llx-NAME" of its own
 *     inode instead (ns_lost_name_free): over the first's entry, the file was
 *     left with no name, and gc's nameless pass then deleted it.
 *  5. Not handled: directories that concurrent moves made into a cycle
 *     (each inside the other) are unreachable but have live parents;
 *     NEEDSWORK.
 *  6. gc's pass over the names (mfs_ns_repair_names) moves the orphans
 *     before it repairs this node's files (ns_nameless.c), so that the
 *     moves of every node carry the same record (note 2) whatever the
 *     other passes repair.  The other way round, a node's repair could
 *     first change where the orphan leads: a rewrite Y with no name takes
 *     the names of its older version X (ns_version.c note 8), the orphan
 *     P/g with them, which then moves to lost+found as Y's, while another
 *     node, its pass run before that repair reached it, moved P/g to the
 *     same name as X's, with X's record.  Last writer wins per key: that
 *     op later than the repair and earlier than the first node's move,
 *     X's record came back listing only lost+found/<P>-g, which led to Y,
 *     on every node, until the next pass of X's maker (t1495, ci1 of s35;
 *     test_ns_nlink, adopted_twice).  Moved first, P/g is X's on every
 *     node, and the repair after the move gives Y the name in lost+found;
 *     a move applied after it puts X back, and the maker of Y repairs
 *     that as it applies the move (ns_version.c note 4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "ns_internal.h"
#include "oplog.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

static int inode_exists(struct mfs_ns *ns, uint64_t ino)
{
	uint8_t key[8];

	mfs_ino_key(ino, key);
	return mfs_db_exists(ns->db, MFS_CF_INODES, key, 8);
}

/* Was ino deleted by an op (no record, a stamp)?  1, 0 or an error (note 1). */
static int inode_deleted(struct mfs_ns *ns, uint64_t ino)
{
	uint8_t key[8], skey[STAMP_KEY_MAX];
	size_t sl;
	int rc = inode_exists(ns, ino);

	if (rc)
		return rc < 0 ? rc : 0;
	mfs_ino_key(ino, key);
	sl = stamp_key(MFS_OP_INODE, key, 8, skey);
	return mfs_db_exists(ns->db, MFS_CF_STAMPS, skey, sl);
}

struct orphan_walk {
	struct mfs_ns *ns;
	mfs_orphan_fn fn;
	void *arg;
	uint64_t cur;   /* the parent of the entries met last */
	int gone;       /* was cur deleted? */
};

static int orphan_if_parent_gone(void *arg, const struct ns_dirent *d)
{
	struct orphan_walk *w = arg;
	char name[MFS_NAME_MAX + 1];
	int rc;

	/* Entries come by parent: one look at each parent. */
	if (d->parent != w->cur || !w->cur) {
		w->cur = d->parent;
		w->gone = d->parent != MFS_ROOT_INO ? inode_deleted(w->ns, d->parent) : 0;
		if (w->gone < 0)
			return w->gone;
	}
	if (!w->gone)
		return 0;
	if ((rc = inode_exists(w->ns, d->child)) <= 0)
		return rc;
	ns_dirent_name(d, name);
	return w->fn(w->arg, d->parent, name, d->child, d->mode);
}

int mfs_ns_orphans(struct mfs_ns *ns, mfs_orphan_fn fn, void *arg)
{
	struct orphan_walk w = { .ns = ns, .fn = fn, .arg = arg };
	int rc = ns_dirents_each(ns, orphan_if_parent_gone, &w);

	return rc > 0 ? 0 : rc;
}

void mfs_ns_lost_name(uint64_t parent, const char *name, char out[MFS_NAME_MAX + 1])
{
	/* 16 hex digits, '-', the name cut to fit: unique per (parent, name). */
	snprintf(out, MFS_NAME_MAX + 1, "%016llx-%s", (unsigned long long)parent, name);
}

int ns_lost_name_free(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino,
		      char out[MFS_NAME_MAX + 1], struct dirent_key *k)
{
	uint64_t held;
	int rc;

	mfs_ns_lost_name(parent, name, out);
	if ((rc = dirent_key(MFS_LOST_INO, out, k)))
		return rc;
	rc = get_dirent(ns, k, &held);
	if (rc == -ENOENT || (!rc && held == ino))
		return 0;
	if (rc)
		return rc;
	mfs_ns_lost_name(ino, name, out);
	return dirent_key(MFS_LOST_INO, out, k);
}

int ns_lost_dir(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *lf)
{
	struct mfs_inode root = { 0 };
	struct dirent_key k;
	uint64_t ino;
	int rc = ns_get_dir(ns, MFS_LOST_INO, lf);

	if (rc != -ENOENT)
		return rc;
	if ((rc = dirent_key(MFS_ROOT_INO, MFS_LOST_NAME, &k)))
		return rc;
	rc = get_dirent(ns, &k, &ino);
	if (!rc) {
		log_warn("/%s is not the lost+found directory: unreachable entries stay so",
			 MFS_LOST_NAME);
		return -EEXIST;
	}
	if (rc != -ENOENT || (rc = ns_get_dir(ns, MFS_ROOT_INO, &root)))
		return rc;
	*lf = (struct mfs_inode){ .ino = MFS_LOST_INO, .parent = MFS_ROOT_INO,
				  .mode = S_IFDIR | 0700, .nlink = 2, .repl = root.repl,
				  .fid = MFS_LOST_INO };
	if (!(lf->name = strdup(MFS_LOST_NAME))) {
		rc = -ENOMEM;
		goto out;
	}
	now(&lf->mtime);
	lf->atime = lf->ctime = lf->mtime;
	root.nlink++;
	root.mtime = root.ctime = lf->mtime;
	txn_put_dirent(t, &k, MFS_LOST_INO, lf->mode);
	if (!(rc = txn_put_inode(t, lf)))
		rc = txn_touch_dir(t, &root);
out:
	mfs_inode_release(&root);
	return rc;
}

int mfs_ns_adopt(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino,
		 char newname[MFS_NAME_MAX + 1])
{
	struct mfs_inode src = { 0 }, lf = { 0 };
	struct dirent_key ks, kd;
	struct ns_txn t = { 0 };
	uint64_t now_ino;
	int rc;

	if ((rc = dirent_key(parent, name, &ks)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	/* Still an orphan, under the lock: a peer's adoption may have come first. */
	if ((rc = get_dirent(ns, &ks, &now_ino)) || now_ino != ino ||
	    (rc = inode_deleted(ns, parent)) != 1 || (rc = mfs_ns_get(ns, ino, &src))) {
		rc = rc == 1 || rc == 0 || rc == -ENOENT ? -ESTALE : rc;
		goto out;
	}
	/* Not over an entry that a merge moved there from the same (parent, name). */
	if ((rc = ns_lost_name_free(ns, parent, name, ino, newname, &kd)))
		goto out;
	if ((rc = txn_begin(ns, &t)) || (rc = ns_lost_dir(ns, &t, &lf)))
		goto out;
	if ((rc = ns_move_name(&src, parent, name, MFS_LOST_INO, newname)))
		goto out;
	if (S_ISDIR(src.mode))
		lf.nlink++;
	lf.mtime = lf.ctime = src.ctime;
	txn_del_dirent(&t, &ks);
	txn_put_dirent(&t, &kd, ino, src.mode);
	if ((rc = txn_put_inode(&t, &src)) || (rc = txn_touch_dir(&t, &lf)))
		goto out;
	rc = txn_commit(ns, &t);
	if (!rc)
		log_info("unreachable entry %s of deleted directory %016llx moved to /%s/%s", name,
			 (unsigned long long)parent, MFS_LOST_NAME, newname);
out:
	rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	txn_free(&t);
	mfs_inode_release(&src);
	mfs_inode_release(&lf);
	return rc;
}

/* The orphans of one read (mfs_ns_orphans), moved after it one op each. */
#define ADOPT_PER_PASS 100000   /* the rest wait for the next pass */

struct orphan {
	uint64_t parent, ino;
	char *name;
};

struct orphans {
	struct orphan *v;
	size_t n, cap;
};

static int collect(void *arg, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	struct orphans *o = arg;

	(void)mode;
	if (o->n == ADOPT_PER_PASS)
		return 1;
	if (mfs_grow(&o->v, &o->cap, o->n, sizeof(*o->v)))
		return -ENOMEM;
	o->v[o->n] = (struct orphan){ parent, ino, strdup(name) };
	return o->v[o->n++].name ? 0 : -ENOMEM;
}

/* What an adoption changed, for fn: both entries, lost+found's, the three records. */
static void tell_moved(const struct orphan *o, const char *newname, mfs_ns_change_fn fn, void *arg)
{
	struct mfs_ns_change c[] = {
		{ .kind = MFS_CHANGE_DIRENT, .parent = o->parent, .name = o->name },
		{ .kind = MFS_CHANGE_DIRENT, .parent = MFS_LOST_INO, .name = newname },
		{ .kind = MFS_CHANGE_DIRENT, .parent = MFS_ROOT_INO, .name = MFS_LOST_NAME },
		{ .kind = MFS_CHANGE_INODE, .ino = o->ino },
		{ .kind = MFS_CHANGE_INODE, .ino = MFS_LOST_INO },
		{ .kind = MFS_CHANGE_INODE, .ino = MFS_ROOT_INO },
	};

	for (size_t i = 0; fn && i < sizeof(c) / sizeof(c[0]); i++)
		fn(arg, &c[i]);
}

int mfs_ns_adopt_orphans(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	struct orphans o = { 0 };
	int rc = mfs_ns_orphans(ns, collect, &o), moved = 0;

	for (size_t i = 0; i < o.n; i++) {
		char newname[MFS_NAME_MAX + 1];
		int rc2 = rc ? rc : mfs_ns_adopt(ns, o.v[i].parent, o.v[i].name, o.v[i].ino, newname);

		if (!rc2) {
			moved++;
			tell_moved(&o.v[i], newname, fn, arg);
		} else if (rc2 == -EEXIST) {
			rc = rc2; /* logged once by mfs_ns_adopt; the others would fail alike */
		} else if (rc2 != -ESTALE && !rc) {
			log_warn("unreachable entry %s not moved to /%s: %s", o.v[i].name,
				 MFS_LOST_NAME, mfs_strerror(rc2));
		}
		free(o.v[i].name);
	}
	free(o.v);
	return rc && rc != -EEXIST ? rc : moved;
}

uint64_t mfs_ns_repair_names(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	/* Own directories that lost their name first: what they hold is then
	 * merged, not orphaned. */
	int rc = mfs_ns_fix_dead_dirs(ns, fn, arg), moved = 0;

	if (rc < 0)
		log_warn("looking for directories that lost their name: %s", mfs_strerror(rc));
	/* Then the orphans, before any repair of own files (note 6). */
	if ((rc = mfs_ns_adopt_orphans(ns, fn, arg)) < 0)
		log_warn("looking for unreachable entries: %s", mfs_strerror(rc));
	else
		moved = rc;
	/* And own file records a race left with no name (ns_nameless.c). */
	if ((rc = mfs_ns_drop_nameless(ns, fn, arg)) < 0)
		log_warn("looking for files with no name: %s", mfs_strerror(rc));
	/* Last: the moves above keep the counts right, a kill may not have. */
	if ((rc = mfs_ns_recount_dirs(ns, fn, arg)) < 0)
		log_warn("counting directories' links again: %s", mfs_strerror(rc));
	return (uint64_t)moved;
}
