#!/usr/bin/env bash
# SSH into the lab VPS as root, with the lab key and the host key pinned by up.sh.
# Usage: ssh.sh [command...]     (no command: an interactive shell)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
{ [ -s "$LAB_SSH_KEY" ] && [ -s "$LAB_KNOWN_HOSTS" ]; } || die "no lab keys in $LAB_DIR/ssh: run scripts/lab/up.sh"
mapfile -t opts < <(lab_ssh_opts)
# BatchMode: fail at once instead of prompting for a password that does not exist.
exec ssh "${opts[@]}" -o BatchMode=yes -o ConnectTimeout=5 "root@$LAB_VPS_ADDR" "$@"
