#!/usr/bin/env bash
# The main job: deploy the platform on a stack with `pulumi up`, under one correlation id.
#   scripts/deploy.sh            the lab: set up the machine, bring the lab VPS up, pulumi up
#   scripts/deploy.sh prod       a real VPS (the operator's own backend and keys)
# Extra arguments go to `pulumi up` (e.g. --target, --diff).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
stack="${1:-lab}"; [ $# -gt 0 ] && shift
case "$stack" in -*) die "usage: deploy.sh [STACK] [pulumi up args...] (the stack comes first)";; esac

export PLATFORM_CORRELATION_ID="${PLATFORM_CORRELATION_ID:-$(correlation_id)}"
log "deploy $stack, correlation id $PLATFORM_CORRELATION_ID"
bash "$PLATFORM_ROOT/scripts/setup.sh"
if [ "$stack" = lab ]; then
  bash "$PLATFORM_ROOT/scripts/lab/up.sh"
  # Argo CD in the lab reads gitops/ from the lab's Git server: publish this checkout's HEAD as
  # its main branch (in prod, Argo CD reads the real remote that CI merges to).
  bash "$PLATFORM_ROOT/scripts/lab/git-server.sh" push HEAD
fi
exec bash "$PLATFORM_ROOT/scripts/pulumi.sh" "$stack" up --yes --skip-preview "$@"
