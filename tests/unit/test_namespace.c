/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace semantics on a real RocksDB: create, lookup, readdir, rename
 * rules, remove rules, publish (in place for new files, new inode for
 * rewrites), crash recovery of files that were never published, special
 * files, hard links, and a second store that applies the first's ops.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "store/ns/ns_internal.h"
#include "tap.h"

static struct mfs_db *db;
static struct mfs_ns *ns;

static uint64_t mk(uint64_t parent, const char *name, uint32_t mode, uint32_t flags)
{
	struct mfs_ns_new nw = { .mode = mode, .flags = flags };
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_create(ns, parent, name, &nw, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

static uint64_t ino_of(uint64_t parent, const char *name)
{
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_lookup(ns, parent, name, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

static int collect(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	strcat(arg, name);
	strcat(arg, " ");
	return 0;
}

/* The tree under a directory as text: names, types, nlink, rdev, names (no times). */
struct dump {
	struct mfs_ns *ns;
	uint64_t dir;
	char buf[8192];
};

static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode);

static void dump_dir(struct dump *dp, uint64_t dir)
{
	uint64_t saved = dp->dir;

	dp->dir = dir;
	mfs_ns_readdir(dp->ns, dir, NULL, 0, dump_entry, dp);
	dp->dir = saved;
}

/* ":?" marks an entry whose record does not list it among its names. */
static int dump_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct dump *dp = arg;
	struct mfs_inode in;
	size_t len = strlen(dp->buf);

	if (mfs_ns_get(dp->ns, ino, &in)) {
		snprintf(dp->buf + len, sizeof(dp->buf) - len, "%s:missing ", name);
		return 0;
	}
	snprintf(dp->buf + len, sizeof(dp->buf) - len, "%s:%llx:%o:%u:%llx:%u:%llu%s ", name,
		 (unsigned long long)ino, in.mode, in.nlink, (unsigned long long)in.rdev, in.nlinks,
		 (unsigned long long)in.size, mfs_inode_has_name(&in, dp->dir, name) ? "" : ":?");
	mfs_inode_release(&in);
	if (S_ISDIR(mode))
		dump_dir(dp, ino);
	return 0;
}

static int apply_cb(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	return mfs_ns_apply(arg, origin, seq, op, len, NULL, NULL) ? -1 : 0;
}

static uint32_t nlink_of(uint64_t ino)
{
	struct mfs_inode in;
	uint32_t n;

	if (mfs_ns_get(ns, ino, &in))
		return 0;
	n = in.nlink;
	mfs_inode_release(&in);
	return n;
}

static int ts_gt(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

static void reopen(const char *dir)
{
	mfs_ns_close(ns);
	mfs_db_close(db);
	if (mfs_db_open(dir, NULL, &db) || mfs_ns_open(db, &ns))
		tap_bail("reopen");
}

int main(void)
{
	char dir[] = "/tmp/mfs-ns-XXXXXX", names[256] = "", cmd[300];
	struct mfs_inode in;
	struct mfs_hash h;
	uint64_t d, f, g, replaced;

	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (!mkdtemp(dir) || mfs_db_open(dir, NULL, &db) || mfs_ns_open(db, &ns))
		tap_bail("setup");
	is_int(mfs_ns_get(ns, MFS_ROOT_INO, &in), 0, "a new store has a root");
	ok(S_ISDIR(in.mode), "root is a directory");
	mfs_inode_release(&in);

	d = mk(MFS_ROOT_INO, "models", S_IFDIR | 0755, 0);
	f = mk(d, "a.bin", S_IFREG | 0644, 0);
	g = mk(d, "b.bin", S_IFREG | 0644, 0);
	ok(d && f && g && f != g, "create a directory and two files");
	ok((f >> 48) == mfs_ns_space(ns) && mfs_ns_space(ns) != 0, "inode numbers carry the inode space");
	is_int(mk(d, "a.bin", S_IFREG, 0), 0, "a taken name is refused");
	is_int(ino_of(d, "a.bin"), f, "lookup");
	mfs_ns_readdir(ns, d, NULL, 0, collect, names);
	ok(!strcmp(names, "a.bin b.bin "), "readdir lists names in order (%s)", names);
	names[0] = 0;
	mfs_ns_readdir(ns, d, "a.bin", 0, collect, names);
	ok(!strcmp(names, "b.bin "), "a listing resumes after a name (%s)", names);
	names[0] = 0;
	mfs_ns_readdir(ns, d, "a.a", 0, collect, names);
	ok(!strcmp(names, "a.bin b.bin "), "resuming after a removed name goes on from where it was (%s)", names);
	is_int(mfs_ns_remove(ns, MFS_ROOT_INO, "models", 1, NULL), -ENOTEMPTY, "rmdir of a non-empty dir");
	is_int(mfs_ns_remove(ns, d, "a.bin", 1, NULL), -ENOTDIR, "rmdir of a file");
	is_int(mfs_ns_remove(ns, MFS_ROOT_INO, "models", 0, NULL), -EISDIR, "unlink of a dir");
	is_int(mfs_ns_rename(ns, d, "a.bin", d, "b.bin", MFS_RENAME_NOREPLACE, NULL), -EEXIST,
	       "RENAME_NOREPLACE onto an existing name");
	is_int(mfs_ns_rename(ns, d, "a.bin", d, "b.bin", 0, &replaced), 0, "rename over a file");
	ok(replaced == g && ino_of(d, "b.bin") == f && !ino_of(d, "a.bin"), "the target was replaced");
	is_int(mfs_ns_rename(ns, MFS_ROOT_INO, "models", d, "inside", 0, NULL), -EINVAL,
	       "a directory cannot move into itself");
	is_int(mfs_ns_get(ns, d, &in), 0, "dir record");
	is_int(in.nlink, 2, "dir nlink 2 with no subdirectories");
	mfs_inode_release(&in);

	/* setattr changes only the fields it is given, on the stored record. */
	{
		struct mfs_inode stale, now;

		mfs_ns_get(ns, d, &stale);             /* a copy taken earlier... */
		ok(mk(d, "sub", S_IFDIR | 0755, 0) != 0, "mkdir changes the parent's nlink");
		stale.mode = S_IFDIR | 0700;           /* ...then a chmod through it */
		is_int(mfs_ns_setattr(ns, d, &stale, MFS_ATTR_MODE, &now), 0, "setattr of the mode");
		ok((now.mode & 07777) == 0700 && now.nlink == 3,
		   "mode changed, the newer nlink kept (mode %o, nlink %u)", now.mode & 07777, now.nlink);
		mfs_inode_release(&stale);
		mfs_inode_release(&now);
		is_int(mfs_ns_setattr(ns, 0xdeadbeef, &now, MFS_ATTR_MODE, NULL), -ENOENT,
		       "setattr of a missing inode");
	}

	/* Publishing: a pending file in place, a published one to a new inode. */
	g = mk(d, "new.bin", S_IFREG | 0644, MFS_I_PENDING);
	{
		/* The manifest is stored before the publish that names it (commit protocol). */
		struct mfs_manifest *m = mfs_manifest_new();
		struct mfs_batch *b = mfs_batch_new(db);
		struct mfs_hash c;

		memset(c.b, 7, sizeof(c.b));
		if (!m || !b || mfs_manifest_append(m, &c, 100) || mfs_manifest_stage(b, m, &h) ||
		    mfs_db_write(db, b, MFS_WRITE_SYNC))
			tap_bail("cannot store a manifest");
		mfs_batch_free(b);
		mfs_manifest_unref(m);
	}
	is_int(mfs_ns_publish(ns, g, &h, 100, NULL, NULL, &in), 0, "publish a new file");
	ok(in.ino == g && !(in.flags & MFS_I_PENDING) && in.size == 100, "published in place");
	mfs_inode_release(&in);
	is_int(mfs_ns_publish(ns, g, NULL, 0, NULL, NULL, &in), 0, "publish a rewrite");
	ok(in.ino != g && ino_of(d, "new.bin") == in.ino && in.version == 2, "a rewrite gets a new inode");
	mfs_inode_release(&in);
	{
		struct mfs_inode again;
		uint64_t second = ino_of(d, "new.bin");

		is_int(mfs_ns_publish(ns, second, NULL, 0, NULL, NULL, &again), 0, "publish a third version");
		ok(again.fid == g && again.ino != second,
		   "every version keeps the file id (st_ino) it was created with");
		mfs_inode_release(&again);
	}
	is_int(mfs_ns_get(ns, g, &in), -ENOENT, "the old record is gone");
	is_int(mfs_ns_publish(ns, g, NULL, 0, NULL, NULL, &in), -ENOENT, "publishing a replaced inode is refused");

	/* Special files: a type and, for devices, an rdev; no bytes. */
	{
		struct mfs_ns_new nw = { .mode = S_IFCHR | 0600, .rdev = 0x0102 };

		is_int(mfs_ns_create(ns, d, "chr", &nw, &in), 0, "mknod of a character device");
		ok(S_ISCHR(in.mode) && in.rdev == 0x0102 && in.nlink == 1 && in.size == 0,
		   "type, rdev and nlink (rdev %llx)", (unsigned long long)in.rdev);
		f = in.ino;
		mfs_inode_release(&in);
		nw.mode = S_IFBLK | 0600;
		nw.rdev = 0x0803;
		is_int(mfs_ns_create(ns, d, "blk", &nw, &in), 0, "mknod of a block device");
		mfs_inode_release(&in);
		nw.mode = S_IFIFO | 0644;
		is_int(mfs_ns_create(ns, d, "fifo", &nw, &in), 0, "mkfifo");
		ok(S_ISFIFO(in.mode) && in.rdev == 0, "a FIFO keeps no rdev");
		mfs_inode_release(&in);
		nw.mode = S_IFSOCK | 0755;
		is_int(mfs_ns_create(ns, d, "sock", &nw, &in), 0, "a unix socket's name");
		mfs_inode_release(&in);
		is_int(mfs_ns_get(ns, f, &in), 0, "the device's stored record");
		ok(S_ISCHR(in.mode) && in.rdev == 0x0102, "reads back with its rdev");
		mfs_inode_release(&in);
	}

	/* Hard links (namespace.hl, "Hard links"). */
	{
		uint64_t hl, nh, other = mk(MFS_ROOT_INO, "other", S_IFDIR | 0755, 0), removed = 0;
		struct timespec c0;

		hl = mk(d, "h1", S_IFREG | 0644, 0);
		mfs_ns_get(ns, hl, &in);
		c0 = in.ctime;
		mfs_inode_release(&in);
		is_int(mfs_ns_link(ns, hl, other, "h2", &in), 0, "link into another directory");
		ok(in.ino == hl && in.nlink == 2 && in.nlinks == 1 && ts_gt(in.ctime, c0),
		   "same inode, nlink 2, ctime moved");
		mfs_inode_release(&in);
		ok(ino_of(other, "h2") == hl && ino_of(d, "h1") == hl, "both names lead to it");
		is_int(mfs_ns_link(ns, hl, d, "h3", NULL), 0, "a third name");
		is_int(nlink_of(hl), 3, "nlink 3");
		is_int(mfs_ns_link(ns, hl, d, "b.bin", NULL), -EEXIST, "link onto a taken name");
		is_int(mfs_ns_link(ns, other, d, "dirlink", NULL), -EPERM, "a directory cannot be linked");
		is_int(mfs_ns_link(ns, hl, hl, "x", NULL), -ENOTDIR, "link into a file");
		is_int(mfs_ns_link(ns, 0xdeadbeef, d, "x", NULL), -ENOENT, "link of a missing inode");
		is_int(mfs_ns_link(ns, f, d, "chr2", NULL), 0, "a device gets a second name");
		is_int(mfs_ns_rename(ns, d, "h3", other, "h2", 0, &replaced), 0,
		       "rename onto another name of the same file");
		ok(ino_of(d, "h3") == hl && ino_of(other, "h2") == hl && nlink_of(hl) == 3,
		   "does nothing (POSIX)");
		is_int(mfs_ns_rename(ns, d, "h3", d, "h4", 0, NULL), 0, "rename one of the names");
		mfs_ns_get(ns, hl, &in);
		ok(mfs_inode_has_name(&in, d, "h4") && !mfs_inode_has_name(&in, d, "h3") &&
		   mfs_inode_has_name(&in, d, "h1") && mfs_inode_has_name(&in, other, "h2") &&
		   in.nlink == 3, "the record follows");
		mfs_inode_release(&in);

		is_int(mfs_ns_publish(ns, hl, NULL, 0, NULL, NULL, &in), 0, "a rewrite of a hard-linked file");
		nh = in.ino;
		ok(nh != hl && in.nlink == 3 && ino_of(d, "h1") == nh && ino_of(other, "h2") == nh &&
		   ino_of(d, "h4") == nh, "every name moved to the new inode");
		mfs_inode_release(&in);
		is_int(mfs_ns_get(ns, hl, &in), -ENOENT, "the old record is gone");

		is_int(mfs_ns_remove(ns, d, "h1", 0, &removed), 0, "unlink one name");
		ok(removed == nh && nlink_of(nh) == 2 && ino_of(other, "h2") == nh &&
		   ino_of(d, "h4") == nh && !ino_of(d, "h1"), "the file keeps the others, nlink 2");
		g = mk(d, "plain", S_IFREG | 0644, 0);
		is_int(mfs_ns_rename(ns, d, "plain", other, "h2", 0, &replaced), 0,
		       "rename over one name of a linked file");
		ok(replaced == nh && ino_of(other, "h2") == g && ino_of(d, "h4") == nh && nlink_of(nh) == 1,
		   "the replaced file keeps its other name, nlink 1");
		is_int(mfs_ns_remove(ns, d, "h4", 0, NULL), 0, "unlink the last name");
		is_int(mfs_ns_get(ns, nh, &in), -ENOENT, "the record goes with it");
		is_int(mfs_ns_link(ns, hl, d, "again", NULL), -ENOENT, "an old version cannot be linked");

		/* Publishing in place (a new file) keeps the inode and its names. */
		g = mk(d, "pub", S_IFREG | 0644, MFS_I_PENDING);
		is_int(mfs_ns_link(ns, g, other, "pub2", NULL), 0, "link of a file being written");
		is_int(mfs_ns_publish(ns, g, NULL, 0, NULL, NULL, &in), 0, "its first publish");
		ok(in.ino == g && ino_of(other, "pub2") == g && in.nlink == 2, "in place, both names");
		mfs_inode_release(&in);
	}

	/* A file left pending by a crash disappears at the next open. */
	f = mk(d, "partial.bin", S_IFREG | 0644, MFS_I_PENDING);
	ok(f != 0, "create a pending file");
	is_int(mfs_ns_link(ns, f, MFS_ROOT_INO, "partial2.bin", NULL), 0, "with a second name");
	reopen(dir);
	is_int(ino_of(d, "partial.bin"), 0, "recovery removed the never-published file");
	is_int(ino_of(MFS_ROOT_INO, "partial2.bin"), 0, "with every name");
	ok(ino_of(d, "new.bin") != 0 && ino_of(d, "b.bin") != 0, "published files survive reopen");
	f = mk(d, "after.bin", S_IFREG, 0);
	ok(f && (f & 0xffffffffffffull) > (g & 0xffffffffffffull), "inode counter survives reopen");
	{
		mfs_ns_get(ns, ino_of(d, "chr"), &in);
		ok(S_ISCHR(in.mode) && in.rdev == 0x0102 && in.nlink == 2 &&
		   mfs_inode_has_name(&in, d, "chr2"), "a linked device survives reopen");
		mfs_inode_release(&in);
	}

	/* RENAME_EXCHANGE: entries swap inodes; a directory cannot go under itself. */
	{
		uint64_t ex = mk(MFS_ROOT_INO, "exd", S_IFDIR | 0755, 0), fa = mk(ex, "fa", S_IFREG, 0),
			 sd = mk(ex, "sd", S_IFDIR | 0755, 0), fb = mk(d, "fb", S_IFREG, 0);

		is_int(mfs_ns_rename(ns, ex, "fa", d, "fb", MFS_RENAME_EXCHANGE, NULL), 0,
		       "exchange two files");
		ok(ino_of(ex, "fa") == fb && ino_of(d, "fb") == fa, "they swapped");
		is_int(mfs_ns_rename(ns, ex, "sd", d, "fb", MFS_RENAME_EXCHANGE, NULL), 0,
		       "exchange a directory and a file across directories");
		ok(ino_of(d, "fb") == sd && ino_of(ex, "sd") == fa && nlink_of(ex) == 2,
		   "swapped, with the directories' link counts");
		is_int(mfs_ns_rename(ns, d, "fb", sd, "x", MFS_RENAME_EXCHANGE, NULL), -ENOENT,
		       "exchange with a missing name");
		mk(sd, "x", S_IFREG, 0);
		is_int(mfs_ns_rename(ns, d, "fb", sd, "x", MFS_RENAME_EXCHANGE, NULL), -EINVAL,
		       "a directory cannot be exchanged into its own subtree");
		mfs_ns_get(ns, sd, &in);
		ok(in.parent == d && !strcmp(in.name, "fb"), "the moved directory's record names its entry");
		mfs_inode_release(&in);
	}

	/* Another store applying this one's ops holds the same tree. */
	{
		char dir2[] = "/tmp/mfs-ns2-XXXXXX";
		static struct dump a, b;
		struct mfs_db *db2;
		struct mfs_ns *ns2;

		if (!mkdtemp(dir2) || mfs_db_open(dir2, NULL, &db2) || mfs_ns_open(db2, &ns2))
			tap_bail("second store");
		if (mfs_ns_node_id(ns2) == mfs_ns_node_id(ns))
			tap_bail("same node id twice");
		is_int(mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, apply_cb, ns2), 0,
		       "every op applies on another store");
		a.ns = ns;
		b.ns = ns2;
		dump_dir(&a, MFS_ROOT_INO);
		dump_dir(&b, MFS_ROOT_INO);
		if (!ok(!strcmp(a.buf, b.buf) && strstr(b.buf, "chr2:") && strstr(b.buf, "fifo:") &&
			strstr(b.buf, "pub2:") && !strstr(b.buf, ":?"), "the same tree, names and all"))
			printf("# here:  %s\n# there: %s\n", a.buf, b.buf);

		/* Changes to the same files on both stores at once converge. */
		{
			uint64_t pub = ino_of(d, "pub");

			is_int(mfs_ns_link(ns, pub, d, "pub3", NULL), 0, "here: a third name for pub");
			is_int(mfs_ns_remove(ns, d, "chr2", 0, NULL), 0, "here: unlink chr2");
			is_int(mfs_ns_publish(ns2, pub, NULL, 0, NULL, NULL, &in), 0, "there: a rewrite of pub");
			mfs_inode_release(&in);
			is_int(mfs_ns_rename(ns2, d, "chr", MFS_ROOT_INO, "chr9", 0, NULL), 0,
			       "there: rename chr");
			is_int(mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, apply_cb, ns2) |
			       mfs_ns_ops_since(ns2, mfs_ns_node_id(ns2), 0, apply_cb, ns), 0,
			       "each applies the other's ops");
			/* The repairs a store made as it applied them are ops too
			 * (here: chr's list of names, ns_version.c, note 7). */
			is_int(mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, apply_cb, ns2) |
			       mfs_ns_ops_since(ns2, mfs_ns_node_id(ns2), 0, apply_cb, ns), 0,
			       "each applies the other's repairs");
			a.buf[0] = b.buf[0] = 0;
			dump_dir(&a, MFS_ROOT_INO);
			dump_dir(&b, MFS_ROOT_INO);
			if (!ok(!strcmp(a.buf, b.buf) && strstr(a.buf, "chr9:") && !strstr(a.buf, "chr2:") &&
				!strstr(a.buf, ":?"),
				"concurrent link, unlink, rewrite and rename: the same tree on both"))
				printf("# here:  %s\n# there: %s\n", a.buf, b.buf);
		}
		mfs_ns_close(ns2);
		mfs_db_close(db2);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir2);
		if (system(cmd))
			return 1;
	}
	/*
	 * Store formats: a format 1 store (before pack files) is marked with
	 * this build's format at open, so an older build refuses it whole; a
	 * newer format than this build's is refused.
	 */
	{
		struct mfs_batch *b;
		struct mfs_val v;
		uint64_t fmt[] = { 1, MFS_FORMAT_VERSION + 1 };

		for (int k = 0; k < 2; k++) {
			mfs_ns_close(ns);
			b = mfs_batch_new(db);
			meta_put_u64(b, "format", fmt[k]);
			if (k == 0) /* format 1 had 16-bit node ids */
				meta_put_u64(b, "node_id", 0x1234);
			if (mfs_db_write(db, b, MFS_WRITE_SYNC))
				tap_bail("write format");
			mfs_batch_free(b);
			ns = NULL;
			if (k == 0) {
				is_int(mfs_ns_open(db, &ns), 0, "a format 1 store opens");
				is_int(mfs_db_get(db, MFS_CF_META, "format", 6, &v, 1), 0, "format read");
				ok(v.len == 8 && get_le64(v.p) == MFS_FORMAT_VERSION,
				   "and is marked format %d", MFS_FORMAT_VERSION);
				mfs_val_release(&v);
				ok(mfs_ns_node_id(ns) == 0x1234 && mfs_ns_space(ns) == 0x1234,
				   "its 16-bit id stays its id and becomes its inode space");
			} else {
				is_int(mfs_ns_open(db, &ns), MFS_EFORMAT, "a newer format is refused");
				ok(ns == NULL, "and no namespace is handed out");
			}
		}
		b = mfs_batch_new(db);
		meta_put_u64(b, "format", MFS_FORMAT_VERSION);
		if (mfs_db_write(db, b, MFS_WRITE_SYNC) || mfs_ns_open(db, &ns))
			tap_bail("reopen");
		mfs_batch_free(b);
	}
	mfs_ns_close(ns);
	mfs_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return done_testing();
}
