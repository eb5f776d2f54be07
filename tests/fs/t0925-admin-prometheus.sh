#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Prometheus text exposition of the status, one node.  `status
# --prometheus` (through the mount, and with --data while the node runs)
# is checked line by line against the text format (metric and label name
# grammar, # HELP and # TYPE once per family and before its samples, each
# family's samples together, numeric values, counters named _total) and
# against the JSON status (files, bytes, codec labels).  The daemon's
# metrics_file (metrics_interval_s=1) appears, is the same exposition, is
# replaced by rename (a new inode each time, never a partial file) as the
# counts change, and is removed when the node stops.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
P=$WORK/metrics/modelfs.prom
mkdir -p "$WORK/metrics"
check "mount with metrics_file" mfs_mount "$M" "$D" "metrics_file=$P,metrics_interval_s=1" ||
	mfs_abort "no mount"

populate() {
	randfile "$WORK/src/r" $((3 * MiB)) &&
	mkdir "$M/d" && cp "$WORK/src/r" "$M/d/a" &&
	head -c $((2 * MiB)) /dev/zero >"$M/z"
}
check "write two files" populate || mfs_abort "no files"
# The zeros are stored raw at the commit and encoded by the background pass:
# done first, so that the two views compared below see one state.
check "the background encoding is done" mfs_recode_wait "$M"

# check_exposition FILE: FILE follows the Prometheus text format, version 0.0.4.
check_exposition() {
	"$PY" - "$1" <<'PYEOF'
import math, re, sys
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
text = open(sys.argv[1]).read()
bad, helps, types, done, current = [], {}, {}, set(), None
hist, counts = {}, {}
if not text.endswith("\n"):
    bad.append("does not end with a newline")
for n, line in enumerate(text.splitlines(), 1):
    m = HELP.match(line)
    if m:
        if m.group(1) in helps:
            bad.append("%d: second HELP for %s" % (n, m.group(1)))
        if m.group(1) in types:
            bad.append("%d: HELP after TYPE for %s" % (n, m.group(1)))
        helps[m.group(1)] = n
        continue
    m = TYPE.match(line)
    if m:
        name = m.group(1)
        if name in types:
            bad.append("%d: second TYPE for %s" % (n, name))
        types[name] = m.group(2)
        if m.group(2) == "counter" and not name.endswith("_total"):
            bad.append("%d: counter %s does not end in _total" % (n, name))
        continue
    if line.startswith("#") or not line:
        bad.append("%d: unexpected line %r" % (n, line))
        continue
    m = SAMPLE.match(line)
    if not m:
        bad.append("%d: not a sample: %r" % (n, line))
        continue
    name, value = m.group(1), m.group(3)
    for suffix in ("_bucket", "_sum", "_count"):  # a histogram's samples are its family's
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            if suffix == "_bucket":
                le = re.search(r'le="([^"]*)"', m.group(2) or "")
                hist.setdefault(base, []).append((le.group(1) if le else None, float(value)))
            elif suffix == "_count":
                counts[base] = float(value)
            name = base
    if name not in types or name not in helps:
        bad.append("%d: sample of %s before its HELP and TYPE" % (n, name))
    if name != current:
        if name in done:
            bad.append("%d: samples of %s are not together" % (n, name))
        if current:
            done.add(current)
        current = name
    if not name.startswith("modelfs_"):
        bad.append("%d: %s lacks the modelfs_ prefix" % (n, name))
    try:
        v = float(value)
        if math.isnan(v):
            raise ValueError
    except ValueError:
        bad.append("%d: value %r of %s is not a number" % (n, value, name))
for base, buckets in hist.items():
    if any(le is None for le, _ in buckets) or buckets[-1][0] != "+Inf":
        bad.append("%s: buckets without le, or not ending at +Inf" % base)
    elif [v for _, v in buckets] != sorted(v for _, v in buckets):
        bad.append("%s: buckets not cumulative" % base)
    elif buckets[-1][1] != counts.get(base):
        bad.append("%s: +Inf bucket %r is not _count %r" % (base, buckets[-1][1], counts.get(base)))
if not types:
    bad.append("no metrics at all")
if bad:
    print("\n".join(bad[:30]), file=sys.stderr)
    sys.exit(1)
PYEOF
}

# prom_value FILE NAME [LABELS]: the value of one sample.
prom_value() {
	awk -v s="$2${3:-}" '$1 == s { print $2 }' "$1"
}

exposition() {
	expect_status 0 admin status --prometheus "$M/d" &&
	cp "$WORK/.cmd.out" "$WORK/status.prom" &&
	check_exposition "$WORK/status.prom"
}
check "status --prometheus follows the text format" exposition

matches_json() {
	local prom=$WORK/status.prom js
	expect_status 0 admin status --json "$M" && js=$WORK/.cmd.out &&
	expect_eq "$(prom_value "$prom" modelfs_files)" "$(json_get files <"$js")" files &&
	expect_eq "$(prom_value "$prom" modelfs_logical_bytes)" $((5 * MiB)) logical_bytes &&
	expect_eq "$(prom_value "$prom" modelfs_stored_bytes)" "$(json_get stored_bytes <"$js")" stored_bytes &&
	expect_eq "$(prom_value "$prom" modelfs_codec_chunks '{codec="raw"}')" \
		"$(json_get codec_chunks.raw <"$js")" "codec raw" &&
	expect_eq "$(prom_value "$prom" modelfs_codec_chunks '{codec="zstd"}')" \
		"$(json_get codec_chunks.zstd <"$js")" "codec zstd" &&
	grep -q '^# TYPE modelfs_cache_hits_total counter$' "$prom" &&
	grep -qE "^modelfs_node_info\{node_id=\"$(json_get node_id <"$js")\",version=\"$(json_get version <"$js")\",data_dir=\"$D\",mountpoint=\"$M\"\} 1$" "$prom" &&
	grep -qE '^modelfs_uptime_seconds [0-9]+$' "$prom"
}
check "its values are the status's: files, bytes, codec labels, node info, uptime" matches_json

# One status vocabulary (fuse/admin/status_keys.c): a key it lacks would be
# exported as a generic gauge "Status key KEY of the node."
vocabulary() {
	! grep -n "Status key" "$WORK/status.prom" || return 1
	grep -q '^# TYPE modelfs_read_latency_seconds histogram$' "$WORK/status.prom" &&
	grep -qE '^modelfs_read_latency_seconds_bucket\{le="\+Inf"\} [0-9]+$' "$WORK/status.prom" &&
	grep -qE '^modelfs_read_latency_seconds_count [0-9]+$' "$WORK/status.prom" &&
	grep -q '^# TYPE modelfs_fs_avail_bytes gauge$' "$WORK/status.prom"
}
check "every status key is in the vocabulary; read latency is a histogram" vocabulary

# Direct reads reach the daemon whatever the page cache holds: each is a
# READ counted once, its bytes in read_bytes, its latency in the histogram.
read_counters() {
	local js=$WORK/reads.json before after
	expect_status 0 admin status --json "$M" && before=$(json_get read_bytes <"$WORK/.cmd.out") &&
	dd if="$M/d/a" of=/dev/null bs=1M iflag=direct status=none &&
	expect_status 0 admin status --json "$M" && cp "$WORK/.cmd.out" "$js" &&
	after=$(json_get read_bytes <"$js") || return 1
	[ $((after - before)) -ge $((3 * MiB)) ] || { echo "read_bytes grew by $((after - before))" >&2; return 1; }
	expect_eq "$(json_get read_latency_us.count <"$js")" "$(json_get read_requests <"$js")" \
		"read_latency_us.count" &&
	expect_eq "$(json_get read_latency_us.inf <"$js")" "$(json_get read_requests <"$js")" \
		"read_latency_us.inf" &&
	expect_status 0 admin status "$M" && grep -q "^reads .* requests, .*latency median" "$WORK/.cmd.out"
}
check "reads are counted: requests, bytes, the latency histogram" read_counters

by_data() {
	expect_status 0 admin status --prometheus --data "$D" &&
	check_exposition "$WORK/.cmd.out" &&
	expect_eq "$(prom_value "$WORK/.cmd.out" modelfs_files)" 2 "modelfs_files with --data" &&
	expect_status 2 admin status --prometheus --json "$M" &&
	expect_status 16 admin fsck --prometheus "$M"
}
check "--data DIR gives the same; --prometheus with --json, or for fsck, is a usage error" by_data

ino1=
# shows_files N: the metrics file says N files (it may predate the last writes).
shows_files() { [ "$(prom_value "$P" modelfs_files 2>/dev/null)" = "$1" ]; }
metrics_file() {
	wait_for 100 test -s "$P" || { echo "no $P" >&2; return 1; }
	wait_for 100 shows_files 2 || { echo "$P does not show 2 files" >&2; cat "$P" >&2; return 1; }
	cp "$P" "$WORK/file.prom" &&
	check_exposition "$WORK/file.prom" &&
	expect_eq "$(prom_value "$WORK/file.prom" modelfs_files)" 2 "modelfs_files in the file" &&
	expect_eq "$(stat -c %a "$P")" 644 "mode of $P" &&
	ino1=$(stat -c %i "$P")
}
check "metrics_file appears, in the text format, mode 644" metrics_file

# A rewrite renames a new file in: the inode changes.  And it follows the counts.
replaced() { [ -s "$P" ] && [ "$(stat -c %i "$P")" != "$ino1" ]; }
refreshed() {
	local f
	wait_for 100 replaced || { echo "$P not replaced after 100 polls" >&2; return 1; }
	echo more >"$M/third" || return 1
	if ! wait_for 100 shows_files 3; then
		echo "$P does not show 3 files" >&2
		cat "$P" >&2
		return 1
	fi
	check_exposition "$P" || return 1
	for f in "$WORK"/metrics/*; do
		case $f in
		"$P" | "$P.tmp") ;;
		*) echo "stray file $f" >&2 && return 1 ;;
		esac
	done
}
check "metrics_file is replaced periodically and follows the counts" refreshed

gone_at_stop() {
	mfs_umount "$M" || return 1
	if [ -e "$P" ]; then
		echo "$P still there after the node stopped" >&2
		return 1
	fi
}
check "metrics_file is removed when the node stops" gone_at_stop

bad_opts() {
	expect_status 1 "$MOUNT_BIN" "$M" -o "data=$D,metrics_interval_s=0" &&
	expect_status 1 "$MOUNT_BIN" "$M" -o "data=$D,metrics_file=" &&
	not_mounted "$M"
}
check "metrics_interval_s=0 and an empty metrics_file are refused" bad_opts

mfs_done
