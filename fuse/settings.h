/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon configuration: built-in defaults, then the config file, then -o
 * options (the same keys in both; man/modelfs.conf.5 lists them).
 */
#ifndef MFS_SETTINGS_H
#define MFS_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#include "store/maint/copies.h"

/* A node and its peers fit placement's tables (256 node ids) and the copy checks'. */
#define MFS_MAX_PEERS (MFS_MAX_NODES - 1)

struct mfs_config {
	char *source;          /* informational; mount(8) passes one */
	char *mountpoint;
	char *data_dir;        /* store directory */
	char *config_file;
	char *log_file;        /* default DATA/modelfs.log */
	size_t cache_mb;       /* chunk cache */
	unsigned readahead_kb; /* kernel readahead set on the mount; 0 keeps the kernel's */
	int threads;           /* FUSE worker threads */
	int ingest_threads;    /* encoder threads per commit */
	int write_behind_mb;   /* files this large start committing while written; 0 off */
	int prefetch_chunks;   /* chunks fetched ahead of a sequential reader */
	long staging_mem_mb;   /* memory for files being written; -1: RAM/8, at most 4 GiB */
	int delta_auto;        /* a model file's base found by its tensor layout (fs_delta.c) */
	int ro, allow_other, foreground, debug;
	/* peers (replica/replica.h) */
	char *listen;          /* "tcp://host:port"; NULL: no peer service */
	char *advertise;       /* where peers reach this node, if not listen (NULL) */
	char **peers;          /* seeds, "tcp://host:port" each: members learn the rest */
	int npeers;
	char *curve_key, *authorized_keys;
	int insecure;          /* serve a non-loopback listen without CURVE (warned) */
	int heartbeat_ms, peer_timeout_ms, grace_s, fetch_threads, prefetch_open;
	int snapshot_lag_ops;        /* a puller this far behind gets a snapshot */
	int snapshot_throttle_ms;    /* tests only: slows serving snapshots */
	size_t disk_cache_mb;
	int serve;             /* storage-only peer: no mountpoint */
	char *metrics_file;    /* Prometheus text file, rewritten periodically; NULL: none */
	int metrics_interval_s;
	int gc_interval_s;     /* gc runs (with apply) this often; 0: only when asked */
	int gc_grace_s;        /* the timer's grace (store/gc.h), for both kinds of garbage */
	int meta_sync_ms;      /* namespace changes synced within this (fs_sync.c); 0: each at once */
	/*
	 * Codec of big files' chunks (store/maint/recode.h): 0 encoded at
	 * the commit; 1 stored raw, encoded by a background pass; 2 stored
	 * raw and queued, no pass (tests: the queue waits for a mount with 1).
	 */
	int recode;
};

/* Fills in defaults (the data dir depends on whether we run as root). */
int mfs_config_init(struct mfs_config *c);
void mfs_config_release(struct mfs_config *c);

/*
 * Applies a comma-separated option list.  Standard mount(8) options that
 * mean nothing here are accepted and ignored.  On error returns -EINVAL and
 * writes a message to err.
 */
int mfs_config_apply_opts(struct mfs_config *c, const char *opts, char *err, size_t errlen);

/*
 * The effective options as one -o list (key=value,...; flags by name), for
 * status: what the node runs with after defaults, the file and -o.
 */
void mfs_config_format(const struct mfs_config *c, FILE *f);

/* Reads `key = value` lines (# comments).  -errno or -EINVAL with err set. */
int mfs_config_load_file(struct mfs_config *c, const char *path, char *err, size_t errlen);

/*
 * 1 with the reason in err when the peer service would listen on a network
 * (not loopback) in clear text without the explicit insecure option.
 */
int mfs_config_insecure_refused(const struct mfs_config *c, char *err, size_t errlen);

#endif
