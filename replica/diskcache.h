/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk cache: chunks fetched from peers that this node does not own,
 * one file per chunk under DATA/cache/ (its name is the chunk's hash in hex,
 * its content the chunk record as the peer stores it).  Plain files, not
 * RocksDB: a cached chunk costs one write and no WAL or blob CRC32C (both in
 * software in Debian's RocksDB), and losing one in a crash costs a refetch.
 * Every read checks the record's checksum, so a torn or damaged file is a
 * miss, never bad bytes.  Least recently used files are removed above the
 * size limit.  Thread safe.
 */
#ifndef MFS_DISKCACHE_H
#define MFS_DISKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/chunk/codec.h"
#include "store/base/hash.h"

struct mfs_diskcache;

/* Opens (creating) dir, indexing what is there.  limit in bytes (0: keep nothing). */
int mfs_diskcache_open(const char *dir, uint64_t limit, struct mfs_diskcache **out);
void mfs_diskcache_close(struct mfs_diskcache *dc);

/* Stores a record (replacing any); evicts LRU files above the limit.  0 or -errno. */
int mfs_diskcache_put(struct mfs_diskcache *dc, const struct mfs_hash *h, const void *rec,
		      size_t len);
/*
 * The record of h in a malloc'ed buffer (*rec, *len), checked (header and
 * checksum): 0, -ENOENT (absent, or damaged and now removed), or -errno.
 */
int mfs_diskcache_get(struct mfs_diskcache *dc, const struct mfs_hash *h, uint8_t **rec,
		      size_t *len);
/* Forgets h (it moved into the store, or was bad). */
void mfs_diskcache_remove(struct mfs_diskcache *dc, const struct mfs_hash *h);
int mfs_diskcache_has(struct mfs_diskcache *dc, const struct mfs_hash *h);
/*
 * Whether h is cached: 0 with *reclen (the record's size, if reclen is not
 * NULL) and, if info is not NULL, the record's header (read from the file,
 * unchecked), or -ENOENT.  Does not count as a use.
 */
int mfs_diskcache_peek(struct mfs_diskcache *dc, const struct mfs_hash *h,
		       struct mfs_chunk_info *info, uint64_t *reclen);
/*
 * Evicts least recently used files until bytes are freed or nothing is
 * left (the store's disk needs the room, replica/room.c).  Returns the
 * bytes freed.
 */
uint64_t mfs_diskcache_shrink(struct mfs_diskcache *dc, uint64_t bytes);
/* Removes h if cached (modelfs-admin evict); returns the bytes it took, 0 if absent. */
uint64_t mfs_diskcache_drop(struct mfs_diskcache *dc, const struct mfs_hash *h);

struct mfs_diskcache_entry {
	struct mfs_hash h;
	uint64_t size;         /* bytes of its file */
};
/* What the cache holds now: *out (caller frees) gets *n entries.  0 or -ENOMEM. */
int mfs_diskcache_list(struct mfs_diskcache *dc, struct mfs_diskcache_entry **out, size_t *n);

struct mfs_diskcache_stats {
	uint64_t files, bytes, limit, hits, misses, evicted;
};
void mfs_diskcache_stats(struct mfs_diskcache *dc, struct mfs_diskcache_stats *st);

#endif
