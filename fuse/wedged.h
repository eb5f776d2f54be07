/* SPDX-License-Identifier: Apache-2.0 */
/* A daemon killed while the kernel waited on it; see wedged.c. */
#ifndef MFS_WEDGED_H
#define MFS_WEDGED_H

/* Once mounted: notes the mount's FUSE connection conn in DATA/fuse.conn. */
void mfs_wedged_note(const char *data_dir, unsigned conn);
/* At a clean exit: removes the note. */
void mfs_wedged_forget(const char *data_dir);
/*
 * Before a new daemon touches the store or the mountpoint: if the daemon
 * that noted its connection still holds the store and cannot finish dying,
 * aborts that connection (saying so on stderr) and waits for it to go.
 */
void mfs_wedged_recover(const char *data_dir);
/*
 * Once the FUSE loop has ended, before joining the threads that notify the
 * kernel: aborts the connection (conn, as mounted) if it is still mounted
 * on mountpoint, so that no thread waits for a READ nobody will answer.
 */
void mfs_wedged_loop_ended(const char *mountpoint, unsigned conn);

#endif
