/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The periodic sync of deferred namespace changes (meta_sync_ms).
 *
 * With it on, a mkdir, rename, unlink, chmod or setxattr returns once its
 * op is in RocksDB's WAL, unsynced: it survives a kill of the daemon, and a
 * power loss only loses what no fsync asked for, as on ext4 (store/ns/
 * namespace.h, mfs_ns_defer_syncs).  Synced one by one, each cost a WAL
 * fdatasync, ~0.2 ms on this disk, most of a chmod's 0.37 ms (issue 10
 * notes: 2,700 chmods/s against tmpfs's 430,000).  This thread bounds how
 * long such a change waits: every meta_sync_ms it syncs whatever is
 * unsynced.  A publish (close after a write), fsync and fsyncdir still sync
 * before they return, and so do a node's own ops before a peer gets them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"
#include "ticker.h"

#define LOG_COMPONENT "sync"

struct fs_sync {
	struct mfs_fs *fs;
	struct fs_ticker ticker;
	int failing;   /* the last sync failed (logged once until one succeeds) */
};

static void sync_once(struct fs_sync *s)
{
	int rc;

	if (!mfs_ns_unsynced(s->fs->ns))
		return;
	rc = mfs_ns_sync(s->fs->ns);
	if (rc && !s->failing)
		log_error("cannot sync namespace changes: %s", mfs_strerror(rc));
	else if (!rc && s->failing)
		log_info("namespace changes sync again");
	s->failing = rc != 0;
}

static void *sync_thread(void *arg)
{
	struct fs_sync *s = arg;

	while (fs_ticker_nap(&s->ticker, (uint64_t)s->fs->cfg->meta_sync_ms))
		sync_once(s);
	return NULL;
}

int fs_sync_start(struct mfs_fs *fs, struct fs_sync **out)
{
	struct fs_sync *s;
	int rc;

	*out = NULL;
	if (fs->cfg->meta_sync_ms <= 0)
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->fs = fs;
	if ((rc = fs_ticker_start(&s->ticker, "mfs-sync", sync_thread, s))) {
		free(s);
		return rc;
	}
	/* Only now: a change deferred with no thread to sync it would wait for the next fsync. */
	mfs_ns_defer_syncs(fs->ns, 1);
	*out = s;
	return 0;
}

void fs_sync_stop(struct fs_sync *s)
{
	if (!s)
		return;
	mfs_ns_defer_syncs(s->fs->ns, 0);
	fs_ticker_stop(&s->ticker);
	/* What the last period left: an unmount makes every change durable. */
	sync_once(s);
	free(s);
}
