/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Space that follows policy: this node's stored copies of chunks it does
 * not own (a factor lowered, a placement change, the writer's own copies)
 * are dropped once enough other nodes confirm they keep one.  The rules are
 * in store/gc.h (the trim notes); this file finds the candidates, which
 * needs placement, and asks the nodes, which needs the network:
 *  1. Every inode record (reachable or not, as gc counts references) gives
 *     its chunks and factor; a chunk's factor R is the largest.  A record
 *     that does not decode stops the run: its factor might be the largest.
 *  2. A candidate is a chunk stored here that this node, in its placement
 *     view, does not own at R.  Nothing runs until every configured peer's
 *     id is known (a partial view would make this node a non-owner of
 *     chunks that are its own).
 *  3. For the candidates whose grace is over, CHECK with MFS_COPY_OWNED
 *     asks every node; a node answers STORED only for a verified copy that
 *     it owns in its own view (else LOOSE), i.e. one that its own trim will
 *     not drop.  At least R such answers from other nodes, and the copy
 *     here goes.  Two nodes that each think the other owns a chunk thus
 *     never both drop it: each needs the other to say "mine".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/manifest.h"
#include "store/maint/gc.h"
#include "store/ns/inode_walk.h"

#define LOG_COMPONENT "gc"
#define ASK_BATCH 1024

struct tref {
	struct mfs_hash h;
	uint32_t raw_len;
	uint16_t origin;
	uint8_t repl;
};

struct trefs {
	struct mfs_db *db;
	struct tref *v;
	size_t n, cap;
};

static int add_file(void *arg, const struct mfs_inode *in)
{
	struct trefs *t = arg;
	struct mfs_manifest *m;
	int rc;

	if (!S_ISREG(in->mode) || !in->has_manifest)
		return 0;
	if ((rc = mfs_manifest_load(t->db, &in->manifest, &m)))
		return rc == -ENOENT ? 0 : rc; /* no manifest, no chunk of it here either */
	for (uint32_t i = 0; i < m->count && !rc; i++) {
		if (mfs_manifest_is_hole(&m->e[i]))
			continue;
		if (mfs_grow(&t->v, &t->cap, t->n, sizeof(*t->v))) {
			rc = -ENOMEM;
			break;
		}
		t->v[t->n++] = (struct tref){ m->e[i].hash, m->e[i].len, (uint16_t)(in->ino >> 48),
					      (uint8_t)(in->repl ? in->repl : MFS_DEFAULT_REPL) };
	}
	mfs_manifest_unref(m);
	return rc;
}

static int bad_record(void *arg, uint64_t ino)
{
	(void)arg;
	log_warn("inode record %016llx cannot be read: no copy dropped (run fsck)",
		 (unsigned long long)ino);
	return MFS_EFORMAT;
}

static int tref_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MFS_HASH_LEN);
}

/* Every referenced chunk once, with the largest factor of its files (note 1). */
static int collect(struct mfs_replica *r, struct trefs *t)
{
	struct mfs_inode_walk w = { .fn = add_file, .bad = bad_record, .arg = t, .stop = &r->stopping,
				    .revisions = 1 };
	size_t out = 0;
	int rc = mfs_inode_walk(r->db, NULL, &w);

	if (rc || !t->n)
		return rc;
	qsort(t->v, t->n, sizeof(*t->v), tref_cmp);
	for (size_t i = 0; i < t->n; i++) {
		if (out && !memcmp(t->v[out - 1].h.b, t->v[i].h.b, MFS_HASH_LEN)) {
			if (t->v[i].repl > t->v[out - 1].repl)
				t->v[out - 1].repl = t->v[i].repl;
			continue;
		}
		t->v[out++] = t->v[i];
	}
	t->n = out;
	return 0;
}

/* The chunks stored here that this node does not own, in place at the front of t (note 2). */
static int candidates(struct mfs_replica *r, struct trefs *t, uint64_t *bytes)
{
	mfs_node_t ids[MFS_MAX_NODES];
	int nids = placement_nodes(r, ids, MFS_MAX_NODES);
	size_t out = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct mfs_chunk_summary s;
		int rc;

		if (place_owns(&t->v[i].h, r->self, ids, nids, t->v[i].repl))
			continue;
		rc = mfs_chunk_summary_get(r->db, &t->v[i].h, &s);
		if (rc == -ENOENT || (!rc && !s.record_len))
			continue;
		if (rc)
			return rc;
		bytes[out] = s.record_len;
		t->v[out++] = t->v[i];
	}
	t->n = out;
	return 0;
}

/* Asks every node about the due candidates q[0..n); keeps in drop[] those confirmed (note 3). */
static int confirm(struct mfs_replica *r, const struct mfs_copy_query *q, size_t n,
		   const uint64_t *bytes, struct mfs_hash *drop, size_t *ndrop,
		   struct mfs_gc_trim_result *res)
{
	int nodes = peer_count(r) + 1; /* the peers table may grow meanwhile (members.c) */
	size_t stride = (size_t)nodes;
	uint8_t *st = malloc(n * stride);
	int rc;

	if (!st)
		return -ENOMEM;
	if (!(rc = mfs_replica_check(r, nodes, q, n, MFS_COPY_OWNED, st))) {
		for (size_t i = 0; i < n; i++) {
			int kept = 0;

			for (size_t k = 1; k < stride; k++)
				kept += st[i * stride + k] == MFS_COPY_STORED;
			if (kept >= q[i].repl) {
				drop[(*ndrop)++] = q[i].h;
			} else {
				res->unconfirmed++;
				res->unconfirmed_bytes += bytes[i];
			}
		}
	}
	free(st);
	return rc;
}

/* Due candidates, ASK_BATCH at a time: confirmed elsewhere, then (apply) dropped. */
static int settle(struct mfs_replica *r, const struct trefs *t, const uint64_t *bytes,
		  const uint8_t *due, int apply, struct mfs_gc_trim_result *res)
{
	struct mfs_copy_query *q = malloc(ASK_BATCH * sizeof(*q));
	struct mfs_hash *drop = malloc(ASK_BATCH * sizeof(*drop));
	uint64_t *qb = malloc(ASK_BATCH * sizeof(*qb));
	size_t i = 0;
	int rc = 0;

	if (!q || !drop || !qb)
		rc = -ENOMEM;
	while (!rc && i < t->n && !r->stopping) {
		size_t n = 0, ndrop = 0;

		for (; i < t->n && n < ASK_BATCH; i++) {
			if (!due[i])
				continue;
			q[n] = (struct mfs_copy_query){ t->v[i].h, t->v[i].raw_len, t->v[i].origin,
							t->v[i].repl };
			qb[n++] = bytes[i];
		}
		if (!n || (rc = confirm(r, q, n, qb, drop, &ndrop, res)))
			break;
		/* A dry run reports the confirmed ones as what it would drop. */
		if (apply)
			rc = mfs_gc_drop_copies(r->ns, drop, ndrop, res);
		else
			res->confirmed += ndrop;
	}
	free(q);
	free(drop);
	free(qb);
	return rc;
}

int mfs_replica_trim(struct mfs_replica *r, int apply, uint64_t grace_s, uint64_t now,
		     struct mfs_gc_trim_result *res)
{
	struct trefs t = { .db = r->db };
	struct mfs_hash *hs = NULL;
	uint64_t *bytes = NULL;
	uint8_t *due = NULL;
	size_t cap;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!peers_all_known(r)) {
		/* Marks stay as they are: the clock neither starts nor stops. */
		log_info("over-replicated copies not looked at: a peer's node id is not known yet");
		res->skipped = 1;
		return 0;
	}
	if ((rc = collect(r, &t)))
		goto out;
	cap = t.n ? t.n : 1;
	if (!(bytes = malloc(cap * sizeof(*bytes))) || !(due = malloc(cap))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = candidates(r, &t, bytes)))
		goto out;
	if (!(hs = malloc((t.n ? t.n : 1) * sizeof(*hs)))) {
		rc = -ENOMEM;
		goto out;
	}
	res->candidates = t.n;
	for (size_t i = 0; i < t.n; i++) {
		res->candidate_bytes += bytes[i];
		hs[i] = t.v[i].h;
	}
	if (!(rc = mfs_gc_trim_marks(r->ns, hs, bytes, t.n, now, grace_s, due, res)))
		rc = settle(r, &t, bytes, due, apply, res);
	if (!rc && apply && res->dropped)
		log_info("dropped %llu copies (%llu bytes) held beyond their files' factors",
			 (unsigned long long)res->dropped, (unsigned long long)res->dropped_bytes);
out:
	if (rc)
		log_warn("over-replicated copies: run stopped: %s", mfs_strerror(rc));
	free(t.v);
	free(hs);
	free(bytes);
	free(due);
	return rc;
}
