/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control endpoint server: one thread, one connection at a time (reports
 * are rare and fsck is long; a second admin waits its turn).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"     /* autoconf: PACKAGE_VERSION */
#include "control.h"
#include "fuse/fs_internal.h"
#include "replica/curve.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/chunk/delta.h"
#include "store/maint/report.h"
#include "store/ns/allow.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "control"

struct mfs_control {
	struct mfs_fs *fs;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	char *path;
};

/* The status lines; uses c->fs only (mfs_control_status passes a bare one). */
static int status_lines(struct mfs_control *c, FILE *f)
{
	struct mfs_store_stats st;
	struct mfs_cache_stats cs;
	struct statvfs vfs;
	struct timespec now;
	int rc = mfs_store_stats_cached(c->fs->db, &c->fs->stats, &st);

	if (!rc) {
		mfs_cache_stats(c->fs->cache, &cs);
		clock_gettime(CLOCK_MONOTONIC, &now);
		fprintf(f, "node_id " MFS_NODE_FMT "\n", MFS_NODE_ARG(mfs_ns_node_id(c->fs->ns)));
		fprintf(f, "ino_space %04x\n", mfs_ns_space(c->fs->ns));
		fprintf(f, "version %s\n", PACKAGE_VERSION);
		fprintf(f, "uptime_s %lld\n", (long long)(now.tv_sec - c->fs->started.tv_sec));
		fprintf(f, "options ");
		mfs_config_format(c->fs->cfg, f);
		fprintf(f, "\n");
		fprintf(f, "data_dir %s\n", c->fs->cfg->data_dir);
		fprintf(f, "mountpoint %s\n", c->fs->cfg->mountpoint ? c->fs->cfg->mountpoint : "");
		fprintf(f, "files %llu\n", (unsigned long long)st.files);
		fprintf(f, "dirs %llu\n", (unsigned long long)st.dirs);
		fprintf(f, "symlinks %llu\n", (unsigned long long)st.symlinks);
		fprintf(f, "logical_bytes %llu\n", (unsigned long long)st.logical_bytes);
		fprintf(f, "hole_bytes %llu\n", (unsigned long long)st.hole_bytes);
		fprintf(f, "chunks %llu\n", (unsigned long long)st.chunks);
		fprintf(f, "chunk_bytes %llu\n", (unsigned long long)st.chunk_bytes);
		fprintf(f, "stored_bytes %llu\n", (unsigned long long)st.stored_bytes);
		fprintf(f, "orphan_chunks %llu\n", (unsigned long long)st.orphan_chunks);
		fprintf(f, "orphan_bytes %llu\n", (unsigned long long)st.orphan_bytes);
		fprintf(f, "disk_bytes %llu\n", (unsigned long long)st.disk_bytes);
		if (!statvfs(c->fs->cfg->data_dir, &vfs)) {
			/* The file system under the store: what is left before ENOSPC. */
			fprintf(f, "fs_size_bytes %llu\n",
				(unsigned long long)vfs.f_blocks * vfs.f_frsize);
			fprintf(f, "fs_avail_bytes %llu\n",
				(unsigned long long)vfs.f_bavail * vfs.f_frsize);
		}
		fprintf(f, "store_disk_full %d\n", mfs_db_space_low(c->fs->db));
		fprintf(f, "dedup_ratio %.4f\n", st.dedup_ratio);
		fprintf(f, "compression_ratio %.4f\n", st.compression_ratio);
		for (int k = 0; k < MFS_CODEC_COUNT; k++)
			fprintf(f, "codec_chunks.%s %llu\n", mfs_codec_name(k),
			    (unsigned long long)st.codec_chunks[k]);
		fprintf(f, "cache_hits %llu\n", (unsigned long long)cs.hits);
		fprintf(f, "cache_misses %llu\n", (unsigned long long)cs.misses);
		fprintf(f, "cache_bytes %llu\n", (unsigned long long)cs.bytes);
		fprintf(f, "cache_capacity %llu\n", (unsigned long long)cs.capacity);
		fprintf(f, "cache_delta_bases %llu\n", (unsigned long long)mfs_delta_src_hits());
		fprintf(f, "read_requests %llu\n",
			(unsigned long long)__atomic_load_n(&c->fs->read_requests, __ATOMIC_RELAXED));
		fprintf(f, "read_bytes %llu\n",
			(unsigned long long)__atomic_load_n(&c->fs->read_bytes, __ATOMIC_RELAXED));
		mfs_histo_write(&c->fs->read_latency, "read_latency_us", f);
		fs_recode_status(c->fs, f);
		fprintf(f, "ns_unsynced_ops %llu\n",
			(unsigned long long)mfs_ns_unsynced(c->fs->ns));
		if (c->fs->replica)
			mfs_replica_status(c->fs->replica, f);
	}
	return rc;
}

int mfs_control_status(struct mfs_fs *fs, FILE *f)
{
	struct mfs_control c = { .fs = fs, .fd = -1 };

	return status_lines(&c, f);
}

static void do_status(struct mfs_control *c, FILE *f)
{
	int rc = status_lines(c, f);

	fprintf(f, "end %d %s\n", rc, rc ? mfs_strerror(rc) : "ok");
}

/* `info INO` and `evict INO` (fs_info.c): INO as stat(2) gives it, in decimal. */
static void do_inode_request(struct mfs_control *c, FILE *f, const char *arg, int evict)
{
	unsigned long long ino;
	char *end;
	int rc;

	errno = 0;
	ino = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || *arg < '0' || *arg > '9' || !ino)
		rc = -EINVAL;
	else
		rc = evict ? fs_evict(c->fs, ino, f) : fs_info_write(c->fs, ino, f);
	fprintf(f, "end %d %s\n", rc, rc ? mfs_strerror(rc) : "ok");
}

/* One `allowed KEY yes|revoked` line. */
static int write_allowed(void *arg, const uint8_t key[MFS_ALLOW_KEY_LEN], int allowed)
{
	char z85[MFS_CURVE_Z85_LEN + 1];

	mfs_curve_key_encode(key, z85);
	fprintf(arg, "allowed %s %s\n", z85, allowed ? "yes" : "revoked");
	return 0;
}

/*
 * `nodes`: the member table, one `member` line per node (replica.h), then
 * the cluster's allow-list (`allowed` lines).
 * `node-state ID STATE`: an admin's drain or remove (member.h states).
 */
static void do_nodes(struct mfs_control *c, FILE *f, const char *arg)
{
	unsigned long long id = 0;
	uint8_t state = 0;
	char name[16] = "", *end;
	int rc = 0;

	if (!c->fs->replica) {
		rc = -ENOTCONN; /* no peer service: no cluster to be a member of */
	} else if (!arg) {
		mfs_replica_members_write(c->fs->replica, f);
		rc = mfs_ns_allow_each(c->fs->ns, write_allowed, f);
	} else {
		errno = 0;
		id = strtoull(arg, &end, 16);
		if (errno || end == arg || end - arg > MFS_NODE_HEX_LEN || *end != ' ' || !id ||
		    sscanf(end, " %15s", name) != 1 || mfs_member_state_parse(name, &state) ||
		    (state != MFS_MEMBER_DRAINING && state != MFS_MEMBER_GONE &&
		     state != MFS_MEMBER_ACTIVE))
			rc = -EINVAL;
		else
			rc = mfs_replica_member_set(c->fs->replica, (mfs_node_t)id, state);
	}
	fprintf(f, "end %d %s\n", rc, rc == -ENOTCONN ? "this node has no peer service (listen=)" :
		rc == -ENOENT ? "no such node in the member table" : rc ? mfs_strerror(rc) : "ok");
}

/*
 * `allow KEY` / `revoke KEY`: an admin's change to the cluster's allow-list
 * (store/ns/allow.h), a namespace op every member applies.
 */
static void do_allow(struct mfs_control *c, FILE *f, const char *key, int allowed)
{
	uint8_t raw[MFS_CURVE_KEY_LEN];
	int rc;

	if (c->fs->cfg->ro)
		rc = -EROFS;
	else if (mfs_curve_key_decode(key, raw))
		rc = -EINVAL;
	else
		rc = mfs_ns_allow_put(c->fs->ns, raw, allowed);
	fprintf(f, "end %d %s\n", rc, rc == -EINVAL ? "not a public key (40 characters of Z85)" :
		rc ? mfs_strerror(rc) : "ok");
}

static void serve(struct mfs_control *c, int fd)
{
	char line[8192];
	FILE *f = fdopen(fd, "r+");

	if (!f) {
		close(fd);
		return;
	}
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return;
	}
	line[strcspn(line, "\r\n")] = 0;
	if (!strcmp(line, "status"))
		do_status(c, f);
	else if (!strcmp(line, "fsck") || !strncmp(line, "fsck ", 5))
		control_fsck(c->fs, line + 4, f);
	else if (!strncmp(line, "info ", 5) || !strncmp(line, "evict ", 6))
		do_inode_request(c, f, strchr(line, ' ') + 1, line[0] == 'e');
	else if (!strcmp(line, "gc") || !strncmp(line, "gc ", 3))
		fs_gc_control(c->fs, line + 2, f);
	else if (!strcmp(line, "nodes"))
		do_nodes(c, f, NULL);
	else if (!strncmp(line, "node-state ", 11))
		do_nodes(c, f, line + 11);
	else if (!strncmp(line, "allow ", 6) || !strncmp(line, "revoke ", 7))
		do_allow(c, f, strchr(line, ' ') + 1, line[0] == 'a');
	else if (!strcmp(line, "revs") || !strncmp(line, "rev-create ", 11) ||
		 !strncmp(line, "rev-delete ", 11))
		control_rev(c->fs, line, f);
	else
		fprintf(f, "end %d unknown request\n", -EINVAL);
	fclose(f);
}

void control_put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else
			putc(*s, f);
	}
}

static void *control_thread(void *arg)
{
	struct mfs_control *c = arg;

	for (;;) {
		struct pollfd p[2] = { { c->fd, POLLIN, 0 }, { c->stop_pipe[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve(c, fd);
	}
	return NULL;
}

int mfs_control_start(struct mfs_fs *fs, const char *path, struct mfs_control **out_c)
{
	struct mfs_control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	*out_c = NULL;
	if (!c)
		return -ENOMEM;
	c->fs = fs;
	c->fd = c->stop_pipe[0] = c->stop_pipe[1] = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control socket path too long: %s", path);
		free(c);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	unlink(path); /* a stale socket from a crash; the store lock says we own it */
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    listen(c->fd, 8) || pipe2(c->stop_pipe, O_CLOEXEC)) {
		rc = -errno;
		log_error("control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!(c->path = strdup(path))) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = -pthread_create(&c->thread, NULL, control_thread, c)))
		goto fail;
	*out_c = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	if (c->stop_pipe[0] >= 0) {
		close(c->stop_pipe[0]);
		close(c->stop_pipe[1]);
	}
	free(c->path);
	free(c);
	return rc;
}

void mfs_control_stop(struct mfs_control *c)
{
	if (!c)
		return;
	/* The pipe is empty and ours: a one-byte write only fails on EINTR. */
	while (write(c->stop_pipe[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(c->thread, NULL);
	close(c->fd);
	close(c->stop_pipe[0]);
	close(c->stop_pipe[1]);
	unlink(c->path);
	free(c->path);
	free(c);
}
