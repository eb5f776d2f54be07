/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the chunk codec: what codec.c (records, auto choice, zstd codecs,
 * decode) and codec_split.c (the split codecs) share.  Not for other files.
 */
#ifndef MFS_CODEC_INTERNAL_H
#define MFS_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ZSTD_compressSequences(): literals-only frames (codec.c, note 4); in libzstd since 1.4.5. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "codec.h"
#include "store/base/hash.h"

#define LEVEL 3
#define SAMPLE_LEVEL 1
#define SAMPLE_SLICES 8
#define SAMPLE_SLICE (16 * 1024)
#define SAMPLE_SIZE (SAMPLE_SLICES * SAMPLE_SLICE)
/* The match probe (note 2): a negative level leaves literals raw. */
#define PROBE_LEVEL (-1)

/* Split codecs: words per group, 1 << shift; the shift is in the payload. */
#define SPLIT_SHIFT 15
#define SPLIT_SHIFT_MIN 10
#define SPLIT_SHIFT_MAX 20
#define SPLIT_ZSTD 0x80000000u	/* plane table entry: the piece is a zstd frame */
#define SPLIT_SPARSE 0x40000000u /* ... a sparse piece (codec_split.c note 2); never both */
#define SPLIT_LEN 0x3fffffffu	/* ... the piece's length */
/*
 * Payload byte 1, flags: each group's pieces have an XXH64 of their own
 * after the table, and the record's checksum covers the header and the
 * head (format 7, codec_split.c note 3).  Written on every split record.
 */
#define SPLIT_SUMS 0x01u
_Static_assert(((size_t)1 << SPLIT_SHIFT) <= SAMPLE_SIZE, "split pieces compress into sample_out");
#define SPLIT_MIN_PIECE 256	/* shorter slices stay raw: a frame's overhead eats the gain */

struct mfs_codec_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *planes;	/* MFS_CHUNK_MAX, on first use: byte planes, both directions */
	uint8_t *part;		/* MFS_CHUNK_MAX, on first use: partial decodes */
	uint8_t *sample;	/* SAMPLE_SIZE: the slices auto-selection tries */
	uint8_t *sample_out;	/* ZSTD_compressBound(SAMPLE_SIZE) */
	size_t sample_out_cap;
	int xor_planes;		/* encoding a delta's XOR bytes (codec_split.c note 1) */
	unsigned sparse_pieces;	/* sparse pieces in the record encoded last */
	int stream_out;		/* whole split decodes join with streaming stores (codec.h) */
};

/* The planes buffer (MFS_CHUNK_MAX), allocated on first use; NULL if out of memory. */
uint8_t *mfs_codec_planes(struct mfs_codec_ctx *ctx);
/* A zstd error as a negative errno (-ENOBUFS: output too small). */
int mfs_codec_zstd_errno(size_t r);
/* Bytes per word of codec: 2 or 4 for the byte-grouped and split codecs, else 1. */
unsigned mfs_codec_width(int codec);

/* ---- codec_split.c ---- */

/* raw[0..len) as split payload of w-byte words into out[0..cap): its size, or -errno. */
ssize_t mfs_split_encode(struct mfs_codec_ctx *ctx, unsigned w, const uint8_t *raw, size_t len,
			 uint8_t *out, size_t cap);
/* Estimated split2 (est[0]) and split4 (est[1]) payloads of the sample s[0..n). */
void mfs_split_estimate(const uint8_t *s, size_t n, size_t est[2]);
/*
 * Bytes [off, off + len) of the split payload p[0..plen) into out; with
 * st, each piece goes through XXH64 before it is decoded; with sha (a
 * whole decode only), the bytes of out through SHA-256 as each group is
 * joined.  len or -errno.
 */
ssize_t mfs_split_decode(struct mfs_codec_ctx *ctx, unsigned w, const uint8_t *p, size_t plen,
			 size_t raw_len, size_t off, size_t len, uint8_t *out,
			 struct mfs_xxh64_state *st, struct mfs_sha256_state *sha);
/* A split payload opened for decoding group by group, unjoined (codec.h: mfs_chunk_planes). */
int mfs_split_planes_open(unsigned w, const uint8_t *p, size_t plen, size_t raw_len,
			  uint32_t *gpos, size_t ngmax, struct mfs_chunk_planes *v);
int mfs_split_planes_group(struct mfs_codec_ctx *ctx, const struct mfs_chunk_planes *v, size_t g,
			   uint8_t *scratch, const uint8_t *pl[4]);
/*
 * A whole split record checked and decoded in one pass (its bytes through
 * sha too, if not NULL): raw_len, or -1 (see the file).
 */
ssize_t mfs_split_decode_checked(struct mfs_codec_ctx *ctx, const uint8_t *rec,
				 const struct mfs_chunk_info *info, uint8_t *out,
				 struct mfs_sha256_state *sha);
/*
 * Group checksums (SPLIT_SUMS; codec_split.c note 3).  For a split
 * payload p[0..plen) of raw_len bytes: with group checksums, the length
 * of its head (what the record checksum covers after the header's first
 * 16 bytes), its table checked whole; 0 without; MFS_ECORRUPT.  Only the
 * head's bytes are read.
 */
ssize_t mfs_split_sums_head(unsigned w, const uint8_t *p, size_t plen, size_t raw_len);
/* The head's length from its first two bytes (more may be needed to check it), or MFS_ECORRUPT. */
ssize_t mfs_split_head_need(unsigned w, const uint8_t *p, size_t plen, size_t raw_len);
/*
 * For a payload whose head mfs_split_sums_head() accepted (> 0): the
 * payload bytes [*from, *to) holding the pieces of the groups that bytes
 * [off, off + len) touch (none: from == to); and a check of those groups
 * against their checksums (0 or MFS_ECORRUPT; their bytes must be there).
 */
void mfs_split_span(unsigned w, const uint8_t *p, size_t raw_len, size_t off, size_t len,
		    size_t *from, size_t *to);
int mfs_split_check_groups(unsigned w, const uint8_t *p, size_t raw_len, size_t off, size_t len);

#endif
