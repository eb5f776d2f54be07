/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of lost+found (store/ns_orphan.c): finds the entries
 * concurrent directory operations left unreachable and moves each into
 * /lost+found, then tells the kernel what moved, as for a peer's change
 * (fs_remote.c).  Before that, it repairs this node's directories that lost
 * their name to another node's (store/ns/ns_merge.c) and deletes its file
 * records that no entry names (store/ns/ns_nameless.c).  Run by gc (on its
 * timer, and by `gc --apply`).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "namespace"
#define MAX_PER_RUN 100000      /* the rest wait for the next run */

struct orphan {
	uint64_t parent, ino;
	char *name;
};

struct orphans {
	struct orphan *v;
	size_t n, cap;
};

static int collect(void *arg, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	struct orphans *o = arg;

	(void)mode;
	if (o->n == MAX_PER_RUN)
		return 1;
	if (mfs_grow(&o->v, &o->cap, o->n, sizeof(*o->v)))
		return -ENOMEM;
	o->v[o->n] = (struct orphan){ parent, ino, strdup(name) };
	return o->v[o->n++].name ? 0 : -ENOMEM;
}

static void tell_kernel(struct mfs_fs *fs, const struct orphan *o, const char *newname)
{
	struct mfs_ns_change c[] = {
		{ .kind = MFS_CHANGE_DIRENT, .parent = o->parent, .name = o->name },
		{ .kind = MFS_CHANGE_DIRENT, .parent = MFS_LOST_INO, .name = newname },
		{ .kind = MFS_CHANGE_DIRENT, .parent = MFS_ROOT_INO, .name = MFS_LOST_NAME },
		{ .kind = MFS_CHANGE_INODE, .ino = o->ino },
		{ .kind = MFS_CHANGE_INODE, .ino = MFS_LOST_INO },
		{ .kind = MFS_CHANGE_INODE, .ino = MFS_ROOT_INO },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		fs_remote_change(fs, &c[i]);
}

uint64_t fs_adopt_orphans(struct mfs_fs *fs)
{
	struct orphans o = { 0 };
	uint64_t moved = 0;
	/* Own directories that lost their name first: what they hold is then
	 * merged, not orphaned. */
	int rc = mfs_ns_fix_dead_dirs(fs->ns, fs_remote_change, fs);

	if (rc < 0)
		log_warn("looking for directories that lost their name: %s", mfs_strerror(rc));
	/* And own file records a race left with no name (ns_nameless.c). */
	if ((rc = mfs_ns_drop_nameless(fs->ns, fs_remote_change, fs)) < 0)
		log_warn("looking for files with no name: %s", mfs_strerror(rc));
	rc = mfs_ns_orphans(fs->ns, collect, &o);

	if (rc)
		log_warn("looking for unreachable entries: %s", mfs_strerror(rc));
	for (size_t i = 0; i < o.n; i++) {
		char newname[MFS_NAME_MAX + 1];
		int rc2 = rc ? rc : mfs_ns_adopt(fs->ns, o.v[i].parent, o.v[i].name, o.v[i].ino,
						 newname);

		if (!rc2) {
			moved++;
			tell_kernel(fs, &o.v[i], newname);
		} else if (rc2 == -EEXIST) {
			rc = rc2; /* logged once by the store; the others would fail alike */
		} else if (rc2 != -ESTALE && !rc) {
			log_warn("unreachable entry %s not moved to /%s: %s", o.v[i].name,
				 MFS_LOST_NAME, mfs_strerror(rc2));
		}
		free(o.v[i].name);
	}
	free(o.v);
	/* Last: the moves above keep the counts right, a kill may not have. */
	if ((rc = mfs_ns_recount_dirs(fs->ns, fs_remote_change, fs)) < 0)
		log_warn("counting directories' links again: %s", mfs_strerror(rc));
	return moved;
}
