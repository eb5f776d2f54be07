/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pack files: append-only files holding large chunk records outside
 * RocksDB (DATA/db/packs/NNNNNNNN.pack, doc/format.md).  RocksDB keeps
 * only the index (chunk_index, version 2: pack number and offset); the
 * record bytes are written once, with pwrite, and read back with pread
 * straight into the reader's buffer: no memtable, no blob file, no copy
 * out of a pinned value.  chunkstore.c is the only user; it decides which
 * records go here and keeps the commit protocol (records durable before
 * their index entries, chunkstore.h).
 *
 * One pack takes appends at a time (any thread: a reservation under a
 * lock, the pwrite outside it); at MFS_PACK_SEAL bytes it is sealed and a
 * new one started.  Every pack found at open is sealed: a restart never
 * appends after bytes a crash may have left half written.  Live bytes per
 * pack are counted in memory (rebuilt from the index at open); gc punches
 * a deleted record's range out of its pack, and a sealed pack with no live
 * bytes left is unlinked.  What a crash left appended but unindexed is
 * punched out at the next open (mfs_packs_leftovers, mfs_packs_reclaim).
 */
#ifndef MFS_PACK_H
#define MFS_PACK_H

#include <stddef.h>
#include <stdint.h>

#define MFS_PACK_MAGIC "MFPK"
#define MFS_PACK_VERSION 1
#define MFS_PACK_HDR_LEN 16		/* magic, version, 0, 0, u32 pack number, u32 0 */
#define MFS_PACK_ALIGN 4096u		/* records start on a block: a punch frees whole blocks */
#define MFS_PACK_SEAL (1ull << 30)	/* a pack takes no appends past 1 GiB */

struct mfs_packs;

/* Where a record is: pack number (1, 2, ...; 0 is "no pack"), offset, length. */
struct mfs_pack_loc {
	uint32_t pack;
	uint32_t len;
	uint64_t off;
};

/*
 * Opens (creating if needed) the pack directory dir: every pack in it is
 * opened (its header checked: a file that is not a pack fails the open with
 * MFS_EFORMAT) and sealed, with no live bytes until mfs_packs_add_live().
 * 0, or an error.  *out is freed with mfs_packs_close().
 */
int mfs_packs_open(const char *dir, struct mfs_packs **out);
/* mfs_packs_close(NULL) is a no-op. */
void mfs_packs_close(struct mfs_packs *p);

/* At open, for every index entry naming a pack record. -ENOENT if the pack is not there. */
int mfs_packs_add_live(struct mfs_packs *p, const struct mfs_pack_loc *loc);
/* After the index was counted: unlinks the packs nothing names (a crash's leftovers). */
void mfs_packs_drop_unused(struct mfs_packs *p);
/*
 * After the index was counted: which sealed packs take more blocks on disk
 * than the records counted in them explain, that is, hold a crash's
 * leftovers (records appended and never indexed; a recoded chunk's raw
 * record not yet punched).  *which (malloc'd, *n entries, indexed by pack
 * number) is 1 for those.  Returns how many, or -ENOMEM.
 */
int mfs_packs_leftovers(struct mfs_packs *p, uint8_t **which, uint32_t *n);
/*
 * Punches out of sealed pack n every range no record of live[0..nlive)
 * (all the records the index names in it, any order; sorted here) takes,
 * past the header block: a crash's leftovers.  Only at open, before any
 * append.  *freed: bytes the pack's blocks shrank by.  0 or an error
 * (space only).
 */
int mfs_packs_reclaim(struct mfs_packs *p, uint32_t n, struct mfs_pack_loc *live, size_t nlive,
		      uint64_t *freed);

/*
 * Appends a record: *loc says where, and *ticket what to give
 * mfs_packs_sync() to make it durable.  Counted live from here on.
 * 0, -ENOSPC, -EIO, ...
 */
int mfs_packs_append(struct mfs_packs *p, const void *rec, size_t len, struct mfs_pack_loc *loc,
		     uint64_t *ticket);
/*
 * Makes durable every append whose ticket is <= ticket (0: every append
 * that returned before this call).  Concurrent callers share the
 * fdatasyncs.  0 or an error (then nothing is known about them).
 */
int mfs_packs_sync(struct mfs_packs *p, uint64_t ticket);

/*
 * Reads loc->len bytes at loc into buf, of cap bytes.  With a buffer
 * aligned on MFS_PACK_ALIGN and cap >= mfs_packs_read_cap(loc->len), the
 * read bypasses the page cache (O_DIRECT, where the filesystem has it) and
 * may fill buf past loc->len.  0, -ENOENT (no such pack), MFS_ECORRUPT
 * (the pack is shorter), or an I/O error.
 */
int mfs_packs_read(struct mfs_packs *p, const struct mfs_pack_loc *loc, void *buf, size_t cap);
/* The buffer size a direct read of len bytes needs. */
size_t mfs_packs_read_cap(size_t len);

/*
 * This thread's MFS_PACK_ALIGN-aligned buffer for `which`, of at least len
 * bytes (grown as needed, freed when the thread exits); NULL on ENOMEM.
 * One per purpose, so an append's bounce copy never overwrites a record
 * being read.  Valid until this thread's next call for the same purpose.
 */
enum mfs_pack_buf {
	MFS_PACK_BUF_READ,      /* compressed records read, then decoded (chunkstore.c) */
	MFS_PACK_BUF_APPEND,    /* the unaligned tail of an appended record */
	MFS_PACK_BUF_COUNT
};
uint8_t *mfs_packs_thread_buf(enum mfs_pack_buf which, size_t len);

/*
 * Gives loc's space back (punches its blocks out of the pack), once no
 * durable index entry names it any more; unlinks a sealed pack left with
 * no live bytes.  0 or an error (the space stays taken, nothing else).
 */
int mfs_packs_punch(struct mfs_packs *p, const struct mfs_pack_loc *loc);

/* Bytes the packs take on disk (approximate). */
uint64_t mfs_packs_disk_bytes(struct mfs_packs *p);

/*
 * The chunk records appended but not indexed yet: chunkstore.c puts one at
 * append time and takes it when it stages the index entry, which may be in
 * another batch, after mfs_db_flush().  A hash may be in flight more than
 * once (two writers storing the same chunk, e.g. the keeper and replication),
 * and its records need not be alike: a peer may send one as stored and
 * another as raw bytes (server.c).  So a take names the record length it
 * indexes and gets an entry of that length; of two alike, either serves.
 */
int mfs_packs_pending_put(struct mfs_packs *p, const uint8_t key[32], const struct mfs_pack_loc *loc,
			  uint64_t ticket);
/* 0 with *loc (loc->len == len) and *ticket, or -ENOENT. */
int mfs_packs_pending_take(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			   struct mfs_pack_loc *loc,
			   uint64_t *ticket);
/* As take, but the entry stays (len 0: of any length): 0 with *loc, or -ENOENT. */
int mfs_packs_pending_peek(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			   struct mfs_pack_loc *loc);
/*
 * As take, but the entry stays in peeks' sight until mfs_packs_pending_drop
 * (claim): the caller is writing the index entry that names the record,
 * and a reader that looks here, then at the index, must find it in one of
 * the two (mfs_batch_hold_pending drops it once the batch is written).
 * A claimed entry is not claimed or taken again.
 */
struct mfs_pack_pend;
int mfs_packs_pending_claim(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			    struct mfs_pack_loc *loc, uint64_t *ticket, struct mfs_pack_pend **claim);
void mfs_packs_pending_drop(struct mfs_packs *p, struct mfs_pack_pend *claim);

/* Tests: the next mfs_packs_sync() that has something to sync fails with rc. */
void mfs_packs_fail_next_sync(struct mfs_packs *p, int rc);

#endif
