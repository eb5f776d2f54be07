/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rounds of mfs_db_sync (store/kv/db_internal.h, group commit notes):
 * a sync that fails (the fault injector, store/kv/db_fault.c) fails every
 * caller that waited on it, none hears success; and a leader that expects
 * more callers waits for them, so that one backend sync covers them all.
 *
 * To hold a round open while the others arrive, the test runs the fault
 * wrapper's own table of operations with its sync behind a gate; it reaches
 * into the front's state (db_internal.h) only to see who waits and to set
 * what the leader expects.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/kv/db_internal.h"
#include "tap.h"

#define FOLLOWERS 3

static struct mfs_db *mem, *db;
static struct mfs_kv_ops gated_ops;
static const struct mfs_kv_ops *fault_ops;
static int (*real_sync)(struct mfs_db *db);
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_closed, in_sync, syncs;

/* The backend's sync, held at the gate while it is closed. */
static int gated_sync(struct mfs_db *d)
{
	pthread_mutex_lock(&gate_lock);
	in_sync = 1;
	syncs++;
	pthread_cond_broadcast(&gate_cond);
	while (gate_closed)
		pthread_cond_wait(&gate_cond, &gate_lock);
	in_sync = 0;
	pthread_mutex_unlock(&gate_lock);
	return real_sync(d);
}

static void gate_set(int closed)
{
	pthread_mutex_lock(&gate_lock);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void wait_in_sync(void)
{
	pthread_mutex_lock(&gate_lock);
	while (!in_sync)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

/* Polls the front's state until pred holds (a condition, not a sleep). */
static void wait_front(int (*pred)(struct mfs_db *d))
{
	for (;;) {
		int done;

		pthread_mutex_lock(&db->sync_lock);
		done = pred(db);
		pthread_mutex_unlock(&db->sync_lock);
		if (done)
			return;
		sched_yield();
	}
}

/* The wrapper's own calls know it by its table. */
static int arm(const char *spec_s)
{
	struct mfs_fault_spec spec;
	int rc = spec_s ? mfs_fault_spec_parse(spec_s, &spec) : 0;

	db->ops = fault_ops;
	rc = rc ? rc : mfs_db_fault_arm(db, spec_s ? &spec : NULL);
	db->ops = &gated_ops;
	return rc;
}

static int fired(void)
{
	int n;

	db->ops = fault_ops;
	n = mfs_db_fault_fired(db);
	db->ops = &gated_ops;
	return n;
}

static int followers_waiting(struct mfs_db *d) { return d->waiters == FOLLOWERS; }
static int lead_done;	/* atomic */
/* The leader waits for its group (or, if it would not, is done already). */
static int leader_forming(struct mfs_db *d)
{
	return d->syncing || __atomic_load_n(&lead_done, __ATOMIC_ACQUIRE);
}

static int put(const char *key)
{
	struct mfs_batch *b = mfs_batch_new(db);
	int rc;

	if (!b)
		return -ENOMEM;
	mfs_batch_put(b, MFS_CF_INODES, key, strlen(key), "v", 1);
	rc = mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	return rc;
}

static int kept(const char *key)
{
	return mfs_db_exists(mem, MFS_CF_INODES, key, strlen(key)) == 1;
}

struct caller {
	pthread_t t;
	const char *key;	/* written first, or NULL */
	int lead;		/* sets lead_done when it returns */
	int rc;
};

static void *call_sync(void *arg)
{
	struct caller *c = arg;

	c->rc = c->key ? put(c->key) : 0;
	if (!c->rc)
		c->rc = mfs_db_sync(db);
	if (c->lead)
		__atomic_store_n(&lead_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void start(struct caller *c, const char *key)
{
	c->key = key;
	c->rc = 1;
	if (pthread_create(&c->t, NULL, call_sync, c))
		tap_bail("thread");
}

/* A failed round: the leader and all who waited on it hear the error. */
static void failed_round(void)
{
	struct caller lead = { 0 }, f[FOLLOWERS] = { { 0 } };
	int errs = 0;

	for (int i = 0; i < FOLLOWERS + 1; i++) {
		char key[8];

		snprintf(key, sizeof(key), "a%d", i);
		if (put(key))
			tap_bail("put");
	}
	if (arm("write:1:EIO"))
		tap_bail("arm");
	gate_set(1);
	start(&lead, NULL);
	wait_in_sync();
	for (int i = 0; i < FOLLOWERS; i++)
		start(&f[i], NULL);
	wait_front(followers_waiting);
	gate_set(0);
	pthread_join(lead.t, NULL);
	for (int i = 0; i < FOLLOWERS; i++) {
		pthread_join(f[i].t, NULL);
		errs += f[i].rc == -EIO;
	}
	is_int(lead.rc, -EIO, "the leader of a round whose sync failed: EIO");
	is_int(errs, FOLLOWERS, "all %d callers that waited on that round: EIO, none success",
	       FOLLOWERS);
	is_int(syncs, 1, "one backend sync was tried for all of them");
	is_int(fired(), 1, "the fault fired once");
	is_int(mfs_db_sync(db), 0, "a caller after the failure leads a round of its own: it syncs");
	is_int(syncs, 2, "with a second backend sync");
	if (mfs_db_mem_power_loss(mem))
		tap_bail("power loss");
	ok(kept("a0") && kept("a3"), "what that sync covered is durable");
}

/* A leader that expects FOLLOWERS more callers waits, and syncs once for all. */
static void formed_round(void)
{
	struct caller lead = { 0 }, f[FOLLOWERS] = { { 0 } };
	int fine = 0;

	if (arm(NULL))
		tap_bail("disarm");
	pthread_mutex_lock(&db->sync_lock);
	db->expect = FOLLOWERS + 1;
	db->last_sync_ns = db->group_wait_max_ns = 3600ull * 1000000000ull;
	pthread_mutex_unlock(&db->sync_lock);
	syncs = 0;
	lead.lead = 1;
	start(&lead, "b");
	wait_front(leader_forming);
	for (int i = 0; i < FOLLOWERS; i++) {
		static const char *keys[] = { "b0", "b1", "b2" };

		start(&f[i], keys[i]);
	}
	pthread_join(lead.t, NULL);
	for (int i = 0; i < FOLLOWERS; i++) {
		pthread_join(f[i].t, NULL);
		fine += f[i].rc == 0;
	}
	is_int(lead.rc, 0, "a leader expecting %d callers: synced", FOLLOWERS + 1);
	is_int(fine, FOLLOWERS, "the callers that came while it waited: synced");
	is_int(syncs, 1, "by one backend sync");
	is_int((int)db->expect, FOLLOWERS + 1, "the next round expects as many");
	if (mfs_db_mem_power_loss(mem))
		tap_bail("power loss");
	ok(kept("b") && kept("b0") && kept("b1") && kept("b2"), "all four writes are durable");

	/* Alone: the next round expects one caller and runs at once. */
	pthread_mutex_lock(&db->sync_lock);
	db->expect = 1;
	pthread_mutex_unlock(&db->sync_lock);
	syncs = 0;
	is_int(put("c") || mfs_db_sync(db), 0, "one caller alone: synced");
	is_int((int)db->expect, 1, "and the round after expects one");
	is_int(syncs, 1, "one backend sync");
}

int main(void)
{
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (mfs_db_open_mem(&mem) || mfs_db_fault_wrap(mem, NULL, 0, &db))
		tap_bail("setup");
	fault_ops = db->ops;
	gated_ops = *db->ops;
	real_sync = gated_ops.sync;
	gated_ops.sync = gated_sync;
	db->ops = &gated_ops;

	failed_round();
	formed_round();

	db->ops = fault_ops;
	mfs_db_close(db);
	mfs_db_close(mem);
	return done_testing();
}
