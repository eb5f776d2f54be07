/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace ops (store/ns/oplog.h) and their replication (store/ns/ns_apply.c),
 * on real RocksDB stores in temporary directories.
 *
 * First the encoding: builder/decoder round trip, every truncation and
 * single-byte corruptions of real ops refused by mfs_op_decode or, failing
 * that, by mfs_ns_apply without a write; stamp order.  Then several stores
 * (distinct node ids) operate on their own trees, exchange their logs
 * (mfs_ns_vv + mfs_ns_ops_since -> mfs_ns_apply) in different orders and
 * with duplicates, and must end with the same visible tree.  The conflict
 * cases are the ones two nodes can produce without talking to each other:
 * the same path created twice, rename against unlink, unlink against
 * setattr, rmdir against a create inside the directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "store/ns/oplog.h"
#include "tap.h"

#define MAX_NODES 5

struct node {
	char dir[64];
	struct mfs_db *db;
	struct mfs_ns *ns;
	mfs_node_t id;
};

static struct node nodes[MAX_NODES];
static int apply_errors;

/* ------------------------------------------------------------------------ */
/* stores                                                                    */

static void node_close(struct node *n)
{
	char cmd[128];

	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	n->ns = NULL;
	n->db = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", n->dir);
	if (n->dir[0] && system(cmd))
		tap_bail("rm -rf %s", n->dir);
	n->dir[0] = 0;
}

/* A fresh store whose node id differs from every other open node's. */
static void node_open(struct node *n)
{
	for (int tries = 0; tries < 100; tries++) {
		int clash = 0;

		strcpy(n->dir, "/tmp/mfs-oplog-XXXXXX");
		if (!mkdtemp(n->dir) || mfs_db_open(n->dir, NULL, &n->db) || mfs_ns_open(n->db, &n->ns))
			tap_bail("open a store");
		n->id = mfs_ns_node_id(n->ns);
		for (int i = 0; i < MAX_NODES; i++)
			clash |= &nodes[i] != n && nodes[i].ns && (nodes[i].id == n->id ||
				 mfs_ns_space(nodes[i].ns) == mfs_ns_space(n->ns));
		if (!clash)
			return;
		node_close(n);
	}
	tap_bail("no distinct node id in 100 tries");
}

static uint64_t mk(struct node *n, uint64_t parent, const char *name, uint32_t mode)
{
	struct mfs_ns_new nw = { .mode = mode, .uid = 1000, .gid = 1000 };
	struct mfs_inode in;
	uint64_t ino;

	if (S_ISLNK(mode))
		nw.symlink = "target/of/link";
	if (mfs_ns_create(n->ns, parent, name, &nw, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

static uint64_t ino_of(struct node *n, uint64_t parent, const char *name)
{
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_lookup(n->ns, parent, name, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

/* A published file: its manifest (chunks seeded by seed) stored first. */
static uint64_t mkfile(struct node *n, uint64_t parent, const char *name, int seed)
{
	struct mfs_ns_new nw = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_batch *b = mfs_batch_new(n->db);
	struct mfs_inode in;
	struct mfs_hash id;
	uint64_t ino = 0;

	if (!m || !b)
		tap_bail("alloc");
	for (int i = 0; i < 2 + seed % 3; i++) {
		struct mfs_hash h;

		memset(h.b, seed * 16 + i, sizeof(h.b));
		mfs_manifest_append(m, &h, 1000 + seed * 10 + i);
	}
	if (mfs_manifest_stage(b, m, &id) || mfs_db_write(n->db, b, MFS_WRITE_SYNC))
		tap_bail("store a manifest");
	if (mfs_ns_create(n->ns, parent, name, &nw, &in) == 0) {
		uint64_t pending = in.ino;

		mfs_inode_release(&in);
		if (mfs_ns_publish(n->ns, pending, seed ? &id : NULL, seed ? m->size : 0, NULL, NULL, &in) == 0)
			ino = in.ino;
		mfs_inode_release(&in);
	}
	mfs_batch_free(b);
	mfs_manifest_unref(m);
	return ino;
}

/* A fingerprint of every key and value of every column family. */
static uint64_t store_hash(struct node *n)
{
	struct mfs_xxh64_state st;

	mfs_xxh64_init(&st, 0);
	for (int cf = 0; cf < MFS_CF_COUNT; cf++) {
		struct mfs_iter *it = mfs_iter_new(n->db, cf, NULL, 0);

		if (!it)
			tap_bail("iter");
		for (; mfs_iter_valid(it); mfs_iter_next(it)) {
			size_t kl, vl;
			const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
			uint64_t lens[3] = { (uint64_t)cf, kl, vl };

			mfs_xxh64_update(&st, lens, sizeof(lens));
			mfs_xxh64_update(&st, k, kl);
			mfs_xxh64_update(&st, v, vl);
		}
		mfs_iter_free(it);
	}
	return mfs_xxh64_digest(&st);
}

/* ------------------------------------------------------------------------ */
/* exchanging logs                                                           */

static int vv_of(struct node *n, mfs_node_t origin, uint64_t *seq)
{
	mfs_node_t o[256];
	uint64_t s[256];
	int k = mfs_ns_vv(n->ns, o, s, 256);

	*seq = 0;
	for (int i = 0; i < k; i++)
		if (o[i] == origin) {
			*seq = s[i];
			return 1;
		}
	return 0;
}

static int apply_to(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct node *to = arg;
	int rc = mfs_ns_apply(to->ns, origin, seq, op, len, NULL, NULL);

	if (rc) {
		printf("# apply of " MFS_NODE_FMT ":%llu on " MFS_NODE_FMT ": %d\n", MFS_NODE_ARG(origin), (unsigned long long)seq, MFS_NODE_ARG(to->id), rc);
		apply_errors++;
		return 1;
	}
	return 0;
}

/* to pulls everything from from; with dup, from seq 0 (everything again). */
static void pull(struct node *to, struct node *from, int dup)
{
	mfs_node_t o[256];
	uint64_t s[256], have;
	int k = mfs_ns_vv(from->ns, o, s, 256);

	for (int i = 0; i < k; i++) {
		vv_of(to, o[i], &have);
		if (mfs_ns_ops_since(from->ns, o[i], dup ? 0 : have, apply_to, to))
			apply_errors++;
	}
}

/* Everyone pulls from everyone, in the order given by a seed, until settled. */
static void sync_all(int nn, unsigned seed, int dup)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nn; i++)
			for (int j = 0; j < nn; j++) {
				int a = (int)((i + seed) % nn), b = (int)((j * (seed | 1) + pass) % nn);

				if (a != b)
					pull(&nodes[a], &nodes[b], dup && (i + j) % 2);
			}
}

/* ------------------------------------------------------------------------ */
/* comparing trees                                                           */

struct child {
	char name[MFS_NAME_MAX + 1];
	uint64_t ino;
	uint32_t mode;
};
struct children {
	struct child *c;
	size_t n, cap;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct children *cs = arg;

	if (mfs_grow(&cs->c, &cs->cap, cs->n, sizeof(*cs->c)))
		tap_bail("oom");
	snprintf(cs->c[cs->n].name, sizeof(cs->c[cs->n].name), "%s", name);
	cs->c[cs->n].ino = ino;
	cs->c[cs->n++].mode = mode;
	return 0;
}

static void sappend(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sappend(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0 || !(*s = realloc(*s, *len + n + 1)))
		tap_bail("oom");
	memcpy(*s + *len, line, n + 1);
	*len += n;
	free(line);
}

struct walk {
	char *s;
	size_t len;
	int broken;        /* dirents whose inode is missing or disagrees */
	int dirmtime;      /* include directories' mtime */
};

static void describe(struct walk *w, const char *path, const struct mfs_inode *in, int is_dir)
{
	char hex[MFS_HASH_HEX_LEN + 1] = "-";

	if (in->has_manifest)
		mfs_hash_to_hex(&in->manifest, hex);
	sappend(&w->s, &w->len, "%s ino=%llx mode=%o uid=%u gid=%u size=%llu repl=%u ver=%llu m=%s",
		path, (unsigned long long)in->ino, in->mode, in->uid, in->gid,
		(unsigned long long)in->size, in->repl, (unsigned long long)in->version, hex);
	if (is_dir)
		sappend(&w->s, &w->len, " nlink=%u", in->nlink);
	if (!is_dir || w->dirmtime)
		sappend(&w->s, &w->len, " mtime=%lld.%09ld", (long long)in->mtime.tv_sec,
			in->mtime.tv_nsec);
	if (in->symlink)
		sappend(&w->s, &w->len, " ->%s", in->symlink);
	for (uint32_t i = 0; i < in->nxattr; i++)
		sappend(&w->s, &w->len, " x:%s=%.*s", in->xattr[i].name, (int)in->xattr[i].len,
			(const char *)in->xattr[i].value);
	sappend(&w->s, &w->len, "\n");
}

static void walk_dir(struct node *n, struct walk *w, uint64_t dir, const char *path, int depth)
{
	struct children cs = { 0 };

	if (depth > 64 || mfs_ns_readdir(n->ns, dir, NULL, 0, collect, &cs)) {
		sappend(&w->s, &w->len, "%s: unreadable\n", path);
		w->broken++;
		free(cs.c);
		return;
	}
	for (size_t i = 0; i < cs.n; i++) {
		struct mfs_inode in;
		char *sub;

		if (asprintf(&sub, "%s/%s", path, cs.c[i].name) < 0)
			tap_bail("oom");
		if (mfs_ns_get(n->ns, cs.c[i].ino, &in)) {
			sappend(&w->s, &w->len, "%s ino=%llx MISSING\n", sub, (unsigned long long)cs.c[i].ino);
			w->broken++;
		} else {
			if (in.parent != dir || !in.name || strcmp(in.name, cs.c[i].name) ||
			    (in.mode & S_IFMT) != (cs.c[i].mode & S_IFMT)) {
				sappend(&w->s, &w->len, "%s: inode says %llx/%s\n", sub,
					(unsigned long long)in.parent, in.name ? in.name : "?");
				w->broken++;
			}
			describe(w, sub, &in, S_ISDIR(in.mode));
			if (S_ISDIR(in.mode))
				walk_dir(n, w, in.ino, sub, depth + 1);
		}
		mfs_inode_release(&in);
		free(sub);
	}
	free(cs.c);
}

/* The visible tree of n as text; *broken gets the count of inconsistent entries. */
static char *tree(struct node *n, int dirmtime, int *broken)
{
	struct walk w = { .dirmtime = dirmtime };
	struct mfs_inode root;

	if (mfs_ns_get(n->ns, MFS_ROOT_INO, &root))
		tap_bail("no root");
	sappend(&w.s, &w.len, "/ mode=%o nlink=%u repl=%u nx=%u\n", root.mode, root.nlink, root.repl,
		root.nxattr);
	mfs_inode_release(&root);
	walk_dir(n, &w, MFS_ROOT_INO, "", 0);
	if (broken)
		*broken = w.broken;
	return w.s;
}

/* Do nodes[0..nn) show the same tree?  Prints the first difference. */
static int same_trees(int nn, int dirmtime, int *broken)
{
	char *t0 = tree(&nodes[0], dirmtime, broken);
	int same = 1;

	for (int i = 1; i < nn && same; i++) {
		char *t = tree(&nodes[i], dirmtime, NULL);

		if (strcmp(t0, t)) {
			same = 0;
			printf("# node " MFS_NODE_FMT ":\n%s# node " MFS_NODE_FMT ":\n%s", MFS_NODE_ARG(nodes[0].id), t0, MFS_NODE_ARG(nodes[i].id), t);
		}
		free(t);
	}
	free(t0);
	return same;
}

static int same_vv(int nn)
{
	for (int i = 1; i < nn; i++) {
		mfs_node_t o0[256], o[256];
		uint64_t s0[256], s[256];
		int k0 = mfs_ns_vv(nodes[0].ns, o0, s0, 256), k = mfs_ns_vv(nodes[i].ns, o, s, 256);

		if (k0 != k || memcmp(o0, o, k * sizeof(*o)) || memcmp(s0, s, k * sizeof(*s)))
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* the encoding                                                              */

static void test_encoding(void)
{
	struct mfs_op_builder b;
	struct mfs_op op;
	uint8_t ikey[8] = { 0, 0, 0, 0, 0, 0, 0, 42 }, dkey[8 + 3] = { 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b', 'c' };
	uint8_t ival[50], dval[12] = { 42 }, tval[12] = { 1, 2, 3 }, mkey[MFS_HASH_LEN] = { 9 };
	uint8_t mval[7] = { 1, 2, 3, 4, 5, 6, 7 };
	int bad = 0;

	memset(ival, 0x11, sizeof(ival));
	mfs_op_begin(&b);
	mfs_op_add(&b, MFS_OP_INODE, 0, ikey, 8, ival, sizeof(ival));
	mfs_op_add(&b, MFS_OP_INODE, 1, ikey, 8, NULL, 0);
	mfs_op_add(&b, MFS_OP_DIRENT, 0, dkey, sizeof(dkey), dval, sizeof(dval));
	mfs_op_add(&b, MFS_OP_DIRENT, 1, dkey, sizeof(dkey), NULL, 0);
	mfs_op_add(&b, MFS_OP_TOUCH, 0, ikey, 8, tval, sizeof(tval));
	mfs_op_add(&b, MFS_OP_MANIFEST, 0, mkey, sizeof(mkey), mval, sizeof(mval));
	is_int(mfs_op_finish(&b, 0x0102030405060708ull), 0, "op builder finishes");
	is_int(b.w.buf[0], MFS_OP_VERSION, "op starts with its version");
	is_int(mfs_op_decode(b.w.buf, b.w.len, &op), 0, "a built op decodes");
	ok(op.lamport == 0x0102030405060708ull && op.n == 6, "lamport and entry count round trip");
	if (op.n == 6) {
		ok(op.e[0].kind == MFS_OP_INODE && !op.e[0].deleted && op.e[0].klen == 8 &&
		   !memcmp(op.e[0].key, ikey, 8) && op.e[0].vlen == sizeof(ival) &&
		   !memcmp(op.e[0].val, ival, sizeof(ival)), "inode entry");
		ok(op.e[1].kind == MFS_OP_INODE && op.e[1].deleted && op.e[1].vlen == 0, "inode deletion");
		ok(op.e[2].kind == MFS_OP_DIRENT && op.e[2].klen == sizeof(dkey) &&
		   !memcmp(op.e[2].key, dkey, sizeof(dkey)) && op.e[2].vlen == 12 && op.e[2].val[0] == 42,
		   "dirent entry");
		ok(op.e[3].kind == MFS_OP_DIRENT && op.e[3].deleted, "dirent deletion");
		ok(op.e[4].kind == MFS_OP_TOUCH && op.e[4].vlen == 12 && op.e[4].val[2] == 3, "touch entry");
		ok(op.e[5].kind == MFS_OP_MANIFEST && op.e[5].klen == MFS_HASH_LEN &&
		   op.e[5].vlen == sizeof(mval) && !memcmp(op.e[5].val, mval, sizeof(mval)), "manifest entry");
		ok(op.e[0].key >= b.w.buf && op.e[5].val + op.e[5].vlen == b.w.buf + b.w.len,
		   "entries point into the encoding");
	}
	mfs_op_free_entries(&op);
	ok(op.e == NULL && op.n == 0, "free_entries resets the op");

	for (size_t n = 0; n < b.w.len; n++) {
		if (mfs_op_decode(b.w.buf, n, &op) != MFS_EFORMAT) {
			bad++;
			mfs_op_free_entries(&op);
		}
	}
	is_int(bad, 0, "every truncation of a built op is refused");
	mfs_wr_u8(&b.w, 0);
	is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "a trailing byte is refused");
	mfs_op_release(&b);

	/* Entries that break the per-kind rules. */
	{
		static const struct {
			uint8_t kind, deleted;
			size_t klen, vlen;
			const char *what;
		} badents[] = {
			{ MFS_OP_INODE, 0, 7, 10, "inode key of 7 bytes" },
			{ MFS_OP_INODE, 0, 9, 10, "inode key of 9 bytes" },
			{ MFS_OP_INODE, 0, 8, 0, "inode without a record" },
			{ MFS_OP_INODE, 1, 8, 1, "inode deletion with a value" },
			{ MFS_OP_DIRENT, 0, 8, 12, "dirent with an empty name" },
			{ MFS_OP_DIRENT, 0, 8 + 256, 12, "dirent name of 256 bytes" },
			{ MFS_OP_DIRENT, 0, 10, 11, "dirent value of 11 bytes" },
			{ MFS_OP_DIRENT, 1, 10, 12, "dirent deletion with a value" },
			{ MFS_OP_TOUCH, 1, 8, 0, "deleted touch" },
			{ MFS_OP_TOUCH, 0, 8, 8, "touch of 8 bytes" },
			{ MFS_OP_MANIFEST, 0, 31, 10, "manifest key of 31 bytes" },
			{ MFS_OP_MANIFEST, 0, 32, 0, "empty manifest" },
			{ MFS_OP_MANIFEST, 1, 32, 0, "deleted manifest" },
			{ 'X', 0, 8, 12, "unknown kind" },
			{ 0, 0, 8, 12, "kind 0" },
		};
		uint8_t zeros[300] = { 0 };

		for (size_t i = 0; i < sizeof(badents) / sizeof(badents[0]); i++) {
			int rc;

			mfs_op_begin(&b);
			mfs_op_add(&b, MFS_OP_TOUCH, 0, ikey, 8, tval, 12); /* one good entry first */
			mfs_op_add(&b, badents[i].kind, badents[i].deleted, zeros, badents[i].klen, zeros,
				   badents[i].vlen);
			mfs_op_finish(&b, 1);
			rc = mfs_op_decode(b.w.buf, b.w.len, &op);
			is_int(rc, MFS_EFORMAT, "refused: %s", badents[i].what);
			if (!rc)
				mfs_op_free_entries(&op);
			mfs_op_release(&b);
		}
		mfs_op_begin(&b);
		mfs_op_add(&b, MFS_OP_DIRENT, 0, zeros, 8 + 255, zeros, 12);
		mfs_op_finish(&b, 1);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), 0, "a dirent name of 255 bytes is fine");
		mfs_op_free_entries(&op);
		mfs_op_release(&b);

		mfs_op_begin(&b);
		mfs_op_finish(&b, 1);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "an op without entries");
		b.w.buf[0] = 2;
		put_le32(b.w.buf + 9, 1);
		mfs_op_add(&b, MFS_OP_TOUCH, 0, ikey, 8, tval, 12);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "op version 2");
		b.w.buf[0] = MFS_OP_VERSION;
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), 0, "... and the same op as version 1");
		mfs_op_free_entries(&op);
		b.w.buf[9 + 4 + 1] = 2;
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "a deleted flag of 2");
		b.w.buf[9 + 4 + 1] = 0;
		put_le32(b.w.buf + 9, MFS_OP_MAX_ENTRIES + 1);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "more than MFS_OP_MAX_ENTRIES entries");
		put_le32(b.w.buf + 9, UINT32_MAX);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "an entry count of 2^32-1");
		put_le32(b.w.buf + 9, 2);
		is_int(mfs_op_decode(b.w.buf, b.w.len, &op), MFS_EFORMAT, "a count larger than the entries");
		mfs_op_release(&b);
	}

	/* Stamps: lamport first, then node; encoding round trip. */
	{
		struct mfs_stamp a = { 5, 0xfedcba9876543210ull }, c = { 6, 1 }, d = { 6, 2 }, e = { 6, 2 }, g;
		struct mfs_stamp w1 = { 6, 0xffff }, w2 = { 6, 0x10000 };
		uint8_t enc[MFS_STAMP_LEN];
		uint8_t k1[MFS_OPLOG_KEY_LEN], k2[MFS_OPLOG_KEY_LEN], k3[MFS_OPLOG_KEY_LEN];

		ok(mfs_stamp_cmp(&a, &c) < 0 && mfs_stamp_cmp(&c, &a) > 0, "a later lamport wins over any node");
		ok(mfs_stamp_cmp(&c, &d) < 0 && mfs_stamp_cmp(&d, &c) > 0, "same lamport: the higher node wins");
		is_int(mfs_stamp_cmp(&d, &e), 0, "equal stamps");
		mfs_stamp_encode(&a, enc);
		is_int(mfs_stamp_decode(enc, sizeof(enc), &g), 0, "stamp decodes");
		ok(g.lamport == 5 && g.node == 0xfedcba9876543210ull, "stamp round trip (64-bit node)");
		ok(sizeof(enc) == 16, "a stamp is 16 bytes");
		ok(mfs_stamp_cmp(&w1, &w2) < 0, "node ids compare as 64-bit numbers");
		is_int(mfs_stamp_decode(enc, sizeof(enc) - 1, &g), MFS_EFORMAT, "a short stamp is refused");
		is_int(mfs_stamp_decode(enc, sizeof(enc) + 1, &g), MFS_EFORMAT, "a long stamp is refused");
		mfs_oplog_key(0x0102, 255, k1);
		mfs_oplog_key(0x0102, 256, k2);
		mfs_oplog_key(0x0103, 1, k3);
		ok(memcmp(k1, k2, sizeof(k1)) < 0 && memcmp(k2, k3, sizeof(k1)) < 0,
		   "op-log keys sort by origin, then seq");
		mfs_oplog_key(0xffff, 9, k1);
		mfs_oplog_key(0x10000, 1, k2);
		mfs_oplog_key(0x0100000000000000ull, 1, k3);
		ok(memcmp(k1, k2, sizeof(k1)) < 0 && memcmp(k2, k3, sizeof(k1)) < 0,
		   "... with 64-bit origins");
	}
}

/* ------------------------------------------------------------------------ */
/* corrupted real ops against a real store                                   */

struct oplist {
	mfs_node_t origin[64];
	uint64_t seq[64];
	uint8_t *op[64];
	size_t len[64];
	int n;
};

static int keep_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct oplist *l = arg;

	if (l->n == 64)
		return 1;
	l->origin[l->n] = origin;
	l->seq[l->n] = seq;
	l->len[l->n] = len;
	if (!(l->op[l->n] = malloc(len)))
		tap_bail("oom");
	memcpy(l->op[l->n++], op, len);
	return 0;
}

static void oplist_free(struct oplist *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->op[i]);
	l->n = 0;
}

/* Basic reads of the whole visible tree work (no crash, root present). */
static int store_reads(struct node *n)
{
	struct mfs_inode root;
	int broken;
	char *t;

	if (mfs_ns_get(n->ns, MFS_ROOT_INO, &root))
		return 0;
	mfs_inode_release(&root);
	t = tree(n, 0, &broken);
	free(t);
	return 1;
}

static void test_corruption(void)
{
	struct node *a = &nodes[0], *t = &nodes[1];
	struct oplist l = { 0 };
	int trunc_bad = 0, changed_on_refusal = 0, accepted = 0, refused_decode = 0,
	    refused_apply = 0, unreadable = 0;
	uint64_t d;

	node_open(a);
	node_open(t);
	d = mk(a, MFS_ROOT_INO, "dir", S_IFDIR | 0755);
	mkfile(a, d, "f.bin", 1);                                /* create + publish with manifest */
	mk(a, d, "link", S_IFLNK | 0777);
	{
		struct mfs_inode x = { 0 };

		mfs_inode_xattr_set(&x, "user.k", "v", 1);
		x.repl = 2;
		mfs_ns_setattr(a->ns, d, &x, MFS_ATTR_XATTR | MFS_ATTR_REPL, NULL);
		mfs_inode_release(&x);
	}
	mfs_ns_rename(a->ns, d, "link", MFS_ROOT_INO, "link2", 0, NULL);
	mfs_ns_ops_since(a->ns, a->id, 0, keep_op, &l);
	ok(l.n == 6, "the source store logged 6 ops (%d)", l.n);

	for (int i = 0; i < l.n; i++) {
		struct mfs_op op;

		for (size_t n = 0; n < l.len[i]; n++)
			if (mfs_op_decode(l.op[i], n, &op) != MFS_EFORMAT) {
				trunc_bad++;
				mfs_op_free_entries(&op);
			}
	}
	is_int(trunc_bad, 0, "every truncation of every real op is refused by mfs_op_decode");

	/*
	 * Single-byte corruptions of each op, applied to t as that op's next
	 * seq: refused with the store untouched, or accepted (some bytes, a
	 * name's letters, a lamport time, are free) leaving a readable store.
	 */
	for (int i = 0; i < l.n; i++) {
		static const uint8_t xors[] = { 0x01, 0x80, 0xff, 0x2f ^ 'a' };

		for (size_t pos = 0; pos < l.len[i]; pos++) {
			for (size_t x = pos % 2; x < sizeof(xors); x += 2) {
				uint8_t *buf = malloc(l.len[i]);
				uint64_t seq, before, after;
				struct mfs_op op;
				int rc;

				memcpy(buf, l.op[i], l.len[i]);
				buf[pos] ^= xors[x];
				if (mfs_op_decode(buf, l.len[i], &op)) {
					refused_decode++;
					free(buf);
					continue;
				}
				mfs_op_free_entries(&op);
				vv_of(t, a->id, &seq);
				before = store_hash(t);
				rc = mfs_ns_apply(t->ns, a->id, seq + 1, buf, l.len[i], NULL, NULL);
				after = store_hash(t);
				if (rc) {
					refused_apply++;
					changed_on_refusal += before != after;
				} else {
					accepted++;
					unreadable += !store_reads(t);
					if (accepted % 256 == 0) {
						/* keep the target small: hashing it is the cost */
						node_close(t);
						node_open(t);
					}
				}
				free(buf);
			}
		}
	}
	printf("# corruptions: %d refused by decode, %d by apply, %d accepted\n", refused_decode,
	       refused_apply, accepted);
	ok(refused_decode > 0 && refused_apply > 0, "both decode and apply's validation refused some");
	is_int(changed_on_refusal, 0, "a refused op leaves the store byte for byte unchanged");
	is_int(unreadable, 0, "an accepted corrupted op leaves a readable store");
	oplist_free(&l);
	node_close(a);
	node_close(t);
}

/*
 * Dirent values from a peer are not checked: a child inode of 0 or of the
 * root, or a mode that is no file type an inode record may have, is stored as sent.
 */
static void test_dirent_values(void)
{
	static const struct {
		uint64_t ino;
		uint32_t mode;
		const char *what;
	} bad[] = {
		{ MFS_ROOT_INO, S_IFDIR | 0755, "a dirent naming the root" },
		{ 0, S_IFREG | 0644, "a dirent naming inode 0" },
		{ 0x1234000000000005ull, 0, "a dirent with no file type" },
		{ 0x1234000000000006ull, S_IFMT | 0644, "a dirent of no known type" },
	};
	struct node *t = &nodes[0];
	uint64_t seq = 0;

	node_open(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mfs_op_builder b;
		uint8_t key[8 + 4], val[12];
		uint64_t h = store_hash(t);
		int rc;

		put_be64(key, MFS_ROOT_INO);
		memcpy(key + 8, "evil", 4);
		put_le64(val, bad[i].ino);
		put_le32(val + 8, bad[i].mode);
		mfs_op_begin(&b);
		mfs_op_add(&b, MFS_OP_DIRENT, 0, key, sizeof(key), val, sizeof(val));
		mfs_op_finish(&b, 100 + i);
		rc = mfs_ns_apply(t->ns, t->id ^ 0x8000, seq + 1, b.w.buf, b.w.len, NULL, NULL);
		seq += rc == 0;
		ok(rc == MFS_EFORMAT && store_hash(t) == h, "refused: %s (%d)", bad[i].what, rc);
		mfs_op_release(&b);
	}
	node_close(t);
}

/* ------------------------------------------------------------------------ */
/* sequence rules and the change callback                                    */

struct seen {
	int n, dirent_f, inode_f, inode_dir, dirent_other;
	uint64_t dir, f;
};

static void on_change(void *arg, const struct mfs_ns_change *c)
{
	struct seen *s = arg;

	s->n++;
	if (c->kind == MFS_CHANGE_DIRENT && c->parent == s->dir && !strcmp(c->name, "f"))
		s->dirent_f++;
	else if (c->kind == MFS_CHANGE_DIRENT)
		s->dirent_other++;
	if (c->kind == MFS_CHANGE_INODE && c->ino == s->f)
		s->inode_f++;
	if (c->kind == MFS_CHANGE_INODE && c->ino == s->dir)
		s->inode_dir++;
}

static void test_sequence(void)
{
	struct node *a = &nodes[0], *t = &nodes[1];
	struct oplist l = { 0 };
	struct seen s = { 0 };
	uint64_t h, seq, applied;
	uint64_t d, f;
	int rc;

	node_open(a);
	node_open(t);
	d = mk(a, MFS_ROOT_INO, "d", S_IFDIR | 0755);           /* seq 1 */
	f = mk(a, d, "f", S_IFREG | 0644);                      /* seq 2 */
	mk(a, d, "sub", S_IFDIR | 0755);                        /* seq 3 */
	mfs_ns_ops_since(a->ns, a->id, 0, keep_op, &l);
	is_int(l.n, 3, "three ops logged");
	is_int(mfs_ns_seq(a->ns), 3, "mfs_ns_seq counts them");
	ok(l.seq[0] == 1 && l.seq[2] == 3 && l.origin[0] == a->id, "numbered from 1, by their origin");
	ok(vv_of(a, a->id, &seq) && seq == 3, "a node's own entry in its version vector");

	h = store_hash(t);
	is_int(mfs_ns_apply(t->ns, a->id, 2, l.op[1], l.len[1], NULL, NULL), -EAGAIN,
	       "a gap in sequence numbers: -EAGAIN");
	ok(store_hash(t) == h, "... and nothing applied");
	is_int(mfs_ns_apply(t->ns, a->id, 1, l.op[0], l.len[0], NULL, NULL), 0, "op 1 applies");
	is_int(mfs_ns_apply(t->ns, a->id, 3, l.op[2], l.len[2], NULL, NULL), -EAGAIN, "op 3 before op 2: -EAGAIN");
	s.dir = d;
	s.f = f;
	is_int(mfs_ns_apply(t->ns, a->id, 2, l.op[1], l.len[1], on_change, &s), 0, "op 2 applies");
	ok(s.dirent_f == 1, "the change callback reports the new dirent (%d)", s.dirent_f);
	ok(s.inode_f == 1, "... and the new inode (%d)", s.inode_f);
	ok(s.inode_dir >= 1, "... and its parent, whose mtime moved (%d)", s.inode_dir);
	is_int(s.dirent_other, 0, "... and no other dirent");
	is_int(mfs_ns_apply(t->ns, a->id, 3, l.op[2], l.len[2], NULL, NULL), 0, "op 3 applies");
	ok(ino_of(t, d, "f") == f && ino_of(t, d, "sub") != 0, "the tree arrived");
	{
		struct mfs_inode in;

		mfs_ns_get(t->ns, d, &in);
		is_int(in.nlink, 3, "the parent's nlink counts the remote subdirectory");
		mfs_inode_release(&in);
	}
	is_int(mfs_ns_applied(t->ns), 3, "mfs_ns_applied counts applied ops");

	applied = mfs_ns_applied(t->ns);
	h = store_hash(t);
	memset(&s, 0, sizeof(s));
	s.dir = d;
	s.f = f;
	for (int i = 0; i < 3; i++)
		is_int(mfs_ns_apply(t->ns, a->id, l.seq[i], l.op[i], l.len[i], on_change, &s), 0,
		       "re-applying op %d returns 0", i + 1);
	ok(store_hash(t) == h && mfs_ns_applied(t->ns) == applied && s.n == 0,
	   "re-applying changes nothing and reports nothing");

	/* Our own origin, relayed back: nothing to do. */
	h = store_hash(a);
	rc = mfs_ns_apply(a->ns, a->id, 4, l.op[0], l.len[0], NULL, NULL);
	ok(rc == 0 && store_hash(a) == h, "an op of our own origin is a no-op (%d)", rc);
	h = store_hash(t);
	rc = mfs_ns_apply(t->ns, t->id, 1, l.op[0], l.len[0], NULL, NULL);
	ok(rc == 0 && store_hash(t) == h, "... even with a seq we have not reached");
	rc = mfs_ns_apply(t->ns, a->id, 0, l.op[0], l.len[0], NULL, NULL);
	ok(rc == 0 && store_hash(t) == h, "seq 0 is a no-op");
	rc = mfs_ns_apply(t->ns, 0, 1, l.op[0], l.len[0], NULL, NULL);
	ok(rc == 0 && store_hash(t) == h, "origin 0 is a no-op");

	/* A node's log after remote ops: relayed under their origin, seq kept. */
	{
		struct oplist r = { 0 };

		mfs_ns_ops_since(t->ns, a->id, 1, keep_op, &r);
		ok(r.n == 2 && r.seq[0] == 2 && r.len[1] == l.len[2] && !memcmp(r.op[1], l.op[2], r.len[1]),
		   "a relay serves other origins' ops byte for byte, after a given seq");
		oplist_free(&r);
		is_int(mfs_ns_seq(t->ns), 0, "applying remote ops does not advance our own seq");
	}
	oplist_free(&l);
	node_close(a);
	node_close(t);
}

/* ------------------------------------------------------------------------ */
/* convergence                                                               */

/* Fresh stores that then receive every origin's ops in a random interleaving. */
static int fresh_replay_matches(struct node *src, int nn_src, unsigned seed)
{
	struct node *fr = &nodes[MAX_NODES - 1];
	mfs_node_t o[256];
	uint64_t s[256], cur[256] = { 0 };
	int k = mfs_ns_vv(src->ns, o, s, 256), left = 0, same;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ seed;

	(void)nn_src;
	node_open(fr);
	for (int i = 0; i < k; i++)
		left += (int)s[i];
	while (left > 0) {
		int i;
		struct oplist one = { 0 };

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (int)(rng % (uint64_t)k);
		if (cur[i] == s[i])
			continue;
		/* one op of origin i, sometimes with a duplicate of the one before */
		mfs_ns_ops_since(src->ns, o[i], cur[i] > 0 && rng % 4 == 0 ? cur[i] - 1 : cur[i],
				 keep_op, &one);
		for (int j = 0; j < one.n && j < 2; j++)
			if (mfs_ns_apply(fr->ns, one.origin[j], one.seq[j], one.op[j], one.len[j], NULL, NULL))
				apply_errors++;
		oplist_free(&one);
		cur[i]++;
		left--;
	}
	{
		/* compare fr with src */
		struct node save = nodes[1];
		int b;

		nodes[1] = *fr;
		same = same_trees(2, 0, &b);
		nodes[1] = save;
	}
	node_close(fr);
	return same;
}

static void check_converged(int nn, const char *what)
{
	int broken = 0;

	sync_all(nn, 0, 0);
	is_int(apply_errors, 0, "%s: every op applied", what);
	apply_errors = 0;
	ok(same_vv(nn), "%s: version vectors agree", what);
	ok(same_trees(nn, 0, &broken), "%s: every node shows the same tree", what);
}

static void scenario_basic(void)
{
	struct node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
	struct mfs_inode x = { 0 };
	uint64_t models, data, sub, f, g;
	int broken;

	for (int i = 0; i < 3; i++)
		node_open(&nodes[i]);
	models = mk(a, MFS_ROOT_INO, "models", S_IFDIR | 0755);
	sub = mk(a, models, "sub", S_IFDIR | 0700);
	f = mkfile(a, models, "a.bin", 1);
	mkfile(a, sub, "empty", 0);
	mk(a, MFS_ROOT_INO, "link", S_IFLNK | 0777);
	data = mk(b, MFS_ROOT_INO, "data", S_IFDIR | 0755);
	g = mkfile(b, data, "x.bin", 2);
	mfs_inode_xattr_set(&x, "user.origin", "b", 1);
	x.repl = 3;
	ok(mfs_ns_setattr(b->ns, data, &x, MFS_ATTR_XATTR | MFS_ATTR_REPL, NULL) == 0, "setattr repl+xattr");
	mfs_inode_release(&x);
	mk(c, MFS_ROOT_INO, "scratch", S_IFDIR | 0777);
	mk(c, MFS_ROOT_INO, "scratch2", S_IFDIR | 0777);
	ok(mfs_ns_remove(c->ns, MFS_ROOT_INO, "scratch2", 1, NULL) == 0, "rmdir on c");
	ok(models && sub && f && data && g, "three nodes build their trees");

	/* Pairwise, in one order, some pulls twice (duplicates). */
	pull(b, a, 0);
	pull(c, b, 0);
	pull(a, c, 1);
	pull(b, c, 1);
	pull(a, b, 0);
	pull(c, a, 1);
	is_int(apply_errors, 0, "exchange with duplicates: every op applied");
	apply_errors = 0;
	ok(same_vv(3), "version vectors agree");
	ok(same_trees(3, 0, &broken), "all three show the same tree");
	is_int(broken, 0, "and it is consistent");
	ok(ino_of(c, MFS_ROOT_INO, "models") == models && ino_of(a, data, "x.bin") == g,
	   "remote entries carry their origin's inode numbers");
	{
		struct mfs_inode in;

		ok(mfs_ns_get(c->ns, f, &in) == 0 && in.has_manifest && in.size > 0,
		   "a published file arrives with its manifest id and size");
		ok(mfs_db_exists(c->db, MFS_CF_MANIFESTS, in.manifest.b, MFS_HASH_LEN) == 1,
		   "... and the manifest itself, two hops from its origin");
		mfs_inode_release(&in);
		mfs_ns_get(a->ns, data, &in);
		ok(in.repl == 3 && mfs_inode_xattr_get(&in, "user.origin"), "repl and xattrs replicate");
		mfs_inode_release(&in);
	}

	/* Second round: everyone changes things the others made. */
	ok(mfs_ns_rename(c->ns, models, "a.bin", data, "a.bin", 0, NULL) == 0, "c moves a's file into b's dir");
	ok(mfs_ns_remove(a->ns, data, "x.bin", 0, NULL) == 0, "a removes b's file");
	x.mode = 0711;
	x.uid = 7;
	x.repl = 2;
	ok(mfs_ns_setattr(b->ns, sub, &x, MFS_ATTR_MODE | MFS_ATTR_UID | MFS_ATTR_REPL, NULL) == 0,
	   "b changes a's directory");
	ok(mfs_ns_rename(b->ns, MFS_ROOT_INO, "scratch", models, "scratch", 0, NULL) == 0,
	   "b moves c's directory into a's");
	ok(mkfile(c, sub, "empty2", 0) != 0, "c creates in a's directory");
	sync_all(3, 1, 1);
	is_int(apply_errors, 0, "second round: every op applied");
	apply_errors = 0;
	ok(same_vv(3), "second round: version vectors agree");
	ok(same_trees(3, 0, &broken), "second round: the same tree everywhere");
	is_int(broken, 0, "and it is consistent");
	for (unsigned seed = 1; seed <= 3; seed++)
		ok(fresh_replay_matches(a, 3, seed),
		   "a fresh node fed every op in random order %u (with duplicates) ends the same", seed);
	for (int i = 0; i < 3; i++)
		node_close(&nodes[i]);
}

/* nodes[0], nodes[1] sorted so that nodes[1] has the higher id (wins lamport ties). */
static void open_pair(void)
{
	node_open(&nodes[0]);
	node_open(&nodes[1]);
	if (nodes[0].id > nodes[1].id) {
		struct node t = nodes[0];

		nodes[0] = nodes[1];
		nodes[1] = t;
	}
}

static void close_all(int nn)
{
	for (int i = 0; i < nn; i++)
		node_close(&nodes[i]);
}

static void scenario_same_path(void)
{
	struct node *lo, *hi;
	uint64_t i_lo, i_hi, got[3];
	int broken;

	open_pair();
	node_open(&nodes[2]);
	lo = &nodes[0], hi = &nodes[1];
	sync_all(3, 0, 0);
	i_lo = mkfile(lo, MFS_ROOT_INO, "same", 1);
	i_hi = mkfile(hi, MFS_ROOT_INO, "same", 2);
	mk(lo, MFS_ROOT_INO, "samedir", S_IFDIR | 0755);
	mk(hi, MFS_ROOT_INO, "samedir", S_IFDIR | 0700);
	mk(&nodes[2], MFS_ROOT_INO, "samedir", S_IFDIR | 0711);
	ok(i_lo && i_hi && i_lo != i_hi, "two nodes create the same path");
	check_converged(3, "same path");
	for (int i = 0; i < 3; i++)
		got[i] = ino_of(&nodes[i], MFS_ROOT_INO, "same");
	ok(got[0] == got[1] && got[1] == got[2] && (got[0] == i_lo || got[0] == i_hi),
	   "one of them wins everywhere, with the same inode");
	same_trees(3, 0, &broken);
	is_int(broken, 0, "the tree is consistent");
	close_all(3);
}

/*
 * Rename on one node, unlink of the same name on the other.  When the unlink
 * carries the later stamp, its deletion of the inode beats the rename's new
 * record of it, while the rename's new dirent has no competitor: every node
 * ends with a name whose inode does not exist.
 */
static void scenario_rename_unlink(int unlinker_wins)
{
	struct node *ren, *del;
	uint64_t dir, f;
	int broken = 0;
	char what[64];

	open_pair();
	ren = unlinker_wins ? &nodes[0] : &nodes[1];
	del = unlinker_wins ? &nodes[1] : &nodes[0];
	dir = mk(ren, MFS_ROOT_INO, "r", S_IFDIR | 0755);
	f = mkfile(ren, dir, "x", 1);
	sync_all(2, 0, 0);
	ok(mfs_ns_rename(ren->ns, dir, "x", dir, "y", 0, NULL) == 0, "rename x -> y on one node");
	ok(mfs_ns_remove(del->ns, dir, "x", 0, NULL) == 0, "unlink x on the other");
	snprintf(what, sizeof(what), "rename vs unlink (%s wins)", unlinker_wins ? "unlink" : "rename");
	check_converged(2, what);
	same_trees(2, 0, &broken);
	if (unlinker_wins) {
		/* Bug: "y" is left pointing at a deleted inode on every node. */
		if (broken) {
			char *t = tree(&nodes[0], 0, NULL), *save, *line;

			for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				printf("# %s\n", line);
			free(t);
		}
		/* The rename's new name meets no competitor and points to the deleted
		 * inode on every node: the namespace hides it (namespace.c, child_exists). */
		ok(broken == 0, "%s: no visible name points to a missing inode", what);
	} else {
		is_int(broken, 0, "%s: the tree is consistent", what);
		ok(ino_of(del, dir, "y") == f, "%s: the renamed file survives", what);
	}
	close_all(2);
}

static void scenario_unlink_setattr(int setattr_wins)
{
	struct node *del, *set;
	struct mfs_inode x = { 0 };
	uint64_t f;
	char what[64];

	open_pair();
	set = setattr_wins ? &nodes[1] : &nodes[0];
	del = setattr_wins ? &nodes[0] : &nodes[1];
	f = mkfile(del, MFS_ROOT_INO, "f", 1);
	mkfile(del, MFS_ROOT_INO, "keep", 2);
	sync_all(2, 0, 0);
	ok(mfs_ns_remove(del->ns, MFS_ROOT_INO, "f", 0, NULL) == 0, "unlink on one node");
	x.mode = 0600;
	mfs_inode_xattr_set(&x, "user.tag", "1", 1);
	ok(mfs_ns_setattr(set->ns, f, &x, MFS_ATTR_MODE | MFS_ATTR_XATTR, NULL) == 0,
	   "setattr of the same file on the other");
	mfs_inode_release(&x);
	snprintf(what, sizeof(what), "unlink vs setattr (%s wins)", setattr_wins ? "setattr" : "unlink");
	check_converged(2, what);
	ok(!ino_of(&nodes[0], MFS_ROOT_INO, "f") && !ino_of(&nodes[1], MFS_ROOT_INO, "f"),
	   "%s: the name is gone everywhere", what);
	close_all(2);
}

static void scenario_rmdir_create(int creator_later)
{
	struct node *rm, *cr;
	uint64_t d;
	int broken;
	char what[64];

	open_pair();
	rm = creator_later ? &nodes[0] : &nodes[1];
	cr = creator_later ? &nodes[1] : &nodes[0];
	d = mk(rm, MFS_ROOT_INO, "d", S_IFDIR | 0755);
	mk(rm, MFS_ROOT_INO, "other", S_IFDIR | 0755);
	sync_all(2, 0, 0);
	ok(mfs_ns_remove(rm->ns, MFS_ROOT_INO, "d", 1, NULL) == 0, "rmdir d on one node");
	ok(mkfile(cr, d, "f", 1) != 0 && mk(cr, d, "sub", S_IFDIR | 0755) != 0,
	   "a file and a directory created inside d on the other");
	snprintf(what, sizeof(what), "rmdir vs create inside (%s later)", creator_later ? "create" : "rmdir");
	check_converged(2, what);
	same_trees(2, 0, &broken);
	is_int(broken, 0, "%s: the tree is consistent", what);
	ok(mk(&nodes[0], MFS_ROOT_INO, "d", S_IFDIR | 0755) || ino_of(&nodes[0], MFS_ROOT_INO, "d"),
	   "%s: the name d is usable again", what);
	check_converged(2, what);
	close_all(2);
}

/*
 * A directory's mtime: local creates store the parent whole, but send only
 * a 'T' entry; a setattr of the directory sends its whole record, which
 * overwrote a newer mtime on the nodes that merged a 'T' first.  The later
 * ctime's times hold (ns_dir_times_win).
 */
static void scenario_dir_mtime(void)
{
	struct node *lo, *hi;
	struct mfs_inode x = { 0 };
	uint64_t d;
	int broken;

	open_pair();
	lo = &nodes[0], hi = &nodes[1];
	d = mk(lo, MFS_ROOT_INO, "d", S_IFDIR | 0755);
	sync_all(2, 0, 0);
	x.mode = 0700;
	ok(mfs_ns_setattr(hi->ns, d, &x, MFS_ATTR_MODE, NULL) == 0, "chmod d on one node");
	{
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL); /* a later mtime, not a wait for a condition */
	}
	ok(mk(lo, d, "new", S_IFREG | 0644) != 0, "create inside d on the other");
	sync_all(2, 0, 0);
	ok(same_trees(2, 0, &broken), "the trees agree without mtimes");
	ok(same_trees(2, 1, &broken), "directory mtimes agree too");
	close_all(2);
}

/* Sets d's mtime on n as a utimensat does: mtime given, ctime now. */
static int set_dir_mtime(struct node *n, uint64_t d, time_t sec)
{
	struct mfs_inode x = { 0 };

	x.mtime.tv_sec = sec;
	clock_gettime(CLOCK_REALTIME, &x.ctime);
	return mfs_ns_setattr(n->ns, d, &x, MFS_ATTR_MTIME | MFS_ATTR_CTIME, NULL);
}

static long long dir_mtime(struct node *n, uint64_t d)
{
	struct mfs_inode in;
	long long s = -1;

	if (mfs_ns_get(n->ns, d, &in) == 0) {
		s = (long long)in.mtime.tv_sec;
		mfs_inode_release(&in);
	}
	return s;
}

static void pause_2ms(void)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL); /* a later clock reading, not a wait for a condition */
}

/*
 * A directory's mtime set back (cp -a, tar x and rsync -a set each
 * directory's after filling it) reaches the peer, which had merged
 * directory times by the later mtime and kept its own, newer one: the
 * nodes disagreed for ever.  Then the same with a create inside the
 * directory on the other node before and after it, in both orders of
 * arrival: the change with the later ctime gives both times.
 */
static void scenario_dir_utimens(void)
{
	struct node *lo, *hi;
	uint64_t d, e;
	int broken;

	open_pair();
	lo = &nodes[0], hi = &nodes[1];
	d = mk(lo, MFS_ROOT_INO, "d", S_IFDIR | 0755);
	e = mk(lo, MFS_ROOT_INO, "e", S_IFDIR | 0755);
	ok(mk(lo, d, "f", S_IFREG | 0644) != 0, "a file in d");
	sync_all(2, 0, 0);
	is_int(set_dir_mtime(lo, d, 1000000000), 0, "utimensat of d to 2001 on one node");
	sync_all(2, 0, 0);
	ok(dir_mtime(lo, d) == 1000000000 && dir_mtime(hi, d) == 1000000000,
	   "d's mtime is 2001 on both nodes (%lld, %lld)", dir_mtime(lo, d), dir_mtime(hi, d));
	ok(same_trees(2, 1, &broken), "directory mtimes agree");

	/* A create in e on hi, then a utimens of e on lo, concurrent: the
	 * utimens is the later change; each node hears the other's last. */
	ok(mk(hi, e, "early", S_IFREG | 0644) != 0, "create in e on one node");
	pause_2ms();
	is_int(set_dir_mtime(lo, e, 1000000000), 0, "then utimensat of e on the other");
	sync_all(2, 0, 0);
	ok(dir_mtime(lo, e) == 1000000000 && dir_mtime(hi, e) == 1000000000,
	   "the later utimens holds on both (%lld, %lld)", dir_mtime(lo, e), dir_mtime(hi, e));
	ok(same_trees(2, 1, &broken), "directory mtimes agree");

	/* The other way round: the create is the later change. */
	is_int(set_dir_mtime(lo, e, 1100000000), 0, "utimensat of e on one node");
	pause_2ms();
	ok(mk(hi, e, "late", S_IFREG | 0644) != 0, "then a create in e on the other");
	sync_all(2, 1, 0);
	ok(dir_mtime(lo, e) > 1100000000 && dir_mtime(lo, e) == dir_mtime(hi, e),
	   "the later create's time holds on both (%lld, %lld)", dir_mtime(lo, e),
	   dir_mtime(hi, e));
	ok(same_trees(2, 1, &broken), "directory mtimes agree");
	close_all(2);
}

/*
 * Member records (store/member.h) as namespace data: a node's own record
 * reaches a peer with a pull; an admin's later change on the peer wins on
 * both (last writer wins by stamp, in any order of arrival); a malformed
 * record is refused whole.
 */
static void scenario_members(void)
{
	struct mfs_member a = { .state = MFS_MEMBER_JOINING, .space = 0x4242,
				.endpoint = "tcp://127.0.0.2:7000" }, got;
	struct mfs_member *v;
	struct mfs_op_builder b;
	uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 9 }, bad[] = { 1, 7, 0x42, 0x42, 1, 'x', 0 };
	uint64_t seq;
	int n;

	open_pair();
	a.id = nodes[0].id;
	is_int(mfs_ns_member_put(nodes[0].ns, &a), 0, "node A writes its member record");
	pull(&nodes[1], &nodes[0], 0);
	is_int(mfs_ns_member_get(nodes[1].ns, a.id, &got), 0, "B holds A's record after a pull");
	ok(got.state == MFS_MEMBER_JOINING && !strcmp(got.endpoint, a.endpoint) &&
	   got.space == 0x4242, "... as written, with its inode space");
	got.state = MFS_MEMBER_DRAINING;
	is_int(mfs_ns_member_put(nodes[1].ns, &got), 0, "an admin on B drains A");
	pull(&nodes[0], &nodes[1], 0);
	is_int(mfs_ns_member_get(nodes[0].ns, a.id, &got), 0, "A holds its record");
	is_int(got.state, MFS_MEMBER_DRAINING, "B's later change wins on A");
	is_int(mfs_ns_members(nodes[0].ns, &v, &n), 0, "A lists its member table");
	is_int(n, 1, "one member");
	free(v);
	mfs_op_begin(&b);
	mfs_op_add(&b, MFS_OP_NODE, 0, key, sizeof(key), bad, sizeof(bad));
	mfs_op_finish(&b, 999);
	vv_of(&nodes[1], nodes[0].id, &seq);
	is_int(mfs_ns_apply(nodes[1].ns, nodes[0].id, seq + 1, b.w.buf, b.w.len, NULL, NULL),
	       MFS_EFORMAT, "a member record with state 7 is refused");
	mfs_op_release(&b);
	is_int(mfs_ns_member_get(nodes[1].ns, 9, &got), -ENOENT, "... and nothing of it stored");
	close_all(2);
}

int main(void)
{
	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	test_encoding();
	test_corruption();
	test_sequence();
	test_dirent_values();
	scenario_basic();
	scenario_same_path();
	scenario_rename_unlink(0);
	scenario_rename_unlink(1);
	scenario_unlink_setattr(0);
	scenario_unlink_setattr(1);
	scenario_rmdir_create(0);
	scenario_rmdir_create(1);
	scenario_dir_mtime();
	scenario_dir_utimens();
	scenario_members();
	return done_testing();
}
