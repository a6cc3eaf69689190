#!/usr/bin/env bash
# Generate the lab's own secrets, once per lab: an age key and a SOPS-encrypted YAML of random
# values, in $PLATFORM_LAB_DIR. Kept across up/down; only `down.sh --purge` removes them.
# Never prints a secret value. Usage: secrets.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

age_key="$LAB_DIR/age.key"
secrets="$LAB_DIR/secrets.sops.yaml"
wg_pub="$LAB_DIR/wireguard-server.pub"
umask 077
mkdir -p "$LAB_DIR"

if [ ! -s "$age_key" ]; then
  age-keygen -o "$age_key.tmp" 2>/dev/null
  mv "$age_key.tmp" "$age_key"
  log "lab age key generated: $age_key"
fi
recipient="$(age-keygen -y "$age_key")"

# sops: the pinned build from the tool cache (scripts/toolchain/ensure.sh), unless SOPS is set.
if [ -z "${SOPS:-}" ]; then
  sops_path="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" sops | tail -n 1)"
  SOPS="$(PATH="$sops_path:$PATH" command -v sops)" || die "no sops after scripts/toolchain/ensure.sh sops"
fi

# An empty sops config: the lab's files are not governed by the repository's .sops.yaml.
sops_config="$LAB_DIR/.sops-empty.yaml"
: > "$sops_config"

if [ -s "$secrets" ]; then
  log "lab secrets: kept ($secrets)"
else
  # A WireGuard private key is 32 random bytes, base64: wg genkey also clamps them (Curve25519).
  if command -v wg >/dev/null 2>&1; then wg_key="$(wg genkey)"; else wg_key="$(head -c 32 /dev/urandom | base64 -w0)"; fi
  # Alphanumeric only, so the values need no quoting anywhere (YAML, libpq, shell).
  pg_password="$(head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | cut -c1-32)"
  k3s_token="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  # The plain text goes through a pipe, never to disk. --age on the command line means no
  # .sops.yaml creation rule is needed (rules match the input path, and stdin has none);
  # --config points at an empty file so a repository .sops.yaml cannot interfere either.
  printf 'secret_postgresql_app_password: "%s"\nsecret_wireguard_server_private_key: "%s"\nsecret_k3s_token: "%s"\n' \
    "$pg_password" "$wg_key" "$k3s_token" \
    | "$SOPS" --config "$sops_config" --encrypt --age "$recipient" \
        --input-type yaml --output-type yaml /dev/stdin > "$secrets.tmp"
  mv "$secrets.tmp" "$secrets"
  # The public half is not secret; tests that act as WireGuard clients need it.
  if command -v wg >/dev/null 2>&1; then printf '%s\n' "$wg_key" | wg pubkey > "$wg_pub"; chmod 0644 "$wg_pub"; fi
  unset pg_password wg_key k3s_token
  log "lab secrets generated: $secrets (age recipient $recipient)"
fi

# Check that the lab key decrypts all three values, without showing any of them.
n="$(SOPS_AGE_KEY_FILE="$age_key" "$SOPS" --config "$sops_config" --decrypt "$secrets" \
      | grep -cE '^secret_(postgresql_app_password|wireguard_server_private_key|k3s_token): ..')" || true
[ "$n" = 3 ] || die "$secrets does not decrypt to the 3 expected values with $age_key"
