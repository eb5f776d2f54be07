/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk records and their index entries; see chunkstore.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
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

void mfs_chunk_stage_record(struct mfs_batch *b, const struct mfs_hash *h, const void *rec,
			    size_t len)
{
	mfs_batch_put(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, rec, len);
}

void mfs_chunk_stage_index(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len)
{
	uint8_t idx[MFS_CHUNK_INDEX_LEN];

	idx[0] = MFS_CHUNK_INDEX_VERSION;
	idx[1] = info->codec;
	put_le32(idx + 2, info->raw_len);
	put_le32(idx + 6, (uint32_t)record_len);
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

int mfs_chunk_summary_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_chunk_summary *s)
{
	struct mfs_val v;
	int rc = mfs_db_get(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, &v, 1);

	if (rc)
		return rc;
	rc = mfs_chunk_summary_decode(v.p, v.len, s);
	mfs_val_release(&v);
	return rc;
}

/*
 * Logs a bad chunk as an error the first time only: readers retry (the
 * kernel alone re-reads a failed page), and one line per attempt would bury
 * the log.  Remembers the last BAD_SEEN chunks.
 */
#define BAD_SEEN 64
static struct mfs_hash bad_seen[BAD_SEEN];
static unsigned bad_next;
static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_bad_chunk(const struct mfs_hash *h, int rc)
{
	char hex[MFS_HASH_HEX_LEN + 1];
	int seen = 0;

	if (rc != MFS_ECORRUPT && rc != MFS_EBADHASH && rc != MFS_EFORMAT)
		return;
	pthread_mutex_lock(&bad_lock);
	for (unsigned i = 0; i < BAD_SEEN && !seen; i++)
		seen = !memcmp(bad_seen[i].b, h->b, MFS_HASH_LEN);
	if (!seen)
		bad_seen[bad_next++ % BAD_SEEN] = *h;
	pthread_mutex_unlock(&bad_lock);
	if (seen)
		return;
	mfs_hash_to_hex(h, hex);
	log_error("chunk %s: %s (this copy is never served)", hex, mfs_strerror(rc));
}

static int check_sha256(const struct mfs_hash *h, const void *p, size_t n)
{
	struct mfs_hash got;
	int rc;

	if ((rc = mfs_sha256(p, n, &got)))
		return rc;
	return memcmp(got.b, h->b, MFS_HASH_LEN) ? MFS_EBADHASH : 0;
}

void mfs_chunk_bytes_release(struct mfs_chunk_bytes *b)
{
	free(b->owned);
	mfs_val_release(&b->pin);
	memset(b, 0, sizeof(*b));
}

int mfs_chunk_load(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		   struct mfs_chunk_bytes *out, int deep)
{
	struct mfs_chunk_info info;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, &out->pin, 0)))
		return rc;
	rc = mfs_chunk_verify(out->pin.p, out->pin.len, &info);
	if (!rc && info.codec == MFS_CODEC_RAW) {
		out->p = out->pin.p + MFS_CHUNK_HDR_SIZE;
		out->len = info.raw_len;
	} else if (!rc) {
		if (!(out->owned = malloc(info.raw_len ? info.raw_len : 1))) {
			rc = -ENOMEM;
		} else {
			n = mfs_chunk_decode(ctx, out->pin.p, out->pin.len, out->owned, info.raw_len);
			rc = n < 0 ? (int)n : 0;
			out->p = out->owned;
			out->len = info.raw_len;
		}
		mfs_val_release(&out->pin);
	}
	if (!rc && deep)
		rc = check_sha256(h, out->p, out->len);
	if (rc) {
		log_bad_chunk(h, rc);
		mfs_chunk_bytes_release(out);
	}
	return rc;
}
