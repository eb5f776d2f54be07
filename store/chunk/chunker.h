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

#endif
