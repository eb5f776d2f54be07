/* SPDX-License-Identifier: Apache-2.0 */
/* A node among its peers: start, stop, the peers table, status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/kv/db.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "replica"

uint64_t mfs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mono_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

void mono_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ---- peers ------------------------------------------------------------------ */

/* meta CF "peer:" + endpoint -> u64 node id, u16 inode space (MFS_PEER_REC_LEN):
 * placement counts peers known before, even when they are down at our start,
 * and a node choosing an inode space avoids theirs. */
static void peer_id_save(struct mfs_replica *r, const struct mfs_peer *p, mfs_node_t id,
			 uint16_t space)
{
	struct mfs_batch *b = mfs_batch_new(r->db);
	char key[300];
	uint8_t v[MFS_PEER_REC_LEN];
	int n = snprintf(key, sizeof(key), "peer:%s", p->endpoint);

	if (!b)
		return;
	put_le64(v, id);
	put_le16(v + 8, space);
	mfs_batch_put(b, MFS_CF_META, key, (size_t)n, v, sizeof(v));
	mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
}

void peer_take_id(struct mfs_replica *r, struct mfs_peer *p, mfs_node_t id, uint16_t space)
{
	pthread_mutex_lock(&p->lock);
	p->id = id;
	p->space = space;
	pthread_mutex_unlock(&p->lock);
	peer_id_save(r, p, id, space);
	if (space)
		spaces_heard(r, id, space);
}

static void peer_id_load(struct mfs_replica *r, struct mfs_peer *p)
{
	char key[300];
	int n = snprintf(key, sizeof(key), "peer:%s", p->endpoint);
	struct mfs_val v;

	if (!mfs_db_get(r->db, MFS_CF_META, key, (size_t)n, &v, 1)) {
		if (v.len == MFS_PEER_REC_LEN) {
			p->id = get_le64(v.p);
			p->space = get_le16(v.p + 8);
		}
		mfs_val_release(&v);
	}
}

struct mfs_peer *peer_by_endpoint(struct mfs_replica *r, const char *endpoint)
{
	int n = peer_count(r);

	for (int i = 0; i < n; i++)
		if (!strcmp(r->peers[i].endpoint, endpoint))
			return &r->peers[i];
	return NULL;
}

void peer_init(struct mfs_replica *r, struct mfs_peer *p, const char *endpoint)
{
	p->r = r;
	pthread_mutex_init(&p->lock, NULL);
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", endpoint);
	peer_id_load(r, p);
	p->state = PEER_UNKNOWN;
	p->member = MFS_MEMBER_ACTIVE; /* until its record says otherwise */
	p->down_since_ms = mfs_now_ms();
}

struct mfs_peer *peer_by_id(struct mfs_replica *r, mfs_node_t id)
{
	int n = peer_count(r);

	for (int i = 0; id && i < n; i++) {
		struct mfs_peer *p = &r->peers[i];
		mfs_node_t pid;
		int retired;

		pthread_mutex_lock(&p->lock);
		pid = p->id;
		retired = p->retired;
		pthread_mutex_unlock(&p->lock);
		if (pid == id && !retired)
			return p;
	}
	return NULL;
}

struct mfs_peer *peer_by_space(struct mfs_replica *r, uint16_t space)
{
	for (int i = 0; space && i < r->npeers; i++) {
		struct mfs_peer *p = &r->peers[i];
		uint16_t ps;

		pthread_mutex_lock(&p->lock);
		ps = p->space;
		pthread_mutex_unlock(&p->lock);
		if (ps == space)
			return p;
	}
	return NULL;
}

void peer_seen(struct mfs_replica *r, struct mfs_peer *p, mfs_node_t id, uint16_t space)
{
	int was_up, new_id = 0;

	pthread_mutex_lock(&p->lock);
	was_up = p->state == PEER_UP;
	if (id != p->id || space != p->space) {
		new_id = 1;
		p->id = id;
		p->space = space;
	}
	p->state = PEER_UP;
	p->last_ok_ms = mfs_now_ms();
	pthread_mutex_unlock(&p->lock);
	if (id == r->self)
		log_error("%s has our node id " MFS_NODE_FMT ": ids must be unique (a copied "
			  "store or key: give one node a new key, or remove its meta)", p->endpoint,
			  MFS_NODE_ARG(id));
	if (new_id) {
		peer_id_save(r, p, id, space);
		spaces_heard(r, id, space);
	}
	if (!was_up) {
		log_info("peer %s (node " MFS_NODE_FMT ") is up", p->endpoint, MFS_NODE_ARG(id));
		repair_kick(r);
	}
}

void peer_failed(struct mfs_replica *r, struct mfs_peer *p)
{
	uint64_t now = mfs_now_ms();
	int went_down = 0;
	mfs_node_t id;

	pthread_mutex_lock(&p->lock);
	if (p->state != PEER_DOWN && now - p->last_ok_ms >= (uint64_t)r->cfg.peer_timeout_ms) {
		went_down = p->state == PEER_UP;
		p->hello_ms = 0; /* it may come back with an empty store: say hello again */
		p->state = PEER_DOWN;
		p->down_since_ms = now;
	}
	id = p->id;
	pthread_mutex_unlock(&p->lock);
	if (went_down)
		log_warn("peer %s (node " MFS_NODE_FMT ") is down", p->endpoint, MFS_NODE_ARG(id));
}

int peer_is_up(struct mfs_peer *p)
{
	int up;

	pthread_mutex_lock(&p->lock);
	up = p->state == PEER_UP && p->member != MFS_MEMBER_GONE && !p->retired;
	pthread_mutex_unlock(&p->lock);
	return up;
}

int peer_is_gone(struct mfs_peer *p)
{
	int gone;

	pthread_mutex_lock(&p->lock);
	gone = p->member == MFS_MEMBER_GONE || p->retired;
	pthread_mutex_unlock(&p->lock);
	return gone;
}

/* Whether id is among ids[0..n). */
static int listed(const mfs_node_t *ids, int n, mfs_node_t id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int placement_nodes(struct mfs_replica *r, mfs_node_t *ids, int cap)
{
	uint64_t now = mfs_now_ms(), grace = (uint64_t)r->cfg.grace_s * 1000;
	int n = 0, np = peer_count(r);

	/* A draining or removed node owns nothing: its chunks go to the next owners. */
	if (member_placed(__atomic_load_n(&r->self_member, __ATOMIC_RELAXED)))
		ids[n++] = r->self;
	for (int i = 0; i < np && n < cap; i++) {
		struct mfs_peer *p = &r->peers[i];

		pthread_mutex_lock(&p->lock);
		/* One node may be known by two endpoints (a seed's spelling, its own). */
		if (p->id && p->id != r->self && member_placed(p->member) && !p->retired &&
		    !listed(ids, n, p->id) &&
		    (p->state == PEER_UP || now - p->down_since_ms < grace))
			ids[n++] = p->id;
		pthread_mutex_unlock(&p->lock);
	}
	return n;
}

/* ---- start and stop ----------------------------------------------------------- */

static int setup_curve(struct mfs_replica *r)
{
	char err[512];
	mfs_node_t id;
	int rc;

	if (!r->cfg.curve_key) {
		if (r->cfg.listen && !mfs_endpoint_is_loopback(r->cfg.listen))
			log_warn("INSECURE: %s serves peers in clear text without authentication "
				 "(option insecure): anyone who reaches it can read and change "
				 "every file; see modelfs-admin keygen", r->cfg.listen);
		return 0;
	}
	if (!r->cfg.authorized_keys) {
		log_error("curve_key is set but authorized_keys is not: refusing to run open");
		return -EINVAL;
	}
	if ((rc = mfs_curve_load_secret(r->cfg.curve_key, &r->keys, err, sizeof(err))) ||
	    (rc = mfs_authkeys_load(r->cfg.authorized_keys, &r->authkeys, err, sizeof(err)))) {
		log_error("%s", err);
		return -EINVAL;
	}
	for (int i = 0; i < r->npeers; i++) {
		r->peers[i].server_key = mfs_authkeys_for_endpoint(r->authkeys, r->peers[i].endpoint);
		if (!r->peers[i].server_key) {
			log_error("peer %s has no key in %s", r->peers[i].endpoint,
				  r->cfg.authorized_keys);
			return -EINVAL;
		}
	}
	/* One id per key: the node's id is its key's, and peers check every
	 * message's id against the key that sent it (server.c). */
	if ((rc = mfs_curve_node_id(&r->keys, &id)) || (rc = mfs_ns_set_node_id(r->ns, id))) {
		log_error("cannot take the node id of %s: %s", r->cfg.curve_key, mfs_strerror(rc));
		return rc;
	}
	r->self = id;
	/* The ZAP handler must be bound before the server socket exists. */
	struct mfs_zap_allow allowed = { admit_by_cluster, r };

	if ((rc = mfs_zap_start(r->zctx, r->authkeys, &allowed, &r->zap)))
		return rc;
	r->curve = 1;
	return 0;
}

int mfs_replica_start(const struct mfs_replica_config *cfg, struct mfs_ns *ns,
		      struct mfs_cache *cache, struct mfs_replica **out)
{
	struct mfs_replica *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->ns = ns;
	r->db = mfs_ns_db(ns);
	r->cache = cache;
	r->self = mfs_ns_node_id(ns);
	r->started_ms = mfs_now_ms();
	/*
	 * MODELFS_TEST_HELLO_MS=N (test only): a HELLO to each peer every N ms,
	 * so that a test of a node that moved need not wait 10 s for it (t1260).
	 */
	r->hello_every_ms = getenv("MODELFS_TEST_HELLO_MS") ?
			    strtoull(getenv("MODELFS_TEST_HELLO_MS"), NULL, 10) : HELLO_EVERY_MS;
	pthread_mutex_init(&r->space_lock, NULL);
	pthread_mutex_init(&r->members_lock, NULL);
	if (cfg->npeers > MFS_MAX_NODES - 1) {
		rc = -EINVAL;
		goto fail;
	}
	if (!(r->zctx = zmq_ctx_new()) ||
	    !(r->peers = calloc(MFS_MAX_NODES - 1, sizeof(*r->peers)))) {
		rc = -ENOMEM;
		goto fail;
	}
	zmq_ctx_set(r->zctx, ZMQ_IO_THREADS, 1);
	/*
	 * ZeroMQ's default of 1,023 sockets per context is reached by a node
	 * with a few hundred peers reading from many at once (a pool of up to
	 * 16 DEALERs each, plus its own); then every new socket fails.  Each
	 * DEALER comes with two more, its monitor and the PAIR that reads it
	 * (client.c).  The descriptors they need are there: the daemon raises
	 * its limit at start (fuse/fdlimit.c).
	 */
	if (zmq_ctx_set(r->zctx, ZMQ_MAX_SOCKETS, 3 * MFS_MAX_NODES * (MFS_PEER_POOL + 4) + 64))
		log_warn("cannot raise the number of ZeroMQ sockets: %s", zmq_strerror(errno));
	for (int i = 0; i < cfg->npeers; i++) {
		peer_init(r, &r->peers[i], cfg->peers[i]);
		r->peers[i].configured = 1;
	}
	r->npeers = cfg->npeers;
	if ((rc = mfs_diskcache_open(cfg->cache_dir, (uint64_t)cfg->disk_cache_mb << 20, &r->dc)) ||
	    (rc = setup_curve(r)) || (rc = snap_init(r)) ||
	    (cfg->listen && (rc = server_start(r, &r->server))) ||
	    (rc = members_start(r)))
		goto fail;
	if ((rc = keep_start(r)))
		goto fail;
	mfs_cache_set_remote(cache, fetch_for_cache, r);
	mfs_cache_set_window(cache, window_run, r);
	if ((rc = repair_start(r, &r->repair)) || (rc = snap_start(r)))
		goto fail;
	/* Under members_lock: a peer added meanwhile gets its thread from members.c. */
	pthread_mutex_lock(&r->members_lock);
	for (int i = 0; i < r->npeers; i++)
		pthread_create(&r->peers[i].sync_thread, NULL, sync_main, &r->peers[i]);
	r->sync_started = 1;
	pthread_mutex_unlock(&r->members_lock);
	log_info("node " MFS_NODE_FMT ", inode space %04x: %d seed(s), %d peer(s), grace %d s",
		 MFS_NODE_ARG(r->self), mfs_ns_space(ns), cfg->npeers, peer_count(r), cfg->grace_s);
	*out = r;
	return 0;
fail:
	mfs_replica_stop(r);
	return rc;
}

void mfs_replica_stop(struct mfs_replica *r)
{
	if (!r)
		return;
	r->stopping = 1;
	/* No new calls from the chunk cache; returns once those under way are done. */
	if (r->cache) {
		mfs_cache_set_window(r->cache, NULL, NULL);
		mfs_cache_set_remote(r->cache, NULL, NULL);
	}
	members_close(r); /* no peer added from here on */
	if (r->sync_started)
		for (int i = 0; i < r->npeers; i++)
			if (r->peers[i].sync_thread)
				pthread_join(r->peers[i].sync_thread, NULL);
	repair_stop(r->repair);
	server_stop(r->server);
	snap_stop(r); /* after the server: its workers serve images */
	keep_stop(r); /* after every fetcher: writes what waits */
	for (int i = 0; r->peers && i < r->npeers; i++) {
		rpc_pool_drain(&r->peers[i]);
		pthread_mutex_destroy(&r->peers[i].lock);
		free(r->peers[i].pulled);
	}
	mfs_zap_stop(r->zap);
	mfs_diskcache_close(r->dc);
	if (r->zctx)
		zmq_ctx_term(r->zctx);
	mfs_authkeys_free(r->authkeys);
	explicit_bzero(&r->keys, sizeof(r->keys));
	pthread_mutex_destroy(&r->space_lock);
	pthread_mutex_destroy(&r->members_lock);
	free(r->peers);
	free(r);
}

/* ---- status --------------------------------------------------------------------- */

static const char *state_name(enum peer_state s)
{
	return s == PEER_UP ? "up" : s == PEER_DOWN ? "down" : "unknown";
}

/* How peers reach this node: what status says, and what an operator must know. */
static const char *security_name(const struct mfs_replica *r)
{
	if (r->curve)
		return "curve";
	if (!r->cfg.listen || mfs_endpoint_is_loopback(r->cfg.listen))
		return "loopback";
	return "insecure";
}

void mfs_replica_status(struct mfs_replica *r, FILE *f)
{
	int up = 0;

	fprintf(f, "listen %s\n", r->cfg.listen ? r->cfg.listen : "");
	fprintf(f, "peer_security %s\n", security_name(r));
	fprintf(f, "member_state %s\n",
		mfs_member_state_name(__atomic_load_n(&r->self_member, __ATOMIC_RELAXED)));
	for (int i = 0, n = peer_count(r); i < n; i++) {
		struct mfs_peer *p = &r->peers[i];

		pthread_mutex_lock(&p->lock);
		if (p->member != MFS_MEMBER_GONE && !p->retired) {
			fprintf(f, "peer %s " MFS_NODE_FMT " %s\n", p->endpoint, MFS_NODE_ARG(p->id),
				state_name(p->state));
			up += p->state == PEER_UP;
		}
		pthread_mutex_unlock(&p->lock);
	}
	fprintf(f, "peers_up %d\n", up);
	fprintf(f, "repl_backlog %llu\n", (unsigned long long)repair_backlog(r));
	fprintf(f, "fetched_chunks %llu\n", (unsigned long long)r->fetched_chunks);
	fprintf(f, "fetched_bytes %llu\n", (unsigned long long)r->fetched_bytes);
	mfs_histo_write(&r->fetch_latency, "fetch_latency_us", f);
	fprintf(f, "served_chunks %llu\n", (unsigned long long)r->served_chunks);
	fprintf(f, "served_bytes %llu\n", (unsigned long long)r->served_bytes);
	fprintf(f, "recoded_served_chunks %llu\n",
		(unsigned long long)__atomic_load_n(&r->recoded_served, __ATOMIC_RELAXED));
	fprintf(f, "fetch_failures %llu\n", (unsigned long long)r->fetch_failures);
	fprintf(f, "bad_copies_from_peers %llu\n", (unsigned long long)r->bad_from_peers);
	fprintf(f, "malformed_messages %llu\n", (unsigned long long)r->malformed);
	fprintf(f, "requests_resent %llu\n",
		(unsigned long long)__atomic_load_n(&r->resent, __ATOMIC_RELAXED));
	fprintf(f, "wire_version_refused %llu\n", (unsigned long long)r->wire_refused);
	fprintf(f, "node_id_mismatches %llu\n", (unsigned long long)r->id_mismatch);
	fprintf(f, "ino_space_changes %llu\n", (unsigned long long)r->space_changes);
	fprintf(f, "refused_requests %llu\n", (unsigned long long)r->refused);
	fprintf(f, "read_kept_chunks %llu\n", (unsigned long long)r->read_kept);
	fprintf(f, "repl_fetched_chunks %llu\n", (unsigned long long)r->repl_fetched);
	fprintf(f, "repl_deferred %llu\n", (unsigned long long)r->repl_deferred);
	fprintf(f, "repl_disk_full %d\n", __atomic_load_n(&r->room_low, __ATOMIC_RELAXED));
	fprintf(f, "repl_room_waits %llu\n", (unsigned long long)r->room_waits);
	fprintf(f, "fetch_reused_chunks %llu\n", (unsigned long long)r->fetch_reused);
	fprintf(f, "ops_applied %llu\n", (unsigned long long)mfs_ns_applied(r->ns));
	fprintf(f, "oplog_seq %llu\n", (unsigned long long)mfs_ns_seq(r->ns));
	if (r->snap)
		snap_status(r, f);
	if (r->dc) {
		struct mfs_diskcache_stats ds;

		mfs_diskcache_stats(r->dc, &ds);
		fprintf(f, "disk_cache_chunks %llu\n", (unsigned long long)ds.files);
		fprintf(f, "disk_cache_bytes %llu\n", (unsigned long long)ds.bytes);
		fprintf(f, "disk_cache_limit %llu\n", (unsigned long long)ds.limit);
		fprintf(f, "disk_cache_evicted %llu\n", (unsigned long long)ds.evicted);
	}
}
