/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest encoding (doc/format.md, "manifests"):
 *   u8 version=1, u8 0, u16 0, u32 count, u64 size,
 *   count x { u8 hash[32], u32 raw_len }
 * and, for a manifest with holes (entries whose hash is all zero bytes),
 *   u8 version=2, u8 0, u16 0, u32 count, u64 size, u64 hole_bytes,
 *   count x { u8 hash[32], u32 raw_len }
 * A manifest without holes stays version 1, byte for byte as before holes
 * existed: its id, and every node that reads it, are unchanged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "manifest.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

/*
 * Every decoded manifest still referenced, for gc (mfs_manifest_live_each).
 * A leaf lock: nothing else is taken under it.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mfs_manifest live = { .live_prev = &live, .live_next = &live };

static void live_add(struct mfs_manifest *m)
{
	pthread_mutex_lock(&live_lock);
	m->live_next = &live;
	m->live_prev = live.live_prev;
	live.live_prev->live_next = m;
	live.live_prev = m;
	pthread_mutex_unlock(&live_lock);
}

static void live_remove(struct mfs_manifest *m)
{
	if (!m->live_next)
		return;
	pthread_mutex_lock(&live_lock);
	m->live_prev->live_next = m->live_next;
	m->live_next->live_prev = m->live_prev;
	pthread_mutex_unlock(&live_lock);
}

int mfs_manifest_live_each(int (*fn)(void *arg, const struct mfs_manifest *m), void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&live_lock);
	for (struct mfs_manifest *m = live.live_next; m != &live && !rc; m = m->live_next)
		rc = fn(arg, m);
	pthread_mutex_unlock(&live_lock);
	return rc;
}

void mfs_manifest_live_pin(struct mfs_manifest *m)
{
	if (m && !m->live_next)
		live_add(m);
}

struct mfs_manifest *mfs_manifest_new(void)
{
	struct mfs_manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->off = calloc(1, sizeof(*m->off));
	if (!m->off) {
		free(m);
		return NULL;
	}
	m->refs = 1;
	return m;
}

struct mfs_manifest *mfs_manifest_ref(struct mfs_manifest *m)
{
	if (m)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void mfs_manifest_unref(struct mfs_manifest *m)
{
	int left;

	if (!m)
		return;
	/* One unref too many would free a version a reader still maps: stop here. */
	if ((left = __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL)) < 0)
		BUG("manifest of %llu bytes released more often than referenced",
		    (unsigned long long)m->size);
	if (left)
		return;
	live_remove(m);
	free(m->e);
	free(m->off);
	free(m);
}

int mfs_manifest_append(struct mfs_manifest *m, const struct mfs_hash *h, uint32_t len)
{
	if (m->count == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 64;
		struct mfs_manifest_entry *e;
		uint64_t *off;

		if (m->count >= MFS_MANIFEST_MAX_CHUNKS)
			return -EFBIG;
		e = realloc(m->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		m->e = e;
		off = realloc(m->off, (cap + 1) * sizeof(*off));
		if (!off)
			return -ENOMEM;
		m->off = off;
		m->cap = cap;
	}
	m->e[m->count].hash = *h;
	m->e[m->count].len = len;
	m->off[m->count] = m->size;
	if (mfs_manifest_is_hole(&m->e[m->count]))
		m->hole_bytes += len;
	m->count++;
	m->size += len;
	m->off[m->count] = m->size;
	return 0;
}

int mfs_manifest_append_hole(struct mfs_manifest *m, uint64_t len)
{
	static const struct mfs_hash zero;
	int rc;

	/* A decoded manifest's hole may be longer (other writers): only a shorter one grows. */
	if (len && m->count && mfs_manifest_is_hole(&m->e[m->count - 1]) &&
	    m->e[m->count - 1].len < MFS_MANIFEST_HOLE_MAX) {
		uint32_t *last = &m->e[m->count - 1].len;
		uint64_t take = MFS_MANIFEST_HOLE_MAX - *last;

		if (take > len)
			take = len;
		*last += (uint32_t)take;
		m->size += take;
		m->hole_bytes += take;
		m->off[m->count] = m->size;
		len -= take;
	}
	while (len) {
		uint32_t take = len < MFS_MANIFEST_HOLE_MAX ? (uint32_t)len : MFS_MANIFEST_HOLE_MAX;

		if ((rc = mfs_manifest_append(m, &zero, take)))
			return rc;
		len -= take;
	}
	return 0;
}

uint32_t mfs_manifest_find(const struct mfs_manifest *m, uint64_t off)
{
	uint32_t lo = 0, hi = m->count; /* invariant: off[lo] <= off < off[hi] */

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->off[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void mfs_manifest_encode(const struct mfs_manifest *m, struct mfs_wr *w)
{
	mfs_wr_u8(w, m->hole_bytes ? MFS_MANIFEST_VERSION_HOLES : MFS_MANIFEST_VERSION);
	mfs_wr_u8(w, 0);
	mfs_wr_u16(w, 0);
	mfs_wr_u32(w, m->count);
	mfs_wr_u64(w, m->size);
	if (m->hole_bytes)
		mfs_wr_u64(w, m->hole_bytes);
	for (uint32_t i = 0; i < m->count; i++) {
		mfs_wr_put(w, m->e[i].hash.b, MFS_HASH_LEN);
		mfs_wr_u32(w, m->e[i].len);
	}
}

int mfs_manifest_decode(const void *p, size_t n, struct mfs_manifest **out)
{
	struct mfs_rd r = { p, n, 0 };
	struct mfs_manifest *m = NULL;
	uint32_t count;
	uint64_t size, holes = 0;
	uint8_t version;
	int rc = MFS_EFORMAT;

	*out = NULL;
	version = mfs_rd_u8(&r);
	if (version != MFS_MANIFEST_VERSION && version != MFS_MANIFEST_VERSION_HOLES)
		goto out;
	mfs_rd_take(&r, 3);
	count = mfs_rd_u32(&r);
	size = mfs_rd_u64(&r);
	if (version == MFS_MANIFEST_VERSION_HOLES)
		holes = mfs_rd_u64(&r);
	if (r.bad || count > MFS_MANIFEST_MAX_CHUNKS || r.left != (size_t)count * (MFS_HASH_LEN + 4))
		goto out;
	rc = -ENOMEM;
	if (!(m = mfs_manifest_new()))
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		struct mfs_hash h;
		uint32_t len;

		memcpy(h.b, mfs_rd_take(&r, MFS_HASH_LEN), MFS_HASH_LEN);
		len = mfs_rd_u32(&r);
		if (len == 0) {
			rc = MFS_EFORMAT;
			goto out;
		}
		if ((rc = mfs_manifest_append(m, &h, len)))
			goto out;
	}
	/* Version 2 exactly when there are holes: one encoding, so one id, per manifest. */
	rc = m->size == size && m->hole_bytes == holes &&
	     (version == MFS_MANIFEST_VERSION_HOLES) == (holes > 0) ? 0 : MFS_EFORMAT;
out:
	if (rc) {
		mfs_manifest_unref(m);
	} else {
		live_add(m);
		*out = m;
	}
	return rc;
}

int mfs_manifest_stage(struct mfs_batch *b, const struct mfs_manifest *m, struct mfs_hash *id)
{
	struct mfs_wr w = { 0 };
	int rc = mfs_manifest_stage_keep(b, m, id, &w);

	mfs_wr_release(&w);
	return rc;
}

int mfs_manifest_stage_keep(struct mfs_batch *b, const struct mfs_manifest *m, struct mfs_hash *id,
			    struct mfs_wr *w)
{
	int rc;

	mfs_manifest_encode(m, w);
	if (w->oom)
		return -ENOMEM;
	if (!(rc = mfs_sha256(w->buf, w->len, id)))
		mfs_batch_put(b, MFS_CF_MANIFESTS, id->b, MFS_HASH_LEN, w->buf, w->len);
	return rc;
}

int mfs_manifest_load(struct mfs_db *db, const struct mfs_hash *id, struct mfs_manifest **out)
{
	struct mfs_val v;
	int rc = mfs_db_get(db, MFS_CF_MANIFESTS, id->b, MFS_HASH_LEN, &v, 1);

	*out = NULL;
	if (rc)
		return rc;
	rc = mfs_manifest_decode(v.p, v.len, out);
	mfs_val_release(&v);
	return rc;
}

int mfs_manifest_hole_bytes(struct mfs_db *db, const struct mfs_hash *id, uint64_t *out)
{
	struct mfs_val v;
	struct mfs_rd r;
	uint8_t version;
	int rc = mfs_db_get(db, MFS_CF_MANIFESTS, id->b, MFS_HASH_LEN, &v, 0);

	*out = 0;
	if (rc)
		return rc;
	r = (struct mfs_rd){ v.p, v.len, 0 };
	version = mfs_rd_u8(&r);
	mfs_rd_take(&r, 15);
	if (version == MFS_MANIFEST_VERSION_HOLES)
		*out = mfs_rd_u64(&r);
	else if (version != MFS_MANIFEST_VERSION)
		rc = MFS_EFORMAT;
	if (r.bad)
		rc = MFS_EFORMAT;
	mfs_val_release(&v);
	return rc;
}
