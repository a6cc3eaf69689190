# The platform's SOPS secrets: the one list of keys a stack's secrets file must hold, how a fresh
# value of each is made, and which domain consumes it. Source it (after common.sh); it defines
# functions only. Used by scripts/secrets.sh and scripts/lab/secrets.sh.
# Values are printed to stdout only, for a pipe into sops: never into a file, never to a terminal.
# shellcheck shell=bash

# Keys are named secret_<domain-ish prefix>_...: lib/domains.ts maps prefixes to the domain whose
# Ansible run consumes them, so rotating one value re-runs exactly that domain.
PLATFORM_SECRET_KEYS=(secret_postgresql_app_password secret_wireguard_server_private_key secret_k3s_token)

secret_known() { # KEY: is it one of the required keys?
  local k
  for k in "${PLATFORM_SECRET_KEYS[@]}"; do [ "$k" = "$1" ] && return 0; done
  return 1
}

# secret_generate KEY: a fresh random value on stdout (no newline).
secret_generate() {
  local v
  case "$1" in
    secret_postgresql_app_password)
      # Alphanumeric only, so the value needs no quoting anywhere (YAML, libpq, shell).
      v="$(head -c 96 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | cut -c1-32)" ;;
    secret_wireguard_server_private_key)
      # 32 random bytes, base64: wg genkey also clamps them (Curve25519); WireGuard clamps anyway.
      if command -v wg >/dev/null 2>&1; then v="$(wg genkey)"; else v="$(head -c 32 /dev/urandom | base64 -w0)"; fi ;;
    secret_k3s_token)
      # K3s's "short" token format: any random string; hex keeps it quoting-free.
      v="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" ;;
    *) printf 'error: no generator for secret key %s\n' "$1" >&2; return 1 ;;
  esac
  [ ${#v} -ge 32 ] || { printf 'error: generating %s gave a value that is too short\n' "$1" >&2; return 1; }
  printf '%s' "$v"
}

# secrets_fresh_yaml KEY...: a YAML document with a fresh value for each KEY, on stdout (pipe it
# straight into `sops encrypt`). The generated values need no escaping inside double quotes.
secrets_fresh_yaml() {
  local k
  for k in "$@"; do printf '%s: "%s"\n' "$k" "$(secret_generate "$k")"; done
}

# secret_domains KEY: the domains whose secretPrefixes (lib/domains.ts, the one mapping the Pulumi
# program uses for its per-domain secrets hash) match KEY, space-separated; empty when none does.
secret_domains() {
  local key="$1" line dom p out=() prefixes
  while IFS= read -r line; do
    dom="$(sed -E 's/^[[:space:]]*([A-Za-z0-9_]+):.*/\1/' <<<"$line")"
    mapfile -t prefixes < <(grep -oE 'secretPrefixes: \[[^]]*\]' <<<"$line" | grep -oE '"[^"]+"' | tr -d '"')
    for p in "${prefixes[@]}"; do
      [[ "$key" == "$p"* ]] && { out+=("$dom"); break; }
    done
  done < <(grep -E '^[[:space:]]*[A-Za-z0-9_]+: \{.*secretPrefixes: \[' "$PLATFORM_ROOT/lib/domains.ts")
  printf '%s\n' "${out[*]}"
}
