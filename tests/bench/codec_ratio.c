/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec_ratio: what the chunk codecs do with real files.
 *
 *   codec_ratio [--all] FILE...
 *
 * Chunks each file as ingest does (mfs_chunker_cut), encodes every chunk
 * with plain zstd and with the automatic choice, decodes both back (checking
 * the bytes), and prints per file and in total: raw, zstd and auto bytes,
 * the ratios raw/zstd and raw/auto, which codecs auto chose, and encode and
 * decode speeds (MB = 10^6 bytes per second of this thread's CPU time, so
 * that other work on the machine skews the figures less).  --all also forces bg2 and
 * bg4 on every chunk and reports "best", the smallest of all codecs per
 * chunk: how far the automatic choice is from an oracle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/chunk/chunker.h"
#include "store/chunk/codec.h"

struct tally {
	unsigned long long raw, zstd, autos, bg2, bg4, best;
	unsigned long long chunks, mix[MFS_CODEC_COUNT];
	double enc_zstd, enc_auto, dec_zstd, dec_auto;	/* seconds */
};

static struct mfs_codec_ctx *ctx;
static uint8_t *rec, *back;
static size_t rec_cap;
static int all;

/* Seconds of CPU time used by this thread. */
static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Encodes p[0..n) as codec, adds the time to *enc; returns the record length. */
static ssize_t encode(const uint8_t *p, size_t n, int codec, double *enc)
{
	double t = now();
	ssize_t r = mfs_chunk_encode(ctx, p, n, rec, rec_cap, codec);

	*enc += now() - t;
	if (r < 0)
		fprintf(stderr, "codec_ratio: encode (%s): %s\n", mfs_codec_name(codec),
			mfs_strerror((int)r));
	return r;
}

/* Decodes rec[0..reclen), checks it against p[0..n), adds the time to *dec. */
static int verify(size_t reclen, const uint8_t *p, size_t n, double *dec)
{
	double t = now();
	ssize_t r = mfs_chunk_decode(ctx, rec, reclen, back, MFS_CHUNK_MAX);

	*dec += now() - t;
	if (r != (ssize_t)n || memcmp(back, p, n)) {
		fprintf(stderr, "codec_ratio: decode mismatch (%s)\n",
			r < 0 ? mfs_strerror((int)r) : "wrong bytes");
		return -EIO;
	}
	return 0;
}

static int measure_chunk(const uint8_t *p, size_t n, struct tally *t)
{
	struct mfs_chunk_info info;
	double ignore = 0;
	ssize_t z, a, best;

	if ((z = encode(p, n, MFS_CODEC_ZSTD, &t->enc_zstd)) < 0 || verify(z, p, n, &t->dec_zstd))
		return -EIO;
	if ((a = encode(p, n, -1, &t->enc_auto)) < 0 || verify(a, p, n, &t->dec_auto) ||
	    mfs_chunk_peek(rec, a, &info))
		return -EIO;
	t->zstd += z - MFS_CHUNK_HDR_SIZE;
	t->autos += a - MFS_CHUNK_HDR_SIZE;
	t->mix[info.codec]++;
	t->raw += n;
	t->chunks++;
	if (all) {
		ssize_t b2 = encode(p, n, MFS_CODEC_ZSTD_BG2, &ignore);
		ssize_t b4 = encode(p, n, MFS_CODEC_ZSTD_BG4, &ignore);

		if (b2 < 0 || b4 < 0)
			return -EIO;
		t->bg2 += b2 - MFS_CHUNK_HDR_SIZE;
		t->bg4 += b4 - MFS_CHUNK_HDR_SIZE;
		best = (ssize_t)n + MFS_CHUNK_HDR_SIZE;
		best = z < best ? z : best;
		best = b2 < best ? b2 : best;
		best = b4 < best ? b4 : best;
		t->best += best - MFS_CHUNK_HDR_SIZE;
	}
	return 0;
}

static void print_tally(const char *name, const struct tally *t)
{
	double mb = t->raw / 1e6;

	printf("%s: %llu chunks, raw %llu, zstd %llu (%.4fx), auto %llu (%.4fx)\n", name,
	       t->chunks, t->raw, t->zstd, (double)t->raw / t->zstd, t->autos,
	       (double)t->raw / t->autos);
	if (all)
		printf("  forced bg2 %llu (%.4fx), bg4 %llu (%.4fx), best per chunk %llu (%.4fx)\n",
		       t->bg2, (double)t->raw / t->bg2, t->bg4, (double)t->raw / t->bg4, t->best,
		       (double)t->raw / t->best);
	printf("  auto chose:");
	for (int c = 0; c < MFS_CODEC_COUNT; c++)
		printf(" %s %llu", mfs_codec_name(c), t->mix[c]);
	printf("\n  encode MB/s: zstd %.0f, auto %.0f; decode MB/s: zstd %.0f, auto %.0f\n",
	       mb / t->enc_zstd, mb / t->enc_auto, mb / t->dec_zstd, mb / t->dec_auto);
}

static void add_tally(struct tally *sum, const struct tally *t)
{
	sum->raw += t->raw;
	sum->zstd += t->zstd;
	sum->autos += t->autos;
	sum->bg2 += t->bg2;
	sum->bg4 += t->bg4;
	sum->best += t->best;
	sum->chunks += t->chunks;
	for (int c = 0; c < MFS_CODEC_COUNT; c++)
		sum->mix[c] += t->mix[c];
	sum->enc_zstd += t->enc_zstd;
	sum->enc_auto += t->enc_auto;
	sum->dec_zstd += t->dec_zstd;
	sum->dec_auto += t->dec_auto;
}

static int measure_file(const char *path, struct tally *t)
{
	struct stat st;
	uint8_t *map;
	size_t off = 0;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st)) {
		rc = -errno;
		fprintf(stderr, "codec_ratio: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "codec_ratio: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	/* The whole file is visible, so every cut is final (chunker.h). */
	while (off < (size_t)st.st_size && !rc) {
		size_t n = mfs_chunker_cut(map + off, st.st_size - off);

		rc = measure_chunk(map + off, n, t);
		off += n;
	}
	munmap(map, st.st_size);
	return rc;
}

int main(int argc, char **argv)
{
	struct tally sum = { 0 };
	int i = 1, files = 0, rc = 0;

	if (i < argc && !strcmp(argv[i], "--all")) {
		all = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: codec_ratio [--all] FILE...\n");
		return 2;
	}
	rec_cap = mfs_chunk_record_bound(MFS_CHUNK_MAX);
	rec = malloc(rec_cap);
	back = malloc(MFS_CHUNK_MAX);
	ctx = mfs_codec_ctx_new();
	if (!rec || !back || !ctx) {
		fprintf(stderr, "codec_ratio: out of memory\n");
		return 1;
	}
	for (; i < argc; i++) {
		struct tally t = { 0 };

		if (measure_file(argv[i], &t)) {
			rc = 1;
			continue;
		}
		if (!t.chunks)
			continue;
		print_tally(argv[i], &t);
		add_tally(&sum, &t);
		files++;
	}
	if (files > 1)
		print_tally("total", &sum);
	mfs_codec_ctx_free(ctx);
	free(rec);
	free(back);
	return rc;
}
