#!/usr/bin/env bash
# Build berth in release mode and benchmark it against podman and the raw
# runtimes (crun, runc). Run as root on a prepared host (hack/prepare-host.sh).
# Arguments go to bench/bench.py: `--smoke` for a short run that checks the
# benchmark itself, `--rounds N`, `--output-dir DIR`, `--keep`.
#
# A full run takes a few minutes and writes bench/results/latest.json and
# bench/results/latest.md.
set -euo pipefail

cd "$(dirname "$0")/.."

cargo build --release --bin berth
exec python3 bench/bench.py "$@"
