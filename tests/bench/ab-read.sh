#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The cold read from one peer, variants interleaved in one session (issue
# 10): on a shared machine the load moves every figure by 30 % from one
# minute to the next, so variants are compared round by round, A B C A B C.
#
#   ab-read.sh FILE ROUNDS NAME=BUILD[:OPTS] ...
#
# Each variant NAME runs BUILD's mount.modelfs with the extra -o options
# OPTS (commas inside are fine: NAME=BUILD:prefetch_chunks=32,readahead_kb=8192).
# Each run is prof-read.sh peer FILE with MFS_PROF_PERF=0 MFS_PROF_STAT=1
# MFS_PROF_AT_ONCE=1 (fresh nodes each run; see there).  Prints a table
# row per run and the median of each variant: MB/s, load, CPU-s/GiB of
# the reader's daemon, its dd, the holder, all of them, and node 2's
# whole cost (from its start to repl_backlog 0), context switches per GiB
# (reader / holder), chunks replication fetched during the read.  The runs'
# outputs stay in MFS_AB_OUT (default a new /var/tmp/mfs-abread.* dir).
# A measurement, not a test.  Needs root, perf, python3.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

here=$(cd "$(dirname "$0")" && pwd)
file=${1:-} rounds=${2:-}
shift 2 || { echo "usage: ab-read.sh FILE ROUNDS NAME=BUILD[:OPTS]..." >&2; exit 2; }
if ! [ -f "$file" ] || ! [ "$rounds" -ge 1 ] 2>/dev/null || [ $# = 0 ]; then
	echo "usage: ab-read.sh FILE ROUNDS NAME=BUILD[:OPTS]..." >&2
	exit 2
fi
out=${MFS_AB_OUT:-$(mktemp -d /var/tmp/mfs-abread.XXXXXX)}
mkdir -p "$out"
for i in $(seq "$rounds"); do
	for v in "$@"; do
		name=${v%%=*} spec=${v#*=}
		build=${spec%%:*} opts=
		[ "$build" = "$spec" ] || opts=${spec#*:}
		MFS_BUILD=$build MFS_PROF_OPTS=$opts MFS_PROF_PERF=0 MFS_PROF_STAT=1 MFS_PROF_AT_ONCE=1 \
			bash "$here/prof-read.sh" peer "$file" >"$out/$i-$name.txt" 2>&1 ||
			echo "ab-read: run $i of $name failed (see $out/$i-$name.txt)" >&2
	done
done
python3 - "$out" "$@" <<'EOF'
import os, re, statistics, sys
out, names = sys.argv[1], [v.split("=", 1)[0] for v in sys.argv[2:]]
cols = ("MB/s", "load", "reader", "dd", "holder", "all", "whole r", "ctxsw/GiB r/h", "repl fetched")
pats = (r"prof-read peer: (\d+) MB/s", r"; load ([\d.]+)", r"node 2 \(reader\): ([\d.]+)",
        r"reading dd: [\d.]+ CPU-s \(([\d.]+)", r"node 1: ([\d.]+)", r"^all: ([\d.]+)",
        r"whole .*reader ([\d.]+) /", None, r"repl_fetched_chunks (\d+)")
rows = {n: [] for n in names}
print("| run | " + " | ".join(cols) + " |")
print("|---|" + "---:|" * len(cols))
runs = sorted(f for f in os.listdir(out) if f.endswith(".txt"))
runs.sort(key=lambda f: (int(f.split("-", 1)[0]), names.index(f[:-4].split("-", 1)[1])
                         if f[:-4].split("-", 1)[1] in names else 99))
for f in runs:
    s, name = open(os.path.join(out, f)).read(), f[:-4].split("-", 1)[1]
    r = []
    for p in pats:
        if p is None:
            r.append("/".join(re.findall(r"context-switches \d+ \((\d+) per GiB", s)) or "?")
        else:
            m = re.search(p, s, re.M)
            r.append(m.group(1) if m else "?")
    rows.setdefault(name, []).append(r)
    print(f"| {f[:-4]} | " + " | ".join(r) + " |")
for n in names:
    med = []
    for k in range(7):
        v = [float(r[k]) for r in rows.get(n, []) if r[k] != "?"]
        med.append(f"{statistics.median(v):.2f}" if v else "?")
    print(f"median {n}: " + ", ".join(f"{c} {m}" for c, m in zip(cols, med)))
print(f"runs: {out}")
EOF
