/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace snapshots: the state a set of ops left, instead of the ops.
 *
 * The namespace is a map of last-writer-wins entries (store/ns/oplog.h): each
 * inode and dirent key holds the value of the write with the highest stamp
 * among the ops applied, a deletion included (its stamp stays as a
 * tombstone).  Merging two such maps key by key, highest stamp wins, gives
 * the map of the union of their ops, in any order.  So an image of every
 * record with its stamp, plus the version vector it covers, stands for all
 * those ops: a node merges it as it would apply them, then pulls only the
 * ops after the vector.  Manifests are content addressed (a union); the
 * derived state of directories (times, nlink counted) is refreshed
 * as ns_apply.c does for ops, and an inode's tombstone carries the bytes
 * kept for the deleted file (ns_content.c).  Member records (member.h) are
 * entries of the same map, keyed by node id: a node that bootstraps learns
 * the cluster's members from the image.
 *
 * The image is one point in time: the read view it is read at (kv/db.h) and
 * its header (version vector, clock) are taken together under the namespace
 * lock, which every local commit and every remote apply hold for all their
 * writes.  Only that moment holds the lock; the records are read after it,
 * at the view, while writers go on: their ops are after the image's
 * vector, and the puller gets them as ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "member.h"
#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"
#define SNAP_MAGIC "MFNS"
#define SNAP_VERSION 2          /* 1: 16-bit node ids (not read) */
#define SNAP_VV_ENTRY 16        /* u64 origin, u64 seq */
#define SNAP_HEADER_LEN (4 + 1 + 1 + 2 + 8 + 8)
enum { REC_DELETED = 1 << 0, REC_STAMPED = 1 << 1 };

struct snap_header {
	uint64_t lamport, records;
	uint16_t nvv;
	const uint8_t *vv;      /* nvv x (u64 origin, u64 seq) */
};

struct snap_rec {
	struct mfs_op_entry e;
	int stamped;
	struct mfs_stamp st;
};

/* ---- building -------------------------------------------------------------- */

static void put_rec(struct mfs_wr *w, uint8_t kind, int deleted, const uint8_t *stamp,
		    const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	mfs_wr_u8(w, kind);
	mfs_wr_u8(w, (deleted ? REC_DELETED : 0) | (stamp ? REC_STAMPED : 0));
	mfs_wr_u16(w, (uint16_t)kl);
	mfs_wr_put(w, k, kl);
	if (stamp)
		mfs_wr_put(w, stamp, MFS_STAMP_LEN);
	mfs_wr_u32(w, (uint32_t)vl);
	if (vl)
		mfs_wr_put(w, v, vl);
}

/* Bytewise order, as RocksDB's default comparator. */
static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

/* A tombstone; an inode's carries the bytes kept for it, if any (ns_content.c). */
static int put_tombstone(struct mfs_wr *w, struct mfs_iter *kept, uint8_t kind,
			 const uint8_t *stamp, const uint8_t *k, size_t kl)
{
	const uint8_t *v = NULL;
	size_t vl = 0;
	int rc = 0;

	if (kept && kl == 8 && (rc = ns_kept_at(kept, get_be64(k), &v, &vl)) < 0)
		return rc;
	put_rec(w, kind, 1, stamp, k, kl, rc ? v : NULL, rc ? vl : 0);
	return 0;
}

/*
 * The records of cf joined with their stamps (stamps CF, prefix kind): a
 * stamp without a record is a tombstone.  Both are in key order.
 */
static int emit_cf(struct mfs_ns *ns, const struct mfs_db_view *view, struct mfs_wr *w,
		   enum mfs_cf cf, uint8_t kind, uint64_t *count)
{
	struct mfs_iter *a = mfs_iter_new_at(ns->db, view, cf, NULL, 0);
	struct mfs_iter *s = mfs_iter_new_at(ns->db, view, MFS_CF_STAMPS, &kind, 1);
	struct mfs_iter *kept = NULL;
	int rc = 0;

	if (!a || !s || (kind == MFS_OP_INODE && ns_kept_iter(ns->db, view, &kept))) {
		rc = -ENOMEM;
		goto out;
	}
	while (!rc && (mfs_iter_valid(a) || mfs_iter_valid(s))) {
		size_t al = 0, sl = 0, avl = 0, svl = 0;
		const uint8_t *ak = mfs_iter_valid(a) ? mfs_iter_key(a, &al) : NULL;
		const uint8_t *sk = mfs_iter_valid(s) ? mfs_iter_key(s, &sl) : NULL;
		const uint8_t *av = ak ? mfs_iter_value(a, &avl) : NULL;
		const uint8_t *sv = sk ? mfs_iter_value(s, &svl) : NULL;
		int c = !ak ? 1 : !sk ? -1 : key_cmp(ak, al, sk + 1, sl - 1);

		if (sk && svl != MFS_STAMP_LEN) {
			rc = MFS_EFORMAT;
			break;
		}
		if (c < 0)
			put_rec(w, kind, 0, NULL, ak, al, av, avl);
		else if (c > 0)
			rc = put_tombstone(w, kept, kind, sv, sk + 1, sl - 1);
		else
			put_rec(w, kind, 0, sv, ak, al, av, avl);
		if (c <= 0)
			mfs_iter_next(a);
		if (c >= 0)
			mfs_iter_next(s);
		(*count)++;
	}
	if (!rc)
		rc = mfs_iter_error(a) ? mfs_iter_error(a) : mfs_iter_error(s);
out:
	mfs_iter_free(a);
	mfs_iter_free(s);
	mfs_iter_free(kept);
	return rc;
}

struct emit {
	struct mfs_ns *ns;
	const struct mfs_db_view *view;
	struct mfs_wr *w;
	uint8_t kind;
	uint64_t *count;
};

static int emit_manifest(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct emit *e = arg;

	put_rec(e->w, MFS_OP_MANIFEST, 0, NULL, k, kl, v, vl);
	(*e->count)++;
	return 0;
}

static int emit_manifests(struct mfs_ns *ns, const struct mfs_db_view *view, struct mfs_wr *w,
			  uint64_t *count)
{
	struct emit e = { .w = w, .count = count };

	return mfs_db_each_at(ns->db, view, MFS_CF_MANIFESTS, NULL, 0, emit_manifest, &e);
}

/*
 * The stamp of skey as of view, copied to st (MFS_STAMP_LEN bytes): 0,
 * -ENOENT or an error.  Through an iterator: point reads have no view.
 */
static int stamp_at(struct mfs_ns *ns, const struct mfs_db_view *view, const uint8_t *skey,
		    size_t sklen, uint8_t *st)
{
	struct mfs_iter *it = mfs_iter_new_at(ns->db, view, MFS_CF_STAMPS, skey, sklen);
	int rc = -ENOENT;

	if (!it)
		return -ENOMEM;
	for (; rc == -ENOENT && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *v = mfs_iter_value(it, &vl);

		mfs_iter_key(it, &kl);
		if (kl == sklen)
			rc = vl == MFS_STAMP_LEN ? (memcpy(st, v, vl), 0) : MFS_EFORMAT;
	}
	if (rc == -ENOENT && mfs_iter_error(it))
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

/*
 * The meta records of kind (member records: meta "mb" + id; allow-list
 * entries: "ak" + key; revisions: "rv" + name), each with its stamp: never
 * deleted, always stamped.
 */
static int emit_meta_record(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct emit *e = arg;
	uint8_t skey[STAMP_KEY_MAX], st[MFS_STAMP_LEN];
	int rc;

	if (!ns_meta_key_ok(e->kind, kl))
		return 0;
	rc = stamp_at(e->ns, e->view, skey, stamp_key(e->kind, k + 2, kl - 2, skey), st);
	if (rc == -ENOENT)
		return 0; /* cannot be merged by stamp: its writer sends it again */
	if (rc == MFS_EFORMAT)
		return 0; /* as before: a malformed stamp is not sent */
	if (rc)
		return rc;
	put_rec(e->w, e->kind, 0, st, k + 2, kl - 2, v, vl);
	(*e->count)++;
	return 0;
}

static int emit_meta_records(struct mfs_ns *ns, const struct mfs_db_view *view, struct mfs_wr *w,
			     uint8_t kind, uint64_t *count)
{
	struct emit e = { .ns = ns, .view = view, .w = w, .kind = kind, .count = count };

	return mfs_db_each_at(ns->db, view, MFS_CF_META, ns_meta_prefix(kind), 2,
			      emit_meta_record, &e);
}

static int emit_header(struct mfs_ns *ns, struct mfs_wr *w, struct mfs_snap_info *info)
{
	mfs_node_t *o = malloc(MFS_NS_MAX_ORIGINS * sizeof(*o));
	uint64_t *s = malloc(MFS_NS_MAX_ORIGINS * sizeof(*s));
	int n = o && s ? mfs_ns_vv(ns, o, s, MFS_NS_MAX_ORIGINS) : -ENOMEM;

	if (n >= 0) {
		mfs_wr_put(w, SNAP_MAGIC, 4);
		mfs_wr_u8(w, SNAP_VERSION);
		mfs_wr_u8(w, 0);
		mfs_wr_u16(w, (uint16_t)n);
		mfs_wr_u64(w, ns->lamport);
		mfs_wr_u64(w, 0); /* the record count, filled in at the end */
		for (int i = 0; i < n; i++) {
			mfs_wr_u64(w, o[i]);
			mfs_wr_u64(w, s[i]);
		}
		info->nvv = n;
		info->lamport = ns->lamport;
	}
	free(o);
	free(s);
	return n < 0 ? n : 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int mfs_ns_snap_begin(struct mfs_ns *ns, struct mfs_wr *w, struct mfs_snap_info *info,
		      struct mfs_ns_snap_job *job)
{
	uint64_t t0;
	int rc = -ENOMEM;

	memset(info, 0, sizeof(*info));
	memset(job, 0, sizeof(*job));
	pthread_mutex_lock(&ns->lock);
	t0 = now_us();
	job->own = ns->seq;
	if ((job->view = mfs_db_view_new(ns->db)))
		rc = emit_header(ns, w, info);
	info->locked_us = now_us() - t0;
	pthread_mutex_unlock(&ns->lock);
	if (rc) {
		mfs_db_view_free(job->view);
		job->view = NULL;
	}
	return rc;
}

int mfs_ns_snap_end(struct mfs_ns *ns, struct mfs_ns_snap_job *job, struct mfs_wr *w,
		    struct mfs_snap_info *info)
{
	int rc = emit_cf(ns, job->view, w, MFS_CF_INODES, MFS_OP_INODE, &info->records);

	if (!rc)
		rc = emit_cf(ns, job->view, w, MFS_CF_DIRENTS, MFS_OP_DIRENT, &info->records);
	if (!rc)
		rc = emit_manifests(ns, job->view, w, &info->records);
	if (!rc)
		rc = emit_meta_records(ns, job->view, w, MFS_OP_NODE, &info->records);
	if (!rc)
		rc = emit_meta_records(ns, job->view, w, MFS_OP_ALLOW, &info->records);
	if (!rc)
		rc = emit_meta_records(ns, job->view, w, MFS_OP_REV, &info->records);
	mfs_db_view_free(job->view);
	job->view = NULL;
	if (!rc && w->oom)
		rc = -ENOMEM;
	if (!rc)
		put_le64(w->buf + 16, info->records);
	/* As for ops (mfs_ns_ops_since): only durable own ops leave the node. */
	if (!rc)
		rc = ns_wait_durable(ns, job->own);
	return rc;
}

int mfs_ns_snap_build(struct mfs_ns *ns, struct mfs_wr *w, struct mfs_snap_info *info)
{
	struct mfs_snap_info dummy;
	struct mfs_ns_snap_job job;
	int rc;

	if (!info)
		info = &dummy;
	if ((rc = mfs_ns_snap_begin(ns, w, info, &job)))
		return rc;
	return mfs_ns_snap_end(ns, &job, w, info);
}

/* ---- reading ----------------------------------------------------------------- */

static int parse_header(struct mfs_rd *r, struct snap_header *h)
{
	const uint8_t *magic = mfs_rd_take(r, 4);
	uint8_t version = mfs_rd_u8(r), zero = mfs_rd_u8(r);

	h->nvv = mfs_rd_u16(r);
	h->lamport = mfs_rd_u64(r);
	h->records = mfs_rd_u64(r);
	if (r->bad || memcmp(magic, SNAP_MAGIC, 4) || version != SNAP_VERSION || zero ||
	    h->nvv > MFS_NS_MAX_ORIGINS)
		return MFS_EFORMAT;
	h->vv = mfs_rd_take(r, (size_t)h->nvv * SNAP_VV_ENTRY);
	if (!h->vv)
		return MFS_EFORMAT;
	for (uint16_t i = 0; i < h->nvv; i++)
		if (get_le64(h->vv + i * SNAP_VV_ENTRY) == 0)
			return MFS_EFORMAT;
	return 0;
}

/* The next record's shape: 0 or MFS_EFORMAT. */
static int next_rec(struct mfs_rd *r, struct snap_rec *x)
{
	uint8_t flags;
	const uint8_t *st = NULL;

	memset(x, 0, sizeof(*x));
	x->e.kind = mfs_rd_u8(r);
	flags = mfs_rd_u8(r);
	x->e.klen = mfs_rd_u16(r);
	x->e.key = mfs_rd_take(r, x->e.klen);
	if (flags & REC_STAMPED)
		st = mfs_rd_take(r, MFS_STAMP_LEN);
	x->e.vlen = mfs_rd_u32(r);
	x->e.val = mfs_rd_take(r, x->e.vlen);
	x->e.deleted = flags & REC_DELETED;
	x->stamped = !!(flags & REC_STAMPED);
	if (r->bad || !x->e.key || (x->e.vlen && !x->e.val) || (flags & ~3) ||
	    (x->e.kind != MFS_OP_INODE && x->e.kind != MFS_OP_DIRENT && x->e.kind != MFS_OP_MANIFEST &&
	     !ns_is_meta_record(x->e.kind)) ||
	    (x->e.kind == MFS_OP_MANIFEST && flags) || (x->e.deleted && !x->stamped) ||
	    (ns_is_meta_record(x->e.kind) && !x->stamped) ||
	    !(mfs_op_entry_shape_ok(x->e.kind, x->e.deleted, x->e.klen, x->e.vlen) ||
	      (x->e.kind == MFS_OP_INODE && x->e.deleted && x->e.klen == 8 &&
	       ns_kept_valid(x->e.val, x->e.vlen))))
		return MFS_EFORMAT;
	if (st && (mfs_stamp_decode(st, MFS_STAMP_LEN, &x->st) || x->st.node == 0))
		return MFS_EFORMAT;
	return 0;
}

int mfs_ns_snap_vv(const uint8_t *p, size_t n, mfs_node_t *origins, uint64_t *seqs, int cap)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct snap_header h;
	int k = 0;

	if (parse_header(&r, &h))
		return MFS_EFORMAT;
	for (; k < h.nvv && k < cap; k++) {
		origins[k] = get_le64(h.vv + k * SNAP_VV_ENTRY);
		seqs[k] = get_le64(h.vv + k * SNAP_VV_ENTRY + 8);
	}
	return k;
}

int mfs_ns_snap_check(const uint8_t *p, size_t n, struct mfs_snap_info *info)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct snap_header h;
	struct snap_rec x;
	int rc;

	if ((rc = parse_header(&r, &h)))
		return rc;
	/* Each record takes at least 8 bytes: a count beyond that is a lie. */
	if (h.records > r.left / 8)
		return MFS_EFORMAT;
	for (uint64_t i = 0; i < h.records; i++)
		if ((rc = next_rec(&r, &x)) || (rc = ns_entry_valid(&x.e)))
			return rc;
	if (r.left)
		return MFS_EFORMAT;
	if (info) {
		memset(info, 0, sizeof(*info));
		info->records = h.records;
		info->lamport = h.lamport;
		info->nvv = h.nvv;
	}
	return 0;
}

/* ---- merging ----------------------------------------------------------------- */

struct merge {
	struct mfs_ns *ns;
	struct mfs_batch *b;
	struct changes cs;
	uint64_t *dirs;         /* to recount (nlink), with repeats */
	size_t ndirs, dircap;
	uint64_t won;
};

static void recount_later(struct merge *m, uint64_t ino)
{
	if (m->ndirs && m->dirs[m->ndirs - 1] == ino)
		return; /* dirents come grouped by parent */
	if (mfs_grow(&m->dirs, &m->dircap, m->ndirs, sizeof(*m->dirs)))
		m->cs.oom = 1;
	else
		m->dirs[m->ndirs++] = ino;
}

/*
 * An inode record that lost: a directory's still carries its times, which
 * win if their ctime is the later (ns_dir_times_win), a file's or a tombstone's kept bytes maybe the later bytes
 * (as an op's, ns_apply.c).
 */
static int merge_losing_inode(struct merge *m, const struct snap_rec *x)
{
	struct mfs_inode in;
	uint64_t ino = get_be64(x->e.key);
	int rc;

	if (x->e.deleted && !x->e.vlen)
		return 0;
	if (x->e.deleted) {
		rc = ns_put_later_kept(m->ns, m->b, ino, x->e.val, x->e.vlen);
		if (rc > 0)
			ns_note_change(&m->cs, MFS_CHANGE_INODE, ino, 0, NULL, 0);
		return rc < 0 ? rc : 0;
	}
	if ((rc = mfs_inode_decode(ino, x->e.val, x->e.vlen, &in)))
		return rc;
	if (S_ISDIR(in.mode))
		rc = ns_refresh_dir(m->ns, m->b, ino, &in.mtime, &in.ctime, 0, &m->cs);
	else if (S_ISREG(in.mode) && (rc = ns_put_later_content(m->ns, m->b, &x->e)) > 0)
		ns_note_change(&m->cs, MFS_CHANGE_INODE, ino, 0, NULL, 0);
	mfs_inode_release(&in);
	return rc < 0 ? rc : 0;
}

/* Does x win over what is held for its key?  1, 0 or an error. */
static int rec_wins(struct merge *m, const struct snap_rec *x, const uint8_t *skey, size_t sklen)
{
	int rc;

	if (x->stamped)
		return ns_stamp_wins(m->ns, skey, sklen, &x->st);
	/* Unstamped (the root, written at creation): only fills in what is absent. */
	if ((rc = mfs_db_exists(m->ns->db, MFS_CF_STAMPS, skey, sklen)) != 0)
		return rc < 0 ? rc : 0;
	rc = mfs_db_exists(m->ns->db, x->e.kind == MFS_OP_INODE ? MFS_CF_INODES : MFS_CF_DIRENTS,
			   x->e.key, x->e.klen);
	return rc < 0 ? rc : !rc;
}

static int merge_rec(struct merge *m, const struct snap_rec *x)
{
	const struct mfs_op_entry *e = &x->e;
	enum mfs_cf cf = e->kind == MFS_OP_INODE ? MFS_CF_INODES : MFS_CF_DIRENTS;
	uint8_t skey[STAMP_KEY_MAX], sval[MFS_STAMP_LEN];
	size_t sklen;
	int rc;

	if (e->kind == MFS_OP_MANIFEST) {
		rc = mfs_db_exists(m->ns->db, MFS_CF_MANIFESTS, e->key, e->klen);
		if (rc == 0)
			mfs_batch_put(m->b, MFS_CF_MANIFESTS, e->key, e->klen, e->val, e->vlen);
		return rc < 0 ? rc : 0;
	}
	if (ns_is_meta_record(e->kind)) {
		mfs_stamp_encode(&x->st, sval);
		rc = ns_apply_meta_record(m->ns, m->b, e, &x->st, skey, sval);
		m->won += rc > 0;
		return rc < 0 ? rc : 0;
	}
	sklen = stamp_key(e->kind, e->key, e->klen, skey);
	if ((rc = rec_wins(m, x, skey, sklen)) < 0)
		return rc;
	if (!rc)
		return e->kind == MFS_OP_INODE ? merge_losing_inode(m, x) : 0;
	if (e->deleted && e->kind == MFS_OP_INODE &&
	    (rc = ns_keep_deleted(m->ns->db, m->b, get_be64(e->key), e->vlen ? e->val : NULL,
				  e->vlen)))
		return rc;
	if (e->deleted)
		mfs_batch_delete(m->b, cf, e->key, e->klen);
	else if (e->kind == MFS_OP_INODE && (rc = ns_put_record_merged(m->ns, m->b, e)))
		return rc;
	else if (e->kind == MFS_OP_DIRENT)
		mfs_batch_put(m->b, cf, e->key, e->klen, e->val, e->vlen);
	if (x->stamped) {
		mfs_stamp_encode(&x->st, sval);
		mfs_batch_put(m->b, MFS_CF_STAMPS, skey, sklen, sval, sizeof(sval));
	}
	m->won++;
	if (e->kind == MFS_OP_INODE) {
		ns_note_change(&m->cs, MFS_CHANGE_INODE, get_be64(e->key), 0, NULL, 0);
		/* A directory's record carries its peer's nlink: count here.  The
		 * mode sits at offset 4 of every inode record version (checked). */
		if (!e->deleted && S_ISDIR(get_le32(e->val + 4)))
			recount_later(m, get_be64(e->key));
	} else {
		ns_note_change(&m->cs, MFS_CHANGE_DIRENT, 0, get_be64(e->key), e->key + 8, e->klen - 8);
		recount_later(m, get_be64(e->key));
	}
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Second batch: nlink of the directories touched, then the version vector,
 * the log bases (ops below the image's vector that this node does not hold
 * now never will be: they are folded in) and the clock.
 */
static int merge_derived(struct merge *m, const struct snap_header *h, uint64_t *own_seq)
{
	struct mfs_ns *ns = m->ns;
	int rc = 0;

	if (m->ndirs) /* qsort's pointer may not be NULL, even for no element (UBSan) */
		qsort(m->dirs, m->ndirs, sizeof(*m->dirs), u64_cmp);
	for (size_t i = 0; i < m->ndirs && !rc; i++)
		if (!i || m->dirs[i] != m->dirs[i - 1])
			rc = ns_refresh_dir(ns, m->b, m->dirs[i], NULL, NULL, 1, &m->cs);
	*own_seq = 0;
	for (uint16_t i = 0; i < h->nvv && !rc; i++) {
		mfs_node_t o = get_le64(h->vv + i * SNAP_VV_ENTRY);
		uint64_t s = get_le64(h->vv + i * SNAP_VV_ENTRY + 8), held, base;

		if ((rc = vv_get(ns, o, &held)) || (rc = lb_get(ns, o, &base)) || s <= held)
			continue;
		if (held > base && (rc = oplog_drop(ns, m->b, o, base, held)))
			break;
		vv_put(m->b, o, s);
		lb_put(m->b, o, s);
		if (o == ns->node_id)
			*own_seq = s; /* ours, from before a lost store: never reuse the numbers */
	}
	if (!rc && h->lamport > ns->lamport)
		meta_put_u64(m->b, "lamport", h->lamport);
	return rc;
}

/* Under both locks: the two batches. */
static int merge_all(struct merge *m, struct mfs_rd *r, const struct snap_header *h)
{
	struct mfs_ns *ns = m->ns;
	struct snap_rec x;
	uint64_t own_seq;
	int rc = 0;

	for (uint64_t i = 0; i < h->records && !rc; i++)
		if (!(rc = next_rec(r, &x)))
			rc = merge_rec(m, &x);
	if (!rc && m->cs.oom)
		rc = -ENOMEM;
	if (rc || (rc = mfs_db_write(ns->db, m->b, MFS_WRITE_SYNC)))
		return rc;
	mfs_batch_free(m->b);
	if (!(m->b = mfs_batch_new(ns->db)))
		return -ENOMEM;
	if ((rc = merge_derived(m, h, &own_seq)))
		return rc;
	if (m->cs.oom)
		return -ENOMEM;
	if ((rc = mfs_db_write(ns->db, m->b, MFS_WRITE_SYNC)))
		return rc;
	if (h->lamport > ns->lamport)
		ns->lamport = h->lamport;
	if (own_seq > ns->seq)
		ns->seq = ns->durable_seq = own_seq;
	return 0;
}

int mfs_ns_snap_apply(struct mfs_ns *ns, const uint8_t *p, size_t n, mfs_ns_change_fn fn,
		      void *arg, struct mfs_snap_info *info)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct merge m = { .ns = ns };
	struct snap_header h;
	int rc;

	if ((rc = mfs_ns_snap_check(p, n, info)) || (rc = parse_header(&r, &h)))
		return rc;
	if (!(m.b = mfs_batch_new(ns->db)))
		return -ENOMEM;
	/* A record may name chunks gc is about to delete: hold gc off, as an op's apply does. */
	pthread_rwlock_rdlock(&ns->refs_lock);
	pthread_mutex_lock(&ns->lock);
	ns_names_forget(ns); /* as an op's apply (namespace.c, lists seen true) */
	rc = merge_all(&m, &r, &h);
	pthread_mutex_unlock(&ns->lock);
	pthread_rwlock_unlock(&ns->refs_lock);
	if (!rc && info)
		info->won = m.won;
	for (size_t i = 0; !rc && fn && i < m.cs.n; i++)
		fn(arg, &m.cs.c[i]);
	mfs_batch_free(m.b);
	free(m.dirs);
	ns_changes_release(&m.cs);
	return rc;
}
