/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's key-value store: one DB, one column family per access pattern
 * (doc/format.md lists every key and value).  Behind this interface sits a
 * small table of operations (db_internal.h) with three backends:
 *   - db_rocks.c: RocksDB, what a node runs on; the only file that sees
 *     rocksdb/c.h.  RocksDB's error strings are converted to errnos and
 *     logged there, once.
 *   - db_mem.c: in memory, sorted per column family, for fast unit tests.
 *   - db_fault.c: wraps another backend and fails its Nth call, for tests
 *     of every failure point of a sequence (and, test-only, a daemon given
 *     MODELFS_FAULT).
 */
#ifndef MFS_DB_H
#define MFS_DB_H

#include <stddef.h>
#include <stdint.h>

/*
 * Room the store's disk keeps beyond the data written to it: RocksDB's
 * flushes, MANIFEST, WAL and logs need it.  A RocksDB flush that runs out
 * of space leaves the store taking no writes (7.8's C API cannot resume),
 * so every writer of chunk records checks it first: a local commit
 * (fuse/fs_write.c) and replication (replica/room.c).
 */
#define MFS_SPACE_MARGIN (32ull << 20)
/*
 * Room kept for RocksDB itself, below the margin: while less is free on
 * the store's disk (another program may fill it), mfs_db_write,
 * mfs_db_flush and mfs_db_reclaim fail with -ENOSPC before RocksDB sees
 * them: after a WAL append fails for space, RocksDB 7.8 aborts the
 * process at the next use of that WAL (db_space.c).  Syncs go on.
 * 16 MiB: a new WAL block or file (max_total_wal_size, 8 MiB, db_rocks.c)
 * and the flush of the namespace records rolling the WAL starts (at most
 * that much again).
 */
#define MFS_SPACE_FLOOR (16ull << 20)
/*
 * A file the store keeps allocated beside its database (db/space.reserve)
 * and gives back when it opens on a disk with less than the floor and this
 * free: a RocksDB open writes a new MANIFEST, CURRENT, OPTIONS file and a
 * WAL record (12 KiB at least, 60 KiB with OPTIONS, measured), so a disk
 * filled to the last block while the node was down could not start it.
 * Made again once the floor and this are free (db_space.c).
 */
#define MFS_SPACE_RESERVE (1ull << 20)

/* Column families.  Their names are on disk (see db_rocks.c): never rename. */
enum mfs_cf {
	MFS_CF_META,        /* format version, node id, counters */
	MFS_CF_CHUNKS,      /* hash -> chunk record (blob files) */
	MFS_CF_CHUNK_INDEX, /* hash -> small summary, for listing without blob reads */
	MFS_CF_INODES,      /* ino (BE) -> inode record */
	MFS_CF_DIRENTS,     /* parent ino (BE) + name -> child ino */
	MFS_CF_MANIFESTS,   /* manifest hash -> manifest */
	MFS_CF_OPLOG,       /* origin node (BE16) + seq (BE64) -> namespace op */
	MFS_CF_STAMPS,      /* namespace entry key -> Lamport stamp of its last write */
	MFS_CF_WANTED,      /* chunk hash -> chunks this node should hold and lacks */
	MFS_CF_COUNT
};

struct mfs_db;
struct mfs_packs;

/*
 * Opens (creating if needed) the RocksDB database in dir, whose disk's
 * floor (MFS_SPACE_FLOOR) it keeps.  On a disk under the floor it first
 * gives back its reserve (MFS_SPACE_RESERVE) and replays the WAL into
 * memory without writing SSTs, so that a node restarted on a full disk
 * opens: reads work, writes fail with -ENOSPC until space is freed.
 * Returns 0, -EBUSY
 * when another process holds it, -ENOSPC, or MFS_EDB.  attach (or NULL) runs
 * on the opened database before anything else uses it: the layer above
 * hooks what it keeps beside the database (chunk/'s pack files, through
 * mfs_store_open), so kv/ needs to know nothing of it.  Its error fails the
 * open.
 *
 * Test-only: when the environment has MODELFS_FAULT (a fault spec, see
 * mfs_db_fault_wrap), the database is wrapped with the fault injector, so a
 * test can make a real daemon's Nth store call fail.  A malformed spec fails
 * the open with -EINVAL.  Never set it on a node that holds data you need.
 * Likewise MODELFS_SPACE_FLOOR=BYTES moves the floor (0: none), so that a
 * test can make RocksDB itself meet a full disk.
 */
typedef int (*mfs_db_attach_fn)(struct mfs_db *db, const char *dir);
int mfs_db_open(const char *dir, mfs_db_attach_fn attach, struct mfs_db **out);
/* An empty in-memory database (gone at close).  0 or -ENOMEM. */
int mfs_db_open_mem(struct mfs_db **out);
/*
 * Tests: drops from an in-memory database every write a power loss would
 * lose (not synced, or NOWAL and not flushed; see db_mem.c).  Close every
 * namespace over it first.  0, -ENOMEM, or -EINVAL if db is not in memory.
 */
int mfs_db_mem_power_loss(struct mfs_db *db);
/* mfs_db_close(NULL) is a no-op. */
void mfs_db_close(struct mfs_db *db);

/* A value read from the DB: borrowed until mfs_val_release(). */
struct mfs_val {
	const uint8_t *p;
	size_t len;
	void *pin;			/* the backend's, for release */
	void (*release)(void *pin);
};
void mfs_val_release(struct mfs_val *v);

/*
 * Point read.  verify asks RocksDB to check its own block/blob checksums
 * (slow in Debian's build: software CRC32C); chunk reads pass 0 and check
 * their XXH64 instead.  Returns 0, -ENOENT or an error.
 */
int mfs_db_get(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen,
	       struct mfs_val *v, int verify);
int mfs_db_exists(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen);

/* Atomic multi-CF write. */
struct mfs_batch;
/* NULL on allocation failure. */
struct mfs_batch *mfs_batch_new(struct mfs_db *db);
void mfs_batch_free(struct mfs_batch *b);
void mfs_batch_put(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl,
		   const void *v, size_t vl);
void mfs_batch_delete(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl);
size_t mfs_batch_count(struct mfs_batch *b);
/* The database b writes to. */
struct mfs_db *mfs_batch_db(struct mfs_batch *b);
/* How a batch reaches the disk. */
enum mfs_write_mode {
	/* WAL, fsynced before returning.  The WAL is one ordered log, so this
	 * also makes every earlier WAL write durable. */
	MFS_WRITE_SYNC,
	/* WAL, not synced: durable at the next SYNC write. */
	MFS_WRITE_ASYNC,
	/* No WAL: durable only after mfs_db_flush() of the CF.  For chunk
	 * records, which would otherwise be written twice (WAL, then blob).
	 * A small batch (at most MFS_DB_SMALL_NOWAL bytes of keys and values)
	 * goes through the WAL as an ASYNC write instead: writing a few KiB
	 * twice costs less than a flush (new blob and SST files, a MANIFEST
	 * entry, five syncs) per small file. */
	MFS_WRITE_NOWAL,
};
#define MFS_DB_SMALL_NOWAL (256u << 10)

/*
 * Writes b atomically.  Pack records b's index entries name (chunkstore.c,
 * mfs_batch_need_packs) are made durable first; a batch marked failed
 * (mfs_batch_fail) is not written and returns its error.
 */
int mfs_db_write(struct mfs_db *db, struct mfs_batch *b, enum mfs_write_mode mode);

/* The pack files of db (pack.h), or NULL (in memory: every record in the chunks CF). */
struct mfs_packs *mfs_db_packs(struct mfs_db *db);
/* At open (the attach hook): db keeps its records' packs there; closes them if owned. */
void mfs_db_set_packs(struct mfs_db *db, struct mfs_packs *packs, int owned);
/* b names pack appends up to ticket: mfs_db_write syncs them before writing b. */
void mfs_batch_need_packs(struct mfs_batch *b, uint64_t ticket);
/*
 * b writes the index entry of a pending record claimed for it
 * (mfs_packs_pending_claim): the entry is dropped once b is written, or
 * freed unwritten, so that the record is never out of sight of both.
 * -ENOMEM (nothing held: the caller drops the claim and fails b).
 */
struct mfs_pack_pend;
int mfs_batch_hold_pending(struct mfs_batch *b, struct mfs_pack_pend *claim);
/*
 * b stands for chunk records appended to packs (chunkstore.c): written
 * NOWAL, it stays a step of the commit as the records' own batch was
 * (mfs_db_flush(MFS_CF_CHUNKS) then does its part, and a fault wrapper
 * counts both, so MODELFS_FAULT sequences keep their numbers), however
 * few bytes it holds.  The backend writes an empty batch: next to nothing.
 */
void mfs_batch_note_packed(struct mfs_batch *b);
/* A step staging into b failed with rc: writing b fails with it (the first one kept). */
void mfs_batch_fail(struct mfs_batch *b, int rc);

/*
 * Makes every WAL write (ASYNC, or a small NOWAL) that returned before this
 * call durable.  Concurrent callers share one sync of the WAL (group
 * commit, db_internal.h), so an ASYNC write then mfs_db_sync() outside any
 * lock costs a writer what a SYNC write would, and N writers about two
 * syncs instead of N (one, when they keep closing in a loop: a leader
 * waits briefly for as many as came last time).  0 or an error (then
 * nothing is known about them): a failed sync fails every caller whose
 * writes it was to cover, those that waited for it included.
 */
int mfs_db_sync(struct mfs_db *db);

/*
 * Flushes cf's memtable to disk and waits: afterwards NOWAL writes to cf
 * are durable.  (RocksDB 7.8 flushes only the named CF, atomic_flush or not.)
 * Flushing MFS_CF_CHUNKS also fdatasyncs the pack files (pack.h): records
 * staged by mfs_chunk_stage_record are durable after it wherever they went.
 * Small NOWAL batches went through the WAL (above): they are not flushed
 * but, the WAL being one ordered log, become durable no later than any WAL
 * write made after this call returns.  That is all a caller needs that
 * writes what points at the records (index entries, a manifest, an inode)
 * after the flush; one that needs them durable by themselves calls
 * mfs_db_sync().  When cf took no NOWAL write that bypassed the WAL since
 * its last flush, this does nothing.
 */
int mfs_db_flush(struct mfs_db *db, enum mfs_cf cf);

/*
 * Forward iteration over the keys of cf that start with prefix (all keys
 * when plen is 0).  NULL when memory is short, which callers report as
 * -ENOMEM: never an iterator that might run past the prefix.  Errors met
 * while iterating end it (mfs_iter_valid() returns 0) and are kept for
 * mfs_iter_error(), which callers must check before trusting that they saw
 * every key.
 */
struct mfs_iter;
struct mfs_iter *mfs_iter_new(struct mfs_db *db, enum mfs_cf cf, const void *prefix, size_t plen);

/*
 * A read view of the whole store at one point in time: iterators made at
 * it (mfs_iter_new_at) see every column family as it was when it was taken,
 * whatever is written meanwhile, so several iterations, one after another,
 * read one consistent state.  A caller that takes it while holding the lock
 * its writers hold sees a state between two of their batches, and can let
 * them go on at once.  It pins what it sees (RocksDB keeps the overwritten
 * versions until it is freed): hold it for a bounded job only.  NULL when
 * memory is short.  mfs_db_view_free(NULL) is a no-op; free a view before
 * closing its database.
 */
struct mfs_db_view;
struct mfs_db_view *mfs_db_view_new(struct mfs_db *db);
void mfs_db_view_free(struct mfs_db_view *v);
/* mfs_iter_new, reading at view (which must belong to db), or now if view is NULL. */
struct mfs_iter *mfs_iter_new_at(struct mfs_db *db, const struct mfs_db_view *view,
				 enum mfs_cf cf, const void *prefix, size_t plen);
/* Moves to the first key >= key (still within the prefix given at creation). */
void mfs_iter_seek(struct mfs_iter *it, const void *key, size_t klen);
int mfs_iter_valid(struct mfs_iter *it);
void mfs_iter_next(struct mfs_iter *it);
/* Borrowed until the next mfs_iter_next/free. */
const uint8_t *mfs_iter_key(struct mfs_iter *it, size_t *len);
const uint8_t *mfs_iter_value(struct mfs_iter *it, size_t *len);
/* 0, or the error that ended the iteration early. */
int mfs_iter_error(struct mfs_iter *it);
void mfs_iter_free(struct mfs_iter *it);

/*
 * Calls fn on every key/value of cf that starts with prefix (all keys when
 * plen is 0), in key order; k and v are borrowed for the call.  fn returns
 * 0 to go on, or a value that ends the walk and is returned: > 0 for "found,
 * stop", < 0 an error.  Else 0, the iterator's error, or -ENOMEM.
 */
typedef int (*mfs_db_each_fn)(void *arg, const uint8_t *k, size_t kl, const uint8_t *v,
			      size_t vl);
int mfs_db_each(struct mfs_db *db, enum mfs_cf cf, const void *prefix, size_t plen,
		mfs_db_each_fn fn, void *arg);
/* mfs_db_each, reading at view (mfs_iter_new_at). */
int mfs_db_each_at(struct mfs_db *db, const struct mfs_db_view *view, enum mfs_cf cf,
		   const void *prefix, size_t plen, mfs_db_each_fn fn, void *arg);

/*
 * Gives the space of cf's deleted keys back to the filesystem (gc): flushes
 * cf and compacts all of it down to the last level, so the references of
 * deleted chunk records are dropped and blob files left with nothing live
 * are deleted.  With relocate, blob garbage collection (off otherwise, see
 * db_rocks.c) also runs in that compaction and rewrites every live record
 * out of the blob files: everything comes back, at the cost of copying all
 * live bytes of cf once.  (RocksDB only: in memory there is nothing to do.)
 */
int mfs_db_reclaim(struct mfs_db *db, enum mfs_cf cf, int relocate);

/* Approximate on-disk size of the live DB files (for statfs and status). */
uint64_t mfs_db_disk_bytes(struct mfs_db *db);
/*
 * A count that grows with every write landed in this process that touched
 * one of the column families of cfs (a bit per enum mfs_cf): equal counts
 * mean those families are as they were (what derives from them can be
 * reused: store/maint/stats.c).
 */
uint64_t mfs_db_changes(struct mfs_db *db, unsigned cfs);

/*
 * 1 while the store's disk has less than MFS_SPACE_FLOOR free (its writes
 * fail with ENOSPC), else 0: the last write's look, or a fresh one when
 * that found it low.
 */
int mfs_db_space_low(struct mfs_db *db);

/*
 * Fault injection (tests only).  A spec is one or more comma-separated
 * rules "CLASS:N:KIND":
 *   CLASS  which calls are counted: "any" (get and exists, write, flush,
 *          iter_new, reclaim, sync) or "write" (write, flush and sync).
 *          Each class has its own counter, starting at 1.
 *   N      the call that fails (once).
 *   KIND   EIO, ENOSPC or ENOMEM: that call returns the error and changes
 *          nothing (a write's batch does not land; an iterator is created
 *          already ended with the error, or with ENOMEM is NULL);
 *          crash: the same call fails with -EIO and, as after a power
 *          loss, every later write and flush fails with -EIO too (reads
 *          still work).
 * E.g. "write:7:EIO" or "any:12:ENOSPC,write:30:crash".
 */
enum mfs_fault_class { MFS_FAULT_ANY, MFS_FAULT_WRITE, MFS_FAULT_NCLASS };
enum mfs_fault_kind { MFS_FAULT_EIO, MFS_FAULT_ENOSPC, MFS_FAULT_ENOMEM, MFS_FAULT_CRASH };
#define MFS_FAULT_MAX_RULES 8
struct mfs_fault_rule {
	enum mfs_fault_class cls;
	uint64_t nth;			/* 1-based; 0 never fires */
	enum mfs_fault_kind kind;
};
struct mfs_fault_spec {
	int n;
	struct mfs_fault_rule r[MFS_FAULT_MAX_RULES];
};
/* 0 or -EINVAL. */
int mfs_fault_spec_parse(const char *s, struct mfs_fault_spec *out);

enum mfs_fault_flags {
	MFS_FAULT_OWN = 1 << 0,	/* closing the wrapper closes inner */
};
/*
 * Wraps inner: calls pass through to it, counted, until a rule fires.
 * spec may be NULL (count only).  0 or -ENOMEM.
 */
int mfs_db_fault_wrap(struct mfs_db *inner, const struct mfs_fault_spec *spec,
		      unsigned flags, struct mfs_db **out);
/*
 * Replaces db's spec (NULL: none) and starts counting again from 0, so a
 * test can open a namespace over the wrapper and then arm it for just the
 * sequence under test.  Clears a crash.  -EINVAL if db is not a wrapper.
 */
int mfs_db_fault_arm(struct mfs_db *db, const struct mfs_fault_spec *spec);
/* Calls of cls counted so far by the wrapper db (0 if db is not one). */
uint64_t mfs_db_fault_calls(struct mfs_db *db, enum mfs_fault_class cls);
/* How many rules have fired (0 if db is not a fault wrapper). */
int mfs_db_fault_fired(struct mfs_db *db);

#endif
