/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tensor layouts of model files, read from the file's own first bytes:
 * safetensors (an 8-byte little-endian length, then a JSON header whose
 * data_offsets count from the header's end) and GGUF v2/v3 (a binary header,
 * key-value metadata, then tensor infos whose offsets count from the aligned
 * data section).  The chunker cuts at the tensors' boundaries
 * (store/chunk/chunker.h, mfs_cutplan); fine-tune deltas will match tensors by
 * name, dtype and shape.
 *
 * The bytes are untrusted: every length is bounded by the buffer and by
 * MFS_TENSORS_HDR_MAX, counts by MFS_TENSORS_MAX, and a header that lies
 * (overlapping tensors, a size its dtype and shape contradict, an unknown
 * GGUF type, nested GGUF arrays) is refused.  Tensors listed out of order
 * are sorted by offset.  Whether the tensors fit in the file is the caller's
 * check (data_end against the file's size): the header is parsed before the
 * file's end may have been written.
 */
#ifndef MFS_TENSORS_H
#define MFS_TENSORS_H

#include <stddef.h>
#include <stdint.h>

/* A header (up to the data section's start) longer than this is not parsed. */
#define MFS_TENSORS_HDR_MAX (16u << 20)
/* Nor one that lists more tensors. */
#define MFS_TENSORS_MAX (1u << 18)
#define MFS_TENSOR_MAX_DIMS 8

enum mfs_tensors_format {
	MFS_TENSORS_SAFETENSORS = 1,
	MFS_TENSORS_GGUF = 2,
};

/* Element types, across both formats. */
enum mfs_dtype {
	MFS_DT_OTHER = 0,       /* a safetensors dtype this code does not know */
	MFS_DT_F64, MFS_DT_F32, MFS_DT_F16, MFS_DT_BF16, MFS_DT_F8_E4M3, MFS_DT_F8_E5M2,
	MFS_DT_I64, MFS_DT_I32, MFS_DT_I16, MFS_DT_I8,
	MFS_DT_U64, MFS_DT_U32, MFS_DT_U16, MFS_DT_U8, MFS_DT_BOOL,
	MFS_DT_BLOCKS,          /* GGUF quantized blocks (see raw_type) */
};

struct mfs_tensor {
	uint64_t start, end;    /* its bytes: [start, end) of the file */
	uint32_t name_off;      /* its name: header bytes [name_off, +name_len) */
	uint32_t name_len;      /*   (JSON escapes left as they are) */
	enum mfs_dtype dtype;
	uint32_t raw_type;      /* the format's own code: ggml_type; safetensors: 0 */
	uint32_t width;         /* bytes per element; 0 for blocks and unknown dtypes */
	uint32_t ndim;
	uint64_t shape[MFS_TENSOR_MAX_DIMS];
};

struct mfs_tensors {
	enum mfs_tensors_format format;
	uint64_t data_start;    /* where the header ends (GGUF: aligned) */
	uint64_t data_end;      /* the largest tensor end; data_start if none */
	uint32_t n;
	struct mfs_tensor *v;   /* sorted by start; owned, mfs_tensors_release() */
};

/*
 * Parses the header at the start of a file from buf[0..len), the file's
 * first len bytes.  0: *out holds the tensors (release it).  -EAGAIN: the
 * header goes on past len (within MFS_TENSORS_HDR_MAX): call again with
 * more bytes; at the file's end, it is not a model file.  -ENOENT: not a
 * safetensors or GGUF file.  MFS_EFORMAT: one whose header is malformed or
 * refused.  -ENOMEM.  The answer for a given file never depends on len
 * beyond the header: more bytes never turn a refusal into a parse.
 */
int mfs_tensors_parse(const uint8_t *buf, size_t len, struct mfs_tensors *out);

/* Frees out->v; out may be zeroed or released already. */
void mfs_tensors_release(struct mfs_tensors *out);

#endif
