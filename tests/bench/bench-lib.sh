# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034,SC2154
# Helpers shared by bench-single-node.sh and bench-peers.sh: CPU accounting
# (CPU-seconds per GiB, which the load of a shared machine hardly moves, and
# which carries over to bigger machines where MB/s does not), timed runs and
# the met / missed verdict of a row against its targets.  Sourced, not run.
# Needs $work (a scratch directory) set before run_timed is called.

# is_num V: V is a plain non-negative number
is_num() { case "$1" in "" | *[!0-9.]* | *.*.*) return 1 ;; esac; }

# proc_cpu PID -> user+sys CPU seconds of PID, all its threads (n/a if gone).
# Fields 14 and 15 of /proc/PID/stat, counted after the ") " that ends the
# command name (which may hold spaces).
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo n/a
}

# tree_cpu PID -> CPU seconds of PID, of its children it has reaped (cutime,
# cstime) and of its live descendants: a server that forks per connection
# (sshd) or keeps workers (nginx), measured before and after a transfer.
tree_cpu() {
	local pid=$1 own kid sum
	own=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz }' \
		"/proc/$pid/stat" 2>/dev/null) || { echo n/a; return; }
	sum=$own
	for kid in $(pgrep -P "$pid" 2>/dev/null); do
		own=$(tree_cpu "$kid")
		is_num "$own" && sum=$(awk -v a="$sum" -v b="$own" 'BEGIN { printf "%.2f", a + b }')
	done
	echo "$sum"
}

# daemon_cpu DATA -> CPU seconds of the modelfs daemon whose store is DATA
daemon_cpu() {
	local pid
	pid=$(cat "$1/modelfs.pid" 2>/dev/null) || { echo n/a; return; }
	proc_cpu "$pid"
}

# daemon_csw DATA -> context switches (voluntary and not) of that daemon so
# far, all its threads; n/a if gone.  A FUSE request costs the daemon at
# least one (its thread sleeps in read until the next), so per-request costs
# show here where CPU-seconds hide them in the kernel.
daemon_csw() {
	local pid
	pid=$(cat "$1/modelfs.pid" 2>/dev/null) || { echo n/a; return; }
	cat "/proc/$pid/task/"*/status 2>/dev/null | awk '/ctxt_switches:/ { s += $2; f = 1 } END { if (f) print s; else print "n/a" }'
}

# fuse_count_start MNT: counts the FUSE requests the kernel sends to MNT's
# daemon, by opcode, and times each from its send to its end (the reply), from
# the fuse_request_send and fuse_request_end tracepoints (recent kernels) in a
# private tracefs instance (other tracers and other mounts untouched).
# Quietly does nothing without tracefs or those events; fuse_count_stop FILES
# then prints n/a.
fuse_trace=""
fuse_count_start() {
	local t=/sys/kernel/tracing dev conn ev
	[ -d "$t/events/fuse/fuse_request_send" ] && [ -d "$t/instances" ] || return 0
	dev=$(mountpoint -d "$1" 2>/dev/null) || return 0
	conn=$(((${dev%%:*} << 20) | ${dev##*:})) # the kernel's dev_t
	fuse_trace=$t/instances/modelfs-bench-$$
	mkdir "$fuse_trace" 2>/dev/null || { fuse_trace=""; return 0; }
	echo 16384 >"$fuse_trace/buffer_size_kb"
	for ev in fuse_request_send fuse_request_end; do
		[ -d "$fuse_trace/events/fuse/$ev" ] || continue
		if ! echo "connection == $conn" >"$fuse_trace/events/fuse/$ev/filter" ||
			! echo 1 >"$fuse_trace/events/fuse/$ev/enable"; then
			fuse_count_end
			return 0
		fi
	done
}
# fuse_count_stop FILES -> "7.02 per file (GETATTR 1.00, LOOKUP 1.01, ...);
# median us from send to reply: FLUSH 419, CREATE 59, ...; 795 us of
# requests per file", with "; N events lost" when the trace buffer overflowed;
# n/a without a trace.  The medians say which requests a file's wall time goes
# to (a serial writer waits for each in turn; RELEASE is sent in the
# background, after close(2) returned); the sum counts every request's whole
# time, so it exceeds the wall time when requests overlap (several writers).
fuse_count_stop() {
	local lost ev counts lats
	[ -n "$fuse_trace" ] || { echo n/a; return; }
	for ev in fuse_request_send fuse_request_end; do
		[ ! -d "$fuse_trace/events/fuse/$ev" ] || echo 0 >"$fuse_trace/events/fuse/$ev/enable"
	done
	lost=$(cat "$fuse_trace/per_cpu/"cpu*/stats 2>/dev/null | awk '/^overrun:/ { s += $2 } END { print s + 0 }')
	counts=$(sed -n 's/.*fuse_request_send: .* opcode [0-9]* (FUSE_\([A-Z_0-9]*\)).*/\1/p' "$fuse_trace/trace" |
		sort | uniq -c | sort -rn | awk -v n="$1" '
			{ t += $1; s = s (s ? ", " : "") sprintf("%s %.2f", $2, $1 / n) }
			END { printf "%.2f per file (%s)", t / n, s }')
	# "OP MICROSECONDS" per request that ended, by opcode then time: the
	# medians, the opcodes ordered by their total time, and that total per file.
	lats=$(awk '
		match($0, /[0-9]+\.[0-9]+: fuse_request_(send|end): connection [0-9]+ req [0-9]+/) {
			split(substr($0, RSTART, RLENGTH), f, / /)
			ts = substr(f[1], 1, length(f[1]) - 1) + 0; req = f[6]
			if (f[2] == "fuse_request_send:") {
				op = $0; sub(/.*\(FUSE_/, "", op); sub(/\).*/, "", op)
				t0[req] = ts; op_of[req] = op
			} else if (req in t0) {
				printf "%s %.1f\n", op_of[req], (ts - t0[req]) * 1e6
				delete t0[req]; delete op_of[req]
			}
		}' "$fuse_trace/trace" | sort -k1,1 -k2,2n | awk -v n="$1" '
			function flush() { if (k) { med[op] = v[int((k + 1) / 2)]; ops[++m] = op } }
			$1 != op { flush(); op = $1; k = 0 }
			{ v[++k] = $2; sum[$1] += $2; all += $2 }
			END {
				flush()
				for (i = 2; i <= m; i++)
					for (j = i; j > 1 && sum[ops[j - 1]] < sum[ops[j]]; j--) { s = ops[j]; ops[j] = ops[j - 1]; ops[j - 1] = s }
				for (i = 1; i <= m; i++) out = out (out ? ", " : "") sprintf("%s %.0f", ops[i], med[ops[i]])
				if (m) printf "; median us from send to reply: %s; %.0f us of requests per file", out, all / n
			}')
	[ "$lost" = 0 ] || lats="$lats; $lost events lost"
	echo "$counts$lats"
	fuse_count_end
}
fuse_count_end() {
	[ -z "$fuse_trace" ] || rmdir "$fuse_trace" 2>/dev/null
	fuse_trace=""
}

# daemon_hwm DATA -> peak resident set (VmHWM) of that daemon, MiB
daemon_hwm() {
	local pid
	pid=$(cat "$1/modelfs.pid" 2>/dev/null) || { echo n/a; return; }
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024; f = 1 } END { if (!f) print "n/a" }' "/proc/$pid/status" 2>/dev/null ||
		echo n/a
}

# delta A B -> B - A (a CPU delta), n/a when either is missing
delta() { if is_num "$1" && is_num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; else echo n/a; fi; }
# add A B... -> the sum, n/a when any is missing
add() {
	local v s=0
	for v in "$@"; do
		is_num "$v" || { echo n/a; return; }
		s=$(awk -v a="$s" -v b="$v" 'BEGIN { printf "%.2f", a + b }')
	done
	echo "$s"
}
# per_gib CPU_S BYTES -> CPU-seconds per GiB (2^30 bytes), n/a when unknown
per_gib() {
	if is_num "$1" && is_num "$2" && [ "$2" != 0 ]; then
		awk -v c="$1" -v b="$2" 'BEGIN { printf "%.2f", c * 1073741824 / b }'
	else
		echo n/a
	fi
}

# per_k CPU_S N -> CPU-seconds per 1000 of N (files), n/a when unknown
per_k() {
	if is_num "$1" && is_num "$2" && [ "$2" != 0 ]; then
		awk -v c="$1" -v n="$2" 'BEGIN { printf "%.3f", c * 1000 / n }'
	else
		echo n/a
	fi
}
# per_file COUNT N -> COUNT / N with one decimal, n/a when unknown
per_file() {
	if is_num "$1" && is_num "$2" && [ "$2" != 0 ]; then
		awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", c / n }'
	else
		echo n/a
	fi
}

# run_timed CMD...: runs CMD and sets run_ns (wall time) and run_cpu (user+sys
# seconds of the processes CMD started, as bash's `time` counts them);
# returns CMD's status.  CMD's own stderr still goes to stderr.
run_timed() {
	local tf=$work/.run_timed rc=0 t0 TIMEFORMAT='%3U %3S'
	t0=$(date +%s%N)
	{ time "$@" 2>&4; } 4>&2 2>"$tf" || rc=$?
	run_ns=$(($(date +%s%N) - t0))
	run_cpu=$(awk 'NF == 2 { s = $1 + $2 } END { printf "%.3f", s }' "$tf")
	return $rc
}

# judge NAME OP LIMIT VALUE [NAME OP LIMIT VALUE]... -> met | missed (NAMEs)
# | n/a.  OP is >= or <=; a trailing x on VALUE is ignored.  n/a when a value
# is missing and nothing that was measured missed.
judge() {
	local missed="" na=0 name op lim v
	while [ $# -ge 4 ]; do
		name=$1 op=$2 lim=$3 v=${4%x}
		shift 4
		if ! is_num "$v"; then
			na=1
			continue
		fi
		awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN { exit !(op == ">=" ? v + 0 >= l + 0 : v + 0 <= l + 0) }' ||
			missed="$missed${missed:+, }$name"
	done
	if [ -n "$missed" ]; then
		echo "missed ($missed)"
	elif [ $na = 1 ]; then
		echo n/a
	else
		echo met
	fi
}

# build_tool NAME: compiles tests/bench/NAME.c into $work/NAME
build_tool() { cc -O2 -Wall -o "$work/$1" "$here/$1.c"; }

# store_free DATA [SECONDS]: waits until the daemon of store DATA has exited
# (umount returns before it has closed the store).  Watches the pid in
# DATA/modelfs.pid rather than scanning every process's open files, which
# takes minutes on a busy machine.
store_free() {
	local pid n=$((${2:-60} * 10)) i
	pid=$(cat "$1/modelfs.pid" 2>/dev/null) || return 0
	for i in $(seq 1 "$n"); do
		grep -qa mount.modelfs "/proc/$pid/cmdline" 2>/dev/null || return 0
		[ "$i" = 1 ] || sleep 0.1
	done
	log "store $1 still in use ${2:-60} s after umount (daemon pid $pid)"
	return 1
}
