/* SPDX-License-Identifier: Apache-2.0 */
/* Option and config-file parsing for the daemon; see settings.h. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replica/curve.h"
#include "settings.h"

/* FHS places, whatever the install prefix: where an operator looks. */
#define MFS_ROOT_DATA_DIR "/var/lib/modelfs"

/* mount(8) and fstab options that are for mount itself, not for us. */
static const char *const ignored_opts[] = {
	"rw", "defaults", "auto", "noauto", "user", "nouser", "users", "exec", "noexec",
	"suid", "nosuid", "dev", "nodev", "_netdev", "nofail", "async", "sync", "atime",
	"noatime", "relatime", "strictatime", "nodiratime", "owner", "group", "comment",
	"default_permissions", NULL,
};

int mfs_config_init(struct mfs_config *c)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	memset(c, 0, sizeof(*c));
	/*
	 * The kernel's page cache keeps what readers read; the chunk cache
	 * only bridges a chunk's load and the reads it answers, and holds the
	 * prefetch windows (notes on issue 10: 512 MiB cost 765 MiB of peak
	 * RSS and more CPU on a cold read, from faulting fresh buffers in).
	 */
	c->cache_mb = 64;
	c->readahead_kb = 4096;
	c->threads = 32;
	c->ingest_threads = 2;
	c->write_behind_mb = 64;
	c->delta_auto = 1;
	c->prefetch_chunks = 16;
	c->heartbeat_ms = 500;
	c->peer_timeout_ms = 3000;
	c->grace_s = 600;
	c->disk_cache_mb = 10240;
	c->fetch_threads = 8;
	c->snapshot_lag_ops = 10000;
	c->staging_mem_mb = -1;
	c->metrics_interval_s = 15;
	/*
	 * gc on a timer (fs_gc.c): a run reads the small column families and
	 * asks the peers about the copies it may drop, a fraction of a second
	 * for a repository of ~100,000 chunks.  The grace (an hour) is what
	 * bounds how soon space comes back; ten minutes adds at most a sixth.
	 */
	c->gc_interval_s = 600;
	/*
	 * The encode at the commit: recode=1 takes about 1 CPU-s per GiB of
	 * FP16 weights out of a cp's commit window on two cores, but costs
	 * about 0.9 more in all on one node, 1.5 more on a writer whose peers
	 * pull as it writes (issue 10, notes s32/cpw.md): cost per byte first.
	 */
	c->recode = 0;
	c->gc_grace_s = 3600;
	/* A local filesystem's bound on unsynced metadata is seconds (ext4: 5). */
	c->meta_sync_ms = 1000;
	if (geteuid() == 0)
		n = asprintf(&c->data_dir, "%s", MFS_ROOT_DATA_DIR);
	else if (xdg && *xdg)
		n = asprintf(&c->data_dir, "%s/modelfs", xdg);
	else
		n = asprintf(&c->data_dir, "%s/.local/share/modelfs", home ? home : ".");
	return n < 0 ? -ENOMEM : 0;
}

void mfs_config_release(struct mfs_config *c)
{
	free(c->source);
	free(c->mountpoint);
	free(c->data_dir);
	free(c->config_file);
	free(c->log_file);
	free(c->listen);
	free(c->advertise);
	free(c->curve_key);
	free(c->authorized_keys);
	free(c->metrics_file);
	for (int i = 0; i < c->npeers; i++)
		free(c->peers[i]);
	free(c->peers);
	memset(c, 0, sizeof(*c));
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_num(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

/* listen= or advertise=HOST:PORT, or one more peer=HOST:PORT (the option repeats). */
static int set_endpoint(struct mfs_config *c, const char *key, const char *val, char *err,
			size_t errlen)
{
	char ep[256];
	char **grown;

	if (!val || mfs_endpoint_normalise(val, ep, sizeof(ep))) {
		snprintf(err, errlen, "option %s needs HOST:PORT (or tcp://HOST:PORT), got '%s'", key,
			 val ? val : "");
		return -EINVAL;
	}
	if (!strcmp(key, "listen"))
		return set_str(&c->listen, ep);
	if (!strcmp(key, "advertise"))
		return set_str(&c->advertise, ep);
	for (int i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i], ep))
			return 0;
	if (c->npeers >= MFS_MAX_PEERS) {
		/* Placement and the copy checks (fsck, info) size their tables for this. */
		snprintf(err, errlen, "at most %d peers", MFS_MAX_PEERS);
		return -EINVAL;
	}
	if (!(grown = realloc(c->peers, (c->npeers + 1) * sizeof(*grown))))
		return -ENOMEM;
	c->peers = grown;
	if (!(c->peers[c->npeers] = strdup(ep)))
		return -ENOMEM;
	c->npeers++;
	return 0;
}

/*
 * The options, one table per kind, at file scope so that parsing and the
 * report of effective options (mfs_config_format) cannot drift apart.
 */
#define AT(field) offsetof(struct mfs_config, field)
enum { NUM_INT, NUM_SIZE, NUM_LONG };

static const struct { const char *name; long long lo, hi; size_t at; int kind; } nums[] = {
	{ "cache_mb", 16, 1 << 20, AT(cache_mb), NUM_SIZE },
	{ "readahead_kb", 0, 1 << 20, AT(readahead_kb), NUM_INT },
	{ "threads", 1, 256, AT(threads), NUM_INT },
	{ "ingest_threads", 1, 8, AT(ingest_threads), NUM_INT },
	{ "write_behind_mb", 0, 1 << 24, AT(write_behind_mb), NUM_INT },
	{ "prefetch_chunks", 0, 64, AT(prefetch_chunks), NUM_INT },
	{ "staging_mem_mb", 0, 1 << 24, AT(staging_mem_mb), NUM_LONG },
	{ "delta_auto", 0, 1, AT(delta_auto), NUM_INT },
	{ "heartbeat_ms", 10, 60000, AT(heartbeat_ms), NUM_INT },
	{ "peer_timeout_ms", 100, 600000, AT(peer_timeout_ms), NUM_INT },
	{ "grace_s", 0, 30 * 86400, AT(grace_s), NUM_INT },
	{ "disk_cache_mb", 0, 1ll << 30, AT(disk_cache_mb), NUM_SIZE },
	{ "fetch_threads", 1, 32, AT(fetch_threads), NUM_INT },
	{ "snapshot_lag_ops", 0, 1000000000, AT(snapshot_lag_ops), NUM_INT },
	{ "snapshot_throttle_ms", 0, 10000, AT(snapshot_throttle_ms), NUM_INT },
	{ "metrics_interval_s", 1, 3600, AT(metrics_interval_s), NUM_INT },
	{ "gc_interval_s", 0, 7 * 86400, AT(gc_interval_s), NUM_INT },
	{ "gc_grace_s", 0, 30 * 86400, AT(gc_grace_s), NUM_INT },
	{ "recode", 0, 2, AT(recode), NUM_INT },
	{ "meta_sync_ms", 0, 60000, AT(meta_sync_ms), NUM_INT },
};

static const struct { const char *name; size_t at; } flags[] = {
	{ "ro", AT(ro) }, { "allow_other", AT(allow_other) },
	{ "debug", AT(debug) }, { "prefetch_open", AT(prefetch_open) },
	{ "insecure", AT(insecure) },
};

static const struct { const char *name; size_t at; } strs[] = {
	{ "data", AT(data_dir) }, { "config", AT(config_file) }, { "log", AT(log_file) },
	{ "curve_key", AT(curve_key) }, { "authorized_keys", AT(authorized_keys) },
	{ "metrics_file", AT(metrics_file) },
};

#define FIELD(c, at, type) ((type *)((char *)(c) + (at)))
#define CFIELD(c, at, type) ((const type *)((const char *)(c) + (at)))

/* Sets one key; value is NULL for flags.  -EINVAL with a message on error. */
static int set_option(struct mfs_config *c, const char *key, const char *val, char *err, size_t errlen)
{
	long long n;

	for (size_t i = 0; ignored_opts[i]; i++)
		if (!strcmp(key, ignored_opts[i]))
			return 0;
	if (!strncmp(key, "x-", 2))
		return 0;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strcmp(key, flags[i].name))
			continue;
		if (val && strcmp(val, "1") && strcmp(val, "true") && strcmp(val, "0") && strcmp(val, "false"))
			goto bad_value;
		*FIELD(c, flags[i].at, int) = !val || !strcmp(val, "1") || !strcmp(val, "true");
		return 0;
	}
	if (!strcmp(key, "listen") || !strcmp(key, "peer") || !strcmp(key, "advertise"))
		return set_endpoint(c, key, val, err, errlen);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strcmp(key, strs[i].name))
			continue;
		if (!val || !*val)
			goto bad_value;
		return set_str(FIELD(c, strs[i].at, char *), val);
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].name))
			continue;
		if (!val || parse_num(val, nums[i].lo, nums[i].hi, &n)) {
			snprintf(err, errlen, "option %s needs a number from %lld to %lld", key,
				 nums[i].lo, nums[i].hi);
			return -EINVAL;
		}
		if (nums[i].kind == NUM_SIZE)
			*FIELD(c, nums[i].at, size_t) = n;
		else if (nums[i].kind == NUM_LONG)
			*FIELD(c, nums[i].at, long) = n;
		else
			*FIELD(c, nums[i].at, int) = (int)n;
		return 0;
	}
	snprintf(err, errlen, "unknown option '%s'", key);
	return -EINVAL;
bad_value:
	snprintf(err, errlen, "bad value for option %s", key);
	return -EINVAL;
}

void mfs_config_format(const struct mfs_config *c, FILE *f)
{
	const char *sep = "";

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *v = *CFIELD(c, strs[i].at, char *);

		if (v) {
			fprintf(f, "%s%s=%s", sep, strs[i].name, v);
			sep = ",";
		}
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		long long v = nums[i].kind == NUM_SIZE ? (long long)*CFIELD(c, nums[i].at, size_t) :
			      nums[i].kind == NUM_LONG ? *CFIELD(c, nums[i].at, long) :
			      *CFIELD(c, nums[i].at, int);

		fprintf(f, "%s%s=%lld", sep, nums[i].name, v);
		sep = ",";
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (*CFIELD(c, flags[i].at, int))
			fprintf(f, ",%s", flags[i].name);
	if (c->listen)
		fprintf(f, ",listen=%s", c->listen);
	if (c->advertise)
		fprintf(f, ",advertise=%s", c->advertise);
	for (int i = 0; i < c->npeers; i++)
		fprintf(f, ",peer=%s", c->peers[i]);
}

int mfs_config_apply_opts(struct mfs_config *c, const char *opts, char *err, size_t errlen)
{
	char *copy = strdup(opts), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = 0;
		rc = set_option(c, tok, eq, err, errlen);
	}
	free(copy);
	return rc;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int mfs_config_load_file(struct mfs_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int lineno = 0, rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot read config %s: %s", path, strerror(errno));
		return rc;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *s, *eq, *hash = strchr(line, '#');

		lineno++;
		if (hash)
			*hash = 0;
		s = trim(line);
		if (!*s)
			continue;
		if (!strcmp(s, "ro") || !strcmp(s, "allow_other") || !strcmp(s, "debug") ||
		    !strcmp(s, "prefetch_open") || !strcmp(s, "insecure")) {
			rc = set_option(c, s, NULL, err, errlen);
			continue;
		}
		if (!(eq = strchr(s, '='))) {
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = 0;
		if ((rc = set_option(c, trim(s), trim(eq + 1), err, errlen))) {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s:%d: %s", path, lineno, err);
			snprintf(err, errlen, "%s", tmp);
		}
	}
	fclose(f);
	return rc;
}

int mfs_config_insecure_refused(const struct mfs_config *c, char *err, size_t errlen)
{
	/* Secure by default: an open port on a network serves the whole
	 * repository, and takes ops, from anyone who reaches it. */
	if (!c->listen || c->curve_key || c->insecure || mfs_endpoint_is_loopback(c->listen))
		return 0;
	snprintf(err, errlen,
		 "listen=%s is not a loopback address and there is no curve_key: anyone who "
		 "reaches it could read and change every file.  Make a key with `modelfs-admin "
		 "keygen FILE` and set curve_key=FILE,authorized_keys=FILE (see "
		 "mount.modelfs(8)), or add the option insecure on a network you trust",
		 c->listen);
	return 1;
}
