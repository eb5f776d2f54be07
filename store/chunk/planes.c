/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte-plane split and join (store/chunk/planes.h) for the plane codecs; the
 * join runs on every read of a plane-coded chunk, so it is vectorised.
 */
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_JOIN 1
#endif

#include "planes.h"

/* ---- byte planes ---------------------------------------------------------
 *
 * Plane k holds byte k of every w-byte word, planes one after another; the
 * len % w trailing bytes follow the last plane unchanged.  The SSE2 loops do
 * 16 words at a time (GCC does not vectorise the strided loads at -O2 and
 * the scalar loop runs at ~2 GB/s, a fifth of zstd's decode time); the
 * scalar loops finish the rest and are the whole path elsewhere.
 */

static void split2(const uint8_t *restrict in, size_t m, uint8_t *restrict out)
{
	uint8_t *p0 = out, *p1 = out + m;
	size_t i = 0;

#ifdef __SSE2__
	const __m128i lo = _mm_set1_epi16(0xff);

	for (; i + 16 <= m; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(in + 2 * i));
		__m128i b = _mm_loadu_si128((const __m128i *)(in + 2 * i + 16));

		_mm_storeu_si128((__m128i *)(p0 + i),
				 _mm_packus_epi16(_mm_and_si128(a, lo), _mm_and_si128(b, lo)));
		_mm_storeu_si128((__m128i *)(p1 + i),
				 _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
	}
#endif
	for (; i < m; i++) {
		p0[i] = in[2 * i];
		p1[i] = in[2 * i + 1];
	}
}

#ifdef __SSE2__
/* Byte `shift / 8` of each of the 16 dwords in v[0..4), as 16 bytes. */
static inline __m128i plane4(const __m128i v[4], int shift)
{
	const __m128i lo = _mm_set1_epi32(0xff);
	__m128i a = _mm_and_si128(_mm_srli_epi32(v[0], shift), lo);
	__m128i b = _mm_and_si128(_mm_srli_epi32(v[1], shift), lo);
	__m128i c = _mm_and_si128(_mm_srli_epi32(v[2], shift), lo);
	__m128i d = _mm_and_si128(_mm_srli_epi32(v[3], shift), lo);

	/* Values are < 256, so the signed 32->16 pack cannot saturate. */
	return _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d));
}
#endif

static void split4(const uint8_t *restrict in, size_t m, uint8_t *restrict out)
{
	uint8_t *p0 = out, *p1 = out + m, *p2 = out + 2 * m, *p3 = out + 3 * m;
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 16 <= m; i += 16) {
		__m128i v[4];

		for (int k = 0; k < 4; k++)
			v[k] = _mm_loadu_si128((const __m128i *)(in + 4 * i + 16 * k));
		_mm_storeu_si128((__m128i *)(p0 + i), plane4(v, 0));
		_mm_storeu_si128((__m128i *)(p1 + i), plane4(v, 8));
		_mm_storeu_si128((__m128i *)(p2 + i), plane4(v, 16));
		_mm_storeu_si128((__m128i *)(p3 + i), plane4(v, 24));
	}
#endif
	for (; i < m; i++) {
		p0[i] = in[4 * i];
		p1[i] = in[4 * i + 1];
		p2[i] = in[4 * i + 2];
		p3[i] = in[4 * i + 3];
	}
}

static void join2(const uint8_t *restrict p0, const uint8_t *restrict p1, size_t m,
		  uint8_t *restrict out)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 16 <= m; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(p0 + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(p1 + i));

		_mm_storeu_si128((__m128i *)(out + 2 * i), _mm_unpacklo_epi8(a, b));
		_mm_storeu_si128((__m128i *)(out + 2 * i + 16), _mm_unpackhi_epi8(a, b));
	}
#endif
	for (; i < m; i++) {
		out[2 * i] = p0[i];
		out[2 * i + 1] = p1[i];
	}
}

static void join4(const uint8_t *restrict p0, const uint8_t *restrict p1,
		  const uint8_t *restrict p2, const uint8_t *restrict p3, size_t m,
		  uint8_t *restrict out)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 16 <= m; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(p0 + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(p1 + i));
		__m128i c = _mm_loadu_si128((const __m128i *)(p2 + i));
		__m128i d = _mm_loadu_si128((const __m128i *)(p3 + i));
		/* ab = a0 b0 a1 b1 ..., cd = c0 d0 c1 d1 ...; then pair the 16-bit halves. */
		__m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
		__m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
		uint8_t *o = out + 4 * i;

		_mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi16(ab_lo, cd_lo));
		_mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
		_mm_storeu_si128((__m128i *)(o + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
		_mm_storeu_si128((__m128i *)(o + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
	}
#endif
	for (; i < m; i++) {
		out[4 * i] = p0[i];
		out[4 * i + 1] = p1[i];
		out[4 * i + 2] = p2[i];
		out[4 * i + 3] = p3[i];
	}
}

#ifdef HAVE_AVX2_JOIN
/*
 * The joins again with AVX2, 32 words a step, picked at run time (the build
 * targets plain x86-64).  The join is on every read of a split record: in a
 * peer read of FP16 weights the SSE2 join2 was 0.15 of ~2 reader
 * CPU-s/GiB (issue 10); alone, over 1 MiB chunks from L2, 10.7-13.5 GB/s
 * with SSE2, 17-18 GB/s with AVX2.  The unpacks work within each 128-bit
 * lane, so the lanes' halves are put in order with one permute per store.
 */
/*
 * A 32-byte store, or with nt a streaming one (to memory, not through the
 * cache: mfs_planes_gather_nt); out must then be 32-byte aligned.
 */
__attribute__((target("avx2"), always_inline))
static inline void store256(uint8_t *p, __m256i v, const int nt)
{
	if (nt)
		_mm256_stream_si256((__m256i *)p, v);
	else
		_mm256_storeu_si256((__m256i *)p, v);
}

__attribute__((target("avx2"), always_inline))
static inline void join2_avx2_to(const uint8_t *restrict p0, const uint8_t *restrict p1,
				 size_t m, uint8_t *restrict out, const int nt)
{
	size_t i = 0;

	for (; i + 32 <= m; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p0 + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(p1 + i));
		/* lo: words 0-7 | 16-23, hi: words 8-15 | 24-31 */
		__m256i lo = _mm256_unpacklo_epi8(a, b), hi = _mm256_unpackhi_epi8(a, b);

		store256(out + 2 * i, _mm256_permute2x128_si256(lo, hi, 0x20), nt);
		store256(out + 2 * i + 32, _mm256_permute2x128_si256(lo, hi, 0x31), nt);
	}
	for (; i < m; i++) {
		out[2 * i] = p0[i];
		out[2 * i + 1] = p1[i];
	}
}

__attribute__((target("avx2")))
static void join2_avx2(const uint8_t *restrict p0, const uint8_t *restrict p1, size_t m,
		       uint8_t *restrict out)
{
	join2_avx2_to(p0, p1, m, out, 0);
}

__attribute__((target("avx2")))
static void join2_avx2_nt(const uint8_t *restrict p0, const uint8_t *restrict p1, size_t m,
			  uint8_t *restrict out)
{
	join2_avx2_to(p0, p1, m, out, 1);
}

__attribute__((target("avx2"), always_inline))
static inline void join4_avx2_to(const uint8_t *restrict p0, const uint8_t *restrict p1,
				 const uint8_t *restrict p2, const uint8_t *restrict p3, size_t m,
				 uint8_t *restrict out, const int nt)
{
	size_t i = 0;

	for (; i + 32 <= m; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p0 + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(p1 + i));
		__m256i c = _mm256_loadu_si256((const __m256i *)(p2 + i));
		__m256i d = _mm256_loadu_si256((const __m256i *)(p3 + i));
		__m256i ab_lo = _mm256_unpacklo_epi8(a, b), ab_hi = _mm256_unpackhi_epi8(a, b);
		__m256i cd_lo = _mm256_unpacklo_epi8(c, d), cd_hi = _mm256_unpackhi_epi8(c, d);
		/* w0: words 0-3 | 16-19, w1: 4-7 | 20-23, w2: 8-11 | 24-27, w3: 12-15 | 28-31 */
		__m256i w0 = _mm256_unpacklo_epi16(ab_lo, cd_lo), w1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
		__m256i w2 = _mm256_unpacklo_epi16(ab_hi, cd_hi), w3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);
		uint8_t *o = out + 4 * i;

		store256(o, _mm256_permute2x128_si256(w0, w1, 0x20), nt);
		store256(o + 32, _mm256_permute2x128_si256(w2, w3, 0x20), nt);
		store256(o + 64, _mm256_permute2x128_si256(w0, w1, 0x31), nt);
		store256(o + 96, _mm256_permute2x128_si256(w2, w3, 0x31), nt);
	}
	for (; i < m; i++) {
		out[4 * i] = p0[i];
		out[4 * i + 1] = p1[i];
		out[4 * i + 2] = p2[i];
		out[4 * i + 3] = p3[i];
	}
}

__attribute__((target("avx2")))
static void join4_avx2(const uint8_t *restrict p0, const uint8_t *restrict p1,
		       const uint8_t *restrict p2, const uint8_t *restrict p3, size_t m,
		       uint8_t *restrict out)
{
	join4_avx2_to(p0, p1, p2, p3, m, out, 0);
}

__attribute__((target("avx2")))
static void join4_avx2_nt(const uint8_t *restrict p0, const uint8_t *restrict p1,
			  const uint8_t *restrict p2, const uint8_t *restrict p3, size_t m,
			  uint8_t *restrict out)
{
	join4_avx2_to(p0, p1, p2, p3, m, out, 1);
}

/*
 * Whether the AVX2 joins run here; MODELFS_TEST_NO_AVX2 set turns them off
 * (the unit test checks both paths, a bench compares them on one binary).
 */
static int use_avx2(void)
{
	static int on = -1; /* racing first calls store the same value */
	int v = __atomic_load_n(&on, __ATOMIC_RELAXED);

	if (v < 0) {
		v = __builtin_cpu_supports("avx2") && !getenv("MODELFS_TEST_NO_AVX2");
		__atomic_store_n(&on, v, __ATOMIC_RELAXED);
	}
	return v;
}
#endif

void mfs_planes_split(const uint8_t *in, size_t len, uint8_t *out, unsigned w)
{
	size_t m = len / w;

	if (w == 2)
		split2(in, m, out);
	else
		split4(in, m, out);
	memcpy(out + m * w, in + m * w, len - m * w);
}

void mfs_planes_gather(const uint8_t *const plane[], size_t m, uint8_t *out, unsigned w)
{
#ifdef HAVE_AVX2_JOIN
	if (use_avx2()) {
		if (w == 2)
			join2_avx2(plane[0], plane[1], m, out);
		else
			join4_avx2(plane[0], plane[1], plane[2], plane[3], m, out);
		return;
	}
#endif
	if (w == 2)
		join2(plane[0], plane[1], m, out);
	else
		join4(plane[0], plane[1], plane[2], plane[3], m, out);
}

void mfs_planes_gather_nt(const uint8_t *const plane[], size_t m, uint8_t *out, unsigned w)
{
#ifdef HAVE_AVX2_JOIN
	if (use_avx2() && !((uintptr_t)out & 31)) {
		if (w == 2)
			join2_avx2_nt(plane[0], plane[1], m, out);
		else
			join4_avx2_nt(plane[0], plane[1], plane[2], plane[3], m, out);
		/* Streaming stores are weakly ordered: before anyone is told the bytes are there. */
		_mm_sfence();
		return;
	}
#endif
	mfs_planes_gather(plane, m, out, w);
}

void mfs_planes_join(const uint8_t *in, size_t len, uint8_t *out, unsigned w)
{
	size_t m = len / w;
	const uint8_t *plane[4] = { in, in + m, in + 2 * m, in + 3 * m };

	mfs_planes_gather(plane, m, out, w);
	memcpy(out + m * w, in + m * w, len - m * w);
}

/*
 * The fused XOR and join of delta reads (delta.c): word i of out is
 * a[k][i] ^ b[k][i] for each byte k, the two records' planes XORed as
 * they are joined, in the one pass over the output a plain join costs.
 */
static void join2_xor(const uint8_t *const a[], const uint8_t *const b[], size_t m,
		      uint8_t *restrict out)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 16 <= m; i += 16) {
		__m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a[0] + i)),
					  _mm_loadu_si128((const __m128i *)(b[0] + i)));
		__m128i y = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a[1] + i)),
					  _mm_loadu_si128((const __m128i *)(b[1] + i)));

		_mm_storeu_si128((__m128i *)(out + 2 * i), _mm_unpacklo_epi8(x, y));
		_mm_storeu_si128((__m128i *)(out + 2 * i + 16), _mm_unpackhi_epi8(x, y));
	}
#endif
	for (; i < m; i++) {
		out[2 * i] = a[0][i] ^ b[0][i];
		out[2 * i + 1] = a[1][i] ^ b[1][i];
	}
}

static void join4_xor(const uint8_t *const a[], const uint8_t *const b[], size_t m,
		      uint8_t *restrict out)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 16 <= m; i += 16) {
		__m128i p[4];
		uint8_t *o = out + 4 * i;

		for (int k = 0; k < 4; k++)
			p[k] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a[k] + i)),
					     _mm_loadu_si128((const __m128i *)(b[k] + i)));
		__m128i ab_lo = _mm_unpacklo_epi8(p[0], p[1]), ab_hi = _mm_unpackhi_epi8(p[0], p[1]);
		__m128i cd_lo = _mm_unpacklo_epi8(p[2], p[3]), cd_hi = _mm_unpackhi_epi8(p[2], p[3]);

		_mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi16(ab_lo, cd_lo));
		_mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
		_mm_storeu_si128((__m128i *)(o + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
		_mm_storeu_si128((__m128i *)(o + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
	}
#endif
	for (; i < m; i++)
		for (int k = 0; k < 4; k++)
			out[4 * i + k] = a[k][i] ^ b[k][i];
}

#ifdef HAVE_AVX2_JOIN
/*
 * The XOR joins with AVX2, as join2_avx2 and join4_avx2 with the planes
 * XORed first.  They run only in delta reads, so every cycle here is on
 * top of a plain read's (issue 13 asks a fine-tune's cold read within
 * 1.5x a plain file's CPU): 32 words a step instead of 16.
 */
__attribute__((target("avx2")))
static void join2_xor_avx2(const uint8_t *const a[], const uint8_t *const b[], size_t m,
			   uint8_t *restrict out)
{
	size_t i = 0;

	for (; i + 32 <= m; i += 32) {
		__m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a[0] + i)),
					     _mm256_loadu_si256((const __m256i *)(b[0] + i)));
		__m256i y = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a[1] + i)),
					     _mm256_loadu_si256((const __m256i *)(b[1] + i)));
		__m256i lo = _mm256_unpacklo_epi8(x, y), hi = _mm256_unpackhi_epi8(x, y);

		_mm256_storeu_si256((__m256i *)(out + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
		_mm256_storeu_si256((__m256i *)(out + 2 * i + 32),
				    _mm256_permute2x128_si256(lo, hi, 0x31));
	}
	for (; i < m; i++) {
		out[2 * i] = a[0][i] ^ b[0][i];
		out[2 * i + 1] = a[1][i] ^ b[1][i];
	}
}

__attribute__((target("avx2")))
static void join4_xor_avx2(const uint8_t *const a[], const uint8_t *const b[], size_t m,
			   uint8_t *restrict out)
{
	size_t i = 0;

	for (; i + 32 <= m; i += 32) {
		__m256i p[4];
		uint8_t *o = out + 4 * i;

		for (int k = 0; k < 4; k++)
			p[k] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a[k] + i)),
						_mm256_loadu_si256((const __m256i *)(b[k] + i)));
		__m256i ab_lo = _mm256_unpacklo_epi8(p[0], p[1]), ab_hi = _mm256_unpackhi_epi8(p[0], p[1]);
		__m256i cd_lo = _mm256_unpacklo_epi8(p[2], p[3]), cd_hi = _mm256_unpackhi_epi8(p[2], p[3]);
		__m256i w0 = _mm256_unpacklo_epi16(ab_lo, cd_lo), w1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
		__m256i w2 = _mm256_unpacklo_epi16(ab_hi, cd_hi), w3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);

		_mm256_storeu_si256((__m256i *)o, _mm256_permute2x128_si256(w0, w1, 0x20));
		_mm256_storeu_si256((__m256i *)(o + 32), _mm256_permute2x128_si256(w2, w3, 0x20));
		_mm256_storeu_si256((__m256i *)(o + 64), _mm256_permute2x128_si256(w0, w1, 0x31));
		_mm256_storeu_si256((__m256i *)(o + 96), _mm256_permute2x128_si256(w2, w3, 0x31));
	}
	for (; i < m; i++)
		for (int k = 0; k < 4; k++)
			out[4 * i + k] = a[k][i] ^ b[k][i];
}
#endif

void mfs_planes_gather_xor(const uint8_t *const a[], const uint8_t *const b[], size_t m,
			   uint8_t *out, unsigned w)
{
#ifdef HAVE_AVX2_JOIN
	if (use_avx2()) {
		if (w == 2)
			join2_xor_avx2(a, b, m, out);
		else
			join4_xor_avx2(a, b, m, out);
		return;
	}
#endif
	if (w == 2)
		join2_xor(a, b, m, out);
	else
		join4_xor(a, b, m, out);
}
