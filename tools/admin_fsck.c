/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin fsck [--json] [--deep] [--repair [--wait S]] (PATH... | --data DIR)
 *
 * Asks the node behind the PATHs (one mount) to check every copy of the
 * chunks of the files below them against the files' replication factors,
 * on every node of the cluster (store/maint/fsck.c through the control socket),
 * or checks a stopped node's store alone (--data, when no node answers
 * there).  Exit status as fsck(8): 0 healthy, 4 problems left, 8
 * operational error, 16 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"
#include "store/base/errors.h"
#include "store/maint/report.h"

enum { EX_CLEAN = 0, EX_PROBLEMS = 4, EX_ERROR = 8, EX_USAGE = 16 };
#define MAX_PATHS 256

static const char *const kinds[] = { "corrupt", "missing", "badmeta", "under", "over",
				     "orphan", "repaired" };
/*
 * JSON list names of the kinds, in the same order.  The repaired list is
 * not "repaired": that key is the count, beside "found".
 */
static const char *const lists[] = { "corrupt", "missing", "badmeta", "under_replicated",
				     "over_replicated", "orphan", "repaired_chunks" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin fsck [--json] [--deep] [--repair [--wait SECONDS]] PATH...\n"
		"       modelfs-admin fsck [--json] [--deep] --data DIR\n"
		"\n"
		"Checks every copy of the chunks of the files below each PATH (all in one\n"
		"mount; the mount's root checks everything and lists orphan chunks) on\n"
		"every node, against the files' replication factors.  Reports corrupt\n"
		"copies, missing chunks, under- and over-replicated chunks, chunks no file\n"
		"uses (orphans), and bad metadata, each with the files that use it.\n"
		"\n"
		"  --deep        decode and re-hash (SHA-256) every copy; without it, each\n"
		"                copy's record checksum (XXH64) is checked\n"
		"  --repair      ask the nodes to fetch the copies they should hold and to\n"
		"                replace bad ones, wait for them, and report what is fixed\n"
		"  --wait S      how long --repair waits for new copies (default 60)\n"
		"  --json        one JSON object\n"
		"  --data DIR    the store in DIR: through its running node, or read alone\n"
		"                when no node runs there (replication is not judged then)\n"
		"\n"
		"Exit status: 0 healthy, 4 problems (left after --repair), 8 operational\n"
		"error, 16 usage.  Over-replicated and orphan chunks are not problems.\n");
}

static int kind_index(const char *k)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (!strcmp(kinds[i], k))
			return (int)i;
	return -1;
}

/* A "KIND HASH DETAIL PATH" line, parsed. */
struct finding {
	int kind;                 /* index into kinds[] */
	char hash[80], detail[128];
	char *path;               /* unescaped; NULL for "-" */
};

struct findings {
	struct finding *f;
	size_t n;
};

/* The node escapes a newline in a path as backslash-n and a backslash as two. */
static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	for (; out && *s; s++) {
		if (*s == '\\' && (s[1] == 'n' || s[1] == '\\'))
			*o++ = *++s == 'n' ? '\n' : '\\';
		else
			*o++ = *s;
	}
	if (out)
		*o = 0;
	return out;
}

static int parse_line(const char *line, struct finding *f)
{
	char kind[16];
	int n = 0;

	if (sscanf(line, "%15s %79s %127s %n", kind, f->hash, f->detail, &n) < 3 || !n ||
	    (f->kind = kind_index(kind)) < 0)
		return -1;
	f->path = NULL;
	if (strcmp(line + n, "-") && !(f->path = unescape(line + n)))
		return -1;
	return 0;
}

/* Every finding of the report (lines it cannot parse are skipped). */
static int parse_findings(const struct admin_report *r, struct findings *fs)
{
	fs->n = 0;
	if (!(fs->f = calloc(r->nproblems ? r->nproblems : 1, sizeof(*fs->f))))
		return -1;
	for (size_t i = 0; i < r->nproblems; i++)
		fs->n += !parse_line(r->problems[i], &fs->f[fs->n]);
	return 0;
}

static void free_findings(struct findings *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i].path);
	free(fs->f);
}

static int is_problem(int kind)
{
	return kind >= 0 && kind <= 3;
}

static int hash_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct chunk hashes of one kind, as a JSON list (sorted). */
static void json_hash_list(struct json *j, const char *key, const struct findings *fs, int kind)
{
	const char **h = calloc(fs->n ? fs->n : 1, sizeof(*h));
	size_t n = 0;

	for (size_t i = 0; h && i < fs->n; i++)
		if (fs->f[i].kind == kind && strcmp(fs->f[i].hash, "-"))
			h[n++] = fs->f[i].hash;
	if (n)
		qsort(h, n, sizeof(*h), hash_cmp);
	json_open(j, key, '[');
	for (size_t i = 0; i < n; i++)
		if (!i || strcmp(h[i], h[i - 1]))
			json_str(j, NULL, h[i]);
	json_close(j);
	free(h);
}

static const char *get(const struct admin_report *r, const char *k)
{
	const char *v = admin_report_get(r, k);

	return v ? v : "0";
}

static void print_json(const struct admin_report *r, const struct findings *fs, int problems)
{
	static const char *const counts[] = { "chunks_checked", "files_checked", "bytes_checked",
		"nodes_checked", "nodes_down", "found", "repaired" };
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_bool(&j, "ok", !problems);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_auto(&j, counts[i], get(r, counts[i]));
	json_open(&j, "nodes", '[');
	for (size_t i = 0; i < r->nkv; i++) {
		char id[16], ep[300], state[16];

		if (strcmp(r->kv[i].key, "node") ||
		    sscanf(r->kv[i].value, "%15s %299s %15s", id, ep, state) != 3)
			continue;
		json_open(&j, NULL, '{');
		json_str(&j, "node_id", id);
		json_str(&j, "endpoint", ep);
		json_str(&j, "state", state);
		json_close(&j);
	}
	json_close(&j);
	for (size_t k = 0; k < NKINDS; k++)
		json_hash_list(&j, lists[k], fs, (int)k);
	json_open(&j, "findings", '[');
	for (size_t i = 0; i < fs->n; i++) {
		const struct finding *f = &fs->f[i];

		json_open(&j, NULL, '{');
		json_str(&j, "kind", kinds[f->kind]);
		json_bool(&j, "problem", is_problem(f->kind));
		json_str_or_null(&j, "hash", strcmp(f->hash, "-") ? f->hash : NULL);
		json_str(&j, "detail", f->detail);
		json_str_or_null(&j, "path", f->path);
		json_close(&j);
	}
	json_end(&j);
}

static void print_human(const struct admin_report *r, const struct findings *fs, int problems,
			int repair)
{
	char b[32];

	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, "node") && strstr(r->kv[i].value, " down"))
			printf("warning: node %s: its copies are not counted\n", r->kv[i].value);
	for (size_t i = 0; i < fs->n; i++) {
		const struct finding *f = &fs->f[i];
		int hash = strcmp(f->hash, "-"), detail = strcmp(f->detail, "-");

		printf("%-8s %s%s%s%s%s\n", kinds[f->kind], hash ? "chunk " : "", hash ? f->hash : "",
		       detail ? " (" : "", detail ? f->detail : "", detail ? ")" : "");
		if (f->path)
			printf("         in %s\n", f->path);
	}
	printf("checked %s chunks (%s) of %s files", get(r, "chunks_checked"),
	       admin_human_str(get(r, "bytes_checked"), b, sizeof(b)), get(r, "files_checked"));
	if (admin_report_get(r, "nodes_checked"))
		printf(" on %s nodes (%s down)", get(r, "nodes_checked"), get(r, "nodes_down"));
	printf(": %s corrupt, %s missing, %s under-replicated, %s bad metadata; "
	       "%s over-replicated, %s orphan\n", get(r, "corrupt"), get(r, "missing"),
	       get(r, "under_replicated"), get(r, "badmeta"), get(r, "over_replicated"),
	       get(r, "orphan"));
	if (repair)
		printf("repaired %s of %s problem chunks\n", get(r, "repaired"), get(r, "found"));
	printf("%s\n", problems ? "problems found" : "healthy");
}

/* ---- offline: a stopped node's store ---------------------------------------- */

static void offline_finding(void *arg, enum mfs_fsck_problem kind, const char *hash,
			    const char *detail, const char *path)
{
	char line[8400];
	int n = snprintf(line, sizeof(line), "%s %s %s ", mfs_fsck_problem_name(kind),
			 *hash ? hash : "-", detail);

	/* Escaped as the node escapes it, so that one parser reads both. */
	for (path = path ? path : "-"; *path && n < (int)sizeof(line) - 3; path++) {
		if (*path == '\n' || *path == '\\')
			line[n++] = '\\';
		line[n++] = *path == '\n' ? 'n' : *path;
	}
	line[n] = 0;
	admin_report_add_problem(arg, line);
}

static void add_u64(struct admin_report *r, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	admin_report_add(r, key, buf);
}

static int offline(const char *data, unsigned flags, struct admin_report *r)
{
	struct mfs_fsck_opts o = { .flags = flags };
	struct mfs_fsck_result res;
	struct mfs_db *db = NULL;
	struct mfs_ns *ns = NULL;
	int rc = admin_open_store(data, &db, &ns);

	if (rc)
		return rc;
	rc = mfs_fsck(ns, &o, offline_finding, r, &res);
	if (rc) {
		fprintf(stderr, "modelfs-admin: %s: %s\n", data, mfs_strerror(rc));
	} else {
		add_u64(r, "chunks_checked", res.chunks_checked);
		add_u64(r, "files_checked", res.files_checked);
		add_u64(r, "bytes_checked", res.bytes_checked);
		add_u64(r, "corrupt", res.corrupt);
		add_u64(r, "missing", res.missing);
		add_u64(r, "badmeta", res.badmeta);
		add_u64(r, "orphan", res.orphan);
		add_u64(r, "found", res.found);
	}
	admin_close_store(db, ns);
	return rc;
}

/* ---- online ------------------------------------------------------------------ */

/* The request for the paths: their inode numbers, none for a mount's root. */
static int build_request(char **paths, int npaths, unsigned flags, int wait_s, char *req,
			 size_t len)
{
	size_t used = (size_t)snprintf(req, len, "fsck%s%s", flags & MFS_COPY_DEEP ? " deep" : "",
				       flags & MFS_COPY_REPAIR ? " repair" : "");
	int whole = 0;

	if (wait_s >= 0)
		used += (size_t)snprintf(req + used, len - used, " wait=%d", wait_s);
	for (int i = 0; i < npaths; i++) {
		struct stat st;

		if (stat(paths[i], &st)) {
			fprintf(stderr, "modelfs-admin: %s: %s\n", paths[i], strerror(errno));
			return -1;
		}
		whole |= st.st_ino == 1;
		if (used + 32 < len)
			used += (size_t)snprintf(req + used, len - used, " ino=%llu",
						 admin_ino_of(paths[i], &st));
	}
	if (whole) /* the root: every file, and orphans */
		*strstr(req, " ino=") = 0;
	return 0;
}

/* The control socket of the mount holding every path, or -1 (said why). */
static int socket_of(char **paths, int npaths, char *sock, size_t len)
{
	for (int i = 0; i < npaths; i++) {
		char other[4096];

		if (admin_socket_of(paths[i], i ? other : sock, i ? sizeof(other) : len))
			return -1;
		if (i && strcmp(other, sock)) {
			fprintf(stderr, "modelfs-admin: %s and %s are in different mounts: run fsck "
				"once for each\n", paths[0], paths[i]);
			return -1;
		}
	}
	return 0;
}

/* "PHASE DONE TOTAL" from the node, as a line on the terminal (stderr). */
static int progress_len;

static void progress_clear(void)
{
	if (progress_len)
		fprintf(stderr, "\r%*s\r", progress_len, "");
	progress_len = 0;
}

static void progress_draw(void *arg, const char *value)
{
	unsigned long long done, total;
	char phase[16];
	int n = 0;

	(void)arg;
	if (sscanf(value, "%15s %llu %llu", phase, &done, &total) != 3)
		return;
	progress_clear();
	if (!strcmp(phase, "check"))
		n = fprintf(stderr, "fsck: checked %llu of %llu chunks (%.0f%%)", done, total,
			    total ? 100.0 * (double)done / (double)total : 100.0);
	else if (!strcmp(phase, "repair"))
		n = fprintf(stderr, "fsck: waiting for repairs, %llu of %llu s", done, total);
	fflush(stderr);
	progress_len = n > 0 ? n : 0;
}

static int ask(const char *sock, const char *req, const char *where, struct admin_report *r)
{
	int rc = admin_request_watch(sock, req, r, isatty(STDERR_FILENO) ? progress_draw : NULL,
				     NULL);

	progress_clear();
	if (!rc && !r->rc)
		return 0;
	fprintf(stderr, "modelfs-admin: node at %s: %s\n", where,
		rc ? strerror(-rc) : r->rc_text ? r->rc_text : "error");
	return -1;
}

struct fsck_args {
	char *paths[MAX_PATHS];
	int npaths, json;
	const char *data;
	unsigned flags;
	long wait_s;
};

/* 0 to go on, else the exit status (after --help, or a usage error). */
static int parse(int argc, char **argv, struct fsck_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "deep", no_argument, NULL, 'D' }, { "repair", no_argument, NULL, 'R' },
		{ "wait", required_argument, NULL, 'W' }, { "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->wait_s = -1;
	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		} else if (c == 'J') {
			a->json = 1;
		} else if (c == 'D') {
			a->flags |= MFS_COPY_DEEP;
		} else if (c == 'R') {
			a->flags |= MFS_COPY_REPAIR;
		} else if (c == 'd') {
			a->data = optarg;
		} else if (c != 'W' || admin_parse_long(optarg, 0, 86400, &a->wait_s)) {
			if (c == 'W')
				fprintf(stderr, "modelfs-admin: --wait takes seconds (0 to 86400), "
					"not '%s'\n", optarg);
			usage(stderr);
			return EX_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npaths == MAX_PATHS) {
			fprintf(stderr, "modelfs-admin: at most %d paths\n", MAX_PATHS);
			return EX_USAGE;
		}
		a->paths[a->npaths++] = argv[optind];
	}
	if (!a->npaths == !a->data) {
		fprintf(stderr, "modelfs-admin: give PATHs inside a mount or --data DIR\n");
		usage(stderr);
		return EX_USAGE;
	}
	if (a->wait_s >= 0 && !(a->flags & MFS_COPY_REPAIR)) {
		fprintf(stderr, "modelfs-admin: --wait goes with --repair\n");
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

int admin_cmd_fsck(int argc, char **argv)
{
	struct fsck_args a = { 0 };
	char sock[4096], req[16384];
	struct admin_report r = { 0 };
	struct findings fs = { 0 };
	int problems = 0, rc = parse(argc, argv, &a);

	if (rc)
		return rc < 0 ? EX_CLEAN : rc;
	rc = EX_ERROR;
	if (a.data) {
		int asked;

		if (snprintf(sock, sizeof(sock), "%s/control.sock", a.data) >= (int)sizeof(sock))
			return EX_ERROR;
		build_request(NULL, 0, a.flags, (int)a.wait_s, req, sizeof(req));
		asked = admin_request_watch(sock, req, &r,
					    isatty(STDERR_FILENO) ? progress_draw : NULL, NULL);
		progress_clear();
		if (admin_nobody_listens(asked)) {
			admin_report_release(&r);
			if (a.flags & MFS_COPY_REPAIR) {
				fprintf(stderr, "modelfs-admin: --repair needs the node running on "
					"%s\n", a.data);
				goto out;
			}
			if (offline(a.data, a.flags, &r))
				goto out;
		} else if (asked || r.rc) {
			fprintf(stderr, "modelfs-admin: node at %s: %s\n", sock,
				asked ? strerror(-asked) : r.rc_text ? r.rc_text : "error");
			goto out;
		}
	} else {
		if (socket_of(a.paths, a.npaths, sock, sizeof(sock)) ||
		    build_request(a.paths, a.npaths, a.flags, (int)a.wait_s, req, sizeof(req)) ||
		    ask(sock, req, a.paths[0], &r))
			goto out;
	}
	if (parse_findings(&r, &fs)) {
		fprintf(stderr, "modelfs-admin: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < fs.n; i++)
		problems |= is_problem(fs.f[i].kind);
	if (a.json)
		print_json(&r, &fs, problems);
	else
		print_human(&r, &fs, problems, !!(a.flags & MFS_COPY_REPAIR));
	rc = problems ? EX_PROBLEMS : EX_CLEAN;
out:
	free_findings(&fs);
	admin_report_release(&r);
	return rc;
}
