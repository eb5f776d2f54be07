/* SPDX-License-Identifier: Apache-2.0 */
/* The walk over every inode record (inode_walk.h). */
#include <errno.h>

#include "inode.h"
#include "inode_walk.h"
#include "store/base/bytes.h"
#include "store/kv/db.h"

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
	return rc;
}
