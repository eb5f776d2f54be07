/* SPDX-License-Identifier: Apache-2.0 */
/* The recode pass over deferred raw chunks; see recode.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "recode.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/codec.h"
#include "store/kv/db.h"
#include "store/kv/pack.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "recode"

int mfs_recode_next(struct mfs_db *db, const struct mfs_hash *after, struct mfs_hash *h)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_META, MFS_RECODE_PREFIX, MFS_RECODE_PREFIX_LEN);
	int rc = -ENOENT;

	if (!it)
		return -ENOMEM;
	if (after) {
		uint8_t key[MFS_RECODE_KEY_LEN];

		mfs_recode_key(after, key);
		mfs_iter_seek(it, key, sizeof(key));
	}
	for (; mfs_iter_valid(it) && rc == -ENOENT; mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);

		if (kl != MFS_RECODE_KEY_LEN)
			continue; /* not ours: fsck reports a malformed meta key */
		if (after && !memcmp(k + MFS_RECODE_PREFIX_LEN, after->b, MFS_HASH_LEN))
			continue;
		memcpy(h->b, k + MFS_RECODE_PREFIX_LEN, MFS_HASH_LEN);
		rc = 0;
	}
	if (rc == -ENOENT && mfs_iter_error(it))
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_recode_queued(struct mfs_db *db, const struct mfs_hash *h)
{
	uint8_t key[MFS_RECODE_KEY_LEN];

	mfs_recode_key(h, key);
	return mfs_db_exists(db, MFS_CF_META, key, sizeof(key));
}

int mfs_recode_count(struct mfs_db *db, uint64_t limit, uint64_t *n)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_META, MFS_RECODE_PREFIX, MFS_RECODE_PREFIX_LEN);
	int rc;

	*n = 0;
	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it) && (!limit || *n < limit); mfs_iter_next(it))
		(*n)++;
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_recode_check(struct mfs_db *db, uint64_t *queued, uint64_t *stale)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_META, MFS_RECODE_PREFIX, MFS_RECODE_PREFIX_LEN);
	int rc = 0;

	*queued = *stale = 0;
	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it) && !rc; mfs_iter_next(it)) {
		struct mfs_chunk_summary s;
		struct mfs_hash h;
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);

		if (kl != MFS_RECODE_KEY_LEN) {
			(*stale)++;
			continue;
		}
		memcpy(h.b, k + MFS_RECODE_PREFIX_LEN, MFS_HASH_LEN);
		rc = mfs_chunk_summary_get(db, &h, &s);
		if (!rc && s.codec == MFS_CODEC_RAW)
			(*queued)++;
		else if (!rc || rc == -ENOENT || rc == MFS_EFORMAT)
			(*stale)++;
		if (rc == -ENOENT || rc == MFS_EFORMAT)
			rc = 0; /* a bad index entry is the chunk check's to report */
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

/* Drops h's queue entry (synced: a dropped entry is not redone after a crash, nothing more). */
static int drop_entry(struct mfs_db *db, const struct mfs_hash *h)
{
	uint8_t key[MFS_RECODE_KEY_LEN];
	struct mfs_batch *b = mfs_batch_new(db);
	int rc;

	if (!b)
		return -ENOMEM;
	mfs_recode_key(h, key);
	mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
	rc = mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	return rc;
}

/* Whether h's index entry is the raw pack record it was (s). */
static int still_raw(struct mfs_db *db, const struct mfs_hash *h, const struct mfs_chunk_summary *s)
{
	struct mfs_chunk_summary now;
	int rc = mfs_chunk_summary_get(db, h, &now);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	return now.codec == s->codec && now.pack == s->pack && now.off == s->off &&
	       now.record_len == s->record_len;
}

/*
 * A new record of h (n bytes) appended to a pack and not to be indexed:
 * its pending entry is taken and its blocks punched now.  (A record that
 * went to the chunks CF is overwritten by the next one, or is harmless:
 * the index names the pack record.)
 */
static void give_back(struct mfs_db *db, const struct mfs_hash *h, size_t n)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	struct mfs_pack_loc loc;
	uint64_t ticket;

	if (packs && n >= MFS_CHUNK_PACK_MIN &&
	    !mfs_packs_pending_take(packs, h->b, (uint32_t)n, &loc, &ticket))
		(void)mfs_packs_punch(packs, &loc);
}

/*
 * The new record rec[0..n) of h appended, then its index entry swapped in
 * (step 3).  1 swapped, 0 the entry changed meanwhile (nothing indexed
 * changed), or an error.  An appended record nothing indexes is space only.
 */
static int swap_in(struct mfs_ns *ns, const struct mfs_hash *h, const struct mfs_chunk_summary *old,
		   const uint8_t *rec, size_t n, const struct mfs_chunk_info *info)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_batch *b = mfs_batch_new(db);
	uint8_t key[MFS_RECODE_KEY_LEN];
	int rc;

	if (!b)
		return -ENOMEM;
	mfs_chunk_stage_record(b, h, rec, n);
	rc = mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	if (rc || !(b = mfs_batch_new(db))) {
		give_back(db, h, n);
		return rc ? rc : -ENOMEM;
	}
	/* gc deletes under the exclusive side: the entry cannot go between check and swap. */
	mfs_gc_refs_hold(ns);
	rc = still_raw(db, h, old);
	if (rc == 1) {
		mfs_chunk_stage_index(b, h, info, n);
		mfs_recode_key(h, key);
		mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
		if ((rc = mfs_db_write(db, b, MFS_WRITE_SYNC)) == 0)
			rc = 1;
	} else {
		give_back(db, h, n);
	}
	mfs_gc_refs_release(ns);
	mfs_batch_free(b);
	return rc;
}

int mfs_recode_chunk(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		     struct mfs_recode_one *res)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_chunk_info in, info;
	struct mfs_val v = { 0 };
	uint8_t *out = NULL;
	size_t cap;
	ssize_t n;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = mfs_chunk_summary_get(db, h, &res->old);
	if (rc == -ENOENT || (!rc && (res->old.codec != MFS_CODEC_RAW || !res->old.pack)))
		return drop_entry(db, h);
	if (rc || (rc = mfs_chunk_record_get(db, h, &v)))
		return rc;
	if ((rc = mfs_chunk_verify(v.p, v.len, &in)))
		goto out;
	if (in.codec != MFS_CODEC_RAW || v.len != res->old.record_len) {
		rc = MFS_ECORRUPT; /* the index and its record disagree: fsck's to report */
		goto out;
	}
	cap = mfs_chunk_record_bound(in.raw_len);
	/* Aligned: a pack append writes its whole blocks without a bounce copy. */
	if (posix_memalign((void **)&out, MFS_PACK_ALIGN, cap)) {
		out = NULL;
		rc = -ENOMEM;
		goto out;
	}
	n = mfs_chunk_encode(ctx, v.p + MFS_CHUNK_HDR_SIZE, in.raw_len, out, cap, -1);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	if ((rc = mfs_chunk_peek(out, (size_t)n, &info)))
		goto out;
	if (info.codec == MFS_CODEC_RAW) {
		rc = drop_entry(db, h); /* incompressible: the raw record is the one */
		goto out;
	}
	/* 0: changed meanwhile; the entry stays, and the next visit looks again (step 1). */
	rc = swap_in(ns, h, &res->old, out, (size_t)n, &info);
	if (rc == 1) {
		res->swapped = 1;
		res->new_len = (uint32_t)n;
		rc = 0;
	}
out:
	mfs_val_release(&v);
	free(out);
	return rc;
}

int mfs_recode_free(struct mfs_db *db, const struct mfs_recode_one *res)
{
	return res->swapped ? mfs_chunk_free_space(db, &res->old) : 0;
}
