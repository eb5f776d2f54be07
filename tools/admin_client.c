/* SPDX-License-Identifier: Apache-2.0 */
/* Control-socket client and report container for modelfs-admin. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmds.h"
#include "json.h"

void admin_report_release(struct admin_report *r)
{
	for (size_t i = 0; i < r->nkv; i++) {
		free(r->kv[i].key);
		free(r->kv[i].value);
	}
	for (size_t i = 0; i < r->nproblems; i++)
		free(r->problems[i]);
	free(r->kv);
	free(r->problems);
	free(r->rc_text);
	memset(r, 0, sizeof(*r));
}

int admin_report_add(struct admin_report *r, const char *key, const char *value)
{
	struct admin_kv *kv = realloc(r->kv, (r->nkv + 1) * sizeof(*kv));

	if (!kv)
		return -ENOMEM;
	r->kv = kv;
	kv[r->nkv].key = strdup(key);
	kv[r->nkv].value = strdup(value);
	if (!kv[r->nkv].key || !kv[r->nkv].value)
		return -ENOMEM;
	r->nkv++;
	return 0;
}

int admin_report_add_problem(struct admin_report *r, const char *line)
{
	char **p = realloc(r->problems, (r->nproblems + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	r->problems = p;
	if (!(p[r->nproblems] = strdup(line)))
		return -ENOMEM;
	r->nproblems++;
	return 0;
}

const char *admin_report_get(const struct admin_report *r, const char *key)
{
	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].key, key))
			return r->kv[i].value;
	return NULL;
}

int admin_find_socket(const char *path, char *out, size_t outlen)
{
	ssize_t n = getxattr(path, "user.modelfs.control", out, outlen - 1);

	if (n < 0)
		return -errno;
	out[n] = 0;
	return 0;
}

unsigned long long admin_ino_of(const char *path, const struct stat *st)
{
	char v[32];
	ssize_t n;

	if (!S_ISREG(st->st_mode) || (n = getxattr(path, "user.modelfs.ino", v, sizeof(v) - 1)) <= 0)
		return (unsigned long long)st->st_ino;
	v[n] = 0;
	return strtoull(v, NULL, 10);
}

int admin_socket_of(const char *path, char *out, size_t outlen)
{
	int rc = admin_find_socket(path, out, outlen);

	if (!rc)
		return 0;
	if (rc == -ENOTSUP || rc == -ENODATA)
		fprintf(stderr, "modelfs-admin: %s is not inside a modelfs mount\n", path);
	else
		fprintf(stderr, "modelfs-admin: %s: %s\n", path, strerror(-rc));
	return -1;
}

int admin_socket_for(const char *data, const char *path, char *out, size_t outlen)
{
	if (!data)
		return admin_socket_of(path, out, outlen);
	if (snprintf(out, outlen, "%s/control.sock", data) >= (int)outlen) {
		fprintf(stderr, "modelfs-admin: %s: path too long\n", data);
		return -1;
	}
	return 0;
}

int admin_request(const char *socket_path, const char *request, struct admin_report *r)
{
	return admin_request_watch(socket_path, request, r, NULL, NULL);
}

int admin_request_watch(const char *socket_path, const char *request, struct admin_report *r,
			void (*on_progress)(void *arg, const char *value), void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[8192];
	FILE *f = NULL;
	int fd, rc = -EPROTO;

	memset(r, 0, sizeof(*r));
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!(f = fdopen(fd, "r+"))) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "%s\n", request);
	fflush(f);
	while (fgets(line, sizeof(line), f)) {
		char *sp;

		line[strcspn(line, "\n")] = 0;
		if (!(sp = strchr(line, ' ')))
			continue;
		*sp++ = 0;
		if (!strcmp(line, "end")) {
			r->rc = atoi(sp);
			r->rc_text = strdup(strchr(sp, ' ') ? strchr(sp, ' ') + 1 : sp);
			rc = 0;
			break;
		}
		if (!strcmp(line, "progress")) {
			if (on_progress)
				on_progress(arg, sp);
		} else if (!strcmp(line, "problem"))
			admin_report_add_problem(r, sp);
		else
			admin_report_add(r, line, sp);
	}
	fclose(f);
	return rc; /* -EPROTO when the node closed without an end line */
}

int admin_nobody_listens(int rc)
{
	return rc == -ENOENT || rc == -ENOTDIR || rc == -ECONNREFUSED || rc == -ENAMETOOLONG;
}

const char *admin_human_bytes(double b, char *buf, size_t len)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;

	while (b >= 1024 && u < 5) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
	return buf;
}

const char *admin_human_str(const char *v, char *buf, size_t len)
{
	return admin_human_bytes(v ? strtod(v, NULL) : 0, buf, len);
}

/*
 * The report's pairs as members of the open object: numbers as numbers
 * (but keys text_key names), and "a.b" keys in a row as one object "a":
 * {"b": ...}, as status and info both shape their per-codec counts.  A key
 * skip names (repeated lines, rendered by the caller) is left out.
 */
void admin_json_report(struct json *j, const struct admin_report *r, int (*text_key)(const char *),
		       const char *skip)
{
	const char *group = NULL;
	size_t glen = 0;

	for (size_t i = 0; i < r->nkv; i++) {
		const char *k = r->kv[i].key, *v = r->kv[i].value, *dot = strchr(k, '.');

		if (skip && !strcmp(k, skip))
			continue;
		if (group && (!dot || (size_t)(dot - k) != glen || strncmp(k, group, glen))) {
			json_close(j);
			group = NULL;
		}
		if (dot && !group) {
			char name[128];

			group = k;
			glen = (size_t)(dot - k);
			snprintf(name, sizeof(name), "%.*s", (int)glen, k);
			json_open(j, name, '{');
		}
		if (text_key && text_key(k))
			json_str(j, dot ? dot + 1 : k, v);
		else
			json_auto(j, dot ? dot + 1 : k, v);
	}
	if (group)
		json_close(j);
}

int admin_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	char spec[64];
	int c;

	/* ':' first: a missing value comes back as ':', and getopt says nothing itself. */
	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == '?') {
		if (optopt)
			fprintf(stderr, "modelfs-admin: %s: unknown option '-%c'\n", argv[0], optopt);
		else
			fprintf(stderr, "modelfs-admin: %s: unknown option '%s'\n", argv[0],
				argv[optind - 1]);
	} else if (c == ':') {
		fprintf(stderr, "modelfs-admin: %s: option '%s' needs a value\n", argv[0],
			argv[optind - 1]);
		c = '?';
	}
	return c;
}
