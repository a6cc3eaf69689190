#!/usr/bin/env bash
# Host tools the exposure tests need, installed from Debian when missing (without recommends):
# wg (wireguard-tools), wireguard-go (a userspace VPN peer in a lab netns: the lab machine has no
# WireGuard kernel module), pg_isready and psql (postgresql-client), python3.
# Idempotent: does nothing (instantly) when all are present.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
need=(wg:wireguard-tools wireguard-go:wireguard-go pg_isready:postgresql-client psql:postgresql-client python3:python3)
missing=()
for entry in "${need[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]} and not root: install them with apt-get"
log "installing probe tools: ${missing[*]}"
with_heartbeat "apt-get update" timeout 300 apt-get update -qq
DEBIAN_FRONTEND=noninteractive with_heartbeat "apt-get install" \
  timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
