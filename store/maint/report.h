/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole-store reports: statistics (modelfs-admin status) and the
 * consistency check (modelfs-admin fsck).  Both work on a live store (the
 * daemon runs them for its control endpoint) or an offline one.
 */
#ifndef MFS_REPORT_H
#define MFS_REPORT_H

#include <pthread.h>
#include <stdint.h>

#include "store/base/node.h"

#include "copies.h"
#include "store/chunk/codec.h"

struct mfs_db;
struct mfs_ns;

struct mfs_store_stats {
	uint64_t files, dirs, symlinks;
	uint64_t logical_bytes;     /* sum of file sizes */
	uint64_t hole_bytes;        /* of those, the bytes of holes (manifest.h): no chunk */
	uint64_t chunks;            /* distinct chunks the files reference */
	uint64_t chunk_bytes;       /* their raw bytes */
	uint64_t stored_bytes;      /* their record bytes (what disk holds for them) */
	uint64_t codec_chunks[MFS_CODEC_COUNT];
	uint64_t orphan_chunks;     /* stored, referenced by no file (old versions; gc) */
	uint64_t orphan_bytes;      /* their record bytes */
	uint64_t disk_bytes;        /* RocksDB files, all column families */
	double dedup_ratio;         /* (logical - holes) / chunk_bytes */
	double compression_ratio;   /* chunk_bytes / stored_bytes */
};

int mfs_store_stats(struct mfs_db *db, struct mfs_store_stats *st);

/*
 * The totals of mfs_store_stats kept between calls: a walk reads every
 * inode, manifest and chunk summary (about 20-35 us a file on a loaded
 * 2-core machine: seconds for a large repository), and `status` and the
 * metrics file ask every few seconds.  The last walk's totals are reused
 * while no write has touched the families they come from; disk_bytes is
 * read anew every time.  One walk at a time: callers that arrive during a
 * walk wait for it and share its result.
 */
struct mfs_stats_cache {
	pthread_mutex_t lock;
	int valid;                 /* lock */
	uint64_t changes;          /* mfs_db_changes when st was walked; lock */
	struct mfs_store_stats st; /* lock */
};
#define MFS_STATS_CACHE_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }
int mfs_store_stats_cached(struct mfs_db *db, struct mfs_stats_cache *c, struct mfs_store_stats *st);

enum mfs_fsck_problem {
	MFS_FSCK_CORRUPT,   /* a stored copy fails its checksum, decode or SHA-256 */
	MFS_FSCK_MISSING,   /* no node holds a copy (or a manifest is not stored) */
	MFS_FSCK_BADMETA,   /* malformed inode, manifest or index record */
	MFS_FSCK_UNDER,     /* fewer good stored copies than the file's factor */
	/* Notes: reported, but the tree is healthy with them. */
	MFS_FSCK_OVER,      /* more copies than the factor, on nodes that need not keep one */
	MFS_FSCK_ORPHAN,    /* stored here, used by no file (old versions: gc frees them) */
	MFS_FSCK_REPAIRED,  /* was a problem, and --repair fixed it */
	/* An entry whose directory was deleted concurrently (gc moves it to lost+found). */
	MFS_FSCK_UNREACHABLE,
};
/* The kinds a file's summary counts (not unreachable: an entry, not a chunk). */
#define MFS_FSCK_KINDS (MFS_FSCK_REPAIRED + 1)

/* 1 for the kinds that make a tree unhealthy (fsck exits 4), 0 for notes. */
int mfs_fsck_is_problem(enum mfs_fsck_problem kind);

/*
 * One finding.  hash_hex is "" and path NULL where they do not apply; detail
 * is one word without spaces ("copies=1/3,on=1a2b", "nodes=3c4d") or "-".
 * A chunk's finding is reported once per file that uses it.
 */
typedef void (*mfs_fsck_fn)(void *arg, enum mfs_fsck_problem kind, const char *hash_hex,
			    const char *detail, const char *path);

/*
 * One file with findings, once at the end (in path order): the report a
 * person reads.  count[kind] is how many of its distinct chunks have a
 * finding of that kind (badmeta and missing also count an unreadable or
 * absent manifest, as 1).  good_min is the fewest good stored copies of
 * any of its chunks with a finding.  nodes: the nodes holding the copies
 * concerned (corrupt, extra, or the only good ones), ids, sorted.
 */
struct mfs_fsck_file {
	const char *path;
	unsigned repl;
	uint64_t chunks;              /* its distinct chunks */
	unsigned good_min;
	uint64_t count[MFS_FSCK_KINDS];
	const mfs_node_t *nodes;
	int nnodes;
};
typedef void (*mfs_fsck_file_fn)(void *arg, const struct mfs_fsck_file *f);

/*
 * f as the words of a `file` line (doc/format.md), without the path:
 * "REPL CHUNKS GOOD_MIN N0 .. N6 NODES", the counts in the order of enum
 * mfs_fsck_problem, NODES "id+id..." (16 hex digits each) or "-".  Into buf
 * (len >= 64); cut short at a node boundary if the list does not fit.
 */
void mfs_fsck_file_words(const struct mfs_fsck_file *f, char *buf, size_t len);

/*
 * The nodes a check covers and how to ask them (the daemon's replica
 * layer).  Without one, fsck looks at this node's store alone.
 */
struct mfs_fsck_cluster {
	int nnodes;                 /* this node is nodes[0] */
	const mfs_node_t *nodes;      /* their ids; 0 for a peer not heard from yet */
	/* States (enum mfs_copy_state) of q[0..n) on every node: st[i * nnodes + k]. */
	int (*check)(void *arg, const struct mfs_copy_query *q, size_t n, unsigned flags,
		     uint8_t *st);
	/* The nodes that own h at factor repl, best first; returns how many. */
	int (*owners)(void *arg, const struct mfs_hash *h, int repl, mfs_node_t *ids, int cap);
	void *arg;
};

struct mfs_fsck_opts {
	unsigned flags;                 /* MFS_COPY_DEEP, MFS_COPY_REPAIR (copies.h) */
	const uint64_t *roots;          /* check the files below these inodes only ... */
	size_t nroots;                  /* ... or, with none, every file and orphan chunks */
	const struct mfs_fsck_cluster *cluster;  /* NULL: this store only ... */
	int single_node;                /* ... and it is the whole cluster (judge factors) */
	int repair_wait_s;              /* --repair: how long to wait for new copies (< 0: 60 s) */
	/*
	 * Per file: file_fn (may be NULL) gets every file with findings.  The
	 * per-chunk fn gets the findings of the chunks files use only when
	 * verbose; findings no file owns (orphans) too only when verbose, bad
	 * records and manifests always.
	 */
	mfs_fsck_file_fn file_fn;
	int verbose;
	/* Called now and then: phase "check" (chunks done of total), "repair" (seconds). */
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *progress_arg;
};

struct mfs_fsck_result {
	uint64_t chunks_checked, files_checked, bytes_checked;
	/* distinct chunks (files, for badmeta) in each state at the end */
	uint64_t corrupt, missing, badmeta, under, over, orphan;
	uint64_t repaired;              /* chunks --repair fixed */
	uint64_t unreachable;           /* entries of deleted directories (whole-store check) */
	uint64_t found;                 /* problem chunks before any repair */
	uint64_t files_with_problems;   /* files with a problem finding at the end */
	uint64_t files_reported;        /* files handed to file_fn (problems or notes) */
	/*
	 * Whole-store checks: chunks stored raw on the recode queue (recode.h;
	 * not a problem: readable, encoded later), and queue entries whose
	 * chunk is gone or already encoded (not a problem: the pass drops them).
	 */
	uint64_t recode_queued, recode_stale;
};

/*
 * Checks the files' chunks on every node: each copy is read back (XXH64 of
 * the record; with MFS_COPY_DEEP decoded and re-hashed with SHA-256), and
 * counted against the file's replication factor.  With MFS_COPY_REPAIR the
 * nodes are asked to fetch what they own and lack and to replace bad copies,
 * and fsck waits (up to repair_wait_s) to report what was fixed and what
 * was not.  Returns 0 when the walk completed (problems or not), or an
 * error that stopped it.
 */
int mfs_fsck(struct mfs_ns *ns, const struct mfs_fsck_opts *o, mfs_fsck_fn fn, void *arg,
	     struct mfs_fsck_result *res);

const char *mfs_fsck_problem_name(enum mfs_fsck_problem kind);

#endif
