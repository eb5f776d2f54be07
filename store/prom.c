/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status lines to the Prometheus text format (prom.h).  Names follow the
 * Prometheus conventions: a `modelfs_` prefix, base units (bytes), `_total`
 * on counters.  The key names of the status report are the contract here:
 * the table below must change together with fuse/control.c and
 * replica/node.c when a key is renamed (a new key needs no entry).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

#define GAUGE "gauge"
#define COUNTER "counter"

struct known_key {
	const char *key, *name, *type, *help;
};

static const struct known_key known[] = {
	{ "uptime_s", "modelfs_uptime_seconds", GAUGE, "Seconds since the daemon started." },
	{ "files", "modelfs_files", GAUGE, "Regular files in the namespace." },
	{ "dirs", "modelfs_dirs", GAUGE, "Directories in the namespace." },
	{ "symlinks", "modelfs_symlinks", GAUGE, "Symbolic links in the namespace." },
	{ "logical_bytes", "modelfs_logical_bytes", GAUGE, "Sum of the sizes of all files." },
	{ "chunks", "modelfs_chunks", GAUGE, "Distinct chunks referenced by files and held in the store." },
	{ "chunk_bytes", "modelfs_chunk_bytes", GAUGE, "Raw bytes of those chunks." },
	{ "stored_bytes", "modelfs_stored_bytes", GAUGE, "Record bytes of those chunks (after compression)." },
	{ "orphan_chunks", "modelfs_orphan_chunks", GAUGE, "Stored chunks no file references." },
	{ "orphan_bytes", "modelfs_orphan_bytes", GAUGE, "Record bytes of the chunks no file references." },
	{ "disk_bytes", "modelfs_disk_bytes", GAUGE, "Size of the store on disk: RocksDB files and pack files." },
	{ "dedup_ratio", "modelfs_dedup_ratio", GAUGE, "Logical bytes over distinct chunk bytes." },
	{ "compression_ratio", "modelfs_compression_ratio", GAUGE, "Chunk bytes over stored bytes." },
	{ "cache_hits", "modelfs_cache_hits_total", COUNTER, "Chunk reads served by the memory cache." },
	{ "cache_misses", "modelfs_cache_misses_total", COUNTER, "Chunk reads the memory cache missed." },
	{ "cache_bytes", "modelfs_cache_bytes", GAUGE, "Bytes in the memory chunk cache." },
	{ "cache_capacity", "modelfs_cache_capacity_bytes", GAUGE, "Capacity of the memory chunk cache." },
	{ "peers_up", "modelfs_peers_up", GAUGE, "Peers answering now." },
	{ "repl_backlog", "modelfs_repl_backlog_chunks", GAUGE, "Chunks this node should fetch (owned, or to warm)." },
	{ "fetched_chunks", "modelfs_fetched_chunks_total", COUNTER, "Chunks fetched from peers." },
	{ "fetched_bytes", "modelfs_fetched_bytes_total", COUNTER, "Record bytes fetched from peers." },
	{ "served_chunks", "modelfs_served_chunks_total", COUNTER, "Chunks served to peers." },
	{ "served_bytes", "modelfs_served_bytes_total", COUNTER, "Record bytes served to peers." },
	{ "fetch_failures", "modelfs_fetch_failures_total", COUNTER, "Chunk reads no peer could serve." },
	{ "bad_copies_from_peers", "modelfs_bad_copies_from_peers_total", COUNTER, "Chunks from peers that failed verification." },
	{ "malformed_messages", "modelfs_malformed_messages_total", COUNTER, "Malformed peer messages dropped." },
	{ "ops_applied", "modelfs_ops_applied_total", COUNTER, "Namespace ops applied from peers." },
	{ "oplog_seq", "modelfs_oplog_seq", GAUGE, "Namespace ops originated on this node." },
	{ "disk_cache_chunks", "modelfs_disk_cache_chunks", GAUGE, "Peers' chunks in the disk cache." },
	{ "disk_cache_bytes", "modelfs_disk_cache_bytes", GAUGE, "Bytes in the disk cache." },
	{ "disk_cache_limit", "modelfs_disk_cache_limit_bytes", GAUGE, "Size limit of the disk cache." },
	{ "disk_cache_evicted", "modelfs_disk_cache_evicted_total", COUNTER, "Chunks the disk cache dropped to stay under its limit." },
};

/* Keys whose values are text: labels of modelfs_node_info. */
static const char *const info_keys[] = { "node_id", "version", "data_dir", "mountpoint",
					 "listen" };

#define CODEC_PREFIX "codec_chunks."

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

static void add_sample(struct exposition *x, struct family *f, const char *labels,
		       const char *value)
{
	char **s, *line;

	if (!f)
		return;
	if (asprintf(&line, "%s%s %s", f->name, labels, value) < 0) {
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
static void add_peer(struct exposition *x, const char *v)
{
	char ep[512], id[32], state[32], *lep = NULL, *lid = NULL, *labels = NULL;
	struct family *f;

	if (sscanf(v, "%511s %31s %31s", ep, id, state) != 3)
		return;
	f = family(x, "modelfs_peer_up", GAUGE,
		   "Whether the peer at endpoint (node id node) answers now (0: down or not yet seen).");
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

static void add_line(struct exposition *x, char *line, char **info_labels)
{
	char *value = strchr(line, ' ');
	const char *key = line;

	if (!value)
		return;
	*value++ = 0;
	if (!strcmp(key, "end") || !strcmp(key, "problem"))
		return;
	if (!strcmp(key, "peer")) {
		add_peer(x, value);
		return;
	}
	for (size_t i = 0; i < sizeof(info_keys) / sizeof(info_keys[0]); i++) {
		char *lv, *grown;

		if (strcmp(key, info_keys[i]))
			continue;
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
		return;
	}
	if (!is_number(value))
		return;
	if (!strncmp(key, CODEC_PREFIX, strlen(CODEC_PREFIX))) {
		char *lv = label_value(key + strlen(CODEC_PREFIX)), *labels = NULL;

		if (!lv || asprintf(&labels, "{codec=\"%s\"}", lv) < 0) {
			labels = NULL;
			x->nomem = 1;
		} else {
			add_sample(x, family(x, "modelfs_codec_chunks", GAUGE,
					     "Stored chunks referenced by files, by codec."),
				   labels, value);
		}
		free(lv);
		free(labels);
		return;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(key, known[i].key)) {
			add_sample(x, family(x, known[i].name, known[i].type, known[i].help), "",
				   value);
			return;
		}
	}
	add_other(x, key, value);
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
