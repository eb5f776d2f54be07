/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016) with
 * normalised chunking at level 2.
 *
 * A gear hash rolls over the input, fp = (fp << 1) + gear[byte], so bit k of
 * fp depends on the last k + 1 bytes only and the top bits on the last 64.
 * A chunk ends after the first byte where the masked top bits of fp are all
 * zero.  Normalisation makes the sizes cluster round MFS_CHUNK_AVG: before
 * it the mask has 2 more bits than log2(AVG) (a cut is 4x less likely),
 * after it 2 fewer (4x more likely).  The first MFS_CHUNK_MIN bytes are
 * skipped outright; hashing restarts 64 bytes before MIN so that the hash at
 * every candidate cut covers a full 64-byte window and a cut stays a
 * function of the bytes just before it, wherever the chunk began.
 *
 * Format: the table, the masks and the window rule decide every boundary,
 * so changing any of them changes every chunk (and defeats dedup against
 * stored data).  tests/unit/test_chunker.c pins the boundaries of a fixed
 * input; a change there means a new chunking version in doc/format.md.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunker.h"
#include "store/base/bytes.h"

/*
 * The masks select the top bits of fp, the ones with the longest memory.
 * 2^20 = MFS_CHUNK_AVG; normalisation level 2 gives 22 and 18 bits.
 */
#define MASK_BITS_S 22
#define MASK_BITS_L 18
#define WINDOW 64

/*
 * gear[i] = the (i+1)th output of splitmix64 seeded with
 * 0x6d6f64656c667331 ("modelfs1"), i.e. for i in 0..255:
 *	state += 0x9e3779b97f4a7c15;
 *	z = state;
 *	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
 *	gear[i] = z ^ (z >> 31);
 * Generated once and pasted: part of the format, never regenerate with
 * another seed.
 */
static const uint64_t gear[256] = {
	0x37f0ca40bab37f1bULL, 0x91762927be6aeaddULL, 0x13c58ea8daa738e3ULL, 0xb8cb21c15cefb73aULL,
	0xa1f64dacf811aa50ULL, 0x59e6197ca72ce64fULL, 0xd545779466457c10ULL, 0xbf363bbbe0cbf292ULL,
	0x148371c12bd715f5ULL, 0x65643446d88620afULL, 0x4302ffe63a3201ccULL, 0xe4e48e6cf6f8a9b8ULL,
	0x4b9048011f5d8883ULL, 0x1220c2b22f895cc2ULL, 0x67955eed486d783bULL, 0x5d242fb9f94517aaULL,
	0x9866e8c599532579ULL, 0xd88e28d2f725f062ULL, 0xc968e48f60b4adcbULL, 0x88795d3f62cdde99ULL,
	0xc2afd5f07ff7d523ULL, 0x109a1bd16c3444f7ULL, 0x5b0c81f9bb1ac8efULL, 0xed1565aa358e191aULL,
	0xb539dc8187347310ULL, 0x777aad90144edad7ULL, 0x487592ffed0286d2ULL, 0xbe4455bd78119351ULL,
	0x0a8ec7ce470d160eULL, 0x55e4a2cc7c002ea8ULL, 0x0c5b3d31f85a693cULL, 0xa10535dee4dd878fULL,
	0x4ff30e8c9a7b34bfULL, 0x47b47fc0702d90faULL, 0xf6307d3df15fa59fULL, 0xd3ce828c4141ec4aULL,
	0xe37af9cd920d0b1eULL, 0x38b7b31c0936abf5ULL, 0x32807e3dd7723694ULL, 0xad86d83dcd131aefULL,
	0x317fb7a42298a7e5ULL, 0x93adb9a7a6627cb3ULL, 0x8a7ab6fdf1549013ULL, 0x2fd0a9d3b60e260bULL,
	0x02cda083875fad86ULL, 0xed339e5390a932cfULL, 0x8432d7136adf1003ULL, 0x9b151f88af3c80b4ULL,
	0x374668fc92710eb9ULL, 0xbf6b3d481f2c847dULL, 0x4da1b1c78fa987b1ULL, 0xccf261947ecfbe37ULL,
	0x53f70fdf063f5621ULL, 0xe842e90e6536fde5ULL, 0xd47b403fbf981863ULL, 0x84f4fff7fb09bf81ULL,
	0xf2b667f700808b7dULL, 0x489de30669354bd2ULL, 0x30d413eadf77c1a6ULL, 0xbff94f9bee001e50ULL,
	0x3f178b5b6f90994aULL, 0x06070946a71b0a40ULL, 0x02ad3d6e859c9d10ULL, 0x27400852a5106386ULL,
	0x2e7ea8b125f7dee3ULL, 0xa5e4f98ac40a3b7aULL, 0x6d7bd3c35484dc12ULL, 0xc49f2ed6e40d76d8ULL,
	0x6e63eeaefe7c11b4ULL, 0xafa478689a8997b8ULL, 0xbcc769a25676df97ULL, 0xf39ca11468b55bfbULL,
	0xc187137f3263f6ffULL, 0x53c3615e9c29c192ULL, 0xc09337758e21982bULL, 0x9494dac4e3a00326ULL,
	0x6713c10bc73418dfULL, 0x927cce7a13d5dc2cULL, 0x2aef951b2db8c66cULL, 0xc0caf9c9734fe8deULL,
	0x8bb25fd254113cfeULL, 0x68b4bcb761f49b77ULL, 0x0f2011b1c7693bffULL, 0xec98a175f17c199fULL,
	0x7e7164214d2dd9faULL, 0xcf9d65ef5486b547ULL, 0x814678d445c00f5dULL, 0x301cddf74d58119dULL,
	0x52a7cfdb72625194ULL, 0xf1c50166f5bd1d12ULL, 0x6911a16ebb395f7fULL, 0x3f08a46669c570d4ULL,
	0xdce91b62d4e8f262ULL, 0x4bd789b5d0f42157ULL, 0x18bbed15bab9ce82ULL, 0xeceef70430665a08ULL,
	0x87e77718e85604eeULL, 0x5727f1c13e9a2a71ULL, 0x957e94bdb8d3a30fULL, 0xfa229e8de43a4667ULL,
	0x521170a8837187b4ULL, 0x48e847d72a64ac79ULL, 0x99529fe5246e8ab3ULL, 0x0d07bcc80fb4b008ULL,
	0x060256771ad6f1d6ULL, 0x85eb9477aaf20cc4ULL, 0x54c1638e1ba24e35ULL, 0x8e806773dec255d7ULL,
	0x33528f3003f1b67dULL, 0xb6810c8fd30df3b5ULL, 0x3804fed50242ee0dULL, 0xb65a934c6786eab9ULL,
	0x59b19945bf8415f6ULL, 0xc25c05418b643ab7ULL, 0xa6a13f144a687773ULL, 0x7ad0b96c90c80db1ULL,
	0x1279fecf51a4dbe9ULL, 0x9361991ad3a6a724ULL, 0xfcbd193b6227db71ULL, 0xd892f3d20b0adedfULL,
	0xc7fc1ad0014a869fULL, 0x5e1eeb0301732371ULL, 0x8b6c3612bc6d5285ULL, 0xb37e18589b9fd861ULL,
	0x360613d5dd580624ULL, 0xced9c6e0546b28b2ULL, 0x5cd8375cb72b71f1ULL, 0x21e2c2b85414b1ffULL,
	0xa0dc542aa9585f9aULL, 0xcb47d9e55bd50c5fULL, 0xea5a711338ffc640ULL, 0xdb9379fa30f09b47ULL,
	0x61fa0f827f66b23cULL, 0x538697b7b04aa6c1ULL, 0x2446ada2af339ff3ULL, 0x5a2e96a541c81dd1ULL,
	0x41d4c296096acb2eULL, 0x46fd267844a22218ULL, 0x274e63f4942c03e2ULL, 0xf33e525338c73f3aULL,
	0xda08c94cc4d3fc31ULL, 0xa4f7975e6b0c04c4ULL, 0xe175b45072b4f1bcULL, 0x1a390f50368a6c95ULL,
	0xbc432692e6276d5dULL, 0x9d44bdbc9c7ccbcbULL, 0x46c63669ab556c04ULL, 0xbbafaba8451d3bc3ULL,
	0xea9d0f3fdda92989ULL, 0x6f96cde9ec246090ULL, 0xd638dce35d63b556ULL, 0xaf2cec149b60a108ULL,
	0x17bee23516528028ULL, 0x593686b54bd761dfULL, 0x95de770053a6bba1ULL, 0xca7ec63a1d129dfdULL,
	0xafe5a3e157836497ULL, 0x09c7961851853360ULL, 0x33cbc97e41245107ULL, 0x7985d591ea34eed9ULL,
	0x29d2feedb0067e7cULL, 0x0ebc73605ce52ec1ULL, 0xae165832cea1ad4dULL, 0xf661f6f396f41bc9ULL,
	0x855b748d8facf6e0ULL, 0xecfbde42b554c4dbULL, 0x877a27a99eeeb3dcULL, 0xab68aaef95f329e2ULL,
	0x7209ac4a60acaf1fULL, 0x6ac44786731326a5ULL, 0xe866754072de24b9ULL, 0xbf3b1c0ce2e35ac2ULL,
	0xbe4004e59a54a4caULL, 0x37f38c815d24b81aULL, 0xcc7374a19987f056ULL, 0x1ee54adfe0c7a661ULL,
	0x550bb419828f2c3dULL, 0x22d2b5d16366213cULL, 0x077611f803bd5003ULL, 0xdc9d08557a40a283ULL,
	0x2b32dc12471e43a1ULL, 0xa6c896bc84858e42ULL, 0x83fee564bf1912dfULL, 0x94c3cf06539bed31ULL,
	0x39afd45cece64dfaULL, 0x5125e1a37745ec69ULL, 0xe714711745e434adULL, 0x595054401bb6829bULL,
	0x5fb687e820e3054fULL, 0x2bbcca3a8ab929e2ULL, 0xe105c097d4dc6f14ULL, 0xa9c3e28fb84a172eULL,
	0xc25ce0a61608fea2ULL, 0x147a5099cc9da379ULL, 0xb4fb241729dbdfbaULL, 0xc3f6db4aaa8fa659ULL,
	0x3cf711a93bfe37d1ULL, 0xc6409a02b2a2ec16ULL, 0x029a2c985ba5a5afULL, 0x1550dd8ed8fab07aULL,
	0x211553e2f0d3422dULL, 0xc19d52f868e4df1bULL, 0x267c9a8c4b5949a4ULL, 0xa1644b4fc1c2d455ULL,
	0x5090aa1847559592ULL, 0x35782949a1a8a54bULL, 0xa9328556950393f8ULL, 0xd313e1fc2f1ffc6bULL,
	0x9979a96adbfe8e5cULL, 0x1a653fc2d04405c3ULL, 0xcdeba038f7880aa4ULL, 0xe7885ff9cbfa8607ULL,
	0x8085895f010fe440ULL, 0x75b46ceff59ee4b0ULL, 0x1f8a4af11cc7e05aULL, 0x00dd21303f4fdf8cULL,
	0x5ac1e70705f5106dULL, 0x3c21edcd1b78ab40ULL, 0xaf1d9fd8f39e667fULL, 0xc1ef6c3e2ddb0996ULL,
	0x52ecd3ffaafc1337ULL, 0x3219adcce71ae6feULL, 0x9539e0fe93694132ULL, 0xe6f00ed49d985771ULL,
	0x0bf58234936a33c0ULL, 0x0db8c434c9952e60ULL, 0xdc87f64dd81c4f5dULL, 0xb4b2ec9c7032892dULL,
	0x20f421ea924a8c8eULL, 0xb242943f2d6a175aULL, 0xa86b44e19ceeaa7eULL, 0x569216a42282ab30ULL,
	0x9b45c6ac83baeab1ULL, 0xff01e5641192fc6bULL, 0xe3708ffca71d5a0bULL, 0x04944765edbf4b58ULL,
	0xc7dd21b1df0f1221ULL, 0x281a1948b3a94b0bULL, 0x65ac6b2d5f3dd876ULL, 0x5ac1520c551edadeULL,
	0x8a5a54c3feaf0e60ULL, 0xcf71c4d4b4b0e3b1ULL, 0xa3f1110f3d14c6dfULL, 0x8473a24a1095939cULL,
	0x3a95252e98d13842ULL, 0x264a40e6042eb47eULL, 0xe12e8cdc0470771eULL, 0x1b71ede0758a088fULL,
	0x62038ccceb9aeb78ULL, 0xf2d6d1007deef24eULL, 0xe7ec31a43caf9c52ULL, 0xdd1798a06208ba9dULL,
	0xa90eaf2216bdb417ULL, 0xbf6602372ebe53dbULL, 0x3426a154f0b79cd4ULL, 0x8a2f69aea0a2d5b8ULL,
};

/*
 * fp & mask == 0, for a mask of the top `bits` bits, is fp < 2^(64 - bits):
 * one compare.  The scan is unrolled by 8 (a step is a load, a table load,
 * an LEA and a fused compare-and-branch; the loop's own count and branch
 * were a third of it): the cuts are the same, byte for byte.
 */
#define BELOW_S (1ULL << (64 - MASK_BITS_S))
#define BELOW_L (1ULL << (64 - MASK_BITS_L))
#define STEP(k, below)                                  \
	do {                                            \
		fp = (fp << 1) + gear[p[k]];            \
		if (fp < (below))                       \
			return (size_t)(p - buf) + (k) + 1; \
	} while (0)

/* Scans buf[i..end) for a cut under below; the cut, or 0 with *fpp updated. */
static inline size_t scan(const uint8_t *buf, size_t i, size_t end, uint64_t *fpp, uint64_t below)
{
	const uint8_t *p = buf + i;
	uint64_t fp = *fpp;

	for (; p + 8 <= buf + end; p += 8) {
		STEP(0, below);
		STEP(1, below);
		STEP(2, below);
		STEP(3, below);
		STEP(4, below);
		STEP(5, below);
		STEP(6, below);
		STEP(7, below);
	}
	for (; p < buf + end; p++)
		STEP(0, below);
	*fpp = fp;
	return 0;
}

/*
 * The scan in lanes, with AVX-512 where the CPU has it.  fp after byte j
 * is the sum of gear[buf[j - k]] << k for k in 0..63 (older bytes are
 * shifted out), so it can be computed afresh from the 64 bytes before any
 * position at or past MFS_CHUNK_MIN: a cut does not depend on where the
 * hashing started.  The serial scan is one chain (fp = 2 fp + gear) per
 * byte, about 2 cycles a byte here; LANES chains over consecutive
 * stretches of a block, a table gather per step for all of them, take 0.28
 * instead of 0.56 CPU-s per GiB of FP16 weights (issue 10).  A block where
 * some lane meets a cut is scanned again serially, which finds the first
 * one (about one block per chunk).  The cuts are the same, byte for byte:
 * test_chunker compares both ways with its reference on every input.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MFS_NO_LANES)
#include <immintrin.h>
#define HAVE_LANES 1
#define LANES 8
#define LANE_LEN 4096u
#define BLOCK (LANES * LANE_LEN)

/* fp after buf[at - 1], hashed from buf[at - WINDOW]; at >= WINDOW. */
static inline uint64_t warm(const uint8_t *buf, size_t at)
{
	uint64_t fp = 0;

	for (size_t j = at - WINDOW; j < at; j++)
		fp = (fp << 1) + gear[buf[j]];
	return fp;
}

/* One step of every lane: byte j of each lane's word w. */
#define LANE_STEP(j)                                                                          \
	(fp = _mm512_add_epi64(_mm512_add_epi64(fp, fp),                                      \
			       _mm512_i64gather_epi64(                                         \
				       _mm512_and_si512(_mm512_srli_epi64(w, 8 * (j)), ff),   \
				       (const void *)gear, 8)))

/* Whether some position of buf[b, b + BLOCK) has fp < below; b >= WINDOW. */
__attribute__((target("avx512f"))) static int lanes_hit(const uint8_t *buf, size_t b,
							  uint64_t below)
{
	const __m512i at = _mm512_setr_epi64(0, LANE_LEN, 2 * LANE_LEN, 3 * LANE_LEN,
					     4 * LANE_LEN, 5 * LANE_LEN, 6 * LANE_LEN,
					     7 * LANE_LEN);
	const __m512i ff = _mm512_set1_epi64(0xff), lim = _mm512_set1_epi64((long long)below);
	const uint8_t *p = buf + b - WINDOW;
	__m512i fp = _mm512_setzero_si512(), w;
	__mmask8 hit = 0;
	size_t k;

	/* The 64 bytes before each lane: its hash, no cut there (another lane's). */
	for (k = 0; k < WINDOW; k += 8) {
		w = _mm512_i64gather_epi64(at, (const void *)(p + k), 1);
		for (int j = 0; j < 8; j++)
			LANE_STEP(j);
	}
	for (; k < WINDOW + LANE_LEN; k += 8) {
		w = _mm512_i64gather_epi64(at, (const void *)(p + k), 1);
		for (int j = 0; j < 8; j++) {
			LANE_STEP(j);
			hit |= _mm512_cmplt_epu64_mask(fp, lim);
		}
		if (hit)
			return 1;
	}
	return 0;
}

/* -1: not decided yet; 0: serial; 1: lanes (mfs_chunker_lanes). */
static int lanes_state = -1;

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/*
 * Whether the lanes scan is the faster one on this CPU, timed once on
 * CALIBRATE bytes of noise (a below of 0 is met nowhere: both scan it
 * all), the best of three passes each.  Which one wins is the CPU's
 * business: where the lanes were written they took 0.31 CPU-s per GiB
 * of FP16 weights against the serial 0.58, but on issue 10's VM now
 * (AMD family 26, whose 512-bit gathers are slow) 0.60-0.76 against
 * 0.27-0.48, and lanes_hit was a fifth of the daemon's CPU in a cp
 * (1.0 of 4.55 CPU-s/GiB).  The cuts are the same either way; the
 * timing costs about a millisecond, once per process.
 */
#define CALIBRATE (8 * BLOCK)

static int lanes_faster(void)
{
	uint8_t *buf = malloc(WINDOW + CALIBRATE);
	double best[2] = { 1e9, 1e9 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	volatile uint64_t never = 0; /* not folded away */
	int hits = 0;

	if (!buf)
		return 1;
	for (size_t i = 0; i < WINDOW + CALIBRATE; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (int pass = 0; pass < 3; pass++) {
		double t0 = thread_cpu(), t1, t2;
		uint64_t fp = 0;

		for (size_t b = WINDOW; b < WINDOW + CALIBRATE; b += BLOCK)
			hits += lanes_hit(buf, b, never);
		t1 = thread_cpu();
		hits += scan(buf, WINDOW, WINDOW + CALIBRATE, &fp, never) != 0;
		t2 = thread_cpu();
		hits += fp == never; /* fp is used: the serial scan is not left out */
		if (t1 - t0 < best[1])
			best[1] = t1 - t0;
		if (t2 - t1 < best[0])
			best[0] = t2 - t1;
	}
	free(buf);
	return !hits && best[1] < best[0];
}

static int lanes_on(void)
{
	int on = __atomic_load_n(&lanes_state, __ATOMIC_RELAXED);

	if (on < 0) {
		on = __builtin_cpu_supports("avx512f") && lanes_faster() ? 1 : 0;
		__atomic_store_n(&lanes_state, on, __ATOMIC_RELAXED);
	}
	return on;
}

int mfs_chunker_lanes(int on)
{
	__atomic_store_n(&lanes_state, on && __builtin_cpu_supports("avx512f"), __ATOMIC_RELAXED);
	return lanes_on();
}
#else
int mfs_chunker_lanes(int on)
{
	(void)on;
	return 0;
}
#endif

/*
 * The first cut under below in buf[i..end), or 0; i >= MFS_CHUNK_MIN, so
 * the 64 bytes before i are in the chunk's hashed window.
 */
static size_t scan_from(const uint8_t *buf, size_t i, size_t end, uint64_t below)
{
	uint64_t fp;

#ifdef HAVE_LANES
	if (lanes_on()) {
		size_t cut;

		for (; i + BLOCK <= end; i += BLOCK) {
			if (!lanes_hit(buf, i, below))
				continue;
			fp = warm(buf, i);
			if ((cut = scan(buf, i, i + BLOCK, &fp, below)))
				return cut;
		}
		if (i >= end)
			return 0;
	}
#endif
	fp = 0;
	for (size_t j = i - WINDOW; j < i; j++)
		fp = (fp << 1) + gear[buf[j]];
	return scan(buf, i, end, &fp, below);
}

static size_t cut_scan(const uint8_t *buf, size_t n);

/*
 * Where a run of MFS_CHUNK_MAX zero bytes is cut (a sparse file's holes, a
 * model's zero padding): found once by the scan itself, so the cuts stay
 * byte for byte those of the scan; a zero run then costs a memcmp instead
 * of a scan (30 % of a `truncate -s 4G`'s commit).
 */
static size_t zero_cut;
static pthread_once_t zero_cut_once = PTHREAD_ONCE_INIT;

static void zero_cut_find(void)
{
	uint8_t *z = calloc(1, MFS_CHUNK_MAX);

	zero_cut = z ? cut_scan(z, MFS_CHUNK_MAX) : 0;
	free(z);
}

size_t mfs_chunker_zero_cut(void)
{
	pthread_once(&zero_cut_once, zero_cut_find);
	return zero_cut;
}

size_t mfs_chunker_cut(const uint8_t *buf, size_t len)
{
	size_t n = len < MFS_CHUNK_MAX ? len : MFS_CHUNK_MAX;

	if (n == MFS_CHUNK_MAX && !buf[0] && !buf[MFS_CHUNK_MIN]) {
		pthread_once(&zero_cut_once, zero_cut_find);
		if (zero_cut && mfs_all_zero(buf, zero_cut))
			return zero_cut;
	}
	return cut_scan(buf, n);
}

/* The cut of buf[0..n), n <= MFS_CHUNK_MAX, by the scan. */
static size_t cut_scan(const uint8_t *buf, size_t n)
{
	size_t normal = n < MFS_CHUNK_AVG ? n : MFS_CHUNK_AVG;
	size_t cut;

	/* No cut can fall before MIN. */
	if (n <= MFS_CHUNK_MIN)
		return n;
	if ((cut = scan_from(buf, MFS_CHUNK_MIN, normal, BELOW_S)))
		return cut;
	if ((cut = scan_from(buf, normal > MFS_CHUNK_MIN ? normal : MFS_CHUNK_MIN, n, BELOW_L)))
		return cut;
	return n;
}
