/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tensor-aware cuts: the boundaries a model file's header gives, and the
 * cut at an offset under them (chunker.h).  Part of the chunking format
 * (version 2): which tensors get a boundary decides every chunk of a model
 * file.
 *
 * Why only these boundaries: a tensor of MFS_CHUNK_MIN or more starts a
 * region of its own, so a changed tensor spoils only its own chunks (a
 * small one: those of its run).
 * Small tensors are packed into runs cut by content, so a file of
 * thousands of norms and biases does not become thousands of chunks: a
 * region is at least MFS_CHUNK_MIN long or is a run ended by a large
 * tensor, so a file has at most 3 * size / MFS_CHUNK_MIN + 3 chunks.
 * A tensor's end is no boundary: GGUF pads tensors to the alignment, and a
 * boundary there would make a chunk of the padding alone.
 */
#include <errno.h>
#include <stdlib.h>

#include "chunker.h"
#include "store/base/bytes.h"
#include "tensors.h"

static int push(struct mfs_cutplan *p, size_t *cap, uint64_t b)
{
	if (!b || (p->n && p->b[p->n - 1] >= b))
		return 0; /* tensors are sorted: a repeat, or offset 0 */
	if (mfs_grow(&p->b, cap, p->n, sizeof(*p->b)))
		return -ENOMEM;
	p->b[p->n++] = b;
	return 0;
}

int mfs_cutplan_build(const struct mfs_tensors *t, struct mfs_cutplan *out)
{
	size_t cap = 0;
	int big_before = 1, rc;

	out->b = NULL;
	out->n = 0;
	out->data_end = t->data_end;
	rc = push(out, &cap, t->data_start); /* the header is a region of its own */
	for (uint32_t i = 0; i < t->n && !rc; i++) {
		uint64_t size = t->v[i].end - t->v[i].start;
		int big = size >= MFS_CHUNK_MIN;

		if (!size)
			continue;
		if (big || big_before)
			rc = push(out, &cap, t->v[i].start);
		big_before = big;
	}
	if (!rc)
		rc = push(out, &cap, t->data_end);
	if (rc)
		mfs_cutplan_release(out);
	return rc;
}

void mfs_cutplan_release(struct mfs_cutplan *p)
{
	free(p->b);
	p->b = NULL;
	p->n = 0;
}

/* The first boundary after off, or UINT64_MAX. */
static uint64_t next_boundary(const struct mfs_cutplan *p, uint64_t off)
{
	size_t lo = 0, hi = p ? p->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->b[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p && lo < p->n ? p->b[lo] : UINT64_MAX;
}

uint64_t mfs_cutplan_next(const struct mfs_cutplan *p, uint64_t off)
{
	return next_boundary(p, off);
}

size_t mfs_chunker_cut_at(const struct mfs_cutplan *p, uint64_t off, const uint8_t *buf,
			  size_t len, int eof)
{
	uint64_t region = next_boundary(p, off) - off;

	/* The region ends within buf: its cuts are all known. */
	if (region <= len)
		return mfs_chunker_cut(buf, (size_t)region);
	/* Else a cut needs MAX bytes (chunker.h); the same cut for any len >= MAX. */
	if (!eof && len < MFS_CHUNK_MAX)
		return 0;
	return mfs_chunker_cut(buf, len);
}
