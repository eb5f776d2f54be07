/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsck's report (report.h): problem names, the per-file summary and the
 * findings handed to the caller's callbacks, in chunk then path order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_internal.h"
#include "store/base/hash.h"

const char *mfs_fsck_problem_name(enum mfs_fsck_problem kind)
{
	switch (kind) {
	case MFS_FSCK_CORRUPT: return "corrupt";
	case MFS_FSCK_MISSING: return "missing";
	case MFS_FSCK_BADMETA: return "badmeta";
	case MFS_FSCK_UNDER: return "under";
	case MFS_FSCK_OVER: return "over";
	case MFS_FSCK_ORPHAN: return "orphan";
	case MFS_FSCK_REPAIRED: return "repaired";
	case MFS_FSCK_UNREACHABLE: return "unreachable";
	}
	return "?";
}

void mfs_fsck_file_words(const struct mfs_fsck_file *f, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "%u %llu %u", f->repl,
				       (unsigned long long)f->chunks, f->good_min);

	for (int k = 0; k < MFS_FSCK_KINDS && used < len; k++)
		used += (size_t)snprintf(buf + used, len - used, " %llu",
					 (unsigned long long)f->count[k]);
	for (int k = 0; k < f->nnodes && used + MFS_NODE_HEX_LEN + 2 < len; k++)
		used += (size_t)snprintf(buf + used, len - used, "%s" MFS_NODE_FMT, k ? "+" : " ",
					 MFS_NODE_ARG(f->nodes[k]));
	if (!f->nnodes && used + 3 < len)
		snprintf(buf + used, len - used, " -");
}

int mfs_fsck_is_problem(enum mfs_fsck_problem kind)
{
	return kind <= MFS_FSCK_UNDER || kind == MFS_FSCK_UNREACHABLE;
}

int mfs_fsck_finding_cmp(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	int d = memcmp(x->h.b, y->h.b, MFS_HASH_LEN);

	return d ? d : x->kind - y->kind;
}

struct fsum {
	unsigned repl, good_min;
	uint64_t chunks, count[MFS_FSCK_KINDS];
	uint8_t nodes[NODE_BITS];
	int any, problem;
};

static void sum_finding(struct fsck *c, struct fsum *sums, const struct finding *f)
{
	for (size_t r = f->first; r < f->first + f->n; r++) {
		struct fsum *s;

		if (r != f->first && c->refs[r].file == c->refs[r - 1].file)
			continue;
		s = &sums[c->refs[r].file];
		if (!s->any || f->good < s->good_min)
			s->good_min = f->good;
		s->any = 1;
		s->problem |= mfs_fsck_is_problem(f->kind);
		s->count[f->kind]++;
		for (int k = 0; k < NODE_BITS; k++)
			s->nodes[k] |= f->nodes[k];
	}
}

static int path_cmp(const void *a, const void *b, void *arg)
{
	char **paths = arg;

	return strcmp(paths[*(const uint32_t *)a], paths[*(const uint32_t *)b]);
}

/* Hands every file with findings to file_fn, in path order. */
static int report_files(struct fsck *c, struct fsum *sums)
{
	uint32_t *order = malloc((c->npaths ? c->npaths : 1) * sizeof(*order));
	mfs_node_t ids[MFS_MAX_NODES];
	size_t n = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < c->nrefs; i++) {
		const struct ref *r = &c->refs[i];

		sums[r->file].repl = r->repl;
		if (!i || r->file != c->refs[i - 1].file ||
		    memcmp(r->h.b, c->refs[i - 1].h.b, MFS_HASH_LEN))
			sums[r->file].chunks++;
	}
	for (uint32_t i = 0; i < c->npaths; i++)
		if (sums[i].any)
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), path_cmp, c->paths);
	for (size_t i = 0; i < n; i++) {
		const struct fsum *s = &sums[order[i]];
		struct mfs_fsck_file f = { .path = c->paths[order[i]], .repl = s->repl,
					   .chunks = s->chunks, .good_min = s->good_min, .nodes = ids };

		memcpy(f.count, s->count, sizeof(f.count));
		for (int k = 0; k < c->cl->nnodes; k++)
			if (s->nodes[k / 8] & (1u << (k % 8)))
				ids[f.nnodes++] = c->cl->nodes[k];
		c->res->files_with_problems += (uint64_t)s->problem;
		c->res->files_reported++;
		c->o->file_fn(c->arg, &f);
	}
	free(order);
	return 0;
}

/* The counts, and (final) the findings: per chunk when verbose, per file always. */
int mfs_fsck_count_and_report(struct fsck *c, int before_repair)
{
	struct fsum *sums = NULL;
	int rc = 0;

	if (c->found.n > 1)
		qsort(c->found.f, c->found.n, sizeof(*c->found.f), mfs_fsck_finding_cmp);
	if (!before_repair && c->o->file_fn &&
	    !(sums = calloc(c->npaths ? c->npaths : 1, sizeof(*sums))))
		return -ENOMEM;
	for (size_t i = 0; i < c->found.n; i++) {
		const struct finding *f = &c->found.f[i];
		char hex[MFS_HASH_HEX_LEN + 1];
		uint64_t *count[] = { &c->res->corrupt, &c->res->missing, &c->res->badmeta,
				      &c->res->under, &c->res->over, &c->res->orphan, NULL };
		int same_chunk = i && !memcmp(c->found.f[i - 1].h.b, f->h.b, MFS_HASH_LEN);

		if (before_repair) {
			/* Only counts problem chunks, before repair changes them. */
			c->res->found += mfs_fsck_is_problem(f->kind) &&
					 !(same_chunk && mfs_fsck_is_problem(c->found.f[i - 1].kind));
			continue;
		}
		if (count[f->kind])
			(*count[f->kind])++;
		if (sums)
			sum_finding(c, sums, f);
		if (sums && !c->o->verbose)
			continue;
		mfs_hash_to_hex(&f->h, hex);
		if (!f->n)
			c->fn(c->arg, f->kind, hex, f->detail, NULL);
		for (size_t r = f->first; r < f->first + f->n; r++)
			if (r == f->first || c->refs[r].file != c->refs[r - 1].file)
				c->fn(c->arg, f->kind, hex, f->detail, c->paths[c->refs[r].file]);
	}
	if (sums)
		rc = report_files(c, sums);
	free(sums);
	return rc;
}
