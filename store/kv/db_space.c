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
 * The reserve (MFS_SPACE_RESERVE, db/space.reserve): refusing writes keeps
 * a running node alive on a full disk, but a node started on one (after a
 * reboot, a kill, an upgrade) meets RocksDB's open, which always writes:
 * a new MANIFEST, CURRENT (through a temporary file), an OPTIONS file, an
 * SST per column family the WAL's replay filled, and the open's WAL
 * record.  On a tmpfs filled to the last page the open failed at the SST,
 * with 4 KiB free at the MANIFEST, with 8 KiB at CURRENT; 12 KiB opened
 * (without the OPTIONS file: RocksDB 7.8 goes on without it), and 8 KiB
 * with the replay kept in memory (below; t0806, without a reserve).  No option
 * of RocksDB's makes an open that writes nothing but a read-only one, and
 * a read-only store could not take writes again without a reopen under
 * every reader.  So the store owns a megabyte that it gives back when it
 * opens with less than floor + reserve free, as databases keep a reserve
 * file: the open writes into that room, replaying the WAL into memory
 * (avoid_flush_during_recovery, db_rocks.c) so that the SSTs, as large as
 * the WAL, wait until there is room.  The node then runs as one that went
 * full while running: reads, ENOSPC for writes, FULL in status, writes
 * again once space is freed; and the first check that finds floor +
 * reserve free makes the reserve again.
 *
 * Test only: MODELFS_SPACE_FLOOR=BYTES in the environment of the process
 * that opens the store moves the floor (0: none), so a test can make
 * RocksDB itself meet the full disk (db_rocks.c, wal_failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "db_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "db"

#define RECHECK_NS 10000000ull
#define SLACK (1ull << 30)

#define RESERVE_NAME "space.reserve"

int db_space_floor(uint64_t *floor)
{
	const char *env = getenv("MODELFS_SPACE_FLOOR");
	unsigned long long v;
	char *end = NULL;

	*floor = MFS_SPACE_FLOOR;
	if (!env || !*env)
		return 0;
	v = strtoull(env, &end, 10);
	if (*end || end == env) {
		log_error("MODELFS_SPACE_FLOOR=%s: not a number of bytes", env);
		return -EINVAL;
	}
	*floor = v;
	return 0;
}

static void reserve_path(const char *dir, char *path, size_t size)
{
	snprintf(path, size, "%s/" RESERVE_NAME, dir);
}

/* Free bytes on dir's filesystem, or UINT64_MAX when statvfs cannot tell. */
static uint64_t avail_of(const char *dir)
{
	struct statvfs st;

	if (statvfs(dir, &st))
		return UINT64_MAX;
	return (uint64_t)st.f_bavail * st.f_frsize;
}

int db_space_release(const char *dir, uint64_t floor, int *given)
{
	uint64_t avail = avail_of(dir);
	char path[4096];

	*given = 0;
	if (avail >= floor + MFS_SPACE_RESERVE)
		return 0;
	reserve_path(dir, path, sizeof(path));
	if (unlink(path) == 0) {
		*given = 1;
		log_warn("%llu KiB free on %s at open: its reserve (%llu KiB) given back for "
			 "RocksDB's open", (unsigned long long)(avail >> 10), dir,
			 (unsigned long long)(MFS_SPACE_RESERVE >> 10));
	} else if (errno != ENOENT) {
		log_warn("%s: %s", path, strerror(errno));
	}
	return 1;
}

/*
 * Allocates the reserve (its blocks, not only its size: st_blocks): 0, 1
 * when it was there already, or a negative errno.  A failure gives back
 * what it took; the next check with room tries again.
 */
static int reserve_make(const char *dir)
{
	char path[4096];
	struct stat st;
	int fd, rc;

	reserve_path(dir, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_blocks * 512 >= MFS_SPACE_RESERVE) {
		close(fd);
		return 1;
	}
	rc = posix_fallocate(fd, 0, MFS_SPACE_RESERVE);
	if (rc == 0)
		rc = fsync(fd) ? errno : 0;
	close(fd);
	if (rc) {
		unlink(path);
		return -rc;
	}
	return 0;
}

void db_space_restore(const char *dir)
{
	int rc = reserve_make(dir);

	if (rc < 0)
		log_warn("%s/" RESERVE_NAME ": cannot allocate the store's reserve again: %s",
			 dir, mfs_strerror(rc));
}

/*
 * Makes the reserve if it is gone and avail leaves the floor and it free;
 * returns what is free after.
 */
static uint64_t reserve_check(struct mfs_db *db, uint64_t avail)
{
	int rc;

	if (!__atomic_load_n(&db->reserve_gone, __ATOMIC_RELAXED) ||
	    avail < db->space_floor + MFS_SPACE_RESERVE ||
	    !__atomic_exchange_n(&db->reserve_gone, 0, __ATOMIC_ACQ_REL))
		return avail;
	rc = reserve_make(db->space_dir);
	if (rc < 0) {
		/* Tried again at the next check with room: said once. */
		if (!__atomic_exchange_n(&db->reserve_warned, 1, __ATOMIC_RELAXED))
			log_warn("%s/" RESERVE_NAME ": cannot allocate the store's reserve: %s",
				 db->space_dir, mfs_strerror(rc));
		__atomic_store_n(&db->reserve_gone, 1, __ATOMIC_RELEASE);
	}
	if (rc)
		return avail;
	avail -= MFS_SPACE_RESERVE;
	mfs_space_reading_set(&db->space, avail);
	return avail;
}

int db_space_watch(struct mfs_db *db, const char *dir, uint64_t floor, int low)
{
	free(db->space_dir);
	db->space_dir = NULL;
	db->space_floor = floor;
	if (floor != MFS_SPACE_FLOOR)
		log_warn("MODELFS_SPACE_FLOOR=%llu: the store's floor moved (test only)",
			 (unsigned long long)floor);
	if (!dir)
		return 0;
	if (!(db->space_dir = strdup(dir)))
		return -ENOMEM;
	__atomic_store_n(&db->reserve_gone, 1, __ATOMIC_RELAXED);
	if (!low) {
		reserve_check(db, avail_of(dir));
		return 0;
	}
	/* Opened under the floor: FULL from the start (status, mfs_db_space_low). */
	if (floor)
		db_space_check(db, 0);
	return 0;
}

int db_space_check(struct mfs_db *db, uint64_t need)
{
	struct statvfs st;
	uint64_t avail;
	int low, was;

	if (!db->space_dir || !db->space_floor ||
	    mfs_space_reading_take(&db->space, need, db->space_floor + SLACK, RECHECK_NS))
		return 0;
	if (statvfs(db->space_dir, &st))
		return 0; /* nothing to check against: RocksDB's own errors tell */
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	mfs_space_reading_set(&db->space, avail);
	avail = reserve_check(db, avail);
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
