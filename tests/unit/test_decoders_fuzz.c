/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzing of every decoder of stored (later: received) bytes: inode
 * records, manifests, chunk index entries and chunk records.
 *
 * Built two ways.  As a unit test (make check) it mutates valid encodings
 * deterministically (bit flips, byte overwrites, truncations, extensions,
 * random bytes) for a fixed number of rounds; under --enable-sanitizers an
 * out-of-bounds read fails the run.  With clang and -DMFS_LIBFUZZER
 * -fsanitize=fuzzer it is a libFuzzer target (store sources compiled in, so
 * they are instrumented too):
 *   clang -g -O1 -D_GNU_SOURCE -DMFS_LIBFUZZER -fsanitize=fuzzer,address,undefined \
 *     -I. -Istore tests/unit/test_decoders_fuzz.c store/{errors,log,bytes,hash,xxh64,\
 *     chunker,codec,manifest,inode,chunkstore,db}.c -lrocksdb -lzstd -lcrypto -lpthread
 *   ./a.out -max_total_time=600 -max_len=70000 CORPUS_DIR
 * Properties checked: no crash; a decoder that accepts its input returns a
 * consistent result (a chunk decodes to exactly raw_len bytes; a manifest's
 * lengths add up to its size).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunker.h"
#include "chunkstore.h"
#include "codec.h"
#include "inode.h"
#include "manifest.h"
#include "tap.h"

static struct mfs_codec_ctx *ctx;
static uint8_t *out;
static long accepted, rejected, inconsistent;

/* Feeds one input to every decoder. */
static void decode_all(const uint8_t *p, size_t n)
{
	struct mfs_inode in;
	struct mfs_manifest *m;
	struct mfs_chunk_summary sum;
	struct mfs_chunk_info info;
	ssize_t got;

	if (mfs_inode_decode(42, p, n, &in) == 0) {
		accepted++;
		mfs_inode_release(&in);
	} else {
		rejected++;
	}
	if (mfs_manifest_decode(p, n, &m) == 0) {
		uint64_t total = 0;

		for (uint32_t i = 0; i < m->count; i++)
			total += m->e[i].len;
		inconsistent += total != m->size;
		mfs_manifest_unref(m);
	}
	(void)mfs_chunk_summary_decode(p, n, &sum);
	if (mfs_chunk_peek(p, n, &info) == 0) {
		got = mfs_chunk_decode(ctx, p, n, out, MFS_CHUNK_MAX);
		if (got >= 0)
			inconsistent += (size_t)got != info.raw_len;
	}
}

#ifdef MFS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx) {
		ctx = mfs_codec_ctx_new();
		out = malloc(MFS_CHUNK_MAX);
	}
	decode_all(data, size);
	if (inconsistent)
		abort();
	return 0;
}
#else

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mutates seed[0..n) into buf; returns the new length (<= cap). */
static size_t mutate(const uint8_t *seed, size_t n, uint8_t *buf, size_t cap)
{
	size_t len = n < cap ? n : cap;

	memcpy(buf, seed, len);
	switch (next() % 5) {
	case 0: /* a few bit flips */
		for (int k = 1 + next() % 4; k-- && len;)
			buf[next() % len] ^= 1u << (next() % 8);
		break;
	case 1: /* overwrite a byte with an edge value */
		if (len)
			buf[next() % len] = (uint8_t[]){ 0, 1, 0x7f, 0x80, 0xff }[next() % 5];
		break;
	case 2: /* truncate */
		len = len ? next() % len : 0;
		break;
	case 3: /* extend with garbage */
		while (len < cap && next() % 8)
			buf[len++] = (uint8_t)next();
		break;
	default: /* random bytes of the same length */
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)next();
	}
	return len;
}

static void fuzz_seed(const char *what, const uint8_t *seed, size_t n, int rounds)
{
	size_t cap = n + 64;
	uint8_t *buf = malloc(cap);
	long before = inconsistent;

	decode_all(seed, n);
	for (int r = 0; r < rounds; r++)
		decode_all(buf, mutate(seed, n, buf, cap));
	is_int(inconsistent - before, 0, "%s: %d mutations decoded or refused cleanly", what, rounds);
	free(buf);
}

int main(void)
{
	struct mfs_inode in = { .ino = 42, .parent = 1, .mode = S_IFREG | 0644, .nlink = 1,
				.size = 3000000, .has_manifest = 1 };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_wr w = { 0 };
	uint8_t raw[20000], *rec;
	uint8_t idx[MFS_CHUNK_INDEX_LEN] = { MFS_CHUNK_INDEX_VERSION, 2, 0x20, 0x4e, 0, 0, 0x10, 0x27 };
	ssize_t n;

	ctx = mfs_codec_ctx_new();
	out = malloc(MFS_CHUNK_MAX);
	rec = malloc(mfs_chunk_record_bound(sizeof(raw)));

	in.name = strdup("model.safetensors");
	mfs_inode_xattr_set(&in, "user.a", "value", 5);
	mfs_inode_encode(&in, &w);
	fuzz_seed("inode record", w.buf, w.len, 20000);
	mfs_wr_release(&w);
	mfs_inode_release(&in);

	for (int i = 0; i < 5; i++) {
		struct mfs_hash h;

		memset(h.b, i, sizeof(h.b));
		mfs_manifest_append(m, &h, 600000 + i);
	}
	mfs_manifest_encode(m, &w);
	fuzz_seed("manifest", w.buf, w.len, 20000);
	mfs_wr_release(&w);
	mfs_manifest_unref(m);

	fuzz_seed("chunk index entry", idx, sizeof(idx), 5000);

	/* Float-like data so that the byte-plane codecs are used. */
	for (size_t i = 0; i < sizeof(raw); i += 2) {
		raw[i] = (uint8_t)next();
		raw[i + 1] = 0x3c + (next() % 4);
	}
	for (int codec = 0; codec < MFS_CODEC_COUNT; codec++) {
		char what[64];

		n = mfs_chunk_encode(ctx, raw, sizeof(raw), rec, mfs_chunk_record_bound(sizeof(raw)), codec);
		if (n < 0)
			tap_bail("encode with codec %d", codec);
		snprintf(what, sizeof(what), "chunk record (%s)", mfs_codec_name(codec));
		fuzz_seed(what, rec, n, 4000);
	}
	printf("# %ld inputs accepted by the inode decoder, %ld refused\n", accepted, rejected);
	free(rec);
	free(out);
	mfs_codec_ctx_free(ctx);
	return done_testing();
}
#endif
