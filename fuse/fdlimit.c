/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's limit on open files.
 *
 * A node holds a descriptor for every file open for writing on its mount
 * (the staged copy: a memfd, or a file under staging/ past
 * staging_mem_mb), two per pack file (buffered and O_DIRECT; a pack seals
 * at 1 GiB, so a 500 GiB store takes 1,000 for its packs), RocksDB's
 * table files and its peers' sockets.  The soft limit a shell, mount(8)
 * or a systemd service passes on is usually 1,024.  Measured with 128:
 * past about 100 files open for writing, creates failed with EMFILE
 * (t0815: 499 of 600), and with 4 MiB written into each, 9 closes failed
 * too, their commit unable to start a pack: those writers lost their
 * files.  With 1,024 the same would happen at about 1,000 writers, and a
 * store of about 500 GiB could not open its packs at all (by count).
 *
 * So the daemon raises its soft limit to the hard one, as daemons that
 * hold many files do (systemd's default hard limit is 524,288; the
 * packaged units set LimitNOFILE too).  Nothing here uses select(), the
 * one reason to keep descriptors below 1,024.  Descriptors are allocated
 * as used: a high limit costs nothing until it is reached.
 */
#include <stdio.h>
#include <sys/resource.h>

#include "fdlimit.h"
#include "store/base/log.h"

#define LOG_COMPONENT "daemon"
/* Beyond this a limit buys nothing but slower loops over every descriptor. */
#define FDLIMIT_CAP ((rlim_t)1 << 20)
/* Below this, say so: a store of a few hundred GiB, or a busy writer, meets it. */
#define FDLIMIT_LOW 4096

static struct rlimit before, after;
static int raise_errno;

void fdlimit_raise(void)
{
	if (getrlimit(RLIMIT_NOFILE, &before))
		return;
	after = before;
	after.rlim_cur = before.rlim_max < FDLIMIT_CAP ? before.rlim_max : FDLIMIT_CAP;
	if (after.rlim_cur <= before.rlim_cur) {
		after = before;
		return;
	}
	if (setrlimit(RLIMIT_NOFILE, &after)) {
		raise_errno = 1;
		after = before;
	}
}

void fdlimit_report(void)
{
	if (raise_errno)
		log_warn("cannot raise the open files limit from %llu to %llu",
			 (unsigned long long)before.rlim_cur, (unsigned long long)before.rlim_max);
	else if (after.rlim_cur > before.rlim_cur)
		log_info("open files limit raised from %llu to %llu",
			 (unsigned long long)before.rlim_cur, (unsigned long long)after.rlim_cur);
	if (after.rlim_cur && after.rlim_cur < FDLIMIT_LOW)
		log_warn("open files limit is %llu: about that many files open for writing, or "
			 "half that many GiB in the store, fail with EMFILE; raise the hard "
			 "limit (ulimit -Hn, LimitNOFILE=)", (unsigned long long)after.rlim_cur);
}
