/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status vocabulary (status_keys.h).  Metric names follow the
 * Prometheus conventions: a `modelfs_` prefix, base units (bytes,
 * seconds), `_total` on counters.
 */
#include <string.h>

#include "status_keys.h"

#define TEXT MFS_STATUS_TEXT
#define GAUGE MFS_STATUS_GAUGE
#define COUNTER MFS_STATUS_COUNTER
#define GROUP MFS_STATUS_GROUP
#define HISTO MFS_STATUS_HISTOGRAM
#define B MFS_UNIT_BYTES
#define S MFS_UNIT_SECONDS
#define US MFS_UNIT_MICROSECONDS
#define N MFS_UNIT_NONE

static const struct mfs_status_key keys[] = {
	/* the node (fuse/admin/control.c) */
	{ "node_id", TEXT, N, NULL, "node_id", "The node's id, 16 hex digits." },
	{ "ino_space", TEXT, N, NULL, NULL, "The inode space new inodes are numbered in, 4 hex digits." },
	{ "version", TEXT, N, NULL, "version", "The modelfs version the daemon runs." },
	{ "uptime_s", GAUGE, S, "modelfs_uptime_seconds", NULL, "Seconds since the daemon started." },
	{ "options", TEXT, N, NULL, NULL, "The effective options, as one -o list." },
	{ "data_dir", TEXT, N, NULL, "data_dir", "The node's store directory." },
	{ "mountpoint", TEXT, N, NULL, "mountpoint", "Where the node is mounted (empty: a storage-only peer)." },
	/* the store */
	{ "files", GAUGE, N, "modelfs_files", NULL, "Regular files in the namespace." },
	{ "dirs", GAUGE, N, "modelfs_dirs", NULL, "Directories in the namespace." },
	{ "symlinks", GAUGE, N, "modelfs_symlinks", NULL, "Symbolic links in the namespace." },
	{ "logical_bytes", GAUGE, B, "modelfs_logical_bytes", NULL, "Sum of the sizes of all files." },
	{ "hole_bytes", GAUGE, B, "modelfs_hole_bytes", NULL, "Of those, the bytes in holes of sparse files: runs of zeros no chunk stores." },
	{ "chunks", GAUGE, N, "modelfs_chunks", NULL, "Distinct chunks referenced by files and held in the store." },
	{ "chunk_bytes", GAUGE, B, "modelfs_chunk_bytes", NULL, "Raw bytes of those chunks." },
	{ "stored_bytes", GAUGE, B, "modelfs_stored_bytes", NULL, "Record bytes of those chunks (after compression)." },
	{ "orphan_chunks", GAUGE, N, "modelfs_orphan_chunks", NULL, "Stored chunks no file references." },
	{ "orphan_bytes", GAUGE, B, "modelfs_orphan_bytes", NULL, "Record bytes of the chunks no file references." },
	{ "disk_bytes", GAUGE, B, "modelfs_disk_bytes", NULL, "Size of the store on disk: RocksDB files and pack files." },
	{ "fs_size_bytes", GAUGE, B, "modelfs_fs_size_bytes", NULL, "Size of the file system under the store." },
	{ "fs_avail_bytes", GAUGE, B, "modelfs_fs_avail_bytes", NULL, "Space left on the file system under the store." },
	{ "store_disk_full", GAUGE, N, "modelfs_store_disk_full", NULL, "1 while the store's disk has less than the 16 MiB it keeps free: its writes, namespace changes included, fail with ENOSPC." },
	{ "dedup_ratio", GAUGE, N, "modelfs_dedup_ratio", NULL, "Logical bytes outside holes over distinct chunk bytes." },
	{ "compression_ratio", GAUGE, N, "modelfs_compression_ratio", NULL, "Chunk bytes over stored bytes." },
	{ "codec_chunks", GROUP, N, "modelfs_codec_chunks", "codec", "Stored chunks referenced by files, by codec." },
	{ "recode_queue", GAUGE, N, "modelfs_recode_queue_chunks", NULL, "Chunks stored raw whose encoding the background pass has still to do (option recode)." },
	{ "recoded_chunks", COUNTER, N, "modelfs_recoded_chunks_total", NULL, "Chunks the background pass encoded since start." },
	{ "recode_saved_bytes", COUNTER, B, "modelfs_recode_saved_bytes_total", NULL, "Record bytes the background pass saved since start." },
	{ "recode_failures", COUNTER, N, "modelfs_recode_failures_total", NULL, "Background encodings that failed and wait for a retry." },
	{ "ns_unsynced_ops", GAUGE, N, "modelfs_ns_unsynced_ops", NULL, "Namespace changes in the WAL not yet synced (option meta_sync_ms): a power loss would lose them." },
	/* the memory cache and reads through the mount */
	{ "cache_hits", COUNTER, N, "modelfs_cache_hits_total", NULL, "Chunk reads served by the memory cache." },
	{ "cache_misses", COUNTER, N, "modelfs_cache_misses_total", NULL, "Chunk reads the memory cache missed." },
	{ "cache_bytes", GAUGE, B, "modelfs_cache_bytes", NULL, "Bytes in the memory chunk cache." },
	{ "cache_capacity", GAUGE, B, "modelfs_cache_capacity_bytes", NULL, "Capacity of the memory chunk cache." },
	{ "cache_delta_bases", COUNTER, N, "modelfs_cache_delta_bases_total", NULL, "Base chunks that delta reads took decoded from the memory cache instead of decoding them again." },
	{ "read_requests", COUNTER, N, "modelfs_read_requests_total", NULL, "READ requests the kernel sent the daemon." },
	{ "read_bytes", COUNTER, B, "modelfs_read_bytes_total", NULL, "Bytes the daemon returned to READ requests." },
	{ "read_latency_us", HISTO, US, "modelfs_read_latency_seconds", NULL, "Time from a READ request to its reply." },
	/* peers (replica/node.c) */
	{ "listen", TEXT, N, NULL, "listen", "The peer service's endpoint (empty: none)." },
	{ "peer_security", TEXT, N, NULL, "peer_security", "How peers reach this node: curve (encrypted, authorized keys only), loopback (plain, this machine only) or insecure (plain TCP on a network, option insecure)." },
	{ "member_state", TEXT, N, NULL, "member_state", "This node's state in the member table: joining, active, draining or gone." },
	{ "peer", MFS_STATUS_PEER, N, "modelfs_peer_up", NULL, "Whether the peer at endpoint (node id node) answers now (0: down or not yet seen)." },
	{ "peers_up", GAUGE, N, "modelfs_peers_up", NULL, "Peers answering now." },
	{ "repl_backlog", GAUGE, N, "modelfs_repl_backlog_chunks", NULL, "Chunks this node should fetch (owned, or to warm)." },
	{ "fetched_chunks", COUNTER, N, "modelfs_fetched_chunks_total", NULL, "Chunks fetched from peers." },
	{ "fetched_bytes", COUNTER, B, "modelfs_fetched_bytes_total", NULL, "Record bytes fetched from peers." },
	{ "fetch_latency_us", HISTO, US, "modelfs_fetch_latency_seconds", NULL, "Time to fetch one chunk from a peer, successful fetches." },
	{ "served_chunks", COUNTER, N, "modelfs_served_chunks_total", NULL, "Chunks served to peers." },
	{ "served_bytes", COUNTER, B, "modelfs_served_bytes_total", NULL, "Record bytes served to peers." },
	{ "recoded_served_chunks", COUNTER, N, "modelfs_recoded_served_chunks_total", NULL, "Raw chunks on the recode queue encoded at a peer's request, before they were served." },
	{ "fetch_failures", COUNTER, N, "modelfs_fetch_failures_total", NULL, "Chunk reads no peer could serve." },
	{ "bad_copies_from_peers", COUNTER, N, "modelfs_bad_copies_from_peers_total", NULL, "Chunks from peers that failed verification." },
	{ "malformed_messages", COUNTER, N, "modelfs_malformed_messages_total", NULL, "Malformed peer messages dropped." },
	{ "requests_resent", COUNTER, N, "modelfs_requests_resent_total", NULL, "Requests to peers sent again because their connection dropped (the peer restarted, say)." },
	{ "wire_version_refused", COUNTER, N, "modelfs_wire_version_refused_total", NULL, "Peer messages of another wire version (an older or newer build) refused." },
	{ "node_id_mismatches", COUNTER, N, "modelfs_node_id_mismatches_total", NULL, "Peer messages refused because their node id is not the id of the CURVE key that sent them." },
	{ "ino_space_changes", COUNTER, N, "modelfs_ino_space_changes_total", NULL, "Times this node moved to a fresh inode space since start (a lower node id used its space)." },
	{ "refused_requests", COUNTER, N, "modelfs_refused_requests_total", NULL, "Peer requests dropped: the key is no longer admitted." },
	{ "read_kept_chunks", COUNTER, N, "modelfs_read_kept_chunks_total", NULL, "Owned chunks a read fetched and handed to the store." },
	{ "repl_fetched_chunks", COUNTER, N, "modelfs_repl_fetched_chunks_total", NULL, "Chunks replication fetched." },
	{ "repl_deferred", COUNTER, N, "modelfs_repl_deferred_total", NULL, "Replication pulls put off because reads were fetching." },
	{ "repl_disk_full", GAUGE, N, "modelfs_repl_disk_full", NULL, "1 while replication and read caching wait for room: the store's disk is at the 32 MiB it keeps free." },
	{ "repl_room_waits", COUNTER, N, "modelfs_repl_room_waits_total", NULL, "Chunks replication or a read did not keep because the store's disk was at its margin." },
	{ "fetch_reused_chunks", COUNTER, N, "modelfs_fetch_reused_chunks_total", NULL, "Chunks asked for again while the record of their fetch waited to be kept, or was kept since the read looked: decoded from it, not fetched again." },
	{ "ops_applied", COUNTER, N, "modelfs_ops_applied_total", NULL, "Namespace ops applied from peers." },
	{ "oplog_seq", GAUGE, N, "modelfs_oplog_seq", NULL, "Namespace ops originated on this node." },
	{ "oplog_ops", GAUGE, N, "modelfs_oplog_ops", NULL, "Namespace ops held in the op log." },
	{ "oplog_folded", GAUGE, N, "modelfs_oplog_folded_ops", NULL, "Namespace ops folded into the records and no longer held." },
	{ "oplog_trimmed", COUNTER, N, "modelfs_oplog_trimmed_total", NULL, "Ops dropped from the op log since start (every peer had them)." },
	{ "snapshots_served", COUNTER, N, "modelfs_snapshots_served_total", NULL, "Namespace snapshots streamed to peers." },
	{ "snapshot_lock_us", GAUGE, US, "modelfs_snapshot_lock_seconds", NULL, "Namespace lock hold of the last snapshot image built (writers wait that long)." },
	{ "snapshots_applied", COUNTER, N, "modelfs_snapshots_applied_total", NULL, "Namespace snapshots this node bootstrapped from." },
	{ "snapshot_failures", COUNTER, N, "modelfs_snapshot_failures_total", NULL, "Snapshot bootstraps that failed (nothing applied)." },
	{ "disk_cache_chunks", GAUGE, N, "modelfs_disk_cache_chunks", NULL, "Peers' chunks in the disk cache." },
	{ "disk_cache_bytes", GAUGE, B, "modelfs_disk_cache_bytes", NULL, "Bytes in the disk cache." },
	{ "disk_cache_limit", GAUGE, B, "modelfs_disk_cache_limit_bytes", NULL, "Size limit of the disk cache." },
	{ "disk_cache_evicted", COUNTER, N, "modelfs_disk_cache_evicted_total", NULL, "Chunks the disk cache dropped to stay under its limit." },
};

const struct mfs_status_key *mfs_status_key(const char *key)
{
	const char *dot = strchr(key, '.');
	size_t len = dot ? (size_t)(dot - key) : strlen(key);

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct mfs_status_key *k = &keys[i];
		int grouped = k->kind == MFS_STATUS_GROUP || k->kind == MFS_STATUS_HISTOGRAM;

		if (strlen(k->key) == len && !strncmp(k->key, key, len) && grouped == !!dot)
			return k;
	}
	return NULL;
}
