/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole-store reports: statistics (modelfs-admin status) and the
 * consistency check (modelfs-admin fsck).  Both work on a live store (the
 * daemon runs them for its control endpoint) or an offline one.
 */
#ifndef MFS_REPORT_H
#define MFS_REPORT_H

#include <stdint.h>

#include "codec.h"

struct mfs_db;
struct mfs_ns;

struct mfs_store_stats {
	uint64_t files, dirs, symlinks;
	uint64_t logical_bytes;     /* sum of file sizes */
	uint64_t chunks;            /* distinct chunks the files reference */
	uint64_t chunk_bytes;       /* their raw bytes */
	uint64_t stored_bytes;      /* their record bytes (what disk holds for them) */
	uint64_t codec_chunks[MFS_CODEC_COUNT];
	uint64_t orphan_chunks;     /* stored, referenced by no file (old versions; gc) */
	uint64_t orphan_bytes;      /* their record bytes */
	uint64_t disk_bytes;        /* RocksDB files, all column families */
	double dedup_ratio;         /* logical / chunk_bytes */
	double compression_ratio;   /* chunk_bytes / stored_bytes */
};

int mfs_store_stats(struct mfs_db *db, struct mfs_store_stats *st);

enum mfs_fsck_problem {
	MFS_FSCK_CORRUPT,   /* chunk fails its checksum, decode or SHA-256 */
	MFS_FSCK_MISSING,   /* a manifest names a chunk that is not stored */
	MFS_FSCK_BADMETA,   /* malformed inode, manifest or index record */
};

/* hash_hex may be "" and path NULL where they do not apply. */
typedef void (*mfs_fsck_fn)(void *arg, enum mfs_fsck_problem kind, const char *hash_hex,
			    const char *path);

struct mfs_fsck_result {
	uint64_t chunks_checked, files_checked, bytes_checked;
	uint64_t corrupt, missing, badmeta;
};

/*
 * Reads back every stored chunk (checksum, decode, SHA-256 of the bytes
 * against the key) and checks that every file's manifest and chunks exist.
 * Reports each problem through fn: a corrupt chunk once per file that uses
 * it (or once with no path); res->corrupt counts distinct corrupt chunks.  Returns 0 when the walk completed
 * (problems or not), or an error that stopped it.
 */
int mfs_fsck(struct mfs_ns *ns, mfs_fsck_fn fn, void *arg, struct mfs_fsck_result *res);

const char *mfs_fsck_problem_name(enum mfs_fsck_problem kind);

#endif
