/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading revisions by inode number (rev.h, notes 3 and 4): records parsed
 * into an index once, kept in a per-namespace cache while each is the
 * record at its name, and the reads namespace.c hands over for revision
 * inode numbers: get, lookup, readdir.  Nothing here takes the namespace
 * lock: the records are immutable, and a read of a revision deleted
 * meanwhile sees it or not, as a read racing an unlink does.
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
#define SLOTS (1u << 16)

int rev_cache_init(struct rev_cache **out)
{
	struct rev_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !(c->slots = calloc(SLOTS, sizeof(*c->slots)))) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->next_slot = 1;
	*out = c;
	return 0;
}

static void tree_free(struct rev_tree *t)
{
	if (!t)
		return;
	free(t->buf);
	free(t->e);
	free(t);
}

void rev_cache_free(struct rev_cache *c)
{
	if (!c)
		return;
	while (c->list) {
		struct rev_tree *t = c->list;

		c->list = t->next;
		tree_free(t);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

static void tree_put(struct rev_cache *c, struct rev_tree *t)
{
	int last;

	pthread_mutex_lock(&c->lock);
	last = --t->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		tree_free(t);
}

/* Takes t out of the cache (lock held); the cache's reference goes with it. */
static int uncache_locked(struct rev_cache *c, struct rev_tree *t)
{
	for (struct rev_tree **pp = &c->list; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			c->slots[t->slot] = NULL;
			return --t->refs == 0;
		}
	return 0;
}

/* Parses a record (checked) into t's index: 0, -ENOENT for a tombstone, or an error. */
static int tree_index(struct rev_tree *t)
{
	struct mfs_rd r = { .p = t->buf, .left = t->len };
	struct rev_hdr h;
	struct rev_ent e;
	int rc;

	if ((rc = mfs_rev_check(t->buf, t->len)) || (rc = rev_rd_hdr(&r, &h)))
		return rc;
	if (h.state != MFS_REV_LIVE)
		return -ENOENT;
	t->n = h.count;
	t->created = h.created;
	if (!(t->e = calloc(t->n, sizeof(*t->e))))
		return -ENOMEM;
	for (uint32_t i = 0; i < t->n; i++) {
		t->e[i].off = (uint32_t)(r.p - t->buf);
		if ((rc = rev_rd_entry(&r, &e)))
			return rc;
		if (i) {
			struct rev_node *p = &t->e[e.parent];

			if (!p->nchild++)
				p->first = i;
			p->nsubdir += S_ISDIR(e.mode) ? 1 : 0;
		}
	}
	return 0;
}

/* The stamp of the record at name: 0, -ENOENT, or an error. */
static int name_stamp(struct mfs_ns *ns, const char *name, uint8_t st[MFS_STAMP_LEN])
{
	uint8_t skey[STAMP_KEY_MAX];
	size_t sl = stamp_key(MFS_OP_REV, (const uint8_t *)name, strlen(name), skey);
	struct mfs_val v;
	int rc = mfs_db_get(ns->db, MFS_CF_STAMPS, skey, sl, &v, 1);

	if (rc)
		return rc;
	if (v.len == MFS_STAMP_LEN)
		memcpy(st, v.p, MFS_STAMP_LEN);
	else
		rc = MFS_EFORMAT;
	mfs_val_release(&v);
	return rc;
}

/* Reads the record at name with its stamp, both of one write: a new tree (not cached). */
static int tree_read(struct mfs_ns *ns, const char *name, struct rev_tree **out)
{
	uint8_t key[REV_KEY_MAX], again[MFS_STAMP_LEN];
	size_t kl = rev_key((const uint8_t *)name, strlen(name), key);
	struct rev_tree *t = calloc(1, sizeof(*t));
	struct mfs_val v = { 0 };
	int rc = -ENOMEM, tries = 0;

	*out = NULL;
	if (!t)
		return rc;
	do {
		mfs_val_release(&v);
		if ((rc = name_stamp(ns, name, t->stamp)) ||
		    (rc = mfs_db_get(ns->db, MFS_CF_META, key, kl, &v, 1)) ||
		    (rc = name_stamp(ns, name, again)))
			goto out;
	} while (memcmp(again, t->stamp, MFS_STAMP_LEN) && ++tries < 8);
	rc = -ENOMEM;
	if (!(t->buf = malloc(v.len ? v.len : 1)))
		goto out;
	memcpy(t->buf, v.p, v.len);
	t->len = v.len;
	snprintf(t->name, sizeof(t->name), "%s", name);
	rc = tree_index(t);
	if (rc == MFS_EFORMAT)
		log_error("revision %s: malformed record (run fsck)", name);
out:
	mfs_val_release(&v);
	if (rc)
		tree_free(t);
	else
		*out = t;
	return rc;
}

/* The tree of revision name, held (tree_put): cached, or read and cached. */
static int tree_by_name(struct mfs_ns *ns, const char *name, struct rev_tree **out)
{
	struct rev_cache *c = ns->revs;
	struct rev_tree *t, *fresh = NULL, *old = NULL;
	uint8_t st[MFS_STAMP_LEN];
	int rc;

	*out = NULL;
	if ((rc = name_stamp(ns, name, st)))
		return rc;
	pthread_mutex_lock(&c->lock);
	for (t = c->list; t; t = t->next)
		if (!strcmp(t->name, name) && !memcmp(t->stamp, st, MFS_STAMP_LEN))
			break;
	if (t)
		t->refs++;
	pthread_mutex_unlock(&c->lock);
	if (t) {
		*out = t;
		return 0;
	}
	if ((rc = tree_read(ns, name, &fresh)))
		return rc;
	pthread_mutex_lock(&c->lock);
	for (t = c->list; t; t = t->next) {
		if (strcmp(t->name, name))
			continue;
		if (!memcmp(t->stamp, fresh->stamp, MFS_STAMP_LEN))
			break; /* another reader was first */
		old = t;   /* an older record of the name */
	}
	if (t) {
		t->refs++;
	} else if (c->next_slot >= SLOTS) {
		rc = -ENOSPC;
	} else {
		t = fresh;
		fresh = NULL;
		t->slot = (uint16_t)c->next_slot++;
		t->refs = 2; /* the cache's and the caller's */
		t->next = c->list;
		c->list = t;
		c->slots[t->slot] = t;
	}
	if (old && !uncache_locked(c, old))
		old = NULL;
	pthread_mutex_unlock(&c->lock);
	tree_free(old);
	tree_free(fresh);
	if (rc == -ENOSPC)
		log_error("revision %s: every revision slot of this process is used: remount",
			  name);
	*out = rc ? NULL : t;
	return rc;
}

/* The tree whose entry ino is, held, if its record is still the one at its name. */
static int tree_by_ino(struct mfs_ns *ns, uint64_t ino, struct rev_tree **out, uint32_t *idx)
{
	struct rev_cache *c = ns->revs;
	uint32_t slot = (uint32_t)(ino >> MFS_REV_SLOT_SHIFT) & (SLOTS - 1);
	uint8_t st[MFS_STAMP_LEN];
	struct rev_tree *t;
	int rc;

	*idx = (uint32_t)(ino & (MFS_REV_MAX_ENTRIES - 1));
	pthread_mutex_lock(&c->lock);
	if ((t = c->slots[slot]))
		t->refs++;
	pthread_mutex_unlock(&c->lock);
	if (!t || *idx >= t->n) {
		if (t)
			tree_put(c, t);
		return -ENOENT;
	}
	rc = name_stamp(ns, t->name, st);
	if (!rc && memcmp(st, t->stamp, MFS_STAMP_LEN))
		rc = -ENOENT; /* deleted, or replaced by a newer record of the name */
	if (rc == -ENOENT) {
		/* Ours is still held: the cache's reference goes, the tree stays until tree_put. */
		pthread_mutex_lock(&c->lock);
		uncache_locked(c, t);
		pthread_mutex_unlock(&c->lock);
	}
	if (rc) {
		tree_put(c, t);
		return rc;
	}
	*out = t;
	return 0;
}

static uint64_t ent_ino(const struct rev_tree *t, uint32_t i)
{
	return MFS_REV_INO_BASE | (uint64_t)t->slot << MFS_REV_SLOT_SHIFT | i;
}

static void ent_at(const struct rev_tree *t, uint32_t i, struct rev_ent *e)
{
	struct mfs_rd r = { .p = t->buf + t->e[i].off, .left = t->len - t->e[i].off };

	rev_rd_entry(&r, e); /* checked when the tree was made */
}

/* Entry i of t as an inode record. */
static int ent_record(const struct rev_tree *t, uint32_t i, struct mfs_inode *out)
{
	struct rev_ent e;
	int rc;

	memset(out, 0, sizeof(*out));
	ent_at(t, i, &e);
	if ((rc = rev_ent_attrs(&e, out)))
		goto out;
	out->ino = out->fid = ent_ino(t, i);
	out->parent = i ? ent_ino(t, e.parent) : MFS_REVS_INO;
	out->name = i ? strndup((const char *)e.name, e.nlen) : strdup(t->name);
	if (!out->name)
		rc = -ENOMEM;
	if (S_ISDIR(e.mode))
		out->nlink = 2 + t->e[i].nsubdir;
out:
	if (rc)
		mfs_inode_release(out);
	return rc;
}

/* /.snapshots itself: read-only, owned by root, with the root's times. */
static int revs_dir_record(struct mfs_ns *ns, struct mfs_inode *out)
{
	struct mfs_inode root;
	int rc = mfs_ns_get(ns, MFS_ROOT_INO, &root);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	out->ino = out->fid = MFS_REVS_INO;
	out->parent = MFS_ROOT_INO;
	out->mode = S_IFDIR | 0555;
	/* Unknown, as btrfs says of its directories: listing it would read every record. */
	out->nlink = 1;
	out->version = 1;
	out->atime = root.atime;
	out->mtime = root.mtime;
	out->ctime = root.ctime;
	mfs_inode_release(&root);
	if (!(out->name = strdup(MFS_REVS_NAME)))
		return -ENOMEM;
	return 0;
}

int rev_get(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *out)
{
	struct rev_tree *t;
	uint32_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ino == MFS_REVS_INO)
		return revs_dir_record(ns, out);
	if ((rc = tree_by_ino(ns, ino, &t, &i)))
		return rc;
	rc = ent_record(t, i, out);
	tree_put(ns->revs, t);
	return rc;
}

/* The first child of dir (in t) whose name is >= name (or > it, with after): its index. */
static uint32_t child_bound(const struct rev_tree *t, uint32_t dir, const char *name, int after)
{
	uint32_t lo = t->e[dir].first, hi = lo + t->e[dir].nchild;
	size_t nl = strlen(name);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		struct rev_ent e;
		int c;

		ent_at(t, mid, &e);
		c = memcmp(e.name, name, e.nlen < nl ? e.nlen : nl);
		if (!c)
			c = (e.nlen > nl) - (e.nlen < nl);
		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int rev_lookup(struct mfs_ns *ns, uint64_t parent, const char *name, struct mfs_inode *out)
{
	struct rev_tree *t;
	struct rev_ent e;
	uint32_t d, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (strlen(name) > MFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent == MFS_REVS_INO) {
		if (!mfs_rev_name_ok(name))
			return -ENOENT;
		if ((rc = tree_by_name(ns, name, &t)))
			return rc;
		rc = ent_record(t, 0, out);
		tree_put(ns->revs, t);
		return rc;
	}
	if ((rc = tree_by_ino(ns, parent, &t, &d)))
		return rc;
	ent_at(t, d, &e);
	rc = -ENOTDIR;
	if (S_ISDIR(e.mode)) {
		i = child_bound(t, d, name, 0);
		rc = -ENOENT;
		if (i < t->e[d].first + t->e[d].nchild) {
			ent_at(t, i, &e);
			if (e.nlen == strlen(name) && !memcmp(e.name, name, e.nlen))
				rc = ent_record(t, i, out);
		}
	}
	tree_put(ns->revs, t);
	return rc;
}

struct revs_list {
	struct mfs_ns *ns;
	const char *after;
	uint64_t skip;
	mfs_dirent_fn fn;
	void *arg;
};

static int revs_list_one(void *arg, const char *name, const uint8_t *v, size_t vl)
{
	struct revs_list *l = arg;
	struct rev_tree *t;
	int rc;

	if (vl < 2 || v[1] != MFS_REV_LIVE || (l->after && strcmp(name, l->after) <= 0))
		return 0;
	if (!l->after && l->skip) {
		l->skip--;
		return 0;
	}
	if ((rc = tree_by_name(l->ns, name, &t)))
		return rc == -ENOENT ? 0 : rc; /* deleted meanwhile */
	rc = l->fn(l->arg, name, ent_ino(t, 0), S_IFDIR);
	tree_put(l->ns->revs, t);
	return rc;
}

/* Lists /.snapshots: the live records in name order. */
static int revs_readdir(struct mfs_ns *ns, const char *after, uint64_t skip, mfs_dirent_fn fn,
			void *arg)
{
	struct revs_list l = { ns, after, skip, fn, arg };
	int rc = rev_scan(ns->db, revs_list_one, &l);

	return rc > 0 ? 0 : rc;
}

int rev_readdir(struct mfs_ns *ns, uint64_t dir, const char *after, uint64_t skip,
		mfs_dirent_fn fn, void *arg)
{
	struct rev_tree *t;
	struct rev_ent e;
	uint32_t d, i, end;
	int rc;

	if (dir == MFS_REVS_INO)
		return revs_readdir(ns, after, skip, fn, arg);
	if ((rc = tree_by_ino(ns, dir, &t, &d)))
		return rc;
	ent_at(t, d, &e);
	if (!S_ISDIR(e.mode)) {
		tree_put(ns->revs, t);
		return -ENOTDIR;
	}
	end = t->e[d].first + t->e[d].nchild;
	if (after)
		i = child_bound(t, d, after, 1);
	else
		i = t->e[d].first + (uint32_t)(skip < t->e[d].nchild ? skip : t->e[d].nchild);
	for (; i < end && !rc; i++) {
		char name[MFS_NAME_MAX + 1];

		ent_at(t, i, &e);
		memcpy(name, e.name, e.nlen);
		name[e.nlen] = 0;
		rc = fn(arg, name, ent_ino(t, i), e.mode);
	}
	tree_put(ns->revs, t);
	return rc > 0 ? 0 : rc;
}
