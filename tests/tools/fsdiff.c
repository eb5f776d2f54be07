/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential tester: runs one random sequence of file operations (fixed
 * seed) in a reference directory (a tmpfs, the kernel's own filesystem) and
 * in a modelfs mount, step by step, and compares after every step the
 * results (return value, errno, bytes read) and then both trees: names,
 * type, mode, size, nlink, uid, gid, rdev, symlink targets, bytes, user.*
 * xattrs, and whether mtime and ctime moved.  The first divergence is
 * printed with the op number, both results and the ops before it, so that
 * the same seed and count reproduce it (tests/fs/t0380-diff-tmpfs.sh, make
 * check-diff-long).
 *
 *   fsdiff --ref DIR --mnt DIR [--seed N] [--count N] [--procs N]
 *          [--ops=-mknod,-link,...|--ops=open,write,...] [--uid N]
 *          [--full-every N] [--trace] [--watch PATH] [--ignore=ctime,...] [--keep-going]
 *          [--minimize]
 *
 * --minimize runs the seed, then replays subsets of its ops (ddmin) in
 * fresh subtrees and prints the fewest calls that still diverge.
 *
 * Each process works in its own subtree (pN) of both directories; with
 * --procs N, N forked processes run their own op streams (seeds seed*1000+i)
 * at once, against the same mount.  Ops run as root, or (one in five, op
 * kind "user") as an unprivileged uid with setresuid/setresgid; the mount
 * must have allow_other (modelfs always mounts with default_permissions).
 *
 * Intended differences (the write-once design, README.md "Semantics worth
 * knowing") are encoded in allowed() and in what the tree compare leaves
 * out, each with the reason; nothing else is tolerated.
 */
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

#define NSLOTS 6
#define HIST 20
#define MAXIO (64 * 1024)
#define MAXOFF (192 * 1024)
#define EXPLICIT_TIME_MAX 1500000000 /* times utimensat sets are below this */

enum kind {
	K_OPEN, K_CLOSE, K_READ, K_WRITE, K_PREAD, K_PWRITE, K_TRUNCATE, K_FTRUNCATE,
	K_FALLOCATE, K_FSYNC, K_RENAME, K_UNLINK, K_MKDIR, K_RMDIR, K_SYMLINK, K_READLINK,
	K_LINK, K_MKNOD, K_CHMOD, K_CHOWN, K_UTIMENS, K_XATTR, K_MMAP, K_FSTAT, K_USER,
	K_RDTRUNC, K_EXCHANGE, K_FIFOIO, K_NKINDS
};

/* Op kinds, their names for --ops and their weights in the random stream. */
static const struct {
	const char *name;
	int weight;
} kinds[K_NKINDS] = {
	[K_OPEN] = { "open", 14 },	   [K_CLOSE] = { "close", 10 },
	[K_READ] = { "read", 5 },	   [K_WRITE] = { "write", 8 },
	[K_PREAD] = { "pread", 4 },	   [K_PWRITE] = { "pwrite", 6 },
	[K_TRUNCATE] = { "truncate", 3 },  [K_FTRUNCATE] = { "ftruncate", 3 },
	[K_FALLOCATE] = { "fallocate", 3 }, [K_FSYNC] = { "fsync", 2 },
	[K_RENAME] = { "rename", 6 },	   [K_UNLINK] = { "unlink", 4 },
	[K_MKDIR] = { "mkdir", 5 },	   [K_RMDIR] = { "rmdir", 3 },
	[K_SYMLINK] = { "symlink", 3 },	   [K_READLINK] = { "readlink", 2 },
	[K_LINK] = { "link", 3 },	   [K_MKNOD] = { "mknod", 3 },
	[K_CHMOD] = { "chmod", 3 },	   [K_CHOWN] = { "chown", 3 },
	[K_UTIMENS] = { "utimens", 4 },	   [K_XATTR] = { "xattr", 5 },
	[K_MMAP] = { "mmap", 3 },	   [K_FSTAT] = { "fstat", 3 },
	/* not an op: the share of ops run as the unprivileged caller */
	[K_USER] = { "user", 0 },
	/* not ops either: variants that --ops=-NAME leaves out */
	[K_RDTRUNC] = { "rdonly-trunc", 0 }, /* O_RDONLY|O_TRUNC */
	[K_EXCHANGE] = { "exchange", 0 },    /* renameat2 RENAME_EXCHANGE */
	[K_FIFOIO] = { "fifo-io", 0 },	     /* open (and so read and write) a FIFO */
};

struct op {
	enum kind kind;
	int sub;     /* variant within the kind */
	int slot;    /* fd slot, for fd ops */
	int flags;   /* open/rename/xattr/fallocate/link flags */
	mode_t mode;
	off_t off, len;
	uint64_t dseed; /* seed of the bytes written */
	uid_t uid;
	gid_t gid;
	struct timespec ts[2];
	int as_user;
	char path[64], path2[64];
	char xname[16];
};

struct res {
	long ret;
	int err;
	size_t n;
	unsigned char buf[MAXIO + 256];
};

/* One side: the reference directory or the mount, and its fds. */
struct side {
	const char *name;
	char root[512];
	int fd[NSLOTS];
};

struct ent {
	char path[256];
	struct stat st;
	char link[128];
	unsigned char *data; /* regular files: all bytes, when read */
	size_t dlen;
	int have_data;
	char *xattrs; /* "name=value\n"... sorted, for files and directories */
	size_t xlen;
	int have_x;
	int xerr;
};

struct tree {
	struct ent *e;
	int n, cap;
};

static struct side sides[2];
static int slot_open[NSLOTS];
static int slot_flags[NSLOTS];
static char slot_path[NSLOTS][64];
static ino_t slot_ino[NSLOTS];	/* the tmpfs inode behind the slot */
static unsigned slot_ver[NSLOTS]; /* publishes of that inode when the slot opened */
static int slot_created[NSLOTS];  /* its open created the file */
/*
 * Opened while another fd wrote the file (or, for a writer, while readers
 * held it): modelfs gave it direct I/O, for the descriptor's life.
 */
static int slot_direct[NSLOTS];
/*
 * A reader opened while another fd wrote the file: it reads what was
 * written, as on tmpfs, until the last writer closes; then the version
 * that close published (slot_ver), as any reader keeps its version.
 */
static int slot_follow[NSLOTS];
static int slot_pinned[NSLOTS];   /* a follower whose last writer closed */
/*
 * A writer modelfs may give direct I/O (it opened a published file that a
 * reader, follower or not, held, or beside such a writer): no follower
 * then, new readers read the old version (fuse/fs_read.c, followable).
 * More than modelfs does is safe: the rule only allows differences.
 */
static int slot_wdirect[NSLOTS];

/* Publishes (closes of a writable fd) per tmpfs inode: a version count. */
static struct {
	ino_t ino;
	unsigned n;
	off_t size; /* the size of the last published version */
} pubs[1024];
static int npubs;
static int staged(ino_t ino, int except);
static int writable(int slot);
static int old_reader(ino_t ino);
static int max_size_rule(ino_t ino, off_t tmpfs_size, off_t mfs_size);
static int enabled[K_NKINDS];
static uid_t user_uid = 4242;
static gid_t user_gid = 4242;
static int full_every = 256;
static int trace;
static const char *watch; /* --watch PATH: its stat on both sides after every op */
/* --ignore=: exploring past a known bug, never in make check */
static int ignore_mtime, ignore_ctime, ignore_nlink, ignore_size, ignore_mode;
static long opno;
static uint64_t rng;
static char hist[HIST][256];
static struct tree prev[2], cur[2];
static int have_prev;
static ino_t force_ino; /* a tmpfs inode whose bytes are read this step */
static ino_t truncated_ino; /* an empty file truncate(path, 0) named this step */
/*
 * Files whose mtime modelfs marked by that README rule and tmpfs did not:
 * their exact times differ until both move again.
 */
static ino_t excused[64];

static int is_excused(ino_t ino)
{
	for (int i = 0; i < 64; i++)
		if (ino && excused[i] == ino)
			return 1;
	return 0;
}

static void excuse(ino_t ino, int on)
{
	for (int i = 0; i < 64; i++)
		if (on ? !excused[i] : excused[i] == ino) {
			excused[i] = on ? ino : 0;
			if (on)
				return;
		}
}
static const char *proc_tag = "";
static uint64_t proc_seed;
static char flags_used[256]; /* --ops= and --ignore= as given, for the replay line */

static uint64_t rnd(void)
{
	/* splitmix64: the same stream for the same seed everywhere */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
	return n ? (unsigned)(rnd() % n) : 0;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0) {
			s += 0x9e3779b97f4a7c15ULL;
			s ^= s >> 29;
			s *= 0xbf58476d1ce4e5b9ULL;
		}
		p[i] = (unsigned char)(s >> (8 * (i % 8)));
	}
}

/* ---- describing ops and results ------------------------------------------ */

static const char *open_flags_str(int f, char *b, size_t sz)
{
	const char *acc = (f & O_ACCMODE) == O_RDONLY ? "O_RDONLY" :
			  (f & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR";

	snprintf(b, sz, "%s%s%s%s%s%s", acc, f & O_CREAT ? "|O_CREAT" : "", f & O_EXCL ? "|O_EXCL" : "",
		 f & O_TRUNC ? "|O_TRUNC" : "", f & O_APPEND ? "|O_APPEND" : "",
		 f & O_NOFOLLOW ? "|O_NOFOLLOW" : "");
	return b;
}

static void describe(const struct op *o, char *b, size_t sz)
{
	char f[96];
	const char *u = o->as_user ? " [as uid/gid 4242]" : "";
	static const char *const rn_fl[] = { "0", "RENAME_NOREPLACE", "RENAME_EXCHANGE" };
	static const char *const mk[] = { "mkfifo", "mknod S_IFCHR 1,3", "mknod S_IFBLK 240,7",
					  "bind AF_UNIX", "mknod S_IFREG", "mknod S_IFIFO" };
	static const char *const xs[] = { "setxattr", "getxattr", "removexattr", "listxattr",
					  "lsetxattr", "fsetxattr", "fgetxattr" };

	switch (o->kind) {
	case K_OPEN:
		snprintf(b, sz, "fd%d = open(%s, %s, 0%o)%s", o->slot, o->path,
			 open_flags_str(o->flags, f, sizeof(f)), o->mode, u);
		break;
	case K_CLOSE:
		snprintf(b, sz, "close(fd%d)%s", o->slot, u);
		break;
	case K_READ:
		snprintf(b, sz, "read(fd%d, %lld)%s", o->slot, (long long)o->len, u);
		break;
	case K_WRITE:
		snprintf(b, sz, "write(fd%d, %lld bytes seed %" PRIx64 ")%s", o->slot,
			 (long long)o->len, o->dseed, u);
		break;
	case K_PREAD:
		snprintf(b, sz, "pread(fd%d, %lld, off %lld)%s", o->slot, (long long)o->len,
			 (long long)o->off, u);
		break;
	case K_PWRITE:
		snprintf(b, sz, "pwrite(fd%d, %lld bytes seed %" PRIx64 ", off %lld)%s", o->slot,
			 (long long)o->len, o->dseed, (long long)o->off, u);
		break;
	case K_TRUNCATE:
		snprintf(b, sz, "truncate(%s, %lld)%s", o->path, (long long)o->len, u);
		break;
	case K_FTRUNCATE:
		snprintf(b, sz, "ftruncate(fd%d, %lld)%s", o->slot, (long long)o->len, u);
		break;
	case K_FALLOCATE:
		snprintf(b, sz, "fallocate(fd%d, %s, off %lld, len %lld)%s", o->slot,
			 o->flags ? "FALLOC_FL_KEEP_SIZE" : "0", (long long)o->off, (long long)o->len, u);
		break;
	case K_FSYNC:
		snprintf(b, sz, "%s(fd%d)%s", o->sub ? "fdatasync" : "fsync", o->slot, u);
		break;
	case K_RENAME:
		snprintf(b, sz, "renameat2(%s, %s, %s)%s", o->path, o->path2, rn_fl[o->sub], u);
		break;
	case K_UNLINK:
		snprintf(b, sz, "unlink(%s)%s", o->path, u);
		break;
	case K_MKDIR:
		snprintf(b, sz, "mkdir(%s, 0%o)%s", o->path, o->mode, u);
		break;
	case K_RMDIR:
		snprintf(b, sz, "rmdir(%s)%s", o->path, u);
		break;
	case K_SYMLINK:
		snprintf(b, sz, "symlink(\"%s\", %s)%s", o->path2, o->path, u);
		break;
	case K_READLINK:
		snprintf(b, sz, "readlink(%s)%s", o->path, u);
		break;
	case K_LINK:
		snprintf(b, sz, "linkat(%s, %s, %s)%s", o->path, o->path2,
			 o->flags ? "AT_SYMLINK_FOLLOW" : "0", u);
		break;
	case K_MKNOD:
		snprintf(b, sz, "%s(%s, 0%o)%s", mk[o->sub], o->path, o->mode, u);
		break;
	case K_CHMOD:
		if (o->sub == 1)
			snprintf(b, sz, "fchmod(fd%d, 0%o)%s", o->slot, o->mode, u);
		else
			snprintf(b, sz, "chmod(%s, 0%o)%s", o->path, o->mode, u);
		break;
	case K_CHOWN:
		if (o->sub == 2)
			snprintf(b, sz, "fchown(fd%d, %d, %d)%s", o->slot, (int)o->uid, (int)o->gid, u);
		else
			snprintf(b, sz, "%s(%s, %d, %d)%s", o->sub ? "lchown" : "chown", o->path,
				 (int)o->uid, (int)o->gid, u);
		break;
	case K_UTIMENS: {
		char t[2][40];

		for (int i = 0; i < 2; i++) {
			if (o->ts[i].tv_nsec == UTIME_NOW)
				snprintf(t[i], sizeof(t[i]), "UTIME_NOW");
			else if (o->ts[i].tv_nsec == UTIME_OMIT)
				snprintf(t[i], sizeof(t[i]), "UTIME_OMIT");
			else
				snprintf(t[i], sizeof(t[i]), "%lld.%09ld", (long long)o->ts[i].tv_sec,
					 o->ts[i].tv_nsec);
		}
		if (o->sub == 2)
			snprintf(b, sz, "futimens(fd%d, {%s, %s})%s", o->slot, t[0], t[1], u);
		else if (o->sub == 3)
			snprintf(b, sz, "utimensat(%s, NULL)%s", o->path, u);
		else
			snprintf(b, sz, "utimensat(%s, {%s, %s}, %s)%s", o->path, t[0], t[1],
				 o->sub ? "AT_SYMLINK_NOFOLLOW" : "0", u);
		break;
	}
	case K_XATTR:
		if (o->sub >= 5)
			snprintf(b, sz, "%s(fd%d, %s, %lld bytes, flags %d)%s", xs[o->sub], o->slot,
				 o->xname, (long long)o->len, o->flags, u);
		else
			snprintf(b, sz, "%s(%s, %s, %lld bytes, flags %d)%s", xs[o->sub], o->path,
				 o->xname, (long long)o->len, o->flags, u);
		break;
	case K_MMAP:
		if (o->sub == 0)
			snprintf(b, sz, "mmap read of %s (open O_RDONLY, PROT_READ MAP_SHARED)%s", o->path, u);
		else if (o->sub == 1)
			snprintf(b, sz, "mmap read through fd%d (PROT_READ MAP_SHARED)%s", o->slot, u);
		else
			snprintf(b, sz,
				 "mmap write of new %s (O_RDWR|O_CREAT|O_EXCL, ftruncate %lld, "
				 "MAP_SHARED write seed %" PRIx64 ", msync, munmap, close)%s",
				 o->path, (long long)o->len, o->dseed, u);
		break;
	case K_FSTAT:
		snprintf(b, sz, "fstat(fd%d)%s", o->slot, u);
		break;
	default:
		snprintf(b, sz, "?");
	}
}

static void res_str(const struct op *o, const struct res *r, char *b, size_t sz)
{
	if (o->kind == K_FSTAT && r->ret == 0) {
		const long *v = (const long *)r->buf;

		snprintf(b, sz, "0: mode 0%lo size %ld nlink %ld uid %ld gid %ld rdev %lx", v[0], v[1], v[2],
			 v[3], v[4], v[5]);
		return;
	}
	if (r->ret < 0)
		snprintf(b, sz, "%ld %s (%s)", r->ret, strerrorname_np(r->err) ? strerrorname_np(r->err) : "?",
			 strerror(r->err));
	else
		snprintf(b, sz, "%ld (%zu bytes of data)", r->ret, r->n);
}

/* ---- failing ------------------------------------------------------------- */

/*
 * --minimize: the ops of a run are recorded in memory shared with the parent,
 * which then replays subsets of them in fresh subtrees (ddmin) until no op can
 * be dropped without losing the divergence.
 */
struct shared {
	long div_at;   /* index in the replayed list of the op that diverged */
	char sig[96];  /* what diverged: "result open", "tree size"... */
	long nops;
	struct op ops[];
};
static struct shared *shm;
static const struct op *cur_op;
static long replay_idx;

static void signature(const char *msg, char *out, size_t sz)
{
	const char *c = strstr(msg, ": ");

	if (cur_op && !strncmp(msg, hist[opno % HIST], strlen(hist[opno % HIST])))
		snprintf(out, sz, "result %s/%d", kinds[cur_op->kind].name, cur_op->sub);
	else if (strstr(msg, " exists in "))
		snprintf(out, sz, "tree exists");
	else
		snprintf(out, sz, "tree %.*s", c ? (int)strcspn(c + 2, " ") : 0, c ? c + 2 : "");
}

static void show_history(void)
{
	long first = opno - HIST + 1 > 1 ? opno - HIST + 1 : 1;

	fprintf(stderr, "%sthe ops up to here:\n", proc_tag);
	for (long i = first; i <= opno; i++)
		fprintf(stderr, "%s  #%ld %s\n", proc_tag, i, hist[i % HIST]);
}

/*
 * --keep-going: the first divergence is reported, then the stream runs to
 * its end without comparing further (the trees differ from then on), so
 * that every op still reaches the mount: a crash or a hang is found even
 * past a known divergence.  The exit status stays 1.
 */
static int keep_going, closing;
static long divergences;
static jmp_buf next_op;

static void __attribute__((noreturn, format(printf, 1, 2))) diverge(const char *fmt, ...)
{
	va_list ap;
	char msg[2048];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (keep_going && !shm && divergences++) {
		if (closing)
			exit(1);
		longjmp(next_op, 1);
	}
	if (shm) {
		shm->div_at = replay_idx;
		signature(msg, shm->sig, sizeof(shm->sig));
		if (shm->nops < 0) /* a trial: quiet */
			exit(1);
	}
	fprintf(stderr, "%sDIVERGENCE at op #%ld: %s\n", proc_tag, opno, msg);
	show_history();
	fprintf(stderr, "%sreplay: fsdiff --ref DIR --mnt DIR --seed %" PRIu64 " --count %ld%s --minimize\n",
		proc_tag, proc_seed, opno, flags_used);
	if (keep_going && !shm && !closing)
		longjmp(next_op, 1);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%sfsdiff: ", proc_tag);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

/* ---- credentials --------------------------------------------------------- */

/* The real and saved ids stay 0, so the way back to root is open. */
static void become_user(void)
{
	if (setresgid(-1, user_gid, -1) || setresuid(-1, user_uid, -1))
		die("setresuid(%d): %s", (int)user_uid, strerror(errno));
}

static void become_root(void)
{
	if (setresuid(-1, 0, -1) || setresgid(-1, 0, -1))
		die("back to root: %s", strerror(errno));
}

/* ---- running one op on one side -------------------------------------------- */

static void full(const struct side *s, const char *rel, char *out, size_t sz)
{
	snprintf(out, sz, "%s/%s", s->root, rel);
}

static void set(struct res *r, long rc)
{
	r->ret = rc < 0 ? -1 : rc;
	r->err = rc < 0 ? errno : 0;
}

/* A read of a mapping past the bytes the file really has: SIGBUS, reported as a result. */
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_bus(int sig)
{
	if (!bus_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	siglongjmp(bus_jmp, 1);
}

/* memcpy that turns a SIGBUS into -1 */
static int copy_mapped(void *dst, const void *src, size_t n)
{
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return -1;
	}
	bus_armed = 1;
	memcpy(dst, src, n);
	bus_armed = 0;
	return 0;
}

static void run_mmap(struct side *s, const struct op *o, struct res *r)
{
	char p[600];
	struct stat st;
	void *m;
	int fd;

	if (o->sub == 2) {
		/* ret: 0, or minus the step that failed (1 open .. 5 close) */
		int stage = 1;

		full(s, o->path, p, sizeof(p));
		fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			goto fail;
		stage = 2;
		if (ftruncate(fd, o->len) < 0)
			goto fail_fd;
		stage = 3;
		m = mmap(NULL, o->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			goto fail_fd;
		fill(m, o->len, o->dseed);
		stage = 4;
		if (msync(m, o->len, MS_SYNC) < 0) {
			r->err = errno;
			munmap(m, o->len);
			close(fd);
			r->ret = -stage;
			return;
		}
		munmap(m, o->len);
		stage = 5;
		if (close(fd) < 0)
			goto fail;
		r->ret = 0;
		return;
	fail_fd:
		r->err = errno;
		close(fd);
		r->ret = -stage;
		return;
	fail:
		r->err = errno;
		r->ret = -stage;
		return;
	}
	if (o->sub == 1) {
		fd = s->fd[o->slot];
	} else {
		full(s, o->path, p, sizeof(p));
		fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			set(r, -1);
			return;
		}
	}
	r->ret = -1;
	if (fstat(fd, &st) < 0) {
		r->err = errno;
		goto out;
	}
	r->ret = -2;
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		r->ret = 0; /* nothing to map: compared as a success */
		goto out;
	}
	m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		r->err = errno;
		goto out;
	}
	r->n = st.st_size < MAXIO ? st.st_size : MAXIO;
	r->ret = -3;
	if (copy_mapped(r->buf, (char *)m + (st.st_size - r->n), r->n) < 0) { /* the tail */
		r->err = EFAULT; /* stands for SIGBUS */
		r->n = 0;
	} else {
		r->ret = st.st_size;
	}
	munmap(m, st.st_size);
out:
	if (o->sub == 0)
		close(fd);
}

static void run(struct side *s, const struct op *o, struct res *r)
{
	static unsigned char data[MAXIO];
	char p[600], p2[600];
	int fd = o->slot >= 0 ? s->fd[o->slot] : -1;
	long rc = 0;

	memset(r, 0, offsetof(struct res, buf));
	full(s, o->path, p, sizeof(p));
	full(s, o->path2, p2, sizeof(p2));
	if (o->kind == K_WRITE || o->kind == K_PWRITE || (o->kind == K_XATTR && (o->sub == 0 || o->sub == 4 || o->sub == 5)))
		fill(data, o->len, o->dseed);
	if (o->as_user)
		become_user();
	errno = 0;
	switch (o->kind) {
	case K_OPEN:
		/* O_NONBLOCK: a FIFO must not block the tester (no effect on files) */
		rc = open(p, o->flags | O_NONBLOCK | O_CLOEXEC, o->mode);
		s->fd[o->slot] = rc;
		if (rc >= 0)
			rc = 0;
		break;
	case K_CLOSE:
		rc = close(fd);
		s->fd[o->slot] = -1;
		break;
	case K_READ:
		rc = read(fd, r->buf, o->len);
		break;
	case K_WRITE:
		rc = write(fd, data, o->len);
		break;
	case K_PREAD:
		rc = pread(fd, r->buf, o->len, o->off);
		break;
	case K_PWRITE:
		rc = pwrite(fd, data, o->len, o->off);
		break;
	case K_TRUNCATE:
		rc = truncate(p, o->len);
		break;
	case K_FTRUNCATE:
		rc = ftruncate(fd, o->len);
		break;
	case K_FALLOCATE:
		rc = fallocate(fd, o->flags, o->off, o->len);
		break;
	case K_FSYNC:
		rc = o->sub ? fdatasync(fd) : fsync(fd);
		break;
	case K_RENAME: {
		static const unsigned fl[] = { 0, RENAME_NOREPLACE, RENAME_EXCHANGE };

		rc = renameat2(AT_FDCWD, p, AT_FDCWD, p2, fl[o->sub]);
		break;
	}
	case K_UNLINK:
		rc = unlink(p);
		break;
	case K_MKDIR:
		rc = mkdir(p, o->mode);
		break;
	case K_RMDIR:
		rc = rmdir(p);
		break;
	case K_SYMLINK:
		rc = symlink(o->path2, p);
		break;
	case K_READLINK:
		rc = readlink(p, (char *)r->buf, sizeof(r->buf));
		if (rc > 0)
			r->n = rc;
		break;
	case K_LINK:
		rc = linkat(AT_FDCWD, p, AT_FDCWD, p2, o->flags);
		break;
	case K_MKNOD:
		switch (o->sub) {
		case 0:
			rc = mkfifo(p, o->mode);
			break;
		case 1:
			rc = mknod(p, S_IFCHR | o->mode, makedev(1, 3));
			break;
		case 2:
			rc = mknod(p, S_IFBLK | o->mode, makedev(240, 7));
			break;
		case 3: {
			struct sockaddr_un a = { .sun_family = AF_UNIX };
			int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (strlen(p) >= sizeof(a.sun_path))
				die("socket path too long: %s", p);
			strcpy(a.sun_path, p);
			rc = sk < 0 ? -1 : bind(sk, (struct sockaddr *)&a, sizeof(a));
			if (rc < 0)
				r->err = errno;
			if (sk >= 0)
				close(sk);
			if (rc < 0)
				errno = r->err;
			break;
		}
		case 4:
			rc = mknod(p, S_IFREG | o->mode, 0);
			break;
		default:
			rc = mknod(p, S_IFIFO | o->mode, 0);
		}
		break;
	case K_CHMOD:
		rc = o->sub == 1 ? fchmod(fd, o->mode) : chmod(p, o->mode);
		break;
	case K_CHOWN:
		rc = o->sub == 2 ? fchown(fd, o->uid, o->gid) :
		     o->sub == 1 ? lchown(p, o->uid, o->gid) : chown(p, o->uid, o->gid);
		break;
	case K_UTIMENS:
		if (o->sub == 2)
			rc = futimens(fd, o->ts);
		else if (o->sub == 3)
			rc = utimensat(AT_FDCWD, p, NULL, 0);
		else
			rc = utimensat(AT_FDCWD, p, o->ts, o->sub ? AT_SYMLINK_NOFOLLOW : 0);
		break;
	case K_XATTR:
		switch (o->sub) {
		case 0:
			rc = setxattr(p, o->xname, data, o->len, o->flags);
			break;
		case 1:
			rc = getxattr(p, o->xname, r->buf, o->len);
			break;
		case 2:
			rc = removexattr(p, o->xname);
			break;
		case 3: {
			/* sorted: the order of names is the filesystem's */
			char names[4096], *q;
			ssize_t n = listxattr(p, names, o->len ? sizeof(names) : 0);
			char *v[64];
			int nv = 0;

			rc = n;
			if (n <= 0 || !o->len)
				break;
			for (q = names; q < names + n && nv < 64; q += strlen(q) + 1)
				v[nv++] = q;
			for (int i = 1; i < nv; i++)
				for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
					char *t = v[j];

					v[j] = v[j - 1];
					v[j - 1] = t;
				}
			for (int i = 0; i < nv; i++) {
				size_t l = strlen(v[i]) + 1;

				memcpy(r->buf + r->n, v[i], l);
				r->n += l;
			}
			break;
		}
		case 4:
			rc = lsetxattr(p, o->xname, data, o->len, o->flags);
			break;
		case 5:
			rc = fsetxattr(fd, o->xname, data, o->len, o->flags);
			break;
		default:
			rc = fgetxattr(fd, o->xname, r->buf, o->len);
		}
		/* A size query (len 0) writes no bytes: compare its length only. */
		if ((o->sub == 1 || o->sub == 6) && rc > 0 && o->len)
			r->n = rc;
		break;
	case K_MMAP:
		run_mmap(s, o, r);
		if (o->as_user)
			become_root();
		return;
	case K_FSTAT: {
		struct stat st;

		rc = fstat(fd, &st);
		if (rc == 0) {
			/* the fields that must match; st_ino and times are not among them */
			long v[] = { st.st_mode, st.st_size, st.st_nlink, st.st_uid, st.st_gid,
				     S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? (long)st.st_rdev : 0 };

			if (S_ISDIR(st.st_mode))
				v[1] = 0; /* a directory's size is the filesystem's own */
			memcpy(r->buf, v, sizeof(v));
			r->n = sizeof(v);
		}
		break;
	}
	default:
		break;
	}
	set(r, rc);
	if (o->kind == K_READ || o->kind == K_PREAD)
		r->n = rc > 0 ? rc : 0;
	if (o->as_user)
		become_root();
}

/* ---- walking and comparing trees ------------------------------------------- */

static void tree_clear(struct tree *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->e[i].data);
		free(t->e[i].xattrs);
	}
	t->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct ent *find(const struct tree *t, const char *path)
{
	int lo = 0, hi = t->n - 1;

	/* walk() adds entries in sorted order of full path */
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(t->e[mid].path, path);

		if (!c)
			return &t->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static void read_all(const char *p, struct ent *e)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	size_t cap = e->st.st_size + 1;
	ssize_t n;

	e->have_data = 1;
	e->data = malloc(cap);
	e->dlen = 0;
	if (fd < 0 || !e->data) {
		e->dlen = (size_t)-errno;
		if (fd >= 0)
			close(fd);
		return;
	}
	for (;;) {
		if (e->dlen == cap) {
			cap *= 2;
			e->data = realloc(e->data, cap);
			if (!e->data)
				die("out of memory");
		}
		n = read(fd, e->data + e->dlen, cap - e->dlen);
		if (n < 0) {
			e->dlen = (size_t)-errno;
			break;
		}
		if (n == 0)
			break;
		e->dlen += n;
	}
	close(fd);
}

static void read_xattrs(const char *p, struct ent *e)
{
	char names[4096], val[MAXIO], *v[64];
	ssize_t n = llistxattr(p, names, sizeof(names));
	int nv = 0;
	size_t cap = 256;

	e->have_x = 1;
	e->xerr = n < 0 ? errno : 0;
	e->xattrs = calloc(1, cap);
	e->xlen = 0;
	if (n <= 0 || !e->xattrs)
		return;
	for (char *q = names; q < names + n && nv < 64; q += strlen(q) + 1)
		v[nv++] = q;
	qsort(v, nv, sizeof(*v), cmp_str);
	for (int i = 0; i < nv; i++) {
		ssize_t l = lgetxattr(p, v[i], val, sizeof(val));
		size_t need = strlen(v[i]) + 2 + (l > 0 ? l : 16);

		if (strncmp(v[i], "user.", 5))
			continue; /* security.* and the like are not the tester's */
		while (e->xlen + need > cap) {
			cap *= 2;
			e->xattrs = realloc(e->xattrs, cap);
			if (!e->xattrs)
				die("out of memory");
		}
		e->xlen += sprintf(e->xattrs + e->xlen, "%s=", v[i]);
		if (l >= 0) {
			memcpy(e->xattrs + e->xlen, val, l);
			e->xlen += l;
		} else {
			e->xlen += sprintf(e->xattrs + e->xlen, "<err %d>", errno);
		}
		e->xattrs[e->xlen++] = '\n';
	}
}

static void tree_add(struct tree *t, const char *rel, const struct stat *st)
{
	struct ent *e;

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->e = realloc(t->e, t->cap * sizeof(*t->e));
		if (!t->e)
			die("out of memory");
	}
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", rel);
	e->st = *st;
}

/*
 * Whether a file's bytes and xattrs are read this step: when its stat moved
 * on either side (tmpfs stamps every change with a distinct time), the op
 * named it, or every full_every steps.
 */
static int changed(const struct ent *p, const struct stat *st)
{
	return !p || p->st.st_ino != st->st_ino || p->st.st_size != st->st_size ||
	       p->st.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	       p->st.st_mtim.tv_nsec != st->st_mtim.tv_nsec ||
	       p->st.st_ctim.tv_sec != st->st_ctim.tv_sec || p->st.st_ctim.tv_nsec != st->st_ctim.tv_nsec ||
	       p->st.st_mode != st->st_mode;
}

static int named(const char *path, const char *opath);
static int changed(const struct ent *p, const struct stat *st);

/* The names prev[side] saw in directory rel (what a relisting would give, if nothing moved). */
static int prev_names(int side, const char *rel, char **nm, int max)
{
	size_t l = strlen(rel);
	int n = 0;

	for (int i = 0; i < prev[side].n && n < max; i++) {
		const char *p = prev[side].e[i].path, *rest;

		if (l && (strncmp(p, rel, l) || p[l] != '/'))
			continue;
		rest = l ? p + l + 1 : p;
		if (!strchr(rest, '/'))
			nm[n++] = strdup(rest);
	}
	return n;
}

/*
 * Adds the entries under rel to cur[side].  A directory is read again when
 * the op named it or a path below it, its stat moved, or every full_every
 * steps; otherwise the names of the last step are stat'ed again (readdir is
 * the costly call on the mount, stat is cached), and a name gone sends it
 * back to readdir.
 */
static void walk(int side, const char *rel, const struct stat *dst, const struct op *o, int deep)
{
	struct side *s = &sides[side];
	char p[600], sub[300];
	DIR *d;
	struct dirent *de;
	char *nm[256];
	int n = 0, start = cur[side].n, relist;

	relist = deep || !have_prev || !*rel || named(rel, o->path) || named(rel, o->path2) ||
		 changed(find(&prev[side], rel), dst);
again:
	if (relist) {
		snprintf(p, sizeof(p), "%s%s%s", s->root, *rel ? "/" : "", rel);
		d = opendir(p);
		if (!d)
			diverge("%s: opendir %s: %s", s->name, p, strerror(errno));
		while ((de = readdir(d)) && n < 256) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			nm[n++] = strdup(de->d_name);
		}
		closedir(d);
	} else {
		n = prev_names(side, rel, nm, 256);
	}
	qsort(nm, n, sizeof(*nm), cmp_str);
	for (int i = 0; i < n; i++) {
		struct stat st;
		struct ent *e;

		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", nm[i]);
		if (strlen(sub) >= sizeof(cur[side].e->path))
			die("path too deep: %s", sub);
		snprintf(p, sizeof(p), "%s/%s", s->root, sub);
		if (lstat(p, &st) < 0) {
			if (!relist) {
				/* gone without its directory's stat moving: read it again */
				while (cur[side].n > start) {
					struct ent *x = &cur[side].e[--cur[side].n];

					free(x->data);
					free(x->xattrs);
				}
				for (int j = 0; j < n; j++)
					free(nm[j]);
				n = 0;
				relist = 1;
				goto again;
			}
			diverge("%s: lstat %s (listed by readdir): %s", s->name, p, strerror(errno));
		}
		tree_add(&cur[side], sub, &st);
		e = &cur[side].e[cur[side].n - 1];
		if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlink(p, e->link, sizeof(e->link) - 1);

			e->link[l > 0 ? l : 0] = 0;
		}
		if (S_ISDIR(st.st_mode))
			walk(side, sub, &st, o, deep);
	}
	for (int i = 0; i < n; i++)
		free(nm[i]);
}

static int named(const char *path, const char *opath)
{
	size_t l = strlen(path);

	return !strncmp(path, opath, l) && (opath[l] == 0 || opath[l] == '/');
}

/* Reads bytes and xattrs of the entries that may have changed (see changed()). */
static void read_contents(const struct op *o, int deep)
{
	for (int i = 0; i < cur[0].n; i++) {
		struct ent *e[2] = { &cur[0].e[i], NULL };
		int force;

		e[1] = (struct ent *)find(&cur[1], e[0]->path);
		if (!e[1])
			continue; /* compare_trees() reports it */
		force = deep || !have_prev || (force_ino && e[0]->st.st_ino == force_ino) || changed(find(&prev[0], e[0]->path), &e[0]->st) ||
			changed(find(&prev[1], e[1]->path), &e[1]->st) || named(e[0]->path, o->path) ||
			named(e[0]->path, o->path2);
		if (!force)
			continue;
		for (int s = 0; s < 2; s++) {
			char p[600];

			snprintf(p, sizeof(p), "%s/%s", sides[s].root, e[s]->path);
			if (S_ISREG(e[s]->st.st_mode))
				read_all(p, e[s]);
			if (S_ISREG(e[s]->st.st_mode) || S_ISDIR(e[s]->st.st_mode))
				read_xattrs(p, e[s]);
		}
	}
}

static const char *ftype(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" :
	       S_ISFIFO(m) ? "fifo" : S_ISCHR(m) ? "chardev" : S_ISBLK(m) ? "blockdev" :
	       S_ISSOCK(m) ? "socket" : "?";
}

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void compare_ent(const struct ent *a, const struct ent *b)
{
	const struct stat *x = &a->st, *y = &b->st;
	const char *p = a->path;

	if ((x->st_mode & S_IFMT) != (y->st_mode & S_IFMT))
		diverge("%s: type %s in tmpfs, %s in modelfs", p, ftype(x->st_mode), ftype(y->st_mode));
	if (x->st_mode != y->st_mode && !ignore_mode)
		diverge("%s: mode 0%o in tmpfs, 0%o in modelfs", p, x->st_mode, y->st_mode);
	if (x->st_uid != y->st_uid || x->st_gid != y->st_gid)
		diverge("%s: owner %d:%d in tmpfs, %d:%d in modelfs", p, (int)x->st_uid, (int)x->st_gid,
			(int)y->st_uid, (int)y->st_gid);
	if (x->st_nlink != y->st_nlink && !ignore_nlink)
		diverge("%s: nlink %ld in tmpfs, %ld in modelfs", p, (long)x->st_nlink, (long)y->st_nlink);
	/* a directory's size is each filesystem's own (tmpfs counts entries) */
	if (!S_ISDIR(x->st_mode) && x->st_size != y->st_size && !ignore_size &&
	    !(S_ISREG(x->st_mode) && max_size_rule(x->st_ino, x->st_size, y->st_size)))
		diverge("%s: size %lld in tmpfs, %lld in modelfs", p, (long long)x->st_size,
			(long long)y->st_size);
	if ((S_ISCHR(x->st_mode) || S_ISBLK(x->st_mode)) && x->st_rdev != y->st_rdev)
		diverge("%s: rdev %u,%u in tmpfs, %u,%u in modelfs", p, major(x->st_rdev),
			minor(x->st_rdev), major(y->st_rdev), minor(y->st_rdev));
	if (S_ISLNK(x->st_mode) && strcmp(a->link, b->link))
		diverge("%s: symlink to \"%s\" in tmpfs, \"%s\" in modelfs", p, a->link, b->link);
	/*
	 * Times set explicitly (all below EXPLICIT_TIME_MAX) must be kept
	 * exactly, but for a FIFO whose pipe I/O moved tmpfs's time (README:
	 * the daemon never sees it).
	 */
	if (!ignore_mtime && !(truncated_ino && truncated_ino == x->st_ino) && !is_excused(x->st_ino) &&
	    !(S_ISFIFO(x->st_mode) && x->st_mtim.tv_sec >= EXPLICIT_TIME_MAX) &&
	    (x->st_mtim.tv_sec < EXPLICIT_TIME_MAX || y->st_mtim.tv_sec < EXPLICIT_TIME_MAX) &&
	    ns(&x->st_mtim) != ns(&y->st_mtim))
		diverge("%s: mtime %lld.%09ld in tmpfs, %lld.%09ld in modelfs", p,
			(long long)x->st_mtim.tv_sec, x->st_mtim.tv_nsec, (long long)y->st_mtim.tv_sec,
			y->st_mtim.tv_nsec);
	/*
	 * A file a writable fd has open: a new open reads the last published
	 * version until that fd closes (README: commit on close); its bytes are
	 * compared through the writer's fd (read/pread ops) and after the close.
	 */
	if (a->have_data && b->have_data && !staged(x->st_ino, -1)) {
		if (a->dlen != b->dlen)
			diverge("%s: read %lld bytes in tmpfs, %lld in modelfs (negative: -errno)", p,
				(long long)(ssize_t)a->dlen, (long long)(ssize_t)b->dlen);
		if ((ssize_t)a->dlen > 0 && memcmp(a->data, b->data, a->dlen)) {
			size_t i = 0;

			while (a->data[i] == b->data[i])
				i++;
			diverge("%s: bytes differ from offset %zu (tmpfs %02x, modelfs %02x)", p, i,
				a->data[i], b->data[i]);
		}
	}
	if (a->have_x && b->have_x &&
	    (a->xerr != b->xerr || a->xlen != b->xlen || memcmp(a->xattrs, b->xattrs, a->xlen)))
		diverge("%s: xattrs differ: tmpfs (err %d) {%.*s}, modelfs (err %d) {%.*s}", p, a->xerr,
			(int)a->xlen, a->xattrs, b->xerr, (int)b->xlen, b->xattrs);
}

/* Whether a time moved since the last step, on one side. */
/* The kernel's coarse clock just before the op ran on tmpfs. */
static struct timespec op_tick;

/*
 * Whether a tmpfs time t is from the tick the op ran in (or later): a stamp
 * the op took from the coarse clock may then equal it.
 */
static int within_tick(const struct timespec *t)
{
	return t->tv_sec > op_tick.tv_sec ||
	       (t->tv_sec == op_tick.tv_sec && t->tv_nsec >= op_tick.tv_nsec);
}

static int moved(const struct timespec *now, const struct timespec *before)
{
	return ns(now) != ns(before);
}

static void compare_trees(const struct op *o)
{
	struct tree *a = &cur[0], *b = &cur[1];
	int i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->e[i].path, b->e[j].path);

		if (c < 0)
			diverge("%s (%s) exists in tmpfs, not in modelfs", a->e[i].path,
				ftype(a->e[i].st.st_mode));
		if (c > 0)
			diverge("%s (%s) exists in modelfs, not in tmpfs", b->e[j].path,
				ftype(b->e[j].st.st_mode));
		compare_ent(&a->e[i], &b->e[j]);
		if (have_prev) {
			const struct ent *pa = find(&prev[0], a->e[i].path), *pb = find(&prev[1], b->e[j].path);

			/*
			 * Whether a time moved says something only about one object:
			 * after a rename over the path, or an unlink and a create,
			 * tmpfs's coarse clock may give both the same time while
			 * modelfs's does not.
			 */
			if (pa && pb && pa->st.st_ino == a->e[i].st.st_ino) {
				int ma = moved(&a->e[i].st.st_mtim, &pa->st.st_mtim),
				    mb = moved(&b->e[j].st.st_mtim, &pb->st.st_mtim);
				int ca = moved(&a->e[i].st.st_ctim, &pa->st.st_ctim),
				    cb = moved(&b->e[j].st.st_ctim, &pb->st.st_ctim);

				/*
				 * README: truncate(path, 0) of an empty file marks mtime
				 * and ctime, as open(O_TRUNC) does (FUSE sends both alike).
				 */
				if (!ma && !ca && mb && cb && truncated_ino && truncated_ino == a->e[i].st.st_ino) {
					ma = ca = 1;
					if (!is_excused(truncated_ino))
						excuse(truncated_ino, 1);
				} else if (ma && mb) {
					excuse(a->e[i].st.st_ino, 0);
				}
				/*
				 * tmpfs stamps times from the kernel's coarse clock (one
				 * tick, 1-10 ms): a change within the tick of the last one
				 * leaves the time as it was.  modelfs's clock is fine.
				 */
				if (!ma && mb && within_tick(&a->e[i].st.st_mtim))
					ma = 1;
				if (!ca && cb && within_tick(&a->e[i].st.st_ctim))
					ca = 1;
				/*
				 * README: I/O on a FIFO is the kernel's pipe and never
				 * reaches the daemon, so it moves no time there.
				 */
				if (S_ISFIFO(a->e[i].st.st_mode) && ma && !mb && ca && !cb)
					ma = ca = 0;
				if (ma != mb && !ignore_mtime)
					diverge("%s: mtime %s in tmpfs but %s in modelfs", a->e[i].path,
						ma ? "changed" : "did not change", mb ? "changed" : "did not change");
				if (ca != cb && !ignore_ctime)
					diverge("%s: ctime %s in tmpfs but %s in modelfs", a->e[i].path,
						ca ? "changed" : "did not change", cb ? "changed" : "did not change");
			}
		}
		i++;
		j++;
	}
}

static void snapshot(const struct op *o, int deep)
{
	struct tree t;

	for (int s = 0; s < 2; s++) {
		tree_clear(&cur[s]);
		walk(s, "", NULL, o, deep);
	}
	read_contents(o, deep);
	compare_trees(o);
	for (int s = 0; s < 2; s++) {
		t = prev[s];
		prev[s] = cur[s];
		cur[s] = t;
		tree_clear(&cur[s]);
	}
	have_prev = 1;
}

/* ---- intended differences --------------------------------------------------- */

static unsigned *pub_count(ino_t ino)
{
	for (int i = 0; i < npubs; i++)
		if (pubs[i].ino == ino)
			return &pubs[i].n;
	if (npubs == (int)(sizeof(pubs) / sizeof(*pubs)))
		die("too many inodes");
	pubs[npubs].ino = ino;
	pubs[npubs].n = 0;
	pubs[npubs].size = 0;
	return &pubs[npubs++].n;
}

static off_t *pub_size(ino_t ino)
{
	pub_count(ino);
	for (int i = 0; i < npubs; i++)
		if (pubs[i].ino == ino)
			return &pubs[i].size;
	return NULL; /* not reached */
}

/* Whether a reader's fd (not a writer's) has the tmpfs inode ino open. */
static int any_wdirect(ino_t ino, int except)
{
	for (int i = 0; i < NSLOTS; i++)
		if (i != except && slot_open[i] && writable(i) && slot_wdirect[i] && slot_ino[i] == ino)
			return 1;
	return 0;
}

static int any_reader(ino_t ino, int except)
{
	for (int i = 0; i < NSLOTS; i++)
		if (i != except && slot_open[i] && !writable(i) && slot_ino[i] == ino)
			return 1;
	return 0;
}

static int old_reader(ino_t ino)
{
	for (int i = 0; i < NSLOTS; i++)
		if (slot_open[i] && !writable(i) && !slot_follow[i] && slot_ino[i] == ino)
			return 1;
	return 0;
}

/* Whether a follower whose last writer closed has the tmpfs inode ino open. */
static int settled_follower(ino_t ino)
{
	for (int i = 0; i < NSLOTS; i++)
		if (slot_open[i] && !writable(i) && slot_follow[i] && slot_pinned[i] &&
		    slot_ino[i] == ino)
			return 1;
	return 0;
}

/*
 * README, "What write-once versions still refuse": stat of a file being
 * rewritten while readers hold the old version gives the larger of the two
 * sizes, so old readers are not cut short.
 */
static int max_size_rule(ino_t ino, off_t tmpfs_size, off_t mfs_size)
{
	off_t old = *pub_size(ino);

	return staged(ino, -1) && old_reader(ino) &&
	       mfs_size == (tmpfs_size > old ? tmpfs_size : old);
}

/*
 * A slot that may write, or whose open created the file: O_CREAT with any
 * access mode publishes the new file at close as O_WRONLY does (issue 9).
 */
static int writable(int slot)
{
	return slot_open[slot] && ((slot_flags[slot] & O_ACCMODE) != O_RDONLY || slot_created[slot]);
}

/* Whether a writable slot other than except has the tmpfs inode ino open. */
static int staged(ino_t ino, int except)
{
	for (int i = 0; i < NSLOTS; i++)
		if (i != except && writable(i) && slot_ino[i] == ino)
			return 1;
	return 0;
}

/*
 * Whether the bytes seen through slot may be the version it opened rather
 * than tmpfs's: README "Write once, commit on close" (bytes written through
 * another fd become visible when that fd closes) and "Versions" (a reader
 * that had the old version open keeps reading it).
 */
static int stale_view(int slot)
{
	if (slot < 0 || !slot_open[slot] || writable(slot))
		return 0;
	if (slot_follow[slot] && !slot_pinned[slot])
		return 0;
	return staged(slot_ino[slot], slot) || *pub_count(slot_ino[slot]) != slot_ver[slot];
}

/*
 * Returns why a difference between the results is intended, or NULL.  Only
 * what README.md documents or the write-once design implies belongs here.
 */
static const char *allowed(const struct op *o, const struct res *a, const struct res *b)
{
	struct stat st;
	char p[600];

	switch (o->kind) {
	case K_FSTAT:
		if (slot_pinned[o->slot] &&
		    (old_reader(slot_ino[o->slot]) ||
		     (!fstat(sides[0].fd[o->slot], &st) && !st.st_nlink)))
			return "fstat by a reader that followed a writer, while readers of the old "
			       "version hold the inode or once the file was removed: the old "
			       "version's size (README)";
		if (a->ret == 0 && b->ret == 0 && !memcmp(a->buf, b->buf, sizeof(long)) &&
		    !memcmp(a->buf + 2 * sizeof(long), b->buf + 2 * sizeof(long), 4 * sizeof(long)) &&
		    max_size_rule(slot_ino[o->slot], ((const long *)a->buf)[1], ((const long *)b->buf)[1]))
			return "stat of a file being rewritten while readers hold the old version: "
			       "the larger size (README)";
		/* fall through */
	case K_READ:
		if (slot_direct[o->slot] && writable(o->slot) && (slot_flags[o->slot] & O_APPEND))
			return "read at the offset of an O_APPEND writer with direct I/O: the kernel "
			       "moves it by the size it shows (README)";
		/* fall through */
	case K_PREAD:
		if (stale_view(o->slot))
			return "a reader's fd shows the version it opened (README: commit on close, versions)";
		break;
	case K_MMAP:
		/*
		 * A version may be old, never torn: fstat's size must map whole,
		 * except for a reader of the old version while a rewrite grows
		 * the file (README: stat gives the larger size, the old version
		 * ends where it ends).
		 */
		if (b->ret == -3 && b->err == EFAULT) {
			if (o->sub == 1 && stale_view(o->slot) && staged(slot_ino[o->slot], o->slot))
				return "mmap by a reader of the old version past its end while a rewrite "
				       "grows the file: SIGBUS (README)";
			break;
		}
		if (o->sub == 1 && stale_view(o->slot))
			return "a reader's fd shows the version it opened (README: commit on close, versions)";
		/* The fstat rule above (K_FSTAT): a mapping goes by the size fstat shows. */
		if (o->sub == 1 && slot_pinned[o->slot] && b->ret >= 0 && b->ret != a->ret &&
		    (old_reader(slot_ino[o->slot]) ||
		     (!fstat(sides[0].fd[o->slot], &st) && !st.st_nlink)))
			return "mmap by a reader that followed a writer, while readers of the old "
			       "version hold the inode or once the file was removed: by the old "
			       "version's size, as fstat shows (README)";
		if (o->sub == 1 && slot_direct[o->slot] && b->ret == -2 && b->err == ENODEV)
			return "shared mmap through an fd opened while the file was being written: "
			       "ENODEV (README)";
		full(&sides[0], o->path, p, sizeof(p));
		if (o->sub == 0 && !stat(p, &st) && staged(st.st_ino, -1)) {
			if (b->ret == -2 && b->err == ENODEV)
				return "shared mmap of a file still open for writing: ENODEV (README)";
			if (b->ret >= 0)
				return "a new open of a file being written sees the last published version "
				       "(README: commit on close)";
		}
		break;
	default:
		break;
	}
	return NULL;
}

/* ---- generating ops ------------------------------------------------------- */

static const char *const names[] = { "a", "b", "c", "d" };

static void rand_path(char *out, size_t sz)
{
	/* a known path of the reference tree most of the time: ops hit objects */
	const char *known = have_prev && prev[0].n ? prev[0].e[rn(prev[0].n)].path : "";

	if (*known && strlen(known) < sz - 8 && rn(10) < 6) {
		memcpy(out, known, strlen(known) + 1);
		if (strlen(out) < 40 && rn(8) == 0)
			snprintf(out + strlen(out), sz - strlen(out), "/%s", names[rn(4)]);
		return;
	}
	int depth = rn(20) < 10 ? 1 : rn(10) < 7 ? 2 : 3;

	out[0] = 0;
	for (int i = 0; i < depth; i++)
		snprintf(out + strlen(out), sz - strlen(out), "%s%s", i ? "/" : "", names[rn(4)]);
}

static int pick_slot(int want_open)
{
	int c[NSLOTS], n = 0;

	for (int i = 0; i < NSLOTS; i++)
		if (slot_open[i] == want_open)
			c[n++] = i;
	return n ? c[rn(n)] : -1;
}

static off_t rand_len(unsigned max)
{
	switch (rn(4)) {
	case 0:
		return rn(16);
	case 1:
		return rn(4096 + 2);
	default:
		return rn(max + 1);
	}
}

static mode_t rand_mode(void)
{
	static const mode_t m[] = { 0644, 0600, 0755, 0700, 0444, 0000, 0666, 0777, 0640,
				    04755, 02755, 01777, 0711, 0622 };

	return m[rn(sizeof(m) / sizeof(*m))];
}

static void gen(struct op *o)
{
	int total = 0, r, k;
	char p[600];
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->slot = -1;
	for (k = 0; k < K_NKINDS; k++)
		total += enabled[k] ? kinds[k].weight : 0;
again:
	r = rn(total);
	for (k = 0; k < K_NKINDS; k++) {
		if (!enabled[k])
			continue;
		if (r < kinds[k].weight)
			break;
		r -= kinds[k].weight;
	}
	o->kind = k;
	o->as_user = enabled[K_USER] && rn(5) == 0;
	rand_path(o->path, sizeof(o->path));
	rand_path(o->path2, sizeof(o->path2));
	o->len = rand_len(MAXIO);
	o->off = rn(4) ? rn(MAXOFF) : rn(8192);
	o->dseed = rnd();
	o->mode = rand_mode();
	switch (o->kind) {
	case K_OPEN: {
		static const int acc[] = { O_RDONLY, O_WRONLY, O_RDWR };
		static const int extra[] = { 0, O_CREAT, O_CREAT | O_EXCL, O_TRUNC, O_CREAT | O_TRUNC,
					     O_APPEND, O_CREAT | O_APPEND, O_CREAT | O_EXCL | O_APPEND,
					     O_TRUNC | O_APPEND, O_CREAT | O_TRUNC | O_APPEND };
		const struct ent *e;

		o->slot = pick_slot(0);
		if (o->slot < 0)
			goto again;
		o->flags = acc[rn(3)] | extra[rn(10)] | (rn(16) ? 0 : O_NOFOLLOW);
		if (!enabled[K_RDTRUNC] && (o->flags & O_ACCMODE) == O_RDONLY)
			o->flags &= ~O_TRUNC;
		/*
		 * One writer at a time per file: a second writable open of a file
		 * being written stages its own version from the last published one,
		 * and the last close wins (write-once versions: README "Write once,
		 * commit on close", "Versions"); tmpfs merges both.  So the second
		 * open is made a reader.
		 */
		full(&sides[0], o->path, p, sizeof(p));
		if (!stat(p, &st) && S_ISREG(st.st_mode) && staged(st.st_ino, -1)) {
			o->flags &= ~(O_ACCMODE | O_TRUNC);
			o->flags |= O_RDONLY;
		}
		e = have_prev ? find(&prev[0], o->path) : NULL;
		if (e && S_ISBLK(e->st.st_mode))
			o->flags |= O_NOFOLLOW; /* no device behind it, but never open one */
		if (e && S_ISBLK(e->st.st_mode))
			goto again;
		full(&sides[0], o->path, p, sizeof(p));
		if (!enabled[K_FIFOIO] && !stat(p, &st) && S_ISFIFO(st.st_mode))
			goto again;
		break;
	}
	case K_CLOSE:
	case K_READ:
	case K_WRITE:
	case K_PREAD:
	case K_PWRITE:
	case K_FTRUNCATE:
	case K_FSYNC:
	case K_FSTAT:
		o->slot = pick_slot(1);
		if (o->slot < 0)
			goto again;
		o->sub = rn(2);
		if (o->kind == K_FTRUNCATE || o->kind == K_TRUNCATE)
			o->len = rn(4) ? rn(MAXOFF + MAXIO) : 0;
		break;
	case K_FALLOCATE:
		o->slot = pick_slot(1);
		if (o->slot < 0)
			goto again;
		o->flags = rn(2) ? FALLOC_FL_KEEP_SIZE : 0;
		o->len = 1 + rn(MAXIO);
		break;
	case K_TRUNCATE:
		o->len = rn(4) ? rn(MAXOFF + MAXIO) : 0;
		break;
	case K_RENAME:
		o->sub = rn(6) < 3 ? 0 : rn(2) + 1;
		if (o->sub == 2 && !enabled[K_EXCHANGE])
			o->sub = 1;
		break;
	case K_SYMLINK: {
		static const char *const t[] = { "a", "b", "../a", "../b/c", "c/d", "d", "/nonexistent/fsdiff", "." };

		snprintf(o->path2, sizeof(o->path2), "%s", t[rn(8)]);
		/*
		 * A target never leaves the subtree: outside it the two sides
		 * differ.  The absolute one dangles for good: its parent does not
		 * exist, so an O_CREAT through the link cannot create it (a plain
		 * "/nonexistent" became a file both sides shared).
		 */
		if (!strchr(o->path, '/') && !strncmp(o->path2, "../", 3))
			memmove(o->path2, o->path2 + 3, strlen(o->path2 + 3) + 1);
		break;
	}
	case K_LINK:
		o->flags = rn(4) ? 0 : AT_SYMLINK_FOLLOW;
		break;
	case K_MKNOD:
		o->sub = rn(6);
		break;
	case K_CHMOD:
		o->sub = rn(3) == 0 && pick_slot(1) >= 0;
		if (o->sub)
			o->slot = pick_slot(1);
		break;
	case K_CHOWN: {
		static const int ids[] = { 0, 4242, 4343, -1 };

		o->sub = rn(3);
		if (o->sub == 2 && (o->slot = pick_slot(1)) < 0)
			o->sub = 0;
		o->uid = ids[rn(4)];
		o->gid = ids[rn(4)];
		break;
	}
	case K_UTIMENS:
		o->sub = rn(4);
		if (o->sub == 2 && (o->slot = pick_slot(1)) < 0)
			o->sub = 0;
		for (int i = 0; i < 2; i++) {
			switch (rn(4)) {
			case 0:
				o->ts[i].tv_nsec = UTIME_NOW;
				break;
			case 1:
				o->ts[i].tv_nsec = UTIME_OMIT;
				break;
			default:
				o->ts[i].tv_sec = 1000000000 + rn(100000);
				o->ts[i].tv_nsec = rn(1000000000);
			}
		}
		break;
	case K_XATTR:
		o->sub = rn(7);
		if (o->sub >= 5 && (o->slot = pick_slot(1)) < 0)
			o->sub = rn(5);
		snprintf(o->xname, sizeof(o->xname), "user.k%u", rn(3));
		o->flags = rn(3) == 0 ? XATTR_CREATE : rn(3) == 0 ? XATTR_REPLACE : 0;
		o->len = rn(4) == 0 ? 0 : rn(300);
		if (o->sub == 1 || o->sub == 6)
			o->len = rn(8) ? 4096 : rn(8); /* a short buffer: ERANGE */
		if (o->sub == 3)
			o->len = rn(8) ? 1 : 0; /* 0: the size query */
		break;
	case K_MMAP:
		o->sub = rn(3);
		if (o->sub == 1) {
			o->slot = pick_slot(1);
			if (o->slot < 0 || (slot_flags[o->slot] & O_ACCMODE) == O_WRONLY)
				o->sub = 0;
		}
		o->len = 1 + rn(3 * 4096);
		break;
	default:
		break;
	}
}

/* ---- the loop -------------------------------------------------------------- */

static void step(struct op *o)
{
	static struct res ra, rb;
	char d[256], sa[160], sb[160];
	const char *why;
	int deep = opno % full_every == 0;

	describe(o, d, sizeof(d));
	snprintf(hist[opno % HIST], sizeof(hist[0]), "%s", d);
	cur_op = o;
	if (shm && shm->nops >= 0) {
		shm->ops[shm->nops++] = *o;
		replay_idx = shm->nops - 1;
	}
	if (trace)
		fprintf(stderr, "%s#%ld %s\n", proc_tag, opno, d);
	if (o->kind == K_CLOSE && writable(o->slot)) {
		struct stat st;

		++*pub_count(slot_ino[o->slot]);
		if (!fstat(sides[0].fd[o->slot], &st))
			*pub_size(slot_ino[o->slot]) = st.st_size;
		/* The last writer: its followers keep the version it published. */
		for (int i = 0; i < NSLOTS && !staged(slot_ino[o->slot], o->slot); i++)
			if (slot_open[i] && slot_follow[i] && !slot_pinned[i] &&
			    slot_ino[i] == slot_ino[o->slot]) {
				slot_ver[i] = *pub_count(slot_ino[o->slot]);
				slot_pinned[i] = 1;
			}
	}
	if (o->kind == K_OPEN) {
		char p[600];
		struct stat st;

		/* the version a rewrite starts from */
		full(&sides[0], o->path, p, sizeof(p));
		if (!stat(p, &st) && S_ISREG(st.st_mode) && !staged(st.st_ino, -1))
			*pub_size(st.st_ino) = st.st_size;
	}
	/*
	 * truncate(2) of a file no fd writes publishes a new version at once;
	 * readers that had the old one open keep it (README "Versions").
	 */
	if (o->kind == K_TRUNCATE) {
		char p[600];
		struct stat st;

		full(&sides[0], o->path, p, sizeof(p));
		/* README: truncate(path, 0) of an empty file marks mtime and ctime */
		truncated_ino = !o->len && !stat(p, &st) && S_ISREG(st.st_mode) && !st.st_size ? st.st_ino : 0;
		if (!stat(p, &st) && S_ISREG(st.st_mode) && !staged(st.st_ino, -1)) {
			++*pub_count(st.st_ino);
			*pub_size(st.st_ino) = o->len;
		}
	}
	if (o->kind == K_OPEN) {
		char p[600];
		struct stat st;

		full(&sides[0], o->path, p, sizeof(p));
		/* through a symlink too: stat, not lstat */
		slot_created[o->slot] = (o->flags & O_CREAT) && stat(p, &st) < 0;
	}
	clock_gettime(CLOCK_REALTIME_COARSE, &op_tick);
	run(&sides[0], o, &ra);
	run(&sides[1], o, &rb);
	if (o->kind == K_OPEN) {
		if ((sides[0].fd[o->slot] >= 0) != (sides[1].fd[o->slot] >= 0)) {
			for (int s = 0; s < 2; s++)
				if (sides[s].fd[o->slot] >= 0)
					close(sides[s].fd[o->slot]);
		}
		slot_open[o->slot] = sides[0].fd[o->slot] >= 0 && sides[1].fd[o->slot] >= 0;
		slot_flags[o->slot] = o->flags;
		if (slot_open[o->slot]) {
			struct stat st;

			fstat(sides[0].fd[o->slot], &st);
			slot_ino[o->slot] = st.st_ino;
			slot_ver[o->slot] = *pub_count(st.st_ino);
			slot_wdirect[o->slot] = writable(o->slot) && !slot_created[o->slot] &&
						(any_reader(st.st_ino, o->slot) ||
						 any_wdirect(st.st_ino, o->slot));
			slot_follow[o->slot] = !writable(o->slot) && staged(st.st_ino, o->slot) &&
					       !any_wdirect(st.st_ino, o->slot);
			slot_pinned[o->slot] = 0;
			/*
			 * A follower whose writer closed reads that version as
			 * any reader does: for a new file, published in place,
			 * it is a reader of the inode a later writer opens, which
			 * then bypasses the page cache too (fs_read.c, follow_end).
			 * fsdiff cannot tell a new file's commit from a rewrite's,
			 * so it counts every settled follower: that only allows.
			 */
			slot_direct[o->slot] = staged(st.st_ino, o->slot) ||
					       (writable(o->slot) && (old_reader(st.st_ino) ||
								      settled_follower(st.st_ino)));
			/*
			 * README: a descriptor opened O_RDONLY|O_TRUNC reads the
			 * version it opened; the truncation is published.
			 */
			if ((o->flags & O_ACCMODE) == O_RDONLY && (o->flags & O_TRUNC) &&
			    S_ISREG(st.st_mode) && !slot_created[o->slot]) {
				++*pub_count(st.st_ino);
				*pub_size(st.st_ino) = 0;
			}
		}
		snprintf(slot_path[o->slot], sizeof(slot_path[0]), "%s", o->path);
	}
	if (o->kind == K_CLOSE) {
		/* the version it published: read all of it */
		force_ino = writable(o->slot) ? slot_ino[o->slot] : 0;
		slot_open[o->slot] = 0;
	}
	if (ra.ret != rb.ret || ra.err != rb.err || ra.n != rb.n || memcmp(ra.buf, rb.buf, ra.n)) {
		why = allowed(o, &ra, &rb);
		if (!why) {
			res_str(o, &ra, sa, sizeof(sa));
			res_str(o, &rb, sb, sizeof(sb));
			diverge("%s\n  tmpfs:   %s\n  modelfs: %s%s", d, sa, sb,
				ra.ret == rb.ret && ra.n == rb.n ? " (same length, different bytes)" : "");
		}
		if (trace)
			fprintf(stderr, "%s  allowed: %s\n", proc_tag, why);
	}
	if (watch) {
		for (int i = 0; i < 2; i++) {
			char p[600];
			struct stat st = { 0 };
			int rc;

			full(&sides[i], watch, p, sizeof(p));
			rc = lstat(p, &st);
			fprintf(stderr, "%s  %s %s: %s mode 0%o size %lld nlink %ld mtime %lld ctime %lld\n",
				proc_tag, sides[i].name, watch, rc ? strerror(errno) : "", st.st_mode,
				(long long)st.st_size, (long)st.st_nlink, ns(&st.st_mtim), ns(&st.st_ctim));
		}
	}
	snapshot(o, deep);
	force_ino = 0;
	truncated_ino = 0;
}

static void parse_ops(const char *s)
{
	char buf[512], *tok, *save = NULL;
	int positive = s[0] != '-';

	for (int k = 0; k < K_NKINDS; k++)
		enabled[k] = !positive;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int neg = tok[0] == '-', k;

		for (k = 0; k < K_NKINDS; k++)
			if (!strcmp(kinds[k].name, tok + neg))
				break;
		if (k == K_NKINDS)
			die("unknown op kind '%s'", tok + neg);
		enabled[k] = !neg;
	}
	if (positive)
		enabled[K_CLOSE] = enabled[K_OPEN]; /* fds must be closed again */
}

/* Whether a replayed op can run now: its slot is in the state it needs. */
static int applicable(const struct op *o)
{
	char p[600];
	struct stat st;

	switch (o->kind) {
	case K_OPEN:
		if (slot_open[o->slot])
			return 0;
		/* one writer per file, as gen() makes it */
		full(&sides[0], o->path, p, sizeof(p));
		return (o->flags & O_ACCMODE) == O_RDONLY || stat(p, &st) || !S_ISREG(st.st_mode) ||
		       !staged(st.st_ino, -1);
	case K_CLOSE: case K_READ: case K_WRITE: case K_PREAD: case K_PWRITE: case K_FTRUNCATE:
	case K_FSYNC: case K_FSTAT: case K_FALLOCATE:
		return slot_open[o->slot];
	default:
		return o->slot < 0 || slot_open[o->slot];
	}
}

static int run_proc(const char *ref, const char *mnt, int idx, uint64_t seed, long count,
		    const struct op *replay)
{
	static char tag[32];
	struct op o;

	snprintf(tag, sizeof(tag), "[p%d seed %" PRIu64 "] ", idx, seed);
	proc_tag = tag;
	proc_seed = seed;
	rng = seed;
	for (int s = 0; s < 2; s++) {
		snprintf(sides[s].root, sizeof(sides[s].root), "%s/p%d", s ? mnt : ref, idx);
		sides[s].name = s ? "modelfs" : "tmpfs";
		for (int i = 0; i < NSLOTS; i++)
			sides[s].fd[i] = -1;
		/* the subtree's root: writable by the unprivileged caller too */
		if (mkdir(sides[s].root, 0777) < 0 || chmod(sides[s].root, 0777) < 0)
			die("mkdir %s: %s", sides[s].root, strerror(errno));
	}
	memset(&o, 0, sizeof(o));
	snapshot(&o, 1);
	for (opno = 1; opno <= count; opno++) {
		if (replay) {
			replay_idx = opno - 1;
			o = replay[opno - 1];
			if (!applicable(&o))
				continue;
		} else {
			gen(&o);
		}
		if (!keep_going || !setjmp(next_op))
			step(&o);
	}
	closing = 1;
	/* close what is open, then one last full compare */
	for (int i = 0; i < NSLOTS; i++) {
		if (!slot_open[i])
			continue;
		memset(&o, 0, sizeof(o));
		o.kind = K_CLOSE;
		o.slot = i;
		step(&o);
		opno++;
	}
	opno--;
	if (divergences) {
		fprintf(stderr, "%s%ld ops run to the end; %ld compares failed, the first shown above\n", proc_tag, count,
			divergences);
		return 1;
	}
	snapshot(&o, 1);
	if (!shm || shm->nops >= 0)
		fprintf(stderr, "%s%ld ops, no divergence\n", proc_tag, count);
	return 0;
}

/* One replay of ops[0..n) in the fresh subtree pIDX; whether it shows sig. */
static int trial(const char *ref, const char *mnt, int idx, const struct op *ops, long n,
		 const char *sig)
{
	pid_t pid;
	int st;

	shm->nops = -1;
	shm->div_at = -1;
	shm->sig[0] = 0;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(300);
		_exit(run_proc(ref, mnt, idx, 0, n, ops));
	}
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) && WEXITSTATUS(st) == 1 && !strcmp(shm->sig, sig);
}

/*
 * Runs the seed once, recording its ops; on a divergence, drops chunks of
 * ops (ddmin) while the replay still diverges the same way, and prints what
 * is left: a short sequence of calls that shows the difference.
 */
static int run_minimize(const char *ref, const char *mnt, uint64_t seed, long count)
{
	size_t sz = sizeof(struct shared) + (count + NSLOTS + 1) * sizeof(struct op);
	struct op *kept, *cand;
	char sig[96], d[256];
	long n, chunk, trials = 0;
	int parts = 2, idx = 1;
	pid_t pid;
	int st;

	shm = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	shm->div_at = -1;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(run_proc(ref, mnt, 0, seed, count, NULL));
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || shm->div_at < 0)
		return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
	snprintf(sig, sizeof(sig), "%s", shm->sig);
	n = shm->div_at + 1;
	kept = malloc(n * sizeof(*kept));
	cand = malloc(n * sizeof(*cand));
	if (!kept || !cand)
		die("out of memory");
	memcpy(kept, shm->ops, n * sizeof(*kept));
	fprintf(stderr, "minimizing %ld ops (divergence: %s)\n", n, sig);
	while (n >= 2 && trials < 2000) {
		int reduced = 0;

		chunk = (n - 1 + parts - 1) / parts; /* the last op, the one that diverged, stays */
		for (long start = 0; start < n - 1 && !reduced; start += chunk) {
			long end = start + chunk < n - 1 ? start + chunk : n - 1, m = 0;

			for (long i = 0; i < n; i++)
				if (i < start || i >= end)
					cand[m++] = kept[i];
			trials++;
			if (trial(ref, mnt, idx++, cand, m, sig)) {
				/* the op that diverged may come earlier now: cut there */
				m = shm->div_at + 1;
				memcpy(kept, cand, m * sizeof(*kept));
				n = m;
				parts = parts > 2 ? parts - 1 : 2;
				reduced = 1;
			}
		}
		if (!reduced) {
			if (parts >= n - 1)
				break;
			parts = parts * 2 < n - 1 ? parts * 2 : n - 1;
		}
	}
	fprintf(stderr, "minimal sequence (%ld ops, %ld trials; %s):\n", n, trials, sig);
	for (long i = 0; i < n; i++) {
		describe(&kept[i], d, sizeof(d));
		fprintf(stderr, "  %s\n", d);
	}
	/* and once more, loud, to show both results */
	shm->nops = -2;
	pid = fork();
	if (pid == 0) {
		shm = NULL;
		_exit(run_proc(ref, mnt, idx, 0, n, kept));
	}
	waitpid(pid, &st, 0);
	free(kept);
	free(cand);
	return 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsdiff --ref DIR --mnt DIR [--seed N] [--count N] [--procs N]\n"
		"              [--ops=KIND,...|--ops=-KIND,...] [--uid N] [--full-every N] [--trace] [--keep-going]\n"
		"              [--watch PATH] [--ignore=mtime,ctime,nlink,size,mode] (to look past a known bug)\n"
		"              [--minimize] (on a divergence: the fewest ops that still show it)\n"
		"kinds:");
	for (int k = 0; k < K_NKINDS; k++)
		fprintf(stderr, " %s", kinds[k].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *ref = NULL, *mnt = NULL;
	uint64_t seed = 1;
	long count = 1000;
	int procs = 1, failed = 0, minimize = 0;
	pid_t pids[64];

	for (int k = 0; k < K_NKINDS; k++)
		enabled[k] = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strncmp(a, "--ops=", 6) || !strncmp(a, "--ignore=", 9)) {
			size_t l = strlen(flags_used);

			snprintf(flags_used + l, sizeof(flags_used) - l, " %s", a);
		}
		if (!strncmp(a, "--ops=", 6)) {
			parse_ops(a + 6);
			continue;
		}
		if (!strncmp(a, "--ignore=", 9)) {
			ignore_mtime = !!strstr(a, "mtime");
			ignore_ctime = !!strstr(a, "ctime");
			ignore_nlink = !!strstr(a, "nlink");
			ignore_size = !!strstr(a, "size");
			ignore_mode = !!strstr(a, "mode");
			continue;
		}
		if (!strcmp(a, "--minimize")) {
			minimize = 1;
			continue;
		}
		if (!strcmp(a, "--trace")) {
			trace = 1;
			continue;
		}
		if (!strcmp(a, "--keep-going")) {
			keep_going = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--ref"))
			ref = v;
		else if (!strcmp(a, "--mnt"))
			mnt = v;
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--count"))
			count = strtol(v, NULL, 0);
		else if (!strcmp(a, "--procs"))
			procs = atoi(v);
		else if (!strcmp(a, "--uid"))
			user_uid = user_gid = atoi(v);
		else if (!strcmp(a, "--full-every"))
			full_every = atoi(v) > 0 ? atoi(v) : 1;
		else if (!strcmp(a, "--watch"))
			watch = v;
		else
			usage();
	}
	if (!ref || !mnt || procs < 1 || procs > 64)
		usage();
	if (geteuid() != 0)
		die("needs root (it switches to uid %d for some ops)", (int)user_uid);
	umask(022);
	signal(SIGBUS, on_bus);
	/* A write to a FIFO or socket nobody reads is EPIPE on both sides, not our death. */
	signal(SIGPIPE, SIG_IGN);
	if (setgroups(0, NULL) < 0)
		die("setgroups: %s", strerror(errno));
	if (minimize)
		return run_minimize(ref, mnt, seed, count);
	if (procs == 1)
		return run_proc(ref, mnt, 0, seed, count, NULL);
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0)
			_exit(run_proc(ref, mnt, i, seed * 1000 + i, count, NULL));
	}
	for (int left = procs; left > 0; left--) {
		int st;
		pid_t p = wait(&st);

		if (p < 0)
			break;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			failed = 1;
			/* the first divergence is the report: stop the others */
			for (int i = 0; i < procs; i++)
				if (pids[i] != p)
					kill(pids[i], SIGTERM);
		}
	}
	return failed;
}
