# Row 10 of bench-single-node.sh (sourced from it): fine-tunes stored as
# deltas against their base (store/chunk/delta.h).  For each of FP32, BF16
# and FP16, a real pair from make_finetune.py (the weights pool as a base,
# then 3 Adam steps on a real loss: every tensor changes), and two fresh
# stores: in one the fine-tune alone (plain codecs, the baseline), in the
# other the base first and the fine-tune named against it by the xattr
# user.modelfs.base.  Each row gives the fine-tune's stored bytes (admin
# info) over its size, and the daemon's CPU-s per GiB: the median of
# $delta_reps cold reads from each store, taken in turn (remount + drop
# caches before each: every chunk decoded, its bases read from the store),
# and over $delta_reps reads of the fine-tune right after its base's in one
# daemon whose memory cache holds the base.
# SPDX-License-Identifier: Apache-2.0

delta_reps=${MFS_BENCH_DELTA_REPS:-7}

# file_stored FILE -> stored_bytes of the file's distinct chunks (admin info)
file_stored() {
	"$admin_bin" info --json "$1" 2>/dev/null |
		"$python" -c 'import json, sys; print(json.load(sys.stdin)[0]["stored_bytes"])' 2>/dev/null ||
		echo n/a
}

# delta_store MODE DT: a fresh store for MODE (plain: the fine-tune alone;
# delta: the base, then the fine-tune named against it) on $work/mnt9-MODE,
# left mounted; sets dl[MODE.stored] and dl[MODE.codecs]
declare -A dl=()
delta_store() {
	local mode=$1 dt=$2 m=$work/mnt9-$1 d=$work/store9-$1 f
	rm -rf "$d"
	mfs_mount "$m" "$d"
	f=$m/tune.st
	if [ "$mode" = delta ]; then
		cp "$work/ft-base-$dt.st" "$m/base.st" && touch "$f" &&
		setfattr -n user.modelfs.base -v /base.st "$f" || die "row 10: cannot set the base"
	fi
	cp "$work/ft-tune-$dt.st" "$f"
	dl[$mode.stored]=$(file_stored "$f")
	dl[$mode.codecs]=$("$admin_bin" info --json "$f" 2>/dev/null | "$python" -c 'import json, sys
c = json.load(sys.stdin)[0]["codec_chunks"]
print("".join(" %s=%d" % (k, v) for k, v in c.items() if v))' 2>/dev/null)
}

# delta_cold_read MODE DT -> the daemon's CPU-s/GiB for one cold read of
# MODE's fine-tune (restart + drop caches: every chunk decoded, its bases
# read from the store), counted from the daemon's start of the read to its
# end: the check that it reads back comes after, uncounted
delta_cold_read() {
	local m=$work/mnt9-$1 d=$work/store9-$1 t0 t1 size
	cold_remount "$m" "$d"
	size=$(stat -c %s "$m/tune.st")
	t0=$(daemon_ns "$d")
	dd if="$m/tune.st" of=/dev/null bs=1M status=none
	t1=$(daemon_ns "$d")
	cmp -s "$m/tune.st" "$work/ft-tune-$2.st" || die "row 10: $1 $2 fine-tune does not read back"
	per_gib "$(awk -v n="$((t1 - t0))" 'BEGIN { printf "%.4f", n / 1e9 }')" "$size"
}

# delta_pass DT: both stores, then $delta_reps rounds of one cold read of
# each, the order alternating (a shared, noisy machine moves both alike);
# sets dl[plain.cpu] and dl[delta.cpu] to the medians, dl[*.range] to the
# lowest and highest, then the read after the base (delta_after_base)
delta_pass() {
	local dt=$1 i mode
	local -a cp=() cd=()
	delta_store plain "$dt"
	delta_store delta "$dt"
	for ((i = 0; i < delta_reps; i++)); do
		for mode in $([ $((i % 2)) = 0 ] && echo plain delta || echo delta plain); do
			if [ "$mode" = plain ]; then cp+=("$(delta_cold_read plain "$dt")"); else cd+=("$(delta_cold_read delta "$dt")"); fi
		done
	done
	dl[plain.cpu]=$(median "${cp[@]}")
	dl[delta.cpu]=$(median "${cd[@]}")
	dl[plain.range]=$(printf '%s\n' "${cp[@]}" | sort -n | sed -n '1p;$p' | paste -sd-)
	dl[delta.range]=$(printf '%s\n' "${cd[@]}" | sort -n | sed -n '1p;$p' | paste -sd-)
	mfs_umount "$work/mnt9-plain" "$work/store9-plain"
	rm -rf "$work/store9-plain"
	m9=$work/mnt9-delta d9=$work/store9-delta f=$work/mnt9-delta/tune.st delta_after_base
	mfs_umount "$work/mnt9-delta" "$work/store9-delta"
	rm -rf "$work/store9-delta"
}

# daemon_ns DATA -> CPU nanoseconds of the daemon's threads (schedstat: finer
# than /proc/PID/stat's ticks, which are 10 ms, a tenth of a 31 MiB read)
daemon_ns() {
	local pid
	pid=$(cat "$1/modelfs.pid" 2>/dev/null) || { echo n/a; return; }
	cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%d", t }'
}

# delta_after_base (in delta_pass, the delta store mounted): a server that
# reads the base, then its fine-tune.  One daemon whose cache holds the base
# (cache_mb twice the pair's size), both files read once to warm it, then
# $delta_reps rounds of: evict base.st and read it (the baseline: a plain
# file of the same size, in the same daemon), evict tune.st and read it (its
# deltas take the base chunks from the cache: cache.c note 6).  Sets
# dl[after.cpu], dl[after.plain] (CPU-s/GiB) and dl[after.opts].
delta_after_base() {
	local mb t0 t1 t2 pb=0 tb=0 i size
	size=$(stat -c %s "$f")
	mb=$((size / 1048576 * 4 + 64))
	mfs_umount "$m9" "$d9"
	local mount_opts="${mount_opts:+$mount_opts,}cache_mb=$mb"
	dl[after.opts]=$mount_opts
	mfs_mount "$m9" "$d9"
	cat "$m9/base.st" "$f" >/dev/null
	for ((i = 0; i < delta_reps; i++)); do
		"$admin_bin" evict "$m9/base.st" >/dev/null && drop_caches
		t0=$(daemon_ns "$d9")
		dd if="$m9/base.st" of=/dev/null bs=1M status=none
		t1=$(daemon_ns "$d9")
		pb=$((pb + t1 - t0))
		"$admin_bin" evict "$f" >/dev/null && drop_caches
		t1=$(daemon_ns "$d9")
		dd if="$f" of=/dev/null bs=1M status=none
		t2=$(daemon_ns "$d9")
		tb=$((tb + t2 - t1))
	done
	cmp -s "$f" "$work/ft-tune-$dt.st" || die "row 10: the fine-tune read after its base does not read back"
	dl[after.plain]=$(per_gib "$(awk -v n="$pb" 'BEGIN { printf "%.4f", n / 1e9 }')" $((size * delta_reps)))
	dl[after.cpu]=$(per_gib "$(awk -v n="$tb" 'BEGIN { printf "%.4f", n / 1e9 }')" $((size * delta_reps)))
}

section_delta() {
	local dt lr size line xd xp
	if [ $have_mount = 0 ] || ! "$python" -c 'import torch' 2>/dev/null || ! command -v setfattr >/dev/null; then
		notes+=("row 10: needs the mount, torch for $python and setfattr: skipped")
		return
	fi
	for dt in f32 bf16 f16; do
		lr=1e-4
		[ $dt != f32 ] || lr=1e-5
		log "row 10: a real $dt fine-tune pair (make_finetune.py, Adam lr $lr, 3 steps)"
		line=$("$python" "$here/make_finetune.py" --pool "$pool" --base "$work/ft-base-$dt.st" \
			--tune "$work/ft-tune-$dt.st" --dtype $dt --lr $lr | tail -n 1) || die "row 10: make_finetune.py failed"
		log "$line"
		size=$(stat -c %s "$work/ft-tune-$dt.st")
		delta_pass $dt
		xd=$(ratio "${dl[delta.stored]}" "$size")
		xp=$(ratio "${dl[plain.stored]}" "$size")
		add_row 10 "fine-tune $dt $(mib "$size") MiB stored, x its size" "$xd" - - "$xp" - \
			"$(ratio "${dl[plain.stored]}" "${dl[delta.stored]}")" "<=0.60x" "$(judge stored '<=' 0.60 "$xd")" \
			"modelfs = deltas against the base (xattr), baseline = the same file alone (plain codecs); ${line#make_finetune: }; chunks:${dl[delta.codecs]} (alone:${dl[plain.codecs]})"
		add_row 10 "fine-tune $dt cold read, daemon CPU-s/GiB" "${dl[delta.cpu]}" "${dl[delta.cpu]}" - \
			"${dl[plain.cpu]}" "${dl[plain.cpu]}" "$(ratio "${dl[delta.cpu]}" "${dl[plain.cpu]}")" "<=1.50x" \
			"$(judge cpu '<=' 1.50 "$(ratio "${dl[delta.cpu]}" "${dl[plain.cpu]}")")" \
			"dd bs=1M after remount + drop_caches, $delta_reps reads of each alternating, medians (ranges: fine-tune ${dl[delta.range]}, alone ${dl[plain.range]}); ratio = delta/plain CPU (lower is better here)"
		add_row 10 "fine-tune $dt read after its base, daemon CPU-s/GiB" "${dl[after.cpu]}" \
			"${dl[after.cpu]}" - "${dl[after.plain]}" "${dl[after.plain]}" \
			"$(ratio "${dl[after.cpu]}" "${dl[after.plain]}")" - - \
			"one daemon (${dl[after.opts]}), $delta_reps rounds: evict + read base.st (baseline), evict + read the fine-tune (bases from the memory cache)"
		rm -f "$work/ft-base-$dt.st" "$work/ft-tune-$dt.st"
	done
}
