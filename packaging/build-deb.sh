#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package (binary only, unsigned) from a clean copy of the
# tree and checks it with lintian:
#   packaging/build-deb.sh [OUTDIR]        (default OUTDIR: the current directory)
# The copy is the git checkout's tracked and untracked-but-not-ignored files
# (so in-tree build products never get in), or, outside git, the whole tree
# after `make distclean`.  packaging/debian becomes ./debian in the copy;
# `dpkg-buildpackage -us -uc -b` builds there (no tests: they need root and
# FUSE).  Fails if the build fails or lintian reports an error.  Leaves the
# .deb, .buildinfo, .changes, build.log and lintian.txt in OUTDIR.
# Needs: dpkg-dev, debhelper, fakeroot, lintian and the Build-Depends of
# packaging/debian/control (dpkg-checkbuilddeps names what is missing).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
start=$(date +%s)

for tool in dpkg-buildpackage dh lintian fakeroot; do
	command -v "$tool" >/dev/null || { echo "build-deb: $tool is not installed" >&2; exit 1; }
done
dpkg-checkbuilddeps "$SRC/packaging/debian/control" || exit 1

# The changelog's upstream version must be the one configure.ac declares.
deb_version=$(dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version)
upstream=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
if [ "${deb_version%-*}" != "$upstream" ]; then
	echo "build-deb: packaging/debian/changelog has $deb_version, configure.ac $upstream" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/modelfs-deb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
TREE=$TMP/modelfs-$upstream
mkdir "$TREE"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$SRC" && git ls-files -z -c -o --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar --null -T - -cf -) | tar -C "$TREE" -xf -
else
	cp -a "$SRC/." "$TREE/"
	chmod -R u+w "$TREE"    # make distcheck's source tree is read-only
	if [ -f "$TREE/Makefile" ]; then make -C "$TREE" distclean >/dev/null; fi
fi
rm -rf "$TREE/debian"
cp -a "$TREE/packaging/debian" "$TREE/debian"

echo "build-deb: building modelfs $deb_version in $TREE (log: $OUT/build.log)"
if ! (cd "$TREE" &&
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
		dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (full log: $OUT/build.log)" >&2
	exit 1
fi

changes=$(ls "$TMP"/modelfs_*.changes)
# --fail-on error: warnings and below are reported, not fatal.
lint_rc=0
lintian --fail-on error --display-info --tag-display-limit 0 "$changes" >"$OUT/lintian.txt" 2>"$TMP/lintian.err" || lint_rc=$?
# (as root it says "running with root privileges is not recommended!": dropped)
grep -v "running with root privileges" "$TMP/lintian.err" >>"$OUT/lintian.txt" || true
if [ -s "$OUT/lintian.txt" ]; then
	echo "build-deb: lintian:"
	sed 's/^/  /' "$OUT/lintian.txt"
else
	echo "build-deb: lintian: no tags"
fi

cp "$TMP"/*.deb "$TMP"/*.buildinfo "$changes" "$OUT/"
debs=$(cd "$TMP" && printf '%s ' ./*.deb)
echo "build-deb: ${debs//.\//}in $OUT ($(($(date +%s) - start)) s)"
if [ "$lint_rc" -ne 0 ]; then
	echo "build-deb: lintian reported errors (status $lint_rc)" >&2
	exit 1
fi
