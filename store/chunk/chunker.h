/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content-defined chunking (FastCDC-style gear hash with normalised
 * chunking).  A cut depends only on the bytes just before it, so inserting
 * bytes early in a file moves at most the chunks around the insertion; all
 * later chunks keep their bytes and so their hashes (dedup across versions).
 *
 * The gear table and masks are part of the on-disk format in effect: changing
 * them changes every chunk boundary and so defeats dedup against data already
 * stored.  Never change them without bumping the chunking version in
 * doc/format.md.
 */
#ifndef MFS_CHUNKER_H
#define MFS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define MFS_CHUNK_MIN (256u * 1024)
#define MFS_CHUNK_AVG (1024u * 1024)
#define MFS_CHUNK_MAX (4u * 1024 * 1024)

/*
 * Length of the chunk that starts at buf[0].  The result is in
 * [1, min(len, MFS_CHUNK_MAX)].  Callers pass len >= MFS_CHUNK_MAX unless the
 * buffer holds the rest of the file: a cut is only final when the window was
 * long enough to contain it.  len == 0 returns 0.
 */
size_t mfs_chunker_cut(const uint8_t *buf, size_t len);

/*
 * The length of the chunk cut at the start of MFS_CHUNK_MAX or more zero
 * bytes: a long run of zeros is cut into chunks of this length (0 if it
 * could not be found: out of memory).  Ingest skips a sparse file's holes
 * by this, without reading them (ingest.c, skip_hole).
 */
size_t mfs_chunker_zero_cut(void);

/*
 * The first boundary of plan p after off, or UINT64_MAX (none, or p NULL).
 */
struct mfs_cutplan;
uint64_t mfs_cutplan_next(const struct mfs_cutplan *p, uint64_t off);

/*
 * Whether the scan runs in AVX-512 lanes (chunker.c; the same cuts): on
 * where the CPU has it.  0 makes it serial, 1 lanes if the CPU can; returns
 * whether lanes are used now.  For tests, which compare both ways.
 */
int mfs_chunker_lanes(int on);

/*
 * Tensor-aware cuts (chunking version 2, doc/format.md).  In a safetensors
 * or GGUF file (store/chunk/tensors.h) chunks never cross a boundary of
 * the plan: the end of the header, the start of every tensor of at least
 * MFS_CHUNK_MIN bytes, the start of every run of smaller tensors (packed
 * together, so a file of many tiny tensors still gets chunks of about
 * MFS_CHUNK_AVG), and the end of the tensor data.  Between boundaries the
 * cuts are content-defined as above, starting afresh at each boundary.  A
 * tensor's bytes then chunk the same wherever the tensor sits, whatever
 * its neighbours hold and however long the header grew.  Alignment padding
 * goes with the tensor before it.
 */
struct mfs_tensors;

struct mfs_cutplan {
	uint64_t *b;            /* boundaries, strictly increasing; owned */
	size_t n;
	uint64_t data_end;      /* the file must be this long for the plan to hold */
};

/* The plan of a parsed header.  0 or -ENOMEM; release with mfs_cutplan_release. */
int mfs_cutplan_build(const struct mfs_tensors *t, struct mfs_cutplan *out);
void mfs_cutplan_release(struct mfs_cutplan *p);

/*
 * The chunk that starts at file offset off, buf[0..len) being the bytes
 * from there, under plan p (NULL: plain content-defined chunking): its
 * length, or 0 while the cut is not final (fewer than MFS_CHUNK_MAX bytes
 * and no boundary in buf, and eof is 0: buf does not reach the file's end).
 */
size_t mfs_chunker_cut_at(const struct mfs_cutplan *p, uint64_t off, const uint8_t *buf,
			  size_t len, int eof);

#endif
