/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The front of the key-value store: the mfs_db_* calls the rest of store/
 * makes, passed to the backend's table of operations (db_internal.h).  What
 * every backend would otherwise repeat lives here: the upper bound of a
 * prefix iteration, the iterator's sticky error, exists() on top of get(),
 * the test-only MODELFS_FAULT wrapping at open, small NOWAL batches through
 * the WAL, group commit (mfs_db_sync; state in db_internal.h), and the
 * floor of free space kept for RocksDB (db_space.c).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_internal.h"
#include "pack.h"
#include "store/base/log.h"

#define LOG_COMPONENT "db"

/*
 * The longest a sync leader waits for the callers it expects (group
 * forming, db_internal.h note 3), whatever the last sync took: a WAL
 * fdatasync takes 0.15-0.4 ms here on an idle disk, a few ms on a busy one.
 */
#define GROUP_WAIT_MAX_NS 2000000ull

int mfs_db_open(const char *dir, mfs_db_attach_fn attach, struct mfs_db **out)
{
	const char *env = getenv("MODELFS_FAULT");
	struct mfs_fault_spec spec;
	struct mfs_db *db = NULL;
	uint64_t floor;
	int rc, low, given;

	*out = NULL;
	if (env && *env && mfs_fault_spec_parse(env, &spec)) {
		log_error("MODELFS_FAULT=%s: not a fault spec (see store/kv/db.h)", env);
		return -EINVAL;
	}
	if ((rc = db_space_floor(&floor)))
		return rc;
	/* A disk filled while the node was down: RocksDB's open writes into the reserve. */
	low = db_space_release(dir, floor, &given);
	if ((rc = mfs_db_rocks_open(dir, low, &db))) {
		/*
		 * The reserve was given back before RocksDB's LOCK: when another
		 * process holds the store (-EBUSY: a node running, or one still
		 * closing at a remount), it is that node's, which would otherwise
		 * run on, and meet its next start, without one.
		 */
		if (given)
			db_space_restore(dir);
		return rc;
	}
	/* On the inner database: a fault wrapper's calls reach it through its front. */
	if ((rc = db_space_watch(db, dir, floor, low)) || (attach && (rc = attach(db, dir)))) {
		mfs_db_close(db);
		return rc;
	}
	if (env && *env) {
		log_warn("MODELFS_FAULT=%s: injecting store faults (test only)", env);
		if ((rc = mfs_db_fault_wrap(db, &spec, MFS_FAULT_OWN, out)))
			mfs_db_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void mfs_db_init_base(struct mfs_db *db, const struct mfs_kv_ops *ops)
{
	pthread_condattr_t ca;

	db->ops = ops;
	pthread_mutex_init(&db->sync_lock, NULL);
	pthread_cond_init(&db->sync_done, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->arrival, &ca);
	pthread_condattr_destroy(&ca);
	db->expect = 1;
	db->group_wait_max_ns = GROUP_WAIT_MAX_NS;
}

void mfs_db_close(struct mfs_db *db)
{
	struct mfs_packs *packs;

	if (!db)
		return;
	packs = db->owns_packs ? db->packs : NULL;
	free(db->space_dir);
	db->ops->close(db);
	mfs_packs_close(packs);
}

struct mfs_packs *mfs_db_packs(struct mfs_db *db)
{
	return db->packs;
}

void mfs_db_set_packs(struct mfs_db *db, struct mfs_packs *packs, int owned)
{
	db->packs = packs;
	db->owns_packs = owned;
}

void mfs_batch_need_packs(struct mfs_batch *b, uint64_t ticket)
{
	if (ticket > b->pack_ticket)
		b->pack_ticket = ticket;
}

int mfs_batch_hold_pending(struct mfs_batch *b, struct mfs_pack_pend *claim)
{
	if (b->nclaims == b->claims_cap) {
		unsigned cap = b->claims_cap ? 2 * b->claims_cap : 16;
		struct mfs_pack_pend **v = realloc(b->claims, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->claims = v;
		b->claims_cap = cap;
	}
	b->claims[b->nclaims++] = claim;
	return 0;
}

/* The pending entries b claimed leave the table: its index entries are written (or never will be). */
static void drop_claims(struct mfs_batch *b)
{
	for (unsigned i = 0; i < b->nclaims; i++)
		mfs_packs_pending_drop(b->db->packs, b->claims[i]);
	b->nclaims = 0;
}

void mfs_batch_note_packed(struct mfs_batch *b)
{
	b->packed = 1;
	b->cfs |= 1u << MFS_CF_CHUNKS;
}

void mfs_batch_fail(struct mfs_batch *b, int rc)
{
	if (!b->err)
		b->err = rc;
}

void mfs_val_release(struct mfs_val *v)
{
	if (v->release)
		v->release(v->pin);
	*v = (struct mfs_val){ 0 };
}

int mfs_db_get(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen,
	       struct mfs_val *v, int verify)
{
	*v = (struct mfs_val){ 0 };
	return db->ops->get(db, cf, key, klen, v, verify);
}

int mfs_db_exists(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen)
{
	struct mfs_val v;
	int rc = mfs_db_get(db, cf, key, klen, &v, 0);

	mfs_val_release(&v);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

struct mfs_batch *mfs_batch_new(struct mfs_db *db)
{
	return db->ops->batch_new(db);
}

void mfs_batch_free(struct mfs_batch *b)
{
	if (!b)
		return;
	drop_claims(b);
	free(b->claims);
	b->db->ops->batch_free(b);
}

void mfs_batch_put(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl,
		   const void *v, size_t vl)
{
	b->bytes += kl + vl;
	b->cfs |= 1u << cf;
	b->db->ops->batch_put(b, cf, k, kl, v, vl);
}

void mfs_batch_delete(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl)
{
	b->bytes += kl;
	b->cfs |= 1u << cf;
	b->db->ops->batch_delete(b, cf, k, kl);
}

struct mfs_db *mfs_batch_db(struct mfs_batch *b)
{
	return b->db;
}

size_t mfs_batch_count(struct mfs_batch *b)
{
	return b->db->ops->batch_count(b);
}

int mfs_db_write(struct mfs_db *db, struct mfs_batch *b, enum mfs_write_mode mode)
{
	uint64_t before = __atomic_load_n(&db->written, __ATOMIC_ACQUIRE);
	int rc;

	assert(b->db == db);
	if (b->err)
		return b->err;
	if ((rc = db_space_check(db, b->bytes)))
		return rc;
	/* The commit protocol: pack records before the index entries naming them. */
	if (b->pack_ticket && (rc = mfs_packs_sync(db->packs, b->pack_ticket)))
		return rc;
	if (mode == MFS_WRITE_NOWAL && b->bytes <= MFS_DB_SMALL_NOWAL && !b->packed)
		mode = MFS_WRITE_ASYNC;
	rc = db->ops->write(db, b, mode);
	/* Readers see the index entries now: the pending ones are not needed. */
	drop_claims(b);
	if (rc)
		return rc;
	for (int cf = 0; cf < MFS_CF_COUNT; cf++)
		if (b->cfs & 1u << cf)
			__atomic_add_fetch(&db->changes[cf], 1, __ATOMIC_RELEASE);
	switch (mode) {
	case MFS_WRITE_ASYNC:
		/* In the WAL now (the OS has it): the ticket of a later sync. */
		__atomic_add_fetch(&db->written, 1, __ATOMIC_RELEASE);
		break;
	case MFS_WRITE_SYNC:
		/* Made every write that landed before it durable too. */
		pthread_mutex_lock(&db->sync_lock);
		if (before > db->synced)
			db->synced = before;
		pthread_mutex_unlock(&db->sync_lock);
		break;
	case MFS_WRITE_NOWAL:
		for (int cf = 0; cf < MFS_CF_COUNT; cf++)
			if (b->cfs & 1u << cf)
				__atomic_add_fetch(&db->nowal_gen[cf], 1, __ATOMIC_RELEASE);
		break;
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The leader, before it reads how far its round goes: waits until as many
 * callers as it expects have come, at most as long as the last sync took
 * (note 3).  Called and returns with sync_lock held.
 */
static void group_wait(struct mfs_db *db)
{
	uint64_t wait = db->last_sync_ns, end;
	struct timespec ts;

	if (wait > db->group_wait_max_ns)
		wait = db->group_wait_max_ns;
	if (db->arrived >= db->expect || !wait)
		return;
	end = mono_ns() + wait;
	ts.tv_sec = (time_t)(end / 1000000000ull);
	ts.tv_nsec = (long)(end % 1000000000ull);
	while (db->arrived < db->expect)
		if (pthread_cond_timedwait(&db->arrival, &db->sync_lock, &ts) == ETIMEDOUT)
			break;
}

/* One round: the caller leads it.  With sync_lock held; 0 or the sync's error. */
static int sync_round(struct mfs_db *db)
{
	unsigned cohort;
	uint64_t upto, t0;
	int rc;

	db->syncing = 1;
	group_wait(db);
	cohort = db->arrived;
	db->arrived = 0;
	upto = __atomic_load_n(&db->written, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&db->sync_lock);
	t0 = mono_ns();
	rc = db->ops->sync(db);
	t0 = mono_ns() - t0;
	pthread_mutex_lock(&db->sync_lock);
	db->syncing = 0;
	db->last_sync_ns = t0;
	/* Who came for this round and who came while it ran: next round's group. */
	db->expect = cohort + db->arrived ? cohort + db->arrived : 1;
	if (rc) {
		db->fail_gen++;
		db->fail_upto = upto;
		db->fail_rc = rc;
	} else if (upto > db->synced) {
		db->synced = upto;
	}
	pthread_cond_broadcast(&db->sync_done);
	return rc;
}

int mfs_db_sync(struct mfs_db *db)
{
	uint64_t want = __atomic_load_n(&db->written, __ATOMIC_ACQUIRE), gen;
	int rc = 0;

	pthread_mutex_lock(&db->sync_lock);
	gen = db->fail_gen;
	if (db->synced < want && ++db->arrived >= db->expect && db->syncing)
		pthread_cond_signal(&db->arrival);
	while (db->synced < want) {
		if (db->fail_gen != gen && want <= db->fail_upto) {
			/* A round meant to cover us failed: we heard nothing good. */
			rc = db->fail_rc;
			break;
		}
		if (db->syncing) {
			/* A leader is at it; it may or may not cover want. */
			db->waiters++;
			pthread_cond_wait(&db->sync_done, &db->sync_lock);
			db->waiters--;
			continue;
		}
		if ((rc = sync_round(db)))
			break;
	}
	pthread_mutex_unlock(&db->sync_lock);
	return rc;
}

int mfs_db_flush(struct mfs_db *db, enum mfs_cf cf)
{
	uint64_t gen = __atomic_load_n(&db->nowal_gen[cf], __ATOMIC_ACQUIRE);
	uint64_t done = __atomic_load_n(&db->flushed_gen[cf], __ATOMIC_ACQUIRE);
	int rc;

	if (cf == MFS_CF_CHUNKS && db->packs && (rc = mfs_packs_sync(db->packs, 0)))
		return rc;
	/* Every NOWAL write that returned before gen was read is in memtables
	 * a flush that began after an equal read persisted. */
	if (gen == done)
		return 0;
	if ((rc = db_space_check(db, 0)) || (rc = db->ops->flush(db, cf)))
		return rc;
	while (done < gen && !__atomic_compare_exchange_n(&db->flushed_gen[cf], &done, gen, 0,
							  __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
		;
	return 0;
}

struct mfs_db_view *mfs_db_view_new(struct mfs_db *db)
{
	struct mfs_db_view *v = db->ops->view_new(db);

	assert(!v || v->db == db);
	return v;
}

void mfs_db_view_free(struct mfs_db_view *v)
{
	if (v)
		v->db->ops->view_free(v);
}

struct mfs_iter *mfs_iter_new(struct mfs_db *db, enum mfs_cf cf, const void *prefix, size_t plen)
{
	return mfs_iter_new_at(db, NULL, cf, prefix, plen);
}

struct mfs_iter *mfs_iter_new_at(struct mfs_db *db, const struct mfs_db_view *view,
				 enum mfs_cf cf, const void *prefix, size_t plen)
{
	uint8_t small[64], *upper = small;
	struct mfs_iter *it = NULL;
	size_t ulen = plen;

	/*
	 * Upper bound = prefix + 1 (carrying); all-0xff prefixes need none.
	 * Without its bound an iterator would run into the next prefix (the
	 * next directory, another origin's ops), so no bound, no iterator.
	 */
	if (plen > sizeof(small) && !(upper = malloc(plen)))
		return NULL;
	if (plen)
		memcpy(upper, prefix, plen);
	while (ulen > 0 && ++upper[ulen - 1] == 0)
		ulen--;
	assert(!view || view->db == db);
	it = db->ops->iter_new(db, view, cf, prefix, plen, upper, ulen);
	if (upper != small)
		free(upper);
	assert(!it || (it->db == db && !it->err));
	return it;
}

void mfs_iter_seek(struct mfs_iter *it, const void *key, size_t klen)
{
	if (!it->err)
		it->db->ops->iter_seek(it, key, klen);
}

int mfs_iter_valid(struct mfs_iter *it)
{
	int rc;

	if (it->err)
		return 0;
	rc = it->db->ops->iter_valid(it);
	if (rc < 0) {
		it->err = rc;
		return 0;
	}
	return rc;
}

void mfs_iter_next(struct mfs_iter *it)
{
	it->db->ops->iter_next(it);
}

const uint8_t *mfs_iter_key(struct mfs_iter *it, size_t *len)
{
	return it->db->ops->iter_key(it, len);
}

const uint8_t *mfs_iter_value(struct mfs_iter *it, size_t *len)
{
	return it->db->ops->iter_value(it, len);
}

int mfs_iter_error(struct mfs_iter *it)
{
	return it->err;
}

void mfs_iter_free(struct mfs_iter *it)
{
	if (it)
		it->db->ops->iter_free(it);
}

int mfs_db_each(struct mfs_db *db, enum mfs_cf cf, const void *prefix, size_t plen,
		mfs_db_each_fn fn, void *arg)
{
	return mfs_db_each_at(db, NULL, cf, prefix, plen, fn, arg);
}

int mfs_db_each_at(struct mfs_db *db, const struct mfs_db_view *view, enum mfs_cf cf,
		   const void *prefix, size_t plen, mfs_db_each_fn fn, void *arg)
{
	struct mfs_iter *it = mfs_iter_new_at(db, view, cf, prefix, plen);
	int rc = 0;

	if (!it)
		return -ENOMEM;
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		rc = fn(arg, k, kl, v, vl);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_db_reclaim(struct mfs_db *db, enum mfs_cf cf, int relocate)
{
	int rc = db_space_check(db, 0);

	return rc ? rc : db->ops->reclaim(db, cf, relocate);
}

uint64_t mfs_db_changes(struct mfs_db *db, unsigned cfs)
{
	uint64_t sum = 0;

	for (int cf = 0; cf < MFS_CF_COUNT; cf++)
		if (cfs & 1u << cf)
			sum += __atomic_load_n(&db->changes[cf], __ATOMIC_ACQUIRE);
	return sum;
}

uint64_t mfs_db_disk_bytes(struct mfs_db *db)
{
	return db->ops->disk_bytes(db) + (db->owns_packs ? mfs_packs_disk_bytes(db->packs) : 0);
}
