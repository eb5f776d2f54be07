/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What this node holds of a chunk outside its store: its disk cache of
 * peers' chunks (DATA/cache), for the daemon's per-file report and for
 * modelfs-admin evict.  The store itself is never touched here: chunks in
 * it are owned or were written here, and count as replicas.
 */
#include <errno.h>

#include "diskcache.h"
#include "internal.h"

int mfs_replica_cached(struct mfs_replica *r, const struct mfs_hash *h, struct mfs_chunk_info *info,
		       uint64_t *reclen)
{
	if (!r || !r->dc)
		return -ENOENT;
	keep_drain(r); /* what reads fetched is written (keep.c): counted where it lands */
	return mfs_diskcache_peek(r->dc, h, info, reclen);
}

uint64_t mfs_replica_uncache(struct mfs_replica *r, const struct mfs_hash *h)
{
	if (!r || !r->dc)
		return 0;
	keep_drain(r);
	return mfs_diskcache_drop(r->dc, h);
}
