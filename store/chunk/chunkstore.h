/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk store: chunk records, and beside each a small summary in
 * chunk_index so that listing, existence checks and statistics never read
 * a record.  A record of MFS_CHUNK_PACK_MIN bytes or more goes to a pack
 * file (pack.h) and its index entry (version 2) says where; a smaller one
 * (a small file's) goes to the chunks CF, through the WAL with the rest of
 * its small batch, as do all records of a store without packs (in memory)
 * and those written before packs existed (version 1 entries, read forever).
 *
 * Invariant: an index entry is never durable without its record.  Records
 * are written first (mfs_chunk_stage_record: appended to a pack, or put in
 * the chunks CF without the WAL) and made durable (mfs_db_flush of
 * MFS_CF_CHUNKS fdatasyncs the packs and flushes the CF); index entries
 * follow through the WAL (mfs_chunk_stage_index; mfs_db_write syncs the
 * packs an entry names before writing it in any case).  A crash in between
 * leaves record bytes no index names (wasted space, never a wrong answer);
 * the reverse would make dedup skip a chunk that is not there.  Deleting
 * goes the other way: the index entry goes first (synced), then the
 * record's space (mfs_chunk_free_space).
 */
#ifndef MFS_CHUNKSTORE_H
#define MFS_CHUNKSTORE_H

#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "store/base/hash.h"
#include "store/kv/db.h"

struct mfs_db;
struct mfs_batch;

/*
 * chunk_index value, version 1 (record in the chunks CF):
 *   u8 version, u8 codec, u32 raw_len, u32 record_len;
 * version 2 (record in a pack): the same, then u32 pack, u64 offset;
 * version 3 (a delta record, codec MFS_CODEC_DELTA): the fields of version
 * 2 (pack 0: the record is in the chunks CF, offset 0), then u16 nbases
 * and the keys of the record's distinct base chunks, so that gc and fsck
 * learn a delta's bases from the index alone (delta.h).
 */
#define MFS_CHUNK_INDEX_VERSION 1
#define MFS_CHUNK_INDEX_LEN 10
#define MFS_CHUNK_INDEX_V2 2
#define MFS_CHUNK_INDEX_V2_LEN 22
#define MFS_CHUNK_INDEX_V3 3
#define MFS_CHUNK_INDEX_V3_HEAD 24
/* Records this long or longer go to packs (when the store has them). */
#define MFS_CHUNK_PACK_MIN (64u << 10)

struct mfs_chunk_summary {
	uint8_t codec;
	uint32_t raw_len;
	uint32_t record_len;   /* header + payload, what the chunk costs on disk */
	uint32_t pack;         /* 0: in the chunks CF (version 1); else its pack */
	uint64_t off;          /* the record's offset in its pack */
};

/* 1 if stored, 0 if not, or an error. */
int mfs_chunk_exists(struct mfs_db *db, const struct mfs_hash *h);

/*
 * Stores a chunk record: a large one is appended to a pack now (remembered
 * until its index entry is staged), a small one is added to b.  Write b
 * with MFS_WRITE_NOWAL, then mfs_db_flush(MFS_CF_CHUNKS).  A failed append
 * makes writing b fail with its error.
 */
void mfs_chunk_stage_record(struct mfs_batch *b, const struct mfs_hash *h, const void *rec,
			    size_t len);
/*
 * Adds the index entry of a record of record_len bytes staged before (after
 * the flush; or in the same batch, which writing then syncs the pack first).
 */
void mfs_chunk_stage_index(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len);
/*
 * mfs_chunk_stage_index for a record a peer sent (replication, a read that
 * keeps what it fetched, a repair): a pack-sized RAW record is queued for
 * the recode pass too (store/maint/recode.h).  Its sender may have stored
 * it raw with the codec deferred (option recode=1), and a copy made before
 * the sender's own pass ran would stay raw here for good.  A chunk that is
 * raw because it does not compress costs the pass one codec choice here,
 * as it cost the writer.
 */
void mfs_chunk_stage_index_received(struct mfs_batch *b, const struct mfs_hash *h,
				    const struct mfs_chunk_info *info, size_t record_len);
/*
 * The same for a delta record whose distinct base chunks are
 * bases[0..nbases) (1..MFS_DELTA_MAX_REFS): a version 3 entry.
 */
void mfs_chunk_stage_index_bases(struct mfs_batch *b, const struct mfs_hash *h,
				 const struct mfs_chunk_info *info, size_t record_len,
				 const struct mfs_hash *bases, uint32_t nbases);
/*
 * Adds the deletion of h's index entry, chunks CF record and recode queue
 * entry to b (gc; write it synced).
 */
void mfs_chunk_stage_delete(struct mfs_batch *b, const struct mfs_hash *h);
/*
 * The recode queue (store/maint/recode.h): meta CF key MFS_RECODE_PREFIX +
 * hash, empty value, for a chunk indexed RAW whose codec was deferred.
 */
#define MFS_RECODE_PREFIX "rq:"
#define MFS_RECODE_PREFIX_LEN 3
#define MFS_RECODE_KEY_LEN (MFS_RECODE_PREFIX_LEN + MFS_HASH_LEN)
void mfs_recode_key(const struct mfs_hash *h, uint8_t key[MFS_RECODE_KEY_LEN]);
/* Adds h's recode queue entry to b, beside its index entry. */
void mfs_chunk_stage_recode(struct mfs_batch *b, const struct mfs_hash *h);
/*
 * Gives back the space of a record whose index entry s was, once its
 * deletion is durable (a pack record's blocks are punched out; a chunks CF
 * record's go at the next mfs_db_reclaim).  0 or an error (space only).
 */
int mfs_chunk_free_space(struct mfs_db *db, const struct mfs_chunk_summary *s);

/*
 * The record of h, wherever it lives, unverified: pinned from RocksDB or
 * read from its pack into a buffer v owns; borrowed until mfs_val_release().
 * A record not indexed is looked up in the chunks CF (a crash's leftover or
 * a staged one).  0, -ENOENT, MFS_ECORRUPT (its pack lacks it) or an error.
 */
int mfs_chunk_record_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_val *v);
/*
 * A record of reclen bytes (0: of any length) that mfs_chunk_stage_record()
 * wrote and whose index entry is not staged yet, unverified, as
 * mfs_chunk_record_get gives it; with reclen 0 also a record the chunks CF
 * holds unindexed (a crash's leftover: check what it decodes to).  0,
 * -ENOENT (not staged, or indexed since: ask mfs_chunk_record_get) or an
 * error.
 */
int mfs_chunk_staged_get(struct mfs_db *db, const struct mfs_hash *h, size_t reclen,
			 struct mfs_val *v);

/*
 * Opens the node's store in dir: the database (mfs_db_open) with its pack
 * files (dir/packs) attached, their live bytes counted from the index.
 */
int mfs_store_open(const char *dir, struct mfs_db **out);

int mfs_chunk_summary_decode(const uint8_t *p, size_t n, struct mfs_chunk_summary *s);
/*
 * The base keys a version 3 index value p[0..n) lists: *bases points into
 * p (nbases * MFS_HASH_LEN bytes).  0; -ENOENT for a version 1 or 2 value
 * (the record says: an older delta); MFS_EFORMAT if p does not decode.
 */
int mfs_chunk_index_bases(const uint8_t *p, size_t n, const uint8_t **bases, uint32_t *nbases);
/* The index entry of h (no blob read): 0, -ENOENT, MFS_EFORMAT or a db error. */
int mfs_chunk_summary_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_chunk_summary *s);


/*
 * A chunk's raw bytes, as the read path holds them: for a raw chunk, a
 * pointer into the pinned RocksDB value or into the record read from its
 * pack (owned; no copy either way); otherwise a decoded buffer the struct
 * owns.  Release with mfs_chunk_bytes_release().
 */
struct mfs_chunk_bytes {
	const uint8_t *p;
	uint32_t len;
	uint8_t *owned;
	struct mfs_val pin;
	/*
	 * Nonzero: owned came from the chunk store's buffer pool, with this
	 * capacity, and goes back there at release (0: owned is malloc'd, as
	 * by another layer that fills the struct).
	 */
	size_t pooled;
};

/*
 * Reads chunk h: checks the record's XXH64, decodes, and with deep=1 also
 * re-hashes with SHA-256.  Returns 0, -ENOENT, MFS_ECORRUPT / MFS_EBADHASH /
 * MFS_EFORMAT (logged once as errors: bytes went bad on disk), or another
 * error; on error *out holds nothing, so unverified bytes are never served.
 */
int mfs_chunk_load(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		   struct mfs_chunk_bytes *out, int deep);
void mfs_chunk_bytes_release(struct mfs_chunk_bytes *b);
/*
 * b->owned := a buffer of at least len bytes from the chunk buffer pool (the
 * huge-page arena local loads decode into: no fresh pages to fault in per
 * chunk), freed by mfs_chunk_bytes_release().  b must be released or zeroed.
 * 0 or -ENOMEM.
 */
int mfs_chunk_bytes_alloc(struct mfs_chunk_bytes *b, size_t len);

/*
 * The record of a delta's base chunk h, unchecked, *rec[0..*len): a packed
 * one in a chunk buffer of its own (the delta's own record may sit in the
 * thread's read buffer meanwhile), a small one in the chunks CF; either
 * held by *pin until it is released (always release it).
 * Its XXH64 is the caller's to check or cover (delta.c).  0, -ENOENT,
 * MFS_ECORRUPT (a delta by its index entry: depth 1; or its pack lost
 * it), -ENOMEM or a read error.
 */
int mfs_chunk_record_base(struct mfs_db *db, const struct mfs_hash *h, struct mfs_val *pin,
			  const uint8_t **rec, size_t *len);

/*
 * Bytes [off, off + len) of the locally stored chunk h into out, for a
 * random read that needs a few KiB of a ~1 MiB chunk, and nothing is
 * cached.  A pack record of a split codec with group checksums (format 7)
 * is read, checked and decoded only in its head and the groups the range
 * touches (mfs_chunk_part_plan); any other record, or one of those that
 * fails that way, is read whole, its XXH64 checked over all of it, and
 * only the codec groups the range touches are decoded
 * (mfs_chunk_decode_range).  Returns 0,
 * -ENOENT (not stored here), MFS_ECORRUPT / MFS_EFORMAT, -EINVAL (range
 * outside the chunk) or another error; on error out holds nothing usable.
 */
/* How many mfs_chunk_read_range calls read part of a record (process-wide). */
uint64_t mfs_chunk_part_reads(void);
int mfs_chunk_read_range(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
			 uint32_t off, uint32_t len, void *out);

#endif
