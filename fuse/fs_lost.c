/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of gc's pass over the names (store/ns/ns_orphan.c,
 * mfs_ns_repair_names): this node's directories that lost their name, the
 * entries concurrent directory operations left unreachable (into
 * /lost+found), its file records that no entry names, directories' link
 * counts; the kernel hears of every change as of a peer's (fs_remote.c).
 * Run by gc (on its timer, and by `gc --apply`).
 */
#include "fs_internal.h"
#include "store/ns/namespace.h"

uint64_t fs_adopt_orphans(struct mfs_fs *fs)
{
	return mfs_ns_repair_names(fs->ns, fs_remote_change, fs);
}
