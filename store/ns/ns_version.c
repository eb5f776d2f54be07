/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An older version of a file that another node's op put back beside its
 * later version: the later version takes its names.
 *
 * Notes on the design:
 *  1. A rewrite publishes a new inode Y and deletes the old record X, moving
 *     every name of X to Y in one op (namespace.h, "Hard links", 2).  A
 *     rename or a link of the same file on another node, which never saw
 *     the rewrite, carries X's record with its names.  When that op is the
 *     later by the clock, its record wins over the rewrite's deletion: X
 *     lives again, at the renamed or linked name, with the old bytes, and Y
 *     keeps only the names the other op did not touch (none, after a
 *     rename: a nameless record that gc then drops).  Every node agreed,
 *     but on the old bytes: the committed rewrite was lost, and the
 *     rewriting node's kernel, which knew X as replaced by Y, answered
 *     ESTALE at every open of the renamed name.
 *  2. The repair is what the rewrite would have done had it come after the
 *     other op: Y takes every name of X that leads to X, and X's record
 *     goes, in one op that peers apply like any other.  X and Y are
 *     versions of one file when their file ids (fid, kept by every version)
 *     are equal; Y is the later when its version count is higher.
 *  3. Only the node that made Y (its inode space) repairs, as ns_merge.c
 *     repairs directories: it holds Y before the racing op reaches it (Y is
 *     its own publish), so it meets the race when it applies that op, under
 *     the same lock, before the kernel hears of the change.
 *  4. Candidates for Y are this node's files that the op's entries named
 *     before it was applied (a rename's removed name led to Y) and the ones
 *     the names of X's record lead to after it (a link's record lists the
 *     name that the rewrite moved to Y).  Candidates for X are the op's
 *     file records that it put back: deleted here before (no record, a
 *     stamp), alive after.  A record never seen before is no older
 *     version: two nodes that rewrite one file at once make two versions
 *     of one file id, and the name stays the last writer's (README), not
 *     the one with more versions.
 *  5. When no later version of X is alive here any more (the rewriting
 *     node has since renamed or removed it), X simply lives again at the
 *     other op's name, with its bytes, as the later op wants; the daemon
 *     drops its successor link (fuse/fs_remote.c).
 *  6. Not repaired: the rewrite being the later, its deletion of X wins and
 *     the other op's new name is left on no record, hidden on every node
 *     (a dangling entry, namespace.c): the name is lost, the bytes are not.
 *     A crash between the op and its repair leaves X; gc's nameless pass
 *     then drops Y.  NEEDSWORK: gc's pass could look for older versions too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "store/kv/db.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "namespace"

void ns_note_version(struct changes *cs, uint64_t ino, uint32_t mode, uint16_t space)
{
	if (!S_ISREG(mode) || (uint16_t)(ino >> 48) != space)
		return;
	for (size_t i = 0; i < cs->nver; i++)
		if (cs->ver[i] == ino)
			return;
	if (mfs_grow(&cs->ver, &cs->vercap, cs->nver, sizeof(*cs->ver))) {
		cs->oom = 1;
		return;
	}
	cs->ver[cs->nver++] = ino;
}

void ns_note_revived(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e)
{
	uint8_t skey[STAMP_KEY_MAX];
	size_t sl;

	if (e->kind != MFS_OP_INODE || e->deleted ||
	    mfs_db_exists(ns->db, MFS_CF_INODES, e->key, e->klen) != 0)
		return;
	sl = stamp_key(MFS_OP_INODE, e->key, e->klen, skey);
	if (mfs_db_exists(ns->db, MFS_CF_STAMPS, skey, sl) != 1)
		return; /* never seen here: a new file, no older version of anything */
	if (mfs_grow(&cs->revived, &cs->revcap, cs->nrevived, sizeof(*cs->revived))) {
		cs->oom = 1;
		return;
	}
	cs->revived[cs->nrevived++] = get_be64(e->key);
}

/* in's i-th name: 0 is (parent, name), the others links[i - 1]. */
static void nth_name(const struct mfs_inode *in, uint32_t i, uint64_t *parent, const char **name)
{
	*parent = i ? in->links[i - 1].parent : in->parent;
	*name = i ? in->links[i - 1].name : in->name;
}

/* Does parent/name lead to ino?  1, 0, or an error. */
static int leads_to(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino)
{
	struct dirent_key k;
	uint64_t cur;
	int rc;

	if (!name || dirent_key(parent, name, &k))
		return 0;
	rc = get_dirent(ns, &k, &cur);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : cur == ino;
}

/* Adds to y the names of in that lead to in's ino (in may be y itself), their entries to t. */
static int take_names(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *y,
		      const struct mfs_inode *in, uint32_t *taken)
{
	for (uint32_t i = 0; i <= in->nlinks; i++) {
		struct dirent_key k;
		const char *nm;
		uint64_t p;
		int rc;

		nth_name(in, i, &p, &nm);
		if ((rc = leads_to(ns, p, nm, in->ino)) <= 0) {
			if (rc)
				return rc;
			continue;
		}
		if (*taken == 0) {
			/* The first name taken is the record's first name. */
			char *copy = strdup(nm);

			if (!copy)
				return -ENOMEM;
			free(y->name);
			y->name = copy;
			y->parent = p;
		} else if ((rc = mfs_inode_name_add(y, p, nm))) {
			return rc;
		}
		(*taken)++;
		if (in->ino != y->ino && !dirent_key(p, nm, &k))
			txn_put_dirent(t, &k, y->ino, y->mode);
	}
	return 0;
}

/* Y (own, the later version) takes the names of x, whose record goes (note 2). */
static int supersede(struct mfs_ns *ns, const struct mfs_inode *x, const struct mfs_inode *y,
		     struct changes *cs)
{
	struct mfs_inode nw = { 0 };
	struct ns_txn t = { 0 };
	uint32_t taken = 0, own;
	int rc;

	if ((rc = mfs_inode_copy(&nw, y)))
		return rc;
	/* The names are rebuilt: Y's own that still lead to it, then X's. */
	for (uint32_t i = 0; i < nw.nlinks; i++)
		free(nw.links[i].name);
	free(nw.links);
	nw.links = NULL;
	nw.nlinks = 0;
	if ((rc = txn_begin(ns, &t)) || (rc = take_names(ns, &t, &nw, y, &taken)))
		goto out;
	own = taken;
	if ((rc = take_names(ns, &t, &nw, x, &taken)) || taken == own)
		goto out; /* no name leads to X: nothing to take (ns_nameless.c's) */
	nw.nlink = 1 + nw.nlinks;
	now(&nw.ctime);
	txn_del_inode(&t, x->ino);
	if ((rc = txn_put_inode(&t, &nw)) || (rc = txn_commit(ns, &t)))
		goto out;
	ns_note_change(cs, MFS_CHANGE_INODE, x->ino, 0, NULL, 0);
	ns_note_change(cs, MFS_CHANGE_INODE, y->ino, 0, NULL, 0);
	for (uint32_t i = 0; i <= x->nlinks; i++) {
		const char *nm;
		uint64_t p;

		nth_name(x, i, &p, &nm);
		if (nm)
			ns_note_change(cs, MFS_CHANGE_DIRENT, 0, p, (const uint8_t *)nm, strlen(nm));
	}
	log_info("file %016llx (%s): an older version %016llx that another node's op put back "
		 "gave its names to it", (unsigned long long)y->ino, nw.name ? nw.name : "",
		 (unsigned long long)x->ino);
	rc = 1;
out:
	txn_free(&t);
	mfs_inode_release(&nw);
	return rc;
}

/* Is y (own) the later version of x?  Both regular and published, one file id. */
static int later_version(const struct mfs_inode *x, const struct mfs_inode *y)
{
	return x->ino != y->ino && S_ISREG(x->mode) && S_ISREG(y->mode) &&
	       !(y->flags & MFS_I_PENDING) && x->fid == y->fid && y->version > x->version;
}

/* X, alive after the op: one of the candidates, or a file its names lead to, is its later version. */
static int repair_older(struct mfs_ns *ns, const struct mfs_inode *x, struct changes *cs)
{
	int rc;

	/* Candidates from X's names (a link's record: note 4). */
	for (uint32_t i = 0; i <= x->nlinks; i++) {
		struct dirent_key k;
		const char *nm;
		uint64_t p, cur;

		nth_name(x, i, &p, &nm);
		if (nm && !dirent_key(p, nm, &k) && !get_dirent(ns, &k, &cur))
			ns_note_version(cs, cur, S_IFREG, ns->space);
	}
	for (size_t i = 0; i < cs->nver; i++) {
		struct mfs_inode y;

		if (mfs_ns_get(ns, cs->ver[i], &y))
			continue;
		rc = later_version(x, &y) ? supersede(ns, x, &y, cs) : 0;
		mfs_inode_release(&y);
		if (rc)
			return rc;
	}
	return 0;
}

void ns_repair_versions(struct mfs_ns *ns, struct changes *cs)
{
	for (size_t i = 0; i < cs->nrevived; i++) {
		struct mfs_inode x;
		int rc;

		if (mfs_ns_get(ns, cs->revived[i], &x))
			continue;
		rc = S_ISREG(x.mode) ? repair_older(ns, &x, cs) : 0;
		if (rc < 0)
			log_warn("file %016llx: an older version put back by another node's op; "
				 "not repaired: %s", (unsigned long long)x.ino, mfs_strerror(rc));
		mfs_inode_release(&x);
	}
}
