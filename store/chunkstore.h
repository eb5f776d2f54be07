/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk store: chunk records in the chunks CF (RocksDB blob files), and
 * beside each a small summary in chunk_index so that listing, existence
 * checks and statistics never read a blob.
 *
 * Invariant: an index entry is never durable without its record.  Records
 * are written without the WAL and flushed first (mfs_chunk_stage_record,
 * mfs_db_flush); index entries follow through the WAL
 * (mfs_chunk_stage_index).  A crash in between leaves record bytes no index
 * names (wasted space, never a wrong answer); the reverse would make dedup
 * skip a chunk that is not there.
 */
#ifndef MFS_CHUNKSTORE_H
#define MFS_CHUNKSTORE_H

#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "db.h"
#include "hash.h"

struct mfs_db;
struct mfs_batch;

/* chunk_index value, version 1: u8 version, u8 codec, u32 raw_len, u32 record_len. */
#define MFS_CHUNK_INDEX_VERSION 1
#define MFS_CHUNK_INDEX_LEN 10

struct mfs_chunk_summary {
	uint8_t codec;
	uint32_t raw_len;
	uint32_t record_len;   /* header + payload, what the chunk costs on disk */
};

/* 1 if stored, 0 if not, or an error. */
int mfs_chunk_exists(struct mfs_db *db, const struct mfs_hash *h);

/* Adds a chunk record to b (write b with MFS_WRITE_NOWAL, then flush). */
void mfs_chunk_stage_record(struct mfs_batch *b, const struct mfs_hash *h, const void *rec,
			    size_t len);
/* Adds the index entry of a record of record_len bytes (after the flush). */
void mfs_chunk_stage_index(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len);

int mfs_chunk_summary_decode(const uint8_t *p, size_t n, struct mfs_chunk_summary *s);
/* The index entry of h (no blob read): 0, -ENOENT, MFS_EFORMAT or a db error. */
int mfs_chunk_summary_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_chunk_summary *s);


/*
 * A chunk's raw bytes, as the read path holds them: for a raw chunk, a
 * pointer into the pinned RocksDB value (no copy); otherwise a decoded
 * buffer the struct owns.  Release with mfs_chunk_bytes_release().
 */
struct mfs_chunk_bytes {
	const uint8_t *p;
	uint32_t len;
	uint8_t *owned;
	struct mfs_val pin;
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

#endif
