/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk records: every codec round-trips real, float and adversarial data;
 * automatic selection picks what the data calls for; and no damaged,
 * truncated or forged record ever decodes as success.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hash.h"
#include "store/chunk/chunker.h"
#include "store/chunk/codec.h"
#include "store/chunk/planes.h"
#include "tap.h"

#define BIG_FILE "/usr/lib/x86_64-linux-gnu/librocksdb.so.7.8"
#define HDR MFS_CHUNK_HDR_SIZE

static struct mfs_codec_ctx *ctx;
static uint8_t *rec, *out;
static size_t rec_cap;

static uint64_t rng_state = 12345;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Trained weights are roughly normal around 0.  Irwin-Hall: the sum of 12
 * uniforms minus 6 has mean 0 and variance 1, and needs no libm.
 */
static float normal(float sigma)
{
	double sum = 0;

	for (int i = 0; i < 12; i++)
		sum += (rng() >> 11) / 9007199254740992.0;
	return sigma * (sum - 6);
}

/* IEEE binary16, round to nearest (ties away; close enough for test data). */
static uint16_t to_half(float f)
{
	uint32_t x, mant;
	uint16_t sign;
	int exp;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	exp = (int)((x >> 23) & 0xff) - 127 + 15;
	mant = x & 0x7fffff;
	if (exp >= 31)
		return sign | 0x7c00;
	if (exp <= 0) {
		if (exp < -10)
			return sign;
		mant |= 0x800000;
		return sign | ((mant >> (14 - exp)) + ((mant >> (13 - exp)) & 1));
	}
	return sign | ((exp << 10 | mant >> 13) + ((mant >> 12) & 1));
}

static void fill_fp32(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i += 4) {
		float f = normal(0.02f);

		memcpy(p + i, &f, 4);
	}
}

static void fill_fp16(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 2 <= n; i += 2)
		put_le16(p + i, to_half(normal(0.02f)));
}

static void fill_bf16(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 2 <= n; i += 2) {
		float f = normal(0.02f);
		uint32_t x;

		memcpy(&x, &f, 4);
		put_le16(p + i, x >> 16);
	}
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rng() >> 56;
}

/*
 * Encodes raw[0..len) with `codec` (-1: auto) and checks the record decodes
 * back to the same bytes.  Returns the record length, or -1 after reporting
 * a failure.
 */
static ssize_t round_trip(const uint8_t *raw, size_t len, int codec, const char *what,
			  struct mfs_chunk_info *info)
{
	ssize_t n, d;
	int rc;

	n = mfs_chunk_encode(ctx, raw, len, rec, mfs_chunk_record_bound(len), codec);
	if (n < 0) {
		ok(0, "%s: encode as %s: %s", what, mfs_codec_name(codec), mfs_strerror((int)n));
		return -1;
	}
	rc = mfs_chunk_peek(rec, n, info);
	memset(out, 0xa5, len + 1);
	d = mfs_chunk_decode(ctx, rec, n, out, len);
	if (rc || d != (ssize_t)len || (len && memcmp(raw, out, len)) || out[len] != 0xa5 ||
	    (codec >= 0 && info->codec != (enum mfs_codec)codec) || info->raw_len != len ||
	    info->stored_len + HDR != (size_t)n) {
		ok(0, "%s: round trip as %s (peek %d, decode %zd)", what,
		   mfs_codec_name(codec < 0 ? (int)info->codec : codec), rc, d);
		return -1;
	}
	return n;
}

/* Every forced codec and auto; returns the codec auto chose. */
static int round_trip_all(const uint8_t *raw, size_t len, const char *what)
{
	struct mfs_chunk_info info = { 0 };
	ssize_t size[MFS_CODEC_COUNT], n;
	int bad = 0;

	for (int c = 0; c < MFS_CODEC_PLAIN_COUNT; c++)
		bad += (size[c] = round_trip(raw, len, c, what, &info)) < 0;
	n = round_trip(raw, len, -1, what, &info);
	bad += n < 0;
	ok(!bad, "%s (%zu bytes): round trip raw %zd zstd %zd bg2 %zd bg4 %zd split2 %zd "
	   "split4 %zd, auto %zd (%s)", what, len, size[0], size[1], size[2], size[3], size[4],
	   size[5], n, mfs_codec_name(info.codec));
	if (n >= 0)
		ok((size_t)n <= HDR + len, "%s: auto never stores more than raw", what);
	return n < 0 ? -1 : (int)info.codec;
}

static void test_real_data(uint8_t *buf)
{
	static const size_t lens[] = { 1048576, MFS_CHUNK_MAX, 777777, 300001 };
	FILE *f = fopen(BIG_FILE, "rb");
	size_t off = 0;

	if (!f) {
		ok(1, "# SKIP %s not found", BIG_FILE);
		return;
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char what[64];
		size_t n = fread(buf, 1, lens[i], f);

		snprintf(what, sizeof(what), "librocksdb at %zu", off);
		round_trip_all(buf, n, what);
		off += n;
	}
	fclose(f);
}

static void test_floats(uint8_t *buf)
{
	int c;

	fill_fp32(buf, 1048576);
	c = round_trip_all(buf, 1048576, "float32 N(0, 0.02)");
	is_int(c, MFS_CODEC_SPLIT4, "auto picks split4 for float32");
	/* Odd offset and length: the planes start mid-word. */
	round_trip_all(buf + 1, 1048576 - 3, "float32, misaligned");

	fill_fp16(buf, 1048576);
	c = round_trip_all(buf, 1048576, "float16 N(0, 0.02)");
	is_int(c, MFS_CODEC_SPLIT2, "auto picks split2 for float16");
	round_trip_all(buf + 1, 1048576 - 1, "float16, odd length");

	fill_bf16(buf, MFS_CHUNK_MAX);
	c = round_trip_all(buf, MFS_CHUNK_MAX, "bfloat16 N(0, 0.02), MAX bytes");
	ok(c == MFS_CODEC_SPLIT2 || c == MFS_CODEC_SPLIT4, "auto picks a split codec for bfloat16 (%s)",
	   mfs_codec_name(c));
}

static void test_adversarial(uint8_t *buf)
{
	static const size_t tiny[] = { 0, 1, 2, 3, 4, 5, 7, 8, 15, 17, 31, 33 };
	char what[64];
	int c;

	fill_random(buf, 64);
	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
		snprintf(what, sizeof(what), "%zu random bytes", tiny[i]);
		c = round_trip_all(buf, tiny[i], what);
		is_int(c, MFS_CODEC_RAW, "%s: auto keeps raw", what);
	}

	memset(buf, 0, MFS_CHUNK_MAX);
	c = round_trip_all(buf, MFS_CHUNK_MAX, "zeros");
	ok(c > MFS_CODEC_RAW, "zeros are compressed (%s)", mfs_codec_name(c));
	round_trip_all(buf, 1023, "1023 zeros");
	memset(buf, 0xff, 1048576);
	c = round_trip_all(buf, 1048576, "0xff");
	ok(c > MFS_CODEC_RAW, "0xff is compressed (%s)", mfs_codec_name(c));

	fill_random(buf, MFS_CHUNK_MAX);
	c = round_trip_all(buf, MFS_CHUNK_MAX, "random, MAX bytes");
	is_int(c, MFS_CODEC_RAW, "auto keeps random bytes raw");
	c = round_trip_all(buf, 1048575, "random, odd length");
	is_int(c, MFS_CODEC_RAW, "auto keeps random bytes raw (odd length)");

	/*
	 * Random bytes where each 256-byte block ends with a copy of its first
	 * `rep` bytes: zstd saves about 2.4% with rep 7, under the 1/32 that
	 * pays for decoding, so auto keeps raw; about 6% with rep 16.
	 */
	{
		struct mfs_chunk_info info;
		ssize_t z;

		fill_random(buf, 1048576);
		for (size_t i = 0; i < 1048576; i += 256)
			memcpy(buf + i + 256 - 7, buf + i, 7);
		z = round_trip(buf, 1048576, MFS_CODEC_ZSTD, "2% compressible", &info);
		c = round_trip_all(buf, 1048576, "2% compressible");
		ok(z > 0 && z < 1048576 - 1048576 / 64 && c == MFS_CODEC_RAW,
		   "saving under 1/32 (zstd %zd) keeps raw (%s)", z, mfs_codec_name(c));
		for (size_t i = 0; i < 1048576; i += 256)
			memcpy(buf + i + 256 - 16, buf + i, 16);
		c = round_trip_all(buf, 1048576, "6% compressible");
		ok(c > MFS_CODEC_RAW, "saving 6%% compresses (%s)", mfs_codec_name(c));
	}

	/* Compressible only where the sample does not look: still valid. */
	memset(buf, 0, 1048576);
	fill_random(buf + 8192, 16384);
	round_trip_all(buf, 1048576, "zeros with a random island");
}

/* A raw record of "hello": the header layout and checksum definition, pinned. */
static void test_golden(void)
{
	static const uint8_t want[] = {
		'M', 'F', 'C', '1', 1, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0,
		0x35, 0xf7, 0x6b, 0x85, 0x35, 0x7d, 0x07, 0x00,
		'h', 'e', 'l', 'l', 'o',
	};
	uint8_t r[64];
	char got[8] = { 0 };
	ssize_t n;

	n = mfs_chunk_encode(ctx, "hello", 5, r, sizeof(r), MFS_CODEC_RAW);
	ok(n == sizeof(want) && !memcmp(r, want, sizeof(want)), "raw record of \"hello\" is byte exact");
	/* A proxy serving decoded bytes has no context (replica/server.c, serve_decoded). */
	memset(r, 0, sizeof(r));
	n = mfs_chunk_encode(NULL, "hello", 5, r, sizeof(r), MFS_CODEC_RAW);
	ok(n == sizeof(want) && !memcmp(r, want, sizeof(want)), "a raw record needs no context");
	is_int(mfs_chunk_decode(ctx, want, sizeof(want), got, sizeof(got)), 5, "golden record decodes");
	ok(!strcmp(got, "hello"), "golden record decodes to hello");
}

/*
 * The vector joins (SSE2, and AVX2 where the CPU has it; run with
 * MODELFS_TEST_NO_AVX2=1 for the SSE2 path) against the scalar definition:
 * word counts around the 16- and 32-word steps, planes at odd addresses,
 * and split then join giving the bytes back with the len % w tail.
 */
static void test_planes_join(void)
{
	static const size_t ms[] = { 0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 127, 1000, 4099 };
	static uint8_t src[4 * 4099 + 8], got[4 * 4099 + 8], want[4 * 4099 + 8], sp[4 * 4099 + 8];
	static uint8_t nt[4 * 4099 + 64] __attribute__((aligned(32)));
	int bad = 0;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rng();
	for (unsigned w = 2; w <= 4; w += 2)
		for (size_t mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++) {
			size_t m = ms[mi];
			const uint8_t *plane[4];

			for (unsigned k = 0; k < w; k++)
				plane[k] = src + 1 + k * (m + 3); /* odd, apart */
			for (size_t i = 0; i < m; i++)
				for (unsigned k = 0; k < w; k++)
					want[i * w + k] = plane[k][i];
			memset(got, 0xa5, sizeof(got));
			mfs_planes_gather(plane, m, got + 1, w);
			if (memcmp(got + 1, want, m * w) || got[0] != 0xa5 || got[1 + m * w] != 0xa5) {
				printf("#   gather w=%u m=%zu: wrong bytes\n", w, m);
				bad++;
			}
			/* Streaming stores: aligned output (the vector path), and odd (plain stores). */
			for (size_t at = 0; at <= 1; at++) {
				memset(nt, 0xa5, sizeof(nt));
				mfs_planes_gather_nt(plane, m, nt + 32 * at + at, w);
				if (memcmp(nt + 32 * at + at, want, m * w) ||
				    nt[32 * at + at + m * w] != 0xa5 || (at && nt[32] != 0xa5)) {
					printf("#   gather_nt w=%u m=%zu at %zu: wrong bytes\n", w, m, at);
					bad++;
				}
			}
			for (size_t t = 0; t < w; t++) {
				size_t len = m * w + t;

				mfs_planes_split(src + 3, len, sp, w);
				mfs_planes_join(sp, len, got, w);
				if (memcmp(got, src + 3, len)) {
					printf("#   split/join w=%u len=%zu: not the bytes\n", w, len);
					bad++;
				}
			}
		}
	is_int(bad, 0, "plane joins (and with streaming stores) match the scalar definition and invert the split");
}

/*
 * The plane layout is a format: decompress the payload with plain zstd and
 * compare with planes built the slow way.  Lengths cover the vector loop,
 * the scalar rest and the len % w tail.
 */
static void test_plane_layout(void)
{
	static const size_t lens[] = { 1, 31, 33, 101, 103, 1000, 4099 };
	uint8_t raw[4099], want[4099], got[4099], r[4099 + 256];
	int bad = 0;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = i * 7 + (i >> 8);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (unsigned w = 2; w <= 4; w += 2) {
			size_t len = lens[li], m = len / w;
			ssize_t n = mfs_chunk_encode(ctx, raw, len, r, sizeof(r),
						     w == 2 ? MFS_CODEC_ZSTD_BG2 : MFS_CODEC_ZSTD_BG4);

			for (size_t k = 0; k < w; k++)
				for (size_t i = 0; i < m; i++)
					want[k * m + i] = raw[i * w + k];
			memcpy(want + m * w, raw + m * w, len - m * w);
			if (n < HDR || ZSTD_decompress(got, sizeof(got), r + HDR, n - HDR) != len ||
			    memcmp(got, want, len)) {
				printf("#   bg%u, %zu bytes: wrong planes\n", w, len);
				bad++;
			}
		}
	}
	is_int(bad, 0, "bg2/bg4 payloads are zstd frames of the documented byte planes");
}

/* Decode must fail, and must not touch out when the checksum is what fails. */
static int decode_fails(const uint8_t *r, size_t n, size_t raw_len, int want)
{
	ssize_t d;

	memset(out, 0x5a, raw_len + 1);
	d = mfs_chunk_decode(ctx, r, n, out, raw_len);
	if (d >= 0 || (want && d != want)) {
		printf("#   decode returned %zd (%s)\n", d, d < 0 ? mfs_strerror((int)d) : "success");
		return 0;
	}
	return 1;
}

static void refresh_checksum(uint8_t *r, size_t n)
{
	struct mfs_xxh64_state st;

	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, r, 16);
	mfs_xxh64_update(&st, r + HDR, n - HDR);
	put_le64(r + 16, mfs_xxh64_digest(&st));
}

static void test_corruption(uint8_t *buf)
{
	struct mfs_chunk_info info;
	size_t len = 65536 + 3, untouched;
	uint8_t *bad;
	ssize_t n;

	fill_fp16(buf, len);
	n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, MFS_CODEC_ZSTD_BG2);
	if (n < 0)
		tap_bail("encode failed: %s", mfs_strerror((int)n));
	bad = malloc(n + 1);
	if (!bad)
		tap_bail("out of memory");

#define MUTATE(expr, want, ...) do { \
		memcpy(bad, rec, n); \
		expr; \
		ok(decode_fails(bad, n, len, want), __VA_ARGS__); \
	} while (0)

	MUTATE(bad[HDR] ^= 1, MFS_ECORRUPT, "flipped bit in the first payload byte");
	MUTATE(bad[HDR + (n - HDR) / 2] ^= 0x80, MFS_ECORRUPT, "flipped bit mid-payload");
	MUTATE(bad[n - 1] ^= 0xff, MFS_ECORRUPT, "damaged last payload byte");
	MUTATE(bad[16] ^= 4, MFS_ECORRUPT, "damaged checksum");
	MUTATE(bad[23] ^= 0x10, MFS_ECORRUPT, "damaged checksum (top byte)");
	MUTATE(put_le32(bad + 8, len - 1), MFS_ECORRUPT, "raw_len - 1");
	MUTATE(put_le32(bad + 8, len + 1), MFS_ECORRUPT, "raw_len + 1");
	MUTATE(put_le32(bad + 8, MFS_CHUNK_MAX + 1), MFS_ECORRUPT, "raw_len > MAX");
	MUTATE(bad[5] = MFS_CODEC_ZSTD_BG4, MFS_ECORRUPT, "codec byte bg2 -> bg4");
	MUTATE(bad[5] = MFS_CODEC_RAW, MFS_ECORRUPT, "codec byte bg2 -> raw");
	MUTATE(bad[5] = 77, MFS_ECORRUPT, "codec byte bg2 -> 77");
	MUTATE(bad[4] = 2, MFS_ECORRUPT, "version byte damaged");
	MUTATE(bad[0] = 'X', MFS_ECORRUPT, "magic damaged");
	MUTATE(bad[6] = 1, MFS_ECORRUPT, "reserved bytes damaged");
	MUTATE(put_le32(bad + 12, n - HDR - 1), MFS_ECORRUPT, "stored_len - 1");

	/* Every single-bit flip anywhere in a small record. */
	{
		uint8_t small[512], copy[1024];
		ssize_t m;
		int all = 1;

		fill_fp16(small, sizeof(small));
		m = mfs_chunk_encode(ctx, small, sizeof(small), copy, sizeof(copy), MFS_CODEC_ZSTD_BG2);
		for (ssize_t i = 0; m > 0 && i < m * 8; i++) {
			copy[i / 8] ^= 1 << (i % 8);
			all &= decode_fails(copy, m, sizeof(small), 0);
			copy[i / 8] ^= 1 << (i % 8);
		}
		ok(m > 0 && all, "each of the %zd bit flips in a %zd-byte record is caught", m * 8, m);
	}

	/* Truncated and overlong records. */
	ok(decode_fails(rec, n - 1, len, MFS_ECORRUPT), "record short by one byte");
	ok(decode_fails(rec, HDR, len, MFS_ECORRUPT), "header only");
	ok(decode_fails(rec, HDR - 1, len, MFS_ECORRUPT), "23 bytes");
	ok(decode_fails(rec, 0, len, MFS_ECORRUPT), "0 bytes");
	memcpy(bad, rec, n);
	bad[n] = 0;
	ok(decode_fails(bad, n + 1, len, MFS_ECORRUPT), "record with a trailing byte");

	/* The checksum fails before anything is written to out. */
	memcpy(bad, rec, n);
	bad[HDR + 10] ^= 1;
	decode_fails(bad, n, len, MFS_ECORRUPT);
	untouched = 0;
	for (size_t i = 0; i < len; i++)
		untouched += out[i] == 0x5a;
	is_int(untouched, len, "a corrupt record leaves the output untouched");

	/*
	 * Forged records with a valid checksum (XXH64 is no MAC: a peer can
	 * send anything): still no success.
	 */
	memcpy(bad, rec, n);
	put_le32(bad + 8, len + 1);
	refresh_checksum(bad, n);
	/* Room for raw_len bytes: zstd itself must come up one short. */
	ok(decode_fails(bad, n, len + 1, MFS_ECORRUPT),
	   "forged raw_len + 1: zstd output length must match exactly");
	MUTATE((put_le32(bad + 8, len - 1), refresh_checksum(bad, n)), MFS_ECORRUPT,
	       "forged raw_len - 1");
	MUTATE((bad[HDR] ^= 0xff, refresh_checksum(bad, n)), MFS_ECORRUPT,
	       "forged payload that is not a zstd frame");
	memcpy(bad, rec, n);
	put_le32(bad + 12, 100);
	refresh_checksum(bad, HDR + 100);
	ok(decode_fails(bad, HDR + 100, len, MFS_ECORRUPT), "forged record cut short inside the zstd frame");
	MUTATE((bad[5] = MFS_CODEC_RAW, refresh_checksum(bad, n)), MFS_ECORRUPT,
	       "forged raw codec with stored_len != raw_len");
	MUTATE((bad[5] = 9, refresh_checksum(bad, n)), MFS_EFORMAT, "valid record, unknown codec");
	MUTATE((bad[4] = 2, refresh_checksum(bad, n)), MFS_EFORMAT, "valid record, version 2");
	MUTATE((put_le32(bad + 8, MFS_CHUNK_MAX + 1), refresh_checksum(bad, n)), MFS_ECORRUPT,
	       "valid checksum, raw_len > MAX");
#undef MUTATE

	/* verify: the checksum and the header, without decoding. */
	memset(&info, 0, sizeof(info));
	is_int(mfs_chunk_verify(rec, n, &info), 0, "verify accepts a good record");
	ok(info.codec == MFS_CODEC_ZSTD_BG2 && info.raw_len == len && info.stored_len == n - HDR,
	   "verify reports codec and lengths");
	memcpy(bad, rec, n);
	bad[n - 1] ^= 1;
	is_int(mfs_chunk_verify(bad, n, &info), MFS_ECORRUPT, "verify: damaged payload");
	is_int(mfs_chunk_verify(rec, n - 1, &info), MFS_ECORRUPT, "verify: truncated");
	memcpy(bad, rec, n);
	bad[5] = 9;
	refresh_checksum(bad, n);
	is_int(mfs_chunk_verify(bad, n, &info), MFS_EFORMAT, "verify: valid record, unknown codec");

	/* Output buffer shorter than raw_len. */
	is_int(mfs_chunk_decode(ctx, rec, n, out, len - 1), -ENOBUFS, "decode into a short buffer");

	/* peek: header checks only. */
	is_int(mfs_chunk_peek(rec, n, &info), 0, "peek accepts a good record");
	ok(info.codec == MFS_CODEC_ZSTD_BG2 && info.raw_len == len && info.stored_len == n - HDR,
	   "peek reports codec and lengths");
	memcpy(bad, rec, n);
	bad[HDR] ^= 1;
	is_int(mfs_chunk_peek(bad, n, &info), 0, "peek does not check the checksum");
	is_int(mfs_chunk_peek(rec, HDR - 1, &info), MFS_ECORRUPT, "peek: shorter than a header");
	is_int(mfs_chunk_peek(rec, n - 1, &info), MFS_ECORRUPT, "peek: truncated");
	is_int(mfs_chunk_peek(rec, n + 1, &info), MFS_ECORRUPT, "peek: trailing bytes");
#define PEEK(expr, want, ...) do { \
		memcpy(bad, rec, n); \
		expr; \
		is_int(mfs_chunk_peek(bad, n, &info), want, __VA_ARGS__); \
	} while (0)
	PEEK(bad[1] = 'f', MFS_ECORRUPT, "peek: bad magic");
	PEEK(bad[4] = 0, MFS_EFORMAT, "peek: version 0");
	PEEK(bad[4] = 2, MFS_EFORMAT, "peek: version 2");
	PEEK(bad[5] = MFS_CODEC_COUNT, MFS_EFORMAT, "peek: unknown codec");
	PEEK(bad[7] = 1, MFS_EFORMAT, "peek: reserved not zero");
	PEEK(put_le32(bad + 8, MFS_CHUNK_MAX + 1), MFS_ECORRUPT, "peek: raw_len > MAX");
	PEEK(put_le32(bad + 12, 0xffffffff), MFS_ECORRUPT, "peek: huge stored_len");
	PEEK(bad[5] = MFS_CODEC_RAW, MFS_ECORRUPT, "peek: raw with stored_len != raw_len");
#undef PEEK
	free(bad);
}

/* ---- split codecs ------------------------------------------------------- */

#define GROUP 32768	/* words per group, as store/chunk/codec.c writes them */

/* Lengths around every edge of the split layout, for w = 2 and 4. */
/*
 * mfs_chunk_decode_sha hashes a split record group by group as it joins
 * it: the digest must be the SHA-256 of the whole chunk, in order, for
 * every codec (the others hash after the decode), with one group or many
 * and every tail length; and a damaged record must not decode.
 */
static void test_decode_sha(uint8_t *buf)
{
	static const size_t lens[] = { 1, 3, 255, 4096 + 1, 4096 + 3, 200001, 1 << 20 };
	int bad = 0;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (int c = MFS_CODEC_RAW; c <= MFS_CODEC_SPLIT4; c++) {
			size_t len = lens[li];
			struct mfs_hash want, got;
			ssize_t n;

			fill_fp16(buf, len);
			if (len % 2)
				buf[len - 1] = (uint8_t)rng();
			n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, c);
			if (n < 0 || mfs_sha256(buf, len, &want)) {
				printf("#   codec %d, %zu bytes: encode or hash failed\n", c, len);
				bad++;
				continue;
			}
			memset(&got, 0, sizeof(got));
			if (mfs_chunk_decode_sha(ctx, rec, n, out, len, &got) != (ssize_t)len ||
			    memcmp(out, buf, len) || memcmp(got.b, want.b, MFS_HASH_LEN)) {
				printf("#   codec %d, %zu bytes: wrong bytes or digest\n", c, len);
				bad++;
			}
			rec[n - 1] ^= 1; /* in the last piece: found only once all is hashed */
			if (mfs_chunk_decode_sha(ctx, rec, n, out, len, &got) >= 0) {
				printf("#   codec %d, %zu bytes: damaged record decoded\n", c, len);
				bad++;
			}
		}
	is_int(bad, 0, "decode with SHA-256: the chunk's digest for every codec, damage refused");
}

/*
 * mfs_chunk_decode_sha_unchecked, for a peer's copy that is not kept in the
 * store (replica/fetch.c): the same bytes and digest as the checked decode,
 * a record whose XXH64 field alone is wrong decoded to its right bytes and
 * digest (the checked decode refuses it), and damage in the last piece
 * never passing for the chunk (an error, or a digest that is not its name).
 */
static void test_decode_sha_unchecked(uint8_t *buf)
{
	static const size_t lens[] = { 1, 3, 4096 + 3, 200001, 1 << 20 };
	int bad = 0;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (int c = MFS_CODEC_RAW; c <= MFS_CODEC_SPLIT4; c++) {
			size_t len = lens[li];
			struct mfs_hash want, got;
			ssize_t n;

			fill_fp16(buf, len);
			n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, c);
			if (n < 0 || mfs_sha256(buf, len, &want)) {
				printf("#   codec %d, %zu bytes: encode or hash failed\n", c, len);
				bad++;
				continue;
			}
			memset(&got, 0, sizeof(got));
			if (mfs_chunk_decode_sha_unchecked(ctx, rec, n, out, len, &got) != (ssize_t)len ||
			    memcmp(out, buf, len) || memcmp(got.b, want.b, MFS_HASH_LEN)) {
				printf("#   codec %d, %zu bytes: wrong bytes or digest\n", c, len);
				bad++;
			}
			rec[16] ^= 1; /* the XXH64 field */
			memset(&got, 0, sizeof(got));
			if (mfs_chunk_decode_sha(ctx, rec, n, out, len, &got) >= 0 ||
			    mfs_chunk_decode_sha_unchecked(ctx, rec, n, out, len, &got) != (ssize_t)len ||
			    memcmp(out, buf, len) || memcmp(got.b, want.b, MFS_HASH_LEN)) {
				printf("#   codec %d, %zu bytes: a flipped XXH64 field\n", c, len);
				bad++;
			}
			rec[16] ^= 1;
			rec[n - 1] ^= 1; /* in the last piece */
			if (mfs_chunk_decode_sha_unchecked(ctx, rec, n, out, len, &got) == (ssize_t)len &&
			    !memcmp(got.b, want.b, MFS_HASH_LEN)) {
				printf("#   codec %d, %zu bytes: damaged record passed\n", c, len);
				bad++;
			}
		}
	is_int(bad, 0, "decode with SHA-256 only: the chunk's digest, its XXH64 field not read, damage refused");
}

static void test_split_lengths(uint8_t *buf)
{
	static const size_t base[] = { 0, 1, 2, 3, 4, 5, 7, 255, 256 * 2 - 1, 256 * 4 + 3,
				       GROUP * 2 - 1, GROUP * 2, GROUP * 2 + 1, GROUP * 4 - 1,
				       GROUP * 4, GROUP * 4 + 3, GROUP * 4 + 256 * 4 + 1,
				       3 * GROUP * 4 + 2, 1048576 + 1, MFS_CHUNK_MAX - 1,
				       MFS_CHUNK_MAX };
	struct mfs_chunk_info info;
	int bad = 0;

	fill_fp16(buf, MFS_CHUNK_MAX);
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		for (int c = MFS_CODEC_SPLIT2; c <= MFS_CODEC_SPLIT4; c++)
			bad += round_trip(buf, base[i], c, "split length edges", &info) < 0;
	is_int(bad, 0, "split2/split4 round-trip every length edge (0 .. MAX, group and word tails)");
	/* A plane of zeros between float planes, and all-zero and 0xff chunks. */
	for (size_t i = 0; i < 1048576; i += 4)
		memset(buf + i + 1, 0, 1);
	bad = 0;
	for (int c = MFS_CODEC_SPLIT2; c <= MFS_CODEC_SPLIT4; c++)
		bad += round_trip(buf, 1048576, c, "split, a zero plane", &info) < 0;
	memset(buf, 0, MFS_CHUNK_MAX);
	for (int c = MFS_CODEC_SPLIT2; c <= MFS_CODEC_SPLIT4; c++)
		bad += round_trip(buf, MFS_CHUNK_MAX, c, "split, zeros", &info) < 0;
	is_int(bad, 0, "split codecs round-trip constant planes");
}

/*
 * The split payload is a format: parse it by hand (table, tail, pieces;
 * zstd pieces with plain ZSTD_decompress) and compare with planes built
 * the slow way.
 */
static void test_split_layout(uint8_t *buf)
{
	static const size_t lens[] = { 3, 1001, GROUP * 2 + 7, GROUP * 4 * 2 + 5 };
	uint8_t *got = malloc(GROUP);
	int bad = 0, zstd_pieces = 0, raw_pieces = 0;

	if (!got)
		tap_bail("out of memory");
	fill_fp16(buf, 1048576);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (unsigned w = 2; w <= 4; w += 2) {
			size_t len = lens[li], m = len / w, ng = (m + GROUP - 1) / GROUP, pos;
			ssize_t n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap,
						     w == 2 ? MFS_CODEC_SPLIT2 : MFS_CODEC_SPLIT4);
			const uint8_t *p = rec + HDR;

			size_t sums, head, gstart;

			if (n < HDR + 2 || p[0] != 15 || p[1] != 1) {
				bad++;
				continue;
			}
			/* Group checksums (format 7) after the table; the record's covers the head. */
			sums = 2 + ng * w * 4;
			pos = sums + ng * 8;
			if (memcmp(p + pos, buf + m * w, len % w))
				bad++;
			pos += len % w;
			head = pos;
			{
				struct mfs_xxh64_state st;

				mfs_xxh64_init(&st, 0);
				mfs_xxh64_update(&st, rec, 16);
				mfs_xxh64_update(&st, p, head);
				bad += mfs_xxh64_digest(&st) != get_le64(rec + 16);
			}
			for (size_t g = 0; g < ng; g++) {
				size_t words = m - g * GROUP < GROUP ? m - g * GROUP : GROUP;

				gstart = pos;

				for (unsigned k = 0; k < w; k++) {
					uint32_t e = get_le32(p + 2 + 4 * (g * w + k));
					size_t plen = e & 0x7fffffff;

					if (e >> 31) {
						zstd_pieces++;
						if (ZSTD_decompress(got, GROUP, p + pos, plen) != words)
							bad++;
					} else {
						raw_pieces++;
						if (plen != words)
							bad++;
						memcpy(got, p + pos, plen);
					}
					for (size_t i = 0; i < words; i++)
						bad += got[i] != buf[(g * GROUP + i) * w + k];
					pos += plen;
				}
				bad += mfs_xxh64(p + gstart, pos - gstart, 0) != get_le64(p + sums + 8 * g);
			}
			bad += pos != (size_t)n - HDR;
		}
	}
	free(got);
	ok(!bad && zstd_pieces && raw_pieces,
	   "split payloads: table, group checksums, tail, then raw and zstd pieces as documented (%d zstd, %d raw)",
	   zstd_pieces, raw_pieces);
}

/* A forged record (valid checksum): decode must fail with `want`, never crash. */
static int forged_fails(uint8_t *r, size_t n, size_t raw_len, int want)
{
	refresh_checksum(r, n);
	return decode_fails(r, n, raw_len, want);
}

/*
 * The split record r[0..n) as written before format 7, without group
 * checksums, in place (whole-record checksum): its new length.
 */
static size_t strip_sums(uint8_t *r, size_t n)
{
	unsigned w = r[5] == MFS_CODEC_SPLIT2 ? 2 : 4;
	size_t raw_len = get_le32(r + 8), ng = (raw_len / w + GROUP - 1) / GROUP;
	size_t sums = HDR + 2 + ng * w * 4;

	memmove(r + sums, r + sums + ng * 8, n - sums - ng * 8);
	n -= ng * 8;
	r[HDR + 1] = 0;
	mfs_chunk_seal(r, r[5], raw_len, n - HDR);
	return n;
}

static void test_split_corruption(uint8_t *buf)
{
	size_t len = GROUP * 2 * 2 + 1001, m = len / 2, tbl = HDR + 2;
	uint8_t *bad;
	ssize_t n;
	int all = 1;

	fill_fp16(buf, len);
	n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, MFS_CODEC_SPLIT2);
	if (n < 0)
		tap_bail("encode failed: %s", mfs_strerror((int)n));
	/*
	 * The decoder's own checks, on a record without group checksums
	 * (those would catch most forgeries first: test_group_sums).
	 */
	n = (ssize_t)strip_sums(rec, (size_t)n);
	ok(mfs_chunk_decode(ctx, rec, n, out, len) == (ssize_t)len && !memcmp(out, buf, len),
	   "split: a record without group checksums (before format 7) decodes");
	ok(get_le32(rec + tbl) >> 31 == 0 && get_le32(rec + tbl + 4) >> 31 == 1,
	   "FP16 split2: mantissa plane raw, exponent plane coded");
	bad = malloc(n + 64);
	if (!bad)
		tap_bail("out of memory");

	/* Room for the largest raw_len forged below. */
#define FORGE(expr, want, ...) do { \
		memcpy(bad, rec, n); \
		expr; \
		ok(forged_fails(bad, n, len + GROUP * 2, want), __VA_ARGS__); \
	} while (0)

	FORGE(bad[HDR] = 9, MFS_ECORRUPT, "split: group shift below the minimum");
	FORGE(bad[HDR] = 21, MFS_ECORRUPT, "split: group shift above the maximum");
	FORGE(bad[HDR] = 255, MFS_ECORRUPT, "split: group shift 255");
	FORGE(bad[HDR] = 14, MFS_ECORRUPT, "split: group shift changed (table no longer adds up)");
	FORGE(bad[HDR + 1] = 1, MFS_ECORRUPT, "split: group checksums flagged, none there");
	FORGE(bad[HDR + 1] = 2, MFS_ECORRUPT, "split: unknown flag set");
	FORGE(put_le32(bad + tbl, m), MFS_ECORRUPT, "split: raw piece longer than its slice");
	FORGE(put_le32(bad + tbl, GROUP - 1), MFS_ECORRUPT, "split: raw piece shorter than its slice");
	FORGE(put_le32(bad + tbl, 0x7fffffff), MFS_ECORRUPT, "split: raw piece length 2^31 - 1");
	FORGE(put_le32(bad + tbl + 4, 0xffffffff), MFS_ECORRUPT, "split: zstd piece length 2^31 - 1");
	FORGE(put_le32(bad + tbl + 4, 0x80000000), MFS_ECORRUPT, "split: empty zstd piece");
	FORGE(put_le32(bad + tbl + 4, get_le32(bad + tbl + 4) - 1), MFS_ECORRUPT,
	      "split: zstd piece one byte short (lengths do not add up)");
	FORGE((put_le32(bad + tbl + 4, get_le32(bad + tbl + 4) - 1),
	       put_le32(bad + tbl + 12, get_le32(bad + tbl + 12) + 1)), MFS_ECORRUPT,
	      "split: a byte moved between zstd pieces (frames end wrong)");
	FORGE(put_le32(bad + tbl, get_le32(bad + tbl) | 0x80000000), MFS_ECORRUPT,
	      "split: raw piece marked as zstd");
	FORGE(put_le32(bad + tbl + 4, get_le32(bad + tbl + 4) & 0x7fffffff), MFS_ECORRUPT,
	      "split: zstd piece marked as raw");
	FORGE(bad[5] = MFS_CODEC_SPLIT4, MFS_ECORRUPT, "split: codec split2 -> split4");
	FORGE(put_le32(bad + 8, len + 2), MFS_ECORRUPT, "split: raw_len + 2 (one more word)");
	FORGE(put_le32(bad + 8, len - 1), MFS_ECORRUPT, "split: raw_len - 1 (tail moves)");
	FORGE(put_le32(bad + 8, len + GROUP * 2), MFS_ECORRUPT, "split: raw_len one group more");
	{
		/*
		 * Built by hand: one group of split2 whose zstd piece holds one
		 * byte more (then one less) than its slice.
		 */
		uint8_t *r = malloc(HDR + 10 + GROUP + ZSTD_compressBound(GROUP + 1));
		int fails = 1;

		if (!r)
			tap_bail("out of memory");
		for (int d = -1; d <= 1; d += 2) {
			size_t z;

			memcpy(r, "MFC1", 4);
			r[4] = 1;
			r[5] = MFS_CODEC_SPLIT2;
			put_le16(r + 6, 0);
			put_le32(r + 8, GROUP * 2);
			r[HDR] = 15;
			r[HDR + 1] = 0;
			memcpy(r + HDR + 10, buf, GROUP);
			z = ZSTD_compress(r + HDR + 10 + GROUP, ZSTD_compressBound(GROUP + 1), buf,
					  GROUP + d, 1);
			put_le32(r + HDR + 2, GROUP);
			put_le32(r + HDR + 6, z | 0x80000000);
			put_le32(r + 12, 10 + GROUP + z);
			fails &= !ZSTD_isError(z) && forged_fails(r, HDR + 10 + GROUP + z, GROUP * 2,
								  MFS_ECORRUPT);
			/* The same record with the right slice length decodes. */
			z = ZSTD_compress(r + HDR + 10 + GROUP, ZSTD_compressBound(GROUP), buf, GROUP, 1);
			put_le32(r + HDR + 6, z | 0x80000000);
			put_le32(r + 12, 10 + GROUP + z);
			refresh_checksum(r, HDR + 10 + GROUP + z);
			fails &= mfs_chunk_decode(ctx, r, HDR + 10 + GROUP + z, out, GROUP * 2) ==
				 GROUP * 2;
		}
		ok(fails, "split: a zstd piece one byte longer or shorter than its slice is corrupt "
			  "(the exact one decodes)");
		free(r);
	}

	/*
	 * Damage that the checksum alone catches: a split record is hashed as
	 * it is decoded (one pass), so a flip in a raw piece decodes fine and
	 * must still fail, as must one in the table, a zstd piece, the tail
	 * or the header; and every byte of the record is covered.
	 */
	{
		size_t where[] = { 0, 5, 8, 12, 16, 23, HDR, HDR + 1, tbl, tbl + 5, tbl + 4 * 4 + 1,
				   (size_t)n - 1, (size_t)n / 2, (size_t)n / 3, (size_t)n - GROUP / 2 };
		int caught = 1;

		for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
			memcpy(bad, rec, n);
			bad[where[i]] ^= 0x10;
			caught &= decode_fails(bad, n, len, MFS_ECORRUPT);
		}
		for (size_t i = HDR; i < (size_t)n; i += 997) {
			memcpy(bad, rec, n);
			bad[i] ^= 1;
			caught &= decode_fails(bad, n, len, MFS_ECORRUPT);
		}
		ok(caught, "split: a flipped bit anywhere (header, table, tail, raw or zstd piece) "
			   "fails the one-pass check");
		ok(mfs_chunk_decode(ctx, rec, n, out, len) == (ssize_t)len && !memcmp(out, buf, len),
		   "split: the undamaged record decodes in one pass");
	}

	/*
	 * With streaming stores (the chunk cache's loads): the same bytes into
	 * an aligned buffer and into an odd one, and damage still refused.
	 */
	{
		uint8_t *al = NULL;
		int good;

		if (posix_memalign((void **)&al, 64, len + 64))
			tap_bail("out of memory");
		mfs_codec_set_stream_out(ctx, 1);
		good = mfs_chunk_decode(ctx, rec, n, al, len) == (ssize_t)len && !memcmp(al, buf, len);
		good &= mfs_chunk_decode(ctx, rec, n, al + 1, len) == (ssize_t)len &&
			!memcmp(al + 1, buf, len);
		memcpy(bad, rec, n);
		bad[n / 2] ^= 1;
		good &= decode_fails(bad, n, len, MFS_ECORRUPT);
		mfs_codec_set_stream_out(ctx, 0);
		ok(good, "split: decodes with streaming stores give the same bytes, damage still refused");
		free(al);
	}

	/* Truncations with a valid checksum: the table, the tail, a piece. */
	for (size_t cut = HDR; cut < (size_t)n; cut += cut < tbl + 64 ? 1 : 4099) {
		memcpy(bad, rec, cut);
		put_le32(bad + 12, cut - HDR);
		all &= forged_fails(bad, cut, len, MFS_ECORRUPT);
	}
	ok(all, "split: every truncation (inside the table, the tail, each piece) is corrupt");

	/* Every bit flip in a small forged record: any result but a crash or overrun. */
	{
		uint8_t small[2048 + 3], copy[4096];
		ssize_t sm;

		fill_fp16(small, sizeof(small));
		sm = mfs_chunk_encode(ctx, small, sizeof(small), copy, sizeof(copy), MFS_CODEC_SPLIT4);
		for (ssize_t i = HDR * 8; sm > 0 && i < sm * 8; i++) {
			ssize_t d;

			copy[i / 8] ^= 1 << (i % 8);
			refresh_checksum(copy, sm);
			d = mfs_chunk_decode(ctx, copy, sm, out, sizeof(small));
			all &= d == (ssize_t)sizeof(small) || d == MFS_ECORRUPT;
			copy[i / 8] ^= 1 << (i % 8);
		}
		refresh_checksum(copy, sm);
		ok(sm > 0 && all, "split: %zd forged bit flips decode or fail as corrupt, nothing else",
		   (sm - HDR) * 8);
	}
#undef FORGE
	free(bad);
}

/* mfs_chunk_decode_range: every codec, ranges across groups, words and the tail. */
/*
 * Readers decode any zstd frame in a split piece (doc/format.md), not only
 * the one-block literals frames this build writes: what another writer,
 * or this one later, may write must read too (s38 hiplane.md weighed such
 * writers).  Frames with matches (level 3), without a content size and
 * with a checksum, of many blocks (RLE ones among them), in groups of
 * 2^15 and 2^16 words, built by hand and read through every decode path.
 */
enum { FR_MATCHES, FR_CHECKSUM, FR_BLOCKS, FR_KINDS };

/* The blocks of the well-formed zstd frame f; *rle: how many are RLE. */
static unsigned frame_blocks(const uint8_t *f, unsigned *rle)
{
	static const unsigned dict_id[4] = { 0, 1, 2, 4 };
	unsigned fhd = f[4], single = fhd >> 5 & 1, fcs = fhd >> 6, nb = 0;
	size_t pos = 5 + !single + dict_id[fhd & 3] + (fcs ? 1u << fcs : single);

	*rle = 0;
	for (;;) {
		uint32_t bh = f[pos] | f[pos + 1] << 8 | (uint32_t)f[pos + 2] << 16;
		unsigned type = bh >> 1 & 3;

		nb++;
		*rle += type == 1;
		pos += 3 + (type == 1 ? 1 : bh >> 3);
		if (bh & 1)
			return nb;
	}
}

/* src[0..n) as a zstd frame of the given kind into dst[0..cap): its size, or 0. */
static size_t other_frame(int kind, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_outBuffer ob = { dst, cap, 0 };
	size_t r = 0;

	if (!c)
		return 0;
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, kind == FR_CHECKSUM ? 1 : 3);
	if (kind == FR_CHECKSUM) {
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	}
	if (kind != FR_BLOCKS) {
		r = ZSTD_compress2(c, dst, cap, src, n);
	} else {
		/* A flush every 4 KiB ends a block. */
		for (size_t o = 0; o < n && !ZSTD_isError(r); o += 4096) {
			ZSTD_inBuffer ib = { src + o, n - o < 4096 ? n - o : 4096, 0 };
			ZSTD_EndDirective op = o + 4096 < n ? ZSTD_e_flush : ZSTD_e_end;

			do
				r = ZSTD_compressStream2(c, &ob, &ib, op);
			while (!ZSTD_isError(r) && r);
		}
		if (!ZSTD_isError(r))
			r = ob.pos;
	}
	ZSTD_freeCCtx(c);
	return ZSTD_isError(r) ? 0 : r;
}

/*
 * buf[0..len) as a split2 record in rec, groups of 1 << shift words, plane
 * 0 raw and plane 1 as frames of kind: its length, or 0.  *blocks and
 * *rle count the frames' blocks; *odd the frames whose header has no
 * content size and a checksum.
 */
static size_t split2_other(const uint8_t *buf, size_t len, unsigned shift, int kind,
			   unsigned *blocks, unsigned *rle, unsigned *odd)
{
	size_t m = len / 2, per = (size_t)1 << shift, ng = (m + per - 1) / per;
	size_t head = 2 + ng * 8 + len % 2, pos = HDR + head;
	uint8_t *p = rec + HDR, *hi = malloc(per);

	if (!hi)
		tap_bail("out of memory");
	*blocks = *rle = *odd = 0;
	p[0] = (uint8_t)shift;
	p[1] = 0;
	memcpy(p + head - len % 2, buf + m * 2, len % 2);
	for (size_t g = 0; g < ng; g++) {
		size_t words = m - g * per < per ? m - g * per : per, z;
		unsigned r;

		for (size_t i = 0; i < words; i++) {
			rec[pos + i] = buf[(g * per + i) * 2];
			hi[i] = buf[(g * per + i) * 2 + 1];
		}
		put_le32(p + 2 + g * 8, (uint32_t)words);
		pos += words;
		if (!(z = other_frame(kind, hi, words, rec + pos, rec_cap - pos))) {
			free(hi);
			return 0;
		}
		put_le32(p + 6 + g * 8, (uint32_t)z | 0x80000000u);
		*blocks += frame_blocks(rec + pos, &r);
		*rle += r;
		*odd += (rec[pos + 4] & 4) &&
			ZSTD_getFrameContentSize(rec + pos, z) == ZSTD_CONTENTSIZE_UNKNOWN;
		pos += z;
	}
	free(hi);
	mfs_chunk_seal(rec, MFS_CODEC_SPLIT2, len, pos - HDR);
	return pos;
}

/*
 * Bytes [off, off + l) of record r[0..n) decoded the way a pack read does
 * (chunkstore.c, read_part): from a copy holding only the first block and
 * what mfs_chunk_part_plan() names, the rest garbage.  *span := the bytes
 * copied.  The decode's result.
 */
static ssize_t part_read(const uint8_t *r, size_t n, size_t off, size_t l, uint8_t *copy,
			 uint8_t *got, size_t *span)
{
	size_t have = n < 4096 ? n : 4096, from, to;
	int rc;

	memset(copy, 0xa5, n);
	memcpy(copy, r, have);
	while ((rc = mfs_chunk_part_plan(copy, have, n, off, l, &from, &to)) == -ENOBUFS) {
		if (to <= have || to > n)
			return -EPROTO;
		memcpy(copy + have, r + have, to - have);
		have = to;
	}
	if (rc)
		return rc;
	if (from > to || to > n)
		return -EPROTO;
	memcpy(copy + from, r + from, to - from);
	*span = have + (to - from);
	return mfs_chunk_decode_part(ctx, copy, n, off, got, l);
}

/*
 * Group checksums (format 7, codec_split.c note 3): a range is checked
 * and decoded from the record's head and the groups it touches alone; a
 * flip anywhere fails a whole check, a flip in a group fails the ranges
 * that touch it and no other, a flip in the head fails them all; records
 * without them (and other codecs) are not read in part.
 */
static void test_group_sums(uint8_t *buf)
{
	uint8_t *copy = malloc(rec_cap), *got = malloc(MFS_CHUNK_MAX), *keep = malloc(rec_cap);
	int bad = 0, flips = 0;
	size_t span, maxspan = 0;

	if (!copy || !got || !keep)
		tap_bail("out of memory");
	for (unsigned w = 2; w <= 4; w += 2) {
		size_t len = GROUP * w * 5 + 3, ng = (len / w + GROUP - 1) / GROUP;
		int codec = w == 2 ? MFS_CODEC_SPLIT2 : MFS_CODEC_SPLIT4;
		size_t offs[] = { 0, 1, GROUP * w - 3, GROUP * w * 2 + 5, len - 4097, len - 3,
				  len - 1, GROUP * w * 5 - 2 };
		struct mfs_chunk_info info;
		ssize_t n, d;

		if (w == 2)
			fill_fp16(buf, len);
		else
			fill_fp32(buf, len);
		n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, codec);
		if (n < 0 || mfs_chunk_verify(rec, n, &info)) {
			bad++;
			continue;
		}
		memcpy(keep, rec, n);
		for (size_t i = 0; i < 40; i++) {
			size_t o = i < 8 ? offs[i] : rng() % len, l = i % 4 ? 4096 : 1 + rng() % 140000;

			if (l > len - o)
				l = len - o;
			span = 0;
			d = part_read(rec, n, o, l, copy, got, &span);
			if (d != (ssize_t)l || memcmp(got, buf + o, l)) {
				printf("#   w %u: part read %zu+%zu: %zd\n", w, o, l, d);
				bad++;
			}
			if (l <= 4096 && span > maxspan)
				maxspan = span;
		}
		bad += part_read(rec, n, len - 1, 2, copy, got, &span) != -EINVAL;
		/* A flip in group 2's pieces: group 2 fails, group 0 reads. */
		{
			size_t from, to, g2 = GROUP * w * 2 + 100;

			bad += mfs_chunk_part_plan(rec, n, n, g2, 1, &from, &to) != 0;
			rec[(from + to) / 2] ^= 0x10;
			flips += mfs_chunk_verify(rec, n, &info) == MFS_ECORRUPT;
			flips += decode_fails(rec, n, len, MFS_ECORRUPT);
			flips += mfs_chunk_decode_range(ctx, rec, n, 0, got, 4096) == MFS_ECORRUPT;
			flips += part_read(rec, n, g2, 4096, copy, got, &span) == MFS_ECORRUPT;
			flips += part_read(rec, n, 5000, 4096, copy, got, &span) == 4096 &&
				 !memcmp(got, buf + 5000, 4096);
			memcpy(rec, keep, n);
		}
		/* A flip in the head (a group checksum, the table, the header): every range fails. */
		{
			size_t at[] = { HDR + 2 + ng * w * 4 + 3, HDR + 2 + 5, 9, 13, 17 };

			for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
				rec[at[i]] ^= 0x01;
				flips += part_read(rec, n, 5000, 4096, copy, got, &span) < 0;
				flips += mfs_chunk_verify(rec, n, &info) != 0;
				memcpy(rec, keep, n);
			}
		}
		/* Every byte covered: a flip in each of 64 spread over the record fails a whole check. */
		for (size_t i = 0; i < 64; i++) {
			size_t at = i * ((size_t)n - 1) / 63;

			rec[at] ^= 0x40;
			flips += mfs_chunk_verify(rec, n, &info) != 0;
			memcpy(rec, keep, n);
		}
		/* Without group checksums: read whole, as before. */
		n = (ssize_t)strip_sums(rec, (size_t)n);
		bad += part_read(rec, n, 5000, 4096, copy, got, &span) != MFS_EFORMAT;
		bad += mfs_chunk_decode_range(ctx, rec, n, 5000, got, 4096) != 4096 ||
		       memcmp(got, buf + 5000, 4096);
	}
	ok(!bad && flips == 2 * (5 + 10 + 64),
	   "group checksums: ranges read from the head and their groups alone (at most %zu bytes "
	   "of a record for 4 KiB); flips fail the groups they hit (%d of %d)", maxspan, flips,
	   2 * (5 + 10 + 64));
	{
		size_t l = 65536;
		ssize_t n;

		fill_random(buf, l);
		n = mfs_chunk_encode(ctx, buf, l, rec, rec_cap, MFS_CODEC_RAW);
		ok(n > 0 && part_read(rec, n, 0, 4096, copy, got, &span) == MFS_EFORMAT,
		   "group checksums: a raw record is not read in part");
	}
	free(copy);
	free(got);
	free(keep);
}

static void test_split_other_frames(uint8_t *buf)
{
	size_t len = GROUP * 2 * 5 + 1;	/* 5 groups of 2^15 words or 3 of 2^16, a tail byte */
	unsigned blocks[FR_KINDS] = { 0 }, rle[FR_KINDS] = { 0 }, odd[FR_KINDS] = { 0 };
	uint8_t *scratch = malloc(MFS_CHUNK_MAX);
	uint32_t gpos[MFS_CHUNK_MAX / 1024 + 2];
	int bad = 0;

	if (!scratch)
		tap_bail("out of memory");
	fill_fp16(buf, len);
	memset(buf + GROUP * 2, 0, 6000);	/* zeros for matches */
	for (size_t i = GROUP * 2 * 3; i < GROUP * 2 * 4; i += 2)
		buf[i + 1] = 0x2c;		/* a constant high plane: RLE blocks */
	for (unsigned shift = 15; shift <= 16; shift++) {
		for (int kind = 0; kind < FR_KINDS; kind++) {
			size_t offs[] = { 1, GROUP * 2 - 3, GROUP * 2 * 3 + 5, len - 4097 };
			struct mfs_chunk_planes v;
			struct mfs_hash want, got;
			unsigned b, r, o;
			size_t n = split2_other(buf, len, shift, kind, &b, &r, &o);

			blocks[kind] += b;
			rle[kind] += r;
			odd[kind] += o;
			if (!n || mfs_chunk_decode(ctx, rec, n, out, len) != (ssize_t)len ||
			    memcmp(out, buf, len)) {
				printf("#   shift %u kind %d: decode\n", shift, kind);
				bad++;
				continue;
			}
			for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
				size_t l = i % 2 ? 4096 : len - offs[i] - 1;

				if (mfs_chunk_decode_range(ctx, rec, n, offs[i], out, l) != (ssize_t)l ||
				    memcmp(out, buf + offs[i], l)) {
					printf("#   shift %u kind %d: range %zu+%zu\n", shift, kind,
					       offs[i], l);
					bad++;
				}
			}
			if (mfs_sha256(buf, len, &want) ||
			    mfs_chunk_decode_sha(ctx, rec, n, out, len, &got) != (ssize_t)len ||
			    memcmp(&got, &want, sizeof(want)) || memcmp(out, buf, len)) {
				printf("#   shift %u kind %d: decode_sha\n", shift, kind);
				bad++;
			}
			if (mfs_chunk_planes(rec, n, gpos, sizeof(gpos) / sizeof(gpos[0]), &v)) {
				bad++;
				continue;
			}
			for (size_t g = 0; g < v.ng; g++) {
				const uint8_t *pl[4];
				size_t per = (size_t)1 << shift;
				size_t words = v.m - g * per < per ? v.m - g * per : per;

				if (mfs_chunk_planes_group(ctx, &v, g, scratch, pl)) {
					bad++;
					continue;
				}
				for (size_t i = 0; i < words; i++)
					bad += pl[0][i] != buf[(g * per + i) * 2] ||
					       pl[1][i] != buf[(g * per + i) * 2 + 1];
			}
		}
	}
	free(scratch);
	/* 2 shifts x 5 + 3 groups: every frame of FR_CHECKSUM odd, FR_BLOCKS' of 8 or 16 blocks. */
	ok(!bad && odd[FR_CHECKSUM] == 8 && blocks[FR_BLOCKS] >= 8 * 8 && rle[FR_BLOCKS] &&
	   blocks[FR_MATCHES] == 8,
	   "split: pieces of other zstd frames decode on every path (level 3; no content size "
	   "and a checksum (%u); %u blocks, %u RLE; groups of 2^15 and 2^16 words)",
	   odd[FR_CHECKSUM], blocks[FR_BLOCKS], rle[FR_BLOCKS]);
}

static void test_decode_range(uint8_t *buf)
{
	size_t len = GROUP * 4 * 2 + GROUP + 4099;	/* groups of both widths, a tail */
	uint8_t *got = malloc(len + 1);
	int bad = 0;

	if (!got)
		tap_bail("out of memory");
	fill_fp16(buf, len);
	memset(buf + GROUP * 3, 0, 5000);	/* something for zstd to match */
	for (int c = 0; c < MFS_CODEC_PLAIN_COUNT; c++) {
		ssize_t n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, c);
		size_t offs[] = { 0, 1, 4095, GROUP * 2 - 3, GROUP * 2, GROUP * 4 - 1, len - 4099,
				  len - 3, len - 1, len };

		if (n < 0) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			size_t sizes[] = { 0, 1, 3, 4096, GROUP * 4 + 5, len };

			for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
				size_t o = offs[i], l = sizes[j] < len - o ? sizes[j] : len - o;

				got[l] = 0xa5;
				if (mfs_chunk_decode_range(ctx, rec, n, o, got, l) != (ssize_t)l ||
				    memcmp(got, buf + o, l) || got[l] != 0xa5) {
					printf("#   %s: range %zu+%zu wrong\n", mfs_codec_name(c), o, l);
					bad++;
				}
			}
		}
		bad += mfs_chunk_decode_range(ctx, rec, n, len - 1, got, 2) != -EINVAL;
		bad += mfs_chunk_decode_range(ctx, rec, n, len + 1, got, 0) != -EINVAL;
		bad += mfs_chunk_decode_range(ctx, rec, n, (size_t)-1, got, 2) != -EINVAL;
		rec[n - 1] ^= 1;
		bad += mfs_chunk_decode_range(ctx, rec, n, 0, got, 1) != MFS_ECORRUPT;
	}
	/* decode_verified: the same bytes as decode, without the second checksum pass. */
	for (int c = 0; c < MFS_CODEC_PLAIN_COUNT; c++) {
		struct mfs_chunk_info info;
		ssize_t n = mfs_chunk_encode(ctx, buf, len, rec, rec_cap, c);

		if (n < 0 || mfs_chunk_verify(rec, n, &info) ||
		    mfs_chunk_decode_verified(ctx, rec, &info, got, len) != (ssize_t)len ||
		    memcmp(got, buf, len) ||
		    mfs_chunk_decode_verified(ctx, rec, &info, got, len - 1) != -ENOBUFS) {
			printf("#   %s: decode_verified wrong\n", mfs_codec_name(c));
			bad++;
		}
	}
	is_int(bad, 0, "decode_range: every codec, ranges over word, group and tail edges; "
		       "out-of-range and corrupt records refused; decode_verified decodes");
	free(got);
}

static void test_encode_errors(uint8_t *buf)
{
	uint8_t small[HDR + 100];

	memset(buf, 0, 1000);
	is_int(mfs_chunk_encode(ctx, buf, MFS_CHUNK_MAX + 1, rec, rec_cap, -1), -EINVAL,
	       "encode rejects more than MAX bytes");
	is_int(mfs_chunk_encode(ctx, buf, 100, rec, rec_cap, MFS_CODEC_COUNT), -EINVAL,
	       "encode rejects an unknown codec");
	is_int(mfs_chunk_encode(ctx, buf, 100, small, HDR - 1, -1), -ENOBUFS,
	       "encode: no room for the header");
	fill_random(buf, 1000);
	is_int(mfs_chunk_encode(ctx, buf, 1000, small, sizeof(small), -1), -ENOBUFS,
	       "encode: no room for incompressible data");
	is_int(mfs_chunk_encode(ctx, buf, 1000, small, sizeof(small), MFS_CODEC_ZSTD), -ENOBUFS,
	       "encode: no room for forced zstd");
	is_int(mfs_chunk_encode(ctx, buf, 100, small, sizeof(small), -1), HDR + 100,
	       "encode: exactly enough room for raw");
	ok(mfs_chunk_record_bound(MFS_CHUNK_MAX) >= HDR + MFS_CHUNK_MAX, "record bound covers raw");
}

static void test_names(void)
{
	ok(!strcmp(mfs_codec_name(MFS_CODEC_RAW), "raw") &&
	   !strcmp(mfs_codec_name(MFS_CODEC_ZSTD), "zstd") &&
	   !strcmp(mfs_codec_name(MFS_CODEC_ZSTD_BG2), "zstd-bg2") &&
	   !strcmp(mfs_codec_name(MFS_CODEC_ZSTD_BG4), "zstd-bg4") &&
	   !strcmp(mfs_codec_name(MFS_CODEC_SPLIT2), "split2") &&
	   !strcmp(mfs_codec_name(MFS_CODEC_SPLIT4), "split4") &&
	   !strcmp(mfs_codec_name(-1), "?") && !strcmp(mfs_codec_name(MFS_CODEC_COUNT), "?"),
	   "codec names");
	ok(!strcmp(mfs_strerror(MFS_ECORRUPT), "stored data is corrupt (checksum mismatch)") &&
	   !strcmp(mfs_strerror(-ENOENT), "No such file or directory") &&
	   !strcmp(mfs_strerror(-1999), "unknown error"), "mfs_strerror");
	ok(mfs_errno(MFS_ECORRUPT) == EIO && mfs_errno(MFS_EMISSING) == EIO &&
	   mfs_errno(-ENOSPC) == ENOSPC && mfs_errno(0) == 0, "mfs_errno");
}

int main(void)
{
	uint8_t *buf = malloc(MFS_CHUNK_MAX + 16);

	rec_cap = mfs_chunk_record_bound(MFS_CHUNK_MAX);
	rec = malloc(rec_cap);
	out = malloc(MFS_CHUNK_MAX + 1);
	ctx = mfs_codec_ctx_new();
	if (!buf || !rec || !out || !ctx)
		tap_bail("out of memory");
	mfs_codec_ctx_free(NULL);

	test_golden();
	test_plane_layout();
	test_planes_join();
	test_real_data(buf);
	test_floats(buf);
	test_adversarial(buf);
	test_corruption(buf);
	test_split_lengths(buf);
	test_decode_sha(buf);
	test_decode_sha_unchecked(buf);
	test_split_layout(buf);
	test_split_corruption(buf);
	test_decode_range(buf);
	test_split_other_frames(buf);
	test_group_sums(buf);
	test_encode_errors(buf);
	test_names();

	mfs_codec_ctx_free(ctx);
	free(buf);
	free(rec);
	free(out);
	return done_testing();
}
