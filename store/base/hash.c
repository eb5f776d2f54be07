/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 chunk names (through libcrypto, which picks SHA-NI or AVX2 code at
 * run time) and their hex form for logs, keys in tools and the control
 * protocol.  XXH64 lives in xxh64.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bytes.h"
#include "hash.h"
#include "log.h"

#define LOG_COMPONENT "hash"

/*
 * Fetched once: EVP_sha256() would make libcrypto look the algorithm up in
 * its provider store (under a global lock) on every call, and ingest hashes
 * from several threads at once.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/*
 * Runs of zeros (a sparse file's holes, a model's zero padding) are hashed
 * once per length: a `truncate -s 4G` made 1,024 chunks of 4 MiB of zeros,
 * and hashing them was 60 % of its commit.  Whether a buffer is all zero
 * is a memcmp at memory speed, and for other bytes it stops at the first
 * that is not zero.  A handful of lengths is remembered (the chunker's
 * largest chunk is the one that repeats).
 */
#define ZERO_MIN (64u << 10)
#define ZERO_SLOTS 4
static struct {
	size_t len;
	struct mfs_hash h;
} zero_slot[ZERO_SLOTS];          /* zero_lock */
static unsigned zero_next;        /* zero_lock: the slot to replace */
static pthread_mutex_t zero_lock = PTHREAD_MUTEX_INITIALIZER;

static int sha256_digest(const void *p, size_t n, struct mfs_hash *out);

/* 1 with *out the remembered SHA-256 of n zero bytes, or 0. */
static int zero_known(size_t n, struct mfs_hash *out)
{
	int found = 0;

	pthread_mutex_lock(&zero_lock);
	for (unsigned i = 0; i < ZERO_SLOTS && !found; i++)
		if (zero_slot[i].len == n) {
			*out = zero_slot[i].h;
			found = 1;
		}
	pthread_mutex_unlock(&zero_lock);
	return found;
}

/* 1 with *out the SHA-256 of p[0..n) if those are all zero; 0 to hash them. */
static int zero_hash(const uint8_t *p, size_t n, struct mfs_hash *out)
{
	if (n < ZERO_MIN || !mfs_all_zero(p, n))
		return 0;
	if (zero_known(n, out))
		return 1;
	/* The first run of zeros of this length: hashed, then remembered. */
	if (sha256_digest(p, n, out))
		return 0;
	pthread_mutex_lock(&zero_lock);
	zero_slot[zero_next].len = n;
	zero_slot[zero_next].h = *out;
	zero_next = (zero_next + 1) % ZERO_SLOTS;
	pthread_mutex_unlock(&zero_lock);
	return 1;
}

int mfs_sha256(const void *p, size_t n, struct mfs_hash *out)
{
	if (zero_hash(p, n, out))
		return 0;
	return sha256_digest(p, n, out);
}

int mfs_sha256_zeros(size_t n, struct mfs_hash *out)
{
	uint8_t *z;
	int rc;

	if (n >= ZERO_MIN && zero_known(n, out))
		return 0;
	if (!(z = calloc(1, n ? n : 1)))
		return -ENOMEM;
	rc = mfs_sha256(z, n, out); /* remembers it, from ZERO_MIN on */
	free(z);
	return rc;
}

static int sha256_digest(const void *p, size_t n, struct mfs_hash *out)
{
	const EVP_MD *md;
	unsigned int len = 0;

	pthread_once(&sha256_once, sha256_fetch);
	md = sha256_md ? sha256_md : EVP_sha256();
	/*
	 * EVP_Digest can only fail to allocate its small context.  That is an
	 * error of this one request (a chunk fetched from a peer, a write), not
	 * a broken invariant: the caller fails it, the daemon goes on.
	 */
	if (!EVP_Digest(p, n, out->b, &len, md, NULL))
		return -ENOMEM;
	if (len != MFS_HASH_LEN)
		BUG("SHA-256 of %u bytes from libcrypto", len);
	return 0;
}

int mfs_sha256_begin(struct mfs_sha256_state *st)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	pthread_once(&sha256_once, sha256_fetch);
	st->md = md;
	st->failed = 0;
	if (!md)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(md, sha256_md ? sha256_md : EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		st->md = NULL;
		return -ENOMEM;
	}
	return 0;
}

void mfs_sha256_update(struct mfs_sha256_state *st, const void *p, size_t n)
{
	if (!st->failed && !EVP_DigestUpdate(st->md, p, n))
		st->failed = 1;
}

int mfs_sha256_end(struct mfs_sha256_state *st, struct mfs_hash *out)
{
	unsigned int len = 0;
	int rc = 0;

	if (st->failed || !EVP_DigestFinal_ex(st->md, out->b, &len))
		rc = -ENOMEM;
	else if (len != MFS_HASH_LEN)
		BUG("SHA-256 of %u bytes from libcrypto", len);
	EVP_MD_CTX_free(st->md);
	st->md = NULL;
	return rc;
}

void mfs_hash_to_hex(const struct mfs_hash *h, char hex[MFS_HASH_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < MFS_HASH_LEN; i++) {
		hex[2 * i] = digits[h->b[i] >> 4];
		hex[2 * i + 1] = digits[h->b[i] & 15];
	}
	hex[MFS_HASH_HEX_LEN] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mfs_hash_from_hex(const char *hex, struct mfs_hash *out)
{
	struct mfs_hash h;

	/* Stops at a NUL too, since '\0' is not a digit: no overread. */
	for (int i = 0; i < MFS_HASH_LEN; i++) {
		int hi = hex_digit(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		h.b[i] = hi << 4 | lo;
	}
	/* Exactly 64 digits: "abc...def0" with trailing junk is a typo, not a hash. */
	if (hex[MFS_HASH_HEX_LEN] != '\0')
		return -EINVAL;
	*out = h;
	return 0;
}
