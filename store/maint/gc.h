/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection of chunks no file version references (modelfs-admin
 * gc).  The store side: which chunks are unreferenced, the persistent
 * first-seen marks (meta CF "gc:" + hash, doc/format.md), the rules that
 * hold a chunk back, the final recheck and the delete.  The daemon
 * (fuse/admin/fs_gc.c) supplies what only it knows: the peers' progress and the
 * disk cache.  Deletion is local; no node tells another to delete.
 *
 * Notes on the design:
 *  1. A chunk C may be deleted only when all of these hold:
 *     a. no inode record (reachable or not) has a manifest naming C, no
 *        manifest this process holds names C (open readers, writers' base
 *        versions: mfs_manifest_live_each), and no commit or remote apply
 *        is in flight (the refs lock, below);
 *     b. C was first seen unreferenced at least grace seconds ago (the
 *        mark's time; marks survive restarts);
 *     c. every configured peer has pulled from this node with a version
 *        vector >= this node's version vector when C was first seen
 *        unreferenced (the mark's vv): every peer has applied the op that
 *        dropped C's last reference, so none still shows a version that
 *        needs this node's copy.  A peer never heard from holds gc back.
 *  2. Two passes.  The first, concurrent with everything, finds the
 *     unreferenced chunks, checks and writes marks, drops the marks of
 *     chunks referenced again, and classifies.  The second (apply only)
 *     takes the refs lock exclusive, recomputes every reference from
 *     scratch, checks the ops that arrived since the first pass (note 4)
 *     and deletes the chunks that passed the first pass and are still
 *     unreferenced: record, index entry and mark in one batch.
 *  3. The refs lock is held shared by a local commit from its dedup check
 *     to its publish (a dedup hit must not see its chunk deleted before the
 *     publish names it), by the apply of a remote op (two batches), and by
 *     a write-behind feed for the lookups that make its dedup hits safe to
 *     drop from the staging (store/chunk/ingest.c pin_found: live-listed
 *     first, so note 1a keeps them from then on).
 *  4. A mark's vv must cover the op that dropped the chunk's last
 *     reference.  The first pass takes the inodes snapshot and reads the
 *     vv under the refs lock, exclusive for that instant: no commit or
 *     apply is half done, so the vv holds exactly the ops the snapshot
 *     shows, and a new mark gets that vv.  A mark stays valid only while no
 *     op after its vv names the chunk (an inode entry whose manifest lists
 *     it): such an op may have referenced it again, and its later deletion
 *     would not be in the vv.  Each run scans the ops after the oldest
 *     mark's vv for the candidates; a stale mark starts again (time and vv
 *     of this run), and a chunk named by an op after this run's snapshot
 *     waits for the next run.
 */
#ifndef MFS_GC_H
#define MFS_GC_H

#include <stdint.h>

#include "store/base/hash.h"
#include "store/base/node.h"

struct mfs_ns;

#define MFS_GC_MARK_VERSION 2     /* 1: 16-bit origins (converted at open, ns_migrate.c) */
#define MFS_GC_MAX_VV 1024      /* as the wire's PULL (MFS_WIRE_MAX_VV) */
#define MFS_GC_DEFAULT_GRACE_S 3600
/* Ten years: a longer grace is a mistake, refused rather than risk a wrap. */
#define MFS_GC_MAX_GRACE_S (10ull * 365 * 86400)

/* What a peer is known to have reached (filled by the replica layer). */
enum mfs_gc_peer_state {
	MFS_GC_PEER_UNKNOWN,   /* never answered: its node id is not known */
	MFS_GC_PEER_SILENT,    /* has not pulled from this node since it started */
	MFS_GC_PEER_PULLED,    /* pulled; vv is what it held then */
};

struct mfs_gc_peer {
	char name[256];        /* endpoint, for the report */
	mfs_node_t id;
	enum mfs_gc_peer_state state;
	int n;
	mfs_node_t origin[MFS_GC_MAX_VV];
	uint64_t seq[MFS_GC_MAX_VV];
	/* out: chunks this peer holds back (alone or with others) */
	uint64_t held_chunks;
};

/*
 * A cache of peers' chunks kept beside the store (replica/diskcache.c,
 * through mfs_replica_gc_cache): gc frees its files that no version names,
 * as it frees chunks in the store.  Filled by the replica layer.
 */
struct mfs_gc_cache {
	/* Calls fn for every cached chunk and its size; fn's error stops it. */
	int (*each)(void *arg, int (*fn)(void *fnarg, const struct mfs_hash *h, uint64_t size),
		    void *fnarg);
	int (*has)(void *arg, const struct mfs_hash *h);
	void (*remove)(void *arg, const struct mfs_hash *h);
	void *arg;
};

struct mfs_gc_opts {
	int apply;             /* 0: dry run (marks are still recorded) */
	int relocate;          /* after deleting, rewrite partly dead blob files too */
	uint64_t grace_s;
	uint64_t now;          /* unix seconds */
	struct mfs_gc_peer *peers;  /* NULL/0: a node without peers */
	int npeers;
	const struct mfs_gc_cache *cache; /* the disk cache of peers' chunks, or NULL */
};

struct mfs_gc_result {
	uint64_t unreferenced_chunks, unreferenced_bytes; /* in the store, no inode names them */
	uint64_t free_chunks, free_bytes;      /* deletable now (all rules hold) */
	uint64_t freed_chunks, freed_bytes;    /* deleted (apply) */
	uint64_t held_open_chunks, held_open_bytes;    /* a version open here names them */
	uint64_t held_grace_chunks, held_grace_bytes;  /* seen unreferenced < grace ago */
	uint64_t held_peers_chunks, held_peers_bytes;  /* a peer has not reached the state */
	uint64_t referenced_again;             /* referenced when rechecked: kept */
	uint64_t grace_next_s;                 /* until the first held by grace is due; 0 none */
	uint64_t cache_unreferenced;           /* disk cache files no version names */
	uint64_t cache_freed_chunks, cache_freed_bytes;
	uint64_t marks;                        /* marks kept after this run */
	uint64_t disk_before, disk_after;      /* mfs_db_disk_bytes() */
};

/*
 * One gc run over ns's store (note 2).  Returns 0 (with *res filled), or an
 * error that stopped it, e.g. MFS_EFORMAT or -ENOENT for an inode record or
 * manifest it cannot read: gc deletes nothing it cannot prove unreferenced
 * (run fsck).  Deleted chunks' space is handed back with mfs_db_reclaim().
 */
int mfs_gc_run(struct mfs_ns *ns, const struct mfs_gc_opts *opts, struct mfs_gc_result *res);

/*
 * The refs lock (note 3), shared side: around a commit's ingest and
 * publish.  mfs_ns_apply() takes it itself.
 */
void mfs_gc_refs_hold(struct mfs_ns *ns);
void mfs_gc_refs_release(struct mfs_ns *ns);

/* A gc mark (meta CF value), for tests and fsck: MFS_EFORMAT if malformed. */
struct mfs_gc_mark {
	uint64_t first_seen;   /* unix seconds */
	int n;
	mfs_node_t origin[MFS_GC_MAX_VV];
	uint64_t seq[MFS_GC_MAX_VV];
};
int mfs_gc_mark_decode(const uint8_t *p, size_t len, struct mfs_gc_mark *m);

/*
 * Copies beyond a file's factor (gc_trim.c).  A node holds a chunk in its
 * store as an owner (the first R nodes of the chunk's ranking, R the
 * largest factor of the files that use it) or because it wrote it, read it
 * as an owner earlier, or owned it before a factor or placement change.
 * The replica layer finds the chunks held here that this node does not own
 * (candidates) and confirms, by asking the nodes, that at least R others
 * hold a verified copy and own it in their own view (so will keep it).
 * The store side keeps the grace and does the delete:
 *  1. A candidate is dropped only after it was a candidate continuously
 *     for grace seconds (the mark "gt:" + hash, doc/format.md, written when
 *     first seen, removed as soon as a run no longer finds it a candidate):
 *     a factor raised back, a node back from a reboot, or a flapping view
 *     stops the clock.  A reader elsewhere that still asks this node for
 *     the chunk is answered MISS and moves on to the owners.
 *  2. Never while a version open here names it (pins), and never while a
 *     local commit may be deduplicating against it (refs lock, exclusive).
 */
struct mfs_gc_trim_result {
	uint64_t candidates, candidate_bytes;   /* held here, not owned */
	uint64_t held_grace, held_grace_bytes;  /* candidates for less than grace */
	uint64_t unconfirmed, unconfirmed_bytes;/* too few other good copies confirmed */
	uint64_t held_open;                     /* a version open here names it */
	uint64_t confirmed;                     /* due and confirmed elsewhere (dry run: not deleted) */
	uint64_t dropped, dropped_bytes;        /* deleted (apply) */
	uint64_t skipped;                       /* 1 when the run did not look (why: logged) */
};

/*
 * Records that the chunks c[0..n) (record bytes in bytes[]) are candidates
 * now, forgets the marks of every chunk not among them, and sets due[i] to 1
 * for those that have been candidates for grace_s or more.  Counts held_grace.
 */
int mfs_gc_trim_marks(struct mfs_ns *ns, const struct mfs_hash *c, const uint64_t *bytes,
		      size_t n, uint64_t now, uint64_t grace_s, uint8_t *due,
		      struct mfs_gc_trim_result *res);

/*
 * Deletes this node's stored copies of h[0..n) (confirmed elsewhere by the
 * caller), except those an open version names, under the refs lock
 * exclusive; hands the space back.  Counts dropped and held_open.
 */
int mfs_gc_drop_copies(struct mfs_ns *ns, const struct mfs_hash *h, size_t n,
		       struct mfs_gc_trim_result *res);

#endif
