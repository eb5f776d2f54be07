/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The split codecs (split2, split4): a chunk's words cut into byte planes,
 * group by group, each plane's slice entropy coded only where it gains
 * (codec.c's notes 2 and 4 say why and what was measured).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd_errors.h>

#include "chunker.h"
#include "codec_internal.h"
#include "planes.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"

/* ---- split codecs --------------------------------------------------------
 *
 * Payload (w = 2 for split2, 4 for split4; m = raw_len / w words, cut into
 * groups of 1 << shift words, the last one shorter):
 *
 *   u8 shift, u8 0, then for each group and each plane of it a u32 entry:
 *   bit 31 set: the piece is a zstd frame of the plane's slice; bits 0-30
 *   the piece's length (a raw piece is exactly the slice, one byte a word);
 *   then the raw_len % w trailing bytes; then the pieces in table order.
 *
 * Only planes that gain are entropy coded (the mantissa planes of weights
 * do not), and their frames hold literals only (note 4); raw pieces are
 * joined straight from the record, and each group is decoded into scratch
 * that stays in the L2 cache and joined from there.  Groups also bound
 * what a partial decode would have to touch.
 *
 * Note 1, a delta's XOR bytes (ctx->xor_planes, delta.c): every group of
 * them is decoded on every whole read, beside the base's planes, so their
 * decode speed is what a fine-tune's read costs over a plain file's
 * (issue 13).  Two choices differ from a plain chunk's, both only in
 * what the encoder writes (any zstd frame is decoded):
 * - a piece is Huffman coded only if that saves a fifth of it
 *   (XOR_MIN_GAIN), not a 32nd: the XOR's mid mantissa planes (FP32
 *   byte 1, 6.7 bits a byte; FP16 byte 0, 6.3) save 15-21%, and their
 *   decode is the costliest of a delta read;
 * - a piece whose literals frame is under a quarter of it (the sign and
 *   exponent planes: mostly zero, 0.3-1 bit a byte) is tried as a
 *   level-1 zstd frame with matches too, and kept if under two thirds
 *   of it: Huffman spends at least a bit a byte, while zero runs become
 *   repeat matches that decode as copies.  Per 32 KiB piece of the
 *   weights pool's pairs (bench row 10): FP32 sign/exponent plane 0.146
 *   -> 0.045 of its bytes, decoded 1.25-1.7x as fast; BF16 high byte
 *   0.155 -> 0.076, 1.3x; but FP16 high byte 0.192 -> 0.172 decoded 0.7x
 *   as fast (more short runs): a small gain is not worth that.
 * Groups of 2^17 words (fewer Huffman tables to build) decoded a whole
 * delta 0-9% faster, but a 4 KiB random read of a fine-tune (fs_read.c
 * read_range) then decodes a 4x larger group: its daemon CPU rose
 * 10-45%.  Not kept.
 */
#define XOR_MIN_GAIN 5

static size_t split_groups(size_t m, unsigned shift)
{
	return (m + ((size_t)1 << shift) - 1) >> shift;
}

/* Bytes before the pieces: shift, reserved, the table, the tail. */
static size_t split_head(size_t len, unsigned w, unsigned shift)
{
	return 2 + split_groups(len / w, shift) * w * 4 + len % w;
}

/* log2(x) for x >= 1, within 0.01: enough to estimate a code's size. */
static float log2_approx(float x)
{
	union { float f; uint32_t u; } v = { x };
	float e = (float)((int)(v.u >> 23) - 127), m;

	v.u = (v.u & 0x7fffff) | 0x3f800000;	/* mantissa in [1, 2) */
	m = v.f;
	return e + (-0.34484843f * m + 2.02466578f) * m - 0.67487759f;
}

/* Order-0 entropy of a histogram of n bytes, in bits; *used: its distinct bytes. */
static float entropy_bits(const uint32_t h[256], size_t n, unsigned *used)
{
	float bits = 0;

	*used = 0;
	for (int c = 0; c < 256; c++)
		if (h[c]) {
			bits += h[c] * log2_approx((float)n / h[c]);
			(*used)++;
		}
	return bits;
}

/* Order-0 entropy of a histogram of n bytes, in bytes, plus a table's cost. */
static size_t entropy_bytes(const uint32_t h[256], size_t n)
{
	unsigned used;
	float bits = entropy_bits(h, n, &used);

	return (size_t)(bits / 8) + used / 2 + 16;
}

/*
 * Whether Huffman coding can save 1/32 of p[0..n), by the entropy of every
 * WORTH_STRIDE-th byte: a plane of floats is as uniform as that, and a full
 * histogram of an exponent plane (few distinct bytes, so increments wait on
 * each other) cost more than the Huffman encode after it.  A wrong yes
 * costs a trial (the frame is kept only if it saves 1/32), a wrong no 1/32
 * of a piece.  Every second byte was 0.17 of 3.3 daemon CPU-s/GiB in a cp
 * of FP16 weights (issue 10).  Every eighth (tests/bench/codec_ratio, the
 * weights pool and the bench's 2 GiB model): the same sizes or smaller
 * (the 2 GiB model 1.1999x -> 1.2003x: a sample's entropy reads low, so
 * borderline pieces get their trial), auto encode 10-30% faster.  The
 * table's cost counts as it did with every second byte: no threshold moved.
 */
#define WORTH_STRIDE 8
static int worth_coding(const uint8_t *p, size_t n)
{
	uint32_t h[4][256] = { { 0 } };
	size_t i = 0, ns;
	unsigned used;
	float bits;

	/* Four histograms: equal bytes do not wait on each other's increments. */
	for (; i + 4 * WORTH_STRIDE <= n; i += 4 * WORTH_STRIDE) {
		h[0][p[i]]++;
		h[1][p[i + WORTH_STRIDE]]++;
		h[2][p[i + 2 * WORTH_STRIDE]]++;
		h[3][p[i + 3 * WORTH_STRIDE]]++;
	}
	ns = i / WORTH_STRIDE;
	for (; i < n; i += WORTH_STRIDE, ns++)
		h[0][p[i]]++;
	for (int c = 0; c < 256; c++)
		h[0][c] += h[1][c] + h[2][c] + h[3][c];
	bits = entropy_bits(h[0], ns, &used);
	return bits / 8 * ((float)n / ns) + used + 32 < (float)(n - n / 32);
}

/*
 * One zstd frame of src[0..n) (n <= 128 KiB, one block) holding literals
 * only: Huffman coding without the match search, which finds next to
 * nothing in a plane of floats and costs most of zstd's encode time.
 */
static ssize_t literals_frame(ZSTD_CCtx *cctx, const uint8_t *src, size_t n, uint8_t *dst,
			      size_t cap)
{
	/* With explicit delimiters, offset 0 and match 0 end the block: all literals. */
	ZSTD_Sequence seq = { .offset = 0, .litLength = n, .matchLength = 0, .rep = 0 };
	size_t r;

	r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_blockDelimiters, ZSTD_sf_explicitBlockDelimiters);
	if (!ZSTD_isError(r))
		r = ZSTD_compressSequences(cctx, dst, cap, &seq, 1, src, n);
	return ZSTD_isError(r) ? mfs_codec_zstd_errno(r) : (ssize_t)r;
}

/*
 * src[0..n) as a level-1 zstd frame with matches into ctx->sample_out, for
 * a piece of XOR bytes (note 1); its size, or -1 if it fails or is not
 * under max bytes.
 */
static ssize_t matches_frame(struct mfs_codec_ctx *ctx, const uint8_t *src, size_t n, size_t max)
{
	size_t r = ZSTD_CCtx_reset(ctx->cctx, ZSTD_reset_session_and_parameters);

	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(ctx->cctx, ZSTD_c_compressionLevel, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(ctx->cctx, ctx->sample_out, ctx->sample_out_cap, src, n);
	return ZSTD_isError(r) || r >= max ? -1 : (ssize_t)r;
}

/*
 * raw[0..len) as split with w-byte words into out[0..cap): each group's
 * plane slice is tried as a literals frame when its entropy says it can
 * save 1/32 (a histogram costs a third of a Huffman encode, and the slices
 * of one plane differ: tensors change within a chunk), and the frame is
 * kept if it does.  Returns the payload length or a negative errno
 * (-ENOBUFS: cap too small).
 */
ssize_t mfs_split_encode(struct mfs_codec_ctx *ctx, unsigned w, const uint8_t *raw,
			    size_t len, uint8_t *out, size_t cap)
{
	size_t m = len / w, t = len % w, per = (size_t)1 << SPLIT_SHIFT;
	size_t ng = split_groups(m, SPLIT_SHIFT), pos = split_head(len, w, SPLIT_SHIFT);

	if (cap < pos)
		return -ENOBUFS;
	if (!mfs_codec_planes(ctx))
		return -ENOMEM;
	mfs_planes_split(raw, len, ctx->planes, w);
	out[0] = SPLIT_SHIFT;
	out[1] = 0;
	memcpy(out + pos - t, raw + m * w, t);
	for (size_t g = 0; g < ng; g++) {
		size_t off = g * per, n = m - off < per ? m - off : per;

		for (unsigned k = 0; k < w; k++) {
			const uint8_t *src = ctx->planes + k * m + off;
			uint32_t entry;
			ssize_t r = -1;

			if (n >= SPLIT_MIN_PIECE && worth_coding(src, n)) {
				/*
				 * libzstd 1.5.4's ZSTD_compressSequences() writes out of
				 * bounds given less room than its bound: so the full
				 * bound, in scratch when the record has less left.
				 */
				int direct = cap - pos >= ZSTD_compressBound(n);
				uint8_t *dst = direct ? out + pos : ctx->sample_out;

				r = literals_frame(ctx->cctx, src, n, dst, ZSTD_compressBound(n));
				if (r == -ENOMEM)
					return r;
				if (r >= 0 && ((size_t)r >= n - n / (ctx->xor_planes ? XOR_MIN_GAIN : 32) ||
					       (size_t)r > cap - pos))
					r = -1;
				else if (r > 0 && !direct)
					memcpy(out + pos, dst, r);
				if (r > 0 && ctx->xor_planes && (size_t)r < n / 4) {
					ssize_t z = matches_frame(ctx, src, n, (size_t)r * 2 / 3);

					if (z > 0) {
						memcpy(out + pos, ctx->sample_out, z);
						r = z;
					}
				}
			}
			if (r > 0) {
				entry = (uint32_t)r | SPLIT_ZSTD;
			} else {
				if (cap - pos < n)
					return -ENOBUFS;
				memcpy(out + pos, src, n);
				entry = r = n;
			}
			put_le32(out + 2 + (g * w + k) * 4, entry);
			pos += r;
		}
	}
	return pos;
}

/*
 * Estimated split2 and split4 payloads for the sample, from the entropy of
 * each plane: Huffman coding of literals comes within a few percent of it
 * (the groups' own tables adapt to their tensors and do better), and the
 * estimate costs a histogram instead of a compression.
 */
void mfs_split_estimate(const uint8_t *s, size_t n, size_t est[2])
{
	uint32_t h4[4][256] = { { 0 } }, h2[2][256];
	size_t m4 = n / 4;

	for (size_t i = 0; i < m4; i++)
		for (int k = 0; k < 4; k++)
			h4[k][s[4 * i + k]]++;
	/* With whole 4-byte words, plane k of w = 2 is planes k and k + 2 of w = 4. */
	for (int k = 0; k < 2; k++)
		for (int c = 0; c < 256; c++)
			h2[k][c] = h4[k][c] + h4[k + 2][c];
	est[0] = est[1] = n - 4 * m4;
	for (int k = 0; k < 4; k++) {
		size_t e = entropy_bytes(h4[k], m4);

		est[1] += e < m4 - m4 / 32 ? e : m4;
	}
	for (int k = 0; k < 2; k++) {
		size_t e = entropy_bytes(h2[k], 2 * m4);

		est[0] += e < 2 * m4 - 2 * m4 / 32 ? e : 2 * m4;
	}
}

/*
 * Bytes [off, off + len) of the split payload p[0..plen) (w-byte words,
 * raw_len bytes in all) into out[0..len).  The table is checked whole
 * (lengths adding up to the payload exactly) before any piece is decoded;
 * zstd pieces must decode to exactly their slice.  Only the groups the
 * range touches are decoded; groups wholly inside it are joined straight
 * into out, the others through ctx->part.
 */
ssize_t mfs_split_decode(struct mfs_codec_ctx *ctx, unsigned w, const uint8_t *p,
			    size_t plen, size_t raw_len, size_t off, size_t len, uint8_t *out,
			    struct mfs_xxh64_state *st, struct mfs_sha256_state *sha)
{
	size_t m = raw_len / w, t = raw_len % w, per, ng, head, pos, end = off + len;
	unsigned shift;

	if (sha && (off || len != raw_len))
		return -EINVAL; /* the digest covers the whole chunk, in order */
	if (plen < 2)
		return MFS_ECORRUPT;
	shift = p[0];
	if (shift < SPLIT_SHIFT_MIN || shift > SPLIT_SHIFT_MAX || p[1])
		return MFS_ECORRUPT;
	per = (size_t)1 << shift;
	ng = split_groups(m, shift);
	head = split_head(raw_len, w, shift);
	if (plen < head)
		return MFS_ECORRUPT;
	pos = head;
	for (size_t i = 0; i < ng * w; i++) {
		uint32_t e = get_le32(p + 2 + 4 * i);
		size_t g = i / w, words = m - g * per < per ? m - g * per : per;
		size_t n = e & ~SPLIT_ZSTD;

		if ((!(e & SPLIT_ZSTD) && n != words) || n > plen - pos)
			return MFS_ECORRUPT;
		pos += n;
	}
	if (pos != plen)
		return MFS_ECORRUPT;

	if (st)
		mfs_xxh64_update(st, p, head);
	pos = head;
	for (size_t g = 0; g < ng; g++) {
		size_t words = m - g * per < per ? m - g * per : per;
		size_t gs = g * per * w, ge = gs + words * w, gbytes = 0;
		const uint8_t *plane[4];

		for (unsigned k = 0; k < w; k++)
			gbytes += get_le32(p + 2 + 4 * (g * w + k)) & ~SPLIT_ZSTD;
		/* The group's pieces are hashed just before they are decoded: read once, from cache. */
		if (st)
			mfs_xxh64_update(st, p + pos, gbytes);
		if (ge <= off || gs >= end) {	/* outside the range: skip its pieces */
			pos += gbytes;
			continue;
		}
		for (unsigned k = 0; k < w; k++) {
			uint32_t e = get_le32(p + 2 + 4 * (g * w + k));
			size_t n = e & ~SPLIT_ZSTD, d;

			plane[k] = p + pos;
			if (e & SPLIT_ZSTD) {
				uint8_t *dst;

				if (!mfs_codec_planes(ctx))
					return -ENOMEM;
				dst = ctx->planes + k * per;

				d = ZSTD_decompressDCtx(ctx->dctx, dst, words, p + pos, n);
				if (ZSTD_isError(d))
					return ZSTD_getErrorCode(d) == ZSTD_error_memory_allocation ?
						       -ENOMEM : MFS_ECORRUPT;
				if (d != words)
					return MFS_ECORRUPT;
				plane[k] = dst;
			}
			pos += n;
		}
		if (gs >= off && ge <= end) {
			/* A checked whole decode for the chunk cache (st: mfs_split_decode_checked). */
			if (ctx->stream_out && st && !sha)
				mfs_planes_gather_nt(plane, words, out + (gs - off), w);
			else
				mfs_planes_gather(plane, words, out + (gs - off), w);
			/* While the group is in cache: the pass after the decode read it from memory. */
			if (sha)
				mfs_sha256_update(sha, out + (gs - off), ge - gs);
		} else {
			size_t a = gs > off ? gs : off, b = ge < end ? ge : end;

			if (!ctx->part && !(ctx->part = malloc(MFS_CHUNK_MAX)))
				return -ENOMEM;
			mfs_planes_gather(plane, words, ctx->part, w);
			memcpy(out + (a - off), ctx->part + (a - gs), b - a);
		}
	}
	if (end > m * w) {	/* the tail */
		size_t a = off > m * w ? off : m * w;

		memcpy(out + (a - off), p + head - t + (a - m * w), end - a);
		if (sha)
			mfs_sha256_update(sha, out + (a - off), end - a);
	}
	return len;
}

/*
 * A whole split record checked and decoded in one pass: each group's
 * pieces go through XXH64 just before they are decoded, while they are in
 * cache, instead of a pass over the whole (cold) record first.  Bytes are
 * decoded into out before the checksum is known, so out is only good if
 * this returns raw_len: the table is bounds-checked before any piece is
 * touched and zstd checks what it reads, as for any damaged record.  A
 * record that fails here (damaged, or a decode error) is reported by the
 * two-pass path below, which says which.  Returns raw_len or -1.
 */
ssize_t mfs_split_decode_checked(struct mfs_codec_ctx *ctx, const uint8_t *rec,
				    const struct mfs_chunk_info *info, uint8_t *out,
				    struct mfs_sha256_state *sha)
{
	struct mfs_xxh64_state st;
	ssize_t n;

	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, rec, 16);
	n = mfs_split_decode(ctx, mfs_codec_width(info->codec), rec + MFS_CHUNK_HDR_SIZE,
			 info->stored_len, info->raw_len, 0, info->raw_len, out, &st, sha);
	if (n != (ssize_t)info->raw_len || mfs_xxh64_digest(&st) != get_le64(rec + 16))
		return -1;
	return n;
}

/*
 * The split payload p[0..plen) (w-byte words, raw_len bytes) opened for
 * group by group decoding without a join (codec.h, mfs_chunk_planes):
 * the table is checked whole, as mfs_split_decode() checks it, and
 * gpos[g] := where group g's pieces start (gpos[ng] = plen).  0,
 * MFS_ECORRUPT, -ENOBUFS (more than ngmax groups).
 */
int mfs_split_planes_open(unsigned w, const uint8_t *p, size_t plen, size_t raw_len,
			  uint32_t *gpos, size_t ngmax, struct mfs_chunk_planes *v)
{
	size_t m = raw_len / w, per, ng, head, pos;

	if (plen < 2 || p[0] < SPLIT_SHIFT_MIN || p[0] > SPLIT_SHIFT_MAX || p[1])
		return MFS_ECORRUPT;
	per = (size_t)1 << p[0];
	ng = split_groups(m, p[0]);
	head = split_head(raw_len, w, p[0]);
	if (plen < head)
		return MFS_ECORRUPT;
	if (ng + 1 > ngmax)
		return -ENOBUFS;
	pos = head;
	for (size_t i = 0; i < ng * w; i++) {
		uint32_t e = get_le32(p + 2 + 4 * i);
		size_t g = i / w, words = m - g * per < per ? m - g * per : per;
		size_t n = e & ~SPLIT_ZSTD;

		if (i % w == 0)
			gpos[g] = (uint32_t)pos;
		if ((!(e & SPLIT_ZSTD) && n != words) || n > plen - pos)
			return MFS_ECORRUPT;
		pos += n;
	}
	if (pos != plen)
		return MFS_ECORRUPT;
	gpos[ng] = (uint32_t)plen;
	*v = (struct mfs_chunk_planes){ .w = w, .shift = p[0], .m = m, .t = raw_len % w, .ng = ng,
					.p = p, .gpos = gpos, .tail = p + head - raw_len % w };
	return 0;
}

/*
 * Group g of the opened payload v: pl[k] := its plane k, in the payload
 * for a raw piece, decoded into scratch (w << shift bytes, or the group's
 * words times w) for a zstd one.  0, MFS_ECORRUPT, -ENOMEM.
 */
int mfs_split_planes_group(struct mfs_codec_ctx *ctx, const struct mfs_chunk_planes *v, size_t g,
			   uint8_t *scratch, const uint8_t *pl[4])
{
	size_t per = (size_t)1 << v->shift, words = v->m - g * per < per ? v->m - g * per : per;
	size_t pos = v->gpos[g];

	for (unsigned k = 0; k < v->w; k++) {
		uint32_t e = get_le32(v->p + 2 + 4 * (g * v->w + k));
		size_t n = e & ~SPLIT_ZSTD, d;

		pl[k] = v->p + pos;
		if (e & SPLIT_ZSTD) {
			d = ZSTD_decompressDCtx(ctx->dctx, scratch + k * words, words, v->p + pos, n);
			if (ZSTD_isError(d))
				return ZSTD_getErrorCode(d) == ZSTD_error_memory_allocation ? -ENOMEM :
											MFS_ECORRUPT;
			if (d != words)
				return MFS_ECORRUPT;
			pl[k] = scratch + k * words;
		}
		pos += n;
	}
	return 0;
}
