/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of gc (store/maint/gc.h): the control request that runs it
 * with what only the daemon knows (the peers' progress from the replica,
 * the disk cache), and the release of old versions' manifests once nobody
 * has them open, so that gc can free their chunks.  Open handles keep
 * their manifest (fs_internal.h note 3); every manifest the process holds
 * counts as a reference (mfs_manifest_live_each), so no version that is
 * open here ever loses a chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuse/fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/maint/gc.h"

#define LOG_COMPONENT "gc"

struct mfs_manifest *fs_node_release_old(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_manifest *m = n->manifest;

	if (!m || n->readers || n->writers || (!n->gone && fs_node_target(fs, n) == n->ino))
		return NULL;
	n->manifest = NULL;
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

#define KV(k, v) fprintf(f, "%s %llu\n", k, (unsigned long long)(v))

void fs_gc_control(struct mfs_fs *fs, const char *args, FILE *f)
{
	struct mfs_gc_opts o = { .grace_s = MFS_GC_DEFAULT_GRACE_S, .now = (uint64_t)time(NULL) };
	struct mfs_gc_result res;
	int rc = parse_args(args, &o);

	if (rc) {
		fprintf(f, "end %d bad gc request: %s\n", rc, args);
		return;
	}
	if (fs->replica) {
		if ((rc = mfs_replica_gc_peers(fs->replica, &o.peers, &o.npeers)))
			goto out;
		o.dc = mfs_replica_diskcache(fs->replica);
	}
	log_info("gc requested (%s, grace %llu s)", o.apply ? "apply" : "dry run",
		 (unsigned long long)o.grace_s);
	if ((rc = mfs_gc_run(fs->ns, &o, &res)))
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
	KV("disk_bytes_before", res.disk_before);
	KV("disk_bytes_after", res.disk_after);
	for (int i = 0; i < o.npeers; i++)
		fprintf(f, "gc_peer %s %04x %s %llu\n", o.peers[i].name, o.peers[i].id,
			peer_state_name(&o.peers[i], o.peers[i].held_chunks != 0),
			(unsigned long long)o.peers[i].held_chunks);
out:
	free(o.peers);
	fprintf(f, "end %d %s\n", rc, rc ? mfs_strerror(rc) : "ok");
}
