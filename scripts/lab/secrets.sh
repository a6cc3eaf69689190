#!/usr/bin/env bash
# Generate the lab's own secrets, once per lab: an age key and a SOPS-encrypted YAML of random
# values, in $PLATFORM_LAB_DIR. Kept across up/down; only `down.sh --purge` removes them.
# Never prints a secret value. Usage: secrets.sh
# The keys and how their values are made are scripts/lib/secret-keys.sh's (shared with
# scripts/secrets.sh, which manages the file afterwards: rotate, recipients, check).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# shellcheck source=../lib/secret-keys.sh
. "$PLATFORM_ROOT/scripts/lib/secret-keys.sh"
# shellcheck source=../lib/correlation.sh
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"

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
  # The plain text goes through a pipe, never to disk. --age on the command line means no
  # .sops.yaml creation rule is needed (rules match the input path, and stdin has none);
  # --config points at an empty file so a repository .sops.yaml cannot interfere either.
  secrets_fresh_yaml "${PLATFORM_SECRET_KEYS[@]}" \
    | "$SOPS" --config "$sops_config" --encrypt --age "$recipient" \
        --input-type yaml --output-type yaml /dev/stdin > "$secrets.tmp"
  mv "$secrets.tmp" "$secrets"
  # The public half is not secret; tests that act as WireGuard clients need it. The private key
  # goes from sops to wg through a pipe.
  if command -v wg >/dev/null 2>&1; then
    SOPS_AGE_KEY_FILE="$age_key" "$SOPS" --config "$sops_config" --decrypt \
      --extract '["secret_wireguard_server_private_key"]' "$secrets" | wg pubkey > "$wg_pub"
    chmod 0644 "$wg_pub"
  fi
  audit_record lab secrets-init succeeded "$(correlation_id)" "file=$secrets" \
    "keys=$(IFS=,; echo "${PLATFORM_SECRET_KEYS[*]}")" "recipients=$recipient" "by=scripts/lab/secrets.sh"
  log "lab secrets generated: $secrets (age recipient $recipient)"
fi

# Check that the lab key decrypts every required value, without showing any of them.
n="$(SOPS_AGE_KEY_FILE="$age_key" "$SOPS" --config "$sops_config" --decrypt "$secrets" \
      | grep -cE "^($(IFS='|'; echo "${PLATFORM_SECRET_KEYS[*]}")): ..")" || true
[ "$n" = "${#PLATFORM_SECRET_KEYS[@]}" ] || die "$secrets does not decrypt to the ${#PLATFORM_SECRET_KEYS[@]} expected values with $age_key"
