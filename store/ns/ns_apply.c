/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying other nodes' namespace ops, and reading the op log for peers.
 *
 * An op is checked whole before anything is written (it comes from the
 * network).  Its 'I' and 'D' entries are applied where their stamp beats
 * the stamp held for the key (last writer wins; store/ns/oplog.h), 'M' entries
 * are stored if missing.  Then, in a second batch, the derived state of the
 * directories involved is brought up to date: their times as one register
 * (ns_dir_times_win), nlink counted from the directory's entries.  The op itself and the version
 * vector go in that second batch: a crash between the two batches re-applies
 * the op, which changes nothing the second time.  A regular file's record
 * keeps the later bytes whichever op wins: ns_content.c.
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
	for (size_t i = 0; i < cs->nheld; i++)
		free(cs->held[i].name);
	free(cs->held);
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
			ns_note_held_names(ns, cs, e);
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


int ns_dir_times_win(const struct timespec *m1, const struct timespec *c1,
		     const struct timespec *m2, const struct timespec *c2)
{
	if (mfs_ts_after(c1, c2))
		return 1;
	return !mfs_ts_after(c2, c1) && mfs_ts_after(m1, m2);
}

int ns_refresh_dir(struct mfs_ns *ns, struct mfs_batch *b, uint64_t ino,
		   const struct timespec *mt, const struct timespec *ct, int recount,
		   struct changes *cs)
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
	if (mt && ns_dir_times_win(mt, ct, &in.mtime, &in.ctime)) {
		in.mtime = *mt;
		in.ctime = *ct;
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
		/* A create's time is the directory's mtime and ctime alike. */
		rc = ns_refresh_dir(ns, b, cs->dirs[d], tp, tp, cs->recount[d], cs);
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
	/* Its entries may leave a name listed that leads elsewhere (namespace.c, lists seen true). */
	ns_names_forget(ns);
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
	/* Own nameless rewrites that waited for this op's file (ns_nameless.c note 9). */
	if (!rc)
		ns_recheck_waiting(ns, &op, &cs);
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
