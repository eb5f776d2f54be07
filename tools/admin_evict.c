/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin evict: drops this node's cached copies of files' chunks,
 * the opposite of warmup.  For each regular file below the paths it sends
 * `evict INO` (INO from stat(2): the FUSE inode number is the modelfs one)
 * to the control socket of the mount; the daemon drops the chunks from its
 * disk cache of peers' chunks and from its memory cache, and the kernel's
 * page cache of the file (fuse/admin/fs_info.c).  Chunks in the node's store are
 * never dropped: they are replicas.  The file is not opened here, which
 * would start a prefetch_open fetch of the very chunks being dropped.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"

static void evict_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin evict [--json] PATH...\n"
		"\n"
		"Drops this node's cached copies of the chunks of every regular file below\n"
		"each PATH: its disk cache of peers' chunks (DATA/cache), its memory cache,\n"
		"and the kernel's page cache of the file.  Chunks in the node's store (owned\n"
		"or written here) are kept: they are replicas.  Prints what each file freed\n"
		"and the totals, or with --json one object.  Needs the control socket (root).\n"
		"Symlinks below a PATH are not followed.\n"
		"Exit status: 0 ok, 1 some file or PATH failed (each is named), 2 usage.\n");
}

/* Keys of the daemon's answer that are summed (doc/format.md, evict). */
static const char *const counted[] = {
	"distinct_chunks", "evicted_disk_chunks", "evicted_disk_bytes",
	"evicted_memory_chunks", "evicted_memory_bytes", "kept_store_chunks",
};
#define NCOUNTED (sizeof(counted) / sizeof(counted[0]))

struct evict {
	int json;
	struct json *j;
	size_t files, errors;
	unsigned long long total[NCOUNTED];
};

static unsigned long long get_u64(const struct admin_report *r, const char *k)
{
	const char *v = admin_report_get(r, k);

	return v ? strtoull(v, NULL, 10) : 0;
}

static int evict_one(void *arg, const char *path, const char *at, const struct stat *st, int top)
{
	struct evict *e = arg;
	struct admin_report r = { 0 };
	char sock[PATH_MAX], req[64], b1[32], b2[32];
	int rc;

	(void)top;
	if (!S_ISREG(st->st_mode))
		return 0;
	if (admin_socket_of(at, sock, sizeof(sock)))
		return -1;
	snprintf(req, sizeof(req), "evict %llu", admin_ino_of(at, st));
	rc = admin_request(sock, req, &r);
	if (rc || r.rc) {
		fprintf(stderr, "modelfs-admin: cannot evict %s: %s\n", path,
			rc ? strerror(-rc) : r.rc_text ? r.rc_text : "error");
		admin_report_release(&r);
		return -1;
	}
	for (size_t k = 0; k < NCOUNTED; k++)
		e->total[k] += get_u64(&r, counted[k]);
	if (e->json) {
		json_open(e->j, NULL, '{');
		json_str(e->j, "path", path);
		admin_json_report(e->j, &r, NULL, NULL);
		json_close(e->j);
	} else {
		printf("%s: %llu chunks (%s) from the disk cache, %llu (%s) from memory; "
		       "%llu of %llu kept in the store\n", path,
		       get_u64(&r, "evicted_disk_chunks"),
		       admin_human_bytes(get_u64(&r, "evicted_disk_bytes"), b1, sizeof(b1)),
		       get_u64(&r, "evicted_memory_chunks"),
		       admin_human_bytes(get_u64(&r, "evicted_memory_bytes"), b2, sizeof(b2)),
		       get_u64(&r, "kept_store_chunks"), get_u64(&r, "distinct_chunks"));
	}
	e->files++;
	admin_report_release(&r);
	return 0;
}

int admin_cmd_evict(int argc, char **argv)
{
	struct evict e = { 0 };
	struct json j;
	int npaths = 0;
	size_t failed = 0;
	char **paths = argv + argc, b1[32], b2[32];

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'h':
			evict_usage(stdout);
			return 0;
		case 'J':
			e.json = 1;
			break;
		default:
			evict_usage(stderr);
			return 2;
		}
	}
	paths = argv + optind;
	npaths = argc - optind;
	if (!npaths) {
		fprintf(stderr, "modelfs-admin: evict needs at least one PATH\n");
		evict_usage(stderr);
		return 2;
	}
	json_init(&j, stdout);
	e.j = &j;
	if (e.json) {
		json_open(&j, NULL, '{');
		json_open(&j, "files", '[');
	}
	for (int i = 0; i < npaths; i++)
		failed += admin_walk(paths[i], 1, evict_one, &e);
	if (e.json) {
		json_close(&j);
		json_u64(&j, "evicted_files", e.files);
		json_u64(&j, "failed", failed);
		for (size_t k = 0; k < NCOUNTED; k++)
			json_u64(&j, counted[k], e.total[k]);
		json_end(&j);
	} else {
		printf("evicted %zu file%s: %llu chunks (%s) from the disk cache, %llu (%s) from "
		       "memory; %llu chunks kept in the store%s\n", e.files, e.files == 1 ? "" : "s",
		       e.total[1], admin_human_bytes(e.total[2], b1, sizeof(b1)), e.total[3],
		       admin_human_bytes(e.total[4], b2, sizeof(b2)), e.total[5],
		       failed ? "; some failed" : "");
	}
	return failed ? 1 : 0;
}
