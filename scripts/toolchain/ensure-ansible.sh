#!/usr/bin/env bash
# Ensure the pinned Ansible toolchain (ansible, ansible-core, mitogen, ansible-lint, yamllint) exists in a
# venv in the tool cache, keyed by the versions in toolchain/versions.env. Does nothing when the
# venv is already complete. Prints the venv's bin directory as the last line of stdout.
# Usage: ensure-ansible.sh        (then: PATH="$(ensure-ansible.sh | tail -n1):$PATH")
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

venv="$TOOLS_CACHE/ansible/$ANSIBLE_VERSION-$ANSIBLE_LINT_VERSION-mitogen$MITOGEN_VERSION"
# A marker written only after a successful install: a half-built venv (interrupted pip) is rebuilt.
stamp="$venv/.platform-complete"
want="ansible==$ANSIBLE_VERSION ansible-core==$ANSIBLE_CORE_VERSION mitogen==$MITOGEN_VERSION ansible-lint==$ANSIBLE_LINT_VERSION yamllint==$YAMLLINT_VERSION"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/ansible-playbook" ]]; then
  log "ansible toolchain present: $venv"
  printf '%s\n' "$venv/bin"
  exit 0
fi

command -v python3 >/dev/null || die "python3 is required (apt-get install python3 python3-venv)"
python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3 venv support is missing (apt-get install python3-venv)"

log "creating ansible venv $venv ($want)"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
with_heartbeat "pip install ansible toolchain" \
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
    "ansible==$ANSIBLE_VERSION" \
    "ansible-core==$ANSIBLE_CORE_VERSION" \
    "mitogen==$MITOGEN_VERSION" \
    "ansible-lint==$ANSIBLE_LINT_VERSION" \
    "yamllint==$YAMLLINT_VERSION" >&2
# Refuse a venv where pip resolved something else than the pins.
"$venv/bin/python" - "$ANSIBLE_VERSION" "$ANSIBLE_CORE_VERSION" "$MITOGEN_VERSION" "$ANSIBLE_LINT_VERSION" "$YAMLLINT_VERSION" <<'PY' >&2
import sys
from importlib.metadata import version
want = dict(zip(["ansible", "ansible-core", "mitogen", "ansible-lint", "yamllint"], sys.argv[1:]))
bad = {k: (version(k), v) for k, v in want.items() if version(k) != v}
if bad:
    sys.exit(f"pinned versions not installed: {bad}")
print("installed:", ", ".join(f"{k}=={v}" for k, v in want.items()))
PY
printf '%s\n' "$want" > "$stamp"
log "ansible toolchain ready: $venv/bin"
printf '%s\n' "$venv/bin"
