/* SPDX-License-Identifier: Apache-2.0 */
/* The walk over every inode record (inode_walk.h). */
#include <errno.h>

#include "inode.h"
#include "inode_walk.h"
#include "rev.h"
#include "store/base/bytes.h"
#include "store/kv/db.h"

struct rev_pass {
	const struct mfs_inode_walk *w;
	int stopped;
};

static int rev_file(void *arg, const char *path, const struct mfs_inode *in)
{
	struct rev_pass *p = arg;

	(void)path;
	if (p->w->stop && *p->w->stop) {
		p->stopped = 1;
		return 1;
	}
	return p->w->fn(p->w->arg, in);
}

static int rev_bad(void *arg, const char *name)
{
	struct rev_pass *p = arg;

	(void)name;
	return p->w->bad ? p->w->bad(p->w->arg, 0) : 0;
}

int mfs_inode_walk(struct mfs_db *db, struct mfs_iter *it, const struct mfs_inode_walk *w)
{
	int rc = 0;

	if (!it && !(it = mfs_iter_new(db, MFS_CF_INODES, NULL, 0)))
		return -ENOMEM;
	for (; !rc && mfs_iter_valid(it) && !(w->stop && *w->stop); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		uint64_t ino = kl == 8 ? get_be64(k) : 0;
		struct mfs_inode in;

		if (kl != 8 || mfs_inode_decode(ino, v, vl, &in)) {
			rc = w->bad ? w->bad(w->arg, ino) : 0;
			continue;
		}
		rc = w->fn(w->arg, &in);
		mfs_inode_release(&in);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	if (!rc && w->revisions && !(w->stop && *w->stop)) {
		struct rev_pass p = { w, 0 };

		rc = mfs_rev_each_file(db, rev_file, rev_bad, &p);
		if (p.stopped)
			rc = 0;
	}
	return rc;
}
