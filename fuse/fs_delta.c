/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which base a file being committed is stored against as fine-tune deltas
 * (store/chunk/delta.h): ingest asks, once it knows the file is a model
 * file, through fs_delta_base.  The answer, in order:
 *
 * 1. the file named by the xattr user.modelfs.base of the file being
 *    written: a path in the mount (from its root, with or without a
 *    leading '/', or under the mountpoint), set before the header is
 *    written (or before close, when the file is committed at once);
 * 2. the version of the same path that this write replaces: a fine-tune
 *    written over its base (a snapshot keeps the base reachable; gc keeps
 *    the base chunks a live delta needs in any case);
 * 3. with delta_auto (the default), the last file committed on this node
 *    without deltas whose tensors have the same names, dtypes and shapes
 *    (store/chunk/delta_hint.h): a fine-tune copied in beside its base.
 *
 * An empty user.modelfs.base asks for none: the file is stored plainly.
 * Any base is used only if its tensors match (delta.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/ingest.h"
#include "store/ns/inode.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "delta"
#define BASE_XATTR "user.modelfs.base"

/* The path p[0..n) (from the mount's root) as an inode record: 0 or -errno. */
static int walk(struct mfs_fs *fs, const char *p, size_t n, struct mfs_inode *out)
{
	const char *mnt = fs->cfg->mountpoint;
	size_t ml = mnt ? strlen(mnt) : 0;
	uint64_t cur = MFS_ROOT_INO;
	int rc = 0;

	if (ml > 1 && n > ml && !strncmp(p, mnt, ml) && p[ml] == '/') {
		p += ml;
		n -= ml;
	}
	memset(out, 0, sizeof(*out));
	while (n && !rc) {
		char name[MFS_NAME_MAX + 1];
		size_t k = 0;

		while (n && *p == '/') {
			p++;
			n--;
		}
		while (k < n && p[k] != '/')
			k++;
		if (!k)
			break;
		if (k > MFS_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, k);
		name[k] = 0;
		mfs_inode_release(out);
		if (!(rc = mfs_ns_lookup(fs->ns, cur, name, out)))
			cur = out->ino;
		p += k;
		n -= k;
	}
	if (!rc && cur == MFS_ROOT_INO)
		rc = -EISDIR;
	return rc;
}

int fs_delta_base(void *arg, struct mfs_hash *id)
{
	struct fs_delta_src *src = arg;
	struct mfs_inode rec = { 0 }, base = { 0 };
	const struct mfs_xattr *x;
	int found, rc;

	if (mfs_ns_get(src->fs->ns, src->ino, &rec))
		return MFS_BASE_NONE;
	found = src->fs->cfg->delta_auto ? 0 : MFS_BASE_NONE;
	if ((x = mfs_inode_xattr_get(&rec, BASE_XATTR)) && !x->len) {
		found = MFS_BASE_NONE;
	} else if (x) {
		rc = walk(src->fs, (const char *)x->value, x->len, &base);
		if (!rc && S_ISREG(base.mode) && base.has_manifest) {
			*id = base.manifest;
			found = 1;
		} else {
			log_warn("inode %016llx: %s %.*s: %s", (unsigned long long)src->ino, BASE_XATTR,
				 (int)x->len, (const char *)x->value,
				 rc ? mfs_strerror(rc) : "not a file with data");
		}
	} else if (S_ISREG(rec.mode) && rec.has_manifest) {
		*id = rec.manifest;
		found = 1;
	}
	mfs_inode_release(&base);
	mfs_inode_release(&rec);
	return found;
}
