/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a namespace: a fresh store's root and node id, the format
 * upgrade of an older store, and the recovery of files a crash left
 * pending (created, never published).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inode_walk.h"
#include "rev_internal.h"
#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"

static int ns_init_fresh(struct mfs_ns *ns)
{
	struct mfs_inode root = {
		.ino = MFS_ROOT_INO, .parent = MFS_ROOT_INO, .mode = S_IFDIR | 0755,
		.nlink = 2, .repl = MFS_DEFAULT_REPL,
	};
	struct mfs_batch *b = mfs_batch_new(ns->db);
	mfs_node_t id = mfs_node_random();
	int rc;

	if (!b)
		return -ENOMEM;
	ns->node_id = id;
	/* A fresh store knows no inodes but the root's (space 0): any other space
	 * will do until peers say otherwise (replica/spaces.c). */
	ns->space = 0;
	while (ns->space == 0)
		ns->space = (uint16_t)mfs_node_random();
	ns->next_counter = 1;
	now(&root.mtime);
	root.atime = root.ctime = root.mtime;
	meta_put_u64(b, "format", MFS_FORMAT_VERSION);
	meta_put_u64(b, "node_id", id);
	meta_put_u64(b, "ino_space", ns->space);
	meta_put_u64(b, "next_ino", ns->next_counter);
	rc = ns_put_inode_raw(b, &root);
	if (!rc)
		rc = mfs_db_write(ns->db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);
	if (!rc)
		log_info("created a new store, node id " MFS_NODE_FMT ", inode space %04x",
			 MFS_NODE_ARG(id), ns->space);
	return rc;
}

struct recovery {
	struct mfs_ns *ns;
	int removed;
};

static int recover_inode(void *arg, const struct mfs_inode *in)
{
	struct recovery *r = arg;
	int gone;

	/* Only this node's writers: another node's pending file is its to finish. */
	if (!(in->flags & MFS_I_PENDING) || in->ino >> 48 != r->ns->space)
		return 0;
	gone = in->name ? mfs_ns_remove_if(r->ns, in->parent, in->name, in->ino) : -ENOENT;
	/* Its name was taken by another node's op while it was written. */
	if (gone == -ENOENT)
		gone = mfs_ns_drop_pending(r->ns, in->ino);
	if (!gone)
		r->removed++;
	else if (gone == -EEXIST)
		log_warn("pending inode %016llx: its first name leads elsewhere, not removed",
			 (unsigned long long)in->ino);
	else /* the next open tries again */
		log_warn("pending inode %016llx not removed: %s", (unsigned long long)in->ino,
			 mfs_strerror(gone));
	return 0;
}

/* Removes files a crash left pending (created, never published). */
static int ns_recover(struct mfs_ns *ns)
{
	struct recovery r = { ns, 0 };
	struct mfs_inode_walk w = { .fn = recover_inode, .arg = &r };
	int rc = mfs_inode_walk(ns->db, NULL, &w);

	if (r.removed)
		log_info("recovery removed %d file(s) whose writer did not finish", r.removed);
	return rc;
}

/*
 * An older store is marked with this build's format before anything new is
 * written to it: once chunk index entries of version 2 (pack records) may
 * exist, a build that cannot read them refuses the whole store at open
 * rather than failing chunk by chunk.  Formats 1 and 2 differ only there;
 * both had 16-bit node ids, which the one batch that marks the store 3
 * widens (ns_migrate.c).
 */
static int format_upgrade(struct mfs_ns *ns, uint64_t from)
{
	struct mfs_batch *b;
	int rc;

	if (from < MFS_FORMAT_WIDE_IDS && (rc = ns_migrate_wide_ids(ns, from)))
		return rc;
	if (from < MFS_FORMAT_WIDE_IDS)
		from = MFS_FORMAT_WIDE_IDS;
	/*
	 * 3 to 6 to 7: nothing to convert; an older build must now refuse
	 * the store (delta records, their version 3 index entries, version 2
	 * delta records with sparse pieces, split records with group
	 * checksums).
	 */
	if (!(b = mfs_batch_new(ns->db)))
		return -ENOMEM;
	meta_put_u64(b, "format", MFS_FORMAT_VERSION);
	rc = mfs_db_write(ns->db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);
	if (!rc)
		log_info("store format %llu marked %d (fine-tune delta records, bases indexed, sparse, "
			 "group checksums)",
			 (unsigned long long)from, MFS_FORMAT_VERSION);
	return rc;
}

int mfs_ns_open(struct mfs_db *db, struct mfs_ns **out)
{
	struct mfs_ns *ns = calloc(1, sizeof(*ns));
	uint64_t v;
	int rc;

	*out = NULL;
	if (!ns)
		return -ENOMEM;
	ns->db = db;
	ns->names_gen = 1; /* names_ok's zeroed slots are of no generation */
	pthread_mutex_init(&ns->lock, NULL);
	pthread_mutex_init(&ns->forwards.lock, NULL);
	pthread_rwlock_init(&ns->refs_lock, NULL);
	if ((rc = rev_cache_init(&ns->revs))) {
		mfs_ns_close(ns);
		return rc;
	}
	rc = meta_get_u64(ns, "format", &v);
	if (rc == -ENOENT) {
		rc = ns_init_fresh(ns);
	} else if (!rc && (v < MFS_FORMAT_OLDEST || v > MFS_FORMAT_VERSION)) {
		log_error("store format %llu is not supported (this build reads %d to %d)",
			  (unsigned long long)v, MFS_FORMAT_OLDEST, MFS_FORMAT_VERSION);
		rc = MFS_EFORMAT;
	} else if (!rc) {
		if (v < MFS_FORMAT_VERSION)
			rc = format_upgrade(ns, v);
		if (!rc)
			rc = meta_get_u64(ns, "node_id", &v);
		ns->node_id = v;
		if (!rc)
			rc = meta_get_u64(ns, "ino_space", &v);
		ns->space = (uint16_t)v;
		if (!rc && (ns->node_id == 0 || v == 0 || v > 0xffff))
			rc = MFS_EFORMAT;
		if (!rc)
			rc = meta_get_u64(ns, "next_ino", &ns->next_counter);
		if (!rc)
			rc = ns_load_clock(ns);
		if (!rc)
			rc = ns_recover(ns);
	}
	if (rc) {
		mfs_ns_close(ns);
		return rc;
	}
	*out = ns;
	return 0;
}

void mfs_ns_close(struct mfs_ns *ns)
{
	if (!ns)
		return;
	pthread_mutex_destroy(&ns->lock);
	pthread_mutex_destroy(&ns->forwards.lock);
	pthread_rwlock_destroy(&ns->refs_lock);
	rev_cache_free(ns->revs);
	free(ns->waiting);
	free(ns);
}

struct mfs_db *mfs_ns_db(struct mfs_ns *ns) { return ns->db; }
mfs_node_t mfs_ns_node_id(struct mfs_ns *ns) { return ns->node_id; }

/* Atomic, not under the lock: every peer message reads it, and a snapshot
 * build holds the lock for seconds. */
uint16_t mfs_ns_space(struct mfs_ns *ns)
{
	return __atomic_load_n(&ns->space, __ATOMIC_RELAXED);
}

/* Writes meta key = v, synced, under the namespace lock: 0 or an error. */
static int meta_set_locked(struct mfs_ns *ns, const char *key, uint64_t v)
{
	struct mfs_batch *b = mfs_batch_new(ns->db);
	int rc;

	if (!b)
		return -ENOMEM;
	meta_put_u64(b, key, v);
	rc = mfs_db_write(ns->db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);
	return rc;
}

int mfs_ns_set_node_id(struct mfs_ns *ns, mfs_node_t id)
{
	mfs_node_t was;
	int rc = 0;

	if (id == 0)
		return -EINVAL;
	pthread_mutex_lock(&ns->lock);
	was = ns->node_id;
	if (id != was && !(rc = meta_set_locked(ns, "node_id", id))) {
		ns->node_id = id;
		/* Own ops are counted per origin: the new one's from its own entry. */
		rc = ns_load_clock(ns);
	}
	pthread_mutex_unlock(&ns->lock);
	if (id != was && !rc)
		log_info("node id " MFS_NODE_FMT " (was " MFS_NODE_FMT "; its ops keep that origin)",
			 MFS_NODE_ARG(id), MFS_NODE_ARG(was));
	return rc;
}

int mfs_ns_set_space(struct mfs_ns *ns, uint16_t space)
{
	int rc = 0;

	if (space == 0)
		return -EINVAL;
	pthread_mutex_lock(&ns->lock);
	if (space != ns->space && !(rc = meta_set_locked(ns, "ino_space", space)))
		__atomic_store_n(&ns->space, space, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ns->lock);
	return rc;
}

int mfs_ns_spaces_used(struct mfs_ns *ns, uint8_t used[8192])
{
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_INODES, NULL, 0);
	uint8_t key[8];
	uint32_t s = 0;
	int rc;

	memset(used, 0, 8192);
	if (!it)
		return -ENOMEM;
	/* Inode keys are big endian: one seek per space in use. */
	for (put_be64(key, 0), mfs_iter_seek(it, key, sizeof(key)); mfs_iter_valid(it);
	     mfs_iter_seek(it, key, sizeof(key))) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);

		if (kl < 2)
			break; /* inode keys are 8 bytes: none sorts before a space's first */
		s = (uint32_t)(k[0] << 8 | k[1]);
		used[s / 8] |= (uint8_t)(1u << (s % 8));
		if (s == 0xffff)
			break;
		put_be64(key, (uint64_t)(s + 1) << 48);
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}
