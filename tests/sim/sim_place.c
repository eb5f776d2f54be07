/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Placement under churn, on replica/placement.c itself.  A cluster of node
 * ids places a set of chunk hashes; then nodes join and leave, alternating,
 * and after each event every chunk's owners are computed again and compared
 * with the owners before it:
 *   - copies moved: owners in the new set that were not in the old one,
 *     over all copies (chunks x R).  The least any placement can move is the
 *     churned node's fair share, 1/N (N the larger of the two sizes): the
 *     joiner must receive its share, the leaver's share must go somewhere.
 *   - chunks whose owner set changed (R/N at best: a copy moves in each).
 *   - stray moves: a copy that went to a node other than the joiner, or a
 *     chunk that changed though the leaver did not own it.  Rendezvous
 *     placement makes none; mod-N hashing makes almost nothing else.
 * At the end, the load of each node against the mean, at R = 1 and R = 3.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/internal.h"
#include "sim.h"
#include "store/base/hash.h"

struct place_state {
	const struct sim_place_opts *o;
	struct mfs_hash *h;          /* chunks */
	mfs_node_t *ids;             /* members now */
	int n, cap;
	mfs_node_t *given;           /* ids ever given out (ngiven, cap of them) */
	int ngiven;
	mfs_node_t *own, *nxt;       /* chunks x SIM_MAX_R owners, best first */
	uint64_t rng;
	double place_s;              /* CPU time in the placement calls */
	uint64_t placed;             /* owner sets computed */
};

/* The owners of every chunk at factor SIM_MAX_R (the first of them: R = 1). */
static void place_all(struct place_state *s, mfs_node_t *out)
{
	double t0 = sim_cpu();
	int r = s->n < SIM_MAX_R ? s->n : SIM_MAX_R;

	for (int c = 0; c < s->o->chunks; c++) {
		mfs_node_t *o = out + (size_t)c * SIM_MAX_R;

		memset(o, 0, SIM_MAX_R * sizeof(*o));
		place_top(&s->h[c], s->ids, s->n, o, r);
	}
	s->place_s += sim_cpu() - t0;
	s->placed += (uint64_t)s->o->chunks;
}

static int in_set(const mfs_node_t *set, int r, mfs_node_t id)
{
	for (int i = 0; i < r; i++)
		if (set[i] == id)
			return 1;
	return 0;
}

/* Compares own (before) with nxt (after) for one event of node `id`. */
static void tally(struct place_state *s, struct sim_move *mv, int join, mfs_node_t id, int n_big)
{
	for (int k = 0; k < 2; k++) {
		int r = k ? SIM_MAX_R : 1;
		uint64_t moved = 0, changed = 0;
		double frac;

		if (r > n_big - 1)
			r = n_big - 1; /* both sizes must hold r owners to compare */
		for (int c = 0; c < s->o->chunks; c++) {
			const mfs_node_t *old = s->own + (size_t)c * SIM_MAX_R;
			const mfs_node_t *new = s->nxt + (size_t)c * SIM_MAX_R;
			uint64_t m = 0;

			for (int i = 0; i < r; i++)
				if (!in_set(old, r, new[i])) {
					m++;
					mv[k].stray += join && new[i] != id;
				}
			if (!join && m)
				mv[k].stray += in_set(old, r, id) ? m - 1 : m;
			moved += m;
			changed += m > 0;
		}
		frac = (double)moved / ((double)s->o->chunks * r);
		mv[k].events++;
		mv[k].frac_sum += frac;
		if (frac * n_big > mv[k].ratio_max)
			mv[k].ratio_max = frac * n_big;
		mv[k].chunks_sum += (double)changed / s->o->chunks;
		mv[k].ideal_sum += 1.0 / n_big;
	}
}

/* A node id never used before in this run (64 bits, as keys give them; 0 means none). */
static mfs_node_t fresh_id(struct place_state *s)
{
	for (;;) {
		mfs_node_t id = sim_rand(&s->rng);

		if (id && !in_set(s->given, s->ngiven, id)) {
			s->given[s->ngiven++] = id;
			return id;
		}
	}
}

static void swap_owners(struct place_state *s)
{
	mfs_node_t *t = s->own;

	s->own = s->nxt;
	s->nxt = t;
}

static void churn(struct place_state *s, struct sim_place_result *res)
{
	for (int e = 0; e < 2 * s->o->events; e++) {
		if (e % 2 == 0) {
			mfs_node_t id = fresh_id(s);

			s->ids[s->n++] = id;
			place_all(s, s->nxt);
			tally(s, res->join, 1, id, s->n);
		} else {
			int i = (int)sim_below(&s->rng, (uint64_t)s->n);
			mfs_node_t id = s->ids[i];

			/* Any order: placement must not depend on it. */
			s->ids[i] = s->ids[--s->n];
			place_all(s, s->nxt);
			tally(s, res->leave, 0, id, s->n + 1);
		}
		swap_owners(s);
	}
}

/* Where id is among the members (s->n of them), or -1. */
static int member_index(const struct place_state *s, mfs_node_t id)
{
	for (int j = 0; j < s->n; j++)
		if (s->ids[j] == id)
			return j;
	return -1;
}

/* Per-node copy counts over the mean, at R = 1 and R = SIM_MAX_R. */
static int measure_load(struct place_state *s, struct sim_place_result *res)
{
	uint32_t *cnt = calloc((size_t)s->n * 2, sizeof(*cnt));

	if (!cnt)
		return -ENOMEM;
	for (int c = 0; c < s->o->chunks; c++)
		for (int i = 0; i < SIM_MAX_R && i < s->n; i++) {
			int j = member_index(s, s->own[(size_t)c * SIM_MAX_R + i]);

			if (j >= 0)
				cnt[(size_t)s->n * (i > 0) + (size_t)j]++;
		}
	for (int k = 0; k < 2; k++) {
		int r = k ? SIM_MAX_R : 1;
		double mean = (double)s->o->chunks * (r < s->n ? r : s->n) / s->n;
		uint32_t lo = UINT32_MAX, hi = 0;

		for (int j = 0; j < s->n; j++) {
			uint32_t v = cnt[j] + (k ? cnt[(size_t)s->n + (size_t)j] : 0);

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
			res->empty_nodes += !k && v == 0;
		}
		res->load_max[k] = hi / mean;
		res->load_min[k] = lo / mean;
	}
	free(cnt);
	return 0;
}

static int make_hashes(struct place_state *s)
{
	for (int c = 0; c < s->o->chunks; c++) {
		uint64_t v = sim_rand(&s->rng);

		if (mfs_sha256(&v, sizeof(v), &s->h[c]))
			return -ENOMEM;
	}
	return 0;
}

int sim_place_run(const struct sim_place_opts *o, struct sim_place_result *res)
{
	struct place_state s = { .o = o, .rng = o->seed | 1 };
	double t0 = sim_now(), c0 = sim_cpu();
	size_t nown = (size_t)o->chunks * SIM_MAX_R;
	int rc = -ENOMEM;

	memset(res, 0, sizeof(*res));
	if (o->nodes < SIM_MAX_R + 1 || o->nodes + o->events > 65000 || o->chunks < 1)
		return -EINVAL;
	s.cap = o->nodes + o->events;
	s.h = malloc(sizeof(*s.h) * (size_t)o->chunks);
	s.ids = malloc(sizeof(*s.ids) * (size_t)s.cap);
	s.given = malloc(sizeof(*s.given) * (size_t)s.cap);
	s.own = malloc(sizeof(*s.own) * nown);
	s.nxt = malloc(sizeof(*s.nxt) * nown);
	if (!s.h || !s.ids || !s.given || !s.own || !s.nxt || make_hashes(&s))
		goto out;
	while (s.n < o->nodes)
		s.ids[s.n++] = fresh_id(&s);
	place_all(&s, s.own);
	churn(&s, res);
	if ((rc = measure_load(&s, res)))
		goto out;
	res->nodes_end = s.n;
	res->us_per_chunk = s.place_s * 1e6 / (double)s.placed;
	res->wall_s = sim_now() - t0;
	res->cpu_s = sim_cpu() - c0;
out:
	free(s.h);
	free(s.ids);
	free(s.given);
	free(s.own);
	free(s.nxt);
	return rc;
}
