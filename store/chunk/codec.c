/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk records: the byte-plane transforms, zstd, automatic codec choice and
 * the record header with its checksum (format in store/chunk/codec.h).  ingest.c
 * encodes every new chunk here; chunkstore.c decodes every local read.
 *
 * Notes on the design:
 *
 * 1. Decode trusts nothing before the checksum: the length fields are
 *    checked against the record length, then XXH64 over the whole record,
 *    and only then are the codec and the payload looked at.  So random
 *    damage is reported as MFS_ECORRUPT (the caller never serves the copy:
 *    it reads another node's, and a fetched good copy replaces the bad
 *    one, replica/fetch.c), and MFS_EFORMAT means a well-formed record this
 *    version cannot read.  The payload is still decoded defensively (XXH64
 *    is no MAC): zstd must produce exactly raw_len bytes.  One exception,
 *    for speed: a whole split record is hashed group by group as it is
 *    decoded (split_decode_checked), into the caller's buffer, which is
 *    good only if the checksum then matches; a record that fails that is
 *    checked again the two-pass way, which says why.
 *
 * 2. Automatic choice runs on every chunk at import, so it must be cheap.
 *    A 128 KiB sample of the chunk (SAMPLE_SLICES slices spread over it,
 *    starting at multiples of 4 so the sample's byte planes line up with
 *    the chunk's) goes through a match probe: zstd at PROBE_LEVEL, a
 *    negative level, which leaves literals raw, so its output says what
 *    matches alone save.  Byte histograms of the sample's planes estimate
 *    what entropy coding alone saves with split2 and split4.  Unless the
 *    matches save at least 1/32 and beat both (text, code, zeros, repeated
 *    tensors; by 1/16 of the sample when a split saves 1/32 itself), the
 *    smaller split estimate wins, or raw.  The 1/16: on the 1 GiB bench model (FP16 weights), matches that
 *    beat the estimates narrowly sent 109 of 885 chunks to three trial
 *    compressions and a level-3 bg2/bg4 pass, for 0.1% of stored size;
 *    with the margin 16 go there, encode CPU falls from 1.37 to 1.06
 *    s/GiB, a 4 KiB range decode from 186 to 96 us, the ratio from 1.2030x
 *    to 1.2025x (tests/bench/codec_speed; n/8 lost 0.35% on shipped FP16).  Otherwise
 *    the sample is compressed at SAMPLE_LEVEL with zstd, bg2 and bg4, and
 *    the winner compresses the whole chunk at LEVEL.  Measured with
 *    tests/bench/codec_speed on the weights pool: auto picks split on every
 *    FP16-cast, BF16 and FP32 chunk and stores 1.1586x / 1.4486x / 1.1944x
 *    (before: bg2/bg4 at 1.1581x / 1.3956x / 1.1810x), encoding at about
 *    half the CPU time.  With trial compressions, 8 slices matched the best
 *    codec per chunk within 0.2%; 4 slices did not (librocksdb lost 2.5%
 *    to wrongly chosen planes).
 *
 * 3. Raw is kept unless compression saves at least raw_len / 32.  zstd gets
 *    the caller's whole buffer even so: given less than its bound, streaming
 *    zstd compresses into an internal buffer and copies out, which is slower
 *    and not even byte-identical.  The sample has already sent clearly
 *    incompressible chunks to raw.
 *
 * 4. The split codecs' coded pieces are zstd frames of one block holding
 *    literals only, made with ZSTD_compressSequences() and one block
 *    delimiter (an experimental API: libzstd's ABI for it is stable within
 *    1.5.x, and the frames themselves are ordinary).  On weight planes the
 *    match search finds under 1% and costs most of zstd's encode time;
 *    level 1 with matches even stores FP32 exponent planes worse (2.51x vs
 *    2.63x).  Decode cost is then Huffman decoding of the coded planes
 *    (about 1.5 GB/s of plane bytes per core here) plus the join; raw
 *    planes cost the join only.  Tried and not kept: FP16 exponent pairs
 *    as one Huffman symbol (two 4-bit frequency ranks, sign and top
 *    mantissa bits raw) halve the symbols, but the pair stream decoded
 *    only 30-45% faster before the extra assembly pass, and stored 0.4%
 *    (FP16 cast) to 1.4% (shipped FP16) less.
 *    What the writer can still choose was measured again for the FP16
 *    high-byte plane (issue 10, s38 notes hiplane.md): libzstd 1.5.4
 *    decodes its 32 KiB literals frames (no checksum, one 4-stream
 *    Huffman block) with the double-symbol decoder's BMI2 assembly loop
 *    at 1.7 GB/s of plane per core, 0.63 CPU-s per GiB of plane, about
 *    15% of it per piece (table build, stream tails, the literals copy;
 *    the frame header is 0.5%).  None of the writer's choices makes that
 *    markedly cheaper: 64 KiB pieces (shift 16) 5% less CPU for 0.9% of
 *    the plane's ratio and twice the bytes per 4 KiB range decode; 16 KiB
 *    15% more; a frame of four 32 KiB blocks (zstd reuses a table in 2-5%
 *    of them) the same; matches (levels 1 and 3, minMatch 7) 0.4% smaller
 *    but 4-8% slower.  A smaller alphabet decodes faster (more pairs of
 *    symbols per lookup): the sign bit raw beside 7-bit symbols 7-25% for
 *    0.3-0.4% of the plane's ratio, the exponent alone 40% for 2-5%.
 *
 * Level: zstd's default, 3, for every codec (a split piece's literals
 * frame is made at level 1, which codes literals the same: codec_split.c,
 * literals_frame).  Measured with
 * tests/bench/codec_ratio (auto, 1 MiB-average chunks) on the silero VAD
 * weights: FP16 1.167x (plain zstd 1.070x), BF16 1.429x, FP32 1.200x.
 * Level 1 for the planes encodes 20-50% faster and does as well on
 * synthetic N(0, 0.02) weights (BF16 even better: 1.462x vs 1.410x), but
 * loses up to 3.5% on real models, whose chunks mix floats with repeats
 * only the slower match finder sees (silero_vad_legacy.onnx 2.054x vs
 * 2.130x).  Level 5 gains 1-2% at a third of the speed.  Decoding speed
 * hardly depends on the level.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zstd_errors.h>

#include "chunker.h"
#include "codec.h"
#include "codec_internal.h"
#include "planes.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hash.h"

#define MAGIC "MFC1"
#define VERSION 1

/*
 * The planes buffer on first use: every thread that may decode has a
 * context, but raw chunks never need it, and 4 MiB per reading thread
 * (13 of them on a stream) was a third of the daemon's heap (issue 10).
 */
uint8_t *mfs_codec_planes(struct mfs_codec_ctx *ctx)
{
	if (!ctx->planes)
		ctx->planes = malloc(MFS_CHUNK_MAX);
	return ctx->planes;
}

void mfs_codec_set_xor(struct mfs_codec_ctx *ctx, int on)
{
	ctx->xor_planes = on;
}

unsigned mfs_codec_sparse_pieces(const struct mfs_codec_ctx *ctx)
{
	return ctx->sparse_pieces;
}

void mfs_codec_set_stream_out(struct mfs_codec_ctx *ctx, int on)
{
	ctx->stream_out = on;
}

struct mfs_codec_ctx *mfs_codec_ctx_new(void)
{
	struct mfs_codec_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->sample_out_cap = ZSTD_compressBound(SAMPLE_SIZE);
	ctx->cctx = ZSTD_createCCtx();
	ctx->dctx = ZSTD_createDCtx();
	ctx->sample = malloc(SAMPLE_SIZE);
	ctx->sample_out = malloc(ctx->sample_out_cap);
	if (!ctx->cctx || !ctx->dctx || !ctx->sample || !ctx->sample_out) {
		mfs_codec_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void mfs_codec_ctx_free(struct mfs_codec_ctx *ctx)
{
	if (!ctx)
		return;
	ZSTD_freeCCtx(ctx->cctx);
	ZSTD_freeDCtx(ctx->dctx);
	free(ctx->planes);
	free(ctx->sample);
	free(ctx->sample_out);
	free(ctx->part);
	free(ctx);
}

const char *mfs_codec_name(int codec)
{
	switch (codec) {
	case MFS_CODEC_RAW:
		return "raw";
	case MFS_CODEC_ZSTD:
		return "zstd";
	case MFS_CODEC_ZSTD_BG2:
		return "zstd-bg2";
	case MFS_CODEC_ZSTD_BG4:
		return "zstd-bg4";
	case MFS_CODEC_SPLIT2:
		return "split2";
	case MFS_CODEC_SPLIT4:
		return "split4";
	case MFS_CODEC_DELTA:
		return "delta";
	}
	return "?";
}

/* Word width of a codec's byte-plane transform; 1 means none. */
unsigned mfs_codec_width(int codec)
{
	switch (codec) {
	case MFS_CODEC_ZSTD_BG2:
	case MFS_CODEC_SPLIT2:
		return 2;
	case MFS_CODEC_ZSTD_BG4:
	case MFS_CODEC_SPLIT4:
		return 4;
	}
	return 1;
}

static int is_split(int codec)
{
	return codec == MFS_CODEC_SPLIT2 || codec == MFS_CODEC_SPLIT4;
}

/* ---- encode ------------------------------------------------------------- */

size_t mfs_chunk_record_bound(size_t raw_len)
{
	/* Forced codecs may expand; auto never stores more than raw. */
	/* split: ample for its table and group checksums (groups of 2^15 words) */
	size_t z = ZSTD_compressBound(raw_len), s = raw_len + 2 + (raw_len / 2 + 1) * 4;

	return MFS_CHUNK_HDR_SIZE + (z > s ? z : s);
}

/*
 * Bytes [0,16) of the header, then the payload's first n bytes
 * (store/chunk/codec.h): all of it, or the head of a split payload with
 * group checksums.
 */
static uint64_t record_checksum(const uint8_t *hdr, const uint8_t *payload, size_t n)
{
	struct mfs_xxh64_state st;

	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, hdr, 16);
	mfs_xxh64_update(&st, payload, n);
	return mfs_xxh64_digest(&st);
}

/*
 * What the record checksum covers of a payload p[0..n) of codec: the head
 * of a split payload with group checksums (its length; codec_split.c note
 * 3), 0 for all of it, or MFS_ECORRUPT.
 */
static ssize_t sums_head(int codec, const uint8_t *p, size_t n, size_t raw_len)
{
	if (!is_split(codec) || n < 2 || !(p[1] & SPLIT_SUMS))
		return 0;
	return mfs_split_sums_head(mfs_codec_width(codec), p, n, raw_len);
}

static void put_header(uint8_t *rec, int codec, size_t raw_len, size_t stored_len)
{
	ssize_t head = sums_head(codec, rec + MFS_CHUNK_HDR_SIZE, stored_len, raw_len);

	memcpy(rec, MAGIC, 4);
	rec[4] = VERSION;
	rec[5] = codec;
	put_le16(rec + 6, 0);
	put_le32(rec + 8, raw_len);
	put_le32(rec + 12, stored_len);
	put_le64(rec + 16, record_checksum(rec, rec + MFS_CHUNK_HDR_SIZE,
					   head > 0 ? (size_t)head : stored_len));
}

void mfs_chunk_seal(void *rec, int codec, size_t raw_len, size_t stored_len)
{
	put_header(rec, codec, raw_len, stored_len);
}

int mfs_codec_zstd_errno(size_t r)
{
	switch (ZSTD_getErrorCode(r)) {
	case ZSTD_error_memory_allocation:
		return -ENOMEM;
	case ZSTD_error_dstSize_tooSmall:
		return -ENOBUFS;
	default:
		return -EIO;
	}
}

/*
 * zstd over src[0..len) in w segments (planes; the last one takes the
 * len % w trailing bytes too), flushing at each segment's end so that no
 * zstd block straddles two planes: each block then gets Huffman tables
 * fitted to one plane, which is where the gain comes from (within one
 * block, order-0 entropy does not care how the bytes are ordered).  The
 * result is one ordinary frame.  Returns its size or a negative errno
 * (-ENOBUFS: cap too small).
 */
static ssize_t zstd_segments(ZSTD_CCtx *cctx, const uint8_t *src, size_t len, unsigned w,
			     uint8_t *dst, size_t cap, int level)
{
	ZSTD_outBuffer ob = { dst, cap, 0 };
	size_t m = len / w, r;

	r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	/* Sizes the window to the input and records raw_len in the frame. */
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(cctx, len);
	if (ZSTD_isError(r))
		return mfs_codec_zstd_errno(r);
	for (unsigned k = 0; k < w; k++) {
		ZSTD_inBuffer ib = { src + k * m, k + 1 < w ? m : len - k * m, 0 };
		ZSTD_EndDirective op = k + 1 < w ? ZSTD_e_flush : ZSTD_e_end;

		/* flush and end return 0 once all input is in and all output out. */
		do {
			r = ZSTD_compressStream2(cctx, &ob, &ib, op);
			if (ZSTD_isError(r))
				return mfs_codec_zstd_errno(r);
			if (r && ob.pos == ob.size)
				return -ENOBUFS;
		} while (r);
	}
	return ob.pos;
}

/* Compresses raw[0..len) as `codec` (not raw) into out[0..cap). */
static ssize_t compress_with(struct mfs_codec_ctx *ctx, int codec, const uint8_t *raw,
			     size_t len, uint8_t *out, size_t cap, int level)
{
	unsigned w = mfs_codec_width(codec);

	if (is_split(codec))
		return mfs_split_encode(ctx, w, raw, len, out, cap);
	if (w > 1) {
		if (!mfs_codec_planes(ctx))
			return -ENOMEM;
		mfs_planes_split(raw, len, ctx->planes, w);
		raw = ctx->planes;
	}
	return zstd_segments(ctx->cctx, raw, len, w, out, cap, level);
}

/*
 * The sample of raw[0..len) in *n bytes: slices spread over the chunk, each
 * starting at a multiple of 4 (note 2), or the chunk itself if it is small.
 */
static const uint8_t *take_sample(struct mfs_codec_ctx *ctx, const uint8_t *raw, size_t len,
				  size_t *n)
{
	size_t step;

	if (len <= SAMPLE_SIZE) {
		*n = len;
		return raw;
	}
	step = (len - SAMPLE_SLICE) / (SAMPLE_SLICES - 1) & ~(size_t)3;
	for (int i = 0; i < SAMPLE_SLICES; i++)
		memcpy(ctx->sample + i * SAMPLE_SLICE, raw + i * step, SAMPLE_SLICE);
	*n = SAMPLE_SIZE;
	return ctx->sample;
}

/*
 * The codec to compress the whole chunk with, or a negative errno.  Raw when even the best
 * does not save 1/128 of the sample: far from the 1/32 a chunk needs, so
 * compressing the whole chunk would be wasted work (random bytes, already
 * compressed data).
 */
static int choose_codec(struct mfs_codec_ctx *ctx, const uint8_t *raw, size_t len)
{
	size_t n, est[2], split;
	const uint8_t *sample = take_sample(ctx, raw, len, &n);
	size_t best_size = n - n / 128;
	int best = MFS_CODEC_RAW;
	ssize_t lz;

	/*
	 * Note 2: what matches alone save (the probe leaves literals raw)
	 * against what entropy coding of planes alone saves: unless matches
	 * save 1/32 and beat both split estimates (by 1/16 of the sample when
	 * a split saves 1/32 itself), a split codec or raw.
	 */
	lz = zstd_segments(ctx->cctx, sample, n, 1, ctx->sample_out, ctx->sample_out_cap,
			   PROBE_LEVEL);
	if (lz < 0)
		return (int)lz;
	mfs_split_estimate(sample, n, est);
	split = est[0] < est[1] ? est[0] : est[1];
	if (split < n - n / 32)
		split -= n / 16; /* a split that pays must lose by 1/16 to be passed over */
	if ((size_t)lz > n - n / 32 || (size_t)lz >= split) {
		for (int i = 0; i < 2; i++)
			if (est[i] < best_size) {
				best_size = est[i];
				best = i ? MFS_CODEC_SPLIT4 : MFS_CODEC_SPLIT2;
			}
		return best;
	}
	for (int c = MFS_CODEC_ZSTD; c <= MFS_CODEC_ZSTD_BG4; c++) {
		ssize_t r = compress_with(ctx, c, sample, n, ctx->sample_out, ctx->sample_out_cap,
					  SAMPLE_LEVEL);

		if (r < 0)
			return (int)r;
		/*
		 * A transform must win by 1/32: short slices hide the long
		 * matches that only plain zstd keeps (code, text), and the
		 * transform costs a pass on every read.  Ties go to zstd.
		 */
		if (c != MFS_CODEC_ZSTD)
			r += r / 32;
		if ((size_t)r < best_size) {
			best_size = r;
			best = c;
		}
	}
	return best;
}

size_t mfs_chunk_estimate(struct mfs_codec_ctx *ctx, const void *raw, size_t len)
{
	size_t n, est[2], best;
	const uint8_t *sample;

	if (!len || len > MFS_CHUNK_MAX)
		return MFS_CHUNK_HDR_SIZE + len;
	sample = take_sample(ctx, raw, len, &n);
	mfs_split_estimate(sample, n, est);
	best = est[0] < est[1] ? est[0] : est[1];
	if (best > n)
		best = n;
	return MFS_CHUNK_HDR_SIZE + (size_t)((uint64_t)best * len / n);
}

int mfs_chunk_choose(struct mfs_codec_ctx *ctx, const void *raw, size_t len)
{
	if (len > MFS_CHUNK_MAX)
		return -EINVAL;
	return len ? choose_codec(ctx, raw, len) : MFS_CODEC_RAW;
}

ssize_t mfs_chunk_encode(struct mfs_codec_ctx *ctx, const void *raw, size_t len,
			 void *out, size_t cap, int codec)
{
	uint8_t *rec = out, *payload = rec + MFS_CHUNK_HDR_SIZE;
	ssize_t stored = 0;

	if (ctx)
		ctx->sparse_pieces = 0;
	if (len > MFS_CHUNK_MAX || codec >= MFS_CODEC_PLAIN_COUNT)
		return -EINVAL;
	if (cap < MFS_CHUNK_HDR_SIZE)
		return -ENOBUFS;
	cap -= MFS_CHUNK_HDR_SIZE;

	if (codec < 0) {
		size_t limit = len - len / 32;	/* stored must be below (note 3) */
		codec = len ? choose_codec(ctx, raw, len) : MFS_CODEC_RAW;
		if (codec < 0)
			return codec;
		if (is_split(codec))
			stored = mfs_split_encode(ctx, mfs_codec_width(codec), raw, len, payload,
					      cap < limit ? cap : limit);
		else if (codec != MFS_CODEC_RAW)
			stored = compress_with(ctx, codec, raw, len, payload, cap, LEVEL);
		/* -ENOBUFS: over cap, no gain if raw fits; if not, raw fails too. */
		if (stored == -ENOBUFS || (stored >= 0 && (size_t)stored >= limit))
			codec = MFS_CODEC_RAW;
		else if (stored < 0)
			return stored;
	} else if (codec != MFS_CODEC_RAW) {
		stored = compress_with(ctx, codec, raw, len, payload, cap, LEVEL);
		if (stored < 0)
			return stored;
	}
	if (codec == MFS_CODEC_RAW) {
		if (ctx)
			ctx->sparse_pieces = 0; /* a split encode's, given up */
		if (cap < len)
			return -ENOBUFS;
		memcpy(payload, raw, len);
		stored = len;
	}
	put_header(rec, codec, len, stored);
	return MFS_CHUNK_HDR_SIZE + stored;
}

/* ---- decode ------------------------------------------------------------- */

/* The header checks that need no checksum; see mfs_chunk_peek(). */
static int check_header(const uint8_t *rec, size_t reclen, struct mfs_chunk_info *info)
{
	uint32_t raw_len, stored_len;

	if (reclen < MFS_CHUNK_HDR_SIZE || memcmp(rec, MAGIC, 4))
		return MFS_ECORRUPT;
	raw_len = get_le32(rec + 8);
	stored_len = get_le32(rec + 12);
	/* A truncated or overlong record. */
	if (stored_len != reclen - MFS_CHUNK_HDR_SIZE)
		return MFS_ECORRUPT;
	if (rec[4] != VERSION || rec[5] >= MFS_CODEC_COUNT || get_le16(rec + 6))
		return MFS_EFORMAT;
	if (raw_len > MFS_CHUNK_MAX || (rec[5] == MFS_CODEC_RAW && stored_len != raw_len))
		return MFS_ECORRUPT;
	info->codec = rec[5];
	info->raw_len = raw_len;
	info->stored_len = stored_len;
	return 0;
}

int mfs_chunk_peek(const void *rec, size_t reclen, struct mfs_chunk_info *info)
{
	return check_header(rec, reclen, info);
}

int mfs_chunk_verify(const void *rec, size_t reclen, struct mfs_chunk_info *info)
{
	const uint8_t *r = rec;

	const uint8_t *p = r + MFS_CHUNK_HDR_SIZE;
	ssize_t head;

	/* Lengths first, to know what the checksum covers; then the checksum (note 1). */
	if (reclen < MFS_CHUNK_HDR_SIZE || get_le32(r + 12) != reclen - MFS_CHUNK_HDR_SIZE)
		return MFS_ECORRUPT;
	/* Group checksums: the head's, then each group's (codec_split.c note 3). */
	if (!check_header(r, reclen, info) &&
	    (head = sums_head(info->codec, p, info->stored_len, info->raw_len))) {
		if (head < 0 || record_checksum(r, p, (size_t)head) != get_le64(r + 16))
			return MFS_ECORRUPT;
		return mfs_split_check_groups(mfs_codec_width(info->codec), p, info->raw_len, 0,
					      info->raw_len);
	}
	if (record_checksum(r, p, reclen - MFS_CHUNK_HDR_SIZE) != get_le64(r + 16))
		return MFS_ECORRUPT;
	return check_header(r, reclen, info);
}

int mfs_chunk_part_plan(const void *rec, size_t have, size_t reclen, size_t off, size_t len,
			size_t *from, size_t *to)
{
	const uint8_t *r = rec, *p = r + MFS_CHUNK_HDR_SIZE;
	struct mfs_chunk_info info;
	ssize_t head;
	unsigned w;
	int rc;

	if (have < MFS_CHUNK_HDR_SIZE + 2 || have > reclen)
		return -EINVAL;
	if ((rc = check_header(r, reclen, &info)))
		return rc;
	if (!is_split(info.codec) || !(p[1] & SPLIT_SUMS))
		return MFS_EFORMAT;
	if (off > info.raw_len || len > info.raw_len - off)
		return -EINVAL;
	w = mfs_codec_width(info.codec);
	if ((head = mfs_split_head_need(w, p, info.stored_len, info.raw_len)) < 0)
		return (int)head;
	if (MFS_CHUNK_HDR_SIZE + (size_t)head > have) {
		*from = 0;
		*to = MFS_CHUNK_HDR_SIZE + (size_t)head;
		return -ENOBUFS;
	}
	if ((head = mfs_split_sums_head(w, p, info.stored_len, info.raw_len)) <= 0 ||
	    record_checksum(r, p, (size_t)head) != get_le64(r + 16))
		return MFS_ECORRUPT;
	mfs_split_span(w, p, info.raw_len, off, len, from, to);
	*from += MFS_CHUNK_HDR_SIZE;
	*to += MFS_CHUNK_HDR_SIZE;
	return 0;
}

ssize_t mfs_chunk_decode_part(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			      size_t off, void *out, size_t len)
{
	const uint8_t *r = rec, *p = r + MFS_CHUNK_HDR_SIZE;
	size_t from, to;
	unsigned w;
	int rc;

	/* The head again (a hash of a few hundred bytes): this call trusts nothing. */
	if ((rc = mfs_chunk_part_plan(rec, reclen, reclen, off, len, &from, &to)))
		return rc;
	w = mfs_codec_width(r[5]);
	if ((rc = mfs_split_check_groups(w, p, get_le32(r + 8), off, len)))
		return rc;
	return mfs_split_decode(ctx, w, p, reclen - MFS_CHUNK_HDR_SIZE, get_le32(r + 8), off, len,
				out, NULL, NULL);
}

/*
 * Bytes [off, off + len) of the verified record rec (info from
 * mfs_chunk_verify) into out[0..len).
 */
static ssize_t decode_range(struct mfs_codec_ctx *ctx, const void *rec,
			    struct mfs_chunk_info info, size_t off, size_t len, uint8_t *out)
{
	const uint8_t *payload = (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE;
	unsigned w;
	uint8_t *dst;
	size_t n;

	if (info.codec == MFS_CODEC_RAW) {
		memcpy(out, payload + off, len);
		return len;
	}
	if (info.codec == MFS_CODEC_DELTA)
		return MFS_EFORMAT; /* needs its bases: the chunk store decodes it (delta.h) */
	w = mfs_codec_width(info.codec);
	if (is_split(info.codec))
		return mfs_split_decode(ctx, w, payload, info.stored_len, info.raw_len, off, len, out,
				    NULL, NULL);
	/*
	 * One frame for the whole chunk: a range needs it all (the planes of
	 * bg2/bg4 run through it), so whole decodes into the caller's buffer
	 * and partial ones into ctx->part.
	 */
	if (w > 1) {
		if (!(dst = mfs_codec_planes(ctx)))
			return -ENOMEM;
	} else if (off == 0 && len == info.raw_len) {
		dst = out;
	} else if (!(dst = ctx->part) && !(dst = ctx->part = malloc(MFS_CHUNK_MAX))) {
		return -ENOMEM;
	}
	/* Capacity raw_len: a frame claiming more fails instead of overrunning. */
	n = ZSTD_decompressDCtx(ctx->dctx, dst, info.raw_len, payload, info.stored_len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : MFS_ECORRUPT;
	if (n != info.raw_len)
		return MFS_ECORRUPT;
	if (w > 1 && off == 0 && len == n) {
		mfs_planes_join(ctx->planes, n, out, w);
	} else if (w > 1) {
		if (!ctx->part && !(ctx->part = malloc(MFS_CHUNK_MAX)))
			return -ENOMEM;
		mfs_planes_join(ctx->planes, n, ctx->part, w);
		memcpy(out, ctx->part + off, len);
	} else if (dst != out) {
		memcpy(out, dst + off, len);
	}
	return len;
}

ssize_t mfs_chunk_decode(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			 void *out, size_t cap)
{
	struct mfs_chunk_info info;
	ssize_t n;
	int rc;

	/* The header's own checks need no checksum (nothing is decoded on them alone). */
	if (!check_header(rec, reclen, &info) && is_split(info.codec) && cap >= info.raw_len &&
	    (n = mfs_split_decode_checked(ctx, rec, &info, out, NULL)) >= 0)
		return n;
	if ((rc = mfs_chunk_verify(rec, reclen, &info)))
		return rc;
	if (cap < info.raw_len)
		return -ENOBUFS;
	return decode_range(ctx, rec, info, 0, info.raw_len, out);
}

/*
 * A split record's one pass with its SHA-256: raw_len, or -1 to take the
 * other path (any failure: a damaged record, whose error that path names;
 * -ENOMEM from libcrypto, which it meets again).
 */
static ssize_t split_decode_sha(struct mfs_codec_ctx *ctx, const void *rec,
				const struct mfs_chunk_info *info, void *out, struct mfs_hash *sha)
{
	struct mfs_sha256_state st;
	ssize_t n;

	if (mfs_sha256_begin(&st))
		return -1;
	n = mfs_split_decode_checked(ctx, rec, info, out, &st);
	if (mfs_sha256_end(&st, sha))
		return -1;
	return n;
}

ssize_t mfs_chunk_decode_sha(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			     void *out, size_t cap, struct mfs_hash *sha)
{
	struct mfs_chunk_info info;
	ssize_t n;
	int rc;

	if (!check_header(rec, reclen, &info) && is_split(info.codec) && cap >= info.raw_len &&
	    (n = split_decode_sha(ctx, rec, &info, out, sha)) >= 0)
		return n;
	if ((rc = mfs_chunk_verify(rec, reclen, &info)))
		return rc;
	if (cap < info.raw_len)
		return -ENOBUFS;
	n = decode_range(ctx, rec, info, 0, info.raw_len, out);
	if (n >= 0 && (rc = mfs_sha256(out, (size_t)n, sha)))
		return rc;
	return n;
}

ssize_t mfs_chunk_decode_sha_unchecked(struct mfs_codec_ctx *ctx, const void *rec,
				       size_t reclen, void *out, size_t cap,
				       struct mfs_hash *sha)
{
	struct mfs_chunk_info info;
	struct mfs_sha256_state st;
	ssize_t n;
	int rc;

	if ((rc = check_header(rec, reclen, &info)))
		return rc;
	if (cap < info.raw_len)
		return -ENOBUFS;
	if (!is_split(info.codec)) {
		n = decode_range(ctx, rec, info, 0, info.raw_len, out);
		if (n >= 0 && (rc = mfs_sha256(out, (size_t)n, sha)))
			return rc;
		return n;
	}
	/* Each group hashed as it is joined, while in cache (mfs_chunk_decode_sha). */
	if (mfs_sha256_begin(&st))
		return -ENOMEM;
	n = mfs_split_decode(ctx, mfs_codec_width(info.codec),
			     (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE, info.stored_len,
			     info.raw_len, 0, info.raw_len, out, NULL, &st);
	if (mfs_sha256_end(&st, sha) && n >= 0)
		n = -ENOMEM;
	return n;
}

ssize_t mfs_chunk_decode_verified(struct mfs_codec_ctx *ctx, const void *rec,
				  const struct mfs_chunk_info *info, void *out, size_t cap)
{
	if (cap < info->raw_len)
		return -ENOBUFS;
	return decode_range(ctx, rec, *info, 0, info->raw_len, out);
}

ssize_t mfs_chunk_decode_unchecked(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
				   void *out, size_t cap)
{
	struct mfs_chunk_info info;
	int rc;

	if ((rc = check_header(rec, reclen, &info)))
		return rc;
	return mfs_chunk_decode_verified(ctx, rec, &info, out, cap);
}

ssize_t mfs_chunk_decode_range(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			       size_t off, void *out, size_t len)
{
	struct mfs_chunk_info info;
	int rc;

	if ((rc = mfs_chunk_verify(rec, reclen, &info)))
		return rc;
	if (off > info.raw_len || len > info.raw_len - off)
		return -EINVAL;
	return decode_range(ctx, rec, info, off, len, out);
}

int mfs_chunk_planes(const void *rec, size_t reclen, uint32_t *gpos, size_t ngmax,
		     struct mfs_chunk_planes *v)
{
	struct mfs_chunk_info info;
	int rc;

	if ((rc = check_header(rec, reclen, &info)))
		return rc;
	if (!is_split(info.codec))
		return MFS_EFORMAT;
	return mfs_split_planes_open(mfs_codec_width(info.codec),
				     (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE, info.stored_len,
				     info.raw_len, gpos, ngmax, v);
}

int mfs_chunk_planes_group(struct mfs_codec_ctx *ctx, const struct mfs_chunk_planes *v, size_t g,
			   uint8_t *scratch, const uint8_t *pl[4])
{
	return mfs_split_planes_group(ctx, v, g, scratch, pl);
}

static pthread_key_t codec_key;
static pthread_once_t codec_once = PTHREAD_ONCE_INIT;

static void codec_key_free(void *p) { mfs_codec_ctx_free(p); }
static void codec_key_init(void) { pthread_key_create(&codec_key, codec_key_free); }

struct mfs_codec_ctx *mfs_codec_ctx_thread(void)
{
	struct mfs_codec_ctx *ctx;

	pthread_once(&codec_once, codec_key_init);
	ctx = pthread_getspecific(codec_key);
	if (!ctx && (ctx = mfs_codec_ctx_new()) && pthread_setspecific(codec_key, ctx)) {
		mfs_codec_ctx_free(ctx);
		ctx = NULL;
	}
	return ctx;
}
