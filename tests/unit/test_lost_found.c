/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lost+found (store/ns_orphan.c) on two in-memory stores that exchange
 * their ops: A creates a file and a directory in D while B removes D.  Once
 * both hold every op, both see the same two orphans; both adopt them at
 * once (the worst case: the same moves made twice), exchange again, and
 * hold the same tree with the entries in /lost+found and no orphan left.
 * A parent that was never seen is not an orphan's.  An orphan whose name in
 * lost+found another entry holds takes its own inode's name; so does a
 * second orphan of the same name, from a node that had not seen D go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "ns_sides.h"
#include "tap.h"

/* Each side applies every op of the other (already applied ones are skipped). */
static int exchange(struct side *a, struct side *b)
{
	return mfs_ns_ops_since(a->ns, mfs_ns_node_id(a->ns), 0, apply_cb, b->ns) |
	       mfs_ns_ops_since(b->ns, mfs_ns_node_id(b->ns), 0, apply_cb, a->ns) |
	       mfs_ns_ops_since(a->ns, mfs_ns_node_id(b->ns), 0, apply_cb, b->ns) |
	       mfs_ns_ops_since(b->ns, mfs_ns_node_id(a->ns), 0, apply_cb, a->ns);
}

struct found {
	struct mfs_ns *ns;
	int n;
	uint64_t parent[8], ino[8];
	char name[8][64];
};

static int note(void *arg, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	struct found *f = arg;

	(void)mode;
	if (f->n < 8) {
		f->parent[f->n] = parent;
		f->ino[f->n] = ino;
		snprintf(f->name[f->n], sizeof(f->name[0]), "%s", name);
	}
	f->n++;
	return 0;
}

/* The tree below dir as "name:ino " words, depth first. */
static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode);
struct dump {
	struct mfs_ns *ns;
	char buf[4096];
};

static void dump_dir(struct dump *d, uint64_t dir)
{
	mfs_ns_readdir(d->ns, dir, NULL, 0, dump_entry, d);
}

static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct dump *d = arg;
	size_t len = strlen(d->buf);

	snprintf(d->buf + len, sizeof(d->buf) - len, "%s:%llx%s ", name, (unsigned long long)ino,
		 S_ISDIR(mode) ? "{" : "");
	if (S_ISDIR(mode)) {
		dump_dir(d, ino);
		len = strlen(d->buf);
		snprintf(d->buf + len, sizeof(d->buf) - len, "} ");
	}
	return 0;
}

int main(void)
{
	struct side a = { 0 }, b = { 0 }, late = { 0 };
	static struct found fa, fb;
	static struct dump da, db;
	char lost[MFS_NAME_MAX + 1];
	struct mfs_inode in;
	uint64_t d, f, sub;

	if (mfs_db_open_mem(&a.db) || mfs_ns_open(a.db, &a.ns) || mfs_db_open_mem(&b.db) ||
	    mfs_ns_open(b.db, &b.ns) || mfs_ns_node_id(a.ns) == mfs_ns_node_id(b.ns))
		tap_bail("two stores");
	if (mfs_db_open_mem(&late.db) || mfs_ns_open(late.db, &late.ns))
		tap_bail("a late store");
	d = mk(a.ns, MFS_ROOT_INO, "D", S_IFDIR | 0755);
	ok(d && !exchange(&a, &b), "A makes D; B gets it");
	is_int(mfs_ns_ops_since(a.ns, mfs_ns_node_id(a.ns), 0, apply_cb, late.ns), 0,
	       "a third node, L, gets D and nothing after");
	f = mk(a.ns, d, "f", S_IFREG | 0644);
	sub = mk(a.ns, d, "sub", S_IFDIR | 0755);
	ok(f && sub, "A creates D/f and D/sub (B does not know yet)");
	is_int(mfs_ns_remove(b.ns, MFS_ROOT_INO, "D", 1, NULL), 0, "B removes D, empty there");
	fa.ns = a.ns;
	is_int(mfs_ns_orphans(a.ns, note, &fa), 0, "before the exchange, A has no orphan ...");
	is_int(fa.n, 0, "... none");
	is_int(exchange(&a, &b), 0, "they exchange their ops");
	is_int(mfs_ns_lookup(a.ns, MFS_ROOT_INO, "D", &in), -ENOENT, "D is gone on A");
	mfs_ns_orphans(a.ns, note, &fa);
	mfs_ns_orphans(b.ns, note, &fb);
	ok(fa.n == 2 && fb.n == 2 && fa.parent[0] == d && fa.parent[1] == d &&
	   !memcmp(fa.ino, fb.ino, sizeof(fa.ino)) && !strcmp(fa.name[0], "f") &&
	   !strcmp(fa.name[1], "sub"), "both find the same two orphans, f and sub of D");

	/* Both adopt at once, as two daemons' gc runs would. */
	for (int i = 0; i < 2; i++) {
		is_int(mfs_ns_adopt(a.ns, d, fa.name[i], fa.ino[i], lost), 0, "A moves one into lost+found");
		is_int(mfs_ns_adopt(b.ns, d, fb.name[i], fb.ino[i], lost), 0, "B moves it too");
	}
	is_int(mfs_ns_adopt(a.ns, d, "f", f, lost), -ESTALE, "moving it again: no longer an orphan");
	is_int(exchange(&a, &b), 0, "they exchange the moves");
	da.ns = a.ns;
	db.ns = b.ns;
	dump_dir(&da, MFS_ROOT_INO);
	dump_dir(&db, MFS_ROOT_INO);
	if (!ok(!strcmp(da.buf, db.buf), "the same tree on both"))
		printf("# A: %s\n# B: %s\n", da.buf, db.buf);
	mfs_ns_lost_name(d, "f", lost);
	ok(mfs_ns_lookup(b.ns, MFS_LOST_INO, lost, &in) == 0 && in.ino == f, "f is in lost+found");
	mfs_inode_release(&in);
	ok(mfs_ns_lookup(b.ns, MFS_ROOT_INO, MFS_LOST_NAME, &in) == 0 && in.ino == MFS_LOST_INO &&
	   S_ISDIR(in.mode) && (in.mode & 0777) == 0700 && in.nlink == 3,
	   "/lost+found: the fixed inode, mode 0700, nlink 3 (one subdirectory)");
	mfs_inode_release(&in);
	{
		char *path = mfs_ns_path(b.ns, sub);

		ok(path && !strncmp(path, "/lost+found/", 12), "sub's path runs through /lost+found");
		free(path);
	}
	fa.n = fb.n = 0;
	mfs_ns_orphans(a.ns, note, &fa);
	mfs_ns_orphans(b.ns, note, &fb);
	ok(fa.n == 0 && fb.n == 0, "no orphan left on either");

	/* L, which never saw D go, creates D/f: another orphan of the same name (note 5). */
	{
		static struct found fl;
		char lost2[MFS_NAME_MAX + 1];
		uint64_t g;
		int bad = 0;

		/* Later by the clock than A's moves: L's own ops move its clock on. */
		for (int i = 0; i < 40; i++)
			bad |= !mk(late.ns, MFS_ROOT_INO, "t", S_IFREG | 0644) ||
			       mfs_ns_remove(late.ns, MFS_ROOT_INO, "t", 0, NULL);
		g = mk(late.ns, d, "f", S_IFREG | 0644);
		ok(!bad && g && g != f, "L creates D/f, a new file, later than A's moves");
		is_int(mfs_ns_ops_since(late.ns, mfs_ns_node_id(late.ns), 0, apply_cb, a.ns), 0,
		       "A applies L's op");
		fl.ns = a.ns;
		mfs_ns_orphans(a.ns, note, &fl);
		if (!ok(fl.n == 1 && fl.ino[0] == g, "A finds L's D/f an orphan"))
			printf("# %d orphans, D/f on A: %d, D: %d\n", fl.n, mfs_ns_lookup(a.ns, d, "f", &in), mfs_ns_get(a.ns, d, &in));
		is_int(mfs_ns_adopt(a.ns, d, "f", g, lost2), 0, "A moves it into lost+found");
		mfs_ns_lost_name(d, "f", lost);
		ok(mfs_ns_lookup(a.ns, MFS_LOST_INO, lost, &in) == 0 && in.ino == f,
		   "the first f keeps its name in lost+found");
		mfs_inode_release(&in);
		ok(strcmp(lost2, lost) && mfs_ns_lookup(a.ns, MFS_LOST_INO, lost2, &in) == 0 &&
		   in.ino == g, "the second gets another");
		mfs_inode_release(&in);
		is_int(exchange(&a, &b) |
		       mfs_ns_ops_since(late.ns, mfs_ns_node_id(late.ns), 0, apply_cb, b.ns), 0,
		       "A and B exchange, B gets L's op");
		da.buf[0] = db.buf[0] = 0;
		dump_dir(&da, MFS_ROOT_INO);
		dump_dir(&db, MFS_ROOT_INO);
		if (!ok(!strcmp(da.buf, db.buf), "the same tree on both"))
			printf("# A: %s\n# B: %s\n", da.buf, db.buf);
		mfs_ns_close(late.ns);
		mfs_db_close(late.db);
	}

	/* An entry whose parent was never seen here (its creation not applied yet): note 1. */
	{
		struct side c = { 0 };
		uint64_t e, g;
		static struct found fc;

		if (mfs_db_open_mem(&c.db) || mfs_ns_open(c.db, &c.ns))
			tap_bail("third store");
		e = mk(b.ns, MFS_ROOT_INO, "E", S_IFDIR | 0755);
		is_int(exchange(&a, &b), 0, "B makes E; A gets it");
		g = mk(a.ns, e, "g", S_IFREG | 0644);
		ok(e && g, "A makes E/g");
		/* C gets A's ops only: E/g, but not B's creation of E (still on its way). */
		is_int(mfs_ns_ops_since(a.ns, mfs_ns_node_id(a.ns), 0, apply_cb, c.ns), 0,
		       "C applies A's ops, not yet B's");
		fc.ns = c.ns;
		mfs_ns_orphans(c.ns, note, &fc);
		is_int(fc.n, 0, "C: E/g is no orphan (E was never deleted, only not seen yet)");
		is_int(mfs_ns_ops_since(b.ns, mfs_ns_node_id(b.ns), 0, apply_cb, c.ns), 0,
		       "C applies B's ops");
		fc.n = 0;
		mfs_ns_orphans(c.ns, note, &fc);
		ok(fc.n == 0 && mfs_ns_lookup(c.ns, e, "g", &in) == 0, "C: E/g is reachable, no orphan");
		mfs_inode_release(&in);
		mfs_ns_close(c.ns);
		mfs_db_close(c.db);
	}
	/*
	 * An orphan's name in lost+found already taken by another entry (a
	 * merge moved a file away from the same parent and name, ns_merge.c):
	 * the orphan goes to its own inode's name, the file keeps its entry.
	 */
	{
		char lost2[MFS_NAME_MAX + 1];
		uint64_t d2, s2, y;
		char *path;

		d2 = mk(a.ns, MFS_ROOT_INO, "D2", S_IFDIR | 0755);
		ok(d2 && !exchange(&a, &b), "A makes D2; B gets it");
		s2 = mk(a.ns, d2, "s", S_IFDIR | 0755);
		is_int(mfs_ns_remove(b.ns, MFS_ROOT_INO, "D2", 1, NULL), 0,
		       "A makes D2/s while B removes D2");
		y = mk(a.ns, MFS_ROOT_INO, "y", S_IFREG | 0644);
		mfs_ns_lost_name(d2, "s", lost);
		is_int(mfs_ns_rename(a.ns, MFS_ROOT_INO, "y", MFS_LOST_INO, lost, 0, NULL), 0,
		       "a file y takes lost+found/<D2>-s");
		is_int(exchange(&a, &b), 0, "they exchange their ops");
		is_int(mfs_ns_adopt(a.ns, d2, "s", s2, lost2), 0, "A moves the orphan D2/s to lost+found");
		ok(strcmp(lost2, lost) != 0, "under a name of its own (%s)", lost2);
		is_int(exchange(&a, &b), 0, "and B gets the move");
		ok(mfs_ns_lookup(b.ns, MFS_LOST_INO, lost, &in) == 0 && in.ino == y,
		   "y keeps its entry lost+found/<D2>-s");
		mfs_inode_release(&in);
		path = mfs_ns_path(b.ns, s2);
		ok(path && !strncmp(path, "/lost+found/", 12), "s is in lost+found too (%s)",
		   path ? path : "no path");
		free(path);
	}
	mfs_ns_close(a.ns);
	mfs_db_close(a.db);
	mfs_ns_close(b.ns);
	mfs_db_close(b.db);
	return done_testing();
}
