/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replication's room on the store's disk.  A node keeps what it owns and
 * caches what it read for its peers, so it can fill its disk with their
 * files.  Left to run out, a RocksDB flush fails for space and the store
 * stays in RocksDB's background-error state (the writes of replication
 * stopped until a restart, or until backoffs of up to 256 s ran out: t1410
 * timed out so once).  Replication therefore stops short of the margin a
 * local commit keeps (MFS_SPACE_MARGIN, store/kv/db.h): it pauses while
 * the disk is that full, and goes on within a second of space coming back,
 * its entries untouched (no attempt counted, no backoff).
 *
 * The disk cache (peers' chunks this node does not own, up to
 * disk_cache_mb) gives way first: an owned copy counts toward a file's
 * factor, a cached one is only a faster read.  At the margin the cache
 * evicts its oldest files for the room needed and ROOM_SLACK more, so
 * replication does not wait on a cache that could make room (t1415).
 *
 * A local commit needs its size beyond the same margin, so a disk that
 * replication filled takes no new local file until space is freed
 * (modelfs-admin gc, evict, or a lower factor): the store itself stays
 * whole and writable.
 */
#include <sys/statvfs.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "replica"
/* Beyond what the chunk at hand needs, what the cache frees at once: not a file per chunk. */
#define ROOM_SLACK (16ull << 20)

static uint64_t avail_bytes(const char *dir, int *ok)
{
	struct statvfs st;

	*ok = !statvfs(dir, &st);
	return *ok ? (uint64_t)st.f_bavail * st.f_frsize : 0;
}

int repl_room(struct mfs_replica *r, uint64_t need)
{
	uint64_t avail;
	int low, was, ok;

	if (!r->cfg.data_dir)
		return 1; /* nothing to check against: RocksDB's own errors tell */
	avail = avail_bytes(r->cfg.data_dir, &ok);
	if (!ok)
		return 1;
	low = avail < need + MFS_SPACE_MARGIN;
	if (low && r->dc &&
	    mfs_diskcache_shrink(r->dc, need + MFS_SPACE_MARGIN - avail + ROOM_SLACK)) {
		avail = avail_bytes(r->cfg.data_dir, &ok);
		low = ok && avail < need + MFS_SPACE_MARGIN;
	}
	was = __atomic_exchange_n(&r->room_low, low, __ATOMIC_RELAXED);
	if (low && !was)
		log_warn("replication paused: %llu MiB free on %s, the store keeps %llu MiB; "
			 "it goes on when space is freed",
			 (unsigned long long)(avail >> 20), r->cfg.data_dir,
			 (unsigned long long)(MFS_SPACE_MARGIN >> 20));
	else if (!low && was)
		log_info("replication goes on: %llu MiB free on %s",
			 (unsigned long long)(avail >> 20), r->cfg.data_dir);
	if (low)
		__atomic_add_fetch(&r->room_waits, 1, __ATOMIC_RELAXED);
	return !low;
}
