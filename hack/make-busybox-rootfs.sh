#!/usr/bin/env bash
# Build a minimal root filesystem tarball from the host's static busybox.
#
# Usage: hack/make-busybox-rootfs.sh OUTPUT.tar|OUTPUT.tar.gz|OUTPUT.tar.zst
#
# The image contains /bin/busybox with a symlink per applet, root, nobody and
# an unprivileged user `berthuser` (uid/gid 1000, member of `wheel`), and
# the usual empty mount points. Every file is owned by 0:0 except
# /home/berthuser, which is owned by 1000:1000.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT.tar|OUTPUT.tar.gz|OUTPUT.tar.zst" >&2
    exit 2
fi
output=$1

busybox=/usr/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "error: $busybox is missing or not runnable: install busybox-static" >&2
    exit 1
fi
# A dynamically linked busybox would need the host's libc inside the image.
if ldd "$busybox" >/dev/null 2>&1; then
    echo "error: $busybox is dynamically linked: install busybox-static" >&2
    exit 1
fi

case $output in
    *.tar.gz | *.tgz) compression=gzip ;;
    *.tar.zst) compression=zstd ;;
    *.tar) compression=none ;;
    *)
        echo "error: invalid extension in '$output': use .tar, .tar.gz or .tar.zst" >&2
        exit 2
        ;;
esac

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
rootfs=$workdir/rootfs

mkdir -p "$rootfs"/{bin,etc,root,tmp,proc,sys,dev,var,run,home/berthuser}
chmod 0755 "$rootfs" "$rootfs"/{bin,etc,proc,sys,dev,var,run,home}
chmod 0700 "$rootfs/root"
chmod 1777 "$rootfs/tmp"
chmod 0755 "$rootfs/home/berthuser"

install -m 0755 "$busybox" "$rootfs/bin/busybox"
# `busybox --list` prints bare applet names. All links go into /bin, so a
# PATH of /bin finds every applet.
while read -r applet; do
    [[ $applet == busybox ]] && continue
    ln -sf busybox "$rootfs/bin/$applet"
done < <("$busybox" --list)

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
berthuser:x:1000:1000:berthuser:/home/berthuser:/bin/sh
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
wheel:x:10:berthuser
nogroup:x:65534:
berthuser:x:1000:
GROUP
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
chmod 0644 "$rootfs"/etc/{passwd,group,hosts,resolv.conf,hostname}

# Two passes, because --owner/--group apply to the whole archive: first
# everything but the home directory as 0:0, then the home directory as
# 1000:1000. Sorting makes the tarball reproducible for equal inputs.
tar_common=(--numeric-owner --sort=name --mtime=@0 -C "$rootfs")
tar --create --file "$workdir/rootfs.tar" "${tar_common[@]}" \
    --owner=0 --group=0 --exclude=./home/berthuser .
tar --append --file "$workdir/rootfs.tar" "${tar_common[@]}" \
    --owner=1000 --group=1000 ./home/berthuser

# Compress after appending: tar cannot append to a compressed archive.
case $compression in
    gzip) gzip -n -c "$workdir/rootfs.tar" >"$workdir/out" ;;
    zstd) zstd -q -c "$workdir/rootfs.tar" >"$workdir/out" ;;
    none) mv "$workdir/rootfs.tar" "$workdir/out" ;;
esac
mv -f "$workdir/out" "$output"
