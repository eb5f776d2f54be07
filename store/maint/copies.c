/* SPDX-License-Identifier: Apache-2.0 */
/* This node's copy of a chunk, as fsck and peers' CHECK see it (copies.h). */
#include <errno.h>

#include "copies.h"
#include "store/base/errors.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/delta.h"
#include "store/kv/db.h"

static int is_bad_bytes(int rc)
{
	return rc == MFS_ECORRUPT || rc == MFS_EBADHASH || rc == MFS_EFORMAT;
}

int mfs_copy_state_local(struct mfs_db *db, const struct mfs_hash *h, uint32_t raw_len,
			 unsigned flags)
{
	struct mfs_chunk_info info;
	struct mfs_val v;
	int rc = mfs_chunk_exists(db, h);

	/* The index says what is stored: a record it does not name is not (commit protocol). */
	if (rc <= 0)
		return rc ? rc : MFS_COPY_ABSENT;
	if (flags & MFS_COPY_QUICK)
		return MFS_COPY_STORED;
	if (flags & MFS_COPY_DEEP) {
		struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
		struct mfs_chunk_bytes bytes;

		if (!ctx)
			return -ENOMEM;
		rc = mfs_chunk_load(db, ctx, h, &bytes, 1);
		if (!rc) {
			rc = !raw_len || bytes.len == raw_len ? MFS_COPY_STORED : MFS_COPY_CORRUPT;
			mfs_chunk_bytes_release(&bytes);
			return rc;
		}
	} else {
		rc = mfs_chunk_record_get(db, h, &v);
		if (!rc) {
			rc = mfs_chunk_verify(v.p, v.len, &info);
			/* A delta is whole only with its bases (store/chunk/delta.h). */
			if (!rc && info.codec == MFS_CODEC_DELTA)
				rc = mfs_delta_check_bases(db, h, v.p, v.len);
			mfs_val_release(&v);
			if (!rc)
				return !raw_len || info.raw_len == raw_len ? MFS_COPY_STORED : MFS_COPY_CORRUPT;
		}
	}
	/* Indexed but its record is gone: as bad as a damaged one. */
	return rc == -ENOENT || is_bad_bytes(rc) ? MFS_COPY_CORRUPT : rc;
}
