/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte packing for on-disk records and keys.  Values are little endian;
 * keys that must sort numerically (inode numbers in dirent keys) are big
 * endian.  The reader (struct mfs_rd) is bounds checked: a short or
 * malformed record sets rd->bad instead of reading past the end, so decoders
 * check once at the end.
 */
#ifndef MFS_BYTES_H
#define MFS_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static inline void put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static inline void put_be64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (56 - 8 * i); }
static inline uint16_t get_le16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static inline uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }
static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Whether p[0..n) are all zero (n > 0): a memcmp at memory speed, stopping at the first other byte. */
static inline int mfs_all_zero(const uint8_t *p, size_t n)
{
	return n && !p[0] && !memcmp(p, p + 1, n - 1);
}

/* A growable output buffer; on allocation failure it sets oom and stops growing. */
struct mfs_wr {
	uint8_t *buf;
	size_t len, cap;
	int oom;
};

void mfs_wr_put(struct mfs_wr *w, const void *p, size_t n);
/*
 * Makes room for n more bytes at once, when the caller knows the size
 * (a snapshot image: growing 300 MiB by doubling copies it about twice and
 * faults in fresh pages each time).  Sets oom if it cannot.
 */
void mfs_wr_reserve(struct mfs_wr *w, size_t n);
void mfs_wr_u8(struct mfs_wr *w, uint8_t v);
void mfs_wr_u16(struct mfs_wr *w, uint16_t v);
void mfs_wr_u32(struct mfs_wr *w, uint32_t v);
void mfs_wr_u64(struct mfs_wr *w, uint64_t v);
/* Frees the buffer and resets w. */
void mfs_wr_release(struct mfs_wr *w);

/*
 * Makes room for element n of the array *v (capacity *cap, in elements of
 * elem bytes), doubling from 64.  0 or -ENOMEM (the array is unchanged).
 */
int mfs_grow(void *v, size_t *cap, size_t n, size_t elem);

struct mfs_rd {
	const uint8_t *p;
	size_t left;
	int bad;
};

static inline const uint8_t *mfs_rd_take(struct mfs_rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}
static inline uint8_t mfs_rd_u8(struct mfs_rd *r) { const uint8_t *p = mfs_rd_take(r, 1); return p ? p[0] : 0; }
static inline uint16_t mfs_rd_u16(struct mfs_rd *r) { const uint8_t *p = mfs_rd_take(r, 2); return p ? get_le16(p) : 0; }
static inline uint32_t mfs_rd_u32(struct mfs_rd *r) { const uint8_t *p = mfs_rd_take(r, 4); return p ? get_le32(p) : 0; }
static inline uint64_t mfs_rd_u64(struct mfs_rd *r) { const uint8_t *p = mfs_rd_take(r, 8); return p ? get_le64(p) : 0; }

#endif
