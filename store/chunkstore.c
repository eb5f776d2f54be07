/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk records and their index entries; see chunkstore.h. */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "chunkstore.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "pack.h"

#define LOG_COMPONENT "chunks"

int mfs_chunk_exists(struct mfs_db *db, const struct mfs_hash *h)
{
	return mfs_db_exists(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN);
}

/*
 * Which records go to packs: the large ones, which through RocksDB cost a
 * copy into the memtable, a blob file write at the flush, and on every
 * read a copy out of the blob file.  Small ones stay in the chunks CF: a
 * small file's batch goes through the WAL and its group commit, which a
 * pack's fdatasync per file would make slower.
 */
static struct mfs_packs *packs_for(struct mfs_batch *b, size_t len)
{
	return len >= MFS_CHUNK_PACK_MIN ? mfs_db_packs(mfs_batch_db(b)) : NULL;
}

void mfs_chunk_stage_record(struct mfs_batch *b, const struct mfs_hash *h, const void *rec,
			    size_t len)
{
	struct mfs_packs *packs = packs_for(b, len);
	struct mfs_pack_loc loc;
	uint64_t ticket;
	int rc;

	if (!packs) {
		mfs_batch_put(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, rec, len);
		return;
	}
	mfs_batch_note_packed(b);
	/* Unindexed bytes if the rest fails: space only (chunkstore.h). */
	if ((rc = mfs_packs_append(packs, rec, len, &loc, &ticket)) ||
	    (rc = mfs_packs_pending_put(packs, h->b, &loc, ticket)))
		mfs_batch_fail(b, rc);
}

void mfs_chunk_stage_index(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len)
{
	struct mfs_packs *packs = packs_for(b, record_len);
	uint8_t idx[MFS_CHUNK_INDEX_V2_LEN];
	struct mfs_pack_loc loc;
	uint64_t ticket;
	size_t n = MFS_CHUNK_INDEX_LEN;

	idx[0] = MFS_CHUNK_INDEX_VERSION;
	idx[1] = info->codec;
	put_le32(idx + 2, info->raw_len);
	put_le32(idx + 6, (uint32_t)record_len);
	if (packs) {
		if (mfs_packs_pending_take(packs, h->b, &loc, &ticket) || loc.len != record_len) {
			char hex[MFS_HASH_HEX_LEN + 1];

			/* A caller's bug: never index a record we cannot point at. */
			mfs_hash_to_hex(h, hex);
			log_error("chunk %s: index staged without its record", hex);
			mfs_batch_fail(b, -EIO);
			return;
		}
		idx[0] = MFS_CHUNK_INDEX_V2;
		put_le32(idx + 10, loc.pack);
		put_le64(idx + 14, loc.off);
		n = MFS_CHUNK_INDEX_V2_LEN;
		mfs_batch_need_packs(b, ticket);
	}
	mfs_batch_put(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, idx, n);
}

void mfs_chunk_stage_delete(struct mfs_batch *b, const struct mfs_hash *h)
{
	mfs_batch_delete(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN);
	mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN);
}

static void summary_loc(const struct mfs_chunk_summary *s, struct mfs_pack_loc *loc)
{
	*loc = (struct mfs_pack_loc){ .pack = s->pack, .len = s->record_len, .off = s->off };
}

int mfs_chunk_free_space(struct mfs_db *db, const struct mfs_chunk_summary *s)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	struct mfs_pack_loc loc;

	if (!s->pack || !packs)
		return 0;
	summary_loc(s, &loc);
	return mfs_packs_punch(packs, &loc);
}

int mfs_chunk_summary_decode(const uint8_t *p, size_t n, struct mfs_chunk_summary *s)
{
	if (n < 2 || p[1] >= MFS_CODEC_COUNT)
		return MFS_EFORMAT;
	if (p[0] == MFS_CHUNK_INDEX_VERSION && n == MFS_CHUNK_INDEX_LEN) {
		s->pack = 0;
		s->off = 0;
	} else if (p[0] == MFS_CHUNK_INDEX_V2 && n == MFS_CHUNK_INDEX_V2_LEN) {
		s->pack = get_le32(p + 10);
		s->off = get_le64(p + 14);
		if (!s->pack)
			return MFS_EFORMAT;
	} else {
		return MFS_EFORMAT;
	}
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

/* A buffer a pack record of len bytes can be read into directly (pack.h); free() frees it. */
static uint8_t *record_buf(size_t len)
{
	void *p;

	return posix_memalign(&p, MFS_PACK_ALIGN, mfs_packs_read_cap(len ? len : 1)) ? NULL : p;
}

/*
 * A pack record, read into buf (from record_buf).  A pack that lost it:
 * MFS_ECORRUPT.
 */
static int pack_read(struct mfs_db *db, const struct mfs_chunk_summary *s, void *buf)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	struct mfs_pack_loc loc;
	int rc;

	if (!packs)
		return MFS_EFORMAT; /* a version 2 entry in a store without packs */
	summary_loc(s, &loc);
	rc = mfs_packs_read(packs, &loc, buf, mfs_packs_read_cap(loc.len));
	return rc == -ENOENT ? MFS_ECORRUPT : rc;
}

static void free_pin(void *p)
{
	free(p);
}

int mfs_chunk_record_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_val *v)
{
	struct mfs_chunk_summary s;
	uint8_t *buf;
	int rc = mfs_chunk_summary_get(db, h, &s);

	memset(v, 0, sizeof(*v));
	if (rc == -ENOENT || (!rc && !s.pack))
		return mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, v, 0);
	if (rc)
		return rc;
	if (!(buf = record_buf(s.record_len)))
		return -ENOMEM;
	if ((rc = pack_read(db, &s, buf))) {
		free(buf);
		return rc;
	}
	*v = (struct mfs_val){ .p = buf, .len = s.record_len, .pin = buf, .release = free_pin };
	return 0;
}

/* The thread's buffer for a compressed pack record, read then decoded out of. */
static uint8_t *scratch_get(size_t len)
{
	return mfs_packs_thread_buf(MFS_PACK_BUF_READ, mfs_packs_read_cap(len ? len : 1));
}

/*
 * A pack record into out: a raw one is read into a buffer out owns and
 * served from there (the only copy is the kernel's); a compressed one is
 * read into the thread's scratch buffer and decoded into out's.
 */
static int load_packed(struct mfs_db *db, struct mfs_codec_ctx *ctx,
		       const struct mfs_chunk_summary *s, struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	uint8_t *rec;
	ssize_t n;
	int rc;

	if (s->codec == MFS_CODEC_RAW) {
		if (!(out->owned = record_buf(s->record_len)))
			return -ENOMEM;
		rec = out->owned;
	} else if (!(rec = scratch_get(s->record_len))) {
		return -ENOMEM;
	}
	if ((rc = pack_read(db, s, rec)) || (rc = mfs_chunk_verify(rec, s->record_len, &info)))
		return rc;
	if (info.codec == MFS_CODEC_RAW && rec == out->owned) {
		out->p = rec + MFS_CHUNK_HDR_SIZE;
		out->len = info.raw_len;
		return 0;
	}
	if (info.codec == MFS_CODEC_RAW) {
		/* The index said compressed, the record says raw: serve it from a copy. */
		if (!(out->owned = malloc(info.raw_len ? info.raw_len : 1)))
			return -ENOMEM;
		memcpy(out->owned, rec + MFS_CHUNK_HDR_SIZE, info.raw_len);
	} else {
		uint8_t *dst = malloc(info.raw_len ? info.raw_len : 1);

		if (!dst)
			return -ENOMEM;
		/* Verified above: no second XXH64 pass over the record. */
		n = mfs_chunk_decode_verified(ctx, rec, &info, dst, info.raw_len);
		free(out->owned); /* rec, if the index said raw */
		out->owned = dst;
		if (n < 0)
			return (int)n;
	}
	out->p = out->owned;
	out->len = info.raw_len;
	return 0;
}

int mfs_chunk_load(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		   struct mfs_chunk_bytes *out, int deep)
{
	struct mfs_chunk_summary s;
	struct mfs_chunk_info info;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mfs_chunk_summary_get(db, h, &s);
	if (!rc && s.pack) {
		rc = load_packed(db, ctx, &s, out);
		goto checked;
	}
	/* Version 1, or not indexed (a staged record): the chunks CF. */
	if (rc && rc != -ENOENT)
		goto checked;
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
			n = mfs_chunk_decode_verified(ctx, out->pin.p, &info, out->owned,
						      info.raw_len);
			rc = n < 0 ? (int)n : 0;
			out->p = out->owned;
			out->len = info.raw_len;
		}
		mfs_val_release(&out->pin);
	}
checked:
	if (!rc && deep)
		rc = check_sha256(h, out->p, out->len);
	if (rc) {
		log_bad_chunk(h, rc);
		mfs_chunk_bytes_release(out);
	}
	return rc;
}

int mfs_chunk_read_range(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
			 uint32_t off, uint32_t len, void *out)
{
	struct mfs_chunk_summary s;
	struct mfs_val v = { 0 };
	const uint8_t *rec;
	size_t reclen;
	ssize_t n;
	int rc = mfs_chunk_summary_get(db, h, &s);

	if (rc)
		return rc;
	if (s.pack) {
		uint8_t *buf = scratch_get(s.record_len);

		if (!buf)
			return -ENOMEM;
		if ((rc = pack_read(db, &s, buf)))
			goto out;
		rec = buf;
		reclen = s.record_len;
	} else {
		if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, &v, 0)))
			return rc;
		rec = v.p;
		reclen = v.len;
	}
	n = mfs_chunk_decode_range(ctx, rec, reclen, off, out, len);
	rc = n < 0 ? (int)n : n == (ssize_t)len ? 0 : MFS_ECORRUPT;
out:
	mfs_val_release(&v);
	if (rc)
		log_bad_chunk(h, rc);
	return rc;
}

int mfs_chunk_packs_attach(struct mfs_db *db, const char *dir)
{
	struct mfs_packs *packs = NULL;
	struct mfs_iter *it = NULL;
	uint64_t lost = 0;
	char *path = NULL;
	int rc = -ENOMEM;

	if (asprintf(&path, "%s/packs", dir) < 0) {
		path = NULL;
		goto out;
	}
	if ((rc = mfs_packs_open(path, &packs)))
		goto out;
	/* Live bytes per pack: what the index names (a crash's leftovers are not). */
	if (!(it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0))) {
		rc = -ENOMEM;
		goto out;
	}
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;
		struct mfs_pack_loc loc;

		(void)mfs_iter_key(it, &kl);
		if (mfs_chunk_summary_decode(v, vl, &s) || !s.pack)
			continue;
		summary_loc(&s, &loc);
		if (mfs_packs_add_live(packs, &loc))
			lost++;
	}
	if ((rc = mfs_iter_error(it)))
		goto out;
	if (lost)
		log_error("%llu indexed chunk(s) name a pack that is missing (fsck reports them)",
			  (unsigned long long)lost);
	mfs_packs_drop_unused(packs);
	mfs_db_set_packs(db, packs, 1);
	packs = NULL;
out:
	if (rc)
		log_error("%s: cannot open the packs: %s", path ? path : dir, mfs_strerror(rc));
	mfs_iter_free(it);
	mfs_packs_close(packs);
	free(path);
	return rc;
}
