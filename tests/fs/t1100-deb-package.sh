#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package: packaging/build-deb.sh builds it (lintian without
# errors), apt-get installs it, and the installed files work: `mount -t
# modelfs` runs /usr/sbin/mount.modelfs (found as /sbin/mount.modelfs through
# merged /usr), modelfs-admin talks to it, the man pages and the conffile are
# there, the systemd units pass `systemd-analyze verify` and their ExecStart
# and ExecStop lines (with the instance filled in, a private config file
# instead of /etc/modelfs) run a mount in the foreground that `umount` ends,
# and a storage-only peer that SIGTERM ends.  Then the package is purged.
# Stores and mountpoints are in the workdir; nothing in /var/lib/modelfs is
# used.  Skips if the build tools are missing or modelfs is already installed
# (a package, or files `make install` put in /usr).
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
. "$(dirname "$0")/lib.sh"

for tool in dpkg-buildpackage dh fakeroot lintian; do
	command -v "$tool" >/dev/null ||
		skip_all "$tool is not installed (dpkg-dev, debhelper, fakeroot, lintian: packaging/install-deps.sh)"
done
if ! missing=$(dpkg-checkbuilddeps "$MFS_SRC/packaging/debian/control" 2>&1); then
	skip_all "build dependencies missing: ${missing##*: }"
fi
if dpkg-query -W -f='${Status}' modelfs 2>/dev/null | grep -qv 'not-installed'; then
	skip_all "the modelfs package is already installed; not replacing or purging it"
fi
for f in /usr/sbin/mount.modelfs /usr/bin/modelfs-admin /etc/modelfs/modelfs.conf; do
	if [ -e "$f" ] || [ -L "$f" ]; then
		skip_all "$f exists outside the package; installing would overwrite it"
	fi
done
mfs_init

M=$WORK/mnt
D=$WORK/data
PD=$WORK/peer-data
UNITS=/lib/systemd/system
installed=
purge() {
	if command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y modelfs
	else
		dpkg --purge modelfs
	fi
}
# On failure the trap unmounts first, then purges, then does the rest.
cleanup_pkg() {
	[ -n "$installed" ] || return 0
	_teardown_mounts
	purge >>"$WORK/apt.out" 2>&1 || say "purging modelfs failed: see $WORK/apt.out"
}
trap 'rc=$?; cleanup_pkg; (exit $rc); _on_exit' EXIT

deb=
build() {
	local t0=$SECONDS
	bash "$MFS_SRC/packaging/build-deb.sh" "$WORK/debs" >"$WORK/build-deb.out" 2>&1 ||
		{ tail -n 40 "$WORK/build-deb.out" >&2; return 1; }
	deb=$(ls "$WORK"/debs/modelfs_*.deb) || return 1
	note "built $(basename "$deb") in $((SECONDS - t0)) s; lintian:"
	sed 's/^/  /' "$WORK/debs/lintian.txt" >>"$WORK/.notes"
}
check "packaging/build-deb.sh builds the package; lintian reports no error" build || mfs_abort "no package"

install_pkg() {
	installed=1
	if command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$WORK/apt.out" 2>&1
	else
		dpkg -i "$deb" >"$WORK/apt.out" 2>&1
	fi || { tail -n 20 "$WORK/apt.out" >&2; return 1; }
	dpkg-query -W -f='${Status}' modelfs | grep -q 'install ok installed' ||
		{ echo "dpkg: modelfs is not 'install ok installed'" >&2; return 1; }
}
check "apt-get install ./$(basename "${deb:-modelfs.deb}")" install_pkg || mfs_abort "not installed"
MOUNT_BIN=/usr/sbin/mount.modelfs
ADMIN_BIN=/usr/bin/modelfs-admin

files() {
	local f
	for f in /usr/sbin/mount.modelfs /usr/bin/modelfs-admin; do
		[ -x "$f" ] || { echo "$f is not installed" >&2; return 1; }
	done
	# mount(8) looks for helpers in /sbin.
	expect_eq "$(readlink -f /sbin/mount.modelfs)" /usr/sbin/mount.modelfs "/sbin/mount.modelfs resolves to" &&
	expect_status 0 "$MOUNT_BIN" --version &&
	expect_eq "$(cat "$WORK/.cmd.out")" "mount.modelfs $(dpkg-query -W -f='${Version}' modelfs | sed 's/-[^-]*$//')" \
		"mount.modelfs --version" || return 1
	dpkg-query -W -f='${Conffiles}\n' modelfs | grep -q '^ /etc/modelfs/modelfs.conf ' ||
		{ echo "/etc/modelfs/modelfs.conf is not a conffile" >&2; return 1; }
	cmp /etc/modelfs/modelfs.conf "$MFS_SRC/packaging/modelfs.conf"
}
check "binaries in /usr/sbin and /usr/bin, /sbin/mount.modelfs, conffile /etc/modelfs/modelfs.conf" files

man_pages() {
	local page f
	for page in 8/mount.modelfs 8/modelfs-admin 5/modelfs.conf; do
		f=/usr/share/man/man${page%%/*}/${page#*/}.${page%%/*}.gz
		[ -f "$f" ] || { echo "$f is not installed" >&2; return 1; }
		# In the system's man tree: a `make install` (packaging/quickstart.sh,
		# the README's first command) put pages in /usr/local/man, which man
		# finds first, and rightly so.
		if command -v man >/dev/null; then
			expect_eq "$(man -M /usr/share/man -w "${page%%/*}" "${page#*/}")" "$f" \
				"man -M /usr/share/man -w ${page#*/}" || return 1
		fi
	done
}
check "man pages mount.modelfs(8), modelfs-admin(8), modelfs.conf(5) installed and found by man" man_pages

mount_t() {
	mkdir -p "$M" "$D" || return 1
	_register "$M" "$D"
	if ! mount -t modelfs modelfs "$M" -o "data=$D" >>"$WORK/mount.out" 2>&1; then
		tail -n 5 "$WORK/mount.out" >&2
		return 1
	fi
	is_mounted "$M" || { echo "mount returned but $M is not mounted" >&2; return 1; }
	mfs_adopt "$M" "$D" &&
	expect_eq "$(readlink "/proc/$(mfs_daemon_pid "$M")/exe")" /usr/sbin/mount.modelfs "the daemon's executable" &&
	echo hello >"$M/f" && expect_eq "$(cat "$M/f")" hello "content" &&
	expect_status 0 admin status --json "$M" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 1 "files in modelfs-admin status"
}
check "mount -t modelfs -o data=DIR runs the installed helper; write, read, modelfs-admin status" mount_t
check "umount" mfs_umount "$M"

verify_units() {
	local u
	for u in modelfs-mount@.service modelfs-peer@.service; do
		[ -f "$UNITS/$u" ] || { echo "$UNITS/$u is not installed" >&2; return 1; }
	done
	if ! command -v systemd-analyze >/dev/null; then
		note "systemd-analyze is not installed: units not verified"
		return 0
	fi
	# Templates are verified as instances (copies named like them); verify
	# also checks that ExecStart's binary and the Documentation= pages exist.
	mkdir -p "$WORK/units" &&
	cp "$UNITS/modelfs-mount@.service" "$WORK/units/modelfs-mount@srv-models.service" &&
	cp "$UNITS/modelfs-peer@.service" "$WORK/units/modelfs-peer@store1.service" || return 1
	if ! (cd "$WORK/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
		modelfs-mount@srv-models.service modelfs-peer@store1.service) >"$WORK/verify.out" 2>&1; then
		cat "$WORK/verify.out" >&2
		return 1
	fi
	# Warnings (unknown keys, bad values) do not change verify's status.
	if [ -s "$WORK/verify.out" ]; then
		cat "$WORK/verify.out" >&2
		return 1
	fi
}
check "systemd units modelfs-mount@.service and modelfs-peer@.service installed; systemd-analyze verify is silent" verify_units

# unit_line UNIT KEY: the value of KEY= in an installed unit.
unit_line() { sed -n "s/^$2=//p" "$UNITS/$1"; }

mount_unit() {
	local start stop pid rc
	printf 'data = %s\n' "$D" >"$WORK/mount.conf" &&
	start=$(unit_line modelfs-mount@.service ExecStart) &&
	stop=$(unit_line modelfs-mount@.service ExecStop) &&
	expect_eq "$(unit_line modelfs-mount@.service Type)" simple "Type" || return 1
	# What systemd runs for modelfs-mount@<escaped $M>.service, with a private config.
	start=${start//\/%I/$M} stop=${stop//\/%I/$M}
	start=${start//\/etc\/modelfs\/modelfs.conf/$WORK/mount.conf}
	note "ExecStart: $start; ExecStop: $stop"
	# shellcheck disable=SC2086 # word splitting, as systemd does
	$start >>"$WORK/mount.out" 2>&1 &
	pid=$!
	wait_until is_mounted "$M" || { echo "$M not mounted $MFS_WAIT_MAX s after ExecStart" >&2; return 1; }
	pid_alive "$pid" || { echo "ExecStart returned once mounted: not Type=simple" >&2; return 1; }
	expect_eq "$(cat "$M/f")" hello "content through the unit's mount" &&
	expect_eq "$(cat "$D/modelfs.pid")" "$pid" "daemon pid" || return 1
	# shellcheck disable=SC2086
	$stop || { echo "ExecStop failed: $stop" >&2; return 1; }
	wait_until pid_gone "$pid" || { echo "daemon still running $MFS_WAIT_MAX s after ExecStop" >&2; return 1; }
	wait "$pid"
	rc=$?
	expect_eq "$rc" 0 "exit status of ExecStart after ExecStop (non-zero would be a failure and a restart)"
}
check "modelfs-mount@: ExecStart stays in the foreground with the mount live; ExecStop ends it with status 0" mount_unit

peer_status() { admin status --json --data "$PD" >"$WORK/peer.status" 2>"$WORK/peer.status.err"; }
peer_unit() {
	local start pid rc listen port
	# Below the kernel's ephemeral range (32768+), where outgoing connections
	# take their ports, and checked free.
	port=$("$PY" -c 'import random, socket
for _ in range(100):
    p = random.randrange(10000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break') || return 1
	mkdir -p "$PD" && _datas+=("$PD") &&
	printf 'data = %s\nlisten = 127.0.0.1:%s\n' "$PD" "$port" >"$WORK/peer.conf" &&
	start=$(unit_line modelfs-peer@.service ExecStart) || return 1
	start=${start//\/etc\/modelfs\/%i.conf/$WORK/peer.conf}
	note "ExecStart: $start"
	# shellcheck disable=SC2086
	$start >>"$WORK/mount.out" 2>&1 &
	pid=$!
	wait_for 100 peer_status ||
		{ echo "no status from the storage-only peer 10 s after ExecStart" >&2; cat "$WORK/peer.status.err" >&2; return 1; }
	pid_alive "$pid" || { echo "ExecStart returned: not in the foreground" >&2; return 1; }
	listen=$(json_get listen <"$WORK/peer.status") &&
	expect_eq "${listen#tcp://}" "127.0.0.1:$port" "listen" || return 1
	kill -TERM "$pid"
	wait_until pid_gone "$pid" || { echo "peer still running $MFS_WAIT_MAX s after SIGTERM" >&2; return 1; }
	wait "$pid"
	rc=$?
	expect_eq "$rc" 0 "exit status after SIGTERM (systemd's stop)"
}
check "modelfs-peer@: ExecStart serves in the foreground (status --data answers) and SIGTERM ends it with status 0" peer_unit

purged() {
	local f
	purge >>"$WORK/apt.out" 2>&1 || { tail -n 20 "$WORK/apt.out" >&2; return 1; }
	installed=
	if dpkg-query -W -f='${Status}' modelfs 2>/dev/null | grep -qv 'not-installed'; then
		echo "dpkg still knows modelfs: $(dpkg-query -W -f='${Status}' modelfs)" >&2
		return 1
	fi
	for f in /usr/sbin/mount.modelfs /usr/bin/modelfs-admin /etc/modelfs/modelfs.conf \
		"$UNITS/modelfs-mount@.service" "$UNITS/modelfs-peer@.service" \
		/usr/share/man/man8/mount.modelfs.8.gz; do
		[ ! -e "$f" ] || { echo "$f is left after purge" >&2; return 1; }
	done
}
check "apt-get purge modelfs removes the binaries, conffile, units and man pages" purged

mfs_done
