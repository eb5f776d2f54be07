/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster's allow-list as data (doc/replication.md, "Admitting keys").
 *
 * A node admits a CURVE peer whose public key its own authorized_keys file
 * lists, or that an admin allowed on any member with `modelfs-admin node
 * allow KEY`.  That decision is an 'A' entry of a namespace op keyed by the
 * 32-byte public key, so it reaches every member like the namespace (last
 * writer wins per key, in snapshot images too) and a newcomer is admitted by
 * nodes whose configuration nobody touched.  `node revoke KEY` writes the
 * same entry with the key no longer allowed: new handshakes are refused and
 * requests on connections already open are dropped.  Only members can write
 * entries (ops come from admitted peers), so the list is as trusted as the
 * members are.  Applied entries live in the meta CF under "ak" + key.
 *
 * Encoding (doc/format.md): u8 version (1), u8 allowed (0 or 1).
 */
#ifndef MFS_ALLOW_H
#define MFS_ALLOW_H

#include <stddef.h>
#include <stdint.h>

#define MFS_ALLOW_VERSION 1
#define MFS_ALLOW_VAL_LEN 2
#define MFS_ALLOW_KEY_LEN 32     /* a raw CURVE public key */

struct mfs_ns;

/* Checks an entry's value: 0 with *allowed, or MFS_EFORMAT. */
int mfs_allow_decode(const uint8_t *p, size_t n, int *allowed);
/* Writes (as a local op: peers get it with the next pull) whether key is
 * allowed.  Durable on return.  0 or an error. */
int mfs_ns_allow_put(struct mfs_ns *ns, const uint8_t key[MFS_ALLOW_KEY_LEN], int allowed);
/* 1 if the replicated list allows key, 0 if it does not (revoked or never
 * listed), or an error. */
int mfs_ns_allowed(struct mfs_ns *ns, const uint8_t key[MFS_ALLOW_KEY_LEN]);
/* Calls fn for every entry in key order (revoked ones too) until it returns
 * non-zero, which is returned.  0 or an error. */
typedef int (*mfs_allow_fn)(void *arg, const uint8_t key[MFS_ALLOW_KEY_LEN], int allowed);
int mfs_ns_allow_each(struct mfs_ns *ns, mfs_allow_fn fn, void *arg);

#endif
