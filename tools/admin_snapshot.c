/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin snapshot: named, read-only, replicated copies of a
 * directory tree's namespace state, reached at MOUNT/.snapshots/NAME
 * (store/ns/rev.h, where they are called revisions).  Through the control
 * socket: `rev-create INO NAME`, `rev-delete NAME`, `revs` (doc/format.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"
#include "store/ns/rev.h"

static void snap_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin snapshot create [--json] DIR NAME\n"
		"       modelfs-admin snapshot list [--json] [PATH | --data DIR]\n"
		"       modelfs-admin snapshot delete NAME [PATH | --data DIR]\n"
		"\n"
		"create: a read-only snapshot NAME of the tree at DIR (a directory inside\n"
		"a modelfs mount), reachable at MOUNT/.snapshots/NAME on every node after\n"
		"its next heartbeat.  It copies metadata only: its files keep the bytes\n"
		"they had, however the live files are rewritten, and gc keeps their\n"
		"chunks until the snapshot is deleted.  Restore with cp -a.\n"
		"list: the snapshots, with their files, bytes and the metadata they cost.\n"
		"delete: removes snapshot NAME on every node.\n"
		"PATH (default: the current directory) is anything inside the mount.\n"
		"NAME: 1 to 255 bytes, no '/', not '.' or '..', no control characters.\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n");
}

struct snap_args {
	const char *verb, *dir, *name, *path, *data;
	int json;
};

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "modelfs-admin: snapshot: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	snap_usage(stderr);
	return 2;
}

/* 0 to go on, -1 after --help, else the exit status of a usage error. */
static int parse(int argc, char **argv, struct snap_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "data", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	int c, left;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			snap_usage(stdout);
			return -1;
		} else if (c == 'J') {
			a->json = 1;
		} else if (c == 'd') {
			a->data = optarg;
		} else {
			snap_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return bad_usage("needs create, list or delete", NULL);
	a->verb = argv[optind++];
	left = argc - optind;
	if (!strcmp(a->verb, "create")) {
		if (left != 2 || a->data)
			return bad_usage("create takes DIR NAME", NULL);
		a->dir = argv[optind];
		a->name = argv[optind + 1];
	} else if (!strcmp(a->verb, "list")) {
		if (left > 1)
			return bad_usage("list takes at most one PATH", NULL);
		a->path = left ? argv[optind] : NULL;
	} else if (!strcmp(a->verb, "delete")) {
		if (left < 1 || left > 2)
			return bad_usage("delete takes NAME and at most one PATH", NULL);
		a->name = argv[optind];
		a->path = left == 2 ? argv[optind + 1] : NULL;
	} else {
		return bad_usage("unknown verb (create, list, delete)", a->verb);
	}
	if (a->path && a->data)
		return bad_usage("give a PATH or --data DIR, not both", NULL);
	if (!a->path && !a->data)
		a->path = a->dir ? a->dir : ".";
	if (a->name && !mfs_rev_name_ok(a->name))
		return bad_usage("not a snapshot name (1-255 bytes, no '/', not '.' or '..', "
				 "no control characters)", a->name);
	return 0;
}

/* "rev_info" values: entries files dirs bytes record created walk_us locked_us path. */
struct rev_line {
	unsigned long long entries, files, dirs, bytes, record, walk_us, locked_us;
	long long created;
	char path[4096];
};

static int split(const char *v, struct rev_line *l)
{
	int n = 0;

	if (sscanf(v, "%llu %llu %llu %llu %llu %lld %llu %llu %n", &l->entries, &l->files,
		   &l->dirs, &l->bytes, &l->record, &l->created, &l->walk_us, &l->locked_us,
		   &n) != 8)
		return -1;
	snprintf(l->path, sizeof(l->path), "%s", v + n);
	return 0;
}

static void print_one(const char *name, const struct rev_line *l, int created)
{
	char b[32], rb[32], when[32];
	time_t t = (time_t)l->created;
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	admin_human_bytes((double)l->bytes, b, sizeof(b));
	admin_human_bytes((double)l->record, rb, sizeof(rb));
	if (created)
		printf("snapshot %s of %s: %llu files, %llu directories, %s; metadata %s "
		       "(%.1f bytes per entry), walk %.1f ms, namespace lock %.1f ms\n", name,
		       l->path, l->files, l->dirs, b, rb,
		       l->entries ? (double)l->record / (double)l->entries : 0.0,
		       (double)l->walk_us / 1000.0, (double)l->locked_us / 1000.0);
	else
		printf("%-24s %-19s %9llu %10s %10s %s\n", name, when, l->files, b, rb, l->path);
}

static void print_report(const struct admin_report *r, int as_json, int created)
{
	struct rev_line l;
	struct json j;
	const char *name = NULL;

	if (as_json) {
		json_init(&j, stdout);
		json_open(&j, NULL, '{');
		json_open(&j, "snapshots", '[');
	} else if (!created) {
		printf("%-24s %-19s %9s %10s %10s %s\n", "NAME", "CREATED", "FILES", "BYTES",
		       "METADATA", "OF");
	}
	for (size_t i = 0; i < r->nkv; i++) {
		if (!strcmp(r->kv[i].key, "rev")) {
			name = r->kv[i].value;
			continue;
		}
		if (strcmp(r->kv[i].key, "rev_info") || !name || split(r->kv[i].value, &l))
			continue;
		if (!as_json) {
			print_one(name, &l, created);
			continue;
		}
		json_open(&j, NULL, '{');
		json_str(&j, "name", name);
		json_str(&j, "of", l.path);
		json_i64(&j, "created", l.created);
		json_u64(&j, "entries", l.entries);
		json_u64(&j, "files", l.files);
		json_u64(&j, "dirs", l.dirs);
		json_u64(&j, "bytes", l.bytes);
		json_u64(&j, "metadata_bytes", l.record);
		if (created) {
			json_u64(&j, "walk_us", l.walk_us);
			json_u64(&j, "locked_us", l.locked_us);
		}
		json_close(&j);
	}
	if (as_json) {
		json_close(&j);
		json_close(&j);
		json_end(&j);
	}
}

/* The request for a, into req: 0, or the exit status after saying why. */
static int make_request(const struct snap_args *a, char *req, size_t len)
{
	struct stat st;

	if (!strcmp(a->verb, "list")) {
		snprintf(req, len, "revs");
		return 0;
	}
	if (!strcmp(a->verb, "delete")) {
		snprintf(req, len, "rev-delete %s", a->name);
		return 0;
	}
	if (stat(a->dir, &st)) {
		fprintf(stderr, "modelfs-admin: %s: %s\n", a->dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return bad_usage("not a directory", a->dir);
	snprintf(req, len, "rev-create %llu %s", (unsigned long long)st.st_ino, a->name);
	return 0;
}

int admin_cmd_snapshot(int argc, char **argv)
{
	struct snap_args a = { 0 };
	struct admin_report r = { 0 };
	char sock[4096], req[512];
	int rc = parse(argc, argv, &a), ex = 1;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (admin_socket_for(a.data, a.path, sock, sizeof(sock)))
		return 1;
	if ((rc = make_request(&a, req, sizeof(req))))
		return rc;
	rc = admin_request(sock, req, &r);
	if (a.data && admin_nobody_listens(rc))
		fprintf(stderr, "modelfs-admin: no node runs on %s\n", a.data);
	else if (rc || r.rc)
		fprintf(stderr, "modelfs-admin: snapshot %s%s%s: %s\n", a.verb, a.name ? " " : "",
			a.name ? a.name : "", rc ? strerror(-rc) : r.rc_text ? r.rc_text : "error");
	else
		ex = 0;
	if (!ex && strcmp(a.verb, "delete"))
		print_report(&r, a.json, !strcmp(a.verb, "create"));
	else if (!ex)
		printf("snapshot %s: deleted\n", a.name);
	admin_report_release(&r);
	return ex;
}
