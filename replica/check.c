/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copies across the cluster (store/maint/copies.h), for fsck and info: each node
 * answers CHECK for its own copies; the asker queries every peer at once,
 * one thread per peer, in batches.  With MFS_COPY_REPAIR a node also queues
 * what it owns and lacks, and its bad copies for replacement (repair.c).
 * Nothing is ever deleted on another node's say.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "check"
/* A deep check decodes and re-hashes every chunk: smaller batches, longer waits. */
#define BATCH_SHALLOW 256
#define BATCH_DEEP 32
/* A batch takes well under a second on a healthy node; a dead one costs this, once. */
#define TIMEOUT_MIN_MS 10000

int check_local(struct mfs_replica *r, const struct mfs_copy_query *q, size_t n, unsigned flags,
		uint8_t *st)
{
	mfs_node_t ids[MFS_MAX_NODES];
	int nids = (flags & MFS_COPY_OWNED) ? placement_nodes(r, ids, MFS_MAX_NODES) : 0;

	for (size_t i = 0; i < n; i++) {
		int s = mfs_copy_state_local(r->db, &q[i].h, q[i].raw_len,
					     flags & (MFS_COPY_DEEP | MFS_COPY_QUICK));

		if (s < 0)
			return s;
		if (s == MFS_COPY_ABSENT && mfs_diskcache_has(r->dc, &q[i].h))
			s = MFS_COPY_CACHED;
		/* Asked by a node about to drop its copy: count only copies kept here. */
		if (s == MFS_COPY_STORED && (flags & MFS_COPY_OWNED) &&
		    !place_owns(&q[i].h, r->self, ids, nids, q[i].repl))
			s = MFS_COPY_LOOSE;
		st[i] = (uint8_t)s;
	}
	if (flags & MFS_COPY_REPAIR)
		repair_queue_checked(r, q, n, st);
	return 0;
}

struct peer_job {
	struct mfs_replica *r;
	struct mfs_peer *p;
	const struct mfs_copy_query *q;
	size_t n;
	unsigned flags;
	uint8_t *st;        /* n states, stride `stride` */
	size_t stride;
	pthread_t thread;
};

/* Asks one peer about q[0..n); a peer down or silent leaves MFS_COPY_UNKNOWN. */
static void *ask_peer(void *arg)
{
	struct peer_job *j = arg;
	size_t per = (j->flags & MFS_COPY_DEEP) ? BATCH_DEEP : BATCH_SHALLOW;
	struct mfs_wr w = { 0 };
	int timeout = 10 * j->r->cfg.peer_timeout_ms;

	if (timeout < TIMEOUT_MIN_MS)
		timeout = TIMEOUT_MIN_MS;
	for (size_t i = 0; i < j->n && peer_is_up(j->p); i += per) {
		uint16_t k = (uint16_t)(j->n - i < per ? j->n - i : per);
		const uint8_t *have;
		struct rpc_reply rr;

		w.len = 0;
		mfs_wire_check_encode((uint8_t)j->flags, j->q + i, k, &w);
		if (w.oom || rpc_call(j->r, j->p, MFS_MSG_CHECK, 0, w.buf, w.len, timeout, &rr))
			break;
		if (rr.h.type != MFS_MSG_HAVE ||
		    mfs_wire_have_decode(zmq_msg_data(&rr.body), zmq_msg_size(&rr.body), k, &have)) {
			__atomic_add_fetch(&j->r->malformed, 1, __ATOMIC_RELAXED);
			log_warn("%s: malformed reply to CHECK, dropped", j->p->endpoint);
			rpc_reply_release(&rr);
			break;
		}
		for (uint16_t x = 0; x < k; x++)
			j->st[(i + x) * j->stride] = have[x];
		rpc_reply_release(&rr);
	}
	mfs_wr_release(&w);
	return NULL;
}

/*
 * Each node's copies count once, and not at all while it leaves.  One node
 * may be known by two endpoints (a seed's spelling, its own; placement
 * counts it once, node.c): it answers under both, and gc's trim must not
 * take one holder for two confirming owners.  A later column's answer fills
 * in the first one's if that has none, then is unknown.  Copies on a
 * draining or removed node (by any of its entries: an entry's state is
 * "active" until a record says otherwise) are on their way out: like disk
 * cache copies they are there but do not count (fsck is clean after a
 * drain only once the next owners hold every chunk).
 */
static void count_nodes_once(struct mfs_replica *r, int np, uint8_t *st, size_t n, size_t stride)
{
	uint16_t ids[MFS_MAX_NODES];
	uint8_t placed[MFS_MAX_NODES];

	ids[0] = r->self;
	placed[0] = member_placed(__atomic_load_n(&r->self_member, __ATOMIC_RELAXED));
	for (int k = 1; k <= np; k++) {
		pthread_mutex_lock(&r->peers[k - 1].lock);
		ids[k] = r->peers[k - 1].id;
		placed[k] = member_placed(r->peers[k - 1].member);
		pthread_mutex_unlock(&r->peers[k - 1].lock);
	}
	for (int k = 1; k <= np; k++) {
		int j = 0;

		while (j < k && (!ids[k] || ids[j] != ids[k]))
			j++;
		if (j == k)
			continue;
		placed[j] &= placed[k];
		placed[k] = 1; /* its answers go to column j */
		for (size_t i = 0; i < n; i++) {
			uint8_t *first = &st[i * stride + (size_t)j], *dup = &st[i * stride + (size_t)k];

			if (*first == MFS_COPY_UNKNOWN)
				*first = *dup;
			*dup = MFS_COPY_UNKNOWN;
		}
	}
	for (int k = 0; k <= np; k++)
		for (size_t i = 0; !placed[k] && i < n; i++)
			if (st[i * stride + (size_t)k] == MFS_COPY_STORED)
				st[i * stride + (size_t)k] = MFS_COPY_CACHED;
}

int mfs_replica_check(struct mfs_replica *r, int nodes, const struct mfs_copy_query *q, size_t n,
		      unsigned flags, uint8_t *st)
{
	int np = nodes - 1;
	size_t stride = (size_t)nodes;
	struct peer_job *jobs;
	uint8_t *mine;
	int rc = -ENOMEM;

	if (nodes < 1 || np > peer_count(r))
		return -EINVAL;
	jobs = calloc((size_t)nodes, sizeof(*jobs));
	mine = malloc(n ? n : 1);
	if (!jobs || !mine)
		goto out;
	memset(st, MFS_COPY_UNKNOWN, n * stride);
	for (int k = 0; k < np; k++) {
		jobs[k] = (struct peer_job){ r, &r->peers[k], q, n, flags, st + k + 1, stride, 0 };
		if (pthread_create(&jobs[k].thread, NULL, ask_peer, &jobs[k]))
			jobs[k].thread = 0;
	}
	rc = check_local(r, q, n, flags, mine);
	for (size_t i = 0; !rc && i < n; i++)
		st[i * stride] = mine[i];
	for (int k = 0; k < np; k++)
		if (jobs[k].thread)
			pthread_join(jobs[k].thread, NULL);
	if (!rc)
		count_nodes_once(r, np, st, n, stride);
out:
	free(jobs);
	free(mine);
	return rc;
}

int mfs_replica_nodes(struct mfs_replica *r, mfs_node_t *ids, uint8_t *up, int cap)
{
	int n = 0;

	if (cap < 1)
		return 0;
	ids[n] = r->self;
	up[n++] = 1;
	for (int k = 0, np = peer_count(r); k < np && n < cap; k++, n++) {
		struct mfs_peer *p = &r->peers[k];

		pthread_mutex_lock(&p->lock);
		ids[n] = p->id;
		pthread_mutex_unlock(&p->lock);
		up[n] = (uint8_t)peer_is_up(p);
	}
	return n;
}

const char *mfs_replica_endpoint(struct mfs_replica *r, int k)
{
	return k == 0 ? r->cfg.listen : r->peers[k - 1].endpoint;
}

int mfs_replica_owners(struct mfs_replica *r, const struct mfs_hash *h, int repl, mfs_node_t *ids,
		       int cap)
{
	mfs_node_t all[MFS_MAX_NODES];
	int n = placement_nodes(r, all, MFS_MAX_NODES);

	place_rank(h, all, n);
	if (n > repl)
		n = repl;
	if (n > cap)
		n = cap;
	memcpy(ids, all, (size_t)n * sizeof(*ids));
	return n;
}
