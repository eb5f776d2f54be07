/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two stores that change the same names while apart, then exchange their
 * ops (store/ns/ns_merge.c, ns_apply.c):
 *  - both make one directory path and fill it: one directory on both, with
 *    everything either put in it; a name taken twice keeps one entry and
 *    the other goes to lost+found; a directory of more entries than one
 *    merge op moves;
 *  - one renames its directory away while the other makes a new one under
 *    the old name: the new one gets its name back;
 *  - one renames a file the other is still writing: the writer's publish
 *    is kept, in whichever order the ops arrive; so too where the writer
 *    unlinked or rewrote the file after its publish, and the later rename
 *    or chmod puts the old record back;
 *  - the directory a merge empties holds an entry of the winner itself:
 *    that second entry goes, and both stores keep one record of the winner;
 *  - directories that lose their names to files move to lost+found, and
 *    the store reports the change of lost+found's nlink (the root's too
 *    when the move makes lost+found): every apply in this file is checked
 *    for that (apply_cb).
 * Each case runs in both orders of exchange, and the trees must agree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/bytes.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "tap.h"

#define BIG 600 /* more than one merge op moves (MERGE_BATCH) */

struct node {
	char dir[32];
	struct mfs_db *db;
	struct mfs_ns *ns;
};

static void node_open(struct node *n)
{
	strcpy(n->dir, "/tmp/mfs-merge-XXXXXX");
	if (!mkdtemp(n->dir) || mfs_db_open(n->dir, NULL, &n->db) || mfs_ns_open(n->db, &n->ns))
		tap_bail("open a store");
}

static void node_close(struct node *n)
{
	char cmd[64];

	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", n->dir);
	if (system(cmd))
		tap_bail("rm");
}

/* The inodes an apply reports changed: the daemon tells the kernel of those (fuse/fs_remote.c). */
struct told {
	uint64_t ino[1024];
	int n;
};

static void told_fn(void *arg, const struct mfs_ns_change *c)
{
	struct told *t = arg;

	if (c->kind == MFS_CHANGE_INODE && t->n < 1024)
		t->ino[t->n++] = c->ino;
}

static int was_told(const struct told *t, uint64_t ino)
{
	for (int i = 0; i < t->n; i++)
		if (t->ino[i] == ino)
			return 1;
	return 0;
}

static uint32_t nlink_of(struct mfs_ns *ns, uint64_t ino)
{
	struct mfs_inode in;
	uint32_t n;

	if (mfs_ns_get(ns, ino, &in))
		return 0;
	n = in.nlink;
	mfs_inode_release(&in);
	return n;
}

/*
 * Applies that changed the nlink of lost+found or the root (a repair
 * moving a directory there) without reporting it: the kernel kept the old
 * one for good (t1496: lost+found's nlink one short on the repairing node).
 */
static int untold;

static int apply_cb(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	static const uint64_t watched[] = { MFS_LOST_INO, MFS_ROOT_INO };
	uint32_t before[2];
	struct told *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		tap_bail("oom");
	for (int i = 0; i < 2; i++)
		before[i] = nlink_of(arg, watched[i]);
	rc = mfs_ns_apply(arg, origin, seq, op, len, told_fn, t);
	for (int i = 0; i < 2; i++) {
		uint32_t after = nlink_of(arg, watched[i]);

		/* A directory made by this apply was not known before: nothing to tell. */
		if (before[i] && after != before[i] && !was_told(t, watched[i])) {
			printf("# inode %llx: nlink %u -> %u, not told\n",
			       (unsigned long long)watched[i], before[i], after);
			untold++;
		}
	}
	free(t);
	return rc ? -1 : 0;
}

/* from's own ops into to: 0 or -1. */
static int send(struct node *from, struct node *to)
{
	return mfs_ns_ops_since(from->ns, mfs_ns_node_id(from->ns), 0, apply_cb, to->ns) ? -1 : 0;
}

/* Until neither has an op the other lacks (repairs make new ops); first a to b, or b to a. */
static int exchange(struct node *a, struct node *b, int b_first)
{
	for (int round = 0; round < 8; round++) {
		uint64_t sa = mfs_ns_seq(a->ns), sb = mfs_ns_seq(b->ns);

		if (b_first ? send(b, a) || send(a, b) : send(a, b) || send(b, a))
			return -1;
		if (mfs_ns_seq(a->ns) == sa && mfs_ns_seq(b->ns) == sb && round)
			return 0;
	}
	return -1;
}

static uint64_t mk(struct node *n, uint64_t parent, const char *name, uint32_t mode,
		   uint32_t flags)
{
	struct mfs_ns_new nw = { .mode = mode, .flags = flags };
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_create(n->ns, parent, name, &nw, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

/* n ops on n: its Lamport clock moves ahead of the other store's. */
static void bump(struct node *n, uint64_t dir, int count)
{
	char name[16];

	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		if (!mk(n, dir, name, S_IFREG | 0644, 0))
			tap_bail("bump");
	}
}

/* A published file of size bytes (no manifest: the size tells the versions apart). */
static uint64_t mkfile(struct node *n, uint64_t parent, const char *name, uint64_t size)
{
	struct mfs_inode in;
	uint64_t ino = mk(n, parent, name, S_IFREG | 0644, MFS_I_PENDING);

	if (!ino || mfs_ns_publish(n->ns, ino, NULL, size, NULL, NULL, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

static uint64_t walk(struct node *n, const char *path)
{
	char buf[256], *save = NULL;
	uint64_t ino = MFS_ROOT_INO;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strtok_r(buf, "/", &save); p && ino; p = strtok_r(NULL, "/", &save)) {
		struct mfs_inode in;
		uint64_t parent = ino;

		ino = 0;
		if (!mfs_ns_lookup(n->ns, parent, p, &in)) {
			ino = in.ino;
			mfs_inode_release(&in);
		}
	}
	return ino;
}

static uint64_t size_of(struct node *n, const char *path)
{
	struct mfs_inode in;
	uint64_t ino = walk(n, path), size;

	if (!ino || mfs_ns_get(n->ns, ino, &in))
		return UINT64_MAX;
	size = in.size;
	mfs_inode_release(&in);
	return size;
}

/* The tree as text: path, type, size, nlink; every directory's record must name its entry. */
struct dump {
	struct mfs_ns *ns;
	char path[512];
	uint64_t dir;
	char *buf;
	size_t len, cap;
	int bad;
};

static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode);

static void dump_dir(struct dump *d, uint64_t dir)
{
	uint64_t saved = d->dir;

	d->dir = dir;
	mfs_ns_readdir(d->ns, dir, NULL, 0, dump_entry, d);
	d->dir = saved;
}

static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct dump *d = arg;
	struct mfs_inode in;
	size_t plen = strlen(d->path);
	int n;

	if (mfs_ns_get(d->ns, ino, &in))
		return 0;
	if (S_ISDIR(in.mode) && (in.parent != d->dir || strcmp(in.name, name)))
		d->bad = 1;
	if (d->cap - d->len < 1024 && !(d->buf = realloc(d->buf, d->cap += 65536)))
		tap_bail("oom");
	n = snprintf(d->buf + d->len, d->cap - d->len, "%s/%s %o %llu %u\n", d->path, name,
		     in.mode & S_IFMT, (unsigned long long)in.size, in.nlink);
	d->len += (size_t)n;
	mfs_inode_release(&in);
	if (S_ISDIR(mode)) {
		snprintf(d->path + plen, sizeof(d->path) - plen, "/%s", name);
		dump_dir(d, ino);
		d->path[plen] = 0;
	}
	return 0;
}

static char *dump(struct node *n, int *bad)
{
	struct dump d = { .ns = n->ns };

	d.buf = calloc(1, d.cap = 65536);
	dump_dir(&d, MFS_ROOT_INO);
	*bad |= d.bad;
	return d.buf;
}

static int same_trees(struct node *a, struct node *b)
{
	int bad = 0;
	char *x = dump(a, &bad), *y = dump(b, &bad);
	int same = !strcmp(x, y) && !bad;

	if (!same)
		printf("# a:\n%s# b:\n%s# directories naming their entry: %s\n", x, y,
		       bad ? "no" : "yes");
	free(x);
	free(y);
	return same;
}

/* How many entries of lost+found are files of size n. */
static int lost_files_of_size(struct node *n, uint64_t size)
{
	int bad = 0, count = 0;
	char *t = dump(n, &bad), *p = t, want[64];

	snprintf(want, sizeof(want), " %o %llu ", S_IFREG, (unsigned long long)size);
	while ((p = strstr(p, "/lost+found/"))) {
		char *eol = strchr(p, '\n');

		if (eol && strstr(p, want) && strstr(p, want) < eol)
			count++;
		p = eol ? eol : p + 1;
	}
	free(t);
	return count;
}

static void same_dir_both(int b_first)
{
	struct node a, b;
	uint64_t da, db, wa, wb, big;
	char name[32];

	node_open(&a);
	node_open(&b);
	da = mk(&a, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0);
	wa = mk(&a, da, "w", S_IFDIR | 0755, 0);
	db = mk(&b, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0);
	wb = mk(&b, db, "w", S_IFDIR | 0755, 0);
	mkfile(&a, wa, "f1", 11);
	mkfile(&b, wb, "f2", 22);
	mkfile(&a, wa, "same", 100);
	mkfile(&b, wb, "same", 200);
	mkfile(&a, da, "x", 1);
	mkfile(&b, mk(&b, db, "x", S_IFDIR | 0755, 0), "in", 2);
	big = mk(&b, db, "big", S_IFDIR | 0755, 0);
	for (int i = 0; i < BIG; i++) {
		snprintf(name, sizeof(name), "e%04d", i);
		mkfile(&b, big, name, 3);
	}
	mk(&a, mk(&a, da, "big", S_IFDIR | 0755, 0), "e0000", S_IFDIR | 0755, 0);
	is_int(exchange(&a, &b, b_first), 0, "same directory made on both (%s first): ops exchanged",
	       b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree, every directory named by its entry");
	ok(size_of(&a, "D/w/f1") == 11 && size_of(&a, "D/w/f2") == 22,
	   "D/w holds what each store put in it");
	ok(size_of(&a, "D/w/same") == 100 ? lost_files_of_size(&a, 200) == 1 :
	   size_of(&a, "D/w/same") == 200 && lost_files_of_size(&a, 100) == 1,
	   "D/w/same is one store's file, the other's is in lost+found");
	ok(size_of(&a, "D/x") == 1 ? lost_files_of_size(&a, 2) == 1 :
	   size_of(&a, "D/x/in") == 2 && lost_files_of_size(&a, 1) == 1,
	   "D/x: the file or the directory keeps the name, the other is in lost+found");
	ok(size_of(&a, "D/big/e0599") == 3 && size_of(&a, "D/big/e0001") == 3,
	   "a directory of %d entries merges whole", BIG);
	node_close(&a);
	node_close(&b);
}

static int count_dead(void *arg, uint64_t ino, uint64_t parent, const char *name)
{
	(void)ino, (void)parent, (void)name;
	++*(int *)arg;
	return 0;
}

/* b's D, seen on a where a's later D won the name, is dead there until b repairs it. */
static void dead_until_repaired(void)
{
	struct node a, b;
	int dead = 0;

	node_open(&a);
	node_open(&b);
	mkfile(&b, mk(&b, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0), "fb", 5);
	bump(&a, MFS_ROOT_INO, 8);
	mkfile(&a, mk(&a, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0), "fa", 6);
	is_int(send(&b, &a), 0, "b's ops reach a, a's not yet b");
	is_int(mfs_ns_dead_dirs(a.ns, count_dead, &dead), 0, "a lists dead directories");
	is_int(dead, 1, "b's D is one (fsck reports it), and a does not repair b's");
	ok(size_of(&a, "D/fa") == 6 && size_of(&a, "D/fb") == UINT64_MAX, "D on a is a's alone");
	is_int(exchange(&a, &b, 0), 0, "then the ops are exchanged");
	dead = 0;
	is_int(mfs_ns_dead_dirs(a.ns, count_dead, &dead) | mfs_ns_dead_dirs(b.ns, count_dead, &dead),
	       0, "both list dead directories");
	is_int(dead, 0, "none is left: b merged its D into a's");
	ok(size_of(&a, "D/fb") == 5 && size_of(&b, "D/fa") == 6 && same_trees(&a, &b),
	   "D holds both files on both");
	node_close(&a);
	node_close(&b);
}

/* A chmod on a, later by the clock than b's unlink, puts the record back with no name. */
static void attr_change_after_unlink(int b_first)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	int na = 0, nb = 0;
	uint64_t x;

	node_open(&a);
	node_open(&b);
	x = mkfile(&a, MFS_ROOT_INO, "x", 7);
	is_int(send(&a, &b), 0, "a makes x; b sees it");
	is_int(mfs_ns_remove(b.ns, MFS_ROOT_INO, "x", 0, NULL), 0, "b unlinks x");
	bump(&a, MFS_ROOT_INO, 8);
	mfs_ns_get(a.ns, x, &in);
	in.mode = S_IFREG | 0600;
	is_int(mfs_ns_setattr(a.ns, x, &in, MFS_ATTR_MODE, NULL), 0, "a chmods x, later");
	mfs_inode_release(&in);
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	if ((na = mfs_ns_get(a.ns, x, &in) == 0))
		mfs_inode_release(&in);
	if ((nb = mfs_ns_get(b.ns, x, &in) == 0))
		mfs_inode_release(&in);
	ok(walk(&a, "x") == 0 && walk(&b, "x") == 0 && na && nb,
	   "x is gone from both trees, its record left with no name on both");
	is_int(mfs_ns_drop_nameless(b.ns, NULL, NULL), 0, "b drops nothing: x is a's");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 1, "a drops its nameless record");
	is_int(exchange(&a, &b, 0), 0, "exchanged again");
	ok(mfs_ns_get(a.ns, x, &in) == -ENOENT && mfs_ns_get(b.ns, x, &in) == -ENOENT,
	   "no record is left on either");
	node_close(&a);
	node_close(&b);
}

static void name_given_back(int b_first)
{
	struct node a, b;
	uint64_t da;

	node_open(&a);
	node_open(&b);
	/* a's ops come later (Lamport): its rename's delete of the name D wins. */
	mk(&b, MFS_ROOT_INO, "spacer", S_IFREG | 0644, 0);
	mkfile(&b, mk(&b, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0), "fb", 5);
	da = mk(&a, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0);
	bump(&a, da, 8);
	mfs_ns_rename(a.ns, MFS_ROOT_INO, "D", MFS_ROOT_INO, "E", 0, NULL);
	is_int(exchange(&a, &b, b_first), 0, "a renames its D to E while b makes a D (%s first)",
	       b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	ok(size_of(&a, "D/fb") == 5 && walk(&a, "E") == da, "b's D keeps its name, a's is E");
	node_close(&a);
	node_close(&b);
}

static void rename_while_written(int b_first)
{
	struct node a, b;
	struct mfs_inode in;
	uint64_t p;

	node_open(&a);
	node_open(&b);
	p = mk(&a, MFS_ROOT_INO, "part", S_IFREG | 0644, MFS_I_PENDING);
	is_int(send(&a, &b), 0, "a makes a pending file; b sees it");
	bump(&b, MFS_ROOT_INO, 8); /* b's rename comes later (Lamport) */
	is_int(mfs_ns_rename(b.ns, MFS_ROOT_INO, "part", MFS_ROOT_INO, "final", 0, NULL), 0,
	       "b renames it");
	is_int(mfs_ns_publish(a.ns, p, NULL, 4096, NULL, NULL, &in), 0, "a publishes it in place");
	mfs_inode_release(&in);
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	ok(size_of(&a, "final") == 4096 && size_of(&b, "final") == 4096 && !walk(&a, "part"),
	   "the file is at b's name with a's bytes");
	node_close(&a);
	node_close(&b);
}

/* ino's record: absent on both, or on both with the same version and size. */
static int same_record(struct node *a, struct node *b, uint64_t ino)
{
	struct mfs_inode x = { 0 }, y = { 0 };
	int ra = mfs_ns_get(a->ns, ino, &x), rb = mfs_ns_get(b->ns, ino, &y);
	int same = ra == rb && (ra || (x.version == y.version && x.size == y.size));

	if (!same)
		printf("# inode %016llx: a %d v%llu size %llu, b %d v%llu size %llu\n",
		       (unsigned long long)ino, ra, (unsigned long long)x.version,
		       (unsigned long long)x.size, rb, (unsigned long long)y.version,
		       (unsigned long long)y.size);
	mfs_inode_release(&x);
	mfs_inode_release(&y);
	return same;
}

/*
 * a publishes a pending file and unlinks it while b, later by the clock,
 * renames it as b knew it, empty: b's rename puts the record back over a's
 * delete, and the file must hold a's bytes on both stores, though on a the
 * publish's record was gone when the rename's came.
 */
static void rename_after_publish_unlink(int b_first)
{
	struct node a, b;
	struct mfs_inode in;
	uint64_t p;

	node_open(&a);
	node_open(&b);
	p = mk(&a, MFS_ROOT_INO, "part", S_IFREG | 0644, MFS_I_PENDING);
	is_int(send(&a, &b), 0, "a makes a pending file; b sees it");
	is_int(mfs_ns_publish(a.ns, p, NULL, 4096, NULL, NULL, &in), 0, "a publishes it in place");
	mfs_inode_release(&in);
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "part", 0, NULL), 0, "a unlinks it");
	bump(&b, MFS_ROOT_INO, 8); /* b's rename comes later (Lamport) */
	is_int(mfs_ns_rename(b.ns, MFS_ROOT_INO, "part", MFS_ROOT_INO, "final", 0, NULL), 0,
	       "b renames it, later");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	ok(size_of(&a, "final") == 4096 && size_of(&b, "final") == 4096,
	   "final holds a's bytes on both: got %llu on a, %llu on b",
	   (unsigned long long)size_of(&a, "final"), (unsigned long long)size_of(&b, "final"));
	node_close(&a);
	node_close(&b);
}

/*
 * As above, but a rewrites the file after its publish (a new inode, the
 * old one's record deleted) while b, later by the clock, chmods it as b
 * knew it: whichever version keeps the name, both stores agree on it.
 */
static void chmod_after_publish_rewrite(int b_first)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	uint64_t p;

	node_open(&a);
	node_open(&b);
	p = mk(&a, MFS_ROOT_INO, "part", S_IFREG | 0644, MFS_I_PENDING);
	is_int(send(&a, &b), 0, "a makes a pending file; b sees it");
	is_int(mfs_ns_publish(a.ns, p, NULL, 4096, NULL, NULL, &in), 0, "a publishes it in place");
	mfs_inode_release(&in);
	is_int(mfs_ns_publish(a.ns, p, NULL, 8192, NULL, NULL, &in), 0,
	       "a rewrites it (a new inode)");
	mfs_inode_release(&in);
	bump(&b, MFS_ROOT_INO, 8);
	mfs_ns_get(b.ns, p, &in);
	in.mode = S_IFREG | 0600;
	is_int(mfs_ns_setattr(b.ns, p, &in, MFS_ATTR_MODE, NULL), 0, "b chmods it, later");
	mfs_inode_release(&in);
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	ok(size_of(&a, "part") == 8192, "part holds the rewrite: got %llu",
	   (unsigned long long)size_of(&a, "part"));
	ok(same_record(&a, &b, p), "the old inode's record is the same on both, if kept");
	node_close(&a);
	node_close(&b);
}

/* n's member record for the node of store m, in state st. */
static int put_member(struct node *n, struct node *m, uint8_t st)
{
	struct mfs_member r = { .id = mfs_ns_node_id(m->ns), .state = st,
				.space = mfs_ns_space(m->ns) };

	snprintf(r.endpoint, sizeof(r.endpoint), "tcp://127.0.0.%d:7000", m == n ? 1 : 2);
	return mfs_ns_member_put(n->ns, &r);
}

/*
 * b's dead D and b's file record with no name, on a, once b has left the
 * cluster: a, the only active member, repairs them in gc's passes.
 */
static void adopted_when_removed(void)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	int dead = 0;
	uint64_t y;

	node_open(&a);
	node_open(&b);
	bump(&a, mk(&a, MFS_ROOT_INO, "spacer", S_IFDIR | 0755, 0), 16);
	mkfile(&a, mk(&a, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0), "fa", 6);
	mkfile(&b, mk(&b, MFS_ROOT_INO, "D", S_IFDIR | 0755, 0), "fb", 5);
	y = mkfile(&b, MFS_ROOT_INO, "y", 9);
	is_int(send(&b, &a), 0, "b's D/fb and y reach a, whose later D keeps the name");
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "y", 0, NULL), 0, "a unlinks y");
	bump(&b, MFS_ROOT_INO, 32);
	mfs_ns_get(b.ns, y, &in);
	in.mode = S_IFREG | 0600;
	is_int(mfs_ns_setattr(b.ns, y, &in, MFS_ATTR_MODE, NULL), 0, "b chmods y, later");
	mfs_inode_release(&in);
	is_int(send(&b, &a), 0, "which reaches a: y's record is back with no name");
	is_int(put_member(&a, &a, MFS_MEMBER_ACTIVE) | put_member(&a, &b, MFS_MEMBER_ACTIVE), 0,
	       "a and b are active members (on a)");
	is_int(mfs_ns_dead_dirs(a.ns, count_dead, &dead), 0, "a lists dead directories");
	is_int(dead, 1, "b's D is one");
	is_int(mfs_ns_fix_dead_dirs(a.ns, NULL, NULL), 0, "a's gc leaves b's dead D to b");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 0, "and b's nameless y");
	is_int(put_member(&a, &b, MFS_MEMBER_GONE), 0, "b is removed from the cluster");
	is_int(mfs_ns_fix_dead_dirs(a.ns, NULL, NULL), 1, "a's gc merges b's dead D");
	dead = 0;
	is_int(mfs_ns_dead_dirs(a.ns, count_dead, &dead), 0, "a lists dead directories again");
	is_int(dead, 0, "none is left");
	ok(size_of(&a, "D/fa") == 6 && size_of(&a, "D/fb") == 5, "D holds both files");
	is_int(mfs_ns_drop_nameless(a.ns, NULL, NULL), 1, "a's gc drops b's nameless y");
	is_int(mfs_ns_get(a.ns, y, &in), -ENOENT, "y's record is gone");
	node_close(&a);
	node_close(&b);
}

/* The entries that lead to ino, in the whole namespace of n. */
static int entries_of(struct node *n, uint64_t ino)
{
	struct mfs_iter *it = mfs_iter_new(n->db, MFS_CF_DIRENTS, NULL, 0);
	int count = 0;

	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t vl;
		const uint8_t *v = mfs_iter_value(it, &vl);

		count += vl == 12 && get_le64(v) == ino;
	}
	mfs_iter_free(it);
	return count;
}

/*
 * b moves C into F while a moves F into C and then, later by the clock,
 * chmods C, whose record on a still names R/c: C must end with one entry,
 * and no cycle: C (in lost+found) and F inside it are reachable.
 */
static void rename_chmod_cycle(int b_first)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	uint64_t r, c, f;
	int bad = 0;
	char *t;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	c = mk(&a, r, "c", S_IFDIR | 0755, 0);
	f = mk(&a, r, "f", S_IFDIR | 0755, 0);
	mkfile(&a, f, "in-f", 7);
	mkfile(&a, c, "in-c", 8);
	is_int(send(&a, &b), 0, "a makes R/c and R/f; b sees them");
	is_int(mfs_ns_rename(b.ns, r, "c", f, "b", 0, NULL), 0, "b moves R/c to R/f/b");
	is_int(mfs_ns_rename(a.ns, r, "f", c, "f", 0, NULL), 0, "a moves R/f to R/c/f");
	bump(&a, MFS_ROOT_INO, 8);
	mfs_ns_get(a.ns, c, &in);
	in.mode = S_IFDIR | 0700;
	is_int(mfs_ns_setattr(a.ns, c, &in, MFS_ATTR_MODE, NULL), 0, "a chmods C, later");
	mfs_inode_release(&in);
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	is_int(entries_of(&a, c), 1, "C has one entry on a");
	is_int(entries_of(&b, c), 1, "C has one entry on b");
	t = dump(&a, &bad);
	ok(strstr(t, "/in-c ") && strstr(t, "/in-f ") && !bad,
	   "both files are reachable from the root, every directory named by its entry");
	if (!strstr(t, "/in-c ") || !strstr(t, "/in-f "))
		printf("# a:\n%s", t);
	free(t);
	node_close(&a);
	node_close(&b);
}

/*
 * a moves R/A into R/B while b moves R/B into R/A: each op alone is
 * right, together they make a cycle no path from the root reaches.  a,
 * which made both, moves one to lost+found as it applies b's op.
 */
static void cross_rename_cycle(int b_first)
{
	struct node a, b;
	uint64_t r, da, dbb;
	int bad = 0;
	char *t;


	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	da = mk(&a, r, "A", S_IFDIR | 0755, 0);
	dbb = mk(&a, r, "B", S_IFDIR | 0755, 0);
	mkfile(&a, da, "in-a", 3);
	mkfile(&a, dbb, "in-b", 4);
	is_int(send(&a, &b), 0, "a makes R/A and R/B; b sees them");
	is_int(mfs_ns_rename(a.ns, r, "A", dbb, "A", 0, NULL), 0, "a moves R/A into R/B");
	is_int(mfs_ns_rename(b.ns, r, "B", da, "B", 0, NULL), 0, "b moves R/B into R/A");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	/* a, which made both, broke the cycle as it applied b's op; gc finds no more. */
	is_int(mfs_ns_fix_dead_dirs(a.ns, NULL, NULL), 0, "a's gc pass finds nothing left");
	is_int(exchange(&a, &b, 0), 0, "exchanged again");
	ok(same_trees(&a, &b), "the trees agree");
	t = dump(&a, &bad);
	ok(strstr(t, "/in-a ") && strstr(t, "/in-b ") && strstr(t, "/lost+found/"),
	   "both files are reachable again, through lost+found");
	free(t);
	node_close(&a);
	node_close(&b);
}

/* a and b rename one directory, made by a, to two places at once: one entry of it is left. */
static void two_renames(int b_first)
{
	struct node a, b;
	uint64_t r, x, pa, pb;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	x = mk(&a, r, "x", S_IFDIR | 0755, 0);
	pa = mk(&a, r, "pa", S_IFDIR | 0755, 0);
	pb = mk(&a, r, "pb", S_IFDIR | 0755, 0);
	mkfile(&a, x, "in-x", 5);
	is_int(send(&a, &b), 0, "a makes R/x, R/pa, R/pb; b sees them");
	is_int(mfs_ns_rename(a.ns, r, "x", pa, "x", 0, NULL), 0, "a moves R/x to R/pa/x");
	is_int(mfs_ns_rename(b.ns, r, "x", pb, "y", 0, NULL), 0, "b moves R/x to R/pb/y");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	is_int(entries_of(&a, x), 1, "x has one entry on a");
	is_int(entries_of(&b, x), 1, "x has one entry on b");
	node_close(&a);
	node_close(&b);
}

/*
 * a moves its directory R/x to R/p/x while b, later by the clock, chmods
 * x, whose record on b still names R/x.  a, which made x, must leave its
 * record naming the entry that leads to it, in both orders of arrival:
 * where the chmod came last, a applied it and left x with a name that
 * led nowhere, until gc.
 */
static void rename_then_old_chmod(int b_first)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	uint64_t r, x, p;
	int bad = 0;
	char *t;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	x = mk(&a, r, "x", S_IFDIR | 0755, 0);
	p = mk(&a, r, "p", S_IFDIR | 0755, 0);
	mkfile(&a, x, "in-x", 6);
	is_int(send(&a, &b), 0, "a makes R/x and R/p; b sees them");
	is_int(mfs_ns_rename(a.ns, r, "x", p, "x", 0, NULL), 0, "a moves R/x to R/p/x");
	bump(&b, MFS_ROOT_INO, 8);
	mfs_ns_get(b.ns, x, &in);
	in.mode = S_IFDIR | 0700;
	is_int(mfs_ns_setattr(b.ns, x, &in, MFS_ATTR_MODE, NULL), 0, "b chmods x, later");
	mfs_inode_release(&in);
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree, x named by its entry");
	is_int(entries_of(&a, x), 1, "x has one entry on a");
	t = dump(&a, &bad);
	ok(strstr(t, "/R/p/x/in-x ") && !bad, "x is at R/p/x, its record names it");
	if (!strstr(t, "/R/p/x/in-x ") || bad)
		printf("# a:\n%s", t);
	free(t);
	node_close(&a);
	node_close(&b);
}

/*
 * As above, and b, after its chmod, moves x into R/q while a moves R/q
 * into x: where a applied the chmod without repair, b's rename then left
 * x two entries, R/p/x and R/q/x, each inside the other's subtree (the
 * kernel answers ELOOP for R/p/x/q/x: t1495, "Too many levels of
 * symbolic links").
 */
static void old_chmod_then_cycle(int b_first)
{
	struct node a, b;
	struct mfs_inode in = { 0 };
	uint64_t r, x, p, q;
	int bad = 0;
	char *t;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	x = mk(&a, r, "x", S_IFDIR | 0755, 0);
	p = mk(&a, r, "p", S_IFDIR | 0755, 0);
	q = mk(&a, r, "q", S_IFDIR | 0755, 0);
	mkfile(&a, x, "in-x", 6);
	mkfile(&a, q, "in-q", 7);
	is_int(send(&a, &b), 0, "a makes R/x, R/p and R/q; b sees them");
	is_int(mfs_ns_rename(a.ns, r, "x", p, "x", 0, NULL), 0, "a moves R/x to R/p/x");
	is_int(mfs_ns_rename(a.ns, r, "q", x, "q", 0, NULL), 0, "a moves R/q to R/p/x/q");
	bump(&b, MFS_ROOT_INO, 8);
	mfs_ns_get(b.ns, x, &in);
	in.mode = S_IFDIR | 0700;
	is_int(mfs_ns_setattr(b.ns, x, &in, MFS_ATTR_MODE, NULL), 0, "b chmods x, later");
	mfs_inode_release(&in);
	is_int(mfs_ns_rename(b.ns, r, "x", q, "x", 0, NULL), 0, "b moves R/x to R/q/x");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_trees(&a, &b), "the trees agree");
	is_int(entries_of(&a, x), 1, "x has one entry on a");
	is_int(entries_of(&b, x), 1, "x has one entry on b");
	t = dump(&a, &bad);
	ok(strstr(t, "/in-x ") && strstr(t, "/in-q ") && !bad,
	   "both files are reachable from the root, every directory named by its entry");
	if (!strstr(t, "/in-x ") || !strstr(t, "/in-q ") || bad)
		printf("# a:\n%s", t);
	free(t);
	node_close(&a);
	node_close(&b);
}

static int count_dead(void *arg, uint64_t ino, uint64_t parent, const char *name);

/* Do a and b hold one record of directory ino, of one name? */
static int same_name(struct node *a, struct node *b, uint64_t ino)
{
	struct mfs_inode x = { 0 }, y = { 0 };
	int ra = mfs_ns_get(a->ns, ino, &x), rb = mfs_ns_get(b->ns, ino, &y);
	int same = ra == rb && (ra || (x.parent == y.parent && x.name && y.name &&
					!strcmp(x.name, y.name)));

	if (!same)
		printf("# inode %016llx: a %d %016llx/%s, b %d %016llx/%s\n",
		       (unsigned long long)ino, ra, (unsigned long long)x.parent,
		       x.name ? x.name : "-", rb, (unsigned long long)y.parent,
		       y.name ? y.name : "-");
	mfs_inode_release(&x);
	mfs_inode_release(&y);
	return same;
}

/*
 * b makes R/x (D), with a file D/d; a makes R/y (Y) and moves D into it
 * as R/y/d while b, later by the clock, renames R/x to R/y.  Y loses its
 * name to D, and a merges Y into D: Y's entry d leads to D itself, a
 * second entry of D, and D/d is taken.  a's record of D must be the one
 * the merge op sends (t1496, seed 293917454: a's record kept the name
 * R/y while b's named the entry in lost+found the merge made, and fsck on
 * a reported D as a directory that lost its name, for good).
 */
static void merged_into_its_entry(int b_first)
{
	struct node a, b;
	uint64_t r, d, y;
	int dead_a = 0, dead_b = 0, bad = 0;
	char *t;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	is_int(send(&a, &b), 0, "a makes R; b sees it");
	d = mk(&b, r, "x", S_IFDIR | 0755, 0);
	mkfile(&b, d, "in-d", 3);
	mkfile(&b, d, "d", 5);
	is_int(send(&b, &a), 0, "b makes R/x (D) with a file d in it; a sees it");
	y = mk(&a, r, "y", S_IFDIR | 0755, 0);
	mkfile(&a, y, "in-y", 4);
	is_int(mfs_ns_rename(a.ns, r, "x", y, "d", 0, NULL), 0, "a makes R/y and moves D to R/y/d");
	bump(&b, MFS_ROOT_INO, 8);
	is_int(mfs_ns_rename(b.ns, r, "x", r, "y", 0, NULL), 0, "b, later, renames R/x to R/y");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(same_name(&a, &b, d), "a and b hold one name for D");
	ok(walk(&a, "R/y") == d && walk(&b, "R/y") == d, "D is R/y, b's later rename, on both");
	is_int(entries_of(&a, d), 1, "D has one entry on a");
	is_int(entries_of(&b, d), 1, "D has one entry on b");
	mfs_ns_dead_dirs(a.ns, count_dead, &dead_a);
	mfs_ns_dead_dirs(b.ns, count_dead, &dead_b);
	ok(dead_a == 0 && dead_b == 0, "no directory's name leads elsewhere (a %d, b %d)", dead_a,
	   dead_b);
	ok(same_trees(&a, &b), "the trees agree");
	t = dump(&a, &bad);
	ok(strstr(t, "/in-d ") && strstr(t, "/in-y ") && !bad,
	   "both files are reachable from the root, every directory named by its entry");
	if (!strstr(t, "/in-d ") || !strstr(t, "/in-y ") || bad)
		printf("# a:\n%s", t);
	free(t);
	node_close(&a);
	node_close(&b);
}

/*
 * a's directories R/x and R/y lose their names to b's files (later by the
 * clock): a, their maker, moves them to lost+found as it applies b's ops,
 * the first move making lost+found.  Each move changes lost+found's nlink
 * (and the first the root's) on a, and a must report it: the daemon
 * tells the kernel of the reported changes only, and a stat of
 * /lost+found on a showed one subdirectory less than b's for good (t1496).
 */
static void dir_lost_told(int b_first)
{
	struct node a, b;
	uint64_t r, x, y;
	int was = untold;

	node_open(&a);
	node_open(&b);
	r = mk(&a, MFS_ROOT_INO, "R", S_IFDIR | 0755, 0);
	is_int(send(&a, &b), 0, "a makes R; b sees it");
	x = mk(&a, r, "x", S_IFDIR | 0755, 0);
	y = mk(&a, r, "y", S_IFDIR | 0755, 0);
	mkfile(&a, x, "in-x", 3);
	ok(x && y, "a makes the directories R/x and R/y");
	bump(&b, MFS_ROOT_INO, 8);
	ok(mkfile(&b, r, "x", 1) && mkfile(&b, r, "y", 2), "b, later, makes the files R/x and R/y");
	is_int(exchange(&a, &b, b_first), 0, "ops exchanged (%s first)", b_first ? "b" : "a");
	ok(size_of(&a, "R/x") == 1 && size_of(&a, "R/y") == 2, "R/x and R/y are b's files on a");
	is_int(nlink_of(a.ns, MFS_LOST_INO), 4, "lost+found holds a's two directories (nlink 4)");
	ok(same_trees(&a, &b), "the trees agree");
	is_int(untold - was, 0, "a reported each change to the nlink of lost+found and the root");
	node_close(&a);
	node_close(&b);
}

int main(void)
{
	mfs_log_set_stderr_level(MFS_LOG_ERROR);
	for (int b_first = 0; b_first < 2; b_first++) {
		same_dir_both(b_first);
		name_given_back(b_first);
		rename_while_written(b_first);
		attr_change_after_unlink(b_first);
		rename_chmod_cycle(b_first);
		cross_rename_cycle(b_first);
		two_renames(b_first);
		rename_after_publish_unlink(b_first);
		chmod_after_publish_rewrite(b_first);
		rename_then_old_chmod(b_first);
		old_chmod_then_cycle(b_first);
		merged_into_its_entry(b_first);
		dir_lost_told(b_first);
	}
	dead_until_repaired();
	adopted_when_removed();
	is_int(untold, 0, "no apply above changed the nlink of lost+found or the root untold");
	return done_testing();
}
