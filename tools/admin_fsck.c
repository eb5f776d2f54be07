/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin fsck [--json] [--verbose] [--deep] [--repair [--wait S]] (PATH... | --data DIR)
 *
 * Asks the node behind the PATHs (one mount) to check every copy of the
 * chunks of the files below them against the files' replication factors,
 * on every node of the cluster (store/maint/fsck.c through the control socket),
 * or checks a stopped node's store alone (--data, when no node answers
 * there).  The report is per file (one line per file with findings, then
 * the totals), per chunk too with --verbose.  Exit status as fsck(8): 0
 * healthy, 4 problems left, 8 operational error, 16 usage.
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
#include "store/base/node.h"
#include "store/maint/report.h"

enum { EX_CLEAN = 0, EX_PROBLEMS = 4, EX_ERROR = 8, EX_USAGE = 16 };
#define MAX_PATHS 256

static const char *const kinds[] = { "corrupt", "missing", "badmeta", "under", "over",
				     "orphan", "repaired", "unreachable" };
/* A file's count of each kind in JSON, in the same order. */
static const char *const file_keys[] = { "corrupt", "missing", "badmeta", "under_replicated",
					 "over_replicated", "orphan", "repaired" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
#define NFILE_KINDS (sizeof(file_keys) / sizeof(file_keys[0]))
/* The node's totals and their JSON names (distinct chunks; files for badmeta). */
static const char *const totals[][2] = {
	{ "corrupt", "corrupt_chunks" }, { "missing", "missing_chunks" },
	{ "badmeta", "badmeta" }, { "under_replicated", "under_replicated_chunks" },
	{ "over_replicated", "over_replicated_chunks" }, { "orphan", "orphan_chunks" },
	{ "found", "found" }, { "repaired", "repaired" },
	{ "unreachable", "unreachable_entries" },
	{ "files_with_problems", "files_with_problems" },
	{ "recode_queued", "recode_queued_chunks" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin fsck [--json] [--verbose] [--deep] [--repair [--wait SECONDS]]\n"
		"                          PATH...\n"
		"       modelfs-admin fsck [--json] [--verbose] [--deep] --data DIR\n"
		"\n"
		"Checks every copy of the chunks of the files below each PATH (all in one\n"
		"mount; the mount's root checks everything and lists orphan chunks) on\n"
		"every node, against the files' replication factors.  Reports corrupt\n"
		"copies, missing chunks, under- and over-replicated chunks, chunks no file\n"
		"uses (orphans), and bad metadata.  One line per file with findings: its\n"
		"factor, the fewest good copies of a chunk, how many of its chunks are\n"
		"corrupt, missing, under- or over-replicated, and the nodes concerned; then\n"
		"the totals.\n"
		"\n"
		"  --verbose     also one line per chunk and file (and every orphan chunk)\n"
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
	return (kind >= 0 && kind <= 3) || kind == 7;
}

/* A "file" line of the node: "REPL CHUNKS GOOD N0 .. N6 NODES PATH". */
struct file_row {
	unsigned repl, good;
	unsigned long long chunks, count[NFILE_KINDS];
	char nodes[4608];          /* up to 256 ids of 16 hex digits, joined by + */
	char *path;
	int state;            /* the worst kind it has, index into kinds[] */
};

static int parse_file(const char *v, struct file_row *f)
{
	int n = 0;

	if (sscanf(v, "%u %llu %u %llu %llu %llu %llu %llu %llu %llu %4607s %n", &f->repl,
		   &f->chunks, &f->good, &f->count[0], &f->count[1], &f->count[2], &f->count[3],
		   &f->count[4], &f->count[5], &f->count[6], f->nodes, &n) < 11 || !n ||
	    !(f->path = unescape(v + n)))
		return -1;
	f->state = (int)NFILE_KINDS - 1;
	for (int k = (int)NFILE_KINDS - 1; k >= 0; k--)
		if (f->count[k])
			f->state = k;
	return 0;
}

struct file_rows {
	struct file_row *f;
	size_t n;
};

static int parse_files(const struct admin_report *r, struct file_rows *fr)
{
	fr->n = 0;
	if (!(fr->f = calloc(r->nkv ? r->nkv : 1, sizeof(*fr->f))))
		return -1;
	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, "file") && !parse_file(r->kv[i].value, &fr->f[fr->n]))
			fr->n++;
	return 0;
}

static void free_files(struct file_rows *fr)
{
	for (size_t i = 0; i < fr->n; i++)
		free(fr->f[i].path);
	free(fr->f);
}

static const char *get(const struct admin_report *r, const char *k)
{
	const char *v = admin_report_get(r, k);

	return v ? v : "0";
}

static void json_file(struct json *j, const struct file_row *f)
{
	char ids[sizeof(f->nodes)], *save = NULL;

	json_open(j, NULL, '{');
	json_str(j, "path", f->path);
	json_str(j, "state", kinds[f->state]);
	json_bool(j, "problem", is_problem(f->state));
	json_u64(j, "factor", f->repl);
	json_u64(j, "chunks", f->chunks);
	json_u64(j, "good_copies", f->good);
	for (size_t k = 0; k < NFILE_KINDS; k++)
		if (k != 5) /* orphans belong to no file */
			json_u64(j, file_keys[k], f->count[k]);
	json_open(j, "nodes", '[');
	snprintf(ids, sizeof(ids), "%s", f->nodes);
	for (char *t = strtok_r(ids, "+", &save); t && strcmp(t, "-"); t = strtok_r(NULL, "+", &save))
		json_str(j, NULL, t);
	json_close(j);
	json_close(j);
}

static void print_json(const struct admin_report *r, const struct file_rows *fr,
		       const struct findings *fs, int problems)
{
	static const char *const counts[] = { "chunks_checked", "files_checked", "bytes_checked",
		"nodes_checked", "nodes_down" };
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_bool(&j, "ok", !problems);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_auto(&j, counts[i], get(r, counts[i]));
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		json_auto(&j, totals[i][1], get(r, totals[i][0]));
	json_open(&j, "nodes", '[');
	for (size_t i = 0; i < r->nkv; i++) {
		char id[MFS_NODE_HEX_LEN + 1], ep[300], state[16];

		if (strcmp(r->kv[i].key, "node") ||
		    sscanf(r->kv[i].value, "%16s %299s %15s", id, ep, state) != 3)
			continue;
		json_open(&j, NULL, '{');
		json_str(&j, "node_id", id);
		json_str(&j, "endpoint", ep);
		json_str(&j, "state", state);
		json_close(&j);
	}
	json_close(&j);
	json_open(&j, "files", '[');
	for (size_t i = 0; i < fr->n; i++)
		json_file(&j, &fr->f[i]);
	json_close(&j);
	/* Per chunk: with --verbose; without, only what belongs to no file (bad records). */
	json_open(&j, "chunks", '[');
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
	json_close(&j);
	json_end(&j);
}

/*
 * One row per file with findings; files whose only finding is copies beyond
 * their factor (common for an hour after a write: the writer's copies, until
 * gc drops them) are counted, and listed only when verbose.
 */
static void print_files(const struct file_rows *fr, int verbose)
{
	size_t over_only = 0, header = 0;

	for (size_t i = 0; i < fr->n; i++) {
		const struct file_row *f = &fr->f[i];

		if (f->state == 4 && !verbose) {
			over_only++;
			continue;
		}
		if (!header++)
			printf("%-8s %6s %4s %7s %7s %7s %7s %7s %-14s %s\n", "STATE", "FACTOR",
			       "GOOD", "CHUNKS", "CORRUPT", "MISSING", "UNDER", "OVER", "NODES", "PATH");
		printf("%-8s %6u %4u %7llu %7llu %7llu %7llu %7llu %-14s %s\n", kinds[f->state],
		       f->repl, f->good, f->chunks, f->count[0], f->count[1], f->count[3],
		       f->count[4], f->nodes, f->path);
	}
	if (over_only)
		printf("%zu files hold only copies beyond their factor, which gc drops "
		       "(--verbose lists them)\n", over_only);
}

static void print_human(const struct admin_report *r, const struct file_rows *fr,
			const struct findings *fs, int problems, int repair, int verbose)
{
	char b[32];

	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, "node") && strstr(r->kv[i].value, " down"))
			printf("warning: node %s: its copies are not counted\n", r->kv[i].value);
	print_files(fr, verbose);
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
	printf(": %s corrupt, %s missing, %s under-replicated, %s bad metadata, "
	       "%s unreachable entries; %s over-replicated, %s orphan\n", get(r, "corrupt"),
	       get(r, "missing"), get(r, "under_replicated"), get(r, "badmeta"),
	       get(r, "unreachable"), get(r, "over_replicated"), get(r, "orphan"));
	if (repair)
		printf("repaired %s of %s problem chunks\n", get(r, "repaired"), get(r, "found"));
	if (strcmp(get(r, "recode_queued"), "0"))
		printf("%s chunks stored raw wait for their background encoding (option recode)\n",
		       get(r, "recode_queued"));
	printf("%s files with problems; %s\n", get(r, "files_with_problems"),
	       problems ? "problems found" : "healthy");
}

/* ---- offline: a stopped node's store ---------------------------------------- */

/* head + path, escaped as the node escapes it, so that one parser reads both. */
static void escaped_line(char *line, size_t len, const char *head, const char *path)
{
	int n = snprintf(line, len, "%s", head);

	for (path = path ? path : "-"; *path && n < (int)len - 3; path++) {
		if (*path == '\n' || *path == '\\')
			line[n++] = '\\';
		line[n++] = *path == '\n' ? 'n' : *path;
	}
	line[n] = 0;
}

static void offline_finding(void *arg, enum mfs_fsck_problem kind, const char *hash,
			    const char *detail, const char *path)
{
	char head[400], line[8400];

	snprintf(head, sizeof(head), "%s %s %s ", mfs_fsck_problem_name(kind), *hash ? hash : "-",
		 detail);
	escaped_line(line, sizeof(line), head, path);
	admin_report_add_problem(arg, line);
}

static void offline_file(void *arg, const struct mfs_fsck_file *f)
{
	char head[1600], line[9600];

	mfs_fsck_file_words(f, head, sizeof(head) - 1);
	strcat(head, " ");
	escaped_line(line, sizeof(line), head, f->path);
	admin_report_add(arg, "file", line);
}

static void add_u64(struct admin_report *r, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	admin_report_add(r, key, buf);
}

static int offline(const char *data, unsigned flags, int verbose, struct admin_report *r)
{
	struct mfs_fsck_opts o = { .flags = flags, .file_fn = offline_file, .verbose = verbose };
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
		add_u64(r, "files_with_problems", res.files_with_problems);
		add_u64(r, "unreachable", res.unreachable);
		add_u64(r, "recode_queued", res.recode_queued);
	}
	admin_close_store(db, ns);
	return rc;
}

/* ---- online ------------------------------------------------------------------ */

/* The request for the paths: their inode numbers, none for a mount's root. */
static int build_request(char **paths, int npaths, unsigned flags, int verbose, int wait_s,
			 char *req, size_t len)
{
	size_t used = (size_t)snprintf(req, len, "fsck%s%s%s", flags & MFS_COPY_DEEP ? " deep" : "",
				       flags & MFS_COPY_REPAIR ? " repair" : "",
				       verbose ? " verbose" : "");
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
	int npaths, json, verbose;
	const char *data;
	unsigned flags;
	long wait_s;
};

/* 0 to go on, else the exit status (after --help, or a usage error). */
static int parse(int argc, char **argv, struct fsck_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "deep", no_argument, NULL, 'D' }, { "repair", no_argument, NULL, 'R' },
		{ "wait", required_argument, NULL, 'W' }, { "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->wait_s = -1;
	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "hv", longopts)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		} else if (c == 'J') {
			a->json = 1;
		} else if (c == 'v') {
			a->verbose = 1;
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
	struct file_rows fr = { 0 };
	int problems = 0, rc = parse(argc, argv, &a);

	if (rc)
		return rc < 0 ? EX_CLEAN : rc;
	rc = EX_ERROR;
	if (a.data) {
		int asked;

		if (snprintf(sock, sizeof(sock), "%s/control.sock", a.data) >= (int)sizeof(sock))
			return EX_ERROR;
		build_request(NULL, 0, a.flags, a.verbose, (int)a.wait_s, req, sizeof(req));
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
			if (offline(a.data, a.flags, a.verbose, &r))
				goto out;
		} else if (asked || r.rc) {
			fprintf(stderr, "modelfs-admin: node at %s: %s\n", sock,
				asked ? strerror(-asked) : r.rc_text ? r.rc_text : "error");
			goto out;
		}
	} else {
		if (socket_of(a.paths, a.npaths, sock, sizeof(sock)) ||
		    build_request(a.paths, a.npaths, a.flags, a.verbose, (int)a.wait_s, req,
				  sizeof(req)) ||
		    ask(sock, req, a.paths[0], &r))
			goto out;
	}
	if (parse_findings(&r, &fs) || parse_files(&r, &fr)) {
		fprintf(stderr, "modelfs-admin: %s\n", strerror(ENOMEM));
		goto out;
	}
	/* The totals say it, whether or not the lines of each chunk came. */
	for (size_t i = 0; i < 4; i++)
		problems |= strcmp(get(&r, totals[i][0]), "0") != 0;
	problems |= strcmp(get(&r, "unreachable"), "0") != 0;
	for (size_t i = 0; i < fs.n; i++)
		problems |= is_problem(fs.f[i].kind);
	if (a.json)
		print_json(&r, &fr, &fs, problems);
	else
		print_human(&r, &fr, &fs, problems, !!(a.flags & MFS_COPY_REPAIR), a.verbose);
	rc = problems ? EX_PROBLEMS : EX_CLEAN;
out:
	free_findings(&fs);
	free_files(&fr);
	admin_report_release(&r);
	return rc;
}
