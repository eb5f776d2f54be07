#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs what modelfs needs to build, run and test on Debian 12.
# Packages only; safe to run again (installs nothing that is already there).
set -eu
pkgs=(
	build-essential autoconf automake pkg-config        # build
	libfuse3-dev fuse3 librocksdb-dev libzmq3-dev        # libraries
	libzstd-dev libssl-dev
	attr man-db python3-numpy python3-torch             # tests: xattrs, man pages, frameworks
	iproute2                                            # tests: network namespaces (partitions)
	rsync sqlite3                                       # tests: rsync -aH of special files, SQLite on the mount
	stress-ng fio                                       # tests: stress and verified I/O (t0390)
	debhelper dpkg-dev fakeroot lintian                 # the Debian package (packaging/build-deb.sh)
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "install-deps: run as root (sudo) to install: ${missing[*]}" >&2; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
