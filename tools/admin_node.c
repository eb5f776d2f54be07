/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modelfs-admin node: the cluster's member table (store/ns/member.h) as the
 * running node knows it, and an admin's changes to it, through the control
 * socket (requests `nodes`, `node-state ID STATE`, `allow KEY` and `revoke
 * KEY`, doc/format.md), and the cluster's allow-list of CURVE keys
 * (store/ns/allow.h).  A change is a namespace op: every member applies it,
 * whichever node is asked.
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
		"       modelfs-admin node allow|revoke KEY (PATH | --data DIR)\n"
		"\n"
		"list: every member of the cluster as the node serving PATH (or running\n"
		"on DIR) knows it: node id, state (joining, active, draining, gone), how\n"
		"this node reaches it (self, up, down, none), endpoint and CURVE key.\n"
		"drain: the node stays up but owns nothing: its chunks move to their next\n"
		"owners.  remove: the node is gone: out of placement, not contacted.\n"
		"activate: undoes either.\n"
		"allow: admits the CURVE public KEY (40 characters of Z85, or a FILE.pub\n"
		"that modelfs-admin keygen wrote) on every member, as if each one's\n"
		"authorized_keys listed it: a new node with that key joins by naming any\n"
		"member.  revoke: takes that back; requests on its open connections are\n"
		"refused too.  list shows the allowed keys after the members.\n"
		"A change reaches every member with the op log.\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n");
}

struct node_args {
	const char *path, *data, *verb, *id;
	char key[64];  /* allow, revoke: the key, read from a file if one was named */
	int json;
};

static const char *const verbs[] = { "list", "drain", "remove", "activate", "allow", "revoke",
				     NULL };
static const char *const key_verbs[] = { "allow", "revoke", NULL };

static int is_verb(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(v, *set))
			return 1;
	return 0;
}

/* KEY as given, or the first word of the file KEY names: 0, or -1 (said why). */
static int key_arg(const char *arg, char key[64])
{
	FILE *f;
	int n;

	if (strlen(arg) == 40 && !strchr(arg, '/')) {
		snprintf(key, 64, "%s", arg);
		return 0;
	}
	if (!(f = fopen(arg, "r"))) {
		fprintf(stderr, "modelfs-admin: %s: neither a key (40 characters) nor a readable "
			"file\n", arg);
		return -1;
	}
	n = fscanf(f, "%63s", key);
	fclose(f);
	if (n != 1 || strlen(key) != 40) {
		fprintf(stderr, "modelfs-admin: %s: no public key in it\n", arg);
		return -1;
	}
	return 0;
}

/* 0 to go on, else the exit status (after --help, or a usage error). */
static int parse(int argc, char **argv, struct node_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'J' },
		{ "data", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	const char *want;
	int c;

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
	if (!a->verb || !is_verb(a->verb, verbs)) {
		fprintf(stderr, "modelfs-admin: node needs list, drain, remove, activate, allow or "
			"revoke\n");
		node_usage(stderr);
		return 2;
	}
	if (strcmp(a->verb, "list") && optind < argc)
		a->id = argv[optind++];
	if (optind < argc)
		a->path = argv[optind++];
	want = !strcmp(a->verb, "list") ? "" : is_verb(a->verb, key_verbs) ?
		"a KEY (or FILE.pub) and " : "a node ID (hex, as node list shows it) and ";
	if (optind < argc || (*want && !a->id) ||
	    (*want && !is_verb(a->verb, key_verbs) &&
	     (strlen(a->id) > MFS_NODE_HEX_LEN || !*a->id ||
	      strspn(a->id, "0123456789abcdefABCDEF") != strlen(a->id)))) {
		fprintf(stderr, "modelfs-admin: node %s takes %sone PATH\n", a->verb, want);
		node_usage(stderr);
		return 2;
	}
	if (is_verb(a->verb, key_verbs) && key_arg(a->id, a->key))
		return 2;
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
		json_open(&j, "allowed", '[');
	} else {
		printf("\n%-40s %s\n", "ALLOWED KEY (node allow)", "STATE");
	}
	for (size_t i = 0; i < r->nkv; i++) {
		if (strcmp(r->kv[i].key, "allowed") ||
		    sscanf(r->kv[i].value, "%63s %15s", key, state) != 2)
			continue;
		if (!as_json) {
			printf("%-40s %s\n", key, state);
			continue;
		}
		json_open(&j, NULL, '{');
		json_str(&j, "key", key);
		json_str(&j, "state", state);
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
	if (admin_socket_for(a.data, a.path, sock, sizeof(sock)))
		return 1;
	if (!strcmp(a.verb, "list"))
		snprintf(req, sizeof(req), "nodes");
	else if (is_verb(a.verb, key_verbs))
		snprintf(req, sizeof(req), "%s %s", a.verb, a.key);
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
	else if (!ex && is_verb(a.verb, key_verbs))
		printf("key %s: %s\n", a.key, !strcmp(a.verb, "allow") ? "allowed" : "revoked");
	else if (!ex)
		printf("node %s: %s\n", a.id, !strcmp(a.verb, "drain") ? "draining" :
		       !strcmp(a.verb, "remove") ? "gone" : "active");
	admin_report_release(&r);
	return ex;
}
