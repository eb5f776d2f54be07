/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin gc: asks the running node (through its control socket,
 * request "gc", doc/format.md) to reclaim the chunks no file version
 * references, or, by default, to say what it would reclaim.  The rules
 * that hold chunks back are the node's (store/maint/gc.h); this file parses the
 * command line and renders the answer.  There is no offline gc: only the
 * running node knows what its peers have reached and what is open.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"
#include "store/base/node.h"
#include "store/maint/gc.h"

static void gc_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin gc [--apply] [--grace SECONDS] [--relocate] [--json]\n"
		"                        (PATH | --data DIR)\n"
		"\n"
		"Reclaims the chunks that no file version references, on the node that\n"
		"serves PATH's mount (or runs on the store in DIR).  Without --apply it only\n"
		"reports what it would free now and what it holds back, and why: a version\n"
		"open on this node, the grace period (gc_grace_s, default 3600 s since the\n"
		"chunk was first seen unreferenced, by any gc run), or a peer that has not\n"
		"yet pulled this node's namespace state.  It also drops this node's copies\n"
		"of chunks beyond their files' factors (other nodes own them) once they\n"
		"have been so for the grace period and enough owners confirm a good copy.\n"
		"--relocate also rewrites the blob files that hold freed chunks next to\n"
		"live ones (copies every live chunk once).\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n");
}

#define G(k) (admin_report_get(r, k) ? admin_report_get(r, k) : "?")

static void print_human(const struct admin_report *r)
{
	char b1[32], b2[32], b3[32];
	int apply = !strcmp(G("apply"), "1");

	if (apply)
		printf("freed          %s chunks (%s), %s disk cache files (%s)\n", G("freed_chunks"),
		       admin_human_str(G("freed_bytes"), b1, sizeof(b1)), G("cache_freed_chunks"),
		       admin_human_str(G("cache_freed_bytes"), b2, sizeof(b2)));
	else
		printf("dry run        would free %s chunks (%s) now; --apply frees them\n",
		       G("free_chunks"), admin_human_str(G("free_bytes"), b1, sizeof(b1)));
	printf("unreferenced   %s chunks (%s) in the store, %s in the disk cache\n",
	       G("unreferenced_chunks"), admin_human_str(G("unreferenced_bytes"), b1, sizeof(b1)),
	       G("cache_unreferenced"));
	printf("held back      %s chunks (%s) open here, %s (%s) in their grace period",
	       G("held_open_chunks"), admin_human_str(G("held_open_bytes"), b1, sizeof(b1)),
	       G("held_grace_chunks"), admin_human_str(G("held_grace_bytes"), b2, sizeof(b2)));
	if (strcmp(G("grace_next_s"), "0"))
		printf(" (next due in %s s)", G("grace_next_s"));
	printf(", %s (%s) waiting for peers\n", G("held_peers_chunks"),
	       admin_human_str(G("held_peers_bytes"), b3, sizeof(b3)));
	for (size_t i = 0; i < r->nkv; i++) {
		char ep[300], id[MFS_NODE_HEX_LEN + 1], state[16];
		unsigned long long held;

		if (strcmp(r->kv[i].key, "gc_peer") ||
		    sscanf(r->kv[i].value, "%299s %16s %15s %llu", ep, id, state, &held) != 4)
			continue;
		printf("peer           %s (node %s): %s", ep, id,
		       !strcmp(state, "unknown")  ? "never answered" :
		       !strcmp(state, "silent")   ? "has not pulled since this node started" :
		       !strcmp(state, "behind")   ? "has not reached this node's state" :
						    "has reached this node's state");
		if (held)
			printf(", holds back %llu chunks", held);
		printf("\n");
	}
	if (admin_report_get(r, "trim_candidates")) {
		printf("beyond factor  %s copies (%s) held here that other nodes own",
		       G("trim_candidates"), admin_human_str(G("trim_candidate_bytes"), b1, sizeof(b1)));
		if (apply)
			printf(": %s dropped (%s)", G("trim_dropped_chunks"),
			       admin_human_str(G("trim_dropped_bytes"), b2, sizeof(b2)));
		else
			printf(": %s would go now", G("trim_confirmed"));
		printf("; held back %s in their grace period, %s not confirmed kept elsewhere, "
		       "%s open here%s\n", G("trim_held_grace"), G("trim_unconfirmed"),
		       G("trim_held_open"),
		       strcmp(G("trim_skipped"), "0") ? " (not looked at: a peer's id is unknown)" : "");
	}
	if (strcmp(G("referenced_again"), "0"))
		printf("kept           %s chunks referenced again when rechecked\n",
		       G("referenced_again"));
	printf("disk           %s before, %s after (RocksDB files)\n",
	       admin_human_str(G("disk_bytes_before"), b1, sizeof(b1)),
	       admin_human_str(G("disk_bytes_after"), b2, sizeof(b2)));
}

#undef G

static void print_json(const struct admin_report *r)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	admin_json_report(&j, r, NULL, "gc_peer");
	json_open(&j, "peers", '[');
	for (size_t i = 0; i < r->nkv; i++) {
		char ep[300], id[MFS_NODE_HEX_LEN + 1], state[16];
		unsigned long long held;

		if (strcmp(r->kv[i].key, "gc_peer") ||
		    sscanf(r->kv[i].value, "%299s %16s %15s %llu", ep, id, state, &held) != 4)
			continue;
		json_open(&j, NULL, '{');
		json_str(&j, "endpoint", ep);
		json_str(&j, "node_id", id);
		json_str(&j, "state", state);
		json_u64(&j, "held_chunks", held);
		json_close(&j);
	}
	json_end(&j);
}

/* Every value but gc_peer lines is a decimal: a node that says otherwise is not understood. */
static int report_ok(const struct admin_report *r)
{
	for (size_t i = 0; i < r->nkv; i++) {
		const char *v = r->kv[i].value;

		if (!strcmp(r->kv[i].key, "gc_peer"))
			continue;
		if (!*v || strspn(v, "0123456789") != strlen(v))
			return 0;
	}
	return admin_report_get(r, "freed_chunks") != NULL;
}

struct gc_args {
	const char *path, *data;
	int apply, relocate, json;
	long grace;
};

/* 0 to go on, else the exit status (after --help, or a usage error). */
static int parse(int argc, char **argv, struct gc_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "apply", no_argument, NULL, 'A' },
		{ "relocate", no_argument, NULL, 'L' }, { "json", no_argument, NULL, 'J' },
		{ "grace", required_argument, NULL, 'G' }, { "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->grace = -1;
	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			gc_usage(stdout);
			return -1;
		} else if (c == 'A') {
			a->apply = 1;
		} else if (c == 'L') {
			a->relocate = 1;
		} else if (c == 'J') {
			a->json = 1;
		} else if (c == 'd') {
			a->data = optarg;
		} else if (c != 'G' || admin_parse_long(optarg, 0, (long)MFS_GC_MAX_GRACE_S, &a->grace)) {
			if (c == 'G')
				fprintf(stderr, "modelfs-admin: --grace takes seconds, 0 or more\n");
			gc_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		a->path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "modelfs-admin: one PATH only\n");
		gc_usage(stderr);
		return 2;
	}
	if (!!a->path == !!a->data) {
		fprintf(stderr, "modelfs-admin: give a PATH inside a mount or --data DIR\n");
		gc_usage(stderr);
		return 2;
	}
	return 0;
}

/* The node's gc answer in r: 0, or -1 after saying why not. */
static int ask(const struct gc_args *a, struct admin_report *r)
{
	char sock[4096], req[128];
	const char *where;
	int rc;

	if (admin_socket_for(a->data, a->path, sock, sizeof(sock)))
		return -1;
	where = a->data ? sock : a->path;
	snprintf(req, sizeof(req), "gc%s%s", a->apply ? " apply" : "", a->relocate ? " relocate" : "");
	if (a->grace >= 0)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), " grace=%ld", a->grace);
	rc = admin_request(sock, req, r);
	if (a->data && admin_nobody_listens(rc)) {
		fprintf(stderr, "modelfs-admin: no node runs on %s: gc needs the running node "
			"(only it knows what is open and what its peers have)\n", a->data);
		return -1;
	}
	if (rc || r->rc) {
		fprintf(stderr, "modelfs-admin: node at %s: %s\n", where,
			rc ? strerror(-rc) : r->rc_text ? r->rc_text : "error");
		return -1;
	}
	if (!report_ok(r)) {
		fprintf(stderr, "modelfs-admin: node at %s: malformed gc answer\n", where);
		return -1;
	}
	return 0;
}

int admin_cmd_gc(int argc, char **argv)
{
	struct gc_args a = { 0 };
	struct admin_report r = { 0 };
	int rc = parse(argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (ask(&a, &r)) {
		admin_report_release(&r);
		return 1;
	}
	if (a.json)
		print_json(&r);
	else
		print_human(&r);
	admin_report_release(&r);
	return 0;
}
