/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table of operations behind struct mfs_db, for the backends only
 * (db_rocks.c, db_mem.c, db_fault.c); the rest of store/ sees db.h.  The
 * front (db.c) keeps what is common: the iterator's upper bound and sticky
 * error, mfs_db_exists on top of get, and MODELFS_FAULT at open.
 *
 * A backend embeds struct mfs_db, struct mfs_batch and struct mfs_iter as
 * the first member of its own structs and casts back.  A batch and an
 * iterator always belong to the backend whose ops created them.
 */
#ifndef MFS_DB_INTERNAL_H
#define MFS_DB_INTERNAL_H

#include <pthread.h>

#include "db.h"
#include "store/base/space.h"

struct mfs_kv_ops {
	const char *name;
	void (*close)(struct mfs_db *db);

	/* 0 with *v filled (v->release set if it needs one), -ENOENT, or an error. */
	int (*get)(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen,
		   struct mfs_val *v, int verify);

	/* NULL on allocation failure. */
	struct mfs_batch *(*batch_new)(struct mfs_db *db);
	void (*batch_free)(struct mfs_batch *b);
	/* Cannot fail here: an allocation failure makes write() fail instead. */
	void (*batch_put)(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl,
			  const void *v, size_t vl);
	void (*batch_delete)(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl);
	size_t (*batch_count)(struct mfs_batch *b);
	/* All of b or nothing. */
	int (*write)(struct mfs_db *db, struct mfs_batch *b, enum mfs_write_mode mode);
	int (*flush)(struct mfs_db *db, enum mfs_cf cf);
	/* Makes every WAL write made so far durable (as a SYNC write would). */
	int (*sync)(struct mfs_db *db);

	/* A read view (db.h); the backend sets its base (db).  NULL on allocation failure. */
	struct mfs_db_view *(*view_new)(struct mfs_db *db);
	void (*view_free)(struct mfs_db_view *v);

	/*
	 * An iterator over [lower, upper) of cf positioned at lower (the first
	 * key when llen is 0); no upper bound when ulen is 0; reading at view,
	 * one of this backend's, or the store now when view is NULL.  The
	 * backend copies both bounds and sets the base (db, err = 0).  NULL on
	 * allocation failure.
	 */
	struct mfs_iter *(*iter_new)(struct mfs_db *db, const struct mfs_db_view *view,
				     enum mfs_cf cf, const void *lower, size_t llen,
				     const void *upper, size_t ulen);
	void (*iter_seek)(struct mfs_iter *it, const void *key, size_t klen);
	/* 1 on a key, 0 at the end, or a negative error that ended it. */
	int (*iter_valid)(struct mfs_iter *it);
	void (*iter_next)(struct mfs_iter *it);
	const uint8_t *(*iter_key)(struct mfs_iter *it, size_t *len);
	const uint8_t *(*iter_value)(struct mfs_iter *it, size_t *len);
	void (*iter_free)(struct mfs_iter *it);

	int (*reclaim)(struct mfs_db *db, enum mfs_cf cf, int relocate);
	uint64_t (*disk_bytes)(struct mfs_db *db);
};

/*
 * The front's state, beside the backend's table (set up by mfs_db_init_base,
 * which every backend constructor calls).
 *
 * Group commit (mfs_db_sync): every WAL write takes a ticket when it has
 * landed; a sync makes durable every ticket taken before it began.  One
 * caller at a time (the leader) runs the backend's sync and covers every
 * ticket taken before its start; callers arriving meanwhile wait for it and,
 * if it did not cover them, one of them leads the next round.  So N
 * concurrent commits cost about two syncs, not N.
 *
 * Notes on the design:
 * 1. A round covers the tickets taken before its leader read `written`;
 *    synced only grows, and only after the backend's sync returned 0.
 * 2. A round that failed fails every caller waiting on it whose writes it
 *    was to cover (want <= its upto): none of them hears success from it,
 *    nor from a later round it did not wait for (fail_gen, fail_upto).
 *    Callers that arrive after the failure start a round of their own.
 * 3. Group forming.  Without it, N writers that close in a loop settle
 *    into two cohorts taking turns: those a round covers come back while
 *    the next round, with the others, runs, and wait for the one after.
 *    Every sync then covers N/2 closes, one sync at a time, where N
 *    native fsyncs of N files run side by side on the device.  So a leader
 *    first waits until as many callers have arrived as the last round saw
 *    (its cohort plus those who came while it ran: `expect`), at most as
 *    long as the last sync took (and GROUP_WAIT_MAX_NS): the cohorts merge
 *    and one sync covers all N.  Alone, a caller never waits (expect 1);
 *    when fewer come than expected, the round after expects fewer.
 */
struct mfs_db {
	const struct mfs_kv_ops *ops;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_done;
	uint64_t written;	/* WAL writes landed (tickets); atomic */
	uint64_t synced;	/* every ticket <= this is durable; sync_lock */
	int syncing;		/* a leader runs the backend's sync; sync_lock */
	int waiters;		/* callers waiting on a leader's round; sync_lock */
	uint64_t fail_gen;	/* rounds that failed; sync_lock */
	uint64_t fail_upto;	/* the upto of the last of them; sync_lock */
	int fail_rc;		/* and its error; sync_lock */
	/* Group forming (note 3), all sync_lock: callers that came to sync
	 * since the last round read `written`, how many a leader waits for,
	 * how long the last sync took, and the longest wait (0: never). */
	unsigned arrived, expect;
	uint64_t last_sync_ns, group_wait_max_ns;
	pthread_cond_t arrival;	/* arrived reached expect (monotonic clock) */
	/* NOWAL writes that bypassed the WAL, per CF, and how many of them the
	 * last completed flush covers (mfs_db_flush skips when equal); atomic. */
	uint64_t nowal_gen[MFS_CF_COUNT], flushed_gen[MFS_CF_COUNT];
	/* Writes that landed, per CF they touched (mfs_db_changes); atomic. */
	uint64_t changes[MFS_CF_COUNT];
	/* The chunk records kept outside the backend (pack.h); NULL in memory.
	 * A fault wrapper borrows its inner database's. */
	struct mfs_packs *packs;
	int owns_packs;
	/* The floor's watch (db_space.c): the directory whose filesystem it
	 * reads (NULL: none, in memory), set at open; then the last statvfs,
	 * shared by writes (space.h), and whether it was under the floor (atomic). */
	char *space_dir;
	uint64_t space_floor;	/* MFS_SPACE_FLOOR, unless a test moved it; set at open */
	struct mfs_space_reading space;
	int space_low;
	int reserve_gone;	/* atomic: 1 while db/space.reserve is to be made */
	int reserve_warned;	/* atomic: its allocation failed once (logged) */
};

struct mfs_batch {
	struct mfs_db *db;	/* the database the batch is written to */
	size_t bytes;		/* keys and values put so far (the front's count) */
	unsigned cfs;		/* bit per column family the batch touches */
	/* Pack appends the batch's index entries name: mfs_db_write makes
	 * them durable first (mfs_packs_sync) */
	uint64_t pack_ticket;
	int err;		/* a staging step failed: the write fails with it */
	int packed;		/* records went to packs (mfs_batch_note_packed) */
	/* Pending pack records whose index entries it writes: dropped from
	 * the pending table once it is written (mfs_batch_hold_pending) */
	struct mfs_pack_pend **claims;
	unsigned nclaims, claims_cap;
};

/* Sets db->ops and the front's state; for the backends' constructors. */
void mfs_db_init_base(struct mfs_db *db, const struct mfs_kv_ops *ops);

/*
 * db_space.c: the floor (MFS_SPACE_FLOOR) and the reserve
 * (MFS_SPACE_RESERVE).  db_space_floor: the floor, MODELFS_SPACE_FLOOR's
 * if set (test only); 0 or -EINVAL when malformed.  db_space_release,
 * before the backend opens dir: 1 when less than floor + reserve is free
 * there (the reserve file, if any, given back: *given), else 0.
 * db_space_restore makes the reserve given back again, when the open that
 * it was for failed (another process holds the store, which keeps it).
 * db_space_watch
 * makes db check dir's filesystem (NULL: never refuse) and makes the
 * reserve when there is room; 0 or -ENOMEM.  db_space_check: -ENOSPC when
 * writing need more bytes would leave less than the floor free (logged
 * once as it starts, and when it ends), else 0.
 */
int db_space_floor(uint64_t *floor);
int db_space_release(const char *dir, uint64_t floor, int *given);
void db_space_restore(const char *dir);
int db_space_watch(struct mfs_db *db, const char *dir, uint64_t floor, int low);
int db_space_check(struct mfs_db *db, uint64_t need);

struct mfs_db_view {
	struct mfs_db *db;	/* the database (front) it was taken of */
};

struct mfs_iter {
	struct mfs_db *db;
	int err;		/* sticky: set by the front from iter_valid() */
};

/* The backends' constructors (db.h has the public openers). */
/* low_space: the disk is under the floor; replay the WAL without writing SSTs. */
int mfs_db_rocks_open(const char *dir, int low_space, struct mfs_db **out);

#endif
