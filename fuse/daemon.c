/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon setup and teardown around fuse_session_loop_mt().  The store is
 * opened before mounting, so a locked or broken store fails the mount
 * command instead of leaving a mount that answers EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fdlimit.h"
#include "fs_internal.h"
#include "mountpoint.h"
#include "wedged.h"
#include "fuse/admin/control.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/ingest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "daemon"

int mfs_set_readahead(const char *mountpoint, unsigned kb)
{
	struct stat st;
	char path[128], val[32];
	int fd, n, rc = 0;

	if (stat(mountpoint, &st))
		return -errno;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = snprintf(val, sizeof(val), "%u", kb);
	if (write(fd, val, n) != n)
		rc = -errno;
	close(fd);
	return rc;
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char *p = strdup(dir), *s;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;

		*s = 0;
		if (mkdir(p, mode) && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

static char *join(const char *a, const char *b)
{
	char *s;

	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

/* staging_mem_mb, or by default an eighth of RAM (at most 4 GiB). */
static uint64_t staging_budget(const struct mfs_config *cfg)
{
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE), b = ram / 8;

	if (cfg->staging_mem_mb >= 0)
		return (uint64_t)cfg->staging_mem_mb << 20;
	return b < (4ull << 30) ? b : 4ull << 30;
}

static void *readahead_thread(void *arg)
{
	struct mfs_config *cfg = arg;
	int rc = mfs_set_readahead(cfg->mountpoint, cfg->readahead_kb);

	if (rc)
		log_warn("cannot set read_ahead_kb=%u: %s", cfg->readahead_kb, strerror(-rc));
	return NULL;
}

static void signal_ready(int *ready_fd, unsigned char code)
{
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &code, 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(*ready_fd);
	*ready_fd = -1;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* fuse_session_new() takes mount options as command-line arguments. */
static int session_args(struct mfs_config *cfg, struct fuse_args *args)
{
	char opts[512];

	snprintf(opts, sizeof(opts), "fsname=%s,subtype=modelfs,default_permissions%s%s",
		 cfg->source ? cfg->source : "modelfs", cfg->allow_other ? ",allow_other" : "",
		 cfg->ro ? ",ro" : "");
	if (fuse_opt_add_arg(args, "mount.modelfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts))
		return -ENOMEM;
	if (cfg->debug && fuse_opt_add_arg(args, "-d"))
		return -ENOMEM;
	return 0;
}

static int peered(const struct mfs_config *cfg)
{
	return cfg->listen || cfg->npeers;
}

static int start_replica(struct mfs_fs *fs)
{
	const struct mfs_config *cfg = fs->cfg;
	char *cache_dir = join(cfg->data_dir, "cache");
	struct mfs_replica_config rc = {
		.listen = cfg->listen,
		.advertise = cfg->advertise,
		.peers = cfg->peers,
		.npeers = cfg->npeers,
		.curve_key = cfg->curve_key,
		.authorized_keys = cfg->authorized_keys,
		.insecure = cfg->insecure,
		.heartbeat_ms = cfg->heartbeat_ms,
		.peer_timeout_ms = cfg->peer_timeout_ms,
		.grace_s = cfg->grace_s,
		.disk_cache_mb = cfg->disk_cache_mb,
		.cache_dir = cache_dir,
		.data_dir = cfg->data_dir,
		.fetch_threads = cfg->fetch_threads,
		.snapshot_lag_ops = cfg->snapshot_lag_ops,
		.snapshot_throttle_ms = cfg->snapshot_throttle_ms,
		/* recode=2 leaves the queue to tests: raw records go out raw. */
		.recode_served = cfg->recode != 2,
		.on_change = fs_remote_change,
		.on_change_arg = fs,
	};
	int err = cache_dir ? mfs_replica_start(&rc, fs->ns, fs->cache, &fs->replica) : -ENOMEM;

	free(cache_dir);
	if (err)
		log_error("cannot start the peer service: %s", mfs_strerror(err));
	return err;
}

/* The metrics file (fs_metrics.c), if asked for, and the gc timer: a node runs on without them. */
static void start_timers(struct mfs_fs *fs)
{
	int rc = fs_metrics_start(fs, &fs->metrics);

	if (rc)
		log_warn("no metrics file: %s", strerror(-rc));
	/* The gc timer too: a node runs on without it (gc on request still works). */
	if ((rc = fs_gc_start(fs, &fs->gc)))
		log_warn("no gc timer: %s", strerror(-rc));
	mfs_ingest_defer_encode(fs->cfg->recode != 0);
	/* Without the pass, deferred chunks stay raw (readable) until a mount that runs it. */
	if ((rc = fs_recode_start(fs, &fs->recode)))
		log_warn("no recode pass: %s", strerror(-rc));
	/* Without the timer, every namespace change is synced before it returns. */
	if ((rc = fs_sync_start(fs, &fs->sync)))
		log_warn("namespace changes synced one by one: %s", strerror(-rc));
}

static void write_pid(const char *path)
{
	FILE *pf = fopen(path, "we");

	if (pf) {
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}
}

/* The signals that stop a node: libfuse's handlers take these three. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/*
 * Blocked from the start, in this thread and so in every thread it makes
 * (RocksDB's, the replica's, the timers'), and taken only where they are
 * acted on: sigwait in serve_only, the FUSE loop's thread in serve_mount.
 * A signal sent to a stopped process (SIGSTOP, a frozen cgroup) goes to
 * whichever thread runs first at SIGCONT; libfuse's handler, run in any
 * other thread, only set a flag the loop saw at its next request, and the
 * node served on (t0010).  Blocked, a stop signal before the handlers are
 * in place also waits for them instead of killing the node mid-open.
 */
static void stop_signals_mask(int how)
{
	sigset_t set;

	stop_signals(&set);
	pthread_sigmask(how, &set, NULL);
}

/*
 * A storage-only peer: the store, the peer service and the control
 * endpoint, no mount.  Runs until SIGTERM or SIGINT.
 */
static int serve_only(struct mfs_fs *fs, const char *pid_path, int *ready_fd)
{
	sigset_t set;
	int sig;

	stop_signals(&set);
	if (mfs_control_start(fs, fs->control_path, &fs->control))
		log_warn("no control endpoint: modelfs-admin will not reach this node");
	start_timers(fs);
	write_pid(pid_path);
	log_info("serving %s as a storage peer (node " MFS_NODE_FMT ")", fs->cfg->data_dir,
		 MFS_NODE_ARG(mfs_ns_node_id(fs->ns)));
	signal_ready(ready_fd, 0);
	if (!fs->cfg->foreground) {
		detach_stdio();
		mfs_log_set_stderr_level(-1);
		mfs_log_stderr_to_file();
	}
	sigwait(&set, &sig);
	log_info("signal %d: stopping the storage peer", sig);
	return MFS_EXIT_OK;
}

/* A node's parts, from opening the store to unmounting. */
struct daemon {
	struct mfs_fs fs;
	struct fuse_args args;
	struct fuse_loop_config *loop;
	char *db_dir, *pid_path, *log_path;
	int mounted;
	int have_conn;  /* conn is the mount's FUSE connection */
	unsigned conn;
};

/*
 * Opens the store and what serves it (log, namespace, cache, inode table,
 * peers): 0, or the exit code.
 */
static int open_node(struct daemon *d, struct mfs_config *cfg)
{
	struct mfs_fs *fs = &d->fs;
	enum mfs_log_level level;
	int rc;

	if ((rc = mkdir_p(cfg->data_dir, 0700))) {
		fprintf(stderr, "mount.modelfs: cannot create %s: %s\n", cfg->data_dir, strerror(-rc));
		return MFS_EXIT_MOUNT_FAILED;
	}
	d->db_dir = join(cfg->data_dir, "db");
	fs->staging_dir = join(cfg->data_dir, "staging");
	fs->control_path = join(cfg->data_dir, "control.sock");
	d->pid_path = join(cfg->data_dir, "modelfs.pid");
	d->log_path = cfg->log_file ? strdup(cfg->log_file) : join(cfg->data_dir, "modelfs.log");
	if (!d->db_dir || !fs->staging_dir || !fs->control_path || !d->pid_path || !d->log_path)
		return MFS_EXIT_SYSTEM;
	/* Before the store opens its packs (fdlimit.c). */
	fdlimit_raise();
	/* Until we own the store, its log file belongs to whoever does. */
	level = cfg->debug ? MFS_LOG_DEBUG : MFS_LOG_INFO;
	mfs_log_open(NULL, cfg->foreground ? (int)level : MFS_LOG_WARN, level);
	mkdir(fs->staging_dir, 0700);
	staging_clear_dir(fs->staging_dir);

	/*
	 * umount returns before the old daemon has closed the store; give a
	 * node that is shutting down a few seconds to let go of the lock.
	 */
	for (int tries = 0; (rc = mfs_store_open(d->db_dir, &fs->db)) == -EBUSY && tries < 50; tries++)
		usleep(100 * 1000);
	if (rc == -EBUSY) {
		log_error("store %s is in use by another modelfs daemon", cfg->data_dir);
		return MFS_EXIT_MOUNT_FAILED;
	}
	if (!rc && mfs_log_open(d->log_path, cfg->foreground ? (int)level : MFS_LOG_WARN, level))
		fprintf(stderr, "mount.modelfs: cannot open log %s: %s\n", d->log_path, strerror(errno));
	mfs_log_catch_fatal();
	fdlimit_report();
	if (rc || (rc = mfs_ns_open(fs->db, &fs->ns))) {
		log_error("cannot open store %s: %s", cfg->data_dir, mfs_strerror(rc));
		return MFS_EXIT_MOUNT_FAILED;
	}
	fs->staging_mem_limit = staging_budget(cfg);
	/* What status reports as the effective option, whatever the default was. */
	cfg->staging_mem_mb = (long)(fs->staging_mem_limit >> 20);
	clock_gettime(CLOCK_MONOTONIC, &fs->started);
	/* Prefetch threads fetch from peers too: as many as fetches in flight. */
	if (mfs_cache_new(fs->db, cfg->cache_mb << 20, peered(cfg) ? cfg->fetch_threads : 2,
			  &fs->cache) || itable_init(&fs->itable) || fs_locks_new(fs))
		return MFS_EXIT_SYSTEM;
	if (peered(cfg) && (rc = start_replica(fs)))
		return rc == -EINVAL ? MFS_EXIT_USAGE : MFS_EXIT_MOUNT_FAILED;
	return 0;
}

/* Mounts and serves requests until unmounted: the exit code. */
static int serve_mount(struct daemon *d, struct mfs_config *cfg, int *ready_fd)
{
	struct mfs_fs *fs = &d->fs;
	int rc;

	/* The kernel knows the root without a lookup: pin its node. */
	if (!itable_get(fs, MFS_ROOT_INO, NULL, 1, 0, &rc)) {
		log_error("cannot read the root directory: %s", mfs_strerror(rc));
		return MFS_EXIT_MOUNT_FAILED;
	}
	if (session_args(cfg, &d->args) ||
	    !(fs->se = fuse_session_new(&d->args, &mfs_fs_ops, sizeof(mfs_fs_ops), fs))) {
		log_error("cannot create the FUSE session");
		return MFS_EXIT_MOUNT_FAILED;
	}
	if (fuse_session_mount(fs->se, cfg->mountpoint)) {
		log_error("cannot mount on %s", cfg->mountpoint);
		return MFS_EXIT_MOUNT_FAILED;
	}
	d->mounted = 1;
	if (mfs_control_start(fs, fs->control_path, &fs->control))
		log_warn("no control endpoint: modelfs-admin will not reach this node");
	start_timers(fs);
	/* Without /proc or on an odd mount there is no number: nothing to abort later. */
	if ((d->have_conn = !mfs_mountpoint_conn(cfg->mountpoint, &d->conn)))
		mfs_wedged_note(cfg->data_dir, d->conn);
	write_pid(d->pid_path);
	if (fuse_set_signal_handlers(fs->se))
		return MFS_EXIT_SYSTEM;
	log_info("mounted %s on %s (node " MFS_NODE_FMT ")", cfg->data_dir, cfg->mountpoint,
		 MFS_NODE_ARG(mfs_ns_node_id(fs->ns)));
	signal_ready(ready_fd, 0);
	if (!cfg->foreground) {
		detach_stdio();
		mfs_log_set_stderr_level(-1);
		mfs_log_stderr_to_file(); /* library messages: the log file */
	} else if (cfg->readahead_kb) {
		pthread_t t;

		if (!pthread_create(&t, NULL, readahead_thread, cfg))
			pthread_detach(t);
	}
	d->loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(d->loop, cfg->threads);
	fuse_loop_cfg_set_idle_threads(d->loop, cfg->threads / 2);
	/* From here this thread alone takes a stop signal (stop_signals_mask). */
	stop_signals_mask(SIG_UNBLOCK);
	rc = fuse_session_loop_mt(fs->se, d->loop);
	/* A second SIGTERM while the node closes waits for the exit, unhandled. */
	stop_signals_mask(SIG_BLOCK);
	fuse_remove_signal_handlers(fs->se);
	log_info("unmounting %s", cfg->mountpoint);
	return rc < 0 ? MFS_EXIT_SYSTEM : MFS_EXIT_OK;
}

/* Stops and frees what open_node and serve_mount started, in reverse. */
static void close_node(struct daemon *d, struct mfs_config *cfg)
{
	struct mfs_fs *fs = &d->fs;

	if (d->loop)
		fuse_loop_cfg_destroy(d->loop);
	/* No request is answered from here on: none may keep a thread we join in the kernel. */
	if (d->mounted && d->have_conn)
		mfs_wedged_loop_ended(cfg->mountpoint, d->conn);
	fs_recode_stop(fs->recode);
	fs_sync_stop(fs->sync);
	fs_gc_stop(fs->gc);
	fs_metrics_stop(fs->metrics);
	mfs_control_stop(fs->control);
	/* Before the session goes: the replica's threads notify the kernel through it. */
	mfs_replica_stop(fs->replica);
	if (d->mounted)
		fuse_session_unmount(fs->se);
	if (fs->se)
		fuse_session_destroy(fs->se);
	fuse_opt_free_args(&d->args);
	if (fs->cache)
		mfs_cache_free(fs->cache);
	if (fs->itable.buckets)
		itable_release(fs);
	fs_locks_free(fs);
	free(fs->heirs);
	mfs_ns_close(fs->ns);
	mfs_db_close(fs->db);
	if (d->pid_path && (d->mounted || cfg->serve))
		unlink(d->pid_path);
	if (d->mounted)
		mfs_wedged_forget(cfg->data_dir);
	free(d->db_dir);
	free(fs->staging_dir);
	free(fs->control_path);
	free(d->pid_path);
	free(d->log_path);
	mfs_log_close();
}

/*
 * Every chunk a load brings in is a fresh block of about 1 MiB: RocksDB
 * copies each blob it reads into a new buffer (BlobFileReader::GetBlob),
 * which the chunk cache keeps until it evicts it.  With glibc's defaults, each of the
 * daemon's threads allocates in an arena of its own (up to 8 per core), and
 * a block freed in one is not reused by a load in another, which grows or
 * trims its heap instead: every load then faults its pages in anew, and that
 * copy into cold pages was most of the daemon's CPU on a cold read.
 * Measured on a cold read of 1 GiB (notes on issue 10, cache_mb=64): 40,600
 * page faults per GiB and 173 MiB peak RSS with the defaults; 29,700 and
 * 130 MiB with one arena per core (at least 2), fixed thresholds and a
 * trim threshold above the largest chunk.  Set before the store opens
 * (RocksDB starts its threads there), and process-wide: the daemon opens one store.
 *
 * One arena, not one per core: chunk buffers (256 KiB to 4 MiB, aligned
 * or not, often freed by another thread than the one that made them)
 * fragment a heap, and each arena kept its own fragments resident, for
 * reuse by its own threads only.  A cold read of 10 GiB ended with ~90 MiB
 * in use and ~250 MiB free but resident in two arenas (peak RSS 306-355
 * MiB, 38,000-51,000 page faults); with one arena it peaked at 279 MiB
 * with 1,262 faults (its heap is huge pages, mount_main.c), and 10 GiB
 * written then read peaked at 278 MiB instead of 342-352 (issue 10,
 * memory row: <= 300 MiB).  The arena lock costs little: chunk-sized
 * buffers are a few thousand calls per GiB, and small allocations come
 * from each thread's tcache without it.
 */
static void tune_malloc(void)
{
	mallopt(M_ARENA_MAX, 1);
	/* Chunks (<= 4 MiB) come from the heap, not mmap: reused, not refaulted. */
	mallopt(M_MMAP_THRESHOLD, 4 * MFS_CHUNK_MAX);
	mallopt(M_TRIM_THRESHOLD, 16 * MFS_CHUNK_MAX);
}

int mfs_daemon_run(struct mfs_config *cfg, int ready_fd)
{
	struct daemon d = {
		.fs = { .cfg = cfg, .timeout = 3600.0, .views_lock = PTHREAD_MUTEX_INITIALIZER,
			.writer_open_locks = { [0 ... WRITER_OPEN_STRIPES - 1] =
						       PTHREAD_MUTEX_INITIALIZER },
			.noted_lock = PTHREAD_MUTEX_INITIALIZER,
			.heirs_lock = PTHREAD_MUTEX_INITIALIZER,
			.stats = MFS_STATS_CACHE_INIT },
		.args = FUSE_ARGS_INIT(0, NULL),
	};
	int code;

	/*
	 * An admin that goes away mid-report (Ctrl-C on a long fsck) must cost
	 * a failed write on its socket, not the node: no SIGPIPE, ever.
	 */
	signal(SIGPIPE, SIG_IGN);
	stop_signals_mask(SIG_BLOCK);
	tune_malloc();
	if (getenv("MODELFS_TEST_LOOKUP_DELAY_MS")) {
		d.fs.lookup_delay_ms = (unsigned)atoi(getenv("MODELFS_TEST_LOOKUP_DELAY_MS"));
		log_warn("MODELFS_TEST_LOOKUP_DELAY_MS=%u: lookups pause (test only)",
			 d.fs.lookup_delay_ms);
	}
	if (getenv("MODELFS_TEST_RELEASE_DELAY_MS")) {
		d.fs.release_delay_ms = (unsigned)atoi(getenv("MODELFS_TEST_RELEASE_DELAY_MS"));
		log_warn("MODELFS_TEST_RELEASE_DELAY_MS=%u: writers' releases pause (test only)",
			 d.fs.release_delay_ms);
	}
	if (getenv("MODELFS_TEST_STAGING_EIO_AT")) {
		d.fs.staging_eio_at = strtoull(getenv("MODELFS_TEST_STAGING_EIO_AT"), NULL, 10) + 1;
		log_warn("MODELFS_TEST_STAGING_EIO_AT=%llu: a staged write there fails (test only)",
			 (unsigned long long)d.fs.staging_eio_at - 1);
	}
	if ((d.fs.commit_hold = getenv("MODELFS_TEST_COMMIT_HOLD")))
		log_warn("MODELFS_TEST_COMMIT_HOLD=%s: commits wait for it (test only)",
			 d.fs.commit_hold);
	if ((d.fs.read_hold = getenv("MODELFS_TEST_READ_HOLD")))
		log_warn("MODELFS_TEST_READ_HOLD=%s: reads wait for it (test only)", d.fs.read_hold);
	if (!(code = open_node(&d, cfg)))
		code = cfg->serve ? serve_only(&d.fs, d.pid_path, &ready_fd)
				  : serve_mount(&d, cfg, &ready_fd);
	signal_ready(&ready_fd, code ? code : MFS_EXIT_MOUNT_FAILED);
	close_node(&d, cfg);
	return code;
}
