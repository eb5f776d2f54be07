/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of gc (store/maint/gc.h): the control request that runs it
 * with what only the daemon knows (the peers' progress from the replica,
 * the disk cache), and the release of old versions' manifests once nobody
 * has them open, so that gc can free their chunks.  Open handles keep
 * their manifest (fs_internal.h note 3); every manifest the process holds
 * counts as a reference (mfs_manifest_live_each), so no version that is
 * open here ever loses a chunk.
 *
 * A run has two halves: the copies this node holds beyond their files'
 * factors (replica/trim.c, with peers only), then the chunks no version
 * references (store/gc.c).  It runs on request and, with gc_interval_s,
 * on a timer with apply; one run at a time (gc_run_lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuse/fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "ticker.h"

#define LOG_COMPONENT "gc"

/* One gc run at a time, by request or timer (one daemon per process). */
static pthread_mutex_t gc_run_lock = PTHREAD_MUTEX_INITIALIZER;

struct fs_gc {
	struct mfs_fs *fs;
	struct fs_ticker ticker;
};

struct mfs_manifest *fs_node_release_old(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_manifest *m = n->manifest;

	/*
	 * The current version's too: a manifest kept on a node nobody has
	 * open is only a cache, and a decoded manifest is live (gc.h): kept
	 * while the kernel remembers the inode, it held back the trim of the
	 * file's extra copies until the kernel forgot it (t1150).
	 */
	if (!m || n->readers || n->writers)
		return NULL;
	n->manifest = NULL;
	fs_node_untruncate(n);
	return m;
}

/* "apply", "relocate", "grace=N", space separated; 0 or -EINVAL. */
static int parse_args(const char *args, struct mfs_gc_opts *o)
{
	char buf[256], *save = NULL, *tok;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf))
		return -EINVAL;
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *end;

		if (!strcmp(tok, "apply")) {
			o->apply = 1;
		} else if (!strcmp(tok, "relocate")) {
			o->relocate = 1;
		} else if (!strncmp(tok, "grace=", 6) && tok[6] >= '0' && tok[6] <= '9') {
			errno = 0;
			o->grace_s = strtoull(tok + 6, &end, 10);
			/* Out of range is an error, not "keep nothing" after a wrap. */
			if (*end || errno || o->grace_s > MFS_GC_MAX_GRACE_S)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static const char *peer_state_name(const struct mfs_gc_peer *p, int held)
{
	if (p->state == MFS_GC_PEER_UNKNOWN)
		return "unknown";
	if (p->state == MFS_GC_PEER_SILENT)
		return "silent";
	return held ? "behind" : "reached";
}

/* Both halves (the file's notes) with o; *trim is zero without peers. */
static int run(struct mfs_fs *fs, struct mfs_gc_opts *o, struct mfs_gc_result *res,
	       struct mfs_gc_trim_result *trim, uint64_t *disk_before, uint64_t *adopted)
{
	int rc = 0;

	*adopted = 0;
	memset(trim, 0, sizeof(*trim));
	*disk_before = mfs_db_disk_bytes(fs->db);
	pthread_mutex_lock(&gc_run_lock);
	if (fs->replica) {
		if (!(rc = mfs_replica_gc_peers(fs->replica, &o->peers, &o->npeers))) {
			o->cache = mfs_replica_gc_cache(fs->replica);
			rc = mfs_replica_trim(fs->replica, o->apply, o->grace_s, o->now, trim);
		}
	}
	if (!rc)
		rc = mfs_gc_run(fs->ns, o, res);
	/* Entries left unreachable by concurrent directory operations: into lost+found. */
	if (!rc && o->apply && !fs->cfg->ro)
		*adopted = fs_adopt_orphans(fs);
	pthread_mutex_unlock(&gc_run_lock);
	return rc;
}

#define KV(k, v) fprintf(f, "%s %llu\n", k, (unsigned long long)(v))

static void put_trim(const struct mfs_gc_trim_result *t, FILE *f)
{
	KV("trim_skipped", t->skipped);
	KV("trim_candidates", t->candidates);
	KV("trim_candidate_bytes", t->candidate_bytes);
	KV("trim_held_grace", t->held_grace);
	KV("trim_held_grace_bytes", t->held_grace_bytes);
	KV("trim_unconfirmed", t->unconfirmed);
	KV("trim_unconfirmed_bytes", t->unconfirmed_bytes);
	KV("trim_held_open", t->held_open);
	KV("trim_confirmed", t->confirmed);
	KV("trim_dropped_chunks", t->dropped);
	KV("trim_dropped_bytes", t->dropped_bytes);
}

void fs_gc_control(struct mfs_fs *fs, const char *args, FILE *f)
{
	struct mfs_gc_opts o = { .grace_s = (uint64_t)fs->cfg->gc_grace_s,
				 .now = (uint64_t)time(NULL) };
	struct mfs_gc_trim_result trim;
	struct mfs_gc_result res;
	uint64_t before, adopted;
	int rc = parse_args(args, &o);

	if (rc) {
		fprintf(f, "end %d bad gc request: %s\n", rc, args);
		return;
	}
	log_info("gc requested (%s, grace %llu s)", o.apply ? "apply" : "dry run",
		 (unsigned long long)o.grace_s);
	if ((rc = run(fs, &o, &res, &trim, &before, &adopted)))
		goto out;
	KV("apply", o.apply);
	KV("grace_s", o.grace_s);
	KV("unreferenced_chunks", res.unreferenced_chunks);
	KV("unreferenced_bytes", res.unreferenced_bytes);
	KV("free_chunks", res.free_chunks);
	KV("free_bytes", res.free_bytes);
	KV("freed_chunks", res.freed_chunks);
	KV("freed_bytes", res.freed_bytes);
	KV("held_open_chunks", res.held_open_chunks);
	KV("held_open_bytes", res.held_open_bytes);
	KV("held_grace_chunks", res.held_grace_chunks);
	KV("held_grace_bytes", res.held_grace_bytes);
	KV("held_peers_chunks", res.held_peers_chunks);
	KV("held_peers_bytes", res.held_peers_bytes);
	KV("referenced_again", res.referenced_again);
	KV("grace_next_s", res.grace_next_s);
	KV("cache_unreferenced", res.cache_unreferenced);
	KV("cache_freed_chunks", res.cache_freed_chunks);
	KV("cache_freed_bytes", res.cache_freed_bytes);
	KV("marks", res.marks);
	put_trim(&trim, f);
	KV("lost_found_moved", adopted);
	KV("disk_bytes_before", before);
	KV("disk_bytes_after", res.disk_after);
	for (int i = 0; i < o.npeers; i++)
		fprintf(f, "gc_peer %s " MFS_NODE_FMT " %s %llu\n", o.peers[i].name, MFS_NODE_ARG(o.peers[i].id),
			peer_state_name(&o.peers[i], o.peers[i].held_chunks != 0),
			(unsigned long long)o.peers[i].held_chunks);
out:
	free(o.peers);
	fprintf(f, "end %d %s\n", rc, rc ? mfs_strerror(rc) : "ok");
}

/* ---- the timer ----------------------------------------------------------- */

static void timed_run(struct mfs_fs *fs)
{
	struct mfs_gc_opts o = { .apply = 1, .grace_s = (uint64_t)fs->cfg->gc_grace_s,
				 .now = (uint64_t)time(NULL) };
	struct mfs_gc_trim_result trim;
	struct mfs_gc_result res;
	uint64_t before, adopted;
	int rc = run(fs, &o, &res, &trim, &before, &adopted);

	free(o.peers);
	if (rc)
		log_warn("timed gc stopped: %s", mfs_strerror(rc));
	else if (res.freed_chunks || trim.dropped)
		log_info("timed gc: %llu unreferenced chunks and %llu copies beyond their factor "
			 "freed; disk %llu -> %llu bytes",
			 (unsigned long long)res.freed_chunks, (unsigned long long)trim.dropped,
			 (unsigned long long)before, (unsigned long long)res.disk_after);
}

static void *gc_thread(void *arg)
{
	struct fs_gc *g = arg;

	while (fs_ticker_nap(&g->ticker, (uint64_t)g->fs->cfg->gc_interval_s * 1000))
		timed_run(g->fs);
	return NULL;
}

int fs_gc_start(struct mfs_fs *fs, struct fs_gc **out)
{
	struct fs_gc *g;
	int rc;

	*out = NULL;
	if (!fs->cfg->gc_interval_s || fs->cfg->ro)
		return 0;
	if (!(g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	g->fs = fs;
	if ((rc = fs_ticker_start(&g->ticker, "mfs-gc", gc_thread, g))) {
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void fs_gc_stop(struct fs_gc *g)
{
	if (!g)
		return;
	fs_ticker_stop(&g->ticker);
	free(g);
}
