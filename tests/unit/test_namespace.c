/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace semantics on a real RocksDB: create, lookup, readdir, rename
 * rules, remove rules, publish (in place for new files, new inode for
 * rewrites), and crash recovery of files that were never published.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "errors.h"
#include "log.h"
#include "manifest.h"
#include "namespace.h"
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

static void reopen(const char *dir)
{
	mfs_ns_close(ns);
	mfs_db_close(db);
	if (mfs_db_open(dir, &db) || mfs_ns_open(db, &ns))
		tap_bail("reopen");
}

int main(void)
{
	char dir[] = "/tmp/mfs-ns-XXXXXX", names[256] = "", cmd[300];
	struct mfs_inode in;
	struct mfs_hash h;
	uint64_t d, f, g, replaced;

	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (!mkdtemp(dir) || mfs_db_open(dir, &db) || mfs_ns_open(db, &ns))
		tap_bail("setup");
	is_int(mfs_ns_get(ns, MFS_ROOT_INO, &in), 0, "a new store has a root");
	ok(S_ISDIR(in.mode), "root is a directory");
	mfs_inode_release(&in);

	d = mk(MFS_ROOT_INO, "models", S_IFDIR | 0755, 0);
	f = mk(d, "a.bin", S_IFREG | 0644, 0);
	g = mk(d, "b.bin", S_IFREG | 0644, 0);
	ok(d && f && g && f != g, "create a directory and two files");
	ok((f >> 48) == mfs_ns_node_id(ns), "inode numbers carry the node id");
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
	is_int(mfs_ns_publish(ns, g, &h, 100, NULL, &in), 0, "publish a new file");
	ok(in.ino == g && !(in.flags & MFS_I_PENDING) && in.size == 100, "published in place");
	mfs_inode_release(&in);
	is_int(mfs_ns_publish(ns, g, NULL, 0, NULL, &in), 0, "publish a rewrite");
	ok(in.ino != g && ino_of(d, "new.bin") == in.ino && in.version == 2, "a rewrite gets a new inode");
	mfs_inode_release(&in);
	is_int(mfs_ns_get(ns, g, &in), -ENOENT, "the old record is gone");
	is_int(mfs_ns_publish(ns, g, NULL, 0, NULL, &in), -ENOENT, "publishing a replaced inode is refused");

	/* A file left pending by a crash disappears at the next open. */
	f = mk(d, "partial.bin", S_IFREG | 0644, MFS_I_PENDING);
	ok(f != 0, "create a pending file");
	reopen(dir);
	is_int(ino_of(d, "partial.bin"), 0, "recovery removed the never-published file");
	ok(ino_of(d, "new.bin") != 0 && ino_of(d, "b.bin") != 0, "published files survive reopen");
	f = mk(d, "after.bin", S_IFREG, 0);
	ok(f && (f & 0xffffffffffffull) > (g & 0xffffffffffffull), "inode counter survives reopen");
	mfs_ns_close(ns);
	mfs_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return done_testing();
}
