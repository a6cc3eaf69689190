# Environment for running the real Pulumi engine offline on a stack. Source it, then call
# `pulumi_env STACK`; afterwards "${PULUMI_STACK_ARGS[@]}" holds the flags every pulumi
# command needs (stack, project directory) and "${PULUMI_CONFIG_ARGS[@]}" the flags of the
# commands that read the stack config (the lab's config file): preview, up, refresh, destroy, config.
# shellcheck shell=bash

pulumi_env() {
  local stack="${1:?stack}"
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
    local cfg="$lab/Pulumi.lab.yaml" salt=""
    [ -f "$cfg" ] && salt="$(grep '^encryptionsalt:' "$cfg" || true)"
    { cat "$PLATFORM_ROOT/Pulumi.lab.yaml"; [ -n "$salt" ] && printf '%s\n' "$salt"; } > "$cfg.tmp"
    mv "$cfg.tmp" "$cfg"
    PULUMI_STACK_ARGS=(--stack lab --cwd "$PLATFORM_ROOT")
    PULUMI_CONFIG_ARGS=(--config-file "$cfg")
    # The lab stack describes one lab VPS. A VPS recreated from the image (new machine-id) is a
    # new machine: its stack starts over instead of claiming domains converged on the old one.
    local mid_now mid_state="$lab/pulumi-state/.vps-machine-id"
    mid_now="$(cat "$lab/rootfs/etc/machine-id" 2>/dev/null || true)"
    if [ -n "$mid_now" ] && [ -s "$mid_state" ] && [ "$(cat "$mid_state")" != "$mid_now" ]; then
      log "the lab VPS was recreated (machine-id $(cut -c1-8 "$mid_state") -> ${mid_now:0:8}): the lab stack starts over"
      pulumi stack rm lab --yes --force --preserve-config --cwd "$PLATFORM_ROOT" >&2 2>/dev/null || true
      cp "$PLATFORM_ROOT/Pulumi.lab.yaml" "$cfg"
    fi
    [ -z "$mid_now" ] || printf '%s\n' "$mid_now" > "$mid_state"
    if ! pulumi stack ls --cwd "$PLATFORM_ROOT" 2>/dev/null | grep -q '^lab'; then
      log "creating the lab stack (file backend in $lab/pulumi-state)"
      # `stack init` has no --config-file: it writes the new salt into the committed file, from
      # where we move it to the lab's copy, restoring the committed file byte for byte.
      local committed; committed="$(cat "$PLATFORM_ROOT/Pulumi.lab.yaml")"
      pulumi stack init lab --secrets-provider passphrase --cwd "$PLATFORM_ROOT" >&2
      salt="$(grep '^encryptionsalt:' "$PLATFORM_ROOT/Pulumi.lab.yaml" || true)"
      printf '%s\n' "$committed" > "$PLATFORM_ROOT/Pulumi.lab.yaml"
      { cat "$PLATFORM_ROOT/Pulumi.lab.yaml"; [ -n "$salt" ] && printf '%s\n' "$salt"; } > "$cfg"
    fi
  else
    # prod (or any other stack): the operator's own backend and secrets provider, as logged in.
    PULUMI_STACK_ARGS=(--stack "$stack" --cwd "$PLATFORM_ROOT")
    PULUMI_CONFIG_ARGS=()
  fi
}
