/* SPDX-License-Identifier: Apache-2.0 */
/* Directory listings: opendir, readdir(plus), releasedir. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

/*
 * An open directory remembers the names it handed out with their offsets
 * (its cookies), so a listing resumes after the name an offset stands for.
 * Offsets alone would skip entries when earlier ones are removed between
 * calls: rm -rf does exactly that, and a caller whose getdents buffer is
 * smaller than a reply (musl's readdir, 2 KiB; busybox rm) asks again from
 * the middle of the last reply, as does seekdir to a telldir position.
 * A forward listing hands out rising offsets, so the table stays sorted.
 */
#define DIR_COOKIES_MAX 16384   /* past this the oldest half goes */

struct dir_cookie {
	off_t off;
	char *name;                 /* owned */
};

struct dir_handle {
	pthread_mutex_t lock;
	struct dir_cookie *c;       /* protected by lock; sorted by off */
	size_t n, cap;              /* protected by lock */
};

struct readdir_ctx {
	struct mfs_fs *fs;
	fuse_req_t req;
	char *buf;
	size_t size, used;
	off_t next;
	int plus;
	int err;
	struct dir_cookie *got;     /* the entries of this reply */
	size_t ngot, capgot;
};

/* Keeps name for offset off; 0, or -ENOMEM (the reply goes on without it). */
static int ctx_keep(struct readdir_ctx *c, off_t off, const char *name)
{
	char *dup;

	if (c->ngot == c->capgot) {
		size_t cap = c->capgot ? 2 * c->capgot : 64;
		struct dir_cookie *g = realloc(c->got, cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		c->got = g;
		c->capgot = cap;
	}
	if (!(dup = strdup(name)))
		return -ENOMEM;
	c->got[c->ngot++] = (struct dir_cookie){ off, dup };
	return 0;
}

static void cookies_free(struct dir_cookie *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].name);
}

/* The name handed out at off, copied to name; 1 if found.  dh->lock held. */
static int cookie_find(const struct dir_handle *dh, off_t off, char *name, size_t len)
{
	size_t lo = 0, hi = dh->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dh->c[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == dh->n || dh->c[lo].off != off)
		return 0;
	snprintf(name, len, "%s", dh->c[lo].name);
	return 1;
}

/*
 * A reply that started at from: the cookies past from were of an older
 * listing (numbers handed out again now), so they give way to this reply's.
 * Takes the names of got.  dh->lock held.
 */
static void cookies_merge(struct dir_handle *dh, off_t from, struct readdir_ctx *c)
{
	size_t keep = dh->n;

	while (keep > 0 && dh->c[keep - 1].off > from)
		keep--;
	cookies_free(dh->c + keep, dh->n - keep);
	dh->n = keep;
	if (!c->ngot)
		return;
	if (dh->n + c->ngot > DIR_COOKIES_MAX) {
		size_t drop = dh->n < DIR_COOKIES_MAX / 2 ? dh->n : DIR_COOKIES_MAX / 2;

		cookies_free(dh->c, drop);
		memmove(dh->c, dh->c + drop, (dh->n - drop) * sizeof(*dh->c));
		dh->n -= drop;
	}
	if (dh->n + c->ngot > dh->cap) {
		size_t cap = dh->n + c->ngot + 64;
		struct dir_cookie *t = realloc(dh->c, cap * sizeof(*t));

		if (!t) {
			/* Without room the listing resumes by count, as before. */
			cookies_free(c->got, c->ngot);
			c->ngot = 0;
			return;
		}
		dh->c = t;
		dh->cap = cap;
	}
	memcpy(dh->c + dh->n, c->got, c->ngot * sizeof(*c->got));
	dh->n += c->ngot;
	c->ngot = 0;
}

/*
 * The stat a readdirplus entry carries; takes a lookup of ino.  0 or -errno.
 * A node whose lock is held is committing (fs_commit holds it while it
 * chunks the bytes, seconds for a large file): the entry then goes without
 * attributes (ino 0, which the kernel takes as "look it up when asked"), so
 * that a listing (ls, find) of its directory does not wait for the commit.
 * So too an inode with a shared view on it (view.c): a lookup gives the
 * writer's inode for it, and the kernel would drop that dentry for this one.
 */
static int plus_attr(struct mfs_fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
	struct mfs_manifest *old;
	struct mfs_node *node;
	uint64_t gen = fs_remote_gen(fs);
	int rc;

	if (!(node = itable_get(fs, ino, NULL, 1, 0, &rc)))
		return rc;
	if (view_lookup_writer(fs, ino) || pthread_mutex_trylock(&node->lock)) {
		itable_put(fs, node, 1, 0);
		return 0;
	}
	old = fs_node_catch_up(fs, node, gen);
	fs_fill_stat(fs, node, &e->attr);
	pthread_mutex_unlock(&node->lock);
	mfs_manifest_unref(old);
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = fs->timeout;
	return 0;
}

static int add_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct readdir_ctx *c = arg;
	struct fuse_entry_param e = { .attr = { .st_ino = ino, .st_mode = mode } };
	char *at = c->buf + c->used;
	size_t room = c->size - c->used, n;
	int rc;

	/* Size first with a dummy, so a full buffer takes no lookup. */
	n = c->plus ? fuse_add_direntry_plus(c->req, NULL, 0, name, &e, 0)
		    : fuse_add_direntry(c->req, NULL, 0, name, &e.attr, 0);
	if (n > room)
		return 1;
	/* Its cookie before the lookup: an entry is never handed out without. */
	if ((rc = ctx_keep(c, c->next + 1, name)) || (c->plus && (rc = plus_attr(c->fs, ino, &e)))) {
		if (c->ngot && c->got[c->ngot - 1].off == c->next + 1)
			free(c->got[--c->ngot].name);
		c->err = rc;
		return 1;
	}
	c->next++;
	if (c->plus)
		fuse_add_direntry_plus(c->req, at, room, name, &e, c->next);
	else
		fuse_add_direntry(c->req, at, room, name, &e.attr, c->next);
	c->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus,
		       struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct readdir_ctx c = { fs, req, NULL, size, 0, off, plus, 0, NULL, 0, 0 };
	char after[MFS_NAME_MAX + 1] = "";
	off_t from;
	int rc;

	if (!(c.buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * Offsets 1 and 2 are "." and ".."; entry k (0-based) has offset k + 3.
	 * The kernel takes no lookup on dot entries, even in readdirplus.
	 */
	if (off >= 0 && off < 2) {
		struct fuse_entry_param e = { .ino = ino, .attr = { .st_ino = ino, .st_mode = S_IFDIR } };

		/* Offset 1: a caller's buffer took "." alone; ".." comes next. */
		for (off_t k = off + 1; k <= 2; k++) {
			const char *dot = k == 1 ? "." : "..";

			c.used += plus ? fuse_add_direntry_plus(req, c.buf + c.used, size - c.used, dot, &e, k)
				       : fuse_add_direntry(req, c.buf + c.used, size - c.used, dot, &e.attr, k);
		}
		c.next = 2;
	}
	pthread_mutex_lock(&dh->lock);
	if (off > 2)
		cookie_find(dh, off, after, sizeof(after));
	pthread_mutex_unlock(&dh->lock);
	/* An offset this handle never handed out (or forgot) counts entries. */
	from = c.next;
	rc = mfs_ns_readdir(fs->ns, ino, *after ? after : NULL, c.next - 2, add_entry, &c);
	if (!rc)
		rc = c.err;
	pthread_mutex_lock(&dh->lock);
	cookies_merge(dh, from, &c);
	pthread_mutex_unlock(&dh->lock);
	if (rc && c.used == 0)
		fuse_reply_err(req, mfs_errno(rc));
	else
		fuse_reply_buf(req, c.buf, c.used);
	cookies_free(c.got, c.ngot);
	free(c.got);
	free(c.buf);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0, fi);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1, fi);
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = calloc(1, sizeof(*dh));

	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->lock, NULL);
	fi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, fi)) {
		pthread_mutex_destroy(&dh->lock);
		free(dh);
	}
}

/* The entries' creates, renames and removes may wait for the periodic sync
 * (fs_sync.c); a program that fsyncs the directory gets them durable now. */
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, mfs_errno(mfs_ns_sync(req_fs(req)->ns)));
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	cookies_free(dh->c, dh->n);
	free(dh->c);
	pthread_mutex_destroy(&dh->lock);
	free(dh);
	fuse_reply_err(req, 0);
}
