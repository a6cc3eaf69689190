#!/usr/bin/env bash
# Host drift, per domain: runs site.yml in check mode with diff against the stack's host (changes
# nothing) and reports, for each domain, whether the host drifted and which tasks would change.
#   scripts/drift-host.sh [STACK] [DOMAIN...]     default: lab, every domain
# Exit: 0 clean, 3 drifted, 1 broken (unreachable host, failed run, bad input).
# Output: a summary on stdout, the JSON report in evidence/drift-host-<correlation id>.json.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/pulumi-env.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
stack="${1:-lab}"; [ $# -gt 0 ] && shift
all_domains=(base ssh firewall vpn postgresql k3s)
domains=("$@"); [ ${#domains[@]} -gt 0 ] || domains=("${all_domains[@]}")
for d in "${domains[@]}"; do
  [[ " ${all_domains[*]} " == *" $d "* ]] || { echo "error: unknown domain '$d' (known: ${all_domains[*]})" >&2; exit 1; }
done

pulumi_env "$stack" >/dev/null
eval "$(pulumi config --json "${PULUMI_STACK_ARGS[@]}" "${PULUMI_CONFIG_ARGS[@]}" | python3 "$PLATFORM_ROOT/scripts/lib/stack_config.py" "$PLATFORM_ROOT")"
cid="$(correlation_id)"
evidence="${PLATFORM_EVIDENCE_DIR:-$PLATFORM_ROOT/evidence}"
run_dir="$evidence/drift-host-$cid"
mkdir -p "$run_dir"
tags="$(IFS=,; echo "${domains[*]}")"
log "checking $STACK_HOST ($STACK_HOST_ADDRESS) for drift in: $tags (correlation id $cid)"
rc=0
(cd "$PLATFORM_ROOT/infra/ansible" && \
  ANSIBLE_CONFIG="$PLATFORM_ROOT/infra/ansible/ansible.cfg" PLATFORM_EVIDENCE_DIR="$run_dir" \
  PLATFORM_CORRELATION_ID="$cid" SOPS_AGE_KEY_FILE="$STACK_AGE_KEY_FILE" \
  ansible-playbook -i "$STACK_INVENTORY" site.yml --check --diff --tags "$tags" --limit "$STACK_HOST" \
    -e "ansible_host=$STACK_HOST_ADDRESS" \
    --private-key "$STACK_SSH_KEY" -e "platform_secrets_file=$STACK_SECRETS_FILE" \
    -e "platform_correlation_id=$cid") > "$run_dir/ansible-check.log" 2>&1 || rc=$?
record="$(ls "$run_dir"/ansible-*.json 2>/dev/null | head -1 || true)"
if [ -z "$record" ]; then
  tail -20 "$run_dir/ansible-check.log" >&2
  audit_record "$stack" drift-host broken "$cid" "exitCode=$rc"
  die "the check run produced no evidence record (exit $rc); log: $run_dir/ansible-check.log"
fi
out=0
python3 "$PLATFORM_ROOT/scripts/lib/host_drift.py" "$record" "$evidence/drift-host-$cid.json" "${domains[@]}" || out=$?
[ "$rc" -eq 0 ] || [ "$out" -ne 0 ] || out=1
audit_record "$stack" drift-host "$( [ $out -eq 0 ] && echo clean || { [ $out -eq 3 ] && echo drifted || echo broken; })" "$cid" "report=${evidence#"$PLATFORM_ROOT"/}/drift-host-$cid.json"
exit "$out"
