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
 * usage: smallfiles [-f] [-s SIZE] [-p PER_DIR] [-S SEED] [-t SECS] DIR N
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
	fprintf(stderr, "usage: smallfiles [-f] [-s SIZE] [-p PER_DIR] [-S SEED] [-t SECS] DIR N\n");
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

int main(int argc, char **argv)
{
	size_t size = 4096;
	long per_dir = 100;
	uint64_t seed = 1;
	double max_s = 0;
	int do_fsync = 0, stopped = 0, opt;

	while ((opt = getopt(argc, argv, "fs:p:S:t:")) != -1) {
		switch (opt) {
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
	if (argc - optind != 2 || per_dir <= 0)
		usage();
	const char *dir = argv[optind];
	char *end;
	long n = strtol(argv[optind + 1], &end, 10);

	if (*end != '\0' || n <= 0)
		usage();
	unsigned char *buf = malloc(size + 8);
	char path[4096];

	if (!buf) {
		fprintf(stderr, "smallfiles: out of memory\n");
		return 1;
	}
	double t0 = now_s();

	long i;

	for (i = 0; i < n; i++) {
		if (max_s > 0 && now_s() - t0 > max_s) {
			stopped = 1;
			break;
		}
		uint64_t s = seed * 0x100000001b3ULL + (uint64_t)i;

		for (size_t j = 0; j < size; j += 8) {
			uint64_t v = splitmix64(&s);

			memcpy(buf + j, &v, 8);
		}
		if (i % per_dir == 0) {
			snprintf(path, sizeof(path), "%s/d%03ld", dir, i / per_dir);
			if (mkdir(path, 0755) && errno != EEXIST) {
				fprintf(stderr, "smallfiles: mkdir %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
		snprintf(path, sizeof(path), "%s/d%03ld/f%05ld.bin", dir, i / per_dir, i);
		int rc = write_one(path, buf, size, do_fsync);

		if (rc) {
			fprintf(stderr, "smallfiles: %s: %s\n", path, strerror(-rc));
			return 1;
		}
	}
	double secs = now_s() - t0;

	printf("files=%ld bytes=%llu secs=%.3f files_per_s=%.0f stopped=%d\n", i,
	       (unsigned long long)i * size, secs, (double)i / secs, stopped);
	free(buf);
	return 0;
}
