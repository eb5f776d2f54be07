/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the namespace files: namespace.c (the operations), ns_txn.c
 * (how an operation's writes become one batch and one op-log entry),
 * ns_apply.c (applying other nodes' ops), ns_trim.c (dropping ops every
 * peer holds) and ns_snap.c (snapshots of the namespace, and merging one).
 */
#ifndef MFS_NS_INTERNAL_H
#define MFS_NS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "inode.h"
#include "namespace.h"
#include "oplog.h"

struct mfs_db;
struct mfs_batch;
struct mfs_iter;
struct mfs_db_view;
struct rev_cache;

/* Files remembered as having no stale listed name (struct mfs_ns, names_ok). */
#define NS_NAMES_OK_MAX 64

/* Recent merged directories and where their entries went (ns_forward.c). */
#define NS_FORWARD_MAX 64
struct ns_forward {
	uint64_t from, into;
};
struct ns_forwards {
	pthread_mutex_t lock;
	struct ns_forward v[NS_FORWARD_MAX];
	unsigned next;          /* merges noted; written under lock, read atomically */
};

struct mfs_ns {
	struct mfs_db *db;
	pthread_mutex_t lock;
	mfs_node_t node_id;
	uint16_t space;         /* inode space: new inode numbers are space << 48 | counter;
				 * written under lock, read atomically (mfs_ns_space) */
	uint64_t next_counter;  /* protected by lock */
	uint64_t lamport;       /* Lamport clock; lock */
	uint64_t seq;           /* ops this node originated; lock */
	/*
	 * Own ops known durable (<= seq; atomic).  Ops are written unsynced
	 * under lock and synced after it (ns_wait_durable), so for a moment
	 * one is visible and not yet durable; peers get only durable ones
	 * (mfs_ns_ops_since): a power loss then drops only ops no peer holds,
	 * and their sequence numbers can be given again.
	 */
	uint64_t durable_seq;
	int defer_syncs;        /* NS_SYNC_DEFER ops left unsynced (atomic) */
	uint64_t applied;       /* remote ops applied since open (atomic) */
	/*
	 * gc's lock (store/maint/gc.h): shared while references to chunks may be
	 * added (a commit from its dedup check to its publish, a remote op's
	 * apply), exclusive for gc's recheck and delete.  glibc's default
	 * rwlock prefers readers, so shared holders never wait on each other.
	 */
	pthread_rwlock_t refs_lock;
	struct rev_cache *revs;  /* revisions read (rev_tree.c); its own lock */
	struct ns_forwards forwards; /* its own lock */
	/*
	 * Files whose every listed name was seen to lead to them (ns_drop_name,
	 * namespace.c note on ns_names_ok): valid while names_gen is what it
	 * was then.  In memory only, so a restart starts with none.  lock.
	 */
	uint64_t names_gen;
	struct ns_names_ok {
		uint64_t ino, gen;
	} names_ok[NS_NAMES_OK_MAX];
	/*
	 * Own nameless rewrites gc's last nameless pass kept for a later one
	 * (ns_version.c note 10), each with that rival: an op that names
	 * the rival or deletes its record has them looked at again as it is
	 * applied (ns_nameless.c note 9).  In memory only: a restart leaves
	 * them to the next pass.  lock.
	 */
	struct ns_waiting {
		uint64_t y, rival;
	} *waiting;
	size_t nwaiting, waitingcap;
};

struct dirent_key {
	uint8_t b[8 + MFS_NAME_MAX];
	size_t len;
};

int dirent_key(uint64_t parent, const char *name, struct dirent_key *k);
/* Notes that directory from merged into into; into may merge on in turn. */
void ns_forward_note(struct mfs_ns *ns, uint64_t from, uint64_t into);
/* The directory a merged directory's entries went to (last of a chain), or 0. */
uint64_t ns_forward_dir(struct mfs_ns *ns, uint64_t dir);
/* Reads a dirent: 0 with *ino, -ENOENT, or an error. */
int get_dirent(struct mfs_ns *ns, const struct dirent_key *k, uint64_t *ino);
/* Does the entry parent/name (name may be NULL: no) lead to ino?  1, 0, or an error. */
int ns_name_leads_to(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino);
/*
 * As ns_name_leads_to, for an ino whose record the caller read under
 * ns->lock (so it exists): one read, the entry's, not the inode's too.
 */
int ns_name_leads_to_held(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino);
int meta_get_u64(struct mfs_ns *ns, const char *key, uint64_t *out);
void meta_put_u64(struct mfs_batch *b, const char *key, uint64_t v);
void now(struct timespec *t);
/*
 * When a write op must be durable before it returns (ns_unlock_durable):
 * NS_SYNC_NOW always (a publish: close(2) promises the file; admin records);
 * NS_SYNC_DEFER unless deferred syncs are on (mfs_ns_defer_syncs): a change
 * of names or attributes, which POSIX makes durable only by fsync;
 * NS_SYNC_LATER never (the create of a pending file, or a change of its own
 * record: recovery removes pending files, and its publish syncs).
 */
enum ns_sync { NS_SYNC_NOW, NS_SYNC_DEFER, NS_SYNC_LATER };
/* namespace.c: ends a write op (unlocks; then, unless rc, syncs as when says). */
int ns_unlock_durable(struct mfs_ns *ns, int rc, enum ns_sync when);
/* Parent must exist and be a directory; its record in *dir. */
int ns_get_dir(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *dir);
/* Likewise, following a directory merged away (ns_forward.c): *parent and k may change. */
int ns_get_dir_fwd(struct mfs_ns *ns, uint64_t *parent, const char *name, struct dirent_key *k,
		   struct mfs_inode *dir);
/* 1 if dir has no entries, 0 if it has, or -errno. */
int ns_dir_is_empty(struct mfs_ns *ns, uint64_t dir);
/*
 * The directories listed in dir, as mfs_ns_readdir lists them (dangling
 * names not counted), without looking up the other entries' inodes: a
 * directory's nlink is 2 + this.  0 or an error.
 */
int ns_count_subdirs(struct mfs_ns *ns, uint64_t dir, uint32_t *n);

/*
 * One local namespace operation in the making: its writes to the inodes,
 * dirents and manifests CFs go into a batch and, as entries, into an op.
 * txn_commit stamps the op (next Lamport time, next sequence number of this
 * node), stores the entries' stamps, the op in the oplog CF, and writes it
 * all in one batch: the change and its log entry are one.  The batch is
 * synced after the namespace lock is released (ns_wait_durable).
 */
struct ns_txn {
	struct mfs_batch *b;
	struct mfs_op_builder op;
	int err;                /* a staging step that failed (txn_del_inode): commit fails */
	/*
	 * Set by the operations that drop or move a name only together with
	 * the record that lists it (link, unlink, rename, setattr): their
	 * commit leaves every file's list of names as true as it was.  Any
	 * other commit forgets which lists were seen true (ns_names_forget).
	 */
	int keeps_names;
	uint64_t names_ok;      /* a file whose whole list this txn made true, or 0 */
};

int txn_begin(struct mfs_ns *ns, struct ns_txn *t);
/* As txn_begin, the txn's writes going into `with` (taken: txn_free frees it). */
int txn_begin_with(struct mfs_ns *ns, struct ns_txn *t, struct mfs_batch *with);
int txn_put_inode(struct ns_txn *t, const struct mfs_inode *in);
/* Deletes ino's record; a file's bytes are kept for it (ns_keep_deleted). */
void txn_del_inode(struct ns_txn *t, uint64_t ino);
void txn_put_dirent(struct ns_txn *t, const struct dirent_key *k, uint64_t ino, uint32_t mode);
void txn_del_dirent(struct ns_txn *t, const struct dirent_key *k);
/* A parent directory changed by an entry below it: stored whole here, sent
 * to peers as a 'T' entry (mtime only; nlink is derived on each node). */
int txn_touch_dir(struct ns_txn *t, const struct mfs_inode *dir);
/* Adds the stored manifest id to the op, so peers get it with the publish. */
int txn_put_manifest(struct ns_txn *t, const struct mfs_hash *id);
/* As txn_put_manifest, for a manifest staged in t's batch, not yet stored. */
void txn_put_manifest_bytes(struct ns_txn *t, const struct mfs_hash *id, const void *p, size_t n);
/* Writes the batch to the WAL, unsynced: the caller unlocks ns, then calls
 * ns_wait_durable before it tells anyone the operation happened. */
int txn_commit(struct mfs_ns *ns, struct ns_txn *t);
/* Waits until this node's ops up to seq upto are durable (group commit). */
int ns_wait_durable(struct mfs_ns *ns, uint64_t upto);
void txn_free(struct ns_txn *t);
/*
 * The file in loses its name parent/name, in t: deleted if no other name
 * of its record still leads to it, else rewritten without that name (nor
 * any that leads elsewhere), with nlink and ctime (tm).  Under ns->lock.
 */
int ns_drop_name(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *in, uint64_t parent,
		 const char *name, const struct timespec *tm);

/*
 * Whether every name ino's record lists was seen to lead to it, with no
 * write since that could have changed that (namespace.c).  Under ns->lock.
 */
int ns_names_known_ok(struct mfs_ns *ns, uint64_t ino);
/* ino's list was seen true just now.  Under ns->lock. */
void ns_names_note_ok(struct mfs_ns *ns, uint64_t ino);
/* A write that may make listed names stale (peers' ops, repairs): forget them all.  Under ns->lock. */
void ns_names_forget(struct mfs_ns *ns);

/* An inode record into a batch, outside any op (the root of a new store). */
int ns_put_inode_raw(struct mfs_batch *b, const struct mfs_inode *in);
/* Is `ancestor` on the path from `ino` up to the root? (rename's loop check; ns_rename.c) */
int ns_is_ancestor(struct mfs_ns *ns, uint64_t ancestor, uint64_t ino);
/*
 * Moves one name of rec; a record that lost track of its names (peers)
 * takes the new one, unless it lists it already.  A file's nlink is then
 * its count of names.
 */
int ns_move_name(struct mfs_inode *rec, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname);
/* A free name in lost+found for (parent, name) -> ino, *k its key: by parent, else by ino. */
int ns_lost_name_free(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino,
		      char out[MFS_NAME_MAX + 1], struct dirent_key *k);
/* The lost+found directory in *lf, made in t if it is not there (ns_orphan.c, note 3). */
int ns_lost_dir(struct mfs_ns *ns, struct ns_txn *t, struct mfs_inode *lf);
/* Converts a format 1 or 2 store to format 3 (ns_migrate.c). */
int ns_migrate_wide_ids(struct mfs_ns *ns, uint64_t from);
/* Loads the Lamport clock and this node's op sequence at open. */
int ns_load_clock(struct mfs_ns *ns);

/*
 * What applying remote state changed (ns_apply.c, ns_snap.c): the keys to
 * report to the caller's change function, and the directories whose derived
 * state (mtime, nlink) must be brought up to date.
 */
struct changes {
	struct mfs_ns_change *c;
	size_t n, cap;
	uint64_t *dirs;         /* directories whose derived state may change */
	uint8_t *recount;       /* per dirs[]: its subdirectories may have changed */
	size_t ndirs, dircap, recap;
	uint64_t *dead;         /* own directories whose name an entry replaced or removed */
	size_t ndead, deadcap;
	uint64_t *ver;          /* own files that may be the later version of a record the
				 * op put back (ns_version.c, note 4) */
	size_t nver, vercap;
	uint64_t *puts;         /* file records the op put (ns_version.c) */
	uint8_t *was_gone;      /* per puts[]: deleted here before the op */
	size_t nputs, putcap, gonecap;
	struct dir_name *names; /* entries an own directory may have twice (ns_merge.c, note 8) */
	size_t nnames, namecap;
	struct dir_name *held;  /* names an own file's record listed before the op replaced
				 * it (ns_version.c, note 7) */
	size_t nheld, heldcap;
	int oom;
};
struct dir_name {
	uint64_t ino, parent;
	char *name;
};
void ns_note_change(struct changes *cs, int kind, uint64_t ino, uint64_t parent,
		    const uint8_t *name, size_t nlen);
void ns_changes_release(struct changes *cs);
/*
 * Repairs this node's directory ino if it lost its name to another node's
 * op, or its file if a directory took the file's name (ns_merge.c): 1 if
 * it did, 0 if there was nothing to repair, or an error.  Called with
 * ns->lock held; its ops are unsynced.
 */
int ns_repair_name(struct mfs_ns *ns, uint64_t ino, struct changes *cs);
/* ino (of mode) joins cs's candidates if it is one of this node's files (ns_version.c). */
void ns_note_version(struct changes *cs, uint64_t ino, uint32_t mode, uint16_t space);
/* Before winning entry e is written: notes a record it puts, and whether it puts one back. */
void ns_note_put(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e);
/*
 * Before winning entry e is written: notes the names an own directory may
 * now have besides its record's (an entry that leads to it, or the name
 * its record had), for ns_fix_second_names after the op (ns_merge.c).
 */
void ns_note_dir_names(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e);
/* After an op: removes what ns_note_dir_names noted that is a second entry. */
void ns_fix_second_names(struct mfs_ns *ns, struct changes *cs);
/*
 * After the op stamped st: each file record it put back that lives gives
 * its names (and, st being the later, its attributes) to this node's later
 * version of the same file, if there is one (ns_version.c).  Called with
 * ns->lock held; its ops are unsynced; failures are logged.
 */
void ns_repair_versions(struct mfs_ns *ns, const struct mfs_stamp *st, struct changes *cs);
/*
 * gc's pass over y, an own published file no entry names: if it is the
 * later version of a file whose older version lives on with names (a kill
 * between the op that put that one back and its repair at apply time,
 * ns_version.c note 8), y takes those names.  1 if repaired, 0,
 * NS_VERSION_DEFERRED if a later rewrite with no name is to take them
 * (ns_version.c note 10: y must stay; *rival is that rewrite), or an
 * error.  Called with ns->lock held.
 */
#define NS_VERSION_DEFERRED 2
int ns_repair_version_left(struct mfs_ns *ns, const struct mfs_inode *y, struct changes *cs,
			   uint64_t *rival);
/*
 * After an op is applied: the own nameless rewrites kept for a rival whose
 * record the op put or deleted, and that is now named or gone, are
 * dropped, or take the names, as gc's nameless pass would do now
 * (ns_nameless.c note 9).  Called with
 * ns->lock held; a failure is logged.
 */
void ns_recheck_waiting(struct mfs_ns *ns, const struct mfs_op *op, struct changes *cs);
/*
 * After op: this node's files whose entries or record it touched list the
 * names that lead to them, nlink their count (ns_version.c, note 7).
 * Called with ns->lock held; its ops are unsynced; failures are logged.
 */
void ns_fix_name_lists(struct mfs_ns *ns, const struct mfs_op *op, struct changes *cs);
/*
 * Before winning entry e is written: if it replaces the record of one of
 * this node's files, notes the names the held record lists, which
 * ns_fix_name_lists keeps where they still lead to the file (ns_version.c,
 * note 7).
 */
void ns_note_held_names(struct mfs_ns *ns, struct changes *cs, const struct mfs_op_entry *e);
/*
 * gc's pass over own file ino, which an entry names: its list of names is
 * made right (ns_version.c, note 7) if a crash or a failure left a name
 * that leads elsewhere, or left unlisted one of the entries of `entries`
 * (dirent entries, as an op's; may be NULL) that leads to it.  1 if
 * rewritten, 0, or an error (logged).  *unnamed (if not NULL) is set to 1
 * when none of the names it lists, nor of entries, leads to it (the list
 * is then left as it is), else to 0.
 */
int ns_fix_name_list_left(struct mfs_ns *ns, const struct mfs_op *entries, uint64_t ino,
			  struct changes *cs, int *unnamed);
/*
 * gc's repair passes over this node's records (ns_merge.c, ns_nameless.c),
 * and those of removed members it adopts (ns_adopted_spaces): one is
 * called for each such directory (dirs) or other record, with ns->lock
 * held, as a write op of its own; it returns 1 if it repaired, 0, or an
 * error it has logged (the pass goes on).  The
 * changes go to fn.  The count repaired, or an error that ended the pass
 * (a sync that failed).
 */
typedef int (*ns_repair_fn)(struct mfs_ns *ns, uint64_t ino, void *ctx, struct changes *cs);
int ns_repair_own(struct mfs_ns *ns, int dirs, ns_repair_fn one, void *ctx,
		  mfs_ns_change_fn fn, void *arg);
/* An entry's content from a peer (records decode, names are names): 0 or MFS_EFORMAT. */
int ns_entry_valid(const struct mfs_op_entry *e);
/* 1 if a dirent value names a child a dirent may name. */
int ns_dirent_value_ok(const uint8_t *v);
/*
 * One directory entry as ns_dirents_each finds it.  key (klen bytes) and
 * val (12) are the stored ones, and name (namelen bytes, no NUL) points into
 * key: all borrowed for the call.
 */
struct ns_dirent {
	uint64_t parent, child;
	uint32_t mode;
	const char *name;
	size_t namelen;
	const uint8_t *key, *val;
	size_t klen;
};
typedef int (*ns_dirent_fn)(void *arg, const struct ns_dirent *d);
/*
 * Calls fn on every well-formed entry of the store, by parent then name.
 * As mfs_db_each: fn's nonzero ends the walk and is returned (> 0 "found").
 * Reads every entry: for gc's passes and rare repairs, never per op.
 */
int ns_dirents_each(struct mfs_ns *ns, ns_dirent_fn fn, void *arg);
/* d's name, NUL-terminated, into out. */
void ns_dirent_name(const struct ns_dirent *d, char out[MFS_NAME_MAX + 1]);
/* Is stamp st newer than the one held for the stamps key?  1, 0 or an error. */
int ns_stamp_wins(struct mfs_ns *ns, const uint8_t *skey, size_t sklen,
		  const struct mfs_stamp *st);
/*
 * A winning inode record into b; a directory's times merge with the held
 * ones as one register (ns_dir_times_win), a file keeps the later bytes of the held record's, or
 * if none is held of those kept for it (ns_apply.c).
 */
int ns_put_record_merged(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e);
/* A losing file record e's bytes, if later, go to the held record, or are
 * kept if it was deleted; a losing directory record's times, if they win
 * (ns_dir_times_win), go to the held record: 1 if the held record
 * changed, 0, or an error. */
int ns_put_later_content(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e);
/*
 * ino's record is about to be deleted in b: a file's bytes are kept for it
 * (meta "fc:" + ino), in case a later op puts the record back (ns_apply.c);
 * kv, if not NULL, are another node's kept bytes for it (an image's
 * tombstone): the later are kept.
 */
int ns_keep_deleted(struct mfs_db *db, struct mfs_batch *b, uint64_t ino, const uint8_t *kv,
		    size_t kvlen);
/* Another node's kept bytes for ino, where its tombstone lost: as a losing
 * file record's bytes (ns_put_later_content).  1, 0 or an error. */
int ns_put_later_kept(struct mfs_ns *ns, struct mfs_batch *b, uint64_t ino, const uint8_t *kv,
		      size_t kvlen);
/* Are p, n well-formed kept bytes (doc/format.md)? */
int ns_kept_valid(const uint8_t *p, size_t n);
/* An iterator over the kept bytes at view (meta "fc:"), in inode order. */
int ns_kept_iter(struct mfs_db *db, const struct mfs_db_view *view, struct mfs_iter **it);
/* Moves it (ns_kept_iter) on to ino, asked in rising order: 1 and the kept
 * bytes in *v if ino has well-formed ones, 0, or an error. */
int ns_kept_at(struct mfs_iter *it, uint64_t ino, const uint8_t **v, size_t *vlen);
/*
 * A directory's times are one register: (mtime, ctime) of the change with
 * the later ctime (a tie: the later mtime) win whole, in any order of
 * arrival.  A create inside it changes both to its time ('T' entries); a
 * utimens sets mtime, maybe back, at its ctime; a chmod keeps the mtime it
 * saw.  Merging by the later mtime alone, as before, never let a peer's
 * utimens move a directory's mtime back: `cp -a`, `tar x` and `rsync -a`
 * left every directory on the other nodes with the time of the copy.
 * 1 if (m1, c1) win over (m2, c2).
 */
int ns_dir_times_win(const struct timespec *m1, const struct timespec *c1,
		     const struct timespec *m2, const struct timespec *c2);
/* A directory's times ((*mt, *ct) if they win, ns_dir_times_win) and, if
 * recount, nlink, into b if they changed. */
int ns_refresh_dir(struct mfs_ns *ns, struct mfs_batch *b, uint64_t ino,
		   const struct timespec *mt, const struct timespec *ct, int recount,
		   struct changes *cs);

/* meta CF key of the log base of origin: "lb" + u64 BE; value u64 (ops <= it dropped). */
#define LB_KEY_LEN 10
int lb_get(struct mfs_ns *ns, mfs_node_t origin, uint64_t *seq);
void lb_put(struct mfs_batch *b, mfs_node_t origin, uint64_t seq);
/* Deletes origin's ops in (from, upto] from the oplog CF, into b. */
int oplog_drop(struct mfs_ns *ns, struct mfs_batch *b, mfs_node_t origin, uint64_t from,
	       uint64_t upto);

/* stamps CF key of an entry: kind byte + entry key. */
#define STAMP_KEY_MAX (1 + MFS_OP_KEY_MAX)
size_t stamp_key(uint8_t kind, const uint8_t *key, size_t klen, uint8_t out[STAMP_KEY_MAX]);
/* meta CF key of the version vector entry of origin: "vv" + u64 BE. */
#define VV_KEY_LEN 10
void vv_key(mfs_node_t origin, uint8_t out[VV_KEY_LEN]);
/* Highest seq of origin applied here (0 if none). */
int vv_get(struct mfs_ns *ns, mfs_node_t origin, uint64_t *seq);
void vv_put(struct mfs_batch *b, mfs_node_t origin, uint64_t seq);
/* The entries of a per-origin vector ("vv" or "lb"): count (at most cap) or an error. */
int ns_vec_list(struct mfs_ns *ns, const char *tag, mfs_node_t *origins, uint64_t *seqs, int cap);
/* meta CF key of a member record (member.c): "mb" + u64 BE node id. */
#define MEMBER_KEY_LEN 10
void member_key(mfs_node_t id, uint8_t out[MEMBER_KEY_LEN]);
/*
 * The inode spaces of members removed from the cluster (GONE), whose
 * records gc's repair passes take over here (ns_merge.c note 5): all of
 * them on the active member of lowest node id, none elsewhere.  *out is
 * the caller's to free.  0 or an error.
 */
int ns_adopted_spaces(struct mfs_ns *ns, uint16_t **out, int *n);
/* meta CF key of an allow-list entry (allow.c): "ak" + the 32-byte key. */
#define ALLOW_KEY_LEN 34
void allow_key(const uint8_t *key, uint8_t out[ALLOW_KEY_LEN]);
/*
 * Meta records: 'N' (member), 'A' (allow-list) and 'R' (revision) entries,
 * kept in the meta CF, last writer wins by stamp, never deleted (a deleted
 * revision is a tombstone record).  1 if kind is one of them.
 */
int ns_is_meta_record(uint8_t kind);
/* The meta CF key of one (its prefix + the entry's key): its length. */
#define META_REC_KEY_MAX (2 + 255)
size_t ns_meta_key(uint8_t kind, const uint8_t *key, size_t klen, uint8_t out[META_REC_KEY_MAX]);
/* The meta CF prefix of kind's records ("mb", "ak", "rv"), and whether a meta key is one. */
const char *ns_meta_prefix(uint8_t kind);
int ns_meta_key_ok(uint8_t kind, size_t mklen);
/* An 'N', 'A' or 'R' entry stamped st (sval encoded) into b if it wins (ns_apply.c): 1, 0 or an
 * error.  skey has room for STAMP_KEY_MAX bytes. */
int ns_apply_meta_record(struct mfs_ns *ns, struct mfs_batch *b, const struct mfs_op_entry *e,
			 const struct mfs_stamp *st, uint8_t *skey, const uint8_t *sval);

#endif
