/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control endpoint: a Unix socket (DATA/control.sock, mode 0600) on
 * which modelfs-admin asks a running node for reports.  One request line
 * per connection, answered by `key value` lines and a final `end RC` line;
 * doc/format.md specifies the protocol.
 */
#ifndef MFS_CONTROL_H
#define MFS_CONTROL_H

#include <stdio.h>

struct mfs_fs;
struct mfs_control;

int mfs_control_start(struct mfs_fs *fs, const char *path, struct mfs_control **out);
/* Stops the thread and removes the socket.  NULL is a no-op. */
void mfs_control_stop(struct mfs_control *c);
/* The node's status as "key value" lines (no end line): 0 or -errno. */
int mfs_control_status(struct mfs_fs *fs, FILE *f);

/*
 * Writes s to a reply line with a newline as backslash-n and a backslash as
 * two: a file name may hold either, and must not end the line.
 */
void control_put_escaped(FILE *f, const char *s);

/* Requests served in files of their own. */
#include <stdio.h>
/* "fsck [deep] [repair] [wait=S] [ino=N]...": args is what follows "fsck". */
void control_fsck(struct mfs_fs *fs, char *args, FILE *f);
/* "revs", "rev-create INO NAME", "rev-delete NAME" (control_rev.c): the whole line. */
void control_rev(struct mfs_fs *fs, const char *line, FILE *f);

#endif
