#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine, and nothing twice:
# Debian packages, the npm dependencies from the lockfile, the pinned toolchain (built into
# the tool cache outside the repository) and the Ansible venv. A warm run takes seconds.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
start=$(date +%s)

# Debian packages: lab host tooling (debootstrap, systemd-nspawn, bridge/netns), age for keys,
# WireGuard tools and wireguard-go (the exposure tests' VPN peer), a PostgreSQL client, Python venv.
packages=(age debootstrap systemd-container dpkg-dev iproute2 openssh-client wireguard-tools wireguard-go postgresql-client python3-venv util-linux git)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}) and not root: install them, then rerun"
  log "installing Debian packages: ${missing[*]}"
  with_heartbeat "apt-get install" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing[*]} >/dev/null"
fi
command -v node >/dev/null || die "Node.js >= 20 is required (node not found)"
command -v go >/dev/null || die "Go >= 1.25 is required to build the pinned tools (go not found)"

# npm dependencies, exactly as locked; skipped when node_modules already matches the lockfile.
stamp="$PLATFORM_ROOT/node_modules/.platform-lock-hash"
want="$(sha256sum "$PLATFORM_ROOT/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci"
  (cd "$PLATFORM_ROOT" && with_heartbeat "npm ci" npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" > "$stamp"
fi

bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" >/dev/null
# The lab's control plane and Argo CD runtime (the k3s role's lab path copies them to the lab VPS).
bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" cluster >/dev/null
# The lab's OCI images (pause, the greeter, CoreDNS: built first into its own entry), imported by the k3s role's lab node (ADR 0008).
bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" images >/dev/null
# The secret scanner (scripts/security/scan-secrets.sh).
bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" gitleaks >/dev/null
# The workflow linter (scripts/test.sh lints .github/workflows).
bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" actionlint >/dev/null
bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" >/dev/null
log "setup done in $(( $(date +%s) - start ))s"
