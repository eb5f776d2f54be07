/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendezvous placement (replica/placement.c): the ranking of nodes for a
 * chunk is deterministic, a permutation of the nodes given, independent of
 * their order; raising R only adds owners; a node leaving moves only the
 * chunks it ranked first; and the first places are spread evenly.  The same
 * holds past MFS_MAX_NODES nodes, place_top and place_owns agree with the
 * ranking, and golden rankings pin the scores: every node of every build
 * must place a chunk on the same nodes.  (Movement under churn at scale:
 * tests/sim/.)
 */
#include <stdlib.h>
#include <string.h>

#include "replica/internal.h"
#include "tap.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void random_hash(struct mfs_hash *h)
{
	for (int i = 0; i < MFS_HASH_LEN; i += 8) {
		uint64_t v = next();

		memcpy(h->b + i, &v, 8);
	}
}

static int cmp_id(const void *a, const void *b)
{
	mfs_node_t x = *(const mfs_node_t *)a, y = *(const mfs_node_t *)b;

	return (x > y) - (x < y);
}

/* Is r a permutation of ids (n each)? */
static int is_permutation(const mfs_node_t *ids, const mfs_node_t *r, int n)
{
	mfs_node_t a[256], b[256];

	memcpy(a, ids, n * sizeof(*a));
	memcpy(b, r, n * sizeof(*b));
	qsort(a, n, sizeof(*a), cmp_id);
	qsort(b, n, sizeof(*b), cmp_id);
	return !memcmp(a, b, n * sizeof(*a));
}

/* Is id among the first k of ranked? */
static int in_first(const mfs_node_t *ranked, int k, mfs_node_t id)
{
	for (int i = 0; i < k; i++)
		if (ranked[i] == id)
			return 1;
	return 0;
}

static void shuffle(mfs_node_t *ids, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(next() % (uint64_t)(i + 1));
		mfs_node_t t = ids[i];

		ids[i] = ids[j];
		ids[j] = t;
	}
}

/* Rankings computed by the first release of placement.c: never change them. */
static void test_golden(void)
{
	static const mfs_node_t nodes[8] = { 0x1a2b, 7, 0xffff, 1, 0x8000, 0x0100, 42, 0x3c3c };
	static const mfs_node_t want[2][8] = {
		{ 0xffff, 0x0001, 0x0007, 0x1a2b, 0x8000, 0x002a, 0x0100, 0x3c3c },
		{ 0x002a, 0xffff, 0x0001, 0x8000, 0x0100, 0x1a2b, 0x3c3c, 0x0007 },
	};
	struct mfs_hash h;

	for (int k = 0; k < 2; k++) {
		mfs_node_t r[8], top[3];

		for (int i = 0; i < MFS_HASH_LEN; i++)
			h.b[i] = k ? 0xab : (uint8_t)(i * 7 + 1);
		memcpy(r, nodes, sizeof(r));
		place_rank(&h, r, 8);
		ok(!memcmp(r, want[k], sizeof(r)), "golden ranking %d", k);
		is_int(place_top(&h, nodes, 8, top, 3), 3, "place_top keeps 3 of 8");
		ok(!memcmp(top, want[k], sizeof(top)), "... the golden first 3");
	}
}

/*
 * Rankings of 64-bit ids (format 3 and later), pinned when they came: the
 * seed is the id, so 0x1a2b and 42 rank among them as they rank above.
 */
static void test_golden_wide(void)
{
	static const mfs_node_t nodes[6] = { 0x630dcd2966c43366ull, 0x1a2b, 0xffffffffffffffffull,
					     0x10000, 0x8000000000000001ull, 42 };
	static const mfs_node_t want[2][6] = {
		{ 0xffffffffffffffffull, 0x630dcd2966c43366ull, 0x10000ull, 0x1a2bull, 0x2aull,
		  0x8000000000000001ull },
		{ 0x2aull, 0x8000000000000001ull, 0x630dcd2966c43366ull, 0x1a2bull,
		  0xffffffffffffffffull, 0x10000ull },
	};
	struct mfs_hash h;

	for (int k = 0; k < 2; k++) {
		mfs_node_t r[6];

		for (int i = 0; i < MFS_HASH_LEN; i++)
			h.b[i] = k ? 0xab : (uint8_t)(i * 7 + 1);
		memcpy(r, nodes, sizeof(r));
		place_rank(&h, r, 6);
		ok(!memcmp(r, want[k], sizeof(r)), "golden ranking of 64-bit ids %d", k);
	}
}

/* Past MFS_MAX_NODES: every id ranked, whatever the order; place_top and place_owns agree. */
static void test_many(void)
{
	enum { N = 1000 };
	static mfs_node_t nodes[N], a[N], b[N];
	static uint8_t seen[65536];
	int order_dep = 0, not_perm = 0, top_wrong = 0, owns_wrong = 0, late_first = 0;
	struct mfs_hash h;

	for (int i = 0; i < N;) {
		mfs_node_t id = (uint16_t)next();

		if (id && !seen[id]++)
			nodes[i++] = id;
	}
	for (int round = 0; round < 200; round++) {
		mfs_node_t top[8], cnt[65536 / 16] = { 0 };

		random_hash(&h);
		memcpy(a, nodes, sizeof(a));
		memcpy(b, nodes, sizeof(b));
		shuffle(b, N);
		place_rank(&h, a, N);
		place_rank(&h, b, N);
		order_dep += memcmp(a, b, sizeof(a)) != 0;
		for (int i = 0; i < N; i++)
			cnt[a[i] / 16] += 1;
		for (int i = 0; i < N; i++)
			cnt[nodes[i] / 16] -= 1;
		for (int i = 0; i < 65536 / 16; i++)
			not_perm += cnt[i] != 0;
		for (int r = 0; r <= 8; r++) {
			int got = place_top(&h, nodes, N, top, r);

			top_wrong += got != r || memcmp(top, a, (size_t)r * sizeof(*top)) != 0;
		}
		for (int i = 0; i < N; i += 37)
			owns_wrong += place_owns(&h, nodes[i], nodes, N, 3) != in_first(a, 3, nodes[i]);
		late_first += !in_first(nodes, MFS_MAX_NODES, a[0]);
	}
	is_int(order_dep, 0, "1000 nodes: the ranking does not depend on their order");
	is_int(not_perm, 0, "1000 nodes: the ranking is a permutation");
	is_int(top_wrong, 0, "place_top(r) is the first r of place_rank");
	is_int(owns_wrong, 0, "place_owns agrees with place_rank at 1000 nodes");
	/* About 3/4 of the chunks belong to nodes listed after the 256th. */
	ok(late_first > 200 / 2, "nodes listed past the %dth own chunks too (%d of 200)",
	   MFS_MAX_NODES, late_first);
}

int main(void)
{
	static const mfs_node_t nodes[] = { 0x1a2b, 7, 0xffff, 1, 0x8000, 0x0100, 42, 0x3c3c };
	const int N = (int)(sizeof(nodes) / sizeof(nodes[0]));
	int not_det = 0, not_perm = 0, order_dep = 0, not_prefix = 0, moved_wrong = 0,
	    owns_wrong = 0, first_moved = 0;
	int first[5] = { 0 };
	struct mfs_hash h;

	for (int round = 0; round < 2000; round++) {
		mfs_node_t a[8], b[8], c[8], without[7], drop;
		int k = 0;

		random_hash(&h);
		memcpy(a, nodes, sizeof(a));
		memcpy(b, nodes, sizeof(b));
		place_rank(&h, a, N);
		place_rank(&h, b, N);
		not_det += memcmp(a, b, sizeof(a)) != 0;
		not_perm += !is_permutation(nodes, a, N);
		memcpy(c, nodes, sizeof(c));
		shuffle(c, N);
		place_rank(&h, c, N);
		order_dep += memcmp(a, c, sizeof(a)) != 0;

		for (int repl = 0; repl <= N; repl++)
			for (int i = 0; i < N; i++)
				owns_wrong += place_owns(&h, nodes[i], nodes, N, repl) !=
					      in_first(a, repl, nodes[i]);
		for (int repl = 1; repl < N; repl++) {
			/* owners at repl are a subset of owners at repl + 1 */
			for (int i = 0; i < N; i++)
				not_prefix += place_owns(&h, nodes[i], nodes, N, repl) &&
					      !place_owns(&h, nodes[i], nodes, N, repl + 1);
		}

		/* Remove one node: the ranking of the rest is unchanged. */
		drop = nodes[next() % N];
		for (int i = 0; i < N; i++)
			if (nodes[i] != drop)
				without[k++] = nodes[i];
		place_rank(&h, without, k);
		for (int i = 0, j = 0; i < N; i++) {
			if (a[i] == drop)
				continue;
			moved_wrong += without[j++] != a[i];
		}
		/* The first place changes only where the dropped node was first. */
		first_moved += without[0] != a[0] && a[0] != drop;
	}
	is_int(not_det, 0, "place_rank is deterministic");
	is_int(not_perm, 0, "place_rank returns a permutation of its input");
	is_int(order_dep, 0, "place_rank does not depend on the order of its input");
	is_int(owns_wrong, 0, "place_owns(repl) is membership in the first repl of the ranking");
	is_int(not_prefix, 0, "raising R only adds owners");
	is_int(moved_wrong, 0, "removing a node keeps the others' relative order");
	is_int(first_moved, 0, "removing a node moves only chunks it ranked first");

	/* Adding a node: a chunk's first place moves only to the new node. */
	{
		int moved_elsewhere = 0, moved_to_new = 0;

		for (int round = 0; round < 2000; round++) {
			mfs_node_t a[7], b[8];

			random_hash(&h);
			memcpy(a, nodes, sizeof(a));
			memcpy(b, nodes, sizeof(b));
			place_rank(&h, a, 7);
			place_rank(&h, b, 8);
			if (a[0] != b[0]) {
				moved_to_new += b[0] == nodes[7];
				moved_elsewhere += b[0] != nodes[7];
			}
		}
		is_int(moved_elsewhere, 0, "adding a node moves chunks only to it");
		ok(moved_to_new > 2000 / 8 / 2 && moved_to_new < 2000 / 8 * 2,
		   "... about 1/8 of them (%d of 2000)", moved_to_new);
	}

	/* Edge sizes. */
	{
		mfs_node_t one[1] = { 5 }, none[1] = { 9 };

		random_hash(&h);
		place_rank(&h, one, 1);
		is_int(one[0], 5, "a single node ranks first");
		place_rank(&h, none, 0);
		is_int(none[0], 9, "ranking no nodes touches nothing");
		ok(place_owns(&h, 5, one, 1, 3), "a single node owns everything at any R");
		ok(!place_owns(&h, 6, one, 1, 3), "a node not in the set owns nothing");
		ok(!place_owns(&h, 5, one, 1, 0), "R = 0 owns nothing");
	}

	/* Balance: 10,000 hashes over 5 nodes, each first for 20% +- 3%. */
	{
		const mfs_node_t five[5] = { 0x0001, 0x0002, 0x0003, 0x9c41, 0xe0e0 };
		int lo = 10000, hi = 0;

		for (int round = 0; round < 10000; round++) {
			mfs_node_t r[5];

			random_hash(&h);
			memcpy(r, five, sizeof(r));
			place_rank(&h, r, 5);
			for (int i = 0; i < 5; i++)
				first[i] += r[0] == five[i];
		}
		for (int i = 0; i < 5; i++) {
			lo = first[i] < lo ? first[i] : lo;
			hi = first[i] > hi ? first[i] : hi;
		}
		ok(lo >= 1700 && hi <= 2300, "each of 5 nodes is first for 20%% +- 3%% (%d %d %d %d %d)",
		   first[0], first[1], first[2], first[3], first[4]);
	}
	test_golden();
	test_golden_wide();
	test_many();
	return done_testing();
}
