/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte planes of w-byte words (w = 2 or 4): the transforms under the plane
 * codecs of store/codec.c.  Plane k holds byte k of every word.
 */
#ifndef MFS_PLANES_H
#define MFS_PLANES_H

#include <stddef.h>
#include <stdint.h>

/*
 * in[0..len) to out[0..len): the w planes of the len / w whole words one
 * after another, then the len % w trailing bytes unchanged.
 */
void mfs_planes_split(const uint8_t *in, size_t len, uint8_t *out, unsigned w);
/* The inverse of mfs_planes_split(). */
void mfs_planes_join(const uint8_t *in, size_t len, uint8_t *out, unsigned w);
/* m words from the w planes at plane[0..w) (each m bytes, anywhere) into out[0..m * w). */
void mfs_planes_gather(const uint8_t *const plane[], size_t m, uint8_t *out, unsigned w);
/*
 * mfs_planes_gather with stores that go to memory, not through the cache,
 * for output nothing reads soon but the kernel's copy of a FUSE reply (a
 * chunk cache load): the join then writes without reading every line in
 * first (codec.h, mfs_codec_set_stream_out).  Plain stores where out is
 * not 32-byte aligned or without AVX2.
 */
void mfs_planes_gather_nt(const uint8_t *const plane[], size_t m, uint8_t *out, unsigned w);
/* The same for word i := a[k][i] ^ b[k][i] (k < w): two records' planes XORed as joined. */
void mfs_planes_gather_xor(const uint8_t *const a[], const uint8_t *const b[], size_t m,
			   uint8_t *out, unsigned w);

#endif
