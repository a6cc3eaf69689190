#!/usr/bin/env bash
# Run a Pulumi command on a stack with the project's offline toolchain, under a correlation id.
#   scripts/pulumi.sh STACK COMMAND [ARGS...]      e.g. scripts/pulumi.sh lab preview --diff
# `up` and `refresh` get the correlation id in their update message (so `pulumi stack history`
# shows it) and leave an audit record; every command's output is kept in the evidence folder.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"

stack="${1:?usage: pulumi.sh STACK COMMAND [ARGS...]}"; shift
cmd="${1:?usage: pulumi.sh STACK COMMAND [ARGS...]}"; shift
# Every command's output is kept in evidence/: never let secret values land there.
for a in "$@"; do
  [ "$a" != --show-secrets ] || die "--show-secrets would write secret values into the evidence log: run pulumi directly for that (see docs/runbooks/evidence.md)"
done
pulumi_env "$stack"
cid="$(correlation_id)"
export PLATFORM_CORRELATION_ID="$cid"
evidence="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
mkdir -p "$evidence"
log="$evidence/pulumi-$stack-$cmd-$cid.log"

args=("${PULUMI_STACK_ARGS[@]}")
case "$cmd" in
  preview|up|refresh|destroy|config|import|watch) args+=("${PULUMI_CONFIG_ARGS[@]}") ;;
esac
case "$cmd" in
  up|refresh|destroy) args+=(--message "$cmd $stack [Correlation-Id: $cid]") ;;
esac
log "pulumi $cmd on $stack (correlation id $cid, log $log)"
rc=0
# stdout and stderr stay apart (so --json output parses), both also go to the log.
pulumi "$cmd" "${args[@]}" "$@" > >(tee "$log") 2> >(tee -a "$log" >&2) || rc=$?
case "$cmd" in
  up|refresh|destroy)
    outcome=succeeded; [ "$rc" -eq 0 ] || outcome=failed
    audit_record "$stack" "pulumi-$cmd" "$outcome" "$cid" "exitCode=$rc" "log=${log#"$PLATFORM_ROOT"/}" ;;
esac
exit "$rc"
