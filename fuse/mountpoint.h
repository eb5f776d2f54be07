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

#endif
