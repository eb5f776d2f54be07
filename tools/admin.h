/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin internals.  A report is a list of key/value pairs plus
 * problem lines, whether it came from a running node's control socket
 * (admin_client.c) or from a store opened offline; admin_main.c renders it
 * for humans or as JSON.
 */
#ifndef MFS_ADMIN_H
#define MFS_ADMIN_H

#include <stddef.h>

struct admin_kv {
	char *key, *value;
};

struct admin_report {
	struct admin_kv *kv;
	size_t nkv;
	char **problems;       /* "KIND HASH PATH" lines */
	size_t nproblems;
	int rc;                /* the node's result: 0 or a negative errno */
	char *rc_text;
};

void admin_report_release(struct admin_report *r);
int admin_report_add(struct admin_report *r, const char *key, const char *value);
int admin_report_add_problem(struct admin_report *r, const char *line);
/* Value of key or NULL (borrowed). */
const char *admin_report_get(const struct admin_report *r, const char *key);

/*
 * The control socket of the mount that holds path (from the
 * user.modelfs.control xattr).  Returns 0 or -errno; -ENOTSUP/-ENODATA
 * mean path is not inside a modelfs mount.
 */
int admin_find_socket(const char *path, char *out, size_t outlen);
/* The same, saying why on stderr when there is none ("not inside a modelfs mount"): 0 or -1. */
int admin_socket_of(const char *path, char *out, size_t outlen);
/* The control socket of the node whose store is data (--data), or else of path's mount: 0 or -1 (said why). */
int admin_socket_for(const char *data, const char *path, char *out, size_t outlen);
/*
 * The node's inode number of path, whose stat is st: what control requests
 * name.  Not st_ino: a rewritten file keeps its st_ino (its file id) while
 * each version has an inode number of its own; the user.modelfs.ino xattr
 * names the current one.  Directories and symlinks have st_ino.
 */
struct stat;
unsigned long long admin_ino_of(const char *path, const struct stat *st);

/*
 * Sends request to the socket and parses the answer into r.  Returns 0 or
 * -errno; connect(2)'s error when it could not connect, and then nothing
 * was sent (see admin_nobody_listens()).
 */
int admin_request(const char *socket_path, const char *request, struct admin_report *r);
/*
 * The same, and calls on_progress with the VALUE of each `progress` line as
 * it arrives (long requests report how far they are; admin_request drops
 * these lines).
 */
int admin_request_watch(const char *socket_path, const char *request, struct admin_report *r,
			void (*on_progress)(void *arg, const char *value), void *arg);

/*
 * Whether admin_request()'s rc means no node listens there: no socket file
 * (-ENOENT, -ENOTDIR), a socket left by a node that died (-ECONNREFUSED), or
 * a path too long for a socket (-ENAMETOOLONG: a node could not bind it).
 */
int admin_nobody_listens(int rc);

struct option;
/*
 * getopt_long over one command's arguments, argv[0] being the command
 * (main's argv + 1): options and operands in any order, "--" ends the
 * options.  Returns the option's value, -1 after the last (the operands
 * are then argv[optind..argc-1]), or '?' after saying on stderr what is
 * wrong (an unknown option, a missing value).
 */
int admin_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

struct json;
/*
 * r's pairs as members of j's open object: numbers as numbers unless
 * text_key(key) says text; "a.b" keys in a row as one object "a"; a key
 * equal to skip (may be NULL) left out.
 */
void admin_json_report(struct json *j, const struct admin_report *r, int (*text_key)(const char *),
		       const char *skip);

#endif
