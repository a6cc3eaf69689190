#!/usr/bin/env bash
# Benchmark of Story 1.2: wall time of a first converge (on a freshly created lab VPS), of a
# replay (nothing to change), and of a single-domain run (--tags postgresql); the median of
# SAMPLES runs each, and the ratios replay/converge and domain/replay.
#   scripts/bench/ansible-replay.sh [SAMPLES]      (default 3; recreates the lab VPS SAMPLES times)
# Figures are printed and saved in evidence/bench/; nothing here fails on timing.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
samples="${1:-3}"
[[ "$samples" =~ ^[1-9][0-9]*$ ]] || die "SAMPLES must be a positive integer, got '$samples'"
export PATH="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" | tail -1):$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" | tail -1):$PATH"
out="$PLATFORM_ROOT/evidence/bench"; mkdir -p "$out"
# The lab to measure (scripts/lab/lab.env; LAB_* variables in the environment select another lab).
. "$PLATFORM_ROOT/scripts/lab/lib.sh"
export ANSIBLE_CONFIG="$PLATFORM_ROOT/infra/ansible/ansible.cfg" PLATFORM_EVIDENCE_DIR="$out/runs"

play() { # play LABEL ARGS...: one timed run, seconds on stdout; a failed run aborts the benchmark
  local label="$1"; shift
  local t0 t1; t0=$(date +%s.%N)
  (cd "$PLATFORM_ROOT/infra/ansible" && ansible-playbook -i inventories/lab/hosts.yml site.yml -e "ansible_host=$LAB_VPS_ADDR" "$@") \
    > "$out/last-$label.log" 2>&1 || die "$label run failed: see $out/last-$label.log"
  t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 2))"
}

converge=() replay=() domain=()
for i in $(seq 1 "$samples"); do
  log "sample $i/$samples: recreating the lab VPS"
  bash "$PLATFORM_ROOT/scripts/lab/down.sh" >/dev/null
  bash "$PLATFORM_ROOT/scripts/lab/up.sh" >/dev/null
  converge+=("$(play converge)"); log "  first converge ${converge[-1]}s"
  replay+=("$(play replay)");     log "  replay ${replay[-1]}s"
  domain+=("$(play domain --tags postgresql)"); log "  --tags postgresql ${domain[-1]}s"
done

python3 - "$out/ansible-replay.json" "${converge[*]}" "${replay[*]}" "${domain[*]}" <<'PY'
import json, statistics, sys
path, *series = sys.argv[1:]
c, r, d = ([float(x) for x in s.split()] for s in series)
med = {k: statistics.median(v) for k, v in (("converge", c), ("replay", r), ("domain", d))}
res = {"samples": {"converge": c, "replay": r, "domain": d}, "median_s": med,
       "replay_over_converge": round(med["replay"] / med["converge"], 3),
       "domain_over_replay": round(med["domain"] / med["replay"], 3)}
json.dump(res, open(path, "w"), indent=2)
print(f"first converge (median of {len(c)}): {med['converge']:.1f}s   samples {c}")
print(f"replay         (median of {len(r)}): {med['replay']:.1f}s   samples {r}")
print(f"--tags postgresql (median of {len(d)}): {med['domain']:.1f}s   samples {d}")
print(f"replay/converge = {res['replay_over_converge']:.2f} (target <= 0.35)")
print(f"domain/replay   = {res['domain_over_replay']:.2f} (target <= 0.30)")
print(f"saved: {path}")
PY
