/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace snapshots and the op log's bound (store/ns/ns_snap.c,
 * store/ns/ns_trim.c), on in-memory stores.
 *
 * A snapshot stands for the ops it covers: a fresh node that merges one
 * holds byte for byte the namespace of the node that made it; a node with
 * concurrent changes of its own that merges one holds what a node that
 * applied both nodes' ops holds; merging again changes nothing; the ops
 * after the snapshot then apply on top.  Trimming drops exactly the ops
 * asked for, never past a gc mark's vector, and the log keeps working.
 * Damaged images (every truncation, random byte changes) are refused with
 * nothing written, or, where the damage still makes a well-formed image,
 * merged without harm.  A file record put back over a tombstone takes the
 * bytes kept for it, from an image as from ops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hash.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/maint/gc_marks.h"
#include "store/ns/inode.h"
#include "store/ns/allow.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "tap.h"

struct node {
	struct mfs_db *db;
	struct mfs_ns *ns;
	mfs_node_t id;
};

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void node_open(struct node *n, const struct node *other)
{
	do {
		if (n->ns)
			mfs_ns_close(n->ns);
		if (n->db)
			mfs_db_close(n->db);
		if (mfs_db_open_mem(&n->db) || mfs_ns_open(n->db, &n->ns))
			tap_bail("open a store");
		n->id = mfs_ns_node_id(n->ns);
	} while (other && (other->id == n->id || mfs_ns_space(other->ns) == mfs_ns_space(n->ns)));
}

static void node_close(struct node *n)
{
	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	memset(n, 0, sizeof(*n));
}

/*
 * A directory's record as it should agree between nodes.  A directory's
 * ctime is not convergent even through ops alone: a record that loses by
 * stamp brings nothing, so the ctime of a chmod that lost depends on
 * whether it arrived before or after the winner (put_record_merged takes
 * the max with what is held).  The root's record is written by each store
 * at its creation, unstamped, with that moment's times.
 */
static void hash_dir_record(struct mfs_xxh64_state *st, const uint8_t *k, const uint8_t *v,
			    size_t vl)
{
	struct mfs_wr w = { 0 };
	struct mfs_inode in;

	if (mfs_inode_decode(get_be64(k), v, vl, &in))
		tap_bail("a stored directory record does not decode");
	in.ctime.tv_sec = in.ctime.tv_nsec = 0;
	if (in.ino == MFS_ROOT_INO)
		in.mtime = in.atime = in.ctime;
	mfs_inode_encode(&in, &w);
	mfs_xxh64_update(st, w.buf, w.len);
	mfs_wr_release(&w);
	mfs_inode_release(&in);
}

/* A fingerprint of the namespace: inodes, dirents, stamps, manifests. */
static uint64_t ns_hash(struct node *n)
{
	static const enum mfs_cf cfs[] = { MFS_CF_INODES, MFS_CF_DIRENTS, MFS_CF_STAMPS,
					   MFS_CF_MANIFESTS };
	struct mfs_xxh64_state st;

	mfs_xxh64_init(&st, 0);
	for (size_t c = 0; c < sizeof(cfs) / sizeof(cfs[0]); c++) {
		struct mfs_iter *it = mfs_iter_new(n->db, cfs[c], NULL, 0);

		if (!it)
			tap_bail("iter");
		for (; mfs_iter_valid(it); mfs_iter_next(it)) {
			size_t kl, vl;
			const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
			uint64_t lens[3] = { (uint64_t)cfs[c], kl, vl };

			mfs_xxh64_update(&st, lens, sizeof(lens));
			mfs_xxh64_update(&st, k, kl);
			if (cfs[c] == MFS_CF_INODES && vl >= 8 && S_ISDIR(get_le32(v + 4)))
				hash_dir_record(&st, k, v, vl);
			else
				mfs_xxh64_update(&st, v, vl);
		}
		mfs_iter_free(it);
	}
	return mfs_xxh64_digest(&st);
}

/* ---- a random workload --------------------------------------------------------- */

#define MAX_NAMES 512
struct names {
	uint64_t parent[MAX_NAMES];
	char name[MAX_NAMES][16];
	int dir[MAX_NAMES];
	int n;
};

static void remember(struct names *w, uint64_t parent, const char *name, int dir)
{
	if (w->n == MAX_NAMES)
		return;
	w->parent[w->n] = parent;
	snprintf(w->name[w->n], sizeof(w->name[0]), "%s", name);
	w->dir[w->n++] = dir;
}

/* A directory to work in: the root or one remembered (it may be gone: calls then fail). */
static uint64_t some_dir(struct node *n, struct names *w)
{
	struct mfs_inode in;
	uint64_t ino = MFS_ROOT_INO;
	int k = w->n ? (int)(next_rand() % (uint64_t)w->n) : 0;

	if (w->n && w->dir[k] && !mfs_ns_lookup(n->ns, w->parent[k], w->name[k], &in)) {
		ino = in.ino;
		mfs_inode_release(&in);
	}
	return ino;
}

static void publish(struct node *n, uint64_t parent, const char *name, int seed)
{
	struct mfs_ns_new nw = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_batch *b = mfs_batch_new(n->db);
	struct mfs_inode in, out;
	struct mfs_hash id, h;

	if (!m || !b)
		tap_bail("alloc");
	memset(h.b, seed, sizeof(h.b));
	mfs_manifest_append(m, &h, 100 + (uint32_t)seed);
	if (mfs_manifest_stage(b, m, &id) || mfs_db_write(n->db, b, MFS_WRITE_SYNC))
		tap_bail("store a manifest");
	if (!mfs_ns_create(n->ns, parent, name, &nw, &in)) {
		if (!mfs_ns_publish(n->ns, in.ino, &id, m->size, NULL, NULL, &out))
			mfs_inode_release(&out);
		mfs_inode_release(&in);
	}
	mfs_batch_free(b);
	mfs_manifest_unref(m);
}

/* count namespace operations of every kind, most of which succeed. */
static void workload(struct node *n, struct names *w, int count, const char *tag)
{
	for (int i = 0; i < count; i++) {
		uint64_t d = some_dir(n, w), k = next_rand();
		int j = w->n ? (int)(k % (uint64_t)w->n) : 0;
		struct mfs_ns_new nw = { .mode = S_IFDIR | 0755 };
		struct mfs_inode in = { 0 };
		char name[16];

		snprintf(name, sizeof(name), "%s%d", tag, i);
		switch (k % 7) {
		case 0:
			if (!mfs_ns_create(n->ns, d, name, &nw, &in)) {
				remember(w, d, name, 1);
				mfs_inode_release(&in);
			}
			break;
		case 1: case 2:
			publish(n, d, name, (int)(k % 200));
			remember(w, d, name, 0);
			break;
		case 3:
			if (w->n)
				mfs_ns_rename(n->ns, w->parent[j], w->name[j], d, name, 0, NULL);
			break;
		case 4:
			if (w->n)
				mfs_ns_remove(n->ns, w->parent[j], w->name[j], w->dir[j], NULL);
			break;
		case 5:
			in.mode = 0700 | (uint32_t)(k % 8);
			mfs_ns_setattr(n->ns, d, &in, MFS_ATTR_MODE, NULL);
			break;
		default:
			nw.mode = S_IFLNK | 0777;
			nw.symlink = "somewhere";
			if (!mfs_ns_create(n->ns, d, name, &nw, &in))
				mfs_inode_release(&in);
		}
	}
}

/* ---- moving state ---------------------------------------------------------------- */

static int apply_errors;

static int apply_to(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct node *to = arg;

	if (mfs_ns_apply(to->ns, origin, seq, op, len, NULL, NULL)) {
		apply_errors++;
		return 1;
	}
	return 0;
}

static uint64_t vv_of(struct node *n, mfs_node_t origin)
{
	mfs_node_t o[64];
	uint64_t s[64];
	int k = mfs_ns_vv(n->ns, o, s, 64);

	for (int i = 0; i < k; i++)
		if (o[i] == origin)
			return s[i];
	return 0;
}

/* to pulls from `from` every op of every origin it lacks. */
static void pull(struct node *to, struct node *from)
{
	mfs_node_t o[64];
	uint64_t s[64];
	int k = mfs_ns_vv(from->ns, o, s, 64);

	for (int i = 0; i < k; i++)
		if (mfs_ns_ops_since(from->ns, o[i], vv_of(to, o[i]), apply_to, to))
			apply_errors++;
}

static void image_of(struct node *n, struct mfs_wr *w)
{
	memset(w, 0, sizeof(*w));
	if (mfs_ns_snap_build(n->ns, w, NULL))
		tap_bail("build a snapshot");
}

static int same_vv(struct node *a, struct node *b)
{
	mfs_node_t o[64];
	uint64_t s[64];
	int k = mfs_ns_vv(a->ns, o, s, 64), same = k == mfs_ns_vv(b->ns, o, s, 64);

	for (int i = 0; i < k && same; i++)
		same = vv_of(b, o[i]) == s[i];
	return same;
}

static int count_ops(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	(void)origin, (void)seq, (void)op, (void)len;
	(*(int *)arg)++;
	return 0;
}

static int ops_held(struct node *n, mfs_node_t origin)
{
	int c = 0;

	mfs_ns_ops_since(n->ns, origin, 0, count_ops, &c);
	return c;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_fresh_and_merge(void)
{
	struct node a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct names wa = { 0 }, wb = { 0 };
	struct mfs_snap_info info;
	struct mfs_wr img;
	uint64_t held, folded;

	node_open(&a, NULL);
	node_open(&b, &a);
	workload(&a, &wa, 300, "a");
	pull(&b, &a);
	/* Concurrent changes on both, many to the same directories. */
	wb = wa;
	workload(&a, &wa, 300, "x");
	workload(&b, &wb, 300, "y");

	node_open(&c, NULL);
	image_of(&a, &img);
	is_int(mfs_ns_snap_check(img.buf, img.len, &info), 0, "a's image checks");
	ok(info.records > 600, "it holds the records (%llu)", (unsigned long long)info.records);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "a fresh node merges it");
	ok(ns_hash(&c) == ns_hash(&a), "the fresh node's namespace is a's (byte for byte but directories' ctime)");
	ok(same_vv(&a, &c), "with a's version vector");
	mfs_ns_log_held(c.ns, &held, &folded);
	ok(held == 0 && folded == vv_of(&a, a.id) + vv_of(&a, b.id),
	   "it holds no ops; its log base is the image's vector (%llu folded)",
	   (unsigned long long)folded);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, &info), 0, "merging it again...");
	ok(info.won == 0 && ns_hash(&c) == ns_hash(&a), "... changes nothing");

	/* b has ops a lacks: merging a's image must equal applying a's ops. */
	node_open(&d, NULL);
	pull(&d, &a);
	pull(&d, &b);
	is_int(mfs_ns_snap_apply(b.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "b, with concurrent changes of its own, merges a's image");
	ok(ns_hash(&b) == ns_hash(&d), "b now holds what a node with every op of both holds");
	ok(same_vv(&b, &d), "and the same version vector");
	ok(ops_held(&b, a.id) == 0 && ops_held(&b, b.id) == (int)vv_of(&b, b.id),
	   "b holds none of a's ops below the image, all of its own");
	mfs_wr_release(&img);

	/* The tail after the image arrives as ops. */
	workload(&a, &wa, 100, "z");
	workload(&b, &wb, 100, "w");
	/* The repairs a node makes as it applies ops (store/ns/ns_version.c) are
	 * ops of its own, which the next round carries, as sync.c's next pull. */
	for (int round = 0; round < 3; round++) {
		pull(&b, &a);
		pull(&c, &a);
		pull(&c, &b);
		pull(&d, &a);
		pull(&d, &b);
		pull(&a, &b);
	}
	is_int(apply_errors, 0, "the ops after the image apply on every node");
	ok(ns_hash(&a) == ns_hash(&d) && ns_hash(&b) == ns_hash(&d) && ns_hash(&c) == ns_hash(&d),
	   "all four converge");
	node_close(&a);
	node_close(&b);
	node_close(&c);
	node_close(&d);
}

static uint64_t size_at(struct node *n, const char *name)
{
	struct mfs_inode in;
	uint64_t size;

	if (mfs_ns_lookup(n->ns, MFS_ROOT_INO, name, &in))
		return UINT64_MAX;
	size = in.size;
	mfs_inode_release(&in);
	return size;
}

/*
 * a creates a pending file "part", which b pulls; b, later by the clock
 * (8 files first), renames it to "final" while a publishes it in place
 * with 4096 bytes.  Neither has the other's op yet.
 */
static void rename_races_publish(struct node *a, struct node *b)
{
	struct mfs_ns_new nw = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_inode in;
	uint64_t p;

	if (mfs_ns_create(a->ns, MFS_ROOT_INO, "part", &nw, &in))
		tap_bail("create");
	p = in.ino;
	mfs_inode_release(&in);
	pull(b, a);
	nw.flags = 0;
	for (int i = 0; i < 8; i++) { /* b's rename comes later (Lamport) */
		char name[8];

		snprintf(name, sizeof(name), "t%d", i);
		if (mfs_ns_create(b->ns, MFS_ROOT_INO, name, &nw, &in))
			tap_bail("create");
		mfs_inode_release(&in);
	}
	is_int(mfs_ns_rename(b->ns, MFS_ROOT_INO, "part", MFS_ROOT_INO, "final", 0, NULL), 0,
	       "b renames a's pending file");
	is_int(mfs_ns_publish(a->ns, p, NULL, 4096, NULL, NULL, &in), 0, "a publishes it in place");
	mfs_inode_release(&in);
}

/*
 * b renames a file a is still writing, later by the clock, and a
 * publishes it in place; b then merges a's image, where the publish's
 * record loses to b's rename: the file must hold a's bytes on b as on a,
 * which gets b's rename as an op (ns_apply.c, the content rule).
 */
static void test_image_later_bytes(void)
{
	struct node a = { 0 }, b = { 0 };
	struct mfs_wr img;

	node_open(&a, NULL);
	node_open(&b, &a);
	rename_races_publish(&a, &b);
	image_of(&a, &img);
	is_int(mfs_ns_snap_apply(b.ns, img.buf, img.len, NULL, NULL, NULL), 0, "b merges a's image");
	mfs_wr_release(&img);
	pull(&a, &b);
	is_int(apply_errors, 0, "a applies b's ops");
	ok(size_at(&a, "final") == 4096 && size_at(&b, "final") == 4096,
	   "final holds a's bytes on both: got %llu on a, %llu on b",
	   (unsigned long long)size_at(&a, "final"), (unsigned long long)size_at(&b, "final"));
	node_close(&a);
	node_close(&b);
}

/*
 * a publishes a pending file and unlinks it while b, later by the clock,
 * renames it as b knew it: b's rename puts the record back with a's bytes
 * on every node (ns_apply.c, kept bytes), on b that merges a's image where
 * the file is a tombstone, and on a fresh node c that merges it first and
 * then gets b's rename as an op.
 */
static void test_image_kept_bytes(void)
{
	struct node a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_wr img;

	node_open(&a, NULL);
	node_open(&b, &a);
	node_open(&c, &b);
	rename_races_publish(&a, &b);
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "part", 0, NULL), 0, "a unlinks it");
	image_of(&a, &img);
	is_int(mfs_ns_snap_apply(b.ns, img.buf, img.len, NULL, NULL, NULL), 0, "b merges a's image");
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, NULL), 0, "so does c");
	mfs_wr_release(&img);
	pull(&a, &b);
	pull(&c, &b);
	is_int(apply_errors, 0, "a and c apply b's ops");
	ok(size_at(&a, "final") == 4096 && size_at(&b, "final") == 4096 &&
	   size_at(&c, "final") == 4096,
	   "final holds a's bytes on all three: got %llu on a, %llu on b, %llu on c",
	   (unsigned long long)size_at(&a, "final"), (unsigned long long)size_at(&b, "final"),
	   (unsigned long long)size_at(&c, "final"));
	ok(ns_hash(&a) == ns_hash(&b) && ns_hash(&b) == ns_hash(&c), "the three namespaces agree");
	node_close(&a);
	node_close(&b);
	node_close(&c);
}

struct tail {
	struct node *to;
	int n;
};

static int count_applied(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct tail *t = arg;

	t->n++;
	return apply_to(t->to, origin, seq, op, len);
}

/*
 * The image is read at a view taken under the lock, and writers go on
 * meanwhile (mfs_ns_snap_begin/_end): their commits and the ops they apply
 * during the build are neither in the image nor lost; the node that merges
 * it gets exactly them as the tail, and then holds the source's namespace.
 */
static void test_built_under_writes(void)
{
	struct node a = { 0 }, b = { 0 }, c = { 0 }, e = { 0 };
	struct names wa = { 0 }, wb = { 0 };
	struct mfs_snap_info info;
	struct mfs_ns_snap_job job;
	struct mfs_wr img = { 0 };
	uint64_t at_begin, a_seq0, b_seq0;
	struct tail tail = { &c, 0 };
	mfs_node_t o[64];
	uint64_t sq[64];
	int k;

	node_open(&a, NULL);
	node_open(&b, &a);
	workload(&a, &wa, 300, "a");
	workload(&b, &wb, 100, "b");
	pull(&a, &b);
	at_begin = ns_hash(&a);
	a_seq0 = vv_of(&a, a.id);
	b_seq0 = vv_of(&a, b.id);
	is_int(mfs_ns_snap_begin(a.ns, &img, &info, &job), 0, "an image's point in time is taken");
	/* Meanwhile: local commits, and remote ops applied. */
	workload(&a, &wa, 300, "m");
	workload(&b, &wb, 100, "n");
	pull(&a, &b);
	ok(ns_hash(&a) != at_begin, "a's namespace changed during the build");
	is_int(mfs_ns_snap_end(a.ns, &job, &img, &info), 0, "the image is read after them");
	ok(mfs_ns_snap_vv(img.buf, img.len, o, sq, 64) == 2, "its vector names both origins");

	node_open(&e, &a);
	is_int(mfs_ns_snap_apply(e.ns, img.buf, img.len, NULL, NULL, NULL), 0, "a fresh node merges it");
	ok(ns_hash(&e) == at_begin && vv_of(&e, a.id) == a_seq0 && vv_of(&e, b.id) == b_seq0,
	   "it is the namespace and the vector of the moment it was begun, nothing after");

	node_open(&c, &a);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, NULL), 0, "a joiner merges it");
	k = mfs_ns_vv(a.ns, o, sq, 64);
	for (int i = 0; i < k; i++)
		if (mfs_ns_ops_since(a.ns, o[i], vv_of(&c, o[i]), count_applied, &tail))
			apply_errors++;
	is_int(apply_errors, 0, "then pulls the tail from the source");
	is_int(tail.n, (int)(vv_of(&a, a.id) - a_seq0 + vv_of(&a, b.id) - b_seq0),
	       "the tail is exactly the ops made and applied during the build");
	ok(ns_hash(&c) == ns_hash(&a) && same_vv(&c, &a),
	   "image + tail = the source's namespace and vector");
	mfs_wr_release(&img);
	node_close(&a);
	node_close(&b);
	node_close(&c);
	node_close(&e);
}

/* A gc mark (doc/format.md) for a chunk, with a one-origin vector. */
static void put_mark(struct node *n, mfs_node_t origin, uint64_t seq)
{
	uint8_t key[3 + MFS_HASH_LEN] = "gc:", v[4 + 8 + 16];
	struct mfs_batch *b = mfs_batch_new(n->db);

	memset(key + 3, 0xab, MFS_HASH_LEN);
	v[0] = 2, v[1] = 0;
	put_le16(v + 2, 1);
	put_le64(v + 4, 1);
	put_le64(v + 12, origin);
	put_le64(v + 20, seq);
	mfs_batch_put(b, MFS_CF_META, key, sizeof(key), v, sizeof(v));
	if (mfs_db_write(n->db, b, MFS_WRITE_SYNC))
		tap_bail("write a mark");
	mfs_batch_free(b);
}

static void test_trim(void)
{
	struct node a = { 0 }, b = { 0 };
	struct names wa = { 0 };
	uint64_t dropped, held, folded, all;
	mfs_node_t o;
	uint64_t upto;

	node_open(&a, NULL);
	node_open(&b, &a);
	workload(&a, &wa, 200, "a");
	all = vv_of(&a, a.id);
	o = a.id;
	put_mark(&a, a.id, 50);
	upto = all;
	is_int(mfs_gc_marks_floor(a.db, &o, &upto, 1), 0, "the gc marks' floor...");
	is_int((int)upto, 50, "... is the mark's vector");
	is_int(mfs_ns_trim(a.ns, &o, &upto, 1, &dropped), 0, "trim to it");
	is_int((int)dropped, 50, "it drops the ops up to the mark's vector only");
	is_int(ops_held(&a, a.id), (int)(all - 50), "the others are held");
	{
		struct mfs_batch *bt = mfs_batch_new(a.db);
		uint8_t key[3 + MFS_HASH_LEN] = "gc:";

		memset(key + 3, 0xab, MFS_HASH_LEN);
		mfs_batch_delete(bt, MFS_CF_META, key, sizeof(key));
		mfs_db_write(a.db, bt, MFS_WRITE_SYNC);
		mfs_batch_free(bt);
	}
	upto = all - 10;
	is_int(mfs_ns_trim(a.ns, &o, &upto, 1, &dropped), 0, "without the mark");
	ok(dropped == all - 60 && ops_held(&a, a.id) == 10, "the log keeps exactly the last 10");
	mfs_ns_log_held(a.ns, &held, &folded);
	ok(held == 10 && folded == all - 10, "log_held says so (%llu held, %llu folded)",
	   (unsigned long long)held, (unsigned long long)folded);
	upto = all + 100;
	is_int(mfs_ns_trim(a.ns, &o, &upto, 1, &dropped), 0, "trimming past the vector...");
	ok(dropped == 10 && ops_held(&a, a.id) == 0, "... stops at what is held");
	workload(&a, &wa, 20, "n");
	ok(ops_held(&a, a.id) == (int)(vv_of(&a, a.id) - all), "new ops go on from there");
	/* b lacks the dropped ops: it needs a's image, then the tail. */
	{
		struct mfs_wr img;

		uint8_t key[3 + MFS_HASH_LEN] = "gc:";

		memset(key + 3, 0xab, MFS_HASH_LEN);
		mfs_node_t io[8];
		uint64_t is[8];
		int k;

		put_mark(&b, a.id, 3);
		image_of(&a, &img);
		is_int(mfs_ns_snap_apply(b.ns, img.buf, img.len, NULL, NULL, NULL), 0, "b merges a's image");
		k = mfs_ns_snap_vv(img.buf, img.len, io, is, 8);
		ok(k == 1 && io[0] == a.id && is[0] == vv_of(&a, a.id), "the image's vector");
		is_int(mfs_gc_marks_drop_below(b.db, io, is, k), 0, "marks below it dropped");
		is_int(mfs_db_exists(b.db, MFS_CF_META, key, sizeof(key)), 0,
		       "b's gc mark below the new log base is gone (its ops cannot be rescanned)");
		mfs_wr_release(&img);
	}
	workload(&a, &wa, 20, "m");
	pull(&b, &a);
	is_int(apply_errors, 0, "then pulls the tail");
	ok(ns_hash(&a) == ns_hash(&b), "and holds a's namespace");
	node_close(&a);
	node_close(&b);
}

static void put_member(struct node *n, mfs_node_t id, uint8_t state, const char *ep)
{
	struct mfs_member m = { .id = id, .state = state, .space = 0x0101 };

	snprintf(m.endpoint, sizeof(m.endpoint), "%s", ep);
	if (mfs_ns_member_put(n->ns, &m))
		tap_bail("put a member record");
}

#define is_str(got, want, ...) do { \
	const char *got_ = (got); \
	if (!ok(!strcmp(got_, want), __VA_ARGS__)) \
		printf("#   got '%s', want '%s'\n", got_, want); \
} while (0)

/* n's member record for id, as "state endpoint" ("" if none). */
static const char *member_of(struct node *n, mfs_node_t id)
{
	static char out[300];
	struct mfs_member m;

	out[0] = 0;
	if (!mfs_ns_member_get(n->ns, id, &m))
		snprintf(out, sizeof(out), "%s %s", mfs_member_state_name(m.state), m.endpoint);
	return out;
}

static int member_count(struct node *n)
{
	struct mfs_member *v;
	int k;

	if (mfs_ns_members(n->ns, &v, &k))
		return -1;
	free(v);
	return k;
}

/* The member table travels in the image and merges by stamp, as its ops would. */
static void test_members(void)
{
	struct node a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_snap_info info;
	struct mfs_wr img;

	node_open(&a, NULL);
	node_open(&b, &a);
	put_member(&a, a.id, MFS_MEMBER_ACTIVE, "tcp://10.0.0.1:7700");
	put_member(&a, 0x1234, MFS_MEMBER_DRAINING, "tcp://10.0.0.9:7700");
	pull(&b, &a);
	put_member(&b, 0x1234, MFS_MEMBER_ACTIVE, "tcp://10.0.0.9:7700"); /* later: wins */
	put_member(&b, b.id, MFS_MEMBER_JOINING, "tcp://10.0.0.2:7700");
	put_member(&a, a.id, MFS_MEMBER_ACTIVE, "tcp://10.0.0.11:7700"); /* a moved */

	node_open(&c, &a);
	image_of(&a, &img);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "a fresh node merges an image with member records");
	is_int(member_count(&c), 2, "it holds a's two members");
	is_str(member_of(&c, a.id), "active tcp://10.0.0.11:7700", "a's own, at its new endpoint");
	is_str(member_of(&c, 0x1234), "draining tcp://10.0.0.9:7700", "and the one a drains");
	is_int(mfs_ns_snap_apply(b.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "b, with member records of its own, merges it");
	is_str(member_of(&b, a.id), "active tcp://10.0.0.11:7700", "b takes a's newer record of a");
	is_str(member_of(&b, 0x1234), "active tcp://10.0.0.9:7700",
	       "b keeps its later record of 0x1234 (the stamp decides)");
	is_str(member_of(&b, b.id), "joining tcp://10.0.0.2:7700", "and its own");
	mfs_wr_release(&img);

	/* A node that got the image serves it on: the records keep their stamps. */
	image_of(&c, &img);
	node_close(&c);
	node_open(&c, &a);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "an image made by that node merges on another");
	is_str(member_of(&c, 0x1234), "draining tcp://10.0.0.9:7700", "with the same records");
	pull(&c, &b);
	is_int(apply_errors, 0, "b's ops apply after it");
	is_str(member_of(&c, 0x1234), "active tcp://10.0.0.9:7700", "and b's later record wins");
	mfs_wr_release(&img);
	node_close(&a);
	node_close(&b);
	node_close(&c);
}

static const uint8_t key_x[MFS_ALLOW_KEY_LEN] = { 1, 2, 3 }, key_y[MFS_ALLOW_KEY_LEN] = { 9 };

static void put_allow(struct node *n, const uint8_t *key, int allowed)
{
	if (mfs_ns_allow_put(n->ns, key, allowed))
		tap_bail("put an allow-list entry");
}

static int count_entry(void *arg, const uint8_t key[MFS_ALLOW_KEY_LEN], int allowed)
{
	(void)key;
	(void)allowed;
	(*(int *)arg)++;
	return 0;
}

static int allow_count(struct node *n)
{
	int k = 0;

	if (mfs_ns_allow_each(n->ns, count_entry, &k))
		tap_bail("list the allow-list");
	return k;
}

/* The allow-list travels in ops and images and merges by stamp, as member records do. */
static void test_allow(void)
{
	struct node a = { 0 }, b = { 0 }, c = { 0 };
	struct mfs_snap_info info;
	struct mfs_wr img;

	node_open(&a, NULL);
	node_open(&b, &a);
	is_int(mfs_ns_allowed(a.ns, key_x), 0, "a key never listed is not allowed");
	put_allow(&a, key_x, 1);
	put_allow(&a, key_y, 1);
	is_int(mfs_ns_allowed(a.ns, key_x), 1, "allowed where it was written");
	pull(&b, &a);
	is_int(apply_errors, 0, "a's ops apply on b");
	is_int(mfs_ns_allowed(b.ns, key_x), 1, "and allowed on b");
	put_allow(&b, key_y, 0); /* later: the revocation wins */
	pull(&a, &b);
	is_int(mfs_ns_allowed(a.ns, key_y), 0, "b's later revocation wins on a");
	is_int(mfs_ns_allowed(a.ns, key_x), 1, "the other key stays allowed");

	node_open(&c, &a);
	image_of(&a, &img);
	is_int(mfs_ns_snap_apply(c.ns, img.buf, img.len, NULL, NULL, &info), 0,
	       "a fresh node merges an image with allow-list entries");
	is_int(allow_count(&c), 2, "it holds both entries");
	is_int(mfs_ns_allowed(c.ns, key_x), 1, "one allowed");
	is_int(mfs_ns_allowed(c.ns, key_y), 0, "one revoked");
	mfs_wr_release(&img);
	put_allow(&a, key_y, 1); /* allowed again, after the image */
	pull(&c, &a);
	is_int(mfs_ns_allowed(c.ns, key_y), 1, "the tail after the image allows it again");
	node_close(&a);
	node_close(&b);
	node_close(&c);
}

/* Damaged images: refused with nothing written, or merged as well-formed input. */
static void test_damage(void)
{
	struct node a = { 0 }, t = { 0 };
	struct names wa = { 0 }, wt = { 0 };
	struct mfs_wr img;
	uint64_t before;
	int refused = 0, accepted = 0, wrote = 0, bad_trunc = 0;

	node_open(&a, NULL);
	node_open(&t, &a);
	workload(&a, &wa, 60, "a");
	put_member(&a, a.id, MFS_MEMBER_ACTIVE, "tcp://10.0.0.1:7700");
	put_allow(&a, key_x, 1);
	workload(&t, &wt, 20, "t");
	image_of(&a, &img);
	before = ns_hash(&t);
	for (size_t len = 0; len < img.len; len += 1 + len / 64) {
		if (mfs_ns_snap_apply(t.ns, img.buf, len, NULL, NULL, NULL) != MFS_EFORMAT)
			bad_trunc++;
	}
	is_int(bad_trunc, 0, "every truncation of a %zu-byte image is refused (MFS_EFORMAT)", img.len);
	ok(ns_hash(&t) == before, "and nothing was written");
	for (int i = 0; i < 3000; i++) {
		uint8_t *p = malloc(img.len);
		size_t at = next_rand() % img.len;
		int rc;

		memcpy(p, img.buf, img.len);
		p[at] ^= (uint8_t)(1 + next_rand() % 255);
		rc = mfs_ns_snap_apply(t.ns, p, img.len, NULL, NULL, NULL);
		if (rc) {
			refused++;
			wrote += ns_hash(&t) != before;
		} else {
			/* Well formed after all (a mode bit, a name byte): start over. */
			accepted++;
			node_open(&t, &a);
			workload(&t, &wt, 0, "t");
			before = ns_hash(&t);
		}
		free(p);
	}
	ok(refused > 0, "changed bytes: %d images refused, %d still well formed", refused, accepted);
	is_int(wrote, 0, "a refused image writes nothing");
	mfs_wr_release(&img);
	node_close(&a);
	node_close(&t);
}

int main(void)
{
	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	test_fresh_and_merge();
	test_built_under_writes();
	test_image_later_bytes();
	test_image_kept_bytes();
	test_trim();
	test_members();
	test_allow();
	test_damage();
	return done_testing();
}
