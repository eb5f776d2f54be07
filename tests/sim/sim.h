/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scale simulator (HACKING.md, "Tests"): many nodes as in-process
 * objects, on the project's own code.
 *   sim_place.c  chunk placement under join/leave churn (replica/placement.c)
 *   sim_ns.c     namespace convergence by op-log pulls (store/ns_*, the wire
 *                encoding of replica/wire.c, one in-memory store per node)
 *   sim_main.c   options, the tables, and the TAP checks of the smoke run
 * Everything is seeded: the same options give the same figures, except wall
 * times and the node ids the stores draw for themselves.
 */
#ifndef MFS_SIM_H
#define MFS_SIM_H

#include <stdint.h>

/* xorshift64: small, fast, and the same sequence on every machine. */
static inline uint64_t sim_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline uint64_t sim_below(uint64_t *s, uint64_t n)
{
	return n ? sim_rand(s) % n : 0;
}

double sim_now(void);      /* monotonic seconds */
double sim_cpu(void);      /* process CPU seconds */

/* ---- placement ---------------------------------------------------------- */

#define SIM_MAX_R 3        /* factors measured: 1 and SIM_MAX_R */

struct sim_place_opts {
	int nodes;          /* cluster size before churn */
	int chunks;         /* chunk hashes placed */
	int events;         /* joins, and as many leaves, alternating */
	uint64_t seed;
};

/* What one kind of event (join or leave) did at one factor, summed over events. */
struct sim_move {
	int events;
	double frac_sum;                /* copies moved / copies placed */
	double ratio_max;               /* the most one event moved, over its 1/N */
	double chunks_sum;              /* chunks whose owner set changed / chunks */
	double ideal_sum;               /* the churned node's fair share: 1/N */
	uint64_t stray;                 /* moves not to the joiner / not from the leaver */
};

struct sim_place_result {
	struct sim_move join[2], leave[2];   /* [0]: R = 1, [1]: R = SIM_MAX_R */
	double load_max[2], load_min[2];     /* per node, over the mean, at the end */
	int empty_nodes;                     /* nodes owning no chunk at R = 1, at the end */
	int nodes_end;
	double wall_s, cpu_s;
	double us_per_chunk;                 /* CPU of one owner-set computation at N nodes */
};

int sim_place_run(const struct sim_place_opts *o, struct sim_place_result *res);

/* ---- namespace convergence --------------------------------------------- */

struct sim_ns_opts {
	int nodes;          /* initial cluster */
	int fanout;         /* peers each node pulls from per round; 0: all */
	int writers;        /* nodes that write before churn */
	int ops;            /* namespace ops written before churn */
	int churn_rounds;   /* rounds with churn */
	int joins, leaves;  /* per churn round */
	int churn_ops;      /* ops written per churn round, on random live nodes */
	int max_rounds;     /* give up converging after this many rounds */
	uint64_t seed;
};

struct sim_phase {
	int rounds;         /* rounds until every live node held every op (-1: never) */
	double wall_s, cpu_s;
	uint64_t pulls;     /* PULL round trips */
	uint64_t applied;   /* ops applied */
	uint64_t bytes;     /* OPS reply bytes */
	uint64_t req_bytes; /* PULL request bytes (version vectors) */
};

struct sim_ns_result {
	struct sim_phase initial, churn;
	int nodes_end, joined, left;
	int join_rounds_max;         /* rounds a joiner took to hold everything then known */
	int joiners_behind;          /* live joiners that never did */
	uint64_t ops_total;          /* ops in the converged log */
	uint64_t ops_lost;           /* written on nodes that left before anyone pulled them */
	int origins;                 /* distinct origins in the converged version vector */
	int same_trees;              /* every live node shows the same tree */
	int apply_errors;            /* apply results other than 0 and -EAGAIN */
	uint64_t mem_bytes;          /* in-memory stores at the end */
};

int sim_ns_run(const struct sim_ns_opts *o, struct sim_ns_result *res);

/* ---- the report (sim_report.c) ------------------------------------------- */

struct sim_opts {
	struct sim_place_opts place;
	struct sim_ns_opts ns;
	int smoke;          /* TAP lines and make check's thresholds */
	int no_place, no_ns;
};

/* Print the table (and, with smoke, the TAP checks); 1 if a correctness check failed. */
int sim_report_place(const struct sim_opts *o, const struct sim_place_result *r);
int sim_report_ns(const struct sim_opts *o, const struct sim_ns_result *r);
/* TAP lines printed so far. */
int sim_tap_count(void);

#endif
