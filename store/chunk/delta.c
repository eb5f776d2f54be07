/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fine-tune deltas (delta.h): the delta record's refs, its decode against
 * the base chunks in the store, and its encode at ingest against a base
 * file whose tensors match the new file's.  chunkstore.c calls the decode
 * for every local read of a delta record; ingest_window.c calls the encode
 * for every new chunk of a file that has a base.
 *
 * Notes on the design:
 *
 * 1. Why XOR against the same range of the base tensor: a fine-tune moves
 *    each weight by a small step, so the XOR of a weight with its base
 *    value is zero in the sign, the exponent and the high mantissa bits;
 *    the split codecs (codec_split.c) then code those planes to a few bits
 *    and keep the low mantissa planes raw.  Chunks of the new file are cut
 *    by content, so a chunk's range maps to one range of the base tensor
 *    that usually spans two base chunks: the refs name each piece.
 *
 * 2. A range read reads each base chunk's span once (mfs_chunk_read_range:
 *    the base record's XXH64, then only the split groups the span
 *    touches).  A whole read (rebuild_planes) decodes the XOR bytes' planes
 *    and the base planes its refs place a group at a time and XORs them as
 *    it joins them, once, while they are in cache; only the rebuilt bytes
 *    are hashed (delta.h, invariant 2).  Refs whose two chunks start at
 *    other phases of a tensor's words (dst_off and base_off differ mod the
 *    word size) XOR the base group's joined bytes instead.
 *
 * 3. Only what the refs place is XORed; header bytes, padding and tensors
 *    without a match are XORed with zero, i.e. stored as they are in the
 *    inner record.  A chunk less than half covered by matched tensors is
 *    not tried.
 *
 * 4. What a whole read costs (issue 13; tests/bench/delta_speed under
 *    callgrind, the pairs of bench row 10, instructions per byte read):
 *    FP32 11.0 before this path (three XXH64 passes, two joins, an XOR
 *    pass), 9.6 with it, a plain chunk 4.1; BF16 13.8, 12.1, 4.7; FP16
 *    14.3, 12.3, 5.7.  zstd's Huffman decode of the delta's coded planes
 *    (sign, exponent and high mantissa of the XOR) and of the base's is
 *    7.8 (FP32), 10.8, 10.9 of those, against 3.2, 3.8, 4.7 for a plain
 *    chunk: that alone is 1.9-2.3x a plain read, and those planes are
 *    where the delta's size is won (FP32 XOR planes: 7.1, 2.1 and 0.6
 *    bits of entropy a byte), so no join or check order reaches 1.5x; a
 *    cheaper entropy code for them would.
 * 5. A base chunk already decoded in the chunk cache (a server that read
 *    the base, then reads its fine-tune) is XORed in from there
 *    (mfs_delta_src_set, cache.c note 6): no base record read or decoded,
 *    only the delta's own planes.  Daemon CPU-s/GiB of the fine-tune read
 *    after the base's, cache_mb=256 (issue 13, s25 notes): 1.15-1.53x a
 *    plain read against 1.64-2.08x decoding the bases.  A cold read, and
 *    one whose bases the cache has evicted (a sequential reader's chunks
 *    go first: cache_mb must hold the base), costs what note 4 says.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "chunkstore.h"
#include "codec.h"
#include "delta.h"
#include "planes.h"
#include "manifest.h"
#include "store/base/hashset.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "tensors.h"

#define LOG_COMPONENT "delta"

/* ---- per-thread scratch ---------------------------------------------------- */

/*
 * Two buffers per thread, each made on first use: the XOR bytes (encoders
 * only), and base spans / the record being built.  A reading thread gets
 * only the second, and touches only the pages its base spans use.
 */
struct scratch {
	uint8_t *x;     /* MFS_CHUNK_MAX */
	uint8_t *y;     /* mfs_chunk_record_bound(MFS_CHUNK_MAX) */
	/* Whole reads (rebuild_planes): decoded groups, grown as needed, and group tables. */
	uint8_t *gbuf[5];       /* 0-1 the delta's groups, 2-3 a base's, 4 a base group joined */
	size_t gcap[5];
	uint32_t *gd, *gb;      /* NG each */
};

/* Groups a split record can have, plus one (codec.h, mfs_chunk_planes). */
#define NG (MFS_CHUNK_MAX / 1024 + 2)

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	struct scratch *s = p;

	if (s) {
		free(s->x);
		free(s->y);
		for (int i = 0; i < 5; i++)
			free(s->gbuf[i]);
		free(s->gd);
		free(s->gb);
		free(s);
	}
}

static void scratch_init(void)
{
	pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch, made on first use; NULL on ENOMEM. */
static struct scratch *scratch_get(void)
{
	struct scratch *s;

	pthread_once(&scratch_once, scratch_init);
	if (!(s = pthread_getspecific(scratch_key))) {
		if (!(s = calloc(1, sizeof(*s))))
			return NULL;
		if (pthread_setspecific(scratch_key, s)) {
			free(s);
			return NULL;
		}
	}
	if (!s->y && !(s->y = malloc(mfs_chunk_record_bound(MFS_CHUNK_MAX))))
		return NULL;
	return s;
}

/* This thread's scratch with its XOR buffer too (encoders). */
static struct scratch *scratch_get_enc(void)
{
	struct scratch *s = scratch_get();

	if (s && !s->x && !(s->x = malloc(MFS_CHUNK_MAX)))
		return NULL;
	return s;
}

/* This thread's scratch with the group tables too (whole reads). */
static struct scratch *scratch_get_planes(void)
{
	struct scratch *s = scratch_get();

	if (s && !s->gd && !(s->gd = malloc(NG * sizeof(*s->gd))))
		return NULL;
	if (s && !s->gb && !(s->gb = malloc(NG * sizeof(*s->gb))))
		return NULL;
	return s;
}

/* ---- the record ------------------------------------------------------------ */

/* The inner record of a checked delta payload p[0..n) with nrefs refs. */
static const uint8_t *inner_of(const uint8_t *p, uint32_t nrefs)
{
	return p + MFS_DELTA_HEAD + (size_t)nrefs * MFS_DELTA_REF_SIZE;
}

int mfs_delta_refs(const void *rec, size_t reclen, struct mfs_delta_ref **refs, uint32_t *n)
{
	const uint8_t *p = (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE;
	struct mfs_chunk_info info, inner;
	struct mfs_delta_ref *v;
	uint32_t nrefs, end = 0;
	size_t head;

	*refs = NULL;
	*n = 0;
	if (mfs_chunk_peek(rec, reclen, &info) || info.codec != MFS_CODEC_DELTA ||
	    info.stored_len < MFS_DELTA_HEAD ||
	    (p[0] != MFS_DELTA_VERSION && p[0] != MFS_DELTA_VERSION_SPARSE) || p[1])
		return MFS_ECORRUPT;
	nrefs = get_le16(p + 2);
	head = MFS_DELTA_HEAD + (size_t)nrefs * MFS_DELTA_REF_SIZE;
	if (!nrefs || nrefs > MFS_DELTA_MAX_REFS || info.stored_len < head ||
	    mfs_chunk_peek(inner_of(p, nrefs), info.stored_len - head, &inner) ||
	    inner.codec == MFS_CODEC_DELTA || inner.raw_len != info.raw_len)
		return MFS_ECORRUPT;
	if (!(v = malloc(nrefs * sizeof(*v))))
		return -ENOMEM;
	for (uint32_t i = 0; i < nrefs; i++) {
		const uint8_t *r = p + MFS_DELTA_HEAD + (size_t)i * MFS_DELTA_REF_SIZE;

		memcpy(v[i].base.b, r, MFS_HASH_LEN);
		v[i].base_off = get_le32(r + 32);
		v[i].dst_off = get_le32(r + 36);
		v[i].len = get_le32(r + 40);
		/* Sorted, disjoint, inside the chunk and inside a possible base chunk. */
		if (!v[i].len || v[i].dst_off < end || v[i].len > info.raw_len - v[i].dst_off ||
		    v[i].dst_off > info.raw_len || v[i].base_off > MFS_CHUNK_MAX ||
		    v[i].len > MFS_CHUNK_MAX - v[i].base_off) {
			free(v);
			return MFS_ECORRUPT;
		}
		end = v[i].dst_off + v[i].len;
	}
	*refs = v;
	*n = nrefs;
	return 0;
}

/* dst ^= src, 32 bytes a step: a byte loop is not vectorized at -O2 (it was 15% of a read). */
static void xor_into(uint8_t *restrict dst, const uint8_t *restrict src, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		uint64_t a[4], b[4];

		memcpy(a, dst + i, 32);
		memcpy(b, src + i, 32);
		for (int k = 0; k < 4; k++)
			a[k] ^= b[k];
		memcpy(dst + i, a, 32);
	}
	for (; i < n; i++)
		dst[i] ^= src[i];
}

/* A base chunk's bytes [off, +len) into buf: never a delta itself (depth 1). */
static int base_read(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		     uint32_t off, uint32_t len, uint8_t *buf)
{
	struct mfs_chunk_summary s;
	int rc = mfs_chunk_summary_get(db, h, &s);

	if (rc)
		return rc;
	if (s.codec == MFS_CODEC_DELTA)
		return MFS_ECORRUPT;
	return mfs_chunk_read_range(db, ctx, h, off, len, buf);
}

/*
 * XORs into out (bytes [off, off + len) of the chunk) what refs v[0..n)
 * place there: each run of refs to one base chunk reads the span it needs
 * once, into buf.
 */
static int apply_bases(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_delta_ref *v,
		       uint32_t n, size_t off, size_t len, uint8_t *out, uint8_t *buf)
{
	size_t end = off + len;

	for (uint32_t i = 0, j; i < n; i = j) {
		uint32_t lo = UINT32_MAX, hi = 0;
		int rc;

		/* The run of refs to v[i].base that meet the range, and their span of it. */
		for (j = i; j < n && !memcmp(v[j].base.b, v[i].base.b, MFS_HASH_LEN); j++) {
			size_t a = v[j].dst_off > off ? v[j].dst_off : off;
			size_t b = v[j].dst_off + v[j].len < end ? v[j].dst_off + v[j].len : end;

			if (a >= b)
				continue;
			if (v[j].base_off + (a - v[j].dst_off) < lo)
				lo = v[j].base_off + (uint32_t)(a - v[j].dst_off);
			if (v[j].base_off + (b - v[j].dst_off) > hi)
				hi = v[j].base_off + (uint32_t)(b - v[j].dst_off);
		}
		if (lo >= hi)
			continue;
		if ((rc = base_read(db, ctx, &v[i].base, lo, hi - lo, buf)))
			return rc;
		for (uint32_t k = i; k < j; k++) {
			size_t a = v[k].dst_off > off ? v[k].dst_off : off;
			size_t b = v[k].dst_off + v[k].len < end ? v[k].dst_off + v[k].len : end;

			if (a < b)
				xor_into(out + (a - off), buf + v[k].base_off + (a - v[k].dst_off) - lo,
					 b - a);
		}
	}
	return 0;
}

/* ---- whole reads: planes XORed as they are joined ------------------------------ */

/*
 * A split record's planes, decoded a group at a time when first needed
 * (two groups kept: a ref's span of the base may straddle two).
 */
struct lazy {
	struct mfs_codec_ctx *ctx;
	struct mfs_chunk_planes v;
	struct {
		size_t g;               /* SIZE_MAX: none */
		uint8_t **buf;
		size_t *cap;
		const uint8_t *pl[4];
	} slot[2];
	unsigned last;                  /* the slot used last */
	int err;                        /* the first decode error */
};

/* z over the opened record z->v, its two slots in s from buffer k on. */
static void lazy_init(struct lazy *z, struct mfs_codec_ctx *ctx, struct scratch *s, int k)
{
	z->ctx = ctx;
	z->last = 0;
	z->err = 0;
	for (int i = 0; i < 2; i++) {
		z->slot[i].g = SIZE_MAX;
		z->slot[i].buf = &s->gbuf[k + i];
		z->slot[i].cap = &s->gcap[k + i];
	}
}

/* Group g's planes, decoded if not kept; NULL on an error (z->err). */
static const uint8_t *const *lazy_group(struct lazy *z, size_t g)
{
	size_t per = (size_t)1 << z->v.shift, need;
	unsigned i;
	int rc;

	for (i = 0; i < 2; i++)
		if (z->slot[i].g == g) {
			z->last = i;
			return z->slot[i].pl;
		}
	i = !z->last;
	need = (z->v.m - g * per < per ? z->v.m - g * per : per) * z->v.w;
	if (*z->slot[i].cap < need) {
		free(*z->slot[i].buf);
		*z->slot[i].cap = 0;
		if (!(*z->slot[i].buf = malloc(need))) {
			z->err = -ENOMEM;
			return NULL;
		}
		*z->slot[i].cap = need;
	}
	z->slot[i].g = SIZE_MAX;
	if ((rc = mfs_chunk_planes_group(z->ctx, &z->v, g, *z->slot[i].buf, z->slot[i].pl))) {
		z->err = rc;
		return NULL;
	}
	z->slot[i].g = g;
	z->last = i;
	return z->slot[i].pl;
}

/*
 * Words [a, b) of the chunk into out: the delta's planes (d), XORed as
 * they are joined with the base's (b, from its word bi on; NULL: joined
 * alone, no ref places base bytes there).  Pieces end where a group of
 * either record does.  0 or the decode error.
 */
static int join_span(struct lazy *d, struct lazy *b, size_t a, size_t e, size_t bi, uint8_t *out)
{
	unsigned w = d->v.w;

	while (a < e) {
		size_t dg = a >> d->v.shift, dend = (dg + 1) << d->v.shift;
		size_t n = (dend < e ? dend : e) - a;
		const uint8_t *const *dp = lazy_group(d, dg), *const *bp;
		const uint8_t *x[4], *y[4];

		if (!dp)
			return d->err;
		for (unsigned k = 0; k < w; k++)
			x[k] = dp[k] + (a - (dg << d->v.shift));
		if (!b) {
			mfs_planes_gather(x, n, out + a * w, w);
		} else {
			size_t bg = bi >> b->v.shift, bend = (bg + 1) << b->v.shift;

			if (!(bp = lazy_group(b, bg)))
				return b->err;
			if (bend - bi < n)
				n = bend - bi;
			for (unsigned k = 0; k < w; k++)
				y[k] = bp[k] + (bi - (bg << b->v.shift));
			mfs_planes_gather_xor(x, y, n, out + a * w, w);
			bi += n;
		}
		a += n;
	}
	return 0;
}

/* out[x] ^= byte y of the base b (y < its raw length).  0 or the decode error. */
static int xor_byte(struct lazy *b, size_t y, uint8_t *out, size_t x)
{
	size_t i = y / b->v.w, g = i >> b->v.shift;
	const uint8_t *const *bp;

	if (i >= b->v.m) {
		out[x] ^= b->v.tail[y - b->v.m * b->v.w];
		return 0;
	}
	if (!(bp = lazy_group(b, g)))
		return b->err;
	out[x] ^= bp[y % b->v.w][i - (g << b->v.shift)];
	return 0;
}

/* Words [0, *cur) of out are joined: joins the delta's alone up to word x too. */
static int joined_to(struct lazy *d, size_t *cur, size_t x, uint8_t *out)
{
	int rc = 0;

	if (x > d->v.m)
		x = d->v.m;
	if (*cur < x && !(rc = join_span(d, NULL, *cur, x, 0, out)))
		*cur = x;
	return rc;
}

/* The bytes [x0, x1) of ref r, one by one (their words are joined). */
static int xor_bytes(struct lazy *b, const struct mfs_delta_ref *r, size_t x0, size_t x1,
		     uint8_t *out)
{
	int rc = 0;

	for (size_t x = x0; x < x1 && !rc; x++)
		rc = xor_byte(b, r->base_off + (x - r->dst_off), out, x);
	return rc;
}

/* *buf of at least need bytes (grown); 0 or -ENOMEM. */
static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = malloc(need)))
		return -ENOMEM;
	*cap = need;
	return 0;
}

/*
 * XORs the base bytes ref r places into out the byte way, for a ref that
 * moves bytes across planes (dst_off and base_off differ mod w: the two
 * chunks start at other phases of the tensor's words): the delta's words
 * it covers are joined alone, then each base group it reads is joined
 * into s's group buffer and XORed in.  0, -ENOMEM or a decode error.
 */
static int xor_ref_bytes(struct lazy *d, struct lazy *b, struct scratch *s,
			 const struct mfs_delta_ref *r, size_t *cur, uint8_t *out)
{
	unsigned w = b->v.w;
	size_t y = r->base_off, end = y + r->len, per = (size_t)1 << b->v.shift;
	int rc;

	if ((rc = joined_to(d, cur, (r->dst_off + r->len + d->v.w - 1) / d->v.w, out)) ||
	    (rc = grow(&s->gbuf[4], &s->gcap[4], per * w)))
		return rc;
	while (y < end) {
		size_t i = y / w, g = i >> b->v.shift, gs = (g << b->v.shift) * w, ge, n;
		const uint8_t *const *bp;

		if (i >= b->v.m) { /* the base's trailing bytes */
			xor_into(out + r->dst_off + (y - r->base_off), b->v.tail + (y - b->v.m * w),
				 end - y);
			break;
		}
		ge = ((g + 1) << b->v.shift < b->v.m ? (g + 1) << b->v.shift : b->v.m) * w;
		if (!(bp = lazy_group(b, g)))
			return b->err;
		mfs_planes_gather(bp, ge / w - (g << b->v.shift), s->gbuf[4], w);
		n = (ge < end ? ge : end) - y;
		xor_into(out + r->dst_off + (y - r->base_off), s->gbuf[4] + (y - gs), n);
		y += n;
	}
	return 0;
}

/*
 * The same for a base decoded whole into base[0..blen) (a base coded
 * other than split): the delta's words the ref covers joined alone, then
 * the base's bytes XORed in.  0 or MFS_ECORRUPT (the ref leaves the base).
 */
static int xor_ref_whole(struct lazy *d, const uint8_t *base, size_t blen,
			 const struct mfs_delta_ref *r, size_t *cur, uint8_t *out)
{
	int rc;

	if (r->base_off > blen || r->len > blen - r->base_off)
		return MFS_ECORRUPT;
	if ((rc = joined_to(d, cur, (r->dst_off + r->len + d->v.w - 1) / d->v.w, out)))
		return rc;
	xor_into(out + r->dst_off, base + r->base_off, r->len);
	return 0;
}

/*
 * XORs the base bytes ref r places into out, whose delta words before
 * *cur are joined: whole words as the planes are joined, the bytes of a
 * word the ref shares with a gap or another ref one by one, after that
 * word's join.  0, MFS_ECORRUPT (the ref leaves the base chunk) or a
 * decode error.
 */
static int xor_ref(struct lazy *d, struct lazy *b, struct scratch *sc,
		   const struct mfs_delta_ref *r, size_t *cur, uint8_t *out)
{
	unsigned w = d->v.w;
	size_t s = r->dst_off, e = s + r->len, wa = (s + w - 1) / w, wb = e / w;
	size_t braw = b->v.m * w + b->v.t;
	int rc;

	if (r->base_off > braw || r->len > braw - r->base_off)
		return MFS_ECORRUPT;
	if (r->dst_off % w != r->base_off % w)
		return xor_ref_bytes(d, b, sc, r, cur, out);
	if (wa > wb) /* inside one word */
		return (rc = joined_to(d, cur, s / w + 1, out)) ? rc : xor_bytes(b, r, s, e, out);
	if ((rc = joined_to(d, cur, wa, out)) || (rc = xor_bytes(b, r, s, wa * w, out)) ||
	    (rc = join_span(d, b, wa, wb, (r->base_off + (wa * w - s)) / w, out)))
		return rc;
	*cur = wb;
	if (e % w && ((rc = joined_to(d, cur, wb + 1, out)) || (rc = xor_bytes(b, r, wb * w, e, out))))
		return rc;
	return 0;
}

/* The calling thread's source of decoded bases (mfs_delta_src_set), and its hits. */
static __thread const struct mfs_delta_src *tsrc;
static uint64_t n_src_hits;

void mfs_delta_src_set(const struct mfs_delta_src *src)
{
	tsrc = src;
}

uint64_t mfs_delta_src_hits(void)
{
	return __atomic_load_n(&n_src_hits, __ATOMIC_RELAXED);
}

/*
 * The refs v[0..n) to one base XORed in from the thread's source, if it
 * has the base's bytes at hand: 1 done (*rc its result), 0 not there.
 */
static int xor_from_src(struct lazy *d, const struct mfs_delta_ref *v, uint32_t n, size_t *cur,
			uint8_t *out, int *rc)
{
	const struct mfs_delta_src *src = tsrc;
	const uint8_t *base;
	const void *ref;
	size_t blen;

	if (!src || !(base = src->get(src->arg, &v[0].base, &blen, &ref)))
		return 0;
	*rc = 0;
	for (uint32_t k = 0; k < n && !*rc; k++)
		*rc = xor_ref_whole(d, base, blen, &v[k], cur, out);
	src->put(src->arg, ref);
	__atomic_fetch_add(&n_src_hits, 1, __ATOMIC_RELAXED);
	return 1;
}

/*
 * A whole rebuild of the delta chunk whose record rec[0..reclen) has
 * payload p and refs v[0..n), into out[0..raw_len), group by group while
 * the groups are in cache: the XOR bytes' planes and the base planes the
 * refs place are decoded a group at a time and XORed as they are joined.
 * No record's checksum is checked here: the caller checks the rebuilt
 * bytes' XXH64, which covers every input this rebuild used (the refs, the
 * inner record, the bases' bytes) and the decoders too, and on any
 * failure reads the chunk again the checked way, which says what is
 * damaged (delta.h, invariant 2).  Before, the delta record and each base
 * record had an XXH64 pass of their own, both were joined, and the XOR
 * was one more pass over the chunk (note 4).
 * The decoders bound what they read and write whatever the bytes.
 * A base coded other than split is decoded whole and XORed in as bytes,
 * as is a base the thread's source has decoded already (note 5).
 * MFS_EFORMAT when the delta's inner record is not split; else 0 or an
 * error.
 */
static int rebuild_planes(struct mfs_db *db, struct mfs_codec_ctx *ctx, struct scratch *s,
			  const uint8_t *rec, size_t reclen, const struct mfs_delta_ref *v,
			  uint32_t n, size_t raw_len, uint8_t *out)
{
	const uint8_t *p = rec + MFS_CHUNK_HDR_SIZE, *inner = inner_of(p, n);
	size_t inlen = reclen - (size_t)(inner - rec), cur = 0;
	struct lazy d, b;
	int rc;

	if ((rc = mfs_chunk_planes(inner, inlen, s->gd, NG, &d.v)))
		return rc == -ENOBUFS ? MFS_EFORMAT : rc;
	if (d.v.m * d.v.w + d.v.t != raw_len)
		return MFS_ECORRUPT;
	lazy_init(&d, ctx, s, 0);
	memcpy(out + d.v.m * d.v.w, d.v.tail, d.v.t); /* first: refs may XOR into it */
	for (uint32_t i = 0, j; i < n && !rc; i = j) {
		struct mfs_val pin;
		const uint8_t *brec;
		size_t blen;
		ssize_t got;

		for (j = i; j < n && !memcmp(v[j].base.b, v[i].base.b, MFS_HASH_LEN); j++)
			;
		/* The base decoded already (the chunk cache): no record read, no decode. */
		if (xor_from_src(&d, v + i, j - i, &cur, out, &rc))
			continue;
		/* rec (maybe the read buffer) stays: a base goes to a buffer of its own. */
		if ((rc = mfs_chunk_record_base(db, &v[i].base, &pin, &brec, &blen)))
			return rc;
		rc = mfs_chunk_planes(brec, blen, s->gb, NG, &b.v);
		if (!rc && b.v.w == d.v.w) {
			lazy_init(&b, ctx, s, 2);
			for (uint32_t k = i; k < j && !rc; k++)
				rc = xor_ref(&d, &b, s, &v[k], &cur, out);
		} else if (!rc || rc == MFS_EFORMAT || rc == -ENOBUFS) {
			/* Another codec or width: the base whole, XORed in as bytes. */
			got = mfs_chunk_decode_unchecked(ctx, brec, blen, s->y, MFS_CHUNK_MAX);
			rc = got < 0 ? (int)got : 0;
			for (uint32_t k = i; k < j && !rc; k++)
				rc = xor_ref_whole(&d, s->y, (size_t)got, &v[k], &cur, out);
		}
		mfs_val_release(&pin);
	}
	return rc ? rc : joined_to(&d, &cur, d.v.m, out);
}

/* Whole reads served by rebuild_planes, and by the checked path (atomic). */
static uint64_t n_planes, n_checked;

void mfs_delta_read_counts(uint64_t *planes, uint64_t *checked)
{
	*planes = __atomic_load_n(&n_planes, __ATOMIC_RELAXED);
	*checked = __atomic_load_n(&n_checked, __ATOMIC_RELAXED);
}

int mfs_delta_decode(struct mfs_db *db, struct mfs_codec_ctx *ctx, const void *rec,
		     size_t reclen, size_t off, size_t len, uint8_t *out)
{
	const uint8_t *p = (const uint8_t *)rec + MFS_CHUNK_HDR_SIZE, *inner;
	struct mfs_chunk_info info, in;
	struct mfs_delta_ref *v = NULL;
	struct scratch *s = scratch_get();
	uint64_t want;
	size_t inlen;
	uint32_t n = 0;
	ssize_t got;
	int rc, whole;

	if (!s)
		return -ENOMEM;
	if (mfs_chunk_peek(rec, reclen, &info))
		return mfs_chunk_verify(rec, reclen, &info); /* says why */
	whole = off == 0 && len == info.raw_len;
	if (whole && info.codec == MFS_CODEC_DELTA && !mfs_delta_refs(rec, reclen, &v, &n)) {
		/* Planes XORed as joined, the result checked end to end (rebuild_planes). */
		struct scratch *sp = scratch_get_planes();

		rc = sp ? rebuild_planes(db, ctx, sp, rec, reclen, v, n, len, out) : -ENOMEM;
		free(v);
		v = NULL;
		if (!rc && mfs_xxh64(out, len, 0) == get_le64(p + 4)) {
			__atomic_fetch_add(&n_planes, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (rc == -ENOMEM)
			return rc;
		/* Anything else: the checked path below, which says what failed. */
	}
	if (whole)
		__atomic_fetch_add(&n_checked, 1, __ATOMIC_RELAXED);
	if ((rc = mfs_chunk_verify(rec, reclen, &info)))
		return rc;
	if (info.codec != MFS_CODEC_DELTA)
		return MFS_EFORMAT;
	if (off > info.raw_len || len > info.raw_len - off)
		return -EINVAL;
	if ((rc = mfs_delta_refs(rec, reclen, &v, &n)))
		return rc;
	whole = off == 0 && len == info.raw_len;
	want = get_le64(p + 4);
	inner = inner_of(p, n);
	inlen = reclen - (size_t)(inner - (const uint8_t *)rec);
	/*
	 * The outer checksum covered the inner record: a whole decode skips
	 * its own XXH64 pass.  rec may be the pack read buffer the base reads
	 * reuse: done with it after this.
	 */
	if (whole && !(rc = mfs_chunk_peek(inner, inlen, &in)))
		got = mfs_chunk_decode_verified(ctx, inner, &in, out, len);
	else
		got = rc ? rc : mfs_chunk_decode_range(ctx, inner, inlen, off, out, len);
	if (got < 0)
		rc = (int)got;
	else if ((size_t)got != len)
		rc = MFS_ECORRUPT;
	else
		rc = apply_bases(db, ctx, v, n, off, len, out, s->y);
	if (!rc && whole && mfs_xxh64(out, len, 0) != want)
		rc = MFS_EBADHASH;
	free(v);
	return rc;
}

/* ---- the encoder's base ------------------------------------------------------- */

/* A tensor of the new file and where its match starts in the base file. */
struct mapped {
	uint64_t start, end, base_start;
};

struct mfs_delta_base {
	struct mfs_db *db;
	struct mfs_manifest *m;         /* the base file's */
	struct mapped *v;               /* sorted by start */
	uint32_t n;
	pthread_mutex_t mu;
	struct mfs_hash *used;          /* protected by mu */
	size_t nused, capused;          /* protected by mu */
};

struct named {
	const uint8_t *name;
	uint32_t len;
	const struct mfs_tensor *t;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int same_layout(const struct mfs_tensor *a, const struct mfs_tensor *b)
{
	if (a->dtype != b->dtype || a->raw_type != b->raw_type || a->ndim != b->ndim ||
	    a->end - a->start != b->end - b->start)
		return 0;
	for (uint32_t d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* The base file's first bytes until its header parses (at most MFS_TENSORS_HDR_MAX). */
static int base_header(struct mfs_db *db, const struct mfs_manifest *m, uint8_t **hdr,
		       struct mfs_tensors *t)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	uint8_t *buf = NULL;
	size_t have = 0;
	int rc = -ENOENT;

	*hdr = NULL;
	if (!ctx)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->count && have < MFS_TENSORS_HDR_MAX + MFS_CHUNK_MAX; i++) {
		struct mfs_chunk_bytes cb;
		uint8_t *nb;

		/* A header has no hole (a run of 256 KiB of zeros): not a model file. */
		if (mfs_manifest_is_hole(&m->e[i])) {
			rc = -ENOENT;
			break;
		}
		if (!(nb = realloc(buf, have + m->e[i].len))) {
			rc = -ENOMEM;
			break;
		}
		buf = nb;
		if ((rc = mfs_chunk_load(db, ctx, &m->e[i].hash, &cb, 0)))
			break;
		memcpy(buf + have, cb.p, cb.len);
		have += cb.len;
		mfs_chunk_bytes_release(&cb);
		if ((rc = mfs_tensors_parse(buf, have, t)) != -EAGAIN)
			break;
	}
	if (rc) {
		free(buf);
		return rc == -EAGAIN ? -ENOENT : rc;
	}
	*hdr = buf;
	return 0;
}

/* Maps each tensor of t (names in hdr) to the base tensor bt (names in bhdr) it matches. */
static int match(struct mfs_delta_base *b, const struct mfs_tensors *t, const uint8_t *hdr,
		 const struct mfs_tensors *bt, const uint8_t *bhdr)
{
	struct named *idx = malloc((bt->n ? bt->n : 1) * sizeof(*idx));

	if (!idx || !(b->v = malloc((t->n ? t->n : 1) * sizeof(*b->v)))) {
		free(idx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < bt->n; i++)
		idx[i] = (struct named){ bhdr + bt->v[i].name_off, bt->v[i].name_len, &bt->v[i] };
	qsort(idx, bt->n, sizeof(*idx), named_cmp);
	for (uint32_t i = 0; i < t->n; i++) {
		struct named key = { hdr + t->v[i].name_off, t->v[i].name_len, NULL };
		struct named *hit = bsearch(&key, idx, bt->n, sizeof(*idx), named_cmp);

		if (hit && t->v[i].end > t->v[i].start && same_layout(&t->v[i], hit->t))
			b->v[b->n++] = (struct mapped){ t->v[i].start, t->v[i].end, hit->t->start };
	}
	free(idx);
	return 0;
}

int mfs_delta_base_new(struct mfs_db *db, const struct mfs_hash *base_id,
		       const struct mfs_tensors *t, const uint8_t *hdr,
		       struct mfs_delta_base **out)
{
	struct mfs_delta_base *b = calloc(1, sizeof(*b));
	struct mfs_tensors bt = { 0 };
	uint8_t *bhdr = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!b)
		goto out;
	b->db = db;
	pthread_mutex_init(&b->mu, NULL);
	if ((rc = mfs_manifest_load(db, base_id, &b->m)) || (rc = base_header(db, b->m, &bhdr, &bt)))
		goto out;
	if (bt.data_end > b->m->size) {
		rc = 0; /* the base's tensors do not fit in it: nothing to match */
		goto out;
	}
	if ((rc = match(b, t, hdr, &bt, bhdr)) || !b->n)
		goto out;
	*out = b;
	b = NULL;
out:
	if (rc == -ENOENT || rc == MFS_EFORMAT)
		rc = 0; /* the base is no model file: store plainly */
	mfs_tensors_release(&bt);
	free(bhdr);
	mfs_delta_base_free(b);
	return rc;
}

void mfs_delta_base_free(struct mfs_delta_base *b)
{
	if (!b)
		return;
	mfs_manifest_unref(b->m);
	pthread_mutex_destroy(&b->mu);
	free(b->v);
	free(b->used);
	free(b);
}

const struct mfs_hash *mfs_delta_base_used(const struct mfs_delta_base *b, size_t *n)
{
	*n = b ? b->nused : 0;
	return b ? b->used : NULL;
}

/* ---- encode --------------------------------------------------------------------- */

/* The refs a chunk's encode builds. */
struct refs {
	struct mfs_delta_ref v[MFS_DELTA_MAX_REFS];
	uint32_t n;
	size_t covered;
};

/* Adds a piece, merged into the last ref when both ranges continue it. */
static int add_ref(struct refs *r, const struct mfs_hash *h, uint32_t base_off, uint32_t dst_off,
		   uint32_t len)
{
	struct mfs_delta_ref *last = r->n ? &r->v[r->n - 1] : NULL;

	r->covered += len;
	if (last && !memcmp(last->base.b, h->b, MFS_HASH_LEN) &&
	    last->dst_off + last->len == dst_off && last->base_off + last->len == base_off) {
		last->len += len;
		return 0;
	}
	if (r->n == MFS_DELTA_MAX_REFS)
		return -E2BIG;
	r->v[r->n++] = (struct mfs_delta_ref){ *h, base_off, dst_off, len };
	return 0;
}

/* Whether base chunk h may be a base: stored, and not a delta itself (depth 1). */
static int usable_base(struct mfs_db *db, const struct mfs_hash *h)
{
	struct mfs_chunk_summary s;

	return !mfs_chunk_summary_get(db, h, &s) && s.codec != MFS_CODEC_DELTA;
}

/* The base file's bytes [bf, bf + n) as refs at dst_off of the chunk. */
static int map_range(const struct mfs_delta_base *b, struct refs *r, uint64_t bf, uint32_t dst_off,
		     uint64_t n)
{
	const struct mfs_manifest *m = b->m;

	if (bf + n > m->size)
		return 0;
	for (uint32_t i = mfs_manifest_find(m, bf); n; i++) {
		uint64_t in = bf - m->off[i], take = m->off[i + 1] - bf;
		int rc;

		if (take > n)
			take = n;
		/* A hole has no chunk to name: the delta stores those zeros itself. */
		if (!mfs_manifest_is_hole(&m->e[i]) && usable_base(b->db, &m->e[i].hash) &&
		    (rc = add_ref(r, &m->e[i].hash, (uint32_t)in, dst_off, (uint32_t)take)))
			return rc;
		bf += take;
		dst_off += take;
		n -= take;
	}
	return 0;
}

/* The refs of the chunk at file range [off, off + len). */
static int build_refs(const struct mfs_delta_base *b, struct refs *r, uint64_t off, size_t len)
{
	uint32_t lo = 0, hi = b->n;

	while (lo < hi) { /* the first tensor that ends after off */
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->v[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t i = lo; i < b->n && b->v[i].start < off + len; i++) {
		uint64_t a = b->v[i].start > off ? b->v[i].start : off;
		uint64_t e = b->v[i].end < off + len ? b->v[i].end : off + len;
		int rc = map_range(b, r, b->v[i].base_start + (a - b->v[i].start),
				   (uint32_t)(a - off), e - a);

		if (rc)
			return rc;
	}
	return 0;
}

static void note_used(struct mfs_delta_base *b, const struct refs *r)
{
	pthread_mutex_lock(&b->mu);
	for (uint32_t i = 0; i < r->n; i++) {
		if (b->nused && !memcmp(b->used[b->nused - 1].b, r->v[i].base.b, MFS_HASH_LEN))
			continue;
		if (mfs_grow(&b->used, &b->capused, b->nused, sizeof(*b->used)))
			break; /* the commit's check then misses one: gc still keeps it (gc_marks.c) */
		b->used[b->nused++] = r->v[i].base;
	}
	pthread_mutex_unlock(&b->mu);
}

ssize_t mfs_delta_encode(struct mfs_delta_base *b, struct mfs_codec_ctx *ctx, uint64_t off,
			 const uint8_t *raw, size_t len, size_t plain_len, uint8_t *out, size_t cap)
{
	struct scratch *s = scratch_get_enc();
	struct refs *r = NULL;
	size_t head, total;
	unsigned sparse;
	ssize_t inner;
	uint8_t *p;
	int rc = 0;

	if (!s || !(r = calloc(1, sizeof(*r))))
		goto nomem;
	if ((rc = build_refs(b, r, off, len)) || r->covered < len / 2)
		goto plain; /* -E2BIG: too scattered to pay */
	memcpy(s->x, raw, len);
	if ((rc = apply_bases(b->db, ctx, r->v, r->n, 0, len, s->x, s->y)))
		goto plain; /* a base went bad or away: the plain record is right anyway */
	head = MFS_CHUNK_HDR_SIZE + MFS_DELTA_HEAD + (size_t)r->n * MFS_DELTA_REF_SIZE;
	if (head >= plain_len)
		goto plain;
	p = s->y;
	mfs_codec_set_xor(ctx, 1); /* coded for decode speed too (codec_split.c note 1) */
	inner = mfs_chunk_encode(ctx, s->x, len, p + head, mfs_chunk_record_bound(MFS_CHUNK_MAX) - head,
				 -1);
	sparse = mfs_codec_sparse_pieces(ctx);
	mfs_codec_set_xor(ctx, 0);
	if (inner < 0) {
		rc = (int)inner;
		goto plain;
	}
	total = head + (size_t)inner;
	if (total > plain_len - plain_len / 8 || total > cap)
		goto plain;
	p[MFS_CHUNK_HDR_SIZE] = sparse ? MFS_DELTA_VERSION_SPARSE : MFS_DELTA_VERSION;
	p[MFS_CHUNK_HDR_SIZE + 1] = 0;
	put_le16(p + MFS_CHUNK_HDR_SIZE + 2, (uint16_t)r->n);
	put_le64(p + MFS_CHUNK_HDR_SIZE + 4, mfs_xxh64(raw, len, 0));
	for (uint32_t i = 0; i < r->n; i++) {
		uint8_t *e = p + MFS_CHUNK_HDR_SIZE + MFS_DELTA_HEAD + (size_t)i * MFS_DELTA_REF_SIZE;

		memcpy(e, r->v[i].base.b, MFS_HASH_LEN);
		put_le32(e + 32, r->v[i].base_off);
		put_le32(e + 36, r->v[i].dst_off);
		put_le32(e + 40, r->v[i].len);
	}
	mfs_chunk_seal(p, MFS_CODEC_DELTA, len, total - MFS_CHUNK_HDR_SIZE);
	memcpy(out, p, total);
	note_used(b, r);
	free(r);
	return (ssize_t)total;
plain:
	if (rc && rc != -E2BIG && rc != -ENOBUFS)
		log_debug("chunk at %llu stored plainly: %s", (unsigned long long)off, mfs_strerror(rc));
	free(r);
	return rc == -ENOMEM ? rc : 0;
nomem:
	free(r);
	return -ENOMEM;
}

/* ---- liveness ----------------------------------------------------------------------- */

/* The refs of stored delta record h: 0, or an error (MFS_ECORRUPT: they do not parse). */
static int stored_refs(struct mfs_db *db, const struct mfs_hash *h, struct mfs_delta_ref **v,
		       uint32_t *n)
{
	struct mfs_val rec;
	int rc = mfs_chunk_record_get(db, h, &rec);

	if (rc)
		return rc;
	rc = mfs_delta_refs(rec.p, rec.len, v, n);
	mfs_val_release(&rec);
	return rc;
}

int mfs_delta_bases(const void *rec, size_t reclen, struct mfs_hash **bases, uint32_t *n)
{
	struct mfs_delta_ref *v;
	struct mfs_hash *out;
	uint32_t nrefs, k = 0;
	int rc = mfs_delta_refs(rec, reclen, &v, &nrefs);

	*bases = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (!(out = malloc(nrefs * sizeof(*out)))) {
		free(v);
		return -ENOMEM;
	}
	/* Refs are sorted by dst_off: a base may come back after another (a few refs: quadratic is fine). */
	for (uint32_t i = 0; i < nrefs; i++) {
		uint32_t j = 0;

		while (j < k && memcmp(out[j].b, v[i].base.b, MFS_HASH_LEN))
			j++;
		if (j == k)
			out[k++] = v[i].base;
	}
	free(v);
	*bases = out;
	*n = k;
	return 0;
}

/*
 * Adds the bases of delta chunk k (index value val[0..vl)) to add: from
 * the index (a version 3 entry), else from its record (written before
 * version 3).  0, -ENOMEM, or MFS_ECORRUPT / a read error (logged).
 */
static int add_bases(struct mfs_db *db, const uint8_t *k, const uint8_t *val, size_t vl,
		     struct mfs_hash **add, size_t *nadd, size_t *cap)
{
	struct mfs_delta_ref *v = NULL;
	const uint8_t *listed;
	struct mfs_hash h;
	uint32_t n;
	int rc = mfs_chunk_index_bases(val, vl, &listed, &n);

	memcpy(h.b, k, MFS_HASH_LEN);
	if (rc == -ENOENT)
		rc = stored_refs(db, &h, &v, &n);
	if (rc) {
		char hex[MFS_HASH_HEX_LEN + 1];

		mfs_hash_to_hex(&h, hex);
		log_warn("delta chunk %s: refs unreadable (%s), its bases unknown", hex,
			 mfs_strerror(rc));
		return rc == -ENOMEM ? rc : 0;
	}
	for (uint32_t i = 0; i < n && !rc; i++) {
		if ((rc = mfs_grow(add, cap, *nadd, sizeof(**add))))
			break;
		if (v)
			(*add)[(*nadd)++] = v[i].base;
		else
			memcpy((*add)[(*nadd)++].b, listed + (size_t)i * MFS_HASH_LEN, MFS_HASH_LEN);
	}
	free(v);
	return rc;
}

int mfs_delta_keep_bases(struct mfs_db *db, const struct mfs_hashset *live,
			 struct mfs_hashset *out)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	struct mfs_hash *add = NULL;
	size_t nadd = 0, cap = 0;
	int rc = it ? 0 : -ENOMEM;

	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *val = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;

		if (kl != MFS_HASH_LEN || mfs_chunk_summary_decode(val, vl, &s) ||
		    s.codec != MFS_CODEC_DELTA || (live && !mfs_hashset_has(live, k)))
			continue;
		rc = add_bases(db, k, val, vl, &add, &nadd, &cap);
	}
	if (!rc && it)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	for (size_t i = 0; i < nadd && !rc; i++)
		rc = mfs_hashset_add(out, &add[i]);
	free(add);
	if (!rc)
		mfs_hashset_finish(out);
	return rc;
}

int mfs_delta_usable(struct mfs_db *db, const struct mfs_hash *h)
{
	struct mfs_chunk_summary s;
	struct mfs_delta_ref *v;
	uint32_t n;
	int rc = mfs_chunk_summary_get(db, h, &s);

	if (rc == -ENOENT)
		return mfs_chunk_exists(db, h); /* a record not indexed yet (staged) */
	if (rc)
		return rc;
	if (s.codec != MFS_CODEC_DELTA)
		return 1;
	if ((rc = stored_refs(db, h, &v, &n)))
		return rc == -ENOMEM ? rc : 0;
	rc = 1;
	for (uint32_t i = 0; i < n && rc == 1; i++)
		if (i == 0 || memcmp(v[i].base.b, v[i - 1].base.b, MFS_HASH_LEN))
			rc = usable_base(db, &v[i].base);
	free(v);
	return rc;
}

/*
 * Whether h's index entry, if it lists bases (version 3), lists exactly
 * the distinct bases of its record rec: gc trusts the list, so a list that
 * lacks one would let gc delete a base the record needs.  0 or MFS_ECORRUPT.
 */
static int index_lists_bases(struct mfs_db *db, const struct mfs_hash *h, const void *rec,
			     size_t reclen)
{
	const uint8_t *listed;
	struct mfs_hash *bases = NULL;
	struct mfs_val val;
	uint32_t nl, nb;
	int rc = mfs_db_get(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, &val, 1);

	if (rc)
		return rc;
	rc = mfs_chunk_index_bases(val.p, val.len, &listed, &nl);
	if (rc == -ENOENT) {
		rc = 0; /* indexed before version 3: gc reads the record */
	} else if (!rc && !(rc = mfs_delta_bases(rec, reclen, &bases, &nb))) {
		if (nl != nb)
			rc = MFS_ECORRUPT;
		for (uint32_t i = 0; i < nb && !rc; i++)
			if (memcmp(listed + (size_t)i * MFS_HASH_LEN, bases[i].b, MFS_HASH_LEN))
				rc = MFS_ECORRUPT;
		if (rc) {
			char hex[MFS_HASH_HEX_LEN + 1];

			mfs_hash_to_hex(h, hex);
			log_error("delta chunk %s: its index entry lists other bases than its record",
				  hex);
		}
	}
	free(bases);
	mfs_val_release(&val);
	return rc;
}

int mfs_delta_check_bases(struct mfs_db *db, const struct mfs_hash *h, const void *rec,
			  size_t reclen)
{
	struct mfs_delta_ref *v;
	uint32_t n;
	int rc = index_lists_bases(db, h, rec, reclen);

	if (rc)
		return rc;
	rc = mfs_delta_refs(rec, reclen, &v, &n);

	for (uint32_t i = 0; i < n && !rc; i++) {
		struct mfs_chunk_summary s;
		struct mfs_chunk_info info;
		struct mfs_val b;

		if (i && !memcmp(v[i].base.b, v[i - 1].base.b, MFS_HASH_LEN))
			continue;
		if (!(rc = mfs_chunk_summary_get(db, &v[i].base, &s)) && s.codec == MFS_CODEC_DELTA)
			rc = MFS_ECORRUPT;
		if (!rc && !(rc = mfs_chunk_record_get(db, &v[i].base, &b))) {
			rc = mfs_chunk_verify(b.p, b.len, &info);
			if (!rc && (info.codec == MFS_CODEC_DELTA ||
				    info.raw_len < v[i].base_off + v[i].len))
				rc = MFS_ECORRUPT;
			mfs_val_release(&b);
		}
		if (rc) {
			char hex[MFS_HASH_HEX_LEN + 1];

			mfs_hash_to_hex(&v[i].base, hex);
			log_error("base chunk %s of a delta: %s", hex,
				  rc == -ENOENT ? "missing" : mfs_strerror(rc));
		}
	}
	free(v);
	return rc;
}
