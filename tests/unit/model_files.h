/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model files for tests, built in memory: safetensors and GGUF v3 headers
 * over tensors of seeded random bytes (one seed per tensor, so a variant
 * changes one tensor by changing its seed).  Used by test_tensors.c and as
 * fuzz seeds by test_decoders_fuzz.c.
 */
#ifndef MFS_MODEL_FILES_H
#define MFS_MODEL_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/bytes.h"

struct mf_tensor {
	uint64_t bytes;         /* a multiple of 2 (F16); GGUF: of 34 * 32 / 32 for Q8_0 */
	uint64_t seed;          /* its bytes: xorshift64 from this seed */
	int q8;                 /* GGUF: Q8_0 blocks instead of F16 */
};

struct mf_buf {
	uint8_t *p;
	size_t len, cap;
};

static inline void mf_put(struct mf_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		if (!(b->p = realloc(b->p, b->cap))) {
			printf("Bail out! no memory\n");
			exit(1);
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void mf_u32(struct mf_buf *b, uint32_t v)
{
	uint8_t x[4];

	put_le32(x, v);
	mf_put(b, x, 4);
}

static inline void mf_u64(struct mf_buf *b, uint64_t v)
{
	uint8_t x[8];

	put_le64(x, v);
	mf_put(b, x, 8);
}

static inline void mf_str(struct mf_buf *b, const char *s)
{
	mf_u64(b, strlen(s));
	mf_put(b, s, strlen(s));
}

static inline void mf_data(struct mf_buf *b, const struct mf_tensor *t, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t s = t[i].seed | 1;

		for (uint64_t k = 0; k < t[i].bytes; k += 8) {
			uint64_t v;

			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			v = s;
			mf_put(b, &v, t[i].bytes - k < 8 ? t[i].bytes - k : 8);
		}
	}
}

/*
 * A safetensors file: the tensors in file order, listed in the JSON in
 * reverse order (readers sort); "__metadata__" holds a string of `extra`
 * bytes, so a variant's header can grow.  The caller frees b->p.
 */
static inline void mf_safetensors(struct mf_buf *b, const struct mf_tensor *t, int n, size_t extra)
{
	struct mf_buf h = { 0 };
	uint64_t off[64];
	char tmp[256];

	off[0] = 0;
	for (int i = 0; i < n; i++)
		off[i + 1] = off[i] + t[i].bytes;
	mf_put(&h, "{\"__metadata__\":{\"format\":\"pt\",\"pad\":\"",
	       strlen("{\"__metadata__\":{\"format\":\"pt\",\"pad\":\""));
	for (size_t i = 0; i < extra; i++)
		mf_put(&h, "x", 1);
	mf_put(&h, "\"}", 2);
	for (int i = n - 1; i >= 0; i--) {
		int k = snprintf(tmp, sizeof(tmp),
				 ",\"model.layers.%d.w\\u0041\":{\"dtype\":\"F16\",\"shape\":[%llu],"
				 "\"data_offsets\":[%llu,%llu]}", i,
				 (unsigned long long)t[i].bytes / 2, (unsigned long long)off[i],
				 (unsigned long long)off[i + 1]);

		mf_put(&h, tmp, (size_t)k);
	}
	mf_put(&h, "}", 1);
	while (h.len % 8)
		mf_put(&h, " ", 1);
	b->len = 0;
	mf_u64(b, h.len);
	mf_put(b, h.p, h.len);
	mf_data(b, t, n);
	free(h.p);
}

/*
 * A GGUF v3 file, alignment 64: metadata with a string, an array of
 * `tokens` strings (a variant's header grows with more) and an array of
 * floats; F16 tensors of shape [bytes / 2], Q8_0 ones of [bytes / 34 * 32].
 */
static inline void mf_gguf(struct mf_buf *b, const struct mf_tensor *t, int n, int tokens)
{
	uint64_t off = 0;
	char name[64];

	b->len = 0;
	mf_put(b, "GGUF", 4);
	mf_u32(b, 3);
	mf_u64(b, (uint64_t)n);
	mf_u64(b, 4);
	mf_str(b, "general.architecture");
	mf_u32(b, 8);
	mf_str(b, "llama");
	mf_str(b, "general.alignment");
	mf_u32(b, 4);
	mf_u32(b, 64);
	mf_str(b, "tokenizer.ggml.tokens");
	mf_u32(b, 9);
	mf_u32(b, 8);
	mf_u64(b, (uint64_t)tokens);
	for (int i = 0; i < tokens; i++) {
		snprintf(name, sizeof(name), "tok%d", i);
		mf_str(b, name);
	}
	mf_str(b, "tokenizer.ggml.scores");
	mf_u32(b, 9);
	mf_u32(b, 6);
	mf_u64(b, 3);
	mf_put(b, "\0\0\x80?\0\0\0@\0\0@@", 12);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "blk.%d.ffn.weight", i);
		mf_str(b, name);
		mf_u32(b, 1);
		mf_u64(b, t[i].q8 ? t[i].bytes / 34 * 32 : t[i].bytes / 2);
		mf_u32(b, t[i].q8 ? 8 : 1);
		mf_u64(b, off);
		off = (off + t[i].bytes + 63) / 64 * 64;
	}
	while (b->len % 64)
		mf_put(b, "", 1);
	for (int i = 0; i < n; i++) {
		mf_data(b, &t[i], 1);
		while (i + 1 < n && b->len % 64)
			mf_put(b, "", 1);
	}
}

#endif
