/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may talk to this node under CURVE: a peer whose key this node's
 * authorized_keys file lists, or that the cluster's replicated allow-list
 * allows (store/ns/allow.h: `modelfs-admin node allow KEY` on any member).
 * Asked at every handshake (the ZAP handler), for every request (so a
 * revoked key loses the connections it already has), and before this node
 * contacts a member it learned of from the member table.
 */
#include <string.h>

#include "internal.h"
#include "curve.h"
#include "store/base/log.h"
#include "store/ns/allow.h"

#define LOG_COMPONENT "replica"

static int listed(const struct mfs_replica *r, const uint8_t key[MFS_CURVE_KEY_LEN])
{
	for (size_t i = 0; r->authkeys && i < r->authkeys->n; i++)
		if (!memcmp(r->authkeys->keys[i].public_raw, key, MFS_CURVE_KEY_LEN))
			return 1;
	return 0;
}

/* The cluster's list alone: the ZAP handler looks in the file itself. */
int admit_by_cluster(void *arg, const uint8_t key[MFS_CURVE_KEY_LEN])
{
	struct mfs_replica *r = arg;
	int rc = mfs_ns_allowed(r->ns, key);

	if (rc < 0)
		log_warn("reading the allow-list: %d; the key is refused", rc);
	return rc == 1;
}

int admit_key(struct mfs_replica *r, const char *z85)
{
	uint8_t raw[MFS_CURVE_KEY_LEN];

	if (!z85 || mfs_curve_key_decode(z85, raw))
		return 0;
	return listed(r, raw) || admit_by_cluster(r, raw);
}
