#!/usr/bin/env bash
# Starts a local dev chain: prefunded dev accounts, JSON-RPC on 127.0.0.1:8545.
# Extra arguments go to `dsec devnet` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet --bin dsec -- devnet "$@"
