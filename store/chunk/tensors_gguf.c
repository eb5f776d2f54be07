/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GGUF v2/v3 headers (little-endian): "GGUF", u32 version, u64 tensor
 * count, u64 key-value count, the key-value pairs (a string key, a u32
 * type, a value), then per tensor: a string name, u32 n_dims (<= 4),
 * n_dims u64 dims, u32 ggml_type, u64 offset from the data section, which
 * starts at the next multiple of general.alignment (a u32 power of two,
 * default 32).  Strings are a u64 length and bytes.
 *
 * Every read is bounded by the bytes given (-EAGAIN past them) and by
 * MFS_TENSORS_HDR_MAX (refused past it), so the loops, whatever the counts
 * say, end within that many bytes.  A tensor's size comes from its type's
 * block size; an unknown type is refused (NEEDSWORK: new ggml types need a
 * row in ggml_types[]; until then such files are cut as any file).
 */
#include <errno.h>
#include <string.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "tensors.h"
#include "tensors_internal.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* GGUF value types: never renumber (the format's). */
enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64,
       T_F64, T_COUNT };
static const uint8_t fixed_size[T_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

/* ggml_type -> elements per block, bytes per block (0: unknown or removed). */
static const struct {
	uint16_t block, bytes;
	enum mfs_dtype dt;
} ggml_types[] = {
	[0] = { 1, 4, MFS_DT_F32 },      [1] = { 1, 2, MFS_DT_F16 },
	[2] = { 32, 18, MFS_DT_BLOCKS }, [3] = { 32, 20, MFS_DT_BLOCKS },   /* Q4_0, Q4_1 */
	[6] = { 32, 22, MFS_DT_BLOCKS }, [7] = { 32, 24, MFS_DT_BLOCKS },   /* Q5_0, Q5_1 */
	[8] = { 32, 34, MFS_DT_BLOCKS }, [9] = { 32, 36, MFS_DT_BLOCKS },   /* Q8_0, Q8_1 */
	[10] = { 256, 84, MFS_DT_BLOCKS }, [11] = { 256, 110, MFS_DT_BLOCKS }, /* Q2_K, Q3_K */
	[12] = { 256, 144, MFS_DT_BLOCKS }, [13] = { 256, 176, MFS_DT_BLOCKS }, /* Q4_K, Q5_K */
	[14] = { 256, 210, MFS_DT_BLOCKS }, [15] = { 256, 292, MFS_DT_BLOCKS }, /* Q6_K, Q8_K */
	[16] = { 256, 66, MFS_DT_BLOCKS }, [17] = { 256, 74, MFS_DT_BLOCKS },  /* IQ2_XXS, IQ2_XS */
	[18] = { 256, 98, MFS_DT_BLOCKS }, [19] = { 256, 50, MFS_DT_BLOCKS },  /* IQ3_XXS, IQ1_S */
	[20] = { 32, 18, MFS_DT_BLOCKS }, [21] = { 256, 110, MFS_DT_BLOCKS },  /* IQ4_NL, IQ3_S */
	[22] = { 256, 82, MFS_DT_BLOCKS }, [23] = { 256, 136, MFS_DT_BLOCKS }, /* IQ2_S, IQ4_XS */
	[24] = { 1, 1, MFS_DT_I8 },     [25] = { 1, 2, MFS_DT_I16 },
	[26] = { 1, 4, MFS_DT_I32 },    [27] = { 1, 8, MFS_DT_I64 },
	[28] = { 1, 8, MFS_DT_F64 },    [29] = { 256, 56, MFS_DT_BLOCKS },     /* IQ1_M */
	[30] = { 1, 2, MFS_DT_BF16 },
	[34] = { 256, 54, MFS_DT_BLOCKS }, [35] = { 256, 66, MFS_DT_BLOCKS },  /* TQ1_0, TQ2_0 */
	[39] = { 32, 17, MFS_DT_BLOCKS },                                      /* MXFP4 */
};
#define N_GGML_TYPES (sizeof(ggml_types) / sizeof(ggml_types[0]))

struct rd {
	const uint8_t *p;
	size_t len;
	uint64_t pos;
	int rc;                 /* the first failure: -EAGAIN or MFS_EFORMAT */
};

/* n more bytes, or NULL with r->rc set. */
static const uint8_t *take(struct rd *r, uint64_t n)
{
	const uint8_t *q;

	if (r->rc)
		return NULL;
	if (n > MFS_TENSORS_HDR_MAX || r->pos + n > MFS_TENSORS_HDR_MAX) {
		r->rc = MFS_EFORMAT;
		return NULL;
	}
	if (r->pos + n > r->len) {
		r->rc = -EAGAIN;
		return NULL;
	}
	q = r->p + r->pos;
	r->pos += n;
	return q;
}

static uint32_t u32(struct rd *r)
{
	const uint8_t *q = take(r, 4);

	return q ? get_le32(q) : 0;
}

static uint64_t u64(struct rd *r)
{
	const uint8_t *q = take(r, 8);

	return q ? get_le64(q) : 0;
}

/* A string: its bytes' offset, *len its length. */
static uint64_t string(struct rd *r, uint64_t *len)
{
	uint64_t off;

	*len = u64(r);
	off = r->pos;
	take(r, *len);
	return off;
}

static int fail(struct rd *r)
{
	if (!r->rc)
		r->rc = MFS_EFORMAT;
	return r->rc;
}

/* Skips a value of type t (arrays of arrays are refused). */
static int skip_value(struct rd *r, uint32_t t)
{
	uint64_t n, len;

	if (t == T_STRING) {
		string(r, &len);
	} else if (t == T_ARRAY) {
		t = u32(r);
		n = u64(r);
		if (r->rc || t >= T_COUNT || t == T_ARRAY)
			return fail(r);
		if (t == T_STRING)
			for (uint64_t i = 0; i < n && !r->rc; i++)
				string(r, &len);
		else if (n > MFS_TENSORS_HDR_MAX)
			return fail(r);
		else
			take(r, n * fixed_size[t]);
	} else if (t < T_COUNT) {
		take(r, fixed_size[t]);
	} else {
		return fail(r);
	}
	return r->rc;
}

/* The key-value pairs; general.alignment into *align. */
static int read_kv(struct rd *r, uint64_t count, uint32_t *align)
{
	for (uint64_t i = 0; i < count && !r->rc; i++) {
		uint64_t klen, koff = string(r, &klen);
		uint32_t t = u32(r);

		if (r->rc)
			break;
		if (klen == 17 && !memcmp(r->p + koff, "general.alignment", 17)) {
			if (t != T_U32)
				return fail(r);
			*align = u32(r);
			if (!r->rc && (!*align || (*align & (*align - 1))))
				return fail(r);
		} else {
			skip_value(r, t);
		}
	}
	return r->rc;
}

/* One tensor info into *x (start/end relative to the data section). */
static int read_tensor(struct rd *r, uint32_t align, struct mfs_tensor *x)
{
	uint64_t nlen, noff = string(r, &nlen), elems = 1, blocks, bytes, off;
	uint32_t t;

	x->ndim = u32(r);
	if (r->rc || x->ndim > GGUF_MAX_DIMS)
		return fail(r);
	for (uint32_t d = 0; d < x->ndim; d++)
		if (mfs_tensors_mul(elems, x->shape[d] = u64(r), &elems))
			return fail(r);
	t = u32(r);
	off = u64(r);
	if (r->rc)
		return r->rc;
	if (t >= N_GGML_TYPES || !ggml_types[t].bytes || off % align || off > (UINT64_MAX >> 2) ||
	    (x->ndim && x->shape[0] % ggml_types[t].block))
		return fail(r);
	blocks = elems / ggml_types[t].block;
	if (mfs_tensors_mul(blocks, ggml_types[t].bytes, &bytes) || bytes > (UINT64_MAX >> 2))
		return fail(r);
	x->name_off = (uint32_t)noff;
	x->name_len = (uint32_t)nlen;
	x->raw_type = t;
	x->dtype = ggml_types[t].dt;
	x->width = ggml_types[t].block == 1 ? ggml_types[t].bytes : 0;
	x->start = off;
	x->end = off + bytes;
	return 0;
}

int mfs_tensors_parse_gguf(const uint8_t *buf, size_t len, struct mfs_tensors *out)
{
	struct rd r = { buf, len, 4, 0 };
	uint32_t version = u32(&r), align = GGUF_DEFAULT_ALIGNMENT;
	uint64_t ntensors = u64(&r), nkv = u64(&r);
	size_t cap = 0;
	int rc;

	if (r.rc)
		return r.rc;
	if ((version != 2 && version != 3) || ntensors > MFS_TENSORS_MAX)
		return MFS_EFORMAT;
	if ((rc = read_kv(&r, nkv, &align)))
		return rc;
	out->format = MFS_TENSORS_GGUF;
	for (uint64_t i = 0; i < ntensors; i++) {
		struct mfs_tensor x = { 0 };

		if ((rc = read_tensor(&r, align, &x)) || (rc = mfs_tensors_add(out, &cap, &x)))
			return rc;
	}
	out->data_start = (r.pos + align - 1) / align * align;
	out->data_end = out->data_start;
	for (uint32_t i = 0; i < out->n; i++) {
		out->v[i].start += out->data_start;
		out->v[i].end += out->data_start;
	}
	return 0;
}
