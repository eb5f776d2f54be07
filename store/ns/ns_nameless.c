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
 *  7. And the names such a kill left unlisted: a link on one node and a
 *     chmod of the same file, later by the clock, on another leave an
 *     entry that the winning record does not list, which the maker adds as
 *     it applies the link (ns_version.c, note 7).  Killed before that, the
 *     file has two entries and nlink 1 on every node, and status counts
 *     one file less than the tree shows.  No index leads from a file to its
 *     entries: the read of the entries counts those that name each inode,
 *     and an own file with more entries than its record lists names has
 *     its entries found by a second read (of those files' only) and listed;
 *     so has one whose listed names all lead elsewhere (a rename's entry
 *     and a record that lists only the old name: the count is right, and
 *     the repair of the list, finding no name to keep, writes nothing).
 *     The entry stays and the record takes the name, not the other way
 *     round: the entry won its key by its stamp on every node, as the
 *     maker's repair at apply time would have listed it, and the repair is
 *     the maker's op that carries the whole record, so every node ends with
 *     the same record whatever it held.  Dropping the entry instead would
 *     remove a name that users of every node see, by a deletion that could
 *     lose to a later op on that key anyway.
 *  8. A nameless rewrite (version 2 or more) may be the later version of a
 *     file whose older version a kill left with the names (ns_version.c
 *     note 8): it takes them instead of being dropped.  Finding the older
 *     one reads every record; only such rewrites pay for it.  Of two
 *     such rewrites of one file (two nodes rewrote it at once), only the
 *     later takes them (ns_version.c note 9); the earlier stays until the
 *     later has taken them or is gone (note 10 there).
 *  9. Such a rewrite that waits is noted in memory with its rival, and
 *     looked at again as this node applies an op that puts or deletes the
 *     rival's record (ns_apply.c) and leaves the rival named or gone: the
 *     rival's maker giving it the names, or dropping it, is such an op, so
 *     the rewrite goes (or takes the names) then, not at the next pass.
 *     Other ops on the rival's record (an attribute change) do not have
 *     it looked at: the look reads every record, under the lock.  So, in
 *     the pass, when the rival is this node's too and takes the names (or
 *     is dropped) after the rewrite that waits for it was looked at.  A
 *     restart forgets the notes: the next pass makes them again.
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

/*
 * A set of inode numbers, each with the count of entries that name it
 * (open addressing; 0 is the empty slot: no entry names inode 0).
 */
struct ino_set {
	uint64_t *v;
	uint32_t *cnt;          /* per v[]: entries that name it */
	size_t cap, n;
};

static size_t slot_of(const struct ino_set *s, uint64_t ino)
{
	size_t i = (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 17) & (s->cap - 1);

	while (s->v[i] && s->v[i] != ino)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void set_put(struct ino_set *s, uint64_t ino, uint32_t n)
{
	size_t i = slot_of(s, ino);

	if (!s->v[i]) {
		s->v[i] = ino;
		s->n++;
	}
	s->cnt[i] += n;
}

static int set_add(struct ino_set *s, uint64_t ino)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		struct ino_set g = { calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(uint32_t)),
				     cap, 0 };

		if (!g.v || !g.cnt) {
			free(g.v);
			free(g.cnt);
			return -ENOMEM;
		}
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				set_put(&g, s->v[i], s->cnt[i]);
		free(s->v);
		free(s->cnt);
		*s = g;
	}
	set_put(s, ino, 1);
	return 0;
}

/* The number of entries that name ino (0: not in the set). */
static uint32_t set_count(const struct ino_set *s, uint64_t ino)
{
	size_t i;

	if (!s->cap)
		return 0;
	i = slot_of(s, ino);
	return s->v[i] == ino ? s->cnt[i] : 0;
}

static void set_free(struct ino_set *s)
{
	free(s->v);
	free(s->cnt);
}

static int add_named(void *arg, const struct ns_dirent *d)
{
	return d->child ? set_add(arg, d->child) : 0;
}

/* Every inode number an entry names. */
static int named_inodes(struct mfs_ns *ns, struct ino_set *s)
{
	return ns_dirents_each(ns, add_named, s);
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

/* The pass's state: entries per inode, and own files with more entries than names. */
struct pass {
	struct ino_set named;
	uint64_t *unlisted;     /* own files an entry names that their record does not list */
	size_t nunlisted, unlistedcap;
};

/*
 * After the list's repair: does ino have entries its record does not list
 * (note 7)?  More entries than names, or (unnamed) none of the names it
 * lists leads to it, which the repair leaves as they are (note 7 too).
 */
static void note_unlisted(struct mfs_ns *ns, uint64_t ino, int unnamed, struct pass *p)
{
	struct mfs_inode in;

	if (mfs_ns_get(ns, ino, &in))
		return;
	if (!S_ISDIR(in.mode) && (unnamed || set_count(&p->named, ino) > 1 + in.nlinks) &&
	    !mfs_grow(&p->unlisted, &p->unlistedcap, p->nunlisted, sizeof(*p->unlisted)))
		p->unlisted[p->nunlisted++] = ino;
	mfs_inode_release(&in);
}

/* Notes that own rewrite y waits for rival (note 9); out of memory, the next pass looks again. */
static void note_waiting(struct mfs_ns *ns, uint64_t y, uint64_t rival)
{
	if (mfs_grow(&ns->waiting, &ns->waitingcap, ns->nwaiting, sizeof(*ns->waiting)))
		return;
	ns->waiting[ns->nwaiting++] = (struct ns_waiting){ y, rival };
}

static int drop_unnamed(struct mfs_ns *ns, uint64_t ino, struct changes *cs);

/*
 * The own rewrites that wait for rival (note 9) are looked at again.  All
 * leave the list before the first is looked at: one that still waits is
 * noted again (drop_unnamed), and met again in this loop it would be
 * looked at for ever, under the lock.
 */
static void recheck_rival(struct mfs_ns *ns, uint64_t rival, struct changes *cs)
{
	uint64_t *ys = NULL;
	size_t n = 0, cap = 0;

	for (size_t j = 0; j < ns->nwaiting;) {
		if (ns->waiting[j].rival != rival) {
			j++;
			continue;
		}
		if (mfs_grow(&ys, &cap, n, sizeof(*ys)))
			break; /* out of memory: those left wait for the next pass */
		ys[n++] = ns->waiting[j].y;
		ns->waiting[j] = ns->waiting[--ns->nwaiting];
	}
	for (size_t i = 0; i < n; i++)
		drop_unnamed(ns, ys[i], cs);
	free(ys);
}

/*
 * Deletes own file record ino if, checked under the lock, none of its names
 * leads to it (note 3), unless it is a rewrite that takes the names of an
 * older version (note 8) or waits for a later one (note 9): 1 if deleted
 * or repaired, 0, or an error (logged).
 */
static int drop_unnamed(struct mfs_ns *ns, uint64_t ino, struct changes *cs)
{
	struct mfs_inode in;
	struct ns_txn t = { 0 };
	uint64_t rival = 0;
	int rc;

	if ((rc = mfs_ns_get(ns, ino, &in)))
		return rc == -ENOENT ? 0 : rc;
	if ((rc = has_name(ns, &in))) {
		rc = rc < 0 ? rc : 0;
		goto out;
	}
	/* The rewrite of a file whose older version a kill left named (ns_version.c note 8). */
	if ((rc = ns_repair_version_left(ns, &in, cs, &rival)) == NS_VERSION_DEFERRED) {
		/* A later rewrite is to take them: this one stays until then (note 8). */
		note_waiting(ns, ino, rival);
		rc = 0;
		goto out;
	}
	if (rc)
		goto done;
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
done:
	/* Given the names, or gone: those that waited for it need not (note 9). */
	if (rc > 0)
		recheck_rival(ns, ino, cs);
out:
	if (rc < 0)
		log_warn("file %016llx has no name; not removed: %s", (unsigned long long)ino,
			 mfs_strerror(rc));
	mfs_inode_release(&in);
	return rc;
}

/*
 * The pass over own file record ino: dropped if no entry names it (the set
 * `named`, read before the pass) and none of its names leads to it; its
 * list made right if named.  1 if changed, 0, or an error (logged).
 */
static int drop_nameless(struct mfs_ns *ns, uint64_t ino, void *ctx, struct changes *cs)
{
	struct pass *p = ctx;
	int rc, unnamed;

	if (mfs_rev_is_ino(ino))
		return 0;
	/* Named: its list of names may still hold one that leads elsewhere
	 * (note 6), or miss one that leads to it (note 7). */
	if (set_count(&p->named, ino)) {
		rc = ns_fix_name_list_left(ns, NULL, ino, cs, &unnamed);
		note_unlisted(ns, ino, unnamed, p);
		return rc > 0; /* a failure is logged; the pass goes on */
	}
	return drop_unnamed(ns, ino, cs);
}

/* Is some own rewrite waiting for rival? */
static int is_rival(const struct mfs_ns *ns, uint64_t rival)
{
	for (size_t j = 0; j < ns->nwaiting; j++)
		if (ns->waiting[j].rival == rival)
			return 1;
	return 0;
}

/*
 * Has rival taken the names, or gone?  Only then is a rewrite that waits
 * for it looked at again (note 9): the look reads every record, and an op
 * that only changes the rival's attributes would pay for it under the
 * lock, each time.
 */
static int rival_settled(struct mfs_ns *ns, uint64_t rival)
{
	struct mfs_inode in;
	int rc = mfs_ns_get(ns, rival, &in);

	if (rc)
		return rc == -ENOENT;
	rc = has_name(ns, &in);
	mfs_inode_release(&in);
	return rc > 0;
}

void ns_recheck_waiting(struct mfs_ns *ns, const struct mfs_op *op, struct changes *cs)
{
	for (uint32_t i = 0; i < op->n && ns->nwaiting; i++) {
		const struct mfs_op_entry *e = &op->e[i];
		uint64_t ino;

		if (e->kind != MFS_OP_INODE || e->klen != 8)
			continue;
		ino = get_be64(e->key);
		if (is_rival(ns, ino) && rival_settled(ns, ino))
			recheck_rival(ns, ino, cs);
	}
}

/* The entries that name the inodes of set s, copied (keys and values), as op entries. */
struct found {
	struct mfs_op_entry *e;
	size_t n, cap;
};

static void found_release(struct found *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free((void *)f->e[i].key);
		free((void *)f->e[i].val);
	}
	free(f->e);
}

struct wanted {
	const struct ino_set *s;
	struct found *f;
};

/* Copies d, as an op entry, if it leads to an inode of the set. */
static int add_if_wanted(void *arg, const struct ns_dirent *d)
{
	const struct wanted *w = arg;
	struct found *f = w->f;
	struct mfs_op_entry *e;

	if (!set_count(w->s, d->child))
		return 0;
	if (mfs_grow(&f->e, &f->cap, f->n, sizeof(*f->e)))
		return -ENOMEM;
	e = &f->e[f->n];
	*e = (struct mfs_op_entry){ .kind = MFS_OP_DIRENT, .klen = (uint16_t)d->klen, .vlen = 12 };
	e->key = malloc(d->klen);
	e->val = malloc(12);
	if (!e->key || !e->val) {
		free((void *)e->key);
		free((void *)e->val);
		return -ENOMEM;
	}
	memcpy((void *)e->key, d->key, d->klen);
	memcpy((void *)e->val, d->val, 12);
	f->n++;
	return 0;
}

static int entries_of(struct mfs_ns *ns, const struct ino_set *s, struct found *f)
{
	struct wanted w = { .s = s, .f = f };

	return ns_dirents_each(ns, add_if_wanted, &w);
}

static int by_child(const void *x, const void *y)
{
	uint64_t a = get_le64(((const struct mfs_op_entry *)x)->val);
	uint64_t b = get_le64(((const struct mfs_op_entry *)y)->val);

	return (a > b) - (a < b);
}

/*
 * The own files that have entries their record does not list (note 7)
 * take those names: a second read of the entries, for these files only,
 * then each file's repair under the lock as a write op of its own.  The
 * count repaired, or an error.
 */
static int list_unlisted(struct mfs_ns *ns, const struct pass *p, mfs_ns_change_fn fn, void *arg)
{
	struct ino_set want = { 0 };
	struct found f = { 0 };
	int rc = 0, done = 0;

	for (size_t i = 0; i < p->nunlisted && !rc; i++)
		rc = set_add(&want, p->unlisted[i]);
	if (!rc)
		rc = entries_of(ns, &want, &f);
	if (!rc)
		qsort(f.e, f.n, sizeof(*f.e), by_child);
	for (size_t i = 0, j; i < f.n && !rc; i = j) {
		uint64_t ino = get_le64(f.e[i].val);
		struct mfs_op one = { 0 };
		struct changes cs = { 0 };
		int r, s;

		for (j = i; j < f.n && get_le64(f.e[j].val) == ino; j++)
			;
		one.n = (uint32_t)(j - i);
		one.e = &f.e[i];
		pthread_mutex_lock(&ns->lock);
		r = ns_fix_name_list_left(ns, &one, ino, &cs, NULL);
		s = ns_unlock_durable(ns, r < 0 ? r : 0, NS_SYNC_DEFER);
		if (r > 0)
			log_info("file %016llx had an entry its record did not list: listed",
				 (unsigned long long)ino);
		if (r >= 0 && s)
			rc = s;
		done += r > 0;
		for (size_t c = 0; fn && c < cs.n; c++)
			fn(arg, &cs.c[c]);
		ns_changes_release(&cs);
	}
	found_release(&f);
	set_free(&want);
	return rc ? rc : done;
}

int mfs_ns_drop_nameless(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg)
{
	struct pass p = { 0 };
	int rc = named_inodes(ns, &p.named), listed;

	/* The pass notes again those that still wait (note 9). */
	pthread_mutex_lock(&ns->lock);
	ns->nwaiting = 0;
	pthread_mutex_unlock(&ns->lock);

	if (!rc)
		rc = ns_repair_own(ns, 0, drop_nameless, &p, fn, arg);
	if (rc >= 0 && p.nunlisted) {
		listed = list_unlisted(ns, &p, fn, arg);
		rc = listed < 0 ? listed : rc + listed;
	}
	set_free(&p.named);
	free(p.unlisted);
	return rc;
}
