/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's floor (MFS_SPACE_FLOOR, db.h): no write, flush or reclaim
 * reaches RocksDB while its disk has less than that free.
 *
 * Why here, below every writer: the disk is often shared, and when another
 * program fills it, whatever RocksDB writes next may fail for space.  A
 * WAL append that fails so puts RocksDB 7.8 in its background-error state,
 * and the next use of that WAL aborts the process (Debian's build has
 * assertions on; t0805 measured it): the meta_sync_ms timer's sync within
 * a second, an fsync, or a write once RocksDB's own recovery let writes
 * in again.  The mount dies with every reader on it.  Within the WAL's
 * allocated block an append needs no new space; what does is the next
 * block, a new WAL file and the flush that rolling the WAL starts.
 * Refused before RocksDB sees them, writes fail with a clean ENOSPC and
 * the store stays as it was: writable again as soon as space is freed,
 * without a restart.  Syncs are never refused: they need no new space,
 * and they make durable what callers were already told about.  A disk
 * that fills between this check and a write can still fail an append:
 * db_rocks.c (wal_gate) keeps the daemon alive through that.
 *
 * The commit of file bytes (fuse/fs_write.c) and replication (replica/
 * room.c) stop earlier, at MFS_SPACE_MARGIN: the floor is what is left for
 * the namespace (mkdir, rename, chmod, setxattr, unlink...), gc and peers'
 * ops.
 *
 * Writes close together share a statvfs (1.4 us on this VM's ext4): the
 * last reading, at most RECHECK_NS old, less what writes took since,
 * still leaves SLACK beyond the floor.  Short, because another program
 * may write fast: with a second's trust, dd filled a 1.5 GiB tmpfs under
 * RocksDB's WAL in 3 runs of 3; 1 GiB in 10 ms is 100 GB/s.
 *
 * Test only: MODELFS_SPACE_FLOOR=BYTES in the environment of the process
 * that opens the store moves the floor (0: none), so a test can make
 * RocksDB itself meet the full disk (db_rocks.c, wal_failed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "db_internal.h"
#include "store/base/log.h"

#define LOG_COMPONENT "db"

#define RECHECK_NS 10000000ull
#define SLACK (1ull << 30)

int db_space_watch(struct mfs_db *db, const char *dir)
{
	const char *env = getenv("MODELFS_SPACE_FLOOR");
	char *end = NULL;

	free(db->space_dir);
	db->space_dir = NULL;
	db->space_floor = MFS_SPACE_FLOOR;
	if (env && *env) {
		unsigned long long v = strtoull(env, &end, 10);

		if (*end || end == env) {
			log_error("MODELFS_SPACE_FLOOR=%s: not a number of bytes", env);
			return -EINVAL;
		}
		db->space_floor = v;
		log_warn("MODELFS_SPACE_FLOOR=%llu: the store's floor moved (test only)", v);
	}
	if (dir && db->space_floor && !(db->space_dir = strdup(dir)))
		return -ENOMEM;
	return 0;
}

int db_space_check(struct mfs_db *db, uint64_t need)
{
	struct statvfs st;
	uint64_t avail;
	int low, was;

	if (!db->space_dir ||
	    mfs_space_reading_take(&db->space, need, db->space_floor + SLACK, RECHECK_NS))
		return 0;
	if (statvfs(db->space_dir, &st))
		return 0; /* nothing to check against: RocksDB's own errors tell */
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	mfs_space_reading_set(&db->space, avail);
	low = avail < need + db->space_floor;
	was = __atomic_exchange_n(&db->space_low, low, __ATOMIC_RELAXED);
	if (low && !was)
		log_warn("%llu KiB free on %s, under the %llu KiB the store keeps: its writes "
			 "fail with ENOSPC until space is freed",
			 (unsigned long long)(avail >> 10), db->space_dir,
			 (unsigned long long)(db->space_floor >> 10));
	else if (!low && was)
		log_info("%llu MiB free on %s: the store takes writes again",
			 (unsigned long long)(avail >> 20), db->space_dir);
	return low ? -ENOSPC : 0;
}

int mfs_db_space_low(struct mfs_db *db)
{
	/* Low at the last write: look again, space may be back since. */
	if (__atomic_load_n(&db->space_low, __ATOMIC_RELAXED))
		db_space_check(db, 0);
	return __atomic_load_n(&db->space_low, __ATOMIC_RELAXED);
}
