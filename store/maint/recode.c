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

/* One chunk of a batch: steps 1-2 done, step 3 to do. */
struct job {
	uint8_t *rec;                /* the new record (aligned), or NULL: nothing to swap */
	size_t n;
	struct mfs_chunk_info info;
	int drop;                    /* the entry goes: done already, gone, or incompressible */
};

/*
 * Steps 1-2 for h into j and res->old: the new record, or j->drop, or an
 * error (the entry stays, nothing changed).
 */
static int prepare(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		   const struct mfs_val *have, struct mfs_recode_one *res, struct job *j)
{
	struct mfs_chunk_info in;
	struct mfs_val v = { 0 };
	size_t cap;
	ssize_t n;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = mfs_chunk_summary_get(db, h, &res->old);
	if (rc == -ENOENT || (!rc && (res->old.codec != MFS_CODEC_RAW || !res->old.pack))) {
		j->drop = 1;
		return 0;
	}
	if (rc)
		return rc;
	/* A record the caller read and verified is the indexed one if its length is. */
	if (have)
		rc = mfs_chunk_peek(have->p, have->len, &in);
	else if (!(rc = mfs_chunk_record_get(db, h, &v)))
		rc = mfs_chunk_verify(v.p, v.len, &in);
	if (have)
		v = (struct mfs_val){ .p = have->p, .len = have->len };
	if (rc)
		goto out;
	if (in.codec != MFS_CODEC_RAW || v.len != res->old.record_len) {
		rc = MFS_ECORRUPT; /* the index and its record disagree: fsck's to report */
		goto out;
	}
	cap = mfs_chunk_record_bound(in.raw_len);
	/* Aligned: a pack append writes its whole blocks without a bounce copy. */
	if (posix_memalign((void **)&j->rec, MFS_PACK_ALIGN, cap)) {
		j->rec = NULL;
		rc = -ENOMEM;
		goto out;
	}
	n = mfs_chunk_encode(ctx, v.p + MFS_CHUNK_HDR_SIZE, in.raw_len, j->rec, cap, -1);
	if (n < 0)
		rc = (int)n;
	else if (!(rc = mfs_chunk_peek(j->rec, (size_t)n, &j->info)))
		j->n = (size_t)n;
	/* Incompressible: the raw record is the one. */
	if (rc || j->info.codec == MFS_CODEC_RAW) {
		j->drop = !rc;
		free(j->rec);
		j->rec = NULL;
	}
out:
	if (!have)
		mfs_val_release(&v);
	return rc;
}

/*
 * Step 3 for the jobs of h[0..n) that have a record: appended together
 * (no WAL), then, under gc's refs lock, one synced batch swaps in those
 * whose index entry is still the raw record of step 1 and drops the queue
 * entries of those swapped and of those to drop.  One sync for the batch:
 * a sync per chunk was a third of the pass's CPU beside the encode (the
 * RocksDB write and the waits).  rc[i] set for each failed chunk.  An
 * appended record nothing indexes is space only.
 */
static void swap_in(struct mfs_ns *ns, const struct mfs_hash *h, struct job *j, unsigned n,
		    struct mfs_recode_one *res, int *rc)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_batch *b = mfs_batch_new(db);
	uint8_t key[MFS_RECODE_KEY_LEN];
	unsigned recs = 0;
	int err = b ? 0 : -ENOMEM;

	for (unsigned i = 0; i < n && b; i++)
		if (j[i].rec && !rc[i] && ++recs)
			mfs_chunk_stage_record(b, &h[i], j[i].rec, j[i].n);
	if (b && recs)
		err = mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	b = err ? NULL : mfs_batch_new(db);
	if (!b && !err)
		err = -ENOMEM;
	/* gc deletes under the exclusive side: no entry can go between check and swap. */
	mfs_gc_refs_hold(ns);
	for (unsigned i = 0; i < n; i++) {
		int raw;

		if (rc[i] || (!j[i].rec && !j[i].drop))
			continue;
		if (err) {
			if (j[i].rec) {
				give_back(db, &h[i], j[i].n);
				rc[i] = err;
			}
			continue;
		}
		raw = j[i].rec ? still_raw(db, &h[i], &res[i].old) : 0;
		if (raw < 0) {
			give_back(db, &h[i], j[i].n);
			rc[i] = raw;
			continue;
		}
		if (raw) {
			mfs_chunk_stage_index(b, &h[i], &j[i].info, j[i].n);
			res[i].swapped = 1;
			res[i].new_len = (uint32_t)j[i].n;
		} else if (j[i].rec) {
			/* Changed meanwhile: the entry stays, and the next visit looks again (step 1). */
			give_back(db, &h[i], j[i].n);
			continue;
		}
		mfs_recode_key(&h[i], key);
		mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
	}
	if (b && mfs_batch_count(b) && (err = mfs_db_write(db, b, MFS_WRITE_SYNC)))
		for (unsigned i = 0; i < n; i++)
			if (!rc[i] && (j[i].rec || j[i].drop)) {
				res[i].swapped = 0;
				rc[i] = err;
			}
	mfs_gc_refs_release(ns);
	mfs_batch_free(b);
}

int mfs_recode_chunks(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		      unsigned n, struct mfs_recode_one *res, int *rc)
{
	struct job *j = calloc(n ? n : 1, sizeof(*j));
	int failed = 0;

	if (!j)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		rc[i] = prepare(mfs_ns_db(ns), ctx, &h[i], NULL, &res[i], &j[i]);
	swap_in(ns, h, j, n, res, rc);
	for (unsigned i = 0; i < n; i++) {
		free(j[i].rec);
		failed += rc[i] != 0;
	}
	free(j);
	return failed;
}

int mfs_recode_chunk(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		     struct mfs_recode_one *res)
{
	int rc, failed = mfs_recode_chunks(ns, ctx, h, 1, res, &rc);

	return failed < 0 ? failed : rc;
}

int mfs_recode_served(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		      const struct mfs_val *raw, struct mfs_recode_one *res, uint8_t **rec,
		      size_t *len)
{
	struct job j = { 0 };
	int rc = prepare(mfs_ns_db(ns), ctx, h, raw, res, &j);

	*rec = NULL;
	*len = 0;
	swap_in(ns, h, &j, 1, res, &rc);
	if (!rc && res->swapped) {
		*rec = j.rec;
		*len = j.n;
	} else {
		free(j.rec);
	}
	return rc;
}

int mfs_recode_free(struct mfs_db *db, const struct mfs_recode_one *res)
{
	return res->swapped ? mfs_chunk_free_space(db, &res->old) : 0;
}
