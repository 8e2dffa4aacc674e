#!/usr/bin/env bash
# Prepare the host, then run every test of the workspace: unit tests and the
# integration tests, which drive the real berth binary with conmon, crun and
# runc. Run as root. Extra arguments go to `cargo test`, for example
# `hack/test.sh -- --test-threads=2` or `hack/test.sh --test run`.
set -euo pipefail

cd "$(dirname "$0")/.."

hack/prepare-host.sh
exec cargo test --workspace --all-targets --no-fail-fast "$@"
