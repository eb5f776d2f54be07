/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control endpoint's fsck request (doc/format.md):
 *
 *   fsck [deep] [repair] [verbose] [wait=SECONDS] [ino=N]...
 *
 * runs store/maint/fsck.c over this node and, with peers, every peer (the
 * replica layer answers for the cluster), and writes a `file` line per
 * file with findings, `problem` lines (per chunk only when verbose) and
 * the counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuse/fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/maint/report.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "control"
#define MAX_ROOTS 256

static void report_problem(void *arg, enum mfs_fsck_problem kind, const char *hash,
			   const char *detail, const char *path)
{
	fprintf(arg, "problem %s %s %s ", mfs_fsck_problem_name(kind), *hash ? hash : "-", detail);
	control_put_escaped(arg, path ? path : "-");
	putc('\n', arg);
}

/* A `file` line (mfs_fsck_file_words), the path escaped, last. */
static void report_file(void *arg, const struct mfs_fsck_file *fl)
{
	char words[MFS_MAX_NODES * (MFS_NODE_HEX_LEN + 1) + 256];

	mfs_fsck_file_words(fl, words, sizeof(words));
	fprintf(arg, "file %s ", words);
	control_put_escaped(arg, fl->path);
	putc('\n', arg);
}

/* Lets a waiting admin draw a progress line; the socket is flushed so it sees it now. */
static void report_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	fprintf(arg, "progress %s %" PRIu64 " %" PRIu64 "\n", phase, done, total);
	fflush(arg);
}

/* The nodes a check covers: the peers table may grow during it (members.c). */
struct cluster_arg {
	struct mfs_replica *r;
	int nodes;
};

static int cluster_check(void *arg, const struct mfs_copy_query *q, size_t n, unsigned flags,
			 uint8_t *st)
{
	struct cluster_arg *a = arg;

	return mfs_replica_check(a->r, a->nodes, q, n, flags, st);
}

static int cluster_owners(void *arg, const struct mfs_hash *h, int repl, mfs_node_t *ids, int cap)
{
	return mfs_replica_owners(((struct cluster_arg *)arg)->r, h, repl, ids, cap);
}

/* Parses the request's words into o; -EINVAL for one it does not know. */
static int parse(char *args, struct mfs_fsck_opts *o, uint64_t *roots)
{
	char *save = NULL;

	for (char *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *end;

		if (!strcmp(w, "deep")) {
			o->flags |= MFS_COPY_DEEP;
		} else if (!strcmp(w, "repair")) {
			o->flags |= MFS_COPY_REPAIR;
		} else if (!strcmp(w, "verbose")) {
			o->verbose = 1;
		} else if (!strncmp(w, "wait=", 5)) {
			long v = strtol(w + 5, &end, 10);

			if (*end || end == w + 5 || v < 0 || v > 86400)
				return -EINVAL;
			o->repair_wait_s = (int)v;
		} else if (!strncmp(w, "ino=", 4) && o->nroots < MAX_ROOTS) {
			unsigned long long v = strtoull(w + 4, &end, 10);

			if (*end || end == w + 4 || !v)
				return -EINVAL;
			roots[o->nroots++] = v;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Writes the nodes the check covered: `node ID ENDPOINT up|down`, as they
 * are after it (a peer that stopped answering during the check is down).
 */
static void list_nodes(struct mfs_replica *r, int n, FILE *f)
{
	mfs_node_t now[MFS_MAX_NODES];
	uint8_t up[MFS_MAX_NODES];
	int down = 0;

	n = mfs_replica_nodes(r, now, up, n);
	for (int k = 0; k < n; k++) {
		fprintf(f, "node " MFS_NODE_FMT " %s %s\n", MFS_NODE_ARG(now[k]), mfs_replica_endpoint(r, k),
			up[k] ? "up" : "down");
		down += !up[k];
	}
	fprintf(f, "nodes_checked %d\nnodes_down %d\n", n, down);
}

void control_fsck(struct mfs_fs *fs, char *args, FILE *f)
{
	struct mfs_fsck_opts o = { .repair_wait_s = -1 };
	struct mfs_fsck_cluster cl = { 0 };
	struct cluster_arg ca = { fs->replica, 0 };
	struct mfs_fsck_result r;
	uint64_t *roots = calloc(MAX_ROOTS, sizeof(*roots));
	mfs_node_t ids[MFS_MAX_NODES];
	uint8_t up[MFS_MAX_NODES];
	int rc = -ENOMEM;

	if (!roots)
		goto out;
	if ((rc = parse(args, &o, roots)))
		goto out;
	o.roots = roots;
	o.progress = report_progress;
	o.progress_arg = f;
	o.file_fn = report_file;
	if (fs->replica) {
		cl.nnodes = mfs_replica_nodes(fs->replica, ids, up, MFS_MAX_NODES);
		ca.nodes = cl.nnodes;
		cl.nodes = ids;
		cl.check = cluster_check;
		cl.owners = cluster_owners;
		cl.arg = &ca;
		o.cluster = &cl;
	} else {
		o.single_node = 1;   /* no peers: this node is the whole cluster */
		fprintf(f, "node " MFS_NODE_FMT " - up\nnodes_checked 1\nnodes_down 0\n",
			MFS_NODE_ARG(mfs_ns_node_id(fs->ns)));
	}
	log_info("fsck requested%s%s", o.flags & MFS_COPY_DEEP ? " (deep)" : "",
		 o.flags & MFS_COPY_REPAIR ? " (repair)" : "");
	rc = mfs_fsck(fs->ns, &o, report_problem, f, &r);
	if (!rc && fs->replica)
		list_nodes(fs->replica, cl.nnodes, f);
	if (!rc) {
		fprintf(f, "chunks_checked %" PRIu64 "\n", r.chunks_checked);
		fprintf(f, "files_checked %" PRIu64 "\n", r.files_checked);
		fprintf(f, "files_with_problems %" PRIu64 "\n", r.files_with_problems);
		fprintf(f, "files_reported %" PRIu64 "\n", r.files_reported);
		fprintf(f, "bytes_checked %" PRIu64 "\n", r.bytes_checked);
		fprintf(f, "corrupt %" PRIu64 "\n", r.corrupt);
		fprintf(f, "missing %" PRIu64 "\n", r.missing);
		fprintf(f, "badmeta %" PRIu64 "\n", r.badmeta);
		fprintf(f, "under_replicated %" PRIu64 "\n", r.under);
		fprintf(f, "over_replicated %" PRIu64 "\n", r.over);
		fprintf(f, "orphan %" PRIu64 "\n", r.orphan);
		fprintf(f, "found %" PRIu64 "\n", r.found);
		fprintf(f, "repaired %" PRIu64 "\n", r.repaired);
		fprintf(f, "unreachable %" PRIu64 "\n", r.unreachable);
		fprintf(f, "recode_queued %" PRIu64 "\n", r.recode_queued);
		log_info("fsck: %" PRIu64 " chunks, %" PRIu64 " problems found, %" PRIu64
			 " repaired", r.chunks_checked, r.found, r.repaired);
	}
out:
	fprintf(f, "end %d %s\n", rc, rc ? mfs_strerror(rc) : "ok");
	free(roots);
}
