/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revisions (store/ns/rev.h) on real RocksDB stores: made from a tree,
 * read by lookup, get and readdir (with resumed listings), unchanged by a
 * rewrite of the live file, read-only for every write, walked for gc and
 * fsck (mfs_rev_each_file), replicated by op to another store, deleted
 * there and gone here once its op comes back.  Last it times the making of
 * a revision of MFS_REV_BENCH files (default 1000) and prints the figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "store/ns/rev.h"
#include "tap.h"

struct node {
	char dir[64];
	struct mfs_db *db;
	struct mfs_ns *ns;
};

static void node_open(struct node *n, const char *base)
{
	snprintf(n->dir, sizeof(n->dir), "%s/mfs-rev-XXXXXX", base);
	if (!mkdtemp(n->dir) || mfs_db_open(n->dir, NULL, &n->db) || mfs_ns_open(n->db, &n->ns))
		tap_bail("open a store");
}

static void node_close(struct node *n)
{
	char cmd[128];

	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", n->dir);
	if (system(cmd))
		tap_bail("rm -rf %s", n->dir);
}

/* A manifest of one chunk (the chunk itself is not needed here). */
static struct mfs_hash stage_manifest(struct mfs_db *db, int seed)
{
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_hash h, id;

	memset(h.b, seed, sizeof(h.b));
	mfs_manifest_append(m, &h, 1000 + (uint32_t)seed);
	if (!m || !b || mfs_manifest_stage(b, m, &id) || mfs_db_write(db, b, MFS_WRITE_SYNC))
		tap_bail("stage a manifest");
	mfs_batch_free(b);
	mfs_manifest_unref(m);
	return id;
}

static uint64_t mk(struct mfs_ns *ns, uint64_t parent, const char *name, uint32_t mode,
		   const struct mfs_hash *content, uint64_t size)
{
	struct mfs_ns_new nw = { .mode = mode, .symlink = S_ISLNK(mode) ? "target" : NULL,
				 .flags = S_ISREG(mode) ? MFS_I_PENDING : 0 };
	struct mfs_inode in, out;
	uint64_t ino;

	if (mfs_ns_create(ns, parent, name, &nw, &in))
		tap_bail("create %s", name);
	ino = in.ino;
	mfs_inode_release(&in);
	if (S_ISREG(mode)) {
		if (mfs_ns_publish(ns, ino, content, size, NULL, NULL, &out))
			tap_bail("publish %s", name);
		ino = out.ino;
		mfs_inode_release(&out);
	}
	return ino;
}

/* Sends every op of a that b lacks, as a peer's pull would. */
struct pull { struct mfs_ns *to; int errors; };
static int apply_one(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct pull *p = arg;

	p->errors += mfs_ns_apply(p->to, origin, seq, op, len, NULL, NULL) != 0;
	return 0;
}

static int pull(struct node *from, struct node *to)
{
	struct pull p = { to->ns, 0 };
	mfs_node_t o[8];
	uint64_t s[8], have;
	int n = mfs_ns_vv(from->ns, o, s, 8);

	for (int i = 0; i < n; i++) {
		mfs_node_t oo[8];
		uint64_t ss[8];
		int m = mfs_ns_vv(to->ns, oo, ss, 8);

		have = 0;
		for (int k = 0; k < m; k++)
			if (oo[k] == o[i])
				have = ss[k];
		mfs_ns_ops_since(from->ns, o[i], have, apply_one, &p);
	}
	return p.errors;
}

struct names { char list[512]; int n; };
static int add_name(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct names *ns = arg;
	size_t l = strlen(ns->list);

	(void)mode;
	snprintf(ns->list + l, sizeof(ns->list) - l, "%s%s", l ? "," : "", name);
	ns->n += mfs_rev_is_ino(ino);
	return 0;
}

static int count_file(void *arg, const char *path, const struct mfs_inode *in)
{
	(void)in;
	if (!strncmp(path, "/.snapshots/r1/", 15))
		(*(int *)arg)++;
	return 0;
}

static uint64_t child(struct mfs_ns *ns, uint64_t dir, const char *name, struct mfs_inode *out)
{
	if (mfs_ns_lookup(ns, dir, name, out))
		return 0;
	return out->ino;
}

static void test_tree(void)
{
	struct node a, b;
	struct mfs_hash m1, m2;
	struct mfs_inode in = { 0 }, r = { 0 }, x = { 0 };
	struct names ls = { "", 0 };
	uint64_t d, sub, f0, rd, rf0;
	int files = 0;

	node_open(&a, "/tmp");
	node_open(&b, "/tmp");
	m1 = stage_manifest(a.db, 1);
	m2 = stage_manifest(a.db, 2);
	d = mk(a.ns, MFS_ROOT_INO, "d", S_IFDIR | 0755, NULL, 0);
	sub = mk(a.ns, d, "sub", S_IFDIR | 0700, NULL, 0);
	f0 = mk(a.ns, d, "f0", S_IFREG | 0644, &m1, 1001);
	mk(a.ns, d, "f1", S_IFREG | 0600, &m1, 1001);
	mk(a.ns, sub, "g", S_IFREG | 0644, &m1, 1001);
	mk(a.ns, d, "l", S_IFLNK | 0777, NULL, 0);
	mk(a.ns, d, "empty", S_IFDIR | 0755, NULL, 0);
	mfs_inode_xattr_set(&x, "user.k", "v", 1);
	mfs_ns_setattr(a.ns, f0, &x, MFS_ATTR_XATTR, NULL);
	mfs_inode_release(&x);

	is_int(mfs_ns_rev_create(a.ns, d, "r1", NULL), 0, "a revision of d");
	is_int(mfs_ns_rev_create(a.ns, d, "r1", NULL), -EEXIST, "the name again: EEXIST");
	is_int(mfs_ns_rev_create(a.ns, d, "..", NULL), -EINVAL, "'..': EINVAL");
	is_int(mfs_ns_rev_create(a.ns, d, "a/b", NULL), -EINVAL, "'a/b': EINVAL");
	is_int(mfs_ns_rev_create(a.ns, f0, "r2", NULL), -ENOTDIR, "of a file: ENOTDIR");

	rd = child(a.ns, MFS_REVS_INO, "r1", &r);
	ok(rd && mfs_rev_is_ino(rd) && S_ISDIR(r.mode) && r.nlink == 4 && r.parent == MFS_REVS_INO,
	   "/.snapshots/r1: a directory with 2 subdirectories, in revision inode space");
	mfs_inode_release(&r);
	is_int(mfs_ns_readdir(a.ns, rd, NULL, 0, add_name, &ls), 0, "readdir of r1");
	ok(!strcmp(ls.list, "empty,f0,f1,l,sub") && ls.n == 5, "r1 lists its entries in name order");
	memset(&ls, 0, sizeof(ls));
	mfs_ns_readdir(a.ns, rd, "f1", 0, add_name, &ls);
	ok(!strcmp(ls.list, "l,sub"), "a listing resumed after f1: %s", ls.list);
	memset(&ls, 0, sizeof(ls));
	mfs_ns_readdir(a.ns, rd, NULL, 3, add_name, &ls);
	ok(!strcmp(ls.list, "l,sub"), "a listing after skipping 3: %s", ls.list);
	rf0 = child(a.ns, rd, "f0", &r);
	ok(rf0 && r.has_manifest && !memcmp(&r.manifest, &m1, sizeof(m1)) && r.size == 1001 &&
	   mfs_inode_xattr_get(&r, "user.k") && r.fid == rf0, "r1/f0: the manifest, size, xattr");
	mfs_inode_release(&r);
	ok(child(a.ns, rd, "l", &r) && r.symlink && !strcmp(r.symlink, "target"), "r1/l: a symlink");
	mfs_inode_release(&r);
	is_int(mfs_ns_lookup(a.ns, rd, "nope", &r), -ENOENT, "r1/nope: ENOENT");

	/* A rewrite of the live file: a new inode; the revision's keeps its bytes. */
	if (mfs_ns_publish(a.ns, f0, &m2, 1002, NULL, NULL, &x))
		tap_bail("rewrite f0");
	mfs_inode_release(&x);
	ok(child(a.ns, rd, "f0", &r) && !memcmp(&r.manifest, &m1, sizeof(m1)), "r1/f0 after a rewrite: old");
	mfs_inode_release(&r);

	/* Writes into a revision. */
	is_int(mfs_ns_create(a.ns, rd, "n", &(struct mfs_ns_new){ .mode = S_IFREG | 0644 }, &in),
	       -EROFS, "create in r1: EROFS");
	is_int(mfs_ns_create(a.ns, MFS_ROOT_INO, MFS_REVS_NAME,
			     &(struct mfs_ns_new){ .mode = S_IFDIR | 0755 }, &in), -EEXIST,
	       "mkdir /.snapshots: EEXIST");
	is_int(mfs_ns_remove(a.ns, rd, "f0", 0, NULL), -EROFS, "unlink in r1: EROFS");
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, MFS_REVS_NAME, 1, NULL), -EROFS, "rmdir /.snapshots");
	is_int(mfs_ns_rename(a.ns, rd, "f0", d, "z", 0, NULL), -EROFS, "rename out of r1: EROFS");
	is_int(mfs_ns_rename(a.ns, d, "f1", rd, "z", 0, NULL), -EROFS, "rename into r1: EROFS");
	is_int(mfs_ns_link(a.ns, rf0, d, "hl", NULL), -EROFS, "link of r1/f0: EROFS");
	is_int(mfs_ns_setattr(a.ns, rf0, &x, MFS_ATTR_MODE, NULL), -EROFS, "chmod r1/f0: EROFS");
	is_int(mfs_ns_publish(a.ns, rf0, &m2, 1002, NULL, NULL, &x), -EROFS, "publish r1/f0: EROFS");
	is_int(mfs_ns_rev_create(a.ns, rd, "r3", NULL), -EROFS, "a revision of a revision: EROFS");

	is_int(mfs_rev_each_file(a.db, count_file, NULL, &files), 0, "the files of every revision");
	is_int(files, 3, "r1 names 3 files with bytes (f0, f1, sub/g)");

	/* Replication: b gets r1 with a's ops, deletes it; a gets the delete. */
	is_int(pull(&a, &b), 0, "b applies a's ops");
	ok(child(b.ns, MFS_REVS_INO, "r1", &r) && child(b.ns, r.ino, "f0", &x) &&
	   !memcmp(&x.manifest, &m1, sizeof(m1)), "b: r1/f0 with the manifest of when it was taken");
	mfs_inode_release(&r);
	mfs_inode_release(&x);
	is_int(mfs_ns_rev_delete(b.ns, "r1"), 0, "b deletes r1");
	is_int(mfs_ns_rev_delete(b.ns, "r1"), -ENOENT, "and again: ENOENT");
	is_int(pull(&b, &a), 0, "a applies b's ops");
	is_int(mfs_ns_lookup(a.ns, MFS_REVS_INO, "r1", &r), -ENOENT, "a: r1 is gone");
	is_int(mfs_ns_get(a.ns, rf0, &r), -ENOENT, "a: r1/f0 by inode number is gone");
	files = 0;
	mfs_rev_each_file(a.db, count_file, NULL, &files);
	is_int(files, 0, "no revision file left for gc to keep");
	is_int(mfs_ns_rev_create(a.ns, d, "r1", NULL), 0, "the name can be taken again");
	node_close(&a);
	node_close(&b);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Figures, not a test: the making of a revision of n files, 100 per directory. */
static void bench(int n)
{
	struct node a;
	struct mfs_rev_info ri;
	struct mfs_hash m;
	struct timespec t0, c0, c1;
	double wall;
	uint64_t top, dir = 0;
	char name[32];
	int rc;

	node_open(&a, access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	m = stage_manifest(a.db, 7);
	top = mk(a.ns, MFS_ROOT_INO, "t", S_IFDIR | 0755, NULL, 0);
	for (int i = 0; i < n; i++) {
		if (i % 100 == 0) {
			snprintf(name, sizeof(name), "d%05d", i / 100);
			dir = mk(a.ns, top, name, S_IFDIR | 0755, NULL, 0);
		}
		snprintf(name, sizeof(name), "model-%06d.safetensors", i);
		mk(a.ns, dir, name, S_IFREG | 0644, &m, 1007);
	}
	if (getenv("MFS_REV_PAUSE")) {
		fprintf(stderr, "PID %d\n", (int)getpid());
		sleep(3);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mfs_ns_rev_create(a.ns, top, "bench", &ri);
	wall = ms_since(&t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	printf("# revision of %d files: %s, %.1f ms in all (CPU %.1f ms), walk %.1f ms, namespace "
	       "lock %.2f ms, record %llu bytes (%.1f per entry)\n", n, rc ? mfs_strerror(rc) : "made",
	       wall, (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6,
	       (double)ri.walk_us / 1e3, (double)ri.locked_us / 1e3,
	       (unsigned long long)ri.record_bytes, (double)ri.record_bytes / (double)ri.entries);
	ok(!rc && ri.files == (uint64_t)n, "a revision of %d files", n);
	if (getenv("MFS_REV_TWICE")) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = mfs_ns_rev_create(a.ns, top, "bench2", &ri);
		printf("# again: %.1f ms in all, walk %.1f ms, lock %.2f ms\n", ms_since(&t0),
		       (double)ri.walk_us / 1e3, (double)ri.locked_us / 1e3);
	}
	/* What a peer does with it: the check (before its namespace lock), then the first read. */
	{
		uint8_t key[2 + 5] = { 'r', 'v', 'b', 'e', 'n', 'c', 'h' };
		struct mfs_inode r;
		struct mfs_val v;
		double check_ms, index_ms;

		if (mfs_db_get(a.db, MFS_CF_META, key, sizeof(key), &v, 1))
			tap_bail("the record");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = mfs_rev_check(v.p, v.len);
		check_ms = ms_since(&t0);
		mfs_val_release(&v);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc |= mfs_ns_lookup(a.ns, MFS_REVS_INO, "bench", &r);
		index_ms = ms_since(&t0);
		mfs_inode_release(&r);
		printf("# revision of %d files on a peer: check %.1f ms (before the lock), "
		       "first lookup (index) %.1f ms\n", n, check_ms, index_ms);
		is_int(rc, 0, "the record checks and reads");
	}
	node_close(&a);
}

int main(void)
{
	const char *env = getenv("MFS_REV_BENCH");

	mfs_log_set_stderr_level(MFS_LOG_WARN);
	test_tree();
	bench(env ? atoi(env) : 1000);
	return done_testing();
}
