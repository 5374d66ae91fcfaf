#!/usr/bin/env bash
# Builds the runtime image (default tag dsec:local) from the dsec binary
# already built on the host (default target/debug/dsec; DSEC_BIN chooses
# another), on top of the Debian base image (made locally when no registry
# is reachable, see scripts/docker-base.sh). Prints the tag and its size.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-dsec:local}"
bin="${DSEC_BIN:-target/debug/dsec}"
if [ ! -x "$bin" ]; then
  cargo build --quiet --bin dsec
fi
scripts/docker-base.sh debian:bookworm-slim
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
# Debug info stays on the host: the image needs the code only.
strip -o "$context/dsec" "$bin"
if ! out="$(docker build --quiet -f docker/Dockerfile.prebuilt -t "$tag" "$context" 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
docker image ls "$tag" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
