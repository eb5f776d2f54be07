/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsck (report.h).  Three steps:
 *  1. Walk the files (below the roots, if given) and gather every chunk
 *     reference: the chunk, its length, the file, the version's writer (the
 *     node id in the inode number) and the file's replication factor.
 *  2. Sort the references by chunk and ask every node for its copy of each
 *     distinct chunk, BATCH at a time (the cluster's check callback; this
 *     store alone without one).  Each chunk's answers become findings:
 *     corrupt copies, no copy, fewer good copies than the factor, copies on
 *     nodes that are neither owners nor a writer of it.  Without roots,
 *     chunks stored here that no file uses are reported as orphans.
 *  3. With MFS_COPY_REPAIR: ask every node to fix what it can (fetch what
 *     it owns and lacks, replace bad copies), re-check the problem chunks
 *     once a second until they are whole or the wait is over, and report
 *     each as repaired or as it still stands.
 * Findings are reported at the end: a summary per file with any (the
 * default report), and, when verbose, each chunk's once per file using it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck_internal.h"
#include "recode.h"
#include "report.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hashset.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/delta.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/inode_walk.h"
#include "store/ns/rev.h"
#include "store/ns/namespace.h"

#define BATCH 1024
#define MAX_OWNERS 16

/* ---- this store alone ------------------------------------------------------ */

struct alone {
	struct mfs_db *db;
	mfs_node_t self;
};

static int local_check(void *arg, const struct mfs_copy_query *q, size_t n, unsigned flags,
		       uint8_t *st)
{
	const struct alone *a = arg;

	for (size_t i = 0; i < n; i++) {
		int s = mfs_copy_state_local(a->db, &q[i].h, q[i].raw_len, flags);

		if (s < 0)
			return s;
		st[i] = (uint8_t)s;
	}
	return 0;
}

static int local_owners(void *arg, const struct mfs_hash *h, int repl, mfs_node_t *ids, int cap)
{
	const struct alone *a = arg;

	(void)h;
	(void)repl;
	if (cap < 1)
		return 0;
	ids[0] = a->self;
	return 1;
}

/* ---- step 1: the files ------------------------------------------------------ */

static int under_roots(const struct fsck *c, const char *path)
{
	if (!c->nroots)
		return 1;
	for (size_t i = 0; i < c->nroots; i++) {
		size_t l = strlen(c->roots[i]);

		if (!strcmp(c->roots[i], "/") ||
		    (!strncmp(path, c->roots[i], l) && (path[l] == 0 || path[l] == '/')))
			return 1;
	}
	return 0;
}

static void report_file(struct fsck *c, enum mfs_fsck_problem kind, const struct mfs_hash *h,
			const char *path, unsigned repl)
{
	char hex[MFS_HASH_HEX_LEN + 1] = "";

	if (h)
		mfs_hash_to_hex(h, hex);
	if (kind == MFS_FSCK_BADMETA)
		c->res->badmeta++;
	else
		c->res->missing++;
	c->res->found++;
	if (path && c->o->file_fn) {
		struct mfs_fsck_file f = { .path = path, .repl = repl };

		f.count[kind] = 1;
		c->res->files_with_problems++;
		c->res->files_reported++;
		c->o->file_fn(c->arg, &f);
	}
	if (!path || !c->o->file_fn || c->o->verbose)
		c->fn(c->arg, kind, hex, h ? "manifest" : "-", path);
}

/* A file at path (taken: freed here), a live one or one of a revision. */
static int add_file_at(struct fsck *c, const struct mfs_inode *in, char *path)
{
	struct mfs_manifest *m = NULL;
	int rc;

	if (!path)
		return -ENOMEM;
	if (!under_roots(c, path)) {
		free(path);
		return 0;
	}
	c->res->files_checked++;
	if (!in->has_manifest) {
		free(path);
		return 0;
	}
	rc = mfs_manifest_load(c->db, &in->manifest, &m);
	if (rc == -ENOMEM) {
		free(path);
		return rc;
	}
	if (rc || m->size != in->size) {
		report_file(c, rc == -ENOENT ? MFS_FSCK_MISSING : MFS_FSCK_BADMETA, &in->manifest,
			    path, in->repl ? in->repl : MFS_DEFAULT_REPL);
		mfs_manifest_unref(m);
		free(path);
		return 0;
	}
	if (mfs_grow(&c->paths, &c->cap_paths, c->npaths, sizeof(*c->paths))) {
		rc = -ENOMEM;
		goto out;
	}
	c->paths[c->npaths] = path;
	path = NULL;
	for (uint32_t i = 0; i < m->count; i++) {
		struct ref *r;

		/* A hole names no chunk: nothing to check (manifest.h). */
		if (mfs_manifest_is_hole(&m->e[i]))
			continue;
		if (mfs_grow(&c->refs, &c->cap_refs, c->nrefs, sizeof(*c->refs))) {
			rc = -ENOMEM;
			goto out;
		}
		r = &c->refs[c->nrefs++];
		r->h = m->e[i].hash;
		r->raw_len = m->e[i].len;
		r->file = (uint32_t)c->npaths;
		r->origin = (uint16_t)(in->ino >> 48);
		r->repl = in->repl ? in->repl : MFS_DEFAULT_REPL;
	}
	c->npaths++;
	rc = 0;
out:
	free(path);
	mfs_manifest_unref(m);
	return rc;
}

static int walk_file(void *arg, const struct mfs_inode *in)
{
	struct fsck *c = arg;

	return S_ISREG(in->mode) ? add_file_at(c, in, mfs_ns_path(c->ns, in->ino)) : 0;
}

/* A revision's file (store/ns/rev.h): its chunks are checked like a live file's. */
static int walk_rev_file(void *arg, const char *path, const struct mfs_inode *in)
{
	return add_file_at(arg, in, strdup(path));
}

static int walk_rev_bad(void *arg, const char *name)
{
	struct fsck *c = arg;

	(void)name;
	if (!c->nroots)
		report_file(c, MFS_FSCK_BADMETA, NULL, NULL, 0);
	return 0;
}

/* A record that does not decode is a finding of the whole-store check (not of a subtree's). */
static int walk_bad(void *arg, uint64_t ino)
{
	struct fsck *c = arg;

	(void)ino;
	if (!c->nroots)
		report_file(c, MFS_FSCK_BADMETA, NULL, NULL, 0);
	return 0;
}

static int walk_files(struct fsck *c)
{
	struct mfs_inode_walk w = { .fn = walk_file, .bad = walk_bad, .arg = c };
	int rc = mfs_inode_walk(c->db, NULL, &w);

	return rc ? rc : mfs_rev_each_file(c->db, walk_rev_file, walk_rev_bad, c);
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int d = memcmp(x->h.b, y->h.b, MFS_HASH_LEN);

	return d ? d : (x->file > y->file) - (x->file < y->file);
}

/* First ref of h, or nrefs when no file uses it. */
static size_t ref_find(const struct fsck *c, const struct mfs_hash *h)
{
	size_t lo = 0, hi = c->nrefs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (memcmp(c->refs[mid].h.b, h->b, MFS_HASH_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nrefs && !memcmp(c->refs[lo].h.b, h->b, MFS_HASH_LEN) ? lo : c->nrefs;
}

/* ---- step 2: copies into findings ------------------------------------------ */

static int copy_finding(struct findings *fs, const struct finding *f)
{
	if (mfs_grow(&fs->f, &fs->cap, fs->n, sizeof(*fs->f)))
		return -ENOMEM;
	fs->f[fs->n++] = *f;
	return 0;
}

/* good: good stored copies; nodes: the copies concerned (NULL: none). */
static int add_finding(struct findings *fs, const struct mfs_hash *h, size_t first, size_t n,
		       enum mfs_fsck_problem kind, int fixable, const char *detail, int good,
		       const uint8_t *nodes)
{
	struct finding f = { .h = *h, .first = first, .n = n, .kind = (uint8_t)kind,
			     .fixable = (uint8_t)fixable, .good = (uint16_t)good };

	if (nodes)
		memcpy(f.nodes, nodes, NODE_BITS);
	snprintf(f.detail, sizeof(f.detail), "%s", detail);
	return copy_finding(fs, &f);
}

/*
 * Appends ",KEY=id+id+..." of the nodes k with st[k] == state (and keep[k],
 * if given), and sets their bits in bits.
 */
static void list_nodes(char *d, size_t len, const char *key, const struct fsck *c,
		       const uint8_t *st, uint8_t state, const uint8_t *keep, uint8_t *bits)
{
	size_t used = strlen(d);
	const char *sep = "";

	for (int k = 0; k < c->cl->nnodes; k++) {
		if (st[k] != state || (keep && !keep[k]))
			continue;
		bits[k / 8] |= (uint8_t)(1u << (k % 8));
		if (used + MFS_NODE_HEX_LEN + 4 + strlen(key) >= len)
			continue;
		used += (size_t)snprintf(d + used, len - used, "%s%s%s" MFS_NODE_FMT, *sep ? "" : ",",
					 *sep ? "" : key, sep, MFS_NODE_ARG(c->cl->nodes[k]));
		sep = "+";
	}
}

/* Sorts one chunk's answers (st[0..nnodes)) into findings. */
static int classify(struct fsck *c, const struct mfs_copy_query *q, size_t first, size_t n,
		    const uint8_t *st, struct findings *out)
{
	const struct mfs_fsck_cluster *cl = c->cl;
	mfs_node_t own[MAX_OWNERS];
	uint8_t extra[MFS_MAX_NODES] = { 0 };
	int good = 0, bad = 0, cached = 0, unknown = 0, nextra = 0, nown, rc = 0;
	uint8_t bits[NODE_BITS] = { 0 };
	char d[DETAIL_LEN] = "";

	for (int k = 0; k < cl->nnodes; k++) {
		good += st[k] == MFS_COPY_STORED;
		bad += st[k] == MFS_COPY_CORRUPT;
		cached += st[k] == MFS_COPY_CACHED;
		unknown += st[k] == MFS_COPY_UNKNOWN;
	}
	if (bad) {
		list_nodes(d, sizeof(d), "nodes=", c, st, MFS_COPY_CORRUPT, NULL, bits);
		rc = add_finding(out, &q->h, first, n, MFS_FSCK_CORRUPT, good > 0, d + 1, good, bits);
		memset(bits, 0, sizeof(bits));
	}
	if (rc || (!c->judge && good))
		return rc;
	if (!c->judge || (!good && !cached)) {
		snprintf(d, sizeof(d), "copies=0/%u", c->judge ? q->repl : 1);
		if (unknown)
			snprintf(d + strlen(d), sizeof(d) - strlen(d), ",unknown=%d", unknown);
		return bad ? 0 : add_finding(out, &q->h, first, n, MFS_FSCK_MISSING, 0, d, 0, NULL);
	}
	if (good < q->repl) {
		snprintf(d, sizeof(d), "copies=%d/%u", good, q->repl);
		list_nodes(d, sizeof(d), "on=", c, st, MFS_COPY_STORED, NULL, bits);
		if (cached)
			list_nodes(d, sizeof(d), "cached=", c, st, MFS_COPY_CACHED, NULL, bits);
		/* Fewer nodes than copies asked for: no repair can help. */
		return add_finding(out, &q->h, first, n, MFS_FSCK_UNDER, cl->nnodes >= q->repl, d,
				   good, bits);
	}
	/*
	 * Copies on nodes that are not owners are extra, the writer's too: gc
	 * drops them once the owners hold theirs (store/gc.h, trim notes).
	 */
	nown = cl->owners(cl->arg, &q->h, q->repl, own, MAX_OWNERS);
	for (int k = 0; k < cl->nnodes && k < MFS_MAX_NODES; k++) {
		int expected = 0;

		for (int j = 0; j < nown && !expected; j++)
			expected = own[j] == cl->nodes[k];
		extra[k] = !expected && st[k] == MFS_COPY_STORED;
		nextra += extra[k];
	}
	if (!nextra || good <= q->repl)
		return 0;
	snprintf(d, sizeof(d), "copies=%d/%u", good, q->repl);
	list_nodes(d, sizeof(d), "extra=", c, st, MFS_COPY_STORED, extra, bits);
	return add_finding(out, &q->h, first, n, MFS_FSCK_OVER, 0, d, good, bits);
}

/* The query for the chunk whose refs start at first; *n gets how many refs it has. */
static void query_of(const struct fsck *c, size_t first, struct mfs_copy_query *q, size_t *n)
{
	size_t e = first;

	q->h = c->refs[first].h;
	q->raw_len = c->refs[first].raw_len;
	q->origin = c->refs[first].origin;
	q->repl = 0;
	for (; e < c->nrefs && !memcmp(c->refs[e].h.b, q->h.b, MFS_HASH_LEN); e++)
		if (c->refs[e].repl > q->repl)
			q->repl = c->refs[e].repl;
	*n = e - first;
}

/* Asks the nodes about q[0..n) and classifies the answers into out. */
static int check_batch(struct fsck *c, const struct mfs_copy_query *q, const size_t *first,
		       const size_t *nref, size_t n, unsigned flags, uint8_t *st,
		       struct findings *out)
{
	int rc = c->cl->check(c->cl->arg, q, n, flags, st);

	for (size_t i = 0; !rc && i < n; i++)
		rc = classify(c, &q[i], first[i], nref[i], st + i * (size_t)c->cl->nnodes, out);
	return rc;
}

struct batch {
	struct mfs_copy_query q[BATCH];
	size_t first[BATCH], nref[BATCH];
	uint8_t *st;
};

static void progress(const struct fsck *c, const char *phase, uint64_t done, uint64_t total)
{
	if (c->o->progress)
		c->o->progress(c->o->progress_arg, phase, done, total);
}

static int check_all(struct fsck *c, struct batch *b)
{
	size_t n = 0, total = 0;
	int rc = 0;

	for (size_t i = 0; i < c->nrefs; i++)
		total += !i || memcmp(c->refs[i].h.b, c->refs[i - 1].h.b, MFS_HASH_LEN);
	for (size_t i = 0; i < c->nrefs && !rc;) {
		query_of(c, i, &b->q[n], &b->nref[n]);
		b->first[n] = i;
		i += b->nref[n];
		c->res->chunks_checked++;
		c->res->bytes_checked += b->q[n].raw_len;
		if (++n == BATCH || i == c->nrefs) {
			rc = check_batch(c, b->q, b->first, b->nref, n, c->o->flags & MFS_COPY_DEEP,
					 b->st, &c->found);
			n = 0;
			progress(c, "check", c->res->chunks_checked, total);
		}
	}
	return rc;
}

/* Chunks stored here that no file uses (only when every file was walked). */
static int check_orphans(struct fsck *c)
{
	struct mfs_iter *it = mfs_iter_new(c->db, MFS_CF_CHUNK_INDEX, NULL, 0);
	struct mfs_hashset used = { 0 }, bases = { 0 };
	int rc = 0;

	if (!it)
		return -ENOMEM;
	/* The bases of the files' fine-tune deltas are used too (store/chunk/delta.h). */
	for (size_t i = 0; i < c->nrefs && !rc; i++)
		rc = mfs_hashset_add(&used, &c->refs[i].h);
	if (!rc) {
		mfs_hashset_finish(&used);
		rc = mfs_delta_keep_bases(c->db, &used, &bases);
	}
	for (; mfs_iter_valid(it) && !rc; mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);
		struct mfs_hash h;
		int s;

		if (kl != MFS_HASH_LEN) {
			report_file(c, MFS_FSCK_BADMETA, NULL, NULL, 0);
			continue;
		}
		memcpy(h.b, k, MFS_HASH_LEN);
		if (ref_find(c, &h) < c->nrefs || mfs_hashset_has(&bases, h.b))
			continue;
		c->res->chunks_checked++;
		if ((s = mfs_copy_state_local(c->db, &h, 0, c->o->flags & MFS_COPY_DEEP)) < 0) {
			rc = s;
			break;
		}
		rc = add_finding(&c->found, &h, 0, 0,
				 s == MFS_COPY_CORRUPT ? MFS_FSCK_CORRUPT : MFS_FSCK_ORPHAN, 0,
				 s == MFS_COPY_CORRUPT ? "orphan" : "-", s == MFS_COPY_STORED, NULL);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	mfs_hashset_clear(&used);
	mfs_hashset_clear(&bases);
	return rc;
}

/* ---- step 3: repair --------------------------------------------------------- */

static int has_problem(const struct findings *fs, const struct mfs_hash *h)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!memcmp(fs->f[i].h.b, h->b, MFS_HASH_LEN) && mfs_fsck_is_problem(fs->f[i].kind))
			return 1;
	return 0;
}

/*
 * The problem chunks --repair can act on, as a batch: fixable findings of
 * chunks files use.  Returns how many (at most BATCH per round: a tree
 * with more problem chunks than that is repaired by running fsck again).
 */
static size_t repair_targets(struct fsck *c, struct batch *b)
{
	size_t n = 0;

	for (size_t i = 0; i < c->found.n && n < BATCH; i++) {
		const struct finding *f = &c->found.f[i];

		if (!f->fixable || !f->n || (n && !memcmp(b->q[n - 1].h.b, f->h.b, MFS_HASH_LEN)))
			continue;
		query_of(c, f->first, &b->q[n], &b->nref[n]);
		b->first[n++] = f->first;
	}
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int repair(struct fsck *c, struct batch *b)
{
	unsigned deep = c->o->flags & MFS_COPY_DEEP;
	struct findings now = { 0 }, kept = { 0 };
	size_t n = repair_targets(c, b);
	int wait_s = c->o->repair_wait_s >= 0 ? c->o->repair_wait_s : 60;
	time_t start = time(NULL), until = start + wait_s;
	int rc, whole;

	if (!n)
		return 0;
	if ((rc = c->cl->check(c->cl->arg, b->q, n, deep | MFS_COPY_REPAIR, b->st)))
		return rc;
	for (;;) {
		sleep_ms(1000);
		now.n = 0;
		if ((rc = check_batch(c, b->q, b->first, b->nref, n, deep, b->st, &now)))
			goto out;
		whole = 1;
		for (size_t i = 0; i < now.n && whole; i++)
			whole = !mfs_fsck_is_problem(now.f[i].kind);
		if (whole || time(NULL) >= until)
			break;
		progress(c, "repair", (uint64_t)(time(NULL) - start), (uint64_t)wait_s);
	}
	/* Findings of the targets are replaced by their state now. */
	for (size_t i = 0; i < c->found.n && !rc; i++) {
		const struct finding *f = &c->found.f[i];
		int target = 0;

		for (size_t t = 0; t < n && !target; t++)
			target = !memcmp(b->q[t].h.b, f->h.b, MFS_HASH_LEN);
		if (!target)
			rc = copy_finding(&kept, f);
	}
	for (size_t t = 0; t < n && !rc; t++) {
		char was[DETAIL_LEN] = "was=";

		if (has_problem(&now, &b->q[t].h))
			continue;
		for (size_t i = 0; i < c->found.n; i++)
			if (!memcmp(c->found.f[i].h.b, b->q[t].h.b, MFS_HASH_LEN) &&
			    strlen(was) + 10 < sizeof(was))
				snprintf(was + strlen(was), sizeof(was) - strlen(was), "%s%s",
					 strlen(was) > 4 ? "+" : "",
					 mfs_fsck_problem_name(c->found.f[i].kind));
		rc = add_finding(&kept, &b->q[t].h, b->first[t], b->nref[t], MFS_FSCK_REPAIRED, 0,
				 was, b->q[t].repl, NULL);
		c->res->repaired++;
	}
	for (size_t i = 0; i < now.n && !rc; i++) {
		now.f[i].fixable = 0;
		rc = copy_finding(&kept, &now.f[i]);
	}
	if (!rc) {
		free(c->found.f);
		c->found = kept;
		kept.f = NULL;
	}
out:
	free(now.f);
	free(kept.f);
	return rc;
}

/* ---- reporting -------------------------------------------------------------- */

/* A file's findings, summed (struct mfs_fsck_file). */
/* One unreachable entry, found under parent as ino, reported as path (prefix/name). */
static int report_unreachable(struct fsck *c, uint64_t parent, uint64_t ino, const char *prefix,
			      const char *name)
{
	char detail[64], *path;

	snprintf(detail, sizeof(detail), "dir=%016llx,ino=%016llx", (unsigned long long)parent,
		 (unsigned long long)ino);
	if (asprintf(&path, "%s/%s", prefix, name) < 0)
		return -ENOMEM;
	c->res->unreachable++;
	c->res->found++;
	c->fn(c->arg, MFS_FSCK_UNREACHABLE, "", detail, path);
	free(path);
	return 0;
}

/* An orphaned entry (store/ns_orphan.c): a problem until gc moves it to lost+found. */
static int report_orphan(void *arg, uint64_t parent, const char *name, uint64_t ino,
			 uint32_t mode)
{
	(void)mode;
	return report_unreachable(arg, parent, ino, "(deleted directory)", name);
}

/*
 * A directory that lost its name to another node's (store/ns/ns_merge.c):
 * a problem until the node that made it merges it or gives its name back.
 */
static int report_dead_dir(void *arg, uint64_t ino, uint64_t parent, const char *name)
{
	return report_unreachable(arg, parent, ino, "(directory that lost its name)", name);
}

/* ---- the whole ------------------------------------------------------------------ */

static int resolve_roots(struct fsck *c)
{
	if (!c->o->nroots)
		return 0;
	if (!(c->roots = calloc(c->o->nroots, sizeof(*c->roots))))
		return -ENOMEM;
	for (size_t i = 0; i < c->o->nroots; i++) {
		if (!(c->roots[i] = mfs_ns_path(c->ns, c->o->roots[i])))
			return -ENOMEM;
		c->nroots++;
	}
	return 0;
}

int mfs_fsck(struct mfs_ns *ns, const struct mfs_fsck_opts *o, mfs_fsck_fn fn, void *arg,
	     struct mfs_fsck_result *res)
{
	struct alone a = { mfs_ns_db(ns), mfs_ns_node_id(ns) };
	struct mfs_fsck_cluster alone = { 1, &a.self, local_check, local_owners, &a };
	struct fsck c = { .ns = ns, .db = a.db, .o = o, .res = res, .fn = fn, .arg = arg };
	struct batch *b = calloc(1, sizeof(*b));
	int rc = -ENOMEM;

	memset(res, 0, sizeof(*res));
	c.cl = o->cluster ? o->cluster : &alone;
	/* A store seen offline cannot tell how many copies other nodes hold. */
	c.judge = o->cluster || o->single_node;
	if (!b || c.cl->nnodes < 1 || c.cl->nnodes > MFS_MAX_NODES ||
	    !(b->st = malloc((size_t)BATCH * (size_t)c.cl->nnodes)))
		goto out;
	if ((rc = resolve_roots(&c)) || (rc = walk_files(&c)))
		goto out;
	if (c.nrefs > 1)
		qsort(c.refs, c.nrefs, sizeof(*c.refs), ref_cmp);
	if ((rc = check_all(&c, b)) || (!c.nroots && (rc = check_orphans(&c))) ||
	    (!c.nroots && (rc = mfs_ns_orphans(ns, report_orphan, &c))) ||
	    (!c.nroots && (rc = mfs_ns_dead_dirs(ns, report_dead_dir, &c))) ||
	    (!c.nroots && (rc = mfs_recode_check(c.db, &res->recode_queued, &res->recode_stale))))
		goto out;
	mfs_fsck_count_and_report(&c, 1);
	if ((o->flags & MFS_COPY_REPAIR) && (rc = repair(&c, b)))
		goto out;
	rc = mfs_fsck_count_and_report(&c, 0);
out:
	if (b)
		free(b->st);
	free(b);
	for (size_t i = 0; i < c.nroots; i++)
		free(c.roots[i]);
	free(c.roots);
	for (size_t i = 0; i < c.npaths; i++)
		free(c.paths[i]);
	free(c.paths);
	free(c.refs);
	free(c.found.f);
	return rc;
}
