/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin commands that work through the mount itself rather than
 * the control socket: setrepl and getrepl (admin_repl.c), warmup
 * (admin_warmup.c), info (admin_info.c), and the tree walk they share
 * (admin_tree.c); evict (admin_evict.c) walks the mount and asks the
 * control socket file by file.
 */
#ifndef MFS_ADMIN_CMDS_H
#define MFS_ADMIN_CMDS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#define ADMIN_REPL_XATTR "user.modelfs.repl"
#define ADMIN_REPL_MAX 16

/* Each takes main()'s argv (argv[1] is the command) and returns the exit status. */
int admin_cmd_setrepl(int argc, char **argv);
int admin_cmd_getrepl(int argc, char **argv);
int admin_cmd_warmup(int argc, char **argv);
int admin_cmd_fsck(int argc, char **argv);

struct mfs_db;
struct mfs_ns;
/* Opens a stopped node's store in DATA (says why not on stderr): 0 or -errno. */
int admin_open_store(const char *data, struct mfs_db **db, struct mfs_ns **ns);
void admin_close_store(struct mfs_db *db, struct mfs_ns *ns);

int admin_cmd_info(int argc, char **argv);
int admin_cmd_evict(int argc, char **argv);

/* b bytes as "1.5 MiB" in buf (admin_client.c); returns buf. */
const char *admin_human_bytes(double b, char *buf, size_t len);
/* The same for a decimal string (a report's value; NULL counts as 0). */
const char *admin_human_str(const char *v, char *buf, size_t len);

struct admin_report;
/* status --prometheus (admin_prom.c): r in the Prometheus text format on stdout.  0 or -1. */
int admin_print_prometheus(const struct admin_report *r);
int admin_cmd_gc(int argc, char **argv);      /* admin_gc.c (control socket) */
int admin_cmd_node(int argc, char **argv);    /* admin_node.c (control socket) */
int admin_cmd_snapshot(int argc, char **argv); /* admin_snapshot.c (control socket) */

/* s as a decimal in [min, max]: 0, or -1 if it is anything else. */
int admin_parse_long(const char *s, long min, long max, long *out);

/*
 * Called for a path given on the command line (top set; st from stat(2),
 * so a symlink there is followed) and, when recursing, for every entry
 * below it but symlinks and other mounts (st from lstat(2)).  path names
 * the entry in messages; at names it for system calls during the call
 * (path itself, unless that is PATH_MAX or longer).  Returns 0, or -1
 * after saying why on stderr.
 */
typedef int (*admin_walk_fn)(void *arg, const char *path, const char *at, const struct stat *st,
			     int top);

/*
 * Checks that path is inside a modelfs mount, then calls fn for it and,
 * with recurse, for what is below it, in name order, parents first.
 * Keeps going after a failure; returns how many there were (each already
 * reported on stderr).
 */
size_t admin_walk(const char *path, int recurse, admin_walk_fn fn, void *arg);

/* open(2) of a path of any length (a walk's path may pass PATH_MAX); errno set on -1. */
int admin_open_long(const char *path, int flags);

#endif
