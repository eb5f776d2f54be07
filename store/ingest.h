/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest: turns the bytes of a staged file into stored chunks and a stored
 * manifest.  Chunks already in the store are not encoded again (dedup).
 * New chunk records skip the WAL and are flushed to their blob files before
 * this returns; the manifest goes through the WAL unsynced.  Nothing is
 * published here: the caller publishes the manifest id with mfs_ns_publish(),
 * whose synced write makes the manifest durable too.
 */
#ifndef MFS_INGEST_H
#define MFS_INGEST_H

#include <stdint.h>

#include "hash.h"

struct mfs_db;

struct mfs_ingest_stats {
	uint64_t bytes;        /* file bytes read */
	uint64_t chunks;       /* chunks in the manifest */
	uint64_t new_chunks;   /* chunks this ingest stored */
	uint64_t new_stored;   /* record bytes this ingest stored */
};

/*
 * Ingests fd[0..size).  On success *has_manifest says whether *id names a
 * manifest (0 for an empty file).  threads: encoder threads (>= 1).
 */
int mfs_ingest_fd(struct mfs_db *db, int fd, uint64_t size, int threads, struct mfs_hash *id,
		  int *has_manifest, struct mfs_ingest_stats *st);

#endif
