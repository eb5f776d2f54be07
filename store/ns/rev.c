/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revisions (rev.h): making one from a read view of the store, deleting
 * one, listing them.  Each is one namespace op with one 'R' entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ns_internal.h"
#include "rev_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"
#define COUNT_OFF 14            /* of the header's count */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int rev_is_live(struct mfs_ns *ns, const uint8_t *key, size_t klen)
{
	struct mfs_val v;
	int rc = mfs_db_get(ns->db, MFS_CF_META, key, klen, &v, 1);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = v.len >= 2 && v.p[1] == MFS_REV_LIVE;
	mfs_val_release(&v);
	return rc;
}

static void wr_hdr(struct mfs_wr *w, uint8_t state, const char *path)
{
	struct timespec t;
	size_t pl = path ? strlen(path) : 0;

	clock_gettime(CLOCK_REALTIME, &t);
	if (pl > 4095)
		pl = 4095;
	mfs_wr_u8(w, MFS_REV_VERSION);
	mfs_wr_u8(w, state);
	mfs_wr_u64(w, (uint64_t)t.tv_sec);
	mfs_wr_u32(w, (uint32_t)t.tv_nsec);
	mfs_wr_u32(w, 0); /* the count, filled in at the end */
	mfs_wr_u16(w, (uint16_t)pl);
	mfs_wr_put(w, path, pl);
}

/* The tree at a read view, breadth first (rev_internal.h), into w. */
struct build {
	struct mfs_db *db;
	struct mfs_db_view *view;
	struct mfs_iter *inodes;    /* at the view: point reads by seek */
	struct mfs_wr w;
	uint32_t n;                 /* entries written */
	struct qdir { uint64_t ino; uint32_t idx; } *q;
	size_t nq, capq;
	struct mfs_rev_info *info;
};

/* The inode record of ino at the view: 0, -ENOENT, or an error. */
static int inode_at(struct build *b, uint64_t ino, struct mfs_inode *out)
{
	uint8_t key[8];
	size_t kl, vl;
	const uint8_t *k, *v;

	mfs_ino_key(ino, key);
	mfs_iter_seek(b->inodes, key, sizeof(key));
	if (!mfs_iter_valid(b->inodes))
		return mfs_iter_error(b->inodes) ? mfs_iter_error(b->inodes) : -ENOENT;
	k = mfs_iter_key(b->inodes, &kl);
	if (kl != sizeof(key) || memcmp(k, key, kl))
		return -ENOENT;
	v = mfs_iter_value(b->inodes, &vl);
	return mfs_inode_decode(ino, v, vl, out);
}

/* One entry; a directory goes in the queue. */
static int add_entry(struct build *b, uint32_t parent, const char *name, size_t nl,
		     const struct mfs_inode *in)
{
	if (b->n >= MFS_REV_MAX_ENTRIES || b->w.len > MFS_OP_MAX_BYTES - (1u << 20))
		return -EFBIG;
	if (S_ISDIR(in->mode)) {
		if (mfs_grow(&b->q, &b->capq, b->nq, sizeof(*b->q)))
			return -ENOMEM;
		b->q[b->nq++] = (struct qdir){ in->ino, b->n };
		b->info->dirs++;
	} else if (S_ISREG(in->mode)) {
		b->info->files++;
		b->info->bytes += in->size;
	}
	rev_wr_entry(&b->w, parent, name, nl, in);
	b->n++;
	return b->w.oom ? -ENOMEM : 0;
}

static int walk_dir(struct build *b, const struct qdir *d)
{
	uint8_t prefix[8];
	struct mfs_iter *it;
	int rc = 0;

	put_be64(prefix, d->ino);
	if (!(it = mfs_iter_new_at(b->db, b->view, MFS_CF_DIRENTS, prefix, sizeof(prefix))))
		return -ENOMEM;
	/* In key order, so each directory's names come sorted, as readers search them. */
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_inode in;

		if (kl <= 8 || kl > 8 + MFS_NAME_MAX || vl != 12)
			continue;
		rc = inode_at(b, get_le64(v), &in);
		if (rc == -ENOENT || rc == MFS_EFORMAT) {
			rc = 0; /* a dangling name (lost+found's), or fsck's finding */
			continue;
		}
		/* Created and never committed: no version of it exists yet. */
		if (!rc && !(in.flags & MFS_I_PENDING))
			rc = add_entry(b, d->idx, (const char *)k + 8, kl - 8, &in);
		mfs_inode_release(&in);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

static int build_tree(struct build *b, uint64_t dir)
{
	struct mfs_inode top;
	int rc;

	if (!(b->inodes = mfs_iter_new_at(b->db, b->view, MFS_CF_INODES, NULL, 0)))
		return -ENOMEM;
	if ((rc = inode_at(b, dir, &top)))
		return rc;
	rc = S_ISDIR(top.mode) ? add_entry(b, 0, "", 0, &top) : -ENOTDIR;
	mfs_inode_release(&top);
	/* The queue grows while it is walked: index, not pointer. */
	for (size_t i = 0; !rc && i < b->nq; i++) {
		struct qdir d = b->q[i];

		rc = walk_dir(b, &d);
	}
	if (!rc)
		put_le32(b->w.buf + COUNT_OFF, b->n);
	return rc;
}

/*
 * The op that writes record w at name, built before ns->lock is taken: a
 * revision of many files is megabytes, and copying it into the op and the
 * batch under the lock stalled every namespace change.  0 or -ENOMEM.
 */
static int prepare_record(struct mfs_ns *ns, const char *name, const struct mfs_wr *w,
			  struct ns_txn *t)
{
	uint8_t key[REV_KEY_MAX];
	size_t nl = strlen(name), kl = rev_key((const uint8_t *)name, nl, key);
	int rc;

	if ((rc = txn_begin(ns, t)))
		return rc;
	mfs_op_add(&t->op, MFS_OP_REV, 0, name, nl, w->buf, w->len);
	mfs_batch_put(t->b, MFS_CF_META, key, kl, w->buf, w->len);
	return 0;
}

/* Commits t as a local op (ns->lock held).  -EEXIST / -ENOENT if the record is / is not live. */
static int commit_record(struct mfs_ns *ns, const char *name, struct ns_txn *t, int create)
{
	uint8_t key[REV_KEY_MAX];
	int rc = rev_is_live(ns, key, rev_key((const uint8_t *)name, strlen(name), key));

	if (rc < 0)
		return rc;
	if (create && rc)
		return -EEXIST;
	if (!create && !rc)
		return -ENOENT;
	return txn_commit(ns, t);
}

int mfs_ns_rev_create(struct mfs_ns *ns, uint64_t dir, const char *name,
		      struct mfs_rev_info *info)
{
	struct mfs_rev_info local;
	struct build b = { .db = ns->db };
	struct ns_txn t = { 0 };
	uint8_t key[REV_KEY_MAX];
	uint64_t t0, t1;
	char *path = NULL;
	int rc;

	b.info = info ? info : &local;
	memset(b.info, 0, sizeof(*b.info));
	if (!mfs_rev_name_ok(name))
		return -EINVAL;
	if (mfs_rev_is_ino(dir))
		return -EROFS;
	snprintf(b.info->name, sizeof(b.info->name), "%s", name);
	if (!(path = mfs_ns_path(ns, dir)))
		return -ENOMEM;
	snprintf(b.info->path, sizeof(b.info->path), "%s", path);
	wr_hdr(&b.w, MFS_REV_LIVE, path);
	free(path);
	/* Note 1 (rev.h): no chunk the walk sees may go before the record names it. */
	pthread_rwlock_rdlock(&ns->refs_lock);
	pthread_mutex_lock(&ns->lock);
	t0 = now_us();
	rc = rev_is_live(ns, key, rev_key((const uint8_t *)name, strlen(name), key));
	if (rc == 0 && !(b.view = mfs_db_view_new(ns->db)))
		rc = -ENOMEM;
	else if (rc > 0)
		rc = -EEXIST;
	b.info->locked_us = now_us() - t0;
	pthread_mutex_unlock(&ns->lock);
	t1 = now_us();
	if (!rc)
		rc = build_tree(&b, dir);
	b.info->walk_us = now_us() - t1;
	mfs_iter_free(b.inodes);
	mfs_db_view_free(b.view);
	if (!rc && b.w.oom)
		rc = -ENOMEM;
	if (!rc && !(rc = prepare_record(ns, name, &b.w, &t))) {
		pthread_mutex_lock(&ns->lock);
		t0 = now_us();
		rc = commit_record(ns, name, &t, 1);
		b.info->locked_us += now_us() - t0;
		rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	}
	txn_free(&t);
	pthread_rwlock_unlock(&ns->refs_lock);
	b.info->live = !rc;
	b.info->entries = b.n;
	b.info->record_bytes = b.w.len;
	if (b.w.buf && b.w.len >= REV_HDR_LEN)
		b.info->created.tv_sec = (time_t)get_le64(b.w.buf + 2);
	mfs_wr_release(&b.w);
	free(b.q);
	return rc;
}

int mfs_ns_rev_delete(struct mfs_ns *ns, const char *name)
{
	struct mfs_wr w = { 0 };
	struct ns_txn t = { 0 };
	int rc;

	if (!mfs_rev_name_ok(name))
		return -EINVAL;
	wr_hdr(&w, MFS_REV_DELETED, NULL);
	if (w.oom) {
		mfs_wr_release(&w);
		return -ENOMEM;
	}
	if (!(rc = prepare_record(ns, name, &w, &t))) {
		pthread_mutex_lock(&ns->lock);
		rc = commit_record(ns, name, &t, 0);
		rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	}
	txn_free(&t);
	mfs_wr_release(&w);
	return rc;
}

/* A live record's summary (its entries counted): 0 or MFS_EFORMAT. */
static int summarize(const uint8_t *p, size_t n, struct mfs_rev_info *ri)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct rev_hdr h;
	struct rev_ent e;
	int rc = rev_rd_hdr(&r, &h);

	if (rc)
		return rc;
	ri->live = h.state == MFS_REV_LIVE;
	ri->created = h.created;
	ri->entries = h.count;
	ri->record_bytes = n;
	snprintf(ri->path, sizeof(ri->path), "%.*s", (int)h.plen, (const char *)h.path);
	for (uint32_t i = 0; i < h.count && !rc; i++) {
		if ((rc = rev_rd_entry(&r, &e)))
			break;
		if (S_ISDIR(e.mode)) {
			ri->dirs++;
		} else if (S_ISREG(e.mode)) {
			ri->files++;
			ri->bytes += e.size;
		}
	}
	return rc;
}

struct rev_each {
	mfs_rev_fn fn;
	void *arg;
};

static int rev_each_live(void *arg, const char *name, const uint8_t *v, size_t vl)
{
	struct rev_each *re = arg;
	struct mfs_rev_info ri = { 0 };

	if (vl < 2 || v[1] != MFS_REV_LIVE)
		return 0;
	snprintf(ri.name, sizeof(ri.name), "%s", name);
	if (summarize(v, vl, &ri)) {
		log_error("revision %s: malformed record (run fsck)", ri.name);
		return 0;
	}
	return re->fn(re->arg, &ri);
}

int mfs_ns_rev_each(struct mfs_ns *ns, mfs_rev_fn fn, void *arg)
{
	struct rev_each re = { fn, arg };
	int rc = rev_scan(ns->db, rev_each_live, &re);

	return rc > 0 ? 0 : rc;
}
