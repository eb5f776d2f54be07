/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Format 3 (64-bit node ids) from formats 1 and 2, in place at open
 * (doc/format.md, "Format 3").  Everything that named a node by its 16-bit id
 * is rewritten with the id zero-extended to 64 bits, in one synced batch
 * with the new format number: a crash before it leaves a format 2 store that
 * the next open converts again, a crash after it a format 3 store.  The old
 * id stays the node's id (a node with a CURVE key takes its key's id at the
 * first start after this: replica/node.c) and becomes its inode space, so no
 * inode number changes.
 *
 *   oplog:   u16 BE origin + u64 BE seq     ->  u64 BE origin + u64 BE seq
 *   stamps:  u64 lamport, u16 node          ->  u64 lamport, u64 node
 *   meta:    "vv"/"lb" + u16 BE             ->  "vv"/"lb" + u64 BE
 *            "peer:" + endpoint: u16 id     ->  u64 id, u16 inode space
 *            "gc:" + hash: gc mark version 1 (u16 origins) -> version 2 (u64)
 *            "ino_space" (new)              =   the old node id
 */
#include <errno.h>
#include <string.h>

#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

struct mig {
	struct mfs_batch *b;
	uint64_t oplog, stamps, vecs, peers, marks;
};

/* Calls fn on every key/value of cf under prefix (NULL: all); stops at the first error. */
static int each(struct mfs_db *db, enum mfs_cf cf, const char *prefix, mfs_db_each_fn fn,
		struct mig *m)
{
	return mfs_db_each(db, cf, prefix, prefix ? strlen(prefix) : 0, fn, m);
}

static int mig_oplog(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct mig *m = arg;
	uint8_t nk[MFS_OPLOG_KEY_LEN];

	if (kl != 10)
		return kl == MFS_OPLOG_KEY_LEN ? 0 : MFS_EFORMAT;
	mfs_oplog_key((mfs_node_t)(k[0] << 8 | k[1]), get_be64(k + 2), nk);
	mfs_batch_delete(m->b, MFS_CF_OPLOG, k, kl);
	mfs_batch_put(m->b, MFS_CF_OPLOG, nk, sizeof(nk), v, vl);
	m->oplog++;
	return 0;
}

static int mig_stamp(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct mig *m = arg;
	uint8_t nv[MFS_STAMP_LEN];
	struct mfs_stamp st;

	if (vl != 10)
		return vl == MFS_STAMP_LEN ? 0 : MFS_EFORMAT;
	st.lamport = get_le64(v);
	st.node = get_le16(v + 8);
	mfs_stamp_encode(&st, nv);
	mfs_batch_put(m->b, MFS_CF_STAMPS, k, kl, nv, sizeof(nv));
	m->stamps++;
	return 0;
}

/* "vv" and "lb" entries: the old keys are 4 bytes. */
static int mig_vec(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct mig *m = arg;
	uint8_t nk[VV_KEY_LEN];

	if (kl != 4)
		return 0;
	nk[0] = k[0];
	nk[1] = k[1];
	put_be64(nk + 2, (uint64_t)(k[2] << 8 | k[3]));
	mfs_batch_delete(m->b, MFS_CF_META, k, kl);
	mfs_batch_put(m->b, MFS_CF_META, nk, sizeof(nk), v, vl);
	m->vecs++;
	return 0;
}

static int mig_peer(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct mig *m = arg;
	uint8_t nv[MFS_PEER_REC_LEN];

	if (vl != 2)
		return 0;
	/* The old id was also the space its inodes are numbered in. */
	put_le64(nv, get_le16(v));
	put_le16(nv + 8, get_le16(v));
	mfs_batch_put(m->b, MFS_CF_META, k, kl, nv, sizeof(nv));
	m->peers++;
	return 0;
}

/* gc mark v1: u8 1, u8 0, u16 n, u64 first_seen, n x (u16 origin, u64 seq); v2 the same with u64 origins. */
static int mig_mark(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct mig *m = arg;
	struct mfs_wr w = { 0 };
	size_t n;

	if (vl < 12 || v[0] != 1)
		return 0; /* not a version 1 mark: gc judges it as it would have */
	n = get_le16(v + 2);
	if (vl != 12 + n * 10)
		return 0;
	mfs_wr_u8(&w, 2);
	mfs_wr_u8(&w, 0);
	mfs_wr_u16(&w, (uint16_t)n);
	mfs_wr_u64(&w, get_le64(v + 4));
	for (size_t i = 0; i < n; i++) {
		mfs_wr_u64(&w, get_le16(v + 12 + i * 10));
		mfs_wr_u64(&w, get_le64(v + 14 + i * 10));
	}
	if (w.oom)
		return -ENOMEM;
	mfs_batch_put(m->b, MFS_CF_META, k, kl, w.buf, w.len);
	mfs_wr_release(&w);
	m->marks++;
	return 0;
}

int ns_migrate_wide_ids(struct mfs_ns *ns, uint64_t from)
{
	struct mig m = { .b = mfs_batch_new(ns->db) };
	uint64_t id;
	int rc;

	if (!m.b)
		return -ENOMEM;
	if ((rc = meta_get_u64(ns, "node_id", &id)))
		goto out;
	if (id == 0 || id > 0xffff) {
		log_error("store format %llu has node id %llx, not a 16-bit id: not converted",
			  (unsigned long long)from, (unsigned long long)id);
		rc = MFS_EFORMAT;
		goto out;
	}
	if (!(rc = each(ns->db, MFS_CF_OPLOG, NULL, mig_oplog, &m)) &&
	    !(rc = each(ns->db, MFS_CF_STAMPS, NULL, mig_stamp, &m)) &&
	    !(rc = each(ns->db, MFS_CF_META, "vv", mig_vec, &m)) &&
	    !(rc = each(ns->db, MFS_CF_META, "lb", mig_vec, &m)) &&
	    !(rc = each(ns->db, MFS_CF_META, "peer:", mig_peer, &m)) &&
	    !(rc = each(ns->db, MFS_CF_META, "gc:", mig_mark, &m))) {
		meta_put_u64(m.b, "node_id", id);
		meta_put_u64(m.b, "ino_space", id);
		meta_put_u64(m.b, "format", MFS_FORMAT_WIDE_IDS);
		rc = mfs_db_write(ns->db, m.b, MFS_WRITE_SYNC);
	}
	if (!rc)
		log_info("store format %llu converted to %d (64-bit node ids): node id " MFS_NODE_FMT
			 ", inode space %04llx; %llu ops, %llu stamps, %llu vector entries, "
			 "%llu peers, %llu gc marks rewritten", (unsigned long long)from,
			 MFS_FORMAT_WIDE_IDS, MFS_NODE_ARG(id), (unsigned long long)id,
			 (unsigned long long)m.oplog, (unsigned long long)m.stamps,
			 (unsigned long long)m.vecs, (unsigned long long)m.peers,
			 (unsigned long long)m.marks);
	else
		log_error("store format %llu not converted to %d: %s (nothing changed; "
			  "the next start tries again)", (unsigned long long)from,
			  MFS_FORMAT_WIDE_IDS, mfs_strerror(rc));
out:
	mfs_batch_free(m.b);
	return rc;
}
