/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directories that lost their name to another node's op: merged into the
 * directory that won it, given their name back, or moved to lost+found, so
 * that nothing put in them goes out of view.
 *
 * Notes on the design:
 *  1. Two nodes that make the same directory at once (two `mkdir -p` of one
 *     path: two downloads of one model into a shared cache) make two inodes
 *     under one name.  The name goes to the last writer (oplog.h), and the
 *     loser, with everything put in it, would be out of view on every node.
 *     A directory is dead when its record lives but the entry its record
 *     names does not lead to it.  Its repair, by what that entry is now:
 *       - another directory: the dead one merges into it.  Each entry
 *         moves there; an entry whose name is taken there merges in turn
 *         if both are directories, else it moves to lost+found (two files
 *         made under one name: neither is lost);
 *       - a non-directory: the dead directory moves to lost+found;
 *       - nothing (an op removed the name for another inode: a node that
 *         saw only its own directory of that name renamed or removed it):
 *         the name is put back, or the directory moves to lost+found if
 *         its parent is gone.
 *     A merged directory's record is deleted.  A file (of one name) whose
 *     name a directory took moves to lost+found too; a file whose name
 *     another file took stays the last writer's (README), as before.  So
 *     does a file met by a merge only after it moved: a merge moves what
 *     the merging node holds, and the winner's creator may add an entry of
 *     the same name before it hears of the merge.
 *  2. Only the node that made the directory (its inode space) repairs it.
 *     It holds the directory's entries first, it applies the winner's op in
 *     time, and one repairer makes one outcome.  The repairs are ordinary
 *     ops, rename-like, which peers apply like any other.  The node finds
 *     its dead directories when it applies an op that replaced or removed
 *     one's name (ns_apply.c), under the same lock, before the kernel is
 *     told of the change; and, after a crash in between, in gc's pass
 *     (mfs_ns_fix_dead_dirs).
 *  3. One op moves at most MERGE_BATCH entries: a directory of 100,000
 *     entries merges through many ops, each leaving every entry in one of
 *     the two directories.
 *  4. Entries another node adds to a dead directory after its merge find
 *     its record gone: they are orphans, moved to lost+found by gc
 *     (ns_orphan.c).  On the merging node, calls that still name the merged
 *     directory (a process that had made it, or holds it open, or works in
 *     it) go to the directory it merged into (ns_forward.c); elsewhere
 *     such a process sees it deleted, as after an rmdir.
 *  5. A node that left the cluster (removed: GONE) repairs nothing, so
 *     the active member of lowest node id adopts its inode space in gc's
 *     passes (member.c, ns_adopted_spaces): its dead directories, and its
 *     file records with no name (ns_nameless.c).  Not at apply time: that
 *     would need the member table under ns->lock for each op.  Until that
 *     gc, fsck reports such a directory as unreachable (mfs_ns_dead_dirs).
 *     A removed node that comes back repairs its own space again, and the
 *     adopter stops, at the next member record each applies.
 *  6. A directory can also lose its record's name while an entry elsewhere
 *     leads to it: a rename on one node, and a chmod or utimens of the
 *     directory on another, later by the clock, whose record still holds
 *     the old name (an attribute change puts the whole record).  The
 *     rename's entry is then the directory's name, and the record takes it,
 *     in either order of arrival: as the maker applies the rename (which
 *     removed the record's name), or the attribute change (the record's
 *     name then leads nowhere though no op removed it: note 8 finds that;
 *     missed, the other node's next rename of it left it two entries).
 *     Giving the old name back instead made two entries of one directory,
 *     and when the rename had moved it below a directory that another
 *     node's rename had meanwhile moved into it, a cycle (the kernel then
 *     answers ELOOP for that entry, and nothing can remove it).  If the
 *     entry's name is inside the directory's own subtree, the directory
 *     goes to lost+found, which ends the cycle.  Found by the cluster
 *     torture test (t1495).
 *  7. gc's pass also ends what other races leave (t1495 found more): an
 *     entry of a directory other than its record's name (a second entry
 *     of one directory) is removed, and a directory whose parents lead
 *     back to it (two directories each renamed into the other on two
 *     nodes: a cycle no path from the root reaches) moves to lost+found.
 *     Both by the node that made the directory, as note 2.
 *  8. And at apply time, for the names an op touched (ns_note_dir_names):
 *     an entry it puts that leads to an own directory, and the name the
 *     directory's record had before it; after the op, a directory whose
 *     record's name leads elsewhere is repaired first (notes 1 and 6),
 *     then such a name that is not the record's and still leads to it
 *     goes, and a directory the op put in a cycle moves to lost+found.  Two renames of one directory on
 *     two nodes at once (to two places) leave two entries of it otherwise,
 *     and the kernel answers ELOOP where one is inside its subtree.
 *  9. A merge can meet, among the entries of the directory it merges, an
 *     entry that leads to the winner itself: a rename of the winner into
 *     the loser on one node, and on another, later, a rename of the winner
 *     to the loser's name.  That entry is a second entry of the winner,
 *     and it goes.  Moved to lost+found as a name taken in the winner, it
 *     gave the winner's record that name in the op, while the merging
 *     node, writing the winner's record (read before the move) whole for
 *     its mtime (txn_touch_dir), kept the old name: the records of one
 *     stamp differed between nodes, the winner's maker then removed the
 *     old name as a second entry, and the merging node was left with a
 *     directory whose name led nowhere, for good (t1496).
 * 10. A move into lost+found changes lost+found's record (nlink for a
 *     directory, times), and the root's when it makes lost+found: both
 *     are reported (move_to_lost), as the entries are.  The daemon tells
 *     the kernel of reported changes only, and the kernel keeps a
 *     directory's attributes until told: a repair that moved a directory
 *     there without saying so (a directory whose name a file took, or
 *     whose parent is gone, or in a cycle) left the repairing node's
 *     /lost+found one link short for good, while its store and every
 *     peer, which counts as it applies the op, held the right count
 *     (t1496 with directories' nlink compared; t1161, test_ns_merge).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "inode_walk.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

#define MERGE_BATCH 256
/* Deeper than any tree a repair can meet (is_ancestor's bound too). */
#define MERGE_DEPTH_MAX 4096

struct child {
	char *name;
	uint64_t ino;
	uint32_t mode;
};

struct children {
	struct child *v;
	size_t n, cap;
};

static void children_release(struct children *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* The first MERGE_BATCH entries of dir, dangling ones included. */
static int list_children(struct mfs_ns *ns, uint64_t dir, struct children *c)
{
	uint8_t prefix[8];
	struct mfs_iter *it;
	int rc = 0;

	put_be64(prefix, dir);
	if (!(it = mfs_iter_new(ns->db, MFS_CF_DIRENTS, prefix, 8)))
		return -ENOMEM;
	for (; mfs_iter_valid(it) && c->n < MERGE_BATCH; mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl <= 8 || kl > 8 + MFS_NAME_MAX || vl != 12)
			continue;
		if (mfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v)) ||
		    !(c->v[c->n].name = strndup((const char *)k + 8, kl - 8))) {
			rc = -ENOMEM;
			break;
		}
		c->v[c->n].ino = get_le64(v);
		c->v[c->n++].mode = get_le32(v + 8);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

/*
 * Moves the name (parent, name) of rec to (newparent, newname) in t: the
 * old entry (unless it leads elsewhere now), the new one, the record.
 */
static int move_entry(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *rec,
		      uint64_t parent, const char *name, uint64_t newparent, const char *newname,
		      struct changes *cs)
{
	struct dirent_key ks, kd;
	uint64_t held;
	int rc;

	if ((rc = dirent_key(parent, name, &ks)) || (rc = dirent_key(newparent, newname, &kd)))
		return rc;
	rc = get_dirent(ns, &ks, &held);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && held == rec->ino)
		txn_del_dirent(t, &ks);
	/* Before the move: name may be rec's own, which the move frees. */
	ns_note_change(cs, MFS_CHANGE_DIRENT, 0, parent, (const uint8_t *)name, strlen(name));
	if ((rc = ns_move_name(rec, parent, name, newparent, newname)))
		return rc;
	now(&rec->ctime);
	txn_put_dirent(t, &kd, rec->ino, rec->mode);
	if ((rc = txn_put_inode(t, rec)))
		return rc;
	ns_note_change(cs, MFS_CHANGE_DIRENT, 0, newparent, (const uint8_t *)newname,
		       strlen(newname));
	ns_note_change(cs, MFS_CHANGE_INODE, rec->ino, 0, NULL, 0);
	return 0;
}

/* Moves (parent, name) of rec into lost+found, in t; lf is read or made on first use. */
static int move_to_lost(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *rec,
			uint64_t parent, const char *rec_name, struct mfs_inode *lf,
			struct changes *cs)
{
	char lname[MFS_NAME_MAX + 1], name[MFS_NAME_MAX + 1];
	struct dirent_key k;
	int rc;

	/* A copy: rec_name may be rec's own, which the move frees. */
	snprintf(name, sizeof(name), "%s", rec_name);

	if (!lf->ino) {
		if ((rc = ns_lost_dir(ns, t, lf)))
			return rc;
		/* It may have made lost+found: the root's entry and record (nlink) changed. */
		ns_note_change(cs, MFS_CHANGE_DIRENT, 0, MFS_ROOT_INO,
			       (const uint8_t *)MFS_LOST_NAME, strlen(MFS_LOST_NAME));
		ns_note_change(cs, MFS_CHANGE_INODE, MFS_ROOT_INO, 0, NULL, 0);
	}
	if ((rc = ns_lost_name_free(ns, parent, name, rec->ino, lname, &k)) ||
	    (rc = move_entry(ns, t, rec, parent, name, MFS_LOST_INO, lname, cs)))
		return rc;
	if (S_ISDIR(rec->mode))
		lf->nlink++;
	lf->mtime = lf->ctime = rec->ctime;
	/* Its record (nlink, times) changed: the kernel must hear of it (note 10). */
	ns_note_change(cs, MFS_CHANGE_INODE, MFS_LOST_INO, 0, NULL, 0);
	log_info("%s in directory %016llx moved to /%s/%s: another node's entry took its place",
		 name, (unsigned long long)parent, MFS_LOST_NAME, lname);
	return 0;
}

struct pair {
	uint64_t from, into;
};

static int merge_dir(struct mfs_ns *ns, struct mfs_inode *from, uint64_t into,
		     struct changes *cs, int depth);

/*
 * One entry of `from` into dir `into` (or lost+found), in t.  A directory
 * meeting a directory of its name is left for a merge of its own (*later).
 */
static int merge_one(struct mfs_ns *ns, struct ns_txn *t, uint64_t from, const struct child *c,
		     struct mfs_inode *into, struct mfs_inode *lf, struct pair *later, int *moved,
		     struct changes *cs)
{
	struct mfs_inode rec = { 0 };
	struct dirent_key k;
	uint64_t held;
	int rc;

	if ((rc = dirent_key(into->ino, c->name, &k)))
		return rc;
	if (c->ino == into->ino) {
		/*
		 * A second entry of `into` itself, which has from's name now:
		 * it goes.  Moved into `into` it would be a loop; moved to
		 * lost+found, `into`'s record would take that name (and the
		 * raw write of `into` by txn_touch_dir would then keep the old
		 * one here while peers got the new: note 9).
		 */
		struct dirent_key ks;

		if ((rc = dirent_key(from, c->name, &ks)))
			return rc;
		txn_del_dirent(t, &ks);
		ns_note_change(cs, MFS_CHANGE_DIRENT, 0, from, (const uint8_t *)c->name,
			       strlen(c->name));
		*moved = 1;
		return 0;
	}
	rc = mfs_ns_get(ns, c->ino, &rec);
	if (rc == -ENOENT) {
		/* A dangling entry, hidden on every node: it goes. */
		struct dirent_key ks;

		if ((rc = dirent_key(from, c->name, &ks)))
			return rc;
		txn_del_dirent(t, &ks);
		*moved = 1;
		return 0;
	}
	if (rc)
		return rc;
	rc = get_dirent(ns, &k, &held);
	if (!rc && held == rec.ino) {
		/* Two names of one file, one in each directory: one is enough. */
		struct dirent_key ks;

		if (!(rc = dirent_key(from, c->name, &ks))) {
			rc = mfs_inode_name_remove(&rec, from, c->name);
			if (rc == -EMLINK) /* its record knew only that one */
				rc = ns_move_name(&rec, from, c->name, into->ino, c->name);
			rc = rc == -ENOENT ? 0 : rc;
			if (!S_ISDIR(rec.mode))
				rec.nlink = 1 + rec.nlinks;
		}
		if (!rc && !(rc = txn_put_inode(t, &rec))) {
			txn_del_dirent(t, &ks);
			*moved = 1;
		}
	} else if (rc == -ENOENT) {
		if (!(rc = move_entry(ns, t, &rec, from, c->name, into->ino, c->name, cs))) {
			into->nlink += !!S_ISDIR(rec.mode);
			into->mtime = into->ctime = rec.ctime;
			*moved = 1;
		}
	} else if (!rc) {
		uint32_t held_mode = 0;
		struct mfs_inode h;

		if (!(rc = mfs_ns_get(ns, held, &h))) {
			held_mode = h.mode;
			mfs_inode_release(&h);
		}
		if (!rc && S_ISDIR(rec.mode) && S_ISDIR(held_mode)) {
			*later = (struct pair){ rec.ino, held };
		} else if (!rc && !(rc = move_to_lost(ns, t, &rec, from, c->name, lf, cs))) {
			*moved = 1;
		}
	}
	mfs_inode_release(&rec);
	return rc;
}

/* The merged directory `from` is empty: its record goes, and its entry if it still leads to it. */
static int drop_merged(struct mfs_ns *ns, struct mfs_inode *from, struct changes *cs)
{
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t held;
	int rc;

	if ((rc = txn_begin(ns, &t)))
		return rc;
	if (from->name && !(rc = dirent_key(from->parent, from->name, &k))) {
		rc = get_dirent(ns, &k, &held);
		if (!rc && held == from->ino) {
			txn_del_dirent(&t, &k);
			ns_note_change(cs, MFS_CHANGE_DIRENT, 0, from->parent,
				       (const uint8_t *)from->name, strlen(from->name));
		}
		rc = rc == -ENOENT ? 0 : rc;
	}
	txn_del_inode(&t, from->ino);
	ns_note_change(cs, MFS_CHANGE_INODE, from->ino, 0, NULL, 0);
	if (!rc)
		rc = txn_commit(ns, &t);
	txn_free(&t);
	return rc;
}

/* One op's worth of `from`'s entries into `into`; the directory pairs left, in later[]. */
static int merge_batch(struct mfs_ns *ns, uint64_t from, const struct children *c,
		       uint64_t into_ino, struct pair *later, size_t *nlater, int *moved,
		       struct changes *cs)
{
	struct mfs_inode into = { 0 }, lf = { 0 };
	struct ns_txn t = { 0 };
	int rc;

	if ((rc = ns_get_dir(ns, into_ino, &into)) || (rc = txn_begin(ns, &t)))
		goto out;
	for (size_t i = 0; i < c->n && !rc; i++) {
		struct pair p = { 0 };

		rc = merge_one(ns, &t, from, &c->v[i], &into, &lf, &p, moved, cs);
		if (!rc && p.from)
			later[(*nlater)++] = p;
	}
	if (rc || !*moved)
		goto out;
	if ((rc = txn_touch_dir(&t, &into)) || (lf.ino && (rc = txn_touch_dir(&t, &lf))))
		goto out;
	ns_note_change(cs, MFS_CHANGE_INODE, into.ino, 0, NULL, 0);
	if (lf.ino)
		ns_note_change(cs, MFS_CHANGE_INODE, lf.ino, 0, NULL, 0);
	rc = txn_commit(ns, &t);
out:
	txn_free(&t);
	mfs_inode_release(&into);
	mfs_inode_release(&lf);
	return rc;
}

/* Merges directory `from` into directory `into` (note 1), batch by batch (note 3). */
static int merge_dir(struct mfs_ns *ns, struct mfs_inode *from, uint64_t into,
		     struct changes *cs, int depth)
{
	struct pair *later = NULL;
	int rc = 0;

	if (depth > MERGE_DEPTH_MAX)
		return -ELOOP;
	if (!(later = calloc(MERGE_BATCH, sizeof(*later))))
		return -ENOMEM;
	for (;;) {
		struct children c = { 0 };
		size_t nlater = 0;
		int moved = 0;

		if ((rc = list_children(ns, from->ino, &c)) || !c.n) {
			children_release(&c);
			break;
		}
		rc = merge_batch(ns, from->ino, &c, into, later, &nlater, &moved, cs);
		children_release(&c);
		for (size_t i = 0; i < nlater && !rc; i++) {
			struct mfs_inode sub;

			if (!(rc = mfs_ns_get(ns, later[i].from, &sub))) {
				rc = merge_dir(ns, &sub, later[i].into, cs, depth + 1);
				mfs_inode_release(&sub);
				moved = 1;
			}
		}
		if (rc)
			break;
		if (!moved) {
			rc = -EIO; /* no entry could move: do not spin */
			break;
		}
	}
	free(later);
	if (!rc)
		rc = drop_merged(ns, from, cs);
	if (!rc)
		ns_forward_note(ns, from->ino, into);
	if (!rc && !depth)
		log_info("directory %016llx, which lost its name to another node's %016llx, merged into it",
			 (unsigned long long)from->ino, (unsigned long long)into);
	return rc;
}

/* Puts the dead directory d back under its name (note 1), or into lost+found if its parent is gone. */
static int restore_name(struct mfs_ns *ns, struct mfs_inode *d, const struct dirent_key *k,
			struct changes *cs)
{
	struct mfs_inode parent = { 0 }, lf = { 0 };
	struct ns_txn t = { 0 };
	int rc;

	if ((rc = txn_begin(ns, &t)))
		return rc;
	rc = ns_get_dir(ns, d->parent, &parent);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		if (!(rc = move_to_lost(ns, &t, d, d->parent, d->name, &lf, cs)))
			rc = txn_touch_dir(&t, &lf);
	} else if (!rc) {
		txn_put_dirent(&t, k, d->ino, d->mode);
		parent.nlink++;
		now(&parent.mtime);
		parent.ctime = parent.mtime;
		rc = txn_touch_dir(&t, &parent);
		ns_note_change(cs, MFS_CHANGE_DIRENT, 0, d->parent, (const uint8_t *)d->name,
			       strlen(d->name));
		ns_note_change(cs, MFS_CHANGE_INODE, parent.ino, 0, NULL, 0);
		log_info("directory %016llx lost its name %s to another node's op: given back",
			 (unsigned long long)d->ino, d->name);
	}
	if (!rc)
		rc = txn_commit(ns, &t);
	txn_free(&t);
	mfs_inode_release(&parent);
	mfs_inode_release(&lf);
	return rc;
}

/* Moves d, whose name another type of entry holds, to lost+found. */
static int lose_entry(struct mfs_ns *ns, struct mfs_inode *d, struct changes *cs)
{
	struct mfs_inode lf = { 0 };
	struct ns_txn t = { 0 };
	int rc;

	if (!(rc = txn_begin(ns, &t)) &&
	    !(rc = move_to_lost(ns, &t, d, d->parent, d->name, &lf, cs)) &&
	    !(rc = txn_touch_dir(&t, &lf)))
		rc = txn_commit(ns, &t);
	txn_free(&t);
	mfs_inode_release(&lf);
	return rc;
}

/* A file of one name that a directory took (note 1): to lost+found.  1 if moved, 0 or an error. */
static int fix_lost_file(struct mfs_ns *ns, struct mfs_inode *f, const struct dirent_key *k,
			 struct changes *cs)
{
	struct mfs_inode h;
	uint64_t held;
	int rc, dir;

	if (f->nlinks || (rc = get_dirent(ns, k, &held)) || held == f->ino)
		return 0;
	if ((rc = mfs_ns_get(ns, held, &h)))
		return rc == -ENOENT ? 0 : rc;
	dir = S_ISDIR(h.mode);
	mfs_inode_release(&h);
	if (!dir)
		return 0;
	rc = lose_entry(ns, f, cs);
	return rc ? rc : 1;
}

/*
 * Another entry than k that leads to directory ino: *parent and name get
 * it (note 6).  0, -ENOENT if there is none, or an error.  Reads every
 * entry: it runs only for a directory whose record's name is lost.
 */
struct other {
	uint64_t ino, *parent;
	const struct dirent_key *k;
	char *name;
};

static int take_if_other(void *arg, const struct ns_dirent *d)
{
	const struct other *o = arg;

	if (d->child != o->ino || (d->klen == o->k->len && !memcmp(d->key, o->k->b, d->klen)))
		return 0;
	*o->parent = d->parent;
	ns_dirent_name(d, o->name);
	return 1;
}

static int other_entry(struct mfs_ns *ns, uint64_t ino, const struct dirent_key *k,
		       uint64_t *parent, char name[MFS_NAME_MAX + 1])
{
	struct other o = { .ino = ino, .parent = parent, .k = k, .name = name };
	int rc = ns_dirents_each(ns, take_if_other, &o);

	return rc > 0 ? 0 : rc ? rc : -ENOENT;
}

/*
 * Moves directory d from its entry, which leads to it, into lost+found.
 * Peers count the entry gone from its parent; here it is done by hand.
 */
static int lose_dir(struct mfs_ns *ns, struct mfs_inode *d, struct changes *cs)
{
	struct mfs_inode pdir = { 0 }, lf = { 0 };
	struct ns_txn t = { 0 };
	uint64_t parent = d->parent;
	int rc;

	if (!(rc = txn_begin(ns, &t)) && !(rc = ns_get_dir(ns, parent, &pdir)) &&
	    !(rc = move_to_lost(ns, &t, d, parent, d->name, &lf, cs)) &&
	    !(rc = txn_touch_dir(&t, &lf))) {
		pdir.nlink -= pdir.nlink > 2;
		if (!(rc = txn_touch_dir(&t, &pdir)))
			rc = txn_commit(ns, &t);
		ns_note_change(cs, MFS_CHANGE_INODE, parent, 0, NULL, 0);
	}
	txn_free(&t);
	mfs_inode_release(&pdir);
	mfs_inode_release(&lf);
	return rc;
}

/*
 * d's record takes the name (parent, name) that an entry gives it (note
 * 6); into lost+found if that name is inside d's own subtree.
 */
static int take_entry_name(struct mfs_ns *ns, struct mfs_inode *d, uint64_t parent,
			   const char *name, struct changes *cs)
{
	struct ns_txn t = { 0 };
	int rc;

	if ((rc = ns_move_name(d, d->parent, d->name, parent, name)))
		return rc;
	if (ns_is_ancestor(ns, d->ino, parent)) {
		rc = lose_dir(ns, d, cs);
	} else if (!(rc = txn_begin(ns, &t)) && !(rc = txn_put_inode(&t, d)) &&
		   /* The entry may have led nowhere when parent was last counted
		    * (d's record came back later): count it here as peers do. */
		   !(rc = ns_refresh_dir(ns, t.b, parent, NULL, NULL, 1, cs))) {
		rc = txn_commit(ns, &t);
	}
	txn_free(&t);
	ns_note_change(cs, MFS_CHANGE_INODE, d->ino, 0, NULL, 0);
	if (!rc)
		log_info("directory %016llx: its record takes the name %s that its entry has",
			 (unsigned long long)d->ino, name);
	return rc;
}

/* ns_repair_name for a directory of any inode space: gc's pass chose it (note 5). */
static int repair_name(struct mfs_ns *ns, uint64_t ino, struct changes *cs)
{
	char oname[MFS_NAME_MAX + 1];
	struct mfs_inode d, held_rec;
	struct dirent_key k;
	uint64_t held, other = 0;
	int rc, rc2;

	if (ino == MFS_ROOT_INO || ino == MFS_LOST_INO)
		return 0;
	if ((rc = mfs_ns_get(ns, ino, &d)))
		return rc == -ENOENT ? 0 : rc;
	if (!d.name || (rc = dirent_key(d.parent, d.name, &k)))
		goto out;
	if (!S_ISDIR(d.mode)) {
		rc = fix_lost_file(ns, &d, &k, cs);
		goto out;
	}
	rc = get_dirent(ns, &k, &held);
	if (!rc && held == ino)
		goto out; /* alive */
	if ((rc == -ENOENT || !rc) &&
	    (rc2 = other_entry(ns, ino, &k, &other, oname)) != -ENOENT) {
		rc = rc2 ? rc2 : take_entry_name(ns, &d, other, oname, cs);
	} else if (rc == -ENOENT) {
		rc = restore_name(ns, &d, &k, cs);
	} else if (!rc && !(rc = mfs_ns_get(ns, held, &held_rec))) {
		int dir = S_ISDIR(held_rec.mode);

		mfs_inode_release(&held_rec);
		/* Not into its own subtree: that would make a cycle. */
		if (dir && ns_is_ancestor(ns, ino, held))
			dir = 0;
		rc = dir ? merge_dir(ns, &d, held, cs, 0) : lose_entry(ns, &d, cs);
	}
	if (!rc)
		rc = 1;
	else
		log_warn("directory %016llx lost its name %s to another node's op; not repaired: %s",
			 (unsigned long long)ino, d.name, mfs_strerror(rc));
	/* (A file's failure is not logged: gc's pass looks at directories only.) */
out:
	mfs_inode_release(&d);
	return rc;
}

int ns_repair_name(struct mfs_ns *ns, uint64_t ino, struct changes *cs)
{
	if ((uint16_t)(ino >> 48) != ns->space)
		return 0; /* note 2 */
	return repair_name(ns, ino, cs);
}

/* ---- gc's repair passes (ns_internal.h: ns_repair_own) -------------------------- */

struct own_list {
	int dirs;
	uint64_t *v;
	size_t n, cap;
};

static int collect_own(void *arg, const struct mfs_inode *in)
{
	struct own_list *l = arg;

	if (!S_ISDIR(in->mode) != !l->dirs)
		return 0;
	if (mfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = in->ino;
	return 0;
}

/* The records of inode space `space` of kind dirs into l. */
static int collect_space(struct mfs_ns *ns, uint16_t space, struct own_list *l)
{
	uint8_t prefix[2] = { (uint8_t)(space >> 8), (uint8_t)space }; /* keys are big-endian */
	struct mfs_inode_walk w = { .fn = collect_own, .arg = l };
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_INODES, prefix, sizeof(prefix));

	return it ? mfs_inode_walk(ns->db, it, &w) : -ENOMEM;
}

int ns_repair_own(struct mfs_ns *ns, int dirs, ns_repair_fn one, void *ctx,
		  mfs_ns_change_fn fn, void *arg)
{
	struct own_list l = { .dirs = dirs };
	uint16_t *adopted = NULL;
	int rc, n = 0, done = 0;

	rc = collect_space(ns, mfs_ns_space(ns), &l);
	if (!rc)
		rc = ns_adopted_spaces(ns, &adopted, &n);
	for (int i = 0; i < n && !rc; i++)
		rc = collect_space(ns, adopted[i], &l);
	free(adopted);
	for (size_t i = 0; i < l.n && !rc; i++) {
		struct changes cs = { 0 };
		int r, s;

		pthread_mutex_lock(&ns->lock);
		r = one(ns, l.v[i], ctx, &cs);
		s = ns_unlock_durable(ns, r < 0 ? r : 0, NS_SYNC_DEFER);
		/* A repair that failed is logged by one and the others go on; a sync that failed ends it. */
		if (r >= 0 && s)
			rc = s;
		done += r > 0;
		for (size_t j = 0; fn && j < cs.n; j++)
			fn(arg, &cs.c[j]);
		ns_changes_release(&cs);
	}
	free(l.v);
	return rc ? rc : done;
}

/* ---- note 7: entries of a directory other than its name, and cycles ---- */

/* An entry that leads to a directory. */
struct dir_entry {
	uint64_t ino, parent;
	char *name;
};

struct dir_entries {
	struct dir_entry *v;
	size_t n, cap;
};

static int by_ino(const void *x, const void *y)
{
	const struct dir_entry *a = x, *b = y;

	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

static int add_if_dir(void *arg, const struct ns_dirent *d)
{
	struct dir_entries *e = arg;

	if (!S_ISDIR(d->mode))
		return 0;
	if (mfs_grow(&e->v, &e->cap, e->n, sizeof(*e->v)) ||
	    !(e->v[e->n].name = strndup(d->name, d->namelen)))
		return -ENOMEM;
	e->v[e->n].ino = d->child;
	e->v[e->n++].parent = d->parent;
	return 0;
}

/* Every entry that leads to a directory, sorted by the directory. */
static int read_dir_entries(struct mfs_ns *ns, struct dir_entries *e)
{
	int rc = ns_dirents_each(ns, add_if_dir, e);

	if (!rc && e->n)
		qsort(e->v, e->n, sizeof(*e->v), by_ino);
	return rc;
}

/* Removes the entry (parent, name) of directory d, which is not its name. */
static int drop_stray(struct mfs_ns *ns, const struct mfs_inode *d, uint64_t parent,
		      const char *name, struct changes *cs)
{
	struct mfs_inode pdir = { 0 };
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t held;
	int rc;

	if ((rc = dirent_key(parent, name, &k)) || (rc = get_dirent(ns, &k, &held)))
		return rc == -ENOENT ? 0 : rc;
	if (held != d->ino || (rc = txn_begin(ns, &t)))
		return rc;
	txn_del_dirent(&t, &k);
	if (!(rc = ns_get_dir(ns, parent, &pdir))) {
		pdir.nlink -= pdir.nlink > 2;
		now(&pdir.mtime);
		pdir.ctime = pdir.mtime;
		rc = txn_touch_dir(&t, &pdir);
	}
	rc = rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;
	if (!rc)
		rc = txn_commit(ns, &t);
	txn_free(&t);
	mfs_inode_release(&pdir);
	if (rc)
		return rc;
	ns_note_change(cs, MFS_CHANGE_DIRENT, 0, parent, (const uint8_t *)name, strlen(name));
	ns_note_change(cs, MFS_CHANGE_INODE, parent, 0, NULL, 0);
	log_info("directory %016llx had a second entry %s in %016llx: removed",
		 (unsigned long long)d->ino, name, (unsigned long long)parent);
	return 1;
}

/* 1 if the entry d's record names leads to d. */
static int named_by(struct mfs_ns *ns, const struct mfs_inode *d)
{
	return ns_name_leads_to(ns, d->parent, d->name, d->ino) == 1;
}

/* 1 if d's parents lead back to d rather than to the root (a cycle). */
static int in_cycle(struct mfs_ns *ns, const struct mfs_inode *d)
{
	uint64_t ino = d->parent;

	for (int depth = 0; depth < MERGE_DEPTH_MAX; depth++) {
		struct mfs_inode in;

		if (ino == d->ino)
			return 1;
		if (ino == MFS_ROOT_INO || mfs_ns_get(ns, ino, &in))
			return 0; /* the root, or an orphan: ns_orphan.c's */
		ino = in.parent;
		mfs_inode_release(&in);
	}
	return 0;
}

static int repair_one(struct mfs_ns *ns, uint64_t ino, void *ctx, struct changes *cs)
{
	const struct dir_entries *e = ctx;
	struct dir_entry key = { .ino = ino }, *first;
	struct mfs_inode d;
	int rc = repair_name(ns, ino, cs), done = rc > 0;

	if (rc < 0 || !e->n || !(first = bsearch(&key, e->v, e->n, sizeof(*e->v), by_ino)))
		return rc;
	while (first > e->v && first[-1].ino == ino)
		first--;
	if ((rc = mfs_ns_get(ns, ino, &d)))
		return rc == -ENOENT ? done : rc;
	/* After repair_name, d's own name leads to it: any other entry is a stray. */
	if (!d.name || !named_by(ns, &d)) {
		mfs_inode_release(&d);
		return done;
	}
	for (; first < e->v + e->n && first->ino == ino && rc >= 0; first++)
		if ((first->parent != d.parent || strcmp(first->name, d.name)) &&
		    (rc = drop_stray(ns, &d, first->parent, first->name, cs)) > 0)
			done = 1;
	if (rc >= 0 && in_cycle(ns, &d)) {
		rc = lose_dir(ns, &d, cs);
		if (!rc) {
			log_info("directory %016llx was in a cycle of directories: moved to /%s",
				 (unsigned long long)ino, MFS_LOST_NAME);
			done = 1;
		}
	}
	mfs_inode_release(&d);
	return rc < 0 ? rc : done;
}

/* ---- note 8: the same at apply time ---- */

static void note_name(struct changes *cs, uint64_t ino, uint64_t parent, const char *name,
		      size_t len)
{
	char *copy;

	if (mfs_grow(&cs->names, &cs->namecap, cs->nnames, sizeof(*cs->names)) ||
	    !(copy = strndup(name, len))) {
		cs->oom = 1;
		return;
	}
	cs->names[cs->nnames++] = (struct dir_name){ ino, parent, copy };
}

void ns_note_dir_names(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e)
{
	if (e->kind == MFS_OP_DIRENT && !e->deleted) {
		uint64_t ino;

		if (e->vlen != 12 || e->klen <= 8 || !S_ISDIR(get_le32(e->val + 8)))
			return;
		ino = get_le64(e->val);
		if ((uint16_t)(ino >> 48) == ns->space)
			note_name(cs, ino, get_be64(e->key), (const char *)e->key + 8, e->klen - 8);
	} else if (e->kind == MFS_OP_INODE && !e->deleted && e->klen == 8) {
		uint64_t ino = get_be64(e->key);
		struct mfs_inode held;

		if ((uint16_t)(ino >> 48) != ns->space || mfs_ns_get(ns, ino, &held))
			return;
		if (S_ISDIR(held.mode) && held.name)
			note_name(cs, ino, held.parent, held.name, strlen(held.name));
		mfs_inode_release(&held);
	}
}

void ns_fix_second_names(struct mfs_ns *ns, struct changes *cs)
{
	for (size_t i = 0; i < cs->nnames; i++) {
		const struct dir_name *c = &cs->names[i];
		struct mfs_inode d;

		if (mfs_ns_get(ns, c->ino, &d))
			continue;
		/* The op left its name leading elsewhere: an attribute change
		 * carrying an older name, after the rename (note 6). */
		if (S_ISDIR(d.mode) && d.name && !named_by(ns, &d)) {
			mfs_inode_release(&d);
			if (repair_name(ns, c->ino, cs) < 0 || mfs_ns_get(ns, c->ino, &d))
				continue;
		}
		if (S_ISDIR(d.mode) && d.name && named_by(ns, &d)) {
			if ((c->parent != d.parent || strcmp(c->name, d.name)) &&
			    drop_stray(ns, &d, c->parent, c->name, cs) < 0)
				log_warn("directory %016llx: its second entry %s not removed",
					 (unsigned long long)d.ino, c->name);
			if (in_cycle(ns, &d) && !lose_dir(ns, &d, cs))
				log_info("directory %016llx was in a cycle of directories: moved to /%s",
					 (unsigned long long)d.ino, MFS_LOST_NAME);
		}
		mfs_inode_release(&d);
	}
}

int mfs_ns_fix_dead_dirs(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	struct dir_entries e = { 0 };
	int rc = read_dir_entries(ns, &e);

	if (!rc)
		rc = ns_repair_own(ns, 1, repair_one, &e, fn, arg);
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].name);
	free(e.v);
	return rc;
}

struct dead_walk {
	struct mfs_ns *ns;
	mfs_dead_dir_fn fn;
	void *arg;
};

/* A directory whose name leads elsewhere and that holds entries goes to fn. */
static int dead_if(void *arg, const struct mfs_inode *d)
{
	struct dead_walk *w = arg;
	struct dirent_key k;
	uint64_t held;
	int r;

	if (!S_ISDIR(d->mode) || !d->name || dirent_key(d->parent, d->name, &k))
		return 0;
	r = get_dirent(w->ns, &k, &held);
	if (!r && held == d->ino)
		return 0; /* alive */
	if (r && r != -ENOENT)
		return r;
	/* An empty one hides nothing: it is the last op of a merge on its way
	 * (drop_merged), or garbage. */
	if ((r = ns_dir_is_empty(w->ns, d->ino)))
		return r < 0 ? r : 0;
	return w->fn(w->arg, d->ino, d->parent, d->name);
}

int mfs_ns_dead_dirs(struct mfs_ns *ns, mfs_dead_dir_fn fn, void *arg)
{
	struct dead_walk dw = { ns, fn, arg };
	struct mfs_inode_walk w = { .fn = dead_if, .arg = &dw };
	int rc = mfs_inode_walk(ns->db, NULL, &w);

	return rc > 0 ? 0 : rc;
}

/* ---- gc: every directory's nlink counted again ---- */

static int collect_dir(void *arg, const struct mfs_inode *in)
{
	struct own_list *l = arg;

	if (!S_ISDIR(in->mode))
		return 0;
	if (mfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = in->ino;
	return 0;
}

int mfs_ns_recount_dirs(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	struct own_list l = { .dirs = 1 };
	struct mfs_inode_walk w = { .fn = collect_dir, .arg = &l };
	int rc = mfs_inode_walk(ns->db, NULL, &w), done = 0;

	for (size_t i = 0; i < l.n && !rc; i++) {
		struct changes cs = { 0 };
		struct mfs_batch *b = mfs_batch_new(ns->db);

		if (!b) {
			rc = -ENOMEM;
			break;
		}
		pthread_mutex_lock(&ns->lock);
		ns_names_forget(ns); /* a write outside any txn (namespace.c, lists seen true) */
		rc = ns_refresh_dir(ns, b, l.v[i], NULL, NULL, 1, &cs);
		if (!rc && cs.n)
			rc = mfs_db_write(ns->db, b, MFS_WRITE_ASYNC);
		pthread_mutex_unlock(&ns->lock);
		mfs_batch_free(b);
		if (!rc && cs.n) {
			done++;
			log_info("directory %016llx: nlink counted again", (unsigned long long)l.v[i]);
		}
		for (size_t j = 0; fn && j < cs.n; j++)
			fn(arg, &cs.c[j]);
		ns_changes_release(&cs);
	}
	free(l.v);
	return rc ? rc : done;
}
