/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's status in the Prometheus text exposition format (version
 * 0.0.4): the one converter from the status report's "key value" lines
 * (doc/format.md, "Control endpoint protocol") to `modelfs_*` metrics,
 * used by `modelfs-admin status --prometheus` and by the daemon's
 * metrics_file.  Here, below every layer that makes status lines, so that
 * both can reach it.
 */
#ifndef MFS_PROM_H
#define MFS_PROM_H

#include <stdio.h>

/*
 * Writes the metrics of the status lines in text (each "key value", one
 * per line; a trailing "end ..." line and lines that are not status keys
 * are ignored) to f: every metric family once, with its # HELP and # TYPE
 * lines before its samples.  Known keys get their names and types (see
 * prom.c); any other key with a numeric value becomes the gauge
 * modelfs_KEY, so new status lines are exported without changes here.
 * Returns 0, -ENOMEM, or -EIO if f reports a write error.
 */
int mfs_prom_write(const char *text, FILE *f);

#endif
