/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon killed while the kernel waited on it.
 *
 * A thread that tells the kernel a file changed (a peer's write, an evict:
 * fuse_lowlevel_notify_inval_inode with a byte range) waits, inside the
 * kernel, for each cached page's lock; a page being read in stays locked
 * until the daemon answers its READ.  Kill the daemon then (kill -9, the
 * OOM killer, systemd's SIGKILL after a stop timed out) and the READ is
 * never answered: the notifying thread can never leave the kernel, so the
 * process never finishes dying (a zombie whose last thread sleeps
 * uninterruptibly), the /dev/fuse descriptor it holds stays open, and the
 * kernel keeps the connection.  The mount hangs every caller instead of
 * failing with ENOTCONN, and the store stays locked: a restart waits on
 * the lock and gives up, and any stat of the mountpoint hangs with it.
 * Only aborting the connection (/sys/fs/fuse/connections/N/abort, or
 * `umount -f` while it is still mounted) ends it.  Seen in the fault
 * torture (t1496): a node killed mid-round never came back.
 *
 * So a daemon notes its connection's number beside its pid once mounted
 * (DATA/fuse.conn: "CONN PID"), and a new daemon on the same store, before
 * it touches the mountpoint, aborts that connection if, and only if, the
 * daemon that wrote it still holds the store's lock and is dying: its main
 * thread is a zombie and does not go away.  While that process exists, its
 * descriptor keeps the connection alive, so the number cannot have been
 * given to another mount; and the lock says the pid was not reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mountpoint.h"
#include "store/base/log.h"
#include "wedged.h"

#define LOG_COMPONENT "daemon"
#define CONN_DIR "/sys/fs/fuse/connections"

static char *conn_file(const char *data_dir)
{
	char *p;

	return asprintf(&p, "%s/fuse.conn", data_dir) < 0 ? NULL : p;
}

void mfs_wedged_note(const char *data_dir, unsigned conn)
{
	char *path = conn_file(data_dir), tmp[4096];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we"))) {
		int bad = fprintf(f, "%u %d\n", conn, (int)getpid()) < 0;

		if (fclose(f) || bad || rename(tmp, path))
			unlink(tmp);
	}
	free(path);
}

void mfs_wedged_forget(const char *data_dir)
{
	char *path = conn_file(data_dir);

	if (path)
		unlink(path);
	free(path);
}

/* The state letter of process pid (R, S, D, Z...), or 0 if it does not exist. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold any byte, so the last ')'. */
	if (!(close_paren = strrchr(buf, ')')) || close_paren[1] != ' ')
		return 0;
	return close_paren[2];
}

/* The pid holding the store's lock (RocksDB's fcntl lock on db/LOCK), or 0. */
static pid_t lock_holder(const char *data_dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/db/LOCK", data_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl))
		fl.l_type = F_UNLCK;
	close(fd);
	return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

/* A process whose main thread is a zombie for 2 s: one that cannot finish dying. */
static int stuck_dying(pid_t pid)
{
	for (int i = 0; i < 20; i++) {
		if (proc_state(pid) != 'Z')
			return 0;
		usleep(100 * 1000);
	}
	return 1;
}

static int abort_conn(unsigned conn)
{
	char path[128];
	int fd, rc = 0;

	snprintf(path, sizeof(path), CONN_DIR "/%u/abort", conn);
	if (access(path, F_OK) && errno == ENOENT)
		mount("fusectl", CONN_DIR, "fusectl", 0, NULL); /* not mounted yet, often */
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

void mfs_wedged_recover(const char *data_dir)
{
	char *path = conn_file(data_dir);
	unsigned conn;
	int pid = 0, rc;
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "re");
	free(path);
	if (!f)
		return;
	rc = fscanf(f, "%u %d", &conn, &pid);
	fclose(f);
	if (rc != 2 || pid <= 0 || pid == getpid() || lock_holder(data_dir) != pid ||
	    !stuck_dying(pid))
		return;
	if ((rc = abort_conn(conn))) {
		fprintf(stderr,
			"mount.modelfs: the daemon of %s (pid %d) was killed while the kernel "
			"waited on it, and its mount hangs; aborting its FUSE connection failed "
			"(%s): run `echo 1 > " CONN_DIR "/%u/abort` as root\n",
			data_dir, pid, strerror(-rc), conn);
		return;
	}
	fprintf(stderr,
		"mount.modelfs: the daemon of %s (pid %d) was killed while the kernel waited "
		"on it; aborted its FUSE connection %u so that it can exit\n", data_dir, pid, conn);
	/* Its store lock goes with it; the open of the store waits for that too. */
	for (int i = 0; i < 50 && proc_state(pid); i++)
		usleep(100 * 1000);
}

/*
 * The same wedge without a kill (SIGTERM, SIGINT): once the FUSE loop has
 * ended, no request is answered, yet the mount stays until close_node
 * unmounts it, after it has joined the threads that tell the kernel of
 * changes (the replica's, the control's).  A READ the kernel sends in
 * between keeps its page locked, and such a thread invalidating that file
 * (a peer's change applied, an evict) waits for the page in the kernel:
 * the join never returned and the daemon never exited (t1403).  Aborting
 * the connection ends every unanswered request with an error and lets
 * that thread return.
 *
 * Only while the mount is still ours: after an unmount the kernel has let
 * the connection's number go (a new mount may have it), and nothing waits
 * on an unmounted connection anyway.  And only as root, who can then
 * detach the mount: libfuse leaves an aborted connection mounted (its
 * unmount sees the descriptor's POLLERR and takes the mount for gone),
 * which a user's daemon could not clear.
 */
void mfs_wedged_loop_ended(const char *mountpoint, unsigned conn)
{
	unsigned now;
	int rc;

	if (geteuid() != 0 || mfs_mountpoint_conn(mountpoint, &now) || now != conn)
		return;
	if ((rc = abort_conn(conn))) {
		log_warn("cannot abort FUSE connection %u of %s (%s): a thread waiting in "
			 "the kernel for an unanswered READ may keep this daemon from exiting",
			 conn, mountpoint, strerror(-rc));
		return;
	}
	if (umount2(mountpoint, MNT_DETACH))
		log_warn("cannot unmount %s: %s", mountpoint, strerror(errno));
}
