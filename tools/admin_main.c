/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin: reports from a modelfs node, and its keys.
 *
 *   modelfs-admin status [--json | --prometheus] PATH | --data DIR
 *   modelfs-admin fsck [--json] [--deep] [--repair [--wait S]] PATH... | --data DIR
 *   modelfs-admin keygen FILE
 *   modelfs-admin setrepl [-r] N PATH...
 *   modelfs-admin getrepl [-r] [--json] PATH...
 *   modelfs-admin warmup [-j N] [--json] PATH...
 *   modelfs-admin info [--json] PATH...
 *   modelfs-admin evict [--json] PATH...
 *   modelfs-admin gc [--apply] [--grace SECONDS] [--relocate] [--json] PATH | --data DIR
 *
 * PATH is any path inside a mount: the running node answers over its
 * control socket.  --data DIR asks the node running on DIR over
 * DIR/control.sock (a storage-only peer has no mount to give), and opens
 * the store directly when no node answers there.  keygen writes a CURVE
 * key pair for the peer service (replica/curve.h).  setrepl, getrepl and
 * warmup work through the mount itself (admin_repl.c, admin_warmup.c);
 * fsck is admin_fsck.c.
 * Exit codes: fsck as fsck(8): 0 clean, 4 problems found, 8 operational
 * error, 16 usage; the others 0 ok, 1 error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "config.h"     /* autoconf: PACKAGE_VERSION */
#include "fuse/admin/status_keys.h"
#include "json.h"
#include "replica/curve.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/base/node.h"
#include "store/chunk/chunkstore.h"
#include "store/kv/db.h"
#include "store/maint/report.h"
#include "store/ns/namespace.h"

struct exit_codes {
	int ok, problems, error, usage;
};

static const struct exit_codes status_exits = { 0, 1, 1, 2 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin COMMAND [OPTIONS] (PATH | --data DIR)\n"
		"       modelfs-admin keygen FILE\n"
		"       modelfs-admin setrepl|getrepl|warmup|info|evict [OPTIONS] PATH...\n"
		"\n"
		"commands:\n"
		"  status [--json | --prometheus] PATH\n"
		"                          node, space, dedup and compression ratios, cache\n"
		"  fsck [--json] [--deep] [--repair [--wait S]] PATH...\n"
		"                          check every copy of the files' chunks on every node\n"
		"                          against their replication factors; --repair fixes\n"
		"  keygen FILE             make a CURVE key pair for the peer service: the secret\n"
		"                          key in FILE (mode 0600), the public key in FILE.pub\n"
		"  setrepl [-r] N PATH...  set the replication factor (1 to 16) of each PATH, with\n"
		"                          -r of everything below it too\n"
		"  getrepl [-r] [--json] PATH...\n"
		"                          print the replication factor of each PATH\n"
		"  warmup [-j N] [--json] PATH...\n"
		"                          read every file below each PATH, N at a time, so that\n"
		"                          the node fetches their chunks from its peers now\n"
		"  info [--json] PATH...   size, chunks, codecs, stored bytes of each PATH and\n"
		"                          how much of it this node holds\n"
		"  evict [--json] PATH...  drop this node's cached copies (disk cache, memory,\n"
		"                          page cache) of the files below each PATH\n"
		"  node list [--json] PATH | node drain|remove|activate ID PATH\n"
		"                          the cluster's members; take one out of placement\n"
		"                          (drain) or out of the cluster (remove)\n"
		"  snapshot create DIR NAME | snapshot list [PATH] | snapshot delete NAME [PATH]\n"
		"                          read-only snapshots of a tree, at MOUNT/.snapshots/NAME\n"
		"  gc [--apply] [--grace SECONDS] [--relocate] [--json] PATH\n"
		"                          free chunks no file version references (a dry run\n"
		"                          without --apply)\n"
		"\n"
		"PATH is any path inside a modelfs mount.  --data DIR asks the node running on\n"
		"the store in DIR over DIR/control.sock (a storage-only peer has no mount), or\n"
		"reads the store directly when no node answers there.  keygen never\n"
		"overwrites a file.\n"
		"COMMAND --help describes each command.\n"
		"Exit status: fsck 0 clean, 4 problems, 8 operational error, 16 usage; the\n"
		"others 0 ok, 1 error, 2 usage.  See modelfs-admin(8).\n");
}

/* ---- rendering ---------------------------------------------------------- */

/* Text by the status vocabulary (a node id such as 0001 is not a number). */
static int status_text_key(const char *k)
{
	const struct mfs_status_key *row = mfs_status_key(k);

	return row && row->kind == MFS_STATUS_TEXT;
}

/* "peer ENDPOINT NODE_ID STATE" lines as a list of objects. */
static void json_peers(struct json *j, const struct admin_report *r)
{
	json_open(j, "peers", '[');
	for (size_t i = 0; i < r->nkv; i++) {
		char ep[300], id[MFS_NODE_HEX_LEN + 1], state[16];

		if (strcmp(r->kv[i].key, "peer") ||
		    sscanf(r->kv[i].value, "%299s %16s %15s", ep, id, state) != 3)
			continue;
		json_open(j, NULL, '{');
		json_str(j, "endpoint", ep);
		json_str(j, "node_id", id);
		json_str(j, "state", state);
		json_close(j);
	}
	json_close(j);
}

static void print_json(const struct admin_report *r)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	admin_json_report(&j, r, status_text_key, "peer");
	if (admin_report_get(r, "peers_up"))
		json_peers(&j, r);
	json_end(&j);
}

/*
 * The q quantile of histogram key (store/base/histo.h) as the upper bound of
 * its bucket, "<= 250 us" or "> 10 s", in buf; "-" with no samples.
 */
static const char *quantile(const struct admin_report *r, const char *key, double q, char *buf,
			    size_t len)
{
	size_t klen = strlen(key);
	const char *c = NULL;
	double count;
	char name[128];

	snprintf(name, sizeof(name), "%s.count", key);
	if (!(c = admin_report_get(r, name)) || (count = strtod(c, NULL)) <= 0)
		return "-";
	for (size_t i = 0; i < r->nkv; i++) {
		const char *k = r->kv[i].key;
		double le;

		if (strncmp(k, key, klen) || k[klen] != '.' || strtod(r->kv[i].value, NULL) < q * count)
			continue;
		if (!strcmp(k + klen + 1, "inf"))
			break;
		if ((le = strtod(k + klen + 1, NULL)) <= 0)
			continue;
		if (le >= 1e6)
			snprintf(buf, len, "<= %g s", le / 1e6);
		else if (le >= 1e3)
			snprintf(buf, len, "<= %g ms", le / 1e3);
		else
			snprintf(buf, len, "<= %g us", le);
		return buf;
	}
	snprintf(buf, len, "> 10 s");
	return buf;
}

#define G(k) (admin_report_get(r, k) ? admin_report_get(r, k) : "?")

static void print_status(const struct admin_report *r)
{
	char b1[32], b2[32], b3[32];
	double hits = strtod(G("cache_hits"), NULL), misses = strtod(G("cache_misses"), NULL);

	long long up = strtoll(G("uptime_s"), NULL, 10);

	printf("node %s  store %s", G("node_id"), G("data_dir"));
	if (admin_report_get(r, "mountpoint") && *G("mountpoint"))
		printf("  mounted on %s", G("mountpoint"));
	printf("\n");
	printf("modelfs %s, up %lldd %02lld:%02lld:%02lld\n", G("version"), up / 86400,
	       up / 3600 % 24, up / 60 % 60, up % 60);
	printf("options        %s\n", G("options"));
	printf("files          %s (%s directories, %s symlinks)\n", G("files"), G("dirs"), G("symlinks"));
	printf("logical size   %s", admin_human_str(G("logical_bytes"), b1, sizeof(b1)));
	/* A node older than holes has no such key. */
	if (strtoull(G("hole_bytes"), NULL, 10))
		printf(" (%s in holes)", admin_human_str(G("hole_bytes"), b2, sizeof(b2)));
	printf("\n");
	printf("stored         %s in %s chunks (%s before compression)\n",
	       admin_human_str(G("stored_bytes"), b2, sizeof(b2)), G("chunks"),
	       admin_human_str(G("chunk_bytes"), b3, sizeof(b3)));
	printf("dedup ratio    %.2fx\n", strtod(G("dedup_ratio"), NULL));
	printf("compression    %.2fx (chunks:", strtod(G("compression_ratio"), NULL));
	/* Every codec the node knows, in its order, without a list to keep here. */
	for (size_t i = 0, first = 1; i < r->nkv; i++)
		if (!strncmp(r->kv[i].key, "codec_chunks.", 13)) {
			printf("%s %s %s", first ? "" : ",", r->kv[i].key + 13, r->kv[i].value);
			first = 0;
		}
	printf(")\n");
	printf("unreferenced   %s in %s chunks (old versions, until gc)\n",
	       admin_human_str(G("orphan_bytes"), b1, sizeof(b1)), G("orphan_chunks"));
	printf("disk           %s (RocksDB and pack files)", admin_human_str(G("disk_bytes"), b1, sizeof(b1)));
	if (admin_report_get(r, "fs_avail_bytes"))
		printf("; %s free of %s on the file system", admin_human_str(G("fs_avail_bytes"), b2,
		       sizeof(b2)), admin_human_str(G("fs_size_bytes"), b3, sizeof(b3)));
	if (!strcmp(G("store_disk_full"), "1"))
		printf("; FULL: under the 16 MiB the store keeps, its writes get ENOSPC");
	printf("\n");
	if (admin_report_get(r, "cache_hits"))
		printf("cache          %s of %s, hit rate %.1f%%\n",
		       admin_human_str(G("cache_bytes"), b1, sizeof(b1)),
		       admin_human_str(G("cache_capacity"), b2, sizeof(b2)),
		       hits + misses ? 100.0 * hits / (hits + misses) : 0.0);
	if (admin_report_get(r, "read_requests"))
		printf("reads          %s requests, %s; latency median %s, p99 %s\n",
		       G("read_requests"), admin_human_str(G("read_bytes"), b1, sizeof(b1)),
		       quantile(r, "read_latency_us", 0.5, b2, sizeof(b2)),
		       quantile(r, "read_latency_us", 0.99, b3, sizeof(b3)));
	if (!admin_report_get(r, "peers_up"))
		return;
	printf("listen         %s\n", *G("listen") ? G("listen") : "(none)");
	if (admin_report_get(r, "peer_security"))
		printf("peer security  %s%s\n", G("peer_security"),
		       strcmp(G("peer_security"), "insecure") ? "" :
		       " (plain TCP on a network: anyone who reaches it can read and write)");
	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, "peer"))
			printf("peer           %s\n", r->kv[i].value);
	printf("replication    %s chunks to fetch; %s chunks (%s) fetched, %s (%s) served%s\n",
	       G("repl_backlog"), G("fetched_chunks"), admin_human_str(G("fetched_bytes"), b1, sizeof(b1)),
	       G("served_chunks"), admin_human_str(G("served_bytes"), b2, sizeof(b2)),
	       !strcmp(G("repl_disk_full"), "1") ?
	       "; PAUSED: the store's disk is at the 32 MiB it keeps free" : "");
	printf("fetch latency  median %s, p99 %s\n", quantile(r, "fetch_latency_us", 0.5, b1, sizeof(b1)),
	       quantile(r, "fetch_latency_us", 0.99, b2, sizeof(b2)));
	printf("disk cache     %s of peers' chunks\n", admin_human_str(G("disk_cache_bytes"), b1, sizeof(b1)));
	printf("namespace      %s ops made here, %s applied from peers\n", G("oplog_seq"),
	       G("ops_applied"));
	printf("errors         %s failed fetches, %s bad copies from peers, %s malformed messages\n",
	       G("fetch_failures"), G("bad_copies_from_peers"), G("malformed_messages"));
}

#undef G

/* ---- offline: open the store directly ---------------------------------- */

static void add_u64(struct admin_report *r, const char *key, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	admin_report_add(r, key, buf);
}

int admin_open_store(const char *data, struct mfs_db **db, struct mfs_ns **ns)
{
	char *dbdir = NULL;
	int rc;

	*db = NULL;
	*ns = NULL;
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (asprintf(&dbdir, "%s/db", data) < 0)
		return -ENOMEM;
	if (access(dbdir, F_OK)) {
		rc = -errno;
		fprintf(stderr, "modelfs-admin: no store in %s: %s\n", data, strerror(errno));
		goto out;
	}
	rc = mfs_store_open(dbdir, db);
	if (rc == -EBUSY) {
		/* Starting or stopping, or it could not make its control socket. */
		fprintf(stderr, "modelfs-admin: the store in %s is in use by a running node that "
			"does not answer on %s/control.sock\n", data, data);
		goto out;
	}
	if (!rc)
		rc = mfs_ns_open(*db, ns);
	if (rc)
		fprintf(stderr, "modelfs-admin: %s: %s\n", data, mfs_strerror(rc));
out:
	if (rc) {
		admin_close_store(*db, *ns);
		*db = NULL;
		*ns = NULL;
	}
	free(dbdir);
	return rc;
}

void admin_close_store(struct mfs_db *db, struct mfs_ns *ns)
{
	mfs_ns_close(ns);
	mfs_db_close(db);
}

static int offline(const char *data, struct admin_report *r)
{
	struct mfs_store_stats st;
	struct mfs_db *db;
	struct mfs_ns *ns;
	char buf[32];
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = admin_open_store(data, &db, &ns)))
		return rc;
	if (!(rc = mfs_store_stats(db, &st))) {
		snprintf(buf, sizeof(buf), MFS_NODE_FMT, MFS_NODE_ARG(mfs_ns_node_id(ns)));
		admin_report_add(r, "node_id", buf);
		snprintf(buf, sizeof(buf), "%04x", mfs_ns_space(ns));
		admin_report_add(r, "ino_space", buf);
		admin_report_add(r, "data_dir", data);
		add_u64(r, "files", st.files);
		add_u64(r, "dirs", st.dirs);
		add_u64(r, "symlinks", st.symlinks);
		add_u64(r, "logical_bytes", st.logical_bytes);
		add_u64(r, "hole_bytes", st.hole_bytes);
		add_u64(r, "chunks", st.chunks);
		add_u64(r, "chunk_bytes", st.chunk_bytes);
		add_u64(r, "stored_bytes", st.stored_bytes);
		add_u64(r, "orphan_chunks", st.orphan_chunks);
		add_u64(r, "orphan_bytes", st.orphan_bytes);
		add_u64(r, "disk_bytes", st.disk_bytes);
		snprintf(buf, sizeof(buf), "%.4f", st.dedup_ratio);
		admin_report_add(r, "dedup_ratio", buf);
		snprintf(buf, sizeof(buf), "%.4f", st.compression_ratio);
		admin_report_add(r, "compression_ratio", buf);
		for (int k = 0; k < MFS_CODEC_COUNT; k++) {
			char key[64];

			snprintf(key, sizeof(key), "codec_chunks.%s", mfs_codec_name(k));
			add_u64(r, key, st.codec_chunks[k]);
		}
	} else {
		fprintf(stderr, "modelfs-admin: %s: %s\n", data, mfs_strerror(rc));
	}
	admin_close_store(db, ns);
	return rc;
}

/* ---- keygen ---------------------------------------------------------------- */

static int keygen(int argc, char **argv)
{
	char pub[MFS_CURVE_Z85_LEN + 1];
	const char *file = NULL;
	int rc;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "modelfs-admin: keygen takes one FILE, not also '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!file) {
		fprintf(stderr, "modelfs-admin: keygen needs a FILE\n");
		usage(stderr);
		return 2;
	}
	rc = mfs_curve_keygen(file, pub);
	if (rc == -EEXIST) {
		fprintf(stderr, "modelfs-admin: %s or %s.pub exists; not replacing a key\n", file,
			file);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "modelfs-admin: cannot write a key pair to %s: %s\n", file,
			mfs_strerror(rc));
		return 1;
	}
	printf("public key in %s.pub:\n%s\n", file, pub);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

/* The node's answer in r, or a message naming where: 0 or -1. */
static int node_answer(int rc, struct admin_report *r, const char *where)
{
	if (!rc && !r->rc)
		return 0;
	fprintf(stderr, "modelfs-admin: node at %s: %s\n", where,
		rc ? strerror(-rc) : r->rc_text ? r->rc_text : "error");
	admin_report_release(r);
	return -1;
}

static int status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "prometheus", no_argument, NULL, 'P' }, { "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const struct exit_codes *ex = &status_exits;
	const char *path = NULL, *data = NULL;
	struct admin_report r = { 0 };
	char sock[4096];
	int json = 0, prometheus = 0, rc, c;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return ex->ok;
		case 'J':
			json = 1;
			break;
		case 'P':
			prometheus = 1;
			break;
		case 'd':
			data = optarg;
			break;
		default:
			usage(stderr);
			return ex->usage;
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "modelfs-admin: one PATH only\n");
		usage(stderr);
		return ex->usage;
	}
	if (json && prometheus) {
		fprintf(stderr, "modelfs-admin: --json or --prometheus, not both\n");
		usage(stderr);
		return ex->usage;
	}
	if (!!path == !!data) {
		fprintf(stderr, "modelfs-admin: give a PATH inside a mount or --data DIR\n");
		usage(stderr);
		return ex->usage;
	}
	if (data) {
		/* A running node holds the store's lock: ask it, if one answers. */
		if (snprintf(sock, sizeof(sock), "%s/control.sock", data) >= (int)sizeof(sock))
			rc = -ENAMETOOLONG;
		else
			rc = admin_request(sock, "status", &r);
		if (admin_nobody_listens(rc)) {
			if (offline(data, &r))
				return ex->error;
		} else if (node_answer(rc, &r, sock)) {
			return ex->error;
		}
	} else {
		if (admin_socket_of(path, sock, sizeof(sock)))
			return ex->error;
		rc = admin_request(sock, "status", &r);
		if (node_answer(rc, &r, path))
			return ex->error;
	}
	if (prometheus) {
		rc = admin_print_prometheus(&r) ? ex->error : ex->ok;
		admin_report_release(&r);
		return rc;
	}
	if (json)
		print_json(&r);
	else
		print_status(&r);
	admin_report_release(&r);
	return ex->ok;
}

/* The commands: each takes main()'s argv (argv[1] is its name) and returns the exit status. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "status", status },
	{ "fsck", admin_cmd_fsck },
	{ "keygen", keygen },
	{ "setrepl", admin_cmd_setrepl },
	{ "getrepl", admin_cmd_getrepl },
	{ "warmup", admin_cmd_warmup },
	{ "info", admin_cmd_info },
	{ "evict", admin_cmd_evict },
	{ "gc", admin_cmd_gc },
	{ "node", admin_cmd_node },
	{ "snapshot", admin_cmd_snapshot },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("modelfs-admin %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc, argv);
	fprintf(stderr, "modelfs-admin: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
