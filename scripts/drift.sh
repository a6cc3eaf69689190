#!/usr/bin/env bash
# Drift report, three layers, one command (read-only: nothing is changed anywhere).
#   host     the VPS, per domain: Ansible check mode with diff        (scripts/drift-host.sh)
#   pulumi   the stack: a refresh preview, no state written           (pulumi refresh --preview-only)
#   cluster  each Argo CD app: sync/health, drifted objects with a field diff against Git, and
#            orphans (objects made by hand in an app's namespace)    (scripts/lib/argocd_apps.py)
# Usage: scripts/drift.sh [STACK] [--layers host,pulumi,cluster]     (default: lab, all three)
# Exit: 0 clean, 3 drifted, 1 broken (a layer could not be checked: unreachable host or API, ...).
# Output: a summary on stdout; the JSON report in evidence/drift-<correlation id>.json.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
. "$PLATFORM_ROOT/scripts/lib/cluster-env.sh"

stack=lab layers=host,pulumi,cluster
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers="${2:?--layers needs a list}"; shift 2 ;;
    --layers=*) layers="${1#*=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (usage: drift.sh [STACK] [--layers host,pulumi,cluster])" ;;
    *) stack="$1"; shift ;;
  esac
done
IFS=, read -r -a want <<< "$layers"
for l in "${want[@]}"; do
  case "$l" in host|pulumi|cluster) ;; *) die "unknown layer '$l' (known: host, pulumi, cluster)" ;; esac
done
has() { [[ ",$layers," == *",$1,"* ]]; }

export PLATFORM_CORRELATION_ID="${PLATFORM_CORRELATION_ID:-$(correlation_id)}"
cid="$PLATFORM_CORRELATION_ID"
evidence="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
work="$evidence/drift-$cid"
mkdir -p "$work"
t0=$(date +%s.%N)
log "drift report for $stack ($layers), correlation id $cid"

# Tools and the stack once, up front, before the layers (which each prepare them again) run at once.
pulumi_env "$stack" > /dev/null || die "cannot prepare the Pulumi environment for stack '$stack'"
# The layers run side by side (all read-only): the wall time is the slowest layer's, not the sum.
# --- host: check mode per domain ---------------------------------------------------------------
if has host; then
  bash "$PLATFORM_ROOT/scripts/drift-host.sh" "$stack" > "$work/host.txt" 2> "$work/host.err" &
  host_pid=$!
fi
# --- pulumi: a refresh preview (its dynamic resources read the host in check mode too) -------
if has pulumi; then
  bash "$PLATFORM_ROOT/scripts/pulumi.sh" "$stack" refresh --preview-only --expect-no-changes --diff \
    > "$work/pulumi.txt" 2> "$work/pulumi.err" &
  pulumi_pid=$!
fi
# --- cluster: Argo CD apps against Git ---------------------------------------------------------
if has cluster; then
  ( cluster_env "$stack" > /dev/null
    "$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" report > "$work/cluster.json"
  ) 2> "$work/cluster.err" &
  cluster_pid=$!
fi
host_rc=- pulumi_rc=- cluster_rc=-
if has host; then host_rc=0; wait "$host_pid" || host_rc=$?; fi
if has pulumi; then pulumi_rc=0; wait "$pulumi_pid" || pulumi_rc=$?; fi
if has cluster; then cluster_rc=0; wait "$cluster_pid" || cluster_rc=$?; fi
[ ! -s "$evidence/drift-host-$cid.json" ] || cp "$evidence/drift-host-$cid.json" "$work/host.json"

wall="$(python3 -c "import time; print(round(time.time() - $t0, 1))")"
report="$evidence/drift-$cid.json"
out=0
python3 "$PLATFORM_ROOT/scripts/lib/drift_report.py" "$work" "$report" "$stack" "$cid" "$wall" "$host_rc" "$pulumi_rc" "$cluster_rc" || out=$?
outcome=clean; [ "$out" -eq 3 ] && outcome=drifted; [ "$out" -ne 0 ] && [ "$out" -ne 3 ] && outcome=broken
audit_record "$stack" drift "$outcome" "$cid" "layers=$layers" "report=${report#"$PLATFORM_ROOT"/}" "wallSeconds=$wall"
exit "$out"
