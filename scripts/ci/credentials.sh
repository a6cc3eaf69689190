#!/usr/bin/env bash
# Puts the prod stack's credentials where Pulumi.prod.yaml and the prod inventory expect them,
# from environment variables (in CI: the forge's secrets, docs/runbooks/set-up-the-pr-gate.md),
# then brings the VPN up (the VPS's SSH admin port and Kubernetes API answer only through it).
#   PROD_AGE_KEY          -> platform:ageKeyFile       (~/.config/sops/age/platform-prod.txt)
#   PROD_SSH_KEY          -> platform:sshPrivateKeyPath (~/.ssh/platform-prod)
#   PROD_SSH_KNOWN_HOSTS  -> ~/.ssh/known_hosts        (the VPS's pinned host key)
#   PROD_KUBECONFIG       -> platform:kubeconfigPath   (~/.kube/platform-prod.yaml)
#   PROD_WIREGUARD_CONFIG -> /etc/wireguard/platform.conf, then `wg-quick up platform` (needs sudo)
# The backend (PULUMI_BACKEND_URL, its credentials) and PULUMI_CONFIG_PASSPHRASE are read by
# Pulumi from the environment directly. Files are written 0600; no value is ever printed.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
umask 077

put() { # put VAR FILE: write $VAR to FILE (skipped, with a note, when VAR is empty)
  local var="$1" file="$2"
  if [ -z "${!var:-}" ]; then log "$var is not set: $file not written"; return 0; fi
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "${!var}" > "$file"
  log "$var -> $file"
}
put PROD_AGE_KEY "$HOME/.config/sops/age/platform-prod.txt"
put PROD_SSH_KEY "$HOME/.ssh/platform-prod"
put PROD_SSH_KNOWN_HOSTS "$HOME/.ssh/known_hosts"
put PROD_KUBECONFIG "$HOME/.kube/platform-prod.yaml"
# Ansible's community.sops reads the key from SOPS_AGE_KEY_FILE (the prod inventory): tell the
# job's later steps (GITHUB_ENV), or print the export line for a local shell.
age_env="SOPS_AGE_KEY_FILE=$HOME/.config/sops/age/platform-prod.txt"
if [ -n "${GITHUB_ENV:-}" ]; then printf '%s\n' "$age_env" >> "$GITHUB_ENV"; else printf 'export %s\n' "$age_env"; fi
if [ -n "${PROD_WIREGUARD_CONFIG:-}" ]; then
  printf '%s\n' "$PROD_WIREGUARD_CONFIG" | sudo install -m 0600 /dev/stdin /etc/wireguard/platform.conf
  sudo wg-quick up platform >/dev/null
  log "VPN up (wg-quick up platform)"
else
  log "PROD_WIREGUARD_CONFIG is not set: no VPN (the gate's cluster layer and Ansible will not reach the VPS)"
fi
