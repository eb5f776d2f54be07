#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin keygen FILE: writes FILE (0600, the secret key) and FILE.pub
# (0644, the public key it prints), whatever the umask; never replaces either
# file (exit 1, the old key intact); wrong arguments exit 2 with usage.
# No mount needed, but lib.sh's workdir, traps and watchdog are.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

K=$WORK/node.key

mode_is() { # FILE MODE
	expect_eq "$(stat -c %a "$1")" "$2" "mode of $1"
}

z85_line() { # FILE: one line of 40 Z85 characters
	[ "$(wc -l <"$1")" -eq 1 ] && grep -qE '^[][0-9a-zA-Z.:+=^!/*?&<>(){}@%$#-]{40}$' "$1" && return 0
	echo "$1 is not one 40-character Z85 line: $(cat "$1")" >&2
	return 1
}

out_has() { # STRING: the last command printed STRING (a whole line with -x)
	local x=
	[ "$1" = -x ] && { x=x; shift; }
	grep -qF"$x" -- "$1" "$WORK/.cmd.out" && return 0
	echo "stdout lacks '$1': $(cat "$WORK/.cmd.out")" >&2
	return 1
}

err_has() { # STRING: the last command said STRING on stderr
	grep -qF -- "$1" "$WORK/.cmd.err" && return 0
	echo "stderr lacks '$1': $(cat "$WORK/.cmd.err")" >&2
	return 1
}

differ() { # A B
	cmp -s "$1" "$2" || return 0
	echo "$1 and $2 are the same" >&2
	return 1
}

absent() { # FILE...
	local f
	for f; do
		[ -e "$f" ] && { echo "$f exists" >&2; return 1; }
	done
	return 0
}

first_key() {
	expect_status 0 admin keygen "$K" &&
	mode_is "$K" 600 && mode_is "$K.pub" 644 &&
	z85_line "$K" && z85_line "$K.pub" &&
	out_has -x "$(cat "$K.pub")" && out_has "$K.pub" &&
	differ "$K" "$K.pub"
}
check "keygen: FILE 0600, FILE.pub 0644, public key printed" first_key

no_overwrite() {
	cp -p "$K" "$WORK/saved.key" && cp -p "$K.pub" "$WORK/saved.pub" &&
	expect_status 1 admin keygen "$K" && err_has "exists" &&
	cmp "$K" "$WORK/saved.key" && cmp "$K.pub" "$WORK/saved.pub" &&
	mode_is "$K" 600
}
check "keygen on an existing key: exit 1, key unchanged" no_overwrite

pub_only() {
	echo "left over" >"$WORK/other.key.pub" &&
	expect_status 1 admin keygen "$WORK/other.key" &&
	absent "$WORK/other.key" &&
	expect_eq "$(cat "$WORK/other.key.pub")" "left over" "other.key.pub"
}
check "keygen when only FILE.pub exists: exit 1, nothing written" pub_only

umask_077() {
	(umask 077 && "$ADMIN_BIN" keygen "$WORK/u.key" >/dev/null) &&
	mode_is "$WORK/u.key" 600 && mode_is "$WORK/u.key.pub" 644
}
check "keygen under umask 077: still 0600 and 0644" umask_077

second_key() {
	expect_status 0 admin keygen "$WORK/k2" && differ "$WORK/k2.pub" "$K.pub"
}
check "a second keygen gives a different key" second_key

check "keygen in a directory that does not exist: exit 1" \
	expect_status 1 admin keygen "$WORK/nope/k"

usage() { # CODE ARG...: exit CODE with a usage message on stderr
	expect_status "$1" admin "${@:2}" && err_has "usage:"
}
check "keygen without FILE: exit 2 with usage" usage 2 keygen
check "keygen with two FILEs: exit 2 with usage" usage 2 keygen "$WORK/a" "$WORK/b"
check "keygen with an unknown flag: exit 2 with usage" usage 2 keygen --bogus "$WORK/c"
check "usage errors write nothing" absent "$WORK/a" "$WORK/b" "$WORK/c"
check "keygen --help: exit 0" expect_status 0 admin keygen --help

mfs_done
