/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest's encoder window (ingest_window.c), internal to store/chunk:
 * the chunks cut from one window of the file, hashed and encoded by a
 * pool of threads while the feeding thread cuts the next; and the list of
 * chunks an ingest stored, so that a chunk repeating within the file is
 * encoded and written once.  See ingest.c for the pipeline around it.
 */
#ifndef MFS_INGEST_WINDOW_H
#define MFS_INGEST_WINDOW_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "store/base/hash.h"

struct mfs_db;
struct mfs_delta_base;

#define MAX_THREADS 8

struct pending_chunk {
	const uint8_t *p;
	uint32_t len;
	uint64_t off;          /* its file offset */
	struct mfs_hash hash;
	int exists;
	int hole;              /* MFS_CHUNK_MIN or more zero bytes: a manifest hole, no record */
	uint8_t *rec;          /* its slot in the window's arena */
	size_t rec_cap;        /* the slot's size */
	size_t rec_len;        /* encoded length; 0 when the chunk exists */
	struct mfs_chunk_info info;
	int rc;
	int hashed;            /* claimed for hashing in a batch, and hashed: under mu */
	/*
	 * Its codec (ingest.c, share_choice).  A head runs the automatic
	 * choice for itself and the chunks after it in its region of a model
	 * file; they take its choice (head), or one known from an earlier
	 * window (codec; -1: each chooses as usual).  choice: a head's, under
	 * the window's mu: CHOICE_PENDING until known, then -1 or a split codec.
	 */
	int is_head;
	struct pending_chunk *head;
	int codec;
	int choice;
};
#define CHOICE_PENDING (-2)

/*
 * The chunks of the window being encoded.  The feeding thread cuts them
 * and publishes each (cut); the encoder threads, and the feeding thread
 * once it has cut them all, claim them in order (next), hashing them
 * two at a time or, once many are published, all together first (hnext,
 * ingest_window.c claim_chunks).  The counters are under mu; a chunk's
 * fields are the claimer's until busy drops back to 0.
 */
struct window {
	struct mfs_db *db;
	const struct new_list *fresh;   /* read-only while encoders run */
	struct mfs_delta_base *delta;   /* the base to try deltas against, or NULL */
	int defer;              /* store pack-sized records raw, for the recode pass */
	struct pending_chunk *chunks;
	unsigned count;         /* chunks cut (the feeding thread's copy of cut) */
	pthread_mutex_t mu;
	pthread_cond_t more;    /* to encoders: a chunk to claim, or quit */
	pthread_cond_t idle;    /* to the feeder: busy dropped to 0 */
	pthread_cond_t chosen;  /* to encoders: a head's choice is known */
	pthread_cond_t hashed;  /* to encoders: a batch of chunks is hashed */
	unsigned cut;           /* chunks published */
	unsigned next;          /* next chunk to claim for encoding */
	unsigned hnext;         /* next chunk to claim for hashing (next <= hnext <= cut) */
	int cutting;            /* the feeder is still cutting this window's chunks */
	unsigned busy;          /* claimed, not yet encoded */
	int quit;
	int workers;            /* encoder threads running: tid[1..workers] */
	pthread_t tid[MAX_THREADS];
	struct mfs_codec_ctx *ctx[MAX_THREADS];
};

/* What the index needs of a chunk this ingest stored. */
struct new_chunk {
	struct mfs_hash hash;
	struct mfs_chunk_info info;
	uint32_t record_len;
	uint32_t base_at, nbases;       /* a delta's bases: new_list.bases[base_at, +nbases) */
};

/*
 * The chunks this ingest stored, in order, with an open-addressing table
 * over them: a chunk that repeats within the file (zeroed regions, tied
 * weights) is neither encoded nor written again, though the store's index
 * does not name it until finish().  The table is changed only between
 * windows (commit_window), and read by the encoders while they run.
 */
struct new_list {
	struct new_chunk *v;
	size_t n, cap;
	uint32_t *slot;         /* index + 1 into v; 0 = empty */
	size_t nslots;          /* a power of two, at least twice n */
	struct mfs_hash *bases; /* the delta chunks' distinct bases, for their index entries */
	size_t nbases, capbases;
};

/* Whether this ingest already stored the chunk h. */
int mfs_new_list_has(const struct new_list *l, const struct mfs_hash *h);
/* Adds the stored chunk c (a delta's bases from its record); -ENOMEM, MFS_ECORRUPT. */
int mfs_new_list_add(struct new_list *l, const struct pending_chunk *c);

/* A new window: no chunk published; starts the encoders the first time. */
void mfs_window_start(struct window *w, int threads);
/* Publishes the chunk just cut (w->chunks[w->count]) to the encoders. */
void mfs_window_publish(struct window *w);
/* All chunks cut: encodes what is left with the encoders, and waits for them. */
void mfs_window_finish(struct window *w);
/* Stops and joins the encoder threads. */
void mfs_window_stop(struct window *w);

#endif
