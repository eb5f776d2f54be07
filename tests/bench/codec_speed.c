/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec_speed: the CPU cost of every chunk codec, per input.
 *
 *   codec_speed [--mib N] [--codec NAME] INPUT...
 *
 * INPUT is a file, "bf16:FILE" (the upper halves of FILE's FP32 words:
 * what a BF16 cast of those weights stores) or "random" (32 MiB of
 * pseudo-random bytes).  Each input is cut into chunks as ingest cuts
 * them; every codec and auto encode all chunks, and the records decode
 * back (checked once against the input).  Prints one row per input and
 * codec: stored ratio, encode and decode CPU-seconds per GiB of raw bytes
 * (this thread's CPU time, single thread; each pass repeats until N MiB,
 * default 256, went through, so short inputs are timed long enough; the
 * fastest of REPS passes), CPU microseconds per random 4 KiB
 * mfs_chunk_decode_range (what a page fault would cost the codec), and
 * for auto the codecs it chose.  Figures per GiB carry over to other
 * machines better than MB/s on a shared one.  --codec runs only NAME
 * ("auto" or a codec's name), e.g. under perf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/chunk/chunker.h"
#include "store/chunk/codec.h"
#include "tests/bench/bench_util.h"

#define GIB (1024.0 * 1024 * 1024)
#define FAULTS 4000	/* random 4 KiB range decodes per codec */
#define REPS 3	/* the fastest of 3 passes: other work on the machine only adds */

static uint8_t *load(const char *spec, size_t *len)
{
	uint8_t *buf;

	if (!strcmp(spec, "random")) {
		uint64_t s = 88172645463325252ULL;

		*len = 32u << 20;
		if (!(buf = malloc(*len)))
			return NULL;
		for (size_t i = 0; i < *len; i += 8) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			memcpy(buf + i, &s, 8);
		}
		return buf;
	}
	if (!strncmp(spec, "bf16:", 5)) {
		size_t n;

		if (!(buf = bench_read_file(spec + 5, &n)))
			return NULL;
		/* Little endian: bytes 2 and 3 of each FP32 word are its BF16 truncation. */
		for (size_t i = 0; i + 4 <= n; i += 4)
			memmove(buf + i / 2, buf + i + 2, 2);
		*len = n / 4 * 2;
		return buf;
	}
	return bench_read_file(spec, len);
}

struct chunk {
	const uint8_t *p;
	size_t n;
};

static const char *only;

static int run(const char *spec, size_t min_bytes, struct mfs_codec_ctx *ctx)
{
	size_t len, nchunks = 0, off = 0, cap = mfs_chunk_record_bound(MFS_CHUNK_MAX);
	uint8_t *buf = load(spec, &len), **recs = NULL, *back = malloc(MFS_CHUNK_MAX);
	size_t *reclen = NULL;
	struct chunk *ch = NULL;
	int rc = 0;

	if (!buf || !back || !len) {
		fprintf(stderr, "codec_speed: %s: cannot load\n", spec);
		rc = -EIO;
		goto out;
	}
	ch = calloc(len / MFS_CHUNK_MIN + 2, sizeof(*ch));
	if (!ch)
		goto nomem;
	while (off < len) {
		size_t n = mfs_chunker_cut(buf + off, len - off);

		ch[nchunks++] = (struct chunk){ buf + off, n };
		off += n;
	}
	recs = calloc(nchunks, sizeof(*recs));
	reclen = calloc(nchunks, sizeof(*reclen));
	if (!recs || !reclen)
		goto nomem;
	for (size_t i = 0; i < nchunks; i++)
		if (!(recs[i] = malloc(cap)))
			goto nomem;

	for (int codec = -1; codec < MFS_CODEC_PLAIN_COUNT; codec++) {
		unsigned long long stored = 0, mix[MFS_CODEC_COUNT] = { 0 };
		size_t done = 0;
		double t0, enc, dec, fault;

		if (only && strcmp(only, codec < 0 ? "auto" : mfs_codec_name(codec)))
			continue;
		enc = dec = 1e30;
		for (int rep = 0; rep < REPS; rep++) {
			done = 0;
			t0 = bench_cpu_now();
			do {
				for (size_t i = 0; i < nchunks; i++) {
					ssize_t r = mfs_chunk_encode(ctx, ch[i].p, ch[i].n, recs[i],
								     cap, codec);

					if (r < 0) {
						fprintf(stderr, "codec_speed: %s: encode %s: %s\n",
							spec, mfs_codec_name(codec),
							mfs_strerror((int)r));
						rc = -EIO;
						goto out;
					}
					reclen[i] = r;
				}
				done += len;
			} while (done < min_bytes);
			t0 = (bench_cpu_now() - t0) / (done / GIB);
			enc = t0 < enc ? t0 : enc;
		}

		for (size_t i = 0; i < nchunks; i++) {
			struct mfs_chunk_info info;

			if (mfs_chunk_decode(ctx, recs[i], reclen[i], back, MFS_CHUNK_MAX) !=
				    (ssize_t)ch[i].n || memcmp(back, ch[i].p, ch[i].n) ||
			    mfs_chunk_peek(recs[i], reclen[i], &info)) {
				fprintf(stderr, "codec_speed: %s: %s does not round-trip\n", spec,
					mfs_codec_name(codec));
				rc = -EIO;
				goto out;
			}
			stored += reclen[i];
			mix[info.codec]++;
		}
		for (int rep = 0; rep < REPS; rep++) {
			done = 0;
			t0 = bench_cpu_now();
			do {
				for (size_t i = 0; i < nchunks; i++)
					mfs_chunk_decode(ctx, recs[i], reclen[i], back, MFS_CHUNK_MAX);
				done += len;
			} while (done < min_bytes);
			t0 = (bench_cpu_now() - t0) / (done / GIB);
			dec = t0 < dec ? t0 : dec;
		}

		/* 4 KiB at random offsets, as a page fault would ask. */
		{
			uint64_t x = 2463534242u;

			t0 = bench_cpu_now();
			for (int k = 0; k < FAULTS; k++) {
				size_t i, o;

				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				i = x % nchunks;
				o = ch[i].n > 4096 ? (x >> 20) % (ch[i].n - 4096) : 0;
				mfs_chunk_decode_range(ctx, recs[i], reclen[i], o, back,
						       ch[i].n < 4096 ? ch[i].n : 4096);
			}
			fault = (bench_cpu_now() - t0) / FAULTS * 1e6;
		}

		printf("%-28s %-9s %7.4fx  enc %6.3f  dec %6.3f CPU-s/GiB  4k %6.1f us", spec,
		       codec < 0 ? "auto" : mfs_codec_name(codec), (double)len / stored, enc, dec,
		       fault);
		if (codec < 0)
			for (int c = 0; c < MFS_CODEC_PLAIN_COUNT; c++)
				if (mix[c])
					printf("  %s %llu", mfs_codec_name(c), mix[c]);
		printf("\n");
		fflush(stdout);
	}
	goto out;
nomem:
	fprintf(stderr, "codec_speed: out of memory\n");
	rc = -ENOMEM;
out:
	for (size_t i = 0; recs && i < nchunks; i++)
		free(recs[i]);
	free(recs);
	free(reclen);
	free(ch);
	free(back);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	size_t min_bytes = 256u << 20;
	int i = 1, rc = 0;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--mib"))
			min_bytes = (size_t)atoi(argv[i + 1]) << 20;
		else if (!strcmp(argv[i], "--codec"))
			only = argv[i + 1];
		else
			break;
	}
	if (i >= argc || !ctx) {
		fprintf(stderr, "usage: codec_speed [--mib N] [--codec NAME] FILE|bf16:FILE|random...\n");
		return 2;
	}
	printf("%-28s %-9s %8s  %-16s %-16s %-14s (ratio raw/stored incl. headers)\n", "input",
	       "codec", "ratio", "encode", "decode", "4 KiB range");
	for (; i < argc; i++)
		if (run(argv[i], min_bytes, ctx))
			rc = 1;
	mfs_codec_ctx_free(ctx);
	return rc;
}
