/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace operations over the inodes and dirents column families.
 *
 * Keys (doc/format.md):
 *   inodes:  ino (u64 BE)                   -> inode record (inode.c)
 *   dirents: parent ino (u64 BE) + name     -> u64 child ino, u32 mode (LE)
 *   meta:    "format", "node_id" (a 64-bit id), "ino_space" (16 bits), "next_ino" -> u64 (LE)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "namespace.h"
#include "ns_internal.h"
#include "rev_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

/* ------------------------------------------------------------------------ */
/* keys and small helpers                                                    */

int dirent_key(uint64_t parent, const char *name, struct dirent_key *k)
{
	size_t n = strlen(name);

	if (n == 0 || n > MFS_NAME_MAX)
		return -ENAMETOOLONG;
	put_be64(k->b, parent);
	memcpy(k->b + 8, name, n);
	k->len = 8 + n;
	return 0;
}

void now(struct timespec *t)
{
	clock_gettime(CLOCK_REALTIME, t);
}

/*
 * An entry whose inode is gone is not listed, and its name counts as free.  Only replication makes such
 * entries: a peer renamed a file while another unlinked it, and the unlink
 * was later, so the inode's deletion won and the rename's new name did not
 * meet any competitor.  Every node holds the same dangling entry and hides
 * it the same way, so the trees still agree.
 */
static int child_exists(struct mfs_ns *ns, uint64_t ino)
{
	uint8_t key[8];

	mfs_ino_key(ino, key);
	return mfs_db_exists(ns->db, MFS_CF_INODES, key, 8) != 0;
}

/* The stored dirent, dangling or not: 0 with *ino, -ENOENT, or an error. */
static int read_dirent(struct mfs_ns *ns, const struct dirent_key *k, uint64_t *ino)
{
	struct mfs_val v;
	int rc = mfs_db_get(ns->db, MFS_CF_DIRENTS, k->b, k->len, &v, 1);

	if (rc)
		return rc;
	rc = v.len == 12 ? 0 : MFS_EFORMAT;
	if (!rc)
		*ino = get_le64(v.p);
	mfs_val_release(&v);
	return rc;
}

/* Reads a dirent: 0 with *ino, -ENOENT (also when dangling: the name is free), or an error. */
int get_dirent(struct mfs_ns *ns, const struct dirent_key *k, uint64_t *ino)
{
	int rc = read_dirent(ns, k, ino);

	if (!rc && !child_exists(ns, *ino))
		rc = -ENOENT;
	return rc;
}

int meta_get_u64(struct mfs_ns *ns, const char *key, uint64_t *out)
{
	struct mfs_val v;
	int rc = mfs_db_get(ns->db, MFS_CF_META, key, strlen(key), &v, 1);

	if (rc)
		return rc;
	if (v.len == 8)
		*out = get_le64(v.p);
	else if (v.len == 4)
		*out = get_le32(v.p);
	else if (v.len == 2)
		*out = get_le16(v.p);
	else
		rc = MFS_EFORMAT;
	mfs_val_release(&v);
	return rc;
}

void meta_put_u64(struct mfs_batch *b, const char *key, uint64_t v)
{
	uint8_t buf[8];

	put_le64(buf, v);
	mfs_batch_put(b, MFS_CF_META, key, strlen(key), buf, 8);
}

static uint64_t alloc_ino(struct mfs_ns *ns, struct mfs_batch *b)
{
	uint64_t ino = (uint64_t)ns->space << 48 | ns->next_counter++;

	meta_put_u64(b, "next_ino", ns->next_counter);
	return ino;
}

/* ------------------------------------------------------------------------ */
/* reads                                                                     */

/* ino's stored record, with its extended attributes if xattrs (else none). */
static int get_record(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *out, int xattrs)
{
	struct mfs_val v;
	uint8_t key[8];
	int rc;

	memset(out, 0, sizeof(*out));
	mfs_ino_key(ino, key);
	if ((rc = mfs_db_get(ns->db, MFS_CF_INODES, key, 8, &v, 1)))
		return rc;
	rc = xattrs ? mfs_inode_decode(ino, v.p, v.len, out) :
		      mfs_inode_decode_no_xattrs(ino, v.p, v.len, out);
	mfs_val_release(&v);
	if (rc == MFS_EFORMAT)
		log_error("inode %016llx: malformed record", (unsigned long long)ino);
	return rc;
}

int mfs_ns_get(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *out)
{
	if (mfs_rev_is_ino(ino))
		return rev_get(ns, ino, out);
	return get_record(ns, ino, out, 1);
}

int mfs_ns_lookup(struct mfs_ns *ns, uint64_t parent, const char *name, struct mfs_inode *out)
{
	struct dirent_key k;
	uint64_t ino, to;
	int rc;

	if (mfs_rev_is_ino(parent))
		return rev_lookup(ns, parent, name, out);
	if (parent == MFS_ROOT_INO && !strcmp(name, MFS_REVS_NAME))
		return rev_get(ns, MFS_REVS_INO, out);
	memset(out, 0, sizeof(*out));
	if ((rc = dirent_key(parent, name, &k)))
		return rc;
	/* A dangling entry's inode read gives -ENOENT: no need to check it twice. */
	rc = read_dirent(ns, &k, &ino);
	if (rc == -ENOENT && (to = ns_forward_dir(ns, parent)) && !dirent_key(to, name, &k))
		rc = read_dirent(ns, &k, &ino); /* a directory merged away */
	/*
	 * The two reads are not one snapshot: a publish (a new inode, the
	 * old record deleted) or a rename over the name between them left
	 * the entry read leading nowhere, and a path that never went away
	 * was not found (a truncate(2) racing a rewrite: ENOENT, t0408; the
	 * kernel then caches the negative entry).  The name leads on to
	 * its new inode: read it again while it moves.
	 */
	if (rc)
		return rc;
	while ((rc = mfs_ns_get(ns, ino, out)) == -ENOENT) {
		uint64_t again;

		if (read_dirent(ns, &k, &again) || again == ino)
			break;
		ino = again;
	}
	return rc;
}

int mfs_ns_readdir(struct mfs_ns *ns, uint64_t dir, const char *after, uint64_t skip,
		   mfs_dirent_fn fn, void *arg)
{
	struct dirent_key from;
	uint8_t prefix[8];
	struct mfs_iter *it;
	int rc = 0;

	/* /.snapshots is not listed in the root (rev.h): `cp -a`, du and find of
	 * the whole mount see each file once. */
	if (mfs_rev_is_ino(dir))
		return rev_readdir(ns, dir, after, skip, fn, arg);
	put_be64(prefix, dir);
	if (!(it = mfs_iter_new(ns->db, MFS_CF_DIRENTS, prefix, 8)))
		return -ENOMEM;
	if (after && !dirent_key(dir, after, &from)) {
		mfs_iter_seek(it, from.b, from.len);
		skip = 0;
		if (mfs_iter_valid(it)) {
			size_t kl;
			const uint8_t *k = mfs_iter_key(it, &kl);

			if (kl == from.len && !memcmp(k, from.b, kl))
				mfs_iter_next(it); /* `after` itself was listed already */
		}
	}
	/* Skipping by count is O(n), for seekdir() only; listings resume by name. */
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		char name[MFS_NAME_MAX + 1];

		if (skip) {
			skip--;
			continue;
		}
		if (kl <= 8 || kl > 8 + MFS_NAME_MAX || vl != 12) {
			log_error("directory %016llx: malformed entry", (unsigned long long)dir);
			continue;
		}
		memcpy(name, k + 8, kl - 8);
		name[kl - 8] = 0;
		if (!child_exists(ns, get_le64(v)))
			continue;
		if ((rc = fn(arg, name, get_le64(v), get_le32(v + 8))))
			break;
	}
	if (rc > 0)
		rc = 0;
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

static int count_one(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	(*(int *)arg)++;
	return 1; /* one is enough to know it is not empty */
}

int ns_dir_is_empty(struct mfs_ns *ns, uint64_t dir)
{
	int n = 0, rc = mfs_ns_readdir(ns, dir, NULL, 0, count_one, &n);

	return rc ? rc : n == 0;
}

int ns_count_subdirs(struct mfs_ns *ns, uint64_t dir, uint32_t *n)
{
	uint8_t prefix[8];
	struct mfs_iter *it;
	int rc;

	*n = 0;
	put_be64(prefix, dir);
	if (!(it = mfs_iter_new(ns->db, MFS_CF_DIRENTS, prefix, 8)))
		return -ENOMEM;
	/* The entry's mode first: only a directory's inode is looked up. */
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *v = mfs_iter_value(it, &vl);

		mfs_iter_key(it, &kl);
		if (kl > 8 && kl <= 8 + MFS_NAME_MAX && vl == 12 && S_ISDIR(get_le32(v + 8)) &&
		    child_exists(ns, get_le64(v)))
			(*n)++;
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

char *mfs_ns_path(struct mfs_ns *ns, uint64_t ino)
{
	char *path = strdup(""), *next;
	int depth = 0;

	while (path && ino != MFS_ROOT_INO && depth++ < 4096) {
		struct mfs_inode in;

		if (mfs_ns_get(ns, ino, &in)) {
			next = NULL;
			if (asprintf(&next, "<%016llx>%s", (unsigned long long)ino, path) < 0)
				next = NULL;
			free(path);
			return next;
		}
		if (asprintf(&next, "/%s%s", in.name ? in.name : "?", path) < 0)
			next = NULL;
		free(path);
		path = next;
		ino = in.parent;
		mfs_inode_release(&in);
	}
	if (path && !*path) {
		free(path);
		path = strdup("/");
	}
	return path;
}

/* ------------------------------------------------------------------------ */
/* writes                                                                    */

/*
 * Ends a write operation: unlocks ns and, if it succeeded, waits until its
 * op (and every op before it) is durable, unless `when` lets it wait for a
 * later sync (ns_internal.h).  The op was written to the WAL unsynced under
 * the lock (txn_commit), so it already survives a kill of the process; the
 * sync runs outside the lock, so the operations of concurrent requests share
 * one (group commit, mfs_db_sync) while the next operation already runs.
 * The caller replies only after.  An op left unsynced is made durable by the
 * next synced one (the WAL is one ordered log), by mfs_ns_sync (fsync, the
 * daemon's periodic sync), or before it is served to a peer.
 */
int ns_unlock_durable(struct mfs_ns *ns, int rc, enum ns_sync when)
{
	uint64_t upto = ns->seq;

	pthread_mutex_unlock(&ns->lock);
	if (rc || when == NS_SYNC_LATER ||
	    (when == NS_SYNC_DEFER && __atomic_load_n(&ns->defer_syncs, __ATOMIC_RELAXED)))
		return rc;
	return ns_wait_durable(ns, upto);
}

void mfs_ns_defer_syncs(struct mfs_ns *ns, int on)
{
	__atomic_store_n(&ns->defer_syncs, !!on, __ATOMIC_RELAXED);
}

int mfs_ns_sync(struct mfs_ns *ns)
{
	return ns_wait_durable(ns, mfs_ns_seq(ns));
}

uint64_t mfs_ns_unsynced(struct mfs_ns *ns)
{
	uint64_t seq = mfs_ns_seq(ns), durable = __atomic_load_n(&ns->durable_seq, __ATOMIC_ACQUIRE);

	return seq > durable ? seq - durable : 0;
}

/* Parent must exist and be a directory; returns its record in *dir. */
int ns_get_dir(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *dir)
{
	int rc = mfs_ns_get(ns, ino, dir);

	if (!rc && !S_ISDIR(dir->mode)) {
		mfs_inode_release(dir);
		rc = -ENOTDIR;
	}
	return rc;
}

/*
 * ns_get_dir of *parent, or, for a directory merged away, of the one its
 * entries went to (ns_forward.c): *parent and k (the entry name's key,
 * unless NULL) then follow it.
 */
int ns_get_dir_fwd(struct mfs_ns *ns, uint64_t *parent, const char *name, struct dirent_key *k,
		   struct mfs_inode *dir)
{
	int rc = ns_get_dir(ns, *parent, dir);
	uint64_t to;

	if (rc != -ENOENT || !(to = ns_forward_dir(ns, *parent)))
		return rc;
	if (k && (rc = dirent_key(to, name, k)))
		return rc;
	if (!(rc = ns_get_dir(ns, to, dir)))
		*parent = to;
	return rc;
}

int mfs_ns_create(struct mfs_ns *ns, uint64_t parent, const char *name,
		  const struct mfs_ns_new *nw, struct mfs_inode *out)
{
	struct mfs_inode dir = { 0 }, in = { 0 };
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t existing;
	int rc;

	memset(out, 0, sizeof(*out));
	if (mfs_rev_is_name(parent, name))
		return mfs_rev_is_ino(parent) ? -EROFS : -EEXIST;
	if ((rc = dirent_key(parent, name, &k)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	if ((rc = ns_get_dir_fwd(ns, &parent, name, &k, &dir)))
		goto out;
	rc = get_dirent(ns, &k, &existing);
	if (rc != -ENOENT) {
		rc = rc ? rc : -EEXIST;
		goto out;
	}
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	in.ino = alloc_ino(ns, t.b);
	in.parent = parent;
	in.mode = nw->mode;
	in.uid = nw->uid;
	in.gid = nw->gid;
	in.flags = nw->flags;
	in.repl = dir.repl ? dir.repl : MFS_DEFAULT_REPL;
	in.nlink = S_ISDIR(nw->mode) ? 2 : 1;
	if (S_ISCHR(nw->mode) || S_ISBLK(nw->mode))
		in.rdev = nw->rdev;
	now(&in.mtime);
	in.atime = in.ctime = in.mtime;
	if (!(in.name = strdup(name)))
		goto out;
	if (nw->symlink) {
		if (!(in.symlink = strdup(nw->symlink)))
			goto out;
		in.size = strlen(nw->symlink);
	}
	if (S_ISDIR(nw->mode))
		dir.nlink++;
	dir.mtime = dir.ctime = in.mtime;
	if ((rc = txn_put_inode(&t, &in)) || (rc = txn_touch_dir(&t, &dir)))
		goto out;
	txn_put_dirent(&t, &k, in.ino, in.mode);
	if ((rc = txn_commit(ns, &t)))
		goto out;
	*out = in;
	memset(&in, 0, sizeof(in));
out:
	rc = ns_unlock_durable(ns, rc, nw->flags & MFS_I_PENDING ? NS_SYNC_LATER : NS_SYNC_DEFER);
	if (rc)
		mfs_inode_release(out);
	txn_free(&t);
	mfs_inode_release(&in);
	mfs_inode_release(&dir);
	return rc;
}

/* Deletes in's names other than parent/name that still lead to it, touching their directories. */
static int del_other_names(struct mfs_ns *ns, struct ns_txn *t, const struct mfs_inode *in,
			   uint64_t parent, const char *name, const struct timespec *tm)
{
	for (uint32_t i = 0; i <= in->nlinks; i++) {
		uint64_t p = i ? in->links[i - 1].parent : in->parent, cur;
		const char *nm = i ? in->links[i - 1].name : in->name;
		struct mfs_inode dir;
		struct dirent_key k;
		int rc;

		if (!nm || (p == parent && !strcmp(nm, name)) || dirent_key(p, nm, &k))
			continue;
		rc = get_dirent(ns, &k, &cur);
		if (rc == -ENOENT || (!rc && cur != in->ino))
			continue;
		if (rc)
			return rc;
		txn_del_dirent(t, &k);
		if (p == parent || ns_get_dir(ns, p, &dir))
			continue;
		dir.mtime = dir.ctime = *tm;
		rc = txn_touch_dir(t, &dir);
		mfs_inode_release(&dir);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_name_leads_to(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino)
{
	struct dirent_key k;
	uint64_t cur;
	int rc;

	if (!name || dirent_key(parent, name, &k))
		return 0;
	rc = get_dirent(ns, &k, &cur);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : cur == ino;
}

/* in's i-th name: 0 is (parent, name), the others links[i - 1]. */
static void nth_name(const struct mfs_inode *in, uint32_t i, uint64_t *parent, const char **name)
{
	*parent = i ? in->links[i - 1].parent : in->parent;
	*name = i ? in->links[i - 1].name : in->name;
}

/*
 * Lists seen true.  An unlink of one of a file's names must know which of
 * the others still lead to it (ns_drop_name, below), and reading every
 * listed name's entry made each unlink cost one read per name: a file of
 * a thousand hard links (cp -al, rsync --link-dest, stress-ng --link)
 * took a thousand reads per unlink.  Only a peer's op (or a repair of
 * one) makes a listed name stale; link, unlink, rename and setattr drop or
 * move a name only together with the record that lists it.  So once an
 * unlink has seen that every listed name of a file leads to it, its next
 * unlinks trust the list, until a commit of any other kind, or any
 * applied op, forgets every list seen (names_gen moves on).  Kept in
 * memory: a restart, or a file pushed out of the few slots, costs one
 * read per name once more.
 */
static struct ns_names_ok *names_slot(struct mfs_ns *ns, uint64_t ino)
{
	return &ns->names_ok[(ino ^ ino >> 17 ^ ino >> 48) % NS_NAMES_OK_MAX];
}

int ns_names_known_ok(struct mfs_ns *ns, uint64_t ino)
{
	const struct ns_names_ok *s = names_slot(ns, ino);

	return s->ino == ino && s->gen == ns->names_gen;
}

void ns_names_note_ok(struct mfs_ns *ns, uint64_t ino)
{
	*names_slot(ns, ino) = (struct ns_names_ok){ ino, ns->names_gen };
}

void ns_names_forget(struct mfs_ns *ns)
{
	ns->names_gen++;
}

int ns_name_leads_to_held(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino)
{
	struct dirent_key k;
	uint64_t cur;
	int rc;

	if (!name || dirent_key(parent, name, &k))
		return 0;
	rc = read_dirent(ns, &k, &cur);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : cur == ino;
}

static int is_name(uint64_t p, const char *nm, uint64_t parent, const char *name)
{
	return nm && p == parent && !strcmp(nm, name);
}

/* in's list is true (ns_names_known_ok): it loses parent/name, or goes if that was its only name. */
static int drop_trusted(struct ns_txn *t, struct mfs_inode *in, uint64_t parent, const char *name,
			const struct timespec *tm)
{
	int rc = mfs_inode_name_remove(in, parent, name);

	/* -EMLINK: its only name; -ENOENT: an entry it does not list, its names stay. */
	if (rc == -EMLINK) {
		txn_del_inode(t, in->ino);
		return 0;
	}
	if (rc && rc != -ENOENT)
		return rc;
	in->nlink = 1 + in->nlinks;
	in->ctime = *tm;
	t->names_ok = in->ino;
	return txn_put_inode(t, in);
}

/* in keeps the names whose keep[i] is set (in nth_name's order; at least one), in that order. */
static void keep_names(struct mfs_inode *in, const uint8_t *keep)
{
	uint32_t n = in->nlinks + 1, k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t p;
		const char *nm;

		nth_name(in, i, &p, &nm);
		if (!keep[i]) {
			free((char *)nm);
		} else if (k++ == 0) {
			in->parent = p;
			in->name = (char *)nm;
		} else {
			in->links[k - 2] = (struct mfs_name){ p, (char *)nm };
		}
	}
	in->nlinks = k - 1;
}

/*
 * The file in (not a directory) loses its name parent/name, in t: its
 * record is deleted if none of its other names still leads to it, else
 * rewritten without that name and without the names that no longer lead
 * to it.  A record can list such names (namespace.h, "Hard links", 4): a
 * peer's unlink of one name raced a link of another and the link's record
 * won.  Counted as names, they kept the record after its last working
 * name went: a file that no path shows and no unlink can reach, whose
 * chunks gc never frees, and that fsck counts as healthy.  Each listed
 * name's entry is read once, and not at all when the list was seen true
 * since the last write that could make it stale (above).
 */
int ns_drop_name(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *in, uint64_t parent,
		 const char *name, const struct timespec *tm)
{
	uint32_t i, others = 0, n = in->nlinks + 1;
	uint8_t *leads;
	const char *nm;
	uint64_t p;
	int rc = 0;

	if (in->name && ns_names_known_ok(ns, in->ino))
		return drop_trusted(t, in, parent, name, tm);
	if (!(leads = calloc(n, 1)))
		return -ENOMEM;
	for (i = 0; i < n && rc >= 0; i++) {
		nth_name(in, i, &p, &nm);
		if (is_name(p, nm, parent, name))
			continue;
		if ((rc = ns_name_leads_to_held(ns, p, nm, in->ino)) > 0)
			leads[i] = 1;
		others += rc > 0;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	if (!others) {
		txn_del_inode(t, in->ino);
		goto out;
	}
	for (i = 0; i < n; i++) {
		nth_name(in, i, &p, &nm);
		leads[i] |= !nm; /* kept as it was */
	}
	keep_names(in, leads);
	in->nlink = 1 + in->nlinks;
	in->ctime = *tm;
	t->names_ok = in->ino;
	rc = txn_put_inode(t, in);
out:
	free(leads);
	return rc;
}

static int ns_remove(struct mfs_ns *ns, uint64_t parent, const char *name, int dir_wanted,
		     uint64_t expect, uint64_t *removed_ino, struct mfs_inode *before)
{
	struct mfs_inode dir = { 0 }, in = { 0 };
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t ino;
	int rc;

	if (mfs_rev_is_name(parent, name))
		return -EROFS;
	if ((rc = dirent_key(parent, name, &k)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	if ((rc = ns_get_dir_fwd(ns, &parent, name, &k, &dir)) || (rc = get_dirent(ns, &k, &ino)))
		goto out;
	if (expect && ino != expect) {
		rc = -ENOENT;
		goto out;
	}
	if ((rc = mfs_ns_get(ns, ino, &in)))
		goto out;
	if (dir_wanted && !S_ISDIR(in.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!dir_wanted && S_ISDIR(in.mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (dir_wanted && (rc = ns_dir_is_empty(ns, ino)) != 1) {
		rc = rc ? rc : -ENOTEMPTY;
		goto out;
	}
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	t.keeps_names = 1;
	if (dir_wanted)
		dir.nlink--;
	now(&dir.mtime);
	dir.ctime = dir.mtime;
	if ((rc = txn_touch_dir(&t, &dir)))
		goto out;
	txn_del_dirent(&t, &k);
	if (expect && in.nlinks) {
		/* A file never published goes whole, with every name. */
		if ((rc = del_other_names(ns, &t, &in, parent, name, &dir.mtime)))
			goto out;
		txn_del_inode(&t, ino);
	} else if (!dir_wanted) {
		/* It lives on while another name leads to it (namespace.h, "Hard links"). */
		if ((rc = ns_drop_name(ns, &t, &in, parent, name, &dir.mtime)))
			goto out;
	} else {
		txn_del_inode(&t, ino);
	}
	if ((rc = txn_commit(ns, &t)))
		goto out;
	if (removed_ino)
		*removed_ino = ino;
	if (before) {
		*before = in;
		memset(&in, 0, sizeof(in));
	}
out:
	rc = ns_unlock_durable(ns, rc, NS_SYNC_DEFER);
	txn_free(&t);
	mfs_inode_release(&in);
	mfs_inode_release(&dir);
	return rc;
}

int mfs_ns_remove(struct mfs_ns *ns, uint64_t parent, const char *name, int dir,
		  uint64_t *removed_ino)
{
	return ns_remove(ns, parent, name, dir, 0, removed_ino, NULL);
}

int mfs_ns_remove_rec(struct mfs_ns *ns, uint64_t parent, const char *name, int dir,
		      struct mfs_inode *before)
{
	memset(before, 0, sizeof(*before));
	return ns_remove(ns, parent, name, dir, 0, NULL, before);
}

int mfs_ns_remove_if(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino)
{
	return ns_remove(ns, parent, name, 0, ino, NULL, NULL);
}

int mfs_ns_drop_pending(struct mfs_ns *ns, uint64_t ino)
{
	struct mfs_inode in = { 0 };
	struct ns_txn t = { 0 };
	int rc;

	if (mfs_rev_is_ino(ino))
		return -EROFS;
	pthread_mutex_lock(&ns->lock);
	if ((rc = mfs_ns_get(ns, ino, &in)))
		goto out;
	if (!(in.flags & MFS_I_PENDING) || S_ISDIR(in.mode)) {
		rc = -EBUSY;
		goto out;
	}
	for (uint32_t i = 0; i <= in.nlinks; i++) {
		uint64_t p;
		const char *nm;

		nth_name(&in, i, &p, &nm);
		if ((rc = ns_name_leads_to(ns, p, nm, ino))) {
			rc = rc < 0 ? rc : -EEXIST;
			goto out;
		}
	}
	if ((rc = txn_begin(ns, &t)))
		goto out;
	txn_del_inode(&t, ino);
	rc = txn_commit(ns, &t);
out:
	rc = ns_unlock_durable(ns, rc, NS_SYNC_LATER);
	txn_free(&t);
	mfs_inode_release(&in);
	return rc;
}

int mfs_ns_link(struct mfs_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		struct mfs_inode *out)
{
	struct mfs_inode dir = { 0 }, in = { 0 };
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t existing;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (mfs_rev_is_ino(ino) || mfs_rev_is_ino(newparent))
		return -EROFS;
	if (mfs_rev_is_name(newparent, newname))
		return -EEXIST;
	if ((rc = dirent_key(newparent, newname, &k)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	if ((rc = ns_get_dir_fwd(ns, &newparent, newname, &k, &dir)) || (rc = mfs_ns_get(ns, ino, &in)))
		goto out;
	if (S_ISDIR(in.mode)) {
		rc = -EPERM;
		goto out;
	}
	rc = get_dirent(ns, &k, &existing);
	if (rc != -ENOENT) {
		rc = rc ? rc : -EEXIST;
		goto out;
	}
	/* A stale name (namespace.h, "Hard links", 4) may list it already: once is enough. */
	if (!mfs_inode_has_name(&in, newparent, newname) &&
	    (rc = mfs_inode_name_add(&in, newparent, newname)))
		goto out;
	in.nlink = 1 + in.nlinks;
	now(&in.ctime);
	dir.mtime = dir.ctime = in.ctime;
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	t.keeps_names = 1; /* the name added leads to the file */
	if ((rc = txn_put_inode(&t, &in)) || (rc = txn_touch_dir(&t, &dir)))
		goto out;
	txn_put_dirent(&t, &k, ino, in.mode);
	if ((rc = txn_commit(ns, &t)))
		goto out;
	if (out) {
		*out = in;
		memset(&in, 0, sizeof(in));
	}
out:
	rc = ns_unlock_durable(ns, rc, NS_SYNC_DEFER);
	if (rc && out)
		mfs_inode_release(out);
	txn_free(&t);
	mfs_inode_release(&in);
	mfs_inode_release(&dir);
	return rc;
}

int mfs_ns_setattr(struct mfs_ns *ns, uint64_t ino, const struct mfs_inode *src, unsigned mask,
		   struct mfs_inode *out)
{
	struct mfs_inode in = { 0 };
	struct ns_txn t = { 0 };
	int rc, pending = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	if (mfs_rev_is_ino(ino))
		return -EROFS;
	pthread_mutex_lock(&ns->lock);
	/* The attributes src brings replace the stored ones whole: not read. */
	if ((rc = get_record(ns, ino, &in, !(mask & MFS_ATTR_XATTR))))
		goto out;
	/* cp -a sets times, owner, mode and xattrs before close: on a file
	 * still pending these need no sync of their own (ns_unlock_durable). */
	pending = !!(in.flags & MFS_I_PENDING);
	if (mask & MFS_ATTR_MODE)
		in.mode = (in.mode & S_IFMT) | (src->mode & 07777);
	if (mask & MFS_ATTR_UID)
		in.uid = src->uid;
	if (mask & MFS_ATTR_GID)
		in.gid = src->gid;
	if (mask & MFS_ATTR_ATIME)
		in.atime = src->atime;
	if (mask & MFS_ATTR_MTIME)
		in.mtime = src->mtime;
	if (mask & MFS_ATTR_CTIME)
		in.ctime = src->ctime;
	if (mask & MFS_ATTR_REPL)
		in.repl = src->repl;
	if ((mask & MFS_ATTR_XATTR) && (rc = mfs_inode_xattrs_copy(&in, src)))
		goto out;
	rc = -ENOMEM;
	if (txn_begin(ns, &t))
		goto out;
	t.keeps_names = 1; /* no name changes */
	if ((rc = txn_put_inode(&t, &in)) || (rc = txn_commit(ns, &t)))
		goto out;
	if (out) {
		*out = in;
		memset(&in, 0, sizeof(in));
	}
out:
	rc = ns_unlock_durable(ns, rc, pending ? NS_SYNC_LATER : NS_SYNC_DEFER);
	if (rc && out)
		mfs_inode_release(out);
	txn_free(&t);
	mfs_inode_release(&in);
	return rc;
}

int mfs_ns_publish(struct mfs_ns *ns, uint64_t ino, const struct mfs_hash *manifest,
		   uint64_t size, const struct timespec *mtime, const struct timespec *ctime,
		   struct mfs_inode *out)
{
	return mfs_ns_publish_with(ns, ino, manifest, size, mtime, ctime, NULL, out);
}

/*
 * A new version of a published file gets a new inode (see namespace.h):
 * in (read under ns->lock, named by k) is renumbered in t, and its every
 * name that still leads to it moves with it, in the same batch ("Hard
 * links", 2).
 */
static int publish_new_inode(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *in,
			     const struct dirent_key *k)
{
	uint64_t ino = in->ino, cur;

	txn_del_inode(t, ino);
	in->ino = alloc_ino(ns, t->b);
	txn_put_dirent(t, k, in->ino, in->mode);
	for (uint32_t i = 0; i < in->nlinks; i++) {
		struct dirent_key kl;
		int rc = dirent_key(in->links[i].parent, in->links[i].name, &kl);

		if (!rc)
			rc = get_dirent(ns, &kl, &cur);
		if (rc && rc != -ENOENT && rc != -ENAMETOOLONG)
			return rc;
		if (rc || cur != ino)
			continue; /* a name peers took elsewhere meanwhile */
		txn_put_dirent(t, &kl, in->ino, in->mode);
	}
	return 0;
}

/* The published version's size, manifest and times (now where not given; ctime never goes back). */
static void publish_fields(struct mfs_inode *in, const struct mfs_hash *manifest, uint64_t size,
			   const struct timespec *mtime, const struct timespec *ctime)
{
	struct timespec tnow;

	in->flags &= ~MFS_I_PENDING;
	in->size = size;
	in->version++;
	in->has_manifest = manifest != NULL;
	if (manifest)
		in->manifest = *manifest;
	else
		memset(&in->manifest, 0, sizeof(in->manifest));
	now(&tnow);
	in->mtime = mtime ? *mtime : tnow;
	if (!ctime)
		in->ctime = tnow;
	else if (mfs_ts_after(ctime, &in->ctime))
		in->ctime = *ctime;
}

int mfs_ns_publish_with(struct mfs_ns *ns, uint64_t ino, const struct mfs_hash *manifest,
			uint64_t size, const struct timespec *mtime, const struct timespec *ctime,
			const struct mfs_ns_with *with, struct mfs_inode *out)
{
	struct mfs_inode in = { 0 };
	struct ns_txn t = { 0 };
	struct dirent_key k;
	uint64_t cur;
	int rc;

	memset(out, 0, sizeof(*out));
	if (mfs_rev_is_ino(ino)) {
		if (with)
			mfs_batch_free(with->b);
		return -EROFS;
	}
	/* The publish's records join `with`'s, so one write makes all durable. */
	if ((rc = txn_begin_with(ns, &t, with ? with->b : NULL)))
		return rc;
	pthread_mutex_lock(&ns->lock);
	if ((rc = mfs_ns_get(ns, ino, &in)))
		goto out;
	if (!S_ISREG(in.mode)) {
		rc = -EINVAL;
		goto out;
	}
	/*
	 * The name must still lead to ino.  read_dirent, not get_dirent: ino's
	 * record was just read under this lock, so an entry naming it is not
	 * dangling, and one naming another inode fails alike (a Get per commit).
	 */
	if ((rc = dirent_key(in.parent, in.name ? in.name : "", &k)) || (rc = read_dirent(ns, &k, &cur)))
		goto out;
	if (cur != ino) {
		rc = -ENOENT;
		goto out;
	}
	if (!(in.flags & MFS_I_PENDING) && (rc = publish_new_inode(ns, &t, &in, &k)))
		goto out;
	publish_fields(&in, manifest, size, mtime, ctime);
	if (manifest && with && with->manifest)
		txn_put_manifest_bytes(&t, manifest, with->manifest, with->manifest_len);
	else if (manifest && (rc = txn_put_manifest(&t, manifest)))
		goto out;
	if ((rc = txn_put_inode(&t, &in)) || (rc = txn_commit(ns, &t)))
		goto out;
	*out = in;
	memset(&in, 0, sizeof(in));
out:
	/* Applied (out filled): an error now is the sync's, and *out stays (namespace.h). */
	rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	if (rc && !out->ino)
		mfs_inode_release(out);
	txn_free(&t);
	mfs_inode_release(&in);
	return rc;
}
