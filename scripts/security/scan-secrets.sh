#!/usr/bin/env bash
# Secret scan, as CI runs it (scripts/test.sh, static checks). Fails on any finding of:
#   1. gitleaks over the whole Git history (`gitleaks git`, every ref: a secret committed and
#      deleted later is still a leak),
#   2. gitleaks over the working tree (`gitleaks dir` on the files Git would see: tracked and
#      untracked-but-not-ignored, so a secret about to be committed fails too),
#   3. scripts/check-no-clear-secrets.sh: every file matching the secrets pattern
#      (*.sops.yaml, secrets*.yaml, ...) must be SOPS-encrypted.
# Usage: scan-secrets.sh [REPO]      (default: this repository)
# Exit: 0 clean, 1 findings (each printed as FILE:LINE, rule, commit; the secret itself is redacted),
#       2 the scan itself could not run.
# Rules: gitleaks' defaults, extended by REPO/.gitleaks.toml when there is one.
# The pinned gitleaks (GITLEAKS_VERSION) is built into the tool cache on first use.
# Reports (redacted JSON) go to $PLATFORM_EVIDENCE_DIR/security (default evidence/security) when
# REPO is this repository, and to SCAN_SECRETS_REPORT_DIR if that is set.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

repo="$(cd "${1:-$PLATFORM_ROOT}" && pwd)" || { echo "error: no such directory: ${1:-}" >&2; exit 2; }
git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "error: $repo is not a Git working tree" >&2; exit 2; }
repo="$(git -C "$repo" rev-parse --show-toplevel)"

if ! bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" gitleaks >/dev/null; then
  echo "error: gitleaks $GITLEAKS_VERSION is not available (bash scripts/toolchain/ensure.sh gitleaks)" >&2; exit 2
fi
gitleaks="$(tool_dir gitleaks "$GITLEAKS_VERSION")/gitleaks"

config=()
[ -f "$repo/.gitleaks.toml" ] && config=(--config "$repo/.gitleaks.toml")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
report_dir="${SCAN_SECRETS_REPORT_DIR:-}"
if [ -z "$report_dir" ] && [ "$repo" = "$PLATFORM_ROOT" ]; then
  report_dir="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}/security"
fi

findings=0
errors=0
# run_gitleaks NAME DIR ARGS...: one bounded gitleaks run in DIR; findings printed, never the secret.
run_gitleaks() {
  local name="$1" dir="$2"; shift 2
  local report="$work/gitleaks-$name.json" rc=0
  (cd "$dir" && timeout 600 "$gitleaks" "$@" "${config[@]}" --no-banner --no-color --redact \
      --log-level warn --exit-code 3 --timeout 540 --report-format json --report-path "$report") \
    >"$work/$name.log" 2>&1 || rc=$?
  case "$rc" in
    0) echo "gitleaks $name: no leaks" ;;
    3)
      python3 - "$report" "$name" <<'PY'
import json, sys
report, name = sys.argv[1], sys.argv[2]
for f in json.load(open(report)):
    where = f"{f['File']}:{f['StartLine']}"
    commit = f" in commit {f['Commit'][:12]} ({f.get('Date', '')[:10]})" if f.get("Commit") else ""
    print(f"secret found ({name}): {where}: rule {f['RuleID']}{commit}")
PY
      findings=$((findings + 1)) ;;
    *)
      echo "error: gitleaks $name failed (exit $rc):" >&2; sed 's/^/  /' "$work/$name.log" >&2
      errors=$((errors + 1)) ;;
  esac
  if [ -n "$report_dir" ] && [ -f "$report" ]; then mkdir -p "$report_dir"; cp "$report" "$report_dir/"; fi
}

# 1. History: every commit reachable from any ref.
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
  run_gitleaks history "$repo" git --log-opts=--all .
else
  echo "gitleaks history: no commits yet"
fi

# 2. Working tree: a copy of exactly the files Git sees (not node_modules/, .lab/, evidence/),
# so that reported paths are relative to the repository and ignored local state is left alone.
tree="$work/tree"
mkdir -p "$tree"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | sort -zu \
  | while IFS= read -r -d '' f; do { [ -f "$f" ] || [ -L "$f" ]; } && printf '%s\0' "$f"; done \
  | xargs -0 -r cp -P --parents -t "$tree")
run_gitleaks worktree "$tree" dir .

# 3. Files named like secrets must be SOPS-encrypted.
if bash "$PLATFORM_ROOT/scripts/check-no-clear-secrets.sh" "$repo"; then :; else
  rc=$?; [ "$rc" -eq 1 ] && findings=$((findings + 1)) || errors=$((errors + 1))
fi

if [ "$errors" -gt 0 ]; then echo "secret scan of $repo: could not complete ($errors error(s))" >&2; exit 2; fi
if [ "$findings" -gt 0 ]; then echo "secret scan of $repo: FAILED ($findings check(s) with findings)" >&2; exit 1; fi
echo "secret scan of $repo: clean (history, working tree, SOPS files)"
