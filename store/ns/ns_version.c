/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An older version of a file that another node's op put back beside its
 * later version: the later version takes its names and, the op being the
 * later, its attributes.
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
 *  5. The op that put X back may have changed X's attributes (a chmod, a
 *     chown or a setxattr on a node that had not seen the rewrite): its
 *     record wins as a whole over the deletion, and then, no name leading
 *     to it, waits for gc, with the change lost to every node.  If the op
 *     is also later than Y's record, Y takes X's mode, owner and extended
 *     attributes, as a whole record would win over an older one.  X's
 *     record stays, nameless, for gc's nameless pass: that node's next op
 *     on X (a setxattr after the chmod) must win over a record, as the
 *     first did, not lose to a deletion stamped by this repair.  Such a
 *     record is a candidate for X too.
 *  6. When no later version of X is alive here any more (the rewriting
 *     node has since renamed or removed it), X simply lives again at the
 *     other op's name, with its bytes, as the later op wants; the daemon
 *     drops its successor link (fuse/fs_remote.c).
 *  7. Name lists.  A record lists its names, and nlink counts them, as the
 *     winning op knew them (namespace.h, "Hard links", 4): a link on one
 *     node racing an unlink of another name on another, the link the
 *     later, leaves a name the record lists but no entry keeps, and stat
 *     showed nlink 3 for a file of two names.  After each op, the node
 *     that made a file whose entries or record the op touched lists again
 *     the names that lead to it: those of its list, then the op's entries
 *     that lead to it, and writes the record by an op if that changed it
 *     (ns_fix_name_lists).  A file no name leads to is left to gc's
 *     nameless pass.
 *     The op's record may also drop a name that leads to the file: a link
 *     on one node, a chmod on another, later by the clock, whose record
 *     lists only the old name.  The maker adds the link's entry as it
 *     applies either op (it is the op's entry, or its record listed it).
 *     But a third op of the chmodding node, later than that repair and
 *     not aware of it, carries the short list again: the names the held
 *     record listed before an op replaced it are candidates too
 *     (ns_note_held_names), or the entry would stay unlisted for good.
 *     A crash between an op and this repair, or a repair that failed,
 *     leaves a name listed that leads elsewhere (nlink too high, status
 *     counting a file the tree does not show): gc's nameless pass lists
 *     again the names of every own file that some entry names, and adds
 *     the entries a record does not list (ns_nameless.c, notes 6 and 7).
 *  8. Not repaired: the rewrite being the later, its deletion of X wins and
 *     the other op's new name is left on no record, hidden on every node
 *     (a dangling entry, namespace.c): the name is lost, the bytes are not.
 *     A kill between the op and its repair leaves X alive with the names
 *     and Y with none; gc's nameless pass, before it drops a nameless Y
 *     that is a rewrite (version 2 or more), looks through every record
 *     for an older version of its file that has names, and gives them to
 *     Y as the repair would have (ns_repair_version_left; the attributes
 *     stay Y's: the op's stamp is not known any more).  Without that, gc
 *     dropped the committed rewrite and the old bytes stayed.
 *  9. Two nodes that rewrote one file at once each made a rewrite (Y on
 *     one, Z on the other); an older version put back with the names
 *     leaves both with none.  Each maker's nameless pass gave its own
 *     rewrite the names, and deleted the older version, by two ops: last
 *     writer wins gave the names to one, and the other, listing names
 *     that led to it, waited for its maker's next pass (t1495, ci2 of
 *     s35: status counting a file more than the tree showed after one gc
 *     pass round the nodes).  Only the later of the two nameless rewrites
 *     (version, then inode number: the same on every node) takes the
 *     names; the other is dropped, as the loser of two writes of one path.
 * 10. But not at once: while the later one Z has no name and an older
 *     version holds the names, the earlier Y stays, and is dropped by a
 *     later pass that finds the names gone from the older version (Z took
 *     them) or no nameless Z (dropped).  Y's pass had dropped it at once,
 *     and Z's maker may never take the names: its own pass, before the op
 *     that put the older version back reached it, may have found no older
 *     version with names and dropped Z as the loser of the two writes (the
 *     order of the entry's two writes is the clock's; "later" here is
 *     version, then inode number).  The file then kept the old bytes for
 *     good on every node, and Y's committed rewrite was gone (the failure
 *     of note 8).  The order is total, so no two rewrites wait for each
 *     other: the latest nameless one never waits.  Z's maker dead but not
 *     removed, Y waits with it; removed, the member that adopts its space
 *     takes Z's part (ns_merge.c note 5).  With both makers alive, Y
 *     waited a pass more (t1495 saw status count it after one gc pass
 *     round the nodes): Y's maker now looks at Y again as it applies the
 *     op that puts or deletes Z's record (ns_nameless.c note 9).
 * 11. The older version may also have entries its record does not list
 *     (a kill before the repair of its list, note 7).  Given only the
 *     names it lists, Y left those leading to no record once X's went:
 *     hidden on every node, and gc's own search for unlisted entries
 *     (ns_nameless.c note 7) finds X gone.  gc's repair reads the entries
 *     that lead to X, every one, and Y takes them too.  The repair at
 *     apply time does not: it would read every entry for each op that puts
 *     an older version back, under the lock, and such an entry is left
 *     only by a repair that failed; its op's record lists the name it
 *     gives (a link's, a rename's).
 */
#include <errno.h>
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

void ns_note_put(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e)
{
	uint8_t skey[STAMP_KEY_MAX];
	size_t sl;
	int gone = 0;

	if (e->kind != MFS_OP_INODE || e->deleted)
		return;
	if (mfs_db_exists(ns->db, MFS_CF_INODES, e->key, e->klen) == 0) {
		sl = stamp_key(MFS_OP_INODE, e->key, e->klen, skey);
		/* Never seen here: a new file, no older version of anything. */
		if (mfs_db_exists(ns->db, MFS_CF_STAMPS, skey, sl) != 1)
			return;
		gone = 1;
	}
	if (mfs_grow(&cs->puts, &cs->putcap, cs->nputs, sizeof(*cs->puts)) ||
	    mfs_grow(&cs->was_gone, &cs->gonecap, cs->nputs, sizeof(*cs->was_gone))) {
		cs->oom = 1;
		return;
	}
	cs->was_gone[cs->nputs] = (uint8_t)gone;
	cs->puts[cs->nputs++] = get_be64(e->key);
}

/* in's i-th name: 0 is (parent, name), the others links[i - 1]. */
static void nth_name(const struct mfs_inode *in, uint32_t i, uint64_t *parent, const char **name)
{
	*parent = i ? in->links[i - 1].parent : in->parent;
	*name = i ? in->links[i - 1].name : in->name;
}

/*
 * The names a record being rebuilt lists so far (take_names, add_name):
 * their count and, for fix_name_list, a hash set of them, so that each
 * name of the op's and of the held record is checked against the list at
 * once, not name by name: for a file of a thousand names that was a
 * million compares per op applied.  A record lists at most MFS_LINK_MAX
 * names, so the set never fills.
 */
#define TAKEN_SLOTS 2048
struct taken {
	uint32_t n;
	struct taken_slot {
		uint64_t parent;
		const char *name; /* the rebuilt record's copy; NULL: free slot */
	} *set;                   /* TAKEN_SLOTS, or NULL: no set (look through the record) */
};

static struct taken_slot *taken_slot(struct taken *tk, uint64_t parent, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ parent * 0x9e3779b97f4a7c15ull;
	uint32_t i;

	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	for (i = (uint32_t)(h ^ h >> 32) % TAKEN_SLOTS;; i = (i + 1) % TAKEN_SLOTS) {
		struct taken_slot *s = &tk->set[i];

		if (!s->name || (s->parent == parent && !strcmp(s->name, name)))
			return s;
	}
}

/* Does y (rebuilt, tk its names) list parent/name already? */
static int taken_has(struct taken *tk, const struct mfs_inode *y, uint64_t parent, const char *name)
{
	if (!tk->n)
		return 0;
	if (!tk->set)
		return mfs_inode_has_name(y, parent, name);
	return taken_slot(tk, parent, name)->name != NULL;
}

/* y now lists parent/name, its copy of name being copy: one more taken. */
static void taken_note(struct taken *tk, uint64_t parent, const char *copy)
{
	struct taken_slot *s;

	tk->n++;
	if (tk->set && tk->n < TAKEN_SLOTS && !(s = taken_slot(tk, parent, copy))->name)
		*s = (struct taken_slot){ parent, copy };
}

/* y takes the name parent/name (its first, if none yet): 0 or an error. */
static int take_name(struct mfs_inode *y, uint64_t p, const char *nm, struct taken *tk)
{
	int rc;

	if (tk->n == 0) {
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
	taken_note(tk, p, tk->n == 0 ? y->name : y->links[y->nlinks - 1].name);
	return 0;
}

/*
 * Adds to y the names of in that lead to in's ino (in may be y itself),
 * their entries to t.  in's record is held (read under the lock): its
 * inode need not be looked up again for each name.
 */
static int take_names(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *y,
		      const struct mfs_inode *in, struct taken *tk)
{
	for (uint32_t i = 0; i <= in->nlinks; i++) {
		struct dirent_key k;
		const char *nm;
		uint64_t p;
		int rc;

		nth_name(in, i, &p, &nm);
		/* A name listed twice (an older build's link or rename) is taken once. */
		if (nm && taken_has(tk, y, p, nm))
			continue;
		if ((rc = ns_name_leads_to_held(ns, p, nm, in->ino)) <= 0) {
			if (rc)
				return rc;
			continue;
		}
		if ((rc = take_name(y, p, nm, tk)))
			return rc;
		if (in->ino != y->ino && !dirent_key(p, nm, &k))
			txn_put_dirent(t, &k, y->ino, y->mode);
	}
	return 0;
}

/*
 * Y (own, the later version) takes the names of x, whose record goes (note
 * 2), and, with attrs, x's mode, owner and extended attributes (note 5).
 */
static int supersede(struct mfs_ns *ns, const struct mfs_inode *x, const struct mfs_inode *y,
		     int attrs, struct changes *cs)
{
	struct mfs_inode nw = { 0 };
	struct ns_txn t = { 0 };
	struct taken tk = { 0 };
	uint32_t own;
	int rc;

	if ((rc = mfs_inode_copy(&nw, y)))
		return rc;
	if (!(tk.set = calloc(TAKEN_SLOTS, sizeof(*tk.set)))) {
		rc = -ENOMEM;
		goto out;
	}
	/* The names are rebuilt: Y's own that still lead to it, then X's. */
	for (uint32_t i = 0; i < nw.nlinks; i++)
		free(nw.links[i].name);
	free(nw.links);
	nw.links = NULL;
	nw.nlinks = 0;
	if ((rc = txn_begin(ns, &t)) || (rc = take_names(ns, &t, &nw, y, &tk)))
		goto out;
	own = tk.n;
	if ((rc = take_names(ns, &t, &nw, x, &tk)))
		goto out;
	/* No name leads to either (the nameless pass's), or nothing to take. */
	if (tk.n == 0 || (tk.n == own && !attrs))
		goto out;
	if (attrs) {
		nw.mode = (nw.mode & S_IFMT) | (x->mode & ~(uint32_t)S_IFMT);
		nw.uid = x->uid;
		nw.gid = x->gid;
		if ((rc = mfs_inode_xattrs_copy(&nw, x)))
			goto out;
	}
	nw.nlink = 1 + nw.nlinks;
	now(&nw.ctime);
	/*
	 * X's record goes with its names.  One left with none stays for gc's
	 * nameless pass: the next op of its node on it, still unaware of the
	 * rewrite, then wins over that record, not over a deletion by this
	 * repair, whose stamp may be the later (note 5).
	 */
	if (tk.n > own)
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
		 "gave its %s to it", (unsigned long long)y->ino, nw.name ? nw.name : "",
		 (unsigned long long)x->ino,
		 tk.n > own ? (attrs ? "names and attributes" : "names") : "attributes");
	rc = 1;
out:
	free(tk.set);
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

/*
 * Is the op stamped st the later, as against y's record?  1, 0 or an
 * error.  A tie of Lamport times counts for the op: a repair here that
 * gave y an earlier op's attributes is stamped right after that op, and
 * the next op of the same node, its clock one step on, must win it too.
 */
static int op_is_later(struct mfs_ns *ns, uint64_t y, const struct mfs_stamp *st)
{
	uint8_t key[8], skey[STAMP_KEY_MAX];
	struct mfs_stamp held;
	struct mfs_val v;
	int rc;

	mfs_ino_key(y, key);
	rc = mfs_db_get(ns->db, MFS_CF_STAMPS, skey, stamp_key(MFS_OP_INODE, key, 8, skey), &v, 1);
	if (rc)
		return rc == -ENOENT ? 1 : rc;
	rc = mfs_stamp_decode(v.p, v.len, &held);
	mfs_val_release(&v);
	return rc ? rc : st->lamport >= held.lamport;
}

/* X, alive after the op: is a candidate, or a file its names lead to, its later version? */
static int repair_older(struct mfs_ns *ns, const struct mfs_inode *x, const struct mfs_stamp *st,
			struct changes *cs)
{
	int rc = 0;

	/* Candidates from X's names (a link's record, an attribute change's: note 4). */
	for (uint32_t i = 0; i <= x->nlinks; i++) {
		struct dirent_key k;
		const char *nm;
		uint64_t p, cur;

		nth_name(x, i, &p, &nm);
		if (nm && !dirent_key(p, nm, &k) && !get_dirent(ns, &k, &cur))
			ns_note_version(cs, cur, S_IFREG, ns->space);
	}
	for (size_t i = 0; i < cs->nver && !rc; i++) {
		struct mfs_inode y;

		if (mfs_ns_get(ns, cs->ver[i], &y))
			continue;
		if (later_version(x, &y) && (rc = op_is_later(ns, y.ino, st)) >= 0)
			rc = supersede(ns, x, &y, rc, cs);
		mfs_inode_release(&y);
	}
	return rc;
}

/* Does a name of x lead to it?  1, 0 or an error. */
static int named(struct mfs_ns *ns, const struct mfs_inode *x)
{
	int rc = 0;

	for (uint32_t i = 0; i <= x->nlinks && !rc; i++) {
		const char *nm;
		uint64_t p;

		nth_name(x, i, &p, &nm);
		rc = ns_name_leads_to(ns, p, nm, x->ino);
	}
	return rc;
}

void ns_repair_versions(struct mfs_ns *ns, const struct mfs_stamp *st, struct changes *cs)
{
	for (size_t i = 0; i < cs->nputs; i++) {
		struct mfs_inode x;
		int rc = 0;

		if (mfs_ns_get(ns, cs->puts[i], &x))
			continue;
		/* Put back, or living on without a name after an earlier
		 * repair (supersede): an older version, perhaps. */
		if (S_ISREG(x.mode) && (cs->was_gone[i] || !(rc = named(ns, &x))))
			rc = repair_older(ns, &x, st, cs);
		if (rc < 0)
			log_warn("file %016llx: an older version put back by another node's op; "
				 "not repaired: %s", (unsigned long long)x.ino, mfs_strerror(rc));
		mfs_inode_release(&x);
	}
}

/* Adds parent/name to z if it leads to z and is not listed yet (tk: names so far). */
static int add_name(struct mfs_ns *ns, struct mfs_inode *z, uint64_t p, const char *name,
		    struct taken *tk)
{
	int rc;

	if (taken_has(tk, z, p, name))
		return 0;
	/* z's record is held (fix_name_list read it under the lock). */
	if ((rc = ns_name_leads_to_held(ns, p, name, z->ino)) <= 0)
		return rc;
	return take_name(z, p, name, tk);
}

/* Adds to z every name of an entry of op that leads to z and is not listed yet. */
static int add_entry_names(struct mfs_ns *ns, const struct mfs_op *op, struct mfs_inode *z,
			   struct taken *tk)
{
	int rc = 0;

	for (uint32_t i = 0; op && i < op->n && !rc; i++) {
		const struct mfs_op_entry *e = &op->e[i];
		char name[MFS_NAME_MAX + 1];

		if (e->kind != MFS_OP_DIRENT || e->deleted || e->vlen != 12 ||
		    get_le64(e->val) != z->ino || e->klen <= 8 || e->klen > 8 + MFS_NAME_MAX)
			continue;
		memcpy(name, e->key + 8, e->klen - 8);
		name[e->klen - 8] = 0;
		rc = add_name(ns, z, get_be64(e->key), name, tk);
	}
	return rc;
}

/* Adds to z the names its record had before the op replaced it (note 7) that lead to it. */
static int add_held_names(struct mfs_ns *ns, const struct changes *cs, struct mfs_inode *z,
			  struct taken *tk)
{
	int rc = 0;

	for (size_t i = 0; cs && i < cs->nheld && !rc; i++)
		if (cs->held[i].ino == z->ino)
			rc = add_name(ns, z, cs->held[i].parent, cs->held[i].name, tk);
	return rc;
}

void ns_note_held_names(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e)
{
	struct mfs_inode held;
	uint64_t ino;

	if (e->kind != MFS_OP_INODE || e->deleted || e->klen != 8)
		return;
	ino = get_be64(e->key);
	if ((uint16_t)(ino >> 48) != ns->space || mfs_ns_get(ns, ino, &held))
		return;
	for (uint32_t i = 0; !S_ISDIR(held.mode) && i <= held.nlinks && !cs->oom; i++) {
		struct dir_name *d;
		const char *nm;
		uint64_t p;

		nth_name(&held, i, &p, &nm);
		if (!nm)
			continue;
		if (mfs_grow(&cs->held, &cs->heldcap, cs->nheld, sizeof(*cs->held))) {
			cs->oom = 1;
			break;
		}
		d = &cs->held[cs->nheld];
		*d = (struct dir_name){ ino, p, strdup(nm) };
		if (!d->name)
			cs->oom = 1;
		else
			cs->nheld++;
	}
	mfs_inode_release(&held);
}

/*
 * Own file zino lists the names its entries give it (note 7), those of op
 * (or gc's entries) too if op is not NULL, and those its record listed
 * before the op (cs->held): 1 if rewritten, 0, or an error.  *unnamed
 * (may be NULL): 1 if no name of those leads to it.
 */
static int fix_name_list(struct mfs_ns *ns, const struct mfs_op *op, uint64_t zino,
			 struct changes *cs, int *unnamed)
{
	struct mfs_inode z = { 0 }, nw = { 0 };
	struct ns_txn t = { 0 };
	struct taken tk = { 0 };
	uint32_t kept, listed;
	int rc;

	if ((rc = mfs_ns_get(ns, zino, &z)))
		return rc == -ENOENT ? 0 : rc;
	if (!S_ISDIR(z.mode) && !(tk.set = calloc(TAKEN_SLOTS, sizeof(*tk.set)))) {
		rc = -ENOMEM;
		goto out;
	}
	if (S_ISDIR(z.mode) || (rc = mfs_inode_copy(&nw, &z)))
		goto out;
	listed = 1 + z.nlinks;
	for (uint32_t i = 0; i < nw.nlinks; i++)
		free(nw.links[i].name);
	free(nw.links);
	nw.links = NULL;
	nw.nlinks = 0;
	/* z's own names: take_names writes no entry (t unused). */
	if ((rc = take_names(ns, &t, &nw, &z, &tk)))
		goto out;
	kept = tk.n;
	if ((rc = add_entry_names(ns, op, &nw, &tk)) || (rc = add_held_names(ns, cs, &nw, &tk)))
		goto out;
	/* No name: the nameless pass's (ns_nameless.c).  Or nothing changed. */
	if (unnamed)
		*unnamed = tk.n == 0;
	if (tk.n == 0 || (kept == listed && tk.n == kept && z.nlink == listed))
		goto out;
	if ((rc = txn_begin(ns, &t)))
		goto out;
	nw.nlink = 1 + nw.nlinks;
	if ((rc = txn_put_inode(&t, &nw)) || (rc = txn_commit(ns, &t)))
		goto out;
	ns_note_change(cs, MFS_CHANGE_INODE, zino, 0, NULL, 0);
	log_info("file %016llx (%s): %u names listed, %u lead to it: list made right",
		 (unsigned long long)zino, nw.name ? nw.name : "", listed, 1 + nw.nlinks);
	rc = 1;
out:
	free(tk.set);
	txn_free(&t);
	mfs_inode_release(&nw);
	mfs_inode_release(&z);
	return rc;
}

int ns_fix_name_list_left(struct mfs_ns *ns, const struct mfs_op *entries, uint64_t ino,
			  struct changes *cs, int *unnamed)
{
	int rc;

	if (unnamed)
		*unnamed = 0;
	rc = fix_name_list(ns, entries, ino, cs, unnamed);

	if (rc < 0)
		log_warn("file %016llx: its list of names not made right: %s",
			 (unsigned long long)ino, mfs_strerror(rc));
	return rc;
}

void ns_fix_name_lists(struct mfs_ns *ns, const struct mfs_op *op, struct changes *cs)
{
	for (uint32_t i = 0; i < op->n; i++) {
		const struct mfs_op_entry *e = &op->e[i];

		/* Files an entry of the op now names, and own records it put. */
		if (e->kind == MFS_OP_DIRENT && !e->deleted)
			ns_note_version(cs, get_le64(e->val), get_le32(e->val + 8), ns->space);
		else if (e->kind == MFS_OP_INODE && !e->deleted)
			ns_note_version(cs, get_be64(e->key), S_IFREG, ns->space);
	}
	for (size_t i = 0; i < cs->nver; i++) {
		int rc = fix_name_list(ns, op, cs->ver[i], cs, NULL);

		if (rc < 0)
			log_warn("file %016llx: its list of names not made right: %s",
				 (unsigned long long)cs->ver[i], mfs_strerror(rc));
	}
}

/*
 * The walk for ns_repair_version_left: the first older version of y with a
 * name, and whether a later rewrite of y's file has no name either (note
 * 10: the walk goes on past such a rewrite until it has found both).
 */
struct older_walk {
	struct mfs_ns *ns;
	const struct mfs_inode *y;
	struct mfs_inode x;
	int found, rival;
	uint64_t rino;          /* the rival's inode */
};

/* Is r a rewrite of y's file that is later than y, by version, then by inode number? */
static int later_rewrite(const struct mfs_inode *r, const struct mfs_inode *y)
{
	return r->ino != y->ino && S_ISREG(r->mode) && !(r->flags & MFS_I_PENDING) &&
	       r->fid == y->fid && (r->version > y->version ||
				    (r->version == y->version && r->ino > y->ino));
}

static int older_named(void *arg, const struct mfs_inode *in)
{
	struct older_walk *w = arg;
	int rc;

	if (later_rewrite(in, w->y)) {
		/* Nameless too: that one takes the names (note 9). */
		if (!w->rival && (rc = named(w->ns, in)) <= 0) {
			if (rc)
				return rc;
			w->rival = 1;
			w->rino = in->ino;
		}
		return w->found && w->rival;
	}
	if (w->found || !later_version(in, w->y))
		return 0;
	if ((rc = named(w->ns, in)) <= 0)
		return rc;
	if ((rc = mfs_inode_copy(&w->x, in)))
		return rc;
	w->found = 1;
	return w->rival; /* or on: a later rewrite with no name may follow */
}

/* Adds d's name to x (arg) if d leads to x and x does not list it. */
static int add_if_unlisted(void *arg, const struct ns_dirent *d)
{
	struct mfs_inode *x = arg;
	char name[MFS_NAME_MAX + 1];

	if (d->child != x->ino)
		return 0;
	ns_dirent_name(d, name);
	/* Compares with each listed name: a repair after a kill, rare. */
	return mfs_inode_has_name(x, d->parent, name) ? 0 : mfs_inode_name_add(x, d->parent, name);
}

/*
 * Adds to x (a copy) the names of the entries that lead to it and that its
 * record does not list (note 11): a read of every entry.  0 or an error.
 */
static int add_unlisted(struct mfs_ns *ns, struct mfs_inode *x)
{
	int rc = ns_dirents_each(ns, add_if_unlisted, x);

	/* A full list: Y takes those listed, as before. */
	return rc == -EMLINK ? 0 : rc;
}

int ns_repair_version_left(struct mfs_ns *ns, const struct mfs_inode *y, struct changes *cs,
			   uint64_t *rival)
{
	struct older_walk w = { .ns = ns, .y = y };
	struct mfs_inode_walk iw = { .fn = older_named, .arg = &w };
	int rc;

	/* A first version has no older one: the losers of two creates of one path. */
	if (!S_ISREG(y->mode) || y->version < 2 || (y->flags & MFS_I_PENDING))
		return 0;
	rc = mfs_inode_walk(ns->db, NULL, &iw);
	if (rc >= 0 && w.found && !w.rival && !(rc = add_unlisted(ns, &w.x)))
		rc = supersede(ns, &w.x, y, 0, cs);
	if (w.found)
		mfs_inode_release(&w.x);
	if (rc < 0)
		return rc;
	/* The later rewrite's maker is to take the names; y waits (note 10). */
	if (w.found && w.rival) {
		log_info("file %016llx (%s) has no name; kept while its later rewrite %016llx "
			 "has none", (unsigned long long)y->ino, y->name ? y->name : "",
			 (unsigned long long)w.rino);
		*rival = w.rino;
		return NS_VERSION_DEFERRED;
	}
	return rc > 0 && w.found;
}
