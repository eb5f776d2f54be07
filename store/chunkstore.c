/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk records and their index entries; see chunkstore.h. */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "chunkstore.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#define LOG_COMPONENT "chunks"

int mfs_chunk_exists(struct mfs_db *db, const struct mfs_hash *h)
{
	return mfs_db_exists(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN);
}

void mfs_chunk_stage(struct mfs_batch *b, const struct mfs_hash *h, const void *rec, size_t len,
		     const struct mfs_chunk_info *info)
{
	uint8_t idx[MFS_CHUNK_INDEX_LEN];

	idx[0] = MFS_CHUNK_INDEX_VERSION;
	idx[1] = info->codec;
	put_le32(idx + 2, info->raw_len);
	put_le32(idx + 6, (uint32_t)len);
	mfs_batch_put(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, rec, len);
	mfs_batch_put(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, idx, sizeof(idx));
}

int mfs_chunk_summary_decode(const uint8_t *p, size_t n, struct mfs_chunk_summary *s)
{
	if (n != MFS_CHUNK_INDEX_LEN || p[0] != MFS_CHUNK_INDEX_VERSION || p[1] >= MFS_CODEC_COUNT)
		return MFS_EFORMAT;
	s->codec = p[1];
	s->raw_len = get_le32(p + 2);
	s->record_len = get_le32(p + 6);
	return 0;
}

ssize_t mfs_chunk_read(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		       void *out, size_t cap, int deep)
{
	char hex[MFS_HASH_HEX_LEN + 1];
	struct mfs_val v;
	struct mfs_hash got;
	ssize_t n;
	int rc;

	if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, &v, 0)))
		return rc;
	n = mfs_chunk_decode(ctx, v.p, v.len, out, cap);
	mfs_val_release(&v);
	if (n >= 0 && deep) {
		mfs_sha256(out, n, &got);
		if (memcmp(got.b, h->b, MFS_HASH_LEN))
			n = MFS_EBADHASH;
	}
	if (n == MFS_ECORRUPT || n == MFS_EBADHASH || n == MFS_EFORMAT) {
		mfs_hash_to_hex(h, hex);
		log_error("chunk %s: %s", hex, mfs_strerror((int)n));
	}
	return n;
}
