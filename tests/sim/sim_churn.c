/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The phases of a namespace run:
 *   1. writers write `ops` operations; rounds until converged (a cluster
 *      started together: every node but the writers starts empty);
 *   2. churn: each churn round some nodes leave (without drain: their ops
 *      no one pulled yet are lost, and counted), fresh empty nodes join,
 *      random live nodes write, then one round runs; after the last churn
 *      round's events, rounds until converged again;
 *   3. every live node's tree is digested: converged must mean one tree.
 * A round counts as one heartbeat of replica/sync.c; rounds are the figure
 * that carries to a real cluster (times the heartbeat), wall time is this
 * process doing every node's work in turn.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim_ns.h"

/* Joiners that hold, after this round, everything known when they joined. */
static void track_joiners(struct sim *s, int round)
{
	for (size_t i = 0; i < s->n; i++) {
		struct snode *n = s->nodes[i];

		if (n->live && n->joined >= 0 && n->caught_up < 0 && sim_caught_up(s, n)) {
			n->caught_up = round - n->joined + 1;
			if (n->caught_up > s->res->join_rounds_max)
				s->res->join_rounds_max = n->caught_up;
		}
	}
}

/* Rounds until converged (ph->rounds, -1 past max_rounds); *round counts every round run. */
static int converge(struct sim *s, struct sim_phase *ph, int *round)
{
	double t0 = sim_now(), c0 = sim_cpu();
	int rc = 0, r;

	ph->rounds = -1;
	for (r = 0; r < s->o->max_rounds && !sim_converged(s); r++) {
		if ((rc = sim_round(s)))
			break;
		track_joiners(s, (*round)++);
	}
	if (!rc && sim_converged(s))
		ph->rounds = r;
	ph->wall_s += sim_now() - t0;
	ph->cpu_s += sim_cpu() - c0;
	return rc;
}

static int write_ops(struct sim *s, int count, int among)
{
	for (int i = 0; i < count; i++) {
		struct snode *n = among ? s->nodes[sim_below(&s->rng, (uint64_t)among)]
					: s->live[sim_below(&s->rng, s->nlive)];
		int rc = sim_write(s, n);

		/* Refusals of the namespace (ENOENT, EEXIST) are outcomes, not failures. */
		if (rc == -ENOMEM)
			return rc;
	}
	return 0;
}

static struct snode *random_live(struct sim *s)
{
	struct snode *n;

	do
		n = s->nodes[sim_below(&s->rng, s->n)];
	while (!n->live);
	return n;
}

/* One churn round's events: leaves, joins, writes. */
static int churn_events(struct sim *s, int round)
{
	int rc = 0;

	for (int i = 0; i < s->o->leaves && s->nlive > 2; i++) {
		sim_leave(s, random_live(s));
		s->res->left++;
	}
	for (int i = 0; i < s->o->joins && !rc; i++) {
		struct snode *n;

		if (!(rc = sim_join(s, &n))) {
			n->joined = round;
			rc = sim_set_target(s, n);
			s->res->joined++;
		}
	}
	return rc ? rc : write_ops(s, s->o->churn_ops, 0);
}

static int compare_trees(struct sim *s)
{
	uint64_t first = 0;
	int seen = 0;

	s->res->same_trees = 1;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t d;

		if (!s->nodes[i]->live)
			continue;
		if (sim_tree_digest(s->nodes[i], &d) || (seen && d != first))
			s->res->same_trees = 0;
		first = seen++ ? first : d;
	}
	return 0;
}

static uint64_t rss_bytes(void)
{
	unsigned long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

int sim_ns_run(const struct sim_ns_opts *o, struct sim_ns_result *res)
{
	struct sim s;
	int rc, round = 0;

	memset(res, 0, sizeof(*res));
	if (o->nodes < 2 || o->fanout < 0 || o->writers < 1 || o->writers > o->nodes)
		return -EINVAL;
	if ((rc = sim_init(&s, o, res)))
		goto out;
	for (size_t i = 0; i < s.n; i++)
		s.nodes[i]->joined = -1;
	s.phase = &res->initial;
	if ((rc = write_ops(&s, o->ops, o->writers)) || (rc = converge(&s, &res->initial, &round)))
		goto out;
	s.phase = &res->churn;
	for (int c = 0; c < o->churn_rounds && !rc; c++) {
		double t0 = sim_now(), c0 = sim_cpu();

		rc = churn_events(&s, round);
		if (!rc && c < o->churn_rounds - 1 && !(rc = sim_round(&s)))
			track_joiners(&s, round++);
		res->churn.wall_s += sim_now() - t0;
		res->churn.cpu_s += sim_cpu() - c0;
	}
	if (rc || (rc = converge(&s, &res->churn, &round)))
		goto out;
	for (size_t i = 0; i < s.n; i++)
		res->joiners_behind += s.nodes[i]->live && s.nodes[i]->joined >= 0 &&
				       s.nodes[i]->caught_up < 0;
	res->origins = s.norigins;
	res->ops_total = s.total;
	res->nodes_end = (int)s.nlive;
	rc = compare_trees(&s);
	res->mem_bytes = rss_bytes();
out:
	sim_free(&s);
	return rc;
}
