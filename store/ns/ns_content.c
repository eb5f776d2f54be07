/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A regular file's bytes across the ops that carry its record: whichever op
 * wins by its stamp, the record keeps the later bytes of the two
 * (content_cmp), and the bytes of a record that was deleted are kept
 * ("kept bytes", below) for a later op that puts the record back.  Called
 * by ns_apply.c for ops and ns_snap.c for images.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

/*
 * Orders two records of one regular file by their bytes, the same way on
 * every node: the later published version (version counts publishes), then
 * published over pending, then by manifest id and size.  > 0 if a's bytes
 * are the later.
 */
static int content_cmp(const struct mfs_inode *a, const struct mfs_inode *b)
{
	int pa = !(a->flags & MFS_I_PENDING), pb = !(b->flags & MFS_I_PENDING), c;

	if (a->version != b->version)
		return a->version > b->version ? 1 : -1;
	if (pa != pb)
		return pa - pb;
	if (a->has_manifest != b->has_manifest)
		return a->has_manifest - b->has_manifest;
	if ((c = memcmp(a->manifest.b, b->manifest.b, MFS_HASH_LEN)))
		return c;
	return a->size == b->size ? 0 : a->size > b->size ? 1 : -1;
}

/* dst takes src's bytes: what a publish sets (namespace.c publish_fields). */
static void take_content(struct mfs_inode *dst, const struct mfs_inode *src)
{
	dst->flags = (dst->flags & ~MFS_I_PENDING) | (src->flags & MFS_I_PENDING);
	dst->size = src->size;
	dst->version = src->version;
	dst->has_manifest = src->has_manifest;
	dst->manifest = src->manifest;
	dst->mtime = src->mtime;
	if (mfs_ts_after(&src->ctime, &dst->ctime))
		dst->ctime = src->ctime;
}

/*
 * Kept bytes (meta "fc:" + ino): the content of a regular file's record
 * that was deleted, and of records that lost to the deletion, the later of
 * them (content_cmp).  A later op can put the record back over the delete,
 * carrying the bytes its node knew, older ones: a rename or chmod of a file
 * that another node published, then unlinked or rewrote (a new inode).  The
 * node that saw the publish before the delete holds no record when the
 * rename comes, while a node that saw the rename first took the publish's
 * bytes (ns_put_later_content).  The kept bytes are what the first node lacks:
 * with them, the bytes of a file are the latest of all its records, whatever
 * the order of the ops and whether the record was gone in between.
 *
 * Kept as long as the delete's stamp (tombstones stay), dropped when the
 * record comes back (it holds the later bytes then).  They keep no chunk from
 * gc: a record put back after gc freed them (a peer's op that arrived more than
 * the grace after the delete) names chunks that are gone, as a peer that took
 * the bytes would.  Snapshot images carry them with the tombstones (ns_snap.c).
 *
 *   u8 version (1) | u8 flags (bit 0 pending, bit 1 manifest) | u64 version |
 *   u64 size | mtime, ctime (u64 seconds, u32 nanoseconds each) | [manifest id (32)]
 */
#define KEPT_VERSION 1
#define KEPT_KEY_LEN 11
#define KEPT_LEN (2 + 8 + 8 + 12 + 12)

static void kept_key(uint64_t ino, uint8_t k[KEPT_KEY_LEN])
{
	memcpy(k, "fc:", 3);
	put_be64(k + 3, ino);
}

int ns_kept_valid(const uint8_t *p, size_t n)
{
	return n >= KEPT_LEN && p[0] == KEPT_VERSION && p[1] <= 3 &&
	       n == KEPT_LEN + ((p[1] & 2) ? MFS_HASH_LEN : 0) &&
	       get_le32(p + 26) < 1000000000 && get_le32(p + 38) < 1000000000;
}

/* Kept bytes p into *kept, a record of content only: 0 or MFS_EFORMAT. */
static int kept_decode(uint64_t ino, const uint8_t *p, size_t n, struct mfs_inode *kept)
{
	memset(kept, 0, sizeof(*kept));
	if (!ns_kept_valid(p, n))
		return MFS_EFORMAT;
	kept->ino = ino;
	kept->mode = S_IFREG;
	kept->flags = (p[1] & 1) ? MFS_I_PENDING : 0;
	kept->has_manifest = !!(p[1] & 2);
	kept->version = get_le64(p + 2);
	kept->size = get_le64(p + 10);
	kept->mtime.tv_sec = (time_t)get_le64(p + 18);
	kept->mtime.tv_nsec = get_le32(p + 26);
	kept->ctime.tv_sec = (time_t)get_le64(p + 30);
	kept->ctime.tv_nsec = get_le32(p + 38);
	if (kept->has_manifest)
		memcpy(kept->manifest.b, p + KEPT_LEN, MFS_HASH_LEN);
	return 0;
}

/* The bytes kept for ino into *kept: 1, 0 if none, or an error (MFS_EFORMAT: malformed). */
static int kept_get(struct mfs_db *db, uint64_t ino, struct mfs_inode *kept)
{
	uint8_t k[KEPT_KEY_LEN];
	struct mfs_val v;
	int rc;

	memset(kept, 0, sizeof(*kept));
	kept_key(ino, k);
	if ((rc = mfs_db_get(db, MFS_CF_META, k, sizeof(k), &v, 1)))
		return rc == -ENOENT ? 0 : rc;
	rc = kept_decode(ino, v.p, v.len, kept);
	mfs_val_release(&v);
	return rc ? rc : 1;
}

/* in's bytes are kept for its inode, into b, if later than those kept already. */
static int keep_content(struct mfs_db *db, struct mfs_batch *b, const struct mfs_inode *in)
{
	uint8_t k[KEPT_KEY_LEN], v[KEPT_LEN + MFS_HASH_LEN];
	struct mfs_inode kept;
	int rc;

	/* Bytes no record can be earlier than (never published, empty) need no keeping. */
	if (!S_ISREG(in->mode) || (!in->version && (in->flags & MFS_I_PENDING) &&
				   !in->has_manifest && !in->size))
		return 0;
	if ((rc = kept_get(db, in->ino, &kept)) < 0 && rc != MFS_EFORMAT)
		return rc; /* a malformed value is replaced */
	if (rc == 1 && content_cmp(&kept, in) >= 0)
		return 0;
	v[0] = KEPT_VERSION;
	v[1] = (uint8_t)(((in->flags & MFS_I_PENDING) ? 1 : 0) | (in->has_manifest ? 2 : 0));
	put_le64(v + 2, in->version);
	put_le64(v + 10, in->size);
	put_le64(v + 18, (uint64_t)in->mtime.tv_sec);
	put_le32(v + 26, (uint32_t)in->mtime.tv_nsec);
	put_le64(v + 30, (uint64_t)in->ctime.tv_sec);
	put_le32(v + 38, (uint32_t)in->ctime.tv_nsec);
	if (in->has_manifest)
		memcpy(v + KEPT_LEN, in->manifest.b, MFS_HASH_LEN);
	kept_key(in->ino, k);
	mfs_batch_put(b, MFS_CF_META, k, sizeof(k), v,
		      KEPT_LEN + (in->has_manifest ? MFS_HASH_LEN : 0));
	return 0;
}

int ns_keep_deleted(struct mfs_db *db, struct mfs_batch *b, uint64_t ino, const uint8_t *kv,
		    size_t kvlen)
{
	struct mfs_inode in = { 0 }, extra;
	struct mfs_val v;
	uint8_t key[8];
	int rc, held;

	mfs_ino_key(ino, key);
	rc = mfs_db_get(db, MFS_CF_INODES, key, 8, &v, 1);
	if (rc && rc != -ENOENT)
		return rc;
	held = !rc;
	if (held) {
		rc = mfs_inode_decode(ino, v.p, v.len, &in);
		mfs_val_release(&v);
		if (rc && rc != MFS_EFORMAT)
			return rc;
		held = !rc && S_ISREG(in.mode); /* nothing to keep of a malformed record */
	}
	/* Another node's kept bytes (an image's tombstone), if the later: one
	 * write of the latest of the three (keep_content reads the store's). */
	if (kv && !kept_decode(ino, kv, kvlen, &extra) &&
	    (!held || content_cmp(&extra, &in) > 0)) {
		rc = keep_content(db, b, &extra);
	} else {
		rc = held ? keep_content(db, b, &in) : 0;
	}
	mfs_inode_release(&in);
	return rc;
}

/*
 * A file's record put back where none is held: it takes the bytes kept
 * for it if they are the later, and they are kept no longer.  *merged is
 * set if in changed.
 */
static int take_kept(struct mfs_db *db, struct mfs_batch *b, struct mfs_inode *in, int *merged)
{
	uint8_t k[KEPT_KEY_LEN];
	struct mfs_inode kept;
	int rc = kept_get(db, in->ino, &kept);

	if (rc < 0 && rc != MFS_EFORMAT)
		return rc;
	if (rc == 1 && content_cmp(&kept, in) > 0) {
		take_content(in, &kept);
		*merged = 1;
	}
	if (rc) {
		kept_key(in->ino, k);
		mfs_batch_delete(b, MFS_CF_META, k, sizeof(k));
	}
	return 0;
}

/* in, a winning record, merged with the one held (ns_put_record_merged). */
static void merge_held(struct mfs_inode *in, const struct mfs_inode *held, int *merged)
{
	if (S_ISDIR(in->mode)) {
		if (ns_dir_times_win(&held->mtime, &held->ctime, &in->mtime, &in->ctime)) {
			in->mtime = held->mtime;
			in->ctime = held->ctime;
		}
		*merged = 1;
	} else if (S_ISREG(held->mode) && content_cmp(held, in) > 0) {
		take_content(in, held);
		*merged = 1;
	}
}

/*
 * A winning inode record.  A directory's times merge with the ones held
 * (moved meanwhile by 'T' entries of creates inside it) as one register,
 * the later ctime's (ns_dir_times_win), so the order in which a chmod, a
 * utimens and a create arrive does not matter, and a peer's utimens moves
 * the mtime back as it did on its node.  A regular
 * file keeps the later bytes of the two (content_cmp): a rename on one node
 * of a file another node was still writing carries the record as the
 * renaming node knew it, empty and pending, and must not undo the
 * writer's publish, which may have come first (in place: the same inode).
 * Where no record is held (deleted), the bytes kept for it count instead.
 */
int ns_put_record_merged(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e)
{
	uint64_t ino = get_be64(e->key);
	struct mfs_inode in, held;
	int rc, merged = 0;

	if (mfs_inode_decode(ino, e->val, e->vlen, &in))
		return MFS_EFORMAT;
	if (!S_ISDIR(in.mode) && !S_ISREG(in.mode)) {
		mfs_inode_release(&in);
		mfs_batch_put(b, MFS_CF_INODES, e->key, e->klen, e->val, e->vlen);
		return 0;
	}
	if ((rc = mfs_ns_get(ns, ino, &held))) {
		/* None held (deleted, or never seen): the kept bytes count. */
		rc = rc == -ENOENT && S_ISREG(in.mode) ? take_kept(ns->db, b, &in, &merged) : 0;
	} else {
		merge_held(&in, &held, &merged);
		mfs_inode_release(&held);
	}
	if (!rc && merged)
		rc = ns_put_inode_raw(b, &in);
	else if (!rc)
		mfs_batch_put(b, MFS_CF_INODES, e->key, e->klen, e->val, e->vlen);
	mfs_inode_release(&in);
	return rc;
}

/*
 * A losing record of a regular file (or kept bytes) whose bytes are the
 * later ones (ns_put_record_merged, the other order): the held record takes
 * them, or, if a later op deleted it, they are kept for it.  1 if the held
 * record changed, 0 if not, or an error.
 */
static int later_content(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_inode *in)
{
	struct mfs_inode held;
	int rc;

	if ((rc = mfs_ns_get(ns, in->ino, &held)))
		return rc == -ENOENT ? keep_content(ns->db, b, in) : 0;
	rc = 0;
	if (S_ISREG(held.mode) && content_cmp(in, &held) > 0) {
		take_content(&held, in);
		rc = ns_put_inode_raw(b, &held);
		rc = rc ? rc : 1;
	}
	mfs_inode_release(&held);
	return rc;
}

/*
 * A losing record of a directory: its times count as a change of their own
 * (ns_dir_times_win), or the nodes that took it before the winner arrived
 * would keep them and the others not.  1 if the held record changed.
 */
static int later_dir_times(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_inode *in)
{
	struct mfs_inode held;
	int rc;

	if ((rc = mfs_ns_get(ns, in->ino, &held)))
		return rc == -ENOENT ? 0 : rc;
	rc = 0;
	if (S_ISDIR(held.mode) &&
	    ns_dir_times_win(&in->mtime, &in->ctime, &held.mtime, &held.ctime)) {
		held.mtime = in->mtime;
		held.ctime = in->ctime;
		rc = ns_put_inode_raw(b, &held);
		rc = rc ? rc : 1;
	}
	mfs_inode_release(&held);
	return rc;
}

int ns_put_later_content(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e)
{
	struct mfs_inode in;
	int rc = 0;

	if (mfs_inode_decode(get_be64(e->key), e->val, e->vlen, &in))
		return MFS_EFORMAT;
	if (S_ISREG(in.mode))
		rc = later_content(ns, b, &in);
	else if (S_ISDIR(in.mode))
		rc = later_dir_times(ns, b, &in);
	mfs_inode_release(&in);
	return rc;
}

int ns_put_later_kept(struct mfs_ns *ns, struct mfs_batch *b, uint64_t ino, const uint8_t *kv,
		      size_t kvlen)
{
	struct mfs_inode kept;

	if (kept_decode(ino, kv, kvlen, &kept))
		return MFS_EFORMAT;
	return later_content(ns, b, &kept);
}

int ns_kept_iter(struct mfs_db *db, const struct mfs_db_view *view, struct mfs_iter **it)
{
	*it = mfs_iter_new_at(db, view, MFS_CF_META, "fc:", 3);
	return *it ? 0 : -ENOMEM;
}

int ns_kept_at(struct mfs_iter *it, uint64_t ino, const uint8_t **v, size_t *vlen)
{
	uint8_t k[KEPT_KEY_LEN];

	kept_key(ino, k);
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *ik = mfs_iter_key(it, &kl);
		int c = memcmp(ik, k, kl < sizeof(k) ? kl : sizeof(k));

		if (!c)
			c = kl < sizeof(k) ? -1 : kl > sizeof(k);
		if (c > 0)
			return 0;
		if (c == 0) {
			*v = mfs_iter_value(it, vlen);
			return ns_kept_valid(*v, *vlen); /* a malformed one is not sent */
		}
	}
	return mfs_iter_error(it);
}
