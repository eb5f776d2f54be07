/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc of unreferenced chunks: the rules and their notes are in gc.h.  Reads
 * only the small CFs (inodes, manifests, chunk_index, meta) and the disk
 * cache's in-memory index; deleting is one batch per 4096 chunks (record,
 * index entry and mark together), then mfs_db_reclaim() hands the space
 * back to the filesystem.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gc.h"
#include "gc_internal.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hashset.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/delta.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/inode_walk.h"
#include "store/ns/namespace.h"
#include "store/ns/ns_internal.h"
#include "store/ns/oplog.h"
#include "store/ns/rev.h"

#define LOG_COMPONENT "gc"

#define MARK_PREFIX "gc:"
#define MARK_PREFIX_LEN 3
#define MARK_KEY_LEN (MARK_PREFIX_LEN + MFS_HASH_LEN)
#define DELETE_BATCH 4096

void mfs_gc_refs_hold(struct mfs_ns *ns)
{
	pthread_rwlock_rdlock(&ns->refs_lock);
}

void mfs_gc_refs_release(struct mfs_ns *ns)
{
	pthread_rwlock_unlock(&ns->refs_lock);
}

/* ---- references --------------------------------------------------------------- */

struct refs_walk {
	struct mfs_db *db;
	struct mfs_hashset *refs;
};

static int add_refs(void *arg, const struct mfs_inode *in)
{
	struct refs_walk *w = arg;
	struct mfs_manifest *m;
	int rc;

	if (!S_ISREG(in->mode) || !in->has_manifest)
		return 0;
	if ((rc = mfs_manifest_load(w->db, &in->manifest, &m))) {
		log_error("inode %016llx: manifest cannot be read (%s): gc stopped",
			  (unsigned long long)in->ino, mfs_strerror(rc));
		return rc;
	}
	for (uint32_t i = 0; i < m->count && !rc; i++)
		if (!mfs_manifest_is_hole(&m->e[i]))
			rc = mfs_hashset_add(w->refs, &m->e[i].hash);
	mfs_manifest_unref(m);
	return rc;
}

static int refs_bad(void *arg, uint64_t ino)
{
	(void)arg;
	if (ino)
		log_error("inode record %016llx cannot be read: gc stopped (run fsck)",
			  (unsigned long long)ino);
	else
		log_error("an inode or revision record cannot be read: gc stopped (run fsck)");
	return MFS_EFORMAT;
}

/*
 * Every chunk an inode record's manifest names, reachable or not, as the
 * iterator it (over the inodes CF; freed here) sees them.  Unlike
 * statistics, a record or manifest that cannot be read stops gc: its
 * chunks would otherwise look unreferenced.
 */
static int collect_refs(struct mfs_db *db, struct mfs_iter *it, struct mfs_hashset *refs)
{
	struct refs_walk rw = { db, refs };
	struct mfs_inode_walk w = { .fn = add_refs, .bad = refs_bad, .arg = &rw, .revisions = 1 };
	int rc;

	if (!it)
		return -ENOMEM;
	if (!(rc = mfs_inode_walk(db, it, &w)))
		mfs_hashset_finish(refs);
	/* The base chunks of referenced fine-tune deltas are referenced too (delta.h). */
	if (!rc)
		rc = mfs_delta_keep_bases(db, refs, refs);
	return rc;
}

/* ---- marks ------------------------------------------------------------------------ */

static void mark_key(const struct mfs_hash *h, uint8_t key[MARK_KEY_LEN])
{
	memcpy(key, MARK_PREFIX, MARK_PREFIX_LEN);
	memcpy(key + MARK_PREFIX_LEN, h->b, MFS_HASH_LEN);
}

/* u8 version, u8 0, u16 n, u64 first_seen, n x (u64 origin, u64 seq) */
static void mark_encode(const struct mfs_gc_mark *m, struct mfs_wr *w)
{
	mfs_wr_u8(w, MFS_GC_MARK_VERSION);
	mfs_wr_u8(w, 0);
	mfs_wr_u16(w, (uint16_t)m->n);
	mfs_wr_u64(w, m->first_seen);
	for (int i = 0; i < m->n; i++) {
		mfs_wr_u64(w, m->origin[i]);
		mfs_wr_u64(w, m->seq[i]);
	}
}

int mfs_gc_mark_decode(const uint8_t *p, size_t len, struct mfs_gc_mark *m)
{
	struct mfs_rd r = { p, len, 0 };
	unsigned n;

	if (mfs_rd_u8(&r) != MFS_GC_MARK_VERSION)
		return MFS_EFORMAT;
	mfs_rd_u8(&r);
	n = mfs_rd_u16(&r);
	m->first_seen = mfs_rd_u64(&r);
	if (r.bad || n > MFS_GC_MAX_VV || r.left != n * 16u)
		return MFS_EFORMAT;
	m->n = (int)n;
	for (unsigned i = 0; i < n; i++) {
		m->origin[i] = mfs_rd_u64(&r);
		m->seq[i] = mfs_rd_u64(&r);
	}
	return r.bad ? MFS_EFORMAT : 0;
}

static uint64_t vv_seq(const struct mfs_gc_mark *v, mfs_node_t origin)
{
	for (int i = 0; i < v->n; i++)
		if (v->origin[i] == origin)
			return v->seq[i];
	return 0;
}

static int vv_equal(const struct mfs_gc_mark *a, const struct mfs_gc_mark *b)
{
	return a->n == b->n && !memcmp(a->origin, b->origin, a->n * sizeof(*a->origin)) &&
	       !memcmp(a->seq, b->seq, a->n * sizeof(*a->seq));
}

/* Has peer p pulled with a version vector >= the mark's? */
static int peer_reached(const struct mfs_gc_peer *p, const struct mfs_gc_mark *m)
{
	if (p->state != MFS_GC_PEER_PULLED)
		return 0;
	for (int i = 0; i < m->n; i++) {
		uint64_t have = 0;

		if (!m->seq[i])
			continue;
		for (int k = 0; k < p->n; k++)
			if (p->origin[k] == m->origin[i])
				have = p->seq[k];
		if (have < m->seq[i])
			return 0;
	}
	return 1;
}

/* ---- ops that name chunks --------------------------------------------------------- */

/* "An op after a mark's vv names chunk h": the mark may be stale (gc.h, note 4). */
struct hit {
	struct mfs_hash h;
	mfs_node_t origin;
	uint64_t seq;
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

struct op_scan {
	struct mfs_db *db;
	const struct mfs_hashset *cands;
	struct hits *out;
};

/* The chunks of manifest id that are candidates, as named by op origin/seq, into sc->out. */
static int scan_manifest(struct op_scan *sc, const struct mfs_hash *id, mfs_node_t origin,
			 uint64_t seq)
{
	struct mfs_manifest *m;
	int rc = mfs_manifest_load(sc->db, id, &m);

	if (rc)
		return rc;
	for (uint32_t k = 0; k < m->count && !rc; k++) {
		if (!mfs_hashset_has(sc->cands, m->e[k].hash.b))
			continue;
		if (mfs_grow(&sc->out->v, &sc->out->cap, sc->out->n, sizeof(*sc->out->v)))
			rc = -ENOMEM;
		else
			sc->out->v[sc->out->n++] = (struct hit){ m->e[k].hash, origin, seq };
	}
	mfs_manifest_unref(m);
	return rc;
}

/* A revision's files, as an op names them ('R' entries). */
struct rev_scan {
	struct op_scan *sc;
	mfs_node_t origin;
	uint64_t seq;
};

static int scan_rev_file(void *arg, const char *path, const struct mfs_inode *in)
{
	struct rev_scan *rs = arg;

	(void)path;
	return scan_manifest(rs->sc, &in->manifest, rs->origin, rs->seq);
}

static int scan_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *raw, size_t len)
{
	struct op_scan *sc = arg;
	struct rev_scan rs = { sc, origin, seq };
	struct mfs_op op;
	int rc;

	if ((rc = mfs_op_decode(raw, len, &op)))
		return rc;
	for (uint32_t i = 0; i < op.n && !rc; i++) {
		const struct mfs_op_entry *e = &op.e[i];
		struct mfs_inode in;

		if (e->kind == MFS_OP_REV) {
			rc = mfs_rev_files_of(e->val, e->vlen, "", scan_rev_file, &rs);
			continue;
		}
		if (e->kind != MFS_OP_INODE || e->deleted || e->klen != 8)
			continue;
		if ((rc = mfs_inode_decode(get_be64(e->key), e->val, e->vlen, &in)))
			break;
		if (S_ISREG(in.mode) && in.has_manifest)
			rc = scan_manifest(sc, &in.manifest, origin, seq);
		mfs_inode_release(&in);
	}
	mfs_op_free_entries(&op);
	if (rc)
		log_error("op " MFS_NODE_FMT "/%llu cannot be read (%s): gc stopped", MFS_NODE_ARG(origin),
			  (unsigned long long)seq, mfs_strerror(rc));
	return rc;
}

static int hit_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MFS_HASH_LEN);
}

/*
 * Every op held here after `after` (per origin) whose inode entries name a
 * chunk in cands, into out (sorted by chunk).  Ops arriving meanwhile may
 * or may not be seen; callers rescan from a vv read before.
 */
static int scan_ops(struct mfs_ns *ns, const struct mfs_gc_mark *after, const struct mfs_hashset *cands,
		    struct hits *out)
{
	struct mfs_gc_mark *now = calloc(1, sizeof(*now));
	struct op_scan sc = { mfs_ns_db(ns), cands, out };
	int rc = 0, n;

	out->n = 0;
	if (!now)
		return -ENOMEM;
	n = mfs_ns_vv(ns, now->origin, now->seq, MFS_GC_MAX_VV);
	for (int i = 0; i < n && cands->n && !rc; i++) {
		uint64_t from = vv_seq(after, now->origin[i]);

		if (now->seq[i] > from)
			rc = mfs_ns_ops_since(ns, now->origin[i], from, scan_op, &sc);
	}
	free(now);
	if (n < 0)
		return n;
	if (!rc && out->n)
		qsort(out->v, out->n, sizeof(*out->v), hit_cmp);
	return rc;
}

/* Does an op after vv (NULL: any op scanned) name h? */
static int named_after(const struct hits *hs, const struct mfs_hash *h, const struct mfs_gc_mark *vv)
{
	size_t lo = 0, hi = hs->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (memcmp(hs->v[mid].h.b, h->b, MFS_HASH_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < hs->n && !memcmp(hs->v[lo].h.b, h->b, MFS_HASH_LEN); lo++)
		if (!vv || hs->v[lo].seq > vv_seq(vv, hs->v[lo].origin))
			return 1;
	return 0;
}

/* ---- the run ------------------------------------------------------------------------ */

enum where { IN_STORE, IN_CACHE };

struct cand {
	struct mfs_hash h;
	uint64_t bytes;
	enum where where;
	int vv;                /* its mark's vv in run.pool, -1 if it has no valid mark */
	uint64_t first_seen;
	int due;               /* passed the first pass */
};

struct run {
	struct mfs_ns *ns;
	struct mfs_db *db;
	const struct mfs_gc_opts *o;
	struct mfs_gc_result *res;
	struct mfs_hashset refs, pins, cands;
	/* Distinct version vectors of marks; pool[0] is this run's (the snapshot's). */
	struct mfs_gc_mark **pool;
	size_t npool, cappool;
	struct mfs_gc_mark *scan_from; /* vv before the op scan: pass 2 rescans after it */
	struct cand *c;
	size_t nc, capc;
	struct hits hits;
};

static int pool_add(struct run *r, const struct mfs_gc_mark *m)
{
	for (size_t i = 0; i < r->npool; i++)
		if (vv_equal(r->pool[i], m))
			return (int)i;
	if (mfs_grow(&r->pool, &r->cappool, r->npool, sizeof(*r->pool)) ||
	    !(r->pool[r->npool] = malloc(sizeof(**r->pool))))
		return -ENOMEM;
	*r->pool[r->npool] = *m;
	return (int)r->npool++;
}

/* An unreferenced chunk, with its mark if it has a readable one. */
static int add_cand(struct run *r, struct mfs_gc_mark *scratch, const struct mfs_hash *h,
		    uint64_t bytes, enum where where)
{
	struct cand c = { .h = *h, .bytes = bytes, .where = where, .vv = -1 };
	uint8_t key[MARK_KEY_LEN];
	struct mfs_val v;
	int rc;

	mark_key(h, key);
	rc = mfs_db_get(r->db, MFS_CF_META, key, sizeof(key), &v, 1);
	if (!rc) {
		if (!mfs_gc_mark_decode(v.p, v.len, scratch)) {
			c.first_seen = scratch->first_seen;
			c.vv = pool_add(r, scratch);
		} else {
			log_warn("malformed gc mark replaced"); /* the grace starts again: safe */
		}
		mfs_val_release(&v);
		if (c.vv < -1)
			return c.vv;
	} else if (rc != -ENOENT) {
		return rc;
	}
	if (mfs_grow(&r->c, &r->capc, r->nc, sizeof(*r->c)) || mfs_hashset_add(&r->cands, h))
		return -ENOMEM;
	r->c[r->nc++] = c;
	return 0;
}

struct cached_cand {
	struct run *r;
	struct mfs_gc_mark *scratch;
};

/* A file of the disk cache: a candidate when no version names it. */
static int add_cached(void *arg, const struct mfs_hash *h, uint64_t size)
{
	struct cached_cand *cc = arg;

	if (mfs_hashset_has(&cc->r->refs, h->b))
		return 0;
	cc->r->res->cache_unreferenced++;
	return add_cand(cc->r, cc->scratch, h, size, IN_CACHE);
}

static int gather(struct run *r)
{
	struct mfs_gc_mark *scratch = malloc(sizeof(*scratch));
	struct mfs_iter *it = mfs_iter_new(r->db, MFS_CF_CHUNK_INDEX, NULL, 0);
	const struct mfs_gc_cache *cache = r->o->cache;
	int rc = 0;

	if (!scratch || !it) {
		rc = -ENOMEM;
		goto out;
	}
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;
		struct mfs_hash h;

		if (kl != MFS_HASH_LEN || mfs_hashset_has(&r->refs, k))
			continue;
		if (mfs_chunk_summary_decode(v, vl, &s))
			s.record_len = 0; /* fsck reports it; still garbage */
		memcpy(h.b, k, MFS_HASH_LEN);
		r->res->unreferenced_chunks++;
		r->res->unreferenced_bytes += s.record_len;
		rc = add_cand(r, scratch, &h, s.record_len, IN_STORE);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	if (!rc && cache) {
		struct cached_cand cc = { r, scratch };

		rc = cache->each(cache->arg, add_cached, &cc);
	}
	if (!rc)
		mfs_hashset_finish(&r->cands);
out:
	mfs_iter_free(it);
	free(scratch);
	return rc;
}

/* First pass for one unreferenced chunk (its mark checked): held back, and why, or due. */
static void classify(struct run *r, struct cand *c)
{
	const struct mfs_gc_opts *o = r->o;
	struct mfs_gc_result *res = r->res;
	const struct mfs_gc_mark *m = r->pool[c->vv];
	int blocked = 0;

	if (mfs_hashset_has(&r->pins, c->h.b)) {
		res->held_open_chunks++;
		res->held_open_bytes += c->bytes;
		return;
	}
	if (o->now < c->first_seen || o->now - c->first_seen < o->grace_s) {
		uint64_t left = c->first_seen + o->grace_s - o->now;

		res->held_grace_chunks++;
		res->held_grace_bytes += c->bytes;
		if (!res->grace_next_s || left < res->grace_next_s)
			res->grace_next_s = left;
		return;
	}
	for (int i = 0; i < o->npeers; i++) {
		if (!peer_reached(&o->peers[i], m)) {
			o->peers[i].held_chunks++;
			blocked = 1;
		}
	}
	if (blocked) {
		res->held_peers_chunks++;
		res->held_peers_bytes += c->bytes;
		return;
	}
	if (c->where == IN_STORE) {
		res->free_chunks++;
		res->free_bytes += c->bytes;
	}
	c->due = 1;
}

/* Checks each candidate's mark against the ops since, records new marks, classifies. */
static int settle(struct run *r)
{
	struct mfs_gc_mark *after = calloc(1, sizeof(*after));
	struct mfs_batch *b = mfs_batch_new(r->db);
	int rc = 0, n;

	if (!after || !(r->scan_from = calloc(1, sizeof(*r->scan_from))) || !b) {
		rc = -ENOMEM;
		goto out;
	}
	/* Ops after the oldest vv of any mark, this run's included. */
	n = mfs_ns_vv(r->ns, r->scan_from->origin, r->scan_from->seq, MFS_GC_MAX_VV);
	if (n < 0) {
		rc = n;
		goto out;
	}
	r->scan_from->n = n;
	after->n = n;
	for (int i = 0; i < n; i++) {
		after->origin[i] = r->scan_from->origin[i];
		after->seq[i] = UINT64_MAX;
		for (size_t p = 0; p < r->npool; p++)
			if (vv_seq(r->pool[p], after->origin[i]) < after->seq[i])
				after->seq[i] = vv_seq(r->pool[p], after->origin[i]);
	}
	if ((rc = scan_ops(r->ns, after, &r->cands, &r->hits)))
		goto out;
	for (size_t i = 0; i < r->nc; i++) {
		struct cand *c = &r->c[i];

		/* Referenced again since its mark (and unreferenced again): stale. */
		if (c->vv >= 0 && named_after(&r->hits, &c->h, r->pool[c->vv]))
			c->vv = -1;
		if (c->vv < 0) {
			struct mfs_wr w = { 0 };
			uint8_t key[MARK_KEY_LEN];

			if (named_after(&r->hits, &c->h, r->pool[0])) {
				/* Referenced after the snapshot: not settled yet, next run. */
				r->res->held_grace_chunks++;
				r->res->held_grace_bytes += c->bytes;
				if (!r->res->grace_next_s || r->o->grace_s < r->res->grace_next_s)
					r->res->grace_next_s = r->o->grace_s ? r->o->grace_s : 1;
				continue;
			}
			c->vv = 0;
			c->first_seen = r->o->now;
			r->pool[0]->first_seen = r->o->now;
			mark_encode(r->pool[0], &w);
			if (w.oom) {
				rc = -ENOMEM;
				goto out;
			}
			mark_key(&c->h, key);
			mfs_batch_put(b, MFS_CF_META, key, sizeof(key), w.buf, w.len);
			mfs_wr_release(&w);
		}
		classify(r, c);
	}
	if (mfs_batch_count(b))
		rc = mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
out:
	mfs_batch_free(b);
	free(after);
	return rc;
}

/* Drops the marks of chunks referenced again or no longer held; counts the rest. */
static int prune_marks(struct run *r)
{
	struct mfs_iter *it = mfs_iter_new(r->db, MFS_CF_META, MARK_PREFIX, MARK_PREFIX_LEN);
	struct mfs_batch *b = mfs_batch_new(r->db);
	int rc = 0;

	if (!it || !b) {
		rc = -ENOMEM;
		goto out;
	}
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);
		struct mfs_hash h;
		int held;

		if (kl != MARK_KEY_LEN)
			continue;
		memcpy(h.b, k + MARK_PREFIX_LEN, MFS_HASH_LEN);
		held = mfs_chunk_exists(r->db, &h);
		if (held < 0) {
			rc = held;
			break;
		}
		if (!held && r->o->cache)
			held = r->o->cache->has(r->o->cache->arg, &h);
		if (held && !mfs_hashset_has(&r->refs, h.b))
			r->res->marks++;
		else
			mfs_batch_delete(b, MFS_CF_META, k, kl);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	if (!rc && mfs_batch_count(b))
		rc = mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
out:
	mfs_iter_free(it);
	mfs_batch_free(b);
	return rc;
}

static int first_pass(struct run *r)
{
	struct mfs_gc_mark *snap;
	struct mfs_iter *it;
	int rc, n;

	if (!(snap = calloc(1, sizeof(*snap))))
		return -ENOMEM;
	/*
	 * The snapshot of the inodes and the vv it matches: with no commit and
	 * no remote apply (two batches) half done, every op whose effect the
	 * snapshot shows is in the vv (gc.h, note 4).
	 */
	pthread_rwlock_wrlock(&r->ns->refs_lock);
	it = mfs_iter_new(r->db, MFS_CF_INODES, NULL, 0);
	n = mfs_ns_vv(r->ns, snap->origin, snap->seq, MFS_GC_MAX_VV);
	pthread_rwlock_unlock(&r->ns->refs_lock);
	snap->n = n;
	if (n < 0 || (rc = pool_add(r, snap)) < 0) {
		rc = n < 0 ? n : rc;
		mfs_iter_free(it);
		free(snap);
		return rc;
	}
	free(snap);
	if ((rc = collect_refs(r->db, it, &r->refs)) || (rc = gc_collect_pins(&r->pins)) ||
	    (rc = mfs_delta_keep_bases(r->db, &r->pins, &r->pins)) ||
	    (rc = gather(r)) || (rc = settle(r)))
		return rc;
	return prune_marks(r);
}

int gc_freed_add(struct gc_freed *f, const struct mfs_chunk_summary *s)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		struct mfs_chunk_summary *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = *s;
	return 0;
}

/*
 * After the synced delete of their index entries (write_rc 0): punch the
 * records out of their packs.  Never before: a crash must not leave an
 * index entry naming a hole.  After a failed write the entries may still
 * be there, and the records stay.
 */
void gc_freed_punch(struct mfs_db *db, struct gc_freed *f, int write_rc)
{
	for (size_t i = 0; !write_rc && i < f->n; i++) {
		int rc = mfs_chunk_free_space(db, &f->v[i]);

		if (rc && rc != -ENOENT)
			log_warn("a deleted chunk's space not given back: %s", mfs_strerror(rc));
	}
	f->n = 0;
}

/* Under the refs lock, exclusive: recheck from scratch, then delete (gc.h, note 2). */
static int delete_due(struct run *r, size_t ndue)
{
	struct mfs_hashset refs = { 0 }, pins = { 0 }, due = { 0 };
	struct hits hits = { 0 };
	struct gc_freed freed = { 0 };
	struct mfs_batch *b = NULL;
	int rc = 0;

	for (size_t i = 0; i < r->nc && !rc; i++)
		if (r->c[i].due)
			rc = mfs_hashset_add(&due, &r->c[i].h);
	if (rc)
		return rc;
	mfs_hashset_finish(&due);
	pthread_rwlock_wrlock(&r->ns->refs_lock);
	if ((rc = collect_refs(r->db, mfs_iter_new(r->db, MFS_CF_INODES, NULL, 0), &refs)) ||
	    (rc = gc_collect_pins(&pins)) || (rc = mfs_delta_keep_bases(r->db, &pins, &pins)) ||
	    (rc = scan_ops(r->ns, r->scan_from, &due, &hits)))
		goto out;
	for (size_t i = 0; i < r->nc && !rc; i++) {
		const struct cand *c = &r->c[i];
		uint8_t key[MARK_KEY_LEN];

		if (!c->due)
			continue;
		ndue--;
		if (mfs_hashset_has(&refs, c->h.b) || mfs_hashset_has(&pins, c->h.b) ||
		    named_after(&hits, &c->h, NULL)) {
			r->res->referenced_again++;
			continue;
		}
		if (!b && !(b = mfs_batch_new(r->db))) {
			rc = -ENOMEM;
			break;
		}
		mark_key(&c->h, key);
		mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
		if (r->res->marks)
			r->res->marks--; /* counted by prune_marks() */
		if (c->where == IN_STORE) {
			struct mfs_chunk_summary s;

			/* Where its record is, to free it once the delete is durable. */
			if (!mfs_chunk_summary_get(r->db, &c->h, &s) && s.pack &&
			    (rc = gc_freed_add(&freed, &s)))
				break;
			mfs_chunk_stage_delete(b, &c->h);
			r->res->freed_chunks++;
			r->res->freed_bytes += c->bytes;
		} else {
			r->o->cache->remove(r->o->cache->arg, &c->h);
			r->res->cache_freed_chunks++;
			r->res->cache_freed_bytes += c->bytes;
		}
		if (mfs_batch_count(b) >= 3 * DELETE_BATCH || !ndue) {
			rc = mfs_db_write(r->db, b, MFS_WRITE_SYNC);
			mfs_batch_free(b);
			b = NULL;
			gc_freed_punch(r->db, &freed, rc);
		}
	}
	if (!rc && b && mfs_batch_count(b))
		rc = mfs_db_write(r->db, b, MFS_WRITE_SYNC);
	gc_freed_punch(r->db, &freed, rc);
out:
	pthread_rwlock_unlock(&r->ns->refs_lock);
	mfs_batch_free(b);
	mfs_hashset_clear(&refs);
	mfs_hashset_clear(&pins);
	mfs_hashset_clear(&due);
	free(hits.v);
	free(freed.v);
	return rc;
}

int mfs_gc_run(struct mfs_ns *ns, const struct mfs_gc_opts *opts, struct mfs_gc_result *res)
{
	struct run r = { .ns = ns, .db = mfs_ns_db(ns), .o = opts, .res = res };
	size_t ndue = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < opts->npeers; i++)
		opts->peers[i].held_chunks = 0;
	res->disk_before = mfs_db_disk_bytes(r.db);
	if ((rc = first_pass(&r)))
		goto out;
	for (size_t i = 0; i < r.nc; i++)
		ndue += r.c[i].due;
	if (opts->apply && ndue && (rc = delete_due(&r, ndue)))
		goto out;
	if (res->freed_chunks || (opts->apply && opts->relocate)) {
		/* The chunks are gone either way; only their space would stay taken. */
		int rc2 = mfs_db_reclaim(r.db, MFS_CF_CHUNKS, opts->relocate);

		if (rc2)
			log_warn("deleted chunks' space not reclaimed yet: %s", mfs_strerror(rc2));
	}
out:
	res->disk_after = mfs_db_disk_bytes(r.db);
	if (!rc && opts->apply)
		log_info("gc: %llu chunks (%llu bytes) deleted, %llu disk cache files; held back: "
			 "%llu open, %llu grace, %llu peers; disk %llu -> %llu bytes",
			 (unsigned long long)res->freed_chunks, (unsigned long long)res->freed_bytes,
			 (unsigned long long)res->cache_freed_chunks,
			 (unsigned long long)res->held_open_chunks,
			 (unsigned long long)res->held_grace_chunks,
			 (unsigned long long)res->held_peers_chunks,
			 (unsigned long long)res->disk_before, (unsigned long long)res->disk_after);
	mfs_hashset_clear(&r.refs);
	mfs_hashset_clear(&r.pins);
	mfs_hashset_clear(&r.cands);
	for (size_t i = 0; i < r.npool; i++)
		free(r.pool[i]);
	free(r.pool);
	free(r.scan_from);
	free(r.c);
	free(r.hits.v);
	if (rc)
		log_warn("gc stopped: %s", mfs_strerror(rc));
	return rc;
}
