/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What is mounted on the mountpoint already.  Linux lets a mount stack on a
 * live one, which would silently hide the first modelfs mount; and after a
 * daemon is killed its mount stays, dead ("Transport endpoint is not
 * connected"), so a plain restart could not even stat the directory.  A
 * live modelfs mount is refused; a dead one is detached, the same as
 * `umount -l`, so that a restart after a crash just works.  Any other
 * filesystem mounted there is left alone: mounting over it is what mount(8)
 * does too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mountpoint.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * The fstype of the topmost mount on path (the last line naming it), in
 * fstype[0..cap), and its device's major:minor in *dev (may be NULL); 1 if
 * found, 0 if nothing is mounted there, -errno.
 */
static int top_mount(const char *path, char *fstype, size_t cap, unsigned dev[2])
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t n = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &n, f) > 0) {
		/* id parent major:minor root MOUNTPOINT opts... - FSTYPE source super */
		char *save = NULL, *mp = NULL, *mm = NULL, *tok, *dash = strstr(line, " - ");
		int field = 0;

		if (!dash)
			continue;
		*dash = '\0';
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (++field == 3)
				mm = tok;
			else if (field == 5)
				mp = tok;
		if (!mp || !mm)
			continue;
		unescape(mp);
		if (strcmp(mp, path))
			continue;
		tok = strtok_r(dash + 3, " ", &save);
		snprintf(fstype, cap, "%s", tok ? tok : "");
		if (dev && sscanf(mm, "%u:%u", &dev[0], &dev[1]) != 2)
			dev[0] = dev[1] = 0;
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/* 1 if a dead modelfs mount was detached from path, 0 if none is there, -errno. */
static int clear_one(const char *path)
{
	char fstype[64];
	struct statfs sf;
	int rc = top_mount(path, fstype, sizeof(fstype), NULL);

	if (rc < 0) {
		/* No /proc: nothing to learn; the mount itself still checks. */
		return 0;
	}
	if (rc == 0 || strcmp(fstype, "fuse.modelfs"))
		return 0;
	/* statfs always asks the daemon; stat may answer from cached attributes. */
	if (statfs(path, &sf) == 0) {
		fprintf(stderr,
			"mount.modelfs: %s is already a live modelfs mount; unmount it first "
			"(umount %s)\n", path, path);
		return -EBUSY;
	}
	if (errno != ENOTCONN) {
		rc = -errno;
		fprintf(stderr, "mount.modelfs: mountpoint %s: %s\n", path, strerror(errno));
		return rc;
	}
	if (umount2(path, MNT_DETACH)) {
		rc = -errno;
		fprintf(stderr,
			"mount.modelfs: %s holds a dead modelfs mount (its daemon is gone) and "
			"it cannot be cleared: %s; run `fusermount3 -uz %s`\n",
			path, strerror(errno), path);
		return rc;
	}
	fprintf(stderr, "mount.modelfs: cleared a dead modelfs mount on %s (its daemon is gone)\n",
		path);
	return 1;
}

int mfs_mountpoint_prepare(const char *path)
{
	int rc;

	/* Restarts after several crashes may have stacked dead mounts. */
	for (int i = 0; i < 64; i++)
		if ((rc = clear_one(path)) <= 0)
			return rc;
	return -ELOOP;
}

int mfs_mountpoint_conn(const char *path, unsigned *conn)
{
	char fstype[64];
	unsigned dev[2];
	int rc = top_mount(path, fstype, sizeof(fstype), dev);

	if (rc <= 0)
		return rc < 0 ? rc : -ENOENT;
	/* A FUSE superblock's device is anonymous (major 0): its minor names the connection. */
	if (strncmp(fstype, "fuse", 4) || dev[0] != 0)
		return -ENODEV;
	*conn = dev[1];
	return 0;
}
