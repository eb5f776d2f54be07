/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's half of dropping copies beyond a file's factor (gc.h, the
 * trim notes): the candidates' first-seen marks, and the delete.  Which
 * chunks are candidates, and whether enough other copies exist, is the
 * replica layer's to say (replica/trim.c): only it knows placement and the
 * peers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "gc_internal.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hashset.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/delta.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "store/ns/ns_internal.h"

#define LOG_COMPONENT "gc"

#define TRIM_PREFIX "gt:"
#define TRIM_PREFIX_LEN 3
#define TRIM_KEY_LEN (TRIM_PREFIX_LEN + MFS_HASH_LEN)
#define TRIM_MARK_VERSION 1
#define TRIM_MARK_LEN 10        /* u8 version, u8 0, u64 first seen (unix s) */
#define DELETE_BATCH 4096

static int add_live(void *arg, const struct mfs_manifest *m)
{
	for (uint32_t i = 0; i < m->count; i++)
		if (!mfs_manifest_is_hole(&m->e[i]) && mfs_hashset_add(arg, &m->e[i].hash))
			return -ENOMEM;
	return 0;
}

/* Chunks of the versions this process holds in memory (open files, bases). */
int gc_collect_pins(struct mfs_hashset *pins)
{
	int rc = mfs_manifest_live_each(add_live, pins);

	if (!rc)
		mfs_hashset_finish(pins);
	return rc;
}

static void trim_key(const struct mfs_hash *h, uint8_t key[TRIM_KEY_LEN])
{
	memcpy(key, TRIM_PREFIX, TRIM_PREFIX_LEN);
	memcpy(key + TRIM_PREFIX_LEN, h->b, MFS_HASH_LEN);
}

/* The mark's first-seen time, or 0 when there is none (or it is malformed: starts again). */
static int mark_get(struct mfs_db *db, const struct mfs_hash *h, uint64_t *first)
{
	uint8_t key[TRIM_KEY_LEN];
	struct mfs_val v;
	int rc;

	*first = 0;
	trim_key(h, key);
	rc = mfs_db_get(db, MFS_CF_META, key, sizeof(key), &v, 1);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (v.len == TRIM_MARK_LEN && v.p[0] == TRIM_MARK_VERSION)
		*first = get_le64(v.p + 2);
	mfs_val_release(&v);
	return 0;
}

/* Marks of chunks that are no longer candidates: their clock stops (note 1). */
static int prune(struct mfs_db *db, const struct mfs_hashset *cands, struct mfs_batch *b)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_META, TRIM_PREFIX, TRIM_PREFIX_LEN);
	int rc;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);

		if (kl != TRIM_KEY_LEN || !mfs_hashset_has(cands, k + TRIM_PREFIX_LEN))
			mfs_batch_delete(b, MFS_CF_META, k, kl);
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_gc_trim_marks(struct mfs_ns *ns, const struct mfs_hash *c, const uint64_t *bytes,
		      size_t n, uint64_t now, uint64_t grace_s, uint8_t *due,
		      struct mfs_gc_trim_result *res)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_hashset cands = { 0 };
	int rc = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t first;
		uint8_t key[TRIM_KEY_LEN], v[TRIM_MARK_LEN] = { TRIM_MARK_VERSION, 0 };

		due[i] = 0;
		if ((rc = mfs_hashset_add(&cands, &c[i])) || (rc = mark_get(db, &c[i], &first)))
			break;
		if (!first || first > now) {
			first = now;
			put_le64(v + 2, now);
			trim_key(&c[i], key);
			mfs_batch_put(b, MFS_CF_META, key, sizeof(key), v, sizeof(v));
		}
		if (now - first >= grace_s) {
			due[i] = 1;
		} else {
			res->held_grace++;
			res->held_grace_bytes += bytes[i];
		}
	}
	if (!rc) {
		mfs_hashset_finish(&cands);
		rc = prune(db, &cands, b);
	}
	if (!rc && mfs_batch_count(b))
		rc = mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	mfs_hashset_clear(&cands);
	return rc;
}

/* Stages the delete of h's record, index entry and mark into b (its pack record into f). */
static int stage_drop(struct mfs_db *db, struct mfs_batch *b, struct gc_freed *f,
		      const struct mfs_hash *h, uint64_t *bytes)
{
	struct mfs_chunk_summary s;
	uint8_t key[TRIM_KEY_LEN];
	int rc = mfs_chunk_summary_get(db, h, &s);

	if (rc)
		return rc; /* -ENOENT: gone already */
	*bytes = s.record_len;
	if (s.pack && (rc = gc_freed_add(f, &s)))
		return rc;
	trim_key(h, key);
	mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
	mfs_chunk_stage_delete(b, h);
	return 0;
}

int mfs_gc_drop_copies(struct mfs_ns *ns, const struct mfs_hash *h, size_t n,
		       struct mfs_gc_trim_result *res)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_hashset pins = { 0 };
	struct gc_freed freed = { 0 };
	struct mfs_batch *b = NULL;
	uint64_t dropped = res->dropped;
	int rc;

	if (!n)
		return 0;
	/* No commit between its dedup check and its publish may see its chunk go (gc.h note 3). */
	pthread_rwlock_wrlock(&ns->refs_lock);
	/* Nor a base chunk a delta record here needs (store/chunk/delta.h). */
	if ((rc = gc_collect_pins(&pins)) || (rc = mfs_delta_keep_bases(db, NULL, &pins)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t bytes = 0;

		if (mfs_hashset_has(&pins, h[i].b)) {
			res->held_open++;
			continue;
		}
		if (!b && !(b = mfs_batch_new(db))) {
			rc = -ENOMEM;
			break;
		}
		rc = stage_drop(db, b, &freed, &h[i], &bytes);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		res->dropped++;
		res->dropped_bytes += bytes;
		if (mfs_batch_count(b) >= 3 * DELETE_BATCH || i == n - 1) {
			rc = mfs_db_write(db, b, MFS_WRITE_SYNC);
			mfs_batch_free(b);
			b = NULL;
			gc_freed_punch(db, &freed, rc);
		}
	}
	if (!rc && b && mfs_batch_count(b))
		rc = mfs_db_write(db, b, MFS_WRITE_SYNC);
	gc_freed_punch(db, &freed, rc);
out:
	pthread_rwlock_unlock(&ns->refs_lock);
	mfs_batch_free(b);
	mfs_hashset_clear(&pins);
	free(freed.v);
	if (!rc && res->dropped > dropped) {
		int rc2 = mfs_db_reclaim(db, MFS_CF_CHUNKS, 0);

		if (rc2)
			log_warn("dropped copies' space not reclaimed yet: %s", mfs_strerror(rc2));
	}
	return rc;
}
