# Row 10 of bench-single-node.sh (sourced from it): fine-tunes stored as
# deltas against their base (store/chunk/delta.h).  For each of FP32, BF16
# and FP16, a real pair from make_finetune.py (the weights pool as a base,
# then 3 Adam steps on a real loss: every tensor changes), and two fresh
# stores: in one the fine-tune alone (plain codecs, the baseline), in the
# other the base first and the fine-tune named against it by the xattr
# user.modelfs.base.  Each row gives the fine-tune's stored bytes (admin
# info) over its size, and the daemon's CPU-s per GiB over $delta_reps cold
# reads (remount + drop caches before each: every chunk decoded, its bases
# read from the store), and over $delta_reps reads of the fine-tune right
# after its base's in one daemon whose memory cache holds the base.
# SPDX-License-Identifier: Apache-2.0

delta_reps=${MFS_BENCH_DELTA_REPS:-5}

# file_stored FILE -> stored_bytes of the file's distinct chunks (admin info)
file_stored() {
	"$admin_bin" info --json "$1" 2>/dev/null |
		"$python" -c 'import json, sys; print(json.load(sys.stdin)[0]["stored_bytes"])' 2>/dev/null ||
		echo n/a
}

# delta_pass MODE DT: sets dl[MODE.stored] and dl[MODE.cpu] (daemon CPU-s/GiB, cold reads)
declare -A dl=()
delta_pass() {
	local mode=$1 dt=$2 m9=$work/mnt9 d9=$work/store9 f i c0 cpu=0 bytes=0
	rm -rf "$d9"
	mfs_mount "$m9" "$d9"
	f=$m9/tune.st
	if [ "$mode" = delta ]; then
		cp "$work/ft-base-$dt.st" "$m9/base.st" && touch "$f" &&
		setfattr -n user.modelfs.base -v /base.st "$f" || die "row 10: cannot set the base"
	fi
	cp "$work/ft-tune-$dt.st" "$f"
	dl[$mode.stored]=$(file_stored "$f")
	dl[$mode.codecs]=$("$admin_bin" info --json "$f" 2>/dev/null | "$python" -c 'import json, sys
c = json.load(sys.stdin)[0]["codec_chunks"]
print("".join(" %s=%d" % (k, v) for k, v in c.items() if v))' 2>/dev/null)
	for ((i = 0; i < delta_reps; i++)); do
		cold_remount "$m9" "$d9"
		c0=$(daemon_cpu "$d9")
		dd if="$f" of=/dev/null bs=1M status=none
		cmp -s "$f" "$work/ft-tune-$dt.st" || die "row 10: $mode $dt fine-tune does not read back"
		cpu=$(add "$cpu" "$(delta "$c0" "$(daemon_cpu "$d9")")")
		bytes=$((bytes + $(stat -c %s "$f")))
	done
	dl[$mode.cpu]=$(per_gib "$cpu" "$bytes")
	[ "$mode" != delta ] || delta_after_base
	mfs_umount "$m9" "$d9"
	rm -rf "$d9"
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
		delta_pass plain $dt
		delta_pass delta $dt
		xd=$(ratio "${dl[delta.stored]}" "$size")
		xp=$(ratio "${dl[plain.stored]}" "$size")
		add_row 10 "fine-tune $dt $(mib "$size") MiB stored, x its size" "$xd" - - "$xp" - \
			"$(ratio "${dl[plain.stored]}" "${dl[delta.stored]}")" "<=0.60x" "$(judge stored '<=' 0.60 "$xd")" \
			"modelfs = deltas against the base (xattr), baseline = the same file alone (plain codecs); ${line#make_finetune: }; chunks:${dl[delta.codecs]} (alone:${dl[plain.codecs]})"
		add_row 10 "fine-tune $dt cold read, daemon CPU-s/GiB" "${dl[delta.cpu]}" "${dl[delta.cpu]}" - \
			"${dl[plain.cpu]}" "${dl[plain.cpu]}" "$(ratio "${dl[delta.cpu]}" "${dl[plain.cpu]}")" "<=1.50x" \
			"$(judge cpu '<=' 1.50 "$(ratio "${dl[delta.cpu]}" "${dl[plain.cpu]}")")" \
			"dd bs=1M after remount + drop_caches, $delta_reps reads; ratio = delta/plain CPU (lower is better here)"
		add_row 10 "fine-tune $dt read after its base, daemon CPU-s/GiB" "${dl[after.cpu]}" \
			"${dl[after.cpu]}" - "${dl[after.plain]}" "${dl[after.plain]}" \
			"$(ratio "${dl[after.cpu]}" "${dl[after.plain]}")" - - \
			"one daemon (${dl[after.opts]}), $delta_reps rounds: evict + read base.st (baseline), evict + read the fine-tune (bases from the memory cache)"
		rm -f "$work/ft-base-$dt.st" "$work/ft-tune-$dt.st"
	done
}
