/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node ids (doc/replication.md, "Node ids").  A node id is 64 bits, never
 * 0: derived from the node's CURVE public key where it has one (so one id
 * per key, and a peer's claimed id can be checked against the key that
 * authenticated it), random at store creation otherwise.  Op-log origins,
 * stamps, version vectors and the wire header carry it whole.
 *
 * Inode numbers do not: they are space << 48 | counter, where the 16-bit
 * inode space is chosen per store apart from the id (store/ns/namespace.h).
 *
 * Printed everywhere as 16 lowercase hex digits: printf(MFS_NODE_FMT,
 * MFS_NODE_ARG(id)).
 */
#ifndef MFS_NODE_H
#define MFS_NODE_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t mfs_node_t;

#define MFS_NODE_FMT "%016llx"
#define MFS_NODE_ARG(id) ((unsigned long long)(id))
#define MFS_NODE_HEX_LEN 16

/* The id of a CURVE public key (32 bytes): the first 8 bytes of its SHA-256, big
 * endian; never 0 (a hash of 0 becomes 1).  0 or -ENOMEM. */
int mfs_node_from_key(const uint8_t key[32], mfs_node_t *id);
/* A random id, never 0. */
mfs_node_t mfs_node_random(void);
/* Parses exactly 16 hex digits: 0 or -EINVAL. */
int mfs_node_parse(const char *s, mfs_node_t *out);

#endif
