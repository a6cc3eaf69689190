#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up, static checks, unit tests (Pulumi mocks),
# integration tests (the real engine), then end-to-end tests against a lab VPS that this script
# brings up and tears down again (PLATFORM_KEEP_LAB=1 keeps it). Evidence: evidence/tests/.
#   bash scripts/test.sh [all|static|fast|e2e]   (default all; the PR workflow runs `static`)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$PLATFORM_ROOT"
start=$(date +%s)
scope="${1:-all}"
case "$scope" in all|static|fast|e2e) ;; *) die "unknown scope '$scope' (all, static, fast, e2e)" ;; esac
want() { [ "$scope" = all ] || [ "$scope" = "$1" ]; }
results="$PLATFORM_ROOT/evidence/tests"
mkdir -p "$results"
rm -f "$results"/jest-*.json
failures=0
# Each step's wall time is printed when the next one starts, and all of them at the end.
step_name="" step_start=$start step_times=()
step_done() { [ -z "$step_name" ] || step_times+=("$(printf '%-28s %5ss' "$step_name" "$(( $(date +%s) - step_start ))")"); }
step() { step_done; step_name="$1" step_start=$(date +%s); log "== $1"; }

step "set-up"
bash scripts/setup.sh
export PATH="$(bash scripts/toolchain/ensure.sh | tail -1):$(bash scripts/toolchain/ensure-ansible.sh | tail -1):$PATH"

if want static; then
step "static checks"
npx tsc --noEmit || failures=$((failures + 1))
npx eslint . || failures=$((failures + 1))
(cd infra/ansible && yamllint -s . && ansible-lint --profile production --offline) || failures=$((failures + 1))
bash scripts/security/scan-secrets.sh || failures=$((failures + 1))  # gitleaks (history + tree) + SOPS check
# Every workflow (what cannot run here is at least linted; actionlint also runs shellcheck on
# run: blocks when shellcheck is on PATH, and skips that check otherwise).
{ bash scripts/toolchain/ensure.sh actionlint >/dev/null && "$(tool_dir actionlint "$ACTIONLINT_VERSION")/actionlint" .github/workflows/*.yml; } || failures=$((failures + 1))
fi

jest_run() { # jest_run NAME ARGS...: one jest invocation with its machine-readable result kept
  local name="$1"; shift
  npx jest --ci --json --outputFile "$results/jest-$name.json" "$@" || failures=$((failures + 1))
}
if want fast; then
step "unit and integration tests"
# The sample workload's own Go tests (apps/greeter: handlers, config, shutdown, no password in logs).
# -mod=readonly: modules come from go.sum via the module proxy, go.mod is never rewritten.
(cd apps/greeter && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" go vet ./... \
  && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" go test ./...) || failures=$((failures + 1))
jest_run fast --selectProjects unit integration --runInBand
fi

if want e2e; then
step "end-to-end tests on the lab"
lab_started=0
if ! bash scripts/lab/status.sh >/dev/null 2>&1; then lab_started=1; fi
teardown() {
  if [ "$lab_started" = 1 ] && [ "${PLATFORM_KEEP_LAB:-0}" != 1 ]; then
    step "lab teardown"; bash scripts/lab/down.sh || true
  fi
}
trap teardown EXIT
if bash scripts/lab/up.sh; then
  jest_run e2e --selectProjects e2e --runInBand
else
  log "the lab did not come up: end-to-end tests not run"; failures=$((failures + 1))
fi
fi

# One closing line that counts every test of every jest run.
python3 - "$results" <<'PY'
import glob, json, sys
p = f = s = 0
for path in glob.glob(f"{sys.argv[1]}/jest-*.json"):
    d = json.load(open(path))
    p += d["numPassedTests"]; f += d["numFailedTests"]; s += d["numPendingTests"]
print(f"tests: {p} passed, {f} failed, {s} skipped")
PY
step_done; step_name=""
log "step times:"; for t in "${step_times[@]}"; do log "  $t"; done
log "test.sh finished in $(( $(date +%s) - start ))s with $failures failing step(s)"
[ "$failures" -eq 0 ]
