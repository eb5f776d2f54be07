/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin setrepl / getrepl: the replication factor of paths, through
 * the mount's user.modelfs.repl attribute (fuse/fs_xattr.c), so a change
 * is made and replicated like any other (no control socket request).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"

static void setrepl_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin setrepl [-r] N PATH...\n"
		"\n"
		"Sets the replication factor of each PATH (user.modelfs.repl) to N, 1 to %d:\n"
		"how many nodes keep each chunk of a file.  A directory's factor is inherited\n"
		"by files created in it later; with -r (--recursive) it is also set on every\n"
		"directory and file below, without following symlinks.\n"
		"Exit status: 0 ok, 1 some PATH failed (each is named), 2 usage.\n",
		ADMIN_REPL_MAX);
}

static void getrepl_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin getrepl [-r] [--json] PATH...\n"
		"\n"
		"Prints \"N PATH\" for each PATH: its replication factor (user.modelfs.repl).\n"
		"With -r (--recursive) also for every directory and file below, without\n"
		"following symlinks; --json prints a list of {\"path\", \"repl\"} objects.\n"
		"Exit status: 0 ok, 1 some PATH failed (each is named), 2 usage.\n");
}

struct repl_args {
	int recurse, json, set;
	char **paths;          /* the operands (N first for setrepl) */
	int npaths;
};

/* 0 to go on, else the exit status (help or usage); -1 after --help */
static int parse(int argc, char **argv, struct repl_args *a, void (*usage)(FILE *))
{
	static const struct option set_opts[] = {
		{ "help", no_argument, NULL, 'h' }, { "recursive", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option get_opts[] = {
		{ "help", no_argument, NULL, 'h' }, { "recursive", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' }, { NULL, 0, NULL, 0 },
	};
	int c;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "hr", a->set ? set_opts : get_opts)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return -1;
		case 'r':
			a->recurse = 1;
			break;
		case 'J':
			a->json = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	a->paths = argv + optind;
	a->npaths = argc - optind;
	return 0;
}

/* ---- setrepl ---------------------------------------------------------------- */

static int set_one(void *arg, const char *path, const char *at, const struct stat *st, int top)
{
	const char *value = arg;

	/* below the top: what has a factor (no devices, fifos or sockets) */
	if (!top && !S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
		return 0;
	if (setxattr(at, ADMIN_REPL_XATTR, value, strlen(value), 0)) {
		fprintf(stderr, "modelfs-admin: cannot set the replication factor of %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	return 0;
}

int admin_cmd_setrepl(int argc, char **argv)
{
	struct repl_args a = { .set = 1 };
	size_t failed = 0;
	char value[8];
	long n;
	int rc = parse(argc, argv, &a, setrepl_usage);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.npaths < 2) {
		fprintf(stderr, "modelfs-admin: setrepl needs N and at least one PATH\n");
		setrepl_usage(stderr);
		return 2;
	}
	if (admin_parse_long(a.paths[0], 1, ADMIN_REPL_MAX, &n)) {
		fprintf(stderr, "modelfs-admin: the replication factor must be 1 to %d, not '%s'\n",
			ADMIN_REPL_MAX, a.paths[0]);
		setrepl_usage(stderr);
		return 2;
	}
	snprintf(value, sizeof(value), "%ld", n);
	for (int i = 1; i < a.npaths; i++)
		failed += admin_walk(a.paths[i], a.recurse, set_one, value);
	return failed ? 1 : 0;
}

/* ---- getrepl ---------------------------------------------------------------- */

struct get_state {
	int json;
	struct json j;
};

static int get_one(void *arg, const char *path, const char *at, const struct stat *st, int top)
{
	struct get_state *g = arg;
	char v[16];
	ssize_t len;

	if (!top && !S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
		return 0;
	if ((len = getxattr(at, ADMIN_REPL_XATTR, v, sizeof(v) - 1)) < 0) {
		fprintf(stderr, "modelfs-admin: cannot read the replication factor of %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	v[len] = 0;
	if (g->json) {
		json_open(&g->j, NULL, '{');
		json_str(&g->j, "path", path);
		json_auto(&g->j, "repl", v);
		json_close(&g->j);
	} else {
		printf("%s %s\n", v, path);
	}
	return 0;
}

int admin_cmd_getrepl(int argc, char **argv)
{
	struct repl_args a = { 0 };
	struct get_state g = { 0 };
	size_t failed = 0;
	int rc = parse(argc, argv, &a, getrepl_usage);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.npaths < 1) {
		fprintf(stderr, "modelfs-admin: getrepl needs at least one PATH\n");
		getrepl_usage(stderr);
		return 2;
	}
	g.json = a.json;
	json_init(&g.j, stdout);
	if (g.json)
		json_open(&g.j, NULL, '[');
	for (int i = 0; i < a.npaths; i++)
		failed += admin_walk(a.paths[i], a.recurse, get_one, &g);
	if (g.json)
		json_end(&g.j);
	return failed ? 1 : 0;
}
