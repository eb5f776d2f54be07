/* SPDX-License-Identifier: Apache-2.0 */
/* Local namespace writes as one batch plus one op-log entry, made durable by
 * a group commit after the namespace lock (ns_internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

size_t stamp_key(uint8_t kind, const uint8_t *key, size_t klen, uint8_t out[STAMP_KEY_MAX])
{
	out[0] = kind;
	memcpy(out + 1, key, klen);
	return 1 + klen;
}

/* A per-origin vector entry in meta: two tag letters ("vv", "lb") + origin (u64 BE). */
static void vec_key(const char *tag, mfs_node_t origin, uint8_t out[VV_KEY_LEN])
{
	out[0] = (uint8_t)tag[0];
	out[1] = (uint8_t)tag[1];
	put_be64(out + 2, origin);
}

void vv_key(mfs_node_t origin, uint8_t out[VV_KEY_LEN])
{
	vec_key("vv", origin, out);
}

static int vec_get(struct mfs_ns *ns, const char *tag, mfs_node_t origin, uint64_t *seq)
{
	uint8_t k[VV_KEY_LEN];
	struct mfs_val v;
	int rc;

	vec_key(tag, origin, k);
	*seq = 0;
	rc = mfs_db_get(ns->db, MFS_CF_META, k, sizeof(k), &v, 1);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = v.len == 8 ? 0 : MFS_EFORMAT;
	if (!rc)
		*seq = get_le64(v.p);
	mfs_val_release(&v);
	return rc;
}

static void vec_put(struct mfs_batch *b, const char *tag, mfs_node_t origin, uint64_t seq)
{
	uint8_t k[VV_KEY_LEN], v[8];

	vec_key(tag, origin, k);
	put_le64(v, seq);
	mfs_batch_put(b, MFS_CF_META, k, sizeof(k), v, sizeof(v));
}

int vv_get(struct mfs_ns *ns, mfs_node_t origin, uint64_t *seq)
{
	return vec_get(ns, "vv", origin, seq);
}

void vv_put(struct mfs_batch *b, mfs_node_t origin, uint64_t seq)
{
	vec_put(b, "vv", origin, seq);
}

int lb_get(struct mfs_ns *ns, mfs_node_t origin, uint64_t *seq)
{
	return vec_get(ns, "lb", origin, seq);
}

void lb_put(struct mfs_batch *b, mfs_node_t origin, uint64_t seq)
{
	vec_put(b, "lb", origin, seq);
}

int ns_vec_list(struct mfs_ns *ns, const char *tag, mfs_node_t *origins, uint64_t *seqs, int cap)
{
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_META, tag, 2);
	int n = 0;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it) && n < cap; mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl != VV_KEY_LEN || vl != 8)
			continue;
		origins[n] = get_be64(k + 2);
		seqs[n++] = get_le64(v);
	}
	if (!mfs_iter_valid(it) && mfs_iter_error(it))
		n = mfs_iter_error(it);
	mfs_iter_free(it);
	return n;
}

int ns_load_clock(struct mfs_ns *ns)
{
	int rc = meta_get_u64(ns, "lamport", &ns->lamport);

	if (rc == -ENOENT) {
		ns->lamport = 0;
		rc = 0;
	}
	if (!rc)
		rc = vv_get(ns, ns->node_id, &ns->seq);
	/* What the store holds at open survived: durable. */
	ns->durable_seq = ns->seq;
	return rc;
}

int txn_begin(struct mfs_ns *ns, struct ns_txn *t)
{
	return txn_begin_with(ns, t, NULL);
}

int txn_begin_with(struct mfs_ns *ns, struct ns_txn *t, struct mfs_batch *with)
{
	memset(t, 0, sizeof(*t));
	if (!(t->b = with ? with : mfs_batch_new(ns->db)))
		return -ENOMEM;
	mfs_op_begin(&t->op);
	return 0;
}

void txn_free(struct ns_txn *t)
{
	mfs_batch_free(t->b);
	mfs_op_release(&t->op);
	t->b = NULL;
}

/* Puts in's record into b and, if op is given, into the op as an 'I' entry. */
static int put_inode(struct mfs_batch *b, struct mfs_op_builder *op, const struct mfs_inode *in)
{
	struct mfs_wr w = { 0 };
	uint8_t key[8];

	mfs_inode_encode(in, &w);
	if (w.oom)
		return -ENOMEM;
	mfs_ino_key(in->ino, key);
	mfs_batch_put(b, MFS_CF_INODES, key, 8, w.buf, w.len);
	if (op)
		mfs_op_add(op, MFS_OP_INODE, 0, key, 8, w.buf, w.len);
	mfs_wr_release(&w);
	return 0;
}

int ns_put_inode_raw(struct mfs_batch *b, const struct mfs_inode *in)
{
	return put_inode(b, NULL, in);
}

int txn_put_inode(struct ns_txn *t, const struct mfs_inode *in)
{
	return put_inode(t->b, &t->op, in);
}

void txn_del_inode(struct ns_txn *t, uint64_t ino)
{
	uint8_t key[8];

	if (!t->err)
		t->err = ns_keep_deleted(mfs_batch_db(t->b), t->b, ino, NULL, 0);
	mfs_ino_key(ino, key);
	mfs_batch_delete(t->b, MFS_CF_INODES, key, 8);
	mfs_op_add(&t->op, MFS_OP_INODE, 1, key, 8, NULL, 0);
}

void txn_put_dirent(struct ns_txn *t, const struct dirent_key *k, uint64_t ino, uint32_t mode)
{
	uint8_t v[12];

	put_le64(v, ino);
	put_le32(v + 8, mode);
	mfs_batch_put(t->b, MFS_CF_DIRENTS, k->b, k->len, v, sizeof(v));
	mfs_op_add(&t->op, MFS_OP_DIRENT, 0, k->b, k->len, v, sizeof(v));
}

void txn_del_dirent(struct ns_txn *t, const struct dirent_key *k)
{
	mfs_batch_delete(t->b, MFS_CF_DIRENTS, k->b, k->len);
	mfs_op_add(&t->op, MFS_OP_DIRENT, 1, k->b, k->len, NULL, 0);
}

int txn_touch_dir(struct ns_txn *t, const struct mfs_inode *dir)
{
	uint8_t key[8], v[12];
	int rc = ns_put_inode_raw(t->b, dir);

	if (rc)
		return rc;
	mfs_ino_key(dir->ino, key);
	put_le64(v, (uint64_t)dir->mtime.tv_sec);
	put_le32(v + 8, (uint32_t)dir->mtime.tv_nsec);
	mfs_op_add(&t->op, MFS_OP_TOUCH, 0, key, 8, v, sizeof(v));
	return 0;
}

int txn_put_manifest(struct ns_txn *t, const struct mfs_hash *id)
{
	struct mfs_db *db = mfs_batch_db(t->b);
	struct mfs_val v;
	int rc = mfs_db_get(db, MFS_CF_MANIFESTS, id->b, MFS_HASH_LEN, &v, 1);

	if (rc)
		return rc;
	txn_put_manifest_bytes(t, id, v.p, v.len);
	mfs_val_release(&v);
	return 0;
}

void txn_put_manifest_bytes(struct ns_txn *t, const struct mfs_hash *id, const void *p, size_t n)
{
	mfs_op_add(&t->op, MFS_OP_MANIFEST, 0, id->b, MFS_HASH_LEN, p, n);
}

int txn_commit(struct mfs_ns *ns, struct ns_txn *t)
{
	struct mfs_stamp st = { .lamport = ns->lamport + 1, .node = ns->node_id };
	uint8_t skey[STAMP_KEY_MAX], sval[MFS_STAMP_LEN], okey[MFS_OPLOG_KEY_LEN];
	struct mfs_op op;
	int rc;

	if (t->err)
		return t->err;
	if ((rc = mfs_op_finish(&t->op, st.lamport)))
		return rc;
	if ((rc = mfs_op_decode(t->op.w.buf, t->op.w.len, &op))) {
		log_error("built a malformed op (%d entries)", t->op.n);
		return rc;
	}
	mfs_stamp_encode(&st, sval);
	for (uint32_t i = 0; i < op.n; i++) {
		const struct mfs_op_entry *e = &op.e[i];

		if (e->kind == MFS_OP_INODE || e->kind == MFS_OP_DIRENT ||
		    ns_is_meta_record(e->kind))
			mfs_batch_put(t->b, MFS_CF_STAMPS, skey,
				      stamp_key(e->kind, e->key, e->klen, skey), sval, sizeof(sval));
	}
	mfs_op_free_entries(&op);
	mfs_oplog_key(ns->node_id, ns->seq + 1, okey);
	mfs_batch_put(t->b, MFS_CF_OPLOG, okey, sizeof(okey), t->op.w.buf, t->op.w.len);
	vv_put(t->b, ns->node_id, ns->seq + 1);
	meta_put_u64(t->b, "lamport", st.lamport);
	/* A failed write may have left anything: forget then too. */
	if (!t->keeps_names)
		ns_names_forget(ns);
	if ((rc = mfs_db_write(ns->db, t->b, MFS_WRITE_ASYNC))) {
		ns_names_forget(ns);
		return rc;
	}
	ns->lamport = st.lamport;
	ns->seq++;
	if (t->names_ok && t->keeps_names)
		ns_names_note_ok(ns, t->names_ok);
	return 0;
}

int ns_wait_durable(struct mfs_ns *ns, uint64_t upto)
{
	uint64_t cur = __atomic_load_n(&ns->durable_seq, __ATOMIC_ACQUIRE);
	int rc;

	if (cur >= upto)
		return 0; /* another caller's sync covered it */
	/*
	 * Op upto landed before this call: the sync covers it and all before.
	 * Once again after a failure: the op is visible already, and an error
	 * that passed would otherwise leave it undurable with nobody to sync
	 * it (RocksDB itself refuses every sync after a real I/O error).
	 */
	if ((rc = mfs_db_sync(ns->db)) && (rc = mfs_db_sync(ns->db)))
		return rc;
	while (cur < upto && !__atomic_compare_exchange_n(&ns->durable_seq, &cur, upto, 0,
							  __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
		;
	return 0;
}
