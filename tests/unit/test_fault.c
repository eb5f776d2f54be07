/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Faults at the storage boundary (store/kv/db_fault.c): three sequences, each
 * run once to count its store calls and then once per call with that call
 * failing (EIO, ENOSPC, or a crash after which every write fails):
 *   commit  create -> ingest -> publish of a new file, then the rewrite of
 *           an existing one (the daemon's commit, fuse/fs_write.c);
 *   apply   a peer's ops, produced by another namespace, applied in order;
 *   gc      a gc run that deletes the chunks of removed files.
 * After each: the calls report an error or succeed; every file reads back
 * (manifest, then chunks, SHA-256 checked) as its old version or its new one
 * whole, and as the new one if that was acknowledged; the namespace goes on
 * working; and after a restart (the namespace reopened over the same store,
 * which runs recovery; in memory, after a power loss that drops every write
 * not yet durable) fsck finds no problem, the bytes are still right, and
 * the node's op log replayed on a fresh peer gives the same tree.
 *
 * The store under the fault injector is the in-memory backend; the commit
 * sequence runs over RocksDB too (MFS_FAULT_ROCKS=0 skips that).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/maint/copies.h"
#include "store/maint/gc.h"
#include "store/maint/report.h"
#include "store/ns/namespace.h"
#include "tap.h"

/* ------------------------------------------------------------------------ */
/* a node: a store that survives restarts, the fault wrapper, a namespace   */

struct stack {
	int rocks;
	char dir[64];
	struct mfs_db *base;	/* survives restarts (RocksDB: reopened from dir) */
	struct mfs_db *db;	/* the fault wrapper over base */
	struct mfs_ns *ns;
};

static void stack_open(struct stack *s)
{
	int rc;

	if (!s->base) {
		rc = s->rocks ? mfs_store_open(s->dir, &s->base) : mfs_db_open_mem(&s->base);
		if (rc)
			tap_bail("open the store: %s", mfs_strerror(rc));
	}
	if ((rc = mfs_db_fault_wrap(s->base, NULL, 0, &s->db)) || (rc = mfs_ns_open(s->db, &s->ns)))
		tap_bail("open the namespace: %s", mfs_strerror(rc));
}

static void stack_new(struct stack *s, int rocks)
{
	memset(s, 0, sizeof(*s));
	s->rocks = rocks;
	strcpy(s->dir, "/tmp/mfs-fault-XXXXXX");
	if (rocks && !mkdtemp(s->dir))
		tap_bail("mkdtemp");
	stack_open(s);
}

static void stack_close(struct stack *s)
{
	mfs_ns_close(s->ns);
	mfs_db_close(s->db);
	s->ns = NULL;
	s->db = NULL;
	if (s->rocks) {
		mfs_db_close(s->base);
		s->base = NULL;
	}
}

/*
 * As a daemon's restart: the namespace (and RocksDB) reopened, recovery run.
 * In memory, after a power loss: what was not synced (or flushed) is gone.
 */
static void stack_restart(struct stack *s)
{
	stack_close(s);
	if (!s->rocks && mfs_db_mem_power_loss(s->base))
		tap_bail("power loss");
	stack_open(s);
}

static void stack_free(struct stack *s)
{
	char cmd[128];

	stack_close(s);
	mfs_db_close(s->base);
	s->base = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
	if (s->rocks && system(cmd))
		tap_bail("%s", cmd);
}

static void arm(struct stack *s, uint64_t nth, enum mfs_fault_kind kind)
{
	struct mfs_fault_spec sp = { .n = 1, .r = { { MFS_FAULT_ANY, nth, kind } } };

	if (mfs_db_fault_arm(s->db, nth ? &sp : NULL))
		tap_bail("arm");
}

/* ------------------------------------------------------------------------ */
/* files                                                                     */

/* The contents files have: sizes set by make_files(). */
static uint8_t *OLD, *NEW1, *NEW2, *G;
static size_t OLD_LEN, NEW1_LEN, NEW2_LEN, G_LEN;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = (uint8_t)rng;
	}
}

/*
 * big: OLD and NEW2 span two chunks and share the first (a rewrite's dedup
 * hit); otherwise every file is one small chunk, which is all apply and gc
 * need, and much faster.
 */
static void make_files(int big)
{
	size_t max = 1536 << 10;

	if (!OLD && (!(OLD = malloc(max)) || !(NEW1 = malloc(max)) || !(NEW2 = malloc(max)) ||
		     !(G = malloc(max))))
		tap_bail("oom");
	OLD_LEN = NEW2_LEN = big ? max : 200000;
	/* Small, NEW1 commits as the daemon commits a small file (mfs_ingest_small). */
	NEW1_LEN = big ? 300 << 10 : 20000;
	G_LEN = 70000;
	fill(OLD, OLD_LEN);
	fill(NEW1, NEW1_LEN);
	/* NEW2 is OLD with a new tail. */
	memcpy(NEW2, OLD, NEW2_LEN);
	fill(NEW2 + NEW2_LEN - 100000, 100000);
	fill(G, G_LEN);
}

static int ingest(struct mfs_db *db, const uint8_t *p, size_t n, struct mfs_hash *id, int *has)
{
	struct mfs_ingest_stats st;
	int fd = memfd_create("mfs-fault", MFD_CLOEXEC), rc;

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		tap_bail("memfd");
	/* One thread: the calls come in the same order on every run. */
	rc = mfs_ingest_fd(db, fd, n, 1, id, has, &st);
	close(fd);
	return rc;
}

/*
 * A small file's: its records and manifest staged into the publish's batch
 * (mfs_ingest_small, mfs_ns_publish_with).
 */
static int commit_small(struct mfs_ns *ns, uint64_t ino, const uint8_t *p, size_t n,
			struct mfs_inode *out)
{
	struct mfs_ingest_stats st;
	struct mfs_ns_with with = { .b = mfs_batch_new(mfs_ns_db(ns)) };
	struct mfs_wr mrec = { 0 };
	struct mfs_hash id;
	int fd = memfd_create("mfs-fault", MFD_CLOEXEC), has = 0, rc;

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || !with.b)
		tap_bail("memfd");
	rc = mfs_ingest_small(mfs_ns_db(ns), fd, n, 0, with.b, &mrec, &id, &has, &st);
	close(fd);
	with.manifest = mrec.buf;
	with.manifest_len = mrec.len;
	if (!rc)
		rc = mfs_ns_publish_with(ns, ino, has ? &id : NULL, n, NULL, NULL, &with, out);
	else
		mfs_batch_free(with.b);
	mfs_wr_release(&mrec);
	return rc;
}

/* The daemon's commit (fuse/fs_write.c): ingest, then publish, gc held off. */
static int commit(struct mfs_ns *ns, uint64_t ino, const uint8_t *p, size_t n)
{
	struct mfs_inode out = { 0 };
	struct mfs_hash id;
	int has = 0, rc;

	mfs_gc_refs_hold(ns);
	if (n <= MFS_INGEST_SMALL_MAX) {
		rc = commit_small(ns, ino, p, n, &out);
	} else {
		rc = ingest(mfs_ns_db(ns), p, n, &id, &has);
		if (!rc)
			rc = mfs_ns_publish(ns, ino, has ? &id : NULL, n, NULL, NULL, &out);
	}
	mfs_gc_refs_release(ns);
	mfs_inode_release(&out);
	return rc;
}

static int lookup(struct mfs_ns *ns, const char *path, struct mfs_inode *out)
{
	char buf[256], *save = NULL, *name;
	uint64_t ino = MFS_ROOT_INO;
	int rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	memset(out, 0, sizeof(*out));
	for (name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		mfs_inode_release(out);
		if ((rc = mfs_ns_lookup(ns, ino, name, out)))
			return rc;
		ino = out->ino;
	}
	return rc;
}

static int create(struct mfs_ns *ns, const char *dir, const char *name, uint32_t mode,
		  uint64_t *ino)
{
	struct mfs_ns_new nw = { .mode = mode, .flags = S_ISREG(mode) ? MFS_I_PENDING : 0 };
	struct mfs_inode d, in;
	int rc;

	if ((rc = lookup(ns, dir, &d)))
		return rc;
	rc = mfs_ns_create(ns, d.ino ? d.ino : MFS_ROOT_INO, name, &nw, &in);
	if (!rc && ino)
		*ino = in.ino;
	if (!rc)
		mfs_inode_release(&in);
	mfs_inode_release(&d);
	return rc;
}

/*
 * What path reads as, through manifest and chunk store: 'A' absent, 'P'
 * pending (created, nothing published), 'o'/'1'/'2'/'g' one of the known
 * contents whole, 'E' an error reading it, '?' anything else (wrong bytes).
 */
static char read_as(struct mfs_ns *ns, const char *path)
{
	static struct { char c; uint8_t **p; size_t *len; } known[] = {
		{ 'o', &OLD, &OLD_LEN }, { '1', &NEW1, &NEW1_LEN }, { '2', &NEW2, &NEW2_LEN },
		{ 'g', &G, &G_LEN },
	};
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	struct mfs_manifest *m = NULL;
	struct mfs_inode in;
	uint8_t *buf = NULL;
	size_t off = 0;
	char res = '?';
	int rc = lookup(ns, path, &in);

	if (rc == -ENOENT)
		return 'A';
	if (rc)
		return 'E';
	if (in.flags & MFS_I_PENDING) {
		res = in.size == 0 && !in.has_manifest ? 'P' : '?';
		goto out;
	}
	if (!in.has_manifest || !(buf = malloc(in.size ? in.size : 1)))
		goto out;
	if (mfs_manifest_load(mfs_ns_db(ns), &in.manifest, &m) || m->size != in.size) {
		res = 'E';
		goto out;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		struct mfs_chunk_bytes cb;

		if (mfs_chunk_load(mfs_ns_db(ns), ctx, &m->e[i].hash, &cb, 1)) {
			res = 'E';
			goto out;
		}
		if (off + cb.len <= in.size)
			memcpy(buf + off, cb.p, cb.len);
		off += cb.len;
		mfs_chunk_bytes_release(&cb);
	}
	for (size_t k = 0; off == in.size && k < sizeof(known) / sizeof(*known); k++)
		if (*known[k].len == in.size && !memcmp(buf, *known[k].p, in.size))
			res = known[k].c;
out:
	mfs_manifest_unref(m);
	mfs_inode_release(&in);
	free(buf);
	return res;
}

/* ------------------------------------------------------------------------ */
/* whole-store checks                                                        */

static void fsck_note(void *arg, enum mfs_fsck_problem kind, const char *hash_hex,
		      const char *detail, const char *path)
{
	if (!mfs_fsck_is_problem(kind))
		return;
	(*(int *)arg)++;
	printf("#   fsck: %s %s %s %s\n", mfs_fsck_problem_name(kind), hash_hex, detail,
	       path ? path : "-");
}

/* Problems fsck finds (deep: every chunk decoded and re-hashed), or an error. */
static int fsck_problems(struct mfs_ns *ns)
{
	struct mfs_fsck_opts o = { .flags = MFS_COPY_DEEP, .single_node = 1 };
	struct mfs_fsck_result r;
	int n = 0, rc = mfs_fsck(ns, &o, fsck_note, &n, &r);

	return rc ? rc : n;
}

/* The tree as text: path, ino, type and mode, nlink, size, manifest, flags. */
struct tree {
	struct mfs_ns *ns;
	char *s;
	size_t len;
	FILE *f;
	int rc;
};

static void tree_walk(struct tree *t, uint64_t dir);

static int tree_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct tree *t = arg;
	char hex[MFS_HASH_HEX_LEN + 1] = "-";
	struct mfs_inode in;

	if ((t->rc = mfs_ns_get(t->ns, ino, &in)))
		return 1;
	if (in.has_manifest)
		mfs_hash_to_hex(&in.manifest, hex);
	fprintf(t->f, "%s %016llx %o/%o %u %llu %s %x\n", name, (unsigned long long)ino, mode,
		in.mode, in.nlink, (unsigned long long)in.size, hex, in.flags);
	if (S_ISDIR(in.mode))
		tree_walk(t, ino);
	mfs_inode_release(&in);
	return t->rc ? 1 : 0;
}

static void tree_walk(struct tree *t, uint64_t dir)
{
	int rc;

	fprintf(t->f, "dir %016llx {\n", (unsigned long long)dir);
	rc = mfs_ns_readdir(t->ns, dir, NULL, 0, tree_entry, t);
	if (rc && !t->rc)
		t->rc = rc;
	fprintf(t->f, "}\n");
}

/* Caller frees; NULL when a read failed. */
static char *tree_of(struct mfs_ns *ns)
{
	struct tree t = { .ns = ns };

	if (!(t.f = open_memstream(&t.s, &t.len)))
		tap_bail("open_memstream");
	tree_walk(&t, MFS_ROOT_INO);
	fclose(t.f);
	if (t.rc) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

struct oplist {
	uint64_t n, cap;
	mfs_node_t origin;
	uint64_t *seq;
	uint8_t **op;
	size_t *len;
};

static int collect_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct oplist *l = arg;

	(void)origin;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->seq = realloc(l->seq, l->cap * sizeof(*l->seq));
		l->op = realloc(l->op, l->cap * sizeof(*l->op));
		l->len = realloc(l->len, l->cap * sizeof(*l->len));
		if (!l->seq || !l->op || !l->len)
			tap_bail("oom");
	}
	l->seq[l->n] = seq;
	l->len[l->n] = len;
	if (!(l->op[l->n] = malloc(len)))
		tap_bail("oom");
	memcpy(l->op[l->n++], op, len);
	return 0;
}

static void oplist_get(struct mfs_ns *ns, struct oplist *l)
{
	memset(l, 0, sizeof(*l));
	l->origin = mfs_ns_node_id(ns);
	if (mfs_ns_ops_since(ns, l->origin, 0, collect_op, l))
		tap_bail("read the op log");
}

static void oplist_free(struct oplist *l)
{
	for (uint64_t i = 0; i < l->n; i++)
		free(l->op[i]);
	free(l->seq);
	free(l->op);
	free(l->len);
}

/* Applies l in order to ns; stops at the first error (returned). */
static int oplist_apply(struct mfs_ns *ns, const struct oplist *l)
{
	int rc = 0;

	for (uint64_t i = 0; i < l->n && !rc; i++)
		rc = mfs_ns_apply(ns, l->origin, l->seq[i], l->op[i], l->len[i], NULL, NULL);
	return rc;
}

/* A store of another node id than ns's. */
static void peer_new(struct stack *p, struct mfs_ns *ns)
{
	do {
		stack_new(p, 0);
		if (mfs_ns_node_id(p->ns) != mfs_ns_node_id(ns))
			return;
		stack_free(p);
	} while (1);
}

/*
 * The node's op log, replayed on a fresh peer, gives the node's tree: no op
 * lost, none logged for a change that did not land, no gap in the seqs.
 * Returns a description of the first difference, or NULL.
 */
static const char *oplog_matches(struct mfs_ns *ns)
{
	struct stack p;
	struct oplist l;
	char *a = NULL, *b = NULL;
	const char *why = NULL;
	int rc;

	oplist_get(ns, &l);
	peer_new(&p, ns);
	for (uint64_t i = 0; i < l.n && !why; i++)
		if (l.seq[i] != i + 1)
			why = "a gap in the op log's sequence numbers";
	if (!why && (rc = oplist_apply(p.ns, &l)))
		why = "an op of the log does not apply";
	if (!why && (!(a = tree_of(ns)) || !(b = tree_of(p.ns))))
		why = "a tree cannot be read";
	if (!why && strcmp(a, b)) {
		why = "the peer's tree differs";
		printf("# node:\n%s# peer:\n%s", a, b);
	}
	free(a);
	free(b);
	oplist_free(&l);
	stack_free(&p);
	return why;
}

/* ------------------------------------------------------------------------ */
/* the sequences                                                             */

static const enum mfs_fault_kind kinds[] = { MFS_FAULT_EIO, MFS_FAULT_ENOSPC, MFS_FAULT_CRASH };
static const char *const kind_name[] = { "EIO", "ENOSPC", "ENOMEM", "crash" };

/* Counts a failed check of one fault point, printing it once. */
static int failures;

__attribute__((format(printf, 4, 5)))
static void fail(const char *seq, uint64_t k, enum mfs_fault_kind kind, const char *fmt, ...)
{
	va_list ap;

	failures++;
	if (failures > 40)
		return;
	printf("# %s, %s at call %llu: ", seq, kind_name[kind], (unsigned long long)k);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/*
 * commit: d/f (OLD) and g (G) exist.  Under the fault: create d/n, commit
 * NEW1 to it; commit NEW2 over d/f.
 */
struct commit_run {
	int rc_create, rc_n, rc_f;
	uint64_t ino_n, ino_f;
};

static void commit_setup(struct stack *s, struct commit_run *r)
{
	memset(r, 0, sizeof(*r));
	r->rc_create = r->rc_n = r->rc_f = 1; /* not reached */
	if (create(s->ns, "", "d", S_IFDIR | 0755, NULL) ||
	    create(s->ns, "d", "f", S_IFREG | 0644, &r->ino_f) ||
	    commit(s->ns, r->ino_f, OLD, OLD_LEN) ||
	    create(s->ns, "", "g", S_IFREG | 0644, &r->ino_n) || commit(s->ns, r->ino_n, G, G_LEN))
		tap_bail("commit setup");
	/* A pending file is published in place: ino_f is d/f's inode. */
	r->ino_n = 0;
}

static void commit_seq(struct stack *s, struct commit_run *r)
{
	if ((r->rc_create = create(s->ns, "d", "n", S_IFREG | 0644, &r->ino_n)))
		return;
	if ((r->rc_n = commit(s->ns, r->ino_n, NEW1, NEW1_LEN)))
		return;
	r->rc_f = commit(s->ns, r->ino_f, NEW2, NEW2_LEN);
}

/* d/n and d/f as the acknowledged calls require; 0 or prints why not. */
static int commit_state_ok(const char *seq, uint64_t k, enum mfs_fault_kind kind,
			   struct mfs_ns *ns, int acked_n, int acked_f, int restarted)
{
	char n = read_as(ns, "d/n"), f = read_as(ns, "d/f"), g = read_as(ns, "g");
	int good = 1;

	if (acked_n ? n != '1' : !strchr(restarted ? "A1" : "AP1", n))
		good = 0;
	if (acked_f ? f != '2' : !strchr("o2", f))
		good = 0;
	if (g != 'g')
		good = 0;
	if (!good)
		fail(seq, k, kind, "%s: d/n reads as %c, d/f as %c, g as %c (acknowledged: n %d, f %d)",
		     restarted ? "after restart" : "live", n, f, g, acked_n, acked_f);
	return good ? 0 : -1;
}

/* The writer tries again, as a user would after an error. */
static int commit_retry(struct stack *s, struct commit_run *r)
{
	struct mfs_inode in;
	int rc = 0;
	char n = read_as(s->ns, "d/n"), f = read_as(s->ns, "d/f");

	if (n == 'A')
		rc = create(s->ns, "d", "n", S_IFREG | 0644, &r->ino_n);
	else if (n == 'P' && !(rc = lookup(s->ns, "d/n", &in))) {
		r->ino_n = in.ino;
		mfs_inode_release(&in);
	}
	if (!rc && n != '1')
		rc = commit(s->ns, r->ino_n, NEW1, NEW1_LEN);
	if (!rc && f != '2' && !(rc = lookup(s->ns, "d/f", &in))) {
		rc = commit(s->ns, in.ino, NEW2, NEW2_LEN);
		mfs_inode_release(&in);
	}
	return rc;
}

static uint64_t run_commit(int rocks, const char *seq, const enum mfs_fault_kind *which,
			   size_t nkinds)
{
	struct commit_run r;
	struct stack s;
	uint64_t calls, points = 0;

	stack_new(&s, rocks);
	commit_setup(&s, &r);
	arm(&s, 0, 0);
	commit_seq(&s, &r);
	calls = mfs_db_fault_calls(s.db, MFS_FAULT_ANY);
	ok(!r.rc_create && !r.rc_n && !r.rc_f && !commit_state_ok(seq, 0, 0, s.ns, 1, 1, 0),
	   "%s: the sequence without faults (%llu store calls)", seq, (unsigned long long)calls);
	stack_free(&s);

	for (size_t kk = 0; kk < nkinds; kk++) {
		enum mfs_fault_kind kind = which[kk];
		int before = failures, fired_all = 1, errs_reported = 1;

		for (uint64_t k = 1; k <= calls; k++) {
			int acked_n, acked_f, fired, rc;
			const char *why;

			stack_new(&s, rocks);
			commit_setup(&s, &r);
			arm(&s, k, kind);
			commit_seq(&s, &r);
			fired = mfs_db_fault_fired(s.db);
			arm(&s, 0, 0);
			points++;
			fired_all &= fired == 1;
			acked_n = !r.rc_create && !r.rc_n;
			acked_f = acked_n && !r.rc_f;
			/* A fault may be absorbed (a failed read retried), never hidden. */
			errs_reported &= !(acked_f && kind == MFS_FAULT_CRASH);
			commit_state_ok(seq, k, kind, s.ns, acked_n, acked_f, 0);
			if (kind != MFS_FAULT_CRASH) {
				/* Transient: the node goes on, and a retry succeeds. */
				if ((rc = commit_retry(&s, &r)))
					fail(seq, k, kind, "live retry: %s", mfs_strerror(rc));
				else
					commit_state_ok(seq, k, kind, s.ns, 1, 1, 0);
				acked_n = acked_f = 1;
			}
			stack_restart(&s);
			if ((rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "after restart: fsck: %d", rc);
			commit_state_ok(seq, k, kind, s.ns, acked_n, acked_f, 1);
			if ((why = oplog_matches(s.ns)))
				fail(seq, k, kind, "after restart: %s", why);
			if ((rc = commit_retry(&s, &r)))
				fail(seq, k, kind, "retry after restart: %s", mfs_strerror(rc));
			commit_state_ok(seq, k, kind, s.ns, 1, 1, 1);
			if ((rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "after the retry: fsck: %d", rc);
			stack_free(&s);
		}
		ok(fired_all, "%s, %s: the fault fired at each of %llu calls", seq, kind_name[kind],
		   (unsigned long long)calls);
		ok(errs_reported, "%s, %s: a crash is never acknowledged as a whole commit", seq,
		   kind_name[kind]);
		ok(failures == before, "%s, %s: at every call, old or new whole; fsck clean after "
		   "restart; the op log replays to the same tree", seq, kind_name[kind]);
	}
	return points;
}

/*
 * apply: node S makes a history; node D, which already holds the chunks,
 * applies S's ops under the fault, then again (a peer re-sends what was
 * not applied) until it shows S's tree.
 */
static void apply_history(struct stack *s)
{
	uint64_t ino;

	if (create(s->ns, "", "d", S_IFDIR | 0755, NULL) ||
	    create(s->ns, "d", "f", S_IFREG | 0644, &ino) || commit(s->ns, ino, OLD, OLD_LEN) ||
	    commit(s->ns, ino, NEW2, NEW2_LEN) ||
	    create(s->ns, "", "g", S_IFREG | 0644, &ino) || commit(s->ns, ino, G, G_LEN))
		tap_bail("apply history");
}

static void apply_dest(struct stack *d, struct mfs_ns *src)
{
	struct mfs_hash id;
	int has;

	peer_new(d, src);
	/* Chunks arrive by fetch in a cluster; here they are in place already. */
	if (ingest(d->db, OLD, OLD_LEN, &id, &has) || ingest(d->db, NEW2, NEW2_LEN, &id, &has) ||
	    ingest(d->db, G, G_LEN, &id, &has) || mfs_db_sync(d->db))
		tap_bail("apply dest");
}

static uint64_t run_apply(void)
{
	const char *seq = "apply";
	struct stack s, d;
	struct oplist l;
	char *want;
	uint64_t calls, points = 0;
	struct mfs_inode dir, in;

	stack_new(&s, 0);
	apply_history(&s);
	/* More kinds of ops: a rename into d, a directory made and removed, an unlink. */
	if (lookup(s.ns, "d", &dir) ||
	    mfs_ns_rename(s.ns, MFS_ROOT_INO, "g", dir.ino, "h", 0, NULL) ||
	    create(s.ns, "d", "e", S_IFDIR | 0755, NULL) ||
	    create(s.ns, "d/e", "x", S_IFDIR | 0700, NULL) ||
	    mfs_ns_remove(s.ns, dir.ino, "h", 0, NULL) ||
	    lookup(s.ns, "d/e", &in) || mfs_ns_remove(s.ns, in.ino, "x", 1, NULL))
		tap_bail("apply history");
	mfs_inode_release(&dir);
	mfs_inode_release(&in);
	oplist_get(s.ns, &l);
	if (!(want = tree_of(s.ns)))
		tap_bail("tree");

	apply_dest(&d, s.ns);
	arm(&d, 0, 0);
	is_int(oplist_apply(d.ns, &l), 0, "%s: %llu ops apply without faults", seq,
	       (unsigned long long)l.n);
	calls = mfs_db_fault_calls(d.db, MFS_FAULT_ANY);
	{
		char *got = tree_of(d.ns);

		ok(got && !strcmp(got, want) && read_as(d.ns, "d/f") == '2',
		   "%s: the peer shows the tree (%llu store calls)", seq, (unsigned long long)calls);
		free(got);
	}
	stack_free(&d);

	for (size_t kk = 0; kk < sizeof(kinds) / sizeof(*kinds); kk++) {
		enum mfs_fault_kind kind = kinds[kk];
		int before = failures;

		for (uint64_t k = 1; k <= calls; k++) {
			char f, *got;
			int rc;

			apply_dest(&d, s.ns);
			arm(&d, k, kind);
			rc = oplist_apply(d.ns, &l);
			arm(&d, 0, 0);
			points++;
			if (!rc && kind == MFS_FAULT_CRASH)
				fail(seq, k, kind, "every op applied across a crash");
			f = read_as(d.ns, "d/f");
			if (!strchr("APo2", f))
				fail(seq, k, kind, "live: d/f reads as %c", f);
			if ((rc = fsck_problems(d.ns)))
				fail(seq, k, kind, "live: fsck: %d", rc);
			if (kind != MFS_FAULT_CRASH && (rc = oplist_apply(d.ns, &l)))
				fail(seq, k, kind, "live: applying again: %s", mfs_strerror(rc));
			stack_restart(&d);
			if ((rc = fsck_problems(d.ns)))
				fail(seq, k, kind, "after restart: fsck: %d", rc);
			f = read_as(d.ns, "d/f");
			if (!strchr("APo2", f))
				fail(seq, k, kind, "after restart: d/f reads as %c", f);
			if ((rc = oplist_apply(d.ns, &l)))
				fail(seq, k, kind, "after restart: applying again: %s",
				     mfs_strerror(rc));
			got = tree_of(d.ns);
			if (!got || strcmp(got, want)) {
				fail(seq, k, kind, "the peer's tree differs from the origin's");
				printf("# want:\n%s# got:\n%s", want, got ? got : "(unreadable)\n");
			}
			free(got);
			if (read_as(d.ns, "d/f") != '2' || (rc = fsck_problems(d.ns)))
				fail(seq, k, kind, "at the end: d/f or fsck (%d)", rc);
			stack_free(&d);
		}
		ok(failures == before, "%s, %s: at every call, old or new whole, fsck clean; "
		   "after a restart the ops apply again and the trees agree", seq, kind_name[kind]);
	}
	oplist_free(&l);
	free(want);
	stack_free(&s);
	return points;
}

/* gc: a and x removed, b (shares a chunk with a) kept; gc frees a's and x's own chunks. */
static void gc_setup(struct stack *s)
{
	struct mfs_inode d;
	uint64_t ino;

	if (create(s->ns, "", "d", S_IFDIR | 0755, NULL) ||
	    create(s->ns, "d", "a", S_IFREG | 0644, &ino) || commit(s->ns, ino, OLD, OLD_LEN) ||
	    create(s->ns, "d", "f", S_IFREG | 0644, &ino) || commit(s->ns, ino, NEW2, NEW2_LEN) ||
	    create(s->ns, "", "g", S_IFREG | 0644, &ino) || commit(s->ns, ino, G, G_LEN) ||
	    create(s->ns, "d", "x", S_IFREG | 0644, &ino) || commit(s->ns, ino, NEW1, NEW1_LEN) ||
	    lookup(s->ns, "d", &d) || mfs_ns_remove(s->ns, d.ino, "a", 0, NULL) ||
	    mfs_ns_remove(s->ns, d.ino, "x", 0, NULL))
		tap_bail("gc setup");
	mfs_inode_release(&d);
}

static int gc(struct mfs_ns *ns, struct mfs_gc_result *res)
{
	struct mfs_gc_opts o = { .apply = 1, .grace_s = 0, .now = 2000000000 };

	return mfs_gc_run(ns, &o, res);
}

static int orphans(struct mfs_ns *ns)
{
	struct mfs_store_stats st;

	return mfs_store_stats(mfs_ns_db(ns), &st) ? -1 : (int)st.orphan_chunks;
}

static uint64_t run_gc(void)
{
	const char *seq = "gc";
	struct mfs_gc_result res;
	struct stack s;
	uint64_t calls, points = 0;
	int n0;

	stack_new(&s, 0);
	gc_setup(&s);
	n0 = orphans(s.ns);
	arm(&s, 0, 0);
	is_int(gc(s.ns, &res), 0, "%s: a run without faults", seq);
	calls = mfs_db_fault_calls(s.db, MFS_FAULT_ANY);
	ok(n0 > 0 && res.freed_chunks == (uint64_t)n0 && orphans(s.ns) == 0 &&
	   read_as(s.ns, "d/f") == '2' && read_as(s.ns, "g") == 'g',
	   "%s: frees the %d unreferenced chunks, keeps the rest (%llu store calls)", seq, n0,
	   (unsigned long long)calls);
	stack_free(&s);

	for (size_t kk = 0; kk < sizeof(kinds) / sizeof(*kinds); kk++) {
		enum mfs_fault_kind kind = kinds[kk];
		int before = failures;

		for (uint64_t k = 1; k <= calls; k++) {
			int rc;

			stack_new(&s, 0);
			gc_setup(&s);
			arm(&s, k, kind);
			rc = gc(s.ns, &res);
			arm(&s, 0, 0);
			points++;
			(void)rc;
			if (read_as(s.ns, "d/f") != '2' || read_as(s.ns, "g") != 'g')
				fail(seq, k, kind, "live: a kept file does not read back");
			if ((rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "live: fsck: %d", rc);
			if (kind != MFS_FAULT_CRASH && ((rc = gc(s.ns, &res)) || orphans(s.ns)))
				fail(seq, k, kind, "live: gc again: %d, %d orphans", rc, orphans(s.ns));
			stack_restart(&s);
			if ((rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "after restart: fsck: %d", rc);
			if ((rc = gc(s.ns, &res)) || orphans(s.ns))
				fail(seq, k, kind, "after restart: gc: %d, %d orphans", rc,
				     orphans(s.ns));
			if (read_as(s.ns, "d/f") != '2' || read_as(s.ns, "g") != 'g' ||
			    (rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "at the end: a kept file or fsck (%d)", rc);
			stack_free(&s);
		}
		ok(failures == before, "%s, %s: at every call, kept files whole and fsck clean; "
		   "after a restart gc frees the rest", seq, kind_name[kind]);
	}
	return points;
}

/*
 * read: lookups, reads through manifest and chunks, and readdir under a
 * fault answer right or fail, never with wrong bytes, a wrong ENOENT or a
 * short listing.
 */
static uint64_t run_read(void)
{
	const char *seq = "read";
	struct commit_run r;
	struct stack s;
	uint64_t calls, points = 0;
	char *want, *got, f, g;

	stack_new(&s, 0);
	commit_setup(&s, &r);
	commit_seq(&s, &r);
	if (!(want = tree_of(s.ns)))
		tap_bail("tree");
	arm(&s, 0, 0);
	f = read_as(s.ns, "d/f");
	g = read_as(s.ns, "g");
	got = tree_of(s.ns);
	calls = mfs_db_fault_calls(s.db, MFS_FAULT_ANY);
	ok(f == '2' && g == 'g' && got && !strcmp(got, want),
	   "%s: two files and the tree without faults (%llu store calls)", seq,
	   (unsigned long long)calls);
	free(got);
	for (size_t kk = 0; kk < 2; kk++) {
		enum mfs_fault_kind kind = kinds[kk];
		int before = failures;

		for (uint64_t k = 1; k <= calls; k++) {
			arm(&s, k, kind);
			f = read_as(s.ns, "d/f");
			g = read_as(s.ns, "g");
			got = tree_of(s.ns);
			arm(&s, 0, 0);
			points++;
			if (!strchr("2E", f) || !strchr("gE", g))
				fail(seq, k, kind, "d/f reads as %c, g as %c", f, g);
			if (got && strcmp(got, want)) {
				fail(seq, k, kind, "a listing that is neither whole nor an error");
				printf("# want:\n%s# got:\n%s", want, got);
			}
			free(got);
		}
		ok(failures == before, "%s, %s: every read right or an error, every listing whole "
		   "or an error", seq, kind_name[kind]);
	}
	free(want);
	stack_free(&s);
	return points;
}

/*
 * recovery: a node restarts with a file left pending by a crash; the
 * namespace's open (which removes it) fails at each store call in turn.
 * The open fails or succeeds; either way a clean open after it has removed
 * the pending file, the published ones are whole and fsck is clean.
 */
static uint64_t run_recovery(void)
{
	const char *seq = "recovery";
	struct commit_run r;
	struct stack s;
	uint64_t calls = 0, points = 0;

	for (size_t kk = 0; kk < sizeof(kinds) / sizeof(*kinds); kk++) {
		enum mfs_fault_kind kind = kinds[kk];
		int before = failures;

		for (uint64_t k = 0; k <= calls; k++) {
			const char *why;
			int rc;

			stack_new(&s, 0);
			commit_setup(&s, &r);
			if (create(s.ns, "d", "p", S_IFREG | 0644, NULL))
				tap_bail("pending");
			stack_close(&s);
			if (mfs_db_mem_power_loss(s.base) || mfs_db_fault_wrap(s.base, NULL, 0, &s.db))
				tap_bail("wrap");
			arm(&s, k, kind);
			rc = mfs_ns_open(s.db, &s.ns);
			if (!k) {
				calls = mfs_db_fault_calls(s.db, MFS_FAULT_ANY);
				if (!kk)
					ok(!rc && read_as(s.ns, "d/p") == 'A',
					   "%s: an open removes the pending file (%llu store calls)", seq,
					   (unsigned long long)calls);
			} else {
				points++;
			}
			arm(&s, 0, 0);
			if (!rc && !strchr("AP", read_as(s.ns, "d/p")))
				fail(seq, k, kind, "live: d/p is neither gone nor pending");
			if (!rc && (read_as(s.ns, "d/f") != 'o' || read_as(s.ns, "g") != 'g'))
				fail(seq, k, kind, "live: a published file does not read back");
			stack_restart(&s);
			if (read_as(s.ns, "d/p") != 'A' || read_as(s.ns, "d/f") != 'o' ||
			    read_as(s.ns, "g") != 'g')
				fail(seq, k, kind, "after a clean open: d/p %c, d/f %c, g %c",
				     read_as(s.ns, "d/p"), read_as(s.ns, "d/f"), read_as(s.ns, "g"));
			if ((rc = fsck_problems(s.ns)))
				fail(seq, k, kind, "after a clean open: fsck: %d", rc);
			if ((why = oplog_matches(s.ns)))
				fail(seq, k, kind, "after a clean open: %s", why);
			stack_free(&s);
		}
		ok(failures == before, "%s, %s: at every call of the open, a clean open after it "
		   "removes the pending file, the rest whole, fsck clean", seq, kind_name[kind]);
	}
	return points;
}

/* ------------------------------------------------------------------------ */

static void test_spec(void)
{
	struct mfs_fault_spec sp;

	ok(!mfs_fault_spec_parse("write:7:EIO", &sp) && sp.n == 1 &&
	   sp.r[0].cls == MFS_FAULT_WRITE && sp.r[0].nth == 7 && sp.r[0].kind == MFS_FAULT_EIO,
	   "spec write:7:EIO");
	ok(!mfs_fault_spec_parse("any:12:ENOSPC,write:30:crash", &sp) && sp.n == 2 &&
	   sp.r[1].kind == MFS_FAULT_CRASH && sp.r[1].nth == 30, "spec of two rules");
	ok(mfs_fault_spec_parse("write:7", &sp) == -EINVAL &&
	   mfs_fault_spec_parse("read:7:EIO", &sp) == -EINVAL &&
	   mfs_fault_spec_parse("write:x:EIO", &sp) == -EINVAL &&
	   mfs_fault_spec_parse("write:-1:EIO", &sp) == -EINVAL &&
	   mfs_fault_spec_parse("write:7:EPERM", &sp) == -EINVAL &&
	   mfs_fault_spec_parse("", &sp) == -EINVAL, "malformed specs are refused");
}

/* The in-memory backend: bounds, snapshots, atomic batches, values outliving writes. */
static void test_mem(void)
{
	struct mfs_db *db, *fdb;
	struct mfs_batch *b;
	uint8_t *big;
	struct mfs_iter *it;
	struct mfs_val v;
	char keys[64] = "";
	int n = 0;

	if (mfs_db_open_mem(&db))
		tap_bail("mem");
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_META, "a\xff", 2, "1", 1);
	mfs_batch_put(b, MFS_CF_META, "b", 1, "2", 1);
	mfs_batch_put(b, MFS_CF_META, "b\x00", 2, "3", 1);
	mfs_batch_put(b, MFS_CF_META, "b\xff\xff", 3, "4", 1);
	mfs_batch_put(b, MFS_CF_META, "c", 1, "5", 1);
	mfs_batch_put(b, MFS_CF_INODES, "b", 1, "x", 1);
	mfs_batch_delete(b, MFS_CF_META, "zz", 2);
	is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "mem: write a batch");
	mfs_batch_free(b);
	it = mfs_iter_new(db, MFS_CF_META, "b", 1);
	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t vl;

		keys[n++] = (char)mfs_iter_value(it, &vl)[0];
	}
	ok(it && !mfs_iter_error(it) && !strcmp(keys, "234"),
	   "mem: a prefix iteration stays within its prefix (%s)", keys);
	mfs_iter_free(it);

	/* A snapshot, and a value that outlives its key. */
	it = mfs_iter_new(db, MFS_CF_META, NULL, 0);
	is_int(mfs_db_get(db, MFS_CF_META, "c", 1, &v, 0), 0, "mem: get");
	b = mfs_batch_new(db);
	mfs_batch_delete(b, MFS_CF_META, "c", 1);
	mfs_batch_put(b, MFS_CF_META, "d", 1, "6", 1);
	is_int(mfs_db_write(db, b, MFS_WRITE_ASYNC), 0, "mem: delete and put");
	mfs_batch_free(b);
	ok(v.len == 1 && v.p[0] == '5', "mem: a value read stays valid after its key is deleted");
	mfs_val_release(&v);
	n = 0;
	for (; mfs_iter_valid(it); mfs_iter_next(it))
		n++;
	is_int(n, 5, "mem: an iterator sees the store as it was when created");
	mfs_iter_free(it);
	is_int(mfs_db_exists(db, MFS_CF_META, "c", 1), 0, "mem: the deleted key is gone");
	is_int(mfs_db_exists(db, MFS_CF_INODES, "b", 1), 1, "mem: column families are apart");

	/* Through the injector: a failed batch leaves nothing; an iterator reports its error. */
	/*
	 * The front's bounds: a prefix longer than its stack buffer, and an
	 * all-0xff prefix, which has no upper bound and needs none.
	 */
	{
		uint8_t k[101];

		b = mfs_batch_new(db);
		memset(k, 0x41, sizeof(k));
		mfs_batch_put(b, MFS_CF_DIRENTS, k, 100, "in", 2);
		mfs_batch_put(b, MFS_CF_DIRENTS, k, 101, "in", 2);
		k[99] = 0x42;
		mfs_batch_put(b, MFS_CF_DIRENTS, k, 100, "out", 3);
		memset(k, 0xff, sizeof(k));
		mfs_batch_put(b, MFS_CF_DIRENTS, k, 2, "in", 2);
		mfs_batch_put(b, MFS_CF_DIRENTS, k, 3, "in", 2);
		/* NOWAL: not to make the earlier ASYNC write durable (below). */
		mfs_db_write(db, b, MFS_WRITE_NOWAL);
		mfs_batch_free(b);
		n = 0;
		memset(k, 0x41, sizeof(k));
		it = mfs_iter_new(db, MFS_CF_DIRENTS, k, 100);
		for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
			size_t vl;

			n += mfs_iter_value(it, &vl)[0] == 'i' ? 1 : 100;
		}
		is_int(n, 2, "front: a 100-byte prefix keeps its bound");
		mfs_iter_free(it);
		n = 0;
		memset(k, 0xff, sizeof(k));
		it = mfs_iter_new(db, MFS_CF_DIRENTS, k, 2);
		for (; it && mfs_iter_valid(it); mfs_iter_next(it))
			n++;
		is_int(n, 2, "front: an all-0xff prefix iterates to the end");
		mfs_iter_free(it);
	}

	/* What a power loss keeps: synced writes, earlier WAL writes, flushed CFs. */
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_INODES, "async", 5, "", 0);
	mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	/* A NOWAL batch larger than MFS_DB_SMALL_NOWAL bypasses the WAL. */
	big = calloc(1, MFS_DB_SMALL_NOWAL);
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_CHUNKS, "nowal", 5, big, MFS_DB_SMALL_NOWAL);
	mfs_batch_put(b, MFS_CF_INODES, "nowal", 5, "", 0);
	mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	free(big);
	mfs_db_flush(db, MFS_CF_CHUNKS);
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_INODES, "lost", 4, "", 0);
	mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	is_int(mfs_db_mem_power_loss(db), 0, "mem: power loss");
	ok(mfs_db_exists(db, MFS_CF_META, "d", 1) == 0 && mfs_db_exists(db, MFS_CF_META, "b", 1) == 1,
	   "mem: an unsynced write is lost, a synced one kept");
	ok(mfs_db_exists(db, MFS_CF_CHUNKS, "nowal", 5) == 1 &&
	   mfs_db_exists(db, MFS_CF_INODES, "nowal", 5) == 0,
	   "mem: a flush keeps the NOWAL writes of its column family only");
	ok(mfs_db_exists(db, MFS_CF_INODES, "async", 5) == 0 &&
	   mfs_db_exists(db, MFS_CF_INODES, "lost", 4) == 0, "mem: unsynced WAL writes are lost");
	/* A small NOWAL batch goes through the WAL: no flush is needed (and
	 * none runs: nothing bypassed the WAL since the last), a sync keeps it. */
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_CHUNKS, "small", 5, "", 0);
	mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	mfs_db_flush(db, MFS_CF_CHUNKS);
	mfs_db_mem_power_loss(db);
	ok(mfs_db_exists(db, MFS_CF_CHUNKS, "small", 5) == 0,
	   "mem: a small NOWAL write is a WAL write: lost unsynced");
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_CHUNKS, "small", 5, "", 0);
	mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	is_int(mfs_db_sync(db), 0, "mem: sync");
	mfs_db_mem_power_loss(db);
	ok(mfs_db_exists(db, MFS_CF_CHUNKS, "small", 5) == 1,
	   "mem: a small NOWAL write goes through the WAL: a sync keeps it");
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_META, "d", 1, "6", 1);
	mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	b = mfs_batch_new(db);
	mfs_batch_put(b, MFS_CF_META, "e", 1, "", 0);
	mfs_db_write(db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);
	mfs_db_mem_power_loss(db);
	ok(mfs_db_exists(db, MFS_CF_META, "d", 1) == 1,
	   "mem: a synced write makes the earlier WAL writes durable");
	b = mfs_batch_new(db);
	mfs_batch_delete(b, MFS_CF_META, "e", 1);
	mfs_db_write(db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);

	mfs_db_fault_wrap(db, NULL, MFS_FAULT_OWN, &fdb);
	b = mfs_batch_new(fdb);
	mfs_batch_put(b, MFS_CF_META, "e", 1, "7", 1);
	arm(&(struct stack){ .db = fdb }, 1, MFS_FAULT_ENOSPC);
	is_int(mfs_db_write(fdb, b, MFS_WRITE_SYNC), -ENOSPC, "fault: write fails with ENOSPC");
	is_int(mfs_db_exists(fdb, MFS_CF_META, "e", 1), 0, "fault: ... and its batch did not land");
	is_int(mfs_db_write(fdb, b, MFS_WRITE_SYNC), 0, "fault: a fault fires once");
	mfs_batch_free(b);
	arm(&(struct stack){ .db = fdb }, 1, MFS_FAULT_EIO);
	it = mfs_iter_new(fdb, MFS_CF_META, "b", 1);
	ok(it && !mfs_iter_valid(it) && mfs_iter_error(it) == -EIO,
	   "fault: a failed iteration ends at once and says why");
	mfs_iter_free(it);
	arm(&(struct stack){ .db = fdb }, 1, MFS_FAULT_ENOMEM);
	ok(!mfs_iter_new(fdb, MFS_CF_META, "b", 1),
	   "fault: an iterator that cannot get memory is NULL, not an unbounded one");
	arm(&(struct stack){ .db = fdb }, 1, MFS_FAULT_CRASH);
	b = mfs_batch_new(fdb);
	mfs_batch_put(b, MFS_CF_META, "f", 1, "8", 1);
	ok(mfs_db_write(fdb, b, MFS_WRITE_SYNC) == -EIO && mfs_db_write(fdb, b, MFS_WRITE_ASYNC) == -EIO &&
	   mfs_db_exists(fdb, MFS_CF_META, "e", 1) == 1,
	   "fault: after a crash every write fails, reads work");
	mfs_batch_free(b);
	mfs_db_close(fdb);
}

int main(void)
{
	uint64_t pc, pr = 0, pa, pg, pd, pv;
	const char *env = getenv("MFS_FAULT_ROCKS");

	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	unsetenv("MODELFS_FAULT");
	test_spec();
	test_mem();
	make_files(1);
	pc = run_commit(0, "commit (mem)", kinds, sizeof(kinds) / sizeof(*kinds));
	/* RocksDB: the crash only (EIO and ENOSPC fail the same calls the same way). */
	if (!env || strcmp(env, "0"))
		pr = run_commit(1, "commit (rocksdb)", &kinds[2], 1);
	make_files(0);
	/* The new file small: its commit is the publish's one batch. */
	pc += run_commit(0, "commit small (mem)", kinds, sizeof(kinds) / sizeof(*kinds));
	pa = run_apply();
	pg = run_gc();
	pd = run_read();
	pv = run_recovery();
	printf("# fault points covered (one run per store call per kind of fault): commit %llu "
	       "over mem + %llu over RocksDB, apply %llu, gc %llu, read %llu, recovery %llu\n",
	       (unsigned long long)pc, (unsigned long long)pr, (unsigned long long)pa,
	       (unsigned long long)pg, (unsigned long long)pd, (unsigned long long)pv);
	ok(failures == 0, "%d failed checks in all", failures);
	free(OLD);
	free(NEW1);
	free(NEW2);
	free(G);
	return done_testing();
}
