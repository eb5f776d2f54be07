#!/bin/bash
# Single-node modelfs benchmark: mounts a fresh store, measures reads, mmap
# random reads, writes, compression and dedup, and prints ONE table of
# results next to native baselines measured in the same run on the same disk,
# with each target beside its figure.  A benchmark, not a test: no pass/fail.
#
#   make bench                      (from the build directory), or
#   MFS_BUILD=/path/to/build tests/bench/bench-single-node.sh
#
# Needs root (mounting, dropping the page cache), /usr/bin/python3 with numpy,
# zstd, a C compiler, npm (first run only: real weights, tests/bench/fetch_weights.sh).
# Knobs (environment):
#   MFS_BENCH_SIZE_MIB=2048        size of the rows 1-4 file
#   MFS_BENCH_CONTENT=both         rows 1-4 content: weights | random | both
#   MFS_BENCH_MMAP_N=2000          random 4 KiB reads per mmap run
#   MFS_BENCH_REPS=3               runs of rows 1-2 (the median is shown)
#   MFS_BENCH_MOUNT_OPTS=          extra -o options, e.g. readahead_kb=8192
#   MFS_BENCH_TMPDIR=/var/tmp      where the work dir (and the store) goes
#   MFS_WEIGHTS_DIR=/var/tmp/modelfs-weights   weights cache (kept)
#   MFS_BENCH_KEEP=1               keep the work dir
# Without $MFS_BUILD/mount.modelfs only the baselines and row 5 run.
# SPDX-License-Identifier: Apache-2.0
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

here=$(cd "$(dirname "$0")" && pwd)
MFS_SRC=${MFS_SRC:-$(cd "$here/../.." && pwd)}
if [ -z "${MFS_BUILD:-}" ]; then
	MFS_BUILD=$PWD
	[ -x "$MFS_BUILD/mount.modelfs" ] || [ ! -x "$MFS_SRC/mount.modelfs" ] || MFS_BUILD=$MFS_SRC
fi
size_mib=${MFS_BENCH_SIZE_MIB:-2048}
content=${MFS_BENCH_CONTENT:-both}
mmap_n=${MFS_BENCH_MMAP_N:-2000}
reps=${MFS_BENCH_REPS:-3}
mount_opts=${MFS_BENCH_MOUNT_OPTS:-}
python=${MFS_PYTHON:-/usr/bin/python3}
weights_dir=${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}
mount_bin=$MFS_BUILD/mount.modelfs
admin_bin=$MFS_BUILD/modelfs-admin

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mounts, drops the page cache)"
case $content in weights | random | both) ;; *) die "MFS_BENCH_CONTENT: weights, random or both" ;; esac
for tool in cc zstd dd cmp awk openssl; do
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
	if [ "${MFS_BENCH_KEEP:-0}" = 1 ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_mib=$((2 * size_mib * 3 + 6 * 512 * 2 + 1024))
avail_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] ||
	die "$work: ${avail_mib} MiB free, want about ${need_mib} MiB (lower MFS_BENCH_SIZE_MIB)"

# ---- helpers ----------------------------------------------------------------

results=$work/results.tsv
: >"$results"
notes=()
# row  what  modelfs  baseline  ratio  target  notes
add_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

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
# time_read FILE -> MB/s of one sequential read with 1 MiB requests
time_read() {
	local t0 t1
	t0=$(now_ns)
	dd if="$1" of=/dev/null bs=1M status=none
	t1=$(now_ns)
	mbps "$(stat -c %s "$1")" $((t1 - t0))
}
# median N... (numbers, or n/a)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# spread N... -> "min..max"
spread() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'; }
# field OUTPUT KEY -> value of KEY=value in mmap_randread output
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# store_free DATA: wait until no process holds DATA's RocksDB lock (a daemon
# exits after umount returns)
store_free() {
	local lock=$1/db/LOCK i fd
	for i in $(seq 1 600); do
		local busy=0
		for fd in /proc/[0-9]*/fd/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] && { busy=1; break; }
		done
		[ $busy = 0 ] && return 0
		[ "$i" = 1 ] || sleep 0.1
	done
	log "store $1 still in use 60 s after umount"
	return 1
}
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
# cold_remount MNT DATA: restart the daemon (empties its chunk cache) and
# drop the page cache (file pages and the store's RocksDB pages)
cold_remount() {
	mfs_umount "$1" "$2"
	mfs_mount "$1" "$2"
	drop_caches
}
status_field() { # MNT FIELD -> value, or n/a
	"$admin_bin" status --json "$1" 2>/dev/null |
		"$python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2" 2>/dev/null ||
		echo n/a
}
mib() { awk -v b="$1" 'BEGIN { if (b ~ /^[0-9.]+$/) printf "%.0f", b / 1048576; else print "n/a" }'; }
bdi_ra() { cat "/sys/class/bdi/$1/read_ahead_kb" 2>/dev/null || echo "?"; }

# ---- inputs -----------------------------------------------------------------

log "work dir $work; build $MFS_BUILD"
cc -O2 -Wall -o "$work/mmap_randread" "$here/mmap_randread.c"
pool=$(bash "$here/fetch_weights.sh" "$weights_dir")

contents=()
case $content in both) contents=(weights random) ;; *) contents=("$content") ;; esac
for c in "${contents[@]}"; do
	log "generating the ${size_mib} MiB $c file"
	if [ "$c" = weights ]; then
		"$python" "$here/make_model.py" --pool "$pool" --out "$work/src-$c" \
			--size-mib "$size_mib" --seed 7 >&2
	else
		# AES-CTR keystream: incompressible, deterministic, fast
		openssl enc -aes-128-ctr -nosalt -pass pass:modelfs-bench -pbkdf2 </dev/zero 2>/dev/null |
			head -c $((size_mib << 20)) >"$work/src-$c"
	fi
done
size_label="$((size_mib / 1024)) GiB"
[ $((size_mib % 1024)) = 0 ] || size_label="$size_mib MiB"

native_dev=$(findmnt -no MAJ:MIN -T "$work" | tr -d ' ')
notes+=("native = files in $work ($(findmnt -no FSTYPE -T "$work"), bdi $native_dev read_ahead_kb=$(bdi_ra "$native_dev")), same disk as the store")
notes+=("content: weights = safetensors-layout FP16 model built by make_model.py from real trained weights; random = AES-CTR keystream (incompressible)")

mnt=$work/mnt
data=$work/store
if [ $have_mount = 1 ]; then
	mfs_mount "$mnt" "$data"
	notes+=("modelfs mount bdi $(mountpoint -d "$mnt") read_ahead_kb=$(bdi_ra "$(mountpoint -d "$mnt")")${mount_opts:+, -o $mount_opts}")
else
	notes+=("$mount_bin not found: modelfs rows n/a, baselines only")
fi

# ---- rows 1-4 per content ---------------------------------------------------

for c in "${contents[@]}"; do
	src=$work/src-$c
	tag="$size_label $c"
	size_bytes=$(stat -c %s "$src")

	log "row 4 ($c): cp into the mount vs native cp, $reps runs"
	# row 4: write/import, median of $reps runs, each modelfs run into a fresh
	# store (a second copy would only dedup).  The source is warm in the page
	# cache; native cp returns before writeback, modelfs cp's close waits for
	# the commit.
	wn=() wns=() wm=()
	for _ in $(seq "$reps"); do
		drop_caches
		cat "$src" >/dev/null
		t0=$(now_ns)
		cp "$src" "$work/native-copy"
		t1=$(now_ns)
		sync
		t2=$(now_ns)
		wn+=("$(mbps "$size_bytes" $((t1 - t0)))")
		wns+=("$(mbps "$size_bytes" $((t2 - t0)))")
		rm -f "$work/native-copy"
		if [ $have_mount = 1 ]; then
			mfs_umount "$mnt" "$data"
			rm -rf "$data"
			mfs_mount "$mnt" "$data"
			drop_caches
			cat "$src" >/dev/null
			t0=$(now_ns)
			cp "$src" "$mnt/big-$c"
			t1=$(now_ns)
			wm+=("$(mbps "$size_bytes" $((t1 - t0)))")
		fi
	done
	w_nat=$(median "${wn[@]}") w_nat_sync=$(median "${wns[@]}")
	w_mfs=n/a sp_wm=""
	if [ $have_mount = 1 ]; then
		w_mfs=$(median "${wm[@]}")
		sp_wm="modelfs $(spread "${wm[@]}"), "
	fi
	add_row 4 "write: cp $tag into mount, MB/s" "$w_mfs" "$w_nat" "$(ratio "$w_mfs" "$w_nat")" "-" \
		"median of $reps (${sp_wm}native $(spread "${wn[@]}")); fresh store; vs native cp+sync ${w_nat_sync} MB/s: $(ratio "$w_mfs" "$w_nat_sync")"

	log "rows 1-2 ($c): sequential reads, $reps runs"
	# rows 1 and 2: sequential read, cold then warm, median of $reps runs
	# (the VM's disk has a cache of its own: single runs vary 2x)
	nc=() nw=() mc=() mw=()
	for _ in $(seq "$reps"); do
		drop_caches
		nc+=("$(time_read "$src")")
		nw+=("$(time_read "$src")")
		if [ $have_mount = 1 ]; then
			cold_remount "$mnt" "$data"
			mc+=("$(time_read "$mnt/big-$c")")
			mw+=("$(time_read "$mnt/big-$c")")
		fi
	done
	r_nat_cold=$(median "${nc[@]}") r_nat_warm=$(median "${nw[@]}")
	r_mfs_cold=n/a r_mfs_warm=n/a sp_mc="" sp_mw=""
	if [ $have_mount = 1 ]; then
		r_mfs_cold=$(median "${mc[@]}") r_mfs_warm=$(median "${mw[@]}")
		sp_mc="modelfs $(spread "${mc[@]}"), " sp_mw="modelfs $(spread "${mw[@]}"), "
	fi
	add_row 1 "seq read $tag, cold, MB/s" "$r_mfs_cold" "$r_nat_cold" "$(ratio "$r_mfs_cold" "$r_nat_cold")" ">=0.8x" \
		"median of $reps (${sp_mc}native $(spread "${nc[@]}")); modelfs remounted; drop_caches; dd bs=1M"
	add_row 2 "seq re-read $tag, warm, MB/s" "$r_mfs_warm" "$r_nat_warm" "$(ratio "$r_mfs_warm" "$r_nat_warm")" ">=0.9x" \
		"median of $reps (${sp_mw}native $(spread "${nw[@]}")); page cache warm, new open"

	log "row 3 ($c): mmap random reads"
	# row 3: 4 KiB random reads through a shared mapping.  All native runs
	# first, so that no daemon work (prefetch) overlaps them.
	modes="cold warm cold+MADV_RANDOM"
	declare -A mm=()
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
			mm["${who}_$mode"]=$("$work/mmap_randread" "${flag[@]}" "$f" "$mmap_n" 2>/dev/null)
		done
	done
	for mode in $modes; do
		for stat in median p99; do
			m=$(field "${mm["modelfs_$mode"]:-}" "${stat}_us")
			n=$(field "${mm["native_$mode"]}" "${stat}_us")
			# ratio as speed: native latency / modelfs latency (higher = better)
			add_row 3 "mmap 4K random $tag, $mode, $stat us" "${m:-n/a}" "$n" "$(ratio "$n" "$m")" "-" \
				"n=$mmap_n; ratio = native/modelfs latency"
		done
	done

	if [ $have_mount = 1 ]; then
		if cmp -s "$src" "$mnt/big-$c"; then
			notes+=("$tag: bytes read through the mount match the source")
		else
			notes+=("$tag: BYTES READ THROUGH THE MOUNT DIFFER FROM THE SOURCE")
		fi
		rm -f "$mnt/big-$c"
	fi
	rm -f "$src"
done
if [ $have_mount = 1 ]; then
	mfs_umount "$mnt" "$data"
	rm -rf "$data"
fi

# ---- row 5: codec ratio on real weights ------------------------------------
log "row 5: codec ratio on real weights"

codec_tool=""
if [ -x "$MFS_BUILD/tests/bench/codec_ratio" ]; then
	codec_tool=$MFS_BUILD/tests/bench/codec_ratio
elif [ -f "$here/codec_ratio.c" ] && [ -f "$MFS_BUILD/libmfs_store.a" ]; then
	if cc -O2 -I"$MFS_BUILD" -I"$MFS_SRC" -I"$MFS_SRC/store" -o "$work/codec_ratio" "$here/codec_ratio.c" \
		"$MFS_BUILD/libmfs_store.a" -lzstd -lcrypto -lrocksdb -lpthread 2>"$work/codec_ratio.log"; then
		codec_tool=$work/codec_ratio
	else
		notes+=("codec_ratio.c did not build: $(head -c 300 "$work/codec_ratio.log" | tr '\n' ' ')")
	fi
fi
codec_out=()
for kind in fp32 fp16 fp16-native; do
	f=$pool/weights-$kind.bin
	[ -f "$f" ] || continue
	raw=$(stat -c %s "$f")
	z=$(zstd -3 -q -c "$f" | wc -c)
	cli=$(ratio "$raw" "$z")
	zr=n/a ar=n/a
	if [ -n "$codec_tool" ]; then
		if out=$("$codec_tool" "$f" 2>&1); then
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
	target="-"
	[ $kind = fp16 ] && target=">=1.12x"
	add_row 5 "compression $what, $((raw >> 20)) MiB, raw/stored" "$ar" "$zr" \
		"$(ratio "${ar%x}" "${zr%x}")" "$target" "modelfs=auto codec, baseline=plain zstd per chunk; zstd -3 CLI whole file ${cli}"
done
[ -n "$codec_tool" ] || notes+=("row 5: no codec_ratio tool (neither $MFS_BUILD/tests/bench/codec_ratio nor tests/bench/codec_ratio.c + libmfs_store.a): plain zstd CLI only")

# ---- row 6: dedup of a base model and 4 fine-tuned variants ----------------

log "generating the base model and 4 variants (512 MiB each)"
"$python" "$here/make_model.py" --pool "$pool" --out "$work/model-0.safetensors" --seed 1 >&2
changes=""
for v in 1 2 3 4; do
	line=$("$python" "$here/make_model.py" --pool "$pool" --out "$work/model-$v.safetensors" --seed 1 --variant $v)
	log "$line"
	changes="$changes $(printf '%s\n' "$line" | sed -n 's/.*(\([0-9.]*%\) of the bytes).*/\1/p')"
done
base_bytes=$(stat -c %s "$work/model-0.safetensors")
base_zstd=$(zstd -3 -T0 -q -c "$work/model-0.safetensors" | wc -c)
if [ $have_mount = 1 ]; then
	log "row 6: copying the base model, then the 4 variants, into a fresh store"
	mnt6=$work/mnt6 data6=$work/store6
	mfs_mount "$mnt6" "$data6"
	cp "$work/model-0.safetensors" "$mnt6/"
	s_base=$(status_field "$mnt6" stored_bytes)
	codecs=""
	for k in raw zstd zstd-bg2 zstd-bg4; do codecs="$codecs $k=$(status_field "$mnt6" "codec_chunks.$k")"; done
	for v in 1 2 3 4; do cp "$work/model-$v.safetensors" "$mnt6/"; done
	s_all=$(status_field "$mnt6" stored_bytes)
	logical=$(status_field "$mnt6" logical_bytes)
	dedup=$(status_field "$mnt6" dedup_ratio)
	disk=$(status_field "$mnt6" disk_bytes)
	mfs_umount "$mnt6" "$data6"
	add_row 6 "dedup: base + 4 variants stored, x base" "$(ratio "$s_all" "$s_base")" "5.00x" \
		"$(ratio 5 "$(ratio "$s_all" "$s_base" | tr -d x)")" "<=1.5x" \
		"stored_bytes: base $(mib "$s_base") MiB, all 5 $(mib "$s_all") MiB (disk_bytes $(mib "$disk") MiB), logical $(mib "$logical") MiB, dedup_ratio $dedup; variants changed${changes}"
	add_row 5 "compression FP16 model 512 MiB in the store" "$(ratio "$base_bytes" "$s_base")" \
		"$(ratio "$base_bytes" "$base_zstd")" "$(ratio "$base_zstd" "$s_base")" "-" \
		"logical/stored_bytes of the row-6 base model; baseline zstd -3 CLI whole file; chunks by codec:$codecs"
else
	add_row 6 "dedup: base + 4 variants stored, x base" "n/a" "5.00x" "-" "<=1.5x" "variants changed${changes}"
fi

# ---- the table --------------------------------------------------------------

echo
echo "modelfs single-node benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) cores"
echo "build: $MFS_BUILD   ratio: modelfs relative to baseline, higher is better"
echo
sort -s -t "$(printf '\t')" -k1,1n "$results" |
	awk -F '\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END {
		split("# measurement modelfs baseline ratio target notes", h, " ")
		for (i = 1; i <= 6; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		fmt = "%-" w[1] "s  %-" w[2] "s  %" w[3] "s  %" w[4] "s  %" w[5] "s  %" w[6] "s  %s\n"
		printf fmt, h[1], h[2], h[3], h[4], h[5], h[6], h[7]
		for (r = 1; r <= NR; r++) printf fmt, c[r, 1], c[r, 2], c[r, 3], c[r, 4], c[r, 5], c[r, 6], c[r, 7]
	}'
echo
for n in "${notes[@]}"; do echo "note: $n"; done
for n in "${codec_out[@]}"; do echo "$n"; done
