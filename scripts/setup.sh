#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine, and nothing twice:
# Debian packages, the npm dependencies from the lockfile, the pinned toolchain (built into
# the tool cache outside the repository) and the Ansible venv. A warm run takes seconds.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
start=$(date +%s)

# The pinned toolchain is mostly Go compiles from the module proxy. One compile keeps both cores
# busy only part of the time (module downloads, single-threaded links and package tails): the cold
# set-up measured 44 CPU-minutes in 40 wall-minutes on 2 cores when the tools were built one after
# another. So the builds run in lanes, side by side, beside apt and npm; within a lane the order
# is the dependency order (the language host links itself next to the CLI; the images package
# CoreDNS and Argo CD's binary). A warm run finds every tool cached in about a second per lane.
lanes_dir="$(mktemp -d)"
lane_groups=()
# A step that fails below ends the set-up: each lane is a process group of its own (set -m), so its
# whole build ends with it (builds are atomic: nothing half-built stays in the cache).
trap 'for g in "${lane_groups[@]}"; do kill -- "-$g" 2>/dev/null; done; rm -rf "$lanes_dir"' EXIT
lane() { # lane NAME ENSURE_ARGS...: ensure.sh in the background, its lines prefixed with the lane's name
  local name="$1"; shift
  set -m
  ( set -o pipefail; { bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" "$@" >/dev/null; echo $? > "$lanes_dir/$name"; } 2>&1 \
      | sed -u "s/^/[$name] /" >&2 ) &
  lane_groups+=("$!")
  set +m
}
lane engine pulumi langhost sops kubernetes-provider
# The lab's control plane and node binaries, kine (the k3s role's lab path copies them to the lab VPS),
# the secret scanner (scripts/security/scan-secrets.sh) and the workflow linter (scripts/test.sh).
lane cluster kube kine helm gitleaks actionlint
# Argo CD (binary + install manifests), then the lab's OCI images (pause, the greeter, CoreDNS, and
# Argo CD's two: a debootstrap root filesystem with that binary), imported by the k3s role's lab
# node (ADR 0008, ADR 0017).
lane gitops argocd images

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

# npm dependencies, exactly as locked; skipped when node_modules already matches the lockfile.
stamp="$PLATFORM_ROOT/node_modules/.platform-lock-hash"
want="$(sha256sum "$PLATFORM_ROOT/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci"
  # One retry, only for ETXTBSY: esbuild's install script runs its binary while the kernel still
  # counts it as being written (seen once here, with the three build lanes busy); a second npm ci
  # starts from a clean node_modules. Any other failure ends the set-up at once.
  npm_log="$(mktemp)"
  npm_ci() { local rc=0; npm ci --no-audit --no-fund --loglevel=error 2>"$npm_log" || rc=$?; cat "$npm_log" >&2; return "$rc"; }
  if ! (cd "$PLATFORM_ROOT" && with_heartbeat "npm ci" npm_ci); then
    grep -q ETXTBSY "$npm_log" || { rm -f "$npm_log"; die "npm ci failed (its errors are above)"; }
    log "npm ci: ETXTBSY from an install script (a busy machine's race): once more"
    (cd "$PLATFORM_ROOT" && with_heartbeat "npm ci (retry)" npm ci --no-audit --no-fund --loglevel=error)
  fi
  rm -f "$npm_log"
  printf '%s\n' "$want" > "$stamp"
fi
# Ansible's venv needs python3-venv from the packages above.
bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" >/dev/null

wait
lane_groups=()
failed=()
for f in engine cluster gitops; do [ "$(cat "$lanes_dir/$f" 2>/dev/null)" = 0 ] || failed+=("$f"); done
[ ${#failed[@]} -eq 0 ] || die "toolchain lane(s) failed: ${failed[*]} (their lines above say why)"
log "setup done in $(( $(date +%s) - start ))s"
