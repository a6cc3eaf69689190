#!/usr/bin/env bash
# Benchmark of the lab bring-up (issue 4): wall time of the README's main command,
# `bash scripts/bootstrap.sh deploy` (set-up, then `platform deploy`), from nothing running to every Argo CD app Synced, split into its steps, the
# median of SAMPLES runs; and the time from a Git push to the child app being Synced.
#   scripts/bench/lab-bringup.sh [SAMPLES]          warm tool cache (default 3 samples)
#   scripts/bench/lab-bringup.sh --cold [SAMPLES]   an EMPTY tool cache and Go caches first
#                                                   (a new machine: about 30 min of builds)
# Runs on an isolated lab of its own (netns prefix pbring-, subnet 10.213.11.0/24, API relay port
# 16451, state in a temporary directory), so the operator's lab is not touched; each sample starts
# from `down.sh --purge` of that lab. Figures are printed and saved in evidence/bench/; nothing here
# fails on timing.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cold=0
[ "${1:-}" != --cold ] || { cold=1; shift; }
samples="${1:-3}"
[[ "$samples" =~ ^[1-9][0-9]*$ ]] || die "SAMPLES must be a positive integer, got '$samples'"
out="$PLATFORM_ROOT/evidence/bench"; mkdir -p "$out"
bench_dir="$(mktemp -d /tmp/plab-bringup-XXXXXX)"
export PLATFORM_LAB_DIR="$bench_dir/lab" LAB_BRIDGE=pbring-br0 LAB_NETNS_PREFIX=pbring- LAB_VPS_NETNS=pbring-vps \
  LAB_SUBNET=10.213.11.0/24 LAB_HOST_ADDR=10.213.11.1 LAB_VPS_ADDR=10.213.11.10 LAB_PUBLIC_NETNS=pbring-public \
  LAB_PUBLIC_ADDR=10.213.11.20 LAB_API_PORT=16451 PLATFORM_EVIDENCE_DIR="$out/runs"
cleanup() { bash "$PLATFORM_ROOT/scripts/lab/down.sh" --purge >/dev/null 2>&1 || true; rm -rf "$bench_dir"; }
trap cleanup EXIT
if [ "$cold" = 1 ]; then
  # A new machine: nothing built, nothing downloaded (the Go module proxy is still reachable).
  export PLATFORM_TOOLS_CACHE="$bench_dir/tools" GOCACHE="$bench_dir/gocache" GOMODCACHE="$bench_dir/gomod"
  log "cold: empty tool cache $PLATFORM_TOOLS_CACHE (and Go caches): every tool is built again"
fi
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }
kube_bin=""

total=() synced=() push=()
for i in $(seq 1 "$samples"); do
  bash "$PLATFORM_ROOT/scripts/lab/down.sh" --purge > /dev/null 2>&1 || true
  log "sample $i/$samples: bash scripts/bootstrap.sh deploy on an empty lab"
  t0=$(now)
  bash "$PLATFORM_ROOT/scripts/bootstrap.sh" deploy > "$out/last-bringup.log" 2>&1 || die "bootstrap.sh deploy failed: $out/last-bringup.log"
  t1=$(now)
  [ -n "$kube_bin" ] || kube_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" kube | tail -1)"
  kc="$PLATFORM_LAB_DIR/kubeconfig"
  all_synced() {
    local s; s="$(PATH="$kube_bin:$PATH" kubectl --kubeconfig "$kc" --request-timeout=10s -n argocd get applications.argoproj.io \
      -o jsonpath='{range .items[*]}{.status.sync.status}{"\n"}{end}' 2>/dev/null)" || return 1
    [ -n "$s" ] && ! grep -qv '^Synced$' <<< "$s" && [ "$(wc -l <<< "$s")" -ge 3 ]
  }
  deadline=$(( $(date +%s) + 300 ))
  until all_synced; do [ "$(date +%s)" -lt "$deadline" ] || die "apps not all Synced 300 s after the deploy"; sleep 0.5; done
  t2=$(now)
  total+=("$(secs "$t0" "$t1")"); synced+=("$(secs "$t0" "$t2")")
  # A push to the lab Git server -> the child app Synced to it (polling, no trigger).
  work="$bench_dir/clone"; rm -rf "$work"; git clone -q "$PLATFORM_LAB_DIR/git/platform.git" "$work"
  sed -i "s/^  greeting: .*/  greeting: bring-up bench $i/" "$work/gitops/apps/demo/manifests/config.yaml"
  git -C "$work" -c user.name=bench -c user.email=bench@lab.invalid commit -qam "bench $i"
  sha="$(git -C "$work" rev-parse HEAD)"
  t3=$(now); git -C "$work" push -q origin HEAD:refs/heads/main
  deadline=$(( $(date +%s) + 300 ))
  until [ "$(PATH="$kube_bin:$PATH" kubectl --kubeconfig "$kc" -n argocd get applications.argoproj.io demo -o jsonpath='{.status.sync.status} {.status.sync.revision}' 2>/dev/null)" = "Synced $sha" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "push not Synced within 300 s"; sleep 0.2
  done
  push+=("$(secs "$t3" "$(now)")")
  log "  deploy ${total[-1]}s, every app Synced at ${synced[-1]}s, push -> Synced ${push[-1]}s"
done

python3 - "$out/lab-bringup$([ $cold = 1 ] && echo -cold).json" "$cold" "${total[*]}" "${synced[*]}" "${push[*]}" <<'PY'
import json, statistics, sys
path, cold, *series = sys.argv[1:]
names = ["deploy", "allSynced", "pushToSynced"]
runs = {n: [float(x) for x in s.split()] for n, s in zip(names, series)}
med = {n: round(statistics.median(v), 2) for n, v in runs.items()}
json.dump({"toolCache": "cold" if cold == "1" else "warm", "medianSeconds": med, "runs": runs}, open(path, "w"), indent=2)
cache = "cold" if cold == "1" else "warm"
print(f"lab bring-up, {cache} tool cache: bootstrap.sh deploy median {med['deploy']}s; every app Synced at {med['allSynced']}s  runs {runs['deploy']}")
print(f"git push -> child app Synced (polling)      : median {med['pushToSynced']}s  runs {runs['pushToSynced']}")
print(f"saved: {path}")
PY
