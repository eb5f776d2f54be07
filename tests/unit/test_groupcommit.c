/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Group commit (store/kv/db.h mfs_db_sync, ns_internal.h): namespace ops are
 * written unsynced under the lock and synced after it.  On the in-memory
 * store, whose power loss keeps only what was synced: every op acknowledged
 * by concurrent writers survives; a pending create alone may be lost (and
 * recovery would have removed it anyway), any later synced op keeps it; and
 * a node's own ops are durable before they are handed to peers.  With
 * deferred syncs on (mfs_ns_defer_syncs, the daemon's meta_sync_ms), a
 * chmod, mkdir, rename or unlink returns unsynced and a power loss loses
 * it, while mfs_ns_sync, a publish after it, or serving ops to a peer makes
 * it durable; a publish itself is still synced before it returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "tap.h"

#define THREADS 8
#define FILES 40

static struct mfs_db *db;
static struct mfs_ns *ns;

static int mk(uint64_t parent, const char *name, uint32_t mode, uint32_t flags, uint64_t *ino)
{
	struct mfs_ns_new nw = { .mode = mode, .flags = flags };
	struct mfs_inode in;
	int rc = mfs_ns_create(ns, parent, name, &nw, &in);

	if (!rc && ino)
		*ino = in.ino;
	mfs_inode_release(&in);
	return rc;
}

static int publish(uint64_t ino)
{
	struct mfs_inode in;
	int rc = mfs_ns_publish(ns, ino, NULL, 0, NULL, NULL, &in);

	mfs_inode_release(&in);
	return rc;
}

/* 1 if parent/name is there and published. */
static int published(uint64_t parent, const char *name)
{
	struct mfs_inode in;
	int rc = mfs_ns_lookup(ns, parent, name, &in), ok = !rc && !(in.flags & MFS_I_PENDING);

	mfs_inode_release(&in);
	return ok;
}

static int acked[THREADS][FILES];

static int exists(uint64_t parent, const char *name)
{
	struct mfs_inode in;
	int rc = mfs_ns_lookup(ns, parent, name, &in);

	mfs_inode_release(&in);
	return rc == 0;
}

static void *writer(void *arg)
{
	long t = (long)arg;

	for (int i = 0; i < FILES; i++) {
		char name[32];
		uint64_t ino;

		snprintf(name, sizeof(name), "t%ld-%d", t, i);
		acked[t][i] = !mk(MFS_ROOT_INO, name, S_IFREG | 0644, MFS_I_PENDING, &ino) &&
			      !publish(ino);
	}
	return NULL;
}

static void power_loss(void)
{
	mfs_ns_close(ns);
	ns = NULL;
	if (mfs_db_mem_power_loss(db) || mfs_ns_open(db, &ns))
		tap_bail("power loss");
}

static int count_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static uint32_t mode_of(uint64_t parent, const char *name)
{
	struct mfs_inode in;
	uint32_t m = mfs_ns_lookup(ns, parent, name, &in) ? 0 : in.mode & 07777;

	mfs_inode_release(&in);
	return m;
}

static int chmod_name(const char *name, uint32_t mode)
{
	struct mfs_inode in, src = { .mode = mode };
	int rc = mfs_ns_lookup(ns, MFS_ROOT_INO, name, &in);

	if (!rc)
		rc = mfs_ns_setattr(ns, in.ino, &src, MFS_ATTR_MODE, NULL);
	mfs_inode_release(&in);
	return rc;
}

/* Deferred syncs: what survives a power loss, and what makes it survive. */
static void deferred(void)
{
	uint64_t ino, n = 0;

	is_int(mk(MFS_ROOT_INO, "f", S_IFREG | 0644, MFS_I_PENDING, &ino) || publish(ino), 0,
	       "deferred: a published file f");
	mfs_ns_defer_syncs(ns, 1);
	is_int(chmod_name("f", 0600) || mk(MFS_ROOT_INO, "dd", S_IFDIR | 0755, 0, NULL), 0,
	       "a chmod and a mkdir with deferred syncs");
	ok(mfs_ns_unsynced(ns) == 2, "both are unsynced (%llu)",
	   (unsigned long long)mfs_ns_unsynced(ns));
	power_loss();
	ok(mode_of(MFS_ROOT_INO, "f") == 0644 && !exists(MFS_ROOT_INO, "dd"),
	   "a power loss loses both, and only them (f is still there, mode 0644)");

	mfs_ns_defer_syncs(ns, 1);
	is_int(chmod_name("f", 0600) || mk(MFS_ROOT_INO, "dd", S_IFDIR | 0755, 0, NULL), 0,
	       "the chmod and mkdir again");
	is_int(mfs_ns_sync(ns), 0, "mfs_ns_sync (fsync)");
	ok(mfs_ns_unsynced(ns) == 0, "nothing is left unsynced");
	power_loss();
	ok(mode_of(MFS_ROOT_INO, "f") == 0600 && exists(MFS_ROOT_INO, "dd"),
	   "after mfs_ns_sync both survive a power loss");

	mfs_ns_defer_syncs(ns, 1);
	is_int(chmod_name("f", 0640), 0, "a deferred chmod");
	is_int(mk(MFS_ROOT_INO, "g", S_IFREG | 0644, MFS_I_PENDING, &ino) || publish(ino), 0,
	       "then a publish, which does not defer");
	ok(mfs_ns_unsynced(ns) == 0, "the publish synced the chmod before it");
	power_loss();
	ok(mode_of(MFS_ROOT_INO, "f") == 0640 && published(MFS_ROOT_INO, "g"),
	   "both survive a power loss");

	mfs_ns_defer_syncs(ns, 1);
	is_int(mfs_ns_remove(ns, MFS_ROOT_INO, "dd", 1, NULL), 0, "a deferred rmdir");
	mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, count_op, &n);
	is_int(n, mfs_ns_seq(ns), "every own op is served to peers, the deferred rmdir too");
	power_loss();
	ok(!exists(MFS_ROOT_INO, "dd") && mfs_ns_seq(ns) == n,
	   "serving them synced them: the rmdir survives a power loss");
}

int main(void)
{
	pthread_t th[THREADS];
	int all = 1, lost = 0;
	uint64_t ino, n = 0, seq0;

	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (mfs_db_open_mem(&db) || mfs_ns_open(db, &ns))
		tap_bail("setup");

	for (long t = 0; t < THREADS; t++)
		if (pthread_create(&th[t], NULL, writer, (void *)t))
			tap_bail("thread");
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	power_loss();
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < FILES; i++) {
			char name[32];

			snprintf(name, sizeof(name), "t%d-%d", t, i);
			all &= acked[t][i];
			lost += acked[t][i] && !published(MFS_ROOT_INO, name);
		}
	ok(all, "%d writers x %d files: every create and publish acknowledged", THREADS, FILES);
	is_int(lost, 0, "after a power loss every acknowledged publish is there");

	seq0 = mfs_ns_seq(ns);
	is_int(mk(MFS_ROOT_INO, "p", S_IFREG | 0644, MFS_I_PENDING, &ino), 0, "a pending create");
	power_loss();
	ok(!exists(MFS_ROOT_INO, "p") && mfs_ns_seq(ns) == seq0,
	   "a pending create alone is not synced: its op is gone after a power loss");
	is_int(mk(MFS_ROOT_INO, "p", S_IFREG | 0644, MFS_I_PENDING, &ino), 0, "a pending create again");
	is_int(mk(MFS_ROOT_INO, "d", S_IFDIR | 0755, 0, NULL), 0, "then a mkdir (synced)");
	seq0 = mfs_ns_seq(ns);
	power_loss();
	ok(exists(MFS_ROOT_INO, "d") && mfs_ns_seq(ns) > seq0,
	   "the mkdir survives a power loss, and the create before it (recovery removed p)");
	is_int(mk(MFS_ROOT_INO, "q", S_IFREG | 0644, MFS_I_PENDING, &ino), 0, "a pending create");
	mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, count_op, &n);
	is_int(n, mfs_ns_seq(ns), "every own op, the unsynced create too, is served to peers");
	power_loss();
	ok(mfs_ns_seq(ns) > n, "the ops served were durable: the log kept them (%llu > %llu)",
	   (unsigned long long)mfs_ns_seq(ns), (unsigned long long)n);

	deferred();

	mfs_ns_close(ns);
	mfs_db_close(db);
	return done_testing();
}
