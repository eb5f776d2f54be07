/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keeping what a read fetched, off the reader's path.  A read that fetches
 * a chunk from a peer has decoded and verified it for the chunk cache; the
 * record as received (compressed, checked) still has to be kept: in the
 * store when this node owns the chunk (its replication would otherwise
 * fetch it a second time), else in the disk cache.  Those writes cost a
 * copy into the kernel, and for the store a RocksDB flush; the keeper
 * thread does them so the reader returns as soon as the bytes verify.
 *
 * It also tracks the chunks being fetched for reads or waiting here to be
 * written, and when a read last fetched, so that replication yields to
 * reads and never fetches what a read is fetching (repair.c).  A chunk
 * asked for again while its record waits here (the chunk cache dropped the
 * bytes a read had not reached yet, or a read-ahead asks for a chunk a read
 * had just fetched) is decoded from that record (keep_held), not fetched a
 * second time: about 1 % of a cold read's chunks were.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "keep"
#define KEEP_MAX 48             /* records waiting; a reader waits beyond (~48 MiB) */
#define BUSY_MAX 256            /* fetches under way for reads */
#define STAGE_MAX 64            /* owned records staged, not yet indexed */
#define STAGE_FLUSH 32          /* index them once this many are staged */
#define STAGE_IDLE_MS 300       /* or once no record came for this long */
#define KEEP_BATCH 8            /* records woken for at once (one wakeup, not one each) */
#define KEEP_LINGER_MS 50       /* or once the first of them waited this long */

struct staged {
	struct mfs_hash h;
	struct mfs_chunk_info info;
	size_t reclen;
};

struct kjob {
	struct mfs_hash h;
	struct mfs_chunk_info info;
	zmq_msg_t rec;
	int owned;
	struct kjob *next;
};

struct mfs_keep {
	struct mfs_replica *r;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work, room, idle;
	struct kjob *head, *tail;
	int qlen, stopping, writing;
	/* chunks being fetched for reads (lock) */
	struct mfs_hash busy[BUSY_MAX];
	int nbusy;
	/* the batch being written: the keeper's until it clears this (lock) */
	struct kjob *wlist;
	struct staged pend[STAGE_MAX];  /* staged, index after the next flush (lock) */
	int npend;
	int drain;                      /* keep_drain callers waiting (lock) */
};

uint64_t keep_last_read_ms(struct mfs_replica *r)
{
	return __atomic_load_n(&r->read_fetch_ms, __ATOMIC_RELAXED);
}

int keep_fetch_begin(struct mfs_replica *r, const struct mfs_hash *h, int read)
{
	struct mfs_keep *k = r->keep;
	int slot = -1;

	if (read)
		__atomic_store_n(&r->read_fetch_ms, mfs_now_ms(), __ATOMIC_RELAXED);
	if (!k)
		return -1;
	pthread_mutex_lock(&k->lock);
	if (k->nbusy < BUSY_MAX) {
		slot = k->nbusy++;
		k->busy[slot] = *h;
	}
	pthread_mutex_unlock(&k->lock);
	return slot;
}

void keep_fetch_end(struct mfs_replica *r, const struct mfs_hash *h, int read)
{
	struct mfs_keep *k = r->keep;

	if (read)
		__atomic_store_n(&r->read_fetch_ms, mfs_now_ms(), __ATOMIC_RELAXED);
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	for (int i = 0; i < k->nbusy; i++)
		if (!memcmp(k->busy[i].b, h->b, MFS_HASH_LEN)) {
			k->busy[i] = k->busy[--k->nbusy];
			break;
		}
	pthread_mutex_unlock(&k->lock);
}

int keep_busy(struct mfs_replica *r, const struct mfs_hash *h)
{
	struct mfs_keep *k = r->keep;
	int busy = 0;

	if (!k)
		return 0;
	pthread_mutex_lock(&k->lock);
	for (int i = 0; !busy && i < k->nbusy; i++)
		busy = !memcmp(k->busy[i].b, h->b, MFS_HASH_LEN);
	pthread_mutex_unlock(&k->lock);
	return busy || keep_held(r, h, NULL, NULL) >= 0;
}

/* The job of h in list, or NULL. */
static struct kjob *job_of(struct kjob *list, const struct mfs_hash *h)
{
	for (; list; list = list->next)
		if (!memcmp(list->h.b, h->b, MFS_HASH_LEN))
			return list;
	return NULL;
}

int keep_held(struct mfs_replica *r, const struct mfs_hash *h, zmq_msg_t *rec, size_t *reclen)
{
	struct mfs_keep *k = r->keep;
	struct kjob *j;
	int rc = -ENOENT;

	if (!k)
		return rc;
	pthread_mutex_lock(&k->lock);
	if ((j = job_of(k->head, h)) || (j = job_of(k->wlist, h))) {
		rc = 0;
		/*
		 * Under the lock, which the keeper holds to take a job out of
		 * sight before it closes its message: the copy shares the
		 * bytes (a reference, no copy) and outlives that close.
		 */
		if (rec && zmq_msg_init(rec) == 0 && zmq_msg_copy(rec, &j->rec)) {
			zmq_msg_close(rec);
			rc = -ENOMEM;
		}
	}
	for (int i = 0; rc == -ENOENT && i < k->npend; i++)
		if (!memcmp(k->pend[i].h.b, h->b, MFS_HASH_LEN)) {
			if (reclen)
				*reclen = k->pend[i].reclen;
			rc = 1;
		}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

/*
 * Index entries of the staged records, and the end of their wanted entries,
 * after one flush for all of them (a flush per chunk would cost RocksDB
 * more than the chunk).
 */
static void index_staged(struct mfs_keep *k)
{
	struct mfs_replica *r = k->r;
	struct mfs_batch *b = NULL;
	int n, rc;

	pthread_mutex_lock(&k->lock);
	n = k->npend;
	pthread_mutex_unlock(&k->lock);
	if (!n)
		return;
	/* The commit protocol of doc/format.md: records on disk before their index. */
	if (!(rc = mfs_db_flush(r->db, MFS_CF_CHUNKS)) && !(b = mfs_batch_new(r->db)))
		rc = -ENOMEM;
	for (int i = 0; !rc && i < n; i++) {
		const struct staged *p = &k->pend[i];

		mfs_chunk_stage_index_received(b, &p->h, &p->info, p->reclen);
		/* Replication's work for it is done (queued again if placement moves). */
		mfs_batch_delete(b, MFS_CF_WANTED, p->h.b, MFS_HASH_LEN);
	}
	if (!rc && !(rc = mfs_db_write(r->db, b, MFS_WRITE_ASYNC)))
		__atomic_add_fetch(&r->read_kept, (uint64_t)n, __ATOMIC_RELAXED);
	/* Not kept: replication still wants them and fetches them later. */
	if (rc)
		log_warn("%d fetched chunk(s) not kept in the store: %s", n, mfs_strerror(rc));
	mfs_batch_free(b);
	pthread_mutex_lock(&k->lock);
	k->npend = 0;
	pthread_mutex_unlock(&k->lock);
}

/*
 * Writes the cache records; stages the owned ones (no WAL, not indexed yet),
 * each in its own batch: one batch of many ~1 MiB records grows its buffer
 * by doubling, past malloc's mmap threshold, and that copying and faulting
 * in of fresh pages cost the reading node more than everything else it did.
 */
static void write_jobs(struct mfs_keep *k, struct kjob *list)
{
	struct mfs_replica *r = k->r;

	for (struct kjob *j = list; j; j = j->next) {
		int rc;

		/*
		 * The disk at its margin: the read had its bytes, an owned chunk
		 * is fetched again by replication once there is room (room.c).
		 */
		if (!repl_room(r, zmq_msg_size(&j->rec)))
			continue;
		if (!j->owned) {
			/* A cache copy that cannot be written costs a refetch later, nothing more. */
			mfs_diskcache_put(r->dc, &j->h, zmq_msg_data(&j->rec), zmq_msg_size(&j->rec));
			continue;
		}
		/* Only this thread adds to pend: index what is staged before it overflows. */
		if (k->npend == STAGE_MAX)
			index_staged(k);
		if ((rc = stage_record(r, &j->h, zmq_msg_data(&j->rec), zmq_msg_size(&j->rec)))) {
			/* Not staged: replication still wants it and fetches it later. */
			log_warn("a fetched chunk not staged in the store: %s", mfs_strerror(rc));
			continue;
		}
		pthread_mutex_lock(&k->lock);
		k->pend[k->npend++] = (struct staged){ j->h, j->info, zmq_msg_size(&j->rec) };
		pthread_mutex_unlock(&k->lock);
	}
}

/* Whether the keeper has enough to do to wake (lock held); *linger: the first record waited long. */
static int keep_ready(const struct mfs_keep *k, int linger)
{
	if (k->stopping || (k->npend && k->drain))
		return 1;
	return k->head && (k->qlen >= KEEP_BATCH || k->drain || linger);
}

/*
 * Sleeps until there is work (lock held).  Records are written KEEP_BATCH at
 * a time: a wakeup per ~1 MiB record was a context switch and an IPI on the
 * reading node for every chunk it fetched.  Queued records count as busy
 * (keep_busy), so replication never fetches them meanwhile; a few linger
 * for KEEP_LINGER_MS at most.  *timed_out: staged records saw no new ones
 * for STAGE_IDLE_MS, index them.
 */
static void keep_wait(struct mfs_keep *k, int *timed_out)
{
	int linger = 0;

	while (!keep_ready(k, linger)) {
		struct timespec ts;
		int ms = k->head ? KEEP_LINGER_MS : STAGE_IDLE_MS, rc;

		if (!k->head && !k->npend) {
			pthread_cond_wait(&k->work, &k->lock);
			continue;
		}
		mono_deadline(&ts, ms);
		rc = pthread_cond_timedwait(&k->work, &k->lock, &ts);
		if (rc == ETIMEDOUT && k->head)
			linger = 1;
		else if (rc == ETIMEDOUT) {
			*timed_out = 1;
			return;
		}
	}
}

static void *keep_main(void *arg)
{
	struct mfs_keep *k = arg;

	pthread_setname_np(pthread_self(), "mfs-keep"); /* for perf and top -H */
	pthread_mutex_lock(&k->lock);
	for (;;) {
		struct kjob *list;
		int n = 0, timed_out = 0;

		keep_wait(k, &timed_out);
		if (!k->head && !k->npend && k->stopping)
			break;
		list = k->head;
		k->head = k->tail = NULL;
		for (struct kjob *j = list; j; j = j->next)
			n++;
		k->qlen = 0;
		k->writing = 1;
		/* Still held until written: replication must not fetch them meanwhile. */
		k->wlist = list;
		pthread_cond_broadcast(&k->room);
		pthread_mutex_unlock(&k->lock);
		/* Room for the list's owned records among the staged ones: index those first. */
		if (k->npend + n > STAGE_MAX)
			index_staged(k);
		write_jobs(k, list);
		/* Written: in the disk cache, or staged (pend); out of keep_held's sight first. */
		pthread_mutex_lock(&k->lock);
		k->wlist = NULL;
		pthread_mutex_unlock(&k->lock);
		while (list) {
			struct kjob *next = list->next;

			zmq_msg_close(&list->rec);
			free(list);
			list = next;
		}
		pthread_mutex_lock(&k->lock);
		if (k->npend >= STAGE_FLUSH || (!k->head && (timed_out || k->drain || k->stopping))) {
			pthread_mutex_unlock(&k->lock);
			index_staged(k);
			pthread_mutex_lock(&k->lock);
		}
		k->writing = 0;
		pthread_cond_broadcast(&k->idle);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

void keep_record(struct mfs_replica *r, const struct mfs_hash *h, zmq_msg_t *rec,
		 const struct mfs_chunk_info *info, int owned)
{
	struct mfs_keep *k = r->keep;
	struct kjob *j = k ? calloc(1, sizeof(*j)) : NULL;
	int wake;

	if (!j) {
		if (!owned)
			mfs_diskcache_put(r->dc, h, zmq_msg_data(rec), zmq_msg_size(rec));
		return; /* owned: replication fetches it */
	}
	j->h = *h;
	j->info = *info;
	j->owned = owned;
	zmq_msg_init(&j->rec);
	zmq_msg_move(&j->rec, rec); /* the received bytes, no copy */
	pthread_mutex_lock(&k->lock);
	while (k->qlen >= KEEP_MAX && !k->stopping)
		pthread_cond_wait(&k->room, &k->lock);
	if (k->tail)
		k->tail->next = j;
	else
		k->head = j;
	k->tail = j;
	/* The first record starts the keeper's linger clock; a full batch wakes it. */
	wake = ++k->qlen == 1 || k->qlen >= KEEP_BATCH;
	pthread_mutex_unlock(&k->lock);
	/* After unlocking: the keeper woken does not block on the lock at once. */
	if (wake)
		pthread_cond_signal(&k->work);
}

int keep_start(struct mfs_replica *r)
{
	struct mfs_keep *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->r = r;
	pthread_mutex_init(&k->lock, NULL);
	mono_cond_init(&k->work); /* the linger and the idle wait are timed */
	pthread_cond_init(&k->room, NULL);
	pthread_cond_init(&k->idle, NULL);
	if (pthread_create(&k->thread, NULL, keep_main, k)) {
		pthread_mutex_destroy(&k->lock);
		pthread_cond_destroy(&k->work);
		pthread_cond_destroy(&k->room);
		pthread_cond_destroy(&k->idle);
		free(k);
		return -EAGAIN;
	}
	r->keep = k;
	return 0;
}

/* Writes what is queued, then stops (after the last reader is gone). */
void keep_stop(struct mfs_replica *r)
{
	struct mfs_keep *k = r->keep;

	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->work);
	pthread_cond_broadcast(&k->room);
	pthread_cond_broadcast(&k->idle);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	r->keep = NULL;
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->work);
	pthread_cond_destroy(&k->room);
	pthread_cond_destroy(&k->idle);
	free(k);
}

void keep_drain(struct mfs_replica *r)
{
	struct mfs_keep *k = r->keep;

	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->drain++;
	pthread_cond_signal(&k->work);
	while ((k->head || k->writing || k->npend) && !k->stopping)
		pthread_cond_wait(&k->idle, &k->lock);
	k->drain--;
	pthread_mutex_unlock(&k->lock);
}
