/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin warmup: reads every regular file below the given paths
 * through the mount and throws the bytes away, so that the node fetches
 * each chunk it lacks from its peers into its disk cache now, and a later
 * reader (a model being loaded) finds them local.  Files are read whole
 * but for their holes (SEEK_DATA, SEEK_HOLE: a sparse file's zeros are no
 * chunks to fetch, and 1 TiB of them took many minutes to read), -j at a time; within a file the daemon's own prefetch (prefetch_chunks)
 * keeps several chunk fetches in flight, so one reader per file suffices.
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"

#define READ_SIZE (1024 * 1024)
#define JOBS_DEFAULT 4
#define JOBS_MAX 256
#define PROGRESS_NS 250000000L  /* redraw the progress line 4 times a second */

static void warmup_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin warmup [-j N] [--json] PATH...\n"
		"\n"
		"Reads every regular file below each PATH through the mount, N files at a time\n"
		"(default %d, at most %d), and discards the bytes: the node fetches every chunk\n"
		"it lacks from its peers into its cache, so that later reads are local.\n"
		"Symlinks below a PATH are not followed.  On a terminal, a progress line goes\n"
		"to stderr; at the end a summary (files, bytes, seconds, MB/s) to stdout, or\n"
		"with --json as one object.\n"
		"Exit status: 0 ok, 1 some file or PATH failed (each is named), 2 usage.\n",
		JOBS_DEFAULT, JOBS_MAX);
}

struct wfile {
	char *path;
	unsigned long long size;       /* at the walk: the progress line's total */
};

struct warmup {
	struct wfile *files;
	size_t nfiles, cap;
	unsigned long long total;
	atomic_size_t next;            /* the next file a reader takes */
	atomic_size_t done_files;      /* read to the end */
	atomic_ullong done_bytes;
	atomic_int readers;            /* still running */
	pthread_mutex_t lock;          /* the lists below, and stderr */
	char **failed;                 /* the files that could not be read */
	size_t nfailed;
	size_t errors;                 /* counts them even when the list cannot grow */
	int progress;                  /* a progress line is on stderr */
	size_t progress_len;           /* its length now, to blank it */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the list of files --------------------------------------------------- */

static int collect(void *arg, const char *path, const char *at, const struct stat *st, int top)
{
	struct warmup *w = arg;
	struct wfile *f;

	(void)at; /* opened later, by admin_open_long */
	(void)top;
	if (!S_ISREG(st->st_mode))
		return 0;
	if (w->nfiles == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;

		if (!(f = realloc(w->files, cap * sizeof(*f)))) {
			fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(ENOMEM));
			return -1;
		}
		w->files = f;
		w->cap = cap;
	}
	f = &w->files[w->nfiles];
	if (!(f->path = strdup(path))) {
		fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(ENOMEM));
		return -1;
	}
	f->size = st->st_size;
	w->total += f->size;
	w->nfiles++;
	return 0;
}

/* ---- reading --------------------------------------------------------------- */

/* Blanks the progress line, so that a message starts on a clean line. Under lock. */
static void progress_clear(struct warmup *w)
{
	if (w->progress && w->progress_len) {
		fprintf(stderr, "\r%*s\r", (int)w->progress_len, "");
		w->progress_len = 0;
	}
}

static void progress_draw(struct warmup *w, double t0)
{
	unsigned long long done = atomic_load(&w->done_bytes);
	double secs = now_s() - t0;
	char line[160], b1[32], b2[32];
	int n;

	n = snprintf(line, sizeof(line), "warmup: %zu/%zu files, %s of %s (%.0f%%), %.1f MB/s",
		     atomic_load(&w->done_files), w->nfiles, admin_human_bytes(done, b1, sizeof(b1)),
		     admin_human_bytes(w->total, b2, sizeof(b2)), w->total ? 100.0 * done / w->total : 100.0,
		     secs > 0 ? done / 1e6 / secs : 0.0);
	pthread_mutex_lock(&w->lock);
	progress_clear(w);
	fputs(line, stderr);
	fflush(stderr);
	w->progress_len = n < (int)sizeof(line) ? n : sizeof(line) - 1;
	pthread_mutex_unlock(&w->lock);
}

static void read_failed(struct warmup *w, const char *path, int err)
{
	char **l;

	pthread_mutex_lock(&w->lock);
	progress_clear(w);
	fprintf(stderr, "modelfs-admin: cannot read %s: %s\n", path, strerror(err));
	if ((l = realloc(w->failed, (w->nfailed + 1) * sizeof(*l)))) {
		w->failed = l;
		w->failed[w->nfailed] = (char *)path;
		w->nfailed++;
	}
	w->errors++;
	pthread_mutex_unlock(&w->lock);
}

/*
 * Reads fd's data, skipping its holes, which count as done.  Without
 * SEEK_DATA (another filesystem below the path) every byte is read.
 * 0 or an errno.
 */
static int read_data(struct warmup *w, int fd, char *buf)
{
	off_t pos = 0, data, hole;
	struct stat st;
	ssize_t n;

	for (;;) {
		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO) {
			/* Only a hole after pos. */
			if (!fstat(fd, &st) && st.st_size > pos)
				atomic_fetch_add(&w->done_bytes, st.st_size - pos);
			return 0;
		}
		if (data < 0 || (hole = lseek(fd, data, SEEK_HOLE)) < 0) {
			data = pos;
			hole = INT64_MAX;
		}
		atomic_fetch_add(&w->done_bytes, data - pos);
		for (pos = data; pos < hole; pos += n) {
			n = pread(fd, buf, hole - pos < READ_SIZE ? (size_t)(hole - pos) : READ_SIZE, pos);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n < 0)
				return errno;
			else if (n == 0)
				return 0;
			atomic_fetch_add(&w->done_bytes, n);
		}
	}
}

static void read_file(struct warmup *w, const char *path, char *buf)
{
	int fd = admin_open_long(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		if (errno == ENOENT) {
			/* removed since the walk: nothing left to warm */
			pthread_mutex_lock(&w->lock);
			progress_clear(w);
			fprintf(stderr, "modelfs-admin: %s is gone; skipped\n", path);
			pthread_mutex_unlock(&w->lock);
		} else {
			read_failed(w, path, errno);
		}
		return;
	}
	/*
	 * Pages the kernel still holds would be served without asking the node,
	 * whose cache may have dropped those chunks since: drop this file's clean
	 * pages so that every byte goes through the daemon.
	 */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((err = read_data(w, fd, buf)))
		read_failed(w, path, err);
	else
		atomic_fetch_add(&w->done_files, 1);
	close(fd);
}

static void *reader(void *arg)
{
	struct warmup *w = arg;
	char *buf = malloc(READ_SIZE);
	size_t i;

	while ((i = atomic_fetch_add(&w->next, 1)) < w->nfiles) {
		if (buf)
			read_file(w, w->files[i].path, buf);
		else
			read_failed(w, w->files[i].path, ENOMEM);
	}
	free(buf);
	atomic_fetch_sub(&w->readers, 1);
	return NULL;
}

/* Runs jobs readers until every file is read, drawing progress meanwhile. */
static void read_all(struct warmup *w, int jobs, double t0)
{
	pthread_t *t = calloc(jobs, sizeof(*t));
	int started = 0;

	atomic_store(&w->readers, jobs);
	for (; t && started < jobs; started++)
		if (pthread_create(&t[started], NULL, reader, w))
			break;
	atomic_fetch_sub(&w->readers, jobs - started);
	if (!started) {
		/* no thread to be had: read here, one file at a time */
		atomic_fetch_add(&w->readers, 1);
		reader(w);
	}
	while (w->progress && atomic_load(&w->readers) > 0) {
		struct timespec ts = { 0, PROGRESS_NS };

		progress_draw(w, t0);
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	pthread_mutex_lock(&w->lock);
	progress_clear(w);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the command ----------------------------------------------------------- */

static void print_summary(const struct warmup *w, double secs, int json)
{
	unsigned long long bytes = atomic_load(&w->done_bytes);
	double rate = secs > 0 ? bytes / 1e6 / secs : 0;
	struct json j;
	char b[32];

	if (!json) {
		size_t files = atomic_load(&w->done_files);

		printf("warmed %zu file%s, %llu bytes (%s) in %.2f s, %.1f MB/s", files,
		       files == 1 ? "" : "s", bytes, admin_human_bytes(bytes, b, sizeof(b)), secs, rate);
		if (w->errors)
			printf("; %zu failed", w->errors);
		printf("\n");
		return;
	}
	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_u64(&j, "files", atomic_load(&w->done_files));
	json_u64(&j, "bytes", bytes);
	json_double(&j, "seconds", secs, 3);
	json_double(&j, "mb_per_s", rate, 1);
	json_open(&j, "failed", '[');
	for (size_t i = 0; i < w->nfailed; i++)
		json_str(&j, NULL, w->failed[i]);
	json_end(&j);
}

/* 0 to go on, else the exit status (help or usage); -1 after --help */
static int parse(int argc, char **argv, int *jobs, int *json, char ***paths, int *npaths)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "jobs", required_argument, NULL, 'j' }, { NULL, 0, NULL, 0 },
	};
	long j;
	int c;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "hj:", longopts)) != -1) {
		switch (c) {
		case 'h':
			warmup_usage(stdout);
			return -1;
		case 'J':
			*json = 1;
			break;
		case 'j':
			if (admin_parse_long(optarg, 1, JOBS_MAX, &j)) {
				fprintf(stderr, "modelfs-admin: -j takes 1 to %d, not '%s'\n",
					JOBS_MAX, optarg);
				warmup_usage(stderr);
				return 2;
			}
			*jobs = j;
			break;
		default:
			warmup_usage(stderr);
			return 2;
		}
	}
	*paths = argv + optind;
	*npaths = argc - optind;
	if (!*npaths) {
		fprintf(stderr, "modelfs-admin: warmup needs at least one PATH\n");
		warmup_usage(stderr);
		return 2;
	}
	return 0;
}

int admin_cmd_warmup(int argc, char **argv)
{
	struct warmup w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int jobs = JOBS_DEFAULT, json = 0, npaths = 0, rc;
	size_t walk_failed = 0;
	char **paths;
	double t0;

	rc = parse(argc, argv, &jobs, &json, &paths, &npaths);
	if (rc)
		return rc < 0 ? 0 : rc;
	t0 = now_s();
	for (int i = 0; i < npaths; i++)
		walk_failed += admin_walk(paths[i], 1, collect, &w);
	w.progress = isatty(STDERR_FILENO);
	if (jobs > (int)w.nfiles)
		jobs = w.nfiles;
	if (jobs)
		read_all(&w, jobs, t0);
	print_summary(&w, now_s() - t0, json);
	rc = walk_failed || w.errors ? 1 : 0;
	for (size_t i = 0; i < w.nfiles; i++)
		free(w.files[i].path);
	free(w.files);
	free(w.failed);
	return rc;
}
