/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CURVE keys and the allow-list of modelfs peers.
 *
 * Every node has a long-term CURVE key pair: the secret key in a 0600 file
 * (`modelfs-admin keygen FILE`), the public key in FILE.pub.  A node accepts
 * only the peers listed in its authorized_keys file, one line per node:
 *
 *	# comment
 *	Z85PUBLICKEY HOST:PORT
 *
 * where HOST:PORT (or tcp://HOST:PORT) is that node's `listen` endpoint, the
 * one its peers connect to, so a node finds the server key for each `peer=`
 * here.  The endpoint may be left out for a node that never listens.
 *
 * Checking the list is the job of a ZAP handler (RFC 27).  Without one,
 * libzmq 4.3.4 lets any client that knows the server's public key in, so
 * mfs_zap_start() must run before the first server socket binds.
 *
 * Sockets and the context are `void *` as in zmq.h, so that this header
 * does not pull zmq.h into its users (tools/ may not include it).
 */
#ifndef MFS_CURVE_H
#define MFS_CURVE_H

#include <stddef.h>
#include <stdint.h>

#include "store/base/node.h"

#define MFS_CURVE_Z85_LEN 40    /* a 32-byte key in Z85 */
#define MFS_CURVE_KEY_LEN 32
#define MFS_ZAP_DOMAIN "modelfs" /* ZMQ_ZAP_DOMAIN of every server socket */

struct mfs_curve_keys {
	char public_z85[MFS_CURVE_Z85_LEN + 1];
	char secret_z85[MFS_CURVE_Z85_LEN + 1];
};

/*
 * Makes a key pair: path (mode 0600, one line: the Z85 secret key) and
 * path.pub (mode 0644, one line: the Z85 public key).  Never overwrites:
 * -EEXIST if either file exists, and then neither is touched.  On success
 * the public key is copied to public_z85 if it is not NULL.  0 or -errno.
 */
int mfs_curve_keygen(const char *path, char public_z85[MFS_CURVE_Z85_LEN + 1]);

/*
 * Reads a secret key file written by mfs_curve_keygen() and derives its
 * public key.  Refuses (-EPERM) a file that group or others may access, as
 * ssh does: a key others can read is no longer secret.  Returns 0, -errno,
 * or MFS_EFORMAT for a file that does not hold one Z85 key; on failure err
 * says why, naming the file.
 */
int mfs_curve_load_secret(const char *path, struct mfs_curve_keys *out, char *err, size_t errlen);

/* 0 if s is 40 characters of Z85 (a public key); raw (may be NULL) gets the
 * 32 bytes.  -EINVAL otherwise. */
int mfs_curve_key_decode(const char *s, uint8_t raw[MFS_CURVE_KEY_LEN]);
/* The Z85 form of a 32-byte key. */
void mfs_curve_key_encode(const uint8_t raw[MFS_CURVE_KEY_LEN], char z85[MFS_CURVE_Z85_LEN + 1]);

/*
 * Endpoints are compared in one form, "tcp://host:port": the scheme added
 * if missing, the host lower-cased, the port without leading zeros.
 * Accepts "host:port" and "tcp://host:port"; host is a name, an IPv4
 * address, "[IPv6]" or "*".  0 or -EINVAL (bad form), -ENAMETOOLONG.
 */
int mfs_endpoint_normalise(const char *in, char *out, size_t outlen);

/*
 * 1 if endpoint (either form) can be reached only from this machine:
 * 127.0.0.0/8, [::1] or localhost.  0 for anything else, "*" and other
 * names included, and for a malformed endpoint.
 */
int mfs_endpoint_is_loopback(const char *endpoint);

struct mfs_authkey {
	char public_z85[MFS_CURVE_Z85_LEN + 1];
	uint8_t public_raw[MFS_CURVE_KEY_LEN];
	char *endpoint;          /* normalised; NULL when the line gives none */
	unsigned line;           /* where in the file, for messages */
};

struct mfs_authkeys {
	struct mfs_authkey *keys;
	size_t n;
};

/*
 * Parses an authorized_keys file (see the top of this file): blank lines
 * and '#' comments (a whole line, or the rest of a line) are skipped.  A
 * key or an endpoint listed twice is an error, since either would make
 * "which key is that peer" ambiguous.  Returns 0, -errno (file unreadable,
 * err says which), or MFS_EFORMAT with "FILE:LINE: why" in err.  The
 * caller frees *out with mfs_authkeys_free().
 */
int mfs_authkeys_load(const char *path, struct mfs_authkeys **out, char *err, size_t errlen);
void mfs_authkeys_free(struct mfs_authkeys *k);

/*
 * The Z85 public key of the node listening at endpoint (either form), or
 * NULL when no line names it.  Borrowed from k.
 */
const char *mfs_authkeys_for_endpoint(const struct mfs_authkeys *k, const char *endpoint);

/*
 * The ZAP handler: a thread with a REP socket bound to
 * inproc://zeromq.zap.01 in zmq_ctx.  It answers 200 to CURVE clients of
 * domain MFS_ZAP_DOMAIN whose key is in k, with the Z85 key as User-Id
 * (zmq_msg_gets(msg, "User-Id") on every message from that peer; the server
 * checks the id a message claims against the key's, mfs_curve_z85_node_id), and 400
 * to everything else, logging a warning that names the key and the peer
 * address at most once a minute per key.  The keys are copied: k may be
 * freed after the call.  A key k does not list is still admitted if
 * allowed (may be NULL) answers 1 for it: the cluster's replicated
 * allow-list (store/ns/allow.h), asked from the handler's thread.
 *
 * Start it before any server socket binds.  Returns -EADDRINUSE if the
 * context already has a ZAP handler.  Stop it with mfs_zap_stop() before
 * zmq_ctx_term(); if the context is terminated first, the thread closes its
 * socket and ends, and mfs_zap_stop() then only frees.
 */
struct mfs_zap;
struct mfs_zap_allow {
	int (*fn)(void *arg, const uint8_t key[MFS_CURVE_KEY_LEN]); /* 1 admits */
	void *arg;
};
int mfs_zap_start(void *zmq_ctx, const struct mfs_authkeys *k, const struct mfs_zap_allow *allowed,
		  struct mfs_zap **out);
void mfs_zap_stop(struct mfs_zap *z);   /* NULL: no-op */

/*
 * Socket setup, before bind or connect.  A server gets CURVE_SERVER, its
 * secret key and ZAP_DOMAIN MFS_ZAP_DOMAIN; a client gets the server's public
 * key and its own key pair.  0 or -errno (-EINVAL for a malformed key).
 */
int mfs_curve_server_setup(void *sock, const struct mfs_curve_keys *k);
int mfs_curve_client_setup(void *sock, const struct mfs_curve_keys *k,
			   const char *server_public_z85);

/* The node id of a key pair (its public key's: mfs_node_from_key).  0 or -EINVAL. */
int mfs_curve_node_id(const struct mfs_curve_keys *k, mfs_node_t *id);
/* The node id of a Z85 public key.  0 or -EINVAL. */
int mfs_curve_z85_node_id(const char *public_z85, mfs_node_t *id);

#endif
