#!/usr/bin/env bash
# The README's main command on a fresh machine, before anything is installed:
#   bash scripts/bootstrap.sh deploy [STACK]      set the machine up (scripts/setup.sh: Debian
#                                                 packages, npm ci, the pinned toolchain), then
#                                                 `npx platform deploy [STACK]` (default: the lab)
# Any other `platform` command works the same way (bash scripts/bootstrap.sh preview lab ...).
# Nothing of the job is here: it is the `platform` command's (cli/), this only makes it runnable.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
[ $# -gt 0 ] || die "usage: bash scripts/bootstrap.sh <platform command> [args...]   (e.g. deploy, deploy prod)"
bash "$PLATFORM_ROOT/scripts/setup.sh"
cd "$PLATFORM_ROOT"
exec node "$PLATFORM_ROOT/cli/platform.js" "$@"
