#!/usr/bin/env bash
# Roll back a bad commit, through Git: `git revert` it (a new commit with a Correlation-Id:
# trailer), push that to the GitOps remote, trigger the Argo CD sync of the affected apps at the
# revert revision (no waiting for polling), wait until they are Synced to it, verify the live
# objects equal Git, and — when the commit touched what the Pulumi program deploys (infra/,
# components/, lib/, index.ts, Pulumi*.yaml, toolchain/) — `pulumi up` the stack with the same
# correlation id, so `pulumi stack history` shows it. Every outcome goes to the audit log.
# Usage: scripts/rollback.sh [--stack STACK] [--repo DIR] [--remote URL] [--no-pulumi] COMMIT
#   --repo    the Git checkout to revert in (default: this repository); must be clean
#   --remote  where to push (default: the lab's Git server for the lab, `origin` otherwise)
# Exit: 0 rolled back and verified; 1 refused or failed (nothing pushed when refused).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
. "$PLATFORM_ROOT/scripts/lib/cluster-env.sh"

stack=lab repo="$PLATFORM_ROOT" remote="" pulumi_layer=1 commit=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="${2:?}"; shift 2 ;;
    --repo) repo="${2:?}"; shift 2 ;;
    --remote) remote="${2:?}"; shift 2 ;;
    --no-pulumi) pulumi_layer=0; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (usage: rollback.sh [--stack S] [--repo DIR] [--remote URL] [--no-pulumi] COMMIT)" ;;
    *) [ -z "$commit" ] || die "one commit at a time (got '$commit' and '$1')"; commit="$1"; shift ;;
  esac
done
[ -n "$commit" ] || die "usage: rollback.sh [--stack S] [--repo DIR] [--remote URL] [--no-pulumi] COMMIT"

export PLATFORM_CORRELATION_ID="${PLATFORM_CORRELATION_ID:-$(correlation_id)}"
cid="$PLATFORM_CORRELATION_ID"
evidence="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
work="$evidence/rollback-$cid"
mkdir -p "$work"
g() { git -C "$repo" "$@"; }
before=""
fail() {
  audit_record "$stack" rollback failed "$cid" "commit=$commit" "error=$1" "revisionBefore=$before" "evidence=${work#"$PLATFORM_ROOT"/}"
  die "$1"
}

# --- refuse bad input before changing anything ---------------------------------------------
g rev-parse --git-dir > /dev/null 2>&1 || fail "$repo is not a Git checkout"
sha="$(g rev-parse -q --verify "$commit^{commit}" 2>/dev/null)" || fail "unknown commit '$commit' in $repo"
before="$(g rev-parse HEAD)"
[ -z "$(g status --porcelain --untracked-files=no)" ] || fail "$repo has uncommitted changes: commit or stash them first (a rollback commits only the revert)"
g merge-base --is-ancestor "$sha" HEAD || fail "commit ${sha:0:12} is not in the history of HEAD in $repo"
[ "$(g rev-list --no-walk --count --min-parents=2 "$sha")" = 0 ] \
  || fail "commit ${sha:0:12} is a merge: revert it by hand choosing the mainline (git revert -m 1), then push"
if [ -z "$remote" ]; then
  if [ "$stack" = lab ]; then remote="${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}/git/platform.git"; else remote=origin; fi
fi
cluster_env "$stack" > /dev/null 2> "$work/cluster-env.err" || fail "$(tail -1 "$work/cluster-env.err" | sed 's/^error: //')"
branch="$STACK_GITOPS_REVISION"
timeout 30 git -C "$repo" ls-remote "$remote" "refs/heads/$branch" > "$work/remote-before.txt" 2> "$work/ls-remote.err" \
  || fail "the Git remote $remote does not answer: $(tail -1 "$work/ls-remote.err")"
remote_before="$(awk '{print $1}' "$work/remote-before.txt")"
subject="$(g log -1 --format=%s "$sha")"
mapfile -t apps < <("$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" affected "$repo" "$sha" | tr ' ' '\n' | grep .)
touches_pulumi=0
if g show --name-only --format= "$sha" | grep -qE '^(infra/|components/|lib/|index\.ts$|Pulumi[^/]*\.yaml$|toolchain/|package(-lock)?\.json$)'; then touches_pulumi=1; fi
# The Pulumi layer will need the stack's secrets: check them now, before anything is reverted.
if [ "$touches_pulumi" = 1 ] && [ "$pulumi_layer" = 1 ]; then
  bash "$repo/scripts/secrets.sh" check "$stack" > "$work/secrets-check.txt" 2>&1 \
    || fail "the stack's secrets are not usable, so the Pulumi layer could not run: $(grep -m1 'error' "$work/secrets-check.txt" | sed 's/^error: //')"
fi
log "rollback of ${sha:0:12} \"$subject\" on $stack (correlation id $cid); apps: ${apps[*]:-none}; Pulumi layer: $([ $touches_pulumi = 1 ] && [ $pulumi_layer = 1 ] && echo yes || echo no)"
"$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" report "${apps[@]}" > "$work/before.json" 2>/dev/null || true

# --- the revert commit ------------------------------------------------------------------------
t0=$(date +%s.%N)
if ! g revert --no-edit --no-commit "$sha" > "$work/revert.txt" 2>&1; then
  conflicts="$(g diff --name-only --diff-filter=U | tr '\n' ' ')"
  g revert --abort > /dev/null 2>&1 || g reset -q --hard "$before"
  fail "commit ${sha:0:12} does not revert cleanly (conflicts: ${conflicts:-see $work/revert.txt}); later commits changed the same lines: revert those first, or fix forward"
fi
g -c user.name="${GIT_AUTHOR_NAME:-$(g config user.name || echo platform-operator)}" \
  -c user.email="${GIT_AUTHOR_EMAIL:-$(g config user.email || echo platform-operator@localhost)}" \
  commit -q -m "Revert \"$subject\"" -m "This reverts commit $sha." --trailer "Correlation-Id: $cid" \
  || { g reset -q --hard "$before"; fail "git commit of the revert failed"; }
revert="$(g rev-parse HEAD)"
if ! timeout 60 git -C "$repo" push -q "$remote" "HEAD:refs/heads/$branch" > "$work/push.txt" 2>&1; then
  g reset -q --hard "$before"   # nothing pushed: leave the checkout as it was
  fail "push to $remote failed: $(tail -1 "$work/push.txt")"
fi
log "  revert ${revert:0:12} pushed to $remote ($branch)"

# --- Argo CD: sync now, wait, verify ---------------------------------------------------------
ok=1
since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for app in "${apps[@]}"; do
  "$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" sync "$app" "$revert" "$cid" "rollback of $sha" >> "$work/sync.jsonl" 2>> "$work/sync.err" \
    || { ok=0; log "  $app: sync request failed: $(tail -1 "$work/sync.err")"; }
done
for app in "${apps[@]}"; do
  if "$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" wait "$app" "$revert" 180 "$since" >> "$work/wait.jsonl" 2>> "$work/wait.err" \
     && "$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" verify "$app" "$revert" > "$work/verify-$app.json" 2>> "$work/verify.err"; then
    log "  $app: Synced to ${revert:0:12}, live objects equal Git"
  else
    ok=0; log "  $app: NOT restored (see $work)"
  fi
done
argocd_seconds="$(python3 -c "import time; print(round(time.time() - $t0, 1))")"
"$PLATFORM_PY" "$PLATFORM_ROOT/scripts/lib/argocd_apps.py" report "${apps[@]}" > "$work/after.json" 2>/dev/null || true

# --- Pulumi layer -----------------------------------------------------------------------------
pulumi_outcome=skipped
if [ "$touches_pulumi" = 1 ] && [ "$pulumi_layer" = 1 ]; then
  if bash "$repo/scripts/pulumi.sh" "$stack" up --yes --skip-preview > "$work/pulumi-up.txt" 2>&1; then
    pulumi_outcome=succeeded; log "  pulumi up: done (stack history carries Correlation-Id: $cid)"
  else
    pulumi_outcome=failed; ok=0; log "  pulumi up FAILED (see $work/pulumi-up.txt)"
  fi
fi
seconds="$(python3 -c "import time; print(round(time.time() - $t0, 1))")"
outcome=succeeded; [ "$ok" = 1 ] || outcome=failed
audit_record "$stack" rollback "$outcome" "$cid" "commit=$sha" "revert=$revert" "revisionBefore=$remote_before" \
  "revisionAfter=$revert" "apps=${apps[*]:-}" "pulumi=$pulumi_outcome" "argocdSeconds=$argocd_seconds" "seconds=$seconds" \
  "evidence=${work#"$PLATFORM_ROOT"/}"
[ "$ok" = 1 ] || die "rollback of ${sha:0:12} did not complete (evidence: $work); the revert ${revert:0:12} is pushed"
log "rollback of ${sha:0:12} done in ${seconds}s: revert ${revert:0:12} (correlation id $cid)"
