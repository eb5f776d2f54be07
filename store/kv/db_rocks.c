/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RocksDB backend of struct mfs_db (db_internal.h), what a node runs
 * on, and the only file that includes rocksdb/c.h.  Settings follow the
 * measurements in shared/reference/rocksdb-zmq-replication.md: chunk records
 * (1 MiB average) go to blob files (write amplification 1.0 instead of ~4
 * inline), blob GC stays off (it relocates data even without deletes), and
 * the namespace CFs are small, prefix-iterated SSTs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "db_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "db"

static const struct mfs_kv_ops rocks_ops;

/* On disk: never rename.  Index = enum mfs_cf + 1 (0 is "default"). */
static const char *const cf_names[MFS_CF_COUNT + 1] = {
	"default", "meta", "chunks", "chunk_index", "inodes", "dirents", "manifests",
	"oplog", "stamps", "wanted",
};

struct rocks {
	struct mfs_db base;
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_options_t *cf_opts[MFS_CF_COUNT + 1];
	rocksdb_column_family_handle_t *cf[MFS_CF_COUNT + 1];
	rocksdb_readoptions_t *ro_verify, *ro_fast;
	rocksdb_writeoptions_t *wo[3];      /* by enum mfs_write_mode */
	rocksdb_flushoptions_t *flush;
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *table;
	char *dir;
	/*
	 * After a WAL append failed (a disk that filled between the floor's
	 * check and the write, db_space.c), RocksDB 7.8's WAL writer keeps
	 * the error, and any later use of that writer aborts the process
	 * (Debian's build has assertions on: WritableFileWriter's
	 * AssertFalseAndGetStatusForPrevError), whether by a sync (SyncWAL),
	 * by a write once RocksDB accepts writes again, or by the memtable
	 * switch a flush or a write makes.  RocksDB's own recovery, once space
	 * is back, flushes the memtables and drops the failed WAL file; but
	 * when the failed append was the first write since the open (every
	 * memtable empty, nothing to flush), it kept that WAL, and the next
	 * write aborted (so the open now writes a first record).  So the
	 * failed file is a gate (wal_gate): while it exists, every write, sync
	 * and flush fails with the error at once, without reaching RocksDB;
	 * once it is gone, the writer went with it.
	 * Recovery kept the failed WAL in another case too (once in 3 runs
	 * of setxattrs racing dd on a 1.5 GiB tmpfs; t0807 makes it at will):
	 * the failed append was the first of a WAL that the write's own
	 * SwitchWAL (the WALs alive past max_total_wal_size) started after
	 * flushing every family, so every memtable was empty, recovery's
	 * flushes switched nothing, and the failed WAL stayed the current one:
	 * the store took no writes until a restart.  A write without the WAL
	 * after the failure, to leave recovery a memtable to flush, aborted
	 * (its own SwitchWAL met the broken writer), and 7.8's C API has no
	 * Resume; so once the gate has stayed shut with room on the disk for
	 * a while, the store reopens the database in place (reopen_stuck).
	 */
	pthread_mutex_t wal_lock;
	int wal_gated;			/* atomic; set and cleared under wal_lock */
	int wal_rc;			/* the failure's error; wal_lock */
	char wal_failed[4096];		/* the failed WAL file's path; wal_lock */
	uint64_t room_since;		/* gated with room since (monotonic ns), 0; wal_lock */
	uint64_t reopen_after_ns;	/* REOPEN_AFTER_NS, or the test's; set at open */
	int reopen_told;		/* the reopen's wait was logged; wal_lock */
	/*
	 * The reopen in place (reopen_stuck): every call into db->db (or its
	 * column family handles) holds life for reading; the reopen takes it
	 * for writing, never waiting for it, and only while no iterator or
	 * view is live.  Values are copied out of RocksDB (rocks_get), so no
	 * pinned value outlives its call.
	 */
	pthread_rwlock_t life;
	unsigned live;			/* atomic: iterators and views not yet freed */
	/*
	 * A reopen whose open failed (another process took the LOCK, the disk
	 * filled again) leaves db->db NULL: every call then fails with EIO,
	 * and the next blocked write, or read (shut_retry), tries the open
	 * again, REOPEN_AFTER_NS later.  The daemon lives on, its reads failing, rather than abort.
	 */
	int shut;			/* atomic: db->db is closed; set and cleared under life */
};

struct rocks_batch {
	struct mfs_batch base;	/* base.db: for the column family handles */
	rocksdb_writebatch_t *wb;
	int lost;		/* an update met the store shut: never write the rest */
};

struct rocks_view {
	struct mfs_db_view base;
	const rocksdb_snapshot_t *snap;
};

struct rocks_iter {
	struct mfs_iter base;
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ro;
	size_t ulen;
	uint8_t upper[];	/* the bound must outlive the read options */
};

static struct rocks *R(struct mfs_db *db)
{
	return (struct rocks *)db;
}

static struct rocks_iter *RI(struct mfs_iter *it)
{
	return (struct rocks_iter *)it;
}

/* Converts and logs a RocksDB error string once, where it enters. */
static int db_error(char *err, const char *what)
{
	int rc = MFS_EDB;

	if (!err)
		return 0;
	if (strstr(err, "No space left") || strstr(err, "NoSpace"))
		rc = -ENOSPC;
	else if (strstr(err, "/LOCK:") || strstr(err, "lock file"))
		rc = -EBUSY;
	/* -EBUSY is left to the caller, which knows who may hold the lock. */
	if (rc == -ENOSPC)
		log_warn("%s: %s", what, err);
	else if (rc != -EBUSY)
		log_error("%s: %s", what, err);
	free(err);
	return rc;
}

static rocksdb_options_t *cf_options(struct rocks *db, int idx)
{
	rocksdb_options_t *o = rocksdb_options_create();

	rocksdb_options_set_block_based_table_factory(o, db->table);
	rocksdb_options_set_compression(o, rocksdb_lz4_compression);
	if (idx == MFS_CF_CHUNKS + 1) {
		/* Records are already compressed by our codecs. */
		rocksdb_options_set_enable_blob_files(o, 1);
		rocksdb_options_set_min_blob_size(o, 4096);
		rocksdb_options_set_blob_file_size(o, 256ull << 20);
		rocksdb_options_set_blob_compression_type(o, rocksdb_no_compression);
		rocksdb_options_set_enable_blob_gc(o, 0);
		/*
		 * Small memtables, several of them: flushes to blob files overlap
		 * the ingest, and the arena memory is reused instead of faulting
		 * in (and zeroing) fresh pages for every commit.
		 */
		rocksdb_options_set_write_buffer_size(o, 32ull << 20);
		rocksdb_options_set_max_write_buffer_number(o, 4);
		rocksdb_options_set_target_file_size_base(o, 8ull << 20);
		rocksdb_options_set_max_bytes_for_level_base(o, 64ull << 20);
		rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
	} else {
		rocksdb_options_set_write_buffer_size(o, 16ull << 20);
	}
	return o;
}

/* tmpfs before Linux 6.6 refuses O_DIRECT; RocksDB would fail at first read. */
static int supports_direct_io(const char *dir)
{
	char probe[4096];
	int fd;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return 0;
	snprintf(probe, sizeof(probe), "%s/.direct-io-probe", dir);
	fd = open(probe, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	close(fd);
	unlink(probe);
	return 1;
}

/*
 * An OPTIONS file that RocksDB 7.8 could not finish (a full disk: it goes
 * on without) stays as OPTIONS-NNNNNN.dbtmp for good, up to 44 kB each;
 * once the open holds the LOCK, none is being written.
 */
static void drop_options_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n > 14 && !strncmp(e->d_name, "OPTIONS-", 8) &&
		    !strcmp(e->d_name + n - 6, ".dbtmp") && !unlinkat(dirfd(d), e->d_name, 0))
			log_info("removed %s/%s, an OPTIONS file RocksDB did not finish", dir,
				 e->d_name);
	}
	closedir(d);
}

static void rocks_close(struct mfs_db *base);

/* Opens db->db and its column family handles, with the options made. */
static int open_db(struct rocks *db)
{
	char *err = NULL;

	db->db = rocksdb_open_column_families(db->opts, db->dir, MFS_CF_COUNT + 1, cf_names,
					      (const rocksdb_options_t *const *)db->cf_opts,
					      db->cf, &err);
	if (err) {
		db->db = NULL;
		return db_error(err, db->dir);
	}
	drop_options_tmp(db->dir);
	/*
	 * Every open starts a new WAL file, whose space RocksDB allocates (a
	 * block of max_total_wal_size) at its first append; when the first
	 * write after an open failed for space, RocksDB's recovery kept that
	 * WAL (wal_gate).  So it takes a first record now, while the open has
	 * just found room for its MANIFEST: the deletion of a key that never
	 * exists (doc/format.md, the default column family).
	 */
	rocksdb_delete(db->db, db->wo[MFS_WRITE_ASYNC], "wal", 3, &err);
	return db_error(err, "the WAL's first record");
}

static void close_db(struct rocks *db)
{
	if (!db->db)
		return;
	for (int i = 0; i <= MFS_CF_COUNT; i++)
		rocksdb_column_family_handle_destroy(db->cf[i]);
	rocksdb_close(db->db);
	db->db = NULL;
}

/*
 * On a disk under the floor, the open replays the WAL into the memtables
 * and leaves it, instead of flushing what it replayed to SSTs (as large
 * as the WAL: up to max_total_wal_size) that the disk has no room for
 * (db_space.c, the reserve).  Not in 7.8's C API but through a string.
 */
static int set_low_space(struct rocks *db)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;

	rocksdb_get_options_from_string(db->opts, "avoid_flush_during_recovery=true", o, &err);
	if (err) {
		rocksdb_options_destroy(o);
		return db_error(err, "avoid_flush_during_recovery");
	}
	rocksdb_options_destroy(db->opts);
	db->opts = o;
	return 0;
}

static uint64_t reopen_after_ns(void);

int mfs_db_rocks_open(const char *dir, int low_space, struct mfs_db **out)
{
	struct rocks *db = calloc(1, sizeof(*db));
	int rc = 0;

	*out = NULL;
	if (!db)
		return -ENOMEM;
	mfs_db_init_base(&db->base, &rocks_ops);
	pthread_mutex_init(&db->wal_lock, NULL);
	pthread_rwlock_init(&db->life, NULL);
	db->reopen_after_ns = reopen_after_ns();
	if (!(db->dir = strdup(dir))) {
		rc = -ENOMEM;
		goto out;
	}
	db->cache = rocksdb_cache_create_lru(64ull << 20);
	db->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(db->table, db->cache);
	rocksdb_block_based_options_set_filter_policy(db->table, rocksdb_filterpolicy_create_bloom_full(10));

	db->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(db->opts, 1);
	rocksdb_options_set_create_missing_column_families(db->opts, 1);
	rocksdb_options_increase_parallelism(db->opts, 2);
	rocksdb_options_set_max_background_jobs(db->opts, 4);
	rocksdb_options_set_bytes_per_sync(db->opts, 1 << 20);
	rocksdb_options_set_wal_bytes_per_sync(db->opts, 1 << 20);
	/*
	 * Only namespace records, manifests and chunk index entries go through
	 * the WAL (chunk records skip it), so it stays small.  The cap also
	 * bounds what RocksDB preallocates per WAL file (otherwise 1.1x the
	 * largest write buffer: tens of MiB a small store cannot spare).
	 */
	rocksdb_options_set_max_total_wal_size(db->opts, 8ull << 20);
	rocksdb_options_set_wal_recovery_mode(db->opts, 2 /* point in time */);
	rocksdb_options_set_keep_log_file_num(db->opts, 3);
	/*
	 * RocksDB's own info LOG lives on the store's disk.  Debian's librocksdb
	 * 7.8 is built with assertions: once a LOG append failed on a full disk,
	 * the next one aborts the process (WritableFileWriter,
	 * sync_without_flush_called_), and a manual flush logs at INFO.  Our
	 * own log reports every error RocksDB returns; its LOG keeps the fatal
	 * ones only.
	 */
	rocksdb_options_set_info_log_level(db->opts, 4 /* FATAL_LEVEL */);
	/*
	 * Chunks of a file sit in file order in the blob files (ingest writes
	 * them so), so the kernel's readahead on blob files is what makes a cold
	 * sequential read fast.  RocksDB's default FADV_RANDOM turns it off.
	 */
	rocksdb_options_set_advise_random_on_open(db->opts, 0);
	/*
	 * Direct reads: chunk bytes are cached once, by the FUSE page cache and
	 * the chunk cache, not a second time as blob file pages; and a cold
	 * read costs less CPU (measured: 0.9 vs 1.3 s of daemon CPU per GiB).
	 */
	if (supports_direct_io(dir))
		rocksdb_options_set_use_direct_reads(db->opts, 1);

	if (low_space && (rc = set_low_space(db)))
		goto out;
	for (int i = 0; i <= MFS_CF_COUNT; i++)
		db->cf_opts[i] = cf_options(db, i);
	db->ro_verify = rocksdb_readoptions_create();
	db->ro_fast = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(db->ro_fast, 0);
	for (int i = 0; i < 3; i++)
		db->wo[i] = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(db->wo[MFS_WRITE_SYNC], 1);
	rocksdb_writeoptions_disable_WAL(db->wo[MFS_WRITE_NOWAL], 1);
	db->flush = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(db->flush, 1);
	rc = open_db(db);
out:
	if (rc) {
		rocks_close(&db->base);
		return rc;
	}
	*out = &db->base;
	return 0;
}

static void rocks_close(struct mfs_db *base)
{
	struct rocks *db = R(base);

	close_db(db);
	for (int i = 0; i <= MFS_CF_COUNT; i++)
		if (db->cf_opts[i])
			rocksdb_options_destroy(db->cf_opts[i]);
	if (db->ro_verify)
		rocksdb_readoptions_destroy(db->ro_verify);
	if (db->ro_fast)
		rocksdb_readoptions_destroy(db->ro_fast);
	for (int i = 0; i < 3; i++)
		if (db->wo[i])
			rocksdb_writeoptions_destroy(db->wo[i]);
	if (db->flush)
		rocksdb_flushoptions_destroy(db->flush);
	if (db->opts)
		rocksdb_options_destroy(db->opts);
	if (db->table)
		rocksdb_block_based_options_destroy(db->table);
	if (db->cache)
		rocksdb_cache_destroy(db->cache);
	pthread_mutex_destroy(&db->wal_lock);
	pthread_rwlock_destroy(&db->life);
	free(db->dir);
	free(db);
}

/* A call into db->db: the reopen waits for none, and none starts during it. */
static void enter(struct rocks *db)
{
	pthread_rwlock_rdlock(&db->life);
}

static int wal_gate(struct rocks *db);

/*
 * A read that finds the store shut tries the open again too (wal_gate:
 * REOPEN_AFTER_NS after the last try), before its enter().  Writes alone
 * would not do: a namespace change reads first, and fails with EIO there,
 * so on a node with nothing left to sync the store stayed shut until a
 * restart (t0808).
 */
static void shut_retry(struct rocks *db)
{
	if (__atomic_load_n(&db->shut, __ATOMIC_ACQUIRE))
		wal_gate(db);
}

static void leave(struct rocks *db)
{
	pthread_rwlock_unlock(&db->life);
}

/*
 * Values are copied out: a pinned value could hold memory of the database
 * (and the chunk cache keeps chunks' values for as long as it likes), which
 * a reopen in place (reopen_stuck) would free under it.
 */
static int rocks_get(struct mfs_db *base, enum mfs_cf cf, const void *key, size_t klen,
		     struct mfs_val *v, int verify)
{
	struct rocks *db = R(base);
	char *err = NULL;
	rocksdb_pinnableslice_t *ps;
	const char *p;
	size_t len;
	void *copy;

	shut_retry(db);
	enter(db);
	if (!db->db) {
		leave(db);
		return -EIO;
	}
	ps = rocksdb_get_pinned_cf(db->db, verify ? db->ro_verify : db->ro_fast,
				   db->cf[cf + 1], key, klen, &err);
	if (err || !ps) {
		leave(db);
		return err ? db_error(err, "get") : -ENOENT;
	}
	/* Copied before leave(): a reopen may free what the slice pins. */
	p = rocksdb_pinnableslice_value(ps, &len);
	copy = malloc(len ? len : 1);
	if (copy)
		memcpy(copy, p, len);
	rocksdb_pinnableslice_destroy(ps);
	leave(db);
	if (!copy)
		return -ENOMEM;
	v->pin = copy;
	v->release = free;
	v->p = copy;
	v->len = len;
	return 0;
}

static struct mfs_batch *rocks_batch_new(struct mfs_db *db)
{
	struct rocks_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	/* RocksDB's own allocations throw (and abort) rather than fail. */
	b->wb = rocksdb_writebatch_create();
	b->base.db = db;
	return &b->base;
}

static void rocks_batch_free(struct mfs_batch *base)
{
	struct rocks_batch *b = (struct rocks_batch *)base;

	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

/* A batch keeps the family's id; the handle is the open database's. */
static void rocks_batch_put(struct mfs_batch *base, enum mfs_cf cf, const void *k, size_t kl,
			    const void *v, size_t vl)
{
	struct rocks_batch *b = (struct rocks_batch *)base;
	struct rocks *db = R(base->db);

	enter(db);
	if (db->db)
		rocksdb_writebatch_put_cf(b->wb, db->cf[cf + 1], k, kl, v, vl);
	else
		b->lost = 1;
	leave(db);
}

static void rocks_batch_delete(struct mfs_batch *base, enum mfs_cf cf, const void *k, size_t kl)
{
	struct rocks_batch *b = (struct rocks_batch *)base;
	struct rocks *db = R(base->db);

	enter(db);
	if (db->db)
		rocksdb_writebatch_delete_cf(b->wb, db->cf[cf + 1], k, kl);
	else
		b->lost = 1;
	leave(db);
}

static size_t rocks_batch_count(struct mfs_batch *base)
{
	return rocksdb_writebatch_count(((struct rocks_batch *)base)->wb);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The reopen in place.  RocksDB's recovery, once space is back, drops the
 * failed WAL within a poll or two (every 5 s) when it has a memtable to
 * flush; when the failed append was the first of a WAL started after every
 * memtable was flushed (t0807), it keeps it, and the broken writer with
 * it.  Any use of that writer aborts, a memtable switch outside recovery
 * too, and 7.8's C API has no Resume: a close ends it (the close does not
 * write to the WAL), and the open starts a new WAL.  Everything the
 * failed WAL's writes told their callers failed is not in it.  After
 * REOPEN_AFTER_NS with room, at a write, sync or flush (or, the store
 * shut, a read: shut_retry) that finds no call in RocksDB and no iterator
 * or view live (it never waits for them: the next one tries again).
 */
#define REOPEN_AFTER_NS (12ull * 1000000000ull)
#define REOPEN_ROOM (1ull << 20)

/*
 * MODELFS_TEST_REOPEN_AFTER_MS=N (test only, t0807-t0809): the reopen comes
 * after N ms instead of REOPEN_AFTER_NS, so that the tests that make a stuck
 * WAL do not wait 12 s for each reopen.  Read once, at open.
 */
static uint64_t reopen_after_ns(void)
{
	const char *env = getenv("MODELFS_TEST_REOPEN_AFTER_MS");

	return env ? strtoull(env, NULL, 10) * 1000000ull : REOPEN_AFTER_NS;
}

/* 1 when the gate has been closed with room on the disk for REOPEN_AFTER_NS. */
static int stuck(struct rocks *db)
{
	struct statvfs st;
	uint64_t now = mono_ns(), avail;
	int long_enough;

	if (statvfs(db->dir, &st))
		return 0;
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	pthread_mutex_lock(&db->wal_lock);
	if (!db->wal_gated || avail < db->base.space_floor + REOPEN_ROOM)
		db->room_since = 0;
	else if (!db->room_since)
		db->room_since = now;
	long_enough = db->room_since && now - db->room_since >= db->reopen_after_ns;
	pthread_mutex_unlock(&db->wal_lock);
	return long_enough;
}

/*
 * MODELFS_TEST_REOPEN_FAIL=N (test only, t0807): the first N opens of the
 * reopens fail, as when another process takes the LOCK in between.  Under
 * the life lock held for writing: one caller at a time.
 */
static int test_reopen_fails(void)
{
	static long left = -1;
	const char *env;

	if (left < 0)
		left = (env = getenv("MODELFS_TEST_REOPEN_FAIL")) ? strtol(env, NULL, 10) : 0;
	return left > 0 ? (left--, 1) : 0;
}

/*
 * Still stuck, under the life lock held for writing: another caller that
 * found it stuck (stuck() is not under that lock) may have reopened the
 * store since, or failed to and set the next try's time.
 */
static int still_stuck(struct rocks *db)
{
	int yes;

	pthread_mutex_lock(&db->wal_lock);
	yes = db->wal_gated && db->room_since && mono_ns() - db->room_since >= db->reopen_after_ns;
	pthread_mutex_unlock(&db->wal_lock);
	return yes;
}

/*
 * MODELFS_TEST_REOPEN_PAUSE_MS=N (test only, t0809): the k-th caller that
 * finds the store stuck waits k * N ms before it tries the reopen, so that
 * a second one tries after the first one's reopen is done.
 */
static void test_reopen_pause(void)
{
	static long ms = -1;
	static unsigned calls;
	const char *env;

	if (__atomic_load_n(&ms, __ATOMIC_RELAXED) < 0)
		__atomic_store_n(&ms, (env = getenv("MODELFS_TEST_REOPEN_PAUSE_MS")) ?
				 strtol(env, NULL, 10) : 0, __ATOMIC_RELAXED);
	if (__atomic_load_n(&ms, __ATOMIC_RELAXED) > 0)
		usleep((useconds_t)(__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED) * ms * 1000));
}

static void reopen_stuck(struct rocks *db)
{
	unsigned live;
	int rc;

	if (pthread_rwlock_trywrlock(&db->life))
		return;
	if (!still_stuck(db)) {
		pthread_rwlock_unlock(&db->life);
		return;
	}
	if ((live = __atomic_load_n(&db->live, __ATOMIC_ACQUIRE))) {
		pthread_rwlock_unlock(&db->life);
		/* Said once a gate: a scan or a peer's snapshot may take long. */
		pthread_mutex_lock(&db->wal_lock);
		if (!db->reopen_told)
			log_info("the store's reopen waits for %u iterators and views", live);
		db->reopen_told = 1;
		pthread_mutex_unlock(&db->wal_lock);
		return;
	}
	if (!__atomic_load_n(&db->shut, __ATOMIC_ACQUIRE))
		log_warn("RocksDB kept %s with space back: reopening the store in place",
			 db->wal_failed);
	close_db(db);
	/* Another process may hold the LOCK for a moment (an admin tool): a second. */
	for (int tries = 0; (rc = test_reopen_fails() ? -EIO : open_db(db)) && tries < 10; tries++) {
		close_db(db);
		usleep(100000);
	}
	pthread_mutex_lock(&db->wal_lock);
	if (rc) {
		/* Gated still: the next blocked call tries again, REOPEN_AFTER_NS on. */
		if (!__atomic_load_n(&db->shut, __ATOMIC_ACQUIRE))
			log_error("cannot reopen the store %s: %s; reads fail with EIO, and "
				  "writes as before, until an open works (tried again every %.3g s)",
				  db->dir, mfs_strerror(rc), (double)db->reopen_after_ns / 1e9);
		__atomic_store_n(&db->shut, 1, __ATOMIC_RELEASE);
		db->room_since = mono_ns();
	} else {
		__atomic_store_n(&db->shut, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&db->wal_gated, 0, __ATOMIC_RELEASE);
		db->room_since = 0;
		log_info("the store reopened: it takes writes again");
	}
	pthread_mutex_unlock(&db->wal_lock);
	pthread_rwlock_unlock(&db->life);
}

/* 0, or the error of the failed WAL append while its file is still there. */
static int wal_gate(struct rocks *db)
{
	struct stat st;
	int rc = 0;

	if (!__atomic_load_n(&db->wal_gated, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&db->wal_lock);
	if (db->wal_gated) {
		/* Shut, the gate stays until a reopen works: it is what retries. */
		if (__atomic_load_n(&db->shut, __ATOMIC_ACQUIRE) || stat(db->wal_failed, &st) == 0 ||
		    errno != ENOENT) {
			rc = db->wal_rc;
		} else {
			__atomic_store_n(&db->wal_gated, 0, __ATOMIC_RELEASE);
			log_info("RocksDB dropped %s: the store takes writes again", db->wal_failed);
		}
	}
	pthread_mutex_unlock(&db->wal_lock);
	if (rc && stuck(db)) {
		test_reopen_pause();
		reopen_stuck(db);
		if (!__atomic_load_n(&db->wal_gated, __ATOMIC_ACQUIRE))
			rc = 0;
	}
	return rc;
}

/*
 * 1 with *name the WAL file ("/NNNNNN.log", the last err names), or 0
 * (the info LOG's name is upper case; a data directory may hold ".log").
 */
static int wal_file_of(const char *err, char *name, size_t size)
{
	int found = 0;

	for (const char *end = strstr(err, ".log"); end; end = strstr(end + 1, ".log")) {
		const char *num = end;

		while (num > err && num[-1] >= '0' && num[-1] <= '9')
			num--;
		if (num == end || num == err || num[-1] != '/' || (size_t)(end - num) + 5 > size)
			continue;
		snprintf(name, size, "%.*s.log", (int)(end - num), num);
		found = 1;
	}
	return found;
}

/* An append to the WAL file name failed with rc: it becomes the gate. */
static void wal_close_gate(struct rocks *db, const char *name, int rc)
{
	pthread_mutex_lock(&db->wal_lock);
	if (!db->wal_gated) {
		snprintf(db->wal_failed, sizeof(db->wal_failed), "%s/%s", db->dir, name);
		db->wal_rc = rc;
		db->room_since = 0;
		db->reopen_told = 0;
		__atomic_store_n(&db->wal_gated, 1, __ATOMIC_RELEASE);
		log_warn("an append to %s failed: the store takes no writes, syncs or flushes "
			 "until RocksDB, once space is back, has dropped that file (or the store "
			 "reopens, if RocksDB keeps it)", db->wal_failed);
	}
	pthread_mutex_unlock(&db->wal_lock);
}

static int rocks_write(struct mfs_db *base, struct mfs_batch *b, enum mfs_write_mode mode)
{
	struct rocks *db = R(base);
	char *err = NULL, wal[32];
	int rc = wal_gate(db), gate;

	if (rc)
		return rc;
	if (((struct rocks_batch *)b)->lost)
		return -EIO;
	enter(db);
	if (db->db)
		rocksdb_write(db->db, db->wo[mode], ((struct rocks_batch *)b)->wb, &err);
	else
		rc = -EIO;
	leave(db);
	if (!err)
		return rc;
	gate = wal_file_of(err, wal, sizeof(wal));
	rc = db_error(err, "write");
	if (gate)
		wal_close_gate(db, wal, rc);
	return rc;
}

/* Called inside enter()..leave(). */
static int flush_cf(struct rocks *db, enum mfs_cf cf)
{
	char *err = NULL;

	rocksdb_flush_cf(db->db, db->flush, db->cf[cf + 1], &err);
	return db_error(err, "flush");
}

static int rocks_flush(struct mfs_db *base, enum mfs_cf cf)
{
	struct rocks *db = R(base);
	int rc = wal_gate(db);

	if (rc)
		return rc;
	enter(db);
	rc = db->db ? flush_cf(db, cf) : -EIO;
	leave(db);
	return rc;
}

/* SyncWAL: the WAL files' data reach the disk; writes may go on meanwhile. */
static int rocks_sync(struct mfs_db *base)
{
	struct rocks *db = R(base);
	char *err = NULL;
	int rc = wal_gate(db);

	if (rc)
		return rc;
	enter(db);
	if (db->db)
		rocksdb_flush_wal(db->db, 1, &err);
	else
		rc = -EIO;
	leave(db);
	return rc ? rc : db_error(err, "sync wal");
}

/* Views and iterators are counted live: a reopen waits until none is. */
static struct mfs_db_view *rocks_view_new(struct mfs_db *base)
{
	struct rocks_view *v = calloc(1, sizeof(*v));
	struct rocks *db = R(base);

	if (!v)
		return NULL;
	v->base.db = base;
	shut_retry(db);
	enter(db);
	__atomic_add_fetch(&db->live, 1, __ATOMIC_ACQ_REL);
	v->snap = db->db ? rocksdb_create_snapshot(db->db) : NULL; /* shut: its iterators fail */
	leave(db);
	return &v->base;
}

static void rocks_view_free(struct mfs_db_view *base)
{
	struct rocks_view *v = (struct rocks_view *)base;
	struct rocks *db = R(base->db);

	/* Live, so no reopen came between: db->db is the one that made it. */
	if (v->snap)
		rocksdb_release_snapshot(db->db, v->snap);
	__atomic_sub_fetch(&db->live, 1, __ATOMIC_ACQ_REL);
	free(v);
}

static struct mfs_iter *rocks_iter_new(struct mfs_db *base, const struct mfs_db_view *view,
				       enum mfs_cf cf, const void *lower, size_t llen,
				       const void *upper, size_t ulen)
{
	struct rocks *db = R(base);
	struct rocks_iter *it = calloc(1, sizeof(*it) + ulen);

	if (!it)
		return NULL;
	it->base.db = base;
	it->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(it->ro, 0);
	rocksdb_readoptions_set_fill_cache(it->ro, 0);
	if (view)
		rocksdb_readoptions_set_snapshot(it->ro, ((const struct rocks_view *)view)->snap);
	if (ulen) {
		memcpy(it->upper, upper, ulen);
		it->ulen = ulen;
		rocksdb_readoptions_set_iterate_upper_bound(it->ro, (char *)it->upper, ulen);
	}
	shut_retry(db);
	enter(db);
	__atomic_add_fetch(&db->live, 1, __ATOMIC_ACQ_REL);
	it->it = db->db ? rocksdb_create_iterator_cf(db->db, it->ro, db->cf[cf + 1]) : NULL;
	leave(db);
	if (!it->it) /* the store shut: valid() says EIO */
		return &it->base;
	if (llen)
		rocksdb_iter_seek(it->it, lower, llen);
	else
		rocksdb_iter_seek_to_first(it->it);
	return &it->base;
}

static void rocks_iter_seek(struct mfs_iter *it, const void *key, size_t klen)
{
	if (RI(it)->it)
		rocksdb_iter_seek(RI(it)->it, key, klen);
}

static int rocks_iter_valid(struct mfs_iter *it)
{
	char *err = NULL;

	if (!RI(it)->it)
		return -EIO;
	if (rocksdb_iter_valid(RI(it)->it))
		return 1;
	rocksdb_iter_get_error(RI(it)->it, &err);
	return db_error(err, "iterate");
}

static void rocks_iter_next(struct mfs_iter *it)
{
	if (RI(it)->it)
		rocksdb_iter_next(RI(it)->it);
}

static const uint8_t *rocks_iter_key(struct mfs_iter *it, size_t *len)
{
	return (const uint8_t *)rocksdb_iter_key(RI(it)->it, len);
}

static const uint8_t *rocks_iter_value(struct mfs_iter *it, size_t *len)
{
	return (const uint8_t *)rocksdb_iter_value(RI(it)->it, len);
}

static void rocks_iter_free(struct mfs_iter *it)
{
	struct rocks *db = R(it->db);

	if (RI(it)->it)
		rocksdb_iter_destroy(RI(it)->it);
	rocksdb_readoptions_destroy(RI(it)->ro);
	__atomic_sub_fetch(&db->live, 1, __ATOMIC_ACQ_REL);
	free(it);
}

/* Blob GC on or off for cf (mutable options: no reopen).  Inside enter(). */
static int set_blob_gc(struct rocks *db, enum mfs_cf cf, int on)
{
	const char *keys[] = { "enable_blob_garbage_collection",
			       "blob_garbage_collection_age_cutoff" };
	const char *on_vals[] = { "true", "1.0" }, *off_vals[] = { "false", "0.25" };
	char *err = NULL;

	rocksdb_set_options_cf(db->db, db->cf[cf + 1], 2, keys, on ? on_vals : off_vals, &err);
	return db_error(err, "set blob gc options");
}

static int rocks_reclaim(struct mfs_db *base, enum mfs_cf cf, int relocate)
{
	struct rocks *db = R(base);
	rocksdb_compactoptions_t *co;
	int rc = wal_gate(db);

	if (rc)
		return rc;
	enter(db);
	if (!db->db)
		rc = -EIO;
	if (rc || (rc = flush_cf(db, cf)) || (relocate && (rc = set_blob_gc(db, cf, 1))))
		goto out;
	co = rocksdb_compactoptions_create();
	/* kForce: the last level too, where the deleted keys' blob references are. */
	rocksdb_compactoptions_set_bottommost_level_compaction(co, 2);
	/* The C API of 7.8 reports no error here; RocksDB logs it in db/LOG. */
	rocksdb_compact_range_cf_opt(db->db, db->cf[cf + 1], co, NULL, 0, NULL, 0);
	rocksdb_compactoptions_destroy(co);
	if (relocate)
		rc = set_blob_gc(db, cf, 0);
out:
	leave(db);
	return rc;
}

static uint64_t rocks_disk_bytes(struct mfs_db *base)
{
	struct rocks *db = R(base);
	uint64_t total = 0, v;

	enter(db);
	for (int i = 0; db->db && i <= MFS_CF_COUNT; i++) {
		if (!rocksdb_property_int_cf(db->db, db->cf[i], "rocksdb.total-sst-files-size", &v))
			total += v;
		if (!rocksdb_property_int_cf(db->db, db->cf[i], "rocksdb.total-blob-file-size", &v))
			total += v;
	}
	leave(db);
	return total;
}

static const struct mfs_kv_ops rocks_ops = {
	.name = "rocksdb",
	.close = rocks_close,
	.get = rocks_get,
	.batch_new = rocks_batch_new,
	.batch_free = rocks_batch_free,
	.batch_put = rocks_batch_put,
	.batch_delete = rocks_batch_delete,
	.batch_count = rocks_batch_count,
	.write = rocks_write,
	.flush = rocks_flush,
	.sync = rocks_sync,
	.view_new = rocks_view_new,
	.view_free = rocks_view_free,
	.iter_new = rocks_iter_new,
	.iter_seek = rocks_iter_seek,
	.iter_valid = rocks_iter_valid,
	.iter_next = rocks_iter_next,
	.iter_key = rocks_iter_key,
	.iter_value = rocks_iter_value,
	.iter_free = rocks_iter_free,
	.reclaim = rocks_reclaim,
	.disk_bytes = rocks_disk_bytes,
};
