/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A node's life among its peers (doc/replication.md): namespace op-log sync
 * (which is also the heartbeat), chunk fetches for reads, the replication of
 * the chunks this node owns, and serving all of that to peers over ZeroMQ.
 * The FUSE layer starts it after opening the store and before mounting.
 */
#ifndef MFS_REPLICA_H
#define MFS_REPLICA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/maint/copies.h"
#include "store/ns/namespace.h"

struct mfs_cache;
struct mfs_replica;

struct mfs_replica_config {
	const char *listen;          /* "tcp://host:port" */
	const char *advertise;       /* where peers reach us, if not listen (NULL) */
	char **peers;                /* seeds: "tcp://host:port" each */
	int npeers;
	const char *curve_key;       /* secret key file, or NULL: no CURVE */
	const char *authorized_keys; /* required with curve_key */
	int insecure;                /* plain TCP on a non-loopback listen, by choice */
	int heartbeat_ms;            /* op-log pull period */
	int peer_timeout_ms;         /* silent this long: down */
	int grace_s;                 /* down this long: out of placement */
	size_t disk_cache_mb;        /* fetched chunks this node does not own */
	const char *cache_dir;       /* where they are kept (DATA/cache) */
	const char *data_dir;        /* the store's disk, for room (room.c); outlives the replica */
	int fetch_threads;           /* replication workers */
	int snapshot_lag_ops;        /* a puller this many ops behind gets a snapshot
				      * (0: only one that lacks ops no longer held) */
	int snapshot_throttle_ms;    /* tests: pause per snapshot chunk served, 10x in a build (0: none) */
	int recode_served;           /* a raw record on the recode queue is encoded before it is
				      * served (server.c, recode_first) */
	/* Called for every namespace key a remote op changed (any thread). */
	mfs_ns_change_fn on_change;
	void *on_change_arg;
};

/*
 * Binds the listen endpoint and starts the threads.  Wires itself into
 * cache as its remote source.  -EINVAL (with a logged reason) for a bad
 * configuration, -EADDRINUSE, or another error.
 */
int mfs_replica_start(const struct mfs_replica_config *cfg, struct mfs_ns *ns,
		      struct mfs_cache *cache, struct mfs_replica **out);
void mfs_replica_stop(struct mfs_replica *r);

struct mfs_manifest;
/* Queues every chunk of m this node lacks for fetching into its disk cache. */
void mfs_replica_warm(struct mfs_replica *r, const struct mfs_manifest *m, uint16_t origin);

/* A replication factor changed on this node: recompute what it owns now. */
void mfs_replica_rescan(struct mfs_replica *r);

/*
 * Copies of chunks q[0..n) on every node (store/maint/copies.h): st[i * nodes +
 * k] for node k in mfs_replica_nodes() order (nodes: what it returned; the
 * peers table may have grown since), MFS_COPY_UNKNOWN where
 * a peer is down or did not answer.  flags: MFS_COPY_DEEP re-hashes every
 * copy; MFS_COPY_REPAIR also makes each node queue what it owns and lacks
 * and replace its bad copies.  0 or an error of this node's store.
 */
int mfs_replica_check(struct mfs_replica *r, int nodes, const struct mfs_copy_query *q, size_t n,
		      unsigned flags, uint8_t *st);
/* This node (k = 0), then every configured peer: ids (0 until heard from), up or not. */
int mfs_replica_nodes(struct mfs_replica *r, mfs_node_t *ids, uint8_t *up, int cap);
/* The endpoint of node k of mfs_replica_nodes(). */
const char *mfs_replica_endpoint(struct mfs_replica *r, int k);
/* The nodes that own h at factor repl (placement now), best first; how many. */
int mfs_replica_owners(struct mfs_replica *r, const struct mfs_hash *h, int repl, mfs_node_t *ids,
		       int cap);
struct mfs_hash;
struct mfs_chunk_info;
/*
 * Whether h is in this node's disk cache of peers' chunks (local.c): 0 with
 * the record's size in *reclen and its header in *info (each if not NULL),
 * or -ENOENT (also for r == NULL: a node without peers has no disk cache).
 */
int mfs_replica_cached(struct mfs_replica *r, const struct mfs_hash *h, struct mfs_chunk_info *info,
		       uint64_t *reclen);
/* Drops h from the disk cache (never from the store); the bytes freed, 0 if absent. */
uint64_t mfs_replica_uncache(struct mfs_replica *r, const struct mfs_hash *h);
struct mfs_gc_peer;
struct mfs_gc_cache;
struct mfs_diskcache;
/*
 * gc's view of the peers (store/maint/gc.h): one entry per configured peer, with
 * the version vector of its last PULL since this node started.  *out
 * (caller frees) gets *n entries.  0 or -ENOMEM.
 */
int mfs_replica_gc_peers(struct mfs_replica *r, struct mfs_gc_peer **out, int *n);
struct mfs_gc_trim_result;
/*
 * Drops this node's stored copies of chunks it does not own once they have
 * been held beyond their factor for grace_s and enough other nodes confirm
 * they keep theirs (replica/trim.c; the rules in store/gc.h).  apply 0:
 * counts only (marks are still recorded).  0 (res filled; res->skipped
 * when the peers' ids are not all known yet) or the error that stopped it.
 */
int mfs_replica_trim(struct mfs_replica *r, int apply, uint64_t grace_s, uint64_t now,
		     struct mfs_gc_trim_result *res);
/* The disk cache of peers' chunks as gc sees it (store/maint/gc.h), or NULL
 * without one; lives as long as r. */
const struct mfs_gc_cache *mfs_replica_gc_cache(struct mfs_replica *r);

/*
 * Sets node id's member state (store/ns/member.h: drain, remove) as a
 * namespace op: every node applies it.  0, -ENOENT (no such member), or an
 * error.
 */
int mfs_replica_member_set(struct mfs_replica *r, mfs_node_t id, uint8_t state);
/* "member ID STATE ENDPOINT KEY|- self|up|down|none" lines, one per member record. */
void mfs_replica_members_write(struct mfs_replica *r, FILE *f);

/* "key value" lines for the control endpoint's status report. */
void mfs_replica_status(struct mfs_replica *r, FILE *f);

#endif
