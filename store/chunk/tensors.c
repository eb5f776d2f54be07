/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The header parsers' front (format detection, sorting, the overlap check)
 * and the safetensors parser; GGUF is in tensors_gguf.c.
 *
 * safetensors: u64 LE n, then n bytes of JSON: an object mapping each
 * tensor's name to {"dtype": "F16", "shape": [..], "data_offsets": [b, e]}
 * (offsets from the header's end), plus "__metadata__" (strings), padded
 * with spaces.  The JSON reader here knows just that much JSON: strings
 * with escapes left raw, unsigned integers, and skipping any other value
 * (nesting at most 32 deep).  Every step is bounded by the header's end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "tensors.h"
#include "tensors_internal.h"

#define JSON_DEPTH 32

int mfs_tensors_mul(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a && b > (UINT64_MAX >> 1) / a)
		return -1;
	*out = a * b;
	return 0;
}

int mfs_tensors_add(struct mfs_tensors *t, size_t *cap, const struct mfs_tensor *x)
{
	if (t->n >= MFS_TENSORS_MAX)
		return MFS_EFORMAT;
	if (mfs_grow(&t->v, cap, t->n, sizeof(*t->v)))
		return -ENOMEM;
	t->v[t->n++] = *x;
	return 0;
}

void mfs_tensors_release(struct mfs_tensors *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* ---- a bounded JSON reader ---------------------------------------------- */

struct js {
	const uint8_t *p;       /* the header; offsets are from the file's start */
	size_t pos, end;
};

static void ws(struct js *j)
{
	while (j->pos < j->end && (j->p[j->pos] == ' ' || j->p[j->pos] == '\t' ||
				   j->p[j->pos] == '\n' || j->p[j->pos] == '\r'))
		j->pos++;
}

/* Consumes c (after blanks); 0 or -1. */
static int expect(struct js *j, char c)
{
	ws(j);
	if (j->pos >= j->end || j->p[j->pos] != (uint8_t)c)
		return -1;
	j->pos++;
	return 0;
}

static int peek(struct js *j, char c)
{
	ws(j);
	return j->pos < j->end && j->p[j->pos] == (uint8_t)c;
}

/* A string: its raw contents at [*off, *off + *len). */
static int str(struct js *j, size_t *off, size_t *len)
{
	if (expect(j, '"'))
		return -1;
	*off = j->pos;
	while (j->pos < j->end && j->p[j->pos] != '"') {
		if (j->p[j->pos] < 0x20)
			return -1;
		j->pos += j->p[j->pos] == '\\' ? 2 : 1;
	}
	if (j->pos >= j->end)
		return -1;
	*len = j->pos++ - *off;
	return 0;
}

/* An unsigned integer below 2^63 (no sign, fraction or exponent). */
static int juint(struct js *j, uint64_t *v)
{
	size_t start;

	ws(j);
	start = j->pos;
	*v = 0;
	while (j->pos < j->end && j->p[j->pos] >= '0' && j->p[j->pos] <= '9') {
		if (*v > ((UINT64_MAX >> 1) - 9) / 10)
			return -1;
		*v = *v * 10 + (j->p[j->pos++] - '0');
	}
	if (j->pos == start)
		return -1;
	return j->pos < j->end && strchr(".eE", j->p[j->pos]) ? -1 : 0;
}

static int skip(struct js *j, int depth);

/* The rest of an array or object after its opener; members are key: value when obj. */
static int skip_members(struct js *j, int obj, int depth)
{
	size_t off, len;

	if (peek(j, obj ? '}' : ']'))
		return expect(j, obj ? '}' : ']');
	for (;;) {
		if (obj && (str(j, &off, &len) || expect(j, ':')))
			return -1;
		if (skip(j, depth + 1))
			return -1;
		if (peek(j, ','))
			j->pos++;
		else
			return expect(j, obj ? '}' : ']');
	}
}

static int skip(struct js *j, int depth)
{
	size_t off, len;
	uint8_t c;

	ws(j);
	if (j->pos >= j->end || depth > JSON_DEPTH)
		return -1;
	c = j->p[j->pos];
	if (c == '"')
		return str(j, &off, &len);
	if (c == '{' || c == '[') {
		j->pos++;
		return skip_members(j, c == '{', depth);
	}
	/* A number or a literal: a run of their characters. */
	off = j->pos;
	while (j->pos < j->end && strchr("+-.0123456789eEtruefalsn", j->p[j->pos]) && j->p[j->pos])
		j->pos++;
	return j->pos > off ? 0 : -1;
}

/* ---- safetensors ------------------------------------------------------- */

static const struct {
	const char *name;
	enum mfs_dtype dt;
	uint32_t width;
} st_types[] = {
	{ "F64", MFS_DT_F64, 8 }, { "F32", MFS_DT_F32, 4 }, { "F16", MFS_DT_F16, 2 },
	{ "BF16", MFS_DT_BF16, 2 }, { "F8_E4M3", MFS_DT_F8_E4M3, 1 },
	{ "F8_E5M2", MFS_DT_F8_E5M2, 1 }, { "I64", MFS_DT_I64, 8 }, { "I32", MFS_DT_I32, 4 },
	{ "I16", MFS_DT_I16, 2 }, { "I8", MFS_DT_I8, 1 }, { "U64", MFS_DT_U64, 8 },
	{ "U32", MFS_DT_U32, 4 }, { "U16", MFS_DT_U16, 2 }, { "U8", MFS_DT_U8, 1 },
	{ "BOOL", MFS_DT_BOOL, 1 },
};

static void st_dtype(const uint8_t *s, size_t len, struct mfs_tensor *x)
{
	for (size_t i = 0; i < sizeof(st_types) / sizeof(st_types[0]); i++)
		if (strlen(st_types[i].name) == len && !memcmp(st_types[i].name, s, len)) {
			x->dtype = st_types[i].dt;
			x->width = st_types[i].width;
			return;
		}
	x->dtype = MFS_DT_OTHER; /* a newer dtype: its size is not checked */
	x->width = 0;
}

/* An array of at most max unsigned integers into v; their count in *n. */
static int uint_array(struct js *j, uint64_t *v, uint32_t max, uint32_t *n)
{
	*n = 0;
	if (expect(j, '['))
		return -1;
	if (peek(j, ']'))
		return expect(j, ']');
	for (;;) {
		if (*n == max || juint(j, &v[(*n)++]))
			return -1;
		if (peek(j, ','))
			j->pos++;
		else
			return expect(j, ']');
	}
}

/* A tensor's object: dtype, shape, data_offsets (all three), other keys skipped. */
static int st_tensor(struct js *j, uint64_t data_start, struct mfs_tensor *x)
{
	uint64_t off[2], elems = 1, bytes;
	uint32_t noff = 0, seen = 0;
	size_t k, klen, s, slen;

	if (expect(j, '{'))
		return -1;
	while (!peek(j, '}')) {
		if (seen && expect(j, ','))
			return -1;
		if (str(j, &k, &klen) || expect(j, ':'))
			return -1;
		if (klen == 5 && !memcmp(j->p + k, "dtype", 5)) {
			if (str(j, &s, &slen))
				return -1;
			st_dtype(j->p + s, slen, x);
			seen |= 1;
		} else if (klen == 5 && !memcmp(j->p + k, "shape", 5)) {
			if (uint_array(j, x->shape, MFS_TENSOR_MAX_DIMS, &x->ndim))
				return -1;
			seen |= 2;
		} else if (klen == 12 && !memcmp(j->p + k, "data_offsets", 12)) {
			if (uint_array(j, off, 2, &noff) || noff != 2)
				return -1;
			seen |= 4;
		} else if (skip(j, 1)) {
			return -1;
		}
		seen |= 8;
	}
	j->pos++;
	if ((seen & 7) != 7 || off[0] > off[1])
		return -1;
	for (uint32_t i = 0; i < x->ndim; i++)
		if (mfs_tensors_mul(elems, x->shape[i], &elems))
			return -1;
	/* A size its dtype and shape contradict: the header lies. */
	if (x->width && (mfs_tensors_mul(elems, x->width, &bytes) || bytes != off[1] - off[0]))
		return -1;
	x->start = data_start + off[0];
	x->end = data_start + off[1];
	return 0;
}

static int parse_safetensors(const uint8_t *buf, size_t len, struct mfs_tensors *out)
{
	uint64_t n = get_le64(buf);
	struct js j = { buf, 9, 8 + (size_t)n };
	size_t cap = 0, k, klen;
	int rc, first = 1;

	if (len < 8 + n)
		return -EAGAIN;
	out->format = MFS_TENSORS_SAFETENSORS;
	out->data_start = out->data_end = 8 + n;
	while (!peek(&j, '}')) {
		struct mfs_tensor x = { 0 };

		if (!first && expect(&j, ','))
			return MFS_EFORMAT;
		first = 0;
		if (str(&j, &k, &klen) || expect(&j, ':'))
			return MFS_EFORMAT;
		if (klen == 12 && !memcmp(buf + k, "__metadata__", 12)) {
			if (skip(&j, 1))
				return MFS_EFORMAT;
			continue;
		}
		if (k > UINT32_MAX || st_tensor(&j, out->data_start, &x))
			return MFS_EFORMAT;
		x.name_off = (uint32_t)k;
		x.name_len = (uint32_t)klen;
		if ((rc = mfs_tensors_add(out, &cap, &x)))
			return rc;
	}
	j.pos++;
	ws(&j);
	/* Only padding after the object. */
	return j.pos == j.end ? 0 : MFS_EFORMAT;
}

/* ---- the front ----------------------------------------------------------- */

static int by_start(const void *a, const void *b)
{
	const struct mfs_tensor *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->name_off < y->name_off ? -1 : x->name_off > y->name_off;
}

/* Sorted, no two overlap; data_end. */
static int check_layout(struct mfs_tensors *t)
{
	if (t->n) /* qsort(NULL, 0) is undefined (UBSan, make fuzz) */
		qsort(t->v, t->n, sizeof(*t->v), by_start);
	for (uint32_t i = 0; i < t->n; i++) {
		if (t->v[i].start < t->data_start || t->v[i].end < t->v[i].start)
			return MFS_EFORMAT;
		if (i && t->v[i].start < t->v[i - 1].end)
			return MFS_EFORMAT;
		if (t->v[i].end > t->data_end)
			t->data_end = t->v[i].end;
	}
	return 0;
}

int mfs_tensors_parse(const uint8_t *buf, size_t len, struct mfs_tensors *out)
{
	uint64_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len >= 4 && !memcmp(buf, "GGUF", 4)) {
		rc = mfs_tensors_parse_gguf(buf, len, out);
	} else {
		if (len < 8)
			return -EAGAIN;
		n = get_le64(buf);
		if (n < 2 || n > MFS_TENSORS_HDR_MAX - 8)
			return -ENOENT;
		if (len < 9)
			return -EAGAIN;
		if (buf[8] != '{')
			return -ENOENT;
		rc = parse_safetensors(buf, len, out);
	}
	if (!rc)
		rc = check_layout(out);
	if (rc)
		mfs_tensors_release(out);
	return rc;
}
