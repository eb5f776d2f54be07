/* SPDX-License-Identifier: Apache-2.0 */
/*
 * folio_map: how the page cache holds a file, the thing a warm re-read's cost
 * per byte depends on.  Maps FILE read-only, faults every page in (from the
 * page cache when it is warm), looks each one up in /proc/self/pagemap and
 * /proc/kpageflags, and prints one line:
 *
 *   pages=P folios=F largest_kib=L adjacent_pct=A
 *
 * folios: page-cache folios holding the file (P when every folio is 4 KiB);
 * largest_kib: the biggest of them; adjacent_pct: pages whose physical frame
 * follows the previous page's (memory the copy to userspace streams through).
 * A kernel whose FUSE keeps 4 KiB folios (Linux 6.18) shows folios=pages on
 * a modelfs mount, where ext4 shows folios of up to 2 MiB: the copy of a
 * warm re-read then costs about twice as much per byte (issue 10, row 2).
 *
 * usage: folio_map FILE     (root: the page frame numbers are hidden otherwise)
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
#include <unistd.h>

#define PAGE 4096u
#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_COMPOUND_TAIL (1ULL << 16)
#define BATCH 4096u /* pagemap entries read at once */

static int die(const char *what)
{
	fprintf(stderr, "folio_map: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t pages = 0, folios = 0, adjacent = 0, run = 0, largest = 0, prev = 0;
	uint64_t *pm = malloc(BATCH * sizeof(*pm));
	struct stat st;
	size_t len;
	char *map;
	int fd, pmfd, kfd;

	if (argc != 2) {
		fprintf(stderr, "usage: folio_map FILE\n");
		return 2;
	}
	if (!pm)
		return die("malloc");
	if ((fd = open(argv[1], O_RDONLY)) < 0)
		return die(argv[1]);
	if (fstat(fd, &st))
		return die("fstat");
	len = (size_t)st.st_size / PAGE * PAGE; /* whole pages: the tail may have no frame */
	if (!len) {
		printf("pages=0 folios=0 largest_kib=0 adjacent_pct=0\n");
		return 0;
	}
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return die("mmap");
	if (madvise(map, len, MADV_POPULATE_READ))
		return die("MADV_POPULATE_READ");
	if ((pmfd = open("/proc/self/pagemap", O_RDONLY)) < 0)
		return die("/proc/self/pagemap");
	if ((kfd = open("/proc/kpageflags", O_RDONLY)) < 0)
		return die("/proc/kpageflags");

	for (size_t at = 0; at < len / PAGE; at += BATCH) {
		size_t n = len / PAGE - at < BATCH ? len / PAGE - at : BATCH;
		off_t off = (off_t)(((uintptr_t)map / PAGE + at) * sizeof(*pm));

		if (pread(pmfd, pm, n * sizeof(*pm), off) != (ssize_t)(n * sizeof(*pm)))
			return die("pagemap read");
		for (size_t i = 0; i < n; i++) {
			uint64_t pfn = pm[i] & PM_PFN_MASK, flags;

			if (!(pm[i] & PM_PRESENT) || !pfn) {
				errno = EPERM;
				return die("no page frame (not root?)");
			}
			if (pread(kfd, &flags, sizeof(flags), (off_t)(pfn * sizeof(flags))) !=
			    sizeof(flags))
				return die("kpageflags read");
			if (pages && pfn == prev + 1)
				adjacent++;
			/* A tail continues the folio before it; anything else starts one. */
			if (!(flags & KPF_COMPOUND_TAIL) || !pages) {
				folios++;
				run = 0;
			}
			if (++run > largest)
				largest = run;
			prev = pfn;
			pages++;
		}
	}
	printf("pages=%llu folios=%llu largest_kib=%llu adjacent_pct=%.0f\n",
	       (unsigned long long)pages, (unsigned long long)folios,
	       (unsigned long long)(largest * PAGE / 1024),
	       pages > 1 ? 100.0 * (double)adjacent / (double)(pages - 1) : 0.0);
	munmap(map, len);
	close(kfd);
	close(pmfd);
	close(fd);
	free(pm);
	return 0;
}
