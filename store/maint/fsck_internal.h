/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsck's working state, shared by its walk and checks (fsck.c) and its
 * report (fsck_report.c).  Internal to store/maint.
 */
#ifndef MFS_FSCK_INTERNAL_H
#define MFS_FSCK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "store/base/hash.h"

#define DETAIL_LEN 240
#define NODE_BITS (MFS_MAX_NODES / 8)

/* One use of a chunk by a file. */
struct ref {
	struct mfs_hash h;
	uint32_t raw_len;
	uint32_t file;      /* index into fsck.paths */
	uint16_t origin;    /* the inode space of the node that wrote this version */
	uint8_t repl;
};

struct finding {
	struct mfs_hash h;
	size_t first, n;    /* its chunk's refs (n = 0: no file uses it) */
	uint8_t kind;
	uint8_t fixable;    /* --repair may fix it */
	uint16_t good;      /* good stored copies */
	uint8_t nodes[NODE_BITS]; /* indexes into the cluster's nodes of the copies concerned */
	char detail[DETAIL_LEN];
};

struct findings {
	struct finding *f;
	size_t n, cap;
};

struct fsck {
	struct mfs_ns *ns;
	struct mfs_db *db;
	const struct mfs_fsck_opts *o;
	const struct mfs_fsck_cluster *cl;
	int judge;          /* replication is judged (not for a store seen alone) */
	struct mfs_fsck_result *res;
	mfs_fsck_fn fn;
	void *arg;
	char **roots;
	size_t nroots;
	char **paths;
	size_t npaths, cap_paths;
	struct ref *refs;
	size_t nrefs, cap_refs;
	struct findings found;
};

/* Orders findings by chunk, then kind (qsort). */
int mfs_fsck_finding_cmp(const void *a, const void *b);
/*
 * The counts, and (not before_repair) the findings: per chunk when
 * verbose, per file always.  Sorts c->found.
 */
int mfs_fsck_count_and_report(struct fsck *c, int before_repair);

#endif
