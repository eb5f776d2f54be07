/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File records that no directory entry leads to.
 *
 * Notes on the design:
 *  1. A record and its entry travel in one op, and a local unlink of a
 *     file's last name deletes its record (open descriptors keep the bytes
 *     in memory), so a record no entry leads to is left only by races: the
 *     loser of two concurrent writes of one path (the name went to the
 *     other's version), or a chmod, setxattr or utimens on one node, later
 *     by the clock than an unlink on another, which puts the whole record
 *     back after the unlink took its name.  No path shows it, nothing can
 *     remove it, gc never frees its chunks, and status counts it.
 *  2. The entries are read whole (a set of the inode numbers they name),
 *     not the names a record lists: a rename racing an unlink can leave an
 *     entry its record does not list (namespace.h, "Hard links", 4).
 *  3. Only the node that made the file (its inode space) deletes it, by
 *     an op, as the repairs of ns_merge.c: one deleter, one outcome (for a
 *     node removed from the cluster, the member that adopts its space:
 *     ns_merge.c note 5).  Under
 *     the lock it checks again that none of the record's names leads to
 *     it, since an op applied after the read of the entries may have named
 *     it (a link carries the record with its new name).
 *  4. Directories are not swept: ns_merge.c repairs those.
 *  5. fsck does not report them: the loser of two concurrent writes of one
 *     path is such a record too, until gc runs, and that is no fault.
 *  6. The same pass lists again the names of the own files that are named
 *     (ns_version.c, note 7): a node killed between applying an op and
 *     that repair left a listed name that leads elsewhere, and nlink (and
 *     status, counting a file of two names as two halves) one too high.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "ns_internal.h"
#include "rev.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

/* A set of inode numbers (open addressing; 0 is the empty slot: no entry names inode 0). */
struct ino_set {
	uint64_t *v;
	size_t cap, n;
};

static size_t slot_of(const struct ino_set *s, uint64_t ino)
{
	size_t i = (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 17) & (s->cap - 1);

	while (s->v[i] && s->v[i] != ino)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void set_put(struct ino_set *s, uint64_t ino)
{
	size_t i = slot_of(s, ino);

	if (!s->v[i]) {
		s->v[i] = ino;
		s->n++;
	}
}

static int set_add(struct ino_set *s, uint64_t ino)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		struct ino_set g = { calloc(cap, sizeof(uint64_t)), cap, 0 };

		if (!g.v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				set_put(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	set_put(s, ino);
	return 0;
}

static int set_has(const struct ino_set *s, uint64_t ino)
{
	return s->cap && s->v[slot_of(s, ino)] == ino;
}

/* Every inode number an entry names. */
static int named_inodes(struct mfs_ns *ns, struct ino_set *s)
{
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_DIRENTS, NULL, 0);
	int rc = 0;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it) && !rc; mfs_iter_next(it)) {
		size_t vl;
		const uint8_t *v = mfs_iter_value(it, &vl);

		if (vl == 12 && get_le64(v))
			rc = set_add(s, get_le64(v));
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

/* Does one of in's names lead to it?  1, 0 or an error. */
static int has_name(struct mfs_ns *ns, const struct mfs_inode *in)
{
	for (uint32_t i = 0; i <= in->nlinks; i++) {
		uint64_t parent = i ? in->links[i - 1].parent : in->parent;
		const char *name = i ? in->links[i - 1].name : in->name;
		struct dirent_key k;
		uint64_t held;
		int rc;

		if (!name || dirent_key(parent, name, &k))
			continue;
		rc = get_dirent(ns, &k, &held);
		if (!rc && held == in->ino)
			return 1;
		if (rc && rc != -ENOENT)
			return rc;
	}
	return 0;
}

/*
 * Deletes own file record ino if no entry names it (the set `named`, read
 * before the pass) and, checked again under the lock, none of its names
 * leads to it (note 3): 1 if deleted, 0, or an error (logged).
 */
static int drop_nameless(struct mfs_ns *ns, uint64_t ino, void *named, struct changes *cs)
{
	struct mfs_inode in;
	struct ns_txn t = { 0 };
	int rc;

	if (mfs_rev_is_ino(ino))
		return 0;
	/* Named: its list of names may still hold one that leads elsewhere (note 6). */
	if (set_has(named, ino)) {
		ns_fix_name_list_left(ns, ino, cs);
		return 0;
	}
	if ((rc = mfs_ns_get(ns, ino, &in)))
		return rc == -ENOENT ? 0 : rc;
	if ((rc = has_name(ns, &in))) {
		rc = rc < 0 ? rc : 0;
		goto out;
	}
	if (!(rc = txn_begin(ns, &t))) {
		txn_del_inode(&t, ino);
		rc = txn_commit(ns, &t);
	}
	txn_free(&t);
	if (!rc) {
		ns_note_change(cs, MFS_CHANGE_INODE, ino, 0, NULL, 0);
		log_info("file %016llx (%s) had no name left after a race with an unlink: removed",
			 (unsigned long long)ino, in.name ? in.name : "");
		rc = 1;
	}
out:
	if (rc < 0)
		log_warn("file %016llx has no name; not removed: %s", (unsigned long long)ino,
			 mfs_strerror(rc));
	mfs_inode_release(&in);
	return rc;
}

int mfs_ns_drop_nameless(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	struct ino_set named = { 0 };
	int rc = named_inodes(ns, &named);

	if (!rc)
		rc = ns_repair_own(ns, 0, drop_nameless, &named, fn, arg);
	free(named.v);
	return rc;
}
