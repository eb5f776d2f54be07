/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendezvous (highest random weight) placement: every node scores a chunk
 * with XXH64(chunk hash, seed = node id); the chunk's owners are the R
 * best.  Raising R adds the next nodes and never moves a chunk between the
 * first ones, and a node joining or leaving moves only the chunks it wins
 * or held.  No table to agree on: every node computes the same ranking from
 * the same set of node ids, in any order and of any size (the scale
 * simulator, tests/sim/, measures both: doc/replication.md).
 *
 * Ids are 64 bits; one that fits in 16 bits (every id before format 3) seeds
 * XXH64 with the same value as it did, so those rank as they always did.
 *
 * The scores and their order (score descending, then id ascending) decide
 * where every chunk lives: changing either moves data on every running
 * cluster, and nodes of two builds would disagree.  tests/unit/
 * test_placement.c pins them with golden rankings.
 */
#include <stdlib.h>

#include "internal.h"

struct scored {
	uint64_t score;
	mfs_node_t id;
};

static uint64_t score(const struct mfs_hash *h, mfs_node_t id)
{
	return mfs_xxh64(h->b, MFS_HASH_LEN, id);
}

/* Does (sa, a) rank before (sb, b)? */
static int before(uint64_t sa, mfs_node_t a, uint64_t sb, mfs_node_t b)
{
	return sa != sb ? sa > sb : a < b;
}

static int by_score_desc(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;

	if (x->score == y->score && x->id == y->id)
		return 0;
	return before(x->score, x->id, y->score, y->id) ? -1 : 1;
}

/* The same order, scoring as it compares: slower, but needs no memory. */
static int by_hash_score_desc(const void *a, const void *b, void *arg)
{
	mfs_node_t x = *(const mfs_node_t *)a, y = *(const mfs_node_t *)b;

	if (x == y)
		return 0;
	return before(score(arg, x), x, score(arg, y), y) ? -1 : 1;
}

void place_rank(const struct mfs_hash *h, mfs_node_t *ids, int n)
{
	struct scored stack[MFS_MAX_NODES], *s = stack;

	if (n <= 0)
		return;
	/* Every node must rank all the ids it is given, however many: a
	 * ranking cut at a fixed size depends on the order of the list. */
	if (n > MFS_MAX_NODES && !(s = malloc(sizeof(*s) * (size_t)n))) {
		qsort_r(ids, (size_t)n, sizeof(*ids), by_hash_score_desc, (void *)h);
		return;
	}
	for (int i = 0; i < n; i++) {
		s[i].score = score(h, ids[i]);
		s[i].id = ids[i];
	}
	qsort(s, (size_t)n, sizeof(s[0]), by_score_desc);
	for (int i = 0; i < n; i++)
		ids[i] = s[i].id;
	if (s != stack)
		free(s);
}

int place_top(const struct mfs_hash *h, const mfs_node_t *ids, int n, mfs_node_t *out, int r)
{
	uint64_t sc[MFS_MAX_NODES];
	int kept = 0;

	if (r > MFS_MAX_NODES)
		r = MFS_MAX_NODES;
	/* Insertion into the r best so far: most ids lose to the r-th at once. */
	for (int i = 0; i < n && r > 0; i++) {
		uint64_t s = score(h, ids[i]);
		int at = kept;

		while (at > 0 && before(s, ids[i], sc[at - 1], out[at - 1]))
			at--;
		if (at >= r)
			continue;
		for (int j = (kept < r ? kept : r - 1); j > at; j--) {
			sc[j] = sc[j - 1];
			out[j] = out[j - 1];
		}
		sc[at] = s;
		out[at] = ids[i];
		if (kept < r)
			kept++;
	}
	return kept;
}

int place_owns(const struct mfs_hash *h, mfs_node_t self, const mfs_node_t *ids, int n, int repl)
{
	uint64_t mine = score(h, self);
	int present = 0, ahead = 0;

	/* self's place in the ranking is the number of ids ranked before it. */
	for (int i = 0; i < n; i++) {
		if (ids[i] == self)
			present = 1;
		else
			ahead += before(score(h, ids[i]), ids[i], mine, self);
	}
	return present && ahead < repl;
}
