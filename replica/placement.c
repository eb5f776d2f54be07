/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendezvous (highest random weight) placement: every node scores a chunk
 * with XXH64(chunk hash, seed = node id); the chunk's owners are the R
 * best.  Raising R adds the next nodes and never moves a chunk between the
 * first ones, and a node joining or leaving moves only the chunks it wins
 * or held.  No table to agree on: every node computes the same ranking from
 * the same set of node ids.
 */
#include <stdlib.h>

#include "internal.h"

struct scored {
	uint64_t score;
	uint16_t id;
};

static int by_score_desc(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void place_rank(const struct mfs_hash *h, uint16_t *ids, int n)
{
	struct scored s[MFS_MAX_NODES];

	if (n > MFS_MAX_NODES)
		n = MFS_MAX_NODES;
	for (int i = 0; i < n; i++) {
		struct mfs_xxh64_state st;

		mfs_xxh64_init(&st, ids[i]);
		mfs_xxh64_update(&st, h->b, MFS_HASH_LEN);
		s[i].score = mfs_xxh64_digest(&st);
		s[i].id = ids[i];
	}
	qsort(s, n, sizeof(s[0]), by_score_desc);
	for (int i = 0; i < n; i++)
		ids[i] = s[i].id;
}

int place_owns(const struct mfs_hash *h, uint16_t self, const uint16_t *ids, int n, int repl)
{
	uint16_t ranked[MFS_MAX_NODES];

	if (n > MFS_MAX_NODES)
		n = MFS_MAX_NODES;
	for (int i = 0; i < n; i++)
		ranked[i] = ids[i];
	place_rank(h, ranked, n);
	for (int i = 0; i < n && i < repl; i++)
		if (ranked[i] == self)
			return 1;
	return 0;
}
