/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's RocksDB database: one DB, one column family per access pattern
 * (doc/format.md lists every key and value).  This wrapper is the only place
 * that sees rocksdb/c.h; RocksDB's error strings are converted to errnos and
 * logged here, once.
 */
#ifndef MFS_DB_H
#define MFS_DB_H

#include <stddef.h>
#include <stdint.h>

/* Column families.  Their names are on disk (see db.c): never rename. */
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

/*
 * Opens (creating if needed) the database in dir.  Returns 0, -EBUSY when
 * another process holds it, -ENOSPC, or MFS_EDB.
 */
int mfs_db_open(const char *dir, struct mfs_db **out);
/* mfs_db_close(NULL) is a no-op. */
void mfs_db_close(struct mfs_db *db);

/* A value read from the DB: borrowed until mfs_val_release(). */
struct mfs_val {
	const uint8_t *p;
	size_t len;
	void *pin;
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
	 * records, which would otherwise be written twice (WAL, then blob). */
	MFS_WRITE_NOWAL,
};

/* Writes b atomically. */
int mfs_db_write(struct mfs_db *db, struct mfs_batch *b, enum mfs_write_mode mode);

/*
 * Flushes cf's memtable to disk and waits: afterwards NOWAL writes to cf
 * are durable.  (RocksDB 7.8 flushes only the named CF, atomic_flush or not.)
 */
int mfs_db_flush(struct mfs_db *db, enum mfs_cf cf);

/* Forward iteration over the keys of cf that start with prefix. */
struct mfs_iter;
struct mfs_iter *mfs_iter_new(struct mfs_db *db, enum mfs_cf cf, const void *prefix, size_t plen);
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
 * Gives the space of cf's deleted keys back to the filesystem (gc): flushes
 * cf and compacts all of it down to the last level, so the references of
 * deleted chunk records are dropped and blob files left with nothing live
 * are deleted.  With relocate, blob garbage collection (off otherwise, see
 * db.c) also runs in that compaction and rewrites every live record out of
 * the blob files: everything comes back, at the cost of copying all live
 * bytes of cf once.
 */
int mfs_db_reclaim(struct mfs_db *db, enum mfs_cf cf, int relocate);

/* Approximate on-disk size of the live DB files (for statfs and status). */
uint64_t mfs_db_disk_bytes(struct mfs_db *db);

#endif
