/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smallfiles: creates N small files under DIR the way a source checkout or a
 * tokenizer directory is written: DIR/dNNN/fNNNNN.bin, PER_DIR files per
 * subdirectory, each created, written with SIZE bytes in one write() and
 * closed (-f: fsync before close, the native durable baseline; modelfs's
 * close is durable by itself).  Every file's bytes differ (a splitmix64
 * stream seeded by SEED and the file's number), so nothing dedups.  Prints
 * one line:
 *
 *   files=N bytes=B secs=S files_per_s=R stopped=0|1
 *
 * -t SECS stops after SECS seconds (stopped=1, N the files made by then): a
 * benchmark must print, even when a file system slows down as it fills.
 *
 * -j JOBS runs JOBS writer processes at once, writer k making files k, k +
 * JOBS, ...: concurrent closes, as a parallel unpack or a multi-process save
 * makes them.
 *
 * usage: smallfiles [-f] [-j JOBS] [-s SIZE] [-p PER_DIR] [-S SEED] [-t SECS] DIR N
 * Built by the tests/bench scripts with `cc -O2`; not installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: smallfiles [-f] [-j JOBS] [-s SIZE] [-p PER_DIR] [-S SEED] [-t SECS] DIR N\n");
	exit(2);
}

static int write_one(const char *path, const unsigned char *buf, size_t size, int do_fsync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, buf, size);
	int rc = 0;

	if (n < 0)
		rc = -errno;
	else if ((size_t)n != size)
		rc = -EIO;
	if (!rc && do_fsync && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

/*
 * Writes files k, k + jobs, k + 2 * jobs, ... of n; returns how many were
 * made, or -1 after printing an error.  Each writer makes the directories it
 * reaches (EEXIST when another writer was first is fine).
 */
static long write_files(const char *dir, long n, long k, long jobs, size_t size, long per_dir,
			uint64_t seed, int do_fsync, double t0, double max_s, int *stopped)
{
	unsigned char *buf = malloc(size + 8);
	char path[4096];
	long i, made = 0, last_dir = -1;

	if (!buf) {
		fprintf(stderr, "smallfiles: out of memory\n");
		return -1;
	}
	for (i = k; i < n; i += jobs) {
		if (max_s > 0 && now_s() - t0 > max_s) {
			*stopped = 1;
			break;
		}
		uint64_t s = seed * 0x100000001b3ULL + (uint64_t)i;

		for (size_t j = 0; j < size; j += 8) {
			uint64_t v = splitmix64(&s);

			memcpy(buf + j, &v, 8);
		}
		if (i / per_dir != last_dir) {
			last_dir = i / per_dir;
			snprintf(path, sizeof(path), "%s/d%03ld", dir, last_dir);
			if (mkdir(path, 0755) && errno != EEXIST) {
				fprintf(stderr, "smallfiles: mkdir %s: %s\n", path, strerror(errno));
				made = -1;
				break;
			}
		}
		snprintf(path, sizeof(path), "%s/d%03ld/f%05ld.bin", dir, i / per_dir, i);
		int rc = write_one(path, buf, size, do_fsync);

		if (rc) {
			fprintf(stderr, "smallfiles: %s: %s\n", path, strerror(-rc));
			made = -1;
			break;
		}
		made++;
	}
	free(buf);
	return made;
}

int main(int argc, char **argv)
{
	size_t size = 4096;
	long per_dir = 100;
	uint64_t seed = 1;
	double max_s = 0;
	long jobs = 1;
	int do_fsync = 0, stopped = 0, opt;

	while ((opt = getopt(argc, argv, "fj:s:p:S:t:")) != -1) {
		switch (opt) {
		case 'j':
			jobs = strtol(optarg, NULL, 0);
			break;
		case 'f':
			do_fsync = 1;
			break;
		case 's':
			size = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			per_dir = strtol(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			max_s = strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || per_dir <= 0 || jobs <= 0 || jobs > 256)
		usage();
	const char *dir = argv[optind];
	char *end;
	long n = strtol(argv[optind + 1], &end, 10);

	if (*end != '\0' || n <= 0)
		usage();
	double t0 = now_s();
	long made = 0;

	if (jobs == 1) {
		made = write_files(dir, n, 0, 1, size, per_dir, seed, do_fsync, t0, max_s, &stopped);
	} else {
		int fds[2];

		if (pipe(fds)) {
			perror("smallfiles: pipe");
			return 1;
		}
		for (long k = 0; k < jobs; k++) {
			pid_t pid = fork();

			if (pid < 0) {
				perror("smallfiles: fork");
				return 1;
			}
			if (pid == 0) {
				long r[2] = { 0, 0 };
				int st = 0;

				close(fds[0]);
				r[0] = write_files(dir, n, k, jobs, size, per_dir, seed, do_fsync, t0, max_s, &st);
				r[1] = st;
				if (write(fds[1], r, sizeof(r)) != sizeof(r))
					_exit(1);
				_exit(r[0] < 0);
			}
		}
		close(fds[1]);
		for (long k = 0; k < jobs; k++) {
			long r[2];
			int st;

			if (read(fds[0], r, sizeof(r)) != sizeof(r) || r[0] < 0)
				made = -1;
			else if (made >= 0) {
				made += r[0];
				stopped |= (int)r[1];
			}
			wait(&st);
		}
	}
	if (made < 0)
		return 1;
	double secs = now_s() - t0;
	long i = made;

	printf("files=%ld bytes=%llu secs=%.3f files_per_s=%.0f stopped=%d\n", i,
	       (unsigned long long)i * size, secs, (double)i / secs, stopped);
	return 0;
}
