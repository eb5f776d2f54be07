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
 * A local commit needs its size beyond the same margin, so a disk that
 * replication filled takes no new local file until space is freed
 * (modelfs-admin gc, evict, or a lower factor): the store itself stays
 * whole and writable.
 */
#include <sys/statvfs.h>

#include "internal.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "replica"

int repl_room(struct mfs_replica *r, uint64_t need)
{
	struct statvfs st;
	uint64_t avail;
	int low, was;

	if (!r->cfg.data_dir || statvfs(r->cfg.data_dir, &st))
		return 1; /* nothing to check against: RocksDB's own errors tell */
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	low = avail < need + MFS_SPACE_MARGIN;
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
