#!/usr/bin/env bash
# Installs what building and testing dsec needs beyond the Rust toolchain:
# libclang (the RocksDB bindings are generated with bindgen), a C/C++
# compiler, Python's venv, openssl and curl for the TLS test, SoftHSM2 for
# the test of a validator whose key is in an HSM, and Prometheus for the
# monitoring test.
# Safe to run again: it only installs what is missing.
set -euo pipefail

need=()
if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libclang\.so'; then
  need+=(libclang-dev)
fi
command -v c++ >/dev/null 2>&1 || need+=(g++)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# The TLS end-to-end test makes its CA with openssl and talks to the node with curl.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The HSM tests keep a validator key in SoftHSM2 (PKCS#11).
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found: install Rust (rustup) first" >&2; exit 1; }
# The monitoring test runs Prometheus natively and checks the committed
# config and alert rules with promtool (without its recommended exporters).
extra=()
command -v promtool >/dev/null 2>&1 || extra+=(prometheus)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ${#extra[@]} -gt 0 ]; then
  echo "installing: ${extra[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  [ ${#need[@]} -gt 0 ] || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi
