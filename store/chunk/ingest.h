/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest: turns the bytes of a staged file into stored chunks and a stored
 * manifest.  Chunks already in the store are not encoded again (dedup).
 * New chunk records skip the WAL and are durable (pack fdatasync, or a flush) before
 * this returns; the manifest goes through the WAL unsynced.  Nothing is
 * published here: the caller publishes the manifest id with mfs_ns_publish(),
 * whose synced write makes the manifest durable too.
 */
#ifndef MFS_INGEST_H
#define MFS_INGEST_H

#include <stdint.h>

#include "store/base/hash.h"

struct mfs_batch;
struct mfs_db;
struct mfs_wr;

struct mfs_ingest_stats {
	uint64_t bytes;        /* file bytes read */
	uint64_t chunks;       /* chunks in the manifest */
	uint64_t new_chunks;   /* chunks this ingest stored */
	uint64_t new_stored;   /* record bytes this ingest stored */
	uint64_t holes;        /* bytes left as holes (no chunk: manifest.h) */
};

/*
 * Ingests fd[0..size).  On success *has_manifest says whether *id names a
 * manifest (0 for an empty file).  threads: encoder threads (>= 1).
 */
int mfs_ingest_fd(struct mfs_db *db, int fd, uint64_t size, int threads, struct mfs_hash *id,
		  int *has_manifest, struct mfs_ingest_stats *st);

/*
 * A small file's ingest that writes nothing: its new chunk records, their
 * index entries and its manifest are staged into `into`, a batch of the
 * same database, which the caller writes (mfs_ns_publish_with) or frees;
 * the manifest record's bytes also go to *manifest (the publish's op log
 * carries them; the caller releases it).
 * The file's whole commit is then one WAL append and one synced write.
 * size at most MFS_INGEST_SMALL_MAX (-EINVAL otherwise): every record
 * stays below MFS_CHUNK_PACK_MIN, so none goes to a pack (whose fdatasync
 * would then run in the publish, under the namespace lock), and the batch
 * stays small.  On failure `into` may hold part of the records: free it.
 * data_to: the caller knows fd[0, data_to) is all data (no hole), read
 * without asking the file (SEEK_DATA, SEEK_HOLE); 0 when it does not.
 */
#define MFS_INGEST_SMALL_MAX (60u << 10)
int mfs_ingest_small(struct mfs_db *db, int fd, uint64_t size, uint64_t data_to,
		     struct mfs_batch *into, struct mfs_wr *manifest, struct mfs_hash *id,
		     int *has_manifest, struct mfs_ingest_stats *st);

/*
 * An ingest in steps, for a file still being written (write-behind): the
 * chunks of its first bytes are stored while later bytes arrive, and the
 * commit at close only does the rest.  The caller guarantees that bytes
 * already fed never change (or drops the ingest with mfs_ingest_abandon).
 * Calls on one ingest are serialized by the caller; feeds may run outside
 * gc's refs lock: mfs_ingest_finish checks again, under it, that the chunks
 * found stored still are.
 */
struct mfs_ingest;

int mfs_ingest_begin(struct mfs_db *db, int threads, struct mfs_ingest **out);
/*
 * Stores the chunks of fd[..upto) whose cuts are final (MFS_CHUNK_MAX bytes
 * after a cut decide it).  Returns early, between windows, once *stop is
 * set (stop may be NULL).  0 or -errno; after an error, abandon.
 */
int mfs_ingest_feed(struct mfs_ingest *s, int fd, uint64_t upto, const int *stop);
/* The file offset up to which chunks are cut. */
uint64_t mfs_ingest_offset(const struct mfs_ingest *s);
/*
 * The file offset up to which the chunks' records are written (not yet
 * indexed), and the chunks found stored before are pinned against gc
 * (with mfs_ingest_set_lock; without it, none may be found stored: gc
 * could delete such a one until the commit): the caller may drop those
 * bytes of its staging, and read them back after the ingest ends
 * (mfs_ingest_manifest).  0 after a failed feed.  Safe while a feed runs in another thread: waits until that
 * offset passes `above` (a window's progress) or `feeds` calls of
 * mfs_ingest_feed have returned, and returns it.
 */
uint64_t mfs_ingest_wait_stored(struct mfs_ingest *s, uint64_t above, unsigned feeds);
/*
 * Ingests the rest of fd[0..size) and stores the manifest, as
 * mfs_ingest_fd.  Frees s.  -ESTALE: a chunk found stored earlier is gone
 * (gc), or the file is shorter than what was fed; what this ingest stored
 * is kept and indexed, so ingesting again from scratch dedups against it.
 */
int mfs_ingest_finish(struct mfs_ingest *s, int fd, uint64_t size, struct mfs_hash *id,
		      int *has_manifest, struct mfs_ingest_stats *st);
/*
 * Ends s without a manifest; frees it.  The chunks it stored get their
 * index entries: a later ingest dedups against them, and gc reclaims them
 * if nothing does.  NULL is a no-op.
 */
int mfs_ingest_abandon(struct mfs_ingest *s);
struct mfs_manifest;
/*
 * Makes the chunks fed so far readable while the session goes on: waits
 * for the window in flight, writes the index entries of the chunks it
 * stored (as mfs_ingest_abandon does; the finish writes them again, the
 * same entries), and gives a copy of their manifest in *out (its size:
 * where they end; the caller unrefs it).  For readers of a file whose
 * commit runs (fuse/commit_open.c).  No feed may run meanwhile.  0, or
 * -EIO after a failed window (nothing indexed), -ENOMEM.
 * The copy is live-listed (mfs_manifest_live_pin): gc keeps its chunks,
 * indexed now but named by no version, while it is held.  Hold the last
 * one until the finish (under gc's refs lock until its publish) or the
 * abandon.  The finish checks them again (-ESTALE if one is gone).
 */
int mfs_ingest_index_stored(struct mfs_ingest *s, struct mfs_manifest **out);
/*
 * A reference to the manifest of the chunks fed so far (its size: where
 * they end).  Their records can be read once they are indexed: after
 * mfs_ingest_abandon, or an mfs_ingest_finish that returned -ESTALE.
 */
struct mfs_manifest;
struct mfs_manifest *mfs_ingest_manifest(struct mfs_ingest *s);

/*
 * Fine-tune deltas (store/chunk/delta.h): fn is asked, once, when the
 * file turns out to be a safetensors or GGUF file (its header parsed,
 * before its first chunk is cut), for the manifest of the file to store
 * its chunks as deltas against: 1 with *id set; 0 for none named, and
 * then the last plain file of the same tensor layout is the base, if any
 * (delta_hint.h); MFS_BASE_NONE or an error for none at all (the file is
 * stored plainly).  Set before the first feed; fn runs in the thread that
 * feeds, with none of the ingest's locks.  Without fn, no base is used.
 */
#define MFS_BASE_NONE (-1)
typedef int (*mfs_ingest_base_fn)(void *arg, struct mfs_hash *id);
void mfs_ingest_set_base(struct mfs_ingest *s, mfs_ingest_base_fn fn, void *arg);
/*
 * gc's refs lock (store/maint/gc.h), for feeds: fn(arg, 1) takes it,
 * fn(arg, 0) lets it go.  With it, a feed pins the chunks it finds
 * already stored (a second copy's) and checks under it that they still
 * are, so that their bytes count as stored for mfs_ingest_wait_stored;
 * the pins last until the ingest ends.  Never taken by the finish (its
 * caller holds the lock).  Set before the first feed.
 */
typedef void (*mfs_ingest_lock_fn)(void *arg, int hold);
void mfs_ingest_set_lock(struct mfs_ingest *s, mfs_ingest_lock_fn fn, void *arg);
/*
 * Deferred encoding (issue 10, store/maint/recode.h): with on, ingests
 * store every new chunk whose record goes to a pack RAW (hashed and cut as
 * always, not compressed) and put it on the recode queue (meta CF "rq:" +
 * hash, doc/format.md) in the batch of its index entry; a background pass
 * encodes it later.  A fine-tune's chunks (a delta base) and small files
 * are encoded as before.  Process-wide; off by default (unit tests, tools).
 */
void mfs_ingest_defer_encode(int on);
/*
 * Ingest sessions running now, and a count bumped by each window stored:
 * the recode pass yields while they move (foreground writes first).
 */
unsigned mfs_ingest_active(void);
uint64_t mfs_ingest_progress(void);

/* mfs_ingest_fd with a base as mfs_ingest_set_base (fn may be NULL). */
int mfs_ingest_fd_base(struct mfs_db *db, int fd, uint64_t size, int threads,
		       mfs_ingest_base_fn fn, void *arg, struct mfs_hash *id, int *has_manifest,
		       struct mfs_ingest_stats *st);

#endif
