/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inode spaces (doc/replication.md, "Node ids and inode spaces").  Inode
 * numbers are space << 48 | counter; the 16-bit space is chosen per store
 * apart from the 64-bit node id, so two nodes may pick the same one.  Every
 * message carries its sender's space: a node that hears a lower id use its
 * space numbers its new inodes in a fresh one, not used by any inode it
 * holds nor announced by any peer it knows.  The lower id keeps the space,
 * so of two nodes that meet exactly one moves.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "replica"

/* A space no inode held here and no known peer uses; 0 if none is left. */
static uint16_t fresh_space(struct mfs_replica *r)
{
	uint8_t *used = malloc(8192);
	uint16_t pick = 0;
	int rc;

	if (!used)
		return 0;
	if ((rc = mfs_ns_spaces_used(r->ns, used))) {
		log_warn("cannot list the inode spaces in use: %s", mfs_strerror(rc));
		goto out;
	}
	used[0] |= 1; /* space 0: the root and lost+found */
	for (int i = 0; i < r->npeers; i++) {
		uint16_t s;

		pthread_mutex_lock(&r->peers[i].lock);
		s = r->peers[i].space;
		pthread_mutex_unlock(&r->peers[i].lock);
		used[s / 8] |= (uint8_t)(1u << (s % 8));
	}
	/* Random first (a joiner choosing at the same time is unlikely to pick
	 * the same), then the first free one. */
	for (int tries = 0; tries < 64 && !pick; tries++) {
		uint16_t s = (uint16_t)mfs_node_random();

		if (!(used[s / 8] & (1u << (s % 8))))
			pick = s;
	}
	for (uint32_t s = 1; s <= 0xffff && !pick; s++)
		if (!(used[s / 8] & (1u << (s % 8))))
			pick = (uint16_t)s;
out:
	free(used);
	return pick;
}

void spaces_heard(struct mfs_replica *r, mfs_node_t id, uint16_t space)
{
	uint16_t was, now;
	int rc;

	if (id == r->self || space != mfs_ns_space(r->ns))
		return;
	pthread_mutex_lock(&r->space_lock);
	was = mfs_ns_space(r->ns);
	if (id > r->self && r->space_noted != id) {
		r->space_noted = id; /* once, not on every message */
		log_info("node " MFS_NODE_FMT " numbers its inodes in our space %04x: it moves "
			 "(the lower id keeps a space)", MFS_NODE_ARG(id), space);
	} else if (id < r->self && was == space) {
		now = fresh_space(r);
		rc = now ? mfs_ns_set_space(r->ns, now) : -ENOSPC;
		if (!rc) {
			r->space_changes++;
			/* members_refresh writes our record again, with the new space. */
			__atomic_store_n(&r->space_moved, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&r->members_dirty, 1, __ATOMIC_RELAXED);
			log_warn("node " MFS_NODE_FMT " numbers its inodes in space %04x too and its "
				 "id is lower: new inodes here are numbered in space %04x",
				 MFS_NODE_ARG(id), was, now);
		} else {
			log_error("node " MFS_NODE_FMT " shares inode space %04x and no other could "
				  "be taken: %s", MFS_NODE_ARG(id), was, mfs_strerror(rc));
		}
	}
	pthread_mutex_unlock(&r->space_lock);
}
