#!/usr/bin/env bash
# Benchmark of Story 2.3 on the lab (Argo CD installed, `npx platform deploy lab` done): the median of
# SAMPLES runs each of
#   detect     a manual change to a managed object -> Argo CD reports the app OutOfSync
#   resync     `platform resync lab demo` of that change -> Synced and verified against Git
#   push       a commit pushed to the lab Git server -> the app Synced to it (polling, no trigger)
#   rollback   `platform rollback` of a faulty commit -> previous state restored and verified
#   service    a faulty config commit that breaks the workload (wrong database port) is live and
#              the service fails -> platform rollback -> the service answers 200 with the previous greeting
#   drift      `platform drift lab` wall time (three layers; DRIFT_SAMPLES runs, default 1: ~1-2 min each)
# and the ratio push/rollback (how much the explicit trigger saves over waiting for polling).
#   scripts/bench/gitops.sh [SAMPLES]        (default 5)
# Figures are printed and saved in evidence/bench/gitops.json; nothing here fails on timing.
# Leaves the lab as found: HEAD published on the lab Git server, every app Synced.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
samples="${1:-5}" drift_samples="${DRIFT_SAMPLES:-1}"
[[ "$samples" =~ ^[1-9][0-9]*$ ]] || die "SAMPLES must be a positive integer, got '$samples'"
out="$PLATFORM_ROOT/evidence/bench"; mkdir -p "$out"
export PLATFORM_EVIDENCE_DIR="$out/runs"
# The lab cluster: the kubeconfig the stack config names (read by lib/config.ts, the one parser),
# the pinned kubectl (this benchmark's own probe; the operator code uses the Kubernetes client),
# the lab's API relay.
KUBECONFIG="$(cd "$PLATFORM_ROOT" && node -r tsx/cjs -e 'const c = require("./lib/operator/stackCluster").stackConfig("lab", process.cwd()); process.stdout.write(require("path").resolve(process.cwd(), c.argocd.kubeconfigPath ?? ""))')" \
  || die "cannot read the lab stack config"
export KUBECONFIG
[ -s "$KUBECONFIG" ] || die "no kubeconfig at $KUBECONFIG: npx platform deploy lab first"
command -v kubectl >/dev/null 2>&1 || PATH="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" kube | tail -1):$PATH"
bash "$PLATFORM_ROOT/scripts/lab/api-tunnel.sh" start >/dev/null 2>&1 || true
timeout 20 kubectl --request-timeout=10s get --raw /readyz >/dev/null 2>&1 || die "the lab cluster is not reachable (npx platform deploy lab first)"
remote="${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}/git/platform.git"
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }
sync_of() { kubectl -n argocd get applications.argoproj.io "$1" -o jsonpath='{.status.sync.status} {.status.sync.revision}'; }
until_() { # until_ TIMEOUT_S CMD...: poll every 0.1 s, bounded
  local deadline; deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.1; done
}
# The operator's command of this checkout (what `npx platform` runs).
platform() { node "$PLATFORM_ROOT/cli/platform.js" "$@"; }
out_of_sync() { [ "$(sync_of demo | cut -d' ' -f1)" = OutOfSync ]; }
synced_to() { [ "$(sync_of demo)" = "Synced $1" ]; }
greeting() { kubectl -n demo get configmap demo-config -o jsonpath='{.data.greeting}'; }
# GET / of the workload through the API's service proxy (the operator's way in, never a public port).
served() { kubectl get --raw /api/v1/namespaces/demo/services/demo:http/proxy/ --request-timeout=3s 2>/dev/null; }
serves_stable() { served | grep -q '"greeting":"hello from git"'; }
service_down() { ! served > /dev/null; }

bash "$PLATFORM_ROOT/scripts/lab/git-server.sh" push HEAD > /dev/null
head="$(git -C "$PLATFORM_ROOT" rev-parse HEAD)"
until_ 180 synced_to "$head" || die "demo is not Synced to HEAD ${head:0:12}; run npx platform deploy lab"
work="$(mktemp -d)"; trap 'rm -rf "$work"; bash "$PLATFORM_ROOT/scripts/lab/git-server.sh" push HEAD >/dev/null 2>&1 || true' EXIT
git clone -q "$remote" "$work/repo"
commit() { git -C "$work/repo" -c user.name=bench -c user.email=bench@lab.invalid commit -qam "$1"; git -C "$work/repo" rev-parse HEAD; }

detect=() resync=() push=() rollback=() service=() drift=()
for i in $(seq 1 "$samples"); do
  log "sample $i/$samples"
  # detect + resync
  t0=$(now); kubectl -n demo patch configmap demo-config --type merge -p "{\"data\":{\"greeting\":\"bench $i\"}}" > /dev/null
  until_ 60 out_of_sync || die "no OutOfSync within 60 s"
  detect+=("$(secs "$t0" "$(now)")")
  t0=$(now); platform resync lab demo > "$out/last-resync.log" 2>&1 || die "resync failed: $out/last-resync.log"
  resync+=("$(secs "$t0" "$(now)")")
  log "  manual change -> OutOfSync ${detect[-1]}s; platform resync ${resync[-1]}s"
  # push -> Synced by polling
  sed -i "s/^  greeting: .*/  greeting: bench commit $i/" "$work/repo/gitops/apps/demo/manifests/config.yaml"
  bad="$(commit "bench: greeting $i")"
  t0=$(now); git -C "$work/repo" push -q origin HEAD:refs/heads/main
  until_ 300 synced_to "$bad" || die "the pushed commit was not synced within 300 s"
  until_ 30 test "$(greeting)" = "bench commit $i" || die "the pushed value is not live"
  push+=("$(secs "$t0" "$(now)")")
  # rollback of that commit -> restored
  t0=$(now); platform rollback --repo "$work/repo" "$bad" > "$out/last-rollback.log" 2>&1 || die "rollback failed: $out/last-rollback.log"
  [ "$(greeting)" = "hello from git" ] || die "rollback did not restore the greeting"
  rollback+=("$(secs "$t0" "$(now)")")
  log "  push -> Synced (polling) ${push[-1]}s; platform rollback -> restored ${rollback[-1]}s"
  # a faulty commit that breaks the service -> reverted -> the service answers again
  sed -i 's/^  db-port: .*/  db-port: "5433"/' "$work/repo/gitops/apps/demo/manifests/config.yaml"
  bad="$(commit "bench: wrong database port $i")"
  git -C "$work/repo" push -q origin HEAD:refs/heads/main
  until_ 300 synced_to "$bad" || die "the faulty commit was not synced within 300 s"
  until_ 120 service_down || die "the faulty commit did not break the service within 120 s"
  t0=$(now); platform rollback --repo "$work/repo" "$bad" > "$out/last-rollback-service.log" 2>&1 || die "rollback failed: $out/last-rollback-service.log"
  until_ 120 serves_stable || die "the service did not answer again within 120 s of the rollback"
  service+=("$(secs "$t0" "$(now)")")
  log "  faulty commit reverted -> service answers again ${service[-1]}s"
done
for i in $(seq 1 "$drift_samples"); do
  t0=$(now); rc=0; node "$PLATFORM_ROOT/cli/platform.js" drift lab > "$out/last-drift.log" 2>&1 || rc=$?
  [ "$rc" -ne 1 ] || die "platform drift broke: $out/last-drift.log"
  drift+=("$(secs "$t0" "$(now)")"); log "  platform drift ${drift[-1]}s (exit $rc)"
done

python3 - "$out/gitops.json" "${detect[*]}" "${resync[*]}" "${push[*]}" "${rollback[*]}" "${service[*]}" "${drift[*]}" <<'PY'
import json, statistics, sys
path, *series = sys.argv[1:]
names = ["detect", "resync", "push", "rollback", "service", "drift"]
runs = {n: [float(x) for x in s.split()] for n, s in zip(names, series)}
med = {n: round(statistics.median(v), 2) for n, v in runs.items()}
doc = {"medianSeconds": med, "runs": runs, "ratioPushToRollback": round(med["push"] / med["rollback"], 2)}
json.dump(doc, open(path, "w"), indent=2)
print(f"manual change -> OutOfSync detected : median {med['detect']:7.2f}s  (target <= 5 s)   runs {runs['detect']}")
print(f"platform resync -> Synced, verified : median {med['resync']:7.2f}s  (target <= 3 s)   runs {runs['resync']}")
print(f"git push -> Synced (polling only)   : median {med['push']:7.2f}s                   runs {runs['push']}")
print(f"platform rollback -> restored, verified: median {med['rollback']:5.2f}s  (target <= 6 s)   runs {runs['rollback']}")
print(f"faulty commit reverted -> service answers again: median {med['service']:7.2f}s  (target <= 20 s)  runs {runs['service']}")
print(f"platform drift (3 layers) wall time : median {med['drift']:7.2f}s                   runs {runs['drift']}")
print(f"ratio push(polling) / rollback       : {doc['ratioPushToRollback']}")
print(f"saved: {path}")
PY
