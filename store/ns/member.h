/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster membership as data (doc/replication.md, "Membership").
 *
 * Each node of a cluster has one member record: its node id, the endpoint
 * its peers connect to, its CURVE public key (if it has one) and a state.
 * Records travel as 'N' entries of namespace ops (store/ns/oplog.h), so they
 * converge like the namespace (last writer wins per node id) and reach a
 * node through any member.  A node writes its own record when it joins or
 * its endpoint or key changes; an admin writes another's state (drain,
 * remove) on any node.  Applied records live in the meta CF under "mb" +
 * node id (u64 BE); an 'N' entry's key is the node id (u64 BE).
 *
 * Encoding (doc/format.md): u8 version (1), u8 state, u16 inode space
 * (1..65535: the space the node numbers its new inodes in), u8 endpoint
 * length (1..255), endpoint (printable ASCII, no spaces), u8 key length
 * (0 or 40), the Z85 public key.
 */
#ifndef MFS_MEMBER_H
#define MFS_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "store/base/node.h"

#define MFS_MEMBER_VERSION 1
#define MFS_MEMBER_MAX_LEN (6 + 255 + 40)
#define MFS_MEMBER_ID_LEN 8   /* an 'N' entry's key: the node id, u64 BE */
#define MFS_MEMBER_KEY_LEN 40

/* Stored values: never renumber. */
enum mfs_member_state {
	MFS_MEMBER_JOINING = 0,  /* announced, has not pulled from a peer yet */
	MFS_MEMBER_ACTIVE = 1,
	MFS_MEMBER_DRAINING = 2, /* out of placement: its chunks move to their next owners */
	MFS_MEMBER_GONE = 3,     /* removed: out of placement, not contacted */
	MFS_MEMBER_STATES
};

struct mfs_member {
	mfs_node_t id;
	uint8_t state;
	uint16_t space;                      /* its inode space (ino_space) */
	char endpoint[256];                  /* "tcp://host:port" */
	char key[MFS_MEMBER_KEY_LEN + 1];    /* Z85, "" without CURVE */
};

const char *mfs_member_state_name(uint8_t state);
/* A state by name ("joining", ...): 0 with *state, or -EINVAL. */
int mfs_member_state_parse(const char *name, uint8_t *state);

/* Encodes m (id excluded: it is the entry's key) into out; its length, or -EINVAL. */
int mfs_member_encode(const struct mfs_member *m, uint8_t out[MFS_MEMBER_MAX_LEN]);
/* Decodes untrusted bytes into *m (id set to `id`): 0 or MFS_EFORMAT. */
int mfs_member_decode(mfs_node_t id, const uint8_t *p, size_t n, struct mfs_member *m);

struct mfs_ns;
/*
 * Writes m as a local namespace op (one 'N' entry): peers get it with the
 * next pull.  Durable on return.  0 or an error.
 */
int mfs_ns_member_put(struct mfs_ns *ns, const struct mfs_member *m);
/* The record of node id: 0, -ENOENT, or an error. */
int mfs_ns_member_get(struct mfs_ns *ns, mfs_node_t id, struct mfs_member *m);
/* Every record held, by node id; *out (caller frees) gets *n.  0 or an error. */
int mfs_ns_members(struct mfs_ns *ns, struct mfs_member **out, int *n);

#endif
