/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status lines to the Prometheus text format (prom.h).  What each key
 * becomes (name, type, help) is its row in the status vocabulary
 * (status_keys.c); keys not there fall back to a gauge modelfs_KEY.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "status_keys.h"

#define GAUGE "gauge"
#define COUNTER "counter"

struct family {
	char *name, *help;
	const char *type;
	char **samples;       /* "name{labels} value" lines */
	size_t n;
};

struct exposition {
	struct family *fam;
	size_t n;
	int nomem;
};

static struct family *family(struct exposition *x, const char *name, const char *type,
			     const char *help)
{
	struct family *f;

	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->fam[i].name, name))
			return &x->fam[i];
	if (!(f = realloc(x->fam, (x->n + 1) * sizeof(*f)))) {
		x->nomem = 1;
		return NULL;
	}
	x->fam = f;
	f = &x->fam[x->n];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help);
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		x->nomem = 1;
		return NULL;
	}
	x->n++;
	return f;
}

/* A sample of family f named name (the family's, or a histogram's _bucket, _sum, _count). */
static void add_sample_named(struct exposition *x, struct family *f, const char *name,
			     const char *labels, const char *value)
{
	char **s, *line;

	if (!f)
		return;
	if (asprintf(&line, "%s%s %s", name, labels, value) < 0) {
		x->nomem = 1;
		return;
	}
	if (!(s = realloc(f->samples, (f->n + 1) * sizeof(*s)))) {
		free(line);
		x->nomem = 1;
		return;
	}
	f->samples = s;
	s[f->n++] = line;
}

static void add_sample(struct exposition *x, struct family *f, const char *labels,
		       const char *value)
{
	if (f)
		add_sample_named(x, f, f->name, labels, value);
}

/* A status value that Prometheus reads as a number: a whole, finite decimal. */
static int is_number(const char *v)
{
	char *end;

	if (!*v)
		return 0;
	strtod(v, &end);
	return !*end && strspn(v, "0123456789.-+eE") == strlen(v);
}

/* v as a label value: backslash, double quote and newline escaped.  Caller frees. */
static char *label_value(const char *v)
{
	char *out = malloc(2 * strlen(v) + 1), *p = out;

	if (!out)
		return NULL;
	for (; *v; v++) {
		if (*v == '\\' || *v == '"') {
			*p++ = '\\';
			*p++ = *v;
		} else if (*v == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else {
			*p++ = *v;
		}
	}
	*p = 0;
	return out;
}

/* `peer ENDPOINT NODE_ID STATE` */
static void add_peer(struct exposition *x, const struct mfs_status_key *k, const char *v)
{
	char ep[512], id[32], state[32], *lep = NULL, *lid = NULL, *labels = NULL;
	struct family *f;

	if (sscanf(v, "%511s %31s %31s", ep, id, state) != 3)
		return;
	f = family(x, k->metric, GAUGE, k->help);
	if (!(lep = label_value(ep)) || !(lid = label_value(id)) ||
	    asprintf(&labels, "{endpoint=\"%s\",node=\"%s\"}", lep, lid) < 0) {
		labels = NULL;
		x->nomem = 1;
	} else {
		add_sample(x, f, labels, strcmp(state, "up") ? "0" : "1");
	}
	free(lep);
	free(lid);
	free(labels);
}

/* Any other numeric key: the gauge modelfs_KEY (characters outside [a-zA-Z0-9_] become _). */
static void add_other(struct exposition *x, const char *key, const char *value)
{
	char name[160], help[256];
	size_t n = snprintf(name, sizeof(name), "modelfs_%s", key);

	if (n >= sizeof(name) || !is_number(value))
		return;
	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	snprintf(help, sizeof(help), "Status key %s of the node.", name + strlen("modelfs_"));
	add_sample(x, family(x, name, GAUGE, help), "", value);
}

/* A TEXT key that labels modelfs_node_info: appended to *info_labels. */
static void add_label(struct exposition *x, const char *key, const char *value, char **info_labels)
{
	char *lv, *grown;

	if (!(lv = label_value(value)) ||
	    asprintf(&grown, "%s%s%s=\"%s\"", *info_labels ? *info_labels : "",
		     *info_labels ? "," : "", key, lv) < 0) {
		free(lv);
		x->nomem = 1;
		return;
	}
	free(lv);
	free(*info_labels);
	*info_labels = grown;
}

/* "KEY.NAME value": one sample of k's family, labelled k->label="NAME". */
static void add_grouped(struct exposition *x, const struct mfs_status_key *k, const char *name,
			const char *value)
{
	char *lv = label_value(name), *labels = NULL;

	if (!lv || asprintf(&labels, "{%s=\"%s\"}", k->label, lv) < 0) {
		labels = NULL;
		x->nomem = 1;
	} else {
		add_sample(x, family(x, k->metric, GAUGE, k->help), labels, value);
	}
	free(lv);
	free(labels);
}

/*
 * "KEY.LE n", "KEY.inf n", "KEY.sum us", "KEY.count n" (store/base/histo.h):
 * the family k->metric as a histogram in seconds.
 */
static void add_histogram(struct exposition *x, const struct mfs_status_key *k, const char *part,
			  const char *value)
{
	struct family *f = family(x, k->metric, "histogram", k->help);
	char name[200], labels[64], v[64];

	labels[0] = 0;
	if (!strcmp(part, "sum")) {
		snprintf(name, sizeof(name), "%s_sum", k->metric);
		snprintf(v, sizeof(v), "%.6f", strtod(value, NULL) / 1e6);
		value = v;
	} else if (!strcmp(part, "count")) {
		snprintf(name, sizeof(name), "%s_count", k->metric);
	} else {
		snprintf(name, sizeof(name), "%s_bucket", k->metric);
		if (!strcmp(part, "inf"))
			snprintf(labels, sizeof(labels), "{le=\"+Inf\"}");
		else
			snprintf(labels, sizeof(labels), "{le=\"%g\"}", strtod(part, NULL) / 1e6);
	}
	add_sample_named(x, f, name, labels, value);
}

static void add_line(struct exposition *x, char *line, char **info_labels)
{
	char *value = strchr(line, ' ');
	const char *key = line, *dot;
	const struct mfs_status_key *k;

	if (!value)
		return;
	*value++ = 0;
	if (!strcmp(key, "end") || !strcmp(key, "problem"))
		return;
	if (!(k = mfs_status_key(key))) {
		add_other(x, key, value);
		return;
	}
	dot = strchr(key, '.');
	switch (k->kind) {
	case MFS_STATUS_PEER:
		add_peer(x, k, value);
		break;
	case MFS_STATUS_TEXT:
		if (k->label)
			add_label(x, k->label, value, info_labels);
		break;
	case MFS_STATUS_GROUP:
		if (is_number(value))
			add_grouped(x, k, dot + 1, value);
		break;
	case MFS_STATUS_HISTOGRAM:
		if (is_number(value))
			add_histogram(x, k, dot + 1, value);
		break;
	default:
		if (is_number(value) && k->metric)
			add_sample(x, family(x, k->metric, k->kind == MFS_STATUS_COUNTER ? COUNTER : GAUGE,
					     k->help), "", value);
	}
}

int mfs_prom_write(const char *text, FILE *out)
{
	struct exposition x = { 0 };
	char *copy = strdup(text), *line, *save = NULL, *info_labels = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		add_line(&x, line, &info_labels);
	if (info_labels) {
		char *labels = NULL;
		struct family *f = family(&x, "modelfs_node_info", GAUGE,
					  "Always 1; the labels name the node, its store and mountpoint.");

		if (asprintf(&labels, "{%s}", info_labels) < 0)
			x.nomem = 1;
		else
			add_sample(&x, f, labels, "1");
		free(labels);
	}
	for (size_t i = 0; i < x.n; i++) {
		struct family *f = &x.fam[i];

		if (f->n) {
			fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
			for (size_t k = 0; k < f->n; k++)
				fprintf(out, "%s\n", f->samples[k]);
		}
		for (size_t k = 0; k < f->n; k++)
			free(f->samples[k]);
		free(f->samples);
		free(f->name);
		free(f->help);
	}
	free(x.fam);
	free(info_labels);
	free(copy);
	if (x.nomem)
		rc = -ENOMEM;
	else if (fflush(out) || ferror(out))
		rc = -EIO;
	return rc;
}
