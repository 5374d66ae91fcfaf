#!/usr/bin/env bash
# Makes sure the Debian base image the Dockerfiles start from (default
# debian:bookworm-slim) exists locally. It is pulled when a registry is
# reachable; otherwise it is built here with debootstrap from this machine's
# configured Debian mirror and imported under the same tag, so the
# Dockerfiles build unchanged.
set -euo pipefail
tag="${1:-debian:bookworm-slim}"
docker image inspect "$tag" >/dev/null 2>&1 && exit 0
if timeout 60 docker pull "$tag" >/dev/null 2>&1; then exit 0; fi

suite="${tag#*:}"
suite="${suite%-slim}"
mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
fi
if [ -z "$mirror" ]; then
  echo "error: cannot pull $tag and no Debian mirror is configured in /etc/apt to build it" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v debootstrap >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
rootfs="$(mktemp -d)"
trap '$SUDO rm -rf "$rootfs"' EXIT
echo "no registry: building $tag with debootstrap ($suite, minbase) from the configured mirror" >&2
$SUDO debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/dev/null
# Slim, as the published -slim images are: no package lists, caches, docs or manuals.
$SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
$SUDO tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
