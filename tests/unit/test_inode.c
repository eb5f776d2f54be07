/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inode records: round trip with xattrs, special files and hard links;
 * version 1 records still decode; malformed input rejected; the name list;
 * thousands of attributes on one file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/errors.h"
#include "store/ns/inode.h"
#include "tap.h"

/* Thousands of attributes: sets, removals and re-adds keep every value; a record
 * that names one attribute twice, or exceeds the total, is rejected. */
static void many_xattrs(void)
{
	struct mfs_inode in = { .ino = 9, .parent = 1, .mode = S_IFREG | 0600, .nlink = 1 }, out;
	struct mfs_wr w = { 0 };
	char name[32], val[32];
	int bad = 0;
	uint8_t *p;

	for (int i = 0; i < 3000 && !bad; i++) {
		snprintf(name, sizeof(name), "user.k%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		bad = mfs_inode_xattr_set(&in, name, val, strlen(val)) != 0;
	}
	for (int i = 0; i < 3000 && !bad; i += 3) {
		snprintf(name, sizeof(name), "user.k%d", i);
		bad = mfs_inode_xattr_remove(&in, name) != 0;
	}
	for (int i = 3000; i < 3100 && !bad; i++) {
		snprintf(name, sizeof(name), "user.k%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		bad = mfs_inode_xattr_set(&in, name, val, strlen(val)) != 0;
	}
	ok(!bad && in.nxattr == 2100, "3,100 attributes set, 1,000 removed");
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(9, w.buf, w.len, &out), 0, "a record of 2,100 attributes decodes");
	for (int i = 0; i < 3100 && !bad; i++) {
		const struct mfs_xattr *x;

		snprintf(name, sizeof(name), "user.k%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		x = mfs_inode_xattr_get(&out, name);
		bad = (i < 3000 && i % 3 == 0) ? x != NULL :
		      !x || x->len != strlen(val) || memcmp(x->value, val, x->len);
	}
	ok(!bad && out.nxattr == 2100, "every attribute survives, no removed one returns");
	mfs_inode_release(&out);
	mfs_wr_release(&w);
	mfs_inode_release(&in);

	in = (struct mfs_inode){ .ino = 9, .parent = 1, .mode = S_IFREG | 0600, .nlink = 1 };
	mfs_inode_xattr_set(&in, "user.aa", "1", 1);
	mfs_inode_xattr_set(&in, "user.ab", "2", 1);
	mfs_inode_encode(&in, &w);
	p = memmem(w.buf, w.len, "user.ab", 7);
	p[6] = 'a';
	is_int(mfs_inode_decode(9, w.buf, w.len, &out), MFS_EFORMAT, "a name stored twice is rejected");
	mfs_wr_release(&w);
	mfs_inode_release(&in);

	/* Built past the total behind mfs_inode_xattr_set's back, as a peer could send it. */
	in = (struct mfs_inode){ .ino = 9, .parent = 1, .mode = S_IFREG | 0600, .nlink = 1 };
	in.nxattr = MFS_XATTR_TOTAL_MAX / MFS_XATTR_VALUE_MAX + 1;
	in.xattr = calloc(in.nxattr, sizeof(*in.xattr));
	for (uint32_t i = 0; i < in.nxattr; i++) {
		snprintf(name, sizeof(name), "user.big%u", i);
		in.xattr[i].name = strdup(name);
		in.xattr[i].value = calloc(1, MFS_XATTR_VALUE_MAX);
		in.xattr[i].len = MFS_XATTR_VALUE_MAX;
	}
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(9, w.buf, w.len, &out), MFS_EFORMAT,
	       "attributes past the total are rejected");
	mfs_wr_release(&w);
	mfs_inode_release(&in);
}

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
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), 0, "decode again");
	ok(out.fid == 42, "a record built without a file id gets its inode number");
	mfs_inode_release(&out);
	/* A version 1 record: the version 2 layout without its tail (rdev, fid, names). */
	w.buf[0] = 1;
	is_int(mfs_inode_decode(42, w.buf, w.len - 18, &out), 0, "a version 1 record decodes");
	ok(out.rdev == 0 && out.nlinks == 0 && !strcmp(out.name, "model.safetensors") &&
	   out.nxattr == 2 && out.fid == 42, "with rdev 0, fid = ino and one name");
	mfs_inode_release(&out);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "version 1 with a tail rejected");
	w.buf[0] = 3;
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "unknown version rejected");
	mfs_wr_release(&w);

	/* Version 2: a device with three names. */
	in.mode = S_IFCHR | 0600;
	in.rdev = 0x1234;
	in.has_manifest = 0;
	in.size = 0;
	is_int(mfs_inode_name_add(&in, 7, "second"), 0, "add a name");
	is_int(mfs_inode_name_add(&in, 8, "third"), 0, "add another");
	in.nlink = 3;
	in.fid = 7777;
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), 0, "a device with hard links decodes");
	ok(S_ISCHR(out.mode) && out.rdev == 0x1234 && out.fid == 7777 && out.nlink == 3 &&
	   out.nlinks == 2 &&
	   mfs_inode_has_name(&out, 1, "model.safetensors") && mfs_inode_has_name(&out, 7, "second") &&
	   mfs_inode_has_name(&out, 8, "third") && !mfs_inode_has_name(&out, 8, "second"),
	   "rdev and every name survive");
	is_int(mfs_inode_copy(&copy, &out), 0, "deep copy with names");
	is_int(mfs_inode_name_remove(&copy, 1, "model.safetensors"), 0, "remove the first name");
	ok(copy.name && copy.nlinks == 1 && mfs_inode_has_name(&copy, 7, "second") &&
	   mfs_inode_has_name(&copy, 8, "third") && !mfs_inode_has_name(&copy, 1, "model.safetensors"),
	   "another name takes its place");
	is_int(mfs_inode_name_move(&copy, 7, "second", 9, "moved"), 0, "rename one name");
	ok(mfs_inode_has_name(&copy, 9, "moved") && !mfs_inode_has_name(&copy, 7, "second") &&
	   mfs_inode_has_name(&out, 7, "second"), "renamed in the copy only");
	is_int(mfs_inode_name_remove(&copy, 1, "nope"), -ENOENT, "removing a name it lacks");
	is_int(mfs_inode_name_move(&out, 7, "second", 8, "third"), 0,
	       "rename one name to another it lists");
	ok(out.nlinks == 1 && mfs_inode_has_name(&out, 8, "third") &&
	   !mfs_inode_has_name(&out, 7, "second") &&
	   (!strcmp(out.name, "third") || !strcmp(out.links[0].name, "third")) &&
	   (strcmp(out.name, "third") || strcmp(out.links[0].name, "third")),
	   "the new name listed once, the old one gone");
	is_int(mfs_inode_name_remove(&copy, 8, "third"), 0, "remove an extra name");
	is_int(mfs_inode_name_remove(&copy, copy.parent, copy.name), -EMLINK,
	       "the only name cannot be removed");
	mfs_inode_release(&copy);
	mfs_inode_release(&out);
	rejected = 0;
	for (size_t cut = 0; cut < w.len; cut++)
		if (mfs_inode_decode(42, w.buf, cut, &out) != 0)
			rejected++;
		else
			mfs_inode_release(&out);
	is_int(rejected, w.len, "every truncation of a version 2 record rejected");
	mfs_wr_release(&w);
	in.mode = S_IFDIR | 0755;
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "a directory with two names rejected");
	mfs_wr_release(&w);
	in.mode = S_IFCHR | 0600;
	mfs_inode_encode(&in, &w);
	w.buf[0] = 1;
	is_int(mfs_inode_decode(42, w.buf, w.len - 10 - 2 * 8 - 2 * 2 - strlen("second") - strlen("third"), &out),
	       MFS_EFORMAT, "a device in a version 1 record rejected");
	mfs_wr_release(&w);
	in.mode = 0170000;
	mfs_inode_encode(&in, &w);
	is_int(mfs_inode_decode(42, w.buf, w.len, &out), MFS_EFORMAT, "an unknown type rejected");
	mfs_wr_release(&w);
	mfs_inode_release(&in);
	many_xattrs();
	return done_testing();
}
