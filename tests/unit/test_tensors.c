/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tensor-aware chunking: the safetensors and GGUF header parsers
 * (store/chunk/tensors.h) on good headers, on every prefix of them (the
 * answer must wait for the whole header and never change after it), and
 * on headers that lie or are malformed; then the cuts, through the real
 * ingest on a real RocksDB store: a variant with one tensor changed shares
 * every other tensor's chunks, a header grown by a few bytes shares every
 * tensor's chunks, an ingest in steps cuts as one of the whole file (also
 * when the header is longer than a step), and a header whose tensors run
 * past the file's end makes the file cut as any file.  Last, the layout id
 * that finds a fine-tune's base (store/chunk/delta_hint.h) and its hint.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_files.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/delta_hint.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/chunk/tensors.h"
#include "store/kv/db.h"
#include "tap.h"
#include "testdata.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

/* A mix of large tensors and runs of small ones, about 30 MiB. */
static struct mf_tensor model[] = {
	{ 3 * MiB, 11, 0 }, { 100 * KiB, 12, 0 }, { 5 * MiB + 6, 13, 0 }, { 20 * KiB, 14, 0 },
	{ 20 * KiB, 15, 0 }, { 2 * MiB, 16, 0 }, { 700 * KiB, 17, 0 }, { 8 * MiB, 18, 0 },
	{ 64 * KiB, 19, 0 }, { 4 * MiB + 2, 20, 0 }, { 300 * KiB, 21, 0 }, { 6 * MiB, 22, 0 },
	{ 2 * KiB, 23, 0 },
};
#define NT ((int)(sizeof(model) / sizeof(model[0])))

/* Parses every prefix of b: -EAGAIN until the header is whole, then `want`. */
static int prefixes(const struct mf_buf *b, size_t header, int want)
{
	struct mfs_tensors t;
	size_t bad = 0, step = header > 20000 ? 97 : 1;

	for (size_t len = 0; len < header; len += step)
		bad += mfs_tensors_parse(b->p, len, &t) != -EAGAIN;
	for (size_t len = header; len <= b->len; len += (b->len - header) / 7 + 1) {
		int rc = mfs_tensors_parse(b->p, len, &t);

		bad += rc != want;
		if (!rc)
			mfs_tensors_release(&t);
	}
	return (int)bad;
}

static void test_safetensors(void)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors t;
	uint64_t hdr, off = 0;
	int bad = 0;

	mf_safetensors(&b, model, NT, 5);
	hdr = 8 + get_le64(b.p);
	is_int(mfs_tensors_parse(b.p, b.len, &t), 0, "safetensors: parses");
	ok(t.format == MFS_TENSORS_SAFETENSORS && t.n == NT && t.data_start == hdr &&
	   t.data_end == b.len, "%u tensors, data [%llu, %llu)", t.n,
	   (unsigned long long)t.data_start, (unsigned long long)t.data_end);
	for (int i = 0; i < NT && t.n == NT; i++) {
		const struct mfs_tensor *x = &t.v[i];
		char want[64];

		snprintf(want, sizeof(want), "model.layers.%d.w\\u0041", i);
		bad += x->start != hdr + off || x->end != hdr + off + model[i].bytes ||
		       x->dtype != MFS_DT_F16 || x->width != 2 || x->ndim != 1 ||
		       x->shape[0] != model[i].bytes / 2 || x->name_len != strlen(want) ||
		       memcmp(b.p + x->name_off, want, x->name_len);
		off += model[i].bytes;
	}
	is_int(bad, 0, "listed in reverse, read back sorted: offsets, dtype, shape, names");
	mfs_tensors_release(&t);
	is_int(prefixes(&b, hdr, 0), 0, "every prefix shorter than the header waits (-EAGAIN)");
	free(b.p);
}

/* One header from JSON text: 8-byte length, then the text. */
static int st_text(const char *json)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors t;
	int rc;

	mf_u64(&b, strlen(json));
	mf_put(&b, json, strlen(json));
	mf_put(&b, "0123456789abcdef", 16); /* data */
	rc = mfs_tensors_parse(b.p, b.len, &t);
	if (!rc)
		mfs_tensors_release(&t);
	free(b.p);
	return rc;
}

static void test_safetensors_bad(void)
{
	static const struct {
		const char *json;
		int want;
		const char *what;
	} cases[] = {
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
		  "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[4,12]}}", MFS_EFORMAT,
		  "overlapping tensors" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,8]}}", MFS_EFORMAT,
		  "a size its shape contradicts" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[8,0]}}", MFS_EFORMAT,
		  "offsets backwards" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4]}}", MFS_EFORMAT, "no data_offsets" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8,9]}}", MFS_EFORMAT,
		  "three offsets" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[-1,8]}}", MFS_EFORMAT,
		  "a negative offset" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0.0,8]}}", MFS_EFORMAT,
		  "a fractional offset" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,99999999999999999999]}}",
		  MFS_EFORMAT, "an offset past 2^63" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
		  MFS_EFORMAT, "an element count that overflows" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,2]}}",
		  MFS_EFORMAT, "nine dimensions" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}} x", MFS_EFORMAT,
		  "bytes after the object" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}", MFS_EFORMAT,
		  "an unclosed object" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},}", MFS_EFORMAT,
		  "a trailing comma" },
		{ "{\"a\" {}}", MFS_EFORMAT, "no colon" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}\"b\":1}", MFS_EFORMAT,
		  "no comma" },
		{ "{\"__metadata__\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		  "]]]]]]]]]]]}", MFS_EFORMAT, "metadata nested 40 deep" },
		{ "{\"a\":{\"dtype\":\"F16\",\"sha\npe\":[4],\"data_offsets\":[0,8]}}", MFS_EFORMAT,
		  "a control character in a string" },
		{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 0,
		  "an unknown dtype (size unchecked)" },
		{ "{\"__metadata__\":{\"k\":\"v\\\"}\"},\"a\":{\"extra\":[1,{\"x\":null}],\"dtype\":\"I8\","
		  "\"shape\":[],\"data_offsets\":[0,1]}}  ", 0, "escapes, unknown keys, a scalar" },
		{ "{}", 0, "no tensors" },
		{ "[1]", -ENOENT, "not an object" },
	};
	struct mfs_tensors t;
	uint8_t big[16] = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(st_text(cases[i].json), cases[i].want, "safetensors: %s", cases[i].what);
	put_le64(big, MFS_TENSORS_HDR_MAX);
	big[8] = '{';
	is_int(mfs_tensors_parse(big, sizeof(big), &t), -ENOENT, "a header longer than the limit: not parsed");
	put_le64(big, 100);
	is_int(mfs_tensors_parse(big, sizeof(big), &t), -EAGAIN, "a header not all there yet: -EAGAIN");
	is_int(mfs_tensors_parse((const uint8_t *)"hello, world, not a model", 25, &t), -ENOENT,
	       "text is not a model file");
}

static const struct mf_tensor gguf_model[] = {
	{ 4 * KiB, 31, 0 }, { 34 * 40000, 32, 1 }, { 2 * MiB, 33, 0 }, { 512 * KiB, 34, 0 },
	{ 34 * 20, 35, 1 }, { 3 * MiB + 2, 36, 0 },
};
#define NG ((int)(sizeof(gguf_model) / sizeof(gguf_model[0])))

/* Offsets in the file of `tokens` tokens (mf_gguf): where a field ends. */
static size_t gguf_field(const char *what, int tokens)
{
	struct mf_buf b = { 0 };
	size_t at;

	mf_gguf(&b, gguf_model, NG, tokens);
	at = (size_t)((uint8_t *)memmem(b.p, b.len, what, strlen(what)) - b.p) + strlen(what);
	free(b.p);
	return at;
}

static void test_gguf(void)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors t;
	uint64_t off = 0;
	size_t hdr;
	int bad = 0;

	mf_gguf(&b, gguf_model, NG, 100);
	is_int(mfs_tensors_parse(b.p, b.len, &t), 0, "gguf: parses");
	hdr = (size_t)t.data_start;
	ok(t.format == MFS_TENSORS_GGUF && t.n == NG && hdr % 64 == 0 && t.data_end == b.len,
	   "%u tensors, data [%zu, %llu), aligned", t.n, hdr, (unsigned long long)t.data_end);
	for (int i = 0; i < NG && t.n == NG; i++) {
		const struct mfs_tensor *x = &t.v[i];

		bad += x->start != hdr + off || x->end != x->start + gguf_model[i].bytes ||
		       x->dtype != (gguf_model[i].q8 ? MFS_DT_BLOCKS : MFS_DT_F16) ||
		       x->raw_type != (gguf_model[i].q8 ? 8u : 1u) || x->name_len != 16;
		off = (off + gguf_model[i].bytes + 63) / 64 * 64;
	}
	is_int(bad, 0, "offsets from the aligned data section, sizes from the ggml types");
	mfs_tensors_release(&t);
	/* The header proper ends before the alignment padding: a prefix that holds it parses. */
	is_int(prefixes(&b, gguf_field("blk.5.ffn.weight", 100) + 24, 0), 0,
	       "every prefix shorter than the tensor infos waits");
	free(b.p);
}

/* The GGUF test file with one field changed: the u32 or u64 at `at`. */
static int gguf_patched(size_t at, uint64_t v, int width)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors t;
	int rc;

	mf_gguf(&b, gguf_model, NG, 3);
	if (width == 4)
		put_le32(b.p + at, (uint32_t)v);
	else
		put_le64(b.p + at, v);
	rc = mfs_tensors_parse(b.p, b.len, &t);
	if (!rc)
		mfs_tensors_release(&t);
	free(b.p);
	return rc;
}

static void test_gguf_bad(void)
{
	size_t align = gguf_field("general.alignment", 3), tokens = gguf_field("tokenizer.ggml.tokens", 3);
	size_t t0 = gguf_field("blk.0.ffn.weight", 3), t1 = gguf_field("blk.1.ffn.weight", 3);
	int rc;

	is_int(gguf_patched(4, 1, 4), MFS_EFORMAT, "gguf: version 1 refused");
	is_int(gguf_patched(4, 4, 4), MFS_EFORMAT, "gguf: version 4 refused");
	is_int(gguf_patched(8, MFS_TENSORS_MAX + 1, 8), MFS_EFORMAT, "gguf: too many tensors");
	rc = gguf_patched(16, ~0ull, 8);
	ok(rc == MFS_EFORMAT || rc == -EAGAIN, "gguf: 2^64 - 1 key-value pairs: refused or waits (%d)", rc);
	is_int(gguf_patched(align + 4, 0, 4), MFS_EFORMAT, "gguf: alignment 0");
	is_int(gguf_patched(align + 4, 48, 4), MFS_EFORMAT, "gguf: alignment not a power of two");
	is_int(gguf_patched(align, 10, 4), MFS_EFORMAT, "gguf: alignment not a u32");
	is_int(gguf_patched(tokens + 4, 9, 4), MFS_EFORMAT, "gguf: an array of arrays");
	is_int(gguf_patched(tokens + 4, 13, 4), MFS_EFORMAT, "gguf: an unknown value type");
	is_int(gguf_patched(tokens + 8, 1ull << 40, 8), MFS_EFORMAT, "gguf: 2^40 strings");
	is_int(gguf_patched(tokens + 16, 1ull << 62, 8), MFS_EFORMAT, "gguf: a string of 2^62 bytes");
	is_int(gguf_patched(t0, 5, 4), MFS_EFORMAT, "gguf: five dimensions");
	is_int(gguf_patched(t0 + 12, 5, 4), MFS_EFORMAT, "gguf: a removed ggml type");
	is_int(gguf_patched(t0 + 12, 200, 4), MFS_EFORMAT, "gguf: an unknown ggml type");
	is_int(gguf_patched(t0 + 16, 32, 8), MFS_EFORMAT, "gguf: an offset off the alignment");
	is_int(gguf_patched(t1 + 16, 0, 8), MFS_EFORMAT, "gguf: two tensors at one offset (overlap)");
	is_int(gguf_patched(t1 + 4, 34 * 40000 / 34 * 32 + 31, 8), MFS_EFORMAT,
	       "gguf: Q8_0 elements not whole blocks");
	is_int(gguf_patched(t0 + 4, 1ull << 62, 8), MFS_EFORMAT, "gguf: a tensor of 2^62 elements");
}

/* Chunks b by the plan of its header (or none); never across a boundary. */
static void test_plan(void)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors t;
	struct mfs_cutplan p;
	size_t pos = 0, n = 0, crossed = 0;

	mf_safetensors(&b, model, NT, 0);
	if (mfs_tensors_parse(b.p, b.len, &t) || mfs_cutplan_build(&t, &p))
		tap_bail("plan");
	while (pos < b.len) {
		size_t len = mfs_chunker_cut_at(&p, pos, b.p + pos, b.len - pos, 1);

		if (!len || len > MFS_CHUNK_MAX)
			tap_bail("cut %zu at %zu", len, pos);
		for (size_t i = 0; i < p.n; i++)
			crossed += p.b[i] > pos && p.b[i] < pos + len;
		pos += len;
		n++;
	}
	is_int(crossed, 0, "%zu chunks, none across one of the %zu boundaries", n, p.n);
	ok(n <= 3 * b.len / MFS_CHUNK_MIN + 3, "at most 3 chunks per MFS_CHUNK_MIN");
	is_int(mfs_chunker_cut_at(&p, 0, b.p, 10, 0), 0, "a cut before the header is whole is not final");
	mfs_cutplan_release(&p);
	mfs_tensors_release(&t);
	free(b.p);
}

/* ---- through the ingest ------------------------------------------------------ */

static struct mfs_db *db;
static char dir[] = "/tmp/mfs-tensors-XXXXXX";

/* Ingests b (in steps of `step` bytes, whole if 0) into the store; its manifest. */
static struct mfs_manifest *ingest(const struct mf_buf *b, uint64_t step, int *rc)
{
	char path[300];
	struct mfs_ingest_stats st;
	struct mfs_manifest *m = NULL;
	struct mfs_hash id;
	int fd, has = 0;

	snprintf(path, sizeof(path), "%s/file", dir);
	fd = td_write_file(path, b->p, b->len);
	if (step) {
		struct mfs_ingest *s;

		if (!(*rc = mfs_ingest_begin(db, 2, &s))) {
			for (uint64_t upto = step; upto < b->len && !*rc; upto += step)
				*rc = mfs_ingest_feed(s, fd, upto, NULL);
			*rc = *rc ? (mfs_ingest_abandon(s), *rc) :
				    mfs_ingest_finish(s, fd, b->len, &id, &has, &st);
		}
	} else {
		*rc = mfs_ingest_fd(db, fd, b->len, 2, &id, &has, &st);
	}
	close(fd);
	unlink(path);
	if (!*rc && has && mfs_manifest_load(db, &id, &m))
		tap_bail("manifest load");
	return m;
}

static int has_chunk(const struct mfs_manifest *m, const struct mfs_hash *h)
{
	for (uint32_t i = 0; i < m->count; i++)
		if (!memcmp(m->e[i].hash.b, h->b, MFS_HASH_LEN))
			return 1;
	return 0;
}

/* Bytes of v's chunks that a lacks; and of those, the bytes outside [lo, hi). */
static uint64_t new_bytes(const struct mfs_manifest *a, const struct mfs_manifest *v, uint64_t lo,
			  uint64_t hi, uint64_t *outside)
{
	uint64_t n = 0;

	*outside = 0;
	for (uint32_t i = 0; i < v->count; i++) {
		if (has_chunk(a, &v->e[i].hash))
			continue;
		n += v->e[i].len;
		if (v->off[i] + v->e[i].len <= lo || v->off[i] >= hi)
			*outside += v->e[i].len;
	}
	return n;
}

static int same(const struct mfs_manifest *a, const struct mfs_manifest *b)
{
	if (!a || !b || a->count != b->count)
		return 0;
	for (uint32_t i = 0; i < a->count; i++)
		if (memcmp(a->e[i].hash.b, b->e[i].hash.b, MFS_HASH_LEN) || a->e[i].len != b->e[i].len)
			return 0;
	return 1;
}

static uint64_t tensor_start(const struct mf_buf *b, int i)
{
	uint64_t off = 8 + get_le64(b->p);

	for (int k = 0; k < i; k++)
		off += model[k].bytes;
	return off;
}

/* Variant v of the safetensors model (plain: with chunking version 1) against the base. */
static void variants(int plain)
{
	const char *how = plain ? "plain cuts" : "tensor cuts";
	struct mf_buf b = { 0 }, v = { 0 };
	struct mfs_manifest *base, *m;
	uint64_t n, out, lo, hi;
	int rc;

	if (plain)
		setenv("MODELFS_CUTS", "plain", 1);
	mf_safetensors(&b, model, NT, 5);
	base = ingest(&b, 0, &rc);
	if (!base)
		tap_bail("base ingest: %d", rc);

	/* A large tensor changed: only its bytes are new, and the header's chunk. */
	model[7].seed = 99;
	mf_safetensors(&v, model, NT, 5);
	model[7].seed = 18;
	m = ingest(&v, 0, &rc);
	lo = tensor_start(&v, 7);
	hi = lo + model[7].bytes;
	n = new_bytes(base, m, lo, hi, &out);
	printf("# %s, large tensor changed: %llu new bytes, %llu outside it\n", how,
	       (unsigned long long)n, (unsigned long long)out);
	if (!plain)
		ok(out <= 8 + get_le64(v.p) && n <= model[7].bytes + out,
		   "%s: one 8 MiB tensor changed: %llu KiB new, none of another tensor", how,
		   (unsigned long long)(n >> 10));
	mfs_manifest_unref(m);

	/* A small tensor changed: its run's chunks only. */
	model[3].seed = 98;
	mf_safetensors(&v, model, NT, 5);
	model[3].seed = 14;
	m = ingest(&v, 0, &rc);
	lo = tensor_start(&v, 3);
	hi = tensor_start(&v, 5);
	n = new_bytes(base, m, lo, hi, &out);
	printf("# %s, small tensor changed: %llu new bytes, %llu outside its run\n", how,
	       (unsigned long long)n, (unsigned long long)out);
	if (!plain)
		ok(out <= 8 + get_le64(v.p), "%s: a 20 KiB tensor changed: %llu KiB new, all in its run",
		   how, (unsigned long long)(n >> 10));
	mfs_manifest_unref(m);

	/* The header grown by 13 bytes: every tensor's chunks are shared. */
	mf_safetensors(&v, model, NT, 18);
	m = ingest(&v, 0, &rc);
	n = new_bytes(base, m, 0, 8 + get_le64(v.p), &out);
	printf("# %s, header grown: %llu new bytes, %llu outside the header\n", how,
	       (unsigned long long)n, (unsigned long long)out);
	if (!plain)
		ok(out == 0 && n == 8 + get_le64(v.p), "%s: header grown by 13 bytes: %llu bytes new, the header's",
		   how, (unsigned long long)n);
	mfs_manifest_unref(m);
	mfs_manifest_unref(base);
	free(b.p);
	free(v.p);
	unsetenv("MODELFS_CUTS");
}

/* In steps of any size, as the whole file; also with a header longer than a step. */
static void steps(void)
{
	static const uint64_t step[] = { 4096, 1 * MiB, 5 * MiB + 17, 33 * MiB };
	struct mf_buf b = { 0 };
	struct mfs_manifest *whole, *m;
	int rc, bad = 0;

	mf_safetensors(&b, model, NT, 3 * MiB); /* a 3 MiB header */
	whole = ingest(&b, 0, &rc);
	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		m = ingest(&b, step[i], &rc);
		bad += !same(whole, m);
		mfs_manifest_unref(m);
	}
	is_int(bad, 0, "a 3 MiB header, fed in steps of 4 KiB to 33 MiB: the same chunks");
	mfs_manifest_unref(whole);

	mf_gguf(&b, gguf_model, NG, 200000); /* a 2.6 MiB header */
	whole = ingest(&b, 0, &rc);
	bad = 0;
	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		m = ingest(&b, step[i], &rc);
		bad += !same(whole, m);
		mfs_manifest_unref(m);
	}
	is_int(bad, 0, "gguf with a 2.6 MiB header, in steps: the same chunks");
	mfs_manifest_unref(whole);
	free(b.p);
}

/* GGUF: a grown header (one token more) shares every tensor's chunks. */
static void gguf_variants(void)
{
	struct mf_buf b = { 0 }, v = { 0 };
	struct mfs_manifest *base, *m;
	struct mfs_tensors t;
	uint64_t n, out;
	int rc;

	mf_gguf(&b, gguf_model, NG, 1000);
	mf_gguf(&v, gguf_model, NG, 1001);
	base = ingest(&b, 0, &rc);
	m = ingest(&v, 0, &rc);
	if (!base || !m || mfs_tensors_parse(v.p, v.len, &t))
		tap_bail("gguf ingest");
	n = new_bytes(base, m, 0, t.data_start, &out);
	ok(out == 0 && n <= t.data_start, "gguf: one token more in the header: %llu bytes new, all header",
	   (unsigned long long)n);
	mfs_tensors_release(&t);
	mfs_manifest_unref(base);
	mfs_manifest_unref(m);
	free(b.p);
	free(v.p);
}

/* A header whose tensors run past the end: cut as any file, also after an early feed. */
static void lying(void)
{
	struct mf_buf b = { 0 };
	struct mfs_manifest *m, *plain;
	int rc;

	mf_safetensors(&b, model, NT, 0);
	b.len -= 1000; /* the last tensor is cut short */
	m = ingest(&b, 0, &rc);
	setenv("MODELFS_CUTS", "plain", 1);
	plain = ingest(&b, 0, &rc);
	unsetenv("MODELFS_CUTS");
	ok(same(m, plain), "tensors past the file's end: the file is cut plainly (%u chunks)",
	   m ? m->count : 0);
	mfs_manifest_unref(m);
	m = ingest(&b, 8 * MiB, &rc);
	is_int(rc, -ESTALE, "fed in steps, the finish finds out: -ESTALE, ingest again");
	mfs_manifest_unref(m);
	mfs_manifest_unref(plain);
	free(b.p);
}

/* The layout id of a safetensors file of tensors t[0..n) with `extra` metadata bytes. */
static int layout_of(const struct mf_tensor *t, int n, size_t extra, int gguf, struct mfs_hash *id)
{
	struct mf_buf b = { 0 };
	struct mfs_tensors ts;
	int rc;

	if (gguf)
		mf_gguf(&b, t, n, (int)extra);
	else
		mf_safetensors(&b, t, n, extra);
	if (!(rc = mfs_tensors_parse(b.p, b.len, &ts))) {
		rc = mfs_delta_layout_id(&ts, b.p, id);
		mfs_tensors_release(&ts);
	}
	free(b.p);
	return rc;
}

/*
 * A fine-tune keeps its base's layout id whatever its bytes and metadata;
 * another shape, dtype, name set or format is another layout.  The hint
 * round-trips through the store, and a hint of another version is none.
 */
static void layout_ids(void)
{
	struct mf_tensor v[NT], shorter[NT];
	struct mfs_hash a, b, m = { { 0 } }, got;
	struct mfs_batch *bt;
	uint8_t key[3 + MFS_HASH_LEN], val[1 + MFS_HASH_LEN];

	memcpy(v, model, sizeof(v));
	memcpy(shorter, model, sizeof(shorter));
	for (int i = 0; i < NT; i++)
		v[i].seed += 100;
	shorter[3].bytes -= 2;
	is_int(layout_of(model, NT, 5, 0, &a), 0, "layout id of a safetensors file");
	is_int(layout_of(v, NT, 40, 0, &b), 0, "and of a fine-tune with longer metadata");
	ok(!memcmp(a.b, b.b, MFS_HASH_LEN), "a fine-tune has its base's layout");
	layout_of(shorter, NT, 5, 0, &b);
	ok(memcmp(a.b, b.b, MFS_HASH_LEN) != 0, "one tensor one element shorter: another layout");
	layout_of(model, NT - 1, 5, 0, &b);
	ok(memcmp(a.b, b.b, MFS_HASH_LEN) != 0, "one tensor fewer: another layout");
	is_int(layout_of(model, NT, 3, 1, &b), 0, "layout id of a GGUF file");
	ok(memcmp(a.b, b.b, MFS_HASH_LEN) != 0, "the same tensors in GGUF: another layout");

	is_int(mfs_delta_hint_get(db, &a, &got), 0, "no hint before one is written");
	memset(m.b, 0x5a, sizeof(m.b));
	bt = mfs_batch_new(db);
	mfs_delta_hint_stage(bt, &a, &m);
	is_int(mfs_db_write(db, bt, MFS_WRITE_SYNC), 0, "hint written");
	mfs_batch_free(bt);
	ok(mfs_delta_hint_get(db, &a, &got) == 1 && !memcmp(got.b, m.b, MFS_HASH_LEN), "the hint reads back");
	memcpy(key, "tl:", 3);
	memcpy(key + 3, a.b, MFS_HASH_LEN);
	val[0] = 2;
	memcpy(val + 1, m.b, MFS_HASH_LEN);
	bt = mfs_batch_new(db);
	mfs_batch_put(bt, MFS_CF_META, key, sizeof(key), val, sizeof(val));
	mfs_db_write(db, bt, MFS_WRITE_SYNC);
	mfs_batch_free(bt);
	is_int(mfs_delta_hint_get(db, &a, &got), 0, "a hint of an unknown version is no hint");
}

int main(void)
{
	char dbdir[300];

	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	test_safetensors();
	test_safetensors_bad();
	test_gguf();
	test_gguf_bad();
	test_plan();

	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	if (mfs_store_open(dbdir, &db))
		tap_bail("store");
	variants(1);
	variants(0);
	steps();
	gguf_variants();
	lying();
	layout_ids();
	mfs_db_close(db);
	{
		char cmd[340];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			tap_bail("rm");
	}
	return done_testing();
}
