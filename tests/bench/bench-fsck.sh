#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# How long modelfs-admin fsck takes on a 3-node cluster (every node on this
# machine, on 127.0.0.2-4) holding a model from real trained weights at
# replication factor 3, against baselines measured in the same run on the
# same bytes: reading the 3 copies natively (cat of a plain file, page cache
# dropped) and hashing them natively (coreutils sha256sum, and openssl, which
# uses the CPU's SHA extensions as modelfs does).  Then the time --repair
# takes to replace a node's whole copy of the model.  A benchmark, not a
# test: it prints one markdown table of ratios, no pass/fail.
#
#   make bench-fsck      (root; from the build directory), or
#   MFS_BUILD=/path/to/build tests/bench/bench-fsck.sh
# Knobs: MFS_BENCH_SIZE_MIB=1024 (model size), MFS_WEIGHTS_DIR (weights cache).
# Needs python3-numpy (installed if missing) and npm (tests/bench/fetch_weights.sh).
here=$(cd "$(dirname "$0")" && pwd)
MFS_SRC=${MFS_SRC:-$(cd "$here/../.." && pwd)}
export MFS_SRC MFS_BUILD=${MFS_BUILD:-$PWD}
export MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-3600}
# shellcheck source-path=SCRIPTDIR/../fs
. "$MFS_SRC/tests/fs/lib.sh"
# shellcheck source-path=SCRIPTDIR/../fs
. "$MFS_SRC/tests/fs/cluster.sh"
size_mib=${MFS_BENCH_SIZE_MIB:-1024}
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null ||
	apt-get install -y -q python3-numpy >/dev/null
mfs_init
cl_init 3
cmdline="$0${*:+ $*}"

secs() { # CMD...: runs it, prints the wall time in seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }

pool=$(bash "$here/fetch_weights.sh") || mfs_abort "no weights"
src=$WORK/model.safetensors
/usr/bin/python3 "$here/make_model.py" --pool "$pool" --out "$src" --size-mib "$size_mib" --seed 7 >&2 ||
	mfs_abort "no model"
bytes=$(stat -c %s "$src")
cp "$src" "$WORK/copy2" && cp "$src" "$WORK/copy3"

check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
M1=${CL_M[1]}
store() {
	mkdir "$M1/m" && setfattr -n user.modelfs.repl -v 3 "$M1/m" &&
	cp "$src" "$M1/m/model.safetensors" && cl_wait_converged meta && cl_wait_backlog0
}
check "write the model at factor 3; replicated" store || mfs_abort "no data"
chunks=$(admin fsck --json "$M1" | json_get chunks_checked)

drop_caches
t_cat=$(secs cat "$src" "$WORK/copy2" "$WORK/copy3")
drop_caches
t_sha=$(secs sha256sum "$src" "$WORK/copy2" "$WORK/copy3")
drop_caches
t_ossl=$(secs openssl dgst -sha256 "$src" "$WORK/copy2" "$WORK/copy3")
drop_caches
t_fsck=$(secs admin fsck "$M1")
drop_caches
t_deep=$(secs admin fsck --deep "$M1")
check "fsck --deep: healthy" expect_status 0 admin fsck --deep "$M1"

# A node loses its whole copy (every chunk dropped while it is stopped).
lose3() { cl_stop 3 && "$CHUNK_TOOL" "${CL_D[3]}" drop-all && rm -rf "${CL_D[3]}/cache"; }
check "node 3 loses every chunk" lose3 || mfs_abort "cannot drop chunks"
# Started with a long scan period ahead, node 3 would repair itself anyway
# within seconds (its own scan at start): the figure is the time until the
# cluster is whole again, whoever does the work.
check "start node 3" cl_restart 3
t_repair=$(secs admin fsck --repair --wait 3600 "$M1")
check "after --repair: healthy" expect_status 0 admin fsck --deep "$M1"
drop_caches
t_cp=$(secs cp "$src" "$WORK/copy4")

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mbs() { echo "scale=0; 3 * $bytes / $1 / 1000000" | bc -l; }
echo
echo "Command: $cmdline ($(date -u +%Y-%m-%dT%H:%MZ), tree $(git -C "$MFS_SRC" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "Model: $size_mib MiB safetensors-layout FP16 from real trained weights, $chunks chunks, factor 3 on 3 nodes (loopback), load $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo "| measurement | modelfs s | baseline | baseline s | ratio |"
echo "|---|---:|---|---:|---:|"
printf '| fsck, XXH64 of every copy (%s MB/s over 3 copies) | %.2f | cat of 3 native copies, cold | %.2f | %sx |\n' "$(mbs "$t_fsck")" "$t_fsck" "$t_cat" "$(ratio "$t_fsck" "$t_cat")"
printf '| fsck --deep, decode + SHA-256 of every copy (%s MB/s) | %.2f | sha256sum of 3 native copies, cold | %.2f | %sx |\n' "$(mbs "$t_deep")" "$t_deep" "$t_sha" "$(ratio "$t_deep" "$t_sha")"
printf '| fsck --deep (as above) | %.2f | openssl dgst -sha256 of 3 native copies, cold | %.2f | %sx |\n' "$t_deep" "$t_ossl" "$(ratio "$t_deep" "$t_ossl")"
printf '| fsck --repair, one node lost its whole copy | %.2f | cp of the model on local disk, cold | %.2f | %sx |\n' "$t_repair" "$t_cp" "$(ratio "$t_repair" "$t_cp")"
echo
cl_done
