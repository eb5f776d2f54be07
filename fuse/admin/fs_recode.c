/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's recode thread (store/maint/recode.h): encodes the chunks a
 * commit stored raw with their codec deferred (setting recode=1), and the
 * raw chunks peers sent (a sender with recode=1 may not have run its own
 * pass yet: chunkstore.h, mfs_chunk_stage_index_received), in the
 * background, at the lowest CPU priority, and only while no ingest has
 * moved for IDLE_MS and no READ arrived in that time: the foreground's
 * writes and reads come first, the pass uses the gaps.
 *
 * A swapped chunk's old raw record is punched out PUNCH_DELAY_MS later,
 * not at once: a reader that looked up the old index entry just before the
 * swap is then long done with it (and one that was not is sent to the new
 * record, chunkstore.c).  A record waiting here at a kill -9 stays as
 * unindexed bytes in its pack until the next open punches it (pack.h).
 *
 * A chunk that fails (ENOSPC, EIO, a bad record) keeps its queue entry;
 * the pass moves on, and after a round with failures waits RETRY_MS
 * before it starts over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fuse/fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/codec.h"
#include "store/chunk/ingest.h"
#include "store/maint/recode.h"
#include "ticker.h"

#define LOG_COMPONENT "recode"

#define IDLE_MS 1000
#define PUNCH_DELAY_MS 5000
#define RETRY_MS 10000
#define EMPTY_MS 1000      /* how often an empty queue is looked at again */
#define MAX_HELD 1024      /* raw records waiting for their punch (then punched sooner) */

struct held {
	struct mfs_recode_one r;
	uint64_t due_ms;
};

struct fs_recode {
	struct mfs_fs *fs;
	struct fs_ticker ticker;
	uint64_t punch_delay_ms, retry_ms; /* the defines, or the tests' (set at start) */
	struct held held[MAX_HELD]; /* a ring, oldest first (thread only) */
	unsigned held_first, held_n;
	uint64_t recoded, failed, saved; /* atomics, for status */
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Punches the held records that are due (all of them with all). */
static void punch_due(struct fs_recode *r, int all)
{
	uint64_t now = now_ms();

	while (r->held_n) {
		struct held *h = &r->held[r->held_first];

		if (!all && h->due_ms > now && r->held_n < MAX_HELD)
			break;
		(void)mfs_recode_free(r->fs->db, &h->r);
		r->held_first = (r->held_first + 1) % MAX_HELD;
		r->held_n--;
	}
}

/* Whether the foreground moved (an ingest window, a READ) in the last IDLE_MS. */
static int busy(struct fs_recode *r, uint64_t *seen, uint64_t *quiet_since)
{
	uint64_t v = mfs_ingest_progress() +
		     __atomic_load_n(&r->fs->read_requests, __ATOMIC_RELAXED);
	uint64_t now = now_ms();

	if (v != *seen || mfs_ingest_active()) {
		*seen = v;
		*quiet_since = now;
	}
	return now - *quiet_since < IDLE_MS;
}

/*
 * Chunks recoded per synced batch: a sync per chunk cost more than the
 * record's XXH64 (issue 10).  Eight 1 MiB chunks are ~8 ms of encoding,
 * short enough for the pass to yield to a foreground that starts.
 */
#define BATCH 8

/* Keeps a swapped chunk's raw record for its punch PUNCH_DELAY_MS later. */
static void hold(struct fs_recode *r, const struct mfs_recode_one *one)
{
	__atomic_add_fetch(&r->recoded, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->saved, one->old.record_len - one->new_len, __ATOMIC_RELAXED);
	if (r->held_n == MAX_HELD)
		punch_due(r, 0);
	r->held[(r->held_first + r->held_n++) % MAX_HELD] =
		(struct held){ *one, now_ms() + r->punch_delay_ms };
}

/* Up to BATCH chunks: 1 done (failures counted, logged once a round), -ENOENT end of round. */
static int step(struct fs_recode *r, struct mfs_codec_ctx *ctx, struct mfs_hash *cursor,
		int *have_cursor, int *logged)
{
	struct mfs_recode_one one[BATCH];
	struct mfs_hash h[BATCH];
	int rc[BATCH], err = 0;
	unsigned n = 0;

	while (n < BATCH && !(err = mfs_recode_next(r->fs->db, *have_cursor ? cursor : NULL, &h[n]))) {
		*cursor = h[n++];
		*have_cursor = 1;
	}
	if (!n)
		return err == -ENOENT ? err : 0;
	if ((err = mfs_recode_chunks(r->fs->ns, ctx, h, n, one, rc)) < 0)
		for (unsigned i = 0; i < n; i++)
			rc[i] = err;
	for (unsigned i = 0; i < n; i++) {
		if (rc[i]) {
			__atomic_add_fetch(&r->failed, 1, __ATOMIC_RELAXED);
			if (!(*logged)++)
				log_warn("recode of a chunk failed, retried later: %s", mfs_strerror(rc[i]));
		} else if (one[i].swapped) {
			hold(r, &one[i]);
		}
	}
	return 1;
}

static void *recode_thread(void *arg)
{
	struct fs_recode *r = arg;
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	uint64_t seen = 0, quiet_since = 0, wait;
	struct mfs_hash cursor;
	int have_cursor = 0, logged = 0, rc;

	/* This thread only (Linux): the foreground's threads keep their priority. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	if (!ctx) {
		log_error("no recode pass: %s", mfs_strerror(-ENOMEM));
		return NULL;
	}
	for (wait = 0; fs_ticker_nap(&r->ticker, wait);) {
		punch_due(r, 0);
		wait = 200;
		if (busy(r, &seen, &quiet_since))
			continue;
		rc = step(r, ctx, &cursor, &have_cursor, &logged);
		if (rc == -ENOENT) {
			/* A round ended: again from the start, at once if it did anything. */
			wait = logged ? r->retry_ms : have_cursor ? 0 : EMPTY_MS;
			have_cursor = logged = 0;
		} else {
			wait = 0;
		}
	}
	punch_due(r, 1);
	mfs_codec_ctx_free(ctx);
	return NULL;
}

/*
 * MODELFS_TEST_RECODE_PUNCH_MS=N and MODELFS_TEST_RECODE_RETRY_MS=N (test
 * only, t0127): PUNCH_DELAY_MS and RETRY_MS, so that a test does not wait
 * seconds for a punch or a retry it is not about.
 */
static uint64_t test_ms(const char *name, uint64_t dflt)
{
	const char *env = getenv(name);

	return env ? strtoull(env, NULL, 10) : dflt;
}

int fs_recode_start(struct mfs_fs *fs, struct fs_recode **out)
{
	struct fs_recode *r;
	int rc;

	*out = NULL;
	/*
	 * recode=0 runs it too, for what peers sent raw; 2 leaves the queue to
	 * tests, and so does MODELFS_TEST_RECODE_NO_PASS (test only), which
	 * keeps the recode of a queued chunk a peer asks for (replica/server.c)
	 * as the only one, to be seen alone.
	 */
	if (fs->cfg->recode == 2 || fs->cfg->ro || getenv("MODELFS_TEST_RECODE_NO_PASS"))
		return 0;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->fs = fs;
	r->punch_delay_ms = test_ms("MODELFS_TEST_RECODE_PUNCH_MS", PUNCH_DELAY_MS);
	r->retry_ms = test_ms("MODELFS_TEST_RECODE_RETRY_MS", RETRY_MS);
	if ((rc = fs_ticker_start(&r->ticker, "mfs-recode", recode_thread, r))) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void fs_recode_stop(struct fs_recode *r)
{
	if (!r)
		return;
	fs_ticker_stop(&r->ticker);
	free(r);
}

void fs_recode_status(struct mfs_fs *fs, FILE *f)
{
	struct fs_recode *r = fs->recode;
	uint64_t n = 0;

	if (!mfs_recode_count(fs->db, 0, &n))
		fprintf(f, "recode_queue %llu\n", (unsigned long long)n);
	if (!r)
		return;
	fprintf(f, "recoded_chunks %llu\n",
		(unsigned long long)__atomic_load_n(&r->recoded, __ATOMIC_RELAXED));
	fprintf(f, "recode_saved_bytes %llu\n",
		(unsigned long long)__atomic_load_n(&r->saved, __ATOMIC_RELAXED));
	fprintf(f, "recode_failures %llu\n",
		(unsigned long long)__atomic_load_n(&r->failed, __ATOMIC_RELAXED));
}
