/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private state of the replica layer, shared by its files:
 *   node.c      start/stop, peers table, status
 *   members.c   membership as data: member records, joining, HELLO, node list
 *   client.c    request/reply to one peer (pooled DEALER sockets)
 *   server.c    the ROUTER that answers peers, with a worker pool
 *   sync.c      op-log pulls from every peer: namespace sync and heartbeat
 *   placement.c rendezvous ranking of nodes for a chunk
 *   fetch.c     getting a chunk from peers: verify, store, count
 *   repair.c    the wanted queue: chunks this node owns and lacks; disk cache
 *   check.c     which node holds which chunk (CHECK/HAVE): fsck, info
 *   keep.c      records fetched for reads written off the reader's path
 *   gc_peers.c  what gc needs of the peers (their pulled version vectors)
 *   trim.c      gc's copies beyond a factor: candidates, owners' confirmation
 *   snap.c      the op log's bound (dropping ops) and snapshot bootstrap
 *   spaces.c    this node's inode space: moved when a lower id uses it
 *   admit.c     which CURVE keys may talk to us: authorized_keys, node allow
 *   curve.c     keys, authorized_keys and the ZAP handler (curve.h)
 *   wire.c      message encodings (wire.h)
 *   diskcache.c peers' chunks kept on disk (diskcache.h)
 *   local.c     what this node holds of a chunk outside its store (info, evict)
 *
 * Threads: one server thread owns the ROUTER; server workers, the sync
 * thread, repair workers and the cache's loaders all act as clients, each
 * borrowing a DEALER from the peer's pool for one request at a time (a
 * socket moves between threads only through the pool's mutex).
 */
#ifndef MFS_REPLICA_INTERNAL_H
#define MFS_REPLICA_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <zmq.h>

#include "curve.h"
#include "replica.h"
#include "store/base/hash.h"
#include "store/base/histo.h"
#include "store/maint/gc.h"
#include "wire.h"

struct mfs_db;
struct mfs_chunk_bytes;
#include "store/chunk/codec.h"
struct mfs_diskcache;
struct rpc_sock;

enum peer_state { PEER_UNKNOWN, PEER_UP, PEER_DOWN };

/* Idle DEALER sockets kept per peer (more may be open while in use). */
#define MFS_PEER_POOL 16
/* A HELLO to each peer again after this long (sync.c, hello). */
#define HELLO_EVERY_MS 10000

struct mfs_peer {
	struct mfs_replica *r;
	pthread_t sync_thread;       /* pulls its ops (sync.c) */
	char endpoint[256];
	const char *server_key;      /* Z85, from authorized_keys; NULL without CURVE */
	char key_buf[MFS_CURVE_Z85_LEN + 1]; /* server_key when it came from a member record */
	int configured;              /* named by peer= (a seed), not learned */
	pthread_mutex_t lock;        /* the fields below */
	mfs_node_t id;               /* learned from its replies or its member record; 0 until then */
	uint16_t space;              /* its inode space, from the same (0: not known) */
	uint8_t member;              /* enum mfs_member_state (store/ns/member.h) */
	uint64_t hello_ms;           /* when it last answered our HELLO; 0: say it again */
	int retired;                 /* replaced by an entry at the node's new endpoint */
	enum peer_state state;
	uint64_t last_ok_ms;         /* last reply */
	uint64_t down_since_ms;      /* when it stopped answering (or our start) */
	struct rpc_sock *idle[MFS_PEER_POOL]; /* pooled DEALER sockets */
	int nidle;
	struct mfs_wire_vv *pulled;  /* its last PULL's version vector, NULL before (gc) */
	uint64_t pulled_ms;          /* when that PULL came (trimming: it is alive) */
	int inflight;                /* atomic: chunk requests to it under way (fetch.c) */
	int64_t wbytes;              /* atomic: bytes windows asked of it, unanswered (window.c) */
};

struct mfs_replica {
	struct mfs_replica_config cfg;
	struct mfs_ns *ns;
	struct mfs_db *db;
	struct mfs_cache *cache;
	mfs_node_t self;
	void *zctx;
	struct mfs_curve_keys keys;
	int curve;
	struct mfs_authkeys *authkeys;
	struct mfs_zap *zap;
	/*
	 * Room for MFS_MAX_NODES - 1 peers, allocated once: members.c appends
	 * under members_lock and publishes npeers after the entry is whole, so
	 * readers iterate without a lock (peer_count()).  Entries never move
	 * nor go away (a removed member is marked gone).
	 */
	struct mfs_peer *peers;
	int npeers;
	pthread_mutex_t members_lock;  /* adding peers, writing member records */
	int members_closed;            /* members_lock: stopping, add no peer */
	int members_dirty;             /* atomic: a pull applied a member record */
	uint8_t self_member;           /* atomic: this node's own member state */
	char advertise[256];           /* the endpoint peers reach us at ("" if none) */
	uint64_t started_ms;
	uint64_t hello_every_ms;       /* sync.c's HELLO_EVERY_MS, or the test's (set at start) */
	volatile int stopping;

	struct mfs_server *server;
	int sync_started;
	struct mfs_repair *repair;
	struct mfs_diskcache *dc;    /* peers' chunks this node does not own */
	struct mfs_gc_cache gc_cache; /* dc as gc sees it (gc_peers.c) */
	struct mfs_keep *keep;       /* writes of what reads fetched (keep.c) */
	struct mfs_snap *snap;       /* op-log trimming, snapshots (snap.c) */
	uint64_t read_fetch_ms;      /* when a read last fetched from a peer (atomic) */
	int max_repl;                /* atomic: the largest factor of a file seen (repair.c) */

	/* counters (atomic) */
	uint64_t fetched_chunks, fetched_bytes, served_chunks, served_bytes;
	uint64_t recoded_served;     /* raw queued records encoded before serving (server.c) */
	uint64_t fetch_failures, bad_from_peers, malformed, refused;
	uint64_t resent;             /* requests sent again after their connection dropped (client.c) */
	uint64_t wire_refused;       /* messages of another wire version (server.c) */
	uint64_t id_mismatch;        /* CURVE messages whose id is not their key's */
	pthread_mutex_t space_lock;  /* a change of inode space (spaces.c) */
	uint64_t space_changes;      /* since open */
	mfs_node_t space_noted;      /* a higher id in our space, logged once */
	int space_moved;             /* our space moved: members_refresh re-announces (atomic) */
	uint64_t read_kept, repl_fetched, repl_deferred;
	uint64_t fetch_reused;        /* loads served from a record still at the keeper */
	int room_low;                /* atomic: the disk is at the margin, replication waits (room.c) */
	uint64_t room_waits;         /* chunks not kept for lack of room (room.c) */
	uint64_t oplog_trimmed, snapshots_served, snapshots_applied, snapshot_failures;
	uint64_t snapshot_lock_us;   /* the last image build's namespace lock hold (atomic) */
	struct mfs_histo fetch_latency;  /* successful GETs: request to verified copy */
};

uint64_t mfs_now_ms(void);

/*
 * Whether the store's disk has room for need more bytes of replicated or
 * cached records beyond MFS_SPACE_MARGIN (room.c).  0: keep nothing now;
 * logged once as it pauses and once as it goes on.
 */
int repl_room(struct mfs_replica *r, uint64_t need);

/*
 * For a wildcard listen endpoint (no advertise=): "tcp://ADDR:PORT" in out,
 * ADDR the source address toward the first seed that resolves, or of the
 * default route (selfaddr.c).  0, or -EHOSTUNREACH / -EINVAL.
 */
int self_endpoint(const struct mfs_replica *r, const char *listen, char *out, size_t cap);

/*
 * Timed waits run on CLOCK_MONOTONIC: a deadline on the wall clock moves
 * with it, so a wait begun before the clock is stepped back (NTP, a VM's
 * resume) would last as long as the step.  mono_cond_init makes a condition
 * variable whose timed waits take such deadlines; mono_deadline gives the
 * one ms from now.
 */
void mono_cond_init(pthread_cond_t *c);
void mono_deadline(struct timespec *ts, long ms);

/*
 * Inode spaces (spaces.c): node id heard of (a reply, a request or a member
 * record) numbering its inodes in space.  If that is this node's space and
 * id is lower, this node moves to a fresh space for its new inodes (the
 * lower id keeps it).
 */
void spaces_heard(struct mfs_replica *r, mfs_node_t id, uint16_t space);

/* How many entries of r->peers are in use (grows while running). */
static inline int peer_count(struct mfs_replica *r)
{
	return __atomic_load_n(&r->npeers, __ATOMIC_ACQUIRE);
}

/* members.c */
/* After the configured peers exist: loads the member table, announces this node. */
int members_start(struct mfs_replica *r);
/* Reads the member table again: peers for new members, states of known ones. */
void members_refresh(struct mfs_replica *r);
/* A HELLO from node id, reachable at endpoint (key: its CURVE key or NULL). */
void members_hello(struct mfs_replica *r, mfs_node_t id, const char *endpoint, const char *key);
/* A pull from a peer succeeded: a joining node is now active. */
void members_pulled(struct mfs_replica *r);
/* Stops adding peers (before the sync threads are joined). */
void members_close(struct mfs_replica *r);

/* admit.c: 1 if the Z85 key may talk to this node (authorized_keys or the
 * cluster's allow-list), else 0. */
int admit_key(struct mfs_replica *r, const char *z85);
/* The ZAP handler's question for keys authorized_keys does not list. */
int admit_by_cluster(void *arg, const uint8_t key[32]);
/* Counts in placement: its member state is neither draining nor gone. */
int member_placed(uint8_t state);

/* peers (node.c) */
/* The peer with node id `id`, or NULL. */
struct mfs_peer *peer_by_id(struct mfs_replica *r, mfs_node_t id);
/* The peer whose inode space is `space` (a hint: the writer of those inodes), or NULL. */
struct mfs_peer *peer_by_space(struct mfs_replica *r, uint16_t space);
/* The peer at endpoint (normalised form), or NULL. */
struct mfs_peer *peer_by_endpoint(struct mfs_replica *r, const char *endpoint);
/* Sets up entry r->peers[r->npeers] (not yet published): node.c and members.c. */
void peer_init(struct mfs_replica *r, struct mfs_peer *p, const char *endpoint);
/* A reply arrived from p, sent by node `id`. */
void peer_seen(struct mfs_replica *r, struct mfs_peer *p, mfs_node_t id, uint16_t space);
/* p's endpoint now belongs to node id (a removed node's address taken by a new one): kept. */
void peer_take_id(struct mfs_replica *r, struct mfs_peer *p, mfs_node_t id, uint16_t space);
/* A request to p got no reply in time. */
void peer_failed(struct mfs_replica *r, struct mfs_peer *p);
int peer_is_up(struct mfs_peer *p);
/* Removed from the cluster (member state gone): not contacted. */
int peer_is_gone(struct mfs_peer *p);

/* client.c */
struct rpc_reply {
	struct mfs_wire_header h;
	zmq_msg_t body, payload;
	int has_payload;
};
/*
 * Sends one request to p and waits up to timeout_ms for its reply.  0 with
 * *out filled (release with rpc_reply_release), -ETIMEDOUT, MFS_EFORMAT for
 * a malformed reply (logged), or another error.
 */
int rpc_call(struct mfs_replica *r, struct mfs_peer *p, uint8_t type, uint8_t flags,
	     const void *body, size_t blen, int timeout_ms, struct rpc_reply *out);
void rpc_reply_release(struct rpc_reply *rr);
/*
 * The pieces of rpc_call, for a window of requests on one socket
 * (window.c): a DEALER from p's pool (or a new one; NULL if none opens),
 * back to the pool only with no request on it unanswered; one request sent
 * (*req: its id); one reply read, to request req (0: any, the caller
 * matches h.req).  Errors as rpc_call's.
 */
struct rpc_sock {
	void *s;                     /* the DEALER */
	void *mon;                   /* PAIR: its monitor's disconnections (NULL: none) */
};
struct rpc_sock *rpc_sock_get(struct mfs_replica *r, struct mfs_peer *p);
void rpc_sock_put(struct mfs_peer *p, struct rpc_sock *k);
/* Closes k (NULL: nothing), never pooled: a request on it is given up. */
void rpc_sock_close(struct rpc_sock *k);
/* Reads k's monitor: 1 if its connection dropped since the last look. */
int rpc_sock_lost(struct rpc_sock *k);
/* k, or a new socket in its place (k closed) if its connection dropped; NULL if none opens. */
struct rpc_sock *rpc_sock_renew(struct mfs_replica *r, struct mfs_peer *p, struct rpc_sock *k);
int rpc_send(struct mfs_replica *r, void *s, uint8_t type, uint8_t flags, const void *body,
	     size_t blen, int timeout_ms, uint64_t *req);
int rpc_recv(struct mfs_replica *r, struct mfs_peer *p, void *s, uint64_t req,
	     struct rpc_reply *out);
void rpc_pool_drain(struct mfs_peer *p);
/* Applies the common options (message size limit, linger, keepalives) to a new socket. */
int sock_common_setup(struct mfs_replica *r, void *s, int64_t maxmsg);

/* server.c */
struct mfs_server;
int server_start(struct mfs_replica *r, struct mfs_server **out);
void server_stop(struct mfs_server *s);
/* 1 on the server's worker threads (a proxied GET must not proxy again). */
int server_in_worker(void);

/* gc_peers.c: node `node` pulled, or is fetching an image of, version vector vv.
 * Returns when it pulled before (ms), 0 if never (snap_follower). */
uint64_t peer_pulled(struct mfs_replica *r, mfs_node_t node, const struct mfs_wire_vv *vv);

/* sync.c */
/* Thread body: pulls ops from one peer (arg) until stopping. */
void *sync_main(void *arg);
/* Sleeps ms milliseconds, or less when the replica stops meanwhile. */
void sync_nap(struct mfs_replica *r, int ms);

/* snap.c: the op log's bound, snapshots (stop after the server and the syncs) */
struct mfs_snap;
/*
 * snap_init before the server starts: a SNAP request may come at once, and
 * finds the image state there (no image yet: it builds one).  snap_start
 * starts the trimmer, once the members are known.
 */
int snap_init(struct mfs_replica *r);
int snap_start(struct mfs_replica *r);
void snap_stop(struct mfs_replica *r);
/* Why a PULL gets OPS `more` = SNAPSHOT rather than ops. */
enum snap_why {
	SNAP_NOT_NEEDED = 0,
	SNAP_BEHIND,                 /* it lacks ops at or below this node's log base */
	SNAP_LAGGING,                /* snapshot_lag_ops behind, and not following */
};
/*
 * Should a PULL with theirs get an image?  ops_wanted: the puller asked for
 * ops (PULL NOSNAP) or follows this node (snap_follower): only a log trimmed
 * past it gets it an image.  *lag: the ops it lacks (may be NULL).
 */
enum snap_why snap_needed(struct mfs_replica *r, const struct mfs_wire_vv *theirs,
			  mfs_node_t requester, int ops_wanted, uint64_t *lag);
/* Whether a puller whose previous PULL came at prev_ms (0: never) follows this node. */
int snap_follower(uint64_t prev_ms);
/* Logs why node is sent an image, at most every few seconds. */
void snap_log_why(struct mfs_replica *r, mfs_node_t node, enum snap_why why, uint64_t lag);
/*
 * The SNAPDATA body answering a SNAP body from node `requester`;
 * MFS_EFORMAT for a malformed request.
 */
int snap_serve(struct mfs_replica *r, mfs_node_t requester, const uint8_t *body, size_t blen,
	       struct mfs_wr *out);
/* Bootstraps from first (then any other peer up), unless a bootstrap ended
 * since generation gen was read.  0, or the last peer's error. */
int snap_bootstrap(struct mfs_replica *r, struct mfs_peer *first, uint64_t gen);
uint64_t snap_generation(struct mfs_replica *r);
/* 1 for a while after a failed bootstrap: pulls then ask for ops (PULL NOSNAP). */
int snap_recently_failed(struct mfs_replica *r);
/* 1 from a merged image until a PULL comes back with nothing more: pulls ask for
 * the tail as ops (PULL NOSNAP), not another image; snap_tail_pulled ends it. */
int snap_tail_pending(struct mfs_replica *r);
void snap_tail_pulled(struct mfs_replica *r);
void snap_status(struct mfs_replica *r, FILE *f);
/* Node ids that count for placement now: self, and peers up or down for less than grace. */
int placement_nodes(struct mfs_replica *r, mfs_node_t *ids, int cap);

/* placement.c: ids sorted by rendezvous score for h, best first (in place), any n. */
void place_rank(const struct mfs_hash *h, mfs_node_t *ids, int n);
/*
 * The first min(r, n) of that ranking into out (room for r), without
 * ranking the rest: O(n).  Returns how many.
 */
int place_top(const struct mfs_hash *h, const mfs_node_t *ids, int n, mfs_node_t *out, int r);
/* Is self among the first repl nodes of the ranking?  O(n), any n. */
int place_owns(const struct mfs_hash *h, mfs_node_t self, const mfs_node_t *ids, int n, int repl);

/* fetch.c */
/*
 * What becomes of a fetched chunk (fetch_chunk's as_cache): staged in the
 * store (replication), kept in the disk cache, written over a bad stored
 * copy, or (HANDOFF: a read fetched a chunk this node owns) handed to the
 * keeper for the store, so replication need not fetch it again.  CACHE and
 * HANDOFF are written by the keeper, off the reader's path.
 */
enum { KEEP_STORE = 0, KEEP_CACHE = 1, KEEP_REPLACE = 2, KEEP_HANDOFF = 3 };
/* A record fetched for the store: written without the WAL, index pending. */
struct mfs_stored {
	struct mfs_chunk_info info;
	size_t reclen;
};
/*
 * Gets chunk h (raw_len bytes) from peers: through the proxy peer first when
 * allowed, then owners in placement order, the origin (the peer whose inode
 * space is `origin`: the writer of the file), then every other
 * live peer.  The first copy whose SHA-256 matches is stored here (as owned
 * or as cache) and returned in *out.  -ENOENT when no peer has a good copy.
 */
int fetch_chunk(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
		uint16_t origin, int allow_proxy, int as_cache, struct mfs_stored *st,
		struct mfs_chunk_bytes *out);
/*
 * Writes a verified record to the chunks CF without the WAL.  Its index
 * entry may be written only after mfs_db_flush(MFS_CF_CHUNKS) (the commit
 * protocol of doc/format.md: never an index entry without its record).
 */
int stage_record(struct mfs_replica *r, const struct mfs_hash *h, const uint8_t *rec,
		 size_t reclen);
/* A chunk from the disk cache, decoded and checked: 0, -ENOENT or -ENOMEM. */
int fetch_from_diskcache(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
			 struct mfs_chunk_bytes *out);
/*
 * The cache's remote source (store/chunk/cache.h).  On a replication
 * worker (fetch_as_replication) it fetches as replication: no read is
 * stamped, the worker keeps the record itself, and fetch_kept() tells how.
 */
int fetch_for_cache(void *arg, const struct mfs_hash *h, uint32_t len, uint16_t origin,
		    struct mfs_chunk_bytes *out);
/*
 * fetch_for_cache in pieces, for the window (window.c).  prepare: 0 with
 * *out from the disk cache, -ENOMEM, or 1: to fetch, kept as *keep says.
 * pick: the holder to ask first (fetch.c note 1) among peers asked for
 * fewer than cap bytes by windows (0: any); NULL if none is up, or
 * *capped if those up are full.  take_reply: p's reply to a GET of h
 * (rr released): 0 with *out verified and kept, -ENOENT, or an error.
 * retry: every other way fetch_for_cache has (other holders, proxies).
 * finish: after the fetch's rc, counts and logs a failure (-EIO then).
 */
int fetch_prepare(struct mfs_replica *r, const struct mfs_hash *h, uint32_t len,
		  struct mfs_chunk_bytes *out, int *keep);
struct mfs_peer *fetch_pick(struct mfs_replica *r, const struct mfs_hash *h, uint16_t origin,
			    int64_t cap, int *capped);
int fetch_take_reply(struct mfs_replica *r, struct mfs_peer *p, const struct mfs_hash *h,
		     uint32_t raw_len, int as_cache, struct mfs_stored *st, struct rpc_reply *rr,
		     const struct timespec *t0, struct mfs_chunk_bytes *out);
int fetch_retry(struct mfs_replica *r, const struct mfs_hash *h, uint32_t len, uint16_t origin,
		int keep, struct mfs_chunk_bytes *out);
int fetch_finish(struct mfs_replica *r, const struct mfs_hash *h, int keep, int rc);
/* The cache's window (store/chunk/cache.h): prefetches pipelined per peer. */
void window_run(void *arg, struct mfs_cache *c);

/* Marks this thread's cache loads as replication's (1) or reads' (0). */
void fetch_as_replication(int on);
/*
 * Since this thread's fetch_as_replication(1), did a fetch_for_cache here
 * keep the record?  KEEP_STORE (staged, not indexed: *st filled), KEEP_CACHE
 * (disk cache, or handed to the keeper: a chunk not owned), or -1 (nothing
 * kept: the bytes came from another fetch, or from this node's store).
 */
int fetch_kept(struct mfs_stored *st);

/* repair.c */
struct mfs_repair;
int repair_start(struct mfs_replica *r, struct mfs_repair **out);
void repair_stop(struct mfs_repair *rp);
/* Chunks of a manifest this node now references: queue the ones it owns and lacks. */
void repair_consider_manifest(struct mfs_replica *r, const struct mfs_hash *manifest, int repl,
			      uint16_t origin);
uint64_t repair_backlog(struct mfs_replica *r);
/* Every peer that is not gone has told us its id: placement is over the whole cluster. */
int peers_all_known(struct mfs_replica *r);
/* Asks the workers to look at the queue now. */
void repair_kick(struct mfs_replica *r);
/*
 * After a CHECK with MFS_COPY_REPAIR (st: this node's states of q): queues,
 * due now, the chunks this node owns and lacks, and its bad copies for
 * replacement by a good one from a peer.
 */
/* Whether the wanted queue holds h as this node's own (owned or checked) work. */
int repair_wanted_owned(struct mfs_replica *r, const struct mfs_hash *h);
void repair_queue_checked(struct mfs_replica *r, const struct mfs_copy_query *q, size_t n,
			  const uint8_t *st);

/* keep.c */
struct mfs_keep;
int keep_start(struct mfs_replica *r);
void keep_stop(struct mfs_replica *r);
/*
 * Hands a record fetched for a read, verified, to the keeper (rec is moved,
 * no copy): into the store if owned (its index and the end of its wanted
 * entry after the flush), else into the disk cache.  Waits while too many
 * records are waiting.
 */
void keep_record(struct mfs_replica *r, const struct mfs_hash *h, zmq_msg_t *rec,
		 const struct mfs_chunk_info *info, int owned);
/* Waits until every record handed over so far is written (what reads fetched is then seen). */
void keep_drain(struct mfs_replica *r);
/*
 * A fetch of h for the cache starts / ends: replication does not fetch it
 * meanwhile.  A read's (read != 0) also stamps the time reads last fetched.
 */
int keep_fetch_begin(struct mfs_replica *r, const struct mfs_hash *h, int read);
void keep_fetch_end(struct mfs_replica *r, const struct mfs_hash *h, int read);
uint64_t keep_last_read_ms(struct mfs_replica *r);
/* 1 while a read is fetching h or its record waits to be written. */
int keep_busy(struct mfs_replica *r, const struct mfs_hash *h);
/*
 * Whether h's record is still the keeper's: 0 if queued or being written
 * (*rec, unless rec is NULL, a message sharing its bytes: the caller
 * closes it), 1 if staged in the store and not indexed yet (*reclen bytes:
 * mfs_chunk_staged_get), -ENOENT if neither (written, or never handed
 * over), or -ENOMEM.
 */
int keep_held(struct mfs_replica *r, const struct mfs_hash *h, zmq_msg_t *rec, size_t *reclen);

/* check.c: this node's states of q[0..n) (and repairs, with MFS_COPY_REPAIR). */
int check_local(struct mfs_replica *r, const struct mfs_copy_query *q, size_t n, unsigned flags,
		uint8_t *st);

#endif
