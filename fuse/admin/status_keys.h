/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status vocabulary: every key a node's status report may carry, with
 * its kind, unit and meaning, in one table.  The daemon writes these keys
 * (fuse/admin/control.c, replica/node.c), prom.c turns them into Prometheus
 * metrics, and modelfs-admin renders them as text and JSON; each reads
 * this table rather than a list of its own.  A new status line is a new
 * row here (t0925 fails on a key the table does not know).
 */
#ifndef MFS_STATUS_KEYS_H
#define MFS_STATUS_KEYS_H

enum mfs_status_kind {
	MFS_STATUS_TEXT,       /* a string; label of modelfs_node_info when labelled */
	MFS_STATUS_GAUGE,
	MFS_STATUS_COUNTER,    /* only grows while the daemon runs */
	MFS_STATUS_GROUP,      /* "KEY.NAME N" lines: one gauge, labelled NAME */
	MFS_STATUS_HISTOGRAM,  /* "KEY.LE N" ... lines (store/base/histo.h) */
	MFS_STATUS_PEER,       /* "peer ENDPOINT NODE_ID STATE", one line per peer */
};

enum mfs_status_unit {
	MFS_UNIT_NONE,         /* a count, a ratio, or text */
	MFS_UNIT_BYTES,
	MFS_UNIT_SECONDS,
	MFS_UNIT_MICROSECONDS, /* histograms: exported in seconds */
};

struct mfs_status_key {
	const char *key;
	enum mfs_status_kind kind;
	enum mfs_status_unit unit;
	const char *metric;    /* Prometheus name; NULL: not exported */
	const char *label;     /* GROUP: the label's name; TEXT: non-NULL makes it a node_info label */
	const char *help;
};

/* The row of key ("KEY.NAME" finds a GROUP or HISTOGRAM KEY), or NULL. */
const struct mfs_status_key *mfs_status_key(const char *key);

#endif
