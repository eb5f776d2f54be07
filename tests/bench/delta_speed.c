/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode cost of fine-tune deltas against plain chunks, in one stopped
 * node's store (store/chunk/delta.h): every chunk is loaded (as a read
 * does: checksum, decode, and for a delta its bases' ranges and the
 * rebuilt bytes' XXH64) `reps` times, and the CPU time per GiB of raw
 * bytes is printed for delta chunks and for plain (split/zstd/raw) ones.
 * With a base and its fine-tune in the store, the plain chunks are the
 * base's: the same tensors, coded plainly.  The page cache is warm after
 * the first rep: this is decode CPU, not I/O.  Chunks are loaded in the
 * order of their records in the packs, i.e. in the order the files were
 * written, as a sequential read of each file loads them (a delta's
 * neighbours share base chunks).  With ONLY (delta or plain) only those
 * chunks are loaded, so that a profile (perf record) sees one kind; with
 * ONLY warm, only delta chunks, their bases' bytes taken from the plain
 * chunks decoded beforehand (mfs_delta_src_set, as the chunk cache does
 * when a base was read recently).
 *   delta_speed DATA [reps [delta|plain|warm]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/delta.h"
#include "store/kv/db.h"

struct item {
	struct mfs_hash h;
	struct mfs_chunk_summary s;
};

static int by_place(const void *a, const void *b)
{
	const struct mfs_chunk_summary *x = &((const struct item *)a)->s;
	const struct mfs_chunk_summary *y = &((const struct item *)b)->s;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return (x->off > y->off) - (x->off < y->off);
}

/* Every indexed chunk, in pack order. */
static struct item *chunks(struct mfs_db *db, size_t *n)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	struct item *v = NULL;
	size_t cap = 0;

	*n = 0;
	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *val = mfs_iter_value(it, &vl);

		if (*n == cap && !(v = realloc(v, (cap = cap ? 2 * cap : 256) * sizeof(*v))))
			exit(1);
		if (kl != MFS_HASH_LEN || mfs_chunk_summary_decode(val, vl, &v[*n].s))
			continue;
		memcpy(v[(*n)++].h.b, k, MFS_HASH_LEN);
	}
	mfs_iter_free(it);
	qsort(v, *n, sizeof(*v), by_place);
	return v;
}

/* The plain chunks decoded up front: the warm run's base source. */
static struct item *warm_items;
static struct mfs_chunk_bytes *warm_bytes;
static size_t warm_n;

static const uint8_t *warm_get(void *arg, const struct mfs_hash *h, size_t *len, const void **ref)
{
	(void)arg;
	for (size_t i = 0; i < warm_n; i++)
		if (warm_bytes[i].p && !memcmp(warm_items[i].h.b, h->b, MFS_HASH_LEN)) {
			*len = warm_bytes[i].len;
			*ref = NULL;
			return warm_bytes[i].p;
		}
	return NULL;
}

static void warm_put(void *arg, const void *ref)
{
	(void)arg;
	(void)ref;
}

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	int warm = argc > 3 && !strcmp(argv[3], "warm");
	int only = argc > 3 ? !strcmp(argv[3], "delta") || warm : -1;
	const struct mfs_delta_src src = { warm_get, warm_put, NULL };
	double cpu[2] = { 0, 0 };
	unsigned long long bytes[2] = { 0, 0 }, n[2] = { 0, 0 };
	struct mfs_db *db;
	struct item *items;
	size_t nitems;
	char dir[4096];

	if (argc < 2 || !ctx) {
		fprintf(stderr, "usage: delta_speed DATA [reps [delta|plain]]\n");
		return 2;
	}
	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "%s/db", argv[1]);
	if (mfs_store_open(dir, &db))
		return 1;
	items = chunks(db, &nitems);
	if (warm) {
		warm_items = items;
		warm_n = nitems;
		if (!(warm_bytes = calloc(nitems, sizeof(*warm_bytes))))
			return 1;
		for (size_t i = 0; i < nitems; i++)
			if (items[i].s.codec != MFS_CODEC_DELTA &&
			    mfs_chunk_load(db, ctx, &items[i].h, &warm_bytes[i], 0))
				return 1;
		mfs_delta_src_set(&src);
	}
	for (int r = 0; r <= reps; r++) {
		for (size_t i = 0; i < nitems; i++) {
			struct mfs_chunk_bytes b;
			int d = items[i].s.codec == MFS_CODEC_DELTA;
			double t0;

			if (only >= 0 && d != only)
				continue;
			t0 = cpu_now();

			if (mfs_chunk_load(db, ctx, &items[i].h, &b, 0)) {
				fprintf(stderr, "a chunk does not load\n");
				return 1;
			}
			if (r) { /* rep 0 warms the page cache */
				cpu[d] += cpu_now() - t0;
				bytes[d] += b.len;
				n[d]++;
			}
			mfs_chunk_bytes_release(&b);
		}
	}
	for (size_t i = 0; warm_bytes && i < nitems; i++)
		mfs_chunk_bytes_release(&warm_bytes[i]);
	free(warm_bytes);
	free(items);
	for (int d = 0; d < 2; d++)
		printf("%s: %llu chunk loads, %.1f MiB, %.3f CPU-s/GiB\n", d ? "delta" : "plain", n[d],
		       bytes[d] / 1048576.0, bytes[d] ? cpu[d] * 1073741824.0 / bytes[d] : 0);
	if (bytes[0] && bytes[1])
		printf("delta/plain: %.2fx\n", (cpu[1] / bytes[1]) / (cpu[0] / bytes[0]));
	{
		uint64_t planes, checked;

		mfs_delta_read_counts(&planes, &checked);
		printf("whole delta reads: %llu by planes, %llu checked; bases from the source: %llu\n",
		       (unsigned long long)planes, (unsigned long long)checked,
		       (unsigned long long)mfs_delta_src_hits());
	}
	mfs_db_close(db);
	mfs_codec_ctx_free(ctx);
	return 0;
}
