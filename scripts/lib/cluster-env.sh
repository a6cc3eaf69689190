# The cluster side of a stack, for the GitOps commands (drift.sh, resync.sh, rollback.sh). Source
# it after common.sh and pulumi-env.sh, then `cluster_env STACK`: it reads the stack config (the
# engine's own merge, scripts/lib/stack_config.py) into STACK_*, puts kubectl (the pinned build)
# on PATH, exports KUBECONFIG, sets PLATFORM_PY (a python3 with PyYAML: the Ansible venv's), and
# checks that the Kubernetes API answers — the lab's relay is started if needed; in prod the API
# is reachable only through the VPN.
# shellcheck shell=bash

cluster_env() {
  local stack="${1:?stack}" ansible_bin kube_bin
  pulumi_env "$stack" >/dev/null || die "cannot prepare the Pulumi environment for stack '$stack'"
  local cfg
  cfg="$(pulumi config --json "${PULUMI_STACK_ARGS[@]}" "${PULUMI_CONFIG_ARGS[@]}" 2>&1)" \
    || die "cannot read the configuration of stack '$stack': $(printf '%s' "$cfg" | tail -1)"
  eval "$(printf '%s' "$cfg" | python3 "$PLATFORM_ROOT/scripts/lib/stack_config.py" "$PLATFORM_ROOT")"
  [ "$STACK_ARGOCD_ENABLED" = true ] || die "stack '$stack' has no Argo CD (platform:argocdEnabled is not true)"
  ansible_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" | tail -1)" || die "no Ansible venv"
  PLATFORM_PY="$ansible_bin/python3"
  if ! command -v kubectl >/dev/null 2>&1; then
    kube_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" kube | tail -1)" || die "no kubectl (bash scripts/toolchain/ensure.sh kube)"
    export PATH="$kube_bin:$PATH"
  fi
  export KUBECONFIG="$STACK_KUBECONFIG"
  [ -s "$KUBECONFIG" ] || die "no kubeconfig at $KUBECONFIG (platform:kubeconfigPath): converge the k3s domain first (it writes it)"
  if [ "$stack" = lab ]; then bash "$PLATFORM_ROOT/scripts/lab/api-tunnel.sh" start >/dev/null 2>&1 || true; fi
  local server; server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null || true)"
  timeout 20 kubectl --request-timeout=10s get --raw /readyz >/dev/null 2>&1 \
    || die "the Kubernetes API at ${server:-?} does not answer (lab: scripts/lab/up.sh starts its relay; prod: the API is reachable only through the VPN — is it up?)"
}
