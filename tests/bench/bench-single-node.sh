#!/bin/bash
# Single-node modelfs benchmark: mounts a fresh store, measures reads, mmap
# random reads, writes, small files, a long stream's memory, compression and
# dedup, and prints ONE table of results next to native baselines measured in
# the same run on the same disk.  Each row gives, beside its figure, the
# CPU-seconds per GiB of the daemon and of the client (dd, cp, ...) and of the
# baseline's processes, and each target of issue 10 with a met / missed mark.
# A benchmark, not a test: no pass/fail.
#
#   make bench                      (from the build directory), or
#   MFS_BUILD=/path/to/build tests/bench/bench-single-node.sh
#
# Needs root (mounting, dropping the page cache), /usr/bin/python3 with numpy,
# zstd, openssl, a C compiler, npm (first run only: real weights,
# tests/bench/fetch_weights.sh).
# Knobs (environment):
#   MFS_BENCH_SIZE_MIB=2048        size of the rows 1-4 file
#   MFS_BENCH_CONTENT=both         rows 1-4 content: weights | random | both
#   MFS_BENCH_MMAP_N=2000          random 4 KiB reads per mmap run
#   MFS_BENCH_REPS=3               runs of rows 1, 2 and 4 (the median is shown)
#   MFS_BENCH_SMALL_N=10000        row 7: small files created
#   MFS_BENCH_SMALL_BYTES=4096     row 7: bytes per small file
#   MFS_BENCH_SMALL_JOBS=4         row 7: writers at once in its second line
#                                  (smallfiles -j: concurrent closes), 1: none
#   MFS_BENCH_SMALL_MAX_S=300      row 7: stop after this many seconds (the
#                                  row then says how many files were made)
#   MFS_BENCH_STREAM_MIB=SIZE_MIB  row 8: MiB streamed in and out for the
#                                  daemon's peak RSS (the target is at 10240)
#   MFS_BENCH_SNAP_N=10000         row 9: small files beside the big one in
#                                  the snapshot
#   MFS_BENCH_SKIP=                sections not to run, space-separated among:
#                                  write seq mmap snap small meta stream codec
#                                  dedup delta
#   MFS_BENCH_META_N=2000          row 7m: namespace ops of each kind
#   MFS_BENCH_DELTA_REPS=7         row 10: cold reads of each fine-tune (and
#                                  reads right after its base)
#   MFS_BENCH_MOUNT_OPTS=          extra -o options, e.g. readahead_kb=8192
#   MFS_BENCH_TMPDIR=/var/tmp      where the work dir (and the store) goes
#   MFS_WEIGHTS_DIR=/var/tmp/modelfs-weights   weights cache (kept)
#   MFS_BENCH_KEEP=1               keep the work dir
# Without $MFS_BUILD/mount.modelfs only the baselines and row 5 run.
# CPU-seconds are user+sys from /proc/PID/stat (daemon, all threads) and from
# bash's `time` (client and baseline processes); the kernel's writeback
# threads are nobody's and are not counted.
# SPDX-License-Identifier: Apache-2.0
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

here=$(cd "$(dirname "$0")" && pwd)
MFS_SRC=${MFS_SRC:-$(cd "$here/../.." && pwd)}
if [ -z "${MFS_BUILD:-}" ]; then
	MFS_BUILD=$PWD
	[ -x "$MFS_BUILD/mount.modelfs" ] || [ ! -x "$MFS_SRC/mount.modelfs" ] || MFS_BUILD=$MFS_SRC
fi
# shellcheck source=tests/bench/bench-lib.sh
. "$here/bench-lib.sh"
size_mib=${MFS_BENCH_SIZE_MIB:-2048}
content=${MFS_BENCH_CONTENT:-both}
mmap_n=${MFS_BENCH_MMAP_N:-2000}
reps=${MFS_BENCH_REPS:-3}
small_n=${MFS_BENCH_SMALL_N:-10000}
small_bytes=${MFS_BENCH_SMALL_BYTES:-4096}
small_max_s=${MFS_BENCH_SMALL_MAX_S:-300}
small_jobs=${MFS_BENCH_SMALL_JOBS:-4}
meta_n=${MFS_BENCH_META_N:-2000}
stream_mib=${MFS_BENCH_STREAM_MIB:-$size_mib}
snap_n=${MFS_BENCH_SNAP_N:-10000}
skip=" ${MFS_BENCH_SKIP:-} "
mount_opts=${MFS_BENCH_MOUNT_OPTS:-}
python=${MFS_PYTHON:-/usr/bin/python3}
weights_dir=${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}
mount_bin=$MFS_BUILD/mount.modelfs
admin_bin=$MFS_BUILD/modelfs-admin

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
wants() { case $skip in *" $1 "*) return 1 ;; esac; }

[ "$(id -u)" = 0 ] || die "run as root (mounts, drops the page cache)"
case $content in weights | random | both) ;; *) die "MFS_BENCH_CONTENT: weights, random or both" ;; esac
for tool in cc zstd dd cmp awk openssl pgrep; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done
"$python" -c 'import numpy' 2>/dev/null || die "$python lacks numpy"
have_mount=0
[ -x "$mount_bin" ] && [ -x "$admin_bin" ] && have_mount=1

work=$(mktemp -d "${MFS_BENCH_TMPDIR:-/var/tmp}/modelfs-bench.XXXXXX")
mounted=() # "MNT DATA" of every mount this run made
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }
cleanup() {
	local m
	set +e
	for m in "${mounted[@]}"; do
		m=${m%% *}
		is_mounted "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for m in "${mounted[@]}"; do store_free "${m#* }" 2>/dev/null; done
	fuse_count_end
	if [ "${MFS_BENCH_KEEP:-0}" = 1 ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_mib=$((2 * size_mib * 3 + 6 * 512 * 2 + stream_mib + 1024))
avail_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] ||
	die "$work: ${avail_mib} MiB free, want about ${need_mib} MiB (lower MFS_BENCH_SIZE_MIB)"

# ---- helpers ----------------------------------------------------------------

results=$work/results.tsv
: >"$results"
notes=()
# add_row ROW WHAT MODELFS DAEMON_CPU CLIENT_CPU BASELINE BASELINE_CPU RATIO TARGET MET NOTES
# (the CPU columns in CPU-seconds per GiB)
add_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now_ns() { date +%s%N; }
# mbps BYTES NANOSECONDS
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b * 1000 / ns }'; }
# ratio A B -> A/B with two decimals, or "-" when either is missing
ratio() {
	case "$1" in *[!0-9.]* | "") echo "-"; return ;; esac
	case "$2" in *[!0-9.]* | "") echo "-"; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'
}
# median N... (numbers, or n/a)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# spread N... -> "min..max"
spread() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'; }
# field OUTPUT KEY -> value of KEY=value in a tool's one-line output
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

mfs_mount() { # MNT DATA
	mkdir -p "$1" "$2"
	"$mount_bin" "$1" -o "data=$2${mount_opts:+,$mount_opts}"
	is_mounted "$1" || die "mount.modelfs $1 returned but nothing is mounted"
	mounted+=("$1 $2")
}
mfs_umount() { # MNT DATA
	umount "$1"
	store_free "$2" || exit 1
}
# fresh_mount MNT DATA: a new daemon on an empty store
fresh_mount() {
	! is_mounted "$1" || mfs_umount "$1" "$2"
	rm -rf "$2"
	mfs_mount "$1" "$2"
}
# cold_remount MNT DATA: restart the daemon (empties its chunk cache) and
# drop the page cache (file pages and the store's RocksDB pages)
cold_remount() {
	mfs_umount "$1" "$2"
	mfs_mount "$1" "$2"
	drop_caches
}
status_field() { # MNT FIELD -> value, or n/a
	"$admin_bin" status --json "$1" 2>/dev/null |
		"$python" -c 'import json, sys, functools; print(functools.reduce(lambda d, k: d[k], sys.argv[1].split("."), json.load(sys.stdin)))' "$2" 2>/dev/null ||
		echo n/a
}
mib() { awk -v b="$1" 'BEGIN { if (b ~ /^[0-9.]+$/) printf "%.0f", b / 1048576; else print "n/a" }'; }
bdi_ra() { cat "/sys/class/bdi/$1/read_ahead_kb" 2>/dev/null || echo "?"; }
# label MIB -> "2 GiB" or "1536 MiB"
label() { if [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi; }

# timed_dd FILE: one sequential read with 1 MiB requests; sets t_mbps, and
# t_cpu (dd's CPU-s/GiB) and t_dcpu (the daemon's, when $d_data is set)
d_data=""
timed_dd() {
	local bytes d0
	bytes=$(stat -c %s "$1")
	d0=n/a
	[ -z "$d_data" ] || d0=$(daemon_cpu "$d_data")
	run_timed dd if="$1" of=/dev/null bs=1M status=none
	t_mbps=$(mbps "$bytes" "$run_ns")
	t_cpu=$(per_gib "$run_cpu" "$bytes")
	t_dcpu=n/a
	[ -z "$d_data" ] || t_dcpu=$(per_gib "$(delta "$d0" "$(daemon_cpu "$d_data")")" "$bytes")
}

# ---- inputs -----------------------------------------------------------------

load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
log "work dir $work; build $MFS_BUILD"
build_tool mmap_randread
build_tool smallfiles
build_tool folio_map
pool=$(bash "$here/fetch_weights.sh" "$weights_dir")

contents=()
case $content in both) contents=(weights random) ;; *) contents=("$content") ;; esac
size_label=$(label "$size_mib")

native_dev=$(findmnt -no MAJ:MIN -T "$work" | tr -d ' ')
notes+=("native = files in $work ($(findmnt -no FSTYPE -T "$work"), bdi $native_dev read_ahead_kb=$(bdi_ra "$native_dev")), same disk as the store")
notes+=("content: weights = safetensors-layout FP16 model built by make_model.py from real trained weights; random = AES-CTR keystream (incompressible)")
notes+=("CPU columns: CPU-seconds (user+sys) per GiB moved; daemon = mount.modelfs, all threads (/proc/PID/stat); client = the process that did the I/O (dd, cp + sync, smallfiles, mmap_randread); baseline = the same client on the native disk; kernel writeback threads are not counted on either side")

mnt=$work/mnt
data=$work/store
if [ $have_mount = 1 ]; then
	mfs_mount "$mnt" "$data"
	notes+=("modelfs mount bdi $(mountpoint -d "$mnt") read_ahead_kb=$(bdi_ra "$(mountpoint -d "$mnt")")${mount_opts:+, -o $mount_opts}")
else
	notes+=("$mount_bin not found: modelfs rows n/a, baselines only")
fi

# make_input CONTENT -> path of a fresh size_mib file of that content
make_input() {
	local f=$work/src-$1
	log "generating the ${size_mib} MiB $1 file"
	if [ "$1" = weights ]; then
		"$python" "$here/make_model.py" --pool "$pool" --out "$f" --size-mib "$size_mib" --seed 7 >&2
	else
		# AES-CTR keystream: incompressible, deterministic, fast
		openssl enc -aes-128-ctr -nosalt -pass pass:modelfs-bench -pbkdf2 </dev/zero 2>/dev/null |
			head -c $((size_mib << 20)) >"$f"
	fi
	echo "$f"
}

# ---- row 4: cp into the mount vs native cp + sync ---------------------------

# section_write CONTENT SRC: median of $reps runs, each modelfs run into a
# fresh store (a second copy would only dedup).  The source is warm in the
# page cache.  Both sides are timed to the end of a sync: native cp returns
# before writeback, modelfs's close waits for the commit.  Leaves the file
# in the mount for the read rows.
section_write() {
	local c=$1 src=$2 bytes wn=() wns=() ncpu=() wm=() wms=() dcpu=() ccpu=() cp_ns d0 cpu1 r
	bytes=$(stat -c %s "$src")
	log "row 4 ($c): cp into the mount vs native cp + sync, $reps runs"
	for _ in $(seq "$reps"); do
		drop_caches
		cat "$src" >/dev/null
		run_timed cp "$src" "$work/native-copy"
		cp_ns=$run_ns cpu1=$run_cpu
		run_timed sync
		wn+=("$(mbps "$bytes" "$cp_ns")")
		wns+=("$(mbps "$bytes" $((cp_ns + run_ns)))")
		ncpu+=("$(per_gib "$(add "$cpu1" "$run_cpu")" "$bytes")")
		rm -f "$work/native-copy"
		[ $have_mount = 1 ] || continue
		fresh_mount "$mnt" "$data"
		drop_caches
		cat "$src" >/dev/null
		d0=$(daemon_cpu "$data")
		run_timed cp "$src" "$mnt/big-$c"
		cp_ns=$run_ns cpu1=$run_cpu
		run_timed sync
		wm+=("$(mbps "$bytes" "$cp_ns")")
		wms+=("$(mbps "$bytes" $((cp_ns + run_ns)))")
		dcpu+=("$(per_gib "$(delta "$d0" "$(daemon_cpu "$data")")" "$bytes")")
		ccpu+=("$(per_gib "$(add "$cpu1" "$run_cpu")" "$bytes")")
	done
	local m=n/a md=n/a mc=n/a sp="" nat
	nat=$(median "${wns[@]}")
	if [ $have_mount = 1 ]; then
		m=$(median "${wms[@]}") md=$(median "${dcpu[@]}") mc=$(median "${ccpu[@]}")
		sp="modelfs $(spread "${wms[@]}"), cp alone $(median "${wm[@]}") MB/s; "
	fi
	r=$(ratio "$m" "$nat")
	add_row 4 "write: cp $size_label $c into mount + sync, MB/s" "$m" "$md" "$mc" "$nat" "$(median "${ncpu[@]}")" \
		"$r" ">=0.80x" "$(judge ratio '>=' 0.8 "$r")" \
		"median of $reps (${sp}native cp+sync $(spread "${wns[@]}"), cp alone $(median "${wn[@]}") MB/s); fresh store; source warm"
}

# ---- rows 1-2: sequential reads, cold then warm -----------------------------

# folios FILE -> how the page cache holds FILE (folio_map's line), or n/a
folios() { "$work/folio_map" "$1" 2>/dev/null || echo n/a; }

# small_folio_fill FILE: drops FILE's page cache and reads it back with
# readahead off (POSIX_FADV_RANDOM), so the page cache holds it in 4 KiB
# folios, as FUSE's does on a kernel without large folios for it (6.18)
small_folio_fill() {
	"$python" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
while os.read(fd, 1 << 20):
	pass' "$1"
}

# section_seq CONTENT SRC: median of $reps runs (the VM's disk has a cache of
# its own: single runs vary 2x)
section_seq() {
	local c=$1 src=$2 nc=() nw=() ncc=() nwc=() mc=() mw=() mcc=() mwc=() mcd=() mwd=()
	local n4=() n4c=() fn="" fn4="" fm="" wr=() reads
	log "rows 1-2 ($c): sequential reads, $reps runs"
	for _ in $(seq "$reps"); do
		drop_caches
		d_data=""
		timed_dd "$src"
		nc+=("$t_mbps") ncc+=("$t_cpu")
		timed_dd "$src"
		nw+=("$t_mbps") nwc+=("$t_cpu")
		[ -n "$fn" ] || fn=$(folios "$src")
		# The same warm re-read with the page cache in 4 KiB folios: what
		# the page cache itself gives a filesystem without large folios.
		small_folio_fill "$src"
		timed_dd "$src"
		n4+=("$t_mbps") n4c+=("$t_cpu")
		[ -n "$fn4" ] || fn4=$(folios "$src")
		[ $have_mount = 1 ] || continue
		cold_remount "$mnt" "$data"
		d_data=$data
		timed_dd "$mnt/big-$c"
		mc+=("$t_mbps") mcc+=("$t_cpu") mcd+=("$t_dcpu")
		# The READs the warm re-read sent: pages the kernel dropped since
		# the cold read, which the daemon serves again (its d-cpu).
		fuse_count_start "$mnt"
		timed_dd "$mnt/big-$c"
		reads=$(fuse_count_stop 1)
		case $reads in
		n/a) ;;
		*) reads=$(printf '%s\n' "$reads" | sed -n 's/.*[(, ]READ \([0-9]*\)[.0-9]*[,)].*/\1/p') ;;
		esac
		wr+=("${reads:-0}")
		mw+=("$t_mbps") mwc+=("$t_cpu") mwd+=("$t_dcpu")
		d_data=""
		[ -n "$fm" ] || fm=$(folios "$mnt/big-$c")
	done
	local rc=n/a rw=n/a dc=n/a dw=n/a cc=n/a cw=n/a sp_c="" sp_w="" r
	if [ $have_mount = 1 ]; then
		rc=$(median "${mc[@]}") rw=$(median "${mw[@]}") dc=$(median "${mcd[@]}") dw=$(median "${mwd[@]}")
		cc=$(median "${mcc[@]}") cw=$(median "${mwc[@]}")
		sp_c="modelfs $(spread "${mc[@]}"), " sp_w="modelfs $(spread "${mw[@]}"), "
	fi
	r=$(ratio "$rc" "$(median "${nc[@]}")")
	add_row 1 "seq read $size_label $c, cold, MB/s" "$rc" "$dc" "$cc" "$(median "${nc[@]}")" "$(median "${ncc[@]}")" \
		"$r" ">=0.80x; daemon<=0.4" "$(judge ratio '>=' 0.8 "$r" daemon '<=' 0.4 "$dc")" \
		"median of $reps (${sp_c}native $(spread "${nc[@]}")); modelfs remounted; drop_caches; dd bs=1M"
	r=$(ratio "$rw" "$(median "${nw[@]}")")
	add_row 2 "seq re-read $size_label $c, warm, MB/s" "$rw" "$dw" "$cw" "$(median "${nw[@]}")" "$(median "${nwc[@]}")" \
		"$r" ">=0.90x" "$(judge ratio '>=' 0.9 "$r")" \
		"median of $reps (${sp_w}native $(spread "${nw[@]}")); page cache warm, new open"
	notes+=("row 2 ($c): page cache after the warm re-reads: modelfs ${fm:-n/a}; native $fn (folio_map)")
	[ ${#wr[@]} = 0 ] ||
		notes+=("row 2 ($c): READs the modelfs warm re-reads sent: ${wr[*]} (one per run of missing pages; 0 when the page cache kept the whole file: the daemon serves only pages dropped since the cold read, on this VM by DAMON's reclaim, kdamond, which takes cold page-cache pages within seconds)")
	notes+=("row 2 ($c): native re-read with its page cache in 4 KiB folios (refilled under POSIX_FADV_RANDOM) $(median "${n4[@]}") MB/s ($(spread "${n4[@]}")), client $(median "${n4c[@]}") CPU-s/GiB: the page cache's own pace in 4 KiB folios, all FUSE gets on Linux 6.18 (fs/fuse sets no folio order on its inodes); modelfs is $(ratio "$rw" "$(median "${n4[@]}")") of it; $fn4")
}

# ---- row 3: mmap 4 KiB random reads -----------------------------------------

# section_mmap CONTENT SRC: 4 KiB random reads through a shared mapping.  All
# native runs first, so that no daemon work (prefetch) overlaps them.  CPU
# per GiB is of the 4 KiB pages touched (n x 4 KiB): it shows how much is
# read and decoded per page asked for.
section_mmap() {
	local c=$1 src=$2 who f mode flag d0 touched=$((mmap_n * 4096)) m n r stat tgt met
	local modes="cold warm cold+MADV_RANDOM"
	declare -A mm=() cpu=() dmm=()
	log "row 3 ($c): mmap random reads"
	for who in native modelfs; do
		[ $who = native ] || [ $have_mount = 1 ] || continue
		f=$src
		[ $who = native ] || f=$mnt/big-$c
		for mode in $modes; do
			flag=()
			[ "$mode" = cold+MADV_RANDOM ] && flag=(-r)
			if [ "$mode" != warm ]; then
				if [ $who = native ]; then drop_caches; else cold_remount "$mnt" "$data"; fi
			fi
			d0=n/a
			[ $who = native ] || d0=$(daemon_cpu "$data")
			run_timed "$work/mmap_randread" "${flag[@]}" "$f" "$mmap_n" >"$work/mmap.out" 2>/dev/null || true
			mm["${who}_$mode"]=$(cat "$work/mmap.out")
			cpu["${who}_$mode"]=$(per_gib "$run_cpu" "$touched")
			[ $who = native ] || dmm[$mode]=$(per_gib "$(delta "$d0" "$(daemon_cpu "$data")")" "$touched")
		done
	done
	for mode in $modes; do
		for stat in median p99; do
			m=$(field "${mm["modelfs_$mode"]:-}" "${stat}_us")
			n=$(field "${mm["native_$mode"]}" "${stat}_us")
			# ratio as speed: native latency / modelfs latency (higher = better)
			r=$(ratio "$n" "$m")
			tgt="-" met="-"
			if [ "$mode.$stat" = cold+MADV_RANDOM.median ]; then
				tgt=">=0.10x" met=$(judge ratio '>=' 0.1 "$r")
			fi
			add_row 3 "mmap 4K random $size_label $c, $mode, $stat us" "${m:-n/a}" "${dmm[$mode]:-n/a}" \
				"${cpu["modelfs_$mode"]:-n/a}" "$n" "${cpu["native_$mode"]}" "$r" "$tgt" "$met" \
				"n=$mmap_n; ratio = native/modelfs latency; CPU per GiB of pages touched"
		done
	done
}

# check_bytes CONTENT SRC: one note saying whether the mount gives back the source
check_bytes() {
	if cmp -s "$2" "$mnt/big-$1"; then
		notes+=("$size_label $1: bytes read through the mount match the source")
	else
		notes+=("$size_label $1: BYTES READ THROUGH THE MOUNT DIFFER FROM THE SOURCE")
	fi
}

# ---- row 9: snapshots by path ------------------------------------------------------

json_num() { # JSON-TEXT KEY: the first value of KEY at any depth, or n/a
	printf '%s' "$1" | "$python" -c 'import json, sys
def find(d, k):
    if isinstance(d, dict):
        if k in d:
            return d[k]
        d = list(d.values())
    if isinstance(d, list):
        for v in d:
            r = find(v, k)
            if r is not None:
                return r
    return None
r = find(json.load(sys.stdin), sys.argv[1])
print("n/a" if r is None else r)' "$2" 2>/dev/null || echo n/a
}

# section_snap CONTENT SRC: with big-CONTENT in the mount and $snap_n small
# files beside it, times `modelfs-admin snapshot create` of the root (the
# walk and the namespace-lock hold from its --json), then reads the big
# file cold through /.snapshots and through its live path (median of
# $reps each; daemon restarted and page cache dropped before every read).
# Then the live file is overwritten and the snapshot's bytes are compared
# with the source.
section_snap() {
	local c=$1 src=$2 out ms live=() snap=() ld=() sd=() lc=() sc=() r s=bench-r1 f
	log "row 9 ($c): snapshot of $snap_n files + the $size_label file, reads through it"
	mkdir -p "$mnt/tree"
	"$work/smallfiles" -s "$small_bytes" "$mnt/tree" "$snap_n" >/dev/null ||
		{ notes+=("row 9: smallfiles into the mount failed"); return; }
	run_timed "$admin_bin" snapshot create --json "$mnt" "$s" >"$work/snap.json" ||
		{ add_row 9 "snapshot create, ms" n/a - - - - - "-" n/a "create failed: $(head -c 200 "$work/snap.json")"; return; }
	out=$(cat "$work/snap.json")
	ms=$((run_ns / 1000000))
	add_row 9 "snapshot create of $(json_num "$out" entries) entries, ms" "$ms" - - - - "-" "-" "-" \
		"walk $(($(json_num "$out" walk_us) / 1000)) ms, namespace lock held $(($(json_num "$out" locked_us) / 1000)) ms, metadata $(json_num "$out" metadata_bytes) B; $snap_n files of $small_bytes B + the $size_label $c file; no chunk copied"
	for _ in $(seq "$reps"); do
		for f in "$mnt/.snapshots/$s/big-$c" "$mnt/big-$c"; do
			cold_remount "$mnt" "$data"
			d_data=$data
			timed_dd "$f"
			d_data=""
			if [ "$f" = "$mnt/big-$c" ]; then
				live+=("$t_mbps") ld+=("$t_dcpu") lc+=("$t_cpu")
			else
				snap+=("$t_mbps") sd+=("$t_dcpu") sc+=("$t_cpu")
			fi
		done
	done
	r=$(ratio "$(median "${snap[@]}")" "$(median "${live[@]}")")
	add_row 9 "seq read $size_label $c via /.snapshots, cold, MB/s" "$(median "${snap[@]}")" "$(median "${sd[@]}")" \
		"$(median "${sc[@]}")" "$(median "${live[@]}")" "$(median "${ld[@]}")" "$r" ">=0.90x" \
		"$(judge ratio '>=' 0.9 "$r")" \
		"baseline: the live path of the same file, same daemon setup (b-cpu = daemon); median of $reps (snapshot $(spread "${snap[@]}"), live $(spread "${live[@]}")); the bench's own target: a snapshot read costs what a live read costs"
	dd if=/dev/zero of="$mnt/big-$c" bs=1M count=16 conv=notrunc status=none
	if cmp -s "$src" "$mnt/.snapshots/$s/big-$c"; then
		notes+=("row 9: after the live file was overwritten, the snapshot's bytes still match the source")
	else
		notes+=("row 9: THE SNAPSHOT'S BYTES DIFFER FROM THE SOURCE after the live file was overwritten")
	fi
	"$admin_bin" snapshot delete "$s" "$mnt" >/dev/null || notes+=("row 9: snapshot delete failed")
	rm -rf "$mnt/tree"
}

# ---- row 7: small files --------------------------------------------------------

# section_small JOBS: $small_n files of $small_bytes, created, written and
# closed by JOBS writers at once (smallfiles -j) in a fresh store, against
# native create + write + fsync + close with as many writers (modelfs's close
# is durable: it returns once the file is published)
section_small() {
	local jobs=$1 out nat nat_cpu m=n/a dc=n/a cc=n/a d0 dcpu s0 reqs bytes=$((small_n * small_bytes)) r got made
	local what="$small_n small files ($small_bytes B) create+write+close" tag="row 7"
	[ "$jobs" = 1 ] || { what="$what, $jobs writers"; tag="row 7 ($jobs writers)"; }
	log "$tag: $small_n small files"
	mkdir -p "$work/small-native"
	drop_caches
	run_timed "$work/smallfiles" -f -j "$jobs" -s "$small_bytes" "$work/small-native" "$small_n" >"$work/small.out"
	nat=$(field "$(cat "$work/small.out")" files_per_s)
	nat_cpu=$(per_gib "$run_cpu" "$bytes")
	notes+=("$tag native (-f): $(cat "$work/small.out"), CPU $run_cpu s, load $(cut -d' ' -f1-3 /proc/loadavg)")
	rm -rf "$work/small-native"
	if [ $have_mount = 1 ]; then
		fresh_mount "$mnt" "$data"
		mkdir "$mnt/small"
		drop_caches
		d0=$(daemon_cpu "$data") s0=$(daemon_csw "$data")
		fuse_count_start "$mnt"
		if run_timed "$work/smallfiles" -j "$jobs" -t "$small_max_s" -s "$small_bytes" "$mnt/small" "$small_n" >"$work/small.out"; then
			reqs=$(fuse_count_stop "$(field "$(cat "$work/small.out")" files)")
			m=$(field "$(cat "$work/small.out")" files_per_s)
			made=$(field "$(cat "$work/small.out")" bytes)
			dcpu=$(delta "$d0" "$(daemon_cpu "$data")")
			dc=$(per_gib "$dcpu" "$made")
			cc=$(per_gib "$run_cpu" "$made")
			[ "$(field "$(cat "$work/small.out")" stopped)" = 0 ] ||
				notes+=("$tag: STOPPED after $small_max_s s (MFS_BENCH_SMALL_MAX_S) with $(field "$(cat "$work/small.out")" files) of $small_n files made: the modelfs figures are of those")
			got=$(find "$mnt/small" -type f | wc -l)
			notes+=("$tag modelfs: $(cat "$work/small.out"); daemon $dcpu CPU-s in all, $(per_k "$dcpu" "$(field "$(cat "$work/small.out")" files)") per 1000 files, $(per_file "$(delta "$s0" "$(daemon_csw "$data")")" "$(field "$(cat "$work/small.out")" files)") context switches per file; FUSE requests $reqs; $got files listed after; load $(cut -d' ' -f1-3 /proc/loadavg)")
		else
			fuse_count_end
			notes+=("$tag: smallfiles into the mount failed: $(cat "$work/small.out")")
		fi
	fi
	r=$(ratio "$m" "$nat")
	add_row 7 "$what, files/s" "$m" "$dc" "$cc" "$nat" "$nat_cpu" \
		"$r" ">=0.80x" "$(judge ratio '>=' 0.8 "$r")" \
		"baseline: native create+write+fsync+close, $jobs writer(s); fresh store; CPU per GiB of file bytes ($((bytes >> 20)) MiB)"
}

# ---- row 7m: namespace operations -----------------------------------------------

# section_meta: metaops.py runs $meta_n of each namespace op (setxattr, chmod,
# utime, mkdir, rename, rmdir, symlink, link, unlink, stat), one call at a
# time, in the mount and in a directory of the native filesystem under the
# work dir (where the store is); the row is the geometric mean of the ratios,
# the notes have each op.  The daemon's CPU is per 1000 ops.
section_meta() {
	local out gm dcpu d0 r
	[ $have_mount = 1 ] || return 0
	log "row 7m: namespace ops"
	fresh_mount "$mnt" "$data"
	mkdir -p "$work/meta-native"
	d0=$(daemon_cpu "$data")
	if ! out=$("$python" "$here/metaops.py" -n "$meta_n" "$mnt" "$work/meta-native" 2>&1); then
		notes+=("row 7m: metaops.py failed: $out")
		return 0
	fi
	dcpu=$(delta "$d0" "$(daemon_cpu "$data")")
	rm -rf "$work/meta-native"
	gm=$(printf '%s\n' "$out" | awk -F'|' 'NR > 2 { v = $5; sub(/x.*/, "", v); s += log(v); n++ }
		END { if (n) printf "%.3f", exp(s / n) }')
	notes+=("row 7m: $meta_n of each op, one at a time; daemon $dcpu CPU-s in all; load $(cut -d' ' -f1-3 /proc/loadavg); options ${MFS_BENCH_MOUNT_OPTS:-defaults}")
	while IFS= read -r r; do notes+=("row 7m $r"); done <<<"$out"
	add_row 7m "namespace ops (10 kinds), geometric mean of ops/s ratios" "${gm}x" - - "1.00x" - \
		"${gm}x" - - "baseline: the same ops on the native filesystem of the work dir; each op in the notes"
}

# ---- row 8: the daemon's memory while streaming --------------------------------

# section_stream: a fresh daemon with the default options (plus
# MFS_BENCH_MOUNT_OPTS) takes $stream_mib MiB of AES-CTR keystream through a
# pipe (nothing on the native disk), then gives it back cold; its VmHWM is
# read after each half.
section_stream() {
	local bytes=$((stream_mib << 20)) d0 d1 hw hr w_mbps r_mbps lab
	lab=$(label "$stream_mib")
	[ $have_mount = 1 ] || { add_row 8 "daemon peak RSS streaming $lab in and out, MiB" n/a - - - - - "<=300" n/a ""; return; }
	log "row 8: streaming $lab in and out"
	fresh_mount "$mnt" "$data"
	drop_caches
	d0=$(daemon_cpu "$data")
	# shellcheck disable=SC2016 # expanded by the inner bash
	run_timed bash -c 'openssl enc -aes-128-ctr -nosalt -pass pass:modelfs-stream -pbkdf2 </dev/zero 2>/dev/null |
		dd of="$1" bs=1M count="$2" iflag=fullblock status=none' _ "$mnt/stream" "$stream_mib"
	w_mbps=$(mbps "$bytes" "$run_ns")
	d1=$(daemon_cpu "$data") hw=$(daemon_hwm "$data")
	drop_caches
	d_data=$data
	timed_dd "$mnt/stream"
	d_data=""
	r_mbps=$t_mbps
	hr=$(daemon_hwm "$data")
	add_row 8 "stream $lab in (pipe -> dd bs=1M), MB/s" "$w_mbps" "$(per_gib "$(delta "$d0" "$d1")" "$bytes")" "-" "-" "-" "-" "-" "-" \
		"incompressible; generator CPU not counted"
	add_row 8 "stream $lab out, cold, MB/s" "$r_mbps" "$t_dcpu" "$t_cpu" "-" "-" "-" "-" "-" "same daemon, page cache dropped"
	add_row 8 "daemon peak RSS (VmHWM) streaming $lab in and out, MiB" "$hr" "-" "-" "-" "-" "-" "<=300" \
		"$(judge rss '<=' 300 "$hr")" "after the write $hw MiB, after the read $hr MiB; target stated for 10 GiB (MFS_BENCH_STREAM_MIB=10240)${mount_opts:+; -o $mount_opts}"
	rm -f "$mnt/stream"
}

# ---- rows 1-4 per content, then 7 and 8 ----------------------------------------

for c in "${contents[@]}"; do
	wants write || wants seq || wants mmap || wants snap || continue
	src=$(make_input "$c")
	if [ $have_mount = 1 ] && ! wants write; then
		fresh_mount "$mnt" "$data"
		cp "$src" "$mnt/big-$c"
	fi
	! wants write || section_write "$c" "$src"
	! wants seq || section_seq "$c" "$src"
	! wants mmap || section_mmap "$c" "$src"
	if [ $have_mount = 1 ]; then
		check_bytes "$c" "$src"
		# row 9 once, on the first content (it overwrites the live file)
		[ "$c" != "${contents[0]}" ] || ! wants snap || section_snap "$c" "$src"
		rm -f "$mnt/big-$c"
	fi
	rm -f "$src"
done
! wants small || section_small 1
! wants small || [ "$small_jobs" = 1 ] || section_small "$small_jobs"
! wants meta || section_meta
! wants stream || section_stream
if [ $have_mount = 1 ]; then
	mfs_umount "$mnt" "$data"
	rm -rf "$data"
fi

# ---- row 5: codec ratio on real weights ----------------------------------------

# codec_tool -> path of the codec_ratio tool (built by make, or here), or ""
codec_tool() {
	if [ -x "$MFS_BUILD/tests/bench/codec_ratio" ]; then
		echo "$MFS_BUILD/tests/bench/codec_ratio"
	elif [ -f "$here/codec_ratio.c" ] && [ -f "$MFS_BUILD/libmfs_store.a" ] &&
		cc -O2 -I"$MFS_BUILD" -I"$MFS_SRC" -I"$MFS_SRC/store" -o "$work/codec_ratio" "$here/codec_ratio.c" \
			"$MFS_BUILD/libmfs_store.a" -lzstd -lcrypto -lrocksdb -lpthread 2>"$work/codec_ratio.log"; then
		echo "$work/codec_ratio"
	fi
}

codec_out=()
section_codec() {
	local tool kind f raw z cli zr ar out r_raw r_z r_auto what target r
	log "row 5: codec ratio on real weights"
	tool=$(codec_tool)
	for kind in fp32 fp16 fp16-native; do
		f=$pool/weights-$kind.bin
		[ -f "$f" ] || continue
		raw=$(stat -c %s "$f")
		z=$(zstd -3 -q -c "$f" | wc -c)
		cli=$(ratio "$raw" "$z")
		zr=n/a ar=n/a
		if [ -n "$tool" ]; then
			if out=$("$tool" "$f" 2>&1); then
				codec_out+=("codec_ratio weights-$kind.bin: $(printf '%s' "$out" | tr '\n' ' ')")
				# accept "raw=N zstd=N auto=N", "raw: N", "raw N" (first match wins)
				read -r r_raw r_z r_auto < <(printf '%s\n' "$out" | "$python" -c '
import re, sys
t = sys.stdin.read()
v = []
for k in ("raw", "zstd", "auto"):
    m = re.search(r"\b%s\b[^0-9\n]{0,12}([0-9]+)" % k, t, re.I)
    v.append(m.group(1) if m else "-")
print(*v)')
				zr=$(ratio "$r_raw" "$r_z")
				ar=$(ratio "$r_raw" "$r_auto")
			else
				codec_out+=("codec_ratio weights-$kind.bin failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')")
			fi
		fi
		case $kind in fp32) what="FP32 real weights" ;; fp16) what="FP16 (cast of the FP32 pool)" ;; *) what="FP16 shipped as fp16" ;; esac
		target="-" r="-"
		[ $kind != fp16 ] || target=">=1.15x" r=$(judge stored '>=' 1.15 "$ar")
		add_row 5 "compression $what, $((raw >> 20)) MiB, raw/stored" "$ar" - - "$zr" - \
			"$(ratio "${ar%x}" "${zr%x}")" "$target" "$r" \
			"modelfs=auto codec, baseline=plain zstd per chunk; zstd -3 CLI whole file ${cli}; target on the modelfs figure"
	done
	[ -n "$tool" ] || notes+=("row 5: no codec_ratio tool (neither $MFS_BUILD/tests/bench/codec_ratio nor tests/bench/codec_ratio.c + libmfs_store.a): plain zstd CLI only")
}

# ---- row 6: dedup of a base model and 4 fine-tuned variants ---------------------

# Row 6 runs twice in one run, each into a fresh store: with tensor-aware
# cuts (chunking version 2, the default) and with plain content-defined
# cuts (MODELFS_CUTS=plain in the daemon's environment: version 1).  Each
# pass also stores two pairs of non-model files, an edit apart: a tar of
# doc/ and the sources with one file edited, and a text file edited in
# its middle (lines inserted), and counts the raw bytes of new chunks.

# make_nonmodel -> files tar-1 tar-2 text-1 text-2 in $work
make_nonmodel() {
	local t=$work/nm
	rm -rf "$t" && mkdir -p "$t" &&
	cp -a "$MFS_SRC/doc" "$MFS_SRC/store" "$MFS_SRC/fuse" "$MFS_SRC/replica" "$MFS_SRC/tests" "$t/" 2>/dev/null
	rm -rf "$t/tests/fuzz-corpus"
	find "$t" -name '*.o' -delete
	tar -C "$t" -cf "$work/tar-1" --sort=name --mtime=@0 --owner=0 --group=0 . &&
	printf '\n/* an edit in the middle of the tree */\n' >>"$t/store/kv/db.c" &&
	tar -C "$t" -cf "$work/tar-2" --sort=name --mtime=@0 --owner=0 --group=0 . || return 1
	# 32 MiB of text: the sources over and over, each copy numbered
	: >"$work/text-1"
	local i=0
	while [ "$(stat -c %s "$work/text-1")" -lt $((32 << 20)) ]; do
		i=$((i + 1))
		{ echo "== copy $i"; cat "$work/tar-1"; } | tr -c '[:print:]\n' ' ' >>"$work/text-1"
	done
	head -c $((32 << 20)) "$work/text-1" >"$work/text-1.tmp" && mv "$work/text-1.tmp" "$work/text-1"
	{ head -c $((16 << 20)) "$work/text-1"; printf 'INSERTED LINE %s\n' 1 2 3; tail -c +$(((16 << 20) + 1)) "$work/text-1"; } >"$work/text-2"
	rm -rf "$t"
}

# dedup_pass MODE (tensor | plain): sets dd[MODE.*]
declare -A dd=()
dedup_pass() {
	local mode=$1 mnt6=$work/mnt6 data6=$work/store6 d0 v k c1 bytes=0 f
	log "row 6 ($mode cuts): the base model, then the 4 variants, then non-model pairs, into a fresh store"
	rm -rf "$data6"
	if [ "$mode" = plain ]; then MODELFS_CUTS=plain mfs_mount "$mnt6" "$data6"; else mfs_mount "$mnt6" "$data6"; fi
	d0=$(daemon_cpu "$data6")
	cp "$work/model-0.safetensors" "$mnt6/"
	dd[$mode.base]=$(status_field "$mnt6" stored_bytes)
	dd[$mode.codecs]=""
	for k in raw zstd zstd-bg2 zstd-bg4 split2 split4; do dd[$mode.codecs]="${dd[$mode.codecs]} $k=$(status_field "$mnt6" "codec_chunks.$k")"; done
	for v in 1 2 3 4; do cp "$work/model-$v.safetensors" "$mnt6/"; done
	dd[$mode.cpu]=$(delta "$d0" "$(daemon_cpu "$data6")")
	for v in 0 1 2 3 4; do bytes=$((bytes + $(stat -c %s "$work/model-$v.safetensors"))); done
	dd[$mode.cpu_gib]=$(per_gib "${dd[$mode.cpu]}" "$bytes")
	dd[$mode.all]=$(status_field "$mnt6" stored_bytes)
	dd[$mode.disk]=$(status_field "$mnt6" disk_bytes)
	dd[$mode.logical]=$(status_field "$mnt6" logical_bytes)
	dd[$mode.chunks]=$(status_field "$mnt6" chunks)
	dd[$mode.chunk_bytes]=$(status_field "$mnt6" chunk_bytes)
	for f in tar text; do
		cp "$work/$f-1" "$mnt6/"
		c1=$(status_field "$mnt6" chunk_bytes)
		cp "$work/$f-2" "$mnt6/"
		dd[$mode.$f]=$(($(status_field "$mnt6" chunk_bytes) - c1))
	done
	mfs_umount "$mnt6" "$data6"
	rm -rf "$data6"
}

section_dedup() {
	local changes="" v line base_bytes base_zstd x xp mean meanp f size nt np what met
	log "generating the base model and 4 variants (512 MiB each)"
	"$python" "$here/make_model.py" --pool "$pool" --out "$work/model-0.safetensors" --seed 1 >&2
	for v in 1 2 3 4; do
		line=$("$python" "$here/make_model.py" --pool "$pool" --out "$work/model-$v.safetensors" --seed 1 --variant $v)
		log "$line"
		changes="$changes $(printf '%s\n' "$line" | sed -n 's/.*(\([0-9.]*%\) of the bytes).*/\1/p')"
	done
	base_bytes=$(stat -c %s "$work/model-0.safetensors")
	base_zstd=$(zstd -3 -T0 -q -c "$work/model-0.safetensors" | wc -c)
	if [ $have_mount = 0 ]; then
		add_row 6 "dedup: base + 4 variants stored, x base" n/a - - "5.00x" - "-" "<=1.30x" n/a "variants changed${changes}"
		return
	fi
	make_nonmodel || die "cannot build the non-model files"
	dedup_pass tensor
	dedup_pass plain
	x=$(ratio "${dd[tensor.all]}" "${dd[tensor.base]}")
	xp=$(ratio "${dd[plain.all]}" "${dd[plain.base]}")
	add_row 6 "dedup: base + 4 variants stored, x base" "$x" "${dd[tensor.cpu_gib]}" - "$xp" "${dd[plain.cpu_gib]}" \
		"$(ratio "${xp%x}" "${x%x}")" "<=1.30x" "$(judge stored '<=' 1.30 "$x")" \
		"modelfs = tensor cuts (chunking v2), baseline = plain cuts (v1, MODELFS_CUTS=plain), same files, fresh stores; d-cpu/b-cpu = daemon CPU-s per GiB committed (5 cp); stored_bytes: base $(mib "${dd[tensor.base]}") MiB, all 5 $(mib "${dd[tensor.all]}") MiB (plain: $(mib "${dd[plain.base]}"), $(mib "${dd[plain.all]}") MiB); logical $(mib "${dd[tensor.logical]}") MiB; variants changed${changes}"
	mean=$(awk -v b="${dd[tensor.chunk_bytes]}" -v n="${dd[tensor.chunks]}" 'BEGIN { if (n > 0) printf "%.0f", b / n / 1024; else print "n/a" }')
	meanp=$(awk -v b="${dd[plain.chunk_bytes]}" -v n="${dd[plain.chunks]}" 'BEGIN { if (n > 0) printf "%.0f", b / n / 1024; else print "n/a" }')
	add_row 6 "dedup: distinct chunks of the 5 models (mean KiB)" "${dd[tensor.chunks]} ($mean)" - - "${dd[plain.chunks]} ($meanp)" - \
		"$(ratio "${dd[plain.chunks]}" "${dd[tensor.chunks]}")" "-" "-" "modelfs = tensor cuts, baseline = plain cuts"
	for f in tar text; do
		size=$(stat -c %s "$work/$f-2") nt=${dd[tensor.$f]} np=${dd[plain.$f]} what="text $(mib "$size") MiB, lines inserted mid-file"
		[ $f = text ] || what="tar of the sources ($(mib "$size") MiB), 1 file edited"
		met=met
		[ "$nt" -le "$np" ] || met=missed
		add_row 6 "dedup non-model: $what, new KiB" "$((nt >> 10))" - - "$((np >> 10))" - \
			"$(ratio "$((np + 1))" "$((nt + 1))")" "<=baseline" "$met" \
			"raw bytes of the new chunks the second version stored after the first"
	done
	add_row 5 "compression FP16 model 512 MiB in the store" "$(ratio "$base_bytes" "${dd[tensor.base]}")" - - \
		"$(ratio "$base_bytes" "$base_zstd")" - "$(ratio "$base_zstd" "${dd[tensor.base]}")" "-" "-" \
		"logical/stored_bytes of the row-6 base model (tensor cuts; plain cuts: $(ratio "$base_bytes" "${dd[plain.base]}")); baseline zstd -3 CLI whole file; chunks by codec:${dd[tensor.codecs]}"
}

! wants codec || section_codec
! wants dedup || section_dedup
# shellcheck source=tests/bench/bench-delta.sh
. "$here/bench-delta.sh"
! wants delta || section_delta

# ---- the table ------------------------------------------------------------------

rev=$(git -C "$MFS_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$MFS_SRC" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
echo
echo "modelfs single-node benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) cores, load average at start $load_start, at end $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "build: $MFS_BUILD (tree $rev)   ratio: modelfs relative to baseline, higher is better"
echo "knobs: MFS_BENCH_SIZE_MIB=$size_mib CONTENT=$content REPS=$reps MMAP_N=$mmap_n SMALL_N=$small_n SMALL_BYTES=$small_bytes STREAM_MIB=$stream_mib${MFS_BENCH_SKIP:+ SKIP="$MFS_BENCH_SKIP"}${mount_opts:+ MOUNT_OPTS=$mount_opts}"
echo "CPU columns are CPU-seconds per GiB: d-cpu = the modelfs daemon, c-cpu = the client on modelfs, b-cpu = the baseline's processes"
echo
sort -s -t "$(printf '\t')" -k1,1n "$results" |
	awk -F '\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END {
		n = split("# measurement modelfs d-cpu c-cpu baseline b-cpu ratio target met notes", h, " ")
		for (i = 1; i < n; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		fmt = "%-" w[1] "s  %-" w[2] "s"
		for (i = 3; i <= 8; i++) fmt = fmt "  %" w[i] "s"
		fmt = fmt "  %-" w[9] "s  %-" w[10] "s  %s\n"
		printf fmt, h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]
		for (r = 1; r <= NR; r++)
			printf fmt, c[r, 1], c[r, 2], c[r, 3], c[r, 4], c[r, 5], c[r, 6], c[r, 7], c[r, 8], c[r, 9], c[r, 10], c[r, 11]
	}'
echo
for n in "${notes[@]}"; do echo "note: $n"; done
for n in "${codec_out[@]}"; do echo "$n"; done
