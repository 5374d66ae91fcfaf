#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings as errors, and the
# whole test suite (unit tests and end-to-end tests on real node processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The compose devnet test (tests/it/docker.rs) needs a Docker engine and compose.
scripts/docker-setup.sh

start=$(date +%s)
echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo build (debug)"
cargo build --workspace --all-targets --locked
echo "   build took $(( $(date +%s) - start )) s"

echo "== cargo test"
t0=$(date +%s)
cargo test --workspace --locked -- --test-threads 2
echo "   tests took $(( $(date +%s) - t0 )) s"

echo "== Python end-to-end suite (web3.py)"
t0=$(date +%s)
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/py/requirements.txt
DSEC_BIN="$PWD/target/debug/dsec" .venv/bin/python -m pytest tests/py -q -p no:cacheprovider
echo "   python suite took $(( $(date +%s) - t0 )) s"

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== all checks passed in $(( $(date +%s) - start )) s"
