#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# setattr other than size: chmod, chown, touch -d / -a / -m (utimens, with
# nanoseconds) on files and directories are reflected by stat, and leave
# the file's content alone; mode and owner given at create are kept;
# changing a directory's entries updates its mtime and ctime.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

create_mode() {
	(umask 027 && echo data >"$M/f" && mkdir "$M/d") &&
	expect_eq "$(stat -c %a "$M/f")" 640 "mode of a file created under umask 027" &&
	expect_eq "$(stat -c %a "$M/d")" 750 "mode of a directory created under umask 027" &&
	expect_eq "$(stat -c %u:%g "$M/f")" 0:0 "owner of a file created by root"
}
check "create honours the umask and the caller's uid/gid" create_mode

chmod_file() {
	chmod 0604 "$M/f" && expect_eq "$(stat -c %a "$M/f")" 604 "mode after chmod 0604" &&
	chmod u+x "$M/f" && expect_eq "$(stat -c %a "$M/f")" 704 "mode after chmod u+x" &&
	chmod 1777 "$M/d" && expect_eq "$(stat -c %a "$M/d")" 1777 "directory mode after chmod 1777" &&
	expect_eq "$(stat -c %F "$M/f")" "regular file" "type after chmod" &&
	expect_eq "$(cat "$M/f")" data "content after chmod"
}
check "chmod of a file and a directory" chmod_file

chown_file() {
	chown 1234:5678 "$M/f" && expect_eq "$(stat -c %u:%g "$M/f")" 1234:5678 "owner after chown" &&
	chown :99 "$M/f" && expect_eq "$(stat -c %u:%g "$M/f")" 1234:99 "owner after chgrp" &&
	chown 4321 "$M/d" && expect_eq "$(stat -c %u "$M/d")" 4321 "directory owner after chown" &&
	expect_eq "$(cat "$M/f")" data "content after chown"
}
check "chown and chgrp of a file and a directory" chown_file

times() {
	touch -d '2001-02-03 04:05:06.123456789 UTC' "$M/f" &&
	expect_eq "$(stat -c %.9Y "$M/f")" 981173106.123456789 "mtime after touch -d" &&
	expect_eq "$(stat -c %.9X "$M/f")" 981173106.123456789 "atime after touch -d" &&
	touch -a -d '@1000000000' "$M/f" &&
	expect_eq "$(stat -c %X "$M/f")" 1000000000 "atime after touch -a" &&
	expect_eq "$(stat -c %.9Y "$M/f")" 981173106.123456789 "mtime after touch -a" &&
	touch -m -d '@1500000000' "$M/f" &&
	expect_eq "$(stat -c %Y "$M/f")" 1500000000 "mtime after touch -m" &&
	expect_eq "$(stat -c %X "$M/f")" 1000000000 "atime after touch -m" &&
	touch -d '@1234567890' "$M/d" &&
	expect_eq "$(stat -c %Y "$M/d")" 1234567890 "directory mtime after touch -d" &&
	expect_eq "$(cat "$M/f")" data "content after touch"
}
check "touch -d / -a / -m set the times, to the nanosecond" times

touch_now() {
	local before after m
	echo n >"$M/n" && touch -d '@1000000000' "$M/n" &&
	before=$(date +%s) && touch "$M/n" && after=$(date +%s) &&
	m=$(stat -c %Y "$M/n") || return 1
	if [ "$m" -lt "$before" ] || [ "$m" -gt "$after" ]; then
		echo "mtime $m not in [$before, $after]" >&2
		return 1
	fi
}
check "touch without -d sets the current time" touch_now

write_updates_mtime() {
	local before m
	echo old >"$M/g" && touch -d '@1000000000' "$M/g" &&
	before=$(date +%s) && echo new >"$M/g" &&
	m=$(stat -c %Y "$M/g") || return 1
	if [ "$m" -lt "$before" ]; then
		echo "mtime $m older than the write at $before" >&2
		return 1
	fi
}
check "rewriting a file updates its mtime" write_updates_mtime

# dir_changed DIR OP ARG...: after its times are set to the past, OP on an
# entry of DIR sets DIR's mtime and ctime to now.
dir_changed() {
	local dir=$1 before m c
	shift
	touch -d '@1000000000' "$dir" && before=$(date +%s) && "$@" &&
	m=$(stat -c %Y "$dir") && c=$(stat -c %Z "$dir") || return 1
	if [ "$m" -lt "$before" ] || [ "$c" -lt "$before" ]; then
		echo "after $*: $dir has mtime $m, ctime $c; want both >= $before" >&2
		return 1
	fi
}
dir_times() {
	local bad=0
	mkdir "$M/p" || return 1
	dir_changed "$M/p" touch "$M/p/f" || bad=1
	dir_changed "$M/p" mkdir "$M/p/s" || bad=1
	dir_changed "$M/p" mv "$M/p/f" "$M/p/g" || bad=1
	dir_changed "$M/p" ln -s g "$M/p/l" || bad=1
	dir_changed "$M/p" rm "$M/p/g" || bad=1
	dir_changed "$M/p" rmdir "$M/p/s" || bad=1
	return "$bad"
}
check "create, mkdir, rename, symlink, unlink, rmdir update the directory's mtime and ctime" dir_times

check "umount, mount" mfs_remount "$M"
persisted() {
	expect_eq "$(stat -c '%a %u:%g %Y' "$M/f")" "704 1234:99 1500000000" "file attributes" &&
	expect_eq "$(stat -c '%a %u %Y' "$M/d")" "1777 4321 1234567890" "directory attributes"
}
check "after remount the attributes are the same" persisted

mfs_done
