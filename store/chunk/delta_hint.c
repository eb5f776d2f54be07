/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding a fine-tune's base by its tensor layout (delta_hint.h).
 *
 * The layout id is the SHA-256 of, in file order, each tensor's name,
 * dtype (the format's own code too), shape and byte length, after the
 * format: what a fine-tune keeps of its base.  The header's metadata and
 * length are left out (a fine-tune adds keys), and so are absolute
 * offsets (they move with the header's length).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "delta_hint.h"
#include "store/base/bytes.h"
#include "store/kv/db.h"
#include "tensors.h"

#define HINT_PREFIX "tl:"
#define HINT_PREFIX_LEN 3
#define HINT_VERSION 1
#define HINT_VALUE_LEN (1 + MFS_HASH_LEN)

int mfs_delta_layout_id(const struct mfs_tensors *t, const uint8_t *hdr, struct mfs_hash *out)
{
	struct mfs_wr w = { 0 };
	int rc;

	if (!t->n)
		return -ENOENT;
	mfs_wr_u8(&w, (uint8_t)t->format);
	mfs_wr_u32(&w, t->n);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct mfs_tensor *x = &t->v[i];

		mfs_wr_u32(&w, x->name_len);
		mfs_wr_put(&w, hdr + x->name_off, x->name_len);
		mfs_wr_u8(&w, (uint8_t)x->dtype);
		mfs_wr_u32(&w, x->raw_type);
		mfs_wr_u8(&w, (uint8_t)x->ndim);
		for (uint32_t d = 0; d < x->ndim; d++)
			mfs_wr_u64(&w, x->shape[d]);
		mfs_wr_u64(&w, x->end - x->start);
	}
	rc = w.oom ? -ENOMEM : mfs_sha256(w.buf, w.len, out);
	mfs_wr_release(&w);
	return rc;
}

static size_t hint_key(const struct mfs_hash *layout, uint8_t key[HINT_PREFIX_LEN + MFS_HASH_LEN])
{
	memcpy(key, HINT_PREFIX, HINT_PREFIX_LEN);
	memcpy(key + HINT_PREFIX_LEN, layout->b, MFS_HASH_LEN);
	return HINT_PREFIX_LEN + MFS_HASH_LEN;
}

int mfs_delta_hint_get(struct mfs_db *db, const struct mfs_hash *layout, struct mfs_hash *manifest)
{
	uint8_t key[HINT_PREFIX_LEN + MFS_HASH_LEN];
	struct mfs_val v = { 0 };
	int rc = mfs_db_get(db, MFS_CF_META, key, hint_key(layout, key), &v, 0);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	/* Another version or length: a hint this build cannot read is no hint. */
	if (v.len == HINT_VALUE_LEN && v.p[0] == HINT_VERSION) {
		memcpy(manifest->b, v.p + 1, MFS_HASH_LEN);
		rc = 1;
	}
	mfs_val_release(&v);
	return rc;
}

void mfs_delta_hint_stage(struct mfs_batch *b, const struct mfs_hash *layout,
			  const struct mfs_hash *manifest)
{
	uint8_t key[HINT_PREFIX_LEN + MFS_HASH_LEN], val[HINT_VALUE_LEN];

	val[0] = HINT_VERSION;
	memcpy(val + 1, manifest->b, MFS_HASH_LEN);
	mfs_batch_put(b, MFS_CF_META, key, hint_key(layout, key), val, sizeof(val));
}
