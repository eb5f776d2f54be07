/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin status --prometheus: the status report in the Prometheus
 * text format.  The conversion is fuse/admin/prom.c's, the one the daemon's
 * metrics_file uses too; this only turns the report back into its lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_cmds.h"
#include "fuse/admin/prom.h"

int admin_print_prometheus(const struct admin_report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		return -1;
	for (size_t i = 0; i < r->nkv; i++)
		fprintf(f, "%s %s\n", r->kv[i].key, r->kv[i].value);
	if (fclose(f)) {
		free(text);
		return -1;
	}
	rc = mfs_prom_write(text, stdout);
	free(text);
	return rc ? -1 : 0;
}
