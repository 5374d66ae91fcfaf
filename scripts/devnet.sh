#!/usr/bin/env bash
# Starts a local dev chain: prefunded dev accounts, JSON-RPC on 127.0.0.1:8545.
#
#   scripts/devnet.sh [FLAGS]                  four validator processes (`dsec devnet`; FLAGS go to it, see --help)
#   scripts/devnet.sh --docker [--monitoring]  the same network in containers (devnet/docker-compose.yml),
#                                              with Prometheus and Grafana under --monitoring
#   scripts/devnet.sh --docker-down            stop the containers and remove their volumes
set -euo pipefail
cd "$(dirname "$0")/.."

project=dsec-devnet
compose_command() {
  if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo "docker-compose"; fi
}
compose() {
  $(compose_command) -f devnet/docker-compose.yml -p "$project" "$@"
}

rpc_block_number() {
  curl -s -m 2 -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "http://127.0.0.1:$1" |
    sed -n 's/.*"result":"\(0x[0-9a-f]*\)".*/\1/p'
}

case "${1:-}" in
  --docker-down)
    scripts/docker-setup.sh
    compose --profile monitoring down -v --remove-orphans
    exit 0
    ;;
  --docker)
    shift
    monitoring=false
    for arg in "$@"; do
      case "$arg" in
        --monitoring) monitoring=true ;;
        *) echo "error: scripts/devnet.sh --docker takes only --monitoring (got '$arg')" >&2; exit 2 ;;
      esac
    done
    scripts/setup.sh
    scripts/docker-setup.sh
    cargo build --quiet --locked --bin dsec
    echo "building the dsec:local image from target/debug/dsec"
    scripts/docker-image.sh dsec:local
    started=$(date +%s)
    compose up -d
    for port in 8545 8546 8547 8548; do
      for _ in $(seq 1 240); do
        height="$(rpc_block_number "$port" || true)"
        [ -n "$height" ] && [ "$((height))" -gt 0 ] && break
        sleep 0.5
      done
      if [ -z "$height" ] || [ "$((height))" -eq 0 ]; then
        echo "error: the validator with JSON-RPC on 127.0.0.1:$port made no block within 120 s; its log:" >&2
        compose logs --tail 30 "validator$((port - 8545))" >&2
        exit 1
      fi
    done
    echo "four validators finalising (block $((height)) on 127.0.0.1:8548) $(( $(date +%s) - started )) s after compose up"
    if $monitoring; then
      compose --profile monitoring build -q prometheus
      compose --profile monitoring up -d prometheus
      echo "Prometheus: http://127.0.0.1:9090 (alerts: http://127.0.0.1:9090/alerts)"
      if compose --profile monitoring up -d grafana; then
        echo "Grafana:    http://127.0.0.1:3000 (dashboard dsec; anonymous viewer, admin/admin)"
      else
        echo "warning: Grafana's image could not be pulled (is a registry reachable?); Prometheus runs without it." >&2
        echo "         The dashboard is devnet/monitoring/grafana/dashboards/dsec.json, for any Grafana." >&2
      fi
    fi
    cat <<TEXT

JSON-RPC:  http://127.0.0.1:8545 .. 8548   (chain id 31337)
Metrics:   http://127.0.0.1:9545/metrics .. 9548, /health and /ready beside them
Accounts:  the ten dev accounts of the mnemonic 'test test ... junk', 10,000 ETH each;
           account 0 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
           key     0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
Logs:      $(compose_command) -f devnet/docker-compose.yml -p $project logs -f validator0
Stop:      scripts/devnet.sh --docker-down
TEXT
    exit 0
    ;;
esac

scripts/setup.sh
exec cargo run --quiet --bin dsec -- devnet "$@"
