/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking a tree inside a modelfs mount for setrepl, getrepl and warmup.
 * Like find -xdev -P: symlinks below the top are not followed (a link could
 * lead out of the mount, or loop), and directories on which another file
 * system is mounted are skipped (they are not modelfs).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void walk_dir(struct walk *w, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0) {
		walk_error(w, dir, errno);
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct stat st;
		char *p = NULL;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			goto next;
		if (!(p = join(dir, name))) {
			walk_error(w, dir, ENOMEM);
			goto next;
		}
		if (lstat(p, &st)) {
			/* gone since readdir: a concurrent unlink is no failure */
			if (errno != ENOENT)
				walk_error(w, p, errno);
			goto next;
		}
		if (S_ISLNK(st.st_mode) || st.st_dev != w->dev)
			goto next;
		if (w->fn(w->arg, p, &st, 0))
			w->failed++;
		if (S_ISDIR(st.st_mode))
			walk_dir(w, p);
next:
		free(p);
		free(names[i]);
	}
	free(names);
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
	if (fn(arg, path, &st, 1))
		w.failed++;
	if (recurse && S_ISDIR(st.st_mode)) {
		w.dev = st.st_dev;
		walk_dir(&w, path);
	}
	return w.failed;
}
