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
 *   bit 31 set: the piece is a zstd frame of the plane's slice; bit 30
 *   set: a sparse piece (note 2; never both); bits 0-29 the piece's
 *   length (a raw piece is exactly the slice, one byte a word);
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
 *
 * Note 2, sparse pieces (entry bit 30; format 6, only in the inner record
 * of a version 2 delta record): what is left of a fine-tune's read cost
 * over a plain file's is zstd decoding its mostly zero XOR planes (the
 * sign and exponent bytes), 0.55-0.65 s per GiB of plane however low
 * their entropy: Huffman emits a symbol or two per lookup, and match
 * frames of short zero runs are no faster (s32 decode.md).  A sparse
 * piece lists the nonzero bytes instead:
 *   u32 ntok, u8 tok[ntok], u8 val[the rest]
 * Each token < 255 skips that many zero bytes then places the next value;
 * 255 skips 255 zeros and places none; the slice ends in zeros.  Decoding
 * is a memset and a store per nonzero byte: its cost follows the nonzero
 * bytes (a few percent of a plane), not the slice.  The encoder writes one
 * where it is at most a 16th of the slice (half a bit a byte) larger than
 * the zstd piece it would replace; mid mantissa planes (a nonzero byte in
 * most words) never qualify.  On the weights pool's pairs (bench row 10),
 * the XOR records' decode CPU-s/GiB, zstd pieces only -> with sparse ones
 * (thread CPU, all records, best of 4), and the XOR records' size:
 *   FP32 0.44 -> 0.34, 0.5597 -> 0.5616 of the bytes;
 *   BF16 0.71 -> 0.47, 0.2902 -> 0.2904;
 *   FP16 0.63 -> 0.41, 0.5135 -> 0.5161.
 * As a share of the zstd piece instead (sparse if at most 1.25x / 2x of
 * it): FP32 0.39 / 0.30 at 0.5603 / 0.5855; BF16 0.51 / 0.46 at 0.2890 /
 * 0.3098; FP16 0.47 / 0.38 at 0.5136 / 0.5262.  A share starves the
 * small pieces, where a sparse one costs few bytes, and feeds the large.
 * Encode: a piece that is sparse within a 16th of the slice is sparse
 * whatever zstd would make, so it is tried first and the zstd trials are
 * skipped; dense planes are turned down by a count of their nonzero bytes
 * (each costs two).  The XOR records' encode CPU-s/GiB, zstd only -> as
 * written now (same bytes, 3 runs): FP32 2.27-2.30 -> 2.36-2.51, BF16
 * 2.57-2.64 -> 2.23-2.33, FP16 2.89-3.82 -> 3.09-3.66.  Tried after the
 * zstd trials, a byte at a time with a count pass first, it was
 * 3.3 / 4.7 / 4.8.
 * Reads of every sparse piece are bounded by a first pass over the
 * tokens (values counted, the slice's length not passed).
 */
#define XOR_MIN_GAIN 5
#define SPARSE_EXTRA 16	/* a sparse piece may be n / SPARSE_EXTRA larger (note 2) */
#define SPARSE_SKIP 255 /* the token that skips 255 zeros and places no value */

static size_t split_groups(size_t m, unsigned shift)
{
	return (m + ((size_t)1 << shift) - 1) >> shift;
}

/*
 * Bytes before the pieces: shift, flags, the table, the group checksums
 * (SPLIT_SUMS), the tail.
 */
static size_t split_head(size_t len, unsigned w, unsigned shift, unsigned flags)
{
	size_t ng = split_groups(len / w, shift);

	return 2 + ng * w * 4 + (flags & SPLIT_SUMS ? ng * 8 : 0) + len % w;
}

/* The head of payload p (raw_len bytes of w-byte words): its length, or MFS_ECORRUPT. */
static ssize_t head_len(unsigned w, const uint8_t *p, size_t plen, size_t raw_len)
{
	if (plen < 2 || p[0] < SPLIT_SHIFT_MIN || p[0] > SPLIT_SHIFT_MAX || (p[1] & ~SPLIT_SUMS))
		return MFS_ECORRUPT;
	return (ssize_t)split_head(raw_len, w, p[0], p[1]);
}

/* Group g's checksum in a payload p with SPLIT_SUMS whose table has ng * w entries. */
static const uint8_t *group_sum(const uint8_t *p, size_t ng, unsigned w, size_t g)
{
	return p + 2 + ng * w * 4 + g * 8;
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
 *
 * At level 1: no match finder runs, but the context still sizes and
 * clears its level's match tables for every piece, and level 1 has one
 * small table where level 3 has two.  The literals are coded the same at
 * both (libzstd 1.5.4 changes how it codes literals only from the lazy
 * strategies up): every piece of 128 MiB of the bench's FP16
 * model came out byte for byte the same, and the Huffman pass took
 * 1.155-1.178 CPU-s per GiB of exponent plane against 1.168-1.239 at
 * level 3 (4 interleaved runs; issue 10, s42 codec.md).
 */
#define LITERALS_LEVEL 1
static ssize_t literals_frame(ZSTD_CCtx *cctx, const uint8_t *src, size_t n, uint8_t *dst,
			      size_t cap)
{
	/* With explicit delimiters, offset 0 and match 0 end the block: all literals. */
	ZSTD_Sequence seq = { .offset = 0, .litLength = n, .matchLength = 0, .rep = 0 };
	size_t r;

	r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, LITERALS_LEVEL);
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
 * The nonzero bytes of src[0..n): a sparse piece takes at least two bytes
 * each (a token and the value), so a dense plane is turned down by this
 * count alone, which the compiler vectorizes.
 */
static size_t nonzero_bytes(const uint8_t *src, size_t n)
{
	size_t nz = 0;

	for (size_t i = 0; i < n; i++)
		nz += src[i] != 0;
	return nz;
}

/* Bit 8k of the result: byte k of w is not zero. */
static uint64_t nonzero_mask(uint64_t w)
{
	w |= w >> 4;
	w |= w >> 2;
	w |= w >> 1;
	return w & 0x0101010101010101ull;
}

/*
 * src[0..n) as a sparse piece into dst[0..cap): its length, or -1 if over
 * cap (dst[0..cap) is scratch then).  One pass, a word at a time, a step
 * per nonzero byte: tokens go up from the front, values down from the
 * end, and are turned round after.
 */
static ssize_t sparse_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
	uint8_t *tok = dst + 4, *val = dst + cap, *end = dst + cap;
	size_t last = 0, nv, ntok;

	if (cap < 4)
		return -1;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = 0, m;

		if (i + 8 <= n)
			w = get_le64(src + i);
		else
			for (size_t k = 0; k < n - i; k++)
				w |= (uint64_t)src[i + k] << (8 * k);
		for (m = nonzero_mask(w); m; m &= m - 1) {
			size_t at = i + ((unsigned)__builtin_ctzll(m) >> 3), gap = at - last;

			if ((size_t)(val - tok) < gap / SPARSE_SKIP + 2)
				return -1;
			for (; gap >= SPARSE_SKIP; gap -= SPARSE_SKIP)
				*tok++ = SPARSE_SKIP;
			*tok++ = (uint8_t)gap;
			*--val = src[at];
			last = at + 1;
		}
	}
	nv = (size_t)(end - val);
	ntok = (size_t)(tok - dst - 4);
	for (uint8_t *x = val, *y = end - 1; x < y; x++, y--) {
		uint8_t t = *x;

		*x = *y;
		*y = t;
	}
	memmove(tok, val, nv);
	put_le32(dst, (uint32_t)ntok);
	return (ssize_t)(4 + ntok + nv);
}

/*
 * The sparse piece p[0..len) into dst[0..n): 0, or MFS_ECORRUPT when it
 * does not decode to exactly n bytes.  The tokens are checked first (what
 * they skip and place must fit in n, one value each), so the scatter after
 * needs no check per byte.  Not inlined: profiles name it
 * (tests/bench/perf_groups.py), and a call a piece costs nothing.
 */
static __attribute__((noinline)) int sparse_decode(const uint8_t *p, size_t len, uint8_t *dst, size_t n)
{
	const uint8_t *tok = p + 4, *val;
	size_t ntok, nv, placed = 0;
	uint64_t skip = 0;
	uint8_t *o = dst;

	if (len < 4 || (ntok = get_le32(p)) > len - 4)
		return MFS_ECORRUPT;
	nv = len - 4 - ntok;
	val = tok + ntok;
	for (size_t i = 0; i < ntok; i++) {
		skip += tok[i];
		placed += tok[i] != SPARSE_SKIP;
	}
	if (placed != nv || skip > n || nv > n - skip)
		return MFS_ECORRUPT;
	memset(dst, 0, n);
	for (size_t i = 0; i < ntok; i++) {
		o += tok[i];
		if (tok[i] != SPARSE_SKIP)
			*o++ = *val++;
	}
	return 0;
}

/*
 * A plane table entry e for a piece of a slice of words bytes: its length,
 * or SIZE_MAX if e is malformed (both kinds, or a raw piece that is not
 * exactly the slice).
 */
static size_t piece_len(uint32_t e, size_t words)
{
	size_t n = e & SPLIT_LEN;

	if ((e & SPLIT_ZSTD) && (e & SPLIT_SPARSE))
		return SIZE_MAX;
	if (!(e & (SPLIT_ZSTD | SPLIT_SPARSE)) && n != words)
		return SIZE_MAX;
	return n;
}

/*
 * The piece p[0..n) of table entry e, not raw, decoded into dst[0..words):
 * 0, MFS_ECORRUPT, -ENOMEM.
 */
static int piece_decode(struct mfs_codec_ctx *ctx, uint32_t e, const uint8_t *p, size_t n,
			uint8_t *dst, size_t words)
{
	size_t d;

	if (e & SPLIT_SPARSE)
		return sparse_decode(p, n, dst, words);
	d = ZSTD_decompressDCtx(ctx->dctx, dst, words, p, n);
	if (ZSTD_isError(d))
		return ZSTD_getErrorCode(d) == ZSTD_error_memory_allocation ? -ENOMEM : MFS_ECORRUPT;
	return d == words ? 0 : MFS_ECORRUPT;
}

/*
 * For a delta's XOR bytes, src[0..n) (nz of them not zero) as a sparse
 * piece into out[0..cap) when it is at most n / SPARSE_EXTRA larger than
 * a zstd piece of zlen bytes (note 2; 0: whatever zstd would make): its
 * length, else -1.
 */
static ssize_t sparse_piece(struct mfs_codec_ctx *ctx, const uint8_t *src, size_t n, size_t nz,
			    size_t zlen, uint8_t *out, size_t cap)
{
	size_t max = zlen + n / SPARSE_EXTRA;
	ssize_t z;

	if (max > cap)
		max = cap;
	/* Into scratch: out may hold the zstd piece until this one wins. */
	if (max > ctx->sample_out_cap)
		max = ctx->sample_out_cap;
	if (4 + 2 * nz > max)
		return -1;
	if ((z = sparse_encode(src, n, ctx->sample_out, max)) > 0) {
		memcpy(out, ctx->sample_out, z);
		ctx->sparse_pieces++;
	}
	return z;
}

/*
 * src[0..n) as a zstd piece into out[0..cap): a literals frame if it
 * saves 1/32 (a fifth for a delta's XOR bytes), or for those a frame with
 * matches if much smaller (note 1).  Its length, -1 (none: raw), -ENOMEM.
 */
static ssize_t zstd_piece(struct mfs_codec_ctx *ctx, const uint8_t *src, size_t n, uint8_t *out,
			  size_t cap)
{
	/*
	 * libzstd 1.5.4's ZSTD_compressSequences() writes out of bounds given
	 * less room than its bound: so the full bound, in scratch when the
	 * record has less left.
	 */
	int direct = cap >= ZSTD_compressBound(n);
	uint8_t *dst = direct ? out : ctx->sample_out;
	ssize_t r, z;

	r = literals_frame(ctx->cctx, src, n, dst, ZSTD_compressBound(n));
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && ((size_t)r >= n - n / (ctx->xor_planes ? XOR_MIN_GAIN : 32) || (size_t)r > cap))
		return -1;
	if (r > 0 && !direct)
		memcpy(out, dst, r);
	if (r > 0 && ctx->xor_planes && (size_t)r < n / 4) {
		z = matches_frame(ctx, src, n, (size_t)r * 2 / 3);
		if (z > 0) {
			memcpy(out, ctx->sample_out, z);
			r = z;
		}
	}
	return r > 0 ? r : -1;
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
	size_t ng = split_groups(m, SPLIT_SHIFT), pos = split_head(len, w, SPLIT_SHIFT, SPLIT_SUMS);

	if (cap < pos)
		return -ENOBUFS;
	if (!mfs_codec_planes(ctx))
		return -ENOMEM;
	mfs_planes_split(raw, len, ctx->planes, w);
	out[0] = SPLIT_SHIFT;
	out[1] = SPLIT_SUMS;
	memcpy(out + pos - t, raw + m * w, t);
	for (size_t g = 0; g < ng; g++) {
		size_t off = g * per, n = m - off < per ? m - off : per, gstart = pos;

		for (unsigned k = 0; k < w; k++) {
			const uint8_t *src = ctx->planes + k * m + off;
			uint32_t entry;
			ssize_t r = -1, z = -1;
			size_t nz = 0;

			if (n >= SPLIT_MIN_PIECE && ctx->xor_planes) {
				/* Within n / SPARSE_EXTRA of nothing: no zstd piece can beat it (note 2). */
				nz = nonzero_bytes(src, n);
				z = sparse_piece(ctx, src, n, nz, 0, out + pos, cap - pos);
			}
			if (z < 0 && n >= SPLIT_MIN_PIECE && worth_coding(src, n)) {
				if ((r = zstd_piece(ctx, src, n, out + pos, cap - pos)) == -ENOMEM)
					return r;
				if (r > 0 && ctx->xor_planes)
					z = sparse_piece(ctx, src, n, nz, (size_t)r, out + pos, cap - pos);
			}
			if (z > 0) {
				entry = (uint32_t)z | SPLIT_SPARSE;
				r = z;
			} else if (r > 0) {
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
		/* Hashed while in cache, just written (note 3). */
		put_le64((uint8_t *)group_sum(out, ng, w, g), mfs_xxh64(out + gstart, pos - gstart, 0));
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
	size_t m = raw_len / w, t = raw_len % w, per, ng, pos, end = off + len;
	ssize_t head = head_len(w, p, plen, raw_len);
	unsigned shift, sums;

	if (sha && (off || len != raw_len))
		return -EINVAL; /* the digest covers the whole chunk, in order */
	if (head < 0 || plen < (size_t)head)
		return MFS_ECORRUPT;
	shift = p[0];
	sums = p[1] & SPLIT_SUMS;
	per = (size_t)1 << shift;
	ng = split_groups(m, shift);
	pos = (size_t)head;
	for (size_t i = 0; i < ng * w; i++) {
		uint32_t e = get_le32(p + 2 + 4 * i);
		size_t g = i / w, words = m - g * per < per ? m - g * per : per;
		size_t n = piece_len(e, words);

		if (n == SIZE_MAX || n > plen - pos)
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
			gbytes += get_le32(p + 2 + 4 * (g * w + k)) & SPLIT_LEN;
		/*
		 * The group's pieces are hashed just before they are decoded:
		 * read once, from cache.  With group checksums, st covers the
		 * head only and each group is checked against its own.
		 */
		if (st && sums && mfs_xxh64(p + pos, gbytes, 0) != get_le64(group_sum(p, ng, w, g)))
			return MFS_ECORRUPT;
		if (st && !sums)
			mfs_xxh64_update(st, p + pos, gbytes);
		if (ge <= off || gs >= end) {	/* outside the range: skip its pieces */
			pos += gbytes;
			continue;
		}
		for (unsigned k = 0; k < w; k++) {
			uint32_t e = get_le32(p + 2 + 4 * (g * w + k));
			size_t n = e & SPLIT_LEN;

			plane[k] = p + pos;
			if (e & (SPLIT_ZSTD | SPLIT_SPARSE)) {
				uint8_t *dst;
				int rc;

				if (!mfs_codec_planes(ctx))
					return -ENOMEM;
				dst = ctx->planes + k * per;
				if ((rc = piece_decode(ctx, e, p + pos, n, dst, words)))
					return rc;
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
	size_t m = raw_len / w, per, ng, pos;
	ssize_t head = head_len(w, p, plen, raw_len);

	if (head < 0 || plen < (size_t)head)
		return MFS_ECORRUPT;
	per = (size_t)1 << p[0];
	ng = split_groups(m, p[0]);
	if (ng + 1 > ngmax)
		return -ENOBUFS;
	pos = (size_t)head;
	for (size_t i = 0; i < ng * w; i++) {
		uint32_t e = get_le32(p + 2 + 4 * i);
		size_t g = i / w, words = m - g * per < per ? m - g * per : per;
		size_t n = piece_len(e, words);

		if (i % w == 0)
			gpos[g] = (uint32_t)pos;
		if (n == SIZE_MAX || n > plen - pos)
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
		size_t n = e & SPLIT_LEN;
		int rc;

		pl[k] = v->p + pos;
		if (e & (SPLIT_ZSTD | SPLIT_SPARSE)) {
			if ((rc = piece_decode(ctx, e, v->p + pos, n, scratch + k * words, words)))
				return rc;
			pl[k] = scratch + k * words;
		}
		pos += n;
	}
	return 0;
}

/*
 * Note 3, group checksums (SPLIT_SUMS, format 7).  A 4 KiB page fault under
 * MADV_RANDOM read a whole record (~1 MiB) from its pack and hashed all of
 * it to decode one group: 0.3 ms of daemon CPU and a 1 MiB transfer per
 * fault, where the native fault costs 20-30 us (issue 10).  So each
 * group's pieces carry an XXH64 of their own, after the plane table, and
 * the record's checksum covers the header's first 16 bytes and the head
 * (the table, these checksums, the tail): a range read reads the record's
 * first block, checks the head, then reads and checks only the pieces of
 * the groups it touches (chunkstore.c, read_part).  A whole check hashes
 * every byte once, as before (the head, then each group against its
 * checksum), so whole reads cost what they did, and the encoder hashes
 * each group just after writing it, in cache, where the record's one
 * XXH64 pass had read it all again.
 */

ssize_t mfs_split_sums_head(unsigned w, const uint8_t *p, size_t plen, size_t raw_len)
{
	size_t m = raw_len / w, per, ng, pos;
	ssize_t head = head_len(w, p, plen, raw_len);

	if (head < 0)
		return head;
	if (!(p[1] & SPLIT_SUMS))
		return 0;
	if ((size_t)head > plen)
		return MFS_ECORRUPT;
	per = (size_t)1 << p[0];
	ng = split_groups(m, p[0]);
	pos = (size_t)head;
	for (size_t i = 0; i < ng * w; i++) {
		size_t g = i / w, words = m - g * per < per ? m - g * per : per;
		size_t n = piece_len(get_le32(p + 2 + 4 * i), words);

		if (n == SIZE_MAX || n > plen - pos)
			return MFS_ECORRUPT;
		pos += n;
	}
	return pos == plen ? head : MFS_ECORRUPT;
}

/*
 * Walks the groups of bytes [off, off + len) of a payload whose head
 * mfs_split_sums_head() accepted: [*from, *to) := the payload bytes that
 * hold their pieces (from == to: none, the range is in the tail); with
 * check, each such group's pieces are checked against its checksum first
 * (MFS_ECORRUPT).
 */
static int walk_groups(unsigned w, const uint8_t *p, size_t raw_len, size_t off, size_t len,
		       int check, size_t *from, size_t *to)
{
	size_t m = raw_len / w, per = (size_t)1 << p[0], ng = split_groups(m, p[0]);
	size_t pos = split_head(raw_len, w, p[0], p[1]), end = off + len;

	*from = *to = pos;
	for (size_t g = 0; g < ng; g++) {
		size_t words = m - g * per < per ? m - g * per : per, gs = g * per * w;
		size_t ge = gs + words * w, gbytes = 0;

		for (unsigned k = 0; k < w; k++)
			gbytes += get_le32(p + 2 + 4 * (g * w + k)) & SPLIT_LEN;
		if (ge > off && gs < end) {
			if (*from == *to)
				*from = pos;
			*to = pos + gbytes;
			if (check && mfs_xxh64(p + pos, gbytes, 0) != get_le64(group_sum(p, ng, w, g)))
				return MFS_ECORRUPT;
		}
		pos += gbytes;
	}
	return 0;
}

void mfs_split_span(unsigned w, const uint8_t *p, size_t raw_len, size_t off, size_t len,
		    size_t *from, size_t *to)
{
	(void)walk_groups(w, p, raw_len, off, len, 0, from, to);
}

int mfs_split_check_groups(unsigned w, const uint8_t *p, size_t raw_len, size_t off, size_t len)
{
	size_t from, to;

	return walk_groups(w, p, raw_len, off, len, 1, &from, &to);
}

ssize_t mfs_split_head_need(unsigned w, const uint8_t *p, size_t plen, size_t raw_len)
{
	return head_len(w, p, plen, raw_len);
}
