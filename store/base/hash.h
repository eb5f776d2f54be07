/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hashes: SHA-256 names chunks (their key, checked on every byte that
 * crosses a trust boundary and by fsck --deep); XXH64 is the fast checksum
 * in each stored chunk's header, checked on every local read.
 */
#ifndef MFS_HASH_H
#define MFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MFS_HASH_LEN 32
#define MFS_HASH_HEX_LEN 64

struct mfs_hash {
	uint8_t b[MFS_HASH_LEN];
};

/*
 * SHA-256 of p[0..n) (libcrypto; uses SHA-NI when the CPU has it).  Returns 0,
 * or -ENOMEM when libcrypto cannot allocate its context; *out is then
 * undefined and must not name anything.
 */
__attribute__((warn_unused_result))
int mfs_sha256(const void *p, size_t n, struct mfs_hash *out);

/*
 * The SHA-256 of p[0..n) into *a and of q[0..m) into *b: the same digests
 * as mfs_sha256 of each, with the two computed together where the CPU
 * has SHA-NI (sha256x2.c: about a fifth less CPU per byte than one at a
 * time).  For callers that have two buffers to hash (ingest's chunks).
 * Returns 0 or, hashing one at a time, mfs_sha256's error.
 */
__attribute__((warn_unused_result))
int mfs_sha256_pair(const void *p, size_t n, struct mfs_hash *a, const void *q, size_t m,
		    struct mfs_hash *b);

/*
 * The SHA-256 of each of count messages p[i][0..n[i]) into out[i]: the same
 * digests as mfs_sha256 of each.  With AVX-512 and SHA-NI, and 8 messages
 * or more, sixteen are hashed at once (sha256x2.c: about 0.4 CPU-s per GiB
 * against libcrypto's 0.7 on this project's build machine).  0, or
 * mfs_sha256's error.
 */
__attribute__((warn_unused_result))
int mfs_sha256_many(const void *const *p, const size_t *n, int count, struct mfs_hash *out);
/*
 * Whether mfs_sha256_many hashes in lanes here (AVX-512 and SHA-NI, and
 * MODELFS_TEST_NO_AVX512 unset); else it hashes one message at a time,
 * and a caller with two does better with mfs_sha256_pair.
 */
int mfs_sha256_many_lanes(void);

/*
 * SHA-256 fed piece by piece, for bytes hashed as they are produced (a
 * fetched chunk group by group as it is decoded, while each group is in
 * cache: codec.h, mfs_chunk_decode_sha).  begin: 0 or -ENOMEM; updates in
 * order; end frees the state and gives the digest of everything updated:
 * 0, or -ENOMEM (an update could not run, libcrypto's only failure).
 * A state begun is ended exactly once.
 */
struct mfs_sha256_state {
	void *md;		/* libcrypto's EVP_MD_CTX */
	int failed;
};

__attribute__((warn_unused_result))
int mfs_sha256_begin(struct mfs_sha256_state *st);
void mfs_sha256_update(struct mfs_sha256_state *st, const void *p, size_t n);
__attribute__((warn_unused_result))
int mfs_sha256_end(struct mfs_sha256_state *st, struct mfs_hash *out);

/*
 * The SHA-256 of n zero bytes, remembered per length for the few lengths
 * asked most (runs of zeros are hashed this way too: hash.c).  0 or -ENOMEM.
 */
__attribute__((warn_unused_result))
int mfs_sha256_zeros(size_t n, struct mfs_hash *out);

/* XXH64 (the published algorithm, implemented here) of p[0..n). */
uint64_t mfs_xxh64(const void *p, size_t n, uint64_t seed);

/*
 * Streaming XXH64: init, then update any number of times, then digest.  The
 * digest equals mfs_xxh64() of the concatenated input; the chunk record
 * checksum (store/chunk/codec.h) covers a header prefix and the payload this way.
 * The state is plain data: copy it, no release needed.
 */
struct mfs_xxh64_state {
	uint64_t acc[4];
	uint64_t seed;
	uint64_t total;		/* bytes passed to update so far */
	uint8_t buf[32];	/* a partial stripe of buf_len bytes */
	uint32_t buf_len;
};

void mfs_xxh64_init(struct mfs_xxh64_state *st, uint64_t seed);
void mfs_xxh64_update(struct mfs_xxh64_state *st, const void *p, size_t n);
/* Does not modify st: more updates may follow. */
uint64_t mfs_xxh64_digest(const struct mfs_xxh64_state *st);

/* Writes 64 lowercase hex digits and a NUL into hex[65]. */
void mfs_hash_to_hex(const struct mfs_hash *h, char hex[MFS_HASH_HEX_LEN + 1]);

/*
 * Parses a NUL-terminated string of exactly 64 hex digits (either case).
 * Returns 0 or -EINVAL, leaving *out untouched on error.
 */
int mfs_hash_from_hex(const char *hex, struct mfs_hash *out);

#endif
