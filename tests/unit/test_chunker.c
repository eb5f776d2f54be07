/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content-defined chunking: size limits, determinism, the boundaries of a
 * fixed input (a format: they decide dedup against stored chunks), and the
 * property the chunker exists for: an insertion only disturbs the chunks
 * around it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/base/hash.h"
#include "store/chunk/chunker.h"
#include "tap.h"

#define DATA_LEN (24u * 1024 * 1024)
#define INSERT_LEN 7

struct chunk {
	size_t off, len;
	struct mfs_hash hash;
};

struct chunk_list {
	struct chunk *v;
	size_t n;
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = splitmix64(&seed);

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* Chunks p[0..n) the way ingest does, hashing each chunk. */
static struct chunk_list chunk_all(const uint8_t *p, size_t n)
{
	struct chunk_list l = { calloc(n / MFS_CHUNK_MIN + 2, sizeof(struct chunk)), 0 };
	size_t off = 0;

	if (!l.v)
		tap_bail("out of memory");
	while (off < n) {
		size_t len = mfs_chunker_cut(p + off, n - off);

		if (len == 0 || len > n - off)
			tap_bail("chunker returned %zu at %zu of %zu", len, off, n);
		l.v[l.n].off = off;
		l.v[l.n].len = len;
		if (mfs_sha256(p + off, len, &l.v[l.n].hash))
			tap_bail("sha256 failed");
		l.n++;
		off += len;
	}
	return l;
}

static int list_has(const struct chunk_list *l, const struct mfs_hash *h)
{
	for (size_t i = 0; i < l->n; i++)
		if (!memcmp(l->v[i].hash.b, h->b, MFS_HASH_LEN))
			return 1;
	return 0;
}

static void test_edges(const uint8_t *data)
{
	is_int(mfs_chunker_cut(data, 0), 0, "empty input gives 0");
	is_int(mfs_chunker_cut(data, 1), 1, "1 byte is one chunk");
	is_int(mfs_chunker_cut(data, MFS_CHUNK_MIN - 1), MFS_CHUNK_MIN - 1, "MIN - 1 bytes are one chunk");
	is_int(mfs_chunker_cut(data, MFS_CHUNK_MIN), MFS_CHUNK_MIN, "MIN bytes are one chunk");
	ok(mfs_chunker_cut(data, MFS_CHUNK_MAX + 1) <= MFS_CHUNK_MAX, "never more than MAX");
}

static void test_sizes(const struct chunk_list *l)
{
	size_t total = 0, bad = 0, min = SIZE_MAX, max = 0;

	for (size_t i = 0; i < l->n; i++) {
		size_t len = l->v[i].len;

		total += len;
		if (i + 1 < l->n) {
			bad += len < MFS_CHUNK_MIN || len > MFS_CHUNK_MAX;
			min = len < min ? len : min;
			max = len > max ? len : max;
		}
	}
	is_int(total, DATA_LEN, "chunks cover the input");
	is_int(bad, 0, "%zu chunks, all but the last in [MIN, MAX] (%zu..%zu)", l->n, min, max);
	/* Normalised chunking aims at AVG; 24 MiB of random data gives ~20 chunks. */
	ok(l->n >= 12 && l->n <= 30, "average size near 1 MiB (%zu chunks)", l->n);
}

/* A cut is final once MAX bytes are visible: more input must not move it. */
static void test_determinism(const uint8_t *data, const struct chunk_list *l)
{
	uint8_t *copy = malloc(MFS_CHUNK_MAX + 1);
	size_t moved = 0;

	if (!copy)
		tap_bail("out of memory");
	for (size_t i = 0; i + 1 < l->n; i++) {
		size_t rest = DATA_LEN - l->v[i].off;
		size_t win = rest < MFS_CHUNK_MAX ? rest : MFS_CHUNK_MAX;

		moved += mfs_chunker_cut(data + l->v[i].off, win) != l->v[i].len;
		/* At another address (alignment must not matter). */
		memcpy(copy + 1, data + l->v[i].off, win);
		moved += mfs_chunker_cut(copy + 1, win) != l->v[i].len;
	}
	is_int(moved, 0, "cuts do not depend on the window beyond MAX or on alignment");
	free(copy);
}

/*
 * The boundaries of fill_random(seed 1): the chunking format.  If this
 * fails the gear table, masks or window rule changed, and every file
 * stored before chunks differently: see store/chunk/chunker.h.
 */
static void test_golden(const struct chunk_list *l)
{
	static const size_t want[] = {
		1092725, 1326533, 1154597, 997662, 1370677, 1120363, 1465832,
		1056891, 1897702, 1726452, 1347407, 1071959, 908093, 1143485,
		1032455, 1051329, 1237057, 1202095, 1837682, 1124828,
	};
	size_t n = sizeof(want) / sizeof(want[0]), same = 0;

	for (size_t i = 0; i < n && i < l->n; i++)
		same += l->v[i].len == want[i];
	is_int(l->n, n, "reference input gives %zu chunks", n);
	is_int(same, n, "boundaries of the reference input unchanged");
}

/*
 * Inserts INSERT_LEN bytes at `at` and counts the chunks after the
 * insertion point that the edit changed: FastCDC resynchronises within a
 * chunk or two.
 */
static void test_insert(const uint8_t *data, const struct chunk_list *orig, size_t at,
			const char *where)
{
	uint8_t *edited = malloc(DATA_LEN + INSERT_LEN);
	size_t after = 0, lost = 0, before = 0, kept_before = 0, fresh = 0;
	struct chunk_list l;

	if (!edited)
		tap_bail("out of memory");
	memcpy(edited, data, at);
	memcpy(edited + at, "INSERT!", INSERT_LEN);
	memcpy(edited + at + INSERT_LEN, data + at, DATA_LEN - at);
	l = chunk_all(edited, DATA_LEN + INSERT_LEN);

	for (size_t i = 0; i < orig->n; i++) {
		const struct chunk *c = &orig->v[i];
		int found = list_has(&l, &c->hash);

		if (c->off + c->len <= at) {
			before++;
			kept_before += found;
		} else if (c->off >= at) {
			after++;
			lost += !found;
		}
	}
	is_int(kept_before, before, "insert at %s: all %zu chunks before it kept", where, before);
	ok(after >= 5 && lost <= 2, "insert at %s: %zu of %zu later chunks kept", where,
	   after - lost, after);
	for (size_t i = 0; i < l.n; i++)
		fresh += !list_has(orig, &l.v[i].hash);
	ok(fresh >= 1 && fresh <= 2, "insert at %s: %zu new chunks stored", where, fresh);
	free(l.v);
	free(edited);
}

/* A run that repeats has no content to cut on: only MAX may end its chunks. */
static void test_run(uint8_t *buf, const void *pat, size_t pat_len, const char *what)
{
	size_t off = 0, bad = 0, n = 0;

	for (size_t i = 0; i < DATA_LEN; i += pat_len)
		memcpy(buf + i, pat, DATA_LEN - i < pat_len ? DATA_LEN - i : pat_len);
	while (off < DATA_LEN) {
		size_t len = mfs_chunker_cut(buf + off, DATA_LEN - off);

		bad += len != MFS_CHUNK_MAX && off + len != DATA_LEN;
		off += len;
		n++;
	}
	is_int(bad, 0, "run of %s cuts at MAX (%zu chunks)", what, n);
}

/*
 * The chunker as specified in store/chunk/chunker.c, one byte at a time, with the
 * gear table rebuilt from its documented recipe: the optimised scan must
 * cut exactly where this does, wherever the data starts and ends.
 */
static uint64_t ref_gear[256];

static void ref_init(void)
{
	uint64_t state = 0x6d6f64656c667331ULL; /* "modelfs1" */

	for (int i = 0; i < 256; i++) {
		uint64_t z;

		state += 0x9e3779b97f4a7c15ULL;
		z = state;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		ref_gear[i] = z ^ (z >> 31);
	}
}

static size_t ref_cut(const uint8_t *buf, size_t len)
{
	size_t n = len < MFS_CHUNK_MAX ? len : MFS_CHUNK_MAX;
	size_t normal = n < MFS_CHUNK_AVG ? n : MFS_CHUNK_AVG;
	uint64_t fp = 0;

	if (n <= MFS_CHUNK_MIN)
		return n;
	for (size_t i = MFS_CHUNK_MIN - 64; i < n; i++) {
		fp = (fp << 1) + ref_gear[buf[i]];
		if (i >= MFS_CHUNK_MIN && !(fp & (~0ULL << (64 - (i < normal ? 22 : 18)))))
			return i + 1;
	}
	return n;
}

static void test_reference(const uint8_t *data)
{
	static const size_t edges[] = { MFS_CHUNK_MIN, MFS_CHUNK_AVG, MFS_CHUNK_MAX };
	uint64_t state = 99;
	size_t bad = 0, tried = 0;

	ref_init();
	for (int i = 0; i < 3000; i++) {
		size_t off = splitmix64(&state) % (DATA_LEN - MFS_CHUNK_MAX - 64);
		size_t len = splitmix64(&state) % (MFS_CHUNK_MAX + 64);

		if (i % 4 == 1) /* lengths at every residue around the normal and max edges */
			len = edges[i % 3] + (size_t)(splitmix64(&state) % 33) - 16;
		bad += mfs_chunker_cut(data + off, len) != ref_cut(data + off, len);
		tried++;
	}
	is_int(bad, 0, "cuts equal the byte-at-a-time reference (%zu random spans)", tried);
}

/*
 * The scan runs in AVX-512 lanes where the CPU has them (chunker.c), and
 * serially elsewhere: both must cut the same.  The tests above ran the
 * default way; the serial scan is checked here against it and against
 * the reference.
 */
static void test_serial(const uint8_t *data, const struct chunk_list *l)
{
	int lanes = mfs_chunker_lanes(1);
	struct chunk_list ser;
	size_t same = 0;

	printf("# scan in lanes: %s\n", lanes ? "yes (AVX-512)" : "no, serial only");
	mfs_chunker_lanes(0);
	ser = chunk_all(data, DATA_LEN);
	for (size_t i = 0; i < ser.n && i < l->n; i++)
		same += ser.v[i].len == l->v[i].len;
	is_int(same == l->n && ser.n == l->n, 1, "the serial scan cuts as the default one (%zu chunks)",
	       ser.n);
	test_reference(data);
	mfs_chunker_lanes(1);
	free(ser.v);
}

static void report_speed(const uint8_t *data)
{
	struct timespec t0, t1;
	size_t off = 0;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < 4; r++)
		for (off = 0; off < DATA_LEN; off += mfs_chunker_cut(data + off, DATA_LEN - off))
			;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	printf("# chunker: %.0f MB/s\n", 4.0 * DATA_LEN / s / 1e6);
}

int main(void)
{
	uint8_t *data = malloc(DATA_LEN);
	struct chunk_list l;
	float one = 1.0f;

	if (!data)
		tap_bail("out of memory");
	fill_random(data, DATA_LEN, 1);
	l = chunk_all(data, DATA_LEN);

	test_edges(data);
	test_sizes(&l);
	test_determinism(data, &l);
	test_golden(&l);
	test_insert(data, &l, 1000, "offset 1000");
	test_insert(data, &l, DATA_LEN / 2 + 12345, "the middle");
	test_reference(data);
	test_serial(data, &l);
	report_speed(data);

	memset(data, 0, DATA_LEN);
	test_run(data, "", 1, "zeros");
	/* A zero run's cut is remembered, not scanned: the same as the reference, */
	is_int(mfs_chunker_cut(data, DATA_LEN), ref_cut(data, DATA_LEN), "zeros cut as the reference does");
	/* and a run that is not all zero up to that cut is scanned. */
	{
		size_t bad = 0, tried = 0;

		for (size_t at = 1; at < MFS_CHUNK_MAX; at = at * 3 + 1, tried++) {
			data[at] = 0x5a;
			bad += mfs_chunker_cut(data, DATA_LEN) != ref_cut(data, DATA_LEN);
			data[at] = 0;
		}
		is_int(bad, 0, "one byte set in a zero run (%zu places): cut as the reference does", tried);
	}
	test_run(data, "\xff", 1, "0xff");
	test_run(data, &one, sizeof(one), "1.0f");
	test_run(data, "modelfs!", 8, "an 8-byte string");
	test_run(data, "a longer repeated pattern, 41 bytes long.", 41, "a 41-byte string");

	free(l.v);
	free(data);
	return done_testing();
}
