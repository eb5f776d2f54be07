/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin node: the cluster's member table (store/ns/member.h) as the
 * running node knows it, and an admin's changes to it, through the control
 * socket (requests `nodes` and `node-state ID STATE`, doc/format.md).  A
 * change is a namespace op: every member applies it, whichever node is
 * asked.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"
#include "store/base/node.h"

static void node_usage(FILE *f)
{
	fprintf(f,
		"usage: modelfs-admin node list [--json] (PATH | --data DIR)\n"
		"       modelfs-admin node drain|remove|activate ID (PATH | --data DIR)\n"
		"\n"
		"list: every member of the cluster as the node serving PATH (or running\n"
		"on DIR) knows it: node id, state (joining, active, draining, gone), how\n"
		"this node reaches it (self, up, down, none), endpoint and CURVE key.\n"
		"drain: the node stays up but owns nothing: its chunks move to their next\n"
		"owners.  remove: the node is gone: out of placement, not contacted.\n"
		"activate: undoes either.  A change reaches every member with the op log.\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n");
}

struct node_args {
	const char *path, *data, *verb, *id;
	int json;
};

/* 0 to go on, else the exit status (after --help, or a usage error). */
static int parse(int argc, char **argv, struct node_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "data", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	int c, want;

	argc--, argv++;
	while ((c = admin_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			node_usage(stdout);
			return -1;
		} else if (c == 'J') {
			a->json = 1;
		} else if (c == 'd') {
			a->data = optarg;
		} else {
			node_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		a->verb = argv[optind++];
	if (!a->verb || (strcmp(a->verb, "list") && strcmp(a->verb, "drain") &&
			 strcmp(a->verb, "remove") && strcmp(a->verb, "activate"))) {
		fprintf(stderr, "modelfs-admin: node needs list, drain, remove or activate\n");
		node_usage(stderr);
		return 2;
	}
	if (strcmp(a->verb, "list") && optind < argc)
		a->id = argv[optind++];
	if (optind < argc)
		a->path = argv[optind++];
	want = strcmp(a->verb, "list") ? 1 : 0;
	if (optind < argc || (want && (!a->id || strlen(a->id) > MFS_NODE_HEX_LEN || !*a->id ||
				       strspn(a->id, "0123456789abcdefABCDEF") != strlen(a->id)))) {
		fprintf(stderr, "modelfs-admin: node %s takes %sone PATH\n", a->verb,
			want ? "a node ID (hex, as node list shows it) and " : "");
		node_usage(stderr);
		return 2;
	}
	if (!!a->path == !!a->data) {
		fprintf(stderr, "modelfs-admin: give a PATH inside a mount or --data DIR\n");
		node_usage(stderr);
		return 2;
	}
	return 0;
}

/* "member ID STATE ENDPOINT KEY CONN" values split; 0 or -1. */
static int split(const char *v, char id[MFS_NODE_HEX_LEN + 1], char state[16], char ep[300],
		 char key[64], char conn[16])
{
	return sscanf(v, "%16s %15s %299s %63s %15s", id, state, ep, key, conn) == 5 ? 0 : -1;
}

static void print_list(const struct admin_report *r, int as_json)
{
	char id[MFS_NODE_HEX_LEN + 1], state[16], ep[300], key[64], conn[16];
	struct json j;

	if (as_json) {
		json_init(&j, stdout);
		json_open(&j, NULL, '{');
		json_open(&j, "nodes", '[');
	} else {
		printf("%-16s %-9s %-6s %-30s %s\n", "NODE", "STATE", "LINK", "ENDPOINT", "KEY");
	}
	for (size_t i = 0; i < r->nkv; i++) {
		if (strcmp(r->kv[i].key, "member") ||
		    split(r->kv[i].value, id, state, ep, key, conn))
			continue;
		if (!as_json) {
			printf("%-16s %-9s %-6s %-30s %s\n", id, state, conn, ep, key);
			continue;
		}
		json_open(&j, NULL, '{');
		json_str(&j, "node_id", id);
		json_str(&j, "state", state);
		json_str(&j, "link", conn);
		json_str(&j, "endpoint", ep);
		json_str_or_null(&j, "key", strcmp(key, "-") ? key : NULL);
		json_close(&j);
	}
	if (as_json) {
		json_close(&j);
		json_close(&j);
		json_end(&j);
	}
}

int admin_cmd_node(int argc, char **argv)
{
	struct node_args a = { 0 };
	struct admin_report r = { 0 };
	char sock[4096], req[64];
	int rc = parse(argc, argv, &a), ex = 1;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.data) {
		if (snprintf(sock, sizeof(sock), "%s/control.sock", a.data) >= (int)sizeof(sock)) {
			fprintf(stderr, "modelfs-admin: %s: path too long\n", a.data);
			return 1;
		}
	} else if (admin_socket_of(a.path, sock, sizeof(sock))) {
		return 1;
	}
	if (!strcmp(a.verb, "list"))
		snprintf(req, sizeof(req), "nodes");
	else
		snprintf(req, sizeof(req), "node-state %s %s", a.id,
			 !strcmp(a.verb, "drain") ? "draining" :
			 !strcmp(a.verb, "remove") ? "gone" : "active");
	rc = admin_request(sock, req, &r);
	if (a.data && admin_nobody_listens(rc))
		fprintf(stderr, "modelfs-admin: no node runs on %s\n", a.data);
	else if (rc || r.rc)
		fprintf(stderr, "modelfs-admin: node at %s: %s\n", a.data ? sock : a.path,
			rc ? strerror(-rc) : r.rc_text ? r.rc_text : "error");
	else
		ex = 0;
	if (!ex && !strcmp(a.verb, "list"))
		print_list(&r, a.json);
	else if (!ex)
		printf("node %s: %s\n", a.id, !strcmp(a.verb, "drain") ? "draining" :
		       !strcmp(a.verb, "remove") ? "gone" : "active");
	admin_report_release(&r);
	return ex;
}
