/* SPDX-License-Identifier: Apache-2.0 */
/* The growable writer of bytes.h; records are small, so doubling is fine. */
#include <errno.h>
#include <stdlib.h>

#include "bytes.h"

void mfs_wr_reserve(struct mfs_wr *w, size_t n)
{
	uint8_t *nb;

	if (w->oom || w->len + n <= w->cap)
		return;
	if (n > SIZE_MAX - w->len || !(nb = realloc(w->buf, w->len + n))) {
		w->oom = 1;
		return;
	}
	w->buf = nb;
	w->cap = w->len + n;
}

void mfs_wr_put(struct mfs_wr *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *nb;

		while (cap < w->len + n)
			cap *= 2;
		nb = realloc(w->buf, cap);
		if (!nb) {
			w->oom = 1;
			return;
		}
		w->buf = nb;
		w->cap = cap;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void mfs_wr_u8(struct mfs_wr *w, uint8_t v) { mfs_wr_put(w, &v, 1); }
void mfs_wr_u16(struct mfs_wr *w, uint16_t v) { uint8_t b[2]; put_le16(b, v); mfs_wr_put(w, b, 2); }
void mfs_wr_u32(struct mfs_wr *w, uint32_t v) { uint8_t b[4]; put_le32(b, v); mfs_wr_put(w, b, 4); }
void mfs_wr_u64(struct mfs_wr *w, uint64_t v) { uint8_t b[8]; put_le64(b, v); mfs_wr_put(w, b, 8); }

void mfs_wr_release(struct mfs_wr *w)
{
	free(w->buf);
	*w = (struct mfs_wr){ 0 };
}

int mfs_grow(void *v, size_t *cap, size_t n, size_t elem)
{
	void **pv = v, *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (!(nv = realloc(*pv, ncap * elem)))
		return -ENOMEM;
	*pv = nv;
	*cap = ncap;
	return 0;
}
