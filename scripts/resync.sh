#!/usr/bin/env bash
# Resync through Git: bring drifted Argo CD apps back to the Git state. Each app gets an Argo CD
# sync of the revision its branch points at now (the Application's `operation`, with the
# correlation id in the sync's info and initiator), then the command waits until the app is Synced
# with every object Synced, and verifies the live objects against Git field by field. Nothing is
# ever edited by hand: Git is the only source. Objects not in Git (orphans) are left alone: see
# docs/runbooks/drift-detected.md.
# Usage: scripts/resync.sh [STACK] [APP...]     default: lab; every app that is not Synced
# Exit: 0 every app restored and verified; 1 otherwise (the audit record says which).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
. "$PLATFORM_ROOT/scripts/lib/cluster-env.sh"

stack=lab
case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) die "unknown option '$1' (usage: resync.sh [STACK] [APP...])" ;;
  '') ;;
  *) if [ -f "$PLATFORM_ROOT/Pulumi.$1.yaml" ]; then stack="$1"; shift; fi ;;
esac
export PLATFORM_CORRELATION_ID="${PLATFORM_CORRELATION_ID:-$(correlation_id)}"
cid="$PLATFORM_CORRELATION_ID"
evidence="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
work="$evidence/resync-$cid"
mkdir -p "$work"
fail() { audit_record "$stack" resync failed "$cid" "error=$1" "apps=${apps[*]:-}"; die "$1"; }

apps=("$@")
cluster_env "$stack" > /dev/null 2> "$work/cluster-env.err" || fail "$(tail -1 "$work/cluster-env.err" | sed 's/^error: //')"
apps_py() { "$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" "$@"; }
rc=0; apps_py report "${apps[@]}" > "$work/before.json" 2> "$work/before.err" || rc=$?
[ "$rc" -ne 1 ] || fail "$(tail -1 "$work/before.err")"
if [ ${#apps[@]} -eq 0 ]; then
  mapfile -t apps < <(python3 -c 'import json,sys; [print(a["app"]) for a in json.load(open(sys.argv[1]))["apps"] if a["sync"] != "Synced" or a["outOfSync"]]' "$work/before.json")
  if [ ${#apps[@]} -eq 0 ]; then
    log "every app is Synced with Git: nothing to resync (correlation id $cid)"
    audit_record "$stack" resync succeeded "$cid" "apps=" "note=nothing to resync"
    exit 0
  fi
fi
log "resync ${apps[*]} on $stack to Git (correlation id $cid)"

# The revision each app's branch points at now, straight from the Git remote.
declare -A rev
for app in "${apps[@]}"; do
  read -r url target < <(python3 -c 'import json,sys; a=[x for x in json.load(open(sys.argv[1]))["apps"] if x["app"]==sys.argv[2]][0]; print(a.get("repoURL") or "", a["targetRevision"])' "$work/before.json" "$app")
  url="${url:-$STACK_GITOPS_REPO_URL}"
  sha="$(timeout 30 git ls-remote "$url" "refs/heads/$target" "refs/tags/$target" 2>"$work/ls-remote.err" | awk 'NR==1{print $1}')" \
    || fail "the Git remote $url does not answer: $(tail -1 "$work/ls-remote.err")"
  [ -n "$sha" ] || { [[ "$target" =~ ^[0-9a-f]{40}$ ]] && sha="$target"; } || fail "no revision '$target' at $url"
  rev[$app]="$sha"
done

t0=$(date +%s.%N)
since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for app in "${apps[@]}"; do
  apps_py sync "$app" "${rev[$app]}" "$cid" "resync to Git" >> "$work/sync.jsonl" 2> "$work/sync.err" || fail "$app: $(tail -1 "$work/sync.err")"
done
ok=1
for app in "${apps[@]}"; do
  if apps_py wait "$app" "${rev[$app]}" 120 "$since" >> "$work/wait.jsonl" 2>> "$work/wait.err" \
     && apps_py verify "$app" "${rev[$app]}" > "$work/verify-$app.json" 2>> "$work/verify.err"; then
    log "  $app: Synced to ${rev[$app]:0:12}, live objects equal Git"
  else
    ok=0; log "  $app: NOT restored ($(tail -1 "$work/wait.err" "$work/verify.err" 2>/dev/null | grep -v '^==' | grep . | tail -1))"
  fi
done
seconds="$(python3 -c "import time; print(round(time.time() - $t0, 1))")"
apps_py report "${apps[@]}" > "$work/after.json" 2>/dev/null || true
outcome=succeeded; [ "$ok" = 1 ] || outcome=failed
audit_record "$stack" resync "$outcome" "$cid" "apps=${apps[*]}" "revisions=$(for a in "${apps[@]}"; do printf '%s@%s ' "$a" "${rev[$a]:0:12}"; done)" \
  "seconds=$seconds" "evidence=${work#"$PLATFORM_ROOT"/}"
[ "$ok" = 1 ] || die "resync failed for some apps (evidence: $work)"
log "resync done in ${seconds}s (evidence: $work)"
