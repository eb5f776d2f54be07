/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin: reports from a modelfs node, and its keys.
 *
 *   modelfs-admin status [--json] PATH | --data DIR
 *   modelfs-admin fsck [--json] [--deep] PATH | --data DIR
 *   modelfs-admin keygen FILE
 *   modelfs-admin setrepl [-r] N PATH...
 *   modelfs-admin getrepl [-r] [--json] PATH...
 *   modelfs-admin warmup [-j N] [--json] PATH...
 *   modelfs-admin gc [--apply] [--grace SECONDS] [--relocate] [--json] PATH | --data DIR
 *
 * PATH is any path inside a mount: the running node answers over its
 * control socket.  --data DIR asks the node running on DIR over
 * DIR/control.sock (a storage-only peer has no mount to give), and opens
 * the store directly when no node answers there.  keygen writes a CURVE
 * key pair for the peer service (replica/curve.h).  setrepl, getrepl and
 * warmup work through the mount itself (admin_repl.c, admin_warmup.c).
 * Exit codes: fsck as fsck(8): 0 clean, 4 problems found, 8 operational
 * error, 16 usage; the others 0 ok, 1 error, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "config.h"     /* autoconf: PACKAGE_VERSION */
#include "db.h"
#include "errors.h"
#include "log.h"
#include "namespace.h"
#include "replica/curve.h"
#include "report.h"

enum cmd { CMD_STATUS, CMD_FSCK };

struct exit_codes {
	int ok, problems, error, usage;
};

static const struct exit_codes status_exits = { 0, 1, 1, 2 };
static const struct exit_codes fsck_exits = { 0, 4, 8, 16 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin COMMAND [OPTIONS] (PATH | --data DIR)\n"
		"       modelfs-admin keygen FILE\n"
		"       modelfs-admin setrepl|getrepl|warmup [OPTIONS] PATH...\n"
		"\n"
		"commands:\n"
		"  status [--json] PATH    node, space, dedup and compression ratios, cache\n"
		"  fsck [--json] [--deep] PATH\n"
		"                          re-hash every stored chunk, check every file's chunks\n"
		"  keygen FILE             make a CURVE key pair for the peer service: the secret\n"
		"                          key in FILE (mode 0600), the public key in FILE.pub\n"
		"  setrepl [-r] N PATH...  set the replication factor (1 to 16) of each PATH, with\n"
		"                          -r of everything below it too\n"
		"  getrepl [-r] [--json] PATH...\n"
		"                          print the replication factor of each PATH\n"
		"  warmup [-j N] [--json] PATH...\n"
		"                          read every file below each PATH, N at a time, so that\n"
		"                          the node fetches their chunks from its peers now\n"
		"  gc [--apply] [--grace SECONDS] [--relocate] [--json] PATH\n"
		"                          free chunks no file version references (a dry run\n"
		"                          without --apply)\n"
		"\n"
		"PATH is any path inside a modelfs mount.  --data DIR asks the node running on\n"
		"the store in DIR over DIR/control.sock (a storage-only peer has no mount), or\n"
		"reads the store directly when no node answers there.  --deep is accepted;\n"
		"fsck always re-hashes (SHA-256).  keygen never overwrites a file.\n"
		"COMMAND --help describes each command.\n"
		"Exit status: fsck 0 clean, 4 problems, 8 operational error, 16 usage; the\n"
		"others 0 ok, 1 error, 2 usage.  See modelfs-admin(8).\n");
}

/* ---- rendering ---------------------------------------------------------- */

static int is_number(const char *s)
{
	char *end;

	if (!*s)
		return 0;
	strtod(s, &end);
	return *end == 0;
}

void admin_json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			putc(*s, f);
	}
	putc('"', f);
}

static void json_string(const char *s)
{
	admin_json_string(stdout, s);
}

/* Prints the chunk hashes of one problem kind as a JSON list, each once. */
static void json_hash_list(const struct admin_report *r, const char *kind)
{
	int first = 1;

	printf("[");
	for (size_t i = 0; i < r->nproblems; i++) {
		char k[16], hash[80], prev_k[16], prev_hash[80];
		int dup = 0;

		if (sscanf(r->problems[i], "%15s %79s", k, hash) != 2 || strcmp(k, kind))
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = sscanf(r->problems[j], "%15s %79s", prev_k, prev_hash) == 2 &&
			      !strcmp(prev_k, kind) && !strcmp(prev_hash, hash);
		if (dup)
			continue;
		printf("%s", first ? "" : ", ");
		json_string(hash);
		first = 0;
	}
	printf("]");
}

/* "peer ENDPOINT NODE_ID STATE" lines as a list of objects. */
static void print_json_peers(const struct admin_report *r)
{
	int first = 1;

	printf(", \"peers\": [");
	for (size_t i = 0; i < r->nkv; i++) {
		char ep[300], id[16], state[16];

		if (strcmp(r->kv[i].key, "peer") ||
		    sscanf(r->kv[i].value, "%299s %15s %15s", ep, id, state) != 3)
			continue;
		printf("%s{\"endpoint\": ", first ? "" : ", ");
		json_string(ep);
		printf(", \"node_id\": ");
		json_string(id);
		printf(", \"state\": ");
		json_string(state);
		printf("}");
		first = 0;
	}
	printf("]");
}

static void print_json(const struct admin_report *r, enum cmd cmd)
{
	const char *lists[] = { "corrupt", "missing", "badmeta" };
	int first = 1;

	printf("{");
	for (size_t i = 0; i < r->nkv; i++) {
		int listed = 0;

		for (size_t k = 0; k < 3 && cmd == CMD_FSCK; k++)
			listed |= !strcmp(r->kv[i].key, lists[k]);
		if (listed)
			continue; /* fsck: these become lists below */
		if (!strcmp(r->kv[i].key, "peer"))
			continue; /* status: a list below */
		printf("%s", first ? "" : ", ");
		first = 0;
		json_string(r->kv[i].key);
		printf(": ");
		if (is_number(r->kv[i].value) && strcmp(r->kv[i].key, "node_id"))
			printf("%s", r->kv[i].value);
		else
			json_string(r->kv[i].value);
	}
	if (admin_report_get(r, "peers_up"))
		print_json_peers(r);
	if (cmd == CMD_FSCK) {
		for (size_t k = 0; k < 3; k++) {
			printf(", \"%s\": ", lists[k]);
			json_hash_list(r, lists[k]);
		}
		printf(", \"problems\": [");
		for (size_t i = 0; i < r->nproblems; i++) {
			char kind[16], hash[80], path[4096] = "-";

			if (sscanf(r->problems[i], "%15s %79s %4095[^\n]", kind, hash, path) < 2)
				continue;
			printf("%s{\"kind\": ", i ? ", " : "");
			json_string(kind);
			printf(", \"hash\": ");
			json_string(hash);
			printf(", \"path\": ");
			if (strcmp(path, "-"))
				json_string(path);
			else
				printf("null");
			printf("}");
		}
		printf("], \"ok\": %s", r->nproblems ? "false" : "true");
	}
	printf("}\n");
}

static const char *human_bytes(const char *v, char *buf, size_t len)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double b = v ? strtod(v, NULL) : 0;
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
	return buf;
}

#define G(k) (admin_report_get(r, k) ? admin_report_get(r, k) : "?")

static void print_status(const struct admin_report *r)
{
	char b1[32], b2[32], b3[32];
	double hits = strtod(G("cache_hits"), NULL), misses = strtod(G("cache_misses"), NULL);

	printf("node %s  store %s", G("node_id"), G("data_dir"));
	if (admin_report_get(r, "mountpoint") && *G("mountpoint"))
		printf("  mounted on %s", G("mountpoint"));
	printf("\n");
	printf("files          %s (%s directories, %s symlinks)\n", G("files"), G("dirs"), G("symlinks"));
	printf("logical size   %s\n", human_bytes(G("logical_bytes"), b1, sizeof(b1)));
	printf("stored         %s in %s chunks (%s before compression)\n",
	       human_bytes(G("stored_bytes"), b2, sizeof(b2)), G("chunks"),
	       human_bytes(G("chunk_bytes"), b3, sizeof(b3)));
	printf("dedup ratio    %.2fx\n", strtod(G("dedup_ratio"), NULL));
	printf("compression    %.2fx (chunks: raw %s, zstd %s, zstd-bg2 %s, zstd-bg4 %s)\n",
	       strtod(G("compression_ratio"), NULL), G("codec_chunks.raw"), G("codec_chunks.zstd"),
	       G("codec_chunks.zstd-bg2"), G("codec_chunks.zstd-bg4"));
	printf("unreferenced   %s in %s chunks (old versions, until gc)\n",
	       human_bytes(G("orphan_bytes"), b1, sizeof(b1)), G("orphan_chunks"));
	printf("disk           %s (RocksDB files)\n", human_bytes(G("disk_bytes"), b1, sizeof(b1)));
	if (admin_report_get(r, "cache_hits"))
		printf("cache          %s of %s, hit rate %.1f%%\n",
		       human_bytes(G("cache_bytes"), b1, sizeof(b1)),
		       human_bytes(G("cache_capacity"), b2, sizeof(b2)),
		       hits + misses ? 100.0 * hits / (hits + misses) : 0.0);
	if (!admin_report_get(r, "peers_up"))
		return;
	printf("listen         %s\n", *G("listen") ? G("listen") : "(none)");
	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, "peer"))
			printf("peer           %s\n", r->kv[i].value);
	printf("replication    %s chunks to fetch; %s chunks (%s) fetched, %s (%s) served\n",
	       G("repl_backlog"), G("fetched_chunks"), human_bytes(G("fetched_bytes"), b1, sizeof(b1)),
	       G("served_chunks"), human_bytes(G("served_bytes"), b2, sizeof(b2)));
	printf("disk cache     %s of peers' chunks\n", human_bytes(G("disk_cache_bytes"), b1, sizeof(b1)));
	printf("namespace      %s ops made here, %s applied from peers\n", G("oplog_seq"),
	       G("ops_applied"));
	printf("errors         %s failed fetches, %s bad copies from peers, %s malformed messages\n",
	       G("fetch_failures"), G("bad_copies_from_peers"), G("malformed_messages"));
}

static void print_fsck(const struct admin_report *r)
{
	char b[32];

	for (size_t i = 0; i < r->nproblems; i++) {
		char kind[16], hash[80], path[4096] = "-";

		if (sscanf(r->problems[i], "%15s %79s %4095[^\n]", kind, hash, path) < 2)
			continue;
		printf("%-8s chunk %s%s%s\n", kind, hash, strcmp(path, "-") ? " in " : "",
		       strcmp(path, "-") ? path : "");
	}
	printf("checked %s chunks (%s) and %s files: %zu problem%s\n", G("chunks_checked"),
	       human_bytes(G("bytes_checked"), b, sizeof(b)), G("files_checked"), r->nproblems,
	       r->nproblems == 1 ? "" : "s");
}

#undef G

/* ---- offline: open the store directly ---------------------------------- */

static void offline_problem(void *arg, enum mfs_fsck_problem kind, const char *hash, const char *path)
{
	char line[4500];

	snprintf(line, sizeof(line), "%s %s %s", mfs_fsck_problem_name(kind), *hash ? hash : "-",
		 path ? path : "-");
	admin_report_add_problem(arg, line);
}

static void add_u64(struct admin_report *r, const char *key, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	admin_report_add(r, key, buf);
}

static int offline(enum cmd cmd, const char *data, struct admin_report *r)
{
	struct mfs_db *db = NULL;
	struct mfs_ns *ns = NULL;
	char *dbdir = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (asprintf(&dbdir, "%s/db", data) < 0)
		return -ENOMEM;
	if (access(dbdir, F_OK)) {
		rc = -errno;
		fprintf(stderr, "modelfs-admin: no store in %s: %s\n", data, strerror(errno));
		goto out;
	}
	rc = mfs_db_open(dbdir, &db);
	if (rc == -EBUSY) {
		/* Starting or stopping, or it could not make its control socket. */
		fprintf(stderr, "modelfs-admin: the store in %s is in use by a running node that "
			"does not answer on %s/control.sock\n", data, data);
		goto out;
	}
	if (rc || (rc = mfs_ns_open(db, &ns)))
		goto out;
	if (cmd == CMD_FSCK) {
		struct mfs_fsck_result res;

		if (!(rc = mfs_fsck(ns, offline_problem, r, &res))) {
			add_u64(r, "chunks_checked", res.chunks_checked);
			add_u64(r, "files_checked", res.files_checked);
			add_u64(r, "bytes_checked", res.bytes_checked);
			add_u64(r, "corrupt", res.corrupt);
			add_u64(r, "missing", res.missing);
			add_u64(r, "badmeta", res.badmeta);
		}
	} else {
		struct mfs_store_stats st;
		char buf[32];

		if (!(rc = mfs_store_stats(db, &st))) {
			snprintf(buf, sizeof(buf), "%04x", mfs_ns_node_id(ns));
			admin_report_add(r, "node_id", buf);
			admin_report_add(r, "data_dir", data);
			add_u64(r, "files", st.files);
			add_u64(r, "dirs", st.dirs);
			add_u64(r, "symlinks", st.symlinks);
			add_u64(r, "logical_bytes", st.logical_bytes);
			add_u64(r, "chunks", st.chunks);
			add_u64(r, "chunk_bytes", st.chunk_bytes);
			add_u64(r, "stored_bytes", st.stored_bytes);
			add_u64(r, "orphan_chunks", st.orphan_chunks);
			add_u64(r, "orphan_bytes", st.orphan_bytes);
			add_u64(r, "disk_bytes", st.disk_bytes);
			snprintf(buf, sizeof(buf), "%.4f", st.dedup_ratio);
			admin_report_add(r, "dedup_ratio", buf);
			snprintf(buf, sizeof(buf), "%.4f", st.compression_ratio);
			admin_report_add(r, "compression_ratio", buf);
			for (int k = 0; k < MFS_CODEC_COUNT; k++) {
				char key[64];

				snprintf(key, sizeof(key), "codec_chunks.%s", mfs_codec_name(k));
				add_u64(r, key, st.codec_chunks[k]);
			}
		}
	}
	if (rc)
		fprintf(stderr, "modelfs-admin: %s: %s\n", data, mfs_strerror(rc));
out:
	mfs_ns_close(ns);
	mfs_db_close(db);
	free(dbdir);
	return rc;
}

/* ---- keygen ---------------------------------------------------------------- */

static int keygen(int argc, char **argv)
{
	char pub[MFS_CURVE_Z85_LEN + 1];
	const char *file = NULL;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (argv[i][0] == '-') {
			fprintf(stderr, "modelfs-admin: unknown option '%s'\n", argv[i]);
		} else if (file) {
			fprintf(stderr, "modelfs-admin: keygen takes one FILE, not also '%s'\n",
				argv[i]);
		} else {
			file = argv[i];
			continue;
		}
		usage(stderr);
		return 2;
	}
	if (!file) {
		fprintf(stderr, "modelfs-admin: keygen needs a FILE\n");
		usage(stderr);
		return 2;
	}
	rc = mfs_curve_keygen(file, pub);
	if (rc == -EEXIST) {
		fprintf(stderr, "modelfs-admin: %s or %s.pub exists; not replacing a key\n", file,
			file);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "modelfs-admin: cannot write a key pair to %s: %s\n", file,
			mfs_strerror(rc));
		return 1;
	}
	printf("public key in %s.pub:\n%s\n", file, pub);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

/* The node's answer in r, or a message naming where: 0 or -1. */
static int node_answer(int rc, struct admin_report *r, const char *where)
{
	if (!rc && !r->rc)
		return 0;
	fprintf(stderr, "modelfs-admin: node at %s: %s\n", where,
		rc ? strerror(-rc) : r->rc_text ? r->rc_text : "error");
	admin_report_release(r);
	return -1;
}

int main(int argc, char **argv)
{
	const struct exit_codes *ex = &status_exits;
	const char *path = NULL, *data = NULL;
	struct admin_report r = { 0 };
	char sock[4096];
	enum cmd cmd;
	int json = 0, rc, i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("modelfs-admin %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "keygen"))
		return keygen(argc, argv);
	if (!strcmp(argv[1], "setrepl"))
		return admin_cmd_setrepl(argc, argv);
	if (!strcmp(argv[1], "getrepl"))
		return admin_cmd_getrepl(argc, argv);
	if (!strcmp(argv[1], "warmup"))
		return admin_cmd_warmup(argc, argv);
	if (!strcmp(argv[1], "gc"))
		return admin_cmd_gc(argc, argv);
	if (!strcmp(argv[1], "status")) {
		cmd = CMD_STATUS;
	} else if (!strcmp(argv[1], "fsck")) {
		cmd = CMD_FSCK;
		ex = &fsck_exits;
	} else {
		fprintf(stderr, "modelfs-admin: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--deep") && cmd == CMD_FSCK) {
			/* fsck always re-hashes; accepted for scripts written for it */
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return ex->ok;
		} else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			data = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "modelfs-admin: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return ex->usage;
		} else if (!path) {
			path = argv[i];
		} else {
			fprintf(stderr, "modelfs-admin: one PATH only\n");
			usage(stderr);
			return ex->usage;
		}
	}
	if (!!path == !!data) {
		fprintf(stderr, "modelfs-admin: give a PATH inside a mount or --data DIR\n");
		usage(stderr);
		return ex->usage;
	}
	if (data) {
		/* A running node holds the store's lock: ask it, if one answers. */
		if (snprintf(sock, sizeof(sock), "%s/control.sock", data) >= (int)sizeof(sock))
			rc = -ENAMETOOLONG;
		else
			rc = admin_request(sock, cmd == CMD_FSCK ? "fsck" : "status", &r);
		if (admin_nobody_listens(rc)) {
			if (offline(cmd, data, &r))
				return ex->error;
		} else if (node_answer(rc, &r, sock)) {
			return ex->error;
		}
	} else {
		rc = admin_find_socket(path, sock, sizeof(sock));
		if (rc == -ENOTSUP || rc == -ENODATA) {
			fprintf(stderr, "modelfs-admin: %s is not inside a modelfs mount\n", path);
			return ex->error;
		}
		if (rc) {
			fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(-rc));
			return ex->error;
		}
		rc = admin_request(sock, cmd == CMD_FSCK ? "fsck" : "status", &r);
		if (node_answer(rc, &r, path))
			return ex->error;
	}
	if (json)
		print_json(&r, cmd);
	else if (cmd == CMD_STATUS)
		print_status(&r);
	else
		print_fsck(&r);
	rc = cmd == CMD_FSCK && r.nproblems ? ex->problems : ex->ok;
	admin_report_release(&r);
	return rc;
}
