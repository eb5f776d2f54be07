/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A directory's link count counts the subdirectories whose entries lead
 * to a live record (namespace.c, ns_count_subdirs), so a subdirectory's
 * record that comes back to life changes its parent's count as much as an
 * entry does.  Three in-memory stores: A renames D to E while B removes D
 * (later by the clock) and C, later still, chmods D, which never saw
 * either.  On A, B's rmdir deletes D's record (E then leads nowhere and the
 * root counts one subdirectory less) and C's chmod puts the record back:
 * E leads to D again, and the root's nlink must count it again, on every
 * node whatever order they applied the ops in.
 *
 * And a file's count after a repair that did not happen: A's file f has a
 * second name g, which B unlinks while A, later by the clock, links f as
 * k.  A, the file's maker, lists f's names again as it applies B's unlink
 * (A's record, the later, still lists g); that write fails here (as if A
 * had been killed between the op and its repair), so f lists g, nlink 3.
 * gc's nameless pass on A makes it right.
 *
 * And the other way round, a name its record does not list (the "case C"
 * of t1496): B links A's file f as k while A, later by the clock, chmods
 * f.  A's record wins everywhere and lists only f; A, the maker, adds k
 * as it applies B's link.  If that repair is lost (a kill), or a later op
 * of B's that never saw it carries the record without k again, f has two
 * entries and nlink 1 on every node, and status counts one file less than
 * the tree shows.
 *
 * And a rewrite that lost its name to an older version another node put
 * back, whose repair a kill lost (ns_version.c note 8): gc gives the
 * rewrite the names, not drop it.
 *
 * And gc's passes on two nodes that move one orphan into lost+found, the
 * second before the first's ops reach it (t1495): the older version a
 * rewrite's repair removed came back, listing only the name in lost+found,
 * which led to the rewrite, until the maker's next pass.  And two
 * rewrites of one file on two nodes, both left with no name: each maker's
 * pass gave its own the names, and the loser listed names leading to the
 * other until its maker's next pass.
 *
 * And a name listed twice (t1496, "status files 185, tree shows 184"):
 * B's record of A's file f still lists k, a name A unlinked (B's chmod,
 * later by the clock, kept its record); B then renames f to k, or links f
 * as k.  The record must list k once, nlink as many as its entries; a
 * record that lists a name twice (as such an op made it) is made right by
 * its maker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/bytes.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "store/ns/oplog.h"
#include "ns_sides.h"
#include "tap.h"

/* to applies every op of from's own (already applied ones are skipped). */
static int send(struct side *from, struct side *to)
{
	return mfs_ns_ops_since(from->ns, mfs_ns_node_id(from->ns), 0, apply_cb, to->ns);
}

/* n file creations and removals: s's clock moves on, its tree does not change. */
static int tick(struct side *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!mk(s->ns, MFS_ROOT_INO, "tick", S_IFREG | 0644) ||
		    mfs_ns_remove(s->ns, MFS_ROOT_INO, "tick", 0, NULL))
			return -1;
	return 0;
}

struct count {
	struct mfs_ns *ns;
	uint32_t subdirs;
};

static int count_dir(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct count *c = arg;

	(void)name;
	(void)ino;
	c->subdirs += S_ISDIR(mode) != 0;
	return 0;
}

static void open_two(struct side *a, struct side *b)
{
	if (mfs_db_open_mem(&a->db) || mfs_ns_open(a->db, &a->ns) || mfs_db_open_mem(&b->db) ||
	    mfs_ns_open(b->db, &b->ns))
		tap_bail("two stores");
}

/* As open_two, A's store wrapped for faults (closing A's closes the store under it). */
static void open_two_faulty(struct side *a, struct side *b)
{
	struct mfs_db *base;

	if (mfs_db_open_mem(&base) || mfs_db_fault_wrap(base, NULL, MFS_FAULT_OWN, &a->db) ||
	    mfs_ns_open(a->db, &a->ns) || mfs_db_open_mem(&b->db) || mfs_ns_open(b->db, &b->ns))
		tap_bail("two stores");
}

static void close_two(struct side *a, struct side *b)
{
	mfs_ns_close(a->ns);
	mfs_db_close(a->db);
	mfs_ns_close(b->ns);
	mfs_db_close(b->db);
}

/* Directory dir's (called what) nlink on s is 2 + the subdirectories readdir lists in it. */
static void dir_nlink_ok(struct side *s, uint64_t dir, const char *what, const char *who)
{
	struct count c = { s->ns, 0 };
	struct mfs_inode d;

	mfs_ns_readdir(s->ns, dir, NULL, 0, count_dir, &c);
	if (mfs_ns_get(s->ns, dir, &d)) {
		ok(0, "%s: %s's record", who, what);
		return;
	}
	if (!ok(d.nlink == 2 + c.subdirs, "%s: %s's nlink counts its subdirectories", who, what))
		printf("# nlink %u, %u subdirectories listed\n", d.nlink, c.subdirs);
	mfs_inode_release(&d);
}

/*
 * The same with the new entry in another directory P: the record C puts
 * back names the root, not P, as D's parent.  A, which made D, gives the
 * record P/E (ns_merge.c, note 6); P must count D on every node.
 */
static void moved_elsewhere(void)
{
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_inode attr = { .mode = S_IFDIR | 0700 }, in;
	uint64_t d, p;

	if (mfs_db_open_mem(&a.db) || mfs_ns_open(a.db, &a.ns) || mfs_db_open_mem(&b.db) ||
	    mfs_ns_open(b.db, &b.ns) || mfs_db_open_mem(&c.db) || mfs_ns_open(c.db, &c.ns))
		tap_bail("three stores");
	p = mk(a.ns, MFS_ROOT_INO, "P", S_IFDIR | 0755);
	d = mk(a.ns, MFS_ROOT_INO, "D", S_IFDIR | 0755);
	ok(p && d && !send(&a, &b) && !send(&a, &c), "A makes P and D; B and C get them");
	is_int(mfs_ns_rename(a.ns, MFS_ROOT_INO, "D", p, "E", 0, NULL), 0, "A renames D to P/E");
	ok(!tick(&b, 10) && !mfs_ns_remove(b.ns, MFS_ROOT_INO, "D", 1, NULL), "B, later, removes D");
	ok(!tick(&c, 20) && !mfs_ns_setattr(c.ns, d, &attr, MFS_ATTR_MODE, NULL),
	   "C, later still, chmods D");
	is_int(send(&b, &a) | send(&c, &a), 0, "A applies B's rmdir and C's chmod");
	ok(mfs_ns_lookup(a.ns, p, "E", &in) == 0 && in.ino == d, "A: P/E is D");
	mfs_inode_release(&in);
	dir_nlink_ok(&a, p, "P", "A");
	is_int(send(&c, &b) | send(&a, &b), 0, "B applies C's and A's ops");
	dir_nlink_ok(&b, p, "P", "B");
	is_int(send(&a, &c) | send(&b, &c), 0, "C applies A's and B's ops");
	dir_nlink_ok(&c, p, "P", "C");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/*
 * moved_elsewhere with the maker's repair failing (as if killed before
 * it): A's P stays one short until gc counts every directory again.
 */
static void recount_left(void)
{
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_inode attr = { .mode = S_IFDIR | 0700 };
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 0, MFS_FAULT_EIO } } };
	struct mfs_db *base;
	uint64_t d, p;

	if (mfs_db_open_mem(&base) || mfs_db_fault_wrap(base, NULL, MFS_FAULT_OWN, &a.db) ||
	    mfs_ns_open(a.db, &a.ns) || mfs_db_open_mem(&b.db) || mfs_ns_open(b.db, &b.ns) ||
	    mfs_db_open_mem(&c.db) || mfs_ns_open(c.db, &c.ns))
		tap_bail("three stores");
	p = mk(a.ns, MFS_ROOT_INO, "P", S_IFDIR | 0755);
	d = mk(a.ns, MFS_ROOT_INO, "D", S_IFDIR | 0755);
	ok(p && d && !send(&a, &b) && !send(&a, &c) &&
	   !mfs_ns_rename(a.ns, MFS_ROOT_INO, "D", p, "E", 0, NULL) &&
	   !tick(&b, 10) && !mfs_ns_remove(b.ns, MFS_ROOT_INO, "D", 1, NULL) &&
	   !tick(&c, 20) && !mfs_ns_setattr(c.ns, d, &attr, MFS_ATTR_MODE, NULL) &&
	   !send(&b, &a), "as above: A renames D to P/E, B removes D, C chmods it; A gets B's");
	/* C's 41 ops take two writes each; the repair after the last is the next. */
	sp.r[0].nth = 2 * 41 + 1;
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&c, &a), 0, "A applies C's ops, the repair's write failing");
	ok(mfs_db_fault_fired(a.db) == 1 && nlink_of(a.ns, p) == 2,
	   "A: P's nlink 2 for its one subdirectory (the state a kill there leaves)");
	mfs_db_fault_arm(a.db, NULL);
	ok(mfs_ns_recount_dirs(a.ns, NULL, NULL) >= 1, "gc counts A's directories again");
	dir_nlink_ok(&a, p, "P", "A after gc");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/* A repair of the name list that a failure skipped. */
static void name_list_left(void)
{
	struct side a = { 0 }, b = { 0 };
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	uint64_t f;

	open_two_faulty(&a, &b);
	f = mk(a.ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	ok(f && !mfs_ns_link(a.ns, f, MFS_ROOT_INO, "g", NULL) && !send(&a, &b),
	   "A makes f and links it as g; B gets both");
	is_int(mfs_ns_remove(b.ns, MFS_ROOT_INO, "g", 0, NULL), 0, "B unlinks g");
	ok(!tick(&a, 10) && !mfs_ns_link(a.ns, f, MFS_ROOT_INO, "k", NULL),
	   "A, later by the clock, links f as k (it has not seen the unlink)");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&b, &a), 0, "A applies the unlink, its third write (the name list's repair) failing");
	if (!ok(mfs_db_fault_fired(a.db) == 1 && nlink_of(a.ns, f) == 3,
	   "A: f still lists g, nlink 3 (the state a kill there leaves)"))
		printf("# fired %d, nlink %u, writes %llu\n", mfs_db_fault_fired(a.db), nlink_of(a.ns, f), (unsigned long long)mfs_db_fault_calls(a.db, MFS_FAULT_WRITE));
	mfs_db_fault_arm(a.db, NULL);
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 0, "gc's nameless pass on A");
	is_int(nlink_of(a.ns, f), 2, "A: f lists its two names f and k, nlink 2");
	is_int(send(&a, &b), 0, "B applies A's link and repair");
	is_int(nlink_of(b.ns, f), 2, "B: f's nlink 2");
	close_two(&a, &b);
}

struct upto {
	struct mfs_ns *ns;
	uint64_t last;
};

static int apply_upto(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct upto *u = arg;

	if (seq > u->last)
		return 1;
	return mfs_ns_apply(u->ns, origin, seq, op, len, NULL, NULL) ? -1 : 0;
}

/* to applies from's own ops up to seq last. */
static int send_upto(struct side *from, struct side *to, uint64_t last)
{
	struct upto u = { to->ns, last };

	return mfs_ns_ops_since(from->ns, mfs_ns_node_id(from->ns), 0, apply_upto, &u);
}

/* Do f (on s) and its entry k lead to each other: entries f and k, the record lists both? */
static void lists_k(struct side *s, uint64_t f, const char *who)
{
	struct mfs_inode in;

	if (mfs_ns_get(s->ns, f, &in)) {
		ok(0, "%s: f's record", who);
		return;
	}
	if (!ok(in.nlink == 2 && in.nlinks == 1 &&
		mfs_inode_has_name(&in, MFS_ROOT_INO, "f") &&
		mfs_inode_has_name(&in, MFS_ROOT_INO, "k"),
		"%s: f's record lists f and k, nlink 2", who))
		printf("# nlink %u, %u names listed\n", in.nlink, 1 + in.nlinks);
	mfs_inode_release(&in);
}

/* B links f as k, A, later, chmods f: A's record (f only) wins on both. */
static int link_chmod_race(struct side *a, struct side *b, uint64_t *f)
{
	struct mfs_inode attr = { .mode = S_IFREG | 0600 };

	*f = mk(a->ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	return !*f || send(a, b) || mfs_ns_link(b->ns, *f, MFS_ROOT_INO, "k", NULL) ||
	       tick(a, 10) || mfs_ns_setattr(a->ns, *f, &attr, MFS_ATTR_MODE, NULL);
}

/* A's repair after B's link fails (a kill there): gc's nameless pass finds k by the entries. */
static void unlisted_left(void)
{
	struct side a = { 0 }, b = { 0 };
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	struct mfs_inode in;
	uint64_t f;

	open_two_faulty(&a, &b);
	ok(!link_chmod_race(&a, &b, &f), "B links A's f as k; A, later by the clock, chmods f");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&b, &a), 0, "A applies the link, its third write (the list's repair) failing");
	ok(mfs_db_fault_fired(a.db) == 1 && nlink_of(a.ns, f) == 1 &&
	   !mfs_ns_lookup(a.ns, MFS_ROOT_INO, "k", &in) && in.ino == f,
	   "A: k leads to f, which lists only f, nlink 1 (the state a kill there leaves)");
	mfs_inode_release(&in);
	mfs_db_fault_arm(a.db, NULL);
	is_int(send(&a, &b), 0, "B applies A's chmod");
	is_int(nlink_of(b.ns, f), 1, "B: f's nlink 1 too");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's nameless pass on A repairs f");
	lists_k(&a, f, "A after gc");
	is_int(send(&a, &b), 0, "B applies A's repair");
	lists_k(&b, f, "B");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) == 0, "A's next gc finds nothing to repair");
	close_two(&a, &b);
}

/*
 * No failure: A's repair lists k, but B, which has A's chmod and not the
 * repair, chmods f again, later by the clock than the repair.  Its record
 * (f only) wins over the repair's; A keeps the names its held record
 * listed that still lead to f.
 */
static void unlisted_by_later_op(void)
{
	struct side a = { 0 }, b = { 0 };
	struct mfs_inode attr = { .mode = S_IFREG | 0640 };
	uint64_t f, chmod_seq;

	if (mfs_db_open_mem(&a.db) || mfs_ns_open(a.db, &a.ns) || mfs_db_open_mem(&b.db) ||
	    mfs_ns_open(b.db, &b.ns))
		tap_bail("two stores");
	ok(!link_chmod_race(&a, &b, &f), "B links A's f as k; A, later by the clock, chmods f");
	chmod_seq = mfs_ns_seq(a.ns);
	is_int(send(&b, &a), 0, "A applies the link");
	lists_k(&a, f, "A, its repair done");
	ok(mfs_ns_seq(a.ns) > chmod_seq, "A's repair is an op");
	ok(!send_upto(&a, &b, chmod_seq) && !tick(&b, 20) &&
	   !mfs_ns_setattr(b.ns, f, &attr, MFS_ATTR_MODE, NULL),
	   "B gets A's ops up to the chmod, not the repair, and chmods f, later by the clock");
	is_int(send(&b, &a), 0, "A applies B's chmod");
	lists_k(&a, f, "A");
	is_int(send(&a, &b), 0, "B applies A's repairs");
	lists_k(&b, f, "B");
	close_two(&a, &b);
}

/* The inode (parent, name) leads to on s, or 0. */
static uint64_t entry_in(struct side *s, uint64_t parent, const char *name)
{
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_lookup(s->ns, parent, name, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

/* The inode an entry of s's root leads to, or 0. */
static uint64_t entry_of(struct side *s, const char *name)
{
	return entry_in(s, MFS_ROOT_INO, name);
}

/* A file as a writer makes it on ns: pending, then published (version 1); its inode or 0. */
static uint64_t write_new(struct mfs_ns *ns, uint64_t parent, const char *name)
{
	struct mfs_ns_new pending = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_inode in;
	uint64_t x;

	if (mfs_ns_create(ns, parent, name, &pending, &in))
		return 0;
	x = in.ino;
	mfs_inode_release(&in);
	if (mfs_ns_publish(ns, x, NULL, 0, NULL, NULL, &in))
		return 0;
	mfs_inode_release(&in);
	return x;
}

/* A rewrite of x on ns (a commit over it): the new version's inode, or 0. */
static uint64_t rewrite(struct mfs_ns *ns, uint64_t x)
{
	struct mfs_inode in;
	uint64_t y;

	if (mfs_ns_publish(ns, x, NULL, 0, NULL, NULL, &in))
		return 0;
	y = in.ino;
	mfs_inode_release(&in);
	return y;
}

/*
 * A rewrite whose repair a kill lost (ns_version.c note 8): A rewrites its
 * file f (Y, version 2) while B, which never saw the rewrite and is later
 * by the clock, renames f to g; B's op puts A's old record X back at g and
 * removes f.  A, Y's maker, gives Y the name g as it applies the rename;
 * that write fails here, as if A had been killed in between.  X then
 * lives at g with the old bytes and Y has no name: gc's nameless pass
 * dropped Y, the committed rewrite.  It now gives Y the name g.
 */
static void version_left(void)
{
	struct side a = { 0 }, b = { 0 };
	/* The third write of the rename's apply is Y's repair. */
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	struct mfs_ns_new pending = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_inode in;
	uint64_t x = 0, y = 0, ticked = 0;

	open_two_faulty(&a, &b);
	/* A file as a writer makes it: pending, then published (version 1). */
	if (!mfs_ns_create(a.ns, MFS_ROOT_INO, "f", &pending, &in)) {
		x = in.ino;
		mfs_inode_release(&in);
	}
	if (x && !mfs_ns_publish(a.ns, x, NULL, 0, NULL, NULL, &in)) {
		ok(in.ino == x && in.version == 1, "A writes f: X, version 1");
		mfs_inode_release(&in);
	}
	ok(x && !send(&a, &b), "A makes f; B has it");
	ok(!tick(&b, 20) && (ticked = mfs_ns_seq(b.ns)) &&
	   !mfs_ns_rename(b.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "B, later by the clock, renames f to g");
	y = rewrite(a.ns, x);
	ok(y && y != x && entry_of(&a, "f") == y, "A rewrites f: Y, version 2");
	is_int(send_upto(&b, &a, ticked), 0, "A applies B's ops before the rename");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&b, &a), 0, "A applies the rename, its repair's write failing");
	ok(mfs_db_fault_fired(a.db) == 1 && entry_of(&a, "g") == x && !entry_of(&a, "f"),
	   "A: g leads to X, the old version, and Y has no name (the state a kill there leaves)");
	mfs_db_fault_arm(a.db, NULL);
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's nameless pass on A repairs Y");
	ok(entry_of(&a, "g") == y && mfs_ns_get(a.ns, x, &in) == -ENOENT, "A: g leads to Y; X is gone");
	is_int(send(&a, &b), 0, "B applies A's ops");
	ok(entry_of(&b, "g") == y && !entry_of(&b, "f") && mfs_ns_get(b.ns, x, &in) == -ENOENT,
	   "B: g leads to Y; X is gone");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) == 0, "A's next gc finds nothing to repair");
	close_two(&a, &b);
}

/* Opens s with node id and inode space id (fixed: which of two equal clocks wins). */
static int open_as(struct side *s, mfs_node_t id)
{
	return mfs_ns_open(s->db, &s->ns) || mfs_ns_set_node_id(s->ns, id) ||
	       mfs_ns_set_space(s->ns, (uint16_t)id);
}

/* s: Y at lost+found/<P>-g, X's record gone, nothing left for gc. */
static void adopted_once(struct side *s, uint64_t p, uint64_t x, uint64_t y, const char *who)
{
	char lost[MFS_NAME_MAX + 1];
	struct mfs_inode in;
	uint64_t held;
	int gone;

	mfs_ns_lost_name(p, "g", lost);
	held = entry_in(s, MFS_LOST_INO, lost);
	gone = mfs_ns_get(s->ns, x, &in) == -ENOENT;
	if (!gone) {
		if (!ok(0, "%s: /lost+found/%s leads to Y, X's record is gone", who, lost))
			printf("# X lists %s (parent %llx), nlink %u; the entry leads to %s\n",
			       in.name ? in.name : "-", (unsigned long long)in.parent, in.nlink,
			       held == y ? "Y" : held == x ? "X" : "neither");
		mfs_inode_release(&in);
	} else if (!ok(held == y, "%s: /lost+found/%s leads to Y, X's record is gone", who, lost)) {
		printf("# the entry leads to %llx\n", (unsigned long long)held);
	}
	is_int(mfs_ns_drop_nameless(s->ns, NULL, NULL), 0, "%s: a further nameless pass finds nothing",
	       who);
}

/*
 * gc's passes over the names on two nodes, one after the other, the second
 * before the first's ops reached it (t1495, ci1 of s35).  A's rewrite Y of
 * P/f has no name and the old version X lives at P/g (B's rename, A's repair
 * lost: as in version_left); C, which had P empty, removed it, so P/g -> X
 * is an orphan.  A's pass gave Y X's names (ns_version.c note 8), P/g with
 * them, then moved P/g, Y's now, into lost+found; B's pass, which had seen
 * neither, moved P/g, X's there, to the same name, with X's record.  B's
 * op being later than A's repair and earlier than A's move, X's record came
 * back and the entry stayed Y's: X listed only a name in lost+found that led
 * to Y, on both nodes, and only A's next pass removed it.  Both passes now
 * move P/g before any repair of A's changes where it leads: the same op
 * twice, after which A's repair gives Y the name in lost+found.  With
 * b_ahead, B's clock has moved on: its move is the later of all, and A, as
 * it applies it, gives Y the name again (ns_version.c note 4).
 */
static void adopted_twice(int b_ahead)
{
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_db *base;
	/* The third write of the rename's apply is Y's repair. */
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	struct mfs_inode in;
	uint64_t p, x = 0, y = 0, ticked = 0;

	/* B's id the higher: of two ops of one clock, B's wins. */
	if (mfs_db_open_mem(&base) || mfs_db_fault_wrap(base, NULL, MFS_FAULT_OWN, &a.db) ||
	    open_as(&a, 0x1111) || mfs_db_open_mem(&b.db) || open_as(&b, 0x2222) ||
	    mfs_db_open_mem(&c.db) || open_as(&c, 0x3333))
		tap_bail("three stores");
	p = mk(a.ns, MFS_ROOT_INO, "P", S_IFDIR | 0755);
	ok(p && !send(&a, &b) && !send(&a, &c), "A makes P; B and C get it");
	x = write_new(a.ns, p, "f");
	ok(x && !send(&a, &b), "A writes P/f (X, version 1); B has it, C not");
	ok(!tick(&b, 20) && (ticked = mfs_ns_seq(b.ns)) &&
	   !mfs_ns_rename(b.ns, p, "f", p, "g", 0, NULL), "B, later by the clock, renames P/f to P/g");
	y = rewrite(a.ns, x);
	ok(y && y != x && entry_in(&a, p, "f") == y, "A rewrites P/f: Y, version 2");
	is_int(send_upto(&b, &a, ticked), 0, "A applies B's ops before the rename");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&b, &a), 0, "A applies the rename, its repair's write failing");
	ok(mfs_db_fault_fired(a.db) == 1 && entry_in(&a, p, "g") == x && !entry_in(&a, p, "f"),
	   "A: P/g leads to X and Y has no name (the state a kill there leaves)");
	mfs_db_fault_arm(a.db, NULL);
	ok(!tick(&c, 40) && !mfs_ns_remove(c.ns, MFS_ROOT_INO, "P", 1, NULL),
	   "C, which has P empty, removes it, later than all");
	ok(!send(&c, &a) && !send(&c, &b) && !send(&a, &b), "A and B get every op");
	ok(!mfs_ns_get(b.ns, y, &in) && !entry_in(&b, MFS_ROOT_INO, "P"),
	   "B too: P is gone, Y has no name");
	mfs_inode_release(&in);
	mfs_ns_repair_names(a.ns, NULL, NULL);
	ok(!tick(&b, b_ahead), "gc's pass on A; B's clock %s", b_ahead ? "moves on" : "stays");
	mfs_ns_repair_names(b.ns, NULL, NULL);
	ok(1, "gc's pass on B, which has not got A's ops yet");
	ok(!send(&a, &b) && !send(&b, &a) && !send(&a, &b),
	   "A and B exchange the passes' ops (and A's repairs as it applied B's)");
	adopted_once(&a, p, x, y, "A");
	adopted_once(&b, p, x, y, "B");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/* Does no entry lead to ino on s (1), or is there no record (-1)? */
static int nameless(struct side *s, uint64_t ino, uint64_t parent, const char *const *names)
{
	struct mfs_inode in;

	if (mfs_ns_get(s->ns, ino, &in))
		return -1;
	mfs_inode_release(&in);
	for (; *names; names++)
		if (entry_in(s, parent, *names) == ino)
			return 0;
	return 1;
}

/*
 * Two rewrites left with no name (t1495, ci2 of s35; ns_version.c note 9):
 * A and B rewrite A's file f at once (Y on A, Z on B; Z's name wins), then
 * C, which saw neither, renames f to g, later than both: the old version X
 * lives at g.  B, Z's maker, would give Z the name as it applies the
 * rename; that write fails here (a kill).  gc's pass on A, then on B before
 * A's ops reach it: each gave its own rewrite X's names, and the loser of
 * the two ops was left listing g, which led to the other, until its
 * maker's next pass.  Only Z, the later, may take them; A keeps Y while Z
 * has no name (note 10) and drops it as it applies B's repair
 * (ns_nameless.c note 9), not a pass later.
 */
static void two_rewrites_left(void)
{
	static const char *const fg[] = { "f", "g", NULL };
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_db *base;
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	uint64_t x = 0, y = 0, z = 0, ticked = 0;

	if (mfs_db_open_mem(&a.db) || open_as(&a, 0x1111) || mfs_db_open_mem(&base) ||
	    mfs_db_fault_wrap(base, NULL, MFS_FAULT_OWN, &b.db) || open_as(&b, 0x2222) ||
	    mfs_db_open_mem(&c.db) || open_as(&c, 0x3333))
		tap_bail("three stores");
	x = write_new(a.ns, MFS_ROOT_INO, "f");
	ok(x && !send(&a, &b) && !send(&a, &c), "A writes f (X, version 1); B and C have it");
	y = rewrite(a.ns, x);
	z = rewrite(b.ns, x);
	ok(y && z && y != z && z > y, "A and B rewrite f at once: Y on A, Z on B (version 2 both)");
	ok(!send(&a, &b) && !send(&b, &a) && entry_of(&a, "f") == z && entry_of(&b, "f") == z,
	   "they exchange: f is Z on both (B's, of one clock, wins)");
	ok(!tick(&c, 40) && (ticked = mfs_ns_seq(c.ns)) &&
	   !mfs_ns_rename(c.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "C, which saw neither rewrite, renames f to g, later than both");
	is_int(send_upto(&c, &b, ticked), 0, "B applies C's ops before the rename");
	if (mfs_db_fault_arm(b.db, &sp))
		tap_bail("arm");
	ok(!send(&c, &a) && !send(&c, &b) && mfs_db_fault_fired(b.db) == 1,
	   "A and B apply the rename; B's repair's write fails");
	mfs_db_fault_arm(b.db, NULL);
	ok(entry_of(&a, "g") == x && entry_of(&b, "g") == x && nameless(&a, y, MFS_ROOT_INO, fg) == 1 &&
	   nameless(&a, z, MFS_ROOT_INO, fg) == 1 && nameless(&b, y, MFS_ROOT_INO, fg) == 1 &&
	   nameless(&b, z, MFS_ROOT_INO, fg) == 1,
	   "on both, g leads to X; Y and Z have no name");
	mfs_ns_repair_names(a.ns, NULL, NULL);
	mfs_ns_repair_names(b.ns, NULL, NULL);
	ok(!send(&a, &b) && !send(&b, &a) && !send(&a, &b),
	   "gc's pass on A, then on B before A's ops reach it; they exchange");
	for (int i = 0; i < 2; i++) {
		struct side *s = i ? &b : &a;
		const char *who = i ? "B" : "A";

		if (!ok(entry_of(s, "g") == z && nameless(s, x, MFS_ROOT_INO, fg) == -1 &&
			nameless(s, y, MFS_ROOT_INO, fg) == -1,
			"%s: g leads to Z; X's and Y's records are gone", who))
			printf("# g leads to %llx; X %d, Y %d (-1 gone, 1 nameless)\n",
			       (unsigned long long)entry_of(s, "g"), nameless(s, x, MFS_ROOT_INO, fg),
			       nameless(s, y, MFS_ROOT_INO, fg));
		is_int(mfs_ns_drop_nameless(s->ns, NULL, NULL), 0,
		       "%s: a further nameless pass finds nothing", who);
	}
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/*
 * A nameless rewrite that waited for a later one whose maker let it go
 * (ns_version.c note 10; review of s36).  A and B rewrite A's file f at
 * once (Y on A, later by the clock, so f is Y's; Z on B, the later by
 * inode number).  B's pass drops Z, the loser of the two writes, before
 * C's rename of f to g, later than both, reaches B.  A applies the rename
 * (X back at g), its repair's write failing (a kill), before B's drop of Z
 * reaches it: Y and Z have no name there, and Z is the later.  A's pass
 * dropped Y at once, waiting for Z's maker to take the names; B never did
 * (Z was gone), and g showed X's old bytes for good on every node.  A now
 * keeps Y while Z lives without a name, and gives it g once Z is gone: as
 * it applies B's drop (ns_nameless.c note 9) or, if A restarted in between
 * (restart), in its next pass.
 */
static void rival_gone(int restart)
{
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_db *base;
	/* The third write of the rename's apply is Y's repair. */
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	struct mfs_inode in;
	uint64_t x = 0, y = 0, z = 0, ticked = 0;

	if (mfs_db_open_mem(&base) || mfs_db_fault_wrap(base, NULL, MFS_FAULT_OWN, &a.db) ||
	    open_as(&a, 0x1111) || mfs_db_open_mem(&b.db) || open_as(&b, 0x2222) ||
	    mfs_db_open_mem(&c.db) || open_as(&c, 0x3333))
		tap_bail("three stores");
	x = write_new(a.ns, MFS_ROOT_INO, "f");
	ok(x && !send(&a, &b) && !send(&a, &c), "A writes f (X, version 1); B and C have it");
	z = rewrite(b.ns, x);
	y = (z && !tick(&a, 10)) ? rewrite(a.ns, x) : 0;
	ok(y && z && z > y, "B rewrites f (Z), A too, later by the clock (Y; version 2 both)");
	ok(!send(&a, &b) && !send(&b, &a) && entry_of(&a, "f") == y && entry_of(&b, "f") == y,
	   "they exchange: f is Y on both");
	ok(mfs_ns_drop_nameless(b.ns, NULL, NULL) == 1 && mfs_ns_get(b.ns, z, &in) == -ENOENT,
	   "gc's pass on B drops Z, the loser (no older version has a name there)");
	ok(!tick(&c, 40) && (ticked = mfs_ns_seq(c.ns)) &&
	   !mfs_ns_rename(c.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "C, which saw neither rewrite, renames f to g, later than both");
	is_int(send_upto(&c, &a, ticked), 0, "A applies C's ops before the rename");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&c, &a), 0, "A applies the rename, its repair's write failing");
	ok(mfs_db_fault_fired(a.db) == 1 && entry_of(&a, "g") == x && !entry_of(&a, "f") &&
	   !mfs_ns_get(a.ns, z, &in), "A: g leads to X; Y and Z (B's drop not here yet) have no name");
	mfs_inode_release(&in);
	mfs_db_fault_arm(a.db, NULL);
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "gc's pass on A leaves Y for Z, the later");
	if (!ok(!mfs_ns_get(a.ns, y, &in), "A: Y's record stays"))
		printf("# Y was dropped: the names wait for Z's maker\n");
	else
		mfs_inode_release(&in);
	if (restart) {
		mfs_ns_close(a.ns);
		ok(!open_as(&a, 0x1111), "A restarts");
	}
	ok(!send(&b, &a) && mfs_ns_get(a.ns, z, &in) == -ENOENT, "A applies B's ops: Z is gone");
	if (restart) {
		ok(entry_of(&a, "g") == x, "A: g still leads to X (the note that Y waits is gone)");
		ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "A's next pass gives Y the names");
	}
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A: a pass finds nothing more");
	ok(!send(&c, &b) && !send(&a, &b) && !send(&a, &c) && !send(&b, &c),
	   "every node gets every op");
	for (int i = 0; i < 3; i++) {
		struct side *s = i == 2 ? &c : i ? &b : &a;
		const char *who = i == 2 ? "C" : i ? "B" : "A";

		if (!ok(entry_of(s, "g") == y && !entry_of(s, "f") &&
			mfs_ns_get(s->ns, x, &in) == -ENOENT, "%s: g leads to Y; X is gone", who))
			printf("# g leads to %s\n", entry_of(s, "g") == x ? "X" : "neither");
	}
	is_int(mfs_ns_drop_nameless(b.ns, NULL, NULL), 0, "B: a further pass finds nothing");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/* On s, node m's member record in state st. */
static int member_as(struct side *s, struct side *m, uint8_t st)
{
	struct mfs_member r = { .id = mfs_ns_node_id(m->ns), .state = st,
				.space = mfs_ns_space(m->ns) };

	snprintf(r.endpoint, sizeof(r.endpoint), "tcp://127.0.0.%d:7000", s == m ? 1 : 2);
	return mfs_ns_member_put(s->ns, &r);
}

/*
 * As in two_rewrites_left, but B, Z's maker, is removed from the cluster
 * before its pass: A adopts B's inode space (ns_merge.c note 5), and its
 * one pass looks at Y (which waits for Z), then at Z, which takes the
 * names.  Y must go in that pass too, not linger until the next
 * (ns_nameless.c note 9; t1495 saw one node's own rewrites do that).
 */
static void rival_adopted(void)
{
	static const char *const fg[] = { "f", "g", NULL };
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	uint64_t x = 0, y = 0, z = 0;

	if (mfs_db_open_mem(&a.db) || open_as(&a, 0x1111) || mfs_db_open_mem(&b.db) || open_as(&b, 0x2222) ||
	    mfs_db_open_mem(&c.db) || open_as(&c, 0x3333))
		tap_bail("three stores");
	x = write_new(a.ns, MFS_ROOT_INO, "f");
	ok(x && !send(&a, &b) && !send(&a, &c), "A writes f (X, version 1); B and C have it");
	y = rewrite(a.ns, x);
	z = rewrite(b.ns, x);
	ok(y && z && z > y && !send(&a, &b) && !send(&b, &a) && entry_of(&a, "f") == z,
	   "A and B rewrite f at once (Y, Z) and exchange: f is Z");
	ok(!tick(&c, 40) && !mfs_ns_rename(c.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "C, which saw neither rewrite, renames f to g, later than both");
	ok(!send(&c, &a) && entry_of(&a, "g") == x && nameless(&a, y, MFS_ROOT_INO, fg) == 1 &&
	   nameless(&a, z, MFS_ROOT_INO, fg) == 1,
	   "A applies the rename: g leads to X (B, Z's maker, would repair it), Y and Z no name");
	is_int(member_as(&a, &a, MFS_MEMBER_ACTIVE) | member_as(&a, &b, MFS_MEMBER_GONE), 0,
	       "B is removed from the cluster (on A): A adopts its space");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's pass on A");
	if (!ok(entry_of(&a, "g") == z && nameless(&a, x, MFS_ROOT_INO, fg) == -1 &&
		nameless(&a, y, MFS_ROOT_INO, fg) == -1,
		"A: g leads to Z; X's and Y's records are gone, after one pass"))
		printf("# g leads to %llx; X %d, Y %d (-1 gone, 1 nameless)\n",
		       (unsigned long long)entry_of(&a, "g"), nameless(&a, x, MFS_ROOT_INO, fg),
		       nameless(&a, y, MFS_ROOT_INO, fg));
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A: a further pass finds nothing");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/* Lines of the log file at path that hold what (-1: none read). */
static int lines_with(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

/*
 * A rewrite that waits, looked at again as its maker's rival is changed
 * but still has no name (ns_nameless.c note 9; s37).  As in
 * two_rewrites_left, with no kill: A and B rewrite A's file f at once (Y,
 * Z; f is Z's), and C's rename of f to g, later than both, puts the old
 * version X back at g on A.  A's pass keeps Y while Z has no name there.
 * B, which has not got the rename yet, chmods f, its Z: A applies an op
 * that puts Z's record and gives it no name.  A looked at Y again, found
 * it still waiting for Z, noted it again at the list's end, and met it
 * again in the same loop: for ever, under the namespace's lock (an alarm
 * makes that hang fail here).  Then it looked at Y once per such op,
 * reading every record each time; now not at all, as Z still has no
 * name.  Y must still be kept, and noted: it goes
 * as A applies B's next op on Z, B giving Z the name g as it applies the
 * rename, or (unlinked) B unlinking f, which deletes Z's record, after
 * which Y takes g.
 */
static void rival_touched(int unlinked)
{
	static const char *const fg[] = { "f", "g", NULL };
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_inode attr = { .mode = S_IFREG | 0600 }, in;
	uint64_t x = 0, y = 0, z = 0, won, lost;
	char dir[] = "/tmp/mfs-nlink-XXXXXX", log[64];
	int rc;

	if (mfs_db_open_mem(&a.db) || open_as(&a, 0x1111) || mfs_db_open_mem(&b.db) ||
	    open_as(&b, 0x2222) || mfs_db_open_mem(&c.db) || open_as(&c, 0x3333))
		tap_bail("three stores");
	x = write_new(a.ns, MFS_ROOT_INO, "f");
	ok(x && !send(&a, &b) && !send(&a, &c), "A writes f (X, version 1); B and C have it");
	y = rewrite(a.ns, x);
	z = rewrite(b.ns, x);
	ok(y && z && z > y && !send(&a, &b) && !send(&b, &a) && entry_of(&a, "f") == z &&
	   entry_of(&b, "f") == z, "A and B rewrite f at once (Y, Z) and exchange: f is Z");
	ok(!tick(&c, 40) && !mfs_ns_rename(c.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "C, which saw neither rewrite, renames f to g, later than both");
	ok(!send(&c, &a) && entry_of(&a, "g") == x && nameless(&a, y, MFS_ROOT_INO, fg) == 1 &&
	   nameless(&a, z, MFS_ROOT_INO, fg) == 1,
	   "A applies the rename: g leads to X, Y and Z have no name");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "gc's pass on A leaves Y for Z, the later");
	for (int i = 0; i < 3; i++)
		if (mfs_ns_setattr(b.ns, z, &attr, MFS_ATTR_MODE, NULL))
			tap_bail("chmod");
	ok(1, "B, which has not got the rename, chmods f (Z), three times");
	if (!mkdtemp(dir) || snprintf(log, sizeof(log), "%s/log", dir) < 0 ||
	    mfs_log_open(log, MFS_LOG_WARN, MFS_LOG_INFO))
		tap_bail("log");
	alarm(60);
	rc = send(&b, &a);
	alarm(0);
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_INFO);
	is_int(rc, 0, "A applies B's chmods (%s)", unlinked ? "then B unlinks f" : "B keeps f");
	/* Z still has no name: Y still waits, with no walk of every record per op. */
	is_int(lines_with(log, "kept while"), 0, "A: Y not looked at again (Z has no name yet)");
	unlink(log);
	rmdir(dir);
	ok(!mfs_ns_get(a.ns, z, &in) && (in.mode & 0777) == 0600 && entry_of(&a, "g") == x &&
	   nameless(&a, y, MFS_ROOT_INO, fg) == 1 && nameless(&a, z, MFS_ROOT_INO, fg) == 1,
	   "A: Z has B's mode and no name, g still leads to X, Y's record stays");
	mfs_inode_release(&in);
	if (unlinked) {
		ok(!mfs_ns_remove(b.ns, MFS_ROOT_INO, "f", 0, NULL) &&
		   mfs_ns_get(b.ns, z, &in) == -ENOENT,
		   "B unlinks f, its last name: Z's record is gone");
		won = y;
		lost = z;
	} else {
		ok(!send(&c, &b) && entry_of(&b, "g") == z,
		   "B applies the rename: B, Z's maker, gives Z the name g");
		won = z;
		lost = y;
	}
	ok(!send(&b, &a), "A applies B's ops");
	if (!ok(entry_of(&a, "g") == won && nameless(&a, x, MFS_ROOT_INO, fg) == -1 &&
		nameless(&a, lost, MFS_ROOT_INO, fg) == -1,
		"A: g leads to %s; X's and %s's records are gone, with no pass",
		unlinked ? "Y" : "Z", unlinked ? "Z" : "Y"))
		printf("# g leads to %llx; X %d, Y %d, Z %d (-1 gone, 1 nameless)\n",
		       (unsigned long long)entry_of(&a, "g"), nameless(&a, x, MFS_ROOT_INO, fg),
		       nameless(&a, y, MFS_ROOT_INO, fg), nameless(&a, z, MFS_ROOT_INO, fg));
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A: a further pass finds nothing");
	ok(!send(&c, &b) && !send(&a, &b) && !send(&a, &c) && !send(&b, &c) && !send(&c, &a) &&
	   !send(&b, &a), "every node gets every op");
	for (int i = 0; i < 3; i++) {
		struct side *s = i == 2 ? &c : i ? &b : &a;
		const char *who = i == 2 ? "C" : i ? "B" : "A";

		if (!ok(entry_of(s, "g") == won && !entry_of(s, "f") &&
			nameless(s, x, MFS_ROOT_INO, fg) == -1 &&
			nameless(s, lost, MFS_ROOT_INO, fg) == -1,
			"%s: g leads to %s; the other two records are gone", who,
			unlinked ? "Y" : "Z"))
			printf("# g leads to %llx; X %d, Y %d, Z %d (-1 gone, 1 nameless)\n",
			       (unsigned long long)entry_of(s, "g"), nameless(s, x, MFS_ROOT_INO, fg),
			       nameless(s, y, MFS_ROOT_INO, fg), nameless(s, z, MFS_ROOT_INO, fg));
	}
	is_int(mfs_ns_drop_nameless(b.ns, NULL, NULL), 0, "B: a further pass finds nothing");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
}

/* How many times s's record of f lists the root's name nm (-1: no record); its nlink in *nlink. */
static int times_listed(struct side *s, uint64_t f, const char *nm, uint32_t *nlink)
{
	struct mfs_inode in;
	int n = 0;

	*nlink = 0;
	if (mfs_ns_get(s->ns, f, &in))
		return -1;
	for (uint32_t i = 0; i <= in.nlinks; i++) {
		uint64_t p = i ? in.links[i - 1].parent : in.parent;
		const char *name = i ? in.links[i - 1].name : in.name;

		n += p == MFS_ROOT_INO && name && !strcmp(name, nm);
	}
	*nlink = in.nlink;
	mfs_inode_release(&in);
	return n;
}

/* s's f lists f (times f) and k (times k), nlink as many. */
static void listed_once(struct side *s, uint64_t f, int tf, int tk, const char *who)
{
	uint32_t nl;
	int nf = times_listed(s, f, "f", &nl), nk = times_listed(s, f, "k", &nl);

	if (!ok(nf == tf && nk == tk && nl == (uint32_t)(tf + tk),
		"%s: f lists f %d and k %d time(s), nlink %d", who, tf, tk, tf + tk))
		printf("# lists f %d and k %d time(s), nlink %u\n", nf, nk, nl);
}

/*
 * A makes f and links it as k; B has both.  A unlinks k while B, later by
 * the clock, chmods f: on B the unlink takes the entry k, and B's record,
 * the later, still lists k (A, the maker, would make it right on getting
 * B's chmod).  0 when B is there.
 */
static int stale_k(struct side *a, struct side *b, uint64_t *f)
{
	struct mfs_inode attr = { .mode = S_IFREG | 0600 }, in;
	uint32_t nl;

	*f = mk(a->ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	if (!*f || mfs_ns_link(a->ns, *f, MFS_ROOT_INO, "k", NULL) || send(a, b) ||
	    mfs_ns_remove(a->ns, MFS_ROOT_INO, "k", 0, NULL) || tick(b, 10) ||
	    mfs_ns_setattr(b->ns, *f, &attr, MFS_ATTR_MODE, NULL) || send(a, b))
		return -1;
	if (times_listed(b, *f, "k", &nl) != 1)
		return -1;
	if (!mfs_ns_lookup(b->ns, MFS_ROOT_INO, "k", &in)) {
		mfs_inode_release(&in);
		return -1; /* k leads somewhere */
	}
	return 0;
}

/* B renames f to k, a name its record of f lists already (stale): k once, nlink 1. */
static void rename_onto_listed(void)
{
	struct side a = { 0 }, b = { 0 };
	uint64_t f;

	open_two(&a, &b);
	ok(!stale_k(&a, &b, &f), "A unlinks f's second name k; B's record of f, the later, lists k still");
	is_int(mfs_ns_rename(b.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "k", 0, NULL), 0,
	       "B renames f to k");
	listed_once(&b, f, 0, 1, "B");
	ok(!send(&b, &a) && !send(&a, &b), "A and B exchange their ops");
	listed_once(&a, f, 0, 1, "A");
	listed_once(&b, f, 0, 1, "B after A's");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 0 && !send(&a, &b), "gc's pass on A");
	listed_once(&a, f, 0, 1, "A after gc");
	listed_once(&b, f, 0, 1, "B after A's gc");
	close_two(&a, &b);
}

/* B links f as k, a name its record of f lists already (stale): f and k once each, nlink 2. */
static void link_as_listed(void)
{
	struct side a = { 0 }, b = { 0 };
	uint64_t f;

	open_two(&a, &b);
	ok(!stale_k(&a, &b, &f), "as above: B's record of f lists k, which leads nowhere");
	is_int(mfs_ns_link(b.ns, f, MFS_ROOT_INO, "k", NULL), 0, "B links f as k");
	listed_once(&b, f, 1, 1, "B");
	ok(!send(&b, &a) && !send(&a, &b), "A and B exchange their ops");
	listed_once(&a, f, 1, 1, "A");
	listed_once(&b, f, 1, 1, "B after A's");
	/* Two unlinks: the record, listing each name once, goes with the last. */
	ok(!mfs_ns_remove(b.ns, MFS_ROOT_INO, "k", 0, NULL) &&
	   !mfs_ns_remove(b.ns, MFS_ROOT_INO, "f", 0, NULL), "B unlinks k, then f");
	is_int(nlink_of(b.ns, f), 0, "B: f's record went with its last name");
	close_two(&a, &b);
}

/*
 * A record that lists k twice, as the two ops above made it before: an op
 * of a third node C, later than all, carries it (k -> f, f's entry gone).
 * A, f's maker, lists k once as it applies it.
 */
static void twice_listed_healed(void)
{
	struct side a = { 0 }, b = { 0 };
	struct mfs_op_builder op;
	struct mfs_inode in = { 0 };
	struct mfs_wr w = { 0 };
	uint8_t key[8], kk[9], kf[9], v[12];
	uint64_t f;

	open_two(&a, &b);
	f = mk(a.ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	ok(f && !send(&a, &b) && !mfs_ns_get(a.ns, f, &in), "A makes f; B has it");
	free(in.name);
	in.name = strdup("k");
	mfs_inode_name_add(&in, MFS_ROOT_INO, "k");
	in.nlink = 2;
	mfs_inode_encode(&in, &w);
	mfs_ino_key(f, key);
	put_be64(kk, MFS_ROOT_INO);
	kk[8] = 'k';
	put_be64(kf, MFS_ROOT_INO);
	kf[8] = 'f';
	put_le64(v, f);
	put_le32(v + 8, in.mode);
	mfs_op_begin(&op);
	mfs_op_add(&op, MFS_OP_INODE, 0, key, 8, w.buf, w.len);
	mfs_op_add(&op, MFS_OP_DIRENT, 1, kf, 9, NULL, 0);
	mfs_op_add(&op, MFS_OP_DIRENT, 0, kk, 9, v, 12);
	ok(!w.oom && !mfs_op_finish(&op, 1000) &&
	   !mfs_ns_apply(a.ns, 0x7777, 1, op.w.buf, op.w.len, NULL, NULL) &&
	   !mfs_ns_apply(b.ns, 0x7777, 1, op.w.buf, op.w.len, NULL, NULL),
	   "C's op (f renamed to k, its record listing k twice) reaches A and B");
	listed_once(&a, f, 0, 1, "A");
	is_int(send(&a, &b), 0, "B applies A's repair");
	listed_once(&b, f, 0, 1, "B");
	mfs_op_release(&op);
	mfs_wr_release(&w);
	mfs_inode_release(&in);
	close_two(&a, &b);
}

/*
 * An op of a node that is not there (0x7777, seq seq, stamped at 1000,
 * later than all) that puts in's record and the root's entries names[]
 * leading to in (a NULL-terminated list; "-name" deletes the entry
 * name); applied on s, the write number
 * fault of its apply failing if fault is not 0.  0 if applied.
 */
static int foreign_op(struct side *s, uint64_t seq, const struct mfs_inode *in,
		      const char *const *names, int fault)
{
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, fault, MFS_FAULT_EIO } } };
	struct mfs_op_builder op;
	struct mfs_wr w = { 0 };
	uint8_t key[8], dk[8 + MFS_NAME_MAX], v[12];
	int rc;

	mfs_inode_encode(in, &w);
	mfs_ino_key(in->ino, key);
	put_le64(v, in->ino);
	put_le32(v + 8, in->mode);
	mfs_op_begin(&op);
	mfs_op_add(&op, MFS_OP_INODE, 0, key, 8, w.buf, w.len);
	for (; *names; names++) {
		int del = **names == '-';
		const char *nm = *names + del;

		put_be64(dk, MFS_ROOT_INO);
		memcpy(dk + 8, nm, strlen(nm));
		mfs_op_add(&op, MFS_OP_DIRENT, del, dk, 8 + strlen(nm), del ? NULL : v, del ? 0 : 12);
	}
	rc = w.oom || mfs_op_finish(&op, 1000) || (fault && mfs_db_fault_arm(s->db, &sp)) ||
	     mfs_ns_apply(s->ns, 0x7777, seq, op.w.buf, op.w.len, NULL, NULL) ||
	     (fault && mfs_db_fault_fired(s->db) != 1);
	if (fault)
		mfs_db_fault_arm(s->db, NULL);
	mfs_op_release(&op);
	mfs_wr_release(&w);
	return rc ? -1 : 0;
}

/*
 * A record that lists one name no entry keeps and misses one an entry
 * gives it (s36 gcrec, "seen but left alone").  First with a name that
 * still leads to it: an op of C's puts A's f listing f and s (s leads
 * nowhere) and the entry k -> f; A's repair of the list as it applies it
 * fails (a kill).  gc's pass drops s, then finds more entries than names
 * and lists k.
 */
static void stale_and_unlisted(void)
{
	static const char *const k[] = { "k", NULL };
	struct side a = { 0 }, b = { 0 };
	struct mfs_inode in = { 0 };
	uint32_t nl;
	uint64_t f;

	open_two_faulty(&a, &b);
	f = mk(a.ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	ok(f && !mfs_ns_get(a.ns, f, &in) && !mfs_inode_name_add(&in, MFS_ROOT_INO, "s"),
	   "A makes f");
	in.nlink = 2;
	ok(!foreign_op(&a, 1, &in, k, 3),
	   "C's op (f lists f and s; k -> f) reaches A, its repair's write failing");
	ok(times_listed(&a, f, "s", &nl) == 1 && times_listed(&a, f, "k", &nl) == 0 && nl == 2 &&
	   entry_of(&a, "k") == f && !entry_of(&a, "s"),
	   "A: f lists f and s, nlink 2; k leads to f, s nowhere (the state a kill there leaves)");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's nameless pass on A");
	if (!ok(times_listed(&a, f, "s", &nl) == 0, "A after gc: f does not list s"))
		printf("# lists s %d time(s)\n", times_listed(&a, f, "s", &nl));
	listed_once(&a, f, 1, 1, "A after gc");
	is_int(send(&a, &b), 0, "B applies A's ops");
	listed_once(&b, f, 1, 1, "B");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A's next pass finds nothing");
	mfs_inode_release(&in);
	close_two(&a, &b);
}

/*
 * The same with only the stale name listed: C's op renames f to k, its
 * record of f listing s alone.  One entry leads to f, and it lists one
 * name: gc's pass looked for unlisted entries only if entries outnumbered
 * the names, and its repair of the list wrote nothing when none of the
 * listed names led to the file.  f listed s for good (nlink right, the
 * name wrong: a lookup of k gave a record named s).
 */
static void only_stale_listed(void)
{
	static const char *const fk[] = { "-f", "k", NULL };
	struct side a = { 0 }, b = { 0 };
	struct mfs_inode in = { 0 };
	uint32_t nl;
	uint64_t f;

	open_two_faulty(&a, &b);
	f = mk(a.ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	ok(f && !mfs_ns_get(a.ns, f, &in), "A makes f");
	free(in.name);
	in.name = strdup("s");
	ok(!foreign_op(&a, 1, &in, fk, 3),
	   "C's op (f renamed to k, its record listing s) reaches A, its repair's write failing");
	ok(times_listed(&a, f, "s", &nl) == 1 && nl == 1 && entry_of(&a, "k") == f &&
	   !entry_of(&a, "s") && !entry_of(&a, "f"),
	   "A: f lists s, nlink 1; k leads to f, s nowhere (the state a kill there leaves)");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's nameless pass on A repairs f");
	if (!ok(times_listed(&a, f, "s", &nl) == 0 && times_listed(&a, f, "k", &nl) == 1 && nl == 1,
		"A after gc: f lists k alone, nlink 1"))
		printf("# lists s %d, k %d time(s), nlink %u\n", times_listed(&a, f, "s", &nl),
		       times_listed(&a, f, "k", &nl), nl);
	is_int(send(&a, &b), 0, "B applies A's ops");
	ok(times_listed(&b, f, "s", &nl) == 0 && times_listed(&b, f, "k", &nl) == 1 && nl == 1,
	   "B: f lists k alone, nlink 1");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A's next pass finds nothing");
	mfs_inode_release(&in);
	close_two(&a, &b);
}

/*
 * The older version's names that its record does not list (s36 gcrec,
 * "seen but left alone"): as in version_left, A's rewrite Y has no name
 * and X lives at g, the repair lost to a kill; then an op of C's gives X
 * the entry h, which X's record does not list, A's repair of the list
 * failing too.  gc's pass gave Y the names X listed, g, and deleted X: h
 * led to no record (hidden on every node), and the pass's own search for
 * X's unlisted entries found X gone.  Y must take h too.
 */
static void version_left_unlisted(void)
{
	static const char *const h[] = { "h", NULL };
	struct side a = { 0 }, b = { 0 };
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_WRITE, 3, MFS_FAULT_EIO } } };
	struct mfs_inode in = { 0 };
	uint64_t x = 0, y = 0, ticked = 0;
	uint32_t nl;

	open_two_faulty(&a, &b);
	x = write_new(a.ns, MFS_ROOT_INO, "f");
	ok(x && !send(&a, &b), "A writes f (X, version 1); B has it");
	ok(!tick(&b, 20) && (ticked = mfs_ns_seq(b.ns)) &&
	   !mfs_ns_rename(b.ns, MFS_ROOT_INO, "f", MFS_ROOT_INO, "g", 0, NULL),
	   "B, later by the clock, renames f to g");
	y = rewrite(a.ns, x);
	ok(y && y != x && entry_of(&a, "f") == y, "A rewrites f: Y, version 2");
	is_int(send_upto(&b, &a, ticked), 0, "A applies B's ops before the rename");
	if (mfs_db_fault_arm(a.db, &sp))
		tap_bail("arm");
	is_int(send(&b, &a), 0, "A applies the rename, its repair's write failing");
	mfs_db_fault_arm(a.db, NULL);
	ok(entry_of(&a, "g") == x && !entry_of(&a, "f") && !mfs_ns_get(a.ns, x, &in),
	   "A: g leads to X, and Y has no name");
	ok(!foreign_op(&a, 1, &in, h, 3) && !foreign_op(&b, 1, &in, h, 0),
	   "C's op (X listing g; h -> X) reaches A, its repair's write failing, and B");
	ok(entry_of(&a, "h") == x && times_listed(&a, x, "h", &nl) == 0,
	   "A: h leads to X, which does not list it (the state a kill there leaves)");
	ok(mfs_ns_drop_nameless(a.ns, NULL, NULL) >= 1, "gc's nameless pass on A repairs Y");
	is_int(send(&a, &b), 0, "B applies A's ops");
	for (int i = 0; i < 2; i++) {
		struct side *s = i ? &b : &a;
		const char *who = i ? "B" : "A";
		int tg = times_listed(s, y, "g", &nl), th = times_listed(s, y, "h", &nl);
		uint64_t g = entry_of(s, "g"), hh = entry_of(s, "h");

		if (!ok(g == y && hh == y && mfs_ns_get(s->ns, x, &in) == -ENOENT && tg == 1 &&
			th == 1 && nl == 2,
			"%s: g and h lead to Y, which lists both, nlink 2; X is gone", who))
			printf("# g -> %llx, h -> %llx (Y %llx); Y lists g %d, h %d time(s), nlink %u\n",
			       (unsigned long long)g, (unsigned long long)hh, (unsigned long long)y, tg,
			       th, nl);
	}
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "A's next pass finds nothing");
	mfs_inode_release(&in);
	close_two(&a, &b);
}

int main(void)
{
	struct side a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_inode attr = { .mode = S_IFDIR | 0700 }, in;
	uint64_t d;

	if (mfs_db_open_mem(&a.db) || mfs_ns_open(a.db, &a.ns) || mfs_db_open_mem(&b.db) ||
	    mfs_ns_open(b.db, &b.ns) || mfs_db_open_mem(&c.db) || mfs_ns_open(c.db, &c.ns))
		tap_bail("three stores");
	d = mk(a.ns, MFS_ROOT_INO, "D", S_IFDIR | 0755);
	ok(d && !send(&a, &b) && !send(&a, &c), "A makes D; B and C get it");
	is_int(mfs_ns_rename(a.ns, MFS_ROOT_INO, "D", MFS_ROOT_INO, "E", 0, NULL), 0,
	       "A renames D to E");
	ok(!tick(&b, 10) && !mfs_ns_remove(b.ns, MFS_ROOT_INO, "D", 1, NULL),
	   "B, later by the clock, removes D (it has not seen the rename)");
	ok(!tick(&c, 20) && !mfs_ns_setattr(c.ns, d, &attr, MFS_ATTR_MODE, NULL),
	   "C, later still, chmods D (it has seen neither)");
	is_int(send(&b, &a), 0, "A applies B's rmdir");
	is_int(mfs_ns_lookup(a.ns, MFS_ROOT_INO, "E", &in), -ENOENT, "A: E leads nowhere for now");
	dir_nlink_ok(&a, MFS_ROOT_INO, "the root", "A, after B's rmdir");
	is_int(send(&c, &a), 0, "A applies C's chmod");
	ok(mfs_ns_lookup(a.ns, MFS_ROOT_INO, "E", &in) == 0 && in.ino == d &&
	   (in.mode & 0777) == 0700, "A: E is D again, with C's mode");
	mfs_inode_release(&in);
	dir_nlink_ok(&a, MFS_ROOT_INO, "the root", "A, after C's chmod");
	is_int(send(&c, &b) | send(&a, &b), 0, "B applies C's and A's ops");
	dir_nlink_ok(&b, MFS_ROOT_INO, "the root", "B");
	is_int(send(&a, &c) | send(&b, &c), 0, "C applies A's and B's ops");
	dir_nlink_ok(&c, MFS_ROOT_INO, "the root", "C");
	close_two(&a, &b);
	mfs_ns_close(c.ns);
	mfs_db_close(c.db);
	moved_elsewhere();
	recount_left();
	name_list_left();
	unlisted_left();
	unlisted_by_later_op();
	version_left();
	adopted_twice(0);
	adopted_twice(5);
	two_rewrites_left();
	rival_gone(0);
	rival_gone(1);
	rival_adopted();
	rival_touched(0);
	rival_touched(1);
	rename_onto_listed();
	link_as_listed();
	twice_listed_healed();
	stale_and_unlisted();
	only_stale_listed();
	version_left_unlisted();
	return done_testing();
}
