#!/usr/bin/env bash
# Manage a stack's SOPS secrets file and its age recipients. Never prints a secret value.
#   scripts/secrets.sh keys                               the required keys, and the domain each one re-runs
#   scripts/secrets.sh init STACK                         create the encrypted file, fresh random values (never overwrites)
#   scripts/secrets.sh rotate STACK KEY... | --all        fresh values for these keys; the others are left as they are
#   scripts/secrets.sh recipients STACK                   the age recipients the file is encrypted for
#   scripts/secrets.sh add-recipient STACK AGE_PUBKEY     one more recipient (the data key is rotated too)
#   scripts/secrets.sh remove-recipient STACK AGE_PUBKEY  one recipient less (the data key is rotated too)
#   scripts/secrets.sh check STACK                        exists, encrypted, decrypts with the key, every required key present
# Where: platform:secretsFile and platform:ageKeyFile of Pulumi.STACK.yaml (`~` expanded; the lab's
# `.lab/` paths follow PLATFORM_LAB_DIR). SOPS_AGE_KEY_FILE, when set, is the key used instead.
# Recipients: the lab's file is encrypted for the lab's own key (kept in the file's metadata, no
# .sops.yaml); any other stack's recipients are .sops.yaml's creation rule for its file, which
# add-recipient / remove-recipient edit (commit .sops.yaml and the secrets file together).
# Every action appends an audit record (scripts/lib/correlation.sh: names, never values).
# Exit: 0 done, 1 refused or failed (the message says what; nothing was changed), 2 usage.
# Runbook: docs/runbooks/rotate-secrets.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
. "$PLATFORM_ROOT/scripts/lib/correlation.sh"
. "$PLATFORM_ROOT/scripts/lib/secret-keys.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# Keys, files and public keys are not secret; the generated values never reach this output.
say() { printf '%s\n' "$*"; }
umask 077

action="${1:-}"; [ $# -gt 0 ] && shift
case "$action" in
  keys)
    for k in "${PLATFORM_SECRET_KEYS[@]}"; do
      d="$(secret_domains "$k")"; say "$k	${d:-(no domain)}"
    done
    exit 0 ;;
  init|rotate|recipients|add-recipient|remove-recipient|check) ;;
  ""|-h|--help|help) usage ;;
  *) printf 'error: unknown action %s\n' "'$action'" >&2; usage ;;
esac

stack="${1:-}"
[ -n "$stack" ] || { echo "error: $action needs a STACK" >&2; usage; }
shift
known_stacks() {
  local f names=()
  for f in "$PLATFORM_ROOT"/Pulumi.*.yaml; do [ -e "$f" ] && names+=("$(basename "$f" .yaml | sed 's/^Pulumi\.//')"); done
  (IFS=,; printf '%s' "${names[*]}") | sed 's/,/, /g'
}
if ! [[ "$stack" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || [ ! -f "$PLATFORM_ROOT/Pulumi.$stack.yaml" ]; then
  die "unknown stack '$stack' (no Pulumi.$stack.yaml; known: $(known_stacks))"
fi

# --- audit: one record per action, whatever its outcome -------------------------------------
cid="$(correlation_id)"
work="$(mktemp -d)"
outcome="" reason=""
audit_extra=()
finish() {
  local rc=$?
  rm -rf "$work"
  [ -n "$outcome" ] || { [ "$rc" -eq 0 ] && outcome=succeeded || outcome=failed; }
  local extra=("${audit_extra[@]}" "exitCode=$rc")
  [ -z "$reason" ] || extra+=("reason=$reason")
  audit_record "$stack" "secrets-$action" "$outcome" "$cid" "${extra[@]}" || log "warning: could not write the audit record"
}
trap finish EXIT
# fail MESSAGE: refuse (nothing was changed), with the reason in the audit record.
fail() { outcome=refused; reason="$*"; die "$*"; }

# --- where the stack's file and key are ------------------------------------------------------
conf="$(python3 "$PLATFORM_ROOT/scripts/lib/stack_config.py" "$PLATFORM_ROOT" --stack-file "$PLATFORM_ROOT/Pulumi.$stack.yaml" 2>&1)" \
  || fail "Pulumi.$stack.yaml: $conf"
eval "$conf"
secrets_file="$STACK_SECRETS_FILE"
if [ -n "${SOPS_AGE_KEY_FILE:-}" ]; then
  key_file="$SOPS_AGE_KEY_FILE" key_source="SOPS_AGE_KEY_FILE"
else
  key_file="$STACK_AGE_KEY_FILE" key_source="platform:ageKeyFile in Pulumi.$stack.yaml"
fi
show() { case "$1" in "$PLATFORM_ROOT"/*) printf '%s' "${1#"$PLATFORM_ROOT"/}" ;; *) printf '%s' "$1" ;; esac; }
audit_extra+=("file=$(show "$secrets_file")")
log "secrets $action on $stack: $(show "$secrets_file") (correlation id $cid)"

# sops: the pinned build from the tool cache (scripts/toolchain/ensure.sh), unless SOPS is set.
if [ -z "${SOPS:-}" ]; then
  SOPS="$(tool_dir sops "$SOPS_VERSION")/sops"
  if [ ! -x "$SOPS" ]; then
    sops_path="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" sops | tail -n 1)" || fail "no sops (bash scripts/toolchain/ensure.sh sops)"
    SOPS="$(PATH="$sops_path:$PATH" command -v sops)" || fail "no sops after scripts/toolchain/ensure.sh sops"
  fi
fi
{ command -v age-keygen && command -v age; } >/dev/null || fail "age and age-keygen are needed (apt-get install age)"

# The lab's file is not governed by the repository's .sops.yaml (an empty config: its recipients
# live in the file's metadata). Any other stack's file is, by its path relative to the repository.
if [ "$stack" = lab ]; then
  sops_config="$work/sops-empty.yaml"; : > "$sops_config"
  rel=""
else
  sops_config="$PLATFORM_ROOT/.sops.yaml"
  case "$secrets_file" in
    "$PLATFORM_ROOT"/*) rel="${secrets_file#"$PLATFORM_ROOT"/}" ;;
    *) fail "$secrets_file is outside the repository: .sops.yaml's creation rules apply by path inside it (platform:secretsFile in Pulumi.$stack.yaml)" ;;
  esac
fi

# sops_run ARGS...: sops decrypting with exactly the key we name. No other key source may answer
# (SOPS_AGE_KEY, ~/.config/sops/age/keys.txt, ~/.ssh/id_ed25519 are all tried by sops): a check
# that passes thanks to some other key on this machine would prove nothing.
mkdir -p "$work/home"
sops_run() {
  env -u SOPS_AGE_KEY -u SOPS_AGE_KEY_CMD -u SOPS_AGE_SSH_PRIVATE_KEY_FILE -u SOPS_AGE_SSH_PRIVATE_KEY_CMD \
    HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" SOPS_AGE_KEY_FILE="$key_file" \
    "$SOPS" --config "$sops_config" "$@"
}
# sops_err: what went wrong in the last sops call, as a fixed phrase. sops's own messages are not
# repeated: some quote file content ("Input string <value> does not match sops' data format").
sops_err() {
  local e; e="$(cat "$work/sops.err" 2>/dev/null || true)"
  case "$e" in
    *"MAC mismatch"*) echo "the file was edited without sops: MAC mismatch (a value or key changed or deleted by hand; restore it)" ;;
    *"does not match sops' data format"*) echo "the file was edited without sops: a value is not a sops envelope (restore it)" ;;
    *"Could not decrypt with AES_GCM"*|*"message authentication failed"*) echo "the file was edited without sops: a value's ciphertext does not authenticate (restore it)" ;;
    *"Failed to get the data key"*|*"no master key was able to decrypt"*|*"did not match any of the recipients"*) echo "the key is not one of the file's recipients" ;;
    *"no matching creation rules"*) echo "no creation rule of .sops.yaml matches the file" ;;
    *"error loading config"*) echo "sops cannot load its configuration (.sops.yaml)" ;;
    *) echo "sops failed (its message is not repeated here: it can quote file content)" ;;
  esac
}

# --- the key ---------------------------------------------------------------------------------
my_pubs=()
require_key() {
  [ -e "$key_file" ] || fail "missing age key: $key_file does not exist ($key_source)"
  grep -q '^AGE-SECRET-KEY-[1]' "$key_file" 2>/dev/null || fail "missing age key: $key_file holds no age private key (a line AGE-SECRET-KEY-…; $key_source)"
  mapfile -t my_pubs < <(age-keygen -y "$key_file" 2>/dev/null) || true
  [ ${#my_pubs[@]} -gt 0 ] || fail "missing age key: $key_file cannot be read as an age key file ($key_source)"
}
is_mine() { local p; for p in "${my_pubs[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

# --- recipients --------------------------------------------------------------------------------
AGE_RECIPIENT_RE='^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$'
valid_recipient() { [[ "$1" =~ $AGE_RECIPIENT_RE ]] && age -r "$1" -o /dev/null </dev/null 2>/dev/null; }
# file_recipients FILE: the age recipients in the file's (clear-text) sops metadata.
file_recipients() { { grep -oE '^[[:space:]]+(- )?recipient: age1[0-9a-z]+' "$1" || true; } | awk '{ print $NF }' | sort -u; }

# sops_rule CONFIG get | set R1,R2,...: the age recipients of .sops.yaml's rule for the file, or
# rewrite them (scripts/lib/sops_rule.py).
sops_rule() { python3 "$PLATFORM_ROOT/scripts/lib/sops_rule.py" "$1" "$rel" "$2" "${3:-}"; }
# rule_recipients: the stack's recipients from .sops.yaml, each one checked, into rule_pubs.
rule_pubs=()
rule_recipients() {
  local out r bad=()
  out="$(sops_rule "$sops_config" get 2>&1)" || fail "$out"
  mapfile -t rule_pubs <<<"$out"
  for r in "${rule_pubs[@]}"; do
    # A private key pasted there by mistake is named as such, never repeated.
    case "$r" in AGE-SECRET-KEY-*) bad+=("<an age PRIVATE key: remove it from .sops.yaml now>") ;; *) valid_recipient "$r" || bad+=("$r") ;; esac
  done
  if [ ${#bad[@]} -gt 0 ] || [ -z "$out" ]; then
    fail ".sops.yaml's creation rule for $rel has no valid age recipient (found: ${bad[*]:-nothing}): put your age PUBLIC key there in place of the placeholder (\`age-keygen -y YOUR_KEY_FILE\` prints it; several operators: comma-separated), then run this again"
  fi
}

# --- the file ----------------------------------------------------------------------------------
# clear_keys FILE: top-level keys above the sops block whose value is not an ENC[...] envelope.
clear_keys() { awk '/^sops:/ { exit } /^[A-Za-z0-9_"'"'"'-]+:[[:space:]]*[^[:space:]#]/ && !/:[[:space:]]*ENC\[/ { k = $1; sub(/:$/, "", k); print k }' "$1" | paste -sd, | sed 's/,/, /g'; }
# missing_keys FILE: decrypts FILE (into a pipe) and prints the required keys it lacks (names only).
# Fails when nothing decrypts; sops's message is then in $work/sops.err.
missing_keys() {
  sops_run decrypt --input-type yaml --output-type json "$1" 2>"$work/sops.err" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(3)
print(" ".join(k for k in sys.argv[1:] if not str(d.get(k) if d.get(k) is not None else "").strip()))' "${PLATFORM_SECRET_KEYS[@]}"
}
# require_healthy FILE [all]: exists, encrypted, our key is a recipient and decrypts it; with
# "all", every required key is there. Sets `missing` (names of the required keys it lacks).
missing=""
require_healthy() {
  local f="$1" ck recips
  [ -e "$f" ] || fail "missing file: $(show "$f") does not exist (create it: scripts/secrets.sh init $stack)"
  if ! grep -q '^sops:' "$f" || ! grep -q 'mac: ENC\[' "$f"; then
    fail "not SOPS-encrypted: $(show "$f") is clear text (no sops metadata with a MAC); never keep secrets in clear: move the values out of it and encrypt it with sops"
  fi
  ck="$(clear_keys "$f")"
  [ -z "$ck" ] || fail "not SOPS-encrypted: $(show "$f") holds clear-text values under: $ck"
  require_key
  recips="$(file_recipients "$f" | paste -sd' ')"
  local p ok=0
  for p in "${my_pubs[@]}"; do [[ " $recips " == *" $p "* ]] && ok=1; done
  [ "$ok" = 1 ] || fail "wrong age key: $key_file ($key_source; public key ${my_pubs[0]}) is not a recipient of $(show "$f") (recipients: ${recips:-none})"
  missing="$(missing_keys "$f")" || fail "cannot decrypt $(show "$f") with $key_file: $(sops_err)"
  if [ "${2:-}" = all ] && [ -n "$missing" ]; then
    fail "missing required key(s) in $(show "$f"): $missing (add them with fresh values: scripts/secrets.sh rotate $stack $missing)"
  fi
}

# install NEW TARGET: replace TARGET by NEW atomically (a temp file beside it, then rename).
install_file() {
  local tmp="$2.new-$$"
  cp "$1" "$tmp"
  [ ! -e "$2" ] || chmod --reference="$2" "$tmp"
  mv -f "$tmp" "$2"
}

# same_set "a b" "b a": the two space-separated lists hold the same items.
same_set() { [ "$(tr ' ' '\n' <<<"$1" | grep . | sort -u)" = "$(tr ' ' '\n' <<<"$2" | grep . | sort -u)" ]; }

# The WireGuard server's public half is not secret: operators configure their peers with it, and
# the lab keeps it beside its secrets for the tests that act as WireGuard clients.
wg_public_key() { # FILE: derived in a pipe from the encrypted file
  command -v wg >/dev/null 2>&1 || return 1
  sops_run decrypt --extract '["secret_wireguard_server_private_key"]' "$1" 2>/dev/null | wg pubkey
}
publish_wg_public_key() {
  local pub
  pub="$(wg_public_key "$secrets_file")" || { log "wg is not installed: WireGuard server public key not derived"; return 0; }
  if [ "$stack" = lab ]; then
    local lab_dir="${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}"
    printf '%s\n' "$pub" > "$lab_dir/wireguard-server.pub"; chmod 0644 "$lab_dir/wireguard-server.pub"
    say "WireGuard server public key (also in $(show "$lab_dir/wireguard-server.pub")): $pub"
  else
    say "WireGuard server public key (give it to every VPN peer, docs/runbooks/add-vpn-operator.md): $pub"
  fi
}

domain_note() { # KEY: what re-runs once the new value is applied
  local d; d="$(secret_domains "$1")"
  if [ -n "$d" ]; then printf 'the %s domain re-runs on the next "scripts/pulumi.sh %s up" (preview: that domain only)' "$d" "$stack"
  else printf 'no domain consumes it (lib/domains.ts): nothing re-runs'; fi
}

# ---------------------------------------------------------------------------------------------
case "$action" in
init)
  [ $# -eq 0 ] || { echo "error: init takes only STACK" >&2; usage; }
  [ ! -e "$secrets_file" ] || fail "$(show "$secrets_file") already exists: init never overwrites (fresh values: scripts/secrets.sh rotate $stack --all; check it: scripts/secrets.sh check $stack)"
  enc_args=()
  if [ "$stack" = lab ]; then
    # The lab makes its own throwaway key (as scripts/lab/secrets.sh does); no other stack ever
    # gets a key invented here: an operator's key is theirs.
    if [ ! -e "$key_file" ] && [ "$key_source" != SOPS_AGE_KEY_FILE ]; then
      mkdir -p "$(dirname "$key_file")"
      age-keygen -o "$key_file.tmp" 2>/dev/null
      mv "$key_file.tmp" "$key_file"
      log "lab age key generated: $key_file"
    fi
    require_key
    expected="${my_pubs[0]}"
    enc_args=(--age "$expected")
  else
    rule_recipients
    require_key
    ok=0; for p in "${rule_pubs[@]}"; do is_mine "$p" && ok=1; done
    [ "$ok" = 1 ] || fail "your key $key_file ($key_source; public key ${my_pubs[0]}) is not among .sops.yaml's recipients for $rel: you could not decrypt the file you are creating (add it there first)"
    expected="${rule_pubs[*]}"
    # .sops.yaml's rules match the file's path: tell sops which path the stdin document is for.
    enc_args=(--filename-override "$secrets_file")
  fi
  # Plain text only in a pipe: generated values -> sops -> ciphertext on disk.
  secrets_fresh_yaml "${PLATFORM_SECRET_KEYS[@]}" \
    | sops_run encrypt "${enc_args[@]}" --input-type yaml --output-type yaml /dev/stdin > "$work/new.yaml" 2>"$work/sops.err" \
    || fail "sops could not encrypt: $(sops_err)"
  same_set "$(file_recipients "$work/new.yaml" | paste -sd' ')" "$expected" \
    || fail "sops encrypted for other recipients than expected ($expected): not written"
  missing="$(missing_keys "$work/new.yaml")" || fail "the new file does not decrypt with $key_file: $(sops_err); not written"
  [ -z "$missing" ] || fail "the new file lacks $missing: not written"
  mkdir -p "$(dirname "$secrets_file")"
  cp "$work/new.yaml" "$secrets_file.new-$$"
  # -n: never clobber a file that appeared meanwhile.
  mv -n "$secrets_file.new-$$" "$secrets_file"
  [ ! -e "$secrets_file.new-$$" ] || { rm -f "$secrets_file.new-$$"; fail "$(show "$secrets_file") appeared meanwhile: not overwritten"; }
  audit_extra+=("keys=$(IFS=,; echo "${PLATFORM_SECRET_KEYS[*]}")" "recipients=${expected// /,}")
  say "created $(show "$secrets_file"): ${#PLATFORM_SECRET_KEYS[@]} fresh values (${PLATFORM_SECRET_KEYS[*]}), encrypted for: $expected"
  publish_wg_public_key
  [ "$stack" = lab ] || say "next: commit $(show "$secrets_file") (ciphertext only), then scripts/pulumi.sh $stack preview --diff"
  ;;

rotate)
  [ $# -gt 0 ] || { echo "error: rotate needs KEY... or --all" >&2; usage; }
  keys=()
  [[ " $* " != *" --all "* ]] || [ $# -eq 1 ] || { echo "error: rotate takes either KEY... or --all" >&2; usage; }
  if [ "$*" = --all ]; then
    for k in "${PLATFORM_SECRET_KEYS[@]}"; do
      # K3s encrypts its datastore's bootstrap data with the server token: on a running cluster a
      # new token must first go through `k3s token rotate` on the server, so --all never takes it
      # outside the lab; name it explicitly once you are ready (runbook: rotate-secrets.md).
      if [ "$k" = secret_k3s_token ] && [ "$stack" != lab ]; then
        log "skipped secret_k3s_token: outside the lab it needs \`k3s token rotate\` on the server first; rotate it by name (docs/runbooks/rotate-secrets.md)"
        continue
      fi
      keys+=("$k")
    done
  else
    for k in "$@"; do
      secret_known "$k" || fail "unknown key '$k' (known: ${PLATFORM_SECRET_KEYS[*]}; or --all)"
      [[ " ${keys[*]} " == *" $k "* ]] || keys+=("$k")
    done
  fi
  audit_extra+=("keys=$(IFS=,; echo "${keys[*]}")")
  require_healthy "$secrets_file"
  cp "$secrets_file" "$work/secrets.yaml"
  for k in "${keys[@]}"; do
    # The value sits in this shell's memory for one pipe; --value-stdin keeps it out of the
    # process list (a command-line argument would be visible in /proc to every local user).
    v="$(secret_generate "$k")" || fail "could not generate a value for $k"
    printf '"%s"' "$v" | sops_run set --input-type yaml --output-type yaml --value-stdin "$work/secrets.yaml" "[\"$k\"]" 2>"$work/sops.err" \
      || { unset v; fail "sops could not set $k: $(sops_err)"; }
    unset v
  done
  # Before replacing anything: exactly the named keys changed, every other value is as it was.
  changed="$(python3 -c '
import json, sys
try:
    old, new = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
except Exception:
    sys.exit(3)
print(" ".join(sorted(k for k in set(old) | set(new) if k != "sops" and old.get(k) != new.get(k))))' \
    <(sops_run decrypt --input-type yaml --output-type json "$secrets_file" 2>/dev/null) \
    <(sops_run decrypt --input-type yaml --output-type json "$work/secrets.yaml" 2>/dev/null))" \
    || fail "the rotated file does not decrypt: not written"
  same_set "$changed" "${keys[*]}" || fail "the rotated file changed [$changed] instead of [${keys[*]}]: not written"
  install_file "$work/secrets.yaml" "$secrets_file"
  domains=()
  for k in "${keys[@]}"; do
    say "rotated $k: $(domain_note "$k")"
    d="$(secret_domains "$k")"; [ -z "$d" ] || [[ " ${domains[*]} " == *" $d "* ]] || domains+=("$d")
  done
  audit_extra+=("domains=$(IFS=,; echo "${domains[*]}")")
  [[ " ${keys[*]} " != *" secret_wireguard_server_private_key "* ]] || publish_wg_public_key
  if [[ " ${keys[*]} " == *" secret_k3s_token "* ]] && [ "$stack" != lab ]; then
    say "secret_k3s_token: BEFORE \`pulumi up\`, on the server: k3s token rotate --token \"\$(cat /etc/rancher/k3s/token)\" --new-token <the new value> (docs/runbooks/rotate-secrets.md); otherwise k3s will not start with the new token"
  fi
  say "next: scripts/pulumi.sh $stack preview --diff   (expect: ${domains[*]:-no change})"
  [ "$stack" = lab ] || say "      then commit $(show "$secrets_file") and run scripts/pulumi.sh $stack up"
  ;;

recipients)
  [ $# -eq 0 ] || { echo "error: recipients takes only STACK" >&2; usage; }
  [ "$stack" = lab ] || rule_recipients
  [ -e "$secrets_file" ] || fail "missing file: $(show "$secrets_file") does not exist (create it: scripts/secrets.sh init $stack)"
  grep -q '^sops:' "$secrets_file" || fail "not SOPS-encrypted: $(show "$secrets_file") is clear text (no sops metadata)"
  if [ -e "$key_file" ]; then mapfile -t my_pubs < <(age-keygen -y "$key_file" 2>/dev/null) || true; fi
  mapfile -t recips < <(file_recipients "$secrets_file")
  log "$(show "$secrets_file") is encrypted for ${#recips[@]} age recipient(s):"
  for r in "${recips[@]}"; do
    note=""; ! is_mine "$r" || note="	(this key: $key_file)"
    say "$r$note"
  done
  if [ "$stack" != lab ] && ! same_set "${recips[*]}" "${rule_pubs[*]}"; then
    log "warning: .sops.yaml's rule for $rel lists: ${rule_pubs[*]}; bring the file in line with: scripts/secrets.sh add-recipient/remove-recipient $stack ... (or sops updatekeys)"
  fi
  ;;

add-recipient|remove-recipient)
  [ $# -eq 1 ] || { echo "error: $action needs STACK AGE_PUBKEY" >&2; usage; }
  r="$1"
  if ! valid_recipient "$r"; then
    # Never echo the argument: an operator who pasted a private key must not see it logged.
    case "$r" in
      AGE-SECRET-KEY-*) fail "malformed recipient: that is an age PRIVATE key; never pass it around. Give the public key (\`age-keygen -y KEYFILE\` prints it: age1...)" ;;
      *) fail "malformed recipient: not an age public key (age1 followed by 58 characters, checksum valid; \`age-keygen -y KEYFILE\` prints it)" ;;
    esac
  fi
  audit_extra+=("recipient=$r")
  require_healthy "$secrets_file"
  mapfile -t recips < <(file_recipients "$secrets_file")
  if [ "$stack" = lab ]; then current=("${recips[@]}"); else rule_recipients; current=("${rule_pubs[@]}"); fi
  in_current=0; for p in "${current[@]}"; do [ "$p" = "$r" ] && in_current=1; done
  new=()
  if [ "$action" = add-recipient ]; then
    if [ "$in_current" = 1 ] && same_set "${recips[*]}" "${current[*]}"; then
      outcome=unchanged; say "$r is already a recipient of $(show "$secrets_file"): nothing changed"; exit 0
    fi
    new=("${current[@]}"); [ "$in_current" = 1 ] || new+=("$r")
  else
    [ "$in_current" = 1 ] || fail "$r is not a recipient of $(show "$secrets_file")${rel:+ in .sops.yaml}: nothing to remove"
    ! is_mine "$r" || fail "$r is the key this command decrypts with ($key_file): removing it would lock you out; another recipient removes it"
    for p in "${current[@]}"; do [ "$p" = "$r" ] || new+=("$p"); done
    [ ${#new[@]} -gt 0 ] || fail "$r is the only recipient: nobody could decrypt the file any more"
  fi
  if [ "$stack" = lab ]; then
    cp "$secrets_file" "$work/secrets.yaml"
    flag=--add-age; [ "$action" = add-recipient ] || flag=--rm-age
    # rotate = a new data key, then the values re-encrypted with it, for the new recipient list.
    sops_run rotate --input-type yaml --output-type yaml --in-place "$flag" "$r" "$work/secrets.yaml" 2>"$work/sops.err" \
      || fail "sops rotate failed: $(sops_err)"
  else
    # .sops.yaml is the list; sops updatekeys makes the file follow it (matching the rule by the
    # file's path relative to the config, hence the same layout in the work tree), then rotate
    # gives it a new data key (updatekeys alone re-wraps the old one).
    mkdir -p "$work/tree/$(dirname "$rel")"
    cp "$PLATFORM_ROOT/.sops.yaml" "$work/tree/.sops.yaml"
    cp "$secrets_file" "$work/tree/$rel"
    sops_config="$work/tree/.sops.yaml"
    out="$(sops_rule "$sops_config" set "$(IFS=,; echo "${new[*]}")" 2>&1)" || fail "$out"
    rule_recipients
    same_set "${rule_pubs[*]}" "${new[*]}" || fail "could not edit .sops.yaml's rule for $rel (it would list: ${rule_pubs[*]}): edit it by hand"
    sops_run updatekeys --yes "$work/tree/$rel" >/dev/null 2>"$work/sops.err" || fail "sops updatekeys failed: $(sops_err)"
    sops_run rotate --input-type yaml --output-type yaml --in-place "$work/tree/$rel" 2>"$work/sops.err" || fail "sops rotate failed: $(sops_err)"
    cp "$work/tree/$rel" "$work/secrets.yaml"
  fi
  same_set "$(file_recipients "$work/secrets.yaml" | paste -sd' ')" "${new[*]}" \
    || fail "the re-encrypted file is not for the expected recipients (${new[*]}): not written"
  before="$(missing_keys "$secrets_file")" || fail "cannot decrypt $(show "$secrets_file"): $(sops_err)"
  after="$(missing_keys "$work/secrets.yaml")" || fail "the re-encrypted file does not decrypt with $key_file: $(sops_err); not written"
  [ "$before" = "$after" ] || fail "the re-encrypted file lost values ($after): not written"
  install_file "$work/secrets.yaml" "$secrets_file"
  [ "$stack" = lab ] || install_file "$work/tree/.sops.yaml" "$PLATFORM_ROOT/.sops.yaml"
  audit_extra+=("recipients=$(IFS=,; echo "${new[*]}")")
  if [ "$action" = add-recipient ]; then
    say "added $r: $(show "$secrets_file") is now encrypted for ${#new[@]} recipient(s) (new data key)"
  else
    say "removed $r: $(show "$secrets_file") has a new data key, so that key cannot decrypt this version or any later one"
    say "it could read the earlier versions (Git history, backups), so the values it saw are known to it: rotate them too: scripts/secrets.sh rotate $stack --all"
  fi
  [ "$stack" = lab ] || say "next: commit .sops.yaml and $(show "$secrets_file") together"
  ;;

check)
  [ $# -eq 0 ] || { echo "error: check takes only STACK" >&2; usage; }
  require_healthy "$secrets_file" all
  n="$(file_recipients "$secrets_file" | wc -l)"
  if [ "$stack" != lab ]; then
    rule_recipients
    same_set "$(file_recipients "$secrets_file" | paste -sd' ')" "${rule_pubs[*]}" \
      || fail "recipients differ: $(show "$secrets_file") is encrypted for $(file_recipients "$secrets_file" | paste -sd' '), .sops.yaml's rule for $rel lists ${rule_pubs[*]} (scripts/secrets.sh add-recipient/remove-recipient $stack ...)"
  fi
  say "ok: $(show "$secrets_file") is SOPS-encrypted for $n age recipient(s), decrypts with $key_file ($key_source), and holds all ${#PLATFORM_SECRET_KEYS[@]} required keys"
  ;;
esac
