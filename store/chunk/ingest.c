/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest pipeline.  The file is read in windows of WINDOW bytes.  Chunk
 * boundaries are found sequentially (the chunker must see every byte in
 * order), and each chunk is handed to the encoders as soon as it is cut:
 * `threads` - 1 encoder threads, started once per session, hash and encode
 * while the feeding thread cuts the next one, then it joins them (SHA-256
 * and zstd are the slow parts).  The window's chunks are then appended to
 * the manifest and to a RocksDB batch in file order.  The bytes after the
 * window's last certain cut carry over to the next window.
 *
 * Records are encoded into one of two arenas, reused for the whole session:
 * one window's records are written from one while the next window encodes
 * into the other.  A buffer per chunk cost a fresh mapping and its page
 * faults for every MiB ingested (in a virtual machine ~10 us a fault).
 *
 * Durability follows chunkstore.h: records without WAL, one flush, then the
 * index entries and the manifest in one WAL batch.
 *
 * A session (struct mfs_ingest) can be fed the file's first bytes while it
 * is still being written (write-behind, fuse/writebehind.c); its finish
 * does the rest.  mfs_ingest_fd is a session fed all at once.
 *
 * Model files are cut at their tensors' boundaries (chunker.h, tensors.h).
 * Whether a file is one, and its plan, are decided once, from its first
 * bytes, before any cut: the session waits for the whole header (at most
 * MFS_TENSORS_HDR_MAX, less than a window).  Fed bytes never change (or
 * the caller drops the session), so the plan is a function of the file's
 * bytes alone, however and wherever it was written.  The one thing a
 * header cannot say before the file ends is whether its tensors fit: a
 * plan whose data runs past the end makes the finish return -ESTALE, and
 * the ingest from scratch then knows the size and cuts the file plainly.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunker.h"
#include "chunkstore.h"
#include "codec.h"
#include "delta.h"
#include "delta_hint.h"
#include "ingest.h"
#include "ingest_window.h"
#include "manifest.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "tensors.h"

#define LOG_COMPONENT "ingest"

#define WINDOW (32u << 20)
/*
 * A write-behind session's window (mfs_ingest_begin): its buffer and two
 * record arenas are the session's fresh memory, which on issue 10's VM
 * costs more to fault in than to fill (a huge page zeroed per 2 MiB, the
 * balloon having given free ones back to the host).
 */
#define FEED_WINDOW (16u << 20)
/* A small ingest's record (at most a header more than its bytes) stays out of packs. */
_Static_assert(MFS_INGEST_SMALL_MAX + MFS_CHUNK_HDR_SIZE < MFS_CHUNK_PACK_MIN,
	       "mfs_ingest_small must never append to a pack");

/*
 * The records of one window, written by a thread of their own while the
 * next window is read, cut and encoded: the pack appends are synchronous
 * device writes (O_DIRECT), about 1.2 s per GiB here, and the encoders
 * used to wait for them.  One window in flight at a time.  The records
 * live in the window's arena, which is not reused before writer_wait.
 */
struct rec_job {
	struct mfs_hash hash;
	uint8_t *rec;
	size_t len;
};

struct writer {
	struct mfs_db *db;
	struct rec_job *v;
	unsigned n;
	int rc;
	int running;
	int inline_only;        /* one window in all: nothing to overlap, no thread */
	struct mfs_batch *into; /* not NULL: records staged here, not written (inline only) */
	struct mfs_wr *mrec;    /* with into: gets the manifest record's bytes */
	pthread_t tid;
};

static void *write_records(void *arg)
{
	struct writer *wr = arg;
	struct mfs_batch *b = wr->into ? wr->into : mfs_batch_new(wr->db);

	if (!b) {
		wr->rc = -ENOMEM;
	} else {
		for (unsigned i = 0; i < wr->n; i++)
			mfs_chunk_stage_record(b, &wr->v[i].hash, wr->v[i].rec, wr->v[i].len);
		/* With into, the caller's publish writes them, in its one WAL append. */
		if (!wr->into) {
			/* Even when every record went to a pack: the write says if an append failed. */
			wr->rc = mfs_db_write(wr->db, b, MFS_WRITE_NOWAL);
			mfs_batch_free(b);
		}
	}
	free(wr->v);
	wr->v = NULL;
	wr->n = 0;
	return NULL;
}

static void *write_records_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "mfs-records"); /* for perf and top -H */
	return write_records(arg);
}

/* Waits for the window in flight; its result. */
static int writer_wait(struct writer *wr)
{
	if (wr->running) {
		pthread_join(wr->tid, NULL);
		wr->running = 0;
	}
	return wr->rc;
}

/* Starts writing v[0..n) (taking v); inline if no thread starts. */
static void writer_start(struct writer *wr, struct rec_job *v, unsigned n)
{
	wr->v = v;
	wr->n = n;
	if (!n) {
		free(v);
		wr->v = NULL;
		return;
	}
	/*
	 * A session of one window (every small file) has no next window to
	 * overlap: a thread per file cost a clone and a join per commit.
	 */
	if (wr->inline_only || pthread_create(&wr->tid, NULL, write_records_thread, wr))
		write_records(wr);
	else
		wr->running = 1;
}

/*
 * Appends the window's chunks to m, in file order, and hands the new
 * records to the writer (no WAL), after the previous window's are written.
 */
static int commit_window(struct window *w, struct mfs_manifest *m, struct new_list *fresh,
			 struct mfs_ingest_stats *st, struct writer *wr, uint64_t *found)
{
	struct rec_job *v = calloc(w->count ? w->count : 1, sizeof(*v));
	unsigned n = 0;
	int rc = v ? 0 : -ENOMEM;

	for (unsigned i = 0; i < w->count && !rc; i++) {
		struct pending_chunk *c = &w->chunks[i];

		if ((rc = c->rc))
			break;
		if (c->hole) {
			if ((rc = mfs_manifest_append_hole(m, c->len)))
				break;
			st->holes += c->len;
			continue;
		}
		/* Stored before this ingest: gc may take it until the commit's check. */
		if (c->exists && *found == UINT64_MAX && !mfs_new_list_has(fresh, &c->hash))
			*found = m->size;
		if ((rc = mfs_manifest_append(m, &c->hash, c->len)))
			break;
		st->chunks++;
		/* Also a repeat of a chunk earlier in this window. */
		if (c->exists || mfs_new_list_has(fresh, &c->hash))
			continue;
		if ((rc = mfs_new_list_add(fresh, c)))
			break;
		v[n++] = (struct rec_job){ c->hash, c->rec, c->rec_len };
		st->new_chunks++;
		st->new_stored += c->rec_len;
	}
	if (!rc)
		rc = writer_wait(wr);
	if (rc) {
		free(v);
		return rc;
	}
	writer_start(wr, v, n);
	return 0;
}

/*
 * Records durable first, then their index entries and the manifest (none
 * when m is NULL: an abandoned ingest whose chunks stay for reuse or gc).
 * With into, the index entries and the manifest join the records staged
 * there, for the caller to write in the same batch: durable together.
 */
static int finish(struct mfs_db *db, struct mfs_manifest *m, const struct new_list *fresh,
		  size_t from, const struct writer *into, int deferred, struct mfs_hash *id,
		  const struct mfs_hash *hint)
{
	struct mfs_batch *b = into ? into->into : NULL;
	int rc;

	if (!into && fresh->n > from && (rc = mfs_db_flush(db, MFS_CF_CHUNKS)))
		return rc;
	if (!b && !(b = mfs_batch_new(db)))
		return -ENOMEM;
	for (size_t i = from; i < fresh->n; i++) {
		const struct new_chunk *c = &fresh->v[i];

		if (c->nbases)
			mfs_chunk_stage_index_bases(b, &c->hash, &c->info, c->record_len,
						    fresh->bases + c->base_at, c->nbases);
		else
			mfs_chunk_stage_index(b, &c->hash, &c->info, c->record_len);
		/*
		 * Raw records of a deferred session: queued in the batch of
		 * their index entries, so no raw chunk is indexed without its
		 * entry.  An incompressible one is queued too; the pass drops it.
		 */
		if (deferred && c->info.codec == MFS_CODEC_RAW && c->record_len >= MFS_CHUNK_PACK_MIN)
			mfs_chunk_stage_recode(b, &c->hash);
	}
	if (!m)
		rc = 0;
	else if (into)
		rc = mfs_manifest_stage_keep(b, m, id, into->mrec);
	else
		rc = mfs_manifest_stage(b, m, id);
	if (!rc && m && hint)
		mfs_delta_hint_stage(b, hint, id);
	if (into)
		return rc;
	if (!rc && mfs_batch_count(b))
		rc = mfs_db_write(db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	return rc;
}

/*
 * Codec contexts of ended sessions, kept for the next ones: a context is
 * two zstd contexts and two buffers, and a small file's commit made and
 * freed one per file (issue 10: ZSTD_createDCtx alone was 1.6% of the
 * daemon's CPU in the small-files run).  At most CTX_POOL are kept.
 */
#define CTX_POOL 4
static struct mfs_codec_ctx *ctx_pool[CTX_POOL];
static unsigned ctx_pooled;
static pthread_mutex_t ctx_pool_lock = PTHREAD_MUTEX_INITIALIZER;

static struct mfs_codec_ctx *ctx_get(void)
{
	struct mfs_codec_ctx *c = NULL;

	pthread_mutex_lock(&ctx_pool_lock);
	if (ctx_pooled)
		c = ctx_pool[--ctx_pooled];
	pthread_mutex_unlock(&ctx_pool_lock);
	return c ? c : mfs_codec_ctx_new();
}

static void ctx_put(struct mfs_codec_ctx *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&ctx_pool_lock);
	if (ctx_pooled < CTX_POOL) {
		ctx_pool[ctx_pooled++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&ctx_pool_lock);
	mfs_codec_ctx_free(c);
}

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the staged file shrank under us */
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

/*
 * The staged bytes [off, off + len) into buf, where the staged file has
 * them.  Its holes (a truncate or a write past the end, fallocate's punch)
 * are zeroed here, not read: a hole of a staged file on disk is read by
 * the kernel zeroing a fresh page cache page per 4 KiB, which was half the
 * CPU of the commit of a `truncate -s 4G` (and filled the page cache).
 *
 * *data_to: where the last SEEK_HOLE found the data run that holds off
 * ending; bytes below it are read without asking again.  SEEK_HOLE walks
 * the page cache up to the hole, which for a file being written is its
 * end, up to STREAM_LEAD (128 MiB) past the feed: asked per window, that
 * walk was 0.09 of 3.2 daemon CPU-s/GiB of a 1 GiB cp (issue 10).  A hole
 * made below *data_to since (a punch past the bytes fed) is only read as
 * the zeros it holds, which costs more but is just as right.
 */
static int read_staged(int fd, uint8_t *buf, size_t len, uint64_t off, uint64_t *data_to)
{
	if (off < *data_to && len <= *data_to - off)
		return read_full(fd, buf, len, off);
	while (len) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;
		struct stat st;
		size_t n;
		int rc;

		if (data < 0 && errno != ENXIO)
			return read_full(fd, buf, len, off); /* no SEEK_DATA here */
		if (data < 0) {
			/* A hole to the end of the file: it must still reach off + len. */
			if (fstat(fd, &st))
				return -errno;
			if ((uint64_t)st.st_size < off + len)
				return -EIO; /* the staged file shrank under us */
			data = (off_t)(off + len);
		}
		if ((uint64_t)data > off) {
			n = (uint64_t)data - off < len ? (size_t)((uint64_t)data - off) : len;
			memset(buf, 0, n);
		} else {
			if ((hole = lseek(fd, (off_t)off, SEEK_HOLE)) < 0 || (uint64_t)hole <= off)
				return read_full(fd, buf, len, off);
			*data_to = (uint64_t)hole;
			n = (uint64_t)hole - off < len ? (size_t)((uint64_t)hole - off) : len;
			if ((rc = read_full(fd, buf, n, off)))
				return rc;
		}
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* How a session cuts: decided once, before its first cut. */
enum cuts { CUTS_UNDECIDED, CUTS_PLAIN, CUTS_PLAN };

/* An ingest in steps; see ingest.h. */
struct mfs_ingest {
	struct mfs_db *db;
	int threads;
	struct new_list fresh;
	size_t indexed;         /* fresh[0, indexed) has its index entries (mfs_ingest_index_stored) */
	struct window w;
	struct mfs_manifest *m;
	struct mfs_ingest_stats st;
	uint8_t *buf;           /* the window's bytes, cap of them */
	size_t cap;             /* a window's size */
	size_t have;            /* bytes in buf, from file offset off */
	uint64_t data_to;       /* the staged file has data up to here (read_staged) */
	uint64_t off;           /* the file offset where the next chunk starts */
	/*
	 * The first chunk found already stored that is not pinned (pin_found),
	 * or UINT64_MAX: the bytes from there on may not leave the staging.
	 */
	uint64_t dedup_from;
	/* pin_found: gc's refs lock, and the chunks found stored, live-listed */
	mfs_ingest_lock_fn lock_fn;
	void *lock_arg;
	struct mfs_manifest **pins;
	size_t npins, cappins;
	/*
	 * What a writer sees of a feed running in another thread, under pmu
	 * (mfs_ingest_wait_stored): signalled after each window and at the
	 * end of each feed, so the writer waits for one window, not the feed.
	 */
	pthread_mutex_t pmu;
	pthread_cond_t progress;
	uint64_t stored;        /* see mfs_ingest_wait_stored */
	unsigned feeds_done;    /* mfs_ingest_feed calls that returned */
	int early;              /* fed before its finish: outside gc's refs lock */
	int failed;             /* a window's records were not all stored */
	struct writer wr;       /* the last window's records, being written */
	uint8_t *arena[2];      /* record slots of a window: encoding, writing */
	size_t arena_cap;
	int cur;                /* the arena the next window encodes into */
	enum cuts cuts;
	size_t tried;           /* bytes the last undecided parse had */
	struct mfs_cutplan plan; /* with CUTS_PLAN */
	uint64_t size;          /* the file's size, once known (size_known) */
	int size_known;
	mfs_ingest_base_fn base_fn; /* asked for a base once the header is parsed */
	void *base_arg;
	struct mfs_hash layout; /* a model file's tensor layout (has_layout) */
	int has_layout;
	/* share_choice: the region of the plan being cut, and its chunks so far */
	uint64_t region_end;
	unsigned region_chunks;
	struct pending_chunk *head; /* the last head, in the window being cut */
	int carry;              /* a head's choice from an earlier window, for its group */
};

/*
 * A window's bytes are read into the session's own buffer, which every
 * window reuses.  For a while they were the staged file's pages, mapped
 * (MAP_POPULATE) and cut, hashed and encoded in place, which saved the
 * read (0.34 of 3.5 daemon CPU-s/GiB of a 1 GiB cp, issue 10) for 0.09
 * of mmap and munmap.  But on issue 10's VM a page freshly mapped costs
 * a trap at its first touch, however populated: the serial CDC scan of
 * a mapped 16 MiB window took 0.76-0.94 CPU-s/GiB against 0.29-0.37 of
 * the same bytes read into a buffer, and the read 0.08-0.11
 * (/tmp microbenchmark in the s36 note, 256 MiB of the bench model); a
 * cp into the mount went from 3.65-3.97 to 2.96-3.05 daemon CPU-s/GiB.
 * The write-behind still stops a feed before a change below what it
 * claimed (writebehind.c), so what is hashed is what the file held.
 */

/* The first n bytes of the window are cut (or skipped). */
static void drop_front(struct mfs_ingest *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->have - n);
	s->have -= n;
}

/*
 * MODELFS_TEST_FEED_HOLD=PATH (test only): a feed that has just read the
 * first piece of a window says so (PATH.held) and waits until PATH exists
 * (60 s at most), so that a test can change the staged file while a feed
 * runs (tests/fs/t0128-write-behind-in-place.sh).
 */
static void test_feed_hold(void)
{
	const char *path = getenv("MODELFS_TEST_FEED_HOLD");
	char held[4096];
	int fd;

	if (!path)
		return;
	snprintf(held, sizeof(held), "%s.held", path);
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	for (int i = 0; i < 6000 && access(path, F_OK); i++)
		usleep(10000);
}

/*
 * A window is read in pieces of PIECE bytes, each cut as soon as it is in,
 * not read whole and then cut: the encoders wait for the window's first
 * chunk, and they waited for the read of all 16 MiB before it (in a 1 GiB
 * cp, issue 10, the encoder thread waited for chunks 0.9-1.3 s, 0.3-0.5 s
 * of it while the feed read or cut).  The bytes just read are also still
 * in the cache when the scan and the hash get to them.
 * The cuts do not change: a cut is final only with MFS_CHUNK_MAX bytes
 * after it, or its region's end, or the file's end (chunker.h), whatever
 * the buffer holds beyond.
 */
#define PIECE (MFS_CHUNK_MAX / 2)

/*
 * Reads the next piece of the window (*left bytes of it still unread) after
 * its `have` bytes: all of it while the session's cuts are undecided (the
 * header is parsed from the bytes in).
 */
static int window_piece(struct mfs_ingest *s, int fd, size_t *left)
{
	size_t n = *left;
	int rc;

	if (s->cuts != CUTS_UNDECIDED && n > PIECE)
		n = PIECE;
	if (!n)
		return 0;
	rc = read_staged(fd, s->buf + s->have, n, s->off + s->have, &s->data_to);
	if (rc)
		return rc;
	s->have += n;
	s->st.bytes += n;
	*left -= n;
	return 0;
}

/*
 * A window of up to cap bytes has at most this many chunks: those of
 * MFS_CHUNK_MIN or more, and one short chunk per region end of a cut plan
 * (two per large tensor at most, chunker_plan.c).  feed() also stops a
 * window there, so a wrong bound costs a window, never a cut.
 */
static size_t max_chunks(size_t cap)
{
	return 3 * (cap / MFS_CHUNK_MIN) + 8;
}

/* Record slots start on 4 KiB: a pack append writes their whole blocks without a copy (pack.c). */
static size_t slot_size(size_t len)
{
	return (MFS_CHUNK_HDR_SIZE + len + 4095) & ~(size_t)4095;
}

/* See mfs_ingest_defer_encode / mfs_ingest_active (atomics). */
static int defer_encode;
static unsigned active;
static uint64_t progress;

void mfs_ingest_defer_encode(int on)
{
	__atomic_store_n(&defer_encode, !!on, __ATOMIC_RELAXED);
}

unsigned mfs_ingest_active(void)
{
	return __atomic_load_n(&active, __ATOMIC_RELAXED);
}

uint64_t mfs_ingest_progress(void)
{
	return __atomic_load_n(&progress, __ATOMIC_RELAXED);
}

static void ingest_free(struct mfs_ingest *s)
{
	__atomic_sub_fetch(&active, 1, __ATOMIC_RELAXED);
	writer_wait(&s->wr);
	mfs_window_stop(&s->w);
	pthread_mutex_destroy(&s->w.mu);
	pthread_cond_destroy(&s->w.more);
	pthread_cond_destroy(&s->w.idle);
	pthread_cond_destroy(&s->w.chosen);
	pthread_cond_destroy(&s->w.hashed);
	pthread_mutex_destroy(&s->pmu);
	pthread_cond_destroy(&s->progress);
	free(s->arena[0]);
	free(s->arena[1]);
	for (int t = 0; t < s->threads; t++)
		ctx_put(s->w.ctx[t]);
	free(s->w.chunks);
	free(s->buf);
	free(s->fresh.v);
	free(s->fresh.slot);
	free(s->fresh.bases);
	mfs_manifest_unref(s->m);
	for (size_t i = 0; i < s->npins; i++)
		mfs_manifest_unref(s->pins[i]);
	free(s->pins);
	mfs_cutplan_release(&s->plan);
	mfs_delta_base_free(s->w.delta);
	free(s);
}

/*
 * MODELFS_CUTS=plain: every file cut plainly, as chunking version 1 did.
 * For benchmarks that compare the two in one run; never on a node of a
 * cluster (its chunks would not dedup against the others').
 */
static int plain_cuts_only(void)
{
	const char *v = getenv("MODELFS_CUTS");

	return v && !strcmp(v, "plain");
}

/*
 * A model file's base: the one the caller names, else the last plain file
 * of its layout (delta_hint.h), used only if the tensors match (delta.h).
 * Only -ENOMEM fails the ingest: without a base the file is stored plainly.
 */
static int find_base(struct mfs_ingest *s, const struct mfs_tensors *t)
{
	struct mfs_hash id;
	int named = 0, rc;

	if (mfs_delta_layout_id(t, s->buf, &s->layout) == 0)
		s->has_layout = 1;
	if (!s->base_fn)
		return 0;
	if ((rc = s->base_fn(s->base_arg, &id)) == 1)
		named = 1;
	else if (rc != 0 || !s->has_layout || mfs_delta_hint_get(s->db, &s->layout, &id) != 1)
		return 0;
	rc = mfs_delta_base_new(s->db, &id, t, s->buf, &s->w.delta);
	/* Decided before the first cut: a fine-tune's chunks are all encoded now, none queued. */
	if (s->w.delta)
		s->w.defer = 0;
	/* A hint may name a file gc has removed since: not worth a warning. */
	if (rc && rc != -ENOMEM && named)
		log_warn("fine-tune base not usable, stored plainly: %s", mfs_strerror(rc));
	return rc == -ENOMEM ? rc : 0;
}

void mfs_ingest_set_base(struct mfs_ingest *s, mfs_ingest_base_fn fn, void *arg)
{
	s->base_fn = fn;
	s->base_arg = arg;
}

void mfs_ingest_set_lock(struct mfs_ingest *s, mfs_ingest_lock_fn fn, void *arg)
{
	s->lock_fn = fn;
	s->lock_arg = arg;
}

/*
 * Decides how the session cuts, from the file's first bytes (buf holds
 * them: nothing is cut before).  1: decided; 0: the header goes on past
 * the bytes fed, wait for more; -ENOMEM.  A header still incomplete at
 * the file's end or in a full buffer is no header.
 */
static int decide(struct mfs_ingest *s, int at_eof)
{
	struct mfs_tensors t;
	int rc;

	if (s->cuts != CUTS_UNDECIDED)
		return 1;
	/* A GGUF header is parsed from its start each time: not for every small feed. */
	if (!at_eof && s->have < s->cap && s->have < 2 * s->tried)
		return 0;
	s->tried = s->have;
	rc = mfs_tensors_parse(s->buf, s->have, &t);
	if (rc == -ENOMEM)
		return rc;
	if (rc == -EAGAIN && !at_eof && s->have < s->cap)
		return 0;
	s->cuts = CUTS_PLAIN;
	if (rc)
		return 1;
	if (!(s->size_known && t.data_end > s->size)) {
		if ((rc = mfs_cutplan_build(&t, &s->plan)) == 0)
			s->cuts = CUTS_PLAN;
	}
	if (!rc && s->cuts == CUTS_PLAN)
		rc = find_base(s, &t);
	mfs_tensors_release(&t);
	return rc ? rc : 1;
}

/* A session whose windows hold up to cap bytes, with threads encoders. */
static int ingest_new(struct mfs_db *db, int threads, size_t cap, struct mfs_ingest **out)
{
	struct mfs_ingest *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->db = s->w.db = s->wr.db = db;
	s->w.fresh = &s->fresh;
	s->dedup_from = UINT64_MAX;
	s->threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
	s->cap = cap;
	s->cuts = plain_cuts_only() ? CUTS_PLAIN : CUTS_UNDECIDED;
	/* Only records that go to packs are deferred: a store without packs has none. */
	s->w.defer = __atomic_load_n(&defer_encode, __ATOMIC_RELAXED) && mfs_db_packs(db);
	__atomic_add_fetch(&active, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&s->w.mu, NULL);
	pthread_cond_init(&s->w.more, NULL);
	pthread_cond_init(&s->w.idle, NULL);
	pthread_cond_init(&s->w.chosen, NULL);
	pthread_cond_init(&s->w.hashed, NULL);
	pthread_mutex_init(&s->pmu, NULL);
	pthread_cond_init(&s->progress, NULL);
	/* Every chunk of a window in its own slot, even one that needs none (it exists). */
	s->arena_cap = cap + max_chunks(cap) * (MFS_CHUNK_HDR_SIZE + 4095);
	if (!(s->m = mfs_manifest_new()) || !(s->buf = malloc(cap)) ||
	    !(s->w.chunks = calloc(max_chunks(cap), sizeof(*s->w.chunks))))
		goto fail;
	for (int t = 0; t < s->threads; t++)
		if (!(s->w.ctx[t] = ctx_get()))
			goto fail;
	*out = s;
	return 0;
fail:
	ingest_free(s);
	return -ENOMEM;
}

/* Tells a waiting writer how far the bytes may be dropped (0 after a failure: none). */
static void publish_stored(struct mfs_ingest *s, uint64_t stored)
{
	pthread_mutex_lock(&s->pmu);
	s->stored = stored;
	pthread_cond_broadcast(&s->progress);
	pthread_mutex_unlock(&s->pmu);
}

/*
 * Skips the zeros at the next chunk's start (s->off) without reading them:
 * the buffered bytes if all zero, then the staged file's hole after them
 * (SEEK_DATA).  A long run of zeros is cut into chunks of zero_cut bytes
 * (chunker.h), each a hole of the manifest (manifest.h), so those chunks
 * are appended as they would be cut: only while the cut is certain, that
 * is zero_cut zero bytes from the chunk's start and MFS_CHUNK_MAX bytes
 * before both upto and the plan's next boundary (mfs_chunker_cut_at).  The
 * zeros after the last one are read and cut as any bytes.  The manifest is
 * the same as if every byte had been read: skipping is an optimisation
 * only.  Before it, the commit of a `truncate -s 1T` zeroed and compared
 * 1 TiB (95 s here); now its time goes with the data.  0 or -errno.
 */
static int skip_hole(struct mfs_ingest *s, int fd, uint64_t upto)
{
	const struct mfs_cutplan *plan = s->cuts == CUTS_PLAN ? &s->plan : NULL;
	uint64_t zc = mfs_chunker_zero_cut(), c = s->off, end = c, zero_to;
	off_t data;
	int rc;

	/* The plan is decided from the first bytes, which are read, not skipped. */
	if (!zc || s->cuts == CUTS_UNDECIDED || c + zc + MFS_CHUNK_MAX > upto ||
	    (s->have && !mfs_all_zero(s->buf, s->have)))
		return 0;
	data = lseek(fd, (off_t)(c + s->have), SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		return 0; /* no SEEK_DATA here: read the zeros */
	zero_to = data < 0 || (uint64_t)data > upto ? upto : (uint64_t)data;
	while (end + zc <= zero_to && end + MFS_CHUNK_MAX <= upto &&
	       mfs_cutplan_next(plan, end) >= end + MFS_CHUNK_MAX)
		end += zc;
	if (end == c)
		return 0;
	if ((rc = mfs_manifest_append_hole(s->m, end - c)))
		return rc;
	s->st.holes += end - c;
	drop_front(s, end - c < s->have ? end - c : s->have);
	s->off = end;
	return 0;
}

/*
 * The codec choice of a model file's chunks is shared within a tensor:
 * the automatic choice (codec.c note 2: a match probe and histograms of
 * a 128 KiB sample) runs on every CHOOSE_EVERY-th chunk of a region of
 * the cut plan (a large tensor, or a run of small ones), the head, and
 * the next ones take its choice when it is a split codec (else each
 * chooses as before).  The bytes of one tensor are one dtype, and the
 * choice on FP16 weights was split2 on 219 of 227 chunks of the bench
 * model: per chunk it cost 0.19 of 1.12 encode CPU-s/GiB
 * (tests/bench/codec_speed).  Which chunk is a head depends only on the
 * plan and the cuts, so the records do not depend on thread timing.
 */
#define CHOOSE_EVERY 8

static void share_choice(struct mfs_ingest *s, struct pending_chunk *c)
{
	c->codec = -1;
	c->choice = CHOICE_PENDING;
	/* A fine-tune's chunks weigh deltas; deferred ones are stored raw. */
	if (s->cuts != CUTS_PLAN || s->w.delta || s->w.defer)
		return;
	if (c->off >= s->region_end) {
		s->region_end = mfs_cutplan_next(&s->plan, c->off);
		s->region_chunks = 0;
		s->head = NULL;
		s->carry = -1;
	}
	if (s->region_chunks++ % CHOOSE_EVERY == 0) {
		c->is_head = 1;
		s->head = c;
	} else if (s->head) {
		c->head = s->head;
	} else {
		c->codec = s->carry;
	}
}

/*
 * Pins the chunks of the window just committed that were found already
 * stored (a second copy of a model: all of them), so that the writer may
 * drop their bytes from its staging as it drops the bytes of the chunks
 * this ingest stored (mfs_ingest_wait_stored).  They were looked up
 * outside gc's refs lock, and gc may have deleted one since: they are
 * live-listed first (gc keeps what is listed, and a delta's bases), then
 * looked up again under the lock (no gc deletes meanwhile, and every
 * later pass sees the list).  0: pinned and there; else they are not
 * droppable (the caller stops the stored offset before them), and the
 * finish's check (still_stored) says whether the ingest starts again.
 * The pins go with the ingest: its end runs under the refs lock
 * (mfs_ingest_finish, mfs_ingest_abandon's callers put dropped bytes
 * back under it), and a reader's copy (mfs_ingest_index_stored) pins
 * them on its own.
 */
static int pin_found(struct mfs_ingest *s)
{
	struct mfs_manifest *m;
	int rc = 0;

	if (!s->lock_fn)
		return -ENOTSUP; /* no lock to look them up under: they stay staged */
	if (mfs_grow(&s->pins, &s->cappins, s->npins, sizeof(*s->pins)) ||
	    !(m = mfs_manifest_new()))
		return -ENOMEM;
	for (unsigned i = 0; i < s->w.count && !rc; i++) {
		const struct pending_chunk *c = &s->w.chunks[i];

		if (c->exists && !c->hole && !mfs_new_list_has(&s->fresh, &c->hash))
			rc = mfs_manifest_append(m, &c->hash, (uint32_t)c->len);
	}
	if (rc) {
		mfs_manifest_unref(m);
		return rc;
	}
	mfs_manifest_live_pin(m);
	s->pins[s->npins++] = m;
	s->lock_fn(s->lock_arg, 1);
	for (uint32_t i = 0; i < m->count && !rc; i++)
		if ((rc = mfs_delta_usable(s->db, &m->e[i].hash)) == 1)
			rc = 0;
		else if (!rc)
			rc = -ESTALE;
	s->lock_fn(s->lock_arg, 0);
	return rc;
}

/*
 * Cuts, hashes, encodes and stores the chunks of fd[off..upto) whose cuts
 * are final: a cut is final once MFS_CHUNK_MAX bytes after it were seen
 * (chunker.h), or at eof (upto is the file's size).  Returns between
 * windows when *stop is set.  Bytes after the last final cut stay in buf
 * for the next call.
 */
static int feed(struct mfs_ingest *s, int fd, uint64_t upto, int eof, const int *stop)
{
	uint64_t found;
	int rc = 0;

	while (s->off + s->have < upto || (eof && s->have)) {
		size_t left, pos = 0;
		int at_eof, read_any = 0;

		if ((rc = skip_hole(s, fd, upto)))
			return rc;
		left = s->cap - s->have;
		if (left > upto - (s->off + s->have))
			left = upto - (s->off + s->have);
		/* Whether the window, once read, ends the file. */
		at_eof = eof && s->off + s->have + left == upto;
		if (left && s->early)
			read_any = 1;
		if ((rc = window_piece(s, fd, &left)))
			return rc;
		if (read_any)
			test_feed_hold();
		if (!s->arena[s->cur] &&
		    posix_memalign((void **)&s->arena[s->cur], 4096, s->arena_cap)) {
			s->arena[s->cur] = NULL;
			return -ENOMEM;
		}
		if ((rc = decide(s, at_eof)) < 0)
			return rc;
		mfs_window_start(&s->w, s->threads);
		for (size_t slot = 0; rc && s->w.count < max_chunks(s->cap);) {
			size_t n = pos < s->have ? mfs_chunker_cut_at(s->cuts == CUTS_PLAN ? &s->plan : NULL,
								      s->off + pos, s->buf + pos,
								      s->have - pos, at_eof && !left)
						 : 0;

			if (!n && left) {
				if ((rc = window_piece(s, fd, &left))) {
					/* The encoders may still hold chunks of buf. */
					mfs_window_finish(&s->w);
					return rc;
				}
				rc = 1;
				continue;
			}
			if (!n)
				break; /* not final yet */
			s->w.chunks[s->w.count] = (struct pending_chunk){
				.p = s->buf + pos, .len = n, .off = s->off + pos,
				.rec = s->arena[s->cur] + slot,
				.rec_cap = MFS_CHUNK_HDR_SIZE + n,
			};
			share_choice(s, &s->w.chunks[s->w.count]);
			mfs_window_publish(&s->w);
			slot += slot_size(n);
			pos += n;
		}
		if (!s->w.count)
			break; /* no final cut yet: wait for more bytes */
		mfs_window_finish(&s->w);
		/* Every head of the window has chosen: the last one's group may go on. */
		if (s->head) {
			s->carry = s->head->choice;
			s->head = NULL;
		}
		found = UINT64_MAX;
		if ((rc = commit_window(&s->w, s->m, &s->fresh, &s->st, &s->wr, &found))) {
			s->failed = 1;
			publish_stored(s, 0);
			return rc;
		}
		/* A feed's finds are pinned, so that their bytes may leave the staging too. */
		if (found != UINT64_MAX && s->dedup_from == UINT64_MAX && (eof || pin_found(s)))
			s->dedup_from = found;
		__atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
		/* Every window before this one is written (commit_window waited). */
		publish_stored(s, s->off < s->dedup_from ? s->off : s->dedup_from);
		/* The writer has this window's arena now; the other one is free. */
		s->cur ^= 1;
		drop_front(s, pos);
		s->off += pos;
		if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED))
			break;
	}
	return 0;
}

/* The base chunks this ingest's deltas name are still stored (gc may have run meanwhile). */
static int bases_stored(struct mfs_ingest *s)
{
	size_t n;
	const struct mfs_hash *h = mfs_delta_base_used(s->w.delta, &n);

	for (size_t i = 0; i < n; i++) {
		int rc = mfs_chunk_exists(s->db, &h[i]);

		if (rc <= 0)
			return rc < 0 ? rc : -ESTALE;
	}
	return 0;
}

/*
 * The chunks an early feed found already stored were checked outside gc's
 * refs lock: gc may have deleted one since.  Checked again now, under it.
 * So are this ingest's own chunks indexed early (mfs_ingest_index_stored):
 * gc saw them, and keeps them only while their caller holds the pinned
 * copy; one it deleted is not written again by the finish, which must not
 * publish a version naming it.
 */
static int still_stored(struct mfs_ingest *s)
{
	for (size_t i = 0; i < s->indexed; i++) {
		int rc = mfs_chunk_exists(s->db, &s->fresh.v[i].hash);

		if (rc <= 0) {
			log_warn("a chunk this ingest indexed early is gone (gc?): %s",
				 rc ? mfs_strerror(rc) : "not stored");
			return rc < 0 ? rc : -ESTALE;
		}
	}
	for (uint32_t i = 0; i < s->m->count; i++) {
		int rc;

		if (mfs_manifest_is_hole(&s->m->e[i]) || mfs_new_list_has(&s->fresh, &s->m->e[i].hash))
			continue;
		if ((rc = mfs_delta_usable(s->db, &s->m->e[i].hash)) <= 0)
			return rc < 0 ? rc : -ESTALE;
	}
	return bases_stored(s);
}

int mfs_ingest_begin(struct mfs_db *db, int threads, struct mfs_ingest **out)
{
	return ingest_new(db, threads, FEED_WINDOW, out);
}

int mfs_ingest_feed(struct mfs_ingest *s, int fd, uint64_t upto, const int *stop)
{
	int rc;

	s->early = 1;
	rc = feed(s, fd, upto, 0, stop);
	pthread_mutex_lock(&s->pmu);
	s->feeds_done++;
	pthread_cond_broadcast(&s->progress);
	pthread_mutex_unlock(&s->pmu);
	return rc;
}

uint64_t mfs_ingest_offset(const struct mfs_ingest *s)
{
	return s->off;
}

uint64_t mfs_ingest_wait_stored(struct mfs_ingest *s, uint64_t above, unsigned feeds)
{
	uint64_t v;

	pthread_mutex_lock(&s->pmu);
	while (s->stored <= above && s->feeds_done < feeds)
		pthread_cond_wait(&s->progress, &s->pmu);
	v = s->stored;
	pthread_mutex_unlock(&s->pmu);
	return v;
}

/*
 * The layout to remember this file by as a future base (delta_hint.h): a
 * model file that stored chunks of its own, none of them a delta record.
 * A file made only of stored chunks is a copy: of the current hint, or of
 * a fine-tune whose deltas could not serve as a base (delta.h 1).
 */
static const struct mfs_hash *plain_layout(struct mfs_ingest *s)
{
	size_t n = 0;

	if (!s->has_layout || !s->base_fn || !s->fresh.n)
		return NULL;
	if (s->w.delta)
		mfs_delta_base_used(s->w.delta, &n);
	return n ? NULL : &s->layout;
}

int mfs_ingest_finish(struct mfs_ingest *s, int fd, uint64_t size, struct mfs_hash *id,
		      int *has_manifest, struct mfs_ingest_stats *st)
{
	int rc;

	s->size = size;
	s->size_known = 1;
	/* Fed bytes past the end, or a plan whose tensors do not fit: from scratch. */
	if (size < s->off + s->have || (s->cuts == CUTS_PLAN && s->plan.data_end > size))
		rc = -ESTALE;
	else
		rc = feed(s, fd, size, 1, NULL);

	/* The last window's records are written before anything is indexed. */
	if (writer_wait(&s->wr) && !rc) {
		rc = s->wr.rc;
		s->failed = 1;
	}
	*has_manifest = 0;
	if (!rc && s->early)
		rc = still_stored(s);
	if (!rc && size)
		rc = finish(s->db, s->m, &s->fresh, s->indexed, s->wr.into ? &s->wr : NULL,
			    s->w.defer, id, plain_layout(s));
	if (!rc)
		*has_manifest = size > 0;
	*st = s->st;
	if (rc == -ESTALE && !s->failed) {
		/* Keep what was stored: the caller's next ingest dedups against it. */
		finish(s->db, NULL, &s->fresh, s->indexed, NULL, s->w.defer, NULL, NULL);
	} else if (rc) {
		log_warn("ingest of %llu bytes failed: %s", (unsigned long long)size, mfs_strerror(rc));
	}
	ingest_free(s);
	return rc;
}

int mfs_ingest_abandon(struct mfs_ingest *s)
{
	int rc;

	if (!s)
		return 0;
	if (writer_wait(&s->wr))
		s->failed = 1;
	/*
	 * After a failed window some chunks of `fresh` have no record: their
	 * index entries must not be written, and which ones is not known here.
	 * Their stored records are unindexed space, as after a crash.
	 */
	rc = s->failed ? -EIO
		       : finish(s->db, NULL, &s->fresh, s->indexed, NULL, s->w.defer, NULL, NULL);
	if (rc)
		log_warn("abandoned ingest: index entries of %zu stored chunks not written: %s",
			 s->fresh.n, mfs_strerror(rc));
	ingest_free(s);
	return rc;
}

int mfs_ingest_index_stored(struct mfs_ingest *s, struct mfs_manifest **out)
{
	struct mfs_manifest *m;
	int rc = 0;

	*out = NULL;
	if (writer_wait(&s->wr))
		s->failed = 1;
	if (s->failed)
		return -EIO;
	if (!(m = mfs_manifest_new()))
		return -ENOMEM;
	for (uint32_t i = 0; i < s->m->count && !rc; i++)
		rc = mfs_manifest_is_hole(&s->m->e[i])
			     ? mfs_manifest_append_hole(m, s->m->e[i].len)
			     : mfs_manifest_append(m, &s->m->e[i].hash, s->m->e[i].len);
	/*
	 * Once indexed, gc sees these chunks, and no version names them until
	 * the finish publishes one: the copy keeps them while it is held.
	 * Listed before the index entries are written, so no gc pass sees
	 * them unpinned.
	 */
	if (!rc)
		mfs_manifest_live_pin(m);
	if (!rc && !(rc = finish(s->db, NULL, &s->fresh, s->indexed, NULL, s->w.defer, NULL, NULL)))
		s->indexed = s->fresh.n;
	if (rc) {
		mfs_manifest_unref(m);
		return rc;
	}
	*out = m;
	return 0;
}

struct mfs_manifest *mfs_ingest_manifest(struct mfs_ingest *s)
{
	return mfs_manifest_ref(s->m);
}

static int ingest_whole(struct mfs_db *db, int fd, uint64_t size, uint64_t data_to, int threads,
			struct mfs_batch *into, struct mfs_wr *mrec, mfs_ingest_base_fn fn, void *arg,
			struct mfs_hash *id, int *has_manifest, struct mfs_ingest_stats *st)
{
	struct mfs_ingest *s;
	int rc;

	memset(st, 0, sizeof(*st));
	*has_manifest = 0;
	if (size == 0)
		return 0;
	/*
	 * A small file (most of a `cp -a` of a tree) gets one thread and a
	 * buffer of its size: no thread start and no 32 MiB window (an mmap,
	 * its page faults and a munmap) per file.  Measured on issue 10's
	 * small-file run: 0.96 instead of 1.74 ms of daemon CPU per file.
	 */
	if ((rc = ingest_new(db, size <= MFS_CHUNK_MIN ? 1 : threads,
			     size < WINDOW ? (size_t)size : WINDOW, &s))) {
		log_warn("ingest of %llu bytes failed: %s", (unsigned long long)size, mfs_strerror(rc));
		return rc;
	}
	s->wr.inline_only = size <= WINDOW;
	s->size = size;
	s->size_known = 1;
	s->data_to = data_to;
	s->wr.into = into;
	s->wr.mrec = mrec;
	if (into)
		s->w.defer = 0; /* a small file's records never reach a pack */
	mfs_ingest_set_base(s, fn, arg);
	return mfs_ingest_finish(s, fd, size, id, has_manifest, st);
}

int mfs_ingest_fd(struct mfs_db *db, int fd, uint64_t size, int threads, struct mfs_hash *id,
		  int *has_manifest, struct mfs_ingest_stats *st)
{
	return ingest_whole(db, fd, size, 0, threads, NULL, NULL, NULL, NULL, id, has_manifest, st);
}

int mfs_ingest_fd_base(struct mfs_db *db, int fd, uint64_t size, int threads,
		       mfs_ingest_base_fn fn, void *arg, struct mfs_hash *id, int *has_manifest,
		       struct mfs_ingest_stats *st)
{
	return ingest_whole(db, fd, size, 0, threads, NULL, NULL, fn, arg, id, has_manifest, st);
}

int mfs_ingest_small(struct mfs_db *db, int fd, uint64_t size, uint64_t data_to,
		     struct mfs_batch *into, struct mfs_wr *manifest, struct mfs_hash *id,
		     int *has_manifest, struct mfs_ingest_stats *st)
{
	if (size > MFS_INGEST_SMALL_MAX)
		return -EINVAL;
	return ingest_whole(db, fd, size, data_to < size ? data_to : size, 1, into, manifest, NULL,
			    NULL, id, has_manifest, st);
}
