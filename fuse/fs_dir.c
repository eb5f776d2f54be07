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
 * An open directory: where the last reply ended, so the next one resumes
 * after that name.  Offsets alone would skip entries when earlier ones are
 * removed between calls (rm -rf does exactly that).
 */
struct dir_handle {
	pthread_mutex_t lock;
	off_t last_off;             /* offset of the last entry returned */
	char last_name[MFS_NAME_MAX + 1];
};

struct readdir_ctx {
	struct mfs_fs *fs;
	fuse_req_t req;
	char *buf;
	size_t size, used;
	off_t next;
	int plus;
	int err;
	off_t last_off;             /* offset of the last entry added */
	char last_name[MFS_NAME_MAX + 1];
};

static int add_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct readdir_ctx *c = arg;
	size_t n;

	c->next++;
	if (!c->plus) {
		struct stat st = { .st_ino = ino, .st_mode = mode };

		n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, name, &st, c->next);
	} else {
		struct fuse_entry_param e = { 0 };
		struct mfs_node *node;
		int rc;

		/* Size first with a dummy, so a full buffer takes no lookup. */
		n = fuse_add_direntry_plus(c->req, NULL, 0, name, &e, 0);
		if (n > c->size - c->used)
			return 1;
		struct mfs_manifest *old;
		uint64_t gen = fs_remote_gen(c->fs);

		if (!(node = itable_get(c->fs, ino, NULL, 1, 0, &rc))) {
			c->err = rc;
			return 1;
		}
		pthread_mutex_lock(&node->lock);
		old = fs_node_catch_up(c->fs, node, gen);
		fs_fill_stat(c->fs, node, &e.attr);
		pthread_mutex_unlock(&node->lock);
		mfs_manifest_unref(old);
		e.ino = ino;
		e.attr_timeout = e.entry_timeout = c->fs->timeout;
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used, name, &e, c->next);
	}
	if (n > c->size - c->used)
		return 1;
	c->used += n;
	c->last_off = c->next;
	snprintf(c->last_name, sizeof(c->last_name), "%s", name);
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus,
		       struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct readdir_ctx c = { fs, req, NULL, size, 0, off, plus, 0, 0, "" };
	char after[MFS_NAME_MAX + 1] = "";
	int rc;

	if (!(c.buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * Offsets 1 and 2 are "." and ".."; entry k (0-based) has offset k + 3.
	 * The kernel takes no lookup on dot entries, even in readdirplus.
	 */
	if (off == 0) {
		struct fuse_entry_param e = { .ino = ino, .attr = { .st_ino = ino, .st_mode = S_IFDIR } };

		if (plus) {
			c.used += fuse_add_direntry_plus(req, c.buf, size, ".", &e, 1);
			c.used += fuse_add_direntry_plus(req, c.buf + c.used, size - c.used, "..", &e, 2);
		} else {
			c.used += fuse_add_direntry(req, c.buf, size, ".", &e.attr, 1);
			c.used += fuse_add_direntry(req, c.buf + c.used, size - c.used, "..", &e.attr, 2);
		}
		c.next = 2;
	} else if (off < 2) {
		c.next = 2;
	}
	pthread_mutex_lock(&dh->lock);
	if (off > 2 && off == dh->last_off)
		memcpy(after, dh->last_name, sizeof(after));
	pthread_mutex_unlock(&dh->lock);
	rc = mfs_ns_readdir(fs->ns, ino, *after ? after : NULL, c.next - 2, add_entry, &c);
	if (!rc)
		rc = c.err;
	if (*c.last_name) {
		pthread_mutex_lock(&dh->lock);
		dh->last_off = c.last_off;
		memcpy(dh->last_name, c.last_name, sizeof(dh->last_name));
		pthread_mutex_unlock(&dh->lock);
	}
	if (rc && c.used == 0)
		fuse_reply_err(req, mfs_errno(rc));
	else
		fuse_reply_buf(req, c.buf, c.used);
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

	pthread_mutex_destroy(&dh->lock);
	free(dh);
	fuse_reply_err(req, 0);
}
