#!/usr/bin/env bash
# Makes Docker usable here: installs Debian's Docker engine and compose
# (docker.io, docker-compose) and debootstrap (for a base image where no
# registry is reachable) when they are missing, and starts the daemon when it
# is not running (systemd's unit where there is one, else dockerd in the
# background, logging to /var/log/dsec-dockerd.log).
# Safe to run again: it only does what is missing.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

need=()
# cgroupfs-mount: a machine without systemd may not have its cgroups mounted.
command -v dockerd >/dev/null 2>&1 || need+=(docker.io cgroupfs-mount)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  need+=(docker-compose)
fi
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

if ! $SUDO docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker
  else
    echo "starting dockerd (log: /var/log/dsec-dockerd.log)"
    $SUDO sh -c 'nohup dockerd >/var/log/dsec-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    $SUDO docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! $SUDO docker info >/dev/null 2>&1; then
    echo "error: the Docker daemon did not start; see /var/log/dsec-dockerd.log" >&2
    exit 1
  fi
fi
