/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The revision record (rev_internal.h has its layout): writing entries,
 * reading them, checking a record from a peer whole, and walking the files
 * of every revision for the passes that must see every referenced chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rev_internal.h"
#include "store/base/errors.h"
#include "store/kv/db.h"

size_t rev_key(const uint8_t *name, size_t nlen, uint8_t out[REV_KEY_MAX])
{
	out[0] = 'r';
	out[1] = 'v';
	memcpy(out + 2, name, nlen);
	return 2 + nlen;
}

/* A name one directory entry may have: not empty, no '/' or NUL, not "." or "..". */
static int entry_name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > MFS_NAME_MAX || memchr(p, '/', n) || memchr(p, 0, n))
		return 0;
	return !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

int mfs_rev_name_ok(const char *name)
{
	size_t n = strlen(name);

	/* The control protocol is lines of text: no control bytes either. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
			return 0;
	return entry_name_ok((const uint8_t *)name, n);
}

static void wr_time(struct mfs_wr *w, const struct timespec *t)
{
	mfs_wr_u64(w, (uint64_t)t->tv_sec);
	mfs_wr_u32(w, (uint32_t)t->tv_nsec);
}

static int rd_time(struct mfs_rd *r, struct timespec *t)
{
	t->tv_sec = (time_t)mfs_rd_u64(r);
	t->tv_nsec = mfs_rd_u32(r);
	return t->tv_nsec < 1000000000 ? 0 : MFS_EFORMAT;
}

int rev_rd_hdr(struct mfs_rd *r, struct rev_hdr *h)
{
	uint8_t version = mfs_rd_u8(r);

	h->state = mfs_rd_u8(r);
	if (rd_time(r, &h->created))
		return MFS_EFORMAT;
	h->count = mfs_rd_u32(r);
	h->plen = mfs_rd_u16(r);
	h->path = mfs_rd_take(r, h->plen);
	if (r->bad || version != MFS_REV_VERSION || h->state > MFS_REV_LIVE ||
	    (h->state == MFS_REV_DELETED) != (h->count == 0) || h->count > MFS_REV_MAX_ENTRIES ||
	    (h->plen && memchr(h->path, 0, h->plen)))
		return MFS_EFORMAT;
	return 0;
}

void rev_wr_entry(struct mfs_wr *w, uint32_t parent, const char *name, size_t nlen,
		  const struct mfs_inode *in)
{
	mfs_wr_u32(w, parent);
	mfs_wr_u8(w, (uint8_t)nlen);
	mfs_wr_put(w, name, nlen);
	mfs_wr_u32(w, in->mode);
	mfs_wr_u32(w, in->uid);
	mfs_wr_u32(w, in->gid);
	mfs_wr_u64(w, in->size);
	wr_time(w, &in->mtime);
	wr_time(w, &in->ctime);
	mfs_wr_u64(w, in->ino);
	mfs_wr_u8(w, in->repl);
	mfs_wr_u8(w, in->has_manifest ? REV_F_MANIFEST : 0);
	if (in->has_manifest)
		mfs_wr_put(w, in->manifest.b, MFS_HASH_LEN);
	if (S_ISLNK(in->mode)) {
		size_t sl = in->symlink ? strlen(in->symlink) : 0;

		mfs_wr_u16(w, (uint16_t)sl);
		mfs_wr_put(w, in->symlink, sl);
	} else if (S_ISCHR(in->mode) || S_ISBLK(in->mode)) {
		mfs_wr_u64(w, in->rdev);
	}
	mfs_wr_u16(w, (uint16_t)in->nxattr);
	for (uint32_t i = 0; i < in->nxattr; i++) {
		size_t xl = strlen(in->xattr[i].name);

		mfs_wr_u8(w, (uint8_t)xl);
		mfs_wr_put(w, in->xattr[i].name, xl);
		mfs_wr_u32(w, in->xattr[i].len);
		mfs_wr_put(w, in->xattr[i].value, in->xattr[i].len);
	}
}

static int type_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK:
	case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		return 1;
	}
	return 0;
}

/* The xattr list as stored: names 1..255 bytes without NUL, values in bounds. */
static int rd_xattrs(struct mfs_rd *r, struct rev_ent *e)
{
	const uint8_t *start = r->p;
	size_t total = 0;

	e->nxattr = mfs_rd_u16(r);
	for (uint16_t i = 0; i < e->nxattr && !r->bad; i++) {
		uint8_t nl = mfs_rd_u8(r);
		const uint8_t *nm = mfs_rd_take(r, nl);
		uint32_t vl = mfs_rd_u32(r);

		if (r->bad || nl == 0 || memchr(nm, 0, nl) || vl > MFS_XATTR_VALUE_MAX)
			return MFS_EFORMAT;
		mfs_rd_take(r, vl);
		total += nl + vl;
	}
	if (r->bad || total > MFS_XATTR_TOTAL_MAX)
		return MFS_EFORMAT;
	e->xattrs = start + 2;
	e->xlen = (size_t)(r->p - e->xattrs);
	return 0;
}

int rev_rd_entry(struct mfs_rd *r, struct rev_ent *e)
{
	memset(e, 0, sizeof(*e));
	e->parent = mfs_rd_u32(r);
	e->nlen = mfs_rd_u8(r);
	e->name = mfs_rd_take(r, e->nlen);
	e->mode = mfs_rd_u32(r);
	e->uid = mfs_rd_u32(r);
	e->gid = mfs_rd_u32(r);
	e->size = mfs_rd_u64(r);
	if (rd_time(r, &e->mtime) || rd_time(r, &e->ctime))
		return MFS_EFORMAT;
	e->ino = mfs_rd_u64(r);
	e->repl = mfs_rd_u8(r);
	e->flags = mfs_rd_u8(r);
	if (e->flags & ~REV_F_MANIFEST || !type_ok(e->mode) ||
	    ((e->flags & REV_F_MANIFEST) && !S_ISREG(e->mode)))
		return MFS_EFORMAT;
	if (e->flags & REV_F_MANIFEST)
		e->manifest = mfs_rd_take(r, MFS_HASH_LEN);
	if (S_ISLNK(e->mode)) {
		e->slen = mfs_rd_u16(r);
		e->symlink = mfs_rd_take(r, e->slen);
		if (r->bad || e->slen == 0 || e->slen > REV_SYMLINK_MAX ||
		    memchr(e->symlink, 0, e->slen))
			return MFS_EFORMAT;
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		e->rdev = mfs_rd_u64(r);
	}
	if (rd_xattrs(r, e) || r->bad)
		return MFS_EFORMAT;
	return 0;
}

int rev_ent_attrs(const struct rev_ent *e, struct mfs_inode *out)
{
	struct mfs_rd r = { .p = e->xattrs, .left = e->xlen };

	out->mode = e->mode;
	out->uid = e->uid;
	out->gid = e->gid;
	out->size = e->size;
	out->mtime = e->mtime;
	out->atime = e->mtime;
	out->ctime = e->ctime;
	out->repl = e->repl;
	out->version = 1;
	out->rdev = e->rdev;
	out->nlink = 1;
	if ((out->has_manifest = !!e->manifest))
		memcpy(out->manifest.b, e->manifest, MFS_HASH_LEN);
	if (e->symlink && !(out->symlink = strndup((const char *)e->symlink, e->slen)))
		return -ENOMEM;
	for (uint16_t i = 0; i < e->nxattr; i++) {
		uint8_t nl = mfs_rd_u8(&r);
		char name[MFS_XATTR_NAME_MAX + 1];
		const uint8_t *nm = mfs_rd_take(&r, nl);
		uint32_t vl = mfs_rd_u32(&r);
		const uint8_t *v = mfs_rd_take(&r, vl);
		int rc;

		memcpy(name, nm, nl);
		name[nl] = 0;
		if ((rc = mfs_inode_xattr_set(out, name, v, vl)))
			return rc;
	}
	return 0;
}

/* Bytewise order of names, as RocksDB keeps the dirents. */
static int name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

/*
 * Entry i's place in the tree: entry 0 the top directory, every other one
 * under an earlier directory, parents in order (breadth first), names of
 * one directory strictly ascending.
 */
static int place_ok(const struct rev_ent *e, const struct rev_ent *prev, uint32_t i,
		    const uint8_t *is_dir)
{
	if (i == 0)
		return e->parent == 0 && e->nlen == 0 && S_ISDIR(e->mode);
	if (e->parent >= i || !is_dir[e->parent] || !entry_name_ok(e->name, e->nlen))
		return 0;
	if (i == 1)
		return 1;
	if (e->parent < prev->parent)
		return 0;
	return e->parent > prev->parent || name_cmp(prev->name, prev->nlen, e->name, e->nlen) < 0;
}

int mfs_rev_check(const uint8_t *p, size_t n)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct rev_ent e, prev = { 0 };
	struct rev_hdr h;
	uint8_t *is_dir = NULL;
	int rc;

	if ((rc = rev_rd_hdr(&r, &h)))
		return rc;
	if (h.count && !(is_dir = calloc(h.count, 1)))
		return -ENOMEM;
	for (uint32_t i = 0; i < h.count; i++) {
		if ((rc = rev_rd_entry(&r, &e)))
			break;
		if (!place_ok(&e, &prev, i, is_dir)) {
			rc = MFS_EFORMAT;
			break;
		}
		is_dir[i] = S_ISDIR(e.mode);
		prev = e;
	}
	free(is_dir);
	if (!rc && r.left)
		rc = MFS_EFORMAT;
	return rc;
}

/* Paths of entries as they are read: each entry's path is its parent's + "/" + name. */
struct paths {
	char **v;
	uint32_t n;
};

static void paths_free(struct paths *ps)
{
	for (uint32_t i = 0; i < ps->n; i++)
		free(ps->v[i]);
	free(ps->v);
}

int mfs_rev_files_of(const uint8_t *p, size_t n, const char *name, mfs_rev_file_fn fn,
		     void *arg)
{
	struct mfs_rd r = { .p = p, .left = n };
	struct paths ps = { 0 };
	struct rev_hdr h;
	struct rev_ent e;
	int rc;

	if ((rc = rev_rd_hdr(&r, &h)) || !h.count)
		return rc;
	if (!(ps.v = calloc(h.count, sizeof(*ps.v))))
		return -ENOMEM;
	ps.n = h.count;
	for (uint32_t i = 0; i < h.count && !rc; i++) {
		struct mfs_inode in = { 0 };
		int file;

		if ((rc = rev_rd_entry(&r, &e)))
			break;
		if (i && (e.parent >= i || !ps.v[e.parent])) {
			rc = MFS_EFORMAT;
			break;
		}
		file = S_ISREG(e.mode) && e.manifest;
		if (!S_ISDIR(e.mode) && !file)
			continue;
		if ((i ? asprintf(&ps.v[i], "%s/%.*s", ps.v[e.parent], e.nlen, e.name) :
		     asprintf(&ps.v[i], "/" MFS_REVS_NAME "/%s", name)) < 0) {
			ps.v[i] = NULL;
			rc = -ENOMEM;
			break;
		}
		if (!file)
			continue;
		in.ino = e.ino;
		in.mode = e.mode;
		in.size = e.size;
		in.repl = e.repl;
		in.has_manifest = 1;
		memcpy(in.manifest.b, e.manifest, MFS_HASH_LEN);
		rc = fn(arg, ps.v[i], &in);
		free(ps.v[i]); /* only directories' paths are needed again */
		ps.v[i] = NULL;
	}
	paths_free(&ps);
	return rc;
}

struct scan {
	rev_scan_fn fn;
	void *arg;
};

static int scan_one(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	const struct scan *s = arg;
	char name[MFS_NAME_MAX + 1];

	if (kl < 3 || kl > REV_KEY_MAX)
		return 0;
	memcpy(name, k + 2, kl - 2);
	name[kl - 2] = 0;
	return s->fn(s->arg, name, v, vl);
}

int rev_scan(struct mfs_db *db, rev_scan_fn fn, void *arg)
{
	struct scan s = { .fn = fn, .arg = arg };

	return mfs_db_each(db, MFS_CF_META, "rv", 2, scan_one, &s);
}

struct each_file {
	mfs_rev_file_fn fn;
	int (*bad)(void *arg, const char *name);
	void *arg;
};

static int each_file_of(void *arg, const char *name, const uint8_t *v, size_t vl)
{
	struct each_file *ef = arg;
	int rc;

	/* Checked when applied; one that does not check now is a finding. */
	if ((rc = mfs_rev_check(v, vl)) == MFS_EFORMAT)
		return ef->bad ? ef->bad(ef->arg, name) : 0;
	return rc ? rc : mfs_rev_files_of(v, vl, name, ef->fn, ef->arg);
}

int mfs_rev_each_file(struct mfs_db *db, mfs_rev_file_fn fn,
		      int (*bad)(void *arg, const char *name), void *arg)
{
	struct each_file ef = { fn, bad, arg };

	return rev_scan(db, each_file_of, &ef);
}
