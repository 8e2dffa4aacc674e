#!/usr/bin/env bash
# Prepare a Debian 12 host to build and test berth. Run it as root. It is
# safe to re-run, because each step checks first, and it prints one line
# per change it makes.
#
# - installs the runtime dependencies (conmon, crun, runc, netavark, ...);
# - on a cgroup hybrid host, mounts every controller that sits unused on the
#   cgroup v2 hierarchy as its own v1 hierarchy, because berth places
#   containers in the v1 hierarchies only;
# - opens /dev/net/tun to all users so rootless slirp4netns works, and
#   /dev/fuse so rootless fuse-overlayfs does;
# - creates /etc/subuid and /etc/subgid if missing;
# - installs a CRIU that passes `criu check` (hack/install-criu.sh) when the
#   installed one is missing or fails, for checkpoint and restore.
# - creates the ordinary users the rootless integration tests run berth as
#   (berthtest1 and berthtest2, with subordinate id ranges, and berthtest3,
#   without any, for the error message).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "error: $0 must run as root" >&2
    exit 1
fi

# podman is not a dependency of berth: it is installed only as the
# reference implementation that benchmarks and output checks compare with.
# GNU time measures peak memory in the benchmark.
packages=(
    conmon crun runc busybox-static catatonit uidmap slirp4netns iptables
    netavark aardvark-dns skopeo umoci fuse-overlayfs
    golang-github-containers-common zstd tar podman docker-registry python3 time
)

is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# In hybrid mode the kernel attaches every controller that no v1 hierarchy
# claims to the v2 hierarchy at /sys/fs/cgroup/unified. A controller there
# cannot be used through v1, so give each one its own v1 mount. Afterwards
# cgroup.controllers on the v2 mount lists nothing.
unified=/sys/fs/cgroup/unified
if [[ -r $unified/cgroup.controllers ]]; then
    read -r -a controllers <"$unified/cgroup.controllers" || true
    for controller in "${controllers[@]}"; do
        target=/sys/fs/cgroup/$controller
        if mountpoint -q "$target"; then
            continue
        fi
        mkdir -p "$target"
        mount -t cgroup -o "$controller" cgroup "$target"
        echo "mounted cgroup v1 controller $controller at $target"
    done
fi

if [[ -c /dev/net/tun ]] && [[ $(stat -c %a /dev/net/tun) != 666 ]]; then
    chmod 0666 /dev/net/tun
    echo "made /dev/net/tun usable by all users (mode 0666)"
fi

# fuse-overlayfs mounts rootless overlays where the kernel's overlay fails
# in a user namespace; a host without udev leaves /dev/fuse at mode 0600.
if [[ -c /dev/fuse ]] && [[ $(stat -c %a /dev/fuse) != 666 ]]; then
    chmod 0666 /dev/fuse
    echo "made /dev/fuse usable by all users (mode 0666)"
fi

for file in /etc/subuid /etc/subgid; do
    if [[ ! -e $file ]]; then
        install -m 0644 /dev/null "$file"
        echo "created empty $file"
    fi
done

# A failed CRIU build is not fatal: everything but checkpoint and restore
# works without it, and the checkpoint tests skip with the reason.
if ! "$(dirname "$0")/install-criu.sh"; then
    echo "warning: no working CRIU; berth container checkpoint and restore will not work (see the messages above)" >&2
fi
# The rootless tests switch to these users with runuser. Each range is
# 65536 ids, enough for every uid and gid of a usual image.
add_test_user() {
    local user=$1 range_start=$2
    if ! id -u "$user" >/dev/null 2>&1; then
        # Debian's useradd gives new users subordinate ids on its own; the
        # ranges are set below instead, so that berthtest3 gets none.
        useradd --create-home --shell /bin/sh --user-group \
            --key SUB_UID_COUNT=0 --key SUB_GID_COUNT=0 "$user"
        echo "created test user $user"
    fi
    local file
    if [[ -z $range_start ]]; then
        for file in /etc/subuid /etc/subgid; do
            if grep -q "^$user:" "$file"; then
                sed -i "/^$user:/d" "$file"
                echo "removed the ranges of $user from $file"
            fi
        done
        return
    fi
    for file in /etc/subuid /etc/subgid; do
        if ! grep -q "^$user:" "$file"; then
            echo "$user:$range_start:65536" >>"$file"
            echo "added $user:$range_start:65536 to $file"
        fi
    done
}
add_test_user berthtest1 200000
add_test_user berthtest2 300000
add_test_user berthtest3 ""
