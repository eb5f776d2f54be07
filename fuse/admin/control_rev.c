/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control requests for revisions (store/ns/rev.h), which users call
 * snapshots: `rev-create INO NAME` (INO a directory's inode number, as
 * stat(2) gives it), `rev-delete NAME` and `revs`.  Each answers `rev NAME
 * ...` lines and the end line; doc/format.md has the protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuse/fs_internal.h"
#include "store/base/errors.h"
#include "store/ns/namespace.h"
#include "store/ns/rev.h"

/* "rev NAME entries files dirs bytes record_bytes created_s walk_us locked_us PATH". */
static int write_rev(void *arg, const struct mfs_rev_info *ri)
{
	FILE *f = arg;

	fprintf(f, "rev %s\n", ri->name);
	fprintf(f, "rev_info %llu %llu %llu %llu %llu %lld %llu %llu ",
		(unsigned long long)ri->entries, (unsigned long long)ri->files,
		(unsigned long long)ri->dirs, (unsigned long long)ri->bytes,
		(unsigned long long)ri->record_bytes, (long long)ri->created.tv_sec,
		(unsigned long long)ri->walk_us, (unsigned long long)ri->locked_us);
	control_put_escaped(f, ri->path);
	fputc('\n', f);
	return 0;
}

static const char *why(int rc)
{
	switch (rc) {
	case 0: return "ok";
	case -EEXIST: return "a snapshot of that name exists";
	case -ENOENT: return "no such snapshot (or directory)";
	case -EINVAL: return "not a snapshot name (1-255 bytes, no '/', not '.' or '..')";
	case -ENOTDIR: return "not a directory";
	case -EROFS: return "read-only: a snapshot cannot be taken of a snapshot, nor on a "
			    "read-only mount";
	case -EFBIG: return "the tree is too large for one snapshot";
	}
	return mfs_strerror(rc);
}

/* The kernel keeps entries an hour: /.snapshots/NAME came or went here. */
static void inval_name(struct mfs_fs *fs, const char *name)
{
	struct mfs_ns_change c = { .kind = MFS_CHANGE_DIRENT, .parent = MFS_REVS_INO, .name = name };

	fs_remote_change(fs, &c);
}

void control_rev(struct mfs_fs *fs, const char *line, FILE *f)
{
	struct mfs_rev_info ri;
	unsigned long long ino;
	char *end;
	int rc;

	if (!strcmp(line, "revs")) {
		rc = mfs_ns_rev_each(fs->ns, write_rev, f);
	} else if (fs->cfg->ro) {
		rc = -EROFS;
	} else if (!strncmp(line, "rev-delete ", 11)) {
		if (!(rc = mfs_ns_rev_delete(fs->ns, line + 11)))
			inval_name(fs, line + 11);
	} else {
		/* "rev-create INO NAME": the name is the rest of the line (spaces allowed). */
		errno = 0;
		ino = strtoull(line + 11, &end, 10);
		if (errno || end == line + 11 || *end != ' ' || !ino) {
			rc = -EINVAL;
		} else if (!(rc = mfs_ns_rev_create(fs->ns, ino, end + 1, &ri))) {
			inval_name(fs, end + 1);
			write_rev(f, &ri);
		}
	}
	fprintf(f, "end %d %s\n", rc, why(rc));
}
