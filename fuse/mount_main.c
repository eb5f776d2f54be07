/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount.modelfs: mounts a modelfs node.  Works from the shell, from
 * `mount -t modelfs SOURCE DIR -o ...` and from fstab (mount(8) runs
 * /sbin/mount.modelfs SOURCE DIR [-sfnv] -o OPTIONS).  Without -f it forks a
 * daemon and returns once the mount is live, with mount(8)'s exit codes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"     /* autoconf: PACKAGE_VERSION */
#include "daemon.h"
#include "mountpoint.h"
#include "settings.h"
#include "wedged.h"

#define MFS_DEFAULT_CONFIG "/etc/modelfs/modelfs.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mount.modelfs [SOURCE] MOUNTPOINT [-f] [-o OPTION[,OPTION...]]\n"
		"       mount.modelfs --serve [-f] -o listen=HOST:PORT[,OPTION...]\n"
		"\n"
		"Mounts a modelfs node.  With no options: a single node whose store is in\n"
		"/var/lib/modelfs (root) or ~/.local/share/modelfs.\n"
		"\n"
		"  -f                  stay in the foreground\n"
		"  -o data=DIR         store directory\n"
		"  -o config=FILE      read options from FILE (key = value lines)\n"
		"  -o cache_mb=N       chunk cache size (default 64)\n"
		"  -o readahead_kb=N   kernel readahead for the mount (default 4096)\n"
		"  -o threads=N        FUSE worker threads (default 32)\n"
		"  -o ro, allow_other, debug, log=FILE, ingest_threads=N, prefetch_chunks=N,\n     staging_mem_mb=N, write_behind_mb=N, recode=0|1|2,\n     meta_sync_ms=N\n"
		"  -o listen=HOST:PORT  serve peers here;  -o peer=HOST:PORT  a seed: any member\n"
		"     of the cluster (repeat for more seeds)\n"
		"  -o curve_key=FILE,authorized_keys=FILE  encrypt and authenticate peers\n"
		"     (required when listen is not loopback, unless -o insecure)\n"
		"  -o heartbeat_ms=N, peer_timeout_ms=N, grace_s=N, disk_cache_mb=N,\n"
		"     fetch_threads=N, prefetch_open\n"
		"  --serve             a storage-only peer: no mountpoint\n"
		"  -h, --help          this text;  -V, --version  the version\n"
		"\n"
		"See mount.modelfs(8) and modelfs.conf(5).\n");
}

static int fail_usage(const char *msg)
{
	fprintf(stderr, "mount.modelfs: %s\n", msg);
	usage(stderr);
	return MFS_EXIT_USAGE;
}

/* Parses argv into cfg and the -o list; returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, struct mfs_config *cfg, char **opts)
{
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return MFS_EXIT_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("mount.modelfs %s\n", PACKAGE_VERSION);
			return MFS_EXIT_OK;
		} else if (!strcmp(a, "--serve")) {
			cfg->serve = 1;
		} else if (!strcmp(a, "-f")) {
			cfg->foreground = 1;
		} else if (!strcmp(a, "-s") || !strcmp(a, "-n") || !strcmp(a, "-v")) {
			/* mount(8): sloppy, no mtab, verbose: nothing to do */
		} else if (!strcmp(a, "-o")) {
			char *joined;

			if (++i >= argc)
				return fail_usage("-o needs an argument");
			if (asprintf(&joined, "%s%s%s", *opts ? *opts : "", *opts ? "," : "", argv[i]) < 0)
				return MFS_EXIT_SYSTEM;
			free(*opts);
			*opts = joined;
		} else if (a[0] == '-' && a[1]) {
			char msg[128];

			snprintf(msg, sizeof(msg), "unknown flag '%s'", a);
			return fail_usage(msg);
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return fail_usage("too many arguments");
		}
	}
	if (cfg->serve) {
		if (npos)
			return fail_usage("--serve takes no MOUNTPOINT");
		return -1;
	}
	if (npos == 0)
		return fail_usage("missing MOUNTPOINT");
	if (npos == 2 && !(cfg->source = strdup(pos[0])))
		return MFS_EXIT_SYSTEM;
	if (!(cfg->mountpoint = strdup(pos[npos - 1])))
		return MFS_EXIT_SYSTEM;
	return -1;
}

/* config= is itself an option: find the file, load it, then let -o win. */
static int load_config(struct mfs_config *cfg, const char *opts)
{
	char err[512] = "";
	char *file = NULL;
	int rc = 0;

	if (opts && (rc = mfs_config_apply_opts(cfg, opts, err, sizeof(err))))
		goto bad;
	if (cfg->config_file)
		file = strdup(cfg->config_file);
	else if (!access(MFS_DEFAULT_CONFIG, R_OK))
		file = strdup(MFS_DEFAULT_CONFIG);
	if (file && (rc = mfs_config_load_file(cfg, file, err, sizeof(err))))
		goto bad;
	if (opts && (rc = mfs_config_apply_opts(cfg, opts, err, sizeof(err))))
		goto bad;
	free(file);
	return -1;
bad:
	free(file);
	return fail_usage(err);
}

/* Absolute paths: the daemon chdirs to / and fstab may pass relative ones. */
static int absolutize(char **path, int must_exist)
{
	char buf[PATH_MAX], *abs;

	if (must_exist) {
		if (!realpath(*path, buf))
			return -errno;
		abs = strdup(buf);
	} else if ((*path)[0] == '/') {
		return 0;
	} else {
		if (!getcwd(buf, sizeof(buf)) || asprintf(&abs, "%s/%s", buf, *path) < 0)
			return -errno;
	}
	if (!abs)
		return -ENOMEM;
	free(*path);
	*path = abs;
	return 0;
}

/* Peer options that can be checked before forking: exit status 1 for them. */
static int check_peer_options(struct mfs_config *cfg)
{
	char **files[] = { &cfg->curve_key, &cfg->authorized_keys };
	char why[512];

	if (cfg->serve && !cfg->listen)
		return fail_usage("--serve needs -o listen=HOST:PORT");
	if (cfg->curve_key && !cfg->authorized_keys)
		return fail_usage("curve_key needs authorized_keys (the peers allowed in)");
	if (cfg->authorized_keys && !cfg->curve_key)
		return fail_usage("authorized_keys needs curve_key (this node's secret key)");
	if (mfs_config_insecure_refused(cfg, why, sizeof(why)))
		return fail_usage(why);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!*files[i])
			continue;
		if (absolutize(files[i], 1)) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s: %s", *files[i], strerror(errno));
			return fail_usage(msg);
		}
	}
	return -1;
}

/*
 * The mountpoint: absolute, cleared of a dead modelfs mount, not a live one,
 * a directory.  Returns an exit status, or -1 to go on.
 */
static int check_mountpoint(struct mfs_config *cfg)
{
	struct stat st;
	int rc = absolutize(&cfg->mountpoint, 1);

	/* A dead mount cannot be resolved; /proc/self/mountinfo still names it. */
	if (rc == -ENOTCONN)
		rc = absolutize(&cfg->mountpoint, 0);
	if (!rc && mfs_mountpoint_prepare(cfg->mountpoint))
		return MFS_EXIT_MOUNT_FAILED;
	if (!rc && stat(cfg->mountpoint, &st))
		rc = -errno;
	if (rc || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mount.modelfs: mountpoint %s: %s\n", cfg->mountpoint,
			rc ? strerror(-rc) : "not a directory");
		return MFS_EXIT_MOUNT_FAILED;
	}
	return -1;
}

/*
 * Re-executes this program once with glibc's malloc set to back its heaps
 * with transparent huge pages (madvise mode).  A node streaming chunks
 * allocates and frees a few MiB per chunk (received records, decoded
 * bytes, memtables); with 4 KiB pages each new page is a fault, and in a
 * virtual machine a fault costs ~10 us: a cold read from a peer spent
 * ~1.2 of ~5.6 CPU-s/GiB there (issue 10; 2 MiB pages cut the faults and
 * the kernel's receive copy into fresh pages).  The price: ~50 MiB more
 * peak RSS.  MFS_MALLOC_THP=0 or a GLIBC_TUNABLES that already names
 * glibc.malloc.hugetlb keeps the environment as it is.
 */
static void malloc_thp(char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES"), *off = getenv("MFS_MALLOC_THP");
	char self[PATH_MAX], *v;
	ssize_t n;

	if ((off && !strcmp(off, "0")) || (t && strstr(t, "glibc.malloc.hugetlb")))
		return;
	/* The real path, not /proc/self/exe: the process keeps its name (ps, pgrep). */
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return;
	self[n] = 0;
	if (asprintf(&v, "%s%sglibc.malloc.hugetlb=1", t ? t : "", t && *t ? ":" : "") < 0)
		return;
	if (!setenv("GLIBC_TUNABLES", v, 1))
		execv(self, argv);
	/* No exec: go on with 4 KiB pages. */
	free(v);
}

int main(int argc, char **argv)
{
	struct mfs_config cfg;
	char *opts = NULL;
	int code, pfd[2];
	unsigned char status;
	pid_t pid;

	malloc_thp(argv);
	if (mfs_config_init(&cfg))
		return MFS_EXIT_SYSTEM;
	if ((code = parse_args(argc, argv, &cfg, &opts)) >= 0 || (code = load_config(&cfg, opts)) >= 0)
		goto out;
	if ((code = check_peer_options(&cfg)) >= 0)
		goto out;
	/* Before the mountpoint: a stat of a wedged mount would hang. */
	if (!cfg.serve)
		mfs_wedged_recover(cfg.data_dir);
	if (!cfg.serve && (code = check_mountpoint(&cfg)) >= 0)
		goto out;
	if (absolutize(&cfg.data_dir, 0) || (cfg.metrics_file && absolutize(&cfg.metrics_file, 0))) {
		code = MFS_EXIT_SYSTEM;
		goto out;
	}
	if (cfg.foreground) {
		code = mfs_daemon_run(&cfg, -1);
		goto out;
	}
	if (pipe(pfd) || (pid = fork()) < 0) {
		perror("mount.modelfs");
		code = MFS_EXIT_SYSTEM;
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		if (chdir("/")) {
			/* the store and mountpoint are absolute; nothing depends on cwd */
		}
		code = mfs_daemon_run(&cfg, pfd[1]);
		goto out;
	}
	close(pfd[1]);
	if (read(pfd[0], &status, 1) != 1)
		status = MFS_EXIT_MOUNT_FAILED; /* the daemon died before saying */
	close(pfd[0]);
	code = status;
	if (code == MFS_EXIT_OK && !cfg.serve && cfg.readahead_kb && geteuid() == 0) {
		int rc = mfs_set_readahead(cfg.mountpoint, cfg.readahead_kb);

		if (rc)
			fprintf(stderr, "mount.modelfs: warning: read_ahead_kb not set: %s\n",
				strerror(-rc));
	}
out:
	free(opts);
	mfs_config_release(&cfg);
	return code;
}
