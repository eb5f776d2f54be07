/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inode record encoding (doc/format.md, "inodes"), little endian:
 *   u8 version, u8 repl, u16 nxattr, u32 mode, u32 uid, u32 gid, u32 nlink,
 *   u32 flags, u64 parent, u64 size, u64 version,
 *   3 x { i64 sec, u32 nsec } (atime, mtime, ctime),
 *   u8 has_manifest, [u8 manifest[32]],
 *   u16 name_len, name, u16 symlink_len, symlink,
 *   nxattr x { u8 name_len, name, u32 value_len, value }
 * and from version 2 on:
 *   u64 rdev, u64 fid, u16 nlinks, nlinks x { u64 parent, u16 name_len, name }
 * Version 1 records (no special files, one name) decode with rdev 0, fid =
 * the inode number and no extra names; records are always written as
 * version 2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inode.h"
#include "store/base/errors.h"

void mfs_ino_key(uint64_t ino, uint8_t key[8])
{
	put_be64(key, ino);
}

void mfs_inode_release(struct mfs_inode *in)
{
	free(in->name);
	free(in->symlink);
	for (uint32_t i = 0; i < in->nxattr; i++) {
		free(in->xattr[i].name);
		free(in->xattr[i].value);
	}
	free(in->xattr);
	for (uint32_t i = 0; i < in->nlinks; i++)
		free(in->links[i].name);
	free(in->links);
	memset(in, 0, sizeof(*in));
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*oom = 1;
	return d;
}

/* Adds (name, value) as a new attribute, no checks.  The array grows by doubling,
 * its capacity implied by nxattr: it is reallocated whenever nxattr reaches a power
 * of two (removal swaps the last into the hole and never shrinks it). */
static int xattr_append(struct mfs_inode *in, const char *name, size_t nl, const void *v,
			size_t len)
{
	uint32_t n = in->nxattr;
	struct mfs_xattr *x;
	char *nm = strndup(name, nl);
	uint8_t *copy = malloc(len ? len : 1);

	if (nm && copy && (n & (n - 1)) == 0) {
		struct mfs_xattr *grown = realloc(in->xattr, (n ? 2 * n : 1) * sizeof(*grown));

		if (grown)
			in->xattr = grown;
		else
			n = UINT32_MAX;
	}
	if (!nm || !copy || n == UINT32_MAX) {
		free(nm);
		free(copy);
		return -ENOMEM;
	}
	if (len)
		memcpy(copy, v, len);
	x = &in->xattr[in->nxattr++];
	x->name = nm;
	x->value = copy;
	x->len = len;
	return 0;
}

int mfs_inode_copy(struct mfs_inode *dst, const struct mfs_inode *src)
{
	int oom = 0;

	*dst = *src;
	dst->name = dup_or_null(src->name, &oom);
	dst->symlink = dup_or_null(src->symlink, &oom);
	dst->xattr = NULL;
	dst->nxattr = 0;
	dst->links = NULL;
	dst->nlinks = 0;
	if (!oom && mfs_inode_xattrs_copy(dst, src))
		oom = 1;
	/* One array for all the names (get_names). */
	if (!oom && src->nlinks && !(dst->links = malloc(src->nlinks * sizeof(*dst->links))))
		oom = 1;
	for (uint32_t i = 0; i < src->nlinks && !oom; i++) {
		char *nm = dup_or_null(src->links[i].name, &oom);

		if (nm)
			dst->links[dst->nlinks++] = (struct mfs_name){ src->links[i].parent, nm };
	}
	if (oom) {
		mfs_inode_release(dst);
		return -ENOMEM;
	}
	return 0;
}

static void put_time(struct mfs_wr *w, const struct timespec *t)
{
	mfs_wr_u64(w, (uint64_t)t->tv_sec);
	mfs_wr_u32(w, (uint32_t)t->tv_nsec);
}

static void put_str16(struct mfs_wr *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	mfs_wr_u16(w, n);
	mfs_wr_put(w, s, n);
}

void mfs_inode_encode(const struct mfs_inode *in, struct mfs_wr *w)
{
	mfs_wr_u8(w, MFS_INODE_VERSION);
	mfs_wr_u8(w, in->repl);
	mfs_wr_u16(w, in->nxattr);
	mfs_wr_u32(w, in->mode);
	mfs_wr_u32(w, in->uid);
	mfs_wr_u32(w, in->gid);
	mfs_wr_u32(w, in->nlink);
	mfs_wr_u32(w, in->flags);
	mfs_wr_u64(w, in->parent);
	mfs_wr_u64(w, in->size);
	mfs_wr_u64(w, in->version);
	put_time(w, &in->atime);
	put_time(w, &in->mtime);
	put_time(w, &in->ctime);
	mfs_wr_u8(w, in->has_manifest);
	if (in->has_manifest)
		mfs_wr_put(w, in->manifest.b, MFS_HASH_LEN);
	put_str16(w, in->name);
	put_str16(w, in->symlink);
	for (uint32_t i = 0; i < in->nxattr; i++) {
		size_t n = strlen(in->xattr[i].name);

		mfs_wr_u8(w, n);
		mfs_wr_put(w, in->xattr[i].name, n);
		mfs_wr_u32(w, in->xattr[i].len);
		mfs_wr_put(w, in->xattr[i].value, in->xattr[i].len);
	}
	mfs_wr_u64(w, in->rdev);
	mfs_wr_u64(w, in->fid ? in->fid : in->ino);
	mfs_wr_u16(w, in->nlinks);
	for (uint32_t i = 0; i < in->nlinks; i++) {
		mfs_wr_u64(w, in->links[i].parent);
		put_str16(w, in->links[i].name);
	}
}

static void get_time(struct mfs_rd *r, struct timespec *t)
{
	t->tv_sec = (int64_t)mfs_rd_u64(r);
	t->tv_nsec = mfs_rd_u32(r);
	if (t->tv_nsec >= 1000000000)
		r->bad = 1;
}

/* Reads a length-prefixed string; NULL for empty. Rejects embedded NULs. */
static char *get_str(struct mfs_rd *r, size_t n, int *oom)
{
	const uint8_t *p = mfs_rd_take(r, n);
	char *s;

	if (!p || n == 0)
		return NULL;
	if (memchr(p, 0, n)) {
		r->bad = 1;
		return NULL;
	}
	if (!(s = strndup((const char *)p, n)))
		*oom = 1;
	return s;
}

/* Orders xattr names for the duplicate check. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does in hold two attributes of one name?  Sorting keeps a decode of n attributes
 * O(n log n): a set-by-set decode was O(n^2), and a file with a few thousand
 * attributes made every lookup of it cost tens of milliseconds. */
static int has_dup_names(const struct mfs_inode *in, int *oom)
{
	const char **names;
	int dup = 0;

	if (in->nxattr < 2)
		return 0;
	if (!(names = malloc(in->nxattr * sizeof(*names)))) {
		*oom = 1;
		return 0;
	}
	for (uint32_t i = 0; i < in->nxattr; i++)
		names[i] = in->xattr[i].name;
	qsort(names, in->nxattr, sizeof(*names), name_cmp);
	for (uint32_t i = 1; i < in->nxattr && !dup; i++)
		dup = !strcmp(names[i - 1], names[i]);
	free(names);
	return dup;
}

/* nx extended attributes into in (if keep; else only checked); r->bad or *oom on
 * failure.  Limits are those of mfs_inode_xattr_set, checked once for the whole list. */
static void get_xattrs(struct mfs_rd *r, uint32_t nx, struct mfs_inode *in, int keep, int *oom)
{
	size_t total = 0;

	for (uint32_t i = 0; i < nx && !r->bad && !*oom; i++) {
		size_t nl = mfs_rd_u8(r);
		const uint8_t *name = mfs_rd_take(r, nl);
		uint32_t len = mfs_rd_u32(r);
		const uint8_t *v = len <= MFS_XATTR_VALUE_MAX ? mfs_rd_take(r, len) : NULL;

		total += nl + len;
		if (!name || !nl || memchr(name, 0, nl) || (!v && len) ||
		    len > MFS_XATTR_VALUE_MAX || total > MFS_XATTR_TOTAL_MAX)
			r->bad = 1;
		else if (keep && xattr_append(in, (const char *)name, nl, v, len))
			*oom = 1;
	}
	if (!r->bad && !*oom && has_dup_names(in, oom))
		r->bad = 1;
}

/*
 * Version 2: the file's other names (hard links) into in; r->bad or *oom on
 * failure.  One array for all, each name's copy taken as it is read: a
 * decode is one allocation per name, where a copy and a growing array per
 * name made the decode of a file of a thousand names, which every link and
 * unlink of it does, the most of their cost.
 */
static void get_names(struct mfs_rd *r, struct mfs_inode *in, int *oom)
{
	uint32_t nl = mfs_rd_u16(r);

	if (nl >= MFS_LINK_MAX || r->bad) {
		r->bad = 1;
		return;
	}
	if (nl && !(in->links = malloc(nl * sizeof(*in->links)))) {
		*oom = 1;
		return;
	}
	for (uint32_t i = 0; i < nl && !r->bad && !*oom; i++) {
		uint64_t parent = mfs_rd_u64(r);
		uint16_t len = mfs_rd_u16(r);
		char *name = len <= MFS_NAME_MAX ? get_str(r, len, oom) : NULL;

		if (!name || strchr(name, '/') || !parent) {
			r->bad = 1;
			free(name);
		} else {
			in->links[in->nlinks++] = (struct mfs_name){ parent, name };
		}
	}
}

static int decode(uint64_t ino, const void *p, size_t n, struct mfs_inode *out, int xattrs)
{
	struct mfs_rd r = { p, n, 0 };
	struct mfs_inode in = { .ino = ino };
	uint32_t nx;
	uint8_t ver;
	int oom = 0;

	memset(out, 0, sizeof(*out));
	ver = mfs_rd_u8(&r);
	if (ver != 1 && ver != 2)
		return MFS_EFORMAT;
	in.repl = mfs_rd_u8(&r);
	nx = mfs_rd_u16(&r);
	in.mode = mfs_rd_u32(&r);
	in.uid = mfs_rd_u32(&r);
	in.gid = mfs_rd_u32(&r);
	in.nlink = mfs_rd_u32(&r);
	in.flags = mfs_rd_u32(&r);
	in.parent = mfs_rd_u64(&r);
	in.size = mfs_rd_u64(&r);
	in.version = mfs_rd_u64(&r);
	get_time(&r, &in.atime);
	get_time(&r, &in.mtime);
	get_time(&r, &in.ctime);
	in.has_manifest = mfs_rd_u8(&r);
	if (in.has_manifest > 1)
		r.bad = 1;
	if (in.has_manifest) {
		const uint8_t *h = mfs_rd_take(&r, MFS_HASH_LEN);

		if (h)
			memcpy(in.manifest.b, h, MFS_HASH_LEN);
	}
	in.name = get_str(&r, mfs_rd_u16(&r), &oom);
	in.symlink = get_str(&r, mfs_rd_u16(&r), &oom);
	get_xattrs(&r, nx, &in, xattrs, &oom);
	if (ver >= 2 && !r.bad && !oom) {
		in.rdev = mfs_rd_u64(&r);
		in.fid = mfs_rd_u64(&r);
		get_names(&r, &in, &oom);
	}
	switch (in.mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: break;
	case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		if (ver < 2)
			r.bad = 1;
		break;
	default: r.bad = 1;
	}
	if (S_ISDIR(in.mode) && in.nlinks)
		r.bad = 1; /* directories have one name */
	if (!in.fid)
		in.fid = ino; /* version 1: the file is as old as its inode */
	if (r.bad || oom || r.left) {
		mfs_inode_release(&in);
		return oom ? -ENOMEM : MFS_EFORMAT;
	}
	*out = in;
	return 0;
}

int mfs_inode_decode(uint64_t ino, const void *p, size_t n, struct mfs_inode *out)
{
	return decode(ino, p, n, out, 1);
}

int mfs_inode_decode_no_xattrs(uint64_t ino, const void *p, size_t n, struct mfs_inode *out)
{
	return decode(ino, p, n, out, 0);
}

const struct mfs_xattr *mfs_inode_xattr_get(const struct mfs_inode *in, const char *name)
{
	for (uint32_t i = 0; i < in->nxattr; i++)
		if (!strcmp(in->xattr[i].name, name))
			return &in->xattr[i];
	return NULL;
}

static size_t xattr_total(const struct mfs_inode *in)
{
	size_t t = 0;

	for (uint32_t i = 0; i < in->nxattr; i++)
		t += strlen(in->xattr[i].name) + in->xattr[i].len;
	return t;
}

int mfs_inode_xattr_set(struct mfs_inode *in, const char *name, const void *v, size_t len)
{
	struct mfs_xattr *x = (struct mfs_xattr *)mfs_inode_xattr_get(in, name);
	uint8_t *copy;

	if (strlen(name) > MFS_XATTR_NAME_MAX || !*name)
		return -ERANGE;
	if (len > MFS_XATTR_VALUE_MAX)
		return -E2BIG;
	if (xattr_total(in) - (x ? x->len : 0) + len + (x ? 0 : strlen(name)) > MFS_XATTR_TOTAL_MAX)
		return -ENOSPC;
	if (!x)
		return xattr_append(in, name, strlen(name), v, len);
	if (!(copy = malloc(len ? len : 1)))
		return -ENOMEM;
	if (len)
		memcpy(copy, v, len);
	free(x->value);
	x->value = copy;
	x->len = len;
	return 0;
}

int mfs_inode_xattrs_copy(struct mfs_inode *dst, const struct mfs_inode *src)
{
	struct mfs_inode tmp = { 0 };

	for (uint32_t i = 0; i < src->nxattr; i++) {
		const struct mfs_xattr *x = &src->xattr[i];

		if (xattr_append(&tmp, x->name, strlen(x->name), x->value, x->len)) {
			mfs_inode_release(&tmp);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < dst->nxattr; i++) {
		free(dst->xattr[i].name);
		free(dst->xattr[i].value);
	}
	free(dst->xattr);
	dst->xattr = tmp.xattr;
	dst->nxattr = tmp.nxattr;
	return 0;
}

int mfs_inode_xattr_remove(struct mfs_inode *in, const char *name)
{
	for (uint32_t i = 0; i < in->nxattr; i++) {
		if (strcmp(in->xattr[i].name, name))
			continue;
		free(in->xattr[i].name);
		free(in->xattr[i].value);
		in->xattr[i] = in->xattr[--in->nxattr];
		return 0;
	}
	return -ENODATA;
}

static int same_name(uint64_t p1, const char *n1, uint64_t p2, const char *n2)
{
	return p1 == p2 && n1 && n2 && !strcmp(n1, n2);
}

int mfs_inode_has_name(const struct mfs_inode *in, uint64_t parent, const char *name)
{
	if (same_name(in->parent, in->name, parent, name))
		return 1;
	for (uint32_t i = 0; i < in->nlinks; i++)
		if (same_name(in->links[i].parent, in->links[i].name, parent, name))
			return 1;
	return 0;
}

int mfs_inode_name_add(struct mfs_inode *in, uint64_t parent, const char *name)
{
	struct mfs_name *nl;
	char *copy;

	if (in->nlinks + 1 >= MFS_LINK_MAX)
		return -EMLINK;
	if (!(copy = strdup(name)))
		return -ENOMEM;
	if (!(nl = realloc(in->links, (in->nlinks + 1) * sizeof(*nl)))) {
		free(copy);
		return -ENOMEM;
	}
	in->links = nl;
	nl[in->nlinks].parent = parent;
	nl[in->nlinks].name = copy;
	in->nlinks++;
	return 0;
}

int mfs_inode_name_remove(struct mfs_inode *in, uint64_t parent, const char *name)
{
	uint32_t i;

	if (same_name(in->parent, in->name, parent, name)) {
		if (!in->nlinks)
			return -EMLINK;
		/* The last extra name becomes the first: no other entry moves. */
		i = --in->nlinks;
		free(in->name);
		in->parent = in->links[i].parent;
		in->name = in->links[i].name;
		return 0;
	}
	for (i = 0; i < in->nlinks; i++) {
		if (!same_name(in->links[i].parent, in->links[i].name, parent, name))
			continue;
		free(in->links[i].name);
		in->links[i] = in->links[--in->nlinks];
		return 0;
	}
	return -ENOENT;
}

int mfs_inode_name_move(struct mfs_inode *in, uint64_t parent, const char *name,
			uint64_t newparent, const char *newname)
{
	uint64_t *pp = NULL;
	char **np = NULL, *copy;

	/*
	 * The new name listed already (a stale name: a peer's op took its
	 * entry, namespace.h "Hard links", 4): the old one just goes, or the
	 * record would list the new one twice, nlink one too high for good.
	 */
	if (mfs_inode_has_name(in, newparent, newname) && mfs_inode_has_name(in, parent, name))
		return same_name(parent, name, newparent, newname) ?
			       0 : mfs_inode_name_remove(in, parent, name);

	if (same_name(in->parent, in->name, parent, name)) {
		pp = &in->parent;
		np = &in->name;
	}
	for (uint32_t i = 0; !np && i < in->nlinks; i++) {
		if (same_name(in->links[i].parent, in->links[i].name, parent, name)) {
			pp = &in->links[i].parent;
			np = &in->links[i].name;
		}
	}
	if (!np)
		return -ENOENT;
	if (!(copy = strdup(newname)))
		return -ENOMEM;
	free(*np);
	*np = copy;
	*pp = newparent;
	return 0;
}
