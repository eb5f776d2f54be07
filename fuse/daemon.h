/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's life: open the store, mount, serve, unmount, close. */
#ifndef MFS_DAEMON_H
#define MFS_DAEMON_H

struct mfs_config;

/* Exit codes of mount.modelfs, as mount(8) documents them. */
enum mfs_mount_exit {
	MFS_EXIT_OK = 0,
	MFS_EXIT_USAGE = 1,
	MFS_EXIT_SYSTEM = 2,
	MFS_EXIT_MOUNT_FAILED = 32,
};

/*
 * Runs a node until it is unmounted or signalled.  ready_fd >= 0 receives
 * one byte once the mount is live (0) or setup failed (the exit code), and
 * is closed; stdio is then detached unless cfg->foreground.  Returns the
 * process exit code.
 */
int mfs_daemon_run(struct mfs_config *cfg, int ready_fd);

/* Raises the kernel readahead of the FUSE mount at mountpoint (needs root). */
int mfs_set_readahead(const char *mountpoint, unsigned kb);

#endif
