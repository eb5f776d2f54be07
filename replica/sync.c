/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace sync: one thread per peer pulls, every heartbeat, the ops this
 * node lacks (it sends its version vector, the peer answers with what is
 * newer, a budget at a time).  Ops travel onwards: a node serves every op
 * it holds, whoever originated it, so nodes that cannot see each other
 * still converge through a third.  The pull doubles as the heartbeat: a
 * reply marks the peer up, a timeout marks it down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "store/ns/oplog.h"

#define LOG_COMPONENT "sync"

/* After an op applied: queue the chunks of any version it published that this node owns. */
static void consider_op(struct mfs_replica *r, const uint8_t *raw, size_t len)
{
	struct mfs_op op;

	if (mfs_op_decode(raw, len, &op))
		return;
	for (uint32_t i = 0; i < op.n; i++) {
		const struct mfs_op_entry *e = &op.e[i];
		struct mfs_inode in;

		/* A key allowed may let a member known already be contacted. */
		if (e->kind == MFS_OP_NODE || e->kind == MFS_OP_ALLOW)
			__atomic_store_n(&r->members_dirty, 1, __ATOMIC_RELAXED);
		if (e->kind != MFS_OP_INODE || e->deleted)
			continue;
		if (mfs_inode_decode(get_be64(e->key), e->val, e->vlen, &in))
			continue;
		if (in.has_manifest)
			repair_consider_manifest(r, &in.manifest, in.repl, (uint16_t)(in.ino >> 48));
		mfs_inode_release(&in);
	}
	mfs_op_free_entries(&op);
}

/* One PULL round trip.  1 if the peer has more, 0 if done, 2 if this node
 * must bootstrap from a snapshot first, or an error. */
static int pull_once(struct mfs_replica *r, struct mfs_peer *p)
{
	struct mfs_wire_vv *vv = malloc(sizeof(*vv));
	struct mfs_wr w = { 0 };
	struct rpc_reply rr;
	struct mfs_wire_ops it;
	int rc, n;

	if (!vv)
		return -ENOMEM;
	n = mfs_ns_vv(r->ns, vv->origin, vv->seq, MFS_WIRE_MAX_VV);
	vv->n = n < 0 ? 0 : (uint16_t)n;
	mfs_wire_pull_encode(vv, &w);
	free(vv);
	if (w.oom)
		return -ENOMEM;
	rc = rpc_call(r, p, MFS_MSG_PULL,
		      snap_recently_failed(r) || snap_tail_pending(r) ? MFS_PULL_NOSNAP : 0, w.buf,
		      w.len, r->cfg.peer_timeout_ms, &rr);
	mfs_wr_release(&w);
	if (rc)
		return rc;
	if (rr.h.type != MFS_MSG_OPS ||
	    mfs_wire_ops_decode(zmq_msg_data(&rr.body), zmq_msg_size(&rr.body), &it)) {
		log_warn("%s: malformed reply to PULL, dropped", p->endpoint);
		rpc_reply_release(&rr);
		return MFS_EFORMAT;
	}
	for (;;) {
		mfs_node_t origin;
		uint64_t seq;
		const uint8_t *op;
		size_t len;

		rc = mfs_wire_ops_next(&it, &origin, &seq, &op, &len);
		if (rc <= 0)
			break;
		rc = mfs_ns_apply(r->ns, origin, seq, op, len, r->cfg.on_change, r->cfg.on_change_arg);
		if (rc == MFS_EFORMAT) {
			log_warn("%s: malformed op " MFS_NODE_FMT "/%llu, dropped", p->endpoint, MFS_NODE_ARG(origin),
				 (unsigned long long)seq);
			break;
		}
		if (rc)
			break;
		consider_op(r, op, len);
	}
	if (rc == MFS_EFORMAT)
		__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
	if (!rc)
		rc = it.more;
	/* Caught up with this peer: the image's tail is in. */
	if (!rc)
		snap_tail_pulled(r);
	rpc_reply_release(&rr);
	return rc;
}

/*
 * Tells p where this node is reached, so that a seed that never heard of us
 * pulls from us (members.c).  Again after p was down, and every
 * HELLO_EVERY_MS: a node that knew us at an endpoint we left takes the new
 * one only once the old one stops answering.
 */
static void hello(struct mfs_replica *r, struct mfs_peer *p)
{
	uint64_t now = mfs_now_ms(), last;
	struct mfs_wr w = { 0 };
	struct rpc_reply rr;

	pthread_mutex_lock(&p->lock);
	last = p->hello_ms;
	pthread_mutex_unlock(&p->lock);
	if ((last && now - last < r->hello_every_ms) || !r->advertise[0])
		return;
	mfs_wire_hello_encode(r->advertise, &w);
	if (!w.oom && !rpc_call(r, p, MFS_MSG_HELLO, 0, w.buf, w.len, r->cfg.peer_timeout_ms, &rr)) {
		pthread_mutex_lock(&p->lock);
		if (rr.h.type == MFS_MSG_HELLO)
			p->hello_ms = now;
		pthread_mutex_unlock(&p->lock);
		rpc_reply_release(&rr);
	}
	mfs_wr_release(&w);
}

void sync_nap(struct mfs_replica *r, int ms)
{
	while (ms > 0 && !r->stopping) {
		int step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, step * 1000000L };

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

void *sync_main(void *arg)
{
	struct mfs_peer *p = arg;
	struct mfs_replica *r = p->r;

	while (!r->stopping) {
		uint64_t gen = snap_generation(r);
		int rc, rounds = 0;

		if (peer_is_gone(p)) {
			sync_nap(r, r->cfg.heartbeat_ms);
			continue;
		}
		hello(r, p);
		do
			rc = pull_once(r, p);
		while (rc == 1 && !r->stopping && ++rounds < 1000);
		if (rc == MFS_OPS_SNAPSHOT && !snap_bootstrap(r, p, gen)) {
			/* The image may hold member records no op brought. */
			__atomic_store_n(&r->members_dirty, 1, __ATOMIC_RELAXED);
			continue; /* pull the tail at once */
		}
		if (__atomic_load_n(&r->members_dirty, __ATOMIC_RELAXED))
			members_refresh(r);
		if (rc == 0)
			members_pulled(r);
		sync_nap(r, r->cfg.heartbeat_ms);
	}
	return NULL;
}
