#!/usr/bin/env bash
# Install the Debian packages berth and its tests use. Idempotent.
#
# - conmon, crun, runc: the monitor and the OCI runtimes berth drives;
# - busybox-static: the test images' root filesystem (make-busybox-rootfs.sh);
# - docker-registry: a registry the pull/push tests start on loopback;
# - skopeo, podman: interoperability tests with other tools' archives and
#   registries (each run with its own temporary storage);
# - python3: hashes the test registry's htpasswd password (bcrypt).
#
# The packages' services are not started: the tests start their own
# registry on a free loopback port.
set -euo pipefail

packages=(
    conmon
    crun
    runc
    busybox-static
    docker-registry
    skopeo
    podman
    python3
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
