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

#include "hash.h"

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
int mfs_cache_get(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len,
		  const struct mfs_cache_entry **out);
void mfs_cache_release(struct mfs_cache *c, const struct mfs_cache_entry *e);

/* Queues a background load of h unless cached, loading or the queue is full. */
void mfs_cache_prefetch(struct mfs_cache *c, const struct mfs_hash *h, uint32_t len);

/* Counters since start. */
void mfs_cache_stats(struct mfs_cache *c, struct mfs_cache_stats *st);

#endif
