/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory chunk cache: decoded chunks, LRU by bytes, shared by every
 * reader.  Loads are single-flight: concurrent readers of one missing chunk
 * wait on the same load.  A failed load (corrupt chunk) is not cached, so
 * a later read tries again and fails again rather than serving anything.
 * Entries are reference counted; a referenced entry is never evicted, so
 * its bytes may be handed straight to fuse_reply_iov().
 */
#ifndef MFS_CACHE_H
#define MFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "chunkstore.h"
#include "store/base/hash.h"

struct mfs_db;
struct mfs_cache;

struct mfs_cache_entry {
	const uint8_t *data;   /* valid while referenced */
	uint32_t len;
};

struct mfs_cache_stats {
	uint64_t hits, misses, waits, bytes, capacity, entries, prefetches;
};

/* capacity in bytes; threads = background prefetch threads (0: none). */
int mfs_cache_new(struct mfs_db *db, size_t capacity, int threads, struct mfs_cache **out);
void mfs_cache_free(struct mfs_cache *c);

/*
 * Referenced entry for h (loading it if needed).  expect_len is the length
 * the manifest records; a stored chunk of another length is corruption.
 * Returns 0 or the load's error.  Release with mfs_cache_release().
 */
int mfs_cache_get(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len, uint16_t origin,
		  const struct mfs_cache_entry **out);
void mfs_cache_release(struct mfs_cache *c, const struct mfs_cache_entry *e);
/*
 * The same for a reader (FUSE READ): a chunk neither cached nor in the
 * store goes to the window, if one is set, ahead of the prefetches.
 */
int mfs_cache_get_read(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len,
		       uint16_t origin, const struct mfs_cache_entry **out);
/*
 * The same; with cold != 0 the entry is the first to go once unreferenced:
 * its reader is done with it (read to its end) and will not come back.
 */
void mfs_cache_release_cold(struct mfs_cache *c, const struct mfs_cache_entry *e, int cold);

/*
 * Whether a read of [off, end) continues a reader's stream, whose front
 * (where it has read to; updated atomically, concurrent reads race) is
 * *front: MFS_STREAM_NEXT (it starts at the front) or MFS_STREAM_NEAR, and
 * the front moved forward to end if it was behind; or 0 and the front
 * moved to end (a jump).  The kernel's readahead sends several READs at
 * once, served by several threads, so they are answered out of order: a
 * read of at least MFS_STREAM_READ_MIN that starts within slack bytes of
 * the front is the same stream.  A smaller one (a page fault) continues it
 * only where it ended, so a random reader grows no window.
 */
enum { MFS_STREAM_NEAR = 1, MFS_STREAM_NEXT = 2 };
#define MFS_STREAM_READ_MIN (128u << 10)
int mfs_cache_stream_advance(uint64_t *front, uint64_t off, uint64_t end, uint64_t slack);

/* Queues a background load of h unless cached, loading or the queue is full. */
void mfs_cache_prefetch(struct mfs_cache *c, const struct mfs_hash *h, uint32_t len,
			uint16_t origin);

/*
 * Where a chunk comes from when this node lacks it or its copy is bad: the
 * replica layer (peers).  origin is the node that published the version
 * being read (a known holder; 0 if unknown).  Fills *out (owned bytes, len
 * of them, verified) or returns an error.  Set before the first get.
 */
typedef int (*mfs_cache_remote_fn)(void *arg, const struct mfs_hash *h, uint32_t len,
				   uint16_t origin, struct mfs_chunk_bytes *out);
void mfs_cache_set_remote(struct mfs_cache *c, mfs_cache_remote_fn fn, void *arg);
/* (Setting NULL waits for the calls under way: the old source may then be freed.) */

/*
 * A pipelined loader for prefetches (cache.c note 5): set, the prefetch
 * threads run it instead of loading queued chunks one by one.  It takes
 * jobs with mfs_cache_job_next (1: *j is a chunk neither cached nor in the
 * store, its entry loading until mfs_cache_job_done; 0: none queued), and
 * returns once it has none in flight and none is queued.  done: rc 0 with
 * *bytes (verified, taken over: zeroed), else the error its waiters get.
 * Setting NULL waits for the runs under way (as mfs_cache_set_remote).
 */
struct mfs_cache_job {
	struct mfs_hash hash;
	uint32_t len;
	uint16_t origin;
	int read;              /* a reader waits for it (mfs_cache_get_read) */
	void *priv;            /* the cache's */
};
typedef void (*mfs_cache_window_fn)(void *arg, struct mfs_cache *c);
void mfs_cache_set_window(struct mfs_cache *c, mfs_cache_window_fn fn, void *arg);
int mfs_cache_job_next(struct mfs_cache *c, struct mfs_cache_job *j);
void mfs_cache_job_done(struct mfs_cache *c, struct mfs_cache_job *j, int rc,
			struct mfs_chunk_bytes *bytes);
/*
 * A file descriptor a run polls with its sockets: readable when a read's
 * chunk is queued for it.  Each call also resets it.
 */
int mfs_cache_window_fd(struct mfs_cache *c);
/* 1 if h is cached (loaded), else 0. */
int mfs_cache_has(struct mfs_cache *c, const struct mfs_hash *h);
/*
 * Forgets h (modelfs-admin evict): its bytes are freed now, or at the last
 * release if a reader holds them.  Returns the bytes it held, 0 if absent
 * or still loading.
 */
uint32_t mfs_cache_drop(struct mfs_cache *c, const struct mfs_hash *h);
/* Counters since start. */
void mfs_cache_stats(struct mfs_cache *c, struct mfs_cache_stats *st);

#endif
