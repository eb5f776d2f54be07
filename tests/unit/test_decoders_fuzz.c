/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzing of every decoder of stored or received bytes: inode records,
 * manifests, chunk index entries, chunk records, gc marks, namespace ops
 * (store/ns/oplog.h), namespace snapshot images (store/ns/ns_snap.c), the
 * peer wire messages (replica/wire.h) and the model file headers the
 * chunker reads (store/chunk/tensors.h: safetensors, GGUF).  In make
 * check, mutated real ops are also applied to a store with mfs_ns_apply,
 * which must refuse them or leave a store that still reads.
 *
 * Built two ways.  As a unit test (make check) it mutates valid encodings
 * deterministically (bit flips, byte overwrites, truncations, extensions,
 * random bytes) for a fixed number of rounds; under --enable-sanitizers an
 * out-of-bounds read fails the run.  With clang and -DMFS_LIBFUZZER
 * -fsanitize=fuzzer it is a libFuzzer target (store sources compiled in, so
 * they are instrumented too): `make fuzz [FUZZ_SECONDS=600]` builds it as
 * tests/fuzz-decoders and runs it on the corpus in tests/fuzz-corpus.
 * Properties checked: no crash; a decoder that accepts its input returns a
 * consistent result (a chunk decodes to exactly raw_len bytes; a manifest's
 * lengths add up to its size; an op's entries and the wire iterator's ops
 * lie inside the input; a model header's tensors are sorted, apart, with
 * names inside the input, and its cut plan strictly increasing).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replica/wire.h"
#include "store/base/errors.h"
#include "store/base/hash.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/manifest.h"
#include "store/chunk/planes.h"
#include "store/chunk/tensors.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "store/ns/inode.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"
#include "store/ns/oplog.h"
#include "store/ns/rev.h"
#include "model_files.h"
#include "tap.h"

static struct mfs_codec_ctx *ctx;
static uint8_t *out;
static long accepted, rejected, inconsistent, part_reads;

static int inside(const uint8_t *p, size_t n, const uint8_t *q, size_t qn)
{
	return qn == 0 || (q && q >= p && qn <= n && q <= p + n - qn);
}

/* Snapshot transfer: SNAP, SNAPDATA, and the image they carry. */
static void decode_snapshot(const uint8_t *p, size_t n)
{
	struct mfs_wire_snapdata d;
	struct mfs_snap_info info;
	uint64_t id, off;

	if (mfs_wire_snapreq_decode(p, n, &id, &off) == 0)
		inconsistent += n != MFS_WIRE_SNAP_REQ_LEN || (id == 0 && off);
	if (mfs_wire_snapdata_decode(p, n, &d) == 0)
		inconsistent += d.status == MFS_SNAP_OK ?
			!inside(p, n, d.data, d.len) || d.len == 0 || d.offset + d.len > d.total ||
			d.len > MFS_WIRE_SNAP_CHUNK : d.len != 0;
	if (mfs_ns_snap_check(p, n, &info) == 0)
		inconsistent += info.records > n / 8 || info.nvv > MFS_NS_MAX_ORIGINS;
}

/* The decoders of what peers send: namespace ops and wire messages. */
static void decode_replication(const uint8_t *p, size_t n)
{
	static struct mfs_wire_vv vv;
	struct mfs_op op;
	struct mfs_wire_header h;
	struct mfs_wire_ops it;
	struct mfs_hash hash;
	uint32_t raw;
	uint8_t flags, reason;

	if (mfs_op_decode(p, n, &op) == 0) {
		for (uint32_t i = 0; i < op.n; i++)
			inconsistent += !inside(p, n, op.e[i].key, op.e[i].klen) ||
					!inside(p, n, op.e[i].val, op.e[i].vlen);
		mfs_op_free_entries(&op);
	}
	if (mfs_wire_header_decode(p, n, &h) == 0)
		inconsistent += h.type == 0 || h.type > MFS_MSG_TYPE_MAX || h.node == 0 || h.space == 0;
	if (mfs_wire_pull_decode(p, n, &vv) == 0)
		inconsistent += vv.n > MFS_WIRE_MAX_VV || n != 2 + (size_t)vv.n * 16;
	if (mfs_wire_ops_decode(p, n, &it) == 0) {
		mfs_node_t origin;
		uint64_t seq;
		const uint8_t *opp;
		size_t len;
		uint32_t count = 0;
		int rc;

		while ((rc = mfs_wire_ops_next(&it, &origin, &seq, &opp, &len)) == 1) {
			inconsistent += !inside(p, n, opp, len) || len == 0;
			count++;
		}
		inconsistent += rc == 0 && count != it.count;
	}
	if (mfs_wire_get_decode(p, n, &hash, &raw, &flags) == 0)
		inconsistent += n != MFS_WIRE_GET_LEN || raw == 0;
	{
		static struct mfs_copy_query q[MFS_WIRE_MAX_CHECK];
		const uint8_t *states;
		uint16_t count;

		if (mfs_wire_check_decode(p, n, &flags, q, &count) == 0)
			inconsistent += count == 0 || count > MFS_WIRE_MAX_CHECK ||
					n != 3 + (size_t)count * MFS_WIRE_CHECK_ITEM_LEN ||
					q[count - 1].raw_len == 0 || q[count - 1].repl == 0;
		if (n >= 2 && mfs_wire_have_decode(p, n, get_le16(p), &states) == 0)
			inconsistent += states != p + 2 || n != 2 + (size_t)get_le16(p);
	}
	(void)mfs_wire_hash_decode(p, n, &hash, NULL);
	(void)mfs_wire_hash_decode(p, n, &hash, &reason);
	decode_snapshot(p, n);
	{
		char ep[MFS_WIRE_ENDPOINT_MAX + 1];
		struct mfs_member m;

		if (mfs_wire_hello_decode(p, n, ep) == 0)
			inconsistent += strlen(ep) != n - 1;
		if (mfs_member_decode(7, p, n, &m) == 0)
			inconsistent += m.id != 7 || m.state >= MFS_MEMBER_STATES || !m.endpoint[0] ||
					(m.key[0] && strlen(m.key) != MFS_MEMBER_KEY_LEN);
	}
}

/*
 * The group checksums of a split record r[0..n) with them (format 7) made
 * good where its table can be walked, then its checksum (mfs_chunk_seal:
 * of the head, or of all of it): the mutations reach the decoders behind.
 */
static void fix_sums(uint8_t *r, size_t n, const struct mfs_chunk_info *info)
{
	uint8_t *p = r + MFS_CHUNK_HDR_SIZE;
	size_t plen = n - MFS_CHUNK_HDR_SIZE, w = info->codec == MFS_CODEC_SPLIT2 ? 2 : 4;
	size_t m = info->raw_len / w, per, ng, pos;

	if ((info->codec == MFS_CODEC_SPLIT2 || info->codec == MFS_CODEC_SPLIT4) && plen >= 2 &&
	    p[1] == 1 && p[0] >= 10 && p[0] <= 20) {
		per = (size_t)1 << p[0];
		ng = (m + per - 1) / per;
		pos = 2 + ng * w * 4 + ng * 8 + info->raw_len % w; /* the table, the sums, the tail */
		for (size_t g = 0; g < ng && pos <= plen; g++) {
			size_t gb = 0;

			for (size_t k = 0; k < w; k++)
				gb += get_le32(p + 2 + 4 * (g * w + k)) & 0x3fffffffu;
			if (gb > plen - pos)
				break;
			put_le64(p + 2 + ng * w * 4 + 8 * g, mfs_xxh64(p + pos, gb, 0));
			pos += gb;
		}
	}
	mfs_chunk_seal(r, info->codec, info->raw_len, plen);
}

/*
 * The record with its checksums made good, so that the partial decoders
 * (a page fault's path: split groups; read from part of the record) see
 * the mutations too.  A part read that decodes gives the bytes the whole
 * record's range decode gives.
 */
static void decode_ranges(const uint8_t *p, size_t n, const struct mfs_chunk_info *info)
{
	static uint8_t *fixed, *part;
	static size_t cap;
	size_t len = info->raw_len;

	if (n > cap) {
		free(fixed);
		free(part);
		cap = n;
		fixed = malloc(cap);
		part = malloc(MFS_CHUNK_MAX);
		if (!fixed || !part) {
			cap = 0;
			return;
		}
	}
	memcpy(fixed, p, n);
	fix_sums(fixed, n, info);
	for (int i = 0; i < 3; i++) {
		size_t off = i * (len / 3), l = len - off < 4096 ? len - off : 4096, from, to;
		ssize_t got = mfs_chunk_decode_range(ctx, fixed, n, off, out, l), pgot;
		int rc = mfs_chunk_part_plan(fixed, n < 4096 ? n : 4096, n, off, l, &from, &to);

		if (got >= 0)
			inconsistent += (size_t)got != l;
		if (rc == -ENOBUFS)
			inconsistent += to <= 4096 || to > n;
		if (rc && rc != -ENOBUFS)
			continue;
		if (!rc)
			inconsistent += from > to || to > n;
		pgot = mfs_chunk_decode_part(ctx, fixed, n, off, part, l);
		/* The whole check may fail where the part's passes: a group it does not read. */
		if (pgot >= 0) {
			part_reads++;
			inconsistent += (size_t)pgot != l || (got >= 0 && memcmp(out, part, l));
		}
	}
}

/*
 * A split record opened plane by plane, as a delta's whole read decodes it
 * and its base (store/chunk/delta.c): every plane lies in the record or in
 * the scratch, and when the one-pass decoder accepts the record too, the
 * planes joined are its bytes.
 */
static void decode_planes(const uint8_t *p, size_t n)
{
	static uint32_t gpos[MFS_CHUNK_MAX / 1024 + 2];
	static uint8_t *scratch, *joined;
	struct mfs_chunk_planes v;
	size_t per;
	ssize_t got;

	if ((!scratch && !(scratch = malloc(MFS_CHUNK_MAX))) ||
	    (!joined && !(joined = malloc(MFS_CHUNK_MAX))))
		return;
	if (mfs_chunk_planes(p, n, gpos, sizeof(gpos) / sizeof(gpos[0]), &v))
		return;
	per = (size_t)1 << v.shift;
	inconsistent += !inside(p, n, v.tail, v.t) || v.m * v.w + v.t > MFS_CHUNK_MAX;
	for (size_t g = 0; g < v.ng; g++) {
		size_t words = v.m - g * per < per ? v.m - g * per : per;
		const uint8_t *pl[4];

		if (mfs_chunk_planes_group(ctx, &v, g, scratch, pl))
			return;
		for (unsigned k = 0; k < v.w; k++)
			inconsistent += !inside(p, n, pl[k], words) &&
					!inside(scratch, MFS_CHUNK_MAX, pl[k], words);
		mfs_planes_gather(pl, words, joined + g * per * v.w, v.w);
	}
	memcpy(joined + v.m * v.w, v.tail, v.t);
	got = mfs_chunk_decode_unchecked(ctx, p, n, out, MFS_CHUNK_MAX);
	if (got >= 0)
		inconsistent += (size_t)got != v.m * v.w + v.t || memcmp(out, joined, (size_t)got);
}

/* A model header, as the chunker reads it from a file's first bytes. */
static void decode_tensors(const uint8_t *p, size_t n)
{
	struct mfs_tensors t;
	struct mfs_cutplan plan;

	if (mfs_tensors_parse(p, n, &t))
		return;
	for (uint32_t i = 0; i < t.n; i++) {
		const struct mfs_tensor *x = &t.v[i];

		inconsistent += x->start < t.data_start || x->end < x->start || x->end > t.data_end ||
				(i && x->start < t.v[i - 1].end) ||
				!inside(p, n, p + x->name_off, x->name_len);
	}
	if (mfs_cutplan_build(&t, &plan) == 0) {
		for (size_t i = 1; i < plan.n; i++)
			inconsistent += plan.b[i] <= plan.b[i - 1];
		inconsistent += plan.n > (size_t)t.n + 2;
		mfs_cutplan_release(&plan);
	}
	mfs_tensors_release(&t);
}

/* Feeds one input to every decoder. */
static void decode_all(const uint8_t *p, size_t n)
{
	struct mfs_inode in;
	struct mfs_manifest *m;
	struct mfs_chunk_summary sum;
	struct mfs_chunk_info info;
	ssize_t got;

	if (mfs_inode_decode(42, p, n, &in) == 0) {
		accepted++;
		mfs_inode_release(&in);
	} else {
		rejected++;
	}
	if (mfs_manifest_decode(p, n, &m) == 0) {
		uint64_t total = 0;

		for (uint32_t i = 0; i < m->count; i++)
			total += m->e[i].len;
		inconsistent += total != m->size;
		mfs_manifest_unref(m);
	}
	(void)mfs_chunk_summary_decode(p, n, &sum);
	(void)mfs_rev_check(p, n);
	{
		static struct mfs_gc_mark mark;

		if (mfs_gc_mark_decode(p, n, &mark) == 0)
			inconsistent += mark.n < 0 || mark.n > MFS_GC_MAX_VV ||
					n != 12 + 16 * (size_t)mark.n;
	}
	if (mfs_chunk_peek(p, n, &info) == 0) {
		got = mfs_chunk_decode(ctx, p, n, out, MFS_CHUNK_MAX);
		if (got >= 0)
			inconsistent += (size_t)got != info.raw_len;
		/* A peer's record: no checksum stops a mutation before the decoders. */
		got = mfs_chunk_decode_unchecked(ctx, p, n, out, MFS_CHUNK_MAX);
		if (got >= 0)
			inconsistent += (size_t)got != info.raw_len;
		/* And hashed as it decodes (a peer's copy not kept in the store, fetch.c). */
		{
			struct mfs_hash sha, again;

			got = mfs_chunk_decode_sha_unchecked(ctx, p, n, out, MFS_CHUNK_MAX, &sha);
			if (got >= 0)
				inconsistent += (size_t)got != info.raw_len ||
						mfs_sha256(out, (size_t)got, &again) ||
						memcmp(sha.b, again.b, MFS_HASH_LEN);
		}
		decode_ranges(p, n, &info);
		decode_planes(p, n);
	}
	decode_replication(p, n);
	decode_tensors(p, n);
}

#ifdef MFS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx) {
		ctx = mfs_codec_ctx_new();
		out = malloc(MFS_CHUNK_MAX);
	}
	decode_all(data, size);
	if (inconsistent)
		abort();
	return 0;
}
#else

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mutates seed[0..n) into buf; returns the new length (<= cap). */
static size_t mutate(const uint8_t *seed, size_t n, uint8_t *buf, size_t cap)
{
	size_t len = n < cap ? n : cap;

	memcpy(buf, seed, len);
	switch (next() % 5) {
	case 0: /* a few bit flips */
		for (int k = 1 + next() % 4; k-- && len;)
			buf[next() % len] ^= 1u << (next() % 8);
		break;
	case 1: /* overwrite a byte with an edge value */
		if (len)
			buf[next() % len] = (uint8_t[]){ 0, 1, 0x7f, 0x80, 0xff }[next() % 5];
		break;
	case 2: /* truncate */
		len = len ? next() % len : 0;
		break;
	case 3: /* extend with garbage */
		while (len < cap && next() % 8)
			buf[len++] = (uint8_t)next();
		break;
	default: /* random bytes of the same length */
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)next();
	}
	return len;
}

static void fuzz_seed(const char *what, const uint8_t *seed, size_t n, int rounds)
{
	size_t cap = n + 64;
	uint8_t *buf = malloc(cap);
	long before = inconsistent;

	decode_all(seed, n);
	for (int r = 0; r < rounds; r++)
		decode_all(buf, mutate(seed, n, buf, cap));
	is_int(inconsistent - before, 0, "%s: %d mutations decoded or refused cleanly", what, rounds);
	free(buf);
}

/* Real ops, logged by a scratch store: seeds, and input for fuzz_apply. */
struct ops {
	uint8_t *op[16];
	size_t len[16];
	int n;
	struct mfs_wr image;     /* a snapshot of the store the ops were made on */
};

static int keep_op(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len)
{
	struct ops *o = arg;

	(void)origin;
	(void)seq;
	if (o->n == 16)
		return 1;
	if (!(o->op[o->n] = malloc(len)))
		tap_bail("oom");
	memcpy(o->op[o->n], op, len);
	o->len[o->n++] = len;
	return 0;
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		tap_bail("rm -rf %s", dir);
}

/* Every kind of op a node logs: create, publish with a manifest, setattr, rename, rewrite, remove. */
static void real_ops(struct ops *o)
{
	char dir[] = "/tmp/mfs-fuzz-XXXXXX";
	struct mfs_ns_new nd = { .mode = S_IFDIR | 0755 }, nf = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_ns_new nl = { .mode = S_IFLNK | 0777, .symlink = "x" };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_inode d, f, x = { 0 };
	struct mfs_batch *b;
	struct mfs_hash id, h;
	struct mfs_db *db;
	struct mfs_ns *ns;

	if (!mkdtemp(dir) || mfs_store_open(dir, &db) || mfs_ns_open(db, &ns) || !(b = mfs_batch_new(db)))
		tap_bail("scratch store");
	memset(h.b, 3, sizeof(h.b));
	mfs_manifest_append(m, &h, 4096);
	mfs_manifest_append_hole(m, 1u << 20); /* the op carries a manifest version 2 */
	mfs_manifest_append(m, &h, 100);
	if (mfs_manifest_stage(b, m, &id) || mfs_db_write(db, b, MFS_WRITE_SYNC) ||
	    mfs_ns_create(ns, MFS_ROOT_INO, "d", &nd, &d) || mfs_ns_create(ns, d.ino, "f", &nf, &f))
		tap_bail("scratch ops");
	mfs_inode_release(&f);
	mfs_ns_lookup(ns, d.ino, "f", &f);
	if (mfs_ns_publish(ns, f.ino, &id, m->size, NULL, NULL, &x))
		tap_bail("publish");
	mfs_inode_release(&x);
	mfs_inode_xattr_set(&x, "user.k", "value", 5);
	x.repl = 2;
	mfs_ns_setattr(ns, d.ino, &x, MFS_ATTR_XATTR | MFS_ATTR_REPL, NULL);
	mfs_inode_release(&x);
	mfs_ns_create(ns, d.ino, "l", &nl, &x);
	mfs_inode_release(&x);
	mfs_ns_rename(ns, d.ino, "f", MFS_ROOT_INO, "g", 0, NULL);
	/* A rewrite: the image's tombstone of f's inode carries its kept bytes. */
	if (mfs_ns_publish(ns, f.ino, &id, m->size, NULL, NULL, &x))
		tap_bail("rewrite");
	mfs_inode_release(&x);
	mfs_ns_remove(ns, d.ino, "l", 0, NULL);
	if (mfs_ns_rev_create(ns, MFS_ROOT_INO, "rev", NULL))
		tap_bail("revision of the scratch store");
	mfs_ns_ops_since(ns, mfs_ns_node_id(ns), 0, keep_op, o);
	if (mfs_ns_snap_build(ns, &o->image, NULL))
		tap_bail("snapshot of the scratch store");
	mfs_inode_release(&d);
	mfs_inode_release(&f);
	mfs_batch_free(b);
	mfs_manifest_unref(m);
	mfs_ns_close(ns);
	mfs_db_close(db);
	rm_rf(dir);
}

static int count_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	(void)name;
	(void)ino;
	(void)mode;
	(*(int *)arg)++;
	return 0;
}

/* A store that still reads: the root, and every record its root lists. */
static int store_reads(struct mfs_ns *ns)
{
	struct mfs_inode in;
	int n = 0;

	if (mfs_ns_get(ns, MFS_ROOT_INO, &in))
		return 0;
	mfs_inode_release(&in);
	if (mfs_ns_readdir(ns, MFS_ROOT_INO, NULL, 0, count_entry, &n))
		return 0;
	free(mfs_ns_path(ns, MFS_ROOT_INO));
	/* Revisions applied (store/ns/rev.h): listed, and each one's top read. */
	if (mfs_ns_readdir(ns, MFS_REVS_INO, NULL, 0, count_entry, &n))
		return 0;
	if (!mfs_ns_lookup(ns, MFS_REVS_INO, "rev", &in)) {
		int rc = mfs_ns_readdir(ns, in.ino, NULL, 0, count_entry, &n);

		mfs_inode_release(&in);
		if (rc)
			return 0;
	}
	return 1;
}

/*
 * Mutations of real ops applied, in sequence, to a scratch store as another
 * node's: each is refused (MFS_EFORMAT) or applied, and the store still reads.
 */
static void fuzz_apply(const struct ops *o, int rounds)
{
	char dir[] = "/tmp/mfs-fuzz-XXXXXX";
	size_t cap = 0;
	uint8_t *buf;
	struct mfs_db *db;
	struct mfs_ns *ns;
	mfs_node_t origin = 0x7777;
	uint64_t seq = 1;
	long applied = 0, refused = 0, other = 0, unreadable = 0;

	for (int i = 0; i < o->n; i++)
		cap = o->len[i] > cap ? o->len[i] : cap;
	cap += 64;
	if (!(buf = malloc(cap)) || !mkdtemp(dir) || mfs_store_open(dir, &db) || mfs_ns_open(db, &ns))
		tap_bail("fuzz_apply store");
	if (mfs_ns_node_id(ns) == origin)
		origin++;
	for (int r = 0; r < rounds; r++) {
		int i = (int)(next() % (uint64_t)o->n), rc;
		size_t len = mutate(o->op[i], o->len[i], buf, cap);

		rc = mfs_ns_apply(ns, origin, seq, buf, len, NULL, NULL);
		if (rc == 0) {
			applied++;
			seq++;
			unreadable += !store_reads(ns);
		} else if (rc == MFS_EFORMAT) {
			refused++;
		} else {
			other++;
		}
	}
	/* And the unmutated ops, in order, after all that. */
	for (int i = 0; i < o->n; i++)
		other += mfs_ns_apply(ns, origin, seq++, o->op[i], o->len[i], NULL, NULL) != 0;
	unreadable += !store_reads(ns);
	printf("# mfs_ns_apply: %ld mutated ops applied, %ld refused\n", applied, refused);
	ok(applied > 0 && refused > 0, "mfs_ns_apply: %d mutated ops applied or refused", rounds);
	is_int(other, 0, "mfs_ns_apply: no error other than MFS_EFORMAT");
	is_int(unreadable, 0, "mfs_ns_apply: the store still reads after every accepted op");
	mfs_ns_close(ns);
	mfs_db_close(db);
	rm_rf(dir);
	free(buf);
}

int main(void)
{
	struct mfs_inode in = { .ino = 42, .parent = 1, .mode = S_IFREG | 0644, .nlink = 1,
				.size = 3000000, .has_manifest = 1 };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_wr w = { 0 };
	uint8_t raw[20000], *rec;
	uint8_t idx[MFS_CHUNK_INDEX_LEN] = { MFS_CHUNK_INDEX_VERSION, 2, 0x20, 0x4e, 0, 0, 0x10, 0x27 };
	ssize_t n;

	ctx = mfs_codec_ctx_new();
	out = malloc(MFS_CHUNK_MAX);
	rec = malloc(mfs_chunk_record_bound(sizeof(raw)));

	in.name = strdup("model.safetensors");
	mfs_inode_xattr_set(&in, "user.a", "value", 5);
	mfs_inode_encode(&in, &w);
	fuzz_seed("inode record", w.buf, w.len, 20000);
	mfs_wr_release(&w);
	mfs_inode_release(&in);

	for (int i = 0; i < 5; i++) {
		struct mfs_hash h;

		memset(h.b, i + 1, sizeof(h.b)); /* all zero would be a hole */
		mfs_manifest_append(m, &h, 600000 + i);
	}
	mfs_manifest_encode(m, &w);
	fuzz_seed("manifest", w.buf, w.len, 20000);
	mfs_wr_release(&w);
	/* Version 2: with holes between the chunks (manifest.h). */
	mfs_manifest_append_hole(m, 3ull << 30);
	mfs_manifest_append(m, &m->e[0].hash, 4096);
	mfs_manifest_append_hole(m, 1);
	mfs_manifest_encode(m, &w);
	fuzz_seed("manifest with holes", w.buf, w.len, 20000);
	mfs_wr_release(&w);
	mfs_manifest_unref(m);

	fuzz_seed("chunk index entry", idx, sizeof(idx), 5000);

	/* Float-like data so that the byte-plane codecs are used. */
	for (size_t i = 0; i < sizeof(raw); i += 2) {
		raw[i] = (uint8_t)next();
		raw[i + 1] = 0x3c + (next() % 4);
	}
	for (int codec = 0; codec < MFS_CODEC_PLAIN_COUNT; codec++) {
		char what[64];

		n = mfs_chunk_encode(ctx, raw, sizeof(raw), rec, mfs_chunk_record_bound(sizeof(raw)), codec);
		if (n < 0)
			tap_bail("encode with codec %d", codec);
		snprintf(what, sizeof(what), "chunk record (%s)", mfs_codec_name(codec));
		fuzz_seed(what, rec, n, 4000);
	}
	/*
	 * A delta's XOR bytes (codec_split.c note 2): a mostly zero high plane,
	 * with a zero run longer than a token, written as a sparse piece.
	 */
	{
		unsigned sp;

		for (size_t i = 0; i < sizeof(raw); i += 2) {
			raw[i] = (uint8_t)next();
			raw[i + 1] = next() % 16 || (i > 6000 && i < 8000) ? 0 : (uint8_t)(1 + next() % 3);
		}
		mfs_codec_set_xor(ctx, 1);
		n = mfs_chunk_encode(ctx, raw, sizeof(raw), rec, mfs_chunk_record_bound(sizeof(raw)),
				     MFS_CODEC_SPLIT2);
		sp = mfs_codec_sparse_pieces(ctx);
		mfs_codec_set_xor(ctx, 0);
		ok(n > 0 && sp == 1, "a split record of XOR bytes holds a sparse piece (%u)", sp);
		if (n > 0)
			fuzz_seed("chunk record (split2, a sparse piece)", rec, n, 8000);
	}
	/* A gc mark: version 2, two vv entries. */
	{
		uint8_t mark[12 + 2 * 16] = { 2, 0, 2, 0 };

		put_le64(mark + 4, 1764400000);
		put_le64(mark + 12, 0x1234);
		put_le64(mark + 20, 17);
		put_le64(mark + 28, 0xbeef0000cafeull);
		put_le64(mark + 36, 3);
		fuzz_seed("gc mark", mark, sizeof(mark), 3000);
	}
	/* Replication: real ops, and wire messages carrying them. */
	{
		struct ops o = { 0 };
		struct mfs_wire_header hd = { .type = MFS_MSG_OPS, .flags = 1, .node = 0x1234, .req = 99 };
		static struct mfs_wire_vv vv = { .n = 3, .origin = { 1, 2, 0xffff }, .seq = { 5, 0, 77 } };
		uint8_t hdr[MFS_WIRE_HEADER_LEN], get[MFS_WIRE_GET_LEN], miss[MFS_HASH_LEN + 1];
		struct mfs_hash h;

		mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
		real_ops(&o);
		ok(o.n >= 6, "a scratch store logged %d ops", o.n);
		for (int i = 0; i < o.n; i++) {
			char what[64];

			snprintf(what, sizeof(what), "namespace op %d (%zu bytes)", i + 1, o.len[i]);
			fuzz_seed(what, o.op[i], o.len[i], 3000);
		}
		mfs_wire_header_encode(&hd, hdr);
		fuzz_seed("wire header", hdr, sizeof(hdr), 3000);
		mfs_wire_pull_encode(&vv, &w);
		fuzz_seed("wire PULL", w.buf, w.len, 3000);
		mfs_wr_release(&w);
		mfs_wire_ops_begin(&w);
		for (int i = 0; i < o.n && i < 3; i++)
			mfs_wire_ops_add(&w, 0x1234, i + 1, o.op[i], o.len[i]);
		mfs_wire_ops_finish(&w, o.n < 3 ? o.n : 3, 1);
		fuzz_seed("wire OPS", w.buf, w.len, 5000);
		mfs_wr_release(&w);
		memset(h.b, 0xab, sizeof(h.b));
		mfs_wire_get_encode(&h, 65536, MFS_GET_PROXY, get);
		fuzz_seed("wire GET", get, sizeof(get), 3000);
		memcpy(miss, h.b, MFS_HASH_LEN);
		miss[MFS_HASH_LEN] = MFS_MISS_CORRUPT;
		fuzz_seed("wire MISS", miss, sizeof(miss), 2000);
		mfs_wire_hello_encode("tcp://127.0.0.2:7070", &w);
		fuzz_seed("wire HELLO", w.buf, w.len, 2000);
		mfs_wr_release(&w);
		{
			struct mfs_member mem = { .id = 7, .state = MFS_MEMBER_ACTIVE, .space = 0x1a2b,
						.endpoint = "tcp://10.0.0.7:7070",
						.key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7" };
			uint8_t mb[MFS_MEMBER_MAX_LEN];
			int ml = mfs_member_encode(&mem, mb);

			ok(ml > 0, "a member record encodes");
			fuzz_seed("member record", mb, (size_t)ml, 2000);
		}
		{
			struct mfs_copy_query q[3] = { { h, 1u << 20, 0x1234, 3 }, { h, 7, 0, 1 },
						       { h, 4u << 20, 0xffff, 16 } };
			uint8_t st[3] = { MFS_COPY_STORED, MFS_COPY_CORRUPT, MFS_COPY_CACHED };

			mfs_wire_check_encode(MFS_COPY_DEEP, q, 3, &w);
			fuzz_seed("wire CHECK", w.buf, w.len, 3000);
			mfs_wr_release(&w);
			mfs_wire_have_encode(st, 3, &w);
			fuzz_seed("wire HAVE", w.buf, w.len, 2000);
			mfs_wr_release(&w);
		}
		{
			struct mfs_wire_snapdata sd = { .status = MFS_SNAP_OK, .id = 77, .total = o.image.len,
							.offset = 0, .data = o.image.buf, .len = o.image.len };
			uint8_t req[MFS_WIRE_SNAP_REQ_LEN];

			fuzz_seed("snapshot image", o.image.buf, o.image.len, 4000);
			mfs_wire_snapreq_encode(77, 4096, req);
			fuzz_seed("wire SNAP", req, sizeof(req), 2000);
			mfs_wire_snapdata_encode(&sd, &w);
			fuzz_seed("wire SNAPDATA", w.buf, w.len, 3000);
			mfs_wr_release(&w);
		}
		fuzz_apply(&o, 4000);
		for (int i = 0; i < o.n; i++)
			free(o.op[i]);
		mfs_wr_release(&o.image);
	}
	/* Model headers over a few bytes of tensor data. */
	{
		static const struct mf_tensor ts[] = { { 64, 1, 0 }, { 34 * 2, 2, 1 }, { 6, 3, 0 }, { 0, 4, 0 } };
		struct mf_buf mb = { 0 };

		mf_safetensors(&mb, ts, 4, 3);
		fuzz_seed("safetensors header", mb.p, mb.len, 6000);
		mf_gguf(&mb, ts, 4, 5);
		fuzz_seed("gguf header", mb.p, mb.len, 6000);
		free(mb.p);
	}
	printf("# %ld inputs accepted by the inode decoder, %ld refused\n", accepted, rejected);
	printf("# %ld ranges decoded from part of a mutated record (group checksums)\n", part_reads);
	free(rec);
	free(out);
	mfs_codec_ctx_free(ctx);
	return done_testing();
}
#endif
