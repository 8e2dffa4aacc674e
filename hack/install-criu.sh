#!/usr/bin/env bash
# Install a CRIU that works on this kernel, for `berth container checkpoint`
# and `restore` with runc. Run it as root. It does nothing when the `criu` in
# PATH already passes `criu check`.
#
# Debian 12's criu 3.17 fails `criu check` on recent kernels ("vdso: Failed to
# fill self vdso symtable"). CRIU 4.1.1 works. Its upstream source is the
# orig tarball of Debian trixie's source package, so this script adds a
# source-only trixie entry (no trixie binary package is installed), downloads
# that tarball with apt, builds `criu` with Debian 12's build dependencies and
# installs it as /usr/local/sbin/criu, which comes before /usr/sbin in PATH.
#
# Exit status: 0 when a working criu is installed, 1 otherwise. The caller
# treats a failure as a warning, so checkpoint tests skip with the reason.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "error: $0 must run as root" >&2
    exit 1
fi

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

wanted_version=4.1.1
target=/usr/local/sbin/criu
sources_file=/etc/apt/sources.list.d/berth-trixie-src.list

criu_works() {
    command -v criu >/dev/null && criu check >/dev/null 2>&1
}

if criu_works; then
    exit 0
fi

if command -v criu >/dev/null; then
    reason=$(criu check 2>&1 | grep -m1 -i error || true)
    echo "criu $(criu --version 2>/dev/null | sed -n 's/^Version: //p') fails 'criu check': ${reason:-no reason printed}"
else
    echo "criu is not installed"
fi
echo "building CRIU $wanted_version from Debian trixie's source package"

build_deps=(
    build-essential pkg-config libprotobuf-c-dev protobuf-c-compiler
    libprotobuf-dev protobuf-compiler python3-protobuf libnl-3-dev
    libnet1-dev libcap-dev libbsd-dev libgnutls28-dev libnftables-dev
    libaio-dev uuid-dev xz-utils
)
missing=()
for package in "${build_deps[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

# The entry uses the mirror of the existing Debian sources and carries only
# deb-src, so apt never installs a trixie binary package from it.
if [[ ! -e $sources_file ]]; then
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    if [[ -z $mirror ]]; then
        mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/\? .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "deb-src $mirror trixie main" >"$sources_file"
    echo "added $sources_file (deb-src $mirror trixie main)"
fi

apt-get update -qq
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing CRIU build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

workdir=$(mktemp -d /var/tmp/berth-criu-build.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"

# Only the orig tarball is needed. Some mirrors serve it but not the .dsc
# or the Debian tarball, so apt's exit status is not checked here. The
# tarball's SHA-256 is checked below against the signed Sources index.
chmod 0755 "$workdir" # lets apt's _apt user write the download
tarball=criu_${wanted_version}.orig.tar.xz
apt-get source --download-only -qq criu >/dev/null 2>"$workdir/apt-source.log" || true
if [[ ! -f $tarball ]]; then
    echo "error: could not download $tarball from trixie's criu source package:" >&2
    grep -E '^(E|W):' "$workdir/apt-source.log" | head -n 3 >&2
    exit 1
fi
expected_sha256=$(apt-cache showsrc criu |
    awk -v file="$tarball" '/^Checksums-Sha256:/ { in_sums = 1; next }
        /^[^ ]/ { in_sums = 0 }
        in_sums && $3 == file { print $1; exit }')
actual_sha256=$(sha256sum "$tarball" | cut -d' ' -f1)
if [[ -z $expected_sha256 || $expected_sha256 != "$actual_sha256" ]]; then
    echo "error: $tarball has SHA-256 $actual_sha256, but the Sources index lists ${expected_sha256:-none}" >&2
    exit 1
fi
tar -xf "$tarball"
cd "criu-$wanted_version"

echo "compiling criu (make -j$(nproc) criu, a few minutes)"
if ! make -j"$(nproc)" criu >"$workdir/build.log" 2>&1; then
    echo "error: building criu failed; last lines of the build log:" >&2
    tail -n 20 "$workdir/build.log" >&2
    exit 1
fi

install -m 0755 criu/criu "$target"
hash -r
if ! output=$(criu check 2>&1); then
    echo "error: the freshly built $target fails 'criu check':" >&2
    echo "$output" | grep -i error | head -n 3 >&2
    exit 1
fi
echo "installed $target ($(criu --version | sed -n 's/^Version: //p')): criu check passes"
