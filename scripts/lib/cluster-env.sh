# The cluster side of a stack, for scripts/bench/gitops.sh (the operator commands use lib/operator/stackCluster.ts). Source
# it after common.sh and pulumi-env.sh, then `cluster_env STACK`: it reads the stack config (the
# engine's own merge, scripts/lib/stack_config.py) into STACK_*, puts kubectl (the pinned build)
# on PATH, exports KUBECONFIG, sets PLATFORM_PY (a python3 with PyYAML: the Ansible venv's), and
# checks that the Kubernetes API answers — the lab's relay is started if needed; in prod the API
# is reachable only through the VPN. Returns 1 with the reason on stderr (never exits the caller).
# shellcheck shell=bash

_cluster_err() { printf 'error: %s\n' "$1" >&2; }

cluster_env() {
  local stack="${1:?stack}" ansible_bin kube_bin
  pulumi_env "$stack" >/dev/null || { _cluster_err "cannot prepare the Pulumi environment for stack '$stack'"; return 1; }
  local cfg
  cfg="$(pulumi config --json "${PULUMI_STACK_ARGS[@]}" "${PULUMI_CONFIG_ARGS[@]}" 2>&1)" \
    || { _cluster_err "cannot read the configuration of stack '$stack': $(printf '%s' "$cfg" | tail -1)"; return 1; }
  eval "$(printf '%s' "$cfg" | python3 "$PLATFORM_ROOT/scripts/lib/stack_config.py" "$PLATFORM_ROOT")"
  [ "$STACK_ARGOCD_ENABLED" = true ] || { _cluster_err "stack '$stack' has no Argo CD (platform:argocdEnabled is not true)"; return 1; }
  ansible_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" | tail -1)" || { _cluster_err "no Ansible venv"; return 1; }
  PLATFORM_PY="$ansible_bin/python3"
  if ! command -v kubectl >/dev/null 2>&1; then
    kube_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" kube | tail -1)" || { _cluster_err "no kubectl (bash scripts/toolchain/ensure.sh kube)"; return 1; }
    export PATH="$kube_bin:$PATH"
  fi
  export KUBECONFIG="$STACK_KUBECONFIG"
  [ -s "$KUBECONFIG" ] || { _cluster_err "no kubeconfig at $KUBECONFIG (platform:kubeconfigPath): converge the k3s domain first (it writes it)"; return 1; }
  if [ "$stack" = lab ]; then bash "$PLATFORM_ROOT/scripts/lab/api-tunnel.sh" start >/dev/null 2>&1 || true; fi
  local server; server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null || true)"
  timeout 20 kubectl --request-timeout=10s get --raw /readyz >/dev/null 2>&1 \
    || { _cluster_err "the Kubernetes API at ${server:-?} does not answer (lab: scripts/lab/up.sh starts its relay; prod: the API is reachable only through the VPN — is it up?)"; return 1; }
}
