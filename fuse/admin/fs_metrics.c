/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics file (option metrics_file): every metrics_interval_s seconds
 * one thread writes the node's status (control.c) in the Prometheus text
 * format (fuse/admin/prom.h) for node_exporter's textfile collector.  Written to
 * a temporary file beside it and renamed over it, so the collector never
 * reads half a file.  A status that fails leaves the previous file, whose
 * age then shows (node_textfile_mtime_seconds).  The store totals in the
 * status come from a walk of the whole namespace, made again only after a
 * write changed it (store/maint/report.h, mfs_stats_cache): an idle node
 * writes its metrics for nothing; on a large store that is written to all
 * the time, keep the interval long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "fuse/fs_internal.h"
#include "prom.h"
#include "store/base/log.h"
#include "ticker.h"

#define LOG_COMPONENT "metrics"

struct fs_metrics {
	struct mfs_fs *fs;
	struct fs_ticker ticker;
	int failing;            /* the last write failed (logged once per streak) */
	char *tmp;              /* PATH.tmp */
};

static int write_file(struct fs_metrics *m)
{
	const char *path = m->fs->cfg->metrics_file;
	char *status = NULL, *text = NULL;
	size_t slen = 0, tlen = 0;
	FILE *sf = open_memstream(&status, &slen), *tf = NULL;
	int fd = -1, rc;

	if (!sf)
		return -ENOMEM;
	rc = mfs_control_status(m->fs, sf);
	if (fclose(sf) && !rc)
		rc = -ENOMEM;
	if (rc)
		goto out;
	if (!(tf = open_memstream(&text, &tlen))) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mfs_prom_write(status, tf);
	if (fclose(tf) && !rc)
		rc = -ENOMEM;
	if (rc)
		goto out;
	/* 0644: node_exporter runs as its own user. */
	if ((fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    fchmod(fd, 0644)) {
		rc = -errno;
		goto out;
	}
	for (size_t off = 0; off < tlen;) {
		ssize_t n = write(fd, text + off, tlen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd)) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (rename(m->tmp, path))
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(m->tmp);
	free(status);
	free(text);
	return rc;
}

static void *metrics_thread(void *arg)
{
	struct fs_metrics *m = arg;

	do {
		int rc = write_file(m);

		if (rc && !m->failing)
			log_warn("cannot write %s: %s", m->fs->cfg->metrics_file, strerror(-rc));
		else if (!rc && m->failing)
			log_info("writing %s again", m->fs->cfg->metrics_file);
		m->failing = rc != 0;
	} while (fs_ticker_nap(&m->ticker, (uint64_t)m->fs->cfg->metrics_interval_s * 1000));
	return NULL;
}

int fs_metrics_start(struct mfs_fs *fs, struct fs_metrics **out)
{
	struct fs_metrics *m;
	int rc;

	*out = NULL;
	if (!fs->cfg->metrics_file)
		return 0;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->fs = fs;
	if (asprintf(&m->tmp, "%s.tmp", fs->cfg->metrics_file) < 0) {
		free(m);
		return -ENOMEM;
	}
	if ((rc = fs_ticker_start(&m->ticker, "mfs-metrics", metrics_thread, m))) {
		free(m->tmp);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void fs_metrics_stop(struct fs_metrics *m)
{
	if (!m)
		return;
	fs_ticker_stop(&m->ticker);
	/* A stopped node exports nothing rather than its last numbers forever. */
	unlink(m->fs->cfg->metrics_file);
	free(m->tmp);
	free(m);
}
