/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking a tree inside a modelfs mount for setrepl, getrepl, warmup and
 * evict, to any depth (from directory to directory, not by whole paths).
 * Like find -xdev -P: symlinks below the top are not followed (a link could
 * lead out of the mount, or loop), and directories on which another file
 * system is mounted are skipped (they are not modelfs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"

int admin_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	/* strtol alone would take " 3", "+3" and "3x" */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

struct walk {
	admin_walk_fn fn;
	void *arg;
	dev_t dev;             /* the top's file system: others are skipped */
	size_t failed;
};

static void walk_error(struct walk *w, const char *path, int err)
{
	fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(err));
	w->failed++;
}

/* dir/name, without doubling a slash the user gave */
static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name) < 0)
		return NULL;
	return p;
}

/*
 * A path system calls take for dir/name while dirfd is dir open: the
 * whole path while it is shorter than PATH_MAX, else one through dirfd's
 * /proc entry (a tree can be deeper than any path the kernel takes whole).
 */
static const char *at_path(const char *p, int dirfd, const char *name, char *buf, size_t len)
{
	if (strlen(p) < PATH_MAX)
		return p;
	snprintf(buf, len, "/proc/self/fd/%d/%s", dirfd, name);
	return buf;
}

/*
 * Walks the directory fd has open (path: its name for messages and the
 * callbacks) and takes fd over.  A subdirectory is walked with its own
 * descriptor and fd closed meanwhile; the walk comes back through "..", so
 * a tree of any depth needs two descriptors, not one per level.  Returns
 * the directory open again, or -1 if it cannot come back (said on stderr).
 */
static int walk_dir(struct walk *w, int fd, const char *dir)
{
	struct dirent **names;
	struct stat self;
	int n = fstat(fd, &self) ? -1 : scandirat(fd, ".", &names, NULL, alphasort);

	if (n < 0) {
		walk_error(w, dir, errno);
		return fd;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *p = NULL, buf[64 + NAME_MAX];
		struct stat st;
		int sub;

		if (fd < 0 || !strcmp(name, ".") || !strcmp(name, ".."))
			goto next;
		if (!(p = join(dir, name))) {
			walk_error(w, dir, ENOMEM);
			goto next;
		}
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			/* gone since readdir: a concurrent unlink is no failure */
			if (errno != ENOENT)
				walk_error(w, p, errno);
			goto next;
		}
		if (S_ISLNK(st.st_mode) || st.st_dev != w->dev)
			goto next;
		if (w->fn(w->arg, p, at_path(p, fd, name, buf, sizeof(buf)), &st, 0))
			w->failed++;
		if (!S_ISDIR(st.st_mode))
			goto next;
		if ((sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			walk_error(w, p, errno);
			goto next;
		}
		close(fd);
		fd = -1;
		if ((sub = walk_dir(w, sub, p)) < 0)
			goto next;
		fd = openat(sub, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(sub);
		if (fd >= 0 && (fstat(fd, &st) || st.st_dev != self.st_dev || st.st_ino != self.st_ino)) {
			close(fd);
			fd = -1;
			errno = ESTALE;
		}
		if (fd < 0)
			fprintf(stderr, "modelfs-admin: %s: moved during the walk, its other entries "
				"skipped (%s)\n", dir, strerror(errno)), w->failed++;
next:
		free(p);
		free(names[i]);
	}
	free(names);
	return fd;
}

int admin_open_long(const char *path, int flags)
{
	const char *rest = path;
	int dirfd = AT_FDCWD, fd;

	/* Each step opens a prefix shorter than PATH_MAX, cut at a slash. */
	while (strlen(rest) >= PATH_MAX) {
		char part[PATH_MAX];
		const char *cut = rest + PATH_MAX - 1;

		while (cut > rest && *cut != '/')
			cut--;
		if (cut == rest) {
			errno = ENAMETOOLONG;
			fd = -1;
			goto out;
		}
		memcpy(part, rest, cut - rest);
		part[cut - rest] = 0;
		fd = openat(dirfd, part[0] ? part : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd != AT_FDCWD)
			close(dirfd);
		if (fd < 0)
			return -1;
		dirfd = fd;
		rest = cut + 1;
	}
	fd = openat(dirfd, rest, flags);
out:
	if (dirfd != AT_FDCWD) {
		int e = errno;

		close(dirfd);
		errno = e;
	}
	return fd;
}

/* 0, or -1 after saying that path is not in a modelfs mount or why it cannot be checked */
static int check_in_mount(const char *path)
{
	char sock[PATH_MAX];

	return admin_socket_of(path, sock, sizeof(sock));
}

size_t admin_walk(const char *path, int recurse, admin_walk_fn fn, void *arg)
{
	struct walk w = { .fn = fn, .arg = arg };
	struct stat st;

	if (check_in_mount(path))
		return 1;
	if (stat(path, &st)) {
		walk_error(&w, path, errno);
		return w.failed;
	}
	if (fn(arg, path, path, &st, 1))
		w.failed++;
	if (recurse && S_ISDIR(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		w.dev = st.st_dev;
		if (fd < 0)
			walk_error(&w, path, errno);
		else if ((fd = walk_dir(&w, fd, path)) >= 0)
			close(fd);
	}
	return w.failed;
}
