/* SPDX-License-Identifier: Apache-2.0 */
/* What is mounted on the mountpoint already; see mountpoint.c. */
#ifndef MFS_MOUNTPOINT_H
#define MFS_MOUNTPOINT_H

/*
 * Makes path ready to mount on: detaches dead modelfs mounts there (a
 * daemon that was killed) and refuses a live one.  Returns 0, or -errno
 * after printing why to stderr (-EBUSY: a live modelfs mount).
 */
int mfs_mountpoint_prepare(const char *path);

/*
 * The number of the FUSE connection mounted topmost on path (its directory
 * in /sys/fs/fuse/connections): 0, or -errno (-ENOENT: nothing mounted).
 */
int mfs_mountpoint_conn(const char *path, unsigned *conn);

#endif
