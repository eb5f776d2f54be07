#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin info and the user.modelfs.* info attributes, one node.  A
# 12 MiB random file and a 6 MiB file of FP16 weights (normal, compressible
# in byte planes): info's size is stat's, raw bytes add up to the size,
# codec counts to the distinct chunks, the two files' stored bytes to the
# node's (status), and every chunk is local (100 %, all in the store).  The
# xattrs read with getfattr agree with --json; info.* cannot be set or
# removed, and listxattr does not show them.  A directory and a symlink;
# a path outside a mount exits 1, a bad option 2.  evict on a single node
# drops only memory and page cache: every chunk stays, the bytes read the
# same.  info -r totals a tree; its unique bytes are what gc frees once the
# tree is removed.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
command -v getfattr >/dev/null || skip_all "no getfattr"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
rsum=
wsum=
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# FP16 samples of N(0, 0.02), as trained weights look: 3 Mi values.
make_weights() {
	"$PY" - "$1" <<'PYEOF'
import random, struct, sys
random.seed(7)
with open(sys.argv[1], "wb") as f:
    for _ in range(48):
        f.write(struct.pack("<65536e", *(random.gauss(0, 0.02) for _ in range(65536))))
PYEOF
}

populate() {
	randfile "$S/r" $((12 * MiB)) && rsum=$(file_sha "$S/r") &&
	make_weights "$S/w" && wsum=$(file_sha "$S/w") &&
	mkdir -p "$M/models/llm" &&
	cp "$S/r" "$M/models/llm/random.bin" &&
	cp "$S/w" "$M/models/llm/weights.f16" &&
	ln -s llm/weights.f16 "$M/models/link"
}
check "write 12 MiB random and 6 MiB of FP16 weights" populate || mfs_abort "no files"
# With option recode=1 big chunks are stored raw at the commit and encoded by the
# background pass: wait for it, whatever the default.
check "the background encoding is done" mfs_recode_wait "$M"

# info_checks FILE WANT_SIZE: info --json of FILE is consistent with stat and itself.
info_checks() {
	expect_status 0 admin info --json "$1" || return 1
	"$PY" - "$WORK/.cmd.out" "$1" "$2" "$(stat -c %i "$1")" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
path, size, ino = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bad = []
if not isinstance(d, list) or len(d) != 1:
    sys.exit("want a list of one object, got %r" % d)
d = d[0]
def want(k, v):
    if d.get(k) != v:
        bad.append("%s: got %r, want %r" % (k, d.get(k), v))
want("path", path)
want("type", "file")
want("size", size)
want("ino", ino)
want("origin_node", "%04x" % (ino >> 48))
want("repl", 1)
want("version", 1)
want("remote_chunks", 0)
want("local_percent", 100.0)
want("local_store_percent", 100.0)
want("local_cache_percent", 0.0)
want("local_store_chunks", d.get("distinct_chunks"))
n, nd = d.get("chunks", 0), d.get("distinct_chunks", 0)
if not 1 <= nd <= n:
    bad.append("chunks %r, distinct %r" % (n, nd))
# Chunks are 256 KiB to 4 MiB: their raw lengths add up to the size.
if not size // (4 << 20) <= n <= size // (256 << 10) + 1:
    bad.append("%d chunks for %d bytes" % (n, size))
codecs = d.get("codec_chunks", {})
if sorted(codecs) != ["delta", "raw", "split2", "split4", "zstd", "zstd-bg2", "zstd-bg4"] or sum(codecs.values()) != nd:
    bad.append("codec_chunks %r do not add up to %d distinct chunks" % (codecs, nd))
if bad:
    print("\n".join(bad), file=sys.stderr)
    print(json.dumps(d), file=sys.stderr)
    sys.exit(1)
print(json.dumps(d))
PYEOF
}

random_info() {
	info_checks "$M/models/llm/random.bin" $((12 * MiB)) >"$WORK/random.json" || return 1
	# No repeated runs in random bytes: every chunk once, raw bytes = size,
	# and raw codec (each record = its bytes + a 24-byte header).
	"$PY" - "$WORK/random.json" <<'PYEOF'
import json, sys
d = json.loads(open(sys.argv[1]).read())
bad = []
if d["raw_bytes"] != d["size"]:
    bad.append("raw_bytes %d != size %d" % (d["raw_bytes"], d["size"]))
if d["codec_chunks"]["raw"] != d["distinct_chunks"]:
    bad.append("random chunks not all raw: %r" % d["codec_chunks"])
if d["stored_bytes"] != d["raw_bytes"] + 24 * d["distinct_chunks"]:
    bad.append("stored_bytes %d, want raw + 24 per chunk = %d" %
               (d["stored_bytes"], d["raw_bytes"] + 24 * d["distinct_chunks"]))
if bad:
    sys.exit("\n".join(bad))
PYEOF
}
check "info --json of the random file: size, chunks, raw = stored - headers, 100 % local" random_info

weights_info() {
	info_checks "$M/models/llm/weights.f16" $((6 * MiB)) >"$WORK/weights.json" || return 1
	"$PY" - "$WORK/weights.json" <<'PYEOF'
import json, sys
d = json.loads(open(sys.argv[1]).read())
if d["raw_bytes"] != d["size"]:
    sys.exit("raw_bytes %d != size %d" % (d["raw_bytes"], d["size"]))
# FP16 exponents compress: stored below raw, and some chunk not raw.
if not d["stored_bytes"] < d["raw_bytes"] or d["codec_chunks"]["raw"] == d["distinct_chunks"]:
    sys.exit("weights did not compress: %r" % d)
if abs(d["compression_ratio"] - d["raw_bytes"] / d["stored_bytes"]) > 0.001:
    sys.exit("compression_ratio %r, raw/stored %r" % (d["compression_ratio"], d["raw_bytes"] / d["stored_bytes"]))
PYEOF
}
check "info --json of the FP16 weights: compressed, ratio = raw / stored" weights_info

# The node stores exactly these two files' chunks: their stored bytes are the node's.
stored_sum() {
	local a b st
	a=$(json_get stored_bytes <"$WORK/random.json") &&
	b=$(json_get stored_bytes <"$WORK/weights.json") &&
	expect_status 0 admin status --json "$M" &&
	st=$(json_get stored_bytes <"$WORK/.cmd.out") &&
	expect_eq "$((a + b))" "$st" "stored bytes of the two files (info) against status"
}
check "the two files' stored bytes add up to status stored_bytes" stored_sum

xattrs() {
	local f=$M/models/llm/random.bin k
	for k in chunks distinct_chunks stored_bytes raw_bytes local_percent local_cache_percent size; do
		expect_eq "$(getfattr --absolute-names --only-values -n "user.modelfs.$k" "$f")" \
			"$(json_get "$k" <"$WORK/random.json")" "user.modelfs.$k" || return 1
	done
	expect_eq "$(getfattr --absolute-names --only-values -n user.modelfs.codec_chunks.raw "$f")" \
		"$(json_get distinct_chunks <"$WORK/random.json")" "user.modelfs.codec_chunks.raw" &&
	getfattr --absolute-names --only-values -n user.modelfs.info "$f" >"$WORK/info.txt" &&
	grep -qx "type file" "$WORK/info.txt" &&
	grep -qx "local_percent 100.0" "$WORK/info.txt" &&
	expect_errno ENODATA getxattr "$f" user.modelfs.no_such_key
}
check "getfattr reads user.modelfs.info and user.modelfs.KEY, equal to --json" xattrs

read_only() {
	local f=$M/models/llm/random.bin
	expect_errno EPERM setxattr "$f" user.modelfs.info x &&
	expect_errno EPERM setxattr "$f" user.modelfs.chunks 1 &&
	expect_errno EPERM removexattr "$f" user.modelfs.info &&
	if setfattr -n user.modelfs.info -v x "$f" 2>/dev/null; then
		echo "setfattr user.modelfs.info succeeded" >&2
		return 1
	fi
	# Like user.modelfs.control and .repl, computed names are not listed.
	if getfattr --absolute-names -d -m - "$f" 2>/dev/null | grep -q '^user\.modelfs\.'; then
		echo "listxattr shows user.modelfs.* names" >&2
		return 1
	fi
}
check "user.modelfs.info cannot be set or removed; listxattr does not show it" read_only

dir_and_link() {
	expect_status 0 admin info --json "$M/models" "$M/models/link" || return 1
	"$PY" - "$WORK/.cmd.out" "$(stat -c %i "$M/models")" "$(stat -c %i "$M/models/link")" \
		"$(stat -L -c %i "$M/models/link")" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
dino, lino = int(sys.argv[2]), int(sys.argv[3])
bad = []
if len(d) != 2:
    sys.exit("want 2 objects, got %r" % d)
if (d[0].get("type"), d[0].get("ino"), d[0].get("repl")) != ("dir", dino, 1) or "chunks" in d[0]:
    bad.append("directory: %r" % d[0])
if (d[1].get("type"), d[1].get("ino"), d[1].get("target")) != ("symlink", lino, "llm/weights.f16"):
    bad.append("symlink: %r" % d[1])
if d[1].get("origin_node") != "%04x" % (lino >> 48):
    bad.append("symlink origin_node: %r" % d[1])
if bad:
    sys.exit("\n".join(bad))
PYEOF
}
check "info of a directory (type, repl) and of a symlink (type, target)" dir_and_link

human() {
	expect_status 0 admin info "$M/models/llm/weights.f16" "$M/models" &&
	grep -q "^$M/models/llm/weights.f16\$" "$WORK/.cmd.out" &&
	grep -q "on this node  100.0%" "$WORK/.cmd.out" &&
	grep -q "type          dir" "$WORK/.cmd.out"
}
check "human output names each path and the local share" human

usage_errors() {
	expect_status 1 admin info "$WORK" &&
	grep -q "not inside a modelfs mount" "$WORK/.cmd.err" &&
	expect_status 1 admin info "$M/no/such/file" &&
	expect_status 2 admin info --bogus "$M" &&
	expect_status 2 admin info &&
	expect_status 0 admin info --help &&
	grep -q "usage: modelfs-admin info" "$WORK/.cmd.out" &&
	expect_status 2 admin evict --bogus "$M" &&
	expect_status 2 admin evict &&
	expect_status 1 admin evict "$WORK" &&
	expect_status 0 admin evict --help
}
check "outside a mount exit 1, bad option or no PATH exit 2, --help 0" usage_errors

# One node: nothing is in a disk cache, every chunk is in the store and stays.
evict_single() {
	local nd
	cat "$M/models/llm/random.bin" >/dev/null &&
	expect_status 0 admin evict --json "$M/models" || return 1
	nd=$(( $(json_get distinct_chunks <"$WORK/random.json") + $(json_get distinct_chunks <"$WORK/weights.json") ))
	expect_eq "$(json_get evicted_files <"$WORK/.cmd.out")" 2 "evicted_files" &&
	expect_eq "$(json_get evicted_disk_chunks <"$WORK/.cmd.out")" 0 "evicted_disk_chunks" &&
	expect_eq "$(json_get kept_store_chunks <"$WORK/.cmd.out")" "$nd" "kept_store_chunks" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.modelfs.memory_cache_chunks \
		"$M/models/llm/random.bin")" 0 "memory_cache_chunks after evict" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.modelfs.local_store_percent \
		"$M/models/llm/random.bin")" 100.0 "local_store_percent after evict" &&
	expect_sha "$M/models/llm/random.bin" "$rsum" &&
	expect_sha "$M/models/llm/weights.f16" "$wsum"
}
check "evict on one node keeps every stored chunk; the files read the same" evict_single


# info -r: totals of a tree.  models/ holds random.bin and weights.f16; a
# copy of weights.f16 (deduplicated: the same chunks) and a hard link of
# random.bin are added inside, and a copy of random.bin outside.  Files
# are counted once per inode, bytes over distinct chunks, and "unique" is
# what only the tree uses: after removing it, gc frees exactly that.
tree_totals() {
	local t="$WORK/tree.json" nd_r nd_w su
	cp "$M/models/llm/weights.f16" "$M/models/llm/weights-copy.f16" &&
	ln "$M/models/llm/random.bin" "$M/models/random-link.bin" &&
	mkdir -p "$M/outside" && cp "$M/models/llm/random.bin" "$M/outside/random.bin" &&
	expect_status 0 admin info -r "$M/models" &&
	grep -q "only here" "$WORK/.cmd.out" &&
	expect_status 0 admin info -r --json "$M/models" || return 1
	"$PY" -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[0]))' <"$WORK/.cmd.out" >"$t" &&
	nd_r=$(json_get distinct_chunks <"$WORK/random.json") &&
	nd_w=$(json_get distinct_chunks <"$WORK/weights.json") &&
	expect_eq "$(json_get type <"$t")" tree "type" &&
	expect_eq "$(json_get files <"$t")" 3 "files (a hard link counts once)" &&
	expect_eq "$(json_get dirs <"$t")" 1 "dirs" &&
	expect_eq "$(json_get logical_bytes <"$t")" $((12 * MiB + 2 * 6 * MiB)) "logical_bytes" &&
	expect_eq "$(json_get distinct_chunks <"$t")" $((nd_r + nd_w)) "distinct_chunks" &&
	expect_eq "$(json_get raw_bytes <"$t")" $((12 * MiB + 6 * MiB)) "raw_bytes (dedup inside)" &&
	expect_eq "$(json_get unique_chunks <"$t")" "$nd_w" "unique_chunks (random.bin is also outside)" &&
	expect_eq "$(json_get local_percent <"$t")" 100.0 "local_percent" &&
	expect_eq "$(json_get codec_chunks.raw <"$t")" "$nd_r" "codec_chunks.raw" &&
	su=$(json_get unique_stored_bytes <"$t") &&
	expect_status 1 admin info -r "$M/models/link" &&
	rm -rf "$M/models" &&
	expect_status 0 admin gc --apply --grace=0 --json "$M" &&
	expect_eq "$(json_get freed_bytes <"$WORK/.cmd.out")" "$su" "gc freed what info -r called unique" &&
	expect_sha "$M/outside/random.bin" "$rsum"
}
check "info -r: totals of a tree, unique bytes are what gc frees after rm -r" tree_totals

mfs_done
