/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace convergence under churn.  Every node is a real namespace
 * (store/namespace.h) on its own in-memory store; nodes write with the
 * namespace's own operations, and exchange ops the way replica/sync.c and
 * replica/server.c do, minus the sockets:
 *   - the puller sends its version vector (mfs_ns_vv, at most
 *     MFS_WIRE_MAX_VV origins) encoded as a PULL (replica/wire.c);
 *   - the peer answers like handle_pull: for each origin it holds, the ops
 *     after the puller's seq, except the puller's own, up to
 *     MFS_WIRE_OPS_BUDGET bytes per reply, encoded as OPS;
 *   - the puller decodes and applies each op with mfs_ns_apply, and pulls
 *     again while the reply says more (sync_main's loop).
 * A round: every live node, in random order, pulls from `fanout` random
 * live peers (sync.c pulls from every configured peer each heartbeat; a
 * round is one heartbeat).  Converged: every live node holds, for every
 * origin, the highest seq any live node holds.  Then the trees are compared
 * (sim_tree.c): converged must mean the same tree everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replica/wire.h"
#include "sim.h"
#include "sim_ns.h"
#include "store/base/errors.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"

/* ---- nodes --------------------------------------------------------------- */

/* A fresh node whose id no node of this run had (ops of departed nodes live on). */
/* Where id is in s->ids (ascending), or -1. */
static long id_index(const struct sim *s, mfs_node_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->ids[lo] == id ? (long)lo : -1;
}

/* Adds id to s->ids in order, before the node joins s->nodes (s->n counts both). */
static int id_add(struct sim *s, mfs_node_t id)
{
	size_t at = 0;

	if (mfs_grow(&s->ids, &s->idcap, s->n, sizeof(*s->ids)))
		return -ENOMEM;
	while (at < s->n && s->ids[at] < id)
		at++;
	memmove(s->ids + at + 1, s->ids + at, (s->n - at) * sizeof(*s->ids));
	s->ids[at] = id;
	free(s->maxseq);
	return (s->maxseq = calloc(s->idcap, sizeof(*s->maxseq))) ? 0 : -ENOMEM;
}

static int node_new(struct sim *s, struct snode **out)
{
	struct snode *n;

	*out = NULL;
	if (mfs_grow(&s->nodes, &s->cap, s->n, sizeof(*s->nodes)) ||
	    !(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	for (int tries = 0; tries < 1000; tries++) {
		uint16_t sp;
		int rc;

		if ((rc = mfs_db_open_mem(&n->db)) || (rc = mfs_ns_open(n->db, &n->ns))) {
			mfs_db_close(n->db);
			free(n);
			return rc;
		}
		n->id = mfs_ns_node_id(n->ns);
		/* Spaces too: the sim has no messages to settle a shared one (replica/spaces.c). */
		sp = mfs_ns_space(n->ns);
		if (id_index(s, n->id) < 0 && !(s->spaces_used[sp / 8] & (1u << (sp % 8)))) {
			s->spaces_used[sp / 8] |= (uint8_t)(1u << (sp % 8));
			if ((rc = id_add(s, n->id))) {
				mfs_ns_close(n->ns);
				mfs_db_close(n->db);
				free(n);
				return rc;
			}
			n->live = 1;
			n->caught_up = -1;
			s->nodes[s->n++] = n;
			*out = n;
			return 0;
		}
		mfs_ns_close(n->ns);
		mfs_db_close(n->db);
	}
	free(n);
	return -EEXIST;
}

static void node_free(struct snode *n)
{
	if (!n)
		return;
	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	free(n->target_o);
	free(n->target_s);
	free(n);
}

/* The live nodes, into s->live (s->nlive). */
static int list_live(struct sim *s)
{
	s->nlive = 0;
	if (s->n > s->livecap) {
		free(s->live);
		free(s->pick);
		s->livecap = s->n;
		s->live = malloc(sizeof(*s->live) * s->livecap);
		s->pick = malloc(sizeof(*s->pick) * s->livecap);
		if (!s->live || !s->pick) {
			s->livecap = 0;
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->nodes[i]->live)
			s->live[s->nlive++] = s->nodes[i];
	return 0;
}

/* ---- the PULL exchange ------------------------------------------------------ */

/* What server.c's handle_pull answers to a PULL body from node `from`. */
static int serve_pull(struct snode *srv, mfs_node_t from, const uint8_t *body, size_t blen,
		      struct mfs_wire_ops_acc *a)
{
	struct mfs_wire_vv *theirs = malloc(sizeof(*theirs));
	mfs_node_t origins[MFS_WIRE_MAX_VV];
	uint64_t seqs[MFS_WIRE_MAX_VV];
	int n, rc = 0;

	if (!theirs)
		return -ENOMEM;
	if ((rc = mfs_wire_pull_decode(body, blen, theirs)))
		goto out;
	if ((n = mfs_ns_vv(srv->ns, origins, seqs, MFS_WIRE_MAX_VV)) < 0) {
		rc = n;
		goto out;
	}
	mfs_wire_ops_begin(&a->w);
	for (int i = 0; i < n && !a->more && !rc; i++) {
		uint64_t have = 0;

		for (int k = 0; k < theirs->n; k++)
			if (theirs->origin[k] == origins[i])
				have = theirs->seq[k];
		if (origins[i] != from && seqs[i] > have)
			rc = mfs_ns_ops_since(srv->ns, origins[i], have, mfs_wire_ops_acc_add, a);
	}
	mfs_wire_ops_finish(&a->w, a->count, a->more);
	if (!rc && a->w.oom)
		rc = -ENOMEM;
out:
	free(theirs);
	return rc;
}

/* Applies an OPS reply; 1 if the peer has more, 0, or an error. */
static int apply_reply(struct sim *s, struct snode *to, const uint8_t *p, size_t len)
{
	struct mfs_wire_ops it;
	int rc;

	if ((rc = mfs_wire_ops_decode(p, len, &it)))
		return rc;
	for (;;) {
		mfs_node_t origin;
		uint64_t seq;
		const uint8_t *op;
		size_t oplen;

		if ((rc = mfs_wire_ops_next(&it, &origin, &seq, &op, &oplen)) <= 0)
			break;
		rc = mfs_ns_apply(to->ns, origin, seq, op, oplen, NULL, NULL);
		if (rc) {
			s->res->apply_errors += rc != -EAGAIN;
			break;
		}
		s->phase->applied++;
	}
	return rc ? rc : it.more;
}

/* sync.c's pull_once: one PULL round trip from `to` to `from`. */
static int pull_once(struct sim *s, struct snode *to, struct snode *from)
{
	struct mfs_wire_vv *vv = malloc(sizeof(*vv));
	struct mfs_wire_ops_acc a = { .budget = MFS_WIRE_OPS_BUDGET };
	struct mfs_wr w = { 0 };
	int rc, n;

	if (!vv)
		return -ENOMEM;
	n = mfs_ns_vv(to->ns, vv->origin, vv->seq, MFS_WIRE_MAX_VV);
	vv->n = n < 0 ? 0 : (uint16_t)n;
	mfs_wire_pull_encode(vv, &w);
	free(vv);
	s->phase->req_bytes += w.len;
	rc = w.oom ? -ENOMEM : serve_pull(from, to->id, w.buf, w.len, &a);
	mfs_wr_release(&w);
	if (!rc) {
		s->phase->pulls++;
		s->phase->bytes += a.w.len;
		rc = apply_reply(s, to, a.w.buf, a.w.len);
	}
	mfs_wr_release(&a.w);
	return rc;
}

/* sync_main's loop for one peer in one heartbeat. */
static int pull(struct sim *s, struct snode *to, struct snode *from)
{
	int rc, rounds = 0;

	do
		rc = pull_once(s, to, from);
	while (rc == 1 && ++rounds < 1000);
	return rc < 0 && rc != -EAGAIN ? rc : 0;
}

/* Puts the live node indexes but i into s->pick, first k of them at random. */
static void pick_peers(struct sim *s, size_t i, int k)
{
	size_t m = 0;

	for (size_t j = 0; j < s->nlive; j++)
		if (j != i)
			s->pick[m++] = j;
	for (int p = 0; p < k; p++) {
		size_t j = (size_t)p + sim_below(&s->rng, m - (size_t)p), t = s->pick[p];

		s->pick[p] = s->pick[j];
		s->pick[j] = t;
	}
}

/*
 * One heartbeat: every live node, in random order, pulls from fanout
 * distinct random live peers (fanout 0: from every one, as sync.c does
 * with every configured peer).
 */
int sim_round(struct sim *s)
{
	int rc = list_live(s);

	for (size_t i = s->nlive; !rc && i > 1; i--) {
		size_t j = sim_below(&s->rng, i);
		struct snode *t = s->live[i - 1];

		s->live[i - 1] = s->live[j];
		s->live[j] = t;
	}
	for (size_t i = 0; !rc && i < s->nlive; i++) {
		int k = (int)s->nlive - 1;

		if (s->o->fanout > 0 && s->o->fanout < k)
			k = s->o->fanout;
		pick_peers(s, i, k);
		for (int p = 0; p < k && !rc; p++)
			rc = pull(s, s->live[i], s->live[s->pick[p]]);
	}
	return rc;
}

/* ---- convergence ------------------------------------------------------------ */

/*
 * The checks read whole version vectors (SIM_VV_ALL origins), not the
 * MFS_WIRE_MAX_VV that a PULL carries: they are the oracle, and must see
 * what the protocol may miss.  Origins are node ids (64 bits): s->maxseq is
 * indexed by their place in s->ids.
 */
#define SIM_VV_ALL 65536

/* The highest seq per origin over live nodes, into s->maxseq; returns their sum. */
static uint64_t union_vv(struct sim *s)
{
	uint64_t sum = 0;

	memset(s->maxseq, 0, sizeof(*s->maxseq) * s->n);
	for (size_t i = 0; i < s->nlive; i++) {
		int k = mfs_ns_vv(s->live[i]->ns, s->vo, s->vs, SIM_VV_ALL);

		for (int j = 0; j < k; j++) {
			long x = id_index(s, s->vo[j]);

			if (x >= 0 && s->vs[j] > s->maxseq[x])
				s->maxseq[x] = s->vs[j];
		}
	}
	s->norigins = 0;
	for (size_t i = 0; i < s->n; i++) {
		sum += s->maxseq[i];
		s->norigins += s->maxseq[i] > 0;
	}
	s->total = sum;
	return sum;
}

static uint64_t vv_sum(struct sim *s, struct snode *n)
{
	uint64_t sum = 0;
	int k = mfs_ns_vv(n->ns, s->vo, s->vs, SIM_VV_ALL);

	for (int j = 0; j < k; j++)
		sum += s->vs[j];
	return sum;
}

/*
 * Does every live node hold every op a live node holds?  A node holds a
 * prefix of each origin's ops, never more than the highest, so equal sums
 * mean equal vectors.
 */
int sim_converged(struct sim *s)
{
	uint64_t want;

	if (list_live(s))
		return 0;
	want = union_vv(s);
	for (size_t i = 0; i < s->nlive; i++)
		if (vv_sum(s, s->live[i]) != want)
			return 0;
	return 1;
}

/* Remembers, for a joiner, every op known anywhere now: it has caught up when it holds them. */
int sim_set_target(struct sim *s, struct snode *n)
{
	if (list_live(s))
		return -ENOMEM;
	union_vv(s);
	n->ntarget = 0;
	n->target_o = malloc(sizeof(*n->target_o) * (s->norigins + 1));
	n->target_s = malloc(sizeof(*n->target_s) * (s->norigins + 1));
	if (!n->target_o || !n->target_s)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (s->maxseq[i]) {
			n->target_o[n->ntarget] = s->ids[i];
			n->target_s[n->ntarget++] = s->maxseq[i];
		}
	return 0;
}

/* Has joiner n caught up with its target?  (Ops of departed nodes count too:
 * someone live still held them when it joined.) */
int sim_caught_up(struct sim *s, struct snode *n)
{
	int k = mfs_ns_vv(n->ns, s->vo, s->vs, SIM_VV_ALL), j = 0;

	/* Both lists ascend by origin. */
	for (size_t t = 0; t < n->ntarget; t++) {
		while (j < k && s->vo[j] < n->target_o[t])
			j++;
		if (j == k || s->vo[j] != n->target_o[t] || s->vs[j] < n->target_s[t])
			return 0;
	}
	return 1;
}

/* Node n leaves (a crash, or a leave without drain): its unpulled ops are lost. */
void sim_leave(struct sim *s, struct snode *n)
{
	uint64_t mine = mfs_ns_seq(n->ns), best = 0;

	n->live = 0;
	if (list_live(s))
		return;
	union_vv(s);
	best = id_index(s, n->id) >= 0 ? s->maxseq[id_index(s, n->id)] : 0;
	if (mine > best)
		s->res->ops_lost += mine - best;
	mfs_ns_close(n->ns);
	mfs_db_close(n->db);
	n->ns = NULL;
	n->db = NULL;
}

int sim_join(struct sim *s, struct snode **out)
{
	return node_new(s, out);
}

void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++)
		node_free(s->nodes[i]);
	free(s->nodes);
	free(s->live);
	free(s->pick);
	free(s->ids);
	free(s->maxseq);
	free(s->vo);
	free(s->vs);
}

int sim_init(struct sim *s, const struct sim_ns_opts *o, struct sim_ns_result *res)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->res = res;
	s->rng = o->seed | 1;
	s->vo = malloc(sizeof(*s->vo) * SIM_VV_ALL);
	s->vs = malloc(sizeof(*s->vs) * SIM_VV_ALL);
	if (!s->vo || !s->vs)
		return -ENOMEM;
	for (int i = 0; i < o->nodes; i++) {
		struct snode *n;
		int rc = node_new(s, &n);

		if (rc)
			return rc;
		n->caught_up = 0;
	}
	return list_live(s);
}
