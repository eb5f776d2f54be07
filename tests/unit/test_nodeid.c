/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node ids (store/base/node.h) and the conversion of a store with 16-bit
 * ids to format 3 (store/ns/ns_migrate.c): a key's id is fixed; a store
 * made here and rewritten byte for byte into format 2 converts back to the
 * same version vector, ops, stamps, gc mark and peer record, once; a crash
 * or an error at the conversion's write leaves format 2 whole, and the
 * next open converts it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/base/node.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"
#include "store/ns/oplog.h"
#include "tap.h"

#define ID_A 0x1a2b
#define ID_B 0x0042

static void test_ids(void)
{
	uint8_t key[32];
	mfs_node_t id, a = mfs_node_random(), b = mfs_node_random();

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	is_int(mfs_node_from_key(key, &id), 0, "a key's id");
	/* python3: hashlib.sha256(bytes(range(32))).hexdigest()[:16] */
	ok(id == 0x630dcd2966c43366ull, "... is the first 8 bytes of its SHA-256, big endian");
	ok(a && b && a != b, "random ids are never 0 and differ");
	is_int(mfs_node_parse("630dcd2966c43366", &id), 0, "16 hex digits parse");
	ok(id == 0x630dcd2966c43366ull, "... to the id");
	ok(mfs_node_parse("630dcd2966c4336", &id) == -EINVAL &&
	   mfs_node_parse("630dcd2966c433660", &id) == -EINVAL &&
	   mfs_node_parse("630dcd2966c4336g", &id) == -EINVAL, "15, 17 digits or a non-digit do not");
}

/* ---- a store with two origins ------------------------------------------------ */

struct state {
	int nvv;
	mfs_node_t o[8];
	uint64_t s[8];
	int nops;
	mfs_node_t oo[64];
	uint64_t os[64];
	uint64_t ohash[64];
	int nstamps;
	uint64_t stamp_sum;       /* sum over stamps of lamport * 31 + node */
	mfs_node_t mark_origin;
	uint64_t mark_seq;
	uint8_t peer[MFS_PEER_REC_LEN];
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

static int keep_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct state *st = arg;

	if (st->nops < 64) {
		st->oo[st->nops] = origin;
		st->os[st->nops] = seq;
		st->ohash[st->nops++] = fnv(op, len);
	}
	return 0;
}

static int apply_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	return mfs_ns_apply(arg, origin, seq, op, len, NULL, NULL);
}

static void read_state(struct mfs_ns *ns, struct mfs_db *db, struct state *st)
{
	struct mfs_iter *it;
	struct mfs_val v;
	struct mfs_gc_mark *m = calloc(1, sizeof(*m));

	memset(st, 0, sizeof(*st));
	st->nvv = mfs_ns_vv(ns, st->o, st->s, 8);
	for (int i = 0; i < st->nvv; i++)
		mfs_ns_ops_since(ns, st->o[i], 0, keep_op, st);
	it = mfs_iter_new(db, MFS_CF_STAMPS, NULL, 0);
	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t vl;
		const uint8_t *p = mfs_iter_value(it, &vl);
		struct mfs_stamp s;

		if (!mfs_stamp_decode(p, vl, &s)) {
			st->nstamps++;
			st->stamp_sum += s.lamport * 31 + s.node;
		}
	}
	mfs_iter_free(it);
	if (!mfs_db_get(db, MFS_CF_META, "gc:mark", 7, &v, 1)) {
		if (m && !mfs_gc_mark_decode(v.p, v.len, m) && m->n == 1) {
			st->mark_origin = m->origin[0];
			st->mark_seq = m->seq[0];
		}
		mfs_val_release(&v);
	}
	if (!mfs_db_get(db, MFS_CF_META, "peer:tcp://h:1", 14, &v, 1)) {
		if (v.len == MFS_PEER_REC_LEN)
			memcpy(st->peer, v.p, v.len);
		mfs_val_release(&v);
	}
	free(m);
}

/* Makes node A (id and space ID_A) holding its ops and B's, a gc mark and a peer record. */
static void make_store(struct mfs_db *db)
{
	struct mfs_ns_new nd = { .mode = S_IFDIR | 0755 }, nl = { .mode = S_IFLNK | 0777, .symlink = "t" };
	struct mfs_db *dbb;
	struct mfs_ns *a, *b;
	struct mfs_inode d, x;
	struct mfs_batch *bt;
	uint8_t mark[12 + 16] = { 2, 0, 1, 0 }, peer[MFS_PEER_REC_LEN];

	if (mfs_ns_open(db, &a) || mfs_ns_set_node_id(a, ID_A) || mfs_ns_set_space(a, ID_A) ||
	    mfs_db_open_mem(&dbb) || mfs_ns_open(dbb, &b) || mfs_ns_set_node_id(b, ID_B) ||
	    mfs_ns_set_space(b, ID_B))
		tap_bail("open two stores");
	if (mfs_ns_create(a, MFS_ROOT_INO, "da", &nd, &d) || mfs_ns_create(a, d.ino, "la", &nl, &x))
		tap_bail("A writes");
	mfs_inode_release(&d);
	mfs_inode_release(&x);
	if (mfs_ns_create(b, MFS_ROOT_INO, "db", &nd, &d) || mfs_ns_rename(b, MFS_ROOT_INO, "db", MFS_ROOT_INO, "db2", 0, NULL))
		tap_bail("B writes");
	mfs_inode_release(&d);
	if (mfs_ns_ops_since(b, ID_B, 0, apply_op, a))
		tap_bail("A applies B's ops");
	put_le64(mark + 4, 1764400000);
	put_le64(mark + 12, ID_B);
	put_le64(mark + 20, 1);
	put_le64(peer, ID_B);
	put_le16(peer + 8, ID_B);
	bt = mfs_batch_new(db);
	mfs_batch_put(bt, MFS_CF_META, "gc:mark", 7, mark, sizeof(mark));
	mfs_batch_put(bt, MFS_CF_META, "peer:tcp://h:1", 14, peer, sizeof(peer));
	if (mfs_db_write(db, bt, MFS_WRITE_SYNC))
		tap_bail("mark and peer");
	mfs_batch_free(bt);
	mfs_ns_close(a);
	mfs_ns_close(b);
	mfs_db_close(dbb);
}

/* ---- format 2, as the build before wrote it ------------------------------------ */

/* Rewrites every record that names a node into its format 2 form (16-bit ids). */
static void downgrade(struct mfs_db *db)
{
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_iter *it;
	uint8_t k2[16], v2[64];

	for (it = mfs_iter_new(db, MFS_CF_OPLOG, NULL, 0); mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		k2[0] = k[6], k2[1] = k[7];
		memcpy(k2 + 2, k + 8, 8);
		mfs_batch_delete(b, MFS_CF_OPLOG, k, kl);
		mfs_batch_put(b, MFS_CF_OPLOG, k2, 10, v, vl);
	}
	mfs_iter_free(it);
	for (it = mfs_iter_new(db, MFS_CF_STAMPS, NULL, 0); mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		memcpy(v2, v, 10); /* u64 lamport, then the low 16 bits of the node (LE) */
		mfs_batch_put(b, MFS_CF_STAMPS, k, kl, v2, 10);
	}
	mfs_iter_free(it);
	for (int t = 0; t < 2; t++) {
		it = mfs_iter_new(db, MFS_CF_META, t ? "lb" : "vv", 2);
		for (; mfs_iter_valid(it); mfs_iter_next(it)) {
			size_t kl, vl;
			const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

			k2[0] = k[0], k2[1] = k[1], k2[2] = k[8], k2[3] = k[9];
			mfs_batch_delete(b, MFS_CF_META, k, kl);
			mfs_batch_put(b, MFS_CF_META, k2, 4, v, vl);
		}
		mfs_iter_free(it);
	}
	/* gc mark version 1: u8 1, u8 0, u16 n, u64 first_seen, n x (u16, u64) */
	memset(v2, 0, sizeof(v2));
	v2[0] = 1, v2[2] = 1;
	put_le64(v2 + 4, 1764400000);
	put_le16(v2 + 12, ID_B);
	put_le64(v2 + 14, 1);
	mfs_batch_put(b, MFS_CF_META, "gc:mark", 7, v2, 22);
	put_le16(v2, ID_B);
	mfs_batch_put(b, MFS_CF_META, "peer:tcp://h:1", 14, v2, 2);
	put_le64(v2, 2);
	mfs_batch_put(b, MFS_CF_META, "format", 6, v2, 8);
	mfs_batch_delete(b, MFS_CF_META, "ino_space", 9);
	if (mfs_db_write(db, b, MFS_WRITE_SYNC))
		tap_bail("downgrade");
	mfs_batch_free(b);
}

static uint64_t meta_u64(struct mfs_db *db, const char *key)
{
	struct mfs_val v;
	uint64_t x = 0;

	if (!mfs_db_get(db, MFS_CF_META, key, strlen(key), &v, 1)) {
		x = v.len == 8 ? get_le64(v.p) : 0;
		mfs_val_release(&v);
	}
	return x;
}

/* Ops keyed the old way (10-byte keys) still in the store. */
static int old_keys(struct mfs_db *db)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_OPLOG, NULL, 0);
	int n = 0;

	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;

		mfs_iter_key(it, &kl);
		n += kl == 10;
	}
	mfs_iter_free(it);
	return n;
}

static int same_state(const struct state *a, const struct state *b)
{
	return a->nvv == b->nvv && !memcmp(a->o, b->o, sizeof(a->o)) && !memcmp(a->s, b->s, sizeof(a->s)) &&
	       a->nops == b->nops && !memcmp(a->oo, b->oo, sizeof(a->oo)) &&
	       !memcmp(a->os, b->os, sizeof(a->os)) && !memcmp(a->ohash, b->ohash, sizeof(a->ohash)) &&
	       a->nstamps == b->nstamps && a->stamp_sum == b->stamp_sum &&
	       a->mark_origin == b->mark_origin && a->mark_seq == b->mark_seq &&
	       !memcmp(a->peer, b->peer, sizeof(a->peer));
}

static void test_migrate(void)
{
	static const char *const faults[] = { "write:1:crash", "write:1:EIO", "write:1:ENOSPC" };
	struct mfs_db *mem, *db;
	struct mfs_ns *ns;
	struct state before, after;
	struct mfs_fault_spec spec;
	int n10;

	if (mfs_db_open_mem(&mem) || mfs_db_fault_wrap(mem, NULL, MFS_FAULT_OWN, &db))
		tap_bail("open");
	make_store(db);
	if (mfs_ns_open(db, &ns))
		tap_bail("reopen");
	read_state(ns, db, &before);
	mfs_ns_close(ns);
	ok(before.nvv == 2 && before.nops >= 4 && before.nstamps >= 4 && before.mark_origin == ID_B,
	   "a store with two origins, %d ops, %d stamps, a gc mark and a peer", before.nops,
	   before.nstamps);
	downgrade(db);
	n10 = old_keys(db);
	ok(n10 == before.nops && meta_u64(db, "format") == 2, "rewritten as format 2 (%d ops)", n10);

	for (size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++) {
		if (mfs_fault_spec_parse(faults[f], &spec) || mfs_db_fault_arm(db, &spec))
			tap_bail("arm");
		ns = NULL;
		ok(mfs_ns_open(db, &ns) != 0 && !ns, "%s at the conversion's write: the open fails",
		   faults[f]);
		ok(meta_u64(db, "format") == 2 && old_keys(db) == n10 && meta_u64(db, "ino_space") == 0,
		   "... and leaves format 2 whole");
		mfs_db_fault_arm(db, NULL);
	}
	is_int(mfs_ns_open(db, &ns), 0, "then the open converts it");
	ok(mfs_db_fault_calls(db, MFS_FAULT_WRITE) >= 1, "(in a write)");
	ok(meta_u64(db, "format") == MFS_FORMAT_VERSION && old_keys(db) == 0, "format 3, no old keys");
	ok(mfs_ns_node_id(ns) == ID_A && mfs_ns_space(ns) == ID_A, "the old id is the id and the inode space");
	read_state(ns, db, &after);
	ok(same_state(&before, &after), "version vector, ops, stamps, gc mark and peer record as before");
	mfs_ns_close(ns);
	is_int(mfs_ns_open(db, &ns), 0, "a second open");
	read_state(ns, db, &after);
	ok(same_state(&before, &after), "... changes nothing");
	mfs_ns_close(ns);

	/* A format 2 store whose id does not fit in 16 bits is not one this build wrote. */
	{
		struct mfs_batch *b = mfs_batch_new(db);
		uint8_t v[8];

		put_le64(v, 2);
		mfs_batch_put(b, MFS_CF_META, "format", 6, v, 8);
		put_le64(v, 0x12345);
		mfs_batch_put(b, MFS_CF_META, "node_id", 7, v, 8);
		if (mfs_db_write(db, b, MFS_WRITE_SYNC))
			tap_bail("write");
		mfs_batch_free(b);
		ns = NULL;
		is_int(mfs_ns_open(db, &ns), MFS_EFORMAT, "format 2 with a 17-bit node id is refused");
	}
	mfs_db_close(db);
}

int main(void)
{
	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	test_ids();
	test_migrate();
	return done_testing();
}
