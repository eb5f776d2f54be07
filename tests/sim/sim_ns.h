/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the namespace half of the simulator:
 *   sim_ns.c     nodes, the PULL exchange, rounds, convergence
 *   sim_work.c   what nodes write, and the tree each node shows
 *   sim_churn.c  the phases: write, converge, churn, converge, compare
 */
#ifndef MFS_SIM_NS_H
#define MFS_SIM_NS_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

#include "store/base/node.h"

struct mfs_db;
struct mfs_ns;

struct snode {
	struct mfs_db *db;           /* NULL once it left */
	struct mfs_ns *ns;
	mfs_node_t id;
	int live;
	int joined;                  /* churn round it joined in, or -1 */
	int caught_up;               /* rounds it took to hold its target; -1 not yet */
	mfs_node_t *target_o;        /* what it must hold to have caught up */
	uint64_t *target_s;
	size_t ntarget;
	uint64_t dir;                /* its own directory, 0 until made */
	uint32_t files;              /* files it created there */
};

struct sim {
	const struct sim_ns_opts *o;
	struct sim_ns_result *res;
	struct sim_phase *phase;     /* counters of the phase running */
	uint64_t rng;
	struct snode **nodes;        /* every node ever, live or not */
	size_t n, cap;
	struct snode **live;         /* the live ones (list_live) */
	size_t nlive, livecap;
	size_t *pick;                /* peers to pull from (scratch, livecap) */
	mfs_node_t *ids;             /* every id given out, ascending (n of them) */
	uint64_t *maxseq;            /* per ids[]: union version vector (scratch, idcap) */
	size_t idcap;
	uint8_t spaces_used[8192];   /* inode spaces given out */
	int norigins;                /* origins in it */
	uint64_t total;              /* ops in it */
	mfs_node_t *vo;              /* SIM_VV_ALL: one node's version vector (scratch) */
	uint64_t *vs;
};

int sim_init(struct sim *s, const struct sim_ns_opts *o, struct sim_ns_result *res);
void sim_free(struct sim *s);
int sim_round(struct sim *s);
int sim_converged(struct sim *s);
int sim_join(struct sim *s, struct snode **out);
void sim_leave(struct sim *s, struct snode *n);
int sim_set_target(struct sim *s, struct snode *n);
int sim_caught_up(struct sim *s, struct snode *n);

/* sim_work.c: one namespace operation on n, chosen by the run's generator. */
int sim_write(struct sim *s, struct snode *n);
/* A digest of the tree n shows (names, types, owners, sizes, manifests). */
int sim_tree_digest(struct snode *n, uint64_t *out);

#endif
