/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify_speed: what a fetched chunk's verify costs, one at a time against
 * in batches (issue 10; replica/window.c note 5).
 *
 *   verify_speed [--mib N] FILE
 *
 * FILE (a model) is cut as ingest cuts it and each chunk encoded with the
 * automatic codec, as a holder serves it.  Then, as a reader's window
 * would, every record is decoded into a buffer of a ring of 64 (the
 * decoded bytes leave the cache as on the read path), and its SHA-256
 * taken:
 *   fused   mfs_chunk_decode_sha_unchecked: hashed group by group during
 *           the decode (what main does)
 *   batch K each record decoded (mfs_chunk_decode_unchecked), then the K
 *           decoded chunks hashed together: mfs_sha256_many from 8 on (16
 *           AVX-512 lanes), in SHA-NI pairs under 8
 * Prints CPU-seconds per GiB of raw bytes for decode + hash, this thread's
 * CPU, the passes interleaved (fused, batch 2, ..., fused, ...) and the
 * fastest of REPS rounds shown (other work on a shared machine only adds).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/hash.h"
#include "store/chunk/chunker.h"
#include "store/chunk/codec.h"
#include "tests/bench/bench_util.h"

#define GIB (1024.0 * 1024 * 1024)
#define RING 64
#define REPS 4

struct rec {
	uint8_t *p;
	size_t n, raw;
	struct mfs_hash h;
};

static uint8_t *ring[RING];

/* One pass over every record, k at a time (k 0: fused); CPU-s, or -1 if a digest is wrong. */
static double pass(struct mfs_codec_ctx *ctx, struct rec *r, size_t nrec, int k)
{
	double t0 = bench_cpu_now();
	size_t slot = 0;

	for (size_t i = 0; i < nrec;) {
		const void *p[16];
		size_t n[16];
		struct mfs_hash got[16];
		int m = 0, rc = 0, j = 0;

		if (!k) {
			if (mfs_chunk_decode_sha_unchecked(ctx, r[i].p, r[i].n, ring[slot], MFS_CHUNK_MAX,
							   &got[0]) != (ssize_t)r[i].raw ||
			    memcmp(got[0].b, r[i].h.b, MFS_HASH_LEN))
				return -1;
			slot = (slot + 1) % RING;
			i++;
			continue;
		}
		for (; m < k && i + (size_t)m < nrec; m++) {
			if (mfs_chunk_decode_unchecked(ctx, r[i + m].p, r[i + m].n, ring[slot],
						       MFS_CHUNK_MAX) != (ssize_t)r[i + m].raw)
				return -1;
			p[m] = ring[slot];
			n[m] = r[i + m].raw;
			slot = (slot + 1) % RING;
		}
		if (m >= 8) {
			rc = mfs_sha256_many(p, n, m, got);
		} else {
			for (; j + 1 < m && !rc; j += 2)
				rc = mfs_sha256_pair(p[j], n[j], &got[j], p[j + 1], n[j + 1], &got[j + 1]);
			if (j < m && !rc)
				rc = mfs_sha256(p[j], n[j], &got[j]);
		}
		for (j = 0; j < m; j++)
			if (rc || memcmp(got[j].b, r[i + j].h.b, MFS_HASH_LEN))
				return -1;
		i += (size_t)m;
	}
	return bench_cpu_now() - t0;
}

int main(int argc, char **argv)
{
	static const int ks[] = { 0, 1, 2, 4, 8, 12, 16 };
	enum { NK = sizeof(ks) / sizeof(ks[0]) };
	size_t min_mib = 1024, len, nrec = 0, off = 0, cap = mfs_chunk_record_bound(MFS_CHUNK_MAX);
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	double best[NK];
	struct rec *r;
	uint8_t *buf;
	int a = 1;

	if (argc > 2 && !strcmp(argv[1], "--mib")) {
		min_mib = strtoul(argv[2], NULL, 10);
		a = 3;
	}
	if (a != argc - 1 || !ctx || !(buf = bench_read_file(argv[a], &len)) || !len) {
		fprintf(stderr, "usage: verify_speed [--mib N] FILE\n");
		return 2;
	}
	if (!(r = calloc(len / MFS_CHUNK_MIN + 2, sizeof(*r))))
		return 1;
	while (off < len) {
		size_t n = mfs_chunker_cut(buf + off, len - off);
		ssize_t got;

		if (!(r[nrec].p = malloc(cap)) || mfs_sha256(buf + off, n, &r[nrec].h))
			return 1;
		if ((got = mfs_chunk_encode(ctx, buf + off, n, r[nrec].p, cap, -1)) < 0)
			return 1;
		r[nrec].n = (size_t)got;
		r[nrec++].raw = n;
		off += n;
	}
	free(buf);
	for (int i = 0; i < RING; i++)
		if (!(ring[i] = malloc(MFS_CHUNK_MAX)))
			return 1;
	for (int i = 0; i < NK; i++)
		best[i] = 1e30;
	printf("verify_speed: %zu chunks, %.0f MiB; lanes %s\n", nrec, len / 1048576.0,
	       mfs_sha256_many_lanes() ? "yes" : "no");
	for (int rep = 0; rep < REPS; rep++)
		for (int i = 0; i < NK; i++) {
			double t = 0, done = 0;

			do {
				double s = pass(ctx, r, nrec, ks[i]);

				if (s < 0) {
					fprintf(stderr, "verify_speed: a digest is wrong (k %d)\n", ks[i]);
					return 1;
				}
				t += s;
				done += (double)len;
			} while (done < (double)min_mib * 1048576.0);
			t /= done / GIB;
			best[i] = t < best[i] ? t : best[i];
		}
	printf("| how | decode + SHA-256, CPU-s/GiB |\n|---|---:|\n");
	for (int i = 0; i < NK; i++)
		if (ks[i])
			printf("| decode, then batch of %d | %.3f |\n", ks[i], best[i]);
		else
			printf("| fused (main) | %.3f |\n", best[i]);
	return 0;
}
