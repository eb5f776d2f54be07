/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus converter (fuse/admin/prom.c) on fixed status lines: whole
 * expected output for a small report (names, types, HELP before TYPE
 * before samples, each family once), peers and codecs as labels, text keys
 * as node_info labels with escaping, unknown numeric keys as gauges, and
 * lines that are not metrics ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/admin/prom.h"
#include "tap.h"

/* The exposition of text, malloc'ed (NULL on failure). */
static char *convert(const char *text, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		tap_bail("open_memstream");
	*rc = mfs_prom_write(text, f);
	fclose(f);
	return out;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

int main(void)
{
	int rc;
	char *out;

	out = convert("node_id 1a2b\nfiles 3\ncache_hits 10\nend 0 ok\n", &rc);
	is_int(rc, 0, "a small report converts");
	ok(out && !strcmp(out,
			  "# HELP modelfs_files Regular files in the namespace.\n"
			  "# TYPE modelfs_files gauge\n"
			  "modelfs_files 3\n"
			  "# HELP modelfs_cache_hits_total Chunk reads served by the memory cache.\n"
			  "# TYPE modelfs_cache_hits_total counter\n"
			  "modelfs_cache_hits_total 10\n"
			  "# HELP modelfs_node_info Always 1; the labels name the node, its store and mountpoint.\n"
			  "# TYPE modelfs_node_info gauge\n"
			  "modelfs_node_info{node_id=\"1a2b\"} 1\n"),
	   "names, types, HELP/TYPE/sample order, node_info; the end line ignored");
	free(out);

	out = convert("codec_chunks.raw 4\npeer tcp://10.0.0.2:7700 00ff up\nfiles 1\n"
		      "codec_chunks.zstd 2\npeer tcp://10.0.0.3:7700 0000 unknown\n", &rc);
	is_int(rc, 0, "codecs and peers convert");
	ok(out && strstr(out, "modelfs_codec_chunks{codec=\"raw\"} 4\n"
				  "modelfs_codec_chunks{codec=\"zstd\"} 2\n"),
	   "codec samples are together under one family, in order");
	ok(out && count(out, "# TYPE modelfs_codec_chunks gauge\n") == 1, "one TYPE for the codecs");
	ok(out && strstr(out, "modelfs_peer_up{endpoint=\"tcp://10.0.0.2:7700\",node=\"00ff\"} 1\n"
				  "modelfs_peer_up{endpoint=\"tcp://10.0.0.3:7700\",node=\"0000\"} 0\n"),
	   "peers: up is 1, anything else 0, with endpoint and node labels");
	free(out);

	out = convert("data_dir /srv/a \"b\\c\nmountpoint \ngc_freed_bytes 42\nweird.key-x 1.5\n"
		      "problem corrupt abc /x\nnot_a_number abc\nnovalue\n", &rc);
	is_int(rc, 0, "odd lines convert");
	ok(out && strstr(out, "modelfs_node_info{data_dir=\"/srv/a \\\"b\\\\c\",mountpoint=\"\"} 1\n"),
	   "label values escaped (quote, backslash), an empty one kept");
	ok(out && strstr(out, "# TYPE modelfs_gc_freed_bytes gauge\nmodelfs_gc_freed_bytes 42\n"),
	   "an unknown numeric key becomes a gauge");
	ok(out && strstr(out, "\nmodelfs_weird_key_x 1.5\n"), "characters outside [a-zA-Z0-9_] become _");
	ok(out && !strstr(out, "problem") && !strstr(out, "not_a_number") && !strstr(out, "novalue"),
	   "problem lines, text values and lines without a value are left out");
	free(out);

	out = convert("", &rc);
	is_int(rc, 0, "an empty report converts");
	ok(out && !*out, "to nothing");
	free(out);
	return done_testing();
}
