# Environment for running the real Pulumi engine offline on a stack. Source it, then call
# `pulumi_env STACK`; afterwards "${PULUMI_STACK_ARGS[@]}" holds the flags every pulumi
# command needs (stack, project directory) and "${PULUMI_CONFIG_ARGS[@]}" the flags of the
# commands that read the stack config (the lab's config file): preview, up, refresh, destroy, config.
# PLATFORM_STACK_CONFIG_FILE=FILE runs on FILE instead of the committed Pulumi.<stack>.yaml (a
# variant of the config, e.g. the bad-input tests of tests/e2e/bad-input.test.ts); for the lab it
# goes through the same lab copy (rewrite + salt) as the committed file.
# shellcheck shell=bash

pulumi_env() {
  local stack="${1:?stack}"
  # A stack is a Pulumi.<stack>.yaml beside Pulumi.yaml: a typo must not reach a backend (for a
  # stack other than lab, that is the operator's own, maybe a remote service).
  if [ "$stack" != lab ] && { [[ ! "$stack" =~ ^[A-Za-z0-9_.-]+$ ]] || [ ! -f "$PLATFORM_ROOT/Pulumi.$stack.yaml" ]; }; then
    local known; known="$(cd "$PLATFORM_ROOT" && ls Pulumi.*.yaml 2>/dev/null | sed 's/^Pulumi\.//; s/\.yaml$//' | paste -sd, - | sed 's/,/, /g')"
    printf 'error: unknown stack %s: no Pulumi.%s.yaml in %s (stacks: %s)\n' "'$stack'" "$stack" "$PLATFORM_ROOT" "$known" >&2
    return 1
  fi
  # Tools: the pinned CLI (with our language host and the dynamic-provider shim beside it), sops,
  # and the Ansible venv that the dynamic provider runs.
  local tools ansible_bin
  tools="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure.sh" pulumi langhost sops | tail -1)" || return 1
  ansible_bin="$(bash "$PLATFORM_ROOT/scripts/toolchain/ensure-ansible.sh" | tail -1)" || return 1
  export PATH="$tools:$ansible_bin:$PATH"
  # Never download anything: a missing plugin must fail at once, not hang on the network.
  export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

  if [ "$stack" = lab ]; then
    local lab="${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}"
    mkdir -p "$lab/pulumi-state" "$lab/pulumi-home"
    chmod 700 "$lab"
    # Per-lab state backend and passphrase: generated once, never committed.
    export PULUMI_HOME="$lab/pulumi-home"
    export PULUMI_BACKEND_URL="file://$lab/pulumi-state"
    if [ ! -s "$lab/pulumi-passphrase" ]; then
      (umask 077; head -c 32 /dev/urandom | base64 > "$lab/pulumi-passphrase")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$lab/pulumi-passphrase"
    unset PULUMI_CONFIG_PASSPHRASE
    # The passphrase provider writes a per-lab `encryptionsalt` into the stack config file: keep
    # the committed Pulumi.lab.yaml clean by running on a copy in the lab dir that carries the salt.
    # The copy follows this lab (scripts/lib/lab_stack_config.py): an isolated lab (another
    # PLATFORM_LAB_DIR and LAB_* addresses) gets its own paths and addresses; the default lab gets
    # the committed file byte for byte.
    local cfg="$lab/Pulumi.lab.yaml" salt="" src="${PLATFORM_STACK_CONFIG_FILE:-$PLATFORM_ROOT/Pulumi.lab.yaml}"
    [ -f "$src" ] || { printf 'error: stack config file not found: %s\n' "$src" >&2; return 1; }
    [ -f "$cfg" ] && salt="$(grep '^encryptionsalt:' "$cfg" || true)"
    lab_config_copy() { # SALT -> $cfg, through a temporary file of its own (two commands at once
      # each write theirs, then rename: the copy is always whole). One name for both writes: a
      # redirection of an external command is expanded in the forked child ($BASHPID differs there).
      local tmp; tmp="$(mktemp "$cfg.tmp.XXXXXX")" || return 1
      python3 "$PLATFORM_ROOT/scripts/lib/lab_stack_config.py" "$src" "$lab" "$PLATFORM_ROOT" > "$tmp" || { rm -f "$tmp"; return 1; }
      [ -z "$1" ] || printf '%s\n' "$1" >> "$tmp"
      mv "$tmp" "$cfg"
    }
    lab_config_copy "$salt" || { printf 'error: cannot write the lab stack config %s from %s\n' "$cfg" "$src" >&2; return 1; }
    PULUMI_STACK_ARGS=(--stack lab --cwd "$PLATFORM_ROOT")
    PULUMI_CONFIG_ARGS=(--config-file "$cfg")
    # The lab stack describes one lab VPS. A VPS recreated from the image (new machine-id) is a
    # new machine: its stack starts over instead of claiming domains converged on the old one.
    local mid_now mid_state="$lab/pulumi-state/.vps-machine-id"
    mid_now="$(cat "$lab/rootfs/etc/machine-id" 2>/dev/null || true)"
    if [ -n "$mid_now" ] && [ -s "$mid_state" ] && [ "$(cat "$mid_state")" != "$mid_now" ]; then
      log "the lab VPS was recreated (machine-id $(cut -c1-8 "$mid_state") -> ${mid_now:0:8}): the lab stack starts over"
      pulumi stack rm lab --yes --force --preserve-config --cwd "$PLATFORM_ROOT" >&2 2>/dev/null || true
      lab_config_copy "" || return 1
    fi
    [ -z "$mid_now" ] || printf '%s\n' "$mid_now" > "$mid_state"
    # (Output captured first: `pulumi stack ls | grep -q` under pipefail fails whenever grep exits
    # before pulumi has written everything, and would take an existing stack for a missing one.)
    local stacks; stacks="$(pulumi stack ls --cwd "$PLATFORM_ROOT" 2>/dev/null || true)"
    if ! grep -q '^lab' <<< "$stacks"; then
      log "creating the lab stack (file backend in $lab/pulumi-state)"
      # `stack init` has no --config-file: it writes the new salt into the committed file, from
      # where we move it to the lab's copy, restoring the committed file byte for byte.
      local committed; committed="$(cat "$PLATFORM_ROOT/Pulumi.lab.yaml")"
      pulumi stack init lab --secrets-provider passphrase --cwd "$PLATFORM_ROOT" >&2
      salt="$(grep '^encryptionsalt:' "$PLATFORM_ROOT/Pulumi.lab.yaml" || true)"
      printf '%s\n' "$committed" > "$PLATFORM_ROOT/Pulumi.lab.yaml"
      lab_config_copy "$salt" || return 1
    fi
  else
    # prod (or any other stack): the operator's own backend and secrets provider, as logged in.
    PULUMI_STACK_ARGS=(--stack "$stack" --cwd "$PLATFORM_ROOT")
    PULUMI_CONFIG_ARGS=()
    if [ -n "${PLATFORM_STACK_CONFIG_FILE:-}" ]; then
      [ -f "$PLATFORM_STACK_CONFIG_FILE" ] || { printf 'error: stack config file not found: %s\n' "$PLATFORM_STACK_CONFIG_FILE" >&2; return 1; }
      PULUMI_CONFIG_ARGS=(--config-file "$PLATFORM_STACK_CONFIG_FILE")
    fi
  fi
}
