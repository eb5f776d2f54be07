/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk codecs and the stored chunk record.
 *
 * A stored chunk record is a 24-byte header followed by the payload:
 *
 *   off size field
 *     0    4 magic        "MFC1"
 *     4    1 version      1
 *     5    1 codec        enum mfs_codec
 *     6    2 reserved     0
 *     8    4 raw_len      little endian, <= MFS_CHUNK_MAX
 *    12    4 stored_len   little endian, payload bytes after the header
 *    16    8 checksum     XXH64(seed 0) of bytes [0,16) then the payload
 *                         (one XXH64 over their concatenation), little endian;
 *                         of a split payload with group checksums, of bytes
 *                         [0,16) then the payload's head only (below)
 *
 * Payload: raw: the bytes.  zstd: one zstd frame of the bytes.  bg2/bg4:
 * one zstd frame of the bytes rearranged into 2 or 4 byte planes: with
 * w-byte words, plane i holds byte i of every whole word, planes in order,
 * then the raw_len % w trailing bytes unchanged.  Float exponent bytes then
 * sit together and compress.
 *
 * split2/split4: the same planes (w = 2 / 4), cut into groups of 2^shift
 * words (the last one shorter), each group's slice of each plane stored
 * raw or as a zstd frame of its own:
 *
 *   u8 shift (10..20; the encoder writes 15), u8 flags (0, or 1: group
 *     checksums, written since format 7),
 *   groups * w u32 entries, group-major: bit 31 set = zstd frame, bits
 *     0-30 = the piece's length (raw pieces: exactly the slice's words),
 *   with flag 1, groups u64 checksums: XXH64(seed 0) of each group's
 *     pieces (they follow each other),
 *   the raw_len % w trailing bytes,
 *   the pieces in table order.
 * The head is everything before the pieces.
 *
 * Only slices that entropy coding shrinks are coded (FP16 mantissa bytes
 * are not), so decoding is Huffman on those plus a join; a group is also
 * the unit a partial decode reads, checks and decodes (group checksums:
 * mfs_chunk_part_plan).
 *
 * The codec is chosen per chunk (store/chunk/codec.c, note 2): split2/split4
 * when matches save little (weights), else the smallest of zstd, bg2 and
 * bg4.  Raw is kept when compression saves less than 1/32 of the bytes:
 * decoding would cost more than it saves.  See doc/format.md.
 */
#ifndef MFS_CODEC_H
#define MFS_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mfs_hash;

#define MFS_CHUNK_HDR_SIZE 24

/* Stored on disk and sent on the wire: never renumber. */
enum mfs_codec {
	MFS_CODEC_RAW = 0,
	MFS_CODEC_ZSTD = 1,
	MFS_CODEC_ZSTD_BG2 = 2,
	MFS_CODEC_ZSTD_BG4 = 3,
	MFS_CODEC_SPLIT2 = 4,
	MFS_CODEC_SPLIT4 = 5,
	/*
	 * A fine-tune chunk as the XOR with base chunks (store/chunk/delta.h):
	 * decoded by the chunk store, which has the bases; the codec functions
	 * here refuse it (MFS_EFORMAT), and never pick it.
	 */
	MFS_CODEC_DELTA = 6,
	MFS_CODEC_COUNT
};
/* The codecs a record can be decoded with alone: 0 .. MFS_CODEC_PLAIN_COUNT - 1. */
#define MFS_CODEC_PLAIN_COUNT MFS_CODEC_DELTA

struct mfs_chunk_info {
	enum mfs_codec codec;
	uint32_t raw_len;
	uint32_t stored_len;
};

/* Per-thread codec state (zstd contexts, scratch planes); not thread safe. */
struct mfs_codec_ctx;

/* Returns NULL on allocation failure. mfs_codec_ctx_free(NULL) is a no-op. */
struct mfs_codec_ctx *mfs_codec_ctx_new(void);
void mfs_codec_ctx_free(struct mfs_codec_ctx *ctx);
/* This thread's context, made on first use, freed when the thread exits; NULL on ENOMEM. */
struct mfs_codec_ctx *mfs_codec_ctx_thread(void);
/*
 * Whether ctx's next encodes are of a delta's XOR bytes, which every read
 * of the delta decodes whole: split records then get match-coded and
 * sparse zero planes (codec_split.c notes 1 and 2).  Only what is written
 * changes; every decoder reads it.
 */
void mfs_codec_set_xor(struct mfs_codec_ctx *ctx, int on);
/*
 * Sparse pieces in the record ctx's last mfs_chunk_encode() wrote: a
 * record holding one must be named by a version 2 delta record (delta.h),
 * which builds without the piece refuse.
 */
unsigned mfs_codec_sparse_pieces(const struct mfs_codec_ctx *ctx);

/*
 * Whether ctx's next whole, checked decodes of split records
 * (mfs_chunk_decode) write their output with streaming stores, to memory
 * and not through the cache: for a buffer nothing reads soon but the
 * kernel's copy of a FUSE reply (the chunk cache's loads, cache.c).  The
 * join then writes each line without reading it in first (every store to
 * a cold buffer missed): split records of 1 MiB of the bench's FP16
 * model decoded into cold buffers, each then copied into tmpfs pages as
 * a reply is copied into the page cache, 0.95-1.03 CPU-s/GiB with plain
 * stores, 0.90-0.95 with streaming ones (the join's saving, less a
 * slower copy from memory; 4 interleaved pairs).  Other decodes, whose
 * caller reads the bytes next, are not affected.
 */
void mfs_codec_set_stream_out(struct mfs_codec_ctx *ctx, int on);

/* Upper bound of a record for raw_len bytes, for sizing `out`. */
size_t mfs_chunk_record_bound(size_t raw_len);

/*
 * About the record mfs_chunk_encode (automatic codec) makes of raw[0..len),
 * from the byte planes' entropy in its sample (histograms; nothing is
 * compressed): a split codec comes within a few percent of it, and no
 * record is longer than the raw one.  For weighing another record (a
 * delta, delta.c) without making the plain one.
 */
size_t mfs_chunk_estimate(struct mfs_codec_ctx *ctx, const void *raw, size_t len);

/*
 * The codec mfs_chunk_encode's automatic choice (codec < 0) picks for
 * raw[0..len), from its sample, or a negative errno.  Encoding with it
 * gives the automatic record, except that a record not under 31/32 of
 * len must then be made raw by the caller (note 3 of codec.c).  Encode
 * side only: for ingest, which reuses one chunk's choice for the next
 * chunks of the same tensor (ingest_window.c).
 */
int mfs_chunk_choose(struct mfs_codec_ctx *ctx, const void *raw, size_t len);

/*
 * Encodes raw[0..len) (len <= MFS_CHUNK_MAX) into a record in out[0..cap).
 * codec < 0 picks the best codec automatically; otherwise that codec is used
 * (tests and benchmarks).  ctx may be NULL with MFS_CODEC_RAW (a proxy's
 * decoded bytes, replica/server.c).  Returns the record length or a
 * negative errno.
 */
ssize_t mfs_chunk_encode(struct mfs_codec_ctx *ctx, const void *raw, size_t len,
			 void *out, size_t cap, int codec);

/*
 * Validates the header of rec[0..reclen) (magic, version, codec, lengths);
 * does not check the checksum.  Returns 0, MFS_EFORMAT or MFS_ECORRUPT.
 */
int mfs_chunk_peek(const void *rec, size_t reclen, struct mfs_chunk_info *info);

/*
 * Checks the record's checksum and decodes it into out[0..cap), cap >=
 * raw_len.  Returns raw_len, or MFS_ECORRUPT / MFS_EFORMAT: corrupt bytes are
 * never decoded into `out` as if they were good.  A split record is hashed
 * group by group as it is decoded (one pass over it), so on any error out
 * may hold bytes: only a return of raw_len makes them good.
 */
ssize_t mfs_chunk_decode(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			 void *out, size_t cap);

/*
 * mfs_chunk_decode, and *sha := the SHA-256 of the bytes decoded, for a
 * copy whose name is to be checked (a chunk from a peer).  A split record
 * is hashed group by group as it is joined, while each group is in cache:
 * hashing the chunk after its decode read it back from memory, and cost
 * 0.15 CPU-s/GiB more (issue 10).  Returns raw_len (and *sha), -ENOMEM, or
 * the errors of mfs_chunk_decode; *sha means nothing unless raw_len.
 */
ssize_t mfs_chunk_decode_sha(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			     void *out, size_t cap, struct mfs_hash *sha);

/*
 * mfs_chunk_decode_sha without the XXH64 pass: the record's header is
 * validated and its bytes hashed (SHA-256, fused as there) but its checksum
 * field is not looked at.  For a peer's copy that is served and never kept
 * where its checksum is trusted unread (replica/fetch.c check_copy: the disk
 * cache checks it when it reads the record back), and for a copy held here
 * that passed both checks when it came.  Returns raw_len (and *sha),
 * -ENOMEM, -ENOBUFS, MFS_ECORRUPT or MFS_EFORMAT; *sha means nothing unless
 * raw_len, and only a *sha equal to the chunk's name makes out good.
 */
ssize_t mfs_chunk_decode_sha_unchecked(struct mfs_codec_ctx *ctx, const void *rec,
				       size_t reclen, void *out, size_t cap,
				       struct mfs_hash *sha);

/*
 * mfs_chunk_decode for a record mfs_chunk_verify() has just accepted, with
 * the info it returned: no second XXH64 pass over the record (a caller
 * that verifies, then decodes, hashes every record twice).  rec must be
 * the very bytes verified.  Returns raw_len, -ENOBUFS, MFS_ECORRUPT.
 */
ssize_t mfs_chunk_decode_verified(struct mfs_codec_ctx *ctx, const void *rec,
				  const struct mfs_chunk_info *info, void *out, size_t cap);

/*
 * mfs_chunk_decode without the XXH64 pass, for a record whose decoded bytes
 * the caller checks itself (a delta's base: delta.c checks the bytes it
 * rebuilds; a peer's copy goes through mfs_chunk_decode_sha_unchecked or,
 * to be kept in the store, mfs_chunk_decode_sha: replica/fetch.c).  The
 * header is validated and every decoder bounds what it reads and writes,
 * so any bytes are safe to decode; only the caller's hash makes the output
 * good.  Returns raw_len, -ENOBUFS, MFS_ECORRUPT, MFS_EFORMAT.
 */
ssize_t mfs_chunk_decode_unchecked(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
				   void *out, size_t cap);

/*
 * Like mfs_chunk_decode, but only bytes [off, off + len) of the chunk, into
 * out[0..len): for a page fault that needs 4 KiB of a 1 MiB chunk.  The
 * checksum still covers the whole record (XXH64: ~0.1 ms per MiB); split
 * codecs then decode only the groups (64-128 KiB of output) the range
 * touches, raw copies the range, other codecs decode the whole chunk into
 * scratch.  Returns len, -EINVAL if the range is not within raw_len,
 * MFS_ECORRUPT or MFS_EFORMAT.
 */
ssize_t mfs_chunk_decode_range(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			       size_t off, void *out, size_t len);

/*
 * A range read from part of a record (codec_split.c, note 3): a split
 * record with group checksums can be checked and decoded from its head and
 * the pieces of the groups a range touches, without the rest.  With the
 * record's first `have` bytes in rec (reclen in all), checks its header
 * and head and gives the bytes [*from, *to) of the record that bytes
 * [off, off + len) of the chunk need beside them: 0; -ENOBUFS if the head
 * is not all in have (it ends at *to: read that much, ask again);
 * MFS_EFORMAT for a record of another kind (no group checksums: check and
 * decode it whole); MFS_ECORRUPT; -EINVAL (a range not within raw_len).
 */
int mfs_chunk_part_plan(const void *rec, size_t have, size_t reclen, size_t off, size_t len,
			size_t *from, size_t *to);
/*
 * Bytes [off, off + len) of such a record into out[0..len), from its head
 * and the bytes mfs_chunk_part_plan() named (the rest of rec[0..reclen) is
 * never read): the head and the groups touched are checked first, nothing
 * unchecked is decoded.  len, or the errors of mfs_chunk_part_plan.
 */
ssize_t mfs_chunk_decode_part(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			      size_t off, void *out, size_t len);

/*
 * A split record opened for decoding its byte planes group by group,
 * unjoined (mfs_chunk_planes): for delta.c, which XORs a delta's planes
 * with its base's as it joins them, once, group by group while they are
 * in cache.  Groups hold 1 << shift words (the last one fewer); group g's
 * pieces are p[gpos[g], gpos[g + 1]), the bytes before gpos[0] are the
 * payload's head.  The checksum is the caller's to check (mfs_chunk_verify;
 * delta.c checks the bytes it rebuilds instead): nothing decoded is good
 * before it holds.
 */
struct mfs_chunk_planes {
	unsigned w, shift;
	size_t m, t, ng;        /* whole words; trailing bytes (raw_len % w); groups */
	const uint8_t *p;       /* the payload */
	const uint32_t *gpos;   /* ng + 1 entries, the caller's */
	const uint8_t *tail;    /* the t trailing bytes */
};

/*
 * Opens the split2/split4 record rec[0..reclen) into v; its table is
 * checked whole (gpos[0..ngmax) the caller's: MFS_CHUNK_MAX / 1024 + 2
 * entries always do).  0, MFS_EFORMAT (not a split record: decode it
 * whole instead), MFS_ECORRUPT, -ENOBUFS.
 */
int mfs_chunk_planes(const void *rec, size_t reclen, uint32_t *gpos, size_t ngmax,
		     struct mfs_chunk_planes *v);
/*
 * Group g's planes: pl[k] points into the record (a raw piece) or into
 * scratch (w << shift bytes, MFS_CHUNK_MAX always do), where a coded
 * piece is decoded.  0, MFS_ECORRUPT, -ENOMEM.
 */
int mfs_chunk_planes_group(struct mfs_codec_ctx *ctx, const struct mfs_chunk_planes *v, size_t g,
			   uint8_t *scratch, const uint8_t *pl[4]);

/*
 * Checks the header and the checksum of rec without decoding, for readers
 * that use a raw record's payload in place.  0, MFS_ECORRUPT or MFS_EFORMAT.
 */
int mfs_chunk_verify(const void *rec, size_t reclen, struct mfs_chunk_info *info);

/*
 * Writes the header of the record at rec whose payload (stored_len bytes)
 * is already at rec + MFS_CHUNK_HDR_SIZE: magic, version, lengths and the
 * checksum over both.  For records built elsewhere (delta.c).
 */
void mfs_chunk_seal(void *rec, int codec, size_t raw_len, size_t stored_len);

/* "raw", "zstd", "zstd-bg2", "zstd-bg4", "split2", "split4", "delta", or "?" */
const char *mfs_codec_name(int codec);

#endif
