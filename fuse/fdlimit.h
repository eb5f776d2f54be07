/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's limit on open files; see fdlimit.c. */
#ifndef MFS_FDLIMIT_H
#define MFS_FDLIMIT_H

/*
 * Raises this process's soft limit on open files to its hard limit (at
 * most FDLIMIT_CAP).  Call before the store opens; fdlimit_report() logs
 * what was done once the log is open.
 */
void fdlimit_raise(void);
void fdlimit_report(void);

#endif
