/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 of two messages at once, with the CPU's SHA extensions (SHA-NI):
 * mfs_sha256_pair (hash.h).
 *
 * Why: every new chunk of a commit is hashed, and SHA-256 was the largest
 * part of a cp's CPU (0.84-0.89 of 3.3-3.8 daemon CPU-s/GiB, issue 10).
 * libcrypto's SHA-NI code hashes one message, and each block's 32
 * sha256rnds2 steps wait on each other; two messages' blocks interleaved
 * fill those waits: 1 MiB chunks here took 0.72-0.73 CPU-s/GiB against
 * libcrypto's 0.89-0.93 (same run).  Only two: every lane needs 8 xmm
 * registers, and the SHA instructions have no encoding for xmm16-31.
 *
 * The block function is FIPS 180-4's, as Intel's SHA extensions paper
 * lays out (state kept as ABEF/CDGH, four rounds per message word group);
 * the padding and the digest's byte order are the standard's.
 * tests/unit/test_hash.c compares it with libcrypto on every length to
 * 300 bytes, random lengths and alignments to 5 MiB, and pairs of
 * different lengths.  Without SHA-NI (or with MODELFS_TEST_NO_SHA_NI, test
 * only) the pair is hashed by mfs_sha256, one after the other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K256[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* A lane's state: ABEF and CDGH, as sha256rnds2 takes them. */
struct lane {
	__m128i abef, cdgh;
};

/*
 * Rounds 4g .. 4g + 3.  m[g % 4] holds W[4g .. 4g + 3]; the schedule of
 * the words 16 ahead is advanced on the way: msg1 for groups 1-12, msg2
 * (which needs the msg1 of 3 groups before) for groups 3-14.
 */
TARGET __attribute__((always_inline)) static inline void rounds4(struct lane *l, __m128i m[4], int g)
{
	__m128i cur = m[g & 3], k = _mm_add_epi32(cur, _mm_load_si128((const __m128i *)&K256[4 * g]));

	l->cdgh = _mm_sha256rnds2_epu32(l->cdgh, l->abef, k);
	if (g >= 3 && g <= 14) {
		__m128i t = _mm_alignr_epi8(cur, m[(g + 3) & 3], 4);

		m[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(m[(g + 1) & 3], t), cur);
	}
	k = _mm_shuffle_epi32(k, 0x0E);
	l->abef = _mm_sha256rnds2_epu32(l->abef, l->cdgh, k);
	if (g >= 1 && g <= 12)
		m[(g + 3) & 3] = _mm_sha256msg1_epu32(m[(g + 3) & 3], cur);
}

/* Four big-endian message words. */
TARGET __attribute__((always_inline)) static inline __m128i load_be(const uint8_t *p)
{
	return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p),
				_mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL));
}

TARGET static void sha256_blocks1(struct lane *l, const uint8_t *p, size_t nb)
{
	for (; nb; nb--, p += 64) {
		struct lane was = *l;
		__m128i m[4];

#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			if (g < 4)
				m[g] = load_be(p + 16 * g);
			rounds4(l, m, g);
		}
		l->abef = _mm_add_epi32(l->abef, was.abef);
		l->cdgh = _mm_add_epi32(l->cdgh, was.cdgh);
	}
}

/* nb blocks of each message, the two lanes' rounds interleaved. */
TARGET static void sha256_blocks2(struct lane *a, const uint8_t *p, struct lane *b, const uint8_t *q,
			   size_t nb)
{
	for (; nb; nb--, p += 64, q += 64) {
		struct lane wa = *a, wb = *b;
		__m128i m[4], n[4];

#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			if (g < 4) {
				m[g] = load_be(p + 16 * g);
				n[g] = load_be(q + 16 * g);
			}
			rounds4(a, m, g);
			rounds4(b, n, g);
		}
		a->abef = _mm_add_epi32(a->abef, wa.abef);
		a->cdgh = _mm_add_epi32(a->cdgh, wa.cdgh);
		b->abef = _mm_add_epi32(b->abef, wb.abef);
		b->cdgh = _mm_add_epi32(b->cdgh, wb.cdgh);
	}
}

TARGET static void sha256_lane_init(struct lane *l)
{
	__m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)H0), 0xB1);
	__m128i u = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(H0 + 4)), 0x1B);

	l->abef = _mm_alignr_epi8(t, u, 8);
	l->cdgh = _mm_blend_epi16(u, t, 0xF0);
}

/* A lane (ABEF/CDGH) from a state in the standard's order. */
TARGET static void lane_from(struct lane *l, const uint32_t s[8])
{
	__m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)s), 0xB1);
	__m128i u = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(s + 4)), 0x1B);

	l->abef = _mm_alignr_epi8(t, u, 8);
	l->cdgh = _mm_blend_epi16(u, t, 0xF0);
}

/* The digest of a lane whose every block (padding too) is in. */
TARGET static void lane_digest(const struct lane *l, struct mfs_hash *out)
{
	uint32_t st[8];
	__m128i t, u;

	t = _mm_shuffle_epi32(l->abef, 0x1B);
	u = _mm_shuffle_epi32(l->cdgh, 0xB1);
	_mm_storeu_si128((__m128i *)st, _mm_blend_epi16(t, u, 0xF0));
	_mm_storeu_si128((__m128i *)(st + 4), _mm_alignr_epi8(u, t, 8));
	for (int i = 0; i < 8; i++) {
		out->b[4 * i] = (uint8_t)(st[i] >> 24);
		out->b[4 * i + 1] = (uint8_t)(st[i] >> 16);
		out->b[4 * i + 2] = (uint8_t)(st[i] >> 8);
		out->b[4 * i + 3] = (uint8_t)st[i];
	}
}

/* The message's last n < 64 bytes and its padding (one or two blocks) into tail; how many blocks. */
static int pad_tail(uint8_t tail[128], const uint8_t *p, size_t n, uint64_t total)
{
	int nb = n + 9 <= 64 ? 1 : 2;

	memset(tail, 0, 128);
	memcpy(tail, p, n);
	tail[n] = 0x80;
	for (int i = 0; i < 8; i++)
		tail[nb * 64 - 1 - i] = (uint8_t)((total * 8) >> (8 * i));
	return nb;
}

/* The last n < 64 bytes of a message of total bytes, its padding, and the digest. */
TARGET static void sha256_lane_final(struct lane *l, const uint8_t *p, size_t n, uint64_t total,
			      struct mfs_hash *out)
{
	uint8_t tail[128];

	sha256_blocks1(l, tail, (size_t)pad_tail(tail, p, n, total));
	lane_digest(l, out);
}

/* -1: not asked yet; else whether the CPU has SHA-NI (CPUID leaf 7, EBX bit 29). */
static int sha_ni = -1;

static int have_sha_ni(void)
{
	int on = __atomic_load_n(&sha_ni, __ATOMIC_RELAXED);
	unsigned a, b, c, d;

	if (on < 0) {
		on = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
		     __builtin_cpu_supports("sse4.1") && !getenv("MODELFS_TEST_NO_SHA_NI");
		__atomic_store_n(&sha_ni, on, __ATOMIC_RELAXED);
	}
	return on;
}

int mfs_sha256_pair(const void *p, size_t n, struct mfs_hash *a, const void *q, size_t m,
		    struct mfs_hash *b)
{
	size_t both = (n < m ? n : m) / 64;
	struct lane la, lb;
	int rc;

	if (!have_sha_ni()) {
		rc = mfs_sha256(p, n, a);
		return rc ? rc : mfs_sha256(q, m, b);
	}
	sha256_lane_init(&la);
	sha256_lane_init(&lb);
	sha256_blocks2(&la, p, &lb, q, both);
	sha256_blocks1(&la, (const uint8_t *)p + both * 64, n / 64 - both);
	sha256_blocks1(&lb, (const uint8_t *)q + both * 64, m / 64 - both);
	sha256_lane_final(&la, (const uint8_t *)p + n / 64 * 64, n % 64, n, a);
	sha256_lane_final(&lb, (const uint8_t *)q + m / 64 * 64, m % 64, m, b);
	return 0;
}


/*
 * mfs_sha256_many (hash.h): sixteen messages at once in the 32-bit lanes of
 * AVX-512 registers, a lane given the next message as its own ends.  Once
 * fewer than MANY_MIN_LANES messages are left, each is finished by SHA-NI
 * from its lane's state: a vector round costs as much for 1 lane as for 16.
 * Measured here (Zen 5, 1 GiB of a model's chunks, /work/notes/s40):
 * 0.39-0.44 CPU-s/GiB against libcrypto's 0.69-0.80 in a stream; 16 at a
 * time, 0.46-0.68 against 0.70-0.75; 8 at a time, no gain.
 */
#define MANY_LANES 16
#define MANY_MIN_LANES 8
#define AVX512 __attribute__((target("avx512f,avx512bw")))

static int avx512 = -1;

static int have_avx512(void)
{
	int on = __atomic_load_n(&avx512, __ATOMIC_RELAXED);

	if (on < 0) {
		on = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		     !getenv("MODELFS_TEST_NO_AVX512");
		__atomic_store_n(&avx512, on, __ATOMIC_RELAXED);
	}
	return on;
}

/* One block of each lane's message p[l]; st[i] holds word i of every lane's state. */
AVX512 static void blocks16(__m512i st[8], const uint8_t *const p[MANY_LANES])
{
	const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
	__m512i r[16], t[16], w[16];
	__m512i a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];

	/* A 16 x 16 transpose: r[j] gets word j of every lane, lane l in element l. */
	for (int l = 0; l < 16; l++)
		r[l] = _mm512_loadu_si512(p[l]);
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
	}
	for (int i = 0; i < 16; i += 4) {
		r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
		r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
		r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
		r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
	}
	for (int i = 0; i < 4; i++) {
		t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
		t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
		t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
		t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
	}
	for (int i = 0; i < 4; i++) {
		r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
		r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
		r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
	}
	for (int j = 0; j < 16; j++)
		w[j] = _mm512_shuffle_epi8(r[j], bswap);
	for (int i = 0; i < 64; i++) {
		__m512i s0, s1, t1, t2;

		if (i >= 16) {
			__m512i w15 = w[(i - 15) & 15], w2 = w[(i - 2) & 15];

			s0 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(w15, 7), _mm512_ror_epi32(w15, 18),
						       _mm512_srli_epi32(w15, 3), 0x96);
			s1 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(w2, 17), _mm512_ror_epi32(w2, 19),
						       _mm512_srli_epi32(w2, 10), 0x96);
			w[i & 15] = _mm512_add_epi32(_mm512_add_epi32(w[i & 15], s0),
						     _mm512_add_epi32(w[(i - 7) & 15], s1));
		}
		s1 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11),
					       _mm512_ror_epi32(e, 25), 0x96);
		t1 = _mm512_add_epi32(_mm512_add_epi32(h, s1),
				      _mm512_add_epi32(_mm512_ternarylogic_epi32(e, f, g, 0xca),
						       _mm512_add_epi32(w[i & 15],
									_mm512_set1_epi32((int)K256[i]))));
		s0 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13),
					       _mm512_ror_epi32(a, 22), 0x96);
		t2 = _mm512_add_epi32(s0, _mm512_ternarylogic_epi32(a, b, c, 0xe8));
		h = g;
		g = f;
		f = e;
		e = _mm512_add_epi32(d, t1);
		d = c;
		c = b;
		b = a;
		a = _mm512_add_epi32(t1, t2);
	}
	st[0] = _mm512_add_epi32(st[0], a);
	st[1] = _mm512_add_epi32(st[1], b);
	st[2] = _mm512_add_epi32(st[2], c);
	st[3] = _mm512_add_epi32(st[3], d);
	st[4] = _mm512_add_epi32(st[4], e);
	st[5] = _mm512_add_epi32(st[5], f);
	st[6] = _mm512_add_epi32(st[6], g);
	st[7] = _mm512_add_epi32(st[7], h);
}

struct vlane {
	int job;                /* the message's index; -1: idle */
	const uint8_t *p;       /* its next block: in the message, then in tail */
	size_t left;            /* its blocks left, padding included */
	size_t whole;           /* of them, in the message itself */
	uint8_t tail[128];      /* its last bytes and padding */
};

AVX512 static void sha256_many16(const uint8_t *const *p, const size_t *n, int count,
				 struct mfs_hash *out)
{
	static const uint8_t idle[64];
	struct vlane v[MANY_LANES];
	uint32_t s[8][MANY_LANES] __attribute__((aligned(64)));
	int next = 0, active = 0;

	for (int l = 0; l < MANY_LANES; l++)
		v[l].job = -1;
	for (;;) {
		const uint8_t *bp[MANY_LANES];
		size_t k = SIZE_MAX;
		__m512i st[8];

		for (int l = 0; l < MANY_LANES && next < count; l++) {
			if (v[l].job >= 0)
				continue;
			v[l].job = next;
			v[l].p = p[next];
			v[l].whole = n[next] / 64;
			v[l].left = v[l].whole + (size_t)pad_tail(v[l].tail, p[next] + v[l].whole * 64,
								   n[next] % 64, n[next]);
			if (!v[l].whole)
				v[l].p = v[l].tail;
			for (int i = 0; i < 8; i++)
				s[i][l] = H0[i];
			next++;
			active++;
		}
		if (!active || (active < MANY_MIN_LANES && next == count))
			break;
		/* Blocks every busy lane has before its message ends (or its padding, once there). */
		for (int l = 0; l < MANY_LANES; l++) {
			size_t m = v[l].whole ? v[l].whole : v[l].left;

			if (v[l].job >= 0 && m < k)
				k = m;
		}
		for (int i = 0; i < 8; i++)
			st[i] = _mm512_load_si512(s[i]);
		for (; k; k--) {
			for (int l = 0; l < MANY_LANES; l++)
				bp[l] = v[l].job < 0 ? idle : v[l].p;
			blocks16(st, bp);
			for (int l = 0; l < MANY_LANES; l++) {
				struct vlane *x = &v[l];

				if (x->job < 0)
					continue;
				x->left--;
				x->p += 64;
				if (x->whole && !--x->whole)
					x->p = x->tail;
			}
		}
		for (int i = 0; i < 8; i++)
			_mm512_store_si512(s[i], st[i]);
		for (int l = 0; l < MANY_LANES; l++) {
			struct vlane *x = &v[l];

			if (x->job < 0 || x->left)
				continue;
			for (int i = 0; i < 8; i++) {
				out[x->job].b[4 * i] = (uint8_t)(s[i][l] >> 24);
				out[x->job].b[4 * i + 1] = (uint8_t)(s[i][l] >> 16);
				out[x->job].b[4 * i + 2] = (uint8_t)(s[i][l] >> 8);
				out[x->job].b[4 * i + 3] = (uint8_t)s[i][l];
			}
			x->job = -1;
			active--;
		}
	}
	/* The last few, each by SHA-NI from where its lane left it. */
	for (int l = 0; l < MANY_LANES; l++) {
		struct vlane *x = &v[l];
		uint32_t st[8];
		struct lane ln;

		if (x->job < 0)
			continue;
		for (int i = 0; i < 8; i++)
			st[i] = s[i][l];
		lane_from(&ln, st);
		if (x->whole) {
			sha256_blocks1(&ln, x->p, x->whole);
			x->left -= x->whole;
			x->p = x->tail;
		}
		sha256_blocks1(&ln, x->p, x->left);
		lane_digest(&ln, &out[x->job]);
	}
}

int mfs_sha256_many_lanes(void)
{
	return have_sha_ni() && have_avx512();
}

int mfs_sha256_many(const void *const *p, const size_t *n, int count, struct mfs_hash *out)
{
	int rc = 0;

	if (count >= MANY_MIN_LANES && mfs_sha256_many_lanes()) {
		sha256_many16((const uint8_t *const *)p, n, count, out);
		return 0;
	}
	for (int i = 0; i < count && !rc; i++)
		rc = mfs_sha256(p[i], n[i], &out[i]);
	return rc;
}

#else

int mfs_sha256_many_lanes(void)
{
	return 0;
}

int mfs_sha256_many(const void *const *p, const size_t *n, int count, struct mfs_hash *out)
{
	int rc = 0;

	for (int i = 0; i < count && !rc; i++)
		rc = mfs_sha256(p[i], n[i], &out[i]);
	return rc;
}

int mfs_sha256_pair(const void *p, size_t n, struct mfs_hash *a, const void *q, size_t m,
		    struct mfs_hash *b)
{
	int rc = mfs_sha256(p, n, a);

	return rc ? rc : mfs_sha256(q, m, b);
}

#endif
