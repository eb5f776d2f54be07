/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk records: the byte-plane transforms, zstd, automatic codec choice and
 * the record header with its checksum (format in store/codec.h).  ingest.c
 * encodes every new chunk here; chunkstore.c decodes every local read.
 *
 * Notes on the design:
 *
 * 1. Decode trusts nothing before the checksum: the length fields are
 *    checked against the record length, then XXH64 over the whole record,
 *    and only then are the codec and the payload looked at.  So random
 *    damage is reported as MFS_ECORRUPT (the caller quarantines the copy and
 *    fetches another), and MFS_EFORMAT means a well-formed record this
 *    version cannot read.  The payload is still decoded defensively (XXH64
 *    is no MAC): zstd must produce exactly raw_len bytes.
 *
 * 2. Automatic choice runs on every chunk at import, so it must be cheap: a
 *    128 KiB sample of the chunk (SAMPLE_SLICES slices spread over it) is
 *    compressed at SAMPLE_LEVEL with each transform, and only the winner
 *    compresses the whole chunk, at LEVEL.  The slices start at multiples
 *    of 4 so the sample's byte planes line up with the chunk's.  On the
 *    files we measured (weights, ONNX models, ELF binaries, JavaScript)
 *    this matches the best codec per chunk within 0.2%; 4 slices did not
 *    (librocksdb lost 2.5% to wrongly chosen planes).
 *
 * 3. Raw is kept unless compression saves at least raw_len / 32.  zstd gets
 *    the caller's whole buffer even so: given less than its bound, streaming
 *    zstd compresses into an internal buffer and copies out, which is slower
 *    and not even byte-identical.  The sample has already sent clearly
 *    incompressible chunks to raw.
 *
 * Level: zstd's default, 3, for every codec.  Measured with
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

#include <zstd.h>
#include <zstd_errors.h>

#include "bytes.h"
#include "chunker.h"
#include "codec.h"
#include "errors.h"
#include "hash.h"
#include "planes.h"

#define MAGIC "MFC1"
#define VERSION 1

#define LEVEL 3
#define SAMPLE_LEVEL 1
#define SAMPLE_SLICES 8
#define SAMPLE_SLICE (16 * 1024)
#define SAMPLE_SIZE (SAMPLE_SLICES * SAMPLE_SLICE)

struct mfs_codec_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *planes;	/* MFS_CHUNK_MAX: byte planes, both directions */
	uint8_t *sample;	/* SAMPLE_SIZE: the slices auto-selection tries */
	uint8_t *sample_out;	/* ZSTD_compressBound(SAMPLE_SIZE) */
	size_t sample_out_cap;
};

struct mfs_codec_ctx *mfs_codec_ctx_new(void)
{
	struct mfs_codec_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->sample_out_cap = ZSTD_compressBound(SAMPLE_SIZE);
	ctx->cctx = ZSTD_createCCtx();
	ctx->dctx = ZSTD_createDCtx();
	ctx->planes = malloc(MFS_CHUNK_MAX);
	ctx->sample = malloc(SAMPLE_SIZE);
	ctx->sample_out = malloc(ctx->sample_out_cap);
	if (!ctx->cctx || !ctx->dctx || !ctx->planes || !ctx->sample || !ctx->sample_out) {
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
	}
	return "?";
}

/* Word width of a codec's byte-plane transform; 1 means none. */
static unsigned codec_width(int codec)
{
	return codec == MFS_CODEC_ZSTD_BG2 ? 2 : codec == MFS_CODEC_ZSTD_BG4 ? 4 : 1;
}

/* ---- encode ------------------------------------------------------------- */

size_t mfs_chunk_record_bound(size_t raw_len)
{
	/* Forced codecs may expand; auto never stores more than raw. */
	return MFS_CHUNK_HDR_SIZE + ZSTD_compressBound(raw_len);
}

/* Bytes [0,16) of the header, then the payload (store/codec.h). */
static uint64_t record_checksum(const uint8_t *hdr, const uint8_t *payload, size_t n)
{
	struct mfs_xxh64_state st;

	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, hdr, 16);
	mfs_xxh64_update(&st, payload, n);
	return mfs_xxh64_digest(&st);
}

static void put_header(uint8_t *rec, int codec, size_t raw_len, size_t stored_len)
{
	memcpy(rec, MAGIC, 4);
	rec[4] = VERSION;
	rec[5] = codec;
	put_le16(rec + 6, 0);
	put_le32(rec + 8, raw_len);
	put_le32(rec + 12, stored_len);
	put_le64(rec + 16, record_checksum(rec, rec + MFS_CHUNK_HDR_SIZE, stored_len));
}

static int zstd_errno(size_t r)
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

	r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	/* Sizes the window to the input and records raw_len in the frame. */
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(cctx, len);
	if (ZSTD_isError(r))
		return zstd_errno(r);
	for (unsigned k = 0; k < w; k++) {
		ZSTD_inBuffer ib = { src + k * m, k + 1 < w ? m : len - k * m, 0 };
		ZSTD_EndDirective op = k + 1 < w ? ZSTD_e_flush : ZSTD_e_end;

		/* flush and end return 0 once all input is in and all output out. */
		do {
			r = ZSTD_compressStream2(cctx, &ob, &ib, op);
			if (ZSTD_isError(r))
				return zstd_errno(r);
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
	unsigned w = codec_width(codec);

	if (w > 1) {
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
 * The codec to compress the whole chunk with, or a negative errno.  Raw when
 * even the best does not save 1/128 of the sample: far from the 1/32 a chunk
 * needs, so compressing the whole chunk would be wasted work (random bytes,
 * already compressed data).
 */
static int choose_codec(struct mfs_codec_ctx *ctx, const uint8_t *raw, size_t len)
{
	size_t n;
	const uint8_t *sample = take_sample(ctx, raw, len, &n);
	size_t best_size = n - n / 128;
	int best = MFS_CODEC_RAW;

	for (int c = MFS_CODEC_ZSTD; c < MFS_CODEC_COUNT; c++) {
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

ssize_t mfs_chunk_encode(struct mfs_codec_ctx *ctx, const void *raw, size_t len,
			 void *out, size_t cap, int codec)
{
	uint8_t *rec = out, *payload = rec + MFS_CHUNK_HDR_SIZE;
	ssize_t stored = 0;

	if (len > MFS_CHUNK_MAX || codec >= MFS_CODEC_COUNT)
		return -EINVAL;
	if (cap < MFS_CHUNK_HDR_SIZE)
		return -ENOBUFS;
	cap -= MFS_CHUNK_HDR_SIZE;

	if (codec < 0) {
		size_t limit = len - len / 32;	/* stored must be below (note 3) */

		codec = len ? choose_codec(ctx, raw, len) : MFS_CODEC_RAW;
		if (codec < 0)
			return codec;
		if (codec != MFS_CODEC_RAW) {
			stored = compress_with(ctx, codec, raw, len, payload, cap, LEVEL);
			/* -ENOBUFS: over cap, no gain if raw fits; if not, raw fails too. */
			if (stored == -ENOBUFS || (stored >= 0 && (size_t)stored >= limit))
				codec = MFS_CODEC_RAW;
			else if (stored < 0)
				return stored;
		}
	} else if (codec != MFS_CODEC_RAW) {
		stored = compress_with(ctx, codec, raw, len, payload, cap, LEVEL);
		if (stored < 0)
			return stored;
	}
	if (codec == MFS_CODEC_RAW) {
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

	/* Lengths first, to know what the checksum covers; then the checksum (note 1). */
	if (reclen < MFS_CHUNK_HDR_SIZE || get_le32(r + 12) != reclen - MFS_CHUNK_HDR_SIZE)
		return MFS_ECORRUPT;
	if (record_checksum(r, r + MFS_CHUNK_HDR_SIZE, reclen - MFS_CHUNK_HDR_SIZE) != get_le64(r + 16))
		return MFS_ECORRUPT;
	return check_header(r, reclen, info);
}

ssize_t mfs_chunk_decode(struct mfs_codec_ctx *ctx, const void *rec, size_t reclen,
			 void *out, size_t cap)
{
	const uint8_t *payload = (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE;
	struct mfs_chunk_info info;
	unsigned w;
	uint8_t *dst;
	size_t n;
	int rc;

	if ((rc = mfs_chunk_verify(rec, reclen, &info)))
		return rc;
	if (cap < info.raw_len)
		return -ENOBUFS;

	if (info.codec == MFS_CODEC_RAW) {
		memcpy(out, payload, info.raw_len);
		return info.raw_len;
	}
	w = codec_width(info.codec);
	dst = w > 1 ? ctx->planes : out;
	/* Capacity raw_len: a frame claiming more fails instead of overrunning. */
	n = ZSTD_decompressDCtx(ctx->dctx, dst, info.raw_len, payload, info.stored_len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : MFS_ECORRUPT;
	if (n != info.raw_len)
		return MFS_ECORRUPT;
	if (w > 1)
		mfs_planes_join(ctx->planes, n, out, w);
	return n;
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
