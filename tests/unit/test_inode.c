/* SPDX-License-Identifier: Apache-2.0 */
/* Inode records: round trip with xattrs and symlinks; malformed input rejected. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "inode.h"
#include "tap.h"

int main(void)
{
	struct mfs_inode in = {
		.ino = 42, .parent = 1, .mode = S_IFREG | 0640, .uid = 1000, .gid = 100,
		.nlink = 1, .repl = 3, .size = 123456789, .version = 7, .has_manifest = 1,
		.mtime = { 1700000000, 5 },
	}, out, copy;
	struct mfs_wr w = { 0 };
	size_t rejected = 0;

	in.name = strdup("model.safetensors");
	memset(in.manifest.b, 0xab, sizeof(in.manifest.b));
	ok(!mfs_inode_xattr_set(&in, "user.a", "hello", 5), "set xattr");
	ok(!mfs_inode_xattr_set(&in, "user.empty", "", 0), "set empty xattr");
	ok(!mfs_inode_xattr_set(&in, "user.a", "bye", 3), "replace xattr");
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), 0, "decode");
	ok(out.mode == in.mode && out.size == in.size && out.version == 7 && out.repl == 3 &&
	   out.mtime.tv_nsec == 5 && !strcmp(out.name, "model.safetensors") &&
	   !memcmp(out.manifest.b, in.manifest.b, 32), "fields survive");
	ok(out.nxattr == 2 && mfs_inode_xattr_get(&out, "user.a")->len == 3 &&
	   !memcmp(mfs_inode_xattr_get(&out, "user.a")->value, "bye", 3), "xattrs survive");
	is_int(mfs_inode_copy(&copy, &out), 0, "deep copy");
	is_int(mfs_inode_xattr_remove(&copy, "user.a"), 0, "remove xattr from the copy");
	ok(mfs_inode_xattr_get(&out, "user.a") != NULL, "original unaffected");
	is_int(mfs_inode_xattr_remove(&copy, "user.nope"), -ENODATA, "remove missing xattr");
	mfs_inode_release(&copy);
	mfs_inode_release(&out);
	for (size_t cut = 0; cut < w.len; cut++)
		if (mfs_inode_decode(42, w.buf, cut, &out) != 0)
			rejected++;
		else
			mfs_inode_release(&out);
	is_int(rejected, w.len, "every truncation rejected");
	w.buf[0] = 2;
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "unknown version rejected");
	mfs_wr_release(&w);
	in.mode = S_IFCHR | 0600;
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "device inode rejected");
	mfs_wr_release(&w);
	mfs_inode_release(&in);
	return done_testing();
}
