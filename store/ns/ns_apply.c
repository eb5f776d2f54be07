/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying other nodes' namespace ops, and reading the op log for peers.
 *
 * An op is checked whole before anything is written (it comes from the
 * network).  Its 'I' and 'D' entries are applied where their stamp beats
 * the stamp held for the key (last writer wins; store/ns/oplog.h), 'M' entries
 * are stored if missing.  Then, in a second batch, the derived state of the
 * directories involved is brought up to date: mtime merges by max, nlink is
 * counted from the directory's entries.  The op itself and the version
 * vector go in that second batch: a crash between the two batches re-applies
 * the op, which changes nothing the second time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "allow.h"
#include "member.h"
#include "namespace.h"
#include "ns_internal.h"
#include "rev.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

void ns_note_change(struct changes *cs, int kind, uint64_t ino, uint64_t parent,
		    const uint8_t *name, size_t nlen)
{
	struct mfs_ns_change *c;

	if (mfs_grow(&cs->c, &cs->cap, cs->n, sizeof(*cs->c))) {
		cs->oom = 1;
		return;
	}
	c = &cs->c[cs->n];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ino = ino;
	c->parent = parent;
	if (name && !(c->name = strndup((const char *)name, nlen))) {
		cs->oom = 1;
		return;
	}
	cs->n++;
}

/*
 * recount: the directory's nlink must be counted again from its entries (a
 * subdirectory entry came or went, or its record was replaced).  Counting
 * reads every entry of the directory, so an op that adds a file to a large
 * directory must not ask for it: applying a tree of n files would cost n^2.
 */
static void note_dir(struct changes *cs, uint64_t ino, int recount)
{
	for (size_t i = 0; i < cs->ndirs; i++)
		if (cs->dirs[i] == ino) {
			cs->recount[i] |= recount;
			return;
		}
	if (mfs_grow(&cs->dirs, &cs->dircap, cs->ndirs, sizeof(*cs->dirs)) ||
	    mfs_grow(&cs->recount, &cs->recap, cs->ndirs, sizeof(*cs->recount))) {
		cs->oom = 1;
		return;
	}
	cs->recount[cs->ndirs] = !!recount;
	cs->dirs[cs->ndirs++] = ino;
}

/* The dirent held for entry e's key: its value's child and mode (0 if none or unreadable). */
struct held_dirent {
	int rc;                 /* 0, -ENOENT, or an error (then nothing is known) */
	uint64_t ino;
	uint32_t mode;
};

static struct held_dirent held_dirent(struct mfs_ns *ns, const struct mfs_op_entry *e)
{
	struct held_dirent h = { 0 };
	struct mfs_val v;

	if ((h.rc = mfs_db_get(ns->db, MFS_CF_DIRENTS, e->key, e->klen, &v, 1)))
		return h;
	if (v.len == 12) {
		h.ino = get_le64(v.p);
		h.mode = get_le32(v.p + 8);
	} else {
		h.rc = MFS_EFORMAT;
	}
	mfs_val_release(&v);
	return h;
}

static void note_dead(struct changes *cs, uint64_t ino)
{
	for (size_t i = 0; i < cs->ndead; i++)
		if (cs->dead[i] == ino)
			return;
	if (mfs_grow(&cs->dead, &cs->deadcap, cs->ndead, sizeof(*cs->dead))) {
		cs->oom = 1;
		return;
	}
	cs->dead[cs->ndead++] = ino;
}

/*
 * A winning inode entry e that makes a directory's record come or go, or
 * name another parent: a directory counts a subdirectory only while an
 * entry leads to a live record (ns_count_subdirs), so the parents the
 * record names, held and new, are counted again even if the op holds no
 * entry of theirs.  A chmod on a node that never saw an rmdir puts back
 * the record of a directory that a rename elsewhere had given a new entry:
 * that entry leads somewhere again.  The record may still name the old
 * parent: for its own directory this node then runs the repair that gives
 * the record the entry's name (ns_merge.c, note 6), which counts the new
 * parent, and peers count that one as they apply the repair.
 */
static void note_dir_parents(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e)
{
	struct mfs_inode held = { 0 }, nw = { 0 };
	uint64_t ino = get_be64(e->key);
	int hrc;

	/* A file's record (the common case) costs a decode, no read. */
	if (!e->deleted && (mfs_inode_decode(ino, e->val, e->vlen, &nw) || !S_ISDIR(nw.mode)))
		goto out;
	hrc = mfs_ns_get(ns, ino, &held);
	if (hrc && hrc != -ENOENT)
		goto out;
	if (!hrc && S_ISDIR(held.mode) && held.parent != ino &&
	    (e->deleted || held.parent != nw.parent))
		note_dir(cs, held.parent, 1);
	if (!e->deleted && nw.parent != ino && (hrc || held.parent != nw.parent))
		note_dir(cs, nw.parent, 1);
	/* Back to life, own: its entry may be elsewhere than its record says. */
	if (!e->deleted && hrc == -ENOENT && (uint16_t)(ino >> 48) == ns->space)
		note_dead(cs, ino);
out:
	mfs_inode_release(&nw);
	mfs_inode_release(&held);
}

/* Does dirent entry e (a put or a delete) over h change its parent's subdirectory count? */
static int dirent_moves_nlink(const struct mfs_op_entry *e, const struct held_dirent *h)
{
	if (!e->deleted && S_ISDIR(get_le32(e->val + 8)))
		return 1;
	/* A file's entry: only if it replaces (or deletes) a subdirectory's. */
	if (h->rc == -ENOENT)
		return e->deleted; /* a retry after a crash may have deleted it */
	return h->rc || S_ISDIR(h->mode);
}

/*
 * A winning entry e that replaces or removes the name of one of this node's
 * directories, or gives a file's name to a directory: after the op, that
 * directory may have to be merged into the winner or given its name back,
 * the file moved to lost+found (ns_merge.c).
 */

static void note_dead_candidate(struct mfs_ns *ns, struct changes *cs,
				const struct mfs_op_entry *e, const struct held_dirent *h)
{
	if (h->rc || (uint16_t)(h->ino >> 48) != ns->space)
		return;
	if (!e->deleted && get_le64(e->val) == h->ino)
		return;
	/* A file that loses its name to a file is the last writer's (README);
	 * to a directory, it is kept (ns_merge.c, note 1). */
	if (!S_ISDIR(h->mode) && (e->deleted || !S_ISDIR(get_le32(e->val + 8))))
		return;
	note_dead(cs, h->ino);
}

void ns_changes_release(struct changes *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		free((char *)cs->c[i].name);
	free(cs->c);
	free(cs->dirs);
	free(cs->recount);
	free(cs->dead);
	free(cs->ver);
	free(cs->puts);
	free(cs->was_gone);
	for (size_t i = 0; i < cs->nnames; i++)
		free(cs->names[i].name);
	free(cs->names);
}

/* A child that is not the root, not inode 0, and of a type an inode record may have. */
int ns_dirent_value_ok(const uint8_t *v)
{
	uint64_t ino = get_le64(v);

	if (ino == 0 || ino == MFS_ROOT_INO || mfs_rev_is_ino(ino))
		return 0;
	switch (get_le32(v + 8) & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK:
	case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		return 1;
	}
	return 0;
}

/* One entry's content, everything a peer could get wrong in it (its shape is the decoder's). */
int ns_entry_valid(const struct mfs_op_entry *e)
{
	struct mfs_inode in;
	struct mfs_manifest *m;
	struct mfs_hash h;

	switch (e->kind) {
	case MFS_OP_INODE:
		if (mfs_rev_is_ino(get_be64(e->key)))
			return MFS_EFORMAT; /* no node allocates these (rev.h, note 4) */
		if (e->deleted)
			break;
		if (mfs_inode_decode(get_be64(e->key), e->val, e->vlen, &in))
			return MFS_EFORMAT;
		mfs_inode_release(&in);
		break;
	case MFS_OP_DIRENT:
		if (memchr(e->key + 8, '/', e->klen - 8) || memchr(e->key + 8, 0, e->klen - 8))
			return MFS_EFORMAT;
		if (!e->deleted && !ns_dirent_value_ok(e->val))
			return MFS_EFORMAT;
		break;
	case MFS_OP_NODE: {
		struct mfs_member mb;

		if (mfs_member_decode(get_be64(e->key), e->val, e->vlen, &mb))
			return MFS_EFORMAT;
		break;
	}
	case MFS_OP_ALLOW: {
		int allowed;

		if (mfs_allow_decode(e->val, e->vlen, &allowed))
			return MFS_EFORMAT;
		break;
	}
	case MFS_OP_REV: {
		char name[MFS_NAME_MAX + 1];

		memcpy(name, e->key, e->klen);
		name[e->klen] = 0;
		if (!mfs_rev_name_ok(name) || strlen(name) != e->klen)
			return MFS_EFORMAT;
		return mfs_rev_check(e->val, e->vlen);
	}
	case MFS_OP_MANIFEST:
		/* Our allocation failing is no fault of the peer's. */
		if (mfs_sha256(e->val, e->vlen, &h))
			return -ENOMEM;
		if (memcmp(h.b, e->key, MFS_HASH_LEN) || mfs_manifest_decode(e->val, e->vlen, &m))
			return MFS_EFORMAT;
		mfs_manifest_unref(m);
		break;
	}
	return 0;
}

/* Everything a peer could get wrong, checked before the first write. */
static int validate(const struct mfs_op *op)
{
	int rc = 0;

	for (uint32_t i = 0; i < op->n && !rc; i++)
		rc = ns_entry_valid(&op->e[i]);
	return rc;
}

/* Is stamp st newer than the one held for the entry?  1, 0 or an error. */
int ns_stamp_wins(struct mfs_ns *ns, const uint8_t *skey, size_t sklen,
		  const struct mfs_stamp *st)
{
	struct mfs_stamp old;
	struct mfs_val v;
	int rc = mfs_db_get(ns->db, MFS_CF_STAMPS, skey, sklen, &v, 1);

	if (rc == -ENOENT)
		return 1;
	if (rc)
		return rc;
	rc = mfs_stamp_decode(v.p, v.len, &old);
	mfs_val_release(&v);
	return rc ? rc : mfs_stamp_cmp(st, &old) > 0;
}

static enum mfs_cf entry_cf(uint8_t kind)
{
	return kind == MFS_OP_INODE ? MFS_CF_INODES : MFS_CF_DIRENTS;
}

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
		if (mfs_ts_after(&held->mtime, &in->mtime))
			in->mtime = held->mtime;
		if (mfs_ts_after(&held->ctime, &in->ctime))
			in->ctime = held->ctime;
		*merged = 1;
	} else if (S_ISREG(held->mode) && content_cmp(held, in) > 0) {
		take_content(in, held);
		*merged = 1;
	}
}

/*
 * A winning inode record.  A directory's mtime merges by max with the one
 * held (raised meanwhile by 'T' entries of creates inside it), so the order
 * in which a chmod and a create arrive does not matter; the price is that a
 * directory's mtime never moves back through a peer's utimens.  A regular
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

int ns_put_later_content(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e)
{
	struct mfs_inode in;
	int rc = 0;

	if (mfs_inode_decode(get_be64(e->key), e->val, e->vlen, &in))
		return MFS_EFORMAT;
	if (S_ISREG(in.mode)) /* else not a file's: nothing to keep */
		rc = later_content(ns, b, &in);
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

int ns_is_meta_record(uint8_t kind)
{
	return kind == MFS_OP_NODE || kind == MFS_OP_ALLOW || kind == MFS_OP_REV;
}

const char *ns_meta_prefix(uint8_t kind)
{
	return kind == MFS_OP_ALLOW ? "ak" : kind == MFS_OP_REV ? "rv" : "mb";
}

int ns_meta_key_ok(uint8_t kind, size_t mklen)
{
	if (kind == MFS_OP_REV)
		return mklen > 2 && mklen <= 2 + MFS_NAME_MAX;
	return mklen == (kind == MFS_OP_ALLOW ? ALLOW_KEY_LEN : MEMBER_KEY_LEN);
}

size_t ns_meta_key(uint8_t kind, const uint8_t *key, size_t klen, uint8_t out[META_REC_KEY_MAX])
{
	memcpy(out, ns_meta_prefix(kind), 2);
	memcpy(out + 2, key, klen);
	return 2 + klen;
}

/* A member record, allow-list entry or revision that wins goes to the meta CF
 * (member.h, allow.h, rev.h); the replica layer reads the member table again
 * after a pull or a snapshot that carried one, and asks for a key's entry at
 * each handshake. */
int ns_apply_meta_record(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e,
			 const struct mfs_stamp *st, uint8_t *skey, const uint8_t *sval)
{
	uint8_t mk[META_REC_KEY_MAX];
	size_t sklen = stamp_key(e->kind, e->key, e->klen, skey);
	int rc = ns_stamp_wins(ns, skey, sklen, st);

	if (rc <= 0)
		return rc;
	mfs_batch_put(b, MFS_CF_META, mk, ns_meta_key(e->kind, e->key, e->klen, mk), e->val,
		      e->vlen);
	mfs_batch_put(b, MFS_CF_STAMPS, skey, sklen, sval, MFS_STAMP_LEN);
	return 1;
}

/* First batch: the entries that win. */
static int apply_entries(struct mfs_ns *ns, const struct mfs_op *op, const struct mfs_stamp *st,
			 struct changes *cs)
{
	struct mfs_batch *b = mfs_batch_new(ns->db);
	uint8_t skey[STAMP_KEY_MAX], sval[MFS_STAMP_LEN];
	int rc = 0;

	if (!b)
		return -ENOMEM;
	mfs_stamp_encode(st, sval);
	for (uint32_t i = 0; i < op->n && !rc; i++) {
		const struct mfs_op_entry *e = &op->e[i];
		struct held_dirent held = { 0 };
		size_t sklen;

		if (e->kind == MFS_OP_MANIFEST) {
			rc = mfs_db_exists(ns->db, MFS_CF_MANIFESTS, e->key, e->klen);
			if (rc == 0)
				mfs_batch_put(b, MFS_CF_MANIFESTS, e->key, e->klen, e->val, e->vlen);
			rc = rc < 0 ? rc : 0;
			continue;
		}
		if (e->kind == MFS_OP_TOUCH) {
			note_dir(cs, get_be64(e->key), 0);
			continue;
		}
		if (ns_is_meta_record(e->kind)) {
			rc = ns_apply_meta_record(ns, b, e, st, skey, sval);
			/* A revision came or went: the kernel's entry of its name goes. */
			if (rc > 0 && e->kind == MFS_OP_REV)
				ns_note_change(cs, MFS_CHANGE_DIRENT, 0, MFS_REVS_INO, e->key, e->klen);
			rc = rc < 0 ? rc : 0;
			continue;
		}
		if (e->kind == MFS_OP_DIRENT) {
			held = held_dirent(ns, e);
			if (!held.rc)
				ns_note_version(cs, held.ino, held.mode, ns->space);
		}
		/* Derived state is refreshed whether the entry wins or not: this
		 * may be a second attempt after a crash between the two batches.
		 * The inode (a directory's record carries the peer's nlink), or the
		 * dirent's parent. */
		note_dir(cs, get_be64(e->key),
			 e->kind == MFS_OP_INODE || dirent_moves_nlink(e, &held));
		sklen = stamp_key(e->kind, e->key, e->klen, skey);
		if ((rc = ns_stamp_wins(ns, skey, sklen, st)) == 0 && e->kind == MFS_OP_INODE &&
		    !e->deleted && (rc = ns_put_later_content(ns, b, e)) > 0) {
			ns_note_change(cs, MFS_CHANGE_INODE, get_be64(e->key), 0, NULL, 0);
			rc = 0;
		}
		if (rc <= 0)
			continue;
		rc = 0;
		if (e->kind == MFS_OP_DIRENT)
			note_dead_candidate(ns, cs, e, &held);
		else if (e->kind == MFS_OP_INODE)
			note_dir_parents(ns, cs, e);
		if (e->deleted) {
			if (e->kind == MFS_OP_INODE)
				rc = ns_keep_deleted(ns->db, b, get_be64(e->key), NULL, 0);
			mfs_batch_delete(b, entry_cf(e->kind), e->key, e->klen);
		} else if (e->kind == MFS_OP_INODE) {
			ns_note_put(ns, cs, e);
			ns_note_dir_names(ns, cs, e);
			rc = ns_put_record_merged(ns, b, e);
		} else {
			ns_note_dir_names(ns, cs, e);
			mfs_batch_put(b, entry_cf(e->kind), e->key, e->klen, e->val, e->vlen);
		}
		if (rc)
			break;
		mfs_batch_put(b, MFS_CF_STAMPS, skey, sklen, sval, sizeof(sval));
		if (e->kind == MFS_OP_INODE) {
			uint64_t ino = get_be64(e->key);

			ns_note_change(cs, MFS_CHANGE_INODE, ino, 0, NULL, 0);
		} else {
			uint64_t parent = get_be64(e->key);

			ns_note_change(cs, MFS_CHANGE_DIRENT, 0, parent, e->key + 8, e->klen - 8);
		}
	}
	if (!rc && cs->oom)
		rc = -ENOMEM;
	if (!rc)
		rc = mfs_db_write(ns->db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	return rc;
}


/* A directory's mtime (at least t, if given) and, if recount, nlink, into b if they changed. */
int ns_refresh_dir(struct mfs_ns *ns, struct mfs_batch *b, uint64_t ino,
		   const struct timespec *t, int recount, struct changes *cs)
{
	struct mfs_inode in;
	uint32_t subdirs = 0;
	int rc = mfs_ns_get(ns, ino, &in), changed = 0;

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (!S_ISDIR(in.mode))
		goto out;
	if (recount && (rc = ns_count_subdirs(ns, ino, &subdirs)))
		goto out;
	if (recount && in.nlink != 2 + subdirs) {
		in.nlink = 2 + subdirs;
		changed = 1;
	}
	if (t && mfs_ts_after(t, &in.mtime)) {
		in.mtime = *t;
		if (mfs_ts_after(t, &in.ctime))
			in.ctime = *t;
		changed = 1;
	}
	if (changed && !(rc = ns_put_inode_raw(b, &in)))
		ns_note_change(cs, MFS_CHANGE_INODE, ino, 0, NULL, 0);
out:
	mfs_inode_release(&in);
	return rc;
}

/* Second batch: directories' derived state, the op, the version vector. */
static int apply_derived(struct mfs_ns *ns, const struct mfs_op *op, mfs_node_t origin,
			 uint64_t seq, const uint8_t *raw, size_t len, struct changes *cs)
{
	struct mfs_batch *b = mfs_batch_new(ns->db);
	uint8_t okey[MFS_OPLOG_KEY_LEN];
	int rc = 0;

	if (!b)
		return -ENOMEM;
	for (size_t d = 0; d < cs->ndirs && !rc; d++) {
		struct timespec t = { 0 }, *tp = NULL;

		for (uint32_t i = 0; i < op->n; i++) {
			const struct mfs_op_entry *e = &op->e[i];

			if (e->kind == MFS_OP_TOUCH && get_be64(e->key) == cs->dirs[d]) {
				t.tv_sec = (time_t)get_le64(e->val);
				t.tv_nsec = get_le32(e->val + 8) % 1000000000;
				tp = &t;
			}
		}
		rc = ns_refresh_dir(ns, b, cs->dirs[d], tp, cs->recount[d], cs);
	}
	mfs_oplog_key(origin, seq, okey);
	mfs_batch_put(b, MFS_CF_OPLOG, okey, sizeof(okey), raw, len);
	vv_put(b, origin, seq);
	if (op->lamport > ns->lamport)
		meta_put_u64(b, "lamport", op->lamport);
	if (!rc && cs->oom)
		rc = -ENOMEM;
	if (!rc)
		rc = mfs_db_write(ns->db, b, MFS_WRITE_ASYNC);
	if (!rc && op->lamport > ns->lamport)
		ns->lamport = op->lamport;
	mfs_batch_free(b);
	return rc;
}

static int apply_op(struct mfs_ns *ns, mfs_node_t origin, uint64_t seq, const uint8_t *raw,
		    size_t len, mfs_ns_change_fn fn, void *arg);

/* An op may publish a version that names chunks gc is about to delete: hold gc off. */
int mfs_ns_apply(struct mfs_ns *ns, mfs_node_t origin, uint64_t seq, const uint8_t *raw,
		 size_t len, mfs_ns_change_fn fn, void *arg)
{
	int rc;

	pthread_rwlock_rdlock(&ns->refs_lock);
	rc = apply_op(ns, origin, seq, raw, len, fn, arg);
	pthread_rwlock_unlock(&ns->refs_lock);
	return rc;
}

static int apply_op(struct mfs_ns *ns, mfs_node_t origin, uint64_t seq, const uint8_t *raw,
		    size_t len, mfs_ns_change_fn fn, void *arg)
{
	struct changes cs = { 0 };
	struct mfs_op op;
	struct mfs_stamp st;
	uint64_t cur;
	int rc, entries_done = 0;

	if (origin == ns->node_id || origin == 0 || seq == 0)
		return 0; /* our own op, relayed back: we have it */
	if ((rc = mfs_op_decode(raw, len, &op)))
		return rc;
	if ((rc = validate(&op))) {
		mfs_op_free_entries(&op);
		return rc;
	}
	st.lamport = op.lamport;
	st.node = origin;
	pthread_mutex_lock(&ns->lock);
	if ((rc = vv_get(ns, origin, &cur)) || seq <= cur)
		goto out;
	if (seq != cur + 1) {
		rc = -EAGAIN;
		goto out;
	}
	if (!(rc = apply_entries(ns, &op, &st, &cs))) {
		entries_done = 1;
		rc = apply_derived(ns, &op, origin, seq, raw, len, &cs);
	}
	/* Before the kernel hears of the change: a lookup must find the
	 * merged directory, not an empty winner (ns_merge.c, note 2).  A
	 * repair that fails is logged, and gc's pass tries again. */
	for (size_t i = 0; !rc && i < cs.ndead; i++)
		ns_repair_name(ns, cs.dead[i], &cs);
	/* Likewise an older version of a file put back beside its later one. */
	if (!rc)
		ns_repair_versions(ns, &st, &cs);
	if (!rc)
		ns_fix_name_lists(ns, &op, &cs);
	if (!rc)
		ns_fix_second_names(ns, &cs);
	if (!rc)
		__atomic_add_fetch(&ns->applied, 1, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&ns->lock);
	mfs_op_free_entries(&op);
	/* Entries written are reported even if the second batch failed: a retry
	 * finds them stamped and would not report them again. */
	for (size_t i = 0; (!rc || entries_done) && fn && i < cs.n; i++)
		fn(arg, &cs.c[i]);
	ns_changes_release(&cs);
	return rc;
}

int mfs_ns_vv(struct mfs_ns *ns, mfs_node_t *origins, uint64_t *seqs, int cap)
{
	return ns_vec_list(ns, "vv", origins, seqs, cap);
}

int mfs_ns_ops_since(struct mfs_ns *ns, mfs_node_t origin, uint64_t after, mfs_op_fn fn, void *arg)
{
	uint8_t prefix[8], from[MFS_OPLOG_KEY_LEN];
	struct mfs_iter *it;
	uint64_t last = UINT64_MAX;
	int rc = 0;

	put_be64(prefix, origin);
	if (!(it = mfs_iter_new(ns->db, MFS_CF_OPLOG, prefix, sizeof(prefix))))
		return -ENOMEM;
	if (origin == ns->node_id) {
		/* Own ops go out durable only (ns_internal.h): sync what is not. */
		pthread_mutex_lock(&ns->lock);
		last = ns->seq;
		pthread_mutex_unlock(&ns->lock);
		if ((rc = ns_wait_durable(ns, last))) {
			mfs_iter_free(it);
			return rc;
		}
	}
	mfs_oplog_key(origin, after + 1, from);
	for (mfs_iter_seek(it, from, sizeof(from)); mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl != MFS_OPLOG_KEY_LEN)
			continue;
		if (get_be64(k + 8) > last)
			break; /* written after the sync above: not known durable */
		if ((rc = fn(arg, origin, get_be64(k + 8), v, vl)))
			break;
	}
	if (rc > 0)
		rc = 0;
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

uint64_t mfs_ns_applied(struct mfs_ns *ns)
{
	return __atomic_load_n(&ns->applied, __ATOMIC_RELAXED);
}

uint64_t mfs_ns_seq(struct mfs_ns *ns)
{
	uint64_t s;

	pthread_mutex_lock(&ns->lock);
	s = ns->seq;
	pthread_mutex_unlock(&ns->lock);
	return s;
}
