#!/usr/bin/env bash
# Build berth and run a first container from a busybox image made on this
# host. Run it as root from any directory. It uses berth's default root and
# run root (/var/lib/berth, /run/berth).
set -euo pipefail

cd "$(dirname "$0")/.."

hack/prepare-host.sh
cargo build --release

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
hack/make-busybox-rootfs.sh "$workdir/busybox.tar"

# Importing again on a re-run only moves the `busybox` name to the new image.
target/release/berth import "$workdir/busybox.tar" busybox
target/release/berth run --rm busybox echo "hello from a berth container"
