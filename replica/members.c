/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership as data (doc/replication.md, "Membership").  The member table
 * is namespace data (store/ns/member.h): 'N' entries of ops, so it converges
 * and persists with the namespace, and reaches every node through any
 * member.  This file turns it into peers: every member this node does not
 * talk to yet gets a peers entry and a sync thread.
 *
 * One thing the op log cannot do is tell a seed about a newcomer: a node
 * pulls only from nodes it knows.  So a node says HELLO, with the endpoint
 * it is reached at, to each peer it pulls from; a node that hears HELLO
 * from an endpoint it does not know starts pulling from it, gets its member
 * record with its ops, and passes that on to everyone else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/member.h"

#define LOG_COMPONENT "members"

int member_placed(uint8_t state)
{
	return state == MFS_MEMBER_JOINING || state == MFS_MEMBER_ACTIVE;
}

/*
 * The CURVE server key to reach a member at: its authorized_keys line by
 * endpoint, else its own key if authorized_keys lists it or the cluster
 * allows it (admit.c).  NULL: we may not talk to it (a key not admitted
 * would be refused by our server either way).
 */
static const char *member_server_key(struct mfs_replica *r, const char *endpoint,
				     const char *key)
{
	const char *k = mfs_authkeys_for_endpoint(r->authkeys, endpoint);

	if (k)
		return k;
	return key && *key && admit_key(r, key) ? key : NULL;
}

/*
 * Adds a peer at endpoint (members_lock held).  With CURVE, only one whose
 * key we can name.  Starts its sync thread once the threads run.
 */
static struct mfs_peer *add_peer_locked(struct mfs_replica *r, const char *endpoint,
					mfs_node_t id, const char *key)
{
	struct mfs_peer *p;
	const char *skey = NULL;
	int n = r->npeers;

	if (r->members_closed || n >= MFS_MAX_NODES - 1)
		return NULL;
	if (r->curve && !(skey = member_server_key(r, endpoint, key))) {
		log_warn("member " MFS_NODE_FMT " at %s: its key is neither in authorized_keys "
			 "nor allowed (modelfs-admin node allow), not contacted",
			 MFS_NODE_ARG(id), endpoint);
		return NULL;
	}
	p = &r->peers[n];
	peer_init(r, p, endpoint);
	if (skey) {
		snprintf(p->key_buf, sizeof(p->key_buf), "%s", skey);
		p->server_key = p->key_buf;
	}
	if (id)
		p->id = id;
	__atomic_store_n(&r->npeers, n + 1, __ATOMIC_RELEASE);
	if (r->sync_started && pthread_create(&p->sync_thread, NULL, sync_main, p)) {
		log_error("member " MFS_NODE_FMT " at %s: no sync thread", MFS_NODE_ARG(id), endpoint);
		p->member = MFS_MEMBER_GONE; /* never contacted, never joined */
	}
	log_info("member " MFS_NODE_FMT " at %s: now a peer", MFS_NODE_ARG(id), endpoint);
	return p;
}

/*
 * Node id is heard of at endpoint, and p is the entry we reach it by,
 * elsewhere (members_lock held).  While p answers it stays (a seed spelled
 * otherwise, or an address this node reaches and others do not); once it
 * does not, the node moved: a new entry at endpoint takes p's place.
 */
static struct mfs_peer *maybe_moved_locked(struct mfs_replica *r, struct mfs_peer *p,
					   const char *endpoint, mfs_node_t id, const char *key)
{
	struct mfs_peer *np;

	if (peer_is_up(p) || !(np = add_peer_locked(r, endpoint, id, key)))
		return p;
	pthread_mutex_lock(&p->lock);
	p->retired = 1;
	pthread_mutex_unlock(&p->lock);
	log_info("member " MFS_NODE_FMT ": now reached at %s (%s does not answer)", MFS_NODE_ARG(id),
		 endpoint, p->endpoint);
	return np;
}

/* Brings one member record into the peers table (members_lock held). */
static void apply_member_locked(struct mfs_replica *r, const struct mfs_member *m)
{
	struct mfs_peer *p;

	if (m->id == r->self) {
		__atomic_store_n(&r->self_member, m->state, __ATOMIC_RELAXED);
		return;
	}
	spaces_heard(r, m->id, m->space);
	if (!strcmp(m->endpoint, r->advertise))
		return;
	if (!(p = peer_by_endpoint(r, m->endpoint)) && (p = peer_by_id(r, m->id)) &&
	    m->state != MFS_MEMBER_GONE)
		p = maybe_moved_locked(r, p, m->endpoint, m->id, m->key);
	if (!p) {
		if (m->state == MFS_MEMBER_GONE)
			return;
		if (!(p = add_peer_locked(r, m->endpoint, m->id, m->key)))
			return;
	}
	pthread_mutex_lock(&p->lock);
	if (p->id && p->id != m->id && !p->retired) {
		/*
		 * Two records name this endpoint: a node removed (node remove) and
		 * the one that took its address since (a replacement, with a new
		 * store and so a new id).  The removed one's record no longer
		 * speaks for the endpoint; a live one takes it over from a gone
		 * one (members_refresh applies the gone records first).  Before,
		 * the gone record won, and the replacement was never contacted:
		 * it pulled from the others, they never pulled from it nor placed
		 * chunks on it (t1359).
		 */
		int take = m->state != MFS_MEMBER_GONE && p->member == MFS_MEMBER_GONE;

		pthread_mutex_unlock(&p->lock);
		if (!take)
			return;
		log_info("member " MFS_NODE_FMT " at %s: takes the address of removed node "
			 MFS_NODE_FMT, MFS_NODE_ARG(m->id), m->endpoint, MFS_NODE_ARG(p->id));
		peer_take_id(r, p, m->id, m->space);
		pthread_mutex_lock(&p->lock);
	}
	if (p->member != m->state)
		log_info("member " MFS_NODE_FMT " at %s: %s", MFS_NODE_ARG(m->id), m->endpoint,
			 mfs_member_state_name(m->state));
	p->member = m->state;
	if (!p->id)
		p->id = m->id;
	if (p->id == m->id)
		p->space = m->space;
	pthread_mutex_unlock(&p->lock);
}

static int announce_locked(struct mfs_replica *r);

void members_refresh(struct mfs_replica *r)
{
	struct mfs_member *v;
	int n, rc;

	__atomic_store_n(&r->members_dirty, 0, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&r->space_moved, 0, __ATOMIC_RELAXED) && r->advertise[0]) {
		/* Our record names our inode space: peers and joiners avoid it. */
		pthread_mutex_lock(&r->members_lock);
		if ((rc = announce_locked(r)))
			log_warn("cannot write this node's member record: %s", mfs_strerror(rc));
		pthread_mutex_unlock(&r->members_lock);
	}
	if ((rc = mfs_ns_members(r->ns, &v, &n))) {
		log_warn("cannot read the member table: %s", mfs_strerror(rc));
		__atomic_store_n(&r->members_dirty, 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&r->members_lock);
	/* The gone first: a live record that shares an endpoint with a gone one wins it. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++)
			if ((v[i].state == MFS_MEMBER_GONE) == (pass == 0))
				apply_member_locked(r, &v[i]);
	pthread_mutex_unlock(&r->members_lock);
	free(v);
	/* Placement may have changed: recompute what this node owns. */
	mfs_replica_rescan(r);
}

/* Writes this node's record if it is new or its endpoint, key or inode space changed
 * (members_lock held). */
static int announce_locked(struct mfs_replica *r)
{
	struct mfs_member m = { .id = r->self }, old;
	int rc = mfs_ns_member_get(r->ns, r->self, &old);

	if (rc && rc != -ENOENT)
		return rc;
	snprintf(m.endpoint, sizeof(m.endpoint), "%s", r->advertise);
	m.space = mfs_ns_space(r->ns);
	if (r->curve)
		snprintf(m.key, sizeof(m.key), "%s", r->keys.public_z85);
	if (!rc) {
		m.state = old.state;
		if (old.state == MFS_MEMBER_GONE)
			log_warn("this node was removed from the cluster (node remove): it is out of "
				 "placement and its peers do not contact it");
		if (!strcmp(old.endpoint, m.endpoint) && !strcmp(old.key, m.key) &&
		    old.space == m.space)
			goto out;
	} else {
		m.state = r->npeers ? MFS_MEMBER_JOINING : MFS_MEMBER_ACTIVE;
	}
	if ((rc = mfs_ns_member_put(r->ns, &m)))
		return rc;
	log_info("member record: node " MFS_NODE_FMT " at %s, inode space %04x, %s",
		 MFS_NODE_ARG(m.id), m.endpoint, m.space,
		 mfs_member_state_name(m.state));
out:
	__atomic_store_n(&r->self_member, m.state, __ATOMIC_RELAXED);
	return 0;
}

/* "*", 0.0.0.0 and [::] are for bind(), not an address a peer can connect to. */
static int wildcard(const char *endpoint)
{
	const char *h = endpoint + 6;

	return !strncmp(h, "*:", 2) || !strncmp(h, "0.0.0.0:", 8) || !strncmp(h, "[::]:", 5);
}

int members_start(struct mfs_replica *r)
{
	const char *ep = r->cfg.advertise ? r->cfg.advertise : r->cfg.listen;
	int rc = 0;

	__atomic_store_n(&r->self_member, MFS_MEMBER_ACTIVE, __ATOMIC_RELAXED);
	if (ep && !wildcard(ep))
		snprintf(r->advertise, sizeof(r->advertise), "%s", ep);
	else if (ep && !self_endpoint(r, ep, r->advertise, sizeof(r->advertise)))
		log_info("listen=%s is a wildcard: this node advertises %s, its address toward "
			 "its first seed that resolves, else along its default route "
			 "(advertise=HOST:PORT sets another)", ep, r->advertise);
	else if (ep)
		log_warn("listen=%s is no address peers can connect to, and no route tells "
			 "this node's own: set advertise=HOST:PORT so that they learn this node "
			 "(until then it reaches them, they do not reach it)", ep);
	pthread_mutex_lock(&r->members_lock);
	if (r->advertise[0])
		rc = announce_locked(r);
	pthread_mutex_unlock(&r->members_lock);
	if (rc) {
		log_error("cannot write this node's member record: %s", mfs_strerror(rc));
		return rc;
	}
	members_refresh(r);
	return 0;
}

void members_hello(struct mfs_replica *r, mfs_node_t id, const char *endpoint, const char *key)
{
	char ep[256];
	struct mfs_member m;
	struct mfs_peer *known;

	if (id == r->self || !*endpoint || mfs_endpoint_normalise(endpoint, ep, sizeof(ep)) ||
	    !strcmp(ep, r->advertise) || wildcard(ep))
		return;
	/* A removed node does not come back by saying hello. */
	if (!mfs_ns_member_get(r->ns, id, &m) && m.state == MFS_MEMBER_GONE)
		return;
	pthread_mutex_lock(&r->members_lock);
	if ((known = peer_by_endpoint(r, ep))) {
		/* A peer listed by address and not reached yet: its id from now on, so
		 * that the PULLs it sends next count (trimming waits for them; else
		 * the log is dropped under it and it bootstraps again and again,
		 * t1195).  Its own reply, when this node reaches it, has the last word
		 * (peer_seen). */
		int take;

		pthread_mutex_lock(&known->lock);
		if (!known->id && !known->retired)
			known->id = id;
		/* A removed node's address, now another node's (a replacement with a
		 * new store): pulled from again, which brings its member record
		 * (apply_member_locked).  Nobody pulled from it before, so its record
		 * never spread and it was never placed (t1359). */
		take = known->id && known->id != id && known->member == MFS_MEMBER_GONE &&
		       !known->retired;
		pthread_mutex_unlock(&known->lock);
		if (take) {
			log_info("node " MFS_NODE_FMT " at %s said hello: it takes the address of "
				 "removed node " MFS_NODE_FMT ", pulling from it", MFS_NODE_ARG(id), ep,
				 MFS_NODE_ARG(known->id));
			peer_take_id(r, known, id, 0);
			pthread_mutex_lock(&known->lock);
			known->member = MFS_MEMBER_JOINING; /* until its record says otherwise */
			known->hello_ms = 0;
			pthread_mutex_unlock(&known->lock);
		}
	} else if ((known = peer_by_id(r, id))) {
		maybe_moved_locked(r, known, ep, id, key);
	} else {
		log_info("node " MFS_NODE_FMT " at %s said hello: pulling from it", MFS_NODE_ARG(id), ep);
		add_peer_locked(r, ep, id, key);
	}
	pthread_mutex_unlock(&r->members_lock);
}

void members_pulled(struct mfs_replica *r)
{
	struct mfs_member m;
	int rc;

	if (__atomic_load_n(&r->self_member, __ATOMIC_RELAXED) != MFS_MEMBER_JOINING)
		return;
	pthread_mutex_lock(&r->members_lock);
	if (!mfs_ns_member_get(r->ns, r->self, &m) && m.state == MFS_MEMBER_JOINING) {
		m.state = MFS_MEMBER_ACTIVE;
		if ((rc = mfs_ns_member_put(r->ns, &m)))
			log_warn("cannot mark this node active: %s", mfs_strerror(rc));
		else
			log_info("joined: node " MFS_NODE_FMT " is active", MFS_NODE_ARG(r->self));
	}
	if (!mfs_ns_member_get(r->ns, r->self, &m))
		__atomic_store_n(&r->self_member, m.state, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&r->members_lock);
}

void members_close(struct mfs_replica *r)
{
	pthread_mutex_lock(&r->members_lock);
	r->members_closed = 1;
	pthread_mutex_unlock(&r->members_lock);
}

/* ---- the admin's view and changes ------------------------------------------ */

int mfs_replica_member_set(struct mfs_replica *r, mfs_node_t id, uint8_t state)
{
	struct mfs_member m;
	int rc;

	if (state >= MFS_MEMBER_STATES)
		return -EINVAL;
	pthread_mutex_lock(&r->members_lock);
	if (!(rc = mfs_ns_member_get(r->ns, id, &m)) && m.state != state) {
		m.state = state;
		rc = mfs_ns_member_put(r->ns, &m);
	}
	pthread_mutex_unlock(&r->members_lock);
	if (!rc) {
		log_info("node " MFS_NODE_FMT " set %s by the admin", MFS_NODE_ARG(id),
			 mfs_member_state_name(state));
		members_refresh(r);
	}
	return rc;
}

void mfs_replica_members_write(struct mfs_replica *r, FILE *f)
{
	struct mfs_member *v;
	int n;

	if (mfs_ns_members(r->ns, &v, &n))
		return;
	for (int i = 0; i < n; i++) {
		struct mfs_peer *p = v[i].id == r->self ? NULL : peer_by_id(r, v[i].id);
		const char *conn = v[i].id == r->self ? "self" : !p ? "none" :
				   peer_is_up(p) ? "up" : "down";

		fprintf(f, "member " MFS_NODE_FMT " %s %s %s %s\n", MFS_NODE_ARG(v[i].id),
			mfs_member_state_name(v[i].state),
			v[i].endpoint, v[i].key[0] ? v[i].key : "-", conn);
	}
	free(v);
}
