/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 and XXH64 against published and reference-library vectors (both
 * are on-disk formats), streaming XXH64 against one-shot, and the hex forms.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/hash.h"
#include "tap.h"

/* Pseudo-random but reproducible from the formula in any language. */
static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(((i * 31 + 7) >> 1) ^ (i >> 8));
}

/*
 * XXH64 of pattern_byte(0..len), from the reference implementation
 * (libxxhash 0.8.1 via python3-xxhash; the seed 0 ones also from xxhsum -H64).
 * Lengths hit every tail path: 1-byte, 4-byte, 8-byte and the 32-byte stripes.
 */
static const struct {
	size_t len;
	uint64_t seed, want;
} vectors[] = {
	{ 1, 0, 0x1f25c8d0bc1f4bb6ULL },
	{ 3, 0, 0x5a925e237673c823ULL },
	{ 4, 0, 0x2cd1ae928ed84302ULL },
	{ 7, 0, 0x6d766d4e40d56032ULL },
	{ 8, 0, 0xf23db79a7f5811c6ULL },
	{ 12, 0, 0x331745bd5cd5dfd8ULL },
	{ 15, 0, 0xb30dc6a1763b1cbdULL },
	{ 16, 0, 0x2699730e06466c8eULL },
	{ 31, 0, 0x6e9e30fd98088714ULL },
	{ 32, 0, 0x26115f4c0c2bd6c7ULL },
	{ 33, 0, 0x350c29726c16779fULL },
	{ 63, 0, 0xb02b23b3926cb4b4ULL },
	{ 64, 0, 0xc45abdfdb4f96ffaULL },
	{ 100, 0, 0xcd39b03424580045ULL },
	{ 1000, 0, 0x1c750f8c48b67024ULL },
	{ 1048576, 0, 0x364b7019f867cf85ULL },
	{ 3, 1, 0xdf5b06f8a521df81ULL },
	{ 11, 1, 0xca9d2ad7959a1174ULL },
	{ 33, 1, 0xb0ba8ac50ed978a9ULL },
	{ 3, 0x9e3779b185ebca87ULL, 0x94f947432ea0b096ULL },
	{ 65, 0x9e3779b185ebca87ULL, 0x4117f5d4c6f63aa2ULL },
	{ 1000, 0x9e3779b185ebca87ULL, 0x68a87fd83b705678ULL },
};

/* Runs of zeros are hashed once per length (hash.c): the same digests, and only for zeros. */
static void test_sha256_zeros(void)
{
	/* sha256sum of head -c N /dev/zero */
	static const char *z64k = "de2f256064a0af797747c2b97505dc0b9f3df0de4f489eac731c23ae9ca9cc31";
	static const char *z4m = "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8";
	uint8_t *buf = calloc(1, 4u << 20);
	char hex[MFS_HASH_HEX_LEN + 1];
	struct mfs_hash h, first;
	int same = 1;

	if (!buf)
		tap_bail("out of memory");
	for (int round = 0; round < 2; round++) {
		ok(!mfs_sha256(buf, 64u << 10, &h), "sha256 of 64 KiB of zeros (round %d)", round);
		mfs_hash_to_hex(&h, hex);
		ok(!strcmp(hex, z64k), "= %s", hex);
		ok(!mfs_sha256(buf, 4u << 20, &h), "sha256 of 4 MiB of zeros (round %d)", round);
		mfs_hash_to_hex(&h, hex);
		ok(!strcmp(hex, z4m), "= %s", hex);
	}
	ok(!mfs_sha256_zeros(4u << 20, &h), "mfs_sha256_zeros(4 MiB)");
	mfs_hash_to_hex(&h, hex);
	ok(!strcmp(hex, z4m), "= %s", hex);
	ok(!mfs_sha256_zeros(3u << 20, &h) && !mfs_sha256(buf, 3u << 20, &first) &&
	   !memcmp(h.b, first.b, MFS_HASH_LEN), "mfs_sha256_zeros(3 MiB), a length not seen yet");
	ok(!mfs_sha256_zeros(100, &h) && !mfs_sha256(buf, 100, &first) &&
	   !memcmp(h.b, first.b, MFS_HASH_LEN), "mfs_sha256_zeros(100), under the remembered sizes");
	/* One byte that is not zero, anywhere: hashed, never the zeros' digest. */
	same = !mfs_sha256(buf, 4u << 20, &first);
	for (size_t at = 0; at < (4u << 20); at = at * 2 + 1) {
		buf[at] = 1;
		same &= !mfs_sha256(buf, 4u << 20, &h) && memcmp(h.b, first.b, MFS_HASH_LEN);
		buf[at] = 0;
	}
	buf[(4u << 20) - 1] = 1;
	same &= !mfs_sha256(buf, 4u << 20, &h) && memcmp(h.b, first.b, MFS_HASH_LEN);
	ok(same, "4 MiB with one byte set (23 places, the last too) does not hash as zeros");
	free(buf);
}

static void test_sha256(void)
{
	static const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct mfs_hash h;
	char hex[MFS_HASH_HEX_LEN + 1];

	ok(!mfs_sha256("abc", 3, &h), "sha256 returns 0");
	mfs_hash_to_hex(&h, hex);
	ok(!strcmp(hex, abc), "sha256(\"abc\") = %s", hex);
	ok(!mfs_sha256("", 0, &h), "sha256 of nothing returns 0");
	mfs_hash_to_hex(&h, hex);
	ok(!strcmp(hex, empty), "sha256(\"\") = %s", hex);
	test_sha256_zeros();
}

/*
 * Two messages hashed together (sha256x2.c, SHA-NI where the CPU has it)
 * give libcrypto's digests: every length to 300 against its mirror (every
 * tail and padding path, one lane running on alone), then random lengths
 * to 5 MiB at odd addresses.
 */
static void test_sha256_pair(void)
{
	static const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	size_t big = 5u << 20, bad = 0, tried = 0;
	uint8_t *buf = malloc(big + 64);
	uint64_t r = 0x2545f4914f6cdd1dull;
	char hex[2][MFS_HASH_HEX_LEN + 1];
	struct mfs_hash a, b, wa, wb;

	if (!buf)
		tap_bail("out of memory");
	ok(!mfs_sha256_pair("abc", 3, &a, "", 0, &b), "sha256 pair returns 0");
	mfs_hash_to_hex(&a, hex[0]);
	mfs_hash_to_hex(&b, hex[1]);
	ok(!strcmp(hex[0], abc) && !strcmp(hex[1], empty), "pair of \"abc\" and \"\": %s %s",
	   hex[0], hex[1]);
	for (size_t i = 0; i < big + 64; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		buf[i] = (uint8_t)(r >> 24);
	}
	for (size_t n = 0; n <= 300; n++, tried++)
		bad += mfs_sha256_pair(buf + 1, n, &a, buf + 400, 300 - n, &b) ||
		       mfs_sha256(buf + 1, n, &wa) || mfs_sha256(buf + 400, 300 - n, &wb) ||
		       memcmp(a.b, wa.b, MFS_HASH_LEN) || memcmp(b.b, wb.b, MFS_HASH_LEN);
	for (int k = 0; k < 40; k++, tried++) {
		size_t n, m, x, y;

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		n = r % big;
		m = k % 4 ? (r >> 23) % big : n - n % 64 + (r >> 40) % 64; /* same full blocks */
		x = (r >> 50) % 64;
		y = (r >> 56) % 64;
		n = n > big - x ? big - x : n;
		m = m > big - y ? big - y : m;
		bad += mfs_sha256_pair(buf + x, n, &a, buf + y, m, &b) || mfs_sha256(buf + x, n, &wa) ||
		       mfs_sha256(buf + y, m, &wb) || memcmp(a.b, wa.b, MFS_HASH_LEN) ||
		       memcmp(b.b, wb.b, MFS_HASH_LEN);
	}
	ok(!bad, "sha256 pairs: %zu of %zu differ from libcrypto's digests", bad, tried);
	free(buf);
}

/*
 * mfs_sha256_many against mfs_sha256: every length to 200 (lanes that end
 * at once, in the padding, or empty), then sets of random lengths up to
 * 3 MiB and alignments, of 8 to 40 messages (lanes refilled, and the last
 * few finished by SHA-NI from a lane's state), and fewer than 8 (one at a
 * time).  The lane code runs only where the CPU has AVX-512 and SHA-NI.
 */
static void test_sha256_many(void)
{
	enum { MAXN = 250 };
	size_t big = 3u << 20, bad = 0, tried = 0;
	uint8_t *buf = malloc(big + 64);
	uint64_t r = 0x9e3779b97f4a7c15ull;
	const void *p[MAXN];
	size_t n[MAXN];
	struct mfs_hash got[MAXN], want;

	if (!buf)
		tap_bail("out of memory");
	for (size_t i = 0; i < big + 64; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		buf[i] = (uint8_t)(r >> 24);
	}
	for (int i = 0; i <= 200; i++) {
		p[i] = buf + i;
		n[i] = (size_t)i;
	}
	bad += mfs_sha256_many(p, n, 201, got) != 0;
	for (int i = 0; i <= 200; i++, tried++)
		bad += mfs_sha256(p[i], n[i], &want) || memcmp(got[i].b, want.b, MFS_HASH_LEN);
	for (int k = 0; k < 12; k++) {
		int count = k < 2 ? 3 + k : 8 + (int)(r % 33);

		for (int i = 0; i < count; i++) {
			size_t x;

			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			x = (r >> 50) % 64;
			n[i] = k % 3 == 0 ? (1u << 20) + (r >> 20) % 128 : (r >> 8) % (big - 64);
			p[i] = buf + x;
		}
		bad += mfs_sha256_many(p, n, count, got) != 0;
		for (int i = 0; i < count; i++, tried++)
			bad += mfs_sha256(p[i], n[i], &want) || memcmp(got[i].b, want.b, MFS_HASH_LEN);
	}
	ok(!bad, "sha256 many: %zu of %zu differ from libcrypto's digests", bad, tried);
	free(buf);
	/* Chosen at run time: a CPU without AVX-512 (or the test switch) gets none. */
	if (getenv("MODELFS_TEST_NO_AVX512") || !__builtin_cpu_supports("avx512f"))
		ok(!mfs_sha256_many_lanes(), "sha256 many: no lanes without AVX-512");
	else
		ok(1, "sha256 many: lanes %s (this CPU has AVX-512)",
		   mfs_sha256_many_lanes() ? "used" : "not used, no SHA-NI");
}

static void test_xxh64(const uint8_t *pat)
{
	ok(mfs_xxh64("", 0, 0) == 0xEF46DB3751D8E999ULL, "xxh64(\"\")");
	ok(mfs_xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5BULL, "xxh64(\"a\")");
	ok(mfs_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ULL, "xxh64(\"abc\")");
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint64_t got = mfs_xxh64(pat, vectors[i].len, vectors[i].seed);

		if (!ok(got == vectors[i].want, "xxh64(pattern[%zu], seed %#llx)", vectors[i].len,
			(unsigned long long)vectors[i].seed))
			printf("#   got %#llx\n", (unsigned long long)got);
	}
	/* Unaligned input must not matter (loads go through memcpy). */
	uint8_t *copy = malloc(1000);

	if (!copy)
		tap_bail("out of memory");
	memcpy(copy, pat + 1, 999);
	ok(mfs_xxh64(pat + 1, 999, 7) == mfs_xxh64(copy, 999, 7), "xxh64 of unaligned input");
	free(copy);
}

/* Every way of splitting the input into two or three updates gives the one-shot hash. */
static void test_xxh64_streaming(const uint8_t *pat)
{
	struct mfs_xxh64_state st;
	int bad = 0;

	for (size_t n = 0; n <= 100; n++) {
		uint64_t want = mfs_xxh64(pat, n, 42);

		for (size_t a = 0; a <= n; a++) {
			for (size_t b = a; b <= n; b += 7) {
				mfs_xxh64_init(&st, 42);
				mfs_xxh64_update(&st, pat, a);
				mfs_xxh64_update(&st, pat + a, b - a);
				mfs_xxh64_update(&st, pat + b, n - b);
				bad += mfs_xxh64_digest(&st) != want;
			}
		}
	}
	is_int(bad, 0, "streaming xxh64 equals one-shot for all splits of 0..100 bytes");

	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, pat, 16);
	mfs_xxh64_update(&st, pat + 16, 1048576 - 16);
	ok(mfs_xxh64_digest(&st) == 0x364b7019f867cf85ULL, "streaming 16 + 1 MiB - 16 bytes");
	/* digest does not consume the state. */
	ok(mfs_xxh64_digest(&st) == 0x364b7019f867cf85ULL, "digest is repeatable");
}

static void test_hex(void)
{
	struct mfs_hash h, back, keep;
	char hex[MFS_HASH_HEX_LEN + 1], bad[MFS_HASH_HEX_LEN + 2];

	for (int i = 0; i < MFS_HASH_LEN; i++)
		h.b[i] = i * 37 + 11;
	mfs_hash_to_hex(&h, hex);
	is_int(strlen(hex), MFS_HASH_HEX_LEN, "hex is 64 digits");
	is_int(mfs_hash_from_hex(hex, &back), 0, "hex parses");
	ok(!memcmp(h.b, back.b, MFS_HASH_LEN), "hex round trip");

	for (int i = 0; hex[i]; i++)
		bad[i] = hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i];
	bad[MFS_HASH_HEX_LEN] = '\0';
	is_int(mfs_hash_from_hex(bad, &back), 0, "upper-case hex parses");
	ok(!memcmp(h.b, back.b, MFS_HASH_LEN), "upper-case hex gives the same hash");

	memset(keep.b, 0x5a, MFS_HASH_LEN);
	back = keep;
	strcpy(bad, hex);
	bad[17] = 'g';
	is_int(mfs_hash_from_hex(bad, &back), -EINVAL, "non-hex digit rejected");
	ok(!memcmp(back.b, keep.b, MFS_HASH_LEN), "output untouched on error");
	strcpy(bad, hex);
	bad[63] = '\0';
	is_int(mfs_hash_from_hex(bad, &back), -EINVAL, "63 digits rejected");
	strcpy(bad, hex);
	bad[0] = '\0';
	is_int(mfs_hash_from_hex(bad, &back), -EINVAL, "empty string rejected");
	strcpy(bad, hex);
	bad[64] = '0';
	bad[65] = '\0';
	is_int(mfs_hash_from_hex(bad, &back), -EINVAL, "65 digits rejected");
	strcpy(bad, hex);
	bad[10] = ' ';
	is_int(mfs_hash_from_hex(bad, &back), -EINVAL, "embedded space rejected");
}

int main(void)
{
	uint8_t *pat = malloc(1048576);

	if (!pat)
		tap_bail("out of memory");
	for (size_t i = 0; i < 1048576; i++)
		pat[i] = pattern_byte(i);
	test_sha256();
	test_sha256_pair();
	test_sha256_many();
	test_xxh64(pat);
	test_xxh64_streaming(pat);
	test_hex();
	free(pat);
	return done_testing();
}
