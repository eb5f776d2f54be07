/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mmap_randread: 4 KiB random reads through a shared read-only mapping, the
 * way safetensors-style loaders touch a model file.  Maps FILE with
 * MAP_SHARED/PROT_READ, reads N whole 4 KiB pages at random 4 KiB-aligned
 * offsets (fixed seed: the same offsets every run), timing each page, and
 * prints one line:
 *
 *   n=N median_us=M p99_us=P mean_us=A max_us=X
 *
 * usage: mmap_randread [-r] [-s SEED] FILE N
 *   -r  madvise(MADV_RANDOM) first (no read-around on faults)
 *
 * Built by tests/bench/bench-single-node.sh with `cc -O2`; not installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(void)
{
	fprintf(stderr, "usage: mmap_randread [-r] [-s SEED] FILE N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 42;
	int advise_random = 0;
	int opt;

	while ((opt = getopt(argc, argv, "rs:")) != -1) {
		switch (opt) {
		case 'r':
			advise_random = 1;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	const char *path = argv[optind];
	char *end;
	long n = strtol(argv[optind + 1], &end, 10);

	if (*end != '\0' || n <= 0)
		usage();

	int fd = open(path, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "mmap_randread: %s: %s\n", path, strerror(errno));
		return 1;
	}
	uint64_t pages = (uint64_t)st.st_size / PAGE;

	if (pages == 0) {
		fprintf(stderr, "mmap_randread: %s: shorter than one page\n", path);
		return 1;
	}
	const unsigned char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap_randread: mmap %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (advise_random && madvise((void *)map, (size_t)st.st_size, MADV_RANDOM) != 0) {
		fprintf(stderr, "mmap_randread: madvise: %s\n", strerror(errno));
		return 1;
	}

	double *lat = malloc((size_t)n * sizeof(*lat));

	if (lat == NULL) {
		fprintf(stderr, "mmap_randread: out of memory\n");
		return 1;
	}
	uint64_t state = seed, sink = 0;
	double sum = 0;

	for (long i = 0; i < n; i++) {
		const uint64_t *p = (const uint64_t *)(map + (splitmix64(&state) % pages) * PAGE);
		uint64_t acc = 0;
		double t0 = now_us();

		for (unsigned j = 0; j < PAGE / sizeof(*p); j++)
			acc += ((const volatile uint64_t *)p)[j];
		lat[i] = now_us() - t0;
		sum += lat[i];
		sink ^= acc;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	long p99 = (n * 99 + 99) / 100 - 1; /* nearest rank: ceil(0.99 n) - 1 */
	printf("n=%ld median_us=%.1f p99_us=%.1f mean_us=%.1f max_us=%.1f\n", n,
	       n % 2 ? lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2, lat[p99], sum / (double)n,
	       lat[n - 1]);
	fprintf(stderr, "mmap_randread: checksum %016llx\n", (unsigned long long)sink);
	munmap((void *)map, (size_t)st.st_size);
	free(lat);
	close(fd);
	return 0;
}
