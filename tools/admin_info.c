/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin info: what a file is made of and how much of it this node
 * holds, read through the mount from the xattr user.modelfs.info, whose
 * "key value" lines the daemon computes (fuse/admin/fs_info.c).  Lines this tool
 * does not know are printed as they are (and kept in --json), so a fact
 * the daemon learns to report shows up here without a change.  Symlinks
 * get no user.* attributes from the kernel: their lines come from lstat(2)
 * and readlink(2) here.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"

#define INFO_XATTR "user.modelfs.info"
#define TREE_XATTR "user.modelfs.tree"

static void info_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin info [-r] [--json] PATH...\n"
		"\n"
		"For each PATH inside a modelfs mount: its type, inode number, origin node\n"
		"and replication factor; for a file also its size, version, chunks (and\n"
		"distinct chunks), raw and stored bytes, codec mix, and the share of its\n"
		"chunks this node holds (in its store, in its disk cache of peers' chunks).\n"
		"The daemon computes these (the xattr " INFO_XATTR "; one value:\n"
		"user.modelfs.KEY).  --json prints a list of objects, one per PATH.\n"
		"With -r, the totals of everything below each PATH instead (the xattr\n"
		TREE_XATTR "): files, logical bytes, distinct chunks and their stored\n"
		"bytes, the share held here, copies, and what only this tree uses (what\n"
		"removing it and then gc would free).\n"
		"Exit status: 0 ok, 1 some PATH failed (each is named), 2 usage.\n");
}

/* Keys whose values are text even when they look like numbers. */
static int is_text_key(const char *k)
{
	return !strcmp(k, "origin_node") || !strcmp(k, "type") || !strcmp(k, "target");
}

/* "key value" lines into r (r is empty on entry). */
static int parse_lines(char *text, struct admin_report *r)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');

		if (!sp)
			continue;
		*sp = 0;
		if (admin_report_add(r, line, sp + 1))
			return -ENOMEM;
	}
	return 0;
}

/*
 * The daemon's lines of xattr name for path (not a symlink) into r: 0 or
 * -errno.  A first try with a buffer that holds any report: the size probe
 * would make the daemon compute it twice (a tree's totals walk the store).
 */
static int read_info(const char *path, const char *name, struct admin_report *r)
{
	size_t cap = 65536;
	ssize_t n;
	char *buf = NULL;
	int rc;

	/* The value may grow between the size probe and the read: try again. */
	for (int tries = 0; tries < 5; tries++) {
		free(buf);
		if (!(buf = malloc(cap + 1)))
			return -ENOMEM;
		if ((n = getxattr(path, name, buf, cap)) >= 0)
			break;
		if (errno != ERANGE) {
			rc = -errno;
			free(buf);
			return rc;
		}
		if ((n = getxattr(path, name, NULL, 0)) < 0) {
			rc = -errno;
			free(buf);
			return rc;
		}
		cap = (size_t)n + 64;
	}
	if (n < 0) {
		free(buf);
		return -ERANGE;
	}
	buf[n] = 0;
	rc = parse_lines(buf, r);
	free(buf);
	return rc;
}

/* A symlink's lines, from lstat and readlink. */
static int link_info(const char *path, const struct stat *st, struct admin_report *r)
{
	char target[PATH_MAX], v[32];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = 0;
	admin_report_add(r, "type", "symlink");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)st->st_ino);
	admin_report_add(r, "ino", v);
	/* modelfs inode numbers are node_id << 48 | counter (doc/format.md) */
	snprintf(v, sizeof(v), "%04x", (unsigned)(st->st_ino >> 48));
	admin_report_add(r, "origin_node", v);
	return admin_report_add(r, "target", target);
}

/* 0, or -1 after saying that path is not in a modelfs mount or why it cannot be checked. */
static int check_in_mount(const char *path, int is_link)
{
	char sock[PATH_MAX], *copy = strdup(path);
	int rc;

	if (!copy) {
		fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(ENOMEM));
		return -1;
	}
	/* A symlink has no user.* attributes: ask the directory that holds it. */
	rc = admin_socket_of(is_link ? dirname(copy) : path, sock, sizeof(sock));
	free(copy);
	return rc;
}

/* ---- rendering ---------------------------------------------------------------- */

static void print_json(struct json *j, const char *path, const struct admin_report *r)
{
	json_open(j, NULL, '{');
	json_str(j, "path", path);
	admin_json_report(j, r, is_text_key, NULL);
	json_close(j);
}

#define G(k) (admin_report_get(r, k) ? admin_report_get(r, k) : "?")

static void print_human(const char *path, const struct admin_report *r)
{
	static const char *const shown[] = {
		"type", "ino", "origin_node", "version", "repl", "size", "target", "chunks", "hole_bytes",
		"distinct_chunks", "raw_bytes", "stored_bytes", "compression_ratio",
		"local_percent", "local_store_percent", "local_cache_percent",
		"memory_cache_chunks", "remote_chunks", "local_store_chunks", "local_cache_chunks",
		"nodes", "nodes_down", "replicas_min", "replicas_max", "replicas_avg",
		"under_replicated_chunks",
	};
	char b1[32], b2[32];
	int file = !strcmp(G("type"), "file");

	printf("%s\n", path);
	printf("  type          %s\n", G("type"));
	printf("  inode         %s (origin node %s)%s%s\n", G("ino"), G("origin_node"),
	       file ? ", version " : "", file ? G("version") : "");
	if (admin_report_get(r, "target"))
		printf("  target        %s\n", G("target"));
	if (admin_report_get(r, "repl"))
		printf("  replication   %s\n", G("repl"));
	if (file) {
		printf("  size          %s (%s bytes)",
		       admin_human_bytes(strtod(G("size"), NULL), b1, sizeof(b1)), G("size"));
		/* Sparse: zeros in holes, which no chunk stores (a node older than holes: "?"). */
		if (strtod(G("hole_bytes"), NULL) > 0)
			printf(", %s in holes",
			       admin_human_bytes(strtod(G("hole_bytes"), NULL), b2, sizeof(b2)));
		printf("\n");
		printf("  chunks        %s (%s distinct): %s raw, %s stored, compression %.2fx\n",
		       G("chunks"), G("distinct_chunks"),
		       admin_human_bytes(strtod(G("raw_bytes"), NULL), b1, sizeof(b1)),
		       admin_human_bytes(strtod(G("stored_bytes"), NULL), b2, sizeof(b2)),
		       strtod(G("compression_ratio"), NULL));
		printf("  codecs        ");
		for (size_t i = 0, n = 0; i < r->nkv; i++)
			if (!strncmp(r->kv[i].key, "codec_chunks.", 13))
				printf("%s%s %s", n++ ? ", " : "", r->kv[i].key + 13, r->kv[i].value);
		if (strcmp(G("remote_chunks"), "0"))
			printf(" (%s held only by peers: codec and size unknown here)",
			       G("remote_chunks"));
		printf("\n");
		printf("  on this node  %s%% of the distinct chunks: %s%% in the store, %s%% in the "
		       "disk cache; %s in memory\n", G("local_percent"), G("local_store_percent"),
		       G("local_cache_percent"), G("memory_cache_chunks"));
	}
	if (file && admin_report_get(r, "replicas_avg")) {
		printf("  replicas      %s to %s per chunk (average %s) in the stores of %s node%s",
		       G("replicas_min"), G("replicas_max"), G("replicas_avg"), G("nodes"),
		       strcmp(G("nodes"), "1") ? "s" : "");
		if (strcmp(G("nodes_down"), "0"))
			printf(" (%s not answering: not counted)", G("nodes_down"));
		printf("\n  copies        ");
		for (size_t i = 0, n = 0; i < r->nkv; i++)
			if (!strncmp(r->kv[i].key, "replicas.", 9))
				printf("%s%s chunk%s with %s", n++ ? ", " : "", r->kv[i].value,
				       strcmp(r->kv[i].value, "1") ? "s" : "", r->kv[i].key + 9);
		printf("; %s under the factor\n", G("under_replicated_chunks"));
	}
	/* What the daemon reports beyond the above, as it is. */
	for (size_t i = 0; i < r->nkv; i++) {
		int known = !strncmp(r->kv[i].key, "codec_chunks.", 13) ||
			    !strncmp(r->kv[i].key, "replicas.", 9);

		for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]) && !known; k++)
			known = !strcmp(r->kv[i].key, shown[k]);
		if (!known)
			printf("  %-13s %s\n", r->kv[i].key, r->kv[i].value);
	}
}

static void print_tree(const char *path, const struct admin_report *r)
{
	char b1[32], b2[32], b3[32];
	double logical = strtod(G("logical_bytes"), NULL), raw = strtod(G("raw_bytes"), NULL);
	double holes = strtod(G("hole_bytes"), NULL);

	printf("%s (totals below it)\n", path);
	printf("  files         %s (%s directories, %s symlinks)\n", G("files"), G("dirs"),
	       G("symlinks"));
	printf("  logical size  %s", admin_human_bytes(logical, b1, sizeof(b1)));
	if (holes > 0)
		printf(", %s in holes", admin_human_bytes(holes, b2, sizeof(b2)));
	printf("\n");
	printf("  chunks        %s distinct of %s: %s raw (dedup %.2fx), %s stored, compression "
	       "%.2fx\n", G("distinct_chunks"), G("chunks"), admin_human_bytes(raw, b1, sizeof(b1)),
	       raw ? (logical - (holes > 0 ? holes : 0)) / raw : 1.0,
	       admin_human_bytes(strtod(G("stored_bytes"), NULL), b2, sizeof(b2)),
	       strtod(G("compression_ratio"), NULL));
	printf("  only here     %s chunks, %s raw, %s stored: no file outside this tree uses them\n",
	       G("unique_chunks"), admin_human_bytes(strtod(G("unique_raw_bytes"), NULL), b1,
	       sizeof(b1)), admin_human_bytes(strtod(G("unique_stored_bytes"), NULL), b3, sizeof(b3)));
	printf("  on this node  %s%% of the distinct chunks: %s%% in the store, %s%% in the "
	       "disk cache", G("local_percent"), G("local_store_percent"), G("local_cache_percent"));
	if (strcmp(G("remote_chunks"), "0"))
		printf("; %s held only by peers", G("remote_chunks"));
	printf("\n");
	if (admin_report_get(r, "replicas_avg")) {
		printf("  replicas      %s to %s per chunk (average %s) in the stores of %s node%s; "
		       "%s under the factor\n", G("replicas_min"), G("replicas_max"),
		       G("replicas_avg"), G("nodes"), strcmp(G("nodes"), "1") ? "s" : "",
		       G("under_replicated_chunks"));
	}
}

#undef G

/* ---- the command ---------------------------------------------------------------- */

int admin_cmd_info(int argc, char **argv)
{
	int json = 0, npaths = 0, printed = 0;
	size_t failed = 0;
	char **paths;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "recursive", no_argument, NULL, 'r' }, { NULL, 0, NULL, 0 },
	};
	struct json j;
	int c, tree = 0;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "hr", longopts)) != -1) {
		switch (c) {
		case 'h':
			info_usage(stdout);
			return 0;
		case 'J':
			json = 1;
			break;
		case 'r':
			tree = 1;
			break;
		default:
			info_usage(stderr);
			return 2;
		}
	}
	paths = argv + optind;
	npaths = argc - optind;
	if (!npaths) {
		fprintf(stderr, "modelfs-admin: info needs at least one PATH\n");
		info_usage(stderr);
		return 2;
	}
	json_init(&j, stdout);
	if (json)
		json_open(&j, NULL, '[');
	for (int i = 0; i < npaths; i++) {
		struct admin_report r = { 0 };
		struct stat st;
		int rc;

		if (lstat(paths[i], &st)) {
			fprintf(stderr, "modelfs-admin: %s: %s\n", paths[i], strerror(errno));
			failed++;
			continue;
		}
		if (check_in_mount(paths[i], S_ISLNK(st.st_mode))) {
			failed++;
			continue;
		}
		if (S_ISLNK(st.st_mode))
			rc = tree ? -ENOTDIR : link_info(paths[i], &st, &r);
		else
			rc = read_info(paths[i], tree ? TREE_XATTR : INFO_XATTR, &r);
		if (rc) {
			fprintf(stderr, "modelfs-admin: cannot read the info of %s: %s\n", paths[i],
				strerror(-rc));
			failed++;
		} else if (json) {
			print_json(&j, paths[i], &r);
		} else {
			if (printed++)
				printf("\n");
			if (tree)
				print_tree(paths[i], &r);
			else
				print_human(paths[i], &r);
		}
		admin_report_release(&r);
	}
	if (json)
		json_end(&j);
	return failed ? 1 : 0;
}
