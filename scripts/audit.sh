#!/usr/bin/env bash
# What happened, by correlation id: joins the audit log, Git (commits with a Correlation-Id
# trailer), the Pulumi stack history (update messages), Argo CD (sync operations and app history
# whose initiator carries the id) and the evidence folder.
#   scripts/audit.sh recent [STACK] [N]     the last N operator actions (default lab, 20)
#   scripts/audit.sh show ID [STACK]        everything recorded under correlation id ID
# Read-only. Exit 0 when something was found, 1 when nothing carries the id.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd="${1:-}"; [ -n "$cmd" ] || usage; shift

case "$cmd" in
  recent)
    stack="${1:-lab}"; n="${2:-20}"
    [[ "$n" =~ ^[0-9]+$ ]] || die "N must be a number, got '$n'"
    file="$(audit_log_path "$stack")"
    [ -s "$file" ] || { echo "no audit records for $stack ($file)"; exit 1; }
    python3 - "$file" "$n" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-int(sys.argv[2]):]
print(f"{'time':<26} {'correlation id':<28} {'action':<16} {'outcome':<10} who")
for r in rows:
    print(f"{r['time']:<26} {r['correlationId']:<28} {r['action']:<16} {r['outcome']:<10} {r['who']}")
PY
    ;;
  show)
    id="${1:-}"; [ -n "$id" ] || usage
    stack="${2:-lab}"
    found=0
    echo "== audit log ($(audit_log_path "$stack"))"
    if grep -F "\"correlationId\": \"$id\"" "$(audit_log_path "$stack")" 2>/dev/null; then found=1; else echo "  (none)"; fi
    echo "== git commits with Correlation-Id: $id"
    # This checkout, and for the lab the Git server Argo CD reads (rollbacks push there).
    gitdirs=("$PLATFORM_ROOT/.git"); [ "$stack" != lab ] || gitdirs+=("${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}/git/platform.git")
    commits="$(for gd in "${gitdirs[@]}"; do [ -d "$gd" ] && git --git-dir "$gd" log --all --format='%H %ad %an: %s' --date=iso-strict --grep="Correlation-Id: $id" 2>/dev/null; done | sort -u)"
    if [ -n "$commits" ]; then printf '%s\n' "$commits"; found=1; else echo "  (none)"; fi
    echo "== pulumi stack history ($stack)"
    pulumi_env "$stack" >/dev/null 2>&1 || true
    if hist="$(pulumi stack history --json --page-size 1000000 "${PULUMI_STACK_ARGS[@]}" 2>/dev/null)"; then
      if printf '%s' "$hist" | python3 "$PLATFORM_ROOT/scripts/lib/history_grep.py" "$id"; then found=1; else echo "  (none)"; fi
    else
      echo "  (stack history not available for $stack)"
    fi
    echo "== argo cd sync operations and history ($stack)"
    if argo="$( . "$PLATFORM_ROOT/scripts/lib/cluster-env.sh"; cluster_env "$stack" >/dev/null 2>&1 \
                && kubectl -n "${ARGOCD_NAMESPACE:-argocd}" get applications.argoproj.io -o json 2>/dev/null)"; then
      if printf '%s' "$argo" | python3 "$PLATFORM_ROOT/scripts/lib/argocd_history_grep.py" "$id"; then found=1; else echo "  (none)"; fi
    else
      echo "  (Argo CD not reachable for $stack)"
    fi
    echo "== evidence"
    ev="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
    if find "$ev" -maxdepth 2 -name "*$id*" 2>/dev/null | sort | grep .; then found=1; else echo "  (none)"; fi
    [ "$found" = 1 ] || { echo "nothing recorded under correlation id $id" >&2; exit 1; }
    ;;
  *) usage ;;
esac
